//! The capture room: streaming pcap/pcapng reading, pcap/pcapng writing, and the
//! vendor timestamp trailers capture gear appends to frames.
//!
//! [`CaptureReader`] reads classic pcap (microsecond and nanosecond, either byte
//! order) and pcapng (several sections and interfaces, any `if_tsresol`, Enhanced,
//! Simple and obsolete Packet Blocks) from any [`std::io::Read`] through one fixed-size
//! buffer, lending each [`Packet`] out of that buffer: a capture larger than memory
//! streams at close to the speed of the disk, with no allocation per packet.
//! [`CaptureWriter`] (or [`PcapWriter`] / [`PcapngWriter`] directly) writes captures
//! that tcpdump, tshark and our reader read back identically. [`trailer`] parses and
//! builds Arista 7130 (Metamako) and Exablaze timestamp trailers.
//!
//! This room must never panic on any input, never allocate according to a length the
//! file declares before the bytes are really there, and never report a file that ends
//! inside a record as a clean end of file. It does not interpret packet bytes: link
//! types pass through as [`LinkType`] for the dissector to judge.
//!
//! ```
//! use std::io::Cursor;
//! use ticklab::capture::{CaptureReader, LinkType, PcapngWriter, InterfaceDescription, Direction};
//!
//! let interfaces = [InterfaceDescription { link_type: LinkType::ETHERNET, snap_len: 65535, name: None }];
//! let mut writer = PcapngWriter::new(Vec::new(), &interfaces)?;
//! writer.write_packet(0, 1_700_000_000_123_456_789, b"frame bytes", 11, Some(Direction::Inbound))?;
//! let bytes = writer.finish()?;
//!
//! let mut reader = CaptureReader::new(Cursor::new(bytes), "example.pcapng", None)?;
//! let packet = reader.next_packet()?.expect("one packet");
//! assert_eq!(packet.timestamp_ns, 1_700_000_000_123_456_789);
//! assert_eq!(packet.data, b"frame bytes");
//! assert_eq!(packet.direction, Some(Direction::Inbound));
//! assert!(reader.next_packet()?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod reader;
pub mod trailer;
mod writer;

pub use error::{block_type_name, CaptureError, Location, Part, Rule, Unit};
pub use reader::{CaptureReader, DEFAULT_BUFFER_SIZE, MAX_RECORD_LEN, MIN_BUFFER_SIZE};
pub use writer::{CaptureWriter, InterfaceDescription, PcapWriter, PcapngWriter};

use std::fmt;

/// A link-layer header type (the `LINKTYPE_*` registry of tcpdump.org), as stored in
/// the pcap file header or a pcapng Interface Description Block. Any value is
/// accepted; deciding whether it can be dissected is the dissector's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback: a 4-byte host-order protocol family, then the packet.
    pub const NULL: LinkType = LinkType(0);
    /// IEEE 802.3 Ethernet (tcpdump's `EN10MB`).
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP.
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP, version from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte network-order protocol family.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture, version 1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux "cooked" capture, version 2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The registry name without its `LINKTYPE_` prefix, for the types ticklab knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NULL",
            1 => "ETHERNET",
            9 => "PPP",
            101 => "RAW",
            105 => "IEEE802_11",
            108 => "LOOP",
            113 => "LINUX_SLL",
            127 => "IEEE802_11_RADIOTAP",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{} (unknown link type)", self.0),
        }
    }
}

/// Which way a packet crossed the capturing interface (pcapng `epb_flags` bits 0-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    /// The direction encoded in bits 0-1 of an `epb_flags` word: 1 inbound,
    /// 2 outbound; 0 (not available) and 3 (invalid) give `None`.
    pub fn from_epb_flags(flags: u32) -> Option<Direction> {
        match flags & 0b11 {
            1 => Some(Direction::Inbound),
            2 => Some(Direction::Outbound),
            _ => None,
        }
    }

    /// The `epb_flags` bits 0-1 for this direction.
    pub fn epb_flags(self) -> u32 {
        match self {
            Direction::Inbound => 1,
            Direction::Outbound => 2,
        }
    }
}

/// One captured packet, borrowed from the reader's buffer until the next call to
/// [`CaptureReader::next_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// 0-based record index (pcap) or block index (pcapng, counting every block,
    /// section headers and interface descriptions included).
    pub index: u64,
    /// Byte offset of the record or block in the file.
    pub offset: u64,
    /// Byte offset of the first captured byte in the file, so a decoder of the
    /// packet can name the file offset of a bad field.
    pub data_offset: u64,
    /// Nanoseconds since the Unix epoch, `if_tsoffset` applied. Simple Packet Blocks
    /// carry no timestamp: their packets have `timestamp_ns == 0`.
    pub timestamp_ns: i64,
    /// pcapng interface id within its section (0 for pcap and Simple Packet Blocks).
    pub interface: u32,
    pub link_type: LinkType,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The length of the packet on the wire.
    pub original_len: u32,
    /// From `epb_flags` (or the obsolete Packet Block's `pack_flags`); `None` when the
    /// file does not say.
    pub direction: Option<Direction>,
}

/// The container format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap; `nanos` for the 0xa1b23c4d magic, `big_endian` for the byte
    /// order the file was written in.
    Pcap { nanos: bool, big_endian: bool },
    /// pcapng; the byte order may change from section to section.
    Pcapng,
}
