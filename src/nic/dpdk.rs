//! The DPDK backend: kernel-bypass packet I/O on any port DPDK drives, from a NIC's
//! poll-mode driver to the virtual devices (`net_null`, `net_ring`, `net_pcap`,
//! `net_af_packet`) the tests and `net_pcap` replays run on.
//!
//! [`Eal`] initialises DPDK's Environment Abstraction Layer once per process (a
//! second [`Eal::init`] is an error, even after the first was dropped, because DPDK
//! cannot initialise twice) and runs `rte_eal_cleanup` when its last clone, and
//! every port and pool made from it, is gone. [`DpdkPort::open`] configures and
//! starts a port and hands out one [`DpdkPort`] per queue pair, each owned by one
//! thread, plus a [`DpdkPortControl`] for statistics from any thread. Each queue has
//! its own [`Mempool`] of mbufs.
//!
//! - **TX** ([`Port::send_burst`]) copies each frame of a burst into an mbuf (one
//!   bulk allocation per burst from the queue's pool; nothing of ours is allocated)
//!   and calls `rte_eth_tx_burst` once: one FFI call per burst, through the
//!   `dpdk-sys` shim. That suits frames built as they go (the lab's datagrams).
//! - **Staged TX** is for frames known before the run (a capture to replay):
//!   [`DpdkPort::stage`] copies them once into mbufs of a pool of their own, sized
//!   to them (data room = the longest frame, no headroom), and
//!   [`DpdkPort::send_staged`] hands those same mbufs to `rte_eth_tx_burst` again
//!   and again, each with one more reference (`rte_mbuf_refcnt_update`), so the
//!   PMD's free drops only that reference: no copy, no allocation per packet, and
//!   the next burst's mbuf headers are prefetched, since a large capture's mbufs
//!   are far beyond the CPU's caches. [`StagedFrames`] gives the mbufs back on
//!   drop; a pool the device still holds mbufs of is kept until the port closes.
//!   Ids and TX stamps are the same for both paths.
//! - **RX** calls `rte_eth_rx_burst` once and copies each packet (all its segments)
//!   into the caller's buffer, then frees the mbufs.
//! - **Timestamps** come from one clock per port, chosen at open and named by
//!   [`DpdkPortControl::clock`] with the reason. With a PMD that offers the RX
//!   timestamp offload *and* `rte_eth_read_clock`, both directions use the device's
//!   clock ([`ClockDomain::NicHardware`]): RX from the timestamp dynfield, TX read
//!   when `rte_eth_tx_burst` returns, converted to nanoseconds at a rate measured
//!   against `CLOCK_MONOTONIC_RAW` at open. Otherwise (virtual devices, most
//!   NICs) both are `CLOCK_MONOTONIC` read when the burst call returned
//!   ([`ClockDomain::UserMonotonic`], the kernel's origin, the lab pacer's clock):
//!   a TX stamp is when the device took the frame, not when it left.
//!
//! Drivers: Debian installs each PMD as its own shared object, which EAL loads from
//! a directory. Unless the EAL arguments name one (`-d`), [`Eal::init`] passes the
//! directory next to the `librte_eal` the dynamic loader actually loaded, else the
//! one DPDK was built with (`RTE_EAL_PMD_PATH`), and checks that the PMD of every
//! `--vdev` it knows is there, so a missing package is named before EAL starts.
//!
//! This module must never allocate, lock or log in [`Port`] calls or
//! [`DpdkPort::send_staged`], never let an mbuf outlive its pool or a pool outlive
//! its port, never write to a staged frame after staging, and never mix clock
//! domains on one port. Every `unsafe` block says why it is sound.
//!
//! A thread that sends or receives should call [`Eal::register_thread`] first: DPDK
//! gives each lcore a mempool cache, and a thread EAL does not know goes to the
//! pool's shared ring on every burst.
//!
//! ```
//! use ticklab::nic::dpdk::{DpdkPort, DpdkPortConfig, Eal, EalConfig};
//! use ticklab::nic::{Port, PortControl};
//! let eal = Eal::init(&EalConfig::virtual_devices(["net_null0"]))?;
//! let (mut queues, control) = DpdkPort::open(&eal, &DpdkPortConfig::new("net_null0"))?;
//! let port = &mut queues[0];
//! let frame = [0u8; 64];
//! let sent = port.send_burst(&[frame.as_slice(); 8])?;
//! assert_eq!(sent.count, 8);
//! assert_eq!(control.stats().tx_packets, 8);
//!
//! // Frames known in advance: staged once, sent by reference as often as wanted.
//! let frames = [[1u8; 60], [2u8; 60], [3u8; 60]];
//! let staged = port.stage(frames.iter().map(|f| f.as_slice()))?;
//! for _pass in 0..2 {
//!     assert_eq!(port.send_staged(&staged, 0..staged.len())?.count, 3);
//! }
//! assert_eq!(control.stats().tx_packets, 14);
//! assert_eq!(staged.release().returned, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt::Write as _;
use std::io;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dpdk_sys as ffi;

use super::timestamp::{ClockDomain, KernelTimestamp};
use super::{bump, Error, Port, PortControl, PortStats, RxMeta, SentBurst, TxTimestamp};

/// Why DPDK could not be set up or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("the DPDK EAL was already initialised in this process: DPDK allows one rte_eal_init per process, even after rte_eal_cleanup; clone the first Eal instead")]
    AlreadyInitialised,
    #[error("rte_eal_init failed with arguments `{args}`: {text} (rte_errno {errno}); check hugepages (grep Huge /proc/meminfo, or pass --no-huge -m 512), the driver directory ({driver_dirs}), that the devices exist (--vdev, -a <PCI address>), and privileges (root, or CAP_SYS_ADMIN, CAP_IPC_LOCK and CAP_NET_RAW); EAL's own log above says which step failed")]
    EalInit {
        args: String,
        driver_dirs: String,
        errno: i32,
        text: String,
    },
    #[error("rte_eal_init left `{rest}` unparsed: EAL arguments must all be EAL options (the arguments were `{args}`)")]
    NotEalArguments { args: String, rest: String },
    #[error("no DPDK driver directory: looked in {looked}; install DPDK's PMDs (Debian: `apt-get install libdpdk-dev`, which pulls in every librte-net-* package) or name the directory with `-d <dir>` in the EAL arguments")]
    NoDriverDirectory { looked: String },
    #[error("--vdev={vdev} needs the PMD {library}.so, which is in none of {dirs}; install it (Debian: `apt-get install {package}`) or pass `-d <dir>` with the directory that has it")]
    MissingDriver {
        vdev: String,
        library: String,
        dirs: String,
        package: String,
    },
    #[error("{call} failed on {object}: {text} (errno {errno}); {hint}")]
    Call {
        call: &'static str,
        object: String,
        errno: i32,
        text: String,
        hint: &'static str,
    },
    #[error("no DPDK port named {name:?} (EAL probed: {known}); check the --vdev and -a (PCI allow-list) EAL arguments, and that the NIC is bound to a DPDK-capable driver (dpdk-devbind.py --status)")]
    NoSuchPort { name: String, known: String },
    #[error("invalid DPDK configuration of {object}: {reason}")]
    Config { object: String, reason: String },
    #[error("staging {frames} frames of up to {frame_room} bytes needs about {needed} bytes of DPDK memory, and EAL's heaps have {heap_free} of {heap_total} bytes free; give EAL more memory: `-m {suggested_mib}` (MiB) with --no-huge, or that much in hugepages (--socket-mem, or more pages in /proc/sys/vm/nr_hugepages)")]
    StagingMemory {
        frames: usize,
        frame_room: u16,
        needed: u64,
        heap_total: u64,
        heap_free: u64,
        suggested_mib: u64,
    },
    #[error("appending {len} bytes to an mbuf holding {held}: its data room is {room} bytes")]
    MbufFull {
        len: usize,
        held: usize,
        room: usize,
    },
}

impl From<DpdkError> for Error {
    fn from(error: DpdkError) -> Error {
        Error::Io {
            op: "DPDK",
            source: io::Error::other(error),
        }
    }
}

/// `rte_strerror`'s text for an errno (DPDK's own codes included).
fn errno_text(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any value and returns a NUL-terminated string in
    // static or thread-local storage, valid until the next call on this thread; it
    // is copied at once.
    unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

/// This thread's `rte_errno`.
fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local int; no preconditions.
    unsafe { ffi::ticklab_rte_errno() }
}

/// Turns a DPDK return code (`-errno` on failure) into a `Result`.
fn check(
    ret: c_int,
    call: &'static str,
    object: &str,
    hint: &'static str,
) -> Result<(), DpdkError> {
    if ret >= 0 {
        return Ok(());
    }
    Err(DpdkError::Call {
        call,
        object: object.to_owned(),
        errno: -ret,
        text: errno_text(-ret),
        hint,
    })
}

// ---------------------------------------------------------------------------------
// EAL
// ---------------------------------------------------------------------------------

/// The arguments EAL is started with (without `argv[0]`), as `dpdk-testpmd` takes
/// them before its `--`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalConfig {
    pub args: Vec<String>,
}

/// The EAL options that make a process with virtual devices only: no hugepages
/// (512 MiB of ordinary memory), no PCI scan, no shared configuration files (so
/// several processes may run at once; `--in-memory` would say the same but EAL
/// refuses it with `--no-huge`), no telemetry socket.
pub const VIRTUAL_DEVICE_ARGS: &[&str] = &[
    "--no-huge",
    "-m",
    "512",
    "--no-pci",
    "--no-shconf",
    "--no-telemetry",
];

