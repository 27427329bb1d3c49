//! UDP over io_uring with kernel software timestamps: the lab's unprivileged backend.
//!
//! [`UdpPort`] sends each burst as one chain of linked `sendmsg` SQEs (one
//! `io_uring_enter`), from datagram slots, `msghdr`s and `iovec`s allocated and
//! pre-faulted when the port opens; the socket is a registered file. TX timestamps
//! (`SOF_TIMESTAMPING_TX_SOFTWARE | OPT_ID | OPT_TSONLY`) are drained from the
//! socket's error queue with non-blocking `recvmsg(MSG_ERRQUEUE)` and mapped back to
//! the datagram by the kernel's `OPT_ID` counter. `recv_burst` reads datagrams that
//! arrive on the same socket, with RX software timestamps, by non-blocking `recvmsg`.
//!
//! Why linked and one burst at a time: the kernel numbers datagrams (`OPT_ID`) in the
//! order their `sendmsg` runs and only for sends that get that far. io_uring may
//! retry a send that would block later, out of order; a link keeps a burst in order,
//! and accepting a burst only once the previous one completed keeps bursts in order,
//! so the n-th successful send is always key n. A send that fails cancels the rest of
//! its burst (counted in [`PortStats::tx_failed`]); none of them gets a timestamp.
//! A burst offered while the previous one is still in flight (the socket buffer was
//! full) is refused with `count == 0`: offer it again.
//!
//! Never allocates after [`UdpPort::open`]. Timestamps are `CLOCK_REALTIME`, taken
//! by the kernel ([`ClockDomain::KernelSoftware`]).
//!
//! ```no_run
//! use ticklab::nic::Port;
//! use ticklab::nic::uring::{UdpPort, UdpPortConfig};
//! let config = UdpPortConfig::multicast("239.198.0.1:26400".parse()?, "127.0.0.1".parse()?);
//! let (mut port, control) = UdpPort::open(config)?;
//! let sent = port.send_burst(&[b"a".as_slice(), b"b".as_slice()])?;
//! assert!(sent.count <= 2);
//! # let _ = control;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use io_uring::{opcode, squeue, types, IoUring};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::timestamp::{self, ClockDomain, KernelTimestamp, CONTROL_BUFFER_LEN, SCM_TSTAMP_SND};
use super::{
    bump, sys, Error, Port, PortControl, PortCounters, PortStats, RxMeta, SentBurst, TxTimestamp,
};

/// How to open a [`UdpPort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPortConfig {
    /// Where every datagram goes (a unicast address or a multicast group).
    pub destination: SocketAddrV4,
    /// The local address and port (`0.0.0.0:0` lets the kernel choose).
    pub bind: SocketAddrV4,
    /// `IP_MULTICAST_IF`: the interface address multicast leaves by.
    pub multicast_interface: Option<Ipv4Addr>,
    /// `IP_MULTICAST_LOOP`: local receivers see our multicast too.
    pub multicast_loop: bool,
    /// `IP_MULTICAST_TTL` for a multicast destination, `IP_TTL` otherwise.
    pub ttl: u32,
    /// The most datagrams one burst may carry (a power of two).
    pub burst: u32,
    /// The largest datagram payload.
    pub max_datagram: usize,
}

impl UdpPortConfig {
    pub fn unicast(destination: SocketAddrV4) -> Self {
        UdpPortConfig {
            destination,
            bind: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            multicast_interface: None,
            multicast_loop: false,
            ttl: 64,
            burst: 64,
            max_datagram: 2048,
        }
    }

    /// TTL 1 (the lab's segment only), looped back so a DUT on this host hears it.
    pub fn multicast(group: SocketAddrV4, interface: Ipv4Addr) -> Self {
        UdpPortConfig {
            multicast_interface: Some(interface),
            multicast_loop: true,
            ttl: 1,
            ..Self::unicast(group)
        }
    }
}

/// The control handle of a [`UdpPort`]: statistics from any thread.
#[derive(Debug, Clone)]
pub struct UdpPortControl {
    counters: Arc<PortCounters>,
}

impl PortControl for UdpPortControl {
    fn stats(&self) -> PortStats {
        self.counters.snapshot()
    }

