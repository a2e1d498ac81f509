//! Bindings to `tabs.js`: the sender election, the channel between tabs, and the page's
//! lifecycle and storage events. Every call is caught: a browser that throws here (a
//! sandboxed frame without BroadcastChannel, say) leaves the tracker working alone.

use js_sys::Function;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/tabs.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = electSender)]
    fn elect_sender(name: &str, tab_id: &str, on_role: &Function) -> Result<Function, JsValue>;

    #[wasm_bindgen(catch, js_name = openChannel)]
    fn open_channel(name: &str, on_message: &Function) -> Result<Channel, JsValue>;

    /// `{ post(text), close() }` from `openChannel`.
    pub type Channel;

    #[wasm_bindgen(method, catch)]
    fn post(this: &Channel, text: &str) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch)]
    fn close(this: &Channel) -> Result<(), JsValue>;

    /// Whether `fetch` keepalive is there (a request outlives its page).
    #[wasm_bindgen(js_name = keepaliveSupported)]
    pub fn keepalive_supported() -> bool;

    #[wasm_bindgen(catch, js_name = watchPage)]
    fn watch_page(
        prefix: &str,
        on_storage: &Function,
        on_hidden: &Function,
        on_shown: &Function,
    ) -> Result<Function, JsValue>;
}

/// What ties one tracker to the other tabs; dropped (released) when the tracker detaches.
pub struct TabLinks {
    release: Option<Function>,
    channel: Option<Channel>,
    stop_watching: Option<Function>,
}

/// The callbacks a tracker gives to [`TabLinks::open`].
pub struct TabHandlers {
    /// `(sender, waited)`: this tab gained (or lost) the sender role.
    pub on_role: Function,
    /// A message from another tab.
    pub on_message: Function,
    /// `(key, newValue)`: another tab changed storage under the prefix.
    pub on_storage: Function,
    /// `(leaving)`: the page is hidden; `leaving` on `pagehide`.
    pub on_hidden: Function,
    /// `(restored)`: the page is visible again; `restored` after the back/forward cache.
    pub on_shown: Function,
}

impl TabLinks {
    /// Joins the tabs of `prefix`: listens first, then asks for the sender role.
    pub fn open(prefix: &str, tab_id: &str, handlers: &TabHandlers) -> TabLinks {
        let channel = open_channel(prefix, &handlers.on_message).ok();
        let stop_watching = watch_page(
            prefix,
            &handlers.on_storage,
            &handlers.on_hidden,
            &handlers.on_shown,
        )
        .ok();
        let release = elect_sender(prefix, tab_id, &handlers.on_role).ok();
        TabLinks {
            release,
            channel,
            stop_watching,
        }
    }

    /// Whether the election could start (without it this tab sends alone).
    pub fn electing(&self) -> bool {
        self.release.is_some()
    }

    /// Sends `text` to the other tabs.
    pub fn post(&self, text: &str) {
        if let Some(channel) = &self.channel {
            let _ = channel.post(text);
        }
    }

    /// Gives up the sender role and stops listening.
    pub fn close(self) {
        if let Some(release) = self.release {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
        if let Some(stop) = self.stop_watching {
            let _ = stop.call0(&JsValue::UNDEFINED);
        }
        if let Some(channel) = self.channel {
            let _ = channel.close();
        }
    }
}
