/*
 * test_session.c - the QoS state machines of core/session.c and the
 * routing, will and expiry logic of core/broker.c, on a fake clock with a
 * fake connection owner (no sockets, no protocol).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "core/broker.h"

#define MAX_SENT 256

struct sent {
	uint16_t pkt_id;
	uint8_t qos;
	bool dup, retain, release;
	uint8_t nsub_ids;
	uint32_t sub_ids[4];
	char payload[32];
	char topic[32];
};

/* A fake connection: records what the session asked it to send. */
struct owner {
	struct session *s;
	struct sent sent[MAX_SENT];
	int nsent;
	bool room;
	bool refuse; /* send() reports "too large" */
	int resumed;
	int kicked;
	enum session_kick kick_reason;
};

struct fixture {
	struct config conf;
	struct broker *b;
	struct owner o[4];
};

static bool
owner_send(void *p, const struct delivery *d, uint64_t now_ms)
{
	struct owner *o = p;
	struct sent *s = &o->sent[o->nsent++];

	(void)now_ms;
	assert_true(o->nsent <= MAX_SENT);
	memset(s, 0, sizeof(*s));
	s->pkt_id = d->pkt_id;
	s->qos = d->qos;
	s->dup = d->dup;
	s->retain = d->retain;
	s->nsub_ids = (uint8_t)MIN(d->nsub_ids, 4);
	memcpy(s->sub_ids, d->sub_ids, s->nsub_ids * sizeof(uint32_t));
	snprintf(s->payload, sizeof(s->payload), "%.*s", (int)d->m->payload_len,
	    (const char *)d->m->payload);
	snprintf(s->topic, sizeof(s->topic), "%s", d->m->topic);
	return !o->refuse;
}

static void
owner_release(void *p, uint16_t pkt_id)
{
	struct owner *o = p;
	struct sent *s = &o->sent[o->nsent++];

	memset(s, 0, sizeof(*s));
	s->pkt_id = pkt_id;
	s->release = true;
}

static bool
owner_has_room(void *p)
{
	return ((struct owner *)p)->room;
}

static void
owner_resume(void *p)
{
	((struct owner *)p)->resumed++;
}

static void
owner_kick(void *p, enum session_kick reason)
{
	struct owner *o = p;

	o->kicked++;
	o->kick_reason = reason;
	session_detach(o->s);
}

static const struct session_ops owner_ops = {
    .send = owner_send,
    .send_release = owner_release,
    .has_room = owner_has_room,
    .resume = owner_resume,
    .kick = owner_kick,
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	config_defaults(&f->conf);
	f->b = broker_new(&f->conf, store_mem_new());
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	LIST_FOREACH_SAFE(it, tmp, &f->b->sessions)
	{
		struct session *s = CONTAINER_OF(it, struct session, all_link);

		session_detach(s);
	}
	broker_free(f->b);
	free(f);
	return 0;
}

/* Open and attach a session for owner i; persistent unless expiry 0. */
static struct session *
connect(struct fixture *f, int i, const char *id, bool clean, uint32_t expiry,
    uint16_t window, uint64_t now)
{
	struct owner *o = &f->o[i];
	bool present;

	memset(o, 0, sizeof(*o));
	o->room = true;
	o->s = broker_session_open(f->b, id, strlen(id), clean, &present, now);
	o->s->expiry_s = expiry;
	session_attach(o->s, &owner_ops, o, window);
	session_resume(o->s, now);
	return o->s;
}

static struct msg *
mk(const char *topic, const char *payload, uint8_t qos, bool retain,
    uint64_t expiry_at)
{
	struct msg_init mi;

	memset(&mi, 0, sizeof(mi));
	mi.topic = topic;
	mi.topic_len = strlen(topic);
	mi.payload = payload;
	mi.payload_len = strlen(payload);
	mi.qos = qos;
	mi.retain = retain;
	mi.expiry_at_ms = expiry_at;
	return msg_new(&mi);
}

