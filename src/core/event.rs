//! The event a storefront sends, its limits, and the checks that make it safe to queue.
//!
//! Validation happens once, before the event is queued: an event that is in the queue is
//! one Gameball can accept, so nothing in the queue can be rejected for its shape later.

use super::error::{Result, TrackerError};
use super::json::{write_string, Json};
use std::fmt::Write;

/// The documented limits (the README's "Limits" table repeats them).
pub mod limits {
    /// Characters in a customer id.
    pub const CUSTOMER_ID_CHARS: usize = 200;
    /// Characters in an email or mobile number.
    pub const CONTACT_CHARS: usize = 254;
    /// Characters in an event name.
    pub const EVENT_NAME_CHARS: usize = 64;
    /// Distinct event names in one `sendEvent` call.
    pub const EVENTS_PER_CALL: usize = 20;
    /// Nesting of objects and arrays inside one event's metadata (`{a:{b:1}}` is depth 2).
    pub const METADATA_DEPTH: usize = 8;
    /// Characters in a metadata key.
    pub const METADATA_KEY_CHARS: usize = 128;
    /// Bytes of the serialized `events` object of one call (UTF-8).
    pub const EVENT_BYTES: usize = 32 * 1024;
}

/// An event as the storefront gave it, already turned into plain JSON by the shell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawEvent {
    /// `customerId` of the event, if given.
    pub customer_id: Option<String>,
    /// `email` of the event, if given.
    pub email: Option<String>,
    /// `mobile` of the event, if given.
    pub mobile: Option<String>,
    /// `events`: name → metadata, in the order given.
    pub events: Vec<(String, Json)>,
}

/// The customer an event falls back to: the tracker's current one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerDefaults {
    /// The tracker's customer id, if one is logged in.
    pub customer_id: Option<String>,
    /// The tracker's email; rides only with events of that same customer.
    pub email: Option<String>,
    /// The tracker's mobile; rides only with events of that same customer.
    pub mobile: Option<String>,
}

/// An event that passed every check: what the queue stores and the wire carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    /// The customer the event belongs to.
    pub customer_id: String,
    /// Email sent along, if any.
    pub email: Option<String>,
    /// Mobile sent along, if any.
    pub mobile: Option<String>,
    /// Event name → metadata as compact JSON text.
    pub events: Vec<(String, String)>,
}

