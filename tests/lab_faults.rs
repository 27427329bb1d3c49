//! `ticklab run` when things go wrong: a DUT that never connects, exits at once, logs
//! in with the wrong password, is killed mid-run; Ctrl-C; garbage on the order
//! session under both `gateway.on_garbage` policies. Each test runs the real
//! `ticklab` and `refcore` binaries on loopback, checks the exit code, what the lab
//! says on stderr, and what it wrote (the verdict and its reasons, the accounting
//! identity, the files). Where a test plays the DUT itself it speaks SoupBinTCP with
//! the library's builders.
//!
//! No assertion depends on speed; the one bound on time checks that a 1 s ready
//! timeout is not the 10 s default.

#[path = "common/lab.rs"]
mod lab;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use lab::{
    assert_accounting, assert_results_complete, dut_pid, free_tcp_addr, free_udp_port,
    hlog_intervals, lab_lock, out_dir, process_running, read_summary, refcore_args, refcore_field,
    refcore_summary, send_signal, sets, small_run, toml_array, LabProcess, DEADLINE, REFCORE,
};
use ticklab::lab::summary::Verdict;
use ticklab::proto::soupbintcp::{self, Packet};

/// The feed group of the default spec.
const FEED_GROUP: Ipv4Addr = Ipv4Addr::new(239, 198, 0, 1);

fn spec_toml(dir: &std::path::Path) -> toml::Table {
    let path = dir.join("spec.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn spec_value<'a>(spec: &'a toml::Table, table: &str, key: &str) -> &'a toml::Value {
    spec.get(table)
        .and_then(|t| t.get(key))
        .unwrap_or_else(|| panic!("no {table}.{key} in spec.toml: {spec:#?}"))
}

#[test]
fn a_dut_that_never_connects_fails_within_its_ready_timeout_naming_the_gateway() {
    let _turn = lab_lock();
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);
    let gateway = free_tcp_addr();
    let mut args = vec!["--out".to_string(), out.display().to_string()];
    args.extend(small_run(free_udp_port()));
    args.extend(sets(&[
        ("dut.mode", "external".into()),
        ("dut.ready_timeout_s", "1".into()),
        ("network.gateway_listen", gateway.to_string()),
    ]));
    let done = LabProcess::ticklab_run(&args).finish();

    assert_eq!(done.code, Some(69), "{done:#?}");
    assert!(
        done.stderr.contains(&format!(
            "the DUT did not log in to the order gateway at {gateway} within 1s: it never connected"
        )),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains(&format!("what the run wrote is in {}", out.display())),
        "{}",
        done.stderr
    );
    // The default ready timeout is 10 s: an exit well before it is the 1 s one.
    assert!(
        done.elapsed < Duration::from_secs(8),
        "exit 69 after {:?}: dut.ready_timeout_s = 1 was not honoured",
        done.elapsed
    );
    // What describes the run is written before the DUT is waited for.
    let spec = spec_toml(&out);
    assert_eq!(spec_value(&spec, "dut", "mode").as_str(), Some("external"));
    assert_eq!(
        spec_value(&spec, "dut", "ready_timeout_s").as_float(),
        Some(1.0)
    );
    assert_eq!(
        spec_value(&spec, "network", "gateway_listen").as_str(),
        Some(gateway.to_string().as_str())
    );
    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("env.json")).unwrap()).unwrap();
    assert_eq!(env["clock_domain"], "kernel_software", "{env:#}");
    assert!(
        !out.join("summary.json").exists(),
        "no tick was sent, so there is no summary: {:?}",
        lab::list_dir(&out)
    );
    let files = lab::list_dir(&out);
    assert!(
        !files.iter().any(|f| f.ends_with(".partial")),
        "recording had not started, so no interval log was begun: {files:?}"
    );
}

