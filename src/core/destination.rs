//! The seam between the shared delivery machinery and one events API.
//!
//! The engine owns what every destination shares: the durable queue, storage, the sender
//! election, retry timing, outcomes. A [`Destination`] owns what differs between APIs: how
//! queued events become a request, which events may share one, what an answer means, what
//! its error bodies say, and the API's rate limits. Gameball
//! ([`super::gameball::Gameball`]) is the first, Voucherify
//! ([`super::voucherify::Voucherify`]) the second.

use std::fmt::Debug;

use super::config::Config;
use super::error::Result;
use super::event::{CustomerDefaults, RawEvent, ValidEvent};
use super::io::HttpRequest;
use super::policy::Verdict;
use super::record::Record;
use super::voucherify::RawVoucherifyEvent;

/// An event as the page gave it, in the shape of the factory it was sent through.
#[derive(Debug, Clone, PartialEq)]
pub enum RawInput {
    /// `sendEvent` of a `customerWidget` tracker.
    Gameball(RawEvent),
    /// `sendEvent` of a `voucherify` tracker.
    Voucherify(RawVoucherifyEvent),
}

impl From<RawEvent> for RawInput {
    fn from(raw: RawEvent) -> RawInput {
        RawInput::Gameball(raw)
    }
}

impl From<RawVoucherifyEvent> for RawInput {
    fn from(raw: RawVoucherifyEvent) -> RawInput {
        RawInput::Voucherify(raw)
    }
}

/// What an error body says, in whichever shape the destination writes it. Never fails: an
/// unreadable body says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The API's numeric error code.
    pub code: Option<i64>,
    /// The API's message.
    pub message: Option<String>,
    /// The API's request id.
    pub request_id: Option<String>,
    /// The API's error key (Voucherify's `key`).
    pub key: Option<String>,
}

/// What an answer means for the events it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// What to do with them.
    pub verdict: Verdict,
    /// What the error body said (empty for a success or no answer).
    pub error: ErrorBody,
}

impl Judgement {
    /// What an answer means, the way every destination reads one: `read` takes the error
    /// body apart (a 2xx answer's body carries no error and is not read), then `classify`
    /// decides from the status and what the body said.
    pub fn of(
        status: u16,
        body: &str,
        read: fn(&str) -> ErrorBody,
        classify: impl FnOnce(&ErrorBody) -> Verdict,
    ) -> Judgement {
        let error = if (200..300).contains(&status) {
            ErrorBody::default()
        } else {
            read(body)
        };
        Judgement {
            verdict: classify(&error),
            error,
        }
    }
}

/// One events API, as the engine drives it. Implementations are stateless: the engine
/// passes the configuration in.
pub trait Destination: Debug {
    /// The API's name in messages ("Gameball rejected the event").
    fn name(&self) -> &'static str;

    /// The exported function that configures it, in messages ("until customerWidget is
    /// called again").
    fn factory(&self) -> &'static str;

    /// The tag that starts its storage keys, so that each destination has its own queue
    /// namespace and sender election ([`crate::core::storage_key::StorageKeys`]).
    fn storage_tag(&self) -> &'static str;

    /// Checks an event in this API's shape and resolves its customer from `defaults`.
    ///
    /// # Errors
    /// `invalid_event` naming the offending field (also for another destination's shape).
    fn validate(&self, raw: RawInput, defaults: &CustomerDefaults) -> Result<ValidEvent>;

    /// The request that carries `records` (one batch, as [`Destination::may_join`] built it),
    /// with `token`, the session token of the batch's customer that some tab's page holds
    /// (the engine chooses it, and only for that customer).
    fn build_request(
        &self,
        id: u64,
        config: &Config,
        token: Option<&str>,
        records: &[&Record],
    ) -> HttpRequest;

    /// Whether `next` may ride in the request that starts with `batch` (non-empty, of one
    /// customer, in queue order). The engine stops a batch at the first event that may not,
    /// so a customer's events leave in the order they were sent.
    fn may_join(&self, batch: &[&Record], next: &Record) -> bool;

    /// What an HTTP answer (`status`, `body`) means; status 0 is no answer at all.
    fn judge(&self, status: u16, body: &str) -> Judgement;

    /// The API's documented rate limits per key as (window ms, requests), which the sender
    /// keeps under.
    fn rate_limits(&self) -> &'static [(u64, usize)];
}