static void
publish(struct fixture *f, struct session *origin, const char *topic,
    const char *payload, uint8_t qos, bool retain, uint64_t now)
{
	struct msg *m = mk(topic, payload, qos, retain, 0);

	(void)broker_publish(f->b, origin, m, now);
	msg_unref(m);
}

static void
sub(struct fixture *f, struct session *s, const char *filter, uint8_t qos,
    uint32_t sub_id)
{
	struct sub_opts o = {.qos = qos, .sub_id = sub_id};
	bool existed;

	(void)broker_subscribe(
	    f->b, s, filter, strlen(filter), NULL, 0, &o, &existed);
}

static void
test_window_and_order(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 2, 0);
	char p[16];

	sub(f, s, "t", 1, 0);
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%d", i);
		publish(f, NULL, "t", p, 1, false, 0);
	}
	assert_int_equal(f->o[0].nsent, 2);
	assert_int_equal(s->queued_count, 3);
	assert_int_equal(f->o[0].sent[0].pkt_id, 1);
	assert_int_equal(f->o[0].sent[1].pkt_id, 2);
	assert_true(session_on_puback(s, 1, 0));
	assert_false(session_on_puback(s, 1, 0)); /* already done */
	assert_true(session_on_puback(s, 2, 0));
	assert_int_equal(f->o[0].nsent, 4);
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%d", i);
		assert_string_equal(f->o[0].sent[i].payload, p);
	}
}

static void
test_qos2_flow(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);
	struct owner *o = &f->o[0];

	sub(f, s, "t", 2, 0);
	publish(f, NULL, "t", "x", 2, false, 0);
	assert_int_equal(o->nsent, 1);
	assert_int_equal(o->sent[0].qos, 2);
	assert_false(session_on_pubcomp(s, 1, 0)); /* not released yet */
	assert_false(session_on_puback(s, 1, 0)); /* wrong ack for QoS 2 */
	assert_true(session_on_pubrec(s, 1, 0));
	assert_true(o->sent[1].release);
	assert_int_equal(o->sent[1].pkt_id, 1);
	assert_true(session_on_pubcomp(s, 1, 0));
	assert_int_equal(s->inflight_count, 0);
	assert_false(session_on_pubrec(s, 1, 0));
}

static void
test_min_qos(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);

	sub(f, s, "t", 1, 0);
	publish(f, NULL, "t", "x", 2, false, 0);
	publish(f, NULL, "t", "y", 0, false, 0);
	assert_int_equal(f->o[0].sent[0].qos, 1);
	assert_int_equal(f->o[0].sent[1].qos, 0);
	assert_int_equal(f->o[0].sent[1].pkt_id, 0);
}

static void
test_resume_resends_in_order(void **state)
{
	struct fixture *f = *state;
	struct session *s =
	    connect(f, 0, "p", false, SESSION_EXPIRY_NEVER, 10, 0);
	struct owner *o = &f->o[0];

	sub(f, s, "t", 2, 0);
	publish(f, NULL, "t", "a", 1, false, 0);
	publish(f, NULL, "t", "b", 2, false, 0);
	publish(f, NULL, "t", "c", 2, false, 0);
	assert_true(session_on_pubrec(s, 2, 0)); /* b released */
	broker_session_close(f->b, s, false, 0);
	publish(f, NULL, "t", "d", 1, false, 0); /* queued while offline */
	assert_int_equal(s->queued_count, 1);
	s = connect(f, 0, "p", false, SESSION_EXPIRY_NEVER, 10, 0);
	/* a (DUP), PUBREL b, c (DUP), then d fresh */
	assert_int_equal(o->nsent, 4);
	assert_string_equal(o->sent[0].payload, "a");
	assert_true(o->sent[0].dup);
	assert_int_equal(o->sent[0].pkt_id, 1);
	assert_true(o->sent[1].release);
	assert_int_equal(o->sent[1].pkt_id, 2);
	assert_string_equal(o->sent[2].payload, "c");
	assert_true(o->sent[2].dup);
	assert_string_equal(o->sent[3].payload, "d");
	assert_false(o->sent[3].dup);
	assert_int_equal(o->sent[3].pkt_id, 4);
}

