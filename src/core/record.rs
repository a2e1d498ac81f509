//! One queued event as it is stored: one localStorage value per event, so that queueing
//! costs the same with an empty queue and with a thousand waiting (no whole-queue rewrite).
//!
//! Format `v: 1` is a Gameball event (as every earlier release wrote it); `v: 2` is the
//! same with an `x` object: a Voucherify event's request body. A release that knows
//! only `v: 1` refuses a `v: 2` record rather than send it to the wrong API.

use super::event::ValidEvent;
use super::json::{parse, write_string, Json};

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Event id: fixed-width base-36 `created`, `seq`, random; sorting ids sorts by age.
    pub id: String,
    /// When `sendEvent` was called (ms since the epoch).
    pub created_ms: u64,
    /// Attempts made so far (persisted so `maxAttempts` holds across reloads).
    pub attempts: u32,
    /// The validated event.
    pub event: ValidEvent,
}

/// Makes an id that sorts by creation time, then by the page's own sequence number.
pub fn make_id(created_ms: u64, seq: u32, random: u64) -> String {
    let mut id = String::with_capacity(21);
    push_base36(&mut id, created_ms, 9);
    push_base36(&mut id, u64::from(seq), 6);
    push_base36(&mut id, random, 6);
    id
}

/// `random` for [`make_id`] with its lowest bit saying whether the page that queued the
/// event held a session token for the event's customer then ([`is_token_bound`]). The bit
/// travels with the id, where storage holds no token: a sender attaches another tab's token
/// only to events that tab queued while signed in, never to one queued after a logout whose
/// message had not arrived yet (messages and storage events are not ordered between them).
pub fn id_random(random: u64, token_bound: bool) -> u64 {
    (random & !1) | u64::from(token_bound)
}

/// Whether an id [`make_id`] made from [`id_random`] says its event was queued under a
/// session token: the last base-36 digit is odd (36 is even, so it keeps the bit). Ids of
/// earlier releases read either way: at worst such an event of a customer gets that
/// customer's token, as one delivered by a later page with a fresh token does.
pub fn is_token_bound(id: &str) -> bool {
    id.bytes().last().is_some_and(|b| {
        let digit = if b.is_ascii_digit() {
            b - b'0'
        } else {
            b.wrapping_sub(b'a') + 10
        };
        digit % 2 == 1
    })
}

/// The time part of an id [`make_id`] made (ms), `None` for text that is not one.
pub fn id_time(id: &str) -> Option<u64> {
    let digits = id.get(..9)?;
    digits.bytes().try_fold(0u64, |acc, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc * 36 + u64::from(digit))
    })
}

/// A random id for a tab (its name in the tab census).
pub fn make_tab_id(random: u64) -> String {
    let mut id = String::with_capacity(13);
    push_base36(&mut id, random, 13);
    id
}

fn push_base36(out: &mut String, mut value: u64, width: usize) {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = [b'0'; 13];
    for slot in buf.iter_mut().rev() {
        *slot = DIGITS[(value % 36) as usize];
        value /= 36;
    }
    // `width` digits, keeping the low ones (older/newer wrap is centuries away for time).
    let start = buf.len().saturating_sub(width);
    out.extend(buf[start..].iter().map(|&b| b as char));
}

// `encode` runs on every `sendEvent`: decimals without temporary Strings or `core::fmt`.
use super::text::push_u64 as push_decimal;

