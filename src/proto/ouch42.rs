//! NASDAQ OUCH 4.2 order entry: zero-copy views over every inbound (client to
//! exchange) and outbound (exchange to client) message, and builders for them.
//!
//! OUCH rides inside SoupBinTCP: inbound messages in Unsequenced Data packets,
//! outbound ones in Sequenced Data packets. The same type letter means different
//! messages by direction (`'U'` is Replace Order inbound, Replaced outbound; `'M'`
//! is Modify Order inbound, Order Modified outbound), so the caller picks the
//! direction: [`parse_inbound`] or [`parse_outbound`]. `msg` is exactly one OUCH
//! message, as SoupBinTCP delimits it. Every message has a fixed length
//! ([`inbound_len`], [`outbound_len`]); integers are big-endian, prices are `u32`
//! with four implied decimals, alpha fields are space-padded on the right, and the
//! Order Token is 14 bytes the client chooses.
//!
//! Layouts follow "O*U*C*H Version 4.2" (NASDAQ, revision of 2019 that adds Trade
//! Now), cross-checked against the Wireshark OUCH dissector's message lengths.
//!
//! This module never allocates, never copies a payload when decoding, and no
//! accessor can panic once a view exists. A type byte it does not know is data
//! (`Unknown`), not an error.
//!
//! ```
//! use ticklab::proto::ouch42::{parse_inbound, EnterOrder, Inbound};
//! let order = EnterOrder::new(b"TOK1", b'B', 100, b"AAPL", 1_500_000, 0, b"FIRM",
//!                             b'Y', b'A', b'N', 0, b'N', b'R');
//! let wire = zerocopy::IntoBytes::as_bytes(&order);
//! let Ok(Inbound::EnterOrder(view)) = parse_inbound(wire) else { panic!() };
//! assert_eq!(view.stock(), b"AAPL");
//! assert_eq!(view.price(), 1_500_000); // $150.0000
//! ```

pub use super::ouch_common::OuchMessage;
use super::ouch_common::{
    ouch_describe, ouch_direction, ouch_field_ty, ouch_get, ouch_get_ty, ouch_into, ouch_message,
    ouch_param_ty, write_fixed,
};
use crate::codec::{Describe, Error, FieldSink};

/// Protocol name used in errors and by `Describe`.
pub const PROTOCOL: &str = "ouch42";

// ---------------------------------------------------------------------------
// Inbound (client to exchange), OUCH 4.2 section 2.
// ---------------------------------------------------------------------------

ouch_message! {
    /// Enter Order `'O'` (49 bytes).
    pub struct EnterOrder: b'O', "EnterOrder" {
        order_token: token,
        buy_sell_indicator: code,
        shares: u32,
        stock: alpha[8],
        price: price4,
        time_in_force: u32,
        firm: alpha[4],
        display: code,
        capacity: code,
        intermarket_sweep_eligibility: code,
        minimum_quantity: u32,
        cross_type: code,
        customer_type: code,
    }
}

ouch_message! {
    /// Replace Order `'U'` (47 bytes).
    pub struct ReplaceOrder: b'U', "ReplaceOrder" {
        existing_order_token: token,
        replacement_order_token: token,
        shares: u32,
        price: price4,
        time_in_force: u32,
        display: code,
        intermarket_sweep_eligibility: code,
        minimum_quantity: u32,
    }
}

impl ReplaceOrder {
    /// The token the order will carry from now on (the Replacement Order Token).
    pub fn order_token(&self) -> [u8; 14] {
        self.replacement_order_token
    }
}

ouch_message! {
    /// Cancel Order `'X'` (19 bytes): `shares` is the new intended order size.
    pub struct CancelOrder: b'X', "CancelOrder" {
        order_token: token,
        shares: u32,
    }
}

ouch_message! {
    /// Modify Order `'M'` (20 bytes).
    pub struct ModifyOrder: b'M', "ModifyOrder" {
        order_token: token,
        buy_sell_indicator: code,
        shares: u32,
    }
}

ouch_message! {
    /// Trade Now `'N'` (15 bytes), inbound request.
    pub struct TradeNow: b'N', "TradeNow" {
        order_token: token,
    }
}

// ---------------------------------------------------------------------------
// Outbound (exchange to client), OUCH 4.2 section 3.
// ---------------------------------------------------------------------------

ouch_message! {
    /// System Event `'S'` (10 bytes).
    pub struct SystemEvent: b'S', "SystemEvent" {
        timestamp: nanos,
        event_code: code,
    }
}

ouch_message! {
    /// Accepted `'A'` (66 bytes).
    pub struct Accepted: b'A', "Accepted" {
        timestamp: nanos,
        order_token: token,
        buy_sell_indicator: code,
        shares: u32,
        stock: alpha[8],
        price: price4,
        time_in_force: u32,
        firm: alpha[4],
        display: code,
        order_reference_number: u64,
        capacity: code,
        intermarket_sweep_eligibility: code,
        minimum_quantity: u32,
        cross_type: code,
        order_state: code,
        bbo_weight_indicator: code,
    }
}

ouch_message! {
    /// Replaced `'U'` (80 bytes).
    pub struct Replaced: b'U', "Replaced" {
        timestamp: nanos,
        replacement_order_token: token,
        buy_sell_indicator: code,
        shares: u32,
        stock: alpha[8],
        price: price4,
        time_in_force: u32,
        firm: alpha[4],
        display: code,
        order_reference_number: u64,
        capacity: code,
        intermarket_sweep_eligibility: code,
        minimum_quantity: u32,
        cross_type: code,
        order_state: code,
        previous_order_token: token,
        bbo_weight_indicator: code,
    }
}