static void
test_packet_id_wrap_skips_in_use(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);
	struct owner *o = &f->o[0];

	sub(f, s, "t", 1, 0);
	publish(f, NULL, "t", "1", 1, false, 0); /* id 1, left in flight */
	s->next_pkt_id = 65535;
	publish(f, NULL, "t", "2", 1, false, 0);
	publish(f, NULL, "t", "3", 1, false, 0);
	assert_int_equal(o->sent[1].pkt_id, 65535);
	assert_int_equal(o->sent[2].pkt_id, 2); /* never 0, 1 is in use */
}

static void
test_offline_queue_limit(void **state)
{
	struct fixture *f = *state;
	struct session *s =
	    connect(f, 0, "p", false, SESSION_EXPIRY_NEVER, 10, 0);
	char p[16];

	f->conf.max_queued_messages = 3;
	sub(f, s, "t", 1, 0);
	broker_session_close(f->b, s, true, 0);
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%d", i);
		publish(f, NULL, "t", p, 1, false, 0);
	}
	publish(f, NULL, "t", "q0", 0, false, 0);
	assert_int_equal(s->queued_count, 3);
	assert_int_equal(f->b->stats.dropped_queue_full, 2);
	assert_int_equal(f->b->stats.dropped_offline_qos0, 1);
	s = connect(f, 0, "p", false, SESSION_EXPIRY_NEVER, 10, 0);
	assert_int_equal(f->o[0].nsent, 3);
	assert_string_equal(f->o[0].sent[0].payload, "0");
	assert_string_equal(f->o[0].sent[2].payload, "2");
}

static void
test_backpressure(void **state)
{
	struct fixture *f = *state;
	struct session *slow = connect(f, 0, "slow", true, 0, 1, 0);
	struct session *pub = connect(f, 1, "pub", true, 0, 10, 0);
	struct msg *m;

	f->conf.max_queued_messages = 2;
	sub(f, slow, "t", 1, 0);
	m = mk("t", "x", 1, false, 0);
	assert_true(broker_publish(f->b, pub, m, 0)); /* in flight */
	assert_true(broker_publish(f->b, pub, m, 0)); /* queued 1 */
	assert_true(broker_publish(f->b, pub, m, 0)); /* queued 2 */
	assert_false(broker_publish(f->b, pub, m, 0)); /* over: pause */
	msg_unref(m);
	assert_int_equal(slow->queued_count, 3); /* kept, not dropped */
	assert_ptr_equal(session_waiting_on(pub), slow);
	assert_int_equal(f->o[1].resumed, 0);
	assert_true(session_on_puback(slow, 1, 0));
	assert_int_equal(f->o[1].resumed, 0); /* still at the limit */
	assert_true(session_on_puback(slow, 2, 0));
	assert_int_equal(f->o[1].resumed, 1);
	assert_null(session_waiting_on(pub));
	assert_int_equal(f->b->stats.dropped_queue_full, 0);
}

static void
test_qos0_slow_and_offline(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);

	sub(f, s, "t", 0, 0);
	f->o[0].room = false;
	publish(f, NULL, "t", "x", 0, false, 0);
	assert_int_equal(f->o[0].nsent, 0);
	assert_int_equal(f->b->stats.dropped_qos0_slow, 1);
	f->o[0].room = true;
	publish(f, NULL, "t", "y", 0, false, 0);
	assert_int_equal(f->o[0].nsent, 1);
}

static void
test_expired_not_delivered(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 1, 0);
	struct msg *m;

	sub(f, s, "t", 1, 0);
	publish(f, NULL, "t", "first", 1, false, 0);
	m = mk("t", "expires", 1, false, 1000);
	(void)broker_publish(f->b, NULL, m, 0); /* queued behind first */
	msg_unref(m);
	assert_true(session_on_puback(s, 1, 2000)); /* pump at t=2s */
	assert_int_equal(f->o[0].nsent, 1);
	assert_int_equal(f->b->stats.dropped_expired, 1);
	m = mk("t", "late", 1, false, 1000);
	(void)broker_publish(f->b, NULL, m, 1000); /* already expired */
	msg_unref(m);
	assert_int_equal(f->o[0].nsent, 1);
}

