//! One run, start to results: [`start`] checks what it can at once, creates the
//! results directory and hands the rest to a control thread; the [`RunHandle`] it
//! returns reads progress and live percentiles, cancels, and waits for the
//! [`RunResults`]. The CLI is one caller; the lab daemon will be another.
//!
//! The control thread does everything that is not the hot path: it loads the feed,
//! opens the port, starts the order gateway's thread and the DUT, waits for the DUT
//! to log in (or fails, naming why, within `dut.ready_timeout_s`), starts the send
//! thread, and then once a second takes the recorders' intervals into the interval
//! logs (synced to disk, so a crash keeps what was measured) and the live
//! percentiles. It watches for Ctrl-C, the DUT exiting, and the order session
//! closing; each ends the feed early and makes the run incomplete with its reason
//! and time. At the end it closes the session, stops the DUT, and writes every file
//! atomically.
//!
//! Threads: `tl-send` (the measuring thread, [`super::sender`]), `tl-gateway` (blocks
//! in `read`), `tl-control` (sleeps between checks), plus the DUT's own. Only the send
//! thread may spin, and only with a core of its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{CorrelationRule, DutSpec, FeedSpec, OnGarbage, RunSpec, Stop};
use crate::correlate::{self, Correlator, Expect};
use crate::feed::synthetic::SyntheticFeed;
use crate::nic::Port;
use crate::pace::Pacer;
use crate::refcore::book::BookConfig;
use crate::refcore::trigger::TriggerEngine;
use crate::stats::Recorder;
use crate::stats::{
    interval_recorder, write_percentile_distribution, HlogWriter, IntervalCollector, LatencySummary,
};

use super::capture_feed::CaptureFeed;
use super::dut::{log_tail, Dut};
use super::feed_port::{self, FeedPort, OpenPort};
use super::gateway::{is_garbage, GatewayThread};
use super::os;
use super::results::{self, AtomicFile, HostEnv, RunDir};
use super::sender::{
    FeedEnd, Limit, Live, Marking, OrderArrival, Phase, Sender, SenderConfig, SenderOutcome,
};
use super::source::{FeedSource, SyntheticSource};
use super::summary::{DutReport, FeedReport, GatewayReport, Summary, TimestampCounts, Verdict};

/// The `.hgrm` files print microseconds.
pub const HGRM_UNIT_RATIO: f64 = 1000.0;
/// Orders in flight from the gateway thread to the send thread.
const ORDER_RING: usize = 1 << 16;
/// Expected ticks the correlator can hold pending at once.
const CORRELATOR_CAPACITY: usize = 1 << 18;
/// How often the control thread looks at the run.
const CONTROL_TICK: Duration = Duration::from_millis(20);
/// How often intervals are taken (one `.hlog` line each).
const INTERVAL: Duration = Duration::from_secs(1);

/// Why a run could not start or went wrong in a way that leaves no measurement.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{key} = {value}: {what}")]
    Unsupported {
        key: &'static str,
        value: String,
        what: String,
    },
    /// The spec is sound but the feed's port could not be opened here (privileges,
    /// a driver, EAL): not a usage error.
    #[error("the feed's port: {key} = {value}: {why}")]
    PortUnavailable {
        key: &'static str,
        value: String,
        why: String,
    },
    #[error("results: {0}")]
    Results(#[from] results::ResultsError),
    #[error("feed: {0}")]
    Feed(String),
    #[error("feed port: {0}")]
    Port(#[from] crate::nic::Error),
    #[error("{0}")]
    Gateway(#[from] crate::venue::server::ServerError),
    #[error("{0}")]
    Dut(std::io::Error),
    #[error(
        "the DUT did not log in to the order gateway at {gateway} within {timeout:?}: {why}{log}"
    )]
    DutNotReady {
        gateway: SocketAddr,
        timeout: Duration,
        why: String,
        log: String,
    },
    #[error("clock.require_ptp: {0}")]
    ClockNotReady(String),
    #[error("the run was cancelled before the feed started")]
    CancelledBeforeStart,
    #[error("{0}")]
    Internal(String),
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    Starting,
    /// Staging a capture in memory.
    LoadingFeed,
    WaitingForDut,
    Sending,
    /// The feed is done; waiting out the correlation timeout.
    Draining,
    Finishing,
    Done,
}

/// A snapshot of a running run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    pub phase: RunPhase,
    pub elapsed: Duration,
    pub ticks_sent: u64,
    /// The run's length in ticks, when it counts messages.
    pub ticks_total: Option<u64>,
    /// The run's length in time, when it has one.
    pub duration: Option<Duration>,
    /// Time since the feed started.
    pub feed_elapsed: Option<Duration>,
    /// While a capture loads: bytes read and the file's size.
    pub feed_load: Option<(u64, Option<u64>)>,
    pub triggers: u64,
    pub orders: u64,
    pub matched: u64,
    pub non_responses: u64,
    /// Wire tick-to-trade so far (up to the last whole interval).
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunResults {
    pub dir: PathBuf,
    pub summary: Summary,
}

/// Options that are not part of the spec.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Write the results here instead of `results.dir/<run-id>`.
    pub out: Option<PathBuf>,
    /// The command line, for `env.json`.
    pub argv: Vec<String>,
}

