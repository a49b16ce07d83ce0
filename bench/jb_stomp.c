/*
 * jb_stomp.c - jbench's STOMP 1.2 client side, over the shared codec
 * (protocols/stomp/stomp_codec.h).
 *
 * CONNECT asks for 1.2 without heart-beats (host:/, login/passcode when
 * given). A subscription carries a receipt header and counts as made
 * when its RECEIPT arrives, so nothing is published before every
 * subscription exists. SEND carries destination and content-length and
 * a binary body, no receipt: a publisher's messages complete when they
 * are delivered. In client-individual mode each MESSAGE is ACKed at once
 * by its ack header (1.2), or by message-id and subscription if a 1.0 /
 * 1.1 server sent none. Heart-beat EOLs between frames are skipped by
 * the codec's framing.
 */
#include <stdio.h>
#include <string.h>

#include "bench/jb.h"

#define JB_STOMP_HDRS 64

/* Generous: jbench only reads what the broker sends. */
static const struct stomp_limits jb_stomp_limits = {
    .max_frame = (size_t)1 << 30,
    .max_headers = JB_STOMP_HDRS,
    .max_line = 65536,
    .max_body = (size_t)1 << 30,
};

#define JB_HDR(n, v) ((struct stomp_header){n, strlen(n), v, strlen(v)})

/* Queue a whole frame: head, body, NUL. */
static void
jb_stomp_send(struct jb *jb, struct jb_conn *c, enum stomp_cmd cmd,
    const struct stomp_header *h, size_t n)
{
	size_t len = stomp_encode_head_len(STOMP_V12, cmd, h, n, STOMP_NO_CLEN);
	uint8_t *p;

	ASSERT(len > 0);
	p = jb_conn_queue(jb, c, len + 1);
	ASSERT(stomp_encode_head(p, len, STOMP_V12, cmd, h, n, STOMP_NO_CLEN) ==
	    len);
	p[len] = '\0';
}

static void
jb_stomp_hello(struct jb *jb, struct jb_conn *c)
{
	struct stomp_header h[5] = {JB_HDR("accept-version", "1.2"),
	    JB_HDR("host", "/"), JB_HDR("heart-beat", "0,0")};
	size_t n = 3;

	if (jb->o.user != NULL)
		h[n++] = JB_HDR("login", jb->o.user);
	if (jb->o.pass != NULL)
		h[n++] = JB_HDR("passcode", jb->o.pass);
	jb_stomp_send(jb, c, STOMP_CMD_CONNECT, h, n);
}

static void
jb_stomp_subscribe(struct jb *jb, struct jb_sub *s)
{
	char id[16];
	const char *ack =
	    jb->o.ack == JB_ACK_AUTO ? "auto" : "client-individual";
	struct stomp_header h[4];

	snprintf(id, sizeof(id), "%d", s->conn.idx);
	h[0] = JB_HDR("id", id);
	h[1] = JB_HDR("destination", s->dest);
	h[2] = JB_HDR("ack", ack);
	h[3] = JB_HDR("receipt", id);
	jb_stomp_send(jb, &s->conn, STOMP_CMD_SUBSCRIBE, h, 4);
}

static bool
jb_stomp_can_send(const struct jb *jb, const struct jb_pub *p)
{
	(void)jb;
	(void)p;
	return true;
}

/* The SEND head is the same for every message of a publisher. */
static void
jb_stomp_build_head(struct jb *jb, struct jb_pub *p)
{
	struct stomp_header h = JB_HDR("destination", p->dest);
	size_t clen = (size_t)jb->o.size;

	p->head_len =
	    stomp_encode_head_len(STOMP_V12, STOMP_CMD_SEND, &h, 1, clen);
	ASSERT(p->head_len > 0);
	p->head = xmalloc(p->head_len);
	ASSERT(stomp_encode_head(p->head, p->head_len, STOMP_V12,
	           STOMP_CMD_SEND, &h, 1, clen) == p->head_len);
}

static void
jb_stomp_publish(
    struct jb *jb, struct jb_pub *p, uint64_t seq, const uint8_t *payload)
{
	size_t size = (size_t)jb->o.size;
	uint8_t *b;

	(void)seq;
	if (p->head == NULL)
		jb_stomp_build_head(jb, p);
	b = jb_conn_queue(jb, &p->conn, p->head_len + size + 1);
	memcpy(b, p->head, p->head_len);
	memcpy(b + p->head_len, payload, size);
	b[p->head_len + size] = '\0';
}

