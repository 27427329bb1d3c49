//! refcore: the reference trading core, ticklab's device under test for self-tests
//! and demos. It joins a MoldUDP64/ITCH 5.0 multicast feed, keeps top of book, and
//! on each trigger sends an OUCH Enter Order over SoupBinTCP whose token carries the
//! triggering message's sequence number.
//!
//! This file is the shell: arguments, sockets, the clock and the loop. Every decision
//! (book, trigger rule, gap accounting, session, order bytes) is library code in
//! `ticklab::refcore`, where the tests and the lab reach it. It must not busy-spin
//! a core unless asked (`--busy-poll`), and it sends each order with one write from
//! a buffer allocated at start-up.
//!
//! ```text
//! refcore --feed 239.198.0.1:30001 --iface-addr 127.0.0.1 --gateway 127.0.0.1:15000 \
//!         --user TEST --password SECRET --symbols AAPL,MSFT --delay-ns 5000
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use socket2::{Domain, Protocol, Socket, Type};

use ticklab::proto::soupbintcp::RejectReason;
use ticklab::refcore::book::BookConfig;
use ticklab::refcore::order::{AckCounts, OrderConfig, OrderEncoder, OuchVersion};
use ticklab::refcore::session::{SessionConfig, SessionEvent, SessionState, SoupClient};
use ticklab::refcore::trigger::{GateDecision, TriggerGate, TriggerRule};
use ticklab::refcore::{parse_symbols, FeedHandler};

/// How often the order session is serviced (acks read, heartbeats sent) while the
/// feed is busy, and how long a receive sleeps while it is quiet.
const SERVICE_INTERVAL: Duration = Duration::from_millis(1);
/// How long to wait for the gateway to close the connection after our logout.
const LOGOUT_DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, Parser)]
#[command(
    name = "refcore",
    version,
    about = "Reference trading core: MoldUDP64/ITCH in, OUCH over SoupBinTCP out",
    long_about = "Reference trading core: joins a MoldUDP64/ITCH 5.0 feed, keeps top of book, \
                  and on each trigger sends an OUCH Enter Order whose token is the triggering \
                  message's sequence number (14 digits, zero padded). Stops at the feed's End \
                  of Session, the gateway's End of Session, or SIGINT/SIGTERM, and prints a \
                  summary line to stderr."
)]
struct Args {
    /// MoldUDP64 feed: multicast group (or unicast address) and UDP port.
    #[arg(long, value_name = "GROUP:PORT")]
    feed: SocketAddrV4,
    /// Local interface address to join the group on (127.0.0.1 for loopback).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    iface_addr: Ipv4Addr,
    /// Order gateway (SoupBinTCP server).
    #[arg(long, value_name = "HOST:PORT")]
    gateway: String,
    /// SoupBinTCP username (up to 6 characters).
    #[arg(long, default_value = "")]
    user: String,
    /// SoupBinTCP password (up to 10 characters).
    #[arg(long, default_value = "")]
    password: String,
    /// Symbols to trade, comma separated; all symbols on the feed when absent.
    #[arg(long, value_name = "LIST", default_value = "")]
    symbols: String,
    /// Trigger rule: top-of-book (best bid or ask price changed) or every-add.
    #[arg(long, default_value = "top-of-book")]
    rule: TriggerRule,
    /// OUCH version of the orders: 5.0 or 4.2.
    #[arg(long, value_name = "VERSION", default_value = "5.0")]
    ouch: OuchVersion,
    /// Busy-wait this many nanoseconds before each order (a DUT of known latency).
    #[arg(long, value_name = "N", default_value_t = 0)]
    delay_ns: u64,
    /// Ignore every Nth trigger (0: none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    drop_every: u64,
    /// Send at most N orders; later triggers are counted, not answered.
    #[arg(long, value_name = "N")]
    max_orders: Option<u64>,
    /// Shares per order.
    #[arg(long, default_value_t = 100)]
    quantity: u32,
    /// Live orders the book holds before its map must grow.
    #[arg(long, value_name = "N", default_value_t = 1 << 18)]
    order_capacity: usize,
    /// Spin on the feed socket instead of sleeping in receive (uses a whole core).
    #[arg(long)]
    busy_poll: bool,
    /// Give up connecting to the gateway after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    connect_timeout_ms: u64,
}

/// Monotonic nanoseconds since start-up: the session's clock.
struct Clock(Instant);

