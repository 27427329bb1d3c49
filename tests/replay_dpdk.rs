//! `ticklab replay --backend dpdk` into DPDK's `net_pcap` (`tx_pcap=out.pcap`),
//! without hugepages or a NIC: the capture DPDK writes must hold the input's frames,
//! in order, byte for byte. The replay runs as its own process (DPDK's EAL is once
//! per process), with the EAL arguments given through `--dpdk-args`.

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

#[test]
fn replay_into_net_pcap_writes_the_input_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    let feed = SyntheticFeed::new(SyntheticConfig {
        seed: 9,
        messages: Some(20_000),
        ..Default::default()
    })
    .unwrap();
    let mut source = FrameSource::new(feed, &default_endpoints());
    let mut buf = vec![0u8; source.max_frame_len()];
    let mut writer =
        PcapWriter::new(File::create(&input).unwrap(), LinkType::ETHERNET, 65_535).unwrap();
    for _ in 0..FRAMES {
        let f = source
            .next_frame(&mut buf)
            .expect("20,000 messages make 5,000 frames");
        writer
            .write_packet(f.timestamp_ns, &buf[..f.len], f.len as u32)
            .unwrap();
    }
    writer.finish().unwrap();

    let dpdk_args = format!(
        "--no-huge -m 512 --no-pci --no-shconf --no-telemetry --vdev=net_pcap0,tx_pcap={}",
        output.display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .arg("replay")
        .arg(&input)
        .args([
            "--iface",
            "net_pcap0",
            "--backend",
            "dpdk",
            "--timing",
            "topspeed",
            "--json",
        ])
        .args(["--dpdk-args", &dpdk_args])
        .output()
        .expect("cannot run ticklab replay");
    assert!(
        out.status.success(),
        "ticklab replay --backend dpdk failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["packets"], FRAMES as u64);
    assert_eq!(summary["departure_source"]["tx_stamps"], "user_monotonic");

    let sent = frames_of(&input);
    let written = frames_of(&output);
    assert_eq!(written.len(), sent.len());
    for (i, (a, b)) in sent.iter().zip(&written).enumerate() {
        assert_eq!(b, a, "frame {i} of out.pcap differs from the input");
    }
}
