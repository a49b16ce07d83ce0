/*
 * broker.c - the broker context: session table, routing, retained
 * messages, wills and session expiry. See broker.h.
 */
#include "core/broker.h"
#include "core/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BROKER_TABLE_MIN 64

struct broker *
broker_new(const struct config *conf, struct store *store)
{
	struct broker *b = xcalloc(1, sizeof(*b));

	b->conf = conf;
	b->store = store;
	b->subs = topic_tree_new();
	b->retained = retain_new();
	b->queues = queue_set_new();
	b->table_size = BROKER_TABLE_MIN;
	b->table = xcalloc(b->table_size, sizeof(*b->table));
	list_init(&b->sessions);
	list_init(&b->mem_waiters);
	return b;
}

void
broker_free(struct broker *b)
{
	/* Shutting down is not deleting: the durable state stays as it is. */
	b->store->durable = false;
	LIST_FOREACH_SAFE(it, tmp, &b->sessions)
	{
		struct session *s = CONTAINER_OF(it, struct session, all_link);

		ASSERT(!session_is_online(s));
		broker_session_destroy(b, s, 0);
	}
	queue_set_free(b->queues);
	topic_tree_free(b->subs);
	retain_free(b->retained);
	store_free(b->store);
	free(b->table);
	free(b->matched);
	free(b->picks);
	free(b);
}

/* ---- session table ---- */

static struct session **
broker_slot(struct broker *b, const char *id, size_t len)
{
	return &b->table[util_hash(id, len) & (b->table_size - 1)];
}

struct session *
broker_session_find(struct broker *b, const char *id, size_t len)
{
	struct session *s = *broker_slot(b, id, len);

	for (; s; s = s->hash_next) {
		if (s->client_id_len == len &&
		    memcmp(s->client_id, id, len) == 0)
			return s;
	}
	return NULL;
}

static void
broker_table_grow(struct broker *b)
{
	struct session **old = b->table;
	size_t n = b->table_size;

	b->table_size *= 2;
	b->table = xcalloc(b->table_size, sizeof(*b->table));
	for (size_t i = 0; i < n; i++) {
		struct session *s = old[i], *next;

		for (; s; s = next) {
			struct session **slot =
			    broker_slot(b, s->client_id, s->client_id_len);

			next = s->hash_next;
			s->hash_next = *slot;
			*slot = s;
		}
	}
	free(old);
}

static void
broker_table_add(struct broker *b, struct session *s)
{
	struct session **slot;

	if (b->nsessions >= b->table_size)
		broker_table_grow(b);
	slot = broker_slot(b, s->client_id, s->client_id_len);
	s->hash_next = *slot;
	*slot = s;
	b->nsessions++;
	list_add_tail(&b->sessions, &s->all_link);
}

static void
broker_table_del(struct broker *b, struct session *s)
{
	struct session **pp = broker_slot(b, s->client_id, s->client_id_len);

	list_del(&s->all_link);
	if (s->unlisted)
		return;
	while (*pp != s)
		pp = &(*pp)->hash_next;
	*pp = s->hash_next;
	b->nsessions--;
}

struct session *
broker_session_private(struct broker *b, const char *id, size_t len)
{
	struct session *s = session_new(b, id, len);

	s->unlisted = true;
	s->expiry_s = 0;
	list_add_tail(&b->sessions, &s->all_link);
	return s;
}

size_t
broker_client_id(struct broker *b, char *buf, size_t cap)
{
	int n;

	do {
		n = snprintf(buf, cap, "junction-%llu",
		    (unsigned long long)++b->client_seq);
		ASSERT(n > 0 && (size_t)n < cap);
	} while (broker_session_find(b, buf, (size_t)n) != NULL);
	return (size_t)n;
}

/* ---- back-pressure ---- */

void
broker_wait_on(struct session *pub, struct list *waiters, void *target)
{
	struct session_wait *w;

	if (session_waiting_on(pub))
		return; /* one wait at a time; re-checked on the next publish */
	w = session_wait_get(pub);
	w->on = target;
	list_add_tail(waiters, &w->link);
}