impl Clock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Why the main loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    FeedEndOfSession,
    GatewayEndOfSession,
    Signal,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::FeedEndOfSession => "feed-end-of-session",
            End::GatewayEndOfSession => "gateway-end-of-session",
            End::Signal => "signal",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("refcore: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Binds the feed socket (SO_REUSEADDR, so several cores can listen) and joins the
/// group on `iface`.
fn join_feed(feed: SocketAddrV4, iface: Ipv4Addr, busy_poll: bool) -> Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .context("cannot create the feed socket")?;
    socket
        .set_reuse_address(true)
        .context("cannot set SO_REUSEADDR on the feed socket")?;
    // A larger buffer rides out bursts while an order is being sent; the kernel
    // caps it at net.core.rmem_max, which is fine.
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket
        .bind(&SocketAddr::V4(feed).into())
        .with_context(|| format!("cannot bind the feed socket to {feed}"))?;
    if feed.ip().is_multicast() {
        socket
            .join_multicast_v4(feed.ip(), &iface)
            .with_context(|| format!("cannot join {} on interface {iface}", feed.ip()))?;
    }
    let socket: UdpSocket = socket.into();
    if busy_poll {
        socket.set_nonblocking(true)?;
    } else {
        socket.set_read_timeout(Some(SERVICE_INTERVAL))?;
    }
    Ok(socket)
}

fn connect_gateway(gateway: &str, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = gateway
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve gateway {gateway:?}"))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(anyhow!(e).context(format!("cannot connect to gateway {gateway}"))),
        None => bail!("gateway {gateway:?} resolves to no address"),
    }
}

/// Writes what the session has queued; a full socket keeps the rest for later.
fn flush(stream: &mut TcpStream, session: &mut SoupClient) -> Result<()> {
    while !session.pending_output().is_empty() {
        match stream.write(session.pending_output()) {
            Ok(0) => bail!("the gateway connection is closed"),
            Ok(n) => session.output_written(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(anyhow!(e).context("cannot write to the gateway")),
        }
    }
    Ok(())
}

/// What reading the gateway turned up.
#[derive(Debug, Default)]
struct Inbox {
    acks: AckCounts,
    gateway_ended: bool,
    closed: bool,
}

/// Reads everything the gateway has sent (without blocking on a nonblocking
/// stream) and hands it to the session.
fn read_gateway(
    stream: &mut TcpStream,
    session: &mut SoupClient,
    clock: &Clock,
    ouch: OuchVersion,
    inbox: &mut Inbox,
) -> Result<()> {
    loop {
        let n = match stream.read(session.receive_buffer()) {
            Ok(0) => {
                inbox.closed = true;
                return Ok(());
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow!(e).context("cannot read from the gateway")),
        };
        session.received(clock.now_ns(), n, |event| match event {
            SessionEvent::SequencedData { message, .. } => inbox.acks.record(ouch, message),
            SessionEvent::EndOfSession => inbox.gateway_ended = true,
            _ => {}
        })?;
    }
}

fn reject_text(reason: RejectReason) -> String {
    match reason {
        RejectReason::NotAuthorized => "not authorized (code 'A')".into(),
        RejectReason::SessionNotAvailable => "session not available (code 'S')".into(),
        RejectReason::Unknown(b) => format!("reason code {:?}", char::from(b)),
    }
}

/// Logs in, blocking until the gateway answers (or the session's timeout).
fn log_in(
    stream: &mut TcpStream,
    session: &mut SoupClient,
    clock: &Clock,
    ouch: OuchVersion,
    stop: &AtomicBool,
    gateway: &str,
) -> Result<()> {
    session.login(clock.now_ns())?;
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    flush(stream, session).context("cannot send the login request")?;
    let mut inbox = Inbox::default();
    loop {
        read_gateway(stream, session, clock, ouch, &mut inbox)?;
        match session.state() {
            SessionState::LoggedIn => return Ok(()),
            SessionState::Rejected(reason) => {
                bail!(
                    "the gateway {gateway} rejected the login: {}",
                    reject_text(reason)
                )
            }
            _ => {}
        }
        if inbox.closed {
            bail!("the gateway {gateway} closed the connection before accepting the login");
        }
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted while logging in");
        }
        session
            .poll(clock.now_ns())
            .context("no answer to the login request")?;
    }
}