#[test]
fn a_dut_that_exits_at_once_fails_with_its_exit_status() {
    let _turn = lab_lock();
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);
    let gateway = free_tcp_addr();
    // The placeholders are required; they become the script's $0 and $1.
    let command: Vec<String> = ["sh", "-c", "exit 7", "{feed}", "{gateway}"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut args = vec!["--out".to_string(), out.display().to_string()];
    args.extend(small_run(free_udp_port()));
    args.extend(sets(&[
        ("network.gateway_listen", gateway.to_string()),
        ("dut.command", toml_array(&command)),
    ]));
    let done = LabProcess::ticklab_run(&args).finish();

    assert_eq!(done.code, Some(69), "{done:#?}");
    assert!(
        done.stderr.contains(&format!(
            "the DUT did not log in to the order gateway at {gateway} within 10s: it exited first (exit 7)"
        )),
        "{}",
        done.stderr
    );
    assert!(out.join("spec.toml").is_file());
    assert!(out.join("env.json").is_file());
    assert_eq!(std::fs::read_to_string(out.join("dut.log")).unwrap(), "");
}

#[test]
fn a_wrong_password_fails_as_a_rejected_login() {
    let _turn = lab_lock();
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);
    let gateway = free_tcp_addr();
    let mut command = vec![REFCORE.to_string()];
    command.extend(refcore_args("{iface_addr}", "WRONG"));
    let mut args = vec!["--out".to_string(), out.display().to_string()];
    args.extend(small_run(free_udp_port()));
    args.extend(sets(&[
        ("network.gateway_listen", gateway.to_string()),
        ("dut.command", toml_array(&command)),
    ]));
    let done = LabProcess::ticklab_run(&args).finish();

    assert_eq!(done.code, Some(69), "{done:#?}");
    assert!(
        done.stderr.contains(&format!(
            "the DUT did not log in to the order gateway at {gateway} within 10s: its login was rejected"
        )),
        "{}",
        done.stderr
    );
    // The DUT's own last words come with the error (so the lab must read the end of
    // dut.log after the DUT has exited, not as soon as the gateway saw the refusal),
    // and stay in dut.log.
    let refusal =
        format!("refcore: error: the gateway {gateway} rejected the login: not authorized");
    assert!(done.stderr.contains(&refusal), "{}", done.stderr);
    let dut_log = std::fs::read_to_string(out.join("dut.log")).unwrap();
    assert!(dut_log.contains(&refusal), "{dut_log}");
}

#[test]
fn a_dut_killed_mid_run_makes_the_run_incomplete_and_keeps_what_was_measured() {
    const MESSAGES: u64 = 400_000;
    let _turn = lab_lock();
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);
    let mut args = vec!["--out".to_string(), out.display().to_string()];
    args.extend(small_run(free_udp_port()));
    // About 3 s of feed at its own pace: the kill lands while it is going.
    args.extend(sets(&[("run.messages", MESSAGES.to_string())]));
    let mut run = LabProcess::ticklab_run(&args);
    let stderr = run.wait_for_stderr("DUT logged in");
    let refcore = dut_pid(&stderr);
    thread::sleep(Duration::from_secs(1));
    send_signal(refcore, libc::SIGKILL);
    let done = run.finish();

    assert_eq!(done.code, Some(1), "{done:#?}");
    let s = read_summary(&out);
    assert_eq!(s.verdict, Verdict::Incomplete, "{s:#?}");
    let dut = s.dut.as_ref().expect("a command DUT is reported");
    assert_eq!(dut.status, "signal 9 (SIGKILL)");
    assert_eq!(dut.stopped_by, "exited by itself");
    assert_eq!(s.feed.end, "stopped", "{s:#?}");
    assert!(s.ticks_sent < MESSAGES, "the feed went on: {s:#?}");
    // Everything measured before the crash is kept.
    assert!(s.matched > 0, "{s:#?}");
    assert!(s.latency_ns.count > 0, "{s:#?}");
    assert!(!hlog_intervals(&out.join("latency.hlog")).is_empty());
    assert!(!hlog_intervals(&out.join("from-schedule.hlog")).is_empty());
    assert_accounting(&s);
    assert_results_complete(&out);
    assert!(
        done.stdout.contains("verdict    INCOMPLETE: "),
        "{}",
        done.stdout
    );
    // The reason names what happened to the DUT, not only what the gateway saw.
    assert!(
        s.reasons
            .iter()
            .any(|r| r.contains("the DUT exited at ") && r.contains("(signal 9 (SIGKILL))")),
        "no reason names the DUT's exit: reasons {:?}, warnings {:?}",
        s.reasons,
        s.warnings
    );
}

