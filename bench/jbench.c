/*
 * jbench.c - a single-threaded epoll load generator for MQTT 3.1.1 / 5.0
 * and STOMP 1.2 brokers (Junction, Mosquitto, RabbitMQ's STOMP plugin).
 * See jb.h for the modules; `jbench --help` for the options.
 *
 * Flow mode: N publishers and M subscribers. Topology pairs gives
 * publisher i its own topic and subscriber (jb/<tag>/<i>, STOMP
 * /topic/jb.<tag>.<i>); shared has every publisher publish to one topic
 * (jb/<tag>, /topic/jb.<tag>) that all M subscribers take; a STOMP
 * --dest queue has every publisher send to /queue/jb.<tag> and the M
 * subscribers compete for it. Every connection is set up, subscriptions
 * confirmed, then the publishers run: a warm-up, the measured phase,
 * and a drain until every message is complete (jb_track.c) or o.drain
 * seconds pass. One line goes to stdout:
 *
 *   mode=flow proto= qos= pubs= subs= size= rate= window= duration=
 *   published= acked= delivered= expected= lost= dup= msgs_per_s=
 *   deliveries_per_s= p50_us= p99_us= p999_us= max_us= broker_cpu_s=
 *   broker_cpu_us_per_delivery= broker_rss_kb= gen_cpu_pct=
 *
 * qos is the --qos option (STOMP has none: its SENDs are never
 * acknowledged; --ack rules the subscriptions); subs is the number of
 * subscribers really used (pairs: one per publisher).
 * published, acked (QoS 0 and STOMP: written to the socket), delivered
 * (distinct receipts), expected (acked x deliveries per message), lost
 * and dup cover the whole run; msgs_per_s (messages completing) and
 * deliveries_per_s count what happened in the measured phase, whose
 * length is duration; latencies are of messages queued in it; broker_*
 * come from /proc over it (0 / -1 without --broker-pid); gen_cpu_pct is
 * jbench's own CPU over it, to tell when the generator is the limit.
 *
 * Exit status 1, with the reason on stderr, when a delivery was lost, a
 * QoS 2 message arrived twice, a payload was not ours, or setup failed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/jb.h"

/* A reading at a phase boundary. */
struct jb_snap {
	uint64_t ns;
	uint64_t completed, delivered;
	double broker_cpu, self_cpu;
};

