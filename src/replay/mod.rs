//! `ticklab replay`: a capture's Ethernet frames sent as they are, frame for frame,
//! through any [`Port`] (AF_PACKET, DPDK), at the lab's pacing.
//!
//! [`StagedCapture::load`] reads the whole capture into one contiguous buffer before
//! anything is sent, so the send loop touches only memory (no file reads, no
//! allocation). [`replay`] then sends the frames in order with a [`Pacer`], whose
//! schedule is anchored to the start: frame *i* is due at `start + f(i)` whatever
//! happened to the frames before it, so a late wake-up makes one burst late but never
//! shifts the rest (tcpreplay sleeps each gap after the previous real departure and
//! drifts by the sum of its wake-up errors). Everything that is due goes in one call
//! of up to [`BURST`] frames; between bursts the loop sleeps until
//! [`SPIN_WINDOW_NS`] before the next due time and spins the rest, or spins
//! throughout when the caller has a core of its own ([`ReplayOptions::spin`]), like
//! the lab's send thread.
//!
//! The loop sends through a [`FrameSender`], by frame index: every [`Port`] is one
//! (it gets the frames as slices of the capture and copies them into its ring or
//! mbufs), and so is a `StagedDpdkPort` (feature `dpdk`), whose mbufs were filled
//! from the capture once before the run and are sent by reference, with no copy at
//! all. At top speed ([`Timing::TopSpeed`]) the loop does no per-frame work: no
//! schedule, no departure, no clock read per burst.
//!
//! The summary ([`ReplaySummary`]) gives packets and bytes sent, elapsed time,
//! achieved rate, and each frame's departure minus its scheduled time, p50 to max.
//! Departures come from the port's own TX stamps when their clock can be put beside
//! the schedule (`CLOCK_MONOTONIC`): kernel software stamps (`CLOCK_REALTIME`,
//! converted with the offset measured once at the start) and DPDK's user-monotonic
//! stamps. A raw NIC hardware clock cannot, so then the loop's own
//! `CLOCK_MONOTONIC` reading just before the burst's send call is used instead. At
//! top speed every frame is due at the start, so none is recorded and the summary
//! says so; [`DepartureSource`] says which it was.
//!
//! It must never rewrite a frame, never allocate or log in the send loop (progress
//! is a callback at most every [`PROGRESS_INTERVAL_NS`]), and never let the schedule
//! depend on when earlier frames left.
//!
//! ```
//! use ticklab::replay::{StagedCapture, Timing};
//! use ticklab::pace::Mode;
//! let frames = [vec![0xffu8; 60], vec![0x01u8; 90]];
//! let capture = StagedCapture::from_frames("example", frames.iter().enumerate()
//!     .map(|(i, f)| (i as i64 * 10_000, f.as_slice())));
//! assert_eq!((capture.len(), capture.bytes()), (2, 150));
//! assert_eq!(capture.frame(1), &[0x01u8; 90][..]);
//! assert_eq!("rate=20000".parse::<Timing>()?.mode(), Mode::FixedRate { per_second: 20_000.0 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg(all(target_os = "linux", target_pointer_width = "64"))]

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::capture::{CaptureError, CaptureReader, LinkType};
use crate::lab::os::{monotonic_ns, realtime_minus_monotonic_ns, wait_step};
use crate::nic::{ClockDomain, Port, SentBurst, TxTimestamp};
use crate::pace::{Lateness, LatenessSummary, Mode, PaceError, Pacer};

/// Frames handed to [`Port::send_burst`] at most at once.
pub const BURST: usize = 32;
pub use crate::lab::os::SPIN_WINDOW_NS;
/// The longest single sleep, so progress is reported while a long gap passes.
const MAX_SLEEP_NS: u64 = 100_000_000;
/// How often the progress callback is called at most.
pub const PROGRESS_INTERVAL_NS: u64 = 250_000_000;
/// After the last frame, how long to wait for TX stamps still to come back.
pub const STAMP_WAIT_NS: u64 = 50_000_000;
/// Frames awaiting their TX stamp; a frame still unstamped when its slot is needed
/// again is counted in [`ReplaySummary::unstamped`].
const IN_FLIGHT: usize = 1 << 16;

/// How frames are spaced: the `--timing` argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    /// The capture's own gaps.
    Original,
    /// Everything at once, as fast as the port takes it.
    TopSpeed,
    /// Evenly spaced, this many frames per second.
    Rate(f64),
    /// The capture's gaps divided by this factor (2 is twice as fast).
    Scale(f64),
}

impl Timing {
    /// The pacer mode that implements it.
    pub fn mode(self) -> Mode {
        match self {
            Timing::Original => Mode::Original,
            Timing::TopSpeed => Mode::TopSpeed,
            Timing::Rate(per_second) => Mode::FixedRate { per_second },
            Timing::Scale(factor) => Mode::Scaled { factor },
        }
    }
}

/// A `--timing` value that is not one of the four forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--timing {value:?}: {expected}")]
pub struct TimingError {
    pub value: String,
    pub expected: &'static str,
}

