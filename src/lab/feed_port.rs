//! The port the feed leaves by, opened for the spec's backend, and the clocks the
//! run's two stamps (a tick's TX, its order's RX) come from.
//!
//! - `uring`: a UDP socket over io_uring; the kernel's software stamps both ways.
//! - `af_packet`: whole Ethernet frames through an AF_PACKET TX ring on
//!   `network.interface` (default: the interface holding `network.feed_iface_addr`).
//!   Its TX stamps are the kernel's software ones or, where the NIC stamps every
//!   frame both ways, the NIC's; the order session's reads then take the NIC's
//!   stamps too, so both ends of every figure come from one clock.
//! - `dpdk`: whole frames through a DPDK port (`network.interface`, EAL arguments
//!   from `network.dpdk_args`). DPDK bypasses the kernel, so its TX time is
//!   `CLOCK_REALTIME` read just before `rte_eth_tx_burst` (a time the frame cannot
//!   have left before; a stamp after the call can postdate the order it caused, when
//!   the PMD delivers inside the call as `net_af_packet` does), while the order
//!   session (kernel TCP) is stamped by the kernel; the run says so.
//!
//! With `network.tap`, [`check`] plans kernel software stamps of both ends from a
//! tap on the feed's interface ([`super::tap`]) instead, on `uring` or `af_packet`
//! (whose frames then go through the qdisc, where a tap sees them).
//!
//! [`plan_stamps`] is the choice, pure and tested with recorded interface
//! capabilities: NIC hardware, then kernel software, then a user-space clock read,
//! and a spec that requires one gets it or a refusal naming the interface and what
//! it offers. Every stamp is put in `CLOCK_REALTIME` (the lab's one timeline: its
//! schedule and every fallback) by an offset fixed at the start, so the wire figure,
//! a difference of two stamps of one clock, is that clock's own.
//!
//! Opening may fail in many ways (privileges, a missing interface, EAL); each error
//! names the key and what would be valid. Nothing here is on the hot path. It must
//! never hand the run a plan whose two ends are in different clocks without saying
//! so in the plan's name (`user_tx+kernel_software_rx`), and never fall back from
//! what a spec requires: only `auto` degrades.
//!
//! ```
//! use ticklab::config::{Backend, Timestamps};
//! use ticklab::lab::feed_port::{plan_stamps, StampPlan};
//! use ticklab::time::phc::TsInfo;
//! // A veth: software stamps both ways, no PHC.
//! let veth = TsInfo::new("veth0", None, 0x1a, 0, 0);
//! let (plan, _why) = plan_stamps(Backend::AfPacket, Timestamps::Auto, Some(&veth), None).unwrap();
//! assert_eq!(plan, StampPlan::KernelSoftware);
//! let refused = plan_stamps(Backend::AfPacket, Timestamps::Hardware, Some(&veth), None).unwrap_err();
//! assert!(refused.contains("veth0"), "{refused}");
//! ```

use crate::config::{Backend, NetworkSpec, Rewrite, Timestamps};
use crate::nic::af_packet::{AfPacketConfig, AfPacketPort};
use crate::nic::uring::{UdpPort, UdpPortConfig};
use crate::nic::{ClockDomain, PortControl};
use crate::time::phc::{self, TimestampSource, TsInfo};
use crate::venue::rx_clock::RxStamps;
use crate::wire::{multicast_mac, MacAddr, UdpEndpoints, UdpFrameTemplate};

use super::sender::{Framing, BURST};

/// The UDP source port of the frame backends' feed (a socket backend's is the
/// kernel's choice).
pub const FEED_SOURCE_PORT: u16 = 26_399;
/// The TTL of the feed's frames: a multicast feed crosses a router or two at most.
const FEED_TTL: u8 = 16;

/// Which stamps a run takes, decided before any port opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampPlan {
    /// The kernel's software stamps (`CLOCK_REALTIME`) both ways.
    KernelSoftware,
    /// The NIC's stamps both ways, in the time of `/dev/ptp{phc_index}`.
    NicHardware { phc_index: u16 },
    /// `CLOCK_REALTIME` read in user space just before each send; the order
    /// session keeps the kernel's software stamps.
    UserClock,
}

impl StampPlan {
    /// The name `summary.json` and `env.json` give the figures' clock domain.
    pub fn domain_name(self) -> &'static str {
        match self {
            StampPlan::KernelSoftware => ClockDomain::KernelSoftware.name(),
            StampPlan::NicHardware { .. } => ClockDomain::NicHardware.name(),
            StampPlan::UserClock => "user_tx+kernel_software_rx",
        }
    }
}

