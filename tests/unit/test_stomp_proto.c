/*
 * test_stomp_proto.c - whole STOMP sessions through the adapter, bytes in
 * and bytes out, with a fake proto_out standing in for net/ and a fake
 * clock. Input frames are written as C strings with '^' for the NUL;
 * output is decoded with the codec and checked header by header.
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
#include "protocols/stomp/stomp_codec.h"
#include "protocols/stomp/stomp_proto.h"

#include "tests/unit/fake_out.h"

#define NCONN 4

/* The last frame next_frame() decoded from a connection, unescaped. */
struct fake_frame {
	uint8_t dec[8192];
	struct stomp_header hdr[64];
	struct stomp_frame f;
};

struct fixture {
	struct config conf;
	struct broker *b;
	struct fake_io io[NCONN];
	struct fake_frame frame[NCONN]; /* next_frame()'s decode space */
	uint64_t now;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	config_defaults(&f->conf);
	f->conf.stomp_heartbeat = 1000;
	f->conf.stomp_max_headers = 16;
	f->conf.stomp_max_header_length = 256;
	f->conf.message_size_limit = 1024;
	f->conf.stomp_max_transaction_frames = 4;
	f->conf.max_redeliveries = 3;
	f->b = broker_new(&f->conf, store_mem_new());
	f->now = 1000000;
	*state = f;
	return 0;
}

/* What net/ does when a connection ends: the adapter's close, once. */
static void
conn_end(struct fixture *f, int i)
{
	struct fake_io *io = &f->io[i];

	if (io->p && !io->gone) {
		stomp_proto_ops.close(io->p,
		    io->closed ? io->reason : "connection reset by peer",
		    f->now);
		io->gone = true;
	}
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < NCONN; i++)
		conn_end(f, i);
	broker_free(f->b);
	free(f);
	return 0;
}

static struct fake_io *
conn_open(struct fixture *f, int i)
{
	struct fake_io *io = &f->io[i];

	memset(io, 0, sizeof(*io));
	io->p = stomp_proto_ops.open(f->b, &fake_out, io, "test:1", f->now);
	return io;
}

/* Feed bytes like net/ does: the unconsumed rest is offered again. */
static void
feed(struct fixture *f, int i, const void *data, size_t len)
{
	size_t need,
	    n = stomp_proto_ops.input(f->io[i].p, data, len, &need, f->now);

	assert_true(n <= len);
	if (!f->io[i].closed && !f->io[i].paused)
		assert_int_equal(n, len);
	if (f->io[i].closed)
		conn_end(f, i);
}

/* A frame as a string, '^' standing for the NUL. */
static void
feeds(struct fixture *f, int i, const char *s)
{
	size_t len = strlen(s);
	char *buf = malloc(len);

	for (size_t k = 0; k < len; k++)
		buf[k] = s[k] == '^' ? '\0' : s[k];
	feed(f, i, buf, len);
	free(buf);
}

/* Feed one byte at a time, buffering the unconsumed rest like net/. */
static void
feed_split(struct fixture *f, int i, const char *s)
{
	uint8_t buf[1024];
	size_t have = 0, need = 0;

	for (size_t k = 0; s[k]; k++) {
		buf[have++] = s[k] == '^' ? 0 : (uint8_t)s[k];
		if (have < need)
			continue;
		size_t n =
		    stomp_proto_ops.input(f->io[i].p, buf, have, &need, f->now);
		memmove(buf, buf + n, have - n);
		have -= n;
	}
	assert_int_equal(have, 0);
}

