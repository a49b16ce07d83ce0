/* outq.c - see outq.h. */
#include "net/outq.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/util.h"

/* Pieces per writev; Linux takes up to IOV_MAX (1024). */
#define OUTQ_IOV 128
/* Queues kept for reuse, and the largest arrays worth keeping. */
#define OUTQ_CACHE_MAX 32
#define OUTQ_KEEP_ARENA (64 * 1024)
#define OUTQ_KEEP_SEGS 4096

static void
outq_free(struct outq *q)
{
	free(q->seg);
	free(q->arena);
	free(q);
}

struct outq *
outq_get(struct outq_cache *cache)
{
	struct outq *q = cache->free;

	if (q == NULL)
		return xcalloc(1, sizeof(*q));
	cache->free = q->next;
	cache->n--;
	q->next = NULL;
	return q;
}

void
outq_put(struct outq_cache *cache, struct outq *q)
{
	outq_clear(q);
	if (cache->n >= OUTQ_CACHE_MAX || q->acap > OUTQ_KEEP_ARENA ||
	    q->segcap > OUTQ_KEEP_SEGS) {
		outq_free(q);
		return;
	}
	q->next = cache->free;
	cache->free = q;
	cache->n++;
}

void
outq_cache_fini(struct outq_cache *cache)
{
	struct outq *q;

	while ((q = cache->free) != NULL) {
		cache->free = q->next;
		outq_free(q);
	}
	cache->n = 0;
}

static void
outq_reset(struct outq *q)
{
	q->head = q->nseg = q->off = 0;
	q->alen = 0;
	q->bytes = 0;
}

void
outq_clear(struct outq *q)
{
	for (uint32_t i = q->head; i < q->nseg; i++)
		if (q->seg[i].m != NULL)
			msg_unref(q->seg[i].m);
	outq_reset(q);
}

static struct outq_seg *
outq_push(struct outq *q)
{
	if (q->nseg == q->segcap) {
		q->segcap = q->segcap ? q->segcap * 2 : 16;
		q->seg = xrealloc(q->seg, q->segcap * sizeof(*q->seg));
	}
	return &q->seg[q->nseg++];
}

void
outq_add(struct outq *q, const void *buf, size_t len)
{
	struct outq_seg *last = q->nseg > q->head ? &q->seg[q->nseg - 1] : NULL;

	if (len == 0)
		return;
	ASSERT(len <= UINT32_MAX - q->alen);
	if (q->alen + len > q->acap) {
		q->acap = (uint32_t)MAX(MAX(q->acap * 2, 512), q->alen + len);
		q->arena = xrealloc(q->arena, q->acap);
	}
	/*
	 * Coalesce with the last copy, unless that is the head already being
	 * written: the head must finish for compaction to reclaim the arena.
	 */
	if (last != NULL && last->m == NULL &&
	    last->at + last->len == q->alen &&
	    (last != &q->seg[q->head] || q->off == 0)) {
		last->len += (uint32_t)len;
	} else {
		last = outq_push(q);
		*last = (struct outq_seg){
		    .m = NULL, .at = q->alen, .len = (uint32_t)len};
	}
	memcpy(q->arena + q->alen, buf, len);
	q->alen += (uint32_t)len;
	q->bytes += len;
}

void
outq_add_msg(struct outq *q, struct msg *m)
{
	struct outq_seg *s;

	if (m->payload_len == 0)
		return;
	ASSERT(m->payload_len <= UINT32_MAX);
	s = outq_push(q);
	*s = (struct outq_seg){
	    .m = msg_ref(m), .at = 0, .len = (uint32_t)m->payload_len};
	q->bytes += m->payload_len;
}

static const uint8_t *
outq_seg_bytes(const struct outq *q, const struct outq_seg *s)
{
	return s->m != NULL ? s->m->payload : q->arena + s->at;
}

/*
 * Slide the live segments (and the arena bytes they use) to the front,
 * once the written prefix is most of the arrays: a queue that never
 * empties (a steadily slow reader) must not grow without bound.
 */
static void
outq_compact(struct outq *q)
{
	uint32_t live = q->nseg - q->head, from = q->alen;

	if (q->head < 32 || q->head < live)
		return;
	memmove(q->seg, q->seg + q->head, live * sizeof(*q->seg));
	q->nseg = live;
	q->head = 0;
	for (uint32_t i = 0; i < live; i++)
		if (q->seg[i].m == NULL)
			from = MIN(from, q->seg[i].at);
	memmove(q->arena, q->arena + from, q->alen - from);
	q->alen -= from;
	for (uint32_t i = 0; i < live; i++)
		if (q->seg[i].m == NULL)
			q->seg[i].at -= from;
}

/* n bytes left: release the segments they finished. */
static void
outq_consume(struct outq *q, size_t n)
{
	q->bytes -= n;
	while (n > 0) {
		struct outq_seg *s = &q->seg[q->head];
		size_t left = s->len - q->off;

		if (n < left) {
			q->off += (uint32_t)n;
			return;
		}
		n -= left;
		if (s->m != NULL)
			msg_unref(s->m);
		q->head++;
		q->off = 0;
	}
}

ssize_t
outq_write(struct outq *q, int fd)
{
	struct iovec iov[OUTQ_IOV];
	int n = 0;
	ssize_t w;

	for (uint32_t i = q->head; i < q->nseg && n < OUTQ_IOV; i++, n++) {
		const struct outq_seg *s = &q->seg[i];
		uint32_t skip = i == q->head ? q->off : 0;

		iov[n].iov_base =
		    (void *)(uintptr_t)(outq_seg_bytes(q, s) + skip);
		iov[n].iov_len = s->len - skip;
	}
	if (n == 0)
		return 0;
	w = writev(fd, iov, n);
	if (w <= 0)
		return w;
	outq_consume(q, (size_t)w);
	if (q->head == q->nseg)
		outq_reset(q);
	else
		outq_compact(q);
	return w;
}