static void
broker_stop_waiting(struct session *s)
{
	if (session_waiting_on(s) == NULL)
		return;
	list_del(&s->wait->link);
	s->wait->on = NULL;
}

void
broker_wake_waiters(struct broker *b UNUSED, struct session *s)
{
	if (s->wait)
		broker_wake_list(&s->wait->waiters);
}

void
broker_wake_list(struct list *waiters)
{
	LIST_FOREACH_SAFE(it, tmp, waiters)
	{
		struct session *w =
		    CONTAINER_OF(it, struct session_wait, link)->s;

		broker_stop_waiting(w);
		if (session_is_online(w))
			w->ops->resume(w->owner);
	}
}

static void broker_release(
    struct broker *b, struct session *s, uint64_t now_ms);

/* ---- memory_limit ---- */

bool
broker_mem_is_high(const struct broker *b)
{
	uint64_t limit = b->conf->memory_limit;

	return limit && b->held_bytes >= limit;
}

void
broker_held_add(struct broker *b, size_t n)
{
	b->held_bytes += n;
}

void
broker_held_sub(struct broker *b, size_t n)
{
	uint64_t limit = b->conf->memory_limit;

	ASSERT(b->held_bytes >= n);
	b->held_bytes -= n;
	if (!list_is_empty(&b->mem_waiters) &&
	    b->held_bytes <= limit - limit / 8)
		broker_wake_list(&b->mem_waiters);
}

/* ---- wills and session lifetime ---- */

static void
broker_publish_will(struct broker *b, struct session *s, uint64_t now_ms)
{
	struct msg *will = session_take_will(s);

	if (will == NULL)
		return;
	b->stats.wills_published++;
	(void)broker_publish(b, NULL, will, now_ms);
	msg_unref(will);
}

/* The connection ended without an orderly DISCONNECT. */
static void
broker_will_trigger(struct broker *b, struct session *s, uint64_t now_ms)
{
	if (s->will == NULL)
		return;
	if (s->will->delay_s == 0)
		broker_publish_will(b, s, now_ms);
	else
		s->will->at_ms = now_ms + (uint64_t)s->will->delay_s * 1000;
}

/* Remove one subscription from the tree and the session. */
static void
broker_sub_free(struct broker *b, struct session *s, struct session_sub *sub)
{
	(void)topic_tree_unsubscribe(b->subs, sub->filter, strlen(sub->filter),
	    sub->group, sub->group ? strlen(sub->group) : 0, s);
	if (s->stored)
		store_sub_del(b->store, s, sub);
	list_del(&sub->link);
	s->nsubs--;
	share_ref_drop(sub->opts.share);
	free(sub->filter);
	free(sub->group);
	free(sub);
}

static void
broker_unsubscribe_all(struct broker *b, struct session *s)
{
	LIST_FOREACH_SAFE(it, tmp, &s->subs)
	broker_sub_free(b, s, CONTAINER_OF(it, struct session_sub, link));
}

void
broker_session_destroy(struct broker *b, struct session *s, uint64_t now_ms)
{
	ASSERT(!session_is_online(s));
	/* A will still waiting for its delay goes when the session ends. */
	if (session_will_at(s))
		broker_publish_will(b, s, now_ms);
	broker_release(b, s, now_ms);
	queue_session_end(b, s);
	broker_unsubscribe_all(b, s);
	broker_stop_waiting(s);
	broker_wake_waiters(b, s);
	broker_table_del(b, s);
	if (s->stored)
		store_session_del(b->store, s);
	session_free(s); /* deletes the records of its deliveries */
}

struct session *
broker_session_open(struct broker *b, const char *id, size_t len, bool clean,
    bool *present, uint64_t now_ms)
{
	struct session *s = broker_session_find(b, id, len);

	*present = false;
	if (s && session_is_online(s)) {
		/* MQTT-3.1.4-2: take over; the old connection's will fires. */
		s->ops->kick(s->owner, SESSION_KICK_TAKEN_OVER);
		ASSERT(!session_is_online(s));
		broker_stop_waiting(s);
		broker_will_trigger(b, s, now_ms);
	}
	if (s && clean) {
		broker_session_destroy(b, s, now_ms);
		s = NULL;
	}
	if (s) {
		/* Resumed in time: a delayed will is not sent (MQTT 5 3.1.3.2.2). */
		session_set_will(s, NULL, 0);
		*present = true;
		return s;
	}
	s = session_new(b, id, len);
	broker_table_add(b, s);
	return s;
}

