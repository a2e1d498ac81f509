//! Bindings to the tab part of `glue.js`: the page's lifecycle and network events and, where storage is
//! shared, the sender election, the channel between tabs and other tabs' storage changes,
//! and each tracker's timers and requests, all reported through one JS function (one
//! wasm-bindgen closure for the page instead of one per callback, and no futures). Every
//! call is caught: a browser that throws here (a sandboxed frame without BroadcastChannel,
//! say) leaves the tracker working alone.

use wasm_bindgen::prelude::*;

use super::js::{json_strings, Function};
use crate::core::engine::Role;
use crate::core::io::{Answer, HttpRequest};
use crate::core::storage_key::StorageKeys;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    /// Whether `fetch` keepalive is there (a request outlives its page).
    #[wasm_bindgen(js_name = keepaliveSupported)]
    pub fn keepalive_supported() -> bool;

    /// Whether `BroadcastChannel` is there (messages between tabs stay in memory).
    #[wasm_bindgen(js_name = broadcastChannelSupported)]
    pub fn broadcast_channel_supported() -> bool;

    /// Where every callback goes, as `(kind, tracker, a, b, c, d, e)`: set once.
    #[wasm_bindgen(js_name = setDispatch)]
    pub fn set_dispatch(dispatch: &Function);

    /// Arms timer `slot` of tracker `id` (replacing the one it had) to report
    /// [`PageEvent::Timer`] in `ms` milliseconds; a negative `ms` only cancels it. Returns
    /// false when the page's `setTimeout` threw (no timer is armed).
    pub fn arm(id: u32, slot: u32, ms: f64) -> bool;

    #[wasm_bindgen(js_name = send)]
    fn send_request(id: u32, token: f64, url: &str, headers: &str, body: &str, keepalive: bool);

    #[wasm_bindgen(catch, js_name = linkPage)]
    fn link_page(
        id: u32,
        prefix: &str,
        lease_key: &str,
        fallback_key: &str,
        tab_id: &str,
        shared: bool,
    ) -> Result<bool, JsValue>;

    /// Sends `text` to the other tabs from tracker `id`.
    #[wasm_bindgen(js_name = post)]
    fn post_text(id: u32, text: &str);

    /// Gives up tracker `id`'s sender role and stops its listeners.
    fn unlink(id: u32);
}

/// What the page and the other tabs tell a tracker (`glue.js` `linkPage`'s and `dispatch`'s kinds).
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
    /// The tracker's timer of this slot ([`arm`]) fired.
    Timer(u32),
    /// The answer to the request of this id ([`send`]).
    Answer(u64, Answer),
}

impl PageEvent {
    /// Reads `dispatch(kind, tracker, a, b, c, d, e)`'s arguments after `tracker`; `None` for
    /// anything else.
    pub fn decode(kind: u32, [a, b, c, d, e]: &[JsValue; 5]) -> Option<PageEvent> {
        let flag = |v: &JsValue| v.as_bool().unwrap_or(false);
        Some(match kind {
            0 if flag(a) => PageEvent::Role(Role::Sender { waited: flag(b) }),
            0 => PageEvent::Role(Role::Follower),
            1 => PageEvent::Message(a.as_string()?),
            2 => PageEvent::Storage(a.as_string(), b.as_string()),
            3 => PageEvent::Hidden(flag(a)),
            4 => PageEvent::Shown(flag(a)),
            5 => PageEvent::Online(flag(a)),
            6 => PageEvent::Timer(a.as_f64()? as u32),
            7 => PageEvent::Answer(
                a.as_f64()? as u64,
                match b.as_f64() {
                    Some(status) => Answer::Http {
                        status: status as u16,
                        body: c.as_string().unwrap_or_default(),
                        retry_after: d.as_string(),
                        request_id: e.as_string(),
                    },
                    None => Answer::NoAnswer {
                        reason: c.as_string().unwrap_or_default(),
                    },
                },
            ),
            _ => return None,
        })
    }
}

/// What ties one tracker to its page and the other tabs; closed when the tracker detaches.
#[derive(Debug, Clone, Copy)]
pub struct TabLinks {
    id: u32,
    electing: bool,
}

impl TabLinks {
    /// Listens to the page for tracker `id` and, when `shared`, joins the tabs of the queue
    /// `keys` names as `tab_id` (listening first, then asking for the sender role). What it
    /// hears reaches the dispatch as [`PageEvent`]s of tracker `id`.
    pub fn open(id: u32, keys: &StorageKeys, tab_id: &str, shared: bool) -> TabLinks {
        let electing = link_page(
            id,
            keys.prefix(),
            &keys.lease(),
            &keys.message_fallback(),
            tab_id,
            shared,
        )
        .unwrap_or(false);
        TabLinks { id, electing }
    }

    /// Whether the election could start (without it this tab sends alone).
    pub fn electing(&self) -> bool {
        self.electing
    }

    /// Sends `text` to the other tabs.
    pub fn post(&self, text: &str) {
        post_text(self.id, text);
    }

    /// Gives up the sender role and stops listening.
    pub fn close(self) {
        unlink(self.id);
    }
}

/// Sends `request` for tracker `id`: its answer, or [`Answer::NoAnswer`] for every failure
/// (the request is aborted after 10 s), comes back as [`PageEvent::Answer`]. With
/// `keepalive` the browser finishes the request even if the page goes away.
pub fn send(id: u32, request: &HttpRequest, keepalive: bool) {
    let headers = json_strings(
        request
            .headers
            .iter()
            .flat_map(|(name, value)| [*name, value.as_str()]),
    );
    send_request(
        id,
        request.id as f64,
        &request.url,
        &headers,
        &request.body,
        keepalive,
    );
}
