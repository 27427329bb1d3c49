//! UDP datagrams (RFC 768) as a zero-copy view, plus the header writer.
//!
//! Give the view the IPv4 payload. The UDP length field is checked against it
//! when the view is made, and [`Datagram::payload`] stops at that length. A view
//! never allocates, never copies, never verifies the checksum unless asked, and
//! after [`Datagram::new_checked`] no accessor panics.
//!
//! In IPv4 a checksum field of zero means the sender computed none (RFC 768);
//! a computed checksum of zero is therefore transmitted as `0xffff`.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use ticklab::wire::udp::{self, Datagram};
//! let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(233, 54, 12, 1));
//! let mut buf = [0u8; 12];
//! buf[8..].copy_from_slice(b"ITCH");
//! udp::write_header(&mut buf, 30001, 26400, 4).unwrap();
//! let mut d = Datagram::new_checked(&mut buf[..]).unwrap();
//! d.fill_checksum(src, dst);
//! assert!(d.verify_checksum(src, dst));
//! assert_eq!(d.payload(), b"ITCH");
//! ```

use std::net::Ipv4Addr;

use super::{be16, checksum, invalid, ipv4, put_be16, truncated, Error};

const PROTOCOL: &str = "udp";

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Offsets of the fields the send path patches after building a header.
pub(crate) mod offset {
    pub const LENGTH: usize = super::field::LENGTH;
    pub const CHECKSUM: usize = super::field::CHECKSUM;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A zero-copy view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Datagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Datagram<T> {
    /// Checks the header fits and the length field lies between 8 and the buffer
    /// length. The buffer may be longer than the datagram.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(truncated(PROTOCOL, "header", 0..HEADER_LEN, bytes.len()));
        }
        let len = usize::from(be16(bytes, field::LENGTH));
        if len < HEADER_LEN {
            return Err(invalid(
                PROTOCOL,
                "length",
                field::LENGTH,
                "a length of at least 8 (the header)",
            ));
        }
        if len > bytes.len() {
            return Err(truncated(PROTOCOL, "payload", HEADER_LEN..len, bytes.len()));
        }
        Ok(Datagram { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.bytes(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.bytes(), field::DST_PORT)
    }

    /// The length field: header plus payload.
    pub fn len(&self) -> usize {
        usize::from(be16(self.bytes(), field::LENGTH))
    }

    /// True if the datagram carries no payload.
    pub fn is_empty(&self) -> bool {
        self.len() <= HEADER_LEN
    }

    /// The checksum field (0: none computed).
    pub fn checksum(&self) -> u16 {
        be16(self.bytes(), field::CHECKSUM)
    }

    /// The datagram, header included, up to its length field.
    fn datagram(&self) -> &[u8] {
        let end = self.len().min(self.bytes().len());
        self.bytes().get(..end).unwrap_or(&[])
    }

    /// The payload, bounded by the length field.
    pub fn payload(&self) -> &[u8] {
        payload_of(self.bytes())
    }

    /// The checksum the datagram should carry, given the IPv4 addresses of its
    /// packet: already mapped from 0 to `0xffff`.
    pub fn compute_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let full = checksum::transport_sum(src, dst, ipv4::protocol::UDP, self.datagram());
        // Sum as if the checksum field were zero, without copying: remove the
        // stored value from the sum instead (ones-complement subtraction).
        let sum = checksum::add(full, !self.checksum());
        match !sum {
            0 => 0xffff,
            c => c,
        }
    }

    /// True if the datagram carries no checksum (field 0, allowed in IPv4) or a
    /// correct one for the pseudo-header built from `src` and `dst`.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        checksum::transport_sum(src, dst, ipv4::protocol::UDP, self.datagram()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Datagram<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        put_be16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        put_be16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Sets the length field. The view keeps bounding the payload by the buffer,
    /// so a value past its end cannot make an accessor panic.
    pub fn set_len(&mut self, len: u16) {
        put_be16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the checksum field as given (0 for none).
    pub fn set_checksum(&mut self, value: u16) {
        put_be16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Computes and stores the checksum for the given IPv4 addresses.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let value = self.compute_checksum(src, dst);
        self.set_checksum(value);
    }

    /// The payload, writable (bounded like [`Datagram::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.len().min(self.buffer.as_ref().len());
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..end)
            .unwrap_or(&mut [])
    }
}

