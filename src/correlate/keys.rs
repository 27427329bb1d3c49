//! What an order says about its tick: the [`OrderKey`], read from OUCH 4.2, OUCH 5.0
//! and FIX orders, and the [`SymbolTable`] that turns an order's symbol into the
//! ITCH stock locate the feed's ticks carry.
//!
//! Extractors only read the order; they never allocate and never panic, whatever the
//! bytes. A field that does not hold a sequence number (another client's token, a
//! space-padded one) gives `sequence: None`, which the correlator counts as an
//! unsolicited order: it is reported, never dropped.
//!
//! ```
//! use ticklab::correlate::{OrderKey, SymbolTable};
//! use ticklab::proto::fix;
//! let mut symbols = SymbolTable::with_capacity(16);
//! assert!(symbols.insert(*b"AAPL    ", 7));
//! let mut buf = [0u8; 256];
//! let header = fix::Header { begin_string: "FIX.4.2", sender_comp_id: b"DUT", target_comp_id: b"LAB",
//!     msg_seq_num: 2, sending_time: b"20260105-09:30:00.000" };
//! let order = fix::NewOrderSingle { cl_ord_id: b"4217", symbol: b"AAPL", side: b'1',
//!     transact_time: b"20260105-09:30:00.000", order_qty: 100, ord_type: b'2',
//!     price: None, time_in_force: Some(b'3'), account: None };
//! let n = fix::write_new_order_single(&mut buf, &header, &order).unwrap();
//! let (msg, _) = fix::frame(&buf[..n]).unwrap().unwrap();
//! let key = OrderKey::from_fix(&msg, &symbols).unwrap();
//! assert_eq!(key, OrderKey { sequence: Some(4217), locate: Some(7) });
//! ```

use crate::proto::{fix, ouch42, ouch50, pad_alpha};
use crate::refcore::order::sequence_from_token;

/// What the correlation rule needs from one order. The caller fills in what it can;
/// the rule uses one half ([`Rule::Echo`](super::Rule::Echo): `sequence`,
/// [`Rule::Instrument`](super::Rule::Instrument): `locate`), and a missing half makes
/// the order unsolicited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct OrderKey {
    /// The triggering tick's sequence number, echoed in the configured field.
    pub sequence: Option<u64>,
    /// The ITCH stock locate of the order's instrument.
    pub locate: Option<u16>,
}

impl OrderKey {
    /// Only a sequence number (for [`Rule::Echo`](super::Rule::Echo)).
    pub fn echo(sequence: u64) -> Self {
        OrderKey {
            sequence: Some(sequence),
            locate: None,
        }
    }

    /// Only an instrument (for [`Rule::Instrument`](super::Rule::Instrument)).
    pub fn instrument(locate: u16) -> Self {
        OrderKey {
            sequence: None,
            locate: Some(locate),
        }
    }

    /// This key with the instrument set too.
    pub fn with_locate(self, locate: u16) -> Self {
        OrderKey {
            locate: Some(locate),
            ..self
        }
    }

    /// The key of an OUCH 4.2 Enter Order: the Order Token as refcore writes it
    /// ([`echo_ouch42`]), the Stock through `symbols`.
    pub fn from_ouch42(order: &ouch42::EnterOrder, symbols: &SymbolTable) -> Self {
        OrderKey {
            sequence: echo_ouch42(order),
            locate: symbols.locate(order.stock()),
        }
    }

    /// The key of an OUCH 5.0 Enter Order: the ClOrdID ([`echo_ouch50`]), the Symbol
    /// through `symbols`.
    pub fn from_ouch50(order: &ouch50::EnterOrder, symbols: &SymbolTable) -> Self {
        OrderKey {
            sequence: echo_ouch50(order),
            locate: symbols.locate(order.symbol()),
        }
    }

    /// The key of an inbound OUCH 4.2 message, `None` unless it is an Enter Order
    /// (replaces and cancels are not new orders and are not correlated).
    pub fn from_ouch42_inbound(msg: &ouch42::Inbound<'_>, symbols: &SymbolTable) -> Option<Self> {
        match msg {
            ouch42::Inbound::EnterOrder(order) => Some(Self::from_ouch42(order, symbols)),
            _ => None,
        }
    }

    /// The key of an inbound OUCH 5.0 message, `None` unless it is an Enter Order.
    pub fn from_ouch50_inbound(msg: &ouch50::Inbound<'_>, symbols: &SymbolTable) -> Option<Self> {
        match msg {
            ouch50::Inbound::EnterOrder(order) => Some(Self::from_ouch50(order, symbols)),
            _ => None,
        }
    }

