/*
 * stomp_proto.c - STOMP 1.0 / 1.1 / 1.2 sessions onto core/.
 *
 * One struct stomp_conn per connection. Input is framed by the codec's
 * resumable scan, copied into a writable scratch (decoding unescapes in
 * place), decoded, and dispatched through a state x command table to a
 * handler that turns it into broker/session/queue calls. Core's
 * deliveries come back through struct session_ops and leave as MESSAGE
 * frames whose body is the message payload, shared zero-copy. Every
 * error ends in stomp_fail(): an ERROR frame with a message header (and
 * receipt-id when the bad frame asked for a receipt), then a close.
 *
 * Acknowledgements: each MESSAGE gets a per-connection sequence number;
 * its message-id and ack headers are "SUB-SEQ" (SUB = the core sub_id of
 * the subscription it went out on). QoS 1 deliveries are remembered in
 * recs[], ordered by SEQ, so an ACK finds its packet id by binary search
 * and a cumulative ACK (ack:client) walks the prefix.
 *
 * Receipts go through store_barrier() so a RECEIPT never precedes the
 * durability of what came before it; pending ones are cancelled when
 * the connection ends first. Pure: no I/O, no logging, no clock reads.
 */
#include "protocols/stomp/stomp_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/queue.h"
#include "core/store.h"
#include "core/utf8.h"
#include "protocols/stomp/stomp_codec.h"
#include "protocols/stomp/stomp_dest.h"

/* Output backlog past which QoS 0 messages to this client are dropped. */
#define STOMP_QOS0_HIGH_WATER (1024 * 1024)
/* Frame heads encoded on the stack before falling back to the heap. */
#define STOMP_HEAD_STACK 1024
/* Command line, blank line and NUL on top of headers and body. */
#define STOMP_FRAME_OVERHEAD 64
/* Decoding scratch kept between frames; a larger one is freed after use. */
#define STOMP_SCRATCH_KEEP (64 * 1024)
/* proto_ops.tick period: heart-beats are sent one tick early, not late. */
#define STOMP_TICK_MS 1000
/* Longest generated session id. */
#define STOMP_GEN_ID_MAX 32
/* Headers of a MESSAGE besides the user properties. */
#define STOMP_MSG_FIXED 12
/* Header slots on the stack for a MESSAGE. */
#define STOMP_MSG_STACK 32
/*
 * Header slots on the stack for decoding a frame (the default
 * stomp_max_headers); a larger limit takes them from the heap per frame.
 * Not kept in the connection: an idle one would hold them for nothing.
 */
#define STOMP_HDR_STACK 64
/* "4294967295-18446744073709551615" */
#define STOMP_ACK_ID_MAX 40

enum stomp_state {
	STOMP_S_NEW = 0, /* waiting for CONNECT / STOMP */
	STOMP_S_CONNECTED, /* CONNECTED sent */
	STOMP_S_CLOSING, /* ERROR or DISCONNECT: input ignored */
};

enum stomp_ack_mode {
	STOMP_ACK_AUTO = 0, /* QoS 0, at most once */
	STOMP_ACK_CLIENT, /* QoS 1, cumulative ACK */
	STOMP_ACK_INDIVIDUAL, /* QoS 1, one message per ACK */
};

struct stomp_sub {
	uint32_t no; /* core sub_id: > 0, increasing, never reused */
	uint8_t mode; /* enum stomp_ack_mode */
	bool is_queue;
	bool gone; /* unsubscribed; kept while deliveries refer to it */
	char *id; /* the STOMP id (1.0 without id: the destination) */
	char *dest; /* the destination as subscribed */
	char *name; /* core filter or queue name */
	size_t name_len;
};

/* A QoS 1 delivery in flight: MESSAGE seq went out as packet pkt_id. */
struct stomp_rec {
	uint64_t seq;
	uint32_t sub_no;
	uint16_t pkt_id;
	bool live;
};

enum stomp_txop_kind {
	STOMP_TXOP_SEND = 0,
	STOMP_TXOP_ACK,
	STOMP_TXOP_NACK,
};

struct stomp_txop {
	uint8_t kind; /* enum stomp_txop_kind */
	struct msg *m; /* SEND: a reference */
	uint32_t sub_no; /* ACK/NACK */
	uint64_t seq;
};

struct stomp_tx {
	struct list link;
	struct stomp_txop *ops;
	size_t n, cap;
	size_t id_len;
	char id[];
};

/* A RECEIPT waiting for store_barrier(); c is NULL once cancelled. */
struct stomp_receipt {
	struct list link;
	struct stomp_conn *c;
	bool disconnect; /* close after writing it */
	size_t len;
	char id[];
};

/*
 * One per connection, so kept small (fields ordered to leave no
 * padding); the framing limits come from the config when needed.
 */
struct stomp_conn {
	struct broker *b;
	const struct proto_out *out;
	void *io;
	struct session *sess; /* NULL before CONNECT and after a kick */
	struct stomp_scan scan;
	uint8_t *scratch; /* writable copy of the frame being decoded */
	size_t scratch_cap;
	const struct stomp_frame *cur; /* frame being handled, or NULL */
	uint64_t now_ms; /* latest time seen */
	uint64_t opened_ms, last_rx_ms, last_tx_ms;
	uint32_t hb_out_ms, hb_in_ms; /* negotiated; 0 = none */
	struct stomp_sub *subs; /* sorted by no */
	uint32_t nsubs, subs_cap;
	uint32_t next_sub_no;
	uint32_t tx_frames; /* BEGIN + buffered frames of all of them */
	struct stomp_rec *recs; /* [rhead, rn) sorted by seq */
	uint32_t rhead, rn, rcap;
	uint8_t state; /* enum stomp_state */
	uint8_t version; /* 0 before CONNECT */
	bool paused; /* back-pressured by a full subscriber or queue */
	bool disconnecting; /* DISCONNECT receipt pending: it closes */
	uint64_t next_seq;
	struct list txs; /* struct stomp_tx */
	struct list receipts; /* struct stomp_receipt */
};

typedef void stomp_handler_fn(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms);

static const struct session_ops stomp_session_ops;

static bool stomp_topic_is_queue(const char *t, size_t len);

/* Headers that steer the protocol: never copied into user properties. */
static const char *const stomp_proto_headers[] = {"destination",
    "content-length", "receipt", "transaction", "id", "ack", "message-id",
    "subscription", "retain", "prefetch-count", "persistent", "redelivered",
    "receipt-id", "host", "login", "passcode", "accept-version", "heart-beat",
    "version", "session", "server", "message"};

/* ---- small helpers ---- */

static struct stomp_header
stomp_hdr(const char *name, const char *value)
{
	return (struct stomp_header){name, strlen(name), value, strlen(value)};
}

static bool
stomp_name_is(const struct stomp_header *h, const char *name)
{
	size_t n = strlen(name);

	return h->name_len == n && memcmp(h->name, name, n) == 0;
}

static bool
stomp_is_proto_header(const struct stomp_header *h)
{
	if (h->name_len > 9 && memcmp(h->name, "activemq.", 9) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_LEN(stomp_proto_headers); i++) {
		if (stomp_name_is(h, stomp_proto_headers[i]))
			return true;
	}
	return false;
}

