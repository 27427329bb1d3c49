//! The CPU's time-stamp counter: whether it is invariant (ticks at a constant rate
//! through frequency changes and C-states, so it can be calibrated once per run), which
//! clock source the kernel chose, and reading it.
//!
//! Detection reads CPUID and one sysfs file; it never writes anything and never
//! assumes a TSC exists: on architectures other than x86_64, [`tsc_support`] says
//! [`TscSupport::Absent`] and [`read_tsc`] is `None`.
//!
//! ```
//! use ticklab::time::tsc::{tsc_support, TscSupport};
//! match tsc_support() {
//!     TscSupport::Invariant => { /* calibrate once, trust it for the run */ }
//!     TscSupport::Variable => { /* the rate may change: calibrate against a kernel clock */ }
//!     TscSupport::Absent => { /* use clock_gettime */ }
//! }
//! ```

use std::path::{Path, PathBuf};

use super::Error;

/// The file naming the kernel's current clock source.
pub const CURRENT_CLOCKSOURCE: &str =
    "/sys/devices/system/clocksource/clocksource0/current_clocksource";
/// The file listing the clock sources the kernel could use.
pub const AVAILABLE_CLOCKSOURCE: &str =
    "/sys/devices/system/clocksource/clocksource0/available_clocksource";

/// What the CPU says about its TSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TscSupport {
    /// CPUID leaf 0x8000_0007 EDX bit 8: constant rate in every P-, C- and T-state.
    Invariant,
    /// A TSC without the invariant bit: its rate may follow the core's frequency.
    Variable,
    /// No TSC on this architecture.
    Absent,
}

impl TscSupport {
    pub fn name(self) -> &'static str {
        match self {
            TscSupport::Invariant => "invariant",
            TscSupport::Variable => "variable",
            TscSupport::Absent => "absent",
        }
    }
}

/// This host's TSC and kernel clock source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TscState {
    pub support: TscSupport,
    /// The kernel's current clock source (`tsc`, `hpet`, `kvm-clock`, ...). When it is
    /// not `tsc`, the kernel distrusted the TSC (or a hypervisor offers better), and
    /// kernel timestamps and TSC readings may drift apart.
    pub clocksource: String,
    /// The clock sources the kernel could switch to; empty when the file is missing.
    pub available: Vec<String>,
}

impl TscState {
    /// The TSC is invariant and the kernel itself keeps time with it.
    pub fn kernel_uses_invariant_tsc(&self) -> bool {
        self.support == TscSupport::Invariant && self.clocksource == "tsc"
    }
}

/// Reads CPUID and the kernel's clock source from sysfs.
pub fn detect() -> Result<TscState, Error> {
    detect_in(
        Path::new(CURRENT_CLOCKSOURCE),
        Path::new(AVAILABLE_CLOCKSOURCE),
    )
}

/// [`detect`] with the two sysfs files named, for tests. A missing `available` file
/// is tolerated (old kernels); a missing or empty `current` file is an error.
pub fn detect_in(current: &Path, available: &Path) -> Result<TscState, Error> {
    let text = std::fs::read_to_string(current).map_err(|source| Error::Read {
        path: current.to_path_buf(),
        source,
    })?;
    let clocksource = text.trim().to_owned();
    if clocksource.is_empty() {
        return Err(Error::EmptyClockSource {
            path: PathBuf::from(current),
        });
    }
    let available = match std::fs::read_to_string(available) {
        Ok(text) => text.split_whitespace().map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(Error::Read {
                path: available.to_path_buf(),
                source,
            })
        }
    };
    Ok(TscState {
        support: tsc_support(),
        clocksource,
        available,
    })
}

