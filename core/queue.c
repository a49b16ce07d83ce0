/*
 * queue.c - named queues with competing consumers and dead-lettering;
 * see queue.h for the model.
 *
 * A queue is a FIFO of entries (message, failed-delivery count, earliest
 * redelivery time) plus a list of consumers rotated round robin. Nothing
 * is pushed into a consumer's session beyond what its window and
 * prefetch allow, so waiting messages stay here where any consumer can
 * take them.
 */
#include "core/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/session.h"

#define QUEUE_TABLE_SIZE 256 /* buckets; chains grow, it is not resized */

struct queue_entry {
	struct list link;
	struct msg *m;
	uint64_t id; /* its record in a durable store (store.h), else 0 */
	uint16_t attempts;
	uint64_t not_before_ms;
};

struct queue_consumer {
	struct list link; /* in queue.consumers, rotated */
	struct list sess_link; /* in session.consumers */
	struct queue *q;
	struct session *s;
	struct sub_opts opts;
	uint32_t prefetch; /* 0 = the session window */
	uint32_t unacked;
};

struct queue {
	struct broker *b;
	struct queue *hash_next;
	struct list all_link;
	int refs; /* the set's, plus one per delivery in flight */
	bool is_dlq;
	size_t name_len;
	char *name;
	struct list entries;
	size_t count, bytes;
	size_t delayed; /* entries with a not_before_ms */
	/* limits: the defaults, or this queue's "queue NAME" line */
	uint32_t max_messages; /* 0 = unlimited */
	uint64_t max_bytes; /* 0 = unlimited */
	uint32_t overflow; /* enum config_overflow */
	uint32_t max_redeliveries;
	struct list consumers;
	struct list waiters; /* publishers blocked on this queue */
};

struct queue_set {
	struct queue *table[QUEUE_TABLE_SIZE];
	struct list all;
};

/* ---- the set ---- */

struct queue_set *
queue_set_new(void)
{
	struct queue_set *qs = xcalloc(1, sizeof(*qs));

	list_init(&qs->all);
	return qs;
}

/* Unlink e from q, keeping the counts right; the caller owns it. */
static void
queue_entry_take(struct queue *q, struct queue_entry *e)
{
	list_del(&e->link);
	q->count--;
	q->bytes -= msg_size(e->m);
	broker_held_sub(q->b, msg_size(e->m));
	if (e->not_before_ms)
		q->delayed--;
}

static void
queue_entry_free(struct queue *q, struct queue_entry *e)
{
	queue_entry_take(q, e);
	msg_unref(e->m);
	free(e);
}

static void
queue_free(struct queue *q)
{
	ASSERT(list_is_empty(&q->consumers));
	LIST_FOREACH_SAFE(it, tmp, &q->entries)
	queue_entry_free(q, CONTAINER_OF(it, struct queue_entry, link));
	list_del(&q->all_link);
	free(q->name);
	free(q);
}

struct queue *
queue_ref(struct queue *q)
{
	q->refs++;
	return q;
}

void
queue_unref(struct queue *q)
{
	ASSERT(q->refs > 0);
	if (--q->refs == 0)
		queue_free(q);
}

void
queue_set_free(struct queue_set *qs)
{
	LIST_FOREACH_SAFE(it, tmp, &qs->all)
	queue_unref(CONTAINER_OF(it, struct queue, all_link));
	free(qs);
}

static struct queue **
queue_slot(struct queue_set *qs, const char *name, size_t len)
{
	return &qs->table[util_hash(name, len) % QUEUE_TABLE_SIZE];
}

static struct queue *
queue_find(struct broker *b, const char *name, size_t len)
{
	struct queue *q = *queue_slot(b->queues, name, len);

	while (q && (q->name_len != len || memcmp(q->name, name, len) != 0))
		q = q->hash_next;
	return q;
}

static bool
queue_name_is_dlq(const char *name, size_t len)
{
	size_t sl = strlen(QUEUE_DLQ_SUFFIX);

	return len > sl && memcmp(name + len - sl, QUEUE_DLQ_SUFFIX, sl) == 0;
}

