//! Clocks a latency figure can be certified on: timestamps that carry their clock
//! domain as a type, TSC detection and reading, and TSC calibration against the
//! kernel clocks.
//!
//! A [`Timestamp<D>`] is nanoseconds of exactly one clock domain `D`
//! ([`KernelRealtime`], [`Monotonic`], [`Tsc`]); subtracting two of them gives a signed
//! [`Nanos`], and subtracting timestamps of two domains does not compile. PHC
//! timestamps are the exception the type system cannot fully cover: a host may have
//! several PTP hardware clocks, and the device index is only known at run time, so a
//! [`PhcTimestamp`] pairs a `Timestamp<Phc>` with its device id, and
//! [`PhcTimestamp::checked_sub`] refuses two devices. `Timestamp<Phc>` alone has no
//! `Sub`. This module must never compare clocks silently: crossing domains goes
//! through a fitted [`calibrate::Fit`] or fails.
//!
//! - [`tsc`]: invariant-TSC and kernel clock source detection, TSC reads;
//! - [`calibrate`]: least-squares TSC calibration against the kernel clocks;
//! - [`phc`]: PTP hardware clocks (`/dev/ptpN`, the `PTP_SYS_OFFSET*` offsets) and
//!   each interface's timestamping capabilities, PHC and best timestamp source;
//! - [`ptp_mgmt`]: our linuxptp management client: PTP management messages
//!   (`TIME_STATUS_NP`, port, current, parent and default data sets,
//!   `SUBSCRIBE_EVENTS_NP` notifications) over ptp4l's Unix socket, without `pmc`;
//! - [`inventory`]: what clocks this host offers (`ticklab clock`);
//! - [`sync`]: judging a run's PTP sync from ptp4l's answers (in sync, steps,
//!   losses, MiFID II RTS 25), without I/O.
//!
//! ```
//! use ticklab::time::{Nanos, Timestamp, Tsc};
//! let start = Timestamp::<Tsc>::from_ns(1_000);
//! let end = Timestamp::<Tsc>::from_ns(1_250);
//! assert_eq!(end - start, Nanos(250));
//! assert_eq!(start - end, Nanos(-250));
//! ```
//!
//! Subtracting a TSC timestamp from a kernel one is a type error:
//!
//! ```compile_fail
//! use ticklab::time::{KernelRealtime, Timestamp, Tsc};
//! let kernel = Timestamp::<KernelRealtime>::from_ns(1_000);
//! let tsc = Timestamp::<Tsc>::from_ns(900);
//! let _ = kernel - tsc;
//! ```
//!
//! And so is subtracting two bare PHC timestamps (their devices may differ):
//!
//! ```compile_fail
//! use ticklab::time::{Phc, Timestamp};
//! let _ = Timestamp::<Phc>::from_ns(2) - Timestamp::<Phc>::from_ns(1);
//! ```

pub mod calibrate;
pub mod inventory;
pub mod phc;
pub mod ptp_mgmt;
pub mod sync;
pub mod tsc;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Sub;
use std::path::PathBuf;

use crate::nic::timestamp::{ClockDomain, KernelTimestamp};

/// A clock that cannot fail with a valid pointer, read through the vDSO (no system
/// call), in ns.
fn read_clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC and CLOCK_REALTIME
    // always exist on Linux, so the call cannot fail with a valid pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in ns: the pacer's clock (never stepped).
