//! The trigger rule: which ITCH messages make refcore send an order.
//!
//! The rule is a pure function of the feed: the same messages in the same order give
//! the same triggers, so the lab runs this code over the feed it replays and knows
//! exactly which ticks should come back as orders. It must never read a clock, do
//! I/O, or depend on anything but the messages (and the configuration).
//!
//! Rules, over the traded symbols only (see [`BookConfig::symbols`]; empty = all):
//!
//! - [`TriggerRule::TopOfBook`] (default, `top-of-book`): a message that changes the
//!   best bid price or the best ask price of a symbol is a trigger. That includes a
//!   side becoming empty or non-empty, and excludes a change of size at an unchanged
//!   best price. Every book-changing ITCH message (A, F, E, C, X, D, U) touches one
//!   side, so a trigger names one side. The trigger's price is the new best price on
//!   that side or, when the side emptied, the price of the level that vanished.
//! - [`TriggerRule::EveryAdd`] (`every-add`): every Add Order (`'A'` or `'F'`) that
//!   rests shares; its price is the add's price. For simple calibration.
//!
//! Messages the book cannot apply (an unknown order, a duplicate reference, a zero
//! share add) never trigger. The order that answers a trigger takes the liquidity the
//! trigger is about: it goes on the opposite side ([`Trigger::order_side`]) at the
//! trigger's price: a new best ask is bought, a new best bid is sold to.
//!
//! ```
//! use ticklab::proto::itch50::{self, AddOrder};
//! use ticklab::refcore::book::{BookConfig, Side};
//! use ticklab::refcore::trigger::{TriggerEngine, TriggerRule};
//! let mut engine = TriggerEngine::new(TriggerRule::TopOfBook, &BookConfig::default());
//! let add = AddOrder::new(1, 0, 0, 7, b'S', 100, b"AAPL", 1_500_000);
//! let mut buf = [0u8; 64];
//! let n = itch50::write_into(&add, &mut buf).unwrap();
//! let t = engine.on_message(42, &buf[..n]).unwrap().expect("a new best ask");
//! assert_eq!((t.sequence, t.order_side(), t.price), (42, Side::Buy, 1_500_000));
//! ```

use core::fmt;
use core::str::FromStr;

use super::book::{Book, BookConfig, EventKind, Side};
use crate::proto::itch50::{self, Message};
use crate::proto::Error;

/// Which messages are triggers. See the module documentation for the exact rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriggerRule {
    /// A change of the best bid or best ask price.
    #[default]
    TopOfBook,
    /// Every Add Order.
    EveryAdd,
}

impl TriggerRule {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TriggerRule::TopOfBook => "top-of-book",
            TriggerRule::EveryAdd => "every-add",
        }
    }
}

impl fmt::Display for TriggerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TriggerRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "top-of-book" => Ok(TriggerRule::TopOfBook),
            "every-add" => Ok(TriggerRule::EveryAdd),
            other => Err(format!(
                "unknown trigger rule {other:?}: expected top-of-book or every-add"
            )),
        }
    }
}

/// A message that calls for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// The triggering message's MoldUDP64 sequence number.
    pub sequence: u64,
    pub locate: u16,
    /// Symbol, space padded as ITCH writes it.
    pub stock: [u8; 8],
    /// The side of the book the message changed (for `every-add`, the add's side).
    pub book_side: Side,
    /// Price(4) to trade at (see the module documentation).
    pub price: u32,
    /// ITCH type byte of the triggering message.
    pub message_type: u8,
}

impl Trigger {
    /// The side of the order that answers the trigger: opposite the book side.
    pub fn order_side(&self) -> Side {
        self.book_side.opposite()
    }
}

/// A book plus a rule: feed it every ITCH message in sequence order.
#[derive(Debug)]
pub struct TriggerEngine {
    book: Book,
    rule: TriggerRule,
}

impl TriggerEngine {
    pub fn new(rule: TriggerRule, book: &BookConfig) -> Self {
        TriggerEngine {
            book: Book::new(book),
            rule,
        }
    }

    pub fn rule(&self) -> TriggerRule {
        self.rule
    }

    /// The book as the messages so far left it.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Decodes and applies one ITCH message (as MoldUDP64 framed it). A message too
    /// short for its type is an error and changes nothing.
    pub fn on_message(&mut self, sequence: u64, message: &[u8]) -> Result<Option<Trigger>, Error> {
        let msg = itch50::parse(message)?;
        Ok(self.on_itch(sequence, &msg))
    }

    /// Applies one decoded ITCH message.
    pub fn on_itch(&mut self, sequence: u64, msg: &Message<'_>) -> Option<Trigger> {
        let ev = self.book.apply(msg)?;
        let price = match self.rule {
            TriggerRule::TopOfBook if ev.best_changed() => ev.best_after.or(ev.best_before)?,
            TriggerRule::EveryAdd if ev.kind == EventKind::Add => ev.price,
            _ => return None,
        };
        Some(Trigger {
            sequence,
            locate: ev.locate,
            stock: ev.stock,
            book_side: ev.side,
            price,
            message_type: msg.type_byte(),
        })
    }
}

