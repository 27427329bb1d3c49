//! Market-data sources for the lab: where the ticks come from.
//!
//! - [`synthetic`]: the seeded synthetic ITCH 5.0 / MoldUDP64 session, the lab's
//!   default feed and the source of `ticklab gen`;
//! - [`frames`]: wraps feed packets in Ethernet/IPv4/UDP frames for captures;
//! - [`rng`]: the generator's own stable random numbers.
//!
//! A source produces packets into buffers its caller owns; it never does I/O and
//! never reads a clock (time is a field of what it produces), so the same source
//! serves a capture writer, a test and the lab's send thread.

pub mod frames;
pub mod rng;
pub mod synthetic;
