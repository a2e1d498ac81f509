//! The tracker's configuration: the numbers and strings of `customerWidget(config)`,
//! checked once so the engine can trust them.

use super::error::{Result, TrackerError};
use super::event::{check_text, limits, CustomerDefaults};
use super::text::{check_header_value, decimal};

/// Where events go unless `apiBase` says otherwise.
pub const DEFAULT_API_BASE: &str = "https://api.gameball.co";

/// Config fields as the shell read them from JS; numbers still unchecked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawConfig {
    /// `apiKey`
    pub api_key: Option<String>,
    /// `customerId`
    pub customer_id: Option<String>,
    /// `email`
    pub email: Option<String>,
    /// `mobile`
    pub mobile: Option<String>,
    /// `lang`
    pub lang: Option<String>,
    /// `sessionToken`
    pub session_token: Option<String>,
    /// `apiBase`
    pub api_base: Option<String>,
    /// `flushIntervalMs`
    pub flush_interval_ms: Option<f64>,
    /// `maxQueueEvents`
    pub max_queue_events: Option<f64>,
    /// `maxQueueBytes`
    pub max_queue_bytes: Option<f64>,
    /// `maxAttempts`
    pub max_attempts: Option<f64>,
    /// `eventTtlMs`
    pub event_ttl_ms: Option<f64>,
    /// `debug`
    pub debug: bool,
    /// Every key of the config object, as given: [`Config::from_raw`] refuses the ones that
    /// must never reach a browser.
    pub keys: Vec<String>,
}

/// A checked configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Public API key, sent as `APIKey`.
    pub api_key: String,
    /// The logged-in customer and their contact details.
    pub customer: CustomerDefaults,
    /// `Lang` header and widget language.
    pub lang: String,
    /// Customer session token (memory only).
    pub session_token: Option<String>,
    /// Base URL without a trailing slash.
    pub api_base: String,
    /// Periodic flush while events wait.
    pub flush_interval_ms: u64,
    /// Bound of the queue in events.
    pub max_queue_events: usize,
    /// Bound of the queue in bytes.
    pub max_queue_bytes: usize,
    /// Failed answers (5xx, 429, 408) before an event expires; a request that got no answer
    /// and a 2001 spend none ([`crate::core::policy::plan_retry`]).
    pub max_attempts: u32,
    /// Age past which an event expires.
    pub event_ttl_ms: u64,
    /// Log decisions to the console.
    pub debug: bool,
    /// Voucherify's client secret key (`X-Client-Token`), whose `api_key` is the client
    /// application id; `None` for Gameball.
    pub client_token: Option<String>,
}

impl std::fmt::Debug for Config {
    // The session token is a credential: keep it out of debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key)
            .field("customer", &self.customer)
            .field("lang", &self.lang)
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .field("api_base", &self.api_base)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("max_queue_events", &self.max_queue_events)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("max_attempts", &self.max_attempts)
            .field("event_ttl_ms", &self.event_ttl_ms)
            .field("debug", &self.debug)
            .field("client_token", &self.client_token.as_ref().map(|_| "…"))
            .finish()
    }
}

const DAY_MS: f64 = 86_400_000.0;

/// Reads a whole number in `min..=max`, or the default when absent.
fn whole(name: &str, value: Option<f64>, default: f64, min: f64, max: f64) -> Result<f64> {
    let v = value.unwrap_or(default);
    if !v.is_finite() || v.fract() != 0.0 || v < min || v > max {
        // Bounds printed as integers: formatting an f64 would compile in ~20 KB of float code.
        let (min, max) = (decimal(min as u64), decimal(max as u64));
        return Err(TrackerError::config(
            [name, " must be a whole number from ", &min, " to ", &max].concat(),
        ));
    }
    Ok(v)
}

