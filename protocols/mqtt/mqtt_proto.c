/*
 * mqtt_proto.c - MQTT 3.1 / 3.1.1 / 5.0 sessions onto core/.
 *
 * One struct mqtt_conn per connection. Input is framed and decoded by
 * mqtt_codec.c, dispatched through a state x packet-type table, and
 * turned into broker/session calls; core's deliveries come back through
 * struct session_ops and are encoded here. Every error ends in
 * mqtt_fail(), which sends the 5.0 CONNACK/DISCONNECT reason when the
 * version allows and closes through proto_out. Pure: no I/O, no logging.
 *
 * Durability gating (store.h): an acknowledgement is written only once
 * the store records it promises are durable. A PUBACK/PUBREC waits for
 * what its PUBLISH appended (nothing appended: no wait); a PUBREL waits
 * for the RELEASED record and a PUBCOMP for the inq2 delete of a stored
 * session, or a crash could undo a step the client has already taken.
 * Exactly-once across restarts: an outbound QoS 2 PUBLISH to a stored
 * session is held until its SENT record (with its packet id) is durable,
 * so after a crash it is resent with the same id and the client's own
 * dedup holds. Held output keeps its order: once anything is held, every
 * later packet of the connection queues behind it (c->held) and goes out
 * when store_barrier fires; closing cancels the barrier.
 */
#include "protocols/mqtt/mqtt_proto.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/queue.h"
#include "protocols/mqtt/mqtt_codec.h"

/* Output backlog past which QoS 0 messages to this client are dropped. */
#define MQTT_QOS0_HIGH_WATER (1024 * 1024)
/* Header bytes encoded on the stack before falling back to the heap. */
#define MQTT_HDR_STACK 512
/* Topic, packet id and properties allowed beyond message_size_limit. */
#define MQTT_HEADER_ALLOWANCE (65536 + 1024)
/* Most outbound topic aliases kept per connection (lookup is linear). */
#define MQTT_ALIAS_OUT_CAP 64
/* Longest generated client id. */
#define MQTT_GEN_ID_MAX 32

enum mqtt_state {
	MQTT_S_NEW = 0, /* waiting for CONNECT */
	MQTT_S_CONNECTED, /* CONNACK sent */
	MQTT_S_CLOSING, /* out->close called; input ignored */
};

/*
 * One per connection, so kept small (fields ordered to leave no
 * padding): what only some connections need hangs off it, made on first
 * use and freed at close.
 */
struct mqtt_conn {
	struct broker *b;
	const struct proto_out *out;
	void *io;
	struct session *sess; /* NULL before CONNECT and after a kick */
	uint64_t last_rx_ms; /* last packet in; before CONNECT: opened */
	struct mqtt_aliases *alias; /* 5.0 topic alias tables, or NULL */
	struct mqtt_held_list *held; /* output waiting for the store, or NULL */
	uint32_t
	    peer_max_packet; /* 5.0: client's Maximum Packet Size; 0 = none */
	uint16_t keep_alive; /* effective, seconds; 0 = none */
	uint16_t alias_max; /* 5.0: inbound topic aliases allowed */
	uint16_t
	    alias_out_max; /* 5.0: aliases we may send (client's max, capped) */
	uint8_t version; /* 0 before CONNECT */
	uint8_t state; /* enum mqtt_state */
	bool graceful; /* DISCONNECT seen: discard the will */
	bool paused; /* back-pressured by a full subscriber */
	bool problem_info; /* 5.0: client allows reason strings */
};

/* 5.0 topic aliases (3.3.2.3.4), once the client uses or gets one. */
struct mqtt_aliases {
	char **in; /* inbound alias -> topic, [alias_max + 1], lazily */
	uint32_t *out_hash; /* [alias_out_max]: topic hash per alias */
	char **out_topic; /* [alias_out_max]: topic per alias */
	uint16_t out_n; /* assigned so far, 1..out_n */
};

/* Output held for the store (durable stores only), in output order. */
struct mqtt_held_list {
	struct list items; /* struct mqtt_held */
	uint64_t barrier_gen; /* store generation of our last barrier */
	uint16_t pubacks; /* inbound QoS 1 not yet acked (durable) */
};

/* Output waiting until the store generation gen is durable. */
struct mqtt_held {
	struct list link;
	uint64_t gen; /* 0: waits only for what is ahead of it */
	struct msg *m; /* payload written after bytes (a reference), or NULL */
	size_t len;
	uint8_t bytes[];
};

typedef void mqtt_handler_fn(
    struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms);

static const struct session_ops mqtt_session_ops;

/* ---- output helpers ---- */

static void
mqtt_out(struct mqtt_conn *c, const void *buf, size_t len, struct msg *m)
{
	if (m)
		c->out->write_msg(c->io, buf, len, m);
	else
		c->out->write(c->io, buf, len);
}

/* The store barrier fired: write held output that is now durable. */
/*
 * A held PUBACK answers an inbound QoS 1 PUBLISH the server has not yet
 * acknowledged: it counts against the server's Receive Maximum.
 */
static bool
mqtt_held_is_puback(const struct mqtt_held *h)
{
	return h->len && (h->bytes[0] >> 4) == MQTT_PUBACK;
}

static void
mqtt_release_held(void *arg)
{
	struct mqtt_conn *c = arg;
	struct mqtt_held_list *hl = c->held; /* a barrier implies a list */
	uint64_t durable = store_durable_gen(c->b->store);
	struct mqtt_held *h;

	while ((h = LIST_FIRST(&hl->items, struct mqtt_held, link)) != NULL &&
	    h->gen <= durable) {
		list_del(&h->link);
		if (mqtt_held_is_puback(h))
			hl->pubacks--;
		mqtt_out(c, h->bytes, h->len, h->m);
		if (h->m)
			msg_unref(h->m);
		free(h);
	}
}

/* Is output being held (later output must queue behind it)? */
static bool
mqtt_is_holding(const struct mqtt_conn *c)
{
	return c->held && !list_is_empty(&c->held->items);
}

/* Held PUBACKs: they count against the server's Receive Maximum. */
static uint16_t
mqtt_held_pubacks(const struct mqtt_conn *c)
{
	return c->held ? c->held->pubacks : 0;
}

static void
mqtt_hold(struct mqtt_conn *c, const void *buf, size_t len, struct msg *m,
    uint64_t gen)
{
	struct mqtt_held *h = xmalloc(sizeof(*h) + len);

	if (c->held == NULL) {
		c->held = xcalloc(1, sizeof(*c->held));
		list_init(&c->held->items);
	}
	if (len && (((const uint8_t *)buf)[0] >> 4) == MQTT_PUBACK)
		c->held->pubacks++;
	h->gen = gen;
	h->m = m ? msg_ref(m) : NULL;
	h->len = len;
	memcpy(h->bytes, buf, len);
	list_add_tail(&c->held->items, &h->link);
	if (gen > c->held->barrier_gen) {
		c->held->barrier_gen = gen;
		store_barrier(c->b->store, mqtt_release_held, c);
	}
}

