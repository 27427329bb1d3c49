//! TSC calibration: a least-squares fit of a reference clock against the TSC,
//! `ref_ns = a + b × tsc`, from bracketed samples.
//!
//! One sample is three reads, reference, TSC, reference; the TSC read happened
//! somewhere inside the bracket, so its reference time is taken as the bracket's
//! midpoint, uncertain by half the bracket. A bracket stretched by an interrupt or a
//! preemption is the main source of outliers, so [`tightest`] keeps the samples with
//! the narrowest brackets, and the live [`calibrate`] takes several brackets per
//! sample point and keeps the narrowest. [`fit`] is pure: no clock is read there, and
//! it is tested on synthetic data of known frequency and offset.
//!
//! Wall-clock values (~1.7 × 10^18 ns) do not fit an `f64` to the nanosecond, so the
//! fit is anchored at its first sample and all arithmetic is on offsets from it; only
//! [`Fit::offset_ns`] (the intercept at TSC zero) is a lossy absolute `f64`.
//!
//! ```
//! use ticklab::time::calibrate::{fit, Sample};
//! // A 2 GHz TSC (0.5 ns per tick), reference = 1000 ns + ticks / 2.
//! let samples: Vec<Sample> = (0..10u64)
//!     .map(|i| {
//!         let tsc = 1_000_000 + i * 2_000;
//!         let reference = 1_000 + tsc / 2;
//!         Sample { ref_before_ns: reference - 20, tsc, ref_after_ns: reference + 20 }
//!     })
//!     .collect();
//! let fitted = fit(&samples).unwrap();
//! assert!((fitted.hz() - 2.0e9).abs() < 1.0);
//! assert!((fitted.offset_ns() - 1_000.0).abs() < 1e-3);
//! ```

use std::time::{Duration, Instant};

use super::{Error, Timestamp, Tsc};

/// One bracketed TSC read: a reference clock read, the TSC, the reference again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub ref_before_ns: u64,
    pub tsc: u64,
    pub ref_after_ns: u64,
}

impl Sample {
    /// How long the bracket took: the uncertainty of this sample's reference time.
    /// Zero when the bracket is inverted (which [`fit`] rejects).
    pub fn bracket_ns(&self) -> u64 {
        self.ref_after_ns.saturating_sub(self.ref_before_ns)
    }
}

/// A fitted `ref_ns = a + b × tsc`, anchored at its first sample's TSC and reference
/// values so that nothing is lost to `f64` rounding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Samples the fit used.
    pub samples: usize,
    /// `b`: reference nanoseconds per TSC tick.
    pub ns_per_tick: f64,
    /// The TSC value of the anchor (the first sample).
    pub tsc_anchor: u64,
    /// The reference value of the anchor: the first sample's `ref_before_ns`.
    pub ref_anchor_ns: u64,
    /// The fitted reference at `tsc_anchor`, minus `ref_anchor_ns`.
    pub anchor_correction_ns: f64,
    /// Root mean square of the residuals (sample midpoint minus fit), ns.
    pub residual_rms_ns: f64,
    /// Largest absolute residual, ns.
    pub residual_max_ns: f64,
}

impl Fit {
    /// TSC ticks per reference nanosecond.
    pub fn ticks_per_ns(&self) -> f64 {
        1.0 / self.ns_per_tick
    }

    /// The TSC frequency in ticks per reference second.
    pub fn hz(&self) -> f64 {
        1.0e9 / self.ns_per_tick
    }

    /// `a`: the reference time at TSC zero, in ns. An absolute `f64`, so rounded to
    /// about 256 ns for wall-clock references; use [`Fit::reference_ns`] for values.
    pub fn offset_ns(&self) -> f64 {
        self.ref_anchor_ns as f64 + self.anchor_correction_ns
            - self.tsc_anchor as f64 * self.ns_per_tick
    }

    /// The reference time the fit gives for TSC value `tsc`, rounded to the ns.
    pub fn reference_ns(&self, tsc: u64) -> i128 {
        let ticks = (i128::from(tsc) - i128::from(self.tsc_anchor)) as f64;
        let offset = (self.anchor_correction_ns + ticks * self.ns_per_tick).round();
        i128::from(self.ref_anchor_ns) + offset as i128
    }

