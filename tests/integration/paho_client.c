/*
 * paho_client: MQTT 3.1 / 3.1.1 / 5.0 integration cases driven by
 * paho.mqtt.c's MQTTAsync API, a client that shares no code with the broker
 * under test. The 5.0 cases (named v5_*) use handles created for 5.0, whose
 * calls complete through the onSuccess5 / onFailure5 callbacks.
 *
 *   paho_client --list            print the case names, one per line
 *   paho_client CASE HOST PORT    run one case: exit 0 on success, exit 1
 *                                 with "CASE: message" on stderr on failure
 *
 * MQTTAsync calls back from its own threads. Every callback records what
 * happened in its struct client under one global mutex and broadcasts one
 * condition variable; the case thread waits for a condition with a
 * deadline (WAIT_UNTIL). There are no sleeps. The absence of a message is
 * proved with a marker: a message published after the moment that matters
 * must arrive, and nothing unwanted may have arrived before it (nor at all).
 *
 * Topics and client ids carry the pid, so cases may run one after another
 * against one long-lived broker (as when validating against Mosquitto).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <MQTTAsync.h>

#define WAIT_S 10 /* deadline of one wait */
#define SEND_WINDOW 100 /* publishes in flight before the next waits */
#define MAX_GRANTED 8

struct rx {
	char *topic;
	char *payload; /* NUL-terminated copy */
	size_t len;
	int qos;
	int retained;
	int dup;
	MQTTProperties props; /* 5.0 properties as received (copy) */
};

struct client {
	MQTTAsync h;
	char id[128];
	int conn; /* 0 pending, 1 up, -1 refused */
	int conn_code; /* CONNACK code or paho error on -1 */
	int session_present;
	int version;
	int v5; /* created for MQTT 5.0 */
	unsigned session_expiry; /* 5.0 CONNECT Session Expiry Interval */
	int lost; /* connectionLost calls */
	int disc; /* 0 pending, 1 done, -1 failed */
	int subs_ok, subs_fail, sub_count;
	int granted[MAX_GRANTED];
	int unsubs_ok, unsubs_fail;
	int sent, sent_ok, sent_fail;
	struct rx *rx;
	size_t nrx, caprx;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;
static const char *g_case = "paho_client";
static char g_uri[256];
static const char *g_host, *g_port;
static char g_pfx[64]; /* "paho/<pid>": topic prefix of this run */
static int g_nclients;

static void fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", g_case);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* Paho's threads may hold locks; leave without running exit hooks. */
	_exit(1);
}

static void timed_out(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
timed_out(const char *fmt, ...)
{
	va_list ap;

	fprintf(
	    stderr, "%s: timed out after %d s waiting for ", g_case, WAIT_S);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

static void
deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += WAIT_S;
}

/*
 * Wait until cond (an expression over client state, evaluated under g_mu)
 * holds, or fail after WAIT_S seconds naming what was awaited.
 */
#define WAIT_UNTIL(cond, ...) \
	do { \
		struct timespec dl_; \
		bool ok_ = true; \
		deadline(&dl_); \
		pthread_mutex_lock(&g_mu); \
		while (!(cond) && ok_) \
			if (pthread_cond_timedwait(&g_cv, &g_mu, &dl_) == \
			    ETIMEDOUT) \
				ok_ = (cond); \
		pthread_mutex_unlock(&g_mu); \
		if (!ok_) \
			timed_out(__VA_ARGS__); \
	} while (0)

static void
signal_all(void)
{
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fail("out of memory");
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* "<prefix>/<suffix>" into buf. */
static char *
topic(char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "%s/%s", g_pfx, suffix);
	return buf;
}

/* --- callbacks: record under g_mu, broadcast, never block --- */

static void
on_lost(void *ctx, char *cause)
{
	struct client *c = ctx;

	(void)cause;
	pthread_mutex_lock(&g_mu);
	c->lost++;
	signal_all();
}

static void
rx_push(
    struct client *c, const char *t, size_t tlen, const MQTTAsync_message *m)
{
	struct rx *r;

	if (c->nrx == c->caprx) {
		c->caprx = c->caprx ? 2 * c->caprx : 64;
		c->rx = realloc(c->rx, c->caprx * sizeof(*c->rx));
		if (c->rx == NULL)
			fail("out of memory");
	}
	r = &c->rx[c->nrx++];
	r->topic = xstrndup(t, tlen);
	r->payload = xstrndup(m->payload, (size_t)m->payloadlen);
	r->len = (size_t)m->payloadlen;
	r->qos = m->qos;
	r->retained = m->retained;
	r->dup = m->dup;
	r->props = MQTTProperties_copy(&m->properties);
}

static int
on_arrived(void *ctx, char *t, int tlen, MQTTAsync_message *m)
{
	struct client *c = ctx;

	pthread_mutex_lock(&g_mu);
	rx_push(c, t, tlen > 0 ? (size_t)tlen : strlen(t), m);
	signal_all();
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(t);
	return 1;
}

static void
on_conn_ok(void *ctx, MQTTAsync_successData *d)
{
	struct client *c = ctx;

	pthread_mutex_lock(&g_mu);
	c->conn = 1;
	c->session_present = d->alt.connect.sessionPresent;
	c->version = d->alt.connect.MQTTVersion;
	signal_all();
}

static void
on_conn_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct client *c = ctx;

	pthread_mutex_lock(&g_mu);
	c->conn = -1;
	c->conn_code = d ? d->code : -1;
	signal_all();
}

static void
on_sub_ok(void *ctx, MQTTAsync_successData *d)
{
	struct client *c = ctx;
	int i;

	pthread_mutex_lock(&g_mu);
	if (c->sub_count == 1)
		c->granted[0] = d->alt.qos;
	for (i = 0; c->sub_count > 1 && i < c->sub_count; i++)
		c->granted[i] = d->alt.qosList[i];
	c->subs_ok++;
	signal_all();
}

static void
on_sub_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct client *c = ctx;

	pthread_mutex_lock(&g_mu);
	c->granted[0] = d ? d->code : -1;
	c->subs_fail++;
	signal_all();
}

static void
on_unsub_ok(void *ctx, MQTTAsync_successData *d)
{
	struct client *c = ctx;

	(void)d;
	pthread_mutex_lock(&g_mu);
	c->unsubs_ok++;
	signal_all();
}

static void
on_unsub_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct client *c = ctx;

	(void)d;
	pthread_mutex_lock(&g_mu);
	c->unsubs_fail++;
	signal_all();
}

static void
on_sent_ok(void *ctx, MQTTAsync_successData *d)
{
	struct client *c = ctx;

	(void)d;
	pthread_mutex_lock(&g_mu);
	c->sent_ok++;
	signal_all();
}

static void
on_sent_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct client *c = ctx;

	(void)d;
	pthread_mutex_lock(&g_mu);
	c->sent_fail++;
	signal_all();
}

static void
on_disc_ok(void *ctx, MQTTAsync_successData *d)
{
	struct client *c = ctx;

	(void)d;
	pthread_mutex_lock(&g_mu);
	c->disc = 1;
	signal_all();
}

static void
on_disc_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct client *c = ctx;

	(void)d;
	pthread_mutex_lock(&g_mu);
	c->disc = -1;
	signal_all();
}

/*
 * The 5.0 callbacks: the same records, taken from the 5.0 response data
 * (reason codes instead of QoS / return codes).
 */
static void
on_conn_ok5(void *ctx, MQTTAsync_successData5 *d)
{
	struct client *c = ctx;

	pthread_mutex_lock(&g_mu);
	c->conn = 1;
	c->session_present = d->alt.connect.sessionPresent;
	c->version = d->alt.connect.MQTTVersion;
	signal_all();
}

static void
on_conn_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
	struct client *c = ctx;

	pthread_mutex_lock(&g_mu);
	c->conn = -1;
	c->conn_code = d ? (d->reasonCode ? (int)d->reasonCode : d->code) : -1;
	signal_all();
}

static void
on_sub_ok5(void *ctx, MQTTAsync_successData5 *d)
{
	struct client *c = ctx;
	int i;

	pthread_mutex_lock(&g_mu);
	c->granted[0] = (int)d->reasonCode;
	for (i = 0; c->sub_count > 1 && i < c->sub_count &&
	     i < d->alt.sub.reasonCodeCount;
	     i++)
		c->granted[i] = (int)d->alt.sub.reasonCodes[i];
	c->subs_ok++;
	signal_all();
}

static void
on_sub_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
	struct client *c = ctx;

	pthread_mutex_lock(&g_mu);
	c->granted[0] = d ? (d->reasonCode ? (int)d->reasonCode : d->code) : -1;
	c->subs_fail++;
	signal_all();
}

static void
on_unsub_ok5(void *ctx, MQTTAsync_successData5 *d)
{
	(void)d;
	on_unsub_ok(ctx, NULL);
}

static void
on_unsub_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
	(void)d;
	on_unsub_fail(ctx, NULL);
}

static void
on_sent_ok5(void *ctx, MQTTAsync_successData5 *d)
{
	(void)d;
	on_sent_ok(ctx, NULL);
}

static void
on_sent_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
	(void)d;
	on_sent_fail(ctx, NULL);
}

static void
on_disc_ok5(void *ctx, MQTTAsync_successData5 *d)
{
	(void)d;
	on_disc_ok(ctx, NULL);
}

static void
on_disc_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
	(void)d;
	on_disc_fail(ctx, NULL);
}

