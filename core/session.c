/*
 * session.c - one client session's delivery state; see session.h for the
 * state machine and the invariants.
 */
#include "core/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/queue.h"

#define SESSION_INQ2_BYTES (65536 / 8)

struct session *
session_new(struct broker *b, const char *id, size_t idlen)
{
	struct session *s;

	ASSERT(idlen <= SESSION_ID_MAX);
	s = xcalloc(1, sizeof(*s) + idlen + 1); /* the id's NUL included */
	s->b = b;
	memcpy(s->client_id, id, idlen);
	s->client_id_len = (uint16_t)idlen;
	s->window = 1;
	s->next_pkt_id = 1;
	list_init(&s->all_link);
	list_init(&s->queue);
	list_init(&s->inflight);
	list_init(&s->subs);
	list_init(&s->consumers);
	return s;
}

struct session_wait *
session_wait_get(struct session *s)
{
	if (s->wait == NULL) {
		s->wait = xcalloc(1, sizeof(*s->wait));
		s->wait->s = s;
		list_init(&s->wait->waiters);
		list_init(&s->wait->link);
	}
	return s->wait;
}

static void
session_wait_free(struct session *s)
{
	if (s->wait == NULL)
		return;
	ASSERT(!list_is_linked(&s->wait->link));
	ASSERT(list_is_empty(&s->wait->waiters));
	free(s->wait);
	s->wait = NULL;
}

struct share_ref *
share_ref_new(const char *filter, size_t flen, const char *group, size_t glen)
{
	struct share_ref *r = xcalloc(1, sizeof(*r));

	r->refs = 1;
	r->filter = xstrndup(filter, flen);
	r->group = xstrndup(group, glen);
	return r;
}

struct share_ref *
share_ref_take(struct share_ref *r)
{
	r->refs++;
	return r;
}

void
share_ref_drop(struct share_ref *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	free(r->filter);
	free(r->group);
	free(r);
}

void
session_delivery_free(struct session *s, struct delivery *d)
{
	struct store *st = s->b->store;

	list_del(&d->link);
	if (d->store_id)
		store_delivery_del(st, d);
	share_ref_drop(d->share);
	if (d->queue) {
		store_entry_del(st, d->entry_id, d->m);
		queue_unref(d->queue);
	}
	msg_unref(d->m);
	free(d);
}

/*
 * Only outbound QoS 1/2 of a stored session get a delivery record; a
 * queue delivery is covered by its queue entry's record instead, which
 * stays until the message is settled (see queue.h).
 */
void
session_delivery_store(struct session *s, struct delivery *d)
{
	if (s->stored && d->queue == NULL && d->qos > 0)
		store_delivery_put(s->b->store, s, d);
}

static void
session_list_clear(struct session *s, struct list *l)
{
	LIST_FOREACH_SAFE(it, tmp, l)
	session_delivery_free(s, CONTAINER_OF(it, struct delivery, link));
}

/* Queue byte accounting, mirrored in the broker for memory_limit. */
static void
session_queued_add(struct session *s, const struct delivery *d)
{
	s->queued_bytes += msg_size(d->m);
	broker_held_add(s->b, msg_size(d->m));
}

static void
session_queued_sub(struct session *s, const struct delivery *d)
{
	s->queued_bytes -= msg_size(d->m);
	broker_held_sub(s->b, msg_size(d->m));
}

/* Delete the record of every inbound QoS 2 id held. */
static void
session_inq2_forget(struct session *s)
{
	if (!s->stored || s->inq2 == NULL)
		return;
	for (uint32_t id = 0; id < 65536; id++) {
		if (session_inq2_has(s, (uint16_t)id))
			store_inq2_del(s->b->store, s, (uint16_t)id);
	}
}

void
session_clear_state(struct session *s)
{
	session_list_clear(s, &s->queue);
	session_list_clear(s, &s->inflight);
	session_inq2_forget(s);
	s->queued_count = 0;
	broker_held_sub(s->b, s->queued_bytes);
	s->queued_bytes = 0;
	s->inflight_count = 0;
	free(s->inq2);
	s->inq2 = NULL;
	s->inq2_count = 0;
}

void
session_free(struct session *s)
{
	ASSERT(list_is_empty(&s->subs));
	ASSERT(list_is_empty(&s->consumers));
	session_wait_free(s);
	session_clear_state(s);
	session_set_will(s, NULL, 0);
	free(s);
}

