//! MoldUDP64 downstream and re-request packets on arbitrary bytes.
//!
//! Properties, each checked against an independent reading of the input:
//! - `Packet::new_checked` accepts exactly the buffers that are a 20-byte header
//!   followed by exactly Message Count blocks (0 blocks for Heartbeat and End of
//!   Session), as a separate walk of the block lengths in this file decides;
//! - `messages()` yields exactly `message_count()` blocks, each a slice of the
//!   input at the place its length prefix says, numbered from the header's
//!   sequence number, and `next_sequence()` follows the last;
//! - the builders re-create the same bytes from the decoded fields and blocks;
//! - `RequestPacket::new_checked` accepts exactly 20-byte buffers, and
//!   `write_request` re-creates them;
//! - whatever decodes prints as text and as JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::proto::moldudp64::{
    write_end_of_session, write_heartbeat, write_request, Packet, PacketBuilder, PacketKind,
    RequestPacket, HEADER_LEN, REQUEST_LEN,
};

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The block ranges (message bytes, without the length prefix) of a valid packet,
/// or `None` if the buffer is not a valid downstream packet. Shares no code with
/// the decoder.
fn reference_blocks(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    if data.len() < 20 {
        return None;
    }
    let count = be16(data, 18);
    let blocks = if count == 0 || count == 0xFFFF {
        0
    } else {
        count
    };
    let mut out = Vec::new();
    let mut pos = 20;
    for _ in 0..blocks {
        if data.len() < pos + 2 {
            return None;
        }
        let len = usize::from(be16(data, pos));
        if data.len() < pos + 2 + len {
            return None;
        }
        out.push((pos + 2, pos + 2 + len));
        pos += 2 + len;
    }
    (pos == data.len()).then_some(out)
}

fn check_downstream(data: &[u8]) {
    let expected = reference_blocks(data);
    let pkt = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert!(expected.is_none(), "valid packet refused: {e}");
            return;
        }
    };
    let blocks = expected.expect("new_checked accepted an invalid packet");
    ticklab_fuzz::check_prints(&pkt);

    let count = be16(data, 18);
    assert_eq!(pkt.count(), count);
    assert_eq!(pkt.session()[..], data[..10]);
    let seq = u64::from_be_bytes(data[10..18].try_into().unwrap());
    assert_eq!(pkt.sequence(), seq);
    let kind = match count {
        0 => PacketKind::Heartbeat,
        0xFFFF => PacketKind::EndOfSession,
        _ => PacketKind::Data,
    };
    assert_eq!(pkt.kind(), kind);
    assert_eq!(usize::from(pkt.message_count()), blocks.len());
    assert_eq!(pkt.payload(), &data[HEADER_LEN..]);

    let messages = pkt.messages();
    assert_eq!(messages.len(), blocks.len());
    let base = data.as_ptr() as usize;
    let mut yielded = 0;
    for (i, ((msg_seq, msg), &(start, end))) in messages.zip(&blocks).enumerate() {
        assert_eq!(msg_seq, seq.wrapping_add(i as u64));
        // The very bytes of the input, not a copy.
        assert_eq!(
            msg.as_ptr() as usize - base,
            start,
            "block {i} is not in place"
        );
        assert_eq!(msg.len(), end - start);
        yielded += 1;
    }
    assert_eq!(yielded, blocks.len());
    assert_eq!(pkt.messages().count(), blocks.len());
    assert_eq!(pkt.next_sequence(), seq.wrapping_add(blocks.len() as u64));

    // The builders re-create the packet, into a buffer of exactly its size.
    let mut rebuilt = vec![0u8; data.len()];
    let n = match kind {
        PacketKind::Heartbeat => write_heartbeat(&mut rebuilt, pkt.session(), seq).unwrap(),
        PacketKind::EndOfSession => write_end_of_session(&mut rebuilt, pkt.session(), seq).unwrap(),
        PacketKind::Data => {
            let mut b = PacketBuilder::new(&mut rebuilt, pkt.session(), seq).unwrap();
            for (_, msg) in pkt.messages() {
                b.push(msg).unwrap();
            }
            assert_eq!(b.count(), count);
            assert_eq!(b.remaining(), 0);
            b.finish()
        }
    };
    assert_eq!(&rebuilt[..n], data);
}

fn check_request(data: &[u8]) {
    let req = match RequestPacket::new_checked(data) {
        Ok(r) => r,
        Err(_) => {
            assert_ne!(data.len(), REQUEST_LEN, "a 20-byte request was refused");
            return;
        }
    };
    assert_eq!(data.len(), REQUEST_LEN);
    ticklab_fuzz::check_prints(&req);
    assert_eq!(req.session()[..], data[..10]);
    assert_eq!(
        req.sequence(),
        u64::from_be_bytes(data[10..18].try_into().unwrap())
    );
    assert_eq!(req.requested_count(), be16(data, 18));
    let mut rebuilt = [0u8; REQUEST_LEN];
    let n = write_request(
        &mut rebuilt,
        req.session(),
        req.sequence(),
        req.requested_count(),
    )
    .unwrap();
    assert_eq!(&rebuilt[..n], data);
}

fuzz_target!(|data: &[u8]| {
    check_downstream(data);
    check_request(data);
});
