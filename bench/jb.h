/*
 * jb.h - jbench, a single-threaded epoll load generator for MQTT 3.1.1 /
 * 5.0 and STOMP 1.2 brokers: the shared types and the contracts between
 * its modules.
 *
 * Modules (file = prefix):
 *   jbench.c    main, the flow run's phases and its report (jb_*)
 *   jb_opt.c    the command line, one table of options (jb_opt_*)
 *   jb_conn.c   sockets, buffers, the epoll loop, the connector (jb_conn_*)
 *   jb_mqtt.c   MQTT 3.1.1 / 5.0 client over mqtt_codec (jb_mqtt_*)
 *   jb_stomp.c  STOMP 1.2 client over stomp_codec (jb_stomp_*)
 *   jb_pub.c    publishers: payload, window, rate scheduler (jb_pub_*)
 *   jb_track.c  each message's outcome: slots, receipts, loss (jb_track_*)
 *   jb_stats.c  latency histogram, /proc and getrusage (jb_stats_*)
 *   jb_idle.c   the idle-connection mode (jb_idle_*)
 *
 * One process, one thread, one epoll set: nothing locks. A protocol
 * module reaches the rest only through jb_conn_* (bytes out, state
 * changes) and jb_track_* (acks and receipts); the rest reaches a
 * protocol only through its struct jb_proto_ops.
 *
 * Failures of the broker or of setup end the process through jb_fail()
 * (one line on stderr, exit status 1); bugs ASSERT.
 */
#ifndef JUNCTION_JB_H
#define JUNCTION_JB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "protocols/stomp/stomp_codec.h"

/*
 * Payload layout, little-endian: the CLOCK_MONOTONIC ns at which the
 * message was queued for writing, the publisher index, the sequence
 * number; filler up to the size. JB_MIN_SIZE leaves room to grow.
 */
#define JB_OFF_STAMP 0
#define JB_OFF_PUB 8
#define JB_OFF_SEQ 12
#define JB_MIN_SIZE 24

#define JB_READ_CHUNK 65536 /* one read() per readable socket per turn */
#define JB_SLOT_MS 2000 /* an incomplete message gives back its slot */
#define JB_SETUP_MS 10000 /* setup fails after this long without progress */
#define JB_TAG_MAX 32
#define JB_DEST_MAX 96

enum jb_proto { JB_MQTT311, JB_MQTT5, JB_STOMP };
enum jb_ack { JB_ACK_AUTO, JB_ACK_INDIVIDUAL };
enum jb_dest { JB_TOPIC, JB_QUEUE };
enum jb_topology { JB_PAIRS, JB_SHARED };

/* The command line (jb_opt.c has the table, defaults and limits). */
struct jb_opts {
	const char *host;
	int port;
	int proto; /* enum jb_proto */
	int qos;
	int ack; /* enum jb_ack */
	int dest; /* enum jb_dest */
	int pubs;
	int subs;
	int topology; /* enum jb_topology */
	int size;
	double rate; /* publishes per second over all publishers; 0 = max */
	int window;
	int max_inflight; /* MQTT: unfinished QoS 1/2 flows per publisher */
	double duration;
	double warmup;
	double drain;
	bool persistent;
	int broker_pid; /* 0 = none */
	const char *user;
	const char *pass;
	int idle; /* connections; 0 = flow mode */
	double connect_rate;
	int source_ips;
	int max_pending;
	const char *tag;
};

enum jb_role { JB_ROLE_PUB, JB_ROLE_SUB, JB_ROLE_IDLE };

/* CONNECTING until CONNACK / CONNECTED, SUBSCRIBING until SUBACK /
 * RECEIPT (subscribers only), then READY. */
enum jb_state { JB_CONNECTING, JB_SUBSCRIBING, JB_READY };

/* Bytes [off, len) of p are live; cap is allocated. */
struct jb_buf {
	uint8_t *p;
	size_t off, len, cap;
};

struct jb_conn {
	int fd; /* -1 until opened */
	enum jb_role role;
	enum jb_state state;
	int idx; /* publisher, subscriber or idle index */
	bool tcp_up; /* connect() has completed */
	bool want_out; /* EPOLLOUT armed */
	bool dirty; /* on the turn's flush list */
	struct jb_buf in, out;
	uint64_t queued; /* bytes ever queued for writing */
	uint64_t written; /* bytes ever written */
	struct stomp_scan scan; /* STOMP framing state between reads */
};

/*
 * A published message whose outcome is still open: held in its
 * publisher's ring from pub->lo, or in pub->late once its slot was
 * given back (JB_SLOT_MS) before it completed.
 */