pub fn monotonic_ns() -> u64 {
    read_clock_ns(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME` in ns since the epoch: the domain of kernel software timestamps.
pub fn realtime_ns() -> u64 {
    read_clock_ns(libc::CLOCK_REALTIME)
}

/// `ns` moved by `offset_ns` (a fixed offset between two clocks, such as
/// `CLOCK_REALTIME − PHC`), clamped to `0..=u64::MAX`: the one way a stamp is put
/// in another clock's timeline.
pub fn shift_ns(ns: u64, offset_ns: i64) -> u64 {
    (i128::from(ns) + i128::from(offset_ns)).clamp(0, i128::from(u64::MAX)) as u64
}

/// A clock domain, as a zero-sized type.
pub trait Domain: Copy + Eq + fmt::Debug + sealed::Sealed {
    /// Short name for logs and JSON.
    const NAME: &'static str;
    /// The runtime tag of this domain, where `nic::timestamp::ClockDomain` has one.
    /// It has no TSC variant: a TSC reading never comes from a control message.
    const DOMAIN: Option<ClockDomain>;
}

/// A domain with one clock per host, so two of its timestamps are always comparable.
/// [`Phc`] is not one: there may be a PHC per NIC.
pub trait SingleClock: Domain {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::KernelRealtime {}
    impl Sealed for super::Monotonic {}
    impl Sealed for super::Tsc {}
    impl Sealed for super::Phc {}
}

/// `CLOCK_REALTIME`: the kernel's software timestamps (`SO_TIMESTAMPING` software
/// stamps are taken in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelRealtime;

/// `CLOCK_MONOTONIC` read in user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Monotonic;

/// The CPU's time-stamp counter, converted to nanoseconds by a calibration
/// ([`calibrate::Fit::tsc_ns`]). Raw ticks are plain `u64` ([`tsc::read_tsc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tsc;

/// A NIC's PTP hardware clock, raw. Which one is a runtime fact: see [`PhcTimestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Phc;

impl Domain for KernelRealtime {
    const NAME: &'static str = "kernel_realtime";
    const DOMAIN: Option<ClockDomain> = Some(ClockDomain::KernelSoftware);
}
impl Domain for Monotonic {
    const NAME: &'static str = "monotonic";
    const DOMAIN: Option<ClockDomain> = Some(ClockDomain::UserMonotonic);
}
impl Domain for Tsc {
    const NAME: &'static str = "tsc";
    const DOMAIN: Option<ClockDomain> = None;
}
impl Domain for Phc {
    const NAME: &'static str = "phc";
    const DOMAIN: Option<ClockDomain> = Some(ClockDomain::NicHardware);
}
impl SingleClock for KernelRealtime {}
impl SingleClock for Monotonic {}
impl SingleClock for Tsc {}

/// A signed duration in nanoseconds: the difference of two timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub i64);

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ns", self.0)
    }
}

/// Nanoseconds of clock domain `D`, from that clock's own origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp<D: Domain> {
    ns: u64,
    domain: PhantomData<D>,
}

impl<D: Domain> Timestamp<D> {
    pub const fn from_ns(ns: u64) -> Self {
        Timestamp {
            ns,
            domain: PhantomData,
        }
    }

    pub const fn ns(self) -> u64 {
        self.ns
    }

    /// The runtime tag of this timestamp's domain, if `ClockDomain` has one.
    pub const fn domain(self) -> Option<ClockDomain> {
        D::DOMAIN
    }

    /// Takes a kernel timestamp into this domain, refusing any other domain.
    pub fn from_kernel(stamp: &KernelTimestamp) -> Result<Self, WrongDomain> {
        if D::DOMAIN == Some(stamp.clock) {
            Ok(Self::from_ns(stamp.ns))
        } else {
            Err(WrongDomain {
                expected: D::NAME,
                found: stamp.clock,
            })
        }
    }
}

impl<D: Domain> fmt::Debug for Timestamp<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp<{}>({})", D::NAME, self.ns)
    }
}

/// `self - earlier`, negative when `self` is earlier. Saturates at `i64::MIN` and
/// `i64::MAX` (about ±292 years) instead of wrapping: a difference that large is
/// already a bug upstream, and a saturated value shows it without flipping sign.
impl<D: SingleClock> Sub for Timestamp<D> {
    type Output = Nanos;

    fn sub(self, earlier: Self) -> Nanos {
        Nanos(signed_difference(self.ns, earlier.ns))
    }
}

fn signed_difference(later: u64, earlier: u64) -> i64 {
    let difference = i128::from(later) - i128::from(earlier);
    difference.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A kernel timestamp was taken into a domain it does not belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} timestamp is not a {expected} one", .found.name())]
pub struct WrongDomain {
    pub expected: &'static str,
    pub found: ClockDomain,
}

/// A raw PHC timestamp and the PHC it was read from (`/dev/ptp{dev}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhcTimestamp {
    pub dev: u16,
    pub at: Timestamp<Phc>,
}

impl PhcTimestamp {
    pub const fn new(dev: u16, ns: u64) -> Self {
        PhcTimestamp {
            dev,
            at: Timestamp::from_ns(ns),
        }
    }

    /// `self - earlier` (saturating as for [`Timestamp`]), only when both came from
    /// the same PHC: two NICs' clocks are unrelated until something synchronises them.
    pub fn checked_sub(&self, earlier: &PhcTimestamp) -> Result<Nanos, PhcMismatch> {
        if self.dev != earlier.dev {
            return Err(PhcMismatch {
                later: self.dev,
                earlier: earlier.dev,
            });
        }
        Ok(Nanos(signed_difference(self.at.ns, earlier.at.ns)))
    }
}

