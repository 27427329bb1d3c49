//! Files written by ticklab's capture writers, read by the real tools: tcpdump and
//! tshark must read our pcap and pcapng files and agree, to the nanosecond, with what
//! we wrote; tshark's `metamako` and `exablaze` dissectors must decode the trailers
//! our builders append to the same values our parsers read.
//!
//! These tests need tcpdump and tshark on the PATH. A missing tool is a failure that
//! names it and the package (`apt-get install tshark tcpdump`), never a skip: a lab
//! machine without them cannot vouch for the files ticklab writes.
//!
//! ```text
//! cargo test --test capture_tools
//! ```

use std::path::Path;
use std::process::Command;

use ticklab::capture::trailer::{
    metamako_extension_word, parse_exablaze, parse_metamako, ExablazeTrailer, MetamakoTrailer,
};
use ticklab::capture::{
    CaptureReader, CaptureWriter, Direction, InterfaceDescription, LinkType, PcapngWriter,
};

/// Runs `tool args...` and returns its stdout, failing the test when the tool is
/// missing or exits with an error.
fn run(tool: &str, args: &[&str]) -> String {
    let output = match Command::new(tool).args(args).env("TZ", "UTC").output() {
        Ok(output) => output,
        Err(e) => panic!(
            "{tool} could not be run ({e}); these tests need tcpdump and tshark: apt-get install tshark tcpdump"
        ),
    };
    assert!(
        output.status.success(),
        "{tool} {args:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet II + IPv4 + UDP (checksum 0 = none) carrying `payload`, 10.0.0.1:1234 to
/// 10.0.0.2:5678.
fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = 20 + 8 + payload.len() as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let checksum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    f.extend(ip);
    f.extend(1234u16.to_be_bytes());
    f.extend(5678u16.to_be_bytes());
    f.extend((8 + payload.len() as u16).to_be_bytes());
    f.extend([0, 0]);
    f.extend_from_slice(payload);
    f
}

fn epoch(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// (timestamp, frame, original length): the second is cut by a 60-byte snap length.
fn packets() -> Vec<(i64, Vec<u8>, u32)> {
    let a = udp_frame(b"hello, exchange");
    let b = udp_frame(&[7u8; 100]);
    let c = udp_frame(b"");
    let (la, lb, lc) = (a.len() as u32, b.len() as u32, c.len() as u32);
    vec![
        (1_700_000_000_123_456_789, a, la),
        (1_700_000_000_999_999_999, b, lb),
        (1_700_000_001_000_000_001, c, lc + 4),
    ]
}

fn write_capture(path: &Path) {
    let mut writer = CaptureWriter::create(path, LinkType::ETHERNET, 60).unwrap();
    for (i, (ts, frame, orig)) in packets().iter().enumerate() {
        let direction = [Some(Direction::Inbound), Some(Direction::Outbound), None][i];
        writer.write_packet(*ts, frame, *orig, direction).unwrap();
    }
    writer.finish().unwrap();
}

fn check_tcpdump(path: &Path) {
    let out = run(
        "tcpdump",
        &[
            "-nn",
            "-tt",
            "--time-stamp-precision=nano",
            "-r",
            path.to_str().unwrap(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    let expected: Vec<String> = packets()
        .iter()
        .map(|(ts, frame, _)| {
            format!(
                "{} IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length {}",
                epoch(*ts),
                frame.len() - 42
            )
        })
        .collect();
    assert_eq!(lines, expected, "tcpdump output:\n{out}");
}

fn check_tshark(path: &Path, with_direction: bool) {
    let mut args = vec![
        "-r",
        path.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
        "-e",
        "frame.len",
        "-e",
        "frame.cap_len",
    ];
    if with_direction {
        args.extend([
            "-e",
            "frame.interface_id",
            "-e",
            "frame.packet_flags_direction",
        ]);
    }
    let out = run("tshark", &args);
    let lines: Vec<&str> = out.lines().collect();
    let directions = ["0x00000001", "0x00000002", ""];
    let expected: Vec<String> = packets()
        .iter()
        .enumerate()
        .map(|(i, (ts, frame, orig))| {
            let mut line = format!("{}\t{}\t{}", epoch(*ts), orig, frame.len().min(60));
            if with_direction {
                line.push_str(&format!("\t0\t{}", directions[i]));
            }
            line
        })
        .collect();
    assert_eq!(lines, expected, "tshark output:\n{out}");
}

#[test]
fn tools_read_our_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.pcap");
    write_capture(&path);
    check_tcpdump(&path);
    check_tshark(&path, false);
}

#[test]
fn tools_read_our_pcapng_with_directions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.pcapng");
    write_capture(&path);
    check_tcpdump(&path);
    check_tshark(&path, true);
}

#[test]
fn tshark_sees_our_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multi.pcapng");
    let interfaces = [
        InterfaceDescription {
            link_type: LinkType::ETHERNET,
            snap_len: 0,
            name: Some("feed-a".into()),
        },
        InterfaceDescription {
            link_type: LinkType::RAW,
            snap_len: 0,
            name: Some("feed-b".into()),
        },
    ];
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = PcapngWriter::new(std::io::BufWriter::new(file), &interfaces).unwrap();
    let frame = udp_frame(b"abc");
    writer
        .write_packet(
            0,
            1_600_000_000_000_000_000,
            &frame,
            frame.len() as u32,
            Some(Direction::Inbound),
        )
        .unwrap();
    writer
        .write_packet(
            1,
            1_600_000_000_000_000_002,
            &frame[14..],
            frame.len() as u32 - 14,
            Some(Direction::Outbound),
        )
        .unwrap();
    writer.finish().unwrap();
    let out = run(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.interface_id",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.packet_flags_direction",
            "-e",
            "udp.length",
        ],
    );
    assert_eq!(
        out,
        "1600000000.000000000\t0\tfeed-a\t0x00000001\t11\n1600000000.000000002\t1\tfeed-b\t0x00000002\t11\n"
    );

    // And our reader agrees.
    let mut reader = CaptureReader::open(&path).unwrap();
    let p = reader.next_packet().unwrap().unwrap();
    assert_eq!(
        (p.interface, p.link_type, p.direction),
        (0, LinkType::ETHERNET, Some(Direction::Inbound))
    );
    let p = reader.next_packet().unwrap().unwrap();
    assert_eq!(
        (p.interface, p.link_type, p.timestamp_ns),
        (1, LinkType::RAW, 1_600_000_000_000_000_002)
    );
    assert!(reader.next_packet().unwrap().is_none());
}

/// Capture time of the trailer frames; the trailers' own timestamps lie within the
/// dissectors' plausibility windows (Metamako 30 days, Exablaze one week) of it.
const CAPTURE_TS: i64 = 1_700_000_000_000_000_000;

struct MetamakoCase {
    seconds: u32,
    nanoseconds: u32,
    device_id: u16,
    port_id: u8,
    fcs: u32,
    sequence: Option<u16>,
}

fn metamako_cases() -> Vec<MetamakoCase> {
    vec![
        MetamakoCase {
            seconds: 1_700_000_000,
            nanoseconds: 123_456_789,
            device_id: 513,
            port_id: 7,
            fcs: 0xdead_beef,
            sequence: None,
        },
        MetamakoCase {
            seconds: 1_700_000_100,
            nanoseconds: 999_999_999,
            device_id: 65535,
            port_id: 255,
            fcs: 0x0102_0304,
            sequence: Some(4660),
        },
    ]
}

fn write_trailer_capture(path: &Path, frames: &[Vec<u8>]) {
    let mut writer = CaptureWriter::create(path, LinkType::ETHERNET, 0).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        writer
            .write_packet(CAPTURE_TS + i as i64, frame, frame.len() as u32, None)
            .unwrap();
    }
    writer.finish().unwrap();
}

