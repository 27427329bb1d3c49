//! One call per captured frame, from link layer to transport payload: the offline
//! decoder calls [`dissect_ethernet`] (or the variant for the capture's link type)
//! on every packet and hands the UDP or TCP payload to the protocol decoders.
//!
//! This runs once per packet over gigabytes of captures, so it allocates nothing,
//! copies no payload, verifies no checksum (the views do that on request), and
//! makes one length check per layer. IPv4 fragments are reported as
//! [`Transport::Fragment`], not reassembled. Every offset, in [`Transport`] and in
//! errors, counts from the start of the buffer given to the call.
//!
//! ```
//! use ticklab::wire::{dissect_ipv4, Transport};
//! // A raw IPv4 packet (LINKTYPE_RAW): 20-byte header, UDP 1234 -> 5678, 2 bytes.
//! let packet = [
//!     0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
//!     0x04, 0xd2, 0x16, 0x2e, 0, 10, 0, 0, b'h', b'i',
//! ];
//! let layers = dissect_ipv4(&packet).unwrap();
//! assert!(layers.eth.is_none());
//! assert_eq!(layers.transport.payload(), Some(&b"hi"[..]));
//! assert_eq!(layers.transport.payload_offset(), Some(28));
//! ```

use std::net::Ipv4Addr;

use super::ethernet::{self, ethertype, MacAddr, VlanTag, MAX_VLAN_TAGS};
use super::tcp::{self, TcpFlags};
use super::{be16, ipv4, truncated, udp, Error, StackText};
use crate::codec::{Describe, FieldSink};

/// The Ethernet layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthInfo {
    pub src: MacAddr,
    pub dst: MacAddr,
    /// VLAN tags, outermost first (`[outer, inner]` for QinQ, `[tag, None]` for
    /// plain 802.1Q).
    pub vlans: [Option<VlanTag>; MAX_VLAN_TAGS],
    /// The ethertype after the tags.
    pub ethertype: u16,
}

/// The IPv4 layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub identification: u16,
    /// Any fragment of a fragmented datagram, the first included.
    pub is_fragment: bool,
    /// The IPv4 total length (header plus payload); link padding not included.
    pub total_len: u16,
}

/// What a packet carries above IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A UDP datagram; `payload` is bounded by the UDP length field.
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
        /// Where `payload` starts, from the start of the dissected buffer.
        payload_offset: usize,
    },
    /// A TCP segment; `payload` is the data after the header and its options.
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &'a [u8],
        /// Where `payload` starts, from the start of the dissected buffer.
        payload_offset: usize,
    },
    /// An IPv4 fragment: not reassembled, counted by the caller.
    Fragment,
    /// IPv4 carrying neither UDP nor TCP.
    OtherIp { protocol: u8 },
    /// Not IPv4 (ARP, IPv6, LLC, a third VLAN tag...).
    NonIp { ethertype: u16 },
}

impl<'a> Transport<'a> {
    /// The UDP or TCP payload, if there is one.
    pub fn payload(&self) -> Option<&'a [u8]> {
        match *self {
            Transport::Udp { payload, .. } | Transport::Tcp { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// Offset of the UDP or TCP payload from the start of the dissected buffer.
    pub fn payload_offset(&self) -> Option<usize> {
        match *self {
            Transport::Udp { payload_offset, .. } | Transport::Tcp { payload_offset, .. } => {
                Some(payload_offset)
            }
            _ => None,
        }
    }
}

/// The layers of one captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers<'a> {
    /// `None` when the capture's link type has no Ethernet header.
    pub eth: Option<EthInfo>,
    /// `None` for non-IPv4 frames.
    pub ipv4: Option<Ipv4Info>,
    pub transport: Transport<'a>,
}

/// Dissects an Ethernet II frame (LINKTYPE_ETHERNET), with up to two VLAN tags.
pub fn dissect_ethernet(frame: &[u8]) -> Result<Layers<'_>, Error> {
    let eth = ethernet::Frame::new_checked(frame)?;
    let info = EthInfo {
        src: eth.src(),
        dst: eth.dst(),
        vlans: eth.vlans(),
        ethertype: eth.ethertype(),
    };
    let mut layers = dissect_network(frame, eth.payload_offset(), info.ethertype)?;
    layers.eth = Some(info);
    Ok(layers)
}

