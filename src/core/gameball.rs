//! Gameball's events endpoint as a [`Destination`]: the request a batch becomes, which
//! events share a request, what an answer says, and Gameball's rate limits.
//! Source: `../shared/reference/gameball-api.md` (Gameball's events API v4.0/v4.1).

use super::config::Config;
use super::destination::{Destination, ErrorBody, Judgement, RawInput};
use super::error::{Result, TrackerError};
use super::event::{validate, CustomerDefaults, ValidEvent};
use super::io::HttpRequest;
use super::json::{parse, write_string, Json};
use super::policy::Verdict;
use super::record::{write_events, Record};

/// Version sent in `x-gb-agent`.
pub const AGENT: &str = concat!("gameball-tracker/", env!("CARGO_PKG_VERSION"));

/// Records coalesced into one request at most.
pub const MAX_BATCH_RECORDS: usize = 20;
/// Body bytes of one request at most; below `fetch` keepalive's 64 KiB budget.
pub const MAX_BATCH_BYTES: usize = 60 * 1024;

/// Gameball's code for "concurrent request in progress for the same customer".
pub const CODE_CONCURRENT: i64 = 2001;
/// Gameball's code for "Gameball is disabled for this account".
pub const CODE_DISABLED: i64 = 6000;

/// The sender's own limits, as (window ms, requests): Gameball's 100 per second and 1,200
/// per 30 seconds per API key, over windows a little longer than Gameball's. Gameball
/// counts a request when it arrives, the sender when it starts; between the two lie network
/// jitter, slow requests arriving together, and a dead sender's requests still on their way
/// when another tab takes over. A backlog thus drains within 10% of the best rate Gameball
/// accepts without provoking 429s.
pub const RATE_LIMITS: [(u64, usize); 2] = [(1_100, 100), (31_000, 1_200)];

/// Gameball's events API.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gameball;

impl Destination for Gameball {
    fn name(&self) -> &'static str {
        "Gameball"
    }

    fn factory(&self) -> &'static str {
        "customerWidget"
    }

    fn storage_tag(&self) -> &'static str {
        "gb1"
    }

    fn validate(&self, raw: RawInput, defaults: &CustomerDefaults) -> Result<ValidEvent> {
        match raw {
            RawInput::Gameball(raw) => validate(raw, defaults),
            RawInput::Voucherify(_) => Err(TrackerError::event(
                "this tracker sends to Gameball: pass { customerId, events: { name: metadata } }",
            )),
        }
    }

    fn build_request(
        &self,
        id: u64,
        config: &Config,
        token: Option<&str>,
        records: &[&Record],
    ) -> HttpRequest {
        build_request(id, config, token, records)
    }

    /// Same customer and contact details, event names not yet in the request, at most
    /// [`MAX_BATCH_RECORDS`] records and [`MAX_BATCH_BYTES`] of body: Gameball's body is
    /// one `events` object per customer, keyed by name.
    fn may_join(&self, batch: &[&Record], next: &Record) -> bool {
        let Some(first) = batch.first().map(|r| &r.event) else {
            return false;
        };
        let event = &next.event;
        let bytes: usize = batch.iter().map(|r| encode_len_hint(r)).sum();
        event.customer_id == first.customer_id
            && event.email == first.email
            && event.mobile == first.mobile
            && batch.len() < MAX_BATCH_RECORDS
            && bytes + encode_len_hint(next) <= MAX_BATCH_BYTES
            && event
                .names()
                .all(|n| batch.iter().all(|r| r.event.names().all(|m| m != n)))
    }

    fn judge(&self, status: u16, body: &str) -> Judgement {
        Judgement::of(status, body, read_error_body, |error| {
            classify(status, error.code)
        })
    }

    fn rate_limits(&self) -> &'static [(u64, usize)] {
        &RATE_LIMITS
    }
}

/// Classifies Gameball's answer. `status` 0 stands for "no answer" (network error, timeout).
pub fn classify(status: u16, gameball_code: Option<i64>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        401 | 403 => Verdict::Unauthorized,
        422 if gameball_code == Some(CODE_CONCURRENT) => Verdict::Concurrent,
        422 if gameball_code == Some(CODE_DISABLED) => Verdict::Retry {
            rate_limited: false,
            slow: true,
        },
        429 => Verdict::Retry {
            rate_limited: true,
            slow: false,
        },
        0 | 408 | 425 | 500..=599 => Verdict::Retry {
            rate_limited: false,
            slow: false,
        },
        _ => Verdict::Rejected,
    }
}

