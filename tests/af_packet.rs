//! The AF_PACKET port on a real link: two network namespaces joined by a veth pair
//! (198.18.0.1/30 on A, 198.18.0.2/30 on B; RFC 2544's benchmark range, so nothing
//! leaves the host). A sends Ethernet/IPv4/UDP frames built with `wire` templates
//! (every seventh one 802.1Q-tagged) in bursts from its TX ring; B's RX ring must get
//! every one, in order, byte for byte, each with an RX timestamp, and every frame A
//! sent must get exactly one TX timestamp. In tap mode A also sees its own frames
//! leave, marked outgoing, stamped by the same clock. Without TX stamps
//! (`tx_timestamps: false`, top-speed replay) every frame still arrives and is
//! counted, and the kernel queues no stamp at all; frames longer than the part the
//! kernel copies ([`TX_LINEAR_MAX`]) arrive whole too.
//!
//! Each port is opened inside its namespace, on a dedicated thread that `setns`es
//! into it; the sockets stay in that namespace when the port moves back.
//!
//! Needs root (CAP_NET_RAW for AF_PACKET, CAP_SYS_ADMIN for namespaces) and
//! iproute2's `ip`; without either the test fails, naming what is missing. The
//! namespaces are deleted by a guard, also when an assertion fails.

#![cfg(target_os = "linux")]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ticklab::nic::af_packet::{
    AfPacketConfig, AfPacketControl, AfPacketPort, Direction, HardwareStamping, TX_LINEAR_MAX,
};
use ticklab::nic::{ClockDomain, Port, PortControl, PortStats, RxMeta, TxTimestamp};
#[path = "common/netns.rs"]
mod netns;
use netns::{in_netns, require_root_and_ip, VethPair};
use ticklab::wire::{MacAddr, UdpEndpoints, UdpFrameTemplate, VlanTag};

const A_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const A_MAC: MacAddr = MacAddr([0x02, 0x7c, 0, 0, 0, 0x0a]);
const B_MAC: MacAddr = MacAddr([0x02, 0x7c, 0, 0, 0, 0x0b]);
/// Our frames' UDP source port, and where they go; anything else on the link (ARP,
/// IPv6 neighbour discovery, B's ICMP answers) is ignored.
const SRC_PORT: u16 = 40_000;
const DST_PORT: u16 = 40_001;
const BURST: usize = 32;
/// Only a guard against hanging forever; nothing here measures time.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Opens a port on a thread that entered the namespace `netns`; the port's sockets
/// belong to that namespace wherever the port goes afterwards.
fn open_in(netns: &str, config: AfPacketConfig) -> (AfPacketPort, AfPacketControl) {
    let interface = config.interface.clone();
    in_netns(netns, move || {
        AfPacketPort::open(config)
            .unwrap_or_else(|e| panic!("opening AF_PACKET on {interface}: {e}"))
    })
}

/// The test's veth pair, with the MACs its frames are addressed with.
fn link(tag: char) -> VethPair {
    VethPair::create(
        "afp",
        "tp",
        tag,
        Some((A_MAC.to_string(), B_MAC.to_string())),
    )
}

/// Frame `seq` from `src` to `dst`: Ethernet/IPv4/UDP, the sequence number first in
/// the payload, 0 to 48 bytes of pattern after it; every seventh frame carries an
/// 802.1Q tag.
fn build_frame(seq: u32, from_a: bool) -> Vec<u8> {
    build_frame_with_filler(seq, from_a, (seq % 49) as usize)
}