/* Decimal digits only, at most max; false otherwise. */
static bool
stomp_parse_u64(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static unsigned
stomp_out_version(const struct stomp_conn *c)
{
	return c->version ? c->version : STOMP_V10; /* before CONNECT: raw */
}

/* ---- output ---- */

static void
stomp_write(struct stomp_conn *c, const void *buf, size_t len)
{
	c->out->write(c->io, buf, len);
	c->last_tx_ms = c->now_ms;
}

/* Drop headers this version cannot carry (1.0: CR, LF, ':' in names). */
static size_t
stomp_encodable(const struct stomp_conn *c, enum stomp_cmd cmd,
    struct stomp_header *h, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (stomp_header_is_encodable(stomp_out_version(c), cmd, &h[i]))
			h[k++] = h[i];
	}
	return k;
}

/*
 * One frame: head, then body (bytes, or m's payload by reference when m
 * is given), then the NUL. content-length is always written for frames
 * that may carry a body, so bodies may hold NULs.
 */
static void
stomp_send_frame(struct stomp_conn *c, enum stomp_cmd cmd,
    struct stomp_header *h, size_t n, const void *body, size_t blen,
    struct msg *m)
{
	uint8_t stackbuf[STOMP_HEAD_STACK], *buf = stackbuf;
	unsigned v = stomp_out_version(c);
	size_t clen = m ? m->payload_len : blen, len, w;

	if (!stomp_cmd_body_ok(cmd))
		clen = STOMP_NO_CLEN;
	n = stomp_encodable(c, cmd, h, n);
	len = stomp_encode_head_len(v, cmd, h, n, clen);
	ASSERT(len > 0);
	if (len > sizeof(stackbuf))
		buf = xmalloc(len);
	w = stomp_encode_head(buf, len, v, cmd, h, n, clen);
	ASSERT(w == len);
	if (m) {
		c->out->write_msg(c->io, buf, len, m);
	} else {
		c->out->write(c->io, buf, len);
		if (blen)
			c->out->write(c->io, body, blen);
	}
	stomp_write(c, "", 1); /* the NUL */
	if (buf != stackbuf)
		free(buf);
}

/*
 * The one error path: ERROR with a message header (plus receipt-id when
 * the frame being handled asked for a receipt, plus extra when given),
 * the text again as a plain-text body, then close once it is flushed.
 */
static void
stomp_error_close(
    struct stomp_conn *c, const char *message, const struct stomp_header *extra)
{
	const struct stomp_header *r =
	    c->cur ? stomp_header(c->cur, "receipt") : NULL;
	struct stomp_header h[4];
	size_t n = 0;

	if (c->state == STOMP_S_CLOSING)
		return;
	h[n++] = stomp_hdr("message", message);
	if (r)
		h[n++] = (struct stomp_header){
		    "receipt-id", 10, r->value, r->value_len};
	if (extra)
		h[n++] = *extra;
	h[n++] = stomp_hdr("content-type", "text/plain");
	stomp_send_frame(
	    c, STOMP_CMD_ERROR, h, n, message, strlen(message), NULL);
	c->state = STOMP_S_CLOSING;
	c->out->close(c->io, message);
}

/* A protocol error (counted); message is a static string. */
static void
stomp_fail(struct stomp_conn *c, const char *message)
{
	if (c->state != STOMP_S_CLOSING)
		c->b->stats.protocol_errors++;
	stomp_error_close(c, message, NULL);
}

/* Input that is not STOMP at all (counted as malformed). */
static void
stomp_malformed(struct stomp_conn *c, const char *message)
{
	if (c->state != STOMP_S_CLOSING)
		c->b->stats.malformed++;
	stomp_error_close(c, message, NULL);
}

/* Missing required header; the names are static. */
static void
stomp_fail_missing(struct stomp_conn *c, const char *name)
{
	static const struct {
		const char *name, *text;
	} texts[] = {
	    {"destination", "missing destination header"},
	    {"id", "missing id header"},
	    {"message-id", "missing message-id header"},
	    {"subscription", "missing subscription header"},
	    {"transaction", "missing transaction header"},
	};

	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		if (strcmp(texts[i].name, name) == 0) {
			stomp_fail(c, texts[i].text);
			return;
		}
	}
	stomp_fail(c, "missing required header");
}

/* ---- receipts ---- */

static void
stomp_receipt_done(void *arg)
{
	struct stomp_receipt *r = arg;
	struct stomp_conn *c = r->c;
	struct stomp_header h;

	if (c != NULL) {
		list_del(&r->link);
		h = (struct stomp_header){"receipt-id", 10, r->id, r->len};
		if (c->state != STOMP_S_CLOSING || r->disconnect)
			stomp_send_frame(
			    c, STOMP_CMD_RECEIPT, &h, 1, NULL, 0, NULL);
		if (r->disconnect)
			c->out->close(c->io, NULL);
	}
	free(r);
}

/*
 * Answer f's receipt header, once everything before it is durable
 * (store_barrier; the memory store answers at once). With disconnect,
 * close after it, or at once when there is no receipt to send.
 */
static void
stomp_receipt(
    struct stomp_conn *c, const struct stomp_frame *f, bool disconnect)
{
	const struct stomp_header *h = stomp_header(f, "receipt");
	struct stomp_receipt *r;

	if (h == NULL) {
		if (disconnect)
			c->out->close(c->io, NULL);
		return;
	}
	r = xmalloc(sizeof(*r) + h->value_len);
	r->c = c;
	r->disconnect = disconnect;
	r->len = h->value_len;
	memcpy(r->id, h->value, h->value_len);
	list_add_tail(&c->receipts, &r->link);
	store_barrier(c->b->store, stomp_receipt_done, r);
}

/* ---- subscriptions table ---- */

/* Index of the subscription numbered no, or nsubs. */
static size_t
stomp_sub_index(const struct stomp_conn *c, uint32_t no)
{
	size_t lo = 0, hi = c->nsubs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->subs[mid].no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nsubs && c->subs[lo].no == no ? lo : c->nsubs;
}

static struct stomp_sub *
stomp_sub_by_no(struct stomp_conn *c, uint32_t no)
{
	size_t i = stomp_sub_index(c, no);

	return i < c->nsubs ? &c->subs[i] : NULL;
}

/* A live subscription whose id (or, for 1.0 without id, destination) is h. */
static struct stomp_sub *
stomp_sub_find(struct stomp_conn *c, const struct stomp_header *h, bool by_dest)
{
	for (size_t i = 0; i < c->nsubs; i++) {
		struct stomp_sub *s = &c->subs[i];
		const char *key = by_dest ? s->dest : s->id;

		if (!s->gone && strlen(key) == h->value_len &&
		    memcmp(key, h->value, h->value_len) == 0)
			return s;
	}
	return NULL;
}

/* Another live subscription on the same core filter or queue? */
static bool
stomp_sub_is_dup(const struct stomp_conn *c, const struct stomp_sub *n)
{
	for (size_t i = 0; i < c->nsubs; i++) {
		const struct stomp_sub *s = &c->subs[i];

		if (!s->gone && s->is_queue == n->is_queue &&
		    s->name_len == n->name_len &&
		    memcmp(s->name, n->name, n->name_len) == 0)
			return true;
	}
	return false;
}

static void
stomp_sub_fini(struct stomp_sub *s)
{
	free(s->id);
	free(s->dest);
	free(s->name);
}

static void
stomp_sub_add(struct stomp_conn *c, const struct stomp_sub *s)
{
	if (c->nsubs == c->subs_cap) {
		c->subs_cap = c->subs_cap ? c->subs_cap * 2 : 4;
		c->subs = xrealloc(c->subs, c->subs_cap * sizeof(*c->subs));
	}
	c->subs[c->nsubs++] = *s;
}

