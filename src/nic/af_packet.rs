//! Raw Ethernet frames on one interface through AF_PACKET rings: the lab's wire tap
//! and its privileged kernel backend.
//!
//! [`AfPacketPort`] holds two packet sockets bound to the interface:
//! - **RX**: a `TPACKET_V3` ring (`PACKET_RX_RING`), memory-mapped. The kernel fills
//!   blocks of variable-sized frames and hands a block over when it is full or its
//!   retire timeout fires; [`Port::recv_burst`] walks the blocks handed over
//!   (`TP_STATUS_USER`), copies each frame into the caller's buffer with the
//!   timestamp the kernel wrote next to it (`tp_sec`/`tp_nsec`), and gives each block
//!   back as soon as its last frame is copied. A VLAN tag the kernel moved out of the
//!   frame (`TP_STATUS_VLAN_VALID`) is put back, so frames arrive as they were on the
//!   wire.
//! - **TX**: a `TPACKET_V2` ring (`PACKET_TX_RING`), with `PACKET_QDISC_BYPASS`
//!   unless the port is a tap. [`Port::send_burst`] copies frames into free slots,
//!   marks them `TP_STATUS_SEND_REQUEST` and kicks the ring with one
//!   `send(MSG_DONTWAIT)`. TX timestamps (`SO_TIMESTAMPING` with
//!   `OPT_ID | OPT_TSONLY`) come back on this socket's error queue and are mapped to
//!   frame ids (see below); with [`AfPacketConfig::tx_timestamps`] off the kernel
//!   makes none and the port reads none (top-speed replay).
//! - Each TX slot starts with a `virtio_net_hdr` (`PACKET_VNET_HDR`, no offloads)
//!   whose `hdr_len` covers the frame up to [`TX_LINEAR_MAX`] bytes, so the kernel
//!   copies the frame into the skb instead of attaching the ring's page. A TX ring's
//!   skbs are marked zero-copy, and a veth (like every device that hands the skb to
//!   a receive path rather than to hardware) copies such a page fragment into a
//!   newly allocated page per frame and frees it after delivery: at top speed to a
//!   veth that round
//!   trip and the header pull it forces made a frame cost 2.0 to 2.4 µs, against
//!   1.2 to 1.4 µs copied (docs/benchmarks.md).
//!
//! Why two sockets: a packet socket never sees the frames it sent itself (the kernel's
//! `skb_loop_sk`), so a tap that must see our own ticks leave needs a socket of its
//! own; and each socket has one `PACKET_VERSION`. Why V2 for TX: the kernel treats a
//! V3 TX ring as fixed-size frames anyway ("block transmit is not supported"), so V3
//! would add nothing but a later kernel requirement (4.11) and a header whose
//! `tp_next_offset` must be zero.
//!
//! **Tap mode** ([`AfPacketConfig::tap`]): the RX socket sees both directions on the
//! interface, so tick TX and order RX timestamps come from one place and one clock,
//! also for frames other sockets send (kernel TCP sessions).
//! [`AfPacketPort::recv_burst_with_direction`] says which way each frame went
//! ([`Direction`], from `sll_pkttype`). Frames that bypass the qdisc are invisible to
//! every tap (`dev_direct_xmit` skips `dev_queue_xmit_nit`), so a tap port sends
//! through the qdisc. Outside tap mode the RX socket ignores outgoing frames
//! (`PACKET_IGNORE_OUTGOING`).
//!
//! **Timestamps**: kernel software (`CLOCK_REALTIME`) by default. With
//! [`AfPacketConfig::hardware_timestamps`], the port asks the NIC to stamp every
//! frame (`SIOCSHWTSTAMP`: `tx_type` ON, `rx_filter` ALL) and reads raw PHC time
//! (`SOF_TIMESTAMPING_RAW_HARDWARE` on both rings); a NIC that refuses (veth:
//! `EOPNOTSUPP`) leaves the port on software stamps, and
//! [`AfPacketControl::hardware_stamping`] says why. Every stamp the port reports is in
//! [`PortControl::clock_domain`]; a frame stamped in another domain (a tap's copy of
//! an outgoing frame never has a NIC stamp) is reported without one and counted in
//! [`AfPacketControl::rx_unstamped`].
//!
//! **TX ids**: the kernel numbers every frame it builds an skb for (`OPT_ID`), in ring
//! order, synchronously inside our `send`. After each kick the port reads which
//! frames left `TP_STATUS_SEND_REQUEST` (each took the next key) and whether the kick
//! ended in `ENOBUFS` (the device or qdisc refused the next frame: it took a key, is
//! put back to `SEND_REQUEST` by the kernel, and goes again with the next kick; a
//! stamp for that refused attempt is not reported). An `ENOBUFS` from a failed skb
//! allocation under memory pressure looks the same to user space and would shift
//! the ids of later stamps by one; the kernel offers no way to tell the two apart.
//! The interface's MTU must not shrink while the port is open (a frame the kernel
//! then rejects takes no key). In hardware mode a frame the NIC did not stamp (some
//! NICs stamp one frame at a time) gets no TX timestamp. Needs a kernel whose packet
//! sockets number frames for `OPT_ID` (`skb_setup_tx_timestamp` in `af_packet`) and
//! whose TX ring reads the `virtio_net_hdr` (`tpacket_snd` with `has_vnet_hdr`);
//! tested on 6.18.
//!
//! Never blocks; never allocates after [`AfPacketPort::open`]; the only syscalls are
//! the kick per burst, the error-queue reads (none without TX stamps), and a
//! `PACKET_STATISTICS` read when a block says frames were lost. Needs `CAP_NET_RAW` (and `CAP_NET_ADMIN` for
//! hardware stamps).
//!
//! ```
//! use ticklab::nic::af_packet::{AfPacketConfig, Direction};
//! let tap = AfPacketConfig::tap("veth-lab");
//! assert!(tap.tap && !tap.qdisc_bypass);
//! assert_eq!(Direction::from_pkttype(4), Direction::Outgoing);
//! assert!(AfPacketConfig::new("veth-lab").qdisc_bypass);
//! assert!(AfPacketConfig::new("veth-lab").tx_timestamps);
//! ```
//!
//! ```no_run
//! use ticklab::nic::af_packet::{AfPacketConfig, AfPacketPort, Direction};
//! use ticklab::nic::{Port, RxMeta};
//! let (mut port, _control) = AfPacketPort::open(AfPacketConfig::tap("eth1"))?;
//! let frame = [0u8; 60];
//! port.send_burst(&[frame.as_slice()])?;
//! let mut storage = [[0u8; 2048]; 4];
//! let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
//! let (mut meta, mut directions) = ([RxMeta::default(); 4], [Direction::ToHost; 4]);
//! let n = port.recv_burst_with_direction(&mut buffers, &mut meta, &mut directions)?;
//! # let _ = n;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use super::timestamp::{
    self, ClockDomain, KernelTimestamp, CONTROL_BUFFER_LEN, SCM_TSTAMP_SND,
    SOF_TIMESTAMPING_OPT_ID, SOF_TIMESTAMPING_OPT_TSONLY, SOF_TIMESTAMPING_RAW_HARDWARE,
    SOF_TIMESTAMPING_RX_SOFTWARE, SOF_TIMESTAMPING_SOFTWARE, SOF_TIMESTAMPING_TX_HARDWARE,
    SOF_TIMESTAMPING_TX_SOFTWARE,
};
use super::{
    bump, Error, Port, PortControl, PortCounters, PortStats, RxMeta, SentBurst, TxTimestamp,
};

/// Kernel structure layouts and constants (`include/uapi/linux/if_packet.h`,
/// `net_tstamp.h`, `ethtool.h`) as named byte offsets, for reading ring memory the
/// kernel shares. Checked against the C headers by a test that compiles a C program.
pub mod layout {
    /// `TPACKET_ALIGNMENT`: ring headers and frames start at multiples of it.
    pub const TPACKET_ALIGNMENT: usize = 16;

    /// `TPACKET_ALIGN(len)`.
    pub const fn tpacket_align(len: usize) -> usize {
        (len + TPACKET_ALIGNMENT - 1) & !(TPACKET_ALIGNMENT - 1)
    }

    /// `struct tpacket_block_desc` with its `tpacket_hdr_v1`.
    pub mod block {
        pub const BLOCK_STATUS: usize = 8;
        pub const NUM_PKTS: usize = 12;
        pub const OFFSET_TO_FIRST_PKT: usize = 16;
        pub const BLK_LEN: usize = 20;
        pub const SIZE: usize = 48;
    }

    /// `struct tpacket3_hdr`.
    pub mod v3 {
        pub const NEXT_OFFSET: usize = 0;
        pub const SEC: usize = 4;
        pub const NSEC: usize = 8;
        pub const SNAPLEN: usize = 12;
        pub const LEN: usize = 16;
        pub const STATUS: usize = 20;
        pub const MAC: usize = 24;
        pub const NET: usize = 26;
        pub const VLAN_TCI: usize = 32;
        pub const VLAN_TPID: usize = 36;
        pub const SIZE: usize = 48;
    }

    /// `struct tpacket2_hdr`.
    pub mod v2 {
        pub const STATUS: usize = 0;
        pub const LEN: usize = 4;
        pub const SNAPLEN: usize = 8;
        pub const MAC: usize = 12;
        pub const NET: usize = 14;
        pub const SEC: usize = 16;
        pub const NSEC: usize = 20;
        pub const VLAN_TCI: usize = 24;
        pub const VLAN_TPID: usize = 26;
        pub const SIZE: usize = 32;
    }

    /// `struct sockaddr_ll`, which follows each RX frame header at
    /// `TPACKET_ALIGN(sizeof(header))`.
    pub mod sll {
        pub const PKTTYPE: usize = 10;
        pub const SIZE: usize = 20;
    }

    /// `TPACKET2_HDRLEN`: header plus `sockaddr_ll`.
    pub const TPACKET2_HDRLEN: usize = tpacket_align(v2::SIZE) + sll::SIZE;
    /// `TPACKET3_HDRLEN`.
    pub const TPACKET3_HDRLEN: usize = tpacket_align(v3::SIZE) + sll::SIZE;
    /// Where the kernel starts reading a V2 TX slot (no `PACKET_TX_HAS_OFF`):
    /// `tp_hdrlen - sizeof(struct sockaddr_ll)`. With `PACKET_VNET_HDR` a
    /// [`virtio_net_hdr`] comes first there, then the frame.
    pub const TX_DATA_OFFSET: usize = TPACKET2_HDRLEN - sll::SIZE;
    /// Where the frame starts in a TX slot: behind the `virtio_net_hdr`.
    pub const TX_FRAME_OFFSET: usize = TX_DATA_OFFSET + virtio_net_hdr::SIZE;

    /// `struct virtio_net_hdr` (`include/uapi/linux/virtio_net.h`), which leads every
    /// TX slot of a socket with `PACKET_VNET_HDR`. Its 16-bit fields are in the
    /// host's byte order for a packet socket (`vio_le()`: legacy virtio).
    pub mod virtio_net_hdr {
        pub const FLAGS: usize = 0;
        pub const GSO_TYPE: usize = 1;
        pub const HDR_LEN: usize = 2;
        pub const SIZE: usize = 10;
    }

    /// `enum tpacket_versions`.
    pub const TPACKET_V2: libc::c_int = 1;
    pub const TPACKET_V3: libc::c_int = 2;

    /// `struct hwtstamp_config`: `int flags, tx_type, rx_filter`.
    pub mod hwtstamp_config {
        pub const FLAGS: usize = 0;
        pub const TX_TYPE: usize = 4;
        pub const RX_FILTER: usize = 8;
        pub const SIZE: usize = 12;
    }

    /// `ETHTOOL_GET_TS_INFO` and `struct ethtool_ts_info`.
    pub const ETHTOOL_GET_TS_INFO: u32 = 0x41;
    pub mod ethtool_ts_info {
        pub const SO_TIMESTAMPING: usize = 4;
        pub const PHC_INDEX: usize = 8;
        pub const TX_TYPES: usize = 12;
        pub const RX_FILTERS: usize = 28;
        pub const SIZE: usize = 44;
    }

    /// `ETH_P_8021Q`: the one tag the kernel lets a frame exceed the MTU by.
    pub const ETH_P_8021Q: u16 = 0x8100;
    pub const ETH_HEADER_LEN: usize = 14;
    pub const VLAN_TAG_LEN: usize = 4;
}

use layout::{block, v2, v3};

/// How to open an [`AfPacketPort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// The interface, by name, in the calling thread's network namespace.
    pub interface: String,
    /// See both directions on the interface (outgoing frames included), not only
    /// frames arriving. Needs `qdisc_bypass` off.
    pub tap: bool,
    /// `PACKET_QDISC_BYPASS`: hand frames straight to the driver. Such frames are
    /// invisible to every tap on the interface, ours included.
    pub qdisc_bypass: bool,
    /// Ask the NIC for hardware timestamps (`SIOCSHWTSTAMP`); falls back to kernel
    /// software stamps when it refuses. The setting is the device's, shared with
    /// ptp4l (stamping every frame is a superset of what it asks for), and stays
    /// when the port closes; a later `SIOCSHWTSTAMP` that narrows it leaves frames
    /// without stamps ([`AfPacketControl::rx_unstamped`]).
    pub hardware_timestamps: bool,
    /// Ask the kernel for a TX timestamp of every frame sent (`SO_TIMESTAMPING` on
    /// the TX socket). Off, the port sends without them: [`Port::poll_tx_timestamps`]
    /// reports none and makes no syscall, and the kernel saves the report skb it
    /// would allocate, queue and (at top speed, with the error queue full) drop per
    /// frame: about 0.2 µs of a frame's 1.2 to 1.4 µs at top speed to a veth. RX
    /// stamps are not affected.
    pub tx_timestamps: bool,
    /// Bytes per RX block: a power of two, a multiple of the page size, room for at
    /// least one frame of the interface's MTU.
    pub rx_block_size: u32,
    /// RX blocks in the ring.
    pub rx_block_count: u32,
    /// How long the kernel keeps a partly filled RX block before handing it over, in
    /// milliseconds (`tp_retire_blk_tov`); 0 lets the kernel choose from the link
    /// speed. Only when frames become visible depends on it, not their stamps.
    pub rx_retire_timeout_ms: u32,
    /// TX ring slots: a power of two, 16 to 65536.
    pub tx_frames: u32,
    /// Receive at all. A send-only port (the lab's feed) leaves its RX socket bound
    /// to no protocol: the kernel then hands it no frame, and the interface's
    /// traffic (the order session) pays for no copy into a ring nobody reads.
    pub rx: bool,
}

