//! The measuring thread: it paces the feed onto the wire, learns each datagram's TX
//! timestamp, marks which ticks should cause an order, takes the orders the gateway
//! thread hands over, correlates, and records both latency figures.
//!
//! One thread owns all of that so the correlator sees ticks and orders in a causal
//! order without a lock: a tick is given to the correlator once its TX stamp is
//! known, and an order only once every datagram sent before it could have been its
//! cause has been given (an order received before a datagram left the user space
//! cannot answer it). The gateway thread passes orders through a wait-free SPSC ring;
//! recorded intervals leave through the `stats` rings; live counts are relaxed atomics
//! the control thread reads.
//!
//! The loop never allocates after [`Sender::new`] (its queues are sized up front and
//! a full queue resolves its oldest entry instead of growing), takes no lock, logs
//! nothing and makes no system call beyond the port's own I/O and, when the next
//! datagram is far enough away, a sleep. It spins only when it has a core of its own
//! (`network.cores.send`); otherwise it sleeps until [`SPIN_WINDOW_NS`] before a
//! datagram is due and spins the rest, so the default lab leaves the second core of a
//! small machine to the DUT and the kernel.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::correlate::{Correlator, Counts, Match, OrderKey, OrderSeen, Sink, SymbolTable};
use crate::nic::{Port, TxTimestamp};
use crate::pace::{Lateness, Pacer};
use crate::proto::itch50::{self, Message};
use crate::proto::moldudp64::Packet;
use crate::refcore::trigger::TriggerEngine;
use crate::stats::Recorder;
use crate::time::shift_ns;
use crate::wire::UdpFrameTemplate;

use super::os::{monotonic_ns, realtime_ns, wait_step};
use super::source::FeedSource;
use super::tap::{DatagramKey, Tap, TapCounts};

/// Datagrams sent in one burst at most (when several are due at once).
pub const BURST: usize = 32;
pub use super::os::SPIN_WINDOW_NS;
/// The longest single sleep, so stop requests and orders are seen promptly.
const MAX_SLEEP_NS: u64 = 1_000_000;
/// A datagram whose TX stamp has not come back this long after it was sent gets its
/// user-space send time as TX time (same clock, earlier instant) and is counted.
pub const STAMP_WAIT_NS: u64 = 50_000_000;
/// How long behind real time the correlator declares non-responses: an order read by
/// the gateway thread this long after the kernel stamped it still counts in time.
pub const ORDER_PIPELINE_GRACE_NS: u64 = 200_000_000;
/// The send thread services (TX stamps, orders, expiry) at least this often.
const SERVICE_INTERVAL_NS: u64 = 20_000;
/// Datagrams awaiting their TX stamp, and their ticks, held at most.
const RECORD_CAPACITY: usize = 1 << 16;
const TICK_CAPACITY: usize = 1 << 20;

/// An order as the gateway thread saw it: when the kernel received it, the sequence
/// number it echoes (if any), and its symbol (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderArrival {
    pub rx_ns: u64,
    pub sequence: Option<u64>,
    pub symbol: Option<[u8; 8]>,
    /// Where its SoupBinTCP packet ends in the DUT's byte stream: what a tap
    /// ([`super::tap`]) finds it by.
    pub stream_end: u64,
}

/// Which ticks the lab expects orders for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marking {
    /// The ticks the trigger rule marks (the engine restricted to the traded symbols).
    Triggers,
    /// Every order-book message (add, execute, cancel, delete, replace) of a traded
    /// symbol.
    BookMessagesOfTradedSymbols,
}

/// The sender's phase, readable by the control thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Sending = 0,
    /// The feed is done; waiting for the last orders (the correlation timeout).
    Draining = 1,
    /// Every order that could still count has had its time; waiting for the
    /// gateway to close.
    Drained = 2,
    Done = 3,
}