/* Completion callbacks of o for c's MQTT version. */
static void
set_callbacks(MQTTAsync_responseOptions *o, struct client *c,
    MQTTAsync_onSuccess *ok, MQTTAsync_onFailure *nok,
    MQTTAsync_onSuccess5 *ok5, MQTTAsync_onFailure5 *nok5)
{
	if (c->v5) {
		o->onSuccess5 = ok5;
		o->onFailure5 = nok5;
	} else {
		o->onSuccess = ok;
		o->onFailure = nok;
	}
	o->context = c;
}

/* --- client helpers: each call waits for its own completion --- */

static struct client *
client_new_id_v(const char *id, int v5)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	struct client *c = xmalloc(sizeof(*c));
	int rc;

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->v5 = v5;
	if (v5)
		rc = MQTTAsync_createWithOptions(&c->h, g_uri, c->id,
		    MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	else
		rc = MQTTAsync_create(
		    &c->h, g_uri, c->id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		fail("MQTTAsync_create(%s): %s", id, MQTTAsync_strerror(rc));
	rc = MQTTAsync_setCallbacks(c->h, c, on_lost, on_arrived, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		fail("MQTTAsync_setCallbacks: %s", MQTTAsync_strerror(rc));
	return c;
}

static struct client *
client_new_id(const char *id)
{
	return client_new_id_v(id, 0);
}

/* A client with a fresh id "p<pid>-<tag>-<n>" (short enough for 3.1). */
static struct client *
client_new_v(const char *tag, int v5)
{
	char id[64];

	snprintf(
	    id, sizeof(id), "p%d-%.8s-%d", (int)getpid(), tag, g_nclients++);
	return client_new_id_v(id, v5);
}

static struct client *
client_new(const char *tag)
{
	return client_new_v(tag, 0);
}

/* A client for MQTT 5.0. */
static struct client *
client_new5(const char *tag)
{
	return client_new_v(tag, 1);
}

static void
client_free(struct client *c)
{
	size_t i;

	MQTTAsync_destroy(&c->h);
	for (i = 0; i < c->nrx; i++) {
		free(c->rx[i].topic);
		free(c->rx[i].payload);
		MQTTProperties_free(&c->rx[i].props);
	}
	free(c->rx);
	free(c);
}

/*
 * Start a CONNECT; completion is c->conn != 0. For 5.0, clean is Clean
 * Start and c->session_expiry, when not 0, the Session Expiry Interval.
 */
static void
client_connect_start(struct client *c, int version, int clean, int keepalive,
    MQTTAsync_willOptions *will)
{
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
	MQTTProperties props = MQTTProperties_initializer;
	int rc;

	if (version == MQTTVERSION_5) {
		if (c->session_expiry) {
			MQTTProperty p = {
			    .identifier =
			        MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
			    .value.integer4 = c->session_expiry};

			MQTTProperties_add(&props, &p);
		}
		o = o5;
		o.cleanstart = clean;
		o.connectProperties = &props;
		o.onSuccess5 = on_conn_ok5;
		o.onFailure5 = on_conn_fail5;
	} else {
		o.cleansession = clean;
		o.onSuccess = on_conn_ok;
		o.onFailure = on_conn_fail;
	}
	o.MQTTVersion = version;
	o.keepAliveInterval = keepalive;
	o.will = will;
	o.connectTimeout = WAIT_S;
	o.context = c;
	pthread_mutex_lock(&g_mu);
	c->conn = 0;
	pthread_mutex_unlock(&g_mu);
	rc = MQTTAsync_connect(c->h, &o);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS)
		fail(
		    "MQTTAsync_connect(%s): %s", c->id, MQTTAsync_strerror(rc));
}

/* Connect and wait; returns 1 when up, else -1 with c->conn_code set. */
static int
client_try_connect(struct client *c, int version, int clean, int keepalive,
    MQTTAsync_willOptions *will)
{
	client_connect_start(c, version, clean, keepalive, will);
	WAIT_UNTIL(c->conn != 0, "CONNACK for %s", c->id);
	return c->conn;
}

/* Connect (3.1.1 unless told) or fail; returns the session present flag. */
static int
client_connect_v(struct client *c, int version, int clean)
{
	if (client_try_connect(c, version, clean, 60, NULL) != 1)
		fail("connect %s refused: code %d", c->id, c->conn_code);
	if (c->version != version)
		fail("connect %s: MQTT version %d, asked %d", c->id, c->version,
		    version);
	return c->session_present;
}

static int
client_connect(struct client *c, int clean)
{
	return client_connect_v(c, MQTTVERSION_3_1_1, clean);
}

/*
 * Connect n clients at once (3.1.1 or 5.0 as created, clean session /
 * clean start). Paho's receive thread
 * notices a new socket only when its poll (1 s timeout) returns, so
 * connecting one client after another costs up to a second each.
 */
static void
connect_all(struct client **v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		client_connect_start(v[i],
		    v[i]->v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1, 1, 60, NULL);
	for (i = 0; i < n; i++) {
		WAIT_UNTIL(v[i]->conn != 0, "CONNACK for %s", v[i]->id);
		if (v[i]->conn != 1)
			fail("connect %s refused: code %d", v[i]->id,
			    v[i]->conn_code);
		if (v[i]->v5 && v[i]->version != MQTTVERSION_5)
			fail("connect %s: MQTT version %d, asked 5", v[i]->id,
			    v[i]->version);
	}
}

static void
client_disconnect(struct client *c)
{
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
	MQTTAsync_disconnectOptions o5 =
	    MQTTAsync_disconnectOptions_initializer5;
	int rc;

	if (c->v5) {
		o = o5;
		o.onSuccess5 = on_disc_ok5;
		o.onFailure5 = on_disc_fail5;
	} else {
		o.onSuccess = on_disc_ok;
		o.onFailure = on_disc_fail;
	}
	o.timeout = 0;
	o.context = c;
	pthread_mutex_lock(&g_mu);
	c->disc = 0;
	pthread_mutex_unlock(&g_mu);
	rc = MQTTAsync_disconnect(c->h, &o);
	if (rc != MQTTASYNC_SUCCESS)
		fail("MQTTAsync_disconnect(%s): %s", c->id,
		    MQTTAsync_strerror(rc));
	WAIT_UNTIL(c->disc != 0, "disconnect of %s", c->id);
	if (c->disc != 1)
		fail("disconnect of %s failed", c->id);
}

static void
client_close(struct client *c)
{
	client_disconnect(c);
	client_free(c);
}

/*
 * SUBSCRIBE n filters with options o (5.0 subscribe options and properties
 * or none); fills granted[] (returned), fails on SUBACK error.
 */
static const int *
subscribe_opts(struct client *c, int n, char *const *filters, const int *qos,
    MQTTAsync_responseOptions *o)
{
	int rc, want;

	set_callbacks(o, c, on_sub_ok, on_sub_fail, on_sub_ok5, on_sub_fail5);
	pthread_mutex_lock(&g_mu);
	c->sub_count = n;
	want = c->subs_ok + 1;
	pthread_mutex_unlock(&g_mu);
	if (n == 1)
		rc = MQTTAsync_subscribe(c->h, filters[0], qos[0], o);
	else
		rc = MQTTAsync_subscribeMany(c->h, n, filters, qos, o);
	if (rc != MQTTASYNC_SUCCESS)
		fail("subscribe %s: %s", filters[0], MQTTAsync_strerror(rc));
	WAIT_UNTIL(c->subs_ok >= want || c->subs_fail > 0, "SUBACK for %s",
	    filters[0]);
	if (c->subs_fail > 0)
		fail("subscribe %s by %s failed: %d", filters[0], c->id,
		    c->granted[0]);
	return c->granted;
}

/* SUBSCRIBE n filters; fills granted[] (returned), fails on SUBACK error. */
static const int *
client_subscribe_many(
    struct client *c, int n, char *const *filters, const int *qos)
{
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;

	return subscribe_opts(c, n, filters, qos, &o);
}

/* SUBSCRIBE one filter; the granted QoS must be the one asked for. */
static void
client_subscribe(struct client *c, const char *filter, int qos)
{
	char buf[256];
	char *f[1] = {buf};
	const int *g;

	snprintf(buf, sizeof(buf), "%s", filter);
	g = client_subscribe_many(c, 1, f, &qos);
	if (g[0] != qos)
		fail("subscribe %s at QoS %d: granted %d", filter, qos, g[0]);
}

static void
client_unsubscribe(struct client *c, const char *filter)
{
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	int rc, want;

	set_callbacks(
	    &o, c, on_unsub_ok, on_unsub_fail, on_unsub_ok5, on_unsub_fail5);
	pthread_mutex_lock(&g_mu);
	want = c->unsubs_ok + 1;
	pthread_mutex_unlock(&g_mu);
	rc = MQTTAsync_unsubscribe(c->h, filter, &o);
	if (rc != MQTTASYNC_SUCCESS)
		fail("unsubscribe %s: %s", filter, MQTTAsync_strerror(rc));
	WAIT_UNTIL(c->unsubs_ok >= want || c->unsubs_fail > 0, "UNSUBACK");
	if (c->unsubs_fail > 0)
		fail("unsubscribe %s failed", filter);
}

/*
 * Queue one PUBLISH with 5.0 properties props (or NULL); at most
 * SEND_WINDOW stay unconfirmed. Confirmation (onSuccess) is PUBACK /
 * PUBCOMP, or the write for QoS 0.
 */
static void
client_publish_props(struct client *c, const char *t, const void *payload,
    size_t len, int qos, int retained, const MQTTProperties *props)
{
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message m = MQTTAsync_message_initializer;
	int rc;

	WAIT_UNTIL(c->sent - c->sent_ok - c->sent_fail < SEND_WINDOW,
	    "send window of %s (%d sent, %d confirmed)", c->id, c->sent,
	    c->sent_ok);
	set_callbacks(
	    &o, c, on_sent_ok, on_sent_fail, on_sent_ok5, on_sent_fail5);
	m.payload = xmalloc(len);
	memcpy(m.payload, payload, len);
	m.payloadlen = (int)len;
	m.qos = qos;
	m.retained = retained;
	if (props != NULL)
		m.properties = *props; /* the caller frees them */
	pthread_mutex_lock(&g_mu);
	c->sent++;
	pthread_mutex_unlock(&g_mu);
	rc = MQTTAsync_sendMessage(c->h, t, &m, &o);
	free(m.payload);
	if (rc != MQTTASYNC_SUCCESS)
		fail("publish to %s: %s", t, MQTTAsync_strerror(rc));
}

static void
client_publish(struct client *c, const char *t, const void *payload, size_t len,
    int qos, int retained)
{
	client_publish_props(c, t, payload, len, qos, retained, NULL);
}

static void
client_publish_str(
    struct client *c, const char *t, const char *s, int qos, int retained)
{
	client_publish(c, t, s, strlen(s), qos, retained);
}

/* Wait until every publish of c is confirmed; fail on any failure. */
static void
client_flush(struct client *c)
{
	WAIT_UNTIL(c->sent_ok + c->sent_fail >= c->sent,
	    "confirmation of %d publishes by %s (%d confirmed)", c->sent, c->id,
	    c->sent_ok);
	if (c->sent_fail > 0)
		fail("%d of %d publishes by %s failed", c->sent_fail, c->sent,
		    c->id);
}

static int
client_lost(struct client *c)
{
	int n;

	pthread_mutex_lock(&g_mu);
	n = c->lost;
	pthread_mutex_unlock(&g_mu);
	return n;
}

/* --- received messages --- */

static size_t
rx_count(struct client *c)
{
	size_t n;

	pthread_mutex_lock(&g_mu);
	n = c->nrx;
	pthread_mutex_unlock(&g_mu);
	return n;
}

/* A copy of message i (strings stay owned by c). */
static struct rx
rx_get(struct client *c, size_t i)
{
	struct rx r;

	pthread_mutex_lock(&g_mu);
	if (i >= c->nrx) {
		pthread_mutex_unlock(&g_mu);
		fail("%s: no message #%zu", c->id, i);
	}
	r = c->rx[i];
	pthread_mutex_unlock(&g_mu);
	return r;
}

static void
rx_wait(struct client *c, size_t n)
{
	WAIT_UNTIL(
	    c->nrx >= n, "%zu messages at %s (have %zu)", n, c->id, c->nrx);
}

/* Index of the first message on topic t, waiting for it; fails if none. */
static size_t
rx_wait_topic(struct client *c, const char *t)
{
	size_t i = 0;

	for (;;) {
		rx_wait(c, i + 1);
		if (strcmp(rx_get(c, i).topic, t) == 0)
			return i;
		i++;
	}
}

/*
 * Deliveries on a resumed persistent session may legitimately be resends:
 * a message can reach the broker before the subscriber's DISCONNECT does,
 * go out on the closing connection, and be sent again with DUP set on
 * resume (MQTT-3.3.1-1). Cases where that can happen set this.
 */
static bool rx_resumed;

static void
rx_expect(struct client *c, size_t i, const char *t, const char *payload,
    int qos, int retained)
{
	struct rx r = rx_get(c, i);

	if (strcmp(r.topic, t) != 0)
		fail(
		    "%s msg #%zu: topic '%s', want '%s'", c->id, i, r.topic, t);
	if (r.len != strlen(payload) || memcmp(r.payload, payload, r.len))
		fail("%s msg #%zu on %s: payload '%.40s' (%zu bytes), want "
		     "'%s'",
		    c->id, i, t, r.payload, r.len, payload);
	if (r.qos != qos)
		fail("%s msg #%zu on %s: QoS %d, want %d", c->id, i, t, r.qos,
		    qos);
	if (r.retained != retained)
		fail("%s msg #%zu on %s: retained %d, want %d", c->id, i, t,
		    r.retained, retained);
	/* MQTT-3.3.1-1/-2: every delivery here is a first attempt. */
	if (r.dup != 0 && !rx_resumed)
		fail("%s msg #%zu on %s: DUP set on a first delivery", c->id, i,
		    t);
}

/* Messages from..from+n-1 of c are "seq <k>" on t at qos, k = 0..n-1. */
static void
rx_expect_seq(struct client *c, size_t from, int n, const char *t, int qos)
{
	char want[32];
	int k;

	rx_wait(c, from + (size_t)n);
	for (k = 0; k < n; k++) {
		snprintf(want, sizeof(want), "seq %d", k);
		rx_expect(c, from + (size_t)k, t, want, qos, 0);
	}
}

static void
publish_seq(struct client *c, const char *t, int n, int qos)
{
	char buf[32];
	int k;

	for (k = 0; k < n; k++) {
		snprintf(buf, sizeof(buf), "seq %d", k);
		client_publish_str(c, t, buf, qos, 0);
	}
}

/*
 * Marker proof of absence: c must have received exactly the messages
 * listed in topics[] (count n), in that order, the last being the marker.
 */
static void
rx_expect_only(struct client *c, const char *const *topics, size_t n)
{
	size_t i;

	rx_wait_topic(c, topics[n - 1]);
	if (rx_count(c) != n) {
		for (i = 0; i < rx_count(c); i++)
			fprintf(stderr, "  %s got #%zu on %s\n", c->id, i,
			    rx_get(c, i).topic);
		fail("%s: %zu messages, want %zu", c->id, rx_count(c), n);
	}
	for (i = 0; i < n; i++)
		if (strcmp(rx_get(c, i).topic, topics[i]) != 0)
			fail("%s msg #%zu: topic %s, want %s", c->id, i,
			    rx_get(c, i).topic, topics[i]);
}

/* --- MQTT 5.0 properties --- */

/* Add an integer property (byte, two or four byte, variable) to ps. */
static void
prop_int(MQTTProperties *ps, enum MQTTPropertyCodes id, unsigned v)
{
	MQTTProperty p = {.identifier = id};

	switch (MQTTProperty_getType(id)) {
	case MQTTPROPERTY_TYPE_BYTE:
		p.value.byte = (unsigned char)v;
		break;
	case MQTTPROPERTY_TYPE_TWO_BYTE_INTEGER:
		p.value.integer2 = (unsigned short)v;
		break;
	default:
		p.value.integer4 = v;
	}
	if (MQTTProperties_add(ps, &p) != 0)
		fail("cannot add property %s", MQTTPropertyName(id));
}

/* Add a string or binary property (len bytes of s); paho copies it. */
static void
prop_bytes(
    MQTTProperties *ps, enum MQTTPropertyCodes id, const void *s, size_t len)
{
	MQTTProperty p = {.identifier = id};

	p.value.data.data = xstrndup(s, len);
	p.value.data.len = (int)len;
	if (MQTTProperties_add(ps, &p) != 0)
		fail("cannot add property %s", MQTTPropertyName(id));
	free(p.value.data.data);
}

static void
prop_user(MQTTProperties *ps, const char *k, const char *v)
{
	MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};

	p.value.data.data = xstrndup(k, strlen(k));
	p.value.data.len = (int)strlen(k);
	p.value.value.data = xstrndup(v, strlen(v));
	p.value.value.len = (int)strlen(v);
	if (MQTTProperties_add(ps, &p) != 0)
		fail("cannot add user property %s", k);
	free(p.value.data.data);
	free(p.value.value.data);
}

