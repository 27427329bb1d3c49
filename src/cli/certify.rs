//! `ticklab certify`: a run judged against an SLA, written as `certificate.json` and
//! `certificate.txt` in the run's directory; `--verify` re-checks one later.
//! Exit 0 pass, 1 fail, 2 error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ticklab::lab::results::{rfc3339_utc, write_atomic, write_json};
use ticklab::report::certify::{certify, parse_sla, verify, Certificate, EXAMPLE_SLA};
use ticklab::report::load_run;

/// Certify a run against an SLA, with the sha256 of every result file judged.
///
/// Every criterion with its measured value and pass/fail.
///
/// Examples:
///   ticklab certify --print-example-sla > sla.toml
///   ticklab certify results/20261124T222456Z-089a --sla sla.toml
///   ticklab certify --verify results/20261124T222456Z-089a/certificate.json
///
/// Exit status: 0 pass (or verified), 1 fail (or a file changed), 2 error.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CertifyArgs {
    /// The run's results directory.
    #[arg(required_unless_present_any = ["print_example_sla", "verify"])]
    pub run: Option<PathBuf>,
    /// The SLA (TOML).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["print_example_sla", "verify"])]
    pub sla: Option<PathBuf>,
    /// Print a commented example SLA and exit.
    #[arg(long)]
    pub print_example_sla: bool,
    /// Re-check a certificate against the files it names.
    #[arg(long, value_name = "CERT", conflicts_with_all = ["run", "sla"])]
    pub verify: Option<PathBuf>,
}

pub fn run(args: CertifyArgs) -> anyhow::Result<ExitCode> {
    if args.print_example_sla {
        print!("{EXAMPLE_SLA}");
        return Ok(ExitCode::SUCCESS);
    }
    match judge(&args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("ticklab: certify: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn judge(args: &CertifyArgs) -> Result<ExitCode, String> {
    if let Some(cert_path) = &args.verify {
        let text = std::fs::read_to_string(cert_path)
            .map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let cert: Certificate = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a ticklab certificate: {e}", cert_path.display()))?;
        let dir = cert_path.parent().unwrap_or_else(|| ".".as_ref());
        let problems = verify(&cert, dir);
        if problems.is_empty() {
            println!(
                "verified: {} files of run {} unchanged since certification ({})",
                cert.files.len(),
                cert.run_id,
                if cert.pass { "PASS" } else { "FAIL" }
            );
            return Ok(ExitCode::SUCCESS);
        }
        for p in &problems {
            println!("changed: {p}");
        }
        return Ok(ExitCode::from(1));
    }
    let (Some(run), Some(sla_path)) = (&args.run, &args.sla) else {
        return Err("give RUN and --sla FILE (or --verify CERT)".into());
    };
    let text =
        std::fs::read_to_string(sla_path).map_err(|e| format!("{}: {e}", sla_path.display()))?;
    let sla = parse_sla(sla_path, &text)?;
    let loaded = load_run(run, false).map_err(|e| e.to_string())?;
    let cert = certify(&loaded, &sla, rfc3339_utc(std::time::SystemTime::now()))
        .map_err(|e| e.to_string())?;
    write_json(run, "certificate.json", &cert).map_err(|e| e.to_string())?;
    let readable = cert.render_text();
    write_atomic(run, "certificate.txt", readable.as_bytes()).map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(readable.as_bytes())
        .map_err(|e| e.to_string())?;
    if !cert.pass {
        let _ = writeln!(out, "failed: {}", cert.failed().join(", "));
    }
    Ok(if cert.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
