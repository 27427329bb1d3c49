//! A pcap or pcapng capture staged in memory as the run's feed: [`CaptureFeed`] reads
//! the whole capture once, before the run, keeps the UDP payloads that are MoldUDP64
//! packets (data, heartbeats, End of Session) back to back in one buffer with an index
//! of (offset, length, capture time), and then hands them out in capture order, pass
//! after pass, as a [`FeedSource`].
//!
//! Loading accepts any link type the dissector knows (Ethernet with up to two VLAN
//! tags, raw IPv4, Linux cooked v1 and v2) and counts everything it skips in
//! [`LoadStats`]: frames without a UDP datagram, UDP datagrams that are not MoldUDP64,
//! records the capture cut short. It refuses a capture that holds more than one
//! MoldUDP64 session (a run replays one session), one with data after its End of
//! Session, and one with no MoldUDP64 data at all, each with an error that names the
//! file and, where there is one, the record.
//!
//! Replay: with `renumber`, pass *p* (from 0) adds *p* × span to every Sequence Number
//! (span: the sequence after the last data message minus the first data sequence), so
//! the passes read as one long session; heartbeats shift with them. End of Session
//! packets go out only at the end of the last pass (never when `loops` is 0). The
//! sequence is patched in place, in the feed's own buffer: [`FeedSource::next_datagram`]
//! must never allocate, copy a payload or do I/O, because the send loop calls it
//! between two sends. Without `renumber` the bytes go out exactly as captured.
//!
//! This is a payload-level source: it yields UDP payloads, and the port picks the
//! destination. `feed.rewrite` (destination MAC, IP and port) is therefore not
//! applied here but where the port opens (`lab::feed_port::with_rewrite`): the
//! socket backend sends to the rewritten address, the frame backends (AF_PACKET,
//! DPDK) build their frames' headers for it.
//!
//! ```
//! use ticklab::capture::{CaptureWriter, LinkType};
//! use ticklab::config::{CaptureSpec, Rewrite};
//! use ticklab::feed::frames::{default_endpoints, FrameSource};
//! use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
//! use ticklab::lab::capture_feed::CaptureFeed;
//! use ticklab::lab::source::FeedSource;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("feed.pcapng");
//! let cfg = SyntheticConfig { messages: Some(500), ..SyntheticConfig::default() };
//! let mut frames = FrameSource::new(SyntheticFeed::new(cfg)?, &default_endpoints());
//! let mut frame = vec![0; frames.max_frame_len()];
//! let mut writer = CaptureWriter::create(&path, LinkType::ETHERNET, 65_535)?;
//! while let Some(f) = frames.next_frame(&mut frame) {
//!     writer.write_packet(f.timestamp_ns, &frame[..f.len], f.len as u32, None)?;
//! }
//! writer.finish()?;
//!
//! let spec = CaptureSpec { path, renumber: true, loops: 2, loop_gap_ns: None, rewrite: Rewrite::default() };
//! let mut feed = CaptureFeed::load(&spec, |_| {})?;
//! assert_eq!((feed.session(), feed.first_sequence(), feed.messages_per_pass()), ("TICKLAB001", 1, 500));
//! let staged = feed.datagrams();
//! let mut sent = 0;
//! while let Some(d) = feed.next_datagram() {
//!     sent += 1;
//!     // Pass 0 holds its End of Session back: pass 1 starts at datagram `staged`.
//!     assert_eq!(d.new_pass, sent == staged);
//! }
//! assert_eq!(sent, 2 * staged - 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use super::source::{Datagram, FeedSource};
use crate::capture::{CaptureError, CaptureReader, LinkType, Packet};
use crate::config::CaptureSpec;
use crate::proto::moldudp64::{self, PacketKind, SESSION_LEN};
use crate::wire::{self, Transport};

/// How far loading gets between two [`LoadProgress`] reports, in bytes of the file.
const PROGRESS_STEP: u64 = 4 << 20;

/// Where the Sequence Number starts in a MoldUDP64 header (after the Session).
const SEQUENCE_AT: usize = moldudp64::field::SEQUENCE.start;

/// How far loading has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProgress {
    /// Bytes of the file read so far.
    pub bytes_read: u64,
    /// The file's size; `None` when it is not a regular file (a FIFO).
    pub total_bytes: Option<u64>,
}

/// What loading found in the capture: what was kept and what was skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Packets read from the capture.
    pub records: u64,
    /// MoldUDP64 data packets kept.
    pub data_packets: u64,
    /// MoldUDP64 heartbeats kept.
    pub heartbeats: u64,
    /// MoldUDP64 End of Session packets kept.
    pub end_of_session: u64,
    /// Message blocks in the data packets kept.
    pub messages: u64,
    /// Bytes of the payloads kept.
    pub payload_bytes: u64,
    /// Skipped: UDP datagrams that are not MoldUDP64.
    pub other_udp: u64,
    /// Skipped: records without a UDP datagram (TCP, other IP protocols, ARP, IPv6,
    /// frames that are not well-formed).
    pub non_udp: u64,
    /// Skipped: IPv4 fragments (not reassembled; a fragmented MoldUDP64 packet is lost).
    pub ip_fragments: u64,
    /// Skipped: records the capture cut short (snap length) before the end of their
    /// UDP datagram.
    pub truncated: u64,
}

