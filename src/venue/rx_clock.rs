//! Kernel software receive timestamps for the order session: [`KernelRxClock`]
//! is the [`RxClock`] that stamps each read of the DUT's TCP stream with the time
//! the kernel took the data in, in `CLOCK_REALTIME` nanoseconds
//! ([`ClockDomain::KernelSoftware`]), the domain of the feed's TX stamps
//! (`nic::uring::UdpPort`). Tick-to-trade is then the order's `rx_ns` minus the
//! tick frame's TX stamp, with no clock conversion in between.
//!
//! On attach it turns on `SO_TIMESTAMPING` with [`RX_SOFTWARE_FLAGS`] only:
//! generate RX software stamps and report them. TX stamping stays off, because
//! nobody would drain the reports from the error queue of this socket.
//! Each read is a `recvmsg` whose `SCM_TIMESTAMPING` message carries the stamp.
//!
//! What the stamp means on TCP: the kernel reports the stamp of the most recent
//! segment it copied data from in that read (`tcp_recvmsg` overwrites it for each
//! segment it reads; segments merged in the receive queue keep the later stamp).
//! So a read that brings several segments gets the stamp of the last one, and a
//! SoupBinTCP packet split across segments is stamped when its last segment (or a
//! later one in the same read) came in: the time the order became complete, never
//! earlier than that. With GRO on a real NIC, a merged run of segments carries the
//! first segment's stamp.
//!
//! This clock never mixes domains silently. A read the kernel did not stamp (the
//! kernel switches stamping on lazily, see `nic::timestamp::enable`, so the first
//! packets after attach can come without one) is stamped with `CLOCK_REALTIME` at
//! read time, the same domain but a later instant, and counted in
//! [`KernelRxClock::unstamped_reads`], which the run reports
//! ([`RunReport::unstamped_reads`](super::server::RunReport::unstamped_reads)).
//! Send a warm-up order before the measured ones.
//!
//! `CLOCK_REALTIME` can be stepped (NTP, PTP): the session's timers run on this
//! clock too, so a step during a run moves heartbeats and timeouts with it, and
//! stamps on either side of a step do not subtract. Keep the host's clock
//! slewed, not stepped, while measuring.
//!
//! ```no_run
//! use ticklab::venue::responder::{AnswerMode, ResponderConfig};
//! use ticklab::venue::rx_clock::KernelRxClock;
//! use ticklab::venue::server::{ServerConfig, VenueServer};
//! use ticklab::venue::session::SessionConfig;
//! let cfg = ServerConfig::new(
//!     "127.0.0.1:15000".parse().unwrap(),
//!     SessionConfig::new("USER", "PASS"),
//!     ResponderConfig::new(AnswerMode::Accept),
//! );
//! let mut clock = KernelRxClock::new();
//! let report = VenueServer::bind(cfg)
//!     .unwrap()
//!     .run_with_clock(&mut clock, |event| eprintln!("{event:?}"))
//!     .unwrap();
//! eprintln!("{} reads without a kernel stamp", report.unstamped_reads);
//! ```

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::server::{ClockDomain, RxClock};
use crate::nic::timestamp::{
    self, CONTROL_BUFFER_LEN, SOF_TIMESTAMPING_RAW_HARDWARE, SOF_TIMESTAMPING_RX_HARDWARE,
    SOF_TIMESTAMPING_RX_SOFTWARE, SOF_TIMESTAMPING_SOFTWARE,
};
use crate::nic::uring_tcp::StampedStreamReceiver;

/// Generate software stamps on receive (`RX_SOFTWARE`) and report them in control
/// messages (`SOFTWARE`); the kernel needs both.
pub const RX_SOFTWARE_FLAGS: u32 = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
/// The NIC's stamp on receive, reported raw (the NIC must stamp every frame:
/// `SIOCSHWTSTAMP` with the `all` filter, which the lab's AF_PACKET port asks for).
pub const RX_HARDWARE_FLAGS: u32 = SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;

/// Which stamps a [`KernelRxClock`] takes, and the offset that puts them in
/// `CLOCK_REALTIME` (the lab's one timeline: its schedule, and every fallback read).
/// The offset is fixed for the run, so a difference of two stamps of the domain
/// (the wire latency) is exactly the NIC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxStamps {
    pub domain: ClockDomain,
    /// Added to each stamp: 0 for kernel software stamps; `CLOCK_REALTIME` minus
    /// the PHC, measured at the start, for hardware ones.
    pub to_realtime_ns: i64,
}

