/*
 * outq.h - a connection's pending output: copied bytes (packet headers,
 * acks) and referenced message payloads, in order, written with writev.
 *
 * Replaces a libevent evbuffer on the hot path: an evbuffer allocates a
 * chain per added reference and per small copy, and is itself allocated
 * per flush when idle connections keep no buffer. Here a queue is two
 * arrays that grow and are reused: segments (each a range of the byte
 * arena or a whole message payload holding a reference) and the arena.
 * Consecutive copies coalesce into one segment, so "header, payload,
 * header, payload" is one iovec per piece and acks cost a memcpy.
 *
 * Emptied queues are kept on a small free list (outq_cache) instead of
 * freed, so a busy connection does not allocate per turn while an idle
 * one still holds no output memory at all.
 */
#ifndef JUNCTION_OUTQ_H
#define JUNCTION_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/msg.h"

struct outq_seg {
	struct msg *m; /* reference: bytes are m->payload; NULL: arena */
	uint32_t at; /* arena offset (arena segments) */
	uint32_t len;
};

struct outq {
	struct outq *next; /* on the cache's free list */
	struct outq_seg *seg;
	uint32_t head; /* first segment not completely written */
	uint32_t nseg, segcap;
	uint32_t off; /* bytes of seg[head] already written */
	uint8_t *arena;
	uint32_t alen, acap;
	size_t bytes; /* not yet written */
};

/* Emptied queues ready for reuse; bounded so idle memory stays bounded. */
struct outq_cache {
	struct outq *free;
	uint32_t n;
};

struct outq *outq_get(struct outq_cache *cache);
/* Return an empty queue (references dropped) to the cache or free it. */
void outq_put(struct outq_cache *cache, struct outq *q);
/* Drop every pending byte and reference. */
void outq_clear(struct outq *q);
void outq_cache_fini(struct outq_cache *cache);

/* Append a copy of len bytes. */
void outq_add(struct outq *q, const void *buf, size_t len);
/* Append m's payload by reference (takes one); no-op when empty. */
void outq_add_msg(struct outq *q, struct msg *m);

static inline size_t
outq_len(const struct outq *q)
{
	return q->bytes;
}

/*
 * One writev of what is pending (at most OUTQ_IOV pieces) to fd.
 * Returns the bytes written, or -1 with errno set as writev left it.
 */
ssize_t outq_write(struct outq *q, int fd);

#endif
