/*
 * test_queue.c - queues with competing consumers, redelivery and
 * dead-lettering (core/queue.c), on a fake clock with fake consumers.
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
#include "core/queue.h"

#define MAX_GOT 64

struct got {
	uint16_t pkt_id;
	uint8_t qos;
	uint16_t attempts;
	char payload[32];
	char dlq_queue[32];
	char dlq_count[8];
};

struct consumer {
	struct session *s;
	struct got got[MAX_GOT];
	int n;
	bool room;
	int resumed;
};

struct fixture {
	struct config conf;
	struct broker *b;
	struct consumer c[4];
};

/* The value of user property k in m, into buf ("" when absent). */
static void
user_prop(const struct msg *m, const char *k, char *buf, size_t cap)
{
	const uint8_t *pk, *pv;
	size_t kl, vl, off = 0;

	buf[0] = '\0';
	while (msg_user_next(m, &off, &pk, &kl, &pv, &vl)) {
		if (kl == strlen(k) && memcmp(pk, k, kl) == 0)
			snprintf(buf, cap, "%.*s", (int)vl, (const char *)pv);
	}
}

static bool
c_send(void *p, const struct delivery *d, uint64_t now_ms)
{
	struct consumer *c = p;
	struct got *g = &c->got[c->n++];

	(void)now_ms;
	assert_true(c->n <= MAX_GOT);
	g->pkt_id = d->pkt_id;
	g->qos = d->qos;
	g->attempts = d->attempts;
	snprintf(g->payload, sizeof(g->payload), "%.*s", (int)d->m->payload_len,
	    (const char *)d->m->payload);
	user_prop(d->m, "x-dlq-queue", g->dlq_queue, sizeof(g->dlq_queue));
	user_prop(d->m, "x-delivery-count", g->dlq_count, sizeof(g->dlq_count));
	return true;
}

static void
c_release(void *p UNUSED, uint16_t id UNUSED)
{
}

static bool
c_room(void *p)
{
	return ((struct consumer *)p)->room;
}

static void
c_resume(void *p)
{
	((struct consumer *)p)->resumed++;
}

static void
c_kick(void *p, enum session_kick r UNUSED)
{
	session_detach(((struct consumer *)p)->s);
}

static const struct session_ops c_ops = {
    .send = c_send,
    .send_release = c_release,
    .has_room = c_room,
    .resume = c_resume,
    .kick = c_kick,
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

		if (session_is_online(s))
			broker_session_close(f->b, s, true, 0);
	}
	broker_free(f->b);
	free(f);
	return 0;
}

static struct session *
attach(struct fixture *f, int i, const char *id, uint16_t window)
{
	struct consumer *c = &f->c[i];
	bool present;

	memset(c, 0, sizeof(*c));
	c->room = true;
	c->s = broker_session_open(f->b, id, strlen(id), false, &present, 0);
	c->s->expiry_s = SESSION_EXPIRY_NEVER;
	session_attach(c->s, &c_ops, c, window);
	session_resume(c->s, 0);
	return c->s;
}

static void
consume(struct fixture *f, int i, const char *q, uint8_t qos, uint32_t prefetch)
{
	struct sub_opts o = {.qos = qos};

	broker_queue_subscribe(f->b, f->c[i].s, q, strlen(q), &o, prefetch, 0);
}

static enum queue_result
put(struct fixture *f, struct session *origin, const char *q,
    const char *payload, uint64_t now)
{
	struct msg_init mi = {.topic = "$queue/x",
	    .topic_len = 8,
	    .payload = payload,
	    .payload_len = strlen(payload),
	    .qos = 1};
	struct msg *m = msg_new(&mi);
	enum queue_result r =
	    broker_queue_publish(f->b, origin, q, strlen(q), m, now);

	msg_unref(m);
	return r;
}

static void
test_waits_without_consumer(void **state)
{
	struct fixture *f = *state;

	put(f, NULL, "jobs", "a", 0);
	put(f, NULL, "jobs", "b", 0);
	assert_int_equal(queue_depth(f->b, "jobs", 4), 2);
	attach(f, 0, "w", 10);
	consume(f, 0, "jobs", 1, 0);
	assert_int_equal(f->c[0].n, 2);
	assert_string_equal(f->c[0].got[0].payload, "a");
	assert_int_equal(queue_depth(f->b, "jobs", 4), 0);
}

