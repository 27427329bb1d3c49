//! The order gateway: the exchange side of the DUT's order session, a SoupBinTCP
//! 3.00 server that takes OUCH orders and answers them as the run's spec says.
//!
//! - [`session`]: the sans-IO SoupBinTCP server session (login accept/reject,
//!   heartbeats both ways with timeouts, sequenced data, end of session, garbage
//!   closed with a typed [`session::CloseReason`]);
//! - [`responder`]: OUCH 5.0/4.2 answers: accept, reject, or fill;
//! - [`gateway`]: the two together, still without sockets, for every driver;
//! - [`server`]: a blocking std TCP driver that accepts ONE DUT connection, with a
//!   pluggable receive-timestamp source ([`server::RxClock`]);
//! - [`rx_clock`]: kernel software RX timestamps for it, in the feed's TX domain.
//!
//! The sans-IO parts never read a clock, never touch a socket, never allocate after
//! construction and never panic on what the client sends: every receive, answer
//! and timer decision is a function of bytes in and `now_ns`, which is what the
//! unit tests drive with a fake clock. Only `server` and `rx_clock` do I/O.
//!
//! ```
//! use ticklab::venue::responder::{AnswerMode, ResponderConfig};
//! use ticklab::venue::server::{ServerConfig, VenueServer};
//! use ticklab::venue::session::SessionConfig;
//! let cfg = ServerConfig::new(
//!     "127.0.0.1:0".parse().unwrap(),
//!     SessionConfig::new("USER", "PASS"),
//!     ResponderConfig::new(AnswerMode::Accept),
//! );
//! let server = VenueServer::bind(cfg).unwrap();
//! assert_ne!(server.local_addr().port(), 0); // the DUT connects here
//! ```

pub mod gateway;
pub mod responder;
pub mod rx_clock;
pub mod server;
pub mod session;

/// A gateway configuration that cannot run, refused before anything starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{field} is longer than {max} characters")]
    FieldTooLong { field: &'static str, max: usize },
    #[error("{field} must be above zero")]
    Zero { field: &'static str },
    #[error("max_packet_len {value} is below {min}, the length of a Login Request")]
    MaxPacketTooSmall { value: u16, min: u16 },
    #[error("output_capacity {value} is below {min}, the largest SoupBinTCP packet")]
    OutputTooSmall { value: usize, min: usize },
    #[error("OUCH 4.2 reject reason {value} is not a printable ASCII code letter")]
    RejectReason42 { value: u16 },
}
