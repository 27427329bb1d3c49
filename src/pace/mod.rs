//! Pacing for the lab's replay: WHEN each tick is due, as a pure function of the
//! run's start and the capture (or the tick's index).
//!
//! The schedule is anchored: tick *i* is due at `start + f(i)`, where `f` depends only
//! on the capture timestamps seen so far (or on *i*), never on when earlier ticks
//! actually went out. A sender that wakes up late sends late, but the next tick is
//! still due at its own time, so lateness never accumulates. (tcpreplay sleeps for
//! each gap after the previous packet's real departure and drifts by the sum of every
//! wake-up error.) The due time of every tick is returned, so the lab can measure
//! latency from the schedule rather than from the late departure, which keeps its
//! percentiles honest under coordinated omission.
//!
//! This module is sans-IO, like quinn-proto's `handle_timeout(now)`: it never reads
//! a clock, never sleeps, never does I/O, and allocates nothing. Time comes in as
//! nanoseconds on the caller's monotonic clock, so tests drive it with a fake clock
//! and get exact answers. The send loop owns the clock and the waiting.
//!
//! Modes ([`Mode`]):
//! - `Original`: the capture's own gaps;
//! - `Scaled { factor }`: every gap divided by `factor` (2.0 replays twice as fast).
//!   The whole timeline is compressed, so bursts stay bursts (packets captured
//!   together are due together), as MiFID II RTS 6 stress tests at 2x require;
//! - `FixedRate { per_second }`: evenly spaced, capture times ignored;
//! - `TopSpeed`: everything due at the start;
//! - `Bursts { size, interval_ns }`: `size` ticks back to back, each group
//!   `interval_ns` after the start of the previous one.
//!
//! Rules that the modes share are written on [`Pacer::schedule`] (capture timestamps
//! that go back) and [`Pacer::begin_loop`] (replaying a capture more than once).
//!
//! ```
//! use ticklab::pace::{Lateness, Mode, Pacer, Poll};
//! // Capture times (ns since the epoch) of four packets; two captured together.
//! let captured = [1_000_000_i64, 1_000_010, 1_000_010, 1_000_050];
//! let mut pacer = Pacer::new(Mode::Scaled { factor: 2.0 }).unwrap();
//! let mut now = 5_000; // the caller's monotonic clock; here a fake one
//! pacer.start(now);
//! let mut lateness = Lateness::new();
//! let mut offsets = Vec::new();
//! for &ts in &captured {
//!     let due = pacer.schedule(ts);
//!     loop {
//!         match due.poll(now) {
//!             Poll::WaitUntil { at_ns } => now = at_ns, // a real loop spins or sleeps
//!             Poll::SendNow { late_ns } => {
//!                 lateness.record(late_ns);
//!                 break;
//!             }
//!         }
//!     }
//!     offsets.push(due.offset_ns); // send here; record due.at_ns beside the departure
//!     now += 3; // sending takes 3 ns
//! }
//! assert_eq!(offsets, [0, 5, 5, 25]); // gaps halved, the pair still a pair
//! assert_eq!(lateness.max_ns(), 3); // the second of the pair left 3 ns late
//! ```

mod lateness;

pub use lateness::{Lateness, LatenessSummary};

use serde::{Deserialize, Serialize};

const NS_PER_SECOND: u64 = 1_000_000_000;
/// 2^64 as an `f64`: integral rates below it fit a `u64`.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// How ticks are spaced. Deserialises from `{"mode": "scaled", "factor": 2.0}` and
/// the like, so a `[pace]` table's keys are `pace.mode`, `pace.factor`, ...
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// The capture's own timing.
    Original,
    /// The capture's timing with every gap divided by `factor` (> 0, finite).
    Scaled { factor: f64 },
    /// `per_second` ticks per second (> 0, finite), evenly spaced.
    FixedRate { per_second: f64 },
    /// Every tick due at the start.
    TopSpeed,
    /// Groups of `size` (>= 1) ticks due together, `interval_ns` (>= 1) apart.
    Bursts { size: u32, interval_ns: u64 },
}

/// A pacing configuration that cannot run, naming the key and what is valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value}: {expected}")]
pub struct PaceError {
    /// The configuration key, e.g. `pace.factor`.
    pub key: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// When one tick is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Due {
    /// Position of the tick in the run, from 0, counting on across loops.
    pub index: u64,
    /// Which pass over the capture the tick belongs to, from 0.
    pub pass: u64,
    /// Due time relative to the start of the run.
    pub offset_ns: u64,
    /// Due time on the caller's clock: the start plus `offset_ns` (saturating).
    pub at_ns: u64,
}

