//! `ticklab decode`: print the messages in a capture, or count them.

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use ticklab::decode::{decode_file, Mode, Options};
use ticklab::proto::OuchVersion;

/// Print every exchange message in a pcap/pcapng capture (ITCH/MoldUDP64,
/// SoupBinTCP/OUCH, FIX), one line each, as JSON, or as counts.
///
/// Example: ticklab decode feed.pcapng --stats --json
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Capture file (pcap or pcapng; `-` reads standard input).
    pub file: PathBuf,
    /// One JSON object per message (with --stats: one JSON object of counts).
    #[arg(long)]
    pub json: bool,
    /// Count messages per protocol and type instead of printing them.
    #[arg(long)]
    pub stats: bool,
    /// OUCH version inside SoupBinTCP (auto tells them apart by message length).
    #[arg(long, value_enum, default_value_t = OuchArg::Auto)]
    pub ouch: OuchArg,
    /// Decode UDP only to these destination ports as MoldUDP64 (repeatable); by
    /// default any UDP payload with a MoldUDP64-shaped header is decoded.
    #[arg(long = "mold-port", value_name = "PORT")]
    pub mold_ports: Vec<u16>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OuchArg {
    Auto,
    #[value(name = "4.2")]
    V42,
    #[value(name = "5.0")]
    V50,
}

pub fn run(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let opts = Options {
        ouch: match args.ouch {
            OuchArg::Auto => None,
            OuchArg::V42 => Some(OuchVersion::V42),
            OuchArg::V50 => Some(OuchVersion::V50),
        },
        moldudp64_ports: args.mold_ports,
    };
    let mode = match (args.stats, args.json) {
        (true, _) => Mode::Stats,
        (false, true) => Mode::Json,
        (false, false) => Mode::Lines,
    };
    // A bar on a terminal for long files (indicatif draws nothing when stderr is not
    // a terminal, so pipes and scripts see no noise).
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{spinner} decode {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = decode_file(&args.file, &opts, mode, &mut out, &mut |offset| {
        progress.set_position(offset)
    });
    progress.finish_and_clear();
    let stats = result?;
    if mode == Mode::Stats {
        if args.json {
            let v = stats.to_json(&args.file);
            serde_json::to_writer_pretty(&mut out, &v).context("writing the statistics")?;
            writeln!(out)?;
        } else {
            stats.write_text(&args.file, &mut out)?;
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