static bool
stomp_delivery_has(const struct delivery *d, uint32_t no)
{
	for (unsigned i = 0; i < d->nsub_ids; i++) {
		if (d->sub_ids[i] == no)
			return true;
	}
	return false;
}

/* Does a queued or in-flight delivery still name subscription no? */
static bool
stomp_sub_is_referenced(const struct stomp_conn *c, uint32_t no)
{
	const struct list *lists[] = {&c->sess->queue, &c->sess->inflight};

	for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
		LIST_FOREACH(it, lists[i])
		{
			if (stomp_delivery_has(
			        CONTAINER_OF(it, struct delivery, link), no))
				return true;
		}
	}
	return false;
}

/*
 * Forget unsubscribed entries no delivery refers to any more. Entries
 * still referenced stay (gone) so a MESSAGE already routed can still
 * name its subscription and be acknowledged.
 */
static void
stomp_sub_purge(struct stomp_conn *c)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < c->nsubs; i++) {
		struct stomp_sub *s = &c->subs[i];

		if (s->gone &&
		    (c->sess == NULL || !stomp_sub_is_referenced(c, s->no)))
			stomp_sub_fini(s);
		else
			c->subs[k++] = *s;
	}
	c->nsubs = k;
}

/* Does live subscription s cover message m (its filter or its queue)? */
static bool
stomp_sub_covers(const struct stomp_sub *s, const struct msg *m)
{
	const char *q;
	size_t qlen;

	if (s->gone)
		return false;
	if (!s->is_queue)
		return topic_matches(
		    s->name, s->name_len, m->topic, m->topic_len);
	return queue_mqtt_name(m->topic, m->topic_len, &q, &qlen) &&
	    qlen == s->name_len && memcmp(q, s->name, qlen) == 0;
}

/*
 * A delivery without a usable subscription id: the oldest live
 * subscription that covers its message. (Core's QoS 0 path loses the ids:
 * see the report on session_deliver_qos0.) A dead-lettered message keeps
 * its first queue's topic, so a lone queue subscription is the answer
 * for any queue message.
 */
static struct stomp_sub *
stomp_sub_match(struct stomp_conn *c, const struct msg *m)
{
	struct stomp_sub *queue = NULL;
	size_t nqueue = 0;

	for (size_t i = 0; i < c->nsubs; i++) {
		if (stomp_sub_covers(&c->subs[i], m))
			return &c->subs[i];
		if (!c->subs[i].gone && c->subs[i].is_queue)
			queue = &c->subs[i], nqueue++;
	}
	return nqueue == 1 && stomp_topic_is_queue(m->topic, m->topic_len)
	    ? queue
	    : NULL;
}

/*
 * The subscription a delivery goes out on: of those it matched, the
 * oldest whose ack mode fits the delivery (acknowledged for QoS 1), else
 * the oldest; by matching when it names none we know.
 */
static struct stomp_sub *
stomp_sub_pick(struct stomp_conn *c, const struct delivery *d)
{
	struct stomp_sub *best = NULL, *fit = NULL;

	for (unsigned i = 0; i < d->nsub_ids; i++) {
		struct stomp_sub *s = stomp_sub_by_no(c, d->sub_ids[i]);

		if (s == NULL)
			continue;
		if (best == NULL || s->no < best->no)
			best = s;
		if ((s->mode != STOMP_ACK_AUTO) == (d->qos > 0) &&
		    (fit == NULL || s->no < fit->no))
			fit = s;
	}
	if (fit == NULL && best == NULL)
		return stomp_sub_match(c, d->m);
	return fit ? fit : best;
}

/* ---- in-flight records ---- */

static void
stomp_rec_add(struct stomp_conn *c, uint64_t seq, uint32_t sub_no, uint16_t id)
{
	uint32_t live = c->rn - c->rhead;

	if (c->rn == c->rcap && c->rhead > 0) {
		memmove(c->recs, c->recs + c->rhead, live * sizeof(*c->recs));
		c->rhead = 0;
		c->rn = live;
	}
	if (c->rn == c->rcap) {
		c->rcap = c->rcap ? c->rcap * 2 : 16;
		c->recs = xrealloc(c->recs, c->rcap * sizeof(*c->recs));
	}
	c->recs[c->rn++] = (struct stomp_rec){seq, sub_no, id, true};
}

/* Index of the record for seq, or rn. */
static size_t
stomp_rec_find(const struct stomp_conn *c, uint64_t seq)
{
	size_t lo = c->rhead, hi = c->rn;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->recs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->rn && c->recs[lo].seq == seq ? lo : c->rn;
}

/* Drop settled records from the front; compact when half are settled. */
static void
stomp_rec_trim(struct stomp_conn *c)
{
	uint32_t k = c->rhead, live = 0;

	while (c->rhead < c->rn && !c->recs[c->rhead].live)
		c->rhead++;
	for (uint32_t i = c->rhead; i < c->rn; i++)
		live += c->recs[i].live;
	if ((uint64_t)live * 2 >= c->rn - c->rhead)
		return;
	for (uint32_t i = c->rhead; i < c->rn; i++) {
		if (c->recs[i].live)
			c->recs[k++] = c->recs[i];
	}
	c->rn = k;
}

/*
 * Settle the records an ACK/NACK names: seq alone, or with cumulative
 * every earlier one of the same subscription (STOMP 1.2: SUBSCRIBE ack
 * Header, "client"). Their packet ids go to ids[]; returns the count.
 * Records are marked first and core is called after, because core calls
 * back into stomp_session_send, which appends records.
 */
static size_t
stomp_rec_collect(struct stomp_conn *c, uint32_t sub_no, uint64_t seq,
    bool cumulative, uint16_t *ids)
{
	size_t n = 0, i = stomp_rec_find(c, seq);

	if (!cumulative) {
		if (i < c->rn && c->recs[i].live && c->recs[i].sub_no == sub_no)
			ids[n++] = c->recs[i].pkt_id, c->recs[i].live = false;
		return n;
	}
	for (i = c->rhead; i < c->rn && c->recs[i].seq <= seq; i++) {
		struct stomp_rec *r = &c->recs[i];

		if (r->live && r->sub_no == sub_no)
			ids[n++] = r->pkt_id, r->live = false;
	}
	return n;
}

static void
stomp_ack_apply(struct stomp_conn *c, bool nack, uint32_t sub_no, uint64_t seq,
    uint64_t now_ms)
{
	struct stomp_sub *s = stomp_sub_by_no(c, sub_no);
	bool cumulative = s != NULL && s->mode == STOMP_ACK_CLIENT;
	uint16_t *ids;
	size_t n;

	if (c->rn == c->rhead || c->sess == NULL)
		return;
	ids = xmalloc((c->rn - c->rhead) * sizeof(*ids));
	n = stomp_rec_collect(c, sub_no, seq, cumulative, ids);
	stomp_rec_trim(c);
	for (size_t i = 0; i < n; i++) {
		if (nack)
			(void)broker_nack(c->b, c->sess, ids[i], now_ms);
		else
			(void)session_on_puback(c->sess, ids[i], now_ms);
	}
	free(ids);
}

/* "SUB-SEQ" as written in message-id / ack; false if not one of ours. */
static bool
stomp_ack_id_parse(
    const struct stomp_header *h, uint32_t *sub_no, uint64_t *seq)
{
	const char *dash = memchr(h->value, '-', h->value_len);
	size_t sl;
	uint64_t v;

	if (dash == NULL)
		return false;
	sl = (size_t)(dash - h->value);
	if (!stomp_parse_u64(h->value, sl, UINT32_MAX, &v) ||
	    !stomp_parse_u64(dash + 1, h->value_len - sl - 1, UINT64_MAX, seq))
		return false;
	*sub_no = (uint32_t)v;
	return true;
}

