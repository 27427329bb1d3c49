//! The run spec: what one `ticklab run` does, as a TOML document with defaults,
//! `--set KEY=VALUE` overrides and validation that names the file, the key and what
//! is valid.
//!
//! A spec is built in layers, each over the one before, and refused as a whole before
//! anything starts:
//!
//! 1. the embedded default lab, [`DEFAULT_SPEC`] (`default.toml`; this text is what
//!    `ticklab run --print-default-spec` prints and what the default is parsed from);
//! 2. the user's spec file, if any: it need only hold what differs from the default;
//! 3. each `--set dotted.key=VALUE`, in order.
//!
//! Tables merge key by key; any other value (arrays included) replaces the one below.
//! A layer that changes a table's tag (`feed.source`, `pace.mode`, `dut.mode`) drops
//! the keys of the layers below that the new variant does not have, and a layer that
//! sets `run.duration_s` or `run.messages` drops the other: so `--set
//! pace.mode=scaled --set pace.factor=2` or a file with just `[feed] source =
//! "capture"` and `path = ...` means what it says.
//!
//! The merged document is then checked against the schema (every key known, of its
//! type, required keys present: `schema`), deserialised into [`RunSpec`], and
//! checked for meaning ([`RunSpec::validate`]). An error names where the offending
//! key was set (the file, `<default>` or `--set`), the dotted key, the value and what
//! is valid:
//!
//! ```text
//! lab.toml: pace.factor = -1: expected a finite speed-up above 0 (2 replays twice as fast, 0.5 half as fast)
//! lab.toml:7:10: invalid TOML: invalid string, expected `"`
//! --set: pace.factr: unknown key; expected one of the keys of [pace] with mode = "scaled": mode, factor
//! ```
//!
//! This module reads the spec file and checks that a capture file exists; it never
//! starts anything, opens a socket or writes a file.
//!
//! ```
//! use ticklab::config::RunSpec;
//! let spec = RunSpec::from_sources(None, &["pace.mode=scaled", "pace.factor=2"]).unwrap();
//! assert_eq!(spec.pace, ticklab::pace::Mode::Scaled { factor: 2.0 });
//! let err = RunSpec::from_sources(None, &["pace.factor=2"]).unwrap_err();
//! assert!(err.to_string().starts_with("--set: pace.factor: unknown key (factor goes with mode = \"scaled\")"));
//! ```

// A spec is refused once, before a run, and the error is read by a person: its size
// (about 150 bytes of owned strings) costs nothing, and boxing it would only make the
// callers' matches clumsier.
#![allow(clippy::result_large_err)]

mod schema;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::Value;

use crate::feed::synthetic::SyntheticConfig;
use crate::pace::Mode;
use crate::refcore::order::OuchVersion;
use crate::refcore::trigger::TriggerRule;

pub use validate::PLACEHOLDERS;

/// The default lab, commented: printed by `--print-default-spec`, parsed as layer 1.
pub const DEFAULT_SPEC: &str = include_str!("default.toml");

/// One measurement run, as the user asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub feed: FeedSpec,
    pub pace: Mode,
    pub network: NetworkSpec,
    pub dut: DutSpec,
    pub gateway: GatewaySpec,
    pub correlate: CorrelateSpec,
    pub run: RunLength,
    pub results: ResultsSpec,
    pub clock: ClockSpec,
}

/// Where the market data comes from (`[feed]`, tagged by `source`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum FeedSpec {
    Synthetic(SyntheticSpec),
    Capture(CaptureSpec),
}

