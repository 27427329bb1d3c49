//! Writes the fuzz targets' seed corpora, `fuzz/seeds/<target>/`, from ticklab's own
//! builders: every ITCH 5.0 message type, MoldUDP64 data / heartbeat / end of
//! session / request packets, SoupBinTCP streams of every packet type, every OUCH
//! 4.2 and 5.0 message (5.0 with appendages), FIX 4.2 / 4.4 messages of each type
//! we build, Ethernet / 802.1Q / Linux cooked / raw IPv4 frames, and small pcap and
//! pcapng captures (one with two interfaces and direction flags, one holding OUCH
//! and FIX TCP sessions).
//!
//! The output depends on nothing but this file and the builders: run it twice and
//! the bytes are the same, so the committed seeds can be checked for staleness.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds            # rewrite fuzz/seeds
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds -- --check # exit 1 if stale
//! ```
//! Either form takes an optional directory instead of `fuzz/seeds`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ticklab::capture::{Direction, InterfaceDescription, LinkType, PcapWriter, PcapngWriter};
use ticklab::feed::frames::{default_endpoints, FrameSource};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
use ticklab::proto::fix::{self, Decimal, FixBuilder, Header};
use ticklab::proto::{itch50, moldudp64, ouch42, ouch50, soupbintcp};
use ticklab::wire::{MacAddr, TcpEndpoints, TcpFlags, TcpFrameTemplate, UdpFrameTemplate, VlanTag};

/// Seed files by path relative to the seeds directory.
#[derive(Default)]
struct Seeds(BTreeMap<String, Vec<u8>>);

impl Seeds {
    fn add(&mut self, target: &str, name: &str, bytes: Vec<u8>) {
        let path = format!("{target}/{name}");
        assert!(
            self.0.insert(path.clone(), bytes).is_none(),
            "seed {path} made twice"
        );
    }
}

/// 09:30:00.000001234, a timestamp inside market hours.
const T0: u64 = 34_200_000_001_234;
/// 2026-01-05 00:00 UTC in ns, the synthetic feed's trading date, for captures.
const EPOCH_NS: i64 = 1_767_571_200_000_000_000;

fn itch(seeds: &mut Seeds) -> Vec<(u8, Vec<u8>)> {
    use itch50::*;
    fn bytes<M: zerocopy_free::Wire>(m: &M) -> Vec<u8> {
        m.wire()
    }
    // One of every message type in the specification, with plausible values.
    let messages: Vec<Vec<u8>> = vec![
        bytes(&SystemEvent::new(0, 1, T0, b'Q')),
        bytes(&StockDirectory::new(
            7, 2, T0, b"AAPL", b'Q', b'N', 100, b'N', b'C', b"Z", b'P', b'N', b' ', b'1', b'N', 0,
            b'N',
        )),
        bytes(&StockTradingAction::new(7, 3, T0, b"AAPL", b'T', b"")),
        bytes(&RegShoRestriction::new(7, 4, T0, b"AAPL", b'0')),
        bytes(&MarketParticipantPosition::new(
            7, 5, T0, b"GSCO", b"AAPL", b'Y', b'N', b'A',
        )),
        bytes(&MwcbDeclineLevel::new(
            0,
            6,
            T0,
            3_000_000_000_000,
            2_000_000_000_000,
            1_000_000_000_000,
        )),
        bytes(&MwcbStatus::new(0, 7, T0, b'1')),
        bytes(&IpoQuotingPeriodUpdate::new(
            9, 8, T0, b"NEWCO", 36_000, b'A', 200_000,
        )),
        bytes(&LuldAuctionCollar::new(
            7, 9, T0, b"AAPL", 1_500_000, 1_650_000, 1_350_000, 1,
        )),
        bytes(&OperationalHalt::new(7, 10, T0, b"AAPL", b'Q', b'H')),
        bytes(&AddOrder::new(7, 11, T0, 42, b'B', 100, b"AAPL", 1_502_500)),
        bytes(&AddOrderMpid::new(
            7, 12, T0, 43, b'S', 200, b"AAPL", 1_503_000, b"GSCO",
        )),
        bytes(&OrderExecuted::new(7, 13, T0, 42, 50, 9_001)),
        bytes(&OrderExecutedWithPrice::new(
            7, 14, T0, 42, 50, 9_002, b'Y', 1_502_400,
        )),
        bytes(&OrderCancel::new(7, 15, T0, 43, 100)),
        bytes(&OrderDelete::new(7, 16, T0, 43)),
        bytes(&OrderReplace::new(7, 17, T0, 42, 44, 300, 1_502_600)),
        bytes(&Trade::new(
            7, 18, T0, 0, b'B', 100, b"AAPL", 1_502_500, 9_003,
        )),
        bytes(&CrossTrade::new(
            7, 19, T0, 10_000, b"AAPL", 1_500_000, 9_004, b'O',
        )),
        bytes(&BrokenTrade::new(7, 20, T0, 9_003)),
        bytes(&NetOrderImbalance::new(
            7, 21, T0, 5_000, 1_000, b'B', b"AAPL", 1_499_000, 1_500_500, 1_500_000, b'O', b'1',
        )),
        bytes(&RetailPriceImprovement::new(7, 22, T0, b"AAPL", b'B')),
        bytes(&DirectListingCapitalRaise::new(
            9,
            23,
            T0,
            b"NEWCO",
            b'Y',
            180_000,
            220_000,
            200_000,
            T0 + 1_000,
            190_000,
            210_000,
        )),
    ];
    let mut out = Vec::new();
    for m in messages {
        let t = m[0];
        assert_eq!(message_len(t), Some(m.len()), "type {}", t as char);
        let name = message_name(t).expect("a known type");
        seeds.add("itch50", &format!("{}-{name}", t as char), m.clone());
        out.push((t, m));
    }
    // Every type the codec knows has a seed.
    for t in 0..=255u8 {
        assert_eq!(
            message_len(t).is_some(),
            out.iter().any(|(u, _)| *u == t),
            "ITCH type {t}"
        );
    }
    out
}

