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
#[path = "common/netns.rs"]
mod netns;
use netns::{require_root_and_ip, VethPair, A_ADDR, B_ADDR};

use lab::{
    assert_accounting, assert_results_complete, lab_lock, out_dir, read_summary, refcore_args,
    refcore_field, refcore_summary, sets, small_run, toml_array, LabProcess, REFCORE, TICKLAB,
};
use ticklab::lab::summary::Verdict;

#[test]
fn a_run_across_a_veth_pair_between_namespaces_is_complete() {
    let _turn = lab_lock();
    require_root_and_ip("lab_netns");
    let link = VethPair::create("lab", "tl", 'n', None);
    let tmp = tempfile::tempdir().unwrap();
    let out = out_dir(&tmp);

    let mut command: Vec<String> = ["ip", "netns", "exec", &link.b, REFCORE]
        .iter()
        .map(|s| s.to_string())
        .collect();
    command.extend(refcore_args(B_ADDR, "{password}"));
    let mut argv: Vec<String> = ["ip", "netns", "exec", &link.a, TICKLAB, "run", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(out.display().to_string());
    argv.extend(small_run(lab::free_udp_port()));
    argv.extend(sets(&[
        ("network.feed_iface_addr", format!("{A_ADDR:?}")),
        ("network.gateway_listen", format!("\"{A_ADDR}:0\"")),
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
        s.gateway.listen.starts_with(&format!("{A_ADDR}:")),
        "{:?}",
        s.gateway
    );
    assert!(
        s.gateway
            .peer
            .as_deref()
            .is_some_and(|p| p.starts_with(&format!("{B_ADDR}:"))),
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
