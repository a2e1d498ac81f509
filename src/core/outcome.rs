//! The outcome of one `sendEvent` call: what the engine reports to the page and what the
//! sender announces to the other tabs ([`super::relay`]). A leaf: it imports only the error.

use super::error::TrackerError;

/// The outcome of one `sendEvent` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Event id.
    pub id: String,
    /// Customer of the event.
    pub customer_id: String,
    /// Names in the event.
    pub event_names: Vec<String>,
    /// Delivered, or why not.
    pub result: Result<Delivered, TrackerError>,
}

/// A successful delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// HTTP status of the answer.
    pub status: u16,
    /// Attempts it took, this one included.
    pub attempts: u32,
}
