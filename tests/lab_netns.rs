//! `ticklab run` over a real link: the lab in one network namespace, refcore in
//! another, a veth pair between them (198.18.0.1/30 on the lab's side, 198.18.0.2/30
//! on the DUT's; RFC 2544's benchmark range, so nothing leaves the host). The feed
//! crosses the veth as multicast, the orders come back over TCP across it. It runs
//! over each backend: io_uring sockets; AF_PACKET frames built by the lab on the
//! veth (the interface found from `network.feed_iface_addr`); and, with the `dpdk`
//! feature, DPDK's `net_af_packet` driver on the veth; and with both stamps of every
//! figure taken from an AF_PACKET tap on the lab's end of the veth.
//!
//! Neither namespace has a multicast route, on purpose: the socket lab sends with
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
use ticklab::lab::summary::{Summary, Verdict};

#[test]
fn a_run_across_a_veth_pair_between_namespaces_is_complete() {
    let (s, _env, _) = run_across_a_veth('n', |_| Vec::new());
    assert_eq!(s.clock_domain, "kernel_software");
}

#[test]
fn an_af_packet_run_building_its_own_frames_is_complete() {
    let (s, env, veth) = run_across_a_veth('p', |_| {
        vec![("network.backend", "\"af_packet\"".to_string())]
    });
    // Kernel software stamps both ways, from the veth the lab found by address.
    assert_eq!(s.clock_domain, "kernel_software");
    assert_eq!(env["clock_domain"], "kernel_software");
    let source = env["timestamp_source"].as_str().unwrap();
    assert!(source.starts_with(&format!("{veth}: ")), "{source}");
    assert!(
        source.contains("kernel software stamps both ways"),
        "{source}"
    );
    assert!(source.contains("no PTP hardware clock"), "{source}");
    assert_eq!(s.timestamps.tx_unstamped_datagrams, 0, "{s:#?}");
}

#[test]
fn a_run_stamped_by_a_tap_takes_every_stamp_from_it() {
    for (tag, backend) in [('t', "uring"), ('q', "af_packet")] {
        let (s, env, veth) = run_across_a_veth(tag, |_| {
            vec![
                ("network.backend", format!("{backend:?}")),
                ("network.tap", "true".to_string()),
            ]
        });
        let tap = s.timestamps.tap.expect("a tapped run reports its tap");
        // Every datagram was seen leaving and every order arriving, on one clock.
        assert_eq!(
            tap.feed_departures, s.feed.datagrams_sent,
            "{backend}: {tap:?}"
        );
        assert_eq!(tap.order_arrivals, s.orders_received, "{backend}: {tap:?}");
        assert_eq!(
            (tap.feed_missed, tap.orders_missed, tap.ring_dropped),
            (0, 0, 0),
            "{backend}: {tap:?}"
        );
        assert_eq!(s.clock_domain, "kernel_software");
        assert_eq!(s.negative, 0, "{backend}: {s:#?}");
        let source = env["timestamp_source"].as_str().unwrap();
        assert!(
            source.starts_with(&format!("AF_PACKET tap on {veth}: ")),
            "{backend}: {source}"
        );
    }
}

#[cfg(feature = "dpdk")]
#[test]
fn a_dpdk_run_through_net_af_packet_on_the_veth_is_complete() {
    let (s, env, _) = run_across_a_veth('d', |link| {
        vec![
            ("network.backend", "\"dpdk\"".to_string()),
            ("network.interface", "\"net_af_packet0\"".to_string()),
            (
                "network.dpdk_args",
                format!(
                    "\"--no-huge -m 512 --no-pci --no-shconf --no-telemetry --vdev=net_af_packet0,iface={}\"",
                    link.a_veth
                ),
            ),
        ]
    });
    // DPDK's TX time is a user-space clock read; the orders' the kernel's.
    assert_eq!(s.clock_domain, "user_tx+kernel_software_rx");
    assert_eq!(env["clock_domain"], "user_tx+kernel_software_rx");
    let source = env["timestamp_source"].as_str().unwrap();
    assert!(source.contains("rte_eth_tx_burst"), "{source}");
    // A TX time taken before the send: no order can precede its tick.
    assert_eq!(s.negative, 0, "{s:#?}");
}

/// Runs the small lab across a veth pair of its own (`tag` tells the tests apart),
/// with `extra` settings for the backend, checks everything that holds on every
/// backend, and returns the summary, `env.json` and the lab's end of the veth.
fn run_across_a_veth(
    tag: char,
    extra: impl Fn(&VethPair) -> Vec<(&'static str, String)>,
) -> (Summary, serde_json::Value, String) {
    let _turn = lab_lock();
    require_root_and_ip("lab_netns");
    let link = VethPair::create("lab", "tl", tag, None);
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
    argv.extend(sets(&extra(&link)));
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
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("env.json")).unwrap()).unwrap();
    (s, env, link.a_veth.clone())
}
