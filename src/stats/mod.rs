//! The stats room: latency recording on the measuring thread, interval histograms
//! handed to a control thread, HdrHistogram interval logs (`.hlog`), percentile
//! distributions (`.hgrm`) and the summary numbers a run reports.
//!
//! Every latency is a `u64` count of nanoseconds recorded into an HdrHistogram
//! ([`latency_histogram`]: 1 ns to 60 s at 3 significant digits, a fixed size of about
//! 220 KiB, never resized). The measuring thread owns a [`Recorder`]; its partner, an
//! [`IntervalCollector`] on a control thread, asks for the current interval, gets back
//! the full histogram with its start and end times, adds it to a run total, and returns
//! the histogram (reset) for reuse. Histograms travel between the two through two
//! wait-free single-producer single-consumer rings, so the recording thread never
//! allocates, locks, makes a system call or logs, and never reads a clock (the caller
//! passes its own timestamps). A run that measures two figures per sample (wire
//! tick-to-trade and from-schedule) owns two recorder/collector pairs.
//!
//! Output matches the reference (Java) HdrHistogram so its tools read ours:
//! [`HlogWriter`] writes interval log format 1.3 with V2 compressed histograms, one
//! interval at a time, and [`read_hlog`] reads one back; [`write_percentile_distribution`]
//! prints a histogram exactly as Java's `outputPercentileDistribution` does, line for
//! line (`tests/hdr_interop.rs` checks both against `HistogramLogProcessor`).
//! [`LatencySummary`] is the run's headline numbers, serialisable for `summary.json`.
//!
//! ```
//! use ticklab::stats::{interval_recorder, write_percentile_distribution, HlogWriter, LatencySummary};
//!
//! let start_ns = 1_767_605_400_000_000_000; // the caller's clock, ns since the epoch
//! let (mut recorder, mut collector) = interval_recorder(start_ns);
//! let mut log = HlogWriter::new(Vec::new(), start_ns, Some("example run"))?;
//!
//! // Measuring thread: record, and offer a swap once per loop.
//! for latency_ns in [850, 920, 1_040, 7_300] {
//!     recorder.record(latency_ns);
//! }
//! collector.request_interval(); // control thread: "end the interval when you can"
//! assert!(recorder.maybe_swap(start_ns + 1_000_000_000));
//!
//! // Control thread: log each finished interval; the total accumulates.
//! collector.drain(|interval| -> Result<(), Box<dyn std::error::Error>> {
//!     log.append(interval)?;
//!     Ok(())
//! })?;
//! assert_eq!(collector.total().len(), 4);
//!
//! let summary = LatencySummary::from_histogram(collector.total(), collector.clamped());
//! assert_eq!((summary.count, summary.min, summary.max), (4, 850, 7_303));
//!
//! let mut hgrm = Vec::new();
//! write_percentile_distribution(&mut hgrm, collector.total(), 5, 1000.0)?; // in µs
//! assert!(String::from_utf8(hgrm)?.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod hgrm;
mod hlog;
mod recorder;
mod summary;

pub use hgrm::{write_percentile_distribution, JavaPercentiles, PercentileStep};
pub use hlog::{read_hlog, read_hlog_lenient, HlogError, HlogInterval, HlogLog, HlogWriter};
pub use recorder::{interval_recorder, Interval, IntervalCollector, Recorder, StatsError};
pub use summary::LatencySummary;

/// The histogram type every latency goes into: counts of nanoseconds.
pub use hdrhistogram::Histogram;

/// The lowest value the histogram tells apart from its neighbours: 1 ns. A latency of
/// 0 ns (two timestamps from one clock tick) is still recorded, as 0.
pub const LOWEST_DISCERNIBLE_NS: u64 = 1;
/// The highest latency recorded as itself: 60 s. Anything above is recorded as this
/// value and counted as clamped.
pub const HIGHEST_TRACKABLE_NS: u64 = 60_000_000_000;
/// Decimal digits of precision kept at every magnitude: a recorded value is within
/// 0.1% of the true one (1 ns steps up to 2 µs, 64 ns steps around 100 µs).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A new, empty latency histogram: 1 ns to 60 s at 3 significant digits, auto-resize
/// off. It allocates its whole counts array (about 220 KiB) here, once.
pub fn latency_histogram() -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail (low >= 1, high >= 2 * low, sigfig <= 5).
    match Histogram::new_with_bounds(
        LOWEST_DISCERNIBLE_NS,
        HIGHEST_TRACKABLE_NS,
        SIGNIFICANT_DIGITS,
    ) {
        Ok(histogram) => histogram,
        Err(error) => unreachable!("constant histogram bounds rejected: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histogram_has_the_documented_shape() {
        let h = latency_histogram();
        assert_eq!(h.low(), 1);
        assert_eq!(h.high(), 60_000_000_000);
        assert_eq!(h.sigfig(), 3);
        assert!(!h.is_auto_resize());
        // 2048 sub-buckets (half of them per bucket after the first) over 26 buckets:
        // 2^10 * 2^26 = 68.7 s is the first power of two above 60 s.
        assert_eq!(h.buckets(), 26);
        assert_eq!(h.distinct_values(), 27 * 1024);
        // 1 ns steps up to 2047 ns; exact 60 s is representable within 0.1%.
        assert_eq!(h.highest_equivalent(2047), 2047);
        assert!(h.highest_equivalent(HIGHEST_TRACKABLE_NS) - HIGHEST_TRACKABLE_NS < 60_000_000);
    }
}
