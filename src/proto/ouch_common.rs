//! Machinery shared by the OUCH 4.2 and OUCH 5.0 codecs: the macro that declares a
//! fixed-layout message (zerocopy struct, typed accessors, semantic constructor and
//! field-by-field `Describe`), the macro that declares one direction's message set
//! (the `Inbound`/`Outbound` enum, its parser and its length table), and the small
//! length-checked helpers both rely on.
//!
//! Nothing here allocates or panics on untrusted bytes; every slice is taken after a
//! length check or through `get`. This module is private: each codec re-exports what
//! its public API needs.
//!
//! ```text
//! ouch_message! {
//!     /// Cancel Order (OUCH 4.2 section 2.2.3).
//!     pub struct CancelOrder: b'X', "CancelOrder" {
//!         order_token: token,
//!         shares: u32,
//!     }
//! }
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::codec::Error;

/// What every OUCH message layout knows about itself. Implemented by the
/// `ouch_message!` macro for each fixed layout of both versions.
pub trait OuchMessage: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned {
    /// The message type byte (field 0 on the wire).
    const TYPE: u8;
    /// Length of the fixed layout in bytes (for OUCH 5.0, everything before the
    /// optional appendage).
    const LEN: usize;
    /// The specification's name for the message, without spaces.
    const KIND: &'static str;
    /// True when the fixed layout ends with an OUCH 5.0 Appendage Length (u16) that
    /// is followed by that many bytes of optional TagValue elements.
    const HAS_APPENDAGE: bool;
}

/// The error for an empty message: not even a type byte.
pub(crate) fn empty(protocol: &'static str) -> Error {
    Error::Truncated {
        protocol,
        msg_type: None,
        field: "message",
        offset: 0,
        needed: 1,
        available: 0,
    }
}

/// A borrowed view of the fixed layout `T` at the start of `msg`, or `Truncated`
/// naming the whole message when `msg` is shorter than the layout.
pub(crate) fn view<'a, T: OuchMessage>(
    protocol: &'static str,
    msg: &'a [u8],
) -> Result<&'a T, Error> {
    T::ref_from_prefix(msg)
        .map(|(fixed, _rest)| fixed)
        .map_err(|_| Error::Truncated {
            protocol,
            msg_type: msg.first().copied(),
            field: "message",
            offset: 0,
            needed: T::LEN,
            available: msg.len(),
        })
}

/// Copies a fixed layout into `buf`, returning its length, or `Truncated` (field
/// `"buffer"`) when `buf` cannot hold it.
pub(crate) fn write_fixed<T: OuchMessage>(
    protocol: &'static str,
    msg: &T,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let bytes = msg.as_bytes();
    match buf.get_mut(..bytes.len()) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            Ok(bytes.len())
        }
        None => Err(Error::Truncated {
            protocol,
            msg_type: Some(T::TYPE),
            field: "buffer",
            offset: 0,
            needed: bytes.len(),
            available: buf.len(),
        }),
    }
}