/*
 * Write buf (and m's payload) now, or hold it until store generation
 * gen is durable and everything held before it has gone.
 */
static void
mqtt_emit(struct mqtt_conn *c, const void *buf, size_t len, struct msg *m,
    uint64_t gen)
{
	if (!mqtt_is_holding(c) && gen <= store_durable_gen(c->b->store))
		mqtt_out(c, buf, len, m);
	else
		mqtt_hold(c, buf, len, m, gen);
}

/* Drop held output and its barrier (the connection is going away). */
static void
mqtt_drop_held(struct mqtt_conn *c)
{
	if (c->held == NULL)
		return;
	LIST_FOREACH_SAFE(it, tmp, &c->held->items)
	{
		struct mqtt_held *h = CONTAINER_OF(it, struct mqtt_held, link);

		if (h->m)
			msg_unref(h->m);
		free(h);
	}
	if (c->held->barrier_gen)
		store_barrier_cancel(c->b->store, mqtt_release_held, c);
	free(c->held);
	c->held = NULL;
}

/*
 * Store generation a stored session's PUBREL / PUBCOMP / SUBACK /
 * UNSUBACK depends on.
 */
static uint64_t
mqtt_session_gen(const struct mqtt_conn *c)
{
	return c->sess && c->sess->stored ? store_gen(c->b->store) : 0;
}

static void
mqtt_write_packet_gen(
    struct mqtt_conn *c, const struct mqtt_packet *pkt, uint64_t gen)
{
	uint8_t stackbuf[MQTT_HDR_STACK];
	size_t len = mqtt_encode_len(pkt, c->version);
	uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : xmalloc(len);
	size_t n = mqtt_encode(buf, len, pkt, c->version);

	ASSERT(n == len);
	mqtt_emit(c, buf, n, NULL, gen);
	if (buf != stackbuf)
		free(buf);
}

/* A packet that promises nothing durable (keeps its place in order). */
static void
mqtt_write_packet(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	mqtt_write_packet_gen(c, pkt, 0);
}

static void
mqtt_send_ack_gen(
    struct mqtt_conn *c, uint8_t type, uint16_t id, uint8_t rc, uint64_t gen)
{
	struct mqtt_packet pkt;

	/* Header and the ack member only: the union is mostly other kinds. */
	memset(&pkt, 0, offsetof(struct mqtt_packet, u) + sizeof(pkt.u.ack));
	pkt.type = type;
	pkt.flags = type == MQTT_PUBREL ? 0x2 : 0; /* MQTT-3.6.1-1 */
	pkt.u.ack.packet_id = id;
	pkt.u.ack.rc = c->version == MQTT_V5 ? rc : 0;
	mqtt_write_packet_gen(c, &pkt, gen);
}

/* PUBREL / PUBCOMP: after the session's records they depend on. */
static void
mqtt_send_ack(struct mqtt_conn *c, uint8_t type, uint16_t id, uint8_t rc)
{
	mqtt_send_ack_gen(c, type, id, rc, mqtt_session_gen(c));
}

static void
mqtt_send_simple(struct mqtt_conn *c, uint8_t type)
{
	struct mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	mqtt_write_packet(c, &pkt);
}

static void
mqtt_send_disconnect(struct mqtt_conn *c, uint8_t rc)
{
	struct mqtt_packet pkt;

	if (c->version != MQTT_V5)
		return; /* 3.x: the server never sends DISCONNECT */
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_DISCONNECT;
	pkt.u.disconnect.rc = rc;
	mqtt_write_packet(c, &pkt);
}

static void
mqtt_send_connack(struct mqtt_conn *c, bool present, uint8_t rc,
    const struct mqtt_props *props)
{
	struct mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_CONNACK;
	pkt.u.connack.session_present = present;
	pkt.u.connack.rc = c->version == MQTT_V5 ? rc : mqtt_connack_rc_v3(rc);
	if (props)
		pkt.u.connack.props = *props;
	mqtt_write_packet(c, &pkt);
}

/*
 * The one error path: count, tell a 5.0 client why when the state
 * allows, and close. reason is a static string for the log.
 */
static void
mqtt_fail(struct mqtt_conn *c, uint8_t rc, const char *reason)
{
	if (c->state == MQTT_S_CLOSING)
		return;
	if (rc == MQTT_RC_MALFORMED)
		c->b->stats.malformed++;
	else
		c->b->stats.protocol_errors++;
	if (c->state == MQTT_S_CONNECTED)
		mqtt_send_disconnect(c, rc);
	c->state = MQTT_S_CLOSING;
	c->out->close(c->io, reason);
}

/* Refuse a CONNECT with a CONNACK reason, then close. */
static void
mqtt_refuse(struct mqtt_conn *c, uint8_t rc, const char *reason)
{
	mqtt_send_connack(c, false, rc, NULL);
	c->b->stats.protocol_errors++;
	c->state = MQTT_S_CLOSING;
	c->out->close(c->io, reason);
}

/* ---- CONNECT ---- */

static bool
mqtt_name_is_known(const struct mqtt_str *name)
{
	return (name->len == 4 && memcmp(name->p, "MQTT", 4) == 0) ||
	    (name->len == 6 && memcmp(name->p, "MQIsdp", 6) == 0);
}

/* Build the will message from CONNECT (validated here: MQTT-3.1.2-9..15). */
static struct msg *mqtt_will_new(
    struct mqtt_conn *c, const struct mqtt_connect *cp, uint64_t now_ms);

static uint8_t
mqtt_connect_check(struct mqtt_conn *c, const struct mqtt_connect *cp)
{
	const struct config *conf = c->b->conf;

	if (cp->client_id.len == 0 && !cp->clean && cp->version != MQTT_V5)
		return MQTT_RC_CLIENT_ID_INVALID; /* MQTT-3.1.3-8 */
	if (cp->client_id.len == 0 && cp->version == MQTT_V31)
		return MQTT_RC_CLIENT_ID_INVALID; /* 3.1 needs 1..23 chars */
	if (cp->version == MQTT_V5 &&
	    (cp->props.present & MQTT_PBIT(MQTT_PROP_AUTH_METHOD)))
		return MQTT_RC_BAD_AUTH_METHOD; /* no methods configured */
	if (!conf->allow_anonymous)
		return MQTT_RC_NOT_AUTHORIZED; /* no password file support yet */
	if (cp->version != MQTT_V5 && conf->max_keepalive &&
	    cp->keep_alive > conf->max_keepalive)
		return MQTT_RC_CLIENT_ID_INVALID; /* as Mosquitto: README */
	if (cp->has_will && cp->will_retain && !conf->retain_available)
		return MQTT_RC_RETAIN_NOT_SUPPORTED;
	return MQTT_RC_SUCCESS;
}

