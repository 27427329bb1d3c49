//! Did this build get slower, and is that real or noise? [`compare`] takes two runs'
//! recorded distributions (their merged interval logs, every bucket, not a handful
//! of summary numbers) and answers per percentile with a confidence interval of the
//! change, plus two tests that the distributions differ, and a verdict under the
//! user's thresholds.
//!
//! - **Percentile changes, bootstrapped.** Resampling n values from a recorded
//!   distribution and taking its k-th smallest is drawing `F̂⁻¹(U₍ₖ₎)`, and the k-th
//!   smallest of n uniforms is `Beta(k, n + 1 − k)`; so each bootstrap replicate of a
//!   percentile costs one Beta draw and one lookup in the bucket table, whatever n
//!   is, and is exactly the resampled percentile. [`REPLICATES`] replicates per run,
//!   seeded, so a comparison is reproducible; the interval of `new − base` is taken
//!   from the replicate differences at the chosen confidence.
//! - **Mann–Whitney U** over the merged buckets (ties get mid-ranks, the variance the
//!   tie correction), normal approximation, two-sided.
//! - **Kolmogorov–Smirnov**: the largest gap between the two empirical CDFs, over
//!   every bucket boundary, with the asymptotic p-value (Stephens' correction).
//!
//! The verdict: **regression** when, for some percentile with a threshold, the whole
//! interval of the relative change lies above `+threshold` (the change is confidently
//! larger than allowed); **improvement** when one lies wholly below the threshold's
//! mirror, `−t/(1+t)` (a drop that, compared the other way round, is a growth of
//! `t`: +100% mirrors to −50%), and none regressed; else **no significant change**. The bootstrap measures sampling
//! noise within each run, not run-to-run variation of the machine: set thresholds
//! above what repeated runs of one build show (see `ticklab history`).
//!
//! Pure: no file is read here (the caller loads the runs), and nothing is printed.

use serde::{Deserialize, Serialize};

use crate::feed::rng::Rng;
use crate::stats::Histogram;

/// Bootstrap replicates per run.
pub const REPLICATES: usize = 2000;
/// The percentiles compared, as quantiles.
pub const QUANTILES: [(&str, f64); 6] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
    ("max", 1.0),
];

/// What counts as a regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Two-sided confidence of the intervals (0.5 to 0.9999).
    pub confidence: f64,
    /// Allowed relative growth per percentile, in percent, by name (`p50`, `p99`,
    /// `p99.9`, ...); percentiles not named are shown but never decide.
    pub max_growth_percent: Vec<(String, f64)>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            confidence: 0.99,
            max_growth_percent: vec![("p50".into(), 10.0), ("p99".into(), 20.0)],
        }
    }
}

impl Thresholds {
    /// Checks names and ranges, naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.5..=0.9999).contains(&self.confidence) {
            return Err(format!(
                "confidence = {}: expected 0.5 to 0.9999 (0.99 for 99%)",
                self.confidence
            ));
        }
        for (name, pct) in &self.max_growth_percent {
            if !QUANTILES.iter().any(|(n, _)| n == name) {
                let names: Vec<&str> = QUANTILES.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "threshold {name:?}: expected one of {}",
                    names.join(", ")
                ));
            }
            if !(pct.is_finite() && *pct >= 0.0) {
                return Err(format!(
                    "threshold {name} = {pct}: expected a growth in percent, 0 or more"
                ));
            }
        }
        Ok(())
    }
}

/// One percentile's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PercentileChange {
    pub name: &'static str,
    pub base_ns: u64,
    pub new_ns: u64,
    pub delta_ns: i64,
    /// `delta / base`, percent.
    pub delta_percent: f64,
    /// The interval of the relative change, percent, at the thresholds' confidence.
    pub ci_percent: (f64, f64),
    /// The threshold that applied, percent, if any.
    pub threshold_percent: Option<f64>,
    /// "regression", "improvement", "within threshold", "no threshold".
    pub judgement: &'static str,
}

/// A two-sample test's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// The overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareVerdict {
    Regression,
    Improvement,
    NoSignificantChange,
}

impl CompareVerdict {
    pub fn name(self) -> &'static str {
        match self {
            CompareVerdict::Regression => "regression",
            CompareVerdict::Improvement => "improvement",
            CompareVerdict::NoSignificantChange => "no significant change",
        }
    }
}

/// What [`compare`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base_count: u64,
    pub new_count: u64,
    pub confidence: f64,
    pub percentiles: Vec<PercentileChange>,
    pub mann_whitney: TestResult,
    pub kolmogorov_smirnov: TestResult,
    pub verdict: CompareVerdict,
}

/// A recorded distribution as sorted (value, count) buckets with running totals.
struct Buckets {
    values: Vec<u64>,
    counts: Vec<u64>,
    cumulative: Vec<u64>,
    total: u64,
}