/// The ITCH builders return zerocopy structs; `write_into` turns any of them into
/// bytes without this crate naming zerocopy.
mod zerocopy_free {
    pub trait Wire {
        fn wire(&self) -> Vec<u8>;
    }
    macro_rules! wire {
        ($($t:ident),*) => {$(
            impl Wire for ticklab::proto::itch50::$t {
                fn wire(&self) -> Vec<u8> {
                    let mut buf = [0u8; 64];
                    let n = ticklab::proto::itch50::write_into(self, &mut buf)
                        .expect("64 bytes hold any ITCH message");
                    buf[..n].to_vec()
                }
            }
        )*};
    }
    wire!(
        SystemEvent,
        StockDirectory,
        StockTradingAction,
        RegShoRestriction,
        MarketParticipantPosition,
        MwcbDeclineLevel,
        MwcbStatus,
        IpoQuotingPeriodUpdate,
        LuldAuctionCollar,
        OperationalHalt,
        AddOrder,
        AddOrderMpid,
        OrderExecuted,
        OrderExecutedWithPrice,
        OrderCancel,
        OrderDelete,
        OrderReplace,
        Trade,
        CrossTrade,
        BrokenTrade,
        NetOrderImbalance,
        RetailPriceImprovement,
        DirectListingCapitalRaise
    );
}

fn moldudp(seeds: &mut Seeds, itch_messages: &[(u8, Vec<u8>)]) {
    const SESSION: &[u8; 10] = b"TICKLAB001";
    let mut buf = vec![0u8; 1500];
    let mut add =
        |name: &str, n: usize, buf: &[u8]| seeds.add("moldudp64", name, buf[..n].to_vec());

    let n = moldudp64::write_heartbeat(&mut buf, SESSION, 1001).unwrap();
    add("heartbeat", n, &buf);
    let n = moldudp64::write_end_of_session(&mut buf, SESSION, 1024).unwrap();
    add("end-of-session", n, &buf);
    let n = moldudp64::write_request(&mut buf, SESSION, 990, 12).unwrap();
    add("request", n, &buf);

    let mut b = moldudp64::PacketBuilder::new(&mut buf, SESSION, 1000).unwrap();
    b.push(&itch_messages[10].1).unwrap(); // AddOrder
    let n = b.finish();
    add("data-one", n, &buf);

    let mut b = moldudp64::PacketBuilder::new(&mut buf, SESSION, 2000).unwrap();
    for (_, m) in itch_messages.iter().take(12) {
        b.push(m).unwrap();
    }
    let n = b.finish();
    add("data-twelve", n, &buf);

    // An empty block is legal MoldUDP64 (ITCH would refuse it, MoldUDP64 does not).
    let mut b = moldudp64::PacketBuilder::new(&mut buf, SESSION, u64::MAX - 1).unwrap();
    b.push(b"").unwrap();
    b.push(&itch_messages[15].1).unwrap();
    let n = b.finish();
    add("data-empty-block-wrapping-seq", n, &buf);

    // The synthetic feed's first packets, as `ticklab gen` writes them.
    let mut feed = synthetic_feed(3, 30, 600);
    for i in 0..3 {
        let p = feed.next_packet(&mut buf).unwrap();
        add(&format!("synthetic-{i}"), p.len, &buf);
    }
}

fn synthetic_feed(seed: u64, messages: u64, max_payload: usize) -> SyntheticFeed {
    SyntheticFeed::new(SyntheticConfig {
        seed,
        messages: Some(messages),
        max_payload,
        ..SyntheticConfig::default()
    })
    .unwrap()
}

/// SoupBinTCP packets, every type, as (name, wire bytes).
fn soup_packets(ouch_in: &[u8], ouch_out: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    use soupbintcp::*;
    let mut buf = [0u8; 512];
    let mut out = Vec::new();
    let mut put = |name, r: Result<usize, ticklab::proto::Error>, buf: &[u8; 512]| {
        out.push((name, buf[..r.unwrap()].to_vec()));
    };
    put(
        "login-request",
        write_login_request(&mut buf, b"ALICE", b"SECRET", b"", 1),
        &buf,
    );
    put(
        "login-accepted",
        write_login_accepted(&mut buf, b"SESSION042", 1),
        &buf,
    );
    put(
        "login-rejected",
        write_login_rejected(&mut buf, RejectReason::NotAuthorized),
        &buf,
    );
    put("debug", write_debug(&mut buf, b"hello from ticklab"), &buf);
    put(
        "unsequenced-data",
        write_unsequenced_data(&mut buf, ouch_in),
        &buf,
    );
    put(
        "sequenced-data",
        write_sequenced_data(&mut buf, ouch_out),
        &buf,
    );
    put("server-heartbeat", write_server_heartbeat(&mut buf), &buf);
    put("client-heartbeat", write_client_heartbeat(&mut buf), &buf);
    put("end-of-session", write_end_of_session(&mut buf), &buf);
    put("logout-request", write_logout_request(&mut buf), &buf);
    let unknown = Packet::Unknown {
        type_byte: b'x',
        payload: b"future",
    };
    put("unknown-type", unknown.write(&mut buf), &buf);
    out
}

