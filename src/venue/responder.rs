//! Answers the DUT's OUCH orders as the run's spec says: accept them, reject them,
//! or fill them, in OUCH 5.0 (the default) or OUCH 4.2.
//!
//! [`Responder::respond`] takes one Unsequenced Data payload and queues the answer
//! through the session's [`Outbox`] as Sequenced Data, encoded in place by our
//! `proto` builders:
//!
//! - [`AnswerMode::Accept`]: Order Accepted (5.0 `'A'`, 4.2 Accepted `'A'`) echoing
//!   every field of the Enter Order byte for byte (UserRefNum, ClOrdID or Order
//!   Token, side, quantity, symbol, price, time in force, display, capacity,
//!   intermarket sweep, cross type; 4.2 also firm and minimum quantity), order
//!   state `L` (live), an Order Reference Number counting from 1, and 4.2 BBO
//!   Weight Indicator blank (unspecified).
//! - [`AnswerMode::Reject`]: Order Rejected (5.0 `'J'` with the u16 reason code as
//!   configured; 4.2 Rejected `'J'` with the reason letter).
//! - [`AnswerMode::Fill`]: Order Accepted, then Order Executed (5.0 `'E'`, 4.2
//!   Executed `'E'`) for the full quantity at the order's limit price, liquidity
//!   flag `R` (removed), Match Numbers counting from 1 across the session.
//!
//! Timestamps are the caller's: nanoseconds since midnight, as OUCH wants them.
//! Only Enter Order is answered. Other messages the codec knows (cancel, replace,
//! modify...) are counted as [`Outcome::NotAnswered`]; a payload that does not
//! decode, or whose type the OUCH version does not define, is a [`BadOrder`]:
//! counted, reported, and, if [`BadOrderPolicy::CloseSession`], the session closes
//! with [`CloseReason::BadOrder`]. Never a panic, never an allocation.
//!
//! ```
//! use ticklab::proto::{ouch50, soupbintcp};
//! use ticklab::venue::responder::{AnswerMode, Outcome, Responder, ResponderConfig};
//! use ticklab::venue::session::{Event, Session, SessionConfig};
//! let mut session = Session::new(SessionConfig::new("U", "P"), 0).unwrap();
//! let mut responder = Responder::new(ResponderConfig::new(AnswerMode::Accept)).unwrap();
//! let mut wire = [0u8; 128];
//! let n = soupbintcp::write_login_request(&mut wire, b"U", b"P", b"", 1).unwrap();
//! session.on_bytes(0, &wire[..n], |_, _| {});
//! let order = ouch50::EnterOrder::new(7, b'B', 100, b"AAPL", 1_500_000, b'3', b'Y', b'P',
//!                                     b'N', b'N', b"00000000000042");
//! let mut msg = [0u8; 64];
//! let m = ouch50::write_enter_order(&mut msg, &order, &[]).unwrap();
//! let n = soupbintcp::write_unsequenced_data(&mut wire, &msg[..m]).unwrap();
//! let mut outcomes = Vec::new();
//! session.on_bytes(1, &wire[..n], |event, outbox| {
//!     if let Event::Order { payload, .. } = event {
//!         outcomes.push(responder.respond(payload, 34_200_000_000_000, outbox));
//!     }
//! });
//! assert_eq!(outcomes, vec![Outcome::Accepted { sequence: 1, order_reference_number: 1 }]);
//! ```

use super::session::{CloseReason, Outbox, SendError};
use super::ConfigError;
use crate::codec::Error;
use crate::proto::{ouch42, ouch50};

/// Which OUCH the session speaks: the same type refcore's `--ouch` takes, so a
/// spec's OUCH version means one thing on both sides of the wire.
pub use crate::refcore::order::OuchVersion;

/// Liquidity Flag of our executions: `R`, the order removed liquidity (it was
/// marketable against the venue's imaginary book).
pub const LIQUIDITY_FLAG: u8 = b'R';
/// Order State of our Order Accepted: `L`, live.
pub const ORDER_STATE_LIVE: u8 = b'L';
/// OUCH 4.2 Rejected reason `O`: other.
pub const REJECT_OTHER_42: u16 = b'O' as u16;

/// How every Enter Order is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerMode {
    /// Order Accepted.
    Accept,
    /// Order Rejected with this reason: OUCH 5.0's u16 Reject Reason code as is;
    /// for OUCH 4.2 an ASCII reason letter (e.g. [`REJECT_OTHER_42`]).
    Reject { reason: u16 },
    /// Order Accepted, then Order Executed for the whole quantity at the limit
    /// price.
    Fill,
}

/// What happens to the session after a [`BadOrder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadOrderPolicy {
    /// Count it, report it, carry on: one bad message does not cost the run the
    /// orders that follow.
    #[default]
    KeepSession,
    /// Close the session with [`CloseReason::BadOrder`].
    CloseSession,
}