/// Like [`build_frame`], `filler` bytes of pattern after the sequence number.
fn build_frame_with_filler(seq: u32, from_a: bool, filler: usize) -> Vec<u8> {
    let (src_mac, dst_mac, src_ip, dst_ip) = if from_a {
        (A_MAC, B_MAC, A_ADDR, B_ADDR)
    } else {
        (B_MAC, A_MAC, B_ADDR, A_ADDR)
    };
    let template = UdpFrameTemplate::new(
        &UdpEndpoints {
            src_mac,
            dst_mac,
            vlan: (seq % 7 == 3).then_some(VlanTag {
                pcp: 5,
                dei: false,
                vid: 100 + (seq % 50) as u16,
            }),
            src_ip,
            dst_ip,
            src_port: SRC_PORT,
            dst_port: DST_PORT,
            ttl: 64,
            dscp: 0,
        },
        true,
    );
    let header_len = template.header_len();
    let mut frame = vec![0u8; header_len + 4 + filler];
    frame[header_len..header_len + 4].copy_from_slice(&seq.to_be_bytes());
    for (i, byte) in frame[header_len + 4..].iter_mut().enumerate() {
        *byte = (seq as u8) ^ (i as u8).wrapping_mul(31);
    }
    let len = template
        .finish(&mut frame, 4 + filler, seq as u16)
        .expect("the frame buffer holds the datagram");
    assert_eq!(len, frame.len());
    frame
}

/// The sequence number of one of our frames, `None` for other traffic.
fn our_seq(frame: &[u8]) -> Option<u32> {
    let mut at = 12;
    if frame.get(at..at + 2)? == [0x81, 0x00] {
        at += 4;
    }
    if frame.get(at..at + 2)? != [0x08, 0x00] || *frame.get(at + 2 + 9)? != 17 {
        return None;
    }
    let udp = at + 2 + 20;
    let ports = frame.get(udp..udp + 4)?;
    if ports != [SRC_PORT.to_be_bytes(), DST_PORT.to_be_bytes()].concat() {
        return None;
    }
    Some(u32::from_be_bytes(
        frame.get(udp + 8..udp + 12)?.try_into().ok()?,
    ))
}

/// One of our frames as a port received it.
#[derive(Debug, Clone)]
struct Arrival {
    seq: u32,
    bytes: Vec<u8>,
    meta: RxMeta,
    direction: Direction,
}

/// A port's receive side with buffers for one burst.
struct Receiver {
    storage: Vec<Vec<u8>>,
    meta: Vec<RxMeta>,
    directions: Vec<Direction>,
    ours: Vec<Arrival>,
    others: usize,
}

impl Receiver {
    fn new() -> Self {
        Self::with_buffers_of(2048)
    }

    fn with_buffers_of(len: usize) -> Self {
        Receiver {
            storage: vec![vec![0u8; len]; 64],
            meta: vec![RxMeta::default(); 64],
            directions: vec![Direction::ToHost; 64],
            ours: Vec::new(),
            others: 0,
        }
    }

    /// Takes whatever the port has; returns how many frames that was.
    fn drain(&mut self, port: &mut AfPacketPort) -> usize {
        let mut total = 0;
        loop {
            let mut buffers: Vec<&mut [u8]> =
                self.storage.iter_mut().map(|b| b.as_mut_slice()).collect();
            let n = port
                .recv_burst_with_direction(&mut buffers, &mut self.meta, &mut self.directions)
                .expect("recv_burst_with_direction");
            for i in 0..n {
                let bytes = &self.storage[i][..self.meta[i].len];
                match our_seq(bytes) {
                    Some(seq) => self.ours.push(Arrival {
                        seq,
                        bytes: bytes.to_vec(),
                        meta: self.meta[i],
                        direction: self.directions[i],
                    }),
                    None => self.others += 1,
                }
            }
            total += n;
            if n < self.meta.len() {
                return total;
            }
        }
    }
}

/// TX timestamps by frame id; a second stamp for one id fails the test.
struct TxStamps {
    by_id: Vec<Option<u64>>,
    count: usize,
}

impl TxStamps {
    fn new(frames: usize) -> Self {
        TxStamps {
            by_id: vec![None; frames],
            count: 0,
        }
    }

    fn poll(&mut self, port: &mut AfPacketPort, clock: ClockDomain) {
        let mut out = [TxTimestamp::EMPTY; 64];
        loop {
            let n = port
                .poll_tx_timestamps(&mut out)
                .expect("poll_tx_timestamps");
            for stamp in &out[..n] {
                assert_eq!(stamp.stamp.clock, clock, "{stamp:?}");
                let slot = self
                    .by_id
                    .get_mut(stamp.id as usize)
                    .unwrap_or_else(|| panic!("a TX timestamp for id {}, never sent", stamp.id));
                assert!(slot.is_none(), "a second TX timestamp for id {}", stamp.id);
                *slot = Some(stamp.stamp.ns);
                self.count += 1;
            }
            if n < out.len() {
                return;
            }
        }
    }
}

