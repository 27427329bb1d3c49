//! `time::ptp_mgmt` against real ptp4l (Debian's linuxptp): a master and a slave on
//! a veth pair between two network namespaces (198.18.0.1/30 and .2/30, RFC 2544's
//! benchmark range), software timestamps (`-S`), the profiles in
//! `firmware-configs/ptp4l-test-sw-*.conf`. The slave is `free_running`: every
//! namespace shares this machine's one clock, and a slave that steered it would move
//! it. Such a slave never locks, so its port stays UNCALIBRATED; the locked path is
//! tested with byte arrays in the module's unit tests.
//!
//! Each ptp4l gets its own `--uds_address` in a temporary directory, so these tests
//! also show the client works on whatever socket path it is given (as it must for
//! linuxptp 3.2's read-only `uds_ro_address`). Our client's answers are checked
//! field for field against `pmc -u -b 0`'s for the same GETs.
//!
//! Needs root, ptp4l and pmc (lab-scripts/setup installs linuxptp) and iproute2's
//! `ip`; without any of them the tests fail, naming what is missing. The ptp4l
//! processes and the namespaces are removed by a guard, also when an assertion
//! fails.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ticklab::time::ptp_mgmt::{
    ClientConfig, CurrentDataSet, DefaultDataSet, ManagementErrorId, ManagementId,
    NotificationData, NotifyEvent, NotifyEvents, ParentDataSet, PortDataSet, PortState, PtpClient,
    PtpError, TimeStatus,
};

#[path = "common/ptp.rs"]
mod ptp;
use ptp::{client_config, PtpPair, LOSS_NOTICED};

