//! Config parsing: any field values and keys give a checked config or an `invalid_config`
//! error, never a panic; what is accepted keeps within the documented bounds, and a secret
//! key never gets through.
#![no_main]

use arbitrary::Arbitrary;
use gameball_tracker::core::config::{Config, RawConfig};
use gameball_tracker::core::error::ErrorCode;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Fields {
    api_key: Option<String>,
    customer_id: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    lang: Option<String>,
    session_token: Option<String>,
    api_base: Option<String>,
    numbers: [Option<f64>; 5],
    debug: bool,
    keys: Vec<String>,
}

fuzz_target!(|f: Fields| {
    let [flush, events, bytes, attempts, ttl] = f.numbers;
    let raw = RawConfig {
        api_key: f.api_key,
        customer_id: f.customer_id,
        email: f.email,
        mobile: f.mobile,
        lang: f.lang,
        session_token: f.session_token,
        api_base: f.api_base,
        flush_interval_ms: flush,
        max_queue_events: events,
        max_queue_bytes: bytes,
        max_attempts: attempts,
        event_ttl_ms: ttl,
        debug: f.debug,
        keys: f.keys,
    };
    let secret = raw.keys.iter().any(|k| {
        let folded: String = k.chars().filter(|c| *c != '_' && *c != '-').collect();
        matches!(
            folded.to_lowercase().as_str(),
            "secretkey" | "transactionkey"
        )
    });
    match Config::from_raw(raw.clone()) {
        Ok(config) => {
            assert!(!secret, "a secret key got through: {:?}", raw.keys);
            assert!(!config.api_key.is_empty());
            assert!(
                config.api_base.starts_with("http://") || config.api_base.starts_with("https://")
            );
            assert!(!config.api_base.ends_with('/'));
            assert!(config.max_queue_events > 0 && config.max_queue_bytes > 0);
            assert!(config.max_attempts > 0 && config.flush_interval_ms > 0);
        }
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidConfig, "{e:?}"),
    }
});
