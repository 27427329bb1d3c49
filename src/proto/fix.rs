//! FIX 4.2 / 4.4 (and FIXT.1.1 session) tag=value messages: stream framing, a
//! zero-copy message view, and a builder that writes BodyLength and CheckSum.
//!
//! A message is `8=<BeginString><SOH>9=<BodyLength><SOH>` then the body, which
//! starts with `35=<MsgType><SOH>` and is exactly BodyLength bytes (from after the
//! SOH that ends field 9 up to and including the SOH before `10=`), then
//! `10=<CheckSum><SOH>` where CheckSum is the sum of every byte before `10=`,
//! modulo 256, as three digits.
//!
//! [`frame`] cuts one message off the front of a TCP stream and validates all of
//! that, plus the syntax of every field (tag digits without leading zero, `=`,
//! non-empty value, SOH), so the [`Message`] accessors never fail afterwards.
//! Length-prefixed data fields (RawData(96) after RawDataLength(95), and the other
//! pairs in [`data_tag_for`]) may contain SOH and are taken by their length.
//! Nothing here allocates, whatever BodyLength claims: BodyLength is bounded to
//! [`MAX_BODY_LENGTH_DIGITS`] digits and only compared against the bytes present.
//!
//! [`FixBuilder`] writes into a caller's buffer. It reserves room for BodyLength
//! as wide as the buffer's length could ever need, writes the body after it, and
//! on `finish` writes the real digits and moves the body left once by the unused
//! width; then it appends the CheckSum.
//!
//! ```
//! use ticklab::proto::fix::{frame, FixBuilder, MsgType};
//! let mut buf = [0u8; 128];
//! let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"0");
//! b.field(49, b"CORE").field(56, b"LAB").field_u64(34, 7);
//! let n = b.finish().unwrap();
//! let (msg, used) = frame(&buf[..n]).unwrap().unwrap();
//! assert_eq!(used, n);
//! assert_eq!(msg.msg_kind(), MsgType::Heartbeat);
//! assert_eq!(msg.seq_num(), Some(7));
//! assert_eq!(msg.sender_comp_id(), Some(&b"CORE"[..]));
//! ```

use crate::codec::{Describe, Error, FieldSink};

/// Protocol name used in errors and by [`Describe`].
pub const PROTOCOL: &str = "fix";
/// The field delimiter.
pub const SOH: u8 = 0x01;
/// BodyLength may have at most this many digits (up to 99,999,999 bytes). [`frame`]
/// answers `Ok(None)` until a claimed body has arrived, so a stream reader should
/// still cap how much it buffers for one message.
pub const MAX_BODY_LENGTH_DIGITS: usize = 8;
/// A tag may have at most this many digits (so it fits a `u32`).
pub const MAX_TAG_DIGITS: usize = 9;
/// Bytes of the trailer `10=NNN<SOH>`.
pub const TRAILER_LEN: usize = 7;

/// Well-known tag numbers.
pub mod tag {
    pub const ACCOUNT: u32 = 1;
    pub const AVG_PX: u32 = 6;
    pub const BEGIN_SEQ_NO: u32 = 7;
    pub const BEGIN_STRING: u32 = 8;
    pub const BODY_LENGTH: u32 = 9;
    pub const CHECK_SUM: u32 = 10;
    pub const CL_ORD_ID: u32 = 11;
    pub const CUM_QTY: u32 = 14;
    pub const END_SEQ_NO: u32 = 16;
    pub const EXEC_ID: u32 = 17;
    pub const EXEC_TRANS_TYPE: u32 = 20;
    pub const HANDL_INST: u32 = 21;
    pub const LAST_PX: u32 = 31;
    pub const LAST_QTY: u32 = 32;
    pub const MSG_SEQ_NUM: u32 = 34;
    pub const MSG_TYPE: u32 = 35;
    pub const NEW_SEQ_NO: u32 = 36;
    pub const ORDER_ID: u32 = 37;
    pub const ORDER_QTY: u32 = 38;
    pub const ORD_STATUS: u32 = 39;
    pub const ORD_TYPE: u32 = 40;
    pub const ORIG_CL_ORD_ID: u32 = 41;
    pub const POSS_DUP_FLAG: u32 = 43;
    pub const PRICE: u32 = 44;
    pub const REF_SEQ_NUM: u32 = 45;
    pub const SENDER_COMP_ID: u32 = 49;
    pub const SENDING_TIME: u32 = 52;
    pub const SIDE: u32 = 54;
    pub const SYMBOL: u32 = 55;
    pub const TARGET_COMP_ID: u32 = 56;
    pub const TEXT: u32 = 58;
    pub const TIME_IN_FORCE: u32 = 59;
    pub const TRANSACT_TIME: u32 = 60;
    pub const RAW_DATA_LENGTH: u32 = 95;
    pub const RAW_DATA: u32 = 96;
    pub const ENCRYPT_METHOD: u32 = 98;
    pub const HEART_BT_INT: u32 = 108;
    pub const TEST_REQ_ID: u32 = 112;
    pub const GAP_FILL_FLAG: u32 = 123;
    pub const RESET_SEQ_NUM_FLAG: u32 = 141;
    pub const EXEC_TYPE: u32 = 150;
    pub const LEAVES_QTY: u32 = 151;
    pub const REF_TAG_ID: u32 = 371;
    pub const REF_MSG_TYPE: u32 = 372;
    pub const SESSION_REJECT_REASON: u32 = 373;
}

/// The BeginString values this module frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Fix42,
    Fix44,
    /// FIXT.1.1 (FIX 5.0 sessions): same framing.
    Fixt11,
}

impl Version {
    /// The BeginString(8) value.
    pub fn begin_string(self) -> &'static str {
        match self {
            Version::Fix42 => "FIX.4.2",
            Version::Fix44 => "FIX.4.4",
            Version::Fixt11 => "FIXT.1.1",
        }
    }
}

/// `8=<BeginString><SOH>` for every version we accept.
const PREFIXES: [(&[u8], Version); 3] = [
    (b"8=FIX.4.2\x01", Version::Fix42),
    (b"8=FIX.4.4\x01", Version::Fix44),
    (b"8=FIXT.1.1\x01", Version::Fixt11),
];

/// MsgType(35) values with typed helpers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    /// `0`
    Heartbeat,
    /// `1`
    TestRequest,
    /// `2`
    ResendRequest,
    /// `3`
    Reject,
    /// `4`
    SequenceReset,
    /// `5`
    Logout,
    /// `8`
    ExecutionReport,
    /// `9`
    OrderCancelReject,
    /// `A`
    Logon,
    /// `D`
    NewOrderSingle,
    /// `F`
    OrderCancelRequest,
    /// `G`
    OrderCancelReplaceRequest,
    /// `H`
    OrderStatusRequest,
    /// `j`
    BusinessMessageReject,
    /// Any other value; the raw bytes are in [`Message::msg_type`].
    Unknown,
}

impl MsgType {
    /// Classifies a MsgType(35) value.
    pub fn from_bytes(v: &[u8]) -> Self {
        match v {
            b"0" => MsgType::Heartbeat,
            b"1" => MsgType::TestRequest,
            b"2" => MsgType::ResendRequest,
            b"3" => MsgType::Reject,
            b"4" => MsgType::SequenceReset,
            b"5" => MsgType::Logout,
            b"8" => MsgType::ExecutionReport,
            b"9" => MsgType::OrderCancelReject,
            b"A" => MsgType::Logon,
            b"D" => MsgType::NewOrderSingle,
            b"F" => MsgType::OrderCancelRequest,
            b"G" => MsgType::OrderCancelReplaceRequest,
            b"H" => MsgType::OrderStatusRequest,
            b"j" => MsgType::BusinessMessageReject,
            _ => MsgType::Unknown,
        }
    }

