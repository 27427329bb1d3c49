//! Our exchange-protocol wire formats, checked by an independent dissector: frames
//! built with ticklab's builders are written to a pcap, tshark decodes them, and every
//! field tshark shows must equal, in value, in byte offset and in raw bytes, what
//! ticklab's own views read back from the same bytes.
//!
//! The tshark 4.0 options each protocol needs:
//! - MoldUDP64: `-d udp.port==26400,moldudp64` (the dissector has no heuristic); to
//!   hand its message blocks to ITCH, `-d moldudp64.payload,nasdaq_itch` (the
//!   `moldudp64.payload` table is FT_NONE, so it takes no `==selector`).
//! - SoupBinTCP: `-d tcp.port==15000,soupbintcp`; OUCH comes from the `ouch`
//!   heuristic on SoupBinTCP payloads (enabled by default).
//! - FIX: nothing; the `fix` heuristic on TCP recognises `8=FIX`.
//! - every run: `-o tcp.desegment_tcp_streams:TRUE` (the default, stated so a user
//!   preference cannot change it) and the IPv4/UDP/TCP checksum checks on, so tshark
//!   also vouches for the checksums our frame templates compute.
//!
//! What tshark 4.0 cannot check, and why:
//! - ITCH 5.0 fields. Wireshark 4.0's `nasdaq_itch` dissector is the TotalView-ITCH
//!   2.0/3.0 one (ASCII numeric fields, 6-character stock, no locate/tracking/6-byte
//!   timestamp; it labels every message "Nasdaq TotalView-ITCH 3.0"). On a 5.0
//!   message only the type byte at offset 0 is read at the right place: an Add
//!   Order's "order_reference" is bytes 1..10 read as ASCII digits (our binary
//!   locate, tracking and timestamp), its "stock" bytes 17..23, its "price" 23..33.
//!   So for ITCH we assert the message type, the block framing around each message
//!   (MoldUDP64 length, sequence, offset) and the raw message bytes tshark delivers,
//!   and a canary asserts tshark still says version 3: a Wireshark that learns 5.0
//!   will fail it, telling us to assert the fields too.
//! - OUCH 5.0. Wireshark 4.0's `ouch` dissector knows OUCH 4.x only; its heuristic
//!   does not claim our 5.0 messages, so we check their SoupBinTCP envelope and that
//!   `soupbintcp.message` carries exactly our bytes.
//! - SoupBinTCP and MoldUDP64 quirks of tshark, not of our bytes: tshark shows the
//!   20-byte numeric sequence fields only in the display text (the field value is
//!   the placeholder "X"), and flags an End of Session packet with the "Number of
//!   Requested Messages" comment (its code tests `count > 0` before End of Session).
//!
//! These tests need tshark. Its absence is a failure that says
//! `apt-get install tshark`, never a skip.
//!
//! ```text
//! cargo test --test tshark_protocols
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ticklab::capture::{CaptureWriter, LinkType};
use ticklab::feed::frames::{default_endpoints, FrameSource};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
use ticklab::proto::{fix, itch50, moldudp64, ouch42, ouch50, soupbintcp};
use ticklab::wire::{
    dissect_ethernet, multicast_mac, MacAddr, TcpEndpoints, TcpFlags, TcpFrameTemplate, Transport,
    UdpEndpoints, UdpFrameTemplate,
};

// ---------------------------------------------------------------------------
// Running tshark and reading its PDML
// ---------------------------------------------------------------------------

/// Options on every run: reassembly as in a default install, and checksum checks on.
const COMMON_OPTIONS: &[&str] = &[
    "-o",
    "tcp.desegment_tcp_streams:TRUE",
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
    "-o",
    "tcp.check_checksum:TRUE",
];

/// One field of tshark's tree. `pos` is from the start of the data source (the
/// frame, or a reassembled PDU), so offsets are compared relative to the
/// enclosing protocol's `pos`.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    /// The value as text (what `-T fields` prints).
    show: String,
    /// The display line, `Label: text`.
    showname: String,
    /// The covered bytes, lowercase hex; empty for generated and FT_NONE fields.
    value: String,
    pos: usize,
    size: usize,
    /// Expert information (`_ws.*`) or inside it: tshark's comments, not fields
    /// of the protocol.
    expert: bool,
}

impl Field {
    /// The display text after the label (`"1"` from `"Next sequence number: 1"`).
    fn display(&self) -> &str {
        self.showname.split_once(": ").map_or("", |(_, text)| text)
    }
}

/// One protocol layer of a packet, with the fields directly inside it (nested
/// fields flattened in document order; nested protocols are separate entries).
#[derive(Debug, Clone)]
struct Proto {
    name: String,
    pos: usize,
    size: usize,
    fields: Vec<Field>,
}

impl Proto {
    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn show(&self, name: &str) -> Option<&str> {
        self.field(name).map(|f| f.show.as_str())
    }
}

#[derive(Debug, Clone, Default)]
struct Packet {
    number: usize,
    /// In document order: an enclosing protocol comes before those nested in it.
    protos: Vec<Proto>,
}

impl Packet {
    fn protos<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Proto> + 'a {
        self.protos.iter().filter(move |p| p.name == name)
    }

    fn all_fields<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.protos
            .iter()
            .flat_map(|p| p.fields.iter())
            .filter(move |f| f.name == name)
    }
}

/// Runs `tshark -T pdml` on `capture` with `options` and returns one entry per
/// frame. Fails, naming the package, when tshark is not installed; prints tshark's
/// stderr when it exits with an error.
fn tshark(capture: &Path, options: &[&str]) -> Vec<Packet> {
    // An empty configuration directory: a user's Decode As entries or preferences
    // cannot change what these tests see.
    let config = tempfile::tempdir().expect("temporary directory");
    let mut args: Vec<&str> = vec!["-n", "-r", capture.to_str().expect("UTF-8 path")];
    args.extend_from_slice(COMMON_OPTIONS);
    args.extend_from_slice(options);
    args.extend_from_slice(&["-T", "pdml"]);
    let output = match Command::new("tshark")
        .args(&args)
        .env("WIRESHARK_CONFIG_DIR", config.path())
        .env("TZ", "UTC")
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            panic!("tshark could not be run ({e}); these tests need it: apt-get install tshark")
        }
    };
    assert!(
        output.status.success(),
        "tshark {args:?} failed with {}:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let pdml = String::from_utf8(output.stdout).expect("tshark writes UTF-8 PDML");
    let packets = parse_pdml(&pdml);
    assert!(
        !packets.is_empty(),
        "tshark {args:?} printed no packets; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    packets
}

/// Reads the PDML tshark writes: one element per line, `<packet>` / `<proto ...>` /
/// `<field .../>`, attributes XML-escaped.
fn parse_pdml(pdml: &str) -> Vec<Packet> {
    let mut packets: Vec<Packet> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    // For each open <field>: whether it is expert information.
    let mut open_fields: Vec<bool> = Vec::new();
    for line in pdml.lines().map(str::trim_start) {
        if line.starts_with("<packet>") {
            packets.push(Packet::default());
            open.clear();
            open_fields.clear();
        } else if line.starts_with("<proto ") {
            let packet = packets.last_mut().expect("<proto> inside <packet>");
            packet.protos.push(Proto {
                name: attr(line, "name"),
                pos: attr(line, "pos").parse().unwrap_or(0),
                size: attr(line, "size").parse().unwrap_or(0),
                fields: Vec::new(),
            });
            if !line.ends_with("/>") {
                open.push(packet.protos.len() - 1);
            }
        } else if line.starts_with("</proto>") {
            open.pop();
        } else if line.starts_with("</field>") {
            open_fields.pop();
        } else if line.starts_with("<field ") {
            let packet = packets.last_mut().expect("<field> inside <packet>");
            let name = attr(line, "name");
            let expert = name.starts_with("_ws.") || open_fields.last() == Some(&true);
            if !line.ends_with("/>") {
                open_fields.push(expert);
            }
            let field = Field {
                expert,
                name,
                show: attr(line, "show"),
                showname: attr(line, "showname"),
                value: attr(line, "value"),
                pos: attr(line, "pos").parse().unwrap_or(0),
                size: attr(line, "size").parse().unwrap_or(0),
            };
            if field.name == "frame.number" {
                packet.number = field.show.parse().expect("frame.number is a number");
            }
            if let Some(&proto) = open.last() {
                packet.protos[proto].fields.push(field);
            }
        }
    }
    packets
}

/// The unescaped value of attribute `key` in one PDML element, or "".
fn attr(element: &str, key: &str) -> String {
    let marker = format!(" {key}=\"");
    let Some(start) = element.find(&marker).map(|i| i + marker.len()) else {
        return String::new();
    };
    let end = element[start..]
        .find('"')
        .map_or(element.len(), |i| start + i);
    unescape_xml(&element[start..end])
}

fn unescape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';') else {
            out.push_str(&rest[amp..]);
            return out;
        };
        let entity = &after[..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[amp..amp + 2 + semi]),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

