//! MoldUDP64 sequence tracking: which messages of a packet are new, which were
//! missed (gaps), which were seen before (duplicates), and the end of the session.
//!
//! A MoldUDP64 session numbers its messages from 1. The tracker expects 1 first, so
//! a listener that joins late counts the messages it never saw as one gap: they
//! exist, and a trading core that missed them has an incomplete book. A data packet
//! that starts past the expected number is a gap; one that starts before it (a
//! retransmission, or a second feed arm) has leading duplicates, which the caller
//! skips. Heartbeats and End of Session carry the next expected number, so they
//! reveal a gap at the tail of a burst too. A packet of another MoldUDP64 session
//! restarts the count (a new session starts from 1).
//!
//! It never allocates, reads a clock or does I/O; it does not re-request (refcore
//! is a listener, and a lab feed has no re-request server).
//!
//! ```
//! use ticklab::proto::moldudp64::PacketKind;
//! use ticklab::refcore::gap::SequenceTracker;
//! let mut t = SequenceTracker::new();
//! let s = b"SESSION001";
//! assert_eq!(t.on_packet(s, 1, PacketKind::Data, 3).skip, 0);
//! let d = t.on_packet(s, 6, PacketKind::Data, 2); // 4 and 5 missed
//! assert_eq!(d.gap.map(|g| (g.first_missing, g.count)), Some((4, 2)));
//! assert_eq!(t.on_packet(s, 7, PacketKind::Data, 2).skip, 1); // 7 again
//! assert_eq!(t.next_expected(), 9);
//! ```

use crate::proto::moldudp64::{Packet, PacketKind, SESSION_LEN};

/// A run of messages never received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub first_missing: u64,
    pub count: u64,
}

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disposition {
    /// Leading messages already seen: skip them, process the rest.
    pub skip: u16,
    /// Messages missed just before this packet.
    pub gap: Option<Gap>,
    /// The packet is End of Session.
    pub end_of_session: bool,
}

