//! `ticklab gen` and `ticklab decode` as a user runs them: real processes, real
//! files, exit codes and the exact words of the errors.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use ticklab::capture::{LinkType, PcapWriter};
use ticklab::proto::{itch50, moldudp64};
use ticklab::wire::{MacAddr, UdpEndpoints, UdpFrameTemplate};
use zerocopy::IntoBytes;

fn ticklab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(args)
        .output()
        .expect("ticklab runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn gen(dir: &Path, name: &str, messages: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let o = ticklab(&[
        "gen",
        "--messages",
        &messages.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "gen failed: {}", stderr(&o));
    path
}

fn stats_json(path: &Path) -> serde_json::Value {
    let o = ticklab(&["decode", "--stats", "--json", path.to_str().unwrap()]);
    assert!(o.status.success(), "decode failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("--stats --json prints JSON")
}

#[test]
fn gen_then_decode_counts_every_message_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["feed.pcap", "feed.pcapng"] {
        let path = gen(dir.path(), name, 20_000, 3);
        let v = stats_json(&path);
        assert_eq!(v["messages"], 20_000, "{name}");
        let itch = v["protocols"]["itch50"].as_object().unwrap();
        let total: u64 = itch.values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(total, 20_000);
        assert_eq!(itch["SystemEvent"], 6);
        assert_eq!(itch["StockDirectory"], 8);
        assert!(itch["AddOrder"].as_u64().unwrap() > 5_000);
        assert_eq!(v["protocols"]["moldudp64"]["EndOfSession"], 1);
        assert_eq!(v["moldudp64_sequence"]["gaps"], 0);
    }
}

