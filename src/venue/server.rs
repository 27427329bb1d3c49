//! The blocking TCP driver of the order gateway: listens, accepts ONE connection
//! from the DUT, runs a [`Gateway`] over it until the session closes, and reports
//! every event to a callback.
//!
//! It uses std's `TcpListener`/`TcpStream` only. The accepted socket gets
//! `TCP_NODELAY` (answers leave at once) and blocks in `read` with a timeout that
//! ends at the session's next deadline (at most [`MAX_WAIT`], so a stop request is
//! seen promptly), so timers fire on time without spinning; writes block at most
//! [`WRITE_SLICE`] each, so a DUT that stops reading cannot stall the timers (its
//! unread answers pile up until the session closes it as a slow consumer). While no
//! DUT has connected, the nonblocking listener is polled every [`ACCEPT_POLL`] up to
//! [`ServerConfig::accept_timeout`]; past it [`ServerError::AcceptTimeout`] names the
//! address and the timeout. A second connection is never accepted: the listener is
//! closed once the DUT is in.
//!
//! When the session closes, the driver writes out what it still holds (Login
//! Rejected, End of Session), shuts down its sending side and waits, at most
//! [`ServerConfig::close_linger`], for the client to close, so the last packets are
//! not lost to a reset; then it returns a [`RunReport`].
//!
//! Receive timestamps come from an [`RxClock`], which names its
//! [`ClockDomain`] (the crate's one clock-domain type, from `nic::timestamp`): the
//! default [`MonotonicClock`] reads `CLOCK_MONOTONIC` (std's `Instant` on Linux)
//! when `read(2)` returns, in nanoseconds since an origin the lab chooses
//! ([`ClockDomain::UserMonotonic`]); [`KernelRxClock`](super::rx_clock::KernelRxClock)
//! takes the kernel's software RX stamps ([`ClockDomain::KernelSoftware`], the
//! domain of the feed's TX stamps, so tick-to-trade is one subtraction). The
//! session's timers run on the same clock. OUCH timestamps in the answers are
//! wall-clock nanoseconds since midnight UTC.
//!
//! ```no_run
//! use std::time::Duration;
//! use ticklab::venue::responder::{AnswerMode, ResponderConfig};
//! use ticklab::venue::server::{ServerConfig, VenueServer};
//! use ticklab::venue::session::SessionConfig;
//! let mut cfg = ServerConfig::new(
//!     "127.0.0.1:15000".parse().unwrap(),
//!     SessionConfig::new("USER", "PASS"),
//!     ResponderConfig::new(AnswerMode::Fill),
//! );
//! cfg.accept_timeout = Duration::from_secs(10);
//! let server = VenueServer::bind(cfg).unwrap();
//! let report = server.run(|event| eprintln!("{event:?}")).unwrap();
//! eprintln!("session closed: {}", report.close_reason);
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::nic::timestamp::ClockDomain;

use super::gateway::{Gateway, GatewayEvent};
use super::responder::{ResponderConfig, ResponderStats};
use super::session::{CloseReason, SessionConfig, SessionStats, State};
use super::ConfigError;

/// Longest blocking read: how late a stop request may be noticed.
pub const MAX_WAIT: Duration = Duration::from_millis(20);
/// Shortest blocking read (a zero timeout would mean "forever" to the socket).
pub const MIN_WAIT: Duration = Duration::from_millis(1);
/// Longest blocking write before the driver goes back to reading and timers.
pub const WRITE_SLICE: Duration = Duration::from_millis(10);
/// How often the listener is polled while no DUT has connected.
pub const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// Default wait for the DUT to connect.
pub const DEFAULT_ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time to finish writing and wait for the client's close after the
/// session closed.
pub const DEFAULT_CLOSE_LINGER: Duration = Duration::from_secs(2);

const NANOS_PER_DAY: u128 = 86_400 * 1_000_000_000;

/// Where the listener is, how long to wait for the DUT, and the gateway's setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub accept_timeout: Duration,
    pub close_linger: Duration,
    pub session: SessionConfig,
    pub responder: ResponderConfig,
}

impl ServerConfig {
    /// Default timeouts: 30 s to connect, 2 s of linger.
    pub fn new(listen: SocketAddr, session: SessionConfig, responder: ResponderConfig) -> Self {
        ServerConfig {
            listen,
            accept_timeout: DEFAULT_ACCEPT_TIMEOUT,
            close_linger: DEFAULT_CLOSE_LINGER,
            session,
            responder,
        }
    }
}