    /// TSC ticks as nanoseconds at this fit's rate, from TSC zero. Two values
    /// converted by the same fit subtract exactly to their ticks' distance in ns.
    pub fn tsc_ns(&self, tsc: u64) -> Timestamp<Tsc> {
        let anchor_ns = (self.tsc_anchor as f64 * self.ns_per_tick).round() as i128;
        let ticks = (i128::from(tsc) - i128::from(self.tsc_anchor)) as f64;
        let ns = anchor_ns + (ticks * self.ns_per_tick).round() as i128;
        Timestamp::from_ns(ns.clamp(0, i128::from(u64::MAX)) as u64)
    }
}

/// The least-squares fit of the samples' bracket midpoints against their TSC values.
/// Needs at least 2 samples with different TSC values and no inverted bracket.
pub fn fit(samples: &[Sample]) -> Result<Fit, Error> {
    let Some(first) = samples.first() else {
        return Err(Error::TooFewSamples { got: 0 });
    };
    if samples.len() < 2 {
        return Err(Error::TooFewSamples { got: samples.len() });
    }
    if let Some((index, bad)) = samples
        .iter()
        .enumerate()
        .find(|(_, s)| s.ref_after_ns < s.ref_before_ns)
    {
        return Err(Error::InvertedBracket {
            index,
            before: bad.ref_before_ns,
            after: bad.ref_after_ns,
        });
    }
    if samples.iter().all(|s| s.tsc == first.tsc) {
        return Err(Error::ZeroVariance {
            count: samples.len(),
            tsc: first.tsc,
        });
    }
    let tsc_anchor = first.tsc;
    let ref_anchor_ns = first.ref_before_ns;
    let point = |s: &Sample| {
        let x = (i128::from(s.tsc) - i128::from(tsc_anchor)) as f64;
        let y = (i128::from(s.ref_before_ns) - i128::from(ref_anchor_ns)) as f64
            + s.bracket_ns() as f64 / 2.0;
        (x, y)
    };
    let n = samples.len() as f64;
    let (sum_x, sum_y) = samples
        .iter()
        .map(point)
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mean_x, mean_y) = (sum_x / n, sum_y / n);
    let (sxx, sxy) = samples
        .iter()
        .map(point)
        .fold((0.0, 0.0), |(sxx, sxy), (x, y)| {
            let dx = x - mean_x;
            (sxx + dx * dx, sxy + dx * (y - mean_y))
        });
    let ns_per_tick = sxy / sxx;
    let anchor_correction_ns = mean_y - ns_per_tick * mean_x;
    let (sum_sq, max_abs) = samples
        .iter()
        .map(point)
        .fold((0.0, 0.0f64), |(sq, max), (x, y)| {
            let residual = y - (anchor_correction_ns + ns_per_tick * x);
            (sq + residual * residual, max.max(residual.abs()))
        });
    Ok(Fit {
        samples: samples.len(),
        ns_per_tick,
        tsc_anchor,
        ref_anchor_ns,
        anchor_correction_ns,
        residual_rms_ns: (sum_sq / n).sqrt(),
        residual_max_ns: max_abs,
    })
}

/// The `keep` samples with the narrowest brackets, in their original order (ties keep
/// the earlier sample).
pub fn tightest(samples: &[Sample], keep: usize) -> Vec<Sample> {
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| (samples[i].bracket_ns(), i));
    order.truncate(keep);
    order.sort_unstable();
    order.into_iter().map(|i| samples[i]).collect()
}

/// The TSC fitted against both kernel clocks over one calibration window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Against `CLOCK_MONOTONIC_RAW`: the oscillator's own rate, never slewed by NTP
    /// or PTP. This is the TSC's frequency.
    pub monotonic_raw: Fit,
    /// Against `CLOCK_REALTIME`: maps TSC readings to wall-clock time, including
    /// whatever rate correction a time daemon applied during the window.
    pub realtime: Fit,
    /// How long the window actually lasted, by `Instant`.
    pub elapsed: Duration,
}

/// Brackets taken per sample point; the narrowest one is kept.
pub const BRACKETS_PER_SAMPLE: usize = 5;

