//! PTP hardware clocks and interface timestamping capabilities: open `/dev/ptpN`,
//! read it through its dynamic clock id, measure its offset from `CLOCK_REALTIME`
//! with the `PTP_SYS_OFFSET*` ioctls, and map a network interface to its PHC and to
//! the best timestamp source it can give the lab (`ETHTOOL_GET_TS_INFO`).
//!
//! This module only reads clocks. It must never set, step or slew a PHC (the device
//! is opened read-only; linuxptp owns the clock), and it must never call an
//! interface's hardware stamps usable for the lab unless the NIC stamps *every*
//! packet: a NIC whose receive filter only matches PTP frames cannot stamp market
//! data or orders. Every ioctl goes through a safe wrapper in the `sys` section at the
//! bottom; the `#[repr(C)]` structs are linux/ptp_clock.h's and linux/ethtool.h's,
//! and the request numbers are computed from their sizes as `_IOR`/`_IOW`/`_IOWR`
//! do, checked against the C headers by a test that compiles a C program.
//!
//! The offset arithmetic is pure: [`tightest_offset`] takes the sample with the
//! narrowest `CLOCK_REALTIME` bracket (the one least disturbed by an interrupt, as
//! linuxptp's phc2sys does), and [`fit_offset`] fits `CLOCK_REALTIME` against the PHC
//! by least squares ([`calibrate::fit`]) over samples from several reads, which also
//! gives the PHC's rate against the system clock.
//!
//! ```
//! use ticklab::time::phc::{self, TimestampSource};
//! // Loopback has no PHC but stamps in software both ways.
//! let lo = phc::ts_info("lo").unwrap();
//! assert_eq!(lo.phc_index, None);
//! assert_eq!(phc::best_source(&lo).source, TimestampSource::Software);
//! // A missing PHC names the device and what to check.
//! let err = phc::Phc::open("/dev/ptp99").unwrap_err();
//! assert!(err.to_string().starts_with("no PTP hardware clock at /dev/ptp99"));
//! ```

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::calibrate::{self, Fit};
use super::{KernelRealtime, Nanos, Phc as PhcDomain, PhcTimestamp, Timestamp};
use crate::nic::timestamp::{
    ClockDomain, HARDWARE_FLAGS, SOFTWARE_FLAGS, SOF_TIMESTAMPING_RAW_HARDWARE,
    SOF_TIMESTAMPING_RX_HARDWARE, SOF_TIMESTAMPING_RX_SOFTWARE, SOF_TIMESTAMPING_SOFTWARE,
    SOF_TIMESTAMPING_TX_HARDWARE, SOF_TIMESTAMPING_TX_SOFTWARE,
};

/// Most samples one `PTP_SYS_OFFSET*` call returns (linux/ptp_clock.h).
pub const PTP_MAX_SAMPLES: usize = 25;

// ---------------------------------------------------------------------------------
// ioctl request encoding, include/uapi/asm-generic/ioctl.h (and the arch variants).

#[cfg(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
mod ioc_arch {
    pub const SIZE_BITS: u32 = 13;
    pub const WRITE: u32 = 4;
    pub const READ: u32 = 2;
}
#[cfg(not(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
mod ioc_arch {
    pub const SIZE_BITS: u32 = 14;
    pub const WRITE: u32 = 1;
    pub const READ: u32 = 2;
}

const IOC_NR_SHIFT: u32 = 0;
const IOC_TYPE_SHIFT: u32 = 8;
const IOC_SIZE_SHIFT: u32 = 16;
const IOC_DIR_SHIFT: u32 = IOC_SIZE_SHIFT + ioc_arch::SIZE_BITS;

/// `_IOC(dir, type, nr, size)`. A size that does not fit the field fails the build
/// (these are only evaluated in constants).
const fn ioc(dir: u32, kind: u8, nr: u8, size: usize) -> u32 {
    assert!(
        size < (1 << ioc_arch::SIZE_BITS),
        "ioctl argument too large"
    );
    (dir << IOC_DIR_SHIFT)
        | ((size as u32) << IOC_SIZE_SHIFT)
        | ((kind as u32) << IOC_TYPE_SHIFT)
        | ((nr as u32) << IOC_NR_SHIFT)
}

/// `_IOR`: the kernel writes the argument.
const fn ior(kind: u8, nr: u8, size: usize) -> u32 {
    ioc(ioc_arch::READ, kind, nr, size)
}

/// `_IOW`: the kernel reads the argument. (`PTP_SYS_OFFSET` is declared `_IOW` even
/// though the kernel writes the samples back; the number is what it is.)
const fn iow(kind: u8, nr: u8, size: usize) -> u32 {
    ioc(ioc_arch::WRITE, kind, nr, size)
}

/// `_IOWR`: both.
const fn iowr(kind: u8, nr: u8, size: usize) -> u32 {
    ioc(ioc_arch::READ | ioc_arch::WRITE, kind, nr, size)
}

const PTP_CLK_MAGIC: u8 = b'=';
const PTP_CLOCK_GETCAPS: u32 = ior(PTP_CLK_MAGIC, 1, size_of::<PtpClockCaps>());
const PTP_SYS_OFFSET: u32 = iow(PTP_CLK_MAGIC, 5, size_of::<PtpSysOffset>());
const PTP_SYS_OFFSET_PRECISE: u32 = iowr(PTP_CLK_MAGIC, 8, size_of::<PtpSysOffsetPrecise>());
const PTP_SYS_OFFSET_EXTENDED: u32 = iowr(PTP_CLK_MAGIC, 9, size_of::<PtpSysOffsetExtended>());

// include/uapi/linux/sockios.h, include/uapi/linux/ethtool.h
const SIOCETHTOOL: u32 = 0x8946;
const ETHTOOL_GET_TS_INFO: u32 = 0x41;
/// `IFNAMSIZ`: interface names are at most 15 bytes plus the NUL.
const IFNAMSIZ: usize = 16;

// include/uapi/linux/net_tstamp.h: `hwtstamp_tx_types` and `hwtstamp_rx_filters`
// values; `tx_types` and `rx_filters` are bit masks of `1 << value`.
const HWTSTAMP_TX_ON: u32 = 1;
const HWTSTAMP_FILTER_ALL: u32 = 1;

// ---------------------------------------------------------------------------------
// ABI structs, exactly as linux/ptp_clock.h and linux/ethtool.h (64- and 32-bit).

/// `struct ptp_clock_time`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PtpClockTime {
    sec: i64,
    nsec: u32,
    reserved: u32,
}

/// `struct ptp_clock_caps`. Kernels since 6.2 fill `rsv[0]` as `max_phase_adj`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PtpClockCaps {
    max_adj: i32,
    n_alarm: i32,
    n_ext_ts: i32,
    n_per_out: i32,
    pps: i32,
    n_pins: i32,
    cross_timestamping: i32,
    adjust_phase: i32,
    max_phase_adj: i32,
    rsv: [i32; 11],
}

/// `struct ptp_sys_offset`: `ts` interleaves system and PHC times, `2n + 1` of them,
/// starting and ending with a system time.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PtpSysOffset {
    n_samples: u32,
    rsv: [u32; 3],
    ts: [PtpClockTime; 2 * PTP_MAX_SAMPLES + 1],
}

/// `struct ptp_sys_offset_extended`: `[system, phc, system]` per sample. Kernels
/// since 6.12 read `rsv[0]` as `clockid` (0, `CLOCK_REALTIME`, is what older kernels
/// require the reserved words to be, so it works on both).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PtpSysOffsetExtended {
    n_samples: u32,
    clockid: i32,
    rsv: [u32; 2],
    ts: [[PtpClockTime; 3]; PTP_MAX_SAMPLES],
}

/// `struct ptp_sys_offset_precise`: one device cross-timestamp.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PtpSysOffsetPrecise {
    device: PtpClockTime,
    sys_realtime: PtpClockTime,
    sys_monoraw: PtpClockTime,
    rsv: [u32; 4],
}

/// `struct ethtool_ts_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct EthtoolTsInfo {
    cmd: u32,
    so_timestamping: u32,
    phc_index: i32,
    tx_types: u32,
    tx_reserved: [u32; 3],
    rx_filters: u32,
    rx_reserved: [u32; 3],
}

/// `struct ifreq` with the `ifr_data` member of its union; `_pad` fills the union to
/// its size (`struct ifmap`, the largest member, is 24 bytes on 64-bit targets and 16
/// on 32-bit ones).
#[repr(C)]
struct IfreqData {
    name: [libc::c_char; IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; IFREQ_UNION_LEN - size_of::<*mut libc::c_void>()],
}

const IFREQ_UNION_LEN: usize = if size_of::<usize>() == 8 { 24 } else { 16 };

impl PtpClockTime {
    /// Nanoseconds since the clock's epoch, or `None` for a time before it or a
    /// `nsec` of a second or more (neither is ever written by a working driver).
    fn ns(&self) -> Option<u64> {
        let sec = u64::try_from(self.sec).ok()?;
        if self.nsec >= 1_000_000_000 {
            return None;
        }
        sec.checked_mul(1_000_000_000)?
            .checked_add(u64::from(self.nsec))
    }
}

// ---------------------------------------------------------------------------------
// The PHC.

/// An open PTP hardware clock, `/dev/ptpN` (the device; its readings are in the
/// [`time::Phc`](super::Phc) domain). Opened read-only: reading the clock and the
/// offset ioctls need no more, and kernels with the PHC file-mode checks refuse
/// the clock-changing ioctls on such a descriptor. Closed on drop, which also ends [`Phc::clock_id`].
#[derive(Debug)]
pub struct Phc {
    fd: OwnedFd,
    path: PathBuf,
    index: u16,
    caps: Caps,
}

/// What a PHC can do (`PTP_CLOCK_GETCAPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Largest frequency adjustment, parts per billion.
    pub max_adj_ppb: i32,
    /// Programmable alarms.
    pub n_alarm: i32,
    /// External timestamp channels.
    pub n_ext_ts: i32,
    /// Programmable periodic outputs.
    pub n_per_out: i32,
    /// The clock can deliver a PPS event to the kernel.
    pub pps: bool,
    /// Programmable input/output pins.
    pub n_pins: i32,
    /// `PTP_SYS_OFFSET_PRECISE` works: the device latches PHC and system time
    /// together (PCIe PTM, or the ART on Intel NICs).
    pub cross_timestamping: bool,
    /// The clock can adjust its phase directly.
    pub adjust_phase: bool,
    /// Largest phase adjustment, ns (0 from kernels before 6.2).
    pub max_phase_adj_ns: i32,
}

impl Caps {
    fn from_raw(raw: &PtpClockCaps) -> Caps {
        Caps {
            max_adj_ppb: raw.max_adj,
            n_alarm: raw.n_alarm,
            n_ext_ts: raw.n_ext_ts,
            n_per_out: raw.n_per_out,
            pps: raw.pps != 0,
            n_pins: raw.n_pins,
            cross_timestamping: raw.cross_timestamping != 0,
            adjust_phase: raw.adjust_phase != 0,
            max_phase_adj_ns: raw.max_phase_adj,
        }
    }
}

