//! `SO_TIMESTAMPING` glue: the flag sets we ask the kernel for, and pure parsing of
//! the control messages it answers with.
//!
//! The kernel reports a timestamp as a `SCM_TIMESTAMPING` control message holding three
//! `timespec`s (`[0]` software, `[1]` deprecated, `[2]` raw hardware). A TX timestamp
//! comes back on the socket's error queue, next to an `IP_RECVERR` (or
//! `IPV6_RECVERR`) message whose `sock_extended_err` has `ee_origin ==
//! SO_EE_ORIGIN_TIMESTAMPING` and carries the `SOF_TIMESTAMPING_OPT_ID` counter of
//! the datagram in `ee_data`. Everything here is a pure function over the control
//! buffer `recvmsg` filled: no syscall, no allocation, and no panic whatever the
//! bytes (every length is checked before it is read). Unknown control messages are
//! skipped. Layouts are Linux's on 64-bit targets (`cmsghdr` aligned to 8 bytes,
//! 16-byte `timespec`). The only syscalls are [`enable`] (`setsockopt`) and
//! [`recv_with_control`] (`recvmsg`), kept apart from the parsing.
//!
//! ```
//! use ticklab::nic::timestamp::{parse_control, ClockDomain};
//! // An empty control buffer carries no timestamp.
//! let parsed = parse_control(&[]).unwrap();
//! assert_eq!(parsed.stamp(ClockDomain::KernelSoftware), None);
//! ```

use std::fmt;
use std::mem::size_of;

pub use super::sys::Received;

/// Turns timestamping on for `socket` with `flags` ([`SOFTWARE_FLAGS`] or
/// [`HARDWARE_FLAGS`]). Unprivileged for software stamps.
///
/// The kernel switches receive stamping on for the whole stack lazily: when no
/// socket had asked before, `net_enable_timestamp` defers it to a work item, so
/// datagrams that arrive in the moments after this call may come without an RX
/// stamp. Open timestamped sockets before a run starts, not during it.
pub fn enable(socket: &impl std::os::fd::AsFd, flags: u32) -> std::io::Result<()> {
    super::sys::set_timestamping(socket, flags)
}

/// One `recvmsg(2)` into `data` and `control` with `flags` (`libc::MSG_DONTWAIT`,
/// `libc::MSG_ERRQUEUE`); parse `control[..received.control_len]` with
/// [`parse_control`]. `control` should hold [`CONTROL_BUFFER_LEN`] bytes.
pub fn recv_with_control(
    socket: &impl std::os::fd::AsFd,
    data: &mut [u8],
    control: &mut [u8],
    flags: i32,
) -> std::io::Result<Received> {
    super::sys::recvmsg(socket, data, control, flags)
}

/// Ask for kernel software timestamps: TX (from the error queue, tagged with the
/// `OPT_ID` counter, without the payload looped back) and RX.
pub const SOFTWARE_FLAGS: u32 = SOF_TIMESTAMPING_TX_SOFTWARE
    | SOF_TIMESTAMPING_RX_SOFTWARE
    | SOF_TIMESTAMPING_SOFTWARE
    | SOF_TIMESTAMPING_OPT_ID
    | SOF_TIMESTAMPING_OPT_TSONLY;

/// Ask for NIC hardware timestamps (raw PHC time) as well as the software ones. The
/// NIC must also have been told to stamp (`SIOCSHWTSTAMP`), which needs privileges.
pub const HARDWARE_FLAGS: u32 = SOFTWARE_FLAGS
    | SOF_TIMESTAMPING_TX_HARDWARE
    | SOF_TIMESTAMPING_RX_HARDWARE
    | SOF_TIMESTAMPING_RAW_HARDWARE;

// include/uapi/linux/net_tstamp.h
pub const SOF_TIMESTAMPING_TX_HARDWARE: u32 = 1 << 0;
pub const SOF_TIMESTAMPING_TX_SOFTWARE: u32 = 1 << 1;
pub const SOF_TIMESTAMPING_RX_HARDWARE: u32 = 1 << 2;
pub const SOF_TIMESTAMPING_RX_SOFTWARE: u32 = 1 << 3;
pub const SOF_TIMESTAMPING_SOFTWARE: u32 = 1 << 4;
pub const SOF_TIMESTAMPING_RAW_HARDWARE: u32 = 1 << 6;
pub const SOF_TIMESTAMPING_OPT_ID: u32 = 1 << 7;
pub const SOF_TIMESTAMPING_OPT_TSONLY: u32 = 1 << 11;

