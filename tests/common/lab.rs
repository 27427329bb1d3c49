//! What the `ticklab run` integration tests share: the real `ticklab` and `refcore`
//! binaries run as child processes, their output collected, their results read back.
//!
//! Every run gets a feed port of its own (a free UDP port), because every lab on
//! this host defaults to 239.198.0.1:26400 and two runs on one group and port hear
//! each other's feed. Runs inside one test binary take turns ([`lab_lock`]): a lab
//! run is a measurement, and two at once on a small machine only starve each other.
//! A child still running when its test ends (a failed assertion) is stopped: SIGTERM
//! first so the lab stops its DUT, then SIGKILL. Waits have deadlines, so a broken
//! lab fails a test instead of hanging it; no assertion depends on speed.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ticklab::lab::summary::Summary;

pub const TICKLAB: &str = env!("CARGO_BIN_EXE_ticklab");
pub const REFCORE: &str = env!("CARGO_BIN_EXE_refcore");

/// The bound on any one run or wait: far above what a run of these sizes takes on a
/// loaded machine, so hitting it means the lab hangs.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Every file a finished run leaves in its results directory.
pub const RESULT_FILES: [&str; 8] = [
    "spec.toml",
    "env.json",
    "summary.json",
    "latency.hgrm",
    "latency.hlog",
    "from-schedule.hgrm",
    "from-schedule.hlog",
    "dut.log",
];

/// Makes the lab runs of one test binary take turns. A test that panicked while
/// holding it does not stop the others.
pub fn lab_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A UDP port nobody on this host is bound to right now (the kernel's pick).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.local_addr())
        .expect("bind a UDP socket to port 0")
        .port()
}

/// A TCP address on loopback nobody is listening on right now.
pub fn free_tcp_addr() -> SocketAddr {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind a TCP listener to port 0")
}

/// `--set` arguments for a short run (60 000 messages, about half a second at the
/// synthetic feed's pace) on a feed port of its own.
pub fn small_run(feed_port: u16) -> Vec<String> {
    sets(&[
        ("run.messages", "60000".into()),
        ("run.warmup_messages", "1000".into()),
        ("correlate.timeout_ms", "300".into()),
        ("network.feed_port", feed_port.to_string()),
    ])
}

/// `--set KEY=VALUE` pairs; values are TOML.
pub fn sets(pairs: &[(&str, String)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| ["--set".to_string(), format!("{k}={v}")])
        .collect()
}

/// `argv` as a TOML array, for `--set dut.command=...`.
pub fn toml_array(argv: &[String]) -> String {
    toml::Value::Array(argv.iter().cloned().map(toml::Value::String).collect()).to_string()
}

/// `--set` value for a `dut.command` running refcore with the default spec's
/// arguments and `extra` after them.
pub fn refcore_command(extra: &[&str]) -> String {
    let mut argv = vec!["refcore".to_string()];
    argv.extend(refcore_args("{iface_addr}", "{password}"));
    argv.extend(extra.iter().map(|a| a.to_string()));
    format!("dut.command={}", toml_array(&argv))
}