    /// The wire value (`b""` for `Unknown`).
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            MsgType::Heartbeat => b"0",
            MsgType::TestRequest => b"1",
            MsgType::ResendRequest => b"2",
            MsgType::Reject => b"3",
            MsgType::SequenceReset => b"4",
            MsgType::Logout => b"5",
            MsgType::ExecutionReport => b"8",
            MsgType::OrderCancelReject => b"9",
            MsgType::Logon => b"A",
            MsgType::NewOrderSingle => b"D",
            MsgType::OrderCancelRequest => b"F",
            MsgType::OrderCancelReplaceRequest => b"G",
            MsgType::OrderStatusRequest => b"H",
            MsgType::BusinessMessageReject => b"j",
            MsgType::Unknown => b"",
        }
    }

    /// The specification's name, e.g. `"NewOrderSingle"`; `"Unknown"` otherwise.
    pub fn name(self) -> &'static str {
        match self {
            MsgType::Heartbeat => "Heartbeat",
            MsgType::TestRequest => "TestRequest",
            MsgType::ResendRequest => "ResendRequest",
            MsgType::Reject => "Reject",
            MsgType::SequenceReset => "SequenceReset",
            MsgType::Logout => "Logout",
            MsgType::ExecutionReport => "ExecutionReport",
            MsgType::OrderCancelReject => "OrderCancelReject",
            MsgType::Logon => "Logon",
            MsgType::NewOrderSingle => "NewOrderSingle",
            MsgType::OrderCancelRequest => "OrderCancelRequest",
            MsgType::OrderCancelReplaceRequest => "OrderCancelReplaceRequest",
            MsgType::OrderStatusRequest => "OrderStatusRequest",
            MsgType::BusinessMessageReject => "BusinessMessageReject",
            MsgType::Unknown => "Unknown",
        }
    }
}

/// The name of a MsgType(35) value, `"Unknown"` for values not in [`MsgType`].
pub fn msg_type_name(v: &[u8]) -> &'static str {
    MsgType::from_bytes(v).name()
}

/// The FIX 4.4 name of a tag, for display. (Where 4.2 named a tag differently the
/// 4.2 name is noted.)
pub fn tag_name(tag: u32) -> Option<&'static str> {
    Some(match tag {
        1 => "Account",
        6 => "AvgPx",
        7 => "BeginSeqNo",
        8 => "BeginString",
        9 => "BodyLength",
        10 => "CheckSum",
        11 => "ClOrdID",
        14 => "CumQty",
        15 => "Currency",
        16 => "EndSeqNo",
        17 => "ExecID",
        18 => "ExecInst",
        19 => "ExecRefID",
        20 => "ExecTransType", // 4.2 only
        21 => "HandlInst",
        22 => "SecurityIDSource", // 4.2: IDSource
        31 => "LastPx",
        32 => "LastQty", // 4.2: LastShares
        34 => "MsgSeqNum",
        35 => "MsgType",
        36 => "NewSeqNo",
        37 => "OrderID",
        38 => "OrderQty",
        39 => "OrdStatus",
        40 => "OrdType",
        41 => "OrigClOrdID",
        43 => "PossDupFlag",
        44 => "Price",
        45 => "RefSeqNum",
        48 => "SecurityID",
        49 => "SenderCompID",
        50 => "SenderSubID",
        52 => "SendingTime",
        54 => "Side",
        55 => "Symbol",
        56 => "TargetCompID",
        57 => "TargetSubID",
        58 => "Text",
        59 => "TimeInForce",
        60 => "TransactTime",
        63 => "SettlType", // 4.2: SettlmntTyp
        64 => "SettlDate", // 4.2: FutSettDate
        89 => "Signature",
        90 => "SecureDataLen",
        91 => "SecureData",
        93 => "SignatureLength",
        95 => "RawDataLength",
        96 => "RawData",
        97 => "PossResend",
        98 => "EncryptMethod",
        99 => "StopPx",
        100 => "ExDestination",
        102 => "CxlRejReason",
        103 => "OrdRejReason",
        108 => "HeartBtInt",
        110 => "MinQty",
        111 => "MaxFloor",
        112 => "TestReqID",
        115 => "OnBehalfOfCompID",
        122 => "OrigSendingTime",
        123 => "GapFillFlag",
        126 => "ExpireTime",
        128 => "DeliverToCompID",
        141 => "ResetSeqNumFlag",
        150 => "ExecType",
        151 => "LeavesQty",
        167 => "SecurityType",
        207 => "SecurityExchange",
        212 => "XmlDataLen",
        213 => "XmlData",
        354 => "EncodedTextLen",
        355 => "EncodedText",
        371 => "RefTagID",
        372 => "RefMsgType",
        373 => "SessionRejectReason",
        379 => "BusinessRejectRefID",
        380 => "BusinessRejectReason",
        434 => "CxlRejResponseTo",
        553 => "Username",
        554 => "Password",
        789 => "NextExpectedMsgSeqNum",
        1128 => "ApplVerID",
        1137 => "DefaultApplVerID",
        _ => return None,
    })
}

/// For a length tag of a data field, the data tag whose value it measures (data
/// values may contain SOH and are read by length).
pub fn data_tag_for(length_tag: u32) -> Option<u32> {
    Some(match length_tag {
        90 => 91,   // SecureDataLen -> SecureData
        93 => 89,   // SignatureLength -> Signature
        95 => 96,   // RawDataLength -> RawData
        212 => 213, // XmlDataLen -> XmlData
        348 => 349, // EncodedIssuerLen
        350 => 351, // EncodedSecurityDescLen
        352 => 353, // EncodedListExecInstLen
        354 => 355, // EncodedTextLen -> EncodedText
        _ => return None,
    })
}

/// `(data_tag, length)` the next field must satisfy, if the previous field was a
/// data length.
type PendingData = Option<(u32, usize)>;

/// One field's place in a buffer.
struct RawField {
    tag: u32,
    value_start: usize,
    value_end: usize,
    next: usize,
}

/// Parses the field at `pos` (which must end before `end`). On error, returns the
/// offset and the field name/expectation.
fn parse_field(
    buf: &[u8],
    pos: usize,
    end: usize,
    pending: PendingData,
) -> Result<RawField, (usize, &'static str, &'static str)> {
    let region = buf.get(..end).unwrap_or(buf);
    let mut tag: u32 = 0;
    let mut i = pos;
    loop {
        match region.get(i) {
            Some(&b) if b.is_ascii_digit() => {
                if i - pos == MAX_TAG_DIGITS {
                    return Err((pos, "tag", "a tag number of at most 9 digits"));
                }
                tag = tag * 10 + u32::from(b - b'0');
                i += 1;
            }
            Some(b'=') if i > pos => break,
            Some(_) => return Err((i, "tag", "a tag number (digits) followed by '='")),
            None => return Err((pos, "tag", "tag=value followed by SOH")),
        }
    }
    if region.get(pos) == Some(&b'0') {
        return Err((pos, "tag", "a positive tag number without leading zeros"));
    }
    let value_start = i + 1;
    let value_end = match pending {
        Some((data_tag, len)) if data_tag == tag => {
            let ve = value_start.saturating_add(len);
            if region.get(ve) != Some(&SOH) {
                return Err((
                    value_start,
                    "value",
                    "data as long as its length field says, then SOH",
                ));
            }
            ve
        }
        _ => {
            let rest = region.get(value_start..).unwrap_or(&[]);
            match rest.iter().position(|&b| b == SOH) {
                Some(n) => value_start + n,
                None => return Err((pos, "value", "a value ending in SOH")),
            }
        }
    };
    if value_end == value_start {
        return Err((value_start, "value", "a non-empty value"));
    }
    Ok(RawField {
        tag,
        value_start,
        value_end,
        next: value_end + 1,
    })
}

fn pending_after(tag: u32, value: &[u8]) -> PendingData {
    let data_tag = data_tag_for(tag)?;
    let len = parse_u64(value)?;
    Some((data_tag, usize::try_from(len).ok()?))
}

/// Parses a FIX int made only of ASCII digits (no sign); `None` on anything else
/// or overflow.
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The sum of `bytes` modulo 256: the FIX CheckSum.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

const CHECKSUM_TEXT_LEN: usize = 21;

/// `"computed checksum NNN"` for every checksum, so an `Invalid` error (whose
/// `expected` is a `&'static str`) can say what the checksum should have been.
static CHECKSUM_EXPECTED: [[u8; CHECKSUM_TEXT_LEN]; 256] = checksum_texts();