impl AfPacketConfig {
    /// Receives arriving frames only; sends bypassing the qdisc; software stamps.
    pub fn new(interface: impl Into<String>) -> Self {
        AfPacketConfig {
            interface: interface.into(),
            tap: false,
            qdisc_bypass: true,
            hardware_timestamps: false,
            tx_timestamps: true,
            rx_block_size: 1 << 18,
            rx_block_count: 32,
            rx_retire_timeout_ms: 1,
            tx_frames: 512,
            rx: true,
        }
    }

    /// Sees both directions; sends through the qdisc so its own frames show up too.
    pub fn tap(interface: impl Into<String>) -> Self {
        AfPacketConfig {
            tap: true,
            qdisc_bypass: false,
            ..Self::new(interface)
        }
    }
}

/// Which way a received frame went, from the kernel's `sll_pkttype`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Arrived, addressed to this host (`PACKET_HOST`).
    #[default]
    ToHost,
    /// Arrived, to the broadcast address (`PACKET_BROADCAST`).
    Broadcast,
    /// Arrived, to a multicast address (`PACKET_MULTICAST`).
    Multicast,
    /// Arrived, addressed to another host: seen in promiscuous mode
    /// (`PACKET_OTHERHOST`).
    ToOtherHost,
    /// Left through the interface (`PACKET_OUTGOING`): only a tap sees these.
    Outgoing,
    /// A packet type this code does not know.
    Unknown(u8),
}

impl Direction {
    pub fn from_pkttype(pkttype: u8) -> Direction {
        match pkttype {
            libc::PACKET_HOST => Direction::ToHost,
            libc::PACKET_BROADCAST => Direction::Broadcast,
            libc::PACKET_MULTICAST => Direction::Multicast,
            libc::PACKET_OTHERHOST => Direction::ToOtherHost,
            libc::PACKET_OUTGOING => Direction::Outgoing,
            other => Direction::Unknown(other),
        }
    }

    pub fn is_outgoing(self) -> bool {
        self == Direction::Outgoing
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::ToHost => "to_host",
            Direction::Broadcast => "broadcast",
            Direction::Multicast => "multicast",
            Direction::ToOtherHost => "to_other_host",
            Direction::Outgoing => "outgoing",
            Direction::Unknown(_) => "unknown",
        }
    }
}

/// `struct hwtstamp_config` as the driver applied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwTimestampConfig {
    pub flags: i32,
    /// `HWTSTAMP_TX_*`.
    pub tx_type: i32,
    /// `HWTSTAMP_FILTER_*`.
    pub rx_filter: i32,
}

impl HwTimestampConfig {
    /// Stamp every frame in both directions.
    pub const ALL: HwTimestampConfig = HwTimestampConfig {
        flags: 0,
        tx_type: libc::HWTSTAMP_TX_ON as i32,
        rx_filter: libc::HWTSTAMP_FILTER_ALL as i32,
    };

    fn to_bytes(self) -> [u8; layout::hwtstamp_config::SIZE] {
        let mut out = [0; layout::hwtstamp_config::SIZE];
        put_i32(&mut out, layout::hwtstamp_config::FLAGS, self.flags);
        put_i32(&mut out, layout::hwtstamp_config::TX_TYPE, self.tx_type);
        put_i32(&mut out, layout::hwtstamp_config::RX_FILTER, self.rx_filter);
        out
    }

    fn from_bytes(bytes: &[u8; layout::hwtstamp_config::SIZE]) -> HwTimestampConfig {
        HwTimestampConfig {
            flags: read_u32(bytes, layout::hwtstamp_config::FLAGS) as i32,
            tx_type: read_u32(bytes, layout::hwtstamp_config::TX_TYPE) as i32,
            rx_filter: read_u32(bytes, layout::hwtstamp_config::RX_FILTER) as i32,
        }
    }
}

/// What became of the request for hardware timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardwareStamping {
    /// Not asked for: kernel software stamps.
    NotRequested,
    /// The NIC stamps every frame both ways: raw PHC time.
    Enabled(HwTimestampConfig),
    /// The driver accepted `SIOCSHWTSTAMP` but applied less than every frame both
    /// ways (for instance PTP frames only): kernel software stamps instead.
    Narrowed(HwTimestampConfig),
    /// `SIOCSHWTSTAMP` failed with this errno (veth: `EOPNOTSUPP`; `EPERM` without
    /// `CAP_NET_ADMIN`): kernel software stamps instead.
    Refused { errno: i32 },
}

impl HardwareStamping {
    /// Classifies the answer to `SIOCSHWTSTAMP` with [`HwTimestampConfig::ALL`].
    pub fn from_answer(answer: Result<HwTimestampConfig, i32>) -> HardwareStamping {
        match answer {
            Ok(applied)
                if applied.tx_type == HwTimestampConfig::ALL.tx_type
                    && applied.rx_filter == HwTimestampConfig::ALL.rx_filter =>
            {
                HardwareStamping::Enabled(applied)
            }
            Ok(applied) => HardwareStamping::Narrowed(applied),
            Err(errno) => HardwareStamping::Refused { errno },
        }
    }

    pub fn is_enabled(&self) -> bool {
        matches!(self, HardwareStamping::Enabled(_))
    }

    /// The clock every timestamp of the port comes from.
    pub fn clock_domain(&self) -> ClockDomain {
        if self.is_enabled() {
            ClockDomain::NicHardware
        } else {
            ClockDomain::KernelSoftware
        }
    }
}

impl fmt::Display for HardwareStamping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HardwareStamping::NotRequested => {
                write!(
                    f,
                    "hardware timestamps not requested; kernel software stamps"
                )
            }
            HardwareStamping::Enabled(applied) => write!(
                f,
                "hardware timestamps on (tx_type {}, rx_filter {}); raw PHC time",
                applied.tx_type, applied.rx_filter
            ),
            HardwareStamping::Narrowed(applied) => write!(
                f,
                "the driver applied tx_type {} and rx_filter {} instead of ON and ALL \
                 (1 and 1); kernel software stamps instead",
                applied.tx_type, applied.rx_filter
            ),
            HardwareStamping::Refused { errno } => {
                write!(
                    f,
                    "SIOCSHWTSTAMP refused ({})",
                    io::Error::from_raw_os_error(*errno)
                )?;
                if *errno == libc::EPERM {
                    write!(f, ": it needs CAP_NET_ADMIN")?;
                }
                write!(f, "; kernel software stamps instead")
            }
        }
    }
}

/// What the interface says it can stamp (`ETHTOOL_GET_TS_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampingInfo {
    /// `SOF_TIMESTAMPING_*` capabilities.
    pub so_timestamping: u32,
    /// The PTP hardware clock, `/dev/ptpN`, if the NIC has one.
    pub phc_index: Option<u32>,
    /// Bit `n` set: `HWTSTAMP_TX_*` value `n` is supported.
    pub tx_types: u32,
    /// Bit `n` set: `HWTSTAMP_FILTER_*` value `n` is supported.
    pub rx_filters: u32,
}

impl TimestampingInfo {
    fn from_bytes(bytes: &[u8; layout::ethtool_ts_info::SIZE]) -> TimestampingInfo {
        use layout::ethtool_ts_info as at;
        let phc = read_u32(bytes, at::PHC_INDEX) as i32;
        TimestampingInfo {
            so_timestamping: read_u32(bytes, at::SO_TIMESTAMPING),
            phc_index: u32::try_from(phc).ok(),
            tx_types: read_u32(bytes, at::TX_TYPES),
            rx_filters: read_u32(bytes, at::RX_FILTERS),
        }
    }

    /// The NIC can stamp raw hardware time both ways.
    pub fn has_hardware(&self) -> bool {
        let needed = SOF_TIMESTAMPING_TX_HARDWARE
            | timestamp::SOF_TIMESTAMPING_RX_HARDWARE
            | SOF_TIMESTAMPING_RAW_HARDWARE;
        self.so_timestamping & needed == needed
    }
}

/// Why an [`AfPacketPort`] could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("AF_PACKET on {interface} needs CAP_NET_RAW: run as root or grant the binary the capability (setcap cap_net_raw,cap_net_admin+ep); socket(AF_PACKET, SOCK_RAW) failed: {source}")]
    NeedsCapNetRaw {
        interface: String,
        #[source]
        source: io::Error,
    },
    #[error("no interface {interface:?} in this network namespace ({source}); `ip link` lists the ones there are")]
    NoSuchInterface {
        interface: String,
        #[source]
        source: io::Error,
    },
    #[error("AF_PACKET on {interface}: {op} failed: {source}")]
    Io {
        interface: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("AF_PACKET on {interface}: {key} = {value} is invalid: {valid}")]
    Config {
        interface: String,
        key: &'static str,
        value: String,
        valid: String,
    },
}

/// Counters shared with the [`AfPacketControl`]; one writer, the hot thread.
#[derive(Debug, Default)]
struct Counters {
    port: PortCounters,
    rx_dropped: AtomicU64,
    rx_unstamped: AtomicU64,
}

/// The control handle of an [`AfPacketPort`]: statistics and what the interface
/// stamps, from any thread.
#[derive(Debug, Clone)]
pub struct AfPacketControl {
    counters: Arc<Counters>,
    interface: Arc<str>,
    hardware: HardwareStamping,
    timestamping_info: Option<TimestampingInfo>,
    tx_timestamps: bool,
}

impl AfPacketControl {
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Whether the port asks for a TX stamp of every frame
    /// ([`AfPacketConfig::tx_timestamps`]); without, it reports none.
    pub fn tx_timestamps(&self) -> bool {
        self.tx_timestamps
    }

    /// Whether the NIC stamps, and if not, why.
    pub fn hardware_stamping(&self) -> HardwareStamping {
        self.hardware
    }

    /// The interface's timestamping capabilities and PHC, if the driver answered
    /// `ETHTOOL_GET_TS_INFO`.
    pub fn timestamping_info(&self) -> Option<TimestampingInfo> {
        self.timestamping_info
    }

    /// Frames the kernel dropped because the RX ring was full, as far as the port
    /// has read them (`PACKET_STATISTICS`; see [`AfPacketPort::refresh_rx_drops`]).
    pub fn rx_dropped(&self) -> u64 {
        self.counters.rx_dropped.load(Ordering::Relaxed)
    }

    /// Frames received without a timestamp in the port's clock domain.
    pub fn rx_unstamped(&self) -> u64 {
        self.counters.rx_unstamped.load(Ordering::Relaxed)
    }
}

impl PortControl for AfPacketControl {
    fn stats(&self) -> PortStats {
        self.counters.port.snapshot()
    }

    fn clock_domain(&self) -> ClockDomain {
        self.hardware.clock_domain()
    }
}

/// What became of the `n`-th frame the kernel built an skb for (the `OPT_ID` key `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// The frame with this id went to the device.
    Sent(u32),
    /// The device or qdisc refused it; the kernel queued it again.
    Refused,
}

/// The kernel's `OPT_ID` keys and what each stood for, for the last `window` keys.
#[derive(Debug)]
struct KeyLog {
    next_key: u32,
    known: usize,
    attempts: Box<[Attempt]>,
}

impl KeyLog {
    fn new(window: usize) -> Self {
        KeyLog {
            next_key: 0,
            known: 0,
            attempts: vec![Attempt::Refused; window].into_boxed_slice(),
        }
    }

    /// The next key went to `attempt`.
    fn record(&mut self, attempt: Attempt) {
        let window = self.attempts.len();
        self.attempts[self.next_key as usize % window] = attempt;
        self.next_key = self.next_key.wrapping_add(1);
        self.known = (self.known + 1).min(window);
    }

    /// What `key` stood for, if it is one of the last `window` keys handed out.
    fn lookup(&self, key: u32) -> Option<Attempt> {
        let behind = self.next_key.wrapping_sub(key) as usize;
        (1..=self.known)
            .contains(&behind)
            .then(|| self.attempts[key as usize % self.attempts.len()])
    }
}

/// One frame in a `TPACKET_V3` block, read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RxFrame {
    /// Where the header is in the block.
    offset: usize,
    next_offset: usize,
    sec: u32,
    nsec: u32,
    /// Bytes captured, from `offset + mac`.
    snaplen: usize,
    /// Bytes the frame had on the wire (without a tag the kernel took out).
    len: usize,
    status: u32,
    mac: usize,
    vlan_tci: u16,
    vlan_tpid: u16,
    pkttype: u8,
}

impl RxFrame {
    /// Reads the frame header at `offset` in `block`; `None` if the header, its
    /// `sockaddr_ll` or the captured bytes would run past the block.
    fn parse(block: &[u8], offset: usize) -> Option<RxFrame> {
        let sll_at = offset + layout::tpacket_align(v3::SIZE);
        let header = block.get(offset..sll_at + layout::sll::SIZE)?;
        let frame = RxFrame {
            offset,
            next_offset: read_u32(header, v3::NEXT_OFFSET) as usize,
            sec: read_u32(header, v3::SEC),
            nsec: read_u32(header, v3::NSEC),
            snaplen: read_u32(header, v3::SNAPLEN) as usize,
            len: read_u32(header, v3::LEN) as usize,
            status: read_u32(header, v3::STATUS),
            mac: read_u16(header, v3::MAC) as usize,
            vlan_tci: read_u32(header, v3::VLAN_TCI) as u16,
            vlan_tpid: read_u16(header, v3::VLAN_TPID),
            pkttype: header[sll_at - offset + layout::sll::PKTTYPE],
        };
        let data_end = offset.checked_add(frame.mac)?.checked_add(frame.snaplen)?;
        (frame.mac >= layout::TPACKET3_HDRLEN && data_end <= block.len()).then_some(frame)
    }

