//! TCP byte-stream reassembly for the offline dissector.
//!
//! Order sessions (SoupBinTCP, FIX) are byte streams: one protocol packet may span
//! several TCP segments, and one segment may carry several packets. This module
//! tracks one direction of one connection: it accepts segments in capture order,
//! drops retransmitted bytes, and reports a gap (bytes the capture never saw) instead
//! of splicing unrelated bytes together. It keeps only the bytes of a protocol packet
//! that is not yet complete, so its memory is bounded by the largest packet.
//!
//! It never decodes a protocol: the caller frames the bytes it is handed.

use std::net::Ipv4Addr;

/// One direction of one TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} -> {}:{}",
            self.src, self.src_port, self.dst, self.dst_port
        )
    }
}

/// What a segment contributes to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// New in-order bytes start at `payload[skip..]` (bytes before `skip` were
    /// already seen: a retransmission that overlaps).
    New { skip: usize },
    /// Nothing new: a pure retransmission, a pure ACK, or a segment in a stream that
    /// lost its framing.
    Nothing,
    /// The segment starts after the next expected byte: `missing` bytes were never
    /// captured. The stream's partial packet is discarded, and the stream stays out of
    /// sync (its bytes are counted, not decoded) until the connection starts again.
    Gap { missing: u64 },
}

/// Where the oldest buffered byte of a stream came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// Capture record index of the segment that carried the byte.
    pub record: u64,
    /// Byte offset of that byte in the capture file.
    pub file_offset: u64,
}

/// Reassembly state of one direction of a connection.
#[derive(Debug, Default)]
pub struct Stream {
    next_seq: Option<u32>,
    /// In-order bytes not yet consumed by the framer (an incomplete packet).
    pub pending: Vec<u8>,
    /// Where `pending[0]` came from.
    pub pending_origin: Origin,
    /// True after a gap: framing is lost until a SYN restarts the stream.
    pub out_of_sync: bool,
    /// Gaps seen (each one discarded a partial packet or left the stream unsynced).
    pub gaps: u64,
    /// Bytes that could not be decoded because the stream was out of sync.
    pub bytes_skipped: u64,
}

/// `a` is before `b` in sequence space (RFC 1982 serial arithmetic).
fn seq_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Stream {
    /// Takes a segment's sequence number, SYN flag and payload length; returns which
    /// of its bytes are new.
    pub fn accept(&mut self, seq: u32, syn: bool, len: usize) -> Accepted {
        if syn {
            // A new connection on this 4-tuple: start over, in sync.
            self.next_seq = Some(seq.wrapping_add(1).wrapping_add(len as u32));
            self.pending.clear();
            self.out_of_sync = false;
            return if len > 0 {
                Accepted::New { skip: 0 }
            } else {
                Accepted::Nothing
            };
        }
        if len == 0 {
            return Accepted::Nothing;
        }
        let end = seq.wrapping_add(len as u32);
        let Some(next) = self.next_seq else {
            // The capture began mid-connection: take this segment as the start.
            self.next_seq = Some(end);
            return self.in_sync_or_skip(len, 0);
        };
        if seq == next {
            self.next_seq = Some(end);
            return self.in_sync_or_skip(len, 0);
        }
        if seq_before(seq, next) {
            if !seq_before(next, end) {
                return Accepted::Nothing; // entirely old bytes
            }
            let skip = next.wrapping_sub(seq) as usize;
            self.next_seq = Some(end);
            return self.in_sync_or_skip(len, skip);
        }
        let missing = u64::from(seq.wrapping_sub(next));
        self.next_seq = Some(end);
        self.gaps += 1;
        self.pending.clear();
        self.out_of_sync = true;
        self.bytes_skipped += len as u64;
        Accepted::Gap { missing }
    }

    fn in_sync_or_skip(&mut self, len: usize, skip: usize) -> Accepted {
        if self.out_of_sync {
            self.bytes_skipped += (len - skip) as u64;
            Accepted::Nothing
        } else {
            Accepted::New { skip }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_segments_are_new() {
        let mut s = Stream::default();
        assert_eq!(s.accept(1000, true, 0), Accepted::Nothing);
        assert_eq!(s.accept(1001, false, 10), Accepted::New { skip: 0 });
        assert_eq!(s.accept(1011, false, 5), Accepted::New { skip: 0 });
        assert_eq!(s.accept(1016, false, 0), Accepted::Nothing);
    }

    #[test]
    fn retransmissions_are_trimmed_or_dropped() {
        let mut s = Stream::default();
        s.accept(0, true, 0);
        assert_eq!(s.accept(1, false, 10), Accepted::New { skip: 0 });
        assert_eq!(s.accept(1, false, 10), Accepted::Nothing);
        // Overlaps the last 4 old bytes and brings 6 new ones.
        assert_eq!(s.accept(7, false, 10), Accepted::New { skip: 4 });
        assert_eq!(s.accept(17, false, 1), Accepted::New { skip: 0 });
    }

    #[test]
    fn a_gap_desyncs_until_syn() {
        let mut s = Stream::default();
        s.accept(0, true, 0);
        s.accept(1, false, 10);
        s.pending.extend_from_slice(b"part");
        assert_eq!(s.accept(100, false, 10), Accepted::Gap { missing: 89 });
        assert!(s.pending.is_empty());
        assert_eq!(s.accept(110, false, 7), Accepted::Nothing);
        assert_eq!((s.gaps, s.bytes_skipped), (1, 17));
        assert_eq!(s.accept(5000, true, 0), Accepted::Nothing);
        assert!(!s.out_of_sync);
        assert_eq!(s.accept(5001, false, 3), Accepted::New { skip: 0 });
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::default();
        s.accept(u32::MAX - 2, true, 0);
        assert_eq!(s.accept(u32::MAX - 1, false, 4), Accepted::New { skip: 0 });
        assert_eq!(s.accept(2, false, 4), Accepted::New { skip: 0 });
        assert_eq!(s.accept(0, false, 4), Accepted::Nothing);
    }

    #[test]
    fn mid_connection_start_is_taken_as_the_start() {
        let mut s = Stream::default();
        assert_eq!(s.accept(777, false, 5), Accepted::New { skip: 0 });
        assert_eq!(s.accept(782, false, 5), Accepted::New { skip: 0 });
    }
}
