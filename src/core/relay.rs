//! The messages tabs of one origin exchange (over BroadcastChannel, or storage events where
//! it is missing): the sender tells everyone each outcome, so the tab that queued an event
//! settles its callback even when another tab delivered it; followers hand the sender records
//! they could not store, ask it to flush, and tell it their page's session token.

use super::error::{ErrorCode, TrackerError};
use super::json::{parse, write_string, Json};
use super::outcome::{Delivered, Report};
use super::text::push_i64;

/// One message between tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The sender settled an event.
    Outcome(Report),
    /// A follower's record the sender may not know: one localStorage refused, or one a
    /// sender took out of storage without an outcome reaching the follower (handed back
    /// when a new sender asks for the census). The sender adopts it from here.
    Record {
        /// Storage key.
        key: String,
        /// Record text.
        value: String,
        /// It may have reached the server already (a sender took it out): sending it again
        /// counts as an unknown-fate resend.
        unknown_fate: bool,
    },
    /// A follower's `flush()`, with the follower's waiting records (storage between tabs is
    /// only eventually consistent: the sender may not see them yet): the sender adopts them,
    /// flushes, and answers [`Message::Flushed`].
    Flush(Vec<(String, String)>),
    /// The sender's flush settled (nothing in flight).
    Flushed,
    /// A tab with this id is open (on start, on a back/forward-cache restore, and when a
    /// new sender asks): the sender needs to know whether it is the last tab.
    Hello(String),
    /// The tab with this id is leaving.
    Bye(String),
    /// A new sender asks every tab to say hello.
    Census,
    /// The session token the page of tab `tab` holds for `customer` (its customer's
    /// `sessionToken`), or, with `token` `None`, that it holds none any more (logout, another
    /// customer, a config without one). The sender attaches it to that customer's events
    /// when its own page has no token for them. Posted only over `BroadcastChannel`, which
    /// keeps it in memory: never over the storage-event fallback, which would write the token
    /// into `localStorage`.
    Token {
        /// The tab that holds it.
        tab: String,
        /// The customer it proves.
        customer: String,
        /// The token; `None`: withdrawn.
        token: Option<SessionToken>,
    },
}

/// A session token on its way between tabs; its `Debug` hides it, as `Config`'s does: a
/// debug line or a test's failure message must not carry a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(pub String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

const CODES: [ErrorCode; 8] = [
    ErrorCode::InvalidConfig,
    ErrorCode::InvalidEvent,
    ErrorCode::NotInitialized,
    ErrorCode::Unauthorized,
    ErrorCode::Rejected,
    ErrorCode::QueueFull,
    ErrorCode::Expired,
    ErrorCode::UnsupportedEnvironment,
];

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    write_string(value, out);
}

fn push_number(out: &mut String, name: &str, value: i64) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    push_i64(out, value);
}