const fn checksum_texts() -> [[u8; CHECKSUM_TEXT_LEN]; 256] {
    let prefix = b"computed checksum ";
    let mut table = [[0u8; CHECKSUM_TEXT_LEN]; 256];
    let mut i = 0;
    while i < 256 {
        let mut j = 0;
        while j < prefix.len() {
            table[i][j] = prefix[j];
            j += 1;
        }
        table[i][18] = b'0' + (i / 100) as u8;
        table[i][19] = b'0' + ((i / 10) % 10) as u8;
        table[i][20] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
}

fn checksum_expected(sum: u8) -> &'static str {
    core::str::from_utf8(&CHECKSUM_EXPECTED[usize::from(sum)]).unwrap_or("a different checksum")
}

fn invalid(
    msg_type: Option<u8>,
    field: &'static str,
    offset: usize,
    expected: &'static str,
) -> Error {
    Error::Invalid {
        protocol: PROTOCOL,
        msg_type,
        field,
        offset,
        expected,
    }
}

/// Cuts the first message off `buf`, the front of a FIX byte stream.
///
/// `Ok(None)`: `buf` holds only the start of a message; read more and call again.
/// `Ok(Some((message, consumed)))`: a complete, validated message. Errors name the
/// field (`"BeginString(8)"`, `"BodyLength(9)"`, `"MsgType(35)"`, `"CheckSum(10)"`,
/// `"tag"`, `"value"`) and its offset in `buf`.
pub fn frame(buf: &[u8]) -> Result<Option<(Message<'_>, usize)>, Error> {
    // BeginString.
    let mut begin = None;
    let mut could_be = false;
    for (prefix, version) in PREFIXES {
        if buf.starts_with(prefix) {
            begin = Some((version, prefix.len()));
            break;
        }
        could_be |= prefix.starts_with(buf);
    }
    let Some((version, mut pos)) = begin else {
        if could_be {
            return Ok(None);
        }
        return Err(invalid(
            None,
            "BeginString(8)",
            0,
            "8=FIX.4.2, 8=FIX.4.4 or 8=FIXT.1.1 then SOH",
        ));
    };

    // BodyLength.
    match buf.get(pos..pos + 2) {
        Some(b"9=") => {}
        Some(_) => {
            return Err(invalid(
                None,
                "BodyLength(9)",
                pos,
                "9=<BodyLength> right after BeginString",
            ))
        }
        None => {
            let rest = buf.get(pos..).unwrap_or(&[]);
            if b"9=".starts_with(rest) {
                return Ok(None);
            }
            return Err(invalid(
                None,
                "BodyLength(9)",
                pos,
                "9=<BodyLength> right after BeginString",
            ));
        }
    }
    pos += 2;
    let digits_at = pos;
    let mut body_len: usize = 0;
    loop {
        match buf.get(pos) {
            None => return Ok(None),
            Some(&b) if b.is_ascii_digit() => {
                if pos - digits_at == MAX_BODY_LENGTH_DIGITS {
                    return Err(invalid(
                        None,
                        "BodyLength(9)",
                        digits_at,
                        "at most 8 digits",
                    ));
                }
                body_len = body_len * 10 + usize::from(b - b'0');
                pos += 1;
            }
            Some(&SOH) if pos > digits_at => break,
            Some(_) => {
                return Err(invalid(
                    None,
                    "BodyLength(9)",
                    pos,
                    "decimal digits then SOH",
                ))
            }
        }
    }
    let body_start = pos + 1;

    // MsgType must open the body; check what is already there so a stream of
    // garbage is refused before its claimed length arrives.
    let present = buf.get(body_start..).unwrap_or(&[]);
    let opening = &present[..present.len().min(3)];
    if !b"35=".starts_with(opening) {
        return Err(invalid(
            None,
            "MsgType(35)",
            body_start,
            "MsgType(35) as the first field of the body",
        ));
    }

    let trailer_start = body_start + body_len;
    let total = trailer_start + TRAILER_LEN;
    if buf.len() < total {
        return Ok(None);
    }
    let Some(msg) = buf.get(..total) else {
        return Ok(None);
    };
    if !msg[trailer_start..].starts_with(b"10=") || (body_len > 0 && msg[trailer_start - 1] != SOH)
    {
        return Err(invalid(
            None,
            "BodyLength(9)",
            digits_at,
            "the length of the body up to the SOH before 10=",
        ));
    }

    // MsgType: the first field of the body.
    let not_msg_type = || {
        invalid(
            None,
            "MsgType(35)",
            body_start,
            "MsgType(35) as the first field of the body",
        )
    };
    if body_len == 0 {
        return Err(not_msg_type());
    }
    let first = parse_field(msg, body_start, trailer_start, None)
        .map_err(|(off, field, expected)| invalid(None, field, off, expected))?;
    if first.tag != tag::MSG_TYPE {
        return Err(not_msg_type());
    }
    let msg_type_range = (first.value_start, first.value_end);
    let msg_type = match &msg[first.value_start..first.value_end] {
        [one] => Some(*one),
        _ => None,
    };

    // CheckSum, before the other fields: a corrupted message is reported as such
    // rather than as whatever syntax error the corruption produced.
    let digits = &msg[trailer_start + 3..trailer_start + 6];
    if !digits.iter().all(u8::is_ascii_digit) || msg[total - 1] != SOH {
        return Err(invalid(
            msg_type,
            "CheckSum(10)",
            trailer_start + 3,
            "three digits then SOH",
        ));
    }
    let stated = digits
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    let computed = checksum(&msg[..trailer_start]);
    if stated != u32::from(computed) {
        return Err(invalid(
            msg_type,
            "CheckSum(10)",
            trailer_start + 3,
            checksum_expected(computed),
        ));
    }

    // The remaining fields, validated once so the view never fails.
    let mut at = first.next;
    let mut pending: PendingData = None;
    while at < trailer_start {
        let f = parse_field(msg, at, trailer_start, pending)
            .map_err(|(off, field, expected)| invalid(msg_type, field, off, expected))?;
        pending = pending_after(f.tag, &msg[f.value_start..f.value_end]);
        at = f.next;
    }

    Ok(Some((
        Message {
            buf: msg,
            version,
            body_start,
            trailer_start,
            msg_type: msg_type_range,
        },
        total,
    )))
}

/// A validated FIX message borrowing the stream buffer. Made only by [`frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    buf: &'a [u8],
    version: Version,
    body_start: usize,
    trailer_start: usize,
    msg_type: (usize, usize),
}

impl<'a> Message<'a> {
    /// The whole message, `8=` through the SOH after the CheckSum.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Which BeginString the message carries.
    pub fn version(&self) -> Version {
        self.version
    }

    /// BeginString(8), e.g. `b"FIX.4.2"`.
    pub fn begin_string(&self) -> &'a [u8] {
        self.version.begin_string().as_bytes()
    }

    /// The body: from `35=` through the SOH before `10=` (BodyLength bytes).
    pub fn body(&self) -> &'a [u8] {
        self.buf
            .get(self.body_start..self.trailer_start)
            .unwrap_or(&[])
    }

    /// BodyLength(9).
    pub fn body_length(&self) -> usize {
        self.trailer_start - self.body_start
    }

    /// CheckSum(10), already verified.
    pub fn checksum(&self) -> u8 {
        checksum(self.buf.get(..self.trailer_start).unwrap_or(&[]))
    }

    /// MsgType(35), raw.
    pub fn msg_type(&self) -> &'a [u8] {
        self.buf
            .get(self.msg_type.0..self.msg_type.1)
            .unwrap_or(&[])
    }

    /// MsgType(35), classified.
    pub fn msg_kind(&self) -> MsgType {
        MsgType::from_bytes(self.msg_type())
    }

    /// MsgSeqNum(34), if present and numeric.
    pub fn seq_num(&self) -> Option<u64> {
        self.get_u64(tag::MSG_SEQ_NUM)
    }

    /// SenderCompID(49).
    pub fn sender_comp_id(&self) -> Option<&'a [u8]> {
        self.get(tag::SENDER_COMP_ID)
    }

    /// TargetCompID(56).
    pub fn target_comp_id(&self) -> Option<&'a [u8]> {
        self.get(tag::TARGET_COMP_ID)
    }

    /// Every field in wire order, 8, 9 and 10 included.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            buf: self.buf,
            pos: 0,
            pending: None,
        }
    }

    /// The first value of `tag`.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.fields().find(|&(t, _)| t == tag).map(|(_, v)| v)
    }

    /// The first value of `tag` as an unsigned integer (`None` if absent or not
    /// all digits).
    pub fn get_u64(&self, tag: u32) -> Option<u64> {
        self.get(tag).and_then(parse_u64)
    }
}