impl Phc {
    /// Opens the PHC at `path` (`/dev/ptpN`, or a link to one such as udev's
    /// `/dev/ptp_hyperv`), checks that it answers `PTP_CLOCK_GETCAPS`, and keeps its
    /// capabilities.
    pub fn open(path: impl AsRef<Path>) -> Result<Phc, Error> {
        let path = path.as_ref().to_path_buf();
        let fd: OwnedFd = match OpenOptions::new().read(true).open(&path) {
            Ok(file) => file.into(),
            Err(source) => return Err(open_error(path, source)),
        };
        let mut raw = PtpClockCaps::default();
        if let Err(source) = sys::ptp_ioctl(fd.as_fd(), &mut raw) {
            return Err(match source.raw_os_error() {
                Some(libc::ENOTTY | libc::EINVAL) => Error::NotAPtpClock { path, source },
                _ => Error::Ioctl {
                    path,
                    request: <PtpClockCaps as sys::PtpRequest>::NAME,
                    source,
                },
            });
        }
        let index = device_index(&path)?;
        Ok(Phc {
            fd,
            path,
            index,
            caps: Caps::from_raw(&raw),
        })
    }

    /// Opens `/dev/ptp{index}`.
    pub fn open_index(index: u16) -> Result<Phc, Error> {
        Phc::open(format!("/dev/ptp{index}"))
    }

    /// The path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `N` of `/dev/ptpN`: the id its [`PhcTimestamp`]s carry, and the `phc_index`
    /// an interface reports in [`TsInfo`].
    pub fn index(&self) -> u16 {
        self.index
    }

    /// What the clock can do, read when it was opened.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// The dynamic POSIX clock id of this PHC, for `clock_gettime` (valid while
    /// `self` lives).
    pub fn clock_id(&self) -> libc::clockid_t {
        fd_to_clock_id(self.fd.as_raw_fd())
    }

    /// Reads the PHC now. One syscall; the result carries this PHC's index.
    pub fn now(&self) -> Result<PhcTimestamp, Error> {
        let (sec, nsec) =
            sys::clock_gettime(self.clock_id()).map_err(|source| Error::ClockGettime {
                path: self.path.clone(),
                source,
            })?;
        // The kernel keeps tv_nsec in 0..10^9; anything else fails `ns()` below.
        let time = PtpClockTime {
            sec,
            nsec: u32::try_from(nsec).unwrap_or(u32::MAX),
            reserved: 0,
        };
        let ns = time
            .ns()
            .ok_or_else(|| self.bad_time("clock_gettime", time))?;
        Ok(PhcTimestamp::new(self.index, ns))
    }

    /// `PTP_SYS_OFFSET`: `n_samples` (1 to [`PTP_MAX_SAMPLES`]) PHC reads, each
    /// between two `CLOCK_REALTIME` reads taken by the kernel around the driver's
    /// whole `gettime` (so brackets include the PCIe round trip and any locking).
    /// Consecutive samples share a system read.
    pub fn sys_offset(&self, n_samples: usize) -> Result<OffsetSamples, Error> {
        let n = sample_count(n_samples)?;
        let mut raw = PtpSysOffset {
            n_samples: n,
            rsv: [0; 3],
            ts: [PtpClockTime::default(); 2 * PTP_MAX_SAMPLES + 1],
        };
        self.ioctl(&mut raw)?;
        decode_sys_offset(self.index, &raw).map_err(|bad| self.bad_time(PTP_SYS_OFFSET_NAME, bad))
    }

    /// `PTP_SYS_OFFSET_EXTENDED`: `n_samples` (1 to [`PTP_MAX_SAMPLES`]) samples, each
    /// a `CLOCK_REALTIME` read, the PHC, and `CLOCK_REALTIME` again, taken by the
    /// driver immediately around the register read that latches the PHC: the
    /// tightest brackets a PHC without cross-timestamping gives. Drivers without
    /// `gettimex64` refuse it ([`Error::Unsupported`]).
    pub fn sys_offset_extended(&self, n_samples: usize) -> Result<OffsetSamples, Error> {
        let n = sample_count(n_samples)?;
        let mut raw = PtpSysOffsetExtended {
            n_samples: n,
            clockid: libc::CLOCK_REALTIME,
            rsv: [0; 2],
            ts: [[PtpClockTime::default(); 3]; PTP_MAX_SAMPLES],
        };
        self.ioctl(&mut raw)?;
        decode_sys_offset_extended(self.index, &raw)
            .map_err(|bad| self.bad_time(PTP_SYS_OFFSET_EXTENDED_NAME, bad))
    }

    /// `PTP_SYS_OFFSET_PRECISE`: one cross-timestamp, the PHC and the system clocks
    /// latched together by the hardware ([`Caps::cross_timestamping`]).
    pub fn sys_offset_precise(&self) -> Result<PreciseSample, Error> {
        let mut raw = PtpSysOffsetPrecise::default();
        self.ioctl(&mut raw)?;
        decode_precise(self.index, &raw)
            .map_err(|bad| self.bad_time(PTP_SYS_OFFSET_PRECISE_NAME, bad))
    }

    fn ioctl<T: sys::PtpRequest>(&self, arg: &mut T) -> Result<(), Error> {
        sys::ptp_ioctl(self.fd.as_fd(), arg).map_err(|source| {
            if source.raw_os_error() == Some(libc::EOPNOTSUPP) {
                Error::Unsupported {
                    path: self.path.clone(),
                    request: T::NAME,
                    source,
                }
            } else {
                Error::Ioctl {
                    path: self.path.clone(),
                    request: T::NAME,
                    source,
                }
            }
        })
    }

    fn bad_time(&self, request: &'static str, bad: PtpClockTime) -> Error {
        Error::BadTime {
            path: self.path.clone(),
            request,
            sec: bad.sec,
            nsec: bad.nsec,
        }
    }
}

impl AsFd for Phc {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `FD_TO_CLOCKID` (include/linux/posix-timers.h): a dynamic clock id is the
/// complemented descriptor shifted left by 3, with `CLOCKFD` (3) in the low bits.
const fn fd_to_clock_id(fd: i32) -> libc::clockid_t {
    ((!fd) << 3) | CLOCKFD
}

const CLOCKFD: libc::clockid_t = 3;

fn open_error(path: PathBuf, source: io::Error) -> Error {
    match source.raw_os_error() {
        Some(libc::ENOENT | libc::ENXIO | libc::ENODEV) => Error::NoDevice {
            present: present_phcs(),
            path,
        },
        Some(libc::EACCES | libc::EPERM) => Error::Permission { path, source },
        _ => Error::Open { path, source },
    }
}

/// The `/dev/ptpN` devices on this host, in index order.
fn present_phcs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return Vec::new();
    };
    let mut found: Vec<(u16, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let index = ptp_index(entry.file_name().to_str()?)?;
            Some((index, entry.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// `N` of a file name `ptpN`.
fn ptp_index(file_name: &str) -> Option<u16> {
    let digits = file_name.strip_prefix("ptp")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The PHC index of `path`, following links (`/dev/ptp_hyperv` → `/dev/ptp0`).
fn device_index(path: &Path) -> Result<u16, Error> {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    resolved
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(ptp_index)
        .ok_or_else(|| Error::DeviceIndex {
            path: path.to_path_buf(),
            resolved,
        })
}

fn sample_count(n_samples: usize) -> Result<u32, Error> {
    if (1..=PTP_MAX_SAMPLES).contains(&n_samples) {
        Ok(n_samples as u32)
    } else {
        Err(Error::SampleCount {
            requested: n_samples,
        })
    }
}

const PTP_SYS_OFFSET_NAME: &str = "PTP_SYS_OFFSET";
const PTP_SYS_OFFSET_EXTENDED_NAME: &str = "PTP_SYS_OFFSET_EXTENDED";
const PTP_SYS_OFFSET_PRECISE_NAME: &str = "PTP_SYS_OFFSET_PRECISE";

// ---------------------------------------------------------------------------------
// Offsets.

/// One PHC read bracketed by two `CLOCK_REALTIME` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSample {
    pub realtime_before: Timestamp<KernelRealtime>,
    pub phc: PhcTimestamp,
    pub realtime_after: Timestamp<KernelRealtime>,
}

impl OffsetSample {
    /// How long the bracket took: the uncertainty of the PHC read's system time.
    /// Negative when `CLOCK_REALTIME` stepped back inside it.
    pub fn bracket(&self) -> Nanos {
        self.realtime_after - self.realtime_before
    }

    /// The middle of the bracket (rounded down): the system time taken as the PHC
    /// read's. Wrong only if the bracket is inverted, which the fits refuse.
    pub fn realtime_mid(&self) -> Timestamp<KernelRealtime> {
        let before = self.realtime_before.ns();
        let half = self.realtime_after.ns().saturating_sub(before) / 2;
        Timestamp::from_ns(before + half)
    }

    /// `phc − realtime_mid`: what to add to a `CLOCK_REALTIME` time to get this PHC's
    /// time. A PHC kept in TAI by ptp4l reads 37 s ahead of a UTC system clock.
    pub fn phc_minus_realtime(&self) -> Nanos {
        Nanos(saturating_difference(
            self.phc.at.ns(),
            self.realtime_mid().ns(),
        ))
    }

    /// As a [`calibrate::Sample`]: the PHC on the fit's "tick" axis, `CLOCK_REALTIME`
    /// as the reference.
    fn as_calibration_sample(&self) -> calibrate::Sample {
        calibrate::Sample {
            ref_before_ns: self.realtime_before.ns(),
            tsc: self.phc.at.ns(),
            ref_after_ns: self.realtime_after.ns(),
        }
    }
}

fn saturating_difference(later: u64, earlier: u64) -> i64 {
    let difference = i128::from(later) - i128::from(earlier);
    difference.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

const NO_SAMPLE: OffsetSample = OffsetSample {
    realtime_before: Timestamp::from_ns(0),
    phc: PhcTimestamp::new(0, 0),
    realtime_after: Timestamp::from_ns(0),
};

/// The samples of one `PTP_SYS_OFFSET*` call, held inline (no allocation); derefs
/// to a slice of [`OffsetSample`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OffsetSamples {
    len: usize,
    samples: [OffsetSample; PTP_MAX_SAMPLES],
}

impl OffsetSamples {
    fn new() -> OffsetSamples {
        OffsetSamples {
            len: 0,
            samples: [NO_SAMPLE; PTP_MAX_SAMPLES],
        }
    }

    fn push(&mut self, sample: OffsetSample) {
        self.samples[self.len] = sample;
        self.len += 1;
    }
}

impl Deref for OffsetSamples {
    type Target = [OffsetSample];

    fn deref(&self) -> &[OffsetSample] {
        &self.samples[..self.len]
    }
}

impl fmt::Debug for OffsetSamples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Reads the `2n + 1` interleaved times of `PTP_SYS_OFFSET`; the first invalid time
/// is the error.
fn decode_sys_offset(dev: u16, raw: &PtpSysOffset) -> Result<OffsetSamples, PtpClockTime> {
    let n = (raw.n_samples as usize).min(PTP_MAX_SAMPLES);
    let mut out = OffsetSamples::new();
    for i in 0..n {
        out.push(decode_triplet(
            dev,
            [&raw.ts[2 * i], &raw.ts[2 * i + 1], &raw.ts[2 * i + 2]],
        )?);
    }
    Ok(out)
}

fn decode_sys_offset_extended(
    dev: u16,
    raw: &PtpSysOffsetExtended,
) -> Result<OffsetSamples, PtpClockTime> {
    let n = (raw.n_samples as usize).min(PTP_MAX_SAMPLES);
    let mut out = OffsetSamples::new();
    for [before, phc, after] in &raw.ts[..n] {
        out.push(decode_triplet(dev, [before, phc, after])?);
    }
    Ok(out)
}

fn decode_triplet(
    dev: u16,
    [before, phc, after]: [&PtpClockTime; 3],
) -> Result<OffsetSample, PtpClockTime> {
    let ns = |time: &PtpClockTime| time.ns().ok_or(*time);
    Ok(OffsetSample {
        realtime_before: Timestamp::from_ns(ns(before)?),
        phc: PhcTimestamp::new(dev, ns(phc)?),
        realtime_after: Timestamp::from_ns(ns(after)?),
    })
}

/// One hardware cross-timestamp: the PHC, `CLOCK_REALTIME` and `CLOCK_MONOTONIC_RAW`
/// at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreciseSample {
    pub phc: PhcTimestamp,
    pub realtime: Timestamp<KernelRealtime>,
    pub monotonic_raw_ns: u64,
}

impl PreciseSample {
    /// `phc − realtime`, exact to the hardware's latch.
    pub fn phc_minus_realtime(&self) -> Nanos {
        Nanos(saturating_difference(self.phc.at.ns(), self.realtime.ns()))
    }
}

fn decode_precise(dev: u16, raw: &PtpSysOffsetPrecise) -> Result<PreciseSample, PtpClockTime> {
    let ns = |time: &PtpClockTime| time.ns().ok_or(*time);
    Ok(PreciseSample {
        phc: PhcTimestamp::new(dev, ns(&raw.device)?),
        realtime: Timestamp::from_ns(ns(&raw.sys_realtime)?),
        monotonic_raw_ns: ns(&raw.sys_monoraw)?,
    })
}

/// The offset read from the sample with the narrowest bracket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEstimate {
    /// Which sample (its position in the slice given).
    pub index: usize,
    /// `phc − realtime` at that sample.
    pub phc_minus_realtime: Nanos,
    /// Its bracket: the estimate is uncertain by half of it.
    pub bracket: Nanos,
    /// The system time it was taken at (the bracket's middle).
    pub realtime: Timestamp<KernelRealtime>,
    /// The PHC reading.
    pub phc: PhcTimestamp,
}

/// The offset from the sample with the narrowest bracket (the earliest of equals),
/// as phc2sys does: the bracket a preemption or an interrupt stretched is the one to
/// distrust, and the narrowest bounds the error best. Refuses an empty set and any
/// inverted bracket (`CLOCK_REALTIME` stepped back during the read).
pub fn tightest_offset(samples: &[OffsetSample]) -> Result<OffsetEstimate, Error> {
    check_brackets(samples)?;
    let (index, best) = samples
        .iter()
        .enumerate()
        .min_by_key(|(i, s)| (s.bracket(), *i))
        .ok_or(Error::TooFewSamples { got: 0, needed: 1 })?;
    Ok(OffsetEstimate {
        index,
        phc_minus_realtime: best.phc_minus_realtime(),
        bracket: best.bracket(),
        realtime: best.realtime_mid(),
        phc: best.phc,
    })
}

/// `CLOCK_REALTIME` as a least-squares line of one PHC's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffsetFit {
    /// The PHC the samples came from.
    pub dev: u16,
    /// `realtime_ns = a + b × phc_ns` ([`Fit::ns_per_tick`] is `b`, the PHC on the
    /// fit's tick axis), with its residuals.
    pub fit: Fit,
}