/// What `network.timestamps` comes to on `backend`, with the reason; or why it
/// cannot be had, naming the interface and what it offers. `info` is the frame
/// interface's capabilities (`ETHTOOL_GET_TS_INFO`); `None` for the socket backend
/// and DPDK, whose ports the kernel does not stamp. `orders_elsewhere` says why the
/// order session would not arrive through that interface (the gateway listens on
/// another one), when it would not: NIC stamps need both ends on one NIC's clock.
pub fn plan_stamps(
    backend: Backend,
    requested: Timestamps,
    info: Option<&TsInfo>,
    orders_elsewhere: Option<&str>,
) -> Result<(StampPlan, String), String> {
    match backend {
        Backend::Uring => match requested {
            Timestamps::Auto | Timestamps::Software => Ok((
                StampPlan::KernelSoftware,
                "kernel software SO_TIMESTAMPING over io_uring: feed TX from the UDP socket's error queue, order RX from the TCP session's control messages".into(),
            )),
            _ => Err("the uring backend stamps with kernel software timestamps: \"software\" or \"auto\" (hardware stamps need backend = \"af_packet\")".into()),
        },
        Backend::Dpdk => match requested {
            Timestamps::Auto | Timestamps::Tsc => Ok((
                StampPlan::UserClock,
                "DPDK bypasses the kernel: feed TX is CLOCK_REALTIME read just before rte_eth_tx_burst (the frame cannot leave earlier; a PMD such as net_af_packet may deliver it, and see the order come back, before the call returns); order RX is the kernel's software stamp on the TCP session".into(),
            )),
            _ => Err("with backend = \"dpdk\" the kernel never sees the feed, and the order session runs over kernel TCP, so neither kernel nor NIC stamps can cover both ends: \"auto\" or \"tsc\" (for NIC hardware stamps use backend = \"af_packet\")".into()),
        },
        Backend::AfPacket => {
            let Some(info) = info else {
                return Err("the af_packet backend needs the interface's timestamping capabilities".into());
            };
            let choice = phc::best_source(info);
            let iface = &info.iface;
            let software = info.stamps_software_both_ways();
            // Hardware stamps the lab can use: the NIC has them, and the orders come
            // in through it.
            let hardware = match (choice.source, orders_elsewhere) {
                (TimestampSource::Hardware { phc_index }, None) => Ok(phc_index),
                (TimestampSource::Hardware { phc_index }, Some(elsewhere)) => Err(format!(
                    "{iface} stamps in hardware (/dev/ptp{phc_index}), but {elsewhere}, so the orders' stamps would not be in its clock"
                )),
                _ => Err(format!("{iface} cannot stamp in hardware: {}", choice.reason)),
            };
            match (requested, hardware) {
                (Timestamps::Hardware | Timestamps::Auto, Ok(phc_index)) => Ok((
                    StampPlan::NicHardware { phc_index },
                    format!("{iface}: NIC hardware stamps in /dev/ptp{phc_index} both ways (feed TX from the AF_PACKET error queue, order RX on the TCP session): {}", choice.reason),
                )),
                (Timestamps::Hardware, Err(why)) => Err(why),
                (Timestamps::Auto | Timestamps::Software, _) if software => Ok((
                    StampPlan::KernelSoftware,
                    format!("{iface}: kernel software stamps both ways (feed TX from the AF_PACKET error queue, order RX on the TCP session): {}", choice.reason),
                )),
                (Timestamps::Software, _) => Err(format!(
                    "{iface} cannot stamp in software both ways: {}",
                    choice.reason
                )),
                (Timestamps::Auto | Timestamps::Tsc, _) => Ok((
                    StampPlan::UserClock,
                    format!("{iface}: feed TX is CLOCK_REALTIME read just before each send; order RX is the kernel's software stamp ({})", choice.reason),
                )),
            }
        }
    }
}

fn timestamps_name(t: Timestamps) -> &'static str {
    match t {
        Timestamps::Auto => "auto",
        Timestamps::Hardware => "hardware",
        Timestamps::Software => "software",
        Timestamps::Tsc => "tsc",
    }
}

/// Where the run's figures' stamps come from, for the send and gateway threads and
/// the results.
#[derive(Debug, Clone)]
pub struct RunClocks {
    pub plan: StampPlan,
    /// `env.json`'s `timestamp_source`: which stamps, from where, and why.
    pub source: String,
    /// Added to the port's TX stamps to put them in `CLOCK_REALTIME`.
    pub tx_to_realtime_ns: i64,
    /// The feed's TX time is the user-space clock read before the send.
    pub tx_at_send: bool,
    /// The order session's stamps.
    pub rx: RxStamps,
    /// With NIC stamps: the PHC's index and `CLOCK_REALTIME − PHC` at the start.
    pub phc: Option<(u16, i64)>,
}

/// An opened feed port of any backend. One exists per run, moved once into the
/// send thread: its size does not matter, and boxing would put the hot handle
/// behind a pointer.
#[allow(clippy::large_enum_variant)]
pub enum OpenPort {
    Uring(UdpPort),
    AfPacket(AfPacketPort),
    #[cfg(feature = "dpdk")]
    Dpdk(crate::nic::dpdk::DpdkPort, crate::nic::dpdk::Eal),
}