impl EalConfig {
    pub fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        EalConfig {
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Whitespace-separated arguments, as `--dpdk-args "..."` gives them (an argument
    /// cannot contain a space).
    pub fn parse(args: &str) -> Self {
        Self::new(args.split_whitespace())
    }

    /// [`VIRTUAL_DEVICE_ARGS`] and one `--vdev=` per device, e.g. `net_null0`,
    /// `net_ring0`, `net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`,
    /// `net_af_packet0,iface=veth0`.
    pub fn virtual_devices<I, S>(vdevs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut args: Vec<String> = VIRTUAL_DEVICE_ARGS.iter().map(|a| a.to_string()).collect();
        args.extend(vdevs.into_iter().map(|v| format!("--vdev={}", v.as_ref())));
        EalConfig { args }
    }

    /// The value of every `--vdev`, in order (`--vdev=X` or `--vdev X`).
    pub fn vdevs(&self) -> Vec<&str> {
        self.option_values("--vdev")
    }

    /// The driver directories or files given with `-d` (`-d X` or `-dX`).
    pub fn driver_paths(&self) -> Vec<PathBuf> {
        self.option_values("-d")
            .into_iter()
            .map(PathBuf::from)
            .collect()
    }

    /// Whether the arguments place the lcores themselves (`-l`, `-c`, `--lcores`).
    pub fn chooses_cores(&self) -> bool {
        self.args.iter().any(|arg| {
            arg == "--lcores"
                || arg.starts_with("--lcores=")
                || arg.starts_with("-l")
                || arg.starts_with("-c")
        })
    }

    /// Values of a long option (`--name=X`, `--name X`) or a short one (`-dX`,
    /// `-d X`), as getopt reads them.
    fn option_values(&self, option: &str) -> Vec<&str> {
        let long = option.starts_with("--");
        let mut values = Vec::new();
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if arg == option {
                if let Some(value) = args.next() {
                    values.push(value.as_str());
                }
                continue;
            }
            let attached = arg.strip_prefix(option).and_then(|rest| {
                if long {
                    rest.strip_prefix('=')
                } else {
                    Some(rest)
                }
            });
            if let Some(value) = attached.filter(|v| !v.is_empty()) {
                values.push(value);
            }
        }
        values
    }
}

/// Set by the first [`Eal::init`] that reached `rte_eal_init`; never cleared.
static EAL_CLAIMED: AtomicBool = AtomicBool::new(false);

/// DPDK's Environment Abstraction Layer, initialised. Cheap to clone; ports and
/// pools hold a clone, and `rte_eal_cleanup` runs when the last one is dropped.
#[derive(Debug, Clone)]
pub struct Eal {
    shared: Arc<EalShared>,
}

#[derive(Debug)]
struct EalShared {
    args: Vec<String>,
    driver_paths: Vec<PathBuf>,
}

impl Drop for EalShared {
    fn drop(&mut self) {
        // SAFETY: the last Eal clone is gone, so no port, pool or mbuf made from it
        // exists (each holds a clone); nothing calls DPDK after this.
        unsafe { ffi::rte_eal_cleanup() };
    }
}

impl Eal {
    /// Initialises EAL with `config`'s arguments, plus `-d <driver directory>` when
    /// they name none (see the module docs) and, when they place no lcores,
    /// `--lcores=0@(<this thread's CPUs>)` so EAL neither pins the calling thread
    /// (which becomes the main lcore) nor starts worker threads.
    pub fn init(config: &EalConfig) -> Result<Eal, DpdkError> {
        if EAL_CLAIMED.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::AlreadyInitialised);
        }
        match Self::prepare(config) {
            Ok((args, driver_paths)) => Self::start(args, driver_paths),
            Err(error) => {
                // DPDK was not touched: a corrected configuration may try again.
                EAL_CLAIMED.store(false, Ordering::Release);
                Err(error)
            }
        }
    }

    /// The whole argument list (without `argv[0]`) and the driver paths.
    fn prepare(config: &EalConfig) -> Result<(Vec<String>, Vec<PathBuf>), DpdkError> {
        let mut prefix = Vec::new();
        let mut driver_paths = config.driver_paths();
        if driver_paths.is_empty() {
            let candidates =
                driver_dir_candidates(loaded_eal_dir().as_deref(), &compiled_pmd_path());
            let dir = first_directory(&candidates)?;
            // One spelling per directory (/lib is /usr/lib on merged-/usr systems).
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            prefix.push("-d".to_owned());
            prefix.push(dir.display().to_string());
            driver_paths.push(dir);
        }
        // A shared-library EAL also loads its built-in directory by itself.
        let mut searched = driver_paths.clone();
        let compiled = compiled_pmd_path();
        if compiled.is_dir() && !searched.contains(&compiled) {
            searched.push(compiled);
        }
        for vdev in config.vdevs() {
            check_vdev_driver(vdev, &searched)?;
        }
        if !config.chooses_cores() {
            let cpus = allowed_cpus().map_err(|source| DpdkError::Call {
                call: "sched_getaffinity",
                object: "the calling thread".to_owned(),
                errno: source.raw_os_error().unwrap_or(0),
                text: source.to_string(),
                hint: "pass -l or --lcores in the EAL arguments",
            })?;
            prefix.push(format!("--lcores=0@({})", cpu_list(&cpus)));
        }
        prefix.extend(config.args.iter().cloned());
        Ok((prefix, driver_paths))
    }

    fn start(args: Vec<String>, driver_paths: Vec<PathBuf>) -> Result<Eal, DpdkError> {
        let joined = args.join(" ");
        let argv: Vec<CString> = std::iter::once("ticklab".to_owned())
            .chain(args.iter().cloned())
            .map(|arg| {
                CString::new(arg).map_err(|error| DpdkError::NotEalArguments {
                    args: joined.clone(),
                    rest: format!("an argument with a NUL byte at {}", error.nul_position()),
                })
            })
            .collect::<Result<_, _>>()?;
        let argc = argv.len() as c_int;
        // EAL keeps pointers into argv (getopt's permutations, some option values)
        // for the life of the process, and initialises once: the strings and the
        // array are leaked, a few hundred bytes per process.
        let argv: &'static mut [*mut c_char] = Box::leak(
            argv.into_iter()
                .map(|arg| arg.into_raw())
                .chain(std::iter::once(ptr::null_mut()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // SAFETY: argc counts the NUL-terminated strings of argv (which has a
        // trailing NULL, as C's argv does); both live for the rest of the process;
        // EAL_CLAIMED guarantees this is the only rte_eal_init of the process.
        let parsed = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if parsed < 0 {
            let errno = rte_errno();
            return Err(DpdkError::EalInit {
                args: joined,
                driver_dirs: display_paths(&driver_paths),
                errno,
                text: errno_text(errno),
            });
        }
        let eal = Eal {
            shared: Arc::new(EalShared { args, driver_paths }),
        };
        // getopt moved what EAL did not take behind what it took: argv[1 + parsed..].
        let first_unparsed = (1 + parsed as usize).min(argc as usize);
        let unparsed: Vec<String> = argv[first_unparsed..argc as usize]
            .iter()
            // SAFETY: argv's first argc entries are the leaked strings, permuted.
            .map(|&arg| {
                unsafe { CStr::from_ptr(arg) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        if !unparsed.is_empty() {
            // `eal` drops here: rte_eal_cleanup undoes the init.
            return Err(DpdkError::NotEalArguments {
                args: joined,
                rest: unparsed.join(" "),
            });
        }
        Ok(eal)
    }

    /// The arguments EAL was started with (without `argv[0]`), for `env.json`.
    pub fn args(&self) -> &[String] {
        &self.shared.args
    }

    /// The driver directories (or files) EAL loaded PMDs from.
    pub fn driver_paths(&self) -> &[PathBuf] {
        &self.shared.driver_paths
    }

    /// The DPDK this build links, as pkg-config named it (`22.11.11`).
    pub fn version(&self) -> &'static str {
        ffi::DPDK_VERSION
    }

    /// Every port EAL probed: its id and name.
    pub fn ports(&self) -> Vec<(u16, String)> {
        let mut ports = Vec::new();
        // SAFETY: EAL is initialised (self exists); any port id may be asked about.
        let mut id = unsafe { ffi::rte_eth_find_next(0) };
        while u32::from(id) < ffi::RTE_MAX_ETHPORTS {
            ports.push((id, port_name(id).unwrap_or_else(|| format!("port {id}"))));
            // SAFETY: as above.
            id = unsafe { ffi::rte_eth_find_next(id + 1) };
        }
        ports
    }

    /// The id of the port named `name` (a vdev name or a PCI address).
    pub fn port_id(&self, name: &str) -> Result<u16, DpdkError> {
        let no_such_port = || DpdkError::NoSuchPort {
            name: name.to_owned(),
            known: self.known_ports(),
        };
        let c_name = CString::new(name).map_err(|_| no_such_port())?;
        let mut id = 0u16;
        // SAFETY: c_name is NUL-terminated; id is a valid place for the answer.
        let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if ret < 0 {
            return Err(no_such_port());
        }
        Ok(id)
    }

    fn known_ports(&self) -> String {
        let ports = self.ports();
        if ports.is_empty() {
            return "no ports".to_owned();
        }
        ports
            .iter()
            .map(|(id, name)| format!("{id}: {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Makes the calling thread an EAL lcore (`rte_thread_register`) until the
    /// registration is dropped, so its mempool operations use a per-lcore cache.
    /// A thread that already is one (the main lcore) gets a registration that
    /// leaves it as it is.
    pub fn register_thread(&self) -> Result<LcoreRegistration, DpdkError> {
        let before = current_lcore();
        if before != ffi::LCORE_ID_ANY {
            return Ok(LcoreRegistration {
                lcore: before,
                owned: false,
                _eal: self.clone(),
                _this_thread: PhantomData,
            });
        }
        // SAFETY: EAL is initialised; registers the calling thread only.
        if unsafe { ffi::rte_thread_register() } < 0 {
            let errno = rte_errno();
            return Err(DpdkError::Call {
                call: "rte_thread_register",
                object: "the calling thread".to_owned(),
                errno,
                text: errno_text(errno),
                hint: "every lcore id is taken (RTE_MAX_LCORE): drop registrations of threads that ended",
            });
        }
        Ok(LcoreRegistration {
            lcore: current_lcore(),
            owned: true,
            _eal: self.clone(),
            _this_thread: PhantomData,
        })
    }
}

/// The calling thread's lcore id, [`ffi::LCORE_ID_ANY`] for a thread EAL does not
/// know.
pub fn current_lcore() -> u32 {
    // SAFETY: reads a thread-local; no preconditions.
    unsafe { ffi::ticklab_lcore_id() }
}

/// A thread's lcore, given by [`Eal::register_thread`]; unregisters on drop. Not
/// `Send`: it belongs to the thread that registered.
#[derive(Debug)]
pub struct LcoreRegistration {
    lcore: u32,
    owned: bool,
    _eal: Eal,
    _this_thread: PhantomData<*const ()>,
}

impl LcoreRegistration {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }
}

impl Drop for LcoreRegistration {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: runs on the thread that registered (this type is not Send),
            // while EAL lives (self holds an Eal).
            unsafe { ffi::rte_thread_unregister() };
        }
    }
}

/// The NUMA node of a port's device, [`ffi::SOCKET_ID_ANY`] when it has none.
fn port_socket(id: u16) -> i32 {
    // SAFETY: any port id may be asked.
    match unsafe { ffi::rte_eth_dev_socket_id(id) } {
        socket if socket < 0 => ffi::SOCKET_ID_ANY,
        socket => socket,
    }
}

fn port_name(id: u16) -> Option<String> {
    let mut name = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN];
    // SAFETY: name has the RTE_ETH_NAME_MAX_LEN bytes the call may write, which
    // include the NUL.
    let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(id, name.as_mut_ptr()) };
    if ret < 0 {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    Some(
        unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------------

/// `RTE_EAL_PMD_PATH` of the headers dpdk-sys was built with.
pub fn compiled_pmd_path() -> PathBuf {
    let bytes = ffi::RTE_EAL_PMD_PATH;
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The directory of the `librte_eal` shared object the dynamic loader loaded.
fn loaded_eal_dir() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let symbol = ffi::rte_eal_init as *const c_void;
    // SAFETY: dladdr only reads the loader's tables and writes `info`; `symbol` is
    // the address of a function in a loaded object.
    let found = unsafe { libc::dladdr(symbol, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so it initialised `info`.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    let file = unsafe { CStr::from_ptr(info.dli_fname) }.to_str().ok()?;
    Path::new(file).parent().map(Path::to_path_buf)
}

/// Where to look for PMDs, best first: `<dir of the loaded librte_eal>/dpdk/<the
/// compiled directory's name>` (right even when the binary runs on a machine with
/// DPDK in another prefix), then the compiled `RTE_EAL_PMD_PATH` itself.
pub fn driver_dir_candidates(loaded_eal_dir: Option<&Path>, compiled: &Path) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let (Some(libdir), Some(name)) = (loaded_eal_dir, compiled.file_name()) {
        candidates.push(libdir.join("dpdk").join(name));
    }
    if !compiled.as_os_str().is_empty() && !candidates.iter().any(|c| c == compiled) {
        candidates.push(compiled.to_path_buf());
    }
    candidates
}

/// The first candidate that is a directory.
pub fn first_directory(candidates: &[PathBuf]) -> Result<PathBuf, DpdkError> {
    candidates
        .iter()
        .find(|dir| dir.is_dir())
        .cloned()
        .ok_or_else(|| DpdkError::NoDriverDirectory {
            looked: if candidates.is_empty() {
                "nowhere (the DPDK build has no RTE_EAL_PMD_PATH)".to_owned()
            } else {
                display_paths(candidates)
            },
        })
}

/// The virtual devices whose PMD we can name: vdev driver name, shared object.
const VDEV_LIBRARIES: &[(&str, &str)] = &[
    ("net_null", "librte_net_null"),
    ("net_ring", "librte_net_ring"),
    ("net_pcap", "librte_net_pcap"),
    ("net_af_packet", "librte_net_af_packet"),
    ("net_af_xdp", "librte_net_af_xdp"),
    ("net_tap", "librte_net_tap"),
    ("net_memif", "librte_net_memif"),
    ("net_vhost", "librte_net_vhost"),
    ("net_virtio_user", "librte_net_virtio"),
    ("net_bonding", "librte_net_bond"),
];

/// The PMD shared object a `--vdev` value needs (`net_pcap0,rx_pcap=a.pcap` →
/// `librte_net_pcap`), when it is one we know. `eth_` is DPDK's old alias of
/// `net_`.
pub fn vdev_library(vdev: &str) -> Option<&'static str> {
    let name = vdev.split(',').next().unwrap_or(vdev);
    let driver = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let driver = match driver.strip_prefix("eth_") {
        Some(rest) => format!("net_{rest}"),
        None => driver.to_owned(),
    };
    VDEV_LIBRARIES
        .iter()
        .find(|(known, _)| *known == driver)
        .map(|(_, library)| *library)
}

/// Checks that `vdev`'s PMD is in one of `paths` (directories, or the `.so` files
/// `-d` may also name).
pub fn check_vdev_driver(vdev: &str, paths: &[PathBuf]) -> Result<(), DpdkError> {
    let Some(library) = vdev_library(vdev) else {
        return Ok(());
    };
    let prefix = format!("{library}.so");
    let is_it = |name: &str| name == prefix || name.starts_with(&format!("{prefix}."));
    let found = paths.iter().any(|path| {
        if path.is_dir() {
            std::fs::read_dir(path)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .any(|entry| entry.file_name().to_str().is_some_and(is_it))
                })
                .unwrap_or(false)
        } else {
            path.file_name().and_then(|n| n.to_str()).is_some_and(is_it)
        }
    });
    if found {
        return Ok(());
    }
    Err(DpdkError::MissingDriver {
        vdev: vdev.to_owned(),
        library: library.to_owned(),
        dirs: display_paths(paths),
        package: debian_package(library, paths),
    })
}

/// Debian's package for a PMD: `librte_net_pcap` in `pmds-23.0` → `librte-net-pcap23`.
fn debian_package(library: &str, paths: &[PathBuf]) -> String {
    let abi = paths.iter().find_map(|path| {
        let name = path.file_name()?.to_str()?;
        let version = name.strip_prefix("pmds-")?;
        Some(version.split('.').next()?.to_owned())
    });
    format!("{}{}", library.replace('_', "-"), abi.unwrap_or_default())
}

// ---------------------------------------------------------------------------------
// CPUs
// ---------------------------------------------------------------------------------

/// The CPUs the calling thread may run on.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let ret =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu < CPU_SETSIZE, the bits `set` has.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// CPUs as EAL's `--lcores` cpu sets write them: `0-3,6,8-9`.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut out = String::new();
    let mut index = 0;
    while index < cpus.len() {
        let start = cpus[index];
        let mut end = start;
        while index + 1 < cpus.len() && cpus[index + 1] == end + 1 {
            index += 1;
            end = cpus[index];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        index += 1;
    }
    out
}

// ---------------------------------------------------------------------------------
// Mempool and Mbuf
// ---------------------------------------------------------------------------------

/// A pool of packet mbufs (`rte_pktmbuf_pool_create`), freed on drop. DPDK's
/// default pool is multi-producer, multi-consumer: any thread may use it.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<ffi::rte_mempool>,
    name: String,
    size: u32,
    data_room: u16,
    _eal: Eal,
}

// SAFETY: the pool's ring is multi-producer/multi-consumer (DPDK's default
// "ring_mp_mc" ops), and the handle has no thread affinity; freeing it needs `&mut`
// (drop), which no other thread can have.
unsafe impl Send for Mempool {}
// SAFETY: as above: every `&self` operation is a thread-safe DPDK mempool call.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// `mbufs` mbufs of [`ffi::RTE_MBUF_DEFAULT_BUF_SIZE`] (a 2048-byte data room
    /// after the headroom), a per-lcore cache of `cache`, on NUMA node `socket`
    /// ([`ffi::SOCKET_ID_ANY`] for any). `name` must be unique in the process and
    /// shorter than [`ffi::RTE_MEMPOOL_NAMESIZE`].
    pub fn create(
        eal: &Eal,
        name: &str,
        mbufs: u32,
        cache: u32,
        socket: i32,
    ) -> Result<Mempool, DpdkError> {
        if name.len() >= ffi::RTE_MEMPOOL_NAMESIZE || name.contains('\0') {
            return Err(DpdkError::Config {
                object: format!("mempool {name:?}"),
                reason: format!(
                    "a mempool name must be under {} bytes without NUL",
                    ffi::RTE_MEMPOOL_NAMESIZE
                ),
            });
        }
        Self::create_raw(
            eal,
            name,
            mbufs,
            cache,
            ffi::RTE_MBUF_DEFAULT_BUF_SIZE,
            socket,
        )
        .map_err(|errno| DpdkError::Call {
            call: "rte_pktmbuf_pool_create",
            object: format!("pool {name} of {mbufs} mbufs, cache {cache}"),
            errno,
            text: errno_text(errno),
            hint: "the pool needs about 2.4 KiB of EAL memory per mbuf (raise -m or the hugepages, or lower the mbuf count); the cache must be at most 512 and under mbufs / 1.5; the name must be unique",
        })
    }

    /// `rte_pktmbuf_pool_create` with `data_room` bytes per mbuf (headroom
    /// included); the `rte_errno` of a failure.
    fn create_raw(
        eal: &Eal,
        name: &str,
        mbufs: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool, i32> {
        let c_name = CString::new(name).map_err(|_| libc::EINVAL)?;
        // SAFETY: EAL is initialised (eal exists); c_name is NUL-terminated.
        let raw = unsafe {
            ffi::rte_pktmbuf_pool_create(c_name.as_ptr(), mbufs, cache, 0, data_room, socket)
        };
        let Some(raw) = NonNull::new(raw) else {
            return Err(rte_errno());
        };
        // SAFETY: raw is a live packet mbuf pool.
        let data_room = unsafe { ffi::ticklab_pktmbuf_data_room_size(raw.as_ptr()) };
        Ok(Mempool {
            raw,
            name: name.to_owned(),
            size: mbufs,
            data_room,
            _eal: eal.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many mbufs the pool holds in all.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The largest frame one mbuf holds: its data room after the headroom.
    pub fn max_frame(&self) -> usize {
        usize::from(self.data_room.saturating_sub(ffi::RTE_PKTMBUF_HEADROOM))
    }

    /// Mbufs free in the pool (including the lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: self.raw is a live pool.
        unsafe { ffi::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs taken from the pool and not yet returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: self.raw is a live pool.
        unsafe { ffi::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// One empty mbuf, or `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf<'_>> {
        // SAFETY: self.raw is a live packet mbuf pool.
        let raw = unsafe { ffi::ticklab_pktmbuf_alloc(self.raw.as_ptr()) };
        NonNull::new(raw).map(|raw| Mbuf {
            raw,
            pool: PhantomData,
        })
    }

    fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: every Mbuf borrows the pool, and ports that use it hold it until
        // they are closed, so no mbuf of this pool is referenced any more.
        unsafe { ffi::rte_mempool_free(self.raw.as_ptr()) };
    }
}

/// One single-segment packet mbuf from a [`Mempool`], returned to it on drop.
#[derive(Debug)]
pub struct Mbuf<'pool> {
    raw: NonNull<ffi::rte_mbuf>,
    pool: PhantomData<&'pool Mempool>,
}

// SAFETY: an mbuf we own is referenced by no one else; freeing it from another
// thread is fine (the pool is MP/MC).
unsafe impl Send for Mbuf<'_> {}

impl Mbuf<'_> {
    /// Appends `bytes` at the tail (`rte_pktmbuf_append`).
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), DpdkError> {
        let full = || DpdkError::MbufFull {
            len: bytes.len(),
            held: self.len(),
            room: usize::from(ffi::RTE_MBUF_DEFAULT_DATAROOM),
        };
        let len = u16::try_from(bytes.len()).map_err(|_| full())?;
        // SAFETY: self.raw is a live mbuf we own.
        let tail = unsafe { ffi::ticklab_pktmbuf_append(self.raw.as_ptr(), len) };
        if tail.is_null() {
            return Err(full());
        }
        // SAFETY: append returned `len` writable bytes at `tail`, inside this mbuf's
        // buffer, which `bytes` (a Rust borrow) cannot overlap.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), tail, bytes.len()) };
        Ok(())
    }

    /// The packet's bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: a single-segment mbuf holds data_len initialised bytes at mtod,
        // borrowed as long as self.
        unsafe {
            let start = ffi::ticklab_pktmbuf_mtod(self.raw.as_ptr());
            std::slice::from_raw_parts(
                start,
                usize::from(ffi::ticklab_pktmbuf_data_len(self.raw.as_ptr())),
            )
        }
    }

    pub fn len(&self) -> usize {
        // SAFETY: self.raw is a live mbuf.
        unsafe { ffi::ticklab_pktmbuf_pkt_len(self.raw.as_ptr()) as usize }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; its pool outlives it (the borrow).
        unsafe { ffi::ticklab_pktmbuf_free(self.raw.as_ptr()) };
    }
}

