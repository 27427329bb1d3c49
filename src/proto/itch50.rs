//! NASDAQ TotalView-ITCH 5.0: zero-copy views of every message type the
//! specification defines, builders for the synthetic feed, and a one-load length
//! table for the statistics path.
//!
//! Each message type is a `#[repr(C)]` zerocopy struct whose size is exactly the
//! specification's message length, type byte included as field 0, so a view is a
//! pointer cast after one length check and a built message *is* its wire bytes.
//! [`parse`] takes one message as framed by MoldUDP64 or SoupBinTCP (the framing
//! gives the length; ITCH itself carries none) and returns a [`Message`] that
//! borrows the caller's buffer. It must never allocate, copy the payload, or panic
//! on any input; a type byte the specification does not define is data
//! ([`Message::Unknown`]), not an error.
//!
//! Layouts follow the NASDAQ TotalView-ITCH 5.0 specification, section 1 "Message
//! Formats" (numbered 4.x in older editions), including the later additions: IPO
//! Quoting Period Update 'K', LULD Auction Collar 'J', Operational Halt 'h', Retail
//! Price Improvement Indicator 'N' and Direct Listing with Capital Raise Price
//! Discovery 'O'. All integers are big-endian; the timestamp is 6 bytes of
//! nanoseconds since midnight; Price(4) carries 4 implied decimals and Price(8) 8;
//! alpha fields are left-justified and space-padded.
//!
//! ```
//! use ticklab::proto::itch50::{self, AddOrder, Message};
//!
//! // 09:30:00 exactly, buy 100 AAPL at $150.25.
//! let add = AddOrder::new(7, 0, 34_200_000_000_000, 42, b'B', 100, b"AAPL", 1_502_500);
//! let mut buf = [0u8; 64];
//! let len = itch50::write_into(&add, &mut buf).expect("64 bytes hold any ITCH message");
//! assert_eq!(Some(len), itch50::message_len(b'A'));
//!
//! let msg = itch50::parse(&buf[..len])?;
//! assert_eq!(msg.order_reference(), Some(42));
//! assert_eq!(msg.price(), Some(1_502_500));
//! if let Message::AddOrder(a) = msg {
//!     assert_eq!(a.shares.get(), 100);
//! }
//! # Ok::<(), ticklab::proto::Error>(())
//! ```

use core::fmt;
use core::mem::size_of;

use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{pad_alpha, trim_alpha, Describe, Error, FieldSink};

/// The protocol name reported in errors and by [`Describe::protocol`].
pub const PROTOCOL: &str = "itch50";

/// The specification's 6-byte Timestamp: nanoseconds since midnight, big-endian.
///
/// A day holds fewer than 2^47 nanoseconds, so 48 bits always suffice.
#[repr(transparent)]
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
pub struct Timestamp48(pub [u8; 6]);

impl Timestamp48 {
    /// The timestamp of `nanos`; bits above the 48th are dropped (they cannot
    /// occur in a time of day).
    pub const fn new(nanos: u64) -> Self {
        let b = nanos.to_be_bytes();
        Self([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Nanoseconds since midnight.
    pub const fn get(self) -> u64 {
        let b = self.0;
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }
}

impl fmt::Debug for Timestamp48 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp48({})", self.get())
    }
}

/// The 11 bytes every ITCH 5.0 message begins with (specification section 1:
/// Message Type at 0, Stock Locate at 1, Tracking Number at 3, Timestamp at 5).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct Header {
    pub message_type: u8,
    /// Locate code identifying the security; 0 for market-wide messages.
    pub stock_locate: U16,
    /// NASDAQ internal tracking number.
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
}

/// What every message struct knows about itself.
pub trait WireMessage: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned + Sized {
    /// The message type byte (field 0).
    const TYPE: u8;
    /// The message name, e.g. `"AddOrder"`: [`Describe::kind`] and [`message_name`].
    const NAME: &'static str;
    /// The specification's message length, type byte included.
    const LEN: usize = size_of::<Self>();
}

/// Writes the wire bytes of `m` at the start of `buf`, returning how many were
/// written, or `None` (and nothing written) when `buf` is too short. The send path
/// builds into its own frame buffer with this, without allocating.
pub fn write_into<M: IntoBytes + Immutable>(m: &M, buf: &mut [u8]) -> Option<usize> {
    let bytes = m.as_bytes();
    buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
    Some(bytes.len())
}

fn header(locate: u16, tracking: u16, timestamp_ns: u64) -> (U16, U16, Timestamp48) {
    (
        U16::new(locate),
        U16::new(tracking),
        Timestamp48::new(timestamp_ns),
    )
}

fn price4(sink: &mut dyn FieldSink, name: &'static str, value: U32) {
    sink.price(name, i64::from(value.get()), 4);
}

/// Price(8) is unsigned on the wire; a value beyond `i64::MAX` is no real price
/// (it would be $92 billion), so it is shown as the raw integer rather than wrapped.
fn price8(sink: &mut dyn FieldSink, name: &'static str, value: U64) {
    match i64::try_from(value.get()) {
        Ok(v) => sink.price(name, v, 8),
        Err(_) => sink.uint(name, value.get()),
    }
}

fn uint(sink: &mut dyn FieldSink, name: &'static str, value: impl Into<u64>) {
    sink.uint(name, value.into());
}

// ---------------------------------------------------------------------------
// 1.1 System Event
// ---------------------------------------------------------------------------

/// 'S' System Event (spec 1.1), 12 bytes: start/end of messages, system and market
/// hours.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct SystemEvent {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    /// 'O', 'S', 'Q', 'M', 'E', 'C'.
    pub event_code: u8,
}

impl SystemEvent {
    pub fn new(locate: u16, tracking: u16, timestamp_ns: u64, event_code: u8) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            event_code,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.code("event_code", self.event_code);
    }
}

// ---------------------------------------------------------------------------
// 1.2 Stock related messages
// ---------------------------------------------------------------------------

/// 'R' Stock Directory (spec 1.2.1), 39 bytes: one per security at start of day.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct StockDirectory {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    pub market_category: u8,
    pub financial_status_indicator: u8,
    pub round_lot_size: U32,
    pub round_lots_only: u8,
    pub issue_classification: u8,
    /// Alpha(2).
    pub issue_sub_type: [u8; 2],
    pub authenticity: u8,
    pub short_sale_threshold_indicator: u8,
    pub ipo_flag: u8,
    pub luld_reference_price_tier: u8,
    pub etp_flag: u8,
    pub etp_leverage_factor: U32,
    pub inverse_indicator: u8,
}

impl StockDirectory {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        market_category: u8,
        financial_status_indicator: u8,
        round_lot_size: u32,
        round_lots_only: u8,
        issue_classification: u8,
        issue_sub_type: &[u8],
        authenticity: u8,
        short_sale_threshold_indicator: u8,
        ipo_flag: u8,
        luld_reference_price_tier: u8,
        etp_flag: u8,
        etp_leverage_factor: u32,
        inverse_indicator: u8,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            market_category,
            financial_status_indicator,
            round_lot_size: U32::new(round_lot_size),
            round_lots_only,
            issue_classification,
            issue_sub_type: pad_alpha(issue_sub_type),
            authenticity,
            short_sale_threshold_indicator,
            ipo_flag,
            luld_reference_price_tier,
            etp_flag,
            etp_leverage_factor: U32::new(etp_leverage_factor),
            inverse_indicator,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        sink.code("market_category", self.market_category);
        sink.code(
            "financial_status_indicator",
            self.financial_status_indicator,
        );
        uint(sink, "round_lot_size", self.round_lot_size.get());
        sink.code("round_lots_only", self.round_lots_only);
        sink.code("issue_classification", self.issue_classification);
        sink.text("issue_sub_type", trim_alpha(&self.issue_sub_type));
        sink.code("authenticity", self.authenticity);
        sink.code(
            "short_sale_threshold_indicator",
            self.short_sale_threshold_indicator,
        );
        sink.code("ipo_flag", self.ipo_flag);
        sink.code("luld_reference_price_tier", self.luld_reference_price_tier);
        sink.code("etp_flag", self.etp_flag);
        uint(sink, "etp_leverage_factor", self.etp_leverage_factor.get());
        sink.code("inverse_indicator", self.inverse_indicator);
    }
}

/// 'H' Stock Trading Action (spec 1.2.2), 25 bytes: halted, paused, quotation
/// only, trading.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct StockTradingAction {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    /// 'H', 'P', 'Q', 'T'.
    pub trading_state: u8,
    pub reserved: u8,
    /// Alpha(4), e.g. "T1", "LUDP"; blank when not applicable.
    pub reason: [u8; 4],
}

impl StockTradingAction {
    /// The reserved byte is sent as a space (it is an Alpha field).
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        trading_state: u8,
        reason: &[u8],
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            trading_state,
            reserved: b' ',
            reason: pad_alpha(reason),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        sink.code("trading_state", self.trading_state);
        sink.code("reserved", self.reserved);
        sink.text("reason", trim_alpha(&self.reason));
    }
}

/// 'Y' Reg SHO Short Sale Price Test Restricted Indicator (spec 1.2.3), 20 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct RegShoRestriction {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    /// '0' no test, '1' restriction in effect (intraday drop), '2' remains in effect.
    pub reg_sho_action: u8,
}

impl RegShoRestriction {
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        reg_sho_action: u8,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            reg_sho_action,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        sink.code("reg_sho_action", self.reg_sho_action);
    }
}

/// 'L' Market Participant Position (spec 1.2.4), 26 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct MarketParticipantPosition {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    /// Alpha(4) market participant identifier.
    pub mpid: [u8; 4],
    pub stock: [u8; 8],
    pub primary_market_maker: u8,
    pub market_maker_mode: u8,
    pub market_participant_state: u8,
}

impl MarketParticipantPosition {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        mpid: &[u8],
        stock: &[u8],
        primary_market_maker: u8,
        market_maker_mode: u8,
        market_participant_state: u8,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            mpid: pad_alpha(mpid),
            stock: pad_alpha(stock),
            primary_market_maker,
            market_maker_mode,
            market_participant_state,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("mpid", trim_alpha(&self.mpid));
        sink.text("stock", trim_alpha(&self.stock));
        sink.code("primary_market_maker", self.primary_market_maker);
        sink.code("market_maker_mode", self.market_maker_mode);
        sink.code("market_participant_state", self.market_participant_state);
    }
}

/// 'V' MWCB Decline Level (spec 1.2.5.1), 35 bytes: the day's three market-wide
/// circuit breaker levels, Price(8).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct MwcbDeclineLevel {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub level_1: U64,
    pub level_2: U64,
    pub level_3: U64,
}

impl MwcbDeclineLevel {
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        level_1: u64,
        level_2: u64,
        level_3: u64,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            level_1: U64::new(level_1),
            level_2: U64::new(level_2),
            level_3: U64::new(level_3),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        price8(sink, "level_1", self.level_1);
        price8(sink, "level_2", self.level_2);
        price8(sink, "level_3", self.level_3);
    }
}