fn soup(seeds: &mut Seeds, packets: &[(&'static str, Vec<u8>)]) {
    // The soupbintcp target's first byte picks where the incremental reader cuts
    // the stream (and its chunk size); vary it across seeds.
    for (i, (name, wire)) in packets.iter().enumerate() {
        let mut seed = vec![(i * 37 % 256) as u8];
        seed.extend_from_slice(wire);
        seeds.add("soupbintcp", name, seed);
    }
    let client = [
        "login-request",
        "unsequenced-data",
        "client-heartbeat",
        "logout-request",
    ];
    let server = [
        "login-accepted",
        "sequenced-data",
        "server-heartbeat",
        "debug",
        "end-of-session",
    ];
    for (name, cut, parts) in [
        ("stream-client", 0x80u8, &client[..]),
        ("stream-server", 0x55, &server[..]),
    ] {
        let mut seed = vec![cut];
        for part in parts {
            seed.extend_from_slice(&packets.iter().find(|(n, _)| n == part).unwrap().1);
        }
        seeds.add("soupbintcp", name, seed);
    }
    // A stream that ends inside a packet.
    let whole = &packets
        .iter()
        .find(|(n, _)| *n == "sequenced-data")
        .unwrap()
        .1;
    let mut seed = vec![0x10];
    seed.extend_from_slice(&whole[..whole.len() - 3]);
    seeds.add("soupbintcp", "stream-partial", seed);
}

/// Every OUCH 4.2 message; returns one inbound and one outbound message for the
/// TCP session seeds.
fn ouch_42(seeds: &mut Seeds) -> (Vec<u8>, Vec<u8>) {
    use ouch42::*;
    fn wire<T: OuchMessage>(m: &T) -> Vec<u8> {
        let mut buf = [0u8; 128];
        let n = write(m, &mut buf).unwrap();
        buf[..n].to_vec()
    }
    const TOK: &[u8] = b"ORD0000000001";
    let inbound = [
        wire(&EnterOrder::new(
            TOK, b'B', 100, b"AAPL", 1_502_500, 0, b"FIRM", b'Y', b'A', b'N', 0, b'N', b'R',
        )),
        wire(&ReplaceOrder::new(
            TOK,
            b"ORD0000000002",
            200,
            1_502_600,
            0,
            b'Y',
            b'N',
            0,
        )),
        wire(&CancelOrder::new(TOK, 0)),
        wire(&ModifyOrder::new(TOK, b'S', 50)),
        wire(&TradeNow::new(TOK)),
    ];
    let outbound = [
        wire(&SystemEvent::new(T0, b'S')),
        wire(&Accepted::new(
            T0, TOK, b'B', 100, b"AAPL", 1_502_500, 0, b"FIRM", b'Y', 77, b'A', b'N', 0, b'N',
            b'L', b' ',
        )),
        wire(&Replaced::new(
            T0,
            b"ORD0000000002",
            b'B',
            200,
            b"AAPL",
            1_502_600,
            0,
            b"FIRM",
            b'Y',
            78,
            b'A',
            b'N',
            0,
            b'N',
            b'L',
            TOK,
            b' ',
        )),
        wire(&Canceled::new(T0, TOK, 100, b'U')),
        wire(&AiqCanceled::new(T0, TOK, 100, b'Q', 50, 1_502_500, b'm')),
        wire(&Executed::new(T0, TOK, 100, 1_502_500, b'A', 9_001)),
        wire(&BrokenTrade::new(T0, TOK, 9_001, b'E')),
        wire(&ExecutedWithReferencePrice::new(
            T0, TOK, 100, 1_502_500, b'A', 9_002, 1_502_000, b'Q',
        )),
        wire(&TradeCorrection::new(
            T0, TOK, 100, 1_502_400, b'A', 9_001, b'N',
        )),
        wire(&Rejected::new(T0, TOK, b'Y')),
        wire(&CancelPending::new(T0, TOK)),
        wire(&CancelReject::new(T0, TOK)),
        wire(&OrderPriorityUpdate::new(T0, TOK, 1_502_500, b'Y', 77)),
        wire(&OrderModified::new(T0, TOK, b'S', 50)),
        wire(&TradeNowAck::new(T0, TOK)),
    ];
    add_ouch(seeds, "42-in", 0, &inbound, inbound_len);
    add_ouch(seeds, "42-out", 1, &outbound, outbound_len);
    (inbound[0].clone(), outbound[1].clone())
}

/// Every OUCH 5.0 message, those with an appendage carrying options.
fn ouch_50(seeds: &mut Seeds) -> (Vec<u8>, Vec<u8>) {
    use ouch50::*;
    fn wire<T: OuchMessage>(m: &T, options: &[Appendage]) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let n = write(&mut buf, m, options).unwrap();
        buf[..n].to_vec()
    }
    const CL: &[u8] = b"CL00000001";
    let enter_options = [
        Appendage::firm(b"FIRM"),
        Appendage::min_qty(100),
        Appendage::max_floor(50),
        Appendage::peg_offset(-100),
        Appendage::expire_time(3_600),
        Appendage::discretion_price(1_503_000),
        Appendage::route(b"RMOP"),
    ];
    let inbound = [
        wire(
            &EnterOrder::new(
                7, b'B', 100, b"AAPL", 1_502_500, b'0', b'Y', b'A', b'N', b'N', CL,
            ),
            &enter_options,
        ),
        wire(
            &ReplaceOrder::new(7, 8, 200, 1_502_600, b'0', b'Y', b'N', b"CL00000002"),
            &[Appendage::min_qty(10)],
        ),
        wire(&CancelOrder::new(8, 0), &[]),
        wire(
            &ModifyOrder::new(8, b'S', 50),
            &[Appendage::secondary_ord_ref_num(12)],
        ),
        wire(&MassCancelRequest::new(9, b"FIRM", b"AAPL"), &[]),
        wire(&DisableOrderEntry::new(10, b"FIRM"), &[]),
        wire(&EnableOrderEntry::new(11, b"FIRM"), &[]),
        wire(
            &AccountQueryRequest::new(),
            &[Appendage::new(200, b"").unwrap()],
        ),
    ];
    let outbound = [
        wire(&SystemEvent::new(T0, b'S'), &[]),
        wire(
            &OrderAccepted::new(
                T0, 7, b'B', 100, b"AAPL", 1_502_500, b'0', b'Y', 77, b'A', b'N', b'N', b'L', CL,
            ),
            &[
                Appendage::firm(b"FIRM"),
                Appendage::display_quantity(10),
                Appendage::group_id(3),
            ],
        ),
        wire(
            &OrderReplaced::new(
                T0,
                7,
                8,
                b'B',
                200,
                b"AAPL",
                1_502_600,
                b'0',
                b'Y',
                78,
                b'A',
                b'N',
                b'N',
                b'L',
                b"CL00000002",
            ),
            &[
                Appendage::reference_price(1_502_000),
                Appendage::reference_price_type(b'Q'),
            ],
        ),
        wire(&OrderCanceled::new(T0, 8, 200, b'U'), &[]),
        wire(
            &AiqCanceled::new(T0, 8, 100, b'Q', 50, 1_502_500, b'm'),
            &[],
        ),
        wire(
            &OrderExecuted::new(T0, 8, 100, 1_502_500, b'A', 9_001),
            &[Appendage::trade_now(b'Y')],
        ),
        wire(&BrokenTrade::new(T0, 8, 9_001, b'E', CL), &[]),
        wire(
            &TradeCorrection::new(T0, 8, 100, 1_502_400, b'A', 9_001, b'N', CL),
            &[],
        ),
        wire(&OrderRejected::new(T0, 12, 0x0102, CL), &[]),
        wire(&CancelPending::new(T0, 8), &[]),
        wire(&CancelReject::new(T0, 8), &[]),
        wire(&OrderPriorityUpdate::new(T0, 8, 1_502_500, b'Y', 77), &[]),
        wire(&OrderModified::new(T0, 8, b'S', 50), &[]),
        wire(
            &OrderRestated::new(T0, 8, b'R'),
            &[
                Appendage::display_price(1_502_500),
                Appendage::shares_located(b'Y'),
            ],
        ),
        wire(&MassCancelResponse::new(T0, 9, b"FIRM", b"AAPL"), &[]),
        wire(&DisableOrderEntryResponse::new(T0, 10, b"FIRM"), &[]),
        wire(
            &EnableOrderEntryResponse::new(T0, 11, b"FIRM"),
            &[Appendage::handle_inst(b'I')],
        ),
        wire(&AccountQueryResponse::new(T0, 12), &[]),
    ];
    add_ouch(seeds, "50-in", 2, &inbound, inbound_len);
    add_ouch(seeds, "50-out", 3, &outbound, outbound_len);
    (inbound[0].clone(), outbound[1].clone())
}

/// Adds `messages` to the ouch target's seeds behind the `selector` byte the target
/// reads (0/1: 4.2 in/out, 2/3: 5.0 in/out), and checks none of the codec's
/// types was left out.
fn add_ouch(
    seeds: &mut Seeds,
    prefix: &str,
    selector: u8,
    messages: &[Vec<u8>],
    len_of: fn(u8) -> Option<usize>,
) {
    for m in messages {
        let mut seed = vec![selector];
        seed.extend_from_slice(m);
        seeds.add("ouch", &format!("{prefix}-{}", m[0] as char), seed);
    }
    for t in 0..=255u8 {
        assert_eq!(
            len_of(t).is_some(),
            messages.iter().any(|m| m[0] == t),
            "{prefix} type {}",
            t as char
        );
    }
}

/// FIX 4.2 and 4.4 messages of every type the builders write, as (name, bytes).
fn fix_messages() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (version, begin_string) in [("42", "FIX.4.2"), ("44", "FIX.4.4")] {
        let mut seq = 0;
        let mut header = || {
            seq += 1;
            Header {
                begin_string,
                sender_comp_id: b"CORE",
                target_comp_id: b"LAB",
                msg_seq_num: seq,
                sending_time: b"20260105-14:30:00.000",
            }
        };
        let mut buf = [0u8; 512];
        let mut put = |name: &str, r: Result<usize, ticklab::proto::Error>, buf: &[u8; 512]| {
            out.push((format!("{version}-{name}"), buf[..r.unwrap()].to_vec()));
        };
        let order = fix::NewOrderSingle {
            cl_ord_id: b"C1",
            symbol: b"AAPL",
            side: b'1',
            transact_time: b"20260105-14:30:00.000",
            order_qty: 100,
            ord_type: b'2',
            price: Some(Decimal::new(15_025, 2)),
            time_in_force: Some(b'0'),
            account: Some(b"ACC1"),
        };
        put(
            "logon",
            fix::write_logon(&mut buf, &header(), 30, true),
            &buf,
        );
        put(
            "heartbeat",
            fix::write_heartbeat(&mut buf, &header(), None),
            &buf,
        );
        put(
            "heartbeat-reply",
            fix::write_heartbeat(&mut buf, &header(), Some(b"T1")),
            &buf,
        );
        put(
            "test-request",
            fix::write_test_request(&mut buf, &header(), b"T1"),
            &buf,
        );
        put(
            "resend-request",
            fix::write_resend_request(&mut buf, &header(), 2, 0),
            &buf,
        );
        put(
            "reject",
            fix::write_reject(
                &mut buf,
                &header(),
                3,
                Some(44),
                Some(5),
                Some(b"bad price"),
            ),
            &buf,
        );
        put(
            "sequence-reset",
            fix::write_sequence_reset(&mut buf, &header(), 9, true),
            &buf,
        );
        put(
            "logout",
            fix::write_logout(&mut buf, &header(), Some(b"bye")),
            &buf,
        );
        put(
            "new-order-single",
            fix::write_new_order_single(&mut buf, &header(), &order),
            &buf,
        );
        let cancel = fix::OrderCancelRequest {
            orig_cl_ord_id: b"C1",
            cl_ord_id: b"C2",
            symbol: b"AAPL",
            side: b'1',
            transact_time: b"20260105-14:30:01.000",
            order_qty: 100,
        };
        put(
            "order-cancel-request",
            fix::write_order_cancel_request(&mut buf, &header(), &cancel),
            &buf,
        );
        let report = fix::ExecutionReport {
            order_id: b"O1",
            cl_ord_id: Some(b"C1"),
            exec_id: b"E1",
            exec_type: if version == "42" { b'2' } else { b'F' },
            ord_status: b'2',
            symbol: b"AAPL",
            side: b'1',
            order_qty: Some(100),
            last_fill: Some((100, Decimal::new(15_025, 2))),
            leaves_qty: 0,
            cum_qty: 100,
            avg_px: Decimal::new(15_025, 2),
            transact_time: Some(b"20260105-14:30:00.500"),
        };
        put(
            "execution-report",
            fix::write_execution_report(&mut buf, &header(), &report),
            &buf,
        );
        // Data fields may hold SOH; an unknown MsgType is still framed.
        let mut b = FixBuilder::with_header(&mut buf, &header(), b"U1");
        b.field_data(95, 96, b"raw\x01data=with SOH")
            .field(58, b"custom");
        let r = b.finish();
        put("custom-with-raw-data", r, &buf);
    }
    let mut buf = [0u8; 256];
    let mut b = FixBuilder::new(&mut buf, "FIXT.1.1", b"A");
    b.field(49, b"CORE")
        .field(56, b"LAB")
        .field_u64(34, 1)
        .field_u64(98, 0)
        .field_u64(108, 30)
        .field(1137, b"9");
    let n = b.finish().unwrap();
    out.push(("fixt11-logon".into(), buf[..n].to_vec()));
    out
}

