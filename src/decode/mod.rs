//! The offline dissector behind `ticklab decode`: capture record → frame → IPv4 →
//! UDP/TCP → MoldUDP64/ITCH, SoupBinTCP/OUCH or FIX → one line (or JSON object) per
//! message, or counts per protocol and message type.
//!
//! It is strict about what it recognises and honest about what it does not: a
//! malformed MoldUDP64 packet or a short ITCH message is an error naming the file,
//! the record, the byte offset in the file and the field; traffic that is not a
//! trading protocol (ARP, DNS, an unknown TCP stream) is counted, never hidden.
//! It never allocates per message: printers write into one reusable buffer, and the
//! statistics path counts ITCH messages by type byte without decoding their fields.
//!
//! ```no_run
//! use ticklab::decode::{decode_file, Mode, Options};
//! let mut out = std::io::stdout().lock();
//! let stats = decode_file("feed.pcapng".as_ref(), &Options::default(), Mode::Stats, &mut out, &mut |_| {})?;
//! println!("{} ITCH messages", stats.itch_messages());
//! # Ok::<(), ticklab::decode::DecodeError>(())
//! ```

pub mod print;
pub mod tcp;

use crate::capture::{CaptureError, CaptureReader, LinkType, Packet};
use crate::codec::{self, Describe};
use crate::proto::{fix, itch50, moldudp64, ouch42, ouch50, soupbintcp, OuchVersion};
use crate::wire::{self, TcpFlags, Transport};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use tcp::{Accepted, FlowKey, Origin, Stream};

/// What `ticklab decode` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One human-readable line per message.
    Lines,
    /// One JSON object per message.
    Json,
    /// Nothing per message; the caller prints the returned [`Stats`].
    Stats,
}

/// Dissector options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The OUCH version SoupBinTCP data packets carry; `None` tells 4.2 from 5.0
    /// per flow by message length (see `ouch_version_of`).
    pub ouch: Option<OuchVersion>,
    /// When set, only UDP datagrams to these destination ports are decoded as
    /// MoldUDP64 (others are counted as other UDP). When empty, any UDP datagram whose
    /// header looks like MoldUDP64 (a printable session name) is decoded as one.
    pub moldudp64_ports: Vec<u16>,
}

/// A decode failure, located in the file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{path}: record {record} at offset {offset}: {}", error.detail())]
    Protocol {
        path: PathBuf,
        record: u64,
        /// Byte offset of the failing field in the file.
        offset: u64,
        /// The decoder's error; its own offset is relative to the decoder's buffer.
        error: codec::Error,
    },
    #[error(
        "{path}: record {record} at offset {offset}: field link_type: {link_type} is not a link type ticklab dissects; \
         valid: ETHERNET (1), RAW (101), IPV4 (228), LINUX_SLL (113), LINUX_SLL2 (276)"
    )]
    UnsupportedLinkType {
        path: PathBuf,
        record: u64,
        offset: u64,
        link_type: String,
    },
    #[error("writing the output: {0}")]
    Output(#[source] std::io::Error),
}

impl DecodeError {
    /// True when the input is at fault (exit code 65), false for I/O trouble.
    pub fn is_data_error(&self) -> bool {
        match self {
            DecodeError::Capture(e) => e.is_data_error(),
            DecodeError::Protocol { .. } | DecodeError::UnsupportedLinkType { .. } => true,
            DecodeError::Output(_) => false,
        }
    }
}

/// Counts of everything the dissector saw.
#[derive(Debug, Clone)]
pub struct Stats {
    pub records: u64,
    pub captured_bytes: u64,
    pub first_timestamp_ns: Option<i64>,
    pub last_timestamp_ns: Option<i64>,
    /// ITCH 5.0 messages by type byte.
    pub itch: Box<[u64; 256]>,
    pub moldudp64_packets: u64,
    pub moldudp64_heartbeats: u64,
    pub moldudp64_end_of_session: u64,
    pub moldudp64_requests: u64,
    /// Packets whose first sequence number was beyond the next expected one, and the
    /// number of messages so skipped; packets that repeated earlier sequence numbers.
    pub moldudp64_gaps: u64,
    pub moldudp64_missing: u64,
    pub moldudp64_repeats: u64,
    /// Messages of the session protocols, by (protocol, kind).
    pub session: BTreeMap<(&'static str, &'static str), u64>,
    pub non_ip: u64,
    pub other_ip: u64,
    pub ip_fragments: u64,
    pub other_udp: u64,
    pub other_tcp_bytes: u64,
    pub tcp_gaps: u64,
    pub tcp_bytes_skipped: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            records: 0,
            captured_bytes: 0,
            first_timestamp_ns: None,
            last_timestamp_ns: None,
            itch: Box::new([0; 256]),
            moldudp64_packets: 0,
            moldudp64_heartbeats: 0,
            moldudp64_end_of_session: 0,
            moldudp64_requests: 0,
            moldudp64_gaps: 0,
            moldudp64_missing: 0,
            moldudp64_repeats: 0,
            session: BTreeMap::new(),
            non_ip: 0,
            other_ip: 0,
            ip_fragments: 0,
            other_udp: 0,
            other_tcp_bytes: 0,
            tcp_gaps: 0,
            tcp_bytes_skipped: 0,
        }
    }
}

