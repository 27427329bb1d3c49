//! Both stamps of every figure from one place: an AF_PACKET tap on the feed's
//! interface (`network.tap = true`) sees the feed's datagrams leave and the order
//! session's TCP segments arrive, each stamped by the kernel as it crossed the
//! interface, while the feed and the session themselves run over their own sockets.
//!
//! The send thread polls the [`Tap`] between sends. A datagram leaving is known by
//! its MoldUDP64 header ([`DatagramKey`]: sequence number and message count); an
//! order is known by where its SoupBinTCP packet ends in the client's byte stream,
//! which the gateway reports and the tap finds in the TCP sequence numbers
//! ([`OrderStream`]: the client's SYN gives the initial sequence number, every data
//! segment of that connection a range of the stream, and a byte's arrival is the
//! first segment that carried it, so a retransmission never makes an order later).
//! Only headers are read, so the tap copies the first bytes of each frame.
//!
//! It must never allocate or block on the send thread: its buffers and rings are
//! made in [`Tap::open`]; a full ring drops the oldest entry and counts it. The
//! parsing ([`OrderStream`], [`feed_departure`]) is pure and tested with recorded
//! frames.
//!
//! ```
//! use ticklab::lab::tap::{OrderStream, Segment};
//! let from = "198.18.0.2:40000".parse()?;
//! let segment = |seq, syn, len| Segment { from, seq, syn, len };
//! let mut stream = OrderStream::new(64);
//! stream.on_segment(segment(0x1000, true, 0), 10);   // SYN: ISN 0x1000
//! stream.on_segment(segment(0x1001, false, 40), 20); // stream bytes 0..40
//! stream.on_segment(segment(0x1029, false, 30), 35); // bytes 40..70
//! assert_eq!(stream.arrival(40), Some(20));          // a packet ending at 40
//! assert_eq!(stream.arrival(41), Some(35));
//! assert_eq!(stream.arrival(71), None);              // not seen yet
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::nic::af_packet::{AfPacketConfig, AfPacketControl, AfPacketPort, Direction};
use crate::nic::RxMeta;
use crate::proto::moldudp64::Packet;

/// Frames read from the tap in one burst.
const TAP_BURST: usize = 32;
/// Bursts read in one poll at most, so a busy interface cannot hold the send
/// thread; the rest waits in the ring for the next poll.
const TAP_BURSTS_PER_POLL: usize = 4;
/// Bytes of each frame the tap copies: the headers, up to two VLAN tags, IPv4 with
/// options, and UDP with MoldUDP64's header or TCP with options.
const TAP_FRAME: usize = 160;
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

/// The addresses and lengths of an IPv4 frame, read from its headers alone: the
/// tap keeps only the first bytes of each frame, and the kernel may hand it several
/// segments merged into one (GRO) far longer than that copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Headers {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    /// Where the UDP or TCP header starts.
    l4: usize,
    /// IPv4 total length minus the IPv4 header.
    l4_len: usize,
    /// A fragment other than the first (no transport header of its own), or a
    /// first fragment.
    later_fragment: bool,
    first_fragment: bool,
}

fn be16(frame: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
}

fn headers(frame: &[u8]) -> Option<Headers> {
    // Ethernet, then up to two VLAN tags.
    let mut ip = 14;
    let mut ethertype = be16(frame, 12)?;
    while matches!(ethertype, 0x8100 | 0x88a8) && ip < 22 {
        ethertype = be16(frame, ip + 2)?;
        ip += 4;
    }
    if ethertype != 0x0800 {
        return None;
    }
    let version_ihl = *frame.get(ip)?;
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    if version_ihl >> 4 != 4 || ihl < 20 {
        return None;
    }
    let fragment = be16(frame, ip + 6)?;
    let address = |at: usize| -> Option<Ipv4Addr> {
        Some(Ipv4Addr::from(
            <[u8; 4]>::try_from(frame.get(at..at + 4)?).ok()?,
        ))
    };
    Some(Headers {
        src: address(ip + 12)?,
        dst: address(ip + 16)?,
        protocol: *frame.get(ip + 9)?,
        l4: ip + ihl,
        l4_len: usize::from(be16(frame, ip + 2)?).checked_sub(ihl)?,
        later_fragment: fragment & 0x1fff != 0,
        first_fragment: fragment & 0x2000 != 0,
    })
}

