//! OUCH 4.2 and 5.0, both directions, on arbitrary bytes.
//!
//! Input: one selector byte, then one OUCH message as SoupBinTCP would delimit it.
//! The selector's low two bits choose the codec: 0 = 4.2 inbound, 1 = 4.2
//! outbound, 2 = 5.0 inbound, 3 = 5.0 outbound; the other bits are ignored.
//!
//! Properties:
//! - the parser accepts exactly what an independent reading says it must: any
//!   message of an unknown type (as `Unknown`, with the whole message), and a
//!   known type when the fixed part is present and, for 5.0 messages with an
//!   appendage, the Appendage Length fits and its elements tile it exactly;
//! - the variant matches the type byte and the length table;
//! - the builder re-creates the fixed part from the decoded view, and for 5.0 the
//!   appendage too (from the decoded options) when every option fits an
//!   `Appendage`;
//! - whatever decodes prints as text and as JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::proto::{ouch42, ouch50};

/// OUCH 5.0 type bytes whose fixed part ends with an Appendage Length, from the
/// specification's message list (not from the codec's tables).
fn has_appendage_50(inbound: bool, type_byte: u8) -> bool {
    if inbound {
        b"OUXMCDEQ".contains(&type_byte)
    } else {
        b"AUERXGK".contains(&type_byte)
    }
}

/// Whether a 5.0 appendage (the bytes after the fixed part) is well formed:
/// `Some(declared)` when the declared length fits and its elements tile it.
fn reference_appendage(fixed: &[u8], after: &[u8]) -> Option<usize> {
    let declared = usize::from(u16::from_be_bytes([
        fixed[fixed.len() - 2],
        fixed[fixed.len() - 1],
    ]));
    let bytes = after.get(..declared)?;
    let mut at = 0;
    while at < bytes.len() {
        let len = usize::from(bytes[at]);
        if len == 0 || at + 1 + len > bytes.len() {
            return None;
        }
        at += 1 + len;
    }
    Some(declared)
}

fn check_42_fixed<T: ouch42::OuchMessage>(m: &T, msg: &[u8]) {
    assert_eq!(msg[0], T::TYPE);
    let mut buf = [0u8; 128];
    let n = ouch42::write(m, &mut buf).unwrap();
    assert_eq!(n, T::LEN);
    assert_eq!(&buf[..n], &msg[..n]);
}

fn check_50<T: ouch50::OuchMessage>(m: &T, appendage: Option<ouch50::Appendages<'_>>, msg: &[u8]) {
    assert_eq!(msg[0], T::TYPE);
    assert_eq!(T::HAS_APPENDAGE, appendage.is_some());
    let Some(appendage) = appendage else {
        let mut buf = [0u8; 128];
        let n = ouch50::write(&mut buf, m, &[]).unwrap();
        assert_eq!(&buf[..n], &msg[..T::LEN]);
        return;
    };
    let declared = usize::from(u16::from_be_bytes([msg[T::LEN - 2], msg[T::LEN - 1]]));
    let mut buf = vec![0u8; T::LEN + declared];
    let wire = &msg[T::LEN..T::LEN + declared];
    assert_eq!(appendage.as_bytes().as_ptr(), wire.as_ptr());
    assert_eq!(appendage.as_bytes().len(), declared);
    assert_eq!(appendage.is_empty(), declared == 0);
    let mut options = Vec::new();
    let mut tiled = 0;
    let mut fits = true;
    for (tag, value) in appendage.iter() {
        tiled += 2 + value.len();
        assert!(appendage.get(tag).is_some());
        match ouch50::Appendage::new(tag, value) {
            Some(a) => options.push(a),
            None => fits = false,
        }
    }
    assert_eq!(tiled, declared, "the options do not tile the appendage");
    if fits {
        let n = ouch50::write(&mut buf, m, &options).unwrap();
        assert_eq!(&buf[..n], &msg[..T::LEN + declared]);
    }
}

fn ouch42_inbound(msg: &[u8]) {
    use ouch42::Inbound as I;
    let known = msg.first().and_then(|&t| ouch42::inbound_len(t));
    let Ok(parsed) = ouch42::parse_inbound(msg) else {
        assert!(
            known.is_none_or(|len| msg.len() < len),
            "valid 4.2 inbound refused"
        );
        return;
    };
    ticklab_fuzz::check_prints(&parsed);
    match parsed {
        I::EnterOrder(m) => check_42_fixed(m, msg),
        I::ReplaceOrder(m) => check_42_fixed(m, msg),
        I::CancelOrder(m) => check_42_fixed(m, msg),
        I::ModifyOrder(m) => check_42_fixed(m, msg),
        I::TradeNow(m) => check_42_fixed(m, msg),
        I::Unknown { type_byte, bytes } => {
            assert!(known.is_none());
            assert_eq!((type_byte, bytes), (msg[0], msg));
            return;
        }
    }
    assert!(known.is_some_and(|len| msg.len() >= len));
}

