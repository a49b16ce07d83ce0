/* listener.c - see listener.h. */
#include "net/listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/clock.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/server.h"
#include "protocols/mqtt/mqtt_proto.h"
#include "protocols/stomp/stomp_proto.h"

/* Accepts per readable event, so a connection storm cannot starve I/O. */
#define LISTENER_ACCEPTS_PER_TURN 64
#define LISTENER_BACKLOG 1024
/* Pause after running out of descriptors; at most one warning this often. */
#define LISTENER_RETRY_MS 1000

/* Indexed by enum config_proto; NULL ops = not in this build. */
static const struct {
	const char *name;
	const struct proto_ops *ops;
} listener_protos[] = {
    [CONFIG_PROTO_MQTT] = {"mqtt", &mqtt_proto_ops},
    [CONFIG_PROTO_STOMP] = {"stomp", &stomp_proto_ops},
};

static const struct proto_ops *
listener_proto(enum config_proto p)
{
	if ((size_t)p >= ARRAY_LEN(listener_protos))
		return NULL;
	return listener_protos[p].ops;
}

static const char *
listener_proto_name(enum config_proto p)
{
	if ((size_t)p >= ARRAY_LEN(listener_protos))
		return "?";
	return listener_protos[p].name;
}

int
listener_check(
    const struct config *c, const char *fname, char *err, size_t errlen)
{
	const struct config_listener *cl;

	for (size_t i = 0; i < c->nlisteners; i++) {
		cl = &c->listeners[i];
		if (listener_proto(cl->protocol) != NULL)
			continue;
		snprintf(err, errlen,
		    "%s:%d: protocol %s is not available in this build", fname,
		    cl->line, listener_proto_name(cl->protocol));
		return -1;
	}
	return 0;
}

/* ---- accepting ---- */

/* Over max_connections: say so at most once a second, with a count. */
static void
listener_refuse(struct listener *l, int fd)
{
	uint64_t now = clock_now_ms();

	close(fd);
	l->refused++;
	if (now - l->warned_ms < LISTENER_RETRY_MS)
		return;
	log_warn("%s:%d: listener %s: max_connections %u reached; refused %u "
	         "connection(s)",
	    l->srv->conf_file, l->cl->line, l->name, l->cl->max_connections,
	    l->refused);
	l->warned_ms = now;
	l->refused = 0;
}

/* Out of descriptors: stop accepting for a while instead of spinning. */
static void
listener_backoff(struct listener *l, int err)
{
	struct timeval tv = {LISTENER_RETRY_MS / 1000, 0};

	log_error("listener %s: accept: %s; pausing accepts for %d ms", l->name,
	    strerror(err), LISTENER_RETRY_MS);
	event_del(&l->accept_ev);
	event_add(&l->retry_ev, &tv);
}

static void
listener_retry_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct listener *l = arg;

	if (l->fd >= 0)
		event_add(&l->accept_ev, NULL);
}

/* Returns false when accepting should stop for this turn. */
static bool
listener_accept_error(struct listener *l, int err)
{
	switch (err) {
	case EINTR:
	case ECONNABORTED:
		return true;
	case EAGAIN:
		return false;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		listener_backoff(l, err);
		return false;
	default:
		log_warn("listener %s: accept: %s", l->name, strerror(err));
		return false;
	}
}

static void
listener_accept_cb(evutil_socket_t lfd, short what UNUSED, void *arg)
{
	struct listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	for (int i = 0; i < LISTENER_ACCEPTS_PER_TURN; i++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (!listener_accept_error(l, errno))
				return;
			continue;
		}
		if (l->cl->max_connections &&
		    l->nconns >= l->cl->max_connections)
			listener_refuse(l, fd);
		else
			conn_accept(l, fd, (struct sockaddr *)&ss);
	}
}

/* ---- binding ---- */

/* Bind and listen on ai; returns the socket or -1 with errno set. */
static int
listener_bind(const struct addrinfo *ai)
{
	int fd, one = 1, err;

	fd = socket(
	    ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, LISTENER_BACKLOG) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Resolve cl's address ("" = 0.0.0.0) and listen; -1 after logging. */
static int
listener_open(const struct server *srv, const struct config_listener *cl)
{
	const char *host = cl->address[0] != '\0' ? cl->address : "0.0.0.0";
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	char port[8];
	int fd, rc;

	snprintf(port, sizeof(port), "%u", cl->port);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		log_error("%s:%d: cannot listen on %s:%s: %s", srv->conf_file,
		    cl->line, host, port, gai_strerror(rc));
		return -1;
	}
	fd = listener_bind(res);
	if (fd < 0)
		log_error("%s:%d: cannot listen on %s:%s: %s", srv->conf_file,
		    cl->line, host, port, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* The real bound address (port 0 means the kernel chose one). */
static void
listener_name(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_format((struct sockaddr *)&ss, l->name, sizeof(l->name));
	else
		snprintf(l->name, sizeof(l->name), "?");
}

struct listener *
listener_new(struct server *srv, const struct config_listener *cl)
{
	const struct proto_ops *ops = listener_proto(cl->protocol);
	struct listener *l;
	int fd;

	ASSERT(ops != NULL); /* listener_check() ran first */
	fd = listener_open(srv, cl);
	if (fd < 0)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->srv = srv;
	l->cl = cl;
	l->ops = ops;
	l->fd = fd;
	event_assign(&l->accept_ev, srv->base, fd, EV_READ | EV_PERSIST,
	    listener_accept_cb, l);
	evtimer_assign(&l->retry_ev, srv->base, listener_retry_cb, l);
	event_add(&l->accept_ev, NULL);
	listener_name(l);
	log_notice("listening on %s (%s)", l->name, ops->name);
	return l;
}

void
listener_stop(struct listener *l)
{
	if (l->fd < 0)
		return;
	event_del(&l->accept_ev);
	event_del(&l->retry_ev);
	close(l->fd);
	l->fd = -1;
}

void
listener_free(struct listener *l)
{
	ASSERT(l->nconns == 0);
	listener_stop(l);
	free(l);
}
