//! NASDAQ SoupBinTCP 3.00 (updated February 22, 2017): the TCP session layer under
//! OUCH. Every logical packet is a big-endian u16 Packet Length (counting the type
//! byte and the payload, not itself), a Packet Type byte and the payload:
//!
//! | type | packet            | payload                                                      |
//! |------|-------------------|--------------------------------------------------------------|
//! | `+`  | Debug             | free text                                                    |
//! | `A`  | Login Accepted    | Session 10 alpha, Sequence Number 20 numeric                 |
//! | `J`  | Login Rejected    | Reject Reason Code 1 (`A` not authorized, `S` no session)    |
//! | `S`  | Sequenced Data    | a higher-level message                                       |
//! | `H`  | Server Heartbeat  | none                                                         |
//! | `Z`  | End of Session    | none                                                         |
//! | `L`  | Login Request     | Username 6, Password 10, Requested Session 10, Requested Sequence Number 20 |
//! | `U`  | Unsequenced Data  | a higher-level message                                       |
//! | `R`  | Client Heartbeat  | none                                                         |
//! | `O`  | Logout Request    | none                                                         |
//!
//! Numeric fields are decimal ASCII, right-justified and left-padded with spaces.
//! SoupBinTCP 4.x adds a 5-byte numeric Requested Heartbeat Timeout (ms) to the
//! Login Request (51 payload bytes); this module speaks 3.00 and reports such a
//! packet as a wrong-length Login Request rather than guessing.
//!
//! [`frame`] cuts one packet off the front of a TCP byte stream without copying;
//! it never allocates and never panics. The `write_*` functions build packets into
//! a caller's buffer. For data packets [`Describe`] shows only the envelope: the
//! decoder hands the inner message to the OUCH codec.
//!
//! ```
//! use ticklab::proto::soupbintcp::{frame, write_sequenced_data, Packet};
//! let mut buf = [0u8; 16];
//! let n = write_sequenced_data(&mut buf, b"hi").unwrap();
//! let (pkt, used) = frame(&buf[..n]).unwrap().unwrap();
//! assert_eq!(used, 5);
//! assert_eq!(pkt, Packet::SequencedData { message: b"hi" });
//! assert!(frame(&buf[..n - 1]).unwrap().is_none()); // wait for more bytes
//! ```

use crate::codec::{pad_alpha, trim_alpha, Describe, Error, FieldSink};

/// Protocol name used in errors and by [`Describe`].
pub const PROTOCOL: &str = "soupbintcp";
/// Bytes of the Packet Length field.
pub const LENGTH_LEN: usize = 2;
/// Bytes of Packet Length plus Packet Type.
pub const HEADER_LEN: usize = 3;
/// The largest payload a packet can carry (Packet Length counts the type byte).
pub const MAX_PAYLOAD: usize = u16::MAX as usize - 1;
/// Width of Session fields.
pub const SESSION_LEN: usize = 10;
/// Width of Sequence Number fields.
pub const SEQ_NUM_LEN: usize = 20;
/// Width of the Username field.
pub const USERNAME_LEN: usize = 6;
/// Width of the Password field.
pub const PASSWORD_LEN: usize = 10;
/// Payload bytes of a Login Accepted packet.
pub const LOGIN_ACCEPTED_LEN: usize = SESSION_LEN + SEQ_NUM_LEN;
/// Payload bytes of a Login Request packet.
pub const LOGIN_REQUEST_LEN: usize = USERNAME_LEN + PASSWORD_LEN + SESSION_LEN + SEQ_NUM_LEN;

/// Packet Type bytes.
pub mod packet_type {
    pub const DEBUG: u8 = b'+';
    pub const LOGIN_ACCEPTED: u8 = b'A';
    pub const LOGIN_REJECTED: u8 = b'J';
    pub const SEQUENCED_DATA: u8 = b'S';
    pub const SERVER_HEARTBEAT: u8 = b'H';
    pub const END_OF_SESSION: u8 = b'Z';
    pub const LOGIN_REQUEST: u8 = b'L';
    pub const UNSEQUENCED_DATA: u8 = b'U';
    pub const CLIENT_HEARTBEAT: u8 = b'R';
    pub const LOGOUT_REQUEST: u8 = b'O';
}

/// Reject Reason Code of a Login Rejected packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// `A`: there was an invalid username and password combination.
    NotAuthorized,
    /// `S`: the Requested Session is not valid or not available.
    SessionNotAvailable,
    /// A code the specification does not define.
    Unknown(u8),
}

impl RejectReason {
    /// The reason a code byte stands for.
    pub fn from_byte(b: u8) -> Self {
        match b {
            b'A' => RejectReason::NotAuthorized,
            b'S' => RejectReason::SessionNotAvailable,
            other => RejectReason::Unknown(other),
        }
    }

    /// The code byte on the wire.
    pub fn as_byte(self) -> u8 {
        match self {
            RejectReason::NotAuthorized => b'A',
            RejectReason::SessionNotAvailable => b'S',
            RejectReason::Unknown(b) => b,
        }
    }
}