impl OffsetFit {
    /// The `CLOCK_REALTIME` time the fit gives for a reading of this PHC.
    pub fn realtime_ns(&self, phc: Timestamp<PhcDomain>) -> i128 {
        self.fit.reference_ns(phc.ns())
    }

    /// `phc − realtime` at a reading of this PHC.
    pub fn phc_minus_realtime(&self, phc: Timestamp<PhcDomain>) -> Nanos {
        let difference = i128::from(phc.ns()) - self.realtime_ns(phc);
        Nanos(difference.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// How fast the PHC runs against `CLOCK_REALTIME`, parts per billion: positive
    /// when the PHC gains on the system clock.
    pub fn phc_rate_ppb(&self) -> f64 {
        (1.0 / self.fit.ns_per_tick - 1.0) * 1e9
    }
}

/// A least-squares fit of `CLOCK_REALTIME` against the PHC over the samples' bracket
/// midpoints. Feed it samples spread over time (the [`tightest_offset`] of each of
/// several reads, say): one call's 25 samples span microseconds, too little for a
/// rate. Needs at least 2 samples of one PHC at different PHC times and no inverted
/// bracket.
pub fn fit_offset(samples: &[OffsetSample]) -> Result<OffsetFit, Error> {
    let Some(first) = samples.first() else {
        return Err(Error::TooFewSamples { got: 0, needed: 2 });
    };
    if samples.len() < 2 {
        return Err(Error::TooFewSamples {
            got: samples.len(),
            needed: 2,
        });
    }
    if let Some((index, other)) = samples
        .iter()
        .enumerate()
        .find(|(_, s)| s.phc.dev != first.phc.dev)
    {
        return Err(Error::MixedDevices {
            index,
            first: first.phc.dev,
            found: other.phc.dev,
        });
    }
    check_brackets(samples)?;
    if samples.iter().all(|s| s.phc.at == first.phc.at) {
        return Err(Error::SamePhcReading {
            count: samples.len(),
            phc_ns: first.phc.at.ns(),
        });
    }
    let points: Vec<calibrate::Sample> = samples
        .iter()
        .map(OffsetSample::as_calibration_sample)
        .collect();
    let fit = calibrate::fit(&points).map_err(Error::Fit)?;
    Ok(OffsetFit {
        dev: first.phc.dev,
        fit,
    })
}

fn check_brackets(samples: &[OffsetSample]) -> Result<(), Error> {
    match samples
        .iter()
        .enumerate()
        .find(|(_, s)| s.realtime_after.ns() < s.realtime_before.ns())
    {
        Some((index, bad)) => Err(Error::InvertedBracket {
            index,
            before_ns: bad.realtime_before.ns(),
            after_ns: bad.realtime_after.ns(),
        }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------
// Interfaces.

/// `SO_TIMESTAMPING` capability names, by bit, as the kernel's
/// `sof_timestamping_names` (net/ethtool/common.c) and `ethtool -T` print them.
const TIMESTAMPING_NAMES: &[&str] = &[
    "hardware-transmit",
    "software-transmit",
    "hardware-receive",
    "software-receive",
    "software-system-clock",
    "hardware-legacy-clock",
    "hardware-raw-clock",
    "option-id",
    "sched-transmit",
    "ack-transmit",
    "option-cmsg",
    "option-tsonly",
    "option-stats",
    "option-pktinfo",
    "option-tx-swhw",
    "bind-phc",
    "option-id-tcp",
    "option-rx-filter",
    "tx-completion",
];

/// `hwtstamp_tx_types` names, by value (`ts_tx_type_names`).
const TX_TYPE_NAMES: &[&str] = &["off", "on", "onestep-sync", "onestep-p2p"];

/// `hwtstamp_rx_filters` names, by value (`ts_rx_filter_names`).
const RX_FILTER_NAMES: &[&str] = &[
    "none",
    "all",
    "some",
    "ptpv1-l4-event",
    "ptpv1-l4-sync",
    "ptpv1-l4-delay-req",
    "ptpv2-l4-event",
    "ptpv2-l4-sync",
    "ptpv2-l4-delay-req",
    "ptpv2-l2-event",
    "ptpv2-l2-sync",
    "ptpv2-l2-delay-req",
    "ptpv2-event",
    "ptpv2-sync",
    "ptpv2-delay-req",
    "ntp-all",
];

/// A bit mask with the names of its bits: `SO_TIMESTAMPING` capabilities, transmit
/// types or receive filters. Bits this table does not know (a newer kernel's) are
/// kept and shown as `bit-N`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    bits: u32,
    names: &'static [&'static str],
}

/// One set bit of a [`Flags`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagName {
    Known(&'static str),
    Unknown(u32),
}

impl fmt::Display for FlagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagName::Known(name) => f.write_str(name),
            FlagName::Unknown(bit) => write!(f, "bit-{bit}"),
        }
    }
}

impl Flags {
    /// `SO_TIMESTAMPING` capabilities (`SOF_TIMESTAMPING_*` bits).
    pub const fn timestamping(bits: u32) -> Flags {
        Flags {
            bits,
            names: TIMESTAMPING_NAMES,
        }
    }

    /// Hardware transmit modes (`1 << HWTSTAMP_TX_*`).
    pub const fn tx_types(bits: u32) -> Flags {
        Flags {
            bits,
            names: TX_TYPE_NAMES,
        }
    }

    /// Hardware receive filters (`1 << HWTSTAMP_FILTER_*`).
    pub const fn rx_filters(bits: u32) -> Flags {
        Flags {
            bits,
            names: RX_FILTER_NAMES,
        }
    }

    pub const fn bits(self) -> u32 {
        self.bits
    }

    /// Every bit of `mask` is set.
    pub const fn contains(self, mask: u32) -> bool {
        self.bits & mask == mask
    }

    /// The set bits, lowest first.
    pub fn iter(self) -> impl Iterator<Item = FlagName> {
        let names = self.names;
        (0..32u32)
            .filter(move |bit| self.bits & (1 << bit) != 0)
            .map(move |bit| match names.get(bit as usize) {
                Some(name) => FlagName::Known(name),
                None => FlagName::Unknown(bit),
            })
    }

    /// The names of the bits of `mask` that are not set, lowest first.
    fn missing(self, mask: u32) -> Flags {
        Flags {
            bits: mask & !self.bits,
            names: self.names,
        }
    }
}

/// Names separated by ", ", or "none".
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bits == 0 {
            return f.write_str("none");
        }
        for (i, name) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x} ({self})", self.bits)
    }
}