/// 'W' MWCB Status (spec 1.2.5.2), 12 bytes: a circuit breaker level was breached.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct MwcbStatus {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    /// '1', '2', '3'.
    pub breached_level: u8,
}

impl MwcbStatus {
    pub fn new(locate: u16, tracking: u16, timestamp_ns: u64, breached_level: u8) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            breached_level,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.code("breached_level", self.breached_level);
    }
}

/// 'K' IPO Quoting Period Update (spec 1.2.6), 28 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct IpoQuotingPeriodUpdate {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    /// Seconds since midnight (not nanoseconds) of the anticipated quotation release.
    pub ipo_quotation_release_time: U32,
    /// 'A' anticipated release time, 'C' release canceled/postponed.
    pub ipo_quotation_release_qualifier: u8,
    /// Price(4).
    pub ipo_price: U32,
}

impl IpoQuotingPeriodUpdate {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        ipo_quotation_release_time: u32,
        ipo_quotation_release_qualifier: u8,
        ipo_price: u32,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            ipo_quotation_release_time: U32::new(ipo_quotation_release_time),
            ipo_quotation_release_qualifier,
            ipo_price: U32::new(ipo_price),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        // Seconds, as on the wire: FieldSink::nanos would misread it.
        uint(
            sink,
            "ipo_quotation_release_time",
            self.ipo_quotation_release_time.get(),
        );
        sink.code(
            "ipo_quotation_release_qualifier",
            self.ipo_quotation_release_qualifier,
        );
        price4(sink, "ipo_price", self.ipo_price);
    }
}

/// 'J' LULD Auction Collar (spec 1.2.7), 35 bytes: collars for a LULD reopening.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct LuldAuctionCollar {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    /// Price(4).
    pub auction_collar_reference_price: U32,
    /// Price(4).
    pub upper_auction_collar_price: U32,
    /// Price(4).
    pub lower_auction_collar_price: U32,
    /// How many times the halt has been extended.
    pub auction_collar_extension: U32,
}

impl LuldAuctionCollar {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        auction_collar_reference_price: u32,
        upper_auction_collar_price: u32,
        lower_auction_collar_price: u32,
        auction_collar_extension: u32,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            auction_collar_reference_price: U32::new(auction_collar_reference_price),
            upper_auction_collar_price: U32::new(upper_auction_collar_price),
            lower_auction_collar_price: U32::new(lower_auction_collar_price),
            auction_collar_extension: U32::new(auction_collar_extension),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        price4(
            sink,
            "auction_collar_reference_price",
            self.auction_collar_reference_price,
        );
        price4(
            sink,
            "upper_auction_collar_price",
            self.upper_auction_collar_price,
        );
        price4(
            sink,
            "lower_auction_collar_price",
            self.lower_auction_collar_price,
        );
        uint(
            sink,
            "auction_collar_extension",
            self.auction_collar_extension.get(),
        );
    }
}

/// 'h' Operational Halt (spec 1.2.8), 21 bytes: a venue-specific halt that is not
/// a regulatory one.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct OperationalHalt {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    /// 'Q' Nasdaq, 'B' BX, 'X' PSX.
    pub market_code: u8,
    /// 'H' halted, 'T' resumed.
    pub operational_halt_action: u8,
}

impl OperationalHalt {
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        market_code: u8,
        operational_halt_action: u8,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            market_code,
            operational_halt_action,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        sink.code("market_code", self.market_code);
        sink.code("operational_halt_action", self.operational_halt_action);
    }
}

// ---------------------------------------------------------------------------
// 1.3 Add Order
// ---------------------------------------------------------------------------

/// 'A' Add Order, no MPID attribution (spec 1.3.1), 36 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct AddOrder {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub order_reference_number: U64,
    /// 'B' buy, 'S' sell.
    pub buy_sell_indicator: u8,
    pub shares: U32,
    pub stock: [u8; 8],
    /// Price(4).
    pub price: U32,
}

impl AddOrder {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        order_reference_number: u64,
        buy_sell_indicator: u8,
        shares: u32,
        stock: &[u8],
        price: u32,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            order_reference_number: U64::new(order_reference_number),
            buy_sell_indicator,
            shares: U32::new(shares),
            stock: pad_alpha(stock),
            price: U32::new(price),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "order_reference_number",
            self.order_reference_number.get(),
        );
        sink.code("buy_sell_indicator", self.buy_sell_indicator);
        uint(sink, "shares", self.shares.get());
        sink.text("stock", trim_alpha(&self.stock));
        price4(sink, "price", self.price);
    }
}

/// 'F' Add Order with MPID attribution (spec 1.3.2), 40 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct AddOrderMpid {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub order_reference_number: U64,
    pub buy_sell_indicator: u8,
    pub shares: U32,
    pub stock: [u8; 8],
    /// Price(4).
    pub price: U32,
    /// Alpha(4) MPID of the entering firm.
    pub attribution: [u8; 4],
}

impl AddOrderMpid {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        order_reference_number: u64,
        buy_sell_indicator: u8,
        shares: u32,
        stock: &[u8],
        price: u32,
        attribution: &[u8],
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            order_reference_number: U64::new(order_reference_number),
            buy_sell_indicator,
            shares: U32::new(shares),
            stock: pad_alpha(stock),
            price: U32::new(price),
            attribution: pad_alpha(attribution),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "order_reference_number",
            self.order_reference_number.get(),
        );
        sink.code("buy_sell_indicator", self.buy_sell_indicator);
        uint(sink, "shares", self.shares.get());
        sink.text("stock", trim_alpha(&self.stock));
        price4(sink, "price", self.price);
        sink.text("attribution", trim_alpha(&self.attribution));
    }
}

// ---------------------------------------------------------------------------
// 1.4 Modify Order
// ---------------------------------------------------------------------------

/// 'E' Order Executed (spec 1.4.1), 31 bytes: executed at the order's own price.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct OrderExecuted {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub order_reference_number: U64,
    pub executed_shares: U32,
    pub match_number: U64,
}

impl OrderExecuted {
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        order_reference_number: u64,
        executed_shares: u32,
        match_number: u64,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            order_reference_number: U64::new(order_reference_number),
            executed_shares: U32::new(executed_shares),
            match_number: U64::new(match_number),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "order_reference_number",
            self.order_reference_number.get(),
        );
        uint(sink, "executed_shares", self.executed_shares.get());
        uint(sink, "match_number", self.match_number.get());
    }
}

/// 'C' Order Executed with Price (spec 1.4.2), 36 bytes: executed at a price other
/// than the order's own.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct OrderExecutedWithPrice {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub order_reference_number: U64,
    pub executed_shares: U32,
    pub match_number: U64,
    /// 'Y' printable (counts toward volume), 'N' not.
    pub printable: u8,
    /// Price(4).
    pub execution_price: U32,
}

impl OrderExecutedWithPrice {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        order_reference_number: u64,
        executed_shares: u32,
        match_number: u64,
        printable: u8,
        execution_price: u32,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            order_reference_number: U64::new(order_reference_number),
            executed_shares: U32::new(executed_shares),
            match_number: U64::new(match_number),
            printable,
            execution_price: U32::new(execution_price),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "order_reference_number",
            self.order_reference_number.get(),
        );
        uint(sink, "executed_shares", self.executed_shares.get());
        uint(sink, "match_number", self.match_number.get());
        sink.code("printable", self.printable);
        price4(sink, "execution_price", self.execution_price);
    }
}

/// 'X' Order Cancel (spec 1.4.3), 23 bytes: a partial cancel.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct OrderCancel {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub order_reference_number: U64,
    pub cancelled_shares: U32,
}

impl OrderCancel {
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        order_reference_number: u64,
        cancelled_shares: u32,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            order_reference_number: U64::new(order_reference_number),
            cancelled_shares: U32::new(cancelled_shares),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "order_reference_number",
            self.order_reference_number.get(),
        );
        uint(sink, "cancelled_shares", self.cancelled_shares.get());
    }
}

/// 'D' Order Delete (spec 1.4.4), 19 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct OrderDelete {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub order_reference_number: U64,
}

impl OrderDelete {
    pub fn new(locate: u16, tracking: u16, timestamp_ns: u64, order_reference_number: u64) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            order_reference_number: U64::new(order_reference_number),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "order_reference_number",
            self.order_reference_number.get(),
        );
    }
}

/// 'U' Order Replace (spec 1.4.5), 35 bytes: cancel-replace; the new order takes
/// the original's side and stock, and loses its time priority.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct OrderReplace {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub original_order_reference_number: U64,
    pub new_order_reference_number: U64,
    pub shares: U32,
    /// Price(4).
    pub price: U32,
}

impl OrderReplace {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        original_order_reference_number: u64,
        new_order_reference_number: u64,
        shares: u32,
        price: u32,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            original_order_reference_number: U64::new(original_order_reference_number),
            new_order_reference_number: U64::new(new_order_reference_number),
            shares: U32::new(shares),
            price: U32::new(price),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "original_order_reference_number",
            self.original_order_reference_number.get(),
        );
        uint(
            sink,
            "new_order_reference_number",
            self.new_order_reference_number.get(),
        );
        uint(sink, "shares", self.shares.get());
        price4(sink, "price", self.price);
    }
}

// ---------------------------------------------------------------------------
// 1.5 Trade messages
// ---------------------------------------------------------------------------

/// 'P' Trade, non-cross (spec 1.5.1), 44 bytes: a match against a non-displayed
/// order. NASDAQ sends order reference number 0 here.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct Trade {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub order_reference_number: U64,
    pub buy_sell_indicator: u8,
    pub shares: U32,
    pub stock: [u8; 8],
    /// Price(4).
    pub price: U32,
    pub match_number: U64,
}

impl Trade {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        order_reference_number: u64,
        buy_sell_indicator: u8,
        shares: u32,
        stock: &[u8],
        price: u32,
        match_number: u64,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            order_reference_number: U64::new(order_reference_number),
            buy_sell_indicator,
            shares: U32::new(shares),
            stock: pad_alpha(stock),
            price: U32::new(price),
            match_number: U64::new(match_number),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(
            sink,
            "order_reference_number",
            self.order_reference_number.get(),
        );
        sink.code("buy_sell_indicator", self.buy_sell_indicator);
        uint(sink, "shares", self.shares.get());
        sink.text("stock", trim_alpha(&self.stock));
        price4(sink, "price", self.price);
        uint(sink, "match_number", self.match_number.get());
    }
}

/// 'Q' Cross Trade (spec 1.5.2), 40 bytes: the bulk print of an opening, closing,
/// halt/IPO or intraday cross. Shares is 8 bytes here, unlike elsewhere.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct CrossTrade {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub shares: U64,
    pub stock: [u8; 8],
    /// Price(4).
    pub cross_price: U32,
    pub match_number: U64,
    /// 'O' opening, 'C' closing, 'H' halt/IPO, 'I' intraday/post-close.
    pub cross_type: u8,
}

