//! NASDAQ OUCH 5.0 order entry: zero-copy views over every inbound (client to
//! exchange) and outbound (exchange to client) message, their optional TagValue
//! appendages, and builders that write into a caller's buffer without allocating.
//!
//! OUCH rides inside SoupBinTCP: inbound messages in Unsequenced Data packets,
//! outbound ones in Sequenced Data packets, and the same type letter means
//! different messages by direction (`'U'` Replace Order Request inbound, Order
//! Replaced outbound; `'C'` Mass Cancel Request inbound, Order Canceled outbound...),
//! so the caller picks [`parse_inbound`] or [`parse_outbound`]. `msg` is exactly one
//! OUCH message, as SoupBinTCP delimits it.
//!
//! OUCH 5.0 identifies orders by `UserRefNum` (u32, day-unique and increasing per
//! account) and carries a 14-byte `ClOrdID`; prices are 8 bytes with four implied
//! decimals. Many messages end with an Appendage Length (u16) followed by that many
//! bytes of optional elements, each `Length (u8) | OptionTag (u8) | value`, where
//! Length counts the tag and the value. [`inbound_len`]/[`outbound_len`] give the
//! fixed part, which is what tells OUCH 5.0 from 4.2 by length. The appendage is
//! validated when the view is made ([`Appendages`]), so iterating it cannot fail.
//!
//! Layouts follow the NASDAQ OUCH 5.0 specification as published in 2023-2024
//! (cross-checked against the FIX Orchestra rendering of it and the Open Markets
//! Initiative dissector). The fixed parts of Cancel, Modify, Mass Cancel,
//! Disable/Enable Order Entry and Account Query requests end with an Appendage
//! Length, as in that revision.
//!
//! This module never allocates, never copies a payload when decoding, and no
//! accessor can panic once a view exists. Unknown type bytes are data (`Unknown`).
//!
//! ```
//! use ticklab::proto::ouch50::{parse_inbound, write_enter_order, Appendage, EnterOrder, Inbound};
//! let order = EnterOrder::new(7, b'B', 100, b"AAPL", 1_500_000, b'0', b'Y', b'A', b'N', b'N',
//!                             b"CL1");
//! let mut buf = [0u8; 64];
//! let n = write_enter_order(&mut buf, &order, &[Appendage::min_qty(100)]).unwrap();
//! let Ok(Inbound::EnterOrder(view)) = parse_inbound(&buf[..n]) else { panic!() };
//! assert_eq!(view.user_ref_num(), 7);
//! assert_eq!(view.appendage.min_qty(), Some(100));
//! ```

use core::ops::Deref;

pub use super::ouch_common::OuchMessage;
use super::ouch_common::{
    be_int, be_uint, ouch_describe, ouch_direction, ouch_field_ty, ouch_get, ouch_get_ty,
    ouch_into, ouch_message, ouch_param_ty, view,
};
use crate::codec::{Describe, Error, FieldSink};

/// Protocol name used in errors and by `Describe`.
pub const PROTOCOL: &str = "ouch50";

// ---------------------------------------------------------------------------
// Optional appendage (OUCH 5.0 "Optional Appendage" / TagValue elements).
// ---------------------------------------------------------------------------

/// Option tags of the OUCH 5.0 optional appendage.
pub mod tag {
    pub const SECONDARY_ORD_REF_NUM: u8 = 1;
    pub const FIRM: u8 = 2;
    pub const MIN_QTY: u8 = 3;
    pub const CUSTOMER_TYPE: u8 = 4;
    pub const MAX_FLOOR: u8 = 5;
    pub const PRICE_TYPE: u8 = 6;
    pub const PEG_OFFSET: u8 = 7;
    pub const DISCRETION_PRICE: u8 = 9;
    pub const DISCRETION_PRICE_TYPE: u8 = 10;
    pub const DISCRETION_PEG_OFFSET: u8 = 11;
    pub const POST_ONLY: u8 = 12;
    pub const RANDOM_RESERVES: u8 = 13;
    pub const ROUTE: u8 = 14;
    pub const EXPIRE_TIME: u8 = 15;
    pub const TRADE_NOW: u8 = 16;
    pub const HANDLE_INST: u8 = 17;
    pub const BBO_WEIGHT_INDICATOR: u8 = 18;
    pub const REFERENCE_PRICE: u8 = 19;
    pub const REFERENCE_PRICE_TYPE: u8 = 20;
    pub const DISPLAY_QUANTITY: u8 = 22;
    pub const DISPLAY_PRICE: u8 = 23;
    pub const GROUP_ID: u8 = 24;
    pub const SHARES_LOCATED: u8 = 25;
}

/// How an option's value is encoded, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ValueKind {
    Alpha,
    Unsigned,
    Price,
    SignedPrice,
}

/// Name (snake_case, as `Describe` shows it) and value encoding of a known tag.
fn tag_info(option_tag: u8) -> Option<(&'static str, ValueKind)> {
    use ValueKind::*;
    Some(match option_tag {
        tag::SECONDARY_ORD_REF_NUM => ("secondary_ord_ref_num", Unsigned),
        tag::FIRM => ("firm", Alpha),
        tag::MIN_QTY => ("min_qty", Unsigned),
        tag::CUSTOMER_TYPE => ("customer_type", Alpha),
        tag::MAX_FLOOR => ("max_floor", Unsigned),
        tag::PRICE_TYPE => ("price_type", Alpha),
        tag::PEG_OFFSET => ("peg_offset", SignedPrice),
        tag::DISCRETION_PRICE => ("discretion_price", Price),
        tag::DISCRETION_PRICE_TYPE => ("discretion_price_type", Alpha),
        tag::DISCRETION_PEG_OFFSET => ("discretion_peg_offset", SignedPrice),
        tag::POST_ONLY => ("post_only", Alpha),
        tag::RANDOM_RESERVES => ("random_reserves", Unsigned),
        tag::ROUTE => ("route", Alpha),
        tag::EXPIRE_TIME => ("expire_time", Unsigned),
        tag::TRADE_NOW => ("trade_now", Alpha),
        tag::HANDLE_INST => ("handle_inst", Alpha),
        tag::BBO_WEIGHT_INDICATOR => ("bbo_weight_indicator", Alpha),
        tag::REFERENCE_PRICE => ("reference_price", Price),
        tag::REFERENCE_PRICE_TYPE => ("reference_price_type", Alpha),
        tag::DISPLAY_QUANTITY => ("display_quantity", Unsigned),
        tag::DISPLAY_PRICE => ("display_price", Price),
        tag::GROUP_ID => ("group_id", Unsigned),
        tag::SHARES_LOCATED => ("shares_located", Alpha),
        _ => return None,
    })
}

/// The specification's name of an option tag in snake_case, if known.
pub fn tag_name(option_tag: u8) -> Option<&'static str> {
    tag_info(option_tag).map(|(name, _)| name)
}

/// A message's optional appendage, already checked to be a well-formed sequence of
/// elements that ends exactly at the declared Appendage Length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Appendages<'a> {
    bytes: &'a [u8],
}

impl<'a> Appendages<'a> {
    /// Validates the elements in `bytes` (the appendage, exactly as long as the
    /// declared Appendage Length). `base` is the offset of `bytes` in the message,
    /// for error offsets.
    fn parse(bytes: &'a [u8], base: usize, msg_type: u8) -> Result<Self, Error> {
        let mut at = 0;
        while let Some(&len) = bytes.get(at) {
            if len == 0 {
                return Err(Error::Invalid {
                    protocol: PROTOCOL,
                    msg_type: Some(msg_type),
                    field: "appendage",
                    offset: base + at,
                    expected: "an option length of at least 1 (it counts the option tag)",
                });
            }
            let element = 1 + usize::from(len);
            if bytes.len() - at < element {
                return Err(Error::Truncated {
                    protocol: PROTOCOL,
                    msg_type: Some(msg_type),
                    field: "appendage",
                    offset: base + at,
                    needed: element,
                    available: bytes.len() - at,
                });
            }
            at += element;
        }
        Ok(Self { bytes })
    }