    fn clock_domain(&self) -> ClockDomain {
        ClockDomain::KernelSoftware
    }
}

/// Timestamps the kernel keys by `OPT_ID` are remembered for this many sends.
const KEY_WINDOW: usize = 1 << 14;

/// The kernel's `OPT_ID` keys and the datagram ids they stand for. The kernel gives
/// key `n` to the `n`-th send that succeeded; a send that failed takes none, so the
/// two numberings drift apart by the failures.
#[derive(Debug)]
struct KeyMap {
    /// The key the next successful send gets.
    next_key: u32,
    /// Keys handed out and still remembered, at most `id_by_key.len()`.
    known: usize,
    /// The id of the datagram with key `k`, at `k % len`.
    id_by_key: Box<[u32]>,
}

/// What a key is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyLookup {
    Known(u32),
    /// One of the `in_flight` sends not reaped yet: ask again after reaping.
    InFlight,
    /// Too old to remember, or no datagram of ours.
    Unknown,
}

impl KeyMap {
    fn new(window: usize) -> Self {
        KeyMap {
            next_key: 0,
            known: 0,
            id_by_key: vec![0; window].into_boxed_slice(),
        }
    }

    /// The datagram `id` was sent: it took the next key.
    fn sent(&mut self, id: u32) {
        let window = self.id_by_key.len();
        self.id_by_key[self.next_key as usize % window] = id;
        self.next_key = self.next_key.wrapping_add(1);
        self.known = (self.known + 1).min(window);
    }

    fn lookup(&self, key: u32, in_flight: usize) -> KeyLookup {
        let behind = self.next_key.wrapping_sub(key) as usize;
        if (1..=self.known).contains(&behind) {
            return KeyLookup::Known(self.id_by_key[key as usize % self.id_by_key.len()]);
        }
        if (key.wrapping_sub(self.next_key) as usize) < in_flight {
            KeyLookup::InFlight
        } else {
            KeyLookup::Unknown
        }
    }
}

/// The hot handle: one UDP socket, one ring, owned by one thread.
pub struct UdpPort {
    ring: IoUring,
    socket: Socket,
    // The kernel reads these while a burst is in flight: they are boxed (stable
    // addresses) and only rewritten when nothing is in flight.
    _destination: Box<libc::sockaddr_in>,
    payloads: Box<[u8]>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::msghdr]>,
    /// `sendmsg` result per slot of the burst in flight (`i32::MIN`: not completed).
    results: Box<[i32]>,
    max_datagram: usize,
    in_flight: usize,
    burst_len: usize,
    burst_first_id: u32,
    next_id: u32,
    keys: KeyMap,
    /// TX timestamps that arrived before their burst's completions were reaped.
    early: Box<[(u32, u64)]>,
    early_len: usize,
    errqueue_control: [u8; CONTROL_BUFFER_LEN],
    rx_control: [u8; CONTROL_BUFFER_LEN],
    counters: Arc<PortCounters>,
}

// SAFETY: the raw pointers in `headers` and `iovecs` point only into this struct's
// own heap allocations (`payloads`, `iovecs`, `_destination`), which move with it;
// nothing is shared with another thread. `UdpPort` stays `!Sync`.
unsafe impl Send for UdpPort {}

