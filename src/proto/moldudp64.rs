//! NASDAQ MoldUDP64 (Protocol Specification v1.00, 07/07/2009): the UDP framing
//! that carries ITCH. A downstream packet is a 20-byte header (Session, 10 alpha;
//! Sequence Number, u64; Message Count, u16) followed by Message Count message
//! blocks, each a big-endian u16 Message Length and that many bytes. A count of 0
//! is a Heartbeat and 0xFFFF is End of Session; neither carries blocks. A
//! re-request (upstream) packet is Session, Sequence Number and Requested Message
//! Count: 20 bytes.
//!
//! This module is on the hot path of `ticklab decode --stats` and of the lab's
//! feed: [`Packet::new_checked`] walks the block lengths once, and after that
//! [`Packet::messages`] cannot fail. Nothing here allocates, copies a payload, or
//! panics on any input. [`PacketBuilder`] writes packets into a caller's buffer.
//!
//! Bytes after the last declared block are rejected as `Invalid` field
//! `"trailing_bytes"`: the specification defines the packet as the header plus
//! exactly Message Count blocks, and trailing bytes in a capture mean either a
//! wrong count or a corrupted datagram, both worth seeing.
//!
//! ```
//! use ticklab::proto::moldudp64::{Packet, PacketBuilder, PacketKind};
//! let mut buf = [0u8; 64];
//! let mut b = PacketBuilder::new(&mut buf, b"SESSION001", 41).unwrap();
//! b.push(b"hello").unwrap();
//! b.push(b"world!").unwrap();
//! let n = b.finish();
//! let p = Packet::new_checked(&buf[..n]).unwrap();
//! assert_eq!(p.kind(), PacketKind::Data);
//! let seqs: Vec<u64> = p.messages().map(|(seq, _)| seq).collect();
//! assert_eq!(seqs, [41, 42]);
//! assert_eq!(p.next_sequence(), 43);
//! ```

use core::fmt;

use crate::codec::{trim_alpha, Describe, Error, FieldSink};

/// Protocol name used in errors and by [`Describe`].
pub const PROTOCOL: &str = "moldudp64";
/// Bytes of the downstream header: Session, Sequence Number, Message Count.
pub const HEADER_LEN: usize = 20;
/// Bytes of a re-request packet: Session, Sequence Number, Requested Message Count.
pub const REQUEST_LEN: usize = 20;
/// Bytes of a message block's length prefix.
pub const BLOCK_HEADER_LEN: usize = 2;
/// Width of the Session field.
pub const SESSION_LEN: usize = 10;
/// Message Count of a Heartbeat packet.
pub const HEARTBEAT_COUNT: u16 = 0;
/// Message Count of an End of Session packet.
pub const END_OF_SESSION_COUNT: u16 = 0xFFFF;
/// The most message blocks a data packet can declare (0xFFFF means End of Session).
pub const MAX_DATA_COUNT: u16 = 0xFFFE;

/// Byte ranges of the header fields (shared by the downstream and request packets).
pub mod field {
    /// A range of bytes within the packet.
    pub type Field = core::ops::Range<usize>;
    /// Session, 10 bytes alphanumeric.
    pub const SESSION: Field = 0..10;
    /// Sequence Number of the first message in the packet (or the next expected).
    pub const SEQUENCE: Field = 10..18;
    /// Message Count (downstream) or Requested Message Count (request).
    pub const COUNT: Field = 18..20;
}

fn be_u16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

// The downstream header and the request packet share one layout (`field`); these
// read it for both.
const _: () = assert!(HEADER_LEN == REQUEST_LEN);

fn session_of(header: &[u8; HEADER_LEN]) -> &[u8; SESSION_LEN] {
    header.first_chunk().unwrap_or(&[b' '; SESSION_LEN])
}

fn sequence_of(h: &[u8; HEADER_LEN]) -> u64 {
    u64::from_be_bytes([h[10], h[11], h[12], h[13], h[14], h[15], h[16], h[17]])
}

fn count_of(h: &[u8; HEADER_LEN]) -> u16 {
    be_u16([h[18], h[19]])
}

