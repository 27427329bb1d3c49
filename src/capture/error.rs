//! The one error type of the capture room: every failure names the file, and every
//! failure about the file's content names where (record or block index, byte offset),
//! which field, the value found and what would have been valid, so that a person can
//! open the file in a hex editor and see the problem.
//!
//! It must never lose the path or the position, and it must never report a file that
//! ends inside a record as a clean end of file.
//!
//! ```
//! use std::io::Cursor;
//! use ticklab::capture::{CaptureError, CaptureReader};
//!
//! let err = CaptureReader::new(Cursor::new(b"nope".to_vec()), "x.pcap", None).unwrap_err();
//! assert!(err.is_data_error());
//! assert!(matches!(err, CaptureError::BadMagic { found: [b'n', b'o', b'p', b'e'], .. }));
//! assert!(err.to_string().starts_with("x.pcap: offset 0: bad magic 6e 6f 70 65"));
//! ```

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What a position in a capture counts: classic pcap has records, pcapng has blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// The classic pcap global header (pcapng has none: its first block is a Section
    /// Header Block).
    FileHeader,
    /// A classic pcap record (16-byte header plus captured bytes).
    Record,
    /// A pcapng block; `block_type` is as read from the file.
    Block { block_type: u32 },
}

/// Where in the file a problem sits: the record or block, counted from 0, and the byte
/// offset of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub unit: Unit,
    pub index: u64,
    pub offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Unit::FileHeader => write!(f, "file header at offset {}", self.offset),
            Unit::Record => write!(f, "record {} at offset {}", self.index, self.offset),
            Unit::Block { block_type } => write!(
                f,
                "block {} ({}) at offset {}",
                self.index,
                block_type_name(block_type),
                self.offset
            ),
        }
    }
}

/// A human name for a pcapng block type, for messages.
pub fn block_type_name(block_type: u32) -> &'static str {
    match block_type {
        0x0A0D_0D0A => "Section Header Block",
        1 => "Interface Description Block",
        2 => "Packet Block",
        3 => "Simple Packet Block",
        4 => "Name Resolution Block",
        5 => "Interface Statistics Block",
        6 => "Enhanced Packet Block",
        9 => "systemd Journal Export Block",
        0x0A => "Decryption Secrets Block",
        0x0BAD | 0x4000_0BAD => "Custom Block",
        _ => "unknown block type",
    }
}

/// Which part of a record or block the file ended inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The 16-byte pcap record header.
    RecordHeader,
    /// The captured bytes of a pcap record.
    RecordData,
    /// The 8-byte pcapng block header (type and total length), or the 12 bytes a
    /// Section Header Block needs before its byte order is known.
    BlockHeader,
    /// The rest of a pcapng block, as its total length declares it.
    BlockBody,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::RecordHeader => "truncated record header",
            Part::RecordData => "truncated record data",
            Part::BlockHeader => "truncated block header",
            Part::BlockBody => "truncated block",
        })
    }
}

/// Why a field's value is not acceptable; the `Display` form completes the sentence
/// "field X = V ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The captured length is larger than the snap length of the file or interface.
    ExceedsSnapLen(u32),
    /// The captured length is larger than the original (wire) length.
    ExceedsOriginalLen(u32),
    /// The declared length runs past the bytes left in the block.
    ExceedsBlockSpace(u64),
    /// A single record larger than [`super::MAX_RECORD_LEN`] is refused outright.
    ExceedsRecordLimit(u64),
    /// The value must not be zero.
    Zero,
    /// The value is below the minimum for this block type.
    BelowMinimum(u32),
    /// The value must be a multiple of 4.
    NotMultipleOf4,
    /// The trailing copy of the block total length differs from the leading one.
    DiffersFromLeading(u32),
    /// The packet names an interface no Interface Description Block has defined in
    /// this section; the number is how many are defined.
    UndefinedInterface(u32),
    /// An option's length runs past the end of the options area; `left` is how many
    /// bytes were left for its value.
    OptionPastEnd { code: u16, left: u64 },
    /// A fixed-size option has the wrong length; `size` is the length it must have.
    OptionSize { code: u16, size: u16 },
    /// The value is not one the format defines; the text says what is valid.
    Expected(&'static str),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rule::ExceedsSnapLen(s) => write!(f, "exceeds the snap length {s}"),
            Rule::ExceedsOriginalLen(o) => write!(f, "exceeds the original length {o}"),
            Rule::ExceedsBlockSpace(n) => write!(f, "exceeds the {n} bytes left in the block"),
            Rule::ExceedsRecordLimit(n) => {
                write!(f, "exceeds the limit of {n} bytes for one record")
            }
            Rule::Zero => f.write_str("is zero; it must be at least 12"),
            Rule::BelowMinimum(m) => write!(f, "is below the minimum {m} for this block type"),
            Rule::NotMultipleOf4 => f.write_str("is not a multiple of 4"),
            Rule::DiffersFromLeading(l) => {
                write!(f, "differs from the leading block total length {l}")
            }
            Rule::UndefinedInterface(n) => write!(
                f,
                "names an undefined interface; this section defines {n} interface(s), ids 0..{n}"
            ),
            Rule::OptionPastEnd { code, left } => write!(
                f,
                "(option code {code}) runs past the end of the options: {left} bytes were left for the value"
            ),
            Rule::OptionSize { code, size } => {
                write!(f, "is wrong: option code {code} is exactly {size} bytes")
            }
            Rule::Expected(what) => write!(f, "is invalid; expected {what}"),
        }
    }
}

