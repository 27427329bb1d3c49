//! `ticklab run`: one measurement from a spec, with a progress bar and a report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ticklab::config::{RunSpec, DEFAULT_SPEC};
use ticklab::lab::summary::Verdict;
use ticklab::lab::{self, LabError, RunOptions, RunPhase};

use super::UsageError;

/// Run one measurement: replay the feed into the DUT, take its orders, report tick-to-trade.
///
/// With no SPEC it runs the embedded default lab on this machine, without
/// privileges: the synthetic ITCH feed over loopback multicast into refcore, OUCH
/// orders back over SoupBinTCP, kernel software timestamps.
///
/// Examples:
///   ticklab run
///   ticklab run lab.toml --set pace.mode=scaled --set pace.factor=2
///   ticklab run --print-default-spec > lab.toml
///
/// Exit status: 0 complete; 1 incomplete (the results are written, the reasons
/// printed); 130 interrupted; 64 a bad spec or argument; 69 the DUT never logged in,
/// or clock.require_ptp and ptp4l is absent or not in sync.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// Run spec (TOML); only the keys that differ from the default are needed.
    pub spec: Option<PathBuf>,
    /// Write the results into DIR instead of results.dir/<run-id>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override one key of the spec by its dotted path (repeatable, applied in order).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Print the default spec, commented, and exit.
    #[arg(long)]
    pub print_default_spec: bool,
    /// Print summary.json instead of the text report.
    #[arg(long)]
    pub json: bool,
}

/// Exit status of a run that finished but did not measure everything.
pub const INCOMPLETE: u8 = 1;
/// Exit status of a run stopped by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;
/// The DUT never became ready, ptp4l was not in sync when required, or the feed's
/// port could not be opened here (sysexits EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.print_default_spec {
        print!("{DEFAULT_SPEC}");
        return Ok(ExitCode::SUCCESS);
    }
    let spec =
        RunSpec::load(args.spec.as_deref(), &args.sets).map_err(|e| UsageError(e.to_string()))?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("cannot install the signal handlers")?;
    }
    let handle = match lab::start(
        spec,
        RunOptions {
            out: args.out,
            argv: std::env::args().collect(),
        },
    ) {
        Ok(handle) => handle,
        Err(e @ LabError::Unsupported { .. }) => return Err(UsageError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let on_terminal = !bar.is_hidden();
    let mut last_line = Instant::now();
    let mut cancelled = false;
    while !handle.is_finished() {
        if interrupted.load(Ordering::Relaxed) && !cancelled {
            cancelled = true;
            handle.cancel();
        }
        for line in handle.take_log() {
            bar.suspend(|| eprintln!("ticklab: {line}"));
        }
        let p = handle.progress();
        let (position, length) = match (p.ticks_total, p.duration, p.feed_elapsed) {
            _ if p.phase == RunPhase::LoadingFeed => match p.feed_load {
                Some((read, Some(total))) => (read.min(total), total),
                _ => (0, 1),
            },
            (Some(total), _, _) => (p.ticks_sent.min(total), total),
            (None, Some(d), Some(e)) => (e.min(d).as_millis() as u64, d.as_millis() as u64),
            _ => (0, 1),
        };
        bar.set_length(length.max(1));
        bar.set_position(position);
        bar.set_prefix(phase_name(p.phase));
        let percentiles = match (p.p50_ns, p.p99_ns) {
            (Some(p50), Some(p99)) => format!(" p50 {} p99 {}", ns(p50), ns(p99)),
            _ => String::new(),
        };
        let msg = format!(
            "{} ticks, {} triggers, {} orders, {} matched, {} non-resp{}",
            p.ticks_sent, p.triggers, p.orders, p.matched, p.non_responses, percentiles
        );
        if !on_terminal && last_line.elapsed() >= Duration::from_secs(5) {
            last_line = Instant::now();
            eprintln!("ticklab: {}: {msg}", phase_name(p.phase));
        }
        bar.set_message(msg);
        bar.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    for line in handle.take_log() {
        eprintln!("ticklab: {line}");
    }
    let dir = handle.results_dir().to_path_buf();
    let results = match handle.wait() {
        Ok(results) => results,
        Err(e @ LabError::DutNotReady { .. }) => {
            eprintln!("ticklab: {e}");
            eprintln!("ticklab: what the run wrote is in {}", dir.display());
            return Ok(ExitCode::from(UNAVAILABLE));
        }
        Err(e @ LabError::ClockNotReady(_)) => {
            eprintln!("ticklab: {e}");
            eprintln!("ticklab: what the run wrote is in {}", dir.display());
            return Ok(ExitCode::from(UNAVAILABLE));
        }
        Err(e @ LabError::Unsupported { .. }) => {
            eprintln!("ticklab: what the run wrote is in {}", dir.display());
            return Err(UsageError(e.to_string()).into());
        }
        Err(e @ LabError::PortUnavailable { .. }) => {
            eprintln!("ticklab: {e}");
            eprintln!("ticklab: what the run wrote is in {}", dir.display());
            return Ok(ExitCode::from(UNAVAILABLE));
        }
        Err(LabError::CancelledBeforeStart) => {
            eprintln!("ticklab: interrupted before the feed started");
            return Ok(ExitCode::from(INTERRUPTED));
        }
        Err(e) => return Err(e).with_context(|| format!("run in {}", dir.display())),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &results.summary)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", results.summary.render_text(&results.dir))?;
    }
    out.flush()?;
    Ok(match results.summary.verdict {
        Verdict::Complete => ExitCode::SUCCESS,
        Verdict::Incomplete if cancelled => ExitCode::from(INTERRUPTED),
        Verdict::Incomplete => ExitCode::from(INCOMPLETE),
    })
}

fn phase_name(phase: RunPhase) -> &'static str {
    match phase {
        RunPhase::Starting => "starting",
        RunPhase::LoadingFeed => "loading the capture",
        RunPhase::WaitingForDut => "waiting for the DUT",
        RunPhase::Sending => "sending",
        RunPhase::Draining => "last orders",
        RunPhase::Finishing => "finishing",
        RunPhase::Done => "done",
    }
}

/// 850 ns, 12.3 µs, 4.56 ms.
fn ns(v: u64) -> String {
    match v {
        0..=9_999 => format!("{v} ns"),
        10_000..=9_999_999 => format!("{:.1} µs", v as f64 / 1e3),
        _ => format!("{:.2} ms", v as f64 / 1e6),
    }
}
