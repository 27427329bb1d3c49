//! Ethernet II frames with up to two VLAN tags (IEEE 802.1Q C-tag `0x8100`,
//! IEEE 802.1ad S-tag `0x88a8`, so plain, tagged and QinQ frames), as a zero-copy
//! view over the caller's bytes, plus the header writer the send path uses.
//!
//! The view starts at the destination MAC and ends wherever the buffer ends: no
//! preamble, no FCS (capture tools and NICs strip it; if one is present it is part
//! of the payload, as it is for any receiver that does not know it is there).
//! A view never allocates, never copies, and after [`Frame::new_checked`] no
//! accessor panics.
//!
//! A third tag is not unwrapped: the frame then reports the third TPID as its
//! ethertype, and a caller looking for IPv4 sees a non-IP frame. A value below
//! `0x0600` in the type position is an IEEE 802.3 length, not an ethertype; it is
//! reported as is, for the same reason.
//!
//! ```
//! use ticklab::wire::ethernet::{self, Frame, MacAddr, VlanTag};
//! let mut buf = [0u8; 64];
//! let dst = MacAddr([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
//! let src = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
//! let tag = VlanTag { pcp: 3, dei: false, vid: 100 };
//! let n = ethernet::write_header(&mut buf, dst, src, &[tag], ethernet::ethertype::IPV4).unwrap();
//! assert_eq!(n, 18);
//! let frame = Frame::new_checked(&buf[..]).unwrap();
//! assert_eq!(frame.vlan(0), Some(tag));
//! assert_eq!(frame.ethertype(), ethernet::ethertype::IPV4);
//! assert_eq!(frame.payload_offset(), 18);
//! assert_eq!(frame.dst().to_string(), "01:00:5e:01:02:03");
//! ```

use core::fmt;
use core::str::FromStr;

use super::{be16, invalid, put_be16, truncated, Error};

const PROTOCOL: &str = "ethernet";

/// Ethertypes this crate names.
pub mod ethertype {
    /// Internet Protocol version 4.
    pub const IPV4: u16 = 0x0800;
    /// Address Resolution Protocol.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer VLAN tag (C-tag).
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (S-tag, the outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// Internet Protocol version 6.
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    /// The first type field: the ethertype of an untagged frame, else a TPID.
    pub const TYPE: usize = 12;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of one VLAN tag (TPID plus TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// Most VLAN tags a [`Frame`] unwraps.
pub const MAX_VLAN_TAGS: usize = 2;

/// A 48-bit IEEE MAC address, printed as `01:00:5e:7f:00:01`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The six octets, first on the wire first.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Group address: the I/G bit (least significant bit of the first octet) is set.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The broadcast address.
    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }

    /// The address as text in a fixed buffer (`aa:bb:cc:dd:ee:ff`), for printers
    /// that must not allocate.
    pub fn to_text(self) -> [u8; 17] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b':'; 17];
        for (i, byte) in self.0.iter().enumerate() {
            out[i * 3] = HEX[usize::from(byte >> 4)];
            out[i * 3 + 1] = HEX[usize::from(byte & 0xf)];
        }
        out
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

/// A MAC address string was not six `:`- or `-`-separated hex octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseMacError;

impl fmt::Display for ParseMacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a MAC address like 01:00:5e:00:00:01")
    }
}

impl std::error::Error for ParseMacError {}

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for octet in &mut out {
            let part = parts.next().ok_or(ParseMacError)?;
            if part.is_empty() || part.len() > 2 {
                return Err(ParseMacError);
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| ParseMacError)?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError);
        }
        Ok(MacAddr(out))
    }
}

/// The tag control information of an IEEE 802.1Q / 802.1ad tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanTag {
    /// Priority code point, 3 bits.
    pub pcp: u8,
    /// Drop eligible indicator (formerly CFI).
    pub dei: bool,
    /// VLAN identifier, 12 bits.
    pub vid: u16,
}

