//! The whole dissector on arbitrary pcapng bytes: the capture reader, frame dissection,
//! TCP reassembly and every protocol decoder behind them. Any input ends in Ok or an
//! error; never a panic, never an allocation sized by a declared length.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::capture::CaptureReader;
use ticklab::decode::{decode_reader, Mode, Options};

fuzz_target!(|data: &[u8]| {
    for mode in [Mode::Lines, Mode::Json, Mode::Stats] {
        let Ok(reader) = CaptureReader::new(data, "fuzz.pcapng", Some(data.len() as u64)) else {
            return;
        };
        let mut out = Vec::new();
        let _ = decode_reader(reader, "fuzz.pcapng".as_ref(), &Options::default(), mode, &mut out);
    }
});
