//! A small JSON model, writer and reader.
//!
//! The tracker needs JSON in three places: event metadata taken from JS, queue records in
//! localStorage, and Gameball's error bodies. `serde_json` would double the size of the
//! module, and numbers never need arithmetic here, so a number is kept as the exact text
//! JavaScript or the stored record gave it: no float formatting or parsing is compiled in.

use std::fmt;

/// A JSON value; object members keep their order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A finite number, as its JSON text (for example `1350` or `-2.5e-7`).
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in insertion order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Serializes this value as compact JSON.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Appends this value as compact JSON to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(text) => out.push_str(text),
            Json::String(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    /// The member `key` of an object, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string inside a `Json::String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a number that is a whole number within `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(text) => crate::core::text::parse_i64(text),
            _ => None,
        }
    }
}

/// Appends `s` as a JSON string literal, escaping what JSON requires (and nothing more, so
/// that the same string always has the same text).
pub fn write_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let b = c as usize;
                out.push_str("\\u00");
                out.push(HEX[b >> 4] as char);
                out.push(HEX[b & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `text` is a number in JSON's grammar.
pub fn is_number_text(text: &str) -> bool {
    let mut reader = Reader::new(text);
    reader.number().is_ok() && reader.pos == text.len()
}

/// Why a text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {at}")]
pub struct ParseError {
    /// Byte offset where reading failed.
    pub at: usize,
}

/// How deep a document may nest before reading gives up (a guard against stack exhaustion
/// from a hostile or corrupted record).
const MAX_PARSE_DEPTH: usize = 64;

/// Reads one JSON document.
///
/// # Errors
/// [`ParseError`] when `text` is not exactly one JSON value (surrounding white space allowed).
pub fn parse(text: &str) -> Result<Json, ParseError> {
    let mut reader = Reader::new(text);
    let value = reader.value(0)?;
    reader.skip_ws();
    if reader.pos != text.len() {
        return Err(reader.fail());
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            bytes: text.as_bytes(),
            text,
            pos: 0,
        }
    }

    fn fail(&self) -> ParseError {
        ParseError { at: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    /// The text from `start` to the current position. Positions only ever stop on ASCII
    /// bytes, so this never splits a character; `get` keeps slicing's panic path (and its
    /// formatting machinery) out of the module.
    fn since(&self, start: usize) -> &'a str {
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn eat(&mut self, literal: &str) -> Result<(), ParseError> {
        if self.rest().starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(self.fail())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        if depth > MAX_PARSE_DEPTH {
            return Err(self.fail());
        }
        self.skip_ws();
        match self.peek() {
            Some(b'n') => self.eat("null").map(|_| Json::Null),
            Some(b't') => self.eat("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.eat("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                Ok(Json::Number(self.since(start).to_owned()))
            }
            _ => Err(self.fail()),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.fail()),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.fail());
            }
            let key = self.string()?;
            self.skip_ws();
            self.eat(":")?;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.fail()),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), ParseError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.fail()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.fail());
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail());
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.fail())?;
        let mut value = 0;
        for c in digits.chars() {
            value = value * 16 + c.to_digit(16).ok_or_else(|| self.fail())?;
        }
        self.pos += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.push_str(self.since(run_start));
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or_else(|| self.fail())?;
                    self.pos += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.fail()),
                    }
                }
                _ => return Err(self.fail()),
            }
        }
    }

    /// Reads the rest of a `\u` escape, joining a surrogate pair. A lone surrogate (which
    /// `JSON.stringify` writes as such an escape) is refused, not turned into U+FFFD: text
    /// that is not Unicode is refused wherever it enters (`core::text`), and a stored record
    /// holding one was not written by the tracker.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.rest().starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            self.pos = save;
        }
        char::from_u32(first).ok_or_else(|| self.fail())
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        parse(text)
            .map(|v| v.to_text())
            .unwrap_or_else(|e| format!("error {e}"))
    }

    #[test]
    fn writes_compact_and_reads_back_the_same_value() {
        let value = Json::Object(vec![
            ("name".into(), Json::String("Zoë \"quoted\"\n\u{1}".into())),
            ("price".into(), Json::Number("1350".into())),
            (
                "tags".into(),
                Json::Array(vec![Json::Bool(true), Json::Null]),
            ),
        ]);
        let text = value.to_text();
        assert_eq!(
            text,
            r#"{"name":"Zoë \"quoted\"\n\u0001","price":1350,"tags":[true,null]}"#
        );
        assert_eq!(parse(&text), Ok(value));
    }

    #[test]
    fn keeps_number_text_exactly() {
        assert_eq!(
            round_trip(" [ -0.5e+10 , 0, 12.25 ] "),
            "[-0.5e+10,0,12.25]"
        );
        assert_eq!(parse("123").ok().and_then(|v| v.as_i64()), Some(123));
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":}",
            "01",
            "1.",
            "-",
            "NaN",
            "'x'",
            "{a:1}",
            "\"\u{1}\"",
            "[1] 2",
            "\"\\x\"",
            "\"\\u12\"",
            "tru",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn reads_escapes_and_surrogate_pairs() {
        let parsed = parse(r#""a\u00e9\ud83d\ude00\/x""#);
        assert_eq!(parsed, Ok(Json::String("aé😀/x".into())));
    }

    #[test]
    fn a_lone_surrogate_is_refused_not_replaced() {
        for text in [
            r#""\ud800x""#,
            r#""\udc00""#,
            r#""\ude00\ud83d""#,
            r#""\ud83d\u0041""#,
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn number_grammar() {
        assert!(is_number_text("-12.5E-3"));
        assert!(!is_number_text("1e"));
        assert!(!is_number_text("Infinity"));
    }

    #[test]
    fn finds_members() {
        let v = parse(r#"{"code":3000,"requestId":"r-1"}"#).unwrap_or(Json::Null);
        assert_eq!(v.get("code").and_then(Json::as_i64), Some(3000));
        assert_eq!(v.get("requestId").and_then(Json::as_str), Some("r-1"));
        assert_eq!(v.get("missing"), None);
    }
}