impl Stats {
    /// All ITCH messages counted.
    pub fn itch_messages(&self) -> u64 {
        self.itch.iter().sum()
    }

    /// Total protocol messages counted (ITCH plus session protocols, not envelopes).
    pub fn messages(&self) -> u64 {
        self.itch_messages()
            + self
                .session
                .iter()
                .filter(|((p, _), _)| *p != "soupbintcp")
                .map(|(_, n)| n)
                .sum::<u64>()
    }

    /// `protocol -> kind -> count`, the shape of `--stats --json`.
    pub fn by_protocol(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        let mut out: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
        for (t, &n) in self.itch.iter().enumerate() {
            if n > 0 {
                let t = t as u8;
                let kind = match itch50::message_name(t) {
                    Some(name) => name.to_string(),
                    None => format!("Unknown(0x{t:02x})"),
                };
                out.entry("itch50").or_default().insert(kind, n);
            }
        }
        let mold = [
            ("Packet", self.moldudp64_packets),
            ("Heartbeat", self.moldudp64_heartbeats),
            ("EndOfSession", self.moldudp64_end_of_session),
            ("Request", self.moldudp64_requests),
        ];
        for (kind, n) in mold {
            if n > 0 {
                out.entry("moldudp64").or_default().insert(kind.into(), n);
            }
        }
        for (&(p, k), &n) in &self.session {
            out.entry(p).or_default().insert(k.into(), n);
        }
        out
    }

    /// The `--stats --json` object.
    pub fn to_json(&self, file: &Path) -> serde_json::Value {
        serde_json::json!({
            "file": file.display().to_string(),
            "records": self.records,
            "captured_bytes": self.captured_bytes,
            "first_timestamp_ns": self.first_timestamp_ns,
            "last_timestamp_ns": self.last_timestamp_ns,
            "messages": self.messages(),
            "protocols": self.by_protocol(),
            "moldudp64_sequence": {
                "gaps": self.moldudp64_gaps,
                "missing_messages": self.moldudp64_missing,
                "repeated_packets": self.moldudp64_repeats,
            },
            "tcp": { "gaps": self.tcp_gaps, "bytes_skipped": self.tcp_bytes_skipped, "other_bytes": self.other_tcp_bytes },
            "other": {
                "non_ip": self.non_ip,
                "other_ip": self.other_ip,
                "ip_fragments": self.ip_fragments,
                "other_udp": self.other_udp,
            },
        })
    }

    /// The human-readable `--stats` table.
    pub fn write_text(&self, file: &Path, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "file       {}", file.display())?;
        writeln!(out, "records    {}", self.records)?;
        writeln!(out, "bytes      {}", self.captured_bytes)?;
        if let (Some(a), Some(b)) = (self.first_timestamp_ns, self.last_timestamp_ns) {
            writeln!(out, "span       {:.6} s", (b - a) as f64 / 1e9)?;
        }
        writeln!(out, "messages   {}", self.messages())?;
        for (proto, kinds) in self.by_protocol() {
            for (kind, n) in kinds {
                writeln!(out, "  {proto:<11} {kind:<32} {n:>12}")?;
            }
        }
        let extra = [
            ("moldudp64 sequence gaps", self.moldudp64_gaps),
            ("moldudp64 messages missing", self.moldudp64_missing),
            ("moldudp64 repeated packets", self.moldudp64_repeats),
            ("tcp gaps", self.tcp_gaps),
            ("tcp bytes skipped after a gap", self.tcp_bytes_skipped),
            ("tcp bytes of unknown protocols", self.other_tcp_bytes),
            ("non-IP frames", self.non_ip),
            ("other IP protocols", self.other_ip),
            ("IP fragments (not reassembled)", self.ip_fragments),
            ("other UDP datagrams", self.other_udp),
        ];
        for (what, n) in extra {
            if n > 0 {
                writeln!(out, "  {what:<44} {n:>12}")?;
            }
        }
        Ok(())
    }
}

/// Which protocol a TCP stream carries, decided from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamProtocol {
    Undecided,
    SoupBinTcp,
    Fix,
    Other,
}

struct Flow {
    stream: Stream,
    protocol: StreamProtocol,
    /// The OUCH version this flow was found to carry (`--ouch auto`): decided by the
    /// first message whose length fits only one version, then kept.
    ouch: Option<OuchVersion>,
}