impl FromStr for Timing {
    type Err = TimingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |expected| TimingError {
            value: s.to_string(),
            expected,
        };
        let positive = |v: &str, expected| match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(err(expected)),
        };
        match s.split_once('=') {
            None if s == "original" => Ok(Timing::Original),
            None if s == "topspeed" => Ok(Timing::TopSpeed),
            Some(("rate", v)) => {
                positive(v, "rate=PPS needs a finite rate above 0 frames per second")
                    .map(Timing::Rate)
            }
            Some(("scale", v)) => positive(
                v,
                "scale=X needs a finite speed-up above 0 (2 is twice as fast)",
            )
            .map(Timing::Scale),
            _ => Err(err("one of original, topspeed, rate=PPS, scale=X")),
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Original => f.write_str("original"),
            Timing::TopSpeed => f.write_str("topspeed"),
            Timing::Rate(r) => write!(f, "rate={r}"),
            Timing::Scale(x) => write!(f, "scale={x}"),
        }
    }
}

/// Why a replay could not be staged or run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{path}: record {index} (offset {offset}) has link type {link_type}; replay sends Ethernet frames as they are and needs link type 1 (ETHERNET) throughout")]
    NotEthernet {
        path: PathBuf,
        index: u64,
        offset: u64,
        link_type: LinkType,
    },
    #[error("{path}: record {index} (offset {offset}) holds {captured} of the frame's {original} bytes; replay sends frames whole, so it needs a capture taken without a snap length shorter than the frames")]
    Truncated {
        path: PathBuf,
        index: u64,
        offset: u64,
        captured: usize,
        original: u32,
    },
    #[error("{path}: holds no frames to replay")]
    Empty { path: PathBuf },
    #[error("--loop 0: give how many times to send the capture (1 or more)")]
    NoLoops,
    #[error(transparent)]
    Pace(#[from] PaceError),
    #[error("sending on {interface} failed after {sent} frames: {source}")]
    Port {
        interface: String,
        sent: u64,
        #[source]
        source: crate::nic::Error,
    },
}

/// Where one staged frame lies in [`StagedCapture`]'s buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameRef {
    start: usize,
    len: usize,
    capture_ns: i64,
}

/// A capture's frames in memory: one buffer for all the bytes, one index entry per
/// frame with its capture time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedCapture {
    name: String,
    bytes: Vec<u8>,
    frames: Vec<FrameRef>,
}

impl StagedCapture {
    /// Reads every frame of the pcap or pcapng file at `path`. Every record must be an
    /// Ethernet frame captured whole.
    pub fn load(path: &Path) -> Result<StagedCapture, ReplayError> {
        let mut reader = CaptureReader::open(path)?;
        let mut staged = StagedCapture {
            name: path.display().to_string(),
            bytes: Vec::new(),
            frames: Vec::new(),
        };
        while let Some(packet) = reader.next_packet()? {
            if packet.link_type != LinkType::ETHERNET {
                return Err(ReplayError::NotEthernet {
                    path: path.to_path_buf(),
                    index: packet.index,
                    offset: packet.offset,
                    link_type: packet.link_type,
                });
            }
            if (packet.data.len() as u64) < u64::from(packet.original_len) {
                return Err(ReplayError::Truncated {
                    path: path.to_path_buf(),
                    index: packet.index,
                    offset: packet.offset,
                    captured: packet.data.len(),
                    original: packet.original_len,
                });
            }
            staged.push(packet.timestamp_ns, packet.data);
        }
        if staged.frames.is_empty() {
            return Err(ReplayError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(staged)
    }

    /// Frames from memory: `(capture time in ns, frame)` pairs, named `name` in
    /// messages.
    pub fn from_frames<'a>(
        name: impl Into<String>,
        frames: impl IntoIterator<Item = (i64, &'a [u8])>,
    ) -> StagedCapture {
        let mut staged = StagedCapture {
            name: name.into(),
            bytes: Vec::new(),
            frames: Vec::new(),
        };
        for (ts, frame) in frames {
            staged.push(ts, frame);
        }
        staged
    }

    fn push(&mut self, capture_ns: i64, frame: &[u8]) {
        self.frames.push(FrameRef {
            start: self.bytes.len(),
            len: frame.len(),
            capture_ns,
        });
        self.bytes.extend_from_slice(frame);
    }

    /// The file (or name) the frames came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frames' bytes in total.
    pub fn bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The longest frame, in bytes.
    pub fn max_frame_len(&self) -> usize {
        self.frames.iter().map(|f| f.len).max().unwrap_or(0)
    }

    /// Frame `i`'s bytes.
    #[inline]
    pub fn frame(&self, i: usize) -> &[u8] {
        let f = self.frames[i];
        &self.bytes[f.start..f.start + f.len]
    }

    /// Frame `i`'s capture time, ns since the epoch.
    #[inline]
    pub fn capture_ns(&self, i: usize) -> i64 {
        self.frames[i].capture_ns
    }

    /// The bytes of a run's first `frames` frames, the capture sent over and over.
    pub fn bytes_of_run(&self, frames: u64) -> u64 {
        let passes = frames / self.len() as u64;
        let rest = (frames % self.len() as u64) as usize;
        let partial = self
            .frames
            .get(rest)
            .map_or(self.bytes(), |f| f.start as u64);
        passes * self.bytes() + partial
    }
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub timing: Timing,
    /// Passes over the capture (1 or more).
    pub loops: u64,
    /// Spin while waiting instead of sleeping (only with a core of one's own).
    pub spin: bool,
    /// The clock of the port's TX stamps ([`crate::nic::PortControl::clock_domain`]).
    pub stamp_clock: ClockDomain,
    /// The interface or device, for messages.
    pub interface: String,
}

/// Where the departure times in the summary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DepartureSource {
    /// The port's TX stamps, in this clock, put beside the schedule.
    TxStamps(ClockDomainName),
    /// `CLOCK_MONOTONIC` read in user space just before each burst was sent, because
    /// the port's stamps are in a clock the schedule cannot be compared with.
    UserClockAtSend,
    /// None: at top speed every frame is due at the start, so departure minus
    /// schedule would only say how long the run had been going.
    NotRecorded,
}

/// A [`ClockDomain`] by its name, for the summary's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub struct ClockDomainName(pub ClockDomain);

impl From<ClockDomainName> for &'static str {
    fn from(c: ClockDomainName) -> &'static str {
        c.0.name()
    }
}