// include/uapi/asm-generic/socket.h, include/uapi/linux/in.h, in6.h, errqueue.h
pub const SOL_SOCKET: i32 = 1;
/// `SO_TIMESTAMPING_OLD`: what `SO_TIMESTAMPING` is on 64-bit targets.
pub const SCM_TIMESTAMPING: i32 = 37;
/// `SO_TIMESTAMPING_NEW`: same layout on 64-bit targets (`__kernel_timespec`).
pub const SCM_TIMESTAMPING_NEW: i32 = 65;
pub const SOL_IP: i32 = 0;
pub const IP_RECVERR: i32 = 11;
pub const SOL_IPV6: i32 = 41;
pub const IPV6_RECVERR: i32 = 25;
pub const SO_EE_ORIGIN_TIMESTAMPING: u8 = 4;
/// `ee_info` of a timestamp report: the datagram left through the device.
pub const SCM_TSTAMP_SND: u32 = 0;

/// `struct cmsghdr` on 64-bit Linux: `size_t cmsg_len; int cmsg_level; int cmsg_type;`.
pub const CMSGHDR_LEN: usize = 16;
/// Control messages start at multiples of `sizeof(long)`.
const CMSG_ALIGN: usize = size_of::<usize>();
/// `struct timespec` on 64-bit Linux: two 64-bit fields.
pub const TIMESPEC_LEN: usize = 16;
/// `struct scm_timestamping`: three `timespec`s.
pub const SCM_TIMESTAMPING_LEN: usize = 3 * TIMESPEC_LEN;
/// `struct sock_extended_err`: `u32 ee_errno; u8 ee_origin, ee_type, ee_code, ee_pad;
/// u32 ee_info; u32 ee_data;`.
pub const SOCK_EXTENDED_ERR_LEN: usize = 16;

/// Room for every control message one timestamped datagram brings: a
/// `SCM_TIMESTAMPING` plus an `IP_RECVERR` with its offender address, with margin.
pub const CONTROL_BUFFER_LEN: usize = 256;

/// Which clock a timestamp was read from. Timestamps of different domains are never
/// compared: [`KernelTimestamp::nanos_since`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockDomain {
    /// The kernel's software stamp: `CLOCK_REALTIME`, taken in the driver's transmit
    /// path (TX) or when the packet entered the stack (RX).
    KernelSoftware,
    /// The NIC's PTP hardware clock, raw (not converted to system time).
    NicHardware,
    /// `CLOCK_MONOTONIC` read in user space when a call returned, from an origin the
    /// run chose. The kernel never reports it in a control message.
    UserMonotonic,
}

impl ClockDomain {
    pub fn name(self) -> &'static str {
        match self {
            ClockDomain::KernelSoftware => "kernel_software",
            ClockDomain::NicHardware => "nic_hardware",
            ClockDomain::UserMonotonic => "user_monotonic",
        }
    }
}

/// One timestamp from the kernel, in nanoseconds of its clock domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelTimestamp {
    pub clock: ClockDomain,
    pub ns: u64,
    /// The `SOF_TIMESTAMPING_OPT_ID` counter of the datagram, for TX timestamps.
    pub tx_id: Option<u32>,
}

/// Two timestamps of different clock domains were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot compare a {} timestamp with a {} one", .later.name(), .earlier.name())]
pub struct DomainMismatch {
    pub later: ClockDomain,
    pub earlier: ClockDomain,
}

impl KernelTimestamp {
    /// `self - earlier` in nanoseconds (negative if `self` is earlier), only within
    /// one clock domain.
    pub fn nanos_since(&self, earlier: &KernelTimestamp) -> Result<i64, DomainMismatch> {
        if self.clock != earlier.clock {
            return Err(DomainMismatch {
                later: self.clock,
                earlier: earlier.clock,
            });
        }
        Ok(self.ns.wrapping_sub(earlier.ns) as i64)
    }
}