static void
test_round_robin_one_each(void **state)
{
	struct fixture *f = *state;

	attach(f, 0, "w0", 10);
	attach(f, 1, "w1", 10);
	consume(f, 0, "jobs", 1, 0);
	consume(f, 1, "jobs", 1, 0);
	for (int i = 0; i < 6; i++)
		put(f, NULL, "jobs", "m", 0);
	assert_int_equal(f->c[0].n, 3);
	assert_int_equal(f->c[1].n, 3);
	assert_int_equal(f->b->stats.queue_delivered, 6);
}

static void
test_prefetch_and_ack_refill(void **state)
{
	struct fixture *f = *state;
	struct session *s = attach(f, 0, "w", 10);

	consume(f, 0, "jobs", 1, 2);
	for (int i = 0; i < 5; i++)
		put(f, NULL, "jobs", "m", 0);
	assert_int_equal(f->c[0].n, 2); /* prefetch 2 */
	assert_int_equal(queue_depth(f->b, "jobs", 4), 3);
	assert_true(session_on_puback(s, f->c[0].got[0].pkt_id, 0));
	assert_int_equal(f->c[0].n, 3); /* one ack, one more */
}

static void
test_nack_redelivers_to_head(void **state)
{
	struct fixture *f = *state;
	struct session *s = attach(f, 0, "w", 1);

	consume(f, 0, "jobs", 1, 0);
	put(f, NULL, "jobs", "first", 0);
	put(f, NULL, "jobs", "second", 0);
	assert_int_equal(f->c[0].n, 1);
	assert_true(broker_nack(f->b, s, f->c[0].got[0].pkt_id, 0));
	assert_int_equal(f->c[0].n, 2);
	assert_string_equal(f->c[0].got[1].payload, "first"); /* head */
	assert_int_equal(f->c[0].got[1].attempts, 1);
	assert_int_equal(f->b->stats.redelivered, 1);
}

static void
test_disconnect_requeues_to_other(void **state)
{
	struct fixture *f = *state;
	struct session *a = attach(f, 0, "a", 10);

	attach(f, 1, "b", 10);
	consume(f, 0, "jobs", 1, 0);
	put(f, NULL, "jobs", "x", 0); /* to a (first consumer) */
	assert_int_equal(f->c[0].n, 1);
	consume(f, 1, "jobs", 1, 0);
	broker_session_close(f->b, a, false, 0); /* a drops, unacked */
	assert_int_equal(f->c[1].n, 1);
	assert_string_equal(f->c[1].got[0].payload, "x");
	assert_int_equal(f->c[1].got[0].attempts, 1);
}

static void
test_dead_letter_after_max(void **state)
{
	struct fixture *f = *state;
	struct session *s = attach(f, 0, "w", 10);

	f->conf.max_redeliveries = 3;
	consume(f, 0, "jobs", 1, 0);
	put(f, NULL, "jobs", "poison", 0);
	for (int i = 0; i < 3; i++)
		assert_true(broker_nack(f->b, s, f->c[0].got[i].pkt_id, 0));
	assert_int_equal(f->c[0].n, 3); /* not a fourth time */
	assert_int_equal(f->b->stats.dead_lettered, 1);
	assert_int_equal(queue_depth(f->b, "jobs", 4), 0);
	assert_int_equal(queue_depth(f->b, "jobs.dlq", 8), 1);
	consume(f, 0, "jobs.dlq", 1, 0); /* an ordinary queue */
	assert_int_equal(f->c[0].n, 4);
	assert_string_equal(f->c[0].got[3].payload, "poison");
	assert_string_equal(f->c[0].got[3].dlq_queue, "jobs");
	assert_string_equal(f->c[0].got[3].dlq_count, "3");
}

static void
test_redelivery_delay_backoff(void **state)
{
	struct fixture *f = *state;
	struct session *s = attach(f, 0, "w", 10);

	f->conf.redelivery_delay = 100;
	f->conf.redelivery_backoff = 2;
	f->conf.redelivery_delay_max = 150;
	consume(f, 0, "jobs", 1, 0);
	put(f, NULL, "jobs", "x", 0);
	assert_true(broker_nack(f->b, s, f->c[0].got[0].pkt_id, 1000));
	broker_tick(f->b, 1099);
	assert_int_equal(f->c[0].n, 1);
	broker_tick(f->b, 1100); /* 100 ms */
	assert_int_equal(f->c[0].n, 2);
	assert_true(broker_nack(f->b, s, f->c[0].got[1].pkt_id, 2000));
	broker_tick(f->b, 2149);
	assert_int_equal(f->c[0].n, 2);
	broker_tick(f->b, 2150); /* 200 capped at 150 */
	assert_int_equal(f->c[0].n, 3);
}

