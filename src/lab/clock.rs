//! The run's sync monitor: ptp4l asked once a second (and at once on a port-state
//! notification) over its management socket, every answer judged by
//! [`crate::time::sync::SyncJudge`] and written to `clock.log` (one JSON object a
//! line), the summary handed to `summary.json`.
//!
//! Before a run, [`check_before_start`] says whether ptp4l answers and is locked; a
//! spec with `clock.require_ptp` refuses to start otherwise. During a run, the
//! monitor thread (`tl-clock`, it sleeps between samples) raises
//! [`MonitorFlags::sync_lost`] when a required sync is lost, which the control
//! thread turns into an incomplete run; the first sample that lost the master (the
//! port leaving UNCALIBRATED/SLAVE, or the grandmaster gone) is reported with its
//! time whether or not sync was required.
//!
//! It only reads ptp4l's state; it never configures ptp4l or any clock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::time::ptp_mgmt::{
    sync_sample as sample, ClientConfig, NotifyEvent, NotifyEvents, PtpClient, PtpError,
};
use crate::time::sync::{JudgedSample, PortState, SyncJudge, SyncSample, SyncSummary};

use super::os::realtime_ns;
use super::results::{AtomicFile, ResultsError};

/// How often ptp4l is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one query may take before ptp4l counts as unreachable for that sample.
const QUERY_TIMEOUT: Duration = Duration::from_millis(500);

fn unreachable_sample() -> SyncSample {
    SyncSample {
        at_ns: realtime_ns(),
        port_state: PortState::Unreachable,
        offset_ns: None,
        mean_path_delay_ns: None,
        grandmaster: None,
        gm_present: false,
    }
}

fn client_for(uds: &Path) -> Result<PtpClient, PtpError> {
    let mut config = ClientConfig::new(uds);
    config.timeout = QUERY_TIMEOUT;
    PtpClient::new(config)
}

/// What ptp4l looks like before the run: `Ok(Some(judged))` when it answered,
/// `Ok(None)` when nothing listens at `uds`, `Err` for anything else (a refusal, a
/// permission problem), each with the words a user needs.
pub fn check_before_start(
    uds: &Path,
    max_offset_ns: Option<u64>,
) -> Result<Option<JudgedSample>, String> {
    if !uds.exists() {
        return Ok(None);
    }
    let mut client = client_for(uds).map_err(|e| e.to_string())?;
    let s = sample(&mut client).map_err(|e| e.to_string())?;
    Ok(Some(SyncJudge::new(max_offset_ns).observe(s)))
}

/// Flags the control thread reads.
#[derive(Debug, Default)]
pub struct MonitorFlags {
    /// Set once when a sample is not in sync after one that was (or, with sync
    /// required, when any sample is not in sync).
    pub sync_lost: AtomicBool,
    pub stop: AtomicBool,
}

/// The first time the clock lost its master or its sync, in words, for the verdict.
#[derive(Debug, Default, Clone)]
pub struct Loss {
    pub what: Option<(u64, String)>,
}

/// The running monitor.
pub struct Monitor {
    pub flags: Arc<MonitorFlags>,
    pub loss: Arc<Mutex<Loss>>,
    handle: JoinHandle<Result<SyncSummary, ResultsError>>,
}

impl Monitor {
    /// Starts sampling `uds` into `dir/clock.log`. `required`: any sample out of sync
    /// raises [`MonitorFlags::sync_lost`].
    pub fn start(
        uds: PathBuf,
        dir: &Path,
        max_offset_ns: Option<u64>,
        required: bool,
    ) -> Result<Monitor, ResultsError> {
        let mut log = AtomicFile::create(dir, super::results::CLOCK_LOG)?;
        let flags = Arc::new(MonitorFlags::default());
        let loss = Arc::new(Mutex::new(Loss::default()));
        let (thread_flags, thread_loss) = (Arc::clone(&flags), Arc::clone(&loss));
        let handle = std::thread::Builder::new()
            .name("tl-clock".into())
            .spawn(move || {
                let mut judge = SyncJudge::new(max_offset_ns);
                let mut client = client_for(&uds).ok();
                let mut subscribed = false;
                let mut followed = false;
                let mut next = Instant::now();
                while !thread_flags.stop.load(Ordering::Acquire) {
                    if client.is_none() {
                        client = client_for(&uds).ok();
                        subscribed = false;
                    }
                    if let (Some(c), false) = (client.as_mut(), subscribed) {
                        subscribed = c
                            .subscribe(NotifyEvents::NONE.with(NotifyEvent::PortState), 60)
                            .is_ok();
                    }
                    let taken = match client.as_mut().map(sample) {
                        Some(Ok(s)) => s,
                        _ => {
                            client = None;
                            unreachable_sample()
                        }
                    };
                    let judged = judge.observe(taken);
                    let follows = judged.sample.gm_present
                        && matches!(judged.sample.port_state, PortState::Port(p) if p.follows_master());
                    if followed && !follows {
                        let mut l = thread_loss.lock().unwrap_or_else(|e| e.into_inner());
                        if l.what.is_none() {
                            l.what = Some((
                                judged.sample.at_ns,
                                format!("ptp4l lost its master (port {})", judged.sample.port_state.name()),
                            ));
                        }
                    }
                    followed |= follows;
                    if (required && !judged.in_sync) || judge.lost_sync() {
                        thread_flags.sync_lost.store(true, Ordering::Release);
                    }
                    let line = serde_json::to_string(&judged).unwrap_or_default();
                    writeln!(log, "{line}").map_err(|e| ResultsError::Io {
                        op: "write",
                        path: log.partial_path().to_path_buf(),
                        source: e,
                    })?;
                    log.flush_to_disk()?;
                    // Until the next sample, take port-state notifications (which
                    // also keeps ptp4l from blocking on a full socket queue); one
                    // makes the next sample come at once.
                    next += SAMPLE_INTERVAL;
                    loop {
                        let now = Instant::now();
                        if now >= next || thread_flags.stop.load(Ordering::Acquire) {
                            break;
                        }
                        let wait = (next - now).min(Duration::from_millis(100));
                        match client.as_mut().filter(|_| subscribed).map(|c| c.poll_event(wait)) {
                            Some(Ok(Some(_))) => {
                                next = Instant::now();
                                break;
                            }
                            Some(Ok(None)) => {}
                            _ => std::thread::sleep(wait),
                        }
                    }
                }
                log.commit()?;
                Ok(judge.summary())
            })
            .map_err(|e| ResultsError::Io {
                op: "spawn the clock thread",
                path: dir.to_path_buf(),
                source: e,
            })?;
        Ok(Monitor {
            flags,
            loss,
            handle,
        })
    }

    /// Stops sampling, commits `clock.log`, and returns the summary.
    pub fn finish(self) -> Result<SyncSummary, ResultsError> {
        self.flags.stop.store(true, Ordering::Release);
        self.handle
            .join()
            .unwrap_or_else(|_| panic!("the clock thread panicked"))
    }
}