/* Decode the next frame the adapter wrote on connection i (skipping EOLs). */
static struct stomp_frame *
next_frame(struct fixture *f, int i)
{
	struct fake_io *io = &f->io[i];
	struct fake_frame *d = &f->frame[i];
	struct stomp_limits lim = {65536, 64, 8192, 65536};
	struct stomp_scan scan;
	size_t skip, flen;
	enum stomp_err err;

	stomp_scan_reset(&scan);
	if (io->rd == io->len)
		return NULL;
	assert_int_equal(stomp_frame_len(&scan, io->out + io->rd,
	                     io->len - io->rd, &lim, &skip, &flen, &err),
	    STOMP_OK);
	io->rd += skip;
	assert_true(flen <= sizeof(d->dec));
	memcpy(d->dec, io->out + io->rd, flen);
	d->f.hdr = d->hdr;
	d->f.hdr_cap = 64;
	assert_int_equal(
	    stomp_decode(d->dec, flen, STOMP_V12, &d->f, &err), STOMP_OK);
	io->rd += flen;
	return &d->f;
}

static struct stomp_frame *
expect_cmd(struct fixture *f, int i, enum stomp_cmd cmd)
{
	struct stomp_frame *fr = next_frame(f, i);

	assert_non_null(fr);
	if (fr->cmd != cmd)
		fail_msg("expected %s, got %s", stomp_cmd_name(cmd),
		    stomp_cmd_name(fr->cmd));
	return fr;
}

static void
expect_nothing(struct fixture *f, int i)
{
	assert_int_equal(f->io[i].rd, f->io[i].len);
}

/* A header value as a NUL-terminated string (static buffer), or NULL. */
static const char *
hval(const struct stomp_frame *fr, const char *name)
{
	static char buf[4][512];
	static int k;
	const struct stomp_header *h = stomp_header(fr, name);

	if (h == NULL)
		return NULL;
	k = (k + 1) % 4;
	assert_true(h->value_len < sizeof(buf[k]));
	memcpy(buf[k], h->value, h->value_len);
	buf[k][h->value_len] = '\0';
	return buf[k];
}

static void
expect_hdr(const struct stomp_frame *fr, const char *name, const char *want)
{
	const char *v = hval(fr, name);

	if (v == NULL)
		fail_msg("no %s header", name);
	assert_string_equal(v, want);
}

static void
expect_body(const struct stomp_frame *fr, const char *want)
{
	assert_int_equal(fr->body_len, strlen(want));
	assert_memory_equal(fr->body, want, fr->body_len);
}

/* ERROR with this message, then closed. */
static void
expect_error(struct fixture *f, int i, const char *message)
{
	struct stomp_frame *fr = expect_cmd(f, i, STOMP_CMD_ERROR);

	expect_hdr(fr, "message", message);
	assert_true(f->io[i].closed);
}

static void
connect_v(struct fixture *f, int i, const char *accept, const char *hb)
{
	char buf[256];
	struct stomp_frame *fr;

	conn_open(f, i);
	snprintf(buf, sizeof(buf),
	    "CONNECT\naccept-version:%s\nhost:h\n"
	    "heart-beat:%s\n\n^",
	    accept, hb);
	feeds(f, i, buf);
	fr = expect_cmd(f, i, STOMP_CMD_CONNECTED);
	assert_false(f->io[i].closed);
	(void)fr;
}

static void
connect12(struct fixture *f, int i)
{
	connect_v(f, i, "1.2", "0,0");
}

static void
subscribe(
    struct fixture *f, int i, const char *id, const char *dest, const char *ack)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
	    "SUBSCRIBE\nid:%s\ndestination:%s\nack:%s\nreceipt:s-%s\n\n^", id,
	    dest, ack, id);
	feeds(f, i, buf);
	snprintf(buf, sizeof(buf), "s-%s", id);
	expect_hdr(expect_cmd(f, i, STOMP_CMD_RECEIPT), "receipt-id", buf);
}

/* SEND body to dest with extra header lines (each ending in \n). */
static void
send_to(struct fixture *f, int i, const char *dest, const char *extra,
    const char *body)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "SEND\ndestination:%s\n%s\n%s^", dest, extra,
	    body);
	feeds(f, i, buf);
}

/* ---- CONNECT ---- */

