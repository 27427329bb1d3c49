//! Puts feed packets on the wire format: a MoldUDP64 payload becomes an
//! Ethernet/IPv4/UDP frame built from a template (headers made once; lengths and
//! checksums patched per frame), with the capture timestamp of the moment the
//! exchange published it. Used by `ticklab gen` and by tests that need captures.
//!
//! It never allocates per frame: the caller owns the frame buffer.

use super::synthetic::{FeedPacket, SyntheticFeed};
use crate::wire::{multicast_mac, MacAddr, UdpEndpoints, UdpFrameTemplate};
use std::net::Ipv4Addr;

/// Where the synthetic feed is published: a source host on the RFC 2544 benchmark
/// network to an administratively scoped multicast group.
pub fn default_endpoints() -> UdpEndpoints {
    let group = Ipv4Addr::new(239, 198, 0, 1);
    UdpEndpoints {
        src_mac: MacAddr([0x02, 0x00, 0x5e, 0xc6, 0x12, 0x01]),
        dst_mac: multicast_mac(group),
        vlan: None,
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
        dst_ip: group,
        src_port: 26_400,
        dst_port: 26_400,
        ttl: 16,
        dscp: 0,
    }
}

/// Turns a synthetic feed into Ethernet frames.
pub struct FrameSource {
    feed: SyntheticFeed,
    template: UdpFrameTemplate,
    ip_id: u16,
}

/// One frame, written at the start of the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub len: usize,
    /// When the exchange published it, ns since the Unix epoch.
    pub timestamp_ns: i64,
    pub packet: FeedPacket,
}

impl FrameSource {
    pub fn new(feed: SyntheticFeed, endpoints: &UdpEndpoints) -> Self {
        FrameSource {
            feed,
            // UDP checksums on: tshark and tcpdump then vouch for our payload bytes.
            template: UdpFrameTemplate::new(endpoints, true),
            ip_id: 0,
        }
    }

    /// The largest frame this source writes.
    pub fn max_frame_len(&self) -> usize {
        self.template.header_len() + self.feed.config().max_payload
    }

    /// Writes the next frame into `frame` (at least [`Self::max_frame_len`] bytes).
    pub fn next_frame(&mut self, frame: &mut [u8]) -> Option<Frame> {
        let hdr = self.template.header_len();
        let packet = self.feed.next_packet(&mut frame[hdr..])?;
        self.ip_id = self.ip_id.wrapping_add(1);
        let len = self
            .template
            .finish(frame, packet.len, self.ip_id)
            .expect("frame buffer holds header and payload (checked by max_frame_len)");
        Some(Frame {
            len,
            timestamp_ns: self.feed.epoch_ns(packet.publish_ns),
            packet,
        })
    }

    /// The underlying feed.
    pub fn feed(&self) -> &SyntheticFeed {
        &self.feed
    }
}