/// What a downstream packet is, from its Message Count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Count 1..=0xFFFE: carries that many message blocks.
    Data,
    /// Count 0: nothing to deliver; Sequence Number is the next expected.
    Heartbeat,
    /// Count 0xFFFF: the session is over; Sequence Number is the next expected.
    EndOfSession,
}

impl PacketKind {
    /// The kind a Message Count announces.
    pub fn from_count(count: u16) -> Self {
        match count {
            HEARTBEAT_COUNT => PacketKind::Heartbeat,
            END_OF_SESSION_COUNT => PacketKind::EndOfSession,
            _ => PacketKind::Data,
        }
    }

    /// Name used as the [`Describe::kind`].
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Data => "Packet",
            PacketKind::Heartbeat => "Heartbeat",
            PacketKind::EndOfSession => "EndOfSession",
        }
    }
}

/// A validated view of a downstream packet.
///
/// Only [`Packet::new_checked`] makes one, so every accessor may rely on the
/// header being present and on every declared block fitting the buffer. (That
/// relies on `T::as_ref` returning the same bytes each time, as every std buffer
/// type does.)
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the header and walks the block lengths once: every declared block
    /// must fit, and nothing may follow the last one.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Self::new_checked_visiting(buffer, |_, _| Ok(()))
    }

    /// [`Packet::new_checked`] that also hands each message to `visit`, with its
    /// offset in the buffer, during its single walk over the blocks: a consumer that
    /// needs one look at every message (a counter, say) then reads the packet once.
    /// An error from `visit` stops the walk and is returned as it is.
    #[inline]
    pub fn new_checked_visiting(
        buffer: T,
        visit: impl FnMut(usize, &[u8]) -> Result<(), Error>,
    ) -> Result<Self, Error> {
        let buf = buffer.as_ref();
        let header: &[u8; HEADER_LEN] = match buf.first_chunk() {
            Some(h) => h,
            None => {
                return Err(Error::Truncated {
                    protocol: PROTOCOL,
                    msg_type: None,
                    field: "header",
                    offset: 0,
                    needed: HEADER_LEN,
                    available: buf.len(),
                })
            }
        };
        let count = count_of(header);
        let blocks = match PacketKind::from_count(count) {
            PacketKind::Data => count,
            PacketKind::Heartbeat | PacketKind::EndOfSession => 0,
        };
        let end = walk_blocks(buf, blocks, visit)?;
        if end != buf.len() {
            return Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "trailing_bytes",
                offset: end,
                expected: "no bytes after the last message block",
            });
        }
        Ok(Packet { buffer })
    }

    /// The buffer the view was made from.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn header(&self) -> &[u8; HEADER_LEN] {
        // `new_checked` proved the header is there; the fallback only exists so
        // that no path can panic.
        self.buffer
            .as_ref()
            .first_chunk()
            .unwrap_or(&[0u8; HEADER_LEN])
    }

    /// The Session field, 10 bytes alphanumeric (space padded).
    pub fn session(&self) -> &[u8; SESSION_LEN] {
        session_of(self.header())
    }

    /// Sequence Number: of the first block (data), or the next expected
    /// (Heartbeat, End of Session).
    pub fn sequence(&self) -> u64 {
        sequence_of(self.header())
    }

    /// Message Count exactly as on the wire (0xFFFF for End of Session).
    pub fn count(&self) -> u16 {
        count_of(self.header())
    }

    /// Data, Heartbeat or End of Session.
    pub fn kind(&self) -> PacketKind {
        PacketKind::from_count(self.count())
    }

    /// Number of message blocks carried: `count()` for data, 0 otherwise.
    pub fn message_count(&self) -> u16 {
        match self.kind() {
            PacketKind::Data => self.count(),
            PacketKind::Heartbeat | PacketKind::EndOfSession => 0,
        }
    }

    /// The bytes after the header: the message blocks.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// The blocks as `(sequence_number, message)`, in order.
    pub fn messages(&self) -> Messages<'_> {
        Messages {
            rest: self.payload(),
            next_seq: self.sequence(),
            remaining: self.message_count(),
        }
    }

    /// The sequence number expected in the next packet: this packet's sequence
    /// plus the blocks it carried (wrapping, as a hostile packet may sit at
    /// `u64::MAX`).
    pub fn next_sequence(&self) -> u64 {
        self.sequence()
            .wrapping_add(u64::from(self.message_count()))
    }
}