static void
jb_stomp_bye(struct jb *jb, struct jb_conn *c)
{
	jb_stomp_send(jb, c, STOMP_CMD_DISCONNECT, NULL, 0);
}

/* ---- input ---- */

/* A header value as a NUL-terminated string in buf, or NULL if absent. */
static const char *
jb_stomp_value(
    const struct stomp_frame *f, const char *name, char *buf, size_t cap)
{
	const struct stomp_header *h = stomp_header(f, name);

	if (h == NULL)
		return NULL;
	snprintf(buf, cap, "%.*s", (int)h->value_len, h->value);
	return buf;
}

static void
jb_stomp_ack(struct jb *jb, struct jb_conn *c, const struct stomp_frame *f)
{
	char ack[256], mid[256], sub[64];
	struct stomp_header h[2];

	if (jb_stomp_value(f, "ack", ack, sizeof(ack)) != NULL) {
		h[0] = JB_HDR("id", ack);
		jb_stomp_send(jb, c, STOMP_CMD_ACK, h, 1);
		return;
	}
	if (jb_stomp_value(f, "message-id", mid, sizeof(mid)) == NULL ||
	    jb_stomp_value(f, "subscription", sub, sizeof(sub)) == NULL)
		jb_conn_fail(c, "MESSAGE without ack or message-id");
	h[0] = JB_HDR("message-id", mid);
	h[1] = JB_HDR("subscription", sub);
	jb_stomp_send(jb, c, STOMP_CMD_ACK, h, 2);
}

static void
jb_stomp_on_message(struct jb *jb, struct jb_conn *c, struct stomp_frame *f)
{
	if (c->role != JB_ROLE_SUB || c->state != JB_READY)
		jb_conn_fail(c, "unexpected MESSAGE");
	jb_track_receipt(
	    jb, CONTAINER_OF(c, struct jb_sub, conn), f->body, f->body_len);
	if (jb->o.ack == JB_ACK_INDIVIDUAL)
		jb_stomp_ack(jb, c, f);
}

static void
jb_stomp_on_error(struct jb_conn *c, const struct stomp_frame *f)
{
	char msg[256], why[300];

	if (jb_stomp_value(f, "message", msg, sizeof(msg)) == NULL)
		snprintf(msg, sizeof(msg), "%.*s", (int)MIN(f->body_len, 200),
		    (const char *)f->body);
	snprintf(why, sizeof(why), "ERROR from the broker: %s", msg);
	jb_conn_fail(c, why);
}

static void
jb_stomp_frame(struct jb *jb, struct jb_conn *c, uint8_t *p, size_t n)
{
	struct stomp_header hdr[JB_STOMP_HDRS];
	struct stomp_frame f = {.hdr = hdr, .hdr_cap = JB_STOMP_HDRS};
	enum stomp_err err;

	if (stomp_decode(p, n, STOMP_V12, &f, &err) != STOMP_OK)
		jb_conn_fail(c, stomp_err_text(err));
	if (f.cmd == STOMP_CMD_MESSAGE)
		jb_stomp_on_message(jb, c, &f);
	else if (f.cmd == STOMP_CMD_CONNECTED)
		jb_conn_connected(jb, c);
	else if (f.cmd == STOMP_CMD_RECEIPT)
		jb_conn_subscribed(jb, c);
	else if (f.cmd == STOMP_CMD_ERROR)
		jb_stomp_on_error(c, &f);
	else
		jb_conn_fail(c, "unexpected frame");
}

static void
jb_stomp_input(struct jb *jb, struct jb_conn *c)
{
	for (;;) {
		size_t skip, n;
		enum stomp_err err;
		int st = stomp_frame_len(&c->scan, c->in.p + c->in.off,
		    c->in.len - c->in.off, &jb_stomp_limits, &skip, &n, &err);

		jb_buf_drop(&c->in, skip);
		if (st == STOMP_MORE)
			return;
		if (st == STOMP_ERR)
			jb_conn_fail(c, stomp_err_text(err));
		jb_stomp_frame(jb, c, c->in.p + c->in.off, n);
		jb_buf_drop(&c->in, n);
	}
}

const struct jb_proto_ops jb_stomp_ops = {
    .hello = jb_stomp_hello,
    .subscribe = jb_stomp_subscribe,
    .can_send = jb_stomp_can_send,
    .publish = jb_stomp_publish,
    .input = jb_stomp_input,
    .bye = jb_stomp_bye,
};