    /// The raw appendage bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// True when the message carries no options.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The options in wire order, as `(option tag, value)`.
    pub fn iter(&self) -> AppendageIter<'a> {
        AppendageIter { rest: self.bytes }
    }

    /// The value of the first option with this tag.
    pub fn get(&self, option_tag: u8) -> Option<&'a [u8]> {
        self.iter().find(|&(t, _)| t == option_tag).map(|(_, v)| v)
    }

    fn get_uint(&self, option_tag: u8) -> Option<u64> {
        self.get(option_tag).and_then(be_uint)
    }

    /// Firm, without padding.
    pub fn firm(&self) -> Option<&'a [u8]> {
        self.get(tag::FIRM).map(crate::codec::trim_alpha)
    }

    /// Minimum quantity.
    pub fn min_qty(&self) -> Option<u32> {
        self.get_uint(tag::MIN_QTY)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// Max floor (displayed quantity of a reserve order).
    pub fn max_floor(&self) -> Option<u32> {
        self.get_uint(tag::MAX_FLOOR)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// Secondary order reference number.
    pub fn secondary_ord_ref_num(&self) -> Option<u64> {
        self.get_uint(tag::SECONDARY_ORD_REF_NUM)
    }

    /// Expire time, seconds.
    pub fn expire_time(&self) -> Option<u32> {
        self.get_uint(tag::EXPIRE_TIME)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// Hands every option to `sink`, named by its tag; unknown tags go to
    /// `FieldSink::tag` with their number.
    pub fn describe(&self, sink: &mut dyn FieldSink) {
        for (option_tag, value) in self.iter() {
            describe_option(sink, option_tag, value);
        }
    }
}

fn describe_option(sink: &mut dyn FieldSink, option_tag: u8, value: &[u8]) {
    let Some((name, kind)) = tag_info(option_tag) else {
        sink.tag(u32::from(option_tag), None, value);
        return;
    };
    match kind {
        ValueKind::Alpha if value.len() == 1 => sink.code(name, value[0]),
        ValueKind::Alpha => sink.text(name, crate::codec::trim_alpha(value)),
        ValueKind::Unsigned => match be_uint(value) {
            Some(v) => sink.uint(name, v),
            None => sink.bytes(name, value),
        },
        // Prices beyond i64 are not prices the exchange sends; show the bits.
        ValueKind::Price => match be_uint(value) {
            Some(v) => sink.price(name, v as i64, 4),
            None => sink.bytes(name, value),
        },
        ValueKind::SignedPrice => match be_int(value) {
            Some(v) => sink.price(name, v, 4),
            None => sink.bytes(name, value),
        },
    }
}

impl<'a> IntoIterator for Appendages<'a> {
    type Item = (u8, &'a [u8]);
    type IntoIter = AppendageIter<'a>;
    fn into_iter(self) -> AppendageIter<'a> {
        self.iter()
    }
}

/// Iterator over validated appendage options: `(option tag, value)`.
#[derive(Clone, Debug)]
pub struct AppendageIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for AppendageIter<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The bytes were validated by `Appendages::parse`; the checks below only
        // keep this iterator panic-free on its own.
        let (&len, rest) = self.rest.split_first()?;
        let (element, rest) = rest.split_at_checked(usize::from(len))?;
        self.rest = rest;
        let (&option_tag, value) = element.split_first()?;
        Some((option_tag, value))
    }
}

/// One option to write into an appendage: a tag and a value of up to 8 bytes,
/// held inline so that building a message never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appendage {
    option_tag: u8,
    len: u8,
    value: [u8; 8],
}

impl Appendage {
    /// Longest value an `Appendage` holds (the widest OUCH 5.0 option is 8 bytes).
    pub const MAX_VALUE: usize = 8;

    /// An option with a raw value; `None` if the value is longer than
    /// [`Self::MAX_VALUE`].
    pub fn new(option_tag: u8, value: &[u8]) -> Option<Self> {
        let mut inline = [0u8; 8];
        inline.get_mut(..value.len())?.copy_from_slice(value);
        Some(Self {
            option_tag,
            len: value.len() as u8,
            value: inline,
        })
    }

    fn from_be<const N: usize>(option_tag: u8, bytes: [u8; N]) -> Self {
        let mut value = [0u8; 8];
        value[..N].copy_from_slice(&bytes);
        Self {
            option_tag,
            len: N as u8,
            value,
        }
    }

    /// The option tag.
    pub fn option_tag(&self) -> u8 {
        self.option_tag
    }

    /// The value bytes.
    pub fn value(&self) -> &[u8] {
        &self.value[..usize::from(self.len)]
    }

    /// Bytes this option occupies on the wire: length, tag, value.
    pub fn wire_len(&self) -> usize {
        2 + usize::from(self.len)
    }

    pub fn secondary_ord_ref_num(v: u64) -> Self {
        Self::from_be(tag::SECONDARY_ORD_REF_NUM, v.to_be_bytes())
    }
    pub fn firm(firm: &[u8]) -> Self {
        Self::from_be(tag::FIRM, crate::codec::pad_alpha::<4>(firm))
    }
    pub fn min_qty(v: u32) -> Self {
        Self::from_be(tag::MIN_QTY, v.to_be_bytes())
    }
    pub fn customer_type(v: u8) -> Self {
        Self::from_be(tag::CUSTOMER_TYPE, [v])
    }
    pub fn max_floor(v: u32) -> Self {
        Self::from_be(tag::MAX_FLOOR, v.to_be_bytes())
    }
    pub fn price_type(v: u8) -> Self {
        Self::from_be(tag::PRICE_TYPE, [v])
    }
    /// Peg offset, a signed price with 4 implied decimals.
    pub fn peg_offset(v: i32) -> Self {
        Self::from_be(tag::PEG_OFFSET, v.to_be_bytes())
    }
    pub fn discretion_price(v: u64) -> Self {
        Self::from_be(tag::DISCRETION_PRICE, v.to_be_bytes())
    }
    pub fn discretion_price_type(v: u8) -> Self {
        Self::from_be(tag::DISCRETION_PRICE_TYPE, [v])
    }
    pub fn discretion_peg_offset(v: i32) -> Self {
        Self::from_be(tag::DISCRETION_PEG_OFFSET, v.to_be_bytes())
    }
    pub fn post_only(v: u8) -> Self {
        Self::from_be(tag::POST_ONLY, [v])
    }
    pub fn random_reserves(v: u32) -> Self {
        Self::from_be(tag::RANDOM_RESERVES, v.to_be_bytes())
    }
    pub fn route(route: &[u8]) -> Self {
        Self::from_be(tag::ROUTE, crate::codec::pad_alpha::<4>(route))
    }
    pub fn expire_time(seconds: u32) -> Self {
        Self::from_be(tag::EXPIRE_TIME, seconds.to_be_bytes())
    }
    pub fn trade_now(v: u8) -> Self {
        Self::from_be(tag::TRADE_NOW, [v])
    }
    pub fn handle_inst(v: u8) -> Self {
        Self::from_be(tag::HANDLE_INST, [v])
    }
    pub fn bbo_weight_indicator(v: u8) -> Self {
        Self::from_be(tag::BBO_WEIGHT_INDICATOR, [v])
    }
    pub fn reference_price(v: u64) -> Self {
        Self::from_be(tag::REFERENCE_PRICE, v.to_be_bytes())
    }
    pub fn reference_price_type(v: u8) -> Self {
        Self::from_be(tag::REFERENCE_PRICE_TYPE, [v])
    }
    pub fn display_quantity(v: u32) -> Self {
        Self::from_be(tag::DISPLAY_QUANTITY, v.to_be_bytes())
    }
    pub fn display_price(v: u64) -> Self {
        Self::from_be(tag::DISPLAY_PRICE, v.to_be_bytes())
    }
    pub fn group_id(v: u16) -> Self {
        Self::from_be(tag::GROUP_ID, v.to_be_bytes())
    }
    pub fn shares_located(v: u8) -> Self {
        Self::from_be(tag::SHARES_LOCATED, [v])
    }
}

/// A message whose fixed part is followed by an optional appendage. Derefs to the
/// fixed part, so `msg.user_ref_num()` works directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WithAppendage<'a, T> {
    /// The fixed part.
    pub fixed: &'a T,
    /// The validated appendage (exactly Appendage Length bytes).
    pub appendage: Appendages<'a>,
}

impl<'a, T: OuchMessage> WithAppendage<'a, T> {
    fn parse(msg: &'a [u8]) -> Result<Self, Error> {
        let fixed = view::<T>(PROTOCOL, msg)?;
        // `view` checked msg.len() >= T::LEN; the Appendage Length is the last two
        // bytes of every fixed part that has one.
        let declared = match fixed.as_bytes() {
            [.., hi, lo] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => 0,
        };
        let rest = msg.get(T::LEN..).unwrap_or_default();
        let Some(bytes) = rest.get(..declared) else {
            return Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: Some(T::TYPE),
                field: "appendage_length",
                offset: T::LEN - 2,
                needed: declared,
                available: rest.len(),
            });
        };
        let appendage = Appendages::parse(bytes, T::LEN, T::TYPE)?;
        Ok(Self { fixed, appendage })
    }
}

impl<T> Deref for WithAppendage<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.fixed
    }
}

// ---------------------------------------------------------------------------
// Inbound (client to exchange).
// ---------------------------------------------------------------------------

ouch_message! {
    /// Enter Order `'O'` (47 bytes before the appendage).
    pub struct EnterOrder: b'O', "EnterOrder", appendage {
        user_ref_num: u32,
        side: code,
        quantity: u32,
        symbol: alpha[8],
        price: price8,
        time_in_force: code,
        display: code,
        capacity: code,
        intermarket_sweep_eligibility: code,
        cross_type: code,
        cl_ord_id: token,
    }
}