/* Property id of message i of c, failing when it is absent. */
static MQTTProperty *
rx_prop(struct client *c, size_t i, enum MQTTPropertyCodes id)
{
	struct rx r = rx_get(c, i);
	MQTTProperty *p = MQTTProperties_getProperty(&r.props, id);

	if (p == NULL)
		fail("%s msg #%zu on %s: no %s", c->id, i, r.topic,
		    MQTTPropertyName(id));
	return p;
}

static int
rx_prop_count(struct client *c, size_t i, enum MQTTPropertyCodes id)
{
	struct rx r = rx_get(c, i);

	return MQTTProperties_propertyCount(&r.props, id);
}

/* A string or binary property of message i is exactly len bytes of want. */
static void
rx_expect_bytes(struct client *c, size_t i, enum MQTTPropertyCodes id,
    const void *want, size_t len)
{
	MQTTProperty *p = rx_prop(c, i, id);

	if (rx_prop_count(c, i, id) != 1)
		fail("%s msg #%zu: %d %s properties, want 1", c->id, i,
		    rx_prop_count(c, i, id), MQTTPropertyName(id));
	if ((size_t)p->value.data.len != len ||
	    memcmp(p->value.data.data, want, len) != 0)
		fail("%s msg #%zu: %s '%.*s' (%d bytes), want %zu bytes", c->id,
		    i, MQTTPropertyName(id), p->value.data.len,
		    p->value.data.data, p->value.data.len, len);
}