// ---------------------------------------------------------------------------------
// Clocks
// ---------------------------------------------------------------------------------

/// Which clock a port may stamp with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockPreference {
    /// The device's clock when the PMD offers RX stamps and `rte_eth_read_clock`,
    /// else `CLOCK_MONOTONIC`.
    Auto,
    /// `CLOCK_MONOTONIC` always.
    Software,
}

/// The clock a port stamps with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortClock {
    /// `CLOCK_MONOTONIC` (ns from the kernel's origin) when the burst call returned.
    Monotonic,
    /// The device's clock: RX from the timestamp dynfield the PMD fills, TX read
    /// with `rte_eth_read_clock` when `rte_eth_tx_burst` returned.
    Device {
        scale: DeviceClockScale,
        dynfield_offset: i32,
        dynflag: u64,
    },
}

impl PortClock {
    pub fn domain(&self) -> ClockDomain {
        match self {
            PortClock::Monotonic => ClockDomain::UserMonotonic,
            PortClock::Device { .. } => ClockDomain::NicHardware,
        }
    }
}

/// The clock chosen at open, and why (for `env.json` and the run's report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockChoice {
    pub clock: PortClock,
    pub reason: String,
}

/// One reading of the device clock, bracketed by `CLOCK_MONOTONIC_RAW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSample {
    pub ticks: u64,
    /// The midpoint of the `CLOCK_MONOTONIC_RAW` readings around the device read.
    pub raw_ns: u64,
}

/// Device clock ticks to nanoseconds: `ns = ticks * mult >> shift`.
/// `rte_eth_read_clock` promises only "raw ticks"; many NICs count nanoseconds,
/// others a free-running oscillator (mlx5's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceClockScale {
    /// The measured rate, rounded to 1 Hz.
    pub ticks_per_second: u64,
    mult: u64,
    shift: u32,
}

/// A measured rate this close to 1 GHz is a nanosecond counter read with jitter.
const NANOSECOND_CLOCK_PPM: u64 = 500;