/// Returns the offset just past the last of `count` blocks that start at
/// [`HEADER_LEN`], or the error naming the first block that does not fit (or the
/// first error of `visit`, which sees each message and its offset).
#[inline]
fn walk_blocks(
    buf: &[u8],
    count: u16,
    mut visit: impl FnMut(usize, &[u8]) -> Result<(), Error>,
) -> Result<usize, Error> {
    let mut pos = HEADER_LEN;
    for _ in 0..count {
        let available = buf.len() - pos;
        let Some(len_bytes) = buf.get(pos..pos + BLOCK_HEADER_LEN) else {
            // The payload ran out before this block's length: the count claims
            // more blocks than the datagram holds.
            return Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "message_count",
                offset: pos,
                needed: BLOCK_HEADER_LEN,
                available,
            });
        };
        let len = usize::from(be_u16([len_bytes[0], len_bytes[1]]));
        let needed = BLOCK_HEADER_LEN + len;
        if needed > available {
            return Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "message_length",
                offset: pos,
                needed,
                available,
            });
        }
        let at = pos + BLOCK_HEADER_LEN;
        visit(at, buf.get(at..pos + needed).unwrap_or_default())?;
        pos += needed;
    }
    Ok(pos)
}

/// Iterator over the message blocks of a checked [`Packet`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    next_seq: u64,
    remaining: u16,
}

impl<'a> Iterator for Messages<'a> {
    type Item = (u64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let (len_bytes, rest) = self.rest.split_first_chunk::<BLOCK_HEADER_LEN>()?;
        let len = usize::from(be_u16(*len_bytes));
        let msg = rest.get(..len)?;
        self.rest = rest.get(len..).unwrap_or(&[]);
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.remaining -= 1;
        Some((seq, msg))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.remaining);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Messages<'_> {}
impl core::iter::FusedIterator for Messages<'_> {}

impl<T: AsRef<[u8]>> Describe for Packet<T> {
    fn protocol(&self) -> &'static str {
        PROTOCOL
    }

    fn kind(&self) -> &'static str {
        self.kind().name()
    }

    fn describe(&self, sink: &mut dyn FieldSink) {
        sink.text("session", trim_alpha(self.session()));
        sink.uint("sequence_number", self.sequence());
        sink.uint("message_count", u64::from(self.count()));
    }
}

/// A validated view of a re-request packet (listener to re-request server).
#[derive(Debug, Clone, Copy)]
pub struct RequestPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RequestPacket<T> {
    /// A request is exactly [`REQUEST_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let len = buffer.as_ref().len();
        if len < REQUEST_LEN {
            return Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "request",
                offset: 0,
                needed: REQUEST_LEN,
                available: len,
            });
        }
        if len > REQUEST_LEN {
            return Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "trailing_bytes",
                offset: REQUEST_LEN,
                expected: "a request of exactly 20 bytes",
            });
        }
        Ok(RequestPacket { buffer })
    }

    /// The buffer the view was made from.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8; REQUEST_LEN] {
        self.buffer
            .as_ref()
            .first_chunk()
            .unwrap_or(&[0u8; REQUEST_LEN])
    }

    /// The Session being re-requested.
    pub fn session(&self) -> &[u8; SESSION_LEN] {
        session_of(self.bytes())
    }

    /// Sequence Number of the first message requested.
    pub fn sequence(&self) -> u64 {
        sequence_of(self.bytes())
    }

    /// Requested Message Count.
    pub fn requested_count(&self) -> u16 {
        count_of(self.bytes())
    }
}

