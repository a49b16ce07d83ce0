/*
 * jb_conn.c - jbench's sockets: buffers, the epoll loop and the
 * connector.
 *
 * Output is batched the way a client library under load batches it:
 * protocol code queues bytes (jb_conn_queue), the connection joins the
 * turn's flush list, and jb_conn_flush_all writes each connection once
 * per turn; EPOLLOUT is armed only while bytes are left over. Input is
 * read in JB_READ_CHUNK pieces, one read per readable socket per turn,
 * and handed whole to the protocol's input function.
 *
 * The connector opens jb->conns in order, non-blocking, with at most
 * o.max_pending handshakes (connect to CONNACK or SUBACK) outstanding
 * and, when conn_rate is set, paced to that many opens per second.
 * Idle connections bind 127.0.0.(2 + i % source_ips) first so that
 * tens of thousands of them do not exhaust one address's ports.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/jb.h"

#define JB_EVENTS 256

void
jb_buf_drop(struct jb_buf *b, size_t n)
{
	ASSERT(n <= b->len - b->off);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void
jb_buf_free(struct jb_buf *b)
{
	free(b->p);
	*b = (struct jb_buf){0};
}

/* Room for n more bytes after b->len; moves live bytes down first. */
static uint8_t *
jb_buf_room(struct jb_buf *b, size_t n)
{
	if (b->len + n > b->cap && b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		b->cap = MAX(b->cap * 2, b->len + n);
		b->p = xrealloc(b->p, b->cap);
	}
	return b->p + b->len;
}

const char *
jb_conn_name(const struct jb_conn *c)
{
	static const char *const roles[] = {
	    "publisher", "subscriber", "connection"};
	static char name[48];

	snprintf(name, sizeof(name), "%s %d", roles[c->role], c->idx);
	return name;
}

void
jb_conn_fail(const struct jb_conn *c, const char *what)
{
	jb_fail("%s: %s", jb_conn_name(c), what);
}

static NORETURN void
jb_conn_fail_errno(const struct jb_conn *c, const char *what, int err)
{
	jb_fail("%s: %s: %s", jb_conn_name(c), what, strerror(err));
}

