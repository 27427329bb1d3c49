//! How late ticks left against their schedule: count, sum, min, max and a fixed-size
//! log-linear histogram, fed by the send loop and read by the run's summary.
//!
//! Recording is a few integer operations and never allocates; the whole accumulator
//! is one array of 976 counters (7.6 KiB). Buckets are exact below 32 ns; above,
//! each power of two is split into 16 equal buckets (HdrHistogram's layout), so a
//! bucket is never wider than 1/16 of its lower edge. A quantile is reported as the
//! upper edge of its bucket (capped at the true maximum): an upper bound that
//! overstates by less than 6.25%, never an understatement.
//!
//! ```
//! use ticklab::pace::Lateness;
//! let mut late = Lateness::new();
//! for ns in [0, 0, 3, 7, 1_000] {
//!     late.record(ns);
//! }
//! assert_eq!(late.count(), 5);
//! assert_eq!(late.quantile_ns(0.5), 3);
//! assert_eq!(late.quantile_ns(1.0), 1_000);
//! assert_eq!(late.max_ns(), 1_000);
//! ```

use serde::{Deserialize, Serialize};

/// Linear sub-buckets per power of two, as a bit count.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Values below 2 × SUB have a bucket each; each of the 60 octaves from 2^5 up to
/// 2^64 has SUB buckets: indices run to 60 × SUB + SUB − 1.
const BUCKETS: usize = (64 - SUB_BITS as usize) * SUB + SUB;

/// Departure minus schedule, accumulated.
#[derive(Clone, PartialEq, Eq)]
pub struct Lateness {
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
    buckets: [u64; BUCKETS],
}

/// What a run's summary reports about lateness; quantiles are bucket upper bounds
/// (see the module documentation). All zero when nothing was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatenessSummary {
    pub count: u64,
    pub mean_ns: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
}

/// The bucket holding `v`. Values below 2 × SUB are their own bucket; above, the
/// bits below the leading one and its SUB_BITS followers are dropped.
#[inline]
fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = msb - SUB_BITS;
    let sub = (v >> shift) as usize - SUB; // 0..SUB: the bits after the leading one
    (shift as usize + 1) * SUB + sub
}

/// The smallest and largest value that fall in bucket `index` (< BUCKETS).
fn bucket_bounds(index: usize) -> (u64, u64) {
    if index < SUB {
        return (index as u64, index as u64);
    }
    let shift = (index / SUB - 1) as u32;
    let low = ((SUB + index % SUB) as u64) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Lateness {
    pub const fn new() -> Self {
        Lateness {
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            buckets: [0; BUCKETS],
        }
    }

    /// Records one departure `late_ns` after its due time (0 when on time).
    #[inline]
    pub fn record(&mut self, late_ns: u64) {
        self.count = self.count.saturating_add(1);
        self.sum_ns = self.sum_ns.saturating_add(u128::from(late_ns));
        self.min_ns = self.min_ns.min(late_ns);
        self.max_ns = self.max_ns.max(late_ns);
        let bucket = &mut self.buckets[bucket_of(late_ns)];
        *bucket = bucket.saturating_add(1);
    }

    /// Adds another accumulator's records (one per send thread, say) to this one.
    pub fn merge(&mut self, other: &Lateness) {
        self.count = self.count.saturating_add(other.count);
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// The smallest value recorded; 0 when nothing was.
    pub fn min_ns(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min_ns
        }
    }

    /// The largest value recorded, exactly; 0 when nothing was.
    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// The mean; 0 when nothing was recorded.
    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.count as f64
        }
    }

    /// An upper bound on the `q` quantile (nearest rank: the smallest recorded value
    /// with at least `q` of the records at or below it), within 6.25% above it and
    /// never above the maximum. `q` is clamped to 0..=1 (NaN counts as 0); 0 when
    /// nothing was recorded.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q > 0.0 { q.min(1.0) } else { 0.0 };
        // `as` saturates, and the clamp keeps the rank in 1..=count.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen = seen.saturating_add(n);
            if seen >= rank {
                return bucket_bounds(index).1.min(self.max_ns);
            }
        }
        // Only reachable if bucket counts saturated below `count`.
        self.max_ns
    }

    pub fn summary(&self) -> LatenessSummary {
        LatenessSummary {
            count: self.count,
            mean_ns: self.mean_ns(),
            p50_ns: self.quantile_ns(0.5),
            p99_ns: self.quantile_ns(0.99),
            p999_ns: self.quantile_ns(0.999),
            max_ns: self.max_ns,
        }
    }
}

impl Default for Lateness {
    fn default() -> Self {
        Lateness::new()
    }
}