struct jb_msg {
	uint64_t seq;
	uint64_t end; /* conn->queued just past its bytes: written when
	               * conn->written >= end */
	uint64_t stamp; /* queued for writing, CLOCK_MONOTONIC ns */
	uint32_t recv; /* distinct deliveries seen */
	bool acked; /* PUBACK / PUBCOMP seen */
	bool done; /* complete, or refused by the broker */
};

struct jb_pub {
	struct jb_conn conn;
	char dest[JB_DEST_MAX]; /* MQTT topic or STOMP destination */
	uint64_t next_seq; /* messages published */
	uint64_t lo; /* ring holds seq lo .. next_seq - 1 */
	struct jb_msg *ring; /* ring_cap entries, a power of two */
	size_t ring_cap;
	struct jb_msg *late; /* released incomplete messages, seq order */
	size_t nlate, late_cap;
	int inflight; /* window slots held: seq >= lo and not done */
	int unacked; /* MQTT: PUBLISHes awaiting PUBACK / PUBCOMP */
	int recv_max; /* MQTT 5: the broker's Receive Maximum */
	uint64_t *pid_seq; /* MQTT: packet id -> seq + 1; 0 = free */
	uint64_t nacked; /* MQTT: PUBACK / PUBCOMP seen */
	uint64_t due_ns; /* rate mode: when the next publish is due */
	bool woken; /* on the turn's pump list */
	uint8_t *head; /* STOMP: the SEND head, built once */
	size_t head_len;
};

struct jb_sub {
	struct jb_conn conn;
	char dest[JB_DEST_MAX];
	uint64_t *next; /* topic: next sequence expected, per publisher
	                 * (pairs: one entry, for the paired publisher) */
};

/* Log-linear latency histogram: 64 sub-buckets per power of two of ns. */
#define JB_HIST_SUB_BITS 6
#define JB_HIST_BUCKETS ((64 - JB_HIST_SUB_BITS + 1) << JB_HIST_SUB_BITS)

struct jb_hist {
	uint64_t n;
	uint64_t max;
	uint64_t count[JB_HIST_BUCKETS];
};

/* Little-endian payload fields. */
static inline void
jb_put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t
jb_get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct jb;

/*
 * What a protocol implements. Every function queues bytes on the
 * connection (jb_conn_queue); nothing writes directly.
 *   hello      the CONNECT that opens a session
 *   subscribe  the subscription, asking for a SUBACK / RECEIPT
 *   can_send   may this publisher queue one more message now (protocol
 *              limits beyond the window: packet ids, Receive Maximum)?
 *   publish    one message with this payload (jb->o.size bytes)
 *   input      consume every whole frame in c->in
 *   bye        the DISCONNECT that ends the session
 */
struct jb_proto_ops {
	void (*hello)(struct jb *jb, struct jb_conn *c);
	void (*subscribe)(struct jb *jb, struct jb_sub *s);
	bool (*can_send)(const struct jb *jb, const struct jb_pub *p);
	void (*publish)(struct jb *jb, struct jb_pub *p, uint64_t seq,
	    const uint8_t *payload);
	void (*input)(struct jb *jb, struct jb_conn *c);
	void (*bye)(struct jb *jb, struct jb_conn *c);
};

extern const struct jb_proto_ops jb_mqtt_ops;
extern const struct jb_proto_ops jb_stomp_ops;

struct jb {
	struct jb_opts o;
	const struct jb_proto_ops *ops;
	char tag[JB_TAG_MAX + 1];
	struct sockaddr_in addr; /* the broker */
	int ep; /* epoll */
	uint32_t fanout; /* deliveries each message should make */
	struct jb_pub *pubs;
	int npubs;
	struct jb_sub *subs;
	int nsubs;
	/* The connector: conns[0 .. opened) are open, pending of them
	 * not READY yet, ready of them READY. */
	struct jb_conn **conns;
	int nconns, opened, pending, ready;
	double conn_rate; /* opens per second; 0 = no pacing */
	uint64_t conn_t0; /* first open, ns */
	uint64_t progress_ns; /* last open or state change during setup */
	struct jb_conn **flush; /* dirty connections, written once a turn */
	int nflush;
	struct jb_pub **wake; /* publishers that may have room */
	int nwake;
	bool publishing;
	uint64_t tick_ns, expire_ns; /* last rate tick, last slot expiry */
	uint64_t meas_ns, meas_end_ns; /* measured phase; end 0 while open */
	uint64_t open_msgs; /* published, not yet complete */
	uint64_t completed; /* messages complete (acked and delivered) */
	uint64_t delivered; /* distinct (message, subscriber) receipts */
	uint64_t dup, bad, refused;
	struct jb_hist hist; /* messages stamped in the measured phase */
	uint8_t *payload; /* o.size bytes: filler, stamped per message */
};

/* ---- jbench.c ---- */