/// Wireshark's rendering of an absolute time in UTC ("Nov 14, 2023 22:13:20.123456789
/// UTC"), computed from the civil calendar (days-from-epoch to year/month/day).
fn wireshark_utc(seconds: u32, nanos: u32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = i64::from(seconds) / 86_400;
    let secs_of_day = i64::from(seconds) % 86_400;
    // Civil-from-days over 400-year eras, March-based years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {:2}, {} {:02}:{:02}:{:02}.{:09} UTC",
        MONTHS[(month - 1) as usize],
        day,
        year,
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60,
        nanos
    )
}

#[test]
fn wireshark_utc_rendering() {
    assert_eq!(
        wireshark_utc(1_700_000_000, 123_456_789),
        "Nov 14, 2023 22:13:20.123456789 UTC"
    );
    assert_eq!(
        wireshark_utc(951_782_400, 5),
        "Feb 29, 2000 00:00:00.000000005 UTC"
    );
}

/// Frames as our reader returns them from `path`.
fn frames_read_back(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet().unwrap() {
        frames.push(packet.data.to_vec());
    }
    frames
}

#[test]
fn tshark_metamako_dissector_agrees_with_our_parser() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metamako.pcap");
    let mut frames = Vec::new();
    for case in metamako_cases() {
        let extensions: Vec<u8> = case
            .sequence
            .map(|s| metamako_extension_word(0, u32::from(s), 0, true).to_vec())
            .unwrap_or_default();
        let trailer = MetamakoTrailer {
            original_fcs: case.fcs,
            extensions: &extensions,
            seconds: case.seconds,
            nanoseconds: case.nanoseconds,
            flags: 0x01,
            device_id: case.device_id,
            port_id: case.port_id,
        };
        let mut frame = udp_frame(b"metamako payload");
        trailer.append_to(&mut frame);
        frames.push(frame);
    }
    write_trailer_capture(&path, &frames);

    // The heuristic trailer dissector is off by default; nothing else is needed
    // (eth.assume_fcs must stay FALSE: our frames carry no FCS after the trailer).
    let out = run(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "--enable-heuristic",
            "metamako_eth",
            "-T",
            "fields",
            "-e",
            "metamako.time",
            "-e",
            "metamako.srcdevice",
            "-e",
            "metamako.srcport",
            "-e",
            "metamako.orig_fcs",
            "-e",
            "metamako.seqnum",
            "-e",
            "metamako.flags",
        ],
    );
    let ours: Vec<String> = frames_read_back(&path)
        .iter()
        .map(|frame| {
            let t = parse_metamako(frame).expect("our parser finds the trailer");
            assert_eq!(
                t.payload_len(frame.len()),
                udp_frame(b"metamako payload").len()
            );
            format!(
                "{}\t{}\t{}\t{:#010x}\t{}\t{:#04x}",
                wireshark_utc(t.seconds, t.nanoseconds),
                t.device_id,
                t.port_id,
                t.original_fcs,
                t.sequence_number()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                t.flags
            )
        })
        .collect();
    assert_eq!(
        ours,
        [
            "Nov 14, 2023 22:13:20.123456789 UTC\t513\t7\t0xdeadbeef\t\t0x01",
            "Nov 14, 2023 22:15:00.999999999 UTC\t65535\t255\t0x01020304\t4660\t0x03",
        ]
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ours,
        "tshark output:\n{out}"
    );
}