impl LoadStats {
    /// MoldUDP64 packets kept: data, heartbeats and End of Session.
    pub fn moldudp64_packets(&self) -> u64 {
        self.data_packets + self.heartbeats + self.end_of_session
    }

    /// Complete UDP datagrams seen, MoldUDP64 or not.
    pub fn udp_datagrams(&self) -> u64 {
        self.moldudp64_packets() + self.other_udp
    }
}

impl fmt::Display for LoadStats {
    /// "412 records: 409 UDP datagrams (400 MoldUDP64: 395 data with 2000 messages,
    /// 4 heartbeats, 1 End of Session; 9 other UDP); 3 non-UDP; 0 IPv4 fragments;
    /// 0 truncated"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records: {} UDP datagrams ({} MoldUDP64: {} data with {} messages, {} heartbeats, \
             {} End of Session; {} other UDP); {} non-UDP; {} IPv4 fragments; {} truncated",
            self.records,
            self.udp_datagrams(),
            self.moldudp64_packets(),
            self.data_packets,
            self.messages,
            self.heartbeats,
            self.end_of_session,
            self.other_udp,
            self.non_udp,
            self.ip_fragments,
            self.truncated
        )
    }
}

/// Why a capture cannot be the run's feed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureFeedError {
    /// Reading the capture failed; the error names the file and the position.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(
        "{}: record {record} at offset {offset}: field link_type: {link_type} is not a link type ticklab dissects; \
         valid: ETHERNET (1), RAW (101), IPV4 (228), LINUX_SLL (113), LINUX_SLL2 (276)",
        path.display()
    )]
    UnsupportedLinkType {
        path: PathBuf,
        record: u64,
        offset: u64,
        link_type: LinkType,
    },
    #[error(
        "{}: record {record} at offset {offset}: MoldUDP64 session {second:?} after session {first:?} \
         (first seen in record {first_record}); a run replays one session: filter the capture to one \
         (e.g. by destination group and port)",
        path.display()
    )]
    TwoSessions {
        path: PathBuf,
        first: String,
        first_record: u64,
        second: String,
        record: u64,
        offset: u64,
    },
    #[error(
        "{}: record {record} at offset {offset}: MoldUDP64 data (sequence {sequence}) after the End of \
         Session in record {end_record}; a session ends with its End of Session: cut the capture there",
        path.display()
    )]
    DataAfterEndOfSession {
        path: PathBuf,
        end_record: u64,
        record: u64,
        offset: u64,
        sequence: u64,
    },
    #[error(
        "{}: no MoldUDP64 packet in the capture ({stats}); expected UDP datagrams carrying MoldUDP64 \
         (a 20-byte header with a printable 10-character session, then message blocks)",
        path.display()
    )]
    NoMoldUdp64 {
        path: PathBuf,
        stats: Box<LoadStats>,
    },
    #[error(
        "{}: MoldUDP64 session {session:?} carries no messages ({stats}); a run needs data packets to replay",
        path.display()
    )]
    NoMessages {
        path: PathBuf,
        session: String,
        stats: Box<LoadStats>,
    },
}

impl CaptureFeedError {
    /// True when the capture's content is at fault (exit code 65), false when the
    /// system failed us (not found, permission).
    pub fn is_data_error(&self) -> bool {
        match self {
            CaptureFeedError::Capture(e) => e.is_data_error(),
            _ => true,
        }
    }
}

/// One staged datagram.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Where the payload starts in [`CaptureFeed::payloads`].
    offset: usize,
    len: u32,
    kind: PacketKind,
    /// The Sequence Number as captured: renumbering rewrites the buffer's copy.
    sequence: u64,
    capture_ns: i64,
}

/// A capture staged in memory; see the module documentation.
pub struct CaptureFeed {
    path: PathBuf,
    /// Every kept payload, back to back, in capture order.
    payloads: Vec<u8>,
    index: Vec<Entry>,
    stats: LoadStats,
    session: String,
    first_sequence: u64,
    /// Sequence numbers one pass covers: what renumbering adds per pass.
    span: u64,
    max_len: usize,
    /// Data and heartbeats, which every pass sends: the basis of the timing figures.
    duration_ns: u64,
    mean_gap_ns: u64,
    renumber: bool,
    loops: u64,
    /// The next entry of the current pass.
    cursor: usize,
    pass: u64,
    /// Whether the current pass has sent a datagram yet (for `new_pass`).
    pass_started: bool,
}

/// What loading has learnt about the session so far.
struct SessionState {
    session: [u8; SESSION_LEN],
    first_record: u64,
    first_sequence: u64,
    next_sequence: u64,
    end_record: Option<u64>,
}

impl CaptureFeed {
    /// Reads the capture `spec.path` names, once, and stages its MoldUDP64 payloads.
    /// `progress` hears how far the reading has got, every few MiB and at the end.
    pub fn load(
        spec: &CaptureSpec,
        progress: impl FnMut(LoadProgress),
    ) -> Result<CaptureFeed, CaptureFeedError> {
        Self::load_reporting_every(spec, PROGRESS_STEP, progress)
    }

