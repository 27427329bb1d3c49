//! The run's results directory: where it is ([`RunDir`], named by [`new_run_id`]),
//! how each file gets there without ever being seen half-written ([`write_atomic`],
//! [`AtomicFile`]), and what the run knew about its host ([`HostEnv`], `env.json`).
//!
//! A finished file appears under its final name only once its bytes are on disk:
//! every write goes to a temporary name, is fsynced, renamed into place, and the
//! directory is fsynced so the rename survives a power cut. A file written over the
//! whole run (the interval log) lives as `NAME.partial` until it is committed, so a
//! run that dies keeps everything it measured. This module never overwrites the
//! results of an earlier run, never fails a run because a `/proc` or `/sys` file is
//! missing (that fact is recorded as `"unknown"`), and is never called from the hot
//! path: it allocates and makes syscalls freely.
//!
//! ```
//! use std::io::Write;
//! use std::time::{Duration, UNIX_EPOCH};
//! use ticklab::lab::results::{rfc3339_utc, RunDir, LATENCY_HLOG, SUMMARY_JSON};
//!
//! let parent = tempfile::tempdir().unwrap();
//! let run = RunDir::create_new(parent.path(), "20261124T101530Z-beef").unwrap();
//! run.write_json(SUMMARY_JSON, &[1, 2, 3]).unwrap();
//!
//! let mut log = run.create_file(LATENCY_HLOG).unwrap();
//! writeln!(log, "#[Histogram log format version 1.3]").unwrap();
//! log.flush_to_disk().unwrap(); // the once-a-second checkpoint
//! log.commit().unwrap();
//!
//! assert!(run.path().join(LATENCY_HLOG).is_file());
//! let at = UNIX_EPOCH + Duration::from_millis(1_795_515_330_250);
//! assert_eq!(rfc3339_utc(at), "2026-11-24T10:15:30.250Z");
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::build_info::{BuildInfo, BUILD};
use crate::time::tsc;

/// The run spec as run.
pub const SPEC_TOML: &str = "spec.toml";
/// The host, kernel, clocks and build of the run: [`HostEnv`].
pub const ENV_JSON: &str = "env.json";
/// The run's headline numbers and verdict.
pub const SUMMARY_JSON: &str = "summary.json";
/// The percentile distribution, as HdrHistogram's `outputPercentileDistribution`.
pub const LATENCY_HGRM: &str = "latency.hgrm";
/// The interval log, one histogram per second.
pub const LATENCY_HLOG: &str = "latency.hlog";
/// The from-schedule figure's percentile distribution.
pub const FROM_SCHEDULE_HGRM: &str = "from-schedule.hgrm";
/// The from-schedule figure's interval log.
pub const FROM_SCHEDULE_HLOG: &str = "from-schedule.hlog";
/// The DUT's standard output and error.
pub const DUT_LOG: &str = "dut.log";
/// ptp4l's sync, sampled once a second (when ptp4l answers).
pub const CLOCK_LOG: &str = "clock.log";

/// Every file the lab writes into a results directory. [`RunDir::at`] refuses a
/// directory holding any of them (or a temporary or partial one): add a new result
/// file here, or a second run could overwrite it in place.
pub const RESULT_FILES: [&str; 9] = [
    SPEC_TOML,
    ENV_JSON,
    SUMMARY_JSON,
    LATENCY_HGRM,
    LATENCY_HLOG,
    FROM_SCHEDULE_HGRM,
    FROM_SCHEDULE_HLOG,
    DUT_LOG,
    CLOCK_LOG,
];

/// The suffix of a file written over time and not yet committed.
const PARTIAL_SUFFIX: &str = ".partial";

/// What went wrong with the results directory. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot {op} {}: {source}", .path.display())]
    Io {
        /// What was being done: "create directory", "write", "fsync", ...
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot rename {} to {}: {source}", .from.display(), .to.display())]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "results directory {} already exists; a new run needs a new run id, \
         or an empty or new directory given with --out",
        .path.display()
    )]
    RunDirExists { path: PathBuf },
    #[error(
        "{} already holds results of an earlier run ({}); give --out an empty or new \
         directory, or move those files away",
        .path.display(),
        .files.join(", ")
    )]
    HoldsResults { path: PathBuf, files: Vec<String> },
    #[error("cannot write {} as JSON: {source}", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{name:?} (in {}) is not a valid name here: expected one non-empty path \
         component, not `.` or `..`, without `/` or NUL",
        .dir.display()
    )]
    InvalidName { dir: PathBuf, name: String },
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ResultsError + 'a {
    move |source| ResultsError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A name that stays inside its directory: one component, nothing special.