/// A feed datagram in a frame the tap saw leave: UDP to `feed` carrying MoldUDP64,
/// known by its header (the first fragment of a fragmented datagram has it too).
pub fn feed_departure(frame: &[u8], feed: SocketAddrV4) -> Option<DatagramKey> {
    let h = headers(frame)?;
    if h.protocol != 17 || h.later_fragment || h.dst != *feed.ip() {
        return None;
    }
    if be16(frame, h.l4 + 2)? != feed.port() {
        return None;
    }
    // MoldUDP64: session (10), sequence number (8), message count (2).
    let mold = h.l4 + 8;
    Some(DatagramKey {
        sequence: u64::from_be_bytes(frame.get(mold + 10..mold + 18)?.try_into().ok()?),
        count: be16(frame, mold + 18)?,
    })
}

/// A segment of the order session the tap saw arrive: TCP to `gateway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The client's address and port.
    pub from: SocketAddrV4,
    pub seq: u32,
    pub syn: bool,
    /// Bytes of data (of all segments, when GRO merged several).
    pub len: usize,
}

/// The order session's segment in a frame the tap saw arrive, if it is one.
pub fn order_segment(frame: &[u8], gateway: SocketAddrV4) -> Option<Segment> {
    let h = headers(frame)?;
    if h.protocol != 6 || h.later_fragment || h.first_fragment || h.dst != *gateway.ip() {
        return None;
    }
    let tcp = h.l4;
    if be16(frame, tcp + 2)? != gateway.port() {
        return None;
    }
    let data_offset = usize::from(*frame.get(tcp + 12)? >> 4) * 4;
    Some(Segment {
        from: SocketAddrV4::new(h.src, be16(frame, tcp)?),
        seq: u32::from_be_bytes(frame.get(tcp + 4..tcp + 8)?.try_into().ok()?),
        syn: *frame.get(tcp + 13)? & 0x02 != 0,
        len: h.l4_len.checked_sub(data_offset)?,
    })
}

/// How far from the highest offset seen a segment may be placed: further, it is not
/// this connection's (segments arrive in order or nearly).
const PLACEMENT_WINDOW: u64 = 1 << 30;

/// The client's byte stream as the tap saw it arrive: which segment first carried
/// each byte, and when. It follows the first connection it sees open and ignores
/// every other (a reconnect, a probe), as the gateway serves one.
#[derive(Debug)]
pub struct OrderStream {
    /// The client and its initial sequence number, from its SYN.
    client: Option<(SocketAddrV4, u32)>,
    /// The highest stream offset seen, for placing 32-bit sequence numbers.
    high: u64,
    /// `(start, end, ns)` of segments, oldest first.
    segments: VecDeque<(u64, u64, u64)>,
    capacity: usize,
    /// Every byte before this has been answered: segments wholly before it go first.
    answered: u64,
    /// Changes with every segment kept: a lookup that missed need not scan again
    /// until it does.
    generation: u64,
    missed: Option<(u64, u64)>,
    /// Segments dropped from a full ring before an order needed them.
    pub dropped: u64,
    /// Data segments the stream could not place: before the client's SYN, or too
    /// far from the rest of the stream.
    pub unplaced: u64,
    /// Segments of other connections to the gateway's port, ignored.
    pub others: u64,
}

impl OrderStream {
    pub fn new(capacity: usize) -> OrderStream {
        OrderStream {
            client: None,
            high: 0,
            segments: VecDeque::with_capacity(capacity),
            capacity,
            answered: 0,
            generation: 0,
            missed: None,
            dropped: 0,
            unplaced: 0,
            others: 0,
        }
    }