#[test]
fn ctrl_c_stops_the_run_writes_its_results_and_stops_the_dut() {
    const MESSAGES: u64 = 1_400_000;
    let _turn = lab_lock();
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);
    let mut args = vec!["--out".to_string(), out.display().to_string()];
    args.extend(small_run(free_udp_port()));
    // About 10 s of feed: the interrupt lands while it is going.
    args.extend(sets(&[("run.messages", MESSAGES.to_string())]));
    let mut run = LabProcess::ticklab_run(&args);
    let stderr = run.wait_for_stderr("DUT logged in");
    let refcore = dut_pid(&stderr);
    thread::sleep(Duration::from_millis(1500));
    run.signal(libc::SIGINT);
    let done = run.finish();

    assert_eq!(done.code, Some(130), "{done:#?}");
    let s = read_summary(&out);
    assert_eq!(s.verdict, Verdict::Incomplete, "{s:#?}");
    assert_eq!(s.reasons.len(), 1, "{:?}", s.reasons);
    assert!(
        s.reasons[0].starts_with("interrupted at "),
        "{:?}",
        s.reasons
    );
    assert_eq!(s.feed.end, "stopped", "{s:#?}");
    assert!(s.ticks_sent > 0 && s.ticks_sent < MESSAGES, "{s:#?}");
    assert_accounting(&s);
    assert_results_complete(&out);
    assert!(
        done.stdout
            .contains("verdict    INCOMPLETE: interrupted at "),
        "{}",
        done.stdout
    );
    // The lab ended the DUT's session and the DUT left by itself.
    let dut = s.dut.as_ref().expect("a command DUT is reported");
    assert_eq!(dut.status, "exit 0");
    assert_eq!(dut.stopped_by, "exited by itself");
    assert_eq!(s.gateway.close_reason.as_deref(), Some("end of session"));
    let refcore_said = refcore_summary(&out.join("dut.log"));
    assert_eq!(
        refcore_field(&refcore_said, "end"),
        "gateway-end-of-session"
    );
    assert!(
        !process_running(refcore, "refcore"),
        "refcore (pid {refcore}) outlived the lab"
    );
}

/// The test playing an external DUT: it logs in, waits for the feed to start, then
/// writes `garbage` on the order session and keeps its end of the connection open,
/// reading what the gateway sends, until the gateway closes it.
struct GarbageDut {
    reader: JoinHandle<()>,
}

impl GarbageDut {
    fn run(gateway: SocketAddr, feed_port: u16, garbage: &'static [u8]) -> GarbageDut {
        let feed = UdpSocket::bind((FEED_GROUP, feed_port)).expect("bind the feed port");
        feed.join_multicast_v4(&FEED_GROUP, &Ipv4Addr::LOCALHOST)
            .expect("join the feed group on loopback");
        feed.set_read_timeout(Some(DEADLINE)).unwrap();

        let mut session = connect(gateway);
        let mut login = [0u8; 64];
        let n = soupbintcp::write_login_request(&mut login, b"TKLB", b"TICKLAB", b"", 1)
            .expect("login request");
        session.write_all(&login[..n]).expect("send the login");
        session.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut inbox = Vec::new();
        loop {
            if let Some((packet, _)) = soupbintcp::frame(&inbox).expect("a SoupBinTCP stream") {
                assert!(
                    matches!(packet, Packet::LoginAccepted { .. }),
                    "the gateway answered the login with {packet:?}"
                );
                break;
            }
            let mut buf = [0u8; 256];
            let n = session.read(&mut buf).expect("read the login answer");
            assert!(n > 0, "the gateway closed before answering the login");
            inbox.extend_from_slice(&buf[..n]);
        }
        // Mid-run: the first tick has been sent.
        let mut datagram = [0u8; 2048];
        feed.recv(&mut datagram).expect("a feed datagram");
        session.write_all(garbage).expect("send the garbage");
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while matches!(session.read(&mut buf), Ok(n) if n > 0) {}
        });
        GarbageDut { reader }
    }

    /// Waits for the gateway to close the connection.
    fn closed(self) {
        self.reader.join().expect("the session reader");
    }
}