static void
test_at_most_once_consumer(void **state)
{
	struct fixture *f = *state;

	attach(f, 0, "w", 1);
	consume(f, 0, "jobs", 0, 0);
	for (int i = 0; i < 5; i++)
		put(f, NULL, "jobs", "m", 0);
	assert_int_equal(f->c[0].n, 5); /* not limited by the window */
	f->c[0].room = false; /* output backed up: it waits */
	put(f, NULL, "jobs", "later", 0);
	assert_int_equal(queue_depth(f->b, "jobs", 4), 1);
	f->c[0].room = true;
	broker_session_drained(f->b, f->c[0].s, 0);
	assert_int_equal(f->c[0].n, 6);
	assert_int_equal(f->b->stats.dropped_qos0_slow, 0);
}

static void
test_full_queue_backpressures(void **state)
{
	struct fixture *f = *state;
	struct session *pub = attach(f, 1, "pub", 10);
	struct session *w;

	f->conf.max_queued_messages = 2;
	assert_int_equal(put(f, pub, "jobs", "1", 0), QUEUE_ACCEPTED);
	assert_int_equal(put(f, pub, "jobs", "2", 0), QUEUE_ACCEPTED);
	/* kept, publisher paused */
	assert_int_equal(put(f, pub, "jobs", "3", 0), QUEUE_BLOCKED);
	assert_int_equal(queue_depth(f->b, "jobs", 4), 3);
	assert_non_null(session_waiting_on(pub));
	w = attach(f, 0, "w", 10);
	consume(f, 0, "jobs", 1, 0);
	assert_int_equal(f->c[1].resumed, 1);
	assert_null(session_waiting_on(pub));
	(void)w;
}

/* A "queue NAME" line for the fixture's config. */
static void
queue_line(struct fixture *f, const char *name, uint32_t max, uint32_t policy)
{
	struct config_queue *q = &f->conf.queues[f->conf.nqueues++];

	memset(q, 0, sizeof(*q));
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->max_messages = max;
	q->overflow = policy;
	q->set = CONFIG_Q_MAX_MESSAGES | CONFIG_Q_OVERFLOW;
}

static void
test_overflow_reject(void **state)
{
	struct fixture *f = *state;
	struct session *pub = attach(f, 1, "pub", 10);

	queue_line(f, "r", 2, CONFIG_OVERFLOW_REJECT);
	assert_int_equal(put(f, pub, "r", "1", 0), QUEUE_ACCEPTED);
	assert_int_equal(put(f, pub, "r", "2", 0), QUEUE_ACCEPTED);
	assert_int_equal(put(f, pub, "r", "3", 0), QUEUE_REJECTED);
	assert_int_equal(queue_depth(f->b, "r", 1), 2);
	assert_null(session_waiting_on(pub)); /* refused, not blocked */
	assert_int_equal(f->b->stats.queue_rejected, 1);
	/* other queues keep the default (block) */
	f->conf.max_queued_messages = 1;
	assert_int_equal(put(f, pub, "other", "1", 0), QUEUE_ACCEPTED);
	assert_int_equal(put(f, pub, "other", "2", 0), QUEUE_BLOCKED);
	assert_int_equal(queue_depth(f->b, "other", 5), 2);
}

static void
test_overflow_drop_oldest_and_newest(void **state)
{
	struct fixture *f = *state;

	queue_line(f, "old", 2, CONFIG_OVERFLOW_DROP_OLDEST);
	queue_line(f, "new", 2, CONFIG_OVERFLOW_DROP_NEWEST);
	for (int i = 0; i < 3; i++) {
		char p[16];

		snprintf(p, sizeof(p), "%d", i);
		(void)put(f, NULL, "old", p, 0);
		(void)put(f, NULL, "new", p, 0);
	}
	assert_int_equal(queue_depth(f->b, "old", 3), 2);
	assert_int_equal(queue_depth(f->b, "new", 3), 2);
	assert_int_equal(f->b->stats.queue_dropped, 2);
	attach(f, 0, "w", 10);
	consume(f, 0, "old", 1, 0);
	assert_string_equal(f->c[0].got[0].payload, "1"); /* 0 was dropped */
	consume(f, 0, "new", 1, 0);
	assert_string_equal(f->c[0].got[2].payload, "0"); /* 2 was dropped */
	assert_string_equal(f->c[0].got[3].payload, "1");
}

/*
 * A dead-letter queue obeys the queue limits too: nobody may be consuming
 * it, and poison messages must not grow it for ever. With no publisher
 * to pause, a full one drops its oldest dead letter (counted).
 */
