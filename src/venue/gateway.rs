//! The order gateway without sockets: one [`Session`] and its [`Responder`] put
//! together, so every driver (the blocking [`super::server`] today, an io_uring
//! backend later) runs the same decisions.
//!
//! It is the session's byte interface ([`Gateway::receive_buffer`],
//! [`Gateway::received`], [`Gateway::pending_output`], [`Gateway::output_written`],
//! [`Gateway::poll`], [`Gateway::next_deadline`]) with every order answered before
//! the call returns, and each event handed to the caller with the order's
//! [`Outcome`]. Like its parts it never allocates after construction and never
//! panics on what the client sends.
//!
//! ```
//! use ticklab::proto::soupbintcp;
//! use ticklab::venue::gateway::{Gateway, GatewayEvent};
//! use ticklab::venue::responder::{AnswerMode, ResponderConfig};
//! use ticklab::venue::session::SessionConfig;
//! let mut g = Gateway::new(SessionConfig::new("U", "P"),
//!                          ResponderConfig::new(AnswerMode::Accept), 0).unwrap();
//! let mut wire = [0u8; 64];
//! let n = soupbintcp::write_login_request(&mut wire, b"U", b"P", b"", 0).unwrap();
//! let buf = g.receive_buffer();
//! buf[..n].copy_from_slice(&wire[..n]);
//! let mut logged_in = false;
//! g.received(5, n, 0, |e| logged_in |= matches!(e, GatewayEvent::LoggedIn { .. }));
//! assert!(logged_in);
//! ```

use super::responder::{Outcome, Responder, ResponderConfig};
use super::session::{CloseReason, Event, Session, SessionConfig, State};
use super::ConfigError;
use crate::proto::soupbintcp::RejectReason;

/// What happened on the order session, for the lab to timestamp, correlate and
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayEvent<'a> {
    /// The client logged in (Login Accepted is queued).
    LoggedIn {
        username: &'a [u8],
        next_sequence: u64,
    },
    /// The login was refused; the session is closed.
    LoginRejected {
        reason: RejectReason,
    },
    /// One OUCH message from the DUT, received at `rx_ns`, and what the venue did;
    /// `stream_end` is the offset just past its packet in the client's bytes.
    Order {
        payload: &'a [u8],
        rx_ns: u64,
        stream_end: u64,
        outcome: Outcome,
    },
    ClientHeartbeat {
        rx_ns: u64,
    },
    Debug {
        text: &'a [u8],
    },
}

/// See the module documentation.
#[derive(Debug)]
pub struct Gateway {
    session: Session,
    responder: Responder,
}

impl Gateway {
    /// Validates both configurations and allocates the session's buffers; `now_ns`
    /// is the connect time.
    pub fn new(
        session: SessionConfig,
        responder: ResponderConfig,
        now_ns: u64,
    ) -> Result<Self, ConfigError> {
        Ok(Gateway {
            responder: Responder::new(responder)?,
            session: Session::new(session, now_ns)?,
        })
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn responder(&self) -> &Responder {
        &self.responder
    }

    pub fn state(&self) -> State {
        self.session.state()
    }

    /// See [`Session::receive_buffer`].
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        self.session.receive_buffer()
    }