impl CrossTrade {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        shares: u64,
        stock: &[u8],
        cross_price: u32,
        match_number: u64,
        cross_type: u8,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            shares: U64::new(shares),
            stock: pad_alpha(stock),
            cross_price: U32::new(cross_price),
            match_number: U64::new(match_number),
            cross_type,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(sink, "shares", self.shares.get());
        sink.text("stock", trim_alpha(&self.stock));
        price4(sink, "cross_price", self.cross_price);
        uint(sink, "match_number", self.match_number.get());
        sink.code("cross_type", self.cross_type);
    }
}

/// 'B' Broken Trade (spec 1.5.3), 19 bytes: an execution was broken.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct BrokenTrade {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub match_number: U64,
}

impl BrokenTrade {
    pub fn new(locate: u16, tracking: u16, timestamp_ns: u64, match_number: u64) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            match_number: U64::new(match_number),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(sink, "match_number", self.match_number.get());
    }
}

// ---------------------------------------------------------------------------
// 1.6 NOII, 1.7 RPII, 1.8 DLCR
// ---------------------------------------------------------------------------

/// 'I' Net Order Imbalance Indicator (spec 1.6), 50 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct NetOrderImbalance {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub paired_shares: U64,
    pub imbalance_shares: U64,
    /// 'B' buy, 'S' sell, 'N' none, 'O' insufficient orders to calculate.
    pub imbalance_direction: u8,
    pub stock: [u8; 8],
    /// Price(4).
    pub far_price: U32,
    /// Price(4).
    pub near_price: U32,
    /// Price(4).
    pub current_reference_price: U32,
    pub cross_type: u8,
    pub price_variation_indicator: u8,
}

impl NetOrderImbalance {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        paired_shares: u64,
        imbalance_shares: u64,
        imbalance_direction: u8,
        stock: &[u8],
        far_price: u32,
        near_price: u32,
        current_reference_price: u32,
        cross_type: u8,
        price_variation_indicator: u8,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            paired_shares: U64::new(paired_shares),
            imbalance_shares: U64::new(imbalance_shares),
            imbalance_direction,
            stock: pad_alpha(stock),
            far_price: U32::new(far_price),
            near_price: U32::new(near_price),
            current_reference_price: U32::new(current_reference_price),
            cross_type,
            price_variation_indicator,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        uint(sink, "paired_shares", self.paired_shares.get());
        uint(sink, "imbalance_shares", self.imbalance_shares.get());
        sink.code("imbalance_direction", self.imbalance_direction);
        sink.text("stock", trim_alpha(&self.stock));
        price4(sink, "far_price", self.far_price);
        price4(sink, "near_price", self.near_price);
        price4(
            sink,
            "current_reference_price",
            self.current_reference_price,
        );
        sink.code("cross_type", self.cross_type);
        sink.code("price_variation_indicator", self.price_variation_indicator);
    }
}

/// 'N' Retail Price Improvement Indicator (spec 1.7), 20 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct RetailPriceImprovement {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    /// 'B' buy side, 'S' sell side, 'A' both, 'N' none.
    pub interest_flag: u8,
}

impl RetailPriceImprovement {
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        interest_flag: u8,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            interest_flag,
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        sink.code("interest_flag", self.interest_flag);
    }
}

/// 'O' Direct Listing with Capital Raise Price Discovery (spec 1.8), 48 bytes.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct DirectListingCapitalRaise {
    pub message_type: u8,
    pub stock_locate: U16,
    pub tracking_number: U16,
    pub timestamp: Timestamp48,
    pub stock: [u8; 8],
    /// 'N' not eligible, 'Y' eligible to open.
    pub open_eligibility_status: u8,
    /// Price(4).
    pub minimum_allowable_price: U32,
    /// Price(4).
    pub maximum_allowable_price: U32,
    /// Price(4).
    pub near_execution_price: U32,
    /// An 8-byte integer; the specification gives no unit, so it is shown as is.
    pub near_execution_time: U64,
    /// Price(4).
    pub lower_price_range_collar: U32,
    /// Price(4).
    pub upper_price_range_collar: U32,
}

impl DirectListingCapitalRaise {
    #[allow(clippy::too_many_arguments)] // mirrors the specification's field table
    pub fn new(
        locate: u16,
        tracking: u16,
        timestamp_ns: u64,
        stock: &[u8],
        open_eligibility_status: u8,
        minimum_allowable_price: u32,
        maximum_allowable_price: u32,
        near_execution_price: u32,
        near_execution_time: u64,
        lower_price_range_collar: u32,
        upper_price_range_collar: u32,
    ) -> Self {
        let (stock_locate, tracking_number, timestamp) = header(locate, tracking, timestamp_ns);
        Self {
            message_type: Self::TYPE,
            stock_locate,
            tracking_number,
            timestamp,
            stock: pad_alpha(stock),
            open_eligibility_status,
            minimum_allowable_price: U32::new(minimum_allowable_price),
            maximum_allowable_price: U32::new(maximum_allowable_price),
            near_execution_price: U32::new(near_execution_price),
            near_execution_time: U64::new(near_execution_time),
            lower_price_range_collar: U32::new(lower_price_range_collar),
            upper_price_range_collar: U32::new(upper_price_range_collar),
        }
    }

    fn describe_body(&self, sink: &mut dyn FieldSink) {
        sink.text("stock", trim_alpha(&self.stock));
        sink.code("open_eligibility_status", self.open_eligibility_status);
        price4(
            sink,
            "minimum_allowable_price",
            self.minimum_allowable_price,
        );
        price4(
            sink,
            "maximum_allowable_price",
            self.maximum_allowable_price,
        );
        price4(sink, "near_execution_price", self.near_execution_price);
        uint(sink, "near_execution_time", self.near_execution_time.get());
        price4(
            sink,
            "lower_price_range_collar",
            self.lower_price_range_collar,
        );
        price4(
            sink,
            "upper_price_range_collar",
            self.upper_price_range_collar,
        );
    }
}

// ---------------------------------------------------------------------------
// The message set: one list drives the enum, the dispatch and the tables, so a
// type cannot be known to one of them and missing from another.
// ---------------------------------------------------------------------------

macro_rules! message_set {
    ($($name:ident = $type_byte:literal, $len:literal;)*) => {
        $(
            // The struct must be exactly the specification's length, and start
            // with the common header (the Message accessors read it from there).
            const _: () = assert!(size_of::<$name>() == $len);
            const _: () = assert!($len >= size_of::<Header>() && $len <= u8::MAX as usize);

            impl WireMessage for $name {
                const TYPE: u8 = $type_byte;
                const NAME: &'static str = stringify!($name);
            }

            impl Describe for $name {
                fn protocol(&self) -> &'static str {
                    PROTOCOL
                }
                fn kind(&self) -> &'static str {
                    Self::NAME
                }
                fn describe(&self, sink: &mut dyn FieldSink) {
                    sink.code("message_type", self.message_type);
                    uint(sink, "stock_locate", self.stock_locate.get());
                    uint(sink, "tracking_number", self.tracking_number.get());
                    sink.nanos("timestamp", self.timestamp.get());
                    self.describe_body(sink);
                }
            }
        )*

        /// One decoded ITCH 5.0 message, borrowing the buffer given to [`parse`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Message<'a> {
            $( $name(&'a $name), )*
            /// A type byte ITCH 5.0 does not define: all the bytes, type included.
            Unknown { type_byte: u8, bytes: &'a [u8] },
        }

        /// Every type byte ITCH 5.0 defines, in specification order.
        pub const MESSAGE_TYPES: &[u8] = &[$($type_byte),*];

        /// Message length by type byte; 0 for undefined types.
        const LENGTHS: [u8; 256] = {
            let mut table = [0u8; 256];
            $(
                assert!(table[$type_byte as usize] == 0, "type byte listed twice");
                table[$type_byte as usize] = $len;
            )*
            table
        };

        const NAMES: [Option<&str>; 256] = {
            let mut table = [None; 256];
            $( table[$type_byte as usize] = Some(stringify!($name)); )*
            table
        };

        fn dispatch(type_byte: u8, msg: &[u8]) -> Result<Message<'_>, Error> {
            match type_byte {
                $( $type_byte => view::<$name>(msg).map(Message::$name), )*
                _ => Ok(Message::Unknown { type_byte, bytes: msg }),
            }
        }

        impl<'a> Message<'a> {
            /// The message type byte.
            pub fn type_byte(&self) -> u8 {
                match *self {
                    $( Message::$name(_) => $type_byte, )*
                    Message::Unknown { type_byte, .. } => type_byte,
                }
            }

            /// The wire bytes of the message: exactly the specification's length
            /// for a known type (trailing bytes beyond it are not included), all
            /// the bytes for an unknown one.
            pub fn wire_bytes(&self) -> &'a [u8] {
                match *self {
                    $( Message::$name(m) => m.as_bytes(), )*
                    Message::Unknown { bytes, .. } => bytes,
                }
            }

            fn describe_dispatch(&self, sink: &mut dyn FieldSink) {
                match *self {
                    $( Message::$name(m) => m.describe(sink), )*
                    Message::Unknown { type_byte, bytes } => {
                        sink.code("message_type", type_byte);
                        sink.bytes("payload", bytes.get(1..).unwrap_or(&[]));
                    }
                }
            }
        }
    };
}

message_set! {
    SystemEvent = b'S', 12;
    StockDirectory = b'R', 39;
    StockTradingAction = b'H', 25;
    RegShoRestriction = b'Y', 20;
    MarketParticipantPosition = b'L', 26;
    MwcbDeclineLevel = b'V', 35;
    MwcbStatus = b'W', 12;
    IpoQuotingPeriodUpdate = b'K', 28;
    LuldAuctionCollar = b'J', 35;
    OperationalHalt = b'h', 21;
    AddOrder = b'A', 36;
    AddOrderMpid = b'F', 40;
    OrderExecuted = b'E', 31;
    OrderExecutedWithPrice = b'C', 36;
    OrderCancel = b'X', 23;
    OrderDelete = b'D', 19;
    OrderReplace = b'U', 35;
    Trade = b'P', 44;
    CrossTrade = b'Q', 40;
    BrokenTrade = b'B', 19;
    NetOrderImbalance = b'I', 50;
    RetailPriceImprovement = b'N', 20;
    DirectListingCapitalRaise = b'O', 48;
}

/// The specification's length of a message of this type (type byte included), or
/// `None` for a type ITCH 5.0 does not define. One table load: cheap enough to
/// validate every message on the statistics path.
#[inline]
pub const fn message_len(type_byte: u8) -> Option<usize> {
    match LENGTHS[type_byte as usize] {
        0 => None,
        len => Some(len as usize),
    }
}

/// The message name for this type byte (`"AddOrder"`, ...), or `None` for a type
/// ITCH 5.0 does not define.
#[inline]
pub fn message_name(type_byte: u8) -> Option<&'static str> {
    NAMES[type_byte as usize]
}

