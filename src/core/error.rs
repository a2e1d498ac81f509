//! The error codes of the public contract and the one error type that carries them.

use std::fmt;

/// The `code` of a `GameballError`, exactly as the public contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// The `customerWidget` config is unusable.
    InvalidConfig,
    /// The event failed validation; it was never queued.
    InvalidEvent,
    /// `sendEvent` was called before any `customerWidget`.
    NotInitialized,
    /// Gameball answered 401/403: the event is kept, sending is paused.
    Unauthorized,
    /// Gameball refused the event in a way retrying cannot fix; it was dropped.
    Rejected,
    /// The queue bounds pushed the event out.
    QueueFull,
    /// The event ran out of attempts or time.
    Expired,
    /// No browser APIs here (server-side rendering, a worker).
    UnsupportedEnvironment,
}

impl ErrorCode {
    /// The code as JavaScript sees it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::NotInitialized => "not_initialized",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Rejected => "rejected",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::Expired => "expired",
            ErrorCode::UnsupportedEnvironment => "unsupported_environment",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure the tracker reports; it crosses into JavaScript as a `GameballError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct TrackerError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A sentence for a developer, naming the offending field where there is one.
    pub message: String,
    /// The HTTP status Gameball answered with, where there was one.
    pub status: Option<u16>,
    /// Gameball's numeric error code from the response body, where it gave one.
    pub gameball_code: Option<i64>,
    /// Gameball's request id from the response body or header, where it gave one.
    pub request_id: Option<String>,
    /// Voucherify's error `key` from the response body, where it gave one.
    pub voucherify_key: Option<String>,
    /// The id of the event this outcome belongs to, once it has one.
    pub id: Option<String>,
}

impl TrackerError {
    /// An error with only a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        TrackerError {
            code,
            message: message.into(),
            status: None,
            gameball_code: None,
            request_id: None,
            voucherify_key: None,
            id: None,
        }
    }

    /// Shorthand for an `invalid_config` error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidConfig, message)
    }

    /// Shorthand for an `invalid_event` error.
    pub fn event(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidEvent, message)
    }

    /// The same error, tagged with the event id it belongs to.
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }
}

/// Result alias for the tracker.
pub type Result<T, E = TrackerError> = std::result::Result<T, E>;