impl VlanTag {
    /// Unpacks a 16-bit TCI: PCP in bits 15-13, DEI in bit 12, VID in bits 11-0.
    pub const fn from_tci(tci: u16) -> Self {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// Packs the tag into a TCI. Bits beyond the field widths (PCP above 7, VID
    /// above 4095) are dropped.
    pub const fn tci(self) -> u16 {
        ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

impl fmt::Display for VlanTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vlan {} pcp {}", self.vid, self.pcp)?;
        if self.dei {
            f.write_str(" dei")?;
        }
        Ok(())
    }
}

const fn is_vlan_tpid(value: u16) -> bool {
    value == ethertype::VLAN || value == ethertype::QINQ
}

/// A zero-copy view of an Ethernet II frame with zero, one or two VLAN tags.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
    /// Tags found by `new_checked`, so accessors need not walk them again.
    vlan_count: u8,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks that the buffer holds the whole header, tags included.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(truncated(PROTOCOL, "header", 0..HEADER_LEN, bytes.len()));
        }
        let mut vlan_count = 0u8;
        let mut type_at = field::TYPE;
        while usize::from(vlan_count) < MAX_VLAN_TAGS && is_vlan_tpid(be16(bytes, type_at)) {
            // A tag is only usable with the type field that follows it.
            let needed = VLAN_TAG_LEN + 2;
            if bytes.len() < type_at + needed {
                return Err(truncated(
                    PROTOCOL,
                    "vlan_tag",
                    type_at..type_at + needed,
                    bytes.len(),
                ));
            }
            vlan_count += 1;
            type_at += VLAN_TAG_LEN;
        }
        Ok(Frame { buffer, vlan_count })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    pub fn dst(&self) -> MacAddr {
        let mut out = [0u8; 6];
        if let Some(b) = self.buffer.as_ref().get(field::DST) {
            out.copy_from_slice(b);
        }
        MacAddr(out)
    }

    /// Source MAC address.
    pub fn src(&self) -> MacAddr {
        let mut out = [0u8; 6];
        if let Some(b) = self.buffer.as_ref().get(field::SRC) {
            out.copy_from_slice(b);
        }
        MacAddr(out)
    }

    /// Number of VLAN tags (0 to [`MAX_VLAN_TAGS`]).
    pub fn vlan_count(&self) -> usize {
        usize::from(self.vlan_count)
    }

    /// The `index`-th tag, outermost first.
    pub fn vlan(&self, index: usize) -> Option<VlanTag> {
        (index < self.vlan_count()).then(|| {
            VlanTag::from_tci(be16(
                self.buffer.as_ref(),
                field::TYPE + 2 + index * VLAN_TAG_LEN,
            ))
        })
    }

    /// The TPID of the `index`-th tag (`0x8100` or `0x88a8`), outermost first.
    pub fn vlan_tpid(&self, index: usize) -> Option<u16> {
        (index < self.vlan_count())
            .then(|| be16(self.buffer.as_ref(), field::TYPE + index * VLAN_TAG_LEN))
    }

    /// Both tag slots, outermost first; `None` where there is no tag.
    pub fn vlans(&self) -> [Option<VlanTag>; MAX_VLAN_TAGS] {
        [self.vlan(0), self.vlan(1)]
    }

    /// The ethertype after the tags (or an 802.3 length, below `0x0600`).
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), self.ethertype_offset())
    }

    fn ethertype_offset(&self) -> usize {
        field::TYPE + self.vlan_count() * VLAN_TAG_LEN
    }

    /// Offset of the payload from the start of the frame: 14, 18 or 22.
    pub fn payload_offset(&self) -> usize {
        HEADER_LEN + self.vlan_count() * VLAN_TAG_LEN
    }

    /// Everything after the header, up to the end of the buffer (including any
    /// padding the sender added to reach the 60-byte minimum).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.payload_offset()..)
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst(&mut self, mac: MacAddr) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::DST) {
            b.copy_from_slice(&mac.0);
        }
    }

    /// Sets the source MAC address.
    pub fn set_src(&mut self, mac: MacAddr) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::SRC) {
            b.copy_from_slice(&mac.0);
        }
    }

    /// Rewrites the TCI of an existing tag (tags cannot be added in place).
    /// Returns `false`, changing nothing, if the frame has no `index`-th tag.
    pub fn set_vlan(&mut self, index: usize, tag: VlanTag) -> bool {
        if index >= self.vlan_count() {
            return false;
        }
        put_be16(
            self.buffer.as_mut(),
            field::TYPE + 2 + index * VLAN_TAG_LEN,
            tag.tci(),
        );
        true
    }

    /// Sets the ethertype after the tags.
    pub fn set_ethertype(&mut self, value: u16) {
        let at = self.ethertype_offset();
        put_be16(self.buffer.as_mut(), at, value);
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.payload_offset();
        self.buffer.as_mut().get_mut(at..).unwrap_or(&mut [])
    }
}