void
jb_conn_init(struct jb *jb)
{
	struct addrinfo hints = {
	    .ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	int rc = getaddrinfo(jb->o.host, NULL, &hints, &ai);

	if (rc != 0)
		jb_fail("%s: %s", jb->o.host, gai_strerror(rc));
	memcpy(&jb->addr, ai->ai_addr, sizeof(jb->addr));
	jb->addr.sin_port = htons((uint16_t)jb->o.port);
	freeaddrinfo(ai);
	jb->ep = epoll_create1(EPOLL_CLOEXEC);
	if (jb->ep < 0)
		jb_fail("epoll_create1: %s", strerror(errno));
	jb->flush = xcalloc((size_t)jb->nconns, sizeof(*jb->flush));
}

static void
jb_conn_arm(struct jb *jb, struct jb_conn *c, bool out)
{
	struct epoll_event ev = {
	    .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	if (out == c->want_out)
		return;
	if (epoll_ctl(jb->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		jb_fail("epoll_ctl: %s", strerror(errno));
	c->want_out = out;
}

uint8_t *
jb_conn_queue(struct jb *jb, struct jb_conn *c, size_t n)
{
	uint8_t *p = jb_buf_room(&c->out, n);

	c->out.len += n;
	c->queued += n;
	if (!c->dirty) {
		c->dirty = true;
		jb->flush[jb->nflush++] = c;
	}
	return p;
}

/* One write of everything queued; EPOLLOUT stays armed for the rest. */
static void
jb_conn_flush(struct jb *jb, struct jb_conn *c)
{
	size_t n = c->out.len - c->out.off;
	ssize_t w;

	if (!c->tcp_up || c->fd < 0)
		return;
	w = n > 0 ? send(c->fd, c->out.p + c->out.off, n, MSG_NOSIGNAL) : 0;
	if (w < 0 && errno != EAGAIN && errno != EINTR)
		jb_conn_fail_errno(c, "write", errno);
	if (w > 0) {
		jb_buf_drop(&c->out, (size_t)w);
		c->written += (uint64_t)w;
	}
	jb_conn_arm(jb, c, c->out.len > c->out.off);
}

void
jb_conn_flush_all(struct jb *jb)
{
	for (int i = 0; i < jb->nflush; i++) {
		jb->flush[i]->dirty = false;
		jb_conn_flush(jb, jb->flush[i]);
	}
	jb->nflush = 0;
}

/* The first writable event: did connect() succeed? */
static void
jb_conn_established(struct jb_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0)
		jb_conn_fail_errno(c, "connect", err);
	c->tcp_up = true;
}

static void
jb_conn_read(struct jb *jb, struct jb_conn *c)
{
	ssize_t n =
	    read(c->fd, jb_buf_room(&c->in, JB_READ_CHUNK), JB_READ_CHUNK);

	if (n == 0)
		jb_conn_fail(c, "the broker closed the connection");
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		jb_conn_fail_errno(c, "read", errno);
	if (n <= 0)
		return;
	c->in.len += (size_t)n;
	jb->ops->input(jb, c);
}

static void
jb_conn_event(struct jb *jb, struct jb_conn *c, uint32_t events)
{
	if (!c->tcp_up && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		jb_conn_established(c);
	if (events & EPOLLOUT)
		jb_conn_flush(jb, c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		jb_conn_read(jb, c);
}

void
jb_conn_poll(struct jb *jb, int timeout_ms)
{
	struct epoll_event evs[JB_EVENTS];
	int n = epoll_wait(jb->ep, evs, JB_EVENTS, timeout_ms);

	if (n < 0 && errno != EINTR)
		jb_fail("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		jb_conn_event(jb, evs[i].data.ptr, evs[i].events);
}

static NORETURN void
jb_conn_fail_socket(const struct jb *jb, int err)
{
	if (err == EMFILE || err == ENFILE)
		jb_fail("socket: %s after %d connections (raise ulimit -n: "
		        "N connections need about N + 16 descriptors)",
		    strerror(err), jb->opened);
	jb_fail("socket: %s", strerror(err));
}

/* Idle mode: source address 127.0.0.(2 + i % K), port chosen at
 * connect() so ports are shared across destinations. */
static void
jb_conn_bind(const struct jb *jb, int fd, int i)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int one = 1;

	sa.sin_addr.s_addr =
	    htonl(0x7f000000u | (uint32_t)(2 + i % jb->o.source_ips));
	(void)setsockopt(
	    fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		jb_fail("bind %s: %s", inet_ntoa(sa.sin_addr), strerror(errno));
}

static void
jb_conn_open(struct jb *jb, struct jb_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		jb_conn_fail_socket(jb, errno);
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->role == JB_ROLE_IDLE)
		jb_conn_bind(jb, c->fd, c->idx);
	if (connect(c->fd, (struct sockaddr *)&jb->addr, sizeof(jb->addr)) !=
	        0 &&
	    errno != EINPROGRESS)
		jb_fail("connect to %s:%d: %s", jb->o.host, jb->o.port,
		    strerror(errno));
	if (epoll_ctl(jb->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		jb_fail("epoll_ctl: %s", strerror(errno));
	c->want_out = true;
	c->state = JB_CONNECTING;
	jb->ops->hello(jb, c);
}

static bool
jb_conn_pace_allows(const struct jb *jb, uint64_t now)
{
	double allowed;

	if (jb->conn_rate <= 0 || jb->opened == 0)
		return true;
	allowed = jb->conn_rate * (double)(now - jb->conn_t0) / 1e9 + 1;
	return (double)jb->opened < allowed;
}

void
jb_conn_connect_more(struct jb *jb)
{
	uint64_t now = jb_now_ns();

	while (jb->opened < jb->nconns && jb->pending < jb->o.max_pending &&
	    jb_conn_pace_allows(jb, now)) {
		if (jb->opened == 0)
			jb->conn_t0 = now;
		jb_conn_open(jb, jb->conns[jb->opened]);
		jb->opened++;
		jb->pending++;
		jb->progress_ns = now;
	}
}

void
jb_conn_check_setup(const struct jb *jb)
{
	if (jb_now_ns() - jb->progress_ns < (uint64_t)JB_SETUP_MS * 1000000)
		return;
	jb_fail("setup timed out: %d of %d connections ready after %d s "
	        "without progress",
	    jb->ready, jb->nconns, JB_SETUP_MS / 1000);
}

static void
jb_conn_ready(struct jb *jb, struct jb_conn *c)
{
	c->state = JB_READY;
	jb->pending--;
	jb->ready++;
	jb->progress_ns = jb_now_ns();
}

void
jb_conn_connected(struct jb *jb, struct jb_conn *c)
{
	if (c->state != JB_CONNECTING)
		jb_conn_fail(c, "unexpected CONNACK / CONNECTED");
	if (c->role != JB_ROLE_SUB) {
		jb_conn_ready(jb, c);
		return;
	}
	c->state = JB_SUBSCRIBING;
	jb->progress_ns = jb_now_ns();
	jb->ops->subscribe(jb, CONTAINER_OF(c, struct jb_sub, conn));
}

void
jb_conn_subscribed(struct jb *jb, struct jb_conn *c)
{
	if (c->state != JB_SUBSCRIBING)
		jb_conn_fail(c, "unexpected SUBACK / RECEIPT");
	jb_conn_ready(jb, c);
}

void
jb_conn_close(struct jb *jb, struct jb_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->tcp_up) {
		jb->ops->bye(jb, c);
		(void)send(c->fd, c->out.p + c->out.off,
		    c->out.len - c->out.off, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	close(c->fd);
	c->fd = -1;
	jb_buf_free(&c->in);
	jb_buf_free(&c->out);
}