/// Why the feed stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnd {
    /// The source ended (the synthetic session's End of Session, the last pass).
    Exhausted,
    /// `run.messages` or `run.duration_s` reached.
    Limit,
    /// The control thread asked it to stop (Ctrl-C, a fault).
    Stopped,
}

/// Counters the control thread and the progress display read while the run goes.
#[derive(Debug, Default)]
pub struct Live {
    pub datagrams_sent: AtomicU64,
    pub ticks_sent: AtomicU64,
    pub triggers: AtomicU64,
    pub orders: AtomicU64,
    pub matched: AtomicU64,
    pub non_responses: AtomicU64,
    pub unsolicited: AtomicU64,
    pub duplicates: AtomicU64,
    /// Orders the gateway thread could not hand over (ring full): never expected.
    pub orders_lost: AtomicU64,
    /// `CLOCK_REALTIME` just before the latest send: the control thread compares it
    /// with the time the DUT went away to tell "left after the feed" from "left
    /// while ticks were still coming".
    pub last_send_rt: AtomicU64,
    phase: AtomicU8,
    /// Set by the control thread: stop sending now.
    pub stop: AtomicBool,
    /// Set by the control thread once the gateway thread has returned (every order
    /// is in the ring).
    pub gateway_finished: AtomicBool,
}

impl Live {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Sending,
            1 => Phase::Draining,
            2 => Phase::Drained,
            _ => Phase::Done,
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }
}

/// When the feed stops by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// After this many ITCH messages (the datagram that reaches it is sent whole).
    Messages(u64),
    /// After this long since the first datagram.
    Duration(Duration),
    /// When the source ends.
    None,
}

/// What the sender needs, built by the control thread.
pub struct SenderConfig {
    pub pacer: Pacer,
    pub limit: Limit,
    pub warmup_messages: u64,
    pub engine: TriggerEngine,
    pub marking: Marking,
    /// Traded symbols, space padded; empty for all.
    pub traded: Vec<[u8; 8]>,
    pub order_timeout_ns: u64,
    /// Spin while waiting (the thread has a core of its own).
    pub spin: bool,
    /// `CLOCK_REALTIME − CLOCK_MONOTONIC`, to put the schedule in the stamps' domain.
    pub realtime_offset_ns: i64,
    /// What the port takes: UDP payloads, or whole Ethernet frames.
    pub framing: Framing,
    /// Added to every TX stamp the port reports to put it in the orders' timeline
    /// (`CLOCK_REALTIME`): 0 for kernel software stamps, `CLOCK_REALTIME − PHC` at
    /// the start for NIC stamps (the order session's are shifted by the same).
    pub tx_stamp_offset_ns: i64,
    /// The port's stamps are not used: each datagram's TX time is the
    /// `CLOCK_REALTIME` read just before its send (DPDK, or an interface without
    /// TX stamps). Its stamps are still drained, and dropped.
    pub tx_at_send: bool,
    /// Both stamps of every figure from a tap on the feed's interface: the port's
    /// TX stamps and the gateway's RX stamps stand in only for what it misses.
    pub tap: Option<Tap>,
}

/// How a feed datagram becomes what the port sends.
#[derive(Debug, Clone)]
pub enum Framing {
    /// A socket: the port takes the UDP payload.
    Datagram,
    /// A frame backend (AF_PACKET, DPDK): Ethernet, IPv4 and UDP headers from the
    /// template go in front of each payload, the IPv4 identification counting up.
    Ethernet(UdpFrameTemplate),
}

impl Framing {
    /// Bytes in front of the payload.
    pub fn header_len(&self) -> usize {
        match self {
            Framing::Datagram => 0,
            Framing::Ethernet(template) => template.header_len(),
        }
    }
}

/// What the send thread hands back when it stops.
pub struct SenderOutcome {
    pub wire: Recorder,
    pub from_schedule: Recorder,
    pub counts: Counts,
    pub lateness: Box<Lateness>,
    pub stats: SenderStats,
    pub end: FeedEnd,
    pub error: Option<String>,
    /// What the tap saw, when the run had one.
    pub tap: Option<TapCounts>,
}

