//! IPv4 packets (RFC 791) as a zero-copy view, plus the header writer the send
//! path uses.
//!
//! The buffer given to [`Packet::new_checked`] may be longer than the packet:
//! Ethernet pads frames to 60 bytes and captures may carry trailers, so the view
//! trusts the header's total length (once checked against the buffer) and
//! [`Packet::payload`] stops there. The view never allocates, never copies,
//! never verifies the checksum unless asked ([`Packet::verify_checksum`]), does not
//! reassemble fragments, and after `new_checked` no accessor panics.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use ticklab::wire::ipv4::{self, Packet};
//! // RFC 791 header, 20 bytes, total length 28 (8 bytes of UDP), plus 4 bytes of
//! // Ethernet padding that the view must ignore.
//! let mut buf = [0u8; 32];
//! let header = ipv4::Header {
//!     src: Ipv4Addr::new(10, 0, 0, 1),
//!     dst: Ipv4Addr::new(233, 54, 12, 1),
//!     protocol: ipv4::protocol::UDP,
//!     ttl: 64,
//!     ..ipv4::Header::default()
//! };
//! header.emit(&mut buf, 8).unwrap();
//! let packet = Packet::new_checked(&buf[..]).unwrap();
//! assert!(packet.verify_checksum());
//! assert_eq!(packet.payload().len(), 8);
//! assert_eq!(packet.dst(), Ipv4Addr::new(233, 54, 12, 1));
//! ```

use std::net::Ipv4Addr;

use super::{be16, be32, checksum, invalid, put_be16, truncated, Error};

const PROTOCOL: &str = "ipv4";

/// IP protocol numbers this crate names (IANA "Assigned Internet Protocol Numbers").
pub mod protocol {
    /// Internet Control Message Protocol.
    pub const ICMP: u8 = 1;
    /// Internet Group Management Protocol.
    pub const IGMP: u8 = 2;
    /// Transmission Control Protocol.
    pub const TCP: u8 = 6;
    /// User Datagram Protocol.
    pub const UDP: u8 = 17;
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Offsets of the fields the send path patches after building a header.
pub(crate) mod offset {
    pub const TOTAL_LEN: usize = super::field::TOTAL_LEN;
    pub const IDENT: usize = super::field::IDENT;
    pub const CHECKSUM: usize = super::field::CHECKSUM;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Largest value of the total length field.
pub const MAX_TOTAL_LEN: usize = 65_535;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the version, the header length and the total length against the
    /// buffer. The buffer may extend past the total length (link-layer padding).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        let Some(&ver_ihl) = bytes
            .get(field::VER_IHL)
            .filter(|_| bytes.len() >= HEADER_LEN)
        else {
            return Err(truncated(PROTOCOL, "header", 0..HEADER_LEN, bytes.len()));
        };
        if ver_ihl >> 4 != 4 {
            return Err(invalid(PROTOCOL, "version", field::VER_IHL, "4"));
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if header_len < HEADER_LEN {
            return Err(invalid(
                PROTOCOL,
                "ihl",
                field::VER_IHL,
                "a header length of at least 5 words (20 bytes)",
            ));
        }
        if header_len > bytes.len() {
            return Err(truncated(
                PROTOCOL,
                "options",
                HEADER_LEN..header_len,
                bytes.len(),
            ));
        }
        let total_len = usize::from(be16(bytes, field::TOTAL_LEN));
        if total_len < header_len {
            return Err(invalid(
                PROTOCOL,
                "total_length",
                field::TOTAL_LEN,
                "a total length of at least the header length",
            ));
        }
        if total_len > bytes.len() {
            return Err(truncated(
                PROTOCOL,
                "payload",
                header_len..total_len,
                bytes.len(),
            ));
        }
        Ok(Packet { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// IP version (4, once checked).
    pub fn version(&self) -> u8 {
        self.bytes().first().map_or(0, |b| b >> 4)
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        self.bytes()
            .first()
            .map_or(0, |b| usize::from(b & 0x0f) * 4)
    }

    /// The total length field: header plus payload, in bytes.
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.bytes(), field::TOTAL_LEN))
    }

    /// Differentiated services code point (RFC 2474), 6 bits.
    pub fn dscp(&self) -> u8 {
        self.bytes().get(field::DSCP_ECN).map_or(0, |b| b >> 2)
    }

    /// Explicit congestion notification (RFC 3168), 2 bits.
    pub fn ecn(&self) -> u8 {
        self.bytes().get(field::DSCP_ECN).map_or(0, |b| b & 0x3)
    }

    /// Identification, for fragment reassembly.
    pub fn identification(&self) -> u16 {
        be16(self.bytes(), field::IDENT)
    }

    fn flags_frag(&self) -> u16 {
        be16(self.bytes(), field::FLAGS_FRAG)
    }