/// Checks that `url` is an absolute http(s) URL and returns it without a trailing slash.
///
/// # Errors
/// `invalid_config` naming `field`.
pub fn check_url(field: &str, url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    // A host: something before the first '/', '?' or '#'.
    let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with(['/', '?', '#']));
    if !host_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TrackerError::config(
            [
                field,
                " must be an absolute http(s) URL, got ",
                &quoted(url),
            ]
            .concat(),
        ));
    }
    // Fetch refuses a URL with credentials (`new Request` throws a TypeError: Fetch standard,
    // "Request constructor", step "If parsedURL includes credentials"): every request would
    // fail before it left, so it is refused here, where it enters.
    let credentials = rest
        .unwrap_or_default()
        .bytes()
        .take_while(|b| !matches!(b, b'/' | b'\\' | b'?' | b'#'))
        .any(|b| b == b'@');
    if credentials {
        return Err(TrackerError::config(
            [
                field,
                " must not contain a user name or password (fetch refuses such a URL), got ",
                &quoted(url),
            ]
            .concat(),
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// An events API's base URL, as [`check_url`] takes it, without a query or fragment (the
/// tracker appends the endpoint's path, so either would end up in the wrong place and every
/// event would be rejected) and not the events endpoint itself (`endpoint`, the end of its
/// path, such as `/client/v1/events`).
///
/// # Errors
/// `invalid_config` naming `field`.
pub fn check_base_url(field: &str, url: &str, endpoint: &str) -> Result<String> {
    let url = check_url(field, url)?;
    if url.bytes().any(|b| b == b'?' || b == b'#') {
        return Err(TrackerError::config(
            [
                field,
                " must be a base URL without a query or fragment (the tracker appends the endpoint's path), got ",
                &quoted(&url),
            ]
            .concat(),
        ));
    }
    if url.ends_with(endpoint) {
        return Err(TrackerError::config(
            [
                field,
                " must be the API's base URL, not its events endpoint (leave out ",
                endpoint,
                "), got ",
                &quoted(&url),
            ]
            .concat(),
        ));
    }
    Ok(url)
}

/// `value` as a JSON string literal, to show it in a message: `{:?}` would compile in Rust's
/// Debug escaping and its Unicode tables for two error messages.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    crate::core::json::write_string(value, &mut out);
    out
}

/// Refuses a config with a key of `forbidden` (folded: case, `_` and `-` ignored): a
/// credential that must never reach a browser, for the reason `why`.
///
/// # Errors
/// `invalid_config` naming the key as given.
pub(crate) fn refuse_keys(keys: &[String], forbidden: &[&str], why: &str) -> Result<()> {
    for key in keys {
        let folded: String = key
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if forbidden.contains(&folded.as_str()) {
            return Err(TrackerError::config(
                [key, " must never be in a browser: ", why].concat(),
            ));
        }
    }
    Ok(())
}

/// Refuses a config that carries Gameball's secret key (`secretKey`, `transactionKey`, in
/// any spelling), which lets anyone who reads the page award points.
fn refuse_secret_keys(keys: &[String]) -> Result<()> {
    refuse_keys(
        keys,
        &["secretkey", "transactionkey"],
        "it lets anyone award points. Use only the public apiKey here and keep the secret key on your server",
    )
}

/// Checks a config text field (as [`check_text`] does), as `invalid_config`.
pub(crate) fn config_text(field: &str, value: &str, max: usize) -> Result<()> {
    check_text(field, value, max).map_err(|e| TrackerError::config(e.message))
}

impl Config {
    /// Checks every field of `raw`.
    ///
    /// # Errors
    /// `invalid_config` with a message naming the field.
    pub fn from_raw(raw: RawConfig) -> Result<Config> {
        refuse_secret_keys(&raw.keys)?;
        let api_key = raw
            .api_key
            .ok_or_else(|| TrackerError::config("apiKey is required"))?;
        config_text("apiKey", &api_key, 256)?;
        if api_key.chars().any(char::is_whitespace) {
            return Err(TrackerError::config("apiKey must not contain spaces"));
        }
        check_header_value("apiKey", &api_key)?;
        if let Some(id) = &raw.customer_id {
            config_text("customerId", id, limits::CUSTOMER_ID_CHARS)?;
        }
        for (field, value) in [("email", &raw.email), ("mobile", &raw.mobile)] {
            if let Some(v) = value {
                config_text(field, v, limits::CONTACT_CHARS)?;
            }
        }
        let lang = raw.lang.unwrap_or_else(|| "en".to_owned());
        let lang_ok = (2..=10).contains(&lang.len())
            && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !lang_ok {
            return Err(TrackerError::config(
                [
                    "lang must be a language code such as \"en\" or \"zh-tw\", got ",
                    &quoted(&lang),
                ]
                .concat(),
            ));
        }
        if let Some(token) = &raw.session_token {
            config_text("sessionToken", token, 8192)?;
            check_header_value("sessionToken", token)?;
        }
        let api_base = check_base_url(
            "apiBase",
            raw.api_base.as_deref().unwrap_or(DEFAULT_API_BASE),
            "/integrations/events",
        )?;
        Ok(Config {
            api_key,
            customer: CustomerDefaults {
                customer_id: raw.customer_id,
                email: raw.email,
                mobile: raw.mobile,
            },
            lang,
            session_token: raw.session_token,
            api_base,
            flush_interval_ms: whole(
                "flushIntervalMs",
                raw.flush_interval_ms,
                5000.0,
                100.0,
                3_600_000.0,
            )? as u64,
            max_queue_events: whole(
                "maxQueueEvents",
                raw.max_queue_events,
                1000.0,
                1.0,
                100_000.0,
            )? as usize,
            // The floor leaves room for the largest valid event.
            max_queue_bytes: whole(
                "maxQueueBytes",
                raw.max_queue_bytes,
                1_000_000.0,
                64.0 * 1024.0,
                50_000_000.0,
            )? as usize,
            max_attempts: whole("maxAttempts", raw.max_attempts, 10.0, 1.0, 1000.0)? as u32,
            event_ttl_ms: whole(
                "eventTtlMs",
                raw.event_ttl_ms,
                7.0 * DAY_MS,
                1000.0,
                365.0 * DAY_MS,
            )? as u64,
            debug: raw.debug,
            client_token: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    fn base() -> RawConfig {
        RawConfig {
            api_key: Some("pk_test".into()),
            ..RawConfig::default()
        }
    }

    fn refused(raw: RawConfig) -> String {
        match Config::from_raw(raw) {
            Ok(c) => panic!("expected invalid_config, got {c:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidConfig);
                e.message
            }
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::from_raw(base()).expect("valid");
        assert_eq!(c.api_base, "https://api.gameball.co");
        assert_eq!(c.lang, "en");
        assert_eq!(c.flush_interval_ms, 5000);
        assert_eq!(c.max_queue_events, 1000);
        assert_eq!(c.max_queue_bytes, 1_000_000);
        assert_eq!(c.max_attempts, 10);
        assert_eq!(c.event_ttl_ms, 7 * 86_400_000);
    }

    #[test]
    fn api_base_is_a_base_url() {
        for (url, words) in [
            ("https://gb.example/?a=1", "without a query or fragment"),
            ("https://gb.example#f", "without a query or fragment"),
            (
                "https://gb.example/api/v4.0/integrations/events",
                "not its events endpoint",
            ),
            ("gb.example", "absolute http(s) URL"),
        ] {
            let message = refused(RawConfig {
                api_base: Some(url.into()),
                ..base()
            });
            assert!(
                message.starts_with("apiBase must be") && message.contains(words),
                "{message}"
            );
        }
        let proxy = Config::from_raw(RawConfig {
            api_base: Some("https://shop.example/gb/".into()),
            ..base()
        })
        .expect("a first-party proxy path");
        assert_eq!(proxy.api_base, "https://shop.example/gb");
    }

    #[test]
    fn api_key_is_required_and_checked() {
        assert!(refused(RawConfig::default()).contains("apiKey"));
        assert!(refused(RawConfig {
            api_key: Some(" ".into()),
            ..base()
        })
        .contains("apiKey"));
        assert!(refused(RawConfig {
            api_key: Some("a b".into()),
            ..base()
        })
        .contains("apiKey"));
    }

    #[test]
    fn bad_numbers_are_refused_by_name() {
        type Setter = fn(&mut RawConfig, f64);
        let cases: [(Setter, &str, f64); 6] = [
            (|r, v| r.flush_interval_ms = Some(v), "flushIntervalMs", 0.0),
            (
                |r, v| r.flush_interval_ms = Some(v),
                "flushIntervalMs",
                f64::NAN,
            ),
            (|r, v| r.max_queue_events = Some(v), "maxQueueEvents", 1.5),
            (|r, v| r.max_queue_bytes = Some(v), "maxQueueBytes", 10.0),
            (|r, v| r.max_attempts = Some(v), "maxAttempts", -1.0),
            (|r, v| r.event_ttl_ms = Some(v), "eventTtlMs", f64::INFINITY),
        ];
        for (set, name, value) in cases {
            let mut raw = base();
            set(&mut raw, value);
            assert!(refused(raw).starts_with(name), "{name} = {value}");
        }
    }

    #[test]
    fn api_base_must_be_an_http_url_and_loses_its_trailing_slash() {
        for bad in [
            "api.gameball.co",
            "ftp://x",
            "https://",
            "http://a b",
            "javascript:alert(1)",
        ] {
            assert!(refused(RawConfig {
                api_base: Some(bad.into()),
                ..base()
            })
            .contains("apiBase"));
        }
        let c = Config::from_raw(RawConfig {
            api_base: Some("http://127.0.0.1:8787/".into()),
            ..base()
        })
        .expect("valid");
        assert_eq!(c.api_base, "http://127.0.0.1:8787");
    }

    /// Found by a new user (session 7): `http://u:p@host` was accepted, then every request
    /// failed inside `fetch` and nothing was ever sent.
    #[test]
    fn a_url_with_a_user_name_or_password_is_refused() {
        for bad in [
            "http://u:p@127.0.0.1:8899",
            "https://user@api.gameball.co",
            "https://:pw@api.gameball.co/",
            "http://u@h\\path",
        ] {
            let message = refused(RawConfig {
                api_base: Some(bad.into()),
                ..base()
            });
            assert!(
                message.starts_with("apiBase must not contain a user name or password"),
                "{bad}: {message}"
            );
        }
        // An @ in the path or query is not a credential.
        let c = Config::from_raw(RawConfig {
            api_base: Some("https://proxy.shop.test/@gameball".into()),
            ..base()
        })
        .expect("valid");
        assert_eq!(c.api_base, "https://proxy.shop.test/@gameball");
    }

    #[test]
    fn lang_is_a_language_code() {
        assert!(Config::from_raw(RawConfig {
            lang: Some("zh-tw".into()),
            ..base()
        })
        .is_ok());
        assert!(refused(RawConfig {
            lang: Some("e n\n".into()),
            ..base()
        })
        .contains("lang"));
    }

    fn with_keys(keys: &[&str]) -> RawConfig {
        RawConfig {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..base()
        }
    }

    #[test]
    fn a_secret_key_in_any_spelling_is_refused_by_its_name() {
        for key in [
            "secretKey",
            "transactionKey",
            "secret_key",
            "SecretKey",
            "SECRET-KEY",
            "transaction_key",
            "TransactionKey",
        ] {
            assert_eq!(
                refused(with_keys(&["apiKey", key])),
                format!("{key} must never be in a browser: it lets anyone award points. Use only the public apiKey here and keep the secret key on your server"),
            );
        }
        // Refused before anything else is looked at, even a missing apiKey.
        let msg = refused(RawConfig {
            keys: vec!["secretKey".into()],
            ..RawConfig::default()
        });
        assert!(msg.starts_with("secretKey must never"), "{msg}");
    }

    #[test]
    fn keys_that_only_resemble_a_secret_key_are_accepted() {
        let raw = with_keys(&[
            "apiKey",
            "secret",
            "secretKeyId",
            "mySecretKey",
            "transaction",
            "sessionToken",
        ]);
        assert!(Config::from_raw(raw).is_ok());
    }

    #[test]
    fn header_values_no_fetch_can_carry_are_refused_by_field() {
        // Issue 12 §2: 'tok€n' made every request fail inside fetch.
        for token in ["tok€n", "tok\r\nX-Other: 1", " tok"] {
            let msg = refused(RawConfig {
                session_token: Some(token.into()),
                ..base()
            });
            assert!(msg.starts_with("sessionToken"), "{msg}");
        }
        let msg = refused(RawConfig {
            api_key: Some("pk_€".into()),
            ..base()
        });
        assert!(msg.starts_with("apiKey cannot be sent"), "{msg}");
    }

    #[test]
    fn debug_output_hides_the_session_token() {
        let c = Config::from_raw(RawConfig {
            session_token: Some("secret-jwe".into()),
            ..base()
        })
        .expect("valid");
        assert!(!format!("{c:?}").contains("secret-jwe"));
    }
}
