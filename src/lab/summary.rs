//! `summary.json`: what one run measured and whether the measurement is whole, and
//! the report printed at the end of `ticklab run`.
//!
//! The verdict is `complete` only when every tick sent was accounted for by a run
//! that ended as planned; anything else (Ctrl-C, the DUT gone mid-run, ticks the
//! correlator could not track, orders the lab could not take) makes it `incomplete`
//! with every reason listed, and everything measured until then is still reported.
//! Numbers are never dropped to make a run look whole.

use serde::{Deserialize, Serialize};

use crate::pace::LatenessSummary;
use crate::stats::LatencySummary;

/// Whether a run measured what it set out to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Complete,
    Incomplete,
}

/// The contents of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub run_id: String,
    pub verdict: Verdict,
    /// Why the run is incomplete (empty when complete).
    pub reasons: Vec<String>,
    /// Things worth knowing that do not make the run incomplete.
    pub warnings: Vec<String>,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// From the first tick sent to the last.
    pub feed_duration_s: f64,
    /// Wire tick-to-trade: the TX stamp of the tick's frame to the RX stamp of the
    /// order's frame.
    pub latency_ns: LatencySummary,
    /// The tick's scheduled send time to the order's RX stamp (coordinated-omission
    /// safe: a late sender does not hide its lateness).
    pub from_schedule_ns: LatencySummary,
    pub ticks_sent: u64,
    /// Ticks marked as expecting an order.
    pub triggers: u64,
    pub not_triggering: u64,
    pub orders_received: u64,
    pub matched: u64,
    pub non_responses: u64,
    pub unsolicited: u64,
    pub duplicates: u64,
    /// Orders for a tick whose timeout had passed (the tick counts as a non-response).
    pub late: u64,
    /// Orders naming a tick older than the correlator remembers.
    pub stale: u64,
    /// Matched orders whose RX stamp is before the tick's TX stamp: no sample.
    pub negative: u64,
    /// Ticks the correlator could not track (its ring was full of pending ticks).
    pub overflowed: u64,
    /// Matched samples of warm-up ticks, not recorded.
    pub warmup_samples: u64,
    /// Orders the gateway thread could not hand over.
    pub orders_lost: u64,
    /// The clock domain of every latency figure ("kernel-software", ...).
    pub clock_domain: String,
    pub timestamps: TimestampCounts,
    pub feed: FeedReport,
    pub gateway: GatewayReport,
    pub dut: Option<DutReport>,
    /// The `.hgrm` files' value unit: values are divided by this (1000: µs).
    pub hgrm_unit_ratio: f64,
    /// ptp4l's sync over the run (`clock.log` has every sample); `None` when ptp4l
    /// did not answer on `clock.ptp_uds`.
    #[serde(default)]
    pub ptp: Option<crate::time::sync::SyncSummary>,
}

/// Where stamps fell back to a later instant of the same clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimestampCounts {
    /// Datagrams whose kernel TX stamp never came; their ticks used the user-space
    /// send time.
    pub tx_unstamped_datagrams: u64,
    /// Order-session reads without a kernel RX stamp; stamped at read time.
    pub rx_unstamped_reads: u64,
    /// With `network.tap`: what the tap stamped and what it missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tap: Option<crate::lab::tap::TapCounts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedReport {
    pub source: String,
    pub pace: String,
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    /// How the feed ended: "exhausted", "limit", "stopped".
    pub end: String,
    /// Departure minus schedule of every datagram.
    pub lateness: LatenessSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayReport {
    pub listen: String,
    pub peer: Option<String>,
    pub close_reason: Option<String>,
    pub orderly_close: bool,
    pub other_messages: u64,
    pub bad_orders: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutReport {
    pub command: Vec<String>,
    pub status: String,
    pub stopped_by: String,
}

impl Summary {
    /// The report printed at the end of a run.
    pub fn render_text(&self, dir: &std::path::Path) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let l = &self.latency_ns;
        let s = &self.from_schedule_ns;
        let _ = writeln!(out, "ticklab run {}", self.run_id);
        let _ = writeln!(
            out,
            "  feed       {} ({}), {} datagrams in {:.1} s",
            self.feed.source, self.feed.pace, self.feed.datagrams_sent, self.feed_duration_s
        );
        let _ = writeln!(out, "  clock      {}", self.clock_domain);
        let _ = writeln!(
            out,
            "  tick-to-trade (ns)   {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "min", "p50", "p90", "p99", "p99.9", "p99.99", "max"
        );
        for (name, x) in [("wire", l), ("from schedule", s)] {
            let _ = writeln!(
                out,
                "  {:<20} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                name, x.min, x.p50, x.p90, x.p99, x.p99_9, x.p99_99, x.max
            );
        }
        let _ = writeln!(
            out,
            "  samples    {} (mean {:.0} ns; {} warm-up not recorded)",
            l.count, l.mean, self.warmup_samples
        );
        let _ = writeln!(
            out,
            "  ticks      {} sent: {} matched, {} non-responses, {} not triggering, {} overflowed",
            self.ticks_sent, self.matched, self.non_responses, self.not_triggering, self.overflowed
        );
        let _ = writeln!(
            out,
            "  orders     {} received: {} matched, {} unsolicited, {} duplicates, {} late, {} stale",
            self.orders_received,
            self.matched,
            self.unsolicited,
            self.duplicates,
            self.late,
            self.stale
        );
        let _ = writeln!(
            out,
            "  pacing     late by p50 {} ns, p99 {} ns, max {} ns",
            self.feed.lateness.p50_ns, self.feed.lateness.p99_ns, self.feed.lateness.max_ns
        );
        for w in &self.warnings {
            let _ = writeln!(out, "  warning    {w}");
        }
        match self.verdict {
            Verdict::Complete => {
                let _ = writeln!(out, "  verdict    complete");
            }
            Verdict::Incomplete => {
                let _ = writeln!(out, "  verdict    INCOMPLETE: {}", self.reasons.join("; "));
            }
        }
        let _ = writeln!(out, "  results    {}", dir.display());
        out
    }
}
