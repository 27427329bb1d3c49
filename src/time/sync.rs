//! Judging a clock's PTP sync over a run: samples in (what ptp4l said at a moment),
//! marks and a summary out. Sans-IO: the monitor that asks ptp4l (the lab's
//! `clock` thread, through `time::ptp_mgmt`) feeds [`SyncJudge::observe`]; this
//! module never reads a clock or a socket, so every rule is tested with recorded
//! sequences.
//!
//! A sample is **in sync** when the port is `SLAVE` (ptp4l moves it there when the
//! servo locks), a grandmaster is present, and |offset from master| is within the
//! run's bound (`clock.max_offset_ns`, when set). A **step** is a jump of the offset
//! larger than [`STEP_NS`] between two consecutive samples, or the port leaving
//! `SLAVE` and coming back: timestamps on either side of a step do not subtract. A
//! **loss of sync** is an in-sync sample followed by one that is not.
//!
//! The summary also says whether the clock stayed within MiFID II RTS 25's bound for
//! high-frequency trading (Annex, Table 2: maximum divergence from UTC 100 µs,
//! timestamp granularity 1 µs or better) over the run, with the evidence: how many
//! samples, how many were in sync and within 100 µs, the largest |offset| seen. The
//! offset is ptp4l's offset from its master, which is UTC-traceable only if the
//! grandmaster is; the summary names the grandmaster so a reader can check.
//!
//! ```
//! use ticklab::time::sync::{PortState, SyncJudge, SyncSample};
//! let mut judge = SyncJudge::new(Some(100_000));
//! let sample = |t, state, offset| SyncSample {
//!     at_ns: t, port_state: state, offset_ns: Some(offset),
//!     mean_path_delay_ns: Some(300), grandmaster: Some("001122.fffe.334455".into()),
//!     gm_present: true,
//! };
//! assert!(judge.observe(sample(1_000_000_000, PortState::SLAVE, 40)).in_sync);
//! assert!(!judge.observe(sample(2_000_000_000, PortState::LISTENING, 0)).in_sync);
//! let summary = judge.summary();
//! assert_eq!(summary.losses_of_sync, 1);
//! assert!(!summary.rts25.within_bound);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ptp_mgmt;

/// An offset jump between consecutive samples larger than this is a step (1 ms:
/// far beyond what a locked servo corrects between two one-second samples).
pub const STEP_NS: i64 = 1_000_000;
/// MiFID II RTS 25's maximum divergence from UTC for high-frequency trading.
pub const RTS25_HFT_BOUND_NS: u64 = 100_000;

/// The port state a sample saw: one of ptp4l's ([`ptp_mgmt::PortState`]), or
/// none because ptp4l did not answer. Written as its name (`SLAVE`, `UNREACHABLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    Port(ptp_mgmt::PortState),
    /// ptp4l is not answering (no sample could be taken).
    Unreachable,
}

impl PortState {
    pub const SLAVE: PortState = PortState::Port(ptp_mgmt::PortState::Slave);
    pub const UNCALIBRATED: PortState = PortState::Port(ptp_mgmt::PortState::Uncalibrated);
    pub const LISTENING: PortState = PortState::Port(ptp_mgmt::PortState::Listening);

    /// `SLAVE`, `UNCALIBRATED`, ..., `UNREACHABLE`, or `portState N`.
    pub fn name(self) -> String {
        match self {
            PortState::Port(state) => state.to_string(),
            PortState::Unreachable => "UNREACHABLE".into(),
        }
    }
}

impl Serialize for PortState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for PortState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name == "UNREACHABLE" {
            return Ok(PortState::Unreachable);
        }
        (0..=u8::MAX)
            .map(ptp_mgmt::PortState::from_u8)
            .find(|state| state.to_string() == name)
            .map(PortState::Port)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown port state {name:?}")))
    }
}

/// What ptp4l said at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSample {
    /// When the sample was taken, `CLOCK_REALTIME` ns.
    pub at_ns: u64,
    pub port_state: PortState,
    /// Offset from master, ns (`TIME_STATUS_NP` master_offset).
    pub offset_ns: Option<i64>,
    /// Mean path delay, ns (`CURRENT_DATA_SET`).
    pub mean_path_delay_ns: Option<i64>,
    /// The grandmaster's clock identity, `xxxxxx.xxxx.xxxxxx`.
    pub grandmaster: Option<String>,
    /// ptp4l has a grandmaster (`TIME_STATUS_NP` gmPresent).
    pub gm_present: bool,
}

