/* conn.c - see conn.h. */
#include "net/conn.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/broker.h"
#include "core/proto.h"
#include "net/addr.h"
#include "net/clock.h"
#include "net/listener.h"
#include "net/log.h"
#include "net/outq.h"
#include "net/server.h"

#define CONN_MAGIC 0x636f6e6eU
/* Reads per readable event: bounds one busy peer's share of a turn. */
#define CONN_READS_PER_TURN 4
/* writev calls per flush; each sends up to 128 pieces (outq.c). */
#define CONN_WRITES_PER_FLUSH 8
/* An input remainder below this is kept in an allocation of its size. */
#define CONN_IN_MIN 256
/* Ready sockets taken from the connection epoll set per libevent wakeup. */
#define CONN_POLL_BATCH 256

enum conn_state {
	CONN_OPEN, /* reading and writing */
	CONN_CLOSING, /* not reading; flushing output, then reaped */
	CONN_DEAD, /* socket finished with; waiting on the reap list */
};

/* Input the adapter has not consumed yet; exists only while non-empty. */
struct conn_in {
	uint32_t len, cap;
	uint32_t need; /* adapter's hint: offer again at this length */
	uint8_t data[];
};

/*
 * Kept small on purpose: an idle connection is this struct and nothing
 * else (issue 6 budgets 500 bytes of RSS per idle connection, adapter
 * and session included). Sockets are not libevent events: they live in
 * one epoll set of the server's (srv->conn_epfd), which libevent watches
 * as a single fd, so a connection carries no 128-byte struct event and
 * no libevent fd-map entry. The interest set is recomputed by
 * conn_io_update() whenever state, pause or wblocked change (write
 * interest only while the socket is full, which is rare).
 */
struct conn {
	uint32_t magic;
	int fd;
	uint32_t id; /* "c42" in logs */
	unsigned state : 2;
	unsigned paused : 1; /* adapter asked us to stop reading */
	unsigned hiwat : 1; /* output passed CONN_HIWAT: drained owed */
	unsigned wblocked : 1; /* socket full: waiting to be writable */
	unsigned io : 2; /* CONN_IO_READ | CONN_IO_WRITE in the epoll set */
	unsigned drain : 1; /* we closed: linger on the socket (conn_drain) */
	unsigned lingered : 1; /* CLOSING through one tick already */
	struct listener *l; /* outlives its connections; l->srv */
	void *p; /* adapter state */
	const char *reason; /* why it closed; first one wins */
	struct list link; /* srv->conns */
	struct list dirty; /* srv->dirty */
	struct list defer; /* srv->resume or srv->reap */
	struct conn_in *in; /* NULL when empty */
	struct outq *out; /* NULL when empty */
	char peer[]; /* "ADDR:PORT" */
};

enum {
	CONN_IO_READ = 1,
	CONN_IO_WRITE = 2,
};

static const struct {
	int err;
	const char *reason;
} conn_errors[] = {
    {ECONNRESET, "connection reset by peer"},
    {EPIPE, "socket error: broken pipe"},
    {ETIMEDOUT, "socket error: connection timed out"},
    {EHOSTUNREACH, "socket error: no route to host"},
    {ENETUNREACH, "socket error: network is unreachable"},
    {ENOBUFS, "socket error: no buffer space available"},
};

static const struct proto_out conn_out;

/* A static reason for a socket errno (adapters keep the pointer). */
static const char *
conn_errno_reason(int err)
{
	for (size_t i = 0; i < ARRAY_LEN(conn_errors); i++)
		if (conn_errors[i].err == err)
			return conn_errors[i].reason;
	return "socket error";
}

static struct conn *
conn_from_io(void *io)
{
	struct conn *c = io;

	ASSERT(c->magic == CONN_MAGIC);
	return c;
}

static void
conn_log(const struct conn *c, enum log_level level, const char *msg,
    const char *detail)
{
	if (detail != NULL)
		log_conn(level, c->id, c->l->ops->name, c->peer, "%s: %s", msg,
		    detail);
	else
		log_conn(level, c->id, c->l->ops->name, c->peer, "%s", msg);
}

