//! Both stamps of every figure from one place: an AF_PACKET tap on the feed's
//! interface (`network.tap = true`) sees the feed's datagrams leave and the order
//! session's TCP segments arrive, each stamped by the kernel as it crossed the
//! interface, while the feed and the session themselves run over their own sockets.
//!
//! The send thread polls the [`Tap`] between sends. A datagram leaving is known by
//! its MoldUDP64 header ([`DatagramKey`]: sequence number and message count); an
//! order is known by where its SoupBinTCP packet ends in the client's byte stream,
//! which the gateway reports and the tap finds in the TCP sequence numbers
//! ([`OrderStream`]: the SYN gives the initial sequence number, every data segment a
//! range of the stream, and a byte's arrival is the first segment that carried it,
//! so a retransmission never makes an order later).
//!
//! It must never allocate or block on the send thread: its buffers and rings are
//! made in [`Tap::open`]; a full ring drops the oldest entry and counts it. The
//! parsing ([`OrderStream`], [`feed_departure`]) is pure and tested with recorded
//! frames.
//!
//! ```
//! use ticklab::lab::tap::OrderStream;
//! let mut stream = OrderStream::new(64);
//! stream.on_segment(0x0000_1000, true, 0, 10);         // SYN: ISN 0x1000
//! stream.on_segment(0x0000_1001, false, 40, 20);       // stream bytes 0..40
//! stream.on_segment(0x0000_1029, false, 30, 35);       // bytes 40..70
//! assert_eq!(stream.arrival(40), Some(20));            // a packet ending at 40
//! assert_eq!(stream.arrival(41), Some(35));
//! assert_eq!(stream.arrival(71), None);                // not seen yet
//! ```

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use crate::nic::af_packet::{AfPacketConfig, AfPacketControl, AfPacketPort, Direction};
use crate::nic::RxMeta;
use crate::proto::moldudp64::Packet;
use crate::wire::{dissect_ethernet, Transport};

/// Frames read from the tap in one poll at most.
const TAP_BURST: usize = 32;
/// The largest frame the tap copies: the feed's and the session's are far smaller.
const TAP_FRAME: usize = 2048;
/// Segments of the order session remembered until an order needs them.
const SEGMENTS: usize = 1 << 14;

/// A feed datagram as its MoldUDP64 header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramKey {
    pub sequence: u64,
    pub count: u16,
}

impl DatagramKey {
    /// The key of a MoldUDP64 payload, if it is one.
    pub fn of(payload: &[u8]) -> Option<DatagramKey> {
        let packet = Packet::new_checked(payload).ok()?;
        Some(DatagramKey {
            sequence: packet.sequence(),
            count: packet.count(),
        })
    }
}

/// A feed datagram in a frame the tap saw leave: UDP to `feed` carrying MoldUDP64.
pub fn feed_departure(frame: &[u8], feed: SocketAddrV4) -> Option<DatagramKey> {
    let layers = dissect_ethernet(frame).ok()?;
    let ipv4 = layers.ipv4?;
    match layers.transport {
        Transport::Udp {
            dst_port, payload, ..
        } if dst_port == feed.port() && ipv4.dst == *feed.ip() => DatagramKey::of(payload),
        _ => None,
    }
}

/// A segment of the order session the tap saw arrive: TCP to `gateway`, with its
/// sequence number, SYN flag and payload length. Read from the headers alone: the
/// kernel may hand the tap several segments merged into one (GRO) far longer than
/// the copy the tap keeps, and only the lengths in the headers matter.
pub fn order_segment(frame: &[u8], gateway: SocketAddrV4) -> Option<(u32, bool, usize)> {
    let be16 = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    // Ethernet, then up to two VLAN tags.
    let mut ip = 14;
    let mut ethertype = be16(12)?;
    while matches!(ethertype, 0x8100 | 0x88a8) && ip < 22 {
        ethertype = be16(ip + 2)?;
        ip += 4;
    }
    if ethertype != 0x0800 {
        return None;
    }
    let version_ihl = *frame.get(ip)?;
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    let fragment = be16(ip + 6)? & 0x3fff;
    if version_ihl >> 4 != 4 || ihl < 20 || *frame.get(ip + 9)? != 6 || fragment != 0 {
        return None;
    }
    let dst = std::net::Ipv4Addr::from(<[u8; 4]>::try_from(frame.get(ip + 16..ip + 20)?).ok()?);
    let tcp = ip + ihl;
    if dst != *gateway.ip() || be16(tcp + 2)? != gateway.port() {
        return None;
    }
    let seq = u32::from_be_bytes(frame.get(tcp + 4..tcp + 8)?.try_into().ok()?);
    let data_offset = usize::from(*frame.get(tcp + 12)? >> 4) * 4;
    let syn = *frame.get(tcp + 13)? & 0x02 != 0;
    let payload = usize::from(be16(ip + 2)?).checked_sub(ihl + data_offset)?;
    Some((seq, syn, payload))
}