impl fmt::Display for DepartureSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DepartureSource::TxStamps(c) => write!(f, "the port's TX stamps ({})", c.0.name()),
            DepartureSource::UserClockAtSend => {
                f.write_str("CLOCK_MONOTONIC read just before each send (the port's stamps are not comparable with the schedule)")
            }
            DepartureSource::NotRecorded => f.write_str(
                "at top speed every frame is due at the start, so departure minus schedule would only say how long the run had been going",
            ),
        }
    }
}

/// Progress of a running replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayProgress {
    pub sent: u64,
    pub total: u64,
    pub elapsed_ns: u64,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplaySummary {
    pub capture: String,
    pub interface: String,
    pub timing: String,
    pub loops: u64,
    pub packets: u64,
    /// Frame bytes (Ethernet header to the end of the payload, no FCS).
    pub bytes: u64,
    /// From the start of the schedule to the return of the last send call.
    pub elapsed_ns: u64,
    pub packets_per_second: f64,
    /// Frame bytes per second × 8 / 10^6.
    pub megabits_per_second: f64,
    pub departure_source: DepartureSource,
    /// Departure minus scheduled time of the frames with a departure time; `None`
    /// (JSON `null`) when none was recorded ([`DepartureSource::NotRecorded`]).
    pub departure_minus_schedule: Option<LatenessSummary>,
    /// Departures that came out before their scheduled time (clock conversion error),
    /// recorded as 0; the earliest, in ns before the schedule.
    pub early: u64,
    pub max_early_ns: u64,
    /// Frames whose TX stamp never came back (left out of the distribution).
    pub unstamped: u64,
}

impl ReplaySummary {
    /// The summary as a few lines of text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "replayed {} ({} pass{}, timing {}) on {}\n\
             sent      {} packets, {} bytes in {:.6} s\n\
             rate      {:.0} pps, {:.2} Mbit/s\n",
            self.capture,
            self.loops,
            if self.loops == 1 { "" } else { "es" },
            self.timing,
            self.interface,
            self.packets,
            self.bytes,
            self.elapsed_ns as f64 / 1e9,
            self.packets_per_second,
            self.megabits_per_second,
        );
        match &self.departure_minus_schedule {
            Some(d) => out.push_str(&format!(
                "departure minus schedule, from {}:\n\
                 \x20         p50 {} ns  p99 {} ns  p99.9 {} ns  max {} ns  ({} frames)\n",
                self.departure_source, d.p50_ns, d.p99_ns, d.p999_ns, d.max_ns, d.count,
            )),
            None => out.push_str(&format!(
                "departure minus schedule: not recorded: {}\n",
                self.departure_source
            )),
        }
        if self.unstamped > 0 {
            out.push_str(&format!(
                "          {} frames got no TX stamp and are not in the distribution\n",
                self.unstamped
            ));
        }
        if self.early > 0 {
            out.push_str(&format!(
                "          {} departures were before their schedule by up to {} ns (clock conversion), counted as 0\n",
                self.early, self.max_early_ns
            ));
        }
        out
    }
}

/// A frame sent and not yet stamped.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u32,
    /// Scheduled time in the stamps' clock.
    due: i64,
    pending: bool,
}

/// The schedule-to-departure accounting, shared by both departure sources.
struct Departures {
    lateness: Box<Lateness>,
    early: u64,
    max_early_ns: u64,
    unstamped: u64,
}

impl Departures {
    #[inline]
    fn record(&mut self, departure: i64, due: i64) {
        let late = departure - due;
        if late < 0 {
            self.early += 1;
            self.max_early_ns = self.max_early_ns.max(late.unsigned_abs());
            self.lateness.record(0);
        } else {
            self.lateness.record(late as u64);
        }
    }
}

/// What the replay loop sends through: a capture's frames, by index. Implemented for
/// every [`Port`] (the frames go to [`Port::send_burst`] as slices of the
/// [`StagedCapture`]) and, with the `dpdk` feature, for `StagedDpdkPort` (frames
/// staged into mbufs once, sent by reference).
pub trait FrameSender {
    /// Sends `count` (at most [`BURST`]) frames of `capture` from index `first` on,
    /// wrapping from its last frame to its first, in order, and returns what was
    /// taken: a prefix, with ids as [`Port::send_burst`] gives them.
    fn send_frames(
        &mut self,
        capture: &StagedCapture,
        first: usize,
        count: usize,
    ) -> Result<SentBurst, crate::nic::Error>;

    /// [`Port::poll_tx_timestamps`]: the TX stamps completed since the last call.
    fn poll_tx_stamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, crate::nic::Error>;
}

