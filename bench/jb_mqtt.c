/*
 * jb_mqtt.c - jbench's MQTT 3.1.1 / 5.0 client side, over the shared
 * codec (protocols/mqtt/mqtt_codec.h).
 *
 * Publishers: a message's packet id is (seq mod 65535) + 1 and pid_seq
 * maps it back; an id still in use (its flow not finished after 65535
 * later messages) holds publishing back rather than reusing it. QoS 1
 * ends at PUBACK; QoS 2 answers PUBREC with PUBREL and ends at PUBCOMP.
 * Unfinished flows are bounded by o.max_inflight and, in 5.0, by the
 * broker's Receive Maximum (MQTT-3.3.4-7), on top of the end-to-end
 * window. (A 3.1.1 client cannot learn the broker's limit: Mosquitto
 * 2.0.11 answers QoS 2 PUBLISHes beyond its max_inflight_messages with
 * a plain PUBREC and PUBCOMP but never delivers them, which jbench
 * reports as lost; --max-inflight keeps under that limit.)
 *
 * Subscribers acknowledge at once: PUBACK for QoS 1, PUBREC for QoS 2
 * and PUBCOMP for each PUBREL. No Topic Alias Maximum is sent, so every
 * PUBLISH carries its topic. Keep alive is 0 (off): no PINGREQ is sent,
 * so a broker that imposes a keep alive ends connections that stay
 * silent longer (subscribers at QoS 0 in very long runs).
 */
#include <stdio.h>
#include <string.h>

#include "bench/jb.h"
#include "protocols/mqtt/mqtt_codec.h"

#define JB_MQTT_EXPIRY 300 /* 5.0 session expiry of --persistent, s */
#define JB_MQTT_SUB_LIST 512

typedef void jb_mqtt_fn(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt);

static uint8_t
jb_mqtt_version(const struct jb *jb)
{
	return jb->o.proto == JB_MQTT5 ? MQTT_V5 : MQTT_V311;
}

static void
jb_mqtt_send(struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	uint8_t v = jb_mqtt_version(jb);
	size_t n = mqtt_encode_len(pkt, v);

	ASSERT(mqtt_encode(jb_conn_queue(jb, c, n), n, pkt, v) == n);
}

static void
jb_mqtt_ack(struct jb *jb, struct jb_conn *c, uint8_t type, uint16_t pid)
{
	struct mqtt_packet pkt = {.type = type};

	pkt.u.ack.packet_id = pid;
	jb_mqtt_send(jb, c, &pkt);
}

static bool
jb_mqtt_is_clean(const struct jb *jb, const struct jb_conn *c)
{
	return !(jb->o.persistent && c->role == JB_ROLE_SUB);
}

static void
jb_mqtt_hello(struct jb *jb, struct jb_conn *c)
{
	static const char roles[] = {'p', 's', 'i'};
	struct mqtt_packet pkt = {.type = MQTT_CONNECT};
	struct mqtt_connect *cn = &pkt.u.connect;
	char id[64];

	snprintf(id, sizeof(id), "jb%s%c%d", jb->tag, roles[c->role], c->idx);
	cn->proto_name = (struct mqtt_str){"MQTT", 4};
	cn->version = jb_mqtt_version(jb);
	cn->clean = jb_mqtt_is_clean(jb, c);
	cn->client_id = (struct mqtt_str){id, strlen(id)};
	cn->has_username = jb->o.user != NULL;
	if (cn->has_username)
		cn->username =
		    (struct mqtt_str){jb->o.user, strlen(jb->o.user)};
	cn->has_password = jb->o.pass != NULL;
	if (cn->has_password)
		cn->password = (struct mqtt_bin){
		    (const uint8_t *)jb->o.pass, strlen(jb->o.pass)};
	if (cn->version == MQTT_V5 && !cn->clean) {
		cn->props.present = MQTT_PBIT(MQTT_PROP_SESSION_EXPIRY);
		cn->props.session_expiry = JB_MQTT_EXPIRY;
	}
	jb_mqtt_send(jb, c, &pkt);
}

static void
jb_mqtt_subscribe(struct jb *jb, struct jb_sub *s)
{
	uint8_t list[JB_MQTT_SUB_LIST];
	struct mqtt_sub_opts so = {.qos = (uint8_t)jb->o.qos};
	struct mqtt_packet pkt = {.type = MQTT_SUBSCRIBE};
	struct mqtt_subscribe *sb = &pkt.u.subscribe;

	sb->packet_id = 1;
	sb->list = list;
	sb->list_len = mqtt_sub_append(
	    list, sizeof(list), s->dest, &so, jb_mqtt_version(jb));
	sb->count = 1;
	ASSERT(sb->list_len > 0);
	jb_mqtt_send(jb, &s->conn, &pkt);
}