ouch_message! {
    /// Replace Order Request `'U'` (40 bytes before the appendage).
    pub struct ReplaceOrder: b'U', "ReplaceOrderRequest", appendage {
        orig_user_ref_num: u32,
        user_ref_num: u32,
        quantity: u32,
        price: price8,
        time_in_force: code,
        display: code,
        intermarket_sweep_eligibility: code,
        cl_ord_id: token,
    }
}

ouch_message! {
    /// Cancel Order Request `'X'` (11 bytes before the appendage): `quantity` is
    /// the new intended order size, zero to cancel.
    pub struct CancelOrder: b'X', "CancelOrderRequest", appendage {
        user_ref_num: u32,
        quantity: u32,
    }
}

ouch_message! {
    /// Modify Order Request `'M'` (12 bytes before the appendage).
    pub struct ModifyOrder: b'M', "ModifyOrderRequest", appendage {
        user_ref_num: u32,
        side: code,
        quantity: u32,
    }
}

ouch_message! {
    /// Mass Cancel Request `'C'` (19 bytes before the appendage); a blank symbol
    /// means every symbol.
    pub struct MassCancelRequest: b'C', "MassCancelRequest", appendage {
        user_ref_num: u32,
        firm: alpha[4],
        symbol: alpha[8],
    }
}

ouch_message! {
    /// Disable Order Entry Request `'D'` (11 bytes before the appendage).
    pub struct DisableOrderEntry: b'D', "DisableOrderEntryRequest", appendage {
        user_ref_num: u32,
        firm: alpha[4],
    }
}

ouch_message! {
    /// Enable Order Entry Request `'E'` (11 bytes before the appendage).
    pub struct EnableOrderEntry: b'E', "EnableOrderEntryRequest", appendage {
        user_ref_num: u32,
        firm: alpha[4],
    }
}

ouch_message! {
    /// Account Query Request `'Q'` (3 bytes before the appendage): asks for the
    /// next UserRefNum the account may use.
    pub struct AccountQueryRequest: b'Q', "AccountQueryRequest", appendage {}
}

// ---------------------------------------------------------------------------
// Outbound (exchange to client).
// ---------------------------------------------------------------------------

ouch_message! {
    /// System Event `'S'` (10 bytes).
    pub struct SystemEvent: b'S', "SystemEvent" {
        timestamp: nanos,
        event_code: code,
    }
}

ouch_message! {
    /// Order Accepted `'A'` (64 bytes before the appendage).
    pub struct OrderAccepted: b'A', "OrderAccepted", appendage {
        timestamp: nanos,
        user_ref_num: u32,
        side: code,
        quantity: u32,
        symbol: alpha[8],
        price: price8,
        time_in_force: code,
        display: code,
        order_reference_number: u64,
        capacity: code,
        intermarket_sweep_eligibility: code,
        cross_type: code,
        order_state: code,
        cl_ord_id: token,
    }
}

ouch_message! {
    /// Order Replaced `'U'` (68 bytes before the appendage).
    pub struct OrderReplaced: b'U', "OrderReplaced", appendage {
        timestamp: nanos,
        orig_user_ref_num: u32,
        user_ref_num: u32,
        side: code,
        quantity: u32,
        symbol: alpha[8],
        price: price8,
        time_in_force: code,
        display: code,
        order_reference_number: u64,
        capacity: code,
        intermarket_sweep_eligibility: code,
        cross_type: code,
        order_state: code,
        cl_ord_id: token,
    }
}

ouch_message! {
    /// Order Canceled `'C'` (18 bytes): `quantity` is the decrement.
    pub struct OrderCanceled: b'C', "OrderCanceled" {
        timestamp: nanos,
        user_ref_num: u32,
        quantity: u32,
        reason: code,
    }
}

ouch_message! {
    /// AIQ Canceled `'D'` (31 bytes).
    pub struct AiqCanceled: b'D', "AIQCanceled" {
        timestamp: nanos,
        user_ref_num: u32,
        decrement_shares: u32,
        reason: code,
        quantity_prevented_from_trading: u32,
        execution_price: price8,
        liquidity_flag: code,
    }
}

ouch_message! {
    /// Order Executed `'E'` (36 bytes before the appendage).
    pub struct OrderExecuted: b'E', "OrderExecuted", appendage {
        timestamp: nanos,
        user_ref_num: u32,
        quantity: u32,
        price: price8,
        liquidity_flag: code,
        match_number: u64,
    }
}

ouch_message! {
    /// Broken Trade `'B'` (36 bytes).
    pub struct BrokenTrade: b'B', "BrokenTrade" {
        timestamp: nanos,
        user_ref_num: u32,
        match_number: u64,
        reason: code,
        cl_ord_id: token,
    }
}

ouch_message! {
    /// Trade Correction `'F'` (49 bytes).
    pub struct TradeCorrection: b'F', "TradeCorrection" {
        timestamp: nanos,
        user_ref_num: u32,
        quantity: u32,
        price: price8,
        liquidity_flag: code,
        match_number: u64,
        reason: code,
        cl_ord_id: token,
    }
}

ouch_message! {
    /// Order Rejected `'J'` (29 bytes): the reason is a binary code.
    pub struct OrderRejected: b'J', "OrderRejected" {
        timestamp: nanos,
        user_ref_num: u32,
        reason: u16,
        cl_ord_id: token,
    }
}

ouch_message! {
    /// Cancel Pending `'P'` (13 bytes).
    pub struct CancelPending: b'P', "CancelPending" {
        timestamp: nanos,
        user_ref_num: u32,
    }
}

ouch_message! {
    /// Cancel Reject `'I'` (13 bytes).
    pub struct CancelReject: b'I', "CancelReject" {
        timestamp: nanos,
        user_ref_num: u32,
    }
}

ouch_message! {
    /// Order Priority Update `'T'` (30 bytes).
    pub struct OrderPriorityUpdate: b'T', "OrderPriorityUpdate" {
        timestamp: nanos,
        user_ref_num: u32,
        price: price8,
        display: code,
        order_reference_number: u64,
    }
}

ouch_message! {
    /// Order Modified `'M'` (18 bytes).
    pub struct OrderModified: b'M', "OrderModified" {
        timestamp: nanos,
        user_ref_num: u32,
        side: code,
        quantity: u32,
    }
}

ouch_message! {
    /// Order Restated `'R'` (16 bytes before the appendage, which carries the
    /// restated display quantity/price).
    pub struct OrderRestated: b'R', "OrderRestated", appendage {
        timestamp: nanos,
        user_ref_num: u32,
        reason: code,
    }
}

ouch_message! {
    /// Mass Cancel Response `'X'` (27 bytes before the appendage).
    pub struct MassCancelResponse: b'X', "MassCancelResponse", appendage {
        timestamp: nanos,
        user_ref_num: u32,
        firm: alpha[4],
        symbol: alpha[8],
    }
}

ouch_message! {
    /// Disable Order Entry Response `'G'` (19 bytes before the appendage).
    pub struct DisableOrderEntryResponse: b'G', "DisableOrderEntryResponse", appendage {
        timestamp: nanos,
        user_ref_num: u32,
        firm: alpha[4],
    }
}

ouch_message! {
    /// Enable Order Entry Response `'K'` (19 bytes before the appendage).
    pub struct EnableOrderEntryResponse: b'K', "EnableOrderEntryResponse", appendage {
        timestamp: nanos,
        user_ref_num: u32,
        firm: alpha[4],
    }
}

ouch_message! {
    /// Account Query Response `'Q'` (13 bytes).
    pub struct AccountQueryResponse: b'Q', "AccountQueryResponse" {
        timestamp: nanos,
        next_user_ref_num: u32,
    }
}

ouch_direction! {
    /// An inbound (client to exchange) OUCH 5.0 message.
    pub enum Inbound;
    protocol = PROTOCOL;
    /// Decodes one inbound message and validates its appendage. Shorter than the
    /// fixed part is `Truncated` (field `"message"`); an Appendage Length beyond the
    /// bytes present is `Truncated` (field `"appendage_length"`); an unknown type
    /// byte is `Inbound::Unknown`.
    parse = parse_inbound;
    /// Length of the fixed part (before the appendage) of this inbound type.
    len = inbound_len;
    fixed {}
    appendage {
        EnterOrder(EnterOrder),
        ReplaceOrder(ReplaceOrder),
        CancelOrder(CancelOrder),
        ModifyOrder(ModifyOrder),
        MassCancelRequest(MassCancelRequest),
        DisableOrderEntry(DisableOrderEntry),
        EnableOrderEntry(EnableOrderEntry),
        AccountQueryRequest(AccountQueryRequest),
    }
}

