//! The order refcore sends for a trigger, and how the lab finds the trigger again.
//!
//! Every order is an OUCH Enter Order (5.0 by default, or 4.2) whose 14-byte token
//! carries the triggering message's MoldUDP64 sequence number in decimal, right
//! aligned and zero padded: sequence 4217 is `"00000000004217"`. In OUCH 5.0 that is
//! the ClOrdID (and UserRefNum counts orders from 1 per session, as the
//! specification wants it increasing); in OUCH 4.2 it is the Order Token. The lab
//! reads the token of each order it receives with [`sequence_from_token`] and so
//! pairs the order with its tick. Fourteen digits hold sequence numbers below 10^14,
//! about 1,100 days of a full NASDAQ feed; a larger one cannot be encoded and
//! [`OrderEncoder::encode`] refuses it.
//!
//! The order takes what the trigger found (see [`super::trigger`]): side
//! [`Trigger::order_side`], limit price [`Trigger::price`], a fixed quantity, time in
//! force IOC (OUCH 5.0 `'3'`, OUCH 4.2 `0`), displayed, principal capacity, not an
//! intermarket sweep, continuous market.
//!
//! Encoding writes into the caller's buffer and never allocates. [`AckCounts`]
//! tallies what the gateway answers.
//!
//! ```
//! use ticklab::refcore::order::{sequence_from_token, token_for_sequence};
//! let token = token_for_sequence(4217).unwrap();
//! assert_eq!(&token, b"00000000004217");
//! assert_eq!(sequence_from_token(&token), Some(4217));
//! ```

use super::trigger::Trigger;
use crate::proto::{ouch42, ouch50, Error};

/// Width of the OUCH token (5.0 ClOrdID, 4.2 Order Token).
pub const TOKEN_LEN: usize = 14;
/// The largest sequence number a token can carry.
pub const MAX_TOKEN_SEQUENCE: u64 = 99_999_999_999_999;

/// The token for a triggering message's sequence number, or `None` above
/// [`MAX_TOKEN_SEQUENCE`].
pub fn token_for_sequence(sequence: u64) -> Option<[u8; TOKEN_LEN]> {
    if sequence > MAX_TOKEN_SEQUENCE {
        return None;
    }
    let mut token = [b'0'; TOKEN_LEN];
    let mut v = sequence;
    for b in token.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
    Some(token)
}

/// The sequence number in a refcore token: exactly 14 ASCII digits. Any other token
/// (another client's, a space-padded one) is `None`.
pub fn sequence_from_token(token: &[u8; TOKEN_LEN]) -> Option<u64> {
    token.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// Which OUCH the order session speaks (one type for the whole crate).
pub use crate::proto::OuchVersion;

/// What every order has in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderConfig {
    pub version: OuchVersion,
    /// Shares per order.
    pub quantity: u32,
    /// OUCH 4.2 Firm (4 alpha); OUCH 5.0 carries none by default.
    pub firm: [u8; 4],
    /// OUCH 5.0 UserRefNum of the first order.
    pub first_user_ref_num: u32,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            version: OuchVersion::V50,
            quantity: 100,
            firm: *b"TKLB",
            first_user_ref_num: 1,
        }
    }
}

/// Turns triggers into Enter Order messages.
#[derive(Debug, Clone)]
pub struct OrderEncoder {
    cfg: OrderConfig,
    next_user_ref_num: u32,
}

impl OrderEncoder {
    pub fn new(cfg: OrderConfig) -> Self {
        OrderEncoder {
            next_user_ref_num: cfg.first_user_ref_num,
            cfg,
        }
    }

    pub fn version(&self) -> OuchVersion {
        self.cfg.version
    }

    /// The UserRefNum the next OUCH 5.0 order will carry.
    pub fn next_user_ref_num(&self) -> u32 {
        self.next_user_ref_num
    }

