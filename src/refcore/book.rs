//! Top of book per symbol, built from ITCH 5.0 order messages.
//!
//! [`Book::apply`] takes one decoded message and keeps, for each traded symbol, the
//! live orders (by Order Reference Number) and the aggregate shares at each price on
//! each side. Best bid is the highest buy price with shares, best ask the lowest sell
//! price. Stock Directory `'R'` maps a locate code to its symbol; Add `'A'`/`'F'`,
//! Executed `'E'`/`'C'`, Cancel `'X'`, Delete `'D'` and Replace `'U'` change the book.
//! Trades `'P'`/`'Q'` are against non-displayed or crossed interest and change nothing.
//! Each book-changing message touches one side of one symbol, and comes back as a
//! [`BookEvent`] with that side's best price before and after, which is all the
//! trigger rule needs.
//!
//! It must never panic on a feed that is wrong (an execution of an unknown order, more
//! shares executed than the order has, a duplicate reference): such messages are
//! counted in [`BookStats`] and change nothing, or are clamped.
//!
//! Allocation: [`Book::new`] sizes the order map (`order_capacity`), the locate table
//! (all 65536 codes) and, for as many symbols as it expects (the traded list, or 64
//! when every symbol is traded), both sides' level vectors (`level_capacity`), kept
//! ready for the symbols' directory messages. After that nothing allocates unless the
//! feed outgrows a capacity: a `HashMap` insert beyond its capacity rehashes into a
//! larger table, a side with more price levels than `level_capacity` grows its vector,
//! and a symbol beyond the expected count makes its level vectors then. Size the
//! capacities for the feed and none of that happens on the hot path.
//!
//! Levels are a vector sorted so that the best price is the last element (bids
//! ascending, asks descending), so the changes that matter most (at or near the top)
//! move few elements and reading the best is one load.
//!
//! ```
//! use ticklab::proto::itch50::{self, AddOrder, OrderDelete};
//! use ticklab::refcore::book::{Book, BookConfig, Side};
//! let mut book = Book::new(&BookConfig::default());
//! let add = AddOrder::new(1, 0, 0, 7, b'B', 100, b"AAPL", 1_500_000);
//! let ev = book.apply(&itch50::Message::AddOrder(&add)).unwrap();
//! assert_eq!((ev.side, ev.best_before, ev.best_after), (Side::Buy, None, Some(1_500_000)));
//! let del = OrderDelete::new(1, 0, 0, 7);
//! let ev = book.apply(&itch50::Message::OrderDelete(&del)).unwrap();
//! assert_eq!(ev.best_after, None);
//! ```

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::proto::itch50::Message;

/// A side of the book, or of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// ITCH Buy/Sell Indicator: `'B'` or `'S'`; anything else is `None`.
    pub fn from_indicator(b: u8) -> Option<Side> {
        match b {
            b'B' => Some(Side::Buy),
            b'S' => Some(Side::Sell),
            _ => None,
        }
    }

    /// `'B'` or `'S'`, as ITCH and OUCH write it.
    pub fn indicator(self) -> u8 {
        match self {
            Side::Buy => b'B',
            Side::Sell => b'S',
        }
    }

    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// How to size a [`Book`] and which symbols it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookConfig {
    /// Symbols to keep a book for, space padded to 8 bytes as ITCH writes them; empty
    /// means every symbol on the feed.
    pub symbols: Vec<[u8; 8]>,
    /// Live orders the order map holds before it has to grow.
    pub order_capacity: usize,
    /// Price levels per side per symbol before a side's vector has to grow.
    pub level_capacity: usize,
}

impl Default for BookConfig {
    fn default() -> Self {
        BookConfig {
            symbols: Vec::new(),
            order_capacity: 1 << 18,
            level_capacity: 256,
        }
    }
}

/// Which kind of message changed the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Add Order `'A'` or `'F'`.
    Add,
    /// Order Executed `'E'` or Order Executed with Price `'C'`.
    Execute,
    /// Order Cancel `'X'` (partial).
    Cancel,
    /// Order Delete `'D'`.
    Delete,
    /// Order Replace `'U'`.
    Replace,
}