static void
test_inq2(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 1, 0);

	assert_false(session_inq2_has(s, 7));
	session_inq2_add(s, 7);
	session_inq2_add(s, 7);
	session_inq2_add(s, 65535);
	assert_true(session_inq2_has(s, 7));
	assert_int_equal(s->inq2_count, 2);
	assert_true(session_inq2_del(s, 7));
	assert_false(session_inq2_del(s, 7));
	assert_true(session_inq2_del(s, 65535));
	assert_null(s->inq2);
}

static void
test_overlap_one_copy(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);
	struct owner *o = &f->o[0];

	sub(f, s, "a/#", 0, 5);
	sub(f, s, "a/+", 2, 6);
	sub(f, s, "a/b", 1, 0);
	publish(f, NULL, "a/b", "x", 2, false, 0);
	assert_int_equal(o->nsent, 1);
	assert_int_equal(o->sent[0].qos, 2);
	assert_int_equal(o->sent[0].nsub_ids, 2);
	assert_int_equal(o->sent[0].sub_ids[0] + o->sent[0].sub_ids[1], 11);
}

/* Sum of the subscription ids on owner o's delivery i. */
static uint32_t
sent_ids_sum(const struct owner *o, int i)
{
	uint32_t sum = 0;

	for (int k = 0; k < o->sent[i].nsub_ids; k++)
		sum += o->sent[i].sub_ids[k];
	return sum;
}

/*
 * One copy per session per message, with every matching id, while the
 * set and order of matched sessions changes from message to message.
 */
static void
test_overlap_across_messages(void **state)
{
	static const char *topics[] = {"t/a", "t/b", "t/a", "t/c", "t/b"};
	static const uint32_t sums[][3] = {{1 + 2, 3, 5 + 6}, {1, 3 + 4, 5 + 6},
	    {1 + 2, 3, 5 + 6}, {1, 3, 5 + 6}, {1, 3 + 4, 5 + 6}};
	struct fixture *f = *state;
	struct session *a = connect(f, 0, "a", true, 0, 10, 0);
	struct session *b = connect(f, 1, "b", true, 0, 10, 0);
	struct session *c = connect(f, 2, "c", true, 0, 10, 0);

	sub(f, a, "t/#", 0, 1);
	sub(f, a, "t/a", 0, 2);
	sub(f, b, "t/b", 0, 4);
	sub(f, b, "t/#", 0, 3);
	sub(f, c, "t/+", 0, 5);
	sub(f, c, "t/#", 0, 6);
	for (int i = 0; i < (int)ARRAY_LEN(topics); i++) {
		publish(f, NULL, topics[i], "x", 0, false, 0);
		for (int k = 0; k < 3; k++) {
			assert_int_equal(f->o[k].nsent, i + 1);
			assert_int_equal(sent_ids_sum(&f->o[k], i), sums[i][k]);
		}
	}
}

static void
test_qos0_keeps_sub_ids(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);

	sub(f, s, "a/#", 0, 7);
	sub(f, s, "a/b", 0, 9);
	publish(f, NULL, "a/b", "x", 0, false, 0);
	assert_int_equal(f->o[0].nsent, 1);
	assert_int_equal(f->o[0].sent[0].nsub_ids, 2);
	assert_int_equal(
	    f->o[0].sent[0].sub_ids[0] + f->o[0].sent[0].sub_ids[1], 16);
}

static void
test_no_local(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);
	struct sub_opts o = {.qos = 0, .no_local = true};
	bool existed;

	(void)broker_subscribe(f->b, s, "t", 1, NULL, 0, &o, &existed);
	publish(f, s, "t", "mine", 0, false, 0);
	publish(f, NULL, "t", "other", 0, false, 0);
	assert_int_equal(f->o[0].nsent, 1);
	assert_string_equal(f->o[0].sent[0].payload, "other");
}

