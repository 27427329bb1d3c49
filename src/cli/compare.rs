//! `ticklab compare`: is NEW slower than BASE, and is that real or noise? Exit 0 no
//! regression, 1 regression, 2 error, so a CI pipeline can gate on it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ticklab::report::compare::{compare, CompareVerdict, Thresholds};
use ticklab::report::{differences, load_run, render_comparison, Format};

use super::report::FormatArg;

/// Compare two runs' tick-to-trade distributions and judge a regression (exit 1).
///
/// Each percentile's change with a bootstrap confidence interval, Mann-Whitney U and
/// Kolmogorov-Smirnov tests over the recorded buckets, and a verdict under thresholds.
///
/// Example: ticklab compare results/base results/new --threshold p99=5 --confidence 0.99
///
/// Exit status: 0 no regression (improvement or no significant change), 1 regression,
/// 2 error.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompareArgs {
    /// The reference run's results directory.
    pub base: PathBuf,
    /// The run under judgement.
    pub new: PathBuf,
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Thresholds from a TOML file: `confidence = 0.99` and a `[max_growth_percent]`
    /// table (`p50 = 10`, `p99 = 5`, ...).
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,
    /// Allowed growth of one percentile, percent (repeatable; replaces the defaults
    /// p50=10 p99=20 when given): `--threshold p99=5`.
    #[arg(long = "threshold", value_name = "PCT=PERCENT")]
    pub threshold: Vec<String>,
    /// Confidence of the intervals (default 0.99).
    #[arg(long)]
    pub confidence: Option<f64>,
    /// Skip malformed interval-log lines instead of refusing the run.
    #[arg(long)]
    pub lenient: bool,
}

/// Exit status of a comparison that could not be made.
pub const ERROR: u8 = 2;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdsFile {
    confidence: Option<f64>,
    max_growth_percent: Option<std::collections::BTreeMap<String, f64>>,
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    match judge(&args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("ticklab: compare: {e}");
            Ok(ExitCode::from(ERROR))
        }
    }
}

fn judge(args: &CompareArgs) -> Result<ExitCode, String> {
    let mut thresholds = Thresholds::default();
    if let Some(path) = &args.thresholds {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: ThresholdsFile =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        if let Some(c) = file.confidence {
            thresholds.confidence = c;
        }
        if let Some(t) = file.max_growth_percent {
            thresholds.max_growth_percent = t.into_iter().collect();
        }
    }
    if !args.threshold.is_empty() {
        thresholds.max_growth_percent =
            args.threshold
                .iter()
                .map(|t| {
                    let (name, pct) = t.split_once('=').ok_or_else(|| {
                        format!("--threshold {t}: expected PERCENTILE=PERCENT, like p99=5")
                    })?;
                    let pct: f64 = pct.trim_end_matches('%').parse().map_err(|_| {
                        format!("--threshold {t}: {pct:?} is not a number of percent")
                    })?;
                    Ok((name.to_string(), pct))
                })
                .collect::<Result<_, String>>()?;
    }
    if let Some(c) = args.confidence {
        thresholds.confidence = c;
    }
    let base = load_run(&args.base, args.lenient).map_err(|e| e.to_string())?;
    let new = load_run(&args.new, args.lenient).map_err(|e| e.to_string())?;
    let comparison = compare(&base.histogram, &new.histogram, &thresholds)?;
    let mut warnings = differences(&base, &new);
    warnings.extend(base.warnings.iter().cloned());
    warnings.extend(new.warnings.iter().cloned());
    let format = match args.format {
        FormatArg::Text => Format::Text,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Json => Format::Json,
    };
    let text = render_comparison(&base, &new, &comparison, &warnings, format);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(match comparison.verdict {
        CompareVerdict::Regression => ExitCode::from(1),
        CompareVerdict::Improvement | CompareVerdict::NoSignificantChange => ExitCode::SUCCESS,
    })
}