/*
 * Reading stops while the adapter paused us and while our own output is
 * above CONN_HIWAT: a peer that sends without reading (a PINGREQ flood,
 * pipelined requests) must not make us buffer answers without bound.
 */
static bool
conn_is_reading(const struct conn *c)
{
	return c->state == CONN_OPEN && !c->paused && !c->hiwat;
}

static size_t
conn_pending(const struct conn *c)
{
	return c->out != NULL ? outq_len(c->out) : 0;
}

/* Move every element of src onto dst (empty), leaving src empty. */
static void
conn_list_take(struct list *dst, struct list *src)
{
	list_init(dst);
	if (list_is_empty(src))
		return;
	dst->next = src->next;
	dst->prev = src->prev;
	dst->next->prev = dst;
	dst->prev->next = dst;
	list_init(src);
}

/* ---- the connection epoll set ---- */

/*
 * Put c's socket in the epoll set for what c wants now: reads while open
 * and not paused, writes while the socket is full. With no interest the
 * socket leaves the set (an fd in the set always reports hang-ups). A
 * closing connection that cannot write is given up by the once-a-second
 * tick (conn_linger_tick). Returns -1 when the kernel refuses an ADD
 * (max_user_watches, memory): accept then aborts the connection; MOD
 * and DEL on a socket in the set cannot fail.
 */
static int
conn_io_update(struct conn *c)
{
	unsigned want = 0;
	struct epoll_event ev = {.data.ptr = c};
	int op, rc;

	if (conn_is_reading(c))
		want |= CONN_IO_READ;
	if (c->wblocked)
		want |= CONN_IO_WRITE;
	if (want == c->io)
		return 0;
	ev.events = ((want & CONN_IO_READ) ? EPOLLIN : 0) |
	    ((want & CONN_IO_WRITE) ? EPOLLOUT : 0);
	op = c->io == 0 ? EPOLL_CTL_ADD
	    : want == 0 ? EPOLL_CTL_DEL
	                : EPOLL_CTL_MOD;
	rc = epoll_ctl(c->l->srv->conn_epfd, op, c->fd, &ev);
	if (rc != 0 && op == EPOLL_CTL_ADD) {
		/* Left out of the set: keep alive or the tick ends it. */
		conn_log(
		    c, LOG_LEVEL_WARN, "cannot watch socket", strerror(errno));
		return -1;
	}
	ASSERT(rc == 0);
	c->io = want;
	return 0;
}

/* ---- the close path ---- */

/* Queue c for proto->close and free, after the current callbacks. */
static void
conn_reap_later(struct conn *c)
{
	c->state = CONN_DEAD;
	conn_io_update(c);
	list_del(&c->dirty);
	list_del(&c->defer);
	list_add_tail(&c->l->srv->reap, &c->defer);
	server_kick(c->l->srv);
}

static void
conn_in_free(struct conn *c)
{
	free(c->in);
	c->in = NULL;
}

static void
conn_out_free(struct conn *c)
{
	if (c->out != NULL)
		outq_put(&c->l->srv->outq_cache, c->out);
	c->out = NULL;
}

/*
 * The socket is finished (peer gone, error, or linger over): drop the
 * output. Input stays until the reap: an adapter may be parsing it.
 */
static void
conn_abort(struct conn *c, const char *reason)
{
	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_OPEN)
		c->reason = reason;
	c->wblocked = 0;
	c->drain = 0; /* the peer is gone or not reading: nothing to wait for */
	conn_out_free(c);
	conn_reap_later(c);
}

/*
 * Once a second for a connection still closing: the first tick starts
 * its linger, the second ends it (its last words could not be written
 * in time), so a peer that stops reading is dropped after one to two
 * seconds without a timer per connection.
 */
