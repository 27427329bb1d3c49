//! Exchange protocol codecs: zero-copy views over received bytes and builders for
//! the bytes we send, one file per protocol.
//!
//! Every decoder here follows the same contract:
//! - a view borrows the caller's buffer; decoding never allocates and never copies
//!   the payload;
//! - the length is checked once, when the view is made (`new_checked`, `parse`);
//!   after that no accessor panics, whatever the bytes say;
//! - a message type the specification does not define (or that we do not know) is
//!   data, `Unknown { type_byte, .. }`, not an error;
//! - errors are the small `Copy` type [`Error`], cheap enough for the hot path. They
//!   carry offsets relative to the start of the buffer they were given; the layer
//!   that knows where that buffer sits in a file adds its base offset and the file
//!   name (see `decode`).
//!
//! Decoders never import `nic`, `venue` or `lab`: they know bytes, not sockets.
//!
//! For display (`ticklab decode`), each message implements [`Describe`]: it names its
//! kind and hands its fields, one by one, to a [`FieldSink`]. The text and JSON
//! printers are sinks, so no protocol carries formatting code of its own. These
//! shared types live in [`crate::codec`] and are re-exported here.

pub mod fix;
pub mod itch50;
pub mod moldudp64;
pub mod ouch42;
pub mod ouch50;
mod ouch_common;
pub mod soupbintcp;

pub use crate::codec::{pad_alpha, trim_alpha, Describe, Error, FieldSink};

/// Which OUCH an order session speaks: the one version type of the crate (the
/// gateway, refcore, correlation and the dissector all use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OuchVersion {
    #[default]
    V50,
    V42,
}

impl OuchVersion {
    /// `"5.0"` or `"4.2"`.
    pub fn name(self) -> &'static str {
        match self {
            OuchVersion::V50 => "5.0",
            OuchVersion::V42 => "4.2",
        }
    }
}

impl core::fmt::Display for OuchVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for OuchVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "5.0" | "5" | "50" => Ok(OuchVersion::V50),
            "4.2" | "42" => Ok(OuchVersion::V42),
            other => Err(format!(
                "unknown OUCH version {other:?}: expected 5.0 or 4.2"
            )),
        }
    }
}