impl UdpPort {
    /// Opens the socket and the ring, and allocates and pre-faults every buffer.
    pub fn open(config: UdpPortConfig) -> Result<(UdpPort, UdpPortControl), Error> {
        if !config.burst.is_power_of_two() || config.burst > 4096 {
            return Err(Error::Config(
                "burst must be a power of two no larger than 4096",
            ));
        }
        if config.max_datagram == 0 || config.max_datagram > 65_507 {
            return Err(Error::Config("max_datagram must be 1..=65507 bytes"));
        }
        let ring = IoUring::new(config.burst).map_err(|source| match source.raw_os_error() {
            Some(libc::EPERM | libc::ENOSYS | libc::EACCES) => Error::UringUnavailable { source },
            _ => Error::Io {
                op: "io_uring_setup",
                source,
            },
        })?;

        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(Error::io("socket"))?;
        socket
            .bind(&SockAddr::from(config.bind))
            .map_err(Error::io("bind"))?;
        if config.destination.ip().is_multicast() {
            if let Some(interface) = config.multicast_interface {
                socket
                    .set_multicast_if_v4(&interface)
                    .map_err(Error::io("setsockopt(IP_MULTICAST_IF)"))?;
            }
            socket
                .set_multicast_loop_v4(config.multicast_loop)
                .map_err(Error::io("setsockopt(IP_MULTICAST_LOOP)"))?;
            socket
                .set_multicast_ttl_v4(config.ttl)
                .map_err(Error::io("setsockopt(IP_MULTICAST_TTL)"))?;
        } else {
            socket
                .set_ttl_v4(config.ttl)
                .map_err(Error::io("setsockopt(IP_TTL)"))?;
        }
        timestamp::enable(&socket, timestamp::SOFTWARE_FLAGS)
            .map_err(Error::io("setsockopt(SO_TIMESTAMPING)"))?;
        ring.submitter()
            .register_files(&[socket.as_raw_fd()])
            .map_err(Error::io("io_uring_register(FILES)"))?;

        let slots = config.burst as usize;
        let mut destination = Box::new(sockaddr_in(config.destination));
        let mut payloads = vec![0u8; slots * config.max_datagram].into_boxed_slice();
        // Pre-fault: the first send must not take page faults.
        for page in payloads.chunks_mut(4096) {
            page[0] = std::hint::black_box(0);
        }
        let mut iovecs: Box<[libc::iovec]> = (0..slots)
            .map(|slot| libc::iovec {
                iov_base: payloads[slot * config.max_datagram..].as_mut_ptr().cast(),
                iov_len: 0,
            })
            .collect();
        let destination_ptr: *mut libc::sockaddr_in = &mut *destination;
        let headers: Box<[libc::msghdr]> = iovecs
            .iter_mut()
            .map(|iov| {
                // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_name = destination_ptr.cast();
                msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                msg.msg_iov = iov;
                msg.msg_iovlen = 1;
                msg
            })
            .collect();

        let counters = Arc::new(PortCounters::default());
        let port = UdpPort {
            ring,
            socket,
            _destination: destination,
            payloads,
            iovecs,
            headers,
            results: vec![i32::MIN; slots].into_boxed_slice(),
            max_datagram: config.max_datagram,
            in_flight: 0,
            burst_len: 0,
            burst_first_id: 0,
            next_id: 0,
            keys: KeyMap::new(KEY_WINDOW),
            early: vec![(0, 0); slots].into_boxed_slice(),
            early_len: 0,
            errqueue_control: [0; CONTROL_BUFFER_LEN],
            rx_control: [0; CONTROL_BUFFER_LEN],
            counters: Arc::clone(&counters),
        };
        Ok((port, UdpPortControl { counters }))
    }

    /// The bound local address (to tell receivers which source to expect).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.socket
            .local_addr()?
            .as_socket_ipv4()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IPv4 socket"))
    }

    /// Datagrams submitted whose completion has not been reaped yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Takes the completions the kernel has posted; when the burst in flight is
    /// done, hands out its `OPT_ID` keys in send order.
    fn reap_completions(&mut self) {
        for cqe in self.ring.completion() {
            if let Some(result) = self.results.get_mut(cqe.user_data() as usize) {
                *result = cqe.result();
                self.in_flight = self.in_flight.saturating_sub(1);
            }
        }
        if self.in_flight > 0 || self.burst_len == 0 {
            return;
        }
        let (mut packets, mut bytes, mut failed) = (0, 0, 0);
        for slot in 0..self.burst_len {
            let result = self.results[slot];
            if result >= 0 {
                self.keys
                    .sent(self.burst_first_id.wrapping_add(slot as u32));
                packets += 1;
                bytes += result as u64;
            } else {
                failed += 1;
            }
        }
        self.burst_len = 0;
        bump(&self.counters.tx_packets, packets);
        bump(&self.counters.tx_bytes, bytes);
        bump(&self.counters.tx_failed, failed);
    }

    /// Writes the timestamp of `key` to `out[*written]` if its datagram is known,
    /// keeps it for later if its send is still in flight, counts it as unmatched
    /// otherwise.
    fn emit(
        &mut self,
        key: u32,
        ns: u64,
        out: &mut [TxTimestamp],
        written: &mut usize,
        unmatched: &mut u64,
    ) {
        match self.keys.lookup(key, self.burst_len) {
            KeyLookup::Known(id) => {
                out[*written] = TxTimestamp {
                    id,
                    stamp: KernelTimestamp {
                        clock: ClockDomain::KernelSoftware,
                        ns,
                        tx_id: Some(key),
                    },
                };
                *written += 1;
            }
            KeyLookup::InFlight if self.early_len < self.early.len() => {
                self.early[self.early_len] = (key, ns);
                self.early_len += 1;
            }
            _ => *unmatched += 1,
        }
    }
}