#[test]
fn same_seed_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::fs::read(gen(dir.path(), "a.pcapng", 5_000, 11)).unwrap();
    let b = std::fs::read(gen(dir.path(), "b.pcapng", 5_000, 11)).unwrap();
    let c = std::fs::read(gen(dir.path(), "c.pcapng", 5_000, 12)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn gen_to_stdout_pipes_into_decode_from_stdin() {
    let mut gen = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(["gen", "--messages", "3000", "--seed", "5", "--out", "-"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(["decode", "--stats", "--json", "-"])
        .stdin(gen.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(gen.wait().unwrap().success());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["messages"], 3000);
}

#[test]
fn lines_and_json_agree_message_for_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = gen(dir.path(), "f.pcap", 500, 2);
    let lines = stdout(&ticklab(&["decode", path.to_str().unwrap()]));
    let json = stdout(&ticklab(&["decode", "--json", path.to_str().unwrap()]));
    let lines: Vec<&str> = lines.lines().collect();
    let objects: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    // 500 ITCH messages plus the End of Session packet.
    assert_eq!(lines.len(), 501);
    assert_eq!(objects.len(), 501);
    for (line, obj) in lines.iter().zip(&objects) {
        let kind = obj["kind"].as_str().unwrap();
        assert!(
            line.contains(&format!(" {kind} ")) || line.ends_with(kind),
            "{line}"
        );
        if let Some(seq) = obj["mold_sequence"].as_u64() {
            assert!(line.contains(&format!("TICKLAB001:{seq} ")), "{line}");
        }
    }
    let first_add = objects.iter().find(|o| o["kind"] == "AddOrder").unwrap();
    assert!(first_add["price"].as_str().unwrap().contains('.'));
    assert!(first_add["stock"].as_str().is_some());
}

#[test]
fn missing_file_exits_66_naming_it() {
    let o = ticklab(&["decode", "/nonexistent/feed.pcap"]);
    assert_eq!(o.status.code(), Some(66), "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent/feed.pcap"));
}

/// Asserts exit 65 and that the message names everything it must.
fn assert_data_error(path: &Path, must_name: &[&str]) {
    let o = ticklab(&["decode", "--stats", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(65), "stderr: {err}");
    assert!(err.contains(path.to_str().unwrap()), "no file name: {err}");
    for word in must_name {
        assert!(err.contains(word), "{word:?} missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn truncated_last_record_is_an_error_not_an_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = gen(dir.path(), "t.pcap", 200, 1);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    assert_data_error(&cut, &["record", "offset", "truncated"]);
}

#[test]
fn caplen_beyond_snaplen_names_the_record_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = gen(dir.path(), "s.pcap", 50, 1);
    let mut bytes = std::fs::read(&path).unwrap();
    // Classic pcap: 24-byte file header; the first record's caplen at offset 24+8.
    bytes[32..36].copy_from_slice(&70_000u32.to_le_bytes());
    let bad = dir.path().join("bad.pcap");
    std::fs::write(&bad, &bytes).unwrap();
    assert_data_error(&bad, &["record 0", "offset 24", "caplen", "70000"]);
}

#[test]
fn pcapng_block_length_zero_names_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = gen(dir.path(), "b.pcapng", 50, 1);
    let mut bytes = std::fs::read(&path).unwrap();
    // The Section Header Block's length sits at offset 4; the IDB follows it.
    let shb_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    bytes[shb_len + 4..shb_len + 8].copy_from_slice(&0u32.to_le_bytes());
    let bad = dir.path().join("bad.pcapng");
    std::fs::write(&bad, &bytes).unwrap();
    assert_data_error(&bad, &["block 1", &format!("offset {shb_len}"), "length"]);
}

/// Writes a classic pcap holding one Ethernet frame per payload, UDP to port 26400.
fn capture_of(path: &Path, link_type: LinkType, payloads: &[&[u8]]) {
    let template = UdpFrameTemplate::new(
        &UdpEndpoints {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([1, 0, 0x5e, 0x46, 0, 1]),
            vlan: None,
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(239, 198, 0, 1),
            src_port: 26_400,
            dst_port: 26_400,
            ttl: 16,
            dscp: 0,
        },
        true,
    );
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(file, link_type, 65_535).unwrap();
    for (i, p) in payloads.iter().enumerate() {
        let mut frame = vec![0u8; template.header_len() + p.len()];
        frame[template.header_len()..].copy_from_slice(p);
        let len = template.finish(&mut frame, p.len(), i as u16).unwrap();
        w.write_packet(1_000 + i as i64, &frame[..len], len as u32)
            .unwrap();
    }
    w.finish().unwrap();
}

fn mold_packet(messages: &[&[u8]]) -> Vec<u8> {
    let mut buf = vec![0u8; 1472];
    let mut b = moldudp64::PacketBuilder::new(&mut buf, b"SESSION001", 1).unwrap();
    for m in messages {
        b.push(m).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

#[test]
fn short_itch_message_names_type_field_and_file_offset() {
    let dir = tempfile::tempdir().unwrap();
    let add = itch50::AddOrder::new(1, 0, 5, 42, b'B', 100, b"AAPL", 1_500_000);
    let event = itch50::SystemEvent::new(0, 0, 1, b'O');
    // A second packet holds an Add Order cut to 20 of its 36 bytes.
    let good = mold_packet(&[event.as_bytes()]);
    let bad = mold_packet(&[&add.as_bytes()[..20]]);
    let path = dir.path().join("short.pcap");
    capture_of(&path, LinkType::ETHERNET, &[&good, &bad]);
    // File header 24, record 0 is 16 + 42 + 34 bytes; record 1's data begins at
    // 24 + 16 + 76 + 16 = 132; the message at 132 + 42 (headers) + 20 (Mold) + 2.
    let offset = 132 + 42 + 20 + 2;
    assert_data_error(
        &path,
        &[
            "record 1",
            &format!("offset {offset}"),
            "itch50 message type 'A'",
            "needs 36 bytes, 20 present",
        ],
    );
    // The line printer says the same and prints what came before it.
    let o = ticklab(&["decode", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65));
    assert!(stdout(&o).contains("SystemEvent"));
}

#[test]
fn mold_count_the_payload_cannot_hold_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let event = itch50::SystemEvent::new(0, 0, 1, b'O');
    let good = mold_packet(&[event.as_bytes()]);
    let mut bad = good.clone();
    bad[18..20].copy_from_slice(&5u16.to_be_bytes());
    let path = dir.path().join("count.pcap");
    // The first packet makes port 26400 a MoldUDP64 feed; the second claims 5 blocks
    // and holds 1. Record 1's data starts at 24 + 16 + 76 + 16 = 132; its payload
    // ends, where the second block should begin, at 132 + 42 + 20 + 14 = 208.
    capture_of(&path, LinkType::ETHERNET, &[&good, &bad]);
    assert_data_error(
        &path,
        &[
            "record 1 at offset 208",
            "moldudp64",
            "message_count",
            "truncated",
        ],
    );
    // Named as a feed port, the first packet is already held to the format.
    let alone = dir.path().join("alone.pcap");
    capture_of(&alone, LinkType::ETHERNET, &[&bad]);
    let o = ticklab(&[
        "decode",
        "--stats",
        "--mold-port",
        "26400",
        alone.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(65), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("record 0 at offset 116"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn other_udp_that_looks_like_moldudp64_is_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // Printable first 10 bytes, like a MoldUDP64 session name, but syslog and SSDP.
    let syslog = b"<134>Nov 24 12:00:00 host app: market data gateway started".to_vec();
    let ssdp = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n".to_vec();
    let event = itch50::SystemEvent::new(0, 0, 1, b'O');
    let feed = mold_packet(&[event.as_bytes()]);
    let path = dir.path().join("noise.pcap");
    capture_of(&path, LinkType::ETHERNET, &[&syslog, &ssdp, &feed]);
    let v = stats_json(&path);
    assert_eq!(v["other"]["other_udp"], 2);
    assert_eq!(v["protocols"]["itch50"]["SystemEvent"], 1);
    assert_eq!(v["messages"], 1);
}

#[test]
fn unknown_link_type_is_refused_with_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usb.pcap");
    let mut w =
        PcapWriter::new(std::fs::File::create(&path).unwrap(), LinkType(189), 65_535).unwrap();
    w.write_packet(1, &[0u8; 64], 64).unwrap();
    w.finish().unwrap();
    assert_data_error(&path, &["record 0", "link_type", "189", "ETHERNET"]);
}

#[test]
fn bad_arguments_name_the_option() {
    let o = ticklab(&["gen", "--messages", "10", "--out", "/tmp/x.txt"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains(".pcapng or .pcap"), "{}", stderr(&o));
    let o = ticklab(&["gen", "--messages", "ten", "--out", "/tmp/x.pcap"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("--messages"), "{}", stderr(&o));
    let o = ticklab(&["decode", "--bogus", "x.pcap"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    let o = ticklab(&["decode", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Example"), "{}", stdout(&o));
    let o = ticklab(&[
        "gen",
        "--messages",
        "10",
        "--symbols",
        "lowercase",
        "--out",
        "/tmp/x.pcap",
    ]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("symbols"), "{}", stderr(&o));
}

/// One direction of a TCP connection, written as Ethernet frames into a pcap.
struct TcpSide {
    template: ticklab::wire::TcpFrameTemplate,
    seq: u32,
}

impl TcpSide {
    fn new(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, isn: u32) -> Self {
        let ep = ticklab::wire::TcpEndpoints {
            src_mac: MacAddr([2, 0, 0, 0, 0, src[3]]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, dst[3]]),
            vlan: None,
            src_ip: Ipv4Addr::from(src),
            dst_ip: Ipv4Addr::from(dst),
            src_port: sport,
            dst_port: dport,
            ttl: 64,
            dscp: 0,
        };
        TcpSide {
            template: ticklab::wire::TcpFrameTemplate::new(&ep),
            seq: isn,
        }
    }

    fn segment(&mut self, flags: ticklab::wire::TcpFlags, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; self.template.header_len() + payload.len()];
        frame[self.template.header_len()..].copy_from_slice(payload);
        let n = self
            .template
            .finish(&mut frame, payload.len(), 1, self.seq, 0, flags, 65_535)
            .unwrap();
        frame.truncate(n);
        let syn = flags.contains(ticklab::wire::TcpFlags::SYN) as u32;
        self.seq = self.seq.wrapping_add(payload.len() as u32 + syn);
        frame
    }
}

fn write_frames(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(
        std::fs::File::create(path).unwrap(),
        LinkType::ETHERNET,
        65_535,
    )
    .unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(1_000_000 + i as i64, f, f.len() as u32)
            .unwrap();
    }
    w.finish().unwrap();
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let o = ticklab(&["decode", "--json", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn soupbintcp_ouch_session_is_reassembled_and_decoded() {
    use ticklab::proto::{ouch42, soupbintcp};
    use ticklab::wire::TcpFlags;
    let ack = TcpFlags::ACK;
    let mut client = TcpSide::new([198, 18, 0, 2], [198, 18, 0, 1], 40_000, 15_000, 1_000);
    let mut server = TcpSide::new([198, 18, 0, 1], [198, 18, 0, 2], 15_000, 40_000, 9_000);
    let mut buf = [0u8; 256];
    let mut frames = vec![
        client.segment(TcpFlags::SYN, &[]),
        server.segment(TcpFlags::SYN | ack, &[]),
    ];
    let n = soupbintcp::write_login_request(&mut buf, b"USER", b"PASS", b"", 1).unwrap();
    frames.push(client.segment(ack, &buf[..n]));
    let order = ouch42::EnterOrder::new(
        b"00000000000042",
        b'B',
        300,
        b"AAPL",
        1_500_000,
        0,
        b"FIRM",
        b'Y',
        b'A',
        b'N',
        0,
        b'N',
        b'R',
    );
    let n = soupbintcp::write_unsequenced_data(&mut buf, zerocopy::IntoBytes::as_bytes(&order))
        .unwrap();
    // The order packet is split over two segments, after 10 of its bytes.
    let packet = buf[..n].to_vec();
    frames.push(client.segment(ack, &packet[..10]));
    frames.push(client.segment(ack, &packet[10..]));
    // A retransmission of the second half changes nothing.
    client.seq -= (packet.len() - 10) as u32;
    frames.push(client.segment(ack, &packet[10..]));
    let n = soupbintcp::write_server_heartbeat(&mut buf).unwrap();
    let m = soupbintcp::write_client_heartbeat(&mut buf[n..]).unwrap();
    frames.push(server.segment(ack, &buf[..n]));
    frames.push(client.segment(ack, &buf[n..n + m]));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.pcap");
    write_frames(&path, &frames);
    let lines = json_lines(&path);
    let kinds: Vec<&str> = lines.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "LoginRequest",
            "EnterOrder",
            "ServerHeartbeat",
            "ClientHeartbeat"
        ]
    );
    let order = &lines[1];
    assert_eq!(order["protocol"], "ouch42");
    assert_eq!(order["order_token"], "00000000000042");
    assert_eq!(order["stock"], "AAPL");
    assert_eq!(order["price"], "150.0000");
    assert_eq!(order["shares"], 300);
    // Named after the record that completed it, in the client's flow.
    assert_eq!(order["record"], 4);
    assert_eq!(order["flow"], "198.18.0.2:40000 -> 198.18.0.1:15000");

    let v = stats_json(&path);
    assert_eq!(v["protocols"]["ouch42"]["EnterOrder"], 1);
    assert_eq!(v["protocols"]["soupbintcp"]["UnsequencedData"], 1);
    assert_eq!(v["tcp"]["gaps"], 0);
    assert_eq!(v["messages"], 1);
}

#[test]
fn fix_stream_is_framed_across_segments_and_a_gap_is_counted() {
    use ticklab::proto::fix;
    use ticklab::wire::TcpFlags;
    let ack = TcpFlags::ACK;
    let mut client = TcpSide::new([198, 18, 0, 2], [198, 18, 0, 1], 40_001, 9_878, 5);
    let header = |seq| fix::Header {
        begin_string: "FIX.4.4",
        sender_comp_id: b"CLIENT",
        target_comp_id: b"VENUE",
        msg_seq_num: seq,
        sending_time: b"20260105-09:30:00.000",
    };
    let mut buf = [0u8; 512];
    let n = fix::write_logon(&mut buf, &header(1), 30, true).unwrap();
    let logon = buf[..n].to_vec();
    let n = fix::write_logon(&mut buf, &header(2), 30, false).unwrap();
    let second = buf[..n].to_vec();
    let frames = vec![
        client.segment(TcpFlags::SYN, &[]),
        client.segment(ack, &logon[..20]),
        client.segment(ack, &logon[20..]),
        {
            // 100 bytes never captured: the stream loses its framing.
            client.seq += 100;
            client.segment(ack, &second)
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fix.pcap");
    write_frames(&path, &frames);
    let lines = json_lines(&path);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["protocol"], "fix");
    assert_eq!(lines[0]["kind"], "Logon");
    assert_eq!(lines[0]["MsgSeqNum(34)"], "1");
    let v = stats_json(&path);
    assert_eq!(v["tcp"]["gaps"], 1);
    assert_eq!(v["tcp"]["bytes_skipped"], second.len() as u64);
}