struct Shared {
    live: Arc<Live>,
    cancel: AtomicBool,
    phase: Mutex<RunPhase>,
    percentiles: Mutex<Option<(u64, u64)>>,
    feed_started: Mutex<Option<Instant>>,
    feed_load: Mutex<Option<(u64, Option<u64>)>>,
    log: Mutex<Vec<String>>,
    started: Instant,
    ticks_total: Option<u64>,
    duration: Option<Duration>,
}

impl Shared {
    fn set_phase(&self, phase: RunPhase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
    }

    fn log(&self, line: String) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }
}

/// A run in progress.
pub struct RunHandle {
    shared: Arc<Shared>,
    dir: PathBuf,
    thread: JoinHandle<Result<RunResults, LabError>>,
}

impl RunHandle {
    /// Where the results go.
    pub fn results_dir(&self) -> &Path {
        &self.dir
    }

    pub fn progress(&self) -> Progress {
        let s = &self.shared;
        let live = &s.live;
        let percentiles = *s.percentiles.lock().unwrap_or_else(|e| e.into_inner());
        Progress {
            phase: *s.phase.lock().unwrap_or_else(|e| e.into_inner()),
            elapsed: s.started.elapsed(),
            ticks_sent: live.ticks_sent.load(Ordering::Relaxed),
            ticks_total: s.ticks_total,
            duration: s.duration,
            feed_elapsed: s
                .feed_started
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .map(|t| t.elapsed()),
            feed_load: *s.feed_load.lock().unwrap_or_else(|e| e.into_inner()),
            triggers: live.triggers.load(Ordering::Relaxed),
            orders: live.orders.load(Ordering::Relaxed),
            matched: live.matched.load(Ordering::Relaxed),
            non_responses: live.non_responses.load(Ordering::Relaxed),
            p50_ns: percentiles.map(|p| p.0),
            p99_ns: percentiles.map(|p| p.1),
        }
    }

