//! The real `refcore` process against a test that plays the exchange on loopback: a
//! SoupBinTCP gateway on 127.0.0.1 (ephemeral port) built from our proto builders,
//! and a MoldUDP64 synthetic feed sent to multicast group 239.198.0.1 out of the
//! loopback interface (IP_MULTICAST_IF 127.0.0.1, IP_MULTICAST_LOOP on; refcore
//! joins with `--iface-addr 127.0.0.1`). No route for 224.0.0.0/4 is needed: the
//! sender names the interface.
//!
//! The test computes the expected triggers with the library's own FeedHandler over
//! the very datagrams it sends, and requires refcore's orders to be exactly those
//! triggers (minus the dropped ones), in order, with the sequence number in the
//! token. It paces the feed by waiting for each packet's orders before sending the
//! next one that has any, so the socket buffer never overflows and no wait depends
//! on speed. Every wait has a deadline; the child is killed on failure.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
use ticklab::proto::soupbintcp::{self, Packet, RejectReason};
use ticklab::proto::{ouch42, ouch50};
use ticklab::refcore::book::BookConfig;
use ticklab::refcore::order::sequence_from_token;
use ticklab::refcore::trigger::{is_dropped, Trigger, TriggerRule};
use ticklab::refcore::{parse_symbols, FeedHandler};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 198, 0, 1);
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// The bound on every wait: generous, so a loaded machine never fails a good
/// refcore, while a broken one fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(30);

