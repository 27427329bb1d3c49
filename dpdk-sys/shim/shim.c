/*
 * ticklab's C shim over DPDK's static inline fast-path functions: see shim.h.
 * Compiled by build.rs with `pkg-config --cflags libdpdk`, the flags DPDK's own
 * applications use, so the inlined code is the code DPDK meant.
 */
#include <errno.h>
#include <string.h>

#include <rte_config.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_memcpy.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <rte_version.h>

#include "shim.h"

void ticklab_constants(struct ticklab_constants *out)
{
	out->rx_offload_timestamp = RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	out->tx_offload_mbuf_fast_free = RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	out->mbuf_default_dataroom = RTE_MBUF_DEFAULT_DATAROOM;
	out->mbuf_default_buf_size = RTE_MBUF_DEFAULT_BUF_SIZE;
	out->pktmbuf_headroom = RTE_PKTMBUF_HEADROOM;
	out->eth_name_max_len = RTE_ETH_NAME_MAX_LEN;
	out->mempool_namesize = RTE_MEMPOOL_NAMESIZE;
	out->lcore_id_any = LCORE_ID_ANY;
	out->socket_id_any = SOCKET_ID_ANY;
	out->version = RTE_VERSION;
	out->mbuf_refcnt_max = UINT16_MAX;
	/* The reference count is what staging counts on: 16 bits in this ABI. */
	RTE_BUILD_BUG_ON(sizeof(((struct rte_mbuf *)0)->refcnt) != sizeof(uint16_t));
}

int ticklab_rte_errno(void)
{
	return rte_errno;
}

unsigned ticklab_lcore_id(void)
{
	return rte_lcore_id();
}

uint16_t ticklab_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t count)
{
	return rte_eth_rx_burst(port, queue, mbufs, count);
}

uint16_t ticklab_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t count)
{
	return rte_eth_tx_burst(port, queue, mbufs, count);
}

struct rte_mbuf *ticklab_pktmbuf_alloc(struct rte_mempool *pool)
{
	return rte_pktmbuf_alloc(pool);
}

int ticklab_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs, unsigned count)
{
	return rte_pktmbuf_alloc_bulk(pool, mbufs, count);
}

void ticklab_pktmbuf_free(struct rte_mbuf *mbuf)
{
	rte_pktmbuf_free(mbuf);
}

uint8_t *ticklab_pktmbuf_append(struct rte_mbuf *mbuf, uint16_t len)
{
	return (uint8_t *)rte_pktmbuf_append(mbuf, len);
}

uint8_t *ticklab_pktmbuf_mtod(const struct rte_mbuf *mbuf)
{
	return rte_pktmbuf_mtod(mbuf, uint8_t *);
}

uint16_t ticklab_pktmbuf_data_len(const struct rte_mbuf *mbuf)
{
	return rte_pktmbuf_data_len(mbuf);
}

uint32_t ticklab_pktmbuf_pkt_len(const struct rte_mbuf *mbuf)
{
	return rte_pktmbuf_pkt_len(mbuf);
}

uint16_t ticklab_pktmbuf_data_room_size(struct rte_mempool *pool)
{
	return rte_pktmbuf_data_room_size(pool);
}

int ticklab_mbuf_rx_timestamp(const struct rte_mbuf *mbuf, int offset, uint64_t flag,
			      uint64_t *timestamp)
{
	if (offset < 0 || (mbuf->ol_flags & flag) == 0)
		return 0;
	*timestamp = *RTE_MBUF_DYNFIELD(mbuf, offset, const rte_mbuf_timestamp_t *);
	return 1;
}

/*
 * Takes `count` mbufs from `pool` in one bulk get and copies frame i into mbuf i,
 * after the default headroom or, with `no_headroom`, at the start of the data room.
 * Returns 0, or -ENOBUFS when the pool cannot supply `count` (none were taken).
 */
static inline int alloc_and_fill(struct rte_mempool *pool, const struct ticklab_tx_frame *frames,
				 uint32_t count, struct rte_mbuf **mbufs, int no_headroom)
{
	uint32_t i;

	if (rte_pktmbuf_alloc_bulk(pool, mbufs, count) != 0)
		return -ENOBUFS;
	for (i = 0; i < count; i++) {
		struct rte_mbuf *m = mbufs[i];
		uint16_t len = (uint16_t)frames[i].len;

		if (i + 1 < count)
			rte_prefetch0(frames[i + 1].data);
		/* A fresh mbuf is one empty segment. */
		if (no_headroom)
			m->data_off = 0;
		rte_memcpy(rte_pktmbuf_mtod(m, void *), frames[i].data, len);
		m->data_len = len;
		m->pkt_len = len;
	}
	return 0;
}

