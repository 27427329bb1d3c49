//! A sans-IO SoupBinTCP 3.00 server session: the exchange side of one order
//! connection, with the socket and the clock left to the caller.
//!
//! The caller reads socket bytes into [`Session::receive_buffer`] and reports them
//! with [`Session::received`] (or copies them in with [`Session::on_bytes`]); every
//! whole packet is acted on and what the caller must see comes out as an [`Event`]
//! through a closure, together with an [`Outbox`] through which the closure can
//! answer with Sequenced Data right away. The caller writes
//! [`Session::pending_output`] to the socket and reports what it took with
//! [`Session::output_written`], and calls [`Session::poll`] no later than
//! [`Session::next_deadline`]. Time is any monotonic nanosecond count, passed in.
//!
//! States ([`State`]): `AwaitingLogin` → a Login Request with the configured
//! credentials → `LoggedIn` (Login Accepted sent) → `Closed(reason)`. A wrong
//! username or password gets Login Rejected `A` (not authorized); a Requested
//! Session that is neither blank nor ours gets Login Rejected `S` (session not
//! available); both close. From `LoggedIn` a Logout Request, a silent client, our
//! own [`Session::end_of_session`] (End of Session sent) or a protocol violation
//! close the session. A closed session may still hold output (Login Rejected, End of
//! Session): the driver writes it out, then closes the socket.
//!
//! Timers (SoupBinTCP 3.00 section 1.2: both sides send a heartbeat after one
//! second without sending anything; "typically 15 seconds" without receiving means
//! the link is gone): a Server Heartbeat goes out after `heartbeat_interval_ns` of
//! send silence while logged in; `client_timeout_ns` of receive silence closes the
//! session, counted from construction (the connect) while awaiting the login.
//!
//! Sequence numbers: the venue keeps no history across connections, so it cannot
//! replay. A Requested Sequence Number of 0 ("from the most recent") or 1 starts at
//! 1; a larger one `n` is honoured as if messages `1..n` had been delivered in an
//! earlier connection, so a DUT that reconnects and asks for `n` sees no gap. Login
//! Accepted carries that number and Sequenced Data continues from it.
//!
//! Garbage never panics and never allocates: it closes the session with a typed
//! [`CloseReason`] naming the byte offset in the client's stream. The session
//! looks at each packet's header as soon as its three bytes are there, so a Packet
//! Length of 0, a length above [`SessionConfig::max_packet_len`] (default
//! [`DEFAULT_MAX_PACKET_LEN`] = 4096, at most 65535), a packet type a client may not
//! send (server types, undefined types) or anything but a Login Request before the
//! login closes at once rather than after waiting for a declared length of junk.
//! Debug packets are allowed in every state.
//!
//! Both buffers are allocated once, in [`Session::new`]; after that nothing
//! allocates: orders are handed out as slices of the receive buffer and answers are
//! encoded in place into the output buffer. An output buffer the client does not
//! drain (default 1 MiB) closes the session as a slow consumer
//! ([`CloseReason::OutputOverflow`]) rather than growing.
//!
//! ```
//! use ticklab::proto::soupbintcp;
//! use ticklab::venue::session::{Event, Session, SessionConfig, State};
//! let mut s = Session::new(SessionConfig::new("USER", "PASS"), 0).unwrap();
//! let mut login = [0u8; 64];
//! let n = soupbintcp::write_login_request(&mut login, b"USER", b"PASS", b"", 1).unwrap();
//! s.on_bytes(1, &login[..n], |_, _| {});
//! assert_eq!(s.state(), State::LoggedIn);
//! let mut order = [0u8; 16];
//! let n = soupbintcp::write_unsequenced_data(&mut order, b"O...").unwrap();
//! let mut got = Vec::new();
//! s.on_bytes(2, &order[..n], |event, outbox| {
//!     if let Event::Order { payload, rx_ns, .. } = event {
//!         got.push((payload.to_vec(), rx_ns));
//!         outbox.send_sequenced(|buf| { buf[..3].copy_from_slice(b"ack"); Ok(3) }).unwrap();
//!     }
//! });
//! assert_eq!(got, vec![(b"O...".to_vec(), 2)]);
//! // Login Accepted (33 bytes) then the answer (6 bytes) wait for the socket.
//! assert_eq!(s.pending_output().len(), 33 + 6);
//! ```

use core::fmt;

use super::responder::BadOrder;
use super::ConfigError;
use crate::codec::{pad_alpha, trim_alpha, Error};
use crate::proto::soupbintcp::{self, packet_type, Packet, RejectReason};

/// The largest packet SoupBinTCP can frame: the 2-byte length and 65535 bytes.
pub const MAX_PACKET: usize = soupbintcp::LENGTH_LEN + u16::MAX as usize;
/// Default limit on a client packet's Packet Length (type byte plus payload).
/// An OUCH 5.0 order with a generous appendage is a few hundred bytes and a Login
/// Request 47; anything near 4 KiB from a trading core is junk.
pub const DEFAULT_MAX_PACKET_LEN: u16 = 4096;
/// Default output buffer: about ten thousand OUCH answers the client has not read.
pub const DEFAULT_OUTPUT_CAPACITY: usize = 1 << 20;
/// SoupBinTCP's heartbeat interval.
pub const DEFAULT_HEARTBEAT_INTERVAL_NS: u64 = 1_000_000_000;
/// SoupBinTCP's "typically 15 seconds" of silence before the link counts as lost.
pub const DEFAULT_CLIENT_TIMEOUT_NS: u64 = 15_000_000_000;
/// Default session name in Login Accepted.
pub const DEFAULT_SESSION_NAME: &str = "TICKLAB";

/// Credentials, session name, timers and buffer limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Expected Username, up to 6 characters. Compared byte for byte with the
    /// request's field after trailing spaces are removed (SoupBinTCP pads alpha
    /// fields on the right); no case folding.
    pub username: String,
    /// Expected Password, up to 10 characters, compared like the username.
    pub password: String,
    /// Session name sent in Login Accepted, up to 10 characters. A Login Request
    /// must name it or leave Requested Session blank.
    pub session: String,
    /// Send a Server Heartbeat after this long without sending anything.
    pub heartbeat_interval_ns: u64,
    /// Close after this long without receiving anything.
    pub client_timeout_ns: u64,
    /// Largest Packet Length (type byte plus payload) accepted from the client,
    /// 47 (a Login Request) to 65535.
    pub max_packet_len: u16,
    /// Bytes of unwritten output held before the client counts as a slow consumer;
    /// at least [`MAX_PACKET`].
    pub output_capacity: usize,
}