/// Samples the TSC `samples` times, spread evenly over `duration`, each bracketed by
/// `CLOCK_MONOTONIC_RAW` and by `CLOCK_REALTIME` (narrowest of
/// [`BRACKETS_PER_SAMPLE`] brackets per point), and fits both. Blocks for about
/// `duration`. On architectures without a TSC it fails with
/// [`Error::TscUnavailable`].
pub fn calibrate(duration: Duration, samples: usize) -> Result<Calibration, Error> {
    if super::tsc::read_tsc().is_none() {
        return Err(Error::TscUnavailable {
            reason: "TSC calibration needs x86_64 (rdtsc)",
        });
    }
    if samples < 2 {
        return Err(Error::TooFewSamples { got: samples });
    }
    let pause = duration / u32::try_from(samples - 1).unwrap_or(u32::MAX);
    let mut raw = Vec::with_capacity(samples);
    let mut realtime = Vec::with_capacity(samples);
    let started = Instant::now();
    for i in 0..samples {
        if i > 0 {
            std::thread::sleep(pause);
        }
        raw.push(narrowest_bracket(
            libc::CLOCK_MONOTONIC_RAW,
            "CLOCK_MONOTONIC_RAW",
        )?);
        realtime.push(narrowest_bracket(libc::CLOCK_REALTIME, "CLOCK_REALTIME")?);
    }
    let elapsed = started.elapsed();
    Ok(Calibration {
        monotonic_raw: fit(&raw)?,
        realtime: fit(&realtime)?,
        elapsed,
    })
}

fn narrowest_bracket(clock: libc::clockid_t, name: &'static str) -> Result<Sample, Error> {
    let mut best: Option<Sample> = None;
    for _ in 0..BRACKETS_PER_SAMPLE {
        let ref_before_ns = clock_ns(clock, name)?;
        let tsc = super::tsc::read_tsc().ok_or(Error::TscUnavailable {
            reason: "rdtsc unavailable",
        })?;
        let ref_after_ns = clock_ns(clock, name)?;
        let sample = Sample {
            ref_before_ns,
            tsc,
            ref_after_ns,
        };
        if best.is_none_or(|b| sample.bracket_ns() < b.bracket_ns()) {
            best = Some(sample);
        }
    }
    best.ok_or(Error::TooFewSamples { got: 0 })
}

