//! Packet I/O behind one trait, and the kernel timestamping every backend shares.
//!
//! [`Port`] is what the DPDK, AF_PACKET and io_uring backends implement: a per-queue
//! hot handle, owned by one thread, that sends bursts of pre-built datagrams (or
//! frames) from buffers the caller owns, reports each one's TX timestamp when it
//! completes, and receives into buffers the caller owns with RX timestamps.
//! Statistics and configuration go through a separate [`PortControl`], which other
//! threads may read. A `Port` must never allocate, lock or log per packet; it makes no
//! syscall beyond the I/O itself.
//!
//! - [`af_packet`]: raw Ethernet frames through AF_PACKET rings (TPACKET_V3 RX,
//!   memory-mapped TX), kernel software or NIC hardware timestamps, and a tap mode
//!   that sees both directions on an interface; needs `CAP_NET_RAW`;
//! - [`timestamp`]: `SO_TIMESTAMPING` flags and pure parsing of the kernel's control
//!   messages into [`timestamp::KernelTimestamp`]s that know their clock domain;
//! - [`uring`]: UDP (unicast or multicast) over io_uring, kernel software timestamps,
//!   no privileges;
//! - [`uring_tcp`]: the order session's TCP reads over io_uring, with the kernel's
//!   software RX stamp of each read;
//! - `dpdk` (feature `dpdk`): DPDK poll-mode drivers and virtual devices through
//!   the workspace's `dpdk-sys`; device-clock or `CLOCK_MONOTONIC` stamps.
//!
//! Linux on 64-bit targets only: the control-message layouts are those.
//!
//! ```no_run
//! use ticklab::nic::{Port, TxTimestamp};
//! use ticklab::nic::uring::{UdpPort, UdpPortConfig};
//! let (mut port, _control) = UdpPort::open(UdpPortConfig::unicast("127.0.0.1:26400".parse()?))?;
//! let sent = port.send_burst(&[b"tick 1".as_slice(), b"tick 2".as_slice()])?;
//! let mut stamps = [TxTimestamp::EMPTY; 64];
//! let n = port.poll_tx_timestamps(&mut stamps)?;
//! # let _ = (sent, n);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg(all(target_os = "linux", target_pointer_width = "64"))]

pub mod af_packet;
#[cfg(feature = "dpdk")]
pub mod dpdk;
mod sys;
pub mod timestamp;
pub mod uring;
pub mod uring_tcp;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

pub use timestamp::{ClockDomain, KernelTimestamp};

/// The per-queue hot handle. Implementors are owned by one thread and are not
/// `Sync`; every buffer is the caller's or was allocated before the run.
///
/// Packets come as borrowed slices, like smoltcp's devices lend buffers, but a burst
/// at a time: the backend copies them into memory it prepared (pre-faulted socket
/// slots, DPDK mbufs, an AF_PACKET ring) before the call returns, so the caller may
/// reuse its buffers at once and nothing is allocated per packet.
pub trait Port {
    /// Queues `packets` for transmission, in order, and returns how many were taken
    /// (a prefix of `packets`; fewer when the queue is full: offer the rest again
    /// later). The `i`-th packet taken gets the id `first_id + i` (wrapping), which
    /// its [`TxTimestamp`] carries.
    fn send_burst(&mut self, packets: &[&[u8]]) -> Result<SentBurst, Error>;

    /// Writes the TX timestamps that have completed since the last call into `out`
    /// and returns how many; never blocks. A packet whose send failed gets none (see
    /// [`PortStats::tx_failed`]).
    fn poll_tx_timestamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, Error>;

    /// Hands the device what [`Port::send_burst`] took but the kernel or device
    /// could not take yet (a full socket buffer), so nothing taken waits for the
    /// next burst; never blocks. Ports that hand every packet over at once have
    /// nothing to do.
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Receives up to `min(buffers.len(), meta.len())` packets, the `i`-th into
    /// `buffers[i]` described by `meta[i]`, and returns how many; never blocks.
    fn recv_burst(
        &mut self,
        buffers: &mut [&mut [u8]],
        meta: &mut [RxMeta],
    ) -> Result<usize, Error>;
}

/// The control handle: statistics and configuration, readable from any thread.
pub trait PortControl: Send + Sync {
    fn stats(&self) -> PortStats;
    /// The clock domain of every timestamp the port reports.
    fn clock_domain(&self) -> ClockDomain;
}

/// What [`Port::send_burst`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentBurst {
    pub first_id: u32,
    pub count: usize,
}

/// When the packet with `id` left, in the port's clock domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxTimestamp {
    pub id: u32,
    pub stamp: KernelTimestamp,
}