void
broker_session_close(
    struct broker *b, struct session *s, bool graceful, uint64_t now_ms)
{
	session_detach(s);
	broker_stop_waiting(s);
	broker_release(b, s, now_ms);
	/* Offline sessions drop instead of back-pressuring publishers. */
	broker_wake_waiters(b, s);
	if (graceful)
		session_set_will(s, NULL, 0); /* MQTT-3.14.4-3 */
	else
		broker_will_trigger(b, s, now_ms);
	if (s->expiry_s == 0) {
		broker_session_destroy(b, s, now_ms);
		return;
	}
	s->expire_at_ms = s->expiry_s == SESSION_EXPIRY_NEVER
	    ? 0
	    : now_ms + (uint64_t)s->expiry_s * 1000;
	if (s->stored)
		store_session_put(b->store, s); /* the instant it expires */
}

void
broker_session_set_expiry(
    struct broker *b, struct session *s, uint32_t expiry_s)
{
	s->expiry_s = expiry_s;
	if (!b->store->durable || expiry_s == 0)
		return; /* a stored session going to 0 is deleted at close */
	if (s->stored) {
		store_session_put(b->store, s);
		return;
	}
	s->stored = true;
	session_store_all(s);
}

struct session *
broker_session_restore(struct broker *b, const char *id, size_t len,
    uint32_t expiry_s, uint64_t expire_at_ms)
{
	struct session *s = session_new(b, id, len);

	s->expiry_s = expiry_s;
	s->expire_at_ms = expire_at_ms;
	s->stored = true;
	broker_table_add(b, s);
	return s;
}

void
broker_tick(struct broker *b, uint64_t now_ms)
{
	queue_tick(b, now_ms);
	LIST_FOREACH_SAFE(it, tmp, &b->sessions)
	{
		struct session *s = CONTAINER_OF(it, struct session, all_link);
		uint64_t will_at = session_will_at(s);

		if (will_at && now_ms >= will_at)
			broker_publish_will(b, s, now_ms);
		if (!session_is_online(s) && s->expire_at_ms &&
		    now_ms >= s->expire_at_ms) {
			b->stats.sessions_expired++;
			broker_session_destroy(b, s, now_ms);
		}
	}
}

/* ---- routing ---- */

struct broker_pick {
	struct session *s;
	const struct sub_opts *opts; /* in the tree; stable during routing */
};

struct broker_route {
	struct broker *b;
	struct session *origin;
};

/*
 * One session matched by the message being routed: the highest QoS and
 * the retain-as-published of its matching subscriptions, and their
 * identifiers in match order. Entries are reused from one message to the
 * next.
 */
struct broker_match {
	struct session *s;
	uint8_t qos;
	bool rap;
	uint8_t nids;
	uint32_t ids[SESSION_MAX_SUB_IDS];
};

/*
 * s's entry if s was already matched by this message: its match_slot is
 * stale otherwise, and then points past the entries in use or at another
 * session's.
 */
static struct broker_match *
broker_match_find(struct broker *b, struct session *s)
{
	size_t i = s->match_slot;

	return i < b->nmatched && b->matched[i].s == s ? &b->matched[i] : NULL;
}

static struct broker_match *
broker_match_new(struct broker *b, struct session *s)
{
	struct broker_match *e;

	if (b->nmatched == b->matched_cap) {
		ASSERT(b->matched_cap < UINT32_MAX / 2);
		b->matched_cap = b->matched_cap ? b->matched_cap * 2 : 64;
		b->matched =
		    xrealloc(b->matched, b->matched_cap * sizeof(*b->matched));
	}
	s->match_slot = (uint32_t)b->nmatched;
	e = &b->matched[b->nmatched++];
	e->s = s;
	e->qos = 0;
	e->rap = false;
	e->nids = 0;
	return e;
}