/// The `sock_extended_err` of a timestamp report on the error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxReport {
    /// `ee_data`: the `OPT_ID` counter of the datagram.
    pub id: u32,
    /// `ee_info`: `SCM_TSTAMP_SND`, `_SCHED` or `_ACK`.
    pub tstamp_type: u32,
}

/// What a control buffer said about timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParsedControl {
    /// `timespec[0]` of `SCM_TIMESTAMPING`, when non-zero.
    pub software_ns: Option<u64>,
    /// `timespec[2]` of `SCM_TIMESTAMPING`, when non-zero.
    pub hardware_ns: Option<u64>,
    /// Present on error-queue messages that report a TX timestamp (IP sockets'
    /// `IP_RECVERR`/`IPV6_RECVERR`, packet sockets' `PACKET_TX_TIMESTAMP`).
    pub tx: Option<TxReport>,
}

impl ParsedControl {
    /// The timestamp in `clock`, tagged with the TX id when there is one.
    pub fn stamp(&self, clock: ClockDomain) -> Option<KernelTimestamp> {
        let ns = match clock {
            ClockDomain::KernelSoftware => self.software_ns,
            ClockDomain::NicHardware => self.hardware_ns,
            ClockDomain::UserMonotonic => None,
        }?;
        Some(KernelTimestamp {
            clock,
            ns,
            tx_id: self.tx.map(|report| report.id),
        })
    }
}

/// A control buffer whose framing is broken (the kernel never writes one; a wrong
/// buffer or a truncated copy does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("control message at offset {offset}: cmsg_len {cmsg_len} is shorter than its header or runs past the {available} bytes of the buffer")]
    BadLength {
        offset: usize,
        cmsg_len: usize,
        available: usize,
    },
    #[error("control message at offset {offset} (level {level}, type {kind}): needs {needed} bytes of data, has {available}")]
    Truncated {
        offset: usize,
        level: i32,
        kind: i32,
        needed: usize,
        available: usize,
    },
}

/// Parses every control message in `control` (the bytes `recvmsg` reported in
/// `msg_controllen`). A trailing piece shorter than a `cmsghdr` is ignored, as the
/// kernel's `CMSG_NXTHDR` does.
pub fn parse_control(control: &[u8]) -> Result<ParsedControl, ControlError> {
    let mut parsed = ParsedControl::default();
    let mut offset = 0;
    while let Some(header) = control.get(offset..offset + CMSGHDR_LEN) {
        let cmsg_len = usize::from_ne_bytes(read_array(header, 0));
        let level = i32::from_ne_bytes(read_array(header, 8));
        let kind = i32::from_ne_bytes(read_array(header, 12));
        let available = control.len() - offset;
        if cmsg_len < CMSGHDR_LEN || cmsg_len > available {
            return Err(ControlError::BadLength {
                offset,
                cmsg_len,
                available,
            });
        }
        let data = &control[offset + CMSGHDR_LEN..offset + cmsg_len];
        let need = |needed: usize| {
            if data.len() < needed {
                Err(ControlError::Truncated {
                    offset,
                    level,
                    kind,
                    needed,
                    available: data.len(),
                })
            } else {
                Ok(())
            }
        };
        match (level, kind) {
            (SOL_SOCKET, SCM_TIMESTAMPING | SCM_TIMESTAMPING_NEW) => {
                need(SCM_TIMESTAMPING_LEN)?;
                parsed.software_ns = timespec_ns(data, 0);
                parsed.hardware_ns = timespec_ns(data, 2 * TIMESPEC_LEN);
            }
            // IP sockets report the extended error under their level; packet sockets
            // (AF_PACKET) under SOL_PACKET/PACKET_TX_TIMESTAMP (sock_recv_errqueue).
            (SOL_IP, IP_RECVERR)
            | (SOL_IPV6, IPV6_RECVERR)
            | (libc::SOL_PACKET, libc::PACKET_TX_TIMESTAMP) => {
                need(SOCK_EXTENDED_ERR_LEN)?;
                let errno = u32::from_ne_bytes(read_array(data, 0));
                let origin = data[4];
                if origin == SO_EE_ORIGIN_TIMESTAMPING && errno == libc::ENOMSG as u32 {
                    parsed.tx = Some(TxReport {
                        tstamp_type: u32::from_ne_bytes(read_array(data, 8)),
                        id: u32::from_ne_bytes(read_array(data, 12)),
                    });
                }
            }
            _ => {}
        }
        // Control messages are padded to CMSG_ALIGN; the last one may not be.
        offset += cmsg_len.div_ceil(CMSG_ALIGN) * CMSG_ALIGN;
    }
    Ok(parsed)
}