impl DeviceClockScale {
    /// The scale from two samples; `None` when the clock did not advance or time
    /// did not pass.
    pub fn from_samples(first: ClockSample, last: ClockSample) -> Option<DeviceClockScale> {
        let ticks = last.ticks.checked_sub(first.ticks).filter(|&t| t > 0)?;
        let ns = last.raw_ns.checked_sub(first.raw_ns).filter(|&n| n > 0)?;
        let hz = (u128::from(ticks) * 1_000_000_000 + u128::from(ns) / 2) / u128::from(ns);
        let hz = u64::try_from(hz).ok().filter(|&hz| hz > 0)?;
        if hz.abs_diff(1_000_000_000) <= 1_000_000_000 / 1_000_000 * NANOSECOND_CLOCK_PPM {
            return Some(DeviceClockScale {
                ticks_per_second: hz,
                mult: 1,
                shift: 0,
            });
        }
        const SHIFT: u32 = 32;
        let mult = ((1_000_000_000u128 << SHIFT) + u128::from(hz) / 2) / u128::from(hz);
        Some(DeviceClockScale {
            ticks_per_second: hz,
            mult: u64::try_from(mult).ok()?,
            shift: SHIFT,
        })
    }

    /// Whether the device counts nanoseconds (no conversion).
    pub fn is_nanoseconds(&self) -> bool {
        self.mult == 1 && self.shift == 0
    }

    /// Nanoseconds of the device clock, rounded to the nearest.
    #[inline]
    pub fn ns(&self, ticks: u64) -> u64 {
        let half = (1u128 << self.shift) >> 1;
        ((u128::from(ticks) * u128::from(self.mult) + half) >> self.shift) as u64
    }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; the clock ids used here always exist on Linux
    // (vDSO, no syscall).
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_MONOTONIC` in ns, the [`ClockDomain::UserMonotonic`] of this backend.
#[inline]
fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn read_device_clock(port_id: u16) -> Result<u64, i32> {
    let mut ticks = 0u64;
    // SAFETY: ticks is a valid place for the answer; any port id may be asked.
    let ret = unsafe { ffi::rte_eth_read_clock(port_id, &mut ticks) };
    if ret < 0 {
        Err(-ret)
    } else {
        Ok(ticks)
    }
}

fn sample_device_clock(port_id: u16) -> Result<ClockSample, i32> {
    let before = clock_ns(libc::CLOCK_MONOTONIC_RAW);
    let ticks = read_device_clock(port_id)?;
    let after = clock_ns(libc::CLOCK_MONOTONIC_RAW);
    Ok(ClockSample {
        ticks,
        raw_ns: before + (after - before) / 2,
    })
}

/// How long the device clock's rate is measured at open.
const CLOCK_RATE_INTERVAL: Duration = Duration::from_millis(100);

/// Chooses the port's clock after it started (the PMD registers the timestamp
/// dynfield when the offload is on).
fn choose_clock(
    port_id: u16,
    driver: &str,
    preference: ClockPreference,
    rx_timestamps_on: bool,
) -> ClockChoice {
    let software = |reason: String| ClockChoice {
        clock: PortClock::Monotonic,
        reason,
    };
    if preference == ClockPreference::Software {
        return software(
            "the software clock was asked for: CLOCK_MONOTONIC when each burst call returns"
                .to_owned(),
        );
    }
    if !rx_timestamps_on {
        return software(format!(
            "{driver} offers no RX timestamp offload: CLOCK_MONOTONIC when each burst call returns"
        ));
    }
    let Some((dynfield_offset, dynflag)) = timestamp_dynfield() else {
        return software(format!(
            "{driver} took the RX timestamp offload but registered no timestamp dynfield: CLOCK_MONOTONIC when each burst call returns"
        ));
    };
    let first = match sample_device_clock(port_id) {
        Ok(sample) => sample,
        Err(errno) => {
            return software(format!(
                "{driver} stamps RX but cannot read its clock for TX (rte_eth_read_clock: {}): CLOCK_MONOTONIC when each burst call returns",
                errno_text(errno)
            ))
        }
    };
    std::thread::sleep(CLOCK_RATE_INTERVAL);
    let scale = sample_device_clock(port_id)
        .ok()
        .and_then(|last| DeviceClockScale::from_samples(first, last));
    match scale {
        Some(scale) => ClockChoice {
            clock: PortClock::Device {
                scale,
                dynfield_offset,
                dynflag,
            },
            reason: format!(
                "{driver} RX timestamp dynfield, and rte_eth_read_clock when tx_burst returns; device clock {} Hz against CLOCK_MONOTONIC_RAW over {} ms ({})",
                scale.ticks_per_second,
                CLOCK_RATE_INTERVAL.as_millis(),
                if scale.is_nanoseconds() { "counts nanoseconds" } else { "converted to nanoseconds" }
            ),
        },
        None => software(format!(
            "{driver}'s device clock did not advance over {} ms: CLOCK_MONOTONIC when each burst call returns",
            CLOCK_RATE_INTERVAL.as_millis()
        )),
    }
}

/// The RX timestamp dynfield's offset and dynflag mask, once a PMD registered them.
fn timestamp_dynfield() -> Option<(i32, u64)> {
    // SAFETY: the names are NUL-terminated constants; params may be NULL.
    let offset = unsafe {
        ffi::rte_mbuf_dynfield_lookup(
            ffi::RTE_MBUF_DYNFIELD_TIMESTAMP_NAME.as_ptr().cast(),
            ptr::null_mut(),
        )
    };
    // SAFETY: as above.
    let bit = unsafe {
        ffi::rte_mbuf_dynflag_lookup(
            ffi::RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME.as_ptr().cast(),
            ptr::null_mut(),
        )
    };
    (offset >= 0 && (0..64).contains(&bit)).then(|| (offset, 1u64 << bit))
}

// ---------------------------------------------------------------------------------
// TX timestamps
// ---------------------------------------------------------------------------------

/// Bursts whose stamps have not been polled yet, each stamped once.
#[derive(Debug)]
struct TxStampRing {
    runs: Box<[TxRun]>,
    head: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TxRun {
    first_id: u32,
    count: u32,
    ns: u64,
}

impl TxStampRing {
    fn new(capacity: usize) -> Self {
        TxStampRing {
            runs: vec![TxRun::default(); capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Remembers a burst; when full, forgets the oldest and returns how many
    /// packets' stamps that lost.
    fn push(&mut self, first_id: u32, count: u32, ns: u64) -> u64 {
        let capacity = self.runs.len();
        let mut lost = 0;
        if self.len == capacity {
            lost = u64::from(self.runs[self.head].count);
            self.head = (self.head + 1) % capacity;
            self.len -= 1;
        }
        self.runs[(self.head + self.len) % capacity] = TxRun {
            first_id,
            count,
            ns,
        };
        self.len += 1;
        lost
    }

    /// Writes the oldest stamps into `out`, one per packet, and returns how many.
    fn drain(&mut self, out: &mut [TxTimestamp], clock: ClockDomain) -> usize {
        let mut written = 0;
        while written < out.len() && self.len > 0 {
            let run = &mut self.runs[self.head];
            let take = (run.count as usize).min(out.len() - written);
            for (i, slot) in out[written..written + take].iter_mut().enumerate() {
                *slot = TxTimestamp {
                    id: run.first_id.wrapping_add(i as u32),
                    stamp: KernelTimestamp {
                        clock,
                        ns: run.ns,
                        tx_id: None,
                    },
                };
            }
            written += take;
            run.first_id = run.first_id.wrapping_add(take as u32);
            run.count -= take as u32;
            if run.count == 0 {
                self.head = (self.head + 1) % self.runs.len();
                self.len -= 1;
            }
        }
        written
    }
}

// ---------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------

/// How to open a [`DpdkPort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkPortConfig {
    /// The port's name as EAL knows it: a vdev (`net_null0`) or a PCI address.
    pub device: String,
    /// Queue pairs, one [`DpdkPort`] each.
    pub queues: u16,
    /// Descriptors per RX and per TX queue (DPDK adjusts them to the device's
    /// limits).
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// Mbufs in each queue's pool: at least the descriptors, two bursts and 1.5
    /// times the cache (a power of two minus one suits DPDK's ring best).
    pub mbufs_per_queue: u32,
    /// The per-lcore mempool cache.
    pub mbuf_cache: u32,
    /// The most packets one `send_burst` or `recv_burst` handles.
    pub burst: u16,
    pub clock: ClockPreference,
    /// TX bursts whose stamps are kept until polled; older ones are dropped
    /// (counted in [`DpdkPortControl::tx_timestamps_dropped`]).
    pub tx_stamp_bursts: usize,
    /// Stamp TX bursts at all. A sender that never polls its stamps (a top-speed
    /// replay) turns this off and saves a clock read per burst.
    pub tx_timestamps: bool,
    /// Let the PMD free sent mbufs in bulk (`RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE`,
    /// where the device has it), which assumes every mbuf has one reference. Staged
    /// frames ([`DpdkPort::stage`]) are shared with the device by reference count,
    /// so a port that sends them must be opened with this off.
    pub tx_fast_free: bool,
}

impl DpdkPortConfig {
    pub fn new(device: impl Into<String>) -> Self {
        DpdkPortConfig {
            device: device.into(),
            queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mbufs_per_queue: 8191,
            mbuf_cache: 256,
            burst: 64,
            clock: ClockPreference::Auto,
            tx_stamp_bursts: 4096,
            tx_timestamps: true,
            tx_fast_free: true,
        }
    }