/// The seeded synthetic ITCH session; the keys of [`SyntheticConfig`]. A key left
/// out takes `SyntheticConfig::default()`'s value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticSpec {
    pub seed: u64,
    pub symbols: Vec<String>,
    /// ITCH messages in the session, opening and closing included. `None`: the
    /// run's `messages` when it counts messages, else a session without end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<u64>,
    pub session: String,
    pub first_sequence: u64,
    pub start_ns: u64,
    pub date_epoch_ns: i64,
    pub mean_rate: f64,
    pub burst_probability: f64,
    pub mean_burst_len: f64,
    pub burst_spacing_ns: f64,
    pub packet_window_ns: u64,
    pub max_payload: usize,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        let c = SyntheticConfig::default();
        SyntheticSpec {
            seed: c.seed,
            symbols: c.symbols,
            messages: None,
            session: c.session,
            first_sequence: c.first_sequence,
            start_ns: c.start_ns,
            date_epoch_ns: c.date_epoch_ns,
            mean_rate: c.mean_rate,
            burst_probability: c.burst_probability,
            mean_burst_len: c.mean_burst_len,
            burst_spacing_ns: c.burst_spacing_ns,
            packet_window_ns: c.packet_window_ns,
            max_payload: c.max_payload,
        }
    }
}

/// A pcap or pcapng capture replayed as the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    pub path: PathBuf,
    /// Rewrite MoldUDP64 sequence numbers (and keep the session) so that each pass
    /// continues where the last ended, as one long session.
    #[serde(default = "yes")]
    pub renumber: bool,
    /// Passes over the capture; 0 repeats until the run's duration or message count.
    #[serde(default = "one")]
    pub loops: u64,
    /// Capture time between passes (`pace::Pacer::with_loop_gap_ns`); `None`: the
    /// pass's mean gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_gap_ns: Option<u64>,
    #[serde(default)]
    pub rewrite: Rewrite,
}

/// Where a capture's datagrams are sent, instead of the network side's values. A
/// field left out keeps `network.feed_group` and `network.feed_port`; a left-out MAC
/// is the destination group's multicast MAC (01:00:5e + its low 23 bits), or
/// `network.feed_dst_mac` for a unicast destination. The MAC matters to the frame
/// backends only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
}

/// The lab's network side (`[network]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub backend: Backend,
    /// Where the feed is sent: a multicast group, or a unicast address.
    pub feed_group: Ipv4Addr,
    pub feed_port: u16,
    /// The interface the feed leaves by (and the DUT joins on).
    pub feed_iface_addr: Ipv4Addr,
    /// Where the order gateway listens; port 0 takes any free port.
    pub gateway_listen: SocketAddr,
    /// CPU pinning; a thread without a core is left to the scheduler.
    #[serde(default, skip_serializing_if = "Cores::is_empty")]
    pub cores: Cores,
    pub timestamps: Timestamps,
    /// The frame backends' device: for `af_packet` an interface name (`None`: the
    /// interface holding `feed_iface_addr`); for `dpdk` the port's name as EAL
    /// knows it (`net_af_packet0`, a PCI address). Unused by `uring`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// EAL arguments for `dpdk` (`None`: `interface` as the only virtual device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpdk_args: Option<String>,
    /// The feed frames' destination MAC for the frame backends (`None`: the
    /// group's multicast MAC; a unicast `feed_group` needs one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_dst_mac: Option<MacAddr>,
    /// Take both stamps of every figure from an AF_PACKET tap on the feed's
    /// interface (`lab::tap`) instead of the feed port's and the order socket's.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tap: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl NetworkSpec {
    /// The feed's destination.
    pub fn feed_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.feed_group, self.feed_port)
    }
}

impl Cores {
    pub fn is_empty(&self) -> bool {
        *self == Cores::default()
    }
}

/// Which `nic::Port` implementation carries the feed and the order session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// io_uring UDP and TCP sockets: no privileges needed.
    Uring,
    AfPacket,
    Dpdk,
}

impl Backend {
    /// The name a spec gives it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "uring",
            Backend::AfPacket => "af_packet",
            Backend::Dpdk => "dpdk",
        }
    }
}

/// Which clock stamps the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timestamps {
    /// The best the backend and interface offer.
    Auto,
    /// The NIC's (PTP) clock.
    Hardware,
    /// Kernel software timestamps (`SO_TIMESTAMPING`).
    Software,
    /// A user-space clock read at the send (`CLOCK_REALTIME`, from the TSC through
    /// the vDSO where the kernel's clock source is `tsc`); the order session keeps
    /// kernel stamps.
    Tsc,
}

/// CPU cores for the lab's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cores {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<usize>,
}