/// A `timespec` at `at` in nanoseconds, or `None` when it is zero (not stamped) or
/// negative (never written by the kernel).
fn timespec_ns(data: &[u8], at: usize) -> Option<u64> {
    let sec = i64::from_ne_bytes(read_array(data, at));
    let nsec = i64::from_ne_bytes(read_array(data, at + 8));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) || (sec == 0 && nsec == 0) {
        return None;
    }
    (sec as u64)
        .checked_mul(1_000_000_000)?
        .checked_add(nsec as u64)
}

/// `N` bytes at `at`; the callers checked the length, and a short read yields zeros
/// rather than a panic.
fn read_array<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    if let Some(bytes) = data.get(at..at + N) {
        out.copy_from_slice(bytes);
    }
    out
}

impl fmt::Display for KernelTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09} ({})",
            self.ns / 1_000_000_000,
            self.ns % 1_000_000_000,
            self.clock.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded control buffers, written out from the kernel's x86_64 layouts:
    // include/uapi/linux/socket.h (cmsghdr), include/uapi/linux/time_types.h
    // (__kernel_timespec), include/uapi/linux/errqueue.h (sock_extended_err,
    // scm_timestamping) and net/ipv4/ip_sockglue.c ip_recv_error (IP_RECVERR data is
    // the sock_extended_err followed by a sockaddr_in offender).

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((CMSGHDR_LEN + data.len()) as u64).to_le_bytes());
        out.extend_from_slice(&level.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(data);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out
    }

    /// A TX software timestamp from the error queue, as `recvmsg(MSG_ERRQUEUE)` gives
    /// it on a UDP/IPv4 socket with SOFTWARE_FLAGS: 1764018000.123456789 s, id 41.
    #[rustfmt::skip]
    const TX_SOFTWARE: [u8; 64 + 48] = [
        // cmsghdr: cmsg_len = 64, SOL_SOCKET (1), SCM_TIMESTAMPING (37)
        64, 0, 0, 0, 0, 0, 0, 0,   1, 0, 0, 0,   37, 0, 0, 0,
        // ts[0]: tv_sec = 1764018000 (0x6924_C750), tv_nsec = 123456789 (0x075B_CD15)
        0x50, 0xC7, 0x24, 0x69, 0, 0, 0, 0,   0x15, 0xCD, 0x5B, 0x07, 0, 0, 0, 0,
        // ts[1], ts[2]: zero
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
        // cmsghdr: cmsg_len = 48, SOL_IP (0), IP_RECVERR (11)
        48, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0,   11, 0, 0, 0,
        // sock_extended_err: ee_errno = ENOMSG (42), origin 4, type 0, code 0, pad 0,
        // ee_info = SCM_TSTAMP_SND (0), ee_data = 41
        42, 0, 0, 0,   4, 0, 0, 0,   0, 0, 0, 0,   41, 0, 0, 0,
        // offender sockaddr_in: all zero for timestamps
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    /// The same report as a hardware-stamping NIC gives it: ts[0] zero, ts[2] the
    /// raw PHC time 37.000000500 s (a PHC that counts from boot), id 7, IPv6 socket.
    #[rustfmt::skip]
    const TX_HARDWARE_V6: [u8; 64 + 64] = [
        64, 0, 0, 0, 0, 0, 0, 0,   1, 0, 0, 0,   37, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
        // ts[2]: 37 s, 500 ns
        37, 0, 0, 0, 0, 0, 0, 0,   0xF4, 0x01, 0, 0, 0, 0, 0, 0,
        // cmsghdr: cmsg_len = 60 (16 + 16 + sockaddr_in6 28), SOL_IPV6 (41), IPV6_RECVERR (25)
        60, 0, 0, 0, 0, 0, 0, 0,   41, 0, 0, 0,   25, 0, 0, 0,
        42, 0, 0, 0,   4, 0, 0, 0,   0, 0, 0, 0,   7, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    /// An RX software timestamp on a received datagram: SCM_TIMESTAMPING only.
    #[rustfmt::skip]
    const RX_SOFTWARE: [u8; 64] = [
        64, 0, 0, 0, 0, 0, 0, 0,   1, 0, 0, 0,   37, 0, 0, 0,
        // 2 s + 999999999 ns
        2, 0, 0, 0, 0, 0, 0, 0,   0xFF, 0xC9, 0x9A, 0x3B, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn tx_software_stamp_with_id() {
        let parsed = parse_control(&TX_SOFTWARE).unwrap();
        assert_eq!(parsed.software_ns, Some(1_764_018_000_123_456_789));
        assert_eq!(parsed.hardware_ns, None);
        assert_eq!(
            parsed.tx,
            Some(TxReport {
                id: 41,
                tstamp_type: SCM_TSTAMP_SND
            })
        );
        assert_eq!(
            parsed.stamp(ClockDomain::KernelSoftware),
            Some(KernelTimestamp {
                clock: ClockDomain::KernelSoftware,
                ns: 1_764_018_000_123_456_789,
                tx_id: Some(41)
            })
        );
        assert_eq!(parsed.stamp(ClockDomain::NicHardware), None);
        assert_eq!(parsed.stamp(ClockDomain::UserMonotonic), None);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn tx_hardware_stamp_on_ipv6_with_unpadded_last_message() {
        // The last message is 60 bytes, not padded: the parser must not ask for more.
        let parsed = parse_control(&TX_HARDWARE_V6[..124]).unwrap();
        assert_eq!(parsed.software_ns, None);
        assert_eq!(parsed.hardware_ns, Some(37_000_000_500));
        assert_eq!(
            parsed.stamp(ClockDomain::NicHardware),
            Some(KernelTimestamp {
                clock: ClockDomain::NicHardware,
                ns: 37_000_000_500,
                tx_id: Some(7)
            })
        );
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn rx_software_stamp_has_no_id() {
        let parsed = parse_control(&RX_SOFTWARE).unwrap();
        assert_eq!(parsed.software_ns, Some(2_999_999_999));
        assert_eq!(parsed.tx, None);
        assert_eq!(
            parsed.stamp(ClockDomain::KernelSoftware).unwrap().tx_id,
            None
        );
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn helper_builds_the_recorded_layout() {
        let mut built = cmsg(SOL_SOCKET, SCM_TIMESTAMPING, &TX_SOFTWARE[16..64]);
        built.extend(cmsg(SOL_IP, IP_RECVERR, &TX_SOFTWARE[80..112]));
        assert_eq!(built, TX_SOFTWARE);
    }

    #[test]
    fn errors_that_are_not_timestamps_and_unknown_messages_are_skipped() {
        // An ICMP error (origin 2, errno ECONNREFUSED) and an unknown SOL_SOCKET message.
        let mut err = [0u8; 32];
        err[0..4].copy_from_slice(&(libc::ECONNREFUSED as u32).to_ne_bytes());
        err[4] = 2;
        err[12..16].copy_from_slice(&9u32.to_ne_bytes());
        let mut buf = cmsg(SOL_IP, IP_RECVERR, &err);
        buf.extend(cmsg(SOL_SOCKET, 99, &[1, 2, 3]));
        assert_eq!(parse_control(&buf).unwrap(), ParsedControl::default());
    }

    #[test]
    fn broken_framing_is_an_error() {
        let mut buf = cmsg(SOL_SOCKET, SCM_TIMESTAMPING, &[0; 48]);
        buf[0] = 200;
        assert_eq!(
            parse_control(&buf),
            Err(ControlError::BadLength {
                offset: 0,
                cmsg_len: 200,
                available: 64
            })
        );
        let short = cmsg(SOL_SOCKET, SCM_TIMESTAMPING, &[0; 20]);
        assert_eq!(
            parse_control(&short),
            Err(ControlError::Truncated {
                offset: 0,
                level: SOL_SOCKET,
                kind: SCM_TIMESTAMPING,
                needed: 48,
                available: 20
            })
        );
        // Less than a header left: ignored, as CMSG_NXTHDR does.
        assert_eq!(parse_control(&[1, 2, 3]), Ok(ParsedControl::default()));
    }

    #[test]
    fn domains_do_not_mix() {
        let sw = KernelTimestamp {
            clock: ClockDomain::KernelSoftware,
            ns: 100,
            tx_id: None,
        };
        let sw_later = KernelTimestamp { ns: 350, ..sw };
        let hw = KernelTimestamp {
            clock: ClockDomain::NicHardware,
            ns: 50,
            tx_id: None,
        };
        assert_eq!(sw_later.nanos_since(&sw), Ok(250));
        assert_eq!(sw.nanos_since(&sw_later), Ok(-250));
        assert_eq!(
            sw.nanos_since(&hw),
            Err(DomainMismatch {
                later: ClockDomain::KernelSoftware,
                earlier: ClockDomain::NicHardware
            })
        );
    }

    #[test]
    fn layouts_and_constants_match_libc() {
        assert_eq!(size_of::<libc::cmsghdr>(), CMSGHDR_LEN);
        assert_eq!(size_of::<libc::timespec>(), TIMESPEC_LEN);
        assert_eq!(size_of::<libc::sock_extended_err>(), SOCK_EXTENDED_ERR_LEN);
        // SAFETY: CMSG_LEN only computes a length.
        assert_eq!(
            unsafe { libc::CMSG_LEN(SCM_TIMESTAMPING_LEN as u32) } as usize,
            64
        );
        assert_eq!(libc::SOL_SOCKET, SOL_SOCKET);
        assert_eq!(libc::SCM_TIMESTAMPING, SCM_TIMESTAMPING);
        assert_eq!(libc::SOL_IP, SOL_IP);
        assert_eq!(libc::IP_RECVERR, IP_RECVERR);
        assert_eq!(libc::SOL_IPV6, SOL_IPV6);
        assert_eq!(libc::IPV6_RECVERR, IPV6_RECVERR);
        assert_eq!(libc::SO_EE_ORIGIN_TIMESTAMPING, SO_EE_ORIGIN_TIMESTAMPING);
        assert_eq!(
            libc::SOF_TIMESTAMPING_TX_HARDWARE,
            SOF_TIMESTAMPING_TX_HARDWARE
        );
        assert_eq!(
            libc::SOF_TIMESTAMPING_TX_SOFTWARE,
            SOF_TIMESTAMPING_TX_SOFTWARE
        );
        assert_eq!(
            libc::SOF_TIMESTAMPING_RX_HARDWARE,
            SOF_TIMESTAMPING_RX_HARDWARE
        );
        assert_eq!(
            libc::SOF_TIMESTAMPING_RX_SOFTWARE,
            SOF_TIMESTAMPING_RX_SOFTWARE
        );
        assert_eq!(libc::SOF_TIMESTAMPING_SOFTWARE, SOF_TIMESTAMPING_SOFTWARE);
        assert_eq!(
            libc::SOF_TIMESTAMPING_RAW_HARDWARE,
            SOF_TIMESTAMPING_RAW_HARDWARE
        );
        assert_eq!(libc::SOF_TIMESTAMPING_OPT_ID, SOF_TIMESTAMPING_OPT_ID);
        assert_eq!(
            libc::SOF_TIMESTAMPING_OPT_TSONLY,
            SOF_TIMESTAMPING_OPT_TSONLY
        );
        assert_eq!(SOFTWARE_FLAGS, 0b1000_1001_1010);
        assert_eq!(HARDWARE_FLAGS, 0b1000_1101_1111);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_control(&bytes);
        }
    }
}
