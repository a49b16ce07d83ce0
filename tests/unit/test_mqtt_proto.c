/*
 * test_mqtt_proto.c - whole MQTT sessions through the adapter, bytes in
 * and bytes out, with a fake proto_out standing in for net/ and a fake
 * clock. Input vectors are hand-written bytes; output is checked as bytes
 * or decoded with the codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "core/broker.h"
#include "protocols/mqtt/mqtt_codec.h"
#include "protocols/mqtt/mqtt_proto.h"

#include "tests/unit/fake_out.h"

struct fixture {
	struct config conf;
	struct broker *b;
	struct fake_io io[4];
	uint64_t now;
	char dir[32]; /* the disk store's, with setup_disk */
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

/* A broker on a disk store in a fresh directory (setup_disk). */
static int
setup_disk(void **state)
{
	struct store_journal_opts o = {.sync = STORE_JOURNAL_SYNC_NEVER};
	struct store_disk_report rep;
	struct fixture *f = calloc(1, sizeof(*f));
	struct store *st;
	char err[256];

	config_defaults(&f->conf);
	f->conf.persistence = true;
	snprintf(f->dir, sizeof(f->dir), "/tmp/junction-mp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	o.dir = f->dir;
	st = store_disk_open(&o, &rep, err, sizeof(err));
	assert_non_null(st);
	f->b = broker_new(&f->conf, st);
	assert_int_equal(
	    store_disk_load(st, f->b, 0, &rep, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

/* Commit and wait until everything appended is durable. */
static void
settle(struct store *st)
{
	struct pollfd pfd = {.fd = store_fd(st), .events = POLLIN};

	store_commit(st, 0);
	while (store_durable_gen(st) < store_gen(st)) {
		assert_true(poll(&pfd, 1, 5000) == 1);
		store_poll(st);
	}
}

/* What net/ does when a connection ends: the adapter's close, once. */
static void
conn_end(struct fixture *f, int i)
{
	struct fake_io *io = &f->io[i];

	if (io->p && !io->gone) {
		mqtt_proto_ops.close(io->p,
		    io->closed ? io->reason : "connection reset by peer",
		    f->now);
		io->gone = true;
	}
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 4; i++)
		conn_end(f, i);
	broker_free(f->b);
	free(f);
	return 0;
}

static int
teardown_disk(void **state)
{
	struct fixture *f = *state;
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	(void)teardown(state);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct fake_io *
conn_open(struct fixture *f, int i)
{
	struct fake_io *io = &f->io[i];

	memset(io, 0, sizeof(*io));
	io->p = mqtt_proto_ops.open(f->b, &fake_out, io, "test:1", f->now);
	return io;
}

/* Feed bytes like net/ does: whole buffer, honouring consumption. */
static void
feed(struct fixture *f, int i, const void *data, size_t len)
{
	size_t need,
	    n = mqtt_proto_ops.input(f->io[i].p, data, len, &need, f->now);

	assert_true(n <= len);
	if (!f->io[i].closed && !f->io[i].paused)
		assert_int_equal(n, len);
	if (f->io[i].closed)
		conn_end(f, i);
}

/* Feed one byte at a time, buffering the unconsumed rest like net/. */
static void
feed_split(struct fixture *f, int i, const uint8_t *data, size_t len)
{
	uint8_t buf[1024];
	size_t have = 0, need = 0;

	for (size_t k = 0; k < len; k++) {
		buf[have++] = data[k];
		if (have < need)
			continue;
		size_t n =
		    mqtt_proto_ops.input(f->io[i].p, buf, have, &need, f->now);
		memmove(buf, buf + n, have - n);
		have -= n;
	}
	assert_int_equal(have, 0);
}

/* Decode the next packet the adapter wrote on connection i. */
static bool
next_packet(struct fixture *f, int i, uint8_t version, struct mqtt_packet *pkt)
{
	struct fake_io *io = &f->io[i];
	size_t flen;
	uint8_t rc;

	if (io->rd == io->len)
		return false;
	assert_int_equal(
	    mqtt_frame_len(io->out + io->rd, io->len - io->rd, &flen), MQTT_OK);
	assert_int_equal(
	    mqtt_decode(io->out + io->rd, flen, version, pkt, &rc), MQTT_OK);
	io->rd += flen;
	return true;
}

static void
expect_type(struct fixture *f, int i, uint8_t version, uint8_t type,
    struct mqtt_packet *pkt)
{
	struct mqtt_packet tmp;

	if (pkt == NULL)
		pkt = &tmp;
	assert_true(next_packet(f, i, version, pkt));
	assert_int_equal(pkt->type, type);
}

/* CONNECT 3.1.1, clean session, keep alive 10, client id "c<i>" */
static void
connect311(struct fixture *f, int i, bool clean, uint16_t ka)
{
	uint8_t pkt[] = {0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4,
	    (uint8_t)(clean ? 0x02 : 0x00), (uint8_t)(ka >> 8), (uint8_t)ka, 0,
	    2, 'c', (uint8_t)('0' + i)};
	struct mqtt_packet ack;

	conn_open(f, i);
	feed(f, i, pkt, sizeof(pkt));
	expect_type(f, i, 4, MQTT_CONNACK, &ack);
	assert_int_equal(ack.u.connack.rc, 0);
}

static void
subscribe(struct fixture *f, int i, const char *filter, uint8_t qos)
{
	uint8_t pkt[64];
	size_t fl = strlen(filter), n = 0;
	struct mqtt_packet ack;

	pkt[n++] = 0x82;
	pkt[n++] = (uint8_t)(2 + 2 + fl + 1);
	pkt[n++] = 0, pkt[n++] = 1;
	pkt[n++] = 0, pkt[n++] = (uint8_t)fl;
	memcpy(pkt + n, filter, fl), n += fl;
	pkt[n++] = qos;
	feed(f, i, pkt, n);
	expect_type(f, i, 4, MQTT_SUBACK, &ack);
	assert_int_equal(ack.u.suback.count, 1);
	assert_int_equal(ack.u.suback.codes[0], qos);
}

static size_t
publish_bytes(uint8_t *pkt, const char *topic, const char *payload, uint8_t qos,
    uint16_t id, bool dup)
{
	size_t tl = strlen(topic), pl = strlen(payload), n = 0;

	pkt[n++] = (uint8_t)(0x30 | (dup ? 8 : 0) | (qos << 1));
	pkt[n++] = (uint8_t)(2 + tl + (qos ? 2 : 0) + pl);
	pkt[n++] = 0, pkt[n++] = (uint8_t)tl;
	memcpy(pkt + n, topic, tl), n += tl;
	if (qos)
		pkt[n++] = (uint8_t)(id >> 8), pkt[n++] = (uint8_t)id;
	memcpy(pkt + n, payload, pl), n += pl;
	return n;
}

static void
test_connect_connack_bytes(void **state)
{
	struct fixture *f = *state;
	const uint8_t want[] = {0x20, 0x02, 0x00, 0x00};

	connect311(f, 0, true, 10);
	assert_int_equal(f->io[0].len, 4);
	assert_memory_equal(f->io[0].out, want, 4);
	assert_false(f->io[0].closed);
}

static void
test_connect_split_every_byte(void **state)
{
	struct fixture *f = *state;
	const uint8_t pkt[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 10,
	    0, 1, 'x', 0xC0, 0x00 /* PINGREQ */};

	conn_open(f, 0);
	feed_split(f, 0, pkt, sizeof(pkt));
	expect_type(f, 0, 4, MQTT_CONNACK, NULL);
	expect_type(f, 0, 4, MQTT_PINGRESP, NULL);
}

static void
test_first_packet_must_be_connect(void **state)
{
	struct fixture *f = *state;
	const uint8_t ping[] = {0xC0, 0x00};

	conn_open(f, 0);
	feed(f, 0, ping, sizeof(ping));
	assert_true(f->io[0].closed);
	assert_int_equal(f->io[0].len, 0);
}

static void
test_second_connect_closes(void **state)
{
	struct fixture *f = *state;
	const uint8_t pkt[] = {
	    0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 10, 0, 1, 'x'};

	connect311(f, 0, true, 10);
	feed(f, 0, pkt, sizeof(pkt));
	assert_true(f->io[0].closed);
	assert_int_equal(f->b->stats.protocol_errors, 1);
}

static void
test_bad_version_connack_1(void **state)
{
	struct fixture *f = *state;
	const uint8_t pkt[] = {
	    0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 10, 0, 1, 'x'};
	const uint8_t want[] = {0x20, 0x02, 0x00, 0x01};

	conn_open(f, 0);
	feed(f, 0, pkt, sizeof(pkt));
	assert_true(f->io[0].closed);
	assert_int_equal(f->io[0].len, 4);
	assert_memory_equal(f->io[0].out, want, 4); /* MQTT-3.1.2-2 */
}

static void
test_empty_id_rules(void **state)
{
	struct fixture *f = *state;
	const uint8_t clean[] = {
	    0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 10, 0, 0};
	const uint8_t keep[] = {
	    0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 10, 0, 0};
	const uint8_t refused[] = {0x20, 0x02, 0x00, 0x02};

	conn_open(f, 0);
	feed(f, 0, clean, sizeof(clean));
	assert_false(f->io[0].closed);
	assert_int_equal(f->b->nsessions, 1);
	conn_open(f, 1);
	feed(f, 1, keep, sizeof(keep));
	assert_true(f->io[1].closed);
	assert_memory_equal(f->io[1].out, refused, 4); /* MQTT-3.1.3-8 */
}

static void
test_pubsub_qos1(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	struct mqtt_packet p;
	size_t n;

	connect311(f, 0, true, 10);
	connect311(f, 1, true, 10);
	subscribe(f, 0, "a/+", 1);
	n = publish_bytes(pkt, "a/b", "hello", 1, 77, false);
	feed(f, 1, pkt, n);
	expect_type(f, 1, 4, MQTT_PUBACK, &p);
	assert_int_equal(p.u.ack.packet_id, 77);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	assert_int_equal(p.u.publish.qos, 1);
	assert_false(p.u.publish.retain);
	assert_false(p.u.publish.dup);
	assert_int_equal(p.u.publish.payload.len, 5);
	assert_memory_equal(p.u.publish.payload.p, "hello", 5);
	assert_int_not_equal(p.u.publish.packet_id, 0);
}

static void
test_qos2_inbound_once(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	const uint8_t pubrel[] = {0x62, 0x02, 0x00, 0x05};
	struct mqtt_packet p;
	size_t n;

	connect311(f, 0, true, 10);
	connect311(f, 1, true, 10);
	subscribe(f, 0, "q", 0);
	n = publish_bytes(pkt, "q", "once", 2, 5, false);
	feed(f, 1, pkt, n);
	n = publish_bytes(pkt, "q", "once", 2, 5, true); /* resend */
	feed(f, 1, pkt, n);
	expect_type(f, 1, 4, MQTT_PUBREC, &p);
	expect_type(f, 1, 4, MQTT_PUBREC, &p);
	assert_int_equal(p.u.ack.packet_id, 5);
	feed(f, 1, pubrel, sizeof(pubrel));
	expect_type(f, 1, 4, MQTT_PUBCOMP, &p);
	assert_int_equal(p.u.ack.packet_id, 5);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	assert_false(next_packet(f, 0, 4, &p)); /* delivered exactly once */
	feed(f, 1, pubrel, sizeof(pubrel)); /* unknown id: PUBCOMP too */
	expect_type(f, 1, 4, MQTT_PUBCOMP, &p);
}

static void
test_qos2_outbound_handshake(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	struct mqtt_packet p;
	uint8_t ack[4] = {0x50, 0x02, 0, 0};
	size_t n;

	connect311(f, 0, true, 10);
	connect311(f, 1, true, 10);
	subscribe(f, 0, "q", 2);
	n = publish_bytes(pkt, "q", "x", 2, 1, false);
	feed(f, 1, pkt, n);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	assert_int_equal(p.u.publish.qos, 2);
	util_put_u16(ack + 2, p.u.publish.packet_id);
	feed(f, 0, ack, 4); /* PUBREC */
	expect_type(f, 0, 4, MQTT_PUBREL, &p);
	assert_int_equal(
	    f->io[0].out[f->io[0].rd - 4], 0x62); /* MQTT-3.6.1-1 */
	ack[0] = 0x70;
	feed(f, 0, ack, 4); /* PUBCOMP */
	assert_int_equal(f->b->matched_cap >= 1, 1);
	assert_int_equal(broker_session_find(f->b, "c0", 2)->inflight_count, 0);
}

/*
 * A publisher the broker pauses (a full subscriber) cannot be heard: its
 * PINGREQs wait unread. Keep alive must not end it for our silence.
 */
static void
test_paused_publisher_keeps_alive(void **state)
{
	struct fixture *f = *state;
	uint8_t pub[] = {0x32, 6, 0, 1, 't', 0, 1, 'x'};

	f->conf.max_inflight_messages = 1;
	f->conf.max_queued_messages = 1;
	connect311(f, 0, true, 0);
	subscribe(f, 0, "t", 1);
	connect311(f, 1, true, 2); /* keep alive 2 s */
	for (uint8_t id = 1; id < 6 && !f->io[1].paused; id++) {
		pub[6] = id;
		feed(f, 1, pub, sizeof(pub));
	}
	assert_true(f->io[1].paused);
	f->now += 10000; /* far past 1.5 x 2 s */
	mqtt_proto_ops.tick(f->io[1].p, f->now);
	assert_false(f->io[1].closed);
	f->now += 2999; /* the clock restarted from the last tick */
	mqtt_proto_ops.tick(f->io[1].p, f->now);
	assert_false(f->io[1].closed);
}

static void
test_keepalive_timeout_fires_will(void **state)
{
	struct fixture *f = *state;
	/* CONNECT with will "w" / "bye", keep alive 2, id "k" */
	const uint8_t pkt[] = {0x10, 21, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x06, 0,
	    2, 0, 1, 'k', 0, 1, 'w', 0, 3, 'b', 'y', 'e'};
	struct mqtt_packet p;

	connect311(f, 0, true, 0);
	subscribe(f, 0, "w", 0);
	conn_open(f, 1);
	feed(f, 1, pkt, sizeof(pkt));
	expect_type(f, 1, 4, MQTT_CONNACK, NULL);
	f->now = 2999;
	mqtt_proto_ops.tick(f->io[1].p, f->now);
	assert_false(f->io[1].closed);
	f->now = 3000; /* 1.5 x 2 s, MQTT-3.1.2-24 */
	mqtt_proto_ops.tick(f->io[1].p, f->now);
	assert_true(f->io[1].closed);
	conn_end(f, 1);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	assert_memory_equal(p.u.publish.payload.p, "bye", 3);
}

static void
test_disconnect_discards_will(void **state)
{
	struct fixture *f = *state;
	const uint8_t pkt[] = {0x10, 21, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x06, 0,
	    0, 0, 1, 'k', 0, 1, 'w', 0, 3, 'b', 'y', 'e'};
	const uint8_t disc[] = {0xE0, 0x00};
	struct mqtt_packet p;

	connect311(f, 0, true, 0);
	subscribe(f, 0, "w", 0);
	conn_open(f, 1);
	feed(f, 1, pkt, sizeof(pkt));
	feed(f, 1, disc, sizeof(disc));
	assert_true(f->io[1].closed);
	assert_null(f->io[1].reason);
	assert_false(next_packet(f, 0, 4, &p));
}

static void
test_connect_timeout(void **state)
{
	struct fixture *f = *state;

	f->conf.connect_timeout = 1;
	conn_open(f, 0);
	f->now = 999;
	mqtt_proto_ops.tick(f->io[0].p, f->now);
	assert_false(f->io[0].closed);
	f->now = 1000;
	mqtt_proto_ops.tick(f->io[0].p, f->now);
	assert_true(f->io[0].closed);
}

static void
test_malformed_closes_others_unaffected(void **state)
{
	struct fixture *f = *state;
	const uint8_t bad[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
	uint8_t pkt[64];
	size_t n;

	connect311(f, 0, true, 10);
	connect311(f, 1, true, 10);
	connect311(f, 2, true, 10);
	subscribe(f, 0, "t", 0);
	feed(f, 1, bad, sizeof(bad));
	assert_true(f->io[1].closed);
	assert_int_equal(f->b->stats.malformed, 1);
	n = publish_bytes(pkt, "t", "still here", 0, 0, false);
	feed(f, 2, pkt, n);
	expect_type(f, 0, 4, MQTT_PUBLISH, NULL);
}

static void
test_wildcard_publish_closes(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	size_t n = publish_bytes(pkt, "a/+", "x", 0, 0, false);

	connect311(f, 0, true, 10);
	feed(f, 0, pkt, n);
	assert_true(f->io[0].closed); /* MQTT-3.3.2-2 */
}

static void
test_oversized_closes_before_buffering(void **state)
{
	struct fixture *f = *state;
	/* PUBLISH claiming 2 MB: refused from the header alone. */
	const uint8_t hdr[] = {0x30, 0x80, 0x80, 0x80, 0x01};

	f->conf.max_packet_size = 1024;
	connect311(f, 0, true, 10);
	feed(f, 0, hdr, sizeof(hdr));
	assert_true(f->io[0].closed);
}

static void
test_message_size_limit(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[128];
	char payload[40];
	size_t n;

	memset(payload, 'x', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	f->conf.message_size_limit = 20;
	connect311(f, 0, true, 10);
	n = publish_bytes(pkt, "t", payload, 1, 1, false);
	feed(f, 0, pkt, n);
	assert_true(f->io[0].closed);
	assert_int_equal(f->io[0].rd, f->io[0].len); /* no PUBACK */
}

static void
test_takeover_closes_old(void **state)
{
	struct fixture *f = *state;

	connect311(f, 0, false, 10);
	connect311(f, 1, false, 10);
	/* same id "c0" from connection 2 */
	{
		const uint8_t pkt[] = {0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0,
		    0, 10, 0, 2, 'c', '0'};
		struct mqtt_packet ack;

		conn_open(f, 2);
		feed(f, 2, pkt, sizeof(pkt));
		expect_type(f, 2, 4, MQTT_CONNACK, &ack);
		assert_true(ack.u.connack.session_present);
	}
	assert_true(f->io[0].closed);
	assert_false(f->io[1].closed);
	conn_end(f, 0); /* old link ends after the new one took over */
	assert_non_null(broker_session_find(f->b, "c0", 2));
	assert_true(session_is_online(broker_session_find(f->b, "c0", 2)));
}

static void
test_persistent_resume_dup(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	struct mqtt_packet p;
	uint16_t id;
	size_t n;

	connect311(f, 0, false, 10);
	subscribe(f, 0, "t", 1);
	connect311(f, 1, true, 10);
	n = publish_bytes(pkt, "t", "m1", 1, 9, false);
	feed(f, 1, pkt, n);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	id = p.u.publish.packet_id;
	conn_end(f, 0); /* drop without PUBACK */
	n = publish_bytes(pkt, "t", "m2", 1, 10, false);
	feed(f, 1, pkt, n);
	connect311(f, 0, false, 10);
	assert_true(f->io[0].out[2] & 1); /* session present */
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	assert_true(p.u.publish.dup);
	assert_int_equal(p.u.publish.packet_id, id);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	assert_false(p.u.publish.dup);
	assert_memory_equal(p.u.publish.payload.p, "m2", 2);
}

/* ---- MQTT 5.0 ---- */

/* Encode pkt for 5.0 and feed it to connection i. */
static void
feed5(struct fixture *f, int i, const struct mqtt_packet *pkt)
{
	uint8_t buf[1024];
	size_t n = mqtt_encode(buf, sizeof(buf), pkt, MQTT_V5);

	assert_true(n > 0);
	feed(f, i, buf, n);
}

/* CONNECT 5.0, clean start, client id id (may be ""), with props. */
static struct mqtt_packet
connect5_pkt(const char *id, const struct mqtt_props *props)
{
	struct mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNECT;
	p.u.connect.proto_name.p = "MQTT";
	p.u.connect.proto_name.len = 4;
	p.u.connect.version = MQTT_V5;
	p.u.connect.clean = true;
	p.u.connect.client_id.p = id;
	p.u.connect.client_id.len = strlen(id);
	if (props)
		p.u.connect.props = *props;
	return p;
}

static void
connect5(struct fixture *f, int i, const char *id,
    const struct mqtt_props *props, struct mqtt_packet *ack)
{
	struct mqtt_packet p = connect5_pkt(id, props);

	conn_open(f, i);
	feed5(f, i, &p);
	expect_type(f, i, MQTT_V5, MQTT_CONNACK, ack);
	assert_int_equal(ack->u.connack.rc, 0);
}

static struct mqtt_packet
publish5_pkt(
    const char *topic, const char *payload, uint8_t qos, uint16_t id, int alias)
{
	struct mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = MQTT_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.topic.p = topic;
	p.u.publish.topic.len = strlen(topic);
	p.u.publish.packet_id = id;
	p.u.publish.payload.p = (const uint8_t *)payload;
	p.u.publish.payload.len = strlen(payload);
	if (alias) {
		p.u.publish.props.present = MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS);
		p.u.publish.props.topic_alias = (uint16_t)alias;
	}
	return p;
}

static void
subscribe5(struct fixture *f, int i, const char *filter, uint8_t qos)
{
	struct mqtt_sub_opts o = {.qos = qos};
	struct mqtt_packet p, ack;
	uint8_t list[128];

	memset(&p, 0, sizeof(p));
	p.type = MQTT_SUBSCRIBE;
	p.u.subscribe.packet_id = 1;
	p.u.subscribe.list = list;
	p.u.subscribe.list_len =
	    mqtt_sub_append(list, sizeof(list), filter, &o, MQTT_V5);
	p.u.subscribe.count = 1;
	feed5(f, i, &p);
	expect_type(f, i, MQTT_V5, MQTT_SUBACK, &ack);
	assert_int_equal(ack.u.suback.codes[0], qos);
}

/* The server's DISCONNECT reason on connection i, and the close. */
static void
expect_disconnect5(struct fixture *f, int i, uint8_t rc)
{
	struct mqtt_packet p;

	expect_type(f, i, MQTT_V5, MQTT_DISCONNECT, &p);
	assert_int_equal(p.u.disconnect.rc, rc);
	assert_true(f->io[i].closed);
}

static void
test_v5_connack_properties(void **state)
{
	struct fixture *f = *state;
	struct mqtt_packet ack;
	const struct mqtt_props *pr = &ack.u.connack.props;

	f->conf.max_keepalive = 60;
	connect5(f, 0, "", NULL, &ack);
	assert_true(pr->present & MQTT_PBIT(MQTT_PROP_RECEIVE_MAX));
	assert_int_equal(pr->receive_max, 20);
	assert_int_equal(pr->topic_alias_max, 10);
	assert_true(pr->present & MQTT_PBIT(MQTT_PROP_ASSIGNED_CLIENT_ID));
	assert_true(pr->assigned_client_id.len > 0);
	/* keep alive 0 asked: the server's 60 is imposed (MQTT-3.2.2-21) */
	assert_int_equal(pr->server_keep_alive, 60);
}

static void
test_v5_inbound_topic_alias(void **state)
{
	struct fixture *f = *state;
	struct mqtt_packet ack, p;

	connect311(f, 0, true, 10);
	subscribe(f, 0, "al/#", 0);
	connect5(f, 1, "al", NULL, &ack);
	p = publish5_pkt("al/x", "1", 0, 0, 1); /* set alias 1 */
	feed5(f, 1, &p);
	p = publish5_pkt("", "2", 0, 0, 1); /* use it */
	feed5(f, 1, &p);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p);
	assert_int_equal(p.u.publish.topic.len, 4);
	assert_memory_equal(p.u.publish.topic.p, "al/x", 4);
	p = publish5_pkt("", "3", 0, 0, 2); /* never set */
	feed5(f, 1, &p);
	expect_disconnect5(f, 1, MQTT_RC_PROTOCOL_ERROR);
	connect5(f, 2, "al2", NULL, &ack);
	p = publish5_pkt("al/y", "4", 0, 0, 11); /* above the maximum 10 */
	feed5(f, 2, &p);
	expect_disconnect5(f, 2, MQTT_RC_TOPIC_ALIAS_INVALID); /* 3.3.2-9 */
}

static void
test_v5_outbound_topic_alias(void **state)
{
	struct fixture *f = *state;
	struct mqtt_props props = {
	    .present = MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS_MAX),
	    .topic_alias_max = 1};
	struct mqtt_packet ack, p;
	uint8_t pkt[64];
	size_t n;

	connect5(f, 0, "sub", &props, &ack);
	subscribe5(f, 0, "o/#", 0);
	connect311(f, 1, true, 10);
	n = publish_bytes(pkt, "o/a", "1", 0, 0, false);
	feed(f, 1, pkt, n);
	feed(f, 1, pkt, n);
	n = publish_bytes(pkt, "o/b", "2", 0, 0, false);
	feed(f, 1, pkt, n);
	expect_type(f, 0, MQTT_V5, MQTT_PUBLISH, &p); /* name + alias 1 */
	assert_int_equal(p.u.publish.props.topic_alias, 1);
	assert_int_equal(p.u.publish.topic.len, 3);
	expect_type(f, 0, MQTT_V5, MQTT_PUBLISH, &p); /* alias alone */
	assert_int_equal(p.u.publish.props.topic_alias, 1);
	assert_int_equal(p.u.publish.topic.len, 0);
	expect_type(f, 0, MQTT_V5, MQTT_PUBLISH, &p); /* table full: name */
	assert_false(
	    p.u.publish.props.present & MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS));
	assert_memory_equal(p.u.publish.topic.p, "o/b", 3);
}

static void
test_v5_receive_maximum_both_ways(void **state)
{
	struct fixture *f = *state;
	struct mqtt_props props = {
	    .present = MQTT_PBIT(MQTT_PROP_RECEIVE_MAX), .receive_max = 1};
	struct mqtt_packet ack, p;
	uint8_t puback[4] = {0x40, 0x02, 0, 0};

	f->conf.max_inflight_messages = 2;
	connect5(f, 0, "slow", &props, &ack);
	subscribe5(f, 0, "rm", 1);
	connect5(f, 1, "fast", NULL, &ack);
	for (uint16_t id = 1; id <= 2; id++) {
		p = publish5_pkt("rm", "x", 2, id, 0); /* held until PUBREL */
		feed5(f, 1, &p);
		expect_type(f, 1, MQTT_V5, MQTT_PUBREC, NULL);
	}
	/* the client's Receive Maximum 1: one unacknowledged at a time */
	expect_type(f, 0, MQTT_V5, MQTT_PUBLISH, &p);
	assert_false(next_packet(f, 0, MQTT_V5, &ack));
	util_put_u16(puback + 2, p.u.publish.packet_id);
	feed(f, 0, puback, sizeof(puback));
	expect_type(f, 0, MQTT_V5, MQTT_PUBLISH, &p);
	/* a third QoS 2 beyond the server's Receive Maximum 2: 0x93 */
	p = publish5_pkt("rm", "x", 2, 3, 0);
	feed5(f, 1, &p);
	expect_disconnect5(f, 1, MQTT_RC_RECEIVE_MAX_EXCEEDED);
}

/*
 * A stored session's acknowledgements wait for their records, and later
 * output queues behind them; closing drops what is still held.
 */
static void
test_held_output_keeps_order(void **state)
{
	struct fixture *f = *state;
	const uint8_t sub[] = {0x82, 6, 0, 1, 0, 1, 'a', 1};
	const uint8_t ping[] = {0xC0, 0x00};
	uint8_t pub[32];
	size_t n = publish_bytes(pub, "a", "x", 1, 7, false);
	struct mqtt_packet p;

	connect311(f, 0, false, 10); /* persistent: stored */
	feed(f, 0, sub, sizeof(sub));
	feed(f, 0, ping, sizeof(ping));
	assert_int_equal(f->io[0].len, f->io[0].rd); /* all held */
	settle(f->b->store);
	expect_type(f, 0, 4, MQTT_SUBACK, NULL);
	expect_type(f, 0, 4, MQTT_PINGRESP, NULL);
	feed(f, 0, pub, n);
	expect_type(f, 0, 4, MQTT_PUBLISH, &p); /* to itself */
	assert_false(next_packet(f, 0, 4, &p)); /* its PUBACK waits */
	settle(f->b->store);
	expect_type(f, 0, 4, MQTT_PUBACK, &p);
	assert_int_equal(p.u.ack.packet_id, 7);
	feed(f, 0, sub, sizeof(sub)); /* held when the connection ends */
	assert_false(next_packet(f, 0, 4, &p));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_connect_connack_bytes),
	    T(test_connect_split_every_byte),
	    T(test_first_packet_must_be_connect),
	    T(test_second_connect_closes),
	    T(test_bad_version_connack_1),
	    T(test_empty_id_rules),
	    T(test_pubsub_qos1),
	    T(test_qos2_inbound_once),
	    T(test_qos2_outbound_handshake),
	    T(test_keepalive_timeout_fires_will),
	    T(test_paused_publisher_keeps_alive),
	    T(test_disconnect_discards_will),
	    T(test_connect_timeout),
	    T(test_malformed_closes_others_unaffected),
	    T(test_wildcard_publish_closes),
	    T(test_oversized_closes_before_buffering),
	    T(test_message_size_limit),
	    T(test_takeover_closes_old),
	    T(test_persistent_resume_dup),
	    T(test_v5_connack_properties),
	    T(test_v5_inbound_topic_alias),
	    T(test_v5_outbound_topic_alias),
	    T(test_v5_receive_maximum_both_ways),
#undef T
	    cmocka_unit_test_setup_teardown(
	        test_held_output_keeps_order, setup_disk, teardown_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