/// `--drop-every N`: the Nth, 2Nth, ... trigger (counting every trigger from 1) is
/// ignored. `drop_every` 0 drops nothing. The lab uses this to know which triggers
/// should go unanswered: of T triggers, `T / N` (rounded down) are dropped.
pub fn is_dropped(trigger_number: u64, drop_every: u64) -> bool {
    drop_every != 0 && trigger_number % drop_every == 0
}

/// What to do with one trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateDecision {
    /// Send the order.
    Send,
    /// Ignored by `--drop-every`.
    Drop,
    /// `--max-orders` already reached.
    OverLimit,
}

/// Counts triggers and applies `--drop-every` and `--max-orders`.
#[derive(Debug, Clone, Default)]
pub struct TriggerGate {
    drop_every: u64,
    max_orders: Option<u64>,
    /// Triggers seen.
    pub triggers: u64,
    /// Triggers ignored by `--drop-every`.
    pub dropped: u64,
    /// Triggers let through (orders to send).
    pub admitted: u64,
    /// Triggers past `--max-orders`.
    pub over_limit: u64,
}

impl TriggerGate {
    pub fn new(drop_every: u64, max_orders: Option<u64>) -> Self {
        TriggerGate {
            drop_every,
            max_orders,
            ..TriggerGate::default()
        }
    }

