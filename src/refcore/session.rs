//! A sans-IO SoupBinTCP 3.00 client: the session logic of refcore's order
//! connection, with the socket left to the caller.
//!
//! The caller owns the clock and the socket. It reads into
//! [`SoupClient::receive_buffer`] and reports the bytes with
//! [`SoupClient::received`], which frames packets and hands each event to a closure;
//! it writes [`SoupClient::pending_output`] and reports what the socket took with
//! [`SoupClient::output_written`]; and it calls [`SoupClient::poll`] at least by
//! [`SoupClient::next_deadline`], which queues a Client Heartbeat after
//! `heartbeat_interval_ns` of silence from us and fails the session after
//! `server_timeout_ns` of silence from the server (SoupBinTCP 3.00: both sides
//! heartbeat every second; "typically 15 seconds" without data means the link is
//! gone). Time is any monotonic nanosecond count.
//!
//! States: `Idle` → [`SoupClient::login`] queues a Login Request → `AwaitingLogin`
//! → Login Accepted → `LoggedIn` (or Login Rejected → `Rejected`). From `LoggedIn`,
//! [`SoupClient::logout`] queues a Logout Request (`LoggedOut`), the server's End of
//! Session gives `Ended`, and a silent server `TimedOut`.
//!
//! Both buffers are allocated once, in [`SoupClient::new`]; queueing a message and
//! receiving never allocate. Unsequenced data (orders) is encoded in place into the
//! output buffer by [`SoupClient::send_unsequenced`]. Nothing here panics on what
//! the server sends: a malformed packet is [`SessionError::Protocol`].
//!
//! ```
//! use ticklab::proto::soupbintcp;
//! use ticklab::refcore::session::{SessionConfig, SessionState, SoupClient};
//! let mut c = SoupClient::new(SessionConfig::new("USER", "PASS")).unwrap();
//! c.login(0).unwrap();
//! assert_eq!(c.pending_output().len(), 49); // the Login Request
//! c.output_written(49);
//! let mut wire = [0u8; 64];
//! let n = soupbintcp::write_login_accepted(&mut wire, b"S1", 1).unwrap();
//! c.receive(10, &wire[..n], |_| {}).unwrap();
//! assert_eq!(c.state(), SessionState::LoggedIn);
//! ```

use crate::proto::soupbintcp::{self, Packet, RejectReason};
use crate::proto::{pad_alpha, Error};

/// The largest SoupBinTCP packet: 2 length bytes and up to 65535 counted bytes.
pub const MAX_PACKET: usize = 2 + u16::MAX as usize;

/// Credentials, session request and timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Up to 6 characters.
    pub username: String,
    /// Up to 10 characters.
    pub password: String,
    /// Up to 10 characters; empty for the current session.
    pub requested_session: String,
    /// Next sequenced message wanted; 0 for "from the most recent".
    pub requested_sequence: u64,
    /// Send a Client Heartbeat after this long without sending anything.
    pub heartbeat_interval_ns: u64,
    /// Give up after this long without hearing from the server.
    pub server_timeout_ns: u64,
    /// Bytes of queued output the client holds.
    pub output_capacity: usize,
}

