//! Frame templates for the send path: Ethernet, IPv4 and UDP (or TCP) headers
//! built once per flow, then stamped in front of each payload with only the
//! per-frame fields patched.
//!
//! The caller writes the payload straight into its transmit buffer after
//! `header_len()` bytes, then calls `finish`: the prepared headers are copied in,
//! the IPv4 total length and identification written, the IPv4 header checksum
//! completed from a partial sum precomputed over the constant fields (two
//! ones-complement additions instead of a pass over the header), and the UDP
//! length and (optionally) checksum, or the TCP fields and checksum, filled in.
//! Nothing here allocates; a template is a few dozen bytes on the stack.
//!
//! Templates never pad: a frame shorter than the 60-byte Ethernet minimum (64 with
//! the FCS) is returned at its true length, and the NIC pads it on transmit. Write
//! a capture of such frames as they are; a receiver's capture would show padding.
//! IPv4 headers carry DF (RFC 6864 atomic datagrams) and no options.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use ticklab::wire::{MacAddr, TcpEndpoints, TcpFlags, TcpFrameTemplate};
//! let template = TcpFrameTemplate::new(&TcpEndpoints {
//!     src_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
//!     dst_mac: MacAddr([0x02, 0, 0, 0, 0, 2]),
//!     vlan: None,
//!     src_ip: Ipv4Addr::new(10, 0, 0, 1),
//!     dst_ip: Ipv4Addr::new(10, 0, 0, 2),
//!     src_port: 15000,
//!     dst_port: 40000,
//!     ttl: 64,
//!     dscp: 0,
//! });
//! let mut frame = [0u8; 1514];
//! let hl = template.header_len();
//! frame[hl..hl + 5].copy_from_slice(b"hello");
//! let len = template
//!     .finish(&mut frame, 5, 7, 1000, 2000, TcpFlags::PSH | TcpFlags::ACK, 8192)
//!     .unwrap();
//! assert_eq!(len, 54 + 5);
//! ```

use std::net::Ipv4Addr;

use super::ethernet::{self, ethertype, MacAddr, VlanTag};
use super::tcp::{self, TcpFlags};
use super::{checksum, ipv4, put_be16, put_be32, udp, Error};

/// The addresses and IP fields of one flow, fixed for the life of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// One 802.1Q tag, or none. PCP above 7 and VID above 4095 are masked.
    pub vlan: Option<VlanTag>,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
    /// 6 bits; higher bits are dropped. ECN is always 0 (not ECN-capable).
    pub dscp: u8,
}

/// The endpoints of a UDP flow.
pub type UdpEndpoints = Endpoints;
/// The endpoints of a TCP flow.
pub type TcpEndpoints = Endpoints;