int32_t ticklab_tx_copy_burst(uint16_t port, uint16_t queue, struct rte_mempool *pool,
			      const struct ticklab_tx_frame *frames, uint16_t count,
			      struct rte_mbuf **scratch)
{
	uint16_t sent;

	if (count == 0)
		return 0;
	if (alloc_and_fill(pool, frames, count, scratch, 0) != 0)
		return -ENOBUFS;
	sent = rte_eth_tx_burst(port, queue, scratch, count);
	if (sent < count)
		rte_pktmbuf_free_bulk(scratch + sent, count - sent);
	return sent;
}

/* Copies all segments of `m` into `dst`, at most `capacity` bytes; returns the count. */
static inline uint32_t copy_out(const struct rte_mbuf *m, uint8_t *dst, uint32_t capacity)
{
	uint32_t copied = 0;

	for (; m != NULL && copied < capacity; m = m->next) {
		uint32_t take = m->data_len;

		if (take > capacity - copied)
			take = capacity - copied;
		rte_memcpy(dst + copied, rte_pktmbuf_mtod(m, const uint8_t *), take);
		copied += take;
	}
	return copied;
}

uint16_t ticklab_rx_copy_burst(uint16_t port, uint16_t queue, struct ticklab_rx_slot *slots,
			       uint16_t count, struct rte_mbuf **scratch, int timestamp_offset,
			       uint64_t timestamp_flag)
{
	uint16_t i, received;

	received = rte_eth_rx_burst(port, queue, scratch, count);
	for (i = 0; i < received; i++) {
		const struct rte_mbuf *m = scratch[i];
		struct ticklab_rx_slot *slot = &slots[i];

		if (i + 1 < received)
			rte_prefetch0(rte_pktmbuf_mtod(scratch[i + 1], const void *));
		slot->packet_len = m->pkt_len;
		slot->len = copy_out(m, slot->data, slot->capacity);
		slot->has_timestamp = (uint32_t)ticklab_mbuf_rx_timestamp(
			m, timestamp_offset, timestamp_flag, &slot->timestamp);
	}
	if (received > 0)
		rte_pktmbuf_free_bulk(scratch, received);
	return received;
}

int ticklab_stage_frames(struct rte_mempool *pool, const struct ticklab_tx_frame *frames,
			 uint32_t count, struct rte_mbuf **out)
{
	if (count == 0)
		return 0;
	return alloc_and_fill(pool, frames, count, out, 1);
}

uint16_t ticklab_tx_staged_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs,
				 uint16_t count, struct rte_mbuf *const *next, uint16_t next_count)
{
	uint16_t i, sent;

	for (i = 0; i < next_count; i++) {
		rte_prefetch0(next[i]);
		rte_prefetch0(&next[i]->cacheline1);
	}
	for (i = 0; i < count; i++)
		rte_mbuf_refcnt_update(mbufs[i], 1);
	sent = rte_eth_tx_burst(port, queue, mbufs, count);
	for (i = sent; i < count; i++)
		rte_mbuf_refcnt_update(mbufs[i], -1);
	return sent;
}

void ticklab_pktmbuf_free_bulk(struct rte_mbuf **mbufs, uint32_t count)
{
	rte_pktmbuf_free_bulk(mbufs, count);
}

uint32_t ticklab_mbufs_shared(struct rte_mbuf *const *mbufs, uint32_t count)
{
	uint32_t i, shared = 0;

	for (i = 0; i < count; i++)
		shared += rte_mbuf_refcnt_read(mbufs[i]) > 1;
	return shared;
}

void ticklab_pool_memory(uint32_t count, uint16_t data_room, struct ticklab_pool_memory *out)
{
	struct rte_mempool_objsz size;
	struct rte_malloc_socket_stats stats;
	unsigned int socket;
	ssize_t ring;

	rte_mempool_calc_obj_size(sizeof(struct rte_mbuf) + data_room, 0, &size);
	/* The default ops keep free objects in a ring of the next power of two. */
	ring = rte_ring_get_memsize(rte_align32pow2(count + 1));
	out->needed = (uint64_t)count * size.total_size + (ring > 0 ? (uint64_t)ring : 0) +
		      sizeof(struct rte_mempool) +
		      (uint64_t)RTE_MAX_LCORE * sizeof(struct rte_mempool_cache);
	out->heap_total = 0;
	out->heap_free = 0;
	for (socket = 0; socket < rte_socket_count(); socket++) {
		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(socket), &stats) != 0)
			continue;
		out->heap_total += stats.heap_totalsz_bytes;
		out->heap_free += stats.heap_freesz_bytes;
	}
}