/// One sample as judged: the `clock.log` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgedSample {
    #[serde(flatten)]
    pub sample: SyncSample,
    pub in_sync: bool,
    /// Why not in sync, or that a step happened here: "not locked (UNCALIBRATED)",
    /// "offset 250000 ns above 100000 ns", "step of 5000000 ns", "no grandmaster".
    pub marks: Vec<String>,
}

/// The run's sync, for `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncSummary {
    pub samples: u64,
    pub in_sync_samples: u64,
    /// Largest |offset from master| over samples that had one, ns.
    pub max_abs_offset_ns: Option<u64>,
    /// Largest |offset| over in-sync samples only.
    pub max_abs_offset_in_sync_ns: Option<u64>,
    /// Seconds (by sample spacing) in each port state.
    pub time_in_state_s: BTreeMap<String, f64>,
    pub steps: u64,
    pub losses_of_sync: u64,
    /// Every grandmaster seen, in order of first appearance.
    pub grandmasters: Vec<String>,
    pub rts25: Rts25,
}

/// MiFID II RTS 25 (high-frequency trading) over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rts25 {
    /// Every sample was in sync (locked, with a grandmaster) and within 100 µs.
    pub within_bound: bool,
    pub bound_ns: u64,
    /// Samples within 100 µs while locked.
    pub samples_within: u64,
    pub samples: u64,
    /// Our timestamps are nanoseconds: finer than the 1 µs RTS 25 asks for.
    pub granularity_ns: u64,
    pub evidence: String,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct SyncJudge {
    max_offset_ns: Option<u64>,
    last: Option<JudgedSample>,
    samples: u64,
    in_sync: u64,
    rts25_within: u64,
    max_abs: Option<u64>,
    max_abs_in_sync: Option<u64>,
    time_in_state_ns: BTreeMap<String, u64>,
    steps: u64,
    losses: u64,
    grandmasters: Vec<String>,
    was_slave: bool,
    ever_slave: bool,
}

impl SyncJudge {
    /// A judge with the run's bound on |offset| (`None`: any offset while locked).
    pub fn new(max_offset_ns: Option<u64>) -> Self {
        SyncJudge {
            max_offset_ns,
            last: None,
            samples: 0,
            in_sync: 0,
            rts25_within: 0,
            max_abs: None,
            max_abs_in_sync: None,
            time_in_state_ns: BTreeMap::new(),
            steps: 0,
            losses: 0,
            grandmasters: Vec::new(),
            was_slave: false,
            ever_slave: false,
        }
    }

    /// Judges the next sample (samples come in time order).
    pub fn observe(&mut self, sample: SyncSample) -> JudgedSample {
        let mut marks = Vec::new();
        let abs = sample.offset_ns.map(i64::unsigned_abs);
        let locked = sample.port_state == PortState::SLAVE;
        if !locked {
            marks.push(format!("not locked ({})", sample.port_state.name()));
        }
        if !sample.gm_present && sample.port_state != PortState::Unreachable {
            marks.push("no grandmaster".into());
        }
        let within = match (self.max_offset_ns, abs) {
            (Some(max), Some(a)) if a > max => {
                marks.push(format!("offset {a} ns above {max} ns"));
                false
            }
            (Some(_), None) => {
                marks.push("no offset".into());
                false
            }
            _ => true,
        };
        if let (Some(prev), Some(now)) = (
            self.last.as_ref().and_then(|l| l.sample.offset_ns),
            sample.offset_ns,
        ) {
            let jump = now.saturating_sub(prev).unsigned_abs();
            if jump > STEP_NS as u64 {
                marks.push(format!("step of {jump} ns"));
                self.steps += 1;
            }
        }
        if locked && !self.was_slave && self.ever_slave {
            // Back to SLAVE after leaving it: the servo re-locked, maybe with a step.
            marks.push("re-locked".into());
            self.steps += 1;
        }
        let in_sync = locked && sample.gm_present && within;
        if let Some(last) = &self.last {
            if last.in_sync && !in_sync {
                self.losses += 1;
            }
            let dt = sample.at_ns.saturating_sub(last.sample.at_ns);
            *self
                .time_in_state_ns
                .entry(last.sample.port_state.name())
                .or_insert(0) += dt;
        } else {
            self.time_in_state_ns
                .entry(sample.port_state.name())
                .or_insert(0);
        }
        self.samples += 1;
        if in_sync {
            self.in_sync += 1;
            self.max_abs_in_sync = self.max_abs_in_sync.max(abs);
        }
        if locked && sample.gm_present && abs.is_some_and(|a| a <= RTS25_HFT_BOUND_NS) {
            self.rts25_within += 1;
        }
        self.max_abs = self.max_abs.max(abs);
        if let Some(gm) = &sample.grandmaster {
            if !self.grandmasters.contains(gm) {
                self.grandmasters.push(gm.clone());
            }
        }
        self.was_slave = locked;
        self.ever_slave |= locked;
        let judged = JudgedSample {
            sample,
            in_sync,
            marks,
        };
        self.last = Some(judged.clone());
        judged
    }