/// Roughly the bytes `record` adds to a request body.
fn encode_len_hint(record: &Record) -> usize {
    record
        .event
        .events
        .iter()
        .map(|(n, m)| n.len() + m.len() + 4)
        .sum()
}

/// Builds the request for `records`, which all share one customer and contact details and
/// have distinct event names (the engine's batching guarantees both). With `token` (a
/// session token of that very customer: the engine's `token_for` chooses it) the request
/// goes through v4.1 with `X-GB-TOKEN`; without, through v4.0 (Gameball's API reference).
pub fn build_request(
    id: u64,
    config: &Config,
    token: Option<&str>,
    records: &[&Record],
) -> HttpRequest {
    let Some(first) = records.first().map(|r| &r.event) else {
        // The engine never sends an empty batch; an empty body is refused, not a panic.
        return HttpRequest {
            id,
            url: String::new(),
            headers: Vec::new(),
            body: String::new(),
        };
    };
    let version = if token.is_some() { "v4.1" } else { "v4.0" };
    let url = [&config.api_base, "/api/", version, "/integrations/events"].concat();
    let mut headers = vec![
        ("APIKey", config.api_key.clone()),
        ("Content-Type", "application/json".to_owned()),
        ("Lang", config.lang.clone()),
        ("x-gb-agent", AGENT.to_owned()),
    ];
    if let Some(token) = token {
        headers.push(("X-GB-TOKEN", token.to_owned()));
    }
    let mut body =
        String::with_capacity(64 + records.iter().map(|r| encode_len_hint(r)).sum::<usize>());
    body.push_str("{\"customerId\":");
    write_string(&first.customer_id, &mut body);
    body.push_str(",\"events\":");
    write_events(
        records.iter().flat_map(|r| r.event.events.iter()),
        &mut body,
    );
    if let Some(email) = &first.email {
        body.push_str(",\"email\":");
        write_string(email, &mut body);
    }
    if let Some(mobile) = &first.mobile {
        body.push_str(",\"mobile\":");
        write_string(mobile, &mut body);
    }
    body.push('}');
    HttpRequest {
        id,
        url,
        headers,
        body,
    }
}

