//! `ticklab replay` over AF_PACKET on a real link: two network namespaces joined by a
//! veth pair (198.18.0.1/30 on A, 198.18.0.2/30 on B; RFC 2544's benchmark range, so
//! nothing leaves the host). A capture of 10,000 synthetic-feed frames is replayed by
//! the `ticklab` binary inside A; an AF_PACKET port in B must receive every frame, in
//! order, byte for byte (at top speed the port sends without TX stamps, and the
//! summary reports no departures). At a fixed rate the summary's counts and rate
//! fields must agree with what was sent, with departures from TX stamps.
//!
//! Needs root (CAP_NET_RAW for AF_PACKET, CAP_SYS_ADMIN for namespaces) and
//! iproute2's `ip`; without either the test fails, naming what is missing. The
//! namespaces are deleted by a guard, also when an assertion fails.

#![cfg(target_os = "linux")]

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "common/netns.rs"]
mod netns;
use netns::{in_netns, require_root_and_ip, VethPair};
use ticklab::capture::{LinkType, PcapWriter};
use ticklab::feed::frames::{default_endpoints, FrameSource};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
use ticklab::nic::af_packet::{AfPacketConfig, AfPacketPort};
use ticklab::nic::{Port, RxMeta};

const FRAMES: usize = 10_000;
/// Only a guard against hanging forever; nothing here measures time.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Opens a port on a thread that entered `netns`; its sockets stay in that namespace.
fn open_in(netns: &str, config: AfPacketConfig) -> AfPacketPort {
    let interface = config.interface.clone();
    in_netns(netns, move || {
        AfPacketPort::open(config)
            .unwrap_or_else(|e| panic!("opening AF_PACKET on {interface}: {e}"))
            .0
    })
}

/// The first `FRAMES` frames of the seeded synthetic feed, as `ticklab gen` writes
/// them, saved as a pcap at `path`.
fn write_capture(path: &Path) -> Vec<Vec<u8>> {
    let feed = SyntheticFeed::new(SyntheticConfig {
        seed: 4,
        messages: Some(40_000),
        ..Default::default()
    })
    .expect("the synthetic feed's configuration is valid");
    let mut source = FrameSource::new(feed, &default_endpoints());
    let mut buf = vec![0u8; source.max_frame_len()];
    let mut writer =
        PcapWriter::new(File::create(path).unwrap(), LinkType::ETHERNET, 65_535).unwrap();
    let mut frames = Vec::with_capacity(FRAMES);
    while frames.len() < FRAMES {
        let f = source
            .next_frame(&mut buf)
            .expect("40,000 messages make more than 10,000 frames");
        writer
            .write_packet(f.timestamp_ns, &buf[..f.len], f.len as u32)
            .unwrap();
        frames.push(buf[..f.len].to_vec());
    }
    writer.finish().unwrap();
    frames
}

/// Runs `ticklab replay` inside `netns` with `args` after the capture and interface,
/// while `receive` reads the other end (a retired RX block holds what came in its
/// timeout, so the receiving ring must be drained as the frames arrive).
fn replay_in<T>(
    netns: &str,
    capture: &Path,
    iface: &str,
    args: &[&str],
    receive: impl FnOnce() -> T,
) -> (Output, T) {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            env!("CARGO_BIN_EXE_ticklab"),
            "replay",
        ])
        .arg(capture)
        .args(["--iface", iface, "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run ip netns exec ticklab replay");
    let received = receive();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ticklab replay {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (out, received)
}

/// Receives on `port` until `count` feed frames (UDP to the feed's port) arrived;
/// anything else on the link (IPv6 neighbour discovery) is skipped.
fn receive_feed_frames(port: &mut AfPacketPort, count: usize) -> Vec<Vec<u8>> {
    let feed_port = default_endpoints().dst_port.to_be_bytes();
    let mut storage = vec![[0u8; 2048]; 64];
    let mut meta = [RxMeta::default(); 64];
    let mut got = Vec::with_capacity(count);
    let deadline = Instant::now() + GIVE_UP_AFTER;
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} frames arrived within {GIVE_UP_AFTER:?}",
            got.len()
        );
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        let n = port.recv_burst(&mut buffers, &mut meta).unwrap();
        if n == 0 {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        for (buf, m) in buffers.iter().zip(&meta[..n]) {
            assert!(!m.truncated, "a {}-byte frame was truncated", m.len);
            let frame = &buf[..m.len];
            let is_feed = frame.len() >= 38
                && frame[12..14] == [0x08, 0x00]
                && frame[23] == 17
                && frame[36..38] == feed_port;
            if is_feed {
                got.push(frame.to_vec());
            }
        }
    }
    got
}

