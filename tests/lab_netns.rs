//! `ticklab run` over a real link: the lab in one network namespace, refcore in
//! another, a veth pair between them (198.18.0.1/30 on the lab's side, 198.18.0.2/30
//! on the DUT's; RFC 2544's benchmark range, so nothing leaves the host). The feed
//! crosses the veth as multicast, the orders come back over TCP across it.
//!
//! Neither namespace has a multicast route, on purpose: the lab sends with
//! `network.feed_iface_addr` as its multicast interface and refcore joins on
//! `--iface-addr`, so a lab that ignored the key would find no route and fail here.
//!
//! Needs root and iproute2's `ip`; without either the test fails, naming what is
//! missing (CI runs it as root). The namespaces are deleted by a guard, also when an
//! assertion fails.

#[path = "common/lab.rs"]
mod lab;

use std::process::Command;

use lab::{
    assert_accounting, assert_results_complete, lab_lock, out_dir, read_summary, refcore_args,
    refcore_field, refcore_summary, sets, small_run, toml_array, LabProcess, REFCORE, TICKLAB,
};
use ticklab::lab::summary::Verdict;

const LAB_ADDR: &str = "198.18.0.1";
const DUT_ADDR: &str = "198.18.0.2";

/// Runs `ip` with `args`; fails with its stderr.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip {}`: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Fails, naming what is missing, unless this process may build namespaces.
fn require_root_and_ip() {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "lab_netns needs root (to create network namespaces and a veth pair); it runs as uid {euid}"
    );
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "lab_netns needs iproute2's `ip`; `ip -V` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("lab_netns needs iproute2's `ip` on PATH: {e}"),
    }
}

/// Two namespaces joined by a veth pair; deleted on drop (deleting a namespace
/// deletes the veth end in it, and with it the peer).
struct LabLink {
    lab: String,
    dut: String,
    lab_veth: String,
    dut_veth: String,
}

impl LabLink {
    fn create() -> LabLink {
        let pid = std::process::id();
        // Interface names hold at most 15 bytes: "tl" + 7 digits + 1.
        let link = LabLink {
            lab: format!("ticklab-lab-{pid}"),
            dut: format!("ticklab-dut-{pid}"),
            lab_veth: format!("tl{pid}l"),
            dut_veth: format!("tl{pid}d"),
        };
        // From here on a failure still deletes whatever was made.
        ip(&["netns", "add", &link.lab]);
        ip(&["netns", "add", &link.dut]);
        ip(&[
            "link",
            "add",
            &link.lab_veth,
            "type",
            "veth",
            "peer",
            "name",
            &link.dut_veth,
        ]);
        for (ns, veth, addr) in [
            (&link.lab, &link.lab_veth, LAB_ADDR),
            (&link.dut, &link.dut_veth, DUT_ADDR),
        ] {
            ip(&["link", "set", veth, "netns", ns]);
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", veth]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", veth, "up"]);
        }
        link
    }
}

impl Drop for LabLink {
    fn drop(&mut self) {
        // Each step may find nothing to delete (a creation that failed half way).
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip").args(args).output();
        };
        quiet(&["netns", "del", &self.lab]);
        quiet(&["netns", "del", &self.dut]);
        quiet(&["link", "del", &self.lab_veth]);
        let left: Vec<String> = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name == self.lab || *name == self.dut)
            .map(str::to_string)
            .collect();
        if !left.is_empty() && !std::thread::panicking() {
            panic!("network namespaces left behind: {left:?}");
        }
    }
}

#[test]
fn a_run_across_a_veth_pair_between_namespaces_is_complete() {
    let _turn = lab_lock();
    require_root_and_ip();
    let link = LabLink::create();
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);

    let mut command: Vec<String> = ["ip", "netns", "exec", &link.dut, REFCORE]
        .iter()
        .map(|s| s.to_string())
        .collect();
    command.extend(refcore_args(DUT_ADDR, "{password}"));
    let mut argv: Vec<String> = ["ip", "netns", "exec", &link.lab, TICKLAB, "run", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(out.display().to_string());
    argv.extend(small_run(lab::free_udp_port()));
    argv.extend(sets(&[
        ("network.feed_iface_addr", format!("{LAB_ADDR:?}")),
        ("network.gateway_listen", format!("\"{LAB_ADDR}:0\"")),
        ("dut.command", toml_array(&command)),
    ]));
    let done = LabProcess::spawn(&argv).finish();

    assert_eq!(done.code, Some(0), "{done:#?}");
    let s = read_summary(&out);
    assert_eq!(s.verdict, Verdict::Complete, "{s:#?}");
    assert!(s.reasons.is_empty(), "{:?}", s.reasons);
    assert_eq!(s.feed.end, "exhausted");
    assert_eq!(s.ticks_sent, 60_000);
    assert!(s.matched > 0, "{s:#?}");
    assert_eq!(s.non_responses, 0, "{s:#?}");
    assert_eq!(s.orders_received, s.matched, "{s:#?}");
    assert!(s.latency_ns.count > 0, "{s:#?}");
    assert_accounting(&s);
    assert_results_complete(&out);
    // The session really crossed the veth.
    assert!(
        s.gateway.listen.starts_with(&format!("{LAB_ADDR}:")),
        "{:?}",
        s.gateway
    );
    assert!(
        s.gateway
            .peer
            .as_deref()
            .is_some_and(|p| p.starts_with(&format!("{DUT_ADDR}:"))),
        "{:?}",
        s.gateway
    );
    assert!(s.gateway.orderly_close, "{:?}", s.gateway);
    let dut = s.dut.as_ref().expect("a command DUT is reported");
    assert_eq!(dut.status, "exit 0");
    assert_eq!(dut.stopped_by, "exited by itself");

    // refcore heard the whole feed over the veth, without a gap, and ordered on
    // every trigger it saw.
    let refcore = refcore_summary(&out.join("dut.log"));
    assert_eq!(refcore_field(&refcore, "end"), "feed-end-of-session");
    assert_eq!(refcore_field(&refcore, "gaps"), "0");
    assert_eq!(refcore_field(&refcore, "missing"), "0");
    assert_eq!(refcore_field(&refcore, "duplicates"), "0");
    assert_eq!(refcore_field(&refcore, "messages"), "60000");
    assert_eq!(
        refcore_field(&refcore, "packets"),
        s.feed.datagrams_sent.to_string()
    );
    assert_eq!(refcore_field(&refcore, "orders"), s.matched.to_string());
    assert_eq!(refcore_field(&refcore, "accepted"), s.matched.to_string());
}
