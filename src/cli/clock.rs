//! `ticklab clock`: the timestamp sources this host offers the lab.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use ticklab::time::inventory::ClockInventory;

/// Show this host's timestamp sources, TSC and ptp4l's state.
///
/// Per interface its hardware/software capabilities, PHC and the source the lab would
/// choose; the PTP hardware clocks; the TSC and the kernel's clock source; and
/// ptp4l's state when it answers.
///
/// Example: ticklab clock --json
#[derive(Debug, Args)]
pub struct ClockArgs {
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// ptp4l's management socket (its uds_address).
    #[arg(long, value_name = "PATH", default_value = "/var/run/ptp4l")]
    pub ptp_uds: std::path::PathBuf,
}

pub fn run(args: ClockArgs) -> anyhow::Result<ExitCode> {
    let inventory = ClockInventory::collect(&args.ptp_uds);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &inventory)?;
        writeln!(out)?;
    } else {
        out.write_all(inventory.render_text().as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