fn check_name(dir: &Path, name: &str) -> Result<(), ResultsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(ResultsError::InvalidName {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

fn partial_name(name: &str) -> String {
    format!("{name}{PARTIAL_SUFFIX}")
}

/// Makes the directory's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> Result<(), ResultsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// Writes `bytes` to `dir/name` atomically: into `dir/.name.tmp`, fsynced, renamed
/// over `dir/name`, and the directory fsynced. A reader sees the old file or the new
/// one, never a part of either. On failure the temporary file is removed.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ResultsError> {
    check_name(dir, name)?;
    let temp = dir.join(temp_name(name));
    let target = dir.join(name);
    let written = (|| {
        let mut file = File::create(&temp).map_err(io_error("create", &temp))?;
        file.write_all(bytes).map_err(io_error("write", &temp))?;
        file.sync_all().map_err(io_error("fsync", &temp))?;
        std::fs::rename(&temp, &target).map_err(|source| ResultsError::Rename {
            from: temp.clone(),
            to: target.clone(),
            source,
        })
    })();
    if written.is_err() {
        // Best effort: the error that matters is already in hand.
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    sync_dir(dir)
}

/// Writes `value` as pretty JSON with a trailing newline to `dir/name`, atomically.
pub fn write_json<T: Serialize + ?Sized>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<(), ResultsError> {
    check_name(dir, name)?;
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| ResultsError::Json {
        path: dir.join(name),
        source,
    })?;
    bytes.push(b'\n');
    write_atomic(dir, name, &bytes)
}

/// A results file written over time (the interval log): it is `dir/NAME.partial`
/// until [`AtomicFile::commit`] renames it to `dir/NAME`.
///
/// Writes are buffered; [`Write::flush`] hands them to the kernel (readable by
/// others, lost in a power cut), [`AtomicFile::flush_to_disk`] also fsyncs them. A
/// file dropped without a commit keeps its `.partial` name and everything flushed
/// (dropping flushes the buffer too, but cannot report an error): a run that dies
/// mid-way loses nothing it checkpointed.
#[derive(Debug)]
pub struct AtomicFile {
    out: BufWriter<File>,
    dir: PathBuf,
    partial: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates `dir/name.partial`. Refuses to replace an existing `.partial` file: it
    /// holds what an earlier run measured.
    pub fn create(dir: &Path, name: &str) -> Result<AtomicFile, ResultsError> {
        check_name(dir, name)?;
        let partial = dir.join(partial_name(name));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(io_error("create", &partial))?;
        // The entry itself must survive a crash, or the checkpoints are unreachable.
        sync_dir(dir)?;
        Ok(AtomicFile {
            out: BufWriter::new(file),
            dir: dir.to_path_buf(),
            partial,
            target: dir.join(name),
        })
    }

    /// Where the bytes are until the commit: `dir/name.partial`.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// Where the file will be after the commit: `dir/name`.
    pub fn final_path(&self) -> &Path {
        &self.target
    }

    /// Writes out the buffer and fsyncs the data written so far: a checkpoint.
    pub fn flush_to_disk(&mut self) -> Result<(), ResultsError> {
        self.out.flush().map_err(io_error("write", &self.partial))?;
        // fdatasync: the data and the size that makes it reachable, not the mtime.
        self.out
            .get_ref()
            .sync_data()
            .map_err(io_error("fsync", &self.partial))
    }

    /// Flushes, fsyncs, renames `name.partial` to `name` and fsyncs the directory.
    /// Returns the final path.
    pub fn commit(self) -> Result<PathBuf, ResultsError> {
        let AtomicFile {
            out,
            dir,
            partial,
            target,
        } = self;
        let file = out
            .into_inner()
            .map_err(|e| io_error("write", &partial)(e.into_error()))?;
        file.sync_all().map_err(io_error("fsync", &partial))?;
        drop(file);
        std::fs::rename(&partial, &target).map_err(|source| ResultsError::Rename {
            from: partial.clone(),
            to: target.clone(),
            source,
        })?;
        sync_dir(&dir)?;
        Ok(target)
    }

    /// The error, with the file named: `io::Error` has no room for a path.
    fn annotate(&self, error: io::Error) -> io::Error {
        io::Error::new(
            error.kind(),
            format!("writing {}: {error}", self.partial.display()),
        )
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf).map_err(|e| self.annotate(e))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf).map_err(|e| self.annotate(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| self.annotate(e))
    }
}

/// One run's results directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `parent/run_id` (and `parent` if needed). Refuses a directory that
    /// already exists, empty or not: a run id names one run.
    pub fn create_new(parent: &Path, run_id: &str) -> Result<RunDir, ResultsError> {
        check_name(parent, run_id)?;
        std::fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
        let path = parent.join(run_id);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ResultsError::RunDirExists { path });
            }
            Err(source) => {
                return Err(ResultsError::Io {
                    op: "create directory",
                    path,
                    source,
                })
            }
        }
        sync_dir(parent)?;
        Ok(RunDir { path })
    }

    /// Uses `path` (`--out DIR`), creating it if needed. An existing directory may
    /// hold other files, but none of [`RESULT_FILES`], nor their temporary or
    /// `.partial` forms: those are an earlier run's, and are named in the error.
    pub fn at(path: &Path) -> Result<RunDir, ResultsError> {
        std::fs::create_dir_all(path).map_err(io_error("create directory", path))?;
        let mut conflicts = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io_error("read directory", path))? {
            let entry = entry.map_err(io_error("read directory", path))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue; // Not UTF-8, so none of ours.
            };
            let ours = RESULT_FILES
                .iter()
                .any(|&r| name == r || name == temp_name(r) || name == partial_name(r));
            if ours {
                conflicts.push(name.to_owned());
            }
        }
        if !conflicts.is_empty() {
            conflicts.sort();
            return Err(ResultsError::HoldsResults {
                path: path.to_path_buf(),
                files: conflicts,
            });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`write_atomic`] into this directory.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), ResultsError> {
        write_atomic(&self.path, name, bytes)
    }

    /// [`write_json`] into this directory.
    pub fn write_json<T: Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), ResultsError> {
        write_json(&self.path, name, value)
    }

    /// [`AtomicFile::create`] in this directory.
    pub fn create_file(&self, name: &str) -> Result<AtomicFile, ResultsError> {
        AtomicFile::create(&self.path, name)
    }
}

