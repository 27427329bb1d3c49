//! The whole dissector on arbitrary bytes named as a pcap file: the capture reader,
//! frame dissection, TCP reassembly and every protocol decoder behind them. Any
//! input ends in Ok or an error, never a panic or an allocation sized by a declared
//! length; the output and the outcome do not depend on the reader's buffer size;
//! JSON output is one object per line. (The reader detects the format from the
//! magic, so this target and `pcapng` differ in their seeds.)
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ticklab_fuzz::check_decodes(data, "fuzz.pcap");
});