    fn validate(&self) -> Result<(), DpdkError> {
        let bad = |reason: String| {
            Err(DpdkError::Config {
                object: format!("port {}", self.device),
                reason,
            })
        };
        if self.queues == 0 {
            return bad("queues must be at least 1".to_owned());
        }
        if self.burst == 0 || self.burst > 1024 {
            return bad(format!("burst is {}; it must be 1 to 1024", self.burst));
        }
        // An lcore's cache holds up to 1.5 times its size before it flushes.
        let cached = self.mbuf_cache.saturating_add(self.mbuf_cache.div_ceil(2));
        let needed = (u32::from(self.rx_descriptors) + u32::from(self.tx_descriptors))
            .saturating_add(2 * u32::from(self.burst))
            .saturating_add(cached);
        if self.mbufs_per_queue < needed {
            return bad(format!(
                "mbufs_per_queue is {}; the queue needs at least {needed} (rx_descriptors {} + tx_descriptors {} + 2 bursts of {} + 1.5 x mbuf_cache {}), or the device and the cache could hold every mbuf and TX would starve",
                self.mbufs_per_queue, self.rx_descriptors, self.tx_descriptors, self.burst, self.mbuf_cache
            ));
        }
        if self.tx_stamp_bursts == 0 {
            return bad("tx_stamp_bursts must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Counters of one queue, written by its thread, read by the control handle.
#[derive(Debug, Default)]
struct QueueCounters {
    tx_bytes: AtomicU64,
    rx_bytes: AtomicU64,
    tx_timestamps: AtomicU64,
    tx_timestamps_dropped: AtomicU64,
    tx_pool_empty: AtomicU64,
    rx_truncated: AtomicU64,
}

/// A configured port: stopped and closed on drop, then its pools freed.
#[derive(Debug)]
struct PortShared {
    port_id: u16,
    name: String,
    driver: String,
    mac: [u8; 6],
    started: bool,
    clock: ClockChoice,
    /// `RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE` is on.
    fast_free: bool,
    /// TX descriptors per queue, as the device adjusted them, times the queues:
    /// how many mbuf references the device may hold at once.
    tx_descriptors_total: u32,
    counters: Box<[QueueCounters]>,
    // Dropped after the port is closed (Drop::drop runs before the fields drop):
    // the PMD holds mbufs of these pools until then.
    pools: Vec<Mempool>,
    /// Staging pools whose mbufs the device still held when their
    /// [`StagedFrames`] were dropped.
    retired_pools: Mutex<Vec<Mempool>>,
    _eal: Eal,
}

impl Drop for PortShared {
    fn drop(&mut self) {
        // SAFETY: no queue handle is left (each holds this Arc), so no thread is in
        // a burst on this port; stop flushes and close releases the device (net_pcap
        // writes its file out here).
        unsafe {
            if self.started {
                ffi::rte_eth_dev_stop(self.port_id);
            }
            ffi::rte_eth_dev_close(self.port_id);
        }
    }
}

/// Device counters from `rte_eth_stats_get`, as the PMD keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Packets the device dropped because the RX queue was full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// The control handle of a port: statistics and facts, from any thread.
#[derive(Debug, Clone)]
pub struct DpdkPortControl {
    shared: Arc<PortShared>,
}

impl DpdkPortControl {
    pub fn port_id(&self) -> u16 {
        self.shared.port_id
    }

    /// The name EAL knows the port by.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The PMD's name (`net_null`, `mlx5_pci`, ...).
    pub fn driver(&self) -> &str {
        &self.shared.driver
    }

    pub fn mac(&self) -> [u8; 6] {
        self.shared.mac
    }

    /// The clock every timestamp of the port is read from, and why it was chosen.
    pub fn clock(&self) -> &ClockChoice {
        &self.shared.clock
    }

    /// The pools' sizes and what is in use, per queue: `(size, in_use)`.
    pub fn pool_usage(&self) -> Vec<(u32, u32)> {
        self.shared
            .pools
            .iter()
            .map(|pool| (pool.size(), pool.in_use()))
            .collect()
    }

    pub fn device_stats(&self) -> Result<DeviceStats, DpdkError> {
        let mut stats = ffi::rte_eth_stats::default();
        // SAFETY: the port is configured (self holds it open); stats is a valid
        // rte_eth_stats for the PMD to fill.
        let ret = unsafe { ffi::rte_eth_stats_get(self.shared.port_id, &mut stats) };
        check(
            ret,
            "rte_eth_stats_get",
            &self.shared.name,
            "the port may have been removed",
        )?;
        Ok(DeviceStats {
            ipackets: stats.ipackets,
            opackets: stats.opackets,
            ibytes: stats.ibytes,
            obytes: stats.obytes,
            imissed: stats.imissed,
            ierrors: stats.ierrors,
            oerrors: stats.oerrors,
            rx_nombuf: stats.rx_nombuf,
        })
    }

    fn sum(&self, counter: impl Fn(&QueueCounters) -> &AtomicU64) -> u64 {
        self.shared
            .counters
            .iter()
            .map(|c| counter(c).load(Ordering::Relaxed))
            .sum()
    }

    /// TX stamps forgotten because they were not polled in time.
    pub fn tx_timestamps_dropped(&self) -> u64 {
        self.sum(|c| &c.tx_timestamps_dropped)
    }

    /// Bursts refused because the queue's pool had not enough free mbufs.
    pub fn tx_pool_empty(&self) -> u64 {
        self.sum(|c| &c.tx_pool_empty)
    }

    /// Packets cut to the caller's buffer.
    pub fn rx_truncated(&self) -> u64 {
        self.sum(|c| &c.rx_truncated)
    }
}

impl PortControl for DpdkPortControl {
    /// Packets and TX errors as the device counts them (`rte_eth_stats_get`).
    /// Bytes are counted here, frame bytes without the FCS that went to or came
    /// from the PMD, because PMDs differ: net_null and net_ring count none, some
    /// NICs add the FCS ([`DpdkPortControl::device_stats`] has theirs). TX stamps
    /// as this backend reported them; each belongs to a packet of ours, so none
    /// is unmatched.
    fn stats(&self) -> PortStats {
        let device = self.device_stats().unwrap_or_default();
        PortStats {
            tx_packets: device.opackets,
            tx_bytes: self.sum(|c| &c.tx_bytes),
            tx_failed: device.oerrors,
            tx_timestamps: self.sum(|c| &c.tx_timestamps),
            tx_timestamps_unmatched: 0,
            rx_packets: device.ipackets,
            rx_bytes: self.sum(|c| &c.rx_bytes),
        }
    }

    fn clock_domain(&self) -> ClockDomain {
        self.shared.clock.clock.domain()
    }
}

/// Names pools uniquely in the process.
static POOL_SERIAL: AtomicU32 = AtomicU32::new(0);

/// One queue pair of a started port, owned by one thread.
#[derive(Debug)]
pub struct DpdkPort {
    port_id: u16,
    queue: u16,
    pool: NonNull<ffi::rte_mempool>,
    max_frame: usize,
    clock: PortClock,
    frames: Box<[ffi::ticklab_tx_frame]>,
    slots: Box<[ffi::ticklab_rx_slot]>,
    scratch: Box<[*mut ffi::rte_mbuf]>,
    stamps: TxStampRing,
    stamping: bool,
    next_id: u32,
    shared: Arc<PortShared>,
}

// SAFETY: the raw pointers are the queue's pool (kept alive by `shared`) and
// scratch arrays this handle owns; DPDK queues may be used from any one thread at a
// time, and `&mut self` on every burst makes that one.
unsafe impl Send for DpdkPort {}

impl DpdkPort {
    /// Opens `config.device`: configures `config.queues` queue pairs, each with its
    /// own pool, starts the port and chooses its clock (which may take 100 ms to
    /// measure a device clock's rate). Returns one handle per queue pair, in queue
    /// order, and the control handle.
    pub fn open(
        eal: &Eal,
        config: &DpdkPortConfig,
    ) -> Result<(Vec<DpdkPort>, DpdkPortControl), DpdkError> {
        config.validate()?;
        let name = config.device.as_str();
        let port_id = eal.port_id(name)?;
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: port_id is a probed port; info is a valid struct to fill.
        let ret = unsafe { ffi::rte_eth_dev_info_get(port_id, &mut info) };
        check(
            ret,
            "rte_eth_dev_info_get",
            name,
            "the device may have been removed",
        )?;
        let driver = if info.driver_name.is_null() {
            "unknown driver".to_owned()
        } else {
            // SAFETY: a NUL-terminated string owned by the PMD, valid while it is loaded.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        if config.queues > info.max_rx_queues || config.queues > info.max_tx_queues {
            return Err(DpdkError::Config {
                object: format!("port {name}"),
                reason: format!(
                    "{} queue pairs asked; {driver} has at most {} RX and {} TX queues",
                    config.queues, info.max_rx_queues, info.max_tx_queues
                ),
            });
        }

        let rx_timestamps = config.clock == ClockPreference::Auto
            && info.rx_offload_capa & ffi::RTE_ETH_RX_OFFLOAD_TIMESTAMP != 0;
        let mut conf = ffi::rte_eth_conf::default();
        if rx_timestamps {
            conf.rxmode.offloads |= ffi::RTE_ETH_RX_OFFLOAD_TIMESTAMP;
        }
        // Every mbuf send_burst sends comes from the queue's one pool with a
        // reference count of 1: the PMD may free them in bulk, unless staged frames
        // (shared by reference count) are to be sent.
        let fast_free = config.tx_fast_free
            && info.tx_offload_capa & ffi::RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE != 0;
        if fast_free {
            conf.txmode.offloads |= ffi::RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
        }
        // SAFETY: port_id is a probed, stopped port; conf is a valid configuration.
        let ret =
            unsafe { ffi::rte_eth_dev_configure(port_id, config.queues, config.queues, &conf) };
        check(ret, "rte_eth_dev_configure", name, "check the queue count and offloads against the device (dpdk-testpmd shows its capabilities)")?;

        // From here the port is configured: `shared` closes it if a later step fails.
        let mut shared = PortShared {
            port_id,
            name: name.to_owned(),
            driver: driver.clone(),
            mac: [0; 6],
            started: false,
            clock: ClockChoice {
                clock: PortClock::Monotonic,
                reason: String::new(),
            },
            fast_free,
            tx_descriptors_total: 0,
            counters: (0..config.queues)
                .map(|_| QueueCounters::default())
                .collect(),
            pools: Vec::with_capacity(usize::from(config.queues)),
            retired_pools: Mutex::new(Vec::new()),
            _eal: eal.clone(),
        };
        let (mut rx_descriptors, mut tx_descriptors) =
            (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: port_id is configured; the two counts are valid places to adjust.
        let ret = unsafe {
            ffi::rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &mut rx_descriptors, &mut tx_descriptors)
        };
        check(
            ret,
            "rte_eth_dev_adjust_nb_rx_tx_desc",
            name,
            "the device reports no descriptor limits",
        )?;
        shared.tx_descriptors_total = u32::from(tx_descriptors) * u32::from(config.queues);
        let socket = port_socket(port_id);
        for queue in 0..config.queues {
            let pool_name = format!(
                "tl{}p{port_id}q{queue}",
                POOL_SERIAL.fetch_add(1, Ordering::Relaxed)
            );
            let pool = Mempool::create(
                eal,
                &pool_name,
                config.mbufs_per_queue,
                config.mbuf_cache,
                socket,
            )?;
            let object = format!("{name} queue {queue}");
            // SAFETY: port_id is configured with `queues` RX queues; a NULL rxconf
            // asks for the PMD's defaults; the pool outlives the port (shared.pools
            // drops after the close).
            let ret = unsafe {
                ffi::rte_eth_rx_queue_setup(
                    port_id,
                    queue,
                    rx_descriptors,
                    socket as u32,
                    ptr::null(),
                    pool.as_ptr(),
                )
            };
            check(
                ret,
                "rte_eth_rx_queue_setup",
                &object,
                "check rx_descriptors against the device's limits and the pool's mbuf size",
            )?;
            // SAFETY: as above, for TX; a NULL txconf takes the PMD's defaults and
            // the port's TX offloads.
            let ret = unsafe {
                ffi::rte_eth_tx_queue_setup(
                    port_id,
                    queue,
                    tx_descriptors,
                    socket as u32,
                    ptr::null(),
                )
            };
            check(
                ret,
                "rte_eth_tx_queue_setup",
                &object,
                "check tx_descriptors against the device's limits",
            )?;
            shared.pools.push(pool);
        }
        // SAFETY: every queue is set up.
        let ret = unsafe { ffi::rte_eth_dev_start(port_id) };
        check(ret, "rte_eth_dev_start", name, "EAL's log above has the PMD's reason (for net_pcap: the files; for net_af_packet: the interface and CAP_NET_RAW)")?;
        shared.started = true;
        let mut mac = ffi::rte_ether_addr::default();
        // SAFETY: port_id is started; mac is a valid place for the address.
        if unsafe { ffi::rte_eth_macaddr_get(port_id, &mut mac) } == 0 {
            shared.mac = mac.addr_bytes;
        }
        shared.clock = choose_clock(port_id, &driver, config.clock, rx_timestamps);

        let shared = Arc::new(shared);
        let burst = usize::from(config.burst);
        let ports = shared
            .pools
            .iter()
            .enumerate()
            .map(|(queue, pool)| DpdkPort {
                port_id,
                queue: queue as u16,
                pool: pool.raw,
                max_frame: pool.max_frame(),
                clock: shared.clock.clock,
                frames: vec![
                    ffi::ticklab_tx_frame {
                        data: ptr::null(),
                        len: 0
                    };
                    burst
                ]
                .into_boxed_slice(),
                slots: vec![
                    ffi::ticklab_rx_slot {
                        data: ptr::null_mut(),
                        capacity: 0,
                        len: 0,
                        packet_len: 0,
                        has_timestamp: 0,
                        timestamp: 0,
                    };
                    burst
                ]
                .into_boxed_slice(),
                scratch: vec![ptr::null_mut(); burst].into_boxed_slice(),
                stamps: TxStampRing::new(config.tx_stamp_bursts),
                stamping: config.tx_timestamps,
                next_id: 0,
                shared: Arc::clone(&shared),
            })
            .collect();
        Ok((ports, DpdkPortControl { shared }))
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// The largest frame [`Port::send_burst`] takes.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The most packets one burst call handles.
    pub fn burst(&self) -> usize {
        self.frames.len()
    }

    fn counters(&self) -> &QueueCounters {
        &self.shared.counters[usize::from(self.queue)]
    }

    /// Copies `frames` once into mbufs of a pool of their own, for
    /// [`send_staged`](Self::send_staged) to send again and again without a copy or
    /// an allocation. The pool holds exactly the frames, each mbuf with a data room
    /// of the longest frame and no headroom (frames are sent as they are, never
    /// prepended to), so a million 60-120-byte frames take about 340 MB of EAL
    /// memory. Fails before anything is sent when EAL has not that much, naming
    /// the bytes and the `-m` to pass; refuses a port opened with
    /// [`DpdkPortConfig::tx_fast_free`] on a device that took it. The frames may be
    /// sent on any queue of this port.
    pub fn stage<'f, I>(&self, frames: I) -> Result<StagedFrames, DpdkError>
    where
        I: IntoIterator<Item = &'f [u8]>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let frames = frames.into_iter();
        let count = frames.len();
        let object = || format!("staged frames for port {}", self.shared.name);
        let refuse = |reason: String| DpdkError::Config {
            object: object(),
            reason,
        };
        if self.shared.fast_free {
            return Err(refuse(format!(
                "{} frees sent mbufs in bulk (RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE), which assumes one reference per mbuf; staged frames are shared with the device by reference count: open the port with tx_fast_free = false",
                self.shared.driver
            )));
        }
        if count == 0 {
            return Err(refuse("there are no frames to stage".to_owned()));
        }
        let count_u32 = u32::try_from(count).map_err(|_| {
            refuse(format!(
                "{count} frames are more than one pool holds (2^32 - 1)"
            ))
        })?;
        // Each TX descriptor of the port may hold a reference to a frame; a frame
        // staged once among few is held by many descriptors at once.
        let holders = self
            .shared
            .tx_descriptors_total
            .saturating_add(2 * self.burst() as u32);
        if holders.div_ceil(count_u32) >= u32::from(ffi::MBUF_REFCNT_MAX) {
            return Err(refuse(format!(
                "{count} frames could each be referenced by up to {holders} TX descriptors and bursts at once, above an mbuf's reference count of {}",
                ffi::MBUF_REFCNT_MAX
            )));
        }
        let mut longest = 0usize;
        for (index, frame) in frames.clone().enumerate() {
            if frame.len() > usize::from(u16::MAX) {
                return Err(refuse(format!(
                    "frame {index} is {} bytes; an mbuf segment holds at most {}",
                    frame.len(),
                    u16::MAX
                )));
            }
            longest = longest.max(frame.len());
        }
        // An mbuf of an empty data room is not a packet mbuf DPDK creates.
        let room = longest.max(1) as u16;

        let name = format!(
            "tl{}p{}s",
            POOL_SERIAL.fetch_add(1, Ordering::Relaxed),
            self.port_id
        );
        let socket = port_socket(self.port_id);
        // No cache: the mbufs are taken once, here, and come back only when the
        // frames are dropped.
        let pool = Mempool::create_raw(&self.shared._eal, &name, count_u32, 0, room, socket)
            .map_err(|errno| {
                let memory = pool_memory(count_u32, room);
                if errno == libc::ENOMEM || memory.needed > memory.heap_free {
                    staging_memory_error(count, room, &memory)
                } else {
                    DpdkError::Call {
                        call: "rte_pktmbuf_pool_create",
                        object: format!("{} ({name}: {count} mbufs of {room} bytes)", object()),
                        errno,
                        text: errno_text(errno),
                        hint: "EAL's log above says which step failed",
                    }
                }
            })?;

        let mut mbufs: Vec<*mut ffi::rte_mbuf> = Vec::with_capacity(count);
        let mut byte_offsets: Vec<u64> = Vec::with_capacity(count + 1);
        byte_offsets.push(0);
        let mut chunk: Vec<ffi::ticklab_tx_frame> = Vec::with_capacity(STAGE_CHUNK);
        let mut frames = frames;
        loop {
            chunk.clear();
            for frame in frames.by_ref().take(STAGE_CHUNK) {
                if frame.len() > usize::from(room) {
                    // A clone of the iterator yielded other frames than it did.
                    // SAFETY: every pointer in mbufs is a staged mbuf of `pool`.
                    unsafe {
                        ffi::ticklab_pktmbuf_free_bulk(mbufs.as_mut_ptr(), mbufs.len() as u32)
                    };
                    return Err(refuse(format!(
                        "frame {} is {} bytes, longer than the {room} the frames' first pass found",
                        byte_offsets.len() - 1,
                        frame.len()
                    )));
                }
                chunk.push(ffi::ticklab_tx_frame {
                    data: frame.as_ptr(),
                    len: frame.len() as u32,
                });
                let before = *byte_offsets.last().expect("starts with 0");
                byte_offsets.push(before + frame.len() as u64);
            }
            if chunk.is_empty() {
                break;
            }
            let start = mbufs.len();
            if start + chunk.len() > count {
                // SAFETY: mbufs[..start] are staged mbufs of `pool` we own.
                unsafe { ffi::ticklab_pktmbuf_free_bulk(mbufs.as_mut_ptr(), start as u32) };
                return Err(refuse(format!(
                    "the frames' iterator yielded more than the {count} it announced"
                )));
            }
            // SAFETY: `pool` is a live packet mbuf pool whose data room (`room`,
            // with no headroom once data_off is 0) holds every frame; chunk's
            // entries point at the caller's frames, borrowed for this call; `mbufs`
            // has capacity for `count` pointers and start + chunk.len() <= count
            // (checked above).
            let ret = unsafe {
                ffi::ticklab_stage_frames(
                    pool.as_ptr(),
                    chunk.as_ptr(),
                    chunk.len() as u32,
                    mbufs.as_mut_ptr().add(start),
                )
            };
            if ret != 0 {
                // The pool holds `count` mbufs and fewer than `count` are taken:
                // DPDK's bulk get gives all or none, so this cannot happen.
                // SAFETY: mbufs[..start] are staged mbufs of `pool` we own.
                unsafe { ffi::ticklab_pktmbuf_free_bulk(mbufs.as_mut_ptr(), start as u32) };
                return Err(DpdkError::Call {
                    call: "rte_pktmbuf_alloc_bulk",
                    object: object(),
                    errno: libc::ENOBUFS,
                    text: errno_text(libc::ENOBUFS),
                    hint: "the staging pool had fewer free mbufs than frames",
                });
            }
            // SAFETY: ticklab_stage_frames wrote chunk.len() pointers after `start`.
            unsafe { mbufs.set_len(start + chunk.len()) };
        }
        if mbufs.len() != count {
            // SAFETY: every pointer in mbufs is a staged mbuf of `pool` we own.
            unsafe { ffi::ticklab_pktmbuf_free_bulk(mbufs.as_mut_ptr(), mbufs.len() as u32) };
            return Err(refuse(format!(
                "the frames' iterator yielded {} of the {count} it announced",
                mbufs.len()
            )));
        }
        Ok(StagedFrames {
            mbufs: mbufs.into_boxed_slice(),
            byte_offsets: byte_offsets.into_boxed_slice(),
            pool: Some(pool),
            shared: Arc::clone(&self.shared),
            _one_thread: PhantomData,
        })
    }

    /// Sends staged frames `frames.start..` (at most [`burst`](Self::burst) of them,
    /// fewer when the queue is full: offer the rest again), in order, without a copy
    /// or an allocation: each goes to `rte_eth_tx_burst` with one more reference,
    /// which the device's free drops. Ids and TX stamps are as for
    /// [`Port::send_burst`]; the same frame may be sent any number of times, also
    /// while the device still holds it.
    ///
    /// # Panics
    /// When `frames` is not inside `staged` or `staged` belongs to another port.
    #[inline]
    pub fn send_staged(
        &mut self,
        staged: &StagedFrames,
        frames: Range<usize>,
    ) -> Result<SentBurst, Error> {
        assert!(
            Arc::ptr_eq(&staged.shared, &self.shared),
            "frames staged on port {} sent on port {}",
            staged.shared.name,
            self.shared.name
        );
        let mbufs = &staged.mbufs[frames.clone()];
        let count = mbufs.len().min(self.scratch.len());
        if count == 0 {
            return Ok(self.took(0, 0));
        }
        self.scratch[..count].copy_from_slice(&mbufs[..count]);
        // SAFETY: the port is started (shared holds it open) and this handle alone
        // uses its queue; scratch[..count] are live staged mbufs of this port
        // (staged holds their pool and its own reference to each, so none goes back
        // to the pool while the device holds it); staged is not Sync, so no other
        // thread updates their reference counts through it; `next` are live staged
        // mbufs too, only prefetched.
        let next = &staged.mbufs[frames.start + count..];
        let next = &next[..next.len().min(count)];
        let sent = unsafe {
            ffi::ticklab_tx_staged_burst(
                self.port_id,
                self.queue,
                self.scratch.as_mut_ptr(),
                count as u16,
                next.as_ptr(),
                next.len() as u16,
            )
        };
        let sent = usize::from(sent);
        Ok(self.took(sent, staged.bytes(frames.start..frames.start + sent)))
    }

    /// Accounts for the `sent` packets (`bytes` in all) the device just took: their
    /// ids, bytes and TX stamp.
    #[inline]
    fn took(&mut self, sent: usize, bytes: u64) -> SentBurst {
        let first_id = self.next_id;
        if sent == 0 {
            return SentBurst { first_id, count: 0 };
        }
        bump(&self.counters().tx_bytes, bytes);
        if self.stamping {
            match self.tx_stamp_ns() {
                Some(ns) => {
                    let lost = self.stamps.push(first_id, sent as u32, ns);
                    if lost > 0 {
                        bump(&self.counters().tx_timestamps_dropped, lost);
                    }
                }
                None => bump(&self.counters().tx_timestamps_dropped, sent as u64),
            }
        }
        self.next_id = first_id.wrapping_add(sent as u32);
        SentBurst {
            first_id,
            count: sent,
        }
    }

    /// The TX stamp of a burst that just went to the device, in the port's clock.
    #[inline]
    fn tx_stamp_ns(&self) -> Option<u64> {
        match self.clock {
            PortClock::Monotonic => Some(monotonic_ns()),
            PortClock::Device { scale, .. } => {
                read_device_clock(self.port_id).ok().map(|t| scale.ns(t))
            }
        }
    }
}

/// Frames staged into mbufs by [`DpdkPort::stage`]: one mbuf per frame, in a pool of
/// their own, each holding one reference of ours until they are dropped (or
/// [`released`](Self::release)). Not `Sync`: a thread that sends them updates their
/// reference counts without atomics while it is their only holder.
pub struct StagedFrames {
    mbufs: Box<[*mut ffi::rte_mbuf]>,
    /// Bytes of the frames before frame `i`; one more entry than frames.
    byte_offsets: Box<[u64]>,
    /// `None` only once released.
    pool: Option<Mempool>,
    shared: Arc<PortShared>,
    _one_thread: PhantomData<std::cell::Cell<()>>,
}

impl std::fmt::Debug for StagedFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedFrames")
            .field("frames", &self.mbufs.len())
            .field("bytes", &self.byte_offsets.last())
            .field("pool", &self.pool.as_ref().map(Mempool::name))
            .field("port", &self.shared.name)
            .finish()
    }
}

// SAFETY: the mbufs are ours (one reference each) and their pool is MP/MC; moving
// them to another thread moves that ownership. The device's references are atomic
// decrements, whichever thread the device frees them on.
unsafe impl Send for StagedFrames {}

/// Staged frames copied per call of the shim, so the pointer array stays small.
const STAGE_CHUNK: usize = 4096;

/// What became of staged frames' mbufs when they were released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedRelease {
    /// Mbufs back in their pool.
    pub returned: u32,
    /// Mbufs the device still referenced: their pool is kept until the port
    /// closes.
    pub held_by_device: u32,
}

impl StagedFrames {
    pub fn len(&self) -> usize {
        self.mbufs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.mbufs.is_empty()
    }