impl<T: AsRef<[u8]>> Describe for RequestPacket<T> {
    fn protocol(&self) -> &'static str {
        PROTOCOL
    }

    fn kind(&self) -> &'static str {
        "Request"
    }

    fn describe(&self, sink: &mut dyn FieldSink) {
        sink.text("session", trim_alpha(self.session()));
        sink.uint("sequence_number", self.sequence());
        sink.uint("requested_message_count", u64::from(self.requested_count()));
    }
}

/// A builder ran out of room (or of message slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// Bytes the write needed.
    pub needed: usize,
    /// Bytes that were left.
    pub available: usize,
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "moldudp64 packet full: needs {} bytes, {} left",
            self.needed, self.available
        )
    }
}

impl std::error::Error for Full {}

fn write_header(buf: &mut [u8], session: &[u8; SESSION_LEN], seq: u64, count: u16) {
    buf[field::SESSION].copy_from_slice(session);
    buf[field::SEQUENCE].copy_from_slice(&seq.to_be_bytes());
    buf[field::COUNT].copy_from_slice(&count.to_be_bytes());
}

fn write_header_only(
    buf: &mut [u8],
    session: &[u8; SESSION_LEN],
    seq: u64,
    count: u16,
) -> Result<usize, Full> {
    let Some(out) = buf.get_mut(..HEADER_LEN) else {
        return Err(Full {
            needed: HEADER_LEN,
            available: buf.len(),
        });
    };
    write_header(out, session, seq, count);
    Ok(HEADER_LEN)
}

/// Writes a Heartbeat (count 0) announcing `next_seq`; returns its length.
pub fn write_heartbeat(
    buf: &mut [u8],
    session: &[u8; SESSION_LEN],
    next_seq: u64,
) -> Result<usize, Full> {
    write_header_only(buf, session, next_seq, HEARTBEAT_COUNT)
}

/// Writes an End of Session packet (count 0xFFFF) announcing `next_seq`.
pub fn write_end_of_session(
    buf: &mut [u8],
    session: &[u8; SESSION_LEN],
    next_seq: u64,
) -> Result<usize, Full> {
    write_header_only(buf, session, next_seq, END_OF_SESSION_COUNT)
}

/// Writes a re-request for `count` messages from `first_seq`.
pub fn write_request(
    buf: &mut [u8],
    session: &[u8; SESSION_LEN],
    first_seq: u64,
    count: u16,
) -> Result<usize, Full> {
    write_header_only(buf, session, first_seq, count)
}

/// Builds a downstream data packet in a caller's buffer, block by block.
///
/// The header's Message Count is written by [`PacketBuilder::finish`]; until then
/// the buffer holds a count of 0.
#[derive(Debug)]
pub struct PacketBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    count: u16,
}

