//! Vendor timestamp trailers (Arista 7130/Metamako, Exablaze) on arbitrary frames:
//! parsing never panics, the Metamako extension walk stays inside the frame and
//! ends, and a parsed trailer writes back to the bytes it was read from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::capture::trailer::{
    parse_exablaze, parse_exablaze_with_fcs, parse_metamako, parse_metamako_with_fcs,
    EXABLAZE_TRAILER_LEN,
};

fuzz_target!(|frame: &[u8]| {
    for (parsed, fcs_after) in [
        (parse_metamako(frame), 0),
        (parse_metamako_with_fcs(frame), 4),
    ] {
        let Some(t) = parsed else { continue };
        // The walk over extension words ends and never claims more words than exist.
        let mut words = 0usize;
        for e in t.extension_iter() {
            words += 1 + e.data.len() / 4;
            assert!(words * 4 <= t.extensions.len());
        }
        // Writing the trailer back gives the bytes it was parsed from.
        let end = frame.len() - fcs_after;
        let start = end - t.encoded_len();
        let mut out = vec![0u8; t.encoded_len()];
        assert_eq!(t.write(&mut out), Some(out.len()));
        assert_eq!(out, &frame[start..end]);
        let _ = (t.timestamp_ns(), t.sequence_number(), t.sub_nanoseconds());
    }
    for (parsed, fcs_after) in [
        (parse_exablaze(frame), 0),
        (parse_exablaze_with_fcs(frame), 4),
    ] {
        let Some(t) = parsed else { continue };
        let end = frame.len() - fcs_after;
        assert_eq!(t.to_bytes(), frame[end - EXABLAZE_TRAILER_LEN..end]);
        let _ = (t.timestamp_ns(), t.nanoseconds(), t.picoseconds());
    }
});
