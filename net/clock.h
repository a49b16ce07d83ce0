/*
 * clock.h - the wall clock, in milliseconds, for the layers that may not
 * read it themselves.
 *
 * core/ takes time as a uint64_t now_ms parameter; it is wall-clock time
 * (CLOCK_REALTIME) rather than monotonic so that absolute expiry instants
 * kept by a durable store still mean the same thing after a restart.
 * Owns nothing.
 */
#ifndef JUNCTION_CLOCK_H
#define JUNCTION_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch. */
static inline uint64_t
clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