/// The device under test (`[dut]`, tagged by `mode`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum DutSpec {
    /// A program the lab starts before the feed and stops after the run.
    Command(DutCommand),
    /// A system started by someone else that connects to the gateway.
    External(DutExternal),
}

impl DutSpec {
    /// How long the DUT has to log in on the order gateway (after being started).
    pub fn ready_timeout(&self) -> Duration {
        let s = match self {
            DutSpec::Command(c) => c.ready_timeout_s,
            DutSpec::External(e) => e.ready_timeout_s,
        };
        Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutCommand {
    /// Program and arguments, not through a shell; see [`PLACEHOLDERS`].
    pub command: Vec<String>,
    #[serde(default = "ten")]
    pub ready_timeout_s: f64,
    /// After SIGTERM, how long the lab waits before SIGKILL.
    #[serde(default = "five")]
    pub stop_timeout_s: f64,
}

impl DutCommand {
    pub fn stop_timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.stop_timeout_s).unwrap_or(Duration::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutExternal {
    #[serde(default = "ten")]
    pub ready_timeout_s: f64,
}

/// The order gateway: a SoupBinTCP 3.0 server taking OUCH (`[gateway]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// The login the gateway accepts; anything else is rejected (not authorised).
    pub username: String,
    pub password: String,
    pub heartbeat_interval_ms: u64,
    /// Silence from the client after which the session is ended.
    pub client_timeout_s: f64,
    #[serde(with = "by_name")]
    pub ouch: OuchVersion,
    pub answer: Answer,
    pub on_garbage: OnGarbage,
}

/// How the gateway answers an Enter Order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Accept,
    Reject,
    /// Accept, then execute in full.
    Fill,
}

/// What a malformed message on the order session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnGarbage {
    /// Close that session with a logged reason; the run goes on.
    CloseAndContinue,
    /// Close the session and end the run as `incomplete`.
    EndRun,
}

/// Pairing orders with ticks (`[correlate]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelateSpec {
    pub rule: CorrelationRule,
    /// Where an `echo` order carries the tick's sequence number.
    pub field: CorrelationField,
    /// A trigger without an order within this long is a non-response.
    pub timeout_ms: u64,
    /// Which ticks the lab expects orders for (the DUT's rule, e.g. refcore's).
    #[serde(with = "by_name")]
    pub trigger_rule: TriggerRule,
    /// The symbols the DUT trades; empty for all.
    pub symbols: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationRule {
    /// The order carries the tick's sequence number in `field`.
    Echo,
    /// The latest tick of the order's instrument before the order.
    Instrument,
    /// Only ticks the trigger rule marks are expected to cause orders.
    Trigger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationField {
    /// OUCH 4.2 Order Token.
    OuchToken,
    /// OUCH 5.0 ClOrdID.
    Ouch50Clordid,
    /// FIX ClOrdID (11).
    FixClordid,
}

/// How long the run lasts (`[run]`): `duration_s` or `messages`, exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLength {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<u64>,
    /// The first messages of the run, whose samples are not recorded.
    #[serde(default)]
    pub warmup_messages: u64,
}

/// When a run stops, from a validated [`RunLength`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    After(Duration),
    Messages(u64),
}

impl RunLength {
    /// The stop condition; a valid spec has exactly one. With both (an unvalidated
    /// spec) the message count wins; with neither, the run never stops by itself.
    pub fn stop(&self) -> Option<Stop> {
        match (self.messages, self.duration_s) {
            (Some(n), _) => Some(Stop::Messages(n)),
            (None, Some(s)) => Some(Stop::After(
                Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX),
            )),
            (None, None) => None,
        }
    }
}

/// The clock the figures are certified on (`[clock]`): whether ptp4l must be locked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// Refuse to start unless ptp4l answers and is locked; a loss of sync mid-run
    /// makes the run incomplete.
    pub require_ptp: bool,
    /// The largest |offset from master| a sample may have to count as in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_offset_ns: Option<u64>,
    /// ptp4l's management socket; when it answers, the run monitors sync anyway.
    pub ptp_uds: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsSpec {
    /// Each run writes `<dir>/<run-id>/` (unless `--out` names the directory).
    pub dir: PathBuf,
}