static void
test_connect_negotiation(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;

	conn_open(f, 0);
	feeds(f, 0, "CONNECT\naccept-version:1.0,1.1,2.0\nhost:h\n\n^");
	fr = expect_cmd(f, 0, STOMP_CMD_CONNECTED);
	expect_hdr(fr, "version", "1.1");
	expect_hdr(fr, "heart-beat", "1000,1000");
	expect_hdr(fr, "server", STOMP_PROTO_SERVER);
	assert_non_null(hval(fr, "session"));

	conn_open(f, 1); /* no accept-version: 1.0, no heart-beating */
	feeds(f, 1, "CONNECT\nlogin:u\npasscode:p\n\n^");
	fr = expect_cmd(f, 1, STOMP_CMD_CONNECTED);
	expect_hdr(fr, "version", "1.0");
	assert_null(hval(fr, "heart-beat"));

	conn_open(f, 2); /* STOMP is 1.2's CONNECT */
	feeds(f, 2, "STOMP\naccept-version:1.2\nhost:h\n\n^");
	expect_hdr(expect_cmd(f, 2, STOMP_CMD_CONNECTED), "version", "1.2");
	size_t n = 0;
	LIST_FOREACH(it, &f->b->sessions)
	n++;
	assert_int_equal(n, 3);
	assert_int_equal(f->b->nsessions, 0); /* connection-scoped, unlisted */
}

static void
test_connect_bad_version(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;

	conn_open(f, 0);
	feeds(f, 0, "CONNECT\naccept-version:2.0,3.1\nhost:h\n\n^");
	fr = expect_cmd(f, 0, STOMP_CMD_ERROR);
	expect_hdr(fr, "version", "1.0,1.1,1.2");
	assert_true(f->io[0].closed);
	assert_int_equal(f->b->nsessions, 0);
}

static void
test_connect_refused_without_anonymous(void **state)
{
	struct fixture *f = *state;

	f->conf.allow_anonymous = false;
	conn_open(f, 0);
	feeds(f, 0, "CONNECT\naccept-version:1.2\nlogin:a\npasscode:b\n\n^");
	expect_error(f, 0, "access refused");
	assert_int_equal(f->b->nsessions, 0);
}

static void
test_connect_bad_heart_beat(void **state)
{
	struct fixture *f = *state;

	conn_open(f, 0);
	feeds(f, 0, "CONNECT\naccept-version:1.2\nheart-beat:10\n\n^");
	expect_error(f, 0, "bad heart-beat header");
}

static void
test_frame_before_connect(void **state)
{
	struct fixture *f = *state;

	conn_open(f, 0);
	feeds(f, 0, "SEND\ndestination:/topic/a\n\nx^");
	expect_error(f, 0, "expected a CONNECT or STOMP frame");
	assert_int_equal(f->b->stats.protocol_errors, 1);
}

static void
test_connect_timeout(void **state)
{
	struct fixture *f = *state;

	conn_open(f, 0);
	f->now += 9000;
	stomp_proto_ops.tick(f->io[0].p, f->now);
	assert_false(f->io[0].closed);
	f->now += 1000;
	stomp_proto_ops.tick(f->io[0].p, f->now);
	assert_true(f->io[0].closed);
}

static void
test_connect_split_every_byte(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;

	conn_open(f, 0);
	feed_split(f, 0,
	    "\n\r\nCONNECT\r\naccept-version:1.2\r\nheart-beat:0,0\r\n\r\n^\n"
	    "SUBSCRIBE\nid:1\ndestination:/topic/a\nreceipt:r1\n\n^\r\n"
	    "SEND\ndestination:/topic/a\ncontent-length:3\n\na^b^\n");
	expect_cmd(f, 0, STOMP_CMD_CONNECTED);
	expect_hdr(expect_cmd(f, 0, STOMP_CMD_RECEIPT), "receipt-id", "r1");
	fr = expect_cmd(f, 0, STOMP_CMD_MESSAGE);
	assert_int_equal(fr->body_len, 3); /* content-length: NULs allowed */
	assert_memory_equal(fr->body, "a\0b", 3);
	assert_false(f->io[0].closed);
}

