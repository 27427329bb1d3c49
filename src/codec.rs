//! The shared vocabulary of every decoder in ticklab (frames in `wire`, exchange
//! messages in `proto`): one small `Copy` error type cheap enough for the hot path,
//! and the [`Describe`]/[`FieldSink`] pair through which a decoded message shows its
//! fields to a printer without any decoder carrying formatting code of its own.
//!
//! Nothing here allocates, and nothing here knows about files, sockets or threads.
//! Offsets in an [`Error`] are relative to the buffer the decoder was given; the
//! layer that knows where that buffer sits adds its base with [`Error::shifted`].

use core::fmt;

/// A decode failure, relative to the buffer handed to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer ends before the message (or the field) does.
    Truncated {
        /// Protocol or layer name, e.g. `"itch50"`, `"ipv4"`.
        protocol: &'static str,
        /// The message type byte, when it was read before the buffer ran out.
        msg_type: Option<u8>,
        /// The field that did not fit (or `"header"` / `"message"`).
        field: &'static str,
        /// Offset of that field from the start of the buffer.
        offset: usize,
        /// Bytes the field or message needs.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// A field holds a value the specification does not allow.
    Invalid {
        protocol: &'static str,
        msg_type: Option<u8>,
        field: &'static str,
        offset: usize,
        /// What would have been valid, for the person reading the error.
        expected: &'static str,
    },
}

impl Error {
    /// The same error with its offset moved by `base` bytes: a decoder of an inner
    /// layer reports offsets from its own buffer; the outer layer adds where that
    /// buffer began.
    #[must_use]
    pub fn shifted(self, base: usize) -> Self {
        match self {
            Error::Truncated {
                protocol,
                msg_type,
                field,
                offset,
                needed,
                available,
            } => Error::Truncated {
                protocol,
                msg_type,
                field,
                offset: offset + base,
                needed,
                available,
            },
            Error::Invalid {
                protocol,
                msg_type,
                field,
                offset,
                expected,
            } => Error::Invalid {
                protocol,
                msg_type,
                field,
                offset: offset + base,
                expected,
            },
        }
    }

    /// Offset of the failing field from the start of the decoder's buffer.
    pub fn offset(&self) -> usize {
        match *self {
            Error::Truncated { offset, .. } | Error::Invalid { offset, .. } => offset,
        }
    }

    /// The field named by the error.
    pub fn field(&self) -> &'static str {
        match *self {
            Error::Truncated { field, .. } | Error::Invalid { field, .. } => field,
        }
    }
}

fn fmt_type(f: &mut fmt::Formatter<'_>, msg_type: Option<u8>) -> fmt::Result {
    match msg_type {
        Some(t) if t.is_ascii_graphic() => write!(f, " message type '{}'", t as char),
        Some(t) => write!(f, " message type 0x{t:02x}"),
        None => Ok(()),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_error(f, self, true)
    }
}

/// The words of `error`, with or without its offset ([`Error::detail`] leaves it
/// out): one text for both, so the two never drift apart.
fn write_error(f: &mut fmt::Formatter<'_>, error: &Error, with_offset: bool) -> fmt::Result {
    let (Error::Truncated {
        protocol,
        msg_type,
        field,
        offset,
        ..
    }
    | Error::Invalid {
        protocol,
        msg_type,
        field,
        offset,
        ..
    }) = *error;
    write!(f, "{protocol}")?;
    fmt_type(f, msg_type)?;
    write!(f, ": field `{field}`")?;
    if with_offset {
        write!(f, " at offset {offset}")?;
    }
    match *error {
        Error::Truncated {
            needed, available, ..
        } => write!(
            f,
            " is truncated: needs {needed} bytes, {available} present"
        ),
        Error::Invalid { expected, .. } => write!(f, " is invalid: expected {expected}"),
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error's words without its buffer-relative offset, for a caller that
    /// states the position itself (as a file offset, say).
    pub fn detail(&self) -> Detail<'_> {
        Detail(self)
    }
}

/// Display of an [`Error`] without its offset; see [`Error::detail`].
pub struct Detail<'a>(&'a Error);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_error(f, self.0, false)
    }
}