fn yes() -> bool {
    true
}
fn one() -> u64 {
    1
}
fn ten() -> f64 {
    10.0
}
fn five() -> f64 {
    5.0
}

/// Serde through `Display`/`FromStr`, for the refcore enums that have a name.
mod by_name {
    use super::*;

    pub fn serialize<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr<Err = String>,
        D: Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ethernet address, written `aa:bb:cc:dd:ee:ff` (or with `-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a MAC address like 01:00:5e:46:00:01");
        let mut mac = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in mac.iter_mut() {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        match parts.next() {
            None => Ok(MacAddr(mac)),
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which layer set a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The embedded default spec.
    Default,
    /// The user's spec file.
    File(PathBuf),
    /// A `--set` argument.
    Set,
    /// A spec built in code and checked with [`RunSpec::validate`].
    Built,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("<default>"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Set => f.write_str("--set"),
            Origin::Built => f.write_str("<spec>"),
        }
    }
}

/// Why a spec was refused.
///
/// Displays as `{origin}[:{line}:{column}]: [{key}[ = {value}]: ][{problem}; ][expected {expected}]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// Where the offending key was set.
    pub origin: Origin,
    /// 1-based line and column, for TOML syntax errors.
    pub position: Option<(usize, usize)>,
    /// The dotted key, e.g. `pace.factor`; empty when the error is not about a key.
    pub key: String,
    /// The offending value as TOML, when there is one.
    pub value: Option<String>,
    /// What is wrong, when the value alone does not say (`unknown key`, `missing`).
    pub problem: Option<String>,
    /// What is valid; empty when nothing useful can be said.
    pub expected: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            f.write_str(&self.key)?;
            if let Some(v) = &self.value {
                write!(f, " = {v}")?;
            }
            f.write_str(": ")?;
        }
        match (&self.problem, self.expected.is_empty()) {
            (Some(p), true) => f.write_str(p),
            (Some(p), false) => write!(f, "{p}; expected {}", self.expected),
            (None, _) => write!(f, "expected {}", self.expected),
        }
    }
}

impl SpecError {
    fn from_problem(origin: Origin, p: schema::Problem) -> Self {
        SpecError {
            origin,
            position: None,
            key: p.key,
            value: p.value,
            problem: p.problem,
            expected: p.expected,
        }
    }