/// A UDP datagram found by [`ethernet_udp_fast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastUdp {
    pub dst_port: u16,
    /// Offset of the UDP payload from the start of the frame.
    pub payload_offset: usize,
    pub payload_len: usize,
}

/// The common case of a market-data capture, found with a handful of loads: an
/// untagged Ethernet frame carrying an unfragmented IPv4 packet without options,
/// carrying UDP. Returns `None` for anything else, including anything malformed:
/// the caller then asks [`dissect_ethernet`], which handles every case and names the
/// error. When it returns `Some`, [`dissect_ethernet`] would have returned
/// `Transport::Udp` with the same port and payload (a property test holds it to
/// that). This exists for `decode --stats`, which must keep up with `cat`.
#[inline]
pub fn ethernet_udp_fast(frame: &[u8]) -> Option<FastUdp> {
    const ETH: usize = 14;
    const IP: usize = 20;
    let head: &[u8; ETH + IP + udp::HEADER_LEN] = frame.first_chunk()?;
    let ip = &head[ETH..];
    // Ethertype IPv4, version 4 with a 20-byte header, protocol UDP, and neither
    // More Fragments nor a fragment offset.
    if head[12..14] != [0x08, 0x00]
        || ip[0] != 0x45
        || ip[9] != ipv4::protocol::UDP
        || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0
    {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let udp_len = usize::from(u16::from_be_bytes([ip[IP + 4], ip[IP + 5]]));
    if total_len < IP + udp::HEADER_LEN
        || total_len > frame.len() - ETH
        || udp_len < udp::HEADER_LEN
        || udp_len > total_len - IP
    {
        return None;
    }
    Some(FastUdp {
        dst_port: u16::from_be_bytes([ip[IP + 2], ip[IP + 3]]),
        payload_offset: ETH + IP + udp::HEADER_LEN,
        payload_len: udp_len - udp::HEADER_LEN,
    })
}

/// Dissects a raw IP packet (LINKTYPE_RAW, LINKTYPE_IPV4). An IPv6 packet (version
/// nibble 6, possible under LINKTYPE_RAW) is reported as
/// `NonIp { ethertype: 0x86dd }` rather than as an error.
pub fn dissect_ipv4(packet: &[u8]) -> Result<Layers<'_>, Error> {
    if packet.first().is_some_and(|b| b >> 4 == 6) {
        return Ok(non_ip(ethertype::IPV6));
    }
    dissect_ipv4_at(packet, 0)
}

const SLL_HEADER_LEN: usize = 16;
const SLL2_HEADER_LEN: usize = 20;

/// Dissects a Linux "cooked" capture v1 frame (LINKTYPE_LINUX_SLL): a 16-byte
/// header whose last two bytes hold the ethertype. `eth` is `None`: the header
/// carries only the sender's address, not an Ethernet header.
pub fn dissect_linux_sll(frame: &[u8]) -> Result<Layers<'_>, Error> {
    if frame.len() < SLL_HEADER_LEN {
        return Err(truncated(
            "linux_sll",
            "header",
            0..SLL_HEADER_LEN,
            frame.len(),
        ));
    }
    dissect_cooked(frame, "linux_sll", SLL_HEADER_LEN - 2, SLL_HEADER_LEN)
}

