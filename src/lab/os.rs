//! The few operating-system calls the run's threads make for themselves: pinning to
//! a core, a fine timer slack for the send thread's sleeps, and the two clocks the
//! lab reads (`CLOCK_MONOTONIC` for pacing, `CLOCK_REALTIME`, the kernel software
//! timestamps' domain, for everything that is compared with a timestamp).
//!
//! Both clocks are read through the vDSO (no system call). Nothing here allocates.

use std::io;

pub use crate::time::{monotonic_ns, realtime_ns};

/// Without a core of its own, a send loop sleeps until this long before its next
/// due time and spins the rest: finer than the kernel's wake-up jitter, short enough
/// that the other cores of a small machine stay with the DUT and the kernel.
pub const SPIN_WINDOW_NS: u64 = 5_000;

/// One step of waiting for `at_ns` (`CLOCK_MONOTONIC`), the send loops' one waiting
/// policy (the lab's and `ticklab replay`'s): with `spin`, a spin-loop hint; else a
/// sleep until [`SPIN_WINDOW_NS`] before `at_ns`, at most `max_sleep_ns` (so the
/// caller sees stop requests and reports progress), then spins. Returns at once when
/// `at_ns` has passed. The caller loops until it is due.
pub fn wait_step(at_ns: u64, spin: bool, max_sleep_ns: u64) {
    let now = monotonic_ns();
    if at_ns <= now {
        return;
    }
    let remaining = at_ns - now;
    if !spin && remaining > SPIN_WINDOW_NS {
        let sleep = (remaining - SPIN_WINDOW_NS).min(max_sleep_ns);
        std::thread::sleep(std::time::Duration::from_nanos(sleep));
    } else {
        std::hint::spin_loop();
    }
}

/// The offset that turns a `CLOCK_MONOTONIC` reading into `CLOCK_REALTIME`
/// (`realtime = monotonic + offset`), from the closest of a few paired readings.
/// The pacer's schedule is converted with it once, at the start of the run; a clock
/// that is slewed later moves the conversion by the slew (ppm), a step moves it by
/// the step: keep the host's clock slewed, not stepped, while measuring.
pub fn realtime_minus_monotonic_ns() -> i64 {
    let mut best = (u64::MAX, 0i64);
    for _ in 0..8 {
        let before = monotonic_ns();
        let real = realtime_ns();
        let after = monotonic_ns();
        let width = after - before;
        if width < best.0 {
            let mid = before + width / 2;
            best = (width, real as i64 - mid as i64);
        }
    }
    best.1
}

/// Pins the calling thread to `core`. An error names the core and what the kernel
/// said (a core outside the thread's allowed set gives `EINVAL`).
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "core {core} is above the largest CPU number ({})",
                libc::CPU_SETSIZE - 1
            ),
        ));
    }
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is below CPU_SETSIZE (checked above), so CPU_SET stays in bounds.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot pin this thread to core {core}: {e}"),
        ));
    }
    Ok(())
}

/// The cores the calling thread may run on.
pub fn allowed_cores() -> Vec<usize> {
    // SAFETY: as in `pin_current_thread`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: every index is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Sets the calling thread's timer slack: how late the kernel may wake a sleep to
/// batch wake-ups (50 µs by default, far too coarse for pacing).
pub fn set_timer_slack_ns(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's timer slack in ns.
pub fn timer_slack_ns() -> io::Result<u64> {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer and returns the slack.
    let rc = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_offset_converts_monotonic_readings() {
        let offset = realtime_minus_monotonic_ns();
        let mono = monotonic_ns();
        let real = realtime_ns();
        let converted = mono as i64 + offset;
        // The two clocks are decades apart; a wrong sign or unit would be off by
        // years. One second is far beyond any preemption between the reads.
        assert!(
            (real as i64 - converted).abs() < 1_000_000_000,
            "{real} vs {converted}"
        );
        assert!(monotonic_ns() >= mono);
    }

    #[test]
    fn pinning_to_an_allowed_core_sticks_and_a_bad_core_is_named() {
        let cores = allowed_cores();
        assert!(!cores.is_empty());
        let core = *cores.last().unwrap();
        std::thread::spawn(move || {
            pin_current_thread(core).unwrap();
            assert_eq!(allowed_cores(), vec![core]);
        })
        .join()
        .unwrap();
        let err = pin_current_thread(100_000).unwrap_err();
        assert!(err.to_string().contains("core 100000"), "{err}");
    }

    #[test]
    fn timer_slack_is_per_thread() {
        std::thread::spawn(|| {
            set_timer_slack_ns(1_000).unwrap();
            assert_eq!(timer_slack_ns().unwrap(), 1_000);
        })
        .join()
        .unwrap();
    }
}