/* Message i carries exactly the n user properties kv[], in that order. */
static void
rx_expect_user(struct client *c, size_t i, const char *const (*kv)[2], int n)
{
	struct rx r = rx_get(c, i);
	int k, have = rx_prop_count(c, i, MQTTPROPERTY_CODE_USER_PROPERTY);

	if (have != n)
		fail("%s msg #%zu on %s: %d user properties, want %d", c->id, i,
		    r.topic, have, n);
	for (k = 0; k < n; k++) {
		MQTTProperty *p = MQTTProperties_getPropertyAt(
		    &r.props, MQTTPROPERTY_CODE_USER_PROPERTY, k);
		MQTTLenString *ks = &p->value.data, *vs = &p->value.value;

		if ((size_t)ks->len != strlen(kv[k][0]) ||
		    memcmp(ks->data, kv[k][0], (size_t)ks->len) != 0 ||
		    (size_t)vs->len != strlen(kv[k][1]) ||
		    memcmp(vs->data, kv[k][1], (size_t)vs->len) != 0)
			fail("%s msg #%zu: user property #%d is '%.*s'='%.*s', "
			     "want '%s'='%s'",
			    c->id, i, k, ks->len, ks->data, vs->len, vs->data,
			    kv[k][0], kv[k][1]);
	}
}

/*
 * SUBSCRIBE one filter from a 5.0 client with the No Local option and,
 * when sub_id is not 0, a Subscription Identifier; the reason code must
 * be the QoS asked for.
 */
static void
client_subscribe5(
    struct client *c, const char *filter, int qos, int no_local, int sub_id)
{
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	char buf[256];
	char *f[1] = {buf};
	const int *g;

	snprintf(buf, sizeof(buf), "%s", filter);
	o.subscribeOptions.noLocal = (unsigned char)no_local;
	if (sub_id != 0)
		prop_int(&o.properties,
		    MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER,
		    (unsigned)sub_id);
	g = subscribe_opts(c, 1, f, &qos, &o);
	MQTTProperties_free(&o.properties);
	if (g[0] != qos)
		fail("subscribe %s at QoS %d: reason code %d", filter, qos,
		    g[0]);
}

/* --- cases --- */

/*
 * Connect id with a new handle, disconnect, destroy; returns session
 * present. With no handle left paho restarts its threads, whose first
 * poll is short, so a sequence of these is fast (see connect_all).
 */
static int
connect_once(const char *id, int clean)
{
	struct client *c = client_new_id(id);
	int sp = client_connect(c, clean);

	client_close(c);
	return sp;
}

static void
case_connect_v311(void)
{
	char id[64];

	snprintf(id, sizeof(id), "p%d-v311", (int)getpid());
	if (connect_once(id, 1) != 0)
		fail("clean session: session present 1");
	if (connect_once(id, 0) != 0)
		fail("first persistent connect: session present 1");
	if (connect_once(id, 0) != 1)
		fail("persistent reconnect: session present 0");
	/* MQTT-3.2.2-1: clean session -> session present 0 ... */
	if (connect_once(id, 1) != 0)
		fail("clean reconnect: session present 1 (MQTT-3.2.2-1)");
	/* ... and MQTT-3.1.2-6: the old session is gone. */
	if (connect_once(id, 0) != 0)
		fail("persistent after clean: session present 1 "
		     "(MQTT-3.1.2-6)");
	connect_once(id, 1);
}

static void
case_connect_v31(void)
{
	struct client *c = client_new("v31");
	char t[128];

	client_connect_v(c, MQTTVERSION_3_1, 1);
	topic(t, sizeof(t), "v31");
	client_subscribe(c, t, 1);
	client_publish_str(c, t, "hello 3.1", 1, 0);
	client_flush(c);
	rx_wait(c, 1);
	rx_expect(c, 0, t, "hello 3.1", 1, 0);
	client_close(c);
}

/* README: client ids of any length are accepted, for 3.1 too. */
static void
case_connect_v31_long_id(void)
{
	char id[64];
	struct client *c;

	snprintf(id, sizeof(id), "p%d-a-3.1-client-id-longer-than-23",
	    (int)getpid());
	c = client_new_id(id);
	client_connect_v(c, MQTTVERSION_3_1, 1);
	client_close(c);
}

/* MQTT-3.1.3-6/-8: empty id ok with clean session, else CONNACK 0x02. */
static void
case_connect_empty_id(void)
{
	struct client *c;

	connect_once("", 1);
	c = client_new_id("");
	if (client_try_connect(c, MQTTVERSION_3_1_1, 0, 60, NULL) == 1)
		fail("empty id without clean session accepted");
	if (c->conn_code != 2)
		fail("empty id without clean session: code %d, want 2",
		    c->conn_code);
	client_free(c);
}

/* README: keep alive over max_keepalive (config 30) -> CONNACK 0x02. */
static void
case_keepalive_limit(void)
{
	struct client *c = client_new("ka");

	if (client_try_connect(c, MQTTVERSION_3_1_1, 1, 60, NULL) == 1)
		fail("keep alive 60 accepted with max_keepalive 30");
	if (c->conn_code != 2)
		fail("keep alive 60: code %d, want 2", c->conn_code);
	client_free(c);
	c = client_new("ka");
	if (client_try_connect(c, MQTTVERSION_3_1_1, 1, 20, NULL) != 1)
		fail("keep alive 20 refused: code %d", c->conn_code);
	client_close(c);
}

/*
 * Publisher at QoS q; subscribers at QoS 0, 1, 2 get min(q, sub). Then a
 * stream of n numbered messages must arrive complete and in order.
 */
static void
pubsub(int q, int n)
{
	struct client *pub = client_new("pub"), *sub[3], *bulk;
	char t[128], tb[128], suffix[32], hello[32];
	int s;

	snprintf(suffix, sizeof(suffix), "pubsub/q%d", q);
	topic(t, sizeof(t), suffix);
	snprintf(suffix, sizeof(suffix), "pubsub/q%d/bulk", q);
	topic(tb, sizeof(tb), suffix);
	for (s = 0; s < 3; s++)
		sub[s] = client_new("sub");
	bulk = client_new("bulk");
	{
		struct client *v[] = {pub, sub[0], sub[1], sub[2], bulk};

		connect_all(v, 5);
	}
	for (s = 0; s < 3; s++)
		client_subscribe(sub[s], t, s);
	client_subscribe(bulk, tb, q);
	snprintf(hello, sizeof(hello), "hello at QoS %d", q);
	client_publish_str(pub, t, hello, q, 0);
	client_flush(pub);
	for (s = 0; s < 3; s++) {
		rx_wait(sub[s], 1);
		rx_expect(sub[s], 0, t, hello, s < q ? s : q, 0);
	}
	publish_seq(pub, tb, n, q);
	client_flush(pub);
	rx_expect_seq(bulk, 0, n, tb, q);
	for (s = 0; s < 3; s++)
		client_close(sub[s]);
	client_close(bulk);
	client_close(pub);
}

static void
case_pubsub_qos0(void)
{
	pubsub(0, 100);
}

static void
case_pubsub_qos1(void)
{
	pubsub(1, 1000);
}

static void
case_pubsub_qos2(void)
{
	pubsub(2, 200);
}

static void
case_wildcards(void)
{
	struct client *pub = client_new("pub"), *plus = client_new("plus"),
	              *hash = client_new("hash"), *all = client_new("all"),
	              *first = client_new("first"),
	              *dollar = client_new("dollar");
	char bc[128], bxc[128], w[128], mark[128], f[128], pw[64], dw[64];
	char df[64];

	topic(bc, sizeof(bc), "w/b/c");
	topic(bxc, sizeof(bxc), "w/b/x/c");
	topic(w, sizeof(w), "w");
	topic(mark, sizeof(mark), "mark");
	snprintf(pw, sizeof(pw), "p%d/w", (int)getpid());
	snprintf(dw, sizeof(dw), "$p%d/w", (int)getpid());
	snprintf(df, sizeof(df), "$p%d/#", (int)getpid());
	{
		struct client *v[] = {pub, plus, hash, all, first, dollar};

		connect_all(v, 6);
	}
	client_subscribe(plus, topic(f, sizeof(f), "w/+/c"), 1);
	client_subscribe(plus, mark, 1);
	client_subscribe(hash, topic(f, sizeof(f), "w/#"), 1);
	client_subscribe(hash, mark, 1);
	client_subscribe(all, "#", 1);
	client_subscribe(first, "+/w", 1);
	client_subscribe(first, mark, 1);
	client_subscribe(dollar, df, 1);
	client_subscribe(dollar, mark, 1);

	client_publish_str(pub, bc, "1", 1, 0);
	client_publish_str(pub, bxc, "2", 1, 0);
	client_publish_str(pub, w, "3", 1, 0);
	client_publish_str(pub, pw, "4", 1, 0);
	client_publish_str(pub, dw, "5", 1, 0);
	client_publish_str(pub, mark, "end", 1, 0);
	client_flush(pub);
	{
		const char *e_plus[] = {bc, mark};
		const char *e_hash[] = {bc, bxc, w, mark};
		const char *e_all[] = {bc, bxc, w, pw, mark};
		const char *e_first[] = {pw, mark};
		const char *e_dollar[] = {dw, mark};

		rx_expect_only(plus, e_plus, 2);
		/* "#" also matches the parent level ("w/#" matches "w"). */
		rx_expect_only(hash, e_hash, 4);
		/* MQTT-4.7.2-1: "#" and "+/w" do not match "$p<pid>/w". */
		rx_expect_only(all, e_all, 5);
		rx_expect_only(first, e_first, 2);
		rx_expect_only(dollar, e_dollar, 2);
	}
	client_close(pub);
	client_close(plus);
	client_close(hash);
	client_close(all);
	client_close(first);
	client_close(dollar);
}

