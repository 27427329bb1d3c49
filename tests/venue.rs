//! The order gateway over real TCP on loopback: `venue::server` runs on
//! 127.0.0.1:0 in a thread, and refcore's own sans-IO SoupBinTCP client (the code
//! the `refcore` binary runs) plays the DUT over a real socket, sending the Enter
//! Orders refcore's encoder builds. The client side decodes every answer with our
//! OUCH views.
//!
//! Every wait is bounded by [`DEADLINE`] (a broken gateway fails instead of
//! hanging); no assertion depends on how fast anything ran. Timers are set short
//! (tens of milliseconds) only so heartbeats and timeouts happen within the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ticklab::proto::soupbintcp::{self, RejectReason};
use ticklab::proto::{ouch42, ouch50};
use ticklab::refcore::book::Side;
use ticklab::refcore::order::{sequence_from_token, OrderConfig, OrderEncoder, OuchVersion};
use ticklab::refcore::session::{SessionConfig as ClientConfig, SessionEvent, SoupClient};
use ticklab::refcore::trigger::Trigger;
use ticklab::venue::gateway::GatewayEvent;
use ticklab::venue::responder::{AnswerMode, Outcome, ResponderConfig, REJECT_OTHER_42};
use ticklab::venue::rx_clock::{realtime_ns, KernelRxClock};
use ticklab::venue::server::{
    ClockDomain, MonotonicClock, RunReport, RxClock, ServerConfig, ServerError, ServerEvent,
    StopHandle, VenueServer,
};
use ticklab::venue::session::{CloseReason, SessionConfig};

const DEADLINE: Duration = Duration::from_secs(30);
const MS: u64 = 1_000_000;

/// What the server reported, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Connected,
    LoggedIn(Vec<u8>),
    LoginRejected(RejectReason),
    Order {
        payload: Vec<u8>,
        rx_ns: u64,
        outcome: Outcome,
        /// `CLOCK_REALTIME` when the server reported the order.
        reported_realtime_ns: u64,
    },
    ClientHeartbeat,
    Debug,
    Closed(CloseReason),
}

struct Venue {
    addr: SocketAddr,
    stop: StopHandle,
    seen: Arc<Mutex<Vec<Seen>>>,
    done: mpsc::Receiver<Result<RunReport, ServerError>>,
}

impl Venue {
    fn start(cfg: ServerConfig) -> Venue {
        Venue::start_with_clock(cfg, MonotonicClock::new())
    }

    fn start_with_clock(cfg: ServerConfig, mut clock: impl RxClock + Send + 'static) -> Venue {
        let server = VenueServer::bind(cfg).expect("bind the gateway");
        let addr = server.local_addr();
        let stop = server.stop_handle();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let (tx, done) = mpsc::channel();
        thread::spawn(move || {
            let result = server.run_with_clock(&mut clock, |event| {
                let owned = match event {
                    ServerEvent::Connected { .. } => Seen::Connected,
                    ServerEvent::Closed { reason, .. } => Seen::Closed(reason),
                    ServerEvent::Gateway(GatewayEvent::LoggedIn { username, .. }) => {
                        Seen::LoggedIn(username.to_vec())
                    }
                    ServerEvent::Gateway(GatewayEvent::LoginRejected { reason }) => {
                        Seen::LoginRejected(reason)
                    }
                    ServerEvent::Gateway(GatewayEvent::Order {
                        payload,
                        rx_ns,
                        outcome,
                        ..
                    }) => Seen::Order {
                        payload: payload.to_vec(),
                        rx_ns,
                        outcome,
                        reported_realtime_ns: realtime_ns(),
                    },
                    ServerEvent::Gateway(GatewayEvent::ClientHeartbeat { .. }) => {
                        Seen::ClientHeartbeat
                    }
                    ServerEvent::Gateway(GatewayEvent::Debug { .. }) => Seen::Debug,
                };
                log.lock().unwrap().push(owned);
            });
            let _ = tx.send(result);
        });
        Venue {
            addr,
            stop,
            seen,
            done,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn finish(self) -> (RunReport, Vec<Seen>) {
        let report = self
            .done
            .recv_timeout(DEADLINE)
            .expect("the gateway returns in time")
            .expect("the gateway ran a session");
        let seen = self.seen.lock().unwrap().clone();
        (report, seen)
    }
}

fn server_config(mode: AnswerMode, version: OuchVersion) -> ServerConfig {
    let mut cfg = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        SessionConfig::new("TKLB", "SECRET"),
        ResponderConfig {
            version,
            ..ResponderConfig::new(mode)
        },
    );
    cfg.accept_timeout = DEADLINE;
    cfg
}

/// What the DUT's client saw, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    LoginAccepted(u64),
    LoginRejected(RejectReason),
    Sequenced(u64, Vec<u8>),
    EndOfSession,
}