    /// `n` bytes were read into [`Gateway::receive_buffer`] at `now_ns`: acts on
    /// them, answering orders with OUCH timestamp `ouch_timestamp_ns` (nanoseconds
    /// since midnight). Returns the close reason if the session closed.
    pub fn received(
        &mut self,
        now_ns: u64,
        n: usize,
        ouch_timestamp_ns: u64,
        mut on_event: impl FnMut(GatewayEvent<'_>),
    ) -> Option<CloseReason> {
        let responder = &mut self.responder;
        self.session.received(now_ns, n, |event, outbox| {
            let event = match event {
                Event::LoggedIn {
                    username,
                    next_sequence,
                } => GatewayEvent::LoggedIn {
                    username,
                    next_sequence,
                },
                Event::LoginRejected { reason } => GatewayEvent::LoginRejected { reason },
                Event::Order {
                    payload,
                    rx_ns,
                    stream_end,
                } => GatewayEvent::Order {
                    payload,
                    rx_ns,
                    stream_end,
                    outcome: responder.respond(payload, ouch_timestamp_ns, outbox),
                },
                Event::ClientHeartbeat { rx_ns } => GatewayEvent::ClientHeartbeat { rx_ns },
                Event::Debug { text } => GatewayEvent::Debug { text },
            };
            on_event(event);
        })
    }

    /// See [`Session::pending_output`].
    pub fn pending_output(&self) -> &[u8] {
        self.session.pending_output()
    }

    /// See [`Session::output_written`].
    pub fn output_written(&mut self, n: usize) {
        self.session.output_written(n);
    }

    /// See [`Session::poll`].
    pub fn poll(&mut self, now_ns: u64) -> Option<CloseReason> {
        self.session.poll(now_ns)
    }

    /// See [`Session::next_deadline`].
    pub fn next_deadline(&self) -> Option<u64> {
        self.session.next_deadline()
    }

    /// See [`Session::end_of_session`].
    pub fn end_of_session(&mut self, now_ns: u64) -> Option<CloseReason> {
        self.session.end_of_session(now_ns)
    }

    /// See [`Session::close`].
    pub fn close(&mut self, reason: CloseReason) -> Option<CloseReason> {
        self.session.close(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ouch50, soupbintcp};
    use crate::venue::responder::{AnswerMode, BadOrder, BadOrderPolicy};

    fn feed(
        g: &mut Gateway,
        now: u64,
        bytes: &[u8],
        seen: &mut Vec<String>,
    ) -> Option<CloseReason> {
        let buf = g.receive_buffer();
        buf[..bytes.len()].copy_from_slice(bytes);
        g.received(now, bytes.len(), 77, |e| seen.push(format!("{e:?}")))
    }

    #[test]
    fn orders_come_out_with_their_outcome_and_bad_ones_close_when_configured() {
        let responder = ResponderConfig {
            bad_order: BadOrderPolicy::CloseSession,
            ..ResponderConfig::new(AnswerMode::Fill)
        };
        let mut g = Gateway::new(SessionConfig::new("U", "P"), responder, 0).unwrap();
        let mut wire = vec![0u8; 256];
        let n = soupbintcp::write_login_request(&mut wire, b"U", b"P", b"", 1).unwrap();
        let mut seen = Vec::new();
        assert_eq!(feed(&mut g, 1, &wire[..n], &mut seen), None);
        let order = ouch50::EnterOrder::new(
            3, b'B', 10, b"IBM", 1_000_000, b'3', b'Y', b'P', b'N', b'N', b"T1",
        );
        let mut msg = [0u8; 64];
        let m = ouch50::write_enter_order(&mut msg, &order, &[]).unwrap();
        let n = soupbintcp::write_unsequenced_data(&mut wire, &msg[..m]).unwrap();
        seen.clear();
        assert_eq!(feed(&mut g, 2, &wire[..n], &mut seen), None);
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].ends_with(
                // stream_end: the 49-byte Login Request, then this 50-byte packet.
                "rx_ns: 2, stream_end: 99, outcome: Filled { accepted_sequence: 1, executed_sequence: 2, match_number: 1 } }"
            ),
            "{}",
            seen[0]
        );
        // Login Accepted (33), Order Accepted (3 + 64), Order Executed (3 + 36).
        assert_eq!(g.pending_output().len(), 33 + 67 + 39);
        let n = soupbintcp::write_unsequenced_data(&mut wire, b"?").unwrap();
        let closed = feed(&mut g, 3, &wire[..n], &mut seen);
        assert_eq!(
            closed,
            Some(CloseReason::BadOrder(BadOrder::UnknownType {
                protocol: "ouch50",
                type_byte: b'?'
            }))
        );
        assert_eq!(g.responder().stats().bad_orders, 1);
        assert_eq!(g.session().stats().orders_received, 2);
    }
}
