//! The seeded synthetic market-data feed: NASDAQ TotalView-ITCH 5.0 in MoldUDP64
//! packets, shaped like a real session.
//!
//! A session opens the way NASDAQ's does (System Event 'O' and 'S', a Stock Directory
//! and a Stock Trading Action for every symbol, then 'Q', start of market hours) —
//! compressed into the microseconds before the open, so that a replay at original
//! timing starts trading at once instead of waiting out a pre-market of hours —
//! then trades: adds (with and without MPID), executions (with and without price),
//! partial cancels, deletes, replaces and non-displayed trades over the configured
//! symbols. Every execution, cancel, delete and replace refers to an order that is
//! live in the generator's book, with shares it still has, so a consumer that keeps a
//! book never sees an impossible message. Symbols are not equally busy (Zipf-like),
//! inter-arrival times are exponential with bursts of closely spaced messages, and
//! messages published within a short window share a MoldUDP64 packet, as an
//! exchange's publisher does. The session closes with 'M', 'E' and 'C' and a
//! MoldUDP64 End of Session packet when the message budget allows.
//!
//! The same seed and configuration give the same bytes on every machine, now and in
//! later versions ([`super::rng`]). After [`SyntheticFeed::new`], generating packets
//! allocates nothing, so the lab can run it on its send thread.
//!
//! ```
//! use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
//! let mut feed = SyntheticFeed::new(SyntheticConfig { messages: Some(100), ..Default::default() }).unwrap();
//! let mut buf = [0u8; 1500];
//! let mut messages = 0;
//! while let Some(p) = feed.next_packet(&mut buf) {
//!     messages += u64::from(p.count);
//! }
//! assert_eq!(messages, 100);
//! ```

use super::rng::Rng;
use crate::proto::itch50::{
    AddOrder, AddOrderMpid, OrderCancel, OrderDelete, OrderExecuted, OrderExecutedWithPrice,
    OrderReplace, StockDirectory, StockTradingAction, SystemEvent, Trade,
};
use crate::proto::moldudp64;
use zerocopy::IntoBytes;

/// Midnight in New York on Monday 2026-01-05 (05:00 UTC; EST is UTC−5): ITCH
/// timestamps count from midnight Eastern time, so this is the epoch time of ITCH
/// timestamp 0 on the default trading date.
pub const DEFAULT_DATE_EPOCH_NS: i64 = 1_767_589_200_000_000_000;
/// 09:30:00, the start of regular market hours, in nanoseconds since midnight.
pub const MARKET_OPEN_NS: u64 = 34_200_000_000_000;

/// Everything that shapes the synthetic session.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    pub seed: u64,
    /// Ticker symbols, 1 to 8 characters of A-Z, 0-9, '.', '-' each. The first is
    /// the busiest.
    pub symbols: Vec<String>,
    /// Total ITCH messages to generate, including the session's opening and closing
    /// messages; `None` runs until the caller stops asking.
    pub messages: Option<u64>,
    /// MoldUDP64 session name (up to 10 characters).
    pub session: String,
    /// Sequence number of the first message.
    pub first_sequence: u64,
    /// Time of day the trading part starts, in ns since midnight.
    pub start_ns: u64,
    /// The trading date's midnight in ns since the Unix epoch, for capture timestamps.
    pub date_epoch_ns: i64,
    /// Mean message rate outside bursts, messages per second.
    pub mean_rate: f64,
    /// Probability that a message starts a burst.
    pub burst_probability: f64,
    /// Mean number of messages in a burst.
    pub mean_burst_len: f64,
    /// Mean spacing of messages inside a burst, ns.
    pub burst_spacing_ns: f64,
    /// Messages published within this window after a packet's first message share
    /// that packet.
    pub packet_window_ns: u64,
    /// Largest MoldUDP64 payload (1472 fills a 1500-byte IPv4 MTU).
    pub max_payload: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 1,
            symbols: [
                "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "QQQ",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            messages: Some(100_000),
            session: "TICKLAB001".into(),
            first_sequence: 1,
            start_ns: MARKET_OPEN_NS,
            date_epoch_ns: DEFAULT_DATE_EPOCH_NS,
            mean_rate: 100_000.0,
            burst_probability: 0.01,
            mean_burst_len: 40.0,
            burst_spacing_ns: 120.0,
            packet_window_ns: 2_000,
            max_payload: 1472,
        }
    }
}

