//! Voucherify's client-side custom events as a [`Destination`]: its configuration, the
//! event shape and its checks, the request one event becomes, what an answer says, and the
//! client-side rate limit.
//!
//! Sources: `../shared/reference/gameball-api.md` (last section: `POST /client/v1/events`),
//! `../shared/reference/seeds/voucherify-track-custom-event.openapi.md` (the event's schema:
//! `event` 1–300 characters, `referral.code` and `loyalty.code` required inside their
//! objects, the error object), and Voucherify's documentation pages
//! <https://docs.voucherify.io/docs/limits> (client-side requests: 5 per 5 seconds from one
//! IP address), <https://docs.voucherify.io/docs/security> (429 past it; only origins on the
//! project's allow-list are served) and <https://docs.voucherify.io/docs/authentication>
//! (the `X-Client-Application-Id` / `X-Client-Token` headers).

use super::config::{check_base_url, config_text, refuse_keys, Config, RawConfig};
use super::destination::{Destination, ErrorBody, Judgement, RawInput};
use super::error::{Result, TrackerError};
use super::event::{
    check_nesting, check_text, limits, too_large, CustomerDefaults, Subject, ValidEvent,
};
use super::io::HttpRequest;
use super::json::{parse, write_string, Json};
use super::policy::Verdict;
use super::record::Record;
use super::text::check_header_value;

/// The destination's name in messages.
pub const NAME: &str = "Voucherify";

/// Sent in `X-Voucherify-Channel`, as Gameball's `x-gb-agent`.
pub const CHANNEL: &str = concat!("gameball-tracker/", env!("CARGO_PKG_VERSION"));

/// Where events go unless `apiUrl` says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.voucherify.io";

/// UTF-16 code units of an event name at most (Voucherify's `maxLength: 300`, counted as
/// JavaScript's `length` counts).
pub const EVENT_NAME_UNITS: usize = 300;

/// The sender's limits, as (window ms, requests): Voucherify serves 5 client-side requests
/// per 5 seconds from one IP address; the window is a little longer for the reasons given
/// at [`super::gameball::RATE_LIMITS`].
pub const RATE_LIMITS: [(u64, usize); 1] = [(5_500, 5)];

/// A `voucherify(config)` config as the shell read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawVoucherifyConfig {
    /// `clientApplicationId`
    pub client_application_id: Option<String>,
    /// `clientSecretKey`
    pub client_secret_key: Option<String>,
    /// `apiUrl`
    pub api_url: Option<String>,
    /// `trackingId`
    pub tracking_id: Option<String>,
    /// The queue options, `debug` and every key of the config object, read as for
    /// `customerWidget` (the other fields are ignored).
    pub options: RawConfig,
}

/// A Voucherify event as the page gave it, each field as plain JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawVoucherifyEvent {
    /// `event`
    pub event: Option<Json>,
    /// `customer`
    pub customer: Option<Json>,
    /// `metadata`
    pub metadata: Option<Json>,
    /// `referral`
    pub referral: Option<Json>,
    /// `loyalty`
    pub loyalty: Option<Json>,
}

/// Keys of Voucherify's server-side credentials (compared without case, `_` or `-`), by
/// their SDK names and as headers (`X-App-Id`, `X-App-Token`): source,
/// docs.voucherify.io/docs/authentication.
const SERVER_KEYS: [&str; 6] = [
    "applicationid",
    "secretkey",
    "apptoken",
    "appid",
    "xappid",
    "xapptoken",
];

/// Checks a `voucherify(config)` config. The queue options follow `customerWidget`'s rules
/// ([`Config::from_raw`] checks them); `api_key` holds the client application id (it names
/// the queue), `client_token` the client secret key, `customer` the `trackingId`.
///
/// # Errors
/// `invalid_config` naming the field, first for a server-side credential.
pub fn config(raw: RawVoucherifyConfig) -> Result<Config> {
    refuse_keys(
        &raw.options.keys,
        &SERVER_KEYS,
        "it is a server-side Voucherify credential. Use only clientApplicationId and clientSecretKey here",
    )?;
    let id = required("clientApplicationId", raw.client_application_id)?;
    let token = required("clientSecretKey", raw.client_secret_key)?;
    if let Some(tracking) = &raw.tracking_id {
        config_text("trackingId", tracking, limits::CUSTOMER_ID_CHARS)?;
    }
    let url = check_base_url(
        "apiUrl",
        raw.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
        "/client/v1/events",
    )?;
    let mut config = Config::from_raw(RawConfig {
        api_key: Some(id),
        customer_id: raw.tracking_id,
        api_base: Some(url),
        email: None,
        mobile: None,
        lang: None,
        session_token: None,
        ..raw.options
    })?;
    config.client_token = Some(token);
    Ok(config)
}