/// Sends `frames` from `sender` in bursts, draining the receivers and the sender's
/// TX timestamps as it goes, until every frame is taken and `done` says the
/// receivers have what they wait for.
fn send_all(
    sender: &mut AfPacketPort,
    clock: ClockDomain,
    frames: &[Vec<u8>],
    stamps: &mut TxStamps,
    receivers: &mut [(&mut AfPacketPort, &mut Receiver)],
    done: impl Fn(&TxStamps, &[(&mut AfPacketPort, &mut Receiver)]) -> bool,
) {
    let started = Instant::now();
    let mut next = 0;
    loop {
        let burst: Vec<&[u8]> = frames[next..(next + BURST).min(frames.len())]
            .iter()
            .map(Vec::as_slice)
            .collect();
        if !burst.is_empty() || sender.pending() > 0 {
            let sent = sender.send_burst(&burst).expect("send_burst");
            if !burst.is_empty() {
                assert_eq!(sent.first_id, next as u32, "ids follow the frames");
            }
            next += sent.count;
        }
        stamps.poll(sender, clock);
        let mut progress = 0;
        for (port, receiver) in receivers.iter_mut() {
            progress += receiver.drain(port);
        }
        if next == frames.len() && sender.pending() == 0 && done(stamps, receivers) {
            return;
        }
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "gave up after {GIVE_UP_AFTER:?}: {next} of {} frames taken, {} pending, {} TX \
             stamps, received {:?}",
            frames.len(),
            sender.pending(),
            stamps.count,
            receivers
                .iter()
                .map(|(_, r)| r.ours.len())
                .collect::<Vec<_>>()
        );
        if progress == 0 && next == frames.len() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// `arrivals` are exactly `frames`, in order, byte for byte, each stamped in `clock`.
fn assert_all_arrived_in_order(
    who: &str,
    arrivals: &[Arrival],
    frames: &[Vec<u8>],
    clock: ClockDomain,
) {
    assert_eq!(arrivals.len(), frames.len(), "{who}: frames received");
    for (index, (arrival, frame)) in arrivals.iter().zip(frames).enumerate() {
        assert_eq!(
            arrival.seq, index as u32,
            "{who}: frame {index} out of order"
        );
        assert!(!arrival.meta.truncated, "{who}: frame {index} truncated");
        assert_eq!(arrival.bytes, *frame, "{who}: frame {index} differs");
        let stamp = arrival
            .meta
            .stamp
            .unwrap_or_else(|| panic!("{who}: frame {index} has no RX timestamp"));
        assert_eq!(stamp.clock, clock, "{who}: frame {index}");
        assert_eq!(stamp.tx_id, None, "{who}: frame {index}");
    }
}

/// Frames `0..count` from A to B, as [`build_frame`] makes them.
fn frames_from_a(count: usize) -> Vec<Vec<u8>> {
    (0..count as u32)
        .map(|seq| build_frame(seq, true))
        .collect()
}

/// Sends `frames` from `a` to `b`, received into `at_b`, until B has every one and,
/// when `stamped`, A reported a TX stamp of each; returns B's arrivals and A's stamps.
fn send_a_to_b(
    a: &mut AfPacketPort,
    b: &mut AfPacketPort,
    mut at_b: Receiver,
    frames: &[Vec<u8>],
    stamped: bool,
) -> (Receiver, TxStamps) {
    let mut stamps = TxStamps::new(frames.len());
    let mut receivers = [(b, &mut at_b)];
    send_all(
        a,
        ClockDomain::KernelSoftware,
        frames,
        &mut stamps,
        &mut receivers,
        |stamps, receivers| {
            (!stamped || stamps.count == frames.len()) && receivers[0].1.ours.len() >= frames.len()
        },
    );
    (at_b, stamps)
}

/// The port counted every frame of `frames` and their bytes as sent; its statistics.
fn assert_counted_as_sent(control: &AfPacketControl, frames: &[Vec<u8>]) -> PortStats {
    let stats = control.stats();
    assert_eq!(stats.tx_packets, frames.len() as u64, "{stats:?}");
    assert_eq!(
        stats.tx_bytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>(),
        "{stats:?}"
    );
    stats
}

#[test]
fn every_frame_crosses_the_veth_in_order_with_timestamps() {
    require_root_and_ip("af_packet");
    let link = link('s');
    // Hardware stamps asked for: veth has no PHC, so the port must say so and stay on
    // software stamps.
    let (mut a, a_control) = open_in(
        &link.a,
        AfPacketConfig {
            hardware_timestamps: true,
            ..AfPacketConfig::new(link.a_veth.clone())
        },
    );
    let (mut b, b_control) = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));

    match a_control.hardware_stamping() {
        HardwareStamping::Refused { errno } => assert!(
            errno == libc::EOPNOTSUPP || errno == libc::EINVAL,
            "veth refused SIOCSHWTSTAMP with errno {errno}, expected EOPNOTSUPP or EINVAL"
        ),
        other => panic!("veth cannot stamp in hardware, yet: {other}"),
    }
    assert!(a_control
        .hardware_stamping()
        .to_string()
        .contains("kernel software stamps instead"));
    assert_eq!(a_control.clock_domain(), ClockDomain::KernelSoftware);
    assert_eq!(
        b_control.hardware_stamping(),
        HardwareStamping::NotRequested
    );
    let info = a_control
        .timestamping_info()
        .expect("veth answers ETHTOOL_GET_TS_INFO");
    assert_eq!(info.phc_index, None, "{info:?}");
    assert!(!info.has_hardware(), "{info:?}");
    assert_eq!(a_control.interface(), link.a_veth);

    const FRAMES: usize = 10_000;
    let frames = frames_from_a(FRAMES);
    let (at_b, stamps) = send_a_to_b(&mut a, &mut b, Receiver::new(), &frames, true);
    let mut at_a = Receiver::new();
    // Long enough for a partly filled block of A's RX ring to be retired.
    std::thread::sleep(Duration::from_millis(50));
    at_a.drain(&mut a);

    assert_all_arrived_in_order("B", &at_b.ours, &frames, ClockDomain::KernelSoftware);
    assert!(
        at_b.ours
            .iter()
            .all(|arrival| arrival.direction == Direction::ToHost),
        "B saw frames addressed to it"
    );
    for (seq, tx) in stamps.by_id.iter().enumerate() {
        let tx = tx.unwrap_or_else(|| panic!("frame {seq} has no TX timestamp"));
        let rx = at_b.ours[seq].meta.stamp.unwrap().ns;
        assert!(
            tx <= rx,
            "frame {seq} was stamped at B ({rx}) before it left A ({tx}): one clock, \
             CLOCK_REALTIME, on both"
        );
    }
    // A bypasses the qdisc, so no tap could see these anyway; the last test shows a
    // port outside tap mode ignoring frames that do go through the qdisc.
    assert!(
        at_a.ours.is_empty(),
        "outside tap mode A must not see its own {} frames",
        at_a.ours.len()
    );

    let a_stats = assert_counted_as_sent(&a_control, &frames);
    assert_eq!(a_stats.tx_timestamps, FRAMES as u64, "{a_stats:?}");
    assert_eq!(a_stats.tx_timestamps_unmatched, 0, "{a_stats:?}");
    let b_stats = b_control.stats();
    assert_eq!(
        b_stats.rx_packets,
        (FRAMES + at_b.others) as u64,
        "{b_stats:?}"
    );
    assert_eq!(b.refresh_rx_drops().expect("PACKET_STATISTICS"), 0);
    assert_eq!(b_control.rx_dropped(), 0);
    assert_eq!(b_control.rx_unstamped(), 0);
    drop(link);
}