/* Session expiry after disconnect, in seconds (SESSION_EXPIRY_NEVER = never). */
static uint32_t
mqtt_session_expiry(const struct mqtt_conn *c, const struct mqtt_connect *cp)
{
	uint32_t pce = c->b->conf->persistent_client_expiration;

	if (cp->version == MQTT_V5)
		return (cp->props.present & MQTT_PBIT(MQTT_PROP_SESSION_EXPIRY))
		    ? cp->props.session_expiry
		    : 0;
	if (cp->clean)
		return 0;
	return pce ? pce : SESSION_EXPIRY_NEVER;
}

static void
mqtt_connack_props(struct mqtt_conn *c, const struct mqtt_connect *cp,
    struct mqtt_props *p, const char *assigned, size_t alen,
    const char *response)
{
	const struct config *conf = c->b->conf;

	memset(p, 0, sizeof(*p));
	if (response) {
		p->present |= MQTT_PBIT(MQTT_PROP_RESPONSE_INFO);
		p->response_info.p = response;
		p->response_info.len = strlen(response);
	}
	if (conf->max_inflight_messages < 65535) {
		p->present |= MQTT_PBIT(MQTT_PROP_RECEIVE_MAX);
		p->receive_max = (uint16_t)conf->max_inflight_messages;
	}
	if (!conf->retain_available) {
		p->present |= MQTT_PBIT(MQTT_PROP_RETAIN_AVAILABLE);
		p->retain_available = 0;
	}
	if (conf->max_packet_size) {
		p->present |= MQTT_PBIT(MQTT_PROP_MAX_PACKET_SIZE);
		p->max_packet_size = conf->max_packet_size;
	}
	if (c->alias_max) {
		p->present |= MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS_MAX);
		p->topic_alias_max = c->alias_max;
	}
	if (assigned) {
		p->present |= MQTT_PBIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
		p->assigned_client_id.p = assigned;
		p->assigned_client_id.len = alen;
	}
	if (c->keep_alive != cp->keep_alive) {
		p->present |= MQTT_PBIT(MQTT_PROP_SERVER_KEEP_ALIVE);
		p->server_keep_alive = c->keep_alive;
	}
}

/* Negotiate keep alive and the 5.0 limits the client announced. */
static void
mqtt_connect_params(struct mqtt_conn *c, const struct mqtt_connect *cp)
{
	uint32_t max = c->b->conf->max_keepalive;
	const struct mqtt_props *p = &cp->props;

	c->keep_alive = cp->keep_alive;
	if (cp->version == MQTT_V5 && max &&
	    (c->keep_alive == 0 || c->keep_alive > max))
		c->keep_alive = (uint16_t)max; /* MQTT-3.2.2-21 */
	c->problem_info = true;
	if (cp->version != MQTT_V5)
		return;
	c->alias_max = (uint16_t)c->b->conf->max_topic_alias;
	if (p->present & MQTT_PBIT(MQTT_PROP_MAX_PACKET_SIZE))
		c->peer_max_packet = p->max_packet_size;
	if (p->present & MQTT_PBIT(MQTT_PROP_REQUEST_PROBLEM_INFO))
		c->problem_info = p->request_problem_info != 0;
	if (p->present & MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS_MAX))
		c->alias_out_max = MIN(p->topic_alias_max, MQTT_ALIAS_OUT_CAP);
}

/*
 * Response Information (MQTT 5 3.1.2.11.7): a topic prefix the client may
 * build response topics on, "response/<client id>" with wildcard
 * characters replaced so it is always a valid topic. Heap string or NULL.
 */
static char *
mqtt_response_info(const struct mqtt_connect *cp, const char *id, size_t len)
{
	const struct mqtt_props *p = &cp->props;
	char *r;

	if (!(p->present & MQTT_PBIT(MQTT_PROP_REQUEST_RESPONSE_INFO)) ||
	    p->request_response_info == 0)
		return NULL;
	r = xmalloc(len + sizeof("response/"));
	memcpy(r, "response/", 9);
	for (size_t i = 0; i < len; i++)
		r[9 + i] = (id[i] == '+' || id[i] == '#') ? '_' : id[i];
	r[9 + len] = '\0';
	return r;
}

static uint16_t
mqtt_window(const struct mqtt_conn *c, const struct mqtt_connect *cp)
{
	uint32_t w = c->b->conf->max_inflight_messages;

	if (cp->version == MQTT_V5 &&
	    (cp->props.present & MQTT_PBIT(MQTT_PROP_RECEIVE_MAX)))
		w = MIN(w, cp->props.receive_max); /* MQTT-3.3.4-7 */
	return (uint16_t)MAX(w, 1u);
}

static void
mqtt_on_connect(struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms)
{
	const struct mqtt_connect *cp = &pkt->u.connect;
	char gen[MQTT_GEN_ID_MAX];
	const char *id = cp->client_id.p;
	size_t idlen = cp->client_id.len;
	struct mqtt_props props;
	struct msg *will = NULL;
	char *response;
	bool present;
	uint8_t rc;

	c->version = cp->version;
	rc = mqtt_connect_check(c, cp);
	if (rc != MQTT_RC_SUCCESS) {
		mqtt_refuse(c, rc, mqtt_rc_text(rc));
		return;
	}
	if (cp->has_will && (will = mqtt_will_new(c, cp, now_ms)) == NULL)
		return;
	if (idlen == 0)
		idlen = broker_client_id(c->b, gen, sizeof(gen)), id = gen;
	mqtt_connect_params(c, cp);
	c->sess =
	    broker_session_open(c->b, id, idlen, cp->clean, &present, now_ms);
	session_attach(c->sess, &mqtt_session_ops, c, mqtt_window(c, cp));
	broker_session_set_expiry(c->b, c->sess, mqtt_session_expiry(c, cp));
	session_set_will(
	    c->sess, will, cp->has_will ? cp->will_props.will_delay : 0);
	response = mqtt_response_info(cp, id, idlen);
	mqtt_connack_props(
	    c, cp, &props, id == gen ? gen : NULL, idlen, response);
	mqtt_send_connack(c, present, MQTT_RC_SUCCESS, &props);
	free(response);
	c->state = MQTT_S_CONNECTED;
	session_resume(c->sess, now_ms); /* MQTT-4.4.0-1 */
}

/* ---- messages in ---- */

/* Property part of a message from 5.0 properties (slices, not copied). */
static void
mqtt_msg_props(struct msg_init *mi, const struct mqtt_props *p, uint8_t *user,
    uint64_t now_ms)
{
	if (p->present & MQTT_PBIT(MQTT_PROP_PAYLOAD_FORMAT)) {
		mi->has_payload_format = true;
		mi->payload_format = p->payload_format;
	}
	if (p->present & MQTT_PBIT(MQTT_PROP_MESSAGE_EXPIRY))
		mi->expiry_at_ms = now_ms + (uint64_t)p->message_expiry * 1000;
	if (p->present & MQTT_PBIT(MQTT_PROP_CONTENT_TYPE)) {
		mi->content_type = p->content_type.p;
		mi->content_type_len = p->content_type.len;
	}
	if (p->present & MQTT_PBIT(MQTT_PROP_RESPONSE_TOPIC)) {
		mi->response_topic = p->response_topic.p;
		mi->response_topic_len = p->response_topic.len;
	}
	if (p->present & MQTT_PBIT(MQTT_PROP_CORRELATION_DATA)) {
		mi->correlation = p->correlation_data.p;
		mi->correlation_len = p->correlation_data.len;
	}
	if (p->user_count) {
		mqtt_props_user_copy(p, user);
		mi->user = user;
		mi->user_len = p->user_len;
		mi->user_count = p->user_count;
	}
}