/* ---- SEND / MESSAGE ---- */

static void
test_send_message_across_connections(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;

	connect12(f, 0);
	connect12(f, 1);
	subscribe(f, 1, "sub-1", "/topic/a.*.c", "auto");
	send_to(f, 0, "/topic/a.b.c",
	    "content-type:text/plain\nx-custom:1\nreply-to:/topic/r.s\n"
	    "correlation-id:c42\nexpires:0\ny:a\\cb\nx-custom:2\n",
	    "hello");
	fr = expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	expect_hdr(fr, "subscription", "sub-1");
	expect_hdr(fr, "destination", "/topic/a.b.c");
	expect_hdr(fr, "content-type", "text/plain");
	expect_hdr(fr, "reply-to", "/topic/r.s");
	expect_hdr(fr, "correlation-id", "c42");
	expect_hdr(fr, "x-custom", "1");
	expect_hdr(fr, "y", "a:b");
	expect_hdr(fr, "content-length", "5");
	assert_null(hval(fr, "ack")); /* auto */
	assert_null(hval(fr, "expires"));
	assert_null(hval(fr, "redelivered"));
	assert_non_null(hval(fr, "message-id"));
	expect_body(fr, "hello");
	expect_nothing(f, 1);
	expect_nothing(f, 0); /* no subscription of its own */
}

static void
test_message_carries_core_fields(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;
	struct msg_init mi = {.topic = "a.b/c",
	    .topic_len = 5,
	    .payload = "p",
	    .payload_len = 1,
	    .qos = 1,
	    .expiry_at_ms = 1000000 + 60000,
	    .response_topic = "$queue/replies",
	    .response_topic_len = 14,
	    .correlation = "\xff\x00",
	    .correlation_len = 2};
	struct msg *m;

	connect12(f, 0);
	subscribe(f, 0, "s", "/topic/a/b.#", "client");
	m = msg_new(&mi);
	assert_true(broker_publish(f->b, NULL, m, f->now));
	msg_unref(m);
	fr = expect_cmd(f, 0, STOMP_CMD_MESSAGE);
	expect_hdr(fr, "destination", "/topic/a/b.c"); /* dot inside a level */
	expect_hdr(fr, "reply-to", "/queue/replies");
	expect_hdr(fr, "expires", "1060000");
	assert_null(hval(fr, "correlation-id")); /* not text: left out */
	expect_hdr(fr, "ack", hval(fr, "message-id"));
}

static void
test_send_errors(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;

	connect12(f, 0);
	feeds(f, 0, "SEND\nreceipt:77\n\nx^");
	fr = expect_cmd(f, 0, STOMP_CMD_ERROR);
	expect_hdr(fr, "message", "missing destination header");
	expect_hdr(fr, "receipt-id", "77");
	assert_true(f->io[0].closed);

	connect12(f, 1);
	send_to(f, 1, "/topic/a.#", "", "x");
	expect_error(f, 1, "wildcards are not allowed here");
	connect12(f, 2);
	send_to(f, 2, "/exchange/x", "", "x");
	expect_error(f, 2, "destination must start with /topic/ or /queue/");
	connect12(f, 3);
	send_to(f, 3, "/topic/a", "expires:soon\n", "x");
	expect_error(f, 3, "bad expires header");
}

/* Extra header lines "h0:0\n" .. for send_to. */
static void
many_headers(char *buf, size_t cap, int count)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < count; k++)
		n += (size_t)snprintf(buf + n, cap - n, "h%d:%d\n", k, k);
	assert_true(n < cap);
}