    /// The Don't Fragment flag.
    pub fn dont_fragment(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_fragments(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn fragment_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// True for any fragment of a fragmented datagram, the first included
    /// (More Fragments set, or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.bytes().get(field::TTL).copied().unwrap_or(0)
    }

    /// Protocol of the payload (see [`protocol`]).
    pub fn protocol(&self) -> u8 {
        self.bytes().get(field::PROTOCOL).copied().unwrap_or(0)
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.bytes(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.bytes(), field::SRC.start))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.bytes(), field::DST.start))
    }

    /// The options bytes (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        self.bytes()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The whole header, options included.
    pub fn header(&self) -> &[u8] {
        self.bytes().get(..self.header_len()).unwrap_or(&[])
    }

    /// The payload: from the end of the header to the total length, not to the end
    /// of the buffer.
    pub fn payload(&self) -> &[u8] {
        payload_of(self.bytes())
    }

    /// Offset of the payload from the start of the buffer.
    pub fn payload_offset(&self) -> usize {
        self.header_len()
    }

    /// True if the header, options included, sums to `0xffff` (RFC 791 section 3.1).
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.header()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the DSCP (6 bits; higher bits are dropped).
    pub fn set_dscp(&mut self, dscp: u8) {
        if let Some(b) = self.bytes_mut().get_mut(field::DSCP_ECN) {
            *b = (dscp << 2) | (*b & 0x3);
        }
    }

    /// Sets the ECN bits (2 bits; higher bits are dropped).
    pub fn set_ecn(&mut self, ecn: u8) {
        if let Some(b) = self.bytes_mut().get_mut(field::DSCP_ECN) {
            *b = (*b & !0x3) | (ecn & 0x3);
        }
    }

    /// Sets the total length field. The view keeps bounding the payload by the
    /// buffer, so a value past its end cannot make an accessor panic.
    pub fn set_total_len(&mut self, len: u16) {
        put_be16(self.bytes_mut(), field::TOTAL_LEN, len);
    }

    /// Sets the identification.
    pub fn set_identification(&mut self, id: u16) {
        put_be16(self.bytes_mut(), field::IDENT, id);
    }

    fn set_flags_frag(&mut self, value: u16) {
        put_be16(self.bytes_mut(), field::FLAGS_FRAG, value);
    }

    /// Sets or clears Don't Fragment.
    pub fn set_dont_fragment(&mut self, on: bool) {
        let v = self.flags_frag() & !FLAG_DF;
        self.set_flags_frag(v | if on { FLAG_DF } else { 0 });
    }

    /// Sets or clears More Fragments.
    pub fn set_more_fragments(&mut self, on: bool) {
        let v = self.flags_frag() & !FLAG_MF;
        self.set_flags_frag(v | if on { FLAG_MF } else { 0 });
    }

    /// Sets the fragment offset, in bytes (rounded down to a multiple of 8).
    pub fn set_fragment_offset(&mut self, bytes: u16) {
        let v = self.flags_frag() & !FRAG_OFFSET_MASK;
        self.set_flags_frag(v | (bytes >> 3));
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, ttl: u8) {
        if let Some(b) = self.bytes_mut().get_mut(field::TTL) {
            *b = ttl;
        }
    }

    /// Sets the payload protocol.
    pub fn set_protocol(&mut self, protocol: u8) {
        if let Some(b) = self.bytes_mut().get_mut(field::PROTOCOL) {
            *b = protocol;
        }
    }

    /// Sets the source address.
    pub fn set_src(&mut self, addr: Ipv4Addr) {
        if let Some(b) = self.bytes_mut().get_mut(field::SRC) {
            b.copy_from_slice(&addr.octets());
        }
    }

    /// Sets the destination address.
    pub fn set_dst(&mut self, addr: Ipv4Addr) {
        if let Some(b) = self.bytes_mut().get_mut(field::DST) {
            b.copy_from_slice(&addr.octets());
        }
    }

    /// Sets the header checksum field as given.
    pub fn set_checksum(&mut self, value: u16) {
        put_be16(self.bytes_mut(), field::CHECKSUM, value);
    }

    /// Recomputes the header checksum over the header as it now stands.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.header());
        self.set_checksum(value);
    }

    /// The payload, writable (bounded like [`Packet::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = self.total_len().min(self.bytes().len());
        self.bytes_mut().get_mut(start..end).unwrap_or(&mut [])
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The payload, borrowed for as long as the buffer rather than the view, so a
    /// dissector can hand it on to the next layer.
    pub fn into_payload(self) -> &'a [u8] {
        payload_of(self.buffer)
    }
}