/// The feed's port, how datagrams become what it sends, and the run's clocks.
pub struct FeedPort {
    pub port: OpenPort,
    pub control: Box<dyn PortControl>,
    pub framing: Framing,
    pub clocks: RunClocks,
    /// Where the feed leaves, for the log: "io_uring UDP to 239.198.0.1:26400",
    /// "AF_PACKET on veth0".
    pub description: String,
}

/// Why the feed's port could not be opened: the spec key to look at, and why.
#[derive(Debug)]
pub struct OpenError {
    pub key: &'static str,
    pub value: String,
    pub why: String,
    /// The spec asks for what cannot be (a usage error), or this host could not
    /// give it now (privileges, a driver, memory).
    pub unavailable: bool,
}

impl OpenError {
    /// The spec asks for something this interface or backend cannot give.
    fn new(key: &'static str, value: impl Into<String>, why: impl Into<String>) -> OpenError {
        OpenError {
            key,
            value: value.into(),
            why: why.into(),
            unavailable: false,
        }
    }

    /// The spec is sound, but this host could not open the port now.
    fn unavailable(
        key: &'static str,
        value: impl Into<String>,
        why: impl Into<String>,
    ) -> OpenError {
        OpenError {
            unavailable: true,
            ..OpenError::new(key, value, why)
        }
    }
}

/// The stamps a run will take, decided before anything opens (and before a
/// results directory exists), with the frame interface it resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stamps: StampPlan,
    /// Which stamps, from where, and why: `env.json`'s `timestamp_source`.
    pub source: String,
    /// `af_packet`'s interface: `network.interface`, or the one holding
    /// `network.feed_iface_addr`.
    pub interface: Option<String>,
}

/// The plan for `network`: [`plan_stamps`] on the interface the spec names, or why
/// it cannot have what it asks for.
pub fn check(network: &NetworkSpec) -> Result<Plan, OpenError> {
    if network.tap {
        return check_tap(network);
    }
    match network.backend {
        Backend::AfPacket => {
            let iface = af_packet_interface(network)?;
            let info = phc::ts_info(&iface)
                .map_err(|e| OpenError::new("network.interface", iface.clone(), e.to_string()))?;
            let elsewhere = orders_elsewhere(network, &iface);
            let (stamps, source) = plan_stamps(
                network.backend,
                network.timestamps,
                Some(&info),
                elsewhere.as_deref(),
            )
            .map_err(|why| timestamps_error(network, why))?;
            Ok(Plan {
                stamps,
                source,
                interface: Some(iface),
            })
        }
        Backend::Uring | Backend::Dpdk => {
            if network.backend == Backend::Dpdk {
                #[cfg(not(feature = "dpdk"))]
                return Err(without_dpdk(network));
                #[cfg(feature = "dpdk")]
                if network.feed_iface_addr.is_loopback() {
                    return Err(OpenError::new(
                        "network.feed_iface_addr",
                        network.feed_iface_addr.to_string(),
                        "the address the DPDK port's frames carry as their source, on the link they leave by (not loopback: a DUT's kernel drops such frames)",
                    ));
                }
            }
            let (stamps, source) = plan_stamps(network.backend, network.timestamps, None, None)
                .map_err(|why| timestamps_error(network, why))?;
            Ok(Plan {
                stamps,
                source,
                interface: None,
            })
        }
    }
}

/// The plan of a run stamped by a tap (`network.tap`): kernel software stamps of
/// the feed leaving and the orders arriving, on the interface both cross.
fn check_tap(network: &NetworkSpec) -> Result<Plan, OpenError> {
    let tap_error = |why: &str| OpenError::new("network.tap", "true", why);
    if network.backend == Backend::Dpdk {
        return Err(tap_error(
            "a backend whose frames the kernel sends (uring or af_packet): a tap sees what crosses the kernel, and DPDK's frames do not",
        ));
    }
    if !matches!(network.timestamps, Timestamps::Auto | Timestamps::Software) {
        return Err(OpenError::new(
            "network.timestamps",
            format!("{:?}", timestamps_name(network.timestamps)),
            "\"auto\" or \"software\" with network.tap: a tap's stamps are the kernel's (the copies of outgoing frames it sees carry no NIC stamp)",
        ));
    }
    let iface = af_packet_interface(network)?;
    if let Some(elsewhere) = orders_elsewhere(network, &iface) {
        return Err(OpenError::new(
            "network.gateway_listen",
            network.gateway_listen.to_string(),
            format!("an address of {iface} with network.tap: the tap on {iface} must see the orders arrive, but {elsewhere}"),
        ));
    }
    Ok(Plan {
        stamps: StampPlan::KernelSoftware,
        source: format!(
            "AF_PACKET tap on {iface}: feed TX as the tap saw each datagram leave, order RX as it saw the segment carrying each order's last byte arrive; kernel software stamps, one clock"
        ),
        interface: Some(iface),
    })
}