impl Port for UdpPort {
    fn send_burst(&mut self, packets: &[&[u8]]) -> Result<SentBurst, Error> {
        self.reap_completions();
        if self.in_flight > 0 {
            return Ok(SentBurst {
                first_id: self.next_id,
                count: 0,
            });
        }
        let count = packets.len().min(self.headers.len());
        let packets = &packets[..count];
        if let Some(too_large) = packets
            .iter()
            .find(|packet| packet.len() > self.max_datagram)
        {
            return Err(Error::PacketTooLarge {
                len: too_large.len(),
                max: self.max_datagram,
            });
        }
        if count == 0 {
            return Ok(SentBurst {
                first_id: self.next_id,
                count: 0,
            });
        }
        let first_id = self.next_id;
        for (slot, packet) in packets.iter().enumerate() {
            let start = slot * self.max_datagram;
            self.payloads[start..start + packet.len()].copy_from_slice(packet);
            self.iovecs[slot].iov_len = packet.len();
            self.results[slot] = i32::MIN;
        }
        {
            let mut queue = self.ring.submission();
            for slot in 0..count {
                let flags = if slot + 1 < count {
                    squeue::Flags::IO_LINK
                } else {
                    squeue::Flags::empty()
                };
                let entry = opcode::SendMsg::new(types::Fixed(0), &self.headers[slot])
                    .build()
                    .flags(flags)
                    .user_data(slot as u64);
                // SAFETY: the msghdr, its iovec, payload slot and destination live in
                // boxes owned by `self` and are not touched again until this burst's
                // completions are reaped (`in_flight == 0`); the ring has room for
                // `burst` entries and nothing else is queued when a burst starts.
                unsafe { queue.push(&entry) }
                    .map_err(|_| Error::Config("submission queue full"))?;
            }
        }
        self.in_flight = count;
        self.burst_len = count;
        self.burst_first_id = first_id;
        self.next_id = first_id.wrapping_add(count as u32);
        self.ring.submit().map_err(Error::io("io_uring_enter"))?;
        self.reap_completions();
        Ok(SentBurst { first_id, count })
    }

    fn poll_tx_timestamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, Error> {
        self.reap_completions();
        let (mut written, mut unmatched) = (0, 0);
        let mut index = 0;
        while index < self.early_len && written < out.len() {
            let (key, ns) = self.early[index];
            if self.keys.lookup(key, self.burst_len) == KeyLookup::InFlight {
                index += 1;
            } else {
                self.early_len -= 1;
                self.early[index] = self.early[self.early_len];
                self.emit(key, ns, out, &mut written, &mut unmatched);
            }
        }
        while written < out.len() {
            let parsed = match super::next_error_report(&self.socket, &mut self.errqueue_control) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(error) => {
                    bump(&self.counters.tx_timestamps, written as u64);
                    bump(&self.counters.tx_timestamps_unmatched, unmatched);
                    return Err(error);
                }
            };
            match (parsed.tx, parsed.software_ns) {
                (Some(report), Some(ns)) if report.tstamp_type == SCM_TSTAMP_SND => {
                    self.emit(report.id, ns, out, &mut written, &mut unmatched)
                }
                _ => unmatched += 1,
            }
        }
        bump(&self.counters.tx_timestamps, written as u64);
        bump(&self.counters.tx_timestamps_unmatched, unmatched);
        Ok(written)
    }

    fn recv_burst(
        &mut self,
        buffers: &mut [&mut [u8]],
        meta: &mut [RxMeta],
    ) -> Result<usize, Error> {
        let mut received_count = 0;
        for (buffer, meta) in buffers.iter_mut().zip(meta.iter_mut()) {
            let received = match sys::recvmsg(
                &self.socket,
                buffer,
                &mut self.rx_control,
                libc::MSG_DONTWAIT,
            ) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(source) => {
                    return Err(Error::Io {
                        op: "recvmsg",
                        source,
                    })
                }
            };
            let parsed = timestamp::parse_control(&self.rx_control[..received.control_len])?;
            *meta = RxMeta {
                len: received.len,
                truncated: received.truncated,
                stamp: parsed.stamp(ClockDomain::KernelSoftware),
            };
            bump(&self.counters.rx_packets, 1);
            bump(&self.counters.rx_bytes, received.len as u64);
            received_count += 1;
        }
        Ok(received_count)
    }
}