#[test]
fn tshark_exablaze_dissector_agrees_with_our_parser() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exablaze.pcap");
    let mut frames = Vec::new();
    let cases = [
        (1_700_000_000u32, 123_456_789u32, 3u8, 12u8),
        (1_700_000_500, 1, 255, 0),
        (1_699_999_000, 999_999_999, 0, 99),
    ];
    for (seconds, nanos, device, port) in cases {
        let trailer = ExablazeTrailer {
            original_fcs: 0xcafe_babe,
            device_id: device,
            port_id: port,
            seconds,
            fraction: ExablazeTrailer::fraction_for_nanos(nanos),
            reserved: 0,
        };
        let mut frame = udp_frame(b"exablaze payload");
        frame.extend_from_slice(&trailer.to_bytes());
        frames.push(frame);
    }
    write_trailer_capture(&path, &frames);

    let out = run(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "--enable-heuristic",
            "exablaze_eth",
            "-T",
            "fields",
            "-e",
            "exablaze.timestamp",
            "-e",
            "exablaze.timestamp.seconds",
            "-e",
            "exablaze.device",
            "-e",
            "exablaze.port",
            "-e",
            "exablaze.original_fcs",
            "-e",
            "exablaze.timestamp.fractional_seconds",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    let frames = frames_read_back(&path);
    assert_eq!(lines.len(), cases.len(), "tshark output:\n{out}");
    for ((line, frame), (seconds, nanos, device, port)) in lines.iter().zip(&frames).zip(cases) {
        let t = parse_exablaze(frame).expect("our parser finds the trailer");
        assert_eq!(
            (t.seconds, t.nanoseconds(), t.device_id, t.port_id),
            (seconds, nanos, device, port)
        );
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields[..5],
            [
                wireshark_utc(t.seconds, t.nanoseconds()).as_str(),
                t.seconds.to_string().as_str(),
                t.device_id.to_string().as_str(),
                t.port_id.to_string().as_str(),
                format!("{:#010x}", t.original_fcs).as_str(),
            ],
            "tshark line: {line}"
        );
        // tshark shows the 40-bit fraction as a double; ours, exactly, must match it
        // to well under a picosecond.
        let theirs: f64 = fields[5].parse().unwrap();
        let ours_ns = f64::from(t.nanoseconds()) + t.fractional_ns();
        assert!(
            (theirs * 1e9 - ours_ns).abs() < 1e-3,
            "{theirs} s vs {ours_ns} ns"
        );
    }
}