    fn load_reporting_every(
        spec: &CaptureSpec,
        progress_step: u64,
        mut progress: impl FnMut(LoadProgress),
    ) -> Result<CaptureFeed, CaptureFeedError> {
        let path = spec.path.as_path();
        let mut reader = CaptureReader::open(path)?;
        let total_bytes = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let mut stats = LoadStats::default();
        let mut payloads = Vec::new();
        let mut index = Vec::new();
        let mut state: Option<SessionState> = None;
        let mut next_report = progress_step;
        let mut bytes_read = 0;
        while let Some(packet) = reader.next_packet()? {
            stats.records += 1;
            bytes_read = packet.data_offset + packet.data.len() as u64;
            if bytes_read >= next_report {
                progress(LoadProgress {
                    bytes_read,
                    total_bytes,
                });
                next_report = bytes_read + progress_step;
            }
            let Some(payload) = udp_payload(path, &packet, &mut stats)? else {
                continue;
            };
            let Some(mold) = moldudp64_packet(payload) else {
                stats.other_udp += 1;
                continue;
            };
            let kind = mold.kind();
            let sequence = mold.sequence();
            let state = state.get_or_insert_with(|| SessionState {
                session: *mold.session(),
                first_record: packet.index,
                first_sequence: u64::MAX,
                next_sequence: 0,
                end_record: None,
            });
            if mold.session() != &state.session {
                return Err(CaptureFeedError::TwoSessions {
                    path: path.to_path_buf(),
                    first: session_text(&state.session),
                    first_record: state.first_record,
                    second: session_text(mold.session()),
                    record: packet.index,
                    offset: packet.offset,
                });
            }
            match kind {
                PacketKind::Data => {
                    if let Some(end_record) = state.end_record {
                        return Err(CaptureFeedError::DataAfterEndOfSession {
                            path: path.to_path_buf(),
                            end_record,
                            record: packet.index,
                            offset: packet.offset,
                            sequence,
                        });
                    }
                    // Lowest and highest rather than first and last, so that a capture
                    // with reordered packets still gives passes that do not overlap.
                    state.first_sequence = state.first_sequence.min(sequence);
                    state.next_sequence = state.next_sequence.max(mold.next_sequence());
                    stats.data_packets += 1;
                    stats.messages += u64::from(mold.message_count());
                }
                PacketKind::Heartbeat => stats.heartbeats += 1,
                PacketKind::EndOfSession => {
                    state.end_record.get_or_insert(packet.index);
                    stats.end_of_session += 1;
                }
            }
            stats.payload_bytes += payload.len() as u64;
            index.push(Entry {
                offset: payloads.len(),
                // A UDP payload is below 64 KiB.
                len: payload.len() as u32,
                kind,
                sequence,
                capture_ns: packet.timestamp_ns,
            });
            payloads.extend_from_slice(payload);
        }
        progress(LoadProgress {
            bytes_read: total_bytes.unwrap_or(bytes_read),
            total_bytes,
        });

        let Some(state) = state else {
            return Err(CaptureFeedError::NoMoldUdp64 {
                path: path.to_path_buf(),
                stats: Box::new(stats),
            });
        };
        if stats.data_packets == 0 {
            return Err(CaptureFeedError::NoMessages {
                path: path.to_path_buf(),
                session: session_text(&state.session),
                stats: Box::new(stats),
            });
        }
        payloads.shrink_to_fit();
        index.shrink_to_fit();
        let (duration_ns, mean_gap_ns) = pass_timing(&index);
        Ok(CaptureFeed {
            path: path.to_path_buf(),
            max_len: index.iter().map(|e| e.len as usize).max().unwrap_or(0),
            payloads,
            index,
            stats,
            session: session_text(&state.session),
            first_sequence: state.first_sequence,
            span: state.next_sequence.wrapping_sub(state.first_sequence),
            duration_ns,
            mean_gap_ns,
            renumber: spec.renumber,
            loops: spec.loops,
            cursor: 0,
            pass: 0,
            pass_started: false,
        })
    }

    /// What loading kept and skipped.
    pub fn stats(&self) -> &LoadStats {
        &self.stats
    }

    /// Datagrams staged: one pass when `loops` is 1. Passes before the last send
    /// `datagrams() - stats().end_of_session` of them (End of Session waits for the
    /// last pass).
    pub fn datagrams(&self) -> usize {
        self.index.len()
    }

    /// MoldUDP64 messages one pass carries.
    pub fn messages_per_pass(&self) -> u64 {
        self.stats.messages
    }

    /// The capture's first (lowest) data Sequence Number.
    pub fn first_sequence(&self) -> u64 {
        self.first_sequence
    }

    /// Sequence numbers one pass covers: the sequence after the last data message
    /// minus [`Self::first_sequence`]. Renumbering adds this once per pass.
    pub fn sequence_span(&self) -> u64 {
        self.span
    }

    /// The MoldUDP64 session name, trailing spaces trimmed.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The pass the last datagram returned belongs to, from 0.
    pub fn pass(&self) -> u64 {
        self.pass
    }

    /// The mean capture-time gap between consecutive datagrams of a pass (data and
    /// heartbeats), rounded: the pacer's default gap between passes. 0 for a pass of
    /// one datagram.
    pub fn mean_gap_ns(&self) -> u64 {
        self.mean_gap_ns
    }