impl Drop for UdpPort {
    fn drop(&mut self) {
        // The kernel may still read the buffers of a burst in flight: wait for it
        // before they are freed.
        while self.in_flight > 0 {
            if self.ring.submit_and_wait(1).is_err() {
                // The ring is unusable; leak the buffers rather than free memory
                // the kernel may still read.
                std::mem::forget(std::mem::take(&mut self.payloads));
                std::mem::forget(std::mem::take(&mut self.iovecs));
                std::mem::forget(std::mem::take(&mut self.headers));
                return;
            }
            self.reap_completions();
        }
    }
}

fn sockaddr_in(address: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: address.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*address.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_in_is_in_network_order() {
        let raw = sockaddr_in("239.198.0.1:26400".parse().unwrap());
        assert_eq!(raw.sin_family, libc::AF_INET as libc::sa_family_t);
        assert_eq!(raw.sin_port.to_ne_bytes(), 26400u16.to_be_bytes());
        assert_eq!(raw.sin_addr.s_addr.to_ne_bytes(), [239, 198, 0, 1]);
    }

    #[test]
    fn keys_skip_failed_sends() {
        let mut keys = KeyMap::new(4);
        // Ids 0, 1 and 3 were sent; 2 failed and took no key.
        for id in [0, 1, 3] {
            keys.sent(id);
        }
        assert_eq!(keys.lookup(0, 0), KeyLookup::Known(0));
        assert_eq!(keys.lookup(1, 0), KeyLookup::Known(1));
        assert_eq!(keys.lookup(2, 0), KeyLookup::Known(3));
        // Key 3 belongs to the next send, which is still in flight.
        assert_eq!(keys.lookup(3, 1), KeyLookup::InFlight);
        assert_eq!(keys.lookup(3, 0), KeyLookup::Unknown);
        assert_eq!(keys.lookup(4, 1), KeyLookup::Unknown);
    }

    #[test]
    fn keys_older_than_the_window_are_forgotten_and_keys_wrap() {
        let mut keys = KeyMap::new(4);
        keys.next_key = u32::MAX - 1;
        for id in 10..16 {
            keys.sent(id);
        }
        // Keys MAX-1, MAX, 0, 1, 2, 3 went to ids 10..16; the window holds the last 4.
        assert_eq!(keys.lookup(u32::MAX - 1, 0), KeyLookup::Unknown);
        assert_eq!(keys.lookup(u32::MAX, 0), KeyLookup::Unknown);
        assert_eq!(keys.lookup(0, 0), KeyLookup::Known(12));
        assert_eq!(keys.lookup(3, 0), KeyLookup::Known(15));
        assert_eq!(keys.lookup(4, 2), KeyLookup::InFlight);
    }

    #[test]
    fn bad_configs_are_refused() {
        let base = UdpPortConfig::unicast("127.0.0.1:9".parse().unwrap());
        assert!(matches!(
            UdpPort::open(UdpPortConfig { burst: 48, ..base }),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            UdpPort::open(UdpPortConfig {
                max_datagram: 0,
                ..base
            }),
            Err(Error::Config(_))
        ));
    }
}