/// One SoupBinTCP packet, borrowing the stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `+`: human-readable text, either direction.
    Debug { text: &'a [u8] },
    /// `A`: the server accepted the login.
    LoginAccepted {
        /// Session now logged into (space padded).
        session: &'a [u8; SESSION_LEN],
        /// Sequence number of the next Sequenced Data packet to be sent.
        sequence_number: u64,
    },
    /// `J`: the server refused the login.
    LoginRejected { reason: RejectReason },
    /// `S`: one higher-level message, implicitly numbered.
    SequencedData { message: &'a [u8] },
    /// `H`: the server is alive.
    ServerHeartbeat,
    /// `Z`: the server has no more messages for this session.
    EndOfSession,
    /// `L`: the client asks to log in.
    LoginRequest {
        username: &'a [u8; USERNAME_LEN],
        password: &'a [u8; PASSWORD_LEN],
        /// Blank for "the current session".
        requested_session: &'a [u8; SESSION_LEN],
        /// Next sequence number wanted; 0 for the most recent message onward.
        requested_sequence_number: u64,
    },
    /// `U`: one higher-level message from the client, not sequenced.
    UnsequencedData { message: &'a [u8] },
    /// `R`: the client is alive.
    ClientHeartbeat,
    /// `O`: the client is leaving.
    LogoutRequest,
    /// A Packet Type the specification does not define.
    Unknown { type_byte: u8, payload: &'a [u8] },
}

fn fixed<const N: usize>(payload: &[u8]) -> Option<&[u8; N]> {
    payload.try_into().ok()
}

/// Cuts the first packet off `buf`, the front of a TCP byte stream.
///
/// `Ok(None)` means `buf` holds only part of a packet: read more and call again
/// with the longer buffer. `Ok(Some((packet, consumed)))` hands back the packet and
/// how many bytes it took. Errors: a Packet Length of 0, a fixed-size packet whose
/// payload is the wrong length, and a numeric field that is not decimal ASCII.
pub fn frame(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, Error> {
    let Some((len_bytes, rest)) = buf.split_first_chunk::<LENGTH_LEN>() else {
        return Ok(None);
    };
    let packet_len = usize::from(u16::from_be_bytes(*len_bytes));
    if packet_len == 0 {
        return Err(Error::Invalid {
            protocol: PROTOCOL,
            msg_type: None,
            field: "packet_length",
            offset: 0,
            expected: "at least 1 (the packet type byte)",
        });
    }
    let Some(body) = rest.get(..packet_len) else {
        return Ok(None);
    };
    let Some((&type_byte, payload)) = body.split_first() else {
        return Ok(None);
    };
    let packet = parse(type_byte, payload)?;
    Ok(Some((packet, LENGTH_LEN + packet_len)))
}

fn wrong_length(type_byte: u8, expected: &'static str) -> Error {
    Error::Invalid {
        protocol: PROTOCOL,
        msg_type: Some(type_byte),
        field: "packet_length",
        offset: 0,
        expected,
    }
}

/// Decodes one packet from its type byte and payload (the bytes after the type).
/// Offsets in errors are relative to the start of the Packet Length field.
pub fn parse(type_byte: u8, payload: &[u8]) -> Result<Packet<'_>, Error> {
    use packet_type::*;
    let empty = |p: Packet<'static>, expected| {
        if payload.is_empty() {
            Ok(p)
        } else {
            Err(wrong_length(type_byte, expected))
        }
    };
    match type_byte {
        DEBUG => Ok(Packet::Debug { text: payload }),
        LOGIN_ACCEPTED => {
            let Some(p) = fixed::<LOGIN_ACCEPTED_LEN>(payload) else {
                return Err(wrong_length(
                    type_byte,
                    "31 (Login Accepted: 30 payload bytes and the type)",
                ));
            };
            let (session, seq) = p
                .split_first_chunk::<SESSION_LEN>()
                .unwrap_or((&[0; 10], &[]));
            let seq: &[u8; SEQ_NUM_LEN] = fixed(seq).unwrap_or(&[b' '; SEQ_NUM_LEN]);
            let sequence_number = parse_numeric(
                seq,
                Some(type_byte),
                "sequence_number",
                HEADER_LEN + SESSION_LEN,
            )?;
            Ok(Packet::LoginAccepted {
                session,
                sequence_number,
            })
        }
        LOGIN_REJECTED => match payload {
            [code] => Ok(Packet::LoginRejected {
                reason: RejectReason::from_byte(*code),
            }),
            _ => Err(wrong_length(
                type_byte,
                "2 (Login Rejected: 1 payload byte and the type)",
            )),
        },
        SEQUENCED_DATA => Ok(Packet::SequencedData { message: payload }),
        SERVER_HEARTBEAT => empty(
            Packet::ServerHeartbeat,
            "1 (Server Heartbeat has no payload)",
        ),
        END_OF_SESSION => empty(Packet::EndOfSession, "1 (End of Session has no payload)"),
        LOGIN_REQUEST => {
            let Some(p) = fixed::<LOGIN_REQUEST_LEN>(payload) else {
                return Err(wrong_length(
                    type_byte,
                    "47 (Login Request: 46 payload bytes and the type)",
                ));
            };
            let (username, rest) = p
                .split_first_chunk::<USERNAME_LEN>()
                .unwrap_or((&[0; 6], &[]));
            let (password, rest) = rest
                .split_first_chunk::<PASSWORD_LEN>()
                .unwrap_or((&[0; 10], &[]));
            let (requested_session, rest) = rest
                .split_first_chunk::<SESSION_LEN>()
                .unwrap_or((&[0; 10], &[]));
            let seq: &[u8; SEQ_NUM_LEN] = fixed(rest).unwrap_or(&[b' '; SEQ_NUM_LEN]);
            let requested_sequence_number = parse_numeric(
                seq,
                Some(type_byte),
                "requested_sequence_number",
                HEADER_LEN + USERNAME_LEN + PASSWORD_LEN + SESSION_LEN,
            )?;
            Ok(Packet::LoginRequest {
                username,
                password,
                requested_session,
                requested_sequence_number,
            })
        }
        UNSEQUENCED_DATA => Ok(Packet::UnsequencedData { message: payload }),
        CLIENT_HEARTBEAT => empty(
            Packet::ClientHeartbeat,
            "1 (Client Heartbeat has no payload)",
        ),
        LOGOUT_REQUEST => empty(Packet::LogoutRequest, "1 (Logout Request has no payload)"),
        _ => Ok(Packet::Unknown { type_byte, payload }),
    }
}

/// Parses a 20-byte numeric field: decimal ASCII, right-justified, space padded.
///
/// Spaces are accepted on both sides of the digits because some clients send the
/// number left-justified; at least one digit is required and nothing else may
/// appear. Offsets in the error are relative to the field.
pub fn parse_sequence_number(field: &[u8; SEQ_NUM_LEN]) -> Result<u64, Error> {
    parse_numeric(field, None, "sequence_number", 0)
}

fn parse_numeric(
    field: &[u8; SEQ_NUM_LEN],
    msg_type: Option<u8>,
    name: &'static str,
    base: usize,
) -> Result<u64, Error> {
    let invalid = |at: usize, expected| Error::Invalid {
        protocol: PROTOCOL,
        msg_type,
        field: name,
        offset: base + at,
        expected,
    };
    let start = field.iter().position(|&b| b != b' ').unwrap_or(SEQ_NUM_LEN);
    let end = field
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    if start == end {
        return Err(invalid(0, "a decimal number (the field is blank)"));
    }
    let mut value: u64 = 0;
    for (i, &b) in field.iter().enumerate().take(end).skip(start) {
        if !b.is_ascii_digit() {
            return Err(invalid(i, "decimal digits padded with spaces"));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| invalid(start, "a number below 2^64"))?;
    }
    Ok(value)
}

/// Formats a sequence number as the 20-byte numeric field: right-justified,
/// left-padded with spaces.
pub fn format_sequence_number(value: u64) -> [u8; SEQ_NUM_LEN] {
    let mut out = [b' '; SEQ_NUM_LEN];
    let mut v = value;
    let mut i = SEQ_NUM_LEN;
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out
}

fn buffer_too_small(type_byte: u8, needed: usize, available: usize) -> Error {
    Error::Truncated {
        protocol: PROTOCOL,
        msg_type: Some(type_byte),
        field: "buffer",
        offset: 0,
        needed,
        available,
    }
}

/// Writes the three header bytes for a payload of `payload_len`, checking room.
fn header(buf: &mut [u8], type_byte: u8, payload_len: usize) -> Result<&mut [u8], Error> {
    if payload_len > MAX_PAYLOAD {
        return Err(Error::Invalid {
            protocol: PROTOCOL,
            msg_type: Some(type_byte),
            field: "packet_length",
            offset: 0,
            expected: "a payload of at most 65534 bytes",
        });
    }
    let total = HEADER_LEN + payload_len;
    let available = buf.len();
    let Some(out) = buf.get_mut(..total) else {
        return Err(buffer_too_small(type_byte, total, available));
    };
    out[..LENGTH_LEN].copy_from_slice(&((payload_len + 1) as u16).to_be_bytes());
    out[LENGTH_LEN] = type_byte;
    Ok(&mut out[HEADER_LEN..])
}

fn write_simple(buf: &mut [u8], type_byte: u8, payload: &[u8]) -> Result<usize, Error> {
    header(buf, type_byte, payload.len())?.copy_from_slice(payload);
    Ok(HEADER_LEN + payload.len())
}

fn alpha<const N: usize>(
    text: &[u8],
    type_byte: u8,
    name: &'static str,
    offset: usize,
    expected: &'static str,
) -> Result<[u8; N], Error> {
    if text.len() > N {
        return Err(Error::Invalid {
            protocol: PROTOCOL,
            msg_type: Some(type_byte),
            field: name,
            offset,
            expected,
        });
    }
    Ok(pad_alpha::<N>(text))
}

/// Writes a Debug packet.
pub fn write_debug(buf: &mut [u8], text: &[u8]) -> Result<usize, Error> {
    write_simple(buf, packet_type::DEBUG, text)
}

/// Writes a Login Accepted packet; `session` is space padded to 10 bytes.
pub fn write_login_accepted(
    buf: &mut [u8],
    session: &[u8],
    sequence_number: u64,
) -> Result<usize, Error> {
    let t = packet_type::LOGIN_ACCEPTED;
    let session: [u8; SESSION_LEN] = alpha(session, t, "session", HEADER_LEN, "at most 10 bytes")?;
    let out = header(buf, t, LOGIN_ACCEPTED_LEN)?;
    out[..SESSION_LEN].copy_from_slice(&session);
    out[SESSION_LEN..].copy_from_slice(&format_sequence_number(sequence_number));
    Ok(HEADER_LEN + LOGIN_ACCEPTED_LEN)
}

/// Writes a Login Rejected packet.
pub fn write_login_rejected(buf: &mut [u8], reason: RejectReason) -> Result<usize, Error> {
    write_simple(buf, packet_type::LOGIN_REJECTED, &[reason.as_byte()])
}

/// Writes a Sequenced Data packet carrying `message`.
pub fn write_sequenced_data(buf: &mut [u8], message: &[u8]) -> Result<usize, Error> {
    write_simple(buf, packet_type::SEQUENCED_DATA, message)
}

/// Writes a Server Heartbeat packet.
pub fn write_server_heartbeat(buf: &mut [u8]) -> Result<usize, Error> {
    write_simple(buf, packet_type::SERVER_HEARTBEAT, &[])
}

/// Writes an End of Session packet.
pub fn write_end_of_session(buf: &mut [u8]) -> Result<usize, Error> {
    write_simple(buf, packet_type::END_OF_SESSION, &[])
}

/// Writes a Login Request. Alpha fields are space padded; text longer than its
/// field is refused rather than cut.
pub fn write_login_request(
    buf: &mut [u8],
    username: &[u8],
    password: &[u8],
    requested_session: &[u8],
    requested_sequence_number: u64,
) -> Result<usize, Error> {
    let t = packet_type::LOGIN_REQUEST;
    let user: [u8; USERNAME_LEN] = alpha(username, t, "username", HEADER_LEN, "at most 6 bytes")?;
    let pass: [u8; PASSWORD_LEN] = alpha(
        password,
        t,
        "password",
        HEADER_LEN + USERNAME_LEN,
        "at most 10 bytes",
    )?;
    let session: [u8; SESSION_LEN] = alpha(
        requested_session,
        t,
        "requested_session",
        HEADER_LEN + USERNAME_LEN + PASSWORD_LEN,
        "at most 10 bytes",
    )?;
    let out = header(buf, t, LOGIN_REQUEST_LEN)?;
    out[..6].copy_from_slice(&user);
    out[6..16].copy_from_slice(&pass);
    out[16..26].copy_from_slice(&session);
    out[26..46].copy_from_slice(&format_sequence_number(requested_sequence_number));
    Ok(HEADER_LEN + LOGIN_REQUEST_LEN)
}

/// Writes an Unsequenced Data packet carrying `message`.
pub fn write_unsequenced_data(buf: &mut [u8], message: &[u8]) -> Result<usize, Error> {
    write_simple(buf, packet_type::UNSEQUENCED_DATA, message)
}

/// Writes a Client Heartbeat packet.
pub fn write_client_heartbeat(buf: &mut [u8]) -> Result<usize, Error> {
    write_simple(buf, packet_type::CLIENT_HEARTBEAT, &[])
}

/// Writes a Logout Request packet.
pub fn write_logout_request(buf: &mut [u8]) -> Result<usize, Error> {
    write_simple(buf, packet_type::LOGOUT_REQUEST, &[])
}

/// A data packet being written in place: the caller encodes the payload straight
/// into [`PayloadWriter::payload_mut`] and [`PayloadWriter::finish`] patches the
/// Packet Length. Saves a copy on the send path.
#[derive(Debug)]
pub struct PayloadWriter<'b> {
    buf: &'b mut [u8],
}

/// Starts a Sequenced Data packet in `buf` (which must hold at least the header).
pub fn begin_sequenced(buf: &mut [u8]) -> Result<PayloadWriter<'_>, Error> {
    begin(buf, packet_type::SEQUENCED_DATA)
}