#[test]
fn top_speed_replay_delivers_every_frame_in_order_byte_for_byte() {
    require_root_and_ip("replay");
    let link = VethPair::create("rpl", "rp", 't', None);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("feed.pcap");
    let frames = write_capture(&capture);
    let mut rx = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));

    let (out, got) = replay_in(
        &link.a,
        &capture,
        &link.a_veth,
        &["--timing", "topspeed"],
        || receive_feed_frames(&mut rx, FRAMES),
    );
    assert_eq!(got.len(), frames.len());
    for (i, (sent, received)) in frames.iter().zip(&got).enumerate() {
        assert_eq!(received, sent, "frame {i} differs");
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["packets"], FRAMES as u64);
    assert_eq!(summary["timing"], "topspeed");
    // At top speed the port sends without TX stamps and the loop records no
    // departure: the summary says so rather than print zeros.
    assert_eq!(
        summary["departure_minus_schedule"],
        serde_json::Value::Null,
        "{summary}"
    );
    assert_eq!(summary["departure_source"], "not_recorded", "{summary}");
    assert_eq!(summary["unstamped"], 0, "{summary}");
}

#[test]
fn fixed_rate_summary_counts_and_rates_agree_with_what_was_sent() {
    require_root_and_ip("replay");
    let link = VethPair::create("rpl", "rp", 'r', None);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("feed.pcapng");
    // pcapng this time, written through the same frames.
    let frames = {
        let pcap = dir.path().join("feed.pcap");
        let frames = write_capture(&pcap);
        let mut w =
            ticklab::capture::CaptureWriter::create(&capture, LinkType::ETHERNET, 65_535).unwrap();
        let mut reader = ticklab::capture::CaptureReader::open(&pcap).unwrap();
        while let Some(p) = reader.next_packet().unwrap() {
            w.write_packet(p.timestamp_ns, p.data, p.original_len, None)
                .unwrap();
        }
        w.finish().unwrap();
        frames
    };
    let mut rx = open_in(&link.b, AfPacketConfig::new(link.b_veth.clone()));

    let (out, got) = replay_in(
        &link.a,
        &capture,
        &link.a_veth,
        &["--timing", "rate=20000", "--loop", "1"],
        || receive_feed_frames(&mut rx, FRAMES),
    );
    assert_eq!(got, frames);

    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!(s["packets"], FRAMES as u64);
    assert_eq!(s["bytes"], bytes);
    assert_eq!(s["loops"], 1);
    assert_eq!(s["timing"], "rate=20000");
    assert_eq!(s["interface"], link.a_veth.as_str());
    assert_eq!(s["departure_source"]["tx_stamps"], "kernel_software");
    let elapsed_s = s["elapsed_ns"].as_u64().unwrap() as f64 / 1e9;
    let pps = s["packets_per_second"].as_f64().unwrap();
    let mbps = s["megabits_per_second"].as_f64().unwrap();
    assert!(
        (pps - FRAMES as f64 / elapsed_s).abs() < 1e-6 * pps,
        "{pps} vs {elapsed_s} s"
    );
    assert!(
        (mbps - bytes as f64 * 8.0 / elapsed_s / 1e6).abs() < 1e-6 * mbps,
        "{mbps}"
    );
    // Every frame has a departure or is counted as unstamped: none disappears.
    let d = &s["departure_minus_schedule"];
    assert_eq!(
        d["count"].as_u64().unwrap() + s["unstamped"].as_u64().unwrap(),
        FRAMES as u64
    );
    let (p50, p99, p999, max) = (
        d["p50_ns"].as_u64().unwrap(),
        d["p99_ns"].as_u64().unwrap(),
        d["p999_ns"].as_u64().unwrap(),
        d["max_ns"].as_u64().unwrap(),
    );
    assert!(p50 <= p99 && p99 <= p999 && p999 <= max, "{d}");
}