/// What one message did to a traded symbol's book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookEvent {
    pub locate: u16,
    /// The symbol, space padded (blank if neither a directory nor an add named it).
    pub stock: [u8; 8],
    /// The side of the book the message changed.
    pub side: Side,
    pub kind: EventKind,
    /// Price(4) of the order acted on; for a Replace, the new order's price.
    pub price: u32,
    /// Best price on `side` before the message (`None`: the side was empty).
    pub best_before: Option<u32>,
    /// Best price on `side` after the message.
    pub best_after: Option<u32>,
}

impl BookEvent {
    /// True when the message moved the best price on its side (including a side
    /// becoming empty or non-empty).
    pub fn best_changed(&self) -> bool {
        self.best_before != self.best_after
    }
}

/// Messages the book could not apply, by reason. None of them changes the book.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Messages that changed a book.
    pub applied: u64,
    /// Executions, cancels, deletes and replaces of a traded symbol whose order is
    /// not in the book (joined late, or a gap).
    pub unknown_orders: u64,
    /// Adds (or a Replace's new order) whose reference is already live.
    pub duplicate_orders: u64,
    /// Adds whose Buy/Sell Indicator is neither `'B'` nor `'S'`.
    pub invalid_side: u64,
}

/// One side's best price and the shares there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// Price(4).
    pub price: u32,
    pub shares: u64,
}

/// Best bid and best ask of one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopOfBook {
    pub bid: Option<Quote>,
    pub ask: Option<Quote>,
}

/// Multiplicative hashing for order reference numbers: they are mostly sequential,
/// which SipHash would handle too but slowly; multiplying by an odd constant is a
/// bijection on the low bits (no bucket collisions for a run of references) and
/// mixes the high bits hashbrown uses for its control bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderRefHasher(u64);

const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for OrderRefHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(FIBONACCI);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type OrderMap = HashMap<u64, RestingOrder, BuildHasherDefault<OrderRefHasher>>;

#[derive(Debug, Clone, Copy)]
struct RestingOrder {
    slot: u32,
    side: Side,
    price: u32,
    shares: u32,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    /// The price mapped so that a larger key is a better price (see [`level_key`]).
    key: u32,
    shares: u64,
}

/// Bids keep the price, asks its complement: on both sides a larger key is better.
fn level_key(side: Side, price: u32) -> u32 {
    match side {
        Side::Buy => price,
        Side::Sell => !price,
    }
}

#[derive(Debug)]
struct Levels {
    side: Side,
    /// Sorted by ascending key: the best level is last.
    levels: Vec<Level>,
}

impl Levels {
    fn new(side: Side, capacity: usize) -> Self {
        Levels {
            side,
            levels: Vec::with_capacity(capacity),
        }
    }

    fn best(&self) -> Option<Quote> {
        self.levels.last().map(|l| Quote {
            price: level_key(self.side, l.key),
            shares: l.shares,
        })
    }

    fn best_price(&self) -> Option<u32> {
        self.levels.last().map(|l| level_key(self.side, l.key))
    }

    /// Binary search from the top: `Ok(i)` where the level is, `Err(i)` where it
    /// would go.
    fn find(&self, price: u32) -> Result<usize, usize> {
        let key = level_key(self.side, price);
        self.levels.binary_search_by(|l| l.key.cmp(&key))
    }

    fn add(&mut self, price: u32, shares: u32) {
        match self.find(price) {
            Ok(i) => self.levels[i].shares += u64::from(shares),
            Err(i) => self.levels.insert(
                i,
                Level {
                    key: level_key(self.side, price),
                    shares: u64::from(shares),
                },
            ),
        }
    }

    fn remove(&mut self, price: u32, shares: u32) {
        if let Ok(i) = self.find(price) {
            let level = &mut self.levels[i];
            level.shares = level.shares.saturating_sub(u64::from(shares));
            if level.shares == 0 {
                self.levels.remove(i);
            }
        }
    }

