//! `ticklab replay`: send a capture's frames as they are, with the lab's pacing.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ticklab::lab::os::{pin_current_thread, set_timer_slack_ns};
use ticklab::nic::af_packet::{AfPacketConfig, AfPacketPort};
use ticklab::nic::PortControl;
use ticklab::replay::{
    self, FrameSender, ReplayOptions, ReplayProgress, ReplaySummary, StagedCapture, Timing,
};

use super::UsageError;

/// Send a capture's Ethernet frames onto an interface as they are (like tcpreplay),
/// paced by the lab's anchored schedule: no drift, bursts of what is due.
///
/// Timing: `original` (the capture's gaps), `topspeed`, `rate=PPS` (evenly spaced),
/// `scale=X` (gaps divided by X). With `--backend dpdk`, IFACE is the DPDK port's
/// name (`net_null0`, `net_pcap0`, a PCI address) and `--dpdk-args` the EAL
/// arguments (default: virtual devices only, `--vdev=IFACE`, `-m 512`); the capture
/// is staged into mbufs before the first frame is sent (about 330 MB of EAL memory
/// per million 120-byte frames; an error names the `-m` a larger one needs).
///
/// Examples:
///   ticklab replay feed.pcap --iface veth0 --timing rate=100000
///   ticklab replay feed.pcap --iface net_pcap0 --backend dpdk \
///     --dpdk-args "--no-huge -m 512 --no-pci --vdev=net_pcap0,tx_pcap=out.pcap"
///
/// Needs CAP_NET_RAW for AF_PACKET (root, or setcap cap_net_raw+ep on the binary).
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ReplayArgs {
    /// The capture (pcap or pcapng, Ethernet link type).
    pub file: PathBuf,
    /// The interface (AF_PACKET) or DPDK port to send on.
    #[arg(long)]
    pub iface: String,
    #[arg(long, value_enum, default_value_t = Backend::AfPacket)]
    pub backend: Backend,
    /// original | topspeed | rate=PPS | scale=X
    #[arg(long, default_value = "original")]
    pub timing: String,
    /// Send the capture this many times.
    #[arg(long = "loop", default_value_t = 1, value_name = "N")]
    pub loops: u64,
    /// EAL arguments for `--backend dpdk`, whitespace-separated.
    #[arg(long, allow_hyphen_values = true)]
    pub dpdk_args: Option<String>,
    /// Pin the sending thread to this core and spin between frames instead of
    /// sleeping (give a core nothing else runs on).
    #[arg(long)]
    pub core: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    #[value(name = "af_packet")]
    AfPacket,
    Dpdk,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let timing: Timing = args
        .timing
        .parse()
        .map_err(|e: replay::TimingError| UsageError(e.to_string()))?;
    if args.loops == 0 {
        return Err(UsageError("--loop 0: give 1 or more passes".into()).into());
    }
    if args.dpdk_args.is_some() && args.backend != Backend::Dpdk {
        return Err(UsageError("--dpdk-args needs --backend dpdk".into()).into());
    }
    let capture = StagedCapture::load(&args.file)
        .with_context(|| format!("cannot stage {}", args.file.display()))?;
    if let Some(core) = args.core {
        pin_current_thread(core).map_err(|e| UsageError(format!("--core {core}: {e}")))?;
    }
    // Sleeps that end within a microsecond of when they were asked for.
    let _ = set_timer_slack_ns(1_000);
    let summary = match args.backend {
        Backend::AfPacket => {
            let config = AfPacketConfig {
                // The replay never reads; a small RX ring is enough.
                rx_block_count: 2,
                tx_frames: 4096,
                // At top speed every frame is due at the start, so departure minus
                // schedule says nothing; a TX stamp would cost the kernel a report
                // skb per frame. Every other timing measures departures.
                tx_timestamps: timing != Timing::TopSpeed,
                ..AfPacketConfig::new(args.iface.clone())
            };
            let (mut port, control) = AfPacketPort::open(config)
                .with_context(|| format!("cannot open AF_PACKET on {}", args.iface))?;
            let max = port.max_frame_len(true);
            if capture.max_frame_len() > max {
                anyhow::bail!(
                    "{}: its longest frame is {} bytes, above what {} takes ({max} bytes with one VLAN tag): raise the interface's MTU (ip link set {} mtu N)",
                    capture.name(),
                    capture.max_frame_len(),
                    args.iface,
                    args.iface
                );
            }
            send(&mut port, &control, &capture, &args, timing)?
        }
        Backend::Dpdk => run_dpdk(&capture, &args, timing)?,
    };
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        print!("{}", summary.render());
    }
    Ok(ExitCode::SUCCESS)
}

fn send<S: FrameSender>(
    port: &mut S,
    control: &impl PortControl,
    capture: &StagedCapture,
    args: &ReplayArgs,
    timing: Timing,
) -> anyhow::Result<ReplaySummary> {
    let options = ReplayOptions {
        timing,
        loops: args.loops,
        spin: args.core.is_some(),
        stamp_clock: control.clock_domain(),
        interface: args.iface.clone(),
    };
    let total = capture.len() as u64 * args.loops;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{spinner} replay {pos}/{len} frames ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let summary = replay::replay(port, capture, &options, |p: ReplayProgress| {
        bar.set_position(p.sent)
    })?;
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(feature = "dpdk")]
fn run_dpdk(
    capture: &StagedCapture,
    args: &ReplayArgs,
    timing: Timing,
) -> anyhow::Result<ReplaySummary> {
    use ticklab::nic::dpdk::{DpdkPort, DpdkPortConfig, Eal, EalConfig};
    use ticklab::replay::StagedDpdkPort;
    let eal_config = match &args.dpdk_args {
        Some(a) => EalConfig::parse(a),
        None => EalConfig::virtual_devices([args.iface.as_str()]),
    };
    let eal = Eal::init(&eal_config).with_context(|| {
        format!(
            "cannot start DPDK for {} (is the PMD's package installed, e.g. dpdk-dev for the virtual devices, and is a NIC bound to vfio-pci or its DPDK driver?)",
            args.iface
        )
    })?;
    let _lcore = eal.register_thread()?;
    let config = DpdkPortConfig {
        // Staged frames are shared with the device by reference count.
        tx_fast_free: false,
        // A top-speed replay reads no TX stamps (nothing is due later than anything).
        tx_timestamps: timing != Timing::TopSpeed,
        ..DpdkPortConfig::new(args.iface.clone())
    };
    let (mut queues, control) = DpdkPort::open(&eal, &config)
        .with_context(|| format!("cannot open DPDK port {}", args.iface))?;
    let port = &mut queues[0];
    if capture.max_frame_len() > port.max_frame() {
        anyhow::bail!(
            "{}: its longest frame is {} bytes, above the {} bytes DPDK port {} takes",
            capture.name(),
            capture.max_frame_len(),
            port.max_frame(),
            args.iface
        );
    }
    let mut staged = StagedDpdkPort::stage(port, capture).with_context(|| {
        format!(
            "cannot stage {} on DPDK port {}",
            capture.name(),
            args.iface
        )
    })?;
    let summary = send(&mut staged, &control, capture, args, timing)?;
    Ok(summary)
}

#[cfg(not(feature = "dpdk"))]
fn run_dpdk(
    _capture: &StagedCapture,
    args: &ReplayArgs,
    _timing: Timing,
) -> anyhow::Result<ReplaySummary> {
    Err(UsageError(format!(
        "--backend dpdk for {}: this ticklab was built without DPDK; build it with `cargo build --release --features dpdk` (needs libdpdk-dev, dpdk-dev, clang)",
        args.iface
    ))
    .into())
}