/// What the sender should do with a due tick at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// The tick is due; `late_ns` is how far past its due time `now` is (0 when on
    /// time). Never early.
    SendNow { late_ns: u64 },
    /// Not yet: the tick is due at `at_ns`.
    WaitUntil { at_ns: u64 },
}

impl Due {
    /// Whether to send at `now_ns` (the caller's clock), and how late that is.
    #[inline]
    pub fn poll(&self, now_ns: u64) -> Poll {
        if now_ns >= self.at_ns {
            Poll::SendNow {
                late_ns: now_ns - self.at_ns,
            }
        } else {
            Poll::WaitUntil { at_ns: self.at_ns }
        }
    }
}

/// Capture timestamps that went back (see [`Pacer::schedule`]), for the run summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Reversals {
    pub count: u64,
    /// The largest step back, in capture nanoseconds.
    pub max_step_back_ns: u64,
}

/// The validated mode, in the form the hot path wants.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Timing {
    /// Original (`factor` None) or scaled.
    Capture {
        factor: Option<f64>,
    },
    /// Fixed rate; integral rates take an exact integer path.
    Even {
        per_second: f64,
        integral: Option<u64>,
    },
    TopSpeed,
    Groups {
        size: u64,
        interval_ns: u64,
    },
}

/// The pacing state of one run. Holds no heap memory; `schedule` is a few integer
/// operations (one `f64` division in `Scaled` and non-integral `FixedRate`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pacer {
    mode: Mode,
    timing: Timing,
    /// Gap between passes in capture time; `None` means the pass's mean gap.
    loop_gap_ns: Option<u64>,
    start_ns: u64,
    next_index: u64,
    pass: u64,
    /// Ticks scheduled in the current pass.
    pass_ticks: u64,
    /// Capture time of the current pass's first tick.
    pass_first_capture_ns: i64,
    /// Latest (clamped) capture time in the current pass: never decreases.
    pass_capture_ns: i64,
    /// Capture-time offset of the current pass's first tick from the run's first.
    pass_base_ns: u64,
    reversals: u64,
    max_reversal_ns: u64,
}

impl Pacer {
    /// A pacer for `mode`, anchored at 0 until [`start`](Self::start) is called.
    pub fn new(mode: Mode) -> Result<Self, PaceError> {
        let timing = validate(mode)?;
        Ok(Pacer {
            mode,
            timing,
            loop_gap_ns: None,
            start_ns: 0,
            next_index: 0,
            pass: 0,
            pass_ticks: 0,
            pass_first_capture_ns: 0,
            pass_capture_ns: 0,
            pass_base_ns: 0,
            reversals: 0,
            max_reversal_ns: 0,
        })
    }

