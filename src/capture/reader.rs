//! The streaming capture reader: classic pcap and pcapng from any `Read`, through one
//! fixed-size buffer, each packet lent out of that buffer. A regular file opened with
//! [`CaptureReader::open`] is mapped instead, and its packets are lent straight out of
//! the page cache (no copy at all); everything below about the buffer applies to
//! streams (standard input, pipes) and to [`CaptureReader::new`].
//!
//! The buffer (1 MiB unless asked otherwise) is refilled with large reads after moving
//! the unread tail to its front, so per packet there is no system call, no allocation
//! and no copy. It grows only to hold a single record larger than itself, and only
//! after the declared length has been checked against the bytes left in the file
//! (for a stream of unknown length, it grows geometrically as bytes actually arrive),
//! never beyond [`MAX_RECORD_LEN`]. It must never trust a declared length before the
//! bytes are there, and never panic whatever the input.
//!
//! After an error the reader stays at the offending record: calling
//! [`CaptureReader::next_packet`] again reports the same error.
//!
//! ```
//! use std::io::Cursor;
//! use ticklab::capture::{CaptureReader, Format, LinkType, PcapWriter};
//!
//! let mut writer = PcapWriter::new(Vec::new(), LinkType::RAW, 65535)?;
//! writer.write_packet(1_000_000_001, &[0x45, 0, 0, 20], 20)?;
//! let file = writer.finish()?;
//!
//! let mut reader = CaptureReader::new(Cursor::new(file), "tiny.pcap", None)?;
//! assert_eq!(reader.format(), Format::Pcap { nanos: true, big_endian: false });
//! while let Some(packet) = reader.next_packet()? {
//!     assert_eq!((packet.index, packet.offset, packet.timestamp_ns), (0, 24, 1_000_000_001));
//!     assert_eq!((packet.data.len(), packet.original_len), (4, 20));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::error::{CaptureError, Location, Part, Rule, Unit};
use super::{Direction, Format, LinkType, Packet};

/// The buffer size [`CaptureReader::new`] uses: large enough that refills are rare
/// and each is one big `read`.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;
/// The smallest buffer [`CaptureReader::with_buffer_size`] accepts (it must hold a
/// pcap file header and a record header).
pub const MIN_BUFFER_SIZE: usize = 64;
/// No single record or block may be larger than this (256 MiB); a larger declared
/// length is reported as an error instead of being allocated.
pub const MAX_RECORD_LEN: u64 = 256 << 20;
/// A mapped file's pages are faulted in this many bytes at a time, ahead of the
/// parser, with one `madvise(MADV_POPULATE_READ)`: one system call per window instead
/// of a page fault every few pages, and never the whole file at once (a capture may
/// be larger than memory).
pub const POPULATE_WINDOW: usize = 32 << 20;

const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const PCAP_FILE_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const SHB_TYPE_BYTES: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Block type, total length, and the Section Header Block's byte-order magic.
const SHB_PREFIX_LEN: usize = 12;
const BLOCK_HEADER_LEN: usize = 8;
const MIN_BLOCK_LEN: u32 = 12;

const OPT_ENDOFOPT: u16 = 0;
const OPT_EPB_FLAGS: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Converts interface clock ticks to nanoseconds; chosen once per interface so the
/// per-packet work is one multiply, divide or shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TickScale {
    /// Ticks coarser than (or equal to) a nanosecond: multiply by ns per tick.
    Multiply(u64),
    /// Decimal ticks finer than a nanosecond: divide by ticks per ns.
    Divide(u64),
    /// Binary ticks of 2^-n seconds.
    BinaryShift(u32),
}

impl TickScale {
    fn to_ns(self, ticks: u64) -> i128 {
        match self {
            TickScale::Multiply(ns_per_tick) => i128::from(ticks) * i128::from(ns_per_tick),
            TickScale::Divide(ticks_per_ns) => i128::from(ticks / ticks_per_ns),
            TickScale::BinaryShift(shift) => ((u128::from(ticks) * 1_000_000_000) >> shift) as i128,
        }
    }

    /// Decodes an `if_tsresol` byte: high bit clear, 10^-v seconds; set, 2^-(v & 0x7f).
    fn from_tsresol(value: u8) -> Option<TickScale> {
        let exponent = u32::from(value & 0x7f);
        if value & 0x80 == 0 {
            match exponent {
                0..=9 => Some(TickScale::Multiply(10u64.pow(9 - exponent))),
                10..=19 => Some(TickScale::Divide(10u64.pow(exponent - 9))),
                _ => None,
            }
        } else if exponent <= 63 {
            Some(TickScale::BinaryShift(exponent))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    snap_len: u32,
    scale: TickScale,
    offset_ns: i128,
}

/// Where the current packet sits in the buffer, plus everything else about it; kept
/// free of borrows so the parsing loop can mutate the reader freely.
#[derive(Debug, Clone, Copy)]
struct PacketMeta {
    index: u64,
    offset: u64,
    timestamp_ns: i64,
    interface: u32,
    link_type: LinkType,
    data_start: usize,
    data_len: usize,
    original_len: u32,
    direction: Option<Direction>,
}

enum Container {
    Pcap {
        nanos: bool,
        big_endian: bool,
        snap_len: u32,
        link_type: LinkType,
    },
    Pcapng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Where the reader's bytes live.
enum Storage {
    /// A buffer refilled from the source.
    Buffer(Vec<u8>),
    /// The whole file, mapped read-only: nothing is copied, and the pages are the
    /// kernel's page cache (reclaimable), not memory of ours.
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Storage {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Storage::Buffer(v) => v,
            Storage::Mapped(m) => m,
        }
    }
}

/// A streaming reader of pcap and pcapng captures; see the module documentation.
pub struct CaptureReader<R: Read> {
    source: R,
    path: PathBuf,
    len_hint: Option<u64>,
    buf: Storage,
    base_size: usize,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// One past the last valid byte in `buf`.
    end: usize,
    /// File offset of `buf[0]`.
    buf_offset: u64,
    /// For a mapped file: the end of the window whose pages have been faulted in
    /// ahead of the parser (see [`POPULATE_WINDOW`]); `usize::MAX` for a buffer.
    populated_to: usize,
    eof: bool,
    /// Index of the next record or block.
    index: u64,
    container: Container,
}

impl<R: Read> std::fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path)
            .field("format", &self.format())
            .field("position", &self.position())
            .field("next_index", &self.index)
            .field("buffer_len", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl CaptureReader<File> {
    /// Opens a capture file; its size bounds every declared length.
    ///
    /// A regular file is mapped into memory rather than read: the packets are then
    /// lent straight out of the page cache, with no copy at all, which is what lets
    /// `decode --stats` keep pace with `cat`. Anything that cannot be mapped (a FIFO,
    /// an empty file, a failed `mmap`) is read through the buffer instead.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let io_err = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let len_hint = meta.is_file().then_some(meta.len());
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and private to this reader, and nothing in
            // ticklab writes a capture it is reading. Another process truncating the
            // file while we read it would fault this process (SIGBUS), and one
            // rewriting it would change bytes under us; that is the trade every
            // mmap-based reader makes (ripgrep's too). Reading standard input (`-`)
            // never maps.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                // Readahead in large steps; pages behind us may be dropped early.
                let _ = map.advise(memmap2::Advice::Sequential);
                let end = map.len();
                return Self::start(file, path.into(), len_hint, Storage::Mapped(map), end);
            }
        }
        CaptureReader::new(file, path, len_hint)
    }
}

#[inline]
fn u16_at(big_endian: bool, bytes: [u8; 2]) -> u16 {
    if big_endian {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    }
}

#[inline]
fn u32_at(big_endian: bool, bytes: [u8; 4]) -> u32 {
    if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    }
}

/// Reads a `u32` at `at` from a slice, zero when out of range (callers check the
/// length first; this keeps the parser panic-free even if they got it wrong).
#[inline]
fn read_u32(big_endian: bool, bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..).and_then(|b| b.first_chunk::<4>()) {
        Some(b) => u32_at(big_endian, *b),
        None => 0,
    }
}