    /// Writes the Enter Order for `trigger` at the start of `buf` (the OUCH message
    /// only; the session frames it) and returns its length. Errors: the sequence
    /// number does not fit the token (`Invalid`, field `"token"`), `buf` is too
    /// short (`Truncated`), UserRefNum exhausted (`Invalid`, `"user_ref_num"`).
    pub fn encode(&mut self, trigger: &Trigger, buf: &mut [u8]) -> Result<usize, Error> {
        let protocol = match self.cfg.version {
            OuchVersion::V50 => ouch50::PROTOCOL,
            OuchVersion::V42 => ouch42::PROTOCOL,
        };
        let invalid = |field, expected| Error::Invalid {
            protocol,
            msg_type: Some(b'O'),
            field,
            offset: 0,
            expected,
        };
        let token = token_for_sequence(trigger.sequence)
            .ok_or(invalid("token", "a sequence number below 10^14"))?;
        let side = trigger.order_side().indicator();
        match self.cfg.version {
            OuchVersion::V50 => {
                let user_ref_num = self.next_user_ref_num;
                let next = user_ref_num
                    .checked_add(1)
                    .ok_or(invalid("user_ref_num", "UserRefNum below 2^32"))?;
                let order = ouch50::EnterOrder::new(
                    user_ref_num,
                    side,
                    self.cfg.quantity,
                    &trigger.stock,
                    u64::from(trigger.price),
                    b'3', // IOC
                    b'Y', // displayed
                    b'P', // principal
                    b'N', // not an intermarket sweep
                    b'N', // continuous market
                    &token,
                );
                let n = ouch50::write_enter_order(buf, &order, &[])?;
                self.next_user_ref_num = next;
                Ok(n)
            }
            OuchVersion::V42 => {
                let order = ouch42::EnterOrder::new(
                    &token,
                    side,
                    self.cfg.quantity,
                    &trigger.stock,
                    trigger.price,
                    0, // IOC
                    &self.cfg.firm,
                    b'Y',
                    b'P',
                    b'N',
                    0,
                    b'N',
                    b'N', // not retail designated
                );
                ouch42::write(&order, buf)
            }
        }
    }
}

/// The gateway's answers to our orders, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckCounts {
    pub accepted: u64,
    pub rejected: u64,
    pub executed: u64,
    pub canceled: u64,
    /// Other well-formed OUCH messages (system events, replaces, ...).
    pub other: u64,
    /// Sequenced data that is not a valid OUCH message of this version.
    pub undecodable: u64,
}

