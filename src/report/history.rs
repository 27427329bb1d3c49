//! `ticklab history`: one latency metric across every run in a results directory,
//! by date and build, as a table and a plot ([`super::plot::render_trend`]).
//!
//! Every subdirectory is taken as a run and read with [`super::load_run`] (so the
//! metric comes from the run's interval log, the recorded distribution). One that
//! does not load is skipped, listed with the reason, and counted, never guessed
//! at; plain files beside the runs are ignored. Runs are ordered by `started_at`
//! (RFC 3339 UTC, so text order is time order), then by run id. It never writes
//! anything; the caller decides where the plot goes.
//!
//! ```
//! use ticklab::report::history::Metric;
//! let metric: Metric = "p99.9".parse()?;
//! assert_eq!(metric.name(), "p99.9");
//! assert!("p42".parse::<Metric>().is_err());
//! # Ok::<(), String>(())
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plot::{render_trend, ImageFormat, PlotError, TrendPoint};
use super::{load_run, ReportError};
use crate::lab::summary::Verdict;
use crate::stats::LatencySummary;

/// The metric a history follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    P50,
    P90,
    P99,
    P99_9,
    P99_99,
    Max,
    Mean,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::P50,
        Metric::P90,
        Metric::P99,
        Metric::P99_9,
        Metric::P99_99,
        Metric::Max,
        Metric::Mean,
    ];

    /// As written on the command line: `p50`, `p90`, `p99`, `p99.9`, `p99.99`,
    /// `max`, `mean`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::P99_9 => "p99.9",
            Metric::P99_99 => "p99.99",
            Metric::Max => "max",
            Metric::Mean => "mean",
        }
    }

    /// Its value in `summary`, in nanoseconds.
    pub fn of(self, summary: &LatencySummary) -> f64 {
        match self {
            Metric::P50 => summary.p50 as f64,
            Metric::P90 => summary.p90 as f64,
            Metric::P99 => summary.p99 as f64,
            Metric::P99_9 => summary.p99_9 as f64,
            Metric::P99_99 => summary.p99_99 as f64,
            Metric::Max => summary.max as f64,
            Metric::Mean => summary.mean,
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                format!("unknown metric {s:?}; one of {}", names.join(", "))
            })
    }
}

/// One run of a history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRun {
    pub started_at: String,
    pub run_id: String,
    /// The ticklab build's git revision (`env.json`).
    pub git_rev: String,
    pub verdict: Verdict,
    /// The metric, in nanoseconds.
    pub value_ns: f64,
    pub dir: PathBuf,
}

/// A directory that is not a readable run, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedDir {
    pub dir: PathBuf,
    pub why: String,
}

/// The metric over a results directory's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub metric: Metric,
    /// Oldest first.
    pub runs: Vec<HistoryRun>,
    /// In directory-name order.
    pub skipped: Vec<SkippedDir>,
}