/* Build a message; the user-property scratch is allocated only if needed. */
static struct msg *
mqtt_msg_new(const struct mqtt_str *topic, const struct mqtt_bin *payload,
    uint8_t qos, bool retain, const struct mqtt_props *p, uint64_t now_ms)
{
	struct msg_init mi;
	uint8_t *user = p->user_count ? xmalloc(p->user_len) : NULL;
	struct msg *m;

	memset(&mi, 0, sizeof(mi));
	mi.topic = topic->p;
	mi.topic_len = topic->len;
	mi.payload = payload->p;
	mi.payload_len = payload->len;
	mi.qos = qos;
	mi.retain = retain;
	mqtt_msg_props(&mi, p, user, now_ms);
	m = msg_new(&mi);
	free(user);
	return m;
}

/* Topic name checks beyond the codec's UTF-8 ones. */
static uint8_t
mqtt_topic_check(const struct mqtt_conn *c, const struct mqtt_str *t)
{
	if (!topic_name_is_valid(t->p, t->len))
		return MQTT_RC_TOPIC_NAME_INVALID; /* MQTT-3.3.2-2, 4.7.3-1 */
	if (topic_levels(t->p, t->len) > c->b->conf->max_topic_levels)
		return MQTT_RC_TOPIC_NAME_INVALID;
	return MQTT_RC_SUCCESS;
}

static struct msg *
mqtt_will_new(
    struct mqtt_conn *c, const struct mqtt_connect *cp, uint64_t now_ms)
{
	uint8_t rc = mqtt_topic_check(c, &cp->will_topic);

	if (rc == MQTT_RC_SUCCESS &&
	    cp->will_payload.len > config_message_size_limit(c->b->conf))
		rc = MQTT_RC_PACKET_TOO_LARGE;
	if (rc != MQTT_RC_SUCCESS) {
		mqtt_refuse(c, rc, "invalid will");
		return NULL;
	}
	return mqtt_msg_new(&cp->will_topic, &cp->will_payload, cp->will_qos,
	    cp->will_retain, &cp->will_props, now_ms);
}

/* The topic alias tables, made on first use. */
static struct mqtt_aliases *
mqtt_aliases(struct mqtt_conn *c)
{
	if (c->alias == NULL)
		c->alias = xcalloc(1, sizeof(*c->alias));
	return c->alias;
}

static void
mqtt_aliases_free(struct mqtt_conn *c)
{
	struct mqtt_aliases *al = c->alias;

	if (al == NULL)
		return;
	if (al->in) {
		for (size_t i = 0; i <= c->alias_max; i++)
			free(al->in[i]);
		free(al->in);
	}
	for (size_t i = 0; i < al->out_n; i++)
		free(al->out_topic[i]);
	free(al->out_topic);
	free(al->out_hash);
	free(al);
	c->alias = NULL;
}

/* 5.0 topic alias (3.3.2.3.4): resolve or record; false on error. */
static bool
mqtt_alias_resolve(struct mqtt_conn *c, struct mqtt_publish *pub)
{
	uint16_t a = pub->props.topic_alias;
	struct mqtt_aliases *al;

	if (!(pub->props.present & MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS)))
		return true;
	if (a == 0 || a > c->alias_max) {
		mqtt_fail(
		    c, MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias invalid");
		return false; /* MQTT-3.3.2-9 */
	}
	al = mqtt_aliases(c);
	if (al->in == NULL)
		al->in = xcalloc(c->alias_max + 1u, sizeof(char *));
	if (pub->topic.len > 0) {
		free(al->in[a]);
		al->in[a] = xstrndup(pub->topic.p, pub->topic.len);
		return true;
	}
	if (al->in[a] == NULL) {
		mqtt_fail(c, MQTT_RC_PROTOCOL_ERROR, "unknown topic alias");
		return false;
	}
	pub->topic.p = al->in[a];
	pub->topic.len = strlen(al->in[a]);
	return true;
}

static uint8_t
mqtt_publish_check(struct mqtt_conn *c, const struct mqtt_publish *pub)
{
	const struct config *conf = c->b->conf;
	uint8_t rc = mqtt_topic_check(c, &pub->topic);

	if (rc != MQTT_RC_SUCCESS)
		return rc;
	if (pub->retain && !conf->retain_available)
		return MQTT_RC_RETAIN_NOT_SUPPORTED; /* MQTT-3.3.1-? 5.0 */
	if (pub->payload.len > config_message_size_limit(conf))
		return MQTT_RC_PACKET_TOO_LARGE;
	if (pub->props.sub_id_count)
		return MQTT_RC_PROTOCOL_ERROR; /* MQTT-3.3.4-6 */
	if (pub->props.present & MQTT_PBIT(MQTT_PROP_RESPONSE_TOPIC) &&
	    !topic_name_is_valid(
	        pub->props.response_topic.p, pub->props.response_topic.len))
		return MQTT_RC_PROTOCOL_ERROR; /* MQTT-3.3.2-14 */
	/* QoS 2 awaiting PUBREL and QoS 1 whose PUBACK waits for the disk */
	if (c->version == MQTT_V5 && pub->qos > 0 &&
	    c->sess->inq2_count + mqtt_held_pubacks(c) >=
	        c->b->conf->max_inflight_messages &&
	    !session_inq2_has(c->sess, pub->packet_id))
		return MQTT_RC_RECEIVE_MAX_EXCEEDED; /* MQTT-3.3.4-9 */
	return MQTT_RC_SUCCESS;
}

/* Route to a topic or a queue; false when a full queue refused it. */
static bool
mqtt_route(struct mqtt_conn *c, const struct mqtt_publish *pub, uint64_t now_ms)
{
	struct msg *m = mqtt_msg_new(&pub->topic, &pub->payload, pub->qos,
	    pub->retain, &pub->props, now_ms);
	enum queue_result r = QUEUE_ACCEPTED;
	const char *q;
	size_t qlen;

	if (queue_mqtt_name(pub->topic.p, pub->topic.len, &q, &qlen))
		r = broker_queue_publish(c->b, c->sess, q, qlen, m, now_ms);
	else if (!broker_publish(c->b, c->sess, m, now_ms))
		r = QUEUE_BLOCKED;
	if (r == QUEUE_BLOCKED && !c->paused) {
		/* A subscriber or queue is full: stop reading this publisher. */
		c->paused = true;
		c->out->pause(c->io, true);
	}
	msg_unref(m);
	return r != QUEUE_REJECTED;
}