/// The fields of a [`Message`] as `(tag, value)`, in wire order.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    pending: PendingData,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        // `frame` validated every field, so this cannot fail; stop if it somehow does.
        let Ok(f) = parse_field(self.buf, self.pos, self.buf.len(), self.pending) else {
            self.pos = self.buf.len();
            return None;
        };
        let value = self.buf.get(f.value_start..f.value_end)?;
        self.pending = pending_after(f.tag, value);
        self.pos = f.next;
        Some((f.tag, value))
    }
}

impl core::iter::FusedIterator for Fields<'_> {}

impl Describe for Message<'_> {
    fn protocol(&self) -> &'static str {
        PROTOCOL
    }

    fn kind(&self) -> &'static str {
        self.msg_kind().name()
    }

    fn describe(&self, sink: &mut dyn FieldSink) {
        for (t, v) in self.fields() {
            sink.tag(t, tag_name(t), v);
        }
    }
}

/// A fixed-point decimal for prices and quantities: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: i64,
    pub scale: u8,
}

impl Decimal {
    pub const fn new(mantissa: i64, scale: u8) -> Self {
        Decimal { mantissa, scale }
    }

    /// Formats into `out` (which 41 bytes always suffice for); returns the length.
    fn format(self, out: &mut [u8; 42]) -> usize {
        let mut digits = [0u8; 20];
        let mut n = self.mantissa.unsigned_abs();
        let mut nd = 0;
        loop {
            digits[nd] = b'0' + (n % 10) as u8;
            nd += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let scale = usize::from(self.scale.min(20));
        // Pad with zeros so there is at least one digit before the point.
        while nd <= scale {
            digits[nd] = b'0';
            nd += 1;
        }
        let mut len = 0;
        if self.mantissa < 0 {
            out[len] = b'-';
            len += 1;
        }
        for i in (0..nd).rev() {
            if i + 1 == scale {
                out[len] = b'.';
                len += 1;
            }
            out[len] = digits[i];
            len += 1;
        }
        len
    }
}

fn format_u64(v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    let mut n = v;
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

fn decimal_digits(mut v: usize) -> usize {
    let mut d = 1;
    while v >= 10 {
        v /= 10;
        d += 1;
    }
    d
}

/// Writes one FIX message into a caller's buffer, field by field.
///
/// Field methods chain; the first failure (buffer too small, a value containing
/// SOH or empty) is remembered and returned by [`FixBuilder::finish`], and later
/// writes are skipped. Nothing allocates.
#[derive(Debug)]
pub struct FixBuilder<'b> {
    buf: &'b mut [u8],
    /// Where the BodyLength digits go.
    length_at: usize,
    /// Digits reserved for BodyLength.
    width: usize,
    pos: usize,
    msg_type: Option<u8>,
    error: Option<Error>,
}

impl<'b> FixBuilder<'b> {
    /// Starts `8=<begin_string>|9=<reserved>|35=<msg_type>|`.
    pub fn new(buf: &'b mut [u8], begin_string: &str, msg_type: &[u8]) -> Self {
        let width = decimal_digits(buf.len());
        let mut b = FixBuilder {
            buf,
            length_at: 0,
            width,
            pos: 0,
            msg_type: match msg_type {
                [one] => Some(*one),
                _ => None,
            },
            error: None,
        };
        b.raw_field(tag::BEGIN_STRING, begin_string.as_bytes());
        b.put(b"9=");
        b.length_at = b.pos;
        for _ in 0..width {
            b.put(b"0");
        }
        b.put(&[SOH]);
        b.raw_field(tag::MSG_TYPE, msg_type);
        b
    }

    /// Starts a message with the standard header fields SenderCompID(49),
    /// TargetCompID(56), MsgSeqNum(34) and SendingTime(52).
    pub fn with_header(buf: &'b mut [u8], header: &Header<'_>, msg_type: &[u8]) -> Self {
        let mut b = FixBuilder::new(buf, header.begin_string, msg_type);
        b.field(tag::SENDER_COMP_ID, header.sender_comp_id)
            .field(tag::TARGET_COMP_ID, header.target_comp_id)
            .field_u64(tag::MSG_SEQ_NUM, header.msg_seq_num)
            .field(tag::SENDING_TIME, header.sending_time);
        b
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let available = self.buf.len() - self.pos;
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(out) => {
                out.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => {
                self.error = Some(Error::Truncated {
                    protocol: PROTOCOL,
                    msg_type: self.msg_type,
                    field: "buffer",
                    offset: self.pos,
                    needed: bytes.len(),
                    available,
                })
            }
        }
    }

    fn fail(&mut self, field: &'static str, expected: &'static str) {
        if self.error.is_none() {
            self.error = Some(invalid(self.msg_type, field, self.pos, expected));
        }
    }

    fn raw_field(&mut self, tag: u32, value: &[u8]) {
        if value.is_empty() {
            return self.fail("value", "a non-empty value");
        }
        if value.contains(&SOH) {
            return self.fail("value", "a value without SOH (use field_data for data)");
        }
        self.put_field(tag, value);
    }

    fn put_field(&mut self, tag: u32, value: &[u8]) {
        let mut t = [0u8; 20];
        let t = format_u64(u64::from(tag), &mut t);
        self.put(t);
        self.put(b"=");
        self.put(value);
        self.put(&[SOH]);
    }

    /// Appends `tag=value`. The value must be non-empty and free of SOH.
    pub fn field(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        self.raw_field(tag, value);
        self
    }

    /// Appends an unsigned integer field.
    pub fn field_u64(&mut self, tag: u32, value: u64) -> &mut Self {
        let mut d = [0u8; 20];
        let v = format_u64(value, &mut d);
        self.put_field(tag, v);
        self
    }

    /// Appends a fixed-point decimal field (Price, Qty, AvgPx...).
    pub fn field_decimal(&mut self, tag: u32, value: Decimal) -> &mut Self {
        let mut d = [0u8; 42];
        let n = value.format(&mut d);
        self.put_field(tag, &d[..n]);
        self
    }

    /// Appends a one-character field (Side, OrdType, ExecType...).
    pub fn field_char(&mut self, tag: u32, value: u8) -> &mut Self {
        self.raw_field(tag, &[value]);
        self
    }

    /// Appends a Boolean field as `Y` or `N`.
    pub fn field_bool(&mut self, tag: u32, value: bool) -> &mut Self {
        self.put_field(tag, if value { b"Y" } else { b"N" });
        self
    }

    /// Appends a data-length field and its data field (e.g. 95 and 96); the data
    /// may contain SOH.
    pub fn field_data(&mut self, length_tag: u32, data_tag: u32, data: &[u8]) -> &mut Self {
        if data_tag_for(length_tag) != Some(data_tag) {
            self.fail(
                "tag",
                "a known (length tag, data tag) pair such as (95, 96)",
            );
            return self;
        }
        if data.is_empty() {
            self.fail("value", "a non-empty value");
            return self;
        }
        self.field_u64(length_tag, data.len() as u64);
        self.put_field(data_tag, data);
        self
    }

    /// Writes BodyLength and CheckSum; returns the message's length.
    pub fn finish(&mut self) -> Result<usize, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let body_start = self.length_at + self.width + 1;
        let body_len = self.pos - body_start;
        let mut d = [0u8; 20];
        let digits = format_u64(body_len as u64, &mut d);
        // The reserved width covers any body the buffer can hold.
        let shift = self.width.saturating_sub(digits.len());
        let end = self.length_at + digits.len();
        self.buf[self.length_at..end].copy_from_slice(digits);
        self.buf[end] = SOH;
        self.buf
            .copy_within(body_start..self.pos, body_start - shift);
        self.pos -= shift;
        self.width = digits.len();
        let sum = checksum(&self.buf[..self.pos]);
        let trailer = [
            b'1',
            b'0',
            b'=',
            b'0' + sum / 100,
            b'0' + (sum / 10) % 10,
            b'0' + sum % 10,
            SOH,
        ];
        self.put(&trailer);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let n = self.pos;
        // Further calls would corrupt the finished message; make them fail.
        self.error = Some(invalid(
            self.msg_type,
            "buffer",
            n,
            "a new builder after finish",
        ));
        Ok(n)
    }
}

