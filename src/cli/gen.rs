//! `ticklab gen`: write the synthetic ITCH 5.0 / MoldUDP64 feed as a capture.

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use ticklab::capture::{Direction, InterfaceDescription, LinkType, PcapWriter, PcapngWriter};
use ticklab::feed::frames::{default_endpoints, FrameSource};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};

/// Write the seeded synthetic market-data feed (ITCH 5.0 in MoldUDP64 over UDP
/// multicast) as a pcap or pcapng capture.
///
/// Example: ticklab gen --messages 1000000 --seed 7 --out feed.pcapng
#[derive(Debug, Args)]
pub struct GenArgs {
    /// ITCH messages to write, including the session's opening and closing ones.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file; the extension picks the format (.pcapng or .pcap). `-` writes
    /// pcapng to standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Override the format the extension implies.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Symbols to trade, comma-separated (the first is the busiest).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Option<Vec<String>>,
    /// Mean message rate outside bursts, messages per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// MoldUDP64 session name (up to 10 characters).
    #[arg(long)]
    pub session: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Pcap,
    Pcapng,
}

fn format_for(args: &GenArgs) -> anyhow::Result<FormatArg> {
    if let Some(f) = args.format {
        return Ok(f);
    }
    if args.out.as_os_str() == "-" {
        return Ok(FormatArg::Pcapng);
    }
    match args.out.extension().and_then(|e| e.to_str()) {
        Some("pcapng") | Some("ntar") => Ok(FormatArg::Pcapng),
        Some("pcap") | Some("cap") => Ok(FormatArg::Pcap),
        other => Err(super::UsageError(format!(
            "--out {}: cannot tell the capture format from the extension {:?}; use .pcapng or .pcap, or give --format",
            args.out.display(),
            other.unwrap_or("")
        ))
        .into()),
    }
}

enum AnyWriter<W: Write> {
    Pcap(PcapWriter<W>),
    Pcapng(PcapngWriter<W>),
}

impl<W: Write> AnyWriter<W> {
    fn new(w: W, format: FormatArg, snap_len: u32) -> std::io::Result<Self> {
        Ok(match format {
            FormatArg::Pcap => AnyWriter::Pcap(PcapWriter::new(w, LinkType::ETHERNET, snap_len)?),
            FormatArg::Pcapng => AnyWriter::Pcapng(PcapngWriter::new(
                w,
                &[InterfaceDescription {
                    link_type: LinkType::ETHERNET,
                    snap_len,
                    name: Some("ticklab-synthetic".into()),
                }],
            )?),
        })
    }

    fn write(&mut self, ts: i64, frame: &[u8]) -> std::io::Result<()> {
        match self {
            AnyWriter::Pcap(w) => w.write_packet(ts, frame, frame.len() as u32),
            // The feed leaves the exchange: outbound from the publisher's side.
            AnyWriter::Pcapng(w) => {
                w.write_packet(0, ts, frame, frame.len() as u32, Some(Direction::Outbound))
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            AnyWriter::Pcap(w) => w.finish().map(drop),
            AnyWriter::Pcapng(w) => w.finish().map(drop),
        }
    }
}

pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    let format = format_for(&args)?;
    let mut cfg = SyntheticConfig {
        seed: args.seed,
        messages: Some(args.messages),
        ..Default::default()
    };
    if let Some(s) = &args.symbols {
        cfg.symbols = s.clone();
    }
    if let Some(r) = args.rate {
        cfg.mean_rate = r;
    }
    if let Some(s) = &args.session {
        cfg.session = s.clone();
    }
    let feed = SyntheticFeed::new(cfg)?;
    let mut source = FrameSource::new(feed, &default_endpoints());
    let mut frame = vec![0u8; source.max_frame_len()];
    let snap_len = 65_535;

    let progress = ProgressBar::new(args.messages).with_style(
        ProgressStyle::with_template("{spinner} gen {pos}/{len} messages ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let mut write_all =
        |w: &mut dyn FnMut(i64, &[u8]) -> std::io::Result<()>| -> anyhow::Result<(u64, u64)> {
            let (mut frames, mut bytes) = (0u64, 0u64);
            while let Some(f) = source.next_frame(&mut frame) {
                w(f.timestamp_ns, &frame[..f.len])?;
                frames += 1;
                bytes += f.len as u64;
                if frames % 4096 == 0 {
                    progress.set_position(source.feed().messages_generated());
                }
            }
            Ok((frames, bytes))
        };
    let (frames, bytes) = if args.out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut w = AnyWriter::new(
            std::io::BufWriter::with_capacity(1 << 20, stdout.lock()),
            format,
            snap_len,
        )?;
        let r = write_all(&mut |ts, f| w.write(ts, f))?;
        w.finish()?;
        r
    } else {
        let file = std::fs::File::create(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        let mut w = AnyWriter::new(
            std::io::BufWriter::with_capacity(1 << 20, file),
            format,
            snap_len,
        )?;
        let r = write_all(&mut |ts, f| w.write(ts, f))
            .with_context(|| format!("writing {}", args.out.display()))?;
        w.finish()
            .with_context(|| format!("writing {}", args.out.display()))?;
        r
    };
    progress.finish_and_clear();
    if args.out.as_os_str() != "-" {
        eprintln!(
            "ticklab gen: wrote {} messages in {frames} frames ({bytes} bytes of frames) to {}",
            args.messages,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