/// Reads a big-endian unsigned integer of 1 to 8 bytes (appendage values come in
/// several widths); `None` for an empty or wider slice.
pub(crate) fn be_uint(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Reads a big-endian two's-complement integer of 1 to 8 bytes.
pub(crate) fn be_int(bytes: &[u8]) -> Option<i64> {
    let raw = be_uint(bytes)?;
    let unused = 64 - 8 * bytes.len() as u32;
    // Shift the sign bit to the top, then arithmetic-shift back to sign-extend.
    Some(((raw << unused) as i64) >> unused)
}

/// Field type on the wire for one field kind.
macro_rules! ouch_field_ty {
    (code) => {
        u8
    };
    (alpha [$n:literal]) => {
        [u8; $n]
    };
    (token) => {
        [u8; 14]
    };
    (u16) => {
        zerocopy::byteorder::big_endian::U16
    };
    (u32) => {
        zerocopy::byteorder::big_endian::U32
    };
    (u64) => {
        zerocopy::byteorder::big_endian::U64
    };
    (price4) => {
        zerocopy::byteorder::big_endian::U32
    };
    (price8) => {
        zerocopy::byteorder::big_endian::U64
    };
    (nanos) => {
        zerocopy::byteorder::big_endian::U64
    };
}

/// Constructor parameter type for one field kind (semantic values, not wire types).
macro_rules! ouch_param_ty {
    (code) => {
        u8
    };
    (alpha [$n:literal]) => {
        &[u8]
    };
    (token) => {
        &[u8]
    };
    (u16) => {
        u16
    };
    (u32) => {
        u32
    };
    (u64) => {
        u64
    };
    (price4) => {
        u32
    };
    (price8) => {
        u64
    };
    (nanos) => {
        u64
    };
}

/// Converts a constructor parameter into the wire field.
macro_rules! ouch_into {
    (code, $v:expr) => {
        $v
    };
    (alpha [$n:literal], $v:expr) => {
        $crate::codec::pad_alpha::<$n>($v)
    };
    (token, $v:expr) => {
        $crate::codec::pad_alpha::<14>($v)
    };
    (u16, $v:expr) => {
        zerocopy::byteorder::big_endian::U16::new($v)
    };
    (u32, $v:expr) => {
        zerocopy::byteorder::big_endian::U32::new($v)
    };
    (u64, $v:expr) => {
        zerocopy::byteorder::big_endian::U64::new($v)
    };
    (price4, $v:expr) => {
        zerocopy::byteorder::big_endian::U32::new($v)
    };
    (price8, $v:expr) => {
        zerocopy::byteorder::big_endian::U64::new($v)
    };
    (nanos, $v:expr) => {
        zerocopy::byteorder::big_endian::U64::new($v)
    };
}

/// Accessor return type for one field kind.
macro_rules! ouch_get_ty {
    (code) => {
        u8
    };
    (alpha [$n:literal]) => {
        &[u8]
    };
    (token) => {
        [u8; 14]
    };
    (u16) => {
        u16
    };
    (u32) => {
        u32
    };
    (u64) => {
        u64
    };
    (price4) => {
        u32
    };
    (price8) => {
        u64
    };
    (nanos) => {
        u64
    };
}

/// Accessor body for one field kind: alpha fields lose their space padding, tokens
/// stay whole (they are identifiers compared byte for byte), integers are native.
macro_rules! ouch_get {
    (code, $f:expr) => {
        $f
    };
    (alpha [$n:literal], $f:expr) => {
        $crate::codec::trim_alpha(&$f)
    };
    (token, $f:expr) => {
        $f
    };
    (u16, $f:expr) => {
        $f.get()
    };
    (u32, $f:expr) => {
        $f.get()
    };
    (u64, $f:expr) => {
        $f.get()
    };
    (price4, $f:expr) => {
        $f.get()
    };
    (price8, $f:expr) => {
        $f.get()
    };
    (nanos, $f:expr) => {
        $f.get()
    };
}

/// Hands one field to a `FieldSink`.
macro_rules! ouch_describe {
    ($sink:ident, $name:expr, code, $f:expr) => {
        $sink.code($name, $f)
    };
    ($sink:ident, $name:expr, alpha [$n:literal], $f:expr) => {
        $sink.text($name, $crate::codec::trim_alpha(&$f))
    };
    ($sink:ident, $name:expr, token, $f:expr) => {
        $sink.text($name, $crate::codec::trim_alpha(&$f))
    };
    ($sink:ident, $name:expr, u16, $f:expr) => {
        $sink.uint($name, u64::from($f.get()))
    };
    ($sink:ident, $name:expr, u32, $f:expr) => {
        $sink.uint($name, u64::from($f.get()))
    };
    ($sink:ident, $name:expr, u64, $f:expr) => {
        $sink.uint($name, $f.get())
    };
    ($sink:ident, $name:expr, price4, $f:expr) => {
        $sink.price($name, i64::from($f.get()), 4)
    };
    // OUCH 5.0 prices are 8-byte fields; values beyond i64 are not prices the
    // exchange sends, so reinterpreting the bits for display loses nothing real.
    ($sink:ident, $name:expr, price8, $f:expr) => {
        $sink.price($name, $f.get() as i64, 4)
    };
    ($sink:ident, $name:expr, nanos, $f:expr) => {
        $sink.nanos($name, $f.get())
    };
}

/// Declares one fixed-layout OUCH message. Field kinds: `code` (one byte shown as a
/// character), `alpha [N]` (space-padded text), `token` (14-byte identifier),
/// `u16`/`u32`/`u64` (big-endian), `price4`/`price8` (4 implied decimals) and
/// `nanos` (nanoseconds since midnight). The `appendage` marker appends the OUCH 5.0
/// Appendage Length field, which the 5.0 writer fills in.
macro_rules! ouch_message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident : $type_byte:literal, $kind:literal $(, $app:ident)? {
            $( $(#[$fmeta:meta])* $field:ident : $fk:ident $([$n:literal])? ),* $(,)?
        }
    ) => {
        ouch_message!(@struct [$(#[$meta])*] $name $type_byte $kind [$($app)?]
            { $( [$(#[$fmeta])*] $field $fk [$([$n])?] )* });
    };

    (@struct [$($meta:tt)*] $name:ident $type_byte:literal $kind:literal []
        { $( [$($fmeta:tt)*] $field:ident $fk:ident [$($n:tt)*] )* }) => {
        $($meta)*
        #[repr(C)]
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq,
            zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout,
            zerocopy::Immutable, zerocopy::Unaligned,
        )]
        pub struct $name {
            /// Message type byte.
            pub msg_type: u8,
            $( $($fmeta)* pub $field: ouch_field_ty!($fk $($n)*), )*
        }

        impl $crate::proto::ouch_common::OuchMessage for $name {
            const TYPE: u8 = $type_byte;
            const LEN: usize = core::mem::size_of::<$name>();
            const KIND: &'static str = $kind;
            const HAS_APPENDAGE: bool = false;
        }

        impl $name {
            /// Builds the message from semantic values; alpha fields are space-padded
            /// (and cut to the field width).
            #[allow(clippy::too_many_arguments)]
            pub fn new($($field: ouch_param_ty!($fk $($n)*)),*) -> Self {
                Self { msg_type: $type_byte, $($field: ouch_into!($fk $($n)*, $field)),* }
            }

            $(
                #[allow(missing_docs)]
                pub fn $field(&self) -> ouch_get_ty!($fk $($n)*) {
                    ouch_get!($fk $($n)*, self.$field)
                }
            )*

            /// Hands every field after the type byte to `sink`, in wire order.
            pub fn describe_fields(&self, sink: &mut dyn $crate::codec::FieldSink) {
                let _ = &sink;
                $( ouch_describe!(sink, stringify!($field), $fk $($n)*, self.$field); )*
            }
        }
    };

    (@struct [$($meta:tt)*] $name:ident $type_byte:literal $kind:literal [appendage]
        { $( [$($fmeta:tt)*] $field:ident $fk:ident [$($n:tt)*] )* }) => {
        $($meta)*
        #[repr(C)]
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq,
            zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout,
            zerocopy::Immutable, zerocopy::Unaligned,
        )]
        pub struct $name {
            /// Message type byte.
            pub msg_type: u8,
            $( $($fmeta)* pub $field: ouch_field_ty!($fk $($n)*), )*
            /// Length of the optional appendage that follows the fixed part.
            pub appendage_length: zerocopy::byteorder::big_endian::U16,
        }

        impl $crate::proto::ouch_common::OuchMessage for $name {
            const TYPE: u8 = $type_byte;
            const LEN: usize = core::mem::size_of::<$name>();
            const KIND: &'static str = $kind;
            const HAS_APPENDAGE: bool = true;
        }

        impl $name {
            /// Builds the fixed part from semantic values with an Appendage Length of
            /// zero; the appendage writer sets the real length.
            #[allow(clippy::too_many_arguments, clippy::new_without_default)]
            pub fn new($($field: ouch_param_ty!($fk $($n)*)),*) -> Self {
                Self {
                    msg_type: $type_byte,
                    $($field: ouch_into!($fk $($n)*, $field),)*
                    appendage_length: zerocopy::byteorder::big_endian::U16::new(0),
                }
            }

            $(
                #[allow(missing_docs)]
                pub fn $field(&self) -> ouch_get_ty!($fk $($n)*) {
                    ouch_get!($fk $($n)*, self.$field)
                }
            )*

            /// The declared length of the optional appendage.
            pub fn appendage_length(&self) -> u16 {
                self.appendage_length.get()
            }

            /// Hands every fixed field after the type byte to `sink`, in wire order.
            pub fn describe_fields(&self, sink: &mut dyn $crate::codec::FieldSink) {
                $( ouch_describe!(sink, stringify!($field), $fk $($n)*, self.$field); )*
                sink.uint("appendage_length", u64::from(self.appendage_length.get()));
            }
        }
    };
}

/// Declares one direction's message set: the enum (one variant per message, plus
/// `Unknown`), its parser, and the `const fn` length table. `fixed` variants borrow
/// the layout; `appendage` variants (OUCH 5.0) carry the validated appendage too.
macro_rules! ouch_direction {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident;
        protocol = $proto:expr;
        $(#[$pmeta:meta])*
        parse = $parse:ident;
        $(#[$lmeta:meta])*
        len = $len:ident;
        fixed { $( $fv:ident($ft:ident) ),* $(,)? }
        appendage { $( $av:ident($at:ident) ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $enum<'a> {
            $( #[allow(missing_docs)] $fv(&'a $ft), )*
            $( #[allow(missing_docs)] $av(WithAppendage<'a, $at>), )*
            /// A type byte this codec does not know, with the whole message.
            Unknown {
                /// The message type byte.
                type_byte: u8,
                /// The whole message, type byte included.
                bytes: &'a [u8],
            },
        }

        $(#[$pmeta])*
        pub fn $parse(msg: &[u8]) -> Result<$enum<'_>, Error> {
            let Some(&type_byte) = msg.first() else {
                return Err($crate::proto::ouch_common::empty($proto));
            };
            $(
                if type_byte == <$ft as OuchMessage>::TYPE {
                    return $crate::proto::ouch_common::view::<$ft>($proto, msg).map($enum::$fv);
                }
            )*
            $(
                if type_byte == <$at as OuchMessage>::TYPE {
                    return WithAppendage::<$at>::parse(msg).map($enum::$av);
                }
            )*
            Ok($enum::Unknown { type_byte, bytes: msg })
        }

        $(#[$lmeta])*
        pub const fn $len(type_byte: u8) -> Option<usize> {
            $( if type_byte == <$ft as OuchMessage>::TYPE { return Some(<$ft as OuchMessage>::LEN); } )*
            $( if type_byte == <$at as OuchMessage>::TYPE { return Some(<$at as OuchMessage>::LEN); } )*
            None
        }

        impl Describe for $enum<'_> {
            fn protocol(&self) -> &'static str {
                $proto
            }

            fn kind(&self) -> &'static str {
                match self {
                    $( $enum::$fv(_) => <$ft as OuchMessage>::KIND, )*
                    $( $enum::$av(_) => <$at as OuchMessage>::KIND, )*
                    $enum::Unknown { .. } => "Unknown",
                }
            }

            fn describe(&self, sink: &mut dyn FieldSink) {
                match self {
                    $( $enum::$fv(m) => m.describe_fields(sink), )*
                    $( $enum::$av(m) => {
                        m.fixed.describe_fields(sink);
                        m.appendage.describe(sink);
                    } )*
                    $enum::Unknown { type_byte, bytes } => {
                        sink.code("type", *type_byte);
                        sink.bytes("bytes", bytes);
                    }
                }
            }
        }
    };
}

pub(crate) use {
    ouch_describe, ouch_direction, ouch_field_ty, ouch_get, ouch_get_ty, ouch_into, ouch_message,
    ouch_param_ty,
};

/// Test support for the OUCH versions' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Error;

    /// A message type's fixed length (`inbound_len`/`outbound_len`) and the parse
    /// error for a buffer (`parse_inbound`/`parse_outbound` of one direction).
    pub(crate) type Direction = (fn(u8) -> Option<usize>, fn(&[u8]) -> Option<Error>);

    /// For every type byte with a fixed length in either direction, a message one
    /// byte short of that length is `Truncated`, naming the whole message.
    pub(crate) fn assert_one_byte_short_is_truncated(
        protocol: &'static str,
        directions: [Direction; 2],
    ) {
        for t in 0..=255u8 {
            for (len_of, parse_err) in directions {
                let Some(len) = len_of(t) else { continue };
                let mut msg = vec![0u8; len - 1];
                msg[0] = t;
                assert_eq!(
                    parse_err(&msg),
                    Some(Error::Truncated {
                        protocol,
                        msg_type: Some(t),
                        field: "message",
                        offset: 0,
                        needed: len,
                        available: len - 1,
                    })
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_helpers_read_every_width() {
        assert_eq!(be_uint(&[]), None);
        assert_eq!(be_uint(&[0; 9]), None);
        assert_eq!(be_uint(&[0x12]), Some(0x12));
        assert_eq!(be_uint(&[0x01, 0x02, 0x03]), Some(0x010203));
        assert_eq!(be_int(&[0xff, 0xfe]), Some(-2));
        assert_eq!(be_int(&[0x7f]), Some(127));
        assert_eq!(be_int(&[0xff; 8]), Some(-1));
        assert_eq!(be_int(&[0x80, 0, 0, 0]), Some(i64::from(i32::MIN)));
    }
}