impl Buckets {
    fn of(histogram: &Histogram<u64>) -> Buckets {
        let mut values = Vec::new();
        let mut counts = Vec::new();
        for bucket in histogram.iter_recorded() {
            values.push(histogram.highest_equivalent(bucket.value_iterated_to()));
            counts.push(bucket.count_at_value());
        }
        let mut cumulative = Vec::with_capacity(counts.len());
        let mut total = 0;
        for c in &counts {
            total += c;
            cumulative.push(total);
        }
        Buckets {
            values,
            counts,
            cumulative,
            total,
        }
    }

    /// The value of the `rank`-th smallest sample (1-based).
    fn at_rank(&self, rank: u64) -> u64 {
        let i = self.cumulative.partition_point(|&c| c < rank.max(1));
        self.values[i.min(self.values.len() - 1)]
    }

    /// The HdrHistogram percentile: the sample at rank ⌈q·n⌉ (the largest for 1.0).
    fn quantile(&self, q: f64) -> u64 {
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        self.at_rank(rank)
    }

    /// One bootstrap replicate of the q-quantile: `F̂⁻¹(U₍ₖ₎)`.
    fn resampled_quantile(&self, q: f64, rng: &mut Rng) -> u64 {
        let n = self.total;
        let k = ((q * n as f64).ceil() as u64).clamp(1, n);
        let u = beta(k as f64, (n + 1 - k) as f64, rng);
        let rank = ((u * n as f64).ceil() as u64).clamp(1, n);
        self.at_rank(rank)
    }
}

/// Compares `new` against `base`. Both must hold samples.
pub fn compare(
    base: &Histogram<u64>,
    new: &Histogram<u64>,
    thresholds: &Thresholds,
) -> Result<Comparison, String> {
    thresholds.validate()?;
    if base.is_empty() || new.is_empty() {
        return Err(format!(
            "nothing to compare: the base run has {} samples and the new run {}",
            base.len(),
            new.len()
        ));
    }
    let (b, n) = (Buckets::of(base), Buckets::of(new));
    let alpha = 1.0 - thresholds.confidence;
    let mut rng = Rng::seed(0x7469_636b_6c61_6221);
    let mut percentiles = Vec::new();
    let mut regression = false;
    let mut improvement = false;
    for (name, q) in QUANTILES {
        let (base_ns, new_ns) = (b.quantile(q), n.quantile(q));
        let mut deltas: Vec<f64> = (0..REPLICATES)
            .map(|_| {
                let bq = b.resampled_quantile(q, &mut rng).max(1) as f64;
                let nq = n.resampled_quantile(q, &mut rng) as f64;
                (nq - bq) / bq * 100.0
            })
            .collect();
        deltas.sort_by(f64::total_cmp);
        let pick = |p: f64| {
            let i = ((p * (REPLICATES - 1) as f64).round() as usize).min(REPLICATES - 1);
            deltas[i]
        };
        let ci = (pick(alpha / 2.0), pick(1.0 - alpha / 2.0));
        let threshold = thresholds
            .max_growth_percent
            .iter()
            .find(|(t, _)| t == name)
            .map(|(_, pct)| *pct);
        let judgement = match threshold {
            None => "no threshold",
            Some(t) if ci.0 > t => {
                regression = true;
                "regression"
            }
            // The mirror of the threshold: a drop that, seen from the new run,
            // would be a growth of exactly `t` (so 100% allowed growth mirrors to
            // −50%, 10% to −9.1%).
            Some(t) if ci.1 < -(t / (100.0 + t)) * 100.0 => {
                improvement = true;
                "improvement"
            }
            Some(_) => "within threshold",
        };
        percentiles.push(PercentileChange {
            name,
            base_ns,
            new_ns,
            delta_ns: new_ns as i64 - base_ns as i64,
            delta_percent: (new_ns as f64 - base_ns as f64) / (base_ns.max(1) as f64) * 100.0,
            ci_percent: ci,
            threshold_percent: threshold,
            judgement,
        });
    }
    let verdict = if regression {
        CompareVerdict::Regression
    } else if improvement {
        CompareVerdict::Improvement
    } else {
        CompareVerdict::NoSignificantChange
    };
    Ok(Comparison {
        base_count: b.total,
        new_count: n.total,
        confidence: thresholds.confidence,
        percentiles,
        mann_whitney: mann_whitney(&b, &n),
        kolmogorov_smirnov: kolmogorov_smirnov(&b, &n),
        verdict,
    })
}

