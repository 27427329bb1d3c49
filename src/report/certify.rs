//! Latency certification: a run judged against an SLA, criterion by criterion, in a
//! certificate that names the sha256 of every file it judged, so anyone can check
//! later that nothing was edited after the fact ([`verify`]).
//!
//! An SLA (TOML, [`EXAMPLE_SLA`] shows every key) sets limits per percentile of
//! wire tick-to-trade, the largest non-response rate, the fewest samples, the clock
//! requirement (PTP locked for the whole run, largest |offset|) and a stress
//! section (the run must have replayed at least `rate_multiplier` times the
//! capture's pace, as MiFID II RTS 6 asks of stress tests). A criterion the run has
//! no evidence for (no PTP monitoring, say) fails, saying so: a certificate never
//! passes on missing evidence. An incomplete run never passes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::history::Metric;
use super::{LoadedRun, ReportError};
use crate::lab::results;
use crate::lab::summary::Verdict;

/// The example SLA `ticklab certify --print-example-sla` prints.
pub const EXAMPLE_SLA: &str = r#"# ticklab SLA: what a run must show to be certified. Every section is optional;
# a criterion that is set and has no evidence in the run fails.
name = "order entry, release 2026.11"

# Limits on wire tick-to-trade (TX stamp of the tick to RX stamp of the order), ns.
# Any of: p50, p90, p99, "p99.9", "p99.99", max, mean (quote the ones with a dot: TOML
# reads p99.9 unquoted as a table p99 with a key 9).
[latency_ns]
p50 = 25000
p99 = 100000
"p99.9" = 500000

[responses]
# The largest share of triggers left without an order, percent.
max_non_response_percent = 0.1
# The fewest recorded samples for the percentiles to mean anything (p99.9 needs
# well over 1000).
min_samples = 2000

[clock]
# PTP locked (port SLAVE, a grandmaster) in every sample of the run.
require_ptp_locked = false
# The largest |offset from master| over the run, ns (MiFID II RTS 25: 100000).
# max_offset_ns = 100000

[stress]
# The run must have replayed the feed at least this many times its captured pace
# (pace.mode = "scaled" with factor >= this), as MiFID II RTS 6 asks of stress tests.
# rate_multiplier = 2.0
"#;

/// An SLA file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub latency_ns: BTreeMap<String, u64>,
    #[serde(default)]
    pub responses: Responses,
    #[serde(default)]
    pub clock: ClockSla,
    #[serde(default)]
    pub stress: Stress,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Responses {
    pub max_non_response_percent: Option<f64>,
    pub min_samples: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSla {
    #[serde(default)]
    pub require_ptp_locked: bool,
    pub max_offset_ns: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stress {
    pub rate_multiplier: Option<f64>,
}

/// One criterion as judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub name: String,
    pub limit: String,
    pub measured: String,
    pub pass: bool,
}

/// A judged file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Relative to the certificate's directory when inside it, else as given.
    pub path: String,
    pub sha256: String,
}

/// `certificate.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub sla_name: Option<String>,
    pub run_id: String,
    pub pass: bool,
    pub criteria: Vec<Criterion>,
    pub files: Vec<FileDigest>,
    pub issued_at: String,
    pub ticklab: String,
}

/// Why an SLA cannot be used, naming the file and key.
pub fn parse_sla(path: &Path, text: &str) -> Result<Sla, String> {
    let sla: Sla = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(":{line}")
            })
            .unwrap_or_default();
        format!("{}{at}: {}", path.display(), e.message())
    })?;
    for name in sla.latency_ns.keys() {
        if name.parse::<Metric>().is_err() {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            return Err(format!(
                "{}: latency_ns.{name}: unknown percentile; expected one of {}",
                path.display(),
                names.join(", ")
            ));
        }
    }
    if let Some(m) = sla.stress.rate_multiplier {
        if !(m.is_finite() && m > 0.0) {
            return Err(format!(
                "{}: stress.rate_multiplier = {m}: expected a speed-up above 0, like 2.0",
                path.display()
            ));
        }
    }
    Ok(sla)
}

/// The files a certificate covers: every result file the run wrote.
const JUDGED: [&str; 5] = [
    results::SUMMARY_JSON,
    results::ENV_JSON,
    results::SPEC_TOML,
    results::LATENCY_HLOG,
    results::LATENCY_HGRM,
];

