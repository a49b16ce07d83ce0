/*
 * jb_pub.c - jbench's publishers: the payload, the window and the rate
 * scheduler.
 *
 * A publisher publishes while it holds fewer than o.window slots (see
 * jb_track.c for when a slot comes back), its protocol allows
 * (ops->can_send) and, in rate mode, a publish is due. Rate mode gives
 * each of the N publishers rate / N per second, the first due times
 * staggered over one interval; a publisher that falls behind (window
 * full, or the generator too slow) carries at most JB_PUB_DEBT_NS of
 * debt, so it never bursts to catch up and the achieved rate is what
 * the report shows.
 *
 * Publishers are pumped only when woken (a slot or a packet id came
 * back, or in rate mode a publish fell due), so a turn costs what
 * changed, not the number of publishers.
 */
#include <string.h>

#include "bench/jb.h"

#define JB_PUB_DEBT_NS 10000000ull /* 10 ms */
#define JB_PUB_EXPIRE_NS 100000000ull /* check slot ages every 100 ms */
#define JB_PUB_TICK_NS 1000000ull /* rate mode: wake due publishers */

void
jb_pub_init(struct jb *jb, uint64_t now)
{
	double interval = jb->o.rate > 0 ? 1e9 * jb->npubs / jb->o.rate : 0;

	jb->payload = xmalloc((size_t)jb->o.size);
	for (int i = 0; i < jb->o.size; i++)
		jb->payload[i] = (uint8_t)('a' + i % 26);
	jb->wake = xcalloc((size_t)jb->npubs, sizeof(*jb->wake));
	for (int i = 0; i < jb->npubs; i++) {
		struct jb_pub *p = &jb->pubs[i];

		p->due_ns = now + (uint64_t)(interval * i / jb->npubs);
		jb_pub_wake(jb, p);
	}
}

void
jb_pub_wake(struct jb *jb, struct jb_pub *p)
{
	if (p->woken)
		return;
	p->woken = true;
	jb->wake[jb->nwake++] = p;
}

static bool
jb_pub_has_room(const struct jb *jb, const struct jb_pub *p)
{
	return p->inflight < jb->o.window && jb->ops->can_send(jb, p);
}

/* Rate mode: is a publish due? Forgives debt beyond JB_PUB_DEBT_NS. */
static bool
jb_pub_is_due(const struct jb *jb, struct jb_pub *p, uint64_t now)
{
	if (jb->o.rate <= 0)
		return true;
	if (p->due_ns + JB_PUB_DEBT_NS < now)
		p->due_ns = now - JB_PUB_DEBT_NS;
	return p->due_ns <= now;
}

static void
jb_pub_one(struct jb *jb, struct jb_pub *p)
{
	uint64_t seq = p->next_seq;
	uint64_t stamp = jb_now_ns();

	jb_put_le(jb->payload + JB_OFF_STAMP, stamp, 8);
	jb_put_le(jb->payload + JB_OFF_PUB, (uint64_t)p->conn.idx, 4);
	jb_put_le(jb->payload + JB_OFF_SEQ, seq, 8);
	jb->ops->publish(jb, p, seq, jb->payload);
	jb_track_sent(jb, p, seq, stamp, p->conn.queued);
	if (jb->o.rate > 0)
		p->due_ns += (uint64_t)(1e9 * jb->npubs / jb->o.rate);
}

void
jb_pub_pump(struct jb *jb)
{
	uint64_t now = jb_now_ns();

	for (int i = 0; i < jb->nwake; i++) {
		struct jb_pub *p = jb->wake[i];

		p->woken = false;
		while (jb->publishing && jb_pub_has_room(jb, p) &&
		    jb_pub_is_due(jb, p, now))
			jb_pub_one(jb, p);
	}
	jb->nwake = 0;
}

void
jb_pub_tick(struct jb *jb, uint64_t now)
{
	bool expire = now - jb->expire_ns >= JB_PUB_EXPIRE_NS;
	bool rate = jb->o.rate > 0 && now - jb->tick_ns >= JB_PUB_TICK_NS;

	if (expire)
		jb->expire_ns = now;
	if (rate)
		jb->tick_ns = now;
	for (int i = 0; (expire || rate) && i < jb->npubs; i++) {
		struct jb_pub *p = &jb->pubs[i];

		if (expire)
			jb_track_expire(jb, p, now);
		if (rate && p->due_ns <= now)
			jb_pub_wake(jb, p);
	}
}