/// Both runs' buckets merged by value: (value, count in base, count in new).
fn merged(a: &Buckets, b: &Buckets) -> Vec<(u64, u64, u64)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.values.len() + b.values.len());
    while i < a.values.len() || j < b.values.len() {
        let va = a.values.get(i).copied().unwrap_or(u64::MAX);
        let vb = b.values.get(j).copied().unwrap_or(u64::MAX);
        if va == vb {
            out.push((va, a.counts[i], b.counts[j]));
            i += 1;
            j += 1;
        } else if va < vb {
            out.push((va, a.counts[i], 0));
            i += 1;
        } else {
            out.push((vb, 0, b.counts[j]));
            j += 1;
        }
    }
    out
}

/// Mann–Whitney U of `new` against `base` with mid-ranks for ties; the statistic is
/// z (positive: `new` tends larger).
fn mann_whitney(base: &Buckets, new: &Buckets) -> TestResult {
    let (n1, n2) = (base.total as f64, new.total as f64);
    let n = n1 + n2;
    let mut rank_sum_new = 0.0;
    let mut below = 0.0;
    let mut tie_term = 0.0;
    for (_, cb, cn) in merged(base, new) {
        let t = (cb + cn) as f64;
        let mid_rank = below + (t + 1.0) / 2.0;
        rank_sum_new += cn as f64 * mid_rank;
        tie_term += t * t * t - t;
        below += t;
    }
    let u = rank_sum_new - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if variance <= 0.0 {
        return TestResult {
            statistic: 0.0,
            p_value: 1.0,
        };
    }
    let z = (u - mean) / variance.sqrt();
    TestResult {
        statistic: z,
        p_value: (2.0 * normal_upper_tail(z.abs())).min(1.0),
    }
}

/// Two-sample Kolmogorov–Smirnov: D and its asymptotic p-value.
fn kolmogorov_smirnov(base: &Buckets, new: &Buckets) -> TestResult {
    let (n1, n2) = (base.total as f64, new.total as f64);
    let (mut c1, mut c2) = (0u64, 0u64);
    let mut d: f64 = 0.0;
    for (_, cb, cn) in merged(base, new) {
        c1 += cb;
        c2 += cn;
        d = d.max((c1 as f64 / n1 - c2 as f64 / n2).abs());
    }
    let en = (n1 * n2 / (n1 + n2)).sqrt();
    TestResult {
        statistic: d,
        p_value: kolmogorov_q((en + 0.12 + 0.11 / en) * d),
    }
}

/// `Q_KS(λ) = 2 Σ (−1)^{j−1} e^{−2 j² λ²}`, the Kolmogorov distribution's tail.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let term = (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        sum += sign * term;
        if term < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// `P(Z > z)` for a standard normal Z.
fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative
/// error below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Gamma(shape, 1) draw (Marsaglia–Tsang; shape below 1 boosted).
fn gamma(shape: f64, rng: &mut Rng) -> f64 {
    if shape < 1.0 {
        let u = rng.unit().max(f64::MIN_POSITIVE);
        return gamma(shape + 1.0, rng) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.unit();
        if u < 1.0 - 0.0331 * x.powi(4)
            || u.max(f64::MIN_POSITIVE).ln() < 0.5 * x * x + d * (1.0 - v + v.ln())
        {
            return d * v;
        }
    }
}