static void
case_retained(void)
{
	struct client *pub = client_new("pub"), *live = client_new("live");
	struct client *late = client_new("late"), *after = client_new("after");
	struct client *v[] = {pub, live, late, after};
	char t[128], ctl[128];

	topic(t, sizeof(t), "ret");
	topic(ctl, sizeof(ctl), "ret-ctl");
	connect_all(v, 4);
	client_subscribe(live, t, 1);
	client_publish_str(pub, t, "r1", 1, 1);
	client_publish_str(pub, t, "r2", 1, 1);
	client_flush(pub);
	/* MQTT-3.3.1-9: live delivery has retain 0. */
	rx_wait(live, 2);
	rx_expect(live, 0, t, "r1", 1, 0);
	rx_expect(live, 1, t, "r2", 1, 0);

	/* A new subscriber gets the last retained message only, retain 1. */
	client_subscribe(late, t, 2);
	client_subscribe(late, ctl, 1);
	client_publish_str(late, ctl, "marker", 1, 0);
	client_flush(late);
	rx_wait_topic(late, ctl);
	if (rx_count(late) != 2)
		fail("late subscriber: %zu messages, want r2 + marker",
		    rx_count(late));
	rx_expect(late, 0, t, "r2", 1, 1);
	rx_expect(late, 1, ctl, "marker", 1, 0);

	/* An empty retained message clears it and reaches live subscribers. */
	client_publish_str(pub, t, "", 1, 1);
	client_flush(pub);
	rx_wait(live, 3);
	rx_expect(live, 2, t, "", 1, 0);
	client_subscribe(after, t, 1);
	client_subscribe(after, ctl, 1);
	client_publish_str(after, ctl, "marker", 1, 0);
	client_flush(after);
	{
		const char *e_after[] = {ctl};

		rx_expect_only(after, e_after, 1);
	}
	client_close(after);
	client_close(late);
	client_close(live);
	client_close(pub);
}

static void
case_persistent_session(void)
{
	struct client *p = client_new("pers"), *pub = client_new("pub");
	char t1[128], t2[128], id[128];

	topic(t1, sizeof(t1), "pers/q1");
	topic(t2, sizeof(t2), "pers/q2");
	snprintf(id, sizeof(id), "%s", p->id);
	client_connect_start(pub, MQTTVERSION_3_1_1, 1, 60, NULL);
	client_connect(p, 0);
	client_subscribe(p, t1, 1);
	client_subscribe(p, t2, 2);
	client_close(p);

	WAIT_UNTIL(pub->conn != 0, "CONNACK for %s", pub->id);
	if (pub->conn != 1)
		fail("publisher refused: %d", pub->conn_code);
	publish_seq(pub, t1, 50, 1);
	publish_seq(pub, t2, 20, 2);
	client_flush(pub);
	client_close(pub);

	p = client_new_id(id);
	if (client_connect(p, 0) != 1)
		fail("persistent reconnect: session present 0");
	rx_resumed = true;
	rx_wait(p, 70);
	{
		size_t i, n1 = 0, n2 = 0;
		char want[32];

		for (i = 0; i < 70; i++) {
			struct rx r = rx_get(p, i);
			bool q1 = strcmp(r.topic, t1) == 0;

			snprintf(want, sizeof(want), "seq %zu", q1 ? n1 : n2);
			rx_expect(p, i, q1 ? t1 : t2, want, q1 ? 1 : 2, 0);
			*(q1 ? &n1 : &n2) += 1;
		}
	}
	client_close(p);
	connect_once(id, 1); /* drop the session */
}

/*
 * Hidden mode "--will-child HOST PORT TOPIC RETAIN": connect with a will
 * (QoS 1, retain flag RETAIN), report
 * on stdout, then die without DISCONNECT so the broker sees a bare EOF.
 */
static int
will_child(const char *t, const char *retain)
{
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	struct client *c = client_new("child");

	will.topicName = t;
	will.message = "child died";
	will.qos = 1;
	will.retained = strcmp(retain, "1") == 0;
	if (client_try_connect(c, MQTTVERSION_3_1_1, 1, 60, &will) != 1)
		fail("will child: connect refused: %d", c->conn_code);
	printf("connected\n");
	fflush(stdout);
	_exit(0);
}

static void
spawn_will_child(const char *t, int retained)
{
	int fds[2], st;
	pid_t pid;
	struct pollfd pfd;
	char buf[64];
	ssize_t n;

	if (pipe(fds) != 0)
		fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/proc/self/exe", "paho_client", "--will-child", g_host,
		    g_port, t, retained ? "1" : "0", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, WAIT_S * 1000) != 1)
		fail("will child did not report");
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0 || n <= 0)
		fail("will child failed (status %d)", st);
}

static void
case_will(void)
{
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	struct client *sub = client_new("sub"), *clean = client_new("clean");
	struct client *pub;
	char t[128], mark[128];

	topic(t, sizeof(t), "will");
	topic(mark, sizeof(mark), "will-mark");
	will.topicName = t;
	will.message = "must not appear";
	will.qos = 1;
	client_connect_start(clean, MQTTVERSION_3_1_1, 1, 60, &will);
	client_connect(sub, 1);
	client_subscribe(sub, t, 2);
	client_subscribe(sub, mark, 1);

	spawn_will_child(t, 0);
	rx_wait(sub, 1);
	rx_expect(sub, 0, t, "child died", 1, 0);

	/* MQTT-3.1.2-10: a DISCONNECT discards the will. */
	WAIT_UNTIL(clean->conn != 0, "CONNACK for %s", clean->id);
	if (clean->conn != 1)
		fail("connect with will refused: %d", clean->conn_code);
	client_close(clean);
	/*
	 * The marker comes from a connection opened after the close, so the
	 * broker has long seen the DISCONNECT when it routes the marker.
	 */
	pub = client_new("pub");
	client_connect(pub, 1);
	client_publish_str(pub, mark, "marker", 1, 0);
	client_flush(pub);
	{
		const char *e_sub[] = {t, mark};

		rx_expect_only(sub, e_sub, 2);
	}
	client_close(pub);
	client_close(sub);
}

/* A retained will: live delivery has retain 0, a later subscriber 1. */
static void
case_will_retained(void)
{
	struct client *sub = client_new("sub"), *late = client_new("late");
	struct client *v[] = {sub, late};
	char t[128];

	topic(t, sizeof(t), "will-ret");
	connect_all(v, 2);
	client_subscribe(sub, t, 1);
	spawn_will_child(t, 1);
	rx_wait(sub, 1);
	rx_expect(sub, 0, t, "child died", 1, 0);
	client_subscribe(late, t, 1);
	rx_wait(late, 1);
	rx_expect(late, 0, t, "child died", 1, 1);
	client_publish_str(late, t, "", 1, 1); /* leave no retained message */
	client_flush(late);
	client_close(late);
	client_close(sub);
}

static void
case_takeover(void)
{
	struct client *a = client_new("take"), *b;
	char t[128];

	client_connect(a, 1);
	b = client_new_id(a->id);
	client_connect(b, 1);
	/* MQTT-3.1.4-2: the existing connection is closed. */
	WAIT_UNTIL(a->lost > 0, "connectionLost of the first %s", a->id);
	topic(t, sizeof(t), "take");
	client_subscribe(b, t, 1);
	client_publish_str(b, t, "still here", 1, 0);
	client_flush(b);
	rx_wait(b, 1);
	rx_expect(b, 0, t, "still here", 1, 0);
	if (client_lost(b))
		fail("second connection lost too");
	client_free(a);
	client_close(b);
}

/* README: overlapping subscriptions give one copy at the highest QoS. */
static void
case_overlap(void)
{
	struct client *sub = client_new("sub"), *pub = client_new("pub");
	struct client *v[] = {sub, pub};
	char t[128], f[128], mark[128];
	const char *e_sub[] = {t, mark};

	topic(t, sizeof(t), "ov/a");
	topic(mark, sizeof(mark), "ov-mark");
	connect_all(v, 2);
	client_subscribe(sub, topic(f, sizeof(f), "ov/#"), 0);
	client_subscribe(sub, t, 2);
	/*
	 * Paho hands a QoS 2 message over at PUBREL, after a QoS 1 message
	 * that followed it: the marker is QoS 2 too to keep the order.
	 */
	client_subscribe(sub, mark, 2);
	client_publish_str(pub, t, "once", 2, 0);
	client_publish_str(pub, mark, "marker", 2, 0);
	client_flush(pub);
	rx_expect_only(sub, e_sub, 2);
	rx_expect(sub, 0, t, "once", 2, 0);
	client_close(pub);
	client_close(sub);
}

/*
 * README: QoS 0 messages for an offline persistent session are dropped;
 * the QoS 1 message published after it must be the first delivered.
 */
