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
        match *self {
            Error::Truncated {
                protocol,
                msg_type,
                field,
                offset,
                needed,
                available,
            } => {
                write!(f, "{protocol}")?;
                fmt_type(f, msg_type)?;
                write!(
                    f,
                    ": field `{field}` at offset {offset} is truncated: needs {needed} bytes, {available} present"
                )
            }
            Error::Invalid {
                protocol,
                msg_type,
                field,
                offset,
                expected,
            } => {
                write!(f, "{protocol}")?;
                fmt_type(f, msg_type)?;
                write!(
                    f,
                    ": field `{field}` at offset {offset} is invalid: expected {expected}"
                )
            }
        }
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
        match *self.0 {
            Error::Truncated {
                protocol,
                msg_type,
                field,
                needed,
                available,
                ..
            } => {
                write!(f, "{protocol}")?;
                fmt_type(f, msg_type)?;
                write!(
                    f,
                    ": field `{field}` is truncated: needs {needed} bytes, {available} present"
                )
            }
            Error::Invalid {
                protocol,
                msg_type,
                field,
                expected,
                ..
            } => {
                write!(f, "{protocol}")?;
                fmt_type(f, msg_type)?;
                write!(f, ": field `{field}` is invalid: expected {expected}")
            }
        }
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
    }
}
