/*
 * jb_track.c - what became of every message: window slots, receipts,
 * duplicates and losses.
 *
 * A message is complete once the broker acknowledged it (PUBACK for QoS
 * 1, PUBCOMP for QoS 2; nothing to wait for at QoS 0 and in STOMP) and
 * jb->fanout distinct deliveries of it arrived. Until then it holds one
 * of its publisher's o.window slots, so saturation runs as fast as the
 * broker really delivers instead of piling a backlog into it.
 *
 * Each publisher keeps its open messages in a ring indexed by sequence,
 * from lo (the oldest not yet settled) to next_seq. Messages complete
 * in any order; lo moves past complete ones. A message still incomplete
 * JB_SLOT_MS after it was queued gives its slot back (one drop must not
 * stall the run) and moves to the late list, which stays sorted because
 * lo only moves forward; it can still complete from there. Memory thus
 * follows the messages in flight, not the length of the run.
 *
 * Duplicates: on a topic every subscriber sees each publisher's
 * messages in order (one publisher connection, one topic), so a
 * sequence below the one it expects next is a copy already seen. On a
 * queue competing consumers see messages in any order, and the
 * message's own receipt count (fanout 1) tells a copy apart.
 *
 * Losses, counted once the drain is over: every missing (message,
 * subscriber) delivery of a message the publisher knows the broker
 * took: acknowledged (QoS 1/2) or written to the socket (QoS 0, STOMP).
 */
#include <stdlib.h>

#include "bench/jb.h"

#define JB_TRACK_RING0 1024

static bool
jb_track_needs_ack(const struct jb *jb)
{
	return jb->o.proto != JB_STOMP && jb->o.qos > 0;
}

static struct jb_msg *
jb_track_slot(const struct jb_pub *p, uint64_t seq)
{
	return &p->ring[seq & (p->ring_cap - 1)];
}

static bool
jb_track_is_complete(const struct jb *jb, const struct jb_msg *m)
{
	return m->recv >= jb->fanout && (m->acked || !jb_track_needs_ack(jb));
}

/* m is settled; counted says it completed rather than was refused. */
static void
jb_track_finish(struct jb *jb, struct jb_pub *p, struct jb_msg *m, bool counted)
{
	m->done = true;
	jb->open_msgs--;
	if (counted)
		jb->completed++;
	if (m->seq >= p->lo) { /* still holds its slot */
		p->inflight--;
		jb_pub_wake(jb, p);
	}
}

/* An incomplete message's slot goes back; it stays tracked. */
static void
jb_track_release(struct jb *jb, struct jb_pub *p, const struct jb_msg *m)
{
	if (p->nlate == p->late_cap) {
		p->late_cap = p->late_cap ? p->late_cap * 2 : 64;
		p->late = xrealloc(p->late, p->late_cap * sizeof(*p->late));
	}
	p->late[p->nlate++] = *m;
	p->inflight--;
	jb_pub_wake(jb, p);
}

/*
 * Move lo past settled messages and, when now is not 0, past messages
 * queued JB_SLOT_MS before it, which are released.
 */
static void
jb_track_advance(struct jb *jb, struct jb_pub *p, uint64_t now)
{
	uint64_t age = (uint64_t)JB_SLOT_MS * 1000000;

	while (p->lo < p->next_seq) {
		struct jb_msg *m = jb_track_slot(p, p->lo);

		if (!m->done) {
			if (now == 0 || now - m->stamp < age)
				return;
			jb_track_release(jb, p, m);
		}
		p->lo++;
	}
}

static void
jb_track_grow(struct jb_pub *p)
{
	size_t cap = p->ring_cap ? p->ring_cap * 2 : JB_TRACK_RING0;
	struct jb_msg *ring = xcalloc(cap, sizeof(*ring));

	for (uint64_t s = p->lo; s < p->next_seq; s++)
		ring[s & (cap - 1)] = *jb_track_slot(p, s);
	free(p->ring);
	p->ring = ring;
	p->ring_cap = cap;
}

void
jb_track_sent(
    struct jb *jb, struct jb_pub *p, uint64_t seq, uint64_t stamp, uint64_t end)
{
	ASSERT(seq == p->next_seq);
	jb_track_advance(jb, p, 0);
	if (p->next_seq - p->lo >= p->ring_cap)
		jb_track_grow(p);
	*jb_track_slot(p, seq) =
	    (struct jb_msg){.seq = seq, .end = end, .stamp = stamp};
	p->next_seq++;
	p->inflight++;
	jb->open_msgs++;
}