static void
broker_match_add(
    struct broker *b, struct session *s, const struct sub_opts *opts)
{
	struct broker_match *e = broker_match_find(b, s);

	if (e == NULL)
		e = broker_match_new(b, s);
	e->qos = MAX(e->qos, opts->qos);
	e->rap = e->rap || opts->retain_as_published;
	if (opts->sub_id && e->nids < SESSION_MAX_SUB_IDS)
		e->ids[e->nids++] = opts->sub_id;
}

static void
broker_match_sub(void *arg, void *subscriber, const struct sub_opts *opts)
{
	struct broker_route *r = arg;
	struct session *s = subscriber;

	if (opts->no_local && s == r->origin)
		return; /* MQTT 5 3.8.3.1 No Local */
	broker_match_add(r->b, s, opts);
}

static bool
broker_member_ok(
    void *arg UNUSED, void *subscriber, const struct sub_opts *opts UNUSED)
{
	struct session *s = subscriber;

	return session_is_online(s) && s->inflight_count < s->window &&
	    !session_is_full(s);
}

/*
 * A share group gets its own copy, apart from the plain-subscription
 * dedup: a client with both kinds may receive two (MQTT 5 4.8.2).
 */
static void
broker_match_group(void *arg, struct topic_group *g)
{
	struct broker_route *r = arg;
	struct broker *b = r->b;
	const struct sub_opts *opts;
	struct session *s = topic_group_pick(g, broker_member_ok, r, &opts);

	if (s == NULL)
		return;
	if (b->npicks == b->picks_cap) {
		b->picks_cap = b->picks_cap ? b->picks_cap * 2 : 16;
		b->picks = xrealloc(b->picks, b->picks_cap * sizeof(*b->picks));
	}
	b->picks[b->npicks].s = s;
	b->picks[b->npicks++].opts = opts;
}

/* Offer m to s through a subscription with opts; false if s is full. */
static bool
broker_offer(struct session *s, struct msg *m, const struct sub_opts *opts,
    uint16_t attempts, uint64_t now_ms)
{
	uint32_t id = opts->sub_id;
	struct session_offer o = {.m = m,
	    .qos = MIN(m->qos, opts->qos),
	    .retain = opts->retain_as_published && m->retain,
	    .sub_ids = &id,
	    .nsub_ids = id ? 1 : 0,
	    .share = opts->share,
	    .attempts = attempts};

	return session_deliver(s, &o, now_ms);
}

/* Deliver m to everything matched; returns a full online session or NULL. */
static struct session *
broker_fan_out(struct broker *b, struct msg *m, uint64_t now_ms)
{
	struct session *blocked = NULL;

	for (size_t i = 0; i < b->nmatched; i++) {
		struct broker_match *e = &b->matched[i];
		struct session *s = e->s;
		struct session_offer o = {.m = m,
		    .qos = MIN(m->qos, e->qos),
		    .retain = e->rap && m->retain,
		    .sub_ids = e->ids,
		    .nsub_ids = e->nids};

		if (!session_deliver(s, &o, now_ms) && session_is_online(s))
			blocked = s;
	}
	for (size_t i = 0; i < b->npicks; i++) {
		struct broker_pick *p = &b->picks[i];

		if (!broker_offer(p->s, m, p->opts, 0, now_ms) &&
		    session_is_online(p->s))
			blocked = p->s;
	}
	b->nmatched = 0;
	b->npicks = 0;
	return blocked;
}

/* ---- shared subscriptions: moving a delivery to another member ---- */

static bool
broker_other_ok(void *arg, void *subscriber, const struct sub_opts *opts)
{
	return subscriber != arg && broker_member_ok(NULL, subscriber, opts);
}

/*
 * Offer d's message to another member of its share group (preferring one
 * with room). Returns false when there is no other member.
 */