impl RxStamps {
    /// Kernel software stamps, already `CLOCK_REALTIME`.
    pub const SOFTWARE: RxStamps = RxStamps {
        domain: ClockDomain::KernelSoftware,
        to_realtime_ns: 0,
    };

    /// The `SO_TIMESTAMPING` flags that make the kernel report them.
    pub fn flags(self) -> u32 {
        match self.domain {
            ClockDomain::NicHardware => RX_HARDWARE_FLAGS,
            _ => RX_SOFTWARE_FLAGS,
        }
    }

    fn to_realtime(self, ns: u64) -> u64 {
        crate::time::shift_ns(ns, self.to_realtime_ns)
    }
}

/// `CLOCK_REALTIME` in ns since the epoch (the stamps' domain).
pub use crate::time::realtime_ns;

/// A live view of a [`KernelRxClock`]'s unstamped-read count, readable from any
/// thread while the server runs.
#[derive(Debug, Clone, Default)]
pub struct UnstampedReads(Arc<AtomicU64>);

impl UnstampedReads {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct KernelRxClock {
    control: [u8; CONTROL_BUFFER_LEN],
    unstamped: UnstampedReads,
    uring: Uring,
    stamps: RxStamps,
}

/// Whether reads go through io_uring ([`KernelRxClock::with_io_uring`]).
#[derive(Debug)]
enum Uring {
    Off,
    /// Wanted; the ring is made when the connection is attached.
    Wanted,
    On(Box<StampedStreamReceiver>),
}

impl Default for KernelRxClock {
    fn default() -> Self {
        Self::new()
    }
}

impl KernelRxClock {
    pub fn new() -> Self {
        KernelRxClock {
            control: [0; CONTROL_BUFFER_LEN],
            unstamped: UnstampedReads::default(),
            uring: Uring::Off,
            stamps: RxStamps::SOFTWARE,
        }
    }

    /// Takes `stamps` instead of kernel software ones (the NIC's, for a lab that
    /// measures in its clock). A read without one is stamped `CLOCK_REALTIME` at
    /// read time and counted, as before.
    pub fn with_stamps(mut self, stamps: RxStamps) -> Self {
        self.stamps = stamps;
        self
    }

    /// The same stamps, with each read an `IORING_OP_RECVMSG` (`nic::uring_tcp`)
    /// instead of a `recvmsg(2)` call: the socket backend's order session.
    pub fn with_io_uring() -> Self {
        KernelRxClock {
            uring: Uring::Wanted,
            ..Self::new()
        }
    }

    /// Reads so far that brought data but no kernel stamp.
    pub fn unstamped_reads(&self) -> u64 {
        self.unstamped.get()
    }

    /// A handle on the same count, for another thread.
    pub fn unstamped_counter(&self) -> UnstampedReads {
        self.unstamped.clone()
    }

    /// The stamp for a read that returned `control` (the bytes `recvmsg` filled):
    /// the kernel's software stamp, or `CLOCK_REALTIME` now, counted, when there is
    /// none or the buffer cannot be parsed.
    fn stamp_from_control(&self, control: &[u8]) -> u64 {
        let kernel = timestamp::parse_control(control)
            .ok()
            .and_then(|parsed| parsed.stamp(self.stamps.domain));
        match kernel {
            Some(stamp) => self.stamps.to_realtime(stamp.ns),
            None => {
                self.unstamped.0.fetch_add(1, Ordering::Relaxed);
                realtime_ns()
            }
        }
    }
}

impl RxClock for KernelRxClock {
    fn domain(&self) -> ClockDomain {
        self.stamps.domain
    }

    fn now_ns(&self) -> u64 {
        realtime_ns()
    }

    fn attach(&mut self, stream: &TcpStream) -> io::Result<()> {
        timestamp::enable(stream, self.stamps.flags())?;
        if matches!(self.uring, Uring::Wanted) {
            self.uring = Uring::On(Box::new(
                StampedStreamReceiver::new(stream)?.with_domain(self.stamps.domain),
            ));
        }
        Ok(())
    }

