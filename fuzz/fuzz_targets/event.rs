//! Event validation: any customer fields and metadata (any JSON the shell's walk could hand
//! over) give a valid event or an `invalid_event` error naming what is wrong, never a panic;
//! a valid event keeps within the documented limits and survives storage as a record.
#![no_main]

use arbitrary::Arbitrary;
use gameball_tracker::core::error::ErrorCode;
use gameball_tracker::core::event::{limits, validate, CustomerDefaults, RawEvent};
use gameball_tracker::core::json::{parse, Json};
use gameball_tracker::core::record::Record;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    customer_id: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    default_customer: Option<String>,
    /// `events` as JSON text: an object of name → metadata, when it reads as one.
    events: &'a str,
    names: Vec<(String, bool)>,
}

fuzz_target!(|input: Input<'_>| {
    let mut events = match parse(input.events) {
        Ok(Json::Object(members)) => members,
        Ok(other) => vec![("event".to_owned(), other)],
        Err(_) => Vec::new(),
    };
    // Names the reader would rarely build from raw text: any string, with `{}`.
    for (name, first) in input.names {
        let member = (name, Json::Object(Vec::new()));
        if first {
            events.insert(0, member);
        } else {
            events.push(member);
        }
    }
    let raw = RawEvent {
        customer_id: input.customer_id,
        email: input.email,
        mobile: input.mobile,
        events,
    };
    let defaults = CustomerDefaults {
        customer_id: input.default_customer,
        ..CustomerDefaults::default()
    };
    match validate(raw, &defaults) {
        Ok(event) => {
            assert!(!event.events.is_empty() && event.events.len() <= limits::EVENTS_PER_CALL);
            assert!(!event.customer_id.trim().is_empty());
            let bytes: usize = event.events.iter().map(|(n, m)| n.len() + m.len()).sum();
            assert!(bytes <= limits::EVENT_BYTES, "{bytes} bytes accepted");
            for (_, meta) in &event.events {
                assert!(matches!(parse(meta), Ok(Json::Object(_))), "{meta}");
            }
            let record = Record {
                id: "r1".into(),
                created_ms: 1,
                attempts: 0,
                event,
            };
            assert_eq!(Record::decode(&record.encode()), Some(record));
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidEvent, "{e:?}");
            assert!(!e.message.is_empty());
        }
    }
});
