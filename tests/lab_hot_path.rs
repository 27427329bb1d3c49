//! The lab's measuring thread allocates nothing once built: a whole run of the send
//! loop (pacing, sending through a port, TX stamps, trigger marking, the book, the
//! correlator, orders from the ring, recording, the drain and the close) is driven
//! over an in-memory port, and a counting allocator shows no allocation on that thread
//! between the start of `Sender::run` and its return (the frees when the thread drops
//! its buffers at the end are teardown, not counted).

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use counting_alloc::allocations_on_this_thread;
use ticklab::correlate::{self, Correlator};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
use ticklab::lab::sender::{Limit, Live, Marking, OrderArrival, Sender, SenderConfig};
use ticklab::lab::source::SyntheticSource;
use ticklab::nic::{ClockDomain, Error, KernelTimestamp, Port, RxMeta, SentBurst, TxTimestamp};
use ticklab::pace::{Mode, Pacer};
use ticklab::refcore::book::BookConfig;
use ticklab::refcore::trigger::{TriggerEngine, TriggerRule};
use ticklab::stats::interval_recorder;

/// A port that sends nowhere and stamps every datagram at once with a clock that
/// advances a microsecond per datagram.
struct MemoryPort {
    next_id: u32,
    pending: [u32; 64],
    pending_len: usize,
    clock_ns: u64,
}

impl Port for MemoryPort {
    fn send_burst(&mut self, packets: &[&[u8]]) -> Result<SentBurst, Error> {
        let room = self.pending.len() - self.pending_len;
        let count = packets.len().min(room);
        let first_id = self.next_id;
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
                    ns: self.clock_ns,
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
    const MESSAGES: u64 = 60_000;
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
        },
        Box::new(SyntheticSource::new(feed)),
        MemoryPort {
            next_id: 0,
            pending: [0; 64],
            pending_len: 0,
            clock_ns: 0,
        },
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
    assert_eq!(calls, 0, "the send thread allocated {calls} times");
}