/// The DUT: refcore's SoupBinTCP client over a real socket.
struct Dut {
    stream: TcpStream,
    client: SoupClient,
    origin: Instant,
    heard: Vec<Heard>,
    eof: bool,
}

impl Dut {
    fn connect(addr: SocketAddr, cfg: ClientConfig) -> Dut {
        let stream = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let mut dut = Dut {
            stream,
            client: SoupClient::new(cfg).unwrap(),
            origin: Instant::now(),
            heard: Vec::new(),
            eof: false,
        };
        let now = dut.now();
        dut.client.login(now).unwrap();
        dut
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Writes, reads and runs the client's timers until `done` holds (or EOF, when
    /// `done` accepts it). Panics at the deadline.
    fn pump_until(&mut self, what: &str, mut done: impl FnMut(&Dut) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; heard {:?}",
                self.heard
            );
            assert!(
                !self.eof,
                "EOF while waiting for {what}; heard {:?}",
                self.heard
            );
            let out = self.client.pending_output();
            if !out.is_empty() {
                let n = out.len();
                self.stream.write_all(out).unwrap();
                self.client.output_written(n);
            }
            let now = self.now();
            match self.stream.read(self.client.receive_buffer()) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let heard = &mut self.heard;
                    self.client
                        .received(now, n, |e| match e {
                            SessionEvent::LoginAccepted {
                                sequence_number, ..
                            } => heard.push(Heard::LoginAccepted(sequence_number)),
                            SessionEvent::LoginRejected(r) => heard.push(Heard::LoginRejected(r)),
                            SessionEvent::SequencedData { sequence, message } => {
                                heard.push(Heard::Sequenced(sequence, message.to_vec()))
                            }
                            SessionEvent::EndOfSession => heard.push(Heard::EndOfSession),
                            SessionEvent::Debug(_) | SessionEvent::Unknown { .. } => {}
                        })
                        .expect("valid SoupBinTCP from the gateway");
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read: {e}"),
            }
            let now = self.now();
            self.client.poll(now).expect("the gateway stays alive");
        }
    }

    fn wait_eof(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        let mut sink = [0u8; 256];
        while !self.eof {
            assert!(Instant::now() < deadline, "the gateway did not close");
            match self.stream.read(&mut sink) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.eof = true,
            }
        }
    }

    fn send_order(&mut self, encoder: &mut OrderEncoder, sequence: u64) -> Vec<u8> {
        let trigger = Trigger {
            sequence,
            locate: 1,
            stock: *b"AAPL    ",
            book_side: Side::Buy,
            price: 1_502_500,
            message_type: b'A',
        };
        let mut sent = Vec::new();
        let now = self.now();
        self.client
            .send_unsequenced(now, |buf| {
                let n = encoder.encode(&trigger, buf)?;
                sent.extend_from_slice(&buf[..n]);
                Ok(n)
            })
            .unwrap();
        sent
    }

    fn sequenced(&self) -> Vec<(u64, Vec<u8>)> {
        self.heard
            .iter()
            .filter_map(|h| match h {
                Heard::Sequenced(s, m) => Some((*s, m.clone())),
                _ => None,
            })
            .collect()
    }
}

fn client_config(password: &str) -> ClientConfig {
    ClientConfig::new("TKLB", password)
}

