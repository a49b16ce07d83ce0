/* log.c - see log.h. */
#include "net/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_DEFAULT_MASK \
	(CONFIG_LOG_ERROR | CONFIG_LOG_WARNING | CONFIG_LOG_NOTICE | \
	    CONFIG_LOG_INFORMATION)

/* A longer message is cut; one line must never need an allocation. */
#define LOG_LINE_MAX 2048

static struct {
	unsigned mask;
	FILE *out;	/* NULL = stderr (resolved late: stderr is not const) */
	FILE *file;	/* owned when log_dest is file */
	bool none;
} log_state = { .mask = LOG_DEFAULT_MASK };

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
	if (log_state.file != NULL)
		fclose(log_state.file);
	log_state.file = NULL;
	log_state.out = NULL;
	log_state.none = false;
	log_state.mask = LOG_DEFAULT_MASK;
}

int
log_configure(const struct config *c)
{
	FILE *f = NULL;

	if (c->log_dest == CONFIG_LOG_DEST_FILE) {
		f = fopen(c->log_file, "ae");
		if (f == NULL)
			return -1;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	log_close();
	log_state.mask = c->log_type;
	log_state.file = f;
	log_state.none = c->log_dest == CONFIG_LOG_DEST_NONE;
	if (c->log_dest == CONFIG_LOG_DEST_STDOUT)
		log_state.out = stdout;
	else if (f != NULL)
		log_state.out = f;
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
	n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ ",
	    ts.tv_nsec / 1000000);
	return n;
}

/* Format one whole line, then write it in one call so lines never mix. */
static void PRINTF(3, 0)
log_vline(enum log_level level, const char *prefix, const char *fmt,
    va_list ap)
{
	char line[LOG_LINE_MAX];
	FILE *out = log_state.out != NULL ? log_state.out : stderr;
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
	fwrite(line, 1, n, out);
	fflush(out);
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
log_conn(enum log_level level, uint64_t id, const char *proto,
    const char *peer, const char *fmt, ...)
{
	char prefix[128];
	va_list ap;

	if (!log_is_enabled(level))
		return;
	snprintf(prefix, sizeof(prefix), "c%llu %s %s: ",
	    (unsigned long long)id, proto, peer);
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
		log_state.out = stderr;
		log_state.mask |= CONFIG_LOG_ERROR;
	}
	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, "", fmt, ap);
	va_end(ap);
	exit(1);
}