impl SessionConfig {
    /// Defaults: current session from sequence 1, 1 s heartbeats, 15 s timeout.
    pub fn new(username: &str, password: &str) -> Self {
        SessionConfig {
            username: username.into(),
            password: password.into(),
            requested_session: String::new(),
            requested_sequence: 1,
            heartbeat_interval_ns: 1_000_000_000,
            server_timeout_ns: 15_000_000_000,
            output_capacity: 1 << 16,
        }
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Idle,
    AwaitingLogin,
    LoggedIn,
    /// We sent a Logout Request.
    LoggedOut,
    /// The server refused the login.
    Rejected(RejectReason),
    /// The server sent End of Session.
    Ended,
    /// The server fell silent.
    TimedOut,
}

/// Something the server said that the caller may care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent<'a> {
    LoginAccepted {
        session: [u8; soupbintcp::SESSION_LEN],
        /// Sequence number of the next Sequenced Data packet.
        sequence_number: u64,
    },
    LoginRejected(RejectReason),
    /// A Sequenced Data message (for OUCH: an exchange-to-client message).
    SequencedData {
        sequence: u64,
        message: &'a [u8],
    },
    EndOfSession,
    Debug(&'a [u8]),
    /// A packet type SoupBinTCP does not define.
    Unknown {
        type_byte: u8,
    },
}

/// Why the session cannot go on (or a call made no sense in its state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("soupbintcp: {0}")]
    Protocol(Error),
    #[error("the gateway sent nothing for {silent_ns} ns")]
    ServerTimeout { silent_ns: u64 },
    #[error("output buffer full: {needed} bytes needed, {available} free")]
    OutputFull { needed: usize, available: usize },
    #[error("not possible in state {0:?}")]
    WrongState(SessionState),
    #[error("{field} is longer than {max} characters")]
    FieldTooLong { field: &'static str, max: usize },
}

/// A byte queue in one fixed buffer: `start..end` is pending.
#[derive(Debug)]
struct Queue {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Queue {
    fn new(capacity: usize) -> Self {
        Queue {
            buf: vec![0u8; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space at the end, after moving pending bytes to the front if `want`
    /// does not fit behind them.
    fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.buf.len() - self.end < want && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct SoupClient {
    cfg: SessionConfig,
    state: SessionState,
    input: Queue,
    output: Queue,
    last_sent_ns: u64,
    last_received_ns: u64,
    next_sequence: u64,
    session: [u8; soupbintcp::SESSION_LEN],
    heartbeats_sent: u64,
    heartbeats_received: u64,
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), SessionError> {
    if value.len() > max {
        return Err(SessionError::FieldTooLong { field, max });
    }
    Ok(())
}

impl SoupClient {
    /// Validates the credentials and allocates both buffers.
    pub fn new(cfg: SessionConfig) -> Result<Self, SessionError> {
        check_len("username", &cfg.username, soupbintcp::USERNAME_LEN)?;
        check_len("password", &cfg.password, soupbintcp::PASSWORD_LEN)?;
        check_len(
            "requested session",
            &cfg.requested_session,
            soupbintcp::SESSION_LEN,
        )?;
        Ok(SoupClient {
            output: Queue::new(cfg.output_capacity.max(MAX_PACKET)),
            input: Queue::new(2 * MAX_PACKET),
            cfg,
            state: SessionState::Idle,
            last_sent_ns: 0,
            last_received_ns: 0,
            next_sequence: 0,
            session: [b' '; soupbintcp::SESSION_LEN],
            heartbeats_sent: 0,
            heartbeats_received: 0,
        })
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The session the server logged us into (space padded; blank before).
    pub fn session(&self) -> &[u8; soupbintcp::SESSION_LEN] {
        &self.session
    }

    /// Sequence number the next Sequenced Data message will carry.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    pub fn heartbeats_sent(&self) -> u64 {
        self.heartbeats_sent
    }

    pub fn heartbeats_received(&self) -> u64 {
        self.heartbeats_received
    }

    /// Queues the Login Request.
    pub fn login(&mut self, now_ns: u64) -> Result<(), SessionError> {
        if self.state != SessionState::Idle {
            return Err(SessionError::WrongState(self.state));
        }
        let cfg = &self.cfg;
        let (user, pass, session, seq) = (
            pad_alpha::<{ soupbintcp::USERNAME_LEN }>(cfg.username.as_bytes()),
            pad_alpha::<{ soupbintcp::PASSWORD_LEN }>(cfg.password.as_bytes()),
            pad_alpha::<{ soupbintcp::SESSION_LEN }>(cfg.requested_session.as_bytes()),
            cfg.requested_sequence,
        );
        self.queue(now_ns, |buf| {
            soupbintcp::write_login_request(buf, &user, &pass, &session, seq)
        })?;
        self.last_received_ns = now_ns;
        self.state = SessionState::AwaitingLogin;
        Ok(())
    }

    /// Queues a Logout Request. Harmless when not logged in.
    pub fn logout(&mut self, now_ns: u64) -> Result<(), SessionError> {
        match self.state {
            SessionState::LoggedIn | SessionState::AwaitingLogin => {
                self.queue(now_ns, soupbintcp::write_logout_request)?;
                self.state = SessionState::LoggedOut;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Queues an Unsequenced Data packet whose payload `encode` writes in place
    /// (returning its length). Only when logged in.
    pub fn send_unsequenced(
        &mut self,
        now_ns: u64,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<(), SessionError> {
        if self.state != SessionState::LoggedIn {
            return Err(SessionError::WrongState(self.state));
        }
        self.queue(now_ns, |buf| {
            let mut w = soupbintcp::begin_unsequenced(buf)?;
            let n = encode(w.payload_mut())?;
            w.finish(n)
        })
    }

    fn queue(
        &mut self,
        now_ns: u64,
        write: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<(), SessionError> {
        let spare = self.output.spare(MAX_PACKET);
        let available = spare.len();
        let n = write(spare).map_err(|e| match e {
            Error::Truncated { needed, .. } => SessionError::OutputFull { needed, available },
            other => SessionError::Protocol(other),
        })?;
        self.output.commit(n);
        self.last_sent_ns = now_ns;
        Ok(())
    }

    /// Bytes waiting to be written to the socket.
    pub fn pending_output(&self) -> &[u8] {
        self.output.pending()
    }

    /// The socket took `n` bytes of [`SoupClient::pending_output`].
    pub fn output_written(&mut self, n: usize) {
        self.output.consume(n);
    }

    /// Where to read socket bytes into (then call [`SoupClient::received`]).
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        self.input.spare(MAX_PACKET)
    }

    /// Copies `bytes` in and processes them: a convenience over
    /// [`SoupClient::receive_buffer`] and [`SoupClient::received`].
    pub fn receive(
        &mut self,
        now_ns: u64,
        mut bytes: &[u8],
        mut on_event: impl FnMut(SessionEvent<'_>),
    ) -> Result<(), SessionError> {
        while !bytes.is_empty() {
            let spare = self.receive_buffer();
            let n = spare.len().min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.received(now_ns, n, &mut on_event)?;
        }
        Ok(())
    }

    /// `n` bytes were read into [`SoupClient::receive_buffer`]: frames every whole
    /// packet and hands each event to `on_event`. A partial packet waits for more.
    pub fn received(
        &mut self,
        now_ns: u64,
        n: usize,
        mut on_event: impl FnMut(SessionEvent<'_>),
    ) -> Result<(), SessionError> {
        self.input.commit(n);
        if n > 0 {
            self.last_received_ns = now_ns;
        }
        loop {
            let pending = self.input.pending();
            let (packet, used) = match soupbintcp::frame(pending) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(e) => return Err(SessionError::Protocol(e)),
            };
            match packet {
                Packet::LoginAccepted {
                    session,
                    sequence_number,
                } if self.state == SessionState::AwaitingLogin => {
                    self.state = SessionState::LoggedIn;
                    self.session = *session;
                    self.next_sequence = sequence_number;
                    on_event(SessionEvent::LoginAccepted {
                        session: *session,
                        sequence_number,
                    });
                }
                Packet::LoginRejected { reason } => {
                    self.state = SessionState::Rejected(reason);
                    on_event(SessionEvent::LoginRejected(reason));
                }
                Packet::SequencedData { message } => {
                    let sequence = self.next_sequence;
                    self.next_sequence = sequence.wrapping_add(1);
                    on_event(SessionEvent::SequencedData { sequence, message });
                }
                Packet::ServerHeartbeat => self.heartbeats_received += 1,
                Packet::EndOfSession => {
                    self.state = SessionState::Ended;
                    on_event(SessionEvent::EndOfSession);
                }
                Packet::Debug { text } => on_event(SessionEvent::Debug(text)),
                // A second Login Accepted, or client-to-server packets from the
                // server: not ours to act on, but not hidden either.
                other => on_event(SessionEvent::Unknown {
                    type_byte: other.type_byte(),
                }),
            }
            self.input.consume(used);
        }
    }

    /// Runs the timers: queues a Client Heartbeat after `heartbeat_interval_ns`
    /// without sending, fails after `server_timeout_ns` without receiving.
    pub fn poll(&mut self, now_ns: u64) -> Result<(), SessionError> {
        if !matches!(
            self.state,
            SessionState::AwaitingLogin | SessionState::LoggedIn
        ) {
            return Ok(());
        }
        let silent_ns = now_ns.saturating_sub(self.last_received_ns);
        if silent_ns >= self.cfg.server_timeout_ns {
            self.state = SessionState::TimedOut;
            return Err(SessionError::ServerTimeout { silent_ns });
        }
        if self.state == SessionState::LoggedIn
            && now_ns.saturating_sub(self.last_sent_ns) >= self.cfg.heartbeat_interval_ns
        {
            self.queue(now_ns, soupbintcp::write_client_heartbeat)?;
            self.heartbeats_sent += 1;
        }
        Ok(())
    }

    /// The latest time [`SoupClient::poll`] must next run; `None` when no timer runs.
    pub fn next_deadline(&self) -> Option<u64> {
        let timeout = self
            .last_received_ns
            .saturating_add(self.cfg.server_timeout_ns);
        match self.state {
            SessionState::AwaitingLogin => Some(timeout),
            SessionState::LoggedIn => Some(
                timeout.min(
                    self.last_sent_ns
                        .saturating_add(self.cfg.heartbeat_interval_ns),
                ),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn packets(bytes: &[u8]) -> Vec<u8> {
        let mut types = Vec::new();
        let mut rest = bytes;
        while let Some((p, used)) = soupbintcp::frame(rest).unwrap() {
            types.push(p.type_byte());
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        types
    }

    fn drain(c: &mut SoupClient) -> Vec<u8> {
        let out = packets(c.pending_output());
        let n = c.pending_output().len();
        c.output_written(n);
        out
    }

    fn logged_in(now: u64) -> SoupClient {
        let mut c = SoupClient::new(SessionConfig::new("USER", "SECRET")).unwrap();
        c.login(now).unwrap();
        let mut wire = [0u8; 64];
        let n = soupbintcp::write_login_accepted(&mut wire, b"SESS01", 7).unwrap();
        let mut events = Vec::new();
        c.receive(now, &wire[..n], |e| {
            if let SessionEvent::LoginAccepted {
                session,
                sequence_number,
            } = e
            {
                events.push((session, sequence_number));
            }
        })
        .unwrap();
        assert_eq!(events, vec![(*b"SESS01    ", 7)]);
        c
    }

    #[test]
    fn login_request_carries_the_credentials() {
        let mut c = SoupClient::new(SessionConfig::new("USER", "SECRET")).unwrap();
        assert_eq!(c.next_deadline(), None);
        c.login(5).unwrap();
        assert_eq!(c.state(), SessionState::AwaitingLogin);
        let (p, used) = soupbintcp::frame(c.pending_output()).unwrap().unwrap();
        assert_eq!(used, c.pending_output().len());
        assert_eq!(
            p,
            Packet::LoginRequest {
                username: b"USER  ",
                password: b"SECRET    ",
                requested_session: b"          ",
                requested_sequence_number: 1
            }
        );
        assert_eq!(
            c.login(6),
            Err(SessionError::WrongState(SessionState::AwaitingLogin))
        );
    }

    #[test]
    fn long_credentials_are_refused() {
        let e = SoupClient::new(SessionConfig::new("TOOLONGUSER", "P")).unwrap_err();
        assert_eq!(
            e,
            SessionError::FieldTooLong {
                field: "username",
                max: 6
            }
        );
    }

    #[test]
    fn rejected_login_is_reported() {
        let mut c = SoupClient::new(SessionConfig::new("USER", "BAD")).unwrap();
        c.login(0).unwrap();
        let mut wire = [0u8; 8];
        let n = soupbintcp::write_login_rejected(&mut wire, RejectReason::NotAuthorized).unwrap();
        let mut seen = None;
        c.receive(1, &wire[..n], |e| seen = Some(format!("{e:?}")))
            .unwrap();
        assert_eq!(
            c.state(),
            SessionState::Rejected(RejectReason::NotAuthorized)
        );
        assert_eq!(seen.as_deref(), Some("LoginRejected(NotAuthorized)"));
        assert_eq!(c.poll(100 * SEC), Ok(()));
    }

    #[test]
    fn client_heartbeat_after_one_second_of_silence() {
        let mut c = logged_in(0);
        assert_eq!(drain(&mut c), vec![b'L']);
        assert_eq!(c.next_deadline(), Some(SEC));
        c.poll(SEC - 1).unwrap();
        assert!(c.pending_output().is_empty());
        // The server keeps talking, so only our own silence matters.
        let mut hb = [0u8; 3];
        soupbintcp::write_server_heartbeat(&mut hb).unwrap();
        c.receive(SEC / 2, &hb, |_| {}).unwrap();
        c.poll(SEC).unwrap();
        assert_eq!(drain(&mut c), vec![b'R']);
        assert_eq!(c.heartbeats_sent(), 1);
        assert_eq!(c.heartbeats_received(), 1);
        // Sending an order resets the heartbeat timer.
        c.send_unsequenced(SEC + SEC / 2, |buf| {
            buf[..3].copy_from_slice(b"abc");
            Ok(3)
        })
        .unwrap();
        assert_eq!(drain(&mut c), vec![b'U']);
        c.poll(2 * SEC).unwrap();
        assert!(c.pending_output().is_empty());
        assert_eq!(c.next_deadline(), Some(2 * SEC + SEC / 2));
        c.poll(2 * SEC + SEC / 2).unwrap();
        assert_eq!(drain(&mut c), vec![b'R']);
    }

    #[test]
    fn server_silence_times_out() {
        let mut c = logged_in(0);
        drain(&mut c);
        let mut hb = [0u8; 3];
        soupbintcp::write_server_heartbeat(&mut hb).unwrap();
        c.receive(10 * SEC, &hb, |_| {}).unwrap();
        // Our heartbeats keep going while the server is silent...
        for s in 11..25 {
            c.poll(s * SEC).unwrap();
        }
        assert_eq!(drain(&mut c).len(), 14);
        // ...until it has been silent for 15 s.
        assert_eq!(
            c.poll(25 * SEC),
            Err(SessionError::ServerTimeout {
                silent_ns: 15 * SEC
            })
        );
        assert_eq!(c.state(), SessionState::TimedOut);
    }

    #[test]
    fn login_times_out_without_an_answer() {
        let mut c = SoupClient::new(SessionConfig::new("U", "P")).unwrap();
        c.login(SEC).unwrap();
        assert_eq!(c.next_deadline(), Some(16 * SEC));
        c.poll(15 * SEC).unwrap();
        assert!(c.poll(16 * SEC).is_err());
    }

    #[test]
    fn sequenced_data_is_numbered_and_split_reads_reassemble() {
        let mut c = logged_in(0);
        let mut wire = Vec::new();
        for m in [&b"one"[..], b"two", b"three"] {
            let mut buf = [0u8; 16];
            let n = soupbintcp::write_sequenced_data(&mut buf, m).unwrap();
            wire.extend_from_slice(&buf[..n]);
        }
        let mut end = [0u8; 3];
        soupbintcp::write_end_of_session(&mut end).unwrap();
        wire.extend_from_slice(&end);
        let mut got = Vec::new();
        // One byte at a time: packets come out whole.
        for b in &wire {
            c.receive(1, std::slice::from_ref(b), |e| match e {
                SessionEvent::SequencedData { sequence, message } => {
                    got.push((sequence, message.to_vec()))
                }
                SessionEvent::EndOfSession => got.push((0, b"Z".to_vec())),
                _ => {}
            })
            .unwrap();
        }
        assert_eq!(
            got,
            vec![
                (7, b"one".to_vec()),
                (8, b"two".to_vec()),
                (9, b"three".to_vec()),
                (0, b"Z".to_vec())
            ]
        );
        assert_eq!(c.state(), SessionState::Ended);
    }

    #[test]
    fn logout_and_bad_bytes() {
        let mut c = logged_in(0);
        drain(&mut c);
        c.logout(1).unwrap();
        assert_eq!(drain(&mut c), vec![b'O']);
        assert_eq!(c.state(), SessionState::LoggedOut);
        assert!(c.send_unsequenced(2, |_| Ok(0)).is_err());
        let mut c = logged_in(0);
        let e = c.receive(1, &[0, 0], |_| {}).unwrap_err();
        assert!(matches!(e, SessionError::Protocol(_)));
    }

    #[test]
    fn output_full_is_an_error_not_a_panic() {
        let mut c = logged_in(0);
        // Never written out: the queue fills up.
        let mut result = Ok(());
        for _ in 0..10_000 {
            result = c.send_unsequenced(1, |buf| {
                let n = 100.min(buf.len());
                if n < 100 {
                    return Err(Error::Truncated {
                        protocol: "test",
                        msg_type: None,
                        field: "buffer",
                        offset: 0,
                        needed: 100,
                        available: n,
                    });
                }
                Ok(n)
            });
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(SessionError::OutputFull { .. })));
    }
}