static uint16_t
jb_mqtt_pid(uint64_t seq)
{
	return (uint16_t)(seq % 65535 + 1);
}

static bool
jb_mqtt_can_send(const struct jb *jb, const struct jb_pub *p)
{
	if (jb->o.qos == 0)
		return true;
	return p->unacked < p->recv_max &&
	    p->pid_seq[jb_mqtt_pid(p->next_seq)] == 0;
}

static void
jb_mqtt_publish(
    struct jb *jb, struct jb_pub *p, uint64_t seq, const uint8_t *payload)
{
	struct mqtt_packet pkt = {.type = MQTT_PUBLISH};
	struct mqtt_publish *pb = &pkt.u.publish;

	pb->qos = (uint8_t)jb->o.qos;
	pb->topic = (struct mqtt_str){p->dest, strlen(p->dest)};
	pb->payload = (struct mqtt_bin){payload, (size_t)jb->o.size};
	if (pb->qos > 0) {
		pb->packet_id = jb_mqtt_pid(seq);
		p->pid_seq[pb->packet_id] = seq + 1;
		p->unacked++;
	}
	jb_mqtt_send(jb, &p->conn, &pkt);
}

static void
jb_mqtt_bye(struct jb *jb, struct jb_conn *c)
{
	struct mqtt_packet pkt = {.type = MQTT_DISCONNECT};

	jb_mqtt_send(jb, c, &pkt);
}

/* ---- input ---- */

static struct jb_pub *
jb_mqtt_pub(struct jb_conn *c)
{
	if (c->role != JB_ROLE_PUB)
		jb_conn_fail(c, "unexpected acknowledgement");
	return CONTAINER_OF(c, struct jb_pub, conn);
}

static bool
jb_mqtt_is_refusal(const struct jb *jb, uint8_t rc)
{
	return jb_mqtt_version(jb) == MQTT_V5 && rc >= 0x80;
}

/* CONNACK return codes of 3.1.1 (table 3.1) and 5.0's reason codes. */
static const char *
jb_mqtt_connack_text(const struct jb *jb, uint8_t rc)
{
	static const char *const v3[] = {"accepted",
	    "unacceptable protocol version", "identifier rejected",
	    "server unavailable", "bad user name or password",
	    "not authorized"};

	if (jb_mqtt_version(jb) == MQTT_V5)
		return mqtt_rc_text(rc);
	return rc < ARRAY_LEN(v3) ? v3[rc] : "unknown return code";
}

static void
jb_mqtt_on_connack(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_connack *ca = &pkt->u.connack;
	char why[96];

	if (ca->rc != 0) {
		snprintf(why, sizeof(why), "CONNACK refused: 0x%02x %s", ca->rc,
		    jb_mqtt_connack_text(jb, ca->rc));
		jb_conn_fail(c, why);
	}
	if (c->role == JB_ROLE_PUB) {
		struct jb_pub *p = CONTAINER_OF(c, struct jb_pub, conn);

		p->recv_max = jb->o.max_inflight;
		if (ca->props.present & MQTT_PBIT(MQTT_PROP_RECEIVE_MAX))
			p->recv_max = MIN(p->recv_max, ca->props.receive_max);
	}
	jb_conn_connected(jb, c);
}

static void
jb_mqtt_on_suback(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_suback *sa = &pkt->u.suback;
	char why[64];

	if (sa->count != 1 || sa->codes[0] >= 0x80) {
		snprintf(why, sizeof(why), "subscribe failed: 0x%02x",
		    sa->count ? sa->codes[0] : 0);
		jb_conn_fail(c, why);
	}
	if (sa->codes[0] != jb->o.qos)
		fprintf(stderr, "jbench: %s granted QoS %d\n", jb_conn_name(c),
		    sa->codes[0]);
	jb_conn_subscribed(jb, c);
}

static void
jb_mqtt_on_publish(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_publish *pb = &pkt->u.publish;

	if (c->role != JB_ROLE_SUB || c->state != JB_READY)
		jb_conn_fail(c, "unexpected PUBLISH");
	jb_track_receipt(jb, CONTAINER_OF(c, struct jb_sub, conn),
	    pb->payload.p, pb->payload.len);
	if (pb->qos == 1)
		jb_mqtt_ack(jb, c, MQTT_PUBACK, pb->packet_id);
	else if (pb->qos == 2)
		jb_mqtt_ack(jb, c, MQTT_PUBREC, pb->packet_id);
}