/* ---- routing ---- */

/*
 * Publish m to its topic or queue; back-pressure pauses our input. A full
 * queue with overflow reject, or a store that refused a record the
 * message needed (disk cap, failed journal), refuses it: ERROR and close,
 * so no RECEIPT promises what was not kept (README).
 */
static void
stomp_route(struct stomp_conn *c, struct msg *m, uint64_t now_ms)
{
	uint64_t refused = c->b->store->refused;
	enum queue_result r = QUEUE_ACCEPTED;
	const char *q;
	size_t qlen;

	if (queue_mqtt_name(m->topic, m->topic_len, &q, &qlen))
		r = broker_queue_publish(c->b, c->sess, q, qlen, m, now_ms);
	else if (!broker_publish(c->b, c->sess, m, now_ms))
		r = QUEUE_BLOCKED;
	if (r == QUEUE_REJECTED)
		stomp_error_close(c, "queue is full", NULL);
	else if (c->b->store->refused != refused)
		stomp_error_close(c, "store full", NULL);
	if (r == QUEUE_BLOCKED && !c->paused) {
		c->paused = true;
		c->out->pause(c->io, true);
	}
}

/* ---- transactions ---- */

static struct stomp_tx *
stomp_tx_get(struct stomp_conn *c, const struct stomp_header *h)
{
	LIST_FOREACH(it, &c->txs)
	{
		struct stomp_tx *t = CONTAINER_OF(it, struct stomp_tx, link);

		if (t->id_len == h->value_len &&
		    memcmp(t->id, h->value, h->value_len) == 0)
			return t;
	}
	return NULL;
}

static void
stomp_tx_free(struct stomp_conn *c, struct stomp_tx *t)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->ops[i].m)
			msg_unref(t->ops[i].m);
	}
	c->tx_frames -= (uint32_t)(t->n + 1);
	list_del(&t->link);
	free(t->ops);
	free(t);
}

/*
 * The transaction f names in its transaction header: *t = NULL without
 * one. False (after the ERROR) for an unknown transaction.
 */
static bool
stomp_tx_lookup(
    struct stomp_conn *c, const struct stomp_frame *f, struct stomp_tx **t)
{
	const struct stomp_header *h = stomp_header(f, "transaction");

	*t = h ? stomp_tx_get(c, h) : NULL;
	if (h != NULL && *t == NULL) {
		stomp_fail(c, "unknown transaction");
		return false;
	}
	return true;
}

/* Room for one more buffered frame (stomp_max_transaction_frames)? */
static bool
stomp_tx_reserve(struct stomp_conn *c)
{
	if (c->tx_frames >= c->b->conf->stomp_max_transaction_frames) {
		stomp_fail(c, "too many frames in open transactions");
		return false;
	}
	c->tx_frames++;
	return true;
}

/* Buffer an operation; takes the reference on op->m. */
static bool
stomp_tx_add(
    struct stomp_conn *c, struct stomp_tx *t, const struct stomp_txop *op)
{
	if (!stomp_tx_reserve(c)) {
		if (op->m)
			msg_unref(op->m);
		return false;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->ops = xrealloc(t->ops, t->cap * sizeof(*t->ops));
	}
	t->ops[t->n++] = *op;
	return true;
}

static void
stomp_tx_run(struct stomp_conn *c, struct stomp_tx *t, uint64_t now_ms)
{
	for (size_t i = 0; i < t->n; i++) {
		struct stomp_txop *op = &t->ops[i];

		if (op->kind == STOMP_TXOP_SEND)
			stomp_route(c, op->m, now_ms);
		else
			stomp_ack_apply(c, op->kind == STOMP_TXOP_NACK,
			    op->sub_no, op->seq, now_ms);
	}
}

/* ---- destinations ---- */

/*
 * Map a destination header. For a queue the result is "$queue/NAME" in
 * *buf (so a message's topic is what MQTT clients see), with the name at
 * *buf + 7. Heap buffer in *buf; false after the ERROR.
 */
static bool
stomp_map_dest(struct stomp_conn *c, const struct stomp_header *d, bool filter,
    char **buf, size_t *len, bool *is_queue)
{
	size_t pre = sizeof(QUEUE_MQTT_PREFIX) - 1;
	enum stomp_dest_kind kind;
	enum stomp_dest_err e;
	char *out = xmalloc(d->value_len + pre + 1);

	e = stomp_dest_parse(d->value, d->value_len, out + pre, d->value_len,
	    filter, &kind, len);
	if (e == STOMP_DEST_E_OK && kind == STOMP_DEST_TOPIC &&
	    topic_levels(out + pre, *len) > c->b->conf->max_topic_levels)
		e = STOMP_DEST_E_TOO_LONG;
	if (e != STOMP_DEST_E_OK) {
		free(out);
		stomp_fail(c, stomp_dest_err_text(e));
		return false;
	}
	*is_queue = kind == STOMP_DEST_QUEUE;
	memcpy(out, QUEUE_MQTT_PREFIX, pre);
	out[pre + *len] = '\0';
	*buf = out;
	return true;
}

/* A /topic/ name that core would take for a queue address ($queue/x). */
static bool
stomp_topic_is_queue(const char *t, size_t len)
{
	const char *q;
	size_t qlen;

	return queue_mqtt_name(t, len, &q, &qlen) ||
	    (len >= 7 && memcmp(t, QUEUE_MQTT_PREFIX, 7) == 0);
}

/* ---- SEND: headers to a message ---- */

struct stomp_build {
	struct msg_init mi;
	uint8_t *user; /* packed pairs */
	size_t user_cap;
	char *reply; /* mapped reply-to, heap */
	bool seen_ct, seen_reply, seen_corr, seen_exp;
};

static void
stomp_user_add(struct stomp_build *sb, const struct stomp_header *h)
{
	size_t need = sb->mi.user_len + 4 + h->name_len + h->value_len;
	uint8_t *p;

	if (need > sb->user_cap) {
		sb->user_cap = MAX(need, sb->user_cap * 2);
		sb->user = xrealloc(sb->user, sb->user_cap);
	}
	p = sb->user + sb->mi.user_len;
	util_put_u16(p, (uint16_t)h->name_len);
	memcpy(p + 2, h->name, h->name_len);
	util_put_u16(p + 2 + h->name_len, (uint16_t)h->value_len);
	memcpy(p + 4 + h->name_len, h->value, h->value_len);
	sb->mi.user_len = need;
	sb->mi.user_count++;
	sb->mi.user = sb->user;
}

/* reply-to as a response topic; one that does not map stays a header. */
static void
stomp_reply_to(struct stomp_build *sb, const struct stomp_header *h)
{
	size_t pre = sizeof(QUEUE_MQTT_PREFIX) - 1, len;
	enum stomp_dest_kind kind;
	char *out = xmalloc(h->value_len + pre + 1);

	if (stomp_dest_parse(h->value, h->value_len, out + pre, h->value_len,
	        false, &kind, &len) != STOMP_DEST_E_OK) {
		free(out);
		stomp_user_add(sb, h);
		return;
	}
	memcpy(out, QUEUE_MQTT_PREFIX, pre);
	sb->reply = out;
	sb->mi.response_topic = kind == STOMP_DEST_QUEUE ? out : out + pre;
	sb->mi.response_topic_len = kind == STOMP_DEST_QUEUE ? len + pre : len;
}