void
jb_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("jbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t
jb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
jb_secs_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

/* ---- setup ---- */

static void
jb_tag(struct jb *jb)
{
	if (jb->o.tag != NULL)
		snprintf(jb->tag, sizeof(jb->tag), "%s", jb->o.tag);
	else
		snprintf(jb->tag, sizeof(jb->tag), "%d%ld", (int)getpid(),
		    (long)(time(NULL) % 1000000));
}

/* Topic or destination i of the run; i < 0 names the shared one. */
static void
jb_dest(const struct jb *jb, char *buf, int i)
{
	const char *t = jb->tag;

	if (jb->o.proto != JB_STOMP && i >= 0)
		snprintf(buf, JB_DEST_MAX, "jb/%s/%d", t, i);
	else if (jb->o.proto != JB_STOMP)
		snprintf(buf, JB_DEST_MAX, "jb/%s", t);
	else if (jb->o.dest == JB_QUEUE)
		snprintf(buf, JB_DEST_MAX, "/queue/jb.%s", t);
	else if (i >= 0)
		snprintf(buf, JB_DEST_MAX, "/topic/jb.%s.%d", t, i);
	else
		snprintf(buf, JB_DEST_MAX, "/topic/jb.%s", t);
}

static bool
jb_is_pairs(const struct jb *jb)
{
	return jb->o.dest == JB_TOPIC && jb->o.topology == JB_PAIRS;
}

static void
jb_setup_sub(struct jb *jb, struct jb_sub *s, int i)
{
	s->conn = (struct jb_conn){.fd = -1, .role = JB_ROLE_SUB, .idx = i};
	jb_dest(jb, s->dest, jb_is_pairs(jb) ? i : -1);
	if (jb->o.dest == JB_TOPIC)
		s->next = xcalloc(
		    jb_is_pairs(jb) ? 1 : (size_t)jb->npubs, sizeof(*s->next));
}

static void
jb_setup_pub(struct jb *jb, struct jb_pub *p, int i)
{
	p->conn = (struct jb_conn){.fd = -1, .role = JB_ROLE_PUB, .idx = i};
	jb_dest(jb, p->dest, jb_is_pairs(jb) ? i : -1);
	p->recv_max = jb->o.max_inflight;
	if (jb->o.proto != JB_STOMP && jb->o.qos > 0)
		p->pid_seq = xcalloc(65536, sizeof(*p->pid_seq));
}

/* Subscribers first, so they exist when the publishers connect. */
static void
jb_setup(struct jb *jb)
{
	jb->npubs = jb->o.pubs;
	jb->nsubs = jb_is_pairs(jb) ? jb->o.pubs : jb->o.subs;
	jb->fanout = jb->o.dest == JB_TOPIC && jb->o.topology == JB_SHARED
	    ? (uint32_t)jb->nsubs
	    : 1;
	jb->pubs = xcalloc((size_t)jb->npubs, sizeof(*jb->pubs));
	jb->subs = xcalloc((size_t)jb->nsubs, sizeof(*jb->subs));
	jb->nconns = jb->npubs + jb->nsubs;
	jb->conns = xcalloc((size_t)jb->nconns, sizeof(*jb->conns));
	for (int i = 0; i < jb->nsubs; i++) {
		jb_setup_sub(jb, &jb->subs[i], i);
		jb->conns[i] = &jb->subs[i].conn;
	}
	for (int i = 0; i < jb->npubs; i++) {
		jb_setup_pub(jb, &jb->pubs[i], i);
		jb->conns[jb->nsubs + i] = &jb->pubs[i].conn;
	}
}

static void
jb_connect_all(struct jb *jb)
{
	jb->progress_ns = jb_now_ns();
	while (jb->ready < jb->nconns) {
		jb_conn_connect_more(jb);
		jb_conn_poll(jb, 1);
		jb_conn_flush_all(jb);
		jb_conn_check_setup(jb);
	}
}

/* ---- phases ---- */

static void
jb_turn(struct jb *jb)
{
	jb_conn_poll(jb, 1);
	jb_pub_tick(jb, jb_now_ns());
	jb_pub_pump(jb);
	jb_conn_flush_all(jb);
}

static void
jb_run_until(struct jb *jb, uint64_t end)
{
	while (jb_now_ns() < end)
		jb_turn(jb);
}

static void
jb_snap(const struct jb *jb, struct jb_snap *s)
{
	s->ns = jb_now_ns();
	s->completed = jb->completed;
	s->delivered = jb->delivered;
	s->self_cpu = jb_stats_self_cpu_s();
	s->broker_cpu = jb->o.broker_pid ? jb_stats_cpu_s(jb->o.broker_pid) : 0;
}

static void
jb_drain(struct jb *jb)
{
	uint64_t end = jb_now_ns() + jb_secs_ns(jb->o.drain);

	while (jb->open_msgs > 0 && jb_now_ns() < end)
		jb_turn(jb);
}

/* ---- report ---- */

static unsigned long long
jb_us(const struct jb_hist *h, double q)
{
	uint64_t ns = q >= 1 ? h->max : jb_stats_hist_quantile(h, q);

	return (unsigned long long)((ns + 500) / 1000);
}

static void
jb_report_counts(const struct jb *jb, const struct jb_outcome *o, double secs)
{
	printf("mode=flow proto=%s qos=%d pubs=%d subs=%d size=%d rate=%.10g "
	       "window=%d duration=%.2f ",
	    jb_opt_proto_name(jb->o.proto), jb->o.qos, jb->npubs, jb->nsubs,
	    jb->o.size, jb->o.rate, jb->o.window, secs);
	printf("published=%llu acked=%llu delivered=%llu expected=%llu "
	       "lost=%llu dup=%llu ",
	    (unsigned long long)o->published, (unsigned long long)o->acked,
	    (unsigned long long)jb->delivered, (unsigned long long)o->expected,
	    (unsigned long long)o->lost, (unsigned long long)jb->dup);
}

static void
jb_report_phase(const struct jb *jb, const struct jb_snap *a,
    const struct jb_snap *b, long rss)
{
	double secs = (double)(b->ns - a->ns) / 1e9;
	uint64_t got = b->delivered - a->delivered;
	double cpu = b->broker_cpu - a->broker_cpu;

	printf("msgs_per_s=%.0f deliveries_per_s=%.0f ",
	    (double)(b->completed - a->completed) / secs, (double)got / secs);
	printf("p50_us=%llu p99_us=%llu p999_us=%llu max_us=%llu ",
	    jb_us(&jb->hist, 0.5), jb_us(&jb->hist, 0.99),
	    jb_us(&jb->hist, 0.999), jb_us(&jb->hist, 1));
	printf("broker_cpu_s=%.3f broker_cpu_us_per_delivery=%.3f "
	       "broker_rss_kb=%ld gen_cpu_pct=%.1f\n",
	    cpu, got > 0 ? cpu * 1e6 / (double)got : 0, rss,
	    100 * (b->self_cpu - a->self_cpu) / secs);
	fflush(stdout);
}

static int
jb_verdict(const struct jb *jb, const struct jb_outcome *o)
{
	if (jb->refused > 0)
		fprintf(stderr, "jbench: the broker refused %llu messages\n",
		    (unsigned long long)jb->refused);
	if (o->lost > 0)
		jb_fail("%llu deliveries lost", (unsigned long long)o->lost);
	if (jb->dup > 0 && jb->o.qos == 2 && jb->o.proto != JB_STOMP)
		jb_fail(
		    "%llu duplicates at QoS 2", (unsigned long long)jb->dup);
	if (jb->bad > 0)
		jb_fail("%llu deliveries with a foreign or malformed payload",
		    (unsigned long long)jb->bad);
	if (o->published == 0)
		jb_fail("nothing was published");
	/* Never acknowledged nor refused: not in lost, but no pass either. */
	if (jb->open_msgs > 0)
		jb_fail("%llu messages open after the drain",
		    (unsigned long long)jb->open_msgs);
	return 0;
}

static int
jb_flow(struct jb *jb)
{
	struct jb_snap a, b;
	struct jb_outcome o;
	long rss;

	jb_setup(jb);
	jb_conn_init(jb);
	jb_connect_all(jb);
	jb_pub_init(jb, jb_now_ns());
	jb->publishing = true;
	jb_run_until(jb, jb_now_ns() + jb_secs_ns(jb->o.warmup));
	jb_snap(jb, &a);
	jb->meas_ns = a.ns;
	jb_run_until(jb, a.ns + jb_secs_ns(jb->o.duration));
	jb->publishing = false;
	jb_snap(jb, &b);
	jb->meas_end_ns = b.ns;
	rss = jb->o.broker_pid ? jb_stats_rss_kb(jb->o.broker_pid) : -1;
	jb_drain(jb);
	jb_track_settle(jb, &o);
	jb_report_counts(jb, &o, (double)(b.ns - a.ns) / 1e9);
	jb_report_phase(jb, &a, &b, rss);
	for (int i = 0; i < jb->nconns; i++)
		jb_conn_close(jb, jb->conns[i]);
	return jb_verdict(jb, &o);
}

int
main(int argc, char **argv)
{
	/* Static: everything the run allocates stays reachable from here
	 * until exit, which LeakSanitizer (make san) does not call a leak. */
	static struct jb state;
	struct jb *jb = &state;

	jb_opt_parse(argc, argv, &jb->o);
	jb->ops = jb->o.proto == JB_STOMP ? &jb_stomp_ops : &jb_mqtt_ops;
	jb_tag(jb);
	if (jb->o.broker_pid && jb_stats_cpu_s(jb->o.broker_pid) < 0)
		jb_fail("cannot read /proc/%d/stat", jb->o.broker_pid);
	if (jb->o.idle > 0)
		return jb_idle_run(jb);
	return jb_flow(jb);
}