static struct jb_msg *
jb_track_find_late(const struct jb_pub *p, uint64_t seq)
{
	size_t lo = 0, hi = p->nlate;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->late[mid].seq == seq)
			return &p->late[mid];
		if (p->late[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The open message seq of p, or NULL if it completed and was passed. */
static struct jb_msg *
jb_track_find(const struct jb_pub *p, uint64_t seq)
{
	if (seq >= p->lo && seq < p->next_seq)
		return jb_track_slot(p, seq);
	return jb_track_find_late(p, seq);
}

void
jb_track_acked(struct jb *jb, struct jb_pub *p, uint64_t seq)
{
	struct jb_msg *m = jb_track_find(p, seq);

	if (m == NULL || m->acked)
		return;
	m->acked = true;
	if (!m->done && jb_track_is_complete(jb, m))
		jb_track_finish(jb, p, m, true);
}

void
jb_track_refused(struct jb *jb, struct jb_pub *p, uint64_t seq)
{
	struct jb_msg *m = jb_track_find(p, seq);

	jb->refused++;
	if (m != NULL && !m->done)
		jb_track_finish(jb, p, m, false);
}

void
jb_track_expire(struct jb *jb, struct jb_pub *p, uint64_t now)
{
	jb_track_advance(jb, p, now);
}

/* Is a message of publisher pi meant for subscriber s at all? */
static bool
jb_track_is_for(const struct jb *jb, const struct jb_sub *s, uint64_t pi)
{
	return jb->o.dest == JB_QUEUE || jb->o.topology == JB_SHARED ||
	    pi == (uint64_t)s->conn.idx;
}

/* Topic: is seq the first copy s sees (per-publisher order)? */
static bool
jb_track_is_first(
    const struct jb *jb, struct jb_sub *s, uint64_t pi, uint64_t seq)
{
	uint64_t *next;

	if (jb->o.dest == JB_QUEUE)
		return true;
	next = &s->next[jb->o.topology == JB_SHARED ? pi : 0];
	if (seq < *next)
		return false;
	*next = seq + 1;
	return true;
}

static void
jb_track_latency(struct jb *jb, uint64_t stamp)
{
	uint64_t now = jb_now_ns();

	if (jb->meas_ns == 0 || stamp < jb->meas_ns)
		return;
	if (jb->meas_end_ns != 0 && stamp >= jb->meas_end_ns)
		return;
	jb_stats_hist_add(&jb->hist, now > stamp ? now - stamp : 0);
}

void
jb_track_receipt(
    struct jb *jb, struct jb_sub *s, const uint8_t *payload, size_t len)
{
	uint64_t stamp, pi, seq;
	struct jb_msg *m;

	if (len != (size_t)jb->o.size) {
		jb->bad++;
		return;
	}
	stamp = jb_get_le(payload + JB_OFF_STAMP, 8);
	pi = jb_get_le(payload + JB_OFF_PUB, 4);
	seq = jb_get_le(payload + JB_OFF_SEQ, 8);
	if (pi >= (uint64_t)jb->npubs || seq >= jb->pubs[pi].next_seq ||
	    !jb_track_is_for(jb, s, pi)) {
		jb->bad++;
		return;
	}
	m = jb_track_find(&jb->pubs[pi], seq);
	if (!jb_track_is_first(jb, s, pi, seq) || m == NULL ||
	    m->recv >= jb->fanout) {
		jb->dup++;
		return;
	}
	m->recv++;
	jb->delivered++;
	jb_track_latency(jb, stamp);
	if (!m->done && jb_track_is_complete(jb, m))
		jb_track_finish(jb, &jb->pubs[pi], m, true);
}

/* Count m's missing deliveries; returns 1 if the broker never took m
 * (not acknowledged / not written), else 0. */
static uint64_t
jb_track_settle_msg(const struct jb *jb, const struct jb_pub *p,
    const struct jb_msg *m, struct jb_outcome *out)
{
	bool taken =
	    jb_track_needs_ack(jb) ? m->acked : m->end <= p->conn.written;

	if (m->done)
		return 0;
	if (!taken)
		return 1;
	out->lost += jb->fanout - m->recv;
	return 0;
}

static void
jb_track_settle_pub(
    const struct jb *jb, const struct jb_pub *p, struct jb_outcome *out)
{
	uint64_t untaken = 0;

	for (uint64_t s = p->lo; s < p->next_seq; s++)
		untaken += jb_track_settle_msg(jb, p, jb_track_slot(p, s), out);
	for (size_t i = 0; i < p->nlate; i++)
		untaken += jb_track_settle_msg(jb, p, &p->late[i], out);
	out->published += p->next_seq;
	out->acked +=
	    jb_track_needs_ack(jb) ? p->nacked : p->next_seq - untaken;
}

void
jb_track_settle(const struct jb *jb, struct jb_outcome *out)
{
	*out = (struct jb_outcome){0};
	for (int i = 0; i < jb->npubs; i++)
		jb_track_settle_pub(jb, &jb->pubs[i], out);
	out->expected = out->acked * jb->fanout;
}
