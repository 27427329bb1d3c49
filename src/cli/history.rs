//! `ticklab history`: a metric's trend over the runs in a results directory.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ticklab::report::history::{collect_history, Metric};
use ticklab::report::plot::{write_atomically, ImageFormat};

use super::report::BadRun;
use super::UsageError;

/// Show one latency metric over every run in a results directory, oldest first, as
/// a table (date, run id, build, metric, verdict) and a plot (DIR/history.svg).
///
/// Example: ticklab history --metric p99.9 results/
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The directory holding the runs' results directories.
    #[arg(default_value = "results")]
    pub dir: PathBuf,
    /// p50, p90, p99, p99.9, p99.99, max or mean.
    #[arg(long, default_value = "p99", value_parser = parse_metric)]
    pub metric: Metric,
    /// Where to write the plot (.svg or .png); default DIR/history.svg.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Skip (and count) malformed lines in the middle of interval logs.
    #[arg(long)]
    pub lenient: bool,
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    s.parse()
}

pub fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.dir.join("history.svg"));
    let format = ImageFormat::from_path(&out).map_err(|e| UsageError(e.to_string()))?;
    let history = collect_history(&args.dir, args.metric, args.lenient).map_err(BadRun::from)?;
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    stdout.write_all(history.render_table().as_bytes())?;
    stdout.flush()?;
    if history.runs.is_empty() {
        eprintln!(
            "ticklab: history: no readable run in {}; no plot written",
            args.dir.display()
        );
        return Ok(ExitCode::from(super::exit::DATA));
    }
    write_atomically(&out, &history.plot(format)?)?;
    eprintln!("ticklab: history: plot written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