/// A configuration the generator cannot run, naming the key and what is valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("synthetic feed: {key} = {value}: {expected}")]
pub struct ConfigError {
    pub key: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The largest ITCH message the generator writes (Stock Directory, 39 bytes).
const MAX_MESSAGE: usize = 64;
const MOLD_HEADER: usize = 20;
/// Live orders kept per symbol; the book never grows past this, so nothing allocates
/// after start-up.
const BOOK_CAPACITY: usize = 512;
/// Prices are ITCH Price(4): 1/10000 dollars; a tick is one cent.
const TICK: u32 = 100;

impl SyntheticConfig {
    /// Checks every key; the first invalid one is the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key, value: String, expected| {
            Err(ConfigError {
                key,
                value,
                expected,
            })
        };
        if self.symbols.is_empty() || self.symbols.len() > 65_535 {
            return err(
                "symbols",
                format!("{} symbols", self.symbols.len()),
                "1 to 65535 symbols",
            );
        }
        for s in &self.symbols {
            let ok = !s.is_empty()
                && s.len() <= 8
                && s.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !ok {
                return err(
                    "symbols",
                    format!("{s:?}"),
                    "1 to 8 characters of A-Z, 0-9, '.', '-'",
                );
            }
        }
        if self.session.is_empty()
            || self.session.len() > 10
            || !self.session.bytes().all(|b| b.is_ascii_graphic())
        {
            return err(
                "session",
                format!("{:?}", self.session),
                "1 to 10 printable ASCII characters",
            );
        }
        if !(self.mean_rate.is_finite() && self.mean_rate > 0.0 && self.mean_rate <= 1e9) {
            return err(
                "mean_rate",
                self.mean_rate.to_string(),
                "a rate in messages per second, above 0 and at most 1e9",
            );
        }
        if !(0.0..=1.0).contains(&self.burst_probability) {
            return err(
                "burst_probability",
                self.burst_probability.to_string(),
                "a probability from 0 to 1",
            );
        }
        if !(self.mean_burst_len >= 1.0 && self.mean_burst_len.is_finite()) {
            return err(
                "mean_burst_len",
                self.mean_burst_len.to_string(),
                "a mean of at least 1 message",
            );
        }
        if !(self.burst_spacing_ns >= 0.0 && self.burst_spacing_ns.is_finite()) {
            return err(
                "burst_spacing_ns",
                self.burst_spacing_ns.to_string(),
                "a spacing of 0 ns or more",
            );
        }
        if self.max_payload < MOLD_HEADER + 2 + MAX_MESSAGE || self.max_payload > 65_507 {
            return err(
                "max_payload",
                self.max_payload.to_string(),
                "86 to 65507 bytes (a MoldUDP64 header and one full message, at most one UDP datagram)",
            );
        }
        if self.first_sequence == 0 {
            return err(
                "first_sequence",
                "0".into(),
                "1 or more (MoldUDP64 sequence numbers start at 1)",
            );
        }
        Ok(())
    }
}

/// One generated MoldUDP64 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPacket {
    /// Bytes written at the start of the caller's buffer.
    pub len: usize,
    /// Sequence number of the packet's first message (for End of Session: the next
    /// sequence number).
    pub first_sequence: u64,
    /// ITCH messages in the packet (0 for End of Session).
    pub count: u16,
    /// When the exchange published it: ns since midnight (its last message's
    /// timestamp).
    pub publish_ns: u64,
    pub end_of_session: bool,
}

#[derive(Debug, Clone, Copy)]
struct LiveOrder {
    order_ref: u64,
    side: u8,
    price: u32,
    shares: u32,
}

#[derive(Debug)]
struct Book {
    stock: [u8; 8],
    locate: u16,
    mid: u32,
    orders: Vec<LiveOrder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Index into the opening sequence.
    Opening(usize),
    Trading,
    /// Index into the closing events.
    Closing(usize),
    /// Messages done; the End of Session packet is still to go.
    EndOfSession,
    Done,
}