    /// A TOML syntax (or document-level) error in `text`, located by byte offset.
    fn syntax(origin: Origin, text: &str, err: &toml::de::Error) -> Self {
        let position = err.span().map(|span| line_column(text, span.start));
        SpecError {
            origin,
            position,
            key: String::new(),
            value: None,
            problem: Some(format!("invalid TOML: {}", err.message().trim_end())),
            expected: String::new(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Default for RunSpec {
    /// The default lab, [`DEFAULT_SPEC`].
    fn default() -> Self {
        // The tests parse and validate DEFAULT_SPEC, so this cannot fail in a build
        // that passed them.
        Self::from_sources(None, &[] as &[&str]).expect("the embedded default spec is valid")
    }
}

impl RunSpec {
    /// Reads `spec_file` (if any) over the default, applies `sets`, and checks it all.
    pub fn load(spec_file: Option<&Path>, sets: &[impl AsRef<str>]) -> Result<Self, SpecError> {
        match spec_file {
            None => Self::from_sources(None, sets),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SpecError {
                    origin: Origin::File(path.to_owned()),
                    position: None,
                    key: String::new(),
                    value: None,
                    problem: Some(format!("cannot read the spec: {e}")),
                    expected: String::new(),
                })?;
                Self::from_sources(Some((path, &text)), sets)
            }
        }
    }

    /// As [`load`](Self::load), with the spec file's text given: `file` is the path
    /// (for messages) and its contents.
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        sets: &[impl AsRef<str>],
    ) -> Result<Self, SpecError> {
        let mut layers = Layers::default();
        layers.add_text(Origin::Default, DEFAULT_SPEC)?;
        if let Some((path, text)) = file {
            layers.add_text(Origin::File(path.to_owned()), text)?;
        }
        for set in sets {
            layers.add_set(set.as_ref())?;
        }
        layers.finish()
    }

    /// Checks what the types cannot: ranges, consistency between sections, the
    /// DUT command's placeholders, that a capture file exists. Errors name the key;
    /// their origin is [`Origin::Built`] (the loaders put the layer instead).
    pub fn validate(&self) -> Result<(), SpecError> {
        validate::check(self).map_err(|p| SpecError::from_problem(Origin::Built, p))
    }

    /// The spec as TOML (for `spec.toml` in the results): every key, defaults
    /// included, so it reloads to an equal spec.
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// The synthetic feed's configuration, `feed.messages` defaulting to
    /// `run.messages`; `None` for a capture feed.
    pub fn synthetic_config(&self) -> Option<SyntheticConfig> {
        let FeedSpec::Synthetic(s) = &self.feed else {
            return None;
        };
        Some(SyntheticConfig {
            seed: s.seed,
            symbols: s.symbols.clone(),
            messages: s.messages.or(self.run.messages),
            session: s.session.clone(),
            first_sequence: s.first_sequence,
            start_ns: s.start_ns,
            date_epoch_ns: s.date_epoch_ns,
            mean_rate: s.mean_rate,
            burst_probability: s.burst_probability,
            mean_burst_len: s.mean_burst_len,
            burst_spacing_ns: s.burst_spacing_ns,
            packet_window_ns: s.packet_window_ns,
            max_payload: s.max_payload,
        })
    }

    /// The DUT's program and arguments with every placeholder replaced, given the
    /// address the gateway actually listens on; `None` for an external DUT. (In a
    /// spec that did not validate, an argument that does not substitute is kept.)
    pub fn dut_argv(&self, gateway: SocketAddr) -> Option<Vec<String>> {
        let DutSpec::Command(c) = &self.dut else {
            return None;
        };
        let value = |name: &str| validate::placeholder_value(self, gateway, name);
        Some(
            c.command
                .iter()
                .map(|arg| validate::substitute(arg, &value).unwrap_or_else(|_| arg.clone()))
                .collect(),
        )
    }
}

/// The merged document and which layer set each key.
#[derive(Debug, Default)]
struct Layers {
    doc: toml::Table,
    /// Dotted path (tables too) to the layer that last set it.
    origins: BTreeMap<String, Origin>,
}

impl Layers {
    fn add_text(&mut self, origin: Origin, text: &str) -> Result<(), SpecError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| SpecError::syntax(origin.clone(), text, &e))?;
        self.overlay(table, &origin);
        Ok(())
    }

    fn add_set(&mut self, arg: &str) -> Result<(), SpecError> {
        let (path, value) = parse_set(arg)?;
        let mut upper = toml::Table::new();
        upper.insert(path[path.len() - 1].clone(), value);
        for segment in path[..path.len() - 1].iter().rev() {
            let mut outer = toml::Table::new();
            outer.insert(segment.clone(), Value::Table(upper));
            upper = outer;
        }
        self.overlay(upper, &Origin::Set);
        Ok(())
    }

    fn overlay(&mut self, upper: toml::Table, origin: &Origin) {
        overlay_table(
            &mut self.doc,
            upper,
            Some(&schema::SPEC),
            "",
            origin,
            &mut self.origins,
        );
    }

    /// Which layer is to blame for a problem at `key`: the layer that set it; for a
    /// key that is missing, the layer that chose the table's variant, else the one
    /// that set the nearest table above it.
    fn origin_of(&self, key: &str) -> Origin {
        if let Some(o) = self.origins.get(key) {
            return o.clone();
        }
        let mut path = key;
        while let Some((parent, _)) = path.rsplit_once('.') {
            let segments: Vec<&str> = parent.split('.').collect();
            if let Some(tag) = schema::SPEC
                .table_at(&segments)
                .and_then(|t| t.tag.as_ref())
            {
                if let Some(o) = self.origins.get(&format!("{parent}.{}", tag.key.name)) {
                    return o.clone();
                }
            }
            if let Some(o) = self.origins.get(parent) {
                return o.clone();
            }
            path = parent;
        }
        Origin::Default
    }

    fn finish(self) -> Result<RunSpec, SpecError> {
        schema::check(&self.doc, &schema::SPEC)
            .map_err(|p| SpecError::from_problem(self.origin_of(&p.key), p))?;
        let spec: RunSpec =
            Value::Table(self.doc.clone())
                .try_into()
                .map_err(|e: toml::de::Error| SpecError {
                    // The schema admits only what the structs read, so this is a bug in
                    // one of them; say so rather than guess a key.
                    origin: Origin::Default,
                    position: None,
                    key: String::new(),
                    value: None,
                    problem: Some(format!(
                        "the spec passed the schema but not the reader (a ticklab bug): {}",
                        e.message()
                    )),
                    expected: String::new(),
                })?;
        validate::check(&spec).map_err(|p| SpecError::from_problem(self.origin_of(&p.key), p))?;
        Ok(spec)
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn record_origins(
    path: &str,
    value: &Value,
    origin: &Origin,
    origins: &mut BTreeMap<String, Origin>,
) {
    origins.insert(path.to_owned(), origin.clone());
    if let Value::Table(t) = value {
        for (k, v) in t {
            record_origins(&join(path, k), v, origin, origins);
        }
    }
}

fn overlay_table(
    base: &mut toml::Table,
    upper: toml::Table,
    schema: Option<&'static schema::Table>,
    path: &str,
    origin: &Origin,
    origins: &mut BTreeMap<String, Origin>,
) {
    if let Some(s) = schema {
        if let Some(tag) = &s.tag {
            if let Some(new) = upper.get(tag.key.name) {
                if base.get(tag.key.name) != Some(new) {
                    let keep: Vec<&str> = s.keys_for(new.as_str()).iter().map(|k| k.name).collect();
                    base.retain(|k, _| keep.contains(&k));
                }
            }
        }
        if s.exclusive.iter().any(|k| upper.contains_key(*k)) {
            base.retain(|k, _| !s.exclusive.contains(&k));
        }
    }
    for (name, value) in upper {
        let key_path = join(path, &name);
        let inner = schema
            .and_then(|s| s.any_key(&name))
            .and_then(|k| match k.kind {
                schema::Kind::Table(t) => Some(t),
                _ => None,
            });
        match (base.get_mut(&name), value) {
            (Some(Value::Table(b)), Value::Table(u)) => {
                overlay_table(b, u, inner, &key_path, origin, origins)
            }
            (_, value) => {
                record_origins(&key_path, &value, origin, origins);
                base.insert(name, value);
            }
        }
    }
}

/// Splits `KEY=VALUE` into the key's path and its value. VALUE is read as TOML
/// (`2`, `true`, `"x"`, `[1, 2]`, `{ send = 2 }`) when it is one, else taken as a
/// string; for a key whose value is a string (an address, a choice like
/// `gateway.ouch=5.0`), the text is taken as it is unless it is a quoted string.
pub fn parse_set(arg: &str) -> Result<(Vec<String>, Value), SpecError> {
    let refuse = |key: &str, expected: &str| SpecError {
        origin: Origin::Set,
        position: None,
        key: key.to_owned(),
        value: None,
        problem: None,
        expected: expected.to_owned(),
    };
    let Some((key, raw)) = arg.split_once('=') else {
        return Err(refuse(
            arg.trim(),
            "KEY=VALUE with a dotted key, like pace.factor=2",
        ));
    };
    let key = key.trim();
    let raw = raw.trim();
    let path: Vec<String> = key.split('.').map(str::to_owned).collect();
    let bare = |s: &String| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !path.iter().all(bare) {
        return Err(refuse(
            key,
            "a dotted key of letters, digits, '_' and '-', like pace.factor",
        ));
    }
    let parsed = raw.parse::<Value>().ok();
    let wants_string = path
        .split_last()
        .and_then(|(last, parents)| {
            let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
            schema::SPEC.table_at(&parents)?.any_key(last)
        })
        .is_some_and(|k| k.kind.wants_string());
    let value = match parsed {
        Some(v @ Value::String(_)) => v,
        Some(_) if wants_string => Value::String(raw.to_owned()),
        Some(v) => v,
        None => Value::String(raw.to_owned()),
    };
    Ok((path, value))
}

#[cfg(test)]
mod tests;