/// Reads both of Gameball's error shapes, `{code, message, requestId}` and the older
/// `{error, message}`; see [`ErrorBody`].
pub fn read_error_body(text: &str) -> ErrorBody {
    let Ok(value @ Json::Object(_)) = parse(text) else {
        return ErrorBody::default();
    };
    let code = value
        .get("code")
        .or_else(|| value.get("error"))
        .and_then(Json::as_i64);
    let text_of = |key: &str| value.get(key).and_then(Json::as_str).map(str::to_owned);
    ErrorBody {
        code,
        message: text_of("message"),
        request_id: text_of("requestId").or_else(|| text_of("requestID")),
        key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::RawConfig;
    use crate::core::event::ValidEvent;

    fn config(token: Option<&str>) -> Config {
        Config::from_raw(RawConfig {
            api_key: Some("pk".into()),
            customer_id: Some("c1".into()),
            session_token: token.map(str::to_owned),
            api_base: Some("http://127.0.0.1:8787/".into()),
            ..RawConfig::default()
        })
        .expect("valid")
    }

    fn record(customer: &str, name: &str, meta: &str, email: Option<&str>) -> Record {
        Record {
            id: format!("id-{name}"),
            created_ms: 1,
            attempts: 0,
            event: ValidEvent {
                customer_id: customer.into(),
                email: email.map(str::to_owned),
                mobile: None,
                events: vec![(name.into(), meta.into())],
                voucherify: None,
            },
        }
    }

    #[test]
    fn classifies_like_the_contract() {
        assert_eq!(classify(200, None), Verdict::Delivered);
        assert_eq!(classify(204, None), Verdict::Delivered);
        assert_eq!(classify(401, Some(1000)), Verdict::Unauthorized);
        assert_eq!(classify(403, Some(8000)), Verdict::Unauthorized);
        assert_eq!(classify(422, Some(2001)), Verdict::Concurrent);
        assert_eq!(classify(400, Some(3000)), Verdict::Rejected);
        assert_eq!(classify(404, Some(3017)), Verdict::Rejected);
        assert_eq!(classify(413, None), Verdict::Rejected);
        assert_eq!(classify(422, Some(3016)), Verdict::Rejected);
        let retry = Verdict::Retry {
            rate_limited: false,
            slow: false,
        };
        assert_eq!(classify(500, Some(5000)), retry);
        assert_eq!(classify(503, None), retry);
        assert_eq!(classify(0, None), retry);
        assert_eq!(
            classify(429, None),
            Verdict::Retry {
                rate_limited: true,
                slow: false
            }
        );
        assert_eq!(
            classify(422, Some(6000)),
            Verdict::Retry {
                rate_limited: false,
                slow: true
            }
        );
        // The error body is read only for failures, and feeds the verdict.
        let judged = Gameball.judge(422, r#"{"code":2001,"message":"busy"}"#);
        assert_eq!(judged.verdict, Verdict::Concurrent);
        assert_eq!(judged.error.message.as_deref(), Some("busy"));
        assert_eq!(
            Gameball.judge(200, r#"{"code":2001}"#).error,
            ErrorBody::default()
        );
    }

    #[test]
    fn a_batch_stops_at_a_repeated_name_or_other_contact() {
        let a = record("c1", "add_to_cart", "{}", None);
        let b = record("c1", "login", "{}", None);
        let again = record("c1", "add_to_cart", "{}", None);
        let other = record("c1", "review", "{}", Some("x@y.z"));
        assert!(Gameball.may_join(&[&a], &b));
        assert!(!Gameball.may_join(&[&a, &b], &again));
        assert!(!Gameball.may_join(&[&a], &other));
        assert!(!Gameball.may_join(&[&a], &record("c2", "login", "{}", None)));
    }

    #[test]
    fn a_batch_becomes_one_gameball_request() {
        let a = record("c1", "add_to_cart", r#"{"price":10}"#, Some("a@b.c"));
        let b = record("c1", "login", "{}", Some("a@b.c"));
        let req = build_request(7, &config(None), None, &[&a, &b]);
        assert_eq!(
            req.url,
            "http://127.0.0.1:8787/api/v4.0/integrations/events"
        );
        assert_eq!(
            req.body,
            r#"{"customerId":"c1","events":{"add_to_cart":{"price":10},"login":{}},"email":"a@b.c"}"#
        );
        let names: Vec<_> = req.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["APIKey", "Content-Type", "Lang", "x-gb-agent"]);
        assert_eq!(req.headers[2].1, "en");
        assert!(req.headers[3].1.starts_with("gameball-tracker/"));
        assert!(parse(&req.body).is_ok());
    }

    #[test]
    fn a_token_goes_through_v4_1_in_its_header_and_none_through_v4_0() {
        let c1 = record("c1", "x", "{}", None);
        let with = build_request(1, &config(None), Some("jwe"), &[&c1]);
        assert!(with.url.ends_with("/api/v4.1/integrations/events"));
        assert_eq!(with.headers.last(), Some(&("X-GB-TOKEN", "jwe".to_owned())));
        let without = build_request(2, &config(Some("jwe")), None, &[&c1]);
        assert!(without.url.ends_with("/api/v4.0/integrations/events"));
        assert!(without.headers.iter().all(|(n, _)| *n != "X-GB-TOKEN"));
    }

    #[test]
    fn reads_both_error_shapes_and_survives_junk() {
        let new = read_error_body(
            r#"{"code":3000,"type":"Payload Error","message":"customerId is required","requestId":"r-9"}"#,
        );
        assert_eq!(new.code, Some(3000));
        assert_eq!(new.request_id.as_deref(), Some("r-9"));
        assert_eq!(new.message.as_deref(), Some("customerId is required"));
        let old = read_error_body(r#"{"error":1000,"message":"bad key"}"#);
        assert_eq!(old.code, Some(1000));
        for junk in ["", "<html>502</html>", "[1]", "{\"code\":\"x\"}"] {
            assert_eq!(read_error_body(junk).code, None, "{junk}");
        }
    }
}
