//! The order gateway's thread: the venue's SoupBinTCP server, reading the DUT's
//! session through io_uring with kernel software RX timestamps
//! (`KernelRxClock::with_io_uring`), whose orders go to the send thread through a
//! wait-free SPSC ring and whose session events go to the control thread.
//!
//! The thread blocks in `read` (with a timeout at the session's next deadline), so it
//! never spins. Per order it decodes the OUCH message in place and pushes a `Copy`
//! [`OrderArrival`]: no allocation, no lock. An order that finds the ring full is
//! counted in [`Live::orders_lost`] (the run then reports itself incomplete); it is
//! never dropped silently.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::proto::soupbintcp::RejectReason;
use crate::proto::{ouch42, ouch50, OuchVersion};
use crate::refcore::order::sequence_from_token;
use crate::venue::gateway::GatewayEvent;
use crate::venue::responder::{AnswerMode, BadOrderPolicy, ResponderConfig, REJECT_OTHER_42};
use crate::venue::rx_clock::{KernelRxClock, RxStamps};
use crate::venue::server::{
    RunReport, ServerConfig, ServerError, ServerEvent, StopHandle, VenueServer,
};
use crate::venue::session::{CloseReason, SessionConfig};

use super::sender::{Live, OrderArrival};
use crate::config::{Answer, GatewaySpec};

/// OUCH 5.0's Reject Reason code for "other" (the gateway rejects every order alike).
const REJECT_OTHER_50: u16 = 0x0058;

/// What the control thread learns from the gateway while it runs.
#[derive(Debug, Default, Clone)]
pub struct GatewayState {
    pub connected: Option<(SocketAddr, u64)>,
    /// When the DUT logged in (RX clock, `CLOCK_REALTIME` ns).
    pub logged_in_at: Option<u64>,
    pub login_rejected: Option<String>,
    pub closed: Option<(CloseReason, u64)>,
    /// Messages other than Enter Order (replace, cancel, ...): answered as the
    /// venue does, not correlated.
    pub other_messages: u64,
    /// Enter Orders the responder found bad (answered or closed per policy).
    pub bad_orders: u64,
}

/// The running gateway thread.
pub struct GatewayThread {
    pub addr: SocketAddr,
    pub stop: StopHandle,
    pub state: Arc<Mutex<GatewayState>>,
    pub unstamped: crate::venue::rx_clock::UnstampedReads,
    handle: JoinHandle<Result<RunReport, ServerError>>,
}

