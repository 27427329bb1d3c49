//! refcore: a small, real trading core, the device under test of ticklab's
//! self-tests and demos.
//!
//! It listens to a MoldUDP64/ITCH 5.0 feed, detects gaps, keeps top of book for its
//! symbols, and on a trigger rule sends an OUCH Enter Order over SoupBinTCP whose
//! token carries the triggering message's sequence number, so the lab can pair each
//! order with its tick. This module is the whole core without sockets:
//!
//! - [`book`]: top of book per symbol from ITCH order messages;
//! - [`trigger`]: the documented, deterministic trigger rules, and the
//!   `--drop-every`/`--max-orders` gate; the lab runs the same code over the feed it
//!   replays to know which ticks must come back as orders;
//! - [`gap`]: MoldUDP64 sequence tracking (gaps, duplicates, end of session);
//! - [`session`]: a sans-IO SoupBinTCP client (login, heartbeats, timeouts, logout);
//! - [`order`]: the OUCH 5.0/4.2 Enter Order for a trigger, the token encoding and
//!   [`order::sequence_from_token`].
//!
//! [`FeedHandler`] puts the feed side together: one datagram in, its triggers out.
//! The `refcore` binary adds the sockets and the clock. Nothing here does I/O or
//! reads a clock, and after construction nothing allocates unless the feed outgrows
//! a configured capacity (see [`book`]).
//!
//! ```
//! use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
//! use ticklab::refcore::{FeedHandler, book::BookConfig, trigger::TriggerRule};
//! let mut feed = SyntheticFeed::new(SyntheticConfig { messages: Some(500), ..Default::default() }).unwrap();
//! let mut handler = FeedHandler::new(TriggerRule::TopOfBook, &BookConfig::default());
//! let mut buf = [0u8; 1500];
//! let mut triggers = Vec::new();
//! while let Some(p) = feed.next_packet(&mut buf) {
//!     handler.on_datagram(&buf[..p.len], |t| triggers.push(t.sequence)).unwrap();
//! }
//! assert!(!triggers.is_empty());
//! assert_eq!(handler.gaps().gaps, 0);
//! assert!(handler.gaps().end_of_session);
//! ```

pub mod book;
pub mod gap;
pub mod order;
pub mod session;
pub mod trigger;

use book::BookConfig;
use gap::{Disposition, GapStats, SequenceTracker};
use trigger::{Trigger, TriggerEngine, TriggerRule};

use crate::proto::moldudp64::Packet;
use crate::proto::{pad_alpha, Error};

/// Parses a `--symbols` list (`"AAPL,MSFT"`) into ITCH's space-padded form. Each
/// symbol is 1 to 8 characters of A-Z, 0-9, `.` or `-`.
pub fn parse_symbols(list: &str) -> Result<Vec<[u8; 8]>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let ok = s.len() <= 8
                && s.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if ok {
                Ok(pad_alpha(s.as_bytes()))
            } else {
                Err(format!(
                    "symbol {s:?}: expected 1 to 8 characters of A-Z, 0-9, '.', '-'"
                ))
            }
        })
        .collect()
}

/// The feed side of refcore: MoldUDP64 sequence tracking plus book and trigger.
#[derive(Debug)]
pub struct FeedHandler {
    tracker: SequenceTracker,
    engine: TriggerEngine,
    bad_messages: u64,
    bad_packets: u64,
}

impl FeedHandler {
    pub fn new(rule: TriggerRule, book: &BookConfig) -> Self {
        FeedHandler {
            tracker: SequenceTracker::new(),
            engine: TriggerEngine::new(rule, book),
            bad_messages: 0,
            bad_packets: 0,
        }
    }