    /// Capture time from a pass's first datagram to its latest (data and heartbeats).
    pub fn duration_ns(&self) -> u64 {
        self.duration_ns
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn is_last_pass(&self) -> bool {
        self.loops != 0 && self.pass + 1 >= self.loops
    }
}

impl fmt::Debug for CaptureFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureFeed")
            .field("path", &self.path)
            .field("session", &self.session)
            .field("datagrams", &self.index.len())
            .field("payload_bytes", &self.payloads.len())
            .field("pass", &self.pass)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl FeedSource for CaptureFeed {
    #[inline]
    fn next_datagram(&mut self) -> Option<Datagram<'_>> {
        loop {
            if self.cursor == self.index.len() {
                if self.is_last_pass() {
                    return None;
                }
                self.pass += 1;
                self.cursor = 0;
                self.pass_started = false;
            }
            let entry = self.index[self.cursor];
            self.cursor += 1;
            if entry.kind == PacketKind::EndOfSession && !self.is_last_pass() {
                continue;
            }
            let new_pass = self.pass > 0 && !self.pass_started;
            self.pass_started = true;
            let payload = &mut self.payloads[entry.offset..entry.offset + entry.len as usize];
            if self.renumber {
                let shift = self.pass.wrapping_mul(self.span);
                payload[SEQUENCE_AT..SEQUENCE_AT + 8]
                    .copy_from_slice(&entry.sequence.wrapping_add(shift).to_be_bytes());
            }
            return Some(Datagram {
                payload,
                capture_ns: entry.capture_ns,
                new_pass,
            });
        }
    }

    fn max_datagram_len(&self) -> usize {
        self.max_len
    }

    fn describe(&self) -> String {
        format!(
            "capture {} ({} datagrams, {} messages, session {})",
            self.path.display(),
            self.datagrams(),
            self.messages_per_pass(),
            self.session
        )
    }
}

/// The complete UDP payload a record carries, or `None` after counting why not.
#[inline]
fn udp_payload<'a>(
    path: &Path,
    packet: &Packet<'a>,
    stats: &mut LoadStats,
) -> Result<Option<&'a [u8]>, CaptureFeedError> {
    let data = packet.data;
    if packet.link_type == LinkType::ETHERNET {
        // Most feed captures are plain Ethernet/IPv4/UDP: take those in a few loads.
        if let Some(udp) = wire::ethernet_udp_fast(data) {
            return Ok(data.get(udp.payload_offset..udp.payload_offset + udp.payload_len));
        }
    }
    let layers = match packet.link_type {
        LinkType::ETHERNET => wire::dissect_ethernet(data),
        LinkType::RAW | LinkType::IPV4 => wire::dissect_ipv4(data),
        LinkType::LINUX_SLL => wire::dissect_linux_sll(data),
        LinkType::LINUX_SLL2 => wire::dissect_linux_sll2(data),
        link_type => {
            return Err(CaptureFeedError::UnsupportedLinkType {
                path: path.to_path_buf(),
                record: packet.index,
                offset: packet.offset,
                link_type,
            })
        }
    };
    let cut_short = (data.len() as u64) < u64::from(packet.original_len);
    match layers {
        Ok(layers) => match layers.transport {
            Transport::Udp { payload, .. } => return Ok(Some(payload)),
            Transport::Fragment => stats.ip_fragments += 1,
            _ => stats.non_udp += 1,
        },
        // The headers declare more than the record holds because the capture cut it.
        Err(_) if cut_short => stats.truncated += 1,
        Err(_) => stats.non_udp += 1,
    }
    Ok(None)
}

/// The payload as a MoldUDP64 downstream packet, if it is one: a printable session
/// (exchanges use alphanumerics; this keeps DNS, NTP and the like out) and blocks
/// that exactly fill the datagram.
#[inline]
fn moldudp64_packet(payload: &[u8]) -> Option<moldudp64::Packet<&[u8]>> {
    let session = payload.first_chunk::<SESSION_LEN>()?;
    if !session.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    moldudp64::Packet::new_checked(payload).ok()
}

/// A session name for messages: printable ASCII (checked), trailing spaces trimmed.
fn session_text(session: &[u8; SESSION_LEN]) -> String {
    String::from_utf8_lossy(crate::codec::trim_alpha(session)).into_owned()
}

