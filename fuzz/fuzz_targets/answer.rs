//! Server-answer parsing: any status and body (HTML error pages, truncated or huge JSON,
//! an error body on a 200) gets a verdict, never a panic. Success is exactly 2xx; the error
//! body is read as serde_json reads the same fields.
#![no_main]

use arbitrary::Arbitrary;
use gameball_tracker::core::destination::Destination;
use gameball_tracker::core::gameball::{read_error_body, Gameball};
use gameball_tracker::core::policy::Verdict;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Answer<'a> {
    status: u16,
    body: &'a str,
}

fuzz_target!(|answer: Answer<'_>| {
    let judgement = Gameball.judge(answer.status, answer.body);
    let success = (200..300).contains(&answer.status);
    assert_eq!(
        judgement.verdict == Verdict::Delivered,
        success,
        "{answer:?}"
    );
    if success {
        assert_eq!(
            judgement.error,
            Default::default(),
            "a 2xx body is not read as an error"
        );
        return;
    }
    let error = read_error_body(answer.body);
    assert_eq!(judgement.error, error);
    if let Ok(serde_json::Value::Object(body)) = serde_json::from_str(answer.body) {
        // Differences of the reader itself are the json target's; here only which field.
        // (duplicate keys: serde_json keeps the last, the reader the first).
        if !answer.body.contains("\\u") && answer.body.matches("\"message\"").count() == 1 {
            let message = body.get("message").and_then(|m| m.as_str());
            assert_eq!(error.message.as_deref(), message, "{answer:?}");
        }
    } else if !answer.body.contains("\\u") {
        // (A lone surrogate escape reads as U+FFFD here, where serde_json refuses the text:
        // the json target's documented difference.)
        assert_eq!(
            error,
            Default::default(),
            "{answer:?}: no JSON object, nothing read"
        );
    }
});