#[test]
fn a_tap_sees_its_own_frames_leave_and_others_arrive_on_one_clock() {
    require_root_and_ip("af_packet");
    let link = link('t');
    let (mut tap, tap_control) = open_in(&link.a, AfPacketConfig::tap(link.a_veth.clone()));
    let (mut b, _b_control) = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));
    assert_eq!(tap_control.clock_domain(), ClockDomain::KernelSoftware);

    const FRAMES: usize = 2_000;
    let frames: Vec<Vec<u8>> = (0..FRAMES as u32)
        .map(|seq| build_frame(seq, true))
        .collect();
    let mut at_tap = Receiver::new();
    let mut at_b = Receiver::new();
    let mut stamps = TxStamps::new(FRAMES);
    {
        let mut receivers = [(&mut b, &mut at_b)];
        send_all(
            &mut tap,
            ClockDomain::KernelSoftware,
            &frames,
            &mut stamps,
            &mut receivers,
            |stamps, receivers| stamps.count == FRAMES && receivers[0].1.ours.len() >= FRAMES,
        );
    }
    let started = Instant::now();
    while at_tap.ours.len() < FRAMES && started.elapsed() < GIVE_UP_AFTER {
        if at_tap.drain(&mut tap) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    assert_all_arrived_in_order(
        "the tap",
        &at_tap.ours,
        &frames,
        ClockDomain::KernelSoftware,
    );
    assert_all_arrived_in_order("B", &at_b.ours, &frames, ClockDomain::KernelSoftware);
    for (seq, seen) in at_tap.ours.iter().enumerate() {
        assert_eq!(
            seen.direction,
            Direction::Outgoing,
            "frame {seq} at the tap"
        );
        let tap_ns = seen.meta.stamp.unwrap().ns;
        let tx_ns = stamps.by_id[seq].unwrap_or_else(|| panic!("frame {seq} has no TX stamp"));
        let rx_ns = at_b.ours[seq].meta.stamp.unwrap().ns;
        // The tap copies a frame before the driver takes it, which stamps it before
        // the peer receives it: one clock, in that order.
        assert!(
            tap_ns <= tx_ns && tx_ns <= rx_ns,
            "frame {seq}: tap {tap_ns}, TX {tx_ns}, RX at B {rx_ns}"
        );
    }

    // The other direction: B sends, the tap sees the frames arrive.
    const REPLIES: usize = 100;
    let replies: Vec<Vec<u8>> = (0..REPLIES as u32)
        .map(|seq| build_frame(seq, false))
        .collect();
    let mut at_tap_replies = Receiver::new();
    let mut b_stamps = TxStamps::new(REPLIES);
    {
        let mut receivers = [(&mut tap, &mut at_tap_replies)];
        send_all(
            &mut b,
            ClockDomain::KernelSoftware,
            &replies,
            &mut b_stamps,
            &mut receivers,
            |stamps, receivers| stamps.count == REPLIES && receivers[0].1.ours.len() >= REPLIES,
        );
    }
    assert_all_arrived_in_order(
        "the tap (from B)",
        &at_tap_replies.ours,
        &replies,
        ClockDomain::KernelSoftware,
    );
    assert!(
        at_tap_replies
            .ours
            .iter()
            .all(|arrival| arrival.direction == Direction::ToHost),
        "the tap marks B's frames as arriving: {:?}",
        at_tap_replies
            .ours
            .iter()
            .map(|a| a.direction)
            .collect::<Vec<_>>()
    );
    drop(link);
}