    /// The key of a FIX NewOrderSingle (`35=D`): ClOrdID(11) ([`echo_fix`]) and
    /// Symbol(55) through `symbols`. `None` for any other message type.
    pub fn from_fix(msg: &fix::Message<'_>, symbols: &SymbolTable) -> Option<Self> {
        if msg.msg_kind() != fix::MsgType::NewOrderSingle {
            return None;
        }
        Some(OrderKey {
            sequence: echo_fix(msg),
            locate: msg
                .get(fix::tag::SYMBOL)
                .and_then(|symbol| symbols.locate(symbol)),
        })
    }
}

/// The sequence number in an OUCH 4.2 Order Token: exactly 14 ASCII digits, as
/// [`sequence_from_token`] reads refcore's tokens.
pub fn echo_ouch42(order: &ouch42::EnterOrder) -> Option<u64> {
    sequence_from_token(&order.order_token())
}

/// The sequence number in an OUCH 5.0 ClOrdID: exactly 14 ASCII digits.
pub fn echo_ouch50(order: &ouch50::EnterOrder) -> Option<u64> {
    sequence_from_token(&order.cl_ord_id())
}

/// The sequence number in a FIX ClOrdID(11), read leniently (see
/// [`parse_lenient_decimal`]): FIX ClOrdID is a free string, so a core may write
/// `4217` as well as refcore's `00000000004217`.
pub fn echo_fix(msg: &fix::Message<'_>) -> Option<u64> {
    msg.get(fix::tag::CL_ORD_ID).and_then(parse_lenient_decimal)
}

/// A decimal number with any width: spaces around it are ignored, leading zeros are
/// allowed, and what remains must be one or more ASCII digits whose value fits a
/// `u64`. A sign, a prefix (`ORD4217`) or an inner space is not a sequence number:
/// such an order is another client's, and `None` makes it unsolicited.
pub fn parse_lenient_decimal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ')?;
    let end = field.iter().rposition(|&b| b != b' ')? + 1;
    let digits = field.get(start..end)?;
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Symbol to ITCH stock locate, in a fixed-size open-addressing table: lookups and
/// inserts never allocate, so the lab can learn the directory from the Stock
/// Directory (`'R'`) messages it sends while it runs. A table that is full refuses
/// the insert (and counts it) rather than grow.
#[derive(Debug, Clone)]
pub struct SymbolTable {
    /// Slot keys: the 8-byte space-padded symbol as a big-endian `u64`; 0 is empty
    /// (a padded ITCH symbol is never all NUL).
    keys: Box<[u64]>,
    locates: Box<[u16]>,
    len: usize,
    /// Most entries the table takes: half its slots, so probes stay short.
    limit: usize,
    refused: u64,
}

impl SymbolTable {
    /// A table for up to `symbols` instruments (at least 1). It allocates here, once:
    /// 10 bytes per slot, with twice as many slots (rounded to a power of two).
    pub fn with_capacity(symbols: usize) -> Self {
        let slots = symbols.max(1).saturating_mul(2).next_power_of_two();
        SymbolTable {
            keys: vec![0; slots].into_boxed_slice(),
            locates: vec![0; slots].into_boxed_slice(),
            len: 0,
            limit: slots / 2,
            refused: 0,
        }
    }

    /// Learns (or updates) one symbol's locate. The symbol is space padded or
    /// trimmed; either way the first 8 bytes count. `false` when the table is full
    /// (the refusal is counted) or the symbol is empty.
    pub fn insert(&mut self, symbol: impl AsRef<[u8]>, locate: u16) -> bool {
        let Some(key) = symbol_key(symbol.as_ref()) else {
            self.refused += 1;
            return false;
        };
        let slot = self.find_slot(key);
        if self.keys[slot] == key {
            self.locates[slot] = locate;
            return true;
        }
        if self.len >= self.limit {
            self.refused += 1;
            return false;
        }
        self.keys[slot] = key;
        self.locates[slot] = locate;
        self.len += 1;
        true
    }

    /// Learns the symbol of an ITCH Stock Directory message; other messages are
    /// ignored. `false` only when a directory entry was refused.
    pub fn observe_itch(&mut self, msg: &crate::proto::itch50::Message<'_>) -> bool {
        match msg {
            crate::proto::itch50::Message::StockDirectory(directory) => {
                self.insert(directory.stock, directory.stock_locate.get())
            }
            _ => true,
        }
    }

