/*
 * store_mem.c - the in-memory storage backend.
 *
 * With persistence off, core's own structures are the only copy of the
 * state: the record wrappers in store.h never call in (durable is false),
 * so only the barrier and loop hooks are real. A barrier completes at
 * once: acknowledgements go out as soon as the broker holds the message.
 */
#include "core/store.h"

#include <stdlib.h>

static uint64_t
store_mem_gen(const struct store *st UNUSED)
{
	return 0;
}

static void
store_mem_barrier(struct store *st UNUSED, store_done_fn *fn, void *arg)
{
	fn(arg);
}

static void
store_mem_barrier_cancel(
    struct store *st UNUSED, store_done_fn *fn UNUSED, void *arg UNUSED)
{
}

static void
store_mem_commit(struct store *st UNUSED, uint64_t now_ms UNUSED)
{
}

static int
store_mem_fd(const struct store *st UNUSED)
{
	return -1;
}

static void
store_mem_poll(struct store *st UNUSED)
{
}

static void
store_mem_free(struct store *st)
{
	free(st);
}

/* Record ops stay NULL: store.h never calls them while !durable. */
static const struct store_ops store_mem_ops = {
    .name = "memory",
    .gen = store_mem_gen,
    .durable_gen = store_mem_gen,
    .barrier = store_mem_barrier,
    .barrier_cancel = store_mem_barrier_cancel,
    .commit = store_mem_commit,
    .fd = store_mem_fd,
    .poll = store_mem_poll,
    .free = store_mem_free,
};

struct store *
store_mem_new(void)
{
	struct store *st = xcalloc(1, sizeof(*st));

	st->ops = &store_mem_ops;
	st->durable = false;
	return st;
}
