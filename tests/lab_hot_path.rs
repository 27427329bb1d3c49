//! The lab's measuring thread allocates nothing once built: a whole run of the send
//! loop (pacing, sending through a port, TX stamps, trigger marking, the book, the
//! correlator, orders from the ring, recording, the drain and the close) is driven
//! over an in-memory port, and a counting allocator shows no allocation on that thread
//! between the start of `Sender::run` and its return (the frees when the thread drops
//! its buffers at the end are teardown, not counted). It runs twice: handing UDP
//! payloads to a socket-like port, and building whole Ethernet frames for a frame
//! backend (AF_PACKET, DPDK), whose every frame the port checks.

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use counting_alloc::allocations_on_this_thread;
use ticklab::correlate::{self, Correlator};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
use ticklab::lab::sender::{
    Framing, Limit, Live, Marking, OrderArrival, Phase, Sender, SenderConfig,
};
use ticklab::lab::source::SyntheticSource;
use ticklab::nic::{ClockDomain, Error, KernelTimestamp, Port, RxMeta, SentBurst, TxTimestamp};
use ticklab::pace::{Mode, Pacer};
use ticklab::proto::moldudp64::Packet;
use ticklab::refcore::book::BookConfig;
use ticklab::refcore::trigger::{TriggerEngine, TriggerRule};
use ticklab::stats::interval_recorder;
use ticklab::wire::{ethernet_udp_fast, MacAddr, UdpEndpoints, UdpFrameTemplate};

/// A port that sends nowhere and stamps every datagram at once with a clock that
/// advances a microsecond per datagram.
struct MemoryPort {
    next_id: u32,
    pending: [u32; 64],
    pending_len: usize,
    clock_ns: u64,
    /// Packets are Ethernet frames to `FEED_PORT` carrying MoldUDP64.
    framed: bool,
    /// Packets checked, and those that were not what the framing promised.
    checked: Arc<AtomicU64>,
    malformed: Arc<AtomicU64>,
    /// The IPv4 identification of the last frame.
    last_ip_id: Option<u16>,
    /// Stamp every datagram with this (a NIC clock that stands still) instead of a
    /// clock advancing a microsecond per datagram.
    fixed_stamp: Option<u64>,
}

const FEED_PORT: u16 = 26_400;

impl MemoryPort {
    fn new(framed: bool, checked: Arc<AtomicU64>, malformed: Arc<AtomicU64>) -> MemoryPort {
        MemoryPort {
            next_id: 0,
            pending: [0; 64],
            pending_len: 0,
            clock_ns: 0,
            framed,
            checked,
            malformed,
            last_ip_id: None,
            fixed_stamp: None,
        }
    }