fn run(args: &Args) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handlers")?;
    }
    let symbols = parse_symbols(&args.symbols).map_err(|e| anyhow!("--symbols: {e}"))?;
    let book = BookConfig {
        symbols,
        order_capacity: args.order_capacity,
        ..BookConfig::default()
    };
    let mut handler = FeedHandler::new(args.rule, &book);
    let mut encoder = OrderEncoder::new(OrderConfig {
        version: args.ouch,
        quantity: args.quantity,
        ..OrderConfig::default()
    });
    let mut gate = TriggerGate::new(args.drop_every, args.max_orders);
    let mut session = SoupClient::new(SessionConfig::new(&args.user, &args.password))?;
    let clock = Clock(Instant::now());

    // Join first: datagrams that arrive while we log in wait in the socket buffer
    // instead of being lost.
    let feed = join_feed(args.feed, args.iface_addr, args.busy_poll)?;
    let mut stream = connect_gateway(
        &args.gateway,
        Duration::from_millis(args.connect_timeout_ms),
    )?;
    log_in(
        &mut stream,
        &mut session,
        &clock,
        args.ouch,
        &stop,
        &args.gateway,
    )?;
    stream.set_nonblocking(true)?;
    eprintln!(
        "refcore: logged in to {} session {:?} next sequence {}; feed {} on {}; rule {}; ouch {}",
        args.gateway,
        String::from_utf8_lossy(ticklab::proto::trim_alpha(session.session())),
        session.next_sequence(),
        args.feed,
        args.iface_addr,
        args.rule,
        args.ouch,
    );

    let delay = Duration::from_nanos(args.delay_ns);
    let mut datagram = vec![0u8; 65_536];
    let mut inbox = Inbox::default();
    let mut orders = 0u64;
    let mut next_service = 0u64;
    let service_ns = SERVICE_INTERVAL.as_nanos() as u64;
    let outcome: Result<End> = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(End::Signal);
        }
        match feed.recv(&mut datagram) {
            Ok(n) => {
                let mut send_error = None;
                let d = handler.on_datagram(&datagram[..n], |trigger| {
                    if send_error.is_some() || gate.decide() != GateDecision::Send {
                        return;
                    }
                    if !delay.is_zero() {
                        let start = Instant::now();
                        while start.elapsed() < delay {
                            std::hint::spin_loop();
                        }
                    }
                    let sent = session
                        .send_unsequenced(clock.now_ns(), |buf| encoder.encode(&trigger, buf))
                        .map_err(anyhow::Error::from)
                        .and_then(|()| flush(&mut stream, &mut session));
                    match sent {
                        Ok(()) => orders += 1,
                        Err(e) => send_error = Some(e.context("cannot send an order")),
                    }
                });
                if let Some(e) = send_error {
                    break Err(e);
                }
                // A datagram that is not MoldUDP64 is counted by the handler and
                // otherwise ignored: a feed is not stopped by one bad packet.
                if d.is_ok_and(|d| d.end_of_session) {
                    break Ok(End::FeedEndOfSession);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => break Err(anyhow!(e).context("cannot receive from the feed")),
        }
        let now = clock.now_ns();
        if now >= next_service {
            next_service = now + service_ns;
            let serviced = read_gateway(&mut stream, &mut session, &clock, args.ouch, &mut inbox)
                .and_then(|()| Ok(session.poll(clock.now_ns())?))
                .and_then(|()| flush(&mut stream, &mut session));
            if let Err(e) = serviced {
                break Err(e);
            }
            if inbox.gateway_ended {
                break Ok(End::GatewayEndOfSession);
            }
            if inbox.closed {
                break Err(anyhow!("the gateway closed the connection"));
            }
        }
    };

    // Log out and read what the gateway still has to say (the acks of the last
    // orders) until it closes the connection.
    if !inbox.closed {
        let _ = session.logout(clock.now_ns());
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(LOGOUT_DRAIN));
        let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
        let _ = flush(&mut stream, &mut session);
        let deadline = Instant::now() + LOGOUT_DRAIN;
        while !inbox.closed && Instant::now() < deadline {
            if read_gateway(&mut stream, &mut session, &clock, args.ouch, &mut inbox).is_err() {
                break;
            }
        }
    }

    let gaps = handler.gaps();
    let acks = inbox.acks;
    let end = outcome.as_ref().map_or("error", |e| e.name());
    eprintln!(
        "refcore: summary end={end} packets={} messages={} gaps={} missing={} duplicates={} \
         bad_packets={} bad_messages={} triggers={} dropped={} over_limit={} orders={} \
         accepted={} rejected={} executed={} canceled={} other_acks={} undecodable_acks={} \
         heartbeats_sent={} heartbeats_received={}",
        gaps.packets,
        gaps.messages,
        gaps.gaps,
        gaps.missing,
        gaps.duplicates,
        handler.bad_packets(),
        handler.bad_messages(),
        gate.triggers,
        gate.dropped,
        gate.over_limit,
        orders,
        acks.accepted,
        acks.rejected,
        acks.executed,
        acks.canceled,
        acks.other,
        acks.undecodable,
        session.heartbeats_sent(),
        session.heartbeats_received(),
    );
    outcome.map(|_| ())
}