fn clock_ns(clock: libc::clockid_t, name: &'static str) -> Result<u64, Error> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec` for the whole call, and
    // clock_gettime writes nothing else.
    let rc = unsafe { libc::clock_gettime(clock, &mut now) };
    if rc != 0 {
        return Err(Error::ClockGettime {
            clock: name,
            source: std::io::Error::last_os_error(),
        });
    }
    // Both fields are non-negative for these clocks after boot.
    Ok(now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::rng::Rng;

    /// A 3 GHz TSC read at a wall-clock-sized reference: ref = OFFSET + tsc / 3.
    const HZ: f64 = 3.0e9;
    const OFFSET_NS: u64 = 1_700_000_000_000_000_000;
    const TSC_START: u64 = 5_000_000_000_000;

    fn truth(tsc: u64) -> f64 {
        // Exact in this split: OFFSET is an integer and tsc/3 is small.
        (tsc as f64) / 3.0
    }

    fn synthetic(count: u64, mut jitter: impl FnMut(u64) -> (u64, u64)) -> Vec<Sample> {
        (0..count)
            .map(|i| {
                let tsc = TSC_START + i * 3_000_000; // 1 ms apart
                let reference = OFFSET_NS + truth(tsc).round() as u64;
                let (before, after) = jitter(i);
                Sample {
                    ref_before_ns: reference - before,
                    tsc,
                    ref_after_ns: reference + after,
                }
            })
            .collect()
    }

    fn assert_close(got: f64, want: f64, tolerance: f64, what: &str) {
        assert!(
            (got - want).abs() <= tolerance,
            "{what}: got {got}, want {want} ± {tolerance}"
        );
    }

    #[test]
    fn exact_data_gives_the_known_frequency_and_offset() {
        let samples = synthetic(100, |_| (15, 15));
        let fitted = fit(&samples).unwrap();
        assert_eq!(fitted.samples, 100);
        assert_close(fitted.hz(), HZ, 1e-3, "hz");
        assert_close(fitted.ticks_per_ns(), 3.0, 1e-12, "ticks per ns");
        assert_close(fitted.ns_per_tick, 1.0 / 3.0, 1e-15, "ns per tick");
        // Only rounding of tsc/3 to whole ns remains (|r| ≤ 1/3).
        assert!(fitted.residual_max_ns <= 0.34, "{fitted:?}");
        assert!(fitted.residual_rms_ns <= 0.34, "{fitted:?}");
        for tsc in [TSC_START, TSC_START + 123_456_789, TSC_START + 297_000_000] {
            let want = i128::from(OFFSET_NS) + truth(tsc).round() as i128;
            let got = fitted.reference_ns(tsc);
            assert!((got - want).abs() <= 1, "tsc {tsc}: {got} vs {want}");
        }
        // The absolute intercept is an f64 near 1.7e18: 256 ns granularity.
        assert_close(fitted.offset_ns(), OFFSET_NS as f64, 512.0, "offset");
    }

    #[test]
    fn tsc_ns_is_consistent_within_one_fit() {
        let fitted = fit(&synthetic(10, |_| (5, 5))).unwrap();
        let a = fitted.tsc_ns(TSC_START + 3_000);
        let b = fitted.tsc_ns(TSC_START + 3_000 + 3_000_000_000);
        assert_eq!(b - a, crate::time::Nanos(1_000_000_000));
        assert_eq!(fitted.tsc_ns(3_000).ns(), 1_000);
    }

    #[test]
    fn seeded_noise_keeps_the_frequency_within_a_tenth_of_a_ppm() {
        let mut rng = Rng::seed(0x7153_c0de);
        // Asymmetric brackets of 0..100 ns each side: midpoints wander by ±50 ns.
        let samples = synthetic(1_000, |_| (rng.below(100), rng.below(100)));
        let fitted = fit(&samples).unwrap();
        let ppm = (fitted.hz() / HZ - 1.0) * 1e6;
        assert!(ppm.abs() < 0.1, "{ppm} ppm off: {fitted:?}");
        // The midpoint moves by (after − before)/2, triangular on ±50 ns: its RMS is
        // √(2 × 100²/12) / 2 ≈ 20.4 ns.
        assert!((17.0..24.0).contains(&fitted.residual_rms_ns), "{fitted:?}");
        assert!(fitted.residual_max_ns <= 60.0, "{fitted:?}");
        let mid = TSC_START + 1_500_000_000;
        let want = i128::from(OFFSET_NS) + truth(mid).round() as i128;
        assert!((fitted.reference_ns(mid) - want).abs() <= 10);
    }

    #[test]
    fn a_preempted_sample_is_visible_and_filtered_by_bracket() {
        // Sample 40 was preempted after its TSC read: its bracket ends 200 µs late,
        // which moves its midpoint 100 µs.
        let samples = synthetic(100, |i| if i == 40 { (10, 200_000) } else { (10, 10) });
        let all = fit(&samples).unwrap();
        assert!(all.residual_max_ns > 90_000.0, "{all:?}");

        let kept = tightest(&samples, 99);
        assert_eq!(kept.len(), 99);
        assert!(kept.iter().all(|s| s.bracket_ns() == 20));
        assert!(kept.windows(2).all(|w| w[0].tsc < w[1].tsc), "order kept");
        let clean = fit(&kept).unwrap();
        assert_close(clean.hz(), HZ, 1e-3, "hz");
        assert!(clean.residual_max_ns <= 0.34, "{clean:?}");
    }

    #[test]
    fn degenerate_input_is_refused_with_a_reason() {
        assert!(matches!(fit(&[]), Err(Error::TooFewSamples { got: 0 })));
        let one = synthetic(1, |_| (1, 1));
        assert!(matches!(fit(&one), Err(Error::TooFewSamples { got: 1 })));

        let mut same = synthetic(3, |_| (1, 1));
        for s in &mut same {
            s.tsc = 42;
        }
        let err = fit(&same).unwrap_err();
        assert!(matches!(err, Error::ZeroVariance { count: 3, tsc: 42 }));
        assert_eq!(
            err.to_string(),
            "all 3 samples have the same TSC value 42: no slope to fit"
        );

        let mut inverted = synthetic(3, |_| (1, 1));
        inverted[2].ref_after_ns = inverted[2].ref_before_ns - 1;
        assert!(matches!(
            fit(&inverted),
            Err(Error::InvertedBracket { index: 2, .. })
        ));
    }

    #[test]
    fn live_calibration_is_sane() {
        let result = calibrate(Duration::from_millis(50), 40);
        if !cfg!(target_arch = "x86_64") {
            assert!(matches!(result, Err(Error::TscUnavailable { .. })));
            return;
        }
        let calibration = result.unwrap();
        for fitted in [calibration.monotonic_raw, calibration.realtime] {
            assert_eq!(fitted.samples, 40);
            assert!((1.0e8..1.0e10).contains(&fitted.hz()), "{fitted:?}");
            assert!(fitted.offset_ns().is_finite(), "{fitted:?}");
            assert!(fitted.residual_rms_ns.is_finite(), "{fitted:?}");
            assert!(fitted.residual_max_ns.is_finite(), "{fitted:?}");
            assert!(fitted.residual_rms_ns <= fitted.residual_max_ns);
        }
        assert!(calibration.elapsed >= Duration::from_millis(50));
        assert!(matches!(
            calibrate(Duration::from_millis(1), 1),
            Err(Error::TooFewSamples { got: 1 })
        ));
    }
}
