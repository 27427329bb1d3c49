//! `ticklab report`: a finished run's numbers, for a terminal, a pull request, a
//! program or a browser; and its plots, written beside its results.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ticklab::report::plot::{read_intervals, write_run_plots};
use ticklab::report::{load_run, render, Format, ReportError};

/// Report on a finished run: percentiles, counts, clock, host, build and verdict;
/// and write its plots into its directory (percentiles, over-time and histogram, as
/// .svg and .png). --format html prints one self-contained page with the plots.
///
/// Example: ticklab report results/20261124T222456Z-089a --format markdown
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run's results directory.
    pub run: PathBuf,
    #[arg(long, value_enum, default_value_t = ReportFormatArg::Text)]
    pub format: ReportFormatArg,
    /// Skip (and count) malformed lines in the middle of the interval log instead of
    /// refusing it.
    #[arg(long)]
    pub lenient: bool,
    /// Do not write the plot files into the run's directory.
    #[arg(long)]
    pub no_plots: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Text,
    Markdown,
    Json,
}

/// `ticklab report`'s formats: [`FormatArg`] (which `compare` shares) and HTML.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormatArg {
    Text,
    Markdown,
    Json,
    /// One self-contained page, plots inlined.
    Html,
}

/// A results directory that cannot be read: bad input data (65).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BadRun(#[from] ReportError);

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_run(&args.run, args.lenient).map_err(BadRun)?;
    let format = match args.format {
        ReportFormatArg::Text => Format::Text,
        ReportFormatArg::Markdown => Format::Markdown,
        ReportFormatArg::Json => Format::Json,
        ReportFormatArg::Html => Format::Html,
    };
    let text = render(&loaded, format);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    if !matches!(format, Format::Json | Format::Html) {
        for w in &loaded.warnings {
            eprintln!("ticklab: {w}");
        }
    }
    if !args.no_plots {
        // The numbers are out; a run without samples, or a read-only directory (a
        // checked-in baseline), only costs the plot files, so say so and succeed.
        let written = read_intervals(&loaded)
            .map_err(|e| e.to_string())
            .and_then(|intervals| write_run_plots(&loaded, &intervals).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("ticklab: report: plots not written: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