/// Why the order session would not arrive through `iface`, if it would not: the
/// gateway listens on every address, or on one of another interface. (A DUT on
/// this host reaches any local address over `lo`; the run then finds its reads
/// without NIC stamps and says so.)
fn orders_elsewhere(network: &NetworkSpec, iface: &str) -> Option<String> {
    let listen = network.gateway_listen;
    let std::net::IpAddr::V4(ip) = listen.ip() else {
        return Some(format!("the order gateway listens on {listen}, not IPv4"));
    };
    if ip.is_unspecified() {
        return Some(format!(
            "network.gateway_listen {listen} takes orders on every interface (listen on {iface}'s address)"
        ));
    }
    match crate::nic::interface_with_ipv4(ip) {
        Ok(Some(name)) if name == iface => None,
        Ok(Some(name)) => Some(format!(
            "network.gateway_listen {listen} is on {name}, not {iface}"
        )),
        Ok(None) => Some(format!(
            "no interface here holds network.gateway_listen's address {ip}"
        )),
        Err(e) => Some(format!(
            "the interface of network.gateway_listen {listen} is unknown ({e})"
        )),
    }
}

/// `network` with a capture's `feed.rewrite` applied: the feed goes to the
/// rewritten group, port and MAC (a rewritten multicast group without a MAC gets
/// its own multicast MAC), on every backend.
pub fn with_rewrite(network: &NetworkSpec, rewrite: &Rewrite) -> NetworkSpec {
    let mut rewritten = network.clone();
    if let Some(ip) = rewrite.dst_ip {
        rewritten.feed_group = ip;
        if ip.is_multicast() {
            rewritten.feed_dst_mac = None;
        }
    }
    if let Some(port) = rewrite.dst_port {
        rewritten.feed_port = port;
    }
    if let Some(mac) = rewrite.dst_mac {
        rewritten.feed_dst_mac = Some(mac);
    }
    rewritten
}

/// Opens the feed's port for `network` as `plan` (from [`check`]) says, for
/// payloads up to `max_payload` bytes.
pub fn open(network: &NetworkSpec, plan: &Plan, max_payload: usize) -> Result<FeedPort, OpenError> {
    match network.backend {
        Backend::Uring => open_uring(network, plan, max_payload),
        Backend::AfPacket => open_af_packet(network, plan, max_payload),
        Backend::Dpdk => open_dpdk(network, plan, max_payload),
    }
}

fn timestamps_error(network: &NetworkSpec, why: String) -> OpenError {
    OpenError::new(
        "network.timestamps",
        format!("{:?}", timestamps_name(network.timestamps)),
        why,
    )
}

fn open_uring(
    network: &NetworkSpec,
    plan: &Plan,
    max_payload: usize,
) -> Result<FeedPort, OpenError> {
    let feed_addr = network.feed_addr();
    let mut config = if feed_addr.ip().is_multicast() {
        UdpPortConfig::multicast(feed_addr, network.feed_iface_addr)
    } else {
        UdpPortConfig::unicast(feed_addr)
    };
    config.max_datagram = max_payload;
    config.burst = BURST as u32;
    let (port, control) = UdpPort::open(config).map_err(|e| {
        OpenError::unavailable(
            "network.feed_iface_addr",
            network.feed_iface_addr.to_string(),
            format!("cannot open the feed's UDP socket to {feed_addr}: {e}"),
        )
    })?;
    Ok(FeedPort {
        port: OpenPort::Uring(port),
        control: Box::new(control),
        framing: Framing::Datagram,
        clocks: RunClocks {
            plan: plan.stamps,
            source: plan.source.clone(),
            tx_to_realtime_ns: 0,
            tx_at_send: false,
            rx: RxStamps::SOFTWARE,
            phc: None,
        },
        description: format!("io_uring UDP to {feed_addr}"),
    })
}

/// The interface `af_packet` sends on: `network.interface`, else the one holding
/// `network.feed_iface_addr`.
/// The frames carry `network.feed_iface_addr` as their source, so a named interface
/// must hold it (a DUT's kernel drops frames from an address that is not there).
fn af_packet_interface(network: &NetworkSpec) -> Result<String, OpenError> {
    let addr = network.feed_iface_addr;
    let holder = crate::nic::interface_with_ipv4(addr);
    if let Some(name) = &network.interface {
        return match holder {
            Ok(Some(holder)) if holder == *name => Ok(name.clone()),
            Ok(other) => Err(OpenError::new(
                "network.feed_iface_addr",
                addr.to_string(),
                format!(
                    "an address of network.interface {name} (the feed's frames carry it as their source; {})",
                    match other {
                        Some(holder) => format!("{addr} is on {holder}"),
                        None => format!("no interface here holds {addr}"),
                    }
                ),
            )),
            Err(e) => Err(OpenError::unavailable(
                "network.interface",
                name.clone(),
                format!("cannot list the interfaces to check it holds network.feed_iface_addr {addr}: {e}"),
            )),
        };
    }
    match holder {
        Ok(Some(name)) => Ok(name),
        Ok(None) => Err(OpenError::new(
            "network.interface",
            "(absent)",
            format!("no interface in this network namespace holds network.feed_iface_addr {addr}: name the interface to send on (`ip -br addr` lists them)"),
        )),
        Err(e) => Err(OpenError::unavailable(
            "network.interface",
            "(absent)",
            format!("cannot list the interfaces to find the one holding {addr} ({e}): name it"),
        )),
    }
}