    /// A segment arrived at `ns`.
    pub fn on_segment(&mut self, segment: Segment, ns: u64) {
        let Some((client, isn)) = self.client else {
            if segment.syn {
                self.client = Some((segment.from, segment.seq));
            } else if segment.len > 0 {
                self.unplaced += 1;
            }
            return;
        };
        if segment.from != client {
            self.others += 1;
            return;
        }
        if segment.syn || segment.len == 0 {
            // A retransmitted SYN, a bare ACK: nothing to place.
            return;
        }
        // The offset of the segment's first byte, modulo 2^32, placed nearest the
        // highest offset seen.
        let low = u64::from(segment.seq.wrapping_sub(isn).wrapping_sub(1));
        let base = self.high & !0xffff_ffff;
        let start = [base.wrapping_sub(1 << 32), base, base + (1 << 32)]
            .into_iter()
            .map(|b| b.wrapping_add(low))
            .min_by_key(|candidate| candidate.abs_diff(self.high))
            .unwrap_or(low);
        if start.abs_diff(self.high) > PLACEMENT_WINDOW {
            self.unplaced += 1;
            return;
        }
        let end = start + segment.len as u64;
        self.high = self.high.max(end);
        if self.segments.len() == self.capacity {
            // Room from what every answered order is past, else the oldest.
            self.forget_before(self.answered);
            if self.segments.len() == self.capacity {
                self.segments.pop_front();
                self.dropped += 1;
            }
        }
        self.segments.push_back((start, end, ns));
        self.generation += 1;
    }

    fn forget_before(&mut self, offset: u64) {
        while self
            .segments
            .front()
            .is_some_and(|(_, end, _)| *end <= offset)
        {
            self.segments.pop_front();
        }
    }

    /// When the byte just before `stream_end` first arrived: the stamp of an order
    /// whose packet ends there. `None` until the tap has seen it. Orders are asked
    /// for in stream order, so segments wholly before this one are let go.
    pub fn arrival(&mut self, stream_end: u64) -> Option<u64> {
        let byte = stream_end.checked_sub(1)?;
        if self.missed == Some((byte, self.generation)) {
            return None;
        }
        let first = self
            .segments
            .iter()
            .filter(|(start, end, _)| (*start..*end).contains(&byte))
            .map(|(_, _, ns)| *ns)
            .min();
        let Some(first) = first else {
            self.missed = Some((byte, self.generation));
            return None;
        };
        // Later orders end further on: nothing up to this byte is needed again.
        self.answered = self.answered.max(byte + 1);
        self.forget_before(self.answered);
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
    /// Feed datagrams the tap never showed: their TX time is `CLOCK_REALTIME` read
    /// just before their send.
    pub feed_missed: u64,
    /// Orders the tap never showed in time: stamped by the order socket instead.
    pub orders_missed: u64,
    /// Frames the tap's ring dropped (the kernel's count).
    pub ring_dropped: u64,
    /// Segments of the order session dropped from a full stream before an order
    /// needed them, placed nowhere, or of other connections (see [`OrderStream`]).
    pub stream_dropped: u64,
    pub stream_unplaced: u64,
    pub other_connections: u64,
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
    /// `gateway`. Open it before the gateway listens, so it sees the client's SYN
    /// whoever connects first, then name the port it bound with
    /// [`Tap::set_gateway`]: what arrives meanwhile waits in the tap's ring.
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

    /// The order gateway's address, once it is bound.
    pub fn set_gateway(&mut self, gateway: SocketAddrV4) {
        self.gateway = gateway;
    }

    /// Reads what the tap has seen: each feed datagram leaving goes to `departed`
    /// with its stamp (which says whether it was one the run was waiting for); each
    /// segment of the order session into [`Tap::orders`]. Never blocks.
    pub fn poll(
        &mut self,
        mut departed: impl FnMut(DatagramKey, u64) -> bool,
    ) -> Result<(), crate::nic::Error> {
        for _ in 0..TAP_BURSTS_PER_POLL {
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
                let frame = &self.buffers[i][..self.meta[i].len];
                let stamp = self.meta[i].stamp.map(|s| s.ns);
                if self.directions[i].is_outgoing() {
                    match (feed_departure(frame, self.feed), stamp) {
                        (Some(key), Some(ns)) if departed(key, ns) => {
                            self.counts.feed_departures += 1;
                        }
                        _ => {}
                    }
                } else if let Some(segment) = order_segment(frame, self.gateway) {
                    // A SYN needs no stamp to open the stream; data does.
                    if segment.syn || stamp.is_some() {
                        self.orders.on_segment(segment, stamp.unwrap_or(0));
                    }
                }
            }
            if n < TAP_BURST {
                break;
            }
        }
        Ok(())
    }