impl<'a> Datagram<&'a [u8]> {
    /// The payload, borrowed for as long as the buffer rather than the view.
    pub fn into_payload(self) -> &'a [u8] {
        payload_of(self.buffer)
    }
}

/// From the end of the header to the length field, clamped to the buffer.
fn payload_of(bytes: &[u8]) -> &[u8] {
    let end = usize::from(be16(bytes, field::LENGTH)).min(bytes.len());
    bytes.get(HEADER_LEN..end).unwrap_or(&[])
}

/// Writes a UDP header for `payload_len` bytes of payload into `buf[..8]`, with a
/// zero (absent) checksum, and returns 8. Fill the checksum afterwards with
/// [`Datagram::fill_checksum`] if wanted.
pub fn write_header(
    buf: &mut [u8],
    src_port: u16,
    dst_port: u16,
    payload_len: usize,
) -> Result<usize, Error> {
    let len = HEADER_LEN + payload_len;
    let Ok(len) = u16::try_from(len) else {
        return Err(invalid(
            PROTOCOL,
            "length",
            field::LENGTH,
            "a length of at most 65535",
        ));
    };
    let buf_len = buf.len();
    let Some(out) = buf.get_mut(..HEADER_LEN) else {
        return Err(truncated(PROTOCOL, "header", 0..HEADER_LEN, buf_len));
    };
    put_be16(out, field::SRC_PORT, src_port);
    put_be16(out, field::DST_PORT, dst_port);
    put_be16(out, field::LENGTH, len);
    put_be16(out, field::CHECKSUM, 0);
    Ok(HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(233, 54, 12, 1);

    // RFC 768 layout: source port, destination port, length, checksum, data.
    // 30001 -> 26400, length 12, data "ITCH". Checksum by hand (RFC 768: the
    // pseudo-header 10.0.0.1, 233.54.12.1, 0, 17, 12 then the datagram), the
    // arithmetic re-checked outside Rust with a Python sum:
    //   pseudo: 0a00 + 0001 + e936 + 0c01 + 0011 + 000c            = 0x0ff55
    //   header: 7531 + 6720 + 000c + 0000                          = 0x0dc5d
    //   data:   4954 ("IT") + 4348 ("CH")                           = 0x08c9c
    //   total 0x2684e; fold 0x684e + 2 = 0x6850; checksum ~0x6850 = 0x97af.
    const DATAGRAM: [u8; 12] = [
        0x75, 0x31, 0x67, 0x20, 0x00, 0x0c, 0x97, 0xaf, b'I', b'T', b'C', b'H',
    ];

    #[test]
    fn rfc768_datagram_by_hand() {
        let d = Datagram::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(d.src_port(), 30001);
        assert_eq!(d.dst_port(), 26400);
        assert_eq!(d.len(), 12);
        assert!(!d.is_empty());
        assert_eq!(d.checksum(), 0x97af);
        assert_eq!(d.payload(), b"ITCH");
        assert!(d.verify_checksum(SRC, DST));
        assert_eq!(d.compute_checksum(SRC, DST), 0x97af);
        // The wrong addresses must fail: the pseudo-header is covered.
        assert!(!d.verify_checksum(SRC, Ipv4Addr::new(233, 54, 12, 2)));
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut b = DATAGRAM;
        b[6] = 0;
        b[7] = 0;
        let d = Datagram::new_checked(&b[..]).unwrap();
        assert!(d.verify_checksum(SRC, Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(d.compute_checksum(SRC, DST), 0x97af);
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the last payload word so the sum is 0xffff: the checksum would be
        // 0 and RFC 768 says to send all ones instead.
        let mut b = [0u8; 10];
        write_header(&mut b, 1, 2, 2).unwrap();
        let partial = checksum::add(
            checksum::pseudo_header_sum(SRC, DST, 17, 10),
            checksum::sum(&b[..8]),
        );
        b[8..10].copy_from_slice(&(!partial).to_be_bytes());
        let mut d = Datagram::new_checked(&mut b[..]).unwrap();
        d.fill_checksum(SRC, DST);
        assert_eq!(d.checksum(), 0xffff);
        assert!(d.verify_checksum(SRC, DST));
    }

    #[test]
    fn payload_stops_at_length_field() {
        let mut b = DATAGRAM.to_vec();
        b.extend_from_slice(&[0; 6]); // link padding after the datagram
        let d = Datagram::new_checked(&b[..]).unwrap();
        assert_eq!(d.payload(), b"ITCH");
        assert!(d.verify_checksum(SRC, DST));
    }

    #[test]
    fn length_errors() {
        assert_eq!(
            Datagram::new_checked(&DATAGRAM[..7]).unwrap_err(),
            Error::Truncated {
                protocol: "udp",
                msg_type: None,
                field: "header",
                offset: 0,
                needed: 8,
                available: 7
            }
        );
        let mut short = DATAGRAM;
        short[5] = 7;
        assert_eq!(
            Datagram::new_checked(&short[..]).unwrap_err(),
            Error::Invalid {
                protocol: "udp",
                msg_type: None,
                field: "length",
                offset: 4,
                expected: "a length of at least 8 (the header)"
            }
        );
        assert_eq!(
            Datagram::new_checked(&DATAGRAM[..11]).unwrap_err(),
            Error::Truncated {
                protocol: "udp",
                msg_type: None,
                field: "payload",
                offset: 8,
                needed: 4,
                available: 3
            }
        );
    }

    #[test]
    fn writer_and_setters() {
        let mut b = [0u8; 12];
        b[8..].copy_from_slice(b"ITCH");
        assert_eq!(write_header(&mut b, 30001, 26400, 4), Ok(8));
        let mut d = Datagram::new_checked(&mut b[..]).unwrap();
        d.fill_checksum(SRC, DST);
        assert_eq!(b, DATAGRAM);
        let mut d = Datagram::new_checked(&mut b[..]).unwrap();
        d.set_src_port(1);
        d.set_dst_port(2);
        d.payload_mut()[0] = b'X';
        d.set_checksum(0);
        assert_eq!(&b[..8], &[0, 1, 0, 2, 0, 12, 0, 0]);
        assert_eq!(b[8], b'X');
        assert_eq!(
            write_header(&mut [0u8; 7], 1, 2, 0).unwrap_err().field(),
            "header"
        );
        assert_eq!(
            write_header(&mut [0u8; 8], 1, 2, 65_528)
                .unwrap_err()
                .field(),
            "length"
        );
        let mut d = Datagram::new_checked(&mut b[..]).unwrap();
        d.set_len(60_000);
        assert_eq!(d.payload().len(), 4);
    }

    proptest! {
        #[test]
        fn view_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(d) = Datagram::new_checked(&bytes[..]) {
                let _ = (d.src_port(), d.dst_port(), d.verify_checksum(SRC, DST));
                prop_assert_eq!(d.payload().len(), d.len() - HEADER_LEN);
            }
        }

        #[test]
        fn fill_then_verify(payload in proptest::collection::vec(any::<u8>(), 0..100), sp: u16, dp: u16, s: u32, t: u32) {
            let (s, t) = (Ipv4Addr::from(s), Ipv4Addr::from(t));
            let mut b = vec![0u8; 8 + payload.len()];
            b[8..].copy_from_slice(&payload);
            write_header(&mut b, sp, dp, payload.len()).unwrap();
            let mut d = Datagram::new_checked(&mut b[..]).unwrap();
            d.fill_checksum(s, t);
            prop_assert_ne!(d.checksum(), 0);
            prop_assert!(d.verify_checksum(s, t));
        }
    }
}