/// A Beta(a, b) draw.
fn beta(a: f64, b: f64, rng: &mut Rng) -> f64 {
    let x = gamma(a, rng);
    let y = gamma(b, rng);
    x / (x + y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::latency_histogram;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = latency_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// Latencies around `median` ns, with a tail, seeded.
    fn run(seed: u64, median: f64, n: usize) -> Histogram<u64> {
        let mut rng = Rng::seed(seed);
        histogram((0..n).map(|_| (median * (0.3 * normal(&mut rng)).exp()) as u64))
    }

    #[test]
    fn the_special_functions_match_known_values() {
        // Φ(1.96) = 0.975, erfc(0) = 1, erfc(1) = 0.157299207.
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
        // Kolmogorov: Q(1.36) ≈ 0.0494 (the 5% critical value), Q(1.63) ≈ 0.0098.
        assert!((kolmogorov_q(1.358_1) - 0.05).abs() < 1e-3);
        assert!((kolmogorov_q(1.627_6) - 0.01).abs() < 1e-3);
        assert_eq!(kolmogorov_q(0.1), 1.0);
    }

    #[test]
    fn beta_draws_have_the_beta_mean() {
        let mut rng = Rng::seed(3);
        for (a, b) in [(2.0, 5.0), (500.0, 500.0), (9_900.0, 101.0), (0.5, 0.5)] {
            let n = 20_000;
            let mean = (0..n).map(|_| beta(a, b, &mut rng)).sum::<f64>() / n as f64;
            let expected = a / (a + b);
            let sd = (a * b / ((a + b).powi(2) * (a + b + 1.0))).sqrt();
            // Five standard errors of the mean.
            assert!(
                (mean - expected).abs() < 5.0 * sd / (n as f64).sqrt(),
                "Beta({a}, {b}): mean {mean}, expected {expected}"
            );
        }
    }

    #[test]
    fn mann_whitney_and_ks_by_hand() {
        // base {1,2,3}, new {4,5,6}: U = 9 (every new above every base), n1 = n2 = 3:
        // mean 4.5, variance 3·3/12·7 = 5.25, z = 4.5/√5.25 = 1.9640.
        let b = Buckets::of(&histogram([1, 2, 3]));
        let n = Buckets::of(&histogram([4, 5, 6]));
        let mw = mann_whitney(&b, &n);
        assert!((mw.statistic - 1.963_961).abs() < 1e-5, "{mw:?}");
        assert!((mw.p_value - 0.049_535).abs() < 1e-4, "{mw:?}");
        let ks = kolmogorov_smirnov(&b, &n);
        assert_eq!(ks.statistic, 1.0);
        // Ties: base {1,1,2}, new {1,2,2}: ranks 1,1,1 → 2; 2,2,2 → 5. R_new =
        // 2 + 5 + 5 = 12, U = 12 − 6 = 6; tie term 2·(27 − 3) = 48;
        // variance = 9/12 · (7 − 48/30) = 4.05; z = 1.5/√4.05 = 0.74536.
        let b = Buckets::of(&histogram([1, 1, 2]));
        let n = Buckets::of(&histogram([1, 2, 2]));
        let mw = mann_whitney(&b, &n);
        assert!((mw.statistic - 0.745_356).abs() < 1e-5, "{mw:?}");
        let ks = kolmogorov_smirnov(&b, &n);
        assert!((ks.statistic - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn two_runs_of_one_distribution_show_no_significant_change() {
        let base = run(1, 15_000.0, 20_000);
        let new = run(2, 15_000.0, 20_000);
        let c = compare(&base, &new, &Thresholds::default()).unwrap();
        assert_eq!(c.verdict, CompareVerdict::NoSignificantChange, "{c:#?}");
        assert!(c.mann_whitney.p_value > 0.01, "{c:#?}");
        assert!(c.kolmogorov_smirnov.p_value > 0.01, "{c:#?}");
        let p50 = &c.percentiles[0];
        assert!(p50.ci_percent.0 < 0.0 && p50.ci_percent.1 > 0.0, "{p50:?}");
    }

    #[test]
    fn a_shifted_distribution_is_a_regression_and_back_an_improvement() {
        let base = run(1, 15_000.0, 20_000);
        let slower = run(2, 215_000.0, 20_000);
        let c = compare(&base, &slower, &Thresholds::default()).unwrap();
        assert_eq!(c.verdict, CompareVerdict::Regression);
        let p50 = &c.percentiles[0];
        assert_eq!(p50.judgement, "regression");
        assert!(p50.delta_ns > 190_000, "{p50:?}");
        assert!(c.mann_whitney.p_value < 1e-6 && c.kolmogorov_smirnov.p_value < 1e-6);
        let back = compare(&slower, &base, &Thresholds::default()).unwrap();
        assert_eq!(back.verdict, CompareVerdict::Improvement);
    }

    #[test]
    fn a_small_shift_below_the_threshold_is_not_a_regression() {
        let base = run(1, 15_000.0, 50_000);
        let new = run(2, 15_600.0, 50_000); // +4%: real, but under 10%
        let c = compare(&base, &new, &Thresholds::default()).unwrap();
        assert_eq!(c.verdict, CompareVerdict::NoSignificantChange, "{c:#?}");
        assert!(
            c.mann_whitney.p_value < 0.01,
            "the tests still see it: {c:#?}"
        );
        let tight = Thresholds {
            confidence: 0.99,
            max_growth_percent: vec![("p50".into(), 1.0)],
        };
        assert_eq!(
            compare(&base, &new, &tight).unwrap().verdict,
            CompareVerdict::Regression
        );
    }

    #[test]
    fn bad_thresholds_and_empty_runs_are_refused() {
        let h = run(1, 1_000.0, 100);
        let bad = Thresholds {
            confidence: 0.99,
            max_growth_percent: vec![("p42".into(), 5.0)],
        };
        assert_eq!(
            compare(&h, &h, &bad).unwrap_err(),
            "threshold \"p42\": expected one of p50, p90, p99, p99.9, p99.99, max"
        );
        let bad = Thresholds {
            confidence: 1.5,
            ..Thresholds::default()
        };
        assert!(compare(&h, &h, &bad)
            .unwrap_err()
            .starts_with("confidence = 1.5"));
        assert!(compare(&latency_histogram(), &h, &Thresholds::default())
            .unwrap_err()
            .starts_with("nothing to compare"));
    }
}