#[test]
fn only_a_tap_sees_outgoing_frames_and_only_those_sent_through_the_qdisc() {
    // Three ports on A: a tap; a plain port that sends through the qdisc; a plain port
    // that bypasses it. The plain ports ignore outgoing frames, and frames that
    // bypass the qdisc are invisible to every tap (why a tap port refuses
    // qdisc_bypass).
    require_root_and_ip("af_packet");
    let link = link('q');
    let (mut tap, _tap_control) = open_in(&link.a, AfPacketConfig::tap(link.a_veth.clone()));
    let (mut queued, _queued_control) = open_in(
        &link.a,
        AfPacketConfig {
            qdisc_bypass: false,
            ..AfPacketConfig::new(link.a_veth.clone())
        },
    );
    let (mut bypassing, _control) = open_in(&link.a, AfPacketConfig::new(link.a_veth.clone()));
    let (mut b, _b_control) = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));

    const FRAMES: usize = 200;
    let frames: Vec<Vec<u8>> = (0..FRAMES as u32)
        .map(|seq| build_frame(seq, true))
        .collect();
    let (mut at_tap, mut at_bypassing, mut at_b) =
        (Receiver::new(), Receiver::new(), Receiver::new());
    let mut stamps = TxStamps::new(FRAMES);
    {
        let mut receivers = [
            (&mut b, &mut at_b),
            (&mut tap, &mut at_tap),
            (&mut bypassing, &mut at_bypassing),
        ];
        send_all(
            &mut queued,
            ClockDomain::KernelSoftware,
            &frames,
            &mut stamps,
            &mut receivers,
            |stamps, receivers| {
                stamps.count == FRAMES
                    && receivers[0].1.ours.len() >= FRAMES
                    && receivers[1].1.ours.len() >= FRAMES
            },
        );
    }
    assert_all_arrived_in_order("B", &at_b.ours, &frames, ClockDomain::KernelSoftware);
    assert_all_arrived_in_order(
        "the tap",
        &at_tap.ours,
        &frames,
        ClockDomain::KernelSoftware,
    );
    assert!(at_tap
        .ours
        .iter()
        .all(|arrival| arrival.direction.is_outgoing()));

    let mut at_queued = Receiver::new();
    let (mut at_b, mut at_tap) = (Receiver::new(), Receiver::new());
    let mut stamps = TxStamps::new(FRAMES);
    {
        let mut receivers = [(&mut b, &mut at_b), (&mut tap, &mut at_tap)];
        send_all(
            &mut bypassing,
            ClockDomain::KernelSoftware,
            &frames,
            &mut stamps,
            &mut receivers,
            |stamps, receivers| stamps.count == FRAMES && receivers[0].1.ours.len() >= FRAMES,
        );
    }
    assert_all_arrived_in_order("B", &at_b.ours, &frames, ClockDomain::KernelSoftware);
    // Long enough for partly filled blocks to be retired.
    std::thread::sleep(Duration::from_millis(50));
    at_tap.drain(&mut tap);
    at_queued.drain(&mut queued);
    at_bypassing.drain(&mut bypassing);
    assert_eq!(
        at_tap.ours.len(),
        0,
        "the tap saw frames that bypassed the qdisc; if the kernel now shows them to \
         taps, AfPacketConfig may allow tap with qdisc_bypass"
    );
    assert_eq!(
        (at_queued.ours.len(), at_bypassing.ours.len()),
        (0, 0),
        "ports outside tap mode saw outgoing frames"
    );
    drop(link);
}