/// The responder's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponderConfig {
    pub version: OuchVersion,
    pub mode: AnswerMode,
    pub bad_order: BadOrderPolicy,
}

impl ResponderConfig {
    /// OUCH 5.0, this mode, bad orders counted without closing.
    pub fn new(mode: AnswerMode) -> Self {
        ResponderConfig {
            version: OuchVersion::V50,
            mode,
            bad_order: BadOrderPolicy::KeepSession,
        }
    }

    /// An OUCH 4.2 reject reason must be one printable ASCII letter.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let (OuchVersion::V42, AnswerMode::Reject { reason }) = (self.version, self.mode) {
            let printable = u8::try_from(reason).is_ok_and(|b| b.is_ascii_graphic());
            if !printable {
                return Err(ConfigError::RejectReason42 { value: reason });
            }
        }
        Ok(())
    }
}

/// An Unsequenced Data payload that is not an OUCH message of the configured
/// version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadOrder {
    /// Shorter than its type requires, or a malformed OUCH 5.0 appendage.
    #[error("{0}")]
    Malformed(Error),
    /// A type byte the version does not define for client messages.
    #[error("{protocol}: unknown inbound message type 0x{type_byte:02x}")]
    UnknownType {
        protocol: &'static str,
        type_byte: u8,
    },
}

/// What [`Responder::respond`] did with one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted {
        sequence: u64,
        order_reference_number: u64,
    },
    Rejected {
        sequence: u64,
    },
    Filled {
        accepted_sequence: u64,
        executed_sequence: u64,
        match_number: u64,
    },
    /// A well-formed message other than Enter Order; not answered.
    NotAnswered { type_byte: u8 },
    Bad(BadOrder),
    /// The answer could not be queued (the session is closing or closed).
    Unsent(SendError),
}

/// Counts of outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponderStats {
    pub accepted: u64,
    pub rejected: u64,
    pub filled: u64,
    pub not_answered: u64,
    pub bad_orders: u64,
    pub unsent: u64,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Responder {
    cfg: ResponderConfig,
    next_order_reference_number: u64,
    next_match_number: u64,
    stats: ResponderStats,
}