/// tshark must find every IPv4, UDP and TCP checksum we computed good (status 1).
fn assert_checksums_good(packets: &[Packet]) {
    for p in packets {
        for name in [
            "ip.checksum.status",
            "udp.checksum.status",
            "tcp.checksum.status",
        ] {
            for f in p.all_fields(name) {
                assert_eq!(f.show, "1", "frame {}: {name} is {}", p.number, f.showname);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Field-by-field comparison
// ---------------------------------------------------------------------------

/// How a field's text is compared.
#[derive(Debug, Clone, PartialEq)]
enum Text {
    /// Against `show`, the field's value.
    Show(String),
    /// Against the display text after the label (for fields whose value tshark
    /// leaves as a placeholder).
    Display(String),
    /// Not compared (FT_NONE containers).
    Skip,
}

/// One field as tshark must show it: name, text, and the bytes it covers, given as
/// an offset and length into the message (`len` 0: a generated field).
#[derive(Debug, Clone)]
struct Expect {
    name: String,
    text: Text,
    at: usize,
    len: usize,
}

/// Builds the expected fields of one message in wire order; offsets advance by
/// each field's width, so they are the specification's layout, not tshark's.
struct Layout<'m> {
    message: &'m [u8],
    at: usize,
    fields: Vec<Expect>,
}

impl<'m> Layout<'m> {
    fn new(message: &'m [u8]) -> Self {
        Layout {
            message,
            at: 0,
            fields: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, text: Text, len: usize) -> &mut Self {
        self.fields.push(Expect {
            name: name.to_string(),
            text,
            at: self.at,
            len,
        });
        self.at += len;
        self
    }

    /// A one-byte code, shown by tshark as `'B'`.
    fn code(&mut self, name: &str, value: u8) -> &mut Self {
        self.push(name, Text::Show(char_show(value)), 1)
    }

    /// Text `width` bytes wide; `value` is what our view returns (trimmed or not),
    /// tshark shows it as on the wire, space padded.
    fn alpha(&mut self, name: &str, value: &[u8], width: usize) -> &mut Self {
        let text = format!("{:<width$}", String::from_utf8_lossy(value));
        self.push(name, Text::Show(text), width)
    }

    fn uint(&mut self, name: &str, value: u64, width: usize) -> &mut Self {
        self.push(name, Text::Show(value.to_string()), width)
    }

    fn display(&mut self, name: &str, text: String, width: usize) -> &mut Self {
        self.push(name, Text::Display(text), width)
    }

    /// A generated field (covers no bytes) at the current offset.
    fn generated(&mut self, name: &str, text: Text) -> &mut Self {
        self.push(name, text, 0)
    }

    fn done(&mut self) -> Vec<Expect> {
        assert_eq!(
            self.at,
            self.message.len(),
            "expected layout covers {} of {} message bytes",
            self.at,
            self.message.len()
        );
        std::mem::take(&mut self.fields)
    }
}

/// Compares the fields of `proto` (skipping tshark's `_ws.*` expert entries) with
/// `expected`: same names in the same order, same text, same offset from the start
/// of the layer, and tshark's raw bytes equal to ours.
fn assert_fields(proto: &Proto, message: &[u8], expected: &[Expect], context: &str) {
    let got: Vec<&Field> = proto.fields.iter().filter(|f| !f.expert).collect();
    let got_names: Vec<&str> = got.iter().map(|f| f.name.as_str()).collect();
    let want_names: Vec<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(got_names, want_names, "{context}: field names");
    for (f, e) in got.iter().zip(expected) {
        match &e.text {
            Text::Show(s) => assert_eq!(&f.show, s, "{context}: {} text", e.name),
            Text::Display(s) => assert_eq!(f.display(), s, "{context}: {} display", e.name),
            Text::Skip => {}
        }
        assert_eq!(
            f.pos - proto.pos,
            e.at,
            "{context}: {} offset in {}",
            e.name,
            proto.name
        );
        assert_eq!(f.size, e.len, "{context}: {} size", e.name);
        if e.len > 0 && !f.value.is_empty() {
            assert_eq!(
                f.value,
                hex(&message[e.at..e.at + e.len]),
                "{context}: {} bytes",
                e.name
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn char_show(b: u8) -> String {
    format!("'{}'", b as char)
}

/// tshark's OUCH timestamp text: `H:MM:SS.nnnnnnnnn` since midnight.
fn time_of_day(ns: u64) -> String {
    let (s, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    format!("{}:{:02}:{:02}.{frac:09}", s / 3600, s / 60 % 60, s % 60)
}

// ---------------------------------------------------------------------------
// Captures and frames
// ---------------------------------------------------------------------------

/// Frames being collected for one capture file, numbered from 1 as tshark does.
#[derive(Default)]
struct Capture {
    frames: Vec<Vec<u8>>,
}

impl Capture {
    fn push(&mut self, frame: Vec<u8>) -> usize {
        self.frames.push(frame);
        self.frames.len()
    }

    /// Writes the frames 1 µs apart into `dir/name` (pcap with ns timestamps).
    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        let mut writer = CaptureWriter::create(&path, LinkType::ETHERNET, 65_535).unwrap();
        for (i, frame) in self.frames.iter().enumerate() {
            let ts = 1_767_605_400_000_000_000 + i as i64 * 1_000;
            writer
                .write_packet(ts, frame, frame.len() as u32, None)
                .unwrap();
        }
        writer.finish().unwrap();
        path
    }
}

fn udp_template(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> UdpFrameTemplate {
    let dst_mac = if dst.is_multicast() {
        multicast_mac(dst)
    } else {
        MacAddr([0x02, 0, 0, 0, 0, 0x10])
    };
    UdpFrameTemplate::new(
        &UdpEndpoints {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x20]),
            dst_mac,
            vlan: None,
            src_ip: src,
            dst_ip: dst,
            src_port,
            dst_port,
            ttl: 16,
            dscp: 0,
        },
        true,
    )
}

/// A UDP frame carrying whatever `write` puts at the payload position.
fn udp_frame(
    template: &UdpFrameTemplate,
    ip_id: u16,
    write: impl FnOnce(&mut [u8]) -> usize,
) -> Vec<u8> {
    let mut frame = vec![0u8; 1514];
    let hl = template.header_len();
    let n = write(&mut frame[hl..]);
    let len = template.finish(&mut frame, n, ip_id).unwrap();
    frame.truncate(len);
    frame
}

/// One TCP connection, client 10.0.0.1 to server 10.0.0.2, with correct sequence
/// and acknowledgement numbers in both directions.
struct TcpSession {
    client: TcpFrameTemplate,
    server: TcpFrameTemplate,
    client_next: u32,
    server_next: u32,
    ip_id: u16,
}

impl TcpSession {
    /// SYN, SYN-ACK, ACK.
    fn open(capture: &mut Capture, client_port: u16, server_port: u16) -> Self {
        let client = TcpEndpoints {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([0x02, 0, 0, 0, 0, 2]),
            vlan: None,
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            src_port: client_port,
            dst_port: server_port,
            ttl: 64,
            dscp: 0,
        };
        let server = TcpEndpoints {
            src_mac: client.dst_mac,
            dst_mac: client.src_mac,
            src_ip: client.dst_ip,
            dst_ip: client.src_ip,
            src_port: server_port,
            dst_port: client_port,
            ..client
        };
        let mut session = TcpSession {
            client: TcpFrameTemplate::new(&client),
            server: TcpFrameTemplate::new(&server),
            // Different per connection, and the server's near the 2^32 wrap.
            client_next: 1_000 * u32::from(client_port),
            server_next: u32::MAX - 40,
            ip_id: 0,
        };
        session.segment(capture, true, &[], TcpFlags::SYN);
        session.client_next = session.client_next.wrapping_add(1);
        session.segment(capture, false, &[], TcpFlags::SYN | TcpFlags::ACK);
        session.server_next = session.server_next.wrapping_add(1);
        session.segment(capture, true, &[], TcpFlags::ACK);
        session
    }

    fn segment(
        &mut self,
        capture: &mut Capture,
        from_client: bool,
        payload: &[u8],
        flags: TcpFlags,
    ) -> usize {
        let (template, seq, ack) = if from_client {
            (&self.client, self.client_next, self.server_next)
        } else {
            (&self.server, self.server_next, self.client_next)
        };
        let ack = if flags.contains(TcpFlags::ACK) {
            ack
        } else {
            0
        };
        let hl = template.header_len();
        let mut frame = vec![0u8; hl + payload.len()];
        frame[hl..].copy_from_slice(payload);
        self.ip_id = self.ip_id.wrapping_add(1);
        let len = template
            .finish(
                &mut frame,
                payload.len(),
                self.ip_id,
                seq,
                ack,
                flags,
                65_535,
            )
            .unwrap();
        assert_eq!(len, frame.len());
        let next = seq.wrapping_add(payload.len() as u32);
        if from_client {
            self.client_next = next;
        } else {
            self.server_next = next;
        }
        capture.push(frame)
    }

    fn client_sends(&mut self, capture: &mut Capture, payload: &[u8]) -> usize {
        self.segment(capture, true, payload, TcpFlags::PSH | TcpFlags::ACK)
    }

    fn server_sends(&mut self, capture: &mut Capture, payload: &[u8]) -> usize {
        self.segment(capture, false, payload, TcpFlags::PSH | TcpFlags::ACK)
    }
}

/// The TCP payload of every frame of a capture, by our own dissector, keyed by
/// frame number: `(from the port, to the port, payload)`.
fn tcp_payloads(capture: &Capture) -> Vec<(usize, u16, u16, Vec<u8>)> {
    capture
        .frames
        .iter()
        .enumerate()
        .filter_map(|(i, frame)| {
            match dissect_ethernet(frame)
                .expect("our frame dissects")
                .transport
            {
                Transport::Tcp {
                    src_port,
                    dst_port,
                    payload,
                    ..
                } if !payload.is_empty() => Some((i + 1, src_port, dst_port, payload.to_vec())),
                _ => None,
            }
        })
        .collect()
}

/// Runs `cut` over each direction's byte stream as our decoder would, and returns
/// every message with the frame that completed it and its direction:
/// `(frame number, from_client, message bytes)`.
fn cut_streams(
    capture: &Capture,
    server_port: u16,
    cut: impl Fn(&[u8]) -> Option<usize>,
) -> Vec<(usize, bool, Vec<u8>)> {
    let mut streams: BTreeMap<(u16, u16), Vec<u8>> = BTreeMap::new();
    let mut out = Vec::new();
    for (number, src, dst, payload) in tcp_payloads(capture) {
        if src != server_port && dst != server_port {
            continue;
        }
        let stream = streams.entry((src, dst)).or_default();
        stream.extend_from_slice(&payload);
        while let Some(used) = cut(stream) {
            out.push((number, dst == server_port, stream[..used].to_vec()));
            stream.drain(..used);
        }
    }
    for ((src, dst), rest) in streams {
        assert!(
            rest.is_empty(),
            "stream {src}->{dst} ends with {} unframed bytes",
            rest.len()
        );
    }
    out
}

/// A SoupBinTCP builder's output as a Vec.
fn soup(write: impl FnOnce(&mut [u8]) -> Result<usize, ticklab::proto::Error>) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = write(&mut buf).expect("SoupBinTCP packet fits");
    buf.truncate(n);
    buf
}

/// Sequenced / Unsequenced Data carrying one OUCH message.
fn soup_data(sequenced: bool, message: &[u8]) -> Vec<u8> {
    soup(|b| {
        if sequenced {
            soupbintcp::write_sequenced_data(b, message)
        } else {
            soupbintcp::write_unsequenced_data(b, message)
        }
    })
}

fn ouch42_bytes<T: ouch42::OuchMessage>(msg: &T) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let n = ouch42::write(msg, &mut buf).expect("OUCH 4.2 message fits");
    buf[..n].to_vec()
}

// ---------------------------------------------------------------------------
// MoldUDP64 + ITCH 5.0
// ---------------------------------------------------------------------------

const MOLD_PORT: u16 = 26_400;
const MOLD_REQUEST_PORT: u16 = 26_401;
const MOLD_SESSION: &[u8; 10] = b"TLAB01    ";

fn itch_bytes<M: zerocopy::IntoBytes + zerocopy::Immutable>(m: &M) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = itch50::write_into(m, &mut buf).expect("64 bytes hold any ITCH message");
    buf[..n].to_vec()
}

/// A MoldUDP64 downstream packet of `messages` from `first_seq`.
fn mold_packet(buf: &mut [u8], first_seq: u64, messages: &[Vec<u8>]) -> usize {
    let mut b = moldudp64::PacketBuilder::new(buf, MOLD_SESSION, first_seq).unwrap();
    for m in messages {
        b.push(m).unwrap();
    }
    b.finish()
}

/// The MoldUDP64 fields tshark must show for a downstream packet, from our view.
/// With `itch`, tshark hands each block to `nasdaq_itch` and shows no payload.
fn mold_expect(packet: &moldudp64::Packet<&[u8]>, itch: bool) -> Vec<Expect> {
    let wire = packet.into_inner();
    let mut layout = Layout::new(wire);
    layout
        .alpha("moldudp64.session", packet.session(), 10)
        .uint("moldudp64.sequence", packet.sequence(), 8)
        .uint("moldudp64.count", u64::from(packet.count()), 2);
    for (seq, message) in packet.messages() {
        let block_at = layout.at;
        layout.push("moldudp64.msgblock", Text::Skip, 0);
        layout.fields.last_mut().unwrap().len = 2 + message.len();
        layout
            .generated("moldudp64.msgseq", Text::Show(seq.to_string()))
            .uint("moldudp64.msglen", message.len() as u64, 2);
        if itch {
            layout.at += message.len();
        } else {
            layout.push("moldudp64.msgdata", Text::Skip, message.len());
        }
        assert_eq!(layout.at, block_at + 2 + message.len());
    }
    layout.done()
}

/// Checks one frame's MoldUDP64 layer (and, with `itch`, its `nasdaq_itch`
/// layers) against our view of the frame's UDP payload.
fn assert_mold_frame(tshark_packet: &Packet, frame: &[u8], itch: bool) {
    let context = format!("frame {}", tshark_packet.number);
    let Transport::Udp { payload, .. } = dissect_ethernet(frame).unwrap().transport else {
        panic!("{context}: our frame is not UDP");
    };
    let ours = moldudp64::Packet::new_checked(payload).expect("our packet is valid");
    let molds: Vec<&Proto> = tshark_packet.protos("moldudp64").collect();
    assert_eq!(molds.len(), 1, "{context}: one MoldUDP64 layer");
    let mold = molds[0];
    assert_eq!(mold.size, payload.len(), "{context}: MoldUDP64 size");
    assert_fields(mold, payload, &mold_expect(&ours, itch), &context);

    let itch_layers: Vec<&Proto> = tshark_packet.protos("nasdaq_itch").collect();
    if !itch {
        assert!(itch_layers.is_empty(), "{context}: ITCH without decode-as");
        return;
    }
    assert_eq!(
        itch_layers.len(),
        usize::from(ours.message_count()),
        "{context}: one nasdaq_itch layer per message block"
    );
    let mut at = moldudp64::HEADER_LEN;
    for ((seq, message), layer) in ours.messages().zip(itch_layers) {
        let context = format!("{context}, message {seq}");
        at += moldudp64::BLOCK_HEADER_LEN;
        let view = itch50::parse(message).expect("our ITCH message parses");
        assert_eq!(
            view.wire_bytes(),
            message,
            "{context}: whole message is the view"
        );
        // Where tshark's ITCH layer sits is where our block framing put the message.
        assert_eq!(layer.pos - mold.pos, at, "{context}: ITCH offset");
        assert_eq!(layer.size, message.len(), "{context}: ITCH length");
        let message_type = layer.field("nasdaq-itch.message_type").unwrap();
        assert_eq!(message_type.show, char_show(view.type_byte()), "{context}");
        assert_eq!(message_type.value, hex(&[view.type_byte()]), "{context}");
        assert_eq!(message_type.pos, layer.pos, "{context}: type at offset 0");
        // The canary: Wireshark 4.0 decodes ITCH 2.0/3.0 only. If this fails,
        // tshark has learned another version: assert its 5.0 fields here.
        assert_eq!(
            layer.show("nasdaq-itch.version"),
            Some("3"),
            "{context}: tshark's nasdaq_itch now reports another ITCH version"
        );
        at += message.len();
    }
}

#[test]
fn moldudp64_and_itch50_agree_with_tshark() {
    use itch50::{
        AddOrder, AddOrderMpid, OrderCancel, OrderDelete, OrderExecuted, OrderExecutedWithPrice,
        OrderReplace, StockDirectory, SystemEvent, Trade,
    };
    let feed = udp_template(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(233, 54, 12, 1),
        30_001,
        MOLD_PORT,
    );
    let rerequest = udp_template(
        Ipv4Addr::new(10, 0, 0, 9),
        Ipv4Addr::new(10, 0, 0, 1),
        40_123,
        MOLD_REQUEST_PORT,
    );
    let t = 34_200_000_000_000; // 09:30:00
    let first: Vec<Vec<u8>> = vec![
        itch_bytes(&SystemEvent::new(0, 1, t - 1_000, b'Q')),
        itch_bytes(&StockDirectory::new(
            7, 2, t, b"AAPL", b'Q', b'N', 100, b'N', b'C', b"Z", b'P', b'N', b'N', b'1', b'N', 0,
            b'N',
        )),
        itch_bytes(&AddOrder::new(
            7,
            3,
            t + 1,
            42,
            b'B',
            100,
            b"AAPL",
            1_502_500,
        )),
        itch_bytes(&AddOrderMpid::new(
            7,
            4,
            t + 2,
            43,
            b'S',
            250,
            b"AAPL",
            1_503_000,
            b"TKLB",
        )),
    ];
    let second: Vec<Vec<u8>> = vec![
        itch_bytes(&OrderExecuted::new(7, 5, t + 3, 42, 40, 9_001)),
        itch_bytes(&OrderExecutedWithPrice::new(
            7,
            6,
            t + 4,
            42,
            10,
            9_002,
            b'Y',
            1_502_400,
        )),
        itch_bytes(&OrderCancel::new(7, 7, t + 5, 43, 50)),
        itch_bytes(&OrderReplace::new(7, 8, t + 6, 43, 44, 200, 1_503_100)),
        itch_bytes(&OrderDelete::new(7, 9, t + 7, 44)),
        itch_bytes(&Trade::new(
            7,
            10,
            t + 8,
            0,
            b'B',
            300,
            b"AAPL",
            1_502_600,
            9_003,
        )),
    ];
    let mut capture = Capture::default();
    let mut ip_id = 0;
    let mut next_id = || {
        ip_id += 1;
        ip_id
    };
    capture.push(udp_frame(&feed, next_id(), |b| mold_packet(b, 1, &first)));
    capture.push(udp_frame(&feed, next_id(), |b| mold_packet(b, 5, &second)));
    capture.push(udp_frame(&feed, next_id(), |b| {
        moldudp64::write_heartbeat(b, MOLD_SESSION, 11).unwrap()
    }));
    let request = capture.push(udp_frame(&rerequest, next_id(), |b| {
        moldudp64::write_request(b, MOLD_SESSION, 5, 6).unwrap()
    }));
    capture.push(udp_frame(&feed, next_id(), |b| {
        moldudp64::write_end_of_session(b, MOLD_SESSION, 11).unwrap()
    }));

    let dir = tempfile::tempdir().unwrap();
    let path = capture.write(dir.path(), "mold.pcap");
    let mold_ports = [
        "-d",
        "udp.port==26400,moldudp64",
        "-d",
        "udp.port==26401,moldudp64",
    ];

    // Pass 1, MoldUDP64 alone: tshark shows each block's bytes as msgdata.
    let packets = tshark(&path, &mold_ports);
    assert_eq!(packets.len(), capture.frames.len());
    assert_checksums_good(&packets);
    for (p, frame) in packets.iter().zip(&capture.frames) {
        if p.number == request {
            continue;
        }
        assert_mold_frame(p, frame, false);
    }
    // Our request view and tshark's agree on the three fields, and tshark knows it
    // for a request.
    let Transport::Udp { payload, .. } = dissect_ethernet(&capture.frames[request - 1])
        .unwrap()
        .transport
    else {
        unreachable!()
    };
    let ours = moldudp64::RequestPacket::new_checked(payload).unwrap();
    assert_eq!(
        (ours.session(), ours.sequence(), ours.requested_count()),
        (MOLD_SESSION, 5, 6)
    );
    let p = &packets[request - 1];
    let mold = p.protos("moldudp64").next().expect("request dissected");
    let expected = Layout::new(payload)
        .alpha("moldudp64.session", ours.session(), 10)
        .uint("moldudp64.sequence", ours.sequence(), 8)
        .uint("moldudp64.count", u64::from(ours.requested_count()), 2)
        .done();
    assert_fields(mold, payload, &expected, "request");
    assert!(
        p.all_fields("moldudp64.request").next().is_some(),
        "tshark sees a request"
    );
    // And those values are the ones we meant to send (the last is End of Session).
    let headers: Vec<(&str, &str)> = packets
        .iter()
        .map(|p| {
            let mold = p.protos("moldudp64").next().unwrap();
            (
                mold.show("moldudp64.sequence").unwrap(),
                mold.show("moldudp64.count").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        headers,
        [
            ("1", "4"),
            ("5", "6"),
            ("11", "0"),
            ("5", "6"),
            ("11", "65535")
        ]
    );

    // Pass 2, blocks handed to nasdaq_itch.
    let mut options = mold_ports.to_vec();
    options.extend(["-d", "moldudp64.payload,nasdaq_itch"]);
    let packets = tshark(&path, &options);
    assert_eq!(packets.len(), capture.frames.len());
    let mut itch_messages = 0;
    for (p, frame) in packets.iter().zip(&capture.frames) {
        if p.number == request {
            continue;
        }
        assert_mold_frame(p, frame, true);
        itch_messages += p.protos("nasdaq_itch").count();
    }
    assert_eq!(itch_messages, first.len() + second.len());
}

#[test]
fn synthetic_feed_sequence_numbers_agree_with_tshark() {
    let feed = SyntheticFeed::new(SyntheticConfig {
        messages: Some(2_000),
        seed: 7,
        ..Default::default()
    })
    .unwrap();
    let mut source = FrameSource::new(feed, &default_endpoints());
    let mut buf = vec![0u8; source.max_frame_len()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.pcap");
    let mut writer = CaptureWriter::create(&path, LinkType::ETHERNET, 65_535).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = source.next_frame(&mut buf) {
        let frame = &buf[..f.len];
        writer
            .write_packet(f.timestamp_ns, frame, f.len as u32, None)
            .unwrap();
        frames.push((f.packet, frame.to_vec()));
    }
    writer.finish().unwrap();
    assert_eq!(source.feed().messages_generated(), 2_000);
    assert!(
        frames.last().unwrap().0.end_of_session,
        "the feed ends its session"
    );

    let options = [
        "-d",
        "udp.port==26400,moldudp64",
        "-d",
        "moldudp64.payload,nasdaq_itch",
    ];
    let packets = tshark(&path, &options);
    assert_eq!(packets.len(), frames.len());
    assert_checksums_good(&packets);
    let mut tshark_messages = 0u64;
    let mut next_sequence = 1u64;
    for (p, (described, frame)) in packets.iter().zip(&frames) {
        assert_mold_frame(p, frame, true);
        let mold = p.protos("moldudp64").next().unwrap();
        // What the feed says it sent, what our view reads, what tshark reads.
        let sequence: u64 = mold.show("moldudp64.sequence").unwrap().parse().unwrap();
        let count: u16 = mold.show("moldudp64.count").unwrap().parse().unwrap();
        assert_eq!(sequence, described.first_sequence, "frame {}", p.number);
        assert_eq!(sequence, next_sequence, "frame {}: no gap", p.number);
        if described.end_of_session {
            assert_eq!(count, moldudp64::END_OF_SESSION_COUNT);
        } else {
            assert_eq!(count, described.count, "frame {}", p.number);
            let seqs: Vec<u64> = p
                .all_fields("moldudp64.msgseq")
                .map(|f| f.show.parse().unwrap())
                .collect();
            let want: Vec<u64> = (sequence..sequence + u64::from(count)).collect();
            assert_eq!(seqs, want, "frame {}", p.number);
            tshark_messages += u64::from(count);
            next_sequence += u64::from(count);
        }
    }
    assert_eq!(tshark_messages, 2_000);
    assert_eq!(
        packets
            .iter()
            .map(|p| p.protos("nasdaq_itch").count())
            .sum::<usize>(),
        2_000
    );
}

// ---------------------------------------------------------------------------
// SoupBinTCP + OUCH
// ---------------------------------------------------------------------------

const SOUP_PORT: u16 = 15_000;
const SOUP_OPTIONS: &[&str] = &[
    "-d",
    "tcp.port==15000,soupbintcp",
    "-o",
    "soupbintcp.desegment:TRUE",
];

/// SoupBinTCP packets of a capture as our `frame` cuts them from each direction.
fn our_soup_packets(capture: &Capture) -> Vec<(usize, bool, Vec<u8>)> {
    cut_streams(capture, SOUP_PORT, |stream| {
        soupbintcp::frame(stream)
            .expect("our SoupBinTCP stream frames")
            .map(|(_, used)| used)
    })
}

/// The SoupBinTCP fields tshark must show for `wire`, from our view of it.
/// `sequence` is the number of a Sequenced Data packet in its session; `message`
/// whether tshark shows the payload as `soupbintcp.message` (no OUCH decode).
fn soup_expect(wire: &[u8], sequence: Option<u64>, message: bool) -> Vec<Expect> {
    use soupbintcp::Packet;
    let (packet, used) = soupbintcp::frame(wire).unwrap().unwrap();
    assert_eq!(used, wire.len());
    assert_eq!(packet.wire_len(), wire.len());
    let mut layout = Layout::new(wire);
    layout
        .uint("soupbintcp.packet_length", (wire.len() - 2) as u64, 2)
        .code("soupbintcp.packet_type", packet.type_byte());
    match packet {
        Packet::LoginRequest {
            username,
            password,
            requested_session,
            requested_sequence_number,
        } => {
            layout
                .alpha("soupbintcp.username", username, 6)
                .alpha("soupbintcp.password", password, 10)
                .alpha("soupbintcp.session", requested_session, 10)
                .display(
                    "soupbintcp.req_seq_num",
                    requested_sequence_number.to_string(),
                    20,
                );
        }
        Packet::LoginAccepted {
            session,
            sequence_number,
        } => {
            layout.alpha("soupbintcp.session", session, 10).display(
                "soupbintcp.next_seq_num",
                sequence_number.to_string(),
                20,
            );
        }
        Packet::LoginRejected { reason } => {
            layout.code("soupbintcp.reject_code", reason.as_byte());
        }
        Packet::Debug { text } => {
            layout.alpha("soupbintcp.text", text, text.len());
        }
        Packet::SequencedData { message: m } | Packet::UnsequencedData { message: m } => {
            if let Some(seq) = sequence {
                layout.generated(
                    "soupbintcp.seq_num",
                    Text::Display(format!("{seq} (Calculated)")),
                );
            }
            if message {
                layout.push("soupbintcp.message", Text::Skip, m.len());
            } else {
                // The payload is the OUCH layer's, not SoupBinTCP's.
                layout.at += m.len();
            }
        }
        Packet::ServerHeartbeat
        | Packet::EndOfSession
        | Packet::ClientHeartbeat
        | Packet::LogoutRequest => {}
        Packet::Unknown { .. } => panic!("we only build defined packet types"),
    }
    layout.done()
}

/// The OUCH 4.2 fields tshark must show for an inbound message, from our view.
fn ouch42_inbound_expect(message: &[u8]) -> Vec<Expect> {
    let mut layout = Layout::new(message);
    match ouch42::parse_inbound(message).expect("our OUCH 4.2 message parses") {
        ouch42::Inbound::EnterOrder(m) => layout
            .code("ouch.packet_type", m.msg_type)
            .alpha("ouch.order_token", &m.order_token(), 14)
            .code("ouch.buy_sell_indicator", m.buy_sell_indicator())
            .uint("ouch.shares", u64::from(m.shares()), 4)
            .alpha("ouch.stock", m.stock(), 8)
            .uint("ouch.price", u64::from(m.price()), 4)
            .uint("ouch.tif", u64::from(m.time_in_force()), 4)
            .alpha("ouch.firm", m.firm(), 4)
            .code("ouch.display", m.display())
            .code("ouch.capacity", m.capacity())
            .code("ouch.iso_eligible", m.intermarket_sweep_eligibility())
            .uint("ouch.min_quantity", u64::from(m.minimum_quantity()), 4)
            .code("ouch.cross_type", m.cross_type())
            .code("ouch.customer_type", m.customer_type())
            .done(),
        other => panic!("no expectation written for inbound {other:?}"),
    }
}

/// The OUCH 4.2 fields tshark must show for an outbound message, from our view.
fn ouch42_outbound_expect(message: &[u8]) -> Vec<Expect> {
    use ouch42::Outbound;
    let mut l = Layout::new(message);
    let view = ouch42::parse_outbound(message).expect("our OUCH 4.2 message parses");
    l.code("ouch.packet_type", message[0]).display(
        "ouch.timestamp",
        time_of_day(view.timestamp().unwrap()),
        8,
    );
    match view {
        Outbound::Accepted(m) => l
            .alpha("ouch.order_token", &m.order_token(), 14)
            .code("ouch.buy_sell_indicator", m.buy_sell_indicator())
            .uint("ouch.shares", u64::from(m.shares()), 4)
            .alpha("ouch.stock", m.stock(), 8)
            .uint("ouch.price", u64::from(m.price()), 4)
            .uint("ouch.tif", u64::from(m.time_in_force()), 4)
            .alpha("ouch.firm", m.firm(), 4)
            .code("ouch.display", m.display())
            .uint("ouch.order_reference_number", m.order_reference_number(), 8)
            .code("ouch.capacity", m.capacity())
            .code("ouch.iso_eligible", m.intermarket_sweep_eligibility())
            .uint("ouch.min_quantity", u64::from(m.minimum_quantity()), 4)
            .code("ouch.cross_type", m.cross_type())
            .code("ouch.order_state", m.order_state())
            .code("ouch.bbo_weight_indicator", m.bbo_weight_indicator())
            .done(),
        Outbound::Replaced(m) => l
            .alpha(
                "ouch.replacement_order_token",
                &m.replacement_order_token(),
                14,
            )
            .code("ouch.buy_sell_indicator", m.buy_sell_indicator())
            .uint("ouch.shares", u64::from(m.shares()), 4)
            .alpha("ouch.stock", m.stock(), 8)
            .uint("ouch.price", u64::from(m.price()), 4)
            .uint("ouch.tif", u64::from(m.time_in_force()), 4)
            .alpha("ouch.firm", m.firm(), 4)
            .code("ouch.display", m.display())
            .uint("ouch.order_reference_number", m.order_reference_number(), 8)
            .code("ouch.capacity", m.capacity())
            .code("ouch.iso_eligible", m.intermarket_sweep_eligibility())
            .uint("ouch.min_quantity", u64::from(m.minimum_quantity()), 4)
            .code("ouch.cross_type", m.cross_type())
            .code("ouch.order_state", m.order_state())
            .alpha("ouch.previous_order_token", &m.previous_order_token(), 14)
            .code("ouch.bbo_weight_indicator", m.bbo_weight_indicator())
            .done(),
        Outbound::Executed(m) => l
            .alpha("ouch.order_token", &m.order_token(), 14)
            .uint("ouch.executed_shares", u64::from(m.executed_shares()), 4)
            .uint("ouch.execution_price", u64::from(m.execution_price()), 4)
            .code("ouch.liquidity_flag", m.liquidity_flag())
            .uint("ouch.match_number", m.match_number(), 8)
            .done(),
        Outbound::Canceled(m) => l
            .alpha("ouch.order_token", &m.order_token(), 14)
            .uint("ouch.decrement_shares", u64::from(m.decrement_shares()), 4)
            .code("ouch.cancel_reason", m.reason())
            .done(),
        Outbound::Rejected(m) => l
            .alpha("ouch.order_token", &m.order_token(), 14)
            .code("ouch.reject_reason", m.reason())
            .done(),
        other => panic!("no expectation written for outbound {other:?}"),
    }
}

/// Compares every SoupBinTCP packet tshark shows with ours, frame by frame, and
/// each data packet's payload with `payload_check`. Returns the packet types seen.
fn assert_soup_capture(
    capture: &Capture,
    packets: &[Packet],
    payload_check: impl Fn(&Packet, &Proto, bool, &[u8], &str),
) -> Vec<u8> {
    let ours = our_soup_packets(capture);
    let mut types = Vec::new();
    // Sequenced Data numbering per connection, from its Login Accepted.
    let mut next_seq: BTreeMap<u16, u64> = BTreeMap::new();
    for p in packets {
        let layers: Vec<&Proto> = p.protos("soupbintcp").collect();
        let mine: Vec<&(usize, bool, Vec<u8>)> =
            ours.iter().filter(|(n, ..)| *n == p.number).collect();
        assert_eq!(
            layers.len(),
            mine.len(),
            "frame {}: SoupBinTCP packets tshark shows vs ours",
            p.number
        );
        let client_port = client_port_of(capture, p.number);
        for (i, (layer, (_, from_client, wire))) in layers.iter().zip(mine).enumerate() {
            let context = format!("frame {} packet {i}", p.number);
            let (view, _) = soupbintcp::frame(wire).unwrap().unwrap();
            types.push(view.type_byte());
            let sequence = match view {
                soupbintcp::Packet::LoginAccepted {
                    sequence_number, ..
                } => {
                    next_seq.insert(client_port, sequence_number);
                    None
                }
                soupbintcp::Packet::SequencedData { .. } => {
                    let seq = next_seq.get_mut(&client_port).expect("logged in first");
                    *seq += 1;
                    Some(*seq - 1)
                }
                _ => None,
            };
            let payload = match view {
                soupbintcp::Packet::SequencedData { message }
                | soupbintcp::Packet::UnsequencedData { message } => Some(message),
                _ => None,
            };
            let shows_message = layer.field("soupbintcp.message").is_some();
            assert_fields(
                layer,
                wire,
                &soup_expect(wire, sequence, shows_message),
                &context,
            );
            if let Some(message) = payload {
                payload_check(p, layer, *from_client, message, &context);
            }
        }
    }
    types
}

/// The client port of the TCP frame `number` (1-based).
fn client_port_of(capture: &Capture, number: usize) -> u16 {
    match dissect_ethernet(&capture.frames[number - 1])
        .unwrap()
        .transport
    {
        Transport::Tcp {
            src_port, dst_port, ..
        } => {
            if dst_port == SOUP_PORT {
                src_port
            } else {
                dst_port
            }
        }
        _ => 0,
    }
}

/// The `ouch` layer that decodes the payload of the SoupBinTCP packet `soup`.
fn ouch_layer_of<'p>(packet: &'p Packet, soup: &Proto) -> Option<&'p Proto> {
    packet
        .protos("ouch")
        .find(|o| o.pos == soup.pos + soupbintcp::HEADER_LEN)
}

#[test]
fn soupbintcp_and_ouch42_session_agrees_with_tshark() {
    use soupbintcp::{
        write_client_heartbeat, write_debug, write_end_of_session, write_login_accepted,
        write_login_rejected, write_login_request, write_logout_request, write_server_heartbeat,
        RejectReason,
    };
    let mut capture = Capture::default();

    // A first connection is refused.
    let mut refused = TcpSession::open(&mut capture, 40_001, SOUP_PORT);
    refused.client_sends(
        &mut capture,
        &soup(|b| write_login_request(b, b"TRADR1", b"wrong", b"", 0)),
    );
    refused.server_sends(
        &mut capture,
        &soup(|b| write_login_rejected(b, RejectReason::NotAuthorized)),
    );

    // The second logs in and trades.
    let mut s = TcpSession::open(&mut capture, 40_002, SOUP_PORT);
    s.client_sends(
        &mut capture,
        &soup(|b| write_login_request(b, b"TRADR1", b"s3cret", b"SESS01", 17)),
    );
    s.server_sends(
        &mut capture,
        &soup(|b| write_login_accepted(b, b"SESS01", 17)),
    );
    s.server_sends(
        &mut capture,
        &soup(|b| write_debug(b, b"hello, lab: market opens 09:30")),
    );
    s.server_sends(&mut capture, &soup(write_server_heartbeat));
    s.client_sends(&mut capture, &soup(write_client_heartbeat));

    let t = 34_200_000_000_000;
    let enter = ouch42::EnterOrder::new(
        b"TOK00000000001",
        b'B',
        300,
        b"AAPL",
        1_502_500,
        99_998,
        b"FIRM",
        b'Y',
        b'A',
        b'N',
        100,
        b'N',
        b'R',
    );
    s.client_sends(&mut capture, &soup_data(false, &ouch42_bytes(&enter)));
    let accepted = ouch42::Accepted::new(
        t + 11,
        b"TOK00000000001",
        b'B',
        300,
        b"AAPL",
        1_502_500,
        99_998,
        b"FIRM",
        b'Y',
        7_000_001,
        b'A',
        b'N',
        100,
        b'N',
        b'L',
        b'S',
    );
    // Accepted split across two segments: 10 bytes, then the rest.
    let accepted = soup_data(true, &ouch42_bytes(&accepted));
    s.server_sends(&mut capture, &accepted[..10]);
    let accepted_done = s.server_sends(&mut capture, &accepted[10..]);
    // Executed and Canceled in one segment.
    let executed = ouch42::Executed::new(t + 12, b"TOK00000000001", 100, 1_502_400, b'A', 9_001);
    let canceled = ouch42::Canceled::new(t + 13, b"TOK00000000001", 50, b'U');
    let mut both = soup_data(true, &ouch42_bytes(&executed));
    both.extend(soup_data(true, &ouch42_bytes(&canceled)));
    let both_frame = s.server_sends(&mut capture, &both);
    let rejected = ouch42::Rejected::new(t + 14, b"TOK00000000002", b'X');
    s.server_sends(&mut capture, &soup_data(true, &ouch42_bytes(&rejected)));
    let replaced = ouch42::Replaced::new(
        t + 15,
        b"TOK00000000003",
        b'B',
        150,
        b"AAPL",
        1_502_600,
        0,
        b"FIRM",
        b'Y',
        7_000_002,
        b'A',
        b'N',
        0,
        b'N',
        b'L',
        b"TOK00000000001",
        b' ',
    );
    s.server_sends(&mut capture, &soup_data(true, &ouch42_bytes(&replaced)));
    s.client_sends(&mut capture, &soup(write_logout_request));
    s.server_sends(&mut capture, &soup(write_end_of_session));

    let dir = tempfile::tempdir().unwrap();
    let path = capture.write(dir.path(), "soup.pcap");
    let packets = tshark(&path, SOUP_OPTIONS);
    assert_eq!(packets.len(), capture.frames.len());
    assert_checksums_good(&packets);

    let mut ouch_layers_checked = 0;
    let types = assert_soup_capture(
        &capture,
        &packets,
        |packet, soup_layer, from_client, message, context| {
            let layer = ouch_layer_of(packet, soup_layer)
                .unwrap_or_else(|| panic!("{context}: tshark did not decode our OUCH 4.2"));
            assert_eq!(layer.size, message.len(), "{context}: OUCH length");
            let expected = if from_client {
                ouch42_inbound_expect(message)
            } else {
                ouch42_outbound_expect(message)
            };
            assert_fields(layer, message, &expected, context);
        },
    );
    for p in &packets {
        ouch_layers_checked += p.protos("ouch").count();
    }
    assert_eq!(types, b"LJLA+HRUSSSSSOZ", "every packet we sent, in order");
    assert_eq!(ouch_layers_checked, 6, "every OUCH message decoded once");
    // The split packet completes in its second segment, the pair shares one.
    assert_eq!(packets[accepted_done - 1].protos("ouch").count(), 1);
    assert_eq!(packets[accepted_done - 2].protos("soupbintcp").count(), 0);
    assert_eq!(packets[both_frame - 1].protos("ouch").count(), 2);
}

#[test]
fn soupbintcp_carries_ouch50_which_tshark_cannot_dissect() {
    use ouch50::{
        parse_inbound, parse_outbound, write, write_enter_order, Appendage, EnterOrder, Inbound,
        OrderAccepted, OrderCanceled, OrderExecuted,
    };
    let mut buf = [0u8; 256];
    let mut bytes = |write: &dyn Fn(&mut [u8]) -> Result<usize, ticklab::proto::Error>| {
        let n = write(&mut buf).expect("OUCH 5.0 message fits");
        buf[..n].to_vec()
    };
    let t = 34_200_000_000_000;
    let enter = EnterOrder::new(
        7, b'B', 100, b"AAPL", 1_502_500, b'0', b'Y', b'A', b'N', b'N', b"CL1",
    );
    let inbound = [
        bytes(&|b| write_enter_order(b, &enter, &[Appendage::min_qty(100)])),
        bytes(&|b| write_enter_order(b, &enter, &[])),
    ];
    let accepted = OrderAccepted::new(
        t + 1,
        7,
        b'B',
        100,
        b"AAPL",
        1_502_500,
        b'0',
        b'Y',
        7_000_001,
        b'A',
        b'N',
        b'N',
        b'L',
        b"CL1",
    );
    let executed = OrderExecuted::new(t + 2, 7, 40, 1_502_400, b'A', 9_001);
    let canceled = OrderCanceled::new(t + 3, 7, 60, b'U');
    let outbound = [
        bytes(&|b| write(b, &accepted, &[])),
        bytes(&|b| write(b, &executed, &[])),
        bytes(&|b| write(b, &canceled, &[])),
    ];

    let mut capture = Capture::default();
    let mut s = TcpSession::open(&mut capture, 40_003, SOUP_PORT);
    s.client_sends(
        &mut capture,
        &soup(|b| soupbintcp::write_login_request(b, b"TRADR5", b"pw", b"", 1)),
    );
    s.server_sends(
        &mut capture,
        &soup(|b| soupbintcp::write_login_accepted(b, b"SESS50", 1)),
    );
    for m in &inbound {
        s.client_sends(&mut capture, &soup_data(false, m));
    }
    for m in &outbound {
        s.server_sends(&mut capture, &soup_data(true, m));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = capture.write(dir.path(), "ouch50.pcap");
    let packets = tshark(&path, SOUP_OPTIONS);
    assert_checksums_good(&packets);

    let mut carried = Vec::new();
    let types = assert_soup_capture(
        &capture,
        &packets,
        |packet, layer, from_client, message, context| {
            // Our views read the 5.0 message back.
            if from_client {
                let Ok(Inbound::EnterOrder(m)) = parse_inbound(message) else {
                    panic!("{context}: our Enter Order does not parse")
                };
                assert_eq!(
                    (m.user_ref_num(), m.quantity(), m.price()),
                    (7, 100, 1_502_500)
                );
            } else {
                assert!(parse_outbound(message).is_ok(), "{context}");
            }
            // tshark carries exactly our bytes and has no OUCH 5.0 decoder for them.
            assert!(
                ouch_layer_of(packet, layer).is_none(),
                "{context}: tshark's OUCH 4.x dissector claimed an OUCH 5.0 message"
            );
            let shown = layer.field("soupbintcp.message").expect("payload shown");
            assert_eq!(shown.value, hex(message), "{context}");
        },
    );
    for p in &packets {
        for layer in p.protos("soupbintcp") {
            if let Some(m) = layer.field("soupbintcp.message") {
                carried.push(m.value.clone());
            }
        }
    }
    assert_eq!(types, b"LAUUSSS");
    let sent: Vec<String> = inbound.iter().chain(&outbound).map(|m| hex(m)).collect();
    assert_eq!(carried, sent);
}

// ---------------------------------------------------------------------------
// FIX 4.2 / 4.4
// ---------------------------------------------------------------------------

/// The tag number in a FIX field's display line, `"ClOrdID (11): ORD-1"`.
fn fix_tag(showname: &str) -> Option<u32> {
    let (label, _) = showname.split_once(": ")?;
    let open = label.rfind(" (")?;
    label[open + 2..].strip_suffix(')')?.parse().ok()
}

/// Every tag=value field of our view against tshark's `fix` layer: same tags in
/// the same order, same value text, same offsets, same bytes (`tag=value<SOH>`).
fn assert_fix_message(layer: &Proto, message: &fix::Message<'_>, context: &str) {
    let wire = message.as_bytes();
    assert_eq!(layer.size, wire.len(), "{context}: FIX message length");
    let theirs: Vec<&Field> = layer
        .fields
        .iter()
        .filter(|f| fix_tag(&f.showname).is_some())
        .collect();
    let mut at = 0;
    let mut ours = Vec::new();
    for (tag, value) in message.fields() {
        let len = tag.to_string().len() + 1 + value.len() + 1;
        ours.push((tag, value, at, len));
        at += len;
    }
    assert_eq!(at, wire.len(), "{context}: our fields cover the message");
    let their_tags: Vec<u32> = theirs
        .iter()
        .map(|f| fix_tag(&f.showname).unwrap())
        .collect();
    let our_tags: Vec<u32> = ours.iter().map(|f| f.0).collect();
    assert_eq!(their_tags, our_tags, "{context}: tags");
    for (f, (tag, value, at, len)) in theirs.iter().zip(&ours) {
        assert_eq!(f.show.as_bytes(), *value, "{context}: tag {tag} value");
        assert_eq!(f.pos - layer.pos, *at, "{context}: tag {tag} offset");
        assert_eq!(
            f.value,
            hex(&wire[*at..at + len]),
            "{context}: tag {tag} bytes"
        );
    }

    // The header and trailer fields by name, against our accessors.
    let show = |name: &str| {
        layer
            .show(name)
            .unwrap_or_else(|| panic!("{context}: no {name}"))
    };
    assert_eq!(
        show("fix.BeginString").as_bytes(),
        message.begin_string(),
        "{context}"
    );
    assert_eq!(
        show("fix.BodyLength"),
        message.body_length().to_string(),
        "{context}"
    );
    assert_eq!(
        show("fix.MsgType").as_bytes(),
        message.msg_type(),
        "{context}"
    );
    assert_eq!(
        show("fix.MsgSeqNum"),
        message.seq_num().unwrap().to_string(),
        "{context}"
    );
    assert_eq!(
        show("fix.SenderCompID").as_bytes(),
        message.sender_comp_id().unwrap(),
        "{context}"
    );
    assert_eq!(
        show("fix.TargetCompID").as_bytes(),
        message.target_comp_id().unwrap(),
        "{context}"
    );
    assert_eq!(
        layer.show("fix.ClOrdID").map(str::as_bytes),
        message.get(fix::tag::CL_ORD_ID),
        "{context}"
    );
    assert_eq!(
        show("fix.CheckSum"),
        format!("{:03}", message.checksum()),
        "{context}"
    );
    assert_eq!(
        show("fix.checksum_good"),
        "1",
        "{context}: tshark's checksum verdict"
    );
    assert_eq!(show("fix.checksum_bad"), "0", "{context}");
}

fn fix_session_agrees_with_tshark(begin_string: &'static str, server_port: u16) {
    let mut buf = [0u8; 512];
    let mut bytes = |write: &dyn Fn(&mut [u8]) -> Result<usize, ticklab::proto::Error>| {
        let n = write(&mut buf).expect("FIX message fits");
        buf[..n].to_vec()
    };
    let header = |sender: &'static [u8], target: &'static [u8], seq| fix::Header {
        begin_string,
        sender_comp_id: sender,
        target_comp_id: target,
        msg_seq_num: seq,
        sending_time: b"20260105-09:30:00.000",
    };
    let client = |seq| header(b"CORE", b"LAB", seq);
    let server = |seq| header(b"LAB", b"CORE", seq);
    let fill = if begin_string == "FIX.4.2" {
        b'2'
    } else {
        b'F'
    };
    let order = fix::NewOrderSingle {
        cl_ord_id: b"ORD-1",
        symbol: b"AAPL",
        side: b'1',
        transact_time: b"20260105-09:30:00.001",
        order_qty: 300,
        ord_type: b'2',
        price: Some(fix::Decimal::new(15_025, 2)),
        time_in_force: Some(b'0'),
        account: Some(b"ACC1"),
    };
    let cancel = fix::OrderCancelRequest {
        orig_cl_ord_id: b"ORD-1",
        cl_ord_id: b"ORD-2",
        symbol: b"AAPL",
        side: b'1',
        transact_time: b"20260105-09:30:00.003",
        order_qty: 300,
    };
    let report = fix::ExecutionReport {
        order_id: b"X-77",
        cl_ord_id: Some(b"ORD-1"),
        exec_id: b"E-1",
        exec_type: fill,
        ord_status: b'1',
        symbol: b"AAPL",
        side: b'1',
        order_qty: Some(300),
        last_fill: Some((100, fix::Decimal::new(1_502_400, 4))),
        leaves_qty: 200,
        cum_qty: 100,
        avg_px: fix::Decimal::new(1_502_400, 4),
        transact_time: Some(b"20260105-09:30:00.002"),
    };

    let mut capture = Capture::default();
    let mut s = TcpSession::open(&mut capture, 40_100, server_port);
    s.client_sends(
        &mut capture,
        &bytes(&|b| fix::write_logon(b, &client(1), 30, true)),
    );
    s.server_sends(
        &mut capture,
        &bytes(&|b| fix::write_logon(b, &server(1), 30, true)),
    );
    // A TestRequest and its Heartbeat, then a Heartbeat and a TestRequest sharing
    // one segment.
    s.server_sends(
        &mut capture,
        &bytes(&|b| fix::write_test_request(b, &server(2), b"T-1")),
    );
    s.client_sends(
        &mut capture,
        &bytes(&|b| fix::write_heartbeat(b, &client(2), Some(b"T-1"))),
    );
    let mut pair = bytes(&|b| fix::write_heartbeat(b, &server(3), None));
    pair.extend(bytes(&|b| fix::write_test_request(b, &server(4), b"T-2")));
    let pair_frame = s.server_sends(&mut capture, &pair);
    s.client_sends(
        &mut capture,
        &bytes(&|b| fix::write_resend_request(b, &client(3), 2, 0)),
    );
    s.server_sends(
        &mut capture,
        &bytes(&|b| fix::write_sequence_reset(b, &server(2), 5, true)),
    );
    // The order split across two segments.
    let nos = bytes(&|b| fix::write_new_order_single(b, &client(4), &order));
    s.client_sends(&mut capture, &nos[..30]);
    let order_frame = s.client_sends(&mut capture, &nos[30..]);
    s.server_sends(
        &mut capture,
        &bytes(&|b| fix::write_execution_report(b, &server(5), &report)),
    );
    s.client_sends(
        &mut capture,
        &bytes(&|b| fix::write_order_cancel_request(b, &client(5), &cancel)),
    );
    s.client_sends(
        &mut capture,
        &bytes(&|b| fix::write_logout(b, &client(6), Some(b"done"))),
    );
    s.server_sends(
        &mut capture,
        &bytes(&|b| fix::write_logout(b, &server(6), None)),
    );

    let ours = cut_streams(&capture, server_port, |stream| {
        fix::frame(stream)
            .expect("our FIX stream frames")
            .map(|(_, used)| used)
    });
    let dir = tempfile::tempdir().unwrap();
    let path = capture.write(dir.path(), "fix.pcap");
    // No decode-as: tshark's `fix` heuristic must recognise our messages itself.
    let packets = tshark(&path, &["-o", "fix.desegment:TRUE"]);
    assert_eq!(packets.len(), capture.frames.len());
    assert_checksums_good(&packets);
    let mut types = Vec::new();
    for p in &packets {
        let layers: Vec<&Proto> = p.protos("fix").collect();
        let mine: Vec<&Vec<u8>> = ours
            .iter()
            .filter(|(n, ..)| *n == p.number)
            .map(|(_, _, m)| m)
            .collect();
        assert_eq!(layers.len(), mine.len(), "frame {}: FIX messages", p.number);
        for (i, (layer, wire)) in layers.iter().zip(mine).enumerate() {
            let (message, _) = fix::frame(wire).unwrap().unwrap();
            assert_eq!(message.begin_string(), begin_string.as_bytes());
            types.push(String::from_utf8(message.msg_type().to_vec()).unwrap());
            assert_fix_message(layer, &message, &format!("frame {} message {i}", p.number));
        }
    }
    assert_eq!(
        types,
        ["A", "A", "1", "0", "0", "1", "2", "4", "D", "8", "F", "5", "5"]
    );
    assert_eq!(packets[pair_frame - 1].protos("fix").count(), 2);
    assert_eq!(packets[order_frame - 2].protos("fix").count(), 0);
    assert_eq!(packets[order_frame - 1].protos("fix").count(), 1);
}

#[test]
fn fix42_session_agrees_with_tshark() {
    fix_session_agrees_with_tshark("FIX.4.2", 9_876);
}

#[test]
fn fix44_session_agrees_with_tshark() {
    fix_session_agrees_with_tshark("FIX.4.4", 9_877);
}

#[test]
fn corrupted_fix_checksum_is_bad_for_tshark_and_for_us() {
    let header = fix::Header {
        begin_string: "FIX.4.4",
        sender_comp_id: b"CORE",
        target_comp_id: b"LAB",
        msg_seq_num: 2,
        sending_time: b"20260105-09:30:00.000",
    };
    let order = fix::NewOrderSingle {
        cl_ord_id: b"ORD-9",
        symbol: b"MSFT",
        side: b'2',
        transact_time: b"20260105-09:30:00.001",
        order_qty: 10,
        ord_type: b'2',
        price: Some(fix::Decimal::new(40_001, 2)),
        time_in_force: None,
        account: None,
    };
    let mut buf = [0u8; 256];
    let n = fix::write_new_order_single(&mut buf, &header, &order).unwrap();
    let mut wire = buf[..n].to_vec();
    let (good, _) = fix::frame(&wire).unwrap().unwrap();
    let computed = good.checksum();
    // Corrupt the stated CheckSum (the three digits before the final SOH).
    let wrong = computed.wrapping_add(1);
    let digits = format!("{wrong:03}");
    wire[n - 4..n - 1].copy_from_slice(digits.as_bytes());
    let err = fix::frame(&wire).expect_err("our framing refuses the checksum");
    assert_eq!(err.field(), "CheckSum(10)");
    assert_eq!(err.offset(), n - 4);
    let expected_text = format!("{err}");
    assert!(
        expected_text.contains(&format!("computed checksum {computed:03}")),
        "{expected_text}"
    );

    let mut capture = Capture::default();
    let mut s = TcpSession::open(&mut capture, 40_200, 9_878);
    let frame = s.client_sends(&mut capture, &wire);
    let dir = tempfile::tempdir().unwrap();
    let path = capture.write(dir.path(), "badfix.pcap");
    let packets = tshark(&path, &[]);
    let layer = packets[frame - 1]
        .protos("fix")
        .next()
        .expect("tshark sees FIX");
    assert_eq!(layer.show("fix.CheckSum"), Some(digits.as_str()));
    assert_eq!(layer.show("fix.checksum_good"), Some("0"));
    assert_eq!(layer.show("fix.checksum_bad"), Some("1"));
    // tshark's display names the checksum it computed: the same as ours.
    let display = layer.field("fix.CheckSum").unwrap().display().to_string();
    assert!(
        display.ends_with(&format!("[incorrect should be {computed}]")),
        "{display}"
    );
    assert!(packets[frame - 1]
        .all_fields("fix.checksum_bad.expert")
        .next()
        .is_some());
}
