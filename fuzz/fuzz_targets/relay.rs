//! Relay-message decoding: whatever reaches the channel (another library's messages, a
//! newer format, garbage) decodes to a message or to nothing; what decodes encodes to a
//! text that decodes to the same message.
#![no_main]

use gameball_tracker::core::relay::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(message) = Message::decode(text) else {
        return;
    };
    let written = message.encode();
    serde_json::from_str::<serde_json::Value>(&written).expect("a message is written as JSON");
    let again = Message::decode(&written).expect("an encoded message decodes");
    // An outcome's error carries the event id of its report once it has crossed.
    assert_eq!(Message::decode(&again.encode()), Some(again), "{written}");
});