/*
 * The store refused a record this message needed (disk cap, failed
 * journal), or a full queue with overflow reject refused the message:
 * never acknowledge it. 5.0 is told (quota exceeded, the flow ends); 3.x
 * has no negative ack, so the connection closes.
 */
static void
mqtt_refuse_publish(struct mqtt_conn *c, const struct mqtt_publish *pub)
{
	if (c->version != MQTT_V5) {
		mqtt_fail(c, MQTT_RC_QUOTA_EXCEEDED, "store full");
		return;
	}
	mqtt_send_ack_gen(c, pub->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC,
	    pub->packet_id, MQTT_RC_QUOTA_EXCEEDED, 0);
}

/*
 * Route, then acknowledge once everything the message caused is durable
 * (gen: nothing appended, nothing to wait for).
 */
static void
mqtt_route_ack(
    struct mqtt_conn *c, const struct mqtt_publish *pub, uint64_t now_ms)
{
	struct store *st = c->b->store;
	uint64_t refused = st->refused, gen = store_gen(st);
	bool taken = mqtt_route(c, pub, now_ms) && st->refused == refused;

	if (pub->qos == 2 && taken)
		session_inq2_add(c->sess, pub->packet_id);
	if (pub->qos == 0)
		return;
	if (!taken) {
		mqtt_refuse_publish(c, pub);
		return;
	}
	gen = store_gen(st) > gen ? store_gen(st) : 0;
	mqtt_send_ack_gen(c, pub->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC,
	    pub->packet_id, MQTT_RC_SUCCESS, gen);
}

static void
mqtt_on_publish(struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms)
{
	struct mqtt_publish *pub = &pkt->u.publish;
	uint8_t rc;

	if (!mqtt_alias_resolve(c, pub))
		return;
	rc = mqtt_publish_check(c, pub);
	if (rc != MQTT_RC_SUCCESS) {
		mqtt_fail(c, rc, mqtt_rc_text(rc));
		return;
	}
	if (pub->qos == 2 && session_inq2_has(c->sess, pub->packet_id)) {
		/* A resend before PUBREL: never deliver twice (4.3.3). */
		mqtt_send_ack(c, MQTT_PUBREC, pub->packet_id, 0);
		return;
	}
	mqtt_route_ack(c, pub, now_ms);
}

/* ---- acknowledgements in ---- */

static void
mqtt_on_puback(struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms)
{
	/* An unknown id is ignored: it may be from before a takeover. */
	if (pkt->u.ack.rc >= 0x80) /* 5.0: the client refused it */
		(void)broker_nack(c->b, c->sess, pkt->u.ack.packet_id, now_ms);
	else
		(void)session_on_puback(c->sess, pkt->u.ack.packet_id, now_ms);
}

static void
mqtt_on_pubrec(struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms)
{
	uint16_t id = pkt->u.ack.packet_id;

	if (pkt->u.ack.rc >= 0x80) { /* ends the flow, no PUBREL (4.3.3) */
		(void)broker_nack(c->b, c->sess, id, now_ms);
		return;
	}
	if (!session_on_pubrec(c->sess, id, now_ms))
		mqtt_send_ack(c, MQTT_PUBREL, id, MQTT_RC_PACKET_ID_NOT_FOUND);
}

static void
mqtt_on_pubrel(
    struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms UNUSED)
{
	uint16_t id = pkt->u.ack.packet_id;
	bool known = session_inq2_del(c->sess, id);

	/* MQTT-4.3.3-? : PUBCOMP even for an id we no longer hold. */
	mqtt_send_ack(c, MQTT_PUBCOMP, id,
	    known ? MQTT_RC_SUCCESS : MQTT_RC_PACKET_ID_NOT_FOUND);
}

