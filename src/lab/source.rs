//! Where a run's market data comes from, as a stream of MoldUDP64 datagrams with the
//! time the exchange published each one: [`FeedSource`], implemented for the seeded
//! synthetic session ([`SyntheticSource`]) and for a staged capture
//! ([`super::capture_feed::CaptureFeed`]).
//!
//! A source hands out borrowed payloads from memory it owns, prepared before the run
//! (a capture is staged into memory when it loads; the synthetic feed generates into a
//! buffer allocated once): taking the next datagram never allocates and never does
//! I/O, because the send loop calls it between two sends.
//!
//! ```
//! use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
//! use ticklab::lab::source::{FeedSource, SyntheticSource};
//! let cfg = SyntheticConfig { messages: Some(100), ..SyntheticConfig::default() };
//! let mut source = SyntheticSource::new(SyntheticFeed::new(cfg).unwrap());
//! let first = source.next_datagram().unwrap();
//! assert_eq!(&first.payload[..10], b"TICKLAB001");
//! ```

use crate::feed::synthetic::SyntheticFeed;

/// One MoldUDP64 packet of the feed, ready to send as a UDP payload.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The whole MoldUDP64 packet: header and message blocks.
    pub payload: &'a [u8],
    /// When the exchange published it, ns since the Unix epoch: the pacer's input.
    pub capture_ns: i64,
    /// The first datagram of a pass over a capture after the first pass (the pacer
    /// is told with `begin_loop`); always false for the synthetic feed.
    pub new_pass: bool,
}

/// A stream of feed datagrams. `Send`, so the lab moves it to its send thread.
pub trait FeedSource: Send {
    /// The next datagram, or `None` when the feed has ended. Never allocates.
    fn next_datagram(&mut self) -> Option<Datagram<'_>>;
    /// The largest payload [`FeedSource::next_datagram`] returns.
    fn max_datagram_len(&self) -> usize;
    /// A short description for the report: "synthetic seed 1", "capture x.pcap".
    fn describe(&self) -> String;
}

/// The seeded synthetic ITCH 5.0 session as a [`FeedSource`].
pub struct SyntheticSource {
    feed: SyntheticFeed,
    buffer: Vec<u8>,
}

impl SyntheticSource {
    pub fn new(feed: SyntheticFeed) -> Self {
        let buffer = vec![0; feed.config().max_payload];
        SyntheticSource { feed, buffer }
    }
}

impl FeedSource for SyntheticSource {
    fn next_datagram(&mut self) -> Option<Datagram<'_>> {
        let packet = self.feed.next_packet(&mut self.buffer)?;
        Some(Datagram {
            payload: &self.buffer[..packet.len],
            capture_ns: self.feed.epoch_ns(packet.publish_ns),
            new_pass: false,
        })
    }

    fn max_datagram_len(&self) -> usize {
        self.buffer.len()
    }

    fn describe(&self) -> String {
        let c = self.feed.config();
        format!("synthetic ITCH 5.0, seed {}, {} symbols", c.seed, c.symbols.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::synthetic::SyntheticConfig;
    use crate::proto::moldudp64::Packet;

    #[test]
    fn synthetic_source_yields_the_feed_packets_in_order() {
        let cfg = SyntheticConfig {
            messages: Some(2_000),
            ..SyntheticConfig::default()
        };
        let mut direct = SyntheticFeed::new(cfg.clone()).unwrap();
        let mut source = SyntheticSource::new(SyntheticFeed::new(cfg).unwrap());
        let mut buf = vec![0u8; 1500];
        let mut next_sequence = 1;
        let mut packets = 0;
        while let Some(d) = source.next_datagram() {
            let expected = direct.next_packet(&mut buf).unwrap();
            assert_eq!(d.payload, &buf[..expected.len]);
            assert_eq!(d.capture_ns, direct.epoch_ns(expected.publish_ns));
            let p = Packet::new_checked(d.payload).unwrap();
            assert_eq!(p.sequence(), next_sequence);
            next_sequence = p.next_sequence();
            packets += 1;
        }
        assert!(direct.next_packet(&mut buf).is_none());
        assert_eq!(next_sequence, 2_001);
        assert!(packets > 100);
    }
}