/// The send thread's own accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SenderStats {
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    /// Datagrams whose kernel TX stamp never came back (their ticks used the user-space
    /// send time, `CLOCK_REALTIME` read just before the send).
    pub unstamped_datagrams: u64,
    /// TX stamps that named no datagram awaiting one.
    pub unmatched_stamps: u64,
    /// Datagrams that were not MoldUDP64 (sent, but carry no ticks).
    pub bad_datagrams: u64,
    /// ITCH messages that did not decode (sent, never marked as triggers).
    pub bad_messages: u64,
    /// Matched orders of warm-up ticks, not recorded.
    pub warmup_samples: u64,
    /// First TX time and last, `CLOCK_REALTIME` ns (0 when nothing was sent).
    pub first_tx_ns: u64,
    pub last_tx_ns: u64,
    /// Sequence numbers below this are warm-up ticks.
    pub warmup_end_sequence: u64,
}

#[derive(Debug, Clone, Copy)]
struct Staged {
    len: usize,
    due_mono: u64,
}

#[derive(Debug, Clone, Copy)]
struct DatagramRecord {
    id: u32,
    sent_rt: u64,
    scheduled_rt: u64,
    ticks: u32,
    tx_ns: Option<u64>,
    /// Its MoldUDP64 header, for a tap to find it by.
    key: Option<DatagramKey>,
}

#[derive(Debug, Clone, Copy)]
struct TickRecord {
    sequence: u64,
    locate: u16,
    is_trigger: bool,
}

/// Records matched samples, skipping warm-up ticks.
struct RecordingSink<'a> {
    wire: &'a mut Recorder,
    from_schedule: &'a mut Recorder,
    warmup_end_sequence: u64,
    warmup_samples: &'a mut u64,
}

impl Sink for RecordingSink<'_> {
    fn matched(&mut self, sample: Match) {
        if sample.sequence < self.warmup_end_sequence {
            *self.warmup_samples += 1;
            return;
        }
        self.wire.record(sample.wire_ns);
        self.from_schedule.record(sample.from_schedule_ns);
    }
}

/// The send thread's state. Built on the control thread, moved to the send thread,
/// run by [`Sender::run`].
pub struct Sender<P: Port> {
    cfg: SenderConfig,
    source: Box<dyn FeedSource>,
    port: P,
    correlator: Correlator,
    wire: Recorder,
    from_schedule: Recorder,
    orders: rtrb::Consumer<OrderArrival>,
    live: Arc<Live>,
    lateness: Box<Lateness>,
    stats: SenderStats,
    symbols: SymbolTable,
    traded_locates: Vec<bool>,
    staging: Vec<u8>,
    slot_len: usize,
    /// Bytes of link, IP and UDP headers at the start of each slot.
    header_len: usize,
    next_ip_id: u16,
    staged: [Staged; BURST],
    staged_head: usize,
    staged_count: usize,
    records: VecDeque<DatagramRecord>,
    ticks: VecDeque<TickRecord>,
    stamps: [TxTimestamp; 64],
    messages_staged: u64,
    first_sequence: Option<u64>,
    source_done: bool,
    last_service_mono: u64,
}