    /// Log lines since the last call (session events, faults), for a display.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.log.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stops the run as soon as it can; it still writes its results (incomplete).
    pub fn cancel(&self) {
        self.shared.cancel.store(true, Ordering::Release);
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the run to end.
    pub fn wait(self) -> Result<RunResults, LabError> {
        self.thread.join().unwrap_or_else(|_| {
            Err(LabError::Internal(
                "the run's control thread panicked".into(),
            ))
        })
    }
}

/// Starts a run of a validated spec.
pub fn start(spec: RunSpec, options: RunOptions) -> Result<RunHandle, LabError> {
    let plan = check_supported(&spec)?;
    let started_at = SystemTime::now();
    let run_id = results::new_run_id(started_at);
    let dir = match &options.out {
        Some(out) => RunDir::at(out)?,
        None => RunDir::create_new(&spec.results.dir, &run_id)?,
    };
    let (ticks_total, duration) = match spec.run.stop() {
        Some(Stop::Messages(n)) => (Some(n), None),
        Some(Stop::After(d)) => (None, Some(d)),
        None => (None, None),
    };
    let shared = Arc::new(Shared {
        live: Arc::new(Live::default()),
        cancel: AtomicBool::new(false),
        phase: Mutex::new(RunPhase::Starting),
        percentiles: Mutex::new(None),
        feed_started: Mutex::new(None),
        feed_load: Mutex::new(None),
        log: Mutex::new(Vec::new()),
        started: Instant::now(),
        ticks_total,
        duration,
    });
    let path = dir.path().to_path_buf();
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("tl-control".into())
        .spawn(move || {
            if let Some(core) = spec.network.cores.control {
                if let Err(e) = os::pin_current_thread(core) {
                    thread_shared.log(format!("network.cores.control: {e}"));
                }
            }
            let result = control(spec, plan, options, dir, run_id, started_at, &thread_shared);
            thread_shared.set_phase(RunPhase::Done);
            result
        })
        .map_err(|e| LabError::Internal(format!("cannot start the control thread: {e}")))?;
    Ok(RunHandle {
        shared,
        dir: path,
        thread,
    })
}

/// Refuses what this build or host cannot run, naming the key; returns the plan
/// of the run's stamps.
fn check_supported(spec: &RunSpec) -> Result<feed_port::Plan, LabError> {
    let allowed = os::allowed_cores();
    let c = &spec.network.cores;
    for (key, core) in [
        ("network.cores.send", c.send),
        ("network.cores.receive", c.receive),
        ("network.cores.control", c.control),
    ] {
        if let Some(core) = core.filter(|core| !allowed.contains(core)) {
            return Err(LabError::Unsupported {
                key,
                value: core.to_string(),
                what: format!("a core this process may run on: {allowed:?}"),
            });
        }
    }
    // The timestamps the spec asks for, on the interface it names: refused here,
    // before a results directory exists, when the interface cannot give them.
    Ok(feed_port::check(&spec.network)?)
}

impl From<feed_port::OpenError> for LabError {
    fn from(e: feed_port::OpenError) -> LabError {
        if e.unavailable {
            LabError::PortUnavailable {
                key: e.key,
                value: e.value,
                why: e.why,
            }
        } else {
            LabError::Unsupported {
                key: e.key,
                value: e.value,
                what: e.why,
            }
        }
    }
}

struct Fault {
    reason: String,
}

/// The DUT's process exiting or its session closing, judged once the control
/// thread knows whether the feed went on after it.
struct Departure {
    line: String,
    /// When it happened (or was seen), `CLOCK_REALTIME` ns.
    at_rt: u64,
    /// Not worth a warning when it came after the feed (exit 0, an orderly logout).
    benign_when_fed: bool,
    /// Tolerated by the spec whenever it happens (garbage, `close_and_continue`).
    tolerated: bool,
}

#[allow(clippy::too_many_lines)]
fn control(
    mut spec: RunSpec,
    plan: feed_port::Plan,
    options: RunOptions,
    dir: RunDir,
    run_id: String,
    started_at: SystemTime,
    shared: &Arc<Shared>,
) -> Result<RunResults, LabError> {
    let dir_path = dir.path().to_path_buf();
    if spec.network.feed_port == 0 {
        spec.network.feed_port = free_udp_port(spec.network.feed_iface_addr)?;
    }
    let spec_text = spec
        .to_toml_string()
        .map_err(|e| LabError::Internal(format!("cannot write the spec as TOML: {e}")))?;
    results::write_atomic(&dir_path, results::SPEC_TOML, spec_text.as_bytes())?;
    let cores_used = cores_used(&spec);
    let env = HostEnv::collect(
        plan.stamps.domain_name(),
        &plan.source,
        cores_used.clone(),
        options.argv.clone(),
        started_at,
    );
    results::write_json(&dir_path, results::ENV_JSON, &env)?;

    // The clock: ptp4l must answer and be locked when the spec requires it.
    let uds = spec.clock.ptp_uds.clone();
    let ptp_before = super::clock::check_before_start(&uds, spec.clock.max_offset_ns);
    if spec.clock.require_ptp {
        match &ptp_before {
            Ok(Some(judged)) if judged.in_sync => {}
            Ok(Some(judged)) => {
                return Err(LabError::ClockNotReady(format!(
                    "ptp4l at {} is not in sync: {}",
                    uds.display(),
                    judged.marks.join(", ")
                )))
            }
            Ok(None) => {
                return Err(LabError::ClockNotReady(format!(
                    "no ptp4l answers at {} (is ptp4l running? is its uds_address {}? set clock.ptp_uds)",
                    uds.display(),
                    uds.display()
                )))
            }
            Err(e) => return Err(LabError::ClockNotReady(format!("ptp4l at {}: {e}", uds.display()))),
        }
    }
    if let Err(e) = &ptp_before {
        shared.log(format!(
            "not monitoring PTP sync: ptp4l at {}: {e}",
            uds.display()
        ));
    }

    // The feed.
    let (source, limit): (Box<dyn FeedSource>, Limit) = match &spec.feed {
        FeedSpec::Synthetic(_) => {
            let cfg = spec
                .synthetic_config()
                .ok_or_else(|| LabError::Internal("synthetic feed without config".into()))?;
            let session_ends = cfg.messages.is_some();
            let feed = SyntheticFeed::new(cfg).map_err(|e| LabError::Feed(e.to_string()))?;
            let limit = match spec.run.stop() {
                // The session holds exactly run.messages: let it end by itself, with
                // its End of Session.
                Some(Stop::Messages(_)) if session_ends => Limit::None,
                Some(Stop::Messages(n)) => Limit::Messages(n),
                Some(Stop::After(d)) => Limit::Duration(d),
                None => Limit::None,
            };
            (Box::new(SyntheticSource::new(feed)), limit)
        }
        FeedSpec::Capture(capture) => {
            shared.set_phase(RunPhase::LoadingFeed);
            let feed = CaptureFeed::load(capture, |p| {
                *shared.feed_load.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((p.bytes_read, p.total_bytes));
            })
            .map_err(|e| LabError::Feed(e.to_string()))?;
            let limit = match spec.run.stop() {
                Some(Stop::Messages(n)) => Limit::Messages(n),
                Some(Stop::After(d)) => Limit::Duration(d),
                None => Limit::None,
            };
            (Box::new(feed), limit)
        }
    };
    let feed_description = source.describe();
    let mut pacer = Pacer::new(spec.pace).map_err(|e| LabError::Feed(e.to_string()))?;
    if let FeedSpec::Capture(c) = &spec.feed {
        if let Some(gap) = c.loop_gap_ns {
            pacer = pacer.with_loop_gap_ns(gap);
        }
    }

    // The port the feed leaves by, and the clocks of both ends of every figure.
    let realtime_offset_ns = os::realtime_minus_monotonic_ns();
    let FeedPort {
        port,
        control: port_control,
        framing,
        clocks,
        description: port_description,
    } = match &spec.feed {
        FeedSpec::Capture(capture) => feed_port::open(
            &feed_port::with_rewrite(&spec.network, &capture.rewrite),
            &plan,
            source.max_datagram_len(),
        )?,
        FeedSpec::Synthetic(_) => feed_port::open(&spec.network, &plan, source.max_datagram_len())?,
    };
    shared.log(format!(
        "feed: {port_description}; stamps: {}",
        clocks.source
    ));

    // Correlation and recording.
    let (rule, expect, marking) = match spec.correlate.rule {
        CorrelationRule::Echo => (
            correlate::Rule::Echo,
            Expect::MarkedTriggers,
            Marking::Triggers,
        ),
        CorrelationRule::Trigger => (
            correlate::Rule::Instrument,
            Expect::MarkedTriggers,
            Marking::Triggers,
        ),
        CorrelationRule::Instrument => (
            correlate::Rule::Instrument,
            Expect::MarkedTriggers,
            Marking::BookMessagesOfTradedSymbols,
        ),
    };
    let order_timeout_ns = spec.correlate.timeout_ms.saturating_mul(1_000_000);
    let correlator = Correlator::new(correlate::Config {
        rule,
        expect,
        timeout_ns: order_timeout_ns,
        capacity: CORRELATOR_CAPACITY,
    })
    .map_err(|e| LabError::Internal(e.to_string()))?;
    let traded: Vec<[u8; 8]> = spec
        .correlate
        .symbols
        .iter()
        .map(|s| crate::proto::pad_alpha::<8>(s.as_bytes()))
        .collect();
    let engine = TriggerEngine::new(
        spec.correlate.trigger_rule,
        &BookConfig {
            symbols: traded.clone(),
            ..BookConfig::default()
        },
    );
    // The tap, when both stamps come from it: on the interface the feed leaves by
    // and the orders arrive through, opened before the gateway listens so that it
    // sees the client's SYN whoever connects first; it learns the bound port next.
    let mut tap = match (&plan.interface, spec.network.tap) {
        (Some(iface), true) => {
            let std::net::IpAddr::V4(gateway_ip) = spec.network.gateway_listen.ip() else {
                return Err(LabError::Unsupported {
                    key: "network.gateway_listen",
                    value: spec.network.gateway_listen.to_string(),
                    what: "an IPv4 address with network.tap".into(),
                });
            };
            let feed = match &spec.feed {
                FeedSpec::Capture(c) => feed_port::with_rewrite(&spec.network, &c.rewrite),
                FeedSpec::Synthetic(_) => spec.network.clone(),
            }
            .feed_addr();
            let gateway =
                std::net::SocketAddrV4::new(gateway_ip, spec.network.gateway_listen.port());
            let tap = super::tap::Tap::open(iface, feed, gateway).map_err(|e| {
                LabError::PortUnavailable {
                    key: "network.tap",
                    value: "true".into(),
                    why: format!("cannot open a tap on {iface}: {e}"),
                }
            })?;
            Some(tap)
        }
        _ => None,
    };
    // The order gateway, then the DUT.
    let (order_tx, order_rx) = rtrb::RingBuffer::new(ORDER_RING);
    let ready_timeout = spec.dut.ready_timeout();
    let gateway = GatewayThread::start(
        spec.network.gateway_listen,
        &spec.gateway,
        ready_timeout,
        order_tx,
        Arc::clone(&shared.live),
        spec.network.cores.receive,
        clocks.rx,
    )?;
    if let (Some(tap), std::net::SocketAddr::V4(bound)) = (tap.as_mut(), gateway.addr) {
        tap.set_gateway(bound);
    }
    let dut_log = dir_path.join(results::DUT_LOG);
    let mut dut = match spec.dut_argv(gateway.addr) {
        Some(argv) => {
            let dut = Dut::start(&argv, &dut_log).map_err(LabError::Dut)?;
            shared.log(format!(
                "DUT started: {} (pid {})",
                argv.join(" "),
                dut.pid()
            ));
            Some((dut, argv))
        }
        None => {
            shared.log(format!(
                "waiting for the DUT to connect to {}",
                gateway.addr
            ));
            None
        }
    };

    // Wait for the DUT to log in.
    shared.set_phase(RunPhase::WaitingForDut);
    let wait_start = Instant::now();
    loop {
        let state = gateway
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if state.logged_in_at.is_some() {
            break;
        }
        let why = if shared.cancel.load(Ordering::Acquire) {
            return Err(LabError::CancelledBeforeStart);
        } else if let Some(reason) = &state.login_rejected {
            Some(format!(
                "its login was rejected ({reason}); the gateway accepts the login in gateway.username ({:?}) and gateway.password",
                spec.gateway.username
            ))
        } else if let Some(status) = dut.as_mut().and_then(|(d, _)| d.try_exited()) {
            Some(format!(
                "it exited first ({})",
                super::dut::describe_status(status)
            ))
        } else if let Some((reason, _)) = state.closed {
            Some(format!("the session closed: {reason}"))
        } else if gateway.is_finished() || wait_start.elapsed() >= ready_timeout {
            Some(match state.connected {
                Some((peer, _)) => format!("it connected from {peer} but did not log in"),
                None => "it never connected".into(),
            })
        } else {
            None
        };
        if let Some(why) = why {
            let addr = gateway.addr;
            let _ = gateway.finish();
            // Stop the DUT first: its last words (why it gave up) are then in the log.
            let log = match dut.take() {
                Some((d, _)) => {
                    d.stop(Duration::from_millis(200));
                    let tail = log_tail(&dut_log, 5);
                    if tail.is_empty() {
                        format!(" (its output, empty, is in {})", dut_log.display())
                    } else {
                        format!("; the end of {}:\n{tail}", dut_log.display())
                    }
                }
                None => String::new(),
            };
            return Err(LabError::DutNotReady {
                gateway: addr,
                timeout: ready_timeout,
                why,
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    shared.log(format!("DUT logged in to the gateway at {}", gateway.addr));

    // Recording starts with the feed: a run that never gets here leaves no logs.
    let record_start = os::realtime_ns();
    let (wire_recorder, mut wire_collector) = interval_recorder(record_start);
    let (sched_recorder, mut sched_collector) = interval_recorder(record_start);
    let comment = format!(
        "ticklab run {run_id}: {{}} tick-to-trade, ns, clock {}",
        clocks.plan.domain_name()
    );
    let mut wire_log = HlogWriter::new(
        AtomicFile::create(&dir_path, results::LATENCY_HLOG)?,
        record_start,
        Some(&comment.replace("{}", "wire")),
    )
    .map_err(|e| LabError::Internal(format!("latency.hlog: {e}")))?;
    let mut sched_log = HlogWriter::new(
        AtomicFile::create(&dir_path, results::FROM_SCHEDULE_HLOG)?,
        record_start,
        Some(&comment.replace("{}", "from-schedule")),
    )
    .map_err(|e| LabError::Internal(format!("from-schedule.hlog: {e}")))?;

    // The TSC against the kernel clocks, before the feed and again after it: its
    // rate and drift go into env.json (the socket backend's figures do not use the
    // TSC; the record says what it would have measured with).
    let tsc_start = calibrate_tsc();

    let monitor = match &ptp_before {
        Ok(Some(_)) => Some(super::clock::Monitor::start(
            uds.clone(),
            &dir_path,
            spec.clock.max_offset_ns,
            spec.clock.require_ptp,
        )?),
        _ => None,
    };
    let mut sync_fault_noted = false;

    // The feed.
    let parts = SenderParts {
        cfg: SenderConfig {
            pacer,
            limit,
            warmup_messages: spec.run.warmup_messages,
            engine,
            marking,
            traded,
            order_timeout_ns,
            spin: spec.network.cores.send.is_some(),
            realtime_offset_ns,
            framing,
            tx_stamp_offset_ns: clocks.tx_to_realtime_ns,
            tx_at_send: clocks.tx_at_send,
            tap,
        },
        source,
        correlator,
        wire: wire_recorder,
        from_schedule: sched_recorder,
        orders: order_rx,
        live: Arc::clone(&shared.live),
    };
    let send_core = spec.network.cores.send;
    let send_thread = match port {
        OpenPort::Uring(port) => parts.spawn(port, send_core, Arc::clone(shared), || Ok(())),
        OpenPort::AfPacket(port) => {
            parts.spawn(port, send_core, Arc::clone(shared), || Ok(()))
        }
        // DPDK's mempool caches are per lcore: the send thread becomes one.
        #[cfg(feature = "dpdk")]
        OpenPort::Dpdk(port, eal) => parts.spawn(port, send_core, Arc::clone(shared), move || {
            eal.register_thread().map_err(|e| {
                format!("the send thread is not a DPDK lcore ({e}): mempool operations go without a per-lcore cache")
            })
        }),
    }
    .map_err(|e| LabError::Internal(format!("cannot start the send thread: {e}")))?;
    *shared
        .feed_started
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    shared.set_phase(RunPhase::Sending);
    let feed_start = Instant::now();
    let feed_start_rt = os::realtime_ns();

    // Watch the run.
    let mut faults: Vec<Fault> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut next_interval = Instant::now() + INTERVAL;
    let mut session_closed_noted = false;
    let mut dut_exit_noted = false;
    let mut departures: Vec<Departure> = Vec::new();
    let mut log_error: Option<String> = None;
    loop {
        let phase = shared.live.phase();
        if phase == Phase::Drained || phase == Phase::Done {
            break;
        }
        if phase == Phase::Draining {
            shared.set_phase(RunPhase::Draining);
        }
        let at = feed_start.elapsed().as_secs_f64();
        if shared.cancel.load(Ordering::Acquire) && !shared.live.stop.load(Ordering::Relaxed) {
            faults.push(Fault {
                reason: format!("interrupted at {at:.1} s"),
            });
            shared.log(format!("interrupted at {at:.1} s; stopping the feed"));
            shared.live.stop.store(true, Ordering::Release);
        }
        // The DUT leaving (its process exiting, its session closing) is a fault
        // only if the feed was still going: a datagram sent after it left. A DUT
        // that leaves at the feed's End of Session is done, not gone.
        if !dut_exit_noted {
            if let Some(status) = dut.as_mut().and_then(|(d, _)| d.try_exited()) {
                dut_exit_noted = true;
                let status_text = super::dut::describe_status(status);
                shared.log(format!("the DUT exited at {at:.1} s ({status_text})"));
                departures.push(Departure {
                    line: format!("the DUT exited at {at:.1} s ({status_text})"),
                    at_rt: os::realtime_ns(),
                    benign_when_fed: status.success(),
                    tolerated: false,
                });
            }
        }
        if !session_closed_noted {
            let closed = gateway
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .closed;
            if let Some((reason, at_rt)) = closed {
                session_closed_noted = true;
                let line = format!("the order session closed at {at:.1} s: {reason}");
                shared.log(line.clone());
                let tolerated =
                    is_garbage(&reason) && spec.gateway.on_garbage == OnGarbage::CloseAndContinue;
                departures.push(Departure {
                    line: if tolerated {
                        format!("{line}; the run went on without an order session (gateway.on_garbage = \"close_and_continue\")")
                    } else {
                        line
                    },
                    at_rt,
                    benign_when_fed: reason.is_orderly(),
                    tolerated,
                });
            }
        }
        departures.retain(|d| {
            let sent_after = shared.live.last_send_rt.load(Ordering::Relaxed) > d.at_rt;
            if d.tolerated {
                warnings.push(d.line.clone());
                false
            } else if sent_after {
                faults.push(Fault {
                    reason: d.line.clone(),
                });
                shared.live.stop.store(true, Ordering::Release);
                false
            } else if phase != Phase::Sending {
                if !d.benign_when_fed {
                    warnings.push(d.line.clone());
                }
                false
            } else {
                true
            }
        });
        if let Some(m) = &monitor {
            if spec.clock.require_ptp
                && !sync_fault_noted
                && m.flags.sync_lost.load(Ordering::Acquire)
            {
                sync_fault_noted = true;
                let line = format!("PTP sync lost at {at:.1} s (clock.require_ptp)");
                shared.log(line.clone());
                faults.push(Fault { reason: line });
                shared.live.stop.store(true, Ordering::Release);
            }
        }
        if Instant::now() >= next_interval {
            next_interval += INTERVAL;
            if let Err(e) = take_intervals(
                &mut wire_collector,
                &mut sched_collector,
                &mut wire_log,
                &mut sched_log,
                shared,
            ) {
                log_error.get_or_insert(e);
            }
        }
        std::thread::sleep(CONTROL_TICK);
    }

    // A departure still pending here was seen in the same instant as the fault
    // that stopped the feed (a killed DUT: its exit and its session's close come
    // together): it is part of that fault, not news for nobody.
    let stopped_early = shared.live.stop.load(Ordering::Acquire);
    for d in departures.drain(..) {
        if d.tolerated || (!stopped_early && !d.benign_when_fed) {
            warnings.push(d.line);
        } else if stopped_early {
            faults.push(Fault { reason: d.line });
        }
    }

    // End the session, let the sender take the last orders, stop the DUT.
    shared.set_phase(RunPhase::Finishing);
    let unstamped_reads = gateway.unstamped.clone();
    let gateway_state = Arc::clone(&gateway.state);
    let gateway_addr = gateway.addr;
    let report = gateway.finish();
    shared.live.gateway_finished.store(true, Ordering::Release);
    let outcome: SenderOutcome = send_thread
        .join()
        .map_err(|_| LabError::Internal("the send thread panicked".into()))?;
    let ptp_summary = match monitor {
        Some(m) => {
            let loss = m.loss.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let summary = m.finish()?;
            if let Some((at_ns, what)) = loss.what {
                let at = at_ns.saturating_sub(feed_start_rt) as f64 / 1e9;
                warnings.push(format!("{what} at {at:.1} s"));
            }
            Some(summary)
        }
        None => None,
    };
    let tsc_end = calibrate_tsc();
    let dut_report = dut.take().map(|(d, argv)| {
        let exit = d.stop(spec_stop_timeout(&spec.dut));
        DutReport {
            command: argv,
            status: exit.status,
            stopped_by: exit.stopped_by,
        }
    });

    // The last intervals, then the files.
    let end_ns = os::realtime_ns();
    let SenderOutcome {
        wire,
        from_schedule,
        counts,
        lateness,
        stats,
        end,
        error,
        tap: tap_counts,
    } = outcome;
    let finish_log = |collector: &mut IntervalCollector,
                      recorder,
                      log: &mut HlogWriter<AtomicFile>|
     -> Result<(), String> {
        collector
            .finish(recorder, end_ns, |interval| {
                log.append(interval).map_err(LogError::from)
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    if let Err(e) = finish_log(&mut wire_collector, wire, &mut wire_log) {
        log_error.get_or_insert(e);
    }
    if let Err(e) = finish_log(&mut sched_collector, from_schedule, &mut sched_log) {
        log_error.get_or_insert(e);
    }
    wire_log.into_inner().commit()?;
    sched_log.into_inner().commit()?;
    for (name, collector) in [
        (results::LATENCY_HGRM, &wire_collector),
        (results::FROM_SCHEDULE_HGRM, &sched_collector),
    ] {
        let mut text = Vec::new();
        write_percentile_distribution(&mut text, collector.total(), 5, HGRM_UNIT_RATIO)
            .map_err(|e| LabError::Internal(format!("{name}: {e}")))?;
        results::write_atomic(&dir_path, name, &text)?;
    }

    // The verdict.
    let mut reasons: Vec<String> = faults.into_iter().map(|f| f.reason).collect();
    if let Some(e) = error {
        reasons.push(format!("the send thread stopped: {e}"));
    }
    if let Some(e) = log_error {
        reasons.push(format!("writing the interval logs: {e}"));
    }
    if counts.overflowed > 0 {
        reasons.push(format!(
            "{} ticks could not be tracked (more than {CORRELATOR_CAPACITY} pending at once)",
            counts.overflowed
        ));
    }
    let orders_lost = shared.live.orders_lost.load(Ordering::Relaxed);
    if orders_lost > 0 {
        reasons.push(format!(
            "{orders_lost} orders could not be handed to the correlator"
        ));
    }
    if let Err(mismatch) = counts.check() {
        reasons.push(format!("the accounting does not add up: {mismatch}"));
    }
    let gateway_state = gateway_state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (close_reason, orderly, peer) = match &report {
        Ok(r) => (
            Some(r.close_reason.to_string()),
            r.close_reason.is_orderly(),
            Some(r.peer.to_string()),
        ),
        Err(e) => (Some(e.to_string()), false, None),
    };
    if end == FeedEnd::Stopped && reasons.is_empty() {
        reasons.push("the feed was stopped early".into());
    }
    // Stamps that did not come: in kernel software time a read of CLOCK_REALTIME
    // stands in (a warning); in a NIC's time it would mix two clocks in one figure,
    // so the run says it is not what it claims (a reason).
    let domain = clocks.plan.domain_name();
    let mixed = matches!(clocks.plan, feed_port::StampPlan::NicHardware { .. });
    let tx_unstamped = stats.unstamped_datagrams;
    if tx_unstamped > 0 {
        let line = format!(
            "{tx_unstamped} datagrams got no {domain} TX stamp from the port; their ticks used CLOCK_REALTIME read at the send"
        );
        if mixed {
            reasons.push(line)
        } else {
            warnings.push(line)
        }
    }
    if let Some(t) = &tap_counts {
        if t.feed_missed + t.orders_missed + t.ring_dropped + t.stream_dropped + t.stream_unplaced
            > 0
        {
            warnings.push(format!(
                "the tap missed {} datagrams (their TX time is CLOCK_REALTIME read before the send) and {} orders (stamped by the order socket); its ring dropped {} frames, its order stream {} segments, and {} could not be placed",
                t.feed_missed, t.orders_missed, t.ring_dropped, t.stream_dropped, t.stream_unplaced
            ));
        }
    }
    let port_stats = port_control.stats();
    if port_stats.tx_failed > 0 {
        warnings.push(format!(
            "the port ({port_description}) refused {} sends",
            port_stats.tx_failed
        ));
    }
    let rx_unstamped = unstamped_reads.get();
    if rx_unstamped > 0 {
        let line = if mixed {
            format!(
                "{rx_unstamped} order-session reads had no NIC stamp (did the orders arrive through the feed's interface? a DUT on this host reaches it over lo); they were stamped CLOCK_REALTIME at read time"
            )
        } else {
            format!(
                "{rx_unstamped} order-session reads got no kernel RX stamp; stamped at read time"
            )
        };
        if mixed {
            reasons.push(line)
        } else {
            warnings.push(line)
        }
    }
    let summary = Summary {
        run_id: run_id.clone(),
        verdict: if reasons.is_empty() {
            Verdict::Complete
        } else {
            Verdict::Incomplete
        },
        reasons,
        warnings,
        started_at: results::rfc3339_utc(started_at),
        feed_duration_s: stats.last_tx_ns.saturating_sub(stats.first_tx_ns) as f64 / 1e9,
        latency_ns: LatencySummary::from_histogram(
            wire_collector.total(),
            wire_collector.clamped(),
        ),
        from_schedule_ns: LatencySummary::from_histogram(
            sched_collector.total(),
            sched_collector.clamped(),
        ),
        ticks_sent: counts.ticks,
        triggers: counts.triggers,
        not_triggering: counts.not_triggering,
        orders_received: counts.orders,
        matched: counts.matched,
        non_responses: counts.non_responses,
        unsolicited: counts.unsolicited,
        duplicates: counts.duplicates,
        late: counts.late,
        stale: counts.stale,
        negative: counts.negative,
        overflowed: counts.overflowed,
        warmup_samples: stats.warmup_samples,
        orders_lost,
        clock_domain: domain.to_string(),
        timestamps: TimestampCounts {
            tx_unstamped_datagrams: tx_unstamped,
            rx_unstamped_reads: rx_unstamped,
            tap: tap_counts,
        },
        feed: FeedReport {
            source: feed_description,
            pace: pace_name(&spec),
            datagrams_sent: stats.datagrams_sent,
            bytes_sent: stats.bytes_sent,
            end: match end {
                FeedEnd::Exhausted => "exhausted",
                FeedEnd::Limit => "limit",
                FeedEnd::Stopped => "stopped",
            }
            .into(),
            lateness: lateness.summary(),
        },
        gateway: GatewayReport {
            listen: gateway_addr.to_string(),
            peer,
            close_reason,
            orderly_close: orderly,
            other_messages: gateway_state.other_messages,
            bad_orders: gateway_state.bad_orders,
        },
        dut: dut_report,
        hgrm_unit_ratio: HGRM_UNIT_RATIO,
        ptp: ptp_summary,
    };
    results::write_json(&dir_path, results::SUMMARY_JSON, &summary)?;
    let mut env = HostEnv::collect(domain, &clocks.source, cores_used, options.argv, started_at);
    match tsc_start {
        Ok(start) => {
            env.tsc_calibration = Some(results::TscCalibrationRecord::new(
                results::TscWindow::from(&start),
                tsc_end.as_ref().ok().map(results::TscWindow::from),
            ));
            env.tsc_calibration_error = tsc_end.err().map(|e| format!("at the end: {e}"));
        }
        Err(e) => env.tsc_calibration_error = Some(e.to_string()),
    }
    env.phc = clocks.phc.map(|(index, start)| {
        let end = feed_port::phc_to_realtime_ns(index);
        results::PhcOffsetRecord {
            device: format!("/dev/ptp{index}"),
            realtime_minus_phc_ns_start: start,
            realtime_minus_phc_ns_end: end.as_ref().ok().copied(),
            end_error: end.err(),
        }
    });
    results::write_json(&dir_path, results::ENV_JSON, &env)?;
    Ok(RunResults {
        dir: dir_path,
        summary,
    })
}

/// The send thread's state but its port, which the backend decides.
struct SenderParts {
    cfg: SenderConfig,
    source: Box<dyn FeedSource>,
    correlator: Correlator,
    wire: Recorder,
    from_schedule: Recorder,
    orders: rtrb::Consumer<OrderArrival>,
    live: Arc<Live>,
}

impl SenderParts {
    /// Starts `tl-send` over `port`, pinned to `core`, holding what `on_thread`
    /// returns (made on the thread, kept until it ends) for the run; its error is
    /// logged.
    fn spawn<P, G>(
        self,
        port: P,
        core: Option<usize>,
        shared: Arc<Shared>,
        on_thread: impl FnOnce() -> Result<G, String> + Send + 'static,
    ) -> std::io::Result<std::thread::JoinHandle<SenderOutcome>>
    where
        P: Port + Send + 'static,
    {
        let sender = Sender::new(
            self.cfg,
            self.source,
            port,
            self.correlator,
            self.wire,
            self.from_schedule,
            self.orders,
            self.live,
        );
        std::thread::Builder::new()
            .name("tl-send".into())
            .spawn(move || {
                // The core was checked against this process's set at the start; a
                // failure here (the set changed under us) leaves the thread unpinned.
                if let Some(core) = core {
                    let _ = os::pin_current_thread(core);
                }
                let _ = os::set_timer_slack_ns(1_000);
                let held = on_thread();
                if let Err(e) = &held {
                    shared.log(e.clone());
                }
                sender.run()
            })
    }
}

/// TSC calibration windows: 20 points over 200 ms.
fn calibrate_tsc() -> Result<crate::time::calibrate::Calibration, crate::time::Error> {
    crate::time::calibrate::calibrate(Duration::from_millis(200), 20)
}

/// A UDP port nobody on `addr` uses now, for `network.feed_port = 0`.
fn free_udp_port(addr: std::net::Ipv4Addr) -> Result<u16, LabError> {
    let socket = std::net::UdpSocket::bind((addr, 0)).map_err(|e| {
        LabError::Internal(format!(
            "network.feed_port = 0: cannot find a free UDP port on {addr}: {e}"
        ))
    })?;
    Ok(socket
        .local_addr()
        .map_err(|e| LabError::Internal(e.to_string()))?
        .port())
}

fn spec_stop_timeout(dut: &DutSpec) -> Duration {
    match dut {
        DutSpec::Command(c) => c.stop_timeout(),
        DutSpec::External(_) => Duration::from_secs(5),
    }
}

fn pace_name(spec: &RunSpec) -> String {
    use crate::pace::Mode;
    match spec.pace {
        Mode::Original => "original timing".into(),
        Mode::Scaled { factor } => format!("scaled {factor}x"),
        Mode::FixedRate { per_second } => format!("fixed {per_second}/s"),
        Mode::TopSpeed => "top speed".into(),
        Mode::Bursts { size, interval_ns } => format!("bursts of {size} every {interval_ns} ns"),
    }
}

fn cores_used(spec: &RunSpec) -> std::collections::BTreeMap<String, Option<usize>> {
    let c = &spec.network.cores;
    [
        ("send", c.send),
        ("receive", c.receive),
        ("control", c.control),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Takes the recorders' finished intervals into the logs (synced to disk) and
/// refreshes the live percentiles, then asks for the next intervals.
fn take_intervals(
    wire_collector: &mut IntervalCollector,
    sched_collector: &mut IntervalCollector,
    wire_log: &mut HlogWriter<AtomicFile>,
    sched_log: &mut HlogWriter<AtomicFile>,
    shared: &Shared,
) -> Result<(), String> {
    for (collector, log) in [
        (&mut *wire_collector, wire_log),
        (&mut *sched_collector, sched_log),
    ] {
        collector
            .drain(|interval| log.append(interval).map_err(LogError::from))
            .map_err(|e| e.to_string())?;
        log.flush().map_err(|e| e.to_string())?;
        log.get_mut().flush_to_disk().map_err(|e| e.to_string())?;
        collector.request_interval();
    }
    let total = wire_collector.total();
    if !total.is_empty() {
        *shared.percentiles.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((total.value_at_quantile(0.5), total.value_at_quantile(0.99)));
    }
    Ok(())
}

/// Taking an interval into a log: the collector's error or the log's.
#[derive(Debug, thiserror::Error)]
enum LogError {
    #[error("{0}")]
    Stats(#[from] crate::stats::StatsError),
    #[error("{0}")]
    Log(#[from] crate::stats::HlogError),
}