/// The client's byte stream as the tap saw it arrive: which segment first carried
/// each byte, and when.
#[derive(Debug)]
pub struct OrderStream {
    /// The initial sequence number, from the SYN.
    isn: Option<u32>,
    /// The highest stream offset seen, for placing 32-bit sequence numbers.
    high: u64,
    /// `(start, end, ns)` of segments, oldest first.
    segments: VecDeque<(u64, u64, u64)>,
    capacity: usize,
    /// Segments dropped from a full ring before an order needed them.
    pub dropped: u64,
    /// Data seen before a SYN (the tap opened mid-connection): unplaceable.
    pub unplaced: u64,
}

impl OrderStream {
    pub fn new(capacity: usize) -> OrderStream {
        OrderStream {
            isn: None,
            high: 0,
            segments: VecDeque::with_capacity(capacity),
            capacity,
            dropped: 0,
            unplaced: 0,
        }
    }

    /// A segment with sequence number `seq` (`syn`: the connection's first) and
    /// `len` bytes of data arrived at `ns`.
    pub fn on_segment(&mut self, seq: u32, syn: bool, len: usize, ns: u64) {
        if syn {
            // A new connection starts the stream over.
            self.isn = Some(seq);
            self.high = 0;
            self.segments.clear();
            return;
        }
        let Some(isn) = self.isn else {
            if len > 0 {
                self.unplaced += 1;
            }
            return;
        };
        if len == 0 {
            return;
        }
        // The offset of the segment's first byte, modulo 2^32, placed nearest the
        // highest offset seen (segments arrive in order or nearly).
        let low = u64::from(seq.wrapping_sub(isn).wrapping_sub(1));
        let base = self.high & !0xffff_ffff;
        let start = [base.wrapping_sub(1 << 32), base, base + (1 << 32)]
            .into_iter()
            .map(|b| b.wrapping_add(low))
            .min_by_key(|candidate| candidate.abs_diff(self.high))
            .unwrap_or(low);
        let end = start + len as u64;
        self.high = self.high.max(end);
        if self.segments.len() == self.capacity {
            self.segments.pop_front();
            self.dropped += 1;
        }
        self.segments.push_back((start, end, ns));
    }

    /// When the byte just before `stream_end` first arrived: the stamp of an order
    /// whose packet ends there. `None` until the tap has seen it. Orders are asked
    /// for in stream order, so segments wholly before this one are let go.
    pub fn arrival(&mut self, stream_end: u64) -> Option<u64> {
        let byte = stream_end.checked_sub(1)?;
        let first = self
            .segments
            .iter()
            .filter(|(start, end, _)| (*start..*end).contains(&byte))
            .map(|(_, _, ns)| *ns)
            .min()?;
        while self
            .segments
            .front()
            .is_some_and(|(_, end, _)| *end <= byte)
        {
            self.segments.pop_front();
        }
        Some(first)
    }
}

/// What the tap saw over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TapCounts {
    /// Feed datagrams whose departure the tap stamped.
    pub feed_departures: u64,
    /// Orders whose arrival the tap stamped.
    pub order_arrivals: u64,
    /// Feed datagrams the tap never showed (their TX time is the port's fallback).
    pub feed_missed: u64,
    /// Orders the tap never showed in time (stamped by the order socket instead).
    pub orders_missed: u64,
    /// Frames the tap's ring dropped (the kernel's count).
    pub ring_dropped: u64,
}

/// The tap on the feed's interface, owned by the send thread.
pub struct Tap {
    port: AfPacketPort,
    control: AfPacketControl,
    feed: SocketAddrV4,
    gateway: SocketAddrV4,
    buffers: Vec<Vec<u8>>,
    meta: [RxMeta; TAP_BURST],
    directions: [Direction; TAP_BURST],
    pub orders: OrderStream,
    pub counts: TapCounts,
}