    /// Takes one MoldUDP64 datagram: checks it, accounts for its sequence numbers,
    /// and runs every new ITCH message through the book and the rule, handing each
    /// trigger to `on_trigger` as it is found (so an order can go out before the
    /// rest of the packet is read). A malformed datagram is an error and changes
    /// nothing; a malformed ITCH message inside a good one is counted and skipped.
    pub fn on_datagram(
        &mut self,
        datagram: &[u8],
        mut on_trigger: impl FnMut(Trigger),
    ) -> Result<Disposition, Error> {
        let packet = match Packet::new_checked(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.bad_packets += 1;
                return Err(e);
            }
        };
        let d = self.tracker.on_view(&packet);
        for (sequence, message) in packet.messages().skip(usize::from(d.skip)) {
            match self.engine.on_message(sequence, message) {
                Ok(Some(t)) => on_trigger(t),
                Ok(None) => {}
                Err(_) => self.bad_messages += 1,
            }
        }
        Ok(d)
    }

    /// Sequence accounting so far.
    pub fn gaps(&self) -> GapStats {
        self.tracker.stats()
    }

    /// The book and rule.
    pub fn engine(&self) -> &TriggerEngine {
        &self.engine
    }

    /// ITCH messages too short for their type.
    pub fn bad_messages(&self) -> u64 {
        self.bad_messages
    }

    /// Datagrams that are not valid MoldUDP64.
    pub fn bad_packets(&self) -> u64 {
        self.bad_packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::itch50::{self, AddOrder};
    use crate::proto::moldudp64::PacketBuilder;
    use zerocopy::IntoBytes;

    fn datagram(first_seq: u64, msgs: &[&[u8]]) -> Vec<u8> {
        let mut buf = vec![0u8; 1500];
        let mut b = PacketBuilder::new(&mut buf, b"SESSION001", first_seq).unwrap();
        for m in msgs {
            b.push(m).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    #[test]
    fn duplicates_do_not_trigger_twice_and_bad_input_is_counted() {
        let mut h = FeedHandler::new(TriggerRule::EveryAdd, &BookConfig::default());
        let a1 = AddOrder::new(1, 0, 0, 1, b'B', 100, b"AAPL", 1_000_000);
        let a2 = AddOrder::new(1, 0, 0, 2, b'S', 100, b"AAPL", 1_010_000);
        let p = datagram(1, &[a1.as_bytes(), a2.as_bytes()]);
        let mut seqs = Vec::new();
        h.on_datagram(&p, |t| seqs.push(t.sequence)).unwrap();
        // The same packet again (a second feed arm): nothing new.
        let d = h.on_datagram(&p, |t| seqs.push(t.sequence)).unwrap();
        assert_eq!(d.skip, 2);
        assert_eq!(seqs, vec![1, 2]);
        // A truncated ITCH message inside a good packet is skipped, and a gap seen.
        let a3 = AddOrder::new(1, 0, 0, 3, b'S', 100, b"AAPL", 1_010_000);
        let p = datagram(5, &[&a3.as_bytes()[..10], a3.as_bytes()]);
        let d = h.on_datagram(&p, |t| seqs.push(t.sequence)).unwrap();
        assert_eq!(d.gap.map(|g| g.count), Some(2));
        assert_eq!(seqs, vec![1, 2, 6]);
        assert_eq!(h.bad_messages(), 1);
        assert!(h.on_datagram(&[0u8; 5], |_| {}).is_err());
        assert_eq!(h.bad_packets(), 1);
        assert_eq!(h.gaps().messages, 4);
        assert_eq!(itch50::message_len(b'A'), Some(a3.as_bytes().len()));
    }

    #[test]
    fn symbols_parse() {
        assert_eq!(
            parse_symbols("AAPL, MSFT,BRK.B").unwrap(),
            vec![*b"AAPL    ", *b"MSFT    ", *b"BRK.B   "]
        );
        assert!(parse_symbols("").unwrap().is_empty());
        assert!(parse_symbols("aapl").is_err());
        assert!(parse_symbols("TOOLONGSYM").is_err());
    }
}
