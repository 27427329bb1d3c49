//! Correlation: which tick caused each order, and how long the core took.
//!
//! The lab tells a [`Correlator`] about every tick it sends ([`Correlator::on_tick`],
//! in send order) and every order it receives ([`Correlator::on_order`]); each order
//! that answers a tick becomes a [`Match`] with two latencies, handed to the caller's
//! [`Sink`]: `wire_ns`, from the TX timestamp of the frame that carried the tick to
//! the RX timestamp of the frame that carried the order (tick-to-trade), and
//! `from_schedule_ns`, from the tick's scheduled send time (see [`crate::pace`]) to
//! the same RX timestamp, which keeps percentiles honest when the sender ran late.
//! Everything else is counted in [`Counts`], never dropped: every tick ends up
//! matched, a non-response, not-triggering or overflowed (or is still pending), and
//! every order is matched, a duplicate, unsolicited, late or stale
//! ([`Counts::check`]).
//!
//! It is sans-IO: it never reads a clock and never does I/O; time comes in as the
//! events' own timestamps and as the `now_ns` of [`Correlator::poll`]. After
//! [`Correlator::new`] it never allocates: ticks that may still be answered live in
//! a ring sized by [`Config::capacity`], and a tick that finds the ring full of
//! in-flight ticks is counted as overflowed instead of growing it.
//!
//! # Rules
//!
//! Which ticks are *expected* to cause an order ([`Expect`]):
//! - [`Expect::MarkedTriggers`] (the `trigger` rule, default): only ticks sent with
//!   `is_trigger` (the lab marks them by running [`crate::refcore::trigger`] over the
//!   feed). Any other tick is counted as `not_triggering` at once and can never be
//!   matched.
//! - [`Expect::EveryTick`]: every tick is expected (a core that answers each tick).
//!
//! An expected tick is pending until an order matches it (`matched`) or its timeout
//! passes (`non_responses`). How an order finds its tick ([`Rule`]):
//! - [`Rule::Echo`]: the order carries the tick's sequence number
//!   ([`OrderKey::sequence`], read by the extractors in [`keys`]). The tick is the
//!   expected tick with that sequence number (the latest one, should a sequence
//!   number repeat).
//! - [`Rule::Instrument`]: the tick is the latest *expected* tick of the order's
//!   instrument ([`OrderKey::locate`]) whose TX timestamp is at or before the
//!   order's RX timestamp. Ticks that are not expected never count, so under
//!   `MarkedTriggers` a non-trigger tick of the same instrument sent between the
//!   trigger and the order does not steal the order. The rule is literal: when that
//!   latest tick already has its order, the order is a duplicate even if an older
//!   tick of the instrument is still pending (a core answering the older tick late
//!   cannot be told from one answering the latest twice).
//!
//! Then, for the tick found: pending and within its timeout → `matched`; already
//! matched (or already answered late) → `duplicates`; past its timeout → `late`, and
//! the non-response stands (the tick is counted as a non-response, once). No tick
//! found: `unsolicited` (a sequence number never sent, a tick that was not expected,
//! no key, an unknown instrument), or `stale` when the order names something older
//! than the ring still remembers.
//!
//! A tick's timeout runs from its TX timestamp: it is answered in time when
//! `rx_ns <= tx_ns + timeout_ns`. [`Correlator::poll`] expires pending ticks in send
//! order; [`Correlator::on_order`] also judges its own tick against the timeout, so
//! results do not depend on how often the lab polls.
//!
//! # Clock domains
//!
//! `tx_ns`, `rx_ns`, `scheduled_ns` and `now_ns` are plain nanoseconds and must all be
//! on one clock (one clock domain: the kernel's `CLOCK_REALTIME` for software
//! timestamps, or one PTP-disciplined NIC clock). The lab guarantees that, converting
//! the pacer's schedule into the timestamp domain; a later `time/` module will make
//! the domain part of the type. Timestamps that still disagree are counted, not
//! recorded: an order received before its tick was sent (or before the tick was
//! scheduled) is matched (the tick is accounted for) and counted as `negative`, with
//! no sample, rather than recorded as a huge unsigned latency.
//!
//! # What the caller must keep
//!
//! - `on_tick` for a tick before `on_order` for any order it caused (the lab feeds
//!   a tick when its TX timestamp is known; an order arriving first is held);
//! - `poll(now_ns)` only once every order received at or before `now_ns` has been
//!   given to `on_order` (otherwise an order still in a socket would be late);
//! - under [`Rule::Echo`], sequence numbers that increase in send order (MoldUDP64
//!   does within a session, and the lab renumbers when a capture loops). A tick whose
//!   sequence number does not is counted in `sequence_regressions` and lookups fall
//!   back to a linear scan until it leaves the ring; results stay right.
//!
//! # Capacity
//!
//! The ring holds [`Config::capacity`] expected ticks (rounded up to a power of two,
//! 40 bytes each): the in-flight ones (pending, or matched behind an older pending
//! one) and, in the rest, the most recent settled ones, which is how a duplicate or
//! late order is told from an unsolicited one. It must hold every expected tick of
//! one timeout window: at 1 s and 10,000 triggers a second, 16,384 or more. A tick
//! that finds the ring full of in-flight ticks is not tracked: it is counted as
//! `overflowed` (its order, if one comes, is then counted unsolicited, or stale once
//! it is older than everything remembered). Any overflow
//! means the run did not measure every tick, and the lab reports it as incomplete.
//!
//! ```
//! use ticklab::correlate::{Config, Correlator, OrderKey, OrderSeen, Outcome, TickSent};
//! let mut c = Correlator::new(Config::default()).unwrap(); // echo, marked triggers, 1 s
//! let mut samples = Vec::new();
//! let mut sink = |m: ticklab::correlate::Match| samples.push((m.sequence, m.wire_ns, m.from_schedule_ns));
//! c.on_tick(TickSent { sequence: 41, locate: 1, tx_ns: 1_000, scheduled_ns: 990, is_trigger: false });
//! c.on_tick(TickSent { sequence: 42, locate: 1, tx_ns: 2_000, scheduled_ns: 1_990, is_trigger: true });
//! let out = c.on_order(OrderSeen { rx_ns: 9_500, key: OrderKey::echo(42) }, &mut sink);
//! assert!(matches!(out, Outcome::Matched(_)));
//! c.on_order(OrderSeen { rx_ns: 9_600, key: OrderKey::echo(42) }, &mut sink); // duplicate
//! c.on_order(OrderSeen { rx_ns: 9_700, key: OrderKey::echo(41) }, &mut sink); // not a trigger
//! assert_eq!(samples, [(42, 7_500, 7_510)]);
//! let counts = c.counts();
//! assert_eq!((counts.matched, counts.not_triggering, counts.duplicates, counts.unsolicited), (1, 1, 1, 1));
//! counts.check().unwrap();
//! ```

pub mod keys;

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

pub use keys::{OrderKey, SymbolTable};

const NS_PER_SECOND: u64 = 1_000_000_000;
/// The largest ring accepted: 2^26 entries (3 GiB); beyond that a spec is wrong.
pub const MAX_CAPACITY: usize = 1 << 26;

/// How an order names its tick. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The order echoes the tick's sequence number.
    #[default]
    Echo,
    /// The latest expected tick of the order's instrument.
    Instrument,
}