/// The feed's frame headers: from `src_mac` and `network.feed_iface_addr` to the
/// feed's group (its multicast MAC, or `network.feed_dst_mac`). The UDP checksum is
/// left zero ("none", as most market-data feeds send it): computing it would be a
/// pass over every payload on the send thread.
fn feed_template(network: &NetworkSpec, src_mac: [u8; 6]) -> Result<UdpFrameTemplate, OpenError> {
    let group = network.feed_group;
    let dst_mac = match network.feed_dst_mac {
        Some(mac) => MacAddr(mac.0),
        None if group.is_multicast() => multicast_mac(group),
        None => {
            return Err(OpenError::new(
                "network.feed_dst_mac",
                "(absent)",
                format!(
                    "network.feed_group {group} is unicast: the frames need the destination's MAC"
                ),
            ))
        }
    };
    Ok(UdpFrameTemplate::new(
        &UdpEndpoints {
            src_mac: MacAddr(src_mac),
            dst_mac,
            vlan: None,
            src_ip: network.feed_iface_addr,
            dst_ip: group,
            src_port: FEED_SOURCE_PORT,
            dst_port: network.feed_port,
            ttl: FEED_TTL,
            dscp: 0,
        },
        false,
    ))
}

fn open_af_packet(
    network: &NetworkSpec,
    plan: &Plan,
    max_payload: usize,
) -> Result<FeedPort, OpenError> {
    let iface = match &plan.interface {
        Some(iface) => iface.clone(),
        None => af_packet_interface(network)?,
    };
    let iface_error = |why: String| OpenError::unavailable("network.interface", iface.clone(), why);
    let src_mac = crate::nic::interface_mac(&iface)
        .map_err(|e| iface_error(format!("cannot read its Ethernet address: {e}")))?;
    let template = feed_template(network, src_mac)?;
    let mut stamps = plan.stamps;
    let mut source = plan.source.clone();
    let config = AfPacketConfig {
        hardware_timestamps: matches!(stamps, StampPlan::NicHardware { .. }),
        // The user clock is read before each send, or a tap stamps the frames: the
        // port's stamps would go unused.
        tx_timestamps: stamps != StampPlan::UserClock && !network.tap,
        // A tap sees only what goes through the qdisc.
        qdisc_bypass: !network.tap,
        // The feed only leaves: a receiving packet socket would copy every frame of
        // the order session into its ring on the orders' own path.
        rx: false,
        ..AfPacketConfig::new(iface.clone())
    };
    let (port, control) = AfPacketPort::open(config).map_err(|e| iface_error(e.to_string()))?;
    let frame_len = template.header_len() + max_payload;
    if frame_len > port.max_frame_len(false) {
        return Err(OpenError::new(
            "network.interface",
            iface.clone(),
            format!(
                "an interface whose MTU takes the feed's largest datagram: its frames are {frame_len} bytes, above the {} bytes {iface} allows",
                port.max_frame_len(false)
            ),
        ));
    }
    let mut rx = RxStamps::SOFTWARE;
    let mut tx_to_realtime_ns = 0;
    let mut phc = None;
    if let StampPlan::NicHardware { phc_index } = stamps {
        let stamping = control.hardware_stamping();
        if stamping.is_enabled() {
            let offset = phc_to_realtime_ns(phc_index)
                .map_err(|why| OpenError::unavailable("network.timestamps", "\"hardware\"", why))?;
            rx = RxStamps {
                domain: ClockDomain::NicHardware,
                to_realtime_ns: offset,
            };
            tx_to_realtime_ns = offset;
            phc = Some((phc_index, offset));
        } else if network.timestamps == Timestamps::Auto {
            // The port fell back to software stamps; so does the run.
            stamps = StampPlan::KernelSoftware;
            source = format!("{iface}: kernel software stamps both ways: the NIC could stamp in hardware, but {stamping}");
        } else {
            return Err(OpenError::unavailable(
                "network.timestamps",
                "\"hardware\"",
                format!("{iface} offers hardware stamps, but {stamping}"),
            ));
        }
    }
    Ok(FeedPort {
        port: OpenPort::AfPacket(port),
        control: Box::new(control),
        framing: Framing::Ethernet(template),
        clocks: RunClocks {
            plan: stamps,
            source,
            tx_to_realtime_ns,
            tx_at_send: stamps == StampPlan::UserClock,
            rx,
            phc,
        },
        description: format!("AF_PACKET on {iface}"),
    })
}

/// `CLOCK_REALTIME − PHC` now, from the tightest of 25 bracketed readings.
pub fn phc_to_realtime_ns(phc_index: u16) -> Result<i64, String> {
    let clock = phc::Phc::open_index(phc_index).map_err(|e| e.to_string())?;
    let samples = clock.sys_offset(25).map_err(|e| e.to_string())?;
    let estimate = phc::tightest_offset(&samples).map_err(|e| e.to_string())?;
    Ok(-estimate.phc_minus_realtime.0)
}