/// Dissects a Linux "cooked" capture v2 frame (LINKTYPE_LINUX_SLL2, what
/// `tcpdump -i any` writes today): a 20-byte header whose first two bytes hold the
/// ethertype. `eth` is `None`, as for [`dissect_linux_sll`].
pub fn dissect_linux_sll2(frame: &[u8]) -> Result<Layers<'_>, Error> {
    if frame.len() < SLL2_HEADER_LEN {
        return Err(truncated(
            "linux_sll2",
            "header",
            0..SLL2_HEADER_LEN,
            frame.len(),
        ));
    }
    dissect_cooked(frame, "linux_sll2", 0, SLL2_HEADER_LEN)
}

/// Cooked captures may keep VLAN tags in the data (the protocol field is then the
/// TPID and the tag follows the header); the tags are stepped over to reach the
/// network layer, so their IDs are not reported.
fn dissect_cooked<'a>(
    frame: &'a [u8],
    link: &'static str,
    type_at: usize,
    header_len: usize,
) -> Result<Layers<'a>, Error> {
    let mut ethertype = be16(frame, type_at);
    let mut offset = header_len;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ethertype::VLAN && ethertype != ethertype::QINQ {
            break;
        }
        if frame.len() < offset + ethernet::VLAN_TAG_LEN {
            return Err(Error::Truncated {
                protocol: link,
                msg_type: None,
                field: "vlan_tag",
                offset,
                needed: ethernet::VLAN_TAG_LEN,
                available: frame.len() - offset,
            });
        }
        ethertype = be16(frame, offset + 2);
        offset += ethernet::VLAN_TAG_LEN;
    }
    dissect_network(frame, offset, ethertype)
}

fn dissect_network(frame: &[u8], offset: usize, ethertype: u16) -> Result<Layers<'_>, Error> {
    if ethertype == ethertype::IPV4 {
        dissect_ipv4_at(frame, offset)
    } else {
        Ok(non_ip(ethertype))
    }
}

fn non_ip(ethertype: u16) -> Layers<'static> {
    Layers {
        eth: None,
        ipv4: None,
        transport: Transport::NonIp { ethertype },
    }
}

/// The IPv4 packet starting at `base` in `frame`, and what it carries.
fn dissect_ipv4_at(frame: &[u8], base: usize) -> Result<Layers<'_>, Error> {
    let packet = frame.get(base..).unwrap_or(&[]);
    let ip = ipv4::Packet::new_checked(packet).map_err(|e| e.shifted(base))?;
    let info = Ipv4Info {
        src: ip.src(),
        dst: ip.dst(),
        protocol: ip.protocol(),
        ttl: ip.ttl(),
        identification: ip.identification(),
        is_fragment: ip.is_fragment(),
        total_len: ip.total_len() as u16,
    };
    let transport_at = base + ip.header_len();
    let transport_bytes = ip.into_payload();
    let transport = if info.is_fragment {
        Transport::Fragment
    } else {
        match info.protocol {
            ipv4::protocol::UDP => {
                let d = udp::Datagram::new_checked(transport_bytes)
                    .map_err(|e| e.shifted(transport_at))?;
                Transport::Udp {
                    src_port: d.src_port(),
                    dst_port: d.dst_port(),
                    payload_offset: transport_at + udp::HEADER_LEN,
                    payload: d.into_payload(),
                }
            }
            ipv4::protocol::TCP => {
                let s = tcp::Segment::new_checked(transport_bytes)
                    .map_err(|e| e.shifted(transport_at))?;
                Transport::Tcp {
                    src_port: s.src_port(),
                    dst_port: s.dst_port(),
                    seq: s.seq_number(),
                    ack: s.ack_number(),
                    flags: s.flags(),
                    payload_offset: transport_at + s.header_len(),
                    payload: s.into_payload(),
                }
            }
            protocol => Transport::OtherIp { protocol },
        }
    };
    Ok(Layers {
        eth: None,
        ipv4: Some(info),
        transport,
    })
}