/// Where the bytes being framed sit, for error offsets and output context.
#[derive(Clone, Copy)]
struct Here {
    /// The record holding the first byte being decoded (errors name it).
    record: u64,
    /// The record that completed the message: the same, except for a TCP packet
    /// reassembled from several segments. Output names it, with its timestamp.
    completed_in: u64,
    timestamp_ns: i64,
    /// File offset of the first byte of the buffer being decoded.
    file_offset: u64,
}

/// Decodes capture records one at a time; keeps TCP reassembly state between them.
pub struct Dissector {
    path: PathBuf,
    opts: Options,
    mode: Mode,
    flows: HashMap<FlowKey, Flow>,
    /// Next expected MoldUDP64 sequence number per session name. A feed is almost
    /// always one session, so the last one is kept out of the map: the common case
    /// costs a 10-byte compare, not a hash.
    mold_last: Option<([u8; 10], u64)>,
    mold_next: HashMap<[u8; 10], u64>,
    /// Destination ports that have carried a valid MoldUDP64 packet (a bit per port).
    mold_ports: Box<[u64; 1024]>,
    pub stats: Stats,
}

impl Dissector {
    pub fn new(path: &Path, opts: Options, mode: Mode) -> Self {
        Dissector {
            path: path.to_path_buf(),
            opts,
            mode,
            flows: HashMap::new(),
            mold_last: None,
            mold_next: HashMap::new(),
            mold_ports: Box::new([0; 1024]),
            stats: Stats::default(),
        }
    }

    fn protocol_error(&self, here: Here, e: codec::Error) -> DecodeError {
        DecodeError::Protocol {
            path: self.path.clone(),
            record: here.record,
            offset: here.file_offset + e.offset() as u64,
            error: e,
        }
    }

    /// Decodes one capture record, appending output lines to `out`.
    #[inline]
    pub fn packet(&mut self, pkt: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let st = &mut self.stats;
        st.records += 1;
        st.captured_bytes += pkt.data.len() as u64;
        st.first_timestamp_ns.get_or_insert(pkt.timestamp_ns);
        st.last_timestamp_ns = Some(pkt.timestamp_ns);
        let here = Here {
            record: pkt.index,
            completed_in: pkt.index,
            timestamp_ns: pkt.timestamp_ns,
            file_offset: pkt.data_offset,
        };
        if pkt.link_type == LinkType::ETHERNET {
            // Most of a feed capture is plain Ethernet/IPv4/UDP: take it in a few loads.
            if let Some(udp) = wire::ethernet_udp_fast(pkt.data) {
                let payload = &pkt.data[udp.payload_offset..udp.payload_offset + udp.payload_len];
                let here = Here {
                    file_offset: here.file_offset + udp.payload_offset as u64,
                    ..here
                };
                return self.udp(udp.dst_port, payload, here, out);
            }
        }
        let layers = match pkt.link_type {
            LinkType::ETHERNET => wire::dissect_ethernet(pkt.data),
            LinkType::RAW | LinkType::IPV4 => wire::dissect_ipv4(pkt.data),
            LinkType::LINUX_SLL => wire::dissect_linux_sll(pkt.data),
            LinkType::LINUX_SLL2 => wire::dissect_linux_sll2(pkt.data),
            other => {
                return Err(DecodeError::UnsupportedLinkType {
                    path: self.path.clone(),
                    record: pkt.index,
                    offset: pkt.offset,
                    link_type: match other.name() {
                        Some(n) => format!("{n} ({})", other.0),
                        None => other.0.to_string(),
                    },
                })
            }
        };
        // A frame that is not well-formed IPv4 is not ours to judge: count it.
        let Ok(layers) = layers else {
            self.stats.non_ip += 1;
            return Ok(());
        };
        match layers.transport {
            Transport::Udp {
                dst_port,
                payload,
                payload_offset,
                ..
            } => {
                let here = Here {
                    file_offset: here.file_offset + payload_offset as u64,
                    ..here
                };
                self.udp(dst_port, payload, here, out)
            }
            Transport::Tcp {
                src_port,
                dst_port,
                seq,
                flags,
                payload,
                payload_offset,
                ..
            } => {
                let Some(ip) = layers.ipv4 else {
                    self.stats.other_ip += 1;
                    return Ok(());
                };
                let key = FlowKey {
                    src: ip.src,
                    src_port,
                    dst: ip.dst,
                    dst_port,
                };
                let here = Here {
                    file_offset: here.file_offset + payload_offset as u64,
                    ..here
                };
                self.tcp(key, seq, flags.contains(TcpFlags::SYN), payload, here, out)
            }
            Transport::Fragment => {
                self.stats.ip_fragments += 1;
                Ok(())
            }
            Transport::OtherIp { .. } => {
                self.stats.other_ip += 1;
                Ok(())
            }
            Transport::NonIp { .. } => {
                self.stats.non_ip += 1;
                Ok(())
            }
        }
    }

