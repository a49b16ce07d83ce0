/* server.c - see server.h. */
#include "net/server.h"

#include <signal.h>
#include <stdlib.h>

#include "net/clock.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/log.h"

/* libevent's own complaints go to our log, not straight to stderr. */
static void
server_event_log(int severity, const char *msg)
{
	static const enum log_level levels[] = {
	    [EVENT_LOG_DEBUG] = LOG_LEVEL_DEBUG,
	    [EVENT_LOG_MSG] = LOG_LEVEL_INFO,
	    [EVENT_LOG_WARN] = LOG_LEVEL_WARN,
	    [EVENT_LOG_ERR] = LOG_LEVEL_ERROR,
	};

	if (severity < 0 || (size_t)severity >= ARRAY_LEN(levels))
		severity = EVENT_LOG_ERR;
	log_msg(levels[severity], "libevent: %s", msg);
}

static void
server_kick_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	conn_run_deferred(arg);
}

static void
server_tick_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct server *srv = arg;
	uint64_t now = clock_now_ms();

	conn_tick_all(srv, now);
	broker_tick(srv->broker, now);
}

/* A group commit finished: run the barriers it satisfied (held acks). */
static void
server_store_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct server *srv = arg;

	store_poll(srv->broker->store);
}

/* Wakes the loop so its end-of-turn commit does the interval's sync. */
static void
server_sync_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
}

/* The durable store's completion fd and, with sync interval, its timer. */
static void
server_store_init(struct server *srv)
{
	int fd = store_fd(srv->broker->store);
	uint32_t ms = srv->conf->persistence_sync_interval;
	struct timeval iv = {ms / 1000, (ms % 1000) * 1000};

	event_assign(&srv->store_done, srv->base, fd, EV_READ | EV_PERSIST,
	    server_store_cb, srv);
	event_assign(
	    &srv->store_sync, srv->base, -1, EV_PERSIST, server_sync_cb, srv);
	if (fd >= 0)
		event_add(&srv->store_done, NULL);
	if (fd >= 0 && srv->conf->persistence_sync == CONFIG_SYNC_INTERVAL)
		event_add(&srv->store_sync, &iv);
}

static void
server_signal_cb(evutil_socket_t sig, short what UNUSED, void *arg)
{
	struct server *srv = arg;

	if (!srv->stopping)
		log_notice("signal %d: shutting down", (int)sig);
	server_shutdown(srv);
}

/* Timers and signals; the kick is activated by hand, never added. */
static void
server_events_init(struct server *srv)
{
	struct timeval second = {1, 0};

	event_assign(&srv->kick, srv->base, -1, 0, server_kick_cb, srv);
	event_assign(
	    &srv->tick, srv->base, -1, EV_PERSIST, server_tick_cb, srv);
	evsignal_assign(&srv->sigint, srv->base, SIGINT, server_signal_cb, srv);
	evsignal_assign(
	    &srv->sigterm, srv->base, SIGTERM, server_signal_cb, srv);
	event_add(&srv->tick, &second);
	evsignal_add(&srv->sigint, NULL);
	evsignal_add(&srv->sigterm, NULL);
}

struct server *
server_new(struct broker *b, const struct config *conf, const char *fname)
{
	struct server *srv = xcalloc(1, sizeof(*srv));

	event_set_log_callback(server_event_log);
	srv->base = event_base_new();
	if (srv->base == NULL)
		fatal("cannot create the event loop");
	srv->broker = b;
	srv->conf = conf;
	srv->conf_file = fname;
	srv->scratch = xmalloc(SERVER_SCRATCH);
	list_init(&srv->conns);
	list_init(&srv->dirty);
	list_init(&srv->resume);
	list_init(&srv->reap);
	list_init(&srv->drains);
	server_events_init(srv);
	server_store_init(srv);
	conn_poll_init(srv);
	return srv;
}

int
server_listen(struct server *srv)
{
	struct listener *l;

	for (size_t i = 0; i < srv->conf->nlisteners; i++) {
		l = listener_new(srv, &srv->conf->listeners[i]);
		if (l == NULL)
			return -1;
		srv->listeners[srv->nlisteners++] = l;
	}
	return 0;
}

void
server_kick(struct server *srv)
{
	event_active(&srv->kick, EV_TIMEOUT, 0);
}

void
server_shutdown(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	for (size_t i = 0; i < srv->nlisteners; i++)
		listener_stop(srv->listeners[i]);
	srv->broker->shutting_down = true;
	conn_close_all(srv, "server shutting down");
	/* Wake the loop even when there was nothing to close. */
	server_kick(srv);
}

bool
server_is_done(const struct server *srv)
{
	return srv->stopping && list_is_empty(&srv->conns);
}

void
server_end_turn(struct server *srv)
{
	struct store *st = srv->broker->store;

	conn_flush_dirty(srv);
	store_commit(st, clock_now_ms());
	if (!list_is_empty(&srv->dirty))
		conn_flush_dirty(srv);
}

void
server_free(struct server *srv)
{
	ASSERT(list_is_empty(&srv->conns));
	conn_drain_all(srv);
	for (size_t i = 0; i < srv->nlisteners; i++)
		listener_free(srv->listeners[i]);
	event_del(&srv->kick);
	event_del(&srv->tick);
	event_del(&srv->sigint);
	event_del(&srv->sigterm);
	event_del(&srv->store_done);
	event_del(&srv->store_sync);
	conn_poll_fini(srv);
	outq_cache_fini(&srv->outq_cache);
	event_base_free(srv->base);
	free(srv->scratch);
	free(srv);
}
