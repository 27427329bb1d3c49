//! SoupBinTCP stream framing on arbitrary bytes.
//!
//! Input: one byte that chooses how the stream is cut for the incremental reader,
//! then the TCP byte stream itself.
//!
//! Properties:
//! - `frame` in a loop over the whole stream: each packet takes `wire_len()`
//!   bytes, its Packet Length field says so, and `Packet::write` re-creates the
//!   bytes it came from. The one allowed difference is a numeric field
//!   (Login Accepted / Login Request sequence number) the sender padded or
//!   zero-filled differently: it must then hold the same number, and the
//!   re-written packet must frame to the same packet;
//! - a reader that receives the stream in pieces (one cut at a fuzz-chosen point,
//!   and fuzz-chosen small chunks) and frames whatever it has after each piece
//!   yields the same packets, and stops at the same place for the same reason;
//! - whatever frames prints as text and as JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::proto::soupbintcp::{frame, parse_sequence_number, Packet, SEQ_NUM_LEN};
use ticklab::proto::Error;

/// How a framing pass ended.
#[derive(Debug, PartialEq)]
enum End {
    /// Ran out of bytes with this many left over (an incomplete packet).
    NeedMore(usize),
    /// `frame` refused the packet at this stream offset.
    Refused(usize, Error),
}

/// Frames the whole stream at once, checking each packet; returns the packets as
/// (offset, length) and how framing ended.
fn frame_all(stream: &[u8]) -> (Vec<(usize, usize)>, End) {
    let mut packets = Vec::new();
    let mut at = 0;
    loop {
        let rest = &stream[at..];
        match frame(rest) {
            Ok(Some((pkt, used))) => {
                check_packet(&pkt, &rest[..used]);
                packets.push((at, used));
                at += used;
            }
            Ok(None) => {
                // Incomplete means: no length yet, or fewer bytes than it claims.
                if rest.len() >= 2 {
                    let claimed = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                    assert!(rest.len() < 2 + claimed, "a whole packet was left unframed");
                }
                return (packets, End::NeedMore(rest.len()));
            }
            Err(e) => return (packets, End::Refused(at, e)),
        }
    }
}

fn check_packet(pkt: &Packet<'_>, wire: &[u8]) {
    ticklab_fuzz::check_prints(pkt);
    let claimed = usize::from(u16::from_be_bytes([wire[0], wire[1]]));
    assert_eq!(wire.len(), 2 + claimed);
    assert_eq!(pkt.wire_len(), wire.len());
    assert_eq!(pkt.type_byte(), wire[2]);

    let mut rewritten = vec![0u8; wire.len()];
    let n = pkt
        .write(&mut rewritten)
        .expect("a framed packet fits its own length");
    assert_eq!(n, wire.len());
    if rewritten == wire {
        return;
    }
    // Only the 20-byte sequence number, the last field of both packets that have
    // one, may differ, and only in how the same number is written.
    let numeric = match *pkt {
        Packet::LoginAccepted {
            sequence_number, ..
        } => sequence_number,
        Packet::LoginRequest {
            requested_sequence_number,
            ..
        } => requested_sequence_number,
        _ => panic!("re-written {pkt:?} differs from its wire bytes"),
    };
    let field_at = wire.len() - SEQ_NUM_LEN;
    assert_eq!(rewritten[..field_at], wire[..field_at]);
    let field: &[u8; SEQ_NUM_LEN] = wire[field_at..].try_into().unwrap();
    assert_eq!(parse_sequence_number(field).ok(), Some(numeric));
    let (again, used) = frame(&rewritten).unwrap().unwrap();
    assert_eq!(used, n);
    assert_eq!(again, *pkt);
}

/// Feeds `stream` to a buffering reader in pieces ending at `cuts` (then the rest),
/// framing after each piece as a TCP reader would.
fn frame_incrementally(
    stream: &[u8],
    cuts: impl Iterator<Item = usize>,
) -> (Vec<(usize, usize)>, End) {
    let mut pending: Vec<u8> = Vec::new();
    let mut consumed = 0; // stream offset of pending[0]
    let mut delivered = 0;
    let mut packets = Vec::new();
    for cut in cuts.chain(core::iter::once(stream.len())) {
        let cut = cut.clamp(delivered, stream.len());
        pending.extend_from_slice(&stream[delivered..cut]);
        delivered = cut;
        let mut used = 0;
        loop {
            match frame(&pending[used..]) {
                Ok(Some((_, n))) => {
                    packets.push((consumed + used, n));
                    used += n;
                }
                Ok(None) => break,
                Err(e) => return (packets, End::Refused(consumed + used, e)),
            }
        }
        pending.drain(..used);
        consumed += used;
    }
    (packets, End::NeedMore(pending.len()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, stream)) = data.split_first() else {
        return;
    };
    let whole = frame_all(stream);

    let split = usize::from(choice) * stream.len() / 255;
    assert_eq!(
        frame_incrementally(stream, core::iter::once(split)),
        whole,
        "framing with a cut at {split} differs"
    );

    let chunk = usize::from(choice % 8) + 1;
    assert_eq!(
        frame_incrementally(stream, (chunk..stream.len()).step_by(chunk)),
        whole,
        "framing in {chunk}-byte chunks differs"
    );
});