    fn direction(&self) -> Direction {
        Direction::from_pkttype(self.pkttype)
    }

    /// The tag the kernel took out of the frame (`TP_STATUS_VLAN_VALID`), as it was
    /// on the wire.
    fn vlan_tag(&self) -> Option<[u8; layout::VLAN_TAG_LEN]> {
        if self.status & libc::TP_STATUS_VLAN_VALID == 0 {
            return None;
        }
        let tpid = if self.status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && self.vlan_tpid != 0 {
            self.vlan_tpid
        } else {
            layout::ETH_P_8021Q
        };
        let [t0, t1] = tpid.to_be_bytes();
        let [c0, c1] = self.vlan_tci.to_be_bytes();
        Some([t0, t1, c0, c1])
    }

    /// Copies the frame into `out`, the VLAN tag put back behind the MAC addresses;
    /// returns the bytes written and whether the frame was longer (cut by the ring's
    /// snap length or by `out`).
    fn copy_to(&self, block: &[u8], out: &mut [u8]) -> (usize, bool) {
        let start = self.offset + self.mac;
        let data = &block[start..start + self.snaplen];
        let (captured, on_wire) = match self.vlan_tag() {
            Some(tag) if data.len() >= 2 * 6 => {
                let (macs, rest) = data.split_at(12);
                let mut written = 0;
                for piece in [macs, &tag[..], rest] {
                    let n = piece.len().min(out.len() - written);
                    out[written..written + n].copy_from_slice(&piece[..n]);
                    written += n;
                }
                (written, self.len + layout::VLAN_TAG_LEN)
            }
            _ => {
                let n = data.len().min(out.len());
                out[..n].copy_from_slice(&data[..n]);
                (n, self.len)
            }
        };
        (captured, captured < on_wire)
    }

    /// The timestamp, if it is in `clock`.
    fn stamp(&self, clock: ClockDomain) -> Option<KernelTimestamp> {
        let frame_clock = if self.status & libc::TP_STATUS_TS_RAW_HARDWARE != 0 {
            ClockDomain::NicHardware
        } else if self.status & libc::TP_STATUS_TS_SYS_HARDWARE != 0 {
            // Hardware time converted to system time by the driver: neither domain.
            return None;
        } else {
            // TP_STATUS_TS_SOFTWARE, or no bit: the kernel read CLOCK_REALTIME itself.
            ClockDomain::KernelSoftware
        };
        if frame_clock != clock || (self.sec == 0 && self.nsec == 0) || self.nsec >= 1_000_000_000 {
            return None;
        }
        Some(KernelTimestamp {
            clock,
            ns: u64::from(self.sec) * 1_000_000_000 + u64::from(self.nsec),
            tx_id: None,
        })
    }
}

/// The RX ring and where the reader is in it.
struct RxRing {
    map: MmapRaw,
    block_size: usize,
    block_count: usize,
    /// The block being read, or the next one to be handed over.
    block: usize,
    /// Frames of `block` not read yet (0: the block is not ours).
    remaining: u32,
    /// Where the next frame's header is in `block`.
    offset: usize,
}

impl RxRing {
    fn block_ptr(&self, index: usize) -> *mut u8 {
        // In bounds: index < block_count and the map is block_size * block_count.
        self.map.as_mut_ptr().wrapping_add(index * self.block_size)
    }

    fn block_status(&self, index: usize) -> &AtomicU32 {
        let at = self.block_ptr(index).wrapping_add(block::BLOCK_STATUS);
        // SAFETY: the field is in the mapping, 4-byte aligned (blocks are page
        // aligned), and lives as long as `self.map`; the kernel writes it too, which is
        // why it is only ever accessed atomically.
        unsafe { AtomicU32::from_ptr(at.cast()) }
    }

    /// The current block as bytes.
    ///
    /// # Safety
    /// The block must be ours (`TP_STATUS_USER` seen with acquire ordering and not
    /// given back yet): the kernel does not write a block the user owns.
    unsafe fn current_block(&self) -> &[u8] {
        // SAFETY: the block is within the mapping, and by the caller's promise nothing
        // writes it while the slice lives.
        unsafe { std::slice::from_raw_parts(self.block_ptr(self.block), self.block_size) }
    }

    /// Takes the next block if the kernel handed it over; `Some(losing)` with the
    /// block's `TP_STATUS_LOSING` bit, `None` if it is still the kernel's.
    fn take_block(&mut self) -> Option<bool> {
        let status = self.block_status(self.block).load(Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: TP_STATUS_USER was seen with acquire ordering just above.
        let header = unsafe { self.current_block() };
        let packets = read_u32(header, block::NUM_PKTS);
        let first = read_u32(header, block::OFFSET_TO_FIRST_PKT) as usize;
        if packets == 0 {
            self.give_back();
        } else {
            // RxFrame::parse checks the offset against the block.
            self.remaining = packets;
            self.offset = first;
        }
        Some(status & libc::TP_STATUS_LOSING != 0)
    }

    /// The frame at the reader, then moves past it.
    fn advance(&mut self, frame: &RxFrame) {
        self.remaining -= 1;
        if self.remaining == 0 || frame.next_offset == 0 {
            self.give_back();
        } else {
            self.offset += frame.next_offset;
        }
    }

    /// Returns the current block to the kernel and moves to the next.
    fn give_back(&mut self) {
        self.block_status(self.block)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.remaining = 0;
        self.block = (self.block + 1) % self.block_count;
    }

    /// Copies up to `min(buffers.len(), meta.len())` frames out of the blocks the
    /// kernel handed over (and `directions[i]` when given, which must be as long),
    /// giving each block back after its last frame.
    fn receive(
        &mut self,
        clock: ClockDomain,
        buffers: &mut [&mut [u8]],
        meta: &mut [RxMeta],
        mut directions: Option<&mut [Direction]>,
    ) -> RxPass {
        let limit = buffers.len().min(meta.len());
        let mut pass = RxPass::default();
        while pass.received < limit {
            if self.remaining == 0 {
                match self.take_block() {
                    None => break,
                    Some(losing) => pass.losing |= losing,
                }
                continue;
            }
            // SAFETY: remaining > 0 means the block was taken and not given back.
            let block = unsafe { self.current_block() };
            let Some(frame) = RxFrame::parse(block, self.offset) else {
                // Frames copied in this pass stay good: stop before the bad one, and
                // skip its block when it is first in line.
                if pass.received == 0 {
                    self.give_back();
                    pass.malformed = true;
                }
                break;
            };
            let i = pass.received;
            let (len, truncated) = frame.copy_to(block, buffers[i]);
            let stamp = frame.stamp(clock);
            pass.unstamped += u64::from(stamp.is_none());
            meta[i] = RxMeta {
                len,
                truncated,
                stamp,
            };
            if let Some(directions) = directions.as_deref_mut() {
                directions[i] = frame.direction();
            }
            pass.bytes += len as u64;
            pass.received += 1;
            self.advance(&frame);
        }
        pass
    }
}

/// What one [`RxRing::receive`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RxPass {
    received: usize,
    bytes: u64,
    /// Frames without a stamp in the port's clock domain.
    unstamped: u64,
    /// A block said the kernel dropped frames (`TP_STATUS_LOSING`).
    losing: bool,
    /// The first frame in line ran past its block; the block was skipped.
    malformed: bool,
}

/// The TX ring and the three positions in it: frames are filled at `head`, the
/// kernel takes them at `kernel`, and they come back to us at `tail`. Positions
/// count frames since the port opened; the frame at position `p` has id `p as u32`.
struct TxRing {
    map: MmapRaw,
    frame_size: usize,
    /// A power of two.
    frame_count: usize,
    head: u64,
    kernel: u64,
    tail: u64,
}

impl TxRing {
    fn frame_ptr(&self, position: u64) -> *mut u8 {
        let slot = position as usize & (self.frame_count - 1);
        // In bounds: slot < frame_count and frames are laid out back to back (the
        // frame size divides the block size).
        self.map.as_mut_ptr().wrapping_add(slot * self.frame_size)
    }

    fn status(&self, position: u64) -> &AtomicU32 {
        let at = self.frame_ptr(position).wrapping_add(v2::STATUS);
        // SAFETY: in the mapping, 4-byte aligned (frames are 16-byte aligned), alive
        // as long as `self.map`; shared with the kernel, so only accessed atomically.
        unsafe { AtomicU32::from_ptr(at.cast()) }
    }

    fn free(&self) -> usize {
        self.frame_count - (self.head - self.tail) as usize
    }

    /// Takes back the frames the kernel is done with.
    fn reclaim(&mut self) {
        const BUSY: u32 =
            libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING | libc::TP_STATUS_WRONG_FORMAT;
        while self.tail < self.kernel && self.status(self.tail).load(Ordering::Acquire) & BUSY == 0
        {
            self.tail += 1;
        }
    }

    /// Copies `frame`, behind its `virtio_net_hdr`, into the slot at `head` and
    /// hands it to the kernel.
    fn push(&mut self, frame: &[u8]) {
        let slot = self.frame_ptr(self.head);
        let header = linear_virtio_net_hdr(frame.len());
        // SAFETY: the slot is free (head - tail < frame_count and the frame at tail
        // and after were reclaimed only when the kernel was done with them), so the
        // kernel neither reads nor writes it until the status below says so; header
        // and frame fit (the frame is checked against the MTU, which the slot size
        // covers with the header).
        unsafe {
            std::ptr::copy_nonoverlapping(
                header.as_ptr(),
                slot.add(layout::TX_DATA_OFFSET),
                header.len(),
            );
            std::ptr::copy_nonoverlapping(
                frame.as_ptr(),
                slot.add(layout::TX_FRAME_OFFSET),
                frame.len(),
            );
            slot.add(v2::LEN)
                .cast::<u32>()
                .write((header.len() + frame.len()) as u32);
        }
        self.status(self.head)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.head += 1;
    }

    /// The frame's length, without its `virtio_net_hdr`.
    fn frame_len(&self, position: u64) -> u64 {
        // SAFETY: in the mapping and aligned; we wrote it and the kernel only reads it.
        let tp_len = unsafe { self.frame_ptr(position).add(v2::LEN).cast::<u32>().read() };
        u64::from(tp_len).saturating_sub(layout::virtio_net_hdr::SIZE as u64)
    }

    /// Reads, after a kick that ended with `errno`, what the kernel took: each frame
    /// that left `SEND_REQUEST` took the next `OPT_ID` key (recorded in `keys` when
    /// the port asks for TX stamps); an `ENOBUFS` means the frame after them took
    /// one too and was refused (the kernel put it back).
    fn account(&mut self, mut keys: Option<&mut KeyLog>, errno: Option<i32>) -> Kicked {
        let mut kicked = Kicked::default();
        while self.kernel < self.head
            && self.status(self.kernel).load(Ordering::Acquire) & libc::TP_STATUS_SEND_REQUEST == 0
        {
            if let Some(keys) = keys.as_deref_mut() {
                keys.record(Attempt::Sent(self.kernel as u32));
            }
            kicked.packets += 1;
            kicked.bytes += self.frame_len(self.kernel);
            self.kernel += 1;
        }
        if errno == Some(libc::ENOBUFS) && self.kernel < self.head {
            if let Some(keys) = keys {
                keys.record(Attempt::Refused);
            }
            kicked.refused = true;
        }
        kicked
    }

    /// Takes back the frames from position `from` on that the kernel has not taken,
    /// as if they had never been pushed.
    fn rewind(&mut self, from: u64) {
        while self.head > from.max(self.kernel) {
            self.head -= 1;
            self.status(self.head)
                .store(libc::TP_STATUS_AVAILABLE, Ordering::Release);
        }
    }
}

/// Frames up to this many bytes are copied whole into the skb's linear part (the
/// `hdr_len` of their `virtio_net_hdr`); only the rest of a longer frame is attached
/// as fragments of the ring's pages. A TX ring's skbs are marked zero-copy, so a
/// device that hands the skb to a receive path rather than to hardware (veth,
/// loopback) copies such fragments into a newly allocated page and frees that page
/// after delivery: on a veth that round trip and the pull of the headers out of it
/// cost more than the kernel's copy of a whole standard-MTU frame. 2048 covers every
/// frame of a 1500-byte MTU, tagged or not; the rest of a jumbo frame stays
/// zero-copy, where a copy would cost a multi-page allocation.
pub const TX_LINEAR_MAX: usize = 2048;

/// The `virtio_net_hdr` in front of a frame of `frame_len` bytes: no offloads (no
/// GSO, no checksum to fill in), and the first `min(frame_len, TX_LINEAR_MAX)`
/// bytes copied into the skb's linear part.
fn linear_virtio_net_hdr(frame_len: usize) -> [u8; layout::virtio_net_hdr::SIZE] {
    use layout::virtio_net_hdr as vh;
    let mut header = [0u8; vh::SIZE];
    header[vh::FLAGS] = 0;
    header[vh::GSO_TYPE] = 0; // VIRTIO_NET_HDR_GSO_NONE
    let linear = frame_len.min(TX_LINEAR_MAX) as u16;
    header[vh::HDR_LEN..vh::HDR_LEN + 2].copy_from_slice(&linear.to_ne_bytes());
    header
}

/// What the kernel took in one kick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Kicked {
    packets: u64,
    bytes: u64,
    /// The device or qdisc refused the frame after them.
    refused: bool,
}

/// The hot handle: two packet sockets and their rings, owned by one thread.
pub struct AfPacketPort {
    // The maps go before the sockets: unmapped first, then closed.
    rx: RxRing,
    tx: TxRing,
    rx_socket: OwnedFd,
    tx_socket: OwnedFd,
    ifindex: u32,
    mtu: usize,
    clock: ClockDomain,
    /// The `OPT_ID` keys, when the port asks for TX stamps.
    keys: Option<KeyLog>,
    /// A block reported losses that `PACKET_STATISTICS` could not read yet.
    rx_drops_unread: bool,
    errqueue_control: [u8; CONTROL_BUFFER_LEN],
    counters: Arc<Counters>,
}