static bool
broker_share_move(
    struct broker *b, struct session *s, struct delivery *d, uint64_t now_ms)
{
	struct share_ref *r = d->share;
	struct topic_group *g = topic_tree_group_find(
	    b->subs, r->filter, strlen(r->filter), r->group, strlen(r->group));
	const struct sub_opts *opts;
	struct session *t;

	if (g == NULL)
		return false;
	t = topic_group_pick(g, broker_other_ok, s, &opts);
	if (t == NULL || t == s)
		return false;
	b->stats.shared_moved++;
	(void)broker_offer(t, d->m, opts, (uint16_t)(d->attempts + 1), now_ms);
	return true;
}

bool
broker_nack(
    struct broker *b, struct session *s, uint16_t pkt_id, uint64_t now_ms)
{
	struct delivery *d = session_take(s, pkt_id, now_ms);

	if (d == NULL)
		return false;
	/* Never to another member of a share group either (MQTT-4.8.2-6). */
	b->stats.negative_acks++;
	if (d->queue)
		queue_failed(b, s, d, "negative acknowledgement", now_ms);
	session_delivery_free(s, d);
	return true;
}

/*
 * Hand unacknowledged d of s, whose connection is gone, back to whoever
 * should take it: a queue delivery goes back to its queue as a failed
 * delivery; a shared one to another member of its group (MQTT 5 4.8.2),
 * when there is one. Released QoS 2 deliveries stay: the client already
 * has the message. d is freed when it left s.
 */
static void
broker_hand_back(
    struct broker *b, struct session *s, struct delivery *d, uint64_t now_ms)
{
	if (d->state == DELIVERY_RELEASED)
		return;
	if (d->queue) {
		session_unlink(s, d);
		queue_failed(b, s, d, "consumer disconnected", now_ms);
	} else if (d->share && broker_share_move(b, s, d, now_ms)) {
		session_unlink(s, d);
	} else {
		return;
	}
	session_delivery_free(s, d);
}

/* s lost its connection or ends: hand back what others should take. */
static void
broker_release(struct broker *b, struct session *s, uint64_t now_ms)
{
	struct list *lists[] = {&s->inflight, &s->queue};

	for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
		LIST_FOREACH_SAFE(it, tmp, lists[i])
		broker_hand_back(
		    b, s, CONTAINER_OF(it, struct delivery, link), now_ms);
	}
}

void
broker_session_drained(struct broker *b, struct session *s, uint64_t now_ms)
{
	queue_session_online(b, s, now_ms);
}

/* m becomes the retained message of its topic (or clears it). */
static void
broker_retain(struct broker *b, struct msg *m)
{
	struct msg *old = retain_get(b->retained, m->topic, m->topic_len);

	if (old)
		msg_ref(old); /* retain_set drops the store's reference */
	(void)retain_set(b->retained, m);
	if (m->payload_len > 0)
		store_retain_put(b->store, m, old);
	else if (old)
		store_retain_del(b->store, old);
	if (old)
		msg_unref(old);
}

/* Remove the retained message m (expired). */
static void
broker_retain_clear(struct broker *b, struct msg *m)
{
	if (retain_get(b->retained, m->topic, m->topic_len) != m)
		return;
	store_retain_del(b->store, m);
	(void)retain_clear(b->retained, m->topic, m->topic_len);
}

bool
broker_publish(
    struct broker *b, struct session *origin, struct msg *m, uint64_t now_ms)
{
	struct broker_route r = {b, origin};
	struct session *blocked;

	b->stats.msgs_received++;
	if (m->retain && b->conf->retain_available)
		broker_retain(b, m);
	if (msg_is_expired(m, now_ms)) {
		b->stats.dropped_expired++;
		return true;
	}
	topic_tree_match(b->subs, m->topic, m->topic_len, broker_match_sub,
	    broker_match_group, &r);
	blocked = broker_fan_out(b, m, now_ms);
	if (origin && broker_mem_is_high(b)) {
		broker_wait_on(origin, &b->mem_waiters, b);
		return false;
	}
	if (blocked == NULL || origin == NULL || blocked == origin)
		return true;
	broker_wait_on(origin, &session_wait_get(blocked)->waiters, blocked);
	return false;
}