#[inline]
fn read_u16(big_endian: bool, bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..).and_then(|b| b.first_chunk::<2>()) {
        Some(b) => u16_at(big_endian, *b),
        None => 0,
    }
}

fn clamp_ns(ns: i128) -> i64 {
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn pad4(len: usize) -> usize {
    (len + 3) & !3
}

/// A problem with one option, before the block's location is attached.
struct OptionProblem {
    field: &'static str,
    value: u64,
    rule: Rule,
}

/// Walks a pcapng options area, calling `on_option(code, value)` for each option up
/// to `opt_endofopt` or the end of the area.
fn walk_options(
    options: &[u8],
    big_endian: bool,
    length_field: fn(u16) -> &'static str,
    mut on_option: impl FnMut(u16, &[u8]) -> Result<(), OptionProblem>,
) -> Result<(), OptionProblem> {
    let mut rest = options;
    while let Some(head) = rest.first_chunk::<4>() {
        let code = u16_at(big_endian, [head[0], head[1]]);
        let len = u16_at(big_endian, [head[2], head[3]]);
        if code == OPT_ENDOFOPT {
            break;
        }
        let body = &rest[4..];
        let Some(value) = body.get(..usize::from(len)) else {
            return Err(OptionProblem {
                field: length_field(code),
                value: u64::from(len),
                rule: Rule::OptionPastEnd {
                    code,
                    left: body.len() as u64,
                },
            });
        };
        on_option(code, value)?;
        rest = body.get(pad4(usize::from(len))..).unwrap_or(&[]);
    }
    Ok(())
}

fn epb_option_field(code: u16) -> &'static str {
    match code {
        OPT_EPB_FLAGS => "epb_flags length",
        _ => "option length",
    }
}

fn idb_option_field(code: u16) -> &'static str {
    match code {
        OPT_IF_TSRESOL => "if_tsresol length",
        OPT_IF_TSOFFSET => "if_tsoffset length",
        _ => "option length",
    }
}

fn generic_option_field(_code: u16) -> &'static str {
    "option length"
}

fn fixed_size(
    code: u16,
    value: &[u8],
    size: u16,
    field: &'static str,
) -> Result<(), OptionProblem> {
    if value.len() == usize::from(size) {
        Ok(())
    } else {
        Err(OptionProblem {
            field,
            value: value.len() as u64,
            rule: Rule::OptionSize { code, size },
        })
    }
}

/// The smallest legal total length of each block type (header, fixed fields, trailer).
fn min_block_len(block_type: u32) -> u32 {
    match block_type {
        SHB => 28,
        IDB => 20,
        EPB | PB => 32,
        SPB => 16,
        _ => MIN_BLOCK_LEN,
    }
}

impl<R: Read> CaptureReader<R> {
    /// Starts reading a capture from `reader`. `name` is used in error messages;
    /// `len_hint` is the total size of the input when known (a regular file's size),
    /// used to refuse declared lengths that run past the end before buffering them.
    /// Reads and checks the file header (pcap) or first Section Header Block (pcapng).
    pub fn new(
        reader: R,
        name: impl Into<PathBuf>,
        len_hint: Option<u64>,
    ) -> Result<Self, CaptureError> {
        Self::with_buffer_size(reader, name, len_hint, DEFAULT_BUFFER_SIZE)
    }

    /// As [`CaptureReader::new`], with a buffer of `buffer_size` bytes (at least
    /// [`MIN_BUFFER_SIZE`]).
    pub fn with_buffer_size(
        reader: R,
        name: impl Into<PathBuf>,
        len_hint: Option<u64>,
        buffer_size: usize,
    ) -> Result<Self, CaptureError> {
        let base_size = buffer_size.max(MIN_BUFFER_SIZE);
        Self::start(
            reader,
            name.into(),
            len_hint,
            Storage::Buffer(vec![0; base_size]),
            0,
        )
    }

    /// Builds the reader over `buf`, of which the first `end` bytes are valid (all of
    /// a mapped file, none of a fresh buffer), and reads the file header.
    fn start(
        reader: R,
        path: PathBuf,
        len_hint: Option<u64>,
        buf: Storage,
        end: usize,
    ) -> Result<Self, CaptureError> {
        let mapped = matches!(buf, Storage::Mapped(_));
        let mut this = CaptureReader {
            source: reader,
            path,
            len_hint,
            base_size: buf.len(),
            buf,
            start: 0,
            end,
            buf_offset: 0,
            populated_to: if mapped { 0 } else { usize::MAX },
            eof: mapped,
            index: 0,
            container: Container::Pcapng {
                big_endian: false,
                interfaces: Vec::new(),
            },
        };
        this.read_file_header()?;
        Ok(this)
    }

    /// The container format, as the file header says.
    pub fn format(&self) -> Format {
        match self.container {
            Container::Pcap {
                nanos, big_endian, ..
            } => Format::Pcap { nanos, big_endian },
            Container::Pcapng { .. } => Format::Pcapng,
        }
    }

