/*
 * store_mem.c - the in-memory storage backend.
 *
 * With persistence off, core's own structures are the only copy of the
 * state, so every record operation is a no-op and a barrier completes at
 * once: acknowledgements go out as soon as the broker holds the message.
 */
#include "core/store.h"

#include <stdlib.h>

static void
store_mem_session_put(
    struct store *st UNUSED, const char *id UNUSED, uint32_t expiry_s UNUSED)
{
}

static void
store_mem_key(struct store *st UNUSED, const char *key UNUSED)
{
}

static void
store_mem_sub_put(struct store *st UNUSED, const char *id UNUSED,
    const char *filter UNUSED, const char *group UNUSED,
    const struct sub_opts *opts UNUSED)
{
}

static void
store_mem_sub_del(struct store *st UNUSED, const char *id UNUSED,
    const char *filter UNUSED, const char *group UNUSED)
{
}

static void
store_mem_retain_put(struct store *st UNUSED, struct msg *m UNUSED)
{
}

static void
store_mem_delivery_put(struct store *st UNUSED, const char *id UNUSED,
    struct msg *m UNUSED, uint16_t pkt_id UNUSED, uint8_t qos UNUSED,
    uint8_t state UNUSED)
{
}

static void
store_mem_delivery_del(
    struct store *st UNUSED, const char *id UNUSED, struct msg *m UNUSED)
{
}

static void
store_mem_inq2(
    struct store *st UNUSED, const char *id UNUSED, uint16_t pkt_id UNUSED)
{
}

static void
store_mem_barrier(struct store *st UNUSED, store_done_fn *fn, void *arg)
{
	fn(arg);
}

static void
store_mem_commit(struct store *st UNUSED, uint64_t now_ms UNUSED)
{
}

static void
store_mem_free(struct store *st)
{
	free(st);
}

static const struct store_ops store_mem_ops = {
    .name = "memory",
    .session_put = store_mem_session_put,
    .session_del = store_mem_key,
    .sub_put = store_mem_sub_put,
    .sub_del = store_mem_sub_del,
    .retain_put = store_mem_retain_put,
    .retain_del = store_mem_key,
    .delivery_put = store_mem_delivery_put,
    .delivery_del = store_mem_delivery_del,
    .inq2_put = store_mem_inq2,
    .inq2_del = store_mem_inq2,
    .barrier = store_mem_barrier,
    .commit = store_mem_commit,
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