void
session_attach(struct session *s, const struct session_ops *ops, void *owner,
    uint16_t window)
{
	ASSERT(s->ops == NULL);
	ASSERT(window >= 1);
	s->ops = ops;
	s->owner = owner;
	s->window = window;
	s->expire_at_ms = 0;
}

void
session_detach(struct session *s)
{
	s->ops = NULL;
	s->owner = NULL;
}

bool
session_is_full(const struct session *s)
{
	const struct config *c = s->b->conf;

	if (c->max_queued_messages && s->queued_count >= c->max_queued_messages)
		return true;
	return c->max_queued_bytes && s->queued_bytes >= c->max_queued_bytes;
}

/* Is pkt_id used by a delivery in flight? (window is small: linear) */
static bool
session_id_in_use(const struct session *s, uint16_t id)
{
	LIST_FOREACH(it, &s->inflight)
	{
		if (CONTAINER_OF(it, struct delivery, link)->pkt_id == id)
			return true;
	}
	return false;
}

/* Next free packet id; never 0 (MQTT-2.3.1-1), never one in flight. */
static uint16_t
session_alloc_id(struct session *s)
{
	uint16_t id;

	ASSERT(s->inflight_count < 65535);
	do {
		id = s->next_pkt_id++;
		if (s->next_pkt_id == 0)
			s->next_pkt_id = 1;
	} while (session_id_in_use(s, id));
	return id;
}

/*
 * An in-flight delivery is finished: free it and open the window. A
 * queue delivery is settled with its queue, which refills the window
 * only when dispatch is set (not from inside a send, to keep the
 * recursion flat).
 */
static void
session_complete(
    struct session *s, struct delivery *d, uint64_t now_ms, bool dispatch)
{
	struct queue *q = d->queue ? queue_ref(d->queue) : NULL;

	session_delivery_free(s, d);
	s->inflight_count--;
	if (q == NULL)
		return;
	queue_settled(s->b, q, s, now_ms, dispatch);
	queue_unref(q);
}

/* Put d in flight and on the wire. */
static void
session_send(struct session *s, struct delivery *d, uint64_t now_ms)
{
	d->pkt_id = session_alloc_id(s);
	d->state = DELIVERY_SENT;
	/* Before the PUBLISH: the adapter holds a QoS 2 PUBLISH until this
	 * record (its packet id) is durable; see mqtt_proto.c. */
	session_delivery_store(s, d);
	list_add_tail(&s->inflight, &d->link);
	s->inflight_count++;
	s->b->stats.msgs_sent++;
	if (!s->ops->send(s->owner, d, now_ms))
		session_complete(
		    s, d, now_ms, false); /* too large: delivered */
}

struct delivery *
session_delivery_new(const struct session_offer *o)
{
	size_t nids = MIN(o->nsub_ids, SESSION_MAX_SUB_IDS);
	struct delivery *d = xmalloc(sizeof(*d) + nids * sizeof(uint32_t));

	list_init(&d->link);
	d->m = msg_ref(o->m);
	d->pkt_id = 0;
	d->qos = o->qos;
	d->state = DELIVERY_QUEUED;
	d->retain = o->retain;
	d->dup = false;
	d->attempts = o->attempts;
	d->share = o->share ? share_ref_take(o->share) : NULL;
	d->queue = o->queue ? queue_ref(o->queue) : NULL;
	d->store_id = 0;
	d->entry_id = o->queue ? o->entry_id : 0;
	d->nsub_ids = (uint8_t)nids;
	if (nids)
		memcpy(d->sub_ids, o->sub_ids, nids * sizeof(uint32_t));
	return d;
}

static bool
session_deliver_qos0(
    struct session *s, const struct session_offer *o, uint64_t now_ms)
{
	size_t nids = MIN(o->nsub_ids, SESSION_MAX_SUB_IDS);
	struct delivery *d;

	if (!session_is_online(s)) {
		s->b->stats.dropped_offline_qos0++;
		return true;
	}
	if (!s->ops->has_room(s->owner)) {
		s->b->stats.dropped_qos0_slow++;
		return true;
	}
	/*
	 * Built on the stack: QoS 0 is never kept. The ids go through
	 * d->sub_ids itself: the flexible array may start inside the struct's
	 * tail padding, so a separate array after it would not line up.
	 */
	_Alignas(struct delivery) uint8_t buf[sizeof(struct delivery) +
	    SESSION_MAX_SUB_IDS * sizeof(uint32_t)];
	d = (struct delivery *)(void *)buf;
	memset(d, 0, sizeof(*d));
	d->m = o->m;
	d->retain = o->retain;
	d->nsub_ids = (uint8_t)nids;
	if (nids)
		memcpy(d->sub_ids, o->sub_ids, nids * sizeof(uint32_t));
	s->b->stats.msgs_sent++;
	(void)s->ops->send(s->owner, d, now_ms);
	return true;
}