ouch_direction! {
    /// An outbound (exchange to client) OUCH 5.0 message.
    pub enum Outbound;
    protocol = PROTOCOL;
    /// Decodes one outbound message (see [`parse_inbound`] for the errors).
    parse = parse_outbound;
    /// Length of the fixed part (before any appendage) of this outbound type.
    len = outbound_len;
    fixed {
        SystemEvent(SystemEvent),
        OrderCanceled(OrderCanceled),
        AiqCanceled(AiqCanceled),
        BrokenTrade(BrokenTrade),
        TradeCorrection(TradeCorrection),
        OrderRejected(OrderRejected),
        CancelPending(CancelPending),
        CancelReject(CancelReject),
        OrderPriorityUpdate(OrderPriorityUpdate),
        OrderModified(OrderModified),
        AccountQueryResponse(AccountQueryResponse),
    }
    appendage {
        OrderAccepted(OrderAccepted),
        OrderReplaced(OrderReplaced),
        OrderExecuted(OrderExecuted),
        OrderRestated(OrderRestated),
        MassCancelResponse(MassCancelResponse),
        DisableOrderEntryResponse(DisableOrderEntryResponse),
        EnableOrderEntryResponse(EnableOrderEntryResponse),
    }
}

/// Writes any OUCH 5.0 message into `buf`: the fixed part, then (for messages that
/// have one) the appendage, with Appendage Length set to match. Returns the bytes
/// written. Errors: `Truncated` (field `"buffer"`) when `buf` is too small;
/// `Invalid` (field `"appendage"`) when options are given for a message without an
/// appendage or they exceed 65535 bytes. Never allocates.
pub fn write<T: OuchMessage>(
    buf: &mut [u8],
    msg: &T,
    appendages: &[Appendage],
) -> Result<usize, Error> {
    let invalid = |expected| Error::Invalid {
        protocol: PROTOCOL,
        msg_type: Some(T::TYPE),
        field: "appendage",
        offset: T::LEN,
        expected,
    };
    if !T::HAS_APPENDAGE && !appendages.is_empty() {
        return Err(invalid("no options: this message has no appendage"));
    }
    let appendage_len: usize = appendages.iter().map(Appendage::wire_len).sum();
    let declared =
        u16::try_from(appendage_len).map_err(|_| invalid("an appendage of at most 65535 bytes"))?;
    let total = T::LEN + appendage_len;
    let Some(out) = buf.get_mut(..total) else {
        return Err(Error::Truncated {
            protocol: PROTOCOL,
            msg_type: Some(T::TYPE),
            field: "buffer",
            offset: 0,
            needed: total,
            available: buf.len(),
        });
    };
    let (fixed, mut rest) = out.split_at_mut(T::LEN);
    fixed.copy_from_slice(msg.as_bytes());
    if T::HAS_APPENDAGE {
        fixed[T::LEN - 2..].copy_from_slice(&declared.to_be_bytes());
    }
    for option in appendages {
        let (element, tail) = rest.split_at_mut(option.wire_len());
        element[0] = option.len + 1;
        element[1] = option.option_tag;
        element[2..].copy_from_slice(option.value());
        rest = tail;
    }
    Ok(total)
}

/// Writes an Enter Order with its options (see [`write()`]).
pub fn write_enter_order(
    buf: &mut [u8],
    msg: &EnterOrder,
    appendages: &[Appendage],
) -> Result<usize, Error> {
    write(buf, msg, appendages)
}

/// Writes a Replace Order Request with its options (see [`write()`]).
pub fn write_replace_order(
    buf: &mut [u8],
    msg: &ReplaceOrder,
    appendages: &[Appendage],
) -> Result<usize, Error> {
    write(buf, msg, appendages)
}

impl<'a> Inbound<'a> {
    /// The UserRefNum the message carries (for a Replace, the new one); `None` for
    /// Account Query and unknown messages.
    pub fn user_ref_num(&self) -> Option<u32> {
        match self {
            Inbound::EnterOrder(m) => Some(m.user_ref_num()),
            Inbound::ReplaceOrder(m) => Some(m.user_ref_num()),
            Inbound::CancelOrder(m) => Some(m.user_ref_num()),
            Inbound::ModifyOrder(m) => Some(m.user_ref_num()),
            Inbound::MassCancelRequest(m) => Some(m.user_ref_num()),
            Inbound::DisableOrderEntry(m) => Some(m.user_ref_num()),
            Inbound::EnableOrderEntry(m) => Some(m.user_ref_num()),
            Inbound::AccountQueryRequest(_) | Inbound::Unknown { .. } => None,
        }
    }

    /// ClOrdID (Enter Order, Replace Order Request).
    pub fn cl_ord_id(&self) -> Option<[u8; 14]> {
        match self {
            Inbound::EnterOrder(m) => Some(m.cl_ord_id()),
            Inbound::ReplaceOrder(m) => Some(m.cl_ord_id()),
            _ => None,
        }
    }

    /// Symbol without padding (Enter Order, Mass Cancel Request).
    pub fn stock(&self) -> Option<&'a [u8]> {
        match *self {
            Inbound::EnterOrder(m) => Some(m.fixed.symbol()),
            Inbound::MassCancelRequest(m) => Some(m.fixed.symbol()),
            _ => None,
        }
    }

    /// Side (Enter Order, Modify Order Request).
    pub fn side(&self) -> Option<u8> {
        match self {
            Inbound::EnterOrder(m) => Some(m.side()),
            Inbound::ModifyOrder(m) => Some(m.side()),
            _ => None,
        }
    }

    /// Quantity (for Cancel: the new intended order size).
    pub fn quantity(&self) -> Option<u32> {
        match self {
            Inbound::EnterOrder(m) => Some(m.quantity()),
            Inbound::ReplaceOrder(m) => Some(m.quantity()),
            Inbound::CancelOrder(m) => Some(m.quantity()),
            Inbound::ModifyOrder(m) => Some(m.quantity()),
            _ => None,
        }
    }

    /// Same as [`Self::quantity`], under the OUCH 4.2 name.
    pub fn shares(&self) -> Option<u32> {
        self.quantity()
    }

    /// Limit price, 4 implied decimals.
    pub fn price(&self) -> Option<u64> {
        match self {
            Inbound::EnterOrder(m) => Some(m.price()),
            Inbound::ReplaceOrder(m) => Some(m.price()),
            _ => None,
        }
    }

    /// The validated appendage, for messages that have one.
    pub fn appendage(&self) -> Option<Appendages<'a>> {
        match *self {
            Inbound::EnterOrder(m) => Some(m.appendage),
            Inbound::ReplaceOrder(m) => Some(m.appendage),
            Inbound::CancelOrder(m) => Some(m.appendage),
            Inbound::ModifyOrder(m) => Some(m.appendage),
            Inbound::MassCancelRequest(m) => Some(m.appendage),
            Inbound::DisableOrderEntry(m) => Some(m.appendage),
            Inbound::EnableOrderEntry(m) => Some(m.appendage),
            Inbound::AccountQueryRequest(m) => Some(m.appendage),
            Inbound::Unknown { .. } => None,
        }
    }
}

impl<'a> Outbound<'a> {
    /// The order's UserRefNum (for Order Replaced, the new one); `None` for System
    /// Event, Account Query Response and unknown messages.
    pub fn user_ref_num(&self) -> Option<u32> {
        match self {
            Outbound::SystemEvent(_) | Outbound::AccountQueryResponse(_) => None,
            Outbound::Unknown { .. } => None,
            Outbound::OrderCanceled(m) => Some(m.user_ref_num()),
            Outbound::AiqCanceled(m) => Some(m.user_ref_num()),
            Outbound::BrokenTrade(m) => Some(m.user_ref_num()),
            Outbound::TradeCorrection(m) => Some(m.user_ref_num()),
            Outbound::OrderRejected(m) => Some(m.user_ref_num()),
            Outbound::CancelPending(m) => Some(m.user_ref_num()),
            Outbound::CancelReject(m) => Some(m.user_ref_num()),
            Outbound::OrderPriorityUpdate(m) => Some(m.user_ref_num()),
            Outbound::OrderModified(m) => Some(m.user_ref_num()),
            Outbound::OrderAccepted(m) => Some(m.user_ref_num()),
            Outbound::OrderReplaced(m) => Some(m.user_ref_num()),
            Outbound::OrderExecuted(m) => Some(m.user_ref_num()),
            Outbound::OrderRestated(m) => Some(m.user_ref_num()),
            Outbound::MassCancelResponse(m) => Some(m.user_ref_num()),
            Outbound::DisableOrderEntryResponse(m) => Some(m.user_ref_num()),
            Outbound::EnableOrderEntryResponse(m) => Some(m.user_ref_num()),
        }
    }