    /// Counts one trigger and decides it. Dropping is decided before the limit, so
    /// which triggers are dropped never depends on `--max-orders`.
    pub fn decide(&mut self) -> GateDecision {
        self.triggers += 1;
        if is_dropped(self.triggers, self.drop_every) {
            self.dropped += 1;
            return GateDecision::Drop;
        }
        if self.max_orders.is_some_and(|max| self.admitted >= max) {
            self.over_limit += 1;
            return GateDecision::OverLimit;
        }
        self.admitted += 1;
        GateDecision::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::synthetic::{SyntheticConfig, SyntheticFeed};
    use crate::proto::itch50::{
        AddOrder, AddOrderMpid, OrderCancel, OrderDelete, OrderExecuted, OrderReplace,
    };
    use crate::proto::moldudp64;
    use crate::proto::pad_alpha;
    use zerocopy::IntoBytes;

    fn run(engine: &mut TriggerEngine, msgs: &[&[u8]]) -> Vec<Option<Trigger>> {
        msgs.iter()
            .enumerate()
            .map(|(i, m)| engine.on_message(100 + i as u64, m).unwrap())
            .collect()
    }

    #[test]
    fn top_of_book_fires_on_best_price_changes_only() {
        let mut e = TriggerEngine::new(TriggerRule::TopOfBook, &BookConfig::default());
        let a1 = AddOrder::new(1, 0, 0, 1, b'B', 100, b"AAPL", 1_000_000);
        let a2 = AddOrder::new(1, 0, 0, 2, b'B', 100, b"AAPL", 990_000); // worse bid
        let a3 = AddOrderMpid::new(1, 0, 0, 3, b'S', 100, b"AAPL", 1_010_000, b"MMKR");
        let x = OrderCancel::new(1, 0, 0, 1, 50); // size only
        let a4 = AddOrder::new(1, 0, 0, 4, b'B', 10, b"AAPL", 1_000_000); // same price
        let ex = OrderExecuted::new(1, 0, 0, 1, 50, 1); // level keeps order 4
        let d = OrderDelete::new(1, 0, 0, 4); // level gone: bid falls to 99
        let u = OrderReplace::new(1, 0, 0, 3, 5, 100, 1_020_000); // ask moves up
        let d2 = OrderDelete::new(1, 0, 0, 5); // ask side empties
        let out = run(
            &mut e,
            &[
                a1.as_bytes(),
                a2.as_bytes(),
                a3.as_bytes(),
                x.as_bytes(),
                a4.as_bytes(),
                ex.as_bytes(),
                d.as_bytes(),
                u.as_bytes(),
                d2.as_bytes(),
            ],
        );
        let fired: Vec<(u64, Side, u32, u8)> = out
            .iter()
            .flatten()
            .map(|t| (t.sequence, t.book_side, t.price, t.message_type))
            .collect();
        assert_eq!(
            fired,
            vec![
                (100, Side::Buy, 1_000_000, b'A'),
                (102, Side::Sell, 1_010_000, b'F'),
                (106, Side::Buy, 990_000, b'D'),
                (107, Side::Sell, 1_020_000, b'U'),
                (108, Side::Sell, 1_020_000, b'D'),
            ]
        );
        let t = out[0].unwrap();
        assert_eq!(t.order_side(), Side::Sell);
        assert_eq!(t.stock, *b"AAPL    ");
        assert_eq!(t.locate, 1);
    }

    #[test]
    fn every_add_fires_on_adds_only() {
        let mut e = TriggerEngine::new(TriggerRule::EveryAdd, &BookConfig::default());
        let a1 = AddOrder::new(1, 0, 0, 1, b'B', 100, b"AAPL", 1_000_000);
        let a2 = AddOrder::new(1, 0, 0, 2, b'B', 100, b"AAPL", 990_000);
        let d = OrderDelete::new(1, 0, 0, 1);
        let a3 = AddOrderMpid::new(1, 0, 0, 3, b'S', 5, b"AAPL", 1_010_000, b"MMKR");
        let u = OrderReplace::new(1, 0, 0, 3, 4, 5, 1_000_000);
        let out = run(
            &mut e,
            &[
                a1.as_bytes(),
                a2.as_bytes(),
                d.as_bytes(),
                a3.as_bytes(),
                u.as_bytes(),
            ],
        );
        let fired: Vec<(u64, Side, u32)> = out
            .iter()
            .flatten()
            .map(|t| (t.sequence, t.order_side(), t.price))
            .collect();
        assert_eq!(
            fired,
            vec![
                (100, Side::Sell, 1_000_000),
                (101, Side::Sell, 990_000),
                (103, Side::Buy, 1_010_000)
            ]
        );
    }

    #[test]
    fn untraded_symbols_never_trigger() {
        let cfg = BookConfig {
            symbols: vec![pad_alpha(b"MSFT")],
            ..BookConfig::default()
        };
        let mut e = TriggerEngine::new(TriggerRule::EveryAdd, &cfg);
        let a = AddOrder::new(1, 0, 0, 1, b'B', 100, b"AAPL", 1_000_000);
        assert_eq!(e.on_message(1, a.as_bytes()).unwrap(), None);
        let a = AddOrder::new(2, 0, 0, 2, b'B', 100, b"MSFT", 1_000_000);
        assert!(e.on_message(2, a.as_bytes()).unwrap().is_some());
        assert!(e.on_message(3, &[b'A', 0, 1]).is_err());
    }

    #[test]
    fn gate_drops_every_nth_then_limits() {
        let mut g = TriggerGate::new(3, Some(4));
        let d: Vec<GateDecision> = (0..8).map(|_| g.decide()).collect();
        use GateDecision::*;
        assert_eq!(
            d,
            vec![Send, Send, Drop, Send, Send, Drop, OverLimit, OverLimit]
        );
        assert_eq!(
            (g.triggers, g.dropped, g.admitted, g.over_limit),
            (8, 2, 4, 2)
        );
        let mut g = TriggerGate::new(0, None);
        assert!((0..100).all(|_| g.decide() == Send));
        assert!(is_dropped(10, 10) && !is_dropped(9, 10) && !is_dropped(10, 0));
    }

    /// Every trigger of a synthetic session, with the message count.
    fn synthetic_triggers(rule: TriggerRule, seed: u64) -> (Vec<Trigger>, u64) {
        let mut feed = SyntheticFeed::new(SyntheticConfig {
            seed,
            messages: Some(20_000),
            ..SyntheticConfig::default()
        })
        .unwrap();
        let mut engine = TriggerEngine::new(rule, &BookConfig::default());
        let mut buf = vec![0u8; 1500];
        let (mut triggers, mut messages) = (Vec::new(), 0);
        while let Some(p) = feed.next_packet(&mut buf) {
            let packet = moldudp64::Packet::new_checked(&buf[..p.len]).unwrap();
            for (seq, msg) in packet.messages() {
                messages += 1;
                triggers.extend(engine.on_message(seq, msg).unwrap());
            }
        }
        assert_eq!(engine.book().stats().unknown_orders, 0);
        assert_eq!(engine.book().stats().duplicate_orders, 0);
        (triggers, messages)
    }

    #[test]
    fn synthetic_feed_triggers_are_deterministic_and_plentiful() {
        for rule in [TriggerRule::TopOfBook, TriggerRule::EveryAdd] {
            let (a, messages) = synthetic_triggers(rule, 7);
            let (b, _) = synthetic_triggers(rule, 7);
            assert_eq!(a, b, "{rule}");
            assert_eq!(messages, 20_000);
            // Triggers are a real fraction of the messages. The synthetic books are
            // deep (prices 1 to 10 ticks off a mid that moves a tick on 1% of
            // messages), so the top changes on about 1% of messages; adds are ~40%.
            let at_least = match rule {
                TriggerRule::TopOfBook => messages / 200,
                TriggerRule::EveryAdd => messages / 4,
            };
            assert!(a.len() as u64 > at_least, "{rule}: {} triggers", a.len());
            assert!(a.windows(2).all(|w| w[0].sequence < w[1].sequence));
        }
        let (other_seed, _) = synthetic_triggers(TriggerRule::TopOfBook, 8);
        let (seven, _) = synthetic_triggers(TriggerRule::TopOfBook, 7);
        assert_ne!(other_seed, seven);
    }

    #[test]
    fn rule_names_round_trip() {
        for rule in [TriggerRule::TopOfBook, TriggerRule::EveryAdd] {
            assert_eq!(rule.name().parse::<TriggerRule>(), Ok(rule));
        }
        assert!("best".parse::<TriggerRule>().is_err());
    }
}