impl TxTimestamp {
    /// A placeholder to initialise output arrays with.
    pub const EMPTY: TxTimestamp = TxTimestamp {
        id: 0,
        stamp: KernelTimestamp {
            clock: ClockDomain::KernelSoftware,
            ns: 0,
            tx_id: None,
        },
    };
}

/// One received packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// Bytes written into the buffer.
    pub len: usize,
    /// The packet was longer than the buffer; the rest was dropped.
    pub truncated: bool,
    /// When it arrived, if the port stamps receives.
    pub stamp: Option<KernelTimestamp>,
}

/// Counters since the port opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Sends the kernel or device refused.
    pub tx_failed: u64,
    pub tx_timestamps: u64,
    /// Timestamp reports that matched no packet in flight.
    pub tx_timestamps_unmatched: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

/// The live counters behind [`PortStats`]: written by the port's one hot thread
/// with relaxed adds, read by its control handle from any thread.
#[derive(Debug, Default)]
pub(crate) struct PortCounters {
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub tx_failed: AtomicU64,
    pub tx_timestamps: AtomicU64,
    pub tx_timestamps_unmatched: AtomicU64,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
}

impl PortCounters {
    pub fn snapshot(&self) -> PortStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PortStats {
            tx_packets: load(&self.tx_packets),
            tx_bytes: load(&self.tx_bytes),
            tx_failed: load(&self.tx_failed),
            tx_timestamps: load(&self.tx_timestamps),
            tx_timestamps_unmatched: load(&self.tx_timestamps_unmatched),
            rx_packets: load(&self.rx_packets),
            rx_bytes: load(&self.rx_bytes),
        }
    }
}

/// Adds `by` to a counter of the port's one writer (a relaxed add is all readers
/// need; nothing is written for 0).
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    if by != 0 {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

/// The next report on `socket`'s error queue (a TX timestamp), parsed from the
/// control messages `recvmsg(MSG_ERRQUEUE)` wrote into `control`; `None` when the
/// queue is empty. Never blocks; an interrupted call is retried. The one reader of
/// TX stamps for every kernel-stamped port (io_uring UDP, AF_PACKET).
pub(crate) fn next_error_report(
    socket: &impl std::os::fd::AsFd,
    control: &mut [u8],
) -> Result<Option<timestamp::ParsedControl>, Error> {
    // The report's payload (the packet, or nothing with OPT_TSONLY) is not needed.
    let mut data = [0u8; 64];
    loop {
        match sys::recvmsg(
            socket,
            &mut data,
            control,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        ) {
            Ok(received) => {
                return Ok(Some(timestamp::parse_control(
                    &control[..received.control_len],
                )?))
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Io {
                    op: "recvmsg(MSG_ERRQUEUE)",
                    source,
                })
            }
        }
    }
}

/// The name of the interface holding the IPv4 address `addr` in this network
/// namespace, if one does (the frame backends' default interface).
pub fn interface_with_ipv4(addr: std::net::Ipv4Addr) -> io::Result<Option<String>> {
    sys::interface_with_ipv4(addr)
}

/// The Ethernet address of interface `name` in this network namespace.
pub fn interface_mac(name: &str) -> io::Result<[u8; 6]> {
    sys::interface_mac(name)
}

/// Why a port could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("io_uring is unavailable: io_uring_setup failed ({source}); check the kernel.io_uring_disabled sysctl (must be 0, or 1 with this user in kernel.io_uring_group) and any seccomp filter of the container")]
    UringUnavailable {
        #[source]
        source: io::Error,
    },
    #[error("{op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("a packet of {len} bytes does not fit the port's {max}-byte buffers")]
    PacketTooLarge { len: usize, max: usize },
    #[error("invalid port configuration: {0}")]
    Config(&'static str),
    #[error(transparent)]
    Control(#[from] timestamp::ControlError),
}

impl Error {
    fn io(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { op, source }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_holds_127_0_0_1_and_nobody_holds_an_unassigned_address() {
        let lo = super::interface_with_ipv4(std::net::Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(lo.as_deref(), Some("lo"));
        // 198.18.255.254: the benchmark range, assigned by no test.
        let none = super::interface_with_ipv4(std::net::Ipv4Addr::new(198, 18, 255, 254));
        assert_eq!(none.unwrap(), None);
    }

    #[test]
    fn loopback_has_the_zero_mac_and_a_bad_name_is_refused() {
        assert_eq!(super::interface_mac("lo").unwrap(), [0; 6]);
        assert!(super::interface_mac("no-such-if0").is_err());
        let long = super::interface_mac("a-name-longer-than-15").unwrap_err();
        assert_eq!(long.kind(), std::io::ErrorKind::InvalidInput);
    }
}
