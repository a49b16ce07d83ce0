/*
 * util.h - assertions, aborting allocators and small helpers shared by
 * every layer.
 *
 * Owns nothing. Pure: libc only. ASSERT stays on in every build (bugs
 * abort with file:line); x*alloc abort on exhaustion because limits, not
 * malloc failures, bound our memory.
 */
#ifndef JUNCTION_UTIL_H
#define JUNCTION_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WUR __attribute__((warn_unused_result))
#define NORETURN __attribute__((noreturn))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))
#define UNUSED __attribute__((unused))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* container_of: from a pointer to a member back to its struct. */
#define CONTAINER_OF(p, type, member) \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

#define ASSERT(x) \
	do { \
		if (__builtin_expect(!(x), 0)) \
			util_assert_fail(#x, __FILE__, __LINE__); \
	} while (0)

/* Report a failed assertion on stderr and abort. */
NORETURN void util_assert_fail(const char *expr, const char *file, int line);

/* Allocators that never return NULL: they abort on exhaustion. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copy len bytes into a new NUL-terminated allocation. */
char *xstrndup(const char *s, size_t len);
void *xmemdup(const void *p, size_t len);

/* Big-endian wire helpers. */
static inline uint16_t
util_get_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void
util_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* FNV-1a, for the small hash tables in core/. */
static inline uint32_t
util_hash(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

#endif