impl Record {
    /// The stored text of this record.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(
            96 + self
                .event
                .events
                .iter()
                .map(|(n, m)| n.len() + m.len() + 4)
                .sum::<usize>(),
        );
        let version = if self.event.voucherify.is_some() {
            "{\"v\":2,\"id\":"
        } else {
            "{\"v\":1,\"id\":"
        };
        out.push_str(version);
        write_string(&self.id, &mut out);
        out.push_str(",\"t\":");
        push_decimal(&mut out, self.created_ms);
        out.push_str(",\"n\":");
        push_decimal(&mut out, u64::from(self.attempts));
        out.push_str(",\"c\":");
        write_string(&self.event.customer_id, &mut out);
        if let Some(email) = &self.event.email {
            out.push_str(",\"e\":");
            write_string(email, &mut out);
        }
        if let Some(mobile) = &self.event.mobile {
            out.push_str(",\"m\":");
            write_string(mobile, &mut out);
        }
        out.push_str(",\"ev\":");
        write_events(&self.event.events, &mut out);
        if let Some(body) = &self.event.voucherify {
            out.push_str(",\"x\":");
            out.push_str(body);
        }
        out.push('}');
        out
    }

    /// Reads a stored record; `None` when it is not one this version wrote (corrupt,
    /// truncated, edited by another script).
    pub fn decode(text: &str) -> Option<Record> {
        let value = parse(text).ok()?;
        let voucherify = match value.get("v")?.as_i64()? {
            1 => None,
            2 => match value.get("x")? {
                body @ Json::Object(_) => Some(body.to_text()),
                _ => return None,
            },
            _ => return None,
        };
        let string = |key: &str| value.get(key).and_then(Json::as_str).map(str::to_owned);
        let id = string("id")?;
        let created_ms = u64::try_from(value.get("t")?.as_i64()?).ok()?;
        let attempts = u32::try_from(value.get("n")?.as_i64()?).ok()?;
        let customer_id = string("c")?;
        let events = match value.get("ev")? {
            Json::Object(members) if !members.is_empty() => members
                .iter()
                .map(|(name, meta)| match meta {
                    Json::Object(_) => Some((name.clone(), meta.to_text())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?,
            _ => return None,
        };
        if customer_id.is_empty() || id.is_empty() {
            return None;
        }
        Some(Record {
            id,
            created_ms,
            attempts,
            event: ValidEvent {
                customer_id,
                email: string("e"),
                mobile: string("m"),
                events,
                voucherify,
            },
        })
    }
}

/// The member a record's stored text ends with while its event's fate is unknown (a request
/// with it may have reached the server, as far as the tab that wrote it knows): whoever
/// takes the record in counts sending it again as an unknown-fate resend. The mark travels
/// with the record through storage and hand-overs, where a flag in one tab's memory does
/// not. A release that does not know it reads the record all the same (unknown members are
/// skipped); a record without it is byte for byte what earlier releases wrote.
pub const UNKNOWN_FATE: &str = ",\"u\":1}";

/// Whether a record's stored text carries the unknown-fate mark.
pub fn is_of_unknown_fate(text: &str) -> bool {
    text.ends_with(UNKNOWN_FATE)
}

/// `text`, a record's stored text as [`Record::encode`] writes it (a JSON object), with the
/// unknown-fate mark as its last member.
pub fn marked(text: &str) -> String {
    match text.strip_suffix('}') {
        Some(body) if !is_of_unknown_fate(text) => [body, UNKNOWN_FATE].concat(),
        _ => text.to_owned(),
    }
}

/// Whether `stored` is `text` (a record's stored text, unmarked) with or without the
/// unknown-fate mark.
pub fn same_record_text(stored: &str, text: &str) -> bool {
    stored == text
        || stored
            .strip_suffix(UNKNOWN_FATE)
            .zip(text.strip_suffix('}'))
            .is_some_and(|(a, b)| a == b)
}

/// Writes `{"name":meta,...}` from pre-serialized metadata.
pub fn write_events<'a>(events: impl IntoIterator<Item = &'a (String, String)>, out: &mut String) {
    out.push('{');
    for (i, (name, meta)) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(name, out);
        out.push(':');
        out.push_str(meta);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            id: make_id(1_700_000_000_000, 3, 12345),
            created_ms: 1_700_000_000_000,
            attempts: 2,
            event: ValidEvent {
                customer_id: "cust \"42\"".into(),
                email: Some("a@b.c".into()),
                mobile: None,
                events: vec![
                    (
                        "add_to_cart".into(),
                        r#"{"price":1350,"tags":["a"]}"#.into(),
                    ),
                    ("login".into(), "{}".into()),
                ],
                voucherify: None,
            },
        }
    }

    fn voucherify_sample() -> Record {
        Record {
            id: make_id(1_700_000_000_000, 4, 1),
            created_ms: 1_700_000_000_000,
            attempts: 1,
            event: ValidEvent {
                customer_id: "src_1".into(),
                email: None,
                mobile: None,
                events: vec![("user_subscribed".into(), "{}".into())],
                voucherify: Some(
                    r#"{"event":"user_subscribed","customer":{"source_id":"src_1","name":"Ann"},"referral":{"code":"R1"}}"#.into(),
                ),
            },
        }
    }

    #[test]
    fn a_voucherify_record_reads_back_as_written_and_gameballs_stays_v1() {
        let record = voucherify_sample();
        let text = record.encode();
        assert!(text.starts_with("{\"v\":2,"), "{text}");
        assert_eq!(Record::decode(&text), Some(record));
        assert!(sample().encode().starts_with("{\"v\":1,"));
        // A record exactly as the previous release stored it still loads.
        let stored = r#"{"v":1,"id":"0lonbdbk0000003000009ix","t":1700000000000,"n":2,"c":"cust_42","e":"a@b.c","ev":{"add_to_cart":{"price":1350}}}"#;
        let old = Record::decode(stored).expect("v1 loads");
        assert_eq!(old.event.voucherify, None);
        assert_eq!(old.encode(), stored);
        for bad in [
            r#"{"v":2,"id":"x","t":1,"n":0,"c":"c","ev":{"a":{}}}"#,
            r#"{"v":2,"id":"x","t":1,"n":0,"c":"c","ev":{"a":{}},"x":"body"}"#,
            r#"{"v":3,"id":"x","t":1,"n":0,"c":"c","ev":{"a":{}},"x":{}}"#,
        ] {
            assert_eq!(Record::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_record_of_unknown_fate_reads_as_the_record_did_before() {
        let record = sample();
        let plain = record.encode();
        let marked = marked(&plain);
        assert_eq!(
            marked,
            format!("{}{UNKNOWN_FATE}", &plain[..plain.len() - 1])
        );
        assert_eq!(super::marked(&marked), marked, "marked once");
        assert!(is_of_unknown_fate(&marked) && !is_of_unknown_fate(&plain));
        assert!(same_record_text(&marked, &plain) && same_record_text(&plain, &plain));
        assert!(!same_record_text(&plain[..plain.len() - 1], &plain));
        // The previous release's reader (this `decode`, unchanged for v1) skips the mark.
        assert_eq!(Record::decode(&marked), Some(record));
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let record = sample();
        assert_eq!(Record::decode(&record.encode()), Some(record));
    }

    #[test]
    fn decimals_as_display_writes_them() {
        for n in [0, 7, 10, 1_700_000_000_123, u64::MAX] {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn an_id_keeps_whether_its_event_was_queued_under_a_token() {
        for random in [0, 1, 35, 36, 999_999, u64::MAX] {
            for bound in [false, true] {
                let id = make_id(1_700_000_000_000, 9, id_random(random, bound));
                assert_eq!(is_token_bound(&id), bound, "{random} {id}");
            }
        }
    }

    #[test]
    fn ids_sort_by_time_then_sequence() {
        let a = make_id(1_700_000_000_000, 9, 999_999);
        let b = make_id(1_700_000_000_000, 10, 0);
        let c = make_id(1_700_000_000_001, 0, 0);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(id_time(&c), Some(1_700_000_000_001));
        assert_eq!(id_time("not an id"), None);
        assert_eq!(a.len(), 21);
    }

    #[test]
    fn damaged_records_are_refused_not_panicked_on() {
        let good = sample().encode();
        for cut in 0..good.len() {
            if good.is_char_boundary(cut) {
                assert_eq!(Record::decode(&good[..cut]), None, "cut at {cut}");
            }
        }
        for bad in [
            "null",
            "{}",
            r#"{"v":2,"id":"x","t":1,"n":0,"c":"c","ev":{"a":{}}}"#,
            r#"{"v":1,"id":"x","t":-1,"n":0,"c":"c","ev":{"a":{}}}"#,
            r#"{"v":1,"id":"x","t":1,"n":0,"c":"c","ev":{}}"#,
            r#"{"v":1,"id":"x","t":1,"n":0,"c":"c","ev":{"a":1}}"#,
            r#"{"v":1,"id":"x","t":1,"n":0,"c":"","ev":{"a":{}}}"#,
        ] {
            assert_eq!(Record::decode(bad), None, "{bad}");
        }
    }
}
