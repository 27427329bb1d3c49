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
    let caplen = if snap_len == 0 {
        len
    } else {
        len.min(snap_len)
    };
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
    pub fn write_packet(
        &mut self,
        timestamp_ns: i64,
        data: &[u8],
        original_len: u32,
    ) -> io::Result<()> {
        let seconds = u32::try_from(timestamp_ns.div_euclid(NANOS_PER_SECOND)).map_err(|_| {
            invalid_input(format!(
                "timestamp {timestamp_ns} ns is outside classic pcap's range (1970 to 2106)"
            ))
        })?;
        let nanos = timestamp_ns.rem_euclid(NANOS_PER_SECOND) as u32;
        let caplen = captured_len(data, self.snap_len, original_len)?;
        let mut head = [0u8; 16];
        for (slot, word) in head
            .chunks_exact_mut(4)
            .zip([seconds, nanos, caplen, original_len])
        {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureReader, Format};
    use proptest::prelude::*;
    use std::io::Cursor;

    type Row = (u32, i64, Vec<u8>, u32, Option<Direction>);

    fn read_back(bytes: &[u8]) -> Vec<Row> {
        let mut r = CaptureReader::with_buffer_size(
            Cursor::new(bytes.to_vec()),
            "t",
            Some(bytes.len() as u64),
            64,
        )
        .unwrap();
        let mut rows = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            rows.push((
                p.interface,
                p.timestamp_ns,
                p.data.to_vec(),
                p.original_len,
                p.direction,
            ));
        }
        rows
    }

    fn interfaces() -> [InterfaceDescription; 3] {
        [
            InterfaceDescription {
                link_type: LinkType::ETHERNET,
                snap_len: 0,
                name: Some("eth0".into()),
            },
            InterfaceDescription {
                link_type: LinkType::RAW,
                snap_len: 16,
                name: None,
            },
            InterfaceDescription {
                link_type: LinkType::LINUX_SLL2,
                snap_len: 65535,
                name: Some("any-interface".into()),
            },
        ]
    }

    #[test]
    fn pcapng_round_trip_with_directions_and_interfaces() {
        let rows: Vec<Row> = vec![
            (
                0,
                1_700_000_000_123_456_789,
                vec![1; 61],
                64,
                Some(Direction::Inbound),
            ),
            (1, 5, vec![2; 16], 1500, Some(Direction::Outbound)),
            (2, 0, vec![], 0, None),
            (0, i64::MAX, vec![3; 3], 3, None),
        ];
        let mut w = PcapngWriter::new(Vec::new(), &interfaces()).unwrap();
        for (iface, ts, data, orig, dir) in &rows {
            w.write_packet(*iface, *ts, data, *orig, *dir).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(read_back(&bytes), rows);
    }

    #[test]
    fn snap_length_cuts_and_bad_inputs_are_refused() {
        let mut w = PcapngWriter::new(Vec::new(), &interfaces()).unwrap();
        w.write_packet(1, 0, &[7; 40], 40, None).unwrap();
        assert_eq!(
            w.write_packet(3, 0, b"", 0, None).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            w.write_packet(0, -1, b"", 0, None).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            w.write_packet(0, 0, b"ab", 1, None).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let bytes = w.finish().unwrap();
        assert_eq!(read_back(&bytes), vec![(1, 0, vec![7; 16], 40, None)]);

        let mut p = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 4).unwrap();
        p.write_packet(4_294_967_295_999_999_999, b"abcdef", 6)
            .unwrap();
        assert!(p.write_packet(4_294_967_296_000_000_000, b"", 0).is_err());
        assert!(p.write_packet(-1, b"", 0).is_err());
        let bytes = p.finish().unwrap();
        assert_eq!(
            read_back(&bytes),
            vec![(0, 4_294_967_295_999_999_999, b"abcd".to_vec(), 6, None)]
        );
    }

    #[test]
    fn pcap_header_bytes_follow_the_specification() {
        // draft-ietf-opsawg-pcap section 4: magic, 2.4, zone, sigfigs, snaplen, linktype.
        let bytes = PcapWriter::new(Vec::new(), LinkType::LINUX_SLL, 262_144)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(
            bytes,
            [
                0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 113, 0, 0,
                0
            ]
        );
        let r = CaptureReader::new(Cursor::new(bytes), "t", None).unwrap();
        assert_eq!(
            r.format(),
            Format::Pcap {
                nanos: true,
                big_endian: false
            }
        );
    }

    #[test]
    fn capture_writer_picks_format_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        for (name, format) in [
            ("a.pcapng", Format::Pcapng),
            ("b.NTAR", Format::Pcapng),
            (
                "c.pcap",
                Format::Pcap {
                    nanos: true,
                    big_endian: false,
                },
            ),
            (
                "d.cap",
                Format::Pcap {
                    nanos: true,
                    big_endian: false,
                },
            ),
        ] {
            let path = dir.path().join(name);
            let mut w = CaptureWriter::create(&path, LinkType::ETHERNET, 0).unwrap();
            w.write_packet(9, b"xyz", 3, Some(Direction::Inbound))
                .unwrap();
            w.finish().unwrap();
            let mut r = CaptureReader::open(&path).unwrap();
            assert_eq!(r.format(), format, "{name}");
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(
                (p.timestamp_ns, p.data, p.original_len),
                (9, &b"xyz"[..], 3)
            );
            let expected_dir = if format == Format::Pcapng {
                Some(Direction::Inbound)
            } else {
                None
            };
            assert_eq!(p.direction, expected_dir);
        }
        let err = CaptureWriter::create(&dir.path().join("e.txt"), LinkType::ETHERNET, 0)
            .err()
            .unwrap();
        assert!(!err.is_data_error());
        assert!(err.to_string().ends_with(
            "e.txt: cannot tell the capture format from the extension \"txt\"; valid extensions are .pcapng, .ntar (pcapng) and .pcap, .cap (pcap)"
        ), "{err}");
        let err = CaptureWriter::create(&dir.path().join("missing/x.pcap"), LinkType::ETHERNET, 0)
            .err()
            .unwrap();
        assert!(matches!(err, CaptureError::Io { .. }));
    }

    /// Our reader and the independent `pcap-parser` crate agree on what we write.
    fn cross_check_pcapng(bytes: &[u8]) {
        use pcap_parser::pcapng::Block;
        let capture =
            pcap_parser::PcapNGCapture::from_file(bytes).expect("pcap-parser reads our pcapng");
        let mut theirs = Vec::new();
        for section in &capture.sections {
            let mut resolutions = Vec::new();
            for block in &section.blocks {
                match block {
                    Block::InterfaceDescription(idb) => {
                        resolutions.push(idb.ts_resolution().unwrap())
                    }
                    Block::EnhancedPacket(epb) => {
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let per_second = resolutions[epb.if_id as usize];
                        let ns =
                            (u128::from(ticks) * 1_000_000_000 / u128::from(per_second)) as i64;
                        let flags = epb
                            .options
                            .iter()
                            .find(|o| o.code == pcap_parser::pcapng::OptionCode(2))
                            .map(|o| u32::from_le_bytes(o.value[..4].try_into().unwrap()));
                        theirs.push((
                            epb.if_id,
                            ns,
                            epb.data[..epb.caplen as usize].to_vec(),
                            epb.origlen,
                            flags.and_then(Direction::from_epb_flags),
                        ));
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(read_back(bytes), theirs);
    }

    fn cross_check_pcap(bytes: &[u8]) {
        let capture =
            pcap_parser::PcapCapture::from_file(bytes).expect("pcap-parser reads our pcap");
        assert!(capture.header.is_nanosecond_precision());
        let theirs: Vec<Row> = capture
            .blocks
            .iter()
            .map(|b| {
                (
                    0,
                    i64::from(b.ts_sec) * 1_000_000_000 + i64::from(b.ts_usec),
                    b.data.to_vec(),
                    b.origlen,
                    None,
                )
            })
            .collect();
        assert_eq!(read_back(bytes), theirs);
    }

    fn arb_packet() -> impl Strategy<Value = (u32, i64, Vec<u8>, u32, Option<Direction>)> {
        (
            0u32..3,
            0i64..4_000_000_000_000_000_000,
            proptest::collection::vec(any::<u8>(), 0..100),
            0u32..200,
            prop_oneof![
                Just(None),
                Just(Some(Direction::Inbound)),
                Just(Some(Direction::Outbound))
            ],
        )
            .prop_map(|(i, ts, data, extra, dir)| {
                let orig = data.len() as u32 + extra;
                (i, ts, data, orig, dir)
            })
    }

    proptest! {
        #[test]
        fn written_files_read_back_and_agree_with_pcap_parser(packets in proptest::collection::vec(arb_packet(), 0..20)) {
            let ifaces = [
                InterfaceDescription { link_type: LinkType::ETHERNET, snap_len: 0, name: None },
                InterfaceDescription { link_type: LinkType::RAW, snap_len: 0, name: Some("x".into()) },
                InterfaceDescription { link_type: LinkType::IPV4, snap_len: 0, name: None },
            ];
            let mut ng = PcapngWriter::new(Vec::new(), &ifaces).unwrap();
            let mut pcap = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 0).unwrap();
            for (iface, ts, data, orig, dir) in &packets {
                ng.write_packet(*iface, *ts, data, *orig, *dir).unwrap();
                pcap.write_packet(*ts, data, *orig).unwrap();
            }
            let ng = ng.finish().unwrap();
            let pcap = pcap.finish().unwrap();
            prop_assert_eq!(&read_back(&ng), &packets);
            let without_direction: Vec<Row> = packets.iter().map(|(_, ts, d, o, _)| (0, *ts, d.clone(), *o, None)).collect();
            prop_assert_eq!(&read_back(&pcap), &without_direction);
            cross_check_pcapng(&ng);
            cross_check_pcap(&pcap);
        }
    }
}