fn view<M: WireMessage>(msg: &[u8]) -> Result<&M, Error> {
    match M::ref_from_prefix(msg) {
        Ok((m, _trailing)) => Ok(m),
        Err(_) => Err(Error::Truncated {
            protocol: PROTOCOL,
            msg_type: Some(M::TYPE),
            field: "message",
            offset: 0,
            needed: M::LEN,
            available: msg.len(),
        }),
    }
}

/// Decodes one ITCH 5.0 message. `msg` is exactly one message as framed by
/// MoldUDP64 or SoupBinTCP: the framing's length is the only length there is.
///
/// A message shorter than its type requires is [`Error::Truncated`] (field
/// `"message"`, or `"message_type"` for an empty buffer). A longer one is
/// accepted and the extra bytes ignored: NASDAQ has grown messages by appending
/// fields before (Stock Directory did from 4.1 to 5.0), and the framing tells us
/// where the next message starts, so a decoder that knows the prefix stays useful
/// on a feed that has moved ahead of it. An undefined type byte is
/// [`Message::Unknown`], not an error.
pub fn parse(msg: &[u8]) -> Result<Message<'_>, Error> {
    match msg.first() {
        Some(&type_byte) => dispatch(type_byte, msg),
        None => Err(Error::Truncated {
            protocol: PROTOCOL,
            msg_type: None,
            field: "message_type",
            offset: 0,
            needed: 1,
            available: 0,
        }),
    }
}

/// Checks, without decoding, what [`parse`] checks: that `msg` has a type byte and
/// is as long as its type requires. Returns the type byte. The statistics path of
/// `ticklab decode` counts millions of messages a second through this.
#[inline]
pub fn check(msg: &[u8]) -> Result<u8, Error> {
    let Some(&type_byte) = msg.first() else {
        return Err(Error::Truncated {
            protocol: PROTOCOL,
            msg_type: None,
            field: "message_type",
            offset: 0,
            needed: 1,
            available: 0,
        });
    };
    match message_len(type_byte) {
        Some(needed) if msg.len() < needed => Err(Error::Truncated {
            protocol: PROTOCOL,
            msg_type: Some(type_byte),
            field: "message",
            offset: 0,
            needed,
            available: msg.len(),
        }),
        _ => Ok(type_byte),
    }
}

impl<'a> Message<'a> {
    /// The message name (`"AddOrder"`, ...), `"Unknown"` for an undefined type.
    pub fn name(&self) -> &'static str {
        message_name(self.type_byte()).unwrap_or("Unknown")
    }

    /// The common header; `None` for an unknown type, whose layout we cannot know.
    pub fn header(&self) -> Option<&'a Header> {
        if let Message::Unknown { .. } = self {
            return None;
        }
        // Every known struct is at least a header long (asserted at compile time).
        Header::ref_from_prefix(self.wire_bytes())
            .ok()
            .map(|(h, _)| h)
    }

    pub fn stock_locate(&self) -> Option<u16> {
        self.header().map(|h| h.stock_locate.get())
    }

    pub fn tracking_number(&self) -> Option<u16> {
        self.header().map(|h| h.tracking_number.get())
    }

    /// Nanoseconds since midnight.
    pub fn timestamp(&self) -> Option<u64> {
        self.header().map(|h| h.timestamp.get())
    }

    /// The order the message acts on: A, F, E, C, X, D, P, and for U the
    /// *original* order (the one a book must look up; the new reference is on
    /// [`OrderReplace`]).
    pub fn order_reference(&self) -> Option<u64> {
        let r = match *self {
            Message::AddOrder(m) => m.order_reference_number,
            Message::AddOrderMpid(m) => m.order_reference_number,
            Message::OrderExecuted(m) => m.order_reference_number,
            Message::OrderExecutedWithPrice(m) => m.order_reference_number,
            Message::OrderCancel(m) => m.order_reference_number,
            Message::OrderDelete(m) => m.order_reference_number,
            Message::OrderReplace(m) => m.original_order_reference_number,
            Message::Trade(m) => m.order_reference_number,
            _ => return None,
        };
        Some(r.get())
    }

    /// The stock symbol, space-padded as on the wire, for messages that carry one.
    pub fn stock(&self) -> Option<[u8; 8]> {
        Some(match *self {
            Message::StockDirectory(m) => m.stock,
            Message::StockTradingAction(m) => m.stock,
            Message::RegShoRestriction(m) => m.stock,
            Message::MarketParticipantPosition(m) => m.stock,
            Message::IpoQuotingPeriodUpdate(m) => m.stock,
            Message::LuldAuctionCollar(m) => m.stock,
            Message::OperationalHalt(m) => m.stock,
            Message::AddOrder(m) => m.stock,
            Message::AddOrderMpid(m) => m.stock,
            Message::Trade(m) => m.stock,
            Message::CrossTrade(m) => m.stock,
            Message::NetOrderImbalance(m) => m.stock,
            Message::RetailPriceImprovement(m) => m.stock,
            Message::DirectListingCapitalRaise(m) => m.stock,
            _ => return None,
        })
    }

    /// The Price(4) at which an order rests or a trade printed: A, F, U (the new
    /// price), C (execution price), P, Q (cross price). Reference and indicative
    /// prices (K, J, I, O) are not order or trade prices and give `None`; read
    /// them from the struct.
    pub fn price(&self) -> Option<u32> {
        let p = match *self {
            Message::AddOrder(m) => m.price,
            Message::AddOrderMpid(m) => m.price,
            Message::OrderReplace(m) => m.price,
            Message::OrderExecutedWithPrice(m) => m.execution_price,
            Message::Trade(m) => m.price,
            Message::CrossTrade(m) => m.cross_price,
            _ => return None,
        };
        Some(p.get())
    }
}

impl Describe for Message<'_> {
    fn protocol(&self) -> &'static str {
        PROTOCOL
    }

    fn kind(&self) -> &'static str {
        self.name()
    }

    fn describe(&self, sink: &mut dyn FieldSink) {
        self.describe_dispatch(sink);
    }
}

#[cfg(test)]
mod tests {
    //! Byte arrays below are written out from the field tables of the NASDAQ
    //! TotalView-ITCH 5.0 specification, section 1 (Message Formats). Every message
    //! uses the same header: stock locate 8007, tracking number 258, timestamp
    //! 09:30:00.123456789 (34_200_123_456_789 ns since midnight).

    use super::*;
    use proptest::prelude::*;

    const LOCATE: u16 = 8007;
    const TRACKING: u16 = 258;
    const TS: u64 = 34_200_123_456_789;

    fn assert_header(m: &Message<'_>) {
        assert_eq!(m.stock_locate(), Some(LOCATE));
        assert_eq!(m.tracking_number(), Some(TRACKING));
        assert_eq!(m.timestamp(), Some(TS));
    }