    fn check(&mut self, packet: &[u8]) {
        self.checked.fetch_add(1, Ordering::Relaxed);
        let payload = if self.framed {
            match ethernet_udp_fast(packet) {
                Some(udp) if udp.dst_port == FEED_PORT => {
                    let id = u16::from_be_bytes([packet[18], packet[19]]);
                    if self
                        .last_ip_id
                        .is_some_and(|last| id != last.wrapping_add(1))
                    {
                        self.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                    self.last_ip_id = Some(id);
                    &packet[udp.payload_offset..udp.payload_offset + udp.payload_len]
                }
                _ => {
                    self.malformed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        } else {
            packet
        };
        if Packet::new_checked(payload).is_err() {
            self.malformed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Port for MemoryPort {
    fn send_burst(&mut self, packets: &[&[u8]]) -> Result<SentBurst, Error> {
        let room = self.pending.len() - self.pending_len;
        let count = packets.len().min(room);
        let first_id = self.next_id;
        for packet in &packets[..count] {
            self.check(packet);
        }
        for i in 0..count {
            self.pending[self.pending_len] = first_id.wrapping_add(i as u32);
            self.pending_len += 1;
        }
        self.next_id = first_id.wrapping_add(count as u32);
        Ok(SentBurst { first_id, count })
    }

    fn poll_tx_timestamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, Error> {
        let n = self.pending_len.min(out.len());
        for (slot, id) in out.iter_mut().zip(&self.pending[..n]) {
            self.clock_ns += 1_000;
            *slot = TxTimestamp {
                id: *id,
                stamp: KernelTimestamp {
                    clock: ClockDomain::KernelSoftware,
                    ns: self.fixed_stamp.unwrap_or(self.clock_ns),
                    tx_id: Some(*id),
                },
            };
        }
        self.pending.copy_within(n..self.pending_len, 0);
        self.pending_len -= n;
        Ok(n)
    }

    fn recv_burst(&mut self, _: &mut [&mut [u8]], _: &mut [RxMeta]) -> Result<usize, Error> {
        Ok(0)
    }
}

#[test]
fn the_send_loop_allocates_nothing() {
    send_loop_allocates_nothing(Framing::Datagram);
}

#[test]
fn the_send_loop_building_ethernet_frames_allocates_nothing() {
    let template = UdpFrameTemplate::new(
        &UdpEndpoints {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([0x01, 0x00, 0x5e, 0x46, 0, 1]),
            vlan: None,
            src_ip: "198.18.0.1".parse().unwrap(),
            dst_ip: "239.198.0.1".parse().unwrap(),
            src_port: 40_000,
            dst_port: FEED_PORT,
            ttl: 16,
            dscp: 0,
        },
        false,
    );
    send_loop_allocates_nothing(Framing::Ethernet(template));
}

fn send_loop_allocates_nothing(framing: Framing) {
    const MESSAGES: u64 = 60_000;
    let framed = matches!(framing, Framing::Ethernet(_));
    let checked = Arc::new(AtomicU64::new(0));
    let malformed = Arc::new(AtomicU64::new(0));
    let feed = SyntheticFeed::new(SyntheticConfig {
        messages: Some(MESSAGES),
        ..SyntheticConfig::default()
    })
    .unwrap();
    let correlator = Correlator::new(correlate::Config {
        capacity: 1 << 16,
        ..correlate::Config::default()
    })
    .unwrap();
    let (wire, _wire_collector) = interval_recorder(0);
    let (from_schedule, _sched_collector) = interval_recorder(0);
    let (mut orders_in, orders_out) = rtrb::RingBuffer::<OrderArrival>::new(4096);
    // Orders for ticks that were and were not sent, some with a symbol: every
    // branch of the order path runs (matched or not, they go through on_order).
    for sequence in 1..=2_000u64 {
        orders_in
            .push(OrderArrival {
                rx_ns: 1 << 62,
                sequence: Some(sequence * 7),
                symbol: (sequence % 3 == 0).then_some(*b"AAPL    "),
                stream_end: 0,
            })
            .unwrap();
    }
    let live = Arc::new(Live::default());
    // No gateway: the drain ends at once and the close follows.
    live.gateway_finished.store(true, Ordering::Release);
    let sender = Sender::new(
        SenderConfig {
            pacer: Pacer::new(Mode::TopSpeed).unwrap(),
            limit: Limit::None,
            warmup_messages: 100,
            engine: TriggerEngine::new(TriggerRule::EveryAdd, &BookConfig::default()),
            marking: Marking::Triggers,
            traded: Vec::new(),
            order_timeout_ns: 1_000_000,
            spin: true,
            realtime_offset_ns: 0,
            framing,
            tx_stamp_offset_ns: 0,
            tx_at_send: false,
            tap: None,
        },
        Box::new(SyntheticSource::new(feed)),
        MemoryPort::new(framed, Arc::clone(&checked), Arc::clone(&malformed)),
        correlator,
        wire,
        from_schedule,
        orders_out,
        Arc::clone(&live),
    );
    let (calls, outcome) = std::thread::spawn(move || {
        let before = allocations_on_this_thread();
        let outcome = sender.run();
        (allocations_on_this_thread() - before, outcome)
    })
    .join()
    .unwrap();
    // The run really ran: every message became a tick, every-add marked thousands
    // of triggers, and every order was judged.
    assert_eq!(outcome.counts.ticks, MESSAGES);
    assert!(outcome.counts.triggers > 10_000, "{:?}", outcome.counts);
    assert_eq!(outcome.counts.orders, 2_000);
    assert_eq!(outcome.stats.unstamped_datagrams, 0);
    outcome.counts.check().unwrap();
    assert_eq!(live.ticks_sent.load(Ordering::Relaxed), MESSAGES);
    // The port got every datagram, each what the framing promised.
    assert_eq!(
        checked.load(Ordering::Relaxed),
        outcome.stats.datagrams_sent
    );
    assert_eq!(malformed.load(Ordering::Relaxed), 0);
    assert_eq!(calls, 0, "the send thread allocated {calls} times");
}

/// TX stamps in a NIC's clock are put in `CLOCK_REALTIME` by the run's offset before
/// they meet the orders' (shifted the same way at the gateway): with every datagram
/// stamped at PHC time P, an offset O, and every order received at P + O + 7 µs,
/// every sample is exactly 7 µs. (Added the wrong way, the samples would be 2·O
/// away.) The orders come in once the whole feed is out, as a gateway would hand
/// them over after their ticks.
#[test]
fn tx_stamps_in_a_nics_clock_are_shifted_by_the_offset_to_meet_the_orders() {
    const MESSAGES: u64 = 3_000;
    const PHC_STAMP: u64 = 5_000_000_000;
    const WIRE_NS: u64 = 7_000;
    let config = SyntheticConfig {
        messages: Some(MESSAGES),
        ..SyntheticConfig::default()
    };
    // Every add (with or without attribution) is a trigger under every-add: the
    // orders echo their sequences.
    let mut sequences = Vec::new();
    let mut feed = SyntheticFeed::new(config.clone()).unwrap();
    let mut buffer = vec![0u8; 1500];
    while let Some(packet) = feed.next_packet(&mut buffer) {
        let packet = Packet::new_checked(&buffer[..packet.len]).unwrap();
        for (sequence, message) in packet.messages() {
            if matches!(message.first(), Some(b'A' | b'F')) {
                sequences.push(sequence);
            }
        }
    }
    assert!(sequences.len() > 100, "{}", sequences.len());
    let now = ticklab::time::realtime_ns();
    let offset = (now + 500_000_000) as i64 - PHC_STAMP as i64;
    let rx_ns = (PHC_STAMP as i64 + offset) as u64 + WIRE_NS;
    let (mut orders_in, orders_out) = rtrb::RingBuffer::<OrderArrival>::new(sequences.len());
    let (wire, mut wire_collector) = interval_recorder(now);
    let (from_schedule, _sched_collector) = interval_recorder(now);
    let live = Arc::new(Live::default());
    let mut port = MemoryPort::new(false, Arc::default(), Arc::default());
    port.fixed_stamp = Some(PHC_STAMP);
    let sender = Sender::new(
        SenderConfig {
            pacer: Pacer::new(Mode::TopSpeed).unwrap(),
            limit: Limit::None,
            warmup_messages: 0,
            engine: TriggerEngine::new(TriggerRule::EveryAdd, &BookConfig::default()),
            marking: Marking::Triggers,
            traded: Vec::new(),
            order_timeout_ns: 1_000_000,
            spin: false,
            realtime_offset_ns: 0,
            framing: Framing::Datagram,
            tx_stamp_offset_ns: offset,
            tx_at_send: false,
            tap: None,
        },
        Box::new(SyntheticSource::new(SyntheticFeed::new(config).unwrap())),
        port,
        Correlator::new(correlate::Config::default()).unwrap(),
        wire,
        from_schedule,
        orders_out,
        Arc::clone(&live),
    );
    let sending = std::thread::spawn(move || sender.run());
    while live.phase() == Phase::Sending {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for &sequence in &sequences {
        orders_in
            .push(OrderArrival {
                rx_ns,
                sequence: Some(sequence),
                symbol: None,
                stream_end: 0,
            })
            .unwrap();
    }
    live.gateway_finished.store(true, Ordering::Release);
    let outcome = sending.join().unwrap();
    assert_eq!(
        outcome.counts.triggers,
        sequences.len() as u64,
        "{:?}",
        outcome.counts
    );
    assert_eq!(
        outcome.counts.matched,
        sequences.len() as u64,
        "{:?}",
        outcome.counts
    );
    assert_eq!(outcome.counts.negative, 0, "{:?}", outcome.counts);
    assert_eq!(outcome.stats.unstamped_datagrams, 0);
    wire_collector
        .finish::<ticklab::stats::StatsError>(outcome.wire, now + 1_000_000_000, |_| Ok(()))
        .unwrap();
    let total = wire_collector.total();
    assert_eq!(total.len(), sequences.len() as u64);
    // The histogram keeps 3 significant digits: 7 000 ns is its bucket 7000..7003.
    assert!(
        total.equivalent(total.min(), WIRE_NS) && total.equivalent(total.max(), WIRE_NS),
        "wire samples from {} to {} ns, all should be {WIRE_NS}",
        total.min(),
        total.max()
    );
}