fn fix_seeds(seeds: &mut Seeds, messages: &[(String, Vec<u8>)]) {
    for (name, m) in messages {
        seeds.add("fix", name, m.clone());
    }
    // A session's worth in one stream, and a stream that stops mid-message.
    let mut stream: Vec<u8> = messages
        .iter()
        .filter(|(n, _)| n.starts_with("44-"))
        .flat_map(|(_, m)| m.clone())
        .collect();
    seeds.add("fix", "stream-44-session", stream.clone());
    stream.truncate(stream.len() - 5);
    seeds.add("fix", "stream-44-partial", stream);
}

fn tcp_endpoints(client: bool) -> TcpEndpoints {
    let (a, b) = (
        (
            MacAddr([0x02, 0, 0, 0, 0, 0x0a]),
            Ipv4Addr::new(10, 0, 0, 10),
            40_000,
        ),
        (
            MacAddr([0x02, 0, 0, 0, 0, 0x0b]),
            Ipv4Addr::new(10, 0, 0, 20),
            15_000,
        ),
    );
    let ((src_mac, src_ip, src_port), (dst_mac, dst_ip, dst_port)) =
        if client { (a, b) } else { (b, a) };
    TcpEndpoints {
        src_mac,
        dst_mac,
        vlan: None,
        src_ip,
        dst_ip,
        src_port,
        dst_port,
        ttl: 64,
        dscp: 0,
    }
}