/// Streams a capture many times larger than the reader's buffer: every packet comes
/// out, in order, with its timestamp and direction. (How fast is a benchmark's
/// question, not a test's: `lab-scripts/bench decode` measures it against `cat`.)
#[test]
fn large_capture_streams_through_a_small_buffer() {
    let megabytes: usize = 24;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.pcapng");
    let frame_sizes = [60usize, 128, 342, 1514];
    let mut writer = CaptureWriter::create(&path, LinkType::ETHERNET, 0).unwrap();
    let payload = vec![0x5au8; 1514];
    let (mut written, mut count, mut expected_bytes) = (0usize, 0u64, 0u64);
    while written < megabytes << 20 {
        let len = frame_sizes[count as usize % frame_sizes.len()];
        let dir = if count % 3 == 0 {
            Some(Direction::Inbound)
        } else {
            None
        };
        writer
            .write_packet(CAPTURE_TS + count as i64, &payload[..len], len as u32, dir)
            .unwrap();
        written += 32 + len.next_multiple_of(4);
        count += 1;
        expected_bytes += len as u64;
    }
    writer.finish().unwrap();

    let mut reader = CaptureReader::open(&path).unwrap();
    let (mut packets, mut bytes, mut last_ts, mut inbound) = (0u64, 0u64, 0i64, 0u64);
    while let Some(p) = reader.next_packet().unwrap() {
        assert_eq!(p.timestamp_ns, CAPTURE_TS + packets as i64);
        packets += 1;
        bytes += p.data.len() as u64;
        last_ts = p.timestamp_ns;
        inbound += u64::from(p.direction == Some(Direction::Inbound));
    }
    assert_eq!(
        (packets, bytes, last_ts),
        (count, expected_bytes, CAPTURE_TS + count as i64 - 1)
    );
    assert_eq!(inbound, count.div_ceil(3));
}