impl<P: Port> FrameSender for P {
    #[inline]
    fn send_frames(
        &mut self,
        capture: &StagedCapture,
        first: usize,
        count: usize,
    ) -> Result<SentBurst, crate::nic::Error> {
        let mut batch: [&[u8]; BURST] = [&[]; BURST];
        let count = count.min(BURST);
        let mut index = first;
        for slot in &mut batch[..count] {
            *slot = capture.frame(index);
            index += 1;
            if index == capture.len() {
                index = 0;
            }
        }
        self.send_burst(&batch[..count])
    }

    fn poll_tx_stamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, crate::nic::Error> {
        self.poll_tx_timestamps(out)
    }
}

/// A DPDK queue with a capture's frames staged into mbufs
/// ([`DpdkPort::stage`](crate::nic::dpdk::DpdkPort::stage)): the replay sends them
/// by reference, with no copy and no allocation per frame. Dropping it gives the
/// mbufs back.
#[cfg(feature = "dpdk")]
#[derive(Debug)]
pub struct StagedDpdkPort<'p> {
    port: &'p mut crate::nic::dpdk::DpdkPort,
    frames: crate::nic::dpdk::StagedFrames,
}

#[cfg(feature = "dpdk")]
impl<'p> StagedDpdkPort<'p> {
    /// Stages every frame of `capture` on `port` (see
    /// [`DpdkPort::stage`](crate::nic::dpdk::DpdkPort::stage) for the memory it takes).
    pub fn stage(
        port: &'p mut crate::nic::dpdk::DpdkPort,
        capture: &StagedCapture,
    ) -> Result<Self, crate::nic::dpdk::DpdkError> {
        let frames = port.stage((0..capture.len()).map(|i| capture.frame(i)))?;
        Ok(StagedDpdkPort { port, frames })
    }

    pub fn frames(&self) -> &crate::nic::dpdk::StagedFrames {
        &self.frames
    }

    /// Gives the mbufs back (see [`StagedFrames::release`](crate::nic::dpdk::StagedFrames::release)).
    pub fn release(self) -> crate::nic::dpdk::StagedRelease {
        self.frames.release()
    }
}

#[cfg(feature = "dpdk")]
impl FrameSender for StagedDpdkPort<'_> {
    #[inline]
    fn send_frames(
        &mut self,
        capture: &StagedCapture,
        first: usize,
        count: usize,
    ) -> Result<SentBurst, crate::nic::Error> {
        debug_assert_eq!(
            capture.len(),
            self.frames.len(),
            "staged from another capture"
        );
        let staged = self.frames.len();
        let mut taken = SentBurst {
            first_id: 0,
            count: 0,
        };
        let mut index = first;
        // A pass's last frames and the next pass's first are two runs of mbufs:
        // one burst call each, with consecutive ids.
        while taken.count < count {
            let run = (count - taken.count).min(staged - index);
            let burst = self.port.send_staged(&self.frames, index..index + run)?;
            if taken.count == 0 {
                taken.first_id = burst.first_id;
            }
            taken.count += burst.count;
            if burst.count < run {
                break;
            }
            index = (index + run) % staged;
        }
        Ok(taken)
    }

    fn poll_tx_stamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, crate::nic::Error> {
        self.port.poll_tx_timestamps(out)
    }
}

/// At top speed the clock is read (for progress) once per this many bursts.
const TOP_SPEED_BURSTS_PER_CLOCK_READ: u32 = 256;