/// The refcore child: killed when the test ends early. Its stderr is collected by a
/// thread so it can be shown when something fails.
struct Refcore {
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Refcore {
    fn spawn(args: &[String]) -> Refcore {
        let mut child = Command::new(env!("CARGO_BIN_EXE_refcore"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn refcore");
        let mut pipe = child.stderr.take().expect("stderr piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Refcore {
            child: Some(child),
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Panics (with refcore's stderr) if the process has already exited.
    fn assert_running(&mut self, doing: &str) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "refcore exited ({status}) while {doing}; stderr:\n{}",
                self.stderr()
            );
        }
    }

    /// Waits for the exit (bounded) and returns the status and all of stderr.
    fn wait(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "refcore did not exit; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        };
        self.child = None;
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().unwrap();
        }
        (status, self.stderr())
    }
}

impl Drop for Refcore {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A UDP port for the feed, held (bound to 127.0.0.1) so no other test takes it;
/// refcore binds the same port on the group address, which does not conflict.
fn reserve_udp_port() -> (UdpSocket, u16) {
    let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let port = s.local_addr().unwrap().port();
    (s, port)
}

/// The exchange's feed publisher: multicast out of the loopback interface.
fn multicast_sender() -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_multicast_if_v4(&LOOPBACK).unwrap();
    s.set_multicast_loop_v4(true).unwrap();
    s.bind(&SocketAddr::from((LOOPBACK, 0)).into()).unwrap();
    s.into()
}

/// Cuts the first whole SoupBinTCP packet (length, type and payload) off `pending`.
fn take_packet(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let (_, used) = soupbintcp::frame(pending).expect("valid SoupBinTCP from refcore")?;
    Some(pending.drain(..used).collect())
}

/// Reads one SoupBinTCP packet, whole, or `None` at EOF. Panics after the deadline.
fn read_packet(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
    deadline: Instant,
) -> Option<Vec<u8>> {
    loop {
        if let Some(packet) = take_packet(pending) {
            return Some(packet);
        }
        assert!(Instant::now() < deadline, "no packet from refcore in time");
        match frame_or_wait(stream, pending) {
            Step::Closed => return None,
            Step::Packet(p) => return Some(p),
            Step::Idle => {}
        }
    }
}

fn send(stream: &mut TcpStream, write: impl FnOnce(&mut [u8]) -> usize) {
    let mut buf = [0u8; 256];
    let n = write(&mut buf);
    stream.write_all(&buf[..n]).unwrap();
}

/// One order as the gateway received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReceivedOrder {
    sequence: Option<u64>,
    side: u8,
    price: u64,
    user_ref_num: Option<u32>,
}

#[derive(Debug, Default)]
struct GatewayLog {
    orders: Vec<ReceivedOrder>,
    client_heartbeats: u64,
    logout: bool,
    unexpected: Vec<u8>,
}

/// The exchange's order gateway after login: records orders, answers each with an
/// Accepted, heartbeats every 100 ms, and closes on Logout Request.
fn run_gateway(
    mut stream: TcpStream,
    mut pending: Vec<u8>,
    ouch: &'static str,
    log: Arc<Mutex<GatewayLog>>,
    stop: Arc<AtomicBool>,
) {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut last_heartbeat = Instant::now();
    let mut order_ref = 1u64;
    while !stop.load(Ordering::Relaxed) {
        if last_heartbeat.elapsed() >= Duration::from_millis(100) {
            send(&mut stream, |b| {
                soupbintcp::write_server_heartbeat(b).unwrap()
            });
            last_heartbeat = Instant::now();
        }
        // Short deadline per read: the loop itself is bounded by `stop`.
        let packet = match frame_or_wait(&mut stream, &mut pending) {
            Step::Packet(p) => p,
            Step::Idle => continue,
            Step::Closed => break,
        };
        let mut log = log.lock().unwrap();
        match packet[2] {
            soupbintcp::packet_type::UNSEQUENCED_DATA => {
                let msg = &packet[soupbintcp::HEADER_LEN..];
                let mut reply = [0u8; 128];
                let (order, reply_len) = if ouch == "5.0" {
                    let Ok(ouch50::Inbound::EnterOrder(o)) = ouch50::parse_inbound(msg) else {
                        panic!("not an OUCH 5.0 Enter Order: {msg:?}");
                    };
                    let accepted = ouch50::OrderAccepted::new(
                        0,
                        o.user_ref_num(),
                        o.side(),
                        o.quantity(),
                        o.symbol(),
                        o.price(),
                        o.time_in_force(),
                        o.display(),
                        order_ref,
                        o.capacity(),
                        o.intermarket_sweep_eligibility(),
                        o.cross_type(),
                        b'L',
                        &o.cl_ord_id(),
                    );
                    let n = ouch50::write(&mut reply, &accepted, &[]).unwrap();
                    let order = ReceivedOrder {
                        sequence: sequence_from_token(&o.cl_ord_id()),
                        side: o.side(),
                        price: o.price(),
                        user_ref_num: Some(o.user_ref_num()),
                    };
                    (order, n)
                } else {
                    let Ok(ouch42::Inbound::EnterOrder(o)) = ouch42::parse_inbound(msg) else {
                        panic!("not an OUCH 4.2 Enter Order: {msg:?}");
                    };
                    let accepted = ouch42::Accepted::new(
                        0,
                        &o.order_token(),
                        o.buy_sell_indicator(),
                        o.shares(),
                        o.stock(),
                        o.price(),
                        o.time_in_force(),
                        o.firm(),
                        o.display(),
                        order_ref,
                        o.capacity(),
                        o.intermarket_sweep_eligibility(),
                        o.minimum_quantity(),
                        o.cross_type(),
                        b'L',
                        b' ',
                    );
                    let n = ouch42::write(&accepted, &mut reply).unwrap();
                    let order = ReceivedOrder {
                        sequence: sequence_from_token(&o.order_token()),
                        side: o.buy_sell_indicator(),
                        price: u64::from(o.price()),
                        user_ref_num: None,
                    };
                    (order, n)
                };
                order_ref += 1;
                send(&mut stream, |b| {
                    soupbintcp::write_sequenced_data(b, &reply[..reply_len]).unwrap()
                });
                log.orders.push(order);
            }
            soupbintcp::packet_type::CLIENT_HEARTBEAT => log.client_heartbeats += 1,
            soupbintcp::packet_type::LOGOUT_REQUEST => {
                // SoupBinTCP: the server ends the session by closing the connection.
                log.logout = true;
                break;
            }
            other => log.unexpected.push(other),
        }
    }
}

enum Step {
    Packet(Vec<u8>),
    Idle,
    Closed,
}

fn frame_or_wait(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Step {
    if let Some(packet) = take_packet(pending) {
        return Step::Packet(packet);
    }
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => Step::Closed,
        Ok(n) => {
            pending.extend_from_slice(&buf[..n]);
            Step::Idle
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Step::Idle
        }
        Err(_) => Step::Closed,
    }
}

/// Accepts refcore's connection (bounded; fails fast if refcore died).
fn accept(listener: &TcpListener, refcore: &mut Refcore) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_nodelay(true).unwrap();
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                refcore.assert_running("the test waited for it to connect");
                assert!(Instant::now() < deadline, "refcore did not connect");
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Reads the Login Request and checks the credentials.
fn expect_login(stream: &mut TcpStream, pending: &mut Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let wire = read_packet(stream, pending, Instant::now() + DEADLINE).expect("a login request");
    let (login, _) = soupbintcp::frame(&wire).unwrap().unwrap();
    let Packet::LoginRequest {
        username, password, ..
    } = login
    else {
        panic!("expected a Login Request, got {login:?}");
    };
    assert_eq!(username, b"TEST  ");
    assert_eq!(password, b"SECRET    ");
}

struct Scenario {
    rule: TriggerRule,
    ouch: &'static str,
    symbols: &'static str,
    drop_every: u64,
    delay_ns: u64,
    messages: u64,
    seed: u64,
    busy_poll: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            rule: TriggerRule::TopOfBook,
            ouch: "5.0",
            symbols: "",
            drop_every: 0,
            delay_ns: 0,
            messages: 20_000,
            seed: 11,
            busy_poll: false,
        }
    }
}