/* The limits of a new queue: the defaults, overridden by its queue line. */
static void
queue_limits(struct queue *q, const struct config *c)
{
	const struct config_queue *cq =
	    config_queue_find(c, q->name, q->name_len);
	unsigned set = cq ? cq->set : 0;

	q->max_messages = (set & CONFIG_Q_MAX_MESSAGES)
	    ? cq->max_messages
	    : c->max_queued_messages;
	q->max_bytes =
	    (set & CONFIG_Q_MAX_BYTES) ? cq->max_bytes : c->max_queued_bytes;
	q->overflow =
	    (set & CONFIG_Q_OVERFLOW) ? cq->overflow : c->queue_overflow;
	q->max_redeliveries = (set & CONFIG_Q_MAX_REDELIVERIES)
	    ? cq->max_redeliveries
	    : c->max_redeliveries;
}

static struct queue *
queue_get(struct broker *b, const char *name, size_t len)
{
	struct queue *q = queue_find(b, name, len), **slot;

	if (q)
		return q;
	q = xcalloc(1, sizeof(*q));
	q->refs = 1; /* the set's */
	q->b = b;
	q->name = xstrndup(name, len);
	q->name_len = len;
	q->is_dlq = queue_name_is_dlq(name, len);
	queue_limits(q, b->conf);
	list_init(&q->entries);
	list_init(&q->consumers);
	list_init(&q->waiters);
	slot = queue_slot(b->queues, name, len);
	q->hash_next = *slot;
	*slot = q;
	list_add_tail(&b->queues->all, &q->all_link);
	return q;
}

/* Unlink an idle queue from the set (its memory goes with its last ref). */
static void
queue_forget(struct broker *b, struct queue *q)
{
	struct queue **pp = queue_slot(b->queues, q->name, q->name_len);

	while (*pp != q)
		pp = &(*pp)->hash_next;
	*pp = q->hash_next;
	list_del(&q->all_link);
	list_init(&q->all_link);
	queue_unref(q);
}

bool
queue_mqtt_name(const char *t, size_t len, const char **name, size_t *nlen)
{
	size_t pl = strlen(QUEUE_MQTT_PREFIX);

	if (len <= pl || memcmp(t, QUEUE_MQTT_PREFIX, pl) != 0)
		return false;
	*name = t + pl;
	*nlen = len - pl;
	return *nlen <= QUEUE_NAME_MAX && memchr(*name, '+', *nlen) == NULL &&
	    memchr(*name, '#', *nlen) == NULL;
}

size_t
queue_depth(struct broker *b, const char *name, size_t len)
{
	struct queue *q = queue_find(b, name, len);

	return q ? q->count : 0;
}

/* ---- limits and back-pressure ---- */

static bool
queue_is_full(const struct broker *b UNUSED, const struct queue *q)
{
	if (q->max_messages && q->count >= q->max_messages)
		return true;
	return q->max_bytes && q->bytes >= q->max_bytes;
}

static void
queue_push(struct queue *q, struct msg *m, uint16_t attempts,
    uint64_t not_before_ms, bool at_head, uint64_t id)
{
	struct queue_entry *e = xcalloc(1, sizeof(*e));

	e->m = msg_ref(m);
	e->id = id;
	e->attempts = attempts;
	e->not_before_ms = not_before_ms;
	if (at_head)
		list_add_head(&q->entries, &e->link);
	else
		list_add_tail(&q->entries, &e->link);
	q->count++;
	q->bytes += msg_size(m);
	broker_held_add(q->b, msg_size(m));
	if (not_before_ms)
		q->delayed++;
}

/* ---- dispatch ---- */

/*
 * At-least-once consumers are paced by their window and prefetch;
 * at-most-once ones by their output backlog (re-dispatched when it
 * drains), so a queue is never poured into one socket and dropped.
 */
static bool
queue_consumer_has_room(const struct queue_consumer *c)
{
	const struct session *s = c->s;

	if (!session_is_online(s))
		return false;
	if (c->opts.qos == 0)
		return s->ops->has_room(s->owner);
	if (s->queued_count > 0 || s->inflight_count >= s->window)
		return false;
	return c->prefetch == 0 || c->unacked < c->prefetch;
}

/* The next consumer with room, rotated to the back of the line. */
static struct queue_consumer *
queue_next_consumer(struct queue *q)
{
	LIST_FOREACH(it, &q->consumers)
	{
		struct queue_consumer *c =
		    CONTAINER_OF(it, struct queue_consumer, link);

		if (queue_consumer_has_room(c)) {
			list_del(&c->link);
			list_add_tail(&q->consumers, &c->link);
			return c;
		}
	}
	return NULL;
}