    /// ClOrdID, where the message carries one.
    pub fn cl_ord_id(&self) -> Option<[u8; 14]> {
        match self {
            Outbound::OrderAccepted(m) => Some(m.cl_ord_id()),
            Outbound::OrderReplaced(m) => Some(m.cl_ord_id()),
            Outbound::BrokenTrade(m) => Some(m.cl_ord_id()),
            Outbound::TradeCorrection(m) => Some(m.cl_ord_id()),
            Outbound::OrderRejected(m) => Some(m.cl_ord_id()),
            _ => None,
        }
    }

    /// Exchange timestamp, nanoseconds since midnight; `None` for unknown messages.
    pub fn timestamp(&self) -> Option<u64> {
        Some(match self {
            Outbound::SystemEvent(m) => m.timestamp(),
            Outbound::OrderCanceled(m) => m.timestamp(),
            Outbound::AiqCanceled(m) => m.timestamp(),
            Outbound::BrokenTrade(m) => m.timestamp(),
            Outbound::TradeCorrection(m) => m.timestamp(),
            Outbound::OrderRejected(m) => m.timestamp(),
            Outbound::CancelPending(m) => m.timestamp(),
            Outbound::CancelReject(m) => m.timestamp(),
            Outbound::OrderPriorityUpdate(m) => m.timestamp(),
            Outbound::OrderModified(m) => m.timestamp(),
            Outbound::AccountQueryResponse(m) => m.timestamp(),
            Outbound::OrderAccepted(m) => m.timestamp(),
            Outbound::OrderReplaced(m) => m.timestamp(),
            Outbound::OrderExecuted(m) => m.timestamp(),
            Outbound::OrderRestated(m) => m.timestamp(),
            Outbound::MassCancelResponse(m) => m.timestamp(),
            Outbound::DisableOrderEntryResponse(m) => m.timestamp(),
            Outbound::EnableOrderEntryResponse(m) => m.timestamp(),
            Outbound::Unknown { .. } => return None,
        })
    }

