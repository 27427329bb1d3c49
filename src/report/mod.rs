//! Reports on finished runs: a results directory read back and checked
//! ([`load_run`]), and rendered for people and programs ([`render`]: text, markdown
//! for a pull request, JSON).
//!
//! Reading is strict by default, because a report people act on must not quietly
//! rest on a damaged file: a missing or corrupt `summary.json`, `env.json` or
//! `latency.hlog` is an error naming the file and what is wrong. The one tolerated
//! damage is a cut last line of the interval log (a run killed mid-write), reported
//! as "recovered N intervals; the last line was incomplete". With `lenient`, a
//! malformed line in the middle of the log is skipped and counted too. The run's
//! percentiles come from its interval log (the recorded distribution itself); a
//! log whose count disagrees with `summary.json` is reported, never reconciled.
//!
//! [`compare`] judges two runs' distributions against each other (regression,
//! improvement, no significant change).
//!
//! It never writes into a results directory, except [`plot::write_run_plots`], which
//! `ticklab report` calls to leave the run's plots beside its numbers.
//!
//! ```no_run
//! use ticklab::report::{load_run, render, Format};
//! let run = load_run("results/20261124T222456Z-089a".as_ref(), false)?;
//! print!("{}", render(&run, Format::Markdown));
//! # Ok::<(), ticklab::report::ReportError>(())
//! ```

pub mod certify;
pub mod compare;
pub mod history;
pub mod html;
pub mod plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::lab::results::{self, HostEnv};
use crate::lab::summary::{Summary, Verdict};
use crate::stats::{read_hlog, read_hlog_lenient, Histogram, LatencySummary};

/// Why a results directory cannot be reported on. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {what}")]
    File { path: PathBuf, what: String },
}