/// What an interface can stamp and with which clock (`ETHTOOL_GET_TS_INFO`, as
/// `ethtool -T` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsInfo {
    pub iface: String,
    /// `N` of `/dev/ptpN`, the clock its hardware stamps are in; `None` for -1.
    pub phc_index: Option<u16>,
    /// `SO_TIMESTAMPING` capabilities.
    pub so_timestamping: Flags,
    /// Hardware transmit modes (`SIOCSHWTSTAMP` `tx_type`s).
    pub tx_types: Flags,
    /// Hardware receive filters (`SIOCSHWTSTAMP` `rx_filter`s).
    pub rx_filters: Flags,
}

impl TsInfo {
    /// From the raw masks, as the kernel reports them.
    pub fn new(
        iface: impl Into<String>,
        phc_index: Option<u16>,
        so_timestamping: u32,
        tx_types: u32,
        rx_filters: u32,
    ) -> TsInfo {
        TsInfo {
            iface: iface.into(),
            phc_index,
            so_timestamping: Flags::timestamping(so_timestamping),
            tx_types: Flags::tx_types(tx_types),
            rx_filters: Flags::rx_filters(rx_filters),
        }
    }

    /// `/dev/ptpN` of its PHC, if it has one.
    pub fn phc_path(&self) -> Option<PathBuf> {
        self.phc_index
            .map(|n| PathBuf::from(format!("/dev/ptp{n}")))
    }

    /// The kernel stamps its packets in software both ways and reports those stamps
    /// (`software-transmit`, `software-receive`, `software-system-clock`).
    pub fn stamps_software_both_ways(&self) -> bool {
        self.so_timestamping.contains(SOFTWARE_NEEDS)
    }

    /// Its PHC index, or an error naming the interface and what it offers instead.
    pub fn require_phc(&self) -> Result<u16, Error> {
        self.phc_index.ok_or_else(|| Error::NoPhcForInterface {
            iface: self.iface.clone(),
            offers: self.so_timestamping,
        })
    }
}

/// The interface's timestamping capabilities and PHC (`SIOCETHTOOL`
/// `ETHTOOL_GET_TS_INFO`; unprivileged).
pub fn ts_info(iface: &str) -> Result<TsInfo, Error> {
    let name = interface_name(iface)?;
    let raw = sys::ethtool_ts_info(&name).map_err(|source| {
        if source.raw_os_error() == Some(libc::ENODEV) {
            Error::NoInterface {
                iface: iface.to_string(),
                present: sys::interface_names().unwrap_or_default(),
            }
        } else {
            Error::TsInfo {
                iface: iface.to_string(),
                source,
            }
        }
    })?;
    let phc_index = match raw.phc_index {
        index if index < 0 => None,
        index => Some(u16::try_from(index).map_err(|_| Error::PhcIndexRange {
            iface: iface.to_string(),
            index,
        })?),
    };
    Ok(TsInfo::new(
        iface,
        phc_index,
        raw.so_timestamping,
        raw.tx_types,
        raw.rx_filters,
    ))
}

/// Every interface of this network namespace, in interface-index order, with its
/// [`TsInfo`]. An interface that disappears between the listing and its query is
/// left out: it is no longer on the host.
pub fn interfaces() -> Result<Vec<TsInfo>, Error> {
    let names = sys::interface_names().map_err(|source| Error::ListInterfaces { source })?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match ts_info(&name) {
            Ok(info) => out.push(info),
            Err(Error::NoInterface { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(out)
}

/// Opens the PHC of `iface`, or says why it has none and what it offers.
pub fn phc_for_interface(iface: &str) -> Result<Phc, Error> {
    Phc::open_index(ts_info(iface)?.require_phc()?)
}

/// `iface` as the NUL-terminated `ifr_name` the kernel reads.
fn interface_name(iface: &str) -> Result<[libc::c_char; IFNAMSIZ], Error> {
    let reason = if iface.is_empty() {
        Some("it is empty")
    } else if iface.len() >= IFNAMSIZ {
        Some("interface names are at most 15 bytes")
    } else if iface.contains('\0') {
        Some("it contains a NUL byte")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(Error::InterfaceName {
            iface: iface.to_string(),
            reason,
        });
    }
    let mut name = [0; IFNAMSIZ];
    for (slot, byte) in name.iter_mut().zip(iface.bytes()) {
        *slot = byte as libc::c_char;
    }
    Ok(name)
}

/// Which clock the lab can stamp an interface's packets with, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampSource {
    /// The NIC stamps every packet both ways in the time of `/dev/ptp{phc_index}`.
    Hardware { phc_index: u16 },
    /// The kernel stamps both ways in `CLOCK_REALTIME` (driver TX, stack RX).
    Software,
    /// Neither: only user-space clock reads around the lab's own calls are left.
    None,
}

impl TimestampSource {
    /// The clock domain its stamps are in; `None` for [`TimestampSource::None`].
    pub fn domain(self) -> Option<ClockDomain> {
        match self {
            TimestampSource::Hardware { .. } => Some(ClockDomain::NicHardware),
            TimestampSource::Software => Some(ClockDomain::KernelSoftware),
            TimestampSource::None => None,
        }
    }

    /// The `SO_TIMESTAMPING` flags to enable on the interface's sockets
    /// ([`crate::nic::timestamp::enable`]). Hardware also needs the NIC switched on
    /// with `SIOCSHWTSTAMP` (privileged).
    pub fn socket_flags(self) -> Option<u32> {
        match self {
            TimestampSource::Hardware { .. } => Some(HARDWARE_FLAGS),
            TimestampSource::Software => Some(SOFTWARE_FLAGS),
            TimestampSource::None => None,
        }
    }
}

impl fmt::Display for TimestampSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampSource::Hardware { phc_index } => {
                write!(f, "hardware (/dev/ptp{phc_index})")
            }
            TimestampSource::Software => f.write_str("software (CLOCK_REALTIME)"),
            TimestampSource::None => f.write_str("none"),
        }
    }
}

/// The source [`best_source`] chose for an interface, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChoice {
    pub iface: String,
    pub source: TimestampSource,
    /// What the interface offers and, below hardware, what hardware lacked.
    pub reason: String,
}

impl fmt::Display for SourceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.iface, self.source, self.reason)
    }
}

const HARDWARE_NEEDS: u32 =
    SOF_TIMESTAMPING_TX_HARDWARE | SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;
const SOFTWARE_NEEDS: u32 =
    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;

/// Picks hardware over software over none for the lab's tick-to-trade stamps, and
/// says why. Hardware needs a PHC, hardware TX and RX stamps reported raw, transmit
/// mode `on`, and the receive filter `all`: the lab stamps market data and orders,
/// which a PTP-only filter never matches. Software needs software TX and RX stamps
/// and their reporting (`software-system-clock`). A capability is only what the
/// driver offers; whether stamps then arrive is the lab's to check.
pub fn best_source(info: &TsInfo) -> SourceChoice {
    let caps = info.so_timestamping;
    let hardware_gap = match info.phc_index {
        None => Err("no PTP hardware clock (PHC index -1)".to_string()),
        Some(index) if !caps.contains(HARDWARE_NEEDS) => Err(format!(
            "/dev/ptp{index} without {}",
            caps.missing(HARDWARE_NEEDS)
        )),
        Some(_) if !info.tx_types.contains(1 << HWTSTAMP_TX_ON) => Err(format!(
            "no transmit mode `on` (transmit modes: {})",
            info.tx_types
        )),
        Some(_) if !info.rx_filters.contains(1 << HWTSTAMP_FILTER_ALL) => Err(format!(
            "no receive filter `all` (receive filters: {}), so market data and orders \
             would go unstamped",
            info.rx_filters
        )),
        Some(index) => Ok(index),
    };
    let (source, reason) = match hardware_gap {
        Ok(phc_index) => (
            TimestampSource::Hardware { phc_index },
            format!(
                "offers {}; transmit modes: {}; receive filters: {}",
                caps, info.tx_types, info.rx_filters
            ),
        ),
        Err(gap) if caps.contains(SOFTWARE_NEEDS) => (
            TimestampSource::Software,
            format!("offers {caps}; no hardware stamps: {gap}"),
        ),
        Err(gap) => (
            TimestampSource::None,
            format!(
                "offers {caps}; no hardware stamps: {gap}; no software stamps both ways: \
                 without {}",
                caps.missing(SOFTWARE_NEEDS)
            ),
        ),
    };
    SourceChoice {
        iface: info.iface.clone(),
        source,
        reason,
    }
}

// ---------------------------------------------------------------------------------
// Errors.

/// What went wrong opening or reading a PHC or an interface's timestamping info.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no PTP hardware clock at {}{}: does the NIC have one? `ethtool -T IFACE` shows \
         its PTP Hardware Clock index; is the driver loaded?",
        .path.display(), present_list(.present)
    )]
    NoDevice {
        path: PathBuf,
        present: Vec<PathBuf>,
    },
    #[error(
        "permission denied opening {}: reading a PHC needs read access to it (udev \
         often leaves it root's); run as root, or grant the lab's group read access \
         with a udev rule such as SUBSYSTEM==\"ptp\", GROUP=\"ptp\", MODE=\"0640\": \
         {source}",
        .path.display()
    )]
    Permission {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("opening {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is not a PTP hardware clock: PTP_CLOCK_GETCAPS failed ({source}); PHCs are \
         the character devices /dev/ptpN (see /sys/class/ptp)",
        .path.display()
    )]
    NotAPtpClock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} resolves to {}, which is not named ptpN: cannot tell which PHC it is",
        .path.display(), .resolved.display()
    )]
    DeviceIndex { path: PathBuf, resolved: PathBuf },
    #[error("{request} on {}: {source}", .path.display())]
    Ioctl {
        path: PathBuf,
        request: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} does not support {request} (its driver lacks it; PTP_SYS_OFFSET always \
         works): {source}",
        .path.display()
    )]
    Unsupported {
        path: PathBuf,
        request: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("clock_gettime on {}: {source}", .path.display())]
    ClockGettime {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{request} on {} returned the time {sec} s {nsec} ns; expected a time after the \
         epoch with nsec below 10^9",
        .path.display()
    )]
    BadTime {
        path: PathBuf,
        request: &'static str,
        sec: i64,
        nsec: u32,
    },
    #[error("{requested} offset samples asked for; one read takes 1 to {PTP_MAX_SAMPLES}")]
    SampleCount { requested: usize },
    #[error("{got} offset samples; need at least {needed}")]
    TooFewSamples { got: usize, needed: usize },
    #[error(
        "offset sample {index}: CLOCK_REALTIME read after ({after_ns} ns) is before the \
         read before ({before_ns} ns); the system clock stepped back during the read"
    )]
    InvertedBracket {
        index: usize,
        before_ns: u64,
        after_ns: u64,
    },
    #[error(
        "offset sample {index} is from /dev/ptp{found}, sample 0 from /dev/ptp{first}: \
         fit one PHC at a time"
    )]
    MixedDevices {
        index: usize,
        first: u16,
        found: u16,
    },
    #[error("all {count} offset samples read the PHC at {phc_ns} ns: no slope to fit")]
    SamePhcReading { count: usize, phc_ns: u64 },
    #[error("fitting CLOCK_REALTIME against the PHC: {0}")]
    Fit(#[source] super::Error),
    #[error("interface name {iface:?} is not valid: {reason}")]
    InterfaceName { iface: String, reason: &'static str },
    #[error(
        "no network interface named {iface} in this network namespace (it has: {})",
        .present.join(", ")
    )]
    NoInterface { iface: String, present: Vec<String> },
    #[error("ETHTOOL_GET_TS_INFO on {iface}: {source}")]
    TsInfo {
        iface: String,
        #[source]
        source: io::Error,
    },
    #[error("{iface} reports PHC index {index}, beyond the 0..=65535 ticklab supports")]
    PhcIndexRange { iface: String, index: i32 },
    #[error("listing the network interfaces: {source}")]
    ListInterfaces {
        #[source]
        source: io::Error,
    },
    #[error(
        "{iface} has no PTP hardware clock (PHC index -1); it offers: {offers}. Use \
         software timestamps on it, or a NIC with hardware timestamping"
    )]
    NoPhcForInterface { iface: String, offers: Flags },
}