    #[inline]
    fn looks_like_moldudp64(&self, dst_port: u16, payload: &[u8]) -> bool {
        if !self.opts.moldudp64_ports.is_empty() {
            return self.opts.moldudp64_ports.contains(&dst_port);
        }
        // MoldUDP64's header is 20 bytes and starts with a 10-byte session name that
        // exchanges fill with printable ASCII; anything else is some other UDP. (Folded
        // without early exit so it compiles to a few vector instructions.)
        payload.len() >= moldudp64::HEADER_LEN
            && payload.first_chunk::<10>().is_some_and(|s| {
                s.iter()
                    .fold(true, |ok, &b| ok & (b.wrapping_sub(0x20) < 0x5f))
            })
    }

    #[inline]
    fn udp(
        &mut self,
        dst_port: u16,
        payload: &[u8],
        here: Here,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        if !self.looks_like_moldudp64(dst_port, payload) {
            self.stats.other_udp += 1;
            return Ok(());
        }
        // Strict once the port is known to carry MoldUDP64 (or named by --mold-port):
        // then a malformed packet is an error. Before that, a datagram that only
        // looks like MoldUDP64 (syslog, SSDP, ...) and does not decode is other UDP.
        let (word, bit) = (usize::from(dst_port >> 6), 1u64 << (dst_port & 63));
        let strict = !self.opts.moldudp64_ports.is_empty() || self.mold_ports[word] & bit != 0;
        if !strict {
            let valid = moldudp64::Packet::new_checked_visiting(payload, |offset, msg| {
                itch50::check(msg).map(drop).map_err(|e| e.shifted(offset))
            })
            .is_ok();
            if valid {
                self.mold_ports[word] |= bit;
            } else if let Ok(req) = moldudp64::RequestPacket::new_checked(payload) {
                self.stats.moldudp64_requests += 1;
                self.emit(out, here, None, &req);
                return Ok(());
            } else {
                self.stats.other_udp += 1;
                return Ok(());
            }
        }
        if self.mode == Mode::Stats {
            return self.count_moldudp64(payload, here);
        }
        let pkt = match moldudp64::Packet::new_checked(payload) {
            Ok(p) => p,
            Err(e) => {
                // A 20-byte request packet is upstream traffic, not a broken packet.
                if let Ok(req) = moldudp64::RequestPacket::new_checked(payload) {
                    self.stats.moldudp64_requests += 1;
                    self.emit(out, here, None, &req);
                    return Ok(());
                }
                return Err(self.protocol_error(here, e));
            }
        };
        match pkt.kind() {
            moldudp64::PacketKind::Heartbeat => {
                self.stats.moldudp64_heartbeats += 1;
                self.emit(out, here, None, &pkt);
                return Ok(());
            }
            moldudp64::PacketKind::EndOfSession => {
                self.stats.moldudp64_end_of_session += 1;
                self.emit(out, here, None, &pkt);
                return Ok(());
            }
            moldudp64::PacketKind::Data => {}
        }
        self.stats.moldudp64_packets += 1;
        self.track_mold_sequence(pkt.session(), pkt.sequence(), u64::from(pkt.count()));
        let mut offset = moldudp64::HEADER_LEN;
        for (seq, msg) in pkt.messages() {
            // Each block is a 2-byte length and the message.
            let msg_here = Here {
                file_offset: here.file_offset + offset as u64 + 2,
                ..here
            };
            offset += 2 + msg.len();
            let m = itch50::parse(msg).map_err(|e| self.protocol_error(msg_here, e))?;
            self.stats.itch[usize::from(m.type_byte())] += 1;
            let ctx = Context::Mold {
                session: pkt.session(),
                sequence: seq,
            };
            self.emit(out, msg_here, Some(ctx), &m);
        }
        Ok(())
    }

    /// The statistics path: one walk over the blocks validates the packet and counts
    /// its ITCH messages by type byte, checking each against the length its type
    /// requires; no message is decoded.
    #[inline]
    fn count_moldudp64(&mut self, payload: &[u8], here: Here) -> Result<(), DecodeError> {
        let counts = &mut self.stats.itch;
        let checked = moldudp64::Packet::new_checked_visiting(payload, |offset, msg| {
            let t = itch50::check(msg).map_err(|e| e.shifted(offset))?;
            counts[usize::from(t)] += 1;
            Ok(())
        });
        let pkt = match checked {
            Ok(p) => p,
            Err(e) => {
                if moldudp64::RequestPacket::new_checked(payload).is_ok() {
                    self.stats.moldudp64_requests += 1;
                    return Ok(());
                }
                return Err(self.protocol_error(here, e));
            }
        };
        match pkt.kind() {
            moldudp64::PacketKind::Heartbeat => self.stats.moldudp64_heartbeats += 1,
            moldudp64::PacketKind::EndOfSession => self.stats.moldudp64_end_of_session += 1,
            moldudp64::PacketKind::Data => {
                self.stats.moldudp64_packets += 1;
                self.track_mold_sequence(pkt.session(), pkt.sequence(), u64::from(pkt.count()));
            }
        }
        Ok(())
    }

