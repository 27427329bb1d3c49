//! Command-line parsing for `ticklab`: one file per subcommand. Parsing only: the
//! work is done by library calls, so nothing here is needed by a test of behaviour.
//! Exit codes follow sysexits: 65 for bad input data, 66 for a missing input file,
//! 74 for an I/O error, 64 for a bad argument value.

pub mod certify;
pub mod clock;
pub mod compare;
pub mod decode;
pub mod gen;
pub mod history;
pub mod plot;
pub mod replay;
pub mod report;
pub mod run;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// ticklab: a hardware-in-the-loop latency lab for trading systems.
#[derive(Debug, Parser)]
#[command(name = "ticklab", version = crate_version(), about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Gen(gen::GenArgs),
    Decode(decode::DecodeArgs),
    Run(run::RunArgs),
    Report(report::ReportArgs),
    Clock(clock::ClockArgs),
    Compare(compare::CompareArgs),
    Certify(certify::CertifyArgs),
    Plot(plot::PlotArgs),
    History(history::HistoryArgs),
    Replay(replay::ReplayArgs),
}

fn crate_version() -> &'static str {
    // Leaked once at start-up: clap wants a &'static str for --version.
    Box::leak(
        format!(
            "{} ({} {})",
            ticklab::build_info::BUILD.version,
            ticklab::build_info::BUILD.git_rev,
            ticklab::build_info::BUILD.profile
        )
        .into_boxed_str(),
    )
}

/// Exit codes (sysexits.h).
pub mod exit {
    pub const USAGE: u8 = 64;
    pub const DATA: u8 = 65;
    pub const NO_INPUT: u8 = 66;
    pub const IO: u8 = 74;
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Gen(args) => gen::run(args),
        Command::Decode(args) => decode::run(args),
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::run(args),
        Command::Clock(args) => clock::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Certify(args) => certify::run(args),
        Command::Plot(args) => plot::run(args),
        Command::History(args) => history::run(args),
        Command::Replay(args) => replay::run(args),
    }
}

/// An argument value that cannot be used; exits 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Maps an error to its exit code, looking through the error's causes.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return exit::USAGE;
        }
        if cause.downcast_ref::<report::BadRun>().is_some() {
            return exit::DATA;
        }
        if let Some(e) = cause.downcast_ref::<ticklab::decode::DecodeError>() {
            if e.is_data_error() {
                return exit::DATA;
            }
        }
        if let Some(e) = cause.downcast_ref::<ticklab::capture::CaptureError>() {
            if e.is_data_error() {
                return exit::DATA;
            }
        }
        if cause
            .downcast_ref::<ticklab::feed::synthetic::ConfigError>()
            .is_some()
        {
            return exit::USAGE;
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            return if e.kind() == std::io::ErrorKind::NotFound {
                exit::NO_INPUT
            } else {
                exit::IO
            };
        }
    }
    1
}

/// True when the error is only a closed pipe (`ticklab decode f | head`): that is
/// how a reader says it has seen enough, not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