    /// The frames' bytes in `frames`.
    #[inline]
    pub fn bytes(&self, frames: Range<usize>) -> u64 {
        self.byte_offsets[frames.end] - self.byte_offsets[frames.start]
    }

    /// Frame `i` as staged (what the device is given).
    pub fn frame(&self, i: usize) -> &[u8] {
        let mbuf = self.mbufs[i];
        // SAFETY: a staged mbuf is one segment holding data_len bytes at mtod; it is
        // never written after staging and lives as long as self.
        unsafe {
            std::slice::from_raw_parts(
                ffi::ticklab_pktmbuf_mtod(mbuf),
                usize::from(ffi::ticklab_pktmbuf_data_len(mbuf)),
            )
        }
    }

    /// How many frames the device references right now (sent, not yet freed by
    /// the PMD).
    pub fn held_by_device(&self) -> u32 {
        // SAFETY: every pointer is a live staged mbuf.
        unsafe { ffi::ticklab_mbufs_shared(self.mbufs.as_ptr(), self.mbufs.len() as u32) }
    }

    /// Mbufs of the staging pool that are out of it: every frame, while staged.
    pub fn pool_in_use(&self) -> u32 {
        self.pool.as_ref().map_or(0, Mempool::in_use)
    }

    /// Drops our reference to every frame and frees the pool, or, when the device
    /// still references some (a NIC frees sent mbufs only on later bursts), keeps
    /// the pool until the port closes. Dropping does the same.
    pub fn release(mut self) -> StagedRelease {
        self.release_mbufs()
    }