    #[inline]
    fn track_mold_sequence(&mut self, session: &[u8; 10], first: u64, count: u64) {
        let next = match &mut self.mold_last {
            Some((last, next)) if last == session => next,
            _ => {
                // Another session: park the current one in the map, fetch this one.
                if let Some((last, next)) = self.mold_last.take() {
                    self.mold_next.insert(last, next);
                }
                let next = self.mold_next.remove(session).unwrap_or(first);
                &mut self.mold_last.insert((*session, next)).1
            }
        };
        if first > *next {
            self.stats.moldudp64_gaps += 1;
            self.stats.moldudp64_missing =
                self.stats.moldudp64_missing.saturating_add(first - *next);
        } else if first < *next {
            self.stats.moldudp64_repeats += 1;
        }
        // A hostile packet may sit at the top of the sequence space.
        *next = (*next).max(first.saturating_add(count));
    }

    fn tcp(
        &mut self,
        key: FlowKey,
        seq: u32,
        syn: bool,
        payload: &[u8],
        here: Here,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        let flow = self.flows.entry(key).or_insert_with(|| Flow {
            stream: Stream::default(),
            protocol: StreamProtocol::Undecided,
            ouch: None,
        });
        let accepted = flow.stream.accept(seq, syn, payload.len());
        if syn {
            flow.protocol = StreamProtocol::Undecided;
        }
        let skip = match accepted {
            Accepted::New { skip } => skip,
            // Gaps and skipped bytes are counted by the stream, summed in finish().
            Accepted::Nothing | Accepted::Gap { .. } => return Ok(()),
        };
        let data = &payload[skip..];
        let here = Here {
            file_offset: here.file_offset + skip as u64,
            ..here
        };
        // Take the flow out of the table while framing, so framing can borrow self.
        let mut flow = self.flows.remove(&key).expect("flow inserted above");
        let result = self.frame_stream(&mut flow, key, data, here, out);
        self.flows.insert(key, flow);
        result
    }

    fn frame_stream(
        &mut self,
        flow: &mut Flow,
        key: FlowKey,
        data: &[u8],
        here: Here,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        if flow.stream.pending.is_empty() {
            // The common case: frame straight from the segment, buffer only the tail.
            let used = self.frame_bytes(flow, key, data, here, out)?;
            if used < data.len() {
                flow.stream.pending.extend_from_slice(&data[used..]);
                flow.stream.pending_origin = Origin {
                    record: here.record,
                    file_offset: here.file_offset + used as u64,
                };
            }
        } else {
            // A packet began in an earlier segment: frame from the joined bytes. Error
            // offsets count from where the buffered bytes began, so they are exact
            // for a packet split over two segments and relative to its first segment
            // when it spans more.
            let mut pending = std::mem::take(&mut flow.stream.pending);
            let old_len = pending.len();
            pending.extend_from_slice(data);
            let origin = flow.stream.pending_origin;
            let pending_here = Here {
                record: origin.record,
                file_offset: origin.file_offset,
                ..here
            };
            let used = self.frame_bytes(flow, key, &pending, pending_here, out)?;
            pending.drain(..used);
            flow.stream.pending = pending;
            if used >= old_len {
                // What is left began in this segment.
                flow.stream.pending_origin = Origin {
                    record: here.record,
                    file_offset: here.file_offset + (used - old_len) as u64,
                };
            } else {
                flow.stream.pending_origin.file_offset += used as u64;
            }
        }
        Ok(())
    }