impl Message {
    /// The message as text.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(128);
        match self {
            Message::Outcome(report) => {
                out.push_str("{\"k\":\"o\"");
                push_field(&mut out, "id", &report.id);
                push_field(&mut out, "c", &report.customer_id);
                out.push_str(",\"n\":[");
                for (i, name) in report.event_names.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(name, &mut out);
                }
                out.push(']');
                match &report.result {
                    Ok(d) => {
                        push_number(&mut out, "s", i64::from(d.status));
                        push_number(&mut out, "a", i64::from(d.attempts));
                    }
                    Err(e) => {
                        push_field(&mut out, "e", e.code.as_str());
                        push_field(&mut out, "m", &e.message);
                        if let Some(s) = e.status {
                            push_number(&mut out, "s", i64::from(s));
                        }
                        if let Some(g) = e.gameball_code {
                            push_number(&mut out, "g", g);
                        }
                        if let Some(r) = &e.request_id {
                            push_field(&mut out, "r", r);
                        }
                        if let Some(k) = &e.voucherify_key {
                            push_field(&mut out, "vk", k);
                        }
                    }
                }
            }
            Message::Record {
                key,
                value,
                unknown_fate,
            } => {
                out.push_str("{\"k\":\"r\"");
                push_field(&mut out, "key", key);
                push_field(&mut out, "value", value);
                if *unknown_fate {
                    out.push_str(",\"u\":1");
                }
            }
            Message::Flush(records) => {
                out.push_str("{\"k\":\"f\",\"r\":[");
                for (i, (key, value)) in records.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('[');
                    write_string(key, &mut out);
                    out.push(',');
                    write_string(value, &mut out);
                    out.push(']');
                }
                out.push(']');
            }
            Message::Flushed => out.push_str("{\"k\":\"F\""),
            Message::Hello(tab) => {
                out.push_str("{\"k\":\"h\"");
                push_field(&mut out, "t", tab);
            }
            Message::Bye(tab) => {
                out.push_str("{\"k\":\"b\"");
                push_field(&mut out, "t", tab);
            }
            Message::Census => out.push_str("{\"k\":\"c\""),
            Message::Token {
                tab,
                customer,
                token,
            } => {
                out.push_str("{\"k\":\"t\"");
                push_field(&mut out, "t", tab);
                push_field(&mut out, "c", customer);
                if let Some(token) = token {
                    push_field(&mut out, "x", &token.0);
                }
            }
        }
        out.push('}');
        out
    }

    /// Reads a message; `None` for anything else (another library's message on a channel
    /// of the same name, a newer format).
    pub fn decode(text: &str) -> Option<Message> {
        let json = parse(text).ok()?;
        let text_of = |name: &str| json.get(name).and_then(Json::as_str).map(str::to_owned);
        let number = |name: &str| json.get(name).and_then(Json::as_i64);
        match json.get("k")?.as_str()? {
            "o" => {
                let names = match json.get("n")? {
                    Json::Array(items) => items
                        .iter()
                        .map(|n| n.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()?,
                    _ => return None,
                };
                let status = number("s").and_then(|s| u16::try_from(s).ok());
                let result = match text_of("e") {
                    None => Ok(Delivered {
                        status: status?,
                        attempts: number("a").and_then(|a| u32::try_from(a).ok())?,
                    }),
                    Some(code) => {
                        let id = text_of("id")?;
                        Err(TrackerError {
                            code: *CODES.iter().find(|c| c.as_str() == code)?,
                            message: text_of("m").unwrap_or_default(),
                            status,
                            gameball_code: number("g"),
                            request_id: text_of("r"),
                            voucherify_key: text_of("vk"),
                            id: Some(id),
                        })
                    }
                };
                Some(Message::Outcome(Report {
                    id: text_of("id")?,
                    customer_id: text_of("c")?,
                    event_names: names,
                    result,
                }))
            }
            "r" => Some(Message::Record {
                key: text_of("key")?,
                value: text_of("value")?,
                unknown_fate: number("u") == Some(1),
            }),
            "f" => {
                let Json::Array(items) = json.get("r")? else {
                    return None;
                };
                let records = items
                    .iter()
                    .map(|item| match item {
                        Json::Array(pair) => match pair.as_slice() {
                            [k, v] => Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Message::Flush(records))
            }
            "F" => Some(Message::Flushed),
            "h" => Some(Message::Hello(text_of("t")?)),
            "b" => Some(Message::Bye(text_of("t")?)),
            "c" => Some(Message::Census),
            "t" => Some(Message::Token {
                tab: text_of("t")?,
                customer: text_of("c")?,
                token: text_of("x").map(SessionToken),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(result: Result<Delivered, TrackerError>) -> Report {
        Report {
            id: "abc".into(),
            customer_id: "cust \"1\"".into(),
            event_names: vec!["add_to_cart".into(), "review".into()],
            result,
        }
    }

    #[test]
    fn every_message_survives_the_trip() {
        let rejected = TrackerError {
            code: ErrorCode::Rejected,
            message: "Gameball rejected the event (status 400: bad)".into(),
            status: Some(400),
            gameball_code: Some(3000),
            request_id: Some("req-9".into()),
            voucherify_key: None,
            id: Some("abc".into()),
        };
        let voucherify = TrackerError {
            code: ErrorCode::Rejected,
            message: "Voucherify rejected the event (status 400: Missing event)".into(),
            status: Some(400),
            gameball_code: None,
            request_id: Some("v-0a88".into()),
            voucherify_key: Some("missing_event".into()),
            id: Some("abc".into()),
        };
        let expired = TrackerError {
            code: ErrorCode::Expired,
            message: "out of attempts".into(),
            status: None,
            gameball_code: None,
            request_id: None,
            voucherify_key: None,
            id: Some("abc".into()),
        };
        for message in [
            Message::Outcome(report(Ok(Delivered {
                status: 200,
                attempts: 3,
            }))),
            Message::Outcome(report(Err(rejected))),
            Message::Outcome(report(Err(expired))),
            Message::Outcome(report(Err(voucherify))),
            Message::Record {
                key: "gb1:x:abc".into(),
                value: "{\"v\":1}".into(),
                unknown_fate: false,
            },
            Message::Record {
                key: "gb1:x:abd".into(),
                value: "{\"v\":1}".into(),
                unknown_fate: true,
            },
            Message::Flush(vec![("gb1:x:a".into(), "{\"v\":1}".into())]),
            Message::Flush(Vec::new()),
            Message::Flushed,
            Message::Hello("t1".into()),
            Message::Bye("t1".into()),
            Message::Census,
            Message::Token {
                tab: "t1".into(),
                customer: "cust \"1\"".into(),
                token: Some(SessionToken("jwe.é".into())),
            },
            Message::Token {
                tab: "t1".into(),
                customer: "c".into(),
                token: None,
            },
        ] {
            assert_eq!(Message::decode(&message.encode()), Some(message));
        }
    }

    #[test]
    fn foreign_messages_are_ignored() {
        for text in [
            "",
            "hello",
            "{}",
            "{\"k\":\"z\"}",
            "{\"k\":\"o\",\"id\":\"a\"}",
            "{\"k\":\"o\",\"id\":\"a\",\"c\":\"b\",\"n\":[1],\"s\":200,\"a\":1}",
            "{\"k\":\"o\",\"id\":\"a\",\"c\":\"b\",\"n\":[],\"e\":\"nope\"}",
            "{\"k\":\"t\",\"t\":\"t1\",\"x\":\"jwe\"}",
        ] {
            assert_eq!(Message::decode(text), None, "{text}");
        }
    }
}