static void
test_retained_on_subscribe(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 10, 0);
	struct sub_opts o = {.qos = 1};
	bool existed;

	publish(f, NULL, "r/1", "kept", 2, true, 0);
	publish(f, NULL, "r/2", "gone", 1, true, 0);
	publish(f, NULL, "r/2", "", 1, true, 0); /* cleared */
	(void)broker_subscribe(f->b, s, "r/#", 3, NULL, 0, &o, &existed);
	broker_send_retained(f->b, s, "r/#", 3, &o, existed, 0);
	assert_int_equal(f->o[0].nsent, 1);
	assert_string_equal(f->o[0].sent[0].payload, "kept");
	assert_true(f->o[0].sent[0].retain);
	assert_int_equal(f->o[0].sent[0].qos, 1);
	publish(f, NULL, "r/1", "live", 1, true, 0);
	assert_false(f->o[0].sent[1].retain); /* MQTT-3.3.1-9 */
	o.retain_handling = 1;
	(void)broker_subscribe(f->b, s, "r/#", 3, NULL, 0, &o, &existed);
	assert_true(existed);
	broker_send_retained(f->b, s, "r/#", 3, &o, existed, 0);
	assert_int_equal(f->o[0].nsent, 2);
}

static void
test_will(void **state)
{
	struct fixture *f = *state;
	struct session *w = connect(f, 0, "watcher", true, 0, 10, 0);
	struct session *a = connect(f, 1, "a", true, 0, 10, 0);

	sub(f, w, "will/#", 1, 0);
	session_set_will(a, mk("will/a", "gone", 1, false, 0), 0);
	broker_session_close(f->b, a, true, 0); /* DISCONNECT: no will */
	assert_int_equal(f->o[0].nsent, 0);
	a = connect(f, 1, "a", true, 0, 10, 0);
	session_set_will(a, mk("will/a", "gone", 1, false, 0), 0);
	broker_session_close(f->b, a, false, 0);
	assert_int_equal(f->o[0].nsent, 1);
	assert_string_equal(f->o[0].sent[0].payload, "gone");
	assert_int_equal(f->b->stats.wills_published, 1);
}

static void
test_will_delay(void **state)
{
	struct fixture *f = *state;
	struct session *w = connect(f, 0, "watcher", true, 0, 10, 0);
	struct session *a = connect(f, 1, "a", false, 100, 10, 0);

	sub(f, w, "will/#", 1, 0);
	session_set_will(a, mk("will/a", "late", 1, false, 0), 5);
	broker_session_close(f->b, a, false, 0);
	broker_tick(f->b, 4999);
	assert_int_equal(f->o[0].nsent, 0);
	broker_tick(f->b, 5000);
	assert_int_equal(f->o[0].nsent, 1);
	/* Resumed within the delay: the will is cancelled. */
	a = connect(f, 1, "a", false, 100, 10, 6000);
	session_set_will(a, mk("will/a", "again", 1, false, 0), 5);
	broker_session_close(f->b, a, false, 6000);
	a = connect(f, 1, "a", false, 100, 10, 7000);
	broker_tick(f->b, 20000);
	assert_int_equal(f->o[0].nsent, 1);
}

static void
test_session_expiry(void **state)
{
	struct fixture *f = *state;
	struct session *a = connect(f, 0, "a", false, 10, 10, 0);

	broker_session_close(f->b, a, true, 1000);
	broker_tick(f->b, 10999);
	assert_non_null(broker_session_find(f->b, "a", 1));
	broker_tick(f->b, 11000);
	assert_null(broker_session_find(f->b, "a", 1));
	assert_int_equal(f->b->stats.sessions_expired, 1);
}

static void
test_clean_session_discarded(void **state)
{
	struct fixture *f = *state;
	struct session *a = connect(f, 0, "a", true, 0, 10, 0);

	sub(f, a, "t", 1, 0);
	broker_session_close(f->b, a, true, 0);
	assert_null(broker_session_find(f->b, "a", 1));
	assert_int_equal(topic_tree_count(f->b->subs), 0);
}