/* Print "jbench: <message>" on stderr and exit with status 1. */
NORETURN void jb_fail(const char *fmt, ...) PRINTF(1, 2);

/* CLOCK_MONOTONIC in ns. */
uint64_t jb_now_ns(void);

/* ---- jb_opt.c ---- */

/* Parse argv into *o (defaults first); usage errors exit with status 2. */
void jb_opt_parse(int argc, char **argv, struct jb_opts *o);

/* "mqtt311", "mqtt5" or "stomp". */
const char *jb_opt_proto_name(int proto);

/* ---- jb_conn.c ---- */

/* Resolve the broker address and create the epoll set. */
void jb_conn_init(struct jb *jb);

/*
 * Queue n bytes for writing on c and return where to put them; valid
 * until the next call on c. The bytes go out at the turn's flush.
 */
uint8_t *jb_conn_queue(struct jb *jb, struct jb_conn *c, size_t n);

/* One epoll_wait (at most timeout_ms) and every read and write it
 * allows; input goes to jb->ops->input. */
void jb_conn_poll(struct jb *jb, int timeout_ms);

/* Write every connection with queued bytes once. */
void jb_conn_flush_all(struct jb *jb);

/* Open connections from jb->conns while the pacing and the bound on
 * unfinished handshakes (o.max_pending) allow. */
void jb_conn_connect_more(struct jb *jb);

/* Fail when setup has made no progress for JB_SETUP_MS. */
void jb_conn_check_setup(const struct jb *jb);

/* The session is open (CONNACK accepted / CONNECTED): subscribers go on
 * to subscribe, everyone else is READY. */
void jb_conn_connected(struct jb *jb, struct jb_conn *c);

/* The subscription is confirmed: READY. */
void jb_conn_subscribed(struct jb *jb, struct jb_conn *c);

/* "publisher 3", "subscriber 0", "connection 17". */
const char *jb_conn_name(const struct jb_conn *c);

/* Fail naming the connection. */
NORETURN void jb_conn_fail(const struct jb_conn *c, const char *what);

/* Best effort: queue bye, write once, close. */
void jb_conn_close(struct jb *jb, struct jb_conn *c);

/* Consume n bytes from the front of b. */
void jb_buf_drop(struct jb_buf *b, size_t n);

/* Free b's memory. */
void jb_buf_free(struct jb_buf *b);

/* ---- jb_pub.c ---- */

/* Build the payload template and each publisher's rate schedule. */
void jb_pub_init(struct jb *jb, uint64_t now);

/* p may have room: pump it at the end of this turn. */
void jb_pub_wake(struct jb *jb, struct jb_pub *p);

/* Publish from every woken publisher while its window, the protocol
 * and the rate allow. */
void jb_pub_pump(struct jb *jb);

/* Once a turn: rate mode wakes publishers that are due; slots of
 * messages older than JB_SLOT_MS are given back. */
void jb_pub_tick(struct jb *jb, uint64_t now);

/* ---- jb_track.c ---- */

/* Message seq of p was queued: it takes a window slot. */
void jb_track_sent(struct jb *jb, struct jb_pub *p, uint64_t seq,
    uint64_t stamp, uint64_t end);

/* The broker acknowledged seq (PUBACK / PUBCOMP). */
void jb_track_acked(struct jb *jb, struct jb_pub *p, uint64_t seq);

/* The broker refused seq (MQTT 5 reason >= 0x80): done, not counted. */
void jb_track_refused(struct jb *jb, struct jb_pub *p, uint64_t seq);

/* Subscriber s received a message with this payload. */
void jb_track_receipt(
    struct jb *jb, struct jb_sub *s, const uint8_t *payload, size_t len);

/* Give back the slots of messages queued before now - JB_SLOT_MS. */
void jb_track_expire(struct jb *jb, struct jb_pub *p, uint64_t now);

/* The run's outcome over every publisher, once the drain is over. */
struct jb_outcome {
	uint64_t published, acked, expected, lost;
};
void jb_track_settle(const struct jb *jb, struct jb_outcome *out);

/* ---- jb_stats.c ---- */

void jb_stats_hist_add(struct jb_hist *h, uint64_t ns);

/* The q-quantile (0 < q <= 1) in ns, bucket midpoint, at most h->max. */
uint64_t jb_stats_hist_quantile(const struct jb_hist *h, double q);

/* utime + stime of pid in seconds; -1 if /proc cannot tell. */
double jb_stats_cpu_s(int pid);

/* VmRSS of pid in kB; -1 if /proc cannot tell. */
long jb_stats_rss_kb(int pid);

/* This process's user + system CPU in seconds. */
double jb_stats_self_cpu_s(void);

/* ---- jb_idle.c ---- */

/* The idle-connection mode: returns the exit status. */
int jb_idle_run(struct jb *jb);

#endif