    /// Symbol without padding (Order Accepted, Order Replaced, Mass Cancel Response).
    pub fn stock(&self) -> Option<&'a [u8]> {
        match *self {
            Outbound::OrderAccepted(m) => Some(m.fixed.symbol()),
            Outbound::OrderReplaced(m) => Some(m.fixed.symbol()),
            Outbound::MassCancelResponse(m) => Some(m.fixed.symbol()),
            _ => None,
        }
    }

    /// Side, where the message carries one.
    pub fn side(&self) -> Option<u8> {
        match self {
            Outbound::OrderAccepted(m) => Some(m.side()),
            Outbound::OrderReplaced(m) => Some(m.side()),
            Outbound::OrderModified(m) => Some(m.side()),
            _ => None,
        }
    }

    /// Quantity: the order size for Accepted/Replaced/Modified, the executed
    /// quantity for executions, the decrement for cancels.
    pub fn quantity(&self) -> Option<u32> {
        match self {
            Outbound::OrderAccepted(m) => Some(m.quantity()),
            Outbound::OrderReplaced(m) => Some(m.quantity()),
            Outbound::OrderModified(m) => Some(m.quantity()),
            Outbound::OrderExecuted(m) => Some(m.quantity()),
            Outbound::TradeCorrection(m) => Some(m.quantity()),
            Outbound::OrderCanceled(m) => Some(m.quantity()),
            Outbound::AiqCanceled(m) => Some(m.decrement_shares()),
            _ => None,
        }
    }

    /// Same as [`Self::quantity`], under the OUCH 4.2 name.
    pub fn shares(&self) -> Option<u32> {
        self.quantity()
    }

    /// The order price, or the execution price for executions (4 implied decimals).
    pub fn price(&self) -> Option<u64> {
        match self {
            Outbound::OrderAccepted(m) => Some(m.price()),
            Outbound::OrderReplaced(m) => Some(m.price()),
            Outbound::OrderPriorityUpdate(m) => Some(m.price()),
            Outbound::OrderExecuted(m) => Some(m.price()),
            Outbound::TradeCorrection(m) => Some(m.price()),
            Outbound::AiqCanceled(m) => Some(m.execution_price()),
            _ => None,
        }
    }

    /// The validated appendage, for messages that have one.
    pub fn appendage(&self) -> Option<Appendages<'a>> {
        match *self {
            Outbound::OrderAccepted(m) => Some(m.appendage),
            Outbound::OrderReplaced(m) => Some(m.appendage),
            Outbound::OrderExecuted(m) => Some(m.appendage),
            Outbound::OrderRestated(m) => Some(m.appendage),
            Outbound::MassCancelResponse(m) => Some(m.appendage),
            Outbound::DisableOrderEntryResponse(m) => Some(m.appendage),
            Outbound::EnableOrderEntryResponse(m) => Some(m.appendage),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Byte arrays below are written from the message tables of the NASDAQ OUCH 5.0
    //! specification (sections 3.1 inbound, 3.2 outbound, "Optional Appendage");
    //! offsets in the comments are from the type byte.

    use super::*;
    use crate::codec::testing::{fields_of, FieldLog};
    use crate::proto::ouch_common::testing::assert_one_byte_short_is_truncated;
    use proptest::prelude::*;
    use zerocopy::IntoBytes;

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    const TS: [u8; 8] = [0, 0, 0x1d, 0x1a, 0x94, 0xa2, 0x00, 0x00]; // 32_000_000_000_000 ns
    const TS_NS: u64 = 32_000_000_000_000;
    const URN: [u8; 4] = [0, 0, 0, 7]; // UserRefNum 7
    const URN2: [u8; 4] = [0, 0, 0, 8]; // UserRefNum 8
    const PX: [u8; 8] = [0, 0, 0, 0, 0, 0x16, 0xe3, 0x60]; // Price 1_500_000 = $150.0000
    const CL: &[u8; 14] = b"CLORD000000001";
    const NO_APPENDAGE: [u8; 2] = [0, 0];

    fn enter_order_bytes() -> Vec<u8> {
        cat(&[
            b"O",                // 0  Type
            &URN,                // 1  UserRefNum = 7
            b"B",                // 5  Side
            &[0, 0, 0x01, 0x2c], // 6  Quantity = 300
            b"AAPL    ",         // 10 Symbol
            &PX,                 // 18 Price = 1_500_000
            b"0",                // 26 Time In Force = Day
            b"Y",                // 27 Display
            b"A",                // 28 Capacity
            b"N",                // 29 Intermarket Sweep Eligibility
            b"N",                // 30 Cross Type
            CL,                  // 31 ClOrdID
            &[0, 12],            // 45 Appendage Length = 12
            &[5, 2],
            b"FIRM",               // 47 Firm: length 5 (tag + 4), tag 2
            &[5, 3, 0, 0, 0, 100], // 54 MinQty: length 5, tag 3, 100
        ])
    }

    #[test]
    fn enter_order_with_appendage_decodes_and_rebuilds() {
        let bytes = enter_order_bytes();
        assert_eq!(bytes.len(), 47 + 12);
        let Ok(Inbound::EnterOrder(m)) = parse_inbound(&bytes) else {
            panic!()
        };
        assert_eq!(m.user_ref_num(), 7);
        assert_eq!(
            (m.side(), m.quantity(), m.symbol()),
            (b'B', 300, &b"AAPL"[..])
        );
        assert_eq!(m.price(), 1_500_000);
        assert_eq!(
            (m.time_in_force(), m.display(), m.capacity()),
            (b'0', b'Y', b'A')
        );
        assert_eq!(
            (m.intermarket_sweep_eligibility(), m.cross_type()),
            (b'N', b'N')
        );
        assert_eq!(&m.cl_ord_id(), CL);
        assert_eq!(m.appendage_length(), 12);
        let options: Vec<(u8, &[u8])> = m.appendage.iter().collect();
        assert_eq!(options, [(2, &b"FIRM"[..]), (3, &[0, 0, 0, 100][..])]);
        assert_eq!(m.appendage.firm(), Some(&b"FIRM"[..]));
        assert_eq!(m.appendage.min_qty(), Some(100));
        assert_eq!(m.appendage.max_floor(), None);

        let order = EnterOrder::new(
            7, b'B', 300, b"AAPL", 1_500_000, b'0', b'Y', b'A', b'N', b'N', CL,
        );
        let mut buf = [0u8; 128];
        let n = write_enter_order(
            &mut buf,
            &order,
            &[Appendage::firm(b"FIRM"), Appendage::min_qty(100)],
        )
        .unwrap();
        assert_eq!(&buf[..n], &bytes[..]);

        let parsed = parse_inbound(&bytes).unwrap();
        assert_eq!(parsed.user_ref_num(), Some(7));
        assert_eq!(parsed.cl_ord_id(), Some(*CL));
        assert_eq!(parsed.stock(), Some(&b"AAPL"[..]));
        assert_eq!(
            (parsed.side(), parsed.shares(), parsed.price()),
            (Some(b'B'), Some(300), Some(1_500_000))
        );

        let rec = fields_of(&parsed);
        assert_eq!((parsed.protocol(), parsed.kind()), ("ouch50", "EnterOrder"));
        assert_eq!(
            rec,
            [
                "user_ref_num=7",
                "side='B'",
                "quantity=300",
                "symbol=\"AAPL\"",
                "price=1500000e-4",
                "time_in_force='0'",
                "display='Y'",
                "capacity='A'",
                "intermarket_sweep_eligibility='N'",
                "cross_type='N'",
                "cl_ord_id=\"CLORD000000001\"",
                "appendage_length=12",
                "firm=\"FIRM\"",
                "min_qty=100",
            ]
        );
    }

    #[test]
    fn other_inbound_messages_decode_and_rebuild() {
        let mut buf = [0u8; 128];

        // Replace Order Request: Type, OrigUserRefNum 7, UserRefNum 8, Quantity 500,
        // Price, TIF IOC, Display N, ISE Y, ClOrdID, Appendage Length 0.
        let b = cat(&[
            b"U",
            &URN,
            &URN2,
            &[0, 0, 0x01, 0xf4],
            &PX,
            b"3",
            b"N",
            b"Y",
            CL,
            &NO_APPENDAGE,
        ]);
        assert_eq!(b.len(), 40);
        let Ok(Inbound::ReplaceOrder(m)) = parse_inbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.orig_user_ref_num(), m.user_ref_num(), m.quantity()),
            (7, 8, 500)
        );
        assert_eq!(
            (m.price(), m.time_in_force(), m.display()),
            (1_500_000, b'3', b'N')
        );
        assert_eq!(
            (m.intermarket_sweep_eligibility(), &m.cl_ord_id()),
            (b'Y', CL)
        );
        assert!(m.appendage.is_empty());
        let built = ReplaceOrder::new(7, 8, 500, 1_500_000, b'3', b'N', b'Y', CL);
        let n = write_replace_order(&mut buf, &built, &[]).unwrap();
        assert_eq!(&buf[..n], &b[..]);

        // Cancel Order Request: Type, UserRefNum 7, Quantity 0, Appendage Length 0.
        let b = cat(&[b"X", &URN, &[0, 0, 0, 0], &NO_APPENDAGE]);
        assert_eq!(b.len(), 11);
        let Ok(Inbound::CancelOrder(m)) = parse_inbound(&b) else {
            panic!()
        };
        assert_eq!((m.user_ref_num(), m.quantity()), (7, 0));
        assert_eq!(CancelOrder::new(7, 0).as_bytes(), &b[..]);

        // Modify Order Request: Type, UserRefNum 7, Side T, Quantity 50, Length 0.
        let b = cat(&[b"M", &URN, b"T", &[0, 0, 0, 50], &NO_APPENDAGE]);
        assert_eq!(b.len(), 12);
        let Ok(Inbound::ModifyOrder(m)) = parse_inbound(&b) else {
            panic!()
        };
        assert_eq!((m.side(), m.quantity()), (b'T', 50));
        assert_eq!(ModifyOrder::new(7, b'T', 50).as_bytes(), &b[..]);

        // Mass Cancel Request: Type, UserRefNum 7, Firm, Symbol (blank = all),
        // Appendage Length 3, Side option (length 2, tag... side is not a numbered
        // option we know: written raw as tag 26).
        let b = cat(&[b"C", &URN, b"FIRM", b"        ", &[0, 3], &[2, 26, b'B']]);
        assert_eq!(b.len(), 19 + 3);
        let Ok(Inbound::MassCancelRequest(m)) = parse_inbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.user_ref_num(), m.firm(), m.symbol()),
            (7, &b"FIRM"[..], &b""[..])
        );
        assert_eq!(m.appendage.get(26), Some(&b"B"[..]));
        let n = write(
            &mut buf,
            &MassCancelRequest::new(7, b"FIRM", b""),
            &[Appendage::new(26, b"B").unwrap()],
        )
        .unwrap();
        assert_eq!(&buf[..n], &b[..]);
        let mut rec = FieldLog::default();
        m.appendage.describe(&mut rec);
        assert_eq!(rec.0, ["26(?)=B"]);

        // Disable / Enable Order Entry Request: Type, UserRefNum 7, Firm, Length 0.
        let b = cat(&[b"D", &URN, b"FIRM", &NO_APPENDAGE]);
        assert_eq!(b.len(), 11);
        let Ok(Inbound::DisableOrderEntry(m)) = parse_inbound(&b) else {
            panic!()
        };
        assert_eq!((m.user_ref_num(), m.firm()), (7, &b"FIRM"[..]));
        assert_eq!(DisableOrderEntry::new(7, b"FIRM").as_bytes(), &b[..]);
        let b = cat(&[b"E", &URN, b"FIRM", &NO_APPENDAGE]);
        let Ok(Inbound::EnableOrderEntry(m)) = parse_inbound(&b) else {
            panic!()
        };
        assert_eq!((m.user_ref_num(), m.firm()), (7, &b"FIRM"[..]));
        assert_eq!(EnableOrderEntry::new(7, b"FIRM").as_bytes(), &b[..]);

        // Account Query Request: Type, Appendage Length 0.
        let b = cat(&[b"Q", &NO_APPENDAGE]);
        let Ok(Inbound::AccountQueryRequest(m)) = parse_inbound(&b) else {
            panic!()
        };
        assert_eq!(m.appendage_length(), 0);
        assert_eq!(AccountQueryRequest::new().as_bytes(), &b[..]);
    }

    fn accepted_bytes() -> Vec<u8> {
        cat(&[
            b"A",                            // 0  Type
            &TS,                             // 1  Timestamp
            &URN,                            // 9  UserRefNum
            b"B",                            // 13 Side
            &[0, 0, 0x01, 0x2c],             // 14 Quantity = 300
            b"AAPL    ",                     // 18 Symbol
            &PX,                             // 26 Price
            b"0",                            // 34 Time In Force
            b"Y",                            // 35 Display
            &[0, 0, 0, 0, 0, 0, 0x30, 0x39], // 36 Order Reference Number = 12345
            b"A",                            // 44 Capacity
            b"N",                            // 45 Intermarket Sweep Eligibility
            b"N",                            // 46 Cross Type
            b"L",                            // 47 Order State
            CL,                              // 48 ClOrdID
            &[0, 9],                         // 62 Appendage Length = 9
            &[2, 18, b'S'],                  // 64 BBO Weight Indicator = S
            &[5, 7, 0xff, 0xff, 0xff, 0x9c], // 67 PegOffset = -100 (-$0.0100)
        ])
    }

    #[test]
    fn order_accepted_decodes_and_rebuilds() {
        let bytes = accepted_bytes();
        assert_eq!(bytes.len(), 64 + 9);
        let msg = parse_outbound(&bytes).unwrap();
        let Outbound::OrderAccepted(m) = msg else {
            panic!()
        };
        assert_eq!(
            (m.timestamp(), m.user_ref_num(), m.side()),
            (TS_NS, 7, b'B')
        );
        assert_eq!(
            (m.quantity(), m.symbol(), m.price()),
            (300, &b"AAPL"[..], 1_500_000)
        );
        assert_eq!(
            (m.time_in_force(), m.display(), m.order_reference_number()),
            (b'0', b'Y', 12345)
        );
        assert_eq!(
            (
                m.capacity(),
                m.intermarket_sweep_eligibility(),
                m.cross_type()
            ),
            (b'A', b'N', b'N')
        );
        assert_eq!((m.order_state(), &m.cl_ord_id()), (b'L', CL));
        assert_eq!(m.appendage.get(tag::BBO_WEIGHT_INDICATOR), Some(&b"S"[..]));
        assert_eq!(
            m.appendage.get(tag::PEG_OFFSET),
            Some(&[0xff, 0xff, 0xff, 0x9c][..])
        );
        let built = OrderAccepted::new(
            TS_NS, 7, b'B', 300, b"AAPL", 1_500_000, b'0', b'Y', 12345, b'A', b'N', b'N', b'L', CL,
        );
        let mut buf = [0u8; 128];
        let n = write(
            &mut buf,
            &built,
            &[
                Appendage::bbo_weight_indicator(b'S'),
                Appendage::peg_offset(-100),
            ],
        )
        .unwrap();
        assert_eq!(&buf[..n], &bytes[..]);
        assert_eq!(
            (msg.user_ref_num(), msg.cl_ord_id(), msg.timestamp()),
            (Some(7), Some(*CL), Some(TS_NS))
        );
        let mut rec = FieldLog::default();
        msg.appendage().unwrap().describe(&mut rec);
        assert_eq!(rec.0, ["bbo_weight_indicator='S'", "peg_offset=-100e-4"]);
    }

    #[test]
    fn other_outbound_messages_decode_and_rebuild() {
        let mut buf = [0u8; 128];

        // System Event: Type, Timestamp, Event Code E (end of day).
        let b = cat(&[b"S", &TS, b"E"]);
        let Ok(Outbound::SystemEvent(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.timestamp(), m.event_code()), (TS_NS, b'E'));
        assert_eq!(SystemEvent::new(TS_NS, b'E').as_bytes(), &b[..]);

        // Order Replaced: Timestamp, OrigUserRefNum 7, UserRefNum 8, Side, Quantity,
        // Symbol, Price, TIF, Display, Order Ref, Capacity, ISE, Cross, State,
        // ClOrdID, Appendage Length 0.
        let b = cat(&[
            b"U",
            &TS,
            &URN,
            &URN2,
            b"S",
            &[0, 0, 0x01, 0xf4],
            b"MSFT    ",
            &PX,
            b"3",
            b"N",
            &[0, 0, 0, 0, 0, 0, 0x30, 0x3a],
            b"P",
            b"Y",
            b"N",
            b"L",
            CL,
            &NO_APPENDAGE,
        ]);
        assert_eq!(b.len(), 68);
        let Ok(Outbound::OrderReplaced(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.orig_user_ref_num(), m.user_ref_num(), m.symbol()),
            (7, 8, &b"MSFT"[..])
        );
        assert_eq!(
            (m.quantity(), m.order_reference_number(), m.capacity()),
            (500, 12346, b'P')
        );
        let built = OrderReplaced::new(
            TS_NS, 7, 8, b'S', 500, b"MSFT", 1_500_000, b'3', b'N', 12346, b'P', b'Y', b'N', b'L',
            CL,
        );
        assert_eq!(built.as_bytes(), &b[..]);

        // Order Canceled: Timestamp, UserRefNum, Quantity 300, Reason U.
        let b = cat(&[b"C", &TS, &URN, &[0, 0, 0x01, 0x2c], b"U"]);
        assert_eq!(b.len(), 18);
        let Ok(Outbound::OrderCanceled(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.user_ref_num(), m.quantity(), m.reason()), (7, 300, b'U'));
        assert_eq!(OrderCanceled::new(TS_NS, 7, 300, b'U').as_bytes(), &b[..]);

        // AIQ Canceled: Timestamp, UserRefNum, Decrement 100, Reason Q, Prevented 100,
        // Execution Price, Liquidity Flag A.
        let b = cat(&[
            b"D",
            &TS,
            &URN,
            &[0, 0, 0, 100],
            b"Q",
            &[0, 0, 0, 100],
            &PX,
            b"A",
        ]);
        assert_eq!(b.len(), 31);
        let Ok(Outbound::AiqCanceled(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (
                m.decrement_shares(),
                m.reason(),
                m.quantity_prevented_from_trading()
            ),
            (100, b'Q', 100)
        );
        assert_eq!((m.execution_price(), m.liquidity_flag()), (1_500_000, b'A'));
        assert_eq!(
            AiqCanceled::new(TS_NS, 7, 100, b'Q', 100, 1_500_000, b'A').as_bytes(),
            &b[..]
        );

        // Order Executed: Timestamp, UserRefNum, Quantity 200, Price, Flag R, Match
        // Number, Appendage Length 10, Reference Price option (length 9, tag 19).
        let b = cat(&[
            b"E",
            &TS,
            &URN,
            &[0, 0, 0, 200],
            &PX,
            b"R",
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &[0, 10],
            &[9, 19],
            &PX,
        ]);
        assert_eq!(b.len(), 36 + 10);
        let Ok(Outbound::OrderExecuted(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.quantity(), m.price(), m.liquidity_flag()),
            (200, 1_500_000, b'R')
        );
        assert_eq!(m.match_number(), 0x0102_0304_0506_0708);
        assert_eq!(m.appendage.iter().collect::<Vec<_>>(), [(19, &PX[..])]);
        let built = OrderExecuted::new(TS_NS, 7, 200, 1_500_000, b'R', 0x0102_0304_0506_0708);
        let n = write(&mut buf, &built, &[Appendage::reference_price(1_500_000)]).unwrap();
        assert_eq!(&buf[..n], &b[..]);

        // Broken Trade: Timestamp, UserRefNum, Match Number 9, Reason E, ClOrdID.
        let b = cat(&[b"B", &TS, &URN, &[0, 0, 0, 0, 0, 0, 0, 9], b"E", CL]);
        assert_eq!(b.len(), 36);
        let Ok(Outbound::BrokenTrade(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.match_number(), m.reason(), &m.cl_ord_id()),
            (9, b'E', CL)
        );
        assert_eq!(BrokenTrade::new(TS_NS, 7, 9, b'E', CL).as_bytes(), &b[..]);

        // Trade Correction: Timestamp, UserRefNum, Quantity 200, Price, Flag R, Match
        // Number 9, Reason N, ClOrdID.
        let b = cat(&[
            b"F",
            &TS,
            &URN,
            &[0, 0, 0, 200],
            &PX,
            b"R",
            &[0, 0, 0, 0, 0, 0, 0, 9],
            b"N",
            CL,
        ]);
        assert_eq!(b.len(), 49);
        let Ok(Outbound::TradeCorrection(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.quantity(), m.match_number(), m.reason()), (200, 9, b'N'));
        assert_eq!(
            TradeCorrection::new(TS_NS, 7, 200, 1_500_000, b'R', 9, b'N', CL).as_bytes(),
            &b[..]
        );

        // Order Rejected: Timestamp, UserRefNum, Reason 0x0017 (invalid symbol), ClOrdID.
        let b = cat(&[b"J", &TS, &URN, &[0x00, 0x17], CL]);
        assert_eq!(b.len(), 29);
        let Ok(Outbound::OrderRejected(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.reason(), &m.cl_ord_id()), (0x17, CL));
        assert_eq!(OrderRejected::new(TS_NS, 7, 0x17, CL).as_bytes(), &b[..]);

        // Cancel Pending / Cancel Reject: Timestamp, UserRefNum.
        let b = cat(&[b"P", &TS, &URN]);
        assert_eq!(b.len(), 13);
        let Ok(Outbound::CancelPending(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(m.user_ref_num(), 7);
        assert_eq!(CancelPending::new(TS_NS, 7).as_bytes(), &b[..]);
        let b = cat(&[b"I", &TS, &URN]);
        let Ok(Outbound::CancelReject(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(m.user_ref_num(), 7);
        assert_eq!(CancelReject::new(TS_NS, 7).as_bytes(), &b[..]);

        // Order Priority Update: Timestamp, UserRefNum, Price, Display, Order Ref.
        let b = cat(&[b"T", &TS, &URN, &PX, b"Y", &[0, 0, 0, 0, 0, 0, 0x30, 0x39]]);
        assert_eq!(b.len(), 30);
        let Ok(Outbound::OrderPriorityUpdate(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.price(), m.display(), m.order_reference_number()),
            (1_500_000, b'Y', 12345)
        );
        assert_eq!(
            OrderPriorityUpdate::new(TS_NS, 7, 1_500_000, b'Y', 12345).as_bytes(),
            &b[..]
        );

        // Order Modified: Timestamp, UserRefNum, Side E, Quantity 50.
        let b = cat(&[b"M", &TS, &URN, b"E", &[0, 0, 0, 50]]);
        assert_eq!(b.len(), 18);
        let Ok(Outbound::OrderModified(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.side(), m.quantity()), (b'E', 50));
        assert_eq!(OrderModified::new(TS_NS, 7, b'E', 50).as_bytes(), &b[..]);

        // Order Restated: Timestamp, UserRefNum, Reason R, Appendage Length 6,
        // Display Quantity option (length 5, tag 22) = 100.
        let b = cat(&[b"R", &TS, &URN, b"R", &[0, 6], &[5, 22, 0, 0, 0, 100]]);
        assert_eq!(b.len(), 16 + 6);
        let Ok(Outbound::OrderRestated(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(
            (m.reason(), m.appendage.get(tag::DISPLAY_QUANTITY)),
            (b'R', Some(&[0, 0, 0, 100][..]))
        );
        let n = write(
            &mut buf,
            &OrderRestated::new(TS_NS, 7, b'R'),
            &[Appendage::display_quantity(100)],
        )
        .unwrap();
        assert_eq!(&buf[..n], &b[..]);

        // Mass Cancel Response: Timestamp, UserRefNum, Firm, Symbol, Length 0.
        let b = cat(&[b"X", &TS, &URN, b"FIRM", b"AAPL    ", &NO_APPENDAGE]);
        assert_eq!(b.len(), 27);
        let Ok(Outbound::MassCancelResponse(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!((m.firm(), m.symbol()), (&b"FIRM"[..], &b"AAPL"[..]));
        assert_eq!(
            MassCancelResponse::new(TS_NS, 7, b"FIRM", b"AAPL").as_bytes(),
            &b[..]
        );

        // Disable / Enable Order Entry Response: Timestamp, UserRefNum, Firm, Length 0.
        let b = cat(&[b"G", &TS, &URN, b"FIRM", &NO_APPENDAGE]);
        assert_eq!(b.len(), 19);
        let Ok(Outbound::DisableOrderEntryResponse(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(m.firm(), b"FIRM");
        assert_eq!(
            DisableOrderEntryResponse::new(TS_NS, 7, b"FIRM").as_bytes(),
            &b[..]
        );
        let b = cat(&[b"K", &TS, &URN, b"FIRM", &NO_APPENDAGE]);
        let Ok(Outbound::EnableOrderEntryResponse(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(m.user_ref_num(), 7);
        assert_eq!(
            EnableOrderEntryResponse::new(TS_NS, 7, b"FIRM").as_bytes(),
            &b[..]
        );

        // Account Query Response: Timestamp, Next UserRefNum 8.
        let b = cat(&[b"Q", &TS, &URN2]);
        assert_eq!(b.len(), 13);
        let Ok(Outbound::AccountQueryResponse(m)) = parse_outbound(&b) else {
            panic!()
        };
        assert_eq!(m.next_user_ref_num(), 8);
        assert_eq!(AccountQueryResponse::new(TS_NS, 8).as_bytes(), &b[..]);
    }

    #[test]
    fn fixed_lengths_match_the_specification() {
        let inbound = [
            (b'O', 47),
            (b'U', 40),
            (b'X', 11),
            (b'M', 12),
            (b'C', 19),
            (b'D', 11),
            (b'E', 11),
            (b'Q', 3),
        ];
        for (t, len) in inbound {
            assert_eq!(inbound_len(t), Some(len), "inbound {}", t as char);
        }
        let outbound = [
            (b'S', 10),
            (b'A', 64),
            (b'U', 68),
            (b'C', 18),
            (b'D', 31),
            (b'E', 36),
            (b'B', 36),
            (b'F', 49),
            (b'J', 29),
            (b'P', 13),
            (b'I', 13),
            (b'T', 30),
            (b'M', 18),
            (b'R', 16),
            (b'X', 27),
            (b'G', 19),
            (b'K', 19),
            (b'Q', 13),
        ];
        for (t, len) in outbound {
            assert_eq!(outbound_len(t), Some(len), "outbound {}", t as char);
        }
        assert_eq!(inbound_len(b'A'), None);
        assert_eq!(outbound_len(b'O'), None);
        // OUCH 4.2 and 5.0 Enter Orders differ in length: a decoder can tell them apart.
        assert_ne!(inbound_len(b'O'), super::super::ouch42::inbound_len(b'O'));
    }

    #[test]
    fn one_byte_short_is_truncated_for_every_type() {
        assert_one_byte_short_is_truncated(
            "ouch50",
            [
                (inbound_len, |m| parse_inbound(m).err()),
                (outbound_len, |m| parse_outbound(m).err()),
            ],
        );
    }

    #[test]
    fn appendage_length_beyond_the_message_is_truncated() {
        let mut bytes = enter_order_bytes();
        bytes.pop(); // the MinQty option loses its last byte
        assert_eq!(
            parse_inbound(&bytes).err(),
            Some(Error::Truncated {
                protocol: "ouch50",
                msg_type: Some(b'O'),
                field: "appendage_length",
                offset: 45,
                needed: 12,
                available: 11,
            })
        );
    }

    #[test]
    fn malformed_options_are_rejected_when_the_view_is_made() {
        // Appendage Length 3 but the option claims 5 bytes after its length byte.
        let b = cat(&[b"X", &URN, &[0, 0, 0, 0], &[0, 3], &[5, 3, 0]]);
        assert_eq!(
            parse_inbound(&b).err(),
            Some(Error::Truncated {
                protocol: "ouch50",
                msg_type: Some(b'X'),
                field: "appendage",
                offset: 11,
                needed: 6,
                available: 3,
            })
        );
        // An option length of zero cannot hold its own tag.
        let b = cat(&[b"X", &URN, &[0, 0, 0, 0], &[0, 3], &[2, 3, 9]]);
        assert!(parse_inbound(&b).is_ok());
        let b = cat(&[b"X", &URN, &[0, 0, 0, 0], &[0, 1], &[0]]);
        assert!(matches!(
            parse_inbound(&b),
            Err(Error::Invalid {
                field: "appendage",
                offset: 11,
                ..
            })
        ));
    }

    #[test]
    fn unknown_types_are_data_and_directions_differ() {
        let msg = [b'Z', 9, 9];
        assert_eq!(
            parse_inbound(&msg),
            Ok(Inbound::Unknown {
                type_byte: b'Z',
                bytes: &msg
            })
        );
        assert_eq!(
            parse_outbound(&msg),
            Ok(Outbound::Unknown {
                type_byte: b'Z',
                bytes: &msg
            })
        );
        // 'C' is Mass Cancel Request inbound and Order Canceled outbound.
        let b = cat(&[b"C", &TS, &URN, &[0, 0, 0x01, 0x2c], b"U"]);
        assert_eq!(parse_outbound(&b).unwrap().kind(), "OrderCanceled");
        // Inbound, the same 18 bytes are a Mass Cancel Request one byte short.
        assert!(matches!(
            parse_inbound(&b),
            Err(Error::Truncated {
                field: "message",
                needed: 19,
                available: 18,
                ..
            })
        ));
    }

    #[test]
    fn writer_checks_buffer_and_appendage_presence() {
        let order = EnterOrder::new(1, b'B', 1, b"A", 1, b'0', b'Y', b'A', b'N', b'N', b"C");
        let mut small = [0u8; 50];
        assert_eq!(
            write_enter_order(&mut small, &order, &[Appendage::min_qty(1)]),
            Err(Error::Truncated {
                protocol: "ouch50",
                msg_type: Some(b'O'),
                field: "buffer",
                offset: 0,
                needed: 53,
                available: 50,
            })
        );
        let mut buf = [0u8; 64];
        assert!(matches!(
            write(
                &mut buf,
                &SystemEvent::new(0, b'S'),
                &[Appendage::min_qty(1)]
            ),
            Err(Error::Invalid {
                field: "appendage",
                ..
            })
        ));
        assert_eq!(write(&mut buf, &SystemEvent::new(0, b'S'), &[]), Ok(10));
        assert_eq!(Appendage::new(1, &[0; 9]), None);
        assert_eq!(Appendage::new(1, &[1, 2]).map(|a| a.wire_len()), Some(4));
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut rec = FieldLog::default();
            if let Ok(m) = parse_inbound(&bytes) {
                m.describe(&mut rec);
                let _ = (m.user_ref_num(), m.cl_ord_id(), m.stock(), m.side(), m.quantity(), m.price());
                if let Some(a) = m.appendage() { let _ = a.iter().count(); }
            }
            if let Ok(m) = parse_outbound(&bytes) {
                m.describe(&mut rec);
                let _ = (m.user_ref_num(), m.cl_ord_id(), m.stock(), m.side(), m.quantity(), m.price(), m.timestamp());
            }
        }

        #[test]
        fn enter_order_round_trips_with_options(
            urn in any::<u32>(), side in any::<u8>(), qty in any::<u32>(), price in any::<u64>(),
            cl in proptest::array::uniform14(any::<u8>()),
            options in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..=8)), 0..6),
        ) {
            let order = EnterOrder::new(urn, side, qty, b"SYM", price, b'0', b'Y', b'A', b'N', b'N', &cl);
            let appendages: Vec<Appendage> = options.iter().map(|(t, v)| Appendage::new(*t, v).unwrap()).collect();
            let mut buf = [0u8; 256];
            let n = write_enter_order(&mut buf, &order, &appendages).unwrap();
            let Ok(Inbound::EnterOrder(view)) = parse_inbound(&buf[..n]) else { panic!() };
            prop_assert_eq!((view.user_ref_num(), view.side(), view.quantity(), view.price()), (urn, side, qty, price));
            prop_assert_eq!(view.cl_ord_id(), cl);
            let decoded: Vec<(u8, Vec<u8>)> = view.appendage.iter().map(|(t, v)| (t, v.to_vec())).collect();
            prop_assert_eq!(decoded, options);
        }

        #[test]
        fn executed_round_trips(ts in any::<u64>(), urn in any::<u32>(), qty in any::<u32>(),
                                price in any::<u64>(), flag in any::<u8>(), matchno in any::<u64>()) {
            let msg = OrderExecuted::new(ts, urn, qty, price, flag, matchno);
            let mut buf = [0u8; 64];
            let n = write(&mut buf, &msg, &[]).unwrap();
            let Ok(Outbound::OrderExecuted(view)) = parse_outbound(&buf[..n]) else { panic!() };
            prop_assert_eq!(*view.fixed, msg);
            prop_assert_eq!((view.timestamp(), view.user_ref_num(), view.match_number()), (ts, urn, matchno));
        }
    }
}