impl SessionConfig {
    /// These credentials with the defaults: session [`DEFAULT_SESSION_NAME`], 1 s
    /// heartbeats, 15 s client timeout, 4096-byte packets, 1 MiB of output.
    pub fn new(username: &str, password: &str) -> Self {
        SessionConfig {
            username: username.into(),
            password: password.into(),
            session: DEFAULT_SESSION_NAME.into(),
            heartbeat_interval_ns: DEFAULT_HEARTBEAT_INTERVAL_NS,
            client_timeout_ns: DEFAULT_CLIENT_TIMEOUT_NS,
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            output_capacity: DEFAULT_OUTPUT_CAPACITY,
        }
    }

    /// Checks field widths, timers and limits (what [`Session::new`] refuses).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_len("username", &self.username, soupbintcp::USERNAME_LEN)?;
        check_len("password", &self.password, soupbintcp::PASSWORD_LEN)?;
        check_len("session", &self.session, soupbintcp::SESSION_LEN)?;
        if self.heartbeat_interval_ns == 0 {
            return Err(ConfigError::Zero {
                field: "heartbeat_interval_ns",
            });
        }
        if self.client_timeout_ns == 0 {
            return Err(ConfigError::Zero {
                field: "client_timeout_ns",
            });
        }
        let min_packet = (1 + soupbintcp::LOGIN_REQUEST_LEN) as u16;
        if self.max_packet_len < min_packet {
            return Err(ConfigError::MaxPacketTooSmall {
                value: self.max_packet_len,
                min: min_packet,
            });
        }
        if self.output_capacity < MAX_PACKET {
            return Err(ConfigError::OutputTooSmall {
                value: self.output_capacity,
                min: MAX_PACKET,
            });
        }
        Ok(())
    }
}

/// The part of the session a packet arrived in, for [`CloseReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    AwaitingLogin,
    LoggedIn,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::AwaitingLogin => "awaiting login",
            Phase::LoggedIn => "logged in",
        })
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    AwaitingLogin,
    LoggedIn,
    /// For good; output may still be pending.
    Closed(CloseReason),
}

/// Why a session closed. `stream_offset` is the offset of the offending packet in
/// the bytes the client sent on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("login rejected: {}", reject_text(*.0))]
    LoginRejected(RejectReason),
    #[error("no Login Request within {waited_ns} ns of the connection")]
    LoginTimeout { waited_ns: u64 },
    #[error("the client sent nothing for {silent_ns} ns")]
    ClientTimeout { silent_ns: u64 },
    #[error("the client logged out")]
    ClientLogout,
    #[error("end of session")]
    EndOfSession,
    #[error("malformed packet at stream offset {stream_offset}: {error}")]
    Malformed { error: Error, stream_offset: u64 },
    #[error(
        "packet at stream offset {stream_offset} declares Packet Length {declared}, \
         above the limit of {max}"
    )]
    PacketTooLarge {
        declared: u16,
        max: u16,
        stream_offset: u64,
    },
    #[error(
        "packet type {} at stream offset {stream_offset} is not allowed while {phase}",
        type_text(*type_byte)
    )]
    UnexpectedPacket {
        type_byte: u8,
        phase: Phase,
        stream_offset: u64,
    },
    #[error(
        "unknown packet type {} at stream offset {stream_offset}",
        type_text(*type_byte)
    )]
    UnknownPacketType { type_byte: u8, stream_offset: u64 },
    #[error(
        "the client is not reading: output buffer full ({needed} bytes needed, {available} free)"
    )]
    OutputOverflow { needed: usize, available: usize },
    #[error("bad order: {0}")]
    BadOrder(BadOrder),
    #[error("the client closed the connection")]
    PeerClosed,
    #[error("socket error: {0}")]
    Io(std::io::ErrorKind),
}

fn reject_text(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::NotAuthorized => "A (not authorized)",
        RejectReason::SessionNotAvailable => "S (session not available)",
        RejectReason::Unknown(_) => "an undefined code",
    }
}

struct TypeText(u8);

impl fmt::Display for TypeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

fn type_text(type_byte: u8) -> TypeText {
    TypeText(type_byte)
}

impl CloseReason {
    /// True when the session ended as SoupBinTCP intends (the client logged out, or
    /// we ended it); everything else is a fault of the client, the link or the run.
    pub fn is_orderly(&self) -> bool {
        matches!(self, CloseReason::ClientLogout | CloseReason::EndOfSession)
    }
}

/// Something the client did that the caller must see. Slices borrow the receive
/// buffer and live until the closure returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Login Accepted was queued.
    LoggedIn {
        /// The username, without padding.
        username: &'a [u8],
        /// Sequence number of the first Sequenced Data message.
        next_sequence: u64,
    },
    /// Login Rejected was queued; the session is closed.
    LoginRejected {
        reason: RejectReason,
    },
    /// An Unsequenced Data payload (an OUCH message from the DUT), with the time of
    /// the read that completed it and the offset just past its packet in the bytes
    /// the client sent (what a tap on the wire finds in the TCP sequence numbers).
    Order {
        payload: &'a [u8],
        rx_ns: u64,
        stream_end: u64,
    },
    ClientHeartbeat {
        rx_ns: u64,
    },
    /// A Debug packet's text.
    Debug {
        text: &'a [u8],
    },
}

/// Why an answer could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The output buffer is full: the session is now closed as
    /// [`CloseReason::OutputOverflow`].
    #[error("output buffer full ({needed} bytes needed, {available} free)")]
    OutputFull { needed: usize, available: usize },
    /// The encoder refused (a builder error); nothing was queued.
    #[error("encoding failed: {0}")]
    Encode(Error),
    /// Sequenced Data only flows while logged in.
    #[error("the session is not logged in")]
    NotLoggedIn,
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    pub bytes_received: u64,
    pub packets_received: u64,
    pub orders_received: u64,
    pub client_heartbeats: u64,
    pub debug_received: u64,
    pub server_heartbeats: u64,
    pub sequenced_sent: u64,
}