fn present_list(present: &[PathBuf]) -> String {
    if present.is_empty() {
        " (this host has no /dev/ptpN)".to_string()
    } else {
        let names: Vec<String> = present.iter().map(|p| p.display().to_string()).collect();
        format!(" (this host has {})", names.join(", "))
    }
}

// ---------------------------------------------------------------------------------
// The unsafe edge: each syscall wrapped once, its return code turned into a Result.

mod sys {
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::os::unix::net::UnixDatagram;

    use super::{
        EthtoolTsInfo, IfreqData, PtpClockCaps, PtpSysOffset, PtpSysOffsetExtended,
        PtpSysOffsetPrecise, ETHTOOL_GET_TS_INFO, IFNAMSIZ, IFREQ_UNION_LEN, PTP_CLOCK_GETCAPS,
        PTP_SYS_OFFSET, PTP_SYS_OFFSET_EXTENDED, PTP_SYS_OFFSET_PRECISE, SIOCETHTOOL,
    };

    /// An argument struct of a PHC ioctl, paired with its request number.
    ///
    /// # Safety
    ///
    /// `REQUEST` must be the ioctl whose argument is exactly `Self` (its size is
    /// encoded in the number, and the kernel reads and writes that many bytes), and
    /// `Self` must be plain old data that any bytes the kernel writes leave valid.
    pub unsafe trait PtpRequest {
        const REQUEST: u32;
        const NAME: &'static str;
    }

    // SAFETY: each pairs a linux/ptp_clock.h request with its argument struct, whose
    // size is the one encoded in the number; all fields are integers.
    unsafe impl PtpRequest for PtpClockCaps {
        const REQUEST: u32 = PTP_CLOCK_GETCAPS;
        const NAME: &'static str = "PTP_CLOCK_GETCAPS";
    }
    // SAFETY: as above.
    unsafe impl PtpRequest for PtpSysOffset {
        const REQUEST: u32 = PTP_SYS_OFFSET;
        const NAME: &'static str = super::PTP_SYS_OFFSET_NAME;
    }
    // SAFETY: as above.
    unsafe impl PtpRequest for PtpSysOffsetExtended {
        const REQUEST: u32 = PTP_SYS_OFFSET_EXTENDED;
        const NAME: &'static str = super::PTP_SYS_OFFSET_EXTENDED_NAME;
    }
    // SAFETY: as above.
    unsafe impl PtpRequest for PtpSysOffsetPrecise {
        const REQUEST: u32 = PTP_SYS_OFFSET_PRECISE;
        const NAME: &'static str = super::PTP_SYS_OFFSET_PRECISE_NAME;
    }