    /// The tap's counts, with the kernel's count of frames its ring dropped.
    pub fn finish(&mut self) -> TapCounts {
        let _ = self.port.refresh_rx_drops();
        self.counts.ring_dropped = self.control.rx_dropped();
        self.counts.stream_dropped = self.orders.dropped;
        self.counts.stream_unplaced = self.orders.unplaced;
        self.counts.other_connections = self.orders.others;
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MacAddr, TcpEndpoints, TcpFlags, TcpFrameTemplate};

    fn client() -> SocketAddrV4 {
        "198.18.0.2:40000".parse().unwrap()
    }

    fn seg(seq: u32, syn: bool, len: usize) -> Segment {
        Segment {
            from: client(),
            seq,
            syn,
            len,
        }
    }

    #[test]
    fn segments_place_bytes_and_an_order_gets_its_last_bytes_first_arrival() {
        let isn = 0xffff_fff0u32; // the stream wraps 2^32 after 15 bytes
        let mut s = OrderStream::new(8);
        s.on_segment(seg(isn, true, 0), 1);
        s.on_segment(seg(isn.wrapping_add(1), false, 10), 100); // 0..10
        s.on_segment(seg(isn.wrapping_add(11), false, 10), 200); // 10..20 (wraps)
        s.on_segment(seg(isn.wrapping_add(11), false, 10), 250); // retransmitted
        s.on_segment(seg(isn.wrapping_add(21), false, 5), 300); // 20..25
        assert_eq!(s.arrival(10), Some(100));
        assert_eq!(s.arrival(11), Some(200));
        assert_eq!(
            s.arrival(20),
            Some(200),
            "first arrival, not the retransmission"
        );
        assert_eq!(s.arrival(25), Some(300));
        assert_eq!(s.arrival(26), None);
        assert_eq!(
            s.arrival(26),
            None,
            "a miss with nothing new is answered at once"
        );
        assert_eq!(s.arrival(0), None);
        // Out of order: 30..40 before 25..30.
        s.on_segment(seg(isn.wrapping_add(31), false, 10), 500);
        assert_eq!(s.arrival(30), None);
        s.on_segment(seg(isn.wrapping_add(26), false, 5), 510);
        assert_eq!(s.arrival(30), Some(510));
        assert_eq!(s.arrival(40), Some(500));
        assert_eq!((s.dropped, s.unplaced, s.others), (0, 0, 0));
    }

    #[test]
    fn other_connections_and_stray_data_are_counted_and_ignored() {
        let mut s = OrderStream::new(8);
        s.on_segment(seg(7, false, 3), 1);
        assert_eq!(s.unplaced, 1, "data before the SYN");
        s.on_segment(seg(100, true, 0), 2);
        s.on_segment(seg(101, false, 4), 3); // 0..4
                                             // A second client's SYN and data: not this stream.
        let other = Segment {
            from: "198.18.0.2:40001".parse().unwrap(),
            ..seg(5_000, true, 0)
        };
        s.on_segment(other, 4);
        s.on_segment(
            Segment {
                syn: false,
                len: 4,
                ..other
            },
            5,
        );
        assert_eq!(s.others, 2);
        // Our SYN again (retransmitted) changes nothing; a segment 2^31 away is not
        // ours either.
        s.on_segment(seg(100, true, 0), 6);
        s.on_segment(seg(101u32.wrapping_add(1 << 31), false, 4), 7);
        assert_eq!(s.unplaced, 2);
        s.on_segment(seg(105, false, 4), 8); // 4..8
        assert_eq!(s.arrival(4), Some(3));
        assert_eq!(s.arrival(8), Some(8));
    }