/* One mapped header (first occurrence wins); false if h is not one. */
static bool
stomp_map_header(struct stomp_build *sb, const struct stomp_header *h,
    uint64_t *expires, bool *bad)
{
	if (stomp_name_is(h, "content-type")) {
		if (!sb->seen_ct)
			sb->mi.content_type = h->value,
			sb->mi.content_type_len = h->value_len;
		return sb->seen_ct = true;
	}
	if (stomp_name_is(h, "reply-to")) {
		if (!sb->seen_reply)
			stomp_reply_to(sb, h);
		return sb->seen_reply = true;
	}
	if (stomp_name_is(h, "correlation-id")) {
		if (!sb->seen_corr)
			sb->mi.correlation = h->value,
			sb->mi.correlation_len = h->value_len;
		return sb->seen_corr = true;
	}
	if (!stomp_name_is(h, "expires"))
		return false;
	if (!sb->seen_exp &&
	    !stomp_parse_u64(h->value, h->value_len, UINT64_MAX, expires))
		*bad = true;
	return sb->seen_exp = true;
}

/* Headers into sb; false (after the ERROR) on a header we cannot carry. */
static bool
stomp_build_headers(
    struct stomp_conn *c, const struct stomp_frame *f, struct stomp_build *sb)
{
	uint64_t expires = 0;
	bool bad = false;

	for (size_t i = 0; i < f->nhdr; i++) {
		const struct stomp_header *h = &f->hdr[i];

		if (!utf8_is_valid(h->name, h->name_len) ||
		    !utf8_is_valid(h->value, h->value_len)) {
			stomp_fail(
			    c, "header is not valid UTF-8 or contains NUL");
			return false;
		}
		if (stomp_is_proto_header(h) ||
		    stomp_map_header(sb, h, &expires, &bad))
			continue;
		stomp_user_add(sb, h);
	}
	if (bad) {
		stomp_fail(c, "bad expires header");
		return false;
	}
	sb->mi.expiry_at_ms = expires; /* absolute ms, 0 = never: as core */
	return true;
}

/*
 * Build the message a SEND carries, published at QoS 1 (README: STOMP).
 * NULL after the ERROR.
 */
static struct msg *
stomp_msg_new(struct stomp_conn *c, const struct stomp_frame *f)
{
	const struct stomp_header *d = stomp_header(f, "destination");
	struct stomp_build sb;
	struct msg *m = NULL;
	char *topic;
	size_t len;
	bool is_queue;

	if (d == NULL) {
		stomp_fail_missing(c, "destination");
		return NULL;
	}
	if (!stomp_map_dest(c, d, false, &topic, &len, &is_queue))
		return NULL;
	memset(&sb, 0, sizeof(sb));
	sb.mi.topic = is_queue ? topic : topic + 7;
	sb.mi.topic_len = is_queue ? len + 7 : len;
	sb.mi.payload = f->body;
	sb.mi.payload_len = f->body_len;
	sb.mi.qos = 1;
	sb.mi.retain =
	    !is_queue && stomp_header_is(stomp_header(f, "retain"), "true");
	if (!is_queue && stomp_topic_is_queue(sb.mi.topic, sb.mi.topic_len))
		stomp_fail(c, "use /queue/NAME to reach a queue");
	else if (sb.mi.retain && !c->b->conf->retain_available)
		stomp_fail(c, "retain not available");
	else if (stomp_build_headers(c, f, &sb))
		m = msg_new(&sb.mi);
	free(sb.user);
	free(sb.reply);
	free(topic);
	return m;
}

/* ---- frame handlers ---- */

static void
stomp_on_send(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms)
{
	struct stomp_tx *t;
	struct msg *m;

	if (!stomp_tx_lookup(c, f, &t) || (m = stomp_msg_new(c, f)) == NULL)
		return;
	if (t != NULL) {
		struct stomp_txop op = {.kind = STOMP_TXOP_SEND, .m = m};

		if (stomp_tx_add(c, t, &op))
			stomp_receipt(c, f, false);
		return;
	}
	stomp_route(c, m, now_ms);
	msg_unref(m);
	stomp_receipt(c, f, false);
}

static bool
stomp_ack_mode(const struct stomp_frame *f, uint8_t *mode)
{
	const struct stomp_header *h = stomp_header(f, "ack");

	*mode = STOMP_ACK_AUTO;
	if (h == NULL || stomp_header_is(h, "auto"))
		return true;
	if (stomp_header_is(h, "client"))
		*mode = STOMP_ACK_CLIENT;
	else if (stomp_header_is(h, "client-individual"))
		*mode = STOMP_ACK_INDIVIDUAL;
	else
		return false;
	return true;
}

/*
 * prefetch-count (RabbitMQ) or activemq.prefetchSize, else the configured
 * queue_prefetch; 0 = the window.
 */
static bool
stomp_prefetch(
    const struct stomp_conn *c, const struct stomp_frame *f, uint32_t *prefetch)
{
	const struct stomp_header *h = stomp_header(f, "prefetch-count");
	uint64_t v = c->b->conf->queue_prefetch;

	if (h == NULL)
		h = stomp_header(f, "activemq.prefetchSize");
	if (h != NULL &&
	    !stomp_parse_u64(h->value, h->value_len, UINT32_MAX, &v))
		return false;
	*prefetch = (uint32_t)v;
	return true;
}

/* Validate SUBSCRIBE into s (heap strings); false after the ERROR. */
static bool
stomp_sub_parse(struct stomp_conn *c, const struct stomp_frame *f,
    struct stomp_sub *s, uint32_t *prefetch)
{
	const struct stomp_header *d = stomp_header(f, "destination");
	const struct stomp_header *id = stomp_header(f, "id");
	char *buf;

	if (d == NULL || (id == NULL && c->version >= STOMP_V11)) {
		stomp_fail_missing(c, d == NULL ? "destination" : "id");
		return false;
	}
	if (id == NULL)
		id = d; /* STOMP 1.0: id is optional */
	if (stomp_sub_find(c, id, false) != NULL) {
		stomp_fail(c, "subscription id already in use");
		return false;
	}
	if (!stomp_ack_mode(f, &s->mode) || !stomp_prefetch(c, f, prefetch)) {
		stomp_fail(c, "bad ack or prefetch-count header");
		return false;
	}
	if (!stomp_map_dest(c, d, true, &buf, &s->name_len, &s->is_queue))
		return false;
	s->name = xstrndup(buf + 7, s->name_len);
	free(buf);
	s->id = xstrndup(id->value, id->value_len);
	s->dest = xstrndup(d->value, d->value_len);
	return true;
}

static void
stomp_on_subscribe(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms)
{
	struct stomp_sub s = {0};
	struct sub_opts opts = {0};
	uint32_t prefetch = 0;
	bool existed = false;
	const char *err = NULL;

	if (!stomp_sub_parse(c, f, &s, &prefetch))
		return;
	if (!s.is_queue && stomp_topic_is_queue(s.name, s.name_len))
		err = "use /queue/NAME to reach a queue";
	else if (stomp_sub_is_dup(c, &s))
		err = "already subscribed to this destination";
	else if (c->b->conf->max_subscriptions &&
	    c->nsubs >= c->b->conf->max_subscriptions)
		err = "too many subscriptions"; /* max_subscriptions */
	if (err != NULL) {
		stomp_sub_fini(&s);
		stomp_fail(c, err);
		return;
	}
	s.no = ++c->next_sub_no;
	opts.qos = s.mode == STOMP_ACK_AUTO ? 0 : 1;
	opts.sub_id = s.no;
	stomp_sub_add(c, &s);
	if (s.is_queue) {
		stomp_receipt(c, f, false);
		broker_queue_subscribe(
		    c->b, c->sess, s.name, s.name_len, &opts, prefetch, now_ms);
		return;
	}
	(void)broker_subscribe(
	    c->b, c->sess, s.name, s.name_len, NULL, 0, &opts, &existed);
	stomp_receipt(c, f, false);
	broker_send_retained(
	    c->b, c->sess, s.name, s.name_len, &opts, existed, now_ms);
}