impl Rule {
    /// The name used in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Echo => "echo",
            Rule::Instrument => "instrument",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "echo" => Ok(Rule::Echo),
            "instrument" => Ok(Rule::Instrument),
            other => Err(format!(
                "unknown correlation rule {other:?}: expected echo or instrument"
            )),
        }
    }
}

/// Which ticks are expected to cause an order. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Only ticks sent with `is_trigger` (the `trigger` rule).
    #[default]
    MarkedTriggers,
    /// Every tick.
    EveryTick,
}

/// The correlation settings. Deserialises from a `[correlate]` table:
/// `rule = "echo"`, `expect = "marked_triggers"`, `timeout_ns = 1000000000`,
/// `capacity = 65536`; every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub rule: Rule,
    pub expect: Expect,
    /// How long after its TX timestamp a tick may still be answered.
    pub timeout_ns: u64,
    /// Expected ticks the ring holds (see the module documentation), rounded up to
    /// a power of two.
    pub capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rule: Rule::Echo,
            expect: Expect::MarkedTriggers,
            timeout_ns: NS_PER_SECOND,
            capacity: 1 << 16,
        }
    }
}

/// A correlation setting that cannot run, naming the key and what is valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value}: {expected}")]
pub struct ConfigError {
    pub key: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// One tick the lab sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickSent {
    /// The tick's MoldUDP64 sequence number.
    pub sequence: u64,
    /// The ITCH stock locate of its instrument.
    pub locate: u16,
    /// TX timestamp of the frame that carried it.
    pub tx_ns: u64,
    /// When the pacer scheduled it, in the same clock domain as `tx_ns`.
    pub scheduled_ns: u64,
    /// Marked by the trigger rule as a tick that should cause an order.
    pub is_trigger: bool,
}

/// One order the lab received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSeen {
    /// RX timestamp of the frame that carried it.
    pub rx_ns: u64,
    pub key: OrderKey,
}

/// An order paired with its tick: one latency sample, both figures non-negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub sequence: u64,
    pub locate: u16,
    pub tx_ns: u64,
    pub rx_ns: u64,
    /// Tick-to-trade on the wire: `rx_ns - tx_ns`.
    pub wire_ns: u64,
    /// From the tick's scheduled time: `rx_ns - scheduled_ns`.
    pub from_schedule_ns: u64,
}

/// An expected tick whose timeout passed without an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonResponse {
    pub sequence: u64,
    pub locate: u16,
    pub tx_ns: u64,
}

/// What became of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It answered a pending tick in time; the sample went to the sink.
    Matched(Match),
    /// It answered a pending tick but its RX timestamp is before the tick's TX (or
    /// scheduled) time: the tick is matched, no sample is recorded.
    Negative { sequence: u64 },
    /// Its tick already had an order.
    Duplicate { sequence: u64 },
    /// Its tick's timeout had passed: the tick stays a non-response.
    Late { sequence: u64 },
    /// It names no tick that was expected to cause an order.
    Unsolicited,
    /// It names a tick older than the ring remembers.
    Stale,
}

/// Receives what the correlator finds. Any `FnMut(Match)` closure is a sink that
/// ignores non-responses.
pub trait Sink {
    /// One latency sample.
    fn matched(&mut self, sample: Match);
    /// An expected tick that went unanswered (for logs; already counted).
    fn non_response(&mut self, _tick: NonResponse) {}
}

impl<F: FnMut(Match)> Sink for F {
    fn matched(&mut self, sample: Match) {
        self(sample)
    }
}

/// The accounting of a run so far. Ticks: `ticks = matched + non_responses +
/// not_triggering + overflowed + pending`. Orders: `orders = matched + duplicates +
/// unsolicited + late + stale`. Serialisable for `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Ticks sent.
    pub ticks: u64,
    /// Ticks expected to cause an order (marked, or every tick under `EveryTick`).
    pub triggers: u64,
    /// Ticks not expected to cause an order.
    pub not_triggering: u64,
    /// Expected ticks answered in time (including `negative` ones).
    pub matched: u64,
    /// Expected ticks whose timeout passed unanswered.
    pub non_responses: u64,
    /// Expected ticks not tracked because the ring was full of in-flight ticks.
    pub overflowed: u64,
    /// Expected ticks still waiting for their order or their timeout.
    pub pending: u64,
    /// Orders received.
    pub orders: u64,
    /// Orders for a tick that already had one.
    pub duplicates: u64,
    /// Orders that name no expected tick.
    pub unsolicited: u64,
    /// Orders for a tick whose timeout had passed.
    pub late: u64,
    /// Orders naming a tick older than the ring remembers.
    pub stale: u64,
    /// Matched orders with no sample: received before their tick was sent or
    /// scheduled (clock trouble). A subset of `matched`.
    pub negative: u64,
    /// Expected ticks whose sequence number was not above the previous one's.
    pub sequence_regressions: u64,
}

/// A broken accounting identity: a bug, never a property of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CountsMismatch {
    #[error("ticks {ticks} != matched + non_responses + not_triggering + overflowed + pending = {accounted}")]
    Ticks { ticks: u64, accounted: u64 },
    #[error("triggers {triggers} != matched + non_responses + overflowed + pending = {accounted}")]
    Triggers { triggers: u64, accounted: u64 },
    #[error("orders {orders} != matched + duplicates + unsolicited + late + stale = {accounted}")]
    Orders { orders: u64, accounted: u64 },
}