static void
conn_linger_tick(struct conn *c)
{
	if (!c->lingered) {
		c->lingered = 1;
		return;
	}
	conn_log(c, LOG_LEVEL_DEBUG, "gave up flushing output", NULL);
	conn_abort(c, NULL);
}

static void
conn_mark_dirty(struct conn *c)
{
	if (!c->hiwat && conn_pending(c) > CONN_HIWAT) {
		c->hiwat = 1;
		conn_io_update(c); /* stop reading until drained */
	}
	if (!c->wblocked && !list_is_linked(&c->dirty))
		list_add_tail(&c->l->srv->dirty, &c->dirty);
}

/*
 * Reading may go on: input buffered while it could not is offered from
 * the kick, never inside the caller (which may be deep in another
 * connection's callback).
 */
static void
conn_resume_later(struct conn *c)
{
	if (c->in == NULL || !conn_is_reading(c))
		return;
	list_del(&c->defer);
	list_add_tail(&c->l->srv->resume, &c->defer);
	server_kick(c->l->srv);
}

void
conn_close(struct conn *c, const char *reason)
{
	ASSERT(c->magic == CONN_MAGIC);
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	c->reason = reason;
	c->drain = !c->l->srv->stopping;
	list_del(&c->defer);
	if (conn_pending(c) == 0) {
		conn_reap_later(c);
		return;
	}
	conn_io_update(c);
	conn_mark_dirty(c);
}

void
conn_close_all(struct server *srv, const char *reason)
{
	LIST_FOREACH(it, &srv->conns)
	conn_close(CONTAINER_OF(it, struct conn, link), reason);
}

/*
 * A socket we closed ourselves, kept just long enough for the peer to
 * read our last words: closing it with unread input would answer the
 * peer's next write with a reset, which can destroy the DISCONNECT or
 * ERROR frame in flight before the peer reads it. The write side is shut
 * down and input discarded until EOF or CONN_DRAIN_MS, whichever is
 * first. Owns fd; the connection itself is already gone.
 */
struct conn_drain {
	struct event ev;
	struct list link; /* in server.drains */
	int fd;
	uint64_t until;
};

static void
conn_drain_end(struct conn_drain *d)
{
	event_del(&d->ev);
	list_del(&d->link);
	close(d->fd);
	free(d);
}

/* Wait for more input, at most until d->until; false when time is up. */
static bool
conn_drain_arm(struct conn_drain *d)
{
	uint64_t now = clock_now_ms(), left;
	struct timeval tv;

	if (now >= d->until)
		return false;
	left = d->until - now;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	event_add(&d->ev, &tv);
	return true;
}

static void
conn_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_drain *d = arg;
	uint8_t buf[4096];
	ssize_t n = 0;

	if (what & EV_READ) {
		/* Bounded per wakeup: a peer streaming at us cannot hold the loop. */
		for (int i = 0; i < 16 && (n = read(fd, buf, sizeof(buf))) > 0;
		     i++)
			;
		if ((n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) &&
		    conn_drain_arm(d))
			return;
	}
	conn_drain_end(d); /* EOF, error or time up */
}

static void
conn_drain(struct server *srv, int fd)
{
	struct conn_drain *d;

	if (shutdown(fd, SHUT_WR) != 0) {
		close(fd);
		return;
	}
	d = xmalloc(sizeof(*d));
	d->fd = fd;
	d->until = clock_now_ms() + CONN_DRAIN_MS;
	list_add_tail(&srv->drains, &d->link);
	event_assign(&d->ev, srv->base, fd, EV_READ, conn_drain_cb, d);
	(void)conn_drain_arm(d);
}

void
conn_drain_all(struct server *srv)
{
	LIST_FOREACH_SAFE(it, tmp, &srv->drains)
	conn_drain_end(CONTAINER_OF(it, struct conn_drain, link));
}

static void
conn_free(struct conn *c)
{
	ASSERT(c->io == 0); /* conn_reap_later() disarmed it */
	if (c->drain && !c->l->srv->stopping)
		conn_drain(c->l->srv, c->fd);
	else
		close(c->fd);
	conn_out_free(c);
	conn_in_free(c);
	c->magic = 0;
	free(c);
}