impl GatewayThread {
    /// Binds the listener (so the DUT can be told the address before the thread
    /// starts) and starts serving one DUT connection.
    pub fn start(
        listen: SocketAddr,
        spec: &GatewaySpec,
        accept_timeout: std::time::Duration,
        orders: rtrb::Producer<OrderArrival>,
        live: Arc<Live>,
        core: Option<usize>,
        rx_stamps: RxStamps,
    ) -> Result<Self, ServerError> {
        let mut session = SessionConfig::new(&spec.username, &spec.password);
        session.heartbeat_interval_ns = spec.heartbeat_interval_ms.saturating_mul(1_000_000);
        session.client_timeout_ns = (spec.client_timeout_s * 1e9) as u64;
        let mode = match spec.answer {
            Answer::Accept => AnswerMode::Accept,
            Answer::Fill => AnswerMode::Fill,
            Answer::Reject => AnswerMode::Reject {
                reason: match spec.ouch {
                    OuchVersion::V42 => REJECT_OTHER_42,
                    OuchVersion::V50 => REJECT_OTHER_50,
                },
            },
        };
        let responder = ResponderConfig {
            version: spec.ouch,
            mode,
            // Garbage closes the session with its reason; the run's spec decides
            // whether the run goes on.
            bad_order: BadOrderPolicy::CloseSession,
        };
        let mut cfg = ServerConfig::new(listen, session, responder);
        cfg.accept_timeout = accept_timeout;
        let server = VenueServer::bind(cfg)?;
        let addr = server.local_addr();
        let stop = server.stop_handle();
        let state = Arc::new(Mutex::new(GatewayState::default()));
        let mut clock = KernelRxClock::with_io_uring().with_stamps(rx_stamps);
        let unstamped = clock.unstamped_counter();
        let version = spec.ouch;
        let thread_state = Arc::clone(&state);
        let handle = std::thread::Builder::new()
            .name("tl-gateway".into())
            .spawn(move || {
                if let Some(core) = core {
                    // A failed pin is reported by the control thread's check of
                    // the core list; the gateway still serves.
                    let _ = super::os::pin_current_thread(core);
                }
                let mut orders = orders;
                server.run_with_clock(&mut clock, |event| {
                    on_event(event, version, &mut orders, &live, &thread_state)
                })
            })
            .expect("spawning the gateway thread");
        Ok(GatewayThread {
            addr,
            stop,
            state,
            unstamped,
            handle,
        })
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Ends the session (End of Session to the DUT) and waits for the thread.
    pub fn finish(self) -> Result<RunReport, ServerError> {
        self.stop.end_session();
        self.handle
            .join()
            .unwrap_or_else(|_| panic!("the gateway thread panicked"))
    }
}

fn on_event(
    event: ServerEvent<'_>,
    version: OuchVersion,
    orders: &mut rtrb::Producer<OrderArrival>,
    live: &Live,
    state: &Mutex<GatewayState>,
) {
    match event {
        ServerEvent::Gateway(GatewayEvent::Order {
            payload,
            rx_ns,
            stream_end,
            ..
        }) => match order_arrival(version, payload, rx_ns) {
            Some(arrival) => {
                let arrival = OrderArrival {
                    stream_end,
                    ..arrival
                };
                if orders.push(arrival).is_err() {
                    live.orders_lost.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                if is_enter_order(payload) {
                    s.bad_orders += 1;
                } else {
                    s.other_messages += 1;
                }
            }
        },
        ServerEvent::Gateway(GatewayEvent::LoggedIn { .. }) => {
            let now = crate::venue::rx_clock::realtime_ns();
            state.lock().unwrap_or_else(|e| e.into_inner()).logged_in_at = Some(now);
        }
        ServerEvent::Gateway(GatewayEvent::LoginRejected { reason }) => {
            let text = match reason {
                RejectReason::NotAuthorized => "A: not authorized".to_string(),
                RejectReason::SessionNotAvailable => "S: session not available".to_string(),
                RejectReason::Unknown(code) => format!("code {:?}", code as char),
            };
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .login_rejected = Some(text);
        }
        ServerEvent::Connected { peer, at_ns } => {
            state.lock().unwrap_or_else(|e| e.into_inner()).connected = Some((peer, at_ns));
        }
        ServerEvent::Closed { reason, at_ns } => {
            state.lock().unwrap_or_else(|e| e.into_inner()).closed = Some((reason, at_ns));
        }
        ServerEvent::Gateway(_) => {}
    }
}

/// Enter Order is type `'O'` in OUCH 4.2 and 5.0 alike.
fn is_enter_order(payload: &[u8]) -> bool {
    payload.first() == Some(&b'O')
}

/// The correlation key material of one OUCH message: `None` unless it is a
/// well-formed Enter Order.
pub fn order_arrival(version: OuchVersion, payload: &[u8], rx_ns: u64) -> Option<OrderArrival> {
    let symbol = |stock: Option<&[u8]>| {
        stock
            .filter(|s| s.len() <= 8)
            .map(crate::proto::pad_alpha::<8>)
    };
    let (token, symbol) = match version {
        OuchVersion::V50 => {
            let msg = ouch50::parse_inbound(payload).ok()?;
            if !matches!(msg, ouch50::Inbound::EnterOrder(_)) {
                return None;
            }
            (msg.cl_ord_id(), symbol(msg.stock()))
        }
        OuchVersion::V42 => {
            let msg = ouch42::parse_inbound(payload).ok()?;
            if !matches!(msg, ouch42::Inbound::EnterOrder(_)) {
                return None;
            }
            (msg.order_token(), symbol(msg.stock()))
        }
    };
    Some(OrderArrival {
        rx_ns,
        sequence: token.as_ref().and_then(sequence_from_token),
        symbol,
        stream_end: 0,
    })
}

/// Close reasons that mean the DUT sent something the gateway could not take.
pub fn is_garbage(reason: &CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::Malformed { .. }
            | CloseReason::PacketTooLarge { .. }
            | CloseReason::UnexpectedPacket { .. }
            | CloseReason::UnknownPacketType { .. }
            | CloseReason::BadOrder(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refcore::book::Side;
    use crate::refcore::order::{OrderConfig, OrderEncoder};
    use crate::refcore::trigger::Trigger;

    fn enter_order(version: OuchVersion, sequence: u64) -> Vec<u8> {
        let mut encoder = OrderEncoder::new(OrderConfig {
            version,
            ..OrderConfig::default()
        });
        let trigger = Trigger {
            sequence,
            locate: 3,
            stock: *b"MSFT    ",
            book_side: Side::Buy,
            price: 4_170_000,
            message_type: b'A',
        };
        let mut buf = [0u8; 256];
        let n = encoder.encode(&trigger, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn an_enter_order_yields_its_echoed_sequence_and_symbol_in_both_versions() {
        for version in [OuchVersion::V50, OuchVersion::V42] {
            let order = enter_order(version, 4_217);
            assert_eq!(
                order_arrival(version, &order, 99),
                Some(OrderArrival {
                    rx_ns: 99,
                    sequence: Some(4_217),
                    symbol: Some(*b"MSFT    "),
                    stream_end: 0,
                }),
                "OUCH {version}"
            );
            assert!(is_enter_order(&order));
        }
    }

    #[test]
    fn anything_but_a_well_formed_enter_order_yields_nothing() {
        let order = enter_order(OuchVersion::V50, 7);
        // Cut short: not well formed.
        assert_eq!(
            order_arrival(OuchVersion::V50, &order[..order.len() - 1], 1),
            None
        );
        // Empty, and an unknown type.
        assert_eq!(order_arrival(OuchVersion::V50, &[], 1), None);
        assert_eq!(order_arrival(OuchVersion::V42, b"Zxyz", 1), None);
        // An OUCH 4.2 Cancel Order ('X', token + shares): not an order to correlate.
        let mut cancel = vec![b'X'];
        cancel.extend_from_slice(b"00000000000007");
        cancel.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(order_arrival(OuchVersion::V42, &cancel, 1), None);
        assert!(!is_enter_order(&cancel));
    }

    #[test]
    fn garbage_close_reasons_are_told_from_orderly_and_link_ones() {
        assert!(is_garbage(&CloseReason::UnknownPacketType {
            type_byte: b'?',
            stream_offset: 0
        }));
        assert!(!is_garbage(&CloseReason::ClientLogout));
        assert!(!is_garbage(&CloseReason::PeerClosed));
        assert!(!is_garbage(&CloseReason::ClientTimeout { silent_ns: 1 }));
    }
}
