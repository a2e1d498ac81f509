//! Stored-record decoding: any text another script (or a damaged storage) leaves under a
//! record key decodes to a record or to nothing, never a panic; what decodes writes back to
//! a text that decodes to the same record, and that text is JSON.
#![no_main]

use gameball_tracker::core::record::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(record) = Record::decode(text) else {
        return;
    };
    let written = record.encode();
    serde_json::from_str::<serde_json::Value>(&written).expect("a record is written as JSON");
    assert_eq!(
        Record::decode(&written).as_ref(),
        Some(&record),
        "{written}"
    );
    assert!(!record.id.is_empty() && !record.event.customer_id.is_empty());
    assert!(!record.event.events.is_empty());
});