impl Describe for EthInfo {
    fn protocol(&self) -> &'static str {
        "ethernet"
    }

    fn kind(&self) -> &'static str {
        "Ethernet"
    }

    /// Fields: `dst`, `src`, then per tag (outer or only tag first) `vlan_id`,
    /// `vlan_pcp`, `vlan_dei`, for the inner tag `inner_vlan_id`... and `ethertype`.
    fn describe(&self, sink: &mut dyn FieldSink) {
        sink.text("dst", &self.dst.to_text());
        sink.text("src", &self.src.to_text());
        const NAMES: [[&str; 3]; MAX_VLAN_TAGS] = [
            ["vlan_id", "vlan_pcp", "vlan_dei"],
            ["inner_vlan_id", "inner_vlan_pcp", "inner_vlan_dei"],
        ];
        for (tag, [vid, pcp, dei]) in self.vlans.iter().zip(NAMES) {
            if let Some(tag) = tag {
                sink.uint(vid, u64::from(tag.vid));
                sink.uint(pcp, u64::from(tag.pcp));
                sink.uint(dei, u64::from(tag.dei));
            }
        }
        sink.uint("ethertype", u64::from(self.ethertype));
    }
}

impl Describe for Ipv4Info {
    fn protocol(&self) -> &'static str {
        "ipv4"
    }

    fn kind(&self) -> &'static str {
        "Ipv4"
    }

    fn describe(&self, sink: &mut dyn FieldSink) {
        sink.text(
            "src",
            StackText::<15>::format(format_args!("{}", self.src)).as_bytes(),
        );
        sink.text(
            "dst",
            StackText::<15>::format(format_args!("{}", self.dst)).as_bytes(),
        );
        sink.uint("protocol", u64::from(self.protocol));
        sink.uint("ttl", u64::from(self.ttl));
        sink.uint("identification", u64::from(self.identification));
        sink.uint("is_fragment", u64::from(self.is_fragment));
        sink.uint("total_length", u64::from(self.total_len));
    }
}

