/*
 * test_store_disk.c - the durable backend (core/store_disk.c): a broker
 * state written through core's record calls, the store closed as a
 * crash would leave it, reopened and replayed into a fresh broker must
 * equal the original (sessions, subscriptions, retained, queued and
 * in-flight deliveries with ids and states, inbound QoS 2 ids, queue
 * entries); replaying records a snapshot already holds changes nothing;
 * compaction keeps exactly the live state; the disk cap refuses.
 *
 * Each test works in its own mkdtemp directory under /tmp, removed after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include "conf/config.h"
#include "core/broker.h"
#include "core/queue.h"

#define NOW 1000000

struct t {
	char dir[64];
	struct config conf;
	struct broker *b;
	int sent; /* PUBLISH/PUBREL the fake owners were asked to send */
};

static bool
owner_send(void *p, const struct delivery *d UNUSED, uint64_t now UNUSED)
{
	((struct t *)p)->sent++;
	return true;
}

static void
owner_release(void *p, uint16_t id UNUSED)
{
	((struct t *)p)->sent++;
}

static bool
owner_has_room(void *p UNUSED)
{
	return true;
}

static void
owner_resume(void *p UNUSED)
{
}

static void
owner_kick(void *p UNUSED, enum session_kick rc UNUSED)
{
}

static const struct session_ops owner_ops = {
    .send = owner_send,
    .send_release = owner_release,
    .has_room = owner_has_room,
    .resume = owner_resume,
    .kick = owner_kick,
};

static struct store *
open_store(struct t *t, uint64_t max_bytes, struct store_disk_report *rep)
{
	struct store_journal_opts o = {.dir = t->dir,
	    .sync = STORE_JOURNAL_SYNC_NEVER,
	    .max_bytes = max_bytes};
	char err[256];
	struct store *st = store_disk_open(&o, rep, err, sizeof(err));

	if (st == NULL)
		fail_msg("open: %s", err);
	return st;
}

/* Commit and wait until everything appended is durable. */
static void
settle(struct store *st)
{
	struct pollfd pfd = {.fd = store_fd(st), .events = POLLIN};

	store_commit(st, NOW);
	while (store_durable_gen(st) < store_gen(st)) {
		assert_true(poll(&pfd, 1, 5000) == 1);
		store_poll(st);
	}
}