/// Starts an Unsequenced Data packet in `buf` (which must hold at least the header).
pub fn begin_unsequenced(buf: &mut [u8]) -> Result<PayloadWriter<'_>, Error> {
    begin(buf, packet_type::UNSEQUENCED_DATA)
}

fn begin(buf: &mut [u8], type_byte: u8) -> Result<PayloadWriter<'_>, Error> {
    if buf.len() < HEADER_LEN {
        return Err(buffer_too_small(type_byte, HEADER_LEN, buf.len()));
    }
    buf[LENGTH_LEN] = type_byte;
    Ok(PayloadWriter { buf })
}

impl PayloadWriter<'_> {
    /// Room for the payload: everything after the header, capped at
    /// [`MAX_PAYLOAD`].
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.buf.len().min(HEADER_LEN + MAX_PAYLOAD);
        &mut self.buf[HEADER_LEN..end]
    }

    /// Writes the Packet Length for `payload_len` bytes written into
    /// [`PayloadWriter::payload_mut`]; returns the whole packet's length.
    pub fn finish(self, payload_len: usize) -> Result<usize, Error> {
        let type_byte = self.buf[LENGTH_LEN];
        let room = self.buf.len().min(HEADER_LEN + MAX_PAYLOAD) - HEADER_LEN;
        if payload_len > room {
            return Err(buffer_too_small(
                type_byte,
                HEADER_LEN + payload_len,
                self.buf.len(),
            ));
        }
        self.buf[..LENGTH_LEN].copy_from_slice(&((payload_len + 1) as u16).to_be_bytes());
        Ok(HEADER_LEN + payload_len)
    }
}

