/*
 * jb_idle.c - the idle-connection mode: how fast a broker takes
 * o.idle sessions and what each costs it in memory.
 *
 * Opens o.idle connections at o.connect_rate per second (0: as fast as
 * the o.max_pending bound on unfinished handshakes allows), each from
 * 127.0.0.(2 + i % o.source_ips), each opening a session (MQTT: clean,
 * keep alive 0; STOMP: no heart-beats). Once every CONNACK / CONNECTED
 * is in, it reads the broker's VmRSS again and prints one line:
 *   mode=idle proto=P conns=N connect_s=F conns_per_s=F
 *   rss_before_kb=N rss_after_kb=N rss_per_conn_b=N
 * (the rss fields are -1 and 0 without --broker-pid), then closes them.
 */
#include <stdio.h>

#include "bench/jb.h"

static void
jb_idle_setup(struct jb *jb, struct jb_conn *conns)
{
	jb->nconns = jb->o.idle;
	jb->conns = xcalloc((size_t)jb->nconns, sizeof(*jb->conns));
	for (int i = 0; i < jb->nconns; i++) {
		conns[i] =
		    (struct jb_conn){.fd = -1, .role = JB_ROLE_IDLE, .idx = i};
		jb->conns[i] = &conns[i];
	}
	jb->conn_rate = jb->o.connect_rate;
}

/* Ready connections keep no buffers: what is measured is the broker. */
static void
jb_idle_trim(struct jb *jb, int *trimmed)
{
	for (; *trimmed < jb->opened; (*trimmed)++) {
		struct jb_conn *c = jb->conns[*trimmed];

		if (c->state != JB_READY || c->dirty ||
		    c->out.off != c->out.len)
			return;
		jb_buf_free(&c->in);
		jb_buf_free(&c->out);
	}
}

static void
jb_idle_print(const struct jb *jb, double secs, long before, long after)
{
	long per = before >= 0 && after >= 0
	    ? (after - before) * 1024 / jb->o.idle
	    : 0;

	printf("mode=idle proto=%s conns=%d connect_s=%.3f conns_per_s=%.0f "
	       "rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%ld\n",
	    jb_opt_proto_name(jb->o.proto), jb->o.idle, secs,
	    secs > 0 ? jb->o.idle / secs : 0, before, after, per);
	fflush(stdout);
}

int
jb_idle_run(struct jb *jb)
{
	struct jb_conn *conns = xcalloc((size_t)jb->o.idle, sizeof(*conns));
	long before = jb->o.broker_pid ? jb_stats_rss_kb(jb->o.broker_pid) : -1;
	uint64_t t0;
	int trimmed = 0;

	jb_idle_setup(jb, conns);
	jb_conn_init(jb);
	t0 = jb_now_ns();
	jb->progress_ns = t0;
	while (jb->ready < jb->nconns) {
		jb_conn_connect_more(jb);
		jb_conn_poll(jb, 1);
		jb_conn_flush_all(jb);
		jb_idle_trim(jb, &trimmed);
		jb_conn_check_setup(jb);
	}
	jb_idle_print(jb, (double)(jb_now_ns() - t0) / 1e9, before,
	    jb->o.broker_pid ? jb_stats_rss_kb(jb->o.broker_pid) : -1);
	for (int i = 0; i < jb->nconns; i++)
		jb_conn_close(jb, &conns[i]);
	return 0;
}