/// `pmc -u -b 0 -s <uds> 'GET <id>'`'s answer: its `name value` lines.
fn pmc_get(uds: &Path, id: &str) -> BTreeMap<String, String> {
    let out = Command::new("pmc")
        .args(["-u", "-b", "0", "-s"])
        .arg(uds)
        .arg(format!("GET {id}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run pmc: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pmc failed ({}): {text}", out.status);
    let mut lines = text
        .lines()
        .skip_while(|l| !l.contains(&format!("RESPONSE MANAGEMENT {id}")));
    assert!(
        lines.next().is_some(),
        "pmc printed no {id} answer:\n{text}"
    );
    lines
        .take_while(|l| l.starts_with("\t\t"))
        .map(|l| {
            let (name, value) = l
                .trim()
                .split_once(char::is_whitespace)
                .expect("name value");
            (name.to_string(), value.trim().to_string())
        })
        .collect()
}

fn fields<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

// Our answers as pmc 3.1.1 prints them (pmc.c, pmc_show): the same names, the same
// number formats.

fn pmc_time_status(t: &TimeStatus) -> BTreeMap<String, String> {
    fields([
        ("master_offset", t.master_offset_ns.to_string()),
        ("ingress_time", t.ingress_time_ns.to_string()),
        (
            "cumulativeScaledRateOffset",
            format!("{:+.9}", t.rate_offset()),
        ),
        (
            "scaledLastGmPhaseChange",
            t.scaled_last_gm_phase_change.to_string(),
        ),
        ("gmTimeBaseIndicator", t.gm_time_base_indicator.to_string()),
        ("lastGmPhaseChange", t.last_gm_phase_change.to_string()),
        ("gmPresent", t.gm_present.to_string()),
        ("gmIdentity", t.gm_identity.to_string()),
    ])
}

fn pmc_port_data_set(p: &PortDataSet) -> BTreeMap<String, String> {
    // pmc 3.1 shows states above SLAVE (linuxptp's GRAND_MASTER) as NONE.
    let state = match p.port_state.to_u8() {
        1..=9 => p.port_state.to_string(),
        _ => "NONE".to_string(),
    };
    fields([
        ("portIdentity", p.port_identity.to_string()),
        ("portState", state),
        (
            "logMinDelayReqInterval",
            p.log_min_delay_req_interval.to_string(),
        ),
        (
            "peerMeanPathDelay",
            p.peer_mean_path_delay.floor_ns().to_string(),
        ),
        ("logAnnounceInterval", p.log_announce_interval.to_string()),
        (
            "announceReceiptTimeout",
            p.announce_receipt_timeout.to_string(),
        ),
        ("logSyncInterval", p.log_sync_interval.to_string()),
        ("delayMechanism", p.delay_mechanism.to_u8().to_string()),
        (
            "logMinPdelayReqInterval",
            p.log_min_pdelay_req_interval.to_string(),
        ),
        ("versionNumber", p.version_number.to_string()),
    ])
}

fn pmc_current_data_set(c: &CurrentDataSet) -> BTreeMap<String, String> {
    // x / 65536 never ends in an exact 5 at the second decimal, so C's and Rust's
    // correctly rounded "%.1f" agree.
    fields([
        ("stepsRemoved", c.steps_removed.to_string()),
        (
            "offsetFromMaster",
            format!("{:.1}", c.offset_from_master.ns_f64()),
        ),
        (
            "meanPathDelay",
            format!("{:.1}", c.mean_path_delay.ns_f64()),
        ),
    ])
}

fn pmc_parent_data_set(p: &ParentDataSet) -> BTreeMap<String, String> {
    let q = p.grandmaster_clock_quality;
    fields([
        ("parentPortIdentity", p.parent_port_identity.to_string()),
        ("parentStats", u8::from(p.parent_stats).to_string()),
        (
            "observedParentOffsetScaledLogVariance",
            format!("0x{:04x}", p.observed_parent_offset_scaled_log_variance),
        ),
        (
            "observedParentClockPhaseChangeRate",
            format!("0x{:08x}", p.observed_parent_clock_phase_change_rate),
        ),
        ("grandmasterPriority1", p.grandmaster_priority1.to_string()),
        ("gm.ClockClass", q.clock_class.to_string()),
        ("gm.ClockAccuracy", format!("0x{:02x}", q.clock_accuracy)),
        (
            "gm.OffsetScaledLogVariance",
            format!("0x{:04x}", q.offset_scaled_log_variance),
        ),
        ("grandmasterPriority2", p.grandmaster_priority2.to_string()),
        ("grandmasterIdentity", p.grandmaster_identity.to_string()),
    ])
}

fn pmc_default_data_set(d: &DefaultDataSet) -> BTreeMap<String, String> {
    let q = d.clock_quality;
    fields([
        ("twoStepFlag", u8::from(d.two_step).to_string()),
        ("slaveOnly", u8::from(d.slave_only).to_string()),
        ("numberPorts", d.number_ports.to_string()),
        ("priority1", d.priority1.to_string()),
        ("clockClass", q.clock_class.to_string()),
        ("clockAccuracy", format!("0x{:02x}", q.clock_accuracy)),
        (
            "offsetScaledLogVariance",
            format!("0x{:04x}", q.offset_scaled_log_variance),
        ),
        ("priority2", d.priority2.to_string()),
        ("clockIdentity", d.clock_identity.to_string()),
        ("domainNumber", d.domain_number.to_string()),
    ])
}

/// Our GET of `id` and pmc's agree field for field. ptp4l's values move with every
/// Sync (four a second), so pmc's query is bracketed by two of ours and compared
/// only when ours did not change across it.
fn agrees_with_pmc<T: PartialEq + Debug>(
    pair: &PtpPair,
    uds: &Path,
    id: &str,
    get: impl Fn(&mut PtpClient) -> Result<T, PtpError>,
    as_pmc: impl Fn(&T) -> BTreeMap<String, String>,
) -> T {
    let mut client = PtpClient::new(client_config(uds)).expect("bind the client");
    for _ in 0..30 {
        let before = get(&mut client)
            .unwrap_or_else(|e| panic!("GET {id} at {}: {e}\n{}", uds.display(), pair.logs()));
        let pmc = pmc_get(uds, id);
        let after = get(&mut client).expect("the same GET again");
        if before == after {
            assert_eq!(
                as_pmc(&before),
                pmc,
                "GET {id} at {}: ours (left), pmc's (right)",
                uds.display()
            );
            return before;
        }
    }
    panic!(
        "{id} at {} changed across each of 30 brackets",
        uds.display()
    );
}

#[test]
fn gets_match_pmc_field_for_field_on_master_and_slave() {
    let pair = PtpPair::start('g');
    for (role, uds) in [("slave", &pair.slave_uds), ("master", &pair.master_uds)] {
        let status = agrees_with_pmc(
            &pair,
            uds,
            "TIME_STATUS_NP",
            |c| c.get_time_status(),
            pmc_time_status,
        );
        let port = agrees_with_pmc(
            &pair,
            uds,
            "PORT_DATA_SET",
            |c| c.get_port_data_set(),
            pmc_port_data_set,
        );
        let current = agrees_with_pmc(
            &pair,
            uds,
            "CURRENT_DATA_SET",
            |c| c.get_current_data_set(),
            pmc_current_data_set,
        );
        let parent = agrees_with_pmc(
            &pair,
            uds,
            "PARENT_DATA_SET",
            |c| c.get_parent_data_set(),
            pmc_parent_data_set,
        );
        let default = agrees_with_pmc(
            &pair,
            uds,
            "DEFAULT_DATA_SET",
            |c| c.get_default_data_set(),
            pmc_default_data_set,
        );

        // And the answers make sense together.
        assert_eq!(
            port.port_identity.clock_identity, default.clock_identity,
            "{role}"
        );
        assert_eq!(status.gm_identity, parent.grandmaster_identity, "{role}");
        assert_eq!(default.number_ports, 1, "{role}");
        if role == "slave" {
            assert_eq!(port.port_state, PortState::Uncalibrated);
            assert!(status.gm_present);
            assert_ne!(status.ingress_time_ns, 0);
            assert_eq!(current.steps_removed, 1);
            assert!(default.slave_only);
            assert_ne!(parent.grandmaster_identity, default.clock_identity);
        } else {
            assert_eq!(port.port_state, PortState::Master);
            assert!(!status.gm_present);
            assert_eq!(current.steps_removed, 0);
            assert_eq!(parent.grandmaster_identity, default.clock_identity);
            assert_eq!(
                parent.grandmaster_priority1, 10,
                "priority1 from the master's profile"
            );
        }
    }

    let mut client = PtpClient::new(client_config(&pair.slave_uds)).expect("bind the client");
    // All ports of the clock: one here.
    let ports = client
        .get_port_data_sets()
        .expect("GET PORT_DATA_SET, every port");
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].port_state, PortState::Uncalibrated);
    // An id ptp4l does not know is refused with a typed error, not a timeout.
    let err = client
        .get_with(ManagementId(0x1234), |t| Ok(t.data.len()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            PtpError::Refused {
                error: ManagementErrorId::NoSuchId,
                ..
            }
        ),
        "{err}"
    );
    // ptp4l ignores other domains silently: that is a timeout naming the domain.
    let mut other_domain = PtpClient::new(ClientConfig {
        domain_number: 7,
        timeout: Duration::from_millis(300),
        ..ClientConfig::new(&pair.slave_uds)
    })
    .expect("bind the client");
    let err = other_domain.get_time_status().unwrap_err();
    assert!(matches!(err, PtpError::Timeout { domain: 7, .. }), "{err}");
    assert!(err.to_string().contains("is its domainNumber 7"), "{err}");
}

