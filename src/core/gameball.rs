//! Gameball's events endpoint: the request a batch becomes and what an answer says.

use super::config::Config;
use super::json::{parse, write_string, Json};
use super::record::{write_events, Record};

/// Version sent in `x-gb-agent`.
pub const AGENT: &str = concat!("gameball-tracker/", env!("CARGO_PKG_VERSION"));

/// An HTTP request for the shell to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The engine's handle for the answer.
    pub id: u64,
    /// Full URL.
    pub url: String,
    /// Headers, in order. Only `APIKey`, `Content-Type`, `Lang`, `x-gb-agent` and, with a
    /// session token, `X-GB-TOKEN`: every custom header must pass the CORS allow-list.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: String,
}

/// Builds the request for `records`, which all share one customer and contact details and
/// have distinct event names (the engine's batching guarantees both).
///
/// The session token rides only with events of the customer it was issued for: a token is
/// proof of one customer's session, and Gameball checks its `customerId` claim.
pub fn build_request(id: u64, config: &Config, records: &[&Record]) -> HttpRequest {
    let first = &records[0].event;
    let token = config
        .session_token
        .as_ref()
        .filter(|_| config.customer.customer_id.as_deref() == Some(first.customer_id.as_str()));
    let version = if token.is_some() { "v4.1" } else { "v4.0" };
    let url = format!("{}/api/{version}/integrations/events", config.api_base);
    let mut headers = vec![
        ("APIKey", config.api_key.clone()),
        ("Content-Type", "application/json".to_owned()),
        ("Lang", config.lang.clone()),
        ("x-gb-agent", AGENT.to_owned()),
    ];
    if let Some(token) = token {
        headers.push(("X-GB-TOKEN", token.clone()));
    }
    let mut body =
        String::with_capacity(64 + records.iter().map(|r| r.encode_len_hint()).sum::<usize>());
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

impl Record {
    /// Roughly the bytes this record adds to a request body.
    pub fn encode_len_hint(&self) -> usize {
        self.event
            .events
            .iter()
            .map(|(n, m)| n.len() + m.len() + 4)
            .sum()
    }
}

/// What an error body says: both of Gameball's shapes, `{code, message, requestId}` and the
/// older `{error, message}`. Never fails: an unreadable body says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// Gameball's numeric code.
    pub code: Option<i64>,
    /// Gameball's message.
    pub message: Option<String>,
    /// Gameball's request id.
    pub request_id: Option<String>,
}

/// Reads an error body; see [`ErrorBody`].
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
            },
        }
    }

    #[test]
    fn a_batch_becomes_one_gameball_request() {
        let a = record("c1", "add_to_cart", r#"{"price":10}"#, Some("a@b.c"));
        let b = record("c1", "login", "{}", Some("a@b.c"));
        let req = build_request(7, &config(None), &[&a, &b]);
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
    fn the_token_goes_only_with_its_own_customer() {
        let own = build_request(1, &config(Some("jwe")), &[&record("c1", "x", "{}", None)]);
        assert!(own.url.ends_with("/api/v4.1/integrations/events"));
        assert_eq!(own.headers.last(), Some(&("X-GB-TOKEN", "jwe".to_owned())));
        let other = build_request(2, &config(Some("jwe")), &[&record("c2", "x", "{}", None)]);
        assert!(other.url.ends_with("/api/v4.0/integrations/events"));
        assert!(other.headers.iter().all(|(n, _)| *n != "X-GB-TOKEN"));
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