/* A header limit above the decoder's stack slots: the heap takes over. */
static void
test_header_limit_beyond_stack(void **state)
{
	struct fixture *f = *state;
	char extra[768];

	f->conf.stomp_max_headers = 80;
	connect12(f, 0);
	many_headers(extra, sizeof(extra), 70);
	strcat(extra, "receipt:r1\n");
	send_to(f, 0, "/topic/t", extra, "x"); /* 72 headers */
	expect_hdr(expect_cmd(f, 0, STOMP_CMD_RECEIPT), "receipt-id", "r1");
	many_headers(extra, sizeof(extra), 80);
	send_to(f, 0, "/topic/t", extra, "x"); /* 81 headers */
	expect_error(f, 0, "too many headers");
}

static void
test_frame_errors_leave_others_alone(void **state)
{
	struct fixture *f = *state;

	connect12(f, 0);
	subscribe(f, 0, "s", "/topic/t", "auto");
	connect12(f, 1);
	feeds(f, 1, "FROB\n\n^");
	expect_error(f, 1, "unknown command");
	connect12(f, 1);
	feeds(f, 1,
	    "SEND\ndestination:/topic/t\na:1\nb:2\nc:3\nd:4\ne:5\n"
	    "f:6\ng:7\nh:8\ni:9\nj:10\nk:11\nl:12\nm:13\nn:14\no:15\n"
	    "p:16\n\nx^");
	expect_error(f, 1, "too many headers");
	connect12(f, 1);
	send_to(f, 1, "/topic/t", "content-length:2000\n", "x");
	expect_error(f, 1, "body too large");
	connect12(f, 1);
	feeds(f, 1, "SUBSCRIBE\nid:1\ndestination:/topic/x\n\nbody^");
	expect_error(f, 1, "this frame must not have a body");
	connect12(f, 1);
	feeds(f, 1, "SEND\ndestination:/topic/t\nbad\\q:1\n\nx^");
	expect_error(f, 1, "undefined escape sequence in header");
	connect12(f, 1);
	feeds(f, 1, "CONNECT\naccept-version:1.2\n\n^");
	expect_error(f, 1, "unexpected frame");
	/* The bystander still works. */
	connect12(f, 2);
	send_to(f, 2, "/topic/t", "", "still here");
	expect_body(expect_cmd(f, 0, STOMP_CMD_MESSAGE), "still here");
	assert_false(f->io[0].closed);
}

/* ---- receipts, DISCONNECT ---- */

static void
test_receipts_and_disconnect(void **state)
{
	struct fixture *f = *state;

	connect12(f, 0);
	send_to(f, 0, "/topic/a", "receipt:r-1\n", "x");
	expect_hdr(expect_cmd(f, 0, STOMP_CMD_RECEIPT), "receipt-id", "r-1");
	feeds(f, 0,
	    "DISCONNECT\nreceipt:bye\n\n^SEND\ndestination:/topic/a\n\n^");
	expect_hdr(expect_cmd(f, 0, STOMP_CMD_RECEIPT), "receipt-id", "bye");
	expect_nothing(f, 0);
	assert_true(f->io[0].closed);
	assert_null(f->io[0].reason);
	assert_int_equal(f->b->nsessions, 0);

	connect12(f, 1);
	feeds(f, 1, "DISCONNECT\n\n^");
	assert_true(f->io[1].closed);
	expect_nothing(f, 1);
}

/* ---- heart-beats ---- */

static void
test_heart_beat_timeout(void **state)
{
	struct fixture *f = *state;

	connect_v(f, 0, "1.2", "1000,0"); /* promises 1 s */
	connect_v(f, 1, "1.2", "0,0"); /* never timed out */
	f->now += 1000;
	feeds(f, 0, "\n");
	stomp_proto_ops.tick(f->io[0].p, f->now);
	stomp_proto_ops.tick(f->io[1].p, f->now);
	f->now += 1000;
	stomp_proto_ops.tick(f->io[0].p, f->now);
	assert_false(f->io[0].closed); /* 1 s silent < 1.5 s */
	f->now += 1000;
	stomp_proto_ops.tick(f->io[0].p, f->now);
	expect_error(f, 0, "heart-beat timeout");
	for (int k = 0; k < 100; k++) {
		f->now += 1000;
		stomp_proto_ops.tick(f->io[1].p, f->now);
	}
	assert_false(f->io[1].closed);
	expect_nothing(f, 1); /* it asked for no heart-beats */
}

