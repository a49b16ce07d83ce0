/*
 * log.h - the broker's log: one line per event, to stderr, stdout, a file
 * or nowhere, filtered by the config's log_type bits.
 *
 * Line format: "2026-11-22T07:00:00.123Z notice: message" (UTC, ms).
 * Connection lines carry a prefix naming the connection, its protocol
 * and its peer: "c42 mqtt 127.0.0.1:51234: closed: keep alive timeout".
 *
 * Owns the process-wide log destination (the one piece of global state
 * outside struct broker: logging is per process, not per loop). Until
 * log_configure() is called, the config defaults apply (error, warning,
 * notice and information to stderr). When stderr or stdout is a pipe,
 * lines are written without blocking: a reader that stops draining it
 * loses lines (counted, and reported once it drains) instead of
 * stalling the broker. Only net/ logs: pure code reports through return
 * values and the boundary logs once.
 */
#ifndef JUNCTION_LOG_H
#define JUNCTION_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/util.h"

/* Levels are the config's log_type bits, so filtering is one AND. */
enum log_level {
	LOG_LEVEL_ERROR = CONFIG_LOG_ERROR,
	LOG_LEVEL_WARN = CONFIG_LOG_WARNING,
	LOG_LEVEL_NOTICE = CONFIG_LOG_NOTICE,
	LOG_LEVEL_INFO = CONFIG_LOG_INFORMATION,
	LOG_LEVEL_DEBUG = CONFIG_LOG_DEBUG,
};

/*
 * Apply c's log_type, log_dest and log_file. Returns 0, or -1 with errno
 * set when the log file cannot be opened (the previous setting stays).
 */
int log_configure(const struct config *c) WUR;

/* Close the log file, if any, and go back to the defaults. */
void log_close(void);

/* Would a line at this level be written? Skip costly formatting if not. */
bool log_is_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) PRINTF(2, 3);
void log_error(const char *fmt, ...) PRINTF(1, 2);
void log_warn(const char *fmt, ...) PRINTF(1, 2);
void log_notice(const char *fmt, ...) PRINTF(1, 2);
void log_info(const char *fmt, ...) PRINTF(1, 2);
void log_debug(const char *fmt, ...) PRINTF(1, 2);

/*
 * A connection line: "c<id> <proto> <peer>: " then the message. proto and
 * peer are borrowed for the call.
 */
void log_conn(enum log_level level, uint64_t id, const char *proto,
    const char *peer, const char *fmt, ...) PRINTF(5, 6);

/* Log at error level, then exit(1). For startup failures only. */
NORETURN void fatal(const char *fmt, ...) PRINTF(1, 2);

#endif