/// A TCP connection's frames: SYN, SYN-ACK, then each `(from_client, payload)` as
/// one PSH|ACK segment (split in two when `split` is set, to exercise reassembly).
fn tcp_session(
    port_offset: u16,
    segments: &[(bool, Vec<u8>)],
    split: bool,
) -> Vec<(bool, Vec<u8>)> {
    let mut ends = [tcp_endpoints(true), tcp_endpoints(false)];
    ends[0].src_port += port_offset;
    ends[1].dst_port += port_offset;
    let templates = [
        TcpFrameTemplate::new(&ends[0]),
        TcpFrameTemplate::new(&ends[1]),
    ];
    let mut seq = [1_000u32, 5_000_000u32];
    let mut frames = Vec::new();
    let mut emit =
        |client: bool, payload: &[u8], flags: TcpFlags, seq: &mut [u32; 2], ip_id: u16| {
            let (me, peer) = if client { (0, 1) } else { (1, 0) };
            let t = &templates[me];
            let mut frame = vec![0u8; t.header_len() + payload.len()];
            frame[t.header_len()..].copy_from_slice(payload);
            let ack = if flags.contains(TcpFlags::ACK) {
                seq[peer]
            } else {
                0
            };
            let n = t
                .finish(&mut frame, payload.len(), ip_id, seq[me], ack, flags, 8192)
                .unwrap();
            frame.truncate(n);
            let consumed = payload.len() as u32 + u32::from(flags.contains(TcpFlags::SYN));
            seq[me] = seq[me].wrapping_add(consumed);
            frames.push((client, frame));
        };
    emit(true, &[], TcpFlags::SYN, &mut seq, 1);
    emit(false, &[], TcpFlags::SYN | TcpFlags::ACK, &mut seq, 1);
    for (i, (client, payload)) in segments.iter().enumerate() {
        let id = i as u16 + 2;
        if split && payload.len() > 4 {
            let half = payload.len() / 2;
            emit(*client, &payload[..half], TcpFlags::ACK, &mut seq, id);
            emit(
                *client,
                &payload[half..],
                TcpFlags::PSH | TcpFlags::ACK,
                &mut seq,
                id + 100,
            );
        } else {
            emit(
                *client,
                payload,
                TcpFlags::PSH | TcpFlags::ACK,
                &mut seq,
                id,
            );
        }
    }
    frames
}