static void
case_offline_qos0(void)
{
	struct client *p = client_new("off"), *pub = client_new("pub");
	char t[128], id[128];
	const char *e_p[] = {t, t};

	topic(t, sizeof(t), "off");
	snprintf(id, sizeof(id), "%s", p->id);
	client_connect_start(pub, MQTTVERSION_3_1_1, 1, 60, NULL);
	client_connect(p, 0);
	client_subscribe(p, t, 1);
	client_close(p);
	WAIT_UNTIL(pub->conn != 0, "CONNACK for %s", pub->id);
	if (pub->conn != 1)
		fail("publisher refused: %d", pub->conn_code);
	client_publish_str(pub, t, "qos0", 0, 0);
	client_publish_str(pub, t, "qos1", 1, 0);
	client_flush(pub);
	p = client_new_id(id);
	if (client_connect(p, 0) != 1)
		fail("persistent reconnect: session present 0");
	rx_wait(p, 1);
	rx_expect(p, 0, t, "qos1", 1, 0);
	client_publish_str(pub, t, "live", 1, 0);
	client_flush(pub);
	rx_expect_only(p, e_p, 2);
	rx_expect(p, 1, t, "live", 1, 0);
	client_close(pub);
	client_close(p);
	connect_once(id, 1); /* drop the session */
}

static void
case_unsubscribe(void)
{
	struct client *sub = client_new("sub"), *pub = client_new("pub");
	char t[128], mark[128];

	topic(t, sizeof(t), "unsub");
	topic(mark, sizeof(mark), "unsub-mark");
	{
		struct client *v[] = {sub, pub};

		connect_all(v, 2);
	}
	client_subscribe(sub, t, 1);
	client_subscribe(sub, mark, 1);
	client_publish_str(pub, t, "before", 1, 0);
	client_flush(pub);
	rx_wait(sub, 1);
	rx_expect(sub, 0, t, "before", 1, 0);
	client_unsubscribe(sub, t);
	client_publish_str(pub, t, "after", 1, 0);
	client_publish_str(pub, mark, "marker", 1, 0);
	client_flush(pub);
	{
		const char *e_sub[] = {t, mark};

		rx_expect_only(sub, e_sub, 2);
	}
	client_close(pub);
	client_close(sub);
}

static void
case_large_payload(void)
{
	struct client *sub = client_new("sub"), *pub = client_new("pub");
	size_t i, n = 1024 * 1024;
	unsigned char *p = xmalloc(n);
	char t[128];
	struct rx r;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 2654435761u) >> 13);
	topic(t, sizeof(t), "large");
	{
		struct client *v[] = {sub, pub};

		connect_all(v, 2);
	}
	client_subscribe(sub, t, 1);
	client_publish(pub, t, p, n, 1, 0);
	client_flush(pub);
	rx_wait(sub, 1);
	r = rx_get(sub, 0);
	if (r.len != n || memcmp(r.payload, p, n) != 0 || r.qos != 1)
		fail("1 MiB payload: got %zu bytes QoS %d, content %s", r.len,
		    r.qos, r.len == n ? "differs" : "-");
	free(p);
	client_close(pub);
	client_close(sub);
}

#define MANY 200

static void
case_many_clients(void)
{
	struct client *c[MANY], *pub = client_new("pub");
	char t[128], s[32];
	int i;

	for (i = 0; i < MANY; i++)
		c[i] = client_new("many");
	client_connect_start(pub, MQTTVERSION_3_1_1, 1, 60, NULL);
	connect_all(c, MANY);
	for (i = 0; i < MANY; i++) {
		snprintf(s, sizeof(s), "many/%d", i);
		client_subscribe(c[i], topic(t, sizeof(t), s), 1);
	}
	WAIT_UNTIL(pub->conn != 0, "CONNACK for %s", pub->id);
	if (pub->conn != 1)
		fail("publisher refused: %d", pub->conn_code);
	for (i = 0; i < MANY; i++) {
		snprintf(s, sizeof(s), "many/%d", i);
		client_publish_str(pub, topic(t, sizeof(t), s), s, 1, 0);
	}
	client_flush(pub);
	for (i = 0; i < MANY; i++) {
		snprintf(s, sizeof(s), "many/%d", i);
		rx_wait(c[i], 1);
		rx_expect(c[i], 0, topic(t, sizeof(t), s), s, 1, 0);
	}
	for (i = 0; i < MANY; i++)
		if (rx_count(c[i]) != 1)
			fail("client %d got %zu messages", i, rx_count(c[i]));
	for (i = 0; i < MANY; i++)
		client_close(c[i]);
	client_close(pub);
}

static void
case_multi_subscribe(void)
{
	struct client *sub = client_new("sub"), *pub = client_new("pub");
	char f[3][128], *fp[3] = {f[0], f[1], f[2]};
	const int qos[3] = {0, 1, 2};
	const int *g;
	int i;

	topic(f[0], sizeof(f[0]), "multi/0");
	topic(f[1], sizeof(f[1]), "multi/1");
	topic(f[2], sizeof(f[2]), "multi/2");
	{
		struct client *v[] = {sub, pub};

		connect_all(v, 2);
	}
	g = client_subscribe_many(sub, 3, fp, qos);
	for (i = 0; i < 3; i++)
		if (g[i] != qos[i])
			fail("granted[%d] = %d, want %d", i, g[i], qos[i]);
	for (i = 0; i < 3; i++)
		client_publish_str(pub, f[i], "m", 2, 0);
	client_flush(pub);
	/* One publisher, three topics: match by topic, not position. */
	for (i = 0; i < 3; i++)
		rx_expect(sub, rx_wait_topic(sub, f[i]), f[i], "m", qos[i], 0);
	client_close(pub);
	client_close(sub);
}

/* README: an invalid filter (a/#/b) closes the connection (MQTT 4.8). */
static void
case_bad_filter(void)
{
	struct client *c = client_new("bad");
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	char f[128];
	int rc;

	client_connect(c, 1);
	topic(f, sizeof(f), "a/#/b");
	o.onSuccess = on_sub_ok;
	o.onFailure = on_sub_fail;
	o.context = c;
	c->sub_count = 1;
	rc = MQTTAsync_subscribe(c->h, f, 1, &o);
	if (rc != MQTTASYNC_SUCCESS)
		fail("subscribe %s: %s", f, MQTTAsync_strerror(rc));
	WAIT_UNTIL(c->lost > 0, "close after SUBSCRIBE %s", f);
	if (c->subs_ok)
		fail("SUBACK for invalid filter %s", f);
	client_free(c);
}

/*
 * Publish, expecting the connection to be closed and nothing delivered;
 * the marker comes from another client after the close.
 */
static void
publish_refused(const void *payload, size_t len, int retained)
{
	struct client *sub = client_new("sub"), *pub = client_new("pub");
	struct client *p2 = client_new("pub2"), *v[] = {sub, pub, p2};
	char t[128], mark[128];

	topic(t, sizeof(t), "refused");
	topic(mark, sizeof(mark), "refused-mark");
	connect_all(v, 3);
	client_subscribe(sub, t, 1);
	client_subscribe(sub, mark, 1);
	client_publish(pub, t, payload, len, 1, retained);
	WAIT_UNTIL(pub->lost > 0, "broker to close the publisher");
	if (pub->sent_ok)
		fail("refused publish was acknowledged");
	client_publish_str(p2, mark, "marker", 1, 0);
	client_flush(p2);
	{
		const char *e_sub[] = {mark};

		rx_expect_only(sub, e_sub, 1);
	}
	client_close(p2);
	client_free(pub);
	client_close(sub);
}

/* README: payload over message_size_limit (config 1000) closes 3.x. */
static void
case_size_limit(void)
{
	char p[2000];

	memset(p, 'x', sizeof(p));
	publish_refused(p, sizeof(p), 0);
}

/* README: retain_available false + retained PUBLISH closes 3.x. */
static void
case_retain_unavailable(void)
{
	publish_refused("r", 1, 1);
}

/*
 * --- STOMP, for the cross-protocol cases: a minimal blocking client on a
 * raw socket (the STOMP port comes from JUNCTION_STOMP_PORT) ---
 */

static int
stomp_open(void)
{
	const char *port = getenv("JUNCTION_STOMP_PORT");
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (port == NULL || fd < 0)
		fail("no JUNCTION_STOMP_PORT or socket: %s", strerror(errno));
	sa.sin_port = htons((uint16_t)atoi(port));
	sa.sin_addr.s_addr = htonl(0x7f000001);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail("STOMP connect: %s", strerror(errno));
	return fd;
}

static void
stomp_put(int fd, const char *frame)
{
	size_t n = strlen(frame) + 1; /* the NUL ends the frame */

	if (write(fd, frame, n) != (ssize_t)n)
		fail("STOMP write: %s", strerror(errno));
}

/* Read one frame (up to its NUL) into buf within 10 s; skips heart-beats. */
static void
stomp_get(int fd, char *buf, size_t cap)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t n = 0;
	char ch;

	while (n + 1 < cap) {
		if (poll(&p, 1, 10000) != 1 || read(fd, &ch, 1) != 1)
			fail("STOMP read: no frame (got '%.*s')", (int)n, buf);
		if (ch == '\0')
			break;
		if (n == 0 && (ch == '\n' || ch == '\r'))
			continue;
		buf[n++] = ch;
	}
	buf[n] = '\0';
}

/* Read frames until one starts with cmd; fails on ERROR. */
static void
stomp_expect(int fd, const char *cmd, char *buf, size_t cap)
{
	stomp_get(fd, buf, cap);
	if (strncmp(buf, cmd, strlen(cmd)) != 0)
		fail("STOMP: wanted %s, got '%s'", cmd, buf);
}

