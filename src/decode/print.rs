//! Printers for `ticklab decode`: a [`FieldSink`] that writes one human-readable
//! line per message, and one that writes one JSON object per message.
//!
//! They write into a reusable `Vec<u8>` that the caller flushes in large blocks, so
//! printing millions of messages costs no allocation per message and no syscall per
//! line. They never interpret a protocol: every protocol hands its fields over
//! through [`Describe`], and both printers treat all protocols alike.

use crate::codec::{Describe, FieldSink};
use std::io::Write;

/// Writes `name=value` pairs separated by spaces.
pub struct TextSink<'a> {
    pub out: &'a mut Vec<u8>,
}

/// Writes `"name":value` pairs separated by commas (the caller writes the braces).
pub struct JsonSink<'a> {
    pub out: &'a mut Vec<u8>,
}

/// Formats nanoseconds since midnight as `HH:MM:SS.nnnnnnnnn` (ITCH timestamps).
pub fn write_time_of_day(out: &mut Vec<u8>, nanos: u64) {
    let secs = nanos / 1_000_000_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:09}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        nanos % 1_000_000_000
    );
}

/// Formats a fixed-point price with `decimals` implied decimal places.
pub fn write_price(out: &mut Vec<u8>, value: i64, decimals: u8) {
    let scale = 10u64.pow(u32::from(decimals));
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    let _ = write!(
        out,
        "{sign}{}.{:0width$}",
        v / scale,
        v % scale,
        width = usize::from(decimals)
    );
}

fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

/// Text of a field for the human-readable form: printable ASCII as is, anything
/// else escaped, so a hostile capture cannot put control characters on a terminal.
fn write_text_escaped(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        match b {
            b' '..=b'~' => out.push(b),
            0x01 => out.push(b'|'), // FIX SOH, shown the way FIX people read it
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

/// A JSON string literal; bytes that are not valid UTF-8 become U+FFFD.
pub fn write_json_string(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    let text = String::from_utf8_lossy(value);
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

impl TextSink<'_> {
    fn key(&mut self, name: &str) {
        self.out.push(b' ');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'=');
    }
}

impl FieldSink for TextSink<'_> {
    fn uint(&mut self, name: &'static str, value: u64) {
        self.key(name);
        let _ = write!(self.out, "{value}");
    }
    fn int(&mut self, name: &'static str, value: i64) {
        self.key(name);
        let _ = write!(self.out, "{value}");
    }
    fn price(&mut self, name: &'static str, value: i64, decimals: u8) {
        self.key(name);
        write_price(self.out, value, decimals);
    }
    fn code(&mut self, name: &'static str, value: u8) {
        self.key(name);
        write_text_escaped(self.out, &[value]);
    }
    fn text(&mut self, name: &'static str, value: &[u8]) {
        self.key(name);
        write_text_escaped(self.out, value);
    }
    fn tag(&mut self, tag: u32, name: Option<&'static str>, value: &[u8]) {
        self.out.push(b' ');
        match name {
            Some(n) => {
                let _ = write!(self.out, "{n}({tag})=");
            }
            None => {
                let _ = write!(self.out, "{tag}=");
            }
        }
        write_text_escaped(self.out, value);
    }
    fn bytes(&mut self, name: &'static str, value: &[u8]) {
        self.key(name);
        write_hex(self.out, value);
    }
    fn nanos(&mut self, name: &'static str, value: u64) {
        self.key(name);
        write_time_of_day(self.out, value);
    }
}

impl JsonSink<'_> {
    fn key(&mut self, name: &str) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }
}

impl FieldSink for JsonSink<'_> {
    fn uint(&mut self, name: &'static str, value: u64) {
        self.key(name);
        let _ = write!(self.out, "{value}");
    }
    fn int(&mut self, name: &'static str, value: i64) {
        self.key(name);
        let _ = write!(self.out, "{value}");
    }
    fn price(&mut self, name: &'static str, value: i64, decimals: u8) {
        // As a string: a float would lose the exact fixed-point value.
        self.key(name);
        self.out.push(b'"');
        write_price(self.out, value, decimals);
        self.out.push(b'"');
    }
    fn code(&mut self, name: &'static str, value: u8) {
        self.key(name);
        write_json_string(self.out, &[value]);
    }
    fn text(&mut self, name: &'static str, value: &[u8]) {
        self.key(name);
        write_json_string(self.out, value);
    }
    fn tag(&mut self, tag: u32, name: Option<&'static str>, value: &[u8]) {
        match name {
            Some(n) => {
                let _ = write!(self.out, ",\"{n}({tag})\":");
            }
            None => {
                let _ = write!(self.out, ",\"{tag}\":");
            }
        }
        write_json_string(self.out, value);
    }
    fn bytes(&mut self, name: &'static str, value: &[u8]) {
        self.key(name);
        self.out.push(b'"');
        write_hex(self.out, value);
        self.out.push(b'"');
    }
    fn nanos(&mut self, name: &'static str, value: u64) {
        self.key(name);
        let _ = write!(self.out, "{value}");
    }
}

/// Appends ` protocol Kind field=value ...` for one message.
pub fn describe_text(out: &mut Vec<u8>, msg: &dyn Describe) {
    out.push(b' ');
    out.extend_from_slice(msg.protocol().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg.kind().as_bytes());
    msg.describe(&mut TextSink { out });
}

/// Appends `,"protocol":"..","kind":"..",fields...` for one message (no braces).
pub fn describe_json(out: &mut Vec<u8>, msg: &dyn Describe) {
    out.extend_from_slice(b",\"protocol\":");
    write_json_string(out, msg.protocol().as_bytes());
    out.extend_from_slice(b",\"kind\":");
    write_json_string(out, msg.kind().as_bytes());
    msg.describe(&mut JsonSink { out });
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample;
    impl Describe for Sample {
        fn protocol(&self) -> &'static str {
            "test"
        }
        fn kind(&self) -> &'static str {
            "Thing"
        }
        fn describe(&self, s: &mut dyn FieldSink) {
            s.uint("shares", 100);
            s.price("price", 1_502_500, 4);
            s.code("side", b'B');
            s.text("stock", b"AA\"PL\n");
            s.nanos("timestamp", 34_200_000_000_123);
            s.bytes("raw", &[0xde, 0xad]);
            s.tag(11, Some("ClOrdID"), b"X1");
            s.tag(9999, None, b"v");
            s.int("delta", -5);
        }
    }

    #[test]
    fn text_line_is_exact() {
        let mut out = Vec::new();
        describe_text(&mut out, &Sample);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            " test Thing shares=100 price=150.2500 side=B stock=AA\"PL\\x0a \
             timestamp=09:30:00.000000123 raw=dead ClOrdID(11)=X1 9999=v delta=-5"
        );
    }

    #[test]
    fn json_object_parses_back() {
        let mut out = b"{\"record\":1".to_vec();
        describe_json(&mut out, &Sample);
        out.push(b'}');
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "Thing");
        assert_eq!(v["price"], "150.2500");
        assert_eq!(v["stock"], "AA\"PL\n");
        assert_eq!(v["timestamp"], 34_200_000_000_123u64);
        assert_eq!(v["ClOrdID(11)"], "X1");
        assert_eq!(v["9999"], "v");
        assert_eq!(v["delta"], -5);
    }

    #[test]
    fn negative_and_small_prices() {
        let mut out = Vec::new();
        write_price(&mut out, -5, 4);
        out.push(b' ');
        write_price(&mut out, 123_456_789, 8);
        assert_eq!(out, b"-0.0005 1.23456789");
    }
}
