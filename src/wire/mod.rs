//! The frames room: zero-copy views of Ethernet (with 802.1Q / 802.1ad tags),
//! IPv4, UDP and TCP; the Internet checksum; one-call dissection of a captured
//! frame down to its transport payload; and frame templates for the send path.
//!
//! Receive side: [`dissect_ethernet`] (or [`dissect_ipv4`], [`dissect_linux_sll`],
//! [`dissect_linux_sll2`] for other capture link types) turns one captured frame
//! into [`Layers`]: addresses, VLAN tags, and the UDP or TCP payload as a slice of
//! the frame with its offset. It never allocates, never copies, and never verifies
//! checksums (the views' `verify_checksum` methods do that, for whoever asks).
//! Fragments are reported, not reassembled.
//!
//! Send side: [`UdpFrameTemplate`] and [`TcpFrameTemplate`] build the Ethernet,
//! IPv4 and transport headers once; per frame, `finish` copies them in front of a
//! payload the caller already wrote and patches lengths, identification and
//! checksums, from precomputed partial sums. Nothing on that path allocates.
//! Templates do not pad frames to the 60-byte Ethernet minimum: the NIC does.
//!
//! This room knows bytes, not sockets, files or exchange protocols. Decode errors
//! are [`crate::codec::Error`] with protocol names `"ethernet"`, `"ipv4"`, `"udp"`,
//! `"tcp"`, `"linux_sll"`, `"linux_sll2"`, and offsets from the start of the buffer
//! given to the call.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use ticklab::wire::{dissect_ethernet, multicast_mac, MacAddr, Transport, UdpEndpoints, UdpFrameTemplate};
//! let group = Ipv4Addr::new(233, 54, 12, 1);
//! let template = UdpFrameTemplate::new(
//!     &UdpEndpoints {
//!         src_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
//!         dst_mac: multicast_mac(group),
//!         vlan: None,
//!         src_ip: Ipv4Addr::new(10, 0, 0, 1),
//!         dst_ip: group,
//!         src_port: 30001,
//!         dst_port: 26400,
//!         ttl: 32,
//!         dscp: 0,
//!     },
//!     true,
//! );
//! let mut frame = [0u8; 128];
//! let hl = template.header_len();
//! frame[hl..hl + 4].copy_from_slice(b"ITCH");
//! let len = template.finish(&mut frame, 4, 1).unwrap();
//! let layers = dissect_ethernet(&frame[..len]).unwrap();
//! match layers.transport {
//!     Transport::Udp { dst_port, payload, payload_offset, .. } => {
//!         assert_eq!((dst_port, payload, payload_offset), (26400, &b"ITCH"[..], 42));
//!     }
//!     other => panic!("expected UDP, got {other:?}"),
//! }
//! ```

pub mod checksum;
pub mod dissect;
pub mod ethernet;
pub mod ipv4;
pub mod tcp;
pub mod template;
pub mod udp;

pub use crate::codec::Error;
pub use dissect::{
    dissect_ethernet, dissect_ipv4, dissect_linux_sll, dissect_linux_sll2, ethernet_udp_fast,
    EthInfo, FastUdp, Ipv4Info, Layers, Transport,
};
pub use ethernet::{MacAddr, VlanTag};
pub use tcp::TcpFlags;
pub use template::{
    multicast_mac, Endpoints, TcpEndpoints, TcpFrameTemplate, UdpEndpoints, UdpFrameTemplate,
};

/// Big-endian `u16` at `at`, or 0 if the buffer ends first. Views call this only
/// after `new_checked` proved the field present; the fallback keeps accessors
/// panic-free even if a setter has since moved a length field.
#[inline(always)]
pub(crate) fn be16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Big-endian `u32` at `at`, or 0 if the buffer ends first.
#[inline(always)]
pub(crate) fn be32(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Writes a big-endian `u16` at `at` if the buffer holds it.
#[inline(always)]
pub(crate) fn put_be16(bytes: &mut [u8], at: usize, value: u16) {
    if let Some(out) = bytes.get_mut(at..at + 2) {
        out.copy_from_slice(&value.to_be_bytes());
    }
}

/// Writes a big-endian `u32` at `at` if the buffer holds it.
#[inline(always)]
pub(crate) fn put_be32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(out) = bytes.get_mut(at..at + 4) {
        out.copy_from_slice(&value.to_be_bytes());
    }
}

/// The error for a wire-layer `field` that spans `span` of a buffer of `buf_len`
/// bytes that ends first. Every layer reports a short header, options or payload
/// this way, so offsets and byte counts mean the same thing in all of them.
pub(crate) fn truncated(
    protocol: &'static str,
    field: &'static str,
    span: core::ops::Range<usize>,
    buf_len: usize,
) -> Error {
    Error::Truncated {
        protocol,
        msg_type: None,
        field,
        offset: span.start,
        needed: span.end.saturating_sub(span.start),
        available: buf_len.saturating_sub(span.start),
    }
}

/// The error for a wire-layer field whose value its RFC does not allow (wire
/// layers have no message type).
pub(crate) fn invalid(
    protocol: &'static str,
    field: &'static str,
    offset: usize,
    expected: &'static str,
) -> Error {
    Error::Invalid {
        protocol,
        msg_type: None,
        field,
        offset,
        expected,
    }
}

/// Text formatted into a fixed buffer, so [`crate::codec::Describe`] impls can
/// hand addresses and flag sets to a sink without allocating.
pub(crate) struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) fn format(args: core::fmt::Arguments<'_>) -> Self {
        let mut out = StackText {
            buf: [0; N],
            len: 0,
        };
        // Callers size N for the longest text; a longer one is cut, not lost.
        let _ = core::fmt::Write::write_fmt(&mut out, args);
        out
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> core::fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = N - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            Err(core::fmt::Error)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn byte_helpers_never_read_past_the_end() {
        let b = [0x12, 0x34, 0x56, 0x78];
        assert_eq!(be16(&b, 0), 0x1234);
        assert_eq!(be16(&b, 3), 0);
        assert_eq!(be32(&b, 0), 0x1234_5678);
        assert_eq!(be32(&b, 1), 0);
        let mut m = [0u8; 3];
        put_be16(&mut m, 1, 0xabcd);
        put_be32(&mut m, 0, 0xffff_ffff);
        assert_eq!(m, [0, 0xab, 0xcd]);
    }

    #[test]
    fn stack_text_cuts_at_capacity() {
        let t = StackText::<7>::format(format_args!("{}", Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(t.as_bytes(), b"10.0.0.");
        let t = StackText::<15>::format(format_args!("{}", Ipv4Addr::new(255, 255, 255, 255)));
        assert_eq!(t.as_bytes(), b"255.255.255.255");
    }
}