/// Connects once the lab's gateway listens (it binds after loading the feed).
fn connect(gateway: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match TcpStream::connect(gateway) {
            Ok(s) => return s,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("the gateway at {gateway} never listened: {e}"),
        }
    }
}

/// A packet of Packet Type `#`, which SoupBinTCP does not define.
const UNKNOWN_PACKET: &[u8] = &[0x00, 0x03, b'#', 0xde, 0xad];

fn garbage_run(on_garbage: &str) -> (lab::Finished, std::path::PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);
    let gateway = free_tcp_addr();
    let feed_port = free_udp_port();
    let mut args = vec!["--out".to_string(), out.display().to_string()];
    args.extend(small_run(feed_port));
    args.extend(sets(&[
        ("dut.mode", "external".into()),
        ("network.gateway_listen", gateway.to_string()),
        ("gateway.on_garbage", format!("{on_garbage:?}")),
    ]));
    let run = LabProcess::ticklab_run(&args);
    let dut = GarbageDut::run(gateway, feed_port, UNKNOWN_PACKET);
    let done = run.finish();
    dut.closed();
    (done, out, tmp)
}

#[test]
fn garbage_on_the_order_session_ends_the_run_under_end_run() {
    let _turn = lab_lock();
    let (done, out, _tmp) = garbage_run("end_run");

    assert_eq!(done.code, Some(1), "{done:#?}");
    let s = read_summary(&out);
    assert_eq!(s.verdict, Verdict::Incomplete, "{s:#?}");
    assert_eq!(s.reasons.len(), 1, "{:?}", s.reasons);
    let reason = &s.reasons[0];
    assert!(
        reason.starts_with("the order session closed at ")
            && reason.contains(": unknown packet type ")
            && reason.ends_with(" at stream offset 49"),
        "{reason}"
    );
    let close = s.gateway.close_reason.as_deref().unwrap_or_default();
    assert!(close.starts_with("unknown packet type "), "{close}");
    assert!(!s.gateway.orderly_close);
    assert_eq!(s.feed.end, "stopped", "{s:#?}");
    assert!(s.ticks_sent > 0 && s.ticks_sent < 60_000, "{s:#?}");
    assert_eq!(s.orders_received, 0);
    assert_eq!(s.matched, 0);
    assert!(s.dut.is_none(), "an external DUT has no process: {s:#?}");
    assert_accounting(&s);
    assert!(
        done.stdout
            .contains("verdict    INCOMPLETE: the order session closed at "),
        "{}",
        done.stdout
    );
}

#[test]
fn garbage_on_the_order_session_is_survived_under_close_and_continue() {
    let _turn = lab_lock();
    let (done, out, _tmp) = garbage_run("close_and_continue");

    assert_eq!(done.code, Some(0), "{done:#?}");
    let s = read_summary(&out);
    assert_eq!(s.verdict, Verdict::Complete, "{s:#?}");
    assert!(s.reasons.is_empty(), "{:?}", s.reasons);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    let warning = &s.warnings[0];
    assert!(
        warning.starts_with("the order session closed at ")
            && warning.contains(": unknown packet type ")
            && warning.contains(" at stream offset 49; the run went on without an order session"),
        "{warning}"
    );
    // The feed ran to its end, and nobody answered a single trigger.
    assert_eq!(s.feed.end, "exhausted", "{s:#?}");
    assert_eq!(s.ticks_sent, 60_000);
    assert!(s.triggers > 0, "{s:#?}");
    assert_eq!(s.orders_received, 0);
    assert_eq!(s.matched, 0);
    assert_eq!(s.non_responses, s.triggers);
    assert_eq!(s.latency_ns.count, 0);
    assert_accounting(&s);
    assert!(
        done.stdout.contains("verdict    complete"),
        "{}",
        done.stdout
    );
}