static void
session_enqueue(struct session *s, struct delivery *d)
{
	list_add_tail(&s->queue, &d->link);
	s->queued_count++;
	session_queued_add(s, d);
	session_delivery_store(s, d);
}

bool
session_deliver(
    struct session *s, const struct session_offer *o, uint64_t now_ms)
{
	bool full;

	if (o->qos == 0)
		return session_deliver_qos0(s, o, now_ms);
	full = session_is_full(s);
	if (full && !session_is_online(s)) {
		s->b->stats.dropped_queue_full++;
		return false;
	}
	if (!session_is_online(s) && broker_mem_is_high(s->b)) {
		/* memory_limit: an absent client must not stall everyone */
		s->b->stats.dropped_memory++;
		return true;
	}
	struct delivery *d = session_delivery_new(o);
	if (session_is_online(s) && list_is_empty(&s->queue) &&
	    s->inflight_count < s->window)
		session_send(s, d, now_ms);
	else
		session_enqueue(s, d);
	return !full;
}

/* Take the oldest queued delivery, dropping expired ones. */
static struct delivery *
session_dequeue(struct session *s, uint64_t now_ms)
{
	struct delivery *d;

	while ((d = LIST_FIRST(&s->queue, struct delivery, link)) != NULL) {
		list_del(&d->link);
		s->queued_count--;
		session_queued_sub(s, d);
		if (!msg_is_expired(d->m, now_ms))
			return d;
		s->b->stats.dropped_expired++;
		session_delivery_free(s, d);
	}
	return NULL;
}

void
session_pump(struct session *s, uint64_t now_ms)
{
	bool was_full = session_is_full(s);
	struct delivery *d;

	while (session_is_online(s) && s->inflight_count < s->window) {
		d = session_dequeue(s, now_ms);
		if (d == NULL)
			break;
		session_send(s, d, now_ms);
	}
	if (was_full && !session_is_full(s))
		broker_wake_waiters(s->b, s);
}

void
session_resume(struct session *s, uint64_t now_ms)
{
	struct delivery *d;

	LIST_FOREACH_SAFE(it, tmp, &s->inflight)
	{
		d = CONTAINER_OF(it, struct delivery, link);
		if (d->state == DELIVERY_RELEASED) {
			s->ops->send_release(s->owner, d->pkt_id);
			continue;
		}
		d->dup = true; /* MQTT-3.3.1-1 */
		if (!s->ops->send(s->owner, d, now_ms))
			session_complete(s, d, now_ms, false);
	}
	session_pump(s, now_ms);
	queue_session_online(s->b, s, now_ms);
}

static struct delivery *
session_find(struct session *s, uint16_t pkt_id, uint8_t qos, uint8_t state)
{
	struct delivery *d;

	/* Acks mostly come in order: the match is usually the head. */
	LIST_FOREACH(it, &s->inflight)
	{
		d = CONTAINER_OF(it, struct delivery, link);
		if (d->pkt_id == pkt_id)
			return d->qos == qos && d->state == state ? d : NULL;
	}
	return NULL;
}

static void
session_done(struct session *s, struct delivery *d, uint64_t now_ms)
{
	session_complete(s, d, now_ms, true);
	session_pump(s, now_ms);
}

void
session_unlink(struct session *s, struct delivery *d)
{
	if (d->state == DELIVERY_QUEUED) {
		s->queued_count--;
		session_queued_sub(s, d);
	} else {
		s->inflight_count--;
	}
	list_del(&d->link);
}

struct delivery *
session_take(struct session *s, uint16_t pkt_id, uint64_t now_ms)
{
	struct delivery *d = NULL;

	LIST_FOREACH(it, &s->inflight)
	{
		struct delivery *e = CONTAINER_OF(it, struct delivery, link);

		if (e->pkt_id == pkt_id) {
			d = e->state == DELIVERY_SENT ? e : NULL;
			break;
		}
	}
	if (d == NULL)
		return NULL;
	session_unlink(s, d);
	session_pump(s, now_ms);
	return d;
}

