//! `ticklab report`: a finished run's numbers, for a terminal, a pull request or a
//! program.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ticklab::report::{load_run, render, Format, ReportError};

/// Report on a finished run: percentiles, counts, clock, host, build and verdict.
///
/// Example: ticklab report results/20261124T222456Z-089a --format markdown
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run's results directory.
    pub run: PathBuf,
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Skip (and count) malformed lines in the middle of the interval log instead of
    /// refusing it.
    #[arg(long)]
    pub lenient: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Text,
    Markdown,
    Json,
}

/// A results directory that cannot be read: bad input data (65).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BadRun(#[from] ReportError);

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_run(&args.run, args.lenient).map_err(BadRun)?;
    let format = match args.format {
        FormatArg::Text => Format::Text,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Json => Format::Json,
    };
    let text = render(&loaded, format);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    if format != Format::Json {
        for w in &loaded.warnings {
            eprintln!("ticklab: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