/// A credential field that must be there; it becomes a header, so it must be one Fetch can
/// carry.
fn required(field: &str, value: Option<String>) -> Result<String> {
    let value = value.ok_or_else(|| TrackerError::config([field, " is required"].concat()))?;
    config_text(field, &value, 256)?;
    check_header_value(field, &value)?;
    Ok(value)
}

fn event_error(message: impl Into<String>) -> TrackerError {
    TrackerError::event(message)
}

/// `value` unless it is absent or `null`.
fn given(value: Option<Json>) -> Option<Json> {
    value.filter(|v| !matches!(v, Json::Null))
}

/// `value` (at `path`) as a JSON object held to the metadata limits.
fn object(path: &str, value: Json) -> Result<Json> {
    if !matches!(value, Json::Object(_)) {
        return Err(event_error([path, " must be an object"].concat()));
    }
    let mut at = path.to_owned();
    check_nesting(Subject::Event, &mut at, &value, 1)?;
    Ok(value)
}

/// A member of `object` (at `path`) that must be a non-empty string if present.
fn text_member<'a>(object: &'a Json, path: &str, key: &str) -> Result<Option<&'a str>> {
    match object.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(_) => Err(event_error(
            [path, ".", key, " must be a non-empty string"].concat(),
        )),
    }
}

/// `referral` or `loyalty` (at `path`): an object whose `code` is required.
fn coded(path: &str, value: Option<Json>) -> Result<Option<String>> {
    let Some(value) = given(value) else {
        return Ok(None);
    };
    let value = object(path, value)?;
    if text_member(&value, path, "code")?.is_none() {
        return Err(event_error(
            [path, ".code is required when ", path, " is given"].concat(),
        ));
    }
    Ok(Some(value.to_text()))
}