/// Sends `capture` through `sender` (any [`Port`], or a [`FrameSender`] such as a
/// staged DPDK queue) per `options`, calling `progress` at most every
/// [`PROGRESS_INTERVAL_NS`], and returns the summary. The port should be warmed up
/// and the calling thread pinned if `options.spin` is set.
///
/// At top speed every frame is due at the start, so departure minus schedule would
/// only say how long the run had been going: the loop records no departures (and
/// reads no clock per burst), and the summary says so.
pub fn replay<S: FrameSender>(
    sender: &mut S,
    capture: &StagedCapture,
    options: &ReplayOptions,
    mut progress: impl FnMut(ReplayProgress),
) -> Result<ReplaySummary, ReplayError> {
    if options.loops == 0 {
        return Err(ReplayError::NoLoops);
    }
    let frames = capture.len();
    let total = (frames as u64).saturating_mul(options.loops);
    let mut pacer = Pacer::new(options.timing.mode())?;
    let top_speed = options.timing == Timing::TopSpeed;
    // The schedule is on CLOCK_MONOTONIC; `to_stamp_clock` moves it into the stamps'.
    let (source, to_stamp_clock) = match options.stamp_clock {
        _ if top_speed => (DepartureSource::NotRecorded, 0),
        ClockDomain::KernelSoftware => (
            DepartureSource::TxStamps(ClockDomainName(ClockDomain::KernelSoftware)),
            realtime_minus_monotonic_ns(),
        ),
        ClockDomain::UserMonotonic => (
            DepartureSource::TxStamps(ClockDomainName(ClockDomain::UserMonotonic)),
            0,
        ),
        ClockDomain::NicHardware => (DepartureSource::UserClockAtSend, 0),
    };
    let use_stamps = matches!(source, DepartureSource::TxStamps(_));
    let stamp_at_send = source == DepartureSource::UserClockAtSend;
    let mut departures = Departures {
        lateness: Box::new(Lateness::new()),
        early: 0,
        max_early_ns: 0,
        unstamped: 0,
    };
    let mut in_flight = vec![
        InFlight {
            id: 0,
            due: 0,
            pending: false
        };
        if use_stamps { IN_FLIGHT } else { 0 }
    ];
    let mut stamps = [TxTimestamp::EMPTY; 64];
    // The batch is frames `sent..queued` of the run (frame `k` is the capture's
    // `k % frames`): due, not yet taken by the port, at most BURST of them.
    let mut batch_due = [0u64; BURST];
    let mut queued = 0u64;
    let mut queue_frame = 0usize;
    let mut sent = 0u64;
    let mut next_due: Option<u64> = None;

    let start = monotonic_ns();
    pacer.start(start);
    let mut last_progress = start;
    let mut bursts_since_clock = 0u32;
    let port_err = |sent, source| ReplayError::Port {
        interface: options.interface.clone(),
        sent,
        source,
    };

    while sent < total {
        // Take every frame that is due now into the batch.
        if top_speed {
            queued = total.min(sent + BURST as u64);
        } else {
            let now = monotonic_ns();
            while queued - sent < BURST as u64 && queued < total {
                let at = match next_due {
                    Some(at) => at,
                    None => {
                        let at = pacer.schedule(capture.capture_ns(queue_frame)).at_ns;
                        next_due = Some(at);
                        at
                    }
                };
                if at > now {
                    break;
                }
                batch_due[(queued - sent) as usize] = at;
                next_due = None;
                queued += 1;
                queue_frame += 1;
                if queue_frame == frames {
                    queue_frame = 0;
                    pacer.begin_loop();
                }
            }
        }
        let batch_len = (queued - sent) as usize;
        if batch_len > 0 {
            let before = if stamp_at_send { monotonic_ns() } else { 0 };
            let burst = sender
                .send_frames(capture, (sent % frames as u64) as usize, batch_len)
                .map_err(|e| port_err(sent, e))?;
            if !top_speed {
                for (i, &due) in batch_due[..burst.count].iter().enumerate() {
                    if use_stamps {
                        let id = burst.first_id.wrapping_add(i as u32);
                        let slot = &mut in_flight[id as usize % IN_FLIGHT];
                        if slot.pending {
                            departures.unstamped += 1;
                        }
                        *slot = InFlight {
                            id,
                            due: due as i64 + to_stamp_clock,
                            pending: true,
                        };
                    } else {
                        departures.record(before as i64, due as i64);
                    }
                }
                batch_due.copy_within(burst.count..batch_len, 0);
            }
            sent += burst.count as u64;
        }
        if top_speed {
            bursts_since_clock += 1;
            if bursts_since_clock < TOP_SPEED_BURSTS_PER_CLOCK_READ && sent < total {
                continue;
            }
            bursts_since_clock = 0;
        }
        let now = monotonic_ns();
        if now - last_progress >= PROGRESS_INTERVAL_NS {
            last_progress = now;
            progress(ReplayProgress {
                sent,
                total,
                elapsed_ns: now - start,
            });
        }
        if queued > sent {
            // The port's queue was full: offer the rest again at once.
            std::hint::spin_loop();
            continue;
        }
        if let Some(at) = next_due {
            if at > now {
                // Stamps are read only while nothing is due for a while (at least
                // the spin window): each is one recvmsg on AF_PACKET, which would
                // otherwise halve a fast rate. When frames come faster than that,
                // the kernel drops the stamps its error queue cannot hold, and those
                // frames are counted as unstamped.
                if use_stamps && at - now > SPIN_WINDOW_NS {
                    drain_stamps(sender, &mut stamps, &mut in_flight, &mut departures)
                        .map_err(|e| port_err(sent, e))?;
                }
                wait_step(at, options.spin, MAX_SLEEP_NS);
            }
        }
    }
    // The last send call has just returned.
    let elapsed_ns = monotonic_ns() - start;

    if use_stamps {
        let deadline = monotonic_ns() + STAMP_WAIT_NS;
        while in_flight.iter().any(|f| f.pending) && monotonic_ns() < deadline {
            drain_stamps(sender, &mut stamps, &mut in_flight, &mut departures)
                .map_err(|e| port_err(sent, e))?;
            std::thread::sleep(Duration::from_micros(100));
        }
        departures.unstamped += in_flight.iter().filter(|f| f.pending).count() as u64;
    }
    progress(ReplayProgress {
        sent,
        total,
        elapsed_ns,
    });

    let bytes = capture.bytes_of_run(sent);
    let seconds = elapsed_ns.max(1) as f64 / 1e9;
    Ok(ReplaySummary {
        capture: capture.name().to_string(),
        interface: options.interface.clone(),
        timing: options.timing.to_string(),
        loops: options.loops,
        packets: sent,
        bytes,
        elapsed_ns,
        packets_per_second: sent as f64 / seconds,
        megabits_per_second: bytes as f64 * 8.0 / seconds / 1e6,
        departure_source: source,
        departure_minus_schedule: (!top_speed).then(|| departures.lateness.summary()),
        early: departures.early,
        max_early_ns: departures.max_early_ns,
        unstamped: departures.unstamped,
    })
}

