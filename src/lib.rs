//! ticklab: a hardware-in-the-loop latency lab.
//!
//! It replays exchange market data into a real trading core, runs the exchange side
//! of that core's order sessions, and measures tick-to-trade latency in nanoseconds.
//! This crate is the library behind the `ticklab` and `refcore` binaries; the
//! binaries hold no logic that a test would need.
//!
//! The rooms, from the bottom up (a room knows only the rooms below it):
//! - [`codec`]: the decode error type and field-visiting traits every decoder shares;
//! - [`proto`]: exchange protocol codecs (ITCH 5.0, MoldUDP64, SoupBinTCP, OUCH 4.2
//!   and 5.0, FIX), zero-copy views plus builders;
//! - [`wire`]: Ethernet/802.1Q/IPv4/UDP/TCP views and frame templates;
//! - [`capture`]: pcap and pcapng reading and writing, vendor timestamp trailers;
//! - [`feed`]: market-data sources (the seeded synthetic ITCH feed);
//! - [`decode`]: the offline dissector behind `ticklab decode`: capture, frame,
//!   transport, protocol, message;
//! - [`pace`]: sans-IO replay pacing: when each tick is due, anchored to the run's
//!   start, and how late ticks left;
//! - [`stats`]: latency recording without allocation on the measuring thread,
//!   interval histograms, HdrHistogram interval logs and percentile distributions;
//! - [`refcore`]: the reference trading core (book, trigger rule, SoupBinTCP/OUCH
//!   client) behind the `refcore` binary, the lab's self-test device under test;
//! - [`correlate`]: sans-IO pairing of each order with the tick that caused it (echo,
//!   instrument, trigger rules), tick-to-trade samples and the accounting of every
//!   tick and order;
//! - [`config`]: the run spec: TOML over an embedded default, `--set` overrides,
//!   validation that names the file, the key and what is valid;
//! - [`venue`]: the order gateway, a SoupBinTCP 3.00 server (sans-IO session, OUCH
//!   responder, blocking TCP driver) that takes the DUT's orders and answers them;
//! - [`nic`]: packet I/O behind the `Port` trait, `SO_TIMESTAMPING` glue, the
//!   unprivileged io_uring backend (UDP feed, TCP order session) with kernel TX/RX
//!   timestamps, and the AF_PACKET backend (TPACKET_V3 RX ring, mmapped TX ring,
//!   tap mode, hardware stamps where the NIC has them);
//! - [`time`]: timestamps that carry their clock domain as a type, TSC detection and
//!   least-squares TSC calibration against the kernel clocks;
//! - [`lab`]: the run orchestrator behind `ticklab run`: feed, pacing, port, order
//!   gateway, DUT, correlation and recording on their threads, and the results;
//! - [`report`]: a results directory read back and checked, rendered as text,
//!   markdown or JSON (`ticklab report`);
//! - [`replay`]: `ticklab replay`: a capture's frames staged in memory and sent as
//!   they are through a `Port` (AF_PACKET, DPDK) at the pacer's anchored schedule,
//!   with departure-minus-schedule figures from the port's TX stamps.

pub mod build_info;
pub mod capture;
pub mod codec;
pub mod config;
pub mod correlate;
pub mod decode;
pub mod feed;
pub mod lab;
pub mod nic;
pub mod pace;
pub mod proto;
pub mod refcore;
pub mod replay;
pub mod report;
pub mod stats;
pub mod time;
pub mod venue;
pub mod wire;
