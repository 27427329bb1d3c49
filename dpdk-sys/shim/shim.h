/*
 * ticklab's C shim over DPDK's static inline fast-path functions.
 *
 * DPDK defines rte_eth_rx_burst, rte_eth_tx_burst, the mbuf allocators and
 * rte_errno in its headers as static inline functions and macros, so there is no
 * symbol for Rust to call. This shim compiles them (with DPDK's own cflags) into
 * real functions. The burst calls do a whole burst per call so the Rust side
 * crosses the FFI boundary once per burst, not once per packet.
 *
 * Nothing here allocates memory of its own or keeps state between calls.
 */
#ifndef TICKLAB_DPDK_SHIM_H
#define TICKLAB_DPDK_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* A frame to transmit: bytes the caller owns, at most the mbuf data room. */
struct ticklab_tx_frame {
	const uint8_t *data;
	uint32_t len;
};

/* A receive slot: the caller's buffer goes in, what arrived comes out. */
struct ticklab_rx_slot {
	/* In: where to copy the packet, and how many bytes fit. */
	uint8_t *data;
	uint32_t capacity;
	/* Out: bytes copied (at most capacity) and the packet's whole length. */
	uint32_t len;
	uint32_t packet_len;
	/* Out: 1 when the PMD set the RX timestamp dynflag; then `timestamp` holds the
	 * dynfield (raw device clock ticks). */
	uint32_t has_timestamp;
	uint64_t timestamp;
};

/* The C values of the constants the Rust side defines by hand, because bindgen
 * cannot evaluate their function-like macros (RTE_BIT64 and friends). */
struct ticklab_constants {
	uint64_t rx_offload_timestamp;
	uint64_t tx_offload_mbuf_fast_free;
	uint64_t mbuf_default_dataroom;
	uint64_t mbuf_default_buf_size;
	uint64_t pktmbuf_headroom;
	uint64_t eth_name_max_len;
	uint64_t mempool_namesize;
	uint64_t lcore_id_any;
	int64_t socket_id_any;
	uint64_t version;
	uint64_t mbuf_refcnt_max;
};

void ticklab_constants(struct ticklab_constants *out);

/* The calling thread's rte_errno. */
int ticklab_rte_errno(void);
/* The calling thread's lcore id; LCORE_ID_ANY on a thread EAL does not know. */
unsigned ticklab_lcore_id(void);

uint16_t ticklab_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t count);
uint16_t ticklab_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t count);

struct rte_mbuf *ticklab_pktmbuf_alloc(struct rte_mempool *pool);
/* 0, or -ENOENT when the pool cannot supply all `count` (then none were taken). */
int ticklab_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs, unsigned count);
void ticklab_pktmbuf_free(struct rte_mbuf *mbuf);
/* Grows the packet by `len` bytes at its tail; NULL when the tailroom is short. */
uint8_t *ticklab_pktmbuf_append(struct rte_mbuf *mbuf, uint16_t len);
uint8_t *ticklab_pktmbuf_mtod(const struct rte_mbuf *mbuf);
uint16_t ticklab_pktmbuf_data_len(const struct rte_mbuf *mbuf);
uint32_t ticklab_pktmbuf_pkt_len(const struct rte_mbuf *mbuf);
uint16_t ticklab_pktmbuf_data_room_size(struct rte_mempool *pool);
/* Writes the RX timestamp dynfield at `offset` into `*timestamp` and returns 1 when
 * `flag` is set in the mbuf's ol_flags; returns 0 otherwise. */
int ticklab_mbuf_rx_timestamp(const struct rte_mbuf *mbuf, int offset, uint64_t flag,
			      uint64_t *timestamp);

/*
 * Transmits `count` frames on (port, queue): takes `count` mbufs from `pool` in one
 * bulk get, copies each frame into its mbuf, calls rte_eth_tx_burst once and frees
 * the mbufs the device did not take. `scratch` holds at least `count` pointers.
 * Returns how many frames the device took (a prefix), or -ENOBUFS when the pool
 * could not supply `count` mbufs (nothing was sent). Every frame must fit one
 * mbuf's data room (the caller checks).
 */
int32_t ticklab_tx_copy_burst(uint16_t port, uint16_t queue, struct rte_mempool *pool,
			      const struct ticklab_tx_frame *frames, uint16_t count,
			      struct rte_mbuf **scratch);

/*
 * Receives up to `count` packets from (port, queue) with one rte_eth_rx_burst,
 * copies each (all its segments) into its slot's buffer, fills the slot and frees
 * the mbufs. With `timestamp_offset` >= 0 the RX timestamp dynfield is read where
 * `timestamp_flag` is set. `scratch` holds at least `count` pointers. Returns how
 * many packets arrived.
 */
uint16_t ticklab_rx_copy_burst(uint16_t port, uint16_t queue, struct ticklab_rx_slot *slots,
			       uint16_t count, struct rte_mbuf **scratch, int timestamp_offset,
			       uint64_t timestamp_flag);

/*
 * Staging: frames copied once into mbufs of their own pool, then sent again and
 * again by reference count.
 */

/*
 * Takes `count` mbufs from `pool` in one bulk get and copies frame i into mbuf i
 * with no headroom (data_off 0, so the pool's data room need only be the longest
 * frame). Returns 0, or -ENOBUFS when the pool cannot supply `count` mbufs (then
 * none were taken). Every frame must fit the pool's data room (the caller checks).
 */
int ticklab_stage_frames(struct rte_mempool *pool, const struct ticklab_tx_frame *frames,
			 uint32_t count, struct rte_mbuf **out);

/*
 * Transmits `count` staged mbufs on (port, queue) without giving them away: adds a
 * reference to each (rte_mbuf_refcnt_update), calls rte_eth_tx_burst once, and takes
 * the reference back from those the device did not take. The device's free of a
 * sent mbuf then drops only the added reference. `mbufs` is the caller's scratch
 * copy of the staged pointers: rte_eth_tx_burst's array is not const, so the staged
 * array itself is never handed to a PMD. The `next_count` mbufs at `next` (the
 * staged frames after these) are prefetched, both cache lines of their headers
 * that the send and the PMD's free read, so the next burst finds them in cache: a
 * large capture's mbufs are far beyond the CPU's caches. Returns how many the
 * device took (a prefix).
 */
uint16_t ticklab_tx_staged_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs,
				 uint16_t count, struct rte_mbuf *const *next, uint16_t next_count);

/* Drops one reference from each of `count` mbufs (rte_pktmbuf_free_bulk). */
void ticklab_pktmbuf_free_bulk(struct rte_mbuf **mbufs, uint32_t count);

/* How many of the `count` mbufs someone else (a device's TX ring) also references:
 * the number with a reference count above 1. */
uint32_t ticklab_mbufs_shared(struct rte_mbuf *const *mbufs, uint32_t count);

/*
 * About how many bytes of EAL memory a packet mbuf pool of `count` mbufs with
 * `data_room` bytes of data room takes (objects with their headers, the ring of
 * free objects, the pool header), and the memory EAL's heaps have now, in all and
 * free, summed over the NUMA sockets.
 */
struct ticklab_pool_memory {
	uint64_t needed;
	uint64_t heap_total;
	uint64_t heap_free;
};
void ticklab_pool_memory(uint32_t count, uint16_t data_room, struct ticklab_pool_memory *out);

#endif
