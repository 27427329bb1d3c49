//! ITCH 5.0: any bytes decode to a message, an Unknown, or an error; never a panic.
//! A decoded known message re-encodes to the bytes it came from, and prints.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::proto::itch50;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = itch50::parse(data) {
        ticklab_fuzz::check_prints(&m);
        if let Some(len) = itch50::message_len(m.type_byte()) {
            assert_eq!(m.wire_bytes(), &data[..len]);
        }
    }
});