    /// `ioctl(fd, T::REQUEST, arg)`.
    pub fn ptp_ioctl<T: PtpRequest>(fd: BorrowedFd<'_>, arg: &mut T) -> io::Result<()> {
        // SAFETY: the fd is open for the borrow; `arg` is a live, writable `T` of the
        // size the request encodes (the `PtpRequest` contract), so the kernel's copy
        // in and out stays inside it.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), T::REQUEST as libc::Ioctl, arg as *mut T) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// `clock_gettime(clock)` as `(tv_sec, tv_nsec)`.
    #[allow(clippy::useless_conversion)] // time_t and c_long are i32 on 32-bit targets
    pub fn clock_gettime(clock: libc::clockid_t) -> io::Result<(i64, i64)> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a live, writable timespec; the call writes nothing else.
        // A dynamic clock id whose fd is closed fails with EINVAL, not UB.
        let rc = unsafe { libc::clock_gettime(clock, &mut now) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((i64::from(now.tv_sec), i64::from(now.tv_nsec)))
    }

    /// `SIOCETHTOOL` / `ETHTOOL_GET_TS_INFO` for the interface `name`.
    pub fn ethtool_ts_info(name: &[libc::c_char; IFNAMSIZ]) -> io::Result<EthtoolTsInfo> {
        // Any socket routes SIOCETHTOOL to the device layer; an AF_UNIX one needs no
        // address family configured in the namespace.
        let socket = UnixDatagram::unbound()?;
        let mut info = EthtoolTsInfo {
            cmd: ETHTOOL_GET_TS_INFO,
            ..EthtoolTsInfo::default()
        };
        let mut request = IfreqData {
            name: *name,
            data: (&mut info as *mut EthtoolTsInfo).cast(),
            _pad: [0; IFREQ_UNION_LEN - size_of::<*mut libc::c_void>()],
        };
        // SAFETY: the socket is open; `request` is a live `struct ifreq` whose name is
        // NUL-terminated and whose `ifr_data` points at `info`, a live, writable
        // `struct ethtool_ts_info` with `cmd` set, which is all the kernel touches.
        let rc = unsafe {
            libc::ioctl(
                socket.as_raw_fd(),
                SIOCETHTOOL as libc::Ioctl,
                &mut request as *mut IfreqData,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(info)
        }
    }

    /// The names of this network namespace's interfaces, by interface index
    /// (`if_nameindex`, which asks the kernel over netlink, so it follows `setns`).
    pub fn interface_names() -> io::Result<Vec<String>> {
        // SAFETY: no preconditions; the result is checked for NULL below.
        let list = unsafe { libc::if_nameindex() };
        if list.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut names = Vec::new();
        let mut at = list;
        loop {
            // SAFETY: `list` is an array ended by an entry with index 0 and a NULL
            // name, and `at` has not passed that entry; each name is a valid C string
            // owned by the list until `if_freenameindex`.
            let entry = unsafe { &*at };
            if entry.if_index == 0 || entry.if_name.is_null() {
                break;
            }
            // SAFETY: as above: a live NUL-terminated string.
            let name = unsafe { CStr::from_ptr(entry.if_name) };
            names.push(name.to_string_lossy().into_owned());
            // SAFETY: the terminator is still ahead, so the next entry is in the array.
            at = unsafe { at.add(1) };
        }
        // SAFETY: `list` came from if_nameindex and is freed once; `names` owns copies.
        unsafe { libc::if_freenameindex(list) };
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::mem::offset_of;
    use std::process::Command;

    use super::*;

    // ---- ABI: our structs and request numbers against the C headers.

    /// Prints `name value` lines for everything the ABI test compares.
    const ABI_PROGRAM: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/net_tstamp.h>
#include <linux/ptp_clock.h>
#include <linux/sockios.h>
#define P(name, value) printf("%s %lu\n", name, (unsigned long)(value))
int main(void) {
    P("sizeof_ptp_clock_time", sizeof(struct ptp_clock_time));
    P("sizeof_ptp_clock_caps", sizeof(struct ptp_clock_caps));
    P("sizeof_ptp_sys_offset", sizeof(struct ptp_sys_offset));
    P("sizeof_ptp_sys_offset_extended", sizeof(struct ptp_sys_offset_extended));
    P("sizeof_ptp_sys_offset_precise", sizeof(struct ptp_sys_offset_precise));
    P("sizeof_ethtool_ts_info", sizeof(struct ethtool_ts_info));
    P("sizeof_ifreq", sizeof(struct ifreq));
    P("offsetof_ptp_clock_time_nsec", offsetof(struct ptp_clock_time, nsec));
    P("offsetof_ptp_clock_caps_cross_timestamping", offsetof(struct ptp_clock_caps, cross_timestamping));
    P("offsetof_ptp_clock_caps_rsv", offsetof(struct ptp_clock_caps, rsv));
    P("offsetof_ptp_sys_offset_ts", offsetof(struct ptp_sys_offset, ts));
    P("offsetof_ptp_sys_offset_extended_rsv", offsetof(struct ptp_sys_offset_extended, rsv));
    P("offsetof_ptp_sys_offset_extended_ts", offsetof(struct ptp_sys_offset_extended, ts));
    P("offsetof_ptp_sys_offset_precise_sys_realtime", offsetof(struct ptp_sys_offset_precise, sys_realtime));
    P("offsetof_ptp_sys_offset_precise_sys_monoraw", offsetof(struct ptp_sys_offset_precise, sys_monoraw));
    P("offsetof_ethtool_ts_info_phc_index", offsetof(struct ethtool_ts_info, phc_index));
    P("offsetof_ethtool_ts_info_rx_filters", offsetof(struct ethtool_ts_info, rx_filters));
    P("offsetof_ifreq_ifr_data", offsetof(struct ifreq, ifr_data));
    P("PTP_MAX_SAMPLES", PTP_MAX_SAMPLES);
    P("PTP_CLOCK_GETCAPS", PTP_CLOCK_GETCAPS);
    P("PTP_SYS_OFFSET", PTP_SYS_OFFSET);
    P("PTP_SYS_OFFSET_PRECISE", PTP_SYS_OFFSET_PRECISE);
    P("PTP_SYS_OFFSET_EXTENDED", PTP_SYS_OFFSET_EXTENDED);
    P("SIOCETHTOOL", SIOCETHTOOL);
    P("ETHTOOL_GET_TS_INFO", ETHTOOL_GET_TS_INFO);
    P("IFNAMSIZ", IFNAMSIZ);
    P("HWTSTAMP_TX_ON", HWTSTAMP_TX_ON);
    P("HWTSTAMP_TX_ONESTEP_P2P", HWTSTAMP_TX_ONESTEP_P2P);
    P("HWTSTAMP_FILTER_ALL", HWTSTAMP_FILTER_ALL);
    P("HWTSTAMP_FILTER_PTP_V2_EVENT", HWTSTAMP_FILTER_PTP_V2_EVENT);
    P("HWTSTAMP_FILTER_NTP_ALL", HWTSTAMP_FILTER_NTP_ALL);
    P("SOF_TIMESTAMPING_SYS_HARDWARE", SOF_TIMESTAMPING_SYS_HARDWARE);
    P("SOF_TIMESTAMPING_OPT_TX_SWHW", SOF_TIMESTAMPING_OPT_TX_SWHW);
    P("SOF_TIMESTAMPING_BIND_PHC", SOF_TIMESTAMPING_BIND_PHC);
    return 0;
}
"#;

    /// Compiles and runs [`ABI_PROGRAM`] with the system C compiler. No compiler or
    /// no kernel headers fails the test, naming what to install.
    fn c_abi() -> HashMap<String, u64> {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("abi.c");
        let binary = dir.path().join("abi");
        std::fs::write(&source, ABI_PROGRAM).unwrap();
        let compiled = Command::new("cc")
            .arg("-o")
            .arg(&binary)
            .arg(&source)
            .output()
            .unwrap_or_else(|err| {
                panic!(
                    "the PHC ABI test compiles a C program and needs a C compiler: running \
                     `cc` failed ({err}); install gcc (Debian: apt-get install gcc)"
                )
            });
        assert!(
            compiled.status.success(),
            "cc failed to build the ABI probe (the kernel headers come from Debian's \
             linux-libc-dev):\n{}",
            String::from_utf8_lossy(&compiled.stderr)
        );
        let run = Command::new(&binary).output().unwrap();
        assert!(run.status.success(), "the ABI probe failed: {run:?}");
        String::from_utf8(run.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let (name, value) = line.split_once(' ').unwrap();
                (name.to_string(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn structs_and_requests_match_the_c_headers() {
        let c = c_abi();
        let ours: &[(&str, u64)] = &[
            ("sizeof_ptp_clock_time", size_of::<PtpClockTime>() as u64),
            ("sizeof_ptp_clock_caps", size_of::<PtpClockCaps>() as u64),
            ("sizeof_ptp_sys_offset", size_of::<PtpSysOffset>() as u64),
            (
                "sizeof_ptp_sys_offset_extended",
                size_of::<PtpSysOffsetExtended>() as u64,
            ),
            (
                "sizeof_ptp_sys_offset_precise",
                size_of::<PtpSysOffsetPrecise>() as u64,
            ),
            ("sizeof_ethtool_ts_info", size_of::<EthtoolTsInfo>() as u64),
            ("sizeof_ifreq", size_of::<IfreqData>() as u64),
            (
                "offsetof_ptp_clock_time_nsec",
                offset_of!(PtpClockTime, nsec) as u64,
            ),
            (
                "offsetof_ptp_clock_caps_cross_timestamping",
                offset_of!(PtpClockCaps, cross_timestamping) as u64,
            ),
            // Older headers' rsv[0] is newer kernels' max_phase_adj.
            (
                "offsetof_ptp_clock_caps_rsv",
                offset_of!(PtpClockCaps, max_phase_adj) as u64,
            ),
            (
                "offsetof_ptp_sys_offset_ts",
                offset_of!(PtpSysOffset, ts) as u64,
            ),
            // Older headers' rsv[0] is newer kernels' clockid.
            (
                "offsetof_ptp_sys_offset_extended_rsv",
                offset_of!(PtpSysOffsetExtended, clockid) as u64,
            ),
            (
                "offsetof_ptp_sys_offset_extended_ts",
                offset_of!(PtpSysOffsetExtended, ts) as u64,
            ),
            (
                "offsetof_ptp_sys_offset_precise_sys_realtime",
                offset_of!(PtpSysOffsetPrecise, sys_realtime) as u64,
            ),
            (
                "offsetof_ptp_sys_offset_precise_sys_monoraw",
                offset_of!(PtpSysOffsetPrecise, sys_monoraw) as u64,
            ),
            (
                "offsetof_ethtool_ts_info_phc_index",
                offset_of!(EthtoolTsInfo, phc_index) as u64,
            ),
            (
                "offsetof_ethtool_ts_info_rx_filters",
                offset_of!(EthtoolTsInfo, rx_filters) as u64,
            ),
            (
                "offsetof_ifreq_ifr_data",
                offset_of!(IfreqData, data) as u64,
            ),
            ("PTP_MAX_SAMPLES", PTP_MAX_SAMPLES as u64),
            ("PTP_CLOCK_GETCAPS", PTP_CLOCK_GETCAPS.into()),
            ("PTP_SYS_OFFSET", PTP_SYS_OFFSET.into()),
            ("PTP_SYS_OFFSET_PRECISE", PTP_SYS_OFFSET_PRECISE.into()),
            ("PTP_SYS_OFFSET_EXTENDED", PTP_SYS_OFFSET_EXTENDED.into()),
            ("SIOCETHTOOL", SIOCETHTOOL.into()),
            ("ETHTOOL_GET_TS_INFO", ETHTOOL_GET_TS_INFO.into()),
            ("IFNAMSIZ", IFNAMSIZ as u64),
            ("HWTSTAMP_TX_ON", HWTSTAMP_TX_ON.into()),
            ("HWTSTAMP_TX_ONESTEP_P2P", TX_TYPE_NAMES.len() as u64 - 1),
            ("HWTSTAMP_FILTER_ALL", HWTSTAMP_FILTER_ALL.into()),
            (
                "HWTSTAMP_FILTER_PTP_V2_EVENT",
                RX_FILTER_NAMES
                    .iter()
                    .position(|n| *n == "ptpv2-event")
                    .unwrap() as u64,
            ),
            ("HWTSTAMP_FILTER_NTP_ALL", RX_FILTER_NAMES.len() as u64 - 1),
            (
                "SOF_TIMESTAMPING_SYS_HARDWARE",
                1 << TIMESTAMPING_NAMES
                    .iter()
                    .position(|n| *n == "hardware-legacy-clock")
                    .unwrap(),
            ),
            (
                "SOF_TIMESTAMPING_OPT_TX_SWHW",
                1 << TIMESTAMPING_NAMES
                    .iter()
                    .position(|n| *n == "option-tx-swhw")
                    .unwrap(),
            ),
            (
                "SOF_TIMESTAMPING_BIND_PHC",
                1 << TIMESTAMPING_NAMES
                    .iter()
                    .position(|n| *n == "bind-phc")
                    .unwrap(),
            ),
        ];
        assert_eq!(c.len(), ours.len(), "every C value is compared: {c:?}");
        for (name, value) in ours {
            assert_eq!(c.get(*name), Some(value), "{name}");
        }
        // The x86_64 numbers, written out, so a wrong probe cannot agree with us.
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(PTP_CLOCK_GETCAPS, 0x8050_3d01);
            assert_eq!(PTP_SYS_OFFSET, 0x4340_3d05);
            assert_eq!(PTP_SYS_OFFSET_PRECISE, 0xc040_3d08);
            assert_eq!(PTP_SYS_OFFSET_EXTENDED, 0xc4c0_3d09);
        }
    }

    #[test]
    fn dynamic_clock_ids_follow_fd_to_clockid() {
        // (~fd << 3) | 3, and CLOCKID_TO_FD(id) = ~(id >> 3) undoes it.
        assert_eq!(fd_to_clock_id(0), -5);
        assert_eq!(fd_to_clock_id(3), -29);
        assert_eq!(fd_to_clock_id(1000), -8005);
        for fd in [0, 3, 17, 1 << 20] {
            assert_eq!(!(fd_to_clock_id(fd) >> 3), fd);
            assert_eq!(fd_to_clock_id(fd) & 7, CLOCKFD);
        }
    }

    // ---- Opening.

    #[test]
    fn a_missing_phc_names_the_device_and_what_to_check() {
        if Path::new("/dev/ptp0").exists() {
            // A host with a PHC: the same call must work and read it.
            let phc = Phc::open("/dev/ptp0").unwrap();
            assert_eq!(phc.index(), 0);
            let a = phc.now().unwrap();
            let b = phc.now().unwrap();
            assert_eq!(a.dev, 0);
            assert!(b.checked_sub(&a).unwrap() >= Nanos(0));
            let samples = phc.sys_offset(5).unwrap();
            assert_eq!(samples.len(), 5);
            assert!(tightest_offset(&samples).unwrap().bracket > Nanos(0));
            return;
        }
        let err = Phc::open("/dev/ptp0").unwrap_err();
        assert!(matches!(&err, Error::NoDevice { path, present }
            if path == Path::new("/dev/ptp0") && present.is_empty()));
        assert_eq!(
            err.to_string(),
            "no PTP hardware clock at /dev/ptp0 (this host has no /dev/ptpN): does the NIC \
             have one? `ethtool -T IFACE` shows its PTP Hardware Clock index; is the driver \
             loaded?"
        );
        let by_index = Phc::open_index(7).unwrap_err();
        assert!(by_index
            .to_string()
            .starts_with("no PTP hardware clock at /dev/ptp7 "));
    }

    #[test]
    fn other_hosts_phcs_are_listed_in_the_error() {
        let err = Error::NoDevice {
            path: PathBuf::from("/dev/ptp2"),
            present: vec![PathBuf::from("/dev/ptp0"), PathBuf::from("/dev/ptp1")],
        };
        assert!(err.to_string().starts_with(
            "no PTP hardware clock at /dev/ptp2 (this host has /dev/ptp0, /dev/ptp1): "
        ));
    }

    #[test]
    fn a_regular_file_is_not_a_ptp_clock() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = Phc::open(file.path()).unwrap_err();
        let Error::NotAPtpClock { path, source } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(path, file.path());
        assert_eq!(source.raw_os_error(), Some(libc::ENOTTY));
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not a PTP hardware clock: PTP_CLOCK_GETCAPS failed ({}); PHCs are the \
                 character devices /dev/ptpN (see /sys/class/ptp)",
                file.path().display(),
                io::Error::from_raw_os_error(libc::ENOTTY)
            )
        );
        // A character device of another kind answers the same way.
        let null = Phc::open("/dev/null").unwrap_err();
        assert!(matches!(null, Error::NotAPtpClock { .. }), "{null:?}");
    }

    #[test]
    fn permission_errors_say_how_to_get_access() {
        let err = open_error(
            PathBuf::from("/dev/ptp0"),
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(matches!(err, Error::Permission { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "permission denied opening /dev/ptp0: reading a PHC needs read access to it \
                 (udev often leaves it root's); run as root, or grant the lab's group read \
                 access with a udev rule such as SUBSYSTEM==\"ptp\", GROUP=\"ptp\", \
                 MODE=\"0640\": {}",
                io::Error::from_raw_os_error(libc::EACCES)
            )
        );
        let other = open_error(
            PathBuf::from("/dev/ptp0"),
            io::Error::from_raw_os_error(libc::EBUSY),
        );
        assert!(matches!(other, Error::Open { .. }), "{other:?}");
    }

    #[test]
    fn device_index_follows_links_to_ptp_n() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ptp3");
        std::fs::write(&target, b"").unwrap();
        let link = dir.path().join("ptp_hyperv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(device_index(&target).unwrap(), 3);
        assert_eq!(device_index(&link).unwrap(), 3);

        let odd = dir.path().join("clock");
        std::fs::write(&odd, b"").unwrap();
        let err = device_index(&odd).unwrap_err();
        assert!(matches!(err, Error::DeviceIndex { .. }), "{err:?}");
        assert!(err
            .to_string()
            .ends_with("which is not named ptpN: cannot tell which PHC it is"));

        assert_eq!(ptp_index("ptp0"), Some(0));
        assert_eq!(ptp_index("ptp65535"), Some(65535));
        assert_eq!(ptp_index("ptp65536"), None);
        assert_eq!(ptp_index("ptp"), None);
        assert_eq!(ptp_index("ptp+1"), None);
        assert_eq!(ptp_index("ptp_kvm"), None);
    }

    #[test]
    fn sample_counts_are_bounded_by_the_kernel() {
        assert_eq!(sample_count(1).unwrap(), 1);
        assert_eq!(sample_count(25).unwrap(), 25);
        for bad in [0, 26] {
            let err = sample_count(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{bad} offset samples asked for; one read takes 1 to 25")
            );
        }
    }

    // ---- Decoding what the ioctls return.

    fn time(sec: i64, nsec: u32) -> PtpClockTime {
        PtpClockTime {
            sec,
            nsec,
            reserved: 0,
        }
    }

    #[test]
    fn caps_decode_every_field() {
        let raw = PtpClockCaps {
            max_adj: 62_499_999,
            n_alarm: 0,
            n_ext_ts: 2,
            n_per_out: 2,
            pps: 1,
            n_pins: 4,
            cross_timestamping: 1,
            adjust_phase: 0,
            max_phase_adj: 1_000_000,
            rsv: [0; 11],
        };
        assert_eq!(
            Caps::from_raw(&raw),
            Caps {
                max_adj_ppb: 62_499_999,
                n_alarm: 0,
                n_ext_ts: 2,
                n_per_out: 2,
                pps: true,
                n_pins: 4,
                cross_timestamping: true,
                adjust_phase: false,
                max_phase_adj_ns: 1_000_000,
            }
        );
    }

    #[test]
    fn sys_offset_interleaves_shared_system_reads() {
        let mut raw = PtpSysOffset {
            n_samples: 2,
            rsv: [0; 3],
            ts: [PtpClockTime::default(); 2 * PTP_MAX_SAMPLES + 1],
        };
        raw.ts[0] = time(1_700_000_000, 100);
        raw.ts[1] = time(1_700_000_037, 900);
        raw.ts[2] = time(1_700_000_000, 1_600);
        raw.ts[3] = time(1_700_000_037, 2_300);
        raw.ts[4] = time(1_700_000_000, 3_000);
        let samples = decode_sys_offset(4, &raw).unwrap();
        let rt = |ns: u64| Timestamp::<KernelRealtime>::from_ns(1_700_000_000_000_000_000 + ns);
        assert_eq!(
            &samples[..],
            &[
                OffsetSample {
                    realtime_before: rt(100),
                    phc: PhcTimestamp::new(4, 1_700_000_037_000_000_900),
                    realtime_after: rt(1_600),
                },
                OffsetSample {
                    realtime_before: rt(1_600),
                    phc: PhcTimestamp::new(4, 1_700_000_037_000_002_300),
                    realtime_after: rt(3_000),
                },
            ]
        );
        assert_eq!(samples[0].bracket(), Nanos(1_500));
        assert_eq!(samples[0].realtime_mid(), rt(850));
        assert_eq!(samples[0].phc_minus_realtime(), Nanos(37_000_000_050));

        raw.ts[3] = time(-1, 0);
        assert_eq!(decode_sys_offset(4, &raw), Err(time(-1, 0)));
        raw.ts[3] = time(5, 1_000_000_000);
        assert_eq!(decode_sys_offset(4, &raw), Err(time(5, 1_000_000_000)));
    }

    #[test]
    fn extended_and_precise_decode_their_triplets() {
        let mut raw = PtpSysOffsetExtended {
            n_samples: 1,
            clockid: libc::CLOCK_REALTIME,
            rsv: [0; 2],
            ts: [[PtpClockTime::default(); 3]; PTP_MAX_SAMPLES],
        };
        raw.ts[0] = [time(10, 5), time(47, 400), time(10, 75)];
        // A second, unrequested sample must not be read.
        raw.ts[1] = [time(11, 0), time(48, 0), time(11, 1)];
        let samples = decode_sys_offset_extended(2, &raw).unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].realtime_before.ns(), 10_000_000_005);
        assert_eq!(samples[0].phc, PhcTimestamp::new(2, 47_000_000_400));
        assert_eq!(samples[0].realtime_after.ns(), 10_000_000_075);
        assert_eq!(samples[0].phc_minus_realtime(), Nanos(37_000_000_360));

        let precise = PtpSysOffsetPrecise {
            device: time(1_700_000_037, 250),
            sys_realtime: time(1_700_000_000, 125),
            sys_monoraw: time(86_400, 7),
            rsv: [0; 4],
        };
        let sample = decode_precise(1, &precise).unwrap();
        assert_eq!(sample.phc, PhcTimestamp::new(1, 1_700_000_037_000_000_250));
        assert_eq!(sample.realtime.ns(), 1_700_000_000_000_000_125);
        assert_eq!(sample.monotonic_raw_ns, 86_400_000_000_007);
        assert_eq!(sample.phc_minus_realtime(), Nanos(37_000_000_125));
    }

    // ---- Offset estimates and fits.

    fn samples(dev: u16, rows: &[(u64, u64, u64)]) -> Vec<OffsetSample> {
        rows.iter()
            .map(|&(before, phc, after)| OffsetSample {
                realtime_before: Timestamp::from_ns(before),
                phc: PhcTimestamp::new(dev, phc),
                realtime_after: Timestamp::from_ns(after),
            })
            .collect()
    }

    /// One `PTP_SYS_OFFSET_EXTENDED` read of a PHC in TAI, 37 s ahead of a UTC system
    /// clock: sample 4 was interrupted (a 9 µs bracket), samples 1 and 3 tie for the
    /// narrowest bracket (431 ns).
    const ONE_READ: &[(u64, u64, u64)] = &[
        (
            1_700_000_000_000_001_000,
            1_700_000_037_000_001_517,
            1_700_000_000_000_002_020,
        ),
        (
            1_700_000_000_000_003_100,
            1_700_000_037_000_003_420,
            1_700_000_000_000_003_531,
        ),
        (
            1_700_000_000_000_004_900,
            1_700_000_037_000_005_350,
            1_700_000_000_000_005_600,
        ),
        (
            1_700_000_000_000_006_000,
            1_700_000_037_000_006_300,
            1_700_000_000_000_006_431,
        ),
        (
            1_700_000_000_000_007_000,
            1_700_000_037_000_012_000,
            1_700_000_000_000_016_000,
        ),
        (
            1_700_000_000_000_017_000,
            1_700_000_037_000_017_466,
            1_700_000_000_000_017_611,
        ),
    ];

    #[test]
    fn the_tightest_bracket_gives_the_offset() {
        let read = samples(0, ONE_READ);
        let brackets: Vec<i64> = read.iter().map(|s| s.bracket().0).collect();
        assert_eq!(brackets, [1_020, 431, 700, 431, 9_000, 611]);
        let offsets: Vec<i64> = read.iter().map(|s| s.phc_minus_realtime().0).collect();
        assert_eq!(
            offsets,
            [
                37_000_000_007,
                37_000_000_105,
                37_000_000_100,
                37_000_000_085,
                37_000_000_500,
                37_000_000_161
            ]
        );
        let best = tightest_offset(&read).unwrap();
        assert_eq!(
            best,
            OffsetEstimate {
                index: 1,
                phc_minus_realtime: Nanos(37_000_000_105),
                bracket: Nanos(431),
                realtime: Timestamp::from_ns(1_700_000_000_000_003_315),
                phc: PhcTimestamp::new(0, 1_700_000_037_000_003_420),
            }
        );
    }

    /// The tightest sample of each of 10 reads, a second apart: the system clock runs
    /// 2.5 ppm slow against the PHC, with brackets of 100 to 480 ns around the true
    /// instant, asymmetric. The expected values are the exact least-squares solution
    /// over the bracket midpoints (computed with rational arithmetic).
    const TEN_READS: &[(u64, u64, u64)] = &[
        (
            1_699_999_999_999_999_630,
            1_700_000_037_000_000_000,
            1_699_999_999_999_999_930,
        ),
        (
            1_700_000_000_999_997_168,
            1_700_000_038_000_000_013,
            1_700_000_000_999_997_368,
        ),
        (
            1_700_000_001_999_994_457,
            1_700_000_039_000_000_007,
            1_700_000_001_999_994_797,
        ),
        (
            1_700_000_002_999_992_211,
            1_700_000_040_000_000_021,
            1_700_000_002_999_992_331,
        ),
        (
            1_700_000_003_999_989_603,
            1_700_000_041_000_000_003,
            1_700_000_003_999_989_963,
        ),
        (
            1_700_000_004_999_987_187,
            1_700_000_042_000_000_017,
            1_700_000_004_999_987_667,
        ),
        (
            1_700_000_005_999_984_689,
            1_700_000_043_000_000_009,
            1_700_000_005_999_984_849,
        ),
        (
            1_700_000_006_999_982_061,
            1_700_000_044_000_000_011,
            1_700_000_006_999_982_361,
        ),
        (
            1_700_000_007_999_979_645,
            1_700_000_045_000_000_005,
            1_700_000_007_999_979_885,
        ),
        (
            1_700_000_008_999_977_224,
            1_700_000_046_000_000_019,
            1_700_000_008_999_977_344,
        ),
    ];

    fn assert_close(got: f64, want: f64, tolerance: f64, what: &str) {
        assert!(
            (got - want).abs() <= tolerance,
            "{what}: got {got}, want {want} ± {tolerance}"
        );
    }

    #[test]
    fn the_fit_gives_the_known_rate_and_offset() {
        let fitted = fit_offset(&samples(3, TEN_READS)).unwrap();
        assert_eq!(fitted.dev, 3);
        assert_eq!(fitted.fit.samples, 10);
        assert_eq!(fitted.fit.tsc_anchor, 1_700_000_037_000_000_000);
        assert_eq!(fitted.fit.ref_anchor_ns, 1_699_999_999_999_999_630);
        assert_close(
            fitted.fit.ns_per_tick,
            0.999_997_502_787_880_5,
            1e-13,
            "slope",
        );
        // f64 sums over 9 s of nanoseconds: the intercept and residuals are good to
        // about 10^-5 ns, far below the nanosecond that matters.
        assert_close(
            fitted.fit.anchor_correction_ns,
            115.454_563_933_365,
            1e-4,
            "anchor",
        );
        assert_close(fitted.phc_rate_ppb(), 2_497.218_355_575_64, 1e-4, "rate");
        assert_close(fitted.fit.residual_rms_ns, 67.800_289_148_732, 1e-4, "rms");
        assert_close(fitted.fit.residual_max_ns, 150.606_075_977_727, 1e-4, "max");
        // 4.5 s after the first read: realtime 4 499 988 758.000026 ns after 1.7e18 −
        // 250 ns, so the PHC leads by 37 s + 250 ns + 11 242 ns.
        let phc = Timestamp::<PhcDomain>::from_ns(1_700_000_041_500_000_000);
        assert_eq!(fitted.realtime_ns(phc), 1_700_000_004_499_988_508);
        assert_eq!(fitted.phc_minus_realtime(phc), Nanos(37_000_011_492));
    }

    #[test]
    fn fits_and_estimates_refuse_bad_sample_sets() {
        assert_eq!(
            tightest_offset(&[]).unwrap_err().to_string(),
            "0 offset samples; need at least 1"
        );
        let one = samples(0, &TEN_READS[..1]);
        assert_eq!(
            fit_offset(&one).unwrap_err().to_string(),
            "1 offset samples; need at least 2"
        );

        let mut mixed = samples(0, TEN_READS);
        mixed[6].phc.dev = 1;
        assert_eq!(
            fit_offset(&mixed).unwrap_err().to_string(),
            "offset sample 6 is from /dev/ptp1, sample 0 from /dev/ptp0: fit one PHC at a time"
        );

        let mut stepped = samples(0, ONE_READ);
        stepped[2].realtime_after = Timestamp::from_ns(1_700_000_000_000_004_000);
        let err = tightest_offset(&stepped).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvertedBracket {
                    index: 2,
                    before_ns: 1_700_000_000_000_004_900,
                    after_ns: 1_700_000_000_000_004_000
                }
            ),
            "{err:?}"
        );
        assert!(matches!(
            fit_offset(&stepped),
            Err(Error::InvertedBracket { index: 2, .. })
        ));

        let mut frozen = samples(0, &TEN_READS[..3]);
        for s in &mut frozen {
            s.phc = PhcTimestamp::new(0, 42);
        }
        assert_eq!(
            fit_offset(&frozen).unwrap_err().to_string(),
            "all 3 offset samples read the PHC at 42 ns: no slope to fit"
        );
    }

    // ---- Interfaces.

    #[test]
    fn flags_decode_to_ethtool_names() {
        let caps = Flags::timestamping(0x5f);
        assert_eq!(
            caps.to_string(),
            "hardware-transmit, software-transmit, hardware-receive, software-receive, \
             software-system-clock, hardware-raw-clock"
        );
        assert_eq!(format!("{caps:?}"), format!("0x5f ({caps})"));
        assert_eq!(
            Flags::timestamping(1 << 18 | 1 << 20).to_string(),
            "tx-completion, bit-20"
        );
        assert_eq!(Flags::timestamping(0).to_string(), "none");
        assert_eq!(
            Flags::tx_types(0b1111).to_string(),
            "off, on, onestep-sync, onestep-p2p"
        );
        assert_eq!(
            Flags::rx_filters(1 | 1 << 12 | 1 << 15).to_string(),
            "none, ptpv2-event, ntp-all"
        );
        assert!(caps.contains(SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_TX_HARDWARE));
        assert!(!caps.contains(1 << 5));
        assert_eq!(
            caps.iter().take(2).collect::<Vec<_>>(),
            [
                FlagName::Known("hardware-transmit"),
                FlagName::Known("software-transmit")
            ]
        );
    }

    /// `ethtool -T IFACE`'s capability names and PHC index, when ethtool is installed.
    fn ethtool_t(iface: &str) -> Option<(Vec<String>, Option<u16>)> {
        let output = Command::new("ethtool").arg("-T").arg(iface).output().ok()?;
        assert!(output.status.success(), "ethtool -T {iface}: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        let mut names = Vec::new();
        let mut phc = None;
        let mut in_caps = false;
        for line in text.lines() {
            if line.starts_with("Capabilities:") {
                in_caps = true;
            } else if let Some(value) = line.strip_prefix("PTP Hardware Clock:") {
                in_caps = false;
                phc = value.trim().parse().ok();
            } else if in_caps && line.starts_with(char::is_whitespace) {
                names.push(line.split_whitespace().next().unwrap().to_string());
            } else {
                in_caps = false;
            }
        }
        Some((names, phc))
    }

    #[test]
    fn loopback_stamps_in_software_and_has_no_phc() {
        let lo = ts_info("lo").unwrap();
        // drivers/net/loopback.c uses ethtool_op_get_ts_info: software TX and RX
        // stamps, reported in system time, no PHC, no hardware modes.
        assert_eq!(
            lo,
            TsInfo::new(
                "lo",
                None,
                SOF_TIMESTAMPING_TX_SOFTWARE
                    | SOF_TIMESTAMPING_RX_SOFTWARE
                    | SOF_TIMESTAMPING_SOFTWARE,
                0,
                0
            )
        );
        assert_eq!(
            lo.so_timestamping.to_string(),
            "software-transmit, software-receive, software-system-clock"
        );
        assert_eq!(lo.phc_path(), None);
        if let Some((names, phc)) = ethtool_t("lo") {
            let ours: Vec<String> = lo.so_timestamping.iter().map(|n| n.to_string()).collect();
            assert_eq!(ours, names, "ethtool -T lo");
            assert_eq!(phc, None);
        }

        let err = lo.require_phc().unwrap_err();
        assert_eq!(
            err.to_string(),
            "lo has no PTP hardware clock (PHC index -1); it offers: software-transmit, \
             software-receive, software-system-clock. Use software timestamps on it, or a \
             NIC with hardware timestamping"
        );
        assert!(matches!(
            phc_for_interface("lo"),
            Err(Error::NoPhcForInterface { .. })
        ));

        let choice = best_source(&lo);
        assert_eq!(choice.source, TimestampSource::Software);
        assert_eq!(
            choice.to_string(),
            "lo: software (CLOCK_REALTIME): offers software-transmit, software-receive, \
             software-system-clock; no hardware stamps: no PTP hardware clock (PHC index -1)"
        );
    }

    #[test]
    fn an_unknown_interface_is_named_with_the_ones_that_exist() {
        let err = ts_info("ticklab-none0").unwrap_err();
        let Error::NoInterface { iface, present } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(iface, "ticklab-none0");
        assert!(present.iter().any(|name| name == "lo"), "{present:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "no network interface named ticklab-none0 in this network namespace (it \
                 has: {})",
                present.join(", ")
            )
        );
        for (bad, reason) in [
            ("", "it is empty"),
            ("a-very-long-name", "interface names are at most 15 bytes"),
            ("lo\0", "it contains a NUL byte"),
        ] {
            let err = ts_info(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("interface name {bad:?} is not valid: {reason}")
            );
        }
    }

    #[test]
    fn interfaces_lists_the_namespace_with_ts_info() {
        let listed = interfaces().unwrap();
        let mut ours: Vec<&str> = listed.iter().map(|info| info.iface.as_str()).collect();
        ours.sort_unstable();
        let mut sysfs: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        sysfs.sort_unstable();
        assert_eq!(ours, sysfs);
        for info in &listed {
            assert_eq!(info, &ts_info(&info.iface).unwrap());
            if let Some((names, phc)) = ethtool_t(&info.iface) {
                let decoded: Vec<String> =
                    info.so_timestamping.iter().map(|n| n.to_string()).collect();
                assert_eq!(decoded, names, "ethtool -T {}", info.iface);
                assert_eq!(info.phc_index, phc, "ethtool -T {}", info.iface);
            }
        }
    }

    #[test]
    fn best_source_prefers_hardware_that_stamps_everything() {
        // A ConnectX-style NIC: every capability, PHC 2, tx off/on, rx none/all.
        let full = TsInfo::new("ens1f0", Some(2), 0x5f, 0b11, 0b11);
        let choice = best_source(&full);
        assert_eq!(choice.source, TimestampSource::Hardware { phc_index: 2 });
        assert_eq!(choice.source.domain(), Some(ClockDomain::NicHardware));
        assert_eq!(choice.source.socket_flags(), Some(HARDWARE_FLAGS));
        assert_eq!(
            choice.to_string(),
            "ens1f0: hardware (/dev/ptp2): offers hardware-transmit, software-transmit, \
             hardware-receive, software-receive, software-system-clock, hardware-raw-clock; \
             transmit modes: off, on; receive filters: none, all"
        );

        // An 82599-style NIC: hardware stamps, but only PTP frames on receive.
        let ptp_only = TsInfo::new("eth2", Some(0), 0x5f, 0b11, 1 | 1 << 4 | 1 << 5 | 1 << 12);
        let choice = best_source(&ptp_only);
        assert_eq!(choice.source, TimestampSource::Software);
        assert_eq!(choice.source.socket_flags(), Some(SOFTWARE_FLAGS));
        assert_eq!(
            choice.reason,
            "offers hardware-transmit, software-transmit, hardware-receive, software-receive, \
             software-system-clock, hardware-raw-clock; no hardware stamps: no receive filter \
             `all` (receive filters: none, ptpv1-l4-sync, ptpv1-l4-delay-req, ptpv2-event), \
             so market data and orders would go unstamped"
        );

        // Hardware receive stamps but no transmit ones.
        let rx_only = TsInfo::new("eth3", Some(1), 0x5e, 0b11, 0b11);
        assert_eq!(
            best_source(&rx_only).reason,
            "offers software-transmit, hardware-receive, software-receive, \
             software-system-clock, hardware-raw-clock; no hardware stamps: /dev/ptp1 \
             without hardware-transmit"
        );
        let no_tx_on = TsInfo::new("eth4", Some(1), 0x5f, 0b1, 0b11);
        assert!(best_source(&no_tx_on)
            .reason
            .ends_with("no hardware stamps: no transmit mode `on` (transmit modes: off)"));

        // An ifb device: the core stamps its receive side only.
        let ifb = TsInfo::new("ifb0", None, 0x18, 0, 0);
        let choice = best_source(&ifb);
        assert_eq!(choice.source, TimestampSource::None);
        assert_eq!(choice.source.domain(), None);
        assert_eq!(choice.source.socket_flags(), None);
        assert_eq!(
            choice.to_string(),
            "ifb0: none: offers software-receive, software-system-clock; no hardware stamps: \
             no PTP hardware clock (PHC index -1); no software stamps both ways: without \
             software-transmit"
        );
    }
}