/// The bytes charged to the receive memory of every packet socket in `netns`
/// (`Rmem` in `/proc/net/packet`). A ring socket's frames are not charged; a TX
/// stamp waiting on a socket's error queue is.
fn packet_socket_rmem(netns: &str) -> u64 {
    let table = in_netns(netns, || {
        std::fs::read_to_string("/proc/thread-self/net/packet").expect("/proc/net/packet")
    });
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    let column = header
        .iter()
        .position(|name| *name == "Rmem")
        .unwrap_or_else(|| panic!("no Rmem column in /proc/net/packet: {header:?}"));
    lines
        .map(|line| {
            let field = line.split_whitespace().nth(column).expect("an Rmem field");
            field
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("Rmem {field:?}: {e}"))
        })
        .sum()
}

#[test]
fn without_tx_stamps_every_frame_arrives_counted_and_the_kernel_queues_no_stamp() {
    require_root_and_ip("af_packet");
    let link = link('n');
    let (mut a, a_control) = open_in(
        &link.a,
        AfPacketConfig {
            tx_timestamps: false,
            ..AfPacketConfig::new(link.a_veth.clone())
        },
    );
    let (mut b, b_control) = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));
    assert!(!a_control.tx_timestamps());
    assert!(b_control.tx_timestamps());

    let frames = frames_from_a(10_000);
    let (at_b, stamps) = send_a_to_b(&mut a, &mut b, Receiver::new(), &frames, false);
    assert_all_arrived_in_order("B", &at_b.ours, &frames, ClockDomain::KernelSoftware);
    assert_eq!(stamps.count, 0, "a port without TX stamps reported some");
    let a_stats = assert_counted_as_sent(&a_control, &frames);
    assert_eq!(
        (a_stats.tx_timestamps, a_stats.tx_timestamps_unmatched),
        (0, 0),
        "{a_stats:?}"
    );
    // The kernel made no stamp either: nothing waits on A's error queues.
    assert_eq!(packet_socket_rmem(&link.a), 0);

    // The probe can fail: a stamping port that is not polled leaves its stamps there
    // (the kernel queues a software stamp as the veth takes the frame).
    let (mut stamping, _) = open_in(&link.a, AfPacketConfig::new(link.a_veth.clone()));
    let burst: Vec<&[u8]> = frames[..BURST].iter().map(Vec::as_slice).collect();
    assert_eq!(
        stamping.send_burst(&burst).expect("send_burst").count,
        BURST
    );
    assert!(
        packet_socket_rmem(&link.a) > 0,
        "{BURST} TX stamps left unread, yet no socket in A holds receive memory"
    );
    let mut stamps = TxStamps::new(BURST);
    let started = Instant::now();
    while stamps.count < BURST && started.elapsed() < GIVE_UP_AFTER {
        stamps.poll(&mut stamping, ClockDomain::KernelSoftware);
    }
    assert_eq!(stamps.count, BURST);
    assert_eq!(packet_socket_rmem(&link.a), 0, "the stamps were read");
    drop(link);
}