impl Packet<'_> {
    /// The Packet Type byte.
    pub fn type_byte(&self) -> u8 {
        use packet_type::*;
        match *self {
            Packet::Debug { .. } => DEBUG,
            Packet::LoginAccepted { .. } => LOGIN_ACCEPTED,
            Packet::LoginRejected { .. } => LOGIN_REJECTED,
            Packet::SequencedData { .. } => SEQUENCED_DATA,
            Packet::ServerHeartbeat => SERVER_HEARTBEAT,
            Packet::EndOfSession => END_OF_SESSION,
            Packet::LoginRequest { .. } => LOGIN_REQUEST,
            Packet::UnsequencedData { .. } => UNSEQUENCED_DATA,
            Packet::ClientHeartbeat => CLIENT_HEARTBEAT,
            Packet::LogoutRequest => LOGOUT_REQUEST,
            Packet::Unknown { type_byte, .. } => type_byte,
        }
    }

    /// Bytes the packet takes on the wire, length field included.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN
            + match *self {
                Packet::Debug { text: p }
                | Packet::SequencedData { message: p }
                | Packet::UnsequencedData { message: p }
                | Packet::Unknown { payload: p, .. } => p.len(),
                Packet::LoginAccepted { .. } => LOGIN_ACCEPTED_LEN,
                Packet::LoginRejected { .. } => 1,
                Packet::LoginRequest { .. } => LOGIN_REQUEST_LEN,
                Packet::ServerHeartbeat
                | Packet::EndOfSession
                | Packet::ClientHeartbeat
                | Packet::LogoutRequest => 0,
            }
    }

    /// Encodes the packet into `buf`; returns the bytes written.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, Error> {
        match *self {
            Packet::LoginAccepted {
                session,
                sequence_number,
            } => write_login_accepted(buf, session, sequence_number),
            Packet::LoginRejected { reason } => write_login_rejected(buf, reason),
            Packet::LoginRequest {
                username,
                password,
                requested_session,
                requested_sequence_number,
            } => write_login_request(
                buf,
                username,
                password,
                requested_session,
                requested_sequence_number,
            ),
            Packet::Debug { text: p }
            | Packet::SequencedData { message: p }
            | Packet::UnsequencedData { message: p }
            | Packet::Unknown { payload: p, .. } => write_simple(buf, self.type_byte(), p),
            Packet::ServerHeartbeat
            | Packet::EndOfSession
            | Packet::ClientHeartbeat
            | Packet::LogoutRequest => write_simple(buf, self.type_byte(), &[]),
        }
    }
}