fn summary_value(stderr: &str, key: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("refcore: summary "))
        .unwrap_or_else(|| panic!("no summary line in stderr:\n{stderr}"));
    let prefix = format!("{key}=");
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap()
}

fn base_args(feed_port: u16, gateway: SocketAddr) -> Vec<String> {
    [
        "--feed",
        &format!("{GROUP}:{feed_port}"),
        "--iface-addr",
        "127.0.0.1",
        "--gateway",
        &gateway.to_string(),
        "--user",
        "TEST",
        "--password",
        "SECRET",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs a whole session and checks every order against the library's triggers.
fn run_scenario(sc: Scenario) {
    let (_reserved, feed_port) = reserve_udp_port();
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let mut args = base_args(feed_port, listener.local_addr().unwrap());
    args.extend(
        [
            "--rule".to_string(),
            sc.rule.name().into(),
            "--ouch".into(),
            sc.ouch.into(),
            "--drop-every".into(),
            sc.drop_every.to_string(),
            "--delay-ns".into(),
            sc.delay_ns.to_string(),
        ]
        .into_iter()
        .chain(
            (!sc.symbols.is_empty())
                .then(|| ["--symbols".to_string(), sc.symbols.to_string()])
                .into_iter()
                .flatten(),
        ),
    );
    if sc.busy_poll {
        args.push("--busy-poll".into());
    }
    let mut refcore = Refcore::spawn(&args);
    let mut stream = accept(&listener, &mut refcore);
    let mut pending = Vec::new();
    expect_login(&mut stream, &mut pending);
    send(&mut stream, |b| {
        soupbintcp::write_login_accepted(b, b"TESTSESS01", 1).unwrap()
    });

    let log = Arc::new(Mutex::new(GatewayLog::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let gateway = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        let ouch = sc.ouch;
        thread::spawn(move || run_gateway(stream, pending, ouch, log, stop))
    };

    // The feed: big packets (a 1 ms window fills them), so a session is a few
    // hundred datagrams.
    let mut feed = SyntheticFeed::new(SyntheticConfig {
        seed: sc.seed,
        messages: Some(sc.messages),
        packet_window_ns: 1_000_000,
        ..SyntheticConfig::default()
    })
    .unwrap();
    let book = BookConfig {
        symbols: parse_symbols(sc.symbols).unwrap(),
        ..BookConfig::default()
    };
    let mut expected = FeedHandler::new(sc.rule, &book);
    let mut triggers: Vec<Trigger> = Vec::new();
    let mut expected_orders: Vec<Trigger> = Vec::new();
    let sender = multicast_sender();
    let mut buf = vec![0u8; 1500];
    let mut unpaced = 0u64;
    while let Some(p) = feed.next_packet(&mut buf) {
        let datagram = &buf[..p.len];
        expected
            .on_datagram(datagram, |t| {
                triggers.push(t);
                if !is_dropped(triggers.len() as u64, sc.drop_every) {
                    expected_orders.push(t);
                }
            })
            .unwrap();
        sender
            .send_to(datagram, SocketAddrV4::new(GROUP, feed_port))
            .unwrap();
        // Pace by the orders themselves: wait for this packet's before going on.
        // Runs of packets without orders get a breather now and then, so even a
        // descheduled refcore finds them in its socket buffer (a loss would show
        // as a gap and fail the test, not pass it).
        unpaced += 1;
        if unpaced % 16 == 0 {
            thread::sleep(Duration::from_micros(200));
        }
        if log.lock().unwrap().orders.len() < expected_orders.len() {
            unpaced = 0;
        }
        let deadline = Instant::now() + DEADLINE;
        while log.lock().unwrap().orders.len() < expected_orders.len() {
            refcore.assert_running("the test waited for orders");
            assert!(
                Instant::now() < deadline,
                "refcore sent {} orders, {} expected by sequence {}; stderr:\n{}",
                log.lock().unwrap().orders.len(),
                expected_orders.len(),
                p.first_sequence,
                refcore.stderr()
            );
            thread::sleep(Duration::from_micros(100));
        }
    }
    // The synthetic session ends with a MoldUDP64 End of Session: refcore logs out
    // and exits.
    let (status, stderr) = refcore.wait();
    let gateway_done = Instant::now() + DEADLINE;
    while !gateway.is_finished() {
        assert!(Instant::now() < gateway_done, "gateway thread stuck");
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    gateway.join().unwrap();
    assert!(
        status.success(),
        "refcore failed: {status}; stderr:\n{stderr}"
    );

    let log = log.lock().unwrap();
    let t = triggers.len() as u64;
    assert!(t >= 20, "too few triggers ({t}) for a meaningful run");
    let dropped = t.checked_div(sc.drop_every).unwrap_or(0);
    assert_eq!(
        log.orders.len() as u64,
        t - dropped,
        "orders = triggers - dropped"
    );
    // Every order is exactly the expected trigger: its sequence number in the
    // token, the opposite side, the trigger's price.
    for (i, (got, want)) in log.orders.iter().zip(&expected_orders).enumerate() {
        assert_eq!(
            got,
            &ReceivedOrder {
                sequence: Some(want.sequence),
                side: want.order_side().indicator(),
                price: u64::from(want.price),
                user_ref_num: (sc.ouch == "5.0").then_some(i as u32 + 1),
            },
            "order {i}"
        );
    }
    assert!(log.logout, "refcore did not log out");
    assert!(
        log.unexpected.is_empty(),
        "unexpected packets {:?}",
        log.unexpected
    );

    assert!(stderr.contains("refcore: logged in to "), "{stderr}");
    assert_eq!(summary_value(&stderr, "gaps"), 0, "{stderr}");
    assert_eq!(summary_value(&stderr, "messages"), sc.messages, "{stderr}");
    assert_eq!(summary_value(&stderr, "triggers"), t, "{stderr}");
    assert_eq!(summary_value(&stderr, "dropped"), dropped, "{stderr}");
    assert_eq!(summary_value(&stderr, "orders"), t - dropped, "{stderr}");
    assert_eq!(summary_value(&stderr, "accepted"), t - dropped, "{stderr}");
    assert!(stderr.contains("end=feed-end-of-session"), "{stderr}");
}

#[test]
fn top_of_book_orders_carry_the_trigger_sequence_ouch50() {
    run_scenario(Scenario {
        symbols: "AAPL,MSFT",
        ..Scenario::default()
    });
}

#[test]
fn drop_every_tenth_trigger_ouch42_busy_poll() {
    run_scenario(Scenario {
        ouch: "4.2",
        drop_every: 10,
        seed: 12,
        busy_poll: true,
        ..Scenario::default()
    });
}

#[test]
fn delayed_core_still_answers_every_add() {
    run_scenario(Scenario {
        rule: TriggerRule::EveryAdd,
        delay_ns: 200_000,
        messages: 2_000,
        seed: 13,
        ..Scenario::default()
    });
}

#[test]
fn refused_gateway_connection_fails_clearly() {
    let (_reserved, feed_port) = reserve_udp_port();
    // A port nobody listens on: bound, then closed.
    let closed = TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let refcore = Refcore::spawn(&base_args(feed_port, closed));
    let (status, stderr) = refcore.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to gateway {closed}")),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}

#[test]
fn rejected_login_fails_clearly() {
    let (_reserved, feed_port) = reserve_udp_port();
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let mut refcore = Refcore::spawn(&base_args(feed_port, listener.local_addr().unwrap()));
    let mut stream = accept(&listener, &mut refcore);
    let mut pending = Vec::new();
    expect_login(&mut stream, &mut pending);
    send(&mut stream, |b| {
        soupbintcp::write_login_rejected(b, RejectReason::NotAuthorized).unwrap()
    });
    let (status, stderr) = refcore.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rejected the login: not authorized"),
        "{stderr}"
    );
}

#[test]
fn sigterm_logs_out_and_prints_the_summary() {
    let (_reserved, feed_port) = reserve_udp_port();
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let mut refcore = Refcore::spawn(&base_args(feed_port, listener.local_addr().unwrap()));
    let mut stream = accept(&listener, &mut refcore);
    let mut pending = Vec::new();
    expect_login(&mut stream, &mut pending);
    send(&mut stream, |b| {
        soupbintcp::write_login_accepted(b, b"TESTSESS01", 1).unwrap()
    });
    // Wait until refcore says it is logged in, so the signal finds the main loop.
    let deadline = Instant::now() + DEADLINE;
    while !refcore.stderr().contains("logged in") {
        refcore.assert_running("the test waited for the login");
        assert!(Instant::now() < deadline, "no login line");
        thread::sleep(Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &refcore.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Client heartbeats may come first if the machine is slow; then the logout.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let packet = read_packet(&mut stream, &mut pending, deadline).expect("a logout request");
        match packet[2] {
            soupbintcp::packet_type::CLIENT_HEARTBEAT => continue,
            soupbintcp::packet_type::LOGOUT_REQUEST => break,
            other => panic!("unexpected packet type {:?}", char::from(other)),
        }
    }
    drop(stream);
    let (status, stderr) = refcore.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("end=signal"), "{stderr}");
    assert_eq!(summary_value(&stderr, "orders"), 0);
}