/* ---- subscriptions ---- */

static bool
broker_str_eq(const char *a, const char *b, size_t blen)
{
	if (a == NULL || b == NULL)
		return a == NULL && b == NULL;
	return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

static struct session_sub *
broker_sub_find(struct session *s, const char *filter, size_t flen,
    const char *group, size_t glen)
{
	LIST_FOREACH(it, &s->subs)
	{
		struct session_sub *sub =
		    CONTAINER_OF(it, struct session_sub, link);

		if (broker_str_eq(sub->filter, filter, flen) &&
		    broker_str_eq(sub->group, group, glen))
			return sub;
	}
	return NULL;
}

uint8_t
broker_subscribe(struct broker *b, struct session *s, const char *filter,
    size_t flen, const char *group, size_t glen, const struct sub_opts *opts,
    bool *existed)
{
	struct session_sub *sub = broker_sub_find(s, filter, flen, group, glen);
	struct sub_opts o = *opts;
	bool existed_sub = sub != NULL;
	const char *qname;
	size_t qlen;

	if (sub == NULL) {
		sub = xcalloc(1, sizeof(*sub));
		sub->filter = xstrndup(filter, flen);
		sub->group = group ? xstrndup(group, glen) : NULL;
		if (group)
			sub->opts.share =
			    share_ref_new(filter, flen, group, glen);
		list_add_tail(&s->subs, &sub->link);
		s->nsubs++;
	}
	o.share = sub->opts.share;
	sub->opts = o;
	if (group == NULL && queue_mqtt_name(filter, flen, &qname, &qlen)) {
		/* "$queue/NAME": a consumer, kept (and stored) as a session
		 * subscription so it survives reconnects and restarts */
		*existed = existed_sub;
		(void)queue_consumer_add(b, s, qname, qlen, &o, 0);
	} else {
		*existed = topic_tree_subscribe(
		    b->subs, filter, flen, group, glen, s, &o);
	}
	if (s->stored)
		store_sub_put(b->store, s, sub);
	return opts->qos;
}

bool
broker_sub_allowed(const struct broker *b, struct session *s,
    const char *filter, size_t flen, const char *group, size_t glen)
{
	uint32_t max = b->conf->max_subscriptions;

	return max == 0 || s->nsubs < max ||
	    broker_sub_find(s, filter, flen, group, glen) != NULL;
}

bool
broker_unsubscribe(struct broker *b, struct session *s, const char *filter,
    size_t flen, const char *group, size_t glen)
{
	struct session_sub *sub = broker_sub_find(s, filter, flen, group, glen);
	const char *qname;
	size_t qlen;

	if (sub == NULL)
		return false;
	if (group == NULL && queue_mqtt_name(filter, flen, &qname, &qlen))
		(void)broker_queue_unsubscribe(b, s, qname, qlen);
	broker_sub_free(b, s, sub);
	return true;
}

struct broker_retained {
	struct msg **v;
	size_t n, cap;
};

static void
broker_collect_retained(void *arg, struct msg *m)
{
	struct broker_retained *r = arg;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n++] = msg_ref(m);
}

void
broker_send_retained(struct broker *b, struct session *s, const char *filter,
    size_t flen, const struct sub_opts *opts, bool existed, uint64_t now_ms)
{
	struct broker_retained r = {NULL, 0, 0};
	uint32_t id = opts->sub_id;

	if (opts->retain_handling == 2 ||
	    (opts->retain_handling == 1 && existed))
		return;
	retain_match(b->retained, filter, flen, broker_collect_retained, &r);
	for (size_t i = 0; i < r.n; i++) {
		struct msg *m = r.v[i];

		if (msg_is_expired(m, now_ms))
			broker_retain_clear(b, m);
		else
			(void)session_deliver(s,
			    &(struct session_offer){.m = m,
			        .qos = MIN(m->qos, opts->qos),
			        .retain = true,
			        .sub_ids = &id,
			        .nsub_ids = id ? 1 : 0},
			    now_ms);
		msg_unref(m);
	}
	free(r.v);
}