    fn shares_at(&self, price: u32) -> u64 {
        self.find(price).map_or(0, |i| self.levels[i].shares)
    }

    fn len(&self) -> usize {
        self.levels.len()
    }
}

#[derive(Debug)]
struct SymbolBook {
    stock: [u8; 8],
    locate: u16,
    bids: Levels,
    asks: Levels,
}

impl SymbolBook {
    fn side(&self, side: Side) -> &Levels {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut Levels {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

/// `locate_slot` value of a locate never seen.
const UNSEEN: u32 = 0;
/// `locate_slot` value of a locate whose symbol is not traded.
const NOT_TRADED: u32 = u32::MAX;

/// Books for the traded symbols. See the module documentation.
#[derive(Debug)]
pub struct Book {
    /// Per locate code: [`UNSEEN`], [`NOT_TRADED`], or the index of its book plus 1.
    locate_slot: Vec<u32>,
    books: Vec<SymbolBook>,
    orders: OrderMap,
    filter: Vec<[u8; 8]>,
    level_capacity: usize,
    /// Level vectors made in `new` for the symbols still to come.
    spare_sides: Vec<(Levels, Levels)>,
    stats: BookStats,
}

impl Book {
    /// An empty book, with every capacity allocated now.
    pub fn new(cfg: &BookConfig) -> Self {
        let symbol_capacity = if cfg.symbols.is_empty() {
            64
        } else {
            cfg.symbols.len()
        };
        Book {
            locate_slot: vec![UNSEEN; usize::from(u16::MAX) + 1],
            books: Vec::with_capacity(symbol_capacity),
            orders: OrderMap::with_capacity_and_hasher(cfg.order_capacity, Default::default()),
            filter: cfg.symbols.clone(),
            level_capacity: cfg.level_capacity,
            spare_sides: (0..symbol_capacity)
                .map(|_| {
                    (
                        Levels::new(Side::Buy, cfg.level_capacity),
                        Levels::new(Side::Sell, cfg.level_capacity),
                    )
                })
                .collect(),
            stats: BookStats::default(),
        }
    }

    /// Counts of what was applied and what was not.
    pub fn stats(&self) -> BookStats {
        self.stats
    }

    /// Live orders across every traded symbol.
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// True when the book keeps this symbol (space padded to 8 bytes).
    pub fn is_traded_symbol(&self, stock: &[u8; 8]) -> bool {
        self.filter.is_empty() || self.filter.contains(stock)
    }

    /// The symbol a locate code is traded as, if it is.
    pub fn symbol(&self, locate: u16) -> Option<[u8; 8]> {
        self.book(locate).map(|b| b.stock)
    }

    /// Best bid and ask of a traded locate.
    pub fn top(&self, locate: u16) -> Option<TopOfBook> {
        self.book(locate).map(|b| TopOfBook {
            bid: b.bids.best(),
            ask: b.asks.best(),
        })
    }

    /// Aggregate shares resting at `price` on `side` (0 if none or not traded).
    pub fn shares_at(&self, locate: u16, side: Side, price: u32) -> u64 {
        self.book(locate)
            .map_or(0, |b| b.side(side).shares_at(price))
    }

    /// Number of price levels on `side`.
    pub fn level_count(&self, locate: u16, side: Side) -> usize {
        self.book(locate).map_or(0, |b| b.side(side).len())
    }

    fn book(&self, locate: u16) -> Option<&SymbolBook> {
        match self.locate_slot[usize::from(locate)] {
            UNSEEN | NOT_TRADED => None,
            slot => self.books.get(slot as usize - 1),
        }
    }

    /// The book slot of a locate already known to be traded.
    fn traded_slot(&self, locate: u16) -> Option<u32> {
        match self.locate_slot[usize::from(locate)] {
            UNSEEN | NOT_TRADED => None,
            slot => Some(slot),
        }
    }

    /// Decides (once per locate, or again on a new directory entry) whether `stock`
    /// is traded, making its book if so.
    fn assign(&mut self, locate: u16, stock: [u8; 8]) -> Option<u32> {
        if let Some(slot) = self.traded_slot(locate) {
            if self.books[slot as usize - 1].stock == stock {
                return Some(slot);
            }
        }
        if !self.is_traded_symbol(&stock) {
            self.locate_slot[usize::from(locate)] = NOT_TRADED;
            return None;
        }
        let (bids, asks) = self.spare_sides.pop().unwrap_or_else(|| {
            (
                Levels::new(Side::Buy, self.level_capacity),
                Levels::new(Side::Sell, self.level_capacity),
            )
        });
        self.books.push(SymbolBook {
            stock,
            locate,
            bids,
            asks,
        });
        // At most one book per locate code is live in the table; 65536 fit in u32.
        let slot = self.books.len() as u32;
        self.locate_slot[usize::from(locate)] = slot;
        Some(slot)
    }

    /// Applies one message. `Some` when it changed a traded symbol's book.
    pub fn apply(&mut self, msg: &Message<'_>) -> Option<BookEvent> {
        match *msg {
            Message::StockDirectory(m) => {
                self.assign(m.stock_locate.get(), m.stock);
                None
            }
            Message::AddOrder(m) => self.add(
                m.stock_locate.get(),
                m.order_reference_number.get(),
                m.buy_sell_indicator,
                m.shares.get(),
                m.stock,
                m.price.get(),
            ),
            Message::AddOrderMpid(m) => self.add(
                m.stock_locate.get(),
                m.order_reference_number.get(),
                m.buy_sell_indicator,
                m.shares.get(),
                m.stock,
                m.price.get(),
            ),
            Message::OrderExecuted(m) => self.reduce(
                m.stock_locate.get(),
                m.order_reference_number.get(),
                m.executed_shares.get(),
                EventKind::Execute,
            ),
            Message::OrderExecutedWithPrice(m) => self.reduce(
                m.stock_locate.get(),
                m.order_reference_number.get(),
                m.executed_shares.get(),
                EventKind::Execute,
            ),
            Message::OrderCancel(m) => self.reduce(
                m.stock_locate.get(),
                m.order_reference_number.get(),
                m.cancelled_shares.get(),
                EventKind::Cancel,
            ),
            Message::OrderDelete(m) => self.reduce(
                m.stock_locate.get(),
                m.order_reference_number.get(),
                u32::MAX,
                EventKind::Delete,
            ),
            Message::OrderReplace(m) => self.replace(
                m.stock_locate.get(),
                m.original_order_reference_number.get(),
                m.new_order_reference_number.get(),
                m.shares.get(),
                m.price.get(),
            ),
            _ => None,
        }
    }

    fn event(
        &mut self,
        slot: u32,
        side: Side,
        kind: EventKind,
        price: u32,
        best_before: Option<u32>,
    ) -> Option<BookEvent> {
        let book = &self.books[slot as usize - 1];
        self.stats.applied += 1;
        Some(BookEvent {
            locate: book.locate,
            stock: book.stock,
            side,
            kind,
            price,
            best_before,
            best_after: book.side(side).best_price(),
        })
    }

    fn add(
        &mut self,
        locate: u16,
        order_ref: u64,
        indicator: u8,
        shares: u32,
        stock: [u8; 8],
        price: u32,
    ) -> Option<BookEvent> {
        let slot = match self.locate_slot[usize::from(locate)] {
            NOT_TRADED => return None,
            // No directory entry (joined late, or a feed without one): the add
            // names its symbol, which is as good.
            UNSEEN => self.assign(locate, stock)?,
            slot => slot,
        };
        let Some(side) = Side::from_indicator(indicator) else {
            self.stats.invalid_side += 1;
            return None;
        };
        // A zero-share add rests nothing; NASDAQ never sends one.
        if shares == 0 {
            return None;
        }
        match self.orders.entry(order_ref) {
            Entry::Occupied(_) => {
                self.stats.duplicate_orders += 1;
                return None;
            }
            Entry::Vacant(v) => {
                v.insert(RestingOrder {
                    slot,
                    side,
                    price,
                    shares,
                });
            }
        }
        let levels = self.books[slot as usize - 1].side_mut(side);
        let before = levels.best_price();
        levels.add(price, shares);
        self.event(slot, side, EventKind::Add, price, before)
    }

    /// Takes up to `shares` off a live order (all of it for a Delete), removing the
    /// order when none are left.
    fn reduce(
        &mut self,
        locate: u16,
        order_ref: u64,
        shares: u32,
        kind: EventKind,
    ) -> Option<BookEvent> {
        let slot = self.traded_slot(locate)?;
        let Some(order) = self.orders.get_mut(&order_ref).filter(|o| o.slot == slot) else {
            self.stats.unknown_orders += 1;
            return None;
        };
        let taken = shares.min(order.shares);
        order.shares -= taken;
        let RestingOrder { side, price, .. } = *order;
        if order.shares == 0 {
            self.orders.remove(&order_ref);
        }
        let levels = self.books[slot as usize - 1].side_mut(side);
        let before = levels.best_price();
        levels.remove(price, taken);
        self.event(slot, side, kind, price, before)
    }

    fn replace(
        &mut self,
        locate: u16,
        original_ref: u64,
        new_ref: u64,
        shares: u32,
        price: u32,
    ) -> Option<BookEvent> {
        let slot = self.traded_slot(locate)?;
        let original = match self.orders.get(&original_ref) {
            Some(o) if o.slot == slot => *o,
            _ => {
                self.stats.unknown_orders += 1;
                return None;
            }
        };
        self.orders.remove(&original_ref);
        let side = original.side;
        let before = self.books[slot as usize - 1].side(side).best_price();
        self.books[slot as usize - 1]
            .side_mut(side)
            .remove(original.price, original.shares);
        match self.orders.entry(new_ref) {
            Entry::Occupied(_) => self.stats.duplicate_orders += 1,
            Entry::Vacant(_) if shares == 0 => {}
            Entry::Vacant(v) => {
                v.insert(RestingOrder {
                    slot,
                    side,
                    price,
                    shares,
                });
                self.books[slot as usize - 1]
                    .side_mut(side)
                    .add(price, shares);
            }
        }
        self.event(slot, side, EventKind::Replace, price, before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::itch50::{
        AddOrder, AddOrderMpid, OrderCancel, OrderDelete, OrderExecuted, OrderExecutedWithPrice,
        OrderReplace, StockDirectory, Trade,
    };
    use crate::proto::pad_alpha;

    fn directory(locate: u16, stock: &[u8]) -> StockDirectory {
        StockDirectory::new(
            locate, 0, 0, stock, b'Q', b'N', 100, b'N', b'C', b"Z", b'P', b'N', b' ', b'1', b'N',
            0, b'N',
        )
    }

    fn add(book: &mut Book, r: u64, side: u8, shares: u32, price: u32) -> Option<BookEvent> {
        let m = AddOrder::new(1, 0, 0, r, side, shares, b"AAPL", price);
        book.apply(&Message::AddOrder(&m))
    }

    fn best(book: &Book) -> (Option<u32>, Option<u32>) {
        let t = book.top(1).unwrap();
        (t.bid.map(|q| q.price), t.ask.map(|q| q.price))
    }

    #[test]
    fn levels_aggregate_and_best_is_highest_bid_lowest_ask() {
        let mut book = Book::new(&BookConfig::default());
        add(&mut book, 1, b'B', 100, 1_000_000);
        add(&mut book, 2, b'B', 50, 1_000_100);
        add(&mut book, 3, b'B', 25, 1_000_000);
        add(&mut book, 4, b'S', 10, 1_000_500);
        add(&mut book, 5, b'S', 20, 1_000_300);
        add(&mut book, 6, b'S', 30, 1_000_900);
        assert_eq!(best(&book), (Some(1_000_100), Some(1_000_300)));
        assert_eq!(book.shares_at(1, Side::Buy, 1_000_000), 125);
        assert_eq!(book.level_count(1, Side::Buy), 2);
        assert_eq!(book.level_count(1, Side::Sell), 3);
        let top = book.top(1).unwrap();
        assert_eq!(top.bid.unwrap().shares, 50);
        assert_eq!(top.ask.unwrap().shares, 20);
        assert_eq!(book.order_count(), 6);
    }

    #[test]
    fn add_reports_best_before_and_after() {
        let mut book = Book::new(&BookConfig::default());
        let ev = add(&mut book, 1, b'S', 100, 2_000_000).unwrap();
        assert_eq!(ev.kind, EventKind::Add);
        assert_eq!(ev.side, Side::Sell);
        assert_eq!(ev.stock, *b"AAPL    ");
        assert_eq!((ev.best_before, ev.best_after), (None, Some(2_000_000)));
        // Worse ask: best unchanged.
        let ev = add(&mut book, 2, b'S', 100, 2_000_100).unwrap();
        assert_eq!(
            (ev.best_before, ev.best_after),
            (Some(2_000_000), Some(2_000_000))
        );
        assert!(!ev.best_changed());
        // Better ask.
        let ev = add(&mut book, 3, b'S', 100, 1_999_900).unwrap();
        assert!(ev.best_changed());
        assert_eq!(ev.best_after, Some(1_999_900));
    }

    #[test]
    fn executions_cancels_and_deletes_through_every_type() {
        let mut book = Book::new(&BookConfig::default());
        add(&mut book, 1, b'B', 100, 1_000_000);
        let f = AddOrderMpid::new(1, 0, 0, 2, b'B', 40, b"AAPL", 1_000_100, b"MMKR");
        book.apply(&Message::AddOrderMpid(&f)).unwrap();
        assert_eq!(best(&book), (Some(1_000_100), None));

        // 'E' partial: best stays, shares drop.
        let e = OrderExecuted::new(1, 0, 0, 2, 15, 1);
        let ev = book.apply(&Message::OrderExecuted(&e)).unwrap();
        assert_eq!(ev.kind, EventKind::Execute);
        assert!(!ev.best_changed());
        assert_eq!(book.shares_at(1, Side::Buy, 1_000_100), 25);

        // 'X' partial cancel.
        let x = OrderCancel::new(1, 0, 0, 2, 5);
        let ev = book.apply(&Message::OrderCancel(&x)).unwrap();
        assert_eq!(ev.kind, EventKind::Cancel);
        assert_eq!(book.shares_at(1, Side::Buy, 1_000_100), 20);

        // 'C' executes the rest at another price: the order and its level go, and
        // the best bid falls back to 100.0000.
        let c = OrderExecutedWithPrice::new(1, 0, 0, 2, 20, 2, b'Y', 1_000_200);
        let ev = book.apply(&Message::OrderExecutedWithPrice(&c)).unwrap();
        assert_eq!(
            (ev.best_before, ev.best_after),
            (Some(1_000_100), Some(1_000_000))
        );
        assert_eq!(ev.price, 1_000_100);
        assert_eq!(book.order_count(), 1);
        assert_eq!(book.level_count(1, Side::Buy), 1);

        // The removed order is gone: a further execution of it is unknown.
        let e = OrderExecuted::new(1, 0, 0, 2, 1, 3);
        assert!(book.apply(&Message::OrderExecuted(&e)).is_none());
        assert_eq!(book.stats().unknown_orders, 1);

        // 'D' removes the last order; the side is empty.
        let d = OrderDelete::new(1, 0, 0, 1);
        let ev = book.apply(&Message::OrderDelete(&d)).unwrap();
        assert_eq!(ev.kind, EventKind::Delete);
        assert_eq!((ev.best_before, ev.best_after), (Some(1_000_000), None));
        assert_eq!(best(&book), (None, None));
        assert_eq!(book.order_count(), 0);
        assert_eq!(book.stats().applied, 6);
    }

    #[test]
    fn full_execution_removes_the_order_and_overfill_is_clamped() {
        let mut book = Book::new(&BookConfig::default());
        add(&mut book, 9, b'S', 100, 500_000);
        let e = OrderExecuted::new(1, 0, 0, 9, 250, 1);
        let ev = book.apply(&Message::OrderExecuted(&e)).unwrap();
        assert_eq!(ev.best_after, None);
        assert_eq!(book.order_count(), 0);
        assert_eq!(book.level_count(1, Side::Sell), 0);
    }

    #[test]
    fn replace_moves_price_and_keeps_side() {
        let mut book = Book::new(&BookConfig::default());
        add(&mut book, 1, b'B', 100, 1_000_000);
        add(&mut book, 2, b'B', 100, 990_000);
        let u = OrderReplace::new(1, 0, 0, 1, 3, 70, 1_010_000);
        let ev = book.apply(&Message::OrderReplace(&u)).unwrap();
        assert_eq!(ev.kind, EventKind::Replace);
        assert_eq!(ev.side, Side::Buy);
        assert_eq!(ev.price, 1_010_000);
        assert_eq!(
            (ev.best_before, ev.best_after),
            (Some(1_000_000), Some(1_010_000))
        );
        assert_eq!(book.shares_at(1, Side::Buy, 1_000_000), 0);
        assert_eq!(book.shares_at(1, Side::Buy, 1_010_000), 70);
        // The original reference is dead, the new one live.
        let d = OrderDelete::new(1, 0, 0, 1);
        assert!(book.apply(&Message::OrderDelete(&d)).is_none());
        // Replacing the best down to below the other order moves best to 99.0000.
        let u = OrderReplace::new(1, 0, 0, 3, 4, 70, 980_000);
        let ev = book.apply(&Message::OrderReplace(&u)).unwrap();
        assert_eq!(ev.best_after, Some(990_000));
        assert_eq!(book.order_count(), 2);
    }

    #[test]
    fn symbol_filter_uses_directory_and_add_stock() {
        let cfg = BookConfig {
            symbols: vec![pad_alpha(b"MSFT")],
            ..BookConfig::default()
        };
        let mut book = Book::new(&cfg);
        book.apply(&Message::StockDirectory(&directory(1, b"AAPL")));
        book.apply(&Message::StockDirectory(&directory(2, b"MSFT")));
        assert!(add(&mut book, 1, b'B', 100, 1_000_000).is_none());
        let m = AddOrder::new(2, 0, 0, 2, b'B', 100, b"MSFT", 4_000_000);
        assert!(book.apply(&Message::AddOrder(&m)).is_some());
        assert_eq!(book.symbol(2), Some(*b"MSFT    "));
        assert_eq!(book.symbol(1), None);
        // No directory for locate 3, but the add names a traded symbol.
        let m = AddOrder::new(3, 0, 0, 3, b'S', 100, b"MSFT", 4_000_000);
        assert!(book.apply(&Message::AddOrder(&m)).is_some());
        // Executions of a non-traded symbol are not even looked up.
        let e = OrderExecuted::new(1, 0, 0, 1, 10, 1);
        assert!(book.apply(&Message::OrderExecuted(&e)).is_none());
        assert_eq!(book.stats().unknown_orders, 0);
    }

    #[test]
    fn bad_messages_are_counted_not_applied() {
        let mut book = Book::new(&BookConfig::default());
        assert!(add(&mut book, 1, b'?', 100, 1).is_none());
        assert_eq!(book.stats().invalid_side, 1);
        add(&mut book, 2, b'B', 100, 1_000_000).unwrap();
        assert!(add(&mut book, 2, b'B', 100, 1_000_000).is_none());
        assert_eq!(book.stats().duplicate_orders, 1);
        assert_eq!(book.shares_at(1, Side::Buy, 1_000_000), 100);
        let p = Trade::new(1, 0, 0, 0, b'B', 100, b"AAPL", 1_000_000, 5);
        assert!(book.apply(&Message::Trade(&p)).is_none());
    }
}