impl AfPacketPort {
    /// Opens both sockets on `config.interface` (in the calling thread's network
    /// namespace), sets up and maps both rings, and asks for hardware stamps if
    /// configured.
    pub fn open(config: AfPacketConfig) -> Result<(AfPacketPort, AfPacketControl), OpenError> {
        let interface = config.interface.clone();
        let name = interface_name(&interface)?;
        let io_error = |op: &'static str| {
            let interface = interface.clone();
            move |source| OpenError::Io {
                interface,
                op,
                source,
            }
        };
        let page = page_size();
        check_config(&config, page)?;

        let tx_socket = packet_socket().map_err(|source| match source.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => OpenError::NeedsCapNetRaw {
                interface: interface.clone(),
                source,
            },
            _ => OpenError::Io {
                interface: interface.clone(),
                op: "socket(AF_PACKET, SOCK_RAW)",
                source,
            },
        })?;
        let rx_socket = packet_socket().map_err(io_error("socket(AF_PACKET, SOCK_RAW)"))?;

        // SAFETY: if_nametoindex reads a NUL-terminated string that lives for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(OpenError::NoSuchInterface {
                interface,
                source: io::Error::last_os_error(),
            });
        }
        let mtu = interface_mtu(&tx_socket, &name).map_err(io_error("ioctl(SIOCGIFMTU)"))?;
        // The kernel accepts MTU + Ethernet header, + 4 for an 802.1Q-tagged frame.
        let max_frame = mtu + layout::ETH_HEADER_LEN + layout::VLAN_TAG_LEN;
        // In a block, a frame's network header sits at TPACKET_ALIGN(TPACKET3_HDRLEN
        // + 16) behind its frame header (tpacket_rcv); this counts the MAC header
        // twice, which leaves a little to spare.
        let rx_frame_room = block::SIZE
            + layout::tpacket_align(
                layout::tpacket_align(layout::TPACKET3_HDRLEN + 16) + max_frame,
            );
        if (config.rx_block_size as usize) < rx_frame_room {
            return Err(OpenError::Config {
                interface,
                key: "rx_block_size",
                value: config.rx_block_size.to_string(),
                valid: format!(
                    "a block must hold one frame of the interface's MTU ({mtu}): at least \
                     {rx_frame_room} bytes, rounded up to a power of two"
                ),
            });
        }

        let timestamping_info = timestamping_info(&tx_socket, &name).ok();
        let hardware = if config.hardware_timestamps {
            HardwareStamping::from_answer(set_hardware_stamping(
                &tx_socket,
                &name,
                HwTimestampConfig::ALL,
            ))
        } else {
            HardwareStamping::NotRequested
        };
        let clock = hardware.clock_domain();

        // TX: V2 frames, malformed frames skipped rather than stalling the ring.
        set_int(&tx_socket, libc::PACKET_VERSION, layout::TPACKET_V2)
            .map_err(io_error("setsockopt(PACKET_VERSION, TPACKET_V2)"))?;
        set_int(&tx_socket, libc::PACKET_LOSS, 1).map_err(io_error("setsockopt(PACKET_LOSS)"))?;
        if config.qdisc_bypass {
            set_int(&tx_socket, libc::PACKET_QDISC_BYPASS, 1)
                .map_err(io_error("setsockopt(PACKET_QDISC_BYPASS)"))?;
        }
        // Every slot starts with a virtio_net_hdr whose hdr_len makes the kernel copy
        // the frame into the skb rather than attach the ring's pages (TX_LINEAR_MAX).
        // Must come before the ring is set up.
        set_int(&tx_socket, libc::PACKET_VNET_HDR, 1)
            .map_err(io_error("setsockopt(PACKET_VNET_HDR)"))?;
        if config.tx_timestamps {
            let tx_flags = if hardware.is_enabled() {
                SOF_TIMESTAMPING_TX_HARDWARE
                    | SOF_TIMESTAMPING_RAW_HARDWARE
                    | SOF_TIMESTAMPING_OPT_ID
                    | SOF_TIMESTAMPING_OPT_TSONLY
            } else {
                SOF_TIMESTAMPING_TX_SOFTWARE
                    | SOF_TIMESTAMPING_SOFTWARE
                    | SOF_TIMESTAMPING_OPT_ID
                    | SOF_TIMESTAMPING_OPT_TSONLY
            };
            timestamp::enable(&tx_socket, tx_flags)
                .map_err(io_error("setsockopt(SO_TIMESTAMPING) on the TX socket"))?;
        }
        let tx_frame_size = (layout::TX_FRAME_OFFSET + max_frame).next_power_of_two() as u32;
        let tx_block_size = tx_frame_size.max(page as u32);
        let frames_per_block = tx_block_size / tx_frame_size;
        let tx_frames = config.tx_frames.max(frames_per_block);
        let tx_request = libc::tpacket_req {
            tp_block_size: tx_block_size,
            tp_block_nr: tx_frames / frames_per_block,
            tp_frame_size: tx_frame_size,
            tp_frame_nr: tx_frames,
        };
        // Room in the send buffer for a full ring in flight; SO_SNDBUFFORCE passes
        // net.core.wmem_max when we may, SO_SNDBUF is capped by it otherwise.
        let sndbuf = (tx_frames * (tx_frame_size + 1024)).min(i32::MAX as u32) as libc::c_int;
        if set_option(&tx_socket, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &sndbuf).is_err() {
            set_option(&tx_socket, libc::SOL_SOCKET, libc::SO_SNDBUF, &sndbuf)
                .map_err(io_error("setsockopt(SO_SNDBUF)"))?;
        }
        set_option(
            &tx_socket,
            libc::SOL_PACKET,
            libc::PACKET_TX_RING,
            &tx_request,
        )
        .map_err(io_error("setsockopt(PACKET_TX_RING)"))?;
        let tx_map = map_ring(&tx_socket, tx_frames as usize * tx_frame_size as usize)
            .map_err(io_error("mmap(PACKET_TX_RING)"))?;
        // Protocol 0: the TX socket is bound to the device but receives nothing.
        bind_to(&tx_socket, ifindex, 0).map_err(io_error("bind(TX socket)"))?;

        // RX: a V3 ring, bound last so that no frame of another interface slips in
        // before the bind narrows the socket to ours.
        set_int(&rx_socket, libc::PACKET_VERSION, layout::TPACKET_V3)
            .map_err(io_error("setsockopt(PACKET_VERSION, TPACKET_V3)"))?;
        if hardware.is_enabled() {
            set_int(
                &rx_socket,
                libc::PACKET_TIMESTAMP,
                SOF_TIMESTAMPING_RAW_HARDWARE as libc::c_int,
            )
            .map_err(io_error("setsockopt(PACKET_TIMESTAMP)"))?;
        }
        // Switches the kernel's receive stamping on, so frames are stamped when they
        // enter the stack rather than when they are copied into the ring.
        timestamp::enable(
            &rx_socket,
            SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE,
        )
        .map_err(io_error("setsockopt(SO_TIMESTAMPING) on the RX socket"))?;
        if !config.tap {
            set_int(&rx_socket, libc::PACKET_IGNORE_OUTGOING, 1)
                .map_err(io_error("setsockopt(PACKET_IGNORE_OUTGOING)"))?;
        }
        const RX_FRAME_SIZE: u32 = 2048;
        let rx_request = libc::tpacket_req3 {
            tp_block_size: config.rx_block_size,
            tp_block_nr: config.rx_block_count,
            tp_frame_size: RX_FRAME_SIZE,
            tp_frame_nr: config.rx_block_count * (config.rx_block_size / RX_FRAME_SIZE),
            tp_retire_blk_tov: config.rx_retire_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(
            &rx_socket,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            &rx_request,
        )
        .map_err(io_error("setsockopt(PACKET_RX_RING)"))?;
        let rx_map = map_ring(
            &rx_socket,
            config.rx_block_size as usize * config.rx_block_count as usize,
        )
        .map_err(io_error("mmap(PACKET_RX_RING)"))?;
        let rx_protocol = if config.rx { libc::ETH_P_ALL as u16 } else { 0 };
        bind_to(&rx_socket, ifindex, rx_protocol).map_err(io_error("bind(RX socket)"))?;

        let counters = Arc::new(Counters::default());
        let port = AfPacketPort {
            rx: RxRing {
                map: rx_map,
                block_size: config.rx_block_size as usize,
                block_count: config.rx_block_count as usize,
                block: 0,
                remaining: 0,
                offset: 0,
            },
            tx: TxRing {
                map: tx_map,
                frame_size: tx_frame_size as usize,
                frame_count: tx_frames as usize,
                head: 0,
                kernel: 0,
                tail: 0,
            },
            rx_socket,
            tx_socket,
            ifindex,
            mtu,
            clock,
            keys: config
                .tx_timestamps
                .then(|| KeyLog::new((4 * tx_frames as usize).max(1 << 14))),
            rx_drops_unread: false,
            errqueue_control: [0; CONTROL_BUFFER_LEN],
            counters: Arc::clone(&counters),
        };
        let control = AfPacketControl {
            counters,
            interface: interface.into(),
            hardware,
            timestamping_info,
            tx_timestamps: config.tx_timestamps,
        };
        Ok((port, control))
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The longest frame [`Port::send_burst`] takes: MTU plus the Ethernet header,
    /// plus 4 for a frame with an 802.1Q tag.
    pub fn max_frame_len(&self, tagged: bool) -> usize {
        self.mtu + layout::ETH_HEADER_LEN + if tagged { layout::VLAN_TAG_LEN } else { 0 }
    }

    /// Frames taken by `send_burst` that the kernel has not taken yet (the send
    /// buffer was full, or the device refused the first of them): they go with the
    /// next `send_burst`, which may be empty.
    pub fn pending(&self) -> usize {
        (self.tx.head - self.tx.kernel) as usize
    }

    /// Receives like [`Port::recv_burst`], and writes which way each frame went into
    /// `directions[i]`; up to the shortest of the three slices.
    pub fn recv_burst_with_direction(
        &mut self,
        buffers: &mut [&mut [u8]],
        meta: &mut [RxMeta],
        directions: &mut [Direction],
    ) -> Result<usize, Error> {
        let limit = buffers.len().min(directions.len());
        self.receive(&mut buffers[..limit], meta, Some(directions))
    }

    /// Reads the kernel's count of frames dropped because the RX ring was full
    /// (`PACKET_STATISTICS`, which resets it), adds it to the total the control
    /// handle shows and returns the total. The port does this by itself when a
    /// block says frames were lost; call it at the end of a run for the last word.
    pub fn refresh_rx_drops(&mut self) -> Result<u64, Error> {
        // SAFETY: tpacket_stats_v3 is plain old data; all-zero is valid.
        let mut stats: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `stats` is writable for `len` bytes and `len` is live for the call;
        // the fd is open for the borrow.
        let rc = unsafe {
            libc::getsockopt(
                self.rx_socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(Error::Io {
                op: "getsockopt(PACKET_STATISTICS)",
                source: io::Error::last_os_error(),
            });
        }
        bump(&self.counters.rx_dropped, u64::from(stats.tp_drops));
        Ok(self.counters.rx_dropped.load(Ordering::Relaxed))
    }

    fn receive(
        &mut self,
        buffers: &mut [&mut [u8]],
        meta: &mut [RxMeta],
        directions: Option<&mut [Direction]>,
    ) -> Result<usize, Error> {
        let pass = self.rx.receive(self.clock, buffers, meta, directions);
        bump(&self.counters.port.rx_packets, pass.received as u64);
        bump(&self.counters.port.rx_bytes, pass.bytes);
        bump(&self.counters.rx_unstamped, pass.unstamped);
        if pass.malformed {
            return Err(Error::Io {
                op: "reading the TPACKET_V3 RX ring (a frame runs past its block; the block was skipped)",
                source: io::Error::from_raw_os_error(libc::EPROTO),
            });
        }
        if pass.losing || self.rx_drops_unread {
            match self.refresh_rx_drops() {
                Ok(_) => self.rx_drops_unread = false,
                // The frames of this pass are the caller's: the error waits for a
                // call that has none.
                Err(_) if pass.received > 0 => self.rx_drops_unread = true,
                Err(error) => return Err(error),
            }
        }
        Ok(pass.received)
    }

    /// One `send` for every frame waiting in the ring, then the accounting of what
    /// the kernel took ([`TxRing::account`]).
    fn kick(&mut self) -> Result<(), Error> {
        if self.tx.kernel == self.tx.head {
            return Ok(());
        }
        // SAFETY: a zero-length send with no buffer; the fd is open for the borrow.
        let rc = unsafe {
            libc::send(
                self.tx_socket.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
            )
        };
        let errno = (rc < 0).then(|| {
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        });
        let kicked = self.tx.account(self.keys.as_mut(), errno);
        bump(&self.counters.port.tx_packets, kicked.packets);
        bump(&self.counters.port.tx_bytes, kicked.bytes);
        bump(&self.counters.port.tx_failed, u64::from(kicked.refused));
        match errno {
            None | Some(libc::EAGAIN | libc::EINTR | libc::ENOBUFS) => Ok(()),
            Some(errno) => Err(Error::Io {
                op: "send(PACKET_TX_RING)",
                source: io::Error::from_raw_os_error(errno),
            }),
        }
    }
}

impl Port for AfPacketPort {
    fn send_burst(&mut self, packets: &[&[u8]]) -> Result<SentBurst, Error> {
        self.tx.reclaim();
        let count = packets.len().min(self.tx.free());
        let packets = &packets[..count];
        for packet in packets {
            if packet.len() < layout::ETH_HEADER_LEN {
                return Err(Error::Io {
                    op: "send_burst (a frame shorter than its 14-byte Ethernet header)",
                    source: io::Error::from_raw_os_error(libc::EINVAL),
                });
            }
            let tagged = packet[12..14] == layout::ETH_P_8021Q.to_be_bytes();
            let max = self.max_frame_len(tagged);
            if packet.len() > max {
                return Err(Error::PacketTooLarge {
                    len: packet.len(),
                    max,
                });
            }
        }
        let first = self.tx.head;
        for packet in packets {
            self.tx.push(packet);
        }
        if let Err(error) = self.kick() {
            // The kick failed before the kernel looked at any frame (a device that is
            // down or gone): this burst's frames are given back, untaken.
            self.tx.rewind(first);
            return Err(error);
        }
        Ok(SentBurst {
            first_id: first as u32,
            count,
        })
    }

    fn flush(&mut self) -> Result<(), Error> {
        // A kick with nothing queued returns before the syscall.
        self.kick()
    }

    fn poll_tx_timestamps(&mut self, out: &mut [TxTimestamp]) -> Result<usize, Error> {
        let Some(keys) = self.keys.as_ref() else {
            // No TX stamps asked for: none to read, and no syscall to find that out.
            return Ok(0);
        };
        let (mut written, mut unmatched) = (0, 0);
        while written < out.len() {
            let parsed = match super::next_error_report(&self.tx_socket, &mut self.errqueue_control)
            {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(error) => {
                    bump(&self.counters.port.tx_timestamps, written as u64);
                    bump(&self.counters.port.tx_timestamps_unmatched, unmatched);
                    return Err(error);
                }
            };
            let matched = parsed
                .tx
                .filter(|report| report.tstamp_type == SCM_TSTAMP_SND)
                .and_then(|report| keys.lookup(report.id))
                .and_then(|attempt| match attempt {
                    Attempt::Sent(id) => Some((id, parsed.stamp(self.clock)?)),
                    // A stamp of an attempt the kernel counted as failed: the frame
                    // went again and its stamp is the later one.
                    Attempt::Refused => None,
                });
            match matched {
                Some((id, stamp)) => {
                    out[written] = TxTimestamp { id, stamp };
                    written += 1;
                }
                None => unmatched += 1,
            }
        }
        bump(&self.counters.port.tx_timestamps, written as u64);
        bump(&self.counters.port.tx_timestamps_unmatched, unmatched);
        Ok(written)
    }

    fn recv_burst(
        &mut self,
        buffers: &mut [&mut [u8]],
        meta: &mut [RxMeta],
    ) -> Result<usize, Error> {
        self.receive(buffers, meta, None)
    }
}

/// Checks what can be checked before any syscall.
fn check_config(config: &AfPacketConfig, page: usize) -> Result<(), OpenError> {
    let invalid = |key: &'static str, value: u32, valid: String| OpenError::Config {
        interface: config.interface.clone(),
        key,
        value: value.to_string(),
        valid,
    };
    if config.tap && config.qdisc_bypass {
        return Err(OpenError::Config {
            interface: config.interface.clone(),
            key: "qdisc_bypass",
            value: "true".into(),
            valid: "a tap must send through the qdisc: frames that bypass it are invisible \
                    to every tap, so the port would not see its own frames leave"
                .into(),
        });
    }
    let block = config.rx_block_size as usize;
    if !block.is_power_of_two() || block < page || block > 1 << 30 {
        return Err(invalid(
            "rx_block_size",
            config.rx_block_size,
            format!("a power of two from the page size ({page}) to 1 GiB"),
        ));
    }
    if config.rx_block_count == 0 || block.saturating_mul(config.rx_block_count as usize) > 1 << 32
    {
        return Err(invalid(
            "rx_block_count",
            config.rx_block_count,
            "at least 1, and rx_block_size * rx_block_count at most 4 GiB".into(),
        ));
    }
    if !config.tx_frames.is_power_of_two() || !(16..=1 << 16).contains(&config.tx_frames) {
        return Err(invalid(
            "tx_frames",
            config.tx_frames,
            "a power of two from 16 to 65536".into(),
        ));
    }
    Ok(())
}