/// An Ethernet frame's IPv4 packet behind a Linux cooked (v1) header.
fn linux_sll(ethernet_frame: &[u8], outgoing: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(ethernet_frame.len() + 2);
    f.extend_from_slice(&(if outgoing { 4u16 } else { 0u16 }).to_be_bytes()); // packet type
    f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    f.extend_from_slice(&6u16.to_be_bytes()); // address length
    f.extend_from_slice(&ethernet_frame[6..12]); // the sender's MAC
    f.extend_from_slice(&[0, 0]); // address padding to 8 bytes
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f.extend_from_slice(&ethernet_frame[14..]);
    f
}

fn feed_frames(seed: u64, messages: u64) -> Vec<(i64, Vec<u8>)> {
    let mut source = FrameSource::new(synthetic_feed(seed, messages, 400), &default_endpoints());
    let mut buf = vec![0u8; source.max_frame_len()];
    let mut out = Vec::new();
    while let Some(f) = source.next_frame(&mut buf) {
        out.push((f.timestamp_ns, buf[..f.len].to_vec()));
    }
    out
}

fn frames(seeds: &mut Seeds, udp: &[(i64, Vec<u8>)], tcp: &[(bool, Vec<u8>)]) {
    seeds.add("frames", "eth-ipv4-udp-moldudp64", udp[1].1.clone());
    seeds.add(
        "frames",
        "eth-ipv4-udp-end-of-session",
        udp[udp.len() - 1].1.clone(),
    );
    let mut tagged = default_endpoints();
    tagged.vlan = Some(VlanTag {
        pcp: 5,
        dei: false,
        vid: 100,
    });
    let template = UdpFrameTemplate::new(&tagged, true);
    let payload = &udp[1].1[42..];
    let mut frame = vec![0u8; template.header_len() + payload.len()];
    frame[template.header_len()..].copy_from_slice(payload);
    let n = template.finish(&mut frame, payload.len(), 7).unwrap();
    seeds.add("frames", "eth-vlan-ipv4-udp", frame[..n].to_vec());
    seeds.add("frames", "eth-ipv4-tcp-syn", tcp[0].1.clone());
    seeds.add("frames", "eth-ipv4-tcp-data", tcp[2].1.clone());
    seeds.add("frames", "linux-sll-ipv4-udp", linux_sll(&udp[1].1, false));
    seeds.add("frames", "linux-sll-ipv4-tcp", linux_sll(&tcp[2].1, true));
    seeds.add("frames", "raw-ipv4-udp", udp[1].1[14..].to_vec());
}