static void
stomp_on_unsubscribe(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms UNUSED)
{
	const struct stomp_header *id = stomp_header(f, "id");
	const struct stomp_header *d = stomp_header(f, "destination");
	struct stomp_sub *s;

	if (id == NULL && (c->version >= STOMP_V11 || d == NULL)) {
		stomp_fail_missing(c, "id");
		return;
	}
	s = id ? stomp_sub_find(c, id, false) : stomp_sub_find(c, d, true);
	if (s == NULL) {
		stomp_fail(c, "no such subscription");
		return;
	}
	if (s->is_queue)
		(void)broker_queue_unsubscribe(
		    c->b, c->sess, s->name, s->name_len);
	else
		(void)broker_unsubscribe(
		    c->b, c->sess, s->name, s->name_len, NULL, 0);
	s->gone = true;
	stomp_sub_purge(c);
	stomp_receipt(c, f, false);
}

/*
 * ACK / NACK: 1.2 names the message by id (our ack header), 1.0 and 1.1
 * by message-id (1.1 with subscription too). Both carry "SUB-SEQ"; an id
 * we never issued, or one already settled, is ignored (README).
 */
static void
stomp_ack_frame(struct stomp_conn *c, const struct stomp_frame *f, bool nack,
    uint64_t now_ms)
{
	const char *name = c->version >= STOMP_V12 ? "id" : "message-id";
	const struct stomp_header *h = stomp_header(f, name);
	struct stomp_txop op = {
	    .kind = nack ? STOMP_TXOP_NACK : STOMP_TXOP_ACK};
	struct stomp_tx *t;

	if (h == NULL ||
	    (c->version == STOMP_V11 &&
	        stomp_header(f, "subscription") == NULL)) {
		stomp_fail_missing(c, h == NULL ? name : "subscription");
		return;
	}
	if (!stomp_tx_lookup(c, f, &t))
		return;
	if (stomp_ack_id_parse(h, &op.sub_no, &op.seq)) {
		if (t != NULL && !stomp_tx_add(c, t, &op))
			return;
		if (t == NULL)
			stomp_ack_apply(c, nack, op.sub_no, op.seq, now_ms);
	}
	stomp_receipt(c, f, false);
}

static void
stomp_on_ack(struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms)
{
	stomp_ack_frame(c, f, false, now_ms);
}

static void
stomp_on_nack(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms)
{
	stomp_ack_frame(c, f, true, now_ms);
}

static void
stomp_on_begin(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms UNUSED)
{
	const struct stomp_header *h = stomp_header(f, "transaction");
	struct stomp_tx *t;

	if (h == NULL) {
		stomp_fail_missing(c, "transaction");
		return;
	}
	if (stomp_tx_get(c, h) != NULL) {
		stomp_fail(c, "transaction already begun");
		return;
	}
	if (!stomp_tx_reserve(c))
		return;
	t = xcalloc(1, sizeof(*t) + h->value_len);
	t->id_len = h->value_len;
	memcpy(t->id, h->value, h->value_len);
	list_add_tail(&c->txs, &t->link);
	stomp_receipt(c, f, false);
}

/* COMMIT and ABORT: the transaction named, or NULL after the ERROR. */
static struct stomp_tx *
stomp_tx_end(struct stomp_conn *c, const struct stomp_frame *f)
{
	const struct stomp_header *h = stomp_header(f, "transaction");
	struct stomp_tx *t;

	if (h == NULL) {
		stomp_fail_missing(c, "transaction");
		return NULL;
	}
	if ((t = stomp_tx_get(c, h)) == NULL)
		stomp_fail(c, "unknown transaction");
	return t;
}

static void
stomp_on_commit(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms)
{
	struct stomp_tx *t = stomp_tx_end(c, f);

	if (t == NULL)
		return;
	stomp_tx_run(c, t, now_ms);
	stomp_tx_free(c, t);
	stomp_receipt(c, f, false);
}

static void
stomp_on_abort(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms UNUSED)
{
	struct stomp_tx *t = stomp_tx_end(c, f);

	if (t == NULL)
		return;
	stomp_tx_free(c, t);
	stomp_receipt(c, f, false);
}

static void
stomp_on_disconnect(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms UNUSED)
{
	/* STOMP 1.2: Graceful Disconnect - RECEIPT, then close. */
	c->state = STOMP_S_CLOSING;
	c->disconnecting = true;
	stomp_receipt(c, f, true);
}

/* ---- CONNECT ---- */

/*
 * Heart-beating (STOMP 1.2: Heart-beating): each way, none if either
 * side says 0, else the larger of what one side offers and the other
 * wants. We offer stomp_heartbeat both ways.
 */
static void
stomp_heart_beat_setup(struct stomp_conn *c, uint32_t cx, uint32_t cy)
{
	uint32_t s = c->b->conf->stomp_heartbeat;

	c->hb_out_ms = s == 0 || cy == 0 ? 0 : MAX(s, cy);
	c->hb_in_ms = s == 0 || cx == 0 ? 0 : MAX(s, cx);
}

static void
stomp_send_connected(struct stomp_conn *c)
{
	static const char *const versions[] = {"1.0", "1.1", "1.2"};
	char hb[32];
	struct stomp_header h[4];
	size_t n = 0;

	h[n++] = stomp_hdr("version", versions[c->version - STOMP_V10]);
	if (c->version >= STOMP_V11) {
		snprintf(hb, sizeof(hb), "%u,%u", c->b->conf->stomp_heartbeat,
		    c->b->conf->stomp_heartbeat);
		h[n++] = stomp_hdr("heart-beat", hb);
	}
	h[n++] = stomp_hdr("session", c->sess->client_id);
	h[n++] = stomp_hdr("server", STOMP_PROTO_SERVER);
	stomp_send_frame(c, STOMP_CMD_CONNECTED, h, n, NULL, 0, NULL);
}

/* Version and heart-beat from CONNECT; false after the ERROR. */
static bool
stomp_connect_check(struct stomp_conn *c, const struct stomp_frame *f)
{
	const struct stomp_header *av = stomp_header(f, "accept-version");
	const struct stomp_header *hb = stomp_header(f, "heart-beat");
	struct stomp_header vh = stomp_hdr("version", "1.0,1.1,1.2");
	uint32_t cx = 0, cy = 0;

	c->version = (uint8_t)stomp_version_pick(
	    av ? av->value : NULL, av ? av->value_len : 0);
	if (c->version == 0) {
		c->b->stats.protocol_errors++;
		stomp_error_close(c, stomp_err_text(STOMP_E_BAD_VERSION), &vh);
		return false;
	}
	if (c->version >= STOMP_V11 && hb != NULL &&
	    !stomp_heart_beat_parse(hb->value, hb->value_len, &cx, &cy)) {
		stomp_fail(c, stomp_err_text(STOMP_E_BAD_HEART_BEAT));
		return false;
	}
	if (!c->b->conf->allow_anonymous) {
		/* No password file support yet: nobody can log in. */
		stomp_fail(c, "access refused");
		return false;
	}
	stomp_heart_beat_setup(c, cx, cy);
	return true;
}