/* Last stop: the adapter's close, exactly once, then free. */
static void
conn_reap(struct conn *c)
{
	struct broker *b = c->l->srv->broker;

	list_del(&c->defer);
	list_del(&c->link);
	conn_log(c, LOG_LEVEL_INFO, "closed", c->reason);
	c->l->ops->close(c->p, c->reason, clock_now_ms());
	c->l->nconns--;
	b->stats.connections_current--;
	conn_free(c);
}

/* ---- input ---- */

/*
 * Offer data to the adapter until it stops consuming, pauses or closes.
 * Returns the bytes consumed; *need is the hint for the rest.
 */
static size_t
conn_consume(struct conn *c, const uint8_t *data, size_t len, size_t *need)
{
	uint64_t now = clock_now_ms();
	size_t off = 0, n;

	*need = 0;
	while (off < len && conn_is_reading(c)) {
		n = c->l->ops->input(c->p, data + off, len - off, need, now);
		ASSERT(n <= len - off);
		if (n == 0)
			break;
		off += n;
	}
	return off;
}

/*
 * Append to the remainder. Growth is geometric (so a large frame that
 * trickles in costs O(n) copies), pre-sized to the frame when the need
 * hint is within one scratch read of what is held; never pre-sized
 * further, so a peer announcing a huge frame gets no memory for free.
 */
static void
conn_in_append(struct conn *c, const uint8_t *data, size_t len, size_t need)
{
	struct conn_in *in = c->in;
	size_t have = in != NULL ? in->len : 0;
	size_t cap = in != NULL ? in->cap : 0, want = have + len;

	ASSERT(want < UINT32_MAX);
	if (want > cap) {
		cap = MAX(want, cap * 2);
		cap = MAX(cap, MIN(need, want + SERVER_SCRATCH));
		cap = MAX(cap, CONN_IN_MIN);
		in = xrealloc(in, sizeof(*in) + cap);
		in->len = (uint32_t)have;
		in->cap = (uint32_t)cap;
		c->in = in;
	}
	memcpy(in->data + have, data, len);
	in->len = (uint32_t)want;
	in->need = (uint32_t)MIN(need, UINT32_MAX);
}

/* Drop used bytes from the front; an emptied remainder is freed. */
static void
conn_in_shift(struct conn *c, size_t used, size_t need)
{
	struct conn_in *in = c->in;

	if (used >= in->len) {
		conn_in_free(c);
		return;
	}
	in->len -= (uint32_t)used;
	in->need = (uint32_t)MIN(need, UINT32_MAX);
	memmove(in->data, in->data + used, in->len);
	if (in->cap > 4 * CONN_IN_MIN && in->len < in->cap / 4) {
		in->cap = MAX(in->len, CONN_IN_MIN);
		c->in = xrealloc(in, sizeof(*in) + in->cap);
	}
}

/* Offer the remainder, once it has reached the adapter's need. */
static void
conn_consume_buffered(struct conn *c)
{
	struct conn_in *in = c->in;
	size_t used, need;

	if (in == NULL || in->len < in->need || !conn_is_reading(c))
		return;
	used = conn_consume(c, in->data, in->len, &need);
	conn_in_shift(c, used, need);
}

static void
conn_feed(struct conn *c, const uint8_t *data, size_t len)
{
	size_t used, need;

	if (c->in != NULL) {
		conn_in_append(c, data, len, c->in->need);
		conn_consume_buffered(c);
		return;
	}
	used = conn_consume(c, data, len, &need);
	if (used < len && c->state == CONN_OPEN)
		conn_in_append(c, data + used, len - used, need);
}