/// (kind, token carried back, quantity/shares or match number) of an answer.
fn decode(version: OuchVersion, msg: &[u8]) -> (&'static str, u64, u64) {
    match version {
        OuchVersion::V50 => match ouch50::parse_outbound(msg).unwrap() {
            ouch50::Outbound::OrderAccepted(a) => (
                "accepted",
                sequence_from_token(&a.cl_ord_id()).unwrap(),
                a.quantity().into(),
            ),
            ouch50::Outbound::OrderRejected(j) => (
                "rejected",
                sequence_from_token(&j.cl_ord_id()).unwrap(),
                j.reason().into(),
            ),
            ouch50::Outbound::OrderExecuted(e) => {
                ("executed", e.user_ref_num().into(), e.match_number())
            }
            other => panic!("unexpected answer {other:?}"),
        },
        OuchVersion::V42 => match ouch42::parse_outbound(msg).unwrap() {
            ouch42::Outbound::Accepted(a) => (
                "accepted",
                sequence_from_token(&a.order_token()).unwrap(),
                a.shares().into(),
            ),
            ouch42::Outbound::Rejected(j) => (
                "rejected",
                sequence_from_token(&j.order_token()).unwrap(),
                j.reason().into(),
            ),
            ouch42::Outbound::Executed(e) => (
                "executed",
                sequence_from_token(&e.order_token()).unwrap(),
                e.match_number(),
            ),
            other => panic!("unexpected answer {other:?}"),
        },
    }
}

#[test]
fn orders_are_answered_per_mode_and_decoded_by_the_client() {
    let cases = [
        (OuchVersion::V50, AnswerMode::Accept),
        (OuchVersion::V50, AnswerMode::Reject { reason: 7 }),
        (OuchVersion::V50, AnswerMode::Fill),
        (OuchVersion::V42, AnswerMode::Accept),
        (
            OuchVersion::V42,
            AnswerMode::Reject {
                reason: REJECT_OTHER_42,
            },
        ),
        (OuchVersion::V42, AnswerMode::Fill),
    ];
    for (version, mode) in cases {
        let venue = Venue::start(server_config(mode, version));
        let mut dut = Dut::connect(venue.addr, client_config("SECRET"));
        dut.pump_until("login", |d| !d.heard.is_empty());
        assert_eq!(dut.heard, vec![Heard::LoginAccepted(1)]);

        let mut encoder = OrderEncoder::new(OrderConfig {
            version,
            ..OrderConfig::default()
        });
        let ticks = [4217u64, 4218, 4300];
        let sent: Vec<Vec<u8>> = ticks
            .iter()
            .map(|&t| dut.send_order(&mut encoder, t))
            .collect();
        let per_order = if mode == AnswerMode::Fill { 2 } else { 1 };
        dut.pump_until("the answers", |d| d.sequenced().len() == 3 * per_order);

        let answers = dut.sequenced();
        let sequences: Vec<u64> = answers.iter().map(|(s, _)| *s).collect();
        assert_eq!(sequences, (1..=3 * per_order as u64).collect::<Vec<_>>());
        let decoded: Vec<_> = answers.iter().map(|(_, m)| decode(version, m)).collect();
        let want: Vec<(&str, u64, u64)> = match mode {
            AnswerMode::Accept => ticks.iter().map(|&t| ("accepted", t, 100)).collect(),
            AnswerMode::Reject { reason } => ticks
                .iter()
                .map(|&t| ("rejected", t, u64::from(reason)))
                .collect(),
            AnswerMode::Fill => ticks
                .iter()
                .zip(1u64..)
                .flat_map(|(&t, i)| {
                    // OUCH 5.0 executions name the order by UserRefNum (refcore
                    // counts them from 1), OUCH 4.2 by token.
                    let id = if version == OuchVersion::V50 { i } else { t };
                    [("accepted", t, 100), ("executed", id, i)]
                })
                .collect(),
        };
        assert_eq!(decoded, want, "{version} {mode:?}");

        let now = dut.now();
        dut.client.logout(now).unwrap();
        dut.pump_until("the logout to go out", |d| {
            d.client.pending_output().is_empty()
        });
        dut.wait_eof();
        drop(dut);
        let (report, seen) = venue.finish();
        assert_eq!(report.close_reason, CloseReason::ClientLogout);
        assert_eq!(report.session.orders_received, 3);
        assert_eq!(report.session.sequenced_sent, 3 * per_order as u64);
        assert_eq!(report.unsent_bytes, 0);
        assert_eq!(report.clock, ClockDomain::UserMonotonic);
        assert_eq!(report.unstamped_reads, 0);
        let orders: Vec<&Seen> = seen
            .iter()
            .filter(|s| matches!(s, Seen::Order { .. }))
            .collect();
        assert_eq!(orders.len(), 3);
        let mut last_rx = 0;
        for (order, bytes) in orders.iter().zip(&sent) {
            let Seen::Order { payload, rx_ns, .. } = order else {
                unreachable!()
            };
            assert_eq!(payload, bytes, "the gateway saw the bytes refcore encoded");
            assert!(*rx_ns >= last_rx, "receive stamps never go back");
            last_rx = *rx_ns;
        }
        assert_eq!(seen.first(), Some(&Seen::Connected));
        assert_eq!(seen.get(1), Some(&Seen::LoggedIn(b"TKLB".to_vec())));
        assert_eq!(seen.last(), Some(&Seen::Closed(CloseReason::ClientLogout)));
    }
}