impl Replaced {
    /// The token the order carries from now on (the Replacement Order Token).
    pub fn order_token(&self) -> [u8; 14] {
        self.replacement_order_token
    }
}

ouch_message! {
    /// Canceled `'C'` (28 bytes).
    pub struct Canceled: b'C', "Canceled" {
        timestamp: nanos,
        order_token: token,
        decrement_shares: u32,
        reason: code,
    }
}

ouch_message! {
    /// AIQ Canceled `'D'` (37 bytes).
    pub struct AiqCanceled: b'D', "AIQCanceled" {
        timestamp: nanos,
        order_token: token,
        decrement_shares: u32,
        reason: code,
        quantity_prevented_from_trading: u32,
        execution_price: price4,
        liquidity_flag: code,
    }
}

ouch_message! {
    /// Executed `'E'` (40 bytes).
    pub struct Executed: b'E', "Executed" {
        timestamp: nanos,
        order_token: token,
        executed_shares: u32,
        execution_price: price4,
        liquidity_flag: code,
        match_number: u64,
    }
}

ouch_message! {
    /// Broken Trade `'B'` (32 bytes).
    pub struct BrokenTrade: b'B', "BrokenTrade" {
        timestamp: nanos,
        order_token: token,
        match_number: u64,
        reason: code,
    }
}

ouch_message! {
    /// Executed with Reference Price `'G'` (45 bytes).
    pub struct ExecutedWithReferencePrice: b'G', "ExecutedWithReferencePrice" {
        timestamp: nanos,
        order_token: token,
        executed_shares: u32,
        execution_price: price4,
        liquidity_flag: code,
        match_number: u64,
        reference_price: price4,
        reference_price_type: code,
    }
}

ouch_message! {
    /// Trade Correction `'F'` (41 bytes).
    pub struct TradeCorrection: b'F', "TradeCorrection" {
        timestamp: nanos,
        order_token: token,
        executed_shares: u32,
        execution_price: price4,
        liquidity_flag: code,
        match_number: u64,
        reason: code,
    }
}

ouch_message! {
    /// Rejected `'J'` (24 bytes).
    pub struct Rejected: b'J', "Rejected" {
        timestamp: nanos,
        order_token: token,
        reason: code,
    }
}

ouch_message! {
    /// Cancel Pending `'P'` (23 bytes).
    pub struct CancelPending: b'P', "CancelPending" {
        timestamp: nanos,
        order_token: token,
    }
}

ouch_message! {
    /// Cancel Reject `'I'` (23 bytes).
    pub struct CancelReject: b'I', "CancelReject" {
        timestamp: nanos,
        order_token: token,
    }
}

ouch_message! {
    /// Order Priority Update `'T'` (36 bytes).
    pub struct OrderPriorityUpdate: b'T', "OrderPriorityUpdate" {
        timestamp: nanos,
        order_token: token,
        price: price4,
        display: code,
        order_reference_number: u64,
    }
}

ouch_message! {
    /// Order Modified `'M'` (28 bytes).
    pub struct OrderModified: b'M', "OrderModified" {
        timestamp: nanos,
        order_token: token,
        buy_sell_indicator: code,
        shares: u32,
    }
}

ouch_message! {
    /// Trade Now `'N'` (23 bytes), the exchange's acknowledgement of a Trade Now
    /// request.
    pub struct TradeNowAck: b'N', "TradeNow" {
        timestamp: nanos,
        order_token: token,
    }
}

ouch_direction! {
    /// An inbound (client to exchange) OUCH 4.2 message.
    pub enum Inbound;
    protocol = PROTOCOL;
    /// Decodes one inbound message. Shorter than its type requires is `Truncated`
    /// (field `"message"`); an unknown type byte is `Inbound::Unknown`.
    parse = parse_inbound;
    /// Fixed length of the inbound message with this type byte, if known.
    len = inbound_len;
    fixed {
        EnterOrder(EnterOrder),
        ReplaceOrder(ReplaceOrder),
        CancelOrder(CancelOrder),
        ModifyOrder(ModifyOrder),
        TradeNow(TradeNow),
    }
    appendage {}
}

ouch_direction! {
    /// An outbound (exchange to client) OUCH 4.2 message.
    pub enum Outbound;
    protocol = PROTOCOL;
    /// Decodes one outbound message. Shorter than its type requires is `Truncated`
    /// (field `"message"`); an unknown type byte is `Outbound::Unknown`.
    parse = parse_outbound;
    /// Fixed length of the outbound message with this type byte, if known.
    len = outbound_len;
    fixed {
        SystemEvent(SystemEvent),
        Accepted(Accepted),
        Replaced(Replaced),
        Canceled(Canceled),
        AiqCanceled(AiqCanceled),
        Executed(Executed),
        BrokenTrade(BrokenTrade),
        ExecutedWithReferencePrice(ExecutedWithReferencePrice),
        TradeCorrection(TradeCorrection),
        Rejected(Rejected),
        CancelPending(CancelPending),
        CancelReject(CancelReject),
        OrderPriorityUpdate(OrderPriorityUpdate),
        OrderModified(OrderModified),
        TradeNow(TradeNowAck),
    }
    appendage {}
}