/// A message generated but not yet placed in a packet.
#[derive(Clone, Copy)]
struct Pending {
    bytes: [u8; MAX_MESSAGE],
    len: usize,
    timestamp_ns: u64,
}

/// The generator. See the module documentation.
pub struct SyntheticFeed {
    cfg: SyntheticConfig,
    session: [u8; 10],
    rng: Rng,
    books: Vec<Book>,
    /// Cumulative popularity weights of the symbols.
    popularity: Vec<u64>,
    clock_ns: u64,
    burst_left: u32,
    next_order_ref: u64,
    next_match: u64,
    generated: u64,
    next_sequence: u64,
    stage: Stage,
    pending: Option<Pending>,
}

const ATTRIBUTIONS: [&[u8; 4]; 4] = [b"TKLB", b"MMKR", b"HFT1", b"BANK"];
const CLOSING_EVENTS: [u8; 3] = [b'M', b'E', b'C'];

impl SyntheticFeed {
    /// A generator for `cfg`, or the first invalid key.
    pub fn new(cfg: SyntheticConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let mut rng = Rng::seed(cfg.seed);
        let books: Vec<Book> = cfg
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| Book {
                stock: crate::proto::pad_alpha(s.as_bytes()),
                locate: (i + 1) as u16,
                // $10.00 to $500.00, on a whole tick.
                mid: (1_000 + rng.below(49_000) as u32) * TICK,
                orders: Vec::with_capacity(BOOK_CAPACITY),
            })
            .collect();
        // Zipf-like: symbol i is about 1/(i+1) as busy as the first.
        let mut total = 0;
        let popularity = (0..books.len())
            .map(|i| {
                total += 1_000_000 / (i as u64 + 1);
                total
            })
            .collect();
        let session = crate::proto::pad_alpha(cfg.session.as_bytes());
        Ok(SyntheticFeed {
            clock_ns: cfg.start_ns.saturating_sub(1_000_000_000),
            next_sequence: cfg.first_sequence,
            cfg,
            session,
            rng,
            books,
            popularity,
            burst_left: 0,
            next_order_ref: 1,
            next_match: 1,
            generated: 0,
            stage: Stage::Opening(0),
            pending: None,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &SyntheticConfig {
        &self.cfg
    }

    /// Nanoseconds since the Unix epoch of a time of day on the session's date.
    pub fn epoch_ns(&self, ns_since_midnight: u64) -> i64 {
        self.cfg.date_epoch_ns + ns_since_midnight as i64
    }

    /// ITCH messages generated so far.
    pub fn messages_generated(&self) -> u64 {
        self.generated
    }

    fn opening_len(&self) -> usize {
        // 'O', 'S', a directory and a trading action per symbol, 'Q'.
        3 + 2 * self.books.len()
    }

    fn budget_left(&self) -> Option<u64> {
        self.cfg.messages.map(|n| n - self.generated)
    }

    /// Writes the next MoldUDP64 packet into `buf` (at least `max_payload` bytes)
    /// and describes it, or returns `None` when the session is over.
    ///
    /// # Panics
    /// If `buf` is shorter than the configured `max_payload`.
    pub fn next_packet(&mut self, buf: &mut [u8]) -> Option<FeedPacket> {
        assert!(
            buf.len() >= self.cfg.max_payload,
            "packet buffer of {} bytes is below max_payload {}",
            buf.len(),
            self.cfg.max_payload
        );
        let buf = &mut buf[..self.cfg.max_payload];
        if self.pending.is_none() {
            self.pending = self.next_message();
        }
        let Some(first) = self.pending else {
            return self.end_of_session(buf);
        };
        let first_sequence = self.next_sequence;
        let mut builder = moldudp64::PacketBuilder::new(buf, &self.session, first_sequence)
            .expect("max_payload holds a MoldUDP64 header (validated)");
        let mut publish_ns = first.timestamp_ns;
        while let Some(p) = self.pending {
            if p.timestamp_ns > first.timestamp_ns + self.cfg.packet_window_ns
                || builder.push(&p.bytes[..p.len]).is_err()
            {
                break;
            }
            publish_ns = p.timestamp_ns;
            self.pending = self.next_message();
        }
        let count = builder.count();
        let len = builder.finish();
        self.next_sequence += u64::from(count);
        Some(FeedPacket {
            len,
            first_sequence,
            count,
            publish_ns,
            end_of_session: false,
        })
    }

    fn end_of_session(&mut self, buf: &mut [u8]) -> Option<FeedPacket> {
        if self.stage != Stage::EndOfSession {
            return None;
        }
        self.stage = Stage::Done;
        let len = moldudp64::write_end_of_session(buf, &self.session, self.next_sequence)
            .expect("max_payload holds a MoldUDP64 header (validated)");
        self.clock_ns += 1_000;
        Some(FeedPacket {
            len,
            first_sequence: self.next_sequence,
            count: 0,
            publish_ns: self.clock_ns,
            end_of_session: true,
        })
    }

    /// Generates the next ITCH message, advancing the session clock.
    fn next_message(&mut self) -> Option<Pending> {
        let left = self.budget_left();
        if left == Some(0) {
            if matches!(
                self.stage,
                Stage::Opening(_) | Stage::Trading | Stage::Closing(_)
            ) {
                self.stage = Stage::EndOfSession;
            }
            return None;
        }
        let mut out = Pending {
            bytes: [0; MAX_MESSAGE],
            len: 0,
            timestamp_ns: 0,
        };
        match self.stage {
            Stage::Opening(i) => {
                // Opening messages are a microsecond apart; the last, start of market
                // hours, is at start_ns.
                let n = self.opening_len();
                self.clock_ns = self.cfg.start_ns - (n - 1 - i) as u64 * 1_000;
                self.opening_message(i, &mut out);
                self.stage = if i + 1 == n {
                    Stage::Trading
                } else {
                    Stage::Opening(i + 1)
                };
            }
            Stage::Trading => {
                // Keep the last three messages of a budget for the closing events,
                // when the budget is large enough to have a session at all.
                let closing_fits = self
                    .cfg
                    .messages
                    .is_some_and(|n| n >= (self.opening_len() + CLOSING_EVENTS.len()) as u64);
                if closing_fits && left == Some(CLOSING_EVENTS.len() as u64) {
                    self.stage = Stage::Closing(0);
                    return self.next_message();
                }
                self.advance_clock();
                self.trading_message(&mut out);
            }
            Stage::Closing(i) => {
                self.clock_ns += 1_000;
                out.len = put(
                    &mut out.bytes,
                    &SystemEvent::new(0, 0, self.clock_ns, CLOSING_EVENTS[i]),
                );
                self.stage = if i + 1 == CLOSING_EVENTS.len() {
                    Stage::EndOfSession
                } else {
                    Stage::Closing(i + 1)
                };
            }
            Stage::EndOfSession | Stage::Done => return None,
        }
        out.timestamp_ns = self.clock_ns;
        self.generated += 1;
        Some(out)
    }

    fn opening_message(&mut self, i: usize, out: &mut Pending) {
        let n_sym = self.books.len();
        let t = self.clock_ns;
        out.len = if i == 0 {
            put(&mut out.bytes, &SystemEvent::new(0, 0, t, b'O'))
        } else if i == 1 {
            put(&mut out.bytes, &SystemEvent::new(0, 0, t, b'S'))
        } else if i < 2 + n_sym {
            let b = &self.books[i - 2];
            put(
                &mut out.bytes,
                &StockDirectory::new(
                    b.locate, 0, t, &b.stock, b'Q', b'N', 100, b'N', b'C', b"Z", b'P', b'N', b' ',
                    b'1', b'N', 0, b'N',
                ),
            )
        } else if i < 2 + 2 * n_sym {
            let b = &self.books[i - 2 - n_sym];
            put(
                &mut out.bytes,
                &StockTradingAction::new(b.locate, 0, t, &b.stock, b'T', b""),
            )
        } else {
            put(&mut out.bytes, &SystemEvent::new(0, 0, t, b'Q'))
        };
    }

    fn advance_clock(&mut self) {
        let gap = if self.burst_left > 0 {
            self.burst_left -= 1;
            self.rng.exponential(self.cfg.burst_spacing_ns)
        } else {
            if self.rng.chance(self.cfg.burst_probability) {
                self.burst_left = self.rng.exponential(self.cfg.mean_burst_len) as u32;
            }
            self.rng.exponential(1e9 / self.cfg.mean_rate)
        };
        // At least a nanosecond apart: ITCH timestamps of one feed never go back.
        self.clock_ns += (gap as u64).max(1);
    }

    fn pick_symbol(&mut self) -> usize {
        let total = *self.popularity.last().expect("at least one symbol");
        let r = self.rng.below(total);
        self.popularity.partition_point(|&c| c <= r)
    }

    fn shares(&mut self) -> u32 {
        if self.rng.chance(0.85) {
            100 * (1 + self.rng.below(10) as u32)
        } else {
            1 + self.rng.below(99) as u32
        }
    }

    fn trading_message(&mut self, out: &mut Pending) {
        let s = self.pick_symbol();
        let t = self.clock_ns;
        // The mid price wanders a tick now and then.
        if self.rng.chance(0.01) {
            let book = &mut self.books[s];
            book.mid = if self.rng.chance(0.5) {
                book.mid + TICK
            } else {
                (book.mid - TICK).max(TICK * 100)
            };
        }
        let live = self.books[s].orders.len();
        let roll = if live == 0 {
            0
        } else if live >= BOOK_CAPACITY {
            // A full book only shrinks.
            500 + self.rng.below(300)
        } else {
            self.rng.below(1000)
        };
        let book_locate = self.books[s].locate;
        out.len = match roll {
            0..=379 => self.add(s, t, None, out),
            380..=419 => {
                let who = ATTRIBUTIONS[self.rng.below(ATTRIBUTIONS.len() as u64) as usize];
                self.add(s, t, Some(who), out)
            }
            420..=499 => {
                let i = self.rng.below(live as u64) as usize;
                let order = self.books[s].orders[i];
                let executed = order.shares.min(100 * (1 + self.rng.below(3) as u32));
                let m = self.take_match();
                self.reduce(s, i, executed);
                put(
                    &mut out.bytes,
                    &OrderExecuted::new(book_locate, 0, t, order.order_ref, executed, m),
                )
            }
            500..=509 => {
                let i = self.rng.below(live as u64) as usize;
                let order = self.books[s].orders[i];
                let executed = order.shares;
                let m = self.take_match();
                let price = if order.side == b'B' {
                    order.price.saturating_sub(TICK)
                } else {
                    order.price + TICK
                };
                self.reduce(s, i, executed);
                put(
                    &mut out.bytes,
                    &OrderExecutedWithPrice::new(
                        book_locate,
                        0,
                        t,
                        order.order_ref,
                        executed,
                        m,
                        b'Y',
                        price,
                    ),
                )
            }
            510..=589 => {
                let i = self.rng.below(live as u64) as usize;
                let order = self.books[s].orders[i];
                if order.shares > 1 {
                    let cancelled = 1 + self.rng.below(u64::from(order.shares - 1)) as u32;
                    self.reduce(s, i, cancelled);
                    put(
                        &mut out.bytes,
                        &OrderCancel::new(book_locate, 0, t, order.order_ref, cancelled),
                    )
                } else {
                    self.books[s].orders.swap_remove(i);
                    put(
                        &mut out.bytes,
                        &OrderDelete::new(book_locate, 0, t, order.order_ref),
                    )
                }
            }
            590..=799 => {
                let i = self.rng.below(live as u64) as usize;
                let order = self.books[s].orders.swap_remove(i);
                put(
                    &mut out.bytes,
                    &OrderDelete::new(book_locate, 0, t, order.order_ref),
                )
            }
            800..=949 => {
                let i = self.rng.below(live as u64) as usize;
                let old = self.books[s].orders[i];
                let new_ref = self.take_order_ref();
                let price = self.price_near(s, old.side);
                let shares = self.shares();
                self.books[s].orders[i] = LiveOrder {
                    order_ref: new_ref,
                    side: old.side,
                    price,
                    shares,
                };
                put(
                    &mut out.bytes,
                    &OrderReplace::new(book_locate, 0, t, old.order_ref, new_ref, shares, price),
                )
            }
            _ => {
                let side = if self.rng.chance(0.5) { b'B' } else { b'S' };
                let price = self.price_near(s, side);
                let shares = self.shares();
                let m = self.take_match();
                let stock = self.books[s].stock;
                // Non-displayed orders carry no reference number in the feed.
                put(
                    &mut out.bytes,
                    &Trade::new(book_locate, 0, t, 0, side, shares, &stock, price, m),
                )
            }
        };
    }

    fn add(&mut self, s: usize, t: u64, mpid: Option<&[u8; 4]>, out: &mut Pending) -> usize {
        let side = if self.rng.chance(0.5) { b'B' } else { b'S' };
        let price = self.price_near(s, side);
        let shares = self.shares();
        let order_ref = self.take_order_ref();
        let book = &mut self.books[s];
        book.orders.push(LiveOrder {
            order_ref,
            side,
            price,
            shares,
        });
        match mpid {
            None => put(
                &mut out.bytes,
                &AddOrder::new(
                    book.locate,
                    0,
                    t,
                    order_ref,
                    side,
                    shares,
                    &book.stock,
                    price,
                ),
            ),
            Some(who) => put(
                &mut out.bytes,
                &AddOrderMpid::new(
                    book.locate,
                    0,
                    t,
                    order_ref,
                    side,
                    shares,
                    &book.stock,
                    price,
                    who,
                ),
            ),
        }
    }

    /// A resting price on `side`: a few ticks away from the mid, closer more often.
    fn price_near(&mut self, s: usize, side: u8) -> u32 {
        let k = self.rng.below(4) * self.rng.below(4) + 1;
        let mid = self.books[s].mid;
        let away = TICK * k as u32;
        if side == b'B' {
            mid.saturating_sub(away).max(TICK)
        } else {
            mid + away
        }
    }

    /// Takes `shares` off order `i` of symbol `s`, removing it when none are left.
    fn reduce(&mut self, s: usize, i: usize, shares: u32) {
        let orders = &mut self.books[s].orders;
        orders[i].shares -= shares;
        if orders[i].shares == 0 {
            orders.swap_remove(i);
        }
    }

    fn take_order_ref(&mut self) -> u64 {
        let r = self.next_order_ref;
        self.next_order_ref += 1;
        r
    }

    fn take_match(&mut self) -> u64 {
        let m = self.next_match;
        self.next_match += 1;
        m
    }
}

fn put<M: IntoBytes + zerocopy::Immutable>(out: &mut [u8; MAX_MESSAGE], msg: &M) -> usize {
    let bytes = msg.as_bytes();
    out[..bytes.len()].copy_from_slice(bytes);
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::itch50::{self, Message};
    use std::collections::HashMap;

    fn collect(cfg: SyntheticConfig) -> Vec<(FeedPacket, Vec<u8>)> {
        let mut feed = SyntheticFeed::new(cfg).unwrap();
        let mut buf = vec![0u8; 1472];
        let mut out = Vec::new();
        while let Some(p) = feed.next_packet(&mut buf) {
            out.push((p, buf[..p.len].to_vec()));
        }
        out
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = collect(SyntheticConfig {
            messages: Some(5_000),
            ..Default::default()
        });
        let b = collect(SyntheticConfig {
            messages: Some(5_000),
            ..Default::default()
        });
        let c = collect(SyntheticConfig {
            messages: Some(5_000),
            seed: 2,
            ..Default::default()
        });
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Replays the feed through a book of our own: every reference must be live and
    /// every reduction must fit, sequence numbers must be dense, time must not go back.
    #[test]
    fn the_feed_is_a_consistent_session() {
        let packets = collect(SyntheticConfig {
            messages: Some(50_000),
            seed: 9,
            ..Default::default()
        });
        let mut live: HashMap<u64, u32> = HashMap::new();
        let mut next_seq = 1;
        let mut last_ts = 0;
        let mut kinds: HashMap<u8, u64> = HashMap::new();
        let mut multi_message_packets = 0;
        let (last, body) = packets.split_last().unwrap();
        assert!(last.0.end_of_session);
        let eos = moldudp64::Packet::new_checked(&last.1[..]).unwrap();
        assert_eq!(eos.kind(), moldudp64::PacketKind::EndOfSession);
        assert_eq!(eos.sequence(), 50_001);
        for (p, bytes) in body {
            let pkt = moldudp64::Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(pkt.sequence(), next_seq);
            assert_eq!(pkt.sequence(), p.first_sequence);
            assert_eq!(pkt.count(), p.count);
            if p.count > 1 {
                multi_message_packets += 1;
            }
            for (seq, msg) in pkt.messages() {
                assert_eq!(seq, next_seq);
                next_seq += 1;
                let m = itch50::parse(msg).unwrap();
                *kinds.entry(m.type_byte()).or_default() += 1;
                let ts = m.timestamp().unwrap();
                assert!(ts >= last_ts, "time went back at {seq}");
                last_ts = ts;
                match m {
                    Message::AddOrder(a) => {
                        assert!(live
                            .insert(a.order_reference_number.get(), a.shares.get())
                            .is_none());
                    }
                    Message::AddOrderMpid(a) => {
                        assert!(live
                            .insert(a.order_reference_number.get(), a.shares.get())
                            .is_none());
                    }
                    Message::OrderExecuted(e) => {
                        let s = live.get_mut(&e.order_reference_number.get()).unwrap();
                        *s -= e.executed_shares.get();
                        if *s == 0 {
                            live.remove(&e.order_reference_number.get());
                        }
                    }
                    Message::OrderExecutedWithPrice(e) => {
                        let s = live.get_mut(&e.order_reference_number.get()).unwrap();
                        *s -= e.executed_shares.get();
                        if *s == 0 {
                            live.remove(&e.order_reference_number.get());
                        }
                    }
                    Message::OrderCancel(c) => {
                        let s = live.get_mut(&c.order_reference_number.get()).unwrap();
                        assert!(*s > c.cancelled_shares.get());
                        *s -= c.cancelled_shares.get();
                    }
                    Message::OrderDelete(d) => {
                        assert!(live.remove(&d.order_reference_number.get()).is_some());
                    }
                    Message::OrderReplace(r) => {
                        assert!(live
                            .remove(&r.original_order_reference_number.get())
                            .is_some());
                        live.insert(r.new_order_reference_number.get(), r.shares.get());
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(next_seq, 50_001);
        // The session opened and closed like NASDAQ's and used the whole mix.
        for t in *b"SRHAFECXDUP" {
            assert!(
                kinds.get(&t).copied().unwrap_or(0) > 0,
                "no '{}'",
                t as char
            );
        }
        assert_eq!(kinds[&b'S'], 6);
        assert_eq!(kinds[&b'R'], 8);
        assert!(multi_message_packets > 10, "bursts never shared a packet");
    }

    #[test]
    fn small_budgets_stop_exactly() {
        for n in [0, 1, 5, 19, 20, 21, 22, 23] {
            let packets = collect(SyntheticConfig {
                messages: Some(n),
                ..Default::default()
            });
            let total: u64 = packets.iter().map(|(p, _)| u64::from(p.count)).sum();
            assert_eq!(total, n, "budget {n}");
        }
    }

    #[test]
    fn unbounded_feed_keeps_going_without_growing_books() {
        let mut feed = SyntheticFeed::new(SyntheticConfig {
            messages: None,
            symbols: vec!["ONE".into()],
            ..Default::default()
        })
        .unwrap();
        let mut buf = [0u8; 1472];
        for _ in 0..20_000 {
            assert!(feed.next_packet(&mut buf).is_some());
        }
        assert!(feed.books[0].orders.len() <= BOOK_CAPACITY);
        assert_eq!(feed.books[0].orders.capacity(), BOOK_CAPACITY);
    }

    #[test]
    fn bad_configs_name_the_key() {
        let bad = |f: fn(&mut SyntheticConfig)| {
            let mut c = SyntheticConfig::default();
            f(&mut c);
            SyntheticFeed::new(c).err().unwrap().key
        };
        assert_eq!(bad(|c| c.symbols = vec!["toolongsymbol".into()]), "symbols");
        assert_eq!(bad(|c| c.symbols.clear()), "symbols");
        assert_eq!(bad(|c| c.session = "ELEVENCHARS".into()), "session");
        assert_eq!(bad(|c| c.mean_rate = 0.0), "mean_rate");
        assert_eq!(bad(|c| c.max_payload = 40), "max_payload");
        assert_eq!(bad(|c| c.first_sequence = 0), "first_sequence");
    }
}