/* The flow of packet id pid is over: free it; return its seq. */
static uint64_t
jb_mqtt_finish(struct jb_pub *p, uint16_t pid)
{
	uint64_t seq = p->pid_seq[pid];

	if (seq == 0)
		jb_conn_fail(&p->conn, "acknowledgement for an unknown id");
	p->pid_seq[pid] = 0;
	p->unacked--;
	return seq - 1;
}

static void
jb_mqtt_end_flow(struct jb *jb, struct jb_pub *p, uint16_t pid, uint8_t rc)
{
	uint64_t seq = jb_mqtt_finish(p, pid);

	if (jb_mqtt_is_refusal(jb, rc)) {
		jb_track_refused(jb, p, seq);
	} else {
		p->nacked++;
		jb_track_acked(jb, p, seq);
	}
	jb_pub_wake(jb, p);
}

static void
jb_mqtt_on_puback(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	jb_mqtt_end_flow(
	    jb, jb_mqtt_pub(c), pkt->u.ack.packet_id, pkt->u.ack.rc);
}

static void
jb_mqtt_on_pubrec(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	struct jb_pub *p = jb_mqtt_pub(c);

	if (jb_mqtt_is_refusal(jb, pkt->u.ack.rc))
		jb_mqtt_end_flow(jb, p, pkt->u.ack.packet_id, pkt->u.ack.rc);
	else
		jb_mqtt_ack(jb, c, MQTT_PUBREL, pkt->u.ack.packet_id);
}

static void
jb_mqtt_on_pubrel(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	if (c->role != JB_ROLE_SUB)
		jb_conn_fail(c, "unexpected PUBREL");
	jb_mqtt_ack(jb, c, MQTT_PUBCOMP, pkt->u.ack.packet_id);
}

static void
jb_mqtt_on_disconnect(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	char why[96];

	(void)jb;
	snprintf(why, sizeof(why), "DISCONNECT from the broker: 0x%02x %s",
	    pkt->u.disconnect.rc, mqtt_rc_text(pkt->u.disconnect.rc));
	jb_conn_fail(c, why);
}

static void
jb_mqtt_on_ignore(
    struct jb *jb, struct jb_conn *c, const struct mqtt_packet *pkt)
{
	(void)jb;
	(void)c;
	(void)pkt;
}

static jb_mqtt_fn *const jb_mqtt_handlers[16] = {
    [MQTT_CONNACK] = jb_mqtt_on_connack,
    [MQTT_PUBLISH] = jb_mqtt_on_publish,
    [MQTT_PUBACK] = jb_mqtt_on_puback,
    [MQTT_PUBREC] = jb_mqtt_on_pubrec,
    [MQTT_PUBREL] = jb_mqtt_on_pubrel,
    [MQTT_PUBCOMP] = jb_mqtt_on_puback,
    [MQTT_SUBACK] = jb_mqtt_on_suback,
    [MQTT_PINGRESP] = jb_mqtt_on_ignore,
    [MQTT_DISCONNECT] = jb_mqtt_on_disconnect,
};

static void
jb_mqtt_packet(struct jb *jb, struct jb_conn *c, const uint8_t *p, size_t n)
{
	struct mqtt_packet pkt;
	uint8_t rc = 0;
	char why[96];

	if (mqtt_decode(p, n, jb_mqtt_version(jb), &pkt, &rc) != MQTT_OK) {
		snprintf(why, sizeof(why), "bad %s from the broker: %s",
		    mqtt_type_name(p[0] >> 4), mqtt_rc_text(rc));
		jb_conn_fail(c, why);
	}
	if (jb_mqtt_handlers[pkt.type] == NULL) {
		snprintf(why, sizeof(why), "unexpected %s",
		    mqtt_type_name(pkt.type));
		jb_conn_fail(c, why);
	}
	jb_mqtt_handlers[pkt.type](jb, c, &pkt);
}

static void
jb_mqtt_input(struct jb *jb, struct jb_conn *c)
{
	size_t n;
	int st;

	while ((st = mqtt_frame_len(c->in.p + c->in.off, c->in.len - c->in.off,
	            &n)) == MQTT_OK) {
		jb_mqtt_packet(jb, c, c->in.p + c->in.off, n);
		jb_buf_drop(&c->in, n);
	}
	if (st == MQTT_ERR)
		jb_conn_fail(c, "malformed remaining length");
}

const struct jb_proto_ops jb_mqtt_ops = {
    .hello = jb_mqtt_hello,
    .subscribe = jb_mqtt_subscribe,
    .can_send = jb_mqtt_can_send,
    .publish = jb_mqtt_publish,
    .input = jb_mqtt_input,
    .bye = jb_mqtt_bye,
};