/// Writes any OUCH 4.2 message into `buf`, returning its length, or `Truncated`
/// (field `"buffer"`) when `buf` is too small. Never allocates.
pub fn write<T: OuchMessage>(msg: &T, buf: &mut [u8]) -> Result<usize, Error> {
    write_fixed(PROTOCOL, msg, buf)
}

impl Inbound<'_> {
    /// The order's token, as correlation keys on it: the replacement token for a
    /// Replace Order. `None` for unknown messages.
    pub fn order_token(&self) -> Option<[u8; 14]> {
        match self {
            Inbound::EnterOrder(m) => Some(m.order_token()),
            Inbound::ReplaceOrder(m) => Some(m.order_token()),
            Inbound::CancelOrder(m) => Some(m.order_token()),
            Inbound::ModifyOrder(m) => Some(m.order_token()),
            Inbound::TradeNow(m) => Some(m.order_token()),
            Inbound::Unknown { .. } => None,
        }
    }

    /// Stock symbol without padding (Enter Order only).
    pub fn stock(&self) -> Option<&[u8]> {
        match self {
            Inbound::EnterOrder(m) => Some(m.stock()),
            _ => None,
        }
    }

    /// Buy/Sell Indicator, where the message carries one.
    pub fn side(&self) -> Option<u8> {
        match self {
            Inbound::EnterOrder(m) => Some(m.buy_sell_indicator()),
            Inbound::ModifyOrder(m) => Some(m.buy_sell_indicator()),
            _ => None,
        }
    }

    /// Shares (for Cancel Order: the new intended order size).
    pub fn shares(&self) -> Option<u32> {
        match self {
            Inbound::EnterOrder(m) => Some(m.shares()),
            Inbound::ReplaceOrder(m) => Some(m.shares()),
            Inbound::CancelOrder(m) => Some(m.shares()),
            Inbound::ModifyOrder(m) => Some(m.shares()),
            _ => None,
        }
    }

    /// Limit price, 4 implied decimals.
    pub fn price(&self) -> Option<u32> {
        match self {
            Inbound::EnterOrder(m) => Some(m.price()),
            Inbound::ReplaceOrder(m) => Some(m.price()),
            _ => None,
        }
    }
}

