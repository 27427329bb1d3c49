//! The run orchestrator: the one room where the parts meet. It starts a run from a
//! [`crate::config::RunSpec`], wires feed, pacing, the network port, the order
//! gateway, the DUT, correlation and recording together on their threads, and writes
//! the results directory. It is a library API ([`run::start`] returns a
//! [`run::RunHandle`]: progress, live percentiles, cancel, results) so the CLI and,
//! later, the lab daemon drive it the same way.
//!
//! - [`run`]: start a run, watch it, cancel it, get its results (the control thread);
//! - [`feed_port`]: the feed's port for the spec's backend (io_uring, AF_PACKET,
//!   DPDK) and the clocks the figures' stamps come from;
//! - [`sender`]: the measuring thread: pacing, sending, TX stamps, trigger marking,
//!   correlation and recording;
//! - [`gateway`]: the order gateway's thread and what it hands the sender;
//! - [`dut`]: the DUT as a process the lab starts and stops;
//! - [`clock`]: the sync monitor: ptp4l sampled into `clock.log`, judged;
//! - [`source`]: the feed as a stream of MoldUDP64 datagrams (synthetic or capture);
//! - [`capture_feed`]: a capture staged in memory, renumbered and looped;
//! - [`summary`]: `summary.json` and the end-of-run report;
//! - [`tap`]: both stamps of every figure from an AF_PACKET tap on the feed's
//!   interface (`network.tap`);
//! - [`results`]: the results directory: atomic files, `env.json`, the run id;
//! - [`os`]: pinning, timer slack and the two clocks.
//!
//! It must never put a lock, an allocation or a log line on the send thread's path.

pub mod capture_feed;
pub mod clock;
pub mod dut;
pub mod feed_port;
pub mod gateway;
pub mod os;
pub mod results;
pub mod run;
pub mod sender;
pub mod source;
pub mod summary;
pub mod tap;

pub use run::{start, LabError, Progress, RunHandle, RunOptions, RunPhase, RunResults};