static void
stomp_on_connect(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms)
{
	char id[STOMP_GEN_ID_MAX];
	size_t len;

	if (!stomp_connect_check(c, f))
		return;
	/* Connection-scoped: no MQTT client id can take it over. */
	len = broker_client_id(c->b, id, sizeof(id));
	c->sess = broker_session_private(c->b, id, len);
	session_attach(c->sess, &stomp_session_ops, c,
	    (uint16_t)c->b->conf->max_inflight_messages);
	stomp_send_connected(c);
	c->state = STOMP_S_CONNECTED;
	session_resume(c->sess, now_ms);
}

/* State x command dispatch: NULL is an error in that state. */
static stomp_handler_fn *const stomp_dispatch[2][STOMP_CMD_COUNT] = {
    [STOMP_S_NEW] =
        {
            [STOMP_CMD_CONNECT] = stomp_on_connect,
            [STOMP_CMD_STOMP] = stomp_on_connect,
        },
    [STOMP_S_CONNECTED] =
        {
            [STOMP_CMD_SEND] = stomp_on_send,
            [STOMP_CMD_SUBSCRIBE] = stomp_on_subscribe,
            [STOMP_CMD_UNSUBSCRIBE] = stomp_on_unsubscribe,
            [STOMP_CMD_ACK] = stomp_on_ack,
            [STOMP_CMD_NACK] = stomp_on_nack,
            [STOMP_CMD_BEGIN] = stomp_on_begin,
            [STOMP_CMD_COMMIT] = stomp_on_commit,
            [STOMP_CMD_ABORT] = stomp_on_abort,
            [STOMP_CMD_DISCONNECT] = stomp_on_disconnect,
        },
};

/* ---- input ---- */

static uint8_t *
stomp_scratch(struct stomp_conn *c, size_t len)
{
	if (len > c->scratch_cap) {
		free(c->scratch);
		c->scratch = xmalloc(len);
		c->scratch_cap = len;
	}
	return c->scratch;
}

static void
stomp_scratch_trim(struct stomp_conn *c)
{
	if (c->scratch_cap <= STOMP_SCRATCH_KEEP)
		return;
	free(c->scratch);
	c->scratch = NULL;
	c->scratch_cap = 0;
}

static void
stomp_dispatch_frame(
    struct stomp_conn *c, const struct stomp_frame *f, uint64_t now_ms)
{
	stomp_handler_fn *fn = stomp_dispatch[c->state][f->cmd];

	if (fn == NULL)
		stomp_fail(c,
		    c->state == STOMP_S_NEW
		        ? "expected a CONNECT or STOMP frame"
		        : "unexpected frame");
	else if (f->body_len > 0 && !stomp_cmd_body_ok(f->cmd))
		stomp_fail(
		    c, "this frame must not have a body"); /* 1.2: Body */
	else
		fn(c, f, now_ms);
}

/* One complete frame of len bytes at data. */
static void
stomp_frame_in(
    struct stomp_conn *c, const uint8_t *data, size_t len, uint64_t now_ms)
{
	struct stomp_header stack[STOMP_HDR_STACK];
	struct stomp_frame f = {
	    .hdr = stack, .hdr_cap = c->b->conf->stomp_max_headers};
	uint8_t *buf = stomp_scratch(c, len);
	enum stomp_err err;

	if (f.hdr_cap > STOMP_HDR_STACK)
		f.hdr = xmalloc(f.hdr_cap * sizeof(*f.hdr));

	memcpy(buf, data, len); /* decoding unescapes in place */
	if (stomp_decode(buf, len, c->version, &f, &err) != STOMP_OK) {
		stomp_malformed(c, stomp_err_text(err));
	} else {
		c->cur = &f;
		stomp_dispatch_frame(c, &f, now_ms);
		c->cur = NULL;
	}
	stomp_scratch_trim(c);
	if (f.hdr != stack)
		free(f.hdr);
}

/* Framing limits from the config: a frame holds at most this much. */
static struct stomp_limits
stomp_limits(const struct config *conf)
{
	struct stomp_limits lim = {.max_headers = conf->stomp_max_headers,
	    .max_line = conf->stomp_max_header_length,
	    .max_body = config_message_size_limit(conf)};

	lim.max_frame = lim.max_body + STOMP_FRAME_OVERHEAD +
	    (size_t)conf->stomp_max_headers *
	        (conf->stomp_max_header_length + 2);
	return lim;
}

static size_t
stomp_input(
    void *p, const uint8_t *data, size_t len, size_t *need, uint64_t now_ms)
{
	struct stomp_conn *c = p;
	struct stomp_limits lim = stomp_limits(c->b->conf);
	size_t off = 0;

	*need = 0;
	c->now_ms = now_ms;
	if (len > 0)
		c->last_rx_ms = now_ms; /* heart-beats and partial frames too */
	while (off < len && c->state != STOMP_S_CLOSING && !c->paused) {
		size_t skip, flen;
		enum stomp_err err;
		int st = stomp_frame_len(
		    &c->scan, data + off, len - off, &lim, &skip, &flen, &err);

		off += skip;
		if (st == STOMP_ERR) {
			stomp_malformed(c, stomp_err_text(err));
			break;
		}
		if (st == STOMP_MORE) {
			*need = flen;
			break;
		}
		stomp_frame_in(c, data + off, flen, now_ms);
		off += flen;
	}
	return off;
}

/* ---- deliveries out (session_ops) ---- */

/* Per-MESSAGE scratch for header values. */
struct stomp_msg_out {
	struct stomp_header *h;
	size_t n;
	char ack[STOMP_ACK_ID_MAX];
	char expires[24];
	char count[8];
	char *dest, *reply; /* heap */
};

static void
stomp_out_add(
    struct stomp_msg_out *o, const char *name, const char *v, size_t vl)
{
	o->h[o->n++] = (struct stomp_header){name, strlen(name), v, vl};
}

/* reply-to from a response topic: queue or topic destination. */
static void
stomp_out_reply(struct stomp_msg_out *o, const struct msg *m)
{
	const char *rt = m->response_topic, *q;
	size_t len = m->response_topic_len, qlen, n;

	o->reply = xmalloc(len + 8);
	if (queue_mqtt_name(rt, len, &q, &qlen))
		n = stomp_dest_from_queue(q, qlen, o->reply, len + 8);
	else
		n = stomp_dest_from_topic(rt, len, o->reply, len + 8);
	if (n > 0)
		stomp_out_add(o, "reply-to", o->reply, n);
}

static void
stomp_out_dest(
    struct stomp_msg_out *o, const struct stomp_sub *s, const struct msg *m)
{
	size_t cap = MAX(s->name_len, m->topic_len) + 8, n;

	o->dest = xmalloc(cap);
	if (s->is_queue)
		n = stomp_dest_from_queue(s->name, s->name_len, o->dest, cap);
	else
		n = stomp_dest_from_topic(m->topic, m->topic_len, o->dest, cap);
	stomp_out_add(o, "destination", o->dest, n);
}

/* Message properties as headers (README: STOMP mapping). */
static void
stomp_out_props(struct stomp_msg_out *o, const struct msg *m)
{
	if (m->content_type)
		stomp_out_add(
		    o, "content-type", m->content_type, m->content_type_len);
	if (m->response_topic)
		stomp_out_reply(o, m);
	if (m->correlation &&
	    utf8_is_valid((const char *)m->correlation, m->correlation_len))
		stomp_out_add(o, "correlation-id", (const char *)m->correlation,
		    m->correlation_len);
	if (m->expiry_at_ms) {
		snprintf(o->expires, sizeof(o->expires), "%llu",
		    (unsigned long long)m->expiry_at_ms);
		stomp_out_add(o, "expires", o->expires, strlen(o->expires));
	}
}