/// The fields of an Enter Order that its answers repeat, in the version's terms.
enum Order<'a> {
    V50(&'a ouch50::EnterOrder),
    V42(&'a ouch42::EnterOrder),
}

impl Responder {
    /// Checks the configuration ([`ResponderConfig::validate`]).
    pub fn new(cfg: ResponderConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Responder {
            cfg,
            next_order_reference_number: 1,
            next_match_number: 1,
            stats: ResponderStats::default(),
        })
    }

    pub fn config(&self) -> &ResponderConfig {
        &self.cfg
    }

    pub fn stats(&self) -> ResponderStats {
        self.stats
    }

    /// Answers one OUCH message from the client (an Unsequenced Data payload) with
    /// OUCH timestamp `timestamp_ns` (nanoseconds since midnight).
    pub fn respond(&mut self, payload: &[u8], timestamp_ns: u64, out: &mut Outbox<'_>) -> Outcome {
        let outcome = match self.classify(payload) {
            Ok(order) => self.answer(&order, timestamp_ns, out),
            Err(outcome) => outcome,
        };
        let stats = &mut self.stats;
        match outcome {
            Outcome::Accepted { .. } => stats.accepted += 1,
            Outcome::Rejected { .. } => stats.rejected += 1,
            Outcome::Filled { .. } => stats.filled += 1,
            Outcome::NotAnswered { .. } => stats.not_answered += 1,
            Outcome::Bad(bad) => {
                stats.bad_orders += 1;
                if self.cfg.bad_order == BadOrderPolicy::CloseSession {
                    out.close(CloseReason::BadOrder(bad));
                }
            }
            Outcome::Unsent(_) => stats.unsent += 1,
        }
        outcome
    }

    /// The Enter Order in `payload`, or the outcome for anything else.
    fn classify<'p>(&self, payload: &'p [u8]) -> Result<Order<'p>, Outcome> {
        match self.cfg.version {
            OuchVersion::V50 => match ouch50::parse_inbound(payload) {
                Ok(ouch50::Inbound::EnterOrder(m)) => Ok(Order::V50(m.fixed)),
                Ok(ouch50::Inbound::Unknown { type_byte, .. }) => {
                    Err(Outcome::Bad(BadOrder::UnknownType {
                        protocol: ouch50::PROTOCOL,
                        type_byte,
                    }))
                }
                Ok(_) => Err(Outcome::NotAnswered {
                    type_byte: payload.first().copied().unwrap_or_default(),
                }),
                Err(e) => Err(Outcome::Bad(BadOrder::Malformed(e))),
            },
            OuchVersion::V42 => match ouch42::parse_inbound(payload) {
                Ok(ouch42::Inbound::EnterOrder(m)) => Ok(Order::V42(m)),
                Ok(ouch42::Inbound::Unknown { type_byte, .. }) => {
                    Err(Outcome::Bad(BadOrder::UnknownType {
                        protocol: ouch42::PROTOCOL,
                        type_byte,
                    }))
                }
                Ok(_) => Err(Outcome::NotAnswered {
                    type_byte: payload.first().copied().unwrap_or_default(),
                }),
                Err(e) => Err(Outcome::Bad(BadOrder::Malformed(e))),
            },
        }
    }

    fn answer(&mut self, order: &Order<'_>, timestamp_ns: u64, out: &mut Outbox<'_>) -> Outcome {
        let sent = match self.cfg.mode {
            AnswerMode::Accept => self.accept(order, timestamp_ns, out).map(
                |(sequence, order_reference_number)| Outcome::Accepted {
                    sequence,
                    order_reference_number,
                },
            ),
            AnswerMode::Reject { reason } => {
                reject(order, reason, timestamp_ns, out).map(|sequence| Outcome::Rejected {
                    sequence,
                })
            }
            AnswerMode::Fill => self
                .accept(order, timestamp_ns, out)
                .and_then(|(accepted_sequence, _)| {
                    let match_number = self.next_match_number;
                    let executed_sequence = execute(order, match_number, timestamp_ns, out)?;
                    self.next_match_number += 1;
                    Ok(Outcome::Filled {
                        accepted_sequence,
                        executed_sequence,
                        match_number,
                    })
                }),
        };
        sent.unwrap_or_else(Outcome::Unsent)
    }

    /// Queues Order Accepted; returns its sequence number and the Order Reference
    /// Number it assigned.
    fn accept(
        &mut self,
        order: &Order<'_>,
        timestamp_ns: u64,
        out: &mut Outbox<'_>,
    ) -> Result<(u64, u64), SendError> {
        let reference = self.next_order_reference_number;
        let sequence = match *order {
            Order::V50(o) => {
                let msg = ouch50::OrderAccepted::new(
                    timestamp_ns,
                    o.user_ref_num(),
                    o.side,
                    o.quantity(),
                    &o.symbol,
                    o.price(),
                    o.time_in_force,
                    o.display,
                    reference,
                    o.capacity,
                    o.intermarket_sweep_eligibility,
                    o.cross_type,
                    ORDER_STATE_LIVE,
                    &o.cl_ord_id,
                );
                out.send_sequenced(|buf| ouch50::write(buf, &msg, &[]))?
            }
            Order::V42(o) => {
                let msg = ouch42::Accepted::new(
                    timestamp_ns,
                    &o.order_token,
                    o.buy_sell_indicator,
                    o.shares(),
                    &o.stock,
                    o.price(),
                    o.time_in_force(),
                    &o.firm,
                    o.display,
                    reference,
                    o.capacity,
                    o.intermarket_sweep_eligibility,
                    o.minimum_quantity(),
                    o.cross_type,
                    ORDER_STATE_LIVE,
                    b' ',
                );
                out.send_sequenced(|buf| ouch42::write(&msg, buf))?
            }
        };
        self.next_order_reference_number += 1;
        Ok((sequence, reference))
    }
}

fn reject(
    order: &Order<'_>,
    reason: u16,
    timestamp_ns: u64,
    out: &mut Outbox<'_>,
) -> Result<u64, SendError> {
    match *order {
        Order::V50(o) => {
            let msg =
                ouch50::OrderRejected::new(timestamp_ns, o.user_ref_num(), reason, &o.cl_ord_id);
            out.send_sequenced(|buf| ouch50::write(buf, &msg, &[]))
        }
        Order::V42(o) => {
            // `Responder::new` checked that the reason is one ASCII letter.
            let code = u8::try_from(reason).unwrap_or(b'O');
            let msg = ouch42::Rejected::new(timestamp_ns, &o.order_token, code);
            out.send_sequenced(|buf| ouch42::write(&msg, buf))
        }
    }
}

fn execute(
    order: &Order<'_>,
    match_number: u64,
    timestamp_ns: u64,
    out: &mut Outbox<'_>,
) -> Result<u64, SendError> {
    match *order {
        Order::V50(o) => {
            let msg = ouch50::OrderExecuted::new(
                timestamp_ns,
                o.user_ref_num(),
                o.quantity(),
                o.price(),
                LIQUIDITY_FLAG,
                match_number,
            );
            out.send_sequenced(|buf| ouch50::write(buf, &msg, &[]))
        }
        Order::V42(o) => {
            let msg = ouch42::Executed::new(
                timestamp_ns,
                &o.order_token,
                o.shares(),
                o.price(),
                LIQUIDITY_FLAG,
                match_number,
            );
            out.send_sequenced(|buf| ouch42::write(&msg, buf))
        }
    }
}