    fn release_mbufs(&mut self) -> StagedRelease {
        let Some(pool) = self.pool.take() else {
            return StagedRelease {
                returned: 0,
                held_by_device: 0,
            };
        };
        // SAFETY: each mbuf holds our one reference, dropped once here (pool is
        // taken, so this runs once); the device's own references keep theirs.
        unsafe { ffi::ticklab_pktmbuf_free_bulk(self.mbufs.as_mut_ptr(), self.mbufs.len() as u32) };
        let held_by_device = pool.in_use();
        let release = StagedRelease {
            returned: pool.available(),
            held_by_device,
        };
        if held_by_device > 0 {
            // The port's close frees the device's last references; the pool goes
            // after it (PortShared's fields drop after its Drop::drop).
            self.shared
                .retired_pools
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(pool);
        }
        release
    }
}

impl Drop for StagedFrames {
    fn drop(&mut self) {
        self.release_mbufs();
    }
}

/// The EAL memory a staging pool needs and what the heaps have.
fn pool_memory(count: u32, room: u16) -> ffi::ticklab_pool_memory {
    let mut memory = ffi::ticklab_pool_memory::default();
    // SAFETY: EAL is initialised (a port exists); `memory` is a valid struct to fill.
    unsafe { ffi::ticklab_pool_memory(count, room, &mut memory) };
    memory
}

/// The error for a staging pool EAL has no memory for, with the `-m` (MiB) that
/// would fit it: what is in use now plus what it needs, an eighth more for EAL's
/// own allocations, rounded up to 64 MiB.
fn staging_memory_error(
    frames: usize,
    frame_room: u16,
    memory: &ffi::ticklab_pool_memory,
) -> DpdkError {
    const MIB: u64 = 1 << 20;
    let in_use = memory.heap_total.saturating_sub(memory.heap_free);
    let wanted = (in_use + memory.needed) + (in_use + memory.needed) / 8;
    DpdkError::StagingMemory {
        frames,
        frame_room,
        needed: memory.needed,
        heap_total: memory.heap_total,
        heap_free: memory.heap_free,
        suggested_mib: wanted.div_ceil(64 * MIB) * 64,
    }
}

impl Port for DpdkPort {
    fn send_burst(&mut self, packets: &[&[u8]]) -> Result<SentBurst, Error> {
        let count = packets.len().min(self.frames.len());
        let packets = &packets[..count];
        let first_id = self.next_id;
        let mut total_bytes = 0;
        for (frame, packet) in self.frames.iter_mut().zip(packets) {
            if packet.len() > self.max_frame {
                return Err(Error::PacketTooLarge {
                    len: packet.len(),
                    max: self.max_frame,
                });
            }
            *frame = ffi::ticklab_tx_frame {
                data: packet.as_ptr(),
                len: packet.len() as u32,
            };
            total_bytes += packet.len();
        }
        if count == 0 {
            return Ok(SentBurst { first_id, count: 0 });
        }
        // SAFETY: the port is started (shared holds it open) and this handle alone
        // uses its queue; frames[..count] point into `packets`, borrowed for this
        // call, each at most max_frame (one mbuf's data room) long; scratch holds
        // `burst` >= count pointers; pool is the queue's live pool.
        let sent = unsafe {
            ffi::ticklab_tx_copy_burst(
                self.port_id,
                self.queue,
                self.pool.as_ptr(),
                self.frames.as_ptr(),
                count as u16,
                self.scratch.as_mut_ptr(),
            )
        };
        if sent < 0 {
            // The pool is short: the device still holds mbufs it will free on a
            // later tx_burst. Offer the burst again.
            bump(&self.counters().tx_pool_empty, 1);
            return Ok(SentBurst { first_id, count: 0 });
        }
        let sent = sent as usize;
        let bytes = if sent == count {
            total_bytes
        } else {
            packets[..sent].iter().map(|p| p.len()).sum()
        };
        Ok(self.took(sent, bytes as u64))
    }

    fn poll_tx_timestamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, Error> {
        let written = self.stamps.drain(out, self.clock.domain());
        if written > 0 {
            bump(&self.counters().tx_timestamps, written as u64);
        }
        Ok(written)
    }

    fn recv_burst(
        &mut self,
        buffers: &mut [&mut [u8]],
        meta: &mut [RxMeta],
    ) -> Result<usize, Error> {
        let count = buffers.len().min(meta.len()).min(self.slots.len());
        if count == 0 {
            return Ok(0);
        }
        for (slot, buffer) in self.slots.iter_mut().zip(buffers.iter_mut()).take(count) {
            slot.data = buffer.as_mut_ptr();
            slot.capacity = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        }
        let (offset, flag) = match self.clock {
            PortClock::Device {
                dynfield_offset,
                dynflag,
                ..
            } => (dynfield_offset, dynflag),
            PortClock::Monotonic => (-1, 0),
        };
        // SAFETY: the port is started and this handle alone uses its queue;
        // slots[..count] point at the caller's buffers (exclusively borrowed for
        // this call) with their true capacities; scratch holds >= count pointers;
        // offset/flag are the registered dynfield and dynflag, or -1 for none.
        let received = unsafe {
            ffi::ticklab_rx_copy_burst(
                self.port_id,
                self.queue,
                self.slots.as_mut_ptr(),
                count as u16,
                self.scratch.as_mut_ptr(),
                offset,
                flag,
            )
        } as usize;
        if received == 0 {
            return Ok(0);
        }
        let software_ns = match self.clock {
            PortClock::Monotonic => Some(monotonic_ns()),
            PortClock::Device { .. } => None,
        };
        let (mut truncated, mut bytes) = (0, 0);
        for (slot, meta) in self.slots.iter().zip(meta.iter_mut()).take(received) {
            let ns = match self.clock {
                PortClock::Device { scale, .. } => {
                    (slot.has_timestamp != 0).then(|| scale.ns(slot.timestamp))
                }
                PortClock::Monotonic => software_ns,
            };
            *meta = RxMeta {
                len: slot.len as usize,
                truncated: slot.packet_len > slot.len,
                stamp: ns.map(|ns| KernelTimestamp {
                    clock: self.clock.domain(),
                    ns,
                    tx_id: None,
                }),
            };
            truncated += u64::from(meta.truncated);
            bytes += u64::from(slot.packet_len);
        }
        bump(&self.counters().rx_bytes, bytes);
        if truncated > 0 {
            bump(&self.counters().rx_truncated, truncated);
        }
        Ok(received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpdk_sys_constants_match_their_c_values() {
        let c = ffi::c_constants();
        assert_eq!(c.rx_offload_timestamp, ffi::RTE_ETH_RX_OFFLOAD_TIMESTAMP);
        assert_eq!(
            c.tx_offload_mbuf_fast_free,
            ffi::RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE
        );
        assert_eq!(
            c.mbuf_default_dataroom,
            u64::from(ffi::RTE_MBUF_DEFAULT_DATAROOM)
        );
        assert_eq!(c.pktmbuf_headroom, u64::from(ffi::RTE_PKTMBUF_HEADROOM));
        assert_eq!(
            c.mbuf_default_buf_size,
            u64::from(ffi::RTE_MBUF_DEFAULT_BUF_SIZE)
        );
        assert_eq!(c.eth_name_max_len, ffi::RTE_ETH_NAME_MAX_LEN as u64);
        assert_eq!(c.mempool_namesize, ffi::RTE_MEMPOOL_NAMESIZE as u64);
        assert_eq!(c.lcore_id_any, u64::from(ffi::LCORE_ID_ANY));
        assert_eq!(c.socket_id_any, i64::from(ffi::SOCKET_ID_ANY));
        assert_eq!(c.version & !0xff, ffi::RTE_VERSION_WITHOUT_RELEASE);
        assert_eq!(c.mbuf_refcnt_max, u64::from(ffi::MBUF_REFCNT_MAX));
    }

    #[test]
    fn eal_options_are_found_in_both_spellings() {
        let config = EalConfig::new([
            "--no-huge",
            "--vdev=net_null0",
            "--vdev",
            "net_pcap0,rx_pcap=a.pcap",
            "-d",
            "/opt/pmds",
            "-d/usr/lib/one.so",
        ]);
        assert_eq!(config.vdevs(), ["net_null0", "net_pcap0,rx_pcap=a.pcap"]);
        assert_eq!(
            config.driver_paths(),
            [PathBuf::from("/opt/pmds"), PathBuf::from("/usr/lib/one.so")]
        );
        assert!(!config.chooses_cores());
        assert!(EalConfig::parse("-l 2-3 --no-pci").chooses_cores());
        assert!(EalConfig::parse("--lcores=0@2").chooses_cores());
        assert!(EalConfig::parse("-c0x3").chooses_cores());
        assert!(!EalConfig::parse("--no-pci --log-level=8").chooses_cores());
    }

    #[test]
    fn virtual_devices_take_no_hugepages_no_pci_and_no_files() {
        let config = EalConfig::virtual_devices(["net_null0", "net_ring0"]);
        assert_eq!(
            config.args,
            [
                "--no-huge",
                "-m",
                "512",
                "--no-pci",
                "--no-shconf",
                "--no-telemetry",
                "--vdev=net_null0",
                "--vdev=net_ring0"
            ]
        );
        assert_eq!(
            EalConfig::parse("  -m 512\t--no-pci ").args,
            ["-m", "512", "--no-pci"]
        );
    }

    #[test]
    fn vdev_names_map_to_their_pmd_libraries() {
        assert_eq!(vdev_library("net_null0"), Some("librte_net_null"));
        assert_eq!(
            vdev_library("net_pcap12,rx_pcap=in.pcap,tx_pcap=out.pcap"),
            Some("librte_net_pcap")
        );
        assert_eq!(
            vdev_library("net_af_packet0,iface=veth0"),
            Some("librte_net_af_packet")
        );
        assert_eq!(vdev_library("eth_ring3"), Some("librte_net_ring"));
        assert_eq!(
            vdev_library("net_virtio_user0,path=/dev/vhost-net"),
            Some("librte_net_virtio")
        );
        assert_eq!(vdev_library("crypto_null0"), None);
    }

    #[test]
    fn a_missing_pmd_is_named_with_its_debian_package() {
        let dir = tempfile::tempdir().unwrap();
        let pmds = dir.path().join("pmds-23.0");
        std::fs::create_dir(&pmds).unwrap();
        std::fs::write(pmds.join("librte_net_null.so.23.0"), b"").unwrap();
        std::fs::write(pmds.join("librte_net_ring.so"), b"").unwrap();
        let paths = [pmds.clone()];
        check_vdev_driver("net_null0", &paths).unwrap();
        check_vdev_driver("net_ring0", &paths).unwrap();
        check_vdev_driver("some_unknown0", &paths).unwrap();
        let error = check_vdev_driver("net_pcap0,tx_pcap=out.pcap", &paths).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "--vdev=net_pcap0,tx_pcap=out.pcap needs the PMD librte_net_pcap.so, which is in none of {}; install it (Debian: `apt-get install librte-net-pcap23`) or pass `-d <dir>` with the directory that has it",
                pmds.display()
            )
        );
        // `-d` may name the shared object itself.
        check_vdev_driver("net_pcap0", &[dir.path().join("librte_net_pcap.so.23")]).unwrap();
    }

