/*
 * jbench.c - a small MQTT load generator: N publisher/subscriber pairs
 * over loopback, single-threaded on epoll, packets hand-encoded with
 * protocols/mqtt/mqtt_codec.h (MQTT 3.1.1).
 *
 * Pair i: publisher "jb-<run>-p<i>" publishes to "jb/<run>/<i>" at the
 * chosen QoS with at most `window` PUBLISHes awaiting their PUBACK;
 * subscriber "jb-<run>-s<i>" (clean, or persistent with -P) acknowledges
 * everything. Publishing runs for a fixed duration, then the run drains
 * until every acknowledged message has arrived (or a drain timeout).
 *
 * Output, one line, key=value (bench/run.sh parses it):
 *   msgs_per_s=... published=... acked=... received=... lost=... dup=...
 * lost counts messages whose PUBACK the publisher saw that never reached
 * the subscriber; it must be 0. msgs_per_s is acknowledged publishes per
 * second of the publishing phase. Exit 1 when lost > 0 or setup fails.
 *
 * Extensible on purpose: the pair is the unit (more topologies are more
 * ways to build pairs), and the options are a table.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "protocols/mqtt/mqtt_codec.h"

#define JB_READ 65536
#define JB_DRAIN_MS 15000
#define JB_SETUP_MS 5000

struct jb_opts {
	const char *host;
	int port;
	int pairs;
	double seconds;
	int window;
	int payload;
	int qos;
	int persistent;
};

struct jb_buf {
	uint8_t *p;
	size_t len, cap;
};

struct jb_client {
	int fd;
	bool is_pub;
	struct jb_pair *pair;
	struct jb_buf in, out;
	bool want_out; /* EPOLLOUT armed */
};

struct jb_pair {
	struct jb_client pub, sub;
	uint64_t next_seq; /* publisher: next sequence number */
	int inflight;
	uint16_t next_pid;
	uint64_t *pid_seq; /* pid -> seq awaiting PUBACK */
	uint8_t *acked; /* seq bitmap: PUBACK seen */
	uint8_t *got; /* seq bitmap: delivered */
	size_t bits; /* capacity of both bitmaps */
	uint64_t nacked, ngot, ndup;
};

struct jb {
	struct jb_opts o;
	int ep;
	struct jb_pair *pairs;
	bool publishing;
	char run[32];
	uint8_t *payload;
	struct mqtt_packet pkt; /* decode scratch */
};

