//! Raw FFI to the system's DPDK (>= 22.11 LTS), for ticklab's `nic::dpdk` backend.
//!
//! The bindings are generated at build time by bindgen from the installed headers,
//! for a narrow allowlist: EAL init and cleanup, the `rte_eth_dev_*` control calls,
//! mbuf pools, the RX timestamp dynfield lookups, the device clock and timesync
//! calls, `rte_strerror`. DPDK's fast path (`rte_eth_rx_burst`, `rte_eth_tx_burst`,
//! mbuf alloc and free, `rte_errno`, `rte_lcore_id`) is static inline in its
//! headers, so a small C shim compiled with DPDK's own cflags turns it into the
//! `ticklab_*` functions; its burst calls move a whole burst per call, and its
//! staging calls copy frames into mbufs once and send them again by reference count.
//! Constants whose C definitions bindgen cannot evaluate (`RTE_BIT64(14)`) are
//! written out here; `ticklab::nic::dpdk`'s tests (which the suite runs) check each
//! against the C compiler's value through [`c_constants`].
//!
//! This crate is only the raw surface: every function is `unsafe` and follows
//! DPDK's C contracts. It must never grow logic; the safe layer (RAII, errors,
//! threading rules) is `ticklab::nic::dpdk`.
//!
//! ```
//! // The DPDK this crate was built against, from pkg-config and from its headers.
//! assert!(dpdk_sys::DPDK_VERSION.starts_with(&format!("{}.", dpdk_sys::RTE_VER_YEAR)));
//! let c = dpdk_sys::c_constants();
//! assert_eq!(c.rx_offload_timestamp, dpdk_sys::RTE_ETH_RX_OFFLOAD_TIMESTAMP);
//! ```

mod bindings {
    #![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
    #![allow(dead_code, unnecessary_transmutes, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use bindings::*;

/// The DPDK version pkg-config reported at build time (`22.11.11` on Debian 12).
pub const DPDK_VERSION: &str = env!("DPDK_SYS_VERSION");

/// `RTE_ETH_RX_OFFLOAD_TIMESTAMP` (`RTE_BIT64(14)`): the PMD writes each packet's
/// RX time into the timestamp dynfield and sets the RX timestamp dynflag.
pub const RTE_ETH_RX_OFFLOAD_TIMESTAMP: u64 = 1 << 14;
/// `RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE` (`RTE_BIT64(16)`): every mbuf sent on a queue
/// comes from one pool and has a reference count of 1, so the PMD may free them in
/// bulk without checks.
pub const RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE: u64 = 1 << 16;
/// `RTE_MBUF_DEFAULT_DATAROOM`: the largest frame one default mbuf holds.
pub const RTE_MBUF_DEFAULT_DATAROOM: u16 = 2048;
/// `RTE_PKTMBUF_HEADROOM` of Debian's build (a build-time option of DPDK's).
pub const RTE_PKTMBUF_HEADROOM: u16 = 128;
/// `RTE_MBUF_DEFAULT_BUF_SIZE`: the data room size to create a default pool with.
pub const RTE_MBUF_DEFAULT_BUF_SIZE: u16 = RTE_MBUF_DEFAULT_DATAROOM + RTE_PKTMBUF_HEADROOM;
/// `RTE_ETH_NAME_MAX_LEN`: a port name's buffer, with its NUL.
pub const RTE_ETH_NAME_MAX_LEN: usize = 64;
/// `RTE_MEMPOOL_NAMESIZE`: a pool name's buffer, with its NUL.
pub const RTE_MEMPOOL_NAMESIZE: usize = 26;
/// `LCORE_ID_ANY`: what `rte_lcore_id()` says on a thread EAL does not know.
pub const LCORE_ID_ANY: u32 = u32::MAX;
/// `SOCKET_ID_ANY`: no NUMA preference.
pub const SOCKET_ID_ANY: i32 = -1;

/// The largest reference count an mbuf holds: `rte_mbuf::refcnt` is a `uint16_t`.
/// A staged frame is referenced once by its owner and once per TX descriptor it
/// sits in, so no more than this minus one descriptors may hold it at once.
pub const MBUF_REFCNT_MAX: u16 = u16::MAX;

/// `RTE_VERSION_NUM(year, month, minor, release)`.
pub const fn rte_version_num(year: u32, month: u32, minor: u32, release: u32) -> u64 {
    ((year as u64) << 24) | ((month as u64) << 16) | ((minor as u64) << 8) | release as u64
}

/// `RTE_VERSION` of the headers this crate was built with. Debian's build sets the
/// release field to 99 (a released version); it is compared without it.
pub const RTE_VERSION_WITHOUT_RELEASE: u64 =
    rte_version_num(RTE_VER_YEAR, RTE_VER_MONTH, RTE_VER_MINOR, 0);

/// The C compiler's values of the constants above, as the shim saw them.
pub fn c_constants() -> ticklab_constants {
    let mut out = ticklab_constants::default();
    // SAFETY: `ticklab_constants` only writes the fields of the struct it is given,
    // which is a valid, exclusively borrowed `ticklab_constants`.
    unsafe { ticklab_constants(&mut out) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_are_at_least_22_11_and_agree_with_pkg_config() {
        assert!(
            RTE_VERSION_WITHOUT_RELEASE >= rte_version_num(22, 11, 0, 0),
            "headers are DPDK {RTE_VER_YEAR}.{RTE_VER_MONTH}"
        );
        let headers = format!("{RTE_VER_YEAR}.{RTE_VER_MONTH}.{RTE_VER_MINOR}");
        assert_eq!(DPDK_VERSION, headers);
    }

    #[test]
    fn timestamp_dynfield_names_are_dpdks() {
        assert_eq!(
            RTE_MBUF_DYNFIELD_TIMESTAMP_NAME,
            b"rte_dynfield_timestamp\0"
        );
        assert_eq!(
            RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME,
            b"rte_dynflag_rx_timestamp\0"
        );
    }
}