bool
session_on_puback(struct session *s, uint16_t pkt_id, uint64_t now_ms)
{
	struct delivery *d = session_find(s, pkt_id, 1, DELIVERY_SENT);

	if (d == NULL)
		return false;
	session_done(s, d, now_ms);
	return true;
}

bool
session_on_pubrec(struct session *s, uint16_t pkt_id, uint64_t now_ms)
{
	struct delivery *d = session_find(s, pkt_id, 2, DELIVERY_SENT);

	(void)now_ms;
	if (d == NULL) {
		/* A repeated PUBREC after our PUBREL: answer again. */
		d = session_find(s, pkt_id, 2, DELIVERY_RELEASED);
		if (d == NULL)
			return false;
	}
	/* The message itself is no longer needed (MQTT 4.3.3). */
	if (d->state != DELIVERY_RELEASED) {
		d->state = DELIVERY_RELEASED;
		session_delivery_store(s, d); /* before the PUBREL leaves */
	}
	s->ops->send_release(s->owner, pkt_id);
	return true;
}

bool
session_on_pubcomp(struct session *s, uint16_t pkt_id, uint64_t now_ms)
{
	struct delivery *d = session_find(s, pkt_id, 2, DELIVERY_RELEASED);

	if (d == NULL)
		return false;
	session_done(s, d, now_ms);
	return true;
}

bool
session_inq2_has(const struct session *s, uint16_t pkt_id)
{
	return s->inq2 && (s->inq2[pkt_id >> 3] & (1u << (pkt_id & 7)));
}

void
session_inq2_add(struct session *s, uint16_t pkt_id)
{
	if (s->inq2 == NULL)
		s->inq2 = xcalloc(1, SESSION_INQ2_BYTES);
	if (session_inq2_has(s, pkt_id))
		return;
	s->inq2[pkt_id >> 3] |= (uint8_t)(1u << (pkt_id & 7));
	s->inq2_count++;
	if (s->stored)
		store_inq2_put(s->b->store, s, pkt_id);
}

bool
session_inq2_del(struct session *s, uint16_t pkt_id)
{
	if (!session_inq2_has(s, pkt_id))
		return false;
	s->inq2[pkt_id >> 3] &= (uint8_t) ~(1u << (pkt_id & 7));
	if (s->stored)
		store_inq2_del(s->b->store, s, pkt_id);
	if (--s->inq2_count == 0) {
		free(s->inq2);
		s->inq2 = NULL;
	}
	return true;
}

void
session_set_will(struct session *s, struct msg *will, uint32_t delay_s)
{
	struct msg *old = session_take_will(s);

	if (old)
		msg_unref(old);
	if (will == NULL)
		return;
	s->will = xmalloc(sizeof(*s->will));
	s->will->m = will;
	s->will->at_ms = 0;
	s->will->delay_s = delay_s;
}

struct msg *
session_take_will(struct session *s)
{
	struct msg *m;

	if (s->will == NULL)
		return NULL;
	m = s->will->m;
	free(s->will);
	s->will = NULL;
	return m;
}

void
session_restore(struct session *s, struct delivery *d)
{
	if (d->state == DELIVERY_QUEUED) {
		list_add_tail(&s->queue, &d->link);
		s->queued_count++;
		session_queued_add(s, d);
		return;
	}
	d->dup = d->state == DELIVERY_SENT;
	list_add_tail(&s->inflight, &d->link);
	s->inflight_count++;
	/* New ids continue after the restored ones. */
	if (d->pkt_id >= s->next_pkt_id)
		s->next_pkt_id =
		    d->pkt_id == 65535 ? 1 : (uint16_t)(d->pkt_id + 1);
}

static void
session_store_list(struct session *s, struct list *l)
{
	LIST_FOREACH(it, l)
	session_delivery_store(s, CONTAINER_OF(it, struct delivery, link));
}

void
session_store_all(struct session *s)
{
	struct store *st = s->b->store;

	store_session_put(st, s);
	LIST_FOREACH(it, &s->subs)
	store_sub_put(st, s, CONTAINER_OF(it, struct session_sub, link));
	session_store_list(s, &s->inflight);
	session_store_list(s, &s->queue);
	for (uint32_t id = 0; s->inq2 && id < 65536; id++) {
		if (session_inq2_has(s, (uint16_t)id))
			store_inq2_put(st, s, (uint16_t)id);
	}
}