impl AckCounts {
    /// Counts one Sequenced Data message from the gateway.
    pub fn record(&mut self, version: OuchVersion, message: &[u8]) {
        match version {
            OuchVersion::V50 => match ouch50::parse_outbound(message) {
                Ok(ouch50::Outbound::OrderAccepted(_)) => self.accepted += 1,
                Ok(ouch50::Outbound::OrderRejected(_)) => self.rejected += 1,
                Ok(ouch50::Outbound::OrderExecuted(_)) => self.executed += 1,
                Ok(ouch50::Outbound::OrderCanceled(_) | ouch50::Outbound::AiqCanceled(_)) => {
                    self.canceled += 1
                }
                Ok(ouch50::Outbound::Unknown { .. }) | Err(_) => self.undecodable += 1,
                Ok(_) => self.other += 1,
            },
            OuchVersion::V42 => match ouch42::parse_outbound(message) {
                Ok(ouch42::Outbound::Accepted(_)) => self.accepted += 1,
                Ok(ouch42::Outbound::Rejected(_)) => self.rejected += 1,
                Ok(
                    ouch42::Outbound::Executed(_) | ouch42::Outbound::ExecutedWithReferencePrice(_),
                ) => self.executed += 1,
                Ok(ouch42::Outbound::Canceled(_) | ouch42::Outbound::AiqCanceled(_)) => {
                    self.canceled += 1
                }
                Ok(ouch42::Outbound::Unknown { .. }) | Err(_) => self.undecodable += 1,
                Ok(_) => self.other += 1,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refcore::book::Side;
    use proptest::prelude::*;
    use zerocopy::IntoBytes;

    fn trigger(sequence: u64) -> Trigger {
        Trigger {
            sequence,
            locate: 3,
            stock: *b"MSFT    ",
            book_side: Side::Sell,
            price: 4_012_300,
            message_type: b'A',
        }
    }

    #[test]
    fn token_encoding_is_fixed_width_decimal() {
        assert_eq!(&token_for_sequence(0).unwrap(), b"00000000000000");
        assert_eq!(&token_for_sequence(4217).unwrap(), b"00000000004217");
        assert_eq!(
            &token_for_sequence(MAX_TOKEN_SEQUENCE).unwrap(),
            b"99999999999999"
        );
        assert_eq!(token_for_sequence(MAX_TOKEN_SEQUENCE + 1), None);
        assert_eq!(sequence_from_token(b"00000000004217"), Some(4217));
        assert_eq!(sequence_from_token(b"4217          "), None);
        assert_eq!(sequence_from_token(b"0000000000421x"), None);
    }

    proptest! {
        #[test]
        fn token_round_trips(seq in 0..=MAX_TOKEN_SEQUENCE) {
            let token = token_for_sequence(seq).unwrap();
            prop_assert_eq!(sequence_from_token(&token), Some(seq));
        }

        #[test]
        fn any_token_decodes_without_panicking(token in any::<[u8; 14]>()) {
            if let Some(seq) = sequence_from_token(&token) {
                prop_assert_eq!(token_for_sequence(seq), Some(token));
            }
        }
    }

    #[test]
    fn ouch50_order_carries_sequence_and_counts_user_ref_num() {
        let mut enc = OrderEncoder::new(OrderConfig::default());
        let mut buf = [0u8; 128];
        for (i, seq) in [4217u64, 4218].into_iter().enumerate() {
            let n = enc.encode(&trigger(seq), &mut buf).unwrap();
            assert_eq!(n, ouch50::inbound_len(b'O').unwrap());
            let Ok(ouch50::Inbound::EnterOrder(o)) = ouch50::parse_inbound(&buf[..n]) else {
                panic!("not an Enter Order");
            };
            assert_eq!(o.user_ref_num(), 1 + i as u32);
            assert_eq!(sequence_from_token(&o.cl_ord_id()), Some(seq));
            assert_eq!(o.side(), b'B'); // the ask changed: buy it
            assert_eq!(o.quantity(), 100);
            assert_eq!(o.symbol(), b"MSFT");
            assert_eq!(o.price(), 4_012_300);
            assert_eq!(o.time_in_force(), b'3');
        }
        assert_eq!(enc.next_user_ref_num(), 3);
        let e = enc.encode(&trigger(MAX_TOKEN_SEQUENCE + 1), &mut buf);
        assert!(matches!(e, Err(Error::Invalid { field: "token", .. })));
        assert_eq!(enc.next_user_ref_num(), 3);
        assert!(enc.encode(&trigger(1), &mut buf[..10]).is_err());
    }

    #[test]
    fn ouch42_order_carries_sequence_in_order_token() {
        let mut enc = OrderEncoder::new(OrderConfig {
            version: OuchVersion::V42,
            ..OrderConfig::default()
        });
        let mut buf = [0u8; 64];
        let n = enc.encode(&trigger(99), &mut buf).unwrap();
        assert_eq!(n, 49);
        let Ok(ouch42::Inbound::EnterOrder(o)) = ouch42::parse_inbound(&buf[..n]) else {
            panic!("not an Enter Order");
        };
        assert_eq!(&o.order_token(), b"00000000000099");
        assert_eq!(o.buy_sell_indicator(), b'B');
        assert_eq!(o.shares(), 100);
        assert_eq!(o.stock(), b"MSFT");
        assert_eq!(o.price(), 4_012_300);
        assert_eq!(o.time_in_force(), 0);
        assert_eq!(o.firm(), b"TKLB");
    }

    #[test]
    fn acks_are_counted_by_kind() {
        let mut acks = AckCounts::default();
        let accepted = ouch42::Rejected::new(0, b"00000000000001", b'X');
        acks.record(OuchVersion::V42, accepted.as_bytes());
        let executed = ouch42::Executed::new(0, b"00000000000001", 100, 10_000, b'R', 5);
        acks.record(OuchVersion::V42, executed.as_bytes());
        acks.record(OuchVersion::V42, b"?");
        acks.record(OuchVersion::V42, b"");
        let rejected = ouch50::OrderRejected::new(0, 1, 3, b"00000000000001");
        acks.record(OuchVersion::V50, rejected.as_bytes());
        let event = ouch50::SystemEvent::new(0, b'S');
        acks.record(OuchVersion::V50, event.as_bytes());
        assert_eq!(
            acks,
            AckCounts {
                accepted: 0,
                rejected: 2,
                executed: 1,
                canceled: 0,
                other: 1,
                undecodable: 2
            }
        );
    }

    #[test]
    fn version_names_parse() {
        assert_eq!("5.0".parse(), Ok(OuchVersion::V50));
        assert_eq!("4.2".parse(), Ok(OuchVersion::V42));
        assert!("4.1".parse::<OuchVersion>().is_err());
        assert_eq!(OuchVersion::V42.to_string(), "4.2");
    }
}