static int
stomp_connected(void)
{
	char buf[1024];
	int fd = stomp_open();

	stomp_put(fd,
	    "CONNECT\naccept-version:1.2\nhost:localhost\n"
	    "login:guest\npasscode:guest\n\n");
	stomp_expect(fd, "CONNECTED", buf, sizeof(buf));
	return fd;
}

/*
 * STOMP SEND to /topic/... reaches a paho subscriber on the MQTT name: '.'
 * separates levels in STOMP, and a '/' in a STOMP name is a '.' inside an
 * MQTT level (DESIGN.md). SEND is QoS 1 for MQTT subscribers.
 */
static void
case_stomp_to_paho(void)
{
	struct client *sub = client_new("xsub");
	char t[128], frame[512], buf[1024];
	int fd;

	snprintf(t, sizeof(t), "x%d/a.b/c", (int)getpid());
	client_connect(sub, 1);
	client_subscribe(sub, t, 1);
	fd = stomp_connected();
	snprintf(frame, sizeof(frame),
	    "SEND\ndestination:/topic/x%d.a/b.c\ncontent-type:text/plain\n"
	    "receipt:r1\n\nfrom stomp",
	    (int)getpid());
	stomp_put(fd, frame);
	stomp_expect(fd, "RECEIPT", buf, sizeof(buf));
	rx_wait(sub, 1);
	rx_expect(sub, 0, t, "from stomp", 1, 0);
	close(fd);
	client_close(sub);
}

/* A paho publish reaches a STOMP wildcard subscriber with its STOMP name. */
static void
case_paho_to_stomp(void)
{
	struct client *pub = client_new("xpub");
	char t[128], frame[512], buf[2048], want[128];
	int fd = stomp_connected();

	snprintf(frame, sizeof(frame),
	    "SUBSCRIBE\nid:1\ndestination:/topic/y%d.#\nack:auto\n"
	    "receipt:s1\n\n",
	    (int)getpid());
	stomp_put(fd, frame);
	stomp_expect(fd, "RECEIPT", buf, sizeof(buf));
	snprintf(t, sizeof(t), "y%d/a.b/c", (int)getpid());
	client_connect(pub, 1);
	client_publish_str(pub, t, "from paho", 1, 0);
	stomp_expect(fd, "MESSAGE", buf, sizeof(buf));
	snprintf(want, sizeof(want), "\ndestination:/topic/y%d.a/b.c\n",
	    (int)getpid());
	if (strstr(buf, want) == NULL || strstr(buf, "\n\nfrom paho") == NULL)
		fail("STOMP MESSAGE lacks '%s' or the body: '%s'", want, buf);
	close(fd);
	client_close(pub);
}

/* /queue/NAME filled over STOMP is $queue/NAME for a paho consumer. */
static void
case_stomp_queue_to_paho(void)
{
	struct client *w = client_new("xq");
	char q[64], frame[512], buf[1024];
	int fd = stomp_connected();

	snprintf(q, sizeof(q), "$queue/xq%d", (int)getpid());
	for (int i = 0; i < 3; i++) {
		snprintf(frame, sizeof(frame),
		    "SEND\ndestination:/queue/xq%d\nreceipt:r%d\n\njob %d",
		    (int)getpid(), i, i);
		stomp_put(fd, frame);
		stomp_expect(fd, "RECEIPT", buf, sizeof(buf));
	}
	client_connect(w, 1);
	client_subscribe(w, q, 1);
	rx_wait(w, 3);
	for (size_t i = 0; i < 3; i++) {
		char want[16];

		snprintf(want, sizeof(want), "job %zu", i);
		rx_expect(w, i, q, want, 1, 0);
	}
	close(fd);
	client_close(w);
}

/* --- MQTT 5.0 cases --- */

/*
 * MQTT-3.3.2-15..-18: Payload Format Indicator, Content Type, Response
 * Topic, Correlation Data and User Properties (a key repeated, order kept)
 * reach the subscriber unchanged, and nothing is added.
 */
static void
case_v5_properties(void)
{
	struct client *sub = client_new5("sub"), *pub = client_new5("pub");
	struct client *v[] = {sub, pub};
	static const char corr[] = {'\0', 'c', 'o', 'r', 'r', '\xff'};
	static const char *const user[][2] = {
	    {"k", "first"}, {"other", "x"}, {"k", "second"}};
	const char *ctype = "application/json; charset=utf-8";
	const char *body = "{\"n\": 1}";
	MQTTProperties props = MQTTProperties_initializer;
	char t[128], reply[128];
	int n;

	topic(t, sizeof(t), "v5props");
	topic(reply, sizeof(reply), "v5props/reply");
	connect_all(v, 2);
	client_subscribe5(sub, t, 1, 0, 0);
	prop_int(&props, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR, 1);
	prop_bytes(
	    &props, MQTTPROPERTY_CODE_CONTENT_TYPE, ctype, strlen(ctype));
	prop_bytes(
	    &props, MQTTPROPERTY_CODE_RESPONSE_TOPIC, reply, strlen(reply));
	prop_bytes(
	    &props, MQTTPROPERTY_CODE_CORRELATION_DATA, corr, sizeof(corr));
	for (n = 0; n < 3; n++)
		prop_user(&props, user[n][0], user[n][1]);
	client_publish_props(pub, t, body, strlen(body), 1, 0, &props);
	client_flush(pub);
	MQTTProperties_free(&props);
	rx_wait(sub, 1);
	rx_expect(sub, 0, t, body, 1, 0);
	if (rx_prop(sub, 0, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR)
	        ->value.byte != 1)
		fail("payload format indicator not 1");
	rx_expect_bytes(
	    sub, 0, MQTTPROPERTY_CODE_CONTENT_TYPE, ctype, strlen(ctype));
	rx_expect_bytes(
	    sub, 0, MQTTPROPERTY_CODE_RESPONSE_TOPIC, reply, strlen(reply));
	rx_expect_bytes(
	    sub, 0, MQTTPROPERTY_CODE_CORRELATION_DATA, corr, sizeof(corr));
	rx_expect_user(sub, 0, user, 3);
	n = rx_get(sub, 0).props.count;
	if (n != 7)
		fail("%d properties delivered, want the 7 published", n);
	client_close(pub);
	client_close(sub);
}

/*
 * README (one copy for overlapping subscriptions) and MQTT-3.3.4-4:
 * a message matching "a/#" (id 5) and "a/b" (id 7) arrives once with both
 * identifiers; a subscription without one adds none.
 */