    #[test]
    fn the_driver_directory_follows_the_loaded_library_then_the_build() {
        let compiled = Path::new("/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0");
        assert_eq!(
            driver_dir_candidates(Some(Path::new("/opt/dpdk/lib64")), compiled),
            [
                PathBuf::from("/opt/dpdk/lib64/dpdk/pmds-23.0"),
                compiled.to_path_buf()
            ]
        );
        assert_eq!(
            driver_dir_candidates(Some(Path::new("/usr/lib/x86_64-linux-gnu")), compiled),
            [compiled.to_path_buf()]
        );
        assert_eq!(
            driver_dir_candidates(None, compiled),
            [compiled.to_path_buf()]
        );
        assert!(driver_dir_candidates(None, Path::new("")).is_empty());

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("pmds-24.0");
        let present = dir.path().join("pmds-23.0");
        std::fs::create_dir(&present).unwrap();
        assert_eq!(
            first_directory(&[missing.clone(), present.clone()]).unwrap(),
            present
        );
        let error = first_directory(std::slice::from_ref(&missing)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "no DPDK driver directory: looked in {}; install DPDK's PMDs (Debian: `apt-get install libdpdk-dev`, which pulls in every librte-net-* package) or name the directory with `-d <dir>` in the EAL arguments",
                missing.display()
            )
        );
    }

    #[test]
    fn the_compiled_pmd_path_has_no_nul() {
        let path = compiled_pmd_path();
        assert!(!path.as_os_str().is_empty());
        assert!(!path.to_string_lossy().contains('\0'));
    }

    #[test]
    fn cpu_lists_use_ranges() {
        assert_eq!(cpu_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(cpu_list(&[5]), "5");
        assert_eq!(cpu_list(&[1, 3]), "1,3");
        assert_eq!(cpu_list(&[]), "");
    }

    #[test]
    fn a_nanosecond_device_clock_is_used_as_is() {
        let first = ClockSample {
            ticks: 5_000_000_000,
            raw_ns: 1_000_000_000,
        };
        // 100 ms of a nanosecond counter, read with 3 µs of jitter (30 ppm).
        let last = ClockSample {
            ticks: 5_100_003_000,
            raw_ns: 1_100_000_000,
        };
        let scale = DeviceClockScale::from_samples(first, last).unwrap();
        assert_eq!(scale.ticks_per_second, 1_000_030_000);
        assert!(scale.is_nanoseconds());
        assert_eq!(scale.ns(123_456_789_012), 123_456_789_012);
    }

    #[test]
    fn a_free_running_device_clock_is_converted() {
        // A 156.25 MHz oscillator (mlx5's default free-running counter on some cards).
        let first = ClockSample {
            ticks: 1_000,
            raw_ns: 0,
        };
        let last = ClockSample {
            ticks: 1_000 + 15_625_000,
            raw_ns: 100_000_000,
        };
        let scale = DeviceClockScale::from_samples(first, last).unwrap();
        assert_eq!(scale.ticks_per_second, 156_250_000);
        assert!(!scale.is_nanoseconds());
        // 156.25 ticks per µs: 6.4 ns per tick.
        assert_eq!(scale.ns(156_250_000), 1_000_000_000);
        assert_eq!(scale.ns(5), 32);
        assert_eq!(scale.ns(0), 0);
        // Differences stay exact to a nanosecond far from the origin.
        let base = 1u64 << 50;
        assert_eq!(scale.ns(base + 1_562_500) - scale.ns(base), 10_000_000);
    }

    #[test]
    fn a_clock_that_does_not_advance_has_no_scale() {
        let sample = ClockSample {
            ticks: 10,
            raw_ns: 10,
        };
        assert_eq!(DeviceClockScale::from_samples(sample, sample), None);
        let later = ClockSample {
            ticks: 10,
            raw_ns: 1_000,
        };
        assert_eq!(DeviceClockScale::from_samples(sample, later), None);
        let backwards = ClockSample {
            ticks: 5,
            raw_ns: 1_000,
        };
        assert_eq!(DeviceClockScale::from_samples(sample, backwards), None);
    }

    #[test]
    fn clock_domains_follow_the_clock() {
        assert_eq!(PortClock::Monotonic.domain(), ClockDomain::UserMonotonic);
        let device = PortClock::Device {
            scale: DeviceClockScale {
                ticks_per_second: 1_000_000_000,
                mult: 1,
                shift: 0,
            },
            dynfield_offset: 120,
            dynflag: 1 << 40,
        };
        assert_eq!(device.domain(), ClockDomain::NicHardware);
    }

    fn stamp(id: u32, ns: u64) -> TxTimestamp {
        TxTimestamp {
            id,
            stamp: KernelTimestamp {
                clock: ClockDomain::UserMonotonic,
                ns,
                tx_id: None,
            },
        }
    }

    #[test]
    fn tx_stamps_come_out_per_packet_in_order_across_small_polls() {
        let mut ring = TxStampRing::new(4);
        assert_eq!(ring.push(0, 3, 100), 0);
        assert_eq!(ring.push(3, 2, 200), 0);
        let mut out = [TxTimestamp::EMPTY; 2];
        assert_eq!(ring.drain(&mut out, ClockDomain::UserMonotonic), 2);
        assert_eq!(out, [stamp(0, 100), stamp(1, 100)]);
        let mut out = [TxTimestamp::EMPTY; 8];
        assert_eq!(ring.drain(&mut out, ClockDomain::UserMonotonic), 3);
        assert_eq!(out[..3], [stamp(2, 100), stamp(3, 200), stamp(4, 200)]);
        assert_eq!(ring.drain(&mut out, ClockDomain::UserMonotonic), 0);
    }

    #[test]
    fn a_full_tx_stamp_ring_forgets_the_oldest_burst() {
        let mut ring = TxStampRing::new(2);
        assert_eq!(ring.push(u32::MAX - 1, 3, 10), 0);
        assert_eq!(ring.push(1, 4, 20), 0);
        assert_eq!(ring.push(5, 1, 30), 3);
        let mut out = [TxTimestamp::EMPTY; 8];
        assert_eq!(ring.drain(&mut out, ClockDomain::UserMonotonic), 5);
        assert_eq!(
            out[..5],
            [
                stamp(1, 20),
                stamp(2, 20),
                stamp(3, 20),
                stamp(4, 20),
                stamp(5, 30)
            ]
        );
    }

    #[test]
    fn tx_stamp_ids_wrap() {
        let mut ring = TxStampRing::new(1);
        ring.push(u32::MAX, 2, 7);
        let mut out = [TxTimestamp::EMPTY; 2];
        assert_eq!(ring.drain(&mut out, ClockDomain::NicHardware), 2);
        assert_eq!(out[0].id, u32::MAX);
        assert_eq!(out[1].id, 0);
        assert_eq!(out[1].stamp.clock, ClockDomain::NicHardware);
    }

    #[test]
    fn port_configs_that_would_starve_are_refused() {
        DpdkPortConfig::new("net_null0").validate().unwrap();
        let mut config = DpdkPortConfig::new("net_null0");
        config.mbufs_per_queue = 2000;
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "invalid DPDK configuration of port net_null0: mbufs_per_queue is 2000; the queue needs at least 2560 (rx_descriptors 1024 + tx_descriptors 1024 + 2 bursts of 64 + 1.5 x mbuf_cache 256), or the device and the cache could hold every mbuf and TX would starve"
        );
        let mut config = DpdkPortConfig::new("net_null0");
        config.burst = 0;
        assert!(config.validate().is_err());
        config.burst = 1025;
        assert!(config.validate().is_err());
        let mut config = DpdkPortConfig::new("net_null0");
        config.queues = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn a_staging_pool_too_large_names_the_bytes_and_the_m_that_fits() {
        const MIB: u64 = 1 << 20;
        // -m 512 with 40 MiB in use, a million 120-byte frames (~330 MB).
        let memory = ffi::ticklab_pool_memory {
            needed: 329_445_952,
            heap_total: 512 * MIB,
            heap_free: 472 * MIB,
        };
        let error = staging_memory_error(1_000_000, 120, &memory);
        // (40 MiB + 314.2 MiB) * 9 / 8 = 398.5 MiB, rounded up to 448.
        assert_eq!(
            error.to_string(),
            "staging 1000000 frames of up to 120 bytes needs about 329445952 bytes of DPDK memory, and EAL's heaps have 494927872 of 536870912 bytes free; give EAL more memory: `-m 448` (MiB) with --no-huge, or that much in hugepages (--socket-mem, or more pages in /proc/sys/vm/nr_hugepages)"
        );
        let nothing_free = ffi::ticklab_pool_memory {
            needed: 64 * MIB,
            heap_total: 0,
            heap_free: 0,
        };
        match staging_memory_error(10, 60, &nothing_free) {
            DpdkError::StagingMemory { suggested_mib, .. } => assert_eq!(suggested_mib, 128),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn dpdk_errors_become_nic_errors_naming_the_call() {
        let error: Error = DpdkError::Call {
            call: "rte_eth_dev_start",
            object: "net_pcap0".to_owned(),
            errno: 5,
            text: "Input/output error".to_owned(),
            hint: "check the files",
        }
        .into();
        assert_eq!(
            error.to_string(),
            "DPDK failed: rte_eth_dev_start failed on net_pcap0: Input/output error (errno 5); check the files"
        );
    }
}