/// A new run id, `YYYYMMDDTHHMMSSZ-xxxx`: the UTC second of `now`, then 4 hex digits
/// from the process id and `now`'s nanoseconds, so that two runs started in the same
/// second (by one process or two) almost never collide. When they do,
/// [`RunDir::create_new`] refuses the second and says so.
pub fn new_run_id(now: SystemTime) -> String {
    let utc = UtcTime::from_system_time(now);
    let mixed = std::process::id() ^ utc.nanos;
    format_run_id(&utc, (mixed ^ (mixed >> 16)) as u16)
}

fn format_run_id(utc: &UtcTime, tag: u16) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{tag:04x}",
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second
    )
}

/// `t` as RFC 3339 in UTC with milliseconds (truncated): `2026-11-24T10:15:30.250Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let utc = UtcTime::from_system_time(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.nanos / 1_000_000
    )
}

/// A moment broken down into the proleptic Gregorian calendar, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UtcTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

const SECONDS_PER_DAY: i64 = 86_400;

impl UtcTime {
    fn from_system_time(t: SystemTime) -> UtcTime {
        // Seconds rounded down and a non-negative remainder, before 1970 too.
        let (seconds, nanos) = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                match before.subsec_nanos() {
                    0 => (-(before.as_secs() as i64), 0),
                    n => (-(before.as_secs() as i64) - 1, 1_000_000_000 - n),
                }
            }
        };
        let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            nanos,
        }
    }
}

/// The date `days` after 1970-01-01: (year, month 1..=12, day 1..=31).
///
/// Howard Hinnant's `civil_from_days`: count from 0000-03-01 so the leap day ends
/// each year, split into 400-year eras of 146 097 days (the Gregorian cycle), then
/// find the year of the era and the day of that March-based year; months from March
/// follow a 153-days-per-5-months pattern.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    const DAYS_0000_03_01_TO_1970_01_01: i64 = 719_468;
    const DAYS_PER_ERA: i64 = 146_097;
    let z = days + DAYS_0000_03_01_TO_1970_01_01;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z.rem_euclid(DAYS_PER_ERA); // 0..=146_096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153; // 0 = March ..= 11 = February
    let day = (day_of_year - (153 * march_month + 2) / 5 + 1) as u32;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The kernel, as `uname(2)` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelInfo {
    /// `Linux`.
    pub sysname: String,
    /// `6.8.0-45-generic`.
    pub release: String,
    /// The build: `#45-Ubuntu SMP PREEMPT_DYNAMIC ...`.
    pub version: String,
    /// `x86_64`.
    pub machine: String,
}

/// What `uname(2)` says: the host name and the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uname {
    pub nodename: String,
    pub kernel: KernelInfo,
}

impl Uname {
    /// Asks the kernel; every field is `"unknown"` if the call fails.
    pub fn current() -> Uname {
        let mut buf = std::mem::MaybeUninit::<libc::utsname>::zeroed();
        // SAFETY: `buf` is a writable `utsname` that outlives the call, which fills
        // it and touches nothing else.
        let rc = unsafe { libc::uname(buf.as_mut_ptr()) };
        if rc != 0 {
            let unknown = || UNKNOWN.to_owned();
            return Uname {
                nodename: unknown(),
                kernel: KernelInfo {
                    sysname: unknown(),
                    release: unknown(),
                    version: unknown(),
                    machine: unknown(),
                },
            };
        }
        // SAFETY: zero bytes are a valid `utsname` (arrays of `c_char`), and the
        // call succeeded, so each field is a NUL-terminated string.
        let uts = unsafe { buf.assume_init() };
        Uname {
            nodename: c_chars(&uts.nodename),
            kernel: KernelInfo {
                sysname: c_chars(&uts.sysname),
                release: c_chars(&uts.release),
                version: c_chars(&uts.version),
                machine: c_chars(&uts.machine),
            },
        }
    }
}

/// A NUL-terminated `c_char` array as a string (lossy: the kernel promises nothing).
fn c_chars(field: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// [`BuildInfo`] as owned strings, so `env.json` reads back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub version: String,
    pub git_rev: String,
    pub rustc: String,
    pub profile: String,
    pub target: String,
    /// Enabled cargo features, comma-separated (empty for the default build).
    pub features: String,
}

impl From<&BuildInfo> for BuildRecord {
    fn from(b: &BuildInfo) -> Self {
        BuildRecord {
            version: b.version.to_owned(),
            git_rev: b.git_rev.to_owned(),
            rustc: b.rustc.to_owned(),
            profile: b.profile.to_owned(),
            target: b.target.to_owned(),
            features: b.features.to_owned(),
        }
    }
}