static void
mqtt_on_pubcomp(struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms)
{
	(void)session_on_pubcomp(c->sess, pkt->u.ack.packet_id, now_ms);
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ---- */

struct mqtt_filter {
	const char *filter, *group;
	size_t flen, glen;
};

/* Split and validate one filter; returns a SUBACK failure code or 0. */
static uint8_t
mqtt_filter_parse(struct mqtt_conn *c, const struct mqtt_str *s,
    struct mqtt_filter *f, bool *fatal)
{
	bool malformed = false;

	*fatal = false;
	f->filter = s->p, f->flen = s->len, f->group = NULL, f->glen = 0;
	if (topic_share_split(s->p, s->len, &f->group, &f->glen, &f->filter,
	        &f->flen, &malformed)) {
		if (malformed)
			return MQTT_RC_TOPIC_FILTER_INVALID; /* 5.0 4.8.2 */
	}
	if (!topic_filter_is_valid(f->filter, f->flen)) {
		*fatal = c->version != MQTT_V5; /* README: 3.x closes (4.8) */
		return MQTT_RC_TOPIC_FILTER_INVALID;
	}
	if (topic_levels(f->filter, f->flen) > c->b->conf->max_topic_levels)
		return MQTT_RC_UNSPECIFIED;
	return MQTT_RC_SUCCESS;
}

static uint8_t
mqtt_sub_code(const struct mqtt_conn *c, uint8_t rc)
{
	return c->version == MQTT_V5 ? rc : 0x80; /* MQTT-3.9.3 */
}

/* Does the filter name a queue ($queue/NAME) rather than topics? */
static bool
mqtt_filter_is_queue(const struct mqtt_filter *f)
{
	const char *q;
	size_t qlen;

	return f->group == NULL &&
	    queue_mqtt_name(f->filter, f->flen, &q, &qlen);
}

/* Core's view of one SUBSCRIBE entry's options. */
static struct sub_opts
mqtt_sub_opts(const struct mqtt_sub_opts *o, uint32_t sub_id)
{
	return (struct sub_opts){.qos = o->qos,
	    .no_local = o->no_local,
	    .retain_as_published = o->retain_as_published,
	    .retain_handling = o->retain_handling,
	    .sub_id = sub_id};
}

/* Subscribe one filter; returns the SUBACK code. */
static uint8_t
mqtt_sub_one(struct mqtt_conn *c, const struct mqtt_str *s,
    const struct mqtt_sub_opts *o, uint32_t sub_id, bool *existed, bool *fatal)
{
	struct mqtt_filter f;
	struct sub_opts opts = mqtt_sub_opts(o, sub_id);
	uint8_t rc = mqtt_filter_parse(c, s, &f, fatal);

	if (rc != MQTT_RC_SUCCESS)
		return mqtt_sub_code(c, rc);
	if (f.group && o->no_local)
		return MQTT_RC_PROTOCOL_ERROR; /* MQTT-3.8.3-4 */
	if (!broker_sub_allowed(
	        c->b, c->sess, f.filter, f.flen, f.group, f.glen))
		return mqtt_sub_code(c, MQTT_RC_QUOTA_EXCEEDED); /* README */
	return broker_subscribe(
	    c->b, c->sess, f.filter, f.flen, f.group, f.glen, &opts, existed);
}

/*
 * Second pass, after SUBACK: retained messages (MQTT-3.3.1-6). codes[i]
 * is filter i's SUBACK code, existed[i] whether it replaced one.
 */
static void
mqtt_sub_retained(struct mqtt_conn *c, const struct mqtt_subscribe *sp,
    const uint8_t *codes, const bool *existed, uint32_t sub_id, uint64_t now_ms)
{
	struct mqtt_str s;
	struct mqtt_sub_opts o;
	size_t off = 0;

	for (size_t i = 0; mqtt_sub_next(sp, c->version, &off, &s, &o); i++) {
		struct mqtt_filter f;
		struct sub_opts opts = mqtt_sub_opts(&o, sub_id);
		bool fatal;

		if (codes[i] >= 0x80)
			continue;
		(void)mqtt_filter_parse(c, &s, &f, &fatal);
		if (f.group == NULL && !mqtt_filter_is_queue(&f)) /* 3.3.1.3 */
			broker_send_retained(c->b, c->sess, f.filter, f.flen,
			    &opts, existed[i], now_ms);
	}
}

static void
mqtt_on_subscribe(struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms)
{
	struct mqtt_subscribe *sp = &pkt->u.subscribe;
	uint8_t *codes = xmalloc(sp->count);
	bool *existed = xcalloc(sp->count, sizeof(bool));
	uint32_t sub_id = sp->props.sub_id_count ? sp->props.sub_ids[0] : 0;
	struct mqtt_packet ack;
	struct mqtt_str s;
	struct mqtt_sub_opts o;
	size_t off = 0, n = 0;
	bool fatal = false;

	while (!fatal && mqtt_sub_next(sp, c->version, &off, &s, &o))
		codes[n] = mqtt_sub_one(c, &s, &o, sub_id, &existed[n], &fatal),
		n++;
	if (fatal) {
		mqtt_fail(
		    c, MQTT_RC_TOPIC_FILTER_INVALID, "invalid topic filter");
		goto out;
	}
	memset(&ack, 0, sizeof(ack));
	ack.type = MQTT_SUBACK;
	ack.u.suback.packet_id = sp->packet_id;
	ack.u.suback.codes = codes;
	ack.u.suback.count = n;
	/* a stored session's subscriptions are on disk before the SUBACK */
	mqtt_write_packet_gen(c, &ack, mqtt_session_gen(c));
	mqtt_sub_retained(c, sp, codes, existed, sub_id, now_ms);
	queue_session_online(c->b, c->sess, now_ms); /* $queue consumers */
out:
	free(existed);
	free(codes);
}

static uint8_t
mqtt_unsub_one(struct mqtt_conn *c, const struct mqtt_str *s)
{
	struct mqtt_filter f;
	bool fatal;

	if (mqtt_filter_parse(c, s, &f, &fatal) != MQTT_RC_SUCCESS)
		return MQTT_RC_TOPIC_FILTER_INVALID;
	return broker_unsubscribe(
	           c->b, c->sess, f.filter, f.flen, f.group, f.glen)
	    ? MQTT_RC_SUCCESS
	    : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
}

static void
mqtt_on_unsubscribe(
    struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms UNUSED)
{
	struct mqtt_subscribe *sp = &pkt->u.subscribe;
	uint8_t *codes = xmalloc(sp->count);
	struct mqtt_packet ack;
	struct mqtt_str s;
	size_t off = 0, n = 0;

	while (mqtt_unsub_next(sp, &off, &s))
		codes[n++] = mqtt_unsub_one(c, &s);
	memset(&ack, 0, sizeof(ack));
	ack.type = MQTT_UNSUBACK;
	ack.u.suback.packet_id = sp->packet_id;
	ack.u.suback.codes = codes;
	ack.u.suback.count = n;
	mqtt_write_packet_gen(c, &ack, mqtt_session_gen(c));
	free(codes);
}

/* ---- the rest ---- */

static void
mqtt_on_pingreq(
    struct mqtt_conn *c, struct mqtt_packet *pkt UNUSED, uint64_t now_ms UNUSED)
{
	mqtt_send_simple(c, MQTT_PINGRESP);
}

static void
mqtt_on_disconnect(
    struct mqtt_conn *c, struct mqtt_packet *pkt, uint64_t now_ms UNUSED)
{
	const struct mqtt_disconnect *d = &pkt->u.disconnect;

	if (d->props.present & MQTT_PBIT(MQTT_PROP_SESSION_EXPIRY)) {
		if (c->sess->expiry_s == 0 && d->props.session_expiry != 0) {
			mqtt_fail(c, MQTT_RC_PROTOCOL_ERROR,
			    "session expiry set at disconnect");
			return; /* MQTT-3.14.2-2 */
		}
		broker_session_set_expiry(
		    c->b, c->sess, d->props.session_expiry);
	}
	/* Only 0x00 discards the will (MQTT-3.1.2-10); 0x04 asks for it. */
	c->graceful = d->rc == MQTT_RC_SUCCESS;
	c->state = MQTT_S_CLOSING;
	c->out->close(c->io, NULL);
}

static void
mqtt_on_auth(
    struct mqtt_conn *c, struct mqtt_packet *pkt UNUSED, uint64_t now_ms UNUSED)
{
	/* No authentication method is configured, so AUTH is unexpected. */
	mqtt_fail(c, MQTT_RC_PROTOCOL_ERROR, "unexpected AUTH");
}

/* State x packet dispatch: NULL means a protocol error in that state. */
static mqtt_handler_fn *const mqtt_dispatch[2][16] = {
    [MQTT_S_NEW] =
        {
            [MQTT_CONNECT] = mqtt_on_connect,
        },
    [MQTT_S_CONNECTED] =
        {
            [MQTT_PUBLISH] = mqtt_on_publish,
            [MQTT_PUBACK] = mqtt_on_puback,
            [MQTT_PUBREC] = mqtt_on_pubrec,
            [MQTT_PUBREL] = mqtt_on_pubrel,
            [MQTT_PUBCOMP] = mqtt_on_pubcomp,
            [MQTT_SUBSCRIBE] = mqtt_on_subscribe,
            [MQTT_UNSUBSCRIBE] = mqtt_on_unsubscribe,
            [MQTT_PINGREQ] = mqtt_on_pingreq,
            [MQTT_DISCONNECT] = mqtt_on_disconnect,
            [MQTT_AUTH] = mqtt_on_auth,
        },
};

/* A CONNECT the codec refused: answer what the standard asks. */
static void
mqtt_connect_error(struct mqtt_conn *c, struct mqtt_packet *pkt, uint8_t rc)
{
	const struct mqtt_connect *cp = &pkt->u.connect;

	if (rc == MQTT_RC_UNSUPPORTED_VERSION &&
	    mqtt_name_is_known(&cp->proto_name)) {
		/* MQTT-3.1.2-2: answer in a form the client can read. */
		c->version = cp->version == MQTT_V5 ? MQTT_V5 : MQTT_V311;
		mqtt_refuse(c, rc, "unsupported protocol version");
		return;
	}
	if (cp->version == MQTT_V5 && rc != MQTT_RC_UNSUPPORTED_VERSION) {
		c->version = MQTT_V5;
		mqtt_refuse(c, rc, mqtt_rc_text(rc));
		return;
	}
	mqtt_fail(c, rc,
	    rc == MQTT_RC_MALFORMED ? "malformed CONNECT" : "invalid CONNECT");
}

static void
mqtt_packet_in(
    struct mqtt_conn *c, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	struct mqtt_packet pkt;
	mqtt_handler_fn *fn;
	uint8_t rc = 0;

	/* mqtt_decode initialises what it returns. */
	if (mqtt_decode(buf, len, c->version, &pkt, &rc) != MQTT_OK) {
		if (c->state == MQTT_S_NEW && pkt.type == MQTT_CONNECT)
			mqtt_connect_error(c, &pkt, rc);
		else
			mqtt_fail(c, rc,
			    rc == MQTT_RC_MALFORMED ? "malformed packet"
			                            : "protocol error");
		return;
	}
	fn = pkt.type < 16 ? mqtt_dispatch[c->state][pkt.type] : NULL;
	if (fn == NULL) {
		/* MQTT-3.1.0-1 (CONNECT first), 3.1.0-2 (only once), 4.8 */
		mqtt_fail(c, MQTT_RC_PROTOCOL_ERROR,
		    c->state == MQTT_S_NEW ? "first packet is not CONNECT"
		                           : "unexpected packet");
		return;
	}
	c->last_rx_ms = now_ms;
	fn(c, &pkt, now_ms);
}

/*
 * Largest packet accepted, judged from the fixed header before the body
 * is buffered: max_packet_size, else the payload limit plus room for the
 * topic, packet id and properties.
 */
static uint64_t
mqtt_max_in(const struct mqtt_conn *c)
{
	const struct config *conf = c->b->conf;

	if (conf->max_packet_size)
		return conf->max_packet_size;
	if (conf->message_size_limit)
		return (uint64_t)conf->message_size_limit +
		    MQTT_HEADER_ALLOWANCE;
	return MQTT_MAX_REMAINING + 5;
}

static size_t
mqtt_input(
    void *p, const uint8_t *data, size_t len, size_t *need, uint64_t now_ms)
{
	struct mqtt_conn *c = p;
	size_t off = 0, flen;

	*need = 0;
	while (off < len && c->state != MQTT_S_CLOSING && !c->paused) {
		int st;

		flen =
		    0; /* set on MQTT_MORE once the fixed header is complete */
		st = mqtt_frame_len(data + off, len - off, &flen);

		if (st == MQTT_ERR) {
			mqtt_fail(
			    c, MQTT_RC_MALFORMED, "malformed remaining length");
			break;
		}
		if (st == MQTT_OK || flen) {
			if (flen > mqtt_max_in(c)) {
				mqtt_fail(c, MQTT_RC_PACKET_TOO_LARGE,
				    "packet too large");
				break;
			}
		}
		if (st == MQTT_MORE) {
			*need = flen;
			break;
		}
		mqtt_packet_in(c, data + off, flen, now_ms);
		off += flen;
	}
	return off;
}

/* ---- deliveries out (session_ops) ---- */

static void
mqtt_pub_props(const struct mqtt_conn *c, const struct delivery *d,
    struct mqtt_props *p, uint64_t now_ms)
{
	const struct msg *m = d->m;

	memset(p, 0, sizeof(*p));
	if (c->version != MQTT_V5)
		return;
	if (m->has_payload_format) {
		p->present |= MQTT_PBIT(MQTT_PROP_PAYLOAD_FORMAT);
		p->payload_format = m->payload_format;
	}
	if (m->expiry_at_ms) {
		uint64_t left =
		    m->expiry_at_ms > now_ms ? m->expiry_at_ms - now_ms : 0;

		p->present |= MQTT_PBIT(MQTT_PROP_MESSAGE_EXPIRY);
		p->message_expiry =
		    (uint32_t)((left + 999) / 1000); /* 3.3.2.3.3 */
	}
	if (m->content_type) {
		p->present |= MQTT_PBIT(MQTT_PROP_CONTENT_TYPE);
		p->content_type.p = m->content_type;
		p->content_type.len = m->content_type_len;
	}
	if (m->response_topic) {
		p->present |= MQTT_PBIT(MQTT_PROP_RESPONSE_TOPIC);
		p->response_topic.p = m->response_topic;
		p->response_topic.len = m->response_topic_len;
	}
	if (m->correlation) {
		p->present |= MQTT_PBIT(MQTT_PROP_CORRELATION_DATA);
		p->correlation_data.p = m->correlation;
		p->correlation_data.len = m->correlation_len;
	}
	if (m->user_count) {
		p->user = m->user;
		p->user_len = m->user_len;
		p->user_count = m->user_count;
	}
	for (unsigned i = 0; i < d->nsub_ids && i < MQTT_MAX_SUB_IDS; i++) {
		p->present |= MQTT_PBIT(MQTT_PROP_SUBSCRIPTION_ID);
		p->sub_ids[p->sub_id_count++] = d->sub_ids[i];
	}
}

/* Alias already sent for this topic, or 0. */
static uint16_t
mqtt_alias_out_find(
    const struct mqtt_aliases *al, const struct msg *m, uint32_t h)
{
	for (uint16_t i = 0; i < al->out_n; i++) {
		if (al->out_hash[i] == h &&
		    strcmp(al->out_topic[i], m->topic) == 0)
			return (uint16_t)(i + 1);
	}
	return 0;
}

/*
 * Outbound topic alias (MQTT 5 3.3.2.3.4): a known topic goes as an empty
 * name plus its alias; a new one gets the next free alias, recorded by
 * mqtt_alias_out_commit only once the packet is really sent.
 */
static void
mqtt_alias_out(
    struct mqtt_conn *c, const struct msg *m, struct mqtt_publish *pub)
{
	struct mqtt_aliases *al = mqtt_aliases(c);
	uint32_t h = util_hash(m->topic, m->topic_len);
	uint16_t a = mqtt_alias_out_find(al, m, h);

	if (a == 0 && al->out_n == c->alias_out_max)
		return; /* table full: plain topic names from here on */
	if (a == 0)
		a = (uint16_t)(al->out_n + 1);
	else
		pub->topic.len = 0; /* MQTT-3.3.2-? alias replaces the name */
	pub->props.present |= MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS);
	pub->props.topic_alias = a;
}