impl Tap {
    /// Opens a tap on `interface` for the feed to `feed` and the order session to
    /// `gateway`.
    pub fn open(
        interface: &str,
        feed: SocketAddrV4,
        gateway: SocketAddrV4,
    ) -> Result<Tap, crate::nic::af_packet::OpenError> {
        let config = AfPacketConfig {
            tx_timestamps: false,
            ..AfPacketConfig::tap(interface)
        };
        let (port, control) = AfPacketPort::open(config)?;
        Ok(Tap {
            port,
            control,
            feed,
            gateway,
            buffers: (0..TAP_BURST).map(|_| vec![0; TAP_FRAME]).collect(),
            meta: [RxMeta::default(); TAP_BURST],
            directions: [Direction::default(); TAP_BURST],
            orders: OrderStream::new(SEGMENTS),
            counts: TapCounts::default(),
        })
    }

    /// Reads what the tap has seen: each feed datagram leaving goes to `departed`
    /// with its stamp (which says whether it was one the run was waiting for); each
    /// segment of the order session into [`Tap::orders`]. Never blocks.
    pub fn poll(
        &mut self,
        mut departed: impl FnMut(DatagramKey, u64) -> bool,
    ) -> Result<(), crate::nic::Error> {
        loop {
            let mut buffers: [&mut [u8]; TAP_BURST] = Default::default();
            for (slot, buffer) in buffers.iter_mut().zip(self.buffers.iter_mut()) {
                *slot = buffer.as_mut_slice();
            }
            let n = self.port.recv_burst_with_direction(
                &mut buffers,
                &mut self.meta,
                &mut self.directions,
            )?;
            for i in 0..n {
                let Some(stamp) = self.meta[i].stamp else {
                    continue;
                };
                let frame = &self.buffers[i][..self.meta[i].len];
                if self.directions[i].is_outgoing() {
                    if let Some(key) = feed_departure(frame, self.feed) {
                        if departed(key, stamp.ns) {
                            self.counts.feed_departures += 1;
                        }
                    }
                } else if let Some((seq, syn, len)) = order_segment(frame, self.gateway) {
                    self.orders.on_segment(seq, syn, len, stamp.ns);
                }
            }
            if n < TAP_BURST {
                return Ok(());
            }
        }
    }

    /// The tap's counts, with the kernel's count of frames its ring dropped.
    pub fn finish(&mut self) -> TapCounts {
        let _ = self.port.refresh_rx_drops();
        self.counts.ring_dropped = self.control.rx_dropped();
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MacAddr, TcpEndpoints, TcpFlags, TcpFrameTemplate};

    #[test]
    fn segments_place_bytes_and_an_order_gets_its_last_bytes_first_arrival() {
        let isn = 0xffff_fff0u32; // the stream wraps 2^32 after 15 bytes
        let mut s = OrderStream::new(8);
        s.on_segment(isn, true, 0, 1);
        s.on_segment(isn.wrapping_add(1), false, 10, 100); // 0..10
        s.on_segment(isn.wrapping_add(11), false, 10, 200); // 10..20 (wraps)
        s.on_segment(isn.wrapping_add(11), false, 10, 250); // retransmitted
        s.on_segment(isn.wrapping_add(21), false, 5, 300); // 20..25
        assert_eq!(s.arrival(10), Some(100));
        assert_eq!(s.arrival(11), Some(200));
        assert_eq!(
            s.arrival(20),
            Some(200),
            "first arrival, not the retransmission"
        );
        assert_eq!(s.arrival(25), Some(300));
        assert_eq!(s.arrival(26), None);
        assert_eq!(s.arrival(0), None);
        // Out of order: 30..40 before 25..30.
        s.on_segment(isn.wrapping_add(31), false, 10, 500);
        assert_eq!(s.arrival(30), None);
        s.on_segment(isn.wrapping_add(26), false, 5, 510);
        assert_eq!(s.arrival(30), Some(510));
        assert_eq!(s.arrival(40), Some(500));
        assert_eq!((s.dropped, s.unplaced), (0, 0));
    }