static void
conn_read(struct conn *c)
{
	uint8_t *buf = c->l->srv->scratch;
	ssize_t n;

	for (int i = 0; i < CONN_READS_PER_TURN && conn_is_reading(c); i++) {
		n = read(c->fd, buf, SERVER_SCRATCH);
		if (n > 0) {
			conn_feed(c, buf, (size_t)n);
			if (n < SERVER_SCRATCH)
				return; /* drained; a level-triggered retry is free */
			continue;
		}
		if (n == 0)
			conn_abort(c, "connection reset by peer");
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_abort(c, conn_errno_reason(errno));
		return;
	}
}

/* ---- output ---- */

/* After a flush: free an empty buffer, wait for the socket, owe drained. */
static void
conn_after_flush(struct conn *c)
{
	size_t left = conn_pending(c);
	bool drained = c->hiwat && left < CONN_LOWAT && c->state == CONN_OPEN;

	if (drained)
		c->hiwat = 0; /* before the update below: read again */
	if (left > 0) {
		c->wblocked = 1;
		conn_io_update(c);
	} else {
		conn_out_free(c);
		if (c->state == CONN_CLOSING)
			conn_reap_later(c);
		else
			conn_io_update(c);
	}
	if (drained) {
		conn_resume_later(c);
		c->l->ops->drained(c->p, clock_now_ms());
	}
}

static void
conn_flush(struct conn *c)
{
	ssize_t n;

	c->wblocked = 0;
	for (int i = 0; i < CONN_WRITES_PER_FLUSH && conn_pending(c); i++) {
		n = outq_write(c->out, c->fd);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_abort(c, conn_errno_reason(errno));
			return;
		}
		break;
	}
	conn_after_flush(c);
}

void
conn_flush_dirty(struct server *srv)
{
	struct list batch;
	struct conn *c;

	/* Writes made by drained() go to the next batch, not this one. */
	conn_list_take(&batch, &srv->dirty);
	while ((c = LIST_FIRST(&batch, struct conn, dirty)) != NULL) {
		list_del(&c->dirty);
		if (c->state != CONN_DEAD)
			conn_flush(c);
	}
	if (!list_is_empty(&srv->dirty))
		server_kick(srv);
}

/* Writable first (it frees buffer space), then readable. */
static void
conn_on_ready(struct conn *c, uint32_t events)
{
	/* Errors and hang-ups surface through the read or write call. */
	uint32_t err = events & (EPOLLERR | EPOLLHUP);

	if (c->state == CONN_DEAD)
		return; /* reaped earlier in this batch; freed after it */
	if ((events & EPOLLOUT || err) && c->wblocked)
		conn_flush(c);
	if ((events & EPOLLIN || err) && conn_is_reading(c))
		conn_read(c);
}

/*
 * libevent found the epoll set readable: run one batch of ready sockets.
 * Level-triggered, so what is left over wakes the next loop turn. No
 * connection is freed inside the batch (frees wait for
 * conn_run_deferred), so every pointer in it stays valid.
 */
static void
conn_poll_cb(evutil_socket_t fd, short what UNUSED, void *arg UNUSED)
{
	struct epoll_event evs[CONN_POLL_BATCH];
	int n = epoll_wait(fd, evs, CONN_POLL_BATCH, 0);

	for (int i = 0; i < n; i++)
		conn_on_ready(evs[i].data.ptr, evs[i].events);
}

void
conn_poll_init(struct server *srv)
{
	srv->conn_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->conn_epfd < 0) {
		log_error("epoll_create1: %s", strerror(errno));
		exit(1);
	}
	event_assign(&srv->conn_poll, srv->base, srv->conn_epfd,
	    EV_READ | EV_PERSIST, conn_poll_cb, NULL);
	event_add(&srv->conn_poll, NULL);
}

void
conn_poll_fini(struct server *srv)
{
	event_del(&srv->conn_poll);
	close(srv->conn_epfd);
}

static struct outq *
conn_out_buf(struct conn *c)
{
	if (c->out == NULL)
		c->out = outq_get(&c->l->srv->outq_cache);
	return c->out;
}

