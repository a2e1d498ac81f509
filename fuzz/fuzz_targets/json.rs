//! The JSON reader and writer against `serde_json` (differential): both accept the same
//! documents and read the same value from them; whatever the reader returns, the writer
//! writes as JSON that reads back to the same value.
#![no_main]

use gameball_tracker::core::json::{parse, write_string, Json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The documented differences: a lone surrogate escape (`"\ud800"`) reads as U+FFFD, as
/// JavaScript's `TextEncoder` makes it, where serde_json refuses it; and the reader stops at
/// 64 levels of nesting, serde_json at 128.
fn lone_surrogate_escape(text: &str) -> bool {
    text.to_ascii_lowercase()
        .match_indices("\\ud")
        .any(|(i, _)| {
            matches!(
                text.as_bytes().get(i + 3),
                Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
            )
        })
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Our value as serde_json's (duplicate keys: the last wins, as serde_json keeps it).
fn to_serde(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(text) => serde_json::from_str(text).expect("a number's text is a JSON number"),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_serde).collect()),
        Json::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), to_serde(v)))
                .collect(),
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    match (&ours, &theirs) {
        (Ok(value), Ok(expected)) => {
            if !lone_surrogate_escape(text) {
                assert_eq!(
                    &to_serde(value),
                    expected,
                    "different values read from {text:?}"
                );
            }
        }
        (Err(e), Ok(expected)) => assert!(
            lone_surrogate_escape(text) || depth(expected) > 64,
            "we refuse at byte {} what serde_json reads: {text:?}",
            e.at
        ),
        (Ok(value), Err(e)) => assert!(
            lone_surrogate_escape(text),
            "we read {value:?} from what serde_json refuses ({e}): {text:?}"
        ),
        (Err(_), Err(_)) => {}
    }
    if let Ok(value) = ours {
        // The writer: serde_json reads its text back to the same value, and so do we.
        let written = value.to_text();
        let back: Value = serde_json::from_str(&written).expect("the writer writes JSON");
        assert_eq!(back, to_serde(&value));
        assert_eq!(
            parse(&written).as_ref(),
            Ok(&value),
            "a round trip changed {written:?}"
        );
    }
    // Any string (control characters, quotes, astral characters) is one JSON string literal.
    let mut literal = String::new();
    write_string(text, &mut literal);
    assert_eq!(
        serde_json::from_str::<String>(&literal).ok().as_deref(),
        Some(text)
    );
    assert_eq!(parse(&literal), Ok(Json::String(text.to_owned())));
});