impl Describe for Packet<'_> {
    fn protocol(&self) -> &'static str {
        PROTOCOL
    }

    fn kind(&self) -> &'static str {
        match self {
            Packet::Debug { .. } => "Debug",
            Packet::LoginAccepted { .. } => "LoginAccepted",
            Packet::LoginRejected { .. } => "LoginRejected",
            Packet::SequencedData { .. } => "SequencedData",
            Packet::ServerHeartbeat => "ServerHeartbeat",
            Packet::EndOfSession => "EndOfSession",
            Packet::LoginRequest { .. } => "LoginRequest",
            Packet::UnsequencedData { .. } => "UnsequencedData",
            Packet::ClientHeartbeat => "ClientHeartbeat",
            Packet::LogoutRequest => "LogoutRequest",
            Packet::Unknown { .. } => "Unknown",
        }
    }

    fn describe(&self, sink: &mut dyn FieldSink) {
        match *self {
            Packet::Debug { text } => sink.text("text", text),
            Packet::LoginAccepted {
                session,
                sequence_number,
            } => {
                sink.text("session", trim_alpha(session));
                sink.uint("sequence_number", sequence_number);
            }
            Packet::LoginRejected { reason } => sink.code("reject_reason_code", reason.as_byte()),
            Packet::SequencedData { message } | Packet::UnsequencedData { message } => {
                sink.uint("message_length", message.len() as u64)
            }
            Packet::LoginRequest {
                username,
                password,
                requested_session,
                requested_sequence_number,
            } => {
                sink.text("username", trim_alpha(username));
                // Lab credentials, shown as on the wire so a failed login can be
                // diagnosed from the capture alone.
                sink.text("password", trim_alpha(password));
                sink.text("requested_session", trim_alpha(requested_session));
                sink.uint("requested_sequence_number", requested_sequence_number);
            }
            Packet::Unknown { type_byte, payload } => {
                sink.code("packet_type", type_byte);
                sink.bytes("payload", payload);
            }
            Packet::ServerHeartbeat
            | Packet::EndOfSession
            | Packet::ClientHeartbeat
            | Packet::LogoutRequest => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::fields_of;
    use proptest::prelude::*;

    // Byte layouts below follow SoupBinTCP 3.00, section 2 (Packet Types).

    /// 2.2.1 Login Accepted: length 31, 'A', Session "SESSION001", Sequence Number
    /// 12345 right-justified in 20 bytes.
    const LOGIN_ACCEPTED: &[u8] = b"\x00\x1fASESSION001               12345";

    /// 2.3.1 Login Request: length 47, 'L', Username "ALICE ", Password
    /// "SECRET    ", Requested Session blank, Requested Sequence Number 1.
    const LOGIN_REQUEST: &[u8] = b"\x00\x2fLALICE SECRET                                 1";

    #[test]
    fn login_accepted_decodes_and_rebuilds() {
        assert_eq!(LOGIN_ACCEPTED.len(), 33);
        let (p, used) = frame(LOGIN_ACCEPTED).unwrap().unwrap();
        assert_eq!(used, 33);
        assert_eq!(
            p,
            Packet::LoginAccepted {
                session: b"SESSION001",
                sequence_number: 12345
            }
        );
        let mut buf = [0u8; 64];
        let n = write_login_accepted(&mut buf, b"SESSION001", 12345).unwrap();
        assert_eq!(&buf[..n], LOGIN_ACCEPTED);
    }

    #[test]
    fn login_request_decodes_and_rebuilds() {
        assert_eq!(LOGIN_REQUEST.len(), 49);
        let (p, used) = frame(LOGIN_REQUEST).unwrap().unwrap();
        assert_eq!(used, 49);
        assert_eq!(
            p,
            Packet::LoginRequest {
                username: b"ALICE ",
                password: b"SECRET    ",
                requested_session: b"          ",
                requested_sequence_number: 1
            }
        );
        let mut buf = [0u8; 64];
        let n = write_login_request(&mut buf, b"ALICE", b"SECRET", b"", 1).unwrap();
        assert_eq!(&buf[..n], LOGIN_REQUEST);
    }

    #[test]
    fn every_packet_type_round_trips() {
        let all = [
            Packet::Debug { text: b"hello" },
            Packet::LoginAccepted {
                session: b"ABCDEFGHIJ",
                sequence_number: u64::MAX,
            },
            Packet::LoginRejected {
                reason: RejectReason::NotAuthorized,
            },
            Packet::LoginRejected {
                reason: RejectReason::SessionNotAvailable,
            },
            Packet::LoginRejected {
                reason: RejectReason::Unknown(b'x'),
            },
            Packet::SequencedData { message: b"OUCH" },
            Packet::SequencedData { message: b"" },
            Packet::ServerHeartbeat,
            Packet::EndOfSession,
            Packet::LoginRequest {
                username: b"USER01",
                password: b"PASSWORD01",
                requested_session: b"SESSION001",
                requested_sequence_number: 0,
            },
            Packet::UnsequencedData {
                message: b"\x00\x01\x02",
            },
            Packet::ClientHeartbeat,
            Packet::LogoutRequest,
            Packet::Unknown {
                type_byte: b'?',
                payload: b"xyz",
            },
        ];
        let mut stream = Vec::new();
        for p in &all {
            let mut buf = [0u8; 64];
            let n = p.write(&mut buf).unwrap();
            assert_eq!(n, p.wire_len());
            assert_eq!(buf[2], p.type_byte());
            assert_eq!(frame(&buf[..n]).unwrap(), Some((*p, n)));
            stream.extend_from_slice(&buf[..n]);
        }
        // The same packets back to back in one stream.
        let mut rest = &stream[..];
        for p in &all {
            let (got, used) = frame(rest).unwrap().unwrap();
            assert_eq!(got, *p);
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn simple_writers_emit_spec_bytes() {
        let mut buf = [0u8; 8];
        let n = write_server_heartbeat(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x01H");
        let n = write_end_of_session(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x01Z");
        let n = write_client_heartbeat(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x01R");
        let n = write_logout_request(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x01O");
        let n = write_login_rejected(&mut buf, RejectReason::SessionNotAvailable).unwrap();
        assert_eq!(&buf[..n], b"\x00\x02JS");
        let n = write_debug(&mut buf, b"hi").unwrap();
        assert_eq!(&buf[..n], b"\x00\x03+hi");
        let n = write_unsequenced_data(&mut buf, b"O1").unwrap();
        assert_eq!(&buf[..n], b"\x00\x03UO1");
        let n = write_sequenced_data(&mut buf, b"ab").unwrap();
        assert_eq!(&buf[..n], b"\x00\x03Sab");
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        assert_eq!(frame(b""), Ok(None));
        assert_eq!(frame(b"\x00"), Ok(None));
        assert_eq!(frame(b"\x00\x01"), Ok(None));
        for cut in 0..LOGIN_REQUEST.len() {
            assert_eq!(frame(&LOGIN_REQUEST[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn zero_length_is_invalid() {
        assert_eq!(
            frame(b"\x00\x00S"),
            Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "packet_length",
                offset: 0,
                expected: "at least 1 (the packet type byte)"
            })
        );
    }

    #[test]
    fn wrong_fixed_lengths_are_invalid() {
        // A SoupBinTCP 4.x Login Request (51 payload bytes) is not a 3.00 one.
        let mut v4 = LOGIN_REQUEST.to_vec();
        v4[1] = 0x34;
        v4.extend_from_slice(b"30000");
        assert_eq!(
            frame(&v4),
            Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'L'),
                field: "packet_length",
                offset: 0,
                expected: "47 (Login Request: 46 payload bytes and the type)"
            })
        );
        // One byte missing from a well-formed Login Accepted: incomplete, not wrong.
        assert_eq!(frame(&LOGIN_ACCEPTED[..32]), Ok(None));
        let mut short = LOGIN_ACCEPTED[..32].to_vec();
        short[1] = 30;
        assert_eq!(frame(&short).unwrap_err().msg_type_byte(), Some(b'A'));
        assert_eq!(frame(&short).unwrap_err().field(), "packet_length");
        for t in [b'H', b'Z', b'R', b'O'] {
            let e = frame(&[0, 2, t, b'x']).unwrap_err();
            assert_eq!(e.field(), "packet_length");
            assert_eq!(e.msg_type_byte(), Some(t));
        }
        assert_eq!(frame(b"\x00\x01J").unwrap_err().field(), "packet_length");
        assert_eq!(frame(b"\x00\x03JAS").unwrap_err().field(), "packet_length");
    }

    trait MsgType {
        fn msg_type_byte(&self) -> Option<u8>;
    }
    impl MsgType for Error {
        fn msg_type_byte(&self) -> Option<u8> {
            match *self {
                Error::Truncated { msg_type, .. } | Error::Invalid { msg_type, .. } => msg_type,
            }
        }
    }

    #[test]
    fn bad_numeric_fields_name_field_and_offset() {
        let mut bad = LOGIN_ACCEPTED.to_vec();
        bad[30] = b'x'; // inside "12345" (sequence number starts at 13)
        assert_eq!(
            frame(&bad),
            Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'A'),
                field: "sequence_number",
                offset: 30,
                expected: "decimal digits padded with spaces"
            })
        );
        let mut blank = LOGIN_REQUEST.to_vec();
        blank[48] = b' ';
        assert_eq!(
            frame(&blank),
            Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'L'),
                field: "requested_sequence_number",
                offset: 29,
                expected: "a decimal number (the field is blank)"
            })
        );
        // Embedded space between digits.
        let mut gap = LOGIN_ACCEPTED.to_vec();
        gap[29] = b' ';
        assert_eq!(frame(&gap).unwrap_err().offset(), 29);
    }

    #[test]
    fn sequence_number_helpers() {
        assert_eq!(&format_sequence_number(0), b"                   0");
        assert_eq!(&format_sequence_number(42), b"                  42");
        assert_eq!(&format_sequence_number(u64::MAX), b"18446744073709551615");
        assert_eq!(parse_sequence_number(b"                  42"), Ok(42));
        // Left-justified senders are tolerated.
        assert_eq!(parse_sequence_number(b"42                  "), Ok(42));
        assert_eq!(parse_sequence_number(b"00000000000000000007"), Ok(7));
        assert_eq!(
            parse_sequence_number(b"18446744073709551616"),
            Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "sequence_number",
                offset: 0,
                expected: "a number below 2^64"
            })
        );
        assert_eq!(
            parse_sequence_number(b"                 -42")
                .unwrap_err()
                .offset(),
            17
        );
        assert_eq!(
            parse_sequence_number(b"                  4\x00")
                .unwrap_err()
                .offset(),
            19
        );
    }

    #[test]
    fn builders_refuse_small_buffers_and_long_fields() {
        let mut buf = [0u8; 10];
        assert_eq!(
            write_login_accepted(&mut buf, b"S", 1),
            Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: Some(b'A'),
                field: "buffer",
                offset: 0,
                needed: 33,
                available: 10
            })
        );
        assert_eq!(
            write_server_heartbeat(&mut buf[..2]).unwrap_err().field(),
            "buffer"
        );
        let mut big = [0u8; 64];
        assert_eq!(
            write_login_request(&mut big, b"TOOLONGUSER", b"p", b"", 1),
            Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'L'),
                field: "username",
                offset: 3,
                expected: "at most 6 bytes"
            })
        );
        assert_eq!(
            write_login_request(&mut big, b"u", b"01234567890", b"", 1)
                .unwrap_err()
                .offset(),
            9
        );
        assert_eq!(
            write_login_request(&mut big, b"u", b"p", b"01234567890", 1)
                .unwrap_err()
                .field(),
            "requested_session"
        );
        let huge = vec![0u8; MAX_PAYLOAD + 1];
        let mut out = vec![0u8; MAX_PAYLOAD + 8];
        assert_eq!(
            write_sequenced_data(&mut out, &huge).unwrap_err().field(),
            "packet_length"
        );
        let n = write_sequenced_data(&mut out, &huge[..MAX_PAYLOAD]).unwrap();
        assert_eq!(&out[..3], b"\xff\xffS");
        assert_eq!(frame(&out[..n]).unwrap().unwrap().1, n);
    }

    #[test]
    fn begin_sequenced_writes_in_place() {
        let mut buf = [0u8; 16];
        let mut w = begin_sequenced(&mut buf).unwrap();
        assert_eq!(w.payload_mut().len(), 13);
        w.payload_mut()[..4].copy_from_slice(b"OUCH");
        let n = w.finish(4).unwrap();
        assert_eq!(&buf[..n], b"\x00\x05SOUCH");
        let mut w = begin_unsequenced(&mut buf).unwrap();
        w.payload_mut()[0] = b'O';
        let n = w.finish(1).unwrap();
        assert_eq!(
            frame(&buf[..n]).unwrap().unwrap().0,
            Packet::UnsequencedData { message: b"O" }
        );
        let w = begin_sequenced(&mut buf).unwrap();
        assert_eq!(
            w.finish(14),
            Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: Some(b'S'),
                field: "buffer",
                offset: 0,
                needed: 17,
                available: 16
            })
        );
        assert_eq!(
            begin_sequenced(&mut buf[..2]).unwrap_err().field(),
            "buffer"
        );
    }

    fn described(p: &Packet<'_>) -> (&'static str, Vec<String>) {
        assert_eq!(p.protocol(), "soupbintcp");
        (p.kind(), fields_of(p))
    }

    #[test]
    fn describes_every_packet() {
        let (p, _) = frame(LOGIN_ACCEPTED).unwrap().unwrap();
        assert_eq!(
            described(&p),
            (
                "LoginAccepted",
                vec![
                    r#"session="SESSION001""#.into(),
                    "sequence_number=12345".into()
                ]
            )
        );
        let (p, _) = frame(LOGIN_REQUEST).unwrap().unwrap();
        assert_eq!(
            described(&p),
            (
                "LoginRequest",
                vec![
                    r#"username="ALICE""#.into(),
                    r#"password="SECRET""#.into(),
                    r#"requested_session="""#.into(),
                    "requested_sequence_number=1".into()
                ]
            )
        );
        assert_eq!(
            described(&Packet::SequencedData { message: b"abc" }),
            ("SequencedData", vec!["message_length=3".into()])
        );
        assert_eq!(
            described(&Packet::UnsequencedData { message: b"ab" }),
            ("UnsequencedData", vec!["message_length=2".into()])
        );
        assert_eq!(
            described(&Packet::LoginRejected {
                reason: RejectReason::NotAuthorized
            }),
            ("LoginRejected", vec!["reject_reason_code='A'".into()])
        );
        assert_eq!(
            described(&Packet::Debug { text: b"t" }),
            ("Debug", vec![r#"text="t""#.into()])
        );
        assert_eq!(
            described(&Packet::Unknown {
                type_byte: b'Q',
                payload: b"12"
            }),
            (
                "Unknown",
                vec!["packet_type='Q'".into(), "payload=[31, 32]".into()]
            )
        );
        for (p, k) in [
            (Packet::ServerHeartbeat, "ServerHeartbeat"),
            (Packet::EndOfSession, "EndOfSession"),
            (Packet::ClientHeartbeat, "ClientHeartbeat"),
            (Packet::LogoutRequest, "LogoutRequest"),
        ] {
            assert_eq!(described(&p), (k, vec![]));
        }
    }

    fn frame_all(stream: &[u8]) -> Result<Vec<(Packet<'_>, usize)>, Error> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some((p, n)) = frame(&stream[pos..])? {
            out.push((p, n));
            pos += n;
        }
        Ok(out)
    }

    fn arb_packet() -> impl Strategy<Value = Vec<u8>> {
        (
            0u8..11,
            proptest::collection::vec(any::<u8>(), 0..30),
            any::<u64>(),
        )
            .prop_map(|(kind, data, seq)| {
                let mut buf = [0u8; 64];
                let n = match kind {
                    0 => write_debug(&mut buf, &data),
                    1 => write_login_accepted(&mut buf, b"SESS", seq),
                    2 => write_login_rejected(&mut buf, RejectReason::from_byte(b'S')),
                    3 => write_sequenced_data(&mut buf, &data),
                    4 => write_server_heartbeat(&mut buf),
                    5 => write_end_of_session(&mut buf),
                    6 => write_login_request(&mut buf, b"u", b"p", b"s", seq),
                    7 => write_unsequenced_data(&mut buf, &data),
                    8 => write_client_heartbeat(&mut buf),
                    9 => write_logout_request(&mut buf),
                    _ => Packet::Unknown {
                        type_byte: b'q',
                        payload: &data,
                    }
                    .write(&mut buf),
                }
                .unwrap();
                buf[..n].to_vec()
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(Some((p, n))) = frame(&bytes) {
                prop_assert!(n <= bytes.len());
                prop_assert_eq!(n, p.wire_len());
                fields_of(&p);
            }
        }

        #[test]
        fn split_streams_frame_identically(
            packets in proptest::collection::vec(arb_packet(), 1..8),
            split in any::<prop::sample::Index>(),
        ) {
            let stream: Vec<u8> = packets.concat();
            let whole = frame_all(&stream).unwrap();
            prop_assert_eq!(whole.len(), packets.len());
            // Feed the stream in two reads, as TCP may deliver it, buffering the
            // unconsumed tail like a session reader does.
            let cut = split.index(stream.len() + 1);
            let mut pending: Vec<u8> = Vec::new();
            let mut got: Vec<(Vec<u8>, usize)> = Vec::new();
            for chunk in [&stream[..cut], &stream[cut..]] {
                pending.extend_from_slice(chunk);
                let mut pos = 0;
                while let Some((p, n)) = frame(&pending[pos..]).unwrap() {
                    let mut enc = [0u8; 64];
                    let m = p.write(&mut enc).unwrap();
                    got.push((enc[..m].to_vec(), n));
                    pos += n;
                }
                pending.drain(..pos);
            }
            prop_assert!(pending.is_empty());
            let want: Vec<(Vec<u8>, usize)> = packets.iter().map(|p| (p.clone(), p.len())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