/* The first entry that may go now; expired ones are dropped (counted). */
static struct queue_entry *
queue_next_entry(struct broker *b, struct queue *q, uint64_t now_ms)
{
	LIST_FOREACH_SAFE(it, tmp, &q->entries)
	{
		struct queue_entry *e =
		    CONTAINER_OF(it, struct queue_entry, link);

		if (msg_is_expired(e->m, now_ms)) {
			b->stats.dropped_expired++;
			store_entry_del(b->store, e->id, e->m);
			queue_entry_free(q, e);
		} else if (e->not_before_ms <= now_ms) {
			return e;
		}
	}
	return NULL;
}

static void
queue_hand_over(struct broker *b, struct queue *q, struct queue_consumer *c,
    struct queue_entry *e, uint64_t now_ms)
{
	uint32_t id = c->opts.sub_id;
	struct session_offer o = {.m = e->m,
	    .qos = c->opts.qos,
	    .sub_ids = &id,
	    .nsub_ids = id ? 1 : 0,
	    .queue = c->opts.qos ? q : NULL,
	    .entry_id = e->id,
	    .attempts = e->attempts};

	/* At least once: the entry's record stays until the consumer settles
	 * it; at most once: the message leaves the queue now. */
	if (c->opts.qos)
		c->unacked++;
	else
		store_entry_del(b->store, e->id, e->m);
	b->stats.queue_delivered++;
	(void)session_deliver(c->s, &o, now_ms);
}

static void
queue_dispatch(struct broker *b, struct queue *q, uint64_t now_ms)
{
	bool was_full = queue_is_full(b, q);
	struct queue_consumer *c;
	struct queue_entry *e;

	queue_ref(q); /* a delivery may be settled while we loop */
	while ((e = queue_next_entry(b, q, now_ms)) != NULL &&
	    (c = queue_next_consumer(q)) != NULL) {
		queue_entry_take(q, e);
		queue_hand_over(b, q, c, e, now_ms);
		msg_unref(e->m);
		free(e);
	}
	if (was_full && !queue_is_full(b, q))
		broker_wake_list(&q->waiters);
	queue_unref(q);
}

/* ---- publishing and consuming ---- */

/* Make room in a full queue by dropping its oldest waiting entry. */
static void
queue_drop_oldest(struct broker *b, struct queue *q)
{
	struct queue_entry *oldest =
	    LIST_FIRST(&q->entries, struct queue_entry, link);

	if (oldest == NULL)
		return; /* everything is out with consumers */
	b->stats.queue_dropped++;
	store_entry_del(b->store, oldest->id, oldest->m);
	queue_entry_free(q, oldest);
}

/*
 * The queue is full and its policy is not to block: make room or refuse.
 * Returns QUEUE_ACCEPTED when m should still be enqueued.
 */
static enum queue_result
queue_overflow(struct broker *b, struct queue *q, uint64_t now_ms UNUSED)
{
	switch (q->overflow) {
	case CONFIG_OVERFLOW_REJECT:
		b->stats.queue_rejected++;
		return QUEUE_REJECTED;
	case CONFIG_OVERFLOW_DROP_NEWEST:
		b->stats.queue_dropped++;
		return QUEUE_DROPPED;
	case CONFIG_OVERFLOW_DROP_OLDEST:
		queue_drop_oldest(b, q);
		return QUEUE_ACCEPTED;
	default:
		return QUEUE_ACCEPTED; /* block: enqueue, pause the origin */
	}
}

/* Store, queue and offer m; the caller has applied the queue's limits. */
static void
queue_enqueue(struct broker *b, struct queue *q, struct msg *m, uint64_t now_ms)
{
	/* Every queue is durable on a durable store, whatever the QoS. */
	uint64_t id = store_next_id(b->store);

	queue_push(q, m, 0, 0, false, id);
	store_entry_put(b->store, q->name, q->name_len, id, m, 0, true);
	queue_dispatch(b, q, now_ms);
}

enum queue_result
broker_queue_publish(struct broker *b, struct session *origin, const char *name,
    size_t len, struct msg *m, uint64_t now_ms)
{
	struct queue *q = queue_get(b, name, len);
	bool full = queue_is_full(b, q);
	enum queue_result r;

	b->stats.msgs_received++;
	if (msg_is_expired(m, now_ms)) {
		b->stats.dropped_expired++;
		return QUEUE_ACCEPTED;
	}
	if (full && (r = queue_overflow(b, q, now_ms)) != QUEUE_ACCEPTED)
		return r;
	queue_enqueue(b, q, m, now_ms);
	if (origin && broker_mem_is_high(b)) {
		broker_wait_on(origin, &b->mem_waiters, b); /* memory_limit */
		return QUEUE_BLOCKED;
	}
	/* block: one message past the limit per publisher, then it waits */
	if (!full || q->overflow != CONFIG_OVERFLOW_BLOCK || origin == NULL ||
	    !queue_is_full(b, q))
		return QUEUE_ACCEPTED;
	broker_wait_on(origin, &q->waiters, q);
	return QUEUE_BLOCKED;
}