/// Counts over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GapStats {
    pub packets: u64,
    pub heartbeats: u64,
    /// Messages delivered for processing (not duplicates).
    pub messages: u64,
    /// Gaps detected.
    pub gaps: u64,
    /// Messages missed across all gaps.
    pub missing: u64,
    /// Messages received more than once (skipped).
    pub duplicates: u64,
    /// Times the MoldUDP64 session changed after the first packet.
    pub session_changes: u64,
    /// An End of Session packet arrived.
    pub end_of_session: bool,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    session: Option<[u8; SESSION_LEN]>,
    next_expected: u64,
    stats: GapStats,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SequenceTracker {
    pub fn new() -> Self {
        SequenceTracker {
            session: None,
            next_expected: 1,
            stats: GapStats::default(),
        }
    }

    /// The sequence number of the next new message.
    pub fn next_expected(&self) -> u64 {
        self.next_expected
    }

    pub fn stats(&self) -> GapStats {
        self.stats
    }

    /// The current MoldUDP64 session, once a packet has been seen.
    pub fn session(&self) -> Option<&[u8; SESSION_LEN]> {
        self.session.as_ref()
    }

    /// [`SequenceTracker::on_packet`] for a checked packet.
    pub fn on_view<T: AsRef<[u8]>>(&mut self, packet: &Packet<T>) -> Disposition {
        self.on_packet(
            packet.session(),
            packet.sequence(),
            packet.kind(),
            packet.message_count(),
        )
    }

    /// Accounts for one packet: `sequence` is its first message's number (data) or
    /// the next expected (heartbeat, end of session); `message_count` its blocks.
    pub fn on_packet(
        &mut self,
        session: &[u8; SESSION_LEN],
        sequence: u64,
        kind: PacketKind,
        message_count: u16,
    ) -> Disposition {
        self.stats.packets += 1;
        match self.session {
            Some(s) if s == *session => {}
            Some(_) => {
                self.stats.session_changes += 1;
                self.session = Some(*session);
                self.next_expected = 1;
            }
            None => self.session = Some(*session),
        }
        let mut d = Disposition::default();
        if sequence > self.next_expected {
            let gap = Gap {
                first_missing: self.next_expected,
                count: sequence - self.next_expected,
            };
            self.stats.gaps += 1;
            self.stats.missing += gap.count;
            d.gap = Some(gap);
            self.next_expected = sequence;
        }
        match kind {
            PacketKind::Data => {
                let end = sequence.saturating_add(u64::from(message_count));
                // Messages before next_expected were delivered already.
                let seen = self.next_expected.saturating_sub(sequence);
                let skip = seen.min(u64::from(message_count));
                d.skip = skip as u16;
                self.stats.duplicates += skip;
                self.stats.messages += u64::from(message_count) - skip;
                self.next_expected = self.next_expected.max(end);
            }
            PacketKind::Heartbeat => self.stats.heartbeats += 1,
            PacketKind::EndOfSession => {
                self.stats.end_of_session = true;
                d.end_of_session = true;
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[u8; 10] = b"SESSION001";

    #[test]
    fn in_order_packets_have_no_gap() {
        let mut t = SequenceTracker::new();
        assert_eq!(
            t.on_packet(S, 1, PacketKind::Data, 5),
            Disposition::default()
        );
        assert_eq!(
            t.on_packet(S, 6, PacketKind::Data, 1),
            Disposition::default()
        );
        assert_eq!(
            t.on_packet(S, 7, PacketKind::Heartbeat, 0),
            Disposition::default()
        );
        let st = t.stats();
        assert_eq!(
            (st.packets, st.messages, st.gaps, st.heartbeats),
            (3, 6, 0, 1)
        );
        assert_eq!(t.next_expected(), 7);
        assert_eq!(t.session(), Some(S));
    }

    #[test]
    fn gaps_count_missing_messages() {
        let mut t = SequenceTracker::new();
        t.on_packet(S, 1, PacketKind::Data, 2);
        let d = t.on_packet(S, 10, PacketKind::Data, 3);
        assert_eq!(
            d.gap,
            Some(Gap {
                first_missing: 3,
                count: 7
            })
        );
        assert_eq!(d.skip, 0);
        // A heartbeat announcing 20 reveals 13..=19 were missed.
        let d = t.on_packet(S, 20, PacketKind::Heartbeat, 0);
        assert_eq!(d.gap.map(|g| (g.first_missing, g.count)), Some((13, 7)));
        let st = t.stats();
        assert_eq!((st.gaps, st.missing, st.messages), (2, 14, 5));
    }

    #[test]
    fn joining_late_is_a_gap_from_one() {
        let mut t = SequenceTracker::new();
        let d = t.on_packet(S, 100, PacketKind::Data, 1);
        assert_eq!(d.gap.map(|g| (g.first_missing, g.count)), Some((1, 99)));
    }

    #[test]
    fn duplicates_and_overlaps_are_skipped() {
        let mut t = SequenceTracker::new();
        t.on_packet(S, 1, PacketKind::Data, 10);
        // Entirely old.
        let d = t.on_packet(S, 3, PacketKind::Data, 4);
        assert_eq!((d.skip, d.gap), (4, None));
        // Overlapping: 9, 10 old, 11, 12 new.
        let d = t.on_packet(S, 9, PacketKind::Data, 4);
        assert_eq!(d.skip, 2);
        assert_eq!(t.next_expected(), 13);
        // An old heartbeat changes nothing.
        assert_eq!(
            t.on_packet(S, 5, PacketKind::Heartbeat, 0),
            Disposition::default()
        );
        let st = t.stats();
        assert_eq!((st.duplicates, st.messages, st.gaps), (6, 12, 0));
    }

    #[test]
    fn end_of_session_is_reported_with_any_tail_gap() {
        let mut t = SequenceTracker::new();
        t.on_packet(S, 1, PacketKind::Data, 2);
        let d = t.on_packet(S, 3, PacketKind::EndOfSession, 0);
        assert!(d.end_of_session && d.gap.is_none());
        let d = t.on_packet(S, 5, PacketKind::EndOfSession, 0);
        assert_eq!(d.gap.map(|g| g.count), Some(2));
        assert!(t.stats().end_of_session);
    }

    #[test]
    fn a_new_session_restarts_from_one() {
        let mut t = SequenceTracker::new();
        t.on_packet(S, 1, PacketKind::Data, 50);
        let d = t.on_packet(b"SESSION002", 1, PacketKind::Data, 2);
        assert_eq!(d, Disposition::default());
        assert_eq!(t.stats().session_changes, 1);
        assert_eq!(t.next_expected(), 3);
    }

    #[test]
    fn huge_sequence_numbers_do_not_overflow() {
        let mut t = SequenceTracker::new();
        let d = t.on_packet(S, u64::MAX, PacketKind::Data, 0xFFFE);
        assert_eq!(d.gap.map(|g| g.count), Some(u64::MAX - 1));
        assert_eq!(t.next_expected(), u64::MAX);
        let d = t.on_packet(S, u64::MAX - 1, PacketKind::Data, 3);
        assert_eq!(d.skip, 1);
    }
}