static void
test_takeover(void **state)
{
	struct fixture *f = *state;
	struct session *w = connect(f, 0, "watcher", true, 0, 10, 0);
	struct session *a =
	    connect(f, 1, "a", false, SESSION_EXPIRY_NEVER, 10, 0);
	bool present;

	sub(f, w, "will/#", 1, 0);
	sub(f, a, "t", 1, 0);
	session_set_will(a, mk("will/a", "taken", 1, false, 0), 0);
	a = broker_session_open(f->b, "a", 1, false, &present, 0);
	assert_int_equal(f->o[1].kicked, 1);
	assert_int_equal(f->o[1].kick_reason, SESSION_KICK_TAKEN_OVER);
	assert_true(present);
	assert_int_equal(f->o[0].nsent, 1); /* the will of the old link */
	assert_int_equal(topic_tree_count(f->b->subs), 2); /* kept */
	(void)a;
}

static void
test_private_session_not_taken_over(void **state)
{
	struct fixture *f = *state;
	struct owner *o = &f->o[0];
	bool present;

	memset(o, 0, sizeof(*o));
	o->room = true;
	o->s = broker_session_private(f->b, "junction-1", 10);
	session_attach(o->s, &owner_ops, o, 10);
	assert_null(broker_session_find(f->b, "junction-1", 10));
	struct session *m =
	    broker_session_open(f->b, "junction-1", 10, false, &present, 0);
	assert_ptr_not_equal(m, o->s);
	assert_false(present);
	assert_int_equal(o->kicked, 0);
	sub(f, o->s, "t", 0, 0);
	broker_session_close(f->b, o->s, true, 0); /* ends with its link */
	assert_int_equal(topic_tree_count(f->b->subs), 0);
}

static void
test_memory_limit_pauses_and_wakes(void **state)
{
	struct fixture *f = *state;
	struct session *slow = connect(f, 0, "slow", true, 0, 1, 0);
	struct session *pub = connect(f, 1, "pub", true, 0, 10, 0);
	struct msg *m = mk("t", "0123456789", 1, false, 0); /* 11 bytes */

	f->conf.memory_limit = 30; /* wakes at 30 - 30/8 = 27 */
	sub(f, slow, "t", 1, 0);
	assert_true(broker_publish(f->b, pub, m, 0)); /* in flight: 0 held */
	assert_true(broker_publish(f->b, pub, m, 0)); /* 11 */
	assert_true(broker_publish(f->b, pub, m, 0)); /* 22 */
	assert_false(broker_publish(f->b, pub, m, 0)); /* 33: pause */
	msg_unref(m);
	assert_int_equal(f->b->held_bytes, 33);
	assert_ptr_equal(session_waiting_on(pub), f->b);
	assert_true(session_on_puback(slow, f->o[0].sent[0].pkt_id, 0));
	assert_int_equal(f->b->held_bytes, 22); /* one moved into flight */
	assert_int_equal(f->o[1].resumed, 1);
	assert_null(session_waiting_on(pub));
}

static void
test_memory_limit_drops_for_offline(void **state)
{
	struct fixture *f = *state;
	struct session *away = connect(f, 0, "away", false, 100, 10, 0);

	f->conf.memory_limit = 20;
	sub(f, away, "t", 1, 0);
	broker_session_close(f->b, away, true, 0);
	publish(f, NULL, "t", "0123456789", 1, false, 0); /* 11 held */
	publish(f, NULL, "t", "0123456789", 1, false, 0); /* 22 held */
	publish(f, NULL, "t", "0123456789", 1, false, 0); /* over: dropped */
	assert_int_equal(away->queued_count, 2);
	assert_int_equal(f->b->stats.dropped_memory, 1);
}

static void
test_generated_ids_unique(void **state)
{
	struct fixture *f = *state;
	char a[32], b[32];

	(void)broker_client_id(f->b, a, sizeof(a));
	(void)connect(f, 0, "junction-2", true, 0, 1, 0);
	(void)broker_client_id(f->b, b, sizeof(b));
	assert_string_not_equal(a, b);
	assert_string_not_equal(b, "junction-2");
}

