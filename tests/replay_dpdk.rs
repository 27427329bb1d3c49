//! `ticklab replay --backend dpdk` into DPDK's `net_pcap` (`tx_pcap=out.pcap`),
//! without hugepages or a NIC: the capture DPDK writes must hold the input's frames,
//! in order, byte for byte, once per pass. The replay stages the frames into mbufs
//! once and sends them by reference, so a second pass sends the same mbufs again.
//! Each replay runs as its own process (DPDK's EAL is once per process), with the
//! EAL arguments given through `--dpdk-args`.

#![cfg(feature = "dpdk")]

use std::fs::File;
use std::path::Path;
use std::process::Command;

use ticklab::capture::{CaptureReader, LinkType, PcapWriter};
use ticklab::feed::frames::{default_endpoints, FrameSource};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};

const FRAMES: usize = 5_000;

fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut frames = Vec::new();
    while let Some(p) = reader.next_packet().unwrap() {
        assert_eq!(p.link_type, LinkType::ETHERNET);
        frames.push(p.data.to_vec());
    }
    frames
}

/// Writes FRAMES frames of the synthetic feed into `path` and returns them.
fn write_input(path: &Path) -> Vec<Vec<u8>> {
    let feed = SyntheticFeed::new(SyntheticConfig {
        seed: 9,
        messages: Some(20_000),
        ..Default::default()
    })
    .unwrap();
    let mut source = FrameSource::new(feed, &default_endpoints());
    let mut buf = vec![0u8; source.max_frame_len()];
    let mut writer =
        PcapWriter::new(File::create(path).unwrap(), LinkType::ETHERNET, 65_535).unwrap();
    for _ in 0..FRAMES {
        let f = source
            .next_frame(&mut buf)
            .expect("20,000 messages make 5,000 frames");
        writer
            .write_packet(f.timestamp_ns, &buf[..f.len], f.len as u32)
            .unwrap();
    }
    writer.finish().unwrap();
    let frames = frames_of(path);
    assert_eq!(frames.len(), FRAMES);
    frames
}

/// Runs `ticklab replay --backend dpdk --json` into `net_pcap0,tx_pcap=output` and
/// returns its summary.
fn replay_into_pcap(input: &Path, output: &Path, args: &[&str]) -> serde_json::Value {
    let dpdk_args = format!(
        "--no-huge -m 512 --no-pci --no-shconf --no-telemetry --vdev=net_pcap0,tx_pcap={}",
        output.display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .arg("replay")
        .arg(input)
        .args(["--iface", "net_pcap0", "--backend", "dpdk", "--json"])
        .args(args)
        .args(["--dpdk-args", &dpdk_args])
        .output()
        .expect("cannot run ticklab replay");
    assert!(
        out.status.success(),
        "ticklab replay --backend dpdk failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_same_frames(written: &[Vec<u8>], expected: &[Vec<u8>]) {
    assert_eq!(written.len(), expected.len());
    for (i, (out, input)) in written.iter().zip(expected).enumerate() {
        assert_eq!(out, input, "frame {i} of out.pcap differs from the input");
    }
}

#[test]
fn replay_into_net_pcap_writes_the_input_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    let sent = write_input(&input);

    let summary = replay_into_pcap(&input, &output, &["--timing", "topspeed"]);
    assert_eq!(summary["packets"], FRAMES as u64);
    assert_eq!(
        summary["bytes"],
        sent.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    // At top speed every frame is due at the start: no departure is recorded.
    assert_eq!(summary["departure_source"], "not_recorded");
    assert!(summary["departure_minus_schedule"].is_null());
    assert_same_frames(&frames_of(&output), &sent);
}

#[test]
fn two_passes_send_the_staged_frames_twice_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    let sent = write_input(&input);

    // 5,000 frames is not a whole number of bursts: a burst spans the two passes.
    let summary = replay_into_pcap(&input, &output, &["--timing", "rate=500000", "--loop", "2"]);
    assert_eq!(summary["packets"], 2 * FRAMES as u64);
    assert_eq!(summary["loops"], 2);
    assert_eq!(summary["departure_source"]["tx_stamps"], "user_monotonic");
    let departures = &summary["departure_minus_schedule"];
    assert_eq!(
        departures["count"].as_u64().unwrap() + summary["unstamped"].as_u64().unwrap(),
        2 * FRAMES as u64
    );
    let twice: Vec<Vec<u8>> = sent.iter().chain(&sent).cloned().collect();
    assert_same_frames(&frames_of(&output), &twice);
}
