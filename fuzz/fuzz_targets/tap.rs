//! The lab's tap on arbitrary bytes: its header-only frame parsing (the feed's UDP
//! datagrams leaving, the order session's TCP segments arriving) never panics, and
//! its order stream, driven by arbitrary segments and lookups, never panics and only
//! ever answers with a stamp it was given before the lookup.
#![no_main]
use std::net::SocketAddrV4;

use libfuzzer_sys::fuzz_target;
use ticklab::lab::tap::{feed_departure, order_segment, OrderStream, Segment};

fuzz_target!(|data: &[u8]| {
    let feed: SocketAddrV4 = "239.198.0.1:26400".parse().unwrap();
    let gateway: SocketAddrV4 = "10.0.0.20:15000".parse().unwrap();
    let _ = feed_departure(data, feed);
    let _ = order_segment(data, gateway);
    // 8-byte records: a segment (sequence number, SYN and which of two clients,
    // length; stamped with its record's index), or with the top bit of the last
    // byte set, a lookup.
    let clients: [SocketAddrV4; 2] = [
        "10.0.0.10:40000".parse().unwrap(),
        "10.0.0.10:40001".parse().unwrap(),
    ];
    let mut stream = OrderStream::new(16);
    for (i, record) in data.chunks_exact(8).enumerate() {
        let word = u32::from_be_bytes([record[0], record[1], record[2], record[3]]);
        if record[7] & 0x80 != 0 {
            if let Some(ns) = stream.arrival(u64::from(word)) {
                assert!(ns < i as u64, "a stamp from the future: {ns} at record {i}");
            }
        } else {
            let segment = Segment {
                from: clients[usize::from(record[4] >> 1 & 1)],
                seq: word,
                syn: record[4] & 1 == 1,
                len: usize::from(u16::from_be_bytes([record[5], record[6]])),
            };
            stream.on_segment(segment, i as u64);
        }
    }
});