/* Only mqtt_alias_out sets an alias: the tables exist by then. */
static void
mqtt_alias_out_commit(
    struct mqtt_conn *c, const struct mqtt_publish *pub, const struct msg *m)
{
	struct mqtt_aliases *al = c->alias;

	if (!(pub->props.present & MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS)) ||
	    pub->props.topic_alias <= al->out_n)
		return;
	if (al->out_hash == NULL) {
		al->out_hash = xcalloc(c->alias_out_max, sizeof(uint32_t));
		al->out_topic = xcalloc(c->alias_out_max, sizeof(char *));
	}
	al->out_hash[al->out_n] = util_hash(m->topic, m->topic_len);
	al->out_topic[al->out_n++] = xstrdup(m->topic);
}

static void
mqtt_publish_out(const struct mqtt_conn *c, const struct delivery *d,
    struct mqtt_publish *pub, uint64_t now_ms)
{
	memset(pub, 0, offsetof(struct mqtt_publish, props)); /* props: below */
	pub->qos = d->qos;
	/* A queue redelivery is flagged DUP too (README: queues). */
	pub->dup = (d->dup || d->attempts > 0) && d->qos > 0;
	pub->retain = d->retain;
	pub->topic.p = d->m->topic;
	pub->topic.len = d->m->topic_len;
	pub->packet_id = d->pkt_id;
	pub->payload.p = d->m->payload;
	pub->payload.len = d->m->payload_len;
	mqtt_pub_props(c, d, &pub->props, now_ms);
}