impl<'b> PacketBuilder<'b> {
    /// Starts a packet whose first block will carry `first_seq`. Fails only if
    /// `buf` cannot hold the header.
    pub fn new(
        buf: &'b mut [u8],
        session: &[u8; SESSION_LEN],
        first_seq: u64,
    ) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "buffer",
                offset: 0,
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        write_header(buf, session, first_seq, 0);
        Ok(PacketBuilder {
            buf,
            len: HEADER_LEN,
            count: 0,
        })
    }

    /// Appends a block holding `msg`; refuses (leaving the packet unchanged) when
    /// it does not fit, is longer than 65535 bytes, or the packet already holds
    /// [`MAX_DATA_COUNT`] blocks.
    pub fn push(&mut self, msg: &[u8]) -> Result<(), Full> {
        let slot = self.slot(msg.len())?;
        slot.copy_from_slice(msg);
        Ok(())
    }

    /// Appends a block of `len` bytes and hands it to the caller to fill in place.
    /// `None` when it would not fit (see [`PacketBuilder::push`]).
    pub fn reserve(&mut self, len: usize) -> Option<&mut [u8]> {
        self.slot(len).ok()
    }

    fn slot(&mut self, len: usize) -> Result<&mut [u8], Full> {
        let available = self.buf.len() - self.len;
        let needed = BLOCK_HEADER_LEN + len;
        let Ok(len16) = u16::try_from(len) else {
            return Err(Full { needed, available });
        };
        if self.count >= MAX_DATA_COUNT || needed > available {
            return Err(Full { needed, available });
        }
        let start = self.len;
        self.buf[start..start + BLOCK_HEADER_LEN].copy_from_slice(&len16.to_be_bytes());
        self.len += needed;
        self.count += 1;
        Ok(&mut self.buf[start + BLOCK_HEADER_LEN..start + needed])
    }

    /// Bytes written so far, header included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True while no block has been added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Blocks added so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Room left for blocks (each costs 2 bytes of length besides its data).
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Writes the Message Count and returns the packet's length. A packet finished
    /// with no block has count 0, which is a Heartbeat on the wire.
    pub fn finish(self) -> usize {
        self.buf[field::COUNT].copy_from_slice(&self.count.to_be_bytes());
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::fields_of;
    use proptest::prelude::*;

    /// A downstream packet written out by hand from MoldUDP64 v1.00, "Downstream
    /// Packets": Session "TESTSESS01", Sequence Number 1000, Message Count 2, then
    /// two blocks of 3 and 1 bytes.
    const DATA: [u8; 28] = [
        b'T', b'E', b'S', b'T', b'S', b'E', b'S', b'S', b'0', b'1', // Session
        0, 0, 0, 0, 0, 0, 0x03, 0xE8, // Sequence Number 1000
        0x00, 0x02, // Message Count 2
        0x00, 0x03, b'A', b'B', b'C', // block 1: length 3, "ABC"
        0x00, 0x01, b'Z', // block 2: length 1, "Z"
    ];

    #[test]
    fn decodes_data_packet_from_spec_layout() {
        let p = Packet::new_checked(&DATA[..]).unwrap();
        assert_eq!(p.session(), b"TESTSESS01");
        assert_eq!(p.sequence(), 1000);
        assert_eq!(p.count(), 2);
        assert_eq!(p.kind(), PacketKind::Data);
        let msgs: Vec<(u64, &[u8])> = p.messages().collect();
        assert_eq!(msgs, vec![(1000, &b"ABC"[..]), (1001, &b"Z"[..])]);
        assert_eq!(p.messages().len(), 2);
        assert_eq!(p.next_sequence(), 1002);
    }

    #[test]
    fn builder_reproduces_spec_bytes() {
        let mut buf = [0xAAu8; 64];
        let mut b = PacketBuilder::new(&mut buf, b"TESTSESS01", 1000).unwrap();
        b.push(b"ABC").unwrap();
        b.reserve(1).unwrap().copy_from_slice(b"Z");
        assert_eq!(b.count(), 2);
        assert_eq!(b.len(), 28);
        assert!(!b.is_empty());
        let n = b.finish();
        assert_eq!(&buf[..n], &DATA[..]);
    }

    #[test]
    fn heartbeat_and_end_of_session() {
        let mut buf = [0u8; 20];
        let n = write_heartbeat(&mut buf, b"TESTSESS01", 77).unwrap();
        assert_eq!(n, 20);
        assert_eq!(&buf[18..20], &[0, 0]);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.kind(), PacketKind::Heartbeat);
        assert_eq!(p.sequence(), 77);
        assert_eq!(p.messages().count(), 0);
        assert_eq!(p.next_sequence(), 77);

        let n = write_end_of_session(&mut buf, b"TESTSESS01", 78).unwrap();
        assert_eq!(&buf[18..20], &[0xFF, 0xFF]);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.kind(), PacketKind::EndOfSession);
        assert_eq!(p.count(), 0xFFFF);
        assert_eq!(p.message_count(), 0);
        assert_eq!(p.messages().next(), None);
        assert_eq!(p.next_sequence(), 78);
        assert_eq!(
            write_heartbeat(&mut buf[..19], b"TESTSESS01", 1),
            Err(Full {
                needed: 20,
                available: 19
            })
        );
    }

    #[test]
    fn request_packet_round_trip() {
        // MoldUDP64 v1.00 "Request Packets": Session, Sequence Number, Requested
        // Message Count.
        let wire: [u8; 20] = [
            b'T', b'E', b'S', b'T', b'S', b'E', b'S', b'S', b'0', b'1', //
            0, 0, 0, 0, 0, 0, 0x01, 0x00, // Sequence Number 256
            0x00, 0x0A, // Requested Message Count 10
        ];
        let r = RequestPacket::new_checked(&wire[..]).unwrap();
        assert_eq!(r.session(), b"TESTSESS01");
        assert_eq!(r.sequence(), 256);
        assert_eq!(r.requested_count(), 10);
        let mut buf = [0u8; 20];
        let n = write_request(&mut buf, b"TESTSESS01", 256, 10).unwrap();
        assert_eq!(buf[..n], wire);
        assert_eq!(
            RequestPacket::new_checked(&wire[..19]).unwrap_err(),
            Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "request",
                offset: 0,
                needed: 20,
                available: 19
            }
        );
        let mut long = [0u8; 21];
        long[..20].copy_from_slice(&wire);
        assert_eq!(
            RequestPacket::new_checked(&long[..]).unwrap_err().field(),
            "trailing_bytes"
        );
        assert_eq!(
            RequestPacket::new_checked(&long[..]).unwrap_err().offset(),
            20
        );
    }

    #[test]
    fn short_header_is_truncated() {
        assert_eq!(
            Packet::new_checked(&DATA[..19]).unwrap_err(),
            Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "header",
                offset: 0,
                needed: 20,
                available: 19
            }
        );
    }

    #[test]
    fn count_beyond_payload_names_the_missing_block() {
        // Count says 3 but only two blocks are present: block 3 would start at 28.
        let mut wire = DATA;
        wire[19] = 3;
        assert_eq!(
            Packet::new_checked(&wire[..]).unwrap_err(),
            Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "message_count",
                offset: 28,
                needed: 2,
                available: 0
            }
        );
        // Half a length prefix present.
        let mut odd = [0u8; 29];
        odd[..28].copy_from_slice(&wire);
        assert_eq!(
            Packet::new_checked(&odd[..]).unwrap_err(),
            Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "message_count",
                offset: 28,
                needed: 2,
                available: 1
            }
        );
    }

    #[test]
    fn block_longer_than_payload_is_truncated() {
        // Second block claims 5 bytes; 1 is there (block at offset 25, 3 bytes left).
        let mut wire = DATA;
        wire[26] = 5;
        assert_eq!(
            Packet::new_checked(&wire[..]).unwrap_err(),
            Error::Truncated {
                protocol: PROTOCOL,
                msg_type: None,
                field: "message_length",
                offset: 25,
                needed: 7,
                available: 3
            }
        );
    }

    #[test]
    fn trailing_bytes_are_invalid() {
        let mut wire = [0u8; 29];
        wire[..28].copy_from_slice(&DATA);
        assert_eq!(
            Packet::new_checked(&wire[..]).unwrap_err(),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "trailing_bytes",
                offset: 28,
                expected: "no bytes after the last message block"
            }
        );
        // A heartbeat with a payload is just as wrong.
        let mut hb = [0u8; 21];
        write_heartbeat(&mut hb, b"TESTSESS01", 1).unwrap();
        assert_eq!(Packet::new_checked(&hb[..]).unwrap_err().offset(), 20);
    }

    #[test]
    fn builder_refuses_what_does_not_fit() {
        let mut buf = [0u8; 26];
        let mut b = PacketBuilder::new(&mut buf, b"S         ", 1).unwrap();
        assert_eq!(
            b.push(b"12345"),
            Err(Full {
                needed: 7,
                available: 6
            })
        );
        assert!(b.reserve(5).is_none());
        b.push(b"1234").unwrap();
        assert_eq!(b.remaining(), 0);
        assert_eq!(
            b.push(b""),
            Err(Full {
                needed: 2,
                available: 0
            })
        );
        let n = b.finish();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.messages().collect::<Vec<_>>(), vec![(1, &b"1234"[..])]);

        let mut small = [0u8; 19];
        assert_eq!(
            PacketBuilder::new(&mut small, b"S         ", 1)
                .unwrap_err()
                .field(),
            "buffer"
        );
        let mut big = vec![0u8; 70_000];
        let mut b = PacketBuilder::new(&mut big, b"S         ", 1).unwrap();
        assert_eq!(
            b.push(&[0u8; 65_536]),
            Err(Full {
                needed: 65_538,
                available: 69_980
            })
        );
        b.push(&[7u8; 65_535]).unwrap();
        let n = b.finish();
        let p = Packet::new_checked(&big[..n]).unwrap();
        assert_eq!(p.messages().next().unwrap().1.len(), 65_535);
    }

    #[test]
    fn builder_stops_at_max_count() {
        let mut buf = vec![0u8; HEADER_LEN + 2 * 0xFFFF];
        let mut b = PacketBuilder::new(&mut buf, b"S         ", 10).unwrap();
        for _ in 0..MAX_DATA_COUNT {
            b.push(b"").unwrap();
        }
        assert!(b.push(b"").is_err());
        let n = b.finish();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.kind(), PacketKind::Data);
        assert_eq!(p.messages().count(), usize::from(MAX_DATA_COUNT));
        assert_eq!(p.next_sequence(), 10 + u64::from(MAX_DATA_COUNT));
    }

    #[test]
    fn sequence_wraps_without_panicking() {
        let mut buf = [0u8; 32];
        let mut b = PacketBuilder::new(&mut buf, b"S         ", u64::MAX).unwrap();
        b.push(b"a").unwrap();
        b.push(b"b").unwrap();
        let n = b.finish();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        let seqs: Vec<u64> = p.messages().map(|m| m.0).collect();
        assert_eq!(seqs, [u64::MAX, 0]);
        assert_eq!(p.next_sequence(), 1);
    }

    #[test]
    fn describes_header() {
        let p = Packet::new_checked(&DATA[..]).unwrap();
        let r = fields_of(&p);
        assert_eq!(Describe::protocol(&p), "moldudp64");
        assert_eq!(Describe::kind(&p), "Packet");
        assert_eq!(
            r,
            [
                r#"session="TESTSESS01""#,
                "sequence_number=1000",
                "message_count=2"
            ]
        );
        let mut buf = [0u8; 20];
        write_end_of_session(&mut buf, b"AB        ", 5).unwrap();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Describe::kind(&p), "EndOfSession");
        write_heartbeat(&mut buf, b"AB        ", 5).unwrap();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Describe::kind(&p), "Heartbeat");
        let r = fields_of(&p);
        assert_eq!(r[0], r#"session="AB""#);
        write_request(&mut buf, b"AB        ", 5, 3).unwrap();
        let q = RequestPacket::new_checked(&buf[..]).unwrap();
        let r = fields_of(&q);
        assert_eq!(Describe::kind(&q), "Request");
        assert_eq!(
            r,
            [
                r#"session="AB""#,
                "sequence_number=5",
                "requested_message_count=3"
            ]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let total: usize = p.messages().map(|(_, m)| m.len() + 2).sum();
                prop_assert_eq!(total + HEADER_LEN, bytes.len());
                prop_assert_eq!(p.messages().count(), usize::from(p.message_count()));
                let _ = p.next_sequence();
            }
            let _ = RequestPacket::new_checked(&bytes[..]);
        }

        #[test]
        fn built_packets_round_trip(
            seq in any::<u64>(),
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..20),
        ) {
            let mut buf = vec![0u8; 2048];
            let mut b = PacketBuilder::new(&mut buf, b"PROPTEST01", seq).unwrap();
            for m in &msgs {
                b.push(m).unwrap();
            }
            let n = b.finish();
            let p = Packet::new_checked(&buf[..n]).unwrap();
            let got: Vec<(u64, Vec<u8>)> = p.messages().map(|(s, m)| (s, m.to_vec())).collect();
            let want: Vec<(u64, Vec<u8>)> = msgs
                .iter()
                .enumerate()
                .map(|(i, m)| (seq.wrapping_add(i as u64), m.clone()))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