impl<P: Port> Sender<P> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: SenderConfig,
        source: Box<dyn FeedSource>,
        port: P,
        correlator: Correlator,
        wire: Recorder,
        from_schedule: Recorder,
        orders: rtrb::Consumer<OrderArrival>,
        live: Arc<Live>,
    ) -> Self {
        let header_len = cfg.framing.header_len();
        let slot_len = header_len + source.max_datagram_len().max(1);
        Sender {
            header_len,
            next_ip_id: 0,
            symbols: SymbolTable::with_capacity(8192),
            traded_locates: vec![false; 1 << 16],
            staging: vec![0; slot_len * BURST],
            slot_len,
            staged: [Staged {
                len: 0,
                due_mono: 0,
            }; BURST],
            staged_head: 0,
            staged_count: 0,
            records: VecDeque::with_capacity(RECORD_CAPACITY),
            ticks: VecDeque::with_capacity(TICK_CAPACITY),
            stamps: [TxTimestamp::EMPTY; 64],
            messages_staged: 0,
            first_sequence: None,
            source_done: false,
            last_service_mono: 0,
            lateness: Box::new(Lateness::new()),
            stats: SenderStats::default(),
            cfg,
            source,
            port,
            correlator,
            wire,
            from_schedule,
            orders,
            live,
        }
    }

    /// Runs the feed, then waits out the correlation timeout, then (once the control
    /// thread says the gateway has returned) takes the last orders and closes the
    /// correlator.
    pub fn run(mut self) -> SenderOutcome {
        let start_mono = monotonic_ns();
        self.cfg.pacer.start(start_mono);
        let (end, error) = match self.send_feed(start_mono) {
            Ok(end) => (end, None),
            Err(e) => (FeedEnd::Stopped, Some(e)),
        };
        self.live.set_phase(Phase::Draining);
        let drain_error = self.drain(end == FeedEnd::Stopped).err();
        self.live.set_phase(Phase::Drained);
        while !self.live.gateway_finished.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Every order the gateway took is in the ring now. A tap hands frames over
        // a block at a time (within its 1 ms retire timeout): give it that long
        // before its last orders count as missed.
        if self.cfg.tap.is_some() {
            std::thread::sleep(Duration::from_millis(3));
        }
        let _ = self.service(u64::MAX);
        let mut sink = RecordingSink {
            wire: &mut self.wire,
            from_schedule: &mut self.from_schedule,
            warmup_end_sequence: self.stats.warmup_end_sequence,
            warmup_samples: &mut self.stats.warmup_samples,
        };
        self.correlator.close(&mut sink);
        self.publish_counts();
        self.live.set_phase(Phase::Done);
        let tap = self.cfg.tap.as_mut().map(Tap::finish);
        SenderOutcome {
            tap,
            counts: self.correlator.counts(),
            wire: self.wire,
            from_schedule: self.from_schedule,
            lateness: self.lateness,
            stats: self.stats,
            end,
            error: error.or(drain_error),
        }
    }

    fn send_feed(&mut self, start_mono: u64) -> Result<FeedEnd, String> {
        loop {
            if self.live.stop.load(Ordering::Relaxed) {
                return Ok(FeedEnd::Stopped);
            }
            let now = monotonic_ns();
            let limit_reached = match self.cfg.limit {
                Limit::Messages(n) => self.messages_staged >= n,
                Limit::Duration(d) => now.saturating_sub(start_mono) >= d.as_nanos() as u64,
                Limit::None => false,
            };
            if !limit_reached {
                self.stage_due(now);
            } else if !self.source_done {
                self.stage_end_of_session();
            }
            let due = self.due_prefix(now);
            if due > 0 {
                self.send(due)?;
                continue;
            }
            if self.staged_count == 0 {
                if self.source_done {
                    return Ok(FeedEnd::Exhausted);
                }
                if limit_reached {
                    return Ok(FeedEnd::Limit);
                }
                continue;
            }
            // The next datagram is not due yet: service, then wait for it.
            if now.saturating_sub(self.last_service_mono) >= SERVICE_INTERVAL_NS {
                self.service(realtime_ns())?;
                self.last_service_mono = monotonic_ns();
            }
            let at = self.staged[self.staged_head].due_mono;
            wait_step(at, self.cfg.spin, MAX_SLEEP_NS);
        }
    }

    /// Copies datagrams from the source into free staging slots while the last one
    /// staged is already due (so at most one staged datagram is not yet due).
    fn stage_due(&mut self, now: u64) {
        while self.staged_count < BURST && !self.source_done {
            if self.staged_count > 0 {
                let last = (self.staged_head + self.staged_count - 1) % BURST;
                if self.staged[last].due_mono > now {
                    return;
                }
            }
            if let Limit::Messages(n) = self.cfg.limit {
                if self.messages_staged >= n {
                    return;
                }
            }
            let Some(datagram) = self.source.next_datagram() else {
                self.source_done = true;
                return;
            };
            if datagram.new_pass {
                self.cfg.pacer.begin_loop();
            }
            let due = self.cfg.pacer.schedule(datagram.capture_ns);
            let slot = (self.staged_head + self.staged_count) % BURST;
            let len = stage_into(
                &mut self.staging,
                &mut self.staged,
                &mut self.next_ip_id,
                (&self.cfg.framing, self.slot_len),
                slot,
                datagram.payload,
                due.at_ns,
            );
            if let Ok(packet) = Packet::new_checked(&datagram.payload[..len]) {
                self.messages_staged += u64::from(packet.message_count());
            }
            self.staged_count += 1;
        }
    }

    /// At `run.messages`: the source is done, except that an End of Session that
    /// follows at once is still sent (a capture of exactly `run.messages` ends as
    /// it was captured, and the DUT sees the session end).
    fn stage_end_of_session(&mut self) {
        self.source_done = true;
        if self.staged_count == BURST {
            return;
        }
        let Some(datagram) = self.source.next_datagram() else {
            return;
        };
        let is_end = Packet::new_checked(datagram.payload)
            .is_ok_and(|p| p.count() == crate::proto::moldudp64::END_OF_SESSION_COUNT);
        if !is_end {
            return;
        }
        let due = self.cfg.pacer.schedule(datagram.capture_ns);
        let slot = (self.staged_head + self.staged_count) % BURST;
        stage_into(
            &mut self.staging,
            &mut self.staged,
            &mut self.next_ip_id,
            (&self.cfg.framing, self.slot_len),
            slot,
            datagram.payload,
            due.at_ns,
        );
        self.staged_count += 1;
    }

    /// How many staged datagrams, from the head, are due at `now`.
    fn due_prefix(&self, now: u64) -> usize {
        (0..self.staged_count)
            .take_while(|i| self.staged[(self.staged_head + i) % BURST].due_mono <= now)
            .count()
    }

    /// Sends the first `due` staged datagrams (retrying what the port could not take
    /// yet), then records them.
    fn send(&mut self, due: usize) -> Result<(), String> {
        let mut sent = 0;
        while sent < due {
            let mut slices: [&[u8]; BURST] = [&[]; BURST];
            let n = due - sent;
            for (i, slice) in slices.iter_mut().enumerate().take(n) {
                let slot = (self.staged_head + sent + i) % BURST;
                let start = slot * self.slot_len;
                *slice = &self.staging[start..start + self.staged[slot].len];
            }
            let sent_rt = realtime_ns();
            let sent_mono = monotonic_ns();
            self.live.last_send_rt.store(sent_rt, Ordering::Relaxed);
            let burst = self
                .port
                .send_burst(&slices[..n])
                .map_err(|e| format!("sending the feed: {e}"))?;
            for i in 0..burst.count {
                let slot = (self.staged_head + sent + i) % BURST;
                let id = burst.first_id.wrapping_add(i as u32);
                self.on_sent(slot, id, sent_rt, sent_mono);
            }
            sent += burst.count;
            if burst.count == 0 {
                // The previous burst is still in the kernel: take its stamps meanwhile.
                self.service(realtime_ns())?;
                std::hint::spin_loop();
            }
        }
        self.staged_head = (self.staged_head + due) % BURST;
        self.staged_count -= due;
        self.service(realtime_ns())?;
        self.last_service_mono = monotonic_ns();
        self.publish_counts();
        Ok(())
    }

    /// Books one datagram the port took: its schedule, lateness, and its ticks with
    /// their trigger marks.
    fn on_sent(&mut self, slot: usize, id: u32, sent_rt: u64, sent_mono: u64) {
        let staged = self.staged[slot];
        self.lateness
            .record(sent_mono.saturating_sub(staged.due_mono));
        let scheduled_rt = (staged.due_mono as i64).saturating_add(self.cfg.realtime_offset_ns);
        if self.records.len() == RECORD_CAPACITY {
            self.resolve_front_unstamped();
        }
        // The staging buffer is lent out while the ticks are booked (taking a Vec
        // leaves an empty one in its place: no allocation), then put back.
        let staging = std::mem::take(&mut self.staging);
        let start = slot * self.slot_len;
        let payload = &staging[start + self.header_len..start + staged.len.max(self.header_len)];
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        let mut tick_count = 0u32;
        let key = DatagramKey::of(payload);
        match Packet::new_checked(payload) {
            Ok(packet) => {
                for (sequence, message) in packet.messages() {
                    if self.first_sequence.is_none() {
                        self.first_sequence = Some(sequence);
                        self.stats.warmup_end_sequence =
                            sequence.saturating_add(self.cfg.warmup_messages);
                    }
                    while self.ticks.len() >= TICK_CAPACITY {
                        self.resolve_front_unstamped();
                    }
                    let (locate, is_trigger) = match itch50::parse(message) {
                        Ok(msg) => mark(
                            &mut self.cfg.engine,
                            &mut self.symbols,
                            &mut self.traded_locates,
                            &self.cfg.traded,
                            self.cfg.marking,
                            sequence,
                            &msg,
                            message,
                        ),
                        Err(_) => {
                            self.stats.bad_messages += 1;
                            (0, false)
                        }
                    };
                    self.ticks.push_back(TickRecord {
                        sequence,
                        locate,
                        is_trigger,
                    });
                    tick_count += 1;
                }
            }
            Err(_) => self.stats.bad_datagrams += 1,
        }
        self.staging = staging;
        self.records.push_back(DatagramRecord {
            id,
            sent_rt,
            scheduled_rt: scheduled_rt.max(0) as u64,
            ticks: tick_count,
            tx_ns: self.cfg.tx_at_send.then_some(sent_rt),
            key,
        });
        self.live
            .datagrams_sent
            .store(self.stats.datagrams_sent, Ordering::Relaxed);
    }

    /// Takes TX stamps, gives resolved ticks and then the orders they precede to the
    /// correlator, expires ticks past their timeout, and ends recorder intervals on
    /// request. `now_rt` is `CLOCK_REALTIME`; `u64::MAX` means "take every order".
    fn service(&mut self, now_rt: u64) -> Result<(), String> {
        // Frames the kernel could not take at their send (a full buffer) go now,
        // not with the next datagram, which on a slow feed may be far off.
        self.port
            .flush()
            .map_err(|e| format!("sending the feed: {e}"))?;
        if let Some(tap) = self.cfg.tap.as_mut() {
            let records = &mut self.records;
            let result = tap.poll(|key, ns| {
                // Datagrams leave in the order they were sent: the one the tap saw
                // is the oldest still unstamped with its header, sent before it left
                // (one resolved meanwhile without a stamp must not pass its stamp
                // on to a later datagram with the same header).
                match records
                    .iter_mut()
                    .find(|r| r.tx_ns.is_none() && r.key == Some(key) && r.sent_rt <= ns)
                {
                    Some(record) => {
                        record.tx_ns = Some(ns);
                        true
                    }
                    None => false,
                }
            });
            result.map_err(|e| format!("reading the tap: {e}"))?;
        }
        loop {
            let n = self
                .port
                .poll_tx_timestamps(&mut self.stamps)
                .map_err(|e| format!("reading TX timestamps: {e}"))?;
            let used = if self.cfg.tx_at_send || self.cfg.tap.is_some() {
                0
            } else {
                n
            };
            for stamp in &self.stamps[..used] {
                let index = match self.records.front() {
                    Some(front) => stamp.id.wrapping_sub(front.id) as usize,
                    None => usize::MAX,
                };
                match self.records.get_mut(index) {
                    Some(record) if record.id == stamp.id => {
                        record.tx_ns = Some(shift_ns(stamp.stamp.ns, self.cfg.tx_stamp_offset_ns));
                    }
                    _ => self.stats.unmatched_stamps += 1,
                }
            }
            if n < self.stamps.len() {
                break;
            }
        }
        let real_now = if now_rt == u64::MAX {
            realtime_ns()
        } else {
            now_rt
        };
        while let Some(front) = self.records.front() {
            if front.tx_ns.is_some() {
                self.resolve_front();
            } else if real_now.saturating_sub(front.sent_rt) > STAMP_WAIT_NS {
                self.resolve_front_unstamped();
            } else {
                break;
            }
        }
        let mut sink = RecordingSink {
            wire: &mut self.wire,
            from_schedule: &mut self.from_schedule,
            warmup_end_sequence: self.stats.warmup_end_sequence,
            warmup_samples: &mut self.stats.warmup_samples,
        };
        while let Ok(order) = self.orders.peek() {
            // An order received before the oldest unresolved datagram left user
            // space cannot answer it or anything later: it may go now.
            if let Some(front) = self.records.front() {
                if order.rx_ns >= front.sent_rt && now_rt != u64::MAX {
                    break;
                }
            }
            let mut order = *order;
            if let Some(tap) = self.cfg.tap.as_mut() {
                match tap.orders.arrival(order.stream_end) {
                    Some(ns) => {
                        order.rx_ns = ns;
                        tap.counts.order_arrivals += 1;
                    }
                    // Not seen yet: the tap's ring may lag the socket a little.
                    None if now_rt != u64::MAX
                        && real_now.saturating_sub(order.rx_ns) <= STAMP_WAIT_NS =>
                    {
                        break
                    }
                    None => tap.counts.orders_missed += 1,
                }
            }
            let _ = self.orders.pop();
            let key = OrderKey {
                sequence: order.sequence,
                locate: order.symbol.and_then(|s| self.symbols.locate(&s)),
            };
            self.correlator.on_order(
                OrderSeen {
                    rx_ns: order.rx_ns,
                    key,
                },
                &mut sink,
            );
        }
        if now_rt != u64::MAX {
            self.correlator
                .poll(now_rt.saturating_sub(ORDER_PIPELINE_GRACE_NS), &mut sink);
            self.wire.maybe_swap(now_rt);
            self.from_schedule.maybe_swap(now_rt);
        }
        Ok(())
    }

    fn resolve_front_unstamped(&mut self) {
        if let Some(front) = self.records.front_mut() {
            if front.tx_ns.is_none() {
                front.tx_ns = Some(front.sent_rt);
                self.stats.unstamped_datagrams += 1;
                if let Some(tap) = self.cfg.tap.as_mut() {
                    tap.counts.feed_missed += 1;
                }
            }
        }
        self.resolve_front();
    }

    /// Gives the front datagram's ticks (its TX stamp known) to the correlator.
    fn resolve_front(&mut self) {
        let Some(record) = self.records.pop_front() else {
            return;
        };
        let tx_ns = record.tx_ns.unwrap_or(record.sent_rt);
        if self.stats.first_tx_ns == 0 {
            self.stats.first_tx_ns = tx_ns;
        }
        self.stats.last_tx_ns = self.stats.last_tx_ns.max(tx_ns);
        for _ in 0..record.ticks {
            let Some(tick) = self.ticks.pop_front() else {
                break;
            };
            self.correlator.on_tick(crate::correlate::TickSent {
                sequence: tick.sequence,
                locate: tick.locate,
                tx_ns,
                scheduled_ns: record.scheduled_rt,
                is_trigger: tick.is_trigger,
            });
        }
    }

    /// Keeps serving orders until every tick sent has had its full timeout (or at
    /// once when stopped).
    fn drain(&mut self, stopped: bool) -> Result<(), String> {
        loop {
            let now = realtime_ns();
            self.service(now)?;
            self.publish_counts();
            let stop = stopped || self.live.stop.load(Ordering::Relaxed);
            let waited_out = self.records.is_empty()
                && now
                    > self
                        .stats
                        .last_tx_ns
                        .saturating_add(self.cfg.order_timeout_ns)
                        .saturating_add(ORDER_PIPELINE_GRACE_NS);
            if stop || waited_out || self.live.gateway_finished.load(Ordering::Acquire) {
                // Stamps still missing will not come: resolve them now.
                while !self.records.is_empty() {
                    self.resolve_front_unstamped();
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn publish_counts(&self) {
        let c = self.correlator.counts();
        let live = &self.live;
        live.ticks_sent
            .store(c.ticks + self.pending_ticks(), Ordering::Relaxed);
        live.triggers.store(c.triggers, Ordering::Relaxed);
        live.orders.store(c.orders, Ordering::Relaxed);
        live.matched.store(c.matched, Ordering::Relaxed);
        live.non_responses.store(c.non_responses, Ordering::Relaxed);
        live.unsolicited.store(c.unsolicited, Ordering::Relaxed);
        live.duplicates.store(c.duplicates, Ordering::Relaxed);
    }

    fn pending_ticks(&self) -> u64 {
        self.ticks.len() as u64
    }
}

/// Copies `payload` into staging slot `slot` (cut to the slot, which the source's
/// `max_datagram_len` sized), puts the framing's headers in front of it, and books
/// its due time; returns the payload length staged.
fn stage_into(
    staging: &mut [u8],
    staged: &mut [Staged; BURST],
    next_ip_id: &mut u16,
    (framing, slot_len): (&Framing, usize),
    slot: usize,
    payload: &[u8],
    due_mono: u64,
) -> usize {
    let header_len = framing.header_len();
    let len = payload.len().min(slot_len - header_len);
    let start = slot * slot_len;
    let frame = &mut staging[start..start + slot_len];
    frame[header_len..header_len + len].copy_from_slice(&payload[..len]);
    let staged_len = match framing {
        Framing::Datagram => len,
        Framing::Ethernet(template) => {
            let id = *next_ip_id;
            *next_ip_id = id.wrapping_add(1);
            // The slot holds the headers and the largest payload, far below IPv4's
            // 65535-byte limit: finish cannot fail; an empty frame would show it.
            template.finish(frame, len, id).unwrap_or(0)
        }
    };
    staged[slot] = Staged {
        len: staged_len,
        due_mono,
    };
    len
}

/// Whether the message at `sequence` should cause an order, and its instrument.
#[allow(clippy::too_many_arguments)]
fn mark(
    engine: &mut TriggerEngine,
    symbols: &mut SymbolTable,
    traded_locates: &mut [bool],
    traded: &[[u8; 8]],
    marking: Marking,
    sequence: u64,
    msg: &Message<'_>,
    raw: &[u8],
) -> (u16, bool) {
    // Every ITCH 5.0 message has Stock Locate at offset 1 (0 for market-wide ones).
    let locate = match raw.get(1..3) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    };
    if let Message::StockDirectory(directory) = msg {
        symbols.observe_itch(msg);
        let is_traded = traded.is_empty() || traded.contains(&directory.stock);
        traded_locates[usize::from(directory.stock_locate.get())] = is_traded;
    }
    let trigger = engine.on_itch(sequence, msg).is_some();
    let is_trigger = match marking {
        Marking::Triggers => trigger,
        Marking::BookMessagesOfTradedSymbols => {
            locate != 0
                && traded_locates[usize::from(locate)]
                && matches!(
                    raw.first(),
                    Some(b'A' | b'F' | b'E' | b'C' | b'X' | b'D' | b'U')
                )
        }
    };
    (locate, is_trigger)
}