/// What a `/proc` or `/sys` file that could not be read is recorded as.
pub const UNKNOWN: &str = "unknown";

const PROC_CPUINFO: &str = "/proc/cpuinfo";
const PROC_CMDLINE: &str = "/proc/cmdline";
const CPUS_ONLINE: &str = "/sys/devices/system/cpu/online";
const CPUS_ISOLATED: &str = "/sys/devices/system/cpu/isolated";

/// The host a run measured on, as `env.json` records it: enough to tell whether two
/// runs are comparable, and why a figure looks the way it does.
///
/// Fields read from `/proc` and `/sys` are `"unknown"` when the file could not be
/// read. CPU lists are in the kernel's own format (`0-3,8`; [`parse_cpu_list`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEnv {
    pub hostname: String,
    pub kernel: KernelInfo,
    /// `/proc/cmdline`: `isolcpus`, `nohz_full`, `mitigations`, ...
    pub kernel_cmdline: String,
    /// The first `model name` of `/proc/cpuinfo`.
    pub cpu_model: String,
    /// The online CPUs, as a CPU list.
    pub cpus_online: String,
    /// The CPUs isolated from the scheduler (`isolcpus`), as a CPU list; empty when
    /// none are.
    pub isolated_cpus: String,
    /// The core each lab thread was pinned to (`None`: not pinned), by thread name.
    pub cores_used: BTreeMap<String, Option<usize>>,
    /// The kernel's current clock source (`tsc`, `kvm-clock`, `hpet`, ...).
    pub clock_source: String,
    /// The clock sources the kernel could use, space-separated as the kernel lists
    /// them.
    pub available_clock_sources: String,
    /// The TSC as [`crate::time::tsc`] reports it: `invariant`, `variable`, `absent`,
    /// or `unknown (why)` when detection failed.
    pub tsc: String,
    /// The clock domain of the run's latency figures
    /// ([`crate::lab::feed_port::StampPlan::domain_name`]).
    pub clock_domain: String,
    /// What stamped TX and RX, in words.
    pub timestamp_source: String,
    pub build: BuildRecord,
    /// The command line that started the run.
    pub ticklab_command: Vec<String>,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// The TSC fitted against the kernel clocks before and after the feed, and how
    /// far it drifted between the two; `None` before the run has it (or without a
    /// TSC), with the reason in `tsc_calibration_error`.
    #[serde(default)]
    pub tsc_calibration: Option<TscCalibrationRecord>,
    #[serde(default)]
    pub tsc_calibration_error: Option<String>,
    /// The NIC's clock against `CLOCK_REALTIME`, when the figures are NIC stamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phc: Option<PhcOffsetRecord>,
}

/// The PHC whose stamps the run's figures are, and its offset from `CLOCK_REALTIME`
/// at the start (the one offset every stamp was shifted by) and the end: their
/// difference is how far a `from_schedule` figure could be off by the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhcOffsetRecord {
    pub device: String,
    pub realtime_minus_phc_ns_start: i64,
    pub realtime_minus_phc_ns_end: Option<i64>,
    /// Why the end could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_error: Option<String>,
}

/// One TSC calibration window, as `env.json` records it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TscWindow {
    /// TSC ticks per second against `CLOCK_MONOTONIC_RAW` (the oscillator's rate).
    pub hz_vs_monotonic_raw: f64,
    /// TSC ticks per second against `CLOCK_REALTIME` (includes any NTP/PTP slew).
    pub hz_vs_realtime: f64,
    /// RMS of the residuals of the two fits, ns.
    pub residual_rms_ns: [f64; 2],
    pub samples: usize,
    pub window_s: f64,
}

impl From<&crate::time::calibrate::Calibration> for TscWindow {
    fn from(c: &crate::time::calibrate::Calibration) -> Self {
        TscWindow {
            hz_vs_monotonic_raw: c.monotonic_raw.hz(),
            hz_vs_realtime: c.realtime.hz(),
            residual_rms_ns: [c.monotonic_raw.residual_rms_ns, c.realtime.residual_rms_ns],
            samples: c.monotonic_raw.samples,
            window_s: c.elapsed.as_secs_f64(),
        }
    }
}

/// The TSC calibrated at the start of the run and again at its end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TscCalibrationRecord {
    pub start: TscWindow,
    pub end: Option<TscWindow>,
    /// `(end − start) / start` of the rate against `CLOCK_MONOTONIC_RAW`, in parts
    /// per million: how much the TSC's own rate moved during the run.
    pub drift_ppm_vs_monotonic_raw: Option<f64>,
    /// The same against `CLOCK_REALTIME`: adds what a time daemon did to the clock.
    pub drift_ppm_vs_realtime: Option<f64>,
}

impl TscCalibrationRecord {
    pub fn new(start: TscWindow, end: Option<TscWindow>) -> Self {
        let ppm = |a: f64, b: f64| (b - a) / a * 1e6;
        TscCalibrationRecord {
            start,
            end,
            drift_ppm_vs_monotonic_raw: end
                .map(|e| ppm(start.hz_vs_monotonic_raw, e.hz_vs_monotonic_raw)),
            drift_ppm_vs_realtime: end.map(|e| ppm(start.hz_vs_realtime, e.hz_vs_realtime)),
        }
    }
}