impl Counts {
    /// Checks that every tick and every order is accounted for exactly once.
    pub fn check(&self) -> Result<(), CountsMismatch> {
        let expected_outcomes = self.matched + self.non_responses + self.overflowed + self.pending;
        let accounted = expected_outcomes + self.not_triggering;
        if accounted != self.ticks {
            return Err(CountsMismatch::Ticks {
                ticks: self.ticks,
                accounted,
            });
        }
        if expected_outcomes != self.triggers {
            return Err(CountsMismatch::Triggers {
                triggers: self.triggers,
                accounted: expected_outcomes,
            });
        }
        let accounted = self.matched + self.duplicates + self.unsolicited + self.late + self.stale;
        if accounted != self.orders {
            return Err(CountsMismatch::Orders {
                orders: self.orders,
                accounted,
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for its order.
    Pending,
    /// Answered in time.
    Matched,
    /// Timed out unanswered.
    NonResponse,
    /// Timed out, then answered (the order was counted late).
    AnsweredLate,
}

/// One expected tick in the ring.
#[derive(Debug, Clone, Copy)]
struct Entry {
    sequence: u64,
    tx_ns: u64,
    scheduled_ns: u64,
    /// Ring position + 1 of the previous expected tick of the same instrument, 0 for
    /// none (kept under [`Rule::Instrument`] only).
    previous_of_instrument: u64,
    locate: u16,
    state: State,
}

const EMPTY: Entry = Entry {
    sequence: 0,
    tx_ns: 0,
    scheduled_ns: 0,
    previous_of_instrument: 0,
    locate: 0,
    state: State::NonResponse,
};

/// What a lookup found for an order.
enum Found {
    /// The ring position of its tick.
    At(u64),
    Unsolicited,
    Stale,
}

/// Pairs orders with ticks. See the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct Correlator {
    cfg: Config,
    ring: Box<[Entry]>,
    mask: u64,
    /// Ring positions count up forever; position `p` lives at `ring[p & mask]`.
    /// `remembered <= live <= end`, `end - remembered <= ring.len()`: positions in
    /// `remembered..live` are settled ticks kept for history, `live..end` the
    /// in-flight ones (the first of which is pending).
    remembered: u64,
    live: u64,
    end: u64,
    /// Ring position + 1 of the latest expected tick per stock locate (Instrument
    /// rule only; empty otherwise).
    latest_of_instrument: Box<[u64]>,
    /// Position + 1 of the newest entry whose sequence number did not increase; the
    /// ring is sorted by sequence from there on.
    newest_regression: u64,
    counts: Counts,
}

impl Correlator {
    /// A correlator for `cfg`. Allocates the ring (40 bytes per entry) and, for the
    /// instrument rule, a 512 KiB table of the latest tick per stock locate; nothing
    /// after.
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        if cfg.capacity == 0 || cfg.capacity > MAX_CAPACITY {
            return Err(ConfigError {
                key: "correlate.capacity",
                value: cfg.capacity.to_string(),
                expected: "between 1 and 67108864 expected ticks",
            });
        }
        let slots = cfg.capacity.next_power_of_two();
        let latest = match cfg.rule {
            Rule::Instrument => vec![0; 1 << 16],
            Rule::Echo => Vec::new(),
        };
        Ok(Correlator {
            cfg,
            ring: vec![EMPTY; slots].into_boxed_slice(),
            mask: slots as u64 - 1,
            remembered: 0,
            live: 0,
            end: 0,
            latest_of_instrument: latest.into_boxed_slice(),
            newest_regression: 0,
            counts: Counts::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Ticks the ring holds (the configured capacity rounded up to a power of two).
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// The accounting so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// One tick, in send order. Never expires anything (see [`Self::poll`]).
    pub fn on_tick(&mut self, tick: TickSent) {
        self.counts.ticks += 1;
        let expected = tick.is_trigger || self.cfg.expect == Expect::EveryTick;
        if !expected {
            self.counts.not_triggering += 1;
            return;
        }
        self.counts.triggers += 1;
        self.retire_settled();
        let capacity = self.ring.len() as u64;
        if self.end - self.live == capacity {
            self.counts.overflowed += 1;
            return;
        }
        if self.end - self.remembered == capacity {
            self.remembered += 1; // forget the oldest settled tick
        }
        let position = self.end;
        if position > self.remembered && self.entry(position - 1).sequence >= tick.sequence {
            self.counts.sequence_regressions += 1;
            self.newest_regression = position + 1;
        }
        let previous_of_instrument = match self.cfg.rule {
            Rule::Instrument => core::mem::replace(
                &mut self.latest_of_instrument[usize::from(tick.locate)],
                position + 1,
            ),
            Rule::Echo => 0,
        };
        self.ring[(position & self.mask) as usize] = Entry {
            sequence: tick.sequence,
            tx_ns: tick.tx_ns,
            scheduled_ns: tick.scheduled_ns,
            previous_of_instrument,
            locate: tick.locate,
            state: State::Pending,
        };
        self.end += 1;
        self.counts.pending += 1;
    }

    /// One order. Its sample, if it is one, goes to `sink` (and is returned); a
    /// pending tick it finds past its timeout is reported to `sink` as a
    /// non-response.
    pub fn on_order(&mut self, order: OrderSeen, sink: &mut impl Sink) -> Outcome {
        self.counts.orders += 1;
        let found = match self.cfg.rule {
            Rule::Echo => order.key.sequence.map(|s| self.find_sequence(s)),
            Rule::Instrument => order
                .key
                .locate
                .map(|l| self.find_instrument(l, order.rx_ns)),
        };
        let position = match found {
            Some(Found::At(position)) => position,
            Some(Found::Stale) => {
                self.counts.stale += 1;
                return Outcome::Stale;
            }
            Some(Found::Unsolicited) | None => {
                self.counts.unsolicited += 1;
                return Outcome::Unsolicited;
            }
        };
        let timeout_ns = self.cfg.timeout_ns;
        let index = (position & self.mask) as usize;
        let entry = self.ring[index];
        let sequence = entry.sequence;
        let outcome = match entry.state {
            State::Matched | State::AnsweredLate => {
                self.counts.duplicates += 1;
                Outcome::Duplicate { sequence }
            }
            State::NonResponse => {
                self.ring[index].state = State::AnsweredLate;
                self.counts.late += 1;
                Outcome::Late { sequence }
            }
            State::Pending if order.rx_ns > entry.tx_ns.saturating_add(timeout_ns) => {
                self.ring[index].state = State::AnsweredLate;
                self.counts.pending -= 1;
                self.counts.non_responses += 1;
                self.counts.late += 1;
                sink.non_response(non_response(&entry));
                Outcome::Late { sequence }
            }
            State::Pending => {
                self.ring[index].state = State::Matched;
                self.counts.pending -= 1;
                self.counts.matched += 1;
                match (
                    order.rx_ns.checked_sub(entry.tx_ns),
                    order.rx_ns.checked_sub(entry.scheduled_ns),
                ) {
                    (Some(wire_ns), Some(from_schedule_ns)) => {
                        let sample = Match {
                            sequence,
                            locate: entry.locate,
                            tx_ns: entry.tx_ns,
                            rx_ns: order.rx_ns,
                            wire_ns,
                            from_schedule_ns,
                        };
                        sink.matched(sample);
                        Outcome::Matched(sample)
                    }
                    _ => {
                        self.counts.negative += 1;
                        Outcome::Negative { sequence }
                    }
                }
            }
        };
        self.retire_settled();
        outcome
    }

    /// Expires, in send order, every pending tick whose timeout has passed at
    /// `now_ns` (`now_ns > tx_ns + timeout_ns`), reporting each to `sink`. Call it
    /// only once every order received at or before `now_ns` has been given to
    /// [`Self::on_order`]. A `now_ns` earlier than a previous one expires nothing new.
    pub fn poll(&mut self, now_ns: u64, sink: &mut impl Sink) {
        let timeout_ns = self.cfg.timeout_ns;
        while self.live < self.end {
            let index = (self.live & self.mask) as usize;
            let entry = self.ring[index];
            if entry.state == State::Pending {
                if now_ns <= entry.tx_ns.saturating_add(timeout_ns) {
                    break;
                }
                self.ring[index].state = State::NonResponse;
                self.counts.pending -= 1;
                self.counts.non_responses += 1;
                sink.non_response(non_response(&entry));
            }
            self.live += 1;
        }
    }

    /// Ends the run: every tick still pending becomes a non-response (nothing more
    /// will be waited for), so `pending` is 0 and the tick identity is the issue's
    /// `matched + non_responses + not_triggering (+ overflowed) == ticks`. Orders
    /// may still come and are judged as usual (late, duplicate, ...).
    pub fn close(&mut self, sink: &mut impl Sink) {
        self.poll(u64::MAX, sink);
        // A tick whose deadline saturated at u64::MAX survives the poll above.
        while self.live < self.end {
            let index = (self.live & self.mask) as usize;
            let entry = self.ring[index];
            if entry.state == State::Pending {
                self.ring[index].state = State::NonResponse;
                self.counts.pending -= 1;
                self.counts.non_responses += 1;
                sink.non_response(non_response(&entry));
            }
            self.live += 1;
        }
    }

    fn entry(&self, position: u64) -> &Entry {
        &self.ring[(position & self.mask) as usize]
    }

    /// Moves settled ticks at the front of the in-flight region into history, so
    /// capacity is held only by ticks that can still be answered in time.
    fn retire_settled(&mut self) {
        while self.live < self.end && self.entry(self.live).state != State::Pending {
            self.live += 1;
        }
    }

    /// The remembered expected tick with sequence number `sequence`.
    fn find_sequence(&self, sequence: u64) -> Found {
        let (start, end) = (self.remembered, self.end);
        if start == end {
            return if start == 0 {
                Found::Unsolicited
            } else {
                Found::Stale
            };
        }
        if self.newest_regression <= start + 1 {
            // Sorted by sequence: binary search for the last entry <= sequence.
            let (mut lo, mut hi) = (start, end);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.entry(mid).sequence <= sequence {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo > start && self.entry(lo - 1).sequence == sequence {
                return Found::At(lo - 1);
            }
            if lo == start && start > 0 {
                return Found::Stale; // below everything remembered, and some was forgotten
            }
            return Found::Unsolicited;
        }
        match (start..end)
            .rev()
            .find(|&p| self.entry(p).sequence == sequence)
        {
            Some(position) => Found::At(position),
            None if start > 0 && sequence < self.entry(start).sequence => Found::Stale,
            None => Found::Unsolicited,
        }
    }

    /// The latest remembered expected tick of `locate` sent at or before `rx_ns`.
    fn find_instrument(&self, locate: u16, rx_ns: u64) -> Found {
        let mut link = self.latest_of_instrument[usize::from(locate)];
        loop {
            let Some(position) = link.checked_sub(1) else {
                return Found::Unsolicited;
            };
            if position < self.remembered {
                return Found::Stale;
            }
            let entry = self.entry(position);
            if entry.tx_ns <= rx_ns {
                return Found::At(position);
            }
            link = entry.previous_of_instrument;
        }
    }
}

fn non_response(entry: &Entry) -> NonResponse {
    NonResponse {
        sequence: entry.sequence,
        locate: entry.locate,
        tx_ns: entry.tx_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// A sink that keeps everything it is given.
    #[derive(Default)]
    struct Collect {
        samples: Vec<Match>,
        missed: Vec<u64>,
    }

    impl Sink for Collect {
        fn matched(&mut self, sample: Match) {
            self.samples.push(sample);
        }
        fn non_response(&mut self, tick: NonResponse) {
            self.missed.push(tick.sequence);
        }
    }

    fn correlator(rule: Rule, expect: Expect, timeout_ns: u64, capacity: usize) -> Correlator {
        Correlator::new(Config {
            rule,
            expect,
            timeout_ns,
            capacity,
        })
        .unwrap()
    }

    /// A tick scheduled 10 ns before it left.
    fn tick(sequence: u64, locate: u16, tx_ns: u64, is_trigger: bool) -> TickSent {
        TickSent {
            sequence,
            locate,
            tx_ns,
            scheduled_ns: tx_ns - 10,
            is_trigger,
        }
    }

    fn order(rx_ns: u64, key: OrderKey) -> OrderSeen {
        OrderSeen { rx_ns, key }
    }

    fn wire(sink: &Collect) -> Vec<(u64, u64, u64)> {
        sink.samples
            .iter()
            .map(|m| (m.sequence, m.wire_ns, m.from_schedule_ns))
            .collect()
    }

    #[test]
    fn echo_with_marked_triggers_matches_by_sequence() {
        let mut c = correlator(Rule::Echo, Expect::MarkedTriggers, 1_000_000, 16);
        let mut sink = Collect::default();
        for (seq, tx, trig) in [(1, 100, false), (2, 200, true), (3, 300, false)] {
            c.on_tick(tick(seq, 1, tx, trig));
        }
        c.on_tick(tick(4, 2, 400, true));
        c.on_tick(tick(5, 2, 500, false));
        let out = c.on_order(order(1_100, OrderKey::echo(4)), &mut sink);
        assert_eq!(
            out,
            Outcome::Matched(Match {
                sequence: 4,
                locate: 2,
                tx_ns: 400,
                rx_ns: 1_100,
                wire_ns: 700,
                from_schedule_ns: 710
            })
        );
        assert!(matches!(
            c.on_order(order(1_200, OrderKey::echo(2)), &mut sink),
            Outcome::Matched(_)
        ));
        let dup = c.on_order(order(1_300, OrderKey::echo(2)), &mut sink);
        assert_eq!(dup, Outcome::Duplicate { sequence: 2 });
        // A tick that was sent but not a trigger, one never sent, and no key at all.
        for key in [OrderKey::echo(3), OrderKey::echo(99), OrderKey::default()] {
            assert_eq!(
                c.on_order(order(1_400, key), &mut sink),
                Outcome::Unsolicited
            );
        }
        // The echo rule ignores the instrument.
        assert_eq!(
            c.on_order(order(1_500, OrderKey::instrument(1)), &mut sink),
            Outcome::Unsolicited
        );
        assert_eq!(wire(&sink), [(4, 700, 710), (2, 1_000, 1_010)]);
        let n = c.counts();
        assert_eq!(
            n,
            Counts {
                ticks: 5,
                triggers: 2,
                not_triggering: 3,
                matched: 2,
                orders: 7,
                duplicates: 1,
                unsolicited: 4,
                ..Counts::default()
            }
        );
        n.check().unwrap();
        assert!(sink.missed.is_empty());
    }

    #[test]
    fn every_tick_expects_an_order_for_each_tick() {
        let mut c = correlator(Rule::Echo, Expect::EveryTick, 1_000, 16);
        let mut sink = Collect::default();
        for seq in 1..=3 {
            c.on_tick(tick(seq, 1, seq * 100, false));
        }
        c.on_order(order(150, OrderKey::echo(1)), &mut sink);
        c.on_order(order(350, OrderKey::echo(3)), &mut sink);
        assert_eq!(c.counts().pending, 1);
        c.poll(1_200, &mut sink); // seq 2 was due by 1_200 (tx 200 + 1_000)
        assert_eq!(c.counts().pending, 1);
        c.poll(1_201, &mut sink);
        assert_eq!(sink.missed, [2]);
        assert_eq!(wire(&sink), [(1, 50, 60), (3, 50, 60)]);
        let n = c.counts();
        assert_eq!(
            (
                n.ticks,
                n.triggers,
                n.not_triggering,
                n.matched,
                n.non_responses,
                n.pending
            ),
            (3, 3, 0, 2, 1, 0)
        );
        n.check().unwrap();
    }

    #[test]
    fn timeouts_follow_a_fake_clock_and_late_orders_leave_the_non_response() {
        let mut c = correlator(Rule::Echo, Expect::MarkedTriggers, 1_000, 16);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 1, 100, true));
        c.on_tick(tick(2, 1, 600, true));
        c.poll(1_100, &mut sink); // exactly at seq 1's deadline: still in time
        assert!(sink.missed.is_empty());
        c.on_order(order(1_100, OrderKey::echo(1)), &mut sink);
        c.poll(1_601, &mut sink);
        assert_eq!(sink.missed, [2]);
        assert_eq!(
            c.on_order(order(1_700, OrderKey::echo(2)), &mut sink),
            Outcome::Late { sequence: 2 }
        );
        assert_eq!(
            c.on_order(order(1_800, OrderKey::echo(2)), &mut sink),
            Outcome::Duplicate { sequence: 2 }
        );
        // Past its deadline but never polled: the order itself settles it, so the
        // result does not depend on how often the lab polls.
        c.on_tick(tick(3, 1, 2_000, true));
        assert_eq!(
            c.on_order(order(3_001, OrderKey::echo(3)), &mut sink),
            Outcome::Late { sequence: 3 }
        );
        assert_eq!(sink.missed, [2, 3]);
        c.poll(10_000, &mut sink); // nothing is expired twice
        assert_eq!(sink.missed, [2, 3]);
        assert_eq!(wire(&sink), [(1, 1_000, 1_010)]);
        let n = c.counts();
        assert_eq!(
            (n.matched, n.non_responses, n.late, n.duplicates, n.pending),
            (1, 2, 2, 1, 0)
        );
        n.check().unwrap();
    }

    #[test]
    fn expiry_goes_in_send_order() {
        // Seq 2 left with an earlier TX timestamp than seq 1 (clock trouble): it
        // waits behind seq 1 and expires with it.
        let mut c = correlator(Rule::Echo, Expect::EveryTick, 100, 16);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 1, 500, false));
        c.on_tick(tick(2, 1, 300, false));
        c.poll(550, &mut sink);
        assert!(sink.missed.is_empty());
        c.poll(601, &mut sink);
        assert_eq!(sink.missed, [1, 2]);
    }

    #[test]
    fn close_settles_every_pending_tick() {
        let mut c = correlator(Rule::Echo, Expect::MarkedTriggers, u64::MAX, 16);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 1, 100, true));
        c.on_tick(tick(2, 1, 200, true));
        c.on_tick(tick(3, 1, 300, false));
        c.poll(u64::MAX, &mut sink); // a deadline that saturates never passes
        assert_eq!(c.counts().pending, 2);
        c.close(&mut sink);
        assert_eq!(sink.missed, [1, 2]);
        let n = c.counts();
        assert_eq!(n.matched + n.non_responses + n.not_triggering, n.ticks);
        assert_eq!(
            c.on_order(order(400, OrderKey::echo(1)), &mut sink),
            Outcome::Late { sequence: 1 }
        );
        c.counts().check().unwrap();
    }

    #[test]
    fn instrument_rule_takes_the_latest_expected_tick_at_or_before_rx() {
        let mut c = correlator(Rule::Instrument, Expect::MarkedTriggers, 10_000, 16);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 7, 100, true));
        c.on_tick(tick(2, 7, 200, false)); // not a trigger: never a candidate
        c.on_tick(tick(3, 8, 300, true));
        c.on_tick(tick(4, 7, 900, true)); // sent after the next order was received
        let out = c.on_order(order(500, OrderKey::instrument(7)), &mut sink);
        assert!(matches!(out, Outcome::Matched(m) if m.sequence == 1 && m.wire_ns == 400));
        let out = c.on_order(order(1_000, OrderKey::instrument(7)), &mut sink);
        assert!(matches!(out, Outcome::Matched(m) if m.sequence == 4 && m.wire_ns == 100));
        assert_eq!(
            c.on_order(order(1_100, OrderKey::instrument(7)), &mut sink),
            Outcome::Duplicate { sequence: 4 }
        );
        // Literal rule: 5 and 6 are both pending, the order takes 6, the next one is
        // a duplicate of 6 even though 5 still waits.
        c.on_tick(tick(5, 8, 1_200, true));
        c.on_tick(tick(6, 8, 1_300, true));
        let out = c.on_order(order(1_400, OrderKey::instrument(8)), &mut sink);
        assert!(matches!(out, Outcome::Matched(m) if m.sequence == 6));
        assert_eq!(
            c.on_order(order(1_500, OrderKey::instrument(8)), &mut sink),
            Outcome::Duplicate { sequence: 6 }
        );
        // An instrument with no expected tick, one whose only tick came later, and an
        // order whose symbol was unknown (no locate).
        for (rx, key) in [
            (1_600, OrderKey::instrument(9)),
            (50, OrderKey::instrument(7)),
            (1_600, OrderKey::echo(5)),
        ] {
            assert_eq!(c.on_order(order(rx, key), &mut sink), Outcome::Unsolicited);
        }
        c.poll(12_000, &mut sink);
        assert_eq!(sink.missed, [3, 5]);
        // The expired tick 3 is no longer the latest of 8; an order before tick 5
        // went out finds it, late.
        assert_eq!(
            c.on_order(order(1_150, OrderKey::instrument(8)), &mut sink),
            Outcome::Late { sequence: 3 }
        );
        assert_eq!(wire(&sink), [(1, 400, 410), (4, 100, 110), (6, 100, 110)]);
        let n = c.counts();
        assert_eq!(
            n,
            Counts {
                ticks: 6,
                triggers: 5,
                not_triggering: 1,
                matched: 3,
                non_responses: 2,
                orders: 9,
                duplicates: 2,
                unsolicited: 3,
                late: 1,
                ..Counts::default()
            }
        );
        n.check().unwrap();
    }

    #[test]
    fn instrument_rule_with_every_tick_counts_unmarked_ticks() {
        let mut c = correlator(Rule::Instrument, Expect::EveryTick, 10_000, 16);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 7, 100, true));
        c.on_tick(tick(2, 7, 200, false));
        let out = c.on_order(order(500, OrderKey::instrument(7)), &mut sink);
        assert!(matches!(out, Outcome::Matched(m) if m.sequence == 2 && m.wire_ns == 300));
        assert_eq!(c.counts().pending, 1);
    }

    #[test]
    fn negative_latencies_are_counted_not_recorded() {
        let mut c = correlator(Rule::Echo, Expect::MarkedTriggers, 1_000, 16);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 1, 1_000, true));
        c.on_tick(TickSent {
            sequence: 2,
            locate: 1,
            tx_ns: 1_000,
            scheduled_ns: 2_000, // scheduled after it left: the domains disagree
            is_trigger: true,
        });
        assert_eq!(
            c.on_order(order(900, OrderKey::echo(1)), &mut sink),
            Outcome::Negative { sequence: 1 }
        );
        assert_eq!(
            c.on_order(order(1_500, OrderKey::echo(2)), &mut sink),
            Outcome::Negative { sequence: 2 }
        );
        assert_eq!(
            c.on_order(order(1_600, OrderKey::echo(2)), &mut sink),
            Outcome::Duplicate { sequence: 2 }
        );
        assert!(sink.samples.is_empty());
        let n = c.counts();
        assert_eq!((n.matched, n.negative, n.pending), (2, 2, 0));
        n.check().unwrap();
    }

    #[test]
    fn a_full_ring_counts_overflow_and_frees_as_ticks_settle() {
        let mut c = correlator(Rule::Echo, Expect::MarkedTriggers, 1_000, 2);
        assert_eq!(c.capacity(), 2);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 1, 100, true));
        c.on_tick(tick(2, 1, 200, true));
        c.on_tick(tick(3, 1, 300, true)); // both slots in flight
        c.on_tick(tick(4, 1, 310, false)); // not expected: no slot needed
        assert_eq!((c.counts().overflowed, c.counts().pending), (1, 2));
        c.counts().check().unwrap();
        // Its order finds no tick.
        assert_eq!(
            c.on_order(order(400, OrderKey::echo(3)), &mut sink),
            Outcome::Unsolicited
        );
        // Matching seq 1 frees its slot; seq 5 is tracked, forgetting nothing yet
        // in flight.
        c.on_order(order(400, OrderKey::echo(1)), &mut sink);
        c.on_tick(tick(5, 1, 500, true));
        assert_eq!((c.counts().overflowed, c.counts().pending), (1, 2));
        // A matched tick behind a pending one still holds its slot.
        c.on_order(order(600, OrderKey::echo(5)), &mut sink);
        c.on_tick(tick(6, 1, 700, true));
        assert_eq!(c.counts().overflowed, 2);
        c.poll(1_201, &mut sink); // seq 2 expires; 5 (matched) settles behind it
        assert_eq!(sink.missed, [2]);
        c.on_tick(tick(7, 1, 1_300, true));
        c.on_tick(tick(8, 1, 1_400, true));
        assert_eq!(c.counts().overflowed, 2);
        // Only 7 and 8 are remembered now: 1, 2 and 5 were forgotten to make room,
        // and 6 (never tracked) is below everything remembered too: all stale.
        for seq in [1, 2, 5, 6] {
            assert_eq!(
                c.on_order(order(1_500, OrderKey::echo(seq)), &mut sink),
                Outcome::Stale
            );
        }
        assert_eq!(
            c.on_order(order(1_500, OrderKey::echo(9)), &mut sink),
            Outcome::Unsolicited
        );
        assert_eq!(wire(&sink), [(1, 300, 310), (5, 100, 110)]);
        let n = c.counts();
        assert_eq!(
            (
                n.triggers,
                n.matched,
                n.non_responses,
                n.overflowed,
                n.pending
            ),
            (7, 2, 1, 2, 2)
        );
        assert_eq!((n.stale, n.unsolicited), (4, 2));
        n.check().unwrap();
    }

    #[test]
    fn settled_ticks_are_remembered_until_their_slot_is_needed() {
        let mut c = correlator(Rule::Echo, Expect::MarkedTriggers, 1_000, 4);
        let mut sink = Collect::default();
        for seq in 1..=3 {
            c.on_tick(tick(seq, 1, seq * 10, true));
            c.on_order(order(seq * 10 + 5, OrderKey::echo(seq)), &mut sink);
        }
        // All settled but remembered: a second order is a duplicate, not unsolicited.
        assert_eq!(
            c.on_order(order(100, OrderKey::echo(1)), &mut sink),
            Outcome::Duplicate { sequence: 1 }
        );
        c.on_tick(tick(4, 1, 40, true));
        c.on_tick(tick(5, 1, 50, true)); // forgets seq 1
        assert_eq!(
            c.on_order(order(100, OrderKey::echo(1)), &mut sink),
            Outcome::Stale
        );
        assert_eq!(
            c.on_order(order(100, OrderKey::echo(2)), &mut sink),
            Outcome::Duplicate { sequence: 2 }
        );
        c.counts().check().unwrap();
    }

    #[test]
    fn instrument_rule_forgets_too() {
        let mut c = correlator(Rule::Instrument, Expect::MarkedTriggers, 1_000, 2);
        let mut sink = Collect::default();
        c.on_tick(tick(1, 7, 10, true));
        c.on_order(order(20, OrderKey::instrument(7)), &mut sink);
        c.on_tick(tick(2, 8, 30, true));
        c.on_tick(tick(3, 8, 40, true)); // forgets seq 1, the only tick of 7
        assert_eq!(
            c.on_order(order(50, OrderKey::instrument(7)), &mut sink),
            Outcome::Stale
        );
        c.counts().check().unwrap();
    }

    #[test]
    fn sequence_regressions_fall_back_to_a_scan() {
        let mut c = correlator(Rule::Echo, Expect::EveryTick, 1_000, 4);
        let mut sink = Collect::default();
        for (seq, tx) in [(10, 100), (5, 110), (20, 120)] {
            c.on_tick(tick(seq, 1, tx, false));
        }
        assert_eq!(c.counts().sequence_regressions, 1);
        for (seq, want) in [(5, 5), (20, 20), (10, 10)] {
            let out = c.on_order(order(200, OrderKey::echo(seq)), &mut sink);
            assert!(matches!(out, Outcome::Matched(m) if m.sequence == want));
        }
        assert_eq!(
            c.on_order(order(200, OrderKey::echo(7)), &mut sink),
            Outcome::Unsolicited
        );
        // Once the regression left the ring, binary search is back and still right.
        for seq in 21..=24 {
            c.on_tick(tick(seq, 1, 300, false));
        }
        assert!(c.newest_regression <= c.remembered + 1);
        let out = c.on_order(order(400, OrderKey::echo(23)), &mut sink);
        assert!(matches!(out, Outcome::Matched(m) if m.sequence == 23));
        assert_eq!(
            c.on_order(order(400, OrderKey::echo(10)), &mut sink),
            Outcome::Stale
        );
        c.counts().check().unwrap();
    }

    #[test]
    fn config_is_validated_and_reads_from_a_spec_table() {
        let bad = Correlator::new(Config {
            capacity: 0,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(bad.key, "correlate.capacity");
        assert!(Correlator::new(Config {
            capacity: MAX_CAPACITY + 1,
            ..Config::default()
        })
        .is_err());
        let c = correlator(Rule::Echo, Expect::MarkedTriggers, 1, 1000);
        assert_eq!(c.capacity(), 1024);
        let cfg: Config =
            serde_json::from_str(r#"{"rule": "instrument", "timeout_ns": 5000}"#).unwrap();
        assert_eq!(
            cfg,
            Config {
                rule: Rule::Instrument,
                timeout_ns: 5_000,
                ..Config::default()
            }
        );
        let cfg: Config = serde_json::from_str(r#"{"expect": "every_tick"}"#).unwrap();
        assert_eq!(cfg.expect, Expect::EveryTick);
        assert_eq!(Config::default().timeout_ns, 1_000_000_000);
        assert!(serde_json::from_str::<Config>(r#"{"timeout": 5}"#).is_err());
        assert!(serde_json::from_str::<Config>(r#"{"rule": "fifo"}"#).is_err());
        for rule in [Rule::Echo, Rule::Instrument] {
            assert_eq!(rule.name().parse::<Rule>(), Ok(rule));
        }
        assert!("trigger".parse::<Rule>().is_err());
        assert_eq!(core::mem::size_of::<Entry>(), 40);
    }

    #[test]
    fn a_closure_is_a_sink() {
        let mut c = Correlator::new(Config::default()).unwrap();
        let mut total = 0;
        c.on_tick(tick(1, 1, 100, true));
        c.on_order(order(350, OrderKey::echo(1)), &mut |m: Match| {
            total += m.wire_ns
        });
        assert_eq!(total, 250);
    }

    #[test]
    fn counts_check_names_the_broken_identity() {
        let n = Counts {
            ticks: 2,
            triggers: 1,
            matched: 1,
            ..Counts::default()
        };
        assert!(matches!(
            n.check(),
            Err(CountsMismatch::Ticks {
                ticks: 2,
                accounted: 1
            })
        ));
        let n = Counts {
            ticks: 1,
            not_triggering: 1,
            triggers: 1,
            ..Counts::default()
        };
        assert!(matches!(n.check(), Err(CountsMismatch::Triggers { .. })));
        let n = Counts {
            orders: 1,
            ..Counts::default()
        };
        assert!(matches!(n.check(), Err(CountsMismatch::Orders { .. })));
    }

    /// One step of a random event stream.
    #[derive(Debug, Clone)]
    enum Op {
        /// A tick `dt` after the last event; `step` added to the sequence number
        /// (0 repeats it).
        Tick {
            dt: u64,
            step: u64,
            locate: u16,
            trigger: bool,
            schedule_lead: u64,
        },
        /// An order `dt` after the last event, received `skew` ns before that (clock
        /// trouble), naming the tick `back` ticks ago (past the first: a sequence
        /// never sent).
        Order {
            dt: u64,
            skew: u64,
            back: usize,
            keyless: bool,
        },
        Poll {
            dt: u64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..300u64, 0..3u64, 0..4u16, any::<bool>(), 0..100u64).prop_map(
                |(dt, step, locate, trigger, schedule_lead)| Op::Tick { dt, step, locate, trigger, schedule_lead }
            ),
            4 => (0..300u64, prop_oneof![8 => Just(0u64), 1 => 0..400u64], 0..12usize, proptest::bool::weighted(0.05))
                .prop_map(|(dt, skew, back, keyless)| Op::Order { dt, skew, back, keyless }),
            1 => (0..2_500u64).prop_map(|dt| Op::Poll { dt }),
        ]
    }

    const PROP_TIMEOUT_NS: u64 = 1_000;

    /// Replays `ops`, checking the accounting after every event; returns each
    /// order's outcome.
    fn replay(c: &mut Correlator, ops: &[Op]) -> Result<Vec<Outcome>, TestCaseError> {
        let mut sink = Collect::default();
        let mut sent: Vec<TickSent> = Vec::new();
        let (mut now, mut sequence) = (1_000u64, 1u64);
        let mut outcomes = Vec::new();
        for op in ops {
            match *op {
                Op::Tick {
                    dt,
                    step,
                    locate,
                    trigger,
                    schedule_lead,
                } => {
                    now += dt;
                    sequence += step;
                    let t = TickSent {
                        sequence,
                        locate,
                        tx_ns: now,
                        scheduled_ns: now - schedule_lead,
                        is_trigger: trigger,
                    };
                    sent.push(t);
                    c.on_tick(t);
                }
                Op::Order {
                    dt,
                    skew,
                    back,
                    keyless,
                } => {
                    now += dt;
                    let named = sent.len().checked_sub(back + 1).map(|i| sent[i]);
                    let key = match (keyless, named) {
                        (true, _) => OrderKey::default(),
                        (false, Some(t)) => OrderKey::echo(t.sequence).with_locate(t.locate),
                        (false, None) => OrderKey::echo(sequence + 1_000).with_locate(9),
                    };
                    let rx_ns = now - skew;
                    let before = sink.samples.len();
                    let out = c.on_order(OrderSeen { rx_ns, key }, &mut sink);
                    if let Outcome::Matched(m) = out {
                        prop_assert_eq!(sink.samples.len(), before + 1);
                        prop_assert_eq!(sink.samples[before], m);
                        prop_assert_eq!(m.rx_ns, rx_ns);
                        prop_assert_eq!(m.wire_ns, rx_ns - m.tx_ns);
                        prop_assert!(m.wire_ns <= PROP_TIMEOUT_NS);
                        prop_assert!(m.from_schedule_ns >= m.wire_ns);
                    } else {
                        prop_assert_eq!(sink.samples.len(), before);
                    }
                    outcomes.push(out);
                }
                Op::Poll { dt } => {
                    now += dt;
                    c.poll(now, &mut sink);
                }
            }
            let n = c.counts();
            prop_assert!(n.check().is_ok(), "{:?} after {:?}", n.check(), op);
            prop_assert!(n.negative <= n.matched);
            prop_assert_eq!(n.ticks, sent.len() as u64);
            prop_assert!(n.pending <= c.capacity() as u64);
        }
        c.close(&mut sink);
        let n = c.counts();
        prop_assert_eq!(n.pending, 0);
        prop_assert_eq!(
            n.matched + n.non_responses + n.not_triggering + n.overflowed,
            n.ticks
        );
        prop_assert_eq!(sink.missed.len() as u64, n.non_responses);
        prop_assert_eq!(sink.samples.len() as u64, n.matched - n.negative);
        Ok(outcomes)
    }

    /// The echo rule written the obvious way (a list of every expected tick, no
    /// capacity limit), for unique increasing sequence numbers.
    fn echo_model(expect: Expect, ops: &[Op]) -> Vec<Outcome> {
        // (tick, state)
        let mut ticks: Vec<(TickSent, State)> = Vec::new();
        let mut sent: Vec<TickSent> = Vec::new();
        let (mut now, mut sequence, mut cursor) = (1_000u64, 1u64, 0usize);
        let mut outcomes = Vec::new();
        for op in ops {
            match *op {
                Op::Tick {
                    dt,
                    step,
                    locate,
                    trigger,
                    schedule_lead,
                } => {
                    now += dt;
                    sequence += step;
                    let t = TickSent {
                        sequence,
                        locate,
                        tx_ns: now,
                        scheduled_ns: now - schedule_lead,
                        is_trigger: trigger,
                    };
                    sent.push(t);
                    if trigger || expect == Expect::EveryTick {
                        ticks.push((t, State::Pending));
                    }
                }
                Op::Order {
                    dt,
                    skew,
                    back,
                    keyless,
                } => {
                    now += dt;
                    let rx = now - skew;
                    let seq = match (keyless, sent.len().checked_sub(back + 1)) {
                        (true, _) => None,
                        (false, Some(i)) => Some(sent[i].sequence),
                        (false, None) => Some(sequence + 1_000),
                    };
                    let found =
                        seq.and_then(|s| ticks.iter_mut().rev().find(|(t, _)| t.sequence == s));
                    outcomes.push(match found {
                        None => Outcome::Unsolicited,
                        Some((t, state)) => match *state {
                            State::Matched | State::AnsweredLate => Outcome::Duplicate {
                                sequence: t.sequence,
                            },
                            State::NonResponse => {
                                *state = State::AnsweredLate;
                                Outcome::Late {
                                    sequence: t.sequence,
                                }
                            }
                            State::Pending if rx > t.tx_ns + PROP_TIMEOUT_NS => {
                                *state = State::AnsweredLate;
                                Outcome::Late {
                                    sequence: t.sequence,
                                }
                            }
                            State::Pending => {
                                *state = State::Matched;
                                if rx < t.tx_ns || rx < t.scheduled_ns {
                                    Outcome::Negative {
                                        sequence: t.sequence,
                                    }
                                } else {
                                    Outcome::Matched(Match {
                                        sequence: t.sequence,
                                        locate: t.locate,
                                        tx_ns: t.tx_ns,
                                        rx_ns: rx,
                                        wire_ns: rx - t.tx_ns,
                                        from_schedule_ns: rx - t.scheduled_ns,
                                    })
                                }
                            }
                        },
                    });
                }
                Op::Poll { dt } => {
                    now += dt;
                    while let Some((t, state)) = ticks.get_mut(cursor) {
                        if *state == State::Pending {
                            if now <= t.tx_ns + PROP_TIMEOUT_NS {
                                break;
                            }
                            *state = State::NonResponse;
                        }
                        cursor += 1;
                    }
                }
            }
        }
        outcomes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn every_tick_and_order_is_accounted_for(
            ops in proptest::collection::vec(op(), 0..300),
            rule in prop_oneof![Just(Rule::Echo), Just(Rule::Instrument)],
            expect in prop_oneof![Just(Expect::MarkedTriggers), Just(Expect::EveryTick)],
            capacity in prop_oneof![Just(1usize), Just(2), Just(4), Just(8), Just(1024)],
        ) {
            let mut c = correlator(rule, expect, PROP_TIMEOUT_NS, capacity);
            replay(&mut c, &ops)?;
        }

        #[test]
        fn echo_agrees_with_a_simple_model(
            ops in proptest::collection::vec(op(), 0..300),
            expect in prop_oneof![Just(Expect::MarkedTriggers), Just(Expect::EveryTick)],
        ) {
            // Unique, increasing sequence numbers, and a ring that never forgets.
            let ops: Vec<Op> = ops
                .into_iter()
                .map(|op| match op {
                    Op::Tick { dt, locate, trigger, schedule_lead, .. } => {
                        Op::Tick { dt, step: 1, locate, trigger, schedule_lead }
                    }
                    other => other,
                })
                .collect();
            let mut c = correlator(Rule::Echo, expect, PROP_TIMEOUT_NS, 1024);
            let got = replay(&mut c, &ops)?;
            prop_assert_eq!(got, echo_model(expect, &ops));
        }
    }

    /// The lab's self-test in miniature: the synthetic feed through refcore's trigger
    /// engine marks the triggers; a core that answers every trigger but every 10th
    /// (`refcore --drop-every 10`) after exactly 5 µs sends real OUCH orders; every
    /// count and every latency is what that implies.
    #[test]
    fn refcore_with_drop_every_10_gives_the_implied_non_responses() {
        use crate::feed::synthetic::{SyntheticConfig, SyntheticFeed};
        use crate::proto::{itch50, moldudp64, ouch42, ouch50};
        use crate::refcore::book::BookConfig;
        use crate::refcore::order::{OrderConfig, OrderEncoder, OuchVersion};
        use crate::refcore::trigger::{GateDecision, TriggerEngine, TriggerGate, TriggerRule};

        const TICK_SPACING_NS: u64 = 10_000;
        const DUT_LATENCY_NS: u64 = 5_000;
        const SCHEDULE_LEAD_NS: u64 = 250;
        for (rule, version) in [
            (Rule::Echo, OuchVersion::V50),
            (Rule::Echo, OuchVersion::V42),
            (Rule::Instrument, OuchVersion::V50),
        ] {
            let mut feed = SyntheticFeed::new(SyntheticConfig {
                seed: 11,
                messages: Some(20_000),
                ..SyntheticConfig::default()
            })
            .unwrap();
            let mut engine = TriggerEngine::new(TriggerRule::TopOfBook, &BookConfig::default());
            let mut gate = TriggerGate::new(10, None);
            let mut encoder = OrderEncoder::new(OrderConfig {
                version,
                ..OrderConfig::default()
            });
            let mut symbols = SymbolTable::with_capacity(64);
            let mut c = correlator(rule, Expect::MarkedTriggers, 1_000_000_000, 4096);
            let mut sink = Collect::default();
            // Orders on their way back: (rx, OUCH bytes).
            let mut wire_orders: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            let deliver = |c: &mut Correlator,
                           sink: &mut Collect,
                           symbols: &SymbolTable,
                           (rx_ns, bytes): (u64, Vec<u8>)| {
                let key = match version {
                    OuchVersion::V50 => OrderKey::from_ouch50_inbound(
                        &ouch50::parse_inbound(&bytes).unwrap(),
                        symbols,
                    ),
                    OuchVersion::V42 => OrderKey::from_ouch42_inbound(
                        &ouch42::parse_inbound(&bytes).unwrap(),
                        symbols,
                    ),
                }
                .unwrap();
                assert!(key.sequence.is_some() && key.locate.is_some());
                let out = c.on_order(OrderSeen { rx_ns, key }, sink);
                assert!(matches!(out, Outcome::Matched(_)), "{out:?}");
            };
            let mut buf = vec![0u8; 1500];
            let mut messages = 0u64;
            while let Some(p) = feed.next_packet(&mut buf) {
                let packet = moldudp64::Packet::new_checked(&buf[..p.len]).unwrap();
                for (sequence, message) in packet.messages() {
                    messages += 1;
                    let tx_ns = sequence * TICK_SPACING_NS;
                    // Every order received before this tick left is in.
                    while wire_orders.front().is_some_and(|(rx, _)| *rx <= tx_ns) {
                        let o = wire_orders.pop_front().unwrap();
                        deliver(&mut c, &mut sink, &symbols, o);
                    }
                    c.poll(tx_ns, &mut sink);
                    symbols.observe_itch(&itch50::parse(message).unwrap());
                    let trigger = engine.on_message(sequence, message).unwrap();
                    let locate = itch50::parse(message).unwrap().stock_locate().unwrap();
                    c.on_tick(TickSent {
                        sequence,
                        locate,
                        tx_ns,
                        scheduled_ns: tx_ns - SCHEDULE_LEAD_NS,
                        is_trigger: trigger.is_some(),
                    });
                    if let Some(t) = trigger {
                        if gate.decide() == GateDecision::Send {
                            let mut out = [0u8; 128];
                            let n = encoder.encode(&t, &mut out).unwrap();
                            wire_orders.push_back((tx_ns + DUT_LATENCY_NS, out[..n].to_vec()));
                        }
                    }
                }
            }
            for o in wire_orders.drain(..) {
                deliver(&mut c, &mut sink, &symbols, o);
            }
            c.close(&mut sink);
            let n = c.counts();
            assert!(n.triggers > 100, "{} triggers", n.triggers);
            assert_eq!(n.triggers, gate.triggers);
            assert_eq!(n.ticks, messages);
            assert_eq!(n.non_responses, n.triggers / 10);
            assert_eq!(n.matched, n.triggers - n.triggers / 10);
            assert_eq!(n.matched + n.non_responses + n.not_triggering, n.ticks);
            assert_eq!(
                (
                    n.unsolicited,
                    n.duplicates,
                    n.late,
                    n.stale,
                    n.overflowed,
                    n.negative
                ),
                (0, 0, 0, 0, 0, 0)
            );
            n.check().unwrap();
            assert_eq!(sink.samples.len() as u64, n.matched);
            assert!(sink.samples.iter().all(|m| m.wire_ns == DUT_LATENCY_NS
                && m.from_schedule_ns == DUT_LATENCY_NS + SCHEDULE_LEAD_NS));
            // The unanswered ones are exactly the dropped triggers: the 10th, 20th, ...
            assert_eq!(sink.missed.len() as u64, n.triggers / 10);
        }
    }
}
