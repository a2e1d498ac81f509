//! What crosses the engine's edge: the actions it asks the shell to perform, the answers the
//! shell hands back, the outcomes it reports (from [`super::outcome`]), its counters, and
//! the HTTP request it builds. Plain data, so that the destinations
//! ([`super::destination`]) can speak of them without importing the engine.

pub use super::outcome::{Delivered, Report};
use super::relay::Message;

/// Something for the shell to do, in the order the engine decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `value` under `key` in durable storage. If storage refuses, tell the engine
    /// with `Engine::handle_store_refused`.
    Store {
        /// Storage key.
        key: String,
        /// Record text.
        value: String,
    },
    /// Delete `key` from durable storage.
    Remove {
        /// Storage key.
        key: String,
    },
    /// Send this request and hand its answer to `Engine::handle_answer`.
    Send {
        /// The request.
        request: HttpRequest,
        /// Send with `fetch` `keepalive`, so it completes even if the page goes away; its
        /// body fits in the page's keepalive budget.
        keepalive: bool,
    },
    /// Tell the page about an outcome: the waiting callback or Promise, and `onDelivery`.
    Report(Report),
    /// Post this message to the other tabs of the origin.
    Post(Message),
    /// Read every stored entry under the queue's prefix now and hand them to
    /// `Engine::handle_storage_read` (this tab has just become the sender).
    ReadStorage,
    /// Read every stored entry under the queue's prefix now and hand them to
    /// `Engine::handle_storage_check` (the sender looks for records a script of its own page
    /// removed, damaged or added: no `storage` event tells it). Without localStorage, skip it.
    CheckStorage,
    /// Every `flush()` this page is waiting on has settled: nothing is in flight and no
    /// other tab's answer is awaited. Resolve them from `Engine::stats` and `pending`.
    FlushSettled,
    /// A line for the console when `debug` is on.
    Debug(String),
}

/// How a request ended, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The server answered.
    Http {
        /// Status code.
        status: u16,
        /// `Retry-After` header, if any.
        retry_after: Option<String>,
        /// `X-Request-Id` header, if any.
        request_id: Option<String>,
        /// Body text (empty when unreadable).
        body: String,
    },
    /// No answer: offline, DNS, CORS, an ad blocker, or the request timed out.
    NoAnswer {
        /// What the browser said, for debug logs.
        reason: String,
    },
}

/// An HTTP request for the shell to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The engine's handle for the answer.
    pub id: u64,
    /// Full URL.
    pub url: String,
    /// Headers, in order; every custom header must pass the destination's CORS allow-list.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: String,
}

/// Events given up, by error code (`corrupt` too), in the order the codes first came: a
/// handful of codes, so a short list, not a map with code of its own in the module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped(Vec<(&'static str, u64)>);

impl Dropped {
    /// Counts one more event given up with `code`.
    pub fn add(&mut self, code: &'static str) {
        match self.0.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.0.push((code, 1)),
        }
    }

    /// The count of `code`, if any event was given up with it.
    pub fn get(&self, code: &str) -> Option<&u64> {
        self.0.iter().find(|(c, _)| *c == code).map(|(_, n)| n)
    }

    /// Every code with its count.
    pub fn iter(&self) -> std::slice::Iter<'_, (&'static str, u64)> {
        self.0.iter()
    }
}

/// Counters for `stats()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events delivered by this tracker (or by another tab, for events this tab held).
    pub sent: u64,
    /// Outcomes reported to this page as errors (`flush()`'s `failed`).
    pub failed: u64,
    /// Failed attempts that will be tried again.
    pub retried: u64,
    /// Events given up, by error code; `corrupt` counts unreadable stored records.
    pub dropped: Dropped,
    /// Events this page sent again after a request whose fate is unknown (no answer, a
    /// timeout, a tab that died with it in flight): each may reach the server twice.
    pub resent_unknown: u64,
    /// The same count over every page and tab of this origin and API key (kept in storage).
    pub resent_unknown_total: u64,
    /// Records written again after another script removed, changed or cleared them.
    pub restored: u64,
    /// Events handed to keepalive requests when the page was hidden, whose answer this page
    /// may never see; a later page does not send them again.
    pub sent_on_exit: u64,
}