/*
 * A queue redelivery carries its delivery count as the user property
 * x-delivery-count after the message's own: a heap run, or NULL.
 */
static uint8_t *
mqtt_user_with_count(const struct delivery *d, struct mqtt_props *p)
{
	char v[8];
	int vl = snprintf(v, sizeof(v), "%u", d->attempts + 1u);
	size_t kl = strlen("x-delivery-count"), n = d->m->user_len;
	uint8_t *u = xmalloc(n + 4 + kl + (size_t)vl);

	if (n)
		memcpy(u, d->m->user, n);
	util_put_u16(u + n, (uint16_t)kl);
	memcpy(u + n + 2, "x-delivery-count", kl);
	util_put_u16(u + n + 2 + kl, (uint16_t)vl);
	memcpy(u + n + 4 + kl, v, (size_t)vl);
	p->user = u;
	p->user_len = n + 4 + kl + (size_t)vl;
	p->user_count = (uint16_t)(d->m->user_count + 1);
	return u;
}

static bool
mqtt_session_send(void *owner, const struct delivery *d, uint64_t now_ms)
{
	struct mqtt_conn *c = owner;
	struct mqtt_publish pub;
	uint8_t stackbuf[MQTT_HDR_STACK], *buf = stackbuf;
	size_t hlen, total;
	uint8_t *user = NULL;
	bool sent = true;

	mqtt_publish_out(c, d, &pub, now_ms);
	if (c->alias_out_max)
		mqtt_alias_out(c, d->m, &pub);
	if (d->attempts && c->version == MQTT_V5)
		user = mqtt_user_with_count(d, &pub.props);
	hlen = mqtt_encode_publish_header(
	    buf, sizeof(stackbuf), &pub, c->version, &total);
	if (hlen == 0) {
		buf = xmalloc(total - d->m->payload_len);
		hlen = mqtt_encode_publish_header(
		    buf, total - d->m->payload_len, &pub, c->version, &total);
		ASSERT(hlen > 0);
	}
	if (c->peer_max_packet && total > c->peer_max_packet) {
		/* MQTT-3.1.2-25: never send it; counted. */
		c->b->stats.dropped_too_large++;
		sent = false;
	} else {
		/* Exactly-once across restarts: see the top of this file. */
		mqtt_emit(c, buf, hlen, d->m,
		    d->qos == 2 && d->store_id ? store_gen(c->b->store) : 0);
		mqtt_alias_out_commit(c, &pub, d->m);
	}
	if (buf != stackbuf)
		free(buf);
	free(user);
	return sent;
}

static void
mqtt_session_release(void *owner, uint16_t pkt_id)
{
	mqtt_send_ack(owner, MQTT_PUBREL, pkt_id, MQTT_RC_SUCCESS);
}

static bool
mqtt_session_has_room(void *owner)
{
	struct mqtt_conn *c = owner;

	return c->out->pending(c->io) < MQTT_QOS0_HIGH_WATER;
}

static void
mqtt_session_resume(void *owner)
{
	struct mqtt_conn *c = owner;

	if (!c->paused)
		return;
	c->paused = false;
	c->out->pause(c->io, false);
}

static void
mqtt_session_kick(void *owner, enum session_kick why)
{
	struct mqtt_conn *c = owner;
	uint8_t reason = MQTT_RC_SESSION_TAKEN_OVER; /* MQTT-3.1.4-3 */

	ASSERT(why == SESSION_KICK_TAKEN_OVER); /* the only kick there is */

	session_detach(c->sess);
	c->sess = NULL;
	if (c->state == MQTT_S_CONNECTED)
		mqtt_send_disconnect(c, reason);
	c->state = MQTT_S_CLOSING;
	c->out->close(c->io, mqtt_rc_text(reason));
}

static const struct session_ops mqtt_session_ops = {
    .send = mqtt_session_send,
    .send_release = mqtt_session_release,
    .has_room = mqtt_session_has_room,
    .resume = mqtt_session_resume,
    .kick = mqtt_session_kick,
};

/* ---- proto_ops ---- */

static void *
mqtt_open(struct broker *b, const struct proto_out *out, void *io,
    const char *peer UNUSED, uint64_t now_ms)
{
	struct mqtt_conn *c = xcalloc(1, sizeof(*c));

	c->b = b;
	c->out = out;
	c->io = io;
	c->last_rx_ms = now_ms;
	return c;
}

static void
mqtt_tick(void *p, uint64_t now_ms)
{
	struct mqtt_conn *c = p;
	uint64_t timeout;

	if (c->state == MQTT_S_NEW) {
		timeout = (uint64_t)c->b->conf->connect_timeout * 1000;
		/* still the open time: a CONNECT leaves this state */
		if (now_ms - c->last_rx_ms >= timeout)
			mqtt_fail(
			    c, MQTT_RC_MAX_CONNECT_TIME, "no CONNECT in time");
		return;
	}
	if (c->state != MQTT_S_CONNECTED || c->keep_alive == 0)
		return;
	if (c->paused) {
		/* We hold its input back: silence is ours, not the client's. */
		c->last_rx_ms = now_ms;
		return;
	}
	timeout = (uint64_t)c->keep_alive * 1500; /* MQTT-3.1.2-24 */
	if (now_ms - c->last_rx_ms >= timeout)
		mqtt_fail(c, MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep alive timeout");
}

static void
mqtt_drained(void *p, uint64_t now_ms)
{
	struct mqtt_conn *c = p;

	/* QoS 0 queue consumers are paced by output; others by acks. */
	if (c->sess && c->state == MQTT_S_CONNECTED)
		broker_session_drained(c->b, c->sess, now_ms);
}

static void
mqtt_close(void *p, const char *reason UNUSED, uint64_t now_ms)
{
	struct mqtt_conn *c = p;

	mqtt_drop_held(c);
	if (c->sess)
		broker_session_close(c->b, c->sess, c->graceful, now_ms);
	mqtt_aliases_free(c);
	free(c);
}

const struct proto_ops mqtt_proto_ops = {
    .name = "mqtt",
    .open = mqtt_open,
    .input = mqtt_input,
    .tick = mqtt_tick,
    .drained = mqtt_drained,
    .close = mqtt_close,
};