/// The tap's inputs: a feed datagram leaving, the order session's SYN and first
/// data segment, and an order stream of segments and lookups.
fn tap(seeds: &mut Seeds, udp: &[(i64, Vec<u8>)], tcp: &[(bool, Vec<u8>)]) {
    seeds.add("tap", "eth-ipv4-udp-moldudp64", udp[1].1.clone());
    seeds.add("tap", "eth-ipv4-tcp-syn", tcp[0].1.clone());
    seeds.add("tap", "eth-ipv4-tcp-data", tcp[2].1.clone());
    let mut stream = Vec::new();
    let mut record = |word: u32, syn: bool, len: u16, lookup: bool| {
        stream.extend_from_slice(&word.to_be_bytes());
        stream.push(u8::from(syn));
        stream.extend_from_slice(&len.to_be_bytes());
        stream.push(if lookup { 0x80 } else { 0 });
    };
    record(0xffff_fff0, true, 0, false);
    record(0xffff_fff1, false, 10, false);
    record(0xffff_fffb, false, 10, false);
    record(10, false, 0, true);
    record(20, false, 0, true);
    record(0xffff_fffb, false, 10, false);
    record(21, false, 0, true);
    seeds.add("tap", "order-stream-wrapping", stream);
}

/// Feed frames with each vendor's timestamp trailer appended, with and without the
/// frame's original FCS kept after it, and with Metamako extensions.
fn trailers(seeds: &mut Seeds, udp: &[(i64, Vec<u8>)]) {
    use ticklab::capture::trailer::{
        metamako_extension_word, metamako_flags, ExablazeTrailer, MetamakoTrailer,
    };
    let frame = &udp[1].1;
    let plain = MetamakoTrailer {
        original_fcs: 0xdead_beef,
        extensions: &[],
        seconds: 1_767_623_400,
        nanoseconds: 123_456_789,
        flags: 0,
        device_id: 0x0102,
        port_id: 7,
    };
    let mut f = frame.clone();
    plain.append_to(&mut f);
    seeds.add("trailers", "metamako", f.clone());
    f.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
    seeds.add("trailers", "metamako-with-fcs", f);
    // A sequence number (tag 0), then the sub-nanosecond tag (1), the last one.
    let mut ext = Vec::new();
    ext.extend_from_slice(&metamako_extension_word(1, 0x80_0000, 0, true));
    ext.extend_from_slice(&metamako_extension_word(0, 4217, 0, false));
    let with_ext = MetamakoTrailer {
        extensions: &ext,
        flags: metamako_flags::HAS_EXTENSIONS,
        ..plain
    };
    let mut f = frame.clone();
    with_ext.append_to(&mut f);
    seeds.add("trailers", "metamako-extensions", f);
    let exablaze = ExablazeTrailer {
        original_fcs: 0xcafe_f00d,
        device_id: 3,
        port_id: 9,
        seconds: 1_767_623_400,
        fraction: ExablazeTrailer::fraction_for_nanos(123_456_789),
        reserved: 0,
    };
    let mut f = frame.clone();
    f.extend_from_slice(&exablaze.to_bytes());
    seeds.add("trailers", "exablaze", f);
}

fn pcap(seeds: &mut Seeds, udp: &[(i64, Vec<u8>)], tcp: &[(bool, Vec<u8>)]) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 0).unwrap();
    for (ts, f) in udp {
        w.write_packet(*ts, f, f.len() as u32).unwrap();
    }
    seeds.add("pcap", "feed-ethernet.pcap", w.finish().unwrap());

    let mut w = PcapWriter::new(Vec::new(), LinkType::LINUX_SLL, 0).unwrap();
    for (i, (client, f)) in tcp.iter().enumerate() {
        let ts = EPOCH_NS + 34_200_000_000_000 + i as i64 * 1_000;
        let f = linux_sll(f, *client);
        w.write_packet(ts, &f, f.len() as u32).unwrap();
    }
    seeds.add("pcap", "session-linux-sll.pcap", w.finish().unwrap());

    // A snap length shorter than the frames: every record truncated.
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 60).unwrap();
    for (ts, f) in udp.iter().take(3) {
        w.write_packet(*ts, f, f.len() as u32).unwrap();
    }
    seeds.add("pcap", "feed-snaplen-60.pcap", w.finish().unwrap());
}