/// Receives the fields of a message, in wire order, for display.
///
/// Names are the specification's field names in `snake_case`.
pub trait FieldSink {
    /// An unsigned integer field (sequence numbers, shares, locate codes...).
    fn uint(&mut self, name: &'static str, value: u64);
    /// A signed integer field.
    fn int(&mut self, name: &'static str, value: i64);
    /// A fixed-point price: `value / 10^decimals` (ITCH Price(4) has 4, Price(8) 8).
    fn price(&mut self, name: &'static str, value: i64, decimals: u8);
    /// A one-byte code (side, event code, flags), shown as its ASCII character.
    fn code(&mut self, name: &'static str, value: u8);
    /// A text field; right-padded alpha fields are given without their padding.
    fn text(&mut self, name: &'static str, value: &[u8]);
    /// A FIX field: its tag number, the tag's name where known, and its value.
    fn tag(&mut self, tag: u32, name: Option<&'static str>, value: &[u8]);
    /// Opaque bytes, shown as hex.
    fn bytes(&mut self, name: &'static str, value: &[u8]);
    /// Nanoseconds since midnight (ITCH timestamps) or another clock, as given.
    fn nanos(&mut self, name: &'static str, value: u64);
}

/// A decoded message that can describe itself to a [`FieldSink`].
pub trait Describe {
    /// Protocol name, e.g. `"itch50"`, `"ouch50"`, `"soupbintcp"`, `"fix"`.
    fn protocol(&self) -> &'static str;
    /// The message kind, e.g. `"AddOrder"`; `"Unknown"` for unknown types.
    fn kind(&self) -> &'static str;
    /// Hands every field to `sink`, in wire order.
    fn describe(&self, sink: &mut dyn FieldSink);
}

/// Strips the space (or NUL) padding that fixed-width alpha fields carry on the right.
pub fn trim_alpha(field: &[u8]) -> &[u8] {
    let end = field
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |i| i + 1);
    &field[..end]
}

/// Right-pads `text` with spaces into a fixed-width alpha field, as the NASDAQ
/// specifications require. Text longer than the field is cut.
pub fn pad_alpha<const N: usize>(text: &[u8]) -> [u8; N] {
    let mut out = [b' '; N];
    let n = text.len().min(N);
    out[..n].copy_from_slice(&text[..n]);
    out
}

/// Test support shared by every decoder's tests: one [`FieldSink`] that writes each
/// field down as a string, so a test can assert a message's fields, names, order and
/// exact values with one `assert_eq!`.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Describe, FieldSink};

    /// Records every field as one string, in the order given. The format shows the
    /// kind of field as well as its value, so a test also catches a field handed over
    /// through the wrong method:
    ///
    /// | method  | recorded as            | example                     |
    /// | ------- | ---------------------- | --------------------------- |
    /// | `uint`  | `name=value`           | `shares=300`                |
    /// | `int`   | `name=value`           | `offset=-2`                 |
    /// | `price` | `name=valuee-decimals` | `price=1500000e-4`          |
    /// | `code`  | `name='c'`             | `side='B'`                  |
    /// | `text`  | `name="text"`          | `symbol="AAPL"`             |
    /// | `tag`   | `tag(name)=value`      | `35(MsgType)=A`, `9999(?)=x` |
    /// | `bytes` | `name=[hex, ...]`      | `payload=[31, 32]`          |
    /// | `nanos` | `name=valuens`         | `timestamp=1000ns`          |
    ///
    /// Text, tag values and codes are shown with [`<[u8]>::escape_ascii`] (printable
    /// ASCII as is, anything else as `\xNN`), so nothing is lost; bytes as lower-case hex.
    #[derive(Debug, Default)]
    pub(crate) struct FieldLog(pub(crate) Vec<String>);

    impl FieldSink for FieldLog {
        fn uint(&mut self, name: &'static str, value: u64) {
            self.0.push(format!("{name}={value}"));
        }
        fn int(&mut self, name: &'static str, value: i64) {
            self.0.push(format!("{name}={value}"));
        }
        fn price(&mut self, name: &'static str, value: i64, decimals: u8) {
            self.0.push(format!("{name}={value}e-{decimals}"));
        }
        fn code(&mut self, name: &'static str, value: u8) {
            self.0.push(format!("{name}='{}'", value.escape_ascii()));
        }
        fn text(&mut self, name: &'static str, value: &[u8]) {
            self.0.push(format!("{name}=\"{}\"", value.escape_ascii()));
        }
        fn tag(&mut self, tag: u32, name: Option<&'static str>, value: &[u8]) {
            let name = name.unwrap_or("?");
            self.0
                .push(format!("{tag}({name})={}", value.escape_ascii()));
        }
        fn bytes(&mut self, name: &'static str, value: &[u8]) {
            self.0.push(format!("{name}={value:02x?}"));
        }
        fn nanos(&mut self, name: &'static str, value: u64) {
            self.0.push(format!("{name}={value}ns"));
        }
    }

    /// Every field `message` describes, in [`FieldLog`]'s format.
    pub(crate) fn fields_of(message: &dyn Describe) -> Vec<String> {
        let mut log = FieldLog::default();
        message.describe(&mut log);
        log.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_padding_round_trips() {
        let f: [u8; 8] = pad_alpha(b"AAPL");
        assert_eq!(&f, b"AAPL    ");
        assert_eq!(trim_alpha(&f), b"AAPL");
        assert_eq!(trim_alpha(b"        "), b"");
        let cut: [u8; 2] = pad_alpha(b"ABC");
        assert_eq!(&cut, b"AB");
    }

    /// Pins the documented [`testing::FieldLog`] format every decoder's tests rely on.
    #[test]
    fn field_log_records_each_kind_of_field() {
        struct Every;
        impl Describe for Every {
            fn protocol(&self) -> &'static str {
                "test"
            }
            fn kind(&self) -> &'static str {
                "Every"
            }
            fn describe(&self, sink: &mut dyn FieldSink) {
                sink.uint("shares", 300);
                sink.int("offset", -2);
                sink.price("price", 1_500_000, 4);
                sink.code("side", b'B');
                sink.text("symbol", b"AAPL\x01");
                sink.tag(35, Some("MsgType"), b"A");
                sink.tag(9999, None, b"x");
                sink.bytes("payload", &[0x31, 0xff]);
                sink.nanos("timestamp", 1000);
            }
        }
        assert_eq!(
            testing::fields_of(&Every),
            [
                "shares=300",
                "offset=-2",
                "price=1500000e-4",
                "side='B'",
                r#"symbol="AAPL\x01""#,
                "35(MsgType)=A",
                "9999(?)=x",
                "payload=[31, ff]",
                "timestamp=1000ns",
            ]
        );
    }

    #[test]
    fn error_display_names_field_and_offset() {
        let e = Error::Truncated {
            protocol: "itch50",
            msg_type: Some(b'A'),
            field: "message",
            offset: 3,
            needed: 36,
            available: 20,
        }
        .shifted(100);
        assert_eq!(e.offset(), 103);
        assert_eq!(
            e.to_string(),
            "itch50 message type 'A': field `message` at offset 103 is truncated: needs 36 bytes, 20 present"
        );
        assert_eq!(
            e.detail().to_string(),
            "itch50 message type 'A': field `message` is truncated: needs 36 bytes, 20 present"
        );
        let e = Error::Invalid {
            protocol: "udp",
            msg_type: None,
            field: "length",
            offset: 4,
            expected: "a length of at least 8 (the header)",
        };
        assert_eq!(
            e.to_string(),
            "udp: field `length` at offset 4 is invalid: expected a length of at least 8 (the header)"
        );
        assert_eq!(
            e.detail().to_string(),
            "udp: field `length` is invalid: expected a length of at least 8 (the header)"
        );
        let e = Error::Invalid {
            protocol: "ouch50",
            msg_type: Some(0x01),
            field: "tag",
            offset: 7,
            expected: "a known tag",
        };
        assert_eq!(
            e.detail().to_string(),
            "ouch50 message type 0x01: field `tag` is invalid: expected a known tag"
        );
    }
}