static void
conn_out_write(void *io, const void *buf, size_t len)
{
	struct conn *c = conn_from_io(io);

	if (c->state == CONN_DEAD || len == 0)
		return;
	outq_add(conn_out_buf(c), buf, len);
	conn_mark_dirty(c);
}

static void
conn_out_write_msg(void *io, const void *hdr, size_t hlen, struct msg *m)
{
	struct conn *c = conn_from_io(io);
	struct outq *out;

	if (c->state == CONN_DEAD)
		return;
	out = conn_out_buf(c);
	outq_add(out, hdr, hlen);
	outq_add_msg(out, m);
	conn_mark_dirty(c);
}

static size_t
conn_out_pending(void *io)
{
	return conn_pending(conn_from_io(io));
}

/*
 * Resuming never feeds input inside the call (the caller may be deep in
 * another connection's callback): buffered input waits for the kick.
 */
static void
conn_out_pause(void *io, bool paused)
{
	struct conn *c = conn_from_io(io);

	if (c->state != CONN_OPEN || c->paused == paused)
		return;
	c->paused = paused;
	list_del(&c->defer);
	conn_io_update(c);
	if (!paused)
		conn_resume_later(c);
}

static void
conn_out_close(void *io, const char *reason)
{
	conn_close(conn_from_io(io), reason);
}

static const struct proto_out conn_out = {
    .write = conn_out_write,
    .write_msg = conn_out_write_msg,
    .pending = conn_out_pending,
    .pause = conn_out_pause,
    .close = conn_out_close,
};

/* ---- loop hooks ---- */

void
conn_run_deferred(struct server *srv)
{
	struct list batch;
	struct conn *c;

	conn_list_take(&batch, &srv->resume);
	while ((c = LIST_FIRST(&batch, struct conn, defer)) != NULL) {
		list_del(&c->defer);
		conn_consume_buffered(c);
	}
	/* A close may close others (takeover): loop until none is left. */
	while ((c = LIST_FIRST(&srv->reap, struct conn, defer)) != NULL)
		conn_reap(c);
}

void
conn_tick_all(struct server *srv, uint64_t now_ms)
{
	struct conn *c;

	/* Safe: nothing frees a connection outside conn_run_deferred. */
	LIST_FOREACH(it, &srv->conns)
	{
		c = CONTAINER_OF(it, struct conn, link);
		if (c->state == CONN_OPEN)
			c->l->ops->tick(c->p, now_ms);
		else if (c->state == CONN_CLOSING)
			conn_linger_tick(c);
	}
}

/* ---- accept ---- */

static struct conn *
conn_new(struct listener *l, int fd, const char *peer)
{
	struct server *srv = l->srv;
	size_t plen = strlen(peer) + 1;
	struct conn *c = xcalloc(1, sizeof(*c) + plen);

	c->magic = CONN_MAGIC;
	c->state = CONN_OPEN;
	c->fd = fd;
	c->l = l;
	c->id = (uint32_t)++srv->next_id;
	memcpy(c->peer, peer, plen);
	list_init(&c->dirty);
	list_init(&c->defer);
	list_add_tail(&srv->conns, &c->link);
	return c;
}

void
conn_accept(struct listener *l, int fd, const struct sockaddr *sa)
{
	struct broker *b = l->srv->broker;
	char peer[ADDR_TEXT_MAX];
	struct conn *c;
	int one = 1;

	/* Small frames (acks, pings) must not wait for Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_debug("TCP_NODELAY: %s", strerror(errno));
	c = conn_new(l, fd, addr_format(sa, peer, sizeof(peer)));
	l->nconns++;
	b->stats.connections_total++;
	b->stats.connections_current++;
	conn_log(c, LOG_LEVEL_DEBUG, "accepted", NULL);
	/* Arm reads first: open() may already pause or close. */
	if (conn_io_update(c) != 0)
		conn_abort(c, "cannot watch socket");
	c->p = l->ops->open(b, &conn_out, c, c->peer, clock_now_ms());
	ASSERT(c->p != NULL);
}