/// Kernel software RX stamps on the order session: each order's `rx_ns` is a
/// `CLOCK_REALTIME` instant between the client's write and the server's report of
/// it, and once a warm-up order has come back stamped, every read is kernel-stamped.
/// (The kernel turns RX stamping on lazily, from a workqueue, when the first socket
/// asks: on a busy machine the first few reads can come before it runs.)
#[test]
fn kernel_rx_stamps_lie_between_the_write_and_the_report() {
    kernel_rx_stamps_with(KernelRxClock::new());
}

/// The same through io_uring (`nic::uring_tcp`), as the lab's socket backend reads.
#[test]
fn kernel_rx_stamps_through_io_uring_lie_between_the_write_and_the_report() {
    kernel_rx_stamps_with(KernelRxClock::with_io_uring());
}

fn kernel_rx_stamps_with(clock: KernelRxClock) {
    let unstamped = clock.unstamped_counter();
    let venue = Venue::start_with_clock(server_config(AnswerMode::Accept, OuchVersion::V50), clock);
    let mut dut = Dut::connect(venue.addr, client_config("SECRET"));
    dut.pump_until("login", |d| !d.heard.is_empty());
    assert_eq!(dut.heard, vec![Heard::LoginAccepted(1)]);

    let mut encoder = OrderEncoder::new(OrderConfig::default());
    let mut before_write_ns = Vec::new();
    let mut sent = Vec::new();
    let mut send = |dut: &mut Dut, tick: u64| {
        sent.push(dut.send_order(&mut encoder, tick));
        let before_write = realtime_ns();
        let out = dut.client.pending_output();
        let n = out.len();
        dut.stream.write_all(out).unwrap();
        dut.client.output_written(n);
        before_write_ns.push(before_write);
        let answered = sent.len();
        dut.pump_until("the answer", |d| d.sequenced().len() == answered);
    };
    // Warm-up orders until one is read with a stamp (the server read it before it
    // answered); every read from there on must carry one.
    let mut warm_ups = 0;
    loop {
        let before = unstamped.get();
        send(&mut dut, 8000 + warm_ups);
        warm_ups += 1;
        if unstamped.get() == before {
            break;
        }
        assert!(
            warm_ups < 500,
            "no read stamped after {warm_ups} warm-up orders over 5 s: is RX software timestamping available?"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let unstamped_after_warm_up = unstamped.get();
    let ticks = [9000u64, 9001, 9002, 9003, 9004];
    for &tick in &ticks {
        send(&mut dut, tick);
    }
    let warm_ups = warm_ups as usize;

    let now = dut.now();
    dut.client.logout(now).unwrap();
    dut.pump_until("the logout to go out", |d| {
        d.client.pending_output().is_empty()
    });
    dut.wait_eof();
    drop(dut);
    let (report, seen) = venue.finish();
    assert_eq!(report.close_reason, CloseReason::ClientLogout);
    assert_eq!(report.clock, ClockDomain::KernelSoftware);
    assert_eq!(
        report.session.orders_received,
        (warm_ups + ticks.len()) as u64
    );
    assert_eq!(
        report.unstamped_reads - unstamped_after_warm_up,
        0,
        "reads without a kernel stamp after the warm-up order"
    );

    let orders: Vec<(&Vec<u8>, u64, u64)> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Order {
                payload,
                rx_ns,
                reported_realtime_ns,
                ..
            } => Some((payload, *rx_ns, *reported_realtime_ns)),
            _ => None,
        })
        .collect();
    assert_eq!(orders.len(), warm_ups + ticks.len());
    for (i, ((payload, rx_ns, reported), (bytes, before_write))) in orders
        .iter()
        .zip(sent.iter().zip(&before_write_ns))
        .enumerate()
        .skip(warm_ups - 1)
    {
        assert_eq!(*payload, bytes, "order {i}");
        assert!(
            *before_write <= *rx_ns && *rx_ns <= *reported,
            "order {i}: written at {before_write}, stamped {rx_ns}, reported at {reported}"
        );
    }
}