static void
case_v5_sub_ids(void)
{
	struct client *sub = client_new5("sub"), *pub = client_new5("pub");
	struct client *v[] = {sub, pub};
	char f[128], ab[128], mark[128];
	const char *e_sub[] = {ab, mark};
	int n, k, ids[2];

	topic(f, sizeof(f), "sid/a/#");
	topic(ab, sizeof(ab), "sid/a/b");
	topic(mark, sizeof(mark), "sid-mark");
	connect_all(v, 2);
	client_subscribe5(sub, f, 1, 0, 5);
	client_subscribe5(sub, ab, 1, 0, 7);
	client_subscribe5(sub, mark, 1, 0, 0);
	client_publish_str(pub, ab, "both", 1, 0);
	client_publish_str(pub, mark, "marker", 1, 0);
	client_flush(pub);
	rx_expect_only(sub, e_sub, 2);
	rx_expect(sub, 0, ab, "both", 1, 0);
	n = rx_prop_count(sub, 0, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
	if (n != 2)
		fail("%d subscription identifiers, want 2 (5 and 7)", n);
	for (k = 0; k < 2; k++) {
		struct rx r = rx_get(sub, 0);

		ids[k] = MQTTProperties_getNumericValueAt(
		    &r.props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER, k);
	}
	if (!((ids[0] == 5 && ids[1] == 7) || (ids[0] == 7 && ids[1] == 5)))
		fail("subscription identifiers %d and %d, want 5 and 7", ids[0],
		    ids[1]);
	n = rx_prop_count(sub, 1, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
	if (n != 0)
		fail("marker carries %d subscription identifiers, want 0", n);
	client_close(pub);
	client_close(sub);
}

/*
 * MQTT-3.8.3-3: with No Local a client does not get its own message; it
 * still gets another client's on the same topic, then that one's marker.
 */
static void
case_v5_no_local(void)
{
	struct client *me = client_new5("me"), *other = client_new5("other");
	struct client *v[] = {me, other};
	char t[128], mark[128];
	const char *e_me[] = {t, mark};

	topic(t, sizeof(t), "nolocal");
	topic(mark, sizeof(mark), "nolocal-mark");
	connect_all(v, 2);
	client_subscribe5(me, t, 1, 1, 0);
	client_subscribe5(me, mark, 1, 0, 0);
	client_publish_str(me, t, "own", 1, 0);
	client_flush(me);
	client_publish_str(other, t, "other's", 1, 0);
	client_publish_str(other, mark, "marker", 1, 0);
	client_flush(other);
	rx_expect_only(me, e_me, 2);
	rx_expect(me, 0, t, "other's", 1, 0);
	client_close(other);
	client_close(me);
}

#define SHARED_N 10

/* Messages of c on topic t so far (the caller holds no lock). */
static int
rx_count_topic(struct client *c, const char *t)
{
	size_t i;
	int n = 0;

	for (i = 0; i < rx_count(c); i++)
		n += strcmp(rx_get(c, i).topic, t) == 0;
	return n;
}

/*
 * README (shared subscriptions, round robin): SHARED_N QoS 1 messages to
 * $share/g/<topic> are split between the two members, each getting some,
 * together each message exactly once. The members' own marker
 * subscription, published to once all SHARED_N have arrived, proves no
 * extra copy came.
 */
static void
case_v5_shared(void)
{
	struct client *m[2] = {client_new5("sha"), client_new5("shb")};
	struct client *pub = client_new5("pub"), *v[] = {m[0], m[1], pub};
	char t[128], f[160], mark[128], want[32];
	int seen[SHARED_N] = {0}, got[2] = {0, 0}, s, k;
	size_t i;

	topic(t, sizeof(t), "shared");
	topic(mark, sizeof(mark), "shared-mark");
	snprintf(f, sizeof(f), "$share/g/%s", t);
	connect_all(v, 3);
	for (s = 0; s < 2; s++) {
		client_subscribe5(m[s], f, 1, 0, 0);
		client_subscribe5(m[s], mark, 1, 0, 0);
	}
	publish_seq(pub, t, SHARED_N, 1);
	client_flush(pub);
	WAIT_UNTIL(m[0]->nrx + m[1]->nrx >= SHARED_N,
	    "%d shared messages (have %zu + %zu)", SHARED_N, m[0]->nrx,
	    m[1]->nrx);
	client_publish_str(pub, mark, "marker", 1, 0);
	client_flush(pub);
	for (s = 0; s < 2; s++) {
		size_t last = rx_wait_topic(m[s], mark);

		if (last + 1 != rx_count(m[s]) ||
		    rx_count_topic(m[s], mark) != 1)
			fail("%s: %zu messages after the marker", m[s]->id,
			    rx_count(m[s]) - last - 1);
		for (i = 0; i < last; i++) {
			struct rx r = rx_get(m[s], i);

			if (sscanf(r.payload, "seq %d", &k) != 1 || k < 0 ||
			    k >= SHARED_N)
				fail("%s msg #%zu: payload '%s'", m[s]->id, i,
				    r.payload);
			snprintf(want, sizeof(want), "seq %d", k);
			rx_expect(m[s], i, t, want, 1, 0);
			if (seen[k]++)
				fail("'%s' delivered twice", want);
			got[s]++;
		}
	}
	for (k = 0; k < SHARED_N; k++)
		if (seen[k] != 1)
			fail("'seq %d' delivered %d times", k, seen[k]);
	if (got[0] == 0 || got[1] == 0)
		fail("split %d / %d: a member got nothing", got[0], got[1]);
	client_close(pub);
	client_close(m[0]);
	client_close(m[1]);
}

/*
 * MQTT-3.3.2-6: a message published with Message Expiry Interval 60 is
 * delivered with the interval left, 1..60.
 */
static void
case_v5_message_expiry(void)
{
	struct client *sub = client_new5("sub"), *pub = client_new5("pub");
	struct client *v[] = {sub, pub};
	MQTTProperties props = MQTTProperties_initializer;
	char t[128];
	unsigned left;

	topic(t, sizeof(t), "expiry");
	connect_all(v, 2);
	client_subscribe5(sub, t, 1, 0, 0);
	prop_int(&props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL, 60);
	client_publish_props(pub, t, "expires", 7, 1, 0, &props);
	client_flush(pub);
	MQTTProperties_free(&props);
	rx_wait(sub, 1);
	rx_expect(sub, 0, t, "expires", 1, 0);
	left = rx_prop(sub, 0, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL)
	           ->value.integer4;
	if (left < 1 || left > 60)
		fail("message expiry interval %u, want 1..60", left);
	client_close(pub);
	client_close(sub);
}

/*
 * Clean Start 0 + Session Expiry Interval 30: the session outlives the
 * connection; QoS 1 messages published meanwhile arrive on reconnect,
 * with session present 1 (MQTT-3.2.2-2).
 */
static void
case_v5_session_expiry(void)
{
	struct client *p = client_new5("sexp"), *pub = client_new5("pub");
	char t[128], id[128];

	topic(t, sizeof(t), "sexp");
	snprintf(id, sizeof(id), "%s", p->id);
	client_connect_start(pub, MQTTVERSION_5, 1, 60, NULL);
	p->session_expiry = 30;
	if (client_connect_v(p, MQTTVERSION_5, 0) != 0)
		fail("first connect: session present 1");
	client_subscribe5(p, t, 1, 0, 0);
	client_close(p);

	WAIT_UNTIL(pub->conn != 0, "CONNACK for %s", pub->id);
	if (pub->conn != 1)
		fail("publisher refused: %d", pub->conn_code);
	publish_seq(pub, t, 3, 1);
	client_flush(pub);

	p = client_new_id_v(id, 1);
	p->session_expiry = 30;
	if (client_connect_v(p, MQTTVERSION_5, 0) != 1)
		fail("reconnect within the expiry: session present 0");
	rx_resumed = true;
	rx_expect_seq(p, 0, 3, t, 1);
	client_close(p);
	client_close(pub);
	/* Drop the session: Clean Start 1, expiry 0. */
	p = client_new_id_v(id, 1);
	client_connect_v(p, MQTTVERSION_5, 1);
	client_close(p);
}

/*
 * One topic, a 5.0 and a 3.1.1 client subscribed, each publishing once:
 * the 3.1.1 client gets the 5.0 message's payload intact (its PUBLISH has
 * no properties field), the 5.0 client gets the 3.1.1 message with no
 * user properties.
 */
static void
case_v5_mixed(void)
{
	struct client *c5 = client_new5("five"), *c3 = client_new("v311");
	struct client *v[] = {c5, c3};
	static const char *const user[][2] = {{"origin", "5.0"}, {"k", "v"}};
	MQTTProperties props = MQTTProperties_initializer;
	char t[128];

	topic(t, sizeof(t), "mixed");
	connect_all(v, 2);
	client_subscribe(c5, t, 1);
	client_subscribe(c3, t, 1);
	prop_user(&props, user[0][0], user[0][1]);
	prop_user(&props, user[1][0], user[1][1]);
	client_publish_props(c5, t, "from 5.0", 8, 1, 0, &props);
	client_flush(c5);
	MQTTProperties_free(&props);
	rx_wait(c3, 1);
	rx_expect(c3, 0, t, "from 5.0", 1, 0);
	rx_wait(c5, 1);
	rx_expect(c5, 0, t, "from 5.0", 1, 0);
	rx_expect_user(c5, 0, user, 2);

	client_publish_str(c3, t, "from 3.1.1", 1, 0);
	client_flush(c3);
	rx_wait(c5, 2);
	rx_expect(c5, 1, t, "from 3.1.1", 1, 0);
	rx_expect_user(c5, 1, NULL, 0);
	rx_wait(c3, 2);
	rx_expect(c3, 1, t, "from 3.1.1", 1, 0);
	client_close(c3);
	client_close(c5);
}

static const struct paho_case {
	const char *name;
	void (*run)(void);
} cases[] = {
    {"connect_v311", case_connect_v311},
    {"connect_v31", case_connect_v31},
    {"connect_v31_long_id", case_connect_v31_long_id},
    {"connect_empty_id", case_connect_empty_id},
    {"keepalive_limit", case_keepalive_limit},
    {"pubsub_qos0", case_pubsub_qos0},
    {"pubsub_qos1", case_pubsub_qos1},
    {"pubsub_qos2", case_pubsub_qos2},
    {"wildcards", case_wildcards},
    {"retained", case_retained},
    {"persistent_session", case_persistent_session},
    {"will", case_will},
    {"will_retained", case_will_retained},
    {"takeover", case_takeover},
    {"overlap", case_overlap},
    {"offline_qos0", case_offline_qos0},
    {"unsubscribe", case_unsubscribe},
    {"large_payload", case_large_payload},
    {"many_clients", case_many_clients},
    {"multi_subscribe", case_multi_subscribe},
    {"bad_filter", case_bad_filter},
    {"size_limit", case_size_limit},
    {"retain_unavailable", case_retain_unavailable},
    {"stomp_to_paho", case_stomp_to_paho},
    {"paho_to_stomp", case_paho_to_stomp},
    {"stomp_queue_to_paho", case_stomp_queue_to_paho},
    {"v5_properties", case_v5_properties},
    {"v5_sub_ids", case_v5_sub_ids},
    {"v5_no_local", case_v5_no_local},
    {"v5_shared", case_v5_shared},
    {"v5_message_expiry", case_v5_message_expiry},
    {"v5_session_expiry", case_v5_session_expiry},
    {"v5_mixed", case_v5_mixed},
};

static void
setup(const char *host, const char *port)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&g_cv, &a);
	pthread_condattr_destroy(&a);
	g_host = host;
	g_port = port;
	snprintf(g_uri, sizeof(g_uri), "tcp://%s:%s", host, port);
	snprintf(g_pfx, sizeof(g_pfx), "paho/%d", (int)getpid());
}

static int
usage(void)
{
	fprintf(stderr, "usage: paho_client --list | CASE HOST PORT\n");
	return 2;
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "--will-child") == 0) {
		g_case = "will-child";
		setup(argv[2], argv[3]);
		return will_child(argv[4], argv[5]);
	}
	if (argc != 4)
		return usage();
	setup(argv[2], argv[3]);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[1], cases[i].name) == 0) {
			g_case = cases[i].name;
			cases[i].run();
			return 0;
		}
	}
	fprintf(stderr, "unknown case %s\n", argv[1]);
	return usage();
}
