//! Shared checks for the fuzz targets: whatever a decoder accepts must print, as
//! text and as JSON, and the JSON must parse.

use ticklab::codec::Describe;
use ticklab::decode::print::{describe_json, describe_text};

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