fn ouch42_outbound(msg: &[u8]) {
    use ouch42::Outbound as O;
    let known = msg.first().and_then(|&t| ouch42::outbound_len(t));
    let Ok(parsed) = ouch42::parse_outbound(msg) else {
        assert!(
            known.is_none_or(|len| msg.len() < len),
            "valid 4.2 outbound refused"
        );
        return;
    };
    ticklab_fuzz::check_prints(&parsed);
    match parsed {
        O::SystemEvent(m) => check_42_fixed(m, msg),
        O::Accepted(m) => check_42_fixed(m, msg),
        O::Replaced(m) => check_42_fixed(m, msg),
        O::Canceled(m) => check_42_fixed(m, msg),
        O::AiqCanceled(m) => check_42_fixed(m, msg),
        O::Executed(m) => check_42_fixed(m, msg),
        O::BrokenTrade(m) => check_42_fixed(m, msg),
        O::ExecutedWithReferencePrice(m) => check_42_fixed(m, msg),
        O::TradeCorrection(m) => check_42_fixed(m, msg),
        O::Rejected(m) => check_42_fixed(m, msg),
        O::CancelPending(m) => check_42_fixed(m, msg),
        O::CancelReject(m) => check_42_fixed(m, msg),
        O::OrderPriorityUpdate(m) => check_42_fixed(m, msg),
        O::OrderModified(m) => check_42_fixed(m, msg),
        O::TradeNow(m) => check_42_fixed(m, msg),
        O::Unknown { type_byte, bytes } => {
            assert!(known.is_none());
            assert_eq!((type_byte, bytes), (msg[0], msg));
            return;
        }
    }
    assert!(known.is_some_and(|len| msg.len() >= len));
}

/// Whether a 5.0 message must decode, by the independent reading above.
fn valid_50(inbound: bool, msg: &[u8], len: Option<usize>) -> bool {
    let Some(len) = len else {
        return !msg.is_empty(); // Unknown type: data, not an error.
    };
    if msg.len() < len {
        return false;
    }
    !has_appendage_50(inbound, msg[0]) || reference_appendage(&msg[..len], &msg[len..]).is_some()
}

fn ouch50_inbound(msg: &[u8]) {
    use ouch50::Inbound as I;
    let known = msg.first().and_then(|&t| ouch50::inbound_len(t));
    let expected = valid_50(true, msg, known);
    let parsed = match ouch50::parse_inbound(msg) {
        Ok(p) => p,
        Err(e) => {
            assert!(!expected, "valid 5.0 inbound refused: {e}");
            return;
        }
    };
    assert!(expected, "invalid 5.0 inbound accepted: {parsed:?}");
    ticklab_fuzz::check_prints(&parsed);
    match parsed {
        I::EnterOrder(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::ReplaceOrder(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::CancelOrder(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::ModifyOrder(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::MassCancelRequest(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::DisableOrderEntry(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::EnableOrderEntry(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::AccountQueryRequest(m) => check_50(m.fixed, Some(m.appendage), msg),
        I::Unknown { type_byte, bytes } => {
            assert!(known.is_none());
            assert_eq!((type_byte, bytes), (msg[0], msg));
        }
    }
}

fn ouch50_outbound(msg: &[u8]) {
    use ouch50::Outbound as O;
    let known = msg.first().and_then(|&t| ouch50::outbound_len(t));
    let expected = valid_50(false, msg, known);
    let parsed = match ouch50::parse_outbound(msg) {
        Ok(p) => p,
        Err(e) => {
            assert!(!expected, "valid 5.0 outbound refused: {e}");
            return;
        }
    };
    assert!(expected, "invalid 5.0 outbound accepted: {parsed:?}");
    ticklab_fuzz::check_prints(&parsed);
    match parsed {
        O::SystemEvent(m) => check_50(m, None, msg),
        O::OrderCanceled(m) => check_50(m, None, msg),
        O::AiqCanceled(m) => check_50(m, None, msg),
        O::BrokenTrade(m) => check_50(m, None, msg),
        O::TradeCorrection(m) => check_50(m, None, msg),
        O::OrderRejected(m) => check_50(m, None, msg),
        O::CancelPending(m) => check_50(m, None, msg),
        O::CancelReject(m) => check_50(m, None, msg),
        O::OrderPriorityUpdate(m) => check_50(m, None, msg),
        O::OrderModified(m) => check_50(m, None, msg),
        O::AccountQueryResponse(m) => check_50(m, None, msg),
        O::OrderAccepted(m) => check_50(m.fixed, Some(m.appendage), msg),
        O::OrderReplaced(m) => check_50(m.fixed, Some(m.appendage), msg),
        O::OrderExecuted(m) => check_50(m.fixed, Some(m.appendage), msg),
        O::OrderRestated(m) => check_50(m.fixed, Some(m.appendage), msg),
        O::MassCancelResponse(m) => check_50(m.fixed, Some(m.appendage), msg),
        O::DisableOrderEntryResponse(m) => check_50(m.fixed, Some(m.appendage), msg),
        O::EnableOrderEntryResponse(m) => check_50(m.fixed, Some(m.appendage), msg),
        O::Unknown { type_byte, bytes } => {
            assert!(known.is_none());
            assert_eq!((type_byte, bytes), (msg[0], msg));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, msg)) = data.split_first() else {
        return;
    };
    match selector & 3 {
        0 => ouch42_inbound(msg),
        1 => ouch42_outbound(msg),
        2 => ouch50_inbound(msg),
        _ => ouch50_outbound(msg),
    }
});