static void
test_dead_letter_queue_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct session *s = attach(f, 0, "w", 10);

	f->conf.max_redeliveries = 1;
	queue_line(f, "jobs.dlq", 2, CONFIG_OVERFLOW_BLOCK);
	consume(f, 0, "jobs", 1, 0);
	for (int i = 0; i < 3; i++) {
		char p[16];

		snprintf(p, sizeof(p), "%d", i);
		(void)put(f, NULL, "jobs", p, 0);
		assert_true(broker_nack(f->b, s, f->c[0].got[i].pkt_id, 0));
	}
	assert_int_equal(f->b->stats.dead_lettered, 3);
	assert_int_equal(queue_depth(f->b, "jobs.dlq", 8), 2);
	assert_int_equal(f->b->stats.queue_dropped, 1);
	consume(f, 0, "jobs.dlq", 1, 0);
	assert_string_equal(f->c[0].got[3].payload, "1"); /* 0 was dropped */
	assert_string_equal(f->c[0].got[4].payload, "2");
}

static void
test_per_queue_max_redeliveries(void **state)
{
	struct fixture *f = *state;
	struct session *s = attach(f, 0, "w", 10);
	struct config_queue *q = &f->conf.queues[f->conf.nqueues++];

	memset(q, 0, sizeof(*q));
	snprintf(q->name, sizeof(q->name), "once");
	q->max_redeliveries = 1;
	q->set = CONFIG_Q_MAX_REDELIVERIES;
	consume(f, 0, "once", 1, 0);
	(void)put(f, NULL, "once", "x", 0);
	assert_true(broker_nack(f->b, s, f->c[0].got[0].pkt_id, 0));
	assert_int_equal(f->c[0].n, 1); /* straight to the DLQ */
	assert_int_equal(queue_depth(f->b, "once.dlq", 8), 1);
}

static void
test_memory_limit_blocks_queue_publisher(void **state)
{
	struct fixture *f = *state;
	struct session *pub = attach(f, 1, "pub", 10);

	f->conf.memory_limit = 40; /* each message holds 18 bytes */
	assert_int_equal(put(f, pub, "m", "0123456789", 0), QUEUE_ACCEPTED);
	assert_int_equal(put(f, pub, "m", "0123456789", 0), QUEUE_ACCEPTED);
	assert_int_equal(put(f, pub, "m", "0123456789", 0), QUEUE_BLOCKED);
	assert_ptr_equal(session_waiting_on(pub), f->b);
	attach(f, 0, "w", 10);
	consume(f, 0, "m", 1, 0); /* drains the queue: publisher resumes */
	assert_int_equal(f->c[1].resumed, 1);
	assert_int_equal(f->b->held_bytes, 0);
}

static void
test_idle_queue_freed(void **state)
{
	struct fixture *f = *state;

	attach(f, 0, "w", 10);
	consume(f, 0, "tmp", 0, 0);
	assert_true(broker_queue_unsubscribe(f->b, f->c[0].s, "tmp", 3));
	assert_false(broker_queue_unsubscribe(f->b, f->c[0].s, "tmp", 3));
	broker_tick(f->b, 0);
	put(f, NULL, "tmp", "x", 0); /* a fresh queue again */
	assert_int_equal(queue_depth(f->b, "tmp", 3), 1);
}

static void
test_mqtt_names(void **state)
{
	const char *n;
	size_t l;

	(void)state;
	assert_true(queue_mqtt_name("$queue/jobs", 11, &n, &l));
	assert_int_equal(l, 4);
	assert_false(queue_mqtt_name("$queue/", 7, &n, &l));
	assert_false(queue_mqtt_name("$queue/a/+", 10, &n, &l));
	assert_false(queue_mqtt_name("queue/jobs", 10, &n, &l));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_waits_without_consumer),
	    T(test_round_robin_one_each),
	    T(test_prefetch_and_ack_refill),
	    T(test_nack_redelivers_to_head),
	    T(test_disconnect_requeues_to_other),
	    T(test_dead_letter_after_max),
	    T(test_redelivery_delay_backoff),
	    T(test_at_most_once_consumer),
	    T(test_full_queue_backpressures),
	    T(test_idle_queue_freed),
	    T(test_memory_limit_blocks_queue_publisher),
	    T(test_overflow_reject),
	    T(test_overflow_drop_oldest_and_newest),
	    T(test_dead_letter_queue_is_bounded),
	    T(test_per_queue_max_redeliveries),
	    T(test_mqtt_names),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