/// Validates a Voucherify event and resolves its customer: the event's own `customer`
/// (kept as given) or, when it names neither `source_id` nor `id`, the default customer as
/// `source_id`.
///
/// # Errors
/// `invalid_event` naming the offending field.
pub fn validate(raw: RawVoucherifyEvent, defaults: &CustomerDefaults) -> Result<ValidEvent> {
    let name = match given(raw.event) {
        Some(Json::String(name)) => name,
        None => {
            return Err(event_error(
                "event is required: the custom event's name, as { event: 'user_subscribed' }",
            ))
        }
        Some(_) => return Err(event_error("event must be a string")),
    };
    let units = name.encode_utf16().count();
    if units == 0 || units > EVENT_NAME_UNITS {
        return Err(event_error("event must be 1 to 300 characters long"));
    }
    let mut customer = match given(raw.customer) {
        Some(value) => object("customer", value)?,
        None => Json::Object(Vec::new()),
    };
    let (field, own) = match text_member(&customer, "customer", "source_id")? {
        Some(id) => ("customer.source_id", Some(id)),
        None => ("customer.id", text_member(&customer, "customer", "id")?),
    };
    if let Some(id) = own {
        // The customer's key is held to the rules of trackingId and of Gameball's
        // customerId: it names the customer in reports and in Voucherify.
        check_text(field, id, limits::CUSTOMER_ID_CHARS)?;
    }
    let own = own.map(str::to_owned);
    if !matches!(
        customer.get("metadata"),
        None | Some(Json::Object(_) | Json::Null)
    ) {
        return Err(event_error("customer.metadata must be an object"));
    }
    let key = match (own, &mut customer) {
        (Some(key), _) => key,
        (None, Json::Object(members)) => {
            let Some(default) = defaults.customer_id.clone() else {
                return Err(event_error(
                    "customer.source_id is required: pass customer: { source_id } in the event, or set trackingId in voucherify(config) or call setCustomer",
                ));
            };
            members.push(("source_id".to_owned(), Json::String(default.clone())));
            default
        }
        (None, _) => String::new(),
    };
    let metadata = match given(raw.metadata) {
        Some(value) => Some(object("metadata", value)?.to_text()),
        None => None,
    };
    let referral = coded("referral", raw.referral)?;
    let loyalty = coded("loyalty", raw.loyalty)?;
    // The request body, built once: absent fields stay absent.
    let mut body = String::from("{\"event\":");
    write_string(&name, &mut body);
    body.push_str(",\"customer\":");
    let customer_start = body.len();
    body.push_str(&customer.to_text());
    let customer_len = body.len() - customer_start;
    for (key, value) in [
        ("metadata", &metadata),
        ("referral", &referral),
        ("loyalty", &loyalty),
    ] {
        if let Some(value) = value {
            body.push_str(",\"");
            body.push_str(key);
            body.push_str("\":");
            body.push_str(value);
        }
    }
    body.push('}');
    if body.len() > limits::EVENT_BYTES {
        // Named by its largest part, as Gameball's events name the field that overflows.
        let parts = [
            ("customer", customer_len),
            ("metadata", metadata.as_ref().map_or(0, String::len)),
            ("referral", referral.as_ref().map_or(0, String::len)),
            ("loyalty", loyalty.as_ref().map_or(0, String::len)),
        ];
        // The first of the largest; no indexing, so no panic path.
        let (largest, _) =
            parts.into_iter().fold(
                ("customer", 0),
                |best, part| {
                    if part.1 > best.1 {
                        part
                    } else {
                        best
                    }
                },
            );
        return Err(too_large(Subject::Event, largest));
    }
    Ok(ValidEvent {
        customer_id: key,
        email: None,
        mobile: None,
        events: vec![(name, metadata.unwrap_or_else(|| "{}".to_owned()))],
        voucherify: Some(body),
    })
}

/// Voucherify's client-side events endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Voucherify;

impl Destination for Voucherify {
    fn name(&self) -> &'static str {
        NAME
    }

    fn factory(&self) -> &'static str {
        "voucherify"
    }

    fn storage_tag(&self) -> &'static str {
        "vf1"
    }

    fn validate(&self, raw: RawInput, defaults: &CustomerDefaults) -> Result<ValidEvent> {
        match raw {
            RawInput::Voucherify(raw) => validate(raw, defaults),
            RawInput::Gameball(_) => Err(event_error(
                "this tracker sends to Voucherify: pass { event, customer, metadata }",
            )),
        }
    }

    /// Voucherify's client-side calls take no session token (`token` is always `None`).
    fn build_request(
        &self,
        id: u64,
        config: &Config,
        _token: Option<&str>,
        records: &[&Record],
    ) -> HttpRequest {
        build_request(id, config, records)
    }

    /// Never: Voucherify takes one event per request.
    fn may_join(&self, _batch: &[&Record], _next: &Record) -> bool {
        false
    }

    fn judge(&self, status: u16, body: &str) -> Judgement {
        Judgement::of(status, body, read_error_body, |_| classify(status))
    }

    fn rate_limits(&self) -> &'static [(u64, usize)] {
        &RATE_LIMITS
    }
}

/// Classifies Voucherify's answer; `status` 0 stands for "no answer".
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        401 | 403 => Verdict::Unauthorized,
        429 => Verdict::Retry {
            rate_limited: true,
            slow: false,
        },
        0 | 408 | 500..=599 => Verdict::Retry {
            rate_limited: false,
            slow: false,
        },
        _ => Verdict::Rejected,
    }
}

/// Builds the request for the one event in `records` (Voucherify takes one per request).
pub fn build_request(id: u64, config: &Config, records: &[&Record]) -> HttpRequest {
    // The engine never sends an empty batch or another API's event; an empty body is
    // refused by the server, not a panic.
    let body = records
        .first()
        .and_then(|r| r.event.voucherify.clone())
        .unwrap_or_default();
    HttpRequest {
        id,
        url: [&config.api_base, "/client/v1/events"].concat(),
        headers: vec![
            ("X-Client-Application-Id", config.api_key.clone()),
            (
                "X-Client-Token",
                config.client_token.clone().unwrap_or_default(),
            ),
            ("Content-Type", "application/json".to_owned()),
            ("X-Voucherify-Channel", CHANNEL.to_owned()),
        ],
        body,
    }
}

