//! A ptp4l master and a `free_running` slave on a veth pair between two network
//! namespaces (198.18.0.1/30 and .2/30), software timestamps, each with its own
//! management socket in a temporary directory: the test bed of every test that needs
//! a real ptp4l. Included with `#[path = "common/ptp.rs"] mod ptp;`.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ticklab::time::ptp_mgmt::{ClientConfig, PortState, PtpClient};

#[path = "netns.rs"]
mod netns;
pub use netns::ip;

pub const MASTER_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/firmware-configs/ptp4l-test-sw-master.conf"
);
pub const SLAVE_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/firmware-configs/ptp4l-test-sw-slave.conf"
);
/// From starting ptp4l to the slave following the master: the master waits for
/// 3 announce intervals before it takes the role, the slave then needs two of its
/// announces and a Sync (about 7 s on an idle machine).
pub const SETTLE: Duration = Duration::from_secs(40);
/// From killing the master to the slave's port leaving UNCALIBRATED: the slave's
/// announceReceiptTimeout is 3 of its 2 s announce intervals, plus ptp4l's random
/// part of up to one interval (about 7 s measured).
pub const LOSS_NOTICED: Duration = Duration::from_secs(15);

/// Fails, naming what is missing, unless this process can run the pair.
pub fn require_root_and_linuxptp() {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "ptp_mgmt needs root (to create network namespaces and a veth pair for ptp4l); it \
         runs as uid {euid}"
    );
    for (tool, arg, package) in [
        ("ptp4l", "-v", "linuxptp (lab-scripts/setup installs it)"),
        ("pmc", "-v", "linuxptp (lab-scripts/setup installs it)"),
        ("ip", "-V", "iproute2"),
    ] {
        match Command::new(tool).arg(arg).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "ptp_mgmt needs `{tool}` from {package}; `{tool} {arg}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("ptp_mgmt needs `{tool}` from {package} on PATH: {e}"),
        }
    }
}

/// A ptp4l master and slave in two namespaces joined by a veth pair. Dropping it
/// kills both ptp4l processes and deletes the namespaces (which deletes the veth).
pub struct PtpPair {
    pub dir: tempfile::TempDir,
    namespaces: Vec<String>,
    master: Option<Child>,
    slave: Option<Child>,
    pub master_uds: PathBuf,
    pub slave_uds: PathBuf,
}

impl PtpPair {
    /// `tag` tells this test's pair from another's running at the same time.
    pub fn start(tag: char) -> PtpPair {
        require_root_and_linuxptp();
        let pid = std::process::id();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut pair = PtpPair {
            master_uds: dir.path().join("ptp4l-master"),
            slave_uds: dir.path().join("ptp4l-slave"),
            dir,
            namespaces: Vec::new(),
            master: None,
            slave: None,
        };
        let master_ns = format!("tl-ptp-{pid}-{tag}m");
        let slave_ns = format!("tl-ptp-{pid}-{tag}s");
        // Interface names hold at most 15 bytes: "tp" + 7 digits + 2.
        let master_veth = format!("tp{pid}{tag}m");
        let slave_veth = format!("tp{pid}{tag}s");
        for ns in [&master_ns, &slave_ns] {
            ip(&["netns", "add", ns]);
            pair.namespaces.push(ns.clone());
        }
        ip(&[
            "link",
            "add",
            &master_veth,
            "netns",
            &master_ns,
            "type",
            "veth",
            "peer",
            "name",
            &slave_veth,
            "netns",
            &slave_ns,
        ]);
        for (ns, veth, addr) in [
            (&master_ns, &master_veth, "198.18.0.1/30"),
            (&slave_ns, &slave_veth, "198.18.0.2/30"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", veth]);
            ip(&["-n", ns, "link", "set", veth, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        pair.master = Some(pair.ptp4l(&master_ns, &master_veth, MASTER_CONF, "master"));
        pair.slave = Some(pair.ptp4l(&slave_ns, &slave_veth, SLAVE_CONF, "slave"));
        pair.wait_until_the_slave_follows();
        pair
    }

    fn ptp4l(&self, ns: &str, veth: &str, conf: &str, role: &str) -> Child {
        let uds = self.dir.path().join(format!("ptp4l-{role}"));
        let log = File::create(self.dir.path().join(format!("{role}.log"))).expect("a log file");
        // `ip netns exec` execs ptp4l in place, so the child is ptp4l itself.
        Command::new("ip")
            .args([
                "netns", "exec", ns, "ptp4l", "-f", conf, "-i", veth, "-S", "-m",
            ])
            .arg("--uds_address")
            .arg(&uds)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ptp4l ({role}) in {ns}: {e}"))
    }

    /// Both ptp4l logs, for failure messages.
    pub fn logs(&self) -> String {
        ["master", "slave"]
            .iter()
            .map(|role| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("{role}.log")))
                    .unwrap_or_default();
                format!("--- ptp4l {role} ---\n{text}")
            })
            .collect()
    }

    fn wait_until_the_slave_follows(&mut self) {
        let deadline = Instant::now() + SETTLE;
        let mut last = String::from("nothing yet");
        loop {
            for role in ["master", "slave"] {
                let child = if role == "master" {
                    &mut self.master
                } else {
                    &mut self.slave
                };
                let exited = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    panic!("ptp4l ({role}) exited ({status}):\n{}", self.logs());
                }
            }
            if self.slave_uds.exists() {
                // Following: its port UNCALIBRATED and a Sync already processed (the
                // port changes state before the first Sync arrives).
                let state = PtpClient::new(client_config(&self.slave_uds))
                    .and_then(|mut c| Ok((c.get_port_data_set()?, c.get_time_status()?)));
                match state {
                    Ok((ds, status))
                        if ds.port_state == PortState::Uncalibrated
                            && status.ingress_time_ns != 0 =>
                    {
                        return
                    }
                    Ok((ds, status)) => {
                        last = format!(
                            "slave port {}, last Sync at {} ns",
                            ds.port_state, status.ingress_time_ns
                        )
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            assert!(
                Instant::now() < deadline,
                "the slave did not follow the master within {SETTLE:?} (last: {last}):\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn kill_master(&mut self) {
        if let Some(mut master) = self.master.take() {
            master.kill().expect("kill ptp4l (master)");
            master.wait().expect("reap ptp4l (master)");
        }
    }
}

impl Drop for PtpPair {
    fn drop(&mut self) {
        for child in [self.master.take(), self.slave.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

pub fn client_config(uds: &Path) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(2),
        ..ClientConfig::new(uds)
    }
}