static void
test_heart_beat_sent(void **state)
{
	struct fixture *f = *state;
	size_t len;

	connect_v(f, 0, "1.2", "0,3000");
	len = f->io[0].len;
	f->now += 1000;
	stomp_proto_ops.tick(f->io[0].p, f->now);
	assert_int_equal(f->io[0].len, len);
	f->now += 1000;
	stomp_proto_ops.tick(f->io[0].p, f->now); /* a tick early */
	assert_int_equal(f->io[0].len, len + 1);
	assert_int_equal(f->io[0].out[len], '\n');
	f->now += 1000;
	stomp_proto_ops.tick(f->io[0].p, f->now);
	assert_int_equal(f->io[0].len, len + 1);
}

/* ---- transactions ---- */

static void
test_transactions(void **state)
{
	struct fixture *f = *state;

	connect12(f, 0);
	connect12(f, 1);
	subscribe(f, 1, "s", "/topic/t", "auto");
	feeds(f, 0, "BEGIN\ntransaction:tx1\n\n^");
	send_to(f, 0, "/topic/t", "transaction:tx1\n", "one");
	send_to(f, 0, "/topic/t", "transaction:tx1\n", "two");
	expect_nothing(f, 1);
	feeds(f, 0, "COMMIT\ntransaction:tx1\nreceipt:c\n\n^");
	expect_hdr(expect_cmd(f, 0, STOMP_CMD_RECEIPT), "receipt-id", "c");
	expect_body(expect_cmd(f, 1, STOMP_CMD_MESSAGE), "one");
	expect_body(expect_cmd(f, 1, STOMP_CMD_MESSAGE), "two");
	feeds(f, 0, "BEGIN\ntransaction:tx2\n\n^");
	send_to(f, 0, "/topic/t", "transaction:tx2\n", "never");
	feeds(f, 0, "ABORT\ntransaction:tx2\n\n^");
	expect_nothing(f, 1);
	send_to(f, 0, "/topic/t", "transaction:tx2\n", "x");
	expect_error(f, 0, "unknown transaction");
}

static void
test_transaction_limit(void **state)
{
	struct fixture *f = *state;

	connect12(f, 0);
	feeds(f, 0, "BEGIN\ntransaction:t\n\n^");
	for (int k = 0; k < 3; k++)
		send_to(f, 0, "/topic/t", "transaction:t\n", "x");
	assert_false(f->io[0].closed);
	send_to(f, 0, "/topic/t", "transaction:t\n", "x");
	expect_error(f, 0, "too many frames in open transactions");
}

/* ---- ACK / NACK ---- */

static void
test_client_individual_ack(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;
	char ack1[64], buf[128];

	f->conf.max_inflight_messages = 2;
	connect12(f, 0);
	connect12(f, 1);
	subscribe(f, 1, "s", "/topic/t", "client-individual");
	for (int k = 0; k < 3; k++)
		send_to(f, 0, "/topic/t", "",
		    k == 0       ? "m0"
		        : k == 1 ? "m1"
		                 : "m2");
	fr = expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	snprintf(ack1, sizeof(ack1), "%s", hval(fr, "ack"));
	expect_body(expect_cmd(f, 1, STOMP_CMD_MESSAGE), "m1");
	expect_nothing(f, 1); /* window of 2 */
	snprintf(buf, sizeof(buf), "ACK\nid:%s\n\n^", ack1);
	feeds(f, 1, buf);
	expect_body(expect_cmd(f, 1, STOMP_CMD_MESSAGE), "m2");
	feeds(f, 1, buf); /* twice: ignored */
	feeds(f, 1, "ACK\nid:nonsense\n\n^");
	expect_nothing(f, 1);
	assert_false(f->io[1].closed);
}