/// Reads Voucherify's error object `{ code, key, message, details, request_id }`: the
/// message carries the details after it; `code` (the HTTP status again) is not kept.
pub fn read_error_body(text: &str) -> ErrorBody {
    let Ok(value @ Json::Object(_)) = parse(text) else {
        return ErrorBody::default();
    };
    let text_of = |key: &str| {
        value
            .get(key)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let message = match (text_of("message"), text_of("details")) {
        (Some(mut m), Some(d)) => {
            m.push_str(": ");
            m.push_str(&d);
            Some(m)
        }
        (m, d) => m.or(d),
    };
    ErrorBody {
        code: None,
        message,
        request_id: text_of("request_id"),
        key: text_of("key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    fn raw_config() -> RawVoucherifyConfig {
        RawVoucherifyConfig {
            client_application_id: Some("vf-app".into()),
            client_secret_key: Some("vf-key".into()),
            api_url: Some("http://127.0.0.1:8787/".into()),
            ..RawVoucherifyConfig::default()
        }
    }

    fn json(text: &str) -> Json {
        parse(text).expect("json")
    }

    fn event(text: &str) -> RawVoucherifyEvent {
        let value = json(text);
        let field = |k: &str| value.get(k).cloned();
        RawVoucherifyEvent {
            event: field("event"),
            customer: field("customer"),
            metadata: field("metadata"),
            referral: field("referral"),
            loyalty: field("loyalty"),
        }
    }

    fn none() -> CustomerDefaults {
        CustomerDefaults::default()
    }

    fn refused(raw: RawVoucherifyEvent, defaults: &CustomerDefaults) -> String {
        match validate(raw, defaults) {
            Ok(v) => panic!("expected invalid_event, got {v:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidEvent);
                e.message
            }
        }
    }

    fn record(raw: RawVoucherifyEvent, defaults: &CustomerDefaults) -> Record {
        Record {
            id: "id-1".into(),
            created_ms: 1,
            attempts: 0,
            event: validate(raw, defaults).expect("valid"),
        }
    }

    #[test]
    fn config_defaults_and_refusals() {
        let c = config(raw_config()).expect("valid");
        assert_eq!(c.api_base, "http://127.0.0.1:8787");
        assert_eq!(c.api_key, "vf-app");
        assert_eq!(c.client_token.as_deref(), Some("vf-key"));
        assert_eq!(c.max_attempts, 10);
        let c = config(RawVoucherifyConfig {
            api_url: None,
            ..raw_config()
        })
        .expect("valid");
        assert_eq!(c.api_base, DEFAULT_API_URL);
        let refusal = |raw: RawVoucherifyConfig| match config(raw) {
            Ok(c) => panic!("expected invalid_config, got {c:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidConfig);
                e.message
            }
        };
        assert!(refusal(RawVoucherifyConfig {
            client_application_id: None,
            ..raw_config()
        })
        .starts_with("clientApplicationId"));
        assert!(refusal(RawVoucherifyConfig {
            client_secret_key: Some(" ".into()),
            ..raw_config()
        })
        .starts_with("clientSecretKey"));
        assert!(refusal(RawVoucherifyConfig {
            api_url: Some("api.voucherify.io".into()),
            ..raw_config()
        })
        .starts_with("apiUrl"));
        // A query, a fragment or the endpoint itself would send every event to a wrong URL
        // (rejected, dropped): refused where it is given.
        for url in [
            "https://api.voucherify.io/?a=1",
            "https://api.voucherify.io#f",
            "https://api.voucherify.io/client/v1/events",
        ] {
            assert!(refusal(RawVoucherifyConfig {
                api_url: Some(url.into()),
                ..raw_config()
            })
            .starts_with("apiUrl must be"));
        }
        // Both credentials become headers: a value Fetch cannot carry is refused here, not
        // in every request (issue 12 §2).
        assert!(refusal(RawVoucherifyConfig {
            client_secret_key: Some("k€y".into()),
            ..raw_config()
        })
        .starts_with("clientSecretKey cannot be sent"));
        assert!(refusal(RawVoucherifyConfig {
            client_application_id: Some("app\u{85}".into()),
            ..raw_config()
        })
        .starts_with("clientApplicationId"));
        for key in [
            "applicationId",
            "secretKey",
            "appToken",
            "APP_TOKEN",
            "secret-key",
            "X-App-Token",
            "X-App-Id",
            "appId",
        ] {
            let mut raw = raw_config();
            raw.options.keys = vec!["clientApplicationId".into(), key.into()];
            let message = refusal(raw);
            assert!(
                message.starts_with(&format!("{key} must never")),
                "{message}"
            );
        }
        // The queue options follow customerWidget's one rule, by the same names.
        let mut raw = raw_config();
        raw.options.max_attempts = Some(0.5);
        assert!(refusal(raw).starts_with("maxAttempts"));
    }

    #[test]
    fn the_event_name_is_1_to_300_utf16_units() {
        let ok = |name: &str| {
            validate(
                event(&format!(
                    r#"{{"event":{},"customer":{{"source_id":"c"}}}}"#,
                    json_string(name)
                )),
                &none(),
            )
        };
        assert!(ok(&"a".repeat(300)).is_ok());
        assert!(ok(&"a".repeat(301)).is_err());
        // 150 astral characters are 300 UTF-16 units, as JavaScript's length counts them.
        assert!(ok(&"😀".repeat(150)).is_ok());
        assert!(ok(&"😀".repeat(151)).is_err());
        // 300 two-byte characters are 600 UTF-8 bytes but 300 units: accepted.
        assert!(ok(&"é".repeat(300)).is_ok());
        assert!(ok("").is_err());
        assert!(
            refused(event(r#"{"customer":{"id":"c"}}"#), &none()).starts_with("event is required")
        );
        assert!(
            refused(event(r#"{"event":5,"customer":{"id":"c"}}"#), &none())
                .starts_with("event must be a string")
        );
    }

    fn json_string(s: &str) -> String {
        let mut out = String::new();
        write_string(s, &mut out);
        out
    }

    #[test]
    fn the_customer_is_kept_as_given_or_filled_from_the_default() {
        let defaults = CustomerDefaults {
            customer_id: Some("track-1".into()),
            ..CustomerDefaults::default()
        };
        let given = r#"{"event":"e","customer":{"id":"cust_x","name":"Ann","metadata":{"a":1}}}"#;
        let v = validate(event(given), &defaults).expect("valid");
        assert_eq!(v.customer_id, "cust_x");
        assert_eq!(
            v.voucherify.as_deref(),
            Some(r#"{"event":"e","customer":{"id":"cust_x","name":"Ann","metadata":{"a":1}}}"#)
        );
        let v = validate(
            event(r#"{"event":"e","customer":{"source_id":"s","id":"i"}}"#),
            &defaults,
        )
        .expect("valid");
        assert_eq!(v.customer_id, "s");
        let v = validate(
            event(r#"{"event":"e","customer":{"name":"Ann"}}"#),
            &defaults,
        )
        .expect("valid");
        assert_eq!(v.customer_id, "track-1");
        assert_eq!(
            v.voucherify.as_deref(),
            Some(r#"{"event":"e","customer":{"name":"Ann","source_id":"track-1"}}"#)
        );
        let v = validate(event(r#"{"event":"e"}"#), &defaults).expect("valid");
        assert_eq!(
            v.voucherify.as_deref(),
            Some(r#"{"event":"e","customer":{"source_id":"track-1"}}"#)
        );
        assert!(refused(event(r#"{"event":"e"}"#), &none())
            .starts_with("customer.source_id is required"));
        assert!(refused(event(r#"{"event":"e","customer":"c"}"#), &none())
            .starts_with("customer must be an object"));
        assert!(refused(
            event(r#"{"event":"e","customer":{"source_id":7}}"#),
            &none()
        )
        .starts_with("customer.source_id"));
        assert!(refused(
            event(r#"{"event":"e","customer":{"id":"c","metadata":[1]}}"#),
            &none()
        )
        .starts_with("customer.metadata"));
        // The customer's key follows trackingId's rules.
        let long = format!(
            r#"{{"event":"e","customer":{{"source_id":"{}"}}}}"#,
            "c".repeat(201)
        );
        assert!(refused(event(&long), &none()).starts_with("customer.source_id"));
        assert!(
            refused(event(r#"{"event":"e","customer":{"id":"a\nb"}}"#), &none())
                .starts_with("customer.id")
        );
        // An event too large is named by its largest part.
        let big = format!(
            r#"{{"event":"e","customer":{{"source_id":"c"}},"metadata":{{"blob":"{}"}}}}"#,
            "x".repeat(40_000)
        );
        assert!(refused(event(&big), &none()).starts_with("metadata makes the event larger"));
    }

    #[test]
    fn referral_and_loyalty_need_their_code_and_metadata_follows_gameballs_rules() {
        let base = r#""event":"e","customer":{"source_id":"c""#;
        let check = |extra: &str| validate(event(&format!("{{{base}}},{extra}}}")), &none());
        assert!(check(r#""referral":{"code":"R1","referrer_id":"cust_7"}"#).is_ok());
        assert!(check(r#""loyalty":{"code":"L1"}"#).is_ok());
        for (extra, start) in [
            (
                r#""referral":{"referrer_id":"cust_7"}"#,
                "referral.code is required",
            ),
            (r#""referral":{"code":""}"#, "referral.code must be"),
            (r#""loyalty":{}"#, "loyalty.code is required"),
            (r#""loyalty":"L1""#, "loyalty must be an object"),
            (r#""metadata":[1]"#, "metadata must be an object"),
        ] {
            let message = match check(extra) {
                Ok(v) => panic!("{extra} accepted: {v:?}"),
                Err(e) => e.message,
            };
            assert!(message.starts_with(start), "{extra}: {message}");
        }
        // Nesting is held to the metadata limit, in the same words as Gameball's events.
        let deep = format!("{}1{}", r#"{"a":"#.repeat(9), "}".repeat(9));
        let message = check(&format!(r#""metadata":{deep}"#))
            .expect_err("too deep")
            .message;
        assert!(message.contains("nested deeper than 8 levels"), "{message}");
        let big = format!(r#""metadata":{{"a":"{}"}}"#, "x".repeat(40_000));
        let message = check(&big).expect_err("too big").message;
        assert!(message.contains("larger than 32768 bytes"), "{message}");
    }

    #[test]
    fn one_event_becomes_one_request_with_absent_fields_left_out() {
        let c = config(raw_config()).expect("valid");
        let a = record(
            event(r#"{"event":"user_subscribed","customer":{"source_id":"c1"}}"#),
            &none(),
        );
        let req = build_request(3, &c, &[&a]);
        assert_eq!(req.url, "http://127.0.0.1:8787/client/v1/events");
        assert_eq!(
            req.body,
            r#"{"event":"user_subscribed","customer":{"source_id":"c1"}}"#
        );
        let names: Vec<_> = req.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "X-Client-Application-Id",
                "X-Client-Token",
                "Content-Type",
                "X-Voucherify-Channel"
            ]
        );
        assert_eq!(req.headers[0].1, "vf-app");
        assert_eq!(req.headers[1].1, "vf-key");
        assert!(req.headers[3].1.starts_with("gameball-tracker/"));
        let full = record(
            event(
                r#"{"event":"e","customer":{"source_id":"c1"},"metadata":{"plan":"PP1","volume":4},"referral":{"code":"R"},"loyalty":{"code":"L"}}"#,
            ),
            &none(),
        );
        let req = build_request(4, &c, &[&full]);
        assert_eq!(
            req.body,
            r#"{"event":"e","customer":{"source_id":"c1"},"metadata":{"plan":"PP1","volume":4},"referral":{"code":"R"},"loyalty":{"code":"L"}}"#
        );
        assert!(parse(&req.body).is_ok());
        // Never two in one request.
        assert!(!Voucherify.may_join(&[&a], &full));
    }

    #[test]
    fn classifies_like_the_contract() {
        assert_eq!(classify(200), Verdict::Delivered);
        assert_eq!(classify(202), Verdict::Delivered);
        assert_eq!(classify(401), Verdict::Unauthorized);
        assert_eq!(classify(403), Verdict::Unauthorized);
        for rejected in [400, 404, 413, 422] {
            assert_eq!(classify(rejected), Verdict::Rejected, "{rejected}");
        }
        let retry = Verdict::Retry {
            rate_limited: false,
            slow: false,
        };
        for again in [0, 408, 500, 502, 503] {
            assert_eq!(classify(again), retry, "{again}");
        }
        assert_eq!(
            classify(429),
            Verdict::Retry {
                rate_limited: true,
                slow: false
            }
        );
        // Gameball's busy-customer code means nothing here.
        assert_eq!(
            Voucherify.judge(422, r#"{"code":2001}"#).verdict,
            Verdict::Rejected
        );
    }

    #[test]
    fn reads_the_error_object_and_survives_junk() {
        let body = r#"{"code":400,"key":"missing_event","message":"Missing event","details":"Event name is required","request_id":"v-0a88"}"#;
        let judged = Voucherify.judge(400, body);
        assert_eq!(judged.verdict, Verdict::Rejected);
        assert_eq!(
            judged.error,
            ErrorBody {
                code: None,
                message: Some("Missing event: Event name is required".into()),
                request_id: Some("v-0a88".into()),
                key: Some("missing_event".into()),
            }
        );
        let only = read_error_body(r#"{"code":401,"key":"unauthorized","message":"Unauthorized"}"#);
        assert_eq!(only.message.as_deref(), Some("Unauthorized"));
        assert_eq!(only.request_id, None);
        for junk in ["", "API calls limit exceeded.", "[1]", "{\"key\":5}"] {
            assert_eq!(read_error_body(junk).key, None, "{junk}");
        }
        assert_eq!(Voucherify.judge(200, body).error, ErrorBody::default());
    }

    /// Through the engine: Voucherify's namespace, one event per request, its rate limit,
    /// its error fields and its own words for an `unauthorized` pause.
    #[test]
    fn the_engine_sends_one_event_per_request_under_the_client_side_limit() {
        use crate::core::engine::{Engine, Now, Role};
        use crate::core::io::{Action, Answer};
        static VF: Voucherify = Voucherify;
        let mut engine = Engine::with_destination(config(raw_config()).expect("valid"), &VF, 7);
        engine.handle_role(Now::at(0), Role::Sender { waited: false });
        assert!(engine.keys().prefix().starts_with("vf1:"));
        let now = Now::at(1_000);
        for n in 0..7 {
            let raw = event(&format!(
                r#"{{"event":"e{n}","customer":{{"source_id":"c{}"}}}}"#,
                n % 7
            ));
            engine.handle_send_event(now, raw).expect("queued");
        }
        engine.handle_timeout(now, true);
        let sends: Vec<_> = engine
            .poll_actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Send { request, .. } => Some(request),
                _ => None,
            })
            .collect();
        assert_eq!(sends.len(), 5, "5 per 5.5 s, seven customers waiting");
        assert!(sends
            .iter()
            .all(|r| parse(&r.body).is_ok() && r.body.starts_with("{\"event\":")));
        // A 401 pauses with Voucherify's words and fields.
        let first = sends[0].id;
        engine.handle_answer(
            now.plus(50),
            first,
            Answer::Http {
                status: 401,
                retry_after: None,
                request_id: None,
                body: r#"{"code":401,"key":"unauthorized","message":"Unauthorized","request_id":"v-1"}"#.into(),
            },
        );
        let error = engine
            .poll_actions()
            .into_iter()
            .find_map(|a| match a {
                Action::Report(r) => r.result.err(),
                _ => None,
            })
            .expect("an unauthorized report");
        assert_eq!(error.code, ErrorCode::Unauthorized);
        assert!(error.message.starts_with(
            "Voucherify refused the API key: sending is paused until voucherify is called again"
        ));
        assert_eq!(error.voucherify_key.as_deref(), Some("unauthorized"));
        assert_eq!(error.request_id.as_deref(), Some("v-1"));
        assert_eq!(error.gameball_code, None);
        assert!(engine.is_paused());
    }
}