/// The EAL arguments for `device` when `network.dpdk_args` is absent: a virtual
/// device by its name (`net_null0`), else the PCI port allowed by its address.
pub fn default_dpdk_args(device: &str) -> String {
    if device.starts_with("net_") {
        format!("--vdev={device}")
    } else {
        format!("-a {device}")
    }
}

#[cfg(feature = "dpdk")]
fn open_dpdk(
    network: &NetworkSpec,
    plan: &Plan,
    max_payload: usize,
) -> Result<FeedPort, OpenError> {
    use crate::nic::dpdk::{ClockPreference, DpdkPort, DpdkPortConfig, Eal, EalConfig};
    let device = network.interface.clone().ok_or_else(|| {
        OpenError::new(
            "network.interface",
            "(absent)",
            "with backend = \"dpdk\", the EAL port to send on, like \"net_af_packet0\"",
        )
    })?;
    let (args, args_shown) = match &network.dpdk_args {
        Some(args) => (args.clone(), format!("{args:?}")),
        None => {
            let args = default_dpdk_args(&device);
            let shown = format!("(absent: {args:?} for network.interface {device:?})");
            (args, shown)
        }
    };
    let eal = Eal::init(&EalConfig::parse(&args))
        .map_err(|e| OpenError::unavailable("network.dpdk_args", args_shown, e.to_string()))?;
    let config = DpdkPortConfig {
        // The TX time is read before each send (tx_at_send): the port's own stamps,
        // taken after it, would go unused.
        clock: ClockPreference::Software,
        tx_timestamps: false,
        ..DpdkPortConfig::new(device.clone())
    };
    let (mut queues, control) = DpdkPort::open(&eal, &config)
        .map_err(|e| OpenError::unavailable("network.interface", device.clone(), e.to_string()))?;
    let port = queues.remove(0);
    let template = feed_template(network, control.mac())?;
    let frame_len = template.header_len() + max_payload;
    if frame_len > port.max_frame() {
        return Err(OpenError::new(
            "network.interface",
            device,
            format!(
                "a port that takes the feed's largest datagram: its frames are {frame_len} bytes, above the {} bytes the port takes",
                port.max_frame()
            ),
        ));
    }
    let description = format!("DPDK port {device} ({})", control.driver());
    Ok(FeedPort {
        port: OpenPort::Dpdk(port, eal),
        control: Box::new(control),
        framing: Framing::Ethernet(template),
        clocks: RunClocks {
            plan: plan.stamps,
            source: plan.source.clone(),
            tx_to_realtime_ns: 0,
            tx_at_send: true,
            rx: RxStamps::SOFTWARE,
            phc: None,
        },
        description,
    })
}

#[cfg(not(feature = "dpdk"))]
fn open_dpdk(
    network: &NetworkSpec,
    _plan: &Plan,
    _max_payload: usize,
) -> Result<FeedPort, OpenError> {
    Err(without_dpdk(network))
}

