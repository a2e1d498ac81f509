//! The event a storefront sends, its limits, and the checks that make it safe to queue.
//!
//! Validation happens once, before the event is queued: an event that is in the queue is
//! one Gameball can accept, so nothing in the queue can be rejected for its shape later.

use super::error::{Result, TrackerError};
use super::json::{write_string, Json};
use super::text::{decimal, push_u64};

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
    /// Bytes of the serialized `events` object of one call (UTF-8), and of the
    /// `customerAttributes` object.
    pub const EVENT_BYTES: usize = 32 * 1024;
}

/// How far past the limits the shell's walk over a JS value (`glue.js`) may read before it
/// stops, so that a 10 MB value is never copied and a 100,000-deep one never exhausts a
/// stack. Four times each limit: the walk's count runs at most a fifth above the exact one,
/// so it never stops at a value the checks here would accept, and every refusal for size or
/// depth is worded here ([`too_large`], [`too_deep`]), whoever noticed it.
pub mod guard {
    use super::limits;

    /// Bytes, as the walk counts them (UTF-8 of strings and keys, plus punctuation).
    pub const BYTES: usize = 4 * limits::EVENT_BYTES;
    /// Nesting, counted as [`limits::METADATA_DEPTH`] counts it; the core's JSON reader
    /// takes the event wrapped in its two outer objects at this depth.
    pub const DEPTH: usize = 4 * limits::METADATA_DEPTH;
}

/// What a JSON value held to the metadata limits belongs to: the limits are the same, the
/// error code and the name of the whole are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// An event's `events` object: `invalid_event`.
    Event,
    /// `customerAttributes` (in the config or `setCustomer`): `invalid_config`.
    Attributes,
}

impl Subject {
    /// The error of this subject's code with `message`.
    pub fn error(self, message: String) -> TrackerError {
        match self {
            Subject::Event => TrackerError::event(message),
            Subject::Attributes => TrackerError::config(message),
        }
    }

    fn whole(self) -> &'static str {
        match self {
            Subject::Event => "the event",
            Subject::Attributes => "customerAttributes",
        }
    }
}

/// The refusal of the object or array at `path`, nested deeper than
/// [`limits::METADATA_DEPTH`].
pub fn too_deep(subject: Subject, path: &str) -> TrackerError {
    let depth = decimal(limits::METADATA_DEPTH as u64);
    subject.error([path, " is nested deeper than ", &depth, " levels"].concat())
}

