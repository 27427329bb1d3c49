//! Shared checks for the fuzz targets: whatever a decoder accepts must print, as
//! text and as JSON, and the JSON must parse; a capture decodes the same whatever
//! the reader's buffer size.

use ticklab::capture::{CaptureReader, MIN_BUFFER_SIZE};
use ticklab::codec::Describe;
use ticklab::decode::print::{describe_json, describe_text};
use ticklab::decode::{decode_reader, Mode, Options};

/// Prints `msg` both ways; panics if the JSON form is not valid JSON.
pub fn check_prints(msg: &dyn Describe) {
    let mut text = Vec::new();
    describe_text(&mut text, msg);
    let mut json = b"{\"x\":0".to_vec();
    describe_json(&mut json, msg);
    json.push(b'}');
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&json) {
        panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&json));
    }
}

/// What one decode of a capture produced: the printed output, then the statistics
/// (as JSON text) or the error message.
type Outcome = (Vec<u8>, Result<String, String>);

fn decode(data: &[u8], name: &str, mode: Mode, buffer_size: usize) -> Outcome {
    let reader =
        match CaptureReader::with_buffer_size(data, name, Some(data.len() as u64), buffer_size) {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Err(e.to_string())),
        };
    let mut out = Vec::new();
    let result = decode_reader(reader, name.as_ref(), &Options::default(), mode, &mut out);
    let result = result
        .map(|stats| stats.to_json(name.as_ref()).to_string())
        .map_err(|e| e.to_string());
    (out, result)
}

/// Runs the whole dissector (capture reader, frame dissection, TCP reassembly,
/// every protocol decoder) over `data` in each output mode, once with the
/// smallest reader buffer (records straddle refills, the buffer must grow) and
/// once with a large one. Panics if the two differ in output or outcome, or if a
/// line of JSON output is not a JSON object.
pub fn check_decodes(data: &[u8], name: &str) {
    for mode in [Mode::Lines, Mode::Json, Mode::Stats] {
        let small = decode(data, name, mode, MIN_BUFFER_SIZE);
        let large = decode(data, name, mode, 1 << 16);
        if small != large {
            panic!(
                "{mode:?}: the decode depends on the reader's buffer size\n\
                 {MIN_BUFFER_SIZE} bytes: {:?}\n{}\n65536 bytes: {:?}\n{}",
                small.1,
                String::from_utf8_lossy(&small.0),
                large.1,
                String::from_utf8_lossy(&large.0),
            );
        }
        if mode == Mode::Json {
            for line in small.0.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                match serde_json::from_slice::<serde_json::Value>(line) {
                    Ok(v) if v.is_object() => {}
                    other => panic!(
                        "JSON output line is not an object ({other:?}): {}",
                        String::from_utf8_lossy(line)
                    ),
                }
            }
        }
    }
}