#[test]
fn frames_longer_than_the_linear_part_arrive_whole() {
    require_root_and_ip("af_packet");
    let link = link('j');
    for (netns, veth) in [(&link.a, &link.a_veth), (&link.b, &link.b_veth)] {
        netns::ip(&["-n", netns, "link", "set", veth, "mtu", "9000"]);
    }
    let (mut a, a_control) = open_in(&link.a, AfPacketConfig::new(link.a_veth.clone()));
    let (mut b, _b_control) = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));
    assert_eq!(a.max_frame_len(false), 9014);

    // Around the linear limit, and up to the MTU; frame 3 of each round of 7 is
    // tagged and so 4 bytes longer than asked.
    let lengths = [
        64,
        TX_LINEAR_MAX - 1,
        TX_LINEAR_MAX,
        TX_LINEAR_MAX + 1,
        4_000,
        8_192,
        9_014,
    ];
    let frames: Vec<Vec<u8>> = (0..70u32)
        .map(|seq| {
            let probe = build_frame_with_filler(seq, true, 0);
            let filler =
                lengths[seq as usize % lengths.len()] - (probe.len() - (seq % 7 == 3) as usize * 4);
            build_frame_with_filler(seq, true, filler)
        })
        .collect();
    assert_eq!(frames[3].len(), TX_LINEAR_MAX + 1 + 4);
    assert_eq!(frames[6].len(), 9_014);
    let receiver = Receiver::with_buffers_of(9_216);
    let (at_b, stamps) = send_a_to_b(&mut a, &mut b, receiver, &frames, true);
    assert_all_arrived_in_order("B", &at_b.ours, &frames, ClockDomain::KernelSoftware);
    assert_eq!(stamps.count, frames.len());
    assert_counted_as_sent(&a_control, &frames);
    drop(link);
}

#[test]
fn a_send_only_port_receives_nothing_while_frames_arrive() {
    require_root_and_ip("af_packet");
    let link = link('o');
    let (mut a, _) = open_in(&link.a, AfPacketConfig::new(link.a_veth.clone()));
    let (mut b, _) = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));
    let (mut send_only, send_only_control) = open_in(
        &link.b,
        AfPacketConfig {
            rx: false,
            ..AfPacketConfig::new(link.b_veth.clone())
        },
    );
    let frames = frames_from_a(1_000);
    let (at_b, _) = send_a_to_b(&mut a, &mut b, Receiver::new(), &frames, false);
    assert_all_arrived_in_order("B", &at_b.ours, &frames, ClockDomain::KernelSoftware);
    // Every frame reached B's interface; the send-only port on it got none.
    let mut buffer = vec![0u8; 2048];
    let mut buffers: Vec<&mut [u8]> = vec![buffer.as_mut_slice()];
    let mut meta = [RxMeta::default()];
    assert_eq!(send_only.recv_burst(&mut buffers, &mut meta).unwrap(), 0);
    assert_eq!(send_only_control.stats().rx_packets, 0);
    drop(link);
}