impl<'a> Frame<&'a [u8]> {
    /// The payload, borrowed for as long as the buffer rather than the view.
    pub fn into_payload(self) -> &'a [u8] {
        let at = self.payload_offset();
        self.buffer.get(at..).unwrap_or(&[])
    }
}

/// Writes an Ethernet II header into `buf` and returns its length (14, 18 or 22).
///
/// `vlans` lists the tags outermost first. One tag is written as an 802.1Q C-tag
/// (`0x8100`); with two, the outer is an 802.1ad S-tag (`0x88a8`) and the inner a
/// C-tag, as IEEE 802.1ad specifies for QinQ.
pub fn write_header(
    buf: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
    vlans: &[VlanTag],
    ethertype: u16,
) -> Result<usize, Error> {
    if vlans.len() > MAX_VLAN_TAGS {
        return Err(invalid(
            PROTOCOL,
            "vlan_tag",
            HEADER_LEN + MAX_VLAN_TAGS * VLAN_TAG_LEN - 2,
            "at most two VLAN tags",
        ));
    }
    let len = HEADER_LEN + vlans.len() * VLAN_TAG_LEN;
    let buf_len = buf.len();
    let Some(out) = buf.get_mut(..len) else {
        return Err(truncated(PROTOCOL, "header", 0..len, buf_len));
    };
    out[field::DST].copy_from_slice(&dst.0);
    out[field::SRC].copy_from_slice(&src.0);
    let mut at = field::TYPE;
    for (i, tag) in vlans.iter().enumerate() {
        let tpid = if vlans.len() == 2 && i == 0 {
            ethertype::QINQ
        } else {
            ethertype::VLAN
        };
        put_be16(out, at, tpid);
        put_be16(out, at + 2, tag.tci());
        at += VLAN_TAG_LEN;
    }
    put_be16(out, at, ethertype);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // IEEE 802.1Q-2018 clause 9.6: a tag is TPID 0x8100 then TCI = PCP(3) DEI(1)
    // VID(12). IEEE 802.1ad uses TPID 0x88a8 for the outer (service) tag.
    const QINQ_FRAME: [u8; 26] = [
        0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01, // dst 01:00:5e:7f:00:01
        0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c, // src 00:1b:21:0a:0b:0c
        0x88, 0xa8, 0xb0, 0x0a, // S-tag: PCP 5, DEI 1, VID 10
        0x81, 0x00, 0x20, 0x64, // C-tag: PCP 1, DEI 0, VID 100
        0x08, 0x00, // IPv4
        0xde, 0xad, 0xbe, 0xef, // payload
    ];

    #[test]
    fn qinq_frame_by_hand() {
        let f = Frame::new_checked(&QINQ_FRAME[..]).unwrap();
        assert_eq!(f.dst(), MacAddr([0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01]));
        assert_eq!(f.src().to_string(), "00:1b:21:0a:0b:0c");
        assert_eq!(f.vlan_count(), 2);
        assert_eq!(
            f.vlan(0),
            Some(VlanTag {
                pcp: 5,
                dei: true,
                vid: 10
            })
        );
        assert_eq!(f.vlan_tpid(0), Some(0x88a8));
        assert_eq!(
            f.vlan(1),
            Some(VlanTag {
                pcp: 1,
                dei: false,
                vid: 100
            })
        );
        assert_eq!(f.vlan_tpid(1), Some(0x8100));
        assert_eq!(f.vlan(2), None);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload_offset(), 22);
        assert_eq!(f.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn untagged_and_single_tag() {
        let mut untagged = [0u8; 14];
        untagged[12..14].copy_from_slice(&[0x86, 0xdd]);
        let f = Frame::new_checked(&untagged[..]).unwrap();
        assert_eq!(f.vlan_count(), 0);
        assert_eq!(f.ethertype(), ethertype::IPV6);
        assert_eq!(f.payload(), &[] as &[u8]);

        let single = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 0x0f, 0xff, 0x08, 0x06,
        ];
        let f = Frame::new_checked(&single[..]).unwrap();
        assert_eq!(f.vlans(), [Some(VlanTag::from_tci(0x0fff)), None]);
        assert_eq!(f.vlan(0).unwrap().vid, 4095);
        assert_eq!(f.ethertype(), ethertype::ARP);
    }

    #[test]
    fn a_third_tag_is_left_as_the_ethertype() {
        let mut b = [0u8; 30];
        b[12..14].copy_from_slice(&[0x81, 0x00]);
        b[16..18].copy_from_slice(&[0x81, 0x00]);
        b[20..22].copy_from_slice(&[0x81, 0x00]);
        let f = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(f.vlan_count(), 2);
        assert_eq!(f.ethertype(), 0x8100);
        assert_eq!(f.payload_offset(), 22);
    }

    #[test]
    fn truncation_names_the_field() {
        assert_eq!(
            Frame::new_checked(&QINQ_FRAME[..13]).unwrap_err(),
            Error::Truncated {
                protocol: "ethernet",
                msg_type: None,
                field: "header",
                offset: 0,
                needed: 14,
                available: 13
            }
        );
        assert_eq!(
            Frame::new_checked(&QINQ_FRAME[..21]).unwrap_err(),
            Error::Truncated {
                protocol: "ethernet",
                msg_type: None,
                field: "vlan_tag",
                offset: 16,
                needed: 6,
                available: 5
            }
        );
        let e = Frame::new_checked(&QINQ_FRAME[..17]).unwrap_err();
        assert_eq!((e.field(), e.offset()), ("vlan_tag", 12));
    }

    #[test]
    fn writer_matches_the_hand_written_frame() {
        let mut buf = [0u8; 22];
        let n = write_header(
            &mut buf,
            MacAddr([0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01]),
            "00:1b:21:0a:0b:0c".parse().unwrap(),
            &[VlanTag::from_tci(0xb00a), VlanTag::from_tci(0x2064)],
            ethertype::IPV4,
        )
        .unwrap();
        assert_eq!(n, 22);
        assert_eq!(buf, QINQ_FRAME[..22]);
        assert_eq!(
            write_header(
                &mut buf[..17],
                MacAddr::BROADCAST,
                MacAddr::BROADCAST,
                &[VlanTag::default()],
                0x0800
            )
            .unwrap_err()
            .field(),
            "header"
        );
        let three = [VlanTag::default(); 3];
        assert!(write_header(
            &mut [0u8; 64],
            MacAddr::BROADCAST,
            MacAddr::BROADCAST,
            &three,
            0x0800
        )
        .is_err());
    }

    #[test]
    fn setters_rewrite_in_place() {
        let mut b = QINQ_FRAME;
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        f.set_dst(MacAddr::BROADCAST);
        f.set_src(MacAddr([1, 2, 3, 4, 5, 6]));
        assert!(f.set_vlan(
            1,
            VlanTag {
                pcp: 7,
                dei: false,
                vid: 200
            }
        ));
        assert!(!f.set_vlan(2, VlanTag::default()));
        f.set_ethertype(ethertype::ARP);
        f.payload_mut()[0] = 0;
        assert_eq!(
            &b[..12],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(&b[16..23], &[0x81, 0x00, 0xe0, 0xc8, 0x08, 0x06, 0x00]);
    }

    #[test]
    fn mac_text_and_parsing() {
        let mac = MacAddr([0x01, 0x00, 0x5e, 0xab, 0xcd, 0xef]);
        assert_eq!(mac.to_string(), "01:00:5e:ab:cd:ef");
        assert_eq!(&mac.to_text(), b"01:00:5e:ab:cd:ef");
        assert!(mac.is_multicast());
        assert!(!mac.is_broadcast());
        assert_eq!("01-00-5E-AB-CD-EF".parse::<MacAddr>(), Ok(mac));
        for bad in [
            "",
            "01:00:5e:ab:cd",
            "01:00:5e:ab:cd:ef:00",
            "01:00:5e:ab:cd:xg",
            "001:0:5e:ab:cd:ef",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacError), "{bad}");
        }
    }

    #[test]
    fn tci_packing() {
        let tag = VlanTag {
            pcp: 6,
            dei: true,
            vid: 0x123,
        };
        assert_eq!(tag.tci(), 0xd123);
        assert_eq!(VlanTag::from_tci(0xd123), tag);
        assert_eq!(
            VlanTag {
                pcp: 9,
                dei: false,
                vid: 0x1fff
            }
            .tci(),
            0x2fff
        );
    }

    proptest! {
        #[test]
        fn view_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = Frame::new_checked(&bytes[..]) {
                let _ = (f.dst(), f.src(), f.vlans(), f.vlan_tpid(1), f.ethertype(), f.payload());
                prop_assert!(f.payload_offset() <= bytes.len());
            }
        }
    }
}