/// Source of the session's time and of receive timestamps: the pluggable hook
/// for kernel RX timestamps. Every number it returns, stamps and `now_ns` alike,
/// is in [`RxClock::domain`].
pub trait RxClock {
    /// The domain of [`RxClock::now_ns`] and of the stamps.
    fn domain(&self) -> ClockDomain;
    /// Nanoseconds now, in the clock's domain.
    fn now_ns(&self) -> u64;
    /// Prepares the accepted connection (e.g. turns on kernel stamping) before its
    /// first read. The default needs nothing.
    fn attach(&mut self, _stream: &TcpStream) -> io::Result<()> {
        Ok(())
    }
    /// Reads from `stream` into `buf`; returns the byte count and when the bytes
    /// arrived. The default stamps in user space once `read` returns.
    fn read_stamped(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<(usize, u64)> {
        let n = stream.read(buf)?;
        Ok((n, self.now_ns()))
    }
    /// Reads whose stamp is [`RxClock::now_ns`] at read time because the source
    /// it stands for gave none. Always 0 for a clock that stamps in user space.
    fn unstamped_reads(&self) -> u64 {
        0
    }
}

/// `CLOCK_MONOTONIC` (std's `Instant` on Linux) in nanoseconds since `origin`.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// Zero is now.
    pub fn new() -> Self {
        Self::with_origin(Instant::now())
    }

    /// Zero is `origin`: the lab passes its run's start so every part of the run
    /// reads the same numbers.
    pub fn with_origin(origin: Instant) -> Self {
        MonotonicClock { origin }
    }