    /// The name given at construction, used in every error.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next packet, `Ok(None)` at a clean end of file (one that falls between
    /// records). Non-packet pcapng blocks are checked for framing and skipped.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.start >= self.populated_to {
            self.populate_ahead();
        }
        let meta = match self.container {
            Container::Pcap { .. } => self.next_pcap_record()?,
            Container::Pcapng { .. } => self.next_pcapng_packet()?,
        };
        Ok(meta.map(|m| Packet {
            index: m.index,
            offset: m.offset,
            data_offset: self.buf_offset + m.data_start as u64,
            timestamp_ns: m.timestamp_ns,
            interface: m.interface,
            link_type: m.link_type,
            data: self
                .buf
                .get(m.data_start..m.data_start + m.data_len)
                .unwrap_or_default(),
            original_len: m.original_len,
            direction: m.direction,
        }))
    }

    /// Faults in the next window of a mapped file. Failure (a kernel before 5.14
    /// has no MADV_POPULATE_READ) only costs speed: the pages then fault one by one.
    #[cold]
    fn populate_ahead(&mut self) {
        if let Storage::Mapped(map) = &self.buf {
            let from = self.start;
            let len = POPULATE_WINDOW.min(map.len().saturating_sub(from));
            if len > 0 {
                let _ = map.advise_range(memmap2::Advice::PopulateRead, from, len);
            }
            self.populated_to = from + POPULATE_WINDOW;
        } else {
            self.populated_to = usize::MAX;
        }
    }

    #[inline]
    fn available(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    fn position(&self) -> u64 {
        self.buf_offset + self.start as u64
    }

    fn io_error(&self, source: io::Error) -> CaptureError {
        CaptureError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn invalid(&self, at: Location, field: &'static str, value: u64, rule: Rule) -> CaptureError {
        CaptureError::Invalid {
            path: self.path.clone(),
            at,
            field,
            value,
            rule,
        }
    }

    fn truncated(
        &self,
        at: Location,
        part: Part,
        field: &'static str,
        declared: u64,
        available: u64,
    ) -> CaptureError {
        CaptureError::Truncated {
            path: self.path.clone(),
            at,
            part,
            field,
            declared,
            available,
        }
    }

    /// Bytes the file holds from `offset` on, when its length is known.
    fn bytes_left_from(&self, offset: u64) -> Option<u64> {
        self.len_hint.map(|len| len.saturating_sub(offset))
    }

    /// Makes at least `need` unconsumed bytes available in the buffer if the input
    /// has them; returns how many are available (fewer only at end of input).
    /// Callers have already bounded `need` by [`MAX_RECORD_LEN`] and, when the input
    /// length is known, by the bytes left in it.
    fn fill(&mut self, need: usize) -> Result<usize, CaptureError> {
        if self.available() >= need {
            return Ok(self.available());
        }
        // A mapped file is all there already.
        let Storage::Buffer(buf) = &mut self.buf else {
            return Ok(self.available());
        };
        if self.start + need > buf.len() {
            buf.copy_within(self.start..self.end, 0);
            self.buf_offset += self.start as u64;
            self.end -= self.start;
            self.start = 0;
            // Give back the memory of an earlier oversized record once it is gone.
            // (Only unread bytes, fewer than `need`, are left, so nothing is lost.)
            if buf.len() > self.base_size && need <= self.base_size && self.end <= need {
                buf.truncate(self.base_size);
                buf.shrink_to_fit();
            }
        }
        while self.end - self.start < need && !self.eof {
            if self.end == buf.len() {
                // The buffer is full of bytes that really arrived and the record needs
                // more: grow, at most doubling, so memory follows the data.
                let target = self.start + need;
                let grown = (buf.len() * 2).min(target).max(buf.len() + 1);
                buf.resize(grown, 0);
            }
            let Some(free) = buf.get_mut(self.end..) else {
                break;
            };
            let free_len = free.len();
            match self.source.read(free) {
                Ok(0) => self.eof = true,
                // `Read` promises n <= free_len; a broken reader must not push `end`
                // past the buffer.
                Ok(n) => self.end += n.min(free_len),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        Ok(self.available())
    }

    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        let available = self.fill(PCAP_FILE_HEADER_LEN)?;
        let Some(magic) = self
            .buf
            .first_chunk::<4>()
            .copied()
            .filter(|_| available >= 4)
        else {
            return Err(CaptureError::TruncatedFileHeader {
                path: self.path.clone(),
                format: "pcap or pcapng",
                needed: 4,
                available: available as u64,
            });
        };
        if magic == SHB_TYPE_BYTES {
            if available < SHB_PREFIX_LEN {
                return Err(CaptureError::TruncatedFileHeader {
                    path: self.path.clone(),
                    format: "pcapng",
                    needed: SHB_PREFIX_LEN as u64,
                    available: available as u64,
                });
            }
            // The first block is a Section Header Block: let the block reader check it.
            self.next_pcapng_block(true)?;
            return Ok(());
        }
        let (nanos, big_endian) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (PCAP_MAGIC_MICROS, _) => (false, false),
            (PCAP_MAGIC_NANOS, _) => (true, false),
            (_, PCAP_MAGIC_MICROS) => (false, true),
            (_, PCAP_MAGIC_NANOS) => (true, true),
            _ => {
                return Err(CaptureError::BadMagic {
                    path: self.path.clone(),
                    found: magic,
                })
            }
        };
        if available < PCAP_FILE_HEADER_LEN {
            return Err(CaptureError::TruncatedFileHeader {
                path: self.path.clone(),
                format: "pcap",
                needed: PCAP_FILE_HEADER_LEN as u64,
                available: available as u64,
            });
        }
        let header = &self.buf[..PCAP_FILE_HEADER_LEN];
        let version_major = read_u16(big_endian, header, 4);
        let snap_len = read_u32(big_endian, header, 16);
        // The upper bits of this field carry FCS information, not the link type.
        let link_type = LinkType(read_u32(big_endian, header, 20) as u16);
        if version_major != 2 {
            return Err(CaptureError::Invalid {
                path: self.path.clone(),
                at: Location {
                    unit: Unit::FileHeader,
                    index: 0,
                    offset: 0,
                },
                field: "version_major",
                value: u64::from(version_major),
                rule: Rule::Expected("2"),
            });
        }
        self.start = PCAP_FILE_HEADER_LEN;
        self.container = Container::Pcap {
            nanos,
            big_endian,
            snap_len,
            link_type,
        };
        Ok(())
    }

    #[inline]
    fn next_pcap_record(&mut self) -> Result<Option<PacketMeta>, CaptureError> {
        let Container::Pcap {
            nanos,
            big_endian,
            snap_len,
            link_type,
        } = self.container
        else {
            return Ok(None);
        };
        let offset = self.position();
        let at = Location {
            unit: Unit::Record,
            index: self.index,
            offset,
        };
        if self.available() < PCAP_RECORD_HEADER_LEN {
            let available = self.fill(PCAP_RECORD_HEADER_LEN)?;
            if available == 0 {
                return Ok(None);
            }
            if available < PCAP_RECORD_HEADER_LEN {
                return Err(CaptureError::Truncated {
                    path: self.path.clone(),
                    at,
                    part: Part::RecordHeader,
                    field: "record header length",
                    declared: PCAP_RECORD_HEADER_LEN as u64,
                    available: available as u64,
                });
            }
        }
        let Some(header) = self
            .buf
            .get(self.start..)
            .and_then(|b| b.first_chunk::<PCAP_RECORD_HEADER_LEN>())
        else {
            return Ok(None);
        };
        let word = |i: usize| {
            u32_at(
                big_endian,
                [header[i], header[i + 1], header[i + 2], header[i + 3]],
            )
        };
        let (ts_sec, ts_frac, caplen, original_len) = (word(0), word(4), word(8), word(12));

        let invalid = |field, value: u32, rule| self.invalid(at, field, u64::from(value), rule);
        if snap_len != 0 && caplen > snap_len {
            return Err(invalid("caplen", caplen, Rule::ExceedsSnapLen(snap_len)));
        }
        if caplen > original_len {
            return Err(invalid(
                "caplen",
                caplen,
                Rule::ExceedsOriginalLen(original_len),
            ));
        }
        if u64::from(caplen) > MAX_RECORD_LEN {
            return Err(invalid(
                "caplen",
                caplen,
                Rule::ExceedsRecordLimit(MAX_RECORD_LEN),
            ));
        }
        let total = PCAP_RECORD_HEADER_LEN + caplen as usize;
        if self.available() < total {
            let data_offset = offset + PCAP_RECORD_HEADER_LEN as u64;
            let truncated = |this: &Self, available: u64| {
                this.truncated(at, Part::RecordData, "caplen", u64::from(caplen), available)
            };
            if let Some(left) = self.bytes_left_from(data_offset) {
                if u64::from(caplen) > left {
                    return Err(truncated(self, left));
                }
            }
            let available = self.fill(total)?;
            if available < total {
                return Err(truncated(self, (available - PCAP_RECORD_HEADER_LEN) as u64));
            }
        }
        let frac_ns = if nanos {
            i64::from(ts_frac)
        } else {
            i64::from(ts_frac) * 1000
        };
        let meta = PacketMeta {
            index: self.index,
            offset,
            timestamp_ns: i64::from(ts_sec) * 1_000_000_000 + frac_ns,
            interface: 0,
            link_type,
            data_start: self.start + PCAP_RECORD_HEADER_LEN,
            data_len: caplen as usize,
            original_len,
            direction: None,
        };
        self.start += total;
        self.index += 1;
        Ok(Some(meta))
    }

    #[inline]
    fn next_pcapng_packet(&mut self) -> Result<Option<PacketMeta>, CaptureError> {
        loop {
            match self.next_pcapng_block(false)? {
                Block::End => return Ok(None),
                Block::Packet(meta) => return Ok(Some(meta)),
                Block::Other => {}
            }
        }
    }

    /// Reads, frames and checks one pcapng block and consumes it. `first` is set for
    /// the block at offset 0, which the magic has already shown to be a Section
    /// Header Block.
    fn next_pcapng_block(&mut self, first: bool) -> Result<Block, CaptureError> {
        let offset = self.position();
        let index = self.index;
        if self.available() < SHB_PREFIX_LEN {
            // Asking for the longer Section Header Block prefix costs nothing extra.
            self.fill(SHB_PREFIX_LEN)?;
        }
        let available = self.available();
        let head = self.buf.get(self.start..self.end).unwrap_or_default();
        let raw_type: [u8; 4] = match head.first_chunk::<4>() {
            Some(t) => *t,
            None => {
                let mut partial = [0u8; 4];
                partial[..head.len()].copy_from_slice(head);
                partial
            }
        };
        let is_shb = raw_type == SHB_TYPE_BYTES;
        let mut at = Location {
            unit: Unit::Block { block_type: SHB },
            index,
            offset,
        };
        let header_needed = if is_shb {
            SHB_PREFIX_LEN
        } else {
            BLOCK_HEADER_LEN
        };
        if available < header_needed {
            if available == 0 && !first {
                return Ok(Block::End);
            }
            if !is_shb {
                at.unit = Unit::Block {
                    block_type: u32_at(self.section_big_endian(), raw_type),
                };
            }
            return Err(CaptureError::Truncated {
                path: self.path.clone(),
                at,
                part: Part::BlockHeader,
                field: "block header length",
                declared: header_needed as u64,
                available: available as u64,
            });
        }
        let head = self.buf.get(self.start..self.end).unwrap_or_default();
        if is_shb {
            let bom = match head.get(8..12).and_then(|b| b.first_chunk::<4>()) {
                Some(b) => *b,
                None => [0; 4],
            };
            let big_endian = if u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC {
                true
            } else if u32::from_le_bytes(bom) == BYTE_ORDER_MAGIC {
                false
            } else {
                return Err(CaptureError::Invalid {
                    path: self.path.clone(),
                    at,
                    field: "byte_order_magic",
                    value: u64::from(u32::from_be_bytes(bom)),
                    rule: Rule::Expected("0x1A2B3C4D in either byte order"),
                });
            };
            if let Container::Pcapng {
                big_endian: section_order,
                ..
            } = &mut self.container
            {
                *section_order = big_endian;
            }
        }
        let big_endian = self.section_big_endian();
        let block_type = u32_at(big_endian, raw_type);
        let total_len = read_u32(big_endian, head, 4);
        at.unit = Unit::Block { block_type };

        let invalid =
            |this: &Self, field, value: u32, rule| this.invalid(at, field, u64::from(value), rule);
        let minimum = min_block_len(block_type);
        if total_len == 0 {
            return Err(invalid(self, "block_total_length", total_len, Rule::Zero));
        }
        if total_len < MIN_BLOCK_LEN {
            return Err(invalid(
                self,
                "block_total_length",
                total_len,
                Rule::BelowMinimum(MIN_BLOCK_LEN),
            ));
        }
        if total_len % 4 != 0 {
            return Err(invalid(
                self,
                "block_total_length",
                total_len,
                Rule::NotMultipleOf4,
            ));
        }
        if total_len < minimum {
            return Err(invalid(
                self,
                "block_total_length",
                total_len,
                Rule::BelowMinimum(minimum),
            ));
        }
        if u64::from(total_len) > MAX_RECORD_LEN {
            return Err(invalid(
                self,
                "block_total_length",
                total_len,
                Rule::ExceedsRecordLimit(MAX_RECORD_LEN),
            ));
        }
        let total = total_len as usize;
        if self.available() < total {
            let truncated = |this: &Self, available: u64| {
                this.truncated(
                    at,
                    Part::BlockBody,
                    "block_total_length",
                    u64::from(total_len),
                    available,
                )
            };
            if let Some(left) = self.bytes_left_from(offset) {
                if u64::from(total_len) > left {
                    return Err(truncated(self, left));
                }
            }
            let available = self.fill(total)?;
            if available < total {
                return Err(truncated(self, available as u64));
            }
        }
        let block = self
            .buf
            .get(self.start..self.start + total)
            .unwrap_or_default();
        let trailing = read_u32(big_endian, block, total - 4);
        if trailing != total_len {
            return Err(invalid(
                self,
                "trailing block_total_length",
                trailing,
                Rule::DiffersFromLeading(total_len),
            ));
        }
        let option_error = |p: OptionProblem| self.invalid(at, p.field, p.value, p.rule);

        let result = match block_type {
            EPB | PB => {
                // The minimum length check guarantees these 28 bytes; a fixed-size
                // array lets every field read below go without a bounds check.
                let fixed: [u8; 28] = block.first_chunk::<28>().copied().unwrap_or([0; 28]);
                let word = |at: usize| {
                    u32_at(
                        big_endian,
                        [fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]],
                    )
                };
                let interfaces = self.interfaces();
                let interface = if block_type == EPB {
                    word(8)
                } else {
                    u32::from(u16_at(big_endian, [fixed[8], fixed[9]]))
                };
                let Some(iface) = interfaces.get(interface as usize).copied() else {
                    return Err(invalid(
                        self,
                        "interface_id",
                        interface,
                        Rule::UndefinedInterface(interfaces.len() as u32),
                    ));
                };
                let ticks = (u64::from(word(12)) << 32) | u64::from(word(16));
                let caplen = word(20);
                let original_len = word(24);
                let space = total_len - 32;
                if caplen > space {
                    return Err(invalid(
                        self,
                        "captured_len",
                        caplen,
                        Rule::ExceedsBlockSpace(u64::from(space)),
                    ));
                }
                if iface.snap_len != 0 && caplen > iface.snap_len {
                    return Err(invalid(
                        self,
                        "captured_len",
                        caplen,
                        Rule::ExceedsSnapLen(iface.snap_len),
                    ));
                }
                if caplen > original_len {
                    return Err(invalid(
                        self,
                        "captured_len",
                        caplen,
                        Rule::ExceedsOriginalLen(original_len),
                    ));
                }
                let options = block
                    .get(28 + pad4(caplen as usize)..total - 4)
                    .unwrap_or_default();
                let mut direction = None;
                if !options.is_empty() {
                    walk_options(options, big_endian, epb_option_field, |code, value| {
                        if code == OPT_EPB_FLAGS {
                            fixed_size(code, value, 4, "epb_flags length")?;
                            direction = Direction::from_epb_flags(read_u32(big_endian, value, 0));
                        }
                        Ok(())
                    })
                    .map_err(option_error)?;
                }
                Block::Packet(PacketMeta {
                    index,
                    offset,
                    timestamp_ns: clamp_ns(iface.scale.to_ns(ticks) + iface.offset_ns),
                    interface,
                    link_type: iface.link_type,
                    data_start: self.start + 28,
                    data_len: caplen as usize,
                    original_len,
                    direction,
                })
            }
            SPB => {
                let interfaces = self.interfaces();
                let Some(iface) = interfaces.first().copied() else {
                    return Err(invalid(
                        self,
                        "interface_id (0, implied by the Simple Packet Block)",
                        0,
                        Rule::UndefinedInterface(0),
                    ));
                };
                let original_len = read_u32(big_endian, block, 8);
                let mut caplen = original_len.min(total_len - 16);
                if iface.snap_len != 0 {
                    caplen = caplen.min(iface.snap_len);
                }
                Block::Packet(PacketMeta {
                    index,
                    offset,
                    timestamp_ns: 0,
                    interface: 0,
                    link_type: iface.link_type,
                    data_start: self.start + 12,
                    data_len: caplen as usize,
                    original_len,
                    direction: None,
                })
            }
            IDB => {
                let link_type = LinkType(read_u16(big_endian, block, 8));
                let snap_len = read_u32(big_endian, block, 12);
                let mut scale = TickScale::Multiply(1000);
                let mut offset_seconds = 0i64;
                let options = block.get(16..total - 4).unwrap_or_default();
                walk_options(options, big_endian, idb_option_field, |code, value| {
                    match code {
                        OPT_IF_TSRESOL => {
                            fixed_size(code, value, 1, "if_tsresol length")?;
                            let resolution = value.first().copied().unwrap_or(6);
                            scale = TickScale::from_tsresol(resolution).ok_or(OptionProblem {
                                field: "if_tsresol",
                                value: u64::from(resolution),
                                rule: Rule::Expected(
                                    "10^-0..10^-19 (0..19) or 2^-0..2^-63 (0x80..0xbf)",
                                ),
                            })?;
                        }
                        OPT_IF_TSOFFSET => {
                            fixed_size(code, value, 8, "if_tsoffset length")?;
                            let bytes = value.first_chunk::<8>().copied().unwrap_or_default();
                            offset_seconds = if big_endian {
                                i64::from_be_bytes(bytes)
                            } else {
                                i64::from_le_bytes(bytes)
                            };
                        }
                        _ => {}
                    }
                    Ok(())
                })
                .map_err(option_error)?;
                if let Container::Pcapng { interfaces, .. } = &mut self.container {
                    interfaces.push(Interface {
                        link_type,
                        snap_len,
                        scale,
                        offset_ns: i128::from(offset_seconds) * 1_000_000_000,
                    });
                }
                Block::Other
            }
            SHB => {
                let version_major = read_u16(big_endian, block, 12);
                if version_major != 1 {
                    return Err(invalid(
                        self,
                        "major_version",
                        u32::from(version_major),
                        Rule::Expected("1"),
                    ));
                }
                let options = block.get(24..total - 4).unwrap_or_default();
                walk_options(options, big_endian, generic_option_field, |_, _| Ok(()))
                    .map_err(option_error)?;
                if let Container::Pcapng { interfaces, .. } = &mut self.container {
                    interfaces.clear();
                }
                Block::Other
            }
            _ => Block::Other,
        };
        self.start += total;
        self.index += 1;
        Ok(result)
    }

    fn section_big_endian(&self) -> bool {
        match self.container {
            Container::Pcapng { big_endian, .. } => big_endian,
            Container::Pcap { big_endian, .. } => big_endian,
        }
    }

    fn interfaces(&self) -> &[Interface] {
        match &self.container {
            Container::Pcapng { interfaces, .. } => interfaces,
            Container::Pcap { .. } => &[],
        }
    }
}