/// Hex bytes separated by spaces, for the bad-magic message.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong reading or writing a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The operating system refused a read, write, open or create.
    #[error("{}: I/O error", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The first four bytes are neither a pcap nor a pcapng magic.
    #[error(
        "{}: offset 0: bad magic {}; valid magics are a1 b2 c3 d4 / d4 c3 b2 a1 (pcap, microseconds), \
         a1 b2 3c 4d / 4d 3c b2 a1 (pcap, nanoseconds) and 0a 0d 0d 0a (pcapng)",
        path.display(), Hex(found)
    )]
    BadMagic { path: PathBuf, found: [u8; 4] },
    /// The file ends inside its file header (pcap global header, or the first 12
    /// bytes of the pcapng Section Header Block).
    #[error(
        "{}: truncated file header: the {format} file header needs {needed} bytes, the file has {available}",
        path.display()
    )]
    TruncatedFileHeader {
        path: PathBuf,
        format: &'static str,
        needed: u64,
        available: u64,
    },
    /// The file ends inside a record or block. `field` is the length field that
    /// declared the missing bytes, `declared` its value and `available` the bytes
    /// that were actually left in the file from where that field's bytes start.
    #[error(
        "{}: {at}: {part}: field {field} = {declared} exceeds the {available} bytes left in the file",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        at: Location,
        part: Part,
        field: &'static str,
        declared: u64,
        available: u64,
    },
    /// A field holds a value the format does not allow.
    #[error("{}: {at}: field {field} = {value} {rule}", path.display())]
    Invalid {
        path: PathBuf,
        at: Location,
        field: &'static str,
        value: u64,
        rule: Rule,
    },
    /// [`super::CaptureWriter::create`] was given a file name whose extension does not
    /// say which format to write.
    #[error(
        "{}: cannot tell the capture format from the extension {extension:?}; valid extensions are .pcapng, .ntar (pcapng) and .pcap, .cap (pcap)",
        path.display()
    )]
    UnknownExtension { path: PathBuf, extension: String },
}

impl CaptureError {
    /// True when the error is about the file's content (exit code 65, `EX_DATAERR`),
    /// false when the system failed us (not found, permission, disk full) or the
    /// caller asked for something impossible.
    pub fn is_data_error(&self) -> bool {
        match self {
            CaptureError::Io { .. } | CaptureError::UnknownExtension { .. } => false,
            CaptureError::BadMagic { .. }
            | CaptureError::TruncatedFileHeader { .. }
            | CaptureError::Truncated { .. }
            | CaptureError::Invalid { .. } => true,
        }
    }

    /// The record or block the error is about, when there is one.
    pub fn location(&self) -> Option<Location> {
        match self {
            CaptureError::Truncated { at, .. } | CaptureError::Invalid { at, .. } => Some(*at),
            _ => None,
        }
    }

    /// The name of the offending field, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            CaptureError::Truncated { field, .. } | CaptureError::Invalid { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            CaptureError::Io { path, .. }
            | CaptureError::BadMagic { path, .. }
            | CaptureError::TruncatedFileHeader { path, .. }
            | CaptureError::Truncated { path, .. }
            | CaptureError::Invalid { path, .. }
            | CaptureError::UnknownExtension { path, .. } => path,
        }
    }
}
