//! FIX tag=value stream framing on arbitrary bytes: `fix::frame` in a loop, as a
//! session reader would run it.
//!
//! Properties of every message that frames, recomputed here without the codec:
//! - it is the next `consumed` bytes of the stream, begins with a BeginString we
//!   accept, and its BodyLength is the exact distance from the SOH after field 9
//!   to the `10=` of the trailer, which ends the message;
//! - its CheckSum is the sum of every byte before `10=`, modulo 256;
//! - `fields()` yields 8, 9 and 35 first and 10 last, and writing the fields back
//!   as `tag=value<SOH>` gives the message byte for byte;
//! - every strict prefix of the message is "incomplete" (`Ok(None)`), never a
//!   different message or an error;
//! - the message prints as text and as JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::proto::fix::{frame, parse_u64, Message, Version, SOH};

/// Position of the first SOH at or after `from`.
fn soh_after(bytes: &[u8], from: usize) -> usize {
    from + bytes[from..]
        .iter()
        .position(|&b| b == SOH)
        .expect("a framed message has SOH after every field")
}

fn check_message(msg: &Message<'_>, wire: &[u8]) {
    assert_eq!(msg.as_bytes(), wire);
    ticklab_fuzz::check_prints(msg);

    // BeginString.
    assert!(wire.starts_with(b"8="));
    let begin_end = soh_after(wire, 2);
    let begin = &wire[2..begin_end];
    let version = match begin {
        b"FIX.4.2" => Version::Fix42,
        b"FIX.4.4" => Version::Fix44,
        b"FIXT.1.1" => Version::Fixt11,
        other => panic!(
            "framed a BeginString of {:?}",
            String::from_utf8_lossy(other)
        ),
    };
    assert_eq!(msg.version(), version);
    assert_eq!(msg.begin_string(), begin);

    // BodyLength: digits between "9=" and SOH; the body runs from after that SOH
    // to just before "10=".
    assert_eq!(&wire[begin_end + 1..begin_end + 3], b"9=");
    let length_end = soh_after(wire, begin_end + 3);
    let digits = &wire[begin_end + 3..length_end];
    assert!(!digits.is_empty() && digits.iter().all(u8::is_ascii_digit));
    let body_length: usize = std::str::from_utf8(digits).unwrap().parse().unwrap();
    let body_start = length_end + 1;
    let trailer = body_start + body_length;
    assert_eq!(msg.body_length(), body_length);
    assert_eq!(msg.body(), &wire[body_start..trailer]);
    assert!(msg.body().starts_with(b"35="));
    assert_eq!(wire[trailer - 1], SOH);

    // CheckSum: "10=" three digits SOH, and nothing after it.
    assert_eq!(
        wire.len(),
        trailer + 7,
        "the message does not end with its trailer"
    );
    assert_eq!(&wire[trailer..trailer + 3], b"10=");
    assert_eq!(wire[trailer + 6], SOH);
    let stated: u32 = std::str::from_utf8(&wire[trailer + 3..trailer + 6])
        .unwrap()
        .parse()
        .unwrap();
    let sum = wire[..trailer].iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    assert_eq!(stated, sum, "framed a message with a wrong CheckSum");
    assert_eq!(u32::from(msg.checksum()), sum);

    // Fields: in order, and together exactly the message.
    let fields: Vec<(u32, &[u8])> = msg.fields().collect();
    assert!(fields.len() >= 4);
    assert_eq!(fields[0], (8, begin));
    assert_eq!(fields[1], (9, digits));
    assert_eq!(fields[2], (35, msg.msg_type()));
    assert_eq!(
        fields[fields.len() - 1],
        (10, &wire[trailer + 3..trailer + 6])
    );
    let mut rebuilt = Vec::with_capacity(wire.len());
    for (tag, value) in &fields {
        rebuilt.extend_from_slice(tag.to_string().as_bytes());
        rebuilt.push(b'=');
        rebuilt.extend_from_slice(value);
        rebuilt.push(SOH);
    }
    assert_eq!(rebuilt, wire, "the fields do not spell the message");
    let seq = fields.iter().find(|(t, _)| *t == 34).map(|(_, v)| *v);
    assert_eq!(msg.seq_num(), seq.and_then(parse_u64));
    assert_eq!(msg.get(35), Some(msg.msg_type()));

    // A message that has not fully arrived is only ever "incomplete".
    for cut in [wire.len() - 1, wire.len() / 2, body_start, trailer] {
        if cut < wire.len() {
            assert_eq!(
                frame(&wire[..cut]),
                Ok(None),
                "the first {cut} bytes of a message framed as something else"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while let Ok(Some((msg, used))) = frame(&data[at..]) {
        assert!(used > 0 && at + used <= data.len());
        check_message(&msg, &data[at..at + used]);
        at += used;
    }
});