    /// Frames as many whole protocol packets from `data` as it holds; returns the
    /// number of bytes used.
    fn frame_bytes(
        &mut self,
        flow: &mut Flow,
        key: FlowKey,
        data: &[u8],
        here: Here,
        out: &mut Vec<u8>,
    ) -> Result<usize, DecodeError> {
        if flow.protocol == StreamProtocol::Undecided {
            if data.starts_with(b"8=FIX") {
                flow.protocol = StreamProtocol::Fix;
            } else if b"8=FIX".starts_with(data) {
                // Could still be FIX ("8=FI" so far): wait for more bytes.
                return Ok(0);
            } else if data.len() >= 3 {
                let len = u16::from_be_bytes([data[0], data[1]]);
                flow.protocol = if len >= 1 && b"+AJSHZLURO".contains(&data[2]) {
                    StreamProtocol::SoupBinTcp
                } else {
                    StreamProtocol::Other
                };
            } else {
                // Too short to tell: wait for more bytes.
                return Ok(0);
            }
        }
        let mut used = 0;
        match flow.protocol {
            StreamProtocol::Undecided => unreachable!("decided above"),
            StreamProtocol::Other => {
                self.stats.other_tcp_bytes += data.len() as u64;
                used = data.len();
            }
            StreamProtocol::Fix => loop {
                let at = Here {
                    file_offset: here.file_offset + used as u64,
                    ..here
                };
                match fix::frame(&data[used..]) {
                    Ok(Some((msg, n))) => {
                        *self.stats.session.entry(("fix", msg.kind())).or_default() += 1;
                        if self.mode != Mode::Stats {
                            self.emit(out, at, Some(Context::Tcp(key)), &msg);
                        }
                        used += n;
                    }
                    Ok(None) => break,
                    Err(e) => return Err(self.protocol_error(at, e)),
                }
            },
            StreamProtocol::SoupBinTcp => loop {
                let at = Here {
                    file_offset: here.file_offset + used as u64,
                    ..here
                };
                match soupbintcp::frame(&data[used..]) {
                    Ok(Some((pkt, n))) => {
                        self.soup_packet(key, &mut flow.ouch, &pkt, at, out)?;
                        used += n;
                    }
                    Ok(None) => break,
                    Err(e) => return Err(self.protocol_error(at, e)),
                }
            },
        }
        Ok(used)
    }

    fn soup_packet(
        &mut self,
        key: FlowKey,
        flow_ouch: &mut Option<OuchVersion>,
        pkt: &soupbintcp::Packet<'_>,
        here: Here,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        *self
            .stats
            .session
            .entry(("soupbintcp", pkt.kind()))
            .or_default() += 1;
        // Sequenced data flows from the exchange, unsequenced data from the client.
        let (inbound, msg) = match pkt {
            soupbintcp::Packet::SequencedData { message } => (false, *message),
            soupbintcp::Packet::UnsequencedData { message } => (true, *message),
            _ => {
                if self.mode != Mode::Stats {
                    self.emit(out, here, Some(Context::Tcp(key)), pkt);
                }
                return Ok(());
            }
        };
        // Length (2) and type (1) precede the payload.
        let here = Here {
            file_offset: here.file_offset + 3,
            ..here
        };
        let version = match self.opts.ouch {
            Some(v) => v,
            None => ouch_version_of(flow_ouch, inbound, msg),
        };
        macro_rules! one {
            ($parsed:expr) => {{
                let m = $parsed.map_err(|e| self.protocol_error(here, e))?;
                *self
                    .stats
                    .session
                    .entry((m.protocol(), m.kind()))
                    .or_default() += 1;
                if self.mode != Mode::Stats {
                    self.emit(out, here, Some(Context::Tcp(key)), &m);
                }
            }};
        }
        match (version, inbound) {
            (OuchVersion::V42, true) => one!(ouch42::parse_inbound(msg)),
            (OuchVersion::V42, false) => one!(ouch42::parse_outbound(msg)),
            (_, true) => one!(ouch50::parse_inbound(msg)),
            (_, false) => one!(ouch50::parse_outbound(msg)),
        }
        Ok(())
    }

    fn emit(&self, out: &mut Vec<u8>, here: Here, ctx: Option<Context<'_>>, msg: &dyn Describe) {
        match self.mode {
            Mode::Stats => {}
            Mode::Lines => {
                let ts = here.timestamp_ns;
                let _ = write!(
                    out,
                    "{}.{:09} #{}",
                    ts.div_euclid(1_000_000_000),
                    ts.rem_euclid(1_000_000_000),
                    here.completed_in
                );
                match ctx {
                    Some(Context::Mold { session, sequence }) => {
                        out.extend_from_slice(b" mold ");
                        out.extend_from_slice(codec::trim_alpha(session));
                        let _ = write!(out, ":{sequence}");
                    }
                    Some(Context::Tcp(key)) => {
                        let _ = write!(out, " tcp {key}");
                    }
                    None => {}
                }
                print::describe_text(out, msg);
                out.push(b'\n');
            }
            Mode::Json => {
                let _ = write!(
                    out,
                    "{{\"record\":{},\"timestamp_ns\":{}",
                    here.completed_in, here.timestamp_ns
                );
                match ctx {
                    Some(Context::Mold { session, sequence }) => {
                        out.extend_from_slice(b",\"mold_session\":");
                        print::write_json_string(out, codec::trim_alpha(session));
                        let _ = write!(out, ",\"mold_sequence\":{sequence}");
                    }
                    Some(Context::Tcp(key)) => {
                        let _ = write!(out, ",\"flow\":\"{key}\"");
                    }
                    None => {}
                }
                print::describe_json(out, msg);
                out.extend_from_slice(b"}\n");
            }
        }
    }