/// Matches every TX stamp the port has to the frame it names.
fn drain_stamps<S: FrameSender>(
    sender: &mut S,
    stamps: &mut [TxTimestamp; 64],
    in_flight: &mut [InFlight],
    departures: &mut Departures,
) -> Result<(), crate::nic::Error> {
    loop {
        let n = sender.poll_tx_stamps(stamps)?;
        for stamp in &stamps[..n] {
            let slot = &mut in_flight[stamp.id as usize % IN_FLIGHT];
            if slot.pending && slot.id == stamp.id {
                slot.pending = false;
                departures.record(stamp.stamp.ns as i64, slot.due);
            }
        }
        if n < stamps.len() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::PcapWriter;
    use crate::nic::{KernelTimestamp, RxMeta, SentBurst};

    /// A port that keeps what it was given, takes at most `take` frames a burst,
    /// and stamps each with `CLOCK_MONOTONIC` (plus `stamp_offset`) when it is taken.
    struct FakePort {
        sent: Vec<Vec<u8>>,
        bursts: Vec<usize>,
        take: usize,
        clock: ClockDomain,
        stamp_offset: i64,
        stamps: Vec<TxTimestamp>,
        next_id: u32,
    }

    impl FakePort {
        fn new(take: usize, clock: ClockDomain) -> FakePort {
            FakePort {
                sent: Vec::new(),
                bursts: Vec::new(),
                take,
                clock,
                stamp_offset: 0,
                stamps: Vec::new(),
                // Start near the wrap, so ids wrap during the test.
                next_id: u32::MAX - 5,
            }
        }
    }

    impl Port for FakePort {
        fn send_burst(&mut self, packets: &[&[u8]]) -> Result<SentBurst, crate::nic::Error> {
            let count = packets.len().min(self.take);
            let first_id = self.next_id;
            let now = monotonic_ns() as i64 + self.stamp_offset;
            for (i, p) in packets[..count].iter().enumerate() {
                self.sent.push(p.to_vec());
                self.stamps.push(TxTimestamp {
                    id: first_id.wrapping_add(i as u32),
                    stamp: KernelTimestamp {
                        clock: self.clock,
                        ns: now as u64,
                        tx_id: None,
                    },
                });
            }
            self.next_id = first_id.wrapping_add(count as u32);
            self.bursts.push(count);
            Ok(SentBurst { first_id, count })
        }

        fn poll_tx_timestamps(
            &mut self,
            out: &mut [TxTimestamp],
        ) -> Result<usize, crate::nic::Error> {
            let n = out.len().min(self.stamps.len());
            for (o, s) in out.iter_mut().zip(self.stamps.drain(..n)) {
                *o = s;
            }
            Ok(n)
        }

        fn recv_burst(
            &mut self,
            _buffers: &mut [&mut [u8]],
            _meta: &mut [RxMeta],
        ) -> Result<usize, crate::nic::Error> {
            Ok(0)
        }
    }

    fn frames(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut f = vec![0u8; 60 + i % 40];
                f[..4].copy_from_slice(&(i as u32).to_be_bytes());
                f
            })
            .collect()
    }

    fn staged(frames: &[Vec<u8>], gap_ns: i64) -> StagedCapture {
        StagedCapture::from_frames(
            "fake",
            frames
                .iter()
                .enumerate()
                .map(|(i, f)| (1_700_000_000_000_000_000 + i as i64 * gap_ns, f.as_slice())),
        )
    }

    fn options(timing: Timing, loops: u64, clock: ClockDomain) -> ReplayOptions {
        ReplayOptions {
            timing,
            loops,
            spin: false,
            stamp_clock: clock,
            interface: "fake0".into(),
        }
    }

    #[test]
    fn timing_parses_the_four_forms_and_names_bad_ones() {
        assert_eq!("original".parse(), Ok(Timing::Original));
        assert_eq!("topspeed".parse(), Ok(Timing::TopSpeed));
        assert_eq!("rate=20000".parse(), Ok(Timing::Rate(20_000.0)));
        assert_eq!("scale=0.5".parse(), Ok(Timing::Scale(0.5)));
        assert_eq!(Timing::Scale(2.0).mode(), Mode::Scaled { factor: 2.0 });
        assert_eq!(Timing::Rate(5.0).to_string(), "rate=5");
        for bad in ["rate=0", "rate=-3", "scale=inf", "rate=x", "fast", "scale"] {
            let err = bad.parse::<Timing>().unwrap_err();
            assert_eq!(err.value, bad);
            assert!(
                err.to_string().starts_with(&format!("--timing {bad:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn top_speed_sends_every_frame_in_order_in_full_bursts_across_loops() {
        let input = frames(100);
        let capture = staged(&input, 1_000);
        let mut port = FakePort::new(usize::MAX, ClockDomain::UserMonotonic);
        let mut progress_calls = 0;
        let summary = replay(
            &mut port,
            &capture,
            &options(Timing::TopSpeed, 3, ClockDomain::UserMonotonic),
            |_| progress_calls += 1,
        )
        .unwrap();
        let expected: Vec<Vec<u8>> = input.iter().cycle().take(300).cloned().collect();
        assert_eq!(port.sent, expected);
        // Everything is due at once: full bursts, the last one the remainder.
        assert_eq!(port.bursts.len(), 10);
        assert!(port.bursts[..9].iter().all(|&b| b == BURST));
        assert_eq!(port.bursts[9], 300 - 9 * BURST);
        assert_eq!(summary.packets, 300);
        assert_eq!(
            summary.bytes,
            3 * input.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        assert_eq!(summary.loops, 3);
        assert_eq!(summary.timing, "topspeed");
        // Every frame is due at the start: no departure is recorded, and the
        // summary says so instead of printing zeros.
        assert_eq!(summary.departure_source, DepartureSource::NotRecorded);
        assert_eq!(summary.departure_minus_schedule, None);
        assert_eq!((summary.unstamped, summary.early), (0, 0));
        assert!(summary.render().contains(
            "departure minus schedule: not recorded: at top speed every frame is due at the start"
        ));
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["departure_source"], "not_recorded");
        assert!(json["departure_minus_schedule"].is_null());
        assert!(progress_calls >= 1);
    }

    #[test]
    fn a_full_queue_is_offered_again_without_losing_or_reordering_frames() {
        let input = frames(50);
        let capture = staged(&input, 1_000);
        let mut port = FakePort::new(7, ClockDomain::UserMonotonic);
        let summary = replay(
            &mut port,
            &capture,
            &options(Timing::TopSpeed, 1, ClockDomain::UserMonotonic),
            |_| {},
        )
        .unwrap();
        assert_eq!(port.sent, input);
        assert!(port.bursts.iter().all(|&b| b <= 7));
        assert_eq!(summary.packets, 50);
        assert_eq!(summary.departure_minus_schedule, None);
    }

    #[test]
    fn a_fixed_rate_spaces_frames_by_the_schedule_never_early() {
        let input = frames(20);
        let capture = staged(&input, 1);
        let mut port = FakePort::new(usize::MAX, ClockDomain::UserMonotonic);
        let summary = replay(
            &mut port,
            &capture,
            &options(Timing::Rate(10_000.0), 1, ClockDomain::UserMonotonic),
            |_| {},
        )
        .unwrap();
        assert_eq!(port.sent, input);
        // 100 µs apart: the last frame is due 1.9 ms after the start, and the loop
        // never sends a frame before it is due.
        assert!(summary.elapsed_ns >= 1_900_000, "{}", summary.elapsed_ns);
        assert_eq!(summary.early, 0);
        assert_eq!(summary.departure_minus_schedule.unwrap().count, 20);
    }

    #[test]
    fn stamps_earlier_than_the_schedule_are_counted_as_early() {
        let input = frames(10);
        let capture = staged(&input, 1_000);
        let mut port = FakePort::new(usize::MAX, ClockDomain::UserMonotonic);
        port.stamp_offset = -1_000_000_000;
        let summary = replay(
            &mut port,
            &capture,
            &options(Timing::Rate(1e6), 1, ClockDomain::UserMonotonic),
            |_| {},
        )
        .unwrap();
        assert_eq!(summary.early, 10);
        assert!(
            summary.max_early_ns >= 999_000_000,
            "{}",
            summary.max_early_ns
        );
        assert_eq!(summary.departure_minus_schedule.unwrap().max_ns, 0);
    }

    #[test]
    fn a_raw_hardware_clock_falls_back_to_the_user_clock_at_send() {
        let input = frames(10);
        let capture = staged(&input, 1_000);
        let mut port = FakePort::new(usize::MAX, ClockDomain::NicHardware);
        let summary = replay(
            &mut port,
            &capture,
            &options(Timing::Rate(1e6), 1, ClockDomain::NicHardware),
            |_| {},
        )
        .unwrap();
        assert_eq!(summary.departure_source, DepartureSource::UserClockAtSend);
        assert_eq!(summary.departure_minus_schedule.unwrap().count, 10);
        assert!(summary
            .render()
            .contains("CLOCK_MONOTONIC read just before each send"));
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["departure_source"], "user_clock_at_send");
    }

    #[test]
    fn a_port_that_never_stamps_leaves_frames_unstamped_not_invented() {
        struct NoStamps(FakePort);
        impl Port for NoStamps {
            fn send_burst(&mut self, p: &[&[u8]]) -> Result<SentBurst, crate::nic::Error> {
                self.0.send_burst(p)
            }
            fn poll_tx_timestamps(
                &mut self,
                _out: &mut [TxTimestamp],
            ) -> Result<usize, crate::nic::Error> {
                Ok(0)
            }
            fn recv_burst(
                &mut self,
                b: &mut [&mut [u8]],
                m: &mut [RxMeta],
            ) -> Result<usize, crate::nic::Error> {
                self.0.recv_burst(b, m)
            }
        }
        let input = frames(40);
        let capture = staged(&input, 1_000);
        let mut port = NoStamps(FakePort::new(usize::MAX, ClockDomain::KernelSoftware));
        let summary = replay(
            &mut port,
            &capture,
            &options(Timing::Rate(1e6), 1, ClockDomain::KernelSoftware),
            |_| {},
        )
        .unwrap();
        assert_eq!(summary.packets, 40);
        assert_eq!(summary.unstamped, 40);
        assert_eq!(summary.departure_minus_schedule.unwrap().count, 0);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["departure_source"]["tx_stamps"], "kernel_software");
    }

    /// A sender that is not a [`Port`]: it gets frame indices, as a staged DPDK
    /// queue does, records them, takes at most `take` a call, and stamps each frame
    /// with `CLOCK_MONOTONIC` when it is taken.
    struct IndexSender {
        indices: Vec<usize>,
        calls: Vec<(usize, usize)>,
        take: usize,
        stamps: Vec<TxTimestamp>,
        next_id: u32,
    }

    impl FrameSender for IndexSender {
        fn send_frames(
            &mut self,
            capture: &StagedCapture,
            first: usize,
            count: usize,
        ) -> Result<SentBurst, crate::nic::Error> {
            self.calls.push((first, count));
            let count = count.min(self.take);
            let first_id = self.next_id;
            let now = monotonic_ns();
            for k in 0..count {
                self.indices.push((first + k) % capture.len());
                self.stamps.push(TxTimestamp {
                    id: first_id.wrapping_add(k as u32),
                    stamp: KernelTimestamp {
                        clock: ClockDomain::UserMonotonic,
                        ns: now,
                        tx_id: None,
                    },
                });
            }
            self.next_id = first_id.wrapping_add(count as u32);
            Ok(SentBurst { first_id, count })
        }

        fn poll_tx_stamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, crate::nic::Error> {
            let n = out.len().min(self.stamps.len());
            for (o, s) in out.iter_mut().zip(self.stamps.drain(..n)) {
                *o = s;
            }
            Ok(n)
        }
    }

    #[test]
    fn a_frame_sender_gets_indices_that_wrap_across_passes() {
        // Five frames, fewer than a burst: one call asks for frames of several
        // passes, wrapping.
        let input = frames(5);
        let capture = staged(&input, 1_000);
        let pass_bytes: u64 = input.iter().map(|f| f.len() as u64).sum();
        assert_eq!(capture.bytes_of_run(0), 0);
        assert_eq!(
            capture.bytes_of_run(7),
            pass_bytes + (input[0].len() + input[1].len()) as u64
        );
        assert_eq!(capture.bytes_of_run(10), 2 * pass_bytes);

        for (timing, records) in [(Timing::TopSpeed, false), (Timing::Rate(1e6), true)] {
            let mut sender = IndexSender {
                indices: Vec::new(),
                calls: Vec::new(),
                take: 3,
                stamps: Vec::new(),
                next_id: 0,
            };
            let summary = replay(
                &mut sender,
                &capture,
                &options(timing, 7, ClockDomain::UserMonotonic),
                |_| {},
            )
            .unwrap();
            let expected: Vec<usize> = (0..35).map(|k| k % 5).collect();
            assert_eq!(sender.indices, expected, "{timing}");
            // Each call starts where the frames taken so far end.
            let mut next = 0;
            for &(first, count) in &sender.calls {
                assert_eq!(first, next % 5, "{timing}: {:?}", sender.calls);
                assert!((1..=BURST).contains(&count));
                next += count.min(3);
            }
            assert_eq!(summary.packets, 35);
            assert_eq!(summary.bytes, 7 * pass_bytes);
            match summary.departure_minus_schedule {
                Some(d) if records => assert_eq!(d.count + summary.unstamped, 35),
                None if !records => {}
                other => panic!("{timing}: departures {other:?}"),
            }
        }
    }

    #[test]
    fn zero_loops_is_refused() {
        let capture = staged(&frames(1), 1);
        let mut port = FakePort::new(1, ClockDomain::UserMonotonic);
        let err = replay(
            &mut port,
            &capture,
            &options(Timing::TopSpeed, 0, ClockDomain::UserMonotonic),
            |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ReplayError::NoLoops), "{err}");
        assert!(port.sent.is_empty());
    }

    #[test]
    fn loading_keeps_frames_and_times_and_refuses_other_link_types() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.pcap");
        let input = frames(5);
        let mut w = PcapWriter::new(
            std::fs::File::create(&good).unwrap(),
            LinkType::ETHERNET,
            65_535,
        )
        .unwrap();
        for (i, f) in input.iter().enumerate() {
            w.write_packet(1_000_000_000 + i as i64 * 7, f, f.len() as u32)
                .unwrap();
        }
        w.finish().unwrap();
        let capture = StagedCapture::load(&good).unwrap();
        assert_eq!(capture.len(), 5);
        assert_eq!(capture.name(), good.display().to_string());
        for (i, f) in input.iter().enumerate() {
            assert_eq!(capture.frame(i), f.as_slice());
            assert_eq!(capture.capture_ns(i), 1_000_000_000 + i as i64 * 7);
        }
        assert_eq!(capture.max_frame_len(), 64);

        let raw = dir.path().join("raw.pcap");
        let mut w =
            PcapWriter::new(std::fs::File::create(&raw).unwrap(), LinkType::RAW, 65_535).unwrap();
        w.write_packet(0, &[0x45; 20], 20).unwrap();
        w.finish().unwrap();
        let err = StagedCapture::load(&raw).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                ReplayError::NotEthernet {
                    link_type: LinkType::RAW,
                    index: 0,
                    offset: 24,
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("raw.pcap") && text.contains("101 (RAW)"),
            "{text}"
        );

        let cut = dir.path().join("cut.pcap");
        let mut w =
            PcapWriter::new(std::fs::File::create(&cut).unwrap(), LinkType::ETHERNET, 64).unwrap();
        w.write_packet(0, &[1; 64], 100).unwrap();
        w.finish().unwrap();
        let err = StagedCapture::load(&cut).unwrap_err();
        assert!(
            matches!(
                err,
                ReplayError::Truncated {
                    captured: 64,
                    original: 100,
                    ..
                }
            ),
            "{err}"
        );

        let empty = dir.path().join("empty.pcap");
        PcapWriter::new(
            std::fs::File::create(&empty).unwrap(),
            LinkType::ETHERNET,
            64,
        )
        .unwrap()
        .finish()
        .unwrap();
        let err = StagedCapture::load(&empty).unwrap_err();
        assert!(
            err.to_string().contains("empty.pcap: holds no frames"),
            "{err}"
        );
    }
}