/* A fresh broker recovered from the store in t->dir. */
static void
start(struct t *t, uint64_t max_bytes, struct store_disk_report *rep)
{
	struct store_disk_report r;
	char err[256];

	rep = rep ? rep : &r;
	t->b = broker_new(&t->conf, open_store(t, max_bytes, rep));
	if (store_disk_load(t->b->store, t->b, NOW, rep, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
}

/* Stop as a crash would: the records stay as they are. */
static void
crash(struct t *t)
{
	LIST_FOREACH(it, &t->b->sessions)
	session_detach(CONTAINER_OF(it, struct session, all_link));
	broker_free(t->b);
	t->b = NULL;
}

static int
setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	snprintf(t->dir, sizeof(t->dir), "/tmp/junction-sd-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	config_defaults(&t->conf);
	t->conf.persistence = true;
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;
	char cmd[128];

	if (t->b)
		crash(t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static struct session *
connect(struct t *t, const char *id, uint32_t expiry, uint16_t window)
{
	bool present;
	struct session *s =
	    broker_session_open(t->b, id, strlen(id), false, &present, NOW);

	session_attach(s, &owner_ops, t, window);
	broker_session_set_expiry(t->b, s, expiry);
	return s;
}

static void
publish(struct t *t, const char *topic, const char *payload, uint8_t qos,
    bool retain)
{
	struct msg_init mi = {.topic = topic,
	    .topic_len = strlen(topic),
	    .payload = payload,
	    .payload_len = strlen(payload),
	    .qos = qos,
	    .retain = retain};
	struct msg *m = msg_new(&mi);
	const char *q;
	size_t qlen;

	if (queue_mqtt_name(topic, strlen(topic), &q, &qlen))
		(void)broker_queue_publish(t->b, NULL, q, qlen, m, NOW);
	else
		(void)broker_publish(t->b, NULL, m, NOW);
	msg_unref(m);
}

static void
subscribe(struct t *t, struct session *s, const char *filter, const char *group,
    uint8_t qos, uint32_t sub_id)
{
	struct sub_opts o = {.qos = qos, .sub_id = sub_id, .no_local = true};
	bool existed;

	(void)broker_subscribe(t->b, s, filter, strlen(filter), group,
	    group ? strlen(group) : 0, &o, &existed);
}

/* ---- a canonical text of the durable state, to compare brokers ---- */

struct dump {
	char *lines[256];
	size_t n;
};

static void PRINTF(2, 3) dump_line(struct dump *d, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(d->n < 256);
	d->lines[d->n++] = strdup(buf);
}

static void
dump_deliveries(struct dump *d, const struct session *s, const struct list *l)
{
	int i = 0;

	LIST_FOREACH(it, l)
	{
		const struct delivery *v =
		    CONTAINER_OF(it, struct delivery, link);

		dump_line(d, "%s dlv %d st%u id%u q%u r%d n%u ids%u %s %.*s",
		    s->client_id, i++, v->state, v->pkt_id, v->qos, v->retain,
		    v->nsub_ids, v->nsub_ids ? v->sub_ids[0] : 0,
		    v->share ? v->share->group : "-", (int)v->m->payload_len,
		    (const char *)v->m->payload);
	}
}

static void
dump_session(struct dump *d, const struct session *s)
{
	if (!s->stored)
		return;
	dump_line(d, "%s session %u", s->client_id, s->expiry_s);
	LIST_FOREACH(it, &s->subs)
	{
		const struct session_sub *u =
		    CONTAINER_OF(it, struct session_sub, link);

		dump_line(d, "%s sub %s %s q%u id%u nl%d", s->client_id,
		    u->filter, u->group ? u->group : "-", u->opts.qos,
		    u->opts.sub_id, u->opts.no_local);
	}
	dump_deliveries(d, s, &s->inflight);
	dump_deliveries(d, s, &s->queue);
	for (uint32_t id = 0; s->inq2 && id < 65536; id++) {
		if (session_inq2_has(s, (uint16_t)id))
			dump_line(d, "%s inq2 %u", s->client_id, id);
	}
}

static void
dump_retained(void *arg, struct msg *m)
{
	dump_line(arg, "retained %s %.*s", m->topic, (int)m->payload_len,
	    (const char *)m->payload);
}

static void
dump_entry(void *arg, const struct queue *q, uint64_t id UNUSED, struct msg *m,
    uint16_t attempts)
{
	size_t n;
	const char *name = queue_name(q, &n);

	dump_line(arg, "entry %.*s a%u %.*s", (int)n, name, attempts,
	    (int)m->payload_len, (const char *)m->payload);
}

static int
dump_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted lines, joined; the caller frees. */
static char *
dump(struct broker *b)
{
	struct dump d = {.n = 0};
	size_t len = 1;
	char *out;

	LIST_FOREACH(it, &b->sessions)
	dump_session(&d, CONTAINER_OF(it, struct session, all_link));
	retain_foreach(b->retained, dump_retained, &d);
	queue_foreach_entry(b, dump_entry, &d);
	qsort(d.lines, d.n, sizeof(char *), dump_cmp);
	for (size_t i = 0; i < d.n; i++)
		len += strlen(d.lines[i]) + 1;
	out = calloc(1, len);
	for (size_t i = 0; i < d.n; i++) {
		strcat(out, d.lines[i]);
		strcat(out, "\n");
		free(d.lines[i]);
	}
	return out;
}

/* ---- tests ---- */

/* Every record kind, written, crashed, reopened and replayed. */
static void
build_state(struct t *t)
{
	struct session *p = connect(t, "p1", SESSION_EXPIRY_NEVER, 2);
	struct session *c = connect(t, "c1", 0, 5); /* clean */

	subscribe(t, p, "a/#", NULL, 2, 7);
	subscribe(t, p, "x/y", "g", 1, 0);
	publish(t, "r/1", "kept", 1, true);
	publish(t, "r/2", "gone", 0, true);
	publish(t, "r/2", "", 0, true); /* clears */
	publish(t, "a/b", "one", 1, false);
	publish(t, "a/b", "two", 2, false);
	publish(t, "a/c", "three", 2, false);
	publish(t, "x/y", "shared", 1, false);
	assert_true(session_on_pubrec(p, 2, NOW)); /* "two": RELEASED */
	session_inq2_add(p, 42);
	session_inq2_add(p, 43);
	(void)session_inq2_del(p, 43);
	publish(t, "$queue/jobs", "j1", 1, false);
	publish(t, "$queue/jobs", "j2", 0, false);
	publish(t, "$queue/jobs", "j3", 1, false);
	broker_queue_subscribe(
	    t->b, c, "jobs", 4, &(struct sub_opts){.qos = 1}, 1, NOW);
	assert_int_equal(c->inflight_count, 1); /* j1 in flight */
	publish(t, "$queue/other", "o1", 1, false);
}

/* What the state above must look like after recovery. */
static const char recovered[] =
    "entry jobs a0 j1\n"
    "entry jobs a0 j2\n"
    "entry jobs a0 j3\n"
    "entry other a0 o1\n"
    "p1 dlv 0 st0 id0 q2 r0 n1 ids7 - three\n" /* queued */
    "p1 dlv 0 st1 id1 q1 r0 n1 ids7 - one\n" /* in flight, sent */
    "p1 dlv 1 st0 id0 q1 r0 n0 ids0 g shared\n"
    "p1 dlv 1 st2 id2 q2 r0 n1 ids7 - two\n" /* released */
    "p1 inq2 42\n"
    "p1 session 4294967295\n"
    "p1 sub a/# - q2 id7 nl1\n"
    "p1 sub x/y g q1 id0 nl1\n"
    "retained r/1 kept\n";

static void
test_roundtrip(void **state)
{
	struct t *t = *state;
	char *before, *after;

	start(t, 0, NULL);
	build_state(t);
	crash(t);
	start(t, 0, NULL);
	after = dump(t->b);
	assert_string_equal(after, recovered);
	/* Resumed: DUP resends with the same ids, PUBREL for RELEASED. */
	struct session *p = broker_session_find(t->b, "p1", 2);
	assert_non_null(p);
	session_attach(p, &owner_ops, t, 2);
	t->sent = 0;
	session_resume(p, NOW);
	assert_int_equal(t->sent, 2);
	assert_true(CONTAINER_OF(p->inflight.next, struct delivery, link)->dup);
	/* And the same again after a clean restart and its compaction. */
	session_detach(p);
	before = dump(t->b);
	crash(t);
	start(t, 0, NULL);
	free(after);
	after = dump(t->b);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

/* Acked and deleted state leaves nothing behind, even its messages. */
static void
test_deletes(void **state)
{
	struct t *t = *state;
	struct store_disk_report rep;
	struct session *p;
	char *after;

	start(t, 0, NULL);
	p = connect(t, "p1", 60, 10);
	subscribe(t, p, "a", NULL, 2, 0);
	publish(t, "a", "m1", 1, false);
	publish(t, "a", "m2", 2, false);
	assert_true(session_on_puback(p, 1, NOW));
	assert_true(session_on_pubrec(p, 2, NOW));
	assert_true(session_on_pubcomp(p, 2, NOW));
	assert_true(broker_unsubscribe(t->b, p, "a", 1, NULL, 0));
	publish(t, "r", "x", 1, true);
	publish(t, "r", "", 1, true);
	crash(t);
	start(t, 0, &rep);
	assert_int_equal(rep.messages, 0);
	assert_int_equal(rep.subs, 0);
	assert_int_equal(rep.sessions, 1);
	after = dump(t->b);
	assert_string_equal(after, "p1 session 60\n");
	free(after);
	/* Online at the crash: its absence starts at recovery. */
	p = broker_session_find(t->b, "p1", 2);
	assert_int_equal(p->expire_at_ms, NOW + 60000);
	broker_session_destroy(t->b, p, NOW);
	crash(t);
	start(t, 0, &rep);
	assert_int_equal(rep.sessions, 0);
}

/* Read the journal file whole. */
static uint8_t *
slurp(const char *dir, size_t *len)
{
	char path[128];
	FILE *f;
	uint8_t *buf;

	snprintf(path, sizeof(path), "%s/junction.db", dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(*len + 1);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void
spit(const char *dir, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/junction.db", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(a, 1, alen, f), alen);
	assert_int_equal(fwrite(b, 1, blen, f), blen);
	fclose(f);
}

/*
 * Replay is idempotent: a snapshot followed by records it already
 * reflects (what a rewrite leaves when appends raced it) loads as the
 * snapshot alone.
 */
static void
test_idempotent_replay(void **state)
{
	struct t *t = *state;
	uint8_t *log, *snap;
	size_t loglen, snaplen;
	char *expect, *after;

	start(t, 0, NULL);
	build_state(t);
	struct session *p = broker_session_find(t->b, "p1", 2);
	assert_true(session_on_puback(p, 1, NOW)); /* puts, then deletes */
	crash(t);
	log = slurp(t->dir, &loglen); /* empty snapshot + every record */
	start(t, 0, NULL); /* compacts: the snapshot */
	expect = dump(t->b);
	crash(t);
	snap = slurp(t->dir, &snaplen);
	spit(t->dir, snap, snaplen, log + STORE_JOURNAL_HEADER_LEN,
	    loglen - STORE_JOURNAL_HEADER_LEN);
	start(t, 0, NULL);
	after = dump(t->b);
	assert_string_equal(after, expect);
	free(after);
	free(expect);
	free(log);
	free(snap);
}

/* Compaction keeps exactly the live state, and disk use follows it. */
static void
test_compaction(void **state)
{
	struct t *t = *state;
	struct session *p;
	char payload[200];
	char *before, *after;
	uint64_t grown;

	start(t, 0, NULL);
	p = connect(t, "p1", SESSION_EXPIRY_NEVER, 1);
	subscribe(t, p, "a", NULL, 1, 0);
	memset(payload, 'x', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	for (int i = 0; i < 500; i++) {
		publish(t, "a", payload, 1, false);
		assert_true(session_on_puback(p,
		    CONTAINER_OF(p->inflight.next, struct delivery, link)
		        ->pkt_id,
		    NOW));
		settle(t->b->store);
	}
	publish(t, "a", "last", 1, false);
	publish(t, "a", "queued", 1, false);
	settle(t->b->store);
	before = dump(t->b);
	grown = store_disk_file_bytes(t->b->store);
	assert_true(grown > 500 * 200);
	assert_int_equal(store_disk_compact(t->b->store), 0);
	assert_true(store_disk_file_bytes(t->b->store) < 2000);
	crash(t);
	start(t, 0, NULL);
	after = dump(t->b);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

/* Past the disk cap, records are refused (counted) and nothing breaks. */
static void
test_disk_cap(void **state)
{
	struct t *t = *state;
	struct session *p;
	char payload[100];

	start(t, 4096, NULL);
	p = connect(t, "p1", SESSION_EXPIRY_NEVER, 1);
	subscribe(t, p, "a", NULL, 1, 0);
	session_detach(p);
	memset(payload, 'y', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	for (int i = 0; i < 100 && t->b->store->refused == 0; i++) {
		publish(t, "a", payload, 1, false);
		settle(t->b->store);
	}
	assert_true(t->b->store->refused > 0);
	assert_true(store_disk_file_bytes(t->b->store) <= 4096);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deletes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_idempotent_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
