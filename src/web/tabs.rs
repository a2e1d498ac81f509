//! Bindings to `tabs.js`: the page's lifecycle and network events and, where storage is
//! shared, the sender election, the channel between tabs and other tabs' storage changes,
//! all reported through one JS function (one wasm-bindgen closure per tracker instead of
//! one per event kind). Every call is caught: a browser that throws here (a sandboxed frame
//! without BroadcastChannel, say) leaves the tracker working alone.

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::engine::Role;
use crate::core::storage_key::StorageKeys;

#[wasm_bindgen(module = "/src/web/tabs.js")]
extern "C" {
    /// Whether `fetch` keepalive is there (a request outlives its page).
    #[wasm_bindgen(js_name = keepaliveSupported)]
    pub fn keepalive_supported() -> bool;

    #[wasm_bindgen(catch, js_name = linkPage)]
    fn link_page(
        prefix: &str,
        lease_key: &str,
        fallback_key: &str,
        tab_id: &str,
        shared: bool,
        dispatch: &Function,
    ) -> Result<Links, JsValue>;

    /// `{ electing, post(text), close() }` from `linkPage`.
    type Links;

    #[wasm_bindgen(method, getter)]
    fn electing(this: &Links) -> bool;

    #[wasm_bindgen(method, catch)]
    fn post(this: &Links, text: &str) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch)]
    fn close(this: &Links) -> Result<(), JsValue>;
}

/// What the page and the other tabs tell a tracker (`tabs.js` `linkPage`'s kinds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEvent {
    /// The election's word.
    Role(Role),
    /// A message from another tab.
    Message(String),
    /// Another tab changed storage under the prefix (`None` key: cleared).
    Storage(Option<String>, Option<String>),
    /// The page is hidden; `leaving` on `pagehide`.
    Hidden(bool),
    /// The page is visible again; `restored` after the back/forward cache.
    Shown(bool),
    /// The browser's network state.
    Online(bool),
}

impl PageEvent {
    /// Reads `dispatch(kind, a, b)`'s arguments; `None` for anything else.
    pub fn decode(kind: u32, a: &JsValue, b: &JsValue) -> Option<PageEvent> {
        let flag = |v: &JsValue| v.as_bool().unwrap_or(false);
        Some(match kind {
            0 if flag(a) => PageEvent::Role(Role::Sender { waited: flag(b) }),
            0 => PageEvent::Role(Role::Follower),
            1 => PageEvent::Message(a.as_string()?),
            2 => PageEvent::Storage(a.as_string(), b.as_string()),
            3 => PageEvent::Hidden(flag(a)),
            4 => PageEvent::Shown(flag(a)),
            5 => PageEvent::Online(flag(a)),
            _ => return None,
        })
    }
}

/// What ties one tracker to its page and the other tabs; closed when the tracker detaches.
pub struct TabLinks {
    links: Option<Links>,
}

impl TabLinks {
    /// Listens to the page and, when `shared`, joins the tabs of the queue `keys` names as
    /// `tab_id` (listening first, then asking for the sender role). `dispatch` gets every
    /// [`PageEvent`] as `(kind, a, b)`.
    pub fn open(keys: &StorageKeys, tab_id: &str, shared: bool, dispatch: &Function) -> TabLinks {
        let links = link_page(
            keys.prefix(),
            &keys.lease(),
            &keys.message_fallback(),
            tab_id,
            shared,
            dispatch,
        )
        .ok();
        TabLinks { links }
    }

    /// Whether the election could start (without it this tab sends alone).
    pub fn electing(&self) -> bool {
        self.links.as_ref().is_some_and(Links::electing)
    }

    /// Sends `text` to the other tabs.
    pub fn post(&self, text: &str) {
        if let Some(links) = &self.links {
            let _ = links.post(text);
        }
    }

    /// Gives up the sender role and stops listening.
    pub fn close(self) {
        if let Some(links) = self.links {
            let _ = links.close();
        }
    }
}