/// The standard header fields our convenience writers put after MsgType.
#[derive(Debug, Clone, Copy)]
pub struct Header<'h> {
    /// `"FIX.4.2"`, `"FIX.4.4"` or `"FIXT.1.1"`.
    pub begin_string: &'h str,
    pub sender_comp_id: &'h [u8],
    pub target_comp_id: &'h [u8],
    pub msg_seq_num: u64,
    /// UTCTimestamp text, e.g. `b"20240102-09:30:00.000"`.
    pub sending_time: &'h [u8],
}

impl Header<'_> {
    fn is_fix42(&self) -> bool {
        self.begin_string == "FIX.4.2"
    }
}

/// Logon (A): EncryptMethod(98)=0 (none) and HeartBtInt(108), both required in
/// 4.2 and 4.4; ResetSeqNumFlag(141)=Y when asked.
pub fn write_logon(
    buf: &mut [u8],
    header: &Header<'_>,
    heart_bt_int: u64,
    reset_seq_num: bool,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"A");
    b.field_u64(tag::ENCRYPT_METHOD, 0)
        .field_u64(tag::HEART_BT_INT, heart_bt_int);
    if reset_seq_num {
        b.field_bool(tag::RESET_SEQ_NUM_FLAG, true);
    }
    b.finish()
}

/// Heartbeat (0); TestReqID(112) when answering a TestRequest.
pub fn write_heartbeat(
    buf: &mut [u8],
    header: &Header<'_>,
    test_req_id: Option<&[u8]>,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"0");
    if let Some(id) = test_req_id {
        b.field(tag::TEST_REQ_ID, id);
    }
    b.finish()
}

/// TestRequest (1): TestReqID(112) required.
pub fn write_test_request(
    buf: &mut [u8],
    header: &Header<'_>,
    test_req_id: &[u8],
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"1");
    b.field(tag::TEST_REQ_ID, test_req_id);
    b.finish()
}

/// ResendRequest (2): BeginSeqNo(7), EndSeqNo(16). An EndSeqNo of 0 means "to
/// infinity" in both 4.2 and 4.4 (4.2 also tolerated 999999 from older versions).
pub fn write_resend_request(
    buf: &mut [u8],
    header: &Header<'_>,
    begin_seq_no: u64,
    end_seq_no: u64,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"2");
    b.field_u64(tag::BEGIN_SEQ_NO, begin_seq_no)
        .field_u64(tag::END_SEQ_NO, end_seq_no);
    b.finish()
}

/// Reject (3): RefSeqNum(45) required; RefTagID(371), SessionRejectReason(373) and
/// Text(58) optional (all present in 4.2 and 4.4).
pub fn write_reject(
    buf: &mut [u8],
    header: &Header<'_>,
    ref_seq_num: u64,
    ref_tag_id: Option<u32>,
    session_reject_reason: Option<u64>,
    text: Option<&[u8]>,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"3");
    b.field_u64(tag::REF_SEQ_NUM, ref_seq_num);
    if let Some(t) = ref_tag_id {
        b.field_u64(tag::REF_TAG_ID, u64::from(t));
    }
    if let Some(r) = session_reject_reason {
        b.field_u64(tag::SESSION_REJECT_REASON, r);
    }
    if let Some(t) = text {
        b.field(tag::TEXT, t);
    }
    b.finish()
}

/// SequenceReset (4): NewSeqNo(36) required. A gap fill carries
/// GapFillFlag(123)=Y and, as the session rules require of gap fills sent in
/// place of resent messages, PossDupFlag(43)=Y in the header.
pub fn write_sequence_reset(
    buf: &mut [u8],
    header: &Header<'_>,
    new_seq_no: u64,
    gap_fill: bool,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"4");
    if gap_fill {
        b.field_bool(tag::POSS_DUP_FLAG, true)
            .field_bool(tag::GAP_FILL_FLAG, true);
    }
    b.field_u64(tag::NEW_SEQ_NO, new_seq_no);
    b.finish()
}

/// Logout (5): Text(58) optional.
pub fn write_logout(
    buf: &mut [u8],
    header: &Header<'_>,
    text: Option<&[u8]>,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"5");
    if let Some(t) = text {
        b.field(tag::TEXT, t);
    }
    b.finish()
}

/// The body of a NewOrderSingle (D).
#[derive(Debug, Clone, Copy)]
pub struct NewOrderSingle<'o> {
    pub cl_ord_id: &'o [u8],
    pub symbol: &'o [u8],
    /// Side(54): `b'1'` buy, `b'2'` sell, ...
    pub side: u8,
    pub transact_time: &'o [u8],
    pub order_qty: u64,
    /// OrdType(40): `b'1'` market, `b'2'` limit, ...
    pub ord_type: u8,
    /// Price(44), for limit orders.
    pub price: Option<Decimal>,
    /// TimeInForce(59).
    pub time_in_force: Option<u8>,
    pub account: Option<&'o [u8]>,
}

/// NewOrderSingle (D). Required in 4.2: ClOrdID, HandlInst, Symbol, Side,
/// TransactTime, OrderQty (or CashOrderQty), OrdType. 4.4 made HandlInst(21)
/// optional and moved OrderQty into the OrderQtyData component; we always send
/// HandlInst=1 (automated, no intervention), which both versions accept.
pub fn write_new_order_single(
    buf: &mut [u8],
    header: &Header<'_>,
    order: &NewOrderSingle<'_>,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"D");
    b.field(tag::CL_ORD_ID, order.cl_ord_id);
    if let Some(a) = order.account {
        b.field(tag::ACCOUNT, a);
    }
    b.field_char(tag::HANDL_INST, b'1')
        .field(tag::SYMBOL, order.symbol)
        .field_char(tag::SIDE, order.side)
        .field(tag::TRANSACT_TIME, order.transact_time)
        .field_u64(tag::ORDER_QTY, order.order_qty)
        .field_char(tag::ORD_TYPE, order.ord_type);
    if let Some(p) = order.price {
        b.field_decimal(tag::PRICE, p);
    }
    if let Some(tif) = order.time_in_force {
        b.field_char(tag::TIME_IN_FORCE, tif);
    }
    b.finish()
}

/// The body of an OrderCancelRequest (F).
#[derive(Debug, Clone, Copy)]
pub struct OrderCancelRequest<'o> {
    pub orig_cl_ord_id: &'o [u8],
    pub cl_ord_id: &'o [u8],
    pub symbol: &'o [u8],
    pub side: u8,
    pub transact_time: &'o [u8],
    pub order_qty: u64,
}

/// OrderCancelRequest (F): OrigClOrdID, ClOrdID, Symbol, Side, TransactTime and
/// OrderQty (4.2: OrderQty or CashOrderQty; 4.4: the OrderQtyData component).
pub fn write_order_cancel_request(
    buf: &mut [u8],
    header: &Header<'_>,
    cancel: &OrderCancelRequest<'_>,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"F");
    b.field(tag::ORIG_CL_ORD_ID, cancel.orig_cl_ord_id)
        .field(tag::CL_ORD_ID, cancel.cl_ord_id)
        .field(tag::SYMBOL, cancel.symbol)
        .field_char(tag::SIDE, cancel.side)
        .field(tag::TRANSACT_TIME, cancel.transact_time)
        .field_u64(tag::ORDER_QTY, cancel.order_qty);
    b.finish()
}

/// The body of an ExecutionReport (8).
#[derive(Debug, Clone, Copy)]
pub struct ExecutionReport<'o> {
    pub order_id: &'o [u8],
    pub cl_ord_id: Option<&'o [u8]>,
    pub exec_id: &'o [u8],
    /// ExecType(150). Fills are `b'1'`/`b'2'` in 4.2 and `b'F'` (Trade) in 4.4.
    pub exec_type: u8,
    pub ord_status: u8,
    pub symbol: &'o [u8],
    pub side: u8,
    pub order_qty: Option<u64>,
    /// LastQty(32) (4.2: LastShares) and LastPx(31), for fills.
    pub last_fill: Option<(u64, Decimal)>,
    pub leaves_qty: u64,
    pub cum_qty: u64,
    pub avg_px: Decimal,
    pub transact_time: Option<&'o [u8]>,
}