/// (duration, rounded mean gap) of the datagrams every pass sends, measured as the
/// pacer measures a pass: from the first capture time to the latest.
fn pass_timing(index: &[Entry]) -> (u64, u64) {
    let mut sent = index.iter().filter(|e| e.kind != PacketKind::EndOfSession);
    let Some(first) = sent.next() else {
        return (0, 0);
    };
    let (latest, count) = sent.fold((first.capture_ns, 1u64), |(latest, n), e| {
        (latest.max(e.capture_ns), n + 1)
    });
    let duration = latest.abs_diff(first.capture_ns);
    let gaps = count - 1;
    let mean = (u128::from(duration) + u128::from(gaps) / 2)
        .checked_div(u128::from(gaps))
        .map_or(0, |m| m as u64);
    (duration, mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureWriter, Direction};
    use crate::config::Rewrite;
    use crate::feed::frames::{default_endpoints, FrameSource};
    use crate::feed::synthetic::{SyntheticConfig, SyntheticFeed};
    use crate::proto::moldudp64::Packet as Mold;
    use crate::wire::{TcpFlags, TcpFrameTemplate, UdpEndpoints, UdpFrameTemplate};

    fn spec(path: &Path, renumber: bool, loops: u64) -> CaptureSpec {
        CaptureSpec {
            path: path.to_path_buf(),
            renumber,
            loops,
            loop_gap_ns: None,
            rewrite: Rewrite::default(),
        }
    }

    fn config(messages: u64) -> SyntheticConfig {
        SyntheticConfig {
            messages: Some(messages),
            ..SyntheticConfig::default()
        }
    }

    /// The generator's payloads and capture times, as the lab expects to send them.
    fn generated(cfg: &SyntheticConfig) -> Vec<(Vec<u8>, i64)> {
        let mut feed = SyntheticFeed::new(cfg.clone()).unwrap();
        let mut buf = vec![0; cfg.max_payload];
        let mut out = Vec::new();
        while let Some(p) = feed.next_packet(&mut buf) {
            out.push((buf[..p.len].to_vec(), feed.epoch_ns(p.publish_ns)));
        }
        out
    }

    /// Writes the synthetic session `cfg` as Ethernet frames to `path` (pcap or pcapng
    /// by extension), as `ticklab gen` does.
    fn write_session(path: &Path, cfg: &SyntheticConfig) {
        let mut frames = FrameSource::new(
            SyntheticFeed::new(cfg.clone()).unwrap(),
            &default_endpoints(),
        );
        let mut frame = vec![0; frames.max_frame_len()];
        let mut writer = CaptureWriter::create(path, LinkType::ETHERNET, 65_535).unwrap();
        while let Some(f) = frames.next_frame(&mut frame) {
            writer
                .write_packet(
                    f.timestamp_ns,
                    &frame[..f.len],
                    f.len as u32,
                    Some(Direction::Outbound),
                )
                .unwrap();
        }
        writer.finish().unwrap();
    }

    /// Sends everything (or `limit` datagrams), as owned copies.
    fn drain(feed: &mut CaptureFeed, limit: usize) -> Vec<(Vec<u8>, i64, bool, u64)> {
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(d) = feed.next_datagram() else { break };
            let (payload, capture_ns, new_pass) = (d.payload.to_vec(), d.capture_ns, d.new_pass);
            out.push((payload, capture_ns, new_pass, feed.pass()));
        }
        out
    }

    fn udp_frame(payload: &[u8], dst_port: u16) -> Vec<u8> {
        let template = UdpFrameTemplate::new(
            &UdpEndpoints {
                dst_port,
                ..default_endpoints()
            },
            true,
        );
        let hl = template.header_len();
        let mut frame = vec![0; hl + payload.len()];
        frame[hl..].copy_from_slice(payload);
        let len = template.finish(&mut frame, payload.len(), 7).unwrap();
        frame.truncate(len);
        frame
    }

    fn mold(session: &[u8; 10], sequence: u64, messages: &[&[u8]]) -> Vec<u8> {
        let mut buf = vec![0; 1500];
        let mut b = moldudp64::PacketBuilder::new(&mut buf, session, sequence).unwrap();
        for m in messages {
            b.push(m).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    fn write_frames(path: &Path, link_type: LinkType, frames: &[(Vec<u8>, u32)]) {
        let mut writer = CaptureWriter::create(path, link_type, 65_535).unwrap();
        for (i, (frame, original_len)) in frames.iter().enumerate() {
            writer
                .write_packet(1_000_000_000 + i as i64 * 1_000, frame, *original_len, None)
                .unwrap();
        }
        writer.finish().unwrap();
    }

    #[test]
    fn a_synthetic_session_round_trips_through_pcap_and_pcapng() {
        let cfg = config(3_000);
        let expected = generated(&cfg);
        let dir = tempfile::tempdir().unwrap();
        for name in ["feed.pcap", "feed.pcapng"] {
            let path = dir.path().join(name);
            write_session(&path, &cfg);
            let mut reports = Vec::new();
            let mut feed = CaptureFeed::load(&spec(&path, true, 1), |p| reports.push(p)).unwrap();
            let size = std::fs::metadata(&path).unwrap().len();
            assert_eq!(
                reports.last(),
                Some(&LoadProgress {
                    bytes_read: size,
                    total_bytes: Some(size)
                })
            );

            let data_packets = expected.len() as u64 - 1;
            let payload_bytes: usize = expected.iter().map(|(p, _)| p.len()).sum();
            assert_eq!(
                *feed.stats(),
                LoadStats {
                    records: expected.len() as u64,
                    data_packets,
                    end_of_session: 1,
                    messages: 3_000,
                    payload_bytes: payload_bytes as u64,
                    ..LoadStats::default()
                }
            );
            assert_eq!(feed.datagrams(), expected.len());
            assert_eq!(feed.messages_per_pass(), 3_000);
            assert_eq!((feed.first_sequence(), feed.sequence_span()), (1, 3_000));
            assert_eq!(feed.session(), "TICKLAB001");
            assert_eq!(
                feed.max_datagram_len(),
                expected.iter().map(|(p, _)| p.len()).max().unwrap()
            );
            let sent_by_passes = &expected[..expected.len() - 1];
            let duration = (sent_by_passes.last().unwrap().1 - sent_by_passes[0].1) as u64;
            let gaps = sent_by_passes.len() as u64 - 1;
            assert_eq!(feed.duration_ns(), duration);
            assert_eq!(feed.mean_gap_ns(), (duration + gaps / 2) / gaps);
            assert_eq!(
                feed.describe(),
                format!(
                    "capture {} ({} datagrams, 3000 messages, session TICKLAB001)",
                    path.display(),
                    expected.len()
                )
            );

            let sent = drain(&mut feed, usize::MAX);
            assert_eq!(sent.len(), expected.len());
            for (i, ((payload, ts, new_pass, pass), (want, want_ts))) in
                sent.iter().zip(&expected).enumerate()
            {
                assert_eq!(payload, want, "{name}: datagram {i}");
                assert_eq!(ts, want_ts, "{name}: datagram {i}");
                assert!(!new_pass);
                assert_eq!(*pass, 0);
            }
            assert!(feed.next_datagram().is_none());
            assert!(feed.next_datagram().is_none(), "the end is sticky");
        }
    }

    /// Checks that sequence numbers run on without a gap or repeat from packet to
    /// packet and returns the sequence expected after the last.
    fn assert_continuous(sent: &[(Vec<u8>, i64, bool, u64)], first: u64) -> u64 {
        let mut next = first;
        for (i, (payload, ..)) in sent.iter().enumerate() {
            let p = Mold::new_checked(&payload[..]).unwrap();
            assert_eq!(p.sequence(), next, "datagram {i}");
            assert_eq!(p.session(), b"TICKLAB001");
            next = p.next_sequence();
        }
        next
    }

    #[test]
    fn progress_is_reported_in_steps_up_to_the_file_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.pcapng");
        write_session(&path, &config(2_000));
        let size = std::fs::metadata(&path).unwrap().len();
        let mut reports = Vec::new();
        CaptureFeed::load_reporting_every(&spec(&path, true, 1), 4_096, |p| reports.push(p))
            .unwrap();
        assert!(reports.iter().all(|p| p.total_bytes == Some(size)));
        let read: Vec<u64> = reports.iter().map(|p| p.bytes_read).collect();
        assert_eq!(read.last(), Some(&size));
        assert!(read[0] >= 4_096 && read[0] < 4_096 + 1_600, "{read:?}");
        for pair in read[..read.len() - 1].windows(2) {
            // One report per step: a step, plus at most the record that crossed it.
            assert!(
                pair[1] - pair[0] >= 4_096 && pair[1] - pair[0] < 4_096 + 1_600,
                "{read:?}"
            );
        }
        assert!(read.len() as u64 >= size / (4_096 + 1_600), "{read:?}");
    }

    #[test]
    fn renumbered_passes_continue_one_session() {
        let cfg = config(1_000);
        let expected = generated(&cfg);
        let per_pass = expected.len() - 1; // End of Session only at the very end
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.pcapng");
        write_session(&path, &cfg);
        let mut feed = CaptureFeed::load(&spec(&path, true, 3), |_| {}).unwrap();

        let sent = drain(&mut feed, usize::MAX);
        assert_eq!(sent.len(), 3 * per_pass + 1);
        assert_eq!(assert_continuous(&sent, 1), 3_001);
        for (i, (payload, ts, new_pass, pass)) in sent.iter().enumerate() {
            let kind = Mold::new_checked(&payload[..]).unwrap().kind();
            let last = i == sent.len() - 1;
            assert_eq!(kind == PacketKind::EndOfSession, last, "datagram {i}");
            assert_eq!(
                *new_pass,
                i == per_pass || i == 2 * per_pass,
                "datagram {i}"
            );
            assert_eq!(*pass, if last { 2 } else { (i / per_pass) as u64 });
            let source = if last { per_pass } else { i % per_pass };
            assert_eq!(*ts, expected[source].1, "datagram {i}");
            // Only the Sequence Number differs from the captured bytes.
            assert_eq!(payload[..10], expected[source].0[..10]);
            assert_eq!(payload[18..], expected[source].0[18..]);
        }
        assert!(feed.next_datagram().is_none());
        assert_eq!(feed.pass(), 2);
    }

    #[test]
    fn without_end_the_passes_go_on_and_never_end_the_session() {
        let cfg = config(300);
        let per_pass = generated(&cfg).len() - 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.pcap");
        write_session(&path, &cfg);
        let mut feed = CaptureFeed::load(&spec(&path, true, 0), |_| {}).unwrap();

        let sent = drain(&mut feed, 5 * per_pass);
        assert_eq!(sent.len(), 5 * per_pass);
        assert_eq!(assert_continuous(&sent, 1), 5 * 300 + 1);
        for (i, (payload, _, new_pass, pass)) in sent.iter().enumerate() {
            assert_ne!(
                Mold::new_checked(&payload[..]).unwrap().kind(),
                PacketKind::EndOfSession
            );
            assert_eq!(*new_pass, i > 0 && i % per_pass == 0, "datagram {i}");
            assert_eq!(*pass, (i / per_pass) as u64);
        }
        // The sixth pass starts as the others did.
        let sixth = feed.next_datagram().unwrap();
        assert!(sixth.new_pass);
        assert_eq!(Mold::new_checked(sixth.payload).unwrap().sequence(), 1_501);
    }

    #[test]
    fn without_renumbering_every_pass_sends_the_captured_bytes() {
        let cfg = config(500);
        let expected = generated(&cfg);
        let per_pass = expected.len() - 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.pcapng");
        write_session(&path, &cfg);
        let mut feed = CaptureFeed::load(&spec(&path, false, 3), |_| {}).unwrap();

        let sent = drain(&mut feed, usize::MAX);
        assert_eq!(sent.len(), 3 * per_pass + 1);
        for (i, (payload, ts, new_pass, _)) in sent.iter().enumerate() {
            let source = if i == sent.len() - 1 {
                per_pass
            } else {
                i % per_pass
            };
            assert_eq!(payload, &expected[source].0, "datagram {i}");
            assert_eq!(*ts, expected[source].1, "datagram {i}");
            assert_eq!(
                *new_pass,
                i == per_pass || i == 2 * per_pass,
                "datagram {i}"
            );
        }
    }

    #[test]
    fn other_traffic_is_counted_and_skipped() {
        let session = b"MIXED00001";
        let first = mold(session, 10, &[b"hello", b"world"]);
        let heartbeat = mold(session, 12, &[]);
        let last = mold(session, 12, &[b"third"]);
        let mut end = vec![0; moldudp64::HEADER_LEN];
        moldudp64::write_end_of_session(&mut end, session, 13).unwrap();

        let tcp_template = TcpFrameTemplate::new(&default_endpoints());
        let mut tcp = vec![0; tcp_template.header_len() + 4];
        tcp[tcp_template.header_len()..].copy_from_slice(b"ping");
        let tcp_len = tcp_template
            .finish(&mut tcp, 4, 1, 1, 0, TcpFlags::ACK, 512)
            .unwrap();
        tcp.truncate(tcp_len);
        let dns = udp_frame(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01", 53);
        // A datagram with a printable session whose count claims more than it holds.
        let mut broken = mold(session, 13, &[b"x"]);
        broken[19] = 2;
        // 20 binary bytes: MoldUDP64's structure (a heartbeat) but no printable session.
        let binary = udp_frame(&[0; 20], 123);
        let cut = udp_frame(&last, 26_400);
        let frames = [
            (udp_frame(&first, 26_400), 0),
            (tcp, 0),
            (dns, 0),
            (udp_frame(&heartbeat, 26_400), 0),
            (cut[..cut.len() - 3].to_vec(), cut.len() as u32),
            (udp_frame(&broken, 26_400), 0),
            (binary, 0),
            (vec![0xff; 10], 0),
            (udp_frame(&last, 26_400), 0),
            (udp_frame(&end, 26_400), 0),
        ];
        let frames: Vec<_> = frames
            .into_iter()
            .map(|(f, original)| {
                let len = f.len() as u32;
                (f, original.max(len))
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.pcap");
        write_frames(&path, LinkType::ETHERNET, &frames);

        let mut feed = CaptureFeed::load(&spec(&path, true, 2), |_| {}).unwrap();
        assert_eq!(
            *feed.stats(),
            LoadStats {
                records: 10,
                data_packets: 2,
                heartbeats: 1,
                end_of_session: 1,
                messages: 3,
                payload_bytes: (first.len() + heartbeat.len() + last.len() + end.len()) as u64,
                other_udp: 3,
                non_udp: 2,
                ip_fragments: 0,
                truncated: 1,
            }
        );
        assert_eq!((feed.first_sequence(), feed.sequence_span()), (10, 3));
        assert_eq!(feed.session(), "MIXED00001");
        // Records 0, 3 and 8, a microsecond per record apart (the End of Session in
        // record 9 is not part of every pass).
        assert_eq!((feed.duration_ns(), feed.mean_gap_ns()), (8_000, 4_000));

        let sent = drain(&mut feed, usize::MAX);
        let sequences: Vec<(u64, u16, bool)> = sent
            .iter()
            .map(|(p, _, new_pass, _)| {
                let p = Mold::new_checked(&p[..]).unwrap();
                (p.sequence(), p.count(), *new_pass)
            })
            .collect();
        assert_eq!(
            sequences,
            [
                (10, 2, false),
                (12, 0, false),
                (12, 1, false),
                (13, 2, true),
                (15, 0, false),
                (15, 1, false),
                (16, 0xffff, false),
            ]
        );
        assert_eq!(sent[1].1, 1_000_003_000);
    }

    #[test]
    fn raw_ip_captures_load_like_ethernet_ones() {
        let session = b"RAWIP00001";
        let payload = mold(session, 1, &[b"abc"]);
        let frame = udp_frame(&payload, 26_400);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.pcapng");
        let ip = frame[14..].to_vec();
        let len = ip.len() as u32;
        write_frames(&path, LinkType::RAW, &[(ip, len)]);
        let mut feed = CaptureFeed::load(&spec(&path, false, 1), |_| {}).unwrap();
        assert_eq!(feed.next_datagram().unwrap().payload, &payload[..]);
        assert!(feed.next_datagram().is_none());
    }

    #[test]
    fn a_second_session_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.pcap");
        let a = udp_frame(&mold(b"SESSIONA  ", 1, &[b"m"]), 26_400);
        let b = udp_frame(&mold(b"SESSIONB  ", 1, &[b"m"]), 26_401);
        let frames: Vec<_> = [&a, &a, &b]
            .iter()
            .map(|f| (f.to_vec(), f.len() as u32))
            .collect();
        write_frames(&path, LinkType::ETHERNET, &frames);
        let err = CaptureFeed::load(&spec(&path, true, 1), |_| {}).unwrap_err();
        let offset = 24 + 2 * (16 + a.len() as u64);
        assert!(
            matches!(&err, CaptureFeedError::TwoSessions { first, first_record: 0, second, record: 2, offset: o, .. }
                if first == "SESSIONA" && second == "SESSIONB" && *o == offset),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: record 2 at offset {offset}: MoldUDP64 session \"SESSIONB\" after session \"SESSIONA\" \
                 (first seen in record 0); a run replays one session: filter the capture to one \
                 (e.g. by destination group and port)",
                path.display()
            )
        );
        assert!(err.is_data_error());
    }

    #[test]
    fn data_after_the_end_of_session_is_refused() {
        let session = b"ENDED00001";
        let mut end = vec![0; moldudp64::HEADER_LEN];
        moldudp64::write_end_of_session(&mut end, session, 2).unwrap();
        let frames: Vec<_> = [mold(session, 1, &[b"m"]), end, mold(session, 2, &[b"n"])]
            .iter()
            .map(|p| {
                let f = udp_frame(p, 26_400);
                let len = f.len() as u32;
                (f, len)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ended.pcap");
        write_frames(&path, LinkType::ETHERNET, &frames);
        let err = CaptureFeed::load(&spec(&path, true, 1), |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                CaptureFeedError::DataAfterEndOfSession {
                    end_record: 1,
                    record: 2,
                    sequence: 2,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_capture_without_moldudp64_is_refused_saying_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.pcapng");
        let dns = udp_frame(b"not a mold packet at all", 53);
        let len = dns.len() as u32;
        write_frames(
            &path,
            LinkType::ETHERNET,
            &[(dns.clone(), len), (dns, len), (vec![1; 20], 20)],
        );
        let err = CaptureFeed::load(&spec(&path, true, 1), |_| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: no MoldUDP64 packet in the capture (3 records: 2 UDP datagrams (0 MoldUDP64: 0 data \
                 with 0 messages, 0 heartbeats, 0 End of Session; 2 other UDP); 1 non-UDP; 0 IPv4 fragments; \
                 0 truncated); expected UDP datagrams carrying MoldUDP64 (a 20-byte header with a printable \
                 10-character session, then message blocks)",
                path.display()
            )
        );

        let empty = dir.path().join("empty.pcap");
        write_frames(&empty, LinkType::ETHERNET, &[]);
        let err = CaptureFeed::load(&spec(&empty, true, 1), |_| {}).unwrap_err();
        assert!(
            matches!(&err, CaptureFeedError::NoMoldUdp64 { stats, .. } if **stats == LoadStats::default()),
            "{err:?}"
        );

        let quiet = dir.path().join("heartbeats.pcap");
        let hb = udp_frame(&mold(b"QUIET00001", 1, &[]), 26_400);
        let len = hb.len() as u32;
        write_frames(&quiet, LinkType::ETHERNET, &[(hb, len)]);
        let err = CaptureFeed::load(&spec(&quiet, true, 0), |_| {}).unwrap_err();
        assert!(
            matches!(&err, CaptureFeedError::NoMessages { session, stats, .. }
                if session == "QUIET00001" && stats.heartbeats == 1),
            "{err:?}"
        );
    }

    #[test]
    fn an_unsupported_link_type_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wifi.pcap");
        write_frames(&path, LinkType(105), &[(vec![0; 40], 40)]);
        let err = CaptureFeed::load(&spec(&path, true, 1), |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                CaptureFeedError::UnsupportedLinkType {
                    record: 0,
                    offset: 24,
                    link_type: LinkType(105),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_file_is_the_capture_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere.pcap");
        let err = CaptureFeed::load(&spec(&path, true, 1), |_| {}).unwrap_err();
        match &err {
            CaptureFeedError::Capture(CaptureError::Io { path: p, source }) => {
                assert_eq!(p, &path);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected the capture's I/O error, got {other:?}"),
        }
        assert_eq!(err.to_string(), format!("{}: I/O error", path.display()));
        assert!(!err.is_data_error());
    }

    #[test]
    fn a_capture_cut_inside_a_record_is_the_capture_error() {
        let cfg = config(200);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.pcap");
        write_session(&path, &cfg);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let err = CaptureFeed::load(&spec(&path, true, 1), |_| {}).unwrap_err();
        assert!(
            matches!(&err, CaptureFeedError::Capture(e @ CaptureError::Truncated { .. }) if e.path() == path),
            "{err:?}"
        );
    }
}