impl std::fmt::Debug for Lateness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lateness")
            .field("count", &self.count)
            .field("min_ns", &self.min_ns())
            .field("mean_ns", &self.mean_ns())
            .field("max_ns", &self.max_ns)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_exact_below_32_and_tile_the_range() {
        for v in 0..32 {
            assert_eq!(bucket_of(v), v as usize);
            assert_eq!(bucket_bounds(v as usize), (v, v));
        }
        assert_eq!(bucket_bounds(32), (32, 33));
        assert_eq!(bucket_of(33), 32);
        assert_eq!(bucket_of(34), 33);
        assert_eq!(bucket_bounds(48), (64, 67));
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_bounds(BUCKETS - 1), (31 << 59, u64::MAX));
        // Consecutive buckets meet with neither gap nor overlap.
        for i in 1..BUCKETS {
            assert_eq!(bucket_bounds(i).0, bucket_bounds(i - 1).1 + 1, "bucket {i}");
        }
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut late = Lateness::new();
        assert_eq!(late.summary().p99_ns, 0);
        assert_eq!((late.min_ns(), late.max_ns(), late.mean_ns()), (0, 0, 0.0));
        for v in 1..=100 {
            late.record(v);
        }
        // Exact below 32; above, the bucket's upper edge (32..64 has buckets of 2).
        assert_eq!(late.quantile_ns(0.0), 1);
        assert_eq!(late.quantile_ns(f64::NAN), 1);
        assert_eq!(late.quantile_ns(0.25), 25);
        assert_eq!(late.quantile_ns(0.5), 51);
        assert_eq!(late.quantile_ns(0.99), 99); // 96..=99
        assert_eq!(late.quantile_ns(1.0), 100);
        assert_eq!(late.quantile_ns(7.0), 100);
        assert_eq!(late.count(), 100);
        assert_eq!(late.sum_ns(), 5050);
        assert_eq!(late.mean_ns(), 50.5);
        assert_eq!(late.min_ns(), 1);

        // p99 of a mostly on-time run with a slow tail is the tail's bucket.
        let mut late = Lateness::new();
        for _ in 0..990 {
            late.record(0);
        }
        for _ in 0..10 {
            late.record(1_000_000);
        }
        let s = late.summary();
        assert_eq!(
            (s.p50_ns, s.p99_ns, s.p999_ns, s.max_ns),
            (0, 0, 1_000_000, 1_000_000)
        );
        late.record(2_000_000);
        assert_eq!(late.quantile_ns(0.999), 1_015_807); // 1e6 is in 983_040..=1_015_807
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut a = Lateness::new();
        let mut b = Lateness::new();
        let mut all = Lateness::new();
        for v in [5u64, 70, 4_000, u64::MAX, 0] {
            a.record(v);
            all.record(v);
        }
        for v in [9u64, 1 << 40] {
            b.record(v);
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.max_ns(), u64::MAX);
        assert_eq!(
            a.sum_ns(),
            u128::from(u64::MAX) + 5 + 70 + 4_000 + 9 + (1 << 40)
        );
        a.merge(&Lateness::new());
        assert_eq!(a, all);
    }

    #[test]
    fn summary_serialises_for_the_run_report() {
        let mut late = Lateness::new();
        late.record(4);
        assert_eq!(
            serde_json::to_string(&late.summary()).unwrap(),
            r#"{"count":1,"mean_ns":4.0,"p50_ns":4,"p99_ns":4,"p999_ns":4,"max_ns":4}"#
        );
    }

    proptest! {
        #[test]
        fn every_value_lands_in_a_bucket_that_holds_it(v in any::<u64>()) {
            let (low, high) = bucket_bounds(bucket_of(v));
            prop_assert!(low <= v && v <= high);
            prop_assert!(high - low <= low / 16);
        }

        #[test]
        fn quantiles_bound_the_sorted_truth(
            mut values in proptest::collection::vec(
                prop_oneof![0u64..100, 0u64..10_000_000, any::<u64>()], 1..300),
            q in 0.0f64..=1.0,
        ) {
            let mut late = Lateness::new();
            for &v in &values {
                late.record(v);
            }
            values.sort_unstable();
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let truth = values[rank - 1];
            let reported = late.quantile_ns(q);
            prop_assert!(reported >= truth);
            prop_assert!(reported - truth <= truth / 16, "{} vs {}", reported, truth);
            prop_assert!(reported <= *values.last().unwrap());
            prop_assert_eq!(late.max_ns(), *values.last().unwrap());
            prop_assert_eq!(late.min_ns(), values[0]);
        }
    }
}
