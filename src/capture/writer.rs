//! Capture writers: nanosecond pcapng ([`PcapngWriter`]), nanosecond classic pcap
//! ([`PcapWriter`]), and [`CaptureWriter`], which picks one from a file's extension
//! and writes through a large buffer so multi-gigabyte captures go out at disk speed.
//!
//! Everything written is little-endian and reads back bit-identically through
//! [`super::CaptureReader`], tcpdump and tshark. A writer must never produce a file
//! our reader would reject: packets longer than the snap length are cut to it (as a
//! capture would be), and impossible inputs (a captured length above the original
//! length, a timestamp the format cannot hold, an undefined interface) are refused
//! with `io::ErrorKind::InvalidInput` instead of being written.
//!
//! ```
//! use ticklab::capture::{CaptureWriter, CaptureReader, Direction, LinkType};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("out.pcapng");
//! let mut writer = CaptureWriter::create(&path, LinkType::ETHERNET, 262_144)?;
//! writer.write_packet(1_700_000_000_000_000_001, &[0u8; 60], 64, Some(Direction::Outbound))?;
//! writer.finish()?;
//!
//! let mut reader = CaptureReader::open(&path)?;
//! let packet = reader.next_packet()?.expect("a packet");
//! assert_eq!((packet.timestamp_ns, packet.data.len(), packet.original_len), (1_700_000_000_000_000_001, 60, 64));
//! assert_eq!(packet.direction, Some(Direction::Outbound));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{CaptureError, Direction, LinkType};

/// Buffer size of [`CaptureWriter`]'s file writer.
const WRITE_BUFFER_SIZE: usize = 1 << 20;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The captured length for `data` under `snap_len` (0 = unlimited), checked against
/// `original_len`.
fn captured_len(data: &[u8], snap_len: u32, original_len: u32) -> io::Result<u32> {
    let len = u32::try_from(data.len()).map_err(|_| {
        invalid_input(format!(
            "packet of {} bytes is larger than any capture format allows",
            data.len()
        ))
    })?;
    let caplen = if snap_len == 0 { len } else { len.min(snap_len) };
    if caplen > original_len {
        return Err(invalid_input(format!(
            "captured length {caplen} exceeds the original length {original_len}"
        )));
    }
    Ok(caplen)
}

/// One interface of a pcapng file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceDescription {
    pub link_type: LinkType,
    /// Longest captured length; 0 means unlimited.
    pub snap_len: u32,
    /// Written as the `if_name` option when given.
    pub name: Option<String>,
}

/// Writes pcapng: one Section Header Block, one Interface Description Block per
/// interface (each with `if_tsresol` = 9, nanoseconds), then Enhanced Packet Blocks.
pub struct PcapngWriter<W: Write> {
    out: W,
    snap_lens: Vec<u32>,
}

fn option_bytes(code: u16, value: &[u8], into: &mut Vec<u8>) -> io::Result<()> {
    let len = u16::try_from(value.len())
        .map_err(|_| invalid_input(format!("option value of {} bytes is too long", value.len())))?;
    into.extend_from_slice(&code.to_le_bytes());
    into.extend_from_slice(&len.to_le_bytes());
    into.extend_from_slice(value);
    into.resize(into.len().next_multiple_of(4), 0);
    Ok(())
}