/// refcore's arguments as the default spec gives them, with the feed joined on
/// `iface_addr` (a placeholder or an address) and the password given.
pub fn refcore_args(iface_addr: &str, password: &str) -> Vec<String> {
    [
        "--feed",
        "{feed}",
        "--iface-addr",
        iface_addr,
        "--gateway",
        "{gateway}",
        "--user",
        "{username}",
        "--password",
        password,
        "--ouch",
        "{ouch}",
        "--rule",
        "{trigger_rule}",
        "--symbols",
        "{symbols}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A child process whose stdout and stderr are collected as they come.
pub struct LabProcess {
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
}

/// How a [`LabProcess`] ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From the spawn to the exit.
    pub elapsed: Duration,
}

impl LabProcess {
    /// Starts `ticklab run` with `args`.
    pub fn ticklab_run(args: &[String]) -> LabProcess {
        let mut argv = vec![TICKLAB.to_string(), "run".to_string()];
        argv.extend_from_slice(args);
        LabProcess::spawn(&argv)
    }

    /// Starts `argv[0]` with the rest as its arguments.
    pub fn spawn(argv: &[String]) -> LabProcess {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        let started = Instant::now();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), Arc::clone(&stdout)),
            collect(child.stderr.take().expect("piped"), Arc::clone(&stderr)),
        ];
        LabProcess {
            child: Some(child),
            stdout,
            stderr,
            readers,
            started,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr holds `needle`; fails (showing stderr) if the process
    /// exits first or the deadline passes.
    pub fn wait_for_stderr(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            let exited = self
                .child
                .as_mut()
                .expect("running")
                .try_wait()
                .expect("waitpid");
            if let Some(status) = exited {
                // The readers may still hold the last lines.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "the process exited ({status}) before writing {needle:?}; stderr:\n{}\nstdout:\n{}",
                    self.stderr(),
                    self.stdout.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on stderr within {DEADLINE:?}; stderr:\n{text}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to this process (its id only).
    pub fn signal(&self, signal: libc::c_int) {
        send_signal(self.pid(), signal);
    }

    /// Waits for the exit and the end of its output. Fails if it does not exit
    /// within [`DEADLINE`].
    pub fn finish(mut self) -> Finished {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waitpid") {
                break status;
            }
            if Instant::now() >= deadline {
                self.child = Some(child);
                panic!(
                    "still running after {DEADLINE:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
        Finished {
            code: status.code(),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr(),
            elapsed,
        }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        // SIGTERM lets ticklab stop its DUT and write what it has; SIGKILL if not.
        send_signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn collect(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<String>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

/// kill(2) on one process id that this test started (or that its lab started).
pub fn send_signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    assert!(pid > 0, "never signal a process group or every process");
    // SAFETY: kill(2) has no memory-safety preconditions; the id is positive, so it
    // names one process, never a group.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// The DUT's process id from the lab's "DUT started: ... (pid N)" line.
pub fn dut_pid(stderr: &str) -> u32 {
    let line = stderr
        .lines()
        .find(|l| l.contains("DUT started: "))
        .unwrap_or_else(|| panic!("no \"DUT started\" line in stderr:\n{stderr}"));
    let start = line.rfind("(pid ").expect("the line names the pid") + "(pid ".len();
    let end = start + line[start..].find(')').expect("closing parenthesis");
    line[start..end]
        .parse()
        .unwrap_or_else(|e| panic!("pid in {line:?}: {e}"))
}

/// Whether a live process (not a zombie) with this id runs a program whose command
/// line mentions `name`. A reused id of another program does not count.
pub fn process_running(pid: u32, name: &str) -> bool {
    // A zombie's cmdline is empty; a gone process has no /proc entry.
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(name))
        .unwrap_or(false)
}

/// `summary.json` of a results directory, typed.
pub fn read_summary(dir: &Path) -> Summary {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// The accounting every run must satisfy, whatever happened to it: each tick sent
/// ends as exactly one outcome, each trigger too, and each order.
pub fn assert_accounting(s: &Summary) {
    assert_eq!(
        s.matched + s.non_responses + s.not_triggering + s.overflowed,
        s.ticks_sent,
        "ticks: matched + non_responses + not_triggering + overflowed != ticks_sent in {s:#?}"
    );
    assert_eq!(
        s.matched + s.non_responses + s.overflowed,
        s.triggers,
        "triggers: matched + non_responses + overflowed != triggers in {s:#?}"
    );
    assert_eq!(
        s.matched + s.duplicates + s.unsolicited + s.late + s.stale,
        s.orders_received,
        "orders: matched + duplicates + unsolicited + late + stale != orders_received in {s:#?}"
    );
}

/// The interval lines of an `.hlog` file (neither comments nor the column header).
pub fn hlog_intervals(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("\"StartTimestamp\""))
        .map(str::to_string)
        .collect()
}

/// Asserts that every result file is in `dir` and that nothing was left half
/// written (no `.partial` or temporary file).
pub fn assert_results_complete(dir: &Path) {
    for name in RESULT_FILES {
        assert!(
            dir.join(name).is_file(),
            "{name} missing from {}: {:?}",
            dir.display(),
            list_dir(dir)
        );
    }
    let extra: Vec<String> = list_dir(dir)
        .into_iter()
        .filter(|n| !RESULT_FILES.contains(&n.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected files in {}: {extra:?}",
        dir.display()
    );
}

/// The names in a directory, sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// refcore's "refcore: summary key=value ..." line in a `dut.log`, as pairs.
pub fn refcore_summary(dut_log: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dut_log)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dut_log.display()));
    let line = text
        .lines()
        .find(|l| l.starts_with("refcore: summary "))
        .unwrap_or_else(|| panic!("no refcore summary line in {}:\n{text}", dut_log.display()));
    line["refcore: summary ".len()..]
        .split_whitespace()
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("{pair:?} in {line:?} is not key=value"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// One value of refcore's summary line.
pub fn refcore_field<'a>(summary: &'a [(String, String)], key: &str) -> &'a str {
    summary
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in refcore's summary {summary:?}"))
}

/// A fresh results directory path inside a temporary directory (the lab creates it).
pub fn out_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("run")
}