static struct queue_consumer *
queue_consumer_find(struct queue *q, const struct session *s)
{
	LIST_FOREACH(it, &q->consumers)
	{
		struct queue_consumer *c =
		    CONTAINER_OF(it, struct queue_consumer, link);

		if (c->s == s)
			return c;
	}
	return NULL;
}

struct queue *
queue_consumer_add(struct broker *b, struct session *s, const char *name,
    size_t len, const struct sub_opts *opts, uint32_t prefetch)
{
	struct queue *q = queue_get(b, name, len);
	struct queue_consumer *c = queue_consumer_find(q, s);

	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->q = queue_ref(q);
		c->s = s;
		list_add_tail(&q->consumers, &c->link);
		list_add_tail(&s->consumers, &c->sess_link);
	}
	c->opts = *opts;
	c->prefetch = prefetch;
	return q;
}

void
broker_queue_subscribe(struct broker *b, struct session *s, const char *name,
    size_t len, const struct sub_opts *opts, uint32_t prefetch, uint64_t now_ms)
{
	queue_dispatch(
	    b, queue_consumer_add(b, s, name, len, opts, prefetch), now_ms);
}

static void
queue_consumer_free(struct queue_consumer *c)
{
	list_del(&c->link);
	list_del(&c->sess_link);
	queue_unref(c->q);
	free(c);
}

bool
broker_queue_unsubscribe(
    struct broker *b, struct session *s, const char *name, size_t len)
{
	struct queue *q = queue_find(b, name, len);
	struct queue_consumer *c = q ? queue_consumer_find(q, s) : NULL;

	if (c == NULL)
		return false;
	queue_consumer_free(c);
	return true;
}

/* ---- settling, redelivery, dead letters ---- */

void
queue_settled(struct broker *b, struct queue *q, struct session *s,
    uint64_t now_ms, bool dispatch)
{
	struct queue_consumer *c = queue_consumer_find(q, s);

	if (c && c->unacked)
		c->unacked--;
	if (dispatch)
		queue_dispatch(b, q, now_ms);
}

/* Delay before redelivery attempt n (n >= 1), with back-off and cap. */
static uint64_t
queue_delay(const struct config *conf, uint16_t n)
{
	uint64_t d = conf->redelivery_delay;

	for (uint16_t i = 1; i < n && d < conf->redelivery_delay_max; i++)
		d *= conf->redelivery_backoff;
	return MIN(d, (uint64_t)conf->redelivery_delay_max);
}

/* Append one packed user pair (see msg.h) to buf at *off. */
static void
queue_pair(uint8_t *buf, size_t *off, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);

	util_put_u16(buf + *off, (uint16_t)kl);
	memcpy(buf + *off + 2, k, kl);
	util_put_u16(buf + *off + 2 + kl, (uint16_t)vl);
	memcpy(buf + *off + 4 + kl, v, vl);
	*off += 4 + kl + vl;
}

/* A copy of m carrying where it came from and why (x-dlq-*). */
static struct msg *
queue_dead_letter_msg(const struct queue *q, const struct msg *m,
    const char *why, uint16_t attempts)
{
	char count[8], *topic = xmalloc(q->name_len + 16);
	struct msg_init mi;
	size_t extra = q->name_len + strlen(why) + 64, off = m->user_len;
	uint8_t *user = xmalloc(m->user_len + extra);
	struct msg *d;

	snprintf(count, sizeof(count), "%u", attempts);
	msg_to_init(m, &mi);
	if (m->user_len)
		memcpy(user, m->user, m->user_len);
	queue_pair(user, &off, "x-dlq-queue", q->name);
	queue_pair(user, &off, "x-dlq-reason", why);
	queue_pair(user, &off, "x-delivery-count", count);
	mi.user = user;
	mi.user_len = off;
	mi.user_count = (uint16_t)(m->user_count + 3);
	mi.retain = false;
	/* Addressed to the dead-letter queue it now lives in. */
	snprintf(topic, q->name_len + 16, "%s%s%s", QUEUE_MQTT_PREFIX, q->name,
	    QUEUE_DLQ_SUFFIX);
	mi.topic = topic;
	mi.topic_len = strlen(topic);
	d = msg_new(&mi);
	free(topic);
	free(user);
	return d;
}