impl HostEnv {
    /// Collects this host's facts from `/proc`, `/sys` and `uname(2)`, with what
    /// only the caller knows. Never fails.
    pub fn collect(
        clock_domain: &str,
        timestamp_source: &str,
        cores_used: BTreeMap<String, Option<usize>>,
        argv: Vec<String>,
        started_at: SystemTime,
    ) -> HostEnv {
        HostEnv::collect_from(
            Path::new("/"),
            &Uname::current(),
            clock_domain,
            timestamp_source,
            cores_used,
            argv,
            started_at,
        )
    }

    /// [`HostEnv::collect`] reading `/proc` and `/sys` under `root` instead of `/`,
    /// and taking `uname` as given: for tests on a fake tree.
    pub fn collect_from(
        root: &Path,
        uname: &Uname,
        clock_domain: &str,
        timestamp_source: &str,
        cores_used: BTreeMap<String, Option<usize>>,
        argv: Vec<String>,
        started_at: SystemTime,
    ) -> HostEnv {
        let under_root = |path: &str| root.join(path.trim_start_matches('/'));
        let read = |path: &str| {
            std::fs::read_to_string(under_root(path)).map_or_else(
                |_| UNKNOWN.to_owned(),
                |text| text.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        };
        let cpu_model = std::fs::read_to_string(under_root(PROC_CPUINFO))
            .ok()
            .and_then(|text| cpu_model_name(&text))
            .unwrap_or_else(|| UNKNOWN.to_owned());
        let tsc = match tsc::detect_in(
            &under_root(tsc::CURRENT_CLOCKSOURCE),
            &under_root(tsc::AVAILABLE_CLOCKSOURCE),
        ) {
            Ok(state) => state.support.name().to_owned(),
            Err(e) => format!("{UNKNOWN} ({e})"),
        };
        HostEnv {
            hostname: uname.nodename.clone(),
            kernel: uname.kernel.clone(),
            kernel_cmdline: read(PROC_CMDLINE),
            cpu_model,
            cpus_online: read(CPUS_ONLINE),
            isolated_cpus: read(CPUS_ISOLATED),
            cores_used,
            clock_source: read(tsc::CURRENT_CLOCKSOURCE),
            available_clock_sources: read(tsc::AVAILABLE_CLOCKSOURCE),
            tsc,
            clock_domain: clock_domain.to_owned(),
            timestamp_source: timestamp_source.to_owned(),
            build: BuildRecord::from(&BUILD),
            ticklab_command: argv,
            started_at: rfc3339_utc(started_at),
            tsc_calibration: None,
            tsc_calibration_error: None,
            phc: None,
        }
    }
}

/// The value of the first `model name` line of `/proc/cpuinfo` (x86; other
/// architectures name the CPU differently, and get `None`).
fn cpu_model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// The CPUs of a kernel CPU list (`0-3,8,10-11`), ascending as listed; `None` if it
/// is not one (including `"unknown"`). An empty list is no CPUs.
pub fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    // Linux's NR_CPUS is at most 8192: a wider range is not a CPU list.
    const MAX_CPU: usize = 1 << 13;
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let cpu = part.parse::<usize>().ok()?;
                (cpu, cpu)
            }
        };
        if first > last || last >= MAX_CPU {
            return None;
        }
        cpus.extend(first..=last);
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nic::timestamp::ClockDomain;
    use std::time::Duration;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn at_seconds(seconds: i64, millis: u32) -> SystemTime {
        let offset = Duration::from_secs(seconds.unsigned_abs());
        let whole = if seconds >= 0 {
            UNIX_EPOCH + offset
        } else {
            UNIX_EPOCH - offset
        };
        whole + Duration::from_millis(millis.into())
    }

    #[test]
    fn write_atomic_writes_exactly_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "summary.json", b"first\n").unwrap();
        assert_eq!(names_in(dir.path()), ["summary.json"]);
        assert_eq!(
            std::fs::read(dir.path().join("summary.json")).unwrap(),
            b"first\n"
        );

        // A reader holding the old file keeps the old bytes: the new one replaced
        // the directory entry, not the content.
        let mut old = File::open(dir.path().join("summary.json")).unwrap();
        write_atomic(dir.path(), "summary.json", b"second, longer\n").unwrap();
        let mut seen = String::new();
        io::Read::read_to_string(&mut old, &mut seen).unwrap();
        assert_eq!(seen, "first\n");
        assert_eq!(
            std::fs::read(dir.path().join("summary.json")).unwrap(),
            b"second, longer\n"
        );
        assert_eq!(names_in(dir.path()), ["summary.json"]);
    }

    #[test]
    fn write_atomic_into_a_file_names_the_path_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("plain");
        std::fs::write(&not_a_dir, b"x").unwrap();
        let err = write_atomic(&not_a_dir, "env.json", b"{}").unwrap_err();
        let temp = not_a_dir.join(".env.json.tmp");
        assert!(
            matches!(&err, ResultsError::Io { op: "create", path, .. } if path == &temp),
            "{err:?}"
        );
        assert!(err.to_string().contains(&*temp.to_string_lossy()), "{err}");

        // The rename fails (the target is a non-empty directory): no temp file stays.
        std::fs::create_dir(dir.path().join("busy")).unwrap();
        std::fs::write(dir.path().join("busy/inside"), b"x").unwrap();
        let err = write_atomic(dir.path(), "busy", b"data").unwrap_err();
        assert!(
            matches!(&err, ResultsError::Rename { to, .. } if to == &dir.path().join("busy")),
            "{err:?}"
        );
        assert_eq!(names_in(dir.path()), ["busy", "plain"]);
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", ".", "..", "../escape", "a/b", "nul\0"] {
            let err = write_atomic(dir.path(), name, b"x").unwrap_err();
            assert!(
                matches!(&err, ResultsError::InvalidName { name: n, .. } if n == name),
                "{name:?}: {err:?}"
            );
            assert!(AtomicFile::create(dir.path(), name).is_err());
            assert!(RunDir::create_new(dir.path(), name).is_err());
        }
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn write_json_is_pretty_with_a_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let value = BTreeMap::from([("count", 3u64), ("max", 250)]);
        write_json(dir.path(), "summary.json", &value).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
            "{\n  \"count\": 3,\n  \"max\": 250\n}\n"
        );
    }

    #[test]
    fn atomic_file_is_partial_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AtomicFile::create(dir.path(), "latency.hlog").unwrap();
        assert_eq!(log.partial_path(), dir.path().join("latency.hlog.partial"));
        assert_eq!(log.final_path(), dir.path().join("latency.hlog"));

        log.write_all(b"line 1\n").unwrap();
        log.flush_to_disk().unwrap();
        writeln!(log, "line {}", 2).unwrap(); // Buffered: not on disk yet.
        assert_eq!(names_in(dir.path()), ["latency.hlog.partial"]);
        assert_eq!(
            std::fs::read(dir.path().join("latency.hlog.partial")).unwrap(),
            b"line 1\n"
        );

        let committed = log.commit().unwrap();
        assert_eq!(committed, dir.path().join("latency.hlog"));
        assert_eq!(names_in(dir.path()), ["latency.hlog"]);
        assert_eq!(std::fs::read(committed).unwrap(), b"line 1\nline 2\n");
    }

    #[test]
    fn an_uncommitted_atomic_file_keeps_its_partial_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AtomicFile::create(dir.path(), "latency.hlog").unwrap();
        log.write_all(b"measured\n").unwrap();
        drop(log);
        assert_eq!(names_in(dir.path()), ["latency.hlog.partial"]);
        assert_eq!(
            std::fs::read(dir.path().join("latency.hlog.partial")).unwrap(),
            b"measured\n"
        );
        // A second writer must not wipe it.
        let err = AtomicFile::create(dir.path(), "latency.hlog").unwrap_err();
        let partial = dir.path().join("latency.hlog.partial");
        assert!(
            matches!(&err, ResultsError::Io { op: "create", path, source }
                if path == &partial && source.kind() == io::ErrorKind::AlreadyExists),
            "{err:?}"
        );
    }

    #[test]
    fn atomic_file_in_a_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("plain");
        std::fs::write(&not_a_dir, b"x").unwrap();
        let err = AtomicFile::create(&not_a_dir, "latency.hlog").unwrap_err();
        let partial = not_a_dir.join("latency.hlog.partial");
        assert!(
            matches!(&err, ResultsError::Io { op: "create", path, .. } if path == &partial),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with(&format!("cannot create {}: ", partial.display())));
    }

    #[test]
    fn create_new_refuses_an_existing_run_id() {
        let parent = tempfile::tempdir().unwrap();
        let nested = parent.path().join("results/runs");
        let run = RunDir::create_new(&nested, "20261124T101530Z-beef").unwrap();
        assert_eq!(run.path(), nested.join("20261124T101530Z-beef"));
        assert!(run.path().is_dir());

        let err = RunDir::create_new(&nested, "20261124T101530Z-beef").unwrap_err();
        assert!(
            matches!(&err, ResultsError::RunDirExists { path } if path == run.path()),
            "{err:?}"
        );
        assert!(err.to_string().contains(&*run.path().to_string_lossy()));
    }

    #[test]
    fn at_refuses_a_directory_holding_results() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let err = RunDir::at(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ResultsError::HoldsResults { path, files }
                if path == dir.path() && files == &["summary.json"]),
            "{err:?}"
        );
        assert!(err.to_string().contains("summary.json"), "{err}");

        // Leftovers of an interrupted run count too, sorted by name.
        std::fs::write(dir.path().join("latency.hlog.partial"), b"").unwrap();
        std::fs::write(dir.path().join(".env.json.tmp"), b"").unwrap();
        let err = RunDir::at(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ResultsError::HoldsResults { files, .. }
                if files == &[".env.json.tmp", "latency.hlog.partial", "summary.json"]),
            "{err:?}"
        );
    }

    #[test]
    fn at_takes_an_empty_new_or_unrelated_directory() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::at(dir.path()).unwrap();
        assert_eq!(run.path(), dir.path());
        run.write_json(ENV_JSON, &[1]).unwrap();
        assert_eq!(names_in(dir.path()), ["env.json"]);

        let fresh = dir.path().join("a/b");
        assert_eq!(RunDir::at(&fresh).unwrap().path(), fresh);
        assert!(fresh.is_dir());

        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("README"), b"kept").unwrap();
        assert!(RunDir::at(&other).is_ok());

        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        let err = RunDir::at(&file).unwrap_err();
        assert!(
            matches!(&err, ResultsError::Io { op: "create directory", path, .. } if path == &file),
            "{err:?}"
        );
    }

    #[test]
    fn civil_dates_of_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(951_782_400 / 86_400), (2000, 2, 29));
        assert_eq!(civil_from_days(951_782_400 / 86_400 + 1), (2000, 3, 1));
        // 2100 is not a leap year: 28 February is followed by 1 March.
        assert_eq!(civil_from_days(4_107_542_400 / 86_400), (2100, 3, 1));
        assert_eq!(civil_from_days(4_107_542_400 / 86_400 - 1), (2100, 2, 28));
        assert_eq!(civil_from_days(-2_208_988_800 / 86_400), (1900, 1, 1));
    }

    /// An independent inverse: count whole years and months from 1970.
    fn days_from_civil_by_counting(year: i64, month: u32, day: u32) -> i64 {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_days = |y: i64, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut days = 0;
        for y in 1970..year {
            days += if leap(y) { 366 } else { 365 };
        }
        for y in year..1970 {
            days -= if leap(y) { 366 } else { 365 };
        }
        for m in 1..month {
            days += month_days(year, m);
        }
        days + i64::from(day) - 1
    }

    #[test]
    fn civil_dates_agree_with_counting_over_five_centuries() {
        // 1800..2300 in 7-day steps covers every month, leap and century rules.
        let mut day = days_from_civil_by_counting(1800, 1, 1);
        let end = days_from_civil_by_counting(2300, 1, 1);
        while day < end {
            let (y, m, d) = civil_from_days(day);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{day}");
            assert_eq!(days_from_civil_by_counting(y, m, d), day, "{y}-{m}-{d}");
            day += 7;
        }
    }

    #[test]
    fn rfc3339_of_known_moments() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_utc(at_seconds(951_782_400, 0)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_utc(at_seconds(1_795_515_330, 250)),
            "2026-11-24T10:15:30.250Z"
        );
        assert_eq!(
            rfc3339_utc(at_seconds(4_107_542_400, 999)),
            "2100-03-01T00:00:00.999Z"
        );
        assert_eq!(
            rfc3339_utc(at_seconds(1_735_689_599, 0)),
            "2024-12-31T23:59:59.000Z"
        );
        // Milliseconds are truncated, not rounded.
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::from_nanos(1_999_999)),
            "1970-01-01T00:00:00.001Z"
        );
        // Before the epoch, the second rounds down and the fraction counts up.
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH - Duration::from_millis(1)),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339_utc(at_seconds(-2_208_988_800, 0)),
            "1900-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn run_ids_of_known_moments() {
        let id = |s, tag| format_run_id(&UtcTime::from_system_time(at_seconds(s, 0)), tag);
        assert_eq!(id(0, 0), "19700101T000000Z-0000");
        assert_eq!(id(951_782_400, 0xbeef), "20000229T000000Z-beef");
        assert_eq!(id(1_795_515_330, 0x0a0b), "20261124T101530Z-0a0b");
        assert_eq!(id(4_107_542_400, 0xffff), "21000301T000000Z-ffff");
    }

    #[test]
    fn new_run_id_has_the_format() {
        let now = at_seconds(1_795_515_330, 123);
        let id = new_run_id(now);
        assert_eq!(id.len(), "YYYYMMDDTHHMMSSZ-xxxx".len(), "{id}");
        assert_eq!(&id[..17], "20261124T101530Z-");
        assert!(
            id[17..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
        // The tag comes from this process and the instant: the same inputs, the same id.
        assert_eq!(new_run_id(now), id);
        let nanos = 123_000_000u32;
        let mixed = std::process::id() ^ nanos;
        assert_eq!(id[17..], format!("{:04x}", (mixed ^ (mixed >> 16)) as u16));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list(UNKNOWN), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("0-99999999"), None);
        assert_eq!(parse_cpu_list("0,,2"), Some(vec![0, 2]));
    }

    fn fake_uname() -> Uname {
        Uname {
            nodename: "lab7".to_owned(),
            kernel: KernelInfo {
                sysname: "Linux".to_owned(),
                release: "6.8.0-45-generic".to_owned(),
                version: "#45-Ubuntu SMP PREEMPT_DYNAMIC".to_owned(),
                machine: "x86_64".to_owned(),
            },
        }
    }

    #[test]
    fn collect_from_a_fake_tree() {
        let root = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        put(
            "proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: GenuineIntel\n\
             model name\t: Intel(R) Xeon(R) Gold 6354 CPU @ 3.00GHz\n\nprocessor\t: 1\n\
             model name\t: Some Other CPU\n",
        );
        put(
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz isolcpus=2-3 nohz_full=2-3\n",
        );
        put("sys/devices/system/cpu/online", "0-3\n");
        put("sys/devices/system/cpu/isolated", "2-3\n");
        put(
            "sys/devices/system/clocksource/clocksource0/current_clocksource",
            "tsc\n",
        );
        put(
            "sys/devices/system/clocksource/clocksource0/available_clocksource",
            "tsc hpet acpi_pm \n",
        );
        let cores = BTreeMap::from([
            ("feed_tx".to_owned(), Some(2)),
            ("control".to_owned(), None),
        ]);
        let argv = vec!["ticklab".to_owned(), "run".to_owned()];
        let env = HostEnv::collect_from(
            root.path(),
            &fake_uname(),
            ClockDomain::KernelSoftware.name(),
            "kernel software SO_TIMESTAMPING",
            cores.clone(),
            argv.clone(),
            at_seconds(1_795_515_330, 250),
        );
        let expected = HostEnv {
            hostname: "lab7".to_owned(),
            kernel: fake_uname().kernel,
            kernel_cmdline: "BOOT_IMAGE=/vmlinuz isolcpus=2-3 nohz_full=2-3".to_owned(),
            cpu_model: "Intel(R) Xeon(R) Gold 6354 CPU @ 3.00GHz".to_owned(),
            cpus_online: "0-3".to_owned(),
            isolated_cpus: "2-3".to_owned(),
            cores_used: cores,
            clock_source: "tsc".to_owned(),
            available_clock_sources: "tsc hpet acpi_pm".to_owned(),
            // CPUID cannot be faked: the fake tree only decides that detection works.
            tsc: tsc::tsc_support().name().to_owned(),
            clock_domain: "kernel_software".to_owned(),
            timestamp_source: "kernel software SO_TIMESTAMPING".to_owned(),
            build: BuildRecord::from(&BUILD),
            ticklab_command: argv,
            started_at: "2026-11-24T10:15:30.250Z".to_owned(),
            tsc_calibration: None,
            tsc_calibration_error: None,
            phc: None,
        };
        assert_eq!(env, expected);
    }

    #[test]
    fn collect_from_an_empty_tree_says_unknown() {
        let root = tempfile::tempdir().unwrap();
        let env = HostEnv::collect_from(
            root.path(),
            &fake_uname(),
            ClockDomain::NicHardware.name(),
            "NIC PHC",
            BTreeMap::new(),
            Vec::new(),
            UNIX_EPOCH,
        );
        for (field, value) in [
            ("kernel_cmdline", &env.kernel_cmdline),
            ("cpu_model", &env.cpu_model),
            ("cpus_online", &env.cpus_online),
            ("isolated_cpus", &env.isolated_cpus),
            ("clock_source", &env.clock_source),
            ("available_clock_sources", &env.available_clock_sources),
        ] {
            assert_eq!(value, UNKNOWN, "{field}");
        }
        let current = root
            .path()
            .join("sys/devices/system/clocksource/clocksource0/current_clocksource");
        assert_eq!(
            env.tsc,
            format!(
                "unknown (reading {}: No such file or directory (os error 2))",
                current.display()
            )
        );
        assert_eq!(env.clock_domain, "nic_hardware");
        assert_eq!(env.started_at, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn cpu_model_needs_a_model_name_line() {
        assert_eq!(cpu_model_name("processor : 0\nCPU part : 0xd0c\n"), None);
        assert_eq!(
            cpu_model_name("model name:AMD EPYC 9654  \n").as_deref(),
            Some("AMD EPYC 9654")
        );
    }

    #[test]
    fn collect_on_this_host_is_sane_and_reads_back() {
        let started = SystemTime::now();
        let env = HostEnv::collect(
            ClockDomain::KernelSoftware.name(),
            "kernel software SO_TIMESTAMPING: TX error queue (UDP), RX cmsg (TCP)",
            BTreeMap::from([("feed_tx".to_owned(), Some(0))]),
            std::env::args().collect(),
            started,
        );
        if cfg!(target_os = "linux") {
            assert_eq!(env.kernel.sysname, "Linux");
        }
        assert!(!env.kernel.release.is_empty() && env.kernel.release != UNKNOWN);
        assert!(!env.hostname.is_empty());
        let online = parse_cpu_list(&env.cpus_online).expect(&env.cpus_online);
        assert!(!online.is_empty(), "{}", env.cpus_online);
        assert_eq!(env.started_at, rfc3339_utc(started));
        assert_eq!(env.build.git_rev, BUILD.git_rev);

        let json = serde_json::to_string_pretty(&env).unwrap();
        assert!(!json.contains("\"phc\""), "no PHC, no record: {json}");
        let back: HostEnv = serde_json::from_str(&json).unwrap();
        assert_eq!(back, env);

        // A run in a NIC's clock records the PHC's offset at both ends.
        let mut env = env;
        env.phc = Some(PhcOffsetRecord {
            device: "/dev/ptp0".into(),
            realtime_minus_phc_ns_start: -37_000_000_012,
            realtime_minus_phc_ns_end: Some(-37_000_000_020),
            end_error: None,
        });
        let json = serde_json::to_string_pretty(&env).unwrap();
        assert!(
            json.contains("\"realtime_minus_phc_ns_start\": -37000000012"),
            "{json}"
        );
        let back: HostEnv = serde_json::from_str(&json).unwrap();
        assert_eq!(back, env);
    }
}