impl Describe for Transport<'_> {
    fn protocol(&self) -> &'static str {
        match self {
            Transport::Udp { .. } => "udp",
            Transport::Tcp { .. } => "tcp",
            Transport::Fragment | Transport::OtherIp { .. } => "ipv4",
            Transport::NonIp { .. } => "ethernet",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Transport::Udp { .. } => "Udp",
            Transport::Tcp { .. } => "Tcp",
            Transport::Fragment => "Fragment",
            Transport::OtherIp { .. } => "OtherIp",
            Transport::NonIp { .. } => "NonIp",
        }
    }

    /// The payload itself is not shown: it goes to the protocol decoders. Its
    /// length and offset are.
    fn describe(&self, sink: &mut dyn FieldSink) {
        match *self {
            Transport::Udp {
                src_port,
                dst_port,
                payload,
                payload_offset,
            } => {
                sink.uint("src_port", u64::from(src_port));
                sink.uint("dst_port", u64::from(dst_port));
                sink.uint("payload_length", payload.len() as u64);
                sink.uint("payload_offset", payload_offset as u64);
            }
            Transport::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                payload,
                payload_offset,
            } => {
                sink.uint("src_port", u64::from(src_port));
                sink.uint("dst_port", u64::from(dst_port));
                sink.uint("seq", u64::from(seq));
                sink.uint("ack", u64::from(ack));
                sink.text(
                    "flags",
                    StackText::<31>::format(format_args!("{flags}")).as_bytes(),
                );
                sink.uint("payload_length", payload.len() as u64);
                sink.uint("payload_offset", payload_offset as u64);
            }
            Transport::Fragment => {}
            Transport::OtherIp { protocol } => sink.uint("protocol", u64::from(protocol)),
            Transport::NonIp { ethertype } => sink.uint("ethertype", u64::from(ethertype)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{fields_of, FieldLog};
    use crate::wire::checksum;
    use proptest::prelude::*;

    // A multicast ITCH-over-MoldUDP64-style frame, written out by hand from
    // IEEE 802.3 / 802.1Q, RFC 791 and RFC 768:
    //   Ethernet: dst 01:00:5e:36:0c:01 (233.54.12.1), src 00:1b:21:aa:bb:cc,
    //             802.1Q tag PCP 0 VID 100, ethertype IPv4
    //   IPv4:     45 00, total 0x20 (32), id 0x1234, DF, TTL 32, UDP,
    //             10.0.0.1 -> 233.54.12.1
    //             checksum: 4500 + 0020 + 1234 + 4000 + 2011 + 0a00 + 0001
    //                       + e936 + 0c01 = 0x1b69d -> 0xb69e; ~ = 0x4961
    //   UDP:      30001 -> 26400, length 12, payload "ITCH",
    //             checksum 0x97af (worked in udp.rs tests: same addresses,
    //             ports, length and data)
    // (all sums re-checked outside Rust with a Python sum)
    //   then 10 bytes of Ethernet padding (zeros) to reach 60 bytes with the tag.
    const UDP_FRAME: [u8; 60] = [
        0x01, 0x00, 0x5e, 0x36, 0x0c, 0x01, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc, // MACs
        0x81, 0x00, 0x00, 0x64, 0x08, 0x00, // tag, ethertype
        0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x20, 0x11, 0x49, 0x61, // IPv4
        0x0a, 0x00, 0x00, 0x01, 0xe9, 0x36, 0x0c, 0x01, //
        0x75, 0x31, 0x67, 0x20, 0x00, 0x0c, 0x97, 0xaf, // UDP
        b'I', b'T', b'C', b'H', // payload
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    #[test]
    fn hand_written_udp_frame() {
        let l = dissect_ethernet(&UDP_FRAME).unwrap();
        assert_eq!(
            l.eth,
            Some(EthInfo {
                src: MacAddr([0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc]),
                dst: MacAddr([0x01, 0x00, 0x5e, 0x36, 0x0c, 0x01]),
                vlans: [
                    Some(VlanTag {
                        pcp: 0,
                        dei: false,
                        vid: 100
                    }),
                    None
                ],
                ethertype: 0x0800,
            })
        );
        assert_eq!(
            l.ipv4,
            Some(Ipv4Info {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(233, 54, 12, 1),
                protocol: 17,
                ttl: 32,
                identification: 0x1234,
                is_fragment: false,
                total_len: 32,
            })
        );
        assert_eq!(
            l.transport,
            Transport::Udp {
                src_port: 30001,
                dst_port: 26400,
                payload: b"ITCH",
                payload_offset: 46
            }
        );
        // Checksums are not dissect's job, but this frame's must be right.
        let ip = ipv4::Packet::new_checked(&UDP_FRAME[18..]).unwrap();
        assert!(ip.verify_checksum());
        let udp = udp::Datagram::new_checked(ip.payload()).unwrap();
        assert!(udp.verify_checksum(ip.src(), ip.dst()));
    }

    // A TCP data segment, untagged, by hand (RFC 793 section 3.1):
    //   Ethernet: dst 02:00:00:00:00:02, src 02:00:00:00:00:01, IPv4
    //   IPv4: total 0x2e (46 = 20 + 20 + 6), id 0x0001, DF, TTL 64, TCP,
    //         192.168.1.10 -> 192.168.1.20
    //         checksum: 4500 + 002e + 0001 + 4000 + 4006 + c0a8 + 010a
    //                   + c0a8 + 0114 = 0x248a3 -> 0x48a5; ~ = 0xb75a
    //   TCP: 49152 -> 15000, seq 0x01020305, ack 0x0a0b0c0d, offset 5,
    //        PSH|ACK (0x18), window 502, urgent 0, data "Ohello"
    //        checksum: pseudo c0a8 + 010a + c0a8 + 0114 + 0006 + 001a = 0x1838e
    //                  header c000 + 3a98 + 0102 + 0305 + 0a0b + 0c0d + 5018
    //                         + 01f6 = 0x166c5
    //                  data 4f68 + 656c + 6c6f = 0x12143
    //                  total 0x40b96 -> 0x0b9a; ~ = 0xf465
    // (all sums re-checked outside Rust with a Python sum)
    const TCP_FRAME: [u8; 60] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0x00, 0x00, 0x2e, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0xb7, 0x5a, // IPv4
        0xc0, 0xa8, 0x01, 0x0a, 0xc0, 0xa8, 0x01, 0x14, //
        0xc0, 0x00, 0x3a, 0x98, 0x01, 0x02, 0x03, 0x05, 0x0a, 0x0b, 0x0c, 0x0d, // TCP
        0x50, 0x18, 0x01, 0xf6, 0xf4, 0x65, 0x00, 0x00, //
        b'O', b'h', b'e', b'l', b'l', b'o', // data
    ];

    #[test]
    fn hand_written_tcp_frame() {
        let l = dissect_ethernet(&TCP_FRAME).unwrap();
        assert_eq!(l.eth.unwrap().vlans, [None, None]);
        let ip = l.ipv4.unwrap();
        assert_eq!((ip.protocol, ip.ttl, ip.total_len), (6, 64, 46));
        assert_eq!(
            l.transport,
            Transport::Tcp {
                src_port: 49152,
                dst_port: 15000,
                seq: 0x0102_0305,
                ack: 0x0a0b_0c0d,
                flags: TcpFlags::PSH | TcpFlags::ACK,
                payload: b"Ohello",
                payload_offset: 54
            }
        );
        let p = ipv4::Packet::new_checked(&TCP_FRAME[14..]).unwrap();
        assert!(p.verify_checksum());
        let s = tcp::Segment::new_checked(p.payload()).unwrap();
        assert!(s.verify_checksum(p.src(), p.dst()));
        assert_eq!(checksum::sum(&TCP_FRAME[14..34]), 0xffff);
    }

    #[test]
    fn fragments_other_protocols_and_non_ip() {
        let mut frag = UDP_FRAME;
        frag[24] = 0x20; // MF
        let l = dissect_ethernet(&frag).unwrap();
        assert_eq!(l.transport, Transport::Fragment);
        assert!(l.ipv4.unwrap().is_fragment);

        let mut icmp = UDP_FRAME;
        icmp[27] = 1;
        assert_eq!(
            dissect_ethernet(&icmp).unwrap().transport,
            Transport::OtherIp { protocol: 1 }
        );

        let mut arp = UDP_FRAME;
        arp[16..18].copy_from_slice(&[0x08, 0x06]);
        let l = dissect_ethernet(&arp).unwrap();
        assert_eq!(l.transport, Transport::NonIp { ethertype: 0x0806 });
        assert!(l.ipv4.is_none());
        assert!(l.eth.is_some());
    }

    #[test]
    fn errors_are_offset_from_the_frame_start() {
        // UDP length 40 but only 16 bytes of IPv4 payload before total length.
        let mut bad = UDP_FRAME;
        bad[43] = 40;
        assert_eq!(
            dissect_ethernet(&bad).unwrap_err(),
            Error::Truncated {
                protocol: "udp",
                msg_type: None,
                field: "payload",
                offset: 46,
                needed: 32,
                available: 4
            }
        );
        let mut bad = UDP_FRAME;
        bad[18] = 0x46; // IHL 6: 24 bytes of header, but total length 32 is fine...
        bad[21] = 0x14; // ...total length 20 < 24 is not
        assert_eq!(
            dissect_ethernet(&bad).unwrap_err(),
            Error::Invalid {
                protocol: "ipv4",
                msg_type: None,
                field: "total_length",
                offset: 20,
                expected: "a total length of at least the header length"
            }
        );
        let mut bad = TCP_FRAME;
        bad[46] = 0x30;
        let e = dissect_ethernet(&bad).unwrap_err();
        assert_eq!((e.field(), e.offset()), ("data_offset", 46));
        assert_eq!(dissect_ethernet(&UDP_FRAME[..30]).unwrap_err().offset(), 18);
    }

    #[test]
    fn raw_ip_and_ipv6() {
        let l = dissect_ipv4(&UDP_FRAME[18..]).unwrap();
        assert!(l.eth.is_none());
        assert_eq!(l.transport.payload(), Some(&b"ITCH"[..]));
        assert_eq!(l.transport.payload_offset(), Some(28));
        let v6 = [0x60u8; 40];
        assert_eq!(
            dissect_ipv4(&v6).unwrap().transport,
            Transport::NonIp { ethertype: 0x86dd }
        );
        assert_eq!(dissect_ipv4(&[0x45]).unwrap_err().field(), "header");
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        // SLL v1 (tcpdump.org LINKTYPE_LINUX_SLL): packet type 0 (to us),
        // ARPHRD_ETHER 1, address length 6, address padded to 8, protocol.
        let mut sll = vec![
            0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc, 0, 0, 0x08,
            0x00,
        ];
        sll.extend_from_slice(&UDP_FRAME[18..50]);
        let l = dissect_linux_sll(&sll).unwrap();
        assert!(l.eth.is_none());
        assert_eq!(l.ipv4.unwrap().dst, Ipv4Addr::new(233, 54, 12, 1));
        assert_eq!(l.transport.payload_offset(), Some(16 + 28));
        assert_eq!(l.transport.payload(), Some(&b"ITCH"[..]));

        // SLL v2 (LINKTYPE_LINUX_SLL2): protocol, reserved, ifindex, ARPHRD,
        // packet type, address length, address.
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0x00, 0x01, 0x00, 0x06, 0x00, 0x1b, 0x21, 0xaa, 0xbb,
            0xcc, 0, 0,
        ];
        sll2.extend_from_slice(&UDP_FRAME[18..50]);
        let l = dissect_linux_sll2(&sll2).unwrap();
        assert_eq!(l.transport.payload_offset(), Some(20 + 28));

        // A VLAN tag kept in the data after a cooked header is stepped over.
        let mut tagged = sll[..14].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]);
        tagged.extend_from_slice(&UDP_FRAME[18..50]);
        let l = dissect_linux_sll(&tagged).unwrap();
        assert_eq!(l.transport.payload_offset(), Some(20 + 28));

        assert_eq!(
            dissect_linux_sll(&sll[..15]).unwrap_err(),
            Error::Truncated {
                protocol: "linux_sll",
                msg_type: None,
                field: "header",
                offset: 0,
                needed: 16,
                available: 15
            }
        );
        assert_eq!(
            dissect_linux_sll(&tagged[..18]).unwrap_err().field(),
            "vlan_tag"
        );
        assert_eq!(
            dissect_linux_sll2(&sll2[..19]).unwrap_err().field(),
            "header"
        );
        sll[14] = 0x86;
        sll[15] = 0xdd;
        assert_eq!(
            dissect_linux_sll(&sll).unwrap().transport,
            Transport::NonIp { ethertype: 0x86dd }
        );
    }

    #[test]
    fn layers_describe_themselves() {
        let l = dissect_ethernet(&UDP_FRAME).unwrap();
        let mut c = FieldLog::default();
        l.eth.unwrap().describe(&mut c);
        l.ipv4.unwrap().describe(&mut c);
        l.transport.describe(&mut c);
        assert_eq!(
            c.0,
            [
                r#"dst="01:00:5e:36:0c:01""#,
                r#"src="00:1b:21:aa:bb:cc""#,
                "vlan_id=100",
                "vlan_pcp=0",
                "vlan_dei=0",
                "ethertype=2048",
                r#"src="10.0.0.1""#,
                r#"dst="233.54.12.1""#,
                "protocol=17",
                "ttl=32",
                "identification=4660",
                "is_fragment=0",
                "total_length=32",
                "src_port=30001",
                "dst_port=26400",
                "payload_length=4",
                "payload_offset=46",
            ]
        );
        assert_eq!((l.transport.protocol(), l.transport.kind()), ("udp", "Udp"));
        let t = dissect_ethernet(&TCP_FRAME).unwrap().transport;
        let c = fields_of(&t);
        assert!(c.contains(&r#"flags="PSH|ACK""#.to_string()));
        assert_eq!(t.kind(), "Tcp");
    }

    fn mutated(base: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
        let mut v = base.to_vec();
        for &(i, b) in edits {
            let at = i % v.len();
            v[at] = b;
        }
        v.truncate(cut.min(v.len()));
        v
    }

    /// The fast path never disagrees with the general dissector.
    fn assert_fast_agrees(frame: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = ethernet_udp_fast(frame) {
            match dissect_ethernet(frame).map(|l| l.transport) {
                Ok(Transport::Udp {
                    dst_port,
                    payload,
                    payload_offset,
                    ..
                }) => {
                    prop_assert_eq!(fast.dst_port, dst_port);
                    prop_assert_eq!(fast.payload_offset, payload_offset);
                    prop_assert_eq!(fast.payload_len, payload.len());
                }
                other => prop_assert!(false, "fast path found UDP, dissect says {:?}", other),
            }
        }
        Ok(())
    }

    /// The frame without its VLAN tag (bytes 12..16).
    fn untagged(tagged: &[u8]) -> Vec<u8> {
        [&tagged[..12], &tagged[16..]].concat()
    }

    #[test]
    fn fast_path_takes_the_common_case_only() {
        let plain = untagged(&UDP_FRAME);
        let fast = ethernet_udp_fast(&plain).expect("plain UDP frame");
        assert_eq!(
            fast,
            FastUdp {
                dst_port: 0x6720,
                payload_offset: 42,
                payload_len: 4
            }
        );
        assert_eq!(&plain[42..46], b"ITCH");
        assert_fast_agrees(&plain).unwrap();
        // Tagged frames, TCP and short frames go to the general dissector.
        assert_eq!(ethernet_udp_fast(&UDP_FRAME), None);
        assert_eq!(ethernet_udp_fast(&TCP_FRAME), None);
        assert_eq!(ethernet_udp_fast(&plain[..41]), None);
    }

    proptest! {
        #[test]
        fn fast_path_agrees_on_damaged_frames(
            edits in proptest::collection::vec((0usize..48, any::<u8>()), 0..4),
            cut in 0usize..200,
            tcp in any::<bool>(),
        ) {
            let base = if tcp { TCP_FRAME.to_vec() } else { untagged(&UDP_FRAME) };
            let frame = mutated(&base, &edits, cut);
            assert_fast_agrees(&frame)?;
        }

        #[test]
        fn fast_path_agrees_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            assert_fast_agrees(&bytes)?;
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = dissect_ethernet(&bytes);
            let _ = dissect_ipv4(&bytes);
            let _ = dissect_linux_sll(&bytes);
            let _ = dissect_linux_sll2(&bytes);
        }

        /// Random edits of valid frames reach the inner layers, which random bytes
        /// alone rarely do; whatever comes back must stay inside the frame.
        #[test]
        fn never_panics_on_damaged_frames(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in 0usize..64,
            tcp in any::<bool>(),
        ) {
            let frame = mutated(if tcp { &TCP_FRAME } else { &UDP_FRAME }, &edits, cut);
            match dissect_ethernet(&frame) {
                Ok(l) => {
                    if let (Some(p), Some(at)) = (l.transport.payload(), l.transport.payload_offset()) {
                        prop_assert_eq!(frame.get(at..at + p.len()), Some(p));
                    }
                }
                Err(e) => {
                    prop_assert!(e.offset() <= frame.len());
                    if let Error::Truncated { offset, available, .. } = e {
                        prop_assert!(offset + available <= frame.len());
                    }
                }
            }
            let _ = dissect_ipv4(frame.get(14..).unwrap_or(&[]));
        }
    }
}
