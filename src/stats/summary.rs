//! The headline latency numbers of a run, taken from its total histogram, in the shape
//! `summary.json` embeds under `latency_ns`.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::hgrm::java_mean_and_std_deviation;

/// Count, extremes, percentiles and mean of a latency histogram, in nanoseconds.
///
/// Percentiles follow HdrHistogram: `pXX` is the highest value equivalent (within the
/// histogram's 3 significant digits) to the sample at rank ⌈XX% × count⌉, so it never
/// understates; `min` is the lowest value equivalent to the smallest sample and `max`
/// the highest equivalent to the largest. `mean` weights each bucket's middle value
/// (computed as the `.hgrm` footer's, so the two agree).
/// An empty histogram gives all zeros.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Smallest sample.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile (`p999` in JSON, as `summary.json` names it).
    #[serde(rename = "p999")]
    pub p99_9: u64,
    /// 99.99th percentile (`p9999` in JSON).
    #[serde(rename = "p9999")]
    pub p99_99: u64,
    /// Largest sample (at most 60 s: see `clamped`).
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Samples above 60 s, counted in the histogram as 60 s.
    pub clamped: u64,
}

impl LatencySummary {
    /// Summarises `histogram`; `clamped` is how many of its samples were clamped (from
    /// [`crate::stats::IntervalCollector::clamped`]).
    pub fn from_histogram(histogram: &Histogram<u64>, clamped: u64) -> Self {
        if histogram.is_empty() {
            return LatencySummary {
                count: 0,
                min: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p99_9: 0,
                p99_99: 0,
                max: 0,
                mean: 0.0,
                clamped,
            };
        }
        let at = |quantile: f64| histogram.value_at_quantile(quantile);
        LatencySummary {
            count: histogram.len(),
            min: histogram.min(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p99_9: at(0.999),
            p99_99: at(0.9999),
            max: histogram.max(),
            mean: java_mean_and_std_deviation(histogram).0,
            clamped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::latency_histogram;

    #[test]
    fn one_to_ten_thousand() {
        let mut h = latency_histogram();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        let s = LatencySummary::from_histogram(&h, 0);
        assert_eq!(s.count, 10_000);
        assert_eq!(s.min, 1);
        // Exact below 2048; above, 2 ns buckets to 4095 and 4 ns buckets to 8191, and
        // the reported value is the top of the bucket holding the ranked sample.
        assert_eq!(s.p50, 5_003);
        assert_eq!(s.p90, 9_007);
        assert_eq!(s.p99, 9_903);
        assert_eq!(s.p99_9, 9_991);
        assert_eq!(s.p99_99, 9_999);
        assert_eq!(s.max, 10_007);
        assert!((s.mean - 5_000.5).abs() < 1.0, "{}", s.mean);
    }

    #[test]
    fn empty_is_zero_and_json_shape() {
        let s = LatencySummary::from_histogram(&latency_histogram(), 3);
        assert_eq!(s.count, 0);
        assert_eq!(s.max, 0);
        assert_eq!(s.clamped, 3);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"count":0,"min":0,"p50":0,"p90":0,"p99":0,"p999":0,"p9999":0,"max":0,"mean":0.0,"clamped":3}"#
        );
    }

    #[test]
    fn round_trips_through_json() {
        let mut h = latency_histogram();
        h.record_n(1_500, 99).unwrap();
        h.record(2_000_000).unwrap();
        let s = LatencySummary::from_histogram(&h, 0);
        assert_eq!(
            (s.p50, s.p99, s.p99_9, s.max),
            (1_500, 1_500, 2_000_895, 2_000_895)
        );
        let back: LatencySummary =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