    fn read_stamped(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<(usize, u64)> {
        if let Uring::On(receiver) = &mut self.uring {
            // io_uring ignores SO_RCVTIMEO: the stream's read timeout becomes a
            // linked timeout, so the session's timers fire on time either way.
            let read = receiver.recv(buf, stream.read_timeout()?)?;
            let ns = match read.stamp {
                Some(stamp) => self.stamps.to_realtime(stamp.ns),
                None if read.len == 0 => realtime_ns(),
                None => {
                    self.unstamped.0.fetch_add(1, Ordering::Relaxed);
                    realtime_ns()
                }
            };
            return Ok((read.len, ns));
        }
        // Blocking, so the stream's read timeout applies as it does to `read`.
        let received = timestamp::recv_with_control(stream, buf, &mut self.control, 0)?;
        if received.len == 0 {
            return Ok((0, realtime_ns()));
        }
        let control = self.control.get(..received.control_len).unwrap_or(&[]);
        Ok((received.len, self.stamp_from_control(control)))
    }

    fn unstamped_reads(&self) -> u64 {
        self.unstamped.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `SCM_TIMESTAMPING` message as `recvmsg` returns it on x86_64 Linux
    /// (include/uapi/linux/socket.h cmsghdr, errqueue.h scm_timestamping): software
    /// stamp 1764018000.000000123 s, the other two zero.
    #[rustfmt::skip]
    const RX_STAMPED: [u8; 64] = [
        // cmsg_len = 64, SOL_SOCKET (1), SCM_TIMESTAMPING (37)
        64, 0, 0, 0, 0, 0, 0, 0,   1, 0, 0, 0,   37, 0, 0, 0,
        // ts[0]: tv_sec = 1764018000 (0x6924_C750), tv_nsec = 123
        0x50, 0xC7, 0x24, 0x69, 0, 0, 0, 0,   123, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn a_kernel_stamp_is_used_as_is() {
        let clock = KernelRxClock::new();
        assert_eq!(
            clock.stamp_from_control(&RX_STAMPED),
            1_764_018_000_000_000_123
        );
        assert_eq!(clock.unstamped_reads(), 0);
    }

    #[test]
    fn a_read_without_a_stamp_falls_back_to_realtime_and_is_counted() {
        let clock = KernelRxClock::new();
        let counter = clock.unstamped_counter();
        // No control message at all, a hardware-only stamp (ts[0] zero), and a
        // broken buffer: none carries a software stamp.
        let mut hardware_only = [0u8; 64];
        hardware_only[..16].copy_from_slice(&RX_STAMPED[..16]);
        hardware_only[48] = 37;
        let mut broken = RX_STAMPED;
        broken[0] = 200;
        for (i, control) in [&[][..], &hardware_only[..], &broken[..]]
            .into_iter()
            .enumerate()
        {
            let before = realtime_ns();
            let stamp = clock.stamp_from_control(control);
            let after = realtime_ns();
            assert!(
                (before..=after).contains(&stamp),
                "{before} <= {stamp} <= {after}"
            );
            assert_eq!(clock.unstamped_reads(), i as u64 + 1);
            assert_eq!(counter.get(), i as u64 + 1);
            assert_eq!(RxClock::unstamped_reads(&clock), i as u64 + 1);
        }
    }

    #[test]
    fn hardware_stamps_are_taken_raw_and_shifted_to_realtime() {
        // ts[2] (the raw hardware stamp) = 37 s since the PHC's epoch; ts[0] zero.
        let mut hardware_only = [0u8; 64];
        hardware_only[..16].copy_from_slice(&RX_STAMPED[..16]);
        hardware_only[48] = 37;
        let stamps = RxStamps {
            domain: ClockDomain::NicHardware,
            to_realtime_ns: 1_700_000_000_000_000_000,
        };
        let clock = KernelRxClock::new().with_stamps(stamps);
        assert_eq!(clock.domain(), ClockDomain::NicHardware);
        assert_eq!(
            clock.stamp_from_control(&hardware_only),
            1_700_000_037_000_000_000
        );
        assert_eq!(clock.unstamped_reads(), 0);
        // A software-only message carries no hardware stamp: counted, read time.
        let before = realtime_ns();
        let fallback = clock.stamp_from_control(&RX_STAMPED);
        assert!((before..=realtime_ns()).contains(&fallback));
        assert_eq!(clock.unstamped_reads(), 1);
        assert_eq!(
            stamps.flags(),
            libc::SOF_TIMESTAMPING_RX_HARDWARE | libc::SOF_TIMESTAMPING_RAW_HARDWARE
        );
        assert_eq!(RxStamps::SOFTWARE.flags(), RX_SOFTWARE_FLAGS);
    }

    #[test]
    fn domain_and_flags() {
        let clock = KernelRxClock::new();
        assert_eq!(clock.domain(), ClockDomain::KernelSoftware);
        assert_eq!(RX_SOFTWARE_FLAGS, 0b1_1000);
        assert_eq!(
            RX_SOFTWARE_FLAGS,
            (libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE)
        );
        let before = realtime_ns();
        let now = clock.now_ns();
        assert!(before <= now && now <= realtime_ns());
    }
}