/// Judges `run` against `sla`.
pub fn certify(run: &LoadedRun, sla: &Sla, issued_at: String) -> Result<Certificate, ReportError> {
    let s = &run.summary;
    let mut criteria = Vec::new();
    let mut add = |name: String, limit: String, measured: String, pass: bool| {
        criteria.push(Criterion {
            name,
            limit,
            measured,
            pass,
        })
    };
    add(
        "run complete".into(),
        "verdict complete".into(),
        match s.verdict {
            Verdict::Complete => "complete".into(),
            Verdict::Incomplete => format!("incomplete: {}", s.reasons.join("; ")),
        },
        s.verdict == Verdict::Complete,
    );
    let latency = crate::stats::LatencySummary::from_histogram(&run.histogram, 0);
    for (name, limit) in &sla.latency_ns {
        // parse_sla checked every name.
        let measured = name
            .parse::<Metric>()
            .map_or(latency.max, |m| m.of(&latency).round() as u64);
        add(
            format!("latency {name}"),
            format!("<= {limit} ns"),
            format!("{measured} ns"),
            latency.count > 0 && measured <= *limit,
        );
    }
    if let Some(max) = sla.responses.max_non_response_percent {
        let rate = if s.triggers == 0 {
            None
        } else {
            Some(s.non_responses as f64 / s.triggers as f64 * 100.0)
        };
        add(
            "non-response rate".into(),
            format!("<= {max}%"),
            rate.map_or_else(
                || "no triggers".into(),
                |r| format!("{r:.4}% ({} of {})", s.non_responses, s.triggers),
            ),
            rate.is_some_and(|r| r <= max),
        );
    }
    if let Some(min) = sla.responses.min_samples {
        add(
            "samples".into(),
            format!(">= {min}"),
            latency.count.to_string(),
            latency.count >= min,
        );
    }
    if sla.clock.require_ptp_locked || sla.clock.max_offset_ns.is_some() {
        let sync = run.sync_summary();
        if sla.clock.require_ptp_locked {
            let (measured, pass) = match &sync {
                Some(sync) => (
                    format!(
                        "{} of {} samples in sync, {} losses of sync",
                        sync.in_sync_samples, sync.samples, sync.losses_of_sync
                    ),
                    sync.samples > 0 && sync.in_sync_samples == sync.samples,
                ),
                None => ("no PTP monitoring in this run".into(), false),
            };
            add("PTP locked".into(), "every sample".into(), measured, pass);
        }
        if let Some(max) = sla.clock.max_offset_ns {
            let measured = sync.as_ref().and_then(|s| s.max_abs_offset_ns);
            add(
                "clock offset".into(),
                format!("|offset| <= {max} ns"),
                measured.map_or_else(|| "no PTP offset recorded".into(), |m| format!("{m} ns")),
                measured.is_some_and(|m| m <= max),
            );
        }
    }
    if let Some(multiplier) = sla.stress.rate_multiplier {
        let pace = run.spec.get("pace");
        let mode = pace.and_then(|p| p.get("mode")).and_then(|m| m.as_str());
        let factor = pace
            .and_then(|p| p.get("factor"))
            .and_then(|f| f.as_float().or_else(|| f.as_integer().map(|i| i as f64)));
        let (measured, pass) = match (mode, factor) {
            (Some("scaled"), Some(f)) => (format!("scaled {f}x"), f >= multiplier),
            (Some(mode), _) => (format!("pace.mode = {mode:?}"), false),
            (None, _) => ("no pace in spec.toml".into(), false),
        };
        add(
            "stress rate".into(),
            format!("scaled >= {multiplier}x the captured pace"),
            measured,
            pass,
        );
    }
    let mut files = Vec::new();
    for name in JUDGED {
        let path = run.dir.join(name);
        if path.exists() {
            files.push(FileDigest {
                path: name.to_string(),
                sha256: sha256_file(&path)?,
            });
        }
    }
    let pass = criteria.iter().all(|c| c.pass);
    Ok(Certificate {
        sla_name: sla.name.clone(),
        run_id: s.run_id.clone(),
        pass,
        criteria,
        files,
        issued_at,
        ticklab: crate::build_info::BUILD.one_line(),
    })
}

/// The hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, ReportError> {
    let bytes = std::fs::read(path).map_err(|e| ReportError::file(path, e.to_string()))?;
    let digest = Sha256::digest(&bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    Ok(hex)
}

/// Re-checks a certificate: every file it names, relative to `dir` (the
/// certificate's directory), must still have its digest. Returns the files that
/// differ or are gone, with what changed.
pub fn verify(cert: &Certificate, dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for f in &cert.files {
        let path: PathBuf = dir.join(&f.path);
        match sha256_file(&path) {
            Ok(now) if now == f.sha256 => {}
            Ok(now) => problems.push(format!(
                "{}: sha256 {now}, but the certificate says {}: edited after certification",
                path.display(),
                f.sha256
            )),
            Err(e) => problems.push(e.to_string()),
        }
    }
    problems
}

impl Certificate {
    /// The readable form (`certificate.txt`).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "certificate for run {}{}: {}",
            self.run_id,
            self.sla_name
                .as_ref()
                .map_or_else(String::new, |n| format!(" against {n:?}")),
            if self.pass { "PASS" } else { "FAIL" }
        );
        for c in &self.criteria {
            let _ = writeln!(
                out,
                "  {:<4} {:<20} {:<40} measured {}",
                if c.pass { "pass" } else { "FAIL" },
                c.name,
                c.limit,
                c.measured
            );
        }
        let _ = writeln!(out, "  files judged (sha256):");
        for f in &self.files {
            let _ = writeln!(out, "    {}  {}", f.sha256, f.path);
        }
        let _ = writeln!(out, "  issued {} by {}", self.issued_at, self.ticklab);
        out
    }

    /// The criteria that failed, by name.
    pub fn failed(&self) -> Vec<&str> {
        self.criteria
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_sla_parses_and_bad_keys_are_named() {
        let sla = parse_sla(Path::new("sla.toml"), EXAMPLE_SLA).unwrap();
        assert_eq!(sla.latency_ns["p99"], 100_000);
        assert_eq!(sla.latency_ns["p99.9"], 500_000);
        assert_eq!(sla.responses.min_samples, Some(2000));
        assert!(!sla.clock.require_ptp_locked);
        let err = parse_sla(Path::new("sla.toml"), "[latency_ns]\np42 = 5\n").unwrap_err();
        assert!(err.contains("latency_ns.p42: unknown percentile"), "{err}");
        let err =
            parse_sla(Path::new("sla.toml"), "[responses]\nmax_nonresponse = 1\n").unwrap_err();
        assert!(
            err.starts_with("sla.toml:2: unknown field `max_nonresponse`"),
            "{err}"
        );
        let err = parse_sla(Path::new("sla.toml"), "[stress]\nrate_multiplier = -2\n").unwrap_err();
        assert!(err.contains("stress.rate_multiplier = -2"), "{err}");
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