static uint64_t
jb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
jb_die(const char *what)
{
	fprintf(stderr, "jbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- buffers and bitmaps ---- */

static uint8_t *
jb_room(struct jb_buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = MAX(b->cap * 2, b->len + n + 4096);
		b->p = xrealloc(b->p, b->cap);
	}
	b->len += n;
	return b->p + b->len - n;
}

static void
jb_bit_grow(struct jb_pair *p, uint64_t seq)
{
	size_t old = p->bits / 8, bytes;

	if (seq < p->bits)
		return;
	p->bits = MAX(p->bits * 2, (size_t)seq + 65536);
	bytes = p->bits / 8;
	p->acked = xrealloc(p->acked, bytes);
	p->got = xrealloc(p->got, bytes);
	memset(p->acked + old, 0, bytes - old);
	memset(p->got + old, 0, bytes - old);
}

static bool
jb_bit_set(uint8_t *map, uint64_t seq)
{
	uint8_t m = (uint8_t)(1u << (seq & 7));
	bool was = map[seq >> 3] & m;

	map[seq >> 3] |= m;
	return was;
}

/* ---- sockets ---- */

static void
jb_arm(struct jb *jb, struct jb_client *c, bool out)
{
	struct epoll_event ev = {
	    .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	if (epoll_ctl(jb->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		jb_die("epoll_ctl");
	c->want_out = out;
}

static void
jb_flush(struct jb *jb, struct jb_client *c)
{
	ssize_t n = c->out.len ? write(c->fd, c->out.p, c->out.len) : 0;

	if (n < 0 && errno != EAGAIN)
		jb_die("write");
	if (n > 0) {
		memmove(c->out.p, c->out.p + n, c->out.len - (size_t)n);
		c->out.len -= (size_t)n;
	}
	if ((c->out.len > 0) != c->want_out)
		jb_arm(jb, c, c->out.len > 0);
}

static void
jb_send(struct jb_client *c, const struct mqtt_packet *pkt)
{
	size_t len = mqtt_encode_len(pkt, MQTT_V311);

	if (mqtt_encode(jb_room(&c->out, len), len, pkt, MQTT_V311) != len)
		abort();
}

static void
jb_open(struct jb *jb, struct jb_client *c)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons((uint16_t)jb->o.port)};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	int one = 1;

	if (inet_pton(AF_INET, jb->o.host, &sa.sin_addr) != 1)
		jb_die("bad host");
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		jb_die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	if (epoll_ctl(jb->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		jb_die("epoll_ctl");
}

/* ---- protocol ---- */

static void
jb_connect(struct jb *jb, struct jb_client *c, const char *id, bool clean)
{
	struct mqtt_packet pkt = {.type = MQTT_CONNECT};

	pkt.u.connect.proto_name = (struct mqtt_str){"MQTT", 4};
	pkt.u.connect.version = MQTT_V311;
	pkt.u.connect.clean = clean;
	pkt.u.connect.keep_alive = 60;
	pkt.u.connect.client_id = (struct mqtt_str){id, strlen(id)};
	jb_open(jb, c);
	jb_send(c, &pkt);
	jb_flush(jb, c);
}

static void
jb_subscribe(struct jb *jb, struct jb_client *c, const char *topic)
{
	uint8_t list[512];
	struct mqtt_sub_opts so = {.qos = (uint8_t)jb->o.qos};
	struct mqtt_packet pkt = {.type = MQTT_SUBSCRIBE, .flags = 2};

	pkt.u.subscribe.packet_id = 1;
	pkt.u.subscribe.list = list;
	pkt.u.subscribe.list_len =
	    mqtt_sub_append(list, sizeof(list), topic, &so, MQTT_V311);
	pkt.u.subscribe.count = 1;
	jb_send(c, &pkt);
	jb_flush(jb, c);
}

static void
jb_publish_one(struct jb *jb, struct jb_pair *p, int i)
{
	char topic[64];
	struct mqtt_packet pkt = {.type = MQTT_PUBLISH};
	uint64_t seq = p->next_seq++;

	snprintf(topic, sizeof(topic), "jb/%s/%d", jb->run, i);
	memcpy(jb->payload, &seq, sizeof(seq));
	p->next_pid = (uint16_t)(p->next_pid % 65535 + 1);
	p->pid_seq[p->next_pid] = seq;
	pkt.flags = (uint8_t)(jb->o.qos << 1);
	pkt.u.publish.qos = (uint8_t)jb->o.qos;
	pkt.u.publish.topic = (struct mqtt_str){topic, strlen(topic)};
	pkt.u.publish.packet_id = p->next_pid;
	pkt.u.publish.payload =
	    (struct mqtt_bin){jb->payload, (size_t)jb->o.payload};
	jb_send(&p->pub, &pkt);
	p->inflight++;
	jb_bit_grow(p, seq);
}

static void
jb_pump(struct jb *jb, struct jb_pair *p)
{
	if (!jb->publishing)
		return;
	while (p->inflight < jb->o.window)
		jb_publish_one(jb, p, (int)(p - jb->pairs));
	jb_flush(jb, &p->pub);
}

static void
jb_ack(struct jb_client *c, uint8_t type, uint16_t id)
{
	struct mqtt_packet pkt = {
	    .type = type, .flags = type == MQTT_PUBREL ? 2 : 0};

	pkt.u.ack.packet_id = id;
	jb_send(c, &pkt);
}

/* The publisher's flow for pid is complete (PUBACK or PUBCOMP). */
static void
jb_pub_done(struct jb_pair *p, uint16_t pid)
{
	p->inflight--;
	if (!jb_bit_set(p->acked, p->pid_seq[pid]))
		p->nacked++;
}

static void
jb_on_sub(struct jb_pair *p, const struct mqtt_packet *pkt)
{
	const struct mqtt_publish *pub = &pkt->u.publish;
	uint64_t seq;

	if (pkt->type == MQTT_PUBREL) {
		jb_ack(&p->sub, MQTT_PUBCOMP, pkt->u.ack.packet_id);
		return;
	}
	if (pkt->type != MQTT_PUBLISH || pub->payload.len < sizeof(seq))
		return;
	memcpy(&seq, pub->payload.p, sizeof(seq));
	jb_bit_grow(p, seq);
	if (jb_bit_set(p->got, seq))
		p->ndup++;
	else
		p->ngot++;
	if (pub->qos)
		jb_ack(&p->sub, pub->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC,
		    pub->packet_id);
}

static void
jb_on_pub(struct jb_pair *p, const struct mqtt_packet *pkt)
{
	if (pkt->type == MQTT_PUBACK || pkt->type == MQTT_PUBCOMP)
		jb_pub_done(p, pkt->u.ack.packet_id);
	else if (pkt->type == MQTT_PUBREC)
		jb_ack(&p->pub, MQTT_PUBREL, pkt->u.ack.packet_id);
}

/* Decode every whole packet in c->in; returns how many. */
static int
jb_parse(struct jb *jb, struct jb_client *c)
{
	size_t off = 0, flen;
	uint8_t rc;
	int n = 0;

	while (
	    mqtt_frame_len(c->in.p + off, c->in.len - off, &flen) == MQTT_OK) {
		if (mqtt_decode(c->in.p + off, flen, MQTT_V311, &jb->pkt,
		        &rc) != MQTT_OK) {
			fprintf(stderr, "jbench: bad packet (rc 0x%x)\n", rc);
			exit(1);
		}
		if (c->is_pub)
			jb_on_pub(c->pair, &jb->pkt);
		else
			jb_on_sub(c->pair, &jb->pkt);
		off += flen;
		n++;
	}
	memmove(c->in.p, c->in.p + off, c->in.len - off);
	c->in.len -= off;
	return n;
}

static void
jb_read(struct jb *jb, struct jb_client *c)
{
	uint8_t *dst = jb_room(&c->in, JB_READ);
	ssize_t n = read(c->fd, dst, JB_READ);

	c->in.len -= JB_READ;
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		fprintf(stderr, "jbench: broker closed a connection\n");
		exit(1);
	}
	if (n > 0)
		c->in.len += (size_t)n;
	(void)jb_parse(jb, c);
	jb_flush(jb, c);
	if (c->is_pub)
		jb_pump(jb, c->pair);
}

/* One epoll round: flush what can go, read and react to what came. */
static void
jb_turn(struct jb *jb, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(jb->ep, evs, 64, timeout_ms);

	for (int i = 0; i < n; i++) {
		struct jb_client *c = evs[i].data.ptr;

		if (evs[i].events & EPOLLOUT)
			jb_flush(jb, c);
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			jb_read(jb, c);
	}
}

/* ---- phases ---- */

static void
jb_wait_packet(struct jb *jb, struct jb_client *c, uint8_t type)
{
	uint64_t end = jb_now_ms() + JB_SETUP_MS;
	size_t flen;
	uint8_t rc;

	for (;;) {
		if (mqtt_frame_len(c->in.p, c->in.len, &flen) == MQTT_OK &&
		    mqtt_decode(c->in.p, flen, MQTT_V311, &jb->pkt, &rc) ==
		        MQTT_OK &&
		    jb->pkt.type == type) {
			memmove(c->in.p, c->in.p + flen, c->in.len - flen);
			c->in.len -= flen;
			return;
		}
		if (jb_now_ms() > end) {
			fprintf(stderr, "jbench: no reply during setup\n");
			exit(1);
		}
		uint8_t *dst = jb_room(&c->in, JB_READ);
		ssize_t n = read(c->fd, dst, JB_READ);

		c->in.len -= JB_READ;
		if (n > 0)
			c->in.len += (size_t)n;
	}
}

static void
jb_setup_pair(struct jb *jb, int i)
{
	struct jb_pair *p = &jb->pairs[i];
	char id[64], topic[64];

	p->pub.is_pub = true;
	p->pub.pair = p->sub.pair = p;
	p->pid_seq = xcalloc(65536, sizeof(uint64_t));
	jb_bit_grow(p, 0);
	snprintf(id, sizeof(id), "jb-%s-s%d", jb->run, i);
	jb_connect(jb, &p->sub, id, !jb->o.persistent);
	jb_wait_packet(jb, &p->sub, MQTT_CONNACK);
	snprintf(topic, sizeof(topic), "jb/%s/%d", jb->run, i);
	jb_subscribe(jb, &p->sub, topic);
	jb_wait_packet(jb, &p->sub, MQTT_SUBACK);
	snprintf(id, sizeof(id), "jb-%s-p%d", jb->run, i);
	jb_connect(jb, &p->pub, id, true);
	jb_wait_packet(jb, &p->pub, MQTT_CONNACK);
}

static bool
jb_drained(const struct jb *jb)
{
	for (int i = 0; i < jb->o.pairs; i++) {
		const struct jb_pair *p = &jb->pairs[i];

		if (p->inflight > 0 || p->ngot < p->nacked)
			return false;
	}
	return true;
}

/* Acknowledged sequence numbers that never arrived. */
static uint64_t
jb_lost(const struct jb_pair *p)
{
	uint64_t lost = 0;

	for (uint64_t s = 0; s < p->next_seq; s++) {
		uint8_t m = (uint8_t)(1u << (s & 7));

		if ((p->acked[s >> 3] & m) && !(p->got[s >> 3] & m))
			lost++;
	}
	return lost;
}

static int
jb_report(const struct jb *jb, double secs)
{
	uint64_t pub = 0, acked = 0, got = 0, lost = 0, dup = 0;

	for (int i = 0; i < jb->o.pairs; i++) {
		const struct jb_pair *p = &jb->pairs[i];

		pub += p->next_seq;
		acked += p->nacked;
		got += p->ngot;
		dup += p->ndup;
		lost += jb_lost(p);
	}
	printf("msgs_per_s=%.0f published=%llu acked=%llu received=%llu "
	       "lost=%llu dup=%llu seconds=%.2f\n",
	    (double)acked / secs, (unsigned long long)pub,
	    (unsigned long long)acked, (unsigned long long)got,
	    (unsigned long long)lost, (unsigned long long)dup, secs);
	return lost ? 1 : 0;
}

static void
jb_run(struct jb *jb)
{
	uint64_t t0 = jb_now_ms(), end, stop;

	end = t0 + (uint64_t)(jb->o.seconds * 1000);
	jb->publishing = true;
	for (int i = 0; i < jb->o.pairs; i++)
		jb_pump(jb, &jb->pairs[i]);
	while (jb_now_ms() < end)
		jb_turn(jb, 10);
	jb->publishing = false;
	stop = jb_now_ms();
	while (!jb_drained(jb) && jb_now_ms() < stop + JB_DRAIN_MS)
		jb_turn(jb, 10);
	exit(jb_report(jb, (double)(stop - t0) / 1000.0));
}

static void
jb_usage(void)
{
	fprintf(stderr,
	    "usage: jbench [-H host] [-p port] [-n pairs] [-d seconds] "
	    "[-w window] [-s payload bytes] [-q qos] [-P]\n"
	    "  -P  persistent (clean session false) subscribers\n");
	exit(2);
}

static void
jb_options(int argc, char **argv, struct jb_opts *o)
{
	int ch;

	while ((ch = getopt(argc, argv, "H:p:n:d:w:s:q:P")) != -1) {
		switch (ch) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			o->port = atoi(optarg);
			break;
		case 'n':
			o->pairs = atoi(optarg);
			break;
		case 'd':
			o->seconds = atof(optarg);
			break;
		case 'w':
			o->window = atoi(optarg);
			break;
		case 's':
			o->payload = atoi(optarg);
			break;
		case 'q':
			o->qos = atoi(optarg);
			break;
		case 'P':
			o->persistent = 1;
			break;
		default:
			jb_usage();
		}
	}
	if (o->pairs < 1 || o->window < 1 || o->window > 60000 ||
	    o->payload < 8 || o->qos < 1 || o->qos > 2 || o->seconds <= 0)
		jb_usage();
}

int
main(int argc, char **argv)
{
	struct jb jb = {.o = {"127.0.0.1", 1883, 4, 5.0, 32, 64, 1, 0}};

	jb_options(argc, argv, &jb.o);
	snprintf(jb.run, sizeof(jb.run), "%ld%ld", (long)getpid(),
	    (long)time(NULL) % 100000);
	jb.ep = epoll_create1(0);
	if (jb.ep < 0)
		jb_die("epoll_create1");
	jb.payload = xcalloc(1, (size_t)jb.o.payload);
	jb.pairs = xcalloc((size_t)jb.o.pairs, sizeof(*jb.pairs));
	for (int i = 0; i < jb.o.pairs; i++)
		jb_setup_pair(&jb, i);
	jb_run(&jb);
	return 0;
}
