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
    NotAnswered {
        type_byte: u8,
    },
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
            AnswerMode::Accept => {
                self.accept(order, timestamp_ns, out)
                    .map(|(sequence, order_reference_number)| Outcome::Accepted {
                        sequence,
                        order_reference_number,
                    })
            }
            AnswerMode::Reject { reason } => reject(order, reason, timestamp_ns, out)
                .map(|sequence| Outcome::Rejected { sequence }),
            AnswerMode::Fill => {
                self.accept(order, timestamp_ns, out)
                    .and_then(|(accepted_sequence, _)| {
                        let match_number = self.next_match_number;
                        let executed_sequence = execute(order, match_number, timestamp_ns, out)?;
                        self.next_match_number += 1;
                        Ok(Outcome::Filled {
                            accepted_sequence,
                            executed_sequence,
                            match_number,
                        })
                    })
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::soupbintcp;
    use crate::venue::session::{Event, Session, SessionConfig, State};
    use proptest::prelude::*;

    /// 09:30:00 in nanoseconds since midnight.
    const TS: u64 = 34_200_000_000_000;

    fn logged_in() -> Session {
        let mut s = Session::new(SessionConfig::new("U", "P"), 0).unwrap();
        let mut buf = [0u8; 64];
        let n = soupbintcp::write_login_request(&mut buf, b"U", b"P", b"", 1).unwrap();
        s.on_bytes(0, &buf[..n], |_, _| {});
        let m = s.pending_output().len();
        s.output_written(m);
        s
    }

    /// Feeds one OUCH message as Unsequenced Data; returns the outcome and the
    /// Sequenced Data messages queued in answer.
    fn answer(s: &mut Session, r: &mut Responder, msg: &[u8]) -> (Outcome, Vec<Vec<u8>>) {
        let mut wire = vec![0u8; msg.len() + 3];
        soupbintcp::write_unsequenced_data(&mut wire, msg).unwrap();
        let mut outcome = None;
        s.on_bytes(1, &wire, |e, outbox| {
            if let Event::Order { payload, .. } = e {
                outcome = Some(r.respond(payload, TS, outbox));
            }
        });
        let mut out = Vec::new();
        let mut rest = s.pending_output();
        while let Some((p, used)) = soupbintcp::frame(rest).unwrap() {
            let soupbintcp::Packet::SequencedData { message } = p else {
                panic!("not sequenced data: {p:?}");
            };
            out.push(message.to_vec());
            rest = &rest[used..];
        }
        let n = s.pending_output().len();
        s.output_written(n);
        (outcome.expect("an order event"), out)
    }

    fn responder(version: OuchVersion, mode: AnswerMode) -> Responder {
        Responder::new(ResponderConfig {
            version,
            mode,
            bad_order: BadOrderPolicy::KeepSession,
        })
        .unwrap()
    }

    fn enter50(user_ref_num: u32, quantity: u32) -> Vec<u8> {
        let order = ouch50::EnterOrder::new(
            user_ref_num,
            b'S',
            quantity,
            b"MSFT",
            4_205_100, // $420.5100
            b'3',
            b'Y',
            b'P',
            b'N',
            b'N',
            b"00000000004217",
        );
        let mut buf = [0u8; 64];
        let n = ouch50::write_enter_order(&mut buf, &order, &[]).unwrap();
        buf[..n].to_vec()
    }

    fn enter42(token: &[u8], shares: u32) -> Vec<u8> {
        let order = ouch42::EnterOrder::new(
            token, b'B', shares, b"AAPL", 1_502_500, 0, b"TKLB", b'Y', b'P', b'N', 0, b'N', b'N',
        );
        let mut buf = [0u8; 64];
        let n = ouch42::write(&order, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn be(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
    }

    // OUCH 5.0 (2023-2024) section "Order Accepted": Type 'A', Timestamp u64,
    // UserRefNum u32, Side, Quantity u32, Symbol 8, Price u64, Time In Force,
    // Display, Order Reference Number u64, Capacity, Intermarket Sweep Eligibility,
    // Cross Type, Order State, ClOrdID 14, Appendage Length u16.
    fn accepted50(user_ref_num: u32, quantity: u32, reference: u64) -> Vec<u8> {
        let mut m = vec![b'A'];
        be(&mut m, &TS.to_be_bytes());
        be(&mut m, &user_ref_num.to_be_bytes());
        be(&mut m, b"S");
        be(&mut m, &quantity.to_be_bytes());
        be(&mut m, b"MSFT    ");
        be(&mut m, &4_205_100u64.to_be_bytes());
        be(&mut m, b"3Y");
        be(&mut m, &reference.to_be_bytes());
        be(&mut m, b"PNNL");
        be(&mut m, b"00000000004217");
        be(&mut m, &[0, 0]);
        assert_eq!(m.len(), 64);
        m
    }

    #[test]
    fn ouch50_accept_echoes_the_order() {
        let mut s = logged_in();
        let mut r = responder(OuchVersion::V50, AnswerMode::Accept);
        let (outcome, out) = answer(&mut s, &mut r, &enter50(7, 300));
        assert_eq!(
            outcome,
            Outcome::Accepted {
                sequence: 1,
                order_reference_number: 1
            }
        );
        assert_eq!(out, vec![accepted50(7, 300, 1)]);
        let Ok(ouch50::Outbound::OrderAccepted(a)) = ouch50::parse_outbound(&out[0]) else {
            panic!("not an Order Accepted");
        };
        assert_eq!(
            (
                a.user_ref_num(),
                a.quantity(),
                a.symbol(),
                a.price(),
                a.order_state()
            ),
            (7, 300, &b"MSFT"[..], 4_205_100, b'L')
        );
        assert_eq!(&a.cl_ord_id(), b"00000000004217");
        let (outcome, out) = answer(&mut s, &mut r, &enter50(8, 1));
        assert_eq!(
            outcome,
            Outcome::Accepted {
                sequence: 2,
                order_reference_number: 2
            }
        );
        assert_eq!(out, vec![accepted50(8, 1, 2)]);
        assert_eq!(r.stats().accepted, 2);
    }

    #[test]
    fn ouch50_reject_carries_the_reason_code() {
        let mut s = logged_in();
        let mut r = responder(OuchVersion::V50, AnswerMode::Reject { reason: 0x0102 });
        let (outcome, out) = answer(&mut s, &mut r, &enter50(9, 100));
        assert_eq!(outcome, Outcome::Rejected { sequence: 1 });
        // Order Rejected: 'J', Timestamp u64, UserRefNum u32, Reason u16, ClOrdID 14.
        let mut want = vec![b'J'];
        be(&mut want, &TS.to_be_bytes());
        be(&mut want, &9u32.to_be_bytes());
        be(&mut want, &[0x01, 0x02]);
        be(&mut want, b"00000000004217");
        assert_eq!(out, vec![want]);
        let Ok(ouch50::Outbound::OrderRejected(j)) = ouch50::parse_outbound(&out[0]) else {
            panic!("not an Order Rejected");
        };
        assert_eq!((j.user_ref_num(), j.reason()), (9, 0x0102));
        assert_eq!(r.stats().rejected, 1);
    }

    #[test]
    fn ouch50_fill_accepts_then_executes_with_rising_match_numbers() {
        let mut s = logged_in();
        let mut r = responder(OuchVersion::V50, AnswerMode::Fill);
        for (i, user_ref_num) in [11u32, 12].into_iter().enumerate() {
            let i = i as u64;
            let (outcome, out) = answer(&mut s, &mut r, &enter50(user_ref_num, 250));
            assert_eq!(
                outcome,
                Outcome::Filled {
                    accepted_sequence: 1 + 2 * i,
                    executed_sequence: 2 + 2 * i,
                    match_number: 1 + i
                }
            );
            // Order Executed: 'E', Timestamp u64, UserRefNum u32, Quantity u32,
            // Price u64, Liquidity Flag, Match Number u64, Appendage Length u16.
            let mut executed = vec![b'E'];
            be(&mut executed, &TS.to_be_bytes());
            be(&mut executed, &user_ref_num.to_be_bytes());
            be(&mut executed, &250u32.to_be_bytes());
            be(&mut executed, &4_205_100u64.to_be_bytes());
            be(&mut executed, b"R");
            be(&mut executed, &(1 + i).to_be_bytes());
            be(&mut executed, &[0, 0]);
            assert_eq!(out, vec![accepted50(user_ref_num, 250, 1 + i), executed]);
            let Ok(ouch50::Outbound::OrderExecuted(e)) = ouch50::parse_outbound(&out[1]) else {
                panic!("not an Order Executed");
            };
            assert_eq!(
                (
                    e.quantity(),
                    e.price(),
                    e.match_number(),
                    e.liquidity_flag()
                ),
                (250, 4_205_100, 1 + i, b'R')
            );
        }
        assert_eq!(r.stats().filled, 2);
        assert_eq!(s.next_sequence(), 5);
    }

    // OUCH 4.2 section 3.2 Accepted: 'A', Timestamp u64, Order Token 14, Buy/Sell,
    // Shares u32, Stock 8, Price u32, Time In Force u32, Firm 4, Display, Order
    // Reference Number u64, Capacity, Intermarket Sweep Eligibility, Minimum
    // Quantity u32, Cross Type, Order State, BBO Weight Indicator.
    fn accepted42(token: &[u8; 14], shares: u32, reference: u64) -> Vec<u8> {
        let mut m = vec![b'A'];
        be(&mut m, &TS.to_be_bytes());
        be(&mut m, token);
        be(&mut m, b"B");
        be(&mut m, &shares.to_be_bytes());
        be(&mut m, b"AAPL    ");
        be(&mut m, &1_502_500u32.to_be_bytes());
        be(&mut m, &0u32.to_be_bytes());
        be(&mut m, b"TKLBY");
        be(&mut m, &reference.to_be_bytes());
        be(&mut m, b"PN");
        be(&mut m, &0u32.to_be_bytes());
        be(&mut m, b"NL ");
        assert_eq!(m.len(), 66);
        m
    }

    #[test]
    fn ouch42_accept_reject_and_fill() {
        let token = b"00000000000099";
        let mut s = logged_in();
        let mut r = responder(OuchVersion::V42, AnswerMode::Accept);
        let (outcome, out) = answer(&mut s, &mut r, &enter42(token, 100));
        assert_eq!(
            outcome,
            Outcome::Accepted {
                sequence: 1,
                order_reference_number: 1
            }
        );
        assert_eq!(out, vec![accepted42(token, 100, 1)]);
        let Ok(ouch42::Outbound::Accepted(a)) = ouch42::parse_outbound(&out[0]) else {
            panic!("not an Accepted");
        };
        assert_eq!(
            (a.order_token(), a.shares(), a.price()),
            (*token, 100, 1_502_500)
        );

        let mut s = logged_in();
        let mut r = responder(
            OuchVersion::V42,
            AnswerMode::Reject {
                reason: b'H'.into(),
            },
        );
        let (outcome, out) = answer(&mut s, &mut r, &enter42(token, 100));
        assert_eq!(outcome, Outcome::Rejected { sequence: 1 });
        // Rejected: 'J', Timestamp u64, Order Token 14, Reason.
        let mut want = vec![b'J'];
        be(&mut want, &TS.to_be_bytes());
        be(&mut want, token);
        be(&mut want, b"H");
        assert_eq!(out, vec![want]);
        let Ok(ouch42::Outbound::Rejected(j)) = ouch42::parse_outbound(&out[0]) else {
            panic!("not a Rejected");
        };
        assert_eq!(j.reason(), b'H');

        let mut s = logged_in();
        let mut r = responder(OuchVersion::V42, AnswerMode::Fill);
        for i in 0..2u64 {
            let (outcome, out) = answer(&mut s, &mut r, &enter42(token, 40));
            assert_eq!(
                outcome,
                Outcome::Filled {
                    accepted_sequence: 1 + 2 * i,
                    executed_sequence: 2 + 2 * i,
                    match_number: 1 + i
                }
            );
            // Executed: 'E', Timestamp u64, Order Token 14, Executed Shares u32,
            // Execution Price u32, Liquidity Flag, Match Number u64.
            let mut executed = vec![b'E'];
            be(&mut executed, &TS.to_be_bytes());
            be(&mut executed, token);
            be(&mut executed, &40u32.to_be_bytes());
            be(&mut executed, &1_502_500u32.to_be_bytes());
            be(&mut executed, b"R");
            be(&mut executed, &(1 + i).to_be_bytes());
            assert_eq!(out, vec![accepted42(token, 40, 1 + i), executed]);
            let Ok(ouch42::Outbound::Executed(e)) = ouch42::parse_outbound(&out[1]) else {
                panic!("not an Executed");
            };
            assert_eq!((e.executed_shares(), e.match_number()), (40, 1 + i));
        }
    }

    #[test]
    fn bad_orders_are_counted_and_close_only_when_configured() {
        let mut s = logged_in();
        let mut r = responder(OuchVersion::V50, AnswerMode::Accept);
        let truncated = &enter50(1, 1)[..30];
        let (outcome, out) = answer(&mut s, &mut r, truncated);
        assert_eq!(
            outcome,
            Outcome::Bad(BadOrder::Malformed(Error::Truncated {
                protocol: "ouch50",
                msg_type: Some(b'O'),
                field: "message",
                offset: 0,
                needed: 47,
                available: 30
            }))
        );
        assert!(out.is_empty());
        let (outcome, _) = answer(&mut s, &mut r, b"");
        assert!(matches!(outcome, Outcome::Bad(BadOrder::Malformed(_))));
        let (outcome, _) = answer(&mut s, &mut r, b"Zgarbage");
        assert_eq!(
            outcome,
            Outcome::Bad(BadOrder::UnknownType {
                protocol: "ouch50",
                type_byte: b'Z'
            })
        );
        assert_eq!(r.stats().bad_orders, 3);
        assert_eq!(s.state(), State::LoggedIn);
        // A well-formed order still gets its answer after the bad ones.
        let (outcome, _) = answer(&mut s, &mut r, &enter50(2, 5));
        assert!(matches!(outcome, Outcome::Accepted { sequence: 1, .. }));

        let mut s = logged_in();
        let mut r = Responder::new(ResponderConfig {
            bad_order: BadOrderPolicy::CloseSession,
            ..ResponderConfig::new(AnswerMode::Accept)
        })
        .unwrap();
        let (outcome, _) = answer(&mut s, &mut r, b"Zgarbage");
        let Outcome::Bad(bad) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(s.state(), State::Closed(CloseReason::BadOrder(bad)));
        assert_eq!(
            CloseReason::BadOrder(bad).to_string(),
            "bad order: ouch50: unknown inbound message type 0x5a"
        );
    }

    #[test]
    fn other_messages_are_not_answered() {
        let mut s = logged_in();
        let mut r = responder(OuchVersion::V42, AnswerMode::Fill);
        let cancel = ouch42::CancelOrder::new(b"00000000000001", 0);
        let (outcome, out) = answer(&mut s, &mut r, zerocopy::IntoBytes::as_bytes(&cancel));
        assert_eq!(outcome, Outcome::NotAnswered { type_byte: b'X' });
        assert!(out.is_empty());
        assert_eq!(r.stats().not_answered, 1);
    }

    #[test]
    fn ouch42_reject_reason_must_be_a_letter() {
        let cfg = ResponderConfig {
            version: OuchVersion::V42,
            mode: AnswerMode::Reject { reason: 0x0102 },
            bad_order: BadOrderPolicy::KeepSession,
        };
        assert_eq!(
            Responder::new(cfg).unwrap_err(),
            ConfigError::RejectReason42 { value: 0x0102 }
        );
        let ok = ResponderConfig {
            mode: AnswerMode::Reject {
                reason: REJECT_OTHER_42,
            },
            ..cfg
        };
        assert!(Responder::new(ok).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(
            payload in proptest::collection::vec(any::<u8>(), 0..120),
            v42 in any::<bool>(),
            mode in 0u8..3,
        ) {
            let mode = match mode {
                0 => AnswerMode::Accept,
                1 => AnswerMode::Reject { reason: REJECT_OTHER_42 },
                _ => AnswerMode::Fill,
            };
            let version = if v42 { OuchVersion::V42 } else { OuchVersion::V50 };
            let mut s = logged_in();
            let mut r = responder(version, mode);
            let (outcome, out) = answer(&mut s, &mut r, &payload);
            let answers = match outcome {
                Outcome::Accepted { .. } | Outcome::Rejected { .. } => 1,
                Outcome::Filled { .. } => 2,
                _ => 0,
            };
            prop_assert_eq!(out.len(), answers);
        }
    }
}
