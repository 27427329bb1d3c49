//! The run orchestrator: the one room where the parts meet. It starts a run from a
//! [`crate::config::RunSpec`], wires feed, pacing, the network port, the order
//! gateway, the DUT, correlation and recording together on their threads, and writes
//! the results directory.
//!
//! - [`source`]: the feed as a stream of MoldUDP64 datagrams (synthetic or capture);
//! - [`capture_feed`]: a capture staged in memory, renumbered and looped;
//! - [`results`]: the results directory: atomic files, `env.json`, the run id.

pub mod capture_feed;
pub mod results;
pub mod source;