    fn assert_builds<M: IntoBytes + Immutable>(built: &M, wire: &[u8]) {
        assert_eq!(built.as_bytes(), wire);
        let mut buf = [0xAAu8; 64];
        assert_eq!(write_into(built, &mut buf), Some(wire.len()));
        assert_eq!(&buf[..wire.len()], wire);
        assert!(buf[wire.len()..].iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn system_event() {
        #[rustfmt::skip]
        let wire: [u8; 12] = [
            b'S',                               // message type
            0x1F, 0x47,                         // stock locate = 8007
            0x01, 0x02,                         // tracking number = 258
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15, // timestamp
            b'Q',                               // event code: start of market hours
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        let Message::SystemEvent(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.message_type, b'S');
        assert_eq!(m.event_code, b'Q');
        assert_eq!(msg.stock(), None);
        assert_eq!(msg.order_reference(), None);
        assert_builds(&SystemEvent::new(LOCATE, TRACKING, TS, b'Q'), &wire);
    }

    #[test]
    fn stock_directory() {
        #[rustfmt::skip]
        let wire: [u8; 39] = [
            b'R',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'S', b'Q', b'Q', b'Q', b' ', b' ', b' ', b' ', // stock
            b'Q',                                   // market category: Global Select
            b'N',                                   // financial status indicator: normal
            0x00, 0x00, 0x00, 0x64,                 // round lot size = 100
            b'Y',                                   // round lots only
            b'C',                                   // issue classification
            b'Z', b' ',                             // issue sub-type
            b'P',                                   // authenticity: production
            b'Y',                                   // short sale threshold indicator
            b'N',                                   // IPO flag
            b'1',                                   // LULD reference price tier
            b'Y',                                   // ETP flag
            0x00, 0x00, 0x00, 0x03,                 // ETP leverage factor = 3
            b'Y',                                   // inverse indicator
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.stock(), Some(*b"SQQQ    "));
        let Message::StockDirectory(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"SQQQ    ");
        assert_eq!(m.market_category, b'Q');
        assert_eq!(m.financial_status_indicator, b'N');
        assert_eq!(m.round_lot_size.get(), 100);
        assert_eq!(m.round_lots_only, b'Y');
        assert_eq!(m.issue_classification, b'C');
        assert_eq!(&m.issue_sub_type, b"Z ");
        assert_eq!(m.authenticity, b'P');
        assert_eq!(m.short_sale_threshold_indicator, b'Y');
        assert_eq!(m.ipo_flag, b'N');
        assert_eq!(m.luld_reference_price_tier, b'1');
        assert_eq!(m.etp_flag, b'Y');
        assert_eq!(m.etp_leverage_factor.get(), 3);
        assert_eq!(m.inverse_indicator, b'Y');
        let built = StockDirectory::new(
            LOCATE, TRACKING, TS, b"SQQQ", b'Q', b'N', 100, b'Y', b'C', b"Z", b'P', b'Y', b'N',
            b'1', b'Y', 3, b'Y',
        );
        assert_builds(&built, &wire);
    }

    #[test]
    fn stock_trading_action() {
        #[rustfmt::skip]
        let wire: [u8; 25] = [
            b'H',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            b'H',                                   // trading state: halted
            b' ',                                   // reserved
            b'T', b'1', b' ', b' ',                 // reason: news pending
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.stock(), Some(*b"AAPL    "));
        let Message::StockTradingAction(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.trading_state, b'H');
        assert_eq!(m.reserved, b' ');
        assert_eq!(&m.reason, b"T1  ");
        assert_builds(
            &StockTradingAction::new(LOCATE, TRACKING, TS, b"AAPL", b'H', b"T1"),
            &wire,
        );
    }

    #[test]
    fn reg_sho_restriction() {
        #[rustfmt::skip]
        let wire: [u8; 20] = [
            b'Y',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            b'1',                                   // Reg SHO action: restriction in effect
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        let Message::RegShoRestriction(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.reg_sho_action, b'1');
        assert_builds(
            &RegShoRestriction::new(LOCATE, TRACKING, TS, b"AAPL", b'1'),
            &wire,
        );
    }

    #[test]
    fn market_participant_position() {
        #[rustfmt::skip]
        let wire: [u8; 26] = [
            b'L',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'G', b'S', b'C', b'O',                 // MPID
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            b'Y',                                   // primary market maker
            b'N',                                   // market maker mode: normal
            b'A',                                   // market participant state: active
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.stock(), Some(*b"AAPL    "));
        let Message::MarketParticipantPosition(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.mpid, b"GSCO");
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.primary_market_maker, b'Y');
        assert_eq!(m.market_maker_mode, b'N');
        assert_eq!(m.market_participant_state, b'A');
        assert_builds(
            &MarketParticipantPosition::new(
                LOCATE, TRACKING, TS, b"GSCO", b"AAPL", b'Y', b'N', b'A',
            ),
            &wire,
        );
    }

    #[test]
    fn mwcb_decline_level() {
        #[rustfmt::skip]
        let wire: [u8; 35] = [
            b'V',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x5D, 0x22, 0x98, 0x01, 0x4E, // level 1 = 4000.12345678
            0x00, 0x00, 0x00, 0x51, 0x80, 0x9B, 0x1C, 0x80, // level 2 = 3500.50000000
            0x00, 0x00, 0x00, 0x45, 0xDA, 0xE2, 0x30, 0x40, // level 3 = 3000.25000000
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        let Message::MwcbDeclineLevel(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.level_1.get(), 400_012_345_678);
        assert_eq!(m.level_2.get(), 350_050_000_000);
        assert_eq!(m.level_3.get(), 300_025_000_000);
        assert_eq!(msg.price(), None);
        assert_builds(
            &MwcbDeclineLevel::new(
                LOCATE,
                TRACKING,
                TS,
                400_012_345_678,
                350_050_000_000,
                300_025_000_000,
            ),
            &wire,
        );
    }

    #[test]
    fn mwcb_status() {
        #[rustfmt::skip]
        let wire: [u8; 12] = [
            b'W',                               // message type
            0x1F, 0x47,                         // stock locate
            0x01, 0x02,                         // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15, // timestamp
            b'2',                               // breached level
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        let Message::MwcbStatus(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.breached_level, b'2');
        assert_builds(&MwcbStatus::new(LOCATE, TRACKING, TS, b'2'), &wire);
    }

    #[test]
    fn ipo_quoting_period_update() {
        #[rustfmt::skip]
        let wire: [u8; 28] = [
            b'K',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'R', b'I', b'V', b'N', b' ', b' ', b' ', b' ', // stock
            0x00, 0x00, 0x93, 0xA8,                 // IPO quotation release time = 37800 s (10:30)
            b'A',                                   // release qualifier: anticipated
            0x00, 0x0B, 0xE6, 0xE0,                 // IPO price = 78.0000
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.stock(), Some(*b"RIVN    "));
        let Message::IpoQuotingPeriodUpdate(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"RIVN    ");
        assert_eq!(m.ipo_quotation_release_time.get(), 37_800);
        assert_eq!(m.ipo_quotation_release_qualifier, b'A');
        assert_eq!(m.ipo_price.get(), 780_000);
        assert_builds(
            &IpoQuotingPeriodUpdate::new(LOCATE, TRACKING, TS, b"RIVN", 37_800, b'A', 780_000),
            &wire,
        );
    }

    #[test]
    fn luld_auction_collar() {
        #[rustfmt::skip]
        let wire: [u8; 35] = [
            b'J',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            0x00, 0x16, 0xED, 0x24,                 // auction collar reference price = 150.2500
            0x00, 0x18, 0x12, 0x99,                 // upper auction collar price = 157.7625
            0x00, 0x15, 0xC7, 0xAF,                 // lower auction collar price = 142.7375
            0x00, 0x00, 0x00, 0x02,                 // auction collar extension = 2
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        let Message::LuldAuctionCollar(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.auction_collar_reference_price.get(), 1_502_500);
        assert_eq!(m.upper_auction_collar_price.get(), 1_577_625);
        assert_eq!(m.lower_auction_collar_price.get(), 1_427_375);
        assert_eq!(m.auction_collar_extension.get(), 2);
        assert_builds(
            &LuldAuctionCollar::new(
                LOCATE, TRACKING, TS, b"AAPL", 1_502_500, 1_577_625, 1_427_375, 2,
            ),
            &wire,
        );
    }

    #[test]
    fn operational_halt() {
        #[rustfmt::skip]
        let wire: [u8; 21] = [
            b'h',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            b'Q',                                   // market code: Nasdaq
            b'H',                                   // operational halt action: halted
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        let Message::OperationalHalt(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.market_code, b'Q');
        assert_eq!(m.operational_halt_action, b'H');
        assert_builds(
            &OperationalHalt::new(LOCATE, TRACKING, TS, b"AAPL", b'Q', b'H'),
            &wire,
        );
    }

    #[test]
    fn add_order() {
        #[rustfmt::skip]
        let wire: [u8; 36] = [
            b'A',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // order reference number = 123456789
            b'B',                                           // buy/sell indicator
            0x00, 0x00, 0x00, 0x64,                         // shares = 100
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            0x00, 0x16, 0xED, 0x24,                         // price = 150.2500
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        assert_eq!(msg.stock(), Some(*b"AAPL    "));
        assert_eq!(msg.price(), Some(1_502_500));
        let Message::AddOrder(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.order_reference_number.get(), 123_456_789);
        assert_eq!(m.buy_sell_indicator, b'B');
        assert_eq!(m.shares.get(), 100);
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.price.get(), 1_502_500);
        assert_builds(
            &AddOrder::new(
                LOCATE,
                TRACKING,
                TS,
                123_456_789,
                b'B',
                100,
                b"AAPL",
                1_502_500,
            ),
            &wire,
        );
    }

    #[test]
    fn add_order_mpid() {
        #[rustfmt::skip]
        let wire: [u8; 40] = [
            b'F',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // order reference number
            b'S',                                           // buy/sell indicator
            0x00, 0x00, 0x00, 0xFA,                         // shares = 250
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            0x00, 0x16, 0xED, 0x88,                         // price = 150.2600
            b'G', b'S', b'C', b'O',                         // attribution
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        assert_eq!(msg.stock(), Some(*b"AAPL    "));
        assert_eq!(msg.price(), Some(1_502_600));
        let Message::AddOrderMpid(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.order_reference_number.get(), 123_456_789);
        assert_eq!(m.buy_sell_indicator, b'S');
        assert_eq!(m.shares.get(), 250);
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.price.get(), 1_502_600);
        assert_eq!(&m.attribution, b"GSCO");
        assert_builds(
            &AddOrderMpid::new(
                LOCATE,
                TRACKING,
                TS,
                123_456_789,
                b'S',
                250,
                b"AAPL",
                1_502_600,
                b"GSCO",
            ),
            &wire,
        );
    }

    #[test]
    fn order_executed() {
        #[rustfmt::skip]
        let wire: [u8; 31] = [
            b'E',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // order reference number
            0x00, 0x00, 0x00, 0x28,                         // executed shares = 40
            0x00, 0x00, 0x00, 0x16, 0xFE, 0xE0, 0xE5, 0x25, // match number = 98765432101
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        assert_eq!(msg.price(), None);
        assert_eq!(msg.stock(), None);
        let Message::OrderExecuted(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.order_reference_number.get(), 123_456_789);
        assert_eq!(m.executed_shares.get(), 40);
        assert_eq!(m.match_number.get(), 98_765_432_101);
        assert_builds(
            &OrderExecuted::new(LOCATE, TRACKING, TS, 123_456_789, 40, 98_765_432_101),
            &wire,
        );
    }

    #[test]
    fn order_executed_with_price() {
        #[rustfmt::skip]
        let wire: [u8; 36] = [
            b'C',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // order reference number
            0x00, 0x00, 0x00, 0x28,                         // executed shares = 40
            0x00, 0x00, 0x00, 0x16, 0xFE, 0xE0, 0xE5, 0x25, // match number
            b'Y',                                           // printable
            0x00, 0x16, 0xEC, 0xC0,                         // execution price = 150.2400
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        assert_eq!(msg.price(), Some(1_502_400));
        let Message::OrderExecutedWithPrice(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.order_reference_number.get(), 123_456_789);
        assert_eq!(m.executed_shares.get(), 40);
        assert_eq!(m.match_number.get(), 98_765_432_101);
        assert_eq!(m.printable, b'Y');
        assert_eq!(m.execution_price.get(), 1_502_400);
        assert_builds(
            &OrderExecutedWithPrice::new(
                LOCATE,
                TRACKING,
                TS,
                123_456_789,
                40,
                98_765_432_101,
                b'Y',
                1_502_400,
            ),
            &wire,
        );
    }

    #[test]
    fn order_cancel() {
        #[rustfmt::skip]
        let wire: [u8; 23] = [
            b'X',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // order reference number
            0x00, 0x00, 0x00, 0x3C,                         // cancelled shares = 60
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        let Message::OrderCancel(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.order_reference_number.get(), 123_456_789);
        assert_eq!(m.cancelled_shares.get(), 60);
        assert_builds(
            &OrderCancel::new(LOCATE, TRACKING, TS, 123_456_789, 60),
            &wire,
        );
    }

    #[test]
    fn order_delete() {
        #[rustfmt::skip]
        let wire: [u8; 19] = [
            b'D',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // order reference number
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        let Message::OrderDelete(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.order_reference_number.get(), 123_456_789);
        assert_builds(&OrderDelete::new(LOCATE, TRACKING, TS, 123_456_789), &wire);
    }

    #[test]
    fn order_replace() {
        #[rustfmt::skip]
        let wire: [u8; 35] = [
            b'U',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // original order reference = 123456789
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x16, // new order reference = 123456790
            0x00, 0x00, 0x01, 0x2C,                         // shares = 300
            0x00, 0x16, 0xED, 0xEC,                         // price = 150.2700
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        assert_eq!(msg.price(), Some(1_502_700));
        let Message::OrderReplace(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.original_order_reference_number.get(), 123_456_789);
        assert_eq!(m.new_order_reference_number.get(), 123_456_790);
        assert_eq!(m.shares.get(), 300);
        assert_eq!(m.price.get(), 1_502_700);
        assert_builds(
            &OrderReplace::new(
                LOCATE,
                TRACKING,
                TS,
                123_456_789,
                123_456_790,
                300,
                1_502_700,
            ),
            &wire,
        );
    }

    #[test]
    fn trade() {
        #[rustfmt::skip]
        let wire: [u8; 44] = [
            b'P',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x07, 0x5B, 0xCD, 0x15, // order reference number
            b'B',                                           // buy/sell indicator
            0x00, 0x00, 0x01, 0xF4,                         // shares = 500
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            0x00, 0x16, 0xED, 0x24,                         // price = 150.2500
            0x00, 0x00, 0x00, 0x16, 0xFE, 0xE0, 0xE5, 0x25, // match number
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), Some(123_456_789));
        assert_eq!(msg.stock(), Some(*b"AAPL    "));
        assert_eq!(msg.price(), Some(1_502_500));
        let Message::Trade(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.order_reference_number.get(), 123_456_789);
        assert_eq!(m.buy_sell_indicator, b'B');
        assert_eq!(m.shares.get(), 500);
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.price.get(), 1_502_500);
        assert_eq!(m.match_number.get(), 98_765_432_101);
        assert_builds(
            &Trade::new(
                LOCATE,
                TRACKING,
                TS,
                123_456_789,
                b'B',
                500,
                b"AAPL",
                1_502_500,
                98_765_432_101,
            ),
            &wire,
        );
    }

    #[test]
    fn cross_trade() {
        #[rustfmt::skip]
        let wire: [u8; 40] = [
            b'Q',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0xD6, 0x87, // shares = 1234567 (8 bytes)
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            0x00, 0x16, 0xED, 0x24,                         // cross price = 150.2500
            0x00, 0x00, 0x00, 0x16, 0xFE, 0xE0, 0xE5, 0x25, // match number
            b'O',                                           // cross type: opening
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), None);
        assert_eq!(msg.stock(), Some(*b"AAPL    "));
        assert_eq!(msg.price(), Some(1_502_500));
        let Message::CrossTrade(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.shares.get(), 1_234_567);
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.cross_price.get(), 1_502_500);
        assert_eq!(m.match_number.get(), 98_765_432_101);
        assert_eq!(m.cross_type, b'O');
        assert_builds(
            &CrossTrade::new(
                LOCATE,
                TRACKING,
                TS,
                1_234_567,
                b"AAPL",
                1_502_500,
                98_765_432_101,
                b'O',
            ),
            &wire,
        );
    }

    #[test]
    fn broken_trade() {
        #[rustfmt::skip]
        let wire: [u8; 19] = [
            b'B',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x16, 0xFE, 0xE0, 0xE5, 0x25, // match number
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.order_reference(), None);
        let Message::BrokenTrade(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.match_number.get(), 98_765_432_101);
        assert_builds(
            &BrokenTrade::new(LOCATE, TRACKING, TS, 98_765_432_101),
            &wire,
        );
    }

    #[test]
    fn net_order_imbalance() {
        #[rustfmt::skip]
        let wire: [u8; 50] = [
            b'I',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            0x00, 0x00, 0x00, 0x00, 0x00, 0x0F, 0x42, 0x40, // paired shares = 1000000
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0xA8, // imbalance shares = 25000
            b'B',                                           // imbalance direction
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            0x00, 0x16, 0xEF, 0x18,                         // far price = 150.3000
            0x00, 0x16, 0xEE, 0x50,                         // near price = 150.2800
            0x00, 0x16, 0xED, 0x24,                         // current reference price = 150.2500
            b'C',                                           // cross type: closing
            b'1',                                           // price variation indicator
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.stock(), Some(*b"AAPL    "));
        assert_eq!(msg.price(), None);
        let Message::NetOrderImbalance(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.paired_shares.get(), 1_000_000);
        assert_eq!(m.imbalance_shares.get(), 25_000);
        assert_eq!(m.imbalance_direction, b'B');
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.far_price.get(), 1_503_000);
        assert_eq!(m.near_price.get(), 1_502_800);
        assert_eq!(m.current_reference_price.get(), 1_502_500);
        assert_eq!(m.cross_type, b'C');
        assert_eq!(m.price_variation_indicator, b'1');
        assert_builds(
            &NetOrderImbalance::new(
                LOCATE, TRACKING, TS, 1_000_000, 25_000, b'B', b"AAPL", 1_503_000, 1_502_800,
                1_502_500, b'C', b'1',
            ),
            &wire,
        );
    }

    #[test]
    fn retail_price_improvement() {
        #[rustfmt::skip]
        let wire: [u8; 20] = [
            b'N',                                   // message type
            0x1F, 0x47,                             // stock locate
            0x01, 0x02,                             // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,     // timestamp
            b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // stock
            b'A',                                   // interest flag: both sides
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        let Message::RetailPriceImprovement(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"AAPL    ");
        assert_eq!(m.interest_flag, b'A');
        assert_builds(
            &RetailPriceImprovement::new(LOCATE, TRACKING, TS, b"AAPL", b'A'),
            &wire,
        );
    }

    #[test]
    fn direct_listing_capital_raise() {
        #[rustfmt::skip]
        let wire: [u8; 48] = [
            b'O',                                           // message type
            0x1F, 0x47,                                     // stock locate
            0x01, 0x02,                                     // tracking number
            0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15,             // timestamp
            b'A', b'C', b'M', b'E', b' ', b' ', b' ', b' ', // stock
            b'Y',                                           // open eligibility status
            0x00, 0x01, 0x38, 0x80,                         // minimum allowable price = 8.0000
            0x00, 0x06, 0xDD, 0xD0,                         // maximum allowable price = 45.0000
            0x00, 0x03, 0xD0, 0x90,                         // near execution price = 25.0000
            0x00, 0x00, 0x1F, 0x60, 0xA8, 0x3E, 0xA8, 0x00, // near execution time = 34500000000000
            0x00, 0x03, 0x6E, 0xE8,                         // lower price range collar = 22.5000
            0x00, 0x04, 0x32, 0x38,                         // upper price range collar = 27.5000
        ];
        let msg = parse(&wire).unwrap();
        assert_header(&msg);
        assert_eq!(msg.stock(), Some(*b"ACME    "));
        let Message::DirectListingCapitalRaise(m) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(&m.stock, b"ACME    ");
        assert_eq!(m.open_eligibility_status, b'Y');
        assert_eq!(m.minimum_allowable_price.get(), 80_000);
        assert_eq!(m.maximum_allowable_price.get(), 450_000);
        assert_eq!(m.near_execution_price.get(), 250_000);
        assert_eq!(m.near_execution_time.get(), 34_500_000_000_000);
        assert_eq!(m.lower_price_range_collar.get(), 225_000);
        assert_eq!(m.upper_price_range_collar.get(), 275_000);
        assert_builds(
            &DirectListingCapitalRaise::new(
                LOCATE,
                TRACKING,
                TS,
                b"ACME",
                b'Y',
                80_000,
                450_000,
                250_000,
                34_500_000_000_000,
                225_000,
                275_000,
            ),
            &wire,
        );
    }

    /// The specification's message lengths, type byte included (section 1).
    const SPEC_LENGTHS: [(u8, usize, &str); 23] = [
        (b'S', 12, "SystemEvent"),
        (b'R', 39, "StockDirectory"),
        (b'H', 25, "StockTradingAction"),
        (b'Y', 20, "RegShoRestriction"),
        (b'L', 26, "MarketParticipantPosition"),
        (b'V', 35, "MwcbDeclineLevel"),
        (b'W', 12, "MwcbStatus"),
        (b'K', 28, "IpoQuotingPeriodUpdate"),
        (b'J', 35, "LuldAuctionCollar"),
        (b'h', 21, "OperationalHalt"),
        (b'A', 36, "AddOrder"),
        (b'F', 40, "AddOrderMpid"),
        (b'E', 31, "OrderExecuted"),
        (b'C', 36, "OrderExecutedWithPrice"),
        (b'X', 23, "OrderCancel"),
        (b'D', 19, "OrderDelete"),
        (b'U', 35, "OrderReplace"),
        (b'P', 44, "Trade"),
        (b'Q', 40, "CrossTrade"),
        (b'B', 19, "BrokenTrade"),
        (b'I', 50, "NetOrderImbalance"),
        (b'N', 20, "RetailPriceImprovement"),
        (b'O', 48, "DirectListingCapitalRaise"),
    ];

    #[test]
    fn struct_sizes_equal_spec_lengths() {
        assert_eq!(size_of::<Header>(), 11);
        assert_eq!(size_of::<Timestamp48>(), 6);
        assert_eq!(size_of::<SystemEvent>(), 12);
        assert_eq!(size_of::<StockDirectory>(), 39);
        assert_eq!(size_of::<StockTradingAction>(), 25);
        assert_eq!(size_of::<RegShoRestriction>(), 20);
        assert_eq!(size_of::<MarketParticipantPosition>(), 26);
        assert_eq!(size_of::<MwcbDeclineLevel>(), 35);
        assert_eq!(size_of::<MwcbStatus>(), 12);
        assert_eq!(size_of::<IpoQuotingPeriodUpdate>(), 28);
        assert_eq!(size_of::<LuldAuctionCollar>(), 35);
        assert_eq!(size_of::<OperationalHalt>(), 21);
        assert_eq!(size_of::<AddOrder>(), 36);
        assert_eq!(size_of::<AddOrderMpid>(), 40);
        assert_eq!(size_of::<OrderExecuted>(), 31);
        assert_eq!(size_of::<OrderExecutedWithPrice>(), 36);
        assert_eq!(size_of::<OrderCancel>(), 23);
        assert_eq!(size_of::<OrderDelete>(), 19);
        assert_eq!(size_of::<OrderReplace>(), 35);
        assert_eq!(size_of::<Trade>(), 44);
        assert_eq!(size_of::<CrossTrade>(), 40);
        assert_eq!(size_of::<BrokenTrade>(), 19);
        assert_eq!(size_of::<NetOrderImbalance>(), 50);
        assert_eq!(size_of::<RetailPriceImprovement>(), 20);
        assert_eq!(size_of::<DirectListingCapitalRaise>(), 48);
        assert_eq!(AddOrder::LEN, 36);
        assert_eq!(AddOrder::TYPE, b'A');
    }

    #[test]
    fn length_and_name_tables_match_the_spec() {
        assert_eq!(MESSAGE_TYPES.len(), SPEC_LENGTHS.len());
        for (t, len, name) in SPEC_LENGTHS {
            assert_eq!(message_len(t), Some(len), "type {}", t as char);
            assert_eq!(message_name(t), Some(name), "type {}", t as char);
            assert!(MESSAGE_TYPES.contains(&t));
        }
        let defined = (0..=255u8).filter(|&t| message_len(t).is_some()).count();
        assert_eq!(defined, SPEC_LENGTHS.len());
        assert_eq!(message_len(b'T'), None); // ITCH 4.x seconds message, gone in 5.0
        assert_eq!(message_name(b'a'), None);
    }

    #[test]
    fn one_byte_short_is_truncated() {
        for (t, len, name) in SPEC_LENGTHS {
            let mut buf = vec![0u8; len];
            buf[0] = t;
            let full = parse(&buf).unwrap();
            assert_eq!(full.type_byte(), t);
            assert_eq!(full.name(), name);
            assert_eq!(full.wire_bytes().len(), len);
            assert_eq!(
                parse(&buf[..len - 1]),
                Err(Error::Truncated {
                    protocol: "itch50",
                    msg_type: Some(t),
                    field: "message",
                    offset: 0,
                    needed: len,
                    available: len - 1,
                }),
                "type {}",
                t as char
            );
            // Just the type byte: still the same error, with what was there.
            assert_eq!(
                parse(&buf[..1]).unwrap_err(),
                Error::Truncated {
                    protocol: "itch50",
                    msg_type: Some(t),
                    field: "message",
                    offset: 0,
                    needed: len,
                    available: 1,
                }
            );
        }
    }

    #[test]
    fn empty_buffer_is_truncated_at_the_type_byte() {
        assert_eq!(
            parse(&[]),
            Err(Error::Truncated {
                protocol: "itch50",
                msg_type: None,
                field: "message_type",
                offset: 0,
                needed: 1,
                available: 0,
            })
        );
    }

    #[test]
    fn longer_message_is_accepted_and_the_tail_ignored() {
        let add = AddOrder::new(1, 2, 3, 4, b'S', 5, b"MSFT", 6);
        let mut buf = add.as_bytes().to_vec();
        buf.extend_from_slice(b"future field");
        let msg = parse(&buf).unwrap();
        assert_eq!(msg, Message::AddOrder(&add));
        assert_eq!(msg.wire_bytes(), add.as_bytes());
    }

    #[test]
    fn undefined_type_bytes_are_unknown_data() {
        for t in (0..=255u8).filter(|t| !MESSAGE_TYPES.contains(t)) {
            let buf = [t, 0x1F, 0x47, 0x01, 0x02, 0, 0, 0, 0, 0, 1, 9, 9, 9];
            let msg = parse(&buf).unwrap();
            assert_eq!(
                msg,
                Message::Unknown {
                    type_byte: t,
                    bytes: &buf
                }
            );
            assert_eq!(msg.type_byte(), t);
            assert_eq!(msg.name(), "Unknown");
            assert_eq!(msg.kind(), "Unknown");
            assert_eq!(msg.stock_locate(), None);
            assert_eq!(msg.timestamp(), None);
            assert_eq!(msg.wire_bytes(), &buf);
        }
        // A lone unknown byte is still data.
        assert_eq!(
            parse(b"z").unwrap(),
            Message::Unknown {
                type_byte: b'z',
                bytes: b"z"
            }
        );
    }

    #[test]
    fn write_into_refuses_a_short_buffer_and_leaves_it_alone() {
        let del = OrderDelete::new(1, 2, 3, 4);
        let mut small = [0x55u8; 18];
        assert_eq!(write_into(&del, &mut small), None);
        assert_eq!(small, [0x55; 18]);
        let mut exact = [0u8; 19];
        assert_eq!(write_into(&del, &mut exact), Some(19));
        assert_eq!(exact[0], b'D');
    }

    #[test]
    fn timestamp48_holds_a_whole_day() {
        let last_ns_of_day = 86_400_000_000_000 - 1;
        assert_eq!(Timestamp48::new(last_ns_of_day).get(), last_ns_of_day);
        assert_eq!(Timestamp48::new(TS).0, [0x1F, 0x1A, 0xD6, 0x35, 0xBD, 0x15]);
        assert_eq!(Timestamp48::new((1 << 48) - 1).0, [0xFF; 6]);
        // Bits above 48 cannot be represented and are dropped.
        assert_eq!(Timestamp48::new((1 << 48) | 5).get(), 5);
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        Uint(u64),
        Int(i64),
        Price(i64, u8),
        Code(u8),
        Text(Vec<u8>),
        Tag(u32),
        Bytes(Vec<u8>),
        Nanos(u64),
    }

    #[derive(Default)]
    struct Recorder(Vec<(&'static str, Field)>);

    impl FieldSink for Recorder {
        fn uint(&mut self, name: &'static str, value: u64) {
            self.0.push((name, Field::Uint(value)));
        }
        fn int(&mut self, name: &'static str, value: i64) {
            self.0.push((name, Field::Int(value)));
        }
        fn price(&mut self, name: &'static str, value: i64, decimals: u8) {
            self.0.push((name, Field::Price(value, decimals)));
        }
        fn code(&mut self, name: &'static str, value: u8) {
            self.0.push((name, Field::Code(value)));
        }
        fn text(&mut self, name: &'static str, value: &[u8]) {
            self.0.push((name, Field::Text(value.to_vec())));
        }
        fn tag(&mut self, tag: u32, _name: Option<&'static str>, _value: &[u8]) {
            self.0.push(("tag", Field::Tag(tag)));
        }
        fn bytes(&mut self, name: &'static str, value: &[u8]) {
            self.0.push((name, Field::Bytes(value.to_vec())));
        }
        fn nanos(&mut self, name: &'static str, value: u64) {
            self.0.push((name, Field::Nanos(value)));
        }
    }

    fn describe(m: &dyn Describe) -> Vec<(&'static str, Field)> {
        let mut r = Recorder::default();
        m.describe(&mut r);
        r.0
    }

    #[test]
    fn describe_add_order_in_wire_order() {
        let add = AddOrderMpid::new(
            LOCATE, TRACKING, TS, 42, b'S', 250, b"AAPL", 1_502_600, b"GS",
        );
        let msg = parse(add.as_bytes()).unwrap();
        assert_eq!(msg.protocol(), "itch50");
        assert_eq!(msg.kind(), "AddOrderMpid");
        assert_eq!(
            describe(&msg),
            vec![
                ("message_type", Field::Code(b'F')),
                ("stock_locate", Field::Uint(8007)),
                ("tracking_number", Field::Uint(258)),
                ("timestamp", Field::Nanos(TS)),
                ("order_reference_number", Field::Uint(42)),
                ("buy_sell_indicator", Field::Code(b'S')),
                ("shares", Field::Uint(250)),
                ("stock", Field::Text(b"AAPL".to_vec())),
                ("price", Field::Price(1_502_600, 4)),
                ("attribution", Field::Text(b"GS".to_vec())),
            ]
        );
        assert_eq!(describe(&msg), describe(&add));
    }

    #[test]
    fn describe_price8_and_seconds_fields() {
        let v = MwcbDeclineLevel::new(0, 0, 1, 400_012_345_678, u64::MAX, 0);
        assert_eq!(
            describe(&v)[4..],
            [
                ("level_1", Field::Price(400_012_345_678, 8)),
                // No real price exceeds i64::MAX: shown raw, never wrapped negative.
                ("level_2", Field::Uint(u64::MAX)),
                ("level_3", Field::Price(0, 8)),
            ]
        );
        let k = IpoQuotingPeriodUpdate::new(0, 0, 1, b"RIVN", 37_800, b'A', 780_000);
        assert_eq!(
            describe(&k)[4..],
            [
                ("stock", Field::Text(b"RIVN".to_vec())),
                ("ipo_quotation_release_time", Field::Uint(37_800)),
                ("ipo_quotation_release_qualifier", Field::Code(b'A')),
                ("ipo_price", Field::Price(780_000, 4)),
            ]
        );
    }

    #[test]
    fn describe_every_type_starts_with_the_header_and_lists_every_spec_field() {
        // Field count per type from the specification's tables (header included).
        let field_counts = [
            (b'S', 5),
            (b'R', 18),
            (b'H', 8),
            (b'Y', 6),
            (b'L', 9),
            (b'V', 7),
            (b'W', 5),
            (b'K', 8),
            (b'J', 9),
            (b'h', 7),
            (b'A', 9),
            (b'F', 10),
            (b'E', 7),
            (b'C', 9),
            (b'X', 6),
            (b'D', 5),
            (b'U', 8),
            (b'P', 10),
            (b'Q', 9),
            (b'B', 5),
            (b'I', 13),
            (b'N', 6),
            (b'O', 12),
        ];
        for (t, count) in field_counts {
            let mut buf = vec![0u8; message_len(t).unwrap()];
            buf[0] = t;
            let fields = describe(&parse(&buf).unwrap());
            assert_eq!(fields.len(), count, "type {}", t as char);
            assert_eq!(fields[0], ("message_type", Field::Code(t)));
            assert_eq!(fields[3], ("timestamp", Field::Nanos(0)));
        }
    }

    #[test]
    fn describe_unknown_gives_type_and_payload() {
        let msg = parse(&[b'~', 1, 2, 3]).unwrap();
        assert_eq!(
            describe(&msg),
            vec![
                ("message_type", Field::Code(b'~')),
                ("payload", Field::Bytes(vec![1, 2, 3])),
            ]
        );
    }

    fn exercise(msg: &Message<'_>) {
        let _ = (
            msg.type_byte(),
            msg.name(),
            msg.stock_locate(),
            msg.tracking_number(),
            msg.timestamp(),
            msg.order_reference(),
            msg.stock(),
            msg.price(),
        );
        let mut r = Recorder::default();
        msg.describe(&mut r);
        assert!(!r.0.is_empty());
    }

    fn alpha(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(b'A'..=b'Z', 1..=max)
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            match parse(&bytes) {
                Ok(msg) => {
                    exercise(&msg);
                    let len = message_len(bytes[0]).unwrap_or(bytes.len());
                    prop_assert!(bytes.len() >= len);
                    prop_assert_eq!(msg.wire_bytes(), &bytes[..len]);
                }
                Err(e) => {
                    // Only a buffer shorter than its type's length (or empty) fails.
                    let need = bytes.first().map_or(1, |&t| message_len(t).unwrap_or(1));
                    prop_assert!(bytes.len() < need, "{}", e);
                }
            }
        }

        #[test]
        fn parse_never_panics_on_known_types_of_any_length(
            t in proptest::sample::select(MESSAGE_TYPES),
            rest in proptest::collection::vec(any::<u8>(), 0..60),
        ) {
            let mut bytes = vec![t];
            bytes.extend_from_slice(&rest);
            let need = message_len(t).unwrap();
            match parse(&bytes) {
                Ok(msg) => {
                    prop_assert!(bytes.len() >= need);
                    prop_assert_eq!(msg.type_byte(), t);
                    prop_assert_eq!(msg.wire_bytes(), &bytes[..need]);
                    prop_assert_eq!(msg.header().unwrap().as_bytes(), &bytes[..11]);
                    exercise(&msg);
                }
                Err(e) => {
                    prop_assert!(bytes.len() < need);
                    prop_assert_eq!(e, Error::Truncated {
                        protocol: "itch50", msg_type: Some(t), field: "message",
                        offset: 0, needed: need, available: bytes.len(),
                    });
                }
            }
        }

        #[test]
        fn round_trip_system_and_market_wide(
            locate in any::<u16>(), tracking in any::<u16>(), ts in 0u64..(1 << 48),
            code in any::<u8>(), l1 in any::<u64>(), l2 in any::<u64>(), l3 in any::<u64>(),
        ) {
            let s = SystemEvent::new(locate, tracking, ts, code);
            let msg = parse(s.as_bytes()).unwrap();
            prop_assert_eq!(msg, Message::SystemEvent(&s));
            prop_assert_eq!(msg.stock_locate(), Some(locate));
            prop_assert_eq!(msg.tracking_number(), Some(tracking));
            prop_assert_eq!(msg.timestamp(), Some(ts));
            let Message::SystemEvent(p) = msg else { unreachable!() };
            prop_assert_eq!(p.event_code, code);

            let w = MwcbStatus::new(locate, tracking, ts, code);
            let Message::MwcbStatus(p) = parse(w.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(p.breached_level, code);
            prop_assert_eq!(p.timestamp.get(), ts);

            let v = MwcbDeclineLevel::new(locate, tracking, ts, l1, l2, l3);
            let Message::MwcbDeclineLevel(p) = parse(v.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!((p.level_1.get(), p.level_2.get(), p.level_3.get()), (l1, l2, l3));
            prop_assert_eq!(p.stock_locate.get(), locate);
        }

        #[test]
        fn round_trip_stock_directory(
            hdr in (any::<u16>(), any::<u16>(), 0u64..(1 << 48)),
            stock in alpha(8), sub_type in alpha(2),
            codes in proptest::array::uniform11(any::<u8>()),
            round_lot in any::<u32>(), leverage in any::<u32>(),
        ) {
            let [mc, fsi, rlo, ic, auth, ssti, ipo, tier, etp, inv, _] = codes;
            let r = StockDirectory::new(
                hdr.0, hdr.1, hdr.2, &stock, mc, fsi, round_lot, rlo, ic, &sub_type, auth,
                ssti, ipo, tier, etp, leverage, inv,
            );
            let msg = parse(r.as_bytes()).unwrap();
            prop_assert_eq!(msg.timestamp(), Some(hdr.2));
            let Message::StockDirectory(p) = msg else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(trim_alpha(&p.issue_sub_type), &sub_type[..]);
            prop_assert_eq!(
                [p.market_category, p.financial_status_indicator, p.round_lots_only,
                 p.issue_classification, p.authenticity, p.short_sale_threshold_indicator,
                 p.ipo_flag, p.luld_reference_price_tier, p.etp_flag, p.inverse_indicator],
                [mc, fsi, rlo, ic, auth, ssti, ipo, tier, etp, inv]
            );
            prop_assert_eq!(p.round_lot_size.get(), round_lot);
            prop_assert_eq!(p.etp_leverage_factor.get(), leverage);
        }

        #[test]
        fn round_trip_stock_status_messages(
            hdr in (any::<u16>(), any::<u16>(), 0u64..(1 << 48)),
            stock in alpha(8), mpid in alpha(4), reason in alpha(4),
            c in proptest::array::uniform3(any::<u8>()),
            prices in proptest::array::uniform4(any::<u32>()),
        ) {
            let (l, t, ts) = hdr;
            let h = StockTradingAction::new(l, t, ts, &stock, c[0], &reason);
            let Message::StockTradingAction(p) = parse(h.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(p.trading_state, c[0]);
            prop_assert_eq!(p.reserved, b' ');
            prop_assert_eq!(trim_alpha(&p.reason), &reason[..]);

            let y = RegShoRestriction::new(l, t, ts, &stock, c[1]);
            let Message::RegShoRestriction(p) = parse(y.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(p.reg_sho_action, c[1]);

            let m = MarketParticipantPosition::new(l, t, ts, &mpid, &stock, c[0], c[1], c[2]);
            let Message::MarketParticipantPosition(p) = parse(m.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.mpid), &mpid[..]);
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!([p.primary_market_maker, p.market_maker_mode, p.market_participant_state], c);

            let k = IpoQuotingPeriodUpdate::new(l, t, ts, &stock, prices[0], c[2], prices[1]);
            let Message::IpoQuotingPeriodUpdate(p) = parse(k.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(p.ipo_quotation_release_time.get(), prices[0]);
            prop_assert_eq!(p.ipo_quotation_release_qualifier, c[2]);
            prop_assert_eq!(p.ipo_price.get(), prices[1]);

            let j = LuldAuctionCollar::new(l, t, ts, &stock, prices[0], prices[1], prices[2], prices[3]);
            let Message::LuldAuctionCollar(p) = parse(j.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(
                [p.auction_collar_reference_price.get(), p.upper_auction_collar_price.get(),
                 p.lower_auction_collar_price.get(), p.auction_collar_extension.get()],
                prices
            );

            let oh = OperationalHalt::new(l, t, ts, &stock, c[0], c[1]);
            let Message::OperationalHalt(p) = parse(oh.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!((p.market_code, p.operational_halt_action), (c[0], c[1]));

            let n = RetailPriceImprovement::new(l, t, ts, &stock, c[2]);
            let msg = parse(n.as_bytes()).unwrap();
            prop_assert_eq!(msg.stock(), Some(pad_alpha::<8>(&stock)));
            let Message::RetailPriceImprovement(p) = msg else { unreachable!() };
            prop_assert_eq!(p.interest_flag, c[2]);
            prop_assert_eq!(p.tracking_number.get(), t);
        }

        #[test]
        fn round_trip_add_orders(
            hdr in (any::<u16>(), any::<u16>(), 0u64..(1 << 48)),
            order_ref in any::<u64>(), side in any::<u8>(), shares in any::<u32>(),
            stock in alpha(8), price in any::<u32>(), attribution in alpha(4),
        ) {
            let (l, t, ts) = hdr;
            let a = AddOrder::new(l, t, ts, order_ref, side, shares, &stock, price);
            let msg = parse(a.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            prop_assert_eq!(msg.price(), Some(price));
            prop_assert_eq!(msg.stock(), Some(pad_alpha::<8>(&stock)));
            prop_assert_eq!(msg.timestamp(), Some(ts));
            let Message::AddOrder(p) = msg else { unreachable!() };
            prop_assert_eq!((p.buy_sell_indicator, p.shares.get()), (side, shares));

            let f = AddOrderMpid::new(l, t, ts, order_ref, side, shares, &stock, price, &attribution);
            let msg = parse(f.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            prop_assert_eq!(msg.price(), Some(price));
            let Message::AddOrderMpid(p) = msg else { unreachable!() };
            prop_assert_eq!((p.buy_sell_indicator, p.shares.get()), (side, shares));
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(trim_alpha(&p.attribution), &attribution[..]);
        }

        #[test]
        fn round_trip_order_modifications(
            hdr in (any::<u16>(), any::<u16>(), 0u64..(1 << 48)),
            order_ref in any::<u64>(), new_ref in any::<u64>(), shares in any::<u32>(),
            match_number in any::<u64>(), printable in any::<u8>(), price in any::<u32>(),
        ) {
            let (l, t, ts) = hdr;
            let e = OrderExecuted::new(l, t, ts, order_ref, shares, match_number);
            let msg = parse(e.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            let Message::OrderExecuted(p) = msg else { unreachable!() };
            prop_assert_eq!((p.executed_shares.get(), p.match_number.get()), (shares, match_number));

            let c = OrderExecutedWithPrice::new(l, t, ts, order_ref, shares, match_number, printable, price);
            let msg = parse(c.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            prop_assert_eq!(msg.price(), Some(price));
            let Message::OrderExecutedWithPrice(p) = msg else { unreachable!() };
            prop_assert_eq!((p.executed_shares.get(), p.match_number.get()), (shares, match_number));
            prop_assert_eq!(p.printable, printable);

            let x = OrderCancel::new(l, t, ts, order_ref, shares);
            let msg = parse(x.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            let Message::OrderCancel(p) = msg else { unreachable!() };
            prop_assert_eq!(p.cancelled_shares.get(), shares);

            let d = OrderDelete::new(l, t, ts, order_ref);
            let msg = parse(d.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            prop_assert_eq!(msg.stock_locate(), Some(l));

            let u = OrderReplace::new(l, t, ts, order_ref, new_ref, shares, price);
            let msg = parse(u.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            prop_assert_eq!(msg.price(), Some(price));
            let Message::OrderReplace(p) = msg else { unreachable!() };
            prop_assert_eq!((p.new_order_reference_number.get(), p.shares.get()), (new_ref, shares));
        }

        #[test]
        fn round_trip_trades_and_auctions(
            hdr in (any::<u16>(), any::<u16>(), 0u64..(1 << 48)),
            order_ref in any::<u64>(), side in any::<u8>(), shares in any::<u32>(),
            big_shares in proptest::array::uniform2(any::<u64>()),
            stock in alpha(8), prices in proptest::array::uniform5(any::<u32>()),
            match_number in any::<u64>(), codes in proptest::array::uniform3(any::<u8>()),
            near_time in any::<u64>(),
        ) {
            let (l, t, ts) = hdr;
            let tr = Trade::new(l, t, ts, order_ref, side, shares, &stock, prices[0], match_number);
            let msg = parse(tr.as_bytes()).unwrap();
            prop_assert_eq!(msg.order_reference(), Some(order_ref));
            prop_assert_eq!(msg.price(), Some(prices[0]));
            let Message::Trade(p) = msg else { unreachable!() };
            prop_assert_eq!((p.buy_sell_indicator, p.shares.get()), (side, shares));
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(p.match_number.get(), match_number);

            let q = CrossTrade::new(l, t, ts, big_shares[0], &stock, prices[1], match_number, codes[0]);
            let msg = parse(q.as_bytes()).unwrap();
            prop_assert_eq!(msg.price(), Some(prices[1]));
            let Message::CrossTrade(p) = msg else { unreachable!() };
            prop_assert_eq!(p.shares.get(), big_shares[0]);
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!((p.match_number.get(), p.cross_type), (match_number, codes[0]));

            let b = BrokenTrade::new(l, t, ts, match_number);
            let Message::BrokenTrade(p) = parse(b.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(p.match_number.get(), match_number);

            let i = NetOrderImbalance::new(
                l, t, ts, big_shares[0], big_shares[1], codes[0], &stock,
                prices[0], prices[1], prices[2], codes[1], codes[2],
            );
            let Message::NetOrderImbalance(p) = parse(i.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!([p.paired_shares.get(), p.imbalance_shares.get()], big_shares);
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(
                [p.far_price.get(), p.near_price.get(), p.current_reference_price.get()],
                [prices[0], prices[1], prices[2]]
            );
            prop_assert_eq!(
                [p.imbalance_direction, p.cross_type, p.price_variation_indicator],
                codes
            );

            let o = DirectListingCapitalRaise::new(
                l, t, ts, &stock, codes[0], prices[0], prices[1], prices[2], near_time,
                prices[3], prices[4],
            );
            let Message::DirectListingCapitalRaise(p) = parse(o.as_bytes()).unwrap() else { unreachable!() };
            prop_assert_eq!(trim_alpha(&p.stock), &stock[..]);
            prop_assert_eq!(p.open_eligibility_status, codes[0]);
            prop_assert_eq!(
                [p.minimum_allowable_price.get(), p.maximum_allowable_price.get(),
                 p.near_execution_price.get(), p.lower_price_range_collar.get(),
                 p.upper_price_range_collar.get()],
                prices
            );
            prop_assert_eq!(p.near_execution_time.get(), near_time);
        }
    }

    #[test]
    fn check_agrees_with_parse_for_every_type_and_length() {
        let buf = [0u8; 64];
        for t in 0..=255u8 {
            for len in 0..=60usize {
                let mut msg = buf;
                msg[0] = t;
                let msg = &msg[..len];
                match (check(msg), parse(msg)) {
                    (Ok(ct), Ok(m)) => assert_eq!(ct, m.type_byte()),
                    (Err(a), Err(b)) => assert_eq!(a, b, "type {t} len {len}"),
                    (a, b) => panic!(
                        "type {t} len {len}: check {a:?}, parse {:?}",
                        b.map(|m| m.type_byte())
                    ),
                }
            }
        }
    }
}