static void
queue_dead_letter(struct broker *b, struct queue *q, struct msg *m,
    const char *why, uint16_t attempts, uint64_t now_ms)
{
	char *name = xmalloc(q->name_len + sizeof(QUEUE_DLQ_SUFFIX));
	struct msg *d = queue_dead_letter_msg(q, m, why, attempts);
	struct queue *dlq;

	memcpy(name, q->name, q->name_len);
	memcpy(name + q->name_len, QUEUE_DLQ_SUFFIX, sizeof(QUEUE_DLQ_SUFFIX));
	dlq = queue_get(b, name, strlen(name));
	b->stats.dead_lettered++;
	/*
	 * A dead-letter queue has the same limits as any queue, but no
	 * publisher to pause or refuse: when full it drops its newest (this
	 * one) under drop_newest, else its oldest, counted either way.
	 */
	if (!queue_is_full(b, dlq))
		queue_enqueue(b, dlq, d, now_ms);
	else if (dlq->overflow == CONFIG_OVERFLOW_DROP_NEWEST)
		b->stats.queue_dropped++;
	else {
		queue_drop_oldest(b, dlq);
		queue_enqueue(b, dlq, d, now_ms);
	}
	msg_unref(d);
	free(name);
}

void
queue_failed(struct broker *b, struct session *s, struct delivery *d,
    const char *why, uint64_t now_ms)
{
	struct queue *q = queue_ref(d->queue);
	struct queue_consumer *c = queue_consumer_find(q, s);
	uint16_t n = (uint16_t)(d->attempts + 1);

	if (c && c->unacked)
		c->unacked--;
	if (!q->is_dlq && n >= q->max_redeliveries) {
		queue_dead_letter(b, q, d->m, why, n, now_ms);
	} else {
		uint64_t delay = queue_delay(b->conf, n);

		b->stats.redelivered++;
		queue_push(
		    q, d->m, n, delay ? now_ms + delay : 0, true, d->entry_id);
		/* The same entry again: its record stays, with the count. */
		store_entry_put(b->store, q->name, q->name_len, d->entry_id,
		    d->m, n, false);
		d->entry_id = 0;
	}
	queue_dispatch(b, q, now_ms);
	queue_unref(q);
}

void
queue_session_online(struct broker *b, struct session *s, uint64_t now_ms)
{
	LIST_FOREACH_SAFE(it, tmp, &s->consumers)
	{
		struct queue_consumer *c =
		    CONTAINER_OF(it, struct queue_consumer, sess_link);

		queue_dispatch(b, c->q, now_ms);
	}
}

void
queue_session_end(struct broker *b UNUSED, struct session *s)
{
	LIST_FOREACH_SAFE(it, tmp, &s->consumers)
	queue_consumer_free(CONTAINER_OF(it, struct queue_consumer, sess_link));
}

static bool
queue_is_idle(const struct queue *q)
{
	return q->refs == 1 && q->count == 0 && list_is_empty(&q->consumers) &&
	    list_is_empty(&q->waiters);
}

void
queue_tick(struct broker *b, uint64_t now_ms)
{
	LIST_FOREACH_SAFE(it, tmp, &b->queues->all)
	{
		struct queue *q = CONTAINER_OF(it, struct queue, all_link);

		if (q->delayed)
			queue_dispatch(b, q, now_ms);
		if (queue_is_idle(q))
			queue_forget(b, q);
	}
}

/* ---- storage: snapshots and recovery ---- */

const char *
queue_name(const struct queue *q, size_t *len)
{
	*len = q->name_len;
	return q->name;
}

void
queue_foreach_entry(struct broker *b, queue_entry_fn *fn, void *arg)
{
	LIST_FOREACH(qit, &b->queues->all)
	{
		struct queue *q = CONTAINER_OF(qit, struct queue, all_link);

		LIST_FOREACH(it, &q->entries)
		{
			struct queue_entry *e =
			    CONTAINER_OF(it, struct queue_entry, link);

			fn(arg, q, e->id, e->m, e->attempts);
		}
	}
}

void
queue_restore(struct broker *b, const char *name, size_t len, uint64_t id,
    struct msg *m, uint16_t attempts)
{
	queue_push(queue_get(b, name, len), m, attempts, 0, false, id);
}