impl ReportError {
    fn file(path: &Path, what: impl Into<String>) -> Self {
        ReportError::File {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// A finished run, read back.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub dir: PathBuf,
    pub summary: Summary,
    pub env: HostEnv,
    /// `spec.toml`, the spec as run (placeholders unsubstituted).
    pub spec: toml::Table,
    /// Every interval of `latency.hlog` added together.
    pub histogram: Histogram<u64>,
    /// Intervals read from the log.
    pub intervals: usize,
    /// What was damaged but tolerated (a cut last line, skipped lines, a count that
    /// disagrees with `summary.json`).
    pub warnings: Vec<String>,
}

impl LoadedRun {
    /// The run's PTP sync summary, if it monitored ptp4l.
    pub fn sync_summary(&self) -> Option<crate::time::sync::SyncSummary> {
        self.summary.ptp.clone()
    }
}

/// Output formats of `ticklab report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
    /// One self-contained HTML page with the plots inlined ([`html::render_html`]).
    Html,
}

/// Reads `dir`'s `summary.json`, `env.json` and `latency.hlog`.
pub fn load_run(dir: &Path, lenient: bool) -> Result<LoadedRun, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::file(
            dir,
            "not a results directory (ticklab run writes one per run, under results/)",
        ));
    }
    let summary: Summary = read_json(&dir.join(results::SUMMARY_JSON))?;
    let env: HostEnv = read_json(&dir.join(results::ENV_JSON))?;
    let spec_path = dir.join(results::SPEC_TOML);
    let spec: toml::Table = std::fs::read_to_string(&spec_path)
        .map_err(|e| ReportError::file(&spec_path, e.to_string()))
        .and_then(|text| {
            toml::from_str(&text).map_err(|e| {
                ReportError::file(
                    &spec_path,
                    format!("not the TOML ticklab writes: {}", e.message()),
                )
            })
        })?;
    let hlog_path = dir.join(results::LATENCY_HLOG);
    let bytes =
        std::fs::read(&hlog_path).map_err(|e| ReportError::file(&hlog_path, e.to_string()))?;
    let log = if lenient {
        read_hlog_lenient(&bytes)
    } else {
        read_hlog(&bytes)
    }
    .map_err(|e| {
        let hint = if lenient {
            ""
        } else {
            " (--lenient skips such lines)"
        };
        ReportError::file(&hlog_path, format!("{e}{hint}"))
    })?;
    let mut warnings = Vec::new();
    if let Some(w) = log.warning() {
        warnings.push(format!("{}: {w}", hlog_path.display()));
    }
    let histogram = log
        .merged()
        .map_err(|e| ReportError::file(&hlog_path, e.to_string()))?;
    if histogram.len() != summary.latency_ns.count {
        warnings.push(format!(
            "{}: {} samples, but summary.json counts {}",
            hlog_path.display(),
            histogram.len(),
            summary.latency_ns.count
        ));
    }
    Ok(LoadedRun {
        dir: dir.to_path_buf(),
        summary,
        env,
        spec,
        histogram,
        intervals: log.intervals.len(),
        warnings,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "missing (every finished run writes it; was the run interrupted before its end?)"
                .to_string()
        } else {
            e.to_string()
        };
        ReportError::file(path, what)
    })?;
    serde_json::from_str(&text).map_err(|e| {
        ReportError::file(
            path,
            format!(
                "not the JSON ticklab writes: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// The report's numbers, as `--format json` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct ReportJson<'a> {
    pub run_id: &'a str,
    pub dir: String,
    pub verdict: Verdict,
    pub reasons: &'a [String],
    /// From the interval log.
    pub latency_ns: LatencySummary,
    pub from_schedule_ns: LatencySummary,
    pub counts: Counts,
    pub clock_domain: &'a str,
    pub host: Host<'a>,
    pub build: String,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub ticks_sent: u64,
    pub triggers: u64,
    pub orders_received: u64,
    pub matched: u64,
    pub non_responses: u64,
    pub unsolicited: u64,
    pub duplicates: u64,
    pub late: u64,
    pub stale: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host<'a> {
    pub hostname: &'a str,
    pub kernel: String,
    pub cpu_model: &'a str,
    pub clock_source: &'a str,
    pub tsc: &'a str,
}

/// What every format shows, gathered once.
pub fn report_json(run: &LoadedRun) -> ReportJson<'_> {
    let s = &run.summary;
    let e = &run.env;
    let mut warnings = run.warnings.clone();
    warnings.extend(s.warnings.iter().cloned());
    ReportJson {
        run_id: &s.run_id,
        dir: run.dir.display().to_string(),
        verdict: s.verdict,
        reasons: &s.reasons,
        latency_ns: LatencySummary::from_histogram(&run.histogram, s.latency_ns.clamped),
        from_schedule_ns: s.from_schedule_ns,
        counts: Counts {
            ticks_sent: s.ticks_sent,
            triggers: s.triggers,
            orders_received: s.orders_received,
            matched: s.matched,
            non_responses: s.non_responses,
            unsolicited: s.unsolicited,
            duplicates: s.duplicates,
            late: s.late,
            stale: s.stale,
        },
        clock_domain: &s.clock_domain,
        host: Host {
            hostname: &e.hostname,
            kernel: format!("{} {}", e.kernel.sysname, e.kernel.release),
            cpu_model: &e.cpu_model,
            clock_source: &e.clock_source,
            tsc: &e.tsc,
        },
        build: format!(
            "ticklab {} ({}, {}, {})",
            e.build.version, e.build.git_rev, e.build.profile, e.build.rustc
        ),
        warnings,
    }
}

/// The report in `format`.
pub fn render(run: &LoadedRun, format: Format) -> String {
    let r = report_json(run);
    match format {
        Format::Json => {
            let mut out = serde_json::to_string_pretty(&r).unwrap_or_default();
            out.push('\n');
            out
        }
        Format::Text => render_text(&r),
        Format::Markdown => render_markdown(&r),
        Format::Html => html::render_html(run),
    }
}

/// (label, value) rows of the latency table, in ns.
fn percentile_rows(l: &LatencySummary) -> [(&'static str, u64); 7] {
    [
        ("min", l.min),
        ("p50", l.p50),
        ("p90", l.p90),
        ("p99", l.p99),
        ("p99.9", l.p99_9),
        ("p99.99", l.p99_99),
        ("max", l.max),
    ]
}

fn verdict_line(r: &ReportJson<'_>) -> String {
    match r.verdict {
        Verdict::Complete => "complete".into(),
        Verdict::Incomplete => format!("INCOMPLETE: {}", r.reasons.join("; ")),
    }
}

fn render_text(r: &ReportJson<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "run {} ({})", r.run_id, r.dir);
    let _ = writeln!(out, "  verdict       {}", verdict_line(r));
    let _ = writeln!(out, "  clock         {}", r.clock_domain);
    let _ = writeln!(
        out,
        "  host          {} ({}, {}, clock source {}, TSC {})",
        r.host.hostname, r.host.kernel, r.host.cpu_model, r.host.clock_source, r.host.tsc
    );
    let _ = writeln!(out, "  build         {}", r.build);
    let _ = writeln!(out, "  tick-to-trade (ns)      wire   from schedule");
    for ((name, wire), (_, sched)) in percentile_rows(&r.latency_ns)
        .into_iter()
        .zip(percentile_rows(&r.from_schedule_ns))
    {
        let _ = writeln!(out, "    {name:<10} {wire:>14} {sched:>15}");
    }
    let _ = writeln!(
        out,
        "    {:<10} {:>14.1} {:>15.1}",
        "mean", r.latency_ns.mean, r.from_schedule_ns.mean
    );
    let _ = writeln!(
        out,
        "    {:<10} {:>14} {:>15}",
        "count", r.latency_ns.count, r.from_schedule_ns.count
    );
    let c = &r.counts;
    let _ = writeln!(
        out,
        "  ticks         {} sent, {} triggers, {} matched, {} non-responses",
        c.ticks_sent, c.triggers, c.matched, c.non_responses
    );
    let _ = writeln!(
        out,
        "  orders        {} received, {} unsolicited, {} duplicates, {} late, {} stale",
        c.orders_received, c.unsolicited, c.duplicates, c.late, c.stale
    );
    for w in &r.warnings {
        let _ = writeln!(out, "  warning       {w}");
    }
    out
}

fn render_markdown(r: &ReportJson<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### ticklab run `{}`\n", r.run_id);
    let _ = writeln!(out, "**Verdict:** {}  ", verdict_line(r));
    let _ = writeln!(out, "**Clock:** {}  ", r.clock_domain);
    let _ = writeln!(
        out,
        "**Host:** {} ({}, {}; clock source {}, TSC {})  ",
        r.host.hostname, r.host.kernel, r.host.cpu_model, r.host.clock_source, r.host.tsc
    );
    let _ = writeln!(out, "**Build:** {}\n", r.build);
    let _ = writeln!(out, "| tick-to-trade | wire (ns) | from schedule (ns) |");
    let _ = writeln!(out, "| --- | ---: | ---: |");
    for ((name, wire), (_, sched)) in percentile_rows(&r.latency_ns)
        .into_iter()
        .zip(percentile_rows(&r.from_schedule_ns))
    {
        let _ = writeln!(out, "| {name} | {wire} | {sched} |");
    }
    let _ = writeln!(
        out,
        "| mean | {:.1} | {:.1} |",
        r.latency_ns.mean, r.from_schedule_ns.mean
    );
    let _ = writeln!(
        out,
        "| count | {} | {} |\n",
        r.latency_ns.count, r.from_schedule_ns.count
    );
    let c = &r.counts;
    let _ = writeln!(
        out,
        "Ticks: {} sent, {} triggers, {} matched, {} non-responses. Orders: {} received, {} unsolicited, {} duplicates, {} late, {} stale.",
        c.ticks_sent, c.triggers, c.matched, c.non_responses, c.orders_received, c.unsolicited, c.duplicates, c.late, c.stale
    );
    for w in &r.warnings {
        let _ = writeln!(out, "\n> warning: {w}");
    }
    out
}

/// What differs between two runs that makes their comparison suspect: clock domain,
/// host, CPU, build. Empty when they are alike.
pub fn differences(base: &LoadedRun, new: &LoadedRun) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |what: &str, a: &str, b: &str| {
        if a != b {
            out.push(format!("{what} differs: {a} (base) vs {b} (new)"));
        }
    };
    differ(
        "clock domain",
        &base.summary.clock_domain,
        &new.summary.clock_domain,
    );
    differ("host", &base.env.hostname, &new.env.hostname);
    differ("CPU", &base.env.cpu_model, &new.env.cpu_model);
    differ("kernel", &base.env.kernel.release, &new.env.kernel.release);
    differ("build", &base.env.build.git_rev, &new.env.build.git_rev);
    differ(
        "build profile",
        &base.env.build.profile,
        &new.env.build.profile,
    );
    // The command as the spec wrote it: substituted ports differ on every run.
    let dut = |r: &LoadedRun| match r.spec.get("dut").and_then(|d| d.get("command")) {
        Some(toml::Value::Array(args)) => args
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        _ => "external".to_string(),
    };
    differ("DUT command", &dut(base), &dut(new));
    out
}

/// A comparison for people: the percentile table with intervals, the tests, the
/// warnings and the verdict.
pub fn render_comparison(
    base: &LoadedRun,
    new: &LoadedRun,
    c: &compare::Comparison,
    warnings: &[String],
    format: Format,
) -> String {
    if format == Format::Json {
        let v = serde_json::json!({
            "base": base.dir.display().to_string(),
            "new": new.dir.display().to_string(),
            "comparison": c,
            "warnings": warnings,
            "verdict": c.verdict.name(),
        });
        return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    }
    let md = format == Format::Markdown;
    let mut out = String::new();
    let conf = c.confidence * 100.0;
    if md {
        let _ = writeln!(out, "### ticklab compare: **{}**\n", c.verdict.name());
        let _ = writeln!(
            out,
            "base `{}` ({} samples) vs new `{}` ({} samples)\n",
            base.summary.run_id, c.base_count, new.summary.run_id, c.new_count
        );
        let _ = writeln!(out, "| percentile | base (ns) | new (ns) | change | {conf:.0}% interval | threshold | judgement |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    } else {
        let _ = writeln!(
            out,
            "base {} ({} samples) vs new {} ({} samples)",
            base.dir.display(),
            c.base_count,
            new.dir.display(),
            c.new_count
        );
        let _ = writeln!(
            out,
            "  {:<8} {:>12} {:>12} {:>9} {:>22} {:>10}  judgement",
            "",
            "base ns",
            "new ns",
            "change",
            format!("{conf:.0}% interval"),
            "threshold"
        );
    }
    for p in &c.percentiles {
        let threshold = p
            .threshold_percent
            .map_or_else(|| "-".to_string(), |t| format!("+{t}%"));
        let interval = format!("[{:+.1}%, {:+.1}%]", p.ci_percent.0, p.ci_percent.1);
        if md {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:+.1}% | {interval} | {threshold} | {} |",
                p.name, p.base_ns, p.new_ns, p.delta_percent, p.judgement
            );
        } else {
            let _ = writeln!(
                out,
                "  {:<8} {:>12} {:>12} {:>+8.1}% {:>22} {:>10}  {}",
                p.name, p.base_ns, p.new_ns, p.delta_percent, interval, threshold, p.judgement
            );
        }
    }
    let tests = format!(
        "Mann-Whitney U: z = {:.2}, p = {:.3e}; Kolmogorov-Smirnov: D = {:.4}, p = {:.3e}",
        c.mann_whitney.statistic,
        c.mann_whitney.p_value,
        c.kolmogorov_smirnov.statistic,
        c.kolmogorov_smirnov.p_value
    );
    if md {
        let _ = writeln!(out, "\n{tests}");
        for w in warnings {
            let _ = writeln!(out, "\n> warning: {w}");
        }
    } else {
        let _ = writeln!(out, "  {tests}");
        for w in warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        let _ = writeln!(out, "  verdict: {}", c.verdict.name());
    }
    out
}