    /// Ends the input: bytes still buffered in a TCP stream are an incomplete last
    /// packet, counted rather than silently dropped.
    pub fn finish(&mut self) {
        for flow in self.flows.values() {
            self.stats.tcp_gaps += flow.stream.gaps;
            self.stats.tcp_bytes_skipped +=
                flow.stream.bytes_skipped + flow.stream.pending.len() as u64;
        }
    }
}

/// Output context of a message: its MoldUDP64 envelope or its TCP flow.
#[derive(Clone, Copy)]
enum Context<'a> {
    Mold {
        session: &'a [u8; 10],
        sequence: u64,
    },
    Tcp(FlowKey),
}

/// Tells OUCH 4.2 from 5.0. They share type letters; 4.2 messages have one fixed
/// length per type, 5.0 messages a fixed part plus appendages whose declared length
/// must account for the rest. A message that fits only one version decides the flow's
/// version, which then holds for the rest of the flow: a 5.0 message with options can
/// happen to have a 4.2 length, and must not be read as 4.2 once the flow is known.
/// A message that fits both (before the flow is known) is read as 4.2, the exact fit;
/// one that fits neither as 5.0, whose decoder then names what is wrong.
fn ouch_version_of(flow: &mut Option<OuchVersion>, inbound: bool, msg: &[u8]) -> OuchVersion {
    if let Some(v) = *flow {
        return v;
    }
    let Some(&t) = msg.first() else {
        return OuchVersion::V50;
    };
    let len42 = if inbound {
        ouch42::inbound_len(t)
    } else {
        ouch42::outbound_len(t)
    };
    let fits42 = len42 == Some(msg.len());
    let fits50 = if inbound {
        !matches!(
            ouch50::parse_inbound(msg),
            Ok(ouch50::Inbound::Unknown { .. }) | Err(_)
        )
    } else {
        !matches!(
            ouch50::parse_outbound(msg),
            Ok(ouch50::Outbound::Unknown { .. }) | Err(_)
        )
    };
    match (fits42, fits50) {
        (true, false) => *flow.insert(OuchVersion::V42),
        (false, true) => *flow.insert(OuchVersion::V50),
        (true, true) => OuchVersion::V42,
        (false, false) => OuchVersion::V50,
    }
}