/// A byte queue in one fixed buffer: `start..end` is pending.
#[derive(Debug)]
struct ByteQueue {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl ByteQueue {
    fn new(capacity: usize) -> Self {
        ByteQueue {
            buf: vec![0u8; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Free space behind the pending bytes, moving them to the front first when
    /// fewer than `want` bytes are free behind them.
    fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.buf.len() - self.end < want && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    fn commit(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }
}

/// The sending half of the session: output queue, sequence numbers, send clock.
#[derive(Debug)]
struct Tx {
    queue: ByteQueue,
    next_sequence: u64,
    last_sent_ns: u64,
    sequenced_sent: u64,
    server_heartbeats: u64,
}

impl Tx {
    /// Queues one packet that `write` builds in place; `Err` is the close reason
    /// when it did not fit.
    fn queue(
        &mut self,
        now_ns: u64,
        write: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<(), SendError> {
        let spare = self.queue.spare(MAX_PACKET);
        let available = spare.len();
        match write(spare) {
            Ok(n) => {
                self.queue.commit(n);
                self.last_sent_ns = now_ns;
                Ok(())
            }
            Err(Error::Truncated {
                field: "buffer",
                needed,
                ..
            }) => Err(SendError::OutputFull { needed, available }),
            Err(other) => Err(SendError::Encode(other)),
        }
    }
}

/// Lets an event handler answer at once: queue Sequenced Data, or close the
/// session. Borrowed from the session for the duration of one event.
#[derive(Debug)]
pub struct Outbox<'s> {
    tx: &'s mut Tx,
    logged_in: bool,
    now_ns: u64,
    close: &'s mut Option<CloseReason>,
}

impl Outbox<'_> {
    /// Queues one Sequenced Data message that `encode` writes in place (returning
    /// its length); returns the sequence number it carries. A full output buffer
    /// closes the session ([`CloseReason::OutputOverflow`]).
    pub fn send_sequenced(
        &mut self,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<u64, SendError> {
        if !self.logged_in || self.close.is_some() {
            return Err(SendError::NotLoggedIn);
        }
        let result = self.tx.queue(self.now_ns, |buf| {
            let mut w = soupbintcp::begin_sequenced(buf)?;
            let n = encode(w.payload_mut())?;
            w.finish(n)
        });
        match result {
            Ok(()) => {
                let sequence = self.tx.next_sequence;
                self.tx.next_sequence = sequence.wrapping_add(1);
                self.tx.sequenced_sent += 1;
                Ok(sequence)
            }
            Err(SendError::OutputFull { needed, available }) => {
                self.close
                    .get_or_insert(CloseReason::OutputOverflow { needed, available });
                Err(SendError::OutputFull { needed, available })
            }
            Err(e) => Err(e),
        }
    }

    /// The sequence number the next Sequenced Data message will carry.
    pub fn next_sequence(&self) -> u64 {
        self.tx.next_sequence
    }

    /// Closes the session once the current event returns; later packets in the
    /// same read are dropped. The first reason given wins.
    pub fn close(&mut self, reason: CloseReason) {
        self.close.get_or_insert(reason);
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Session {
    username: [u8; soupbintcp::USERNAME_LEN],
    password: [u8; soupbintcp::PASSWORD_LEN],
    session: [u8; soupbintcp::SESSION_LEN],
    heartbeat_interval_ns: u64,
    client_timeout_ns: u64,
    max_packet_len: u16,
    state: State,
    input: ByteQueue,
    /// Client bytes consumed (framed) so far: the stream offset of the next packet.
    consumed: u64,
    tx: Tx,
    last_received_ns: u64,
    stats: SessionStats,
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), ConfigError> {
    if value.len() > max {
        return Err(ConfigError::FieldTooLong { field, max });
    }
    Ok(())
}

/// The Packet Types a client may send.
fn is_client_type(type_byte: u8) -> bool {
    matches!(
        type_byte,
        packet_type::DEBUG
            | packet_type::LOGIN_REQUEST
            | packet_type::UNSEQUENCED_DATA
            | packet_type::CLIENT_HEARTBEAT
            | packet_type::LOGOUT_REQUEST
    )
}

/// The Packet Types a server sends, which a client must not.
fn is_server_type(type_byte: u8) -> bool {
    matches!(
        type_byte,
        packet_type::LOGIN_ACCEPTED
            | packet_type::LOGIN_REJECTED
            | packet_type::SEQUENCED_DATA
            | packet_type::SERVER_HEARTBEAT
            | packet_type::END_OF_SESSION
    )
}

impl Session {
    /// Validates `cfg` and allocates both buffers; `now_ns` is the connect time,
    /// from which the login timeout runs.
    pub fn new(cfg: SessionConfig, now_ns: u64) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let max_wire = soupbintcp::LENGTH_LEN + usize::from(cfg.max_packet_len);
        Ok(Session {
            username: pad_alpha(cfg.username.as_bytes()),
            password: pad_alpha(cfg.password.as_bytes()),
            session: pad_alpha(cfg.session.as_bytes()),
            heartbeat_interval_ns: cfg.heartbeat_interval_ns,
            client_timeout_ns: cfg.client_timeout_ns,
            max_packet_len: cfg.max_packet_len,
            state: State::AwaitingLogin,
            // Room for one whole packet behind any partial one, and for a read of
            // many small orders at once.
            input: ByteQueue::new((2 * max_wire).max(16 * 1024)),
            consumed: 0,
            tx: Tx {
                queue: ByteQueue::new(cfg.output_capacity),
                next_sequence: 1,
                last_sent_ns: now_ns,
                sequenced_sent: 0,
                server_heartbeats: 0,
            },
            last_received_ns: now_ns,
            stats: SessionStats::default(),
        })
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.state {
            State::Closed(reason) => Some(reason),
            _ => None,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// The session name (space padded) sent in Login Accepted.
    pub fn session_name(&self) -> &[u8; soupbintcp::SESSION_LEN] {
        &self.session
    }

    /// Sequence number of the next Sequenced Data message.
    pub fn next_sequence(&self) -> u64 {
        self.tx.next_sequence
    }

    pub fn stats(&self) -> SessionStats {
        SessionStats {
            sequenced_sent: self.tx.sequenced_sent,
            server_heartbeats: self.tx.server_heartbeats,
            ..self.stats
        }
    }

    /// Bytes waiting to be written to the socket (also after the session closed).
    pub fn pending_output(&self) -> &[u8] {
        self.tx.queue.pending()
    }

    /// The socket took `n` bytes of [`Session::pending_output`].
    pub fn output_written(&mut self, n: usize) {
        self.tx.queue.consume(n);
    }

    /// Where to read socket bytes into; always room for at least one whole packet
    /// of the configured maximum. Then call [`Session::received`].
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        self.input
            .spare(soupbintcp::LENGTH_LEN + usize::from(self.max_packet_len))
    }

    /// Copies `bytes` in and processes them: a convenience over
    /// [`Session::receive_buffer`] and [`Session::received`]. Returns the close
    /// reason if the session closed during the call.
    pub fn on_bytes(
        &mut self,
        now_ns: u64,
        mut bytes: &[u8],
        mut on_event: impl FnMut(Event<'_>, &mut Outbox<'_>),
    ) -> Option<CloseReason> {
        while !bytes.is_empty() && !self.is_closed() {
            let spare = self.receive_buffer();
            let n = spare.len().min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if let Some(reason) = self.received(now_ns, n, &mut on_event) {
                return Some(reason);
            }
        }
        None
    }

    /// `n` bytes were read into [`Session::receive_buffer`] at `now_ns`: acts on
    /// every whole packet, handing events to `on_event`. A partial packet waits for
    /// more bytes. Returns the close reason if the session closed during the call;
    /// bytes received after the close are dropped.
    pub fn received(
        &mut self,
        now_ns: u64,
        n: usize,
        mut on_event: impl FnMut(Event<'_>, &mut Outbox<'_>),
    ) -> Option<CloseReason> {
        if self.is_closed() {
            return None;
        }
        self.input.commit(n);
        if n > 0 {
            self.last_received_ns = now_ns;
            self.stats.bytes_received += n as u64;
        }
        let closed = self.process(now_ns, &mut on_event);
        if let Some(reason) = closed {
            self.state = State::Closed(reason);
            self.input.clear();
        }
        closed
    }

    /// Frames and handles packets until the input runs out or the session closes.
    fn process(
        &mut self,
        now_ns: u64,
        on_event: &mut impl FnMut(Event<'_>, &mut Outbox<'_>),
    ) -> Option<CloseReason> {
        loop {
            let pending = self.input.pending();
            let stream_offset = self.consumed;
            if let Some(reason) = self.check_header(pending, stream_offset) {
                return Some(reason);
            }
            let (packet, used) = match soupbintcp::frame(pending) {
                Ok(Some(framed)) => framed,
                Ok(None) => return None,
                Err(error) => {
                    return Some(CloseReason::Malformed {
                        error,
                        stream_offset,
                    })
                }
            };
            self.stats.packets_received += 1;
            let mut close = None;
            let phase = match self.state {
                State::AwaitingLogin => Phase::AwaitingLogin,
                State::LoggedIn => Phase::LoggedIn,
                State::Closed(reason) => return Some(reason),
            };
            let unexpected = CloseReason::UnexpectedPacket {
                type_byte: packet.type_byte(),
                phase,
                stream_offset,
            };
            match (phase, packet) {
                (_, Packet::Debug { text }) => {
                    self.stats.debug_received += 1;
                    let mut outbox = Outbox {
                        tx: &mut self.tx,
                        logged_in: phase == Phase::LoggedIn,
                        now_ns,
                        close: &mut close,
                    };
                    on_event(Event::Debug { text }, &mut outbox);
                }
                (
                    Phase::AwaitingLogin,
                    Packet::LoginRequest {
                        username,
                        password,
                        requested_session,
                        requested_sequence_number,
                    },
                ) => {
                    let verdict = if trim_alpha(username) != trim_alpha(&self.username)
                        || trim_alpha(password) != trim_alpha(&self.password)
                    {
                        Err(RejectReason::NotAuthorized)
                    } else if !trim_alpha(requested_session).is_empty()
                        && trim_alpha(requested_session) != trim_alpha(&self.session)
                    {
                        Err(RejectReason::SessionNotAvailable)
                    } else {
                        Ok(requested_sequence_number.max(1))
                    };
                    let mut outbox = Outbox {
                        tx: &mut self.tx,
                        logged_in: false,
                        now_ns,
                        close: &mut close,
                    };
                    match verdict {
                        Ok(next_sequence) => {
                            let session = self.session;
                            match outbox.tx.queue(now_ns, |buf| {
                                soupbintcp::write_login_accepted(buf, &session, next_sequence)
                            }) {
                                Ok(()) => {
                                    outbox.tx.next_sequence = next_sequence;
                                    outbox.logged_in = true;
                                    self.state = State::LoggedIn;
                                    on_event(
                                        Event::LoggedIn {
                                            username: trim_alpha(username),
                                            next_sequence,
                                        },
                                        &mut outbox,
                                    );
                                }
                                Err(e) => outbox.close(overflow(e)),
                            }
                        }
                        Err(reason) => {
                            if let Err(e) = outbox
                                .tx
                                .queue(now_ns, |buf| soupbintcp::write_login_rejected(buf, reason))
                            {
                                outbox.close(overflow(e));
                            }
                            outbox.close(CloseReason::LoginRejected(reason));
                            on_event(Event::LoginRejected { reason }, &mut outbox);
                        }
                    }
                }
                (Phase::LoggedIn, Packet::UnsequencedData { message }) => {
                    self.stats.orders_received += 1;
                    let mut outbox = Outbox {
                        tx: &mut self.tx,
                        logged_in: true,
                        now_ns,
                        close: &mut close,
                    };
                    on_event(
                        Event::Order {
                            payload: message,
                            rx_ns: now_ns,
                            stream_end: stream_offset + used as u64,
                        },
                        &mut outbox,
                    );
                }
                (Phase::LoggedIn, Packet::ClientHeartbeat) => {
                    self.stats.client_heartbeats += 1;
                    let mut outbox = Outbox {
                        tx: &mut self.tx,
                        logged_in: true,
                        now_ns,
                        close: &mut close,
                    };
                    on_event(Event::ClientHeartbeat { rx_ns: now_ns }, &mut outbox);
                }
                (_, Packet::LogoutRequest) => close = Some(CloseReason::ClientLogout),
                // A second login, data or heartbeats before the login: the header
                // check let them through only because the type is a client type.
                _ => close = Some(unexpected),
            }
            self.input.consume(used);
            self.consumed += used as u64;
            if close.is_some() {
                return close;
            }
        }
    }

    /// Judges a packet by its first three bytes: length limits and whether a client
    /// may send this type now. `None` lets framing go on.
    fn check_header(&self, pending: &[u8], stream_offset: u64) -> Option<CloseReason> {
        let [hi, lo, rest @ ..] = pending else {
            return None;
        };
        let declared = u16::from_be_bytes([*hi, *lo]);
        if declared > self.max_packet_len {
            return Some(CloseReason::PacketTooLarge {
                declared,
                max: self.max_packet_len,
                stream_offset,
            });
        }
        // A zero length is left to `frame`, which names it.
        let &type_byte = rest.first()?;
        if declared == 0 {
            return None;
        }
        if is_server_type(type_byte) {
            let phase = match self.state {
                State::LoggedIn => Phase::LoggedIn,
                _ => Phase::AwaitingLogin,
            };
            return Some(CloseReason::UnexpectedPacket {
                type_byte,
                phase,
                stream_offset,
            });
        }
        if !is_client_type(type_byte) {
            return Some(CloseReason::UnknownPacketType {
                type_byte,
                stream_offset,
            });
        }
        if self.state == State::AwaitingLogin
            && !matches!(
                type_byte,
                packet_type::LOGIN_REQUEST | packet_type::DEBUG | packet_type::LOGOUT_REQUEST
            )
        {
            return Some(CloseReason::UnexpectedPacket {
                type_byte,
                phase: Phase::AwaitingLogin,
                stream_offset,
            });
        }
        None
    }

    /// Runs the timers: closes after `client_timeout_ns` without receiving, queues
    /// a Server Heartbeat after `heartbeat_interval_ns` without sending. Returns the
    /// close reason if the session closed during the call.
    pub fn poll(&mut self, now_ns: u64) -> Option<CloseReason> {
        let logged_in = match self.state {
            State::AwaitingLogin => false,
            State::LoggedIn => true,
            State::Closed(_) => return None,
        };
        let silent_ns = now_ns.saturating_sub(self.last_received_ns);
        if silent_ns >= self.client_timeout_ns {
            let reason = if logged_in {
                CloseReason::ClientTimeout { silent_ns }
            } else {
                CloseReason::LoginTimeout {
                    waited_ns: silent_ns,
                }
            };
            return self.close(reason);
        }
        if logged_in && now_ns.saturating_sub(self.tx.last_sent_ns) >= self.heartbeat_interval_ns {
            match self.tx.queue(now_ns, soupbintcp::write_server_heartbeat) {
                Ok(()) => self.tx.server_heartbeats += 1,
                Err(e) => return self.close(overflow(e)),
            }
        }
        None
    }

    /// The latest time [`Session::poll`] must next run; `None` once closed.
    pub fn next_deadline(&self) -> Option<u64> {
        let timeout = self.last_received_ns.saturating_add(self.client_timeout_ns);
        match self.state {
            State::AwaitingLogin => Some(timeout),
            State::LoggedIn => Some(
                timeout.min(
                    self.tx
                        .last_sent_ns
                        .saturating_add(self.heartbeat_interval_ns),
                ),
            ),
            State::Closed(_) => None,
        }
    }

    /// Queues one Sequenced Data message outside an event (a System Event, an
    /// unsolicited message); see [`Outbox::send_sequenced`].
    pub fn send_sequenced(
        &mut self,
        now_ns: u64,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<u64, SendError> {
        let mut close = None;
        let mut outbox = Outbox {
            tx: &mut self.tx,
            logged_in: self.state == State::LoggedIn,
            now_ns,
            close: &mut close,
        };
        let result = outbox.send_sequenced(encode);
        if let Some(reason) = close {
            self.close(reason);
        }
        result
    }

    /// Ends the session as the exchange: queues End of Session (when logged in) and
    /// closes with [`CloseReason::EndOfSession`]. Nothing happens once closed.
    pub fn end_of_session(&mut self, now_ns: u64) -> Option<CloseReason> {
        match self.state {
            State::Closed(_) => None,
            State::AwaitingLogin => self.close(CloseReason::EndOfSession),
            State::LoggedIn => match self.tx.queue(now_ns, soupbintcp::write_end_of_session) {
                Ok(()) => self.close(CloseReason::EndOfSession),
                Err(e) => self.close(overflow(e)),
            },
        }
    }

    /// Closes the session for a reason the driver found (the peer closed, a socket
    /// error, a bad order). Returns the reason if this call closed it.
    pub fn close(&mut self, reason: CloseReason) -> Option<CloseReason> {
        if self.is_closed() {
            return None;
        }
        self.state = State::Closed(reason);
        self.input.clear();
        Some(reason)
    }
}

fn overflow(e: SendError) -> CloseReason {
    match e {
        SendError::OutputFull { needed, available } => {
            CloseReason::OutputOverflow { needed, available }
        }
        // Session packets are fixed builders over validated fields; a refusal can
        // only be a full buffer. Report it as one rather than panic.
        SendError::Encode(_) | SendError::NotLoggedIn => CloseReason::OutputOverflow {
            needed: 0,
            available: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: u64 = 1_000_000_000;

    fn cfg() -> SessionConfig {
        SessionConfig::new("USER", "SECRET")
    }

    fn login(user: &[u8], pass: &[u8], session: &[u8], seq: u64) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = soupbintcp::write_login_request(&mut buf, user, pass, session, seq).unwrap();
        buf[..n].to_vec()
    }

    fn unsequenced(payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; payload.len() + 3];
        let n = soupbintcp::write_unsequenced_data(&mut buf, payload).unwrap();
        buf.truncate(n);
        buf
    }

    /// Takes all pending output, as (packet type, payload) per packet.
    fn drain(s: &mut Session) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = s.pending_output();
        while let Some((p, used)) = soupbintcp::frame(rest).unwrap() {
            out.push((p.type_byte(), rest[3..used].to_vec()));
            rest = &rest[used..];
        }
        assert!(rest.is_empty(), "partial packet in output");
        let n = s.pending_output().len();
        s.output_written(n);
        out
    }

    /// Feeds bytes, collecting events as text, answering nothing.
    fn feed(s: &mut Session, now: u64, bytes: &[u8]) -> (Vec<String>, Option<CloseReason>) {
        let mut events = Vec::new();
        let closed = s.on_bytes(now, bytes, |e, _| events.push(format!("{e:?}")));
        (events, closed)
    }

    fn logged_in(now: u64) -> Session {
        let mut s = Session::new(cfg(), now).unwrap();
        let (events, closed) = feed(&mut s, now, &login(b"USER", b"SECRET", b"", 1));
        assert_eq!(closed, None);
        assert_eq!(
            events,
            vec![r#"LoggedIn { username: [85, 83, 69, 82], next_sequence: 1 }"#]
        );
        assert_eq!(s.state(), State::LoggedIn);
        s
    }

    #[test]
    fn login_accepted_names_the_session_and_the_next_sequence() {
        let mut s = logged_in(0);
        // SoupBinTCP 3.00 section 2.2.1: length 31, 'A', Session (10 alpha, padded
        // on the right), Sequence Number (20 numeric, padded on the left).
        let mut expected = b"\x00\x1fATICKLAB   ".to_vec();
        expected.extend_from_slice(b"                   1");
        assert_eq!(s.pending_output(), &expected[..]);
        drain(&mut s);
        assert_eq!(s.next_sequence(), 1);
        assert_eq!(s.session_name(), b"TICKLAB   ");
    }

    #[test]
    fn requested_sequence_numbers_sequenced_data() {
        for (requested, first) in [(0, 1), (1, 1), (5, 5)] {
            let mut s = Session::new(cfg(), 0).unwrap();
            feed(&mut s, 0, &login(b"USER", b"SECRET", b"TICKLAB", requested));
            let accepted = drain(&mut s);
            assert_eq!(accepted.len(), 1);
            assert_eq!(
                &accepted[0].1[10..],
                &soupbintcp::format_sequence_number(first)
            );
            let seq = s
                .send_sequenced(1, |buf| {
                    buf[0] = b'x';
                    Ok(1)
                })
                .unwrap();
            assert_eq!(seq, first);
            assert_eq!(s.next_sequence(), first + 1);
            assert_eq!(drain(&mut s), vec![(b'S', b"x".to_vec())]);
        }
    }

    #[test]
    fn wrong_credentials_are_not_authorized() {
        for (user, pass) in [
            (&b"USER"[..], &b"WRONG"[..]),
            (b"OTHER", b"SECRET"),
            (b"user", b"SECRET"),
            (b"USER", b""),
        ] {
            let mut s = Session::new(cfg(), 0).unwrap();
            let (events, closed) = feed(&mut s, 3, &login(user, pass, b"", 1));
            assert_eq!(events, vec!["LoginRejected { reason: NotAuthorized }"]);
            assert_eq!(
                closed,
                Some(CloseReason::LoginRejected(RejectReason::NotAuthorized))
            );
            assert_eq!(s.pending_output(), b"\x00\x02JA");
            assert_eq!(s.next_deadline(), None);
            assert_eq!(s.poll(100 * SEC), None);
        }
    }

    #[test]
    fn wrong_session_is_not_available() {
        let mut s = Session::new(cfg(), 0).unwrap();
        let (events, closed) = feed(&mut s, 3, &login(b"USER", b"SECRET", b"OTHER", 1));
        assert_eq!(
            events,
            vec!["LoginRejected { reason: SessionNotAvailable }"]
        );
        assert_eq!(
            closed,
            Some(CloseReason::LoginRejected(
                RejectReason::SessionNotAvailable
            ))
        );
        assert_eq!(s.pending_output(), b"\x00\x02JS");
        // Bad credentials win over a bad session: 'A' is checked first.
        let mut s = Session::new(cfg(), 0).unwrap();
        feed(&mut s, 3, &login(b"USER", b"BAD", b"OTHER", 1));
        assert_eq!(s.pending_output(), b"\x00\x02JA");
    }

    #[test]
    fn server_heartbeat_after_one_second_of_send_silence() {
        let mut s = logged_in(0);
        drain(&mut s);
        assert_eq!(s.next_deadline(), Some(SEC));
        assert_eq!(s.poll(SEC - 1), None);
        assert!(s.pending_output().is_empty());
        assert_eq!(s.poll(SEC), None);
        assert_eq!(drain(&mut s), vec![(b'H', vec![])]);
        assert_eq!(s.stats().server_heartbeats, 1);
        assert_eq!(s.next_deadline(), Some(2 * SEC));
        // Sending an answer resets the heartbeat timer; receiving does not.
        s.send_sequenced(SEC + SEC / 2, |_| Ok(0)).unwrap();
        feed(&mut s, SEC + SEC / 2, b"\x00\x01R");
        drain(&mut s);
        assert_eq!(s.poll(2 * SEC), None);
        assert!(s.pending_output().is_empty());
        assert_eq!(s.next_deadline(), Some(2 * SEC + SEC / 2));
        s.poll(2 * SEC + SEC / 2);
        assert_eq!(drain(&mut s), vec![(b'H', vec![])]);
        assert_eq!(s.stats().client_heartbeats, 1);
    }

    #[test]
    fn no_heartbeats_before_login() {
        let mut s = Session::new(cfg(), 0).unwrap();
        assert_eq!(s.next_deadline(), Some(15 * SEC));
        assert_eq!(s.poll(14 * SEC), None);
        assert!(s.pending_output().is_empty());
    }

    #[test]
    fn silent_client_times_out() {
        let mut s = logged_in(0);
        feed(&mut s, 10 * SEC, b"\x00\x01R");
        for t in 11..25 {
            assert_eq!(s.poll(t * SEC), None);
        }
        assert_eq!(drain(&mut s).len(), 1 + 14); // Login Accepted, 14 heartbeats
        assert_eq!(s.next_deadline(), Some(25 * SEC));
        assert_eq!(
            s.poll(25 * SEC),
            Some(CloseReason::ClientTimeout {
                silent_ns: 15 * SEC
            })
        );
        assert_eq!(
            s.state(),
            State::Closed(CloseReason::ClientTimeout {
                silent_ns: 15 * SEC
            })
        );
        assert_eq!(s.poll(26 * SEC), None);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn login_must_come_within_the_timeout() {
        let mut cfg = cfg();
        cfg.client_timeout_ns = 2 * SEC;
        let mut s = Session::new(cfg, SEC).unwrap();
        assert_eq!(s.poll(3 * SEC - 1), None);
        assert_eq!(
            s.poll(3 * SEC),
            Some(CloseReason::LoginTimeout { waited_ns: 2 * SEC })
        );
        // A login after the close is ignored: nothing is sent.
        assert_eq!(
            feed(&mut s, 4 * SEC, &login(b"USER", b"SECRET", b"", 1)).1,
            None
        );
        assert!(s.pending_output().is_empty());
    }

    #[test]
    fn logout_closes_and_later_bytes_are_dropped() {
        let mut s = logged_in(0);
        let mut wire = b"\x00\x01O".to_vec();
        wire.extend_from_slice(&unsequenced(b"late"));
        let (events, closed) = feed(&mut s, 5, &wire);
        assert!(events.is_empty());
        assert_eq!(closed, Some(CloseReason::ClientLogout));
        assert!(CloseReason::ClientLogout.is_orderly());
        assert_eq!(s.stats().orders_received, 0);
        assert_eq!(s.send_sequenced(6, |_| Ok(0)), Err(SendError::NotLoggedIn));
        // Logout before the login is just as final.
        let mut s = Session::new(cfg(), 0).unwrap();
        assert_eq!(
            feed(&mut s, 1, b"\x00\x01O").1,
            Some(CloseReason::ClientLogout)
        );
    }

    #[test]
    fn end_of_session_is_sent_then_the_session_closes() {
        let mut s = logged_in(0);
        drain(&mut s);
        assert_eq!(s.end_of_session(7), Some(CloseReason::EndOfSession));
        assert_eq!(s.pending_output(), b"\x00\x01Z");
        assert_eq!(s.state(), State::Closed(CloseReason::EndOfSession));
        assert_eq!(s.end_of_session(8), None);
        assert_eq!(s.pending_output(), b"\x00\x01Z");
        // Before a login there is no session to end: nothing is sent.
        let mut s = Session::new(cfg(), 0).unwrap();
        assert_eq!(s.end_of_session(1), Some(CloseReason::EndOfSession));
        assert!(s.pending_output().is_empty());
    }

    #[test]
    fn garbage_closes_with_a_typed_reason() {
        let login_len = login(b"USER", b"SECRET", b"", 1).len() as u64;
        let cases: Vec<(&[u8], CloseReason)> = vec![
            (
                b"\x00\x00U",
                CloseReason::Malformed {
                    error: Error::Invalid {
                        protocol: "soupbintcp",
                        msg_type: None,
                        field: "packet_length",
                        offset: 0,
                        expected: "at least 1 (the packet type byte)",
                    },
                    stream_offset: login_len,
                },
            ),
            (
                b"\x10\x01U",
                CloseReason::PacketTooLarge {
                    declared: 0x1001,
                    max: DEFAULT_MAX_PACKET_LEN,
                    stream_offset: login_len,
                },
            ),
            (
                b"\x00\x05Qabcd",
                CloseReason::UnknownPacketType {
                    type_byte: b'Q',
                    stream_offset: login_len,
                },
            ),
            // Server packets from the client, decided on the header alone.
            (
                b"\x00\x05S",
                CloseReason::UnexpectedPacket {
                    type_byte: b'S',
                    phase: Phase::LoggedIn,
                    stream_offset: login_len,
                },
            ),
            (
                b"\x00\x01H",
                CloseReason::UnexpectedPacket {
                    type_byte: b'H',
                    phase: Phase::LoggedIn,
                    stream_offset: login_len,
                },
            ),
            // A heartbeat with a payload.
            (
                b"\x00\x02Rx",
                CloseReason::Malformed {
                    error: Error::Invalid {
                        protocol: "soupbintcp",
                        msg_type: Some(b'R'),
                        field: "packet_length",
                        offset: 0,
                        expected: "1 (Client Heartbeat has no payload)",
                    },
                    stream_offset: login_len,
                },
            ),
        ];
        for (garbage, reason) in cases {
            let mut s = logged_in(0);
            let (events, closed) = feed(&mut s, 9, garbage);
            assert!(events.is_empty(), "{garbage:?}: {events:?}");
            assert_eq!(closed, Some(reason), "{garbage:?}");
            assert_eq!(s.close_reason(), Some(reason));
            assert!(!reason.is_orderly());
        }
        // A second Login Request.
        let mut s = logged_in(0);
        assert_eq!(
            feed(&mut s, 9, &login(b"USER", b"SECRET", b"", 1)).1,
            Some(CloseReason::UnexpectedPacket {
                type_byte: b'L',
                phase: Phase::LoggedIn,
                stream_offset: login_len
            })
        );
    }

    #[test]
    fn data_before_login_is_refused() {
        for (wire, type_byte) in [
            (unsequenced(b"O123"), b'U'),
            (b"\x00\x01R".to_vec(), b'R'),
            (b"\x00\x1fA".to_vec(), b'A'),
        ] {
            let mut s = Session::new(cfg(), 0).unwrap();
            let (events, closed) = feed(&mut s, 1, &wire);
            assert!(events.is_empty());
            assert_eq!(
                closed,
                Some(CloseReason::UnexpectedPacket {
                    type_byte,
                    phase: Phase::AwaitingLogin,
                    stream_offset: 0
                })
            );
            assert!(s.pending_output().is_empty());
        }
        // A Login Request of the SoupBinTCP 4.x size is malformed for 3.00.
        let mut v4 = login(b"USER", b"SECRET", b"", 1);
        v4[1] += 5;
        v4.extend_from_slice(b"30000");
        let mut s = Session::new(cfg(), 0).unwrap();
        let closed = feed(&mut s, 1, &v4).1.unwrap();
        assert!(
            matches!(closed, CloseReason::Malformed { stream_offset: 0, error } if error.field() == "packet_length"),
            "{closed:?}"
        );
        // Debug is allowed before the login.
        let mut s = Session::new(cfg(), 0).unwrap();
        let (events, closed) = feed(&mut s, 1, b"\x00\x03+hi");
        assert_eq!(events, vec!["Debug { text: [104, 105] }"]);
        assert_eq!(closed, None);
        assert_eq!(s.state(), State::AwaitingLogin);
    }

    fn session_stream() -> Vec<u8> {
        let mut wire = login(b"USER", b"SECRET", b"", 1);
        wire.extend_from_slice(&unsequenced(b"first order"));
        wire.extend_from_slice(b"\x00\x01R");
        wire.extend_from_slice(&unsequenced(b"second"));
        wire.extend_from_slice(b"\x00\x03+hi");
        wire.extend_from_slice(&unsequenced(b""));
        wire
    }

    fn collect(s: &mut Session, now: u64, bytes: &[u8], out: &mut Vec<(String, u64)>) {
        s.on_bytes(now, bytes, |e, outbox| match e {
            Event::Order { payload, rx_ns, .. } => {
                out.push((String::from_utf8_lossy(payload).into(), rx_ns));
                // Echo every order back as sequenced data.
                outbox
                    .send_sequenced(|buf| {
                        buf[..payload.len()].copy_from_slice(payload);
                        Ok(payload.len())
                    })
                    .unwrap();
            }
            Event::ClientHeartbeat { rx_ns } => out.push(("R".into(), rx_ns)),
            Event::Debug { text } => out.push((format!("+{}", String::from_utf8_lossy(text)), 0)),
            Event::LoggedIn { .. } => out.push(("L".into(), 0)),
            Event::LoginRejected { .. } => out.push(("J".into(), 0)),
        });
    }

    #[test]
    fn each_order_knows_where_its_packet_ends_in_the_clients_bytes() {
        let wire = session_stream();
        let login_len = login(b"USER", b"SECRET", b"", 1).len() as u64;
        // The three orders end after: the login and "first order" (3 + 11 bytes);
        // then a heartbeat (3) and "second" (3 + 6); then a debug (5) and an empty
        // order (3) at the very end.
        let expected = [login_len + 14, login_len + 14 + 3 + 9, wire.len() as u64];
        assert_eq!(expected[1] + 5 + 3, expected[2]);
        // In one read and byte by byte: the offsets are the stream's, not the read's.
        for chunk in [wire.len(), 1] {
            let mut s = Session::new(cfg(), 0).unwrap();
            let mut ends = Vec::new();
            for piece in wire.chunks(chunk) {
                s.on_bytes(7, piece, |e, _| {
                    if let Event::Order { stream_end, .. } = e {
                        ends.push(stream_end);
                    }
                });
            }
            assert_eq!(ends, expected, "reads of {chunk} bytes");
        }
    }

    #[test]
    fn several_packets_in_one_read() {
        let mut s = Session::new(cfg(), 0).unwrap();
        let mut got = Vec::new();
        collect(&mut s, 42, &session_stream(), &mut got);
        let want: Vec<(String, u64)> = vec![
            ("L".into(), 0),
            ("first order".into(), 42),
            ("R".into(), 42),
            ("second".into(), 42),
            ("+hi".into(), 0),
            ("".into(), 42),
        ];
        assert_eq!(got, want);
        let out = drain(&mut s);
        assert_eq!(
            out,
            vec![
                (b'A', out[0].1.clone()),
                (b'S', b"first order".to_vec()),
                (b'S', b"second".to_vec()),
                (b'S', b"".to_vec()),
            ]
        );
        assert_eq!(s.next_sequence(), 4);
        let stats = s.stats();
        assert_eq!(stats.packets_received, 6);
        assert_eq!(stats.orders_received, 3);
        assert_eq!(stats.sequenced_sent, 3);
        assert_eq!(stats.bytes_received, session_stream().len() as u64);
    }

    #[test]
    fn packets_split_across_reads_complete_on_the_last_byte() {
        let stream = session_stream();
        let mut s = Session::new(cfg(), 0).unwrap();
        let mut got = Vec::new();
        for (i, b) in stream.iter().enumerate() {
            collect(&mut s, i as u64, std::slice::from_ref(b), &mut got);
        }
        // Each order carries the time of the read that completed it.
        let order_end = 49 + 3 + 11;
        assert_eq!(got[1], ("first order".to_string(), order_end as u64 - 1));
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["L", "first order", "R", "second", "+hi", ""]);
        assert_eq!(s.stats().orders_received, 3);
    }

    #[test]
    fn receive_buffer_always_holds_a_whole_packet() {
        let mut s = logged_in(0);
        let big = vec![b'x'; usize::from(DEFAULT_MAX_PACKET_LEN) - 1];
        let wire = unsequenced(&big);
        assert_eq!(wire.len(), 2 + usize::from(DEFAULT_MAX_PACKET_LEN));
        for _ in 0..5 {
            // Leave a partial packet pending, then ask for room.
            let (head, tail) = wire.split_at(wire.len() - 7);
            let mut seen = 0;
            s.on_bytes(1, head, |_, _| seen += 1);
            assert!(s.receive_buffer().len() >= wire.len());
            s.on_bytes(1, tail, |e, _| {
                assert!(matches!(e, Event::Order { payload, .. } if payload.len() == big.len()));
                seen += 1;
            });
            assert_eq!(seen, 1);
        }
        assert_eq!(s.state(), State::LoggedIn);
    }

    #[test]
    fn outbox_close_drops_the_rest_of_the_read() {
        let mut s = logged_in(0);
        let mut wire = unsequenced(b"one");
        wire.extend_from_slice(&unsequenced(b"two"));
        let mut seen = 0;
        let closed = s.on_bytes(1, &wire, |_, outbox| {
            seen += 1;
            outbox.close(CloseReason::PeerClosed);
        });
        assert_eq!(seen, 1);
        assert_eq!(closed, Some(CloseReason::PeerClosed));
    }

    #[test]
    fn a_client_that_never_reads_is_closed_as_a_slow_consumer() {
        let mut s = logged_in(0);
        let order = unsequenced(&[b'o'; 1000]);
        let mut closed = None;
        let mut answers = 0u64;
        for i in 0..400 {
            closed = s.on_bytes(i, &order, |_, outbox| {
                if outbox
                    .send_sequenced(|buf| {
                        let room = buf.len().min(4000);
                        if room < 4000 {
                            return Err(Error::Truncated {
                                protocol: "test",
                                msg_type: None,
                                field: "buffer",
                                offset: 0,
                                needed: 4000,
                                available: room,
                            });
                        }
                        Ok(4000)
                    })
                    .is_ok()
                {
                    answers += 1;
                }
            });
            if closed.is_some() {
                break;
            }
        }
        assert!(
            matches!(
                closed,
                Some(CloseReason::OutputOverflow { needed: 4000, .. })
            ),
            "{closed:?}"
        );
        // 1 MiB holds the Login Accepted and 262 answers of 4003 bytes.
        assert_eq!(answers, (DEFAULT_OUTPUT_CAPACITY as u64 - 33) / 4003);
        // What was queued is still there for the driver to try to write.
        assert_eq!(s.pending_output().len() as u64, 33 + answers * 4003);
    }

    #[test]
    fn bad_configuration_is_refused() {
        let mut c = cfg();
        c.username = "TOOLONGUSER".into();
        assert_eq!(
            Session::new(c, 0).unwrap_err(),
            ConfigError::FieldTooLong {
                field: "username",
                max: 6
            }
        );
        let mut c = cfg();
        c.session = "ELEVENCHARS".into();
        assert!(Session::new(c, 0).is_err());
        let mut c = cfg();
        c.heartbeat_interval_ns = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError::Zero {
                field: "heartbeat_interval_ns"
            })
        );
        let mut c = cfg();
        c.max_packet_len = 46;
        assert_eq!(
            c.validate(),
            Err(ConfigError::MaxPacketTooSmall { value: 46, min: 47 })
        );
        let mut c = cfg();
        c.output_capacity = 1000;
        assert!(c.validate().is_err());
    }

    #[test]
    fn close_reasons_read_well() {
        assert_eq!(
            CloseReason::UnknownPacketType {
                type_byte: 0x07,
                stream_offset: 49
            }
            .to_string(),
            "unknown packet type 0x07 at stream offset 49"
        );
        assert_eq!(
            CloseReason::UnexpectedPacket {
                type_byte: b'U',
                phase: Phase::AwaitingLogin,
                stream_offset: 0
            }
            .to_string(),
            "packet type 'U' at stream offset 0 is not allowed while awaiting login"
        );
        assert_eq!(
            CloseReason::LoginRejected(RejectReason::NotAuthorized).to_string(),
            "login rejected: A (not authorized)"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_client_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            after_login in any::<bool>(),
        ) {
            let mut s = if after_login { logged_in(0) } else { Session::new(cfg(), 0).unwrap() };
            let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            positions.push(0);
            positions.push(bytes.len());
            positions.sort_unstable();
            let mut orders = 0u64;
            for (t, w) in positions.windows(2).enumerate() {
                s.on_bytes(t as u64, &bytes[w[0]..w[1]], |e, outbox| {
                    if let Event::Order { payload, .. } = e {
                        orders += 1;
                        let _ = outbox.send_sequenced(|buf| {
                            let n = payload.len().min(buf.len());
                            buf[..n].copy_from_slice(&payload[..n]);
                            Ok(n)
                        });
                    }
                });
                s.poll(t as u64 * SEC);
            }
            prop_assert_eq!(orders, s.stats().orders_received);
            // Whatever happened, the output is whole packets.
            let mut rest = s.pending_output();
            while let Some((_, used)) = soupbintcp::frame(rest).unwrap() {
                rest = &rest[used..];
            }
            prop_assert!(rest.is_empty());
            if let State::Closed(reason) = s.state() {
                prop_assert_eq!(s.next_deadline(), None);
                let _ = reason.to_string();
            }
        }

        #[test]
        fn any_chunking_gives_the_same_events(
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let stream = session_stream();
            let mut whole = Session::new(cfg(), 0).unwrap();
            let mut want = Vec::new();
            collect(&mut whole, 0, &stream, &mut want);
            let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            positions.push(0);
            positions.push(stream.len());
            positions.sort_unstable();
            let mut split = Session::new(cfg(), 0).unwrap();
            let mut got = Vec::new();
            for w in positions.windows(2) {
                collect(&mut split, 0, &stream[w[0]..w[1]], &mut got);
            }
            prop_assert_eq!(got, want);
            prop_assert_eq!(split.pending_output(), whole.pending_output());
        }
    }
}