/// Whether the CPU has a TSC, and whether it is invariant.
#[cfg(target_arch = "x86_64")]
pub fn tsc_support() -> TscSupport {
    use std::arch::x86_64::__cpuid;
    const MAX_EXTENDED_LEAF: u32 = 0x8000_0000;
    const POWER_MANAGEMENT_LEAF: u32 = 0x8000_0007;
    const INVARIANT_TSC_BIT: u32 = 1 << 8;
    // Every x86_64 CPU has a TSC and CPUID; only the invariant bit needs asking.
    // SAFETY: CPUID exists on every x86_64 CPU, and leaf 0x8000_0000 is always valid;
    // leaf 0x8000_0007 is read only when it reports it is supported.
    #[allow(unused_unsafe)] // `__cpuid` became a safe fn after our rust-version.
    let max_extended = unsafe { __cpuid(MAX_EXTENDED_LEAF) }.eax;
    if max_extended < POWER_MANAGEMENT_LEAF {
        return TscSupport::Variable;
    }
    // SAFETY: as above; the leaf was reported supported.
    #[allow(unused_unsafe)]
    let edx = unsafe { __cpuid(POWER_MANAGEMENT_LEAF) }.edx;
    if edx & INVARIANT_TSC_BIT != 0 {
        TscSupport::Invariant
    } else {
        TscSupport::Variable
    }
}

/// Whether the CPU has a TSC, and whether it is invariant.
#[cfg(not(target_arch = "x86_64"))]
pub fn tsc_support() -> TscSupport {
    TscSupport::Absent
}

/// The TSC now (`rdtsc`, not serialising: it may be reordered with nearby loads, which
/// calibration absorbs by bracketing each read between two reference reads).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn read_tsc() -> Option<u64> {
    // SAFETY: RDTSC exists on every x86_64 CPU and is allowed in user mode unless the
    // kernel set CR4.TSD, which Linux does only for seccomp-strict processes (which
    // could not run this crate at all).
    #[allow(unused_unsafe)] // `_rdtsc` became a safe fn after our rust-version.
    let ticks = unsafe { std::arch::x86_64::_rdtsc() };
    Some(ticks)
}

/// The TSC now: there is none on this architecture.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn read_tsc() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_reads_the_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("current_clocksource");
        let available = dir.path().join("available_clocksource");
        std::fs::write(&current, "tsc\n").unwrap();
        std::fs::write(&available, "tsc hpet acpi_pm \n").unwrap();
        let state = detect_in(&current, &available).unwrap();
        assert_eq!(state.clocksource, "tsc");
        assert_eq!(state.available, ["tsc", "hpet", "acpi_pm"]);
        assert_eq!(state.support, tsc_support());
        assert_eq!(
            state.kernel_uses_invariant_tsc(),
            tsc_support() == TscSupport::Invariant
        );

        std::fs::remove_file(&available).unwrap();
        assert!(detect_in(&current, &available)
            .unwrap()
            .available
            .is_empty());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = detect_in(&missing, &missing).unwrap_err();
        assert!(matches!(err, Error::Read { ref path, .. } if path == &missing));
        assert!(err.to_string().contains(&*missing.to_string_lossy()));

        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let err = detect_in(&empty, &missing).unwrap_err();
        assert!(matches!(err, Error::EmptyClockSource { ref path } if path == &empty));
    }

    #[test]
    fn live_detection_is_consistent() {
        // This host's answer is whatever it is; it must agree with the architecture.
        let support = tsc_support();
        if cfg!(target_arch = "x86_64") {
            assert_ne!(support, TscSupport::Absent);
            // A sleep lasts at least 1 ms, and any TSC ticks at 100 MHz or more.
            let before = read_tsc().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1));
            let after = read_tsc().unwrap();
            let advanced = after.wrapping_sub(before);
            assert!(
                (100_000..1 << 62).contains(&advanced),
                "{before} then {after}"
            );
        } else {
            assert_eq!(support, TscSupport::Absent);
            assert_eq!(read_tsc(), None);
        }
        if Path::new(CURRENT_CLOCKSOURCE).exists() {
            assert!(!detect().unwrap().clocksource.is_empty());
        }
    }
}