/// How many records pass between two progress reports.
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// Decodes a whole capture file (or `-` for standard input), writing lines or JSON
/// objects to `out` in large blocks, and returns the statistics. `progress` is
/// called with the file offset reached every [`PROGRESS_EVERY`] records.
pub fn decode_file(
    path: &Path,
    opts: &Options,
    mode: Mode,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Stats, DecodeError> {
    if path.as_os_str() == "-" {
        let reader = CaptureReader::new(std::io::stdin().lock(), "<stdin>", None)?;
        decode_reader_with_progress(reader, path, opts, mode, out, progress)
    } else {
        let reader = CaptureReader::open(path)?;
        decode_reader_with_progress(reader, path, opts, mode, out, progress)
    }
}

/// [`decode_file`] over an open reader, without progress reports.
pub fn decode_reader<R: std::io::Read>(
    reader: CaptureReader<R>,
    path: &Path,
    opts: &Options,
    mode: Mode,
    out: &mut dyn Write,
) -> Result<Stats, DecodeError> {
    decode_reader_with_progress(reader, path, opts, mode, out, &mut |_| {})
}

/// [`decode_file`] over an open reader.
pub fn decode_reader_with_progress<R: std::io::Read>(
    mut reader: CaptureReader<R>,
    path: &Path,
    opts: &Options,
    mode: Mode,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Stats, DecodeError> {
    const FLUSH_AT: usize = 1 << 20;
    let mut dissector = Dissector::new(path, opts.clone(), mode);
    let mut buf = Vec::with_capacity(FLUSH_AT + 64 * 1024);
    while let Some(pkt) = reader.next_packet()? {
        let result = dissector.packet(&pkt, &mut buf);
        if buf.len() >= FLUSH_AT || result.is_err() {
            // Print what was decoded before an error, so the user sees where it was.
            out.write_all(&buf).map_err(DecodeError::Output)?;
            buf.clear();
        }
        result?;
        if pkt.index % PROGRESS_EVERY == 0 {
            progress(pkt.offset);
        }
    }
    out.write_all(&buf).map_err(DecodeError::Output)?;
    out.flush().map_err(DecodeError::Output)?;
    dissector.finish();
    Ok(dissector.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `pcap` fuzz target: a MoldUDP64 packet whose Sequence Number is
    /// u64::MAX made the gap tracker overflow computing the next expected number.
    /// (One Ethernet/IPv4/UDP record; the packet claims 3 blocks from u64::MAX.)
    const MOLD_SEQUENCE_AT_U64_MAX: [u8; 183] = [
        0x4d, 0x3c, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x97, 0x84, 0x5b, 0x69, 0x60, 0xba,
        0x9a, 0x3b, 0x8f, 0x00, 0x00, 0x00, 0x8f, 0x00, 0x00, 0x00, 0x00, 0x29, 0xff, 0xff, 0x00,
        0x01, 0x02, 0x00, 0x5e, 0xc6, 0x12, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x81, 0x00, 0x05,
        0x40, 0x00, 0x10, 0x11, 0xb4, 0x8c, 0xc6, 0x12, 0x00, 0x01, 0xef, 0xc6, 0x00, 0x01, 0x67,
        0x20, 0x67, 0x20, 0x00, 0x6d, 0xee, 0xf5, 0x54, 0x49, 0x43, 0x4b, 0x4c, 0x41, 0x42, 0x30,
        0x30, 0x31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x03, 0x00, 0x19, 0x48,
        0x00, 0x03, 0x00, 0x00, 0x1f, 0x1a, 0xce, 0xd9, 0xd8, 0x90, 0x4e, 0x56, 0x44, 0x41, 0x20,
        0x20, 0x20, 0x20, 0x54, 0x20, 0x20, 0x20, 0x20, 0x20, 0x00, 0x19, 0x48, 0x00, 0x04, 0x00,
        0x00, 0x1f, 0x1a, 0xce, 0xd9, 0xdc, 0x78, 0x41, 0x4d, 0x5a, 0x4e, 0x20, 0x20, 0x20, 0x20,
        0x54, 0x20, 0x20, 0x20, 0x20, 0x20, 0x00, 0x19, 0x48, 0x00, 0x05, 0x1a, 0xce, 0x00, 0x1f,
        0x1a, 0xce, 0x4d, 0x30, 0x30, 0x1a, 0xce, 0xdd, 0x69, 0xa5, 0x40, 0x03, 0x00, 0x3e, 0x00,
        0x00, 0x00, 0xff,
    ];

    #[test]
    fn mold_sequence_at_the_top_of_the_space_does_not_overflow() {
        let data = &MOLD_SEQUENCE_AT_U64_MAX[..];
        let reader = CaptureReader::new(data, "crash.pcap", Some(data.len() as u64)).unwrap();
        let mut out = Vec::new();
        let stats = decode_reader(
            reader,
            "crash.pcap".as_ref(),
            &Options::default(),
            Mode::Stats,
            &mut out,
        )
        .unwrap();
        assert_eq!(stats.moldudp64_packets, 1);
        assert_eq!(stats.itch_messages(), 3);
        assert_eq!((stats.moldudp64_gaps, stats.moldudp64_repeats), (0, 0));
    }

    /// A 5.0 Order Executed with a 4-byte appendage is 40 bytes, the length of a 4.2
    /// Executed: alone it is read as 4.2 (the exact fit); on a flow already shown to
    /// carry 5.0 it is read as 5.0.
    #[test]
    fn ouch_version_is_decided_per_flow() {
        use crate::proto::ouch50::{self, OrderAccepted, OrderExecuted};
        let mut executed = [0u8; 64];
        let n = ouch50::write(
            &mut executed,
            &OrderExecuted::new(34_200_000_000_000, 7, 40, 1_502_400, b'A', 9),
            &[],
        )
        .unwrap();
        // Appendage Length 4, then one element: length 3, tag 200, two value bytes.
        executed[n - 2..n].copy_from_slice(&4u16.to_be_bytes());
        executed[n..n + 4].copy_from_slice(&[3, 200, 0, 1]);
        let executed = &executed[..n + 4];
        assert_eq!(Some(executed.len()), ouch42::outbound_len(b'E'));
        assert!(ouch50::parse_outbound(executed).is_ok());

        let mut unknown_flow = None;
        assert_eq!(
            ouch_version_of(&mut unknown_flow, false, executed),
            OuchVersion::V42
        );
        assert_eq!(unknown_flow, None, "an ambiguous message decides nothing");

        let mut accepted = [0u8; 128];
        let n = ouch50::write(
            &mut accepted,
            &OrderAccepted::new(
                1, 7, b'B', 100, b"AAPL", 1_502_500, b'0', b'Y', 7, b'A', b'N', b'N', b'L', b"CL1",
            ),
            &[],
        )
        .unwrap();
        let mut flow = None;
        assert_eq!(
            ouch_version_of(&mut flow, false, &accepted[..n]),
            OuchVersion::V50
        );
        assert_eq!(flow, Some(OuchVersion::V50));
        assert_eq!(
            ouch_version_of(&mut flow, false, executed),
            OuchVersion::V50
        );
    }
}
