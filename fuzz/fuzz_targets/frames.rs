//! Frame dissection (Ethernet/802.1Q/IPv4/UDP/TCP, Linux cooked, raw IPv4) on
//! arbitrary bytes: never a panic, and payloads always lie inside the frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticklab::wire::{dissect_ethernet, dissect_ipv4, dissect_linux_sll, Transport};

fuzz_target!(|data: &[u8]| {
    for layers in [
        dissect_ethernet(data),
        dissect_ipv4(data),
        dissect_linux_sll(data),
    ]
    .into_iter()
    .flatten()
    {
        match layers.transport {
            Transport::Udp {
                payload,
                payload_offset,
                ..
            }
            | Transport::Tcp {
                payload,
                payload_offset,
                ..
            } => {
                assert_eq!(
                    &data[payload_offset..payload_offset + payload.len()],
                    payload
                );
            }
            _ => {}
        }
    }
});