impl Outbound<'_> {
    /// The order's token (the replacement token for Replaced); `None` for System
    /// Event and unknown messages.
    pub fn order_token(&self) -> Option<[u8; 14]> {
        match self {
            Outbound::SystemEvent(_) | Outbound::Unknown { .. } => None,
            Outbound::Accepted(m) => Some(m.order_token()),
            Outbound::Replaced(m) => Some(m.order_token()),
            Outbound::Canceled(m) => Some(m.order_token()),
            Outbound::AiqCanceled(m) => Some(m.order_token()),
            Outbound::Executed(m) => Some(m.order_token()),
            Outbound::BrokenTrade(m) => Some(m.order_token()),
            Outbound::ExecutedWithReferencePrice(m) => Some(m.order_token()),
            Outbound::TradeCorrection(m) => Some(m.order_token()),
            Outbound::Rejected(m) => Some(m.order_token()),
            Outbound::CancelPending(m) => Some(m.order_token()),
            Outbound::CancelReject(m) => Some(m.order_token()),
            Outbound::OrderPriorityUpdate(m) => Some(m.order_token()),
            Outbound::OrderModified(m) => Some(m.order_token()),
            Outbound::TradeNow(m) => Some(m.order_token()),
        }
    }

    /// Exchange timestamp, nanoseconds since midnight; `None` for unknown messages.
    pub fn timestamp(&self) -> Option<u64> {
        match self {
            Outbound::SystemEvent(m) => Some(m.timestamp()),
            Outbound::Accepted(m) => Some(m.timestamp()),
            Outbound::Replaced(m) => Some(m.timestamp()),
            Outbound::Canceled(m) => Some(m.timestamp()),
            Outbound::AiqCanceled(m) => Some(m.timestamp()),
            Outbound::Executed(m) => Some(m.timestamp()),
            Outbound::BrokenTrade(m) => Some(m.timestamp()),
            Outbound::ExecutedWithReferencePrice(m) => Some(m.timestamp()),
            Outbound::TradeCorrection(m) => Some(m.timestamp()),
            Outbound::Rejected(m) => Some(m.timestamp()),
            Outbound::CancelPending(m) => Some(m.timestamp()),
            Outbound::CancelReject(m) => Some(m.timestamp()),
            Outbound::OrderPriorityUpdate(m) => Some(m.timestamp()),
            Outbound::OrderModified(m) => Some(m.timestamp()),
            Outbound::TradeNow(m) => Some(m.timestamp()),
            Outbound::Unknown { .. } => None,
        }
    }

    /// Stock symbol without padding (Accepted, Replaced).
    pub fn stock(&self) -> Option<&[u8]> {
        match self {
            Outbound::Accepted(m) => Some(m.stock()),
            Outbound::Replaced(m) => Some(m.stock()),
            _ => None,
        }
    }

    /// Buy/Sell Indicator, where the message carries one.
    pub fn side(&self) -> Option<u8> {
        match self {
            Outbound::Accepted(m) => Some(m.buy_sell_indicator()),
            Outbound::Replaced(m) => Some(m.buy_sell_indicator()),
            Outbound::OrderModified(m) => Some(m.buy_sell_indicator()),
            _ => None,
        }
    }

    /// Shares: the order size for Accepted/Replaced/Order Modified, the executed
    /// shares for executions, the decrement for cancels.
    pub fn shares(&self) -> Option<u32> {
        match self {
            Outbound::Accepted(m) => Some(m.shares()),
            Outbound::Replaced(m) => Some(m.shares()),
            Outbound::OrderModified(m) => Some(m.shares()),
            Outbound::Executed(m) => Some(m.executed_shares()),
            Outbound::ExecutedWithReferencePrice(m) => Some(m.executed_shares()),
            Outbound::TradeCorrection(m) => Some(m.executed_shares()),
            Outbound::Canceled(m) => Some(m.decrement_shares()),
            Outbound::AiqCanceled(m) => Some(m.decrement_shares()),
            _ => None,
        }
    }

    /// The order price, or the execution price for executions (4 implied decimals).
    pub fn price(&self) -> Option<u32> {
        match self {
            Outbound::Accepted(m) => Some(m.price()),
            Outbound::Replaced(m) => Some(m.price()),
            Outbound::OrderPriorityUpdate(m) => Some(m.price()),
            Outbound::Executed(m) => Some(m.execution_price()),
            Outbound::ExecutedWithReferencePrice(m) => Some(m.execution_price()),
            Outbound::TradeCorrection(m) => Some(m.execution_price()),
            Outbound::AiqCanceled(m) => Some(m.execution_price()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Byte arrays below are written from the field tables of "O*U*C*H Version 4.2"
    //! (sections 2 and 3): offsets in the comments are from the type byte.

    use super::*;
    use crate::codec::testing::{fields_of, FieldLog};
    use crate::proto::ouch_common::testing::assert_one_byte_short_is_truncated;
    use proptest::prelude::*;
    use zerocopy::IntoBytes;

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    const TS: [u8; 8] = [0, 0, 0x1d, 0x1a, 0x94, 0xa2, 0x00, 0x00]; // 32_000_000_000_000 ns = 08:53:20
    const TS_NS: u64 = 32_000_000_000_000;
    const TOKEN: &[u8; 14] = b"ORD00000000001";
    const TOKEN2: &[u8; 14] = b"ORD00000000002";

    fn enter_order_bytes() -> Vec<u8> {
        cat(&[
            b"O",                   // 0  Type
            TOKEN,                  // 1  Order Token (14)
            b"B",                   // 15 Buy/Sell Indicator
            &[0, 0, 0x01, 0x2c],    // 16 Shares = 300
            b"AAPL    ",            // 20 Stock (8)
            &[0, 0x16, 0xe3, 0x60], // 28 Price = 1_500_000 ($150.0000)
            &[0, 0x01, 0x51, 0x80], // 32 Time in Force = 86_400 (market hours)
            b"FIRM",                // 36 Firm (4)
            b"Y",                   // 40 Display
            b"A",                   // 41 Capacity
            b"N",                   // 42 Intermarket Sweep Eligibility
            &[0, 0, 0, 100],        // 43 Minimum Quantity = 100
            b"N",                   // 47 Cross Type
            b"R",                   // 48 Customer Type
        ])
    }

    #[test]
    fn enter_order_decodes_and_rebuilds() {
        let bytes = enter_order_bytes();
        assert_eq!(bytes.len(), 49);
        let Ok(Inbound::EnterOrder(m)) = parse_inbound(&bytes) else {
            panic!("not an Enter Order")
        };
        assert_eq!(&m.order_token(), TOKEN);
        assert_eq!(m.buy_sell_indicator(), b'B');
        assert_eq!(m.shares(), 300);
        assert_eq!(m.stock(), b"AAPL");
        assert_eq!(m.price(), 1_500_000);
        assert_eq!(m.time_in_force(), 86_400);
        assert_eq!(m.firm(), b"FIRM");
        assert_eq!(m.display(), b'Y');
        assert_eq!(m.capacity(), b'A');
        assert_eq!(m.intermarket_sweep_eligibility(), b'N');
        assert_eq!(m.minimum_quantity(), 100);
        assert_eq!(m.cross_type(), b'N');
        assert_eq!(m.customer_type(), b'R');
        let built = EnterOrder::new(
            TOKEN, b'B', 300, b"AAPL", 1_500_000, 86_400, b"FIRM", b'Y', b'A', b'N', 100, b'N',
            b'R',
        );
        assert_eq!(built.as_bytes(), &bytes[..]);
        let parsed = parse_inbound(&bytes).unwrap();
        assert_eq!(parsed.order_token(), Some(*TOKEN));
        assert_eq!(parsed.stock(), Some(&b"AAPL"[..]));
        assert_eq!(parsed.side(), Some(b'B'));
        assert_eq!(parsed.shares(), Some(300));
        assert_eq!(parsed.price(), Some(1_500_000));
    }

    #[test]
    fn replace_order_decodes_and_rebuilds() {
        let bytes = cat(&[
            b"U",                   // 0  Type
            TOKEN,                  // 1  Existing Order Token
            TOKEN2,                 // 15 Replacement Order Token
            &[0, 0, 0x01, 0xf4],    // 29 Shares = 500
            &[0, 0x16, 0xe9, 0x3c], // 33 Price = 1_501_500
            &[0, 0, 0, 0],          // 37 Time in Force = 0 (IOC)
            b"N",                   // 41 Display
            b"Y",                   // 42 Intermarket Sweep Eligibility
            &[0, 0, 0, 0],          // 43 Minimum Quantity
        ]);
        assert_eq!(bytes.len(), 47);
        let Ok(Inbound::ReplaceOrder(m)) = parse_inbound(&bytes) else {
            panic!()
        };
        assert_eq!(&m.existing_order_token(), TOKEN);
        assert_eq!(&m.order_token(), TOKEN2);
        assert_eq!(m.shares(), 500);
        assert_eq!(m.price(), 1_501_500);
        assert_eq!(m.time_in_force(), 0);
        assert_eq!(
            (m.display(), m.intermarket_sweep_eligibility()),
            (b'N', b'Y')
        );
        assert_eq!(m.minimum_quantity(), 0);
        let built = ReplaceOrder::new(TOKEN, TOKEN2, 500, 1_501_500, 0, b'N', b'Y', 0);
        assert_eq!(built.as_bytes(), &bytes[..]);
    }

    #[test]
    fn cancel_modify_trade_now_decode_and_rebuild() {
        let cancel = cat(&[b"X", TOKEN, &[0, 0, 0, 0]]); // Type, Order Token, Shares = 0
        let Ok(Inbound::CancelOrder(m)) = parse_inbound(&cancel) else {
            panic!()
        };
        assert_eq!((&m.order_token(), m.shares()), (TOKEN, 0));
        assert_eq!(CancelOrder::new(TOKEN, 0).as_bytes(), &cancel[..]);

        let modify = cat(&[b"M", TOKEN, b"S", &[0, 0, 0, 50]]); // Type, Token, B/S, Shares = 50
        assert_eq!(modify.len(), 20);
        let Ok(Inbound::ModifyOrder(m)) = parse_inbound(&modify) else {
            panic!()
        };
        assert_eq!((m.buy_sell_indicator(), m.shares()), (b'S', 50));
        assert_eq!(ModifyOrder::new(TOKEN, b'S', 50).as_bytes(), &modify[..]);

        let trade_now = cat(&[b"N", TOKEN]); // Type, Order Token
        let Ok(Inbound::TradeNow(m)) = parse_inbound(&trade_now) else {
            panic!()
        };
        assert_eq!(&m.order_token(), TOKEN);
        assert_eq!(TradeNow::new(TOKEN).as_bytes(), &trade_now[..]);
    }

    fn accepted_bytes() -> Vec<u8> {
        cat(&[
            b"A",                            // 0  Type
            &TS,                             // 1  Timestamp
            TOKEN,                           // 9  Order Token
            b"B",                            // 23 Buy/Sell Indicator
            &[0, 0, 0x01, 0x2c],             // 24 Shares = 300
            b"AAPL    ",                     // 28 Stock
            &[0, 0x16, 0xe3, 0x60],          // 36 Price = 1_500_000
            &[0, 0x01, 0x51, 0x80],          // 40 Time in Force = 86_400
            b"FIRM",                         // 44 Firm
            b"Y",                            // 48 Display
            &[0, 0, 0, 0, 0, 0, 0x30, 0x39], // 49 Order Reference Number = 12345
            b"A",                            // 57 Capacity
            b"N",                            // 58 Intermarket Sweep Eligibility
            &[0, 0, 0, 100],                 // 59 Minimum Quantity
            b"N",                            // 63 Cross Type
            b"L",                            // 64 Order State = live
            b" ",                            // 65 BBO Weight Indicator = unspecified
        ])
    }

    #[test]
    fn accepted_decodes_and_rebuilds() {
        let bytes = accepted_bytes();
        assert_eq!(bytes.len(), 66);
        let Ok(Outbound::Accepted(m)) = parse_outbound(&bytes) else {
            panic!()
        };
        assert_eq!(m.timestamp(), TS_NS);
        assert_eq!(&m.order_token(), TOKEN);
        assert_eq!((m.buy_sell_indicator(), m.shares()), (b'B', 300));
        assert_eq!(
            (m.stock(), m.price(), m.time_in_force()),
            (&b"AAPL"[..], 1_500_000, 86_400)
        );
        assert_eq!((m.firm(), m.display()), (&b"FIRM"[..], b'Y'));
        assert_eq!(m.order_reference_number(), 12345);
        assert_eq!(
            (m.capacity(), m.intermarket_sweep_eligibility()),
            (b'A', b'N')
        );
        assert_eq!(m.minimum_quantity(), 100);
        assert_eq!(
            (m.cross_type(), m.order_state(), m.bbo_weight_indicator()),
            (b'N', b'L', b' ')
        );
        let built = Accepted::new(
            TS_NS, TOKEN, b'B', 300, b"AAPL", 1_500_000, 86_400, b"FIRM", b'Y', 12345, b'A', b'N',
            100, b'N', b'L', b' ',
        );
        assert_eq!(built.as_bytes(), &bytes[..]);
    }

    #[test]
    fn replaced_decodes_and_rebuilds() {
        let bytes = cat(&[
            b"U",                            // 0  Type
            &TS,                             // 1  Timestamp
            TOKEN2,                          // 9  Replacement Order Token
            b"S",                            // 23 Buy/Sell Indicator
            &[0, 0, 0x01, 0xf4],             // 24 Shares = 500
            b"MSFT    ",                     // 28 Stock
            &[0, 0x16, 0xe9, 0x3c],          // 36 Price = 1_501_500
            &[0, 0, 0, 0],                   // 40 Time in Force
            b"FIRM",                         // 44 Firm
            b"N",                            // 48 Display
            &[0, 0, 0, 0, 0, 0, 0x30, 0x3a], // 49 Order Reference Number = 12346
            b"P",                            // 57 Capacity
            b"Y",                            // 58 Intermarket Sweep Eligibility
            &[0, 0, 0, 0],                   // 59 Minimum Quantity
            b"N",                            // 63 Cross Type
            b"L",                            // 64 Order State
            TOKEN,                           // 65 Previous Order Token
            b"1",                            // 79 BBO Weight Indicator
        ]);
        assert_eq!(bytes.len(), 80);
        let Ok(Outbound::Replaced(m)) = parse_outbound(&bytes) else {
            panic!()
        };
        assert_eq!(&m.order_token(), TOKEN2);
        assert_eq!(&m.previous_order_token(), TOKEN);
        assert_eq!(
            (m.stock(), m.shares(), m.price()),
            (&b"MSFT"[..], 500, 1_501_500)
        );
        assert_eq!(m.order_reference_number(), 12346);
        assert_eq!((m.capacity(), m.bbo_weight_indicator()), (b'P', b'1'));
        let built = Replaced::new(
            TS_NS, TOKEN2, b'S', 500, b"MSFT", 1_501_500, 0, b"FIRM", b'N', 12346, b'P', b'Y', 0,
            b'N', b'L', TOKEN, b'1',
        );
        assert_eq!(built.as_bytes(), &bytes[..]);
    }

    #[test]
    fn small_outbound_messages_decode_and_rebuild() {
        // System Event: Type, Timestamp, Event Code = Start of Day.
        let b = cat(&[b"S", &TS, b"S"]);
        let Ok(Outbound::SystemEvent(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.timestamp(), m.event_code()), (TS_NS, b'S'));
        assert_eq!(SystemEvent::new(TS_NS, b'S').as_bytes(), &b[..]);

        // Canceled: Type, Timestamp, Token, Decrement Shares = 300, Reason = user.
        let b = cat(&[b"C", &TS, TOKEN, &[0, 0, 0x01, 0x2c], b"U"]);
        assert_eq!(b.len(), 28);
        let Ok(Outbound::Canceled(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.decrement_shares(), m.reason()), (300, b'U'));
        assert_eq!(Canceled::new(TS_NS, TOKEN, 300, b'U').as_bytes(), &b[..]);

        // AIQ Canceled: ..., Decrement 100, Reason Q, Qty Prevented 100,
        // Execution Price 1_500_000, Liquidity Flag A.
        let b = cat(&[
            b"D",
            &TS,
            TOKEN,
            &[0, 0, 0, 100],
            b"Q",
            &[0, 0, 0, 100],
            &[0, 0x16, 0xe3, 0x60],
            b"A",
        ]);
        assert_eq!(b.len(), 37);
        let Ok(Outbound::AiqCanceled(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.decrement_shares(), m.reason()), (100, b'Q'));
        assert_eq!(m.quantity_prevented_from_trading(), 100);
        assert_eq!((m.execution_price(), m.liquidity_flag()), (1_500_000, b'A'));
        assert_eq!(
            AiqCanceled::new(TS_NS, TOKEN, 100, b'Q', 100, 1_500_000, b'A').as_bytes(),
            &b[..]
        );

        // Executed: ..., Executed Shares 200, Execution Price 1_500_000, Flag R,
        // Match Number 0x0102030405060708.
        let b = cat(&[
            b"E",
            &TS,
            TOKEN,
            &[0, 0, 0, 200],
            &[0, 0x16, 0xe3, 0x60],
            b"R",
            &[1, 2, 3, 4, 5, 6, 7, 8],
        ]);
        assert_eq!(b.len(), 40);
        let Ok(Outbound::Executed(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.executed_shares(), m.execution_price()), (200, 1_500_000));
        assert_eq!(
            (m.liquidity_flag(), m.match_number()),
            (b'R', 0x0102_0304_0506_0708)
        );
        assert_eq!(
            Executed::new(TS_NS, TOKEN, 200, 1_500_000, b'R', 0x0102_0304_0506_0708).as_bytes(),
            &b[..]
        );

        // Broken Trade: ..., Match Number 7, Reason E (erroneous).
        let b = cat(&[b"B", &TS, TOKEN, &[0, 0, 0, 0, 0, 0, 0, 7], b"E"]);
        assert_eq!(b.len(), 32);
        let Ok(Outbound::BrokenTrade(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.match_number(), m.reason()), (7, b'E'));
        assert_eq!(BrokenTrade::new(TS_NS, TOKEN, 7, b'E').as_bytes(), &b[..]);

        // Executed with Reference Price: ..., Reference Price 1_499_900, Type I.
        let b = cat(&[
            b"G",
            &TS,
            TOKEN,
            &[0, 0, 0, 200],
            &[0, 0x16, 0xe3, 0x60],
            b"R",
            &[0, 0, 0, 0, 0, 0, 0, 9],
            &[0, 0x16, 0xe2, 0xfc],
            b"I",
        ]);
        assert_eq!(b.len(), 45);
        let Ok(Outbound::ExecutedWithReferencePrice(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.reference_price(), m.reference_price_type()),
            (1_499_900, b'I')
        );
        assert_eq!(m.match_number(), 9);
        assert_eq!(
            ExecutedWithReferencePrice::new(TS_NS, TOKEN, 200, 1_500_000, b'R', 9, 1_499_900, b'I')
                .as_bytes(),
            &b[..]
        );

        // Trade Correction: ..., Reason N (adjusted to NAV).
        let b = cat(&[
            b"F",
            &TS,
            TOKEN,
            &[0, 0, 0, 200],
            &[0, 0x16, 0xe3, 0x60],
            b"R",
            &[0, 0, 0, 0, 0, 0, 0, 9],
            b"N",
        ]);
        assert_eq!(b.len(), 41);
        let Ok(Outbound::TradeCorrection(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.executed_shares(), m.reason()), (200, b'N'));
        assert_eq!(
            TradeCorrection::new(TS_NS, TOKEN, 200, 1_500_000, b'R', 9, b'N').as_bytes(),
            &b[..]
        );

        // Rejected: ..., Reason S (invalid stock).
        let b = cat(&[b"J", &TS, TOKEN, b"S"]);
        assert_eq!(b.len(), 24);
        let Ok(Outbound::Rejected(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(m.reason(), b'S');
        assert_eq!(Rejected::new(TS_NS, TOKEN, b'S').as_bytes(), &b[..]);

        // Cancel Pending and Cancel Reject: Type, Timestamp, Token.
        let b = cat(&[b"P", &TS, TOKEN]);
        let Ok(Outbound::CancelPending(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(&m.order_token(), TOKEN);
        assert_eq!(CancelPending::new(TS_NS, TOKEN).as_bytes(), &b[..]);
        let b = cat(&[b"I", &TS, TOKEN]);
        let Ok(Outbound::CancelReject(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(m.timestamp(), TS_NS);
        assert_eq!(CancelReject::new(TS_NS, TOKEN).as_bytes(), &b[..]);

        // Order Priority Update: ..., Price 1_500_000, Display Y, Order Ref 12345.
        let b = cat(&[
            b"T",
            &TS,
            TOKEN,
            &[0, 0x16, 0xe3, 0x60],
            b"Y",
            &[0, 0, 0, 0, 0, 0, 0x30, 0x39],
        ]);
        assert_eq!(b.len(), 36);
        let Ok(Outbound::OrderPriorityUpdate(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.price(), m.display(), m.order_reference_number()),
            (1_500_000, b'Y', 12345)
        );
        assert_eq!(
            OrderPriorityUpdate::new(TS_NS, TOKEN, 1_500_000, b'Y', 12345).as_bytes(),
            &b[..]
        );

        // Order Modified: ..., Buy/Sell E, Shares 50.
        let b = cat(&[b"M", &TS, TOKEN, b"E", &[0, 0, 0, 50]]);
        assert_eq!(b.len(), 28);
        let Ok(Outbound::OrderModified(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.buy_sell_indicator(), m.shares()), (b'E', 50));
        assert_eq!(
            OrderModified::new(TS_NS, TOKEN, b'E', 50).as_bytes(),
            &b[..]
        );

        // Trade Now (outbound): Type, Timestamp, Token.
        let b = cat(&[b"N", &TS, TOKEN]);
        let Ok(Outbound::TradeNow(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(&m.order_token(), TOKEN);
        assert_eq!(TradeNowAck::new(TS_NS, TOKEN).as_bytes(), &b[..]);
    }

    #[test]
    fn struct_sizes_match_the_specification() {
        let inbound = [(b'O', 49), (b'U', 47), (b'X', 19), (b'M', 20), (b'N', 15)];
        for (t, len) in inbound {
            assert_eq!(inbound_len(t), Some(len), "inbound {}", t as char);
        }
        let outbound = [
            (b'S', 10),
            (b'A', 66),
            (b'U', 80),
            (b'C', 28),
            (b'D', 37),
            (b'E', 40),
            (b'B', 32),
            (b'G', 45),
            (b'F', 41),
            (b'J', 24),
            (b'P', 23),
            (b'I', 23),
            (b'T', 36),
            (b'M', 28),
            (b'N', 23),
        ];
        for (t, len) in outbound {
            assert_eq!(outbound_len(t), Some(len), "outbound {}", t as char);
        }
        assert_eq!(inbound_len(b'A'), None);
        assert_eq!(outbound_len(b'O'), None);
        assert_eq!(core::mem::size_of::<EnterOrder>(), 49);
        assert_eq!(core::mem::size_of::<Replaced>(), 80);
    }

    #[test]
    fn one_byte_short_is_truncated_for_every_type() {
        assert_one_byte_short_is_truncated(
            "ouch42",
            [
                (inbound_len, |m| parse_inbound(m).err()),
                (outbound_len, |m| parse_outbound(m).err()),
            ],
        );
        assert_eq!(
            parse_inbound(&[]).err(),
            Some(Error::Truncated {
                protocol: "ouch42",
                msg_type: None,
                field: "message",
                offset: 0,
                needed: 1,
                available: 0,
            })
        );
    }

    #[test]
    fn unknown_types_are_data() {
        let msg = [b'Z', 1, 2, 3];
        assert_eq!(
            parse_inbound(&msg),
            Ok(Inbound::Unknown {
                type_byte: b'Z',
                bytes: &msg
            })
        );
        // 'A' is outbound only: inbound it is unknown.
        let accepted = accepted_bytes();
        assert!(matches!(
            parse_inbound(&accepted),
            Ok(Inbound::Unknown {
                type_byte: b'A',
                ..
            })
        ));
        assert_eq!(parse_outbound(&msg).unwrap().kind(), "Unknown");
    }

    #[test]
    fn same_letter_means_different_messages_by_direction() {
        let replace = ReplaceOrder::new(TOKEN, TOKEN2, 1, 2, 3, b'Y', b'N', 0);
        // An inbound Replace (47 bytes) is too short to be an outbound Replaced (80).
        assert!(matches!(
            parse_outbound(replace.as_bytes()),
            Err(Error::Truncated {
                needed: 80,
                available: 47,
                ..
            })
        ));
        assert_eq!(
            parse_inbound(replace.as_bytes()).unwrap().kind(),
            "ReplaceOrder"
        );
    }

    #[test]
    fn describe_names_kind_and_fields_in_wire_order() {
        let bytes = accepted_bytes();
        let msg = parse_outbound(&bytes).unwrap();
        assert_eq!((msg.protocol(), msg.kind()), ("ouch42", "Accepted"));
        let rec = fields_of(&msg);
        assert_eq!(
            rec,
            [
                "timestamp=32000000000000ns",
                "order_token=\"ORD00000000001\"",
                "buy_sell_indicator='B'",
                "shares=300",
                "stock=\"AAPL\"",
                "price=1500000e-4",
                "time_in_force=86400",
                "firm=\"FIRM\"",
                "display='Y'",
                "order_reference_number=12345",
                "capacity='A'",
                "intermarket_sweep_eligibility='N'",
                "minimum_quantity=100",
                "cross_type='N'",
                "order_state='L'",
                "bbo_weight_indicator=' '",
            ]
        );
        let mut rec = FieldLog::default();
        Inbound::Unknown {
            type_byte: b'z',
            bytes: &[b'z', 1],
        }
        .describe(&mut rec);
        assert_eq!(rec.0, ["type='z'", "bytes=[7a, 01]"]);
    }

    #[test]
    fn write_reports_a_small_buffer() {
        let msg = CancelOrder::new(TOKEN, 0);
        let mut buf = [0u8; 19];
        assert_eq!(write(&msg, &mut buf), Ok(19));
        assert_eq!(&buf[..], msg.as_bytes());
        let mut small = [0u8; 18];
        assert_eq!(
            write(&msg, &mut small),
            Err(Error::Truncated {
                protocol: "ouch42",
                msg_type: Some(b'X'),
                field: "buffer",
                offset: 0,
                needed: 19,
                available: 18,
            })
        );
    }

    #[test]
    fn alpha_fields_are_padded_and_cut() {
        let m = EnterOrder::new(
            b"T",
            b'B',
            1,
            b"TOOLONGSYMBOL",
            1,
            0,
            b"F",
            b'Y',
            b'A',
            b'N',
            0,
            b'N',
            b' ',
        );
        assert_eq!(&m.order_token, b"T             ");
        assert_eq!(&m.stock, b"TOOLONGS");
        assert_eq!(&m.firm, b"F   ");
        assert_eq!(m.firm(), b"F");
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut rec = FieldLog::default();
            if let Ok(m) = parse_inbound(&bytes) {
                m.describe(&mut rec);
                let _ = (m.order_token(), m.stock(), m.side(), m.shares(), m.price());
            }
            if let Ok(m) = parse_outbound(&bytes) {
                m.describe(&mut rec);
                let _ = (m.order_token(), m.stock(), m.side(), m.shares(), m.price(), m.timestamp());
            }
        }

        #[test]
        fn enter_order_round_trips(
            token in proptest::array::uniform14(b'!'..=b'~'),
            side in any::<u8>(), shares in any::<u32>(), price in any::<u32>(),
            tif in any::<u32>(), min_qty in any::<u32>(),
            stock in proptest::array::uniform8(b'A'..=b'Z'),
        ) {
            let msg = EnterOrder::new(&token, side, shares, &stock, price, tif, b"ABCD", b'Y', b'P', b'N', min_qty, b'N', b'N');
            let mut buf = [0u8; 64];
            let n = write(&msg, &mut buf).unwrap();
            let Ok(Inbound::EnterOrder(view)) = parse_inbound(&buf[..n]) else { panic!() };
            prop_assert_eq!(view.order_token(), token);
            prop_assert_eq!(view.buy_sell_indicator(), side);
            prop_assert_eq!(view.shares(), shares);
            prop_assert_eq!(view.stock(), &stock[..]);
            prop_assert_eq!(view.price(), price);
            prop_assert_eq!(view.time_in_force(), tif);
            prop_assert_eq!(view.minimum_quantity(), min_qty);
        }

        #[test]
        fn executed_round_trips(
            ts in any::<u64>(), token in proptest::array::uniform14(any::<u8>()),
            shares in any::<u32>(), price in any::<u32>(), flag in any::<u8>(), matchno in any::<u64>(),
        ) {
            let msg = Executed::new(ts, &token, shares, price, flag, matchno);
            let Ok(Outbound::Executed(view)) = parse_outbound(msg.as_bytes()) else { panic!() };
            prop_assert_eq!(*view, msg);
            prop_assert_eq!(view.timestamp(), ts);
            prop_assert_eq!(view.order_token(), token);
            prop_assert_eq!((view.executed_shares(), view.execution_price()), (shares, price));
            prop_assert_eq!((view.liquidity_flag(), view.match_number()), (flag, matchno));
        }
    }
}
