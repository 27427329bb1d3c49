//! The device under test as a process the lab starts and stops (`dut.mode =
//! "command"`).
//!
//! The program runs without a shell, in its own process group (so a Ctrl-C at the
//! terminal reaches the lab, which then stops the run cleanly and stops the DUT
//! itself), with stdin closed and stdout and stderr appended to `dut.log` in the
//! run's directory. A bare program name is looked up next to the running `ticklab`
//! binary first (where cargo puts `refcore`), then on `PATH`. Stopping is polite
//! first: the lab waits for the DUT to exit by itself (it has seen End of Session),
//! then sends SIGTERM, then SIGKILL, each after `dut.stop_timeout_s`.

use std::fs::File;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running DUT.
pub struct Dut {
    child: Child,
    program: PathBuf,
    exited: Option<ExitStatus>,
}

/// How the DUT ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DutExit {
    /// "exit 0", "signal 15 (SIGTERM)", ...
    pub status: String,
    pub success: bool,
    /// What the lab had to do: "exited by itself", "SIGTERM", "SIGKILL".
    pub stopped_by: String,
}

impl Dut {
    /// Starts `argv` with its output going to `log`. The error names the program and
    /// where it was looked for.
    pub fn start(argv: &[String], log: &Path) -> io::Result<Dut> {
        let (name, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "dut.command is empty"))?;
        let program = resolve_program(name);
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", log.display())))?;
        let err = out.try_clone()?;
        let child = Command::new(&program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start the DUT {}: {e} (a bare name is looked up next to the ticklab binary, then on PATH)",
                        program.display()
                    ),
                )
            })?;
        Ok(Dut {
            child,
            program,
            exited: None,
        })
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the DUT has exited; never blocks.
    pub fn try_exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits `grace` for the DUT to exit by itself, then SIGTERM and `grace` again,
    /// then SIGKILL.
    pub fn stop(mut self, grace: Duration) -> DutExit {
        if let Some(status) = self.wait_for(grace) {
            return exit(status, "exited by itself");
        }
        self.signal(libc::SIGTERM);
        if let Some(status) = self.wait_for(grace) {
            return exit(status, "SIGTERM");
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        match status {
            Some(status) => exit(status, "SIGKILL"),
            None => DutExit {
                status: "unknown".into(),
                success: false,
                stopped_by: "SIGKILL".into(),
            },
        }
    }

    fn wait_for(&mut self, grace: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.try_exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Signals the DUT's process group (it leads one of its own), so helpers it
    /// started go too.
    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the process group our unreaped child leads
        // (`process_group(0)` at spawn; try_exited returned None, so the id is still
        // ours). Nothing of ours is in that group.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), signal) };
    }
}

impl Drop for Dut {
    fn drop(&mut self) {
        // A DUT is never left running: an early return of the lab kills it.
        if self.try_exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// "exit 0", "signal 9 (SIGKILL)".
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("signal {sig} ({})", signal_name(sig)),
        _ => "unknown".into(),
    }
}

fn exit(status: ExitStatus, stopped_by: &str) -> DutExit {
    DutExit {
        status: describe_status(status),
        success: status.success(),
        stopped_by: stopped_by.into(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => "SIGKILL",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGPIPE => "SIGPIPE",
        _ => "signal",
    }
}

/// A name with a `/` is used as given; a bare name is taken from beside the running
/// executable when it exists there, else left for `PATH`.
pub fn resolve_program(name: &str) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|p| p.is_file())
    {
        return beside;
    }
    // Test binaries live in target/<profile>/deps; the bins one level up.
    if let Some(up) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join(name)))
        .filter(|p| p.is_file())
    {
        return up;
    }
    PathBuf::from(name)
}

/// The last `max_lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, max_lines: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dut_that_exits_by_itself_is_reported_with_its_status_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dut.log");
        let argv: Vec<String> = ["sh", "-c", "echo hello from the dut; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let dut = Dut::start(&argv, &log).unwrap();
        let exit = dut.stop(Duration::from_secs(5));
        assert_eq!(exit.status, "exit 3");
        assert!(!exit.success);
        assert_eq!(exit.stopped_by, "exited by itself");
        assert_eq!(log_tail(&log, 5), "hello from the dut");
    }

    #[test]
    fn a_dut_that_ignores_the_end_is_terminated_then_killed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dut.log");
        let argv: Vec<String> = ["sleep", "60"].iter().map(|s| s.to_string()).collect();
        let dut = Dut::start(&argv, &log).unwrap();
        let exit = dut.stop(Duration::from_millis(50));
        assert_eq!(exit.stopped_by, "SIGTERM");
        assert_eq!(exit.status, "signal 15 (SIGTERM)");

        let argv: Vec<String> = ["sh", "-c", "trap '' TERM; echo ready; sleep 60"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let log2 = dir.path().join("dut2.log");
        let dut = Dut::start(&argv, &log2).unwrap();
        // Let the shell install its trap before the lab asks it to stop.
        while log_tail(&log2, 1) != "ready" {
            std::thread::sleep(Duration::from_millis(5));
        }
        let exit = dut.stop(Duration::from_millis(50));
        assert_eq!(exit.stopped_by, "SIGKILL");
        assert_eq!(exit.status, "signal 9 (SIGKILL)");
    }

    #[test]
    fn a_missing_program_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let argv = vec!["no-such-dut-program".to_string()];
        let err = Dut::start(&argv, &dir.path().join("dut.log"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("no-such-dut-program"), "{err}");
        assert!(err.to_string().contains("PATH"), "{err}");
    }
}