fn pcapng(seeds: &mut Seeds, udp: &[(i64, Vec<u8>)], sessions: &[(bool, Vec<u8>)]) {
    let eth = |name: &str| InterfaceDescription {
        link_type: LinkType::ETHERNET,
        snap_len: 0,
        name: Some(name.into()),
    };
    let mut w = PcapngWriter::new(Vec::new(), &[eth("feed0")]).unwrap();
    for (ts, f) in udp {
        w.write_packet(0, *ts, f, f.len() as u32, None).unwrap();
    }
    seeds.add("pcapng", "feed.pcapng", w.finish().unwrap());

    // Two interfaces (Ethernet feed, Linux cooked order sessions) with directions.
    let interfaces = [
        eth("feed0"),
        InterfaceDescription {
            link_type: LinkType::LINUX_SLL,
            snap_len: 0,
            name: Some("any".into()),
        },
    ];
    let mut w = PcapngWriter::new(Vec::new(), &interfaces).unwrap();
    let mut udp_iter = udp.iter();
    for (i, (client, f)) in sessions.iter().enumerate() {
        let ts = EPOCH_NS + 34_200_000_000_000 + i as i64 * 1_000;
        if let Some((uts, uf)) = udp_iter.next() {
            w.write_packet(0, *uts, uf, uf.len() as u32, Some(Direction::Inbound))
                .unwrap();
        }
        let direction = if *client {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let f = linux_sll(f, *client);
        w.write_packet(1, ts, &f, f.len() as u32, Some(direction))
            .unwrap();
    }
    seeds.add(
        "pcapng",
        "two-interfaces-directions.pcapng",
        w.finish().unwrap(),
    );

    // The order sessions on Ethernet, one interface, no direction flags.
    let mut w = PcapngWriter::new(Vec::new(), &[eth("orders0")]).unwrap();
    for (i, (_, f)) in sessions.iter().enumerate() {
        let ts = EPOCH_NS + 34_200_000_000_000 + i as i64 * 1_000;
        w.write_packet(0, ts, f, f.len() as u32, None).unwrap();
    }
    seeds.add("pcapng", "ouch-fix-sessions.pcapng", w.finish().unwrap());
}

fn make_all() -> Seeds {
    let mut seeds = Seeds::default();
    let itch_messages = itch(&mut seeds);
    moldudp(&mut seeds, &itch_messages);
    let (in42, out42) = ouch_42(&mut seeds);
    let (in50, out50) = ouch_50(&mut seeds);
    let soup42 = soup_packets(&in42, &out42);
    soup(&mut seeds, &soup42);
    let fix_msgs = fix_messages();
    fix_seeds(&mut seeds, &fix_msgs);

    // Order sessions over TCP: SoupBinTCP with OUCH 4.2, SoupBinTCP with OUCH 5.0
    // (segments split to exercise reassembly), and FIX 4.4.
    let soup_session = |packets: &[(&'static str, Vec<u8>)]| -> Vec<(bool, Vec<u8>)> {
        let get = |n: &str| packets.iter().find(|(p, _)| *p == n).unwrap().1.clone();
        vec![
            (true, get("login-request")),
            (false, get("login-accepted")),
            (true, get("unsequenced-data")),
            (false, get("sequenced-data")),
            (false, get("server-heartbeat")),
            (true, get("logout-request")),
        ]
    };
    let soup50 = soup_packets(&in50, &out50);
    let fix_session: Vec<(bool, Vec<u8>)> = [
        ("44-logon", true),
        ("44-new-order-single", true),
        ("44-execution-report", false),
        ("44-logout", true),
    ]
    .iter()
    .map(|(n, from_client)| {
        (
            *from_client,
            fix_msgs.iter().find(|(m, _)| m == n).unwrap().1.clone(),
        )
    })
    .collect();
    let mut sessions = tcp_session(0, &soup_session(&soup42), false);
    sessions.extend(tcp_session(1, &soup_session(&soup50), true));
    sessions.extend(tcp_session(2, &fix_session, false));

    let udp = feed_frames(5, 40);
    frames(&mut seeds, &udp, &sessions);
    tap(&mut seeds, &udp, &sessions);
    trailers(&mut seeds, &udp);
    pcap(&mut seeds, &udp, &sessions);
    pcapng(&mut seeds, &udp, &sessions);
    seeds
}

fn existing_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Ok(targets) = std::fs::read_dir(dir) else {
        return out;
    };
    for target in targets.flatten() {
        if !target.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(target.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let rel = format!(
                "{}/{}",
                target.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            out.insert(rel, file.path());
        }
    }
    out
}

fn main() {
    let mut check = false;
    let mut dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds"));
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                eprintln!(
                    "usage: make_seeds [--check] [SEEDS_DIR]   (default {})",
                    dir.display()
                );
                return;
            }
            _ => dir = PathBuf::from(arg),
        }
    }
    let seeds = make_all();
    let existing = existing_files(&dir);
    let total: usize = seeds.0.values().map(Vec::len).sum();

    if check {
        let mut stale = Vec::new();
        for (rel, bytes) in &seeds.0 {
            match existing.get(rel).map(std::fs::read) {
                Some(Ok(on_disk)) if on_disk == *bytes => {}
                Some(_) => stale.push(format!("differs: {rel}")),
                None => stale.push(format!("missing: {rel}")),
            }
        }
        for rel in existing.keys().filter(|r| !seeds.0.contains_key(*r)) {
            stale.push(format!("not made by make_seeds: {rel}"));
        }
        if !stale.is_empty() {
            for s in &stale {
                eprintln!("make_seeds: {s}");
            }
            eprintln!(
                "make_seeds: {} is stale; regenerate with: cargo run --manifest-path fuzz/Cargo.toml --example make_seeds",
                dir.display()
            );
            std::process::exit(1);
        }
        eprintln!(
            "make_seeds: {} seeds ({total} bytes) up to date",
            seeds.0.len()
        );
        return;
    }

    for (rel, path) in &existing {
        if !seeds.0.contains_key(rel) {
            std::fs::remove_file(path)
                .unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
        }
    }
    for (rel, bytes) in &seeds.0 {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    eprintln!(
        "make_seeds: wrote {} seeds ({total} bytes) to {}",
        seeds.0.len(),
        dir.display()
    );
}