/// Frames `body` (everything between the total length and its trailing copy) as a
/// block of `block_type`.
fn block_bytes(block_type: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut block = Vec::with_capacity(total as usize);
    block.extend_from_slice(&block_type.to_le_bytes());
    block.extend_from_slice(&total.to_le_bytes());
    block.extend_from_slice(body);
    block.extend_from_slice(&total.to_le_bytes());
    block
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block and the interfaces' description blocks.
    pub fn new(mut out: W, interfaces: &[InterfaceDescription]) -> io::Result<Self> {
        let mut shb = Vec::with_capacity(64);
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes()); // section length not given
        option_bytes(4, b"ticklab", &mut shb)?; // shb_userappl
        option_bytes(0, &[], &mut shb)?;
        out.write_all(&block_bytes(0x0A0D_0D0A, &shb))?;

        for interface in interfaces {
            let mut idb = Vec::with_capacity(64);
            idb.extend_from_slice(&interface.link_type.0.to_le_bytes());
            idb.extend_from_slice(&0u16.to_le_bytes());
            idb.extend_from_slice(&interface.snap_len.to_le_bytes());
            if let Some(name) = &interface.name {
                option_bytes(2, name.as_bytes(), &mut idb)?; // if_name
            }
            option_bytes(9, &[9], &mut idb)?; // if_tsresol: 10^-9 s
            option_bytes(0, &[], &mut idb)?;
            out.write_all(&block_bytes(1, &idb))?;
        }
        Ok(PcapngWriter {
            out,
            snap_lens: interfaces.iter().map(|i| i.snap_len).collect(),
        })
    }

    /// Writes one Enhanced Packet Block; `direction` becomes an `epb_flags` option.
    /// `timestamp_ns` must not be negative (pcapng timestamps count up from 1970).
    #[inline]
    pub fn write_packet(
        &mut self,
        interface: u32,
        timestamp_ns: i64,
        data: &[u8],
        original_len: u32,
        direction: Option<Direction>,
    ) -> io::Result<()> {
        let Some(&snap_len) = self.snap_lens.get(interface as usize) else {
            return Err(invalid_input(format!(
                "interface {interface} is not defined; this writer has {} interface(s)",
                self.snap_lens.len()
            )));
        };
        let ticks = u64::try_from(timestamp_ns).map_err(|_| {
            invalid_input(format!(
                "timestamp {timestamp_ns} ns is before 1970, which pcapng cannot hold"
            ))
        })?;
        let caplen = captured_len(data, snap_len, original_len)?;
        let padded = (caplen as usize).next_multiple_of(4);
        let options_len = if direction.is_some() { 12 } else { 0 };
        let total = (32 + padded + options_len) as u32;

        let mut head = [0u8; 28];
        for (slot, word) in head.chunks_exact_mut(4).zip([
            6,
            total,
            interface,
            (ticks >> 32) as u32,
            ticks as u32,
            caplen,
            original_len,
        ]) {
            slot.copy_from_slice(&word.to_le_bytes());
        }
        // Padding, epb_flags option, opt_endofopt, trailing total length.
        let mut tail = [0u8; 3 + 12 + 4];
        let mut n = padded - caplen as usize;
        if let Some(direction) = direction {
            tail[n..n + 2].copy_from_slice(&2u16.to_le_bytes());
            tail[n + 2..n + 4].copy_from_slice(&4u16.to_le_bytes());
            tail[n + 4..n + 8].copy_from_slice(&direction.epb_flags().to_le_bytes());
            n += 12; // the 4 zero bytes after the value are opt_endofopt
        }
        tail[n..n + 4].copy_from_slice(&total.to_le_bytes());
        n += 4;

        self.out.write_all(&head)?;
        self.out.write_all(&data[..caplen as usize])?;
        self.out.write_all(&tail[..n])
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes classic pcap with the nanosecond magic (0xa1b23c4d), little-endian.
pub struct PcapWriter<W: Write> {
    out: W,
    snap_len: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte file header.
    pub fn new(mut out: W, link_type: LinkType, snap_len: u32) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        header[16..20].copy_from_slice(&snap_len.to_le_bytes());
        header[20..24].copy_from_slice(&u32::from(link_type.0).to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out, snap_len })
    }

    /// Writes one record. Classic pcap holds seconds as an unsigned 32-bit number, so
    /// `timestamp_ns` must lie in 1970-01-01 ..= 2106-02-07.
    #[inline]
    pub fn write_packet(&mut self, timestamp_ns: i64, data: &[u8], original_len: u32) -> io::Result<()> {
        let seconds = u32::try_from(timestamp_ns.div_euclid(NANOS_PER_SECOND)).map_err(|_| {
            invalid_input(format!(
                "timestamp {timestamp_ns} ns is outside classic pcap's range (1970 to 2106)"
            ))
        })?;
        let nanos = timestamp_ns.rem_euclid(NANOS_PER_SECOND) as u32;
        let caplen = captured_len(data, self.snap_len, original_len)?;
        let mut head = [0u8; 16];
        for (slot, word) in head.chunks_exact_mut(4).zip([seconds, nanos, caplen, original_len]) {
            slot.copy_from_slice(&word.to_le_bytes());
        }
        self.out.write_all(&head)?;
        self.out.write_all(&data[..caplen as usize])
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A capture file being written, in the format its extension names: pcapng for
/// `.pcapng` / `.ntar`, nanosecond pcap for `.pcap` / `.cap` (case-insensitive).
pub enum CaptureWriter {
    Pcap {
        writer: PcapWriter<BufWriter<File>>,
        path: PathBuf,
    },
    Pcapng {
        writer: PcapngWriter<BufWriter<File>>,
        path: PathBuf,
    },
}

impl CaptureWriter {
    /// Creates (or truncates) `path` and writes the file header; pcapng files get
    /// one interface with `link_type` and `snap_len`.
    pub fn create(path: &Path, link_type: LinkType, snap_len: u32) -> Result<Self, CaptureError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let pcapng = match extension.as_str() {
            "pcapng" | "ntar" => true,
            "pcap" | "cap" => false,
            _ => {
                return Err(CaptureError::UnknownExtension {
                    path: path.to_path_buf(),
                    extension: path
                        .extension()
                        .map(|e| e.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                })
            }
        };
        let io_err = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(io_err)?;
        let out = BufWriter::with_capacity(WRITE_BUFFER_SIZE, file);
        let path = path.to_path_buf();
        Ok(if pcapng {
            let interface = InterfaceDescription {
                link_type,
                snap_len,
                name: None,
            };
            let writer = PcapngWriter::new(out, &[interface]).map_err(io_err)?;
            CaptureWriter::Pcapng { writer, path }
        } else {
            let writer = PcapWriter::new(out, link_type, snap_len).map_err(io_err)?;
            CaptureWriter::Pcap { writer, path }
        })
    }

    /// Writes one packet. Classic pcap has no direction field: there `direction` is
    /// dropped.
    #[inline]
    pub fn write_packet(
        &mut self,
        timestamp_ns: i64,
        data: &[u8],
        original_len: u32,
        direction: Option<Direction>,
    ) -> Result<(), CaptureError> {
        let (result, path) = match self {
            CaptureWriter::Pcap { writer, path } => {
                (writer.write_packet(timestamp_ns, data, original_len), path)
            }
            CaptureWriter::Pcapng { writer, path } => (
                writer.write_packet(0, timestamp_ns, data, original_len, direction),
                path,
            ),
        };
        result.map_err(|source| CaptureError::Io {
            path: path.clone(),
            source,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        match self {
            CaptureWriter::Pcap { path, .. } | CaptureWriter::Pcapng { path, .. } => path,
        }
    }

    /// Flushes everything to the file.
    pub fn finish(self) -> Result<(), CaptureError> {
        let (result, path) = match self {
            CaptureWriter::Pcap { writer, path } => (finish_file(writer.finish()), path),
            CaptureWriter::Pcapng { writer, path } => (finish_file(writer.finish()), path),
        };
        result.map_err(|source| CaptureError::Io { path, source })
    }
}

fn finish_file(out: io::Result<BufWriter<File>>) -> io::Result<()> {
    out?.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}