#[test]
fn heartbeats_flow_both_ways() {
    let mut cfg = server_config(AnswerMode::Accept, OuchVersion::V50);
    cfg.session.heartbeat_interval_ns = 20 * MS;
    let venue = Venue::start(cfg);
    let mut client = client_config("SECRET");
    client.heartbeat_interval_ns = 20 * MS;
    let mut dut = Dut::connect(venue.addr, client);
    let counts = |v: &Venue| {
        v.seen()
            .iter()
            .filter(|s| **s == Seen::ClientHeartbeat)
            .count()
    };
    dut.pump_until("three heartbeats each way", |d| {
        d.client.heartbeats_received() >= 3 && counts(&venue) >= 3
    });
    let now = dut.now();
    dut.client.logout(now).unwrap();
    dut.pump_until("the logout to go out", |d| {
        d.client.pending_output().is_empty()
    });
    dut.wait_eof();
    drop(dut);
    let (report, _) = venue.finish();
    assert_eq!(report.close_reason, CloseReason::ClientLogout);
    assert!(report.session.server_heartbeats >= 3);
    assert!(report.session.client_heartbeats >= 3);
}

#[test]
fn wrong_password_is_rejected() {
    let venue = Venue::start(server_config(AnswerMode::Accept, OuchVersion::V50));
    let mut dut = Dut::connect(venue.addr, client_config("WRONG"));
    dut.pump_until("the answer to the login", |d| !d.heard.is_empty());
    assert_eq!(
        dut.heard,
        vec![Heard::LoginRejected(RejectReason::NotAuthorized)]
    );
    dut.wait_eof();
    drop(dut);
    let (report, seen) = venue.finish();
    assert_eq!(
        report.close_reason,
        CloseReason::LoginRejected(RejectReason::NotAuthorized)
    );
    assert_eq!(
        seen,
        vec![
            Seen::Connected,
            Seen::LoginRejected(RejectReason::NotAuthorized),
            Seen::Closed(CloseReason::LoginRejected(RejectReason::NotAuthorized)),
        ]
    );
}

#[test]
fn end_of_session_from_the_lab() {
    let venue = Venue::start(server_config(AnswerMode::Accept, OuchVersion::V50));
    let mut dut = Dut::connect(venue.addr, client_config("SECRET"));
    dut.pump_until("login", |d| !d.heard.is_empty());
    venue.stop.end_session();
    dut.pump_until("End of Session", |d| d.heard.contains(&Heard::EndOfSession));
    drop(dut);
    let (report, _) = venue.finish();
    assert_eq!(report.close_reason, CloseReason::EndOfSession);
}