static void
test_client_cumulative_ack(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;
	char buf[128];

	f->conf.max_inflight_messages = 3;
	connect_v(f, 0, "1.1", "0,0");
	connect_v(f, 1, "1.1", "0,0");
	subscribe(f, 1, "s", "/topic/t", "client");
	for (int k = 0; k < 4; k++)
		send_to(f, 0, "/topic/t", "", "m");
	expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	fr = expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	assert_null(hval(fr, "ack")); /* 1.1: message-id */
	expect_nothing(f, 1);
	snprintf(buf, sizeof(buf), "ACK\nmessage-id:%s\n\n^",
	    hval(fr, "message-id"));
	feeds(f, 1, buf); /* 1.1 needs subscription too */
	expect_error(f, 1, "missing subscription header");
	connect_v(f, 1, "1.1", "0,0");
	subscribe(f, 1, "s", "/topic/t", "client");
	for (int k = 0; k < 4; k++)
		send_to(f, 0, "/topic/t", "", "m");
	expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	fr = expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	snprintf(buf, sizeof(buf), "ACK\nsubscription:s\nmessage-id:%s\n\n^",
	    hval(fr, "message-id"));
	feeds(f, 1, buf); /* all three at once */
	expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	expect_nothing(f, 1);
	assert_false(f->io[1].closed);
}

static void
test_queue_nack_redelivers(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;
	char buf[128];

	connect12(f, 0);
	send_to(f, 0, "/queue/jobs", "", "job");
	subscribe(f, 0, "q", "/queue/jobs", "client-individual");
	fr = expect_cmd(f, 0, STOMP_CMD_MESSAGE);
	expect_hdr(fr, "destination", "/queue/jobs");
	assert_null(hval(fr, "redelivered"));
	snprintf(buf, sizeof(buf), "NACK\nid:%s\n\n^", hval(fr, "ack"));
	feeds(f, 0, buf);
	fr = expect_cmd(f, 0, STOMP_CMD_MESSAGE);
	expect_hdr(fr, "redelivered", "true");
	expect_hdr(fr, "x-delivery-count", "2");
	snprintf(buf, sizeof(buf), "ACK\nid:%s\n\n^", hval(fr, "ack"));
	feeds(f, 0, buf);
	expect_nothing(f, 0);
}

/* ---- retained, unsubscribe ---- */

static void
test_retained_both_ways(void **state)
{
	struct fixture *f = *state;
	struct stomp_frame *fr;

	connect12(f, 0);
	send_to(f, 0, "/topic/r.x", "retain:true\n", "kept");
	connect12(f, 1);
	subscribe(f, 1, "s", "/topic/r.>", "auto");
	fr = expect_cmd(f, 1, STOMP_CMD_MESSAGE);
	expect_body(fr, "kept");
	expect_hdr(fr, "retain", "true");
	send_to(f, 0, "/topic/r.x", "retain:true\n", "");
	expect_body(expect_cmd(f, 1, STOMP_CMD_MESSAGE), "");
	connect12(f, 2);
	subscribe(f, 2, "s", "/topic/r.#", "auto");
	expect_nothing(f, 2);
}

static void
test_unsubscribe(void **state)
{
	struct fixture *f = *state;

	connect12(f, 0);
	subscribe(f, 0, "s", "/topic/t", "auto");
	feeds(f, 0, "UNSUBSCRIBE\nid:s\nreceipt:u\n\n^");
	expect_hdr(expect_cmd(f, 0, STOMP_CMD_RECEIPT), "receipt-id", "u");
	send_to(f, 0, "/topic/t", "", "x");
	expect_nothing(f, 0);
	subscribe(f, 0, "s", "/topic/t", "auto"); /* the id is free again */
	feeds(f, 0, "SUBSCRIBE\nid:s\ndestination:/topic/u\n\n^");
	expect_error(f, 0, "subscription id already in use");
	connect12(f, 1);
	feeds(f, 1, "UNSUBSCRIBE\nid:nope\n\n^");
	expect_error(f, 1, "no such subscription");
}

