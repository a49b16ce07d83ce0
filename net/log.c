/* log.c - see log.h. */
#include "net/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_DEFAULT_MASK \
	(CONFIG_LOG_ERROR | CONFIG_LOG_WARNING | CONFIG_LOG_NOTICE | \
	    CONFIG_LOG_INFORMATION)

/*
 * A longer message is cut; one line must never need an allocation, and
 * staying under PIPE_BUF makes each line one atomic pipe write.
 */
#define LOG_LINE_MAX 2048

static struct {
	unsigned mask;
	int fd;
	bool own_fd; /* fd was opened here: close it */
	bool none;
	uint64_t dropped; /* lines lost while the pipe was full */
} log_state = {.mask = LOG_DEFAULT_MASK, .fd = STDERR_FILENO};

static const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return "error";
	case LOG_LEVEL_WARN:
		return "warning";
	case LOG_LEVEL_NOTICE:
		return "notice";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		return "debug";
	}
	return "?";
}

void
log_close(void)
{
	if (log_state.own_fd)
		close(log_state.fd);
	log_state.fd = STDERR_FILENO;
	log_state.own_fd = false;
	log_state.none = false;
	log_state.mask = LOG_DEFAULT_MASK;
}

/*
 * A reader that stops draining our stderr pipe must not stall the
 * broker: write through a non-blocking descriptor of our own and count
 * what is dropped. The pipe is reopened rather than switched with
 * fcntl, because O_NONBLOCK on the inherited description would leak
 * into every other process sharing it. Terminals and files block.
 */
static int
log_open_stream(int fd, bool *own)
{
	char path[32];
	struct stat st;
	int nfd;

	*own = false;
	if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (nfd < 0)
		return fd;
	*own = true;
	return nfd;
}

static int
log_open_dest(const struct config *c, bool *own)
{
	*own = false;
	switch (c->log_dest) {
	case CONFIG_LOG_DEST_FILE:
		*own = true;
		return open(c->log_file,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	case CONFIG_LOG_DEST_STDOUT:
		return log_open_stream(STDOUT_FILENO, own);
	case CONFIG_LOG_DEST_NONE:
		return STDERR_FILENO;
	case CONFIG_LOG_DEST_STDERR:
		break;
	}
	return log_open_stream(STDERR_FILENO, own);
}

int
log_configure(const struct config *c)
{
	bool own;
	int fd = log_open_dest(c, &own);

	if (fd < 0)
		return -1;
	log_close();
	log_state.mask = c->log_type;
	log_state.fd = fd;
	log_state.own_fd = own;
	log_state.none = c->log_dest == CONFIG_LOG_DEST_NONE;
	return 0;
}

bool
log_is_enabled(enum log_level level)
{
	return !log_state.none && (log_state.mask & (unsigned)level) != 0;
}

/* "2026-11-22T07:00:00.123Z " into buf; returns its length. */
static size_t
log_stamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(
	    buf + n, cap - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	return n;
}

/* Returns false when the destination would block. */
static bool
log_write(const char *line, size_t n)
{
	return write(log_state.fd, line, n) >= 0 || errno != EAGAIN;
}

/* Before the next line, say how many were lost; false if still blocked. */
static bool
log_report_dropped(void)
{
	char line[128];
	size_t n = log_stamp(line, sizeof(line));

	n += (size_t)snprintf(line + n, sizeof(line) - n,
	    "warning: log output blocked: %llu line(s) dropped\n",
	    (unsigned long long)log_state.dropped);
	if (!log_write(line, MIN(n, sizeof(line) - 1)))
		return false;
	log_state.dropped = 0;
	return true;
}

/* Format one whole line, then write it in one call so lines never mix. */
static void PRINTF(3, 0) log_vline(
    enum log_level level, const char *prefix, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n;
	int r;

	n = log_stamp(line, sizeof(line));
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: %s",
	    log_level_name(level), prefix);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r < 0)
		r = 0;
	n = MIN(n + (size_t)r, sizeof(line) - 2);
	line[n++] = '\n';
	if (log_state.dropped > 0 && !log_report_dropped())
		log_state.dropped++;
	else if (!log_write(line, n))
		log_state.dropped++;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_is_enabled(level))
		return;
	va_start(ap, fmt);
	log_vline(level, "", fmt, ap);
	va_end(ap);
}

/* One entry point per level, so call sites stay printf-checked. */
#define LOG_DEFINE(fn, level) \
	void fn(const char *fmt, ...) \
	{ \
		va_list ap; \
\
		if (!log_is_enabled(level)) \
			return; \
		va_start(ap, fmt); \
		log_vline(level, "", fmt, ap); \
		va_end(ap); \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN)
LOG_DEFINE(log_notice, LOG_LEVEL_NOTICE)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)

void
log_conn(enum log_level level, uint64_t id, const char *proto, const char *peer,
    const char *fmt, ...)
{
	char prefix[128];
	va_list ap;

	if (!log_is_enabled(level))
		return;
	snprintf(prefix, sizeof(prefix),
	    "c%llu %s %s: ", (unsigned long long)id, proto, peer);
	va_start(ap, fmt);
	log_vline(level, prefix, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	/* A fatal error is never silent: with error lines off, use stderr. */
	if (!log_is_enabled(LOG_LEVEL_ERROR)) {
		log_state.none = false;
		log_state.fd = STDERR_FILENO;
		log_state.mask |= CONFIG_LOG_ERROR;
	}
	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, "", fmt, ap);
	va_end(ap);
	exit(1);
}