/// The Ethernet multicast MAC for an IPv4 group (RFC 1112 section 6.4):
/// `01:00:5e` followed by the low 23 bits of the group address.
pub fn multicast_mac(group: Ipv4Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

const MAX_LINK_LEN: usize = ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN;
const UDP_HEADERS_MAX: usize = MAX_LINK_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
const TCP_HEADERS_MAX: usize = MAX_LINK_LEN + ipv4::HEADER_LEN + tcp::HEADER_LEN;

/// The parts common to both templates: where IPv4 starts and its partial sum.
#[derive(Debug, Clone, Copy)]
struct IpPart {
    /// 14, or 18 with a VLAN tag.
    offset: usize,
    /// Ones-complement sum of the IPv4 header with total length, identification
    /// and checksum zero: the constant part of every frame's header checksum.
    constant_sum: u16,
}

impl IpPart {
    /// Writes Ethernet and IPv4 headers (total length, identification and checksum
    /// zero) into `out` and returns where IPv4 starts and the partial sum.
    fn build(out: &mut [u8], ep: &Endpoints, protocol: u8) -> IpPart {
        let vlans: &[VlanTag] = match &ep.vlan {
            Some(tag) => core::slice::from_ref(tag),
            None => &[],
        };
        let offset = ethernet::write_header(out, ep.dst_mac, ep.src_mac, vlans, ethertype::IPV4)
            .expect("template buffers hold an Ethernet header with one tag");
        let header = ipv4::Header {
            src: ep.src_ip,
            dst: ep.dst_ip,
            protocol,
            ttl: ep.ttl,
            dscp: ep.dscp & 0x3f,
            ecn: 0,
            identification: 0,
            dont_fragment: true,
        };
        let ip = &mut out[offset..offset + ipv4::HEADER_LEN];
        header
            .emit(ip, 0)
            .expect("template buffers hold an IPv4 header");
        put_be16(ip, ipv4::offset::TOTAL_LEN, 0);
        put_be16(ip, ipv4::offset::CHECKSUM, 0);
        IpPart {
            offset,
            constant_sum: checksum::sum(ip),
        }
    }

    /// Patches total length, identification and header checksum of the IPv4
    /// header at `self.offset` in `frame`.
    #[inline]
    fn finish(&self, frame: &mut [u8], total_len: u16, ip_id: u16) {
        let ip = &mut frame[self.offset..self.offset + ipv4::HEADER_LEN];
        put_be16(ip, ipv4::offset::TOTAL_LEN, total_len);
        put_be16(ip, ipv4::offset::IDENT, ip_id);
        let sum = checksum::add(self.constant_sum, checksum::add(total_len, ip_id));
        put_be16(ip, ipv4::offset::CHECKSUM, !sum);
    }
}

/// Checks the frame can hold headers plus payload and the IPv4 total length fits
/// its 16 bits; returns (frame length, IPv4 total length).
fn frame_lengths(
    frame_len: usize,
    header_len: usize,
    ip_offset: usize,
    payload_len: usize,
) -> Result<(usize, u16), Error> {
    let Ok(ip_total) = u16::try_from(header_len - ip_offset + payload_len) else {
        return Err(Error::Invalid {
            protocol: "ipv4",
            msg_type: None,
            field: "total_length",
            offset: ip_offset + ipv4::offset::TOTAL_LEN,
            expected: "headers plus payload of at most 65535 bytes",
        });
    };
    let total = header_len + payload_len;
    if frame_len < total {
        return Err(Error::Truncated {
            protocol: "ethernet",
            msg_type: None,
            field: "frame",
            offset: 0,
            needed: total,
            available: frame_len,
        });
    }
    Ok((total, ip_total))
}

/// Prepared Ethernet/IPv4/UDP headers for one flow.
#[derive(Debug, Clone)]
pub struct UdpFrameTemplate {
    headers: [u8; UDP_HEADERS_MAX],
    header_len: usize,
    ip: IpPart,
    /// Pseudo-header (without its length) plus the UDP ports: the constant part
    /// of every datagram's checksum.
    udp_constant_sum: u16,
    udp_checksum: bool,
}

impl UdpFrameTemplate {
    /// Builds the headers for `ep`. With `udp_checksum` false, datagrams carry a
    /// zero checksum ("none", allowed by RFC 768 over IPv4), which saves a pass
    /// over the payload; most market-data feeds send it that way.
    pub fn new(ep: &UdpEndpoints, udp_checksum: bool) -> Self {
        let mut headers = [0u8; UDP_HEADERS_MAX];
        let ip = IpPart::build(&mut headers, ep, ipv4::protocol::UDP);
        let udp_at = ip.offset + ipv4::HEADER_LEN;
        udp::write_header(&mut headers[udp_at..], ep.src_port, ep.dst_port, 0)
            .expect("template buffers hold a UDP header");
        put_be16(&mut headers[udp_at..], udp::offset::LENGTH, 0);
        let udp_constant_sum = checksum::add(
            checksum::pseudo_header_sum(ep.src_ip, ep.dst_ip, ipv4::protocol::UDP, 0),
            checksum::sum(&headers[udp_at..udp_at + udp::HEADER_LEN]),
        );
        UdpFrameTemplate {
            headers,
            header_len: udp_at + udp::HEADER_LEN,
            ip,
            udp_constant_sum,
            udp_checksum,
        }
    }

    /// Bytes of headers before the payload: 42, or 46 with a VLAN tag.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Whether `finish` computes the UDP checksum.
    pub fn udp_checksum(&self) -> bool {
        self.udp_checksum
    }

    /// Copies the prepared headers into `frame[..header_len]` and patches IPv4
    /// total length, identification (`ip_id`), the IPv4 header checksum, the UDP
    /// length and, if enabled, the UDP checksum over the payload the caller already
    /// wrote at `frame[header_len..header_len + payload_len]`. Returns the frame
    /// length, `header_len + payload_len`, unpadded.
    ///
    /// Fails, writing nothing, if `frame` is shorter than that or the datagram
    /// would exceed the 65535-byte IPv4 total length.
    pub fn finish(&self, frame: &mut [u8], payload_len: usize, ip_id: u16) -> Result<usize, Error> {
        let (total, ip_total) =
            frame_lengths(frame.len(), self.header_len, self.ip.offset, payload_len)?;
        let frame = &mut frame[..total];
        let (headers, payload) = frame.split_at_mut(self.header_len);
        headers.copy_from_slice(&self.headers[..self.header_len]);
        self.ip.finish(headers, ip_total, ip_id);

        // Fits: ip_total is a u16 and includes the 20-byte IPv4 header.
        let udp_len = (udp::HEADER_LEN + payload_len) as u16;
        let udp = &mut headers[self.ip.offset + ipv4::HEADER_LEN..];
        put_be16(udp, udp::offset::LENGTH, udp_len);
        if self.udp_checksum {
            // The length appears twice: in the pseudo-header and in the header.
            let sum = checksum::add(
                checksum::add(self.udp_constant_sum, checksum::add(udp_len, udp_len)),
                checksum::sum(payload),
            );
            let value = match !sum {
                0 => 0xffff, // RFC 768: a computed zero is sent as all ones
                v => v,
            };
            put_be16(udp, udp::offset::CHECKSUM, value);
        }
        Ok(total)
    }
}

/// Prepared Ethernet/IPv4/TCP headers (no TCP options) for one direction of a
/// connection.
#[derive(Debug, Clone)]
pub struct TcpFrameTemplate {
    headers: [u8; TCP_HEADERS_MAX],
    header_len: usize,
    ip: IpPart,
    /// The pseudo-header without its length.
    pseudo_sum: u16,
}

impl TcpFrameTemplate {
    /// Builds the headers for `ep`.
    pub fn new(ep: &TcpEndpoints) -> Self {
        let mut headers = [0u8; TCP_HEADERS_MAX];
        let ip = IpPart::build(&mut headers, ep, ipv4::protocol::TCP);
        let tcp_at = ip.offset + ipv4::HEADER_LEN;
        tcp::Header {
            src_port: ep.src_port,
            dst_port: ep.dst_port,
            ..tcp::Header::default()
        }
        .emit(&mut headers[tcp_at..])
        .expect("template buffers hold a TCP header");
        TcpFrameTemplate {
            headers,
            header_len: tcp_at + tcp::HEADER_LEN,
            ip,
            pseudo_sum: checksum::pseudo_header_sum(ep.src_ip, ep.dst_ip, ipv4::protocol::TCP, 0),
        }
    }

    /// Bytes of headers before the payload: 54, or 58 with a VLAN tag.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Copies the prepared headers into `frame[..header_len]`, patches the IPv4
    /// fields as [`UdpFrameTemplate::finish`] does, writes `seq`, `ack`, `flags` and
    /// `window`, and computes the TCP checksum over header and the payload the
    /// caller already wrote at `frame[header_len..header_len + payload_len]`.
    /// Returns the frame length, unpadded.
    #[allow(clippy::too_many_arguments)] // the per-segment fields of a TCP header
    pub fn finish(
        &self,
        frame: &mut [u8],
        payload_len: usize,
        ip_id: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
    ) -> Result<usize, Error> {
        let (total, ip_total) =
            frame_lengths(frame.len(), self.header_len, self.ip.offset, payload_len)?;
        let frame = &mut frame[..total];
        frame[..self.header_len].copy_from_slice(&self.headers[..self.header_len]);
        self.ip.finish(frame, ip_total, ip_id);

        let tcp_at = self.ip.offset + ipv4::HEADER_LEN;
        let segment = &mut frame[tcp_at..];
        put_be32(segment, tcp::offset::SEQ, seq);
        put_be32(segment, tcp::offset::ACK, ack);
        segment[tcp::offset::FLAGS] = flags.bits();
        put_be16(segment, tcp::offset::WINDOW, window);
        // Fits: ip_total is a u16 and includes the 20-byte IPv4 header.
        let tcp_len = (tcp::HEADER_LEN + payload_len) as u16;
        let sum = checksum::add(
            checksum::add(self.pseudo_sum, tcp_len),
            checksum::sum(segment),
        );
        put_be16(segment, tcp::offset::CHECKSUM, !sum);
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dissect::{dissect_ethernet, Transport};
    use proptest::prelude::*;

    /// An independent Internet checksum for cross-checking: RFC 1071's reference
    /// C loop transcribed (16-bit big-endian words into a 32-bit accumulator,
    /// carries folded at the end), sharing no code with `checksum`.
    fn reference_checksum(pieces: &[&[u8]]) -> u16 {
        let mut all = Vec::new();
        for p in pieces {
            all.extend_from_slice(p);
        }
        let mut sum: u32 = 0;
        let mut chunks = all.chunks(2);
        for c in &mut chunks {
            let word = (u32::from(c[0]) << 8) | c.get(1).map_or(0, |&b| u32::from(b));
            sum += word;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&src.octets());
        v.extend_from_slice(&dst.octets());
        v.extend_from_slice(&[0, proto]);
        v.extend_from_slice(&(len as u16).to_be_bytes());
        v
    }

    fn endpoints(vlan: Option<VlanTag>) -> Endpoints {
        Endpoints {
            src_mac: MacAddr([0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc]),
            dst_mac: multicast_mac(Ipv4Addr::new(233, 54, 12, 1)),
            vlan,
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(233, 54, 12, 1),
            src_port: 30001,
            dst_port: 26400,
            ttl: 32,
            dscp: 0,
        }
    }

    #[test]
    fn multicast_mac_keeps_low_23_bits() {
        // RFC 1112 section 6.4: the high bit of the second octet is dropped.
        assert_eq!(
            multicast_mac(Ipv4Addr::new(239, 255, 1, 2)),
            MacAddr([0x01, 0x00, 0x5e, 0x7f, 0x01, 0x02])
        );
        assert_eq!(
            multicast_mac(Ipv4Addr::new(224, 128, 0, 251)),
            MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb])
        );
    }

    #[test]
    fn udp_template_reproduces_the_hand_written_frame() {
        // The same flow as dissect.rs's UDP_FRAME, whose checksums were computed by
        // hand there: IPv4 0x4961 with identification 0x1234, UDP 0x97af.
        let t = UdpFrameTemplate::new(
            &endpoints(Some(VlanTag {
                pcp: 0,
                dei: false,
                vid: 100,
            })),
            true,
        );
        assert_eq!(t.header_len(), 46);
        let mut frame = [0u8; 60];
        frame[46..50].copy_from_slice(b"ITCH");
        assert_eq!(t.finish(&mut frame, 4, 0x1234), Ok(50));
        let expected: [u8; 50] = [
            0x01, 0x00, 0x5e, 0x36, 0x0c, 0x01, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc, 0x81, 0x00,
            0x00, 0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x20, 0x11,
            0x49, 0x61, 0x0a, 0x00, 0x00, 0x01, 0xe9, 0x36, 0x0c, 0x01, 0x75, 0x31, 0x67, 0x20,
            0x00, 0x0c, 0x97, 0xaf, b'I', b'T', b'C', b'H',
        ];
        assert_eq!(frame[..50], expected);
        // Not padded: the bytes after the frame are untouched.
        assert_eq!(frame[50..], [0u8; 10]);
    }

    #[test]
    fn udp_template_without_checksum_and_without_vlan() {
        let t = UdpFrameTemplate::new(&endpoints(None), false);
        assert!(!t.udp_checksum());
        assert_eq!(t.header_len(), 42);
        let mut frame = [0xeeu8; 100];
        let n = t.finish(&mut frame, 0, 9).unwrap();
        assert_eq!(n, 42);
        assert_eq!(&frame[38..42], &[0x00, 0x08, 0x00, 0x00]);
        let ip = ipv4::Packet::new_checked(&frame[14..42]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.total_len(), 28);
    }

    #[test]
    fn finish_rejects_short_frames_and_oversized_payloads() {
        let t = UdpFrameTemplate::new(&endpoints(None), true);
        let mut frame = [0u8; 50];
        assert_eq!(
            t.finish(&mut frame, 9, 0).unwrap_err(),
            Error::Truncated {
                protocol: "ethernet",
                msg_type: None,
                field: "frame",
                offset: 0,
                needed: 51,
                available: 50
            }
        );
        assert_eq!(frame, [0u8; 50], "nothing written on error");
        let mut big = vec![0u8; 70_000];
        assert_eq!(t.finish(&mut big, 65_507, 0), Ok(42 + 65_507));
        assert_eq!(
            t.finish(&mut big, 65_508, 0).unwrap_err().field(),
            "total_length"
        );
        let tcp = TcpFrameTemplate::new(&endpoints(None));
        assert_eq!(
            tcp.finish(&mut big, 65_496, 0, 0, 0, TcpFlags::ACK, 0)
                .unwrap_err()
                .offset(),
            16
        );
        assert!(tcp
            .finish(&mut [0u8; 53], 0, 0, 0, 0, TcpFlags::ACK, 0)
            .is_err());
    }

    #[test]
    fn tcp_template_reproduces_the_hand_written_frame() {
        // dissect.rs's TCP_FRAME: IPv4 checksum 0xb75a, TCP checksum 0xf465.
        let t = TcpFrameTemplate::new(&Endpoints {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            dst_mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            vlan: None,
            src_ip: Ipv4Addr::new(192, 168, 1, 10),
            dst_ip: Ipv4Addr::new(192, 168, 1, 20),
            src_port: 49152,
            dst_port: 15000,
            ttl: 64,
            dscp: 0,
        });
        assert_eq!(t.header_len(), 54);
        let mut frame = [0u8; 60];
        frame[54..].copy_from_slice(b"Ohello");
        let n = t
            .finish(
                &mut frame,
                6,
                1,
                0x0102_0305,
                0x0a0b_0c0d,
                TcpFlags::PSH | TcpFlags::ACK,
                502,
            )
            .unwrap();
        assert_eq!(n, 60);
        assert_eq!(&frame[24..26], &[0xb7, 0x5a]);
        assert_eq!(&frame[50..52], &[0xf4, 0x65]);
        let expected_tcp = [
            0xc0, 0x00, 0x3a, 0x98, 0x01, 0x02, 0x03, 0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x50, 0x18,
            0x01, 0xf6, 0xf4, 0x65, 0x00, 0x00,
        ];
        assert_eq!(frame[34..54], expected_tcp);
    }

    fn vlan_strategy() -> impl Strategy<Value = Option<VlanTag>> {
        proptest::option::of(
            (0u8..8, any::<bool>(), 0u16..4096).prop_map(|(pcp, dei, vid)| VlanTag {
                pcp,
                dei,
                vid,
            }),
        )
    }

    fn endpoints_strategy() -> impl Strategy<Value = Endpoints> {
        (
            any::<[u8; 6]>(),
            any::<[u8; 6]>(),
            vlan_strategy(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            0u8..64,
        )
            .prop_map(|(s, d, vlan, si, di, sp, dp, ttl, dscp)| Endpoints {
                src_mac: MacAddr(s),
                dst_mac: MacAddr(d),
                vlan,
                src_ip: Ipv4Addr::from(si),
                dst_ip: Ipv4Addr::from(di),
                src_port: sp,
                dst_port: dp,
                ttl,
                dscp,
            })
    }

    proptest! {
        #[test]
        fn udp_template_round_trips_through_dissect(
            ep in endpoints_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 0..1600),
            ip_id: u16,
            with_checksum: bool,
        ) {
            let t = UdpFrameTemplate::new(&ep, with_checksum);
            let hl = t.header_len();
            prop_assert_eq!(hl, if ep.vlan.is_some() { 46 } else { 42 });
            let mut frame = vec![0u8; hl + payload.len() + 7];
            frame[hl..hl + payload.len()].copy_from_slice(&payload);
            let n = t.finish(&mut frame, payload.len(), ip_id).unwrap();
            prop_assert_eq!(n, hl + payload.len());
            let frame = &frame[..n];

            let l = dissect_ethernet(frame).unwrap();
            let eth = l.eth.unwrap();
            prop_assert_eq!((eth.src, eth.dst, eth.vlans), (ep.src_mac, ep.dst_mac, [ep.vlan, None]));
            let ip = l.ipv4.unwrap();
            prop_assert_eq!((ip.src, ip.dst, ip.ttl, ip.identification, ip.protocol), (ep.src_ip, ep.dst_ip, ep.ttl, ip_id, 17));
            prop_assert!(!ip.is_fragment);
            prop_assert_eq!(
                l.transport,
                Transport::Udp { src_port: ep.src_port, dst_port: ep.dst_port, payload: &payload[..], payload_offset: hl }
            );

            // Our verifiers...
            let ip_at = hl - 28;
            let packet = ipv4::Packet::new_checked(&frame[ip_at..]).unwrap();
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(packet.dscp(), ep.dscp);
            prop_assert!(packet.dont_fragment());
            let datagram = udp::Datagram::new_checked(packet.payload()).unwrap();
            prop_assert!(datagram.verify_checksum(ep.src_ip, ep.dst_ip));
            // ...and the independent reference.
            let ip_header = &frame[ip_at..ip_at + 20];
            prop_assert_eq!(reference_checksum(&[ip_header]), 0);
            let udp_bytes = &frame[hl - 8..];
            if with_checksum {
                let mut zeroed = udp_bytes.to_vec();
                zeroed[6] = 0;
                zeroed[7] = 0;
                let mut expected = reference_checksum(&[&pseudo(ep.src_ip, ep.dst_ip, 17, udp_bytes.len()), &zeroed]);
                if expected == 0 { expected = 0xffff; }
                prop_assert_eq!(datagram.checksum(), expected);
            } else {
                prop_assert_eq!(datagram.checksum(), 0);
            }
        }

        #[test]
        fn tcp_template_round_trips_through_dissect(
            ep in endpoints_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 0..1600),
            ip_id: u16,
            seq: u32,
            ack: u32,
            flags: u8,
            window: u16,
        ) {
            let t = TcpFrameTemplate::new(&ep);
            let hl = t.header_len();
            prop_assert_eq!(hl, if ep.vlan.is_some() { 58 } else { 54 });
            let mut frame = vec![0u8; hl + payload.len()];
            frame[hl..].copy_from_slice(&payload);
            let flags = TcpFlags::from_bits(flags);
            let n = t.finish(&mut frame, payload.len(), ip_id, seq, ack, flags, window).unwrap();
            prop_assert_eq!(n, frame.len());

            let l = dissect_ethernet(&frame).unwrap();
            prop_assert_eq!(l.eth.unwrap().vlans, [ep.vlan, None]);
            let ip = l.ipv4.unwrap();
            prop_assert_eq!((ip.src, ip.dst, ip.identification, ip.protocol), (ep.src_ip, ep.dst_ip, ip_id, 6));
            prop_assert_eq!(
                l.transport,
                Transport::Tcp { src_port: ep.src_port, dst_port: ep.dst_port, seq, ack, flags, payload: &payload[..], payload_offset: hl }
            );

            let ip_at = hl - 40;
            let packet = ipv4::Packet::new_checked(&frame[ip_at..]).unwrap();
            prop_assert!(packet.verify_checksum());
            let segment = tcp::Segment::new_checked(packet.payload()).unwrap();
            prop_assert!(segment.verify_checksum(ep.src_ip, ep.dst_ip));
            prop_assert_eq!(segment.window(), window);
            prop_assert_eq!(reference_checksum(&[&frame[ip_at..ip_at + 20]]), 0);
            let mut zeroed = frame[hl - 20..].to_vec();
            zeroed[16] = 0;
            zeroed[17] = 0;
            prop_assert_eq!(
                segment.checksum(),
                reference_checksum(&[&pseudo(ep.src_ip, ep.dst_ip, 6, zeroed.len()), &zeroed])
            );
        }
    }
}