/// ExecutionReport (8): OrderID, ExecID, ExecType, OrdStatus, Symbol, Side,
/// LeavesQty, CumQty, AvgPx. FIX 4.2 also requires ExecTransType(20), which 4.4
/// removed: it is written (as `0`, New) only when the header says FIX.4.2.
pub fn write_execution_report(
    buf: &mut [u8],
    header: &Header<'_>,
    report: &ExecutionReport<'_>,
) -> Result<usize, Error> {
    let mut b = FixBuilder::with_header(buf, header, b"8");
    b.field(tag::ORDER_ID, report.order_id);
    if let Some(c) = report.cl_ord_id {
        b.field(tag::CL_ORD_ID, c);
    }
    b.field(tag::EXEC_ID, report.exec_id);
    if header.is_fix42() {
        b.field_char(tag::EXEC_TRANS_TYPE, b'0');
    }
    b.field_char(tag::EXEC_TYPE, report.exec_type)
        .field_char(tag::ORD_STATUS, report.ord_status)
        .field(tag::SYMBOL, report.symbol)
        .field_char(tag::SIDE, report.side);
    if let Some(q) = report.order_qty {
        b.field_u64(tag::ORDER_QTY, q);
    }
    if let Some((qty, px)) = report.last_fill {
        b.field_u64(tag::LAST_QTY, qty)
            .field_decimal(tag::LAST_PX, px);
    }
    b.field_u64(tag::LEAVES_QTY, report.leaves_qty)
        .field_u64(tag::CUM_QTY, report.cum_qty)
        .field_decimal(tag::AVG_PX, report.avg_px);
    if let Some(t) = report.transact_time {
        b.field(tag::TRANSACT_TIME, t);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::fields_of;
    use proptest::prelude::*;

    /// `|` stands for SOH in the readable literals below.
    fn soh(s: &str) -> Vec<u8> {
        s.bytes().map(|b| if b == b'|' { SOH } else { b }).collect()
    }

    /// Independent reference: BodyLength counts from after the SOH ending field 9
    /// up to and including the SOH before "10="; CheckSum sums every byte before
    /// "10=". Written without the module's code paths.
    fn reference_length_and_checksum(m: &[u8]) -> (usize, u32) {
        let nine = m.windows(3).position(|w| w == b"\x019=").unwrap() + 1;
        let body_start = nine + m[nine..].iter().position(|&b| b == SOH).unwrap() + 1;
        let trailer = m.len() - 7;
        assert_eq!(&m[trailer..trailer + 3], b"10=");
        let sum: u32 = m[..trailer].iter().map(|&b| u32::from(b)).sum();
        (trailer - body_start, sum % 256)
    }

    // A FIX 4.2 Logon in the form the FIX 4.2 specification's session-level
    // examples use: BodyLength 65, CheckSum 062.
    const LOGON_42: &str =
        "8=FIX.4.2|9=65|35=A|49=SERVER|56=CLIENT|34=177|52=20090107-18:15:16|98=0|108=30|10=062|";

    #[test]
    fn frames_a_spec_logon() {
        let wire = soh(LOGON_42);
        assert_eq!(reference_length_and_checksum(&wire), (65, 62));
        let (m, used) = frame(&wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(m.begin_string(), b"FIX.4.2");
        assert_eq!(m.version(), Version::Fix42);
        assert_eq!(m.msg_type(), b"A");
        assert_eq!(m.msg_kind(), MsgType::Logon);
        assert_eq!(m.body_length(), 65);
        assert_eq!(m.checksum(), 62);
        assert_eq!(m.seq_num(), Some(177));
        assert_eq!(m.sender_comp_id(), Some(&b"SERVER"[..]));
        assert_eq!(m.target_comp_id(), Some(&b"CLIENT"[..]));
        assert_eq!(m.get(108), Some(&b"30"[..]));
        assert_eq!(m.get_u64(98), Some(0));
        assert_eq!(m.get(58), None);
        assert_eq!(m.get_u64(49), None);
        let tags: Vec<u32> = m.fields().map(|f| f.0).collect();
        assert_eq!(tags, [8, 9, 35, 49, 56, 34, 52, 98, 108, 10]);
        assert_eq!(m.body(), &wire[15..80]);
    }

    #[test]
    fn builder_reproduces_spec_logon() {
        let mut buf = [0u8; 256];
        let header = Header {
            begin_string: "FIX.4.2",
            sender_comp_id: b"SERVER",
            target_comp_id: b"CLIENT",
            msg_seq_num: 177,
            sending_time: b"20090107-18:15:16",
        };
        let n = write_logon(&mut buf, &header, 30, false).unwrap();
        assert_eq!(buf[..n], soh(LOGON_42)[..]);
    }

    #[test]
    fn builder_with_tiny_and_huge_buffers() {
        // Buffer width 2 digits (len 99): no shift needed for a 2-digit body.
        let mut buf = [0u8; 99];
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"0");
        b.field(49, b"A").field(56, b"B");
        let n = b.finish().unwrap();
        assert_eq!(buf[..n], soh("8=FIX.4.4|9=15|35=0|49=A|56=B|10=171|")[..]);
        let (len, sum) = reference_length_and_checksum(&buf[..n]);
        assert_eq!((len, sum), (15, 171));
        // A 1 MB buffer reserves 7 digits and shifts the body left by 5.
        let mut big = vec![0u8; 1_000_000];
        let mut b = FixBuilder::new(&mut big, "FIX.4.4", b"0");
        b.field(49, b"A").field(56, b"B");
        let n = b.finish().unwrap();
        assert_eq!(big[..n], soh("8=FIX.4.4|9=15|35=0|49=A|56=B|10=171|")[..]);
    }

    #[test]
    fn builder_errors() {
        let mut buf = [0u8; 30];
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"D");
        b.field(55, b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            b.finish(),
            Err(Error::Truncated {
                protocol: PROTOCOL,
                msg_type: Some(b'D'),
                field: "buffer",
                offset: 23,
                needed: 28,
                available: 7
            })
        );
        let mut buf = [0u8; 64];
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"D");
        b.field(58, b"a\x01b").field(55, b"X");
        assert_eq!(
            b.finish(),
            Err(Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'D'),
                field: "value",
                offset: 20,
                expected: "a value without SOH (use field_data for data)"
            })
        );
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"D");
        b.field(58, b"");
        assert_eq!(b.finish().unwrap_err().field(), "value");
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"D");
        b.field_data(95, 91, b"x");
        assert_eq!(b.finish().unwrap_err().field(), "tag");
        // Room for the body but not the trailer.
        let mut buf = [0u8; 24];
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"0");
        assert_eq!(b.finish().unwrap_err().field(), "buffer");
        // finish twice is refused.
        let mut buf = [0u8; 64];
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"0");
        assert!(b.finish().is_ok());
        assert_eq!(b.finish().unwrap_err().field(), "buffer");
    }

    #[test]
    fn decimals_format_exactly() {
        let mut out = [0u8; 42];
        let cases: [(i64, u8, &str); 8] = [
            (12345, 2, "123.45"),
            (5, 2, "0.05"),
            (-5, 3, "-0.005"),
            (100, 0, "100"),
            (0, 0, "0"),
            (0, 4, "0.0000"),
            (-1234, 1, "-123.4"),
            (i64::MIN, 0, "-9223372036854775808"),
        ];
        for (m, s, want) in cases {
            let n = Decimal::new(m, s).format(&mut out);
            assert_eq!(core::str::from_utf8(&out[..n]).unwrap(), want);
        }
    }

    fn header(v: &'static str, seq: u64) -> Header<'static> {
        Header {
            begin_string: v,
            sender_comp_id: b"CORE",
            target_comp_id: b"LAB",
            msg_seq_num: seq,
            sending_time: b"20240102-09:30:00.123",
        }
    }

    fn framed(buf: &[u8]) -> Message<'_> {
        let (m, used) = frame(buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        let (len, sum) = reference_length_and_checksum(buf);
        assert_eq!(m.body_length(), len);
        assert_eq!(u32::from(m.checksum()), sum);
        m
    }

    #[test]
    fn every_convenience_message_round_trips() {
        for v in ["FIX.4.2", "FIX.4.4"] {
            let h = header(v, 9);
            let mut buf = [0u8; 512];

            let n = write_logon(&mut buf, &h, 30, true).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(m.begin_string(), v.as_bytes());
            assert_eq!((m.msg_kind(), m.seq_num()), (MsgType::Logon, Some(9)));
            assert_eq!((m.get_u64(98), m.get_u64(108)), (Some(0), Some(30)));
            assert_eq!(m.get(141), Some(&b"Y"[..]));
            assert_eq!(m.get(52), Some(&b"20240102-09:30:00.123"[..]));

            let n = write_heartbeat(&mut buf, &h, Some(b"T1")).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(
                (m.msg_kind(), m.get(112)),
                (MsgType::Heartbeat, Some(&b"T1"[..]))
            );
            let n = write_heartbeat(&mut buf, &h, None).unwrap();
            assert_eq!(framed(&buf[..n]).get(112), None);

            let n = write_test_request(&mut buf, &h, b"PING").unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(
                (m.msg_kind(), m.get(112)),
                (MsgType::TestRequest, Some(&b"PING"[..]))
            );

            let n = write_resend_request(&mut buf, &h, 5, 0).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(m.msg_kind(), MsgType::ResendRequest);
            assert_eq!((m.get_u64(7), m.get_u64(16)), (Some(5), Some(0)));

            let n = write_reject(&mut buf, &h, 4, Some(44), Some(5), Some(b"bad price")).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(m.msg_kind(), MsgType::Reject);
            assert_eq!(
                (m.get_u64(45), m.get_u64(371), m.get_u64(373)),
                (Some(4), Some(44), Some(5))
            );
            assert_eq!(m.get(58), Some(&b"bad price"[..]));

            let n = write_sequence_reset(&mut buf, &h, 20, true).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(m.msg_kind(), MsgType::SequenceReset);
            assert_eq!(
                (m.get_u64(36), m.get(123), m.get(43)),
                (Some(20), Some(&b"Y"[..]), Some(&b"Y"[..]))
            );
            let n = write_sequence_reset(&mut buf, &h, 20, false).unwrap();
            assert_eq!(framed(&buf[..n]).get(123), None);

            let n = write_logout(&mut buf, &h, Some(b"bye")).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(
                (m.msg_kind(), m.get(58)),
                (MsgType::Logout, Some(&b"bye"[..]))
            );

            let order = NewOrderSingle {
                cl_ord_id: b"ORD1",
                symbol: b"AAPL",
                side: b'1',
                transact_time: b"20240102-09:30:00.123",
                order_qty: 100,
                ord_type: b'2',
                price: Some(Decimal::new(1_850_025, 4)),
                time_in_force: Some(b'0'),
                account: Some(b"ACC"),
            };
            let n = write_new_order_single(&mut buf, &h, &order).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(m.msg_kind(), MsgType::NewOrderSingle);
            let body: Vec<(u32, &[u8])> = m.fields().skip(7).collect();
            assert_eq!(
                body,
                vec![
                    (11, &b"ORD1"[..]),
                    (1, b"ACC"),
                    (21, b"1"),
                    (55, b"AAPL"),
                    (54, b"1"),
                    (60, b"20240102-09:30:00.123"),
                    (38, b"100"),
                    (40, b"2"),
                    (44, b"185.0025"),
                    (59, b"0"),
                    (10, &buf[n - 4..n - 1]),
                ]
            );

            let cancel = OrderCancelRequest {
                orig_cl_ord_id: b"ORD1",
                cl_ord_id: b"ORD2",
                symbol: b"AAPL",
                side: b'1',
                transact_time: b"20240102-09:30:01.000",
                order_qty: 100,
            };
            let n = write_order_cancel_request(&mut buf, &h, &cancel).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(m.msg_kind(), MsgType::OrderCancelRequest);
            assert_eq!(
                (m.get(41), m.get(11), m.get_u64(38)),
                (Some(&b"ORD1"[..]), Some(&b"ORD2"[..]), Some(100))
            );

            let report = ExecutionReport {
                order_id: b"X1",
                cl_ord_id: Some(b"ORD1"),
                exec_id: b"E1",
                exec_type: if v == "FIX.4.2" { b'1' } else { b'F' },
                ord_status: b'1',
                symbol: b"AAPL",
                side: b'1',
                order_qty: Some(100),
                last_fill: Some((40, Decimal::new(18500, 2))),
                leaves_qty: 60,
                cum_qty: 40,
                avg_px: Decimal::new(18500, 2),
                transact_time: Some(b"20240102-09:30:00.500"),
            };
            let n = write_execution_report(&mut buf, &h, &report).unwrap();
            let m = framed(&buf[..n]);
            assert_eq!(m.msg_kind(), MsgType::ExecutionReport);
            // ExecTransType exists in 4.2 only.
            assert_eq!(m.get(20).is_some(), v == "FIX.4.2");
            assert_eq!(
                (m.get_u64(32), m.get(31), m.get(6)),
                (Some(40), Some(&b"185.00"[..]), Some(&b"185.00"[..]))
            );
            assert_eq!((m.get_u64(151), m.get_u64(14)), (Some(60), Some(40)));
        }
    }

    #[test]
    fn fixt_and_unknown_msg_types_frame() {
        let mut buf = [0u8; 128];
        let mut b = FixBuilder::new(&mut buf, "FIXT.1.1", b"AE");
        b.field(49, b"S").field(56, b"T").field_u64(34, 1);
        let n = b.finish().unwrap();
        let m = framed(&buf[..n]);
        assert_eq!(m.version(), Version::Fixt11);
        assert_eq!(m.msg_type(), b"AE");
        assert_eq!(m.msg_kind(), MsgType::Unknown);
        assert_eq!(msg_type_name(b"AE"), "Unknown");
        assert_eq!(m.kind(), "Unknown");
    }

    #[test]
    fn raw_data_may_contain_soh() {
        let mut buf = [0u8; 128];
        let mut b = FixBuilder::new(&mut buf, "FIX.4.4", b"A");
        b.field_u64(98, 0)
            .field_data(95, 96, b"se\x01cret")
            .field_u64(108, 30);
        let n = b.finish().unwrap();
        let m = framed(&buf[..n]);
        assert_eq!(m.get(96), Some(&b"se\x01cret"[..]));
        assert_eq!(m.get_u64(95), Some(7));
        assert_eq!(m.get_u64(108), Some(30));
        // A length that does not match the data is refused at framing.
        let mut wire = soh("8=FIX.4.4|9=24|35=A|95=3|96=abcd|108=3|");
        let sum = checksum(&wire);
        wire.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        let e = frame(&wire).unwrap_err();
        assert_eq!((e.field(), e.offset()), ("value", 28));
    }

    #[test]
    fn incomplete_prefixes_ask_for_more() {
        let wire = soh(LOGON_42);
        for cut in 0..wire.len() {
            assert_eq!(frame(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        // Two messages back to back: the first is cut off cleanly.
        let mut two = wire.clone();
        two.extend_from_slice(&wire);
        let (_, used) = frame(&two).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(frame(&two[used..]).unwrap().unwrap().1, wire.len());
    }

    fn err(s: &str) -> Error {
        frame(&soh(s)).unwrap_err()
    }

    #[test]
    fn begin_string_errors() {
        assert_eq!(
            err("8=FIX.4.3|9=5|35=0|10=000|"),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "BeginString(8)",
                offset: 0,
                expected: "8=FIX.4.2, 8=FIX.4.4 or 8=FIXT.1.1 then SOH"
            }
        );
        assert_eq!(err("X").field(), "BeginString(8)");
        assert_eq!(err("8=FIX.4.4X").field(), "BeginString(8)");
    }

    #[test]
    fn body_length_errors() {
        assert_eq!(
            err("8=FIX.4.4|35=0|"),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "BodyLength(9)",
                offset: 10,
                expected: "9=<BodyLength> right after BeginString"
            }
        );
        assert_eq!(
            err("8=FIX.4.4|9=|"),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "BodyLength(9)",
                offset: 12,
                expected: "decimal digits then SOH"
            }
        );
        assert_eq!(err("8=FIX.4.4|9=1x|").offset(), 13);
        assert_eq!(
            err("8=FIX.4.4|9=123456789"),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "BodyLength(9)",
                offset: 12,
                expected: "at most 8 digits"
            }
        );
        // Eight digits is fine and simply waits for the bytes; nothing is reserved.
        assert_eq!(frame(&soh("8=FIX.4.4|9=99999999|35=0|")), Ok(None));
        // Too short: "10=" not where BodyLength says.
        assert_eq!(
            err("8=FIX.4.4|9=4|35=0|49=A|10=000|"),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "BodyLength(9)",
                offset: 12,
                expected: "the length of the body up to the SOH before 10="
            }
        );
        // Too long by one: lands after the SOH.
        assert_eq!(err("8=FIX.4.4|9=6|35=0|10=163|x").field(), "BodyLength(9)");
        // "10=" reached but not after an SOH.
        assert_eq!(err("8=FIX.4.4|9=4|35=010=000|").field(), "BodyLength(9)");
    }

    #[test]
    fn msg_type_must_open_the_body() {
        assert_eq!(
            err("8=FIX.4.4|9=10|49=A|35=0|10=000|"),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: None,
                field: "MsgType(35)",
                offset: 15,
                expected: "MsgType(35) as the first field of the body"
            }
        );
        // Detected before the claimed body arrives.
        assert_eq!(err("8=FIX.4.4|9=500|49").field(), "MsgType(35)");
        assert_eq!(err("8=FIX.4.4|9=0|10=000|").field(), "MsgType(35)");
        assert_eq!(err("8=FIX.4.4|9=5|355=0|10=000|").field(), "MsgType(35)");
    }

    #[test]
    fn checksum_errors_say_what_was_expected() {
        let mut wire = soh(LOGON_42);
        let at = wire.len() - 4;
        wire[at..at + 3].copy_from_slice(b"063");
        assert_eq!(
            frame(&wire).unwrap_err(),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'A'),
                field: "CheckSum(10)",
                offset: 83,
                expected: "computed checksum 062"
            }
        );
        wire[at..at + 3].copy_from_slice(b"06x");
        assert_eq!(
            frame(&wire).unwrap_err(),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'A'),
                field: "CheckSum(10)",
                offset: 83,
                expected: "three digits then SOH"
            }
        );
        wire[at..at + 3].copy_from_slice(b"062");
        let last = wire.len() - 1;
        wire[last] = b'|';
        assert_eq!(frame(&wire).unwrap_err().field(), "CheckSum(10)");
        assert_eq!(checksum_expected(0), "computed checksum 000");
        assert_eq!(checksum_expected(255), "computed checksum 255");
    }

    /// Builds a message around `body` (after 35=0|) with correct length and sum.
    /// A Text field is appended so BodyLength always has two digits and the body
    /// starts at offset 15 (its first field after MsgType at 20).
    fn with_body(body: &str) -> Vec<u8> {
        let body = format!("{body}58=padding|");
        let mut m = soh(&format!("8=FIX.4.4|9={}|35=0|{body}", 5 + body.len()));
        let sum = checksum(&m);
        m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        m
    }

    #[test]
    fn tag_and_value_errors_point_at_the_field() {
        let e = frame(&with_body("4x9=A|")).unwrap_err();
        assert_eq!(
            e,
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'0'),
                field: "tag",
                offset: 21,
                expected: "a tag number (digits) followed by '='"
            }
        );
        assert_eq!(frame(&with_body("=A|")).unwrap_err().offset(), 20);
        assert_eq!(
            frame(&with_body("049=A|")).unwrap_err().expected_text(),
            "a positive tag number without leading zeros"
        );
        assert_eq!(
            frame(&with_body("1234567890=A|"))
                .unwrap_err()
                .expected_text(),
            "a tag number of at most 9 digits"
        );
        assert_eq!(
            frame(&with_body("49=|")).unwrap_err(),
            Error::Invalid {
                protocol: PROTOCOL,
                msg_type: Some(b'0'),
                field: "value",
                offset: 23,
                expected: "a non-empty value"
            }
        );
        // A field with no '=' before the body ends.
        assert_eq!(frame(&with_body("49|")).unwrap_err().field(), "tag");
    }

    trait Expected {
        fn expected_text(&self) -> &'static str;
    }
    impl Expected for Error {
        fn expected_text(&self) -> &'static str {
            match *self {
                Error::Invalid { expected, .. } => expected,
                Error::Truncated { .. } => "",
            }
        }
    }

    #[test]
    fn describes_every_field_with_names() {
        let wire = soh(LOGON_42);
        let m = framed(&wire);
        let r = fields_of(&m);
        assert_eq!(m.protocol(), "fix");
        assert_eq!(m.kind(), "Logon");
        assert_eq!(
            r,
            [
                "8(BeginString)=FIX.4.2",
                "9(BodyLength)=65",
                "35(MsgType)=A",
                "49(SenderCompID)=SERVER",
                "56(TargetCompID)=CLIENT",
                "34(MsgSeqNum)=177",
                "52(SendingTime)=20090107-18:15:16",
                "98(EncryptMethod)=0",
                "108(HeartBtInt)=30",
                "10(CheckSum)=062",
            ]
        );
        assert_eq!(tag_name(9999), None);
        for t in [
            1, 6, 8, 9, 10, 11, 14, 17, 20, 21, 31, 32, 34, 35, 36, 37, 38, 39, 40, 41, 43, 44, 49,
            52, 54, 55, 56, 58, 59, 60, 97, 98, 108, 112, 122, 123, 141, 150, 151,
        ] {
            assert!(tag_name(t).is_some(), "tag {t} has no name");
        }
        for (code, name) in [
            (&b"0"[..], "Heartbeat"),
            (b"1", "TestRequest"),
            (b"2", "ResendRequest"),
            (b"3", "Reject"),
            (b"4", "SequenceReset"),
            (b"5", "Logout"),
            (b"8", "ExecutionReport"),
            (b"A", "Logon"),
            (b"D", "NewOrderSingle"),
            (b"F", "OrderCancelRequest"),
        ] {
            assert_eq!(msg_type_name(code), name);
            assert_eq!(MsgType::from_bytes(code).as_bytes(), code);
        }
    }

    fn arb_message() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec!["FIX.4.2", "FIX.4.4", "FIXT.1.1"]),
            prop::sample::select(vec!["0", "A", "D", "8", "AE"]),
            proptest::collection::vec((1u32..2000, "[ -~]{1,12}"), 0..8),
            any::<u64>(),
        )
            .prop_map(|(v, t, fields, seq)| {
                let mut buf = [0u8; 512];
                let mut b = FixBuilder::new(&mut buf, v, t.as_bytes());
                b.field_u64(34, seq);
                for (tag, value) in &fields {
                    // Keep length tags away so the values are not read as data.
                    let tag = if data_tag_for(*tag).is_some() {
                        58
                    } else {
                        *tag
                    };
                    b.field(tag, value.as_bytes());
                }
                let n = b.finish().unwrap();
                buf[..n].to_vec()
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(Some((m, n))) = frame(&bytes) {
                prop_assert!(n <= bytes.len());
                fields_of(&m);
                let _ = (m.seq_num(), m.get(55), m.msg_kind());
            }
        }

        #[test]
        fn mangled_messages_never_panic(
            msg in arb_message(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut m = msg.clone();
            let i = at.index(m.len());
            m[i] = byte;
            if let Ok(Some((view, n))) = frame(&m) {
                prop_assert!(n <= m.len());
                prop_assert_eq!(view.fields().count() >= 4, true);
            }
        }

        #[test]
        fn built_messages_match_the_reference(msg in arb_message()) {
            let (m, n) = frame(&msg).unwrap().unwrap();
            prop_assert_eq!(n, msg.len());
            let (len, sum) = reference_length_and_checksum(&msg);
            prop_assert_eq!(m.body_length(), len);
            prop_assert_eq!(u32::from(m.checksum()), sum);
        }

        #[test]
        fn split_streams_frame_identically(
            msgs in proptest::collection::vec(arb_message(), 1..6),
            split in any::<prop::sample::Index>(),
        ) {
            let stream: Vec<u8> = msgs.concat();
            let cut = split.index(stream.len() + 1);
            let mut pending: Vec<u8> = Vec::new();
            let mut got: Vec<Vec<u8>> = Vec::new();
            for chunk in [&stream[..cut], &stream[cut..]] {
                pending.extend_from_slice(chunk);
                let mut pos = 0;
                while let Some((m, n)) = frame(&pending[pos..]).unwrap() {
                    prop_assert_eq!(m.as_bytes().len(), n);
                    got.push(m.as_bytes().to_vec());
                    pos += n;
                }
                pending.drain(..pos);
            }
            prop_assert!(pending.is_empty());
            prop_assert_eq!(got, msgs);
        }
    }
}