impl ValidEvent {
    /// The event names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|(name, _)| name.as_str())
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Checks an identifier-like text field: present, not blank, short, no control characters.
///
/// # Errors
/// `invalid_event` naming `field`.
pub fn check_text(field: &str, value: &str, max_chars: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(TrackerError::event(format!("{field} must not be empty")));
    }
    if value.chars().count() > max_chars {
        return Err(TrackerError::event(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    if has_control(value) {
        return Err(TrackerError::event(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks one event name: 1–64 characters of letters, digits, `_`, `-`, `.`, `:` or space,
/// not starting or ending with a space.
///
/// # Errors
/// `invalid_event` saying what is wrong with the name.
pub fn check_event_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(TrackerError::event("an event name must not be empty"));
    }
    if chars > limits::EVENT_NAME_CHARS {
        return Err(TrackerError::event(format!(
            "event name {} is longer than {} characters",
            quoted(name),
            limits::EVENT_NAME_CHARS
        )));
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ');
    if !name.chars().all(allowed) || name.starts_with(' ') || name.ends_with(' ') {
        return Err(TrackerError::event(format!(
            "event name {} may only use letters, digits, '_', '-', '.', ':' and inner spaces",
            quoted(name)
        )));
    }
    Ok(())
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    write_string(s, &mut out);
    out
}

/// Checks depth and key lengths of metadata below `path` (the shell already guarantees the
/// value is JSON: it refuses functions, symbols, BigInt, NaN and cycles while converting).
fn check_metadata(path: &mut String, value: &Json, depth: usize) -> Result<()> {
    let nested = match value {
        Json::Array(items) => Some(items.len()),
        Json::Object(members) => Some(members.len()),
        _ => None,
    };
    if nested.is_some() && depth > limits::METADATA_DEPTH {
        return Err(TrackerError::event(format!(
            "{path} is nested deeper than {} levels",
            limits::METADATA_DEPTH
        )));
    }
    match value {
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                // Straight into the path: no temporary String per array item.
                let _ = write!(path, "[{i}]");
                check_metadata(path, item, depth + 1)?;
                path.truncate(len);
            }
        }
        Json::Object(members) => {
            for (key, item) in members {
                if key.chars().count() > limits::METADATA_KEY_CHARS {
                    return Err(TrackerError::event(format!(
                        "{path} has a key longer than {} characters",
                        limits::METADATA_KEY_CHARS
                    )));
                }
                let len = path.len();
                path.push('.');
                path.push_str(key);
                check_metadata(path, item, depth + 1)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Validates an event against the limits and resolves its customer.
///
/// The tracker's email and mobile ride only with events of the tracker's own customer, so
/// that an event sent for another customer never carries the logged-in customer's contact.
///
/// # Errors
/// `invalid_event` with a message naming the offending field.
pub fn validate(raw: RawEvent, defaults: &CustomerDefaults) -> Result<ValidEvent> {
    let customer_id = match raw.customer_id.or_else(|| defaults.customer_id.clone()) {
        Some(id) => id,
        None => {
            return Err(TrackerError::event(
                "customerId is required: pass it in the event or log a customer in with customerWidget/setCustomer",
            ))
        }
    };
    check_text("customerId", &customer_id, limits::CUSTOMER_ID_CHARS)?;
    let own_customer = defaults.customer_id.as_deref() == Some(customer_id.as_str());
    let email = raw
        .email
        .or_else(|| own_customer.then(|| defaults.email.clone()).flatten());
    let mobile = raw
        .mobile
        .or_else(|| own_customer.then(|| defaults.mobile.clone()).flatten());
    if let Some(email) = &email {
        check_text("email", email, limits::CONTACT_CHARS)?;
    }
    if let Some(mobile) = &mobile {
        check_text("mobile", mobile, limits::CONTACT_CHARS)?;
    }
    if raw.events.is_empty() {
        return Err(TrackerError::event(
            "events must name at least one event, as { events: { add_to_cart: {...} } }",
        ));
    }
    if raw.events.len() > limits::EVENTS_PER_CALL {
        return Err(TrackerError::event(format!(
            "events has {} names; one call takes at most {}",
            raw.events.len(),
            limits::EVENTS_PER_CALL
        )));
    }
    let mut events = Vec::with_capacity(raw.events.len());
    let mut bytes = 2;
    for (name, metadata) in raw.events {
        check_event_name(&name)?;
        let mut path = format!("events.{name}");
        if !matches!(metadata, Json::Object(_)) {
            return Err(TrackerError::event(format!(
                "{path} must be an object of metadata (use {{}} for none)"
            )));
        }
        check_metadata(&mut path, &metadata, 1)?;
        let text = metadata.to_text();
        bytes += name.len() + text.len() + 4;
        events.push((name, text));
    }
    if bytes > limits::EVENT_BYTES {
        return Err(TrackerError::event(format!(
            "events is {bytes} bytes as JSON; the limit is {} bytes",
            limits::EVENT_BYTES
        )));
    }
    Ok(ValidEvent {
        customer_id,
        email,
        mobile,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    fn meta(pairs: &[(&str, Json)]) -> Json {
        Json::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn raw(customer: Option<&str>, events: Vec<(&str, Json)>) -> RawEvent {
        RawEvent {
            customer_id: customer.map(str::to_owned),
            events: events.into_iter().map(|(n, m)| (n.to_owned(), m)).collect(),
            ..RawEvent::default()
        }
    }

    fn defaults(id: &str) -> CustomerDefaults {
        CustomerDefaults {
            customer_id: Some(id.into()),
            email: Some("a@shop.test".into()),
            mobile: Some("+201000".into()),
        }
    }

    fn message(result: Result<ValidEvent>) -> String {
        match result {
            Ok(v) => panic!("expected invalid_event, got {v:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidEvent);
                e.message
            }
        }
    }

    #[test]
    fn falls_back_to_the_trackers_customer_and_its_contact() {
        let event = raw(None, vec![("login", meta(&[]))]);
        let valid = validate(event, &defaults("cust_42")).expect("valid");
        assert_eq!(valid.customer_id, "cust_42");
        assert_eq!(valid.email.as_deref(), Some("a@shop.test"));
        assert_eq!(valid.events, vec![("login".to_string(), "{}".to_string())]);
    }

    #[test]
    fn another_customers_event_does_not_carry_the_trackers_contact() {
        let event = raw(Some("cust_7"), vec![("login", meta(&[]))]);
        let valid = validate(event, &defaults("cust_42")).expect("valid");
        assert_eq!(valid.customer_id, "cust_7");
        assert_eq!(valid.email, None);
        assert_eq!(valid.mobile, None);
    }

    #[test]
    fn no_customer_at_all_is_invalid() {
        let msg = message(validate(
            raw(None, vec![("login", meta(&[]))]),
            &CustomerDefaults::default(),
        ));
        assert!(msg.contains("customerId"), "{msg}");
    }

    #[test]
    fn refuses_bad_customer_ids() {
        for bad in ["", "   ", "a\nb", &"x".repeat(201)] {
            let msg = message(validate(
                raw(Some(bad), vec![("login", meta(&[]))]),
                &CustomerDefaults::default(),
            ));
            assert!(msg.starts_with("customerId"), "{msg}");
        }
    }

    #[test]
    fn refuses_bad_event_names_and_names_them() {
        for bad in ["", " lead", "a/b", "<script>", &"n".repeat(65)] {
            let msg = message(validate(
                raw(Some("c"), vec![(bad, meta(&[]))]),
                &CustomerDefaults::default(),
            ));
            assert!(msg.contains("event name"), "{msg}");
        }
        for good in ["add_to_cart", "Place Order", "review:5", "تسجيل"] {
            assert!(check_event_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn refuses_empty_and_too_many_events() {
        let msg = message(validate(
            raw(Some("c"), vec![]),
            &CustomerDefaults::default(),
        ));
        assert!(msg.contains("at least one"), "{msg}");
        let many: Vec<(String, Json)> = (0..21).map(|i| (format!("e{i}"), meta(&[]))).collect();
        let event = RawEvent {
            customer_id: Some("c".into()),
            events: many,
            ..RawEvent::default()
        };
        assert!(message(validate(event, &CustomerDefaults::default())).contains("at most 20"));
    }

    #[test]
    fn metadata_must_be_an_object() {
        let msg = message(validate(
            raw(Some("c"), vec![("login", Json::Number("1".into()))]),
            &CustomerDefaults::default(),
        ));
        assert_eq!(
            msg,
            "events.login must be an object of metadata (use {} for none)"
        );
    }

    #[test]
    fn depth_is_bounded_and_the_path_is_named() {
        let mut value = Json::Null;
        for _ in 0..9 {
            value = meta(&[("x", value)]);
        }
        let msg = message(validate(
            raw(Some("c"), vec![("deep", value)]),
            &CustomerDefaults::default(),
        ));
        assert!(msg.starts_with("events.deep.x.x.x.x.x.x.x"), "{msg}");
        let mut ok = Json::Null;
        for _ in 0..8 {
            ok = meta(&[("x", ok)]);
        }
        assert!(validate(
            raw(Some("c"), vec![("ok", ok)]),
            &CustomerDefaults::default()
        )
        .is_ok());
    }

    #[test]
    fn size_is_bounded() {
        let big = meta(&[("text", Json::String("y".repeat(limits::EVENT_BYTES)))]);
        let msg = message(validate(
            raw(Some("c"), vec![("review", big)]),
            &CustomerDefaults::default(),
        ));
        assert!(msg.contains("bytes"), "{msg}");
    }
}