/// Reads every run directory in `results` (strictly, or with `lenient` interval
/// logs). Fails only when `results` itself cannot be listed.
pub fn collect_history(
    results: &Path,
    metric: Metric,
    lenient: bool,
) -> Result<History, ReportError> {
    let list_error = |e: std::io::Error| {
        ReportError::file(results, format!("cannot list the results directory: {e}"))
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(results).map_err(list_error)? {
        let path = entry.map_err(list_error)?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for dir in dirs {
        match load_run(&dir, lenient) {
            Ok(run) => {
                let latency =
                    LatencySummary::from_histogram(&run.histogram, run.summary.latency_ns.clamped);
                runs.push(HistoryRun {
                    started_at: run.summary.started_at.clone(),
                    run_id: run.summary.run_id.clone(),
                    git_rev: run.env.build.git_rev.clone(),
                    verdict: run.summary.verdict,
                    value_ns: metric.of(&latency),
                    dir,
                });
            }
            Err(e) => skipped.push(SkippedDir {
                dir,
                why: e.to_string(),
            }),
        }
    }
    runs.sort_by(|a, b| (&a.started_at, &a.run_id).cmp(&(&b.started_at, &b.run_id)));
    Ok(History {
        metric,
        runs,
        skipped,
    })
}

impl History {
    /// The table for a terminal: one row per run, then the skipped directories.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let metric = format!("{} (ns)", self.metric.name());
        let date_width = self
            .runs
            .iter()
            .map(|r| r.started_at.len())
            .max()
            .unwrap_or(0)
            .max(7);
        let id_width = self
            .runs
            .iter()
            .map(|r| r.run_id.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let rev_width = self
            .runs
            .iter()
            .map(|r| r.git_rev.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let _ = writeln!(
            out,
            "{:<date_width$}  {:<id_width$}  {:<rev_width$}  {:>14}  verdict",
            "started", "run id", "build", metric
        );
        for r in &self.runs {
            let value = if self.metric == Metric::Mean {
                format!("{:.1}", r.value_ns)
            } else {
                format!("{:.0}", r.value_ns)
            };
            let verdict = match r.verdict {
                Verdict::Complete => "complete",
                Verdict::Incomplete => "INCOMPLETE",
            };
            let _ = writeln!(
                out,
                "{:<date_width$}  {:<id_width$}  {:<rev_width$}  {value:>14}  {verdict}",
                r.started_at, r.run_id, r.git_rev
            );
        }
        let _ = writeln!(
            out,
            "{} runs; {} directories skipped",
            self.runs.len(),
            self.skipped.len()
        );
        for s in &self.skipped {
            let _ = writeln!(out, "skipped {}: {}", s.dir.display(), s.why);
        }
        out
    }

    /// The trend plot, labelled by each run's date and build.
    pub fn plot(&self, format: ImageFormat) -> Result<Vec<u8>, PlotError> {
        let points: Vec<TrendPoint> = self
            .runs
            .iter()
            .map(|r| TrendPoint {
                label: format!(
                    "{} {}",
                    r.started_at.get(..10).unwrap_or(&r.started_at),
                    short_rev(&r.git_rev)
                ),
                value_ns: r.value_ns,
            })
            .collect();
        render_trend(self.metric.name(), &points, format)
    }
}

/// The first 8 characters of a revision (a `-dirty` suffix kept).
fn short_rev(rev: &str) -> String {
    let (hash, dirty) = match rev.strip_suffix("-dirty") {
        Some(hash) => (hash, "-dirty"),
        None => (rev, ""),
    };
    format!("{}{dirty}", hash.get(..8).unwrap_or(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse_and_pick_their_value() {
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            ["p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"]
        );
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>(), Ok(m));
        }
        assert_eq!(
            "p95".parse::<Metric>(),
            Err(
                "unknown metric \"p95\"; one of p50, p90, p99, p99.9, p99.99, max, mean"
                    .to_string()
            )
        );
        let s = LatencySummary {
            count: 10,
            min: 1,
            p50: 2,
            p90: 3,
            p99: 4,
            p99_9: 5,
            p99_99: 6,
            max: 7,
            mean: 2.5,
            clamped: 0,
        };
        let values: Vec<f64> = Metric::ALL.iter().map(|m| m.of(&s)).collect();
        assert_eq!(values, [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 2.5]);
    }

    #[test]
    fn short_revisions_keep_dirty() {
        assert_eq!(short_rev("79ab161c0ffee00112233"), "79ab161c");
        assert_eq!(short_rev("79ab161c0ffee-dirty"), "79ab161c-dirty");
        assert_eq!(short_rev("unknown"), "unknown");
    }

    #[test]
    fn unreadable_dirs_are_skipped_with_their_reason_and_files_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("broken")).unwrap();
        std::fs::write(tmp.path().join("broken/summary.json"), "{").unwrap();
        std::fs::write(tmp.path().join("README.md"), "baselines").unwrap();
        let h = collect_history(tmp.path(), Metric::P99, false).unwrap();
        assert!(h.runs.is_empty());
        assert_eq!(h.skipped.len(), 1);
        assert_eq!(h.skipped[0].dir, tmp.path().join("broken"));
        assert!(
            h.skipped[0]
                .why
                .contains("summary.json: not the JSON ticklab writes"),
            "{}",
            h.skipped[0].why
        );
        let table = h.render_table();
        assert!(
            table.contains("0 runs; 1 directories skipped\nskipped "),
            "{table}"
        );
        let err = h.plot(ImageFormat::Svg).unwrap_err();
        assert_eq!(
            err.to_string(),
            "history: nothing to plot: no run could be read"
        );
        let missing = collect_history(&tmp.path().join("nope"), Metric::P99, false).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("nope: cannot list the results directory"),
            "{missing}"
        );
    }
}
