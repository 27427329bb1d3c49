//! `ticklab plot`: one plot of one or more runs, to an SVG or PNG file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ticklab::report::load_run;
use ticklab::report::plot::{
    read_intervals, render, write_atomically, ImageFormat, PlotKind, Series,
};

use super::report::BadRun;
use super::UsageError;

/// Plot runs: percentiles on the "nines" axis (several runs on one chart), latency
/// over time from the interval log, or a histogram; SVG or PNG by the file name.
///
/// Example: ticklab plot results/base results/new --out p.svg --kind percentiles
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The runs' results directories.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The file to write: .svg or .png.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = KindArg::Percentiles)]
    pub kind: KindArg,
    /// Skip (and count) malformed lines in the middle of interval logs.
    #[arg(long)]
    pub lenient: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Percentiles,
    OverTime,
    Histogram,
}

pub fn run(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let format = ImageFormat::from_path(&args.out).map_err(|e| UsageError(e.to_string()))?;
    let kind = match args.kind {
        KindArg::Percentiles => PlotKind::Percentiles,
        KindArg::OverTime => PlotKind::OverTime,
        KindArg::Histogram => PlotKind::Histogram,
    };
    let mut loaded = Vec::new();
    for dir in &args.runs {
        let run = load_run(dir, args.lenient).map_err(BadRun::from)?;
        let intervals = if kind == PlotKind::OverTime {
            read_intervals(&run).map_err(BadRun::from)?
        } else {
            Vec::new()
        };
        for w in &run.warnings {
            eprintln!("ticklab: {w}");
        }
        loaded.push((run, intervals));
    }
    let series: Vec<Series<'_>> = loaded
        .iter()
        .map(|(run, intervals)| Series {
            name: &run.summary.run_id,
            histogram: &run.histogram,
            intervals,
        })
        .collect();
    let bytes = render(kind, &series, format)?;
    write_atomically(&args.out, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