    pub fn origin(&self) -> Instant {
        self.origin
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl RxClock for MonotonicClock {
    fn domain(&self) -> ClockDomain {
        ClockDomain::UserMonotonic
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Asks a running server to end the session: it sends End of Session (or, before
/// the DUT connected, stops waiting) and returns. Cheap to clone, usable from any
/// thread or a signal handler's flag.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    pub fn end_session(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// What the server reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent<'a> {
    /// The DUT connected.
    Connected { peer: SocketAddr, at_ns: u64 },
    /// Something on the order session.
    Gateway(GatewayEvent<'a>),
    /// The session closed (exactly once, last).
    Closed { reason: CloseReason, at_ns: u64 },
}

/// How the session went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub peer: SocketAddr,
    pub close_reason: CloseReason,
    pub closed_at_ns: u64,
    pub session: SessionStats,
    pub responder: ResponderStats,
    pub clock: ClockDomain,
    /// Reads stamped at read time because the clock's source gave no stamp
    /// ([`RxClock::unstamped_reads`]); their `rx_ns` is a later instant than the
    /// others' (still in `clock`).
    pub unstamped_reads: u64,
    /// Output the client never took (0 unless it stopped reading or vanished).
    pub unsent_bytes: usize,
}

/// Why the server could not run a session.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("order gateway configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("order gateway: cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("order gateway: no DUT connected to {addr} within {timeout:?}")]
    AcceptTimeout { addr: SocketAddr, timeout: Duration },
    #[error("order gateway: stopped before a DUT connected to {addr}")]
    Stopped { addr: SocketAddr },
    #[error("order gateway: accepting on {addr}: {source}")]
    Accept { addr: SocketAddr, source: io::Error },
    #[error("order gateway: connection from {peer}: {what}: {source}")]
    Socket {
        peer: SocketAddr,
        what: &'static str,
        source: io::Error,
    },
}

/// See the module documentation.
#[derive(Debug)]
pub struct VenueServer {
    listener: TcpListener,
    addr: SocketAddr,
    cfg: ServerConfig,
    stop: Arc<AtomicBool>,
}

/// Wall-clock nanoseconds since midnight UTC, for OUCH timestamps.
pub fn ouch_timestamp_now() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    (since_epoch % NANOS_PER_DAY) as u64
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Writes pending output until it is all out or the socket pushes back.
fn flush(stream: &mut TcpStream, gateway: &mut Gateway) -> io::Result<()> {
    while !gateway.pending_output().is_empty() {
        match stream.write(gateway.pending_output()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => gateway.output_written(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl VenueServer {
    /// Checks the configuration and starts listening (so a test can bind port 0 and
    /// read [`VenueServer::local_addr`] before the DUT starts).
    pub fn bind(cfg: ServerConfig) -> Result<Self, ServerError> {
        cfg.session.validate()?;
        cfg.responder.validate()?;
        let listener = TcpListener::bind(cfg.listen).map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
        Ok(VenueServer {
            listener,
            addr,
            cfg,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address the DUT connects to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(Arc::clone(&self.stop))
    }

    /// [`VenueServer::run_with_clock`] with a [`MonotonicClock`] starting now.
    pub fn run(self, on_event: impl FnMut(ServerEvent<'_>)) -> Result<RunReport, ServerError> {
        self.run_with_clock(&mut MonotonicClock::new(), on_event)
    }

    /// Waits for the DUT, runs its session to the end, and reports.
    pub fn run_with_clock<C: RxClock>(
        self,
        clock: &mut C,
        mut on_event: impl FnMut(ServerEvent<'_>),
    ) -> Result<RunReport, ServerError> {
        let (mut stream, peer) = self.accept()?;
        let socket_error = |what| move |source| ServerError::Socket { peer, what, source };
        stream
            .set_nonblocking(false)
            .map_err(socket_error("blocking mode"))?;
        stream
            .set_nodelay(true)
            .map_err(socket_error("TCP_NODELAY"))?;
        stream
            .set_write_timeout(Some(WRITE_SLICE))
            .map_err(socket_error("write timeout"))?;
        clock
            .attach(&stream)
            .map_err(socket_error("receive timestamping"))?;
        let connected_ns = clock.now_ns();
        let mut gateway = Gateway::new(self.cfg.session.clone(), self.cfg.responder, connected_ns)?;
        on_event(ServerEvent::Connected {
            peer,
            at_ns: connected_ns,
        });

        let mut read_timeout = None;
        let reason = loop {
            if self.stop.load(Ordering::Acquire) {
                gateway.end_of_session(clock.now_ns());
            }
            if let Err(e) = flush(&mut stream, &mut gateway) {
                gateway.close(CloseReason::Io(e.kind()));
            }
            if let State::Closed(reason) = gateway.state() {
                break reason;
            }
            let now = clock.now_ns();
            let wait = gateway
                .next_deadline()
                .map_or(MAX_WAIT, |d| Duration::from_nanos(d.saturating_sub(now)))
                .clamp(MIN_WAIT, MAX_WAIT);
            if read_timeout != Some(wait) {
                stream
                    .set_read_timeout(Some(wait))
                    .map_err(socket_error("read timeout"))?;
                read_timeout = Some(wait);
            }
            match clock.read_stamped(&mut stream, gateway.receive_buffer()) {
                Ok((0, _)) => {
                    gateway.close(CloseReason::PeerClosed);
                }
                Ok((n, rx_ns)) => {
                    gateway.received(rx_ns, n, ouch_timestamp_now(), |e| {
                        on_event(ServerEvent::Gateway(e))
                    });
                }
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    gateway.close(CloseReason::Io(e.kind()));
                }
            }
            gateway.poll(clock.now_ns());
        };
        let closed_at_ns = clock.now_ns();
        on_event(ServerEvent::Closed {
            reason,
            at_ns: closed_at_ns,
        });
        let unsent_bytes = self.linger(&mut stream, &mut gateway);
        Ok(RunReport {
            peer,
            close_reason: reason,
            closed_at_ns,
            session: gateway.session().stats(),
            responder: gateway.responder().stats(),
            clock: clock.domain(),
            unstamped_reads: clock.unstamped_reads(),
            unsent_bytes,
        })
    }

    fn accept(&self) -> Result<(TcpStream, SocketAddr), ServerError> {
        let addr = self.addr;
        let accept_error = |source| ServerError::Accept { addr, source };
        self.listener.set_nonblocking(true).map_err(accept_error)?;
        let deadline = Instant::now() + self.cfg.accept_timeout;
        loop {
            match self.listener.accept() {
                Ok(accepted) => return Ok(accepted),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::ConnectionAborted => {
                    if self.stop.load(Ordering::Acquire) {
                        return Err(ServerError::Stopped { addr });
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(ServerError::AcceptTimeout {
                            addr,
                            timeout: self.cfg.accept_timeout,
                        });
                    }
                    thread::sleep(ACCEPT_POLL.min(deadline - now));
                }
                Err(e) => return Err(accept_error(e)),
            }
        }
    }

    /// After the close: writes what is left, shuts down our side, and waits for the
    /// client's close, all within `close_linger`. Returns the bytes never written.
    fn linger(&self, stream: &mut TcpStream, gateway: &mut Gateway) -> usize {
        let deadline = Instant::now() + self.cfg.close_linger;
        while !gateway.pending_output().is_empty() && Instant::now() < deadline {
            if flush(stream, gateway).is_err() {
                break;
            }
        }
        let unsent = gateway.pending_output().len();
        let _ = stream.shutdown(Shutdown::Write);
        // Reading to EOF keeps unread input from turning our close into a reset,
        // which could destroy the last packets before the client reads them.
        let mut sink = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() || stream.set_read_timeout(Some(left.max(MIN_WAIT))).is_err() {
                break;
            }
            match stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        unsent
    }
}