/// What one pcapng block turned out to be.
enum Block {
    End,
    Packet(PacketMeta),
    Other,
}

#[cfg(test)]
mod tests {
    //! Files are built by hand here, byte by byte, following the pcap and pcapng
    //! specifications (draft-ietf-opsawg-pcap-04 sections 4 and 5;
    //! draft-ietf-opsawg-pcapng-02 sections 3.1, 4.1, 4.2, 4.3, 4.4 and 4.6).
    use super::*;
    use crate::capture::Direction;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn u16b(big: bool, v: u16) -> [u8; 2] {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32b(big: bool, v: u32) -> [u8; 4] {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn pcap_header(big: bool, nanos: bool, snap_len: u32, link_type: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend(u32b(big, if nanos { 0xa1b23c4d } else { 0xa1b2c3d4 }));
        h.extend(u16b(big, 2));
        h.extend(u16b(big, 4));
        h.extend([0; 8]);
        h.extend(u32b(big, snap_len));
        h.extend(u32b(big, link_type));
        h
    }

    fn pcap_record(
        big: bool,
        sec: u32,
        frac: u32,
        caplen: u32,
        origlen: u32,
        data: &[u8],
    ) -> Vec<u8> {
        let mut r = Vec::new();
        for w in [sec, frac, caplen, origlen] {
            r.extend(u32b(big, w));
        }
        r.extend_from_slice(data);
        r
    }

    fn block(big: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
        let total = 12 + body.len() as u32;
        let mut b = Vec::new();
        b.extend(u32b(big, block_type));
        b.extend(u32b(big, total));
        b.extend_from_slice(body);
        b.extend(u32b(big, total));
        b
    }

    fn opt(big: bool, code: u16, value: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend(u16b(big, code));
        o.extend(u16b(big, value.len() as u16));
        o.extend_from_slice(value);
        o.resize(o.len().next_multiple_of(4), 0);
        o
    }

    fn shb(big: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(u32b(big, BYTE_ORDER_MAGIC));
        body.extend(u16b(big, 1));
        body.extend(u16b(big, 0));
        body.extend([0xff; 8]);
        block(big, SHB, &body)
    }

    fn idb(big: bool, link_type: u16, snap_len: u32, options: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(u16b(big, link_type));
        body.extend([0, 0]);
        body.extend(u32b(big, snap_len));
        body.extend_from_slice(options);
        block(big, IDB, &body)
    }

    fn epb_body(
        big: bool,
        iface: u32,
        ticks: u64,
        caplen: u32,
        origlen: u32,
        data: &[u8],
        options: &[u8],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        for w in [iface, (ticks >> 32) as u32, ticks as u32, caplen, origlen] {
            body.extend(u32b(big, w));
        }
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend_from_slice(options);
        body
    }

    fn epb(
        big: bool,
        iface: u32,
        ticks: u64,
        data: &[u8],
        origlen: u32,
        options: &[u8],
    ) -> Vec<u8> {
        block(
            big,
            EPB,
            &epb_body(big, iface, ticks, data.len() as u32, origlen, data, options),
        )
    }

    /// A reader that hands out at most `chunk` bytes per call, like a pipe.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }
    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[derive(Debug, PartialEq)]
    struct Owned {
        index: u64,
        offset: u64,
        ts: i64,
        iface: u32,
        link: u16,
        data: Vec<u8>,
        orig: u32,
        dir: Option<Direction>,
    }

    fn read_all<R: Read>(mut reader: CaptureReader<R>) -> Result<Vec<Owned>, CaptureError> {
        let mut out = Vec::new();
        while let Some(p) = reader.next_packet()? {
            out.push(Owned {
                index: p.index,
                offset: p.offset,
                ts: p.timestamp_ns,
                iface: p.interface,
                link: p.link_type.0,
                data: p.data.to_vec(),
                orig: p.original_len,
                dir: p.direction,
            });
        }
        Ok(out)
    }

    fn read_bytes(bytes: &[u8]) -> Result<Vec<Owned>, CaptureError> {
        read_all(CaptureReader::new(
            Cursor::new(bytes.to_vec()),
            "t",
            Some(bytes.len() as u64),
        )?)
    }

    fn err_of(bytes: &[u8]) -> CaptureError {
        match CaptureReader::new(
            Cursor::new(bytes.to_vec()),
            "capture.pcap",
            Some(bytes.len() as u64),
        ) {
            Err(e) => e,
            Ok(r) => read_all(r).expect_err("the file must be rejected"),
        }
    }

    /// Reads `bytes` every way the reader can be fed and checks all agree.
    fn read_every_way(bytes: &[u8]) -> Result<Vec<Owned>, CaptureError> {
        let reference = read_bytes(bytes);
        for size in [MIN_BUFFER_SIZE, 100, 4096] {
            for chunk in [1, 7, 1 << 20] {
                for hint in [None, Some(bytes.len() as u64)] {
                    let source = Trickle {
                        data: bytes.to_vec(),
                        pos: 0,
                        chunk,
                    };
                    let got =
                        CaptureReader::with_buffer_size(source, "t", hint, size).and_then(read_all);
                    assert_eq!(
                        format!("{got:?}"),
                        format!("{reference:?}"),
                        "buffer {size}, chunk {chunk}, hint {hint:?}"
                    );
                }
            }
        }
        reference
    }

    #[test]
    fn pcap_both_magics_both_byte_orders() {
        for big in [false, true] {
            for nanos in [false, true] {
                let mut f = pcap_header(big, nanos, 65535, 1);
                f.extend(pcap_record(big, 1_700_000_000, 999_999, 4, 60, b"abcd"));
                f.extend(pcap_record(big, 1, 5, 0, 0, b""));
                let reader = CaptureReader::new(Cursor::new(f.clone()), "t", None).unwrap();
                assert_eq!(
                    reader.format(),
                    Format::Pcap {
                        nanos,
                        big_endian: big
                    }
                );
                let packets = read_every_way(&f).unwrap();
                let unit = if nanos { 1 } else { 1000 };
                assert_eq!(
                    packets,
                    vec![
                        Owned {
                            index: 0,
                            offset: 24,
                            ts: 1_700_000_000_000_000_000 + 999_999 * unit,
                            iface: 0,
                            link: 1,
                            data: b"abcd".to_vec(),
                            orig: 60,
                            dir: None
                        },
                        Owned {
                            index: 1,
                            offset: 44,
                            ts: 1_000_000_000 + 5 * unit,
                            iface: 0,
                            link: 1,
                            data: vec![],
                            orig: 0,
                            dir: None
                        },
                    ]
                );
            }
        }
    }

    #[test]
    fn pcap_link_type_keeps_low_16_bits_and_passes_unknown_types() {
        // Bits 28-31 carry the FCS length (pcap draft section 4, LinkType field).
        let mut f = pcap_header(false, false, 0, 0x1000_0000 | 147);
        f.extend(pcap_record(false, 0, 0, 1, 1, b"x"));
        let p = read_bytes(&f).unwrap();
        assert_eq!(p[0].link, 147);
        assert_eq!(LinkType(147).name(), None);
    }

    #[test]
    fn pcapng_sections_interfaces_resolutions_and_block_kinds() {
        let mut f = shb(false);
        f.extend(idb(false, 1, 0, &[])); // default resolution: microseconds
        f.extend(idb(
            false,
            101,
            9000,
            &[
                opt(false, 9, &[9]),
                opt(false, 14, &100i64.to_le_bytes()),
                opt(false, 0, &[]),
            ]
            .concat(),
        ));
        f.extend(idb(false, 113, 0, &opt(false, 9, &[0x80 | 20]))); // 2^-20 s
        f.extend(idb(false, 276, 0, &opt(false, 9, &[12]))); // picoseconds
        f.extend(epb(false, 0, 1_500_000, b"one", 3, &[])); // block 5
        f.extend(epb(
            false,
            1,
            7,
            b"two!",
            64,
            &[opt(false, 2, &1u32.to_le_bytes()), opt(false, 0, &[])].concat(),
        ));
        f.extend(block(false, 4, &[0; 8])); // NRB, skipped
        f.extend(epb(
            false,
            2,
            3 << 20 | 1 << 19,
            b"3",
            9,
            &opt(false, 2, &2u32.to_le_bytes()),
        ));
        f.extend(epb(
            false,
            3,
            1_234_567_891_999,
            b"",
            0,
            &opt(false, 2, &3u32.to_le_bytes()),
        ));
        f.extend(block(false, 0x0BAD, &[1, 2, 3, 4])); // custom, skipped
        f.extend(block(false, 5, &[0; 16])); // ISB, skipped
        let mut spb = Vec::new();
        spb.extend(100u32.to_le_bytes());
        spb.extend([0xAA; 100]);
        f.extend(block(false, SPB, &spb));
        // Obsolete Packet Block: if id 16 bits, drops 16 bits, timestamp, lengths, data, pack_flags.
        let mut pb = Vec::new();
        pb.extend(1u16.to_le_bytes());
        pb.extend(0u16.to_le_bytes());
        pb.extend([0u32, 5, 2, 2].iter().flat_map(|w| w.to_le_bytes()));
        pb.extend([0xBB, 0xCC, 0, 0]);
        pb.extend(opt(false, 2, &2u32.to_le_bytes()));
        f.extend(block(false, PB, &pb));
        let section2_offset = f.len() as u64;
        // A big-endian section; interfaces from section 1 are gone.
        f.extend(shb(true));
        f.extend(idb(true, 228, 0, &opt(true, 9, &[9])));
        f.extend(epb(
            true,
            0,
            42,
            b"be",
            2,
            &opt(true, 2, &1u32.to_be_bytes()),
        ));

        let p = read_every_way(&f).unwrap();
        let summary: Vec<_> = p
            .iter()
            .map(|p| (p.index, p.iface, p.link, p.ts, p.data.len(), p.orig, p.dir))
            .collect();
        assert_eq!(
            summary,
            vec![
                (5, 0, 1, 1_500_000_000, 3, 3, None),
                (6, 1, 101, 100_000_000_007, 4, 64, Some(Direction::Inbound)),
                (8, 2, 113, 3_500_000_000, 1, 9, Some(Direction::Outbound)),
                (9, 3, 276, 1_234_567_891, 0, 0, None),
                (12, 0, 1, 0, 100, 100, None),
                (13, 1, 101, 100_000_000_005, 2, 2, Some(Direction::Outbound)),
                (16, 0, 228, 42, 2, 2, Some(Direction::Inbound)),
            ]
        );
        assert_eq!(p[1].data, b"two!");
        assert_eq!(p[4].data, vec![0xAA; 100]);
        assert_eq!(p[5].data, vec![0xBB, 0xCC]);
        assert_eq!(p[6].data, b"be");
        assert_eq!(p[6].offset, section2_offset + shb(true).len() as u64 + 28);
        assert_eq!(p[0].offset, 28 + 20 + 44 + 28 + 28);
    }

    #[test]
    fn simple_packet_block_is_cut_to_the_snap_length() {
        let mut f = shb(false);
        f.extend(idb(false, 1, 8, &[]));
        let mut spb = Vec::new();
        spb.extend(1500u32.to_le_bytes());
        spb.extend([7; 8]);
        f.extend(block(false, SPB, &spb));
        let p = read_bytes(&f).unwrap();
        assert_eq!((p[0].data.len(), p[0].orig, p[0].ts), (8, 1500, 0));
    }

    #[test]
    fn record_larger_than_the_buffer_grows_it_once_then_shrinks_back() {
        let mut f = pcap_header(false, true, 0, 1);
        f.extend(pcap_record(false, 1, 2, 5000, 5000, &[9; 5000]));
        f.extend(pcap_record(false, 1, 3, 10, 10, &[8; 10]));
        let mut r =
            CaptureReader::with_buffer_size(Cursor::new(f.clone()), "t", Some(f.len() as u64), 256)
                .unwrap();
        assert_eq!(r.next_packet().unwrap().unwrap().data, &[9; 5000][..]);
        assert!(r.buf.len() >= 5016 && r.buf.len() <= 2 * 5016);
        assert_eq!(r.next_packet().unwrap().unwrap().data, &[8; 10][..]);
        assert_eq!(r.buf.len(), 256);
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn huge_declared_length_on_a_stream_grows_only_with_arriving_bytes() {
        let mut f = pcap_header(false, true, 0, 1);
        f.extend(pcap_record(false, 1, 2, 200 << 20, 200 << 20, &[1; 3000]));
        let source = Trickle {
            data: f,
            pos: 0,
            chunk: 1 << 20,
        };
        let mut r = CaptureReader::with_buffer_size(source, "pipe", None, 1024).unwrap();
        let err = r.next_packet().unwrap_err();
        assert!(
            matches!(err, CaptureError::Truncated { part: Part::RecordData, declared, available: 3000, .. } if declared == 200 << 20),
            "{err}"
        );
        assert!(r.buf.len() <= 8192, "buffer grew to {}", r.buf.len());
    }

    #[test]
    fn huge_declared_length_in_a_file_is_refused_before_allocating() {
        let mut f = pcap_header(false, true, 0, 1);
        f.extend(pcap_record(false, 1, 2, 200 << 20, 200 << 20, &[1; 3000]));
        let mut r = CaptureReader::with_buffer_size(
            Cursor::new(f.clone()),
            "big.pcap",
            Some(f.len() as u64),
            1024,
        )
        .unwrap();
        let err = r.next_packet().unwrap_err();
        assert_eq!(r.buf.len(), 1024);
        assert_eq!(
            err.to_string(),
            "big.pcap: record 0 at offset 24: truncated record data: field caplen = 209715200 exceeds the 3000 bytes left in the file"
        );
    }

    #[test]
    fn io_errors_are_not_data_errors_and_name_the_path() {
        let err = CaptureReader::open(Path::new("/nonexistent/dir/x.pcap"))
            .err()
            .unwrap();
        assert!(matches!(err, CaptureError::Io { .. }));
        assert!(!err.is_data_error());
        // The cause is the error's source (printed once by `{:#}`), not its text.
        assert_eq!(err.to_string(), "/nonexistent/dir/x.pcap: I/O error");
        let cause = std::error::Error::source(&err).unwrap();
        assert_eq!(
            cause.downcast_ref::<std::io::Error>().unwrap().kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn bad_magic_shows_bytes_and_valid_magics() {
        let err = err_of(b"GIF89a..........................");
        assert!(matches!(
            err,
            CaptureError::BadMagic {
                found: [0x47, 0x49, 0x46, 0x38],
                ..
            }
        ));
        assert!(err.is_data_error());
        assert_eq!(
            err.to_string(),
            "capture.pcap: offset 0: bad magic 47 49 46 38; valid magics are a1 b2 c3 d4 / d4 c3 b2 a1 (pcap, microseconds), \
             a1 b2 3c 4d / 4d 3c b2 a1 (pcap, nanoseconds) and 0a 0d 0d 0a (pcapng)"
        );
    }

    #[test]
    fn truncated_file_headers() {
        let e = err_of(b"");
        assert!(
            matches!(
                e,
                CaptureError::TruncatedFileHeader {
                    needed: 4,
                    available: 0,
                    ..
                }
            ),
            "{e}"
        );
        let e = err_of(&pcap_header(false, false, 65535, 1)[..20]);
        assert!(
            matches!(
                e,
                CaptureError::TruncatedFileHeader {
                    format: "pcap",
                    needed: 24,
                    available: 20,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "capture.pcap: truncated file header: the pcap file header needs 24 bytes, the file has 20");
        let e = err_of(&shb(false)[..10]);
        assert!(
            matches!(
                e,
                CaptureError::TruncatedFileHeader {
                    format: "pcapng",
                    needed: 12,
                    available: 10,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn pcap_version_other_than_2_is_rejected() {
        let mut f = pcap_header(false, false, 65535, 1);
        f[4] = 3;
        let e = err_of(&f);
        assert_eq!(
            e.to_string(),
            "capture.pcap: file header at offset 0: field version_major = 3 is invalid; expected 2"
        );
    }

    fn seventeen_good_records() -> Vec<u8> {
        let mut f = pcap_header(false, false, 65535, 1);
        for i in 0..17u32 {
            f.extend(pcap_record(false, i, 0, 10, 10, &[i as u8; 10]));
        }
        f
    }

    #[test]
    fn caplen_above_snaplen_names_record_offset_and_field() {
        let mut f = seventeen_good_records();
        let offset = f.len() as u64;
        assert_eq!(offset, 24 + 17 * 26);
        f.extend(pcap_record(false, 0, 0, 70000, 70000, &[0; 70000]));
        let e = err_of(&f);
        assert!(matches!(
            e,
            CaptureError::Invalid {
                at: Location {
                    unit: Unit::Record,
                    index: 17,
                    offset: 466
                },
                field: "caplen",
                value: 70000,
                rule: Rule::ExceedsSnapLen(65535),
                ..
            }
        ));
        assert_eq!(e.to_string(), "capture.pcap: record 17 at offset 466: field caplen = 70000 exceeds the snap length 65535");
    }

    #[test]
    fn caplen_above_original_length() {
        let mut f = seventeen_good_records();
        f.extend(pcap_record(false, 0, 0, 61, 60, &[0; 61]));
        let e = err_of(&f);
        assert_eq!(e.to_string(), "capture.pcap: record 17 at offset 466: field caplen = 61 exceeds the original length 60");
        assert_eq!(e.location().map(|l| (l.index, l.offset)), Some((17, 466)));
        assert_eq!(e.field(), Some("caplen"));
    }

    #[test]
    fn caplen_above_the_record_limit() {
        let mut f = pcap_header(false, false, 0, 1);
        f.extend(pcap_record(false, 0, 0, 300 << 20, 300 << 20, &[]));
        let e = err_of(&f);
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "caplen",
                    rule: Rule::ExceedsRecordLimit(MAX_RECORD_LEN),
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn truncated_last_record_is_an_error_not_an_end_of_file() {
        let mut f = seventeen_good_records();
        f.extend(pcap_record(false, 0, 0, 100, 100, &[0; 40]));
        for hint in [None, Some(f.len() as u64)] {
            let r = CaptureReader::new(Cursor::new(f.clone()), "capture.pcap", hint).unwrap();
            let e = read_all(r).unwrap_err();
            assert!(
                matches!(
                    e,
                    CaptureError::Truncated {
                        at: Location {
                            unit: Unit::Record,
                            index: 17,
                            offset: 466
                        },
                        part: Part::RecordData,
                        field: "caplen",
                        declared: 100,
                        available: 40,
                        ..
                    }
                ),
                "{e}"
            );
            assert_eq!(e.to_string(), "capture.pcap: record 17 at offset 466: truncated record data: field caplen = 100 exceeds the 40 bytes left in the file");
        }
    }

    #[test]
    fn truncated_record_header() {
        let mut f = seventeen_good_records();
        f.extend([1, 2, 3, 4, 5, 6, 7]);
        let e = err_of(&f);
        assert!(
            matches!(
                e,
                CaptureError::Truncated {
                    at: Location {
                        index: 17,
                        offset: 466,
                        ..
                    },
                    part: Part::RecordHeader,
                    declared: 16,
                    available: 7,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "capture.pcap: record 17 at offset 466: truncated record header: field record header length = 16 exceeds the 7 bytes left in the file");
    }

    #[test]
    fn an_error_repeats_instead_of_skipping_the_bad_record() {
        let mut f = seventeen_good_records();
        f.extend(pcap_record(false, 0, 0, 61, 60, &[0; 61]));
        let mut r = CaptureReader::new(Cursor::new(f), "t", None).unwrap();
        for _ in 0..17 {
            r.next_packet().unwrap().unwrap();
        }
        let first = r.next_packet().unwrap_err().to_string();
        assert_eq!(r.next_packet().unwrap_err().to_string(), first);
    }

    /// A section with one Ethernet interface, then `tail`; returns the file and the
    /// offset of `tail` (block index 2).
    fn ng_with(tail: &[u8]) -> (Vec<u8>, u64) {
        let mut f = shb(false);
        f.extend(idb(false, 1, 65535, &[]));
        let offset = f.len() as u64;
        f.extend_from_slice(tail);
        (f, offset)
    }

    fn ng_err(tail: &[u8]) -> (CaptureError, u64) {
        let (f, offset) = ng_with(tail);
        (err_of(&f), offset)
    }

    fn raw_block(block_type: u32, total: u32, body_len: usize, trailing: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(block_type.to_le_bytes());
        b.extend(total.to_le_bytes());
        b.extend(vec![0; body_len]);
        b.extend(trailing.to_le_bytes());
        b
    }

    #[test]
    fn pcapng_block_total_length_errors() {
        let cases: [(Vec<u8>, u64, Rule); 4] = [
            (raw_block(6, 0, 0, 0), 0, Rule::Zero),
            (raw_block(6, 8, 0, 8), 8, Rule::BelowMinimum(12)),
            (raw_block(6, 34, 22, 34), 34, Rule::NotMultipleOf4),
            (raw_block(6, 28, 16, 28), 28, Rule::BelowMinimum(32)),
        ];
        for (tail, value, rule) in cases {
            let (e, offset) = ng_err(&tail);
            match e {
                CaptureError::Invalid {
                    at,
                    field,
                    value: v,
                    rule: r,
                    ..
                } => {
                    assert_eq!(
                        at,
                        Location {
                            unit: Unit::Block { block_type: 6 },
                            index: 2,
                            offset
                        }
                    );
                    assert_eq!((field, v, r), ("block_total_length", value, rule));
                }
                other => panic!("unexpected {other}"),
            }
        }
        let (e, _) = ng_err(&raw_block(6, 0, 0, 0));
        assert_eq!(e.to_string(), "capture.pcap: block 2 (Enhanced Packet Block) at offset 48: field block_total_length = 0 is zero; it must be at least 12");
    }

    #[test]
    fn pcapng_block_beyond_the_file_and_trailer_mismatch() {
        let mut short = raw_block(6, 100, 88, 100);
        short.truncate(40);
        let (f, offset) = ng_with(&short);
        for hint in [None, Some(f.len() as u64)] {
            let r = CaptureReader::new(Cursor::new(f.clone()), "n.pcapng", hint).unwrap();
            let e = read_all(r).unwrap_err();
            assert!(
                matches!(
                    e,
                    CaptureError::Truncated { at: Location { index: 2, offset: o, .. }, part: Part::BlockBody, field: "block_total_length", declared: 100, available: 40, .. } if o == offset
                ),
                "{e}"
            );
        }
        let (e, offset) = ng_err(&raw_block(3, 16, 4, 20));
        assert!(
            matches!(
                e,
                CaptureError::Invalid { at: Location { index: 2, offset: o, unit: Unit::Block { block_type: 3 } }, field: "trailing block_total_length", value: 20, rule: Rule::DiffersFromLeading(16), .. } if o == offset
            ),
            "{e}"
        );
        let (e, _) = ng_err(&[6, 0, 0, 0, 32]);
        assert!(
            matches!(
                e,
                CaptureError::Truncated {
                    part: Part::BlockHeader,
                    declared: 8,
                    available: 5,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn epb_on_an_undefined_interface() {
        let (e, offset) = ng_err(&epb(false, 3, 0, b"x", 1, &[]));
        assert!(
            matches!(
                e,
                CaptureError::Invalid { at: Location { index: 2, offset: o, .. }, field: "interface_id", value: 3, rule: Rule::UndefinedInterface(1), .. } if o == offset
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "capture.pcap: block 2 (Enhanced Packet Block) at offset 48: field interface_id = 3 names an undefined interface; this section defines 1 interface(s), ids 0..1");
        // A new section forgets the interfaces of the previous one.
        let mut tail = shb(false);
        tail.extend(epb(false, 0, 0, b"x", 1, &[]));
        let (e, _) = ng_err(&tail);
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    at: Location { index: 3, .. },
                    rule: Rule::UndefinedInterface(0),
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn epb_length_fields() {
        let (e, _) = ng_err(&block(
            false,
            EPB,
            &epb_body(false, 0, 0, 9, 9, b"abcd", &[]),
        ));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "captured_len",
                    value: 9,
                    rule: Rule::ExceedsBlockSpace(4),
                    ..
                }
            ),
            "{e}"
        );
        let (e, _) = ng_err(&epb(false, 0, 0, b"abcd", 3, &[]));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "captured_len",
                    value: 4,
                    rule: Rule::ExceedsOriginalLen(3),
                    ..
                }
            ),
            "{e}"
        );
        let mut f = shb(false);
        f.extend(idb(false, 1, 2, &[]));
        f.extend(epb(false, 0, 0, b"abcd", 4, &[]));
        let e = err_of(&f);
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "captured_len",
                    value: 4,
                    rule: Rule::ExceedsSnapLen(2),
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_option_lengths() {
        // epb_flags declaring 8 bytes with only 4 left in the block.
        let mut options = Vec::new();
        options.extend(2u16.to_le_bytes());
        options.extend(8u16.to_le_bytes());
        options.extend([1, 0, 0, 0]);
        let (e, _) = ng_err(&epb(false, 0, 0, b"x", 1, &options));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    at: Location { index: 2, .. },
                    field: "epb_flags length",
                    value: 8,
                    rule: Rule::OptionPastEnd { code: 2, left: 4 },
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "capture.pcap: block 2 (Enhanced Packet Block) at offset 48: field epb_flags length = 8 (option code 2) runs past the end of the options: 4 bytes were left for the value");
        let (e, _) = ng_err(&epb(false, 0, 0, b"x", 1, &opt(false, 2, &[1, 0])));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "epb_flags length",
                    value: 2,
                    rule: Rule::OptionSize { code: 2, size: 4 },
                    ..
                }
            ),
            "{e}"
        );
        let (e, _) = ng_err(&idb(false, 1, 0, &opt(false, 9, &[6, 6])));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "if_tsresol length",
                    value: 2,
                    ..
                }
            ),
            "{e}"
        );
        let (e, _) = ng_err(&idb(false, 1, 0, &opt(false, 14, &[0; 4])));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "if_tsoffset length",
                    value: 4,
                    rule: Rule::OptionSize { code: 14, size: 8 },
                    ..
                }
            ),
            "{e}"
        );
        let (e, _) = ng_err(&idb(false, 1, 0, &opt(false, 9, &[20])));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "if_tsresol",
                    value: 20,
                    ..
                }
            ),
            "{e}"
        );
        let mut unknown = Vec::new();
        unknown.extend(77u16.to_le_bytes());
        unknown.extend(100u16.to_le_bytes());
        let (e, _) = ng_err(&idb(false, 1, 0, &unknown));
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "option length",
                    value: 100,
                    rule: Rule::OptionPastEnd { code: 77, left: 0 },
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn section_header_checks() {
        let mut f = shb(false);
        f[8..12].copy_from_slice(&[1, 2, 3, 4]);
        let e = err_of(&f);
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    at: Location {
                        index: 0,
                        offset: 0,
                        ..
                    },
                    field: "byte_order_magic",
                    value: 0x01020304,
                    ..
                }
            ),
            "{e}"
        );
        let mut f = shb(true);
        f[12..14].copy_from_slice(&2u16.to_be_bytes());
        let e = err_of(&f);
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    field: "major_version",
                    value: 2,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn simple_packet_block_needs_interface_zero() {
        let mut f = shb(false);
        let mut spb = Vec::new();
        spb.extend(4u32.to_le_bytes());
        spb.extend([1; 4]);
        f.extend(block(false, SPB, &spb));
        let e = err_of(&f);
        assert!(
            matches!(
                e,
                CaptureError::Invalid {
                    at: Location {
                        index: 1,
                        offset: 28,
                        ..
                    },
                    rule: Rule::UndefinedInterface(0),
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn tsresol_conversions() {
        assert_eq!(TickScale::from_tsresol(6).unwrap().to_ns(7), 7000);
        assert_eq!(TickScale::from_tsresol(0).unwrap().to_ns(7), 7_000_000_000);
        assert_eq!(
            TickScale::from_tsresol(19).unwrap().to_ns(10_000_000_000),
            1
        );
        assert_eq!(
            TickScale::from_tsresol(0x80 | 30).unwrap().to_ns(1 << 30),
            1_000_000_000
        );
        assert_eq!(
            TickScale::from_tsresol(0x80 | 63).unwrap().to_ns(u64::MAX),
            1_999_999_999
        );
        assert_eq!(TickScale::from_tsresol(20), None);
        assert_eq!(TickScale::from_tsresol(0x80 | 64), None);
    }

    fn sample_pcapng() -> Vec<u8> {
        let mut f = shb(false);
        f.extend(idb(false, 1, 128, &opt(false, 9, &[9])));
        f.extend(idb(false, 101, 0, &opt(false, 14, &5i64.to_le_bytes())));
        f.extend(epb(
            false,
            0,
            1,
            &[1; 40],
            60,
            &opt(false, 2, &1u32.to_le_bytes()),
        ));
        f.extend(epb(false, 1, 2, &[2; 7], 7, &[]));
        f.extend(block(
            false,
            SPB,
            &[10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0],
        ));
        f.extend(shb(true));
        f.extend(idb(true, 1, 0, &[]));
        f.extend(epb(true, 0, 3, &[3; 13], 13, &[]));
        f
    }

    fn sample_pcap() -> Vec<u8> {
        let mut f = pcap_header(true, true, 200, 1);
        f.extend(pcap_record(true, 1, 2, 30, 30, &[4; 30]));
        f.extend(pcap_record(true, 3, 4, 0, 10, &[]));
        f
    }

    fn drain(bytes: &[u8], buffer: usize, hint: Option<u64>, chunk: usize) {
        let source = Trickle {
            data: bytes.to_vec(),
            pos: 0,
            chunk: chunk.max(1),
        };
        if let Ok(mut r) = CaptureReader::with_buffer_size(source, "fuzz", hint, buffer) {
            for _ in 0..10_000 {
                match r.next_packet() {
                    Ok(Some(p)) => assert!(p.data.len() <= bytes.len()),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn samples_read_cleanly() {
        assert_eq!(read_every_way(&sample_pcapng()).unwrap().len(), 4);
        assert_eq!(read_every_way(&sample_pcap()).unwrap().len(), 2);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), buffer in 0usize..300, chunk in 1usize..64, hint in proptest::option::of(0u64..1000)) {
            drain(&bytes, buffer, hint, chunk);
            // Also behind a valid magic, so parsing gets past the file header.
            for magic in [&[0xd4u8, 0xc3, 0xb2, 0xa1][..], &[0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a]] {
                let mut b = magic.to_vec();
                b.extend_from_slice(&bytes);
                drain(&b, buffer, hint, chunk);
            }
        }

        #[test]
        fn mutated_captures_never_panic(edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8), cut in any::<u16>(), buffer in 0usize..200, ng in any::<bool>()) {
            let mut f = if ng { sample_pcapng() } else { sample_pcap() };
            for (at, value) in edits {
                let i = at as usize % f.len();
                f[i] = value;
            }
            let keep = f.len() - (cut as usize % 8).min(f.len());
            f.truncate(keep);
            drain(&f, buffer, Some(f.len() as u64), 5);
            drain(&f, buffer, None, 1 << 16);
        }
    }
}