static void
test_back_pressure_pauses_sender(void **state)
{
	struct fixture *f = *state;

	f->conf.max_queued_messages = 2;
	f->conf.max_inflight_messages = 1;
	connect12(f, 0);
	connect12(f, 1);
	subscribe(f, 1, "s", "/topic/t", "client");
	for (int k = 0; k < 5 && !f->io[0].paused; k++)
		send_to(f, 0, "/topic/t", "", "x");
	assert_true(f->io[0].paused);
	conn_end(f, 1); /* the full subscriber goes: the sender resumes */
	assert_false(f->io[0].paused);
}

/* Paused by a full subscriber, a sender's heart-beats wait unread. */
static void
test_paused_sender_keeps_heartbeat(void **state)
{
	struct fixture *f = *state;

	f->conf.max_queued_messages = 2;
	f->conf.max_inflight_messages = 1;
	connect_v(f, 0, "1.2", "1000,0"); /* sends every 1 s */
	connect12(f, 1);
	subscribe(f, 1, "s", "/topic/t", "client");
	for (int k = 0; k < 5 && !f->io[0].paused; k++)
		send_to(f, 0, "/topic/t", "", "x");
	assert_true(f->io[0].paused);
	f->now += 10000; /* far past the grace */
	stomp_proto_ops.tick(f->io[0].p, f->now);
	assert_false(f->io[0].closed);
	f->now += 10000; /* unpaused, silence counts again */
	conn_end(f, 1);
	assert_false(f->io[0].paused);
	stomp_proto_ops.tick(f->io[0].p, f->now);
	assert_true(f->io[0].closed);
}

/* ---- receipts deferred by the store (a disk store's barrier) ---- */

static store_done_fn *deferred_fn[8];
static void *deferred_arg[8];
static size_t ndeferred;

static void
deferred_barrier(struct store *st UNUSED, store_done_fn *fn, void *arg)
{
	assert_true(ndeferred < 8);
	deferred_fn[ndeferred] = fn;
	deferred_arg[ndeferred++] = arg;
}

static void
run_deferred(void)
{
	for (size_t k = 0; k < ndeferred; k++)
		deferred_fn[k](deferred_arg[k]);
	ndeferred = 0;
}

static void
test_receipt_after_close_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct store_ops ops = *f->b->store->ops;
	const struct store_ops *saved = f->b->store->ops;

	ops.barrier = deferred_barrier;
	f->b->store->ops = &ops;
	connect12(f, 0);
	send_to(f, 0, "/topic/t", "receipt:late\n", "x");
	expect_nothing(f, 0); /* not durable yet */
	run_deferred();
	expect_hdr(expect_cmd(f, 0, STOMP_CMD_RECEIPT), "receipt-id", "late");
	send_to(f, 0, "/topic/t", "receipt:never\n", "x");
	feeds(f, 0, "DISCONNECT\nreceipt:bye\n\n^");
	assert_false(f->io[0].closed); /* waits for its receipt */
	conn_end(f, 0); /* the peer went away first */
	run_deferred(); /* cancelled: nothing written, nothing freed twice */
	expect_nothing(f, 0);
	f->b->store->ops = saved;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_connect_negotiation, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connect_bad_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connect_refused_without_anonymous, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connect_bad_heart_beat, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_frame_before_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connect_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connect_split_every_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_send_message_across_connections, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_message_carries_core_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_frame_errors_leave_others_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_header_limit_beyond_stack, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_receipts_and_disconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_heart_beat_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_heart_beat_sent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_transaction_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_client_individual_ack, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_client_cumulative_ack, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_queue_nack_redelivers, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_retained_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsubscribe, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_back_pressure_pauses_sender, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_paused_sender_keeps_heartbeat, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_receipt_after_close_is_dropped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