#[test]
fn losing_the_master_is_notified_as_listening() {
    let mut pair = PtpPair::start('n');
    let mut client = PtpClient::new(client_config(&pair.slave_uds)).expect("bind the client");
    let granted = client
        .subscribe(NotifyEvents::NONE.with(NotifyEvent::PortState), 60)
        .unwrap_or_else(|e| panic!("subscribe: {e}\n{}", pair.logs()));
    assert_eq!(granted.duration_s, 60);
    assert!(granted.events.contains(NotifyEvent::PortState));
    assert!(!granted.events.contains(NotifyEvent::TimeSync));
    let following = client.get_port_data_set().expect("GET PORT_DATA_SET");
    assert_eq!(following.port_state, PortState::Uncalibrated);
    // Nothing is pending while nothing changes.
    assert_eq!(
        client.poll_event(Duration::from_millis(100)).expect("poll"),
        None
    );

    let killed = Instant::now();
    pair.kill_master();
    let mut seen = Vec::new();
    let noticed = loop {
        let left = LOSS_NOTICED.saturating_sub(killed.elapsed());
        assert!(
            !left.is_zero(),
            "no LISTENING notification within {LOSS_NOTICED:?} of killing the master (seen: \
             {seen:?}):\n{}",
            pair.logs()
        );
        let Some(n) = client.poll_event(left).expect("poll_event") else {
            continue;
        };
        let NotificationData::PortState(ds) = n.data else {
            panic!("a notification we did not subscribe to: {n:?}");
        };
        seen.push((n.sequence_id, n.missed, ds.port_state));
        if ds.port_state == PortState::Listening {
            assert_eq!(ds.port_identity, following.port_identity);
            break killed.elapsed();
        }
    };
    assert_eq!(
        seen,
        [(0, 0, PortState::Listening)],
        "the first notification is the loss"
    );
    eprintln!("the slave reported LISTENING {noticed:?} after the master was killed");

    // GETs agree with the notification, and with pmc.
    assert_eq!(
        client
            .get_port_data_set()
            .expect("GET PORT_DATA_SET")
            .port_state,
        PortState::Listening
    );
    let status = agrees_with_pmc(
        &pair,
        &pair.slave_uds,
        "PORT_DATA_SET",
        |c| c.get_port_data_set(),
        pmc_port_data_set,
    );
    assert_eq!(status.port_state, PortState::Listening);
    let events_path = client.events_path().expect("subscribed").to_path_buf();
    drop(client);
    assert!(
        !events_path.exists(),
        "the events socket is removed on drop"
    );
}