/// Two PHC timestamps from different devices were subtracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot subtract a /dev/ptp{earlier} timestamp from a /dev/ptp{later} one: different clocks"
)]
pub struct PhcMismatch {
    pub later: u16,
    pub earlier: u16,
}

/// What went wrong reading or calibrating a clock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is empty; expected the name of the kernel's clock source", .path.display())]
    EmptyClockSource { path: PathBuf },
    #[error("no TSC on this machine: {reason}")]
    TscUnavailable { reason: &'static str },
    #[error("clock_gettime({clock}) failed: {source}")]
    ClockGettime {
        clock: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a TSC fit needs at least 2 samples, got {got}")]
    TooFewSamples { got: usize },
    #[error("all {count} samples have the same TSC value {tsc}: no slope to fit")]
    ZeroVariance { count: usize, tsc: u64 },
    #[error(
        "sample {index}: reference read after ({after} ns) is before the read before ({before} ns)"
    )]
    InvertedBracket {
        index: usize,
        before: u64,
        after: u64,
    },
}

#[cfg(test)]
mod tests {

    #[test]
    fn shift_moves_by_the_offset_and_clamps_at_the_ends() {
        assert_eq!(
            shift_ns(5_000_000_000, 1_700_000_000_000_000_000),
            1_700_000_005_000_000_000
        );
        assert_eq!(
            shift_ns(1_700_000_005_000_000_000, -1_700_000_000_000_000_000),
            5_000_000_000
        );
        assert_eq!(shift_ns(10, -11), 0);
        assert_eq!(shift_ns(u64::MAX - 1, 2), u64::MAX);
    }

    use super::*;

    #[test]
    fn same_domain_subtraction_is_signed_and_saturates() {
        let a = Timestamp::<KernelRealtime>::from_ns(10);
        let b = Timestamp::<KernelRealtime>::from_ns(3);
        assert_eq!(a - b, Nanos(7));
        assert_eq!(b - a, Nanos(-7));
        let zero = Timestamp::<Tsc>::from_ns(0);
        let max = Timestamp::<Tsc>::from_ns(u64::MAX);
        assert_eq!(max - zero, Nanos(i64::MAX));
        assert_eq!(zero - max, Nanos(i64::MIN));
        let m = Timestamp::<Monotonic>::from_ns(1 << 62);
        assert_eq!(m - Timestamp::from_ns(0), Nanos(1 << 62));
    }

    #[test]
    fn phc_subtraction_checks_the_device() {
        let a = PhcTimestamp::new(0, 1_500);
        let b = PhcTimestamp::new(0, 1_000);
        assert_eq!(a.checked_sub(&b), Ok(Nanos(500)));
        let other = PhcTimestamp::new(1, 1_000);
        let err = a.checked_sub(&other).unwrap_err();
        assert_eq!(
            err,
            PhcMismatch {
                later: 0,
                earlier: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot subtract a /dev/ptp1 timestamp from a /dev/ptp0 one: different clocks"
        );
    }

    #[test]
    fn runtime_tags_round_trip() {
        assert_eq!(
            Timestamp::<KernelRealtime>::from_ns(1).domain(),
            Some(ClockDomain::KernelSoftware)
        );
        assert_eq!(Phc::DOMAIN, Some(ClockDomain::NicHardware));
        assert_eq!(Monotonic::DOMAIN, Some(ClockDomain::UserMonotonic));
        assert_eq!(Tsc::DOMAIN, None);

        let software = KernelTimestamp {
            clock: ClockDomain::KernelSoftware,
            ns: 42,
            tx_id: Some(7),
        };
        assert_eq!(
            Timestamp::<KernelRealtime>::from_kernel(&software),
            Ok(Timestamp::from_ns(42))
        );
        let err = Timestamp::<Phc>::from_kernel(&software).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a kernel_software timestamp is not a phc one"
        );
        assert!(Timestamp::<Tsc>::from_kernel(&software).is_err());
    }

    #[test]
    fn debug_names_the_domain() {
        assert_eq!(
            format!("{:?}", Timestamp::<Tsc>::from_ns(5)),
            "Timestamp<tsc>(5)"
        );
    }
}