    /// Samples so far that were in sync, and all samples.
    pub fn counts(&self) -> (u64, u64) {
        (self.in_sync, self.samples)
    }

    /// Whether sync, once had, has been lost since.
    pub fn lost_sync(&self) -> bool {
        self.losses > 0
    }

    pub fn summary(&self) -> SyncSummary {
        let within_bound = self.samples > 0 && self.rts25_within == self.samples;
        let evidence = format!(
            "{} of {} samples locked with a grandmaster and within {} ns of the master; largest |offset| {}; grandmaster {}",
            self.rts25_within,
            self.samples,
            RTS25_HFT_BOUND_NS,
            self.max_abs
                .map_or_else(|| "unknown".to_string(), |a| format!("{a} ns")),
            if self.grandmasters.is_empty() {
                "none".to_string()
            } else {
                self.grandmasters.join(", ")
            }
        );
        SyncSummary {
            samples: self.samples,
            in_sync_samples: self.in_sync,
            max_abs_offset_ns: self.max_abs,
            max_abs_offset_in_sync_ns: self.max_abs_in_sync,
            time_in_state_s: self
                .time_in_state_ns
                .iter()
                .map(|(state, ns)| (state.clone(), *ns as f64 / 1e9))
                .collect(),
            steps: self.steps,
            losses_of_sync: self.losses,
            grandmasters: self.grandmasters.clone(),
            rts25: Rts25 {
                within_bound,
                bound_ns: RTS25_HFT_BOUND_NS,
                samples_within: self.rts25_within,
                samples: self.samples,
                granularity_ns: 1,
                evidence,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GM: &str = "001122.fffe.334455";

    fn s(t_s: u64, state: PortState, offset: Option<i64>) -> SyncSample {
        SyncSample {
            at_ns: t_s * 1_000_000_000,
            port_state: state,
            offset_ns: offset,
            mean_path_delay_ns: Some(350),
            grandmaster: Some(GM.into()),
            gm_present: state == PortState::SLAVE || state == PortState::UNCALIBRATED,
        }
    }

    #[test]
    fn a_locked_clock_within_its_bound_is_in_sync_and_rts25_compliant() {
        let mut judge = SyncJudge::new(Some(1_000));
        for (t, offset) in [(0, 12), (1, -40), (2, 300), (3, -999)] {
            let j = judge.observe(s(t, PortState::SLAVE, Some(offset)));
            assert!(j.in_sync, "{j:?}");
            assert!(j.marks.is_empty(), "{j:?}");
        }
        let summary = judge.summary();
        assert_eq!(summary.samples, 4);
        assert_eq!(summary.in_sync_samples, 4);
        assert_eq!(summary.max_abs_offset_ns, Some(999));
        assert_eq!(summary.steps, 0);
        assert_eq!(summary.losses_of_sync, 0);
        assert_eq!(summary.time_in_state_s["SLAVE"], 3.0);
        assert_eq!(summary.grandmasters, [GM]);
        assert!(summary.rts25.within_bound);
        assert_eq!(summary.rts25.samples_within, 4);
        assert_eq!(
            summary.rts25.evidence,
            "4 of 4 samples locked with a grandmaster and within 100000 ns of the master; largest |offset| 999 ns; grandmaster 001122.fffe.334455"
        );
    }

    #[test]
    fn an_offset_above_the_bound_is_marked_and_breaks_sync() {
        let mut judge = SyncJudge::new(Some(1_000));
        assert!(judge.observe(s(0, PortState::SLAVE, Some(10))).in_sync);
        let j = judge.observe(s(1, PortState::SLAVE, Some(-2_500)));
        assert!(!j.in_sync);
        assert_eq!(j.marks, ["offset 2500 ns above 1000 ns"]);
        assert!(judge.lost_sync());
        // Still within RTS 25's 100 µs: the regulation is not the run's bound.
        assert!(judge.summary().rts25.within_bound);
    }

    #[test]
    fn the_master_dying_is_a_loss_of_sync_with_time_in_each_state() {
        // Recorded shape of ptp4l 3.1 when the master dies: SLAVE, then after
        // announceReceiptTimeout the port goes LISTENING and gmPresent drops.
        let mut judge = SyncJudge::new(None);
        judge.observe(s(0, PortState::SLAVE, Some(20)));
        judge.observe(s(1, PortState::SLAVE, Some(25)));
        let lost = judge.observe(s(2, PortState::LISTENING, Some(0)));
        assert!(!lost.in_sync);
        assert_eq!(lost.marks, ["not locked (LISTENING)", "no grandmaster"]);
        judge.observe(s(4, PortState::LISTENING, Some(0)));
        let summary = judge.summary();
        assert_eq!(summary.losses_of_sync, 1);
        assert_eq!(summary.time_in_state_s["SLAVE"], 2.0);
        assert_eq!(summary.time_in_state_s["LISTENING"], 2.0);
        assert!(!summary.rts25.within_bound);
        assert_eq!(summary.rts25.samples_within, 2);
    }

    #[test]
    fn a_free_running_slave_is_never_in_sync() {
        // What the netns tests see: free_running 1 keeps the port UNCALIBRATED.
        let mut judge = SyncJudge::new(None);
        for t in 0..3 {
            let j = judge.observe(s(t, PortState::UNCALIBRATED, Some(5_000)));
            assert!(!j.in_sync);
            assert_eq!(j.marks, ["not locked (UNCALIBRATED)"]);
        }
        let summary = judge.summary();
        assert_eq!(summary.in_sync_samples, 0);
        assert_eq!(
            summary.losses_of_sync, 0,
            "never had sync, so never lost it"
        );
        assert!(!summary.rts25.within_bound);
    }

    #[test]
    fn steps_are_offset_jumps_and_relocks() {
        let mut judge = SyncJudge::new(None);
        judge.observe(s(0, PortState::SLAVE, Some(100)));
        let step = judge.observe(s(1, PortState::SLAVE, Some(100 + STEP_NS + 1)));
        assert_eq!(step.marks, [format!("step of {} ns", STEP_NS + 1)]);
        judge.observe(s(2, PortState::UNCALIBRATED, Some(100 + STEP_NS)));
        let relock = judge.observe(s(3, PortState::SLAVE, Some(90 + STEP_NS)));
        assert_eq!(relock.marks, ["re-locked"]);
        assert_eq!(judge.summary().steps, 2);
    }

    #[test]
    fn an_unreachable_ptp4l_is_a_sample_without_sync() {
        let mut judge = SyncJudge::new(Some(100_000));
        let j = judge.observe(SyncSample {
            at_ns: 5,
            port_state: PortState::Unreachable,
            offset_ns: None,
            mean_path_delay_ns: None,
            grandmaster: None,
            gm_present: false,
        });
        assert!(!j.in_sync);
        assert_eq!(j.marks, ["not locked (UNREACHABLE)", "no offset"]);
        let line = serde_json::to_string(&j).unwrap();
        assert_eq!(
            line,
            r#"{"at_ns":5,"port_state":"UNREACHABLE","offset_ns":null,"mean_path_delay_ns":null,"grandmaster":null,"gm_present":false,"in_sync":false,"marks":["not locked (UNREACHABLE)","no offset"]}"#
        );
        let state: PortState = serde_json::from_str("\"UNCALIBRATED\"").unwrap();
        assert_eq!(state, PortState::UNCALIBRATED);
        let state: PortState = serde_json::from_str("\"UNREACHABLE\"").unwrap();
        assert_eq!(state, PortState::Unreachable);
        assert!(serde_json::from_str::<PortState>("\"SLEEPY\"").is_err());
    }
}