#[cfg(not(feature = "dpdk"))]
fn without_dpdk(network: &NetworkSpec) -> OpenError {
    OpenError::new(
        "network.backend",
        "\"dpdk\"",
        format!(
            "a backend this build has: it was built without DPDK (for {}); build with `cargo build --release --features dpdk` (needs libdpdk-dev, dpdk-dev, clang; lab-scripts/setup installs them)",
            network.interface.as_deref().unwrap_or("the DPDK port")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// `ethtool -T` of a NIC that stamps every frame (an Intel i210 class device):
    /// hardware and software TX/RX, software and raw hardware reporting, PHC 0,
    /// transmit modes off and on, receive filters none and all (and PTP ones).
    fn stamping_nic() -> TsInfo {
        TsInfo::new("enp1s0", Some(0), 0x5f, 0b11, 0b111_1111_0011)
    }

    /// A NIC whose filters stamp PTP frames only (no `all`).
    fn ptp_only_nic() -> TsInfo {
        TsInfo::new("enp2s0", Some(1), 0x5f, 0b11, 0b1_0000_0001)
    }

    /// A veth: software TX and RX stamps and their reporting, nothing else.
    fn veth() -> TsInfo {
        TsInfo::new("veth0", None, 0x1a, 0, 0)
    }

    /// A driver that stamps nothing in software on transmit.
    fn no_tx_software() -> TsInfo {
        TsInfo::new("wlan0", None, 0x18, 0, 0)
    }

    #[test]
    fn af_packet_takes_hardware_then_software_then_the_user_clock() {
        let plan =
            |t, info: TsInfo| plan_stamps(Backend::AfPacket, t, Some(&info), None).map(|(p, _)| p);
        assert_eq!(
            plan(Timestamps::Auto, stamping_nic()),
            Ok(StampPlan::NicHardware { phc_index: 0 })
        );
        assert_eq!(
            plan(Timestamps::Hardware, stamping_nic()),
            Ok(StampPlan::NicHardware { phc_index: 0 })
        );
        assert_eq!(
            plan(Timestamps::Software, stamping_nic()),
            Ok(StampPlan::KernelSoftware)
        );
        assert_eq!(
            plan(Timestamps::Auto, ptp_only_nic()),
            Ok(StampPlan::KernelSoftware)
        );
        assert_eq!(
            plan(Timestamps::Auto, veth()),
            Ok(StampPlan::KernelSoftware)
        );
        assert_eq!(
            plan(Timestamps::Auto, no_tx_software()),
            Ok(StampPlan::UserClock)
        );
        assert_eq!(plan(Timestamps::Tsc, veth()), Ok(StampPlan::UserClock));
    }

    #[test]
    fn a_required_source_the_interface_lacks_is_refused_naming_it_and_its_offer() {
        let refused =
            plan_stamps(Backend::AfPacket, Timestamps::Hardware, Some(&veth()), None).unwrap_err();
        assert_eq!(
            refused,
            "veth0 cannot stamp in hardware: offers \
             software-transmit, software-receive, software-system-clock; no hardware \
             stamps: no PTP hardware clock (PHC index -1)"
        );
        let refused = plan_stamps(
            Backend::AfPacket,
            Timestamps::Hardware,
            Some(&ptp_only_nic()),
            None,
        )
        .unwrap_err();
        assert!(refused.contains("enp2s0"), "{refused}");
        assert!(refused.contains("no receive filter `all`"), "{refused}");
        let refused = plan_stamps(
            Backend::AfPacket,
            Timestamps::Software,
            Some(&no_tx_software()),
            None,
        )
        .unwrap_err();
        assert!(
            refused.starts_with("wlan0 cannot stamp in software"),
            "{refused}"
        );
    }

    /// Hardware TX and RX stamps, raw, and software RX; no software TX stamps.
    fn no_software_tx_nic() -> TsInfo {
        TsInfo::new("enp3s0", Some(2), 0x5d, 0b11, 0b11)
    }

    #[test]
    fn nic_stamps_need_the_orders_on_the_same_nic_and_software_needs_both_ways() {
        let elsewhere = Some("network.gateway_listen 10.0.0.1:0 is on eth1, not enp1s0");
        let refused = plan_stamps(
            Backend::AfPacket,
            Timestamps::Hardware,
            Some(&stamping_nic()),
            elsewhere,
        )
        .unwrap_err();
        assert_eq!(
            refused,
            "enp1s0 stamps in hardware (/dev/ptp0), but network.gateway_listen 10.0.0.1:0 is on \
             eth1, not enp1s0, so the orders' stamps would not be in its clock"
        );
        let (plan, why) = plan_stamps(
            Backend::AfPacket,
            Timestamps::Auto,
            Some(&stamping_nic()),
            elsewhere,
        )
        .unwrap();
        assert_eq!(plan, StampPlan::KernelSoftware, "{why}");
        // Hardware, but no software TX stamps: "software" cannot be had; "auto"
        // takes the NIC's.
        let refused = plan_stamps(
            Backend::AfPacket,
            Timestamps::Software,
            Some(&no_software_tx_nic()),
            None,
        )
        .unwrap_err();
        assert!(
            refused.starts_with("enp3s0 cannot stamp in software"),
            "{refused}"
        );
        assert_eq!(
            plan_stamps(
                Backend::AfPacket,
                Timestamps::Auto,
                Some(&no_software_tx_nic()),
                None
            )
            .map(|(p, _)| p),
            Ok(StampPlan::NicHardware { phc_index: 2 })
        );
        // With the orders elsewhere too, only the user clock is left.
        assert_eq!(
            plan_stamps(
                Backend::AfPacket,
                Timestamps::Auto,
                Some(&no_software_tx_nic()),
                elsewhere
            )
            .map(|(p, _)| p),
            Ok(StampPlan::UserClock)
        );
    }

    #[test]
    fn a_tap_plan_needs_kernel_frames_kernel_stamps_and_the_orders_on_its_interface() {
        let mut network = crate::config::RunSpec::load(None, &[] as &[&str])
            .unwrap()
            .network;
        network.tap = true;
        // The default lab: loopback, the gateway on 127.0.0.1.
        let plan = check(&network).unwrap();
        assert_eq!(plan.stamps, StampPlan::KernelSoftware);
        assert_eq!(plan.interface.as_deref(), Some("lo"));
        assert!(
            plan.source.starts_with("AF_PACKET tap on lo: "),
            "{}",
            plan.source
        );

        let refused = |network: &NetworkSpec| check(network).err().unwrap();
        let mut everywhere = network.clone();
        everywhere.gateway_listen = "0.0.0.0:0".parse().unwrap();
        let e = refused(&everywhere);
        assert_eq!(
            (e.key, e.value.as_str()),
            ("network.gateway_listen", "0.0.0.0:0")
        );
        assert!(e.why.contains("every interface"), "{}", e.why);
        let mut hardware = network.clone();
        hardware.timestamps = Timestamps::Hardware;
        assert_eq!(refused(&hardware).key, "network.timestamps");
        let mut dpdk = network.clone();
        dpdk.backend = Backend::Dpdk;
        dpdk.interface = Some("net_null0".into());
        let e = refused(&dpdk);
        assert_eq!(e.key, "network.tap");
        assert!(e.why.contains("DPDK's frames do not"), "{}", e.why);
    }

    #[test]
    fn default_eal_arguments_name_a_vdev_or_allow_a_pci_port() {
        assert_eq!(default_dpdk_args("net_null0"), "--vdev=net_null0");
        assert_eq!(default_dpdk_args("0000:3b:00.0"), "-a 0000:3b:00.0");
    }

    #[test]
    fn sockets_and_dpdk_offer_what_their_paths_can_stamp() {
        let plan = |b, t| plan_stamps(b, t, None, None).map(|(p, _)| p);
        assert_eq!(
            plan(Backend::Uring, Timestamps::Auto),
            Ok(StampPlan::KernelSoftware)
        );
        assert_eq!(
            plan(Backend::Uring, Timestamps::Software),
            Ok(StampPlan::KernelSoftware)
        );
        assert!(plan(Backend::Uring, Timestamps::Hardware)
            .unwrap_err()
            .contains("\"software\" or \"auto\""));
        assert!(plan(Backend::Uring, Timestamps::Tsc).is_err());
        assert_eq!(
            plan(Backend::Dpdk, Timestamps::Auto),
            Ok(StampPlan::UserClock)
        );
        assert_eq!(
            plan(Backend::Dpdk, Timestamps::Tsc),
            Ok(StampPlan::UserClock)
        );
        assert!(plan(Backend::Dpdk, Timestamps::Hardware)
            .unwrap_err()
            .contains("\"auto\" or \"tsc\""));
        assert!(plan(Backend::Dpdk, Timestamps::Software).is_err());
    }

    #[test]
    fn domain_names_say_where_both_ends_come_from() {
        assert_eq!(StampPlan::KernelSoftware.domain_name(), "kernel_software");
        assert_eq!(
            StampPlan::NicHardware { phc_index: 3 }.domain_name(),
            "nic_hardware"
        );
        assert_eq!(
            StampPlan::UserClock.domain_name(),
            "user_tx+kernel_software_rx"
        );
    }

    #[test]
    fn a_rewrite_changes_only_what_it_names() {
        let network = crate::config::RunSpec::load(None, &[] as &[&str])
            .unwrap()
            .network;
        assert_eq!(with_rewrite(&network, &Rewrite::default()), network);
        let mac = crate::config::MacAddr([2, 0, 0, 0, 0, 9]);
        let to_host = with_rewrite(
            &network,
            &Rewrite {
                dst_mac: Some(mac),
                dst_ip: Some(Ipv4Addr::new(198, 18, 0, 2)),
                dst_port: None,
            },
        );
        assert_eq!(to_host.feed_group, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(to_host.feed_dst_mac, Some(mac));
        assert_eq!(to_host.feed_port, network.feed_port);
        let other_group = with_rewrite(
            &to_host,
            &Rewrite {
                dst_mac: None,
                dst_ip: Some(Ipv4Addr::new(239, 1, 2, 3)),
                dst_port: Some(30_002),
            },
        );
        assert_eq!(other_group.feed_dst_mac, None, "the group's own MAC");
        assert_eq!(other_group.feed_port, 30_002);
    }

    #[test]
    fn the_feed_template_goes_to_the_groups_mac_or_the_one_given() {
        let mut network = crate::config::RunSpec::load(None, &[] as &[&str])
            .unwrap()
            .network;
        network.feed_port = 30_001;
        let template = feed_template(&network, [2, 0, 0, 0, 0, 1]).unwrap();
        let mut frame = [0u8; 64];
        frame[template.header_len()..template.header_len() + 4].copy_from_slice(b"ping");
        let len = template.finish(&mut frame, 4, 9).unwrap();
        let udp = crate::wire::ethernet_udp_fast(&frame[..len]).unwrap();
        assert_eq!(udp.dst_port, 30_001);
        assert_eq!(&frame[..6], &[0x01, 0x00, 0x5e, 0x46, 0x00, 0x01]);
        assert_eq!(&frame[6..12], &[2, 0, 0, 0, 0, 1]);

        network.feed_group = Ipv4Addr::new(198, 18, 0, 2);
        let refused = feed_template(&network, [2, 0, 0, 0, 0, 1]).err().unwrap();
        assert_eq!(refused.key, "network.feed_dst_mac");
        network.feed_dst_mac = Some(crate::config::MacAddr([2, 0, 0, 0, 0, 2]));
        let template = feed_template(&network, [2, 0, 0, 0, 0, 1]).unwrap();
        let len = template.finish(&mut frame, 4, 10).unwrap();
        assert_eq!(&frame[..6], &[2, 0, 0, 0, 0, 2]);
        assert!(crate::wire::ethernet_udp_fast(&frame[..len]).is_some());
    }
}