/// From the end of the header to the total length, clamped to the buffer.
fn payload_of(bytes: &[u8]) -> &[u8] {
    let start = bytes.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    let end = usize::from(be16(bytes, field::TOTAL_LEN)).min(bytes.len());
    bytes.get(start..end).unwrap_or(&[])
}

/// The fields of an option-less IPv4 header, for building one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Payload protocol (see [`protocol`]).
    pub protocol: u8,
    pub ttl: u8,
    /// 6 bits; higher bits are dropped.
    pub dscp: u8,
    /// 2 bits; higher bits are dropped.
    pub ecn: u8,
    pub identification: u16,
    pub dont_fragment: bool,
}

impl Default for Header {
    /// `0.0.0.0` to `0.0.0.0`, protocol 0, TTL 64, DF set, everything else zero.
    fn default() -> Self {
        Header {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            protocol: 0,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            identification: 0,
            dont_fragment: true,
        }
    }
}

impl Header {
    /// Writes the 20-byte header for a packet carrying `payload_len` bytes, checksum
    /// included, into `buf[..20]`, and returns 20.
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, Error> {
        let total = HEADER_LEN + payload_len;
        if total > MAX_TOTAL_LEN {
            return Err(invalid(
                PROTOCOL,
                "total_length",
                field::TOTAL_LEN,
                "a total length of at most 65535 bytes",
            ));
        }
        let buf_len = buf.len();
        let Some(out) = buf.get_mut(..HEADER_LEN) else {
            return Err(truncated(PROTOCOL, "header", 0..HEADER_LEN, buf_len));
        };
        out[field::VER_IHL] = 0x45;
        out[field::DSCP_ECN] = (self.dscp << 2) | (self.ecn & 0x3);
        put_be16(out, field::TOTAL_LEN, total as u16);
        put_be16(out, field::IDENT, self.identification);
        put_be16(
            out,
            field::FLAGS_FRAG,
            if self.dont_fragment { FLAG_DF } else { 0 },
        );
        out[field::TTL] = self.ttl;
        out[field::PROTOCOL] = self.protocol;
        put_be16(out, field::CHECKSUM, 0);
        out[field::SRC].copy_from_slice(&self.src.octets());
        out[field::DST].copy_from_slice(&self.dst.octets());
        let sum = checksum::checksum(out);
        put_be16(out, field::CHECKSUM, sum);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 791 section 3.1 layout. The header is the well-known example
    // 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73, DF, TTL 64.
    // Checksum by hand over the ten words with the checksum field zero:
    // 4500 + 0073 + 0000 + 4000 + 4011 + 0000 + c0a8 + 0001 + c0a8 + 00c7
    //   = 0x2479c; fold 0x479c + 0x2 = 0x479e; complement 0xb861.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet_with_payload(total: usize, buffer: usize) -> Vec<u8> {
        let mut v = vec![0xaa; buffer];
        v[..20].copy_from_slice(&HEADER);
        v[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        v
    }

    #[test]
    fn rfc791_header_by_hand() {
        let bytes = packet_with_payload(0x73, 0x73);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert_eq!((p.dscp(), p.ecn()), (0, 0));
        assert_eq!(p.identification(), 0);
        assert!(p.dont_fragment());
        assert!(!p.more_fragments());
        assert_eq!(p.fragment_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::UDP);
        assert_eq!(p.checksum(), 0xb861);
        assert!(p.verify_checksum());
        assert_eq!(p.src(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.payload().len(), 0x73 - 20);
        assert_eq!(
            checksum::checksum(&{
                let mut h = HEADER;
                h[10] = 0;
                h[11] = 0;
                h
            }),
            0xb861
        );
    }

    #[test]
    fn payload_stops_at_total_length_not_buffer_end() {
        // A 28-byte packet in a 46-byte Ethernet minimum payload.
        let bytes = packet_with_payload(28, 46);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn corrupted_checksum_fails_verification() {
        let mut bytes = packet_with_payload(20, 20);
        bytes[11] ^= 1;
        assert!(!Packet::new_checked(&bytes[..]).unwrap().verify_checksum());
    }

    #[test]
    fn options_and_fragments() {
        // IHL 6: one word of options (RFC 791 "No Operation" x3 + End of Options).
        // Fragment: MF set, offset 185 units = 1480 bytes, identification 0x1c46.
        let mut b = [0u8; 32];
        b[0] = 0x46;
        b[1] = 0xb9; // DSCP 46 (EF), ECN 1
        b[2..4].copy_from_slice(&32u16.to_be_bytes());
        b[4..6].copy_from_slice(&[0x1c, 0x46]);
        b[6..8].copy_from_slice(&[0x20, 0xb9]);
        b[8] = 1;
        b[9] = protocol::UDP;
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
        assert_eq!(p.identification(), 0x1c46);
        assert!(p.more_fragments());
        assert!(!p.dont_fragment());
        assert_eq!(p.fragment_offset(), 1480);
        assert!(p.is_fragment());
        assert_eq!(p.payload().len(), 8);

        // Last fragment: MF clear, offset non-zero, still a fragment.
        p.set_more_fragments(false);
        assert!(p.is_fragment());
        p.set_fragment_offset(0);
        assert!(!p.is_fragment());
        p.set_dont_fragment(true);
        assert!(p.dont_fragment());
        assert_eq!(&b[6..8], &[0x40, 0x00]);
    }

    #[test]
    fn errors_name_field_and_offset() {
        let err = |b: &[u8]| Packet::new_checked(b).unwrap_err();
        assert_eq!(
            err(&HEADER[..19]),
            Error::Truncated {
                protocol: "ipv4",
                msg_type: None,
                field: "header",
                offset: 0,
                needed: 20,
                available: 19
            }
        );
        let mut v6 = HEADER;
        v6[0] = 0x65;
        assert_eq!(
            err(&v6),
            Error::Invalid {
                protocol: "ipv4",
                msg_type: None,
                field: "version",
                offset: 0,
                expected: "4"
            }
        );
        let mut short_ihl = HEADER;
        short_ihl[0] = 0x44;
        assert_eq!(err(&short_ihl).field(), "ihl");
        let mut long_ihl = packet_with_payload(40, 40);
        long_ihl[0] = 0x4f; // 60-byte header in 40 bytes
        assert_eq!(
            err(&long_ihl),
            Error::Truncated {
                protocol: "ipv4",
                msg_type: None,
                field: "options",
                offset: 20,
                needed: 40,
                available: 20
            }
        );
        assert_eq!(err(&packet_with_payload(19, 40)).field(), "total_length");
        assert_eq!(
            err(&packet_with_payload(0x73, 0x70)),
            Error::Truncated {
                protocol: "ipv4",
                msg_type: None,
                field: "payload",
                offset: 20,
                needed: 0x5f,
                available: 0x5c
            }
        );
    }

    #[test]
    fn emit_writes_the_rfc791_example() {
        let h = Header {
            src: Ipv4Addr::new(192, 168, 0, 1),
            dst: Ipv4Addr::new(192, 168, 0, 199),
            protocol: protocol::UDP,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            identification: 0,
            dont_fragment: true,
        };
        let mut buf = [0u8; 20];
        assert_eq!(h.emit(&mut buf, 0x73 - 20), Ok(20));
        assert_eq!(buf, HEADER);
        assert_eq!(h.emit(&mut buf[..19], 0).unwrap_err().field(), "header");
        assert_eq!(
            h.emit(&mut buf, 65_516).unwrap_err().field(),
            "total_length"
        );
    }

    #[test]
    fn setters_then_fill_checksum() {
        let mut b = packet_with_payload(20, 20);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src(Ipv4Addr::new(10, 1, 2, 3));
        p.set_dst(Ipv4Addr::new(239, 1, 1, 1));
        p.set_ttl(1);
        p.set_protocol(protocol::TCP);
        p.set_dscp(0x3f);
        p.set_ecn(3);
        p.set_identification(0xbeef);
        p.set_total_len(20);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(
            (p.src(), p.dst()),
            (Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(239, 1, 1, 1))
        );
        assert_eq!((p.ttl(), p.protocol(), p.dscp(), p.ecn()), (1, 6, 0x3f, 3));
        assert_eq!(p.identification(), 0xbeef);
        // A total length past the buffer set after the check must not panic.
        p.set_total_len(9000);
        assert_eq!(p.payload().len(), 0);
        assert_eq!(p.payload_mut().len(), 0);
    }

    #[test]
    fn ttl_decrement_by_incremental_update() {
        // RFC 1624 use case: a router decrements TTL and patches the checksum.
        let mut b = HEADER;
        let old_word = u16::from_be_bytes([b[8], b[9]]);
        b[8] -= 1;
        let new_word = u16::from_be_bytes([b[8], b[9]]);
        let patched = checksum::update(0xb861, old_word, new_word);
        b[10..12].copy_from_slice(&patched.to_be_bytes());
        assert_eq!(patched, 0xb961);
        assert_eq!(checksum::sum(&b), 0xffff);
    }

    proptest! {
        #[test]
        fn view_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), first in 0x40u8..0x50) {
            let mut bytes = bytes;
            if let Some(b) = bytes.first_mut() { *b = first; }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.src(), p.dst(), p.ttl(), p.protocol(), p.is_fragment(), p.fragment_offset(), p.verify_checksum());
                prop_assert!(p.options().len() + HEADER_LEN == p.header_len());
                prop_assert_eq!(p.payload().len(), p.total_len() - p.header_len());
            }
        }
    }
}