/// The refusal of a value that `path` makes larger than [`limits::EVENT_BYTES`] as JSON,
/// whether the checks here measured it or the shell's walk stopped counting far past the
/// limit ([`guard::BYTES`]): one text either way.
pub fn too_large(subject: Subject, path: &str) -> TrackerError {
    let bytes = decimal(limits::EVENT_BYTES as u64);
    subject.error(
        [
            path,
            " makes ",
            subject.whole(),
            " larger than ",
            &bytes,
            " bytes as JSON",
        ]
        .concat(),
    )
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
    /// A Voucherify event's request body, built once when it was checked (then `events`
    /// holds its one name and metadata, `customer_id` its customer's `source_id` or `id`);
    /// `None` for Gameball's events.
    pub voucherify: Option<String>,
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
        return Err(TrackerError::event([field, " must not be empty"].concat()));
    }
    if value.chars().count() > max_chars {
        let max = decimal(max_chars as u64);
        return Err(TrackerError::event(
            [field, " is longer than ", &max, " characters"].concat(),
        ));
    }
    if has_control(value) {
        return Err(TrackerError::event(
            [field, " must not contain control characters"].concat(),
        ));
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
        let max = decimal(limits::EVENT_NAME_CHARS as u64);
        return Err(TrackerError::event(
            [
                "event name ",
                &quoted(name),
                " is longer than ",
                &max,
                " characters",
            ]
            .concat(),
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ');
    if !name.chars().all(allowed) || name.starts_with(' ') || name.ends_with(' ') {
        return Err(TrackerError::event(
            [
                "event name ",
                &quoted(name),
                " may only use letters, digits, '_', '-', '.', ':' and inner spaces",
            ]
            .concat(),
        ));
    }
    Ok(())
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    write_string(s, &mut out);
    out
}

/// Checks the nesting of `value` at `path` (the top object is at depth 1) and, in an event's
/// metadata, the length of its keys. The shell already guarantees the value is JSON: it
/// refuses functions, symbols, BigInt, NaN and cycles while converting.
pub(crate) fn check_nesting(
    subject: Subject,
    path: &mut String,
    value: &Json,
    depth: usize,
) -> Result<()> {
    let nested = matches!(value, Json::Array(_) | Json::Object(_));
    if nested && depth > limits::METADATA_DEPTH {
        return Err(too_deep(subject, path));
    }
    match value {
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                // Straight into the path: no temporary String per array item.
                path.push('[');
                push_u64(path, i as u64);
                path.push(']');
                check_nesting(subject, path, item, depth + 1)?;
                path.truncate(len);
            }
        }
        Json::Object(members) => {
            for (key, item) in members {
                if subject == Subject::Event && key.chars().count() > limits::METADATA_KEY_CHARS {
                    let max = decimal(limits::METADATA_KEY_CHARS as u64);
                    return Err(TrackerError::event(
                        [path, " has a key longer than ", &max, " characters"].concat(),
                    ));
                }
                let len = path.len();
                path.push('.');
                path.push_str(key);
                check_nesting(subject, path, item, depth + 1)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks `customerAttributes` (found under `key`): a JSON object held to the nesting and
/// size limits of metadata.
///
/// # Errors
/// `invalid_config` naming the offending field.
pub fn check_attributes(key: &str, value: &Json) -> Result<()> {
    let Json::Object(members) = value else {
        return Err(TrackerError::config([key, " must be an object"].concat()));
    };
    let mut path = key.to_owned();
    check_nesting(Subject::Attributes, &mut path, value, 1)?;
    // Counted as the event's size is, naming the member that carries it past the limit.
    let mut bytes = 2;
    for (name, item) in members {
        bytes += name.len() + item.to_text().len() + 4;
        if bytes > limits::EVENT_BYTES {
            path.push('.');
            path.push_str(name);
            return Err(too_large(Subject::Attributes, &path));
        }
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
        let (names, most) = (
            decimal(raw.events.len() as u64),
            decimal(limits::EVENTS_PER_CALL as u64),
        );
        return Err(TrackerError::event(
            [
                "events has ",
                &names,
                " names; one call takes at most ",
                &most,
            ]
            .concat(),
        ));
    }
    let mut events = Vec::with_capacity(raw.events.len());
    let mut bytes = 2;
    // The event whose metadata carries the call past the size limit.
    let mut crossing = None;
    for (name, metadata) in raw.events {
        check_event_name(&name)?;
        let mut path = ["events.", &name].concat();
        if !matches!(metadata, Json::Object(_)) {
            return Err(TrackerError::event(
                [&path, " must be an object of metadata (use {} for none)"].concat(),
            ));
        }
        check_nesting(Subject::Event, &mut path, &metadata, 1)?;
        let text = metadata.to_text();
        bytes += name.len() + text.len() + 4;
        if bytes > limits::EVENT_BYTES && crossing.is_none() {
            crossing = Some(path);
        }
        events.push((name, text));
    }
    if let Some(path) = crossing {
        return Err(too_large(Subject::Event, &path));
    }
    Ok(ValidEvent {
        customer_id,
        email,
        mobile,
        events,
        voucherify: None,
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

    #[test]
    fn too_many_names_is_worded_here() {
        let many: Vec<(String, Json)> = (0..21).map(|i| (format!("e{i}"), meta(&[]))).collect();
        let event = RawEvent {
            customer_id: Some("c".into()),
            events: many,
            ..RawEvent::default()
        };
        assert_eq!(
            message(validate(event, &CustomerDefaults::default())),
            "events has 21 names; one call takes at most 20"
        );
    }

    #[test]
    fn the_size_refusal_names_the_event_that_crosses_the_limit() {
        // {"small":{"a":1},"big":{"t":"yyy…"}} as the core counts it: 2 + (name + text + 4) each.
        let text = "y".repeat(limits::EVENT_BYTES - 20);
        let small = meta(&[("a", Json::Number("1".into()))]);
        let big = meta(&[("t", Json::String(text.clone()))]);
        let bytes = 2 + ("small".len() + 7 + 4) + ("big".len() + text.len() + 8 + 4);
        assert!(bytes > limits::EVENT_BYTES);
        // The event that carries the call past the limit is named, not the last one.
        let msg = message(validate(
            raw(
                Some("c"),
                vec![("small", small.clone()), ("big", big), ("after", meta(&[]))],
            ),
            &CustomerDefaults::default(),
        ));
        assert_eq!(
            msg,
            "events.big makes the event larger than 32768 bytes as JSON"
        );
        // Exactly at the limit is accepted, one byte more is not.
        let sized = |n: usize| {
            let t = meta(&[("t", Json::String("y".repeat(n)))]);
            validate(
                raw(Some("c"), vec![("small", small.clone()), ("big", t)]),
                &CustomerDefaults::default(),
            )
        };
        let at_limit = limits::EVENT_BYTES - (2 + 16 + 3 + 8 + 4);
        assert!(sized(at_limit).is_ok());
        assert_eq!(
            message(sized(at_limit + 1)),
            "events.big makes the event larger than 32768 bytes as JSON"
        );
    }

    #[test]
    fn the_shells_early_stops_get_the_same_words_as_the_cores_checks() {
        let deep = too_deep(Subject::Event, "events.a.b");
        assert_eq!(deep.code, ErrorCode::InvalidEvent);
        assert_eq!(deep.message, "events.a.b is nested deeper than 8 levels");
        let large = too_large(Subject::Event, "events.review.text");
        assert_eq!(large.code, ErrorCode::InvalidEvent);
        assert_eq!(
            large.message,
            "events.review.text makes the event larger than 32768 bytes as JSON"
        );
        let attributes = too_large(Subject::Attributes, "customerAttributes.bio");
        assert_eq!(attributes.code, ErrorCode::InvalidConfig);
        assert_eq!(
            attributes.message,
            "customerAttributes.bio makes customerAttributes larger than 32768 bytes as JSON"
        );
        assert_eq!(
            too_deep(Subject::Attributes, "customerAttributes.x").code,
            ErrorCode::InvalidConfig
        );
    }

    /// `{"x":{"x":…{}…}}` with `levels` objects.
    fn nested_text(levels: usize) -> String {
        format!(
            "{}{{}}{}",
            r#"{"x":"#.repeat(levels - 1),
            "}".repeat(levels - 1)
        )
    }

    #[test]
    fn an_event_as_deep_as_the_shells_guard_lets_through_is_read_and_refused_here() {
        // The shell's walk stops only past guard::DEPTH; what it lets through must reach
        // these checks, wrapped as convert.rs wraps it, and be refused with their words.
        let text = format!(r#"{{"ev":{{"deep":{}}}}}"#, nested_text(guard::DEPTH));
        let wrapper = crate::core::json::parse(&text).expect("the reader takes the guard's depth");
        let Some(Json::Object(events)) = wrapper.get("ev") else {
            panic!("no ev in {text}");
        };
        let event = RawEvent {
            customer_id: Some("c".into()),
            events: events.clone(),
            ..RawEvent::default()
        };
        let msg = message(validate(event, &CustomerDefaults::default()));
        assert_eq!(
            msg,
            format!(
                "events.deep{} is nested deeper than 8 levels",
                ".x".repeat(8)
            )
        );
        let attributes = crate::core::json::parse(&nested_text(guard::DEPTH)).expect("read");
        assert!(check_attributes("customerAttributes", &attributes).is_err());
    }

    fn attributes_error(value: &Json) -> String {
        match check_attributes("customerAttributes", value) {
            Ok(()) => panic!("expected invalid_config for {value:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidConfig);
                e.message
            }
        }
    }

    #[test]
    fn customer_attributes_are_an_object_within_the_metadata_limits() {
        let ok = meta(&[
            ("displayName", Json::String("Sam".into())),
            ("custom", meta(&[("tier", Json::String("gold".into()))])),
        ]);
        assert!(check_attributes("customerAttributes", &ok).is_ok());
        assert_eq!(
            attributes_error(&Json::Array(vec![])),
            "customerAttributes must be an object"
        );
        assert_eq!(
            attributes_error(&Json::String("x".into())),
            "customerAttributes must be an object"
        );
        // Depth counts as for metadata: the attributes object itself is level 1.
        let eight = crate::core::json::parse(&nested_text(8)).expect("read");
        assert!(check_attributes("customerAttributes", &eight).is_ok());
        let nine = crate::core::json::parse(&nested_text(9)).expect("read");
        assert_eq!(
            attributes_error(&nine),
            format!(
                "customerAttributes{} is nested deeper than 8 levels",
                ".x".repeat(8)
            )
        );
        // Long keys stay allowed there: the key-length rule is metadata's only.
        let long_key = meta(&[(&"k".repeat(200), Json::Bool(true))]);
        assert!(check_attributes("customerAttributes", &long_key).is_ok());
    }

    #[test]
    fn customer_attributes_over_the_size_limit_name_the_member_that_crosses_it() {
        let bio = "b".repeat(limits::EVENT_BYTES);
        let value = meta(&[
            ("displayName", Json::String("Sam".into())),
            ("bio", Json::String(bio)),
            ("tier", Json::String("gold".into())),
        ]);
        assert!(value.to_text().len() > limits::EVENT_BYTES);
        assert_eq!(
            attributes_error(&value),
            "customerAttributes.bio makes customerAttributes larger than 32768 bytes as JSON"
        );
        // Counted as the event is: 2 + (key + value as JSON + 4) per member, so a text 9
        // bytes under the limit (plus its 2 quotes) is just at it.
        let at_limit = meta(&[("t", Json::String("b".repeat(limits::EVENT_BYTES - 9)))]);
        assert!(check_attributes("customerAttributes", &at_limit).is_ok());
        let over = meta(&[("t", Json::String("b".repeat(limits::EVENT_BYTES - 8)))]);
        assert!(attributes_error(&over).starts_with("customerAttributes.t makes"));
    }
}