static void
share_sub(struct fixture *f, struct session *s, const char *filter)
{
	struct sub_opts o = {.qos = 1};
	bool existed;

	(void)broker_subscribe(
	    f->b, s, filter, strlen(filter), "g", 1, &o, &existed);
}

static void
test_shared_round_robin_and_handover(void **state)
{
	struct fixture *f = *state;
	struct session *a = connect(f, 0, "a", true, 0, 10, 0);
	struct session *b = connect(f, 1, "b", true, 0, 10, 0);
	struct session *plain = connect(f, 2, "p", true, 0, 10, 0);

	share_sub(f, a, "s/t");
	share_sub(f, b, "s/t");
	sub(f, plain, "s/t", 1, 0);
	for (int i = 0; i < 4; i++)
		publish(f, NULL, "s/t", "m", 1, false, 0);
	assert_int_equal(f->o[0].nsent, 2); /* spread over the group */
	assert_int_equal(f->o[1].nsent, 2);
	assert_int_equal(f->o[2].nsent, 4); /* plain gets every one */
	/* a's link drops with two unacked: they move to b (4.8.2). */
	broker_session_close(f->b, a, false, 0);
	assert_int_equal(f->o[1].nsent, 4);
	assert_int_equal(f->b->stats.shared_moved, 2);
	assert_int_equal(b->inflight_count, 4);
}

static void
test_nack_finishes_and_is_not_moved(void **state)
{
	struct fixture *f = *state;
	struct session *a = connect(f, 0, "a", true, 0, 1, 0);
	struct session *b = connect(f, 1, "b", true, 0, 10, 0);

	share_sub(f, a, "s/t");
	share_sub(f, b, "s/t");
	publish(f, NULL, "s/t", "x", 1, false, 0);
	publish(f, NULL, "s/t", "y", 1, false, 0);
	struct session *got = f->o[0].nsent ? a : b;
	struct owner *o = got == a ? &f->o[0] : &f->o[1];
	int before = f->o[0].nsent + f->o[1].nsent;

	assert_true(broker_nack(f->b, got, o->sent[0].pkt_id, 0));
	assert_false(broker_nack(f->b, got, o->sent[0].pkt_id, 0));
	assert_int_equal(f->o[0].nsent + f->o[1].nsent, before); /* 4.8.2-6 */
	assert_int_equal(f->b->stats.negative_acks, 1);
}

static void
test_too_large_counts_as_delivered(void **state)
{
	struct fixture *f = *state;
	struct session *s = connect(f, 0, "a", true, 0, 1, 0);

	sub(f, s, "t", 1, 0);
	f->o[0].refuse = true;
	publish(f, NULL, "t", "big", 1, false, 0);
	publish(f, NULL, "t", "big2", 1, false, 0);
	assert_int_equal(s->inflight_count, 0); /* window not held */
	assert_int_equal(s->queued_count, 0);
	f->o[0].refuse = false;
	publish(f, NULL, "t", "small", 1, false, 0);
	assert_int_equal(s->inflight_count, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_window_and_order),
	    T(test_qos2_flow),
	    T(test_min_qos),
	    T(test_resume_resends_in_order),
	    T(test_packet_id_wrap_skips_in_use),
	    T(test_offline_queue_limit),
	    T(test_backpressure),
	    T(test_qos0_slow_and_offline),
	    T(test_expired_not_delivered),
	    T(test_inq2),
	    T(test_overlap_one_copy),
	    T(test_overlap_across_messages),
	    T(test_no_local),
	    T(test_qos0_keeps_sub_ids),
	    T(test_retained_on_subscribe),
	    T(test_will),
	    T(test_will_delay),
	    T(test_session_expiry),
	    T(test_clean_session_discarded),
	    T(test_takeover),
	    T(test_generated_ids_unique),
	    T(test_memory_limit_pauses_and_wakes),
	    T(test_memory_limit_drops_for_offline),
	    T(test_private_session_not_taken_over),
	    T(test_shared_round_robin_and_handover),
	    T(test_nack_finishes_and_is_not_moved),
	    T(test_too_large_counts_as_delivered),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