/// The interface name as the kernel takes it: at most 15 bytes, no NUL.
fn interface_name(interface: &str) -> Result<CString, OpenError> {
    let valid = !interface.is_empty() && interface.len() < libc::IFNAMSIZ;
    match CString::new(interface) {
        Ok(name) if valid => Ok(name),
        _ => Err(OpenError::Config {
            interface: interface.to_string(),
            key: "interface",
            value: format!("{interface:?}"),
            valid: format!(
                "an interface name of 1 to {} bytes without NUL",
                libc::IFNAMSIZ - 1
            ),
        }),
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf takes no pointers.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096)
}

fn read_array<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    if let Some(bytes) = data.get(at..at + N) {
        out.copy_from_slice(bytes);
    }
    out
}

fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(read_array(data, at))
}

fn read_u16(data: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes(read_array(data, at))
}

fn put_i32(data: &mut [u8], at: usize, value: i32) {
    data[at..at + 4].copy_from_slice(&value.to_ne_bytes());
}

// The unsafe edge: thin wrappers over the syscalls above, each turning its return
// code into an `io::Result` on the spot.

/// `socket(AF_PACKET, SOCK_RAW, 0)`: protocol 0 receives nothing until bound.
fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(level, name, value)` for a plain-old-data `value`.
fn set_option<T>(
    socket: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is live for the call and the length passed is its size; the fd
    // is open for the borrow.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_int(socket: &OwnedFd, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    set_option(socket, libc::SOL_PACKET, name, &value)
}

/// `bind` to `ifindex` for `protocol` (host order; 0 receives nothing).
fn bind_to(socket: &OwnedFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol.to_be();
    address.sll_ifindex = ifindex as i32;
    // SAFETY: `address` is live for the call and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&address as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Maps a ring, pre-faulted so the first frames take no page faults.
fn map_ring(socket: &OwnedFd, len: usize) -> io::Result<MmapRaw> {
    MmapOptions::new().len(len).populate().map_raw(socket)
}

/// An `ioctl` on `name` with `ifr_data` pointing at `data`.
fn ioctl_with_data(
    socket: &OwnedFd,
    name: &CString,
    request: libc::c_ulong,
    data: &mut [u8],
) -> io::Result<()> {
    // SAFETY: ifreq is plain old data; all-zero is valid.
    let mut request_block: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request_block.ifr_name.iter_mut().zip(name.as_bytes()) {
        *to = *from as libc::c_char;
    }
    request_block.ifr_ifru.ifru_data = data.as_mut_ptr().cast();
    // SAFETY: `request_block` and the `data` it points to are live and writable for
    // the call, and `data` is the size of the structure `request` reads and writes.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), request, &mut request_block) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn interface_mtu(socket: &OwnedFd, name: &CString) -> io::Result<usize> {
    // SAFETY: ifreq is plain old data; all-zero is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request.ifr_name.iter_mut().zip(name.as_bytes()) {
        *to = *from as libc::c_char;
    }
    // SAFETY: `request` is live and writable for the call; SIOCGIFMTU writes ifru_mtu.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU, &mut request) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFMTU succeeded, so the union holds the MTU.
    let mtu = unsafe { request.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `SIOCSHWTSTAMP` with `wanted`; the driver's applied configuration or the errno.
fn set_hardware_stamping(
    socket: &OwnedFd,
    name: &CString,
    wanted: HwTimestampConfig,
) -> Result<HwTimestampConfig, i32> {
    let mut bytes = wanted.to_bytes();
    ioctl_with_data(socket, name, libc::SIOCSHWTSTAMP, &mut bytes)
        .map_err(|error| error.raw_os_error().unwrap_or(libc::EIO))?;
    Ok(HwTimestampConfig::from_bytes(&bytes))
}

fn timestamping_info(socket: &OwnedFd, name: &CString) -> io::Result<TimestampingInfo> {
    let mut bytes = [0u8; layout::ethtool_ts_info::SIZE];
    bytes[..4].copy_from_slice(&layout::ETHTOOL_GET_TS_INFO.to_ne_bytes());
    ioctl_with_data(socket, name, libc::SIOCETHTOOL, &mut bytes)?;
    Ok(TimestampingInfo::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nic::timestamp::{
        ControlError, ParsedControl, TxReport, CMSGHDR_LEN, SOCK_EXTENDED_ERR_LEN,
        SO_EE_ORIGIN_TIMESTAMPING,
    };
    use crate::nic::timestamp::{SCM_TIMESTAMPING, SOL_SOCKET};
    use std::process::Command;

    /// C expressions over the kernel's headers and the values this file assumes.
    fn layout_checks() -> Vec<(&'static str, u64)> {
        use layout::{ethtool_ts_info as ts, hwtstamp_config as hw, sll};
        let size = |n: usize| n as u64;
        vec![
            ("sizeof(struct tpacket3_hdr)", size(v3::SIZE)),
            (
                "offsetof(struct tpacket3_hdr, tp_next_offset)",
                size(v3::NEXT_OFFSET),
            ),
            ("offsetof(struct tpacket3_hdr, tp_sec)", size(v3::SEC)),
            ("offsetof(struct tpacket3_hdr, tp_nsec)", size(v3::NSEC)),
            (
                "offsetof(struct tpacket3_hdr, tp_snaplen)",
                size(v3::SNAPLEN),
            ),
            ("offsetof(struct tpacket3_hdr, tp_len)", size(v3::LEN)),
            ("offsetof(struct tpacket3_hdr, tp_status)", size(v3::STATUS)),
            ("offsetof(struct tpacket3_hdr, tp_mac)", size(v3::MAC)),
            ("offsetof(struct tpacket3_hdr, tp_net)", size(v3::NET)),
            (
                "offsetof(struct tpacket3_hdr, hv1.tp_vlan_tci)",
                size(v3::VLAN_TCI),
            ),
            (
                "offsetof(struct tpacket3_hdr, hv1.tp_vlan_tpid)",
                size(v3::VLAN_TPID),
            ),
            ("sizeof(((struct tpacket3_hdr *)0)->hv1.tp_vlan_tci)", 4),
            ("sizeof(struct tpacket2_hdr)", size(v2::SIZE)),
            ("offsetof(struct tpacket2_hdr, tp_status)", size(v2::STATUS)),
            ("offsetof(struct tpacket2_hdr, tp_len)", size(v2::LEN)),
            (
                "offsetof(struct tpacket2_hdr, tp_snaplen)",
                size(v2::SNAPLEN),
            ),
            ("offsetof(struct tpacket2_hdr, tp_mac)", size(v2::MAC)),
            ("offsetof(struct tpacket2_hdr, tp_net)", size(v2::NET)),
            ("offsetof(struct tpacket2_hdr, tp_sec)", size(v2::SEC)),
            ("offsetof(struct tpacket2_hdr, tp_nsec)", size(v2::NSEC)),
            (
                "offsetof(struct tpacket2_hdr, tp_vlan_tci)",
                size(v2::VLAN_TCI),
            ),
            (
                "offsetof(struct tpacket2_hdr, tp_vlan_tpid)",
                size(v2::VLAN_TPID),
            ),
            ("sizeof(struct tpacket_block_desc)", size(block::SIZE)),
            (
                "offsetof(struct tpacket_block_desc, hdr.bh1.block_status)",
                size(block::BLOCK_STATUS),
            ),
            (
                "offsetof(struct tpacket_block_desc, hdr.bh1.num_pkts)",
                size(block::NUM_PKTS),
            ),
            (
                "offsetof(struct tpacket_block_desc, hdr.bh1.offset_to_first_pkt)",
                size(block::OFFSET_TO_FIRST_PKT),
            ),
            (
                "offsetof(struct tpacket_block_desc, hdr.bh1.blk_len)",
                size(block::BLK_LEN),
            ),
            ("TPACKET_ALIGNMENT", size(layout::TPACKET_ALIGNMENT)),
            (
                "TPACKET_ALIGN(sizeof(struct tpacket3_hdr))",
                size(layout::tpacket_align(v3::SIZE)),
            ),
            ("TPACKET2_HDRLEN", size(layout::TPACKET2_HDRLEN)),
            ("TPACKET3_HDRLEN", size(layout::TPACKET3_HDRLEN)),
            (
                "TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)",
                size(layout::TX_DATA_OFFSET),
            ),
            (
                "sizeof(struct virtio_net_hdr)",
                size(layout::virtio_net_hdr::SIZE),
            ),
            (
                "offsetof(struct virtio_net_hdr, flags)",
                size(layout::virtio_net_hdr::FLAGS),
            ),
            (
                "offsetof(struct virtio_net_hdr, gso_type)",
                size(layout::virtio_net_hdr::GSO_TYPE),
            ),
            (
                "offsetof(struct virtio_net_hdr, hdr_len)",
                size(layout::virtio_net_hdr::HDR_LEN),
            ),
            ("VIRTIO_NET_HDR_GSO_NONE", 0),
            ("PACKET_VNET_HDR", libc::PACKET_VNET_HDR as u64),
            ("sizeof(struct sockaddr_ll)", size(sll::SIZE)),
            (
                "offsetof(struct sockaddr_ll, sll_pkttype)",
                size(sll::PKTTYPE),
            ),
            (
                "sizeof(struct tpacket_req)",
                size(std::mem::size_of::<libc::tpacket_req>()),
            ),
            (
                "sizeof(struct tpacket_req3)",
                size(std::mem::size_of::<libc::tpacket_req3>()),
            ),
            (
                "sizeof(struct tpacket_stats_v3)",
                size(std::mem::size_of::<libc::tpacket_stats_v3>()),
            ),
            (
                "sizeof(struct sockaddr_ll)",
                size(std::mem::size_of::<libc::sockaddr_ll>()),
            ),
            ("TPACKET_V2", layout::TPACKET_V2 as u64),
            ("TPACKET_V3", layout::TPACKET_V3 as u64),
            ("TP_STATUS_KERNEL", u64::from(libc::TP_STATUS_KERNEL)),
            ("TP_STATUS_USER", u64::from(libc::TP_STATUS_USER)),
            ("TP_STATUS_LOSING", u64::from(libc::TP_STATUS_LOSING)),
            (
                "TP_STATUS_VLAN_VALID",
                u64::from(libc::TP_STATUS_VLAN_VALID),
            ),
            (
                "TP_STATUS_VLAN_TPID_VALID",
                u64::from(libc::TP_STATUS_VLAN_TPID_VALID),
            ),
            ("TP_STATUS_AVAILABLE", u64::from(libc::TP_STATUS_AVAILABLE)),
            (
                "TP_STATUS_SEND_REQUEST",
                u64::from(libc::TP_STATUS_SEND_REQUEST),
            ),
            ("TP_STATUS_SENDING", u64::from(libc::TP_STATUS_SENDING)),
            (
                "TP_STATUS_WRONG_FORMAT",
                u64::from(libc::TP_STATUS_WRONG_FORMAT),
            ),
            (
                "TP_STATUS_TS_SOFTWARE",
                u64::from(libc::TP_STATUS_TS_SOFTWARE),
            ),
            (
                "TP_STATUS_TS_SYS_HARDWARE",
                u64::from(libc::TP_STATUS_TS_SYS_HARDWARE),
            ),
            (
                "TP_STATUS_TS_RAW_HARDWARE",
                u64::from(libc::TP_STATUS_TS_RAW_HARDWARE),
            ),
            ("SOL_PACKET", libc::SOL_PACKET as u64),
            ("PACKET_RX_RING", libc::PACKET_RX_RING as u64),
            ("PACKET_TX_RING", libc::PACKET_TX_RING as u64),
            ("PACKET_VERSION", libc::PACKET_VERSION as u64),
            ("PACKET_LOSS", libc::PACKET_LOSS as u64),
            ("PACKET_TIMESTAMP", libc::PACKET_TIMESTAMP as u64),
            ("PACKET_QDISC_BYPASS", libc::PACKET_QDISC_BYPASS as u64),
            (
                "PACKET_IGNORE_OUTGOING",
                libc::PACKET_IGNORE_OUTGOING as u64,
            ),
            ("PACKET_STATISTICS", libc::PACKET_STATISTICS as u64),
            ("PACKET_TX_TIMESTAMP", libc::PACKET_TX_TIMESTAMP as u64),
            ("PACKET_HOST", u64::from(libc::PACKET_HOST)),
            ("PACKET_BROADCAST", u64::from(libc::PACKET_BROADCAST)),
            ("PACKET_MULTICAST", u64::from(libc::PACKET_MULTICAST)),
            ("PACKET_OTHERHOST", u64::from(libc::PACKET_OTHERHOST)),
            ("PACKET_OUTGOING", u64::from(libc::PACKET_OUTGOING)),
            ("ETH_P_ALL", libc::ETH_P_ALL as u64),
            ("ETH_P_8021Q", u64::from(layout::ETH_P_8021Q)),
            ("ETH_HLEN", size(layout::ETH_HEADER_LEN)),
            ("sizeof(struct hwtstamp_config)", size(hw::SIZE)),
            ("offsetof(struct hwtstamp_config, flags)", size(hw::FLAGS)),
            (
                "offsetof(struct hwtstamp_config, tx_type)",
                size(hw::TX_TYPE),
            ),
            (
                "offsetof(struct hwtstamp_config, rx_filter)",
                size(hw::RX_FILTER),
            ),
            ("HWTSTAMP_TX_ON", u64::from(libc::HWTSTAMP_TX_ON)),
            ("HWTSTAMP_FILTER_ALL", u64::from(libc::HWTSTAMP_FILTER_ALL)),
            ("SIOCSHWTSTAMP", libc::SIOCSHWTSTAMP),
            ("SIOCETHTOOL", libc::SIOCETHTOOL),
            ("SIOCGIFMTU", libc::SIOCGIFMTU),
            (
                "ETHTOOL_GET_TS_INFO",
                u64::from(layout::ETHTOOL_GET_TS_INFO),
            ),
            ("sizeof(struct ethtool_ts_info)", size(ts::SIZE)),
            (
                "offsetof(struct ethtool_ts_info, so_timestamping)",
                size(ts::SO_TIMESTAMPING),
            ),
            (
                "offsetof(struct ethtool_ts_info, phc_index)",
                size(ts::PHC_INDEX),
            ),
            (
                "offsetof(struct ethtool_ts_info, tx_types)",
                size(ts::TX_TYPES),
            ),
            (
                "offsetof(struct ethtool_ts_info, rx_filters)",
                size(ts::RX_FILTERS),
            ),
            (
                "sizeof(struct sock_extended_err)",
                size(SOCK_EXTENDED_ERR_LEN),
            ),
            (
                "SO_EE_ORIGIN_TIMESTAMPING",
                u64::from(SO_EE_ORIGIN_TIMESTAMPING),
            ),
            ("SCM_TSTAMP_SND", u64::from(SCM_TSTAMP_SND)),
            ("CAP_NET_RAW", u64::from(CAP_NET_RAW)),
            (
                "_LINUX_CAPABILITY_VERSION_3",
                u64::from(LINUX_CAPABILITY_VERSION_3),
            ),
        ]
    }

    /// Compiles a C program printing every expression of [`layout_checks`] with the
    /// system's compiler (`$CC`, else `cc`) and compares.
    #[test]
    fn layouts_and_constants_match_the_c_headers() {
        let checks = layout_checks();
        let mut source = String::from(
            "#include <stdio.h>\n#include <stddef.h>\n#include <sys/socket.h>\n\
             #include <linux/if_packet.h>\n#include <linux/if_ether.h>\n\
             #include <linux/net_tstamp.h>\n#include <linux/sockios.h>\n\
             #include <linux/ethtool.h>\n#include <linux/errqueue.h>\n\
             #include <linux/capability.h>\n#include <linux/virtio_net.h>\n\
             int main(void) {\n",
        );
        for (expression, _) in &checks {
            source += &format!("    printf(\"%llu\\n\", (unsigned long long)({expression}));\n");
        }
        source += "    return 0;\n}\n";
        let dir = tempfile::tempdir().expect("a temporary directory");
        let c_file = dir.path().join("layout.c");
        let binary = dir.path().join("layout");
        std::fs::write(&c_file, source).expect("write the C program");
        let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let built = Command::new(&compiler)
            .arg("-o")
            .arg(&binary)
            .arg(&c_file)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "the layout check compiles a C program with `{compiler}` (set CC to use \
                     another compiler; the kernel headers come from linux-libc-dev): {e}"
                )
            });
        assert!(
            built.status.success(),
            "`{compiler}` could not compile the layout check ({}): {}",
            built.status,
            String::from_utf8_lossy(&built.stderr)
        );
        let run = Command::new(&binary)
            .output()
            .expect("run the layout check");
        assert!(
            run.status.success(),
            "the layout check failed: {}",
            run.status
        );
        let printed = String::from_utf8(run.stdout).expect("numbers");
        let values: Vec<u64> = printed.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(values.len(), checks.len());
        let wrong: Vec<String> = checks
            .iter()
            .zip(&values)
            .filter(|((_, ours), c)| ours != *c)
            .map(|((expression, ours), c)| format!("{expression}: C says {c}, Rust has {ours}"))
            .collect();
        assert!(
            wrong.is_empty(),
            "layouts differ from the C headers:\n{}",
            wrong.join("\n")
        );
    }

    /// `include/uapi/linux/capability.h`.
    const CAP_NET_RAW: u32 = 13;
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

    /// Clears `CAP_NET_RAW` from the calling thread's effective set (capabilities
    /// are per thread; lowering them needs no privilege).
    fn drop_cap_net_raw_on_this_thread() {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let mut header = Header {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: the header and the two data words version 3 uses are live and
        // writable for the call.
        let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
        assert_eq!(rc, 0, "capget: {}", io::Error::last_os_error());
        data[0].effective &= !(1 << CAP_NET_RAW);
        // SAFETY: as above; capset(pid 0) changes only this thread.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
        assert_eq!(rc, 0, "capset: {}", io::Error::last_os_error());
    }

    #[test]
    fn without_cap_net_raw_the_error_says_so() {
        let error = std::thread::spawn(|| {
            drop_cap_net_raw_on_this_thread();
            AfPacketPort::open(AfPacketConfig::new("lo")).err()
        })
        .join()
        .unwrap();
        let error = error.expect("AF_PACKET opened without CAP_NET_RAW");
        let OpenError::NeedsCapNetRaw { interface, source } = &error else {
            panic!("expected NeedsCapNetRaw, got {error:?}");
        };
        assert_eq!(interface, "lo");
        assert_eq!(source.raw_os_error(), Some(libc::EPERM));
        assert!(
            error
                .to_string()
                .starts_with("AF_PACKET on lo needs CAP_NET_RAW: run as root or grant"),
            "{error}"
        );
    }

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((CMSGHDR_LEN + data.len()) as u64).to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(data);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out
    }

    /// `recvmsg(MSG_ERRQUEUE)` on the TX socket of a port on a veth (Linux 6.18,
    /// x86_64), recorded: SCM_TIMESTAMPING with ts[0] 1795560289.668877161, then
    /// SOL_PACKET (263) / PACKET_TX_TIMESTAMP (16) with the sock_extended_err: errno
    /// ENOMSG, origin SO_EE_ORIGIN_TIMESTAMPING, info SCM_TSTAMP_SND, data (key) 1.
    #[rustfmt::skip]
    const RECORDED_TX_SOFTWARE: [u8; 96] = [
        64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 37, 0, 0, 0,
        97, 19, 6, 107, 0, 0, 0, 0, 105, 65, 222, 39, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        32, 0, 0, 0, 0, 0, 0, 0, 7, 1, 0, 0, 16, 0, 0, 0,
        42, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    ];

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn a_recorded_software_tx_report_parses() {
        let report = timestamp::parse_control(&RECORDED_TX_SOFTWARE).unwrap();
        assert_eq!(
            report,
            ParsedControl {
                software_ns: Some(1_795_560_289_668_877_161),
                hardware_ns: None,
                tx: Some(TxReport {
                    id: 1,
                    tstamp_type: SCM_TSTAMP_SND,
                }),
            }
        );
        assert_eq!(
            report.stamp(ClockDomain::KernelSoftware),
            Some(KernelTimestamp {
                clock: ClockDomain::KernelSoftware,
                ns: 1_795_560_289_668_877_161,
                tx_id: Some(1)
            })
        );
        assert_eq!(report.stamp(ClockDomain::NicHardware), None);
    }

    /// A hardware report as a PHC-stamping NIC gives it (ts[0] empty, ts[2] raw PHC
    /// time 1234.000000777 s), key 41.
    fn hardware_tx_report() -> Vec<u8> {
        let mut stamps = [0u8; 48];
        stamps[32..40].copy_from_slice(&1234i64.to_ne_bytes());
        stamps[40..48].copy_from_slice(&777i64.to_ne_bytes());
        let mut err = [0u8; 16];
        err[0..4].copy_from_slice(&(libc::ENOMSG as u32).to_ne_bytes());
        err[4] = SO_EE_ORIGIN_TIMESTAMPING;
        err[8..12].copy_from_slice(&SCM_TSTAMP_SND.to_ne_bytes());
        err[12..16].copy_from_slice(&41u32.to_ne_bytes());
        let mut control = cmsg(SOL_SOCKET, SCM_TIMESTAMPING, &stamps);
        control.extend(cmsg(libc::SOL_PACKET, libc::PACKET_TX_TIMESTAMP, &err));
        control
    }

    #[test]
    fn a_hardware_tx_report_is_in_the_nic_domain_only() {
        let report = timestamp::parse_control(&hardware_tx_report()).unwrap();
        assert_eq!(report.tx.map(|r| r.id), Some(41));
        assert_eq!(report.software_ns, None);
        assert_eq!(report.hardware_ns, Some(1_234_000_000_777));
        assert_eq!(
            report.stamp(ClockDomain::NicHardware),
            Some(KernelTimestamp {
                clock: ClockDomain::NicHardware,
                ns: 1_234_000_000_777,
                tx_id: Some(41)
            })
        );
        assert_eq!(report.stamp(ClockDomain::KernelSoftware), None);
    }

    #[test]
    fn messages_that_are_no_tx_report_give_none_and_broken_framing_an_error() {
        // An error of another origin (ICMP) in a SOL_PACKET message.
        let mut err = [0u8; 16];
        err[0..4].copy_from_slice(&(libc::EHOSTUNREACH as u32).to_ne_bytes());
        err[4] = 2;
        let control = cmsg(libc::SOL_PACKET, libc::PACKET_TX_TIMESTAMP, &err);
        assert_eq!(timestamp::parse_control(&control).unwrap().tx, None);
        // A stamp without a report, and nothing at all.
        let stamp_only = cmsg(SOL_SOCKET, SCM_TIMESTAMPING, &[0; 48]);
        assert_eq!(timestamp::parse_control(&stamp_only).unwrap().tx, None);
        assert_eq!(timestamp::parse_control(&[]).unwrap().tx, None);
        // A report too short for its sock_extended_err is an error, never read past.
        let short = cmsg(libc::SOL_PACKET, libc::PACKET_TX_TIMESTAMP, &err[..12]);
        assert_eq!(
            timestamp::parse_control(&short),
            Err(ControlError::Truncated {
                offset: 0,
                level: libc::SOL_PACKET,
                kind: libc::PACKET_TX_TIMESTAMP,
                needed: 16,
                available: 12
            })
        );
        let mut broken = hardware_tx_report();
        broken[64] = 200;
        assert_eq!(
            timestamp::parse_control(&broken),
            Err(ControlError::BadLength {
                offset: 64,
                cmsg_len: 200,
                available: 32
            })
        );
    }

    #[test]
    fn keys_map_to_frames_and_refused_attempts() {
        let mut keys = KeyLog::new(4);
        keys.record(Attempt::Sent(0));
        keys.record(Attempt::Sent(1));
        keys.record(Attempt::Refused);
        keys.record(Attempt::Sent(2));
        assert_eq!(keys.lookup(0), Some(Attempt::Sent(0)));
        assert_eq!(keys.lookup(1), Some(Attempt::Sent(1)));
        assert_eq!(keys.lookup(2), Some(Attempt::Refused));
        assert_eq!(keys.lookup(3), Some(Attempt::Sent(2)));
        // Not handed out yet.
        assert_eq!(keys.lookup(4), None);
        // Pushed out of the window of 4.
        keys.record(Attempt::Sent(3));
        assert_eq!(keys.lookup(0), None);
        assert_eq!(keys.lookup(4), Some(Attempt::Sent(3)));
    }

    #[test]
    fn keys_wrap_around_u32() {
        let mut keys = KeyLog::new(8);
        keys.next_key = u32::MAX;
        keys.record(Attempt::Sent(70));
        keys.record(Attempt::Sent(71));
        assert_eq!(keys.lookup(u32::MAX), Some(Attempt::Sent(70)));
        assert_eq!(keys.lookup(0), Some(Attempt::Sent(71)));
        assert_eq!(keys.lookup(1), None);
        assert_eq!(keys.lookup(u32::MAX - 1), None);
    }

    /// One frame of a synthetic TPACKET_V3 block, laid out as the kernel does.
    struct TestFrame<'a> {
        bytes: &'a [u8],
        /// `tp_len`; `bytes.len()` unless the ring cut the frame.
        len: usize,
        status: u32,
        sec: u32,
        nsec: u32,
        pkttype: u8,
        vlan: Option<(u16, u16)>,
    }

    impl<'a> TestFrame<'a> {
        fn new(bytes: &'a [u8]) -> Self {
            TestFrame {
                bytes,
                len: bytes.len(),
                status: libc::TP_STATUS_TS_SOFTWARE,
                sec: 1_795_560_289,
                nsec: 5,
                pkttype: libc::PACKET_HOST,
                vlan: None,
            }
        }
    }

    /// Where the kernel puts an Ethernet frame behind its header (`macoff`).
    const MAC_OFFSET: usize = 82;

    /// Writes `frames` into the block at `block` with the given block status.
    fn fill_block(block: &mut [u8], status: u32, frames: &[TestFrame]) {
        block.fill(0);
        let put = |block: &mut [u8], at: usize, value: u32| {
            block[at..at + 4].copy_from_slice(&value.to_ne_bytes())
        };
        put(block, block::NUM_PKTS, frames.len() as u32);
        put(block, block::OFFSET_TO_FIRST_PKT, block::SIZE as u32);
        let mut at = block::SIZE;
        for (index, frame) in frames.iter().enumerate() {
            let slot = layout::tpacket_align(MAC_OFFSET + frame.bytes.len());
            let next = if index + 1 < frames.len() { slot } else { 0 };
            put(block, at + v3::NEXT_OFFSET, next as u32);
            put(block, at + v3::SEC, frame.sec);
            put(block, at + v3::NSEC, frame.nsec);
            put(block, at + v3::SNAPLEN, frame.bytes.len() as u32);
            put(block, at + v3::LEN, frame.len as u32);
            let mut status = frame.status;
            if let Some((tpid, tci)) = frame.vlan {
                status |= libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
                put(block, at + v3::VLAN_TCI, u32::from(tci));
                block[at + v3::VLAN_TPID..at + v3::VLAN_TPID + 2]
                    .copy_from_slice(&tpid.to_ne_bytes());
            }
            put(block, at + v3::STATUS, status);
            block[at + v3::MAC..at + v3::MAC + 2]
                .copy_from_slice(&(MAC_OFFSET as u16).to_ne_bytes());
            block[at + layout::tpacket_align(v3::SIZE) + layout::sll::PKTTYPE] = frame.pkttype;
            block[at + MAC_OFFSET..at + MAC_OFFSET + frame.bytes.len()]
                .copy_from_slice(frame.bytes);
            at += slot;
        }
        // The status last, as the kernel does when it retires a block.
        put(block, block::BLOCK_STATUS, status);
    }

    /// An RX ring over anonymous memory, as the kernel's would be mapped.
    fn test_rx_ring(block_size: usize, block_count: usize) -> RxRing {
        let map = MmapOptions::new()
            .len(block_size * block_count)
            .map_anon()
            .expect("anonymous memory");
        RxRing {
            map: MmapRaw::from(map),
            block_size,
            block_count,
            block: 0,
            remaining: 0,
            offset: 0,
        }
    }

    fn rx_block(ring: &mut RxRing, index: usize) -> &mut [u8] {
        // SAFETY: test memory of ours, nothing else maps it.
        unsafe { std::slice::from_raw_parts_mut(ring.block_ptr(index), ring.block_size) }
    }

    fn ethernet(seq: u8, len: usize) -> Vec<u8> {
        let mut frame: Vec<u8> = (0..len as u8).map(|i| i ^ seq).collect();
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame
    }

    #[test]
    fn the_rx_ring_hands_out_frames_across_blocks_and_gives_blocks_back() {
        let mut ring = test_rx_ring(4096, 3);
        let (f0, f1, f2, f3) = (
            ethernet(0, 60),
            ethernet(1, 61),
            ethernet(2, 100),
            ethernet(3, 64),
        );
        fill_block(
            rx_block(&mut ring, 0),
            libc::TP_STATUS_USER,
            &[
                TestFrame::new(&f0),
                TestFrame {
                    pkttype: libc::PACKET_OUTGOING,
                    nsec: 6,
                    ..TestFrame::new(&f1)
                },
                TestFrame {
                    pkttype: libc::PACKET_MULTICAST,
                    nsec: 7,
                    ..TestFrame::new(&f2)
                },
            ],
        );
        fill_block(
            rx_block(&mut ring, 1),
            libc::TP_STATUS_USER | libc::TP_STATUS_LOSING,
            &[TestFrame {
                sec: 1_795_560_290,
                nsec: 0,
                ..TestFrame::new(&f3)
            }],
        );
        // Block 2 is still the kernel's.
        fill_block(
            rx_block(&mut ring, 2),
            libc::TP_STATUS_KERNEL,
            &[TestFrame::new(&f0)],
        );

        let mut storage = [[0u8; 128]; 2];
        let mut meta = [RxMeta::default(); 2];
        let mut directions = [Direction::Unknown(99); 2];
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        // Two buffers: the reader stops in the middle of block 0 and keeps it.
        let pass = ring.receive(
            ClockDomain::KernelSoftware,
            &mut buffers,
            &mut meta,
            Some(&mut directions),
        );
        assert_eq!(
            pass,
            RxPass {
                received: 2,
                bytes: 121,
                unstamped: 0,
                losing: false,
                malformed: false
            }
        );
        assert_eq!(&buffers[0][..60], f0.as_slice());
        assert_eq!(&buffers[1][..61], f1.as_slice());
        assert_eq!(
            meta[0],
            RxMeta {
                len: 60,
                truncated: false,
                stamp: Some(KernelTimestamp {
                    clock: ClockDomain::KernelSoftware,
                    ns: 1_795_560_289_000_000_005,
                    tx_id: None
                })
            }
        );
        assert_eq!(meta[1].stamp.unwrap().ns, 1_795_560_289_000_000_006);
        assert_eq!(directions, [Direction::ToHost, Direction::Outgoing]);
        assert_eq!(
            ring.block_status(0).load(Ordering::Relaxed),
            libc::TP_STATUS_USER
        );

        // The rest of block 0, then block 1 (which reports losses); block 2 waits.
        let pass = ring.receive(
            ClockDomain::KernelSoftware,
            &mut buffers,
            &mut meta,
            Some(&mut directions),
        );
        assert_eq!(
            pass,
            RxPass {
                received: 2,
                bytes: 164,
                unstamped: 0,
                losing: true,
                malformed: false
            }
        );
        assert_eq!(&buffers[0][..100], f2.as_slice());
        assert_eq!(&buffers[1][..64], f3.as_slice());
        assert_eq!(directions, [Direction::Multicast, Direction::ToHost]);
        assert_eq!(meta[1].stamp.unwrap().ns, 1_795_560_290_000_000_000);
        assert_eq!(
            ring.block_status(0).load(Ordering::Relaxed),
            libc::TP_STATUS_KERNEL
        );
        assert_eq!(
            ring.block_status(1).load(Ordering::Relaxed),
            libc::TP_STATUS_KERNEL
        );
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!(pass, RxPass::default());
        assert_eq!(ring.block, 2);

        // The kernel hands block 2 over, then block 0 again: the reader wraps around.
        fill_block(
            rx_block(&mut ring, 2),
            libc::TP_STATUS_USER,
            &[TestFrame::new(&f1)],
        );
        fill_block(
            rx_block(&mut ring, 0),
            libc::TP_STATUS_USER,
            &[TestFrame::new(&f2)],
        );
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!(pass.received, 2);
        assert_eq!(&buffers[0][..61], f1.as_slice());
        assert_eq!(&buffers[1][..100], f2.as_slice());
        assert_eq!(ring.block, 1);
    }

    #[test]
    fn a_vlan_tag_the_kernel_took_out_is_put_back() {
        let mut ring = test_rx_ring(4096, 1);
        let untagged = ethernet(9, 64);
        fill_block(
            rx_block(&mut ring, 0),
            libc::TP_STATUS_USER,
            &[
                TestFrame {
                    vlan: Some((0x88a8, 0xa064)),
                    ..TestFrame::new(&untagged)
                },
                // Priority-tagged (VID 0), no TPID given: 802.1Q.
                TestFrame {
                    vlan: Some((0, 0x2000)),
                    status: libc::TP_STATUS_TS_SOFTWARE,
                    ..TestFrame::new(&untagged)
                },
            ],
        );
        // The second frame's TPID is not valid: clear that bit.
        {
            let block = rx_block(&mut ring, 0);
            let second = block::SIZE + layout::tpacket_align(MAC_OFFSET + 64) + v3::STATUS;
            let status = read_u32(block, second) & !libc::TP_STATUS_VLAN_TPID_VALID;
            block[second..second + 4].copy_from_slice(&status.to_ne_bytes());
        }
        let mut storage = [[0u8; 128]; 2];
        let mut meta = [RxMeta::default(); 2];
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!(pass.received, 2);
        let mut expected = untagged[..12].to_vec();
        expected.extend_from_slice(&[0x88, 0xa8, 0xa0, 0x64]);
        expected.extend_from_slice(&untagged[12..]);
        assert_eq!(meta[0].len, 68);
        assert!(!meta[0].truncated);
        assert_eq!(&buffers[0][..68], expected.as_slice());
        expected[12..16].copy_from_slice(&[0x81, 0x00, 0x20, 0x00]);
        assert_eq!(&buffers[1][..68], expected.as_slice());
    }

    #[test]
    fn short_buffers_and_short_snaps_are_truncations() {
        let mut ring = test_rx_ring(4096, 1);
        let frame = ethernet(4, 100);
        fill_block(
            rx_block(&mut ring, 0),
            libc::TP_STATUS_USER,
            &[
                TestFrame::new(&frame),
                // The ring kept 100 of 1514 bytes.
                TestFrame {
                    len: 1514,
                    ..TestFrame::new(&frame)
                },
                // A tagged frame cut inside the tag by a short buffer.
                TestFrame {
                    vlan: Some((0x8100, 7)),
                    ..TestFrame::new(&frame)
                },
            ],
        );
        let mut short = [0u8; 40];
        let mut long = [0u8; 2000];
        let mut cut = [0u8; 14];
        let mut buffers: Vec<&mut [u8]> = vec![&mut short, &mut long, &mut cut];
        let mut meta = [RxMeta::default(); 3];
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!(pass.received, 3);
        assert_eq!((meta[0].len, meta[0].truncated), (40, true));
        assert_eq!(buffers[0], &frame[..40]);
        assert_eq!((meta[1].len, meta[1].truncated), (100, true));
        assert_eq!((meta[2].len, meta[2].truncated), (14, true));
        assert_eq!(
            buffers[2],
            [&frame[..12], &[0x81, 0x00][..]].concat().as_slice()
        );
    }

    #[test]
    fn stamps_outside_the_ports_clock_are_withheld() {
        let mut ring = test_rx_ring(4096, 1);
        let frame = ethernet(5, 60);
        fill_block(
            rx_block(&mut ring, 0),
            libc::TP_STATUS_USER,
            &[
                // Raw PHC time.
                TestFrame {
                    status: libc::TP_STATUS_TS_RAW_HARDWARE,
                    sec: 37,
                    nsec: 500,
                    ..TestFrame::new(&frame)
                },
                // Software: the tap's copy of an outgoing frame, no NIC stamp.
                TestFrame {
                    pkttype: libc::PACKET_OUTGOING,
                    ..TestFrame::new(&frame)
                },
                // The kernel read the clock itself: no TS bit, still software.
                TestFrame {
                    status: 0,
                    ..TestFrame::new(&frame)
                },
                // Converted hardware time: neither domain.
                TestFrame {
                    status: libc::TP_STATUS_TS_SYS_HARDWARE,
                    ..TestFrame::new(&frame)
                },
            ],
        );
        let mut storage = [[0u8; 64]; 4];
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut meta = [RxMeta::default(); 4];
        let pass = ring.receive(ClockDomain::NicHardware, &mut buffers, &mut meta, None);
        assert_eq!(pass.received, 4);
        assert_eq!(pass.unstamped, 3);
        assert_eq!(
            meta[0].stamp,
            Some(KernelTimestamp {
                clock: ClockDomain::NicHardware,
                ns: 37_000_000_500,
                tx_id: None
            })
        );
        assert_eq!([meta[1].stamp, meta[2].stamp, meta[3].stamp], [None; 3]);

        fill_block(
            rx_block(&mut ring, 0),
            libc::TP_STATUS_USER,
            &[
                TestFrame {
                    status: libc::TP_STATUS_TS_RAW_HARDWARE,
                    ..TestFrame::new(&frame)
                },
                TestFrame {
                    status: 0,
                    ..TestFrame::new(&frame)
                },
                TestFrame {
                    sec: 0,
                    nsec: 0,
                    ..TestFrame::new(&frame)
                },
            ],
        );
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!((pass.received, pass.unstamped), (3, 2));
        assert_eq!(meta[0].stamp, None);
        assert_eq!(meta[1].stamp.unwrap().ns, 1_795_560_289_000_000_005);
        assert_eq!(meta[2].stamp, None);
    }

    #[test]
    fn a_frame_running_past_its_block_skips_the_block_once_first_in_line() {
        let mut ring = test_rx_ring(4096, 2);
        let (good, next) = (ethernet(6, 60), ethernet(7, 62));
        fill_block(
            rx_block(&mut ring, 0),
            libc::TP_STATUS_USER,
            &[TestFrame::new(&good), TestFrame::new(&good)],
        );
        let second = block::SIZE + layout::tpacket_align(MAC_OFFSET + 60) + v3::SNAPLEN;
        rx_block(&mut ring, 0)[second..second + 4].copy_from_slice(&5000u32.to_ne_bytes());
        fill_block(
            rx_block(&mut ring, 1),
            libc::TP_STATUS_USER,
            &[TestFrame::new(&next)],
        );
        let mut storage = [[0u8; 64]; 2];
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut meta = [RxMeta::default(); 2];
        // The good frame is handed out; the reader stops in front of the bad one.
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!((pass.received, pass.malformed), (1, false));
        assert_eq!(&buffers[0][..60], good.as_slice());
        assert_eq!(
            ring.block_status(0).load(Ordering::Relaxed),
            libc::TP_STATUS_USER
        );
        // First in line, it is reported and its block skipped.
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!((pass.received, pass.malformed), (0, true));
        assert_eq!(
            ring.block_status(0).load(Ordering::Relaxed),
            libc::TP_STATUS_KERNEL
        );
        let pass = ring.receive(ClockDomain::KernelSoftware, &mut buffers, &mut meta, None);
        assert_eq!((pass.received, pass.malformed), (1, false));
        assert_eq!(&buffers[0][..62], next.as_slice());
    }

    /// A TX ring over anonymous memory: 4 slots of 256 bytes.
    fn test_tx_ring() -> TxRing {
        let map = MmapOptions::new()
            .len(4 * 256)
            .map_anon()
            .expect("anonymous memory");
        TxRing {
            map: MmapRaw::from(map),
            frame_size: 256,
            frame_count: 4,
            head: 0,
            kernel: 0,
            tail: 0,
        }
    }

    fn tx_slot(ring: &TxRing, position: u64) -> &[u8] {
        // SAFETY: test memory of ours, nothing else maps it.
        unsafe { std::slice::from_raw_parts(ring.frame_ptr(position), ring.frame_size) }
    }

    #[test]
    fn the_tx_ring_accounts_keys_refusals_and_reuses_slots() {
        let mut ring = test_tx_ring();
        let mut keys = KeyLog::new(16);
        let frames: Vec<Vec<u8>> = (0..6).map(|i| ethernet(i, 60 + i as usize)).collect();
        for frame in &frames[..3] {
            ring.push(frame);
        }
        assert_eq!((ring.head, ring.free()), (3, 1));
        let slot = tx_slot(&ring, 1);
        assert_eq!(read_u32(slot, v2::STATUS), libc::TP_STATUS_SEND_REQUEST);
        // tp_len counts the virtio_net_hdr in front of the frame: 10 + 61.
        assert_eq!(read_u32(slot, v2::LEN), 71);
        // flags 0, GSO_NONE, hdr_len 61 (the whole frame linear), the rest zero.
        let mut header = [0u8; 10];
        header[2..4].copy_from_slice(&61u16.to_ne_bytes());
        assert_eq!(
            &slot[layout::TX_DATA_OFFSET..layout::TX_FRAME_OFFSET],
            header.as_slice()
        );
        assert_eq!(
            &slot[layout::TX_FRAME_OFFSET..layout::TX_FRAME_OFFSET + 61],
            frames[1].as_slice()
        );

        // The kernel sends frame 0 (still in the driver) and 1 (done, stamped), and the
        // device refuses frame 2, which goes back to SEND_REQUEST.
        ring.status(0)
            .store(libc::TP_STATUS_SENDING, Ordering::Relaxed);
        ring.status(1)
            .store(libc::TP_STATUS_TS_SOFTWARE, Ordering::Relaxed);
        let kicked = ring.account(Some(&mut keys), Some(libc::ENOBUFS));
        assert_eq!(
            kicked,
            Kicked {
                packets: 2,
                bytes: 121,
                refused: true
            }
        );
        assert_eq!(ring.kernel, 2);
        assert_eq!(keys.lookup(0), Some(Attempt::Sent(0)));
        assert_eq!(keys.lookup(1), Some(Attempt::Sent(1)));
        assert_eq!(keys.lookup(2), Some(Attempt::Refused));

        // Frame 0 is not back yet, so nothing is reclaimed; then it is.
        ring.reclaim();
        assert_eq!(ring.tail, 0);
        ring.status(0)
            .store(libc::TP_STATUS_AVAILABLE, Ordering::Relaxed);
        ring.reclaim();
        assert_eq!((ring.tail, ring.free()), (2, 3));

        // Next kick: frame 2 goes, with the next key; no error, nothing refused.
        ring.status(2)
            .store(libc::TP_STATUS_SENDING, Ordering::Relaxed);
        let kicked = ring.account(Some(&mut keys), None);
        assert_eq!(
            kicked,
            Kicked {
                packets: 1,
                bytes: 62,
                refused: false
            }
        );
        assert_eq!(keys.lookup(3), Some(Attempt::Sent(2)));

        // Frames 3 and 4 wrap around into slot 0; a kick fails before the kernel
        // looks at them (the device went down) and they are taken back.
        ring.push(&frames[3]);
        ring.push(&frames[4]);
        assert_eq!(read_u32(tx_slot(&ring, 4), v2::LEN), 10 + 64);
        let kicked = ring.account(Some(&mut keys), Some(libc::ENETDOWN));
        assert_eq!(kicked, Kicked::default());
        ring.rewind(3);
        assert_eq!(ring.head, 3);
        assert_eq!(
            ring.status(3).load(Ordering::Relaxed),
            libc::TP_STATUS_AVAILABLE
        );
        assert_eq!(
            ring.status(4).load(Ordering::Relaxed),
            libc::TP_STATUS_AVAILABLE
        );
        assert_eq!(keys.lookup(4), None);
        // ENOBUFS with nothing waiting takes no key.
        let kicked = ring.account(Some(&mut keys), Some(libc::ENOBUFS));
        assert_eq!(kicked, Kicked::default());
        assert_eq!(keys.lookup(4), None);
    }

    #[test]
    fn without_tx_stamps_the_ring_still_counts_every_frame_and_refusal() {
        let mut ring = test_tx_ring();
        let frames: Vec<Vec<u8>> = (0..3).map(|i| ethernet(i, 70 + i as usize)).collect();
        for frame in &frames {
            ring.push(frame);
        }
        ring.status(0)
            .store(libc::TP_STATUS_AVAILABLE, Ordering::Relaxed);
        ring.status(1)
            .store(libc::TP_STATUS_SENDING, Ordering::Relaxed);
        let kicked = ring.account(None, Some(libc::ENOBUFS));
        assert_eq!(
            kicked,
            Kicked {
                packets: 2,
                bytes: 70 + 71,
                refused: true
            }
        );
        assert_eq!((ring.kernel, ring.head), (2, 3));
    }

    #[test]
    fn frames_up_to_the_linear_limit_go_whole_into_the_skb() {
        let hdr_len = |len: usize| {
            let header = linear_virtio_net_hdr(len);
            assert_eq!(header[..2], [0, 0], "no flags, no GSO");
            assert_eq!(
                header[4..],
                [0u8; 6],
                "no gso_size, csum_start, csum_offset"
            );
            u16::from_ne_bytes([header[2], header[3]])
        };
        assert_eq!(hdr_len(60), 60);
        assert_eq!(hdr_len(1522), 1522);
        assert_eq!(hdr_len(TX_LINEAR_MAX), 2048);
        assert_eq!(hdr_len(9018), 2048);
    }

    #[test]
    fn hardware_answers_are_classified() {
        assert_eq!(
            HardwareStamping::from_answer(Ok(HwTimestampConfig::ALL)),
            HardwareStamping::Enabled(HwTimestampConfig::ALL)
        );
        assert_eq!(
            HardwareStamping::Enabled(HwTimestampConfig::ALL).clock_domain(),
            ClockDomain::NicHardware
        );
        // A driver that stamps PTP frames only (HWTSTAMP_FILTER_PTP_V2_EVENT, 12).
        let ptp_only = HwTimestampConfig {
            rx_filter: 12,
            ..HwTimestampConfig::ALL
        };
        let narrowed = HardwareStamping::from_answer(Ok(ptp_only));
        assert_eq!(narrowed, HardwareStamping::Narrowed(ptp_only));
        assert_eq!(narrowed.clock_domain(), ClockDomain::KernelSoftware);
        assert_eq!(
            narrowed.to_string(),
            "the driver applied tx_type 1 and rx_filter 12 instead of ON and ALL (1 and 1); \
             kernel software stamps instead"
        );
        let refused = HardwareStamping::from_answer(Err(libc::EOPNOTSUPP));
        assert_eq!(
            refused,
            HardwareStamping::Refused {
                errno: libc::EOPNOTSUPP
            }
        );
        assert_eq!(refused.clock_domain(), ClockDomain::KernelSoftware);
        assert!(refused
            .to_string()
            .starts_with("SIOCSHWTSTAMP refused (Operation not supported"));
        assert!(HardwareStamping::Refused { errno: libc::EPERM }
            .to_string()
            .contains("it needs CAP_NET_ADMIN; kernel software stamps instead"));
        assert_eq!(
            HardwareStamping::NotRequested.clock_domain(),
            ClockDomain::KernelSoftware
        );
    }

    #[test]
    fn hwtstamp_config_and_ethtool_answers_are_read_at_their_offsets() {
        let bytes = HwTimestampConfig::ALL.to_bytes();
        let expected: Vec<u8> = [0i32, 1, 1].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(bytes.as_slice(), expected.as_slice());
        assert_eq!(
            HwTimestampConfig::from_bytes(&bytes),
            HwTimestampConfig::ALL
        );

        // ETHTOOL_GET_TS_INFO from a NIC with /dev/ptp2: TX/RX hardware and software,
        // raw hardware; tx_types OFF|ON; rx_filters NONE|ALL.
        let mut answer = [0u8; layout::ethtool_ts_info::SIZE];
        answer[0..4].copy_from_slice(&layout::ETHTOOL_GET_TS_INFO.to_ne_bytes());
        answer[4..8].copy_from_slice(&0x5fu32.to_ne_bytes());
        answer[8..12].copy_from_slice(&2i32.to_ne_bytes());
        answer[12..16].copy_from_slice(&0b11u32.to_ne_bytes());
        answer[28..32].copy_from_slice(&0b11u32.to_ne_bytes());
        let info = TimestampingInfo::from_bytes(&answer);
        assert_eq!(
            info,
            TimestampingInfo {
                so_timestamping: 0x5f,
                phc_index: Some(2),
                tx_types: 3,
                rx_filters: 3
            }
        );
        assert!(info.has_hardware());
        // veth: software only, no PHC (-1).
        answer[4..8].copy_from_slice(&0x1au32.to_ne_bytes());
        answer[8..12].copy_from_slice(&(-1i32).to_ne_bytes());
        let info = TimestampingInfo::from_bytes(&answer);
        assert_eq!(info.phc_index, None);
        assert!(!info.has_hardware());
    }

    #[test]
    fn directions_follow_sll_pkttype() {
        let all: Vec<Direction> = (0..=7).map(Direction::from_pkttype).collect();
        assert_eq!(
            all,
            [
                Direction::ToHost,
                Direction::Broadcast,
                Direction::Multicast,
                Direction::ToOtherHost,
                Direction::Outgoing,
                Direction::Unknown(5),
                Direction::Unknown(6),
                Direction::Unknown(7),
            ]
        );
        assert!(Direction::Outgoing.is_outgoing());
        assert!(!Direction::ToHost.is_outgoing());
        assert_eq!(Direction::Outgoing.name(), "outgoing");
    }

    fn config_error(config: AfPacketConfig) -> (&'static str, String, String) {
        match check_config(&config, 4096) {
            Err(OpenError::Config {
                key, value, valid, ..
            }) => (key, value, valid),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn bad_configs_are_refused_naming_the_key() {
        assert!(check_config(&AfPacketConfig::new("eth0"), 4096).is_ok());
        assert!(check_config(&AfPacketConfig::tap("eth0"), 4096).is_ok());
        let (key, value, valid) = config_error(AfPacketConfig {
            qdisc_bypass: true,
            ..AfPacketConfig::tap("eth0")
        });
        assert_eq!((key, value.as_str()), ("qdisc_bypass", "true"));
        assert!(valid.contains("invisible to every tap"), "{valid}");
        let base = AfPacketConfig::new("eth0");
        let (key, value, valid) = config_error(AfPacketConfig {
            rx_block_size: 6000,
            ..base.clone()
        });
        assert_eq!((key, value.as_str()), ("rx_block_size", "6000"));
        assert_eq!(valid, "a power of two from the page size (4096) to 1 GiB");
        assert_eq!(
            config_error(AfPacketConfig {
                rx_block_size: 2048,
                ..base.clone()
            })
            .0,
            "rx_block_size"
        );
        assert_eq!(
            config_error(AfPacketConfig {
                rx_block_count: 0,
                ..base.clone()
            })
            .0,
            "rx_block_count"
        );
        assert_eq!(
            config_error(AfPacketConfig {
                rx_block_size: 1 << 30,
                rx_block_count: 5,
                ..base.clone()
            })
            .0,
            "rx_block_count"
        );
        assert_eq!(
            config_error(AfPacketConfig {
                tx_frames: 8,
                ..base.clone()
            })
            .0,
            "tx_frames"
        );
        assert_eq!(
            config_error(AfPacketConfig {
                tx_frames: 100,
                ..base.clone()
            })
            .0,
            "tx_frames"
        );
        assert_eq!(
            config_error(AfPacketConfig {
                tx_frames: 1 << 17,
                ..base
            })
            .0,
            "tx_frames"
        );

        for name in ["", "a-name-of-16-byt", "nul\0inside"] {
            match interface_name(name) {
                Err(OpenError::Config {
                    key: "interface",
                    valid,
                    ..
                }) => {
                    assert_eq!(valid, "an interface name of 1 to 15 bytes without NUL")
                }
                other => panic!("{name:?} was accepted: {other:?}"),
            }
        }
        assert_eq!(
            interface_name("a-name-of-15-by").unwrap().as_bytes().len(),
            15
        );
    }
}