    /// The locate of `symbol` (padded or trimmed), if known.
    pub fn locate(&self, symbol: &[u8]) -> Option<u16> {
        let key = symbol_key(symbol)?;
        let slot = self.find_slot(key);
        (self.keys[slot] == key).then(|| self.locates[slot])
    }

    /// Symbols known.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts refused because the table was full or the symbol empty.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The slot holding `key`, or the empty slot where it would go. The table is
    /// never more than half full, so an empty slot always ends the probe.
    fn find_slot(&self, key: u64) -> usize {
        let mask = self.keys.len() - 1;
        // Fibonacci hashing: the high bits of key * 2^64/phi spread symbols that
        // differ only in their last letters.
        let mut slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask;
        while self.keys[slot] != 0 && self.keys[slot] != key {
            slot = (slot + 1) & mask;
        }
        slot
    }
}

/// The table key of a symbol: padded to 8 bytes with spaces, as a big-endian `u64`.
/// `None` for an empty (all-space) symbol.
fn symbol_key(symbol: &[u8]) -> Option<u64> {
    let padded: [u8; 8] = pad_alpha(crate::proto::trim_alpha(symbol));
    (padded != [b' '; 8]).then(|| u64::from_be_bytes(padded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::itch50::{self, StockDirectory};
    use proptest::prelude::*;
    use zerocopy::IntoBytes;

    #[test]
    fn lenient_decimal_takes_any_width_and_nothing_else() {
        assert_eq!(parse_lenient_decimal(b"4217"), Some(4217));
        assert_eq!(parse_lenient_decimal(b"00000000004217"), Some(4217));
        assert_eq!(parse_lenient_decimal(b"  4217 "), Some(4217));
        assert_eq!(parse_lenient_decimal(b"0"), Some(0));
        assert_eq!(
            parse_lenient_decimal(b"18446744073709551615"),
            Some(u64::MAX)
        );
        assert_eq!(parse_lenient_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_lenient_decimal(b""), None);
        assert_eq!(parse_lenient_decimal(b"   "), None);
        assert_eq!(parse_lenient_decimal(b"ORD4217"), None);
        assert_eq!(parse_lenient_decimal(b"42 17"), None);
        assert_eq!(parse_lenient_decimal(b"-4217"), None);
        assert_eq!(parse_lenient_decimal(b"+4217"), None);
    }

    #[test]
    fn ouch42_order_token_is_read_as_refcore_writes_it() {
        let mut symbols = SymbolTable::with_capacity(4);
        symbols.insert(b"MSFT", 3);
        // OUCH 4.2 Enter Order (NASDAQ OUCH 4.2, section 2.1): token, side, shares,
        // stock, price, TIF, firm, display, capacity, ISO, min qty, cross, customer.
        let order = ouch42::EnterOrder::new(
            b"00000000004217",
            b'B',
            100,
            b"MSFT    ",
            4_012_300,
            0,
            b"TKLB",
            b'Y',
            b'P',
            b'N',
            0,
            b'N',
            b'N',
        );
        let key = OrderKey::from_ouch42(&order, &symbols);
        assert_eq!(key, OrderKey::echo(4217).with_locate(3));
        let parsed = ouch42::parse_inbound(order.as_bytes()).unwrap();
        assert_eq!(OrderKey::from_ouch42_inbound(&parsed, &symbols), Some(key));
        // Another client's token: no sequence; an unknown stock: no locate.
        let other = ouch42::EnterOrder::new(
            b"ABC123        ",
            b'S',
            1,
            b"IBM     ",
            1,
            0,
            b"TKLB",
            b'Y',
            b'P',
            b'N',
            0,
            b'N',
            b'N',
        );
        assert_eq!(OrderKey::from_ouch42(&other, &symbols), OrderKey::default());
        let cancel = ouch42::CancelOrder::new(b"00000000004217", 0);
        let parsed = ouch42::parse_inbound(cancel.as_bytes()).unwrap();
        assert_eq!(OrderKey::from_ouch42_inbound(&parsed, &symbols), None);
    }

    #[test]
    fn ouch50_cl_ord_id_is_read_as_refcore_writes_it() {
        let mut symbols = SymbolTable::with_capacity(4);
        symbols.insert(*b"AAPL    ", 1);
        let order = ouch50::EnterOrder::new(
            9,
            b'S',
            100,
            b"AAPL    ",
            1_500_000,
            b'3',
            b'Y',
            b'P',
            b'N',
            b'N',
            b"00000000000042",
        );
        let mut buf = [0u8; 64];
        let n = ouch50::write_enter_order(&mut buf, &order, &[]).unwrap();
        let parsed = ouch50::parse_inbound(&buf[..n]).unwrap();
        assert_eq!(
            OrderKey::from_ouch50_inbound(&parsed, &symbols),
            Some(OrderKey::echo(42).with_locate(1))
        );
        // Space padded is not refcore's encoding.
        let padded = ouch50::EnterOrder::new(
            9,
            b'S',
            100,
            b"AAPL    ",
            1,
            b'3',
            b'Y',
            b'P',
            b'N',
            b'N',
            b"42            ",
        );
        assert_eq!(echo_ouch50(&padded), None);
    }

    #[test]
    fn fix_new_order_single_gives_a_key_other_messages_none() {
        let mut symbols = SymbolTable::with_capacity(4);
        symbols.insert(b"AAPL", 7);
        let header = fix::Header {
            begin_string: "FIX.4.4",
            sender_comp_id: b"DUT",
            target_comp_id: b"LAB",
            msg_seq_num: 5,
            sending_time: b"20260105-09:30:00.000",
        };
        let mut buf = [0u8; 256];
        for (cl_ord_id, want) in [
            (&b"00000000004217"[..], Some(4217)),
            (b"99", Some(99)),
            (b"X-1", None),
        ] {
            let order = fix::NewOrderSingle {
                cl_ord_id,
                symbol: b"AAPL",
                side: b'2',
                transact_time: b"20260105-09:30:00.000",
                order_qty: 10,
                ord_type: b'1',
                price: None,
                time_in_force: None,
                account: None,
            };
            let n = fix::write_new_order_single(&mut buf, &header, &order).unwrap();
            let (msg, used) = fix::frame(&buf[..n]).unwrap().unwrap();
            assert_eq!(used, n);
            assert_eq!(
                OrderKey::from_fix(&msg, &symbols),
                Some(OrderKey {
                    sequence: want,
                    locate: Some(7)
                })
            );
        }
        let n = fix::write_heartbeat(&mut buf, &header, None).unwrap();
        let (msg, _) = fix::frame(&buf[..n]).unwrap().unwrap();
        assert_eq!(OrderKey::from_fix(&msg, &symbols), None);
    }

    #[test]
    fn symbol_table_learns_updates_and_refuses_when_full() {
        let mut t = SymbolTable::with_capacity(2); // 4 slots, takes 2
        assert!(t.is_empty());
        assert!(t.insert(b"AAPL", 1));
        assert!(t.insert(b"MSFT    ", 2));
        assert!(t.insert(b"AAPL    ", 9)); // update, not a new entry
        assert!(!t.insert(b"IBM", 3));
        assert!(!t.insert(b"   ", 4));
        assert_eq!((t.len(), t.refused()), (2, 2));
        assert_eq!(t.locate(b"AAPL"), Some(9));
        assert_eq!(t.locate(b"MSFT"), Some(2));
        assert_eq!(t.locate(b"IBM"), None);
        assert_eq!(t.locate(b""), None);
        // ITCH 5.0 Stock Directory 'R' (section 1.2.1) teaches a locate.
        let mut t = SymbolTable::with_capacity(8);
        let dir = StockDirectory::new(
            12, 0, 0, b"ZVZZT", b'Q', b'N', 100, b'N', b'C', b"Z", b'P', b'N', b'N', b'1', b'N', 0,
            b'N',
        );
        let msg = itch50::parse(dir.as_bytes()).unwrap();
        assert!(t.observe_itch(&msg));
        assert_eq!(t.locate(b"ZVZZT"), Some(12));
    }

    proptest! {
        #[test]
        fn symbol_table_agrees_with_a_map(
            entries in proptest::collection::vec((proptest::array::uniform4(b'A'..=b'Z'), any::<u16>()), 0..200)
        ) {
            let mut t = SymbolTable::with_capacity(256);
            let mut model = std::collections::HashMap::new();
            for (sym, locate) in &entries {
                prop_assert!(t.insert(sym, *locate));
                model.insert(*sym, *locate);
            }
            prop_assert_eq!(t.len(), model.len());
            for (sym, locate) in &model {
                prop_assert_eq!(t.locate(sym), Some(*locate));
            }
        }

        #[test]
        fn lenient_decimal_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Some(v) = parse_lenient_decimal(&bytes) {
                prop_assert_eq!(parse_lenient_decimal(v.to_string().as_bytes()), Some(v));
            }
        }
    }
}