    #[test]
    fn data_before_a_syn_is_counted_and_a_full_ring_drops_the_oldest() {
        let mut s = OrderStream::new(2);
        s.on_segment(7, false, 3, 1);
        assert_eq!(s.unplaced, 1);
        s.on_segment(100, true, 0, 2);
        for i in 0..3u32 {
            s.on_segment(101 + i * 4, false, 4, 10 + u64::from(i));
        }
        assert_eq!(s.dropped, 1);
        assert_eq!(s.arrival(4), None, "the first segment was dropped");
        assert_eq!(s.arrival(12), Some(12));
    }

    #[test]
    fn frames_are_told_apart_by_destination() {
        let feed: SocketAddrV4 = "239.198.0.1:26400".parse().unwrap();
        let gateway: SocketAddrV4 = "198.18.0.1:15000".parse().unwrap();
        // A feed datagram: MoldUDP64 session, sequence 77, 2 messages.
        let mut payload = Vec::new();
        payload.extend_from_slice(b"SESSION001");
        payload.extend_from_slice(&77u64.to_be_bytes());
        payload.extend_from_slice(&2u16.to_be_bytes());
        for _ in 0..2 {
            payload.extend_from_slice(&1u16.to_be_bytes());
            payload.push(b'X');
        }
        let udp = crate::wire::UdpFrameTemplate::new(
            &crate::wire::UdpEndpoints {
                src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                dst_mac: crate::wire::multicast_mac(*feed.ip()),
                vlan: None,
                src_ip: "198.18.0.1".parse().unwrap(),
                dst_ip: *feed.ip(),
                src_port: 40_000,
                dst_port: feed.port(),
                ttl: 1,
                dscp: 0,
            },
            false,
        );
        let mut frame = vec![0u8; 200];
        frame[udp.header_len()..udp.header_len() + payload.len()].copy_from_slice(&payload);
        let len = udp.finish(&mut frame, payload.len(), 1).unwrap();
        assert_eq!(
            feed_departure(&frame[..len], feed),
            Some(DatagramKey {
                sequence: 77,
                count: 2
            })
        );
        let other: SocketAddrV4 = "239.198.0.1:26401".parse().unwrap();
        assert_eq!(feed_departure(&frame[..len], other), None);
        assert_eq!(order_segment(&frame[..len], gateway), None);

        // A segment of the order session, and one of another connection.
        let tcp = |dst_port| {
            TcpFrameTemplate::new(&TcpEndpoints {
                src_mac: MacAddr([2, 0, 0, 0, 0, 2]),
                dst_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                vlan: None,
                src_ip: "198.18.0.2".parse().unwrap(),
                dst_ip: *gateway.ip(),
                src_port: 50_000,
                dst_port,
                ttl: 64,
                dscp: 0,
            })
        };
        let mut frame = vec![0u8; 200];
        let t = tcp(gateway.port());
        frame[t.header_len()..t.header_len() + 5].copy_from_slice(b"order");
        let len = t
            .finish(
                &mut frame,
                5,
                3,
                0xdead_beef,
                1,
                TcpFlags::PSH | TcpFlags::ACK,
                512,
            )
            .unwrap();
        assert_eq!(
            order_segment(&frame[..len], gateway),
            Some((0xdead_beef, false, 5))
        );
        assert_eq!(feed_departure(&frame[..len], feed), None);
        let t = tcp(15_001);
        let len = t
            .finish(&mut frame, 0, 4, 9, 0, TcpFlags::SYN, 512)
            .unwrap();
        assert_eq!(order_segment(&frame[..len], gateway), None);
        let t = tcp(gateway.port());
        let len = t
            .finish(&mut frame, 0, 4, 9, 0, TcpFlags::SYN, 512)
            .unwrap();
        assert_eq!(order_segment(&frame[..len], gateway), Some((9, true, 0)));

        // Merged segments (GRO) longer than the tap's copy: the headers say 3000.
        let mut big = vec![0u8; 3100];
        let len = t
            .finish(&mut big, 3000, 5, 77, 1, TcpFlags::PSH | TcpFlags::ACK, 512)
            .unwrap();
        assert_eq!(len, 3054);
        assert_eq!(
            order_segment(&big[..2048], gateway),
            Some((77, false, 3000))
        );
        assert_eq!(
            order_segment(&big[..40], gateway),
            None,
            "cut inside the TCP header"
        );
    }
}