/// A raw socket for clients that do not speak SoupBinTCP properly.
fn raw_client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("the gateway closes in time");
    all
}

#[test]
fn garbage_closes_the_session_with_a_reason() {
    let venue = Venue::start(server_config(AnswerMode::Accept, OuchVersion::V50));
    let mut s = raw_client(venue.addr);
    let mut login = [0u8; 64];
    let n = soupbintcp::write_login_request(&mut login, b"TKLB", b"SECRET", b"", 1).unwrap();
    s.write_all(&login[..n]).unwrap();
    s.write_all(b"\x00\x05Qjunk and more junk").unwrap();
    let got = read_to_eof(&mut s);
    drop(s);
    let (packet, used) = soupbintcp::frame(&got).unwrap().unwrap();
    assert_eq!(packet.type_byte(), b'A');
    assert_eq!(used, got.len(), "nothing but the Login Accepted");
    let (report, seen) = venue.finish();
    let reason = CloseReason::UnknownPacketType {
        type_byte: b'Q',
        stream_offset: 49,
    };
    assert_eq!(report.close_reason, reason);
    assert_eq!(seen.last(), Some(&Seen::Closed(reason)));
    assert_eq!(
        reason.to_string(),
        "unknown packet type 'Q' at stream offset 49"
    );
}

#[test]
fn silent_client_times_out() {
    let mut cfg = server_config(AnswerMode::Accept, OuchVersion::V50);
    cfg.session.heartbeat_interval_ns = 10 * MS;
    cfg.session.client_timeout_ns = 100 * MS;
    let venue = Venue::start(cfg);
    let mut s = raw_client(venue.addr);
    let mut login = [0u8; 64];
    let n = soupbintcp::write_login_request(&mut login, b"TKLB", b"SECRET", b"", 1).unwrap();
    s.write_all(&login[..n]).unwrap();
    // Then silence: the gateway heartbeats, gives up, and closes.
    let got = read_to_eof(&mut s);
    drop(s);
    let mut types = Vec::new();
    let mut rest = &got[..];
    while let Some((p, used)) = soupbintcp::frame(rest).unwrap() {
        types.push(p.type_byte());
        rest = &rest[used..];
    }
    assert_eq!(types.first(), Some(&b'A'));
    assert!(types[1..].iter().all(|&t| t == b'H'), "{types:?}");
    let (report, _) = venue.finish();
    assert!(
        matches!(report.close_reason, CloseReason::ClientTimeout { silent_ns } if silent_ns >= 100 * MS),
        "{:?}",
        report.close_reason
    );
    assert_eq!(report.session.server_heartbeats as usize, types.len() - 1);
}

#[test]
fn a_dut_that_never_connects_is_a_clear_error() {
    let mut cfg = server_config(AnswerMode::Accept, OuchVersion::V50);
    cfg.accept_timeout = Duration::from_millis(200);
    let server = VenueServer::bind(cfg).unwrap();
    let addr = server.local_addr();
    let err = server.run(|_| {}).unwrap_err();
    assert!(
        matches!(err, ServerError::AcceptTimeout { addr: a, timeout } if a == addr && timeout == Duration::from_millis(200)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("order gateway: no DUT connected to {addr} within 200ms")
    );
}

#[test]
fn stop_before_the_dut_connects() {
    let server = VenueServer::bind(server_config(AnswerMode::Accept, OuchVersion::V50)).unwrap();
    let addr = server.local_addr();
    server.stop_handle().end_session();
    let err = server.run(|_| {}).unwrap_err();
    assert!(
        matches!(err, ServerError::Stopped { addr: a } if a == addr),
        "{err:?}"
    );
}

#[test]
fn a_bad_configuration_is_refused_before_listening() {
    let mut cfg = server_config(AnswerMode::Accept, OuchVersion::V50);
    cfg.session.password = "ELEVENCHARS".into();
    let err = VenueServer::bind(cfg).unwrap_err();
    assert_eq!(
        err.to_string(),
        "order gateway configuration: password is longer than 10 characters"
    );
}