    #[test]
    fn a_full_stream_makes_room_from_answered_orders_first() {
        let mut s = OrderStream::new(2);
        s.on_segment(seg(100, true, 0), 0);
        s.on_segment(seg(101, false, 4), 10); // 0..4
        s.on_segment(seg(105, false, 4), 11); // 4..8
        assert_eq!(s.arrival(4), Some(10));
        s.on_segment(seg(109, false, 4), 12); // 8..12: 0..4 was answered
        assert_eq!(s.dropped, 0);
        s.on_segment(seg(113, false, 4), 13); // 12..16: 4..8 unanswered, dropped
        assert_eq!(s.dropped, 1);
        assert_eq!(s.arrival(8), None, "its segment was dropped");
        assert_eq!(s.arrival(16), Some(13));
    }

    fn udp_frame(feed: SocketAddrV4, sequence: u64, count: u16, filler: usize) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(b"SESSION001");
        payload.extend_from_slice(&sequence.to_be_bytes());
        payload.extend_from_slice(&count.to_be_bytes());
        payload.resize(payload.len() + filler, 0x55);
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
        let mut frame = vec![0u8; udp.header_len() + payload.len()];
        frame[udp.header_len()..].copy_from_slice(&payload);
        let len = udp.finish(&mut frame, payload.len(), 1).unwrap();
        frame.truncate(len);
        frame
    }

    #[test]
    fn frames_are_told_apart_by_destination_from_their_first_bytes() {
        let feed: SocketAddrV4 = "239.198.0.1:26400".parse().unwrap();
        let gateway: SocketAddrV4 = "198.18.0.1:15000".parse().unwrap();
        let frame = udp_frame(feed, 77, 2, 6);
        let key = DatagramKey {
            sequence: 77,
            count: 2,
        };
        assert_eq!(feed_departure(&frame, feed), Some(key));
        // A datagram of 8000 bytes, of which the tap keeps its first 160.
        let big = udp_frame(feed, 78, 300, 8_000);
        assert_eq!(
            feed_departure(&big[..TAP_FRAME], feed),
            Some(DatagramKey {
                sequence: 78,
                count: 300
            })
        );
        assert_eq!(
            feed_departure(&frame[..50], feed),
            None,
            "cut in the header"
        );
        let other: SocketAddrV4 = "239.198.0.1:26401".parse().unwrap();
        assert_eq!(feed_departure(&frame, other), None);
        assert_eq!(order_segment(&frame, gateway), None);

        // Segments of the order session.
        let tcp = |dst_port| {
            TcpFrameTemplate::new(&TcpEndpoints {
                src_mac: MacAddr([2, 0, 0, 0, 0, 2]),
                dst_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                vlan: None,
                src_ip: *client().ip(),
                dst_ip: *gateway.ip(),
                src_port: client().port(),
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
            Some(seg(0xdead_beef, false, 5))
        );
        assert_eq!(feed_departure(&frame[..len], feed), None);
        let len = tcp(15_001)
            .finish(&mut frame, 0, 4, 9, 0, TcpFlags::SYN, 512)
            .unwrap();
        assert_eq!(order_segment(&frame[..len], gateway), None);
        let len = t
            .finish(&mut frame, 0, 4, 9, 0, TcpFlags::SYN, 512)
            .unwrap();
        assert_eq!(order_segment(&frame[..len], gateway), Some(seg(9, true, 0)));

        // Merged segments (GRO) longer than the tap's copy: the headers say 3000.
        let mut big = vec![0u8; 3100];
        let len = t
            .finish(&mut big, 3000, 5, 77, 1, TcpFlags::PSH | TcpFlags::ACK, 512)
            .unwrap();
        assert_eq!(len, 3054);
        assert_eq!(
            order_segment(&big[..TAP_FRAME], gateway),
            Some(seg(77, false, 3000))
        );
        assert_eq!(
            order_segment(&big[..40], gateway),
            None,
            "cut inside the TCP header"
        );
    }
}