    /// Sets the gap between the last tick of one pass and the first of the next, in
    /// capture time (so `Scaled` scales it too). Without it the gap is the pass's
    /// mean gap. Only the capture-timed modes (`Original`, `Scaled`) use it.
    pub fn with_loop_gap_ns(mut self, gap_ns: u64) -> Self {
        self.loop_gap_ns = Some(gap_ns);
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts a run anchored at `now_ns` on the caller's clock: the next tick is
    /// index 0 of pass 0, and the counts of [`reversals`](Self::reversals) restart.
    pub fn start(&mut self, now_ns: u64) {
        self.start_ns = now_ns;
        self.next_index = 0;
        self.pass = 0;
        self.pass_ticks = 0;
        self.pass_first_capture_ns = 0;
        self.pass_capture_ns = 0;
        self.pass_base_ns = 0;
        self.reversals = 0;
        self.max_reversal_ns = 0;
    }

    /// Schedules the next tick, whose capture timestamp is `capture_ns` (any epoch,
    /// ns; ignored by `FixedRate`, `TopSpeed` and `Bursts`).
    ///
    /// In `Original` the tick is due at the start plus its capture time minus the
    /// pass's first capture time (plus the pass's offset, see
    /// [`begin_loop`](Self::begin_loop)); `Scaled` divides that offset by the factor
    /// and rounds it to the nearest ns. The offset is rounded, never the gap, so
    /// rounding does not accumulate: every tick is within 1 ns of the exact scaled
    /// time for runs shorter than 2^53 ns (104 days).
    ///
    /// A capture timestamp earlier than the previous tick's (merged captures, or
    /// interfaces with slightly different clocks) is held at the previous tick's
    /// time: the tick is due together with its predecessor, the schedule never goes
    /// back, and later ticks stay anchored to their own capture times rather than
    /// shifting by the step back. A large step back makes the ticks after it due at
    /// once until capture time catches up; [`reversals`](Self::reversals) reports it.
    ///
    /// Due times saturate at `u64::MAX` instead of overflowing.
    #[inline]
    pub fn schedule(&mut self, capture_ns: i64) -> Due {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        let offset_ns = match self.timing {
            Timing::Capture { factor } => {
                let capture_offset = self.capture_offset(capture_ns);
                match factor {
                    None => capture_offset,
                    Some(f) => scale(capture_offset, f),
                }
            }
            Timing::Even {
                per_second,
                integral,
            } => even_offset(index, per_second, integral),
            Timing::TopSpeed => 0,
            Timing::Groups { size, interval_ns } => (index / size).saturating_mul(interval_ns),
        };
        self.pass_ticks = self.pass_ticks.saturating_add(1);
        Due {
            index,
            pass: self.pass,
            offset_ns,
            at_ns: self.start_ns.saturating_add(offset_ns),
        }
    }

    /// The capture-time offset of this tick from the run's first tick, clamping a
    /// step back to the previous tick's time.
    #[inline]
    fn capture_offset(&mut self, capture_ns: i64) -> u64 {
        if self.pass_ticks == 0 {
            self.pass_first_capture_ns = capture_ns;
            self.pass_capture_ns = capture_ns;
        } else if capture_ns < self.pass_capture_ns {
            self.reversals = self.reversals.saturating_add(1);
            self.max_reversal_ns = self
                .max_reversal_ns
                .max(self.pass_capture_ns.abs_diff(capture_ns));
        } else {
            self.pass_capture_ns = capture_ns;
        }
        // pass_capture_ns >= pass_first_capture_ns, so the distance is the offset.
        let in_pass = self.pass_capture_ns.abs_diff(self.pass_first_capture_ns);
        self.pass_base_ns.saturating_add(in_pass)
    }

    /// Ends the current pass over the capture: the next tick starts the next pass.
    ///
    /// Index, and with it `FixedRate`, `TopSpeed` and `Bursts`, simply continue (a
    /// burst group may span the boundary). In `Original` and `Scaled` the next pass's
    /// first tick is due one pass span plus one gap after the current pass's first
    /// tick, in capture time; the gap is the [loop gap](Self::with_loop_gap_ns) if set,
    /// else the pass's mean gap (its span over its ticks minus one, rounded). So pass
    /// *k* of a capture replayed unchanged is offset by *k* × (span + gap) and due
    /// times keep increasing across passes. A one-tick pass has no gaps: without a
    /// loop gap its passes are all due at once. Calling this before any tick of the
    /// current pass changes nothing.
    pub fn begin_loop(&mut self) {
        if self.pass_ticks == 0 {
            return;
        }
        if let Timing::Capture { .. } = self.timing {
            let span = self.pass_capture_ns.abs_diff(self.pass_first_capture_ns);
            let gap = self.loop_gap_ns.unwrap_or_else(|| {
                // The rounded mean gap: at most `span`, so it fits; none for one tick.
                let gaps = u128::from(self.pass_ticks - 1);
                (u128::from(span) + gaps / 2)
                    .checked_div(gaps)
                    .map_or(0, |mean| mean as u64)
            });
            self.pass_base_ns = self.pass_base_ns.saturating_add(span).saturating_add(gap);
        }
        self.pass = self.pass.saturating_add(1);
        self.pass_ticks = 0;
    }

    /// The start of the run on the caller's clock.
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// Ticks scheduled since the start.
    pub fn scheduled(&self) -> u64 {
        self.next_index
    }

    /// The current pass over the capture, from 0.
    pub fn pass(&self) -> u64 {
        self.pass
    }

    /// Capture timestamps (in `Original` and `Scaled`) that were earlier than their
    /// predecessor's and were held at its time, since the start.
    pub fn reversals(&self) -> Reversals {
        Reversals {
            count: self.reversals,
            max_step_back_ns: self.max_reversal_ns,
        }
    }
}

fn validate(mode: Mode) -> Result<Timing, PaceError> {
    let err = |key, value: String, expected| {
        Err(PaceError {
            key,
            value,
            expected,
        })
    };
    match mode {
        Mode::Original => Ok(Timing::Capture { factor: None }),
        Mode::Scaled { factor } => {
            if factor.is_finite() && factor > 0.0 {
                Ok(Timing::Capture {
                    factor: Some(factor),
                })
            } else {
                err(
                    "pace.factor",
                    factor.to_string(),
                    "a finite speed-up above 0 (2 replays twice as fast, 0.5 half as fast)",
                )
            }
        }
        Mode::FixedRate { per_second } => {
            if per_second.is_finite() && per_second > 0.0 {
                let integral = (per_second.fract() == 0.0 && per_second < TWO_POW_64)
                    .then_some(per_second as u64);
                Ok(Timing::Even {
                    per_second,
                    integral,
                })
            } else {
                err(
                    "pace.per_second",
                    per_second.to_string(),
                    "a finite rate above 0 ticks per second",
                )
            }
        }
        Mode::TopSpeed => Ok(Timing::TopSpeed),
        Mode::Bursts { size, interval_ns } => {
            if size == 0 {
                err("pace.size", size.to_string(), "1 or more ticks per burst")
            } else if interval_ns == 0 {
                err(
                    "pace.interval_ns",
                    interval_ns.to_string(),
                    "1 ns or more between burst starts (top_speed sends everything at once)",
                )
            } else {
                Ok(Timing::Groups {
                    size: u64::from(size),
                    interval_ns,
                })
            }
        }
    }
}

/// `offset / factor` rounded to the nearest ns, saturating. Each step (conversion,
/// division, rounding, saturating cast) is monotonic, so the schedule is too.
#[inline]
fn scale(offset_ns: u64, factor: f64) -> u64 {
    (offset_ns as f64 / factor).round() as u64
}

/// `round(index × 1e9 / per_second)`, saturating: exact for integral rates, within
/// 1 ns for offsets below 2^52 ns (52 days) otherwise.
#[inline]
fn even_offset(index: u64, per_second: f64, integral: Option<u64>) -> u64 {
    match integral {
        Some(rate) => match index.checked_mul(NS_PER_SECOND) {
            // Round half up: floor((n + rate/2) / rate), with n + rate/2 in u128.
            Some(n) => ((u128::from(n) + u128::from(rate / 2)) / u128::from(rate)) as u64,
            None => {
                let n = u128::from(index) * u128::from(NS_PER_SECOND);
                let q = (n + u128::from(rate / 2)) / u128::from(rate);
                u64::try_from(q).unwrap_or(u64::MAX)
            }
        },
        None => (index as f64 * NS_PER_SECOND as f64 / per_second).round() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SplitMix64: the test's own sender jitter, reproducible.
    struct Jitter(u64);
    impl Jitter {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        }
    }

    fn offsets(mode: Mode, captures: &[i64]) -> Vec<u64> {
        let mut p = Pacer::new(mode).unwrap();
        p.start(1_000);
        captures
            .iter()
            .map(|&c| {
                let due = p.schedule(c);
                assert_eq!(due.at_ns, 1_000u64.saturating_add(due.offset_ns));
                due.offset_ns
            })
            .collect()
    }

    /// A million ticks 10 µs apart, sent by a sender that wakes up late by up to
    /// 25 µs (more than the gap) every time and takes 1 µs to send: every tick is due
    /// at exactly start + 10 µs × i, and the last one leaves within one wake-up error
    /// of its schedule. A scheduler relative to the previous departure would end
    /// behind by the sum of the wake-up errors: seconds.
    #[test]
    fn original_does_not_drift_behind_a_late_sender() {
        const N: i64 = 1_000_000;
        const GAP: i64 = 10_000;
        let start = 77_000_000_123;
        let capture_epoch = 1_767_605_400_000_000_000;
        let mut pacer = Pacer::new(Mode::Original).unwrap();
        pacer.start(start);
        let mut jitter = Jitter(42);
        let mut now = start;
        let mut wake_errors_total: u64 = 0;
        let mut last_late = 0;
        let mut max_late = 0;
        for i in 0..N {
            let due = pacer.schedule(capture_epoch + GAP * i);
            assert_eq!(due.index, i as u64);
            assert_eq!(due.at_ns, start + (GAP * i) as u64);
            let late_ns = match due.poll(now) {
                Poll::WaitUntil { at_ns } => {
                    assert_eq!(at_ns, due.at_ns);
                    let wake_error = jitter.below(25_000);
                    now = at_ns + wake_error;
                    wake_errors_total += wake_error;
                    match due.poll(now) {
                        Poll::SendNow { late_ns } => {
                            assert_eq!(late_ns, wake_error);
                            late_ns
                        }
                        other => panic!("woke at its time but got {other:?}"),
                    }
                }
                Poll::SendNow { late_ns } => {
                    assert_eq!(late_ns, now - due.at_ns);
                    late_ns
                }
            };
            max_late = max_late.max(late_ns);
            last_late = late_ns;
            now += 1_000;
        }
        assert!(max_late < 25_000 + 1_000, "max late {max_late}");
        assert!(last_late < 25_000 + 1_000, "last late {last_late}");
        // The sender really was late: relative scheduling would have drifted > 5 s.
        assert!(
            wake_errors_total > 5_000_000_000,
            "wake-up errors {wake_errors_total}"
        );
    }

    #[test]
    fn the_schedule_ignores_when_ticks_went_out() {
        // poll takes the due tick by reference and the pacer not at all, so this is
        // mostly a statement of the API; a second pacer never polled must agree.
        let captures: Vec<i64> = (0..1000).map(|i| i * 7 + (i % 3) * 1000).collect();
        let mut polled = Pacer::new(Mode::Scaled { factor: 3.0 }).unwrap();
        polled.start(5);
        let quiet = offsets(Mode::Scaled { factor: 3.0 }, &captures);
        for (i, &c) in captures.iter().enumerate() {
            let due = polled.schedule(c);
            let _ = due.poll(u64::MAX);
            assert_eq!(due.offset_ns, quiet[i]);
        }
    }

    #[test]
    fn original_follows_the_capture_from_any_epoch() {
        assert_eq!(
            offsets(Mode::Original, &[-50, -40, 0, 1_000_000_007]),
            [0, 10, 50, 1_000_000_057]
        );
        assert_eq!(
            offsets(Mode::Original, &[i64::MIN, 0, i64::MAX]),
            [0, 1 << 63, u64::MAX]
        );
    }

    #[test]
    fn scaled_two_halves_every_gap_and_keeps_bursts() {
        // Quiet gaps of 10 µs, then a burst of five packets 100 ns apart, two of
        // them captured in the same nanosecond, then quiet again.
        let captures = [
            0, 10_000, 20_000, 20_100, 20_200, 20_200, 20_300, 20_400, 30_400, 40_400,
        ];
        let original = offsets(Mode::Original, &captures);
        let scaled = offsets(Mode::Scaled { factor: 2.0 }, &captures);
        assert_eq!(
            scaled,
            [0, 5_000, 10_000, 10_050, 10_100, 10_100, 10_150, 10_200, 15_200, 20_200]
        );
        for w in 0..captures.len() - 1 {
            assert_eq!(
                (scaled[w + 1] - scaled[w]) * 2,
                original[w + 1] - original[w],
                "gap {w}"
            );
        }
        // The burst is still 50 ns spacing inside and 5 µs quiet around it.
        assert_eq!(scaled[2..8].windows(2).map(|w| w[1] - w[0]).max(), Some(50));
    }

    #[test]
    fn scaled_rounds_the_offset_not_the_gap() {
        // 1 ns gaps at 2x: exact times 0, 0.5, 1, 1.5, 2, ...; rounding each gap would
        // give 0 or 1 every time and drift; rounding the offset stays within 0.5 ns.
        let captures: Vec<i64> = (0..10_001).collect();
        let scaled = offsets(Mode::Scaled { factor: 2.0 }, &captures);
        assert_eq!(&scaled[..6], &[0, 1, 1, 2, 2, 3]);
        assert_eq!(scaled[10_000], 5_000);
        // 3x over 1 s of 1 ms gaps: 1/3 ms does not divide, the end is still exact.
        let captures: Vec<i64> = (0..=1_000).map(|i| i * 1_000_000).collect();
        let scaled = offsets(Mode::Scaled { factor: 3.0 }, &captures);
        assert_eq!(&scaled[..4], &[0, 333_333, 666_667, 1_000_000]);
        assert_eq!(scaled[999], 333_000_000);
        assert_eq!(scaled[1_000], 333_333_333);
        // Slower than real time.
        assert_eq!(
            offsets(Mode::Scaled { factor: 0.5 }, &[10, 11, 20]),
            [0, 2, 20]
        );
    }

    #[test]
    fn fixed_rate_does_not_drift_from_rounding() {
        // 1e9 / 7 = 142857142.857...: rounded gaps would add 1 ns every tick.
        let mut p = Pacer::new(Mode::FixedRate { per_second: 7.0 }).unwrap();
        p.start(100);
        let due: Vec<u64> = (0..=700).map(|_| p.schedule(0).offset_ns).collect();
        assert_eq!(&due[..4], &[0, 142_857_143, 285_714_286, 428_571_429]);
        for k in 0..=100 {
            assert_eq!(due[7 * k], 1_000_000_000 * k as u64, "second {k}");
        }
        // A non-integral rate takes the floating-point path: 2.5 per second is 400 ms.
        let mut p = Pacer::new(Mode::FixedRate { per_second: 2.5 }).unwrap();
        let due: Vec<u64> = (0..6).map(|_| p.schedule(0).offset_ns).collect();
        assert_eq!(
            due,
            [
                0,
                400_000_000,
                800_000_000,
                1_200_000_000,
                1_600_000_000,
                2_000_000_000
            ]
        );
        // Capture times are ignored, backwards or not.
        let mut p = Pacer::new(Mode::FixedRate { per_second: 1e6 }).unwrap();
        p.start(10);
        let due: Vec<u64> = [5, -9, i64::MAX, 0]
            .iter()
            .map(|&c| p.schedule(c).at_ns)
            .collect();
        assert_eq!(due, [10, 1_010, 2_010, 3_010]);
    }

    #[test]
    fn fixed_rate_integral_path_matches_the_formula_far_out() {
        // Past the u64 product (index × 1e9 > 2^64) the u128 path takes over.
        for &(index, rate) in &[
            (18_446_744_073u64, 3u64),
            (18_446_744_074, 3),
            (u64::MAX, 1_000_000_000),
            (u64::MAX, 999_999_999),
        ] {
            let exact =
                (u128::from(index) * 1_000_000_000 + u128::from(rate / 2)) / u128::from(rate);
            let expected = u64::try_from(exact).unwrap_or(u64::MAX);
            assert_eq!(even_offset(index, rate as f64, Some(rate)), expected);
        }
        assert_eq!(even_offset(u64::MAX, 1.0, Some(1)), u64::MAX);
    }

    #[test]
    fn top_speed_is_all_due_at_the_start() {
        let mut p = Pacer::new(Mode::TopSpeed).unwrap();
        p.start(999);
        for c in [3, 1, 2, i64::MIN] {
            let due = p.schedule(c);
            assert_eq!((due.offset_ns, due.at_ns), (0, 999));
            assert_eq!(due.poll(1_500), Poll::SendNow { late_ns: 501 });
        }
        p.begin_loop();
        assert_eq!(p.schedule(7).at_ns, 999);
    }

    #[test]
    fn bursts_are_groups_interval_apart() {
        let mut p = Pacer::new(Mode::Bursts {
            size: 3,
            interval_ns: 1_000,
        })
        .unwrap();
        p.start(50);
        let due: Vec<u64> = (0..8).map(|i| p.schedule(-i).at_ns).collect();
        assert_eq!(due, [50, 50, 50, 1_050, 1_050, 1_050, 2_050, 2_050]);
        // Loops continue the groups.
        p.begin_loop();
        assert_eq!(p.schedule(0).at_ns, 2_050);
        assert_eq!(p.schedule(0).at_ns, 3_050);
        // A burst of one is a fixed rate.
        let mut p = Pacer::new(Mode::Bursts {
            size: 1,
            interval_ns: u64::MAX,
        })
        .unwrap();
        p.start(1);
        assert_eq!(p.schedule(0).at_ns, 1);
        assert_eq!(p.schedule(0).at_ns, u64::MAX);
        assert_eq!(p.schedule(0).at_ns, u64::MAX);
    }

    #[test]
    fn loops_continue_the_timeline() {
        // Span 300, three gaps, mean gap 100: pass k starts at k × 400.
        let capture = [1_000, 1_050, 1_200, 1_300];
        let mut p = Pacer::new(Mode::Original).unwrap();
        p.start(10);
        let mut due = Vec::new();
        for pass in 0..3 {
            if pass > 0 {
                p.begin_loop();
                p.begin_loop(); // a second call before any tick changes nothing
            }
            for &c in &capture {
                let d = p.schedule(c);
                assert_eq!(d.pass, pass);
                due.push(d.offset_ns);
            }
        }
        assert_eq!(
            due,
            [0, 50, 200, 300, 400, 450, 600, 700, 800, 850, 1_000, 1_100]
        );
        assert_eq!(p.scheduled(), 12);
        assert_eq!(p.pass(), 2);

        // A configured gap, at 2x: the gap is capture time and is scaled too.
        let mut p = Pacer::new(Mode::Scaled { factor: 2.0 })
            .unwrap()
            .with_loop_gap_ns(1_000);
        p.start(0);
        let mut due = Vec::new();
        for _ in 0..2 {
            for &c in &capture {
                due.push(p.schedule(c).offset_ns);
            }
            p.begin_loop();
        }
        assert_eq!(due, [0, 25, 100, 150, 650, 675, 750, 800]);

        // A fixed rate does not notice the loop.
        let mut p = Pacer::new(Mode::FixedRate { per_second: 1e3 }).unwrap();
        let mut due = Vec::new();
        for _ in 0..2 {
            for &c in &capture {
                due.push(p.schedule(c).offset_ns / 1_000_000);
            }
            p.begin_loop();
        }
        assert_eq!(due, [0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn a_one_tick_capture_loops_by_its_gap() {
        let mut p = Pacer::new(Mode::Original).unwrap();
        let due: Vec<u64> = (0..3)
            .map(|_| {
                let d = p.schedule(5).offset_ns;
                p.begin_loop();
                d
            })
            .collect();
        assert_eq!(due, [0, 0, 0]);
        let mut p = Pacer::new(Mode::Original).unwrap().with_loop_gap_ns(250);
        let due: Vec<u64> = (0..3)
            .map(|_| {
                let d = p.schedule(5).offset_ns;
                p.begin_loop();
                d
            })
            .collect();
        assert_eq!(due, [0, 250, 500]);
    }

    #[test]
    fn capture_time_going_back_is_held_not_followed() {
        // Merged interfaces: 105 then 103. The 103 tick goes with the 105 tick, and
        // 108 stays 8 after the first (not shifted by the 2 ns step back).
        assert_eq!(
            offsets(Mode::Original, &[100, 105, 103, 108, 104, 120]),
            [0, 5, 5, 8, 8, 20]
        );
        let mut p = Pacer::new(Mode::Original).unwrap();
        for c in [100, 105, 103, 108, 104, 120] {
            p.schedule(c);
        }
        assert_eq!(
            p.reversals(),
            Reversals {
                count: 2,
                max_step_back_ns: 4
            }
        );
        // Each pass is clamped on its own; a new pass restarts capture time.
        p.begin_loop();
        assert_eq!(p.schedule(100).offset_ns, 20 + 4); // span 20, mean gap 20 / 5
        p.start(0);
        assert_eq!(p.reversals(), Reversals::default());
        assert_eq!(p.schedule(0).offset_ns, 0);
        // A large step back: everything due at once until capture time catches up.
        assert_eq!(
            offsets(Mode::Scaled { factor: 2.0 }, &[1_000, 0, 500, 1_000, 1_200]),
            [0, 0, 0, 0, 100]
        );
    }

    #[test]
    fn poll_is_exact_at_the_edge() {
        let due = Due {
            index: 0,
            pass: 0,
            offset_ns: 10,
            at_ns: 100,
        };
        assert_eq!(due.poll(0), Poll::WaitUntil { at_ns: 100 });
        assert_eq!(due.poll(99), Poll::WaitUntil { at_ns: 100 });
        assert_eq!(due.poll(100), Poll::SendNow { late_ns: 0 });
        assert_eq!(
            due.poll(u64::MAX),
            Poll::SendNow {
                late_ns: u64::MAX - 100
            }
        );
    }

    #[test]
    fn due_times_saturate_instead_of_overflowing() {
        let mut p = Pacer::new(Mode::Original).unwrap();
        p.start(u64::MAX - 5);
        assert_eq!(p.schedule(0).at_ns, u64::MAX - 5);
        assert_eq!(p.schedule(3).at_ns, u64::MAX - 2);
        assert_eq!(p.schedule(10).at_ns, u64::MAX);
        let mut p = Pacer::new(Mode::Scaled { factor: 1e-300 }).unwrap();
        p.schedule(0);
        assert_eq!(p.schedule(1).offset_ns, u64::MAX);
        let mut p = Pacer::new(Mode::FixedRate {
            per_second: f64::MIN_POSITIVE,
        })
        .unwrap();
        p.schedule(0);
        assert_eq!(p.schedule(0).offset_ns, u64::MAX);
        // Passes whose base saturates stay at the end of time.
        let mut p = Pacer::new(Mode::Original)
            .unwrap()
            .with_loop_gap_ns(u64::MAX);
        p.schedule(0);
        p.begin_loop();
        assert_eq!(p.schedule(0).offset_ns, u64::MAX);
        p.begin_loop();
        assert_eq!(p.schedule(0).offset_ns, u64::MAX);
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let key = |mode| Pacer::new(mode).err().map(|e| e.key);
        for factor in [0.0, -1.0, f64::NAN, f64::INFINITY, -0.0] {
            assert_eq!(
                key(Mode::Scaled { factor }),
                Some("pace.factor"),
                "{factor}"
            );
        }
        for per_second in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                key(Mode::FixedRate { per_second }),
                Some("pace.per_second"),
                "{per_second}"
            );
        }
        assert_eq!(
            key(Mode::Bursts {
                size: 0,
                interval_ns: 5
            }),
            Some("pace.size")
        );
        assert_eq!(
            key(Mode::Bursts {
                size: 5,
                interval_ns: 0
            }),
            Some("pace.interval_ns")
        );
        let e = Pacer::new(Mode::Scaled { factor: f64::NAN }).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pace.factor = NaN: a finite speed-up above 0 (2 replays twice as fast, 0.5 half as fast)"
        );
        for ok in [
            Mode::Original,
            Mode::TopSpeed,
            Mode::Scaled { factor: 1e-9 },
            Mode::FixedRate { per_second: 1e12 },
            Mode::Bursts {
                size: 1,
                interval_ns: 1,
            },
        ] {
            assert!(Pacer::new(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn modes_read_from_configuration() {
        let read = |s: &str| serde_json::from_str::<Mode>(s).unwrap();
        assert_eq!(read(r#"{"mode":"original"}"#), Mode::Original);
        assert_eq!(read(r#"{"mode":"top_speed"}"#), Mode::TopSpeed);
        assert_eq!(
            read(r#"{"mode":"scaled","factor":2}"#),
            Mode::Scaled { factor: 2.0 }
        );
        assert_eq!(
            read(r#"{"mode":"fixed_rate","per_second":100000}"#),
            Mode::FixedRate { per_second: 1e5 }
        );
        let bursts = Mode::Bursts {
            size: 8,
            interval_ns: 1_000_000,
        };
        assert_eq!(
            serde_json::to_string(&bursts).unwrap(),
            r#"{"mode":"bursts","size":8,"interval_ns":1000000}"#
        );
        assert!(serde_json::from_str::<Mode>(r#"{"mode":"warp"}"#).is_err());
    }

    fn any_mode() -> impl Strategy<Value = Mode> {
        let float = prop_oneof![
            any::<f64>(),
            0.001f64..1000.0,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
        ];
        prop_oneof![
            Just(Mode::Original),
            Just(Mode::TopSpeed),
            float.clone().prop_map(|factor| Mode::Scaled { factor }),
            float.prop_map(|per_second| Mode::FixedRate { per_second }),
            (any::<u32>(), any::<u64>())
                .prop_map(|(size, interval_ns)| Mode::Bursts { size, interval_ns }),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Tick(i64),
        Loop,
        Restart(u64),
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => any::<i64>().prop_map(Op::Tick),
            8 => (-1_000i64..1_000).prop_map(Op::Tick),
            1 => Just(Op::Loop),
            1 => any::<u64>().prop_map(Op::Restart),
        ]
    }

    proptest! {
        /// Whatever the mode and the timestamps: no panic, indices count up by one,
        /// due times never decrease within a run, poll never sends early.
        #[test]
        fn never_panics_and_never_goes_back(
            mode in any_mode(),
            gap in proptest::option::of(any::<u64>()),
            start in any::<u64>(),
            ops in proptest::collection::vec(any_op(), 0..200),
            now in any::<u64>(),
        ) {
            let Ok(pacer) = Pacer::new(mode) else { return Ok(()) };
            let mut pacer = match gap {
                Some(g) => pacer.with_loop_gap_ns(g),
                None => pacer,
            };
            pacer.start(start);
            let mut last: Option<Due> = None;
            for op in ops {
                match op {
                    Op::Tick(c) => {
                        let due = pacer.schedule(c);
                        prop_assert_eq!(due.at_ns, pacer.start_ns().saturating_add(due.offset_ns));
                        if let Some(prev) = last {
                            prop_assert!(due.at_ns >= prev.at_ns);
                            prop_assert!(due.offset_ns >= prev.offset_ns);
                            prop_assert_eq!(due.index, prev.index + 1);
                        } else {
                            prop_assert_eq!(due.index, 0);
                        }
                        match due.poll(now) {
                            Poll::SendNow { late_ns } => {
                                prop_assert_eq!(now - late_ns, due.at_ns)
                            }
                            Poll::WaitUntil { at_ns } => {
                                prop_assert!(now < at_ns && at_ns == due.at_ns)
                            }
                        }
                        last = Some(due);
                    }
                    Op::Loop => pacer.begin_loop(),
                    Op::Restart(s) => {
                        pacer.start(s);
                        last = None;
                    }
                }
            }
        }

        /// A factor of 1 is the original timing, to the nanosecond.
        #[test]
        fn scaled_by_one_is_original(
            base in -(1i64 << 60)..(1i64 << 60),
            steps in proptest::collection::vec(-1_000i64..1_000_000_000, 1..100),
        ) {
            let captures: Vec<i64> = steps
                .iter()
                .scan(base, |t, s| { *t += s; Some(*t) })
                .collect();
            prop_assert_eq!(
                offsets(Mode::Scaled { factor: 1.0 }, &captures),
                offsets(Mode::Original, &captures)
            );
        }

        /// Every scaled offset is within 1 ns of the exact capture offset / factor.
        #[test]
        fn scaled_is_within_a_nanosecond_of_exact(
            factor in 0.01f64..100.0,
            steps in proptest::collection::vec(0i64..10_000_000, 1..100),
        ) {
            let captures: Vec<i64> = steps
                .iter()
                .scan(0i64, |t, s| { *t += s; Some(*t) })
                .collect();
            let scaled = offsets(Mode::Scaled { factor }, &captures);
            for (c, s) in captures.iter().zip(&scaled) {
                let exact = (c - captures[0]) as f64 / factor;
                prop_assert!((*s as f64 - exact).abs() <= 1.0, "{} vs {}", s, exact);
            }
        }
    }
}