/*
 * A user property that is a protocol header, or would repeat one of the
 * first fixed headers this MESSAGE already has (user properties may
 * repeat among themselves: MQTT allows it).
 */
static bool
stomp_out_is_taken(
    const struct stomp_msg_out *o, size_t fixed, const struct stomp_header *u)
{
	if (u->name_len == 0 || stomp_is_proto_header(u))
		return true;
	for (size_t i = 0; i < fixed; i++) {
		if (o->h[i].name_len == u->name_len &&
		    memcmp(o->h[i].name, u->name, u->name_len) == 0)
			return true;
	}
	return false;
}

static void
stomp_out_user(struct stomp_msg_out *o, const struct msg *m)
{
	const uint8_t *k, *v;
	size_t off = 0, kl, vl, fixed = o->n;

	while (msg_user_next(m, &off, &k, &kl, &v, &vl)) {
		struct stomp_header u = {
		    (const char *)k, kl, (const char *)v, vl};

		if (!stomp_out_is_taken(o, fixed, &u))
			o->h[o->n++] = u;
	}
}

static void
stomp_message_out(struct stomp_conn *c, const struct delivery *d,
    const struct stomp_sub *s, uint64_t seq)
{
	struct stomp_header stackh[STOMP_MSG_STACK];
	size_t cap = STOMP_MSG_FIXED + d->m->user_count;
	struct stomp_msg_out o = {.h = cap <= STOMP_MSG_STACK
	        ? stackh
	        : xmalloc(cap * sizeof(struct stomp_header))};
	int al = snprintf(
	    o.ack, sizeof(o.ack), "%u-%llu", s->no, (unsigned long long)seq);

	stomp_out_add(&o, "subscription", s->id, strlen(s->id));
	stomp_out_add(&o, "message-id", o.ack, (size_t)al);
	stomp_out_dest(&o, s, d->m);
	if (c->version >= STOMP_V12 && s->mode != STOMP_ACK_AUTO)
		stomp_out_add(&o, "ack", o.ack, (size_t)al);
	if (d->attempts > 0) {
		snprintf(o.count, sizeof(o.count), "%u", d->attempts + 1u);
		stomp_out_add(&o, "redelivered", "true", 4);
		stomp_out_add(&o, "x-delivery-count", o.count, strlen(o.count));
	}
	if (d->retain)
		stomp_out_add(&o, "retain", "true", 4);
	stomp_out_props(&o, d->m);
	stomp_out_user(&o, d->m);
	stomp_send_frame(c, STOMP_CMD_MESSAGE, o.h, o.n, NULL, 0, d->m);
	free(o.dest);
	free(o.reply);
	if (o.h != stackh)
		free(o.h);
}

static bool
stomp_session_send(void *owner, const struct delivery *d, uint64_t now_ms)
{
	struct stomp_conn *c = owner;
	struct stomp_sub *s = stomp_sub_pick(c, d);
	uint64_t seq;

	c->now_ms = now_ms;
	if (s == NULL)
		return false; /* every subscription it matched is gone */
	seq = ++c->next_seq;
	if (d->qos > 0)
		stomp_rec_add(c, seq, s->no, d->pkt_id);
	stomp_message_out(c, d, s, seq);
	return true;
}

static void
stomp_session_release(void *owner UNUSED, uint16_t pkt_id UNUSED)
{
	/* STOMP subscriptions are granted QoS 1 at most: no QoS 2 flows. */
}

static bool
stomp_session_has_room(void *owner)
{
	struct stomp_conn *c = owner;

	return c->out->pending(c->io) < STOMP_QOS0_HIGH_WATER;
}

static void
stomp_session_resume(void *owner)
{
	struct stomp_conn *c = owner;

	if (!c->paused)
		return;
	c->paused = false;
	c->out->pause(c->io, false);
}

static void
stomp_session_kick(void *owner, enum session_kick why UNUSED)
{
	struct stomp_conn *c = owner;

	session_detach(c->sess);
	c->sess = NULL;
	stomp_error_close(c, "session ended by the server", NULL);
}

static const struct session_ops stomp_session_ops = {
    .send = stomp_session_send,
    .send_release = stomp_session_release,
    .has_room = stomp_session_has_room,
    .resume = stomp_session_resume,
    .kick = stomp_session_kick,
};

/* ---- proto_ops ---- */

static void *
stomp_open(struct broker *b, const struct proto_out *out, void *io,
    const char *peer UNUSED, uint64_t now_ms)
{
	struct stomp_conn *c = xcalloc(1, sizeof(*c));

	c->b = b;
	c->out = out;
	c->io = io;
	c->now_ms = c->opened_ms = c->last_rx_ms = c->last_tx_ms = now_ms;
	list_init(&c->txs);
	list_init(&c->receipts);
	return c;
}

static void
stomp_tick(void *p, uint64_t now_ms)
{
	struct stomp_conn *c = p;
	uint64_t grace = c->b->conf->stomp_heartbeat_grace_percent;

	c->now_ms = now_ms;
	if (c->state == STOMP_S_NEW) {
		if (now_ms - c->opened_ms >=
		    (uint64_t)c->b->conf->connect_timeout * 1000)
			stomp_fail(c, "no CONNECT frame in time");
		return;
	}
	if (c->state != STOMP_S_CONNECTED)
		return;
	if (c->paused)
		c->last_rx_ms = now_ms; /* we hold its input back, not it */
	if (c->hb_in_ms &&
	    (now_ms - c->last_rx_ms) * 100 > c->hb_in_ms * grace) {
		stomp_fail(c, "heart-beat timeout");
		return;
	}
	/* Early rather than late: the next tick may be a second away. */
	if (c->hb_out_ms &&
	    now_ms + STOMP_TICK_MS >= c->last_tx_ms + c->hb_out_ms)
		stomp_write(c, "\n", 1);
	stomp_sub_purge(c);
}

static void
stomp_drained(void *p, uint64_t now_ms)
{
	struct stomp_conn *c = p;

	/* QoS 0 queue consumers are paced by output; others by acks. */
	if (c->sess && c->state == STOMP_S_CONNECTED)
		broker_session_drained(c->b, c->sess, now_ms);
}

static void
stomp_close(void *p, const char *reason UNUSED, uint64_t now_ms)
{
	struct stomp_conn *c = p;

	LIST_FOREACH_SAFE(it, tmp, &c->receipts)
	{
		struct stomp_receipt *r =
		    CONTAINER_OF(it, struct stomp_receipt, link);

		r->c = NULL; /* the barrier callback frees it */
		list_del(&r->link);
	}
	LIST_FOREACH_SAFE(it, tmp, &c->txs)
	stomp_tx_free(c, CONTAINER_OF(it, struct stomp_tx, link));
	if (c->sess)
		broker_session_close(c->b, c->sess, true, now_ms);
	for (size_t i = 0; i < c->nsubs; i++)
		stomp_sub_fini(&c->subs[i]);
	free(c->subs);
	free(c->recs);
	free(c->scratch);
	free(c);
}

const struct proto_ops stomp_proto_ops = {
    .name = "stomp",
    .open = stomp_open,
    .input = stomp_input,
    .tick = stomp_tick,
    .drained = stomp_drained,
    .close = stomp_close,
};
