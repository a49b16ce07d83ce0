/*
 * store_disk.c - the durable storage backend: broker records encoded
 * into journal records (store_journal.h), replayed at startup, and
 * compacted by rewriting the journal from the broker's live state.
 *
 * Record payloads are a key followed by a value, fields little-endian:
 * u8/u16/u32/u64, and s = u32 length + bytes. A put carries key and
 * value, a delete the key alone, so replay is one rule for every kind: a
 * put replaces whatever the key held, a delete of a missing key does
 * nothing. That makes replay idempotent, which it must be: records
 * appended during a rewrite are replayed on top of a snapshot that
 * already reflects them.
 *
 *   type          key                       value
 *   SESSION       s client                  u32 expiry_s, u64 expire_at_ms
 *   SUB           s client, s filter, s group ("" = plain)
 *                                           u8 qos, u8 flags, u8 rh, u32 sub_id
 *   MSG           u64 msg id                message fields (sd_put_msg)
 *   RETAIN        s topic                   u64 msg id
 *   DELIVERY      u64 delivery id           s client, u64 msg id, u16 pkt,
 *                                           u8 qos, u8 state, u8 retain,
 *                                           u16 attempts, s share filter,
 *                                           s share group, u8 n, u32 ids[n]
 *   INQ2          s client, u16 pkt id      -
 *   ENTRY         u64 entry id              s queue, u64 msg id, u16 attempts
 *
 * Replay stages raw payloads in one hash map per kind (key -> latest
 * put); store_disk_load decodes them into the broker once the whole
 * journal is read, so order between kinds never matters and records of
 * a deleted session are simply orphans that are skipped.
 *
 * Message bodies: a record naming a message takes a store reference
 * (msg.store_refs); the first writes the MSG record (assigning msg.id),
 * the last one's delete writes the MSG delete.
 *
 * Group commit: store_commit hands the turn's records to the journal's
 * helper thread; store_poll (the journal's eventfd fired) collects the
 * result and runs the barriers whose generation became durable.
 *
 * I/O code like store_journal.c: it reads CLOCK_MONOTONIC for the load
 * report. It never logs: net/main.c reports what load returned.
 */
#include "core/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/broker.h"
#include "core/queue.h"
#include "core/session.h"

/* Journal record types; never renumber (they are on disk). */
enum sd_type {
	SD_SESSION_PUT = 1,
	SD_SESSION_DEL,
	SD_SUB_PUT,
	SD_SUB_DEL,
	SD_MSG_PUT,
	SD_MSG_DEL,
	SD_RETAIN_PUT,
	SD_RETAIN_DEL,
	SD_DELIVERY_PUT,
	SD_DELIVERY_DEL,
	SD_INQ2_PUT,
	SD_INQ2_DEL,
	SD_ENTRY_PUT,
	SD_ENTRY_DEL,
	SD_TYPE_END,
};

/* Staging namespaces, one per record kind (put = 2k+1, del = 2k+2). */
enum sd_ns {
	SD_NS_SESSION = 0,
	SD_NS_SUB,
	SD_NS_MSG,
	SD_NS_RETAIN,
	SD_NS_DELIVERY,
	SD_NS_INQ2,
	SD_NS_ENTRY,
	SD_NS_COUNT,
};

/* Key fields of each namespace: 's' string, '8' u64, '2' u16. */
static const char *const sd_key_schema[SD_NS_COUNT] = {
    [SD_NS_SESSION] = "s",
    [SD_NS_SUB] = "sss",
    [SD_NS_MSG] = "8",
    [SD_NS_RETAIN] = "s",
    [SD_NS_DELIVERY] = "8",
    [SD_NS_INQ2] = "s2",
    [SD_NS_ENTRY] = "8",
};

/* Compaction when the file passes max(this, 2x the last live size). */
#define SD_COMPACT_MIN (64ull * 1024 * 1024)
#define SD_MAP_MIN 64

/* ---- a small hash map: byte-string key -> heap payload ---- */

struct sd_item {
	struct sd_item *next;
	uint32_t hash;
	size_t klen; /* key = first klen bytes of data */
	size_t len;
	uint8_t data[];
};

struct sd_map {
	struct sd_item **slot;
	size_t size, n; /* size is a power of two */
};

static struct sd_item **
sd_map_find(struct sd_map *mp, const uint8_t *key, size_t klen, uint32_t h)
{
	struct sd_item **pp = &mp->slot[h & (mp->size - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->hash == h && (*pp)->klen == klen &&
		    memcmp((*pp)->data, key, klen) == 0)
			return pp;
	}
	return pp;
}

static void
sd_map_grow(struct sd_map *mp)
{
	struct sd_item **old = mp->slot;
	size_t n = mp->size;

	mp->size = n ? n * 2 : SD_MAP_MIN;
	mp->slot = xcalloc(mp->size, sizeof(*mp->slot));
	for (size_t i = 0; i < n; i++) {
		for (struct sd_item *it = old[i], *next; it; it = next) {
			struct sd_item **slot =
			    &mp->slot[it->hash & (mp->size - 1)];

			next = it->next;
			it->next = *slot;
			*slot = it;
		}
	}
	free(old);
}

/* Replace (or add) the item whose key is the first klen bytes of p. */
static void
sd_map_put(struct sd_map *mp, const uint8_t *p, size_t len, size_t klen)
{
	uint32_t h = util_hash(p, klen);
	struct sd_item **pp, *it;

	if (mp->n >= mp->size)
		sd_map_grow(mp);
	pp = sd_map_find(mp, p, klen, h);
	it = xmalloc(sizeof(*it) + len);
	it->hash = h;
	it->klen = klen;
	it->len = len;
	memcpy(it->data, p, len);
	if (*pp) {
		it->next = (*pp)->next;
		free(*pp);
	} else {
		it->next = NULL;
		mp->n++;
	}
	*pp = it;
}

static void
sd_map_del(struct sd_map *mp, const uint8_t *key, size_t klen)
{
	struct sd_item **pp, *it;

	if (mp->size == 0)
		return;
	pp = sd_map_find(mp, key, klen, util_hash(key, klen));
	if ((it = *pp) == NULL)
		return;
	*pp = it->next;
	free(it);
	mp->n--;
}

static void
sd_map_free(struct sd_map *mp)
{
	for (size_t i = 0; i < mp->size; i++) {
		for (struct sd_item *it = mp->slot[i], *next; it; it = next) {
			next = it->next;
			free(it);
		}
	}
	free(mp->slot);
	memset(mp, 0, sizeof(*mp));
}

/* ---- encoding ---- */

struct sd_buf {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *
sd_room(struct sd_buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = MAX(b->cap * 2, b->len + n + 256);
		b->p = xrealloc(b->p, b->cap);
	}
	b->len += n;
	return b->p + b->len - n;
}

static void
sd_put_le(struct sd_buf *b, uint64_t v, size_t n)
{
	uint8_t *p = sd_room(b, n);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
sd_put_u8(struct sd_buf *b, uint8_t v)
{
	sd_put_le(b, v, 1);
}

static void
sd_put_u16(struct sd_buf *b, uint16_t v)
{
	sd_put_le(b, v, 2);
}

static void
sd_put_u32(struct sd_buf *b, uint32_t v)
{
	sd_put_le(b, v, 4);
}

static void
sd_put_u64(struct sd_buf *b, uint64_t v)
{
	sd_put_le(b, v, 8);
}

static void
sd_put_bin(struct sd_buf *b, const void *p, size_t len)
{
	sd_put_u32(b, (uint32_t)len);
	if (len)
		memcpy(sd_room(b, len), p, len);
}

static void
sd_put_str(struct sd_buf *b, const char *s)
{
	sd_put_bin(b, s, s ? strlen(s) : 0);
}

/* A sticky-error read cursor: reads past the end set bad and yield 0. */
struct sd_rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *
sd_take(struct sd_rd *r, size_t n)
{
	const uint8_t *p = r->p + r->off;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return p;
}

static uint64_t
sd_get_le(struct sd_rd *r, size_t n)
{
	const uint8_t *p = sd_take(r, n);
	uint64_t v = 0;

	for (size_t i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t
sd_get_u8(struct sd_rd *r)
{
	return (uint8_t)sd_get_le(r, 1);
}

static uint16_t
sd_get_u16(struct sd_rd *r)
{
	return (uint16_t)sd_get_le(r, 2);
}

static uint32_t
sd_get_u32(struct sd_rd *r)
{
	return (uint32_t)sd_get_le(r, 4);
}

static uint64_t
sd_get_u64(struct sd_rd *r)
{
	return sd_get_le(r, 8);
}

/* A length-prefixed field, borrowed from the record. */
static const uint8_t *
sd_get_bin(struct sd_rd *r, size_t *len)
{
	*len = sd_get_u32(r);
	return sd_take(r, *len);
}

/* Length of the key at the front of a record of namespace ns; 0 = bad. */
static size_t
sd_key_len(enum sd_ns ns, const uint8_t *p, size_t len)
{
	struct sd_rd r = {p, len, 0, false};
	size_t n;

	for (const char *k = sd_key_schema[ns]; *k; k++) {
		if (*k == 's')
			(void)sd_get_bin(&r, &n);
		else
			(void)sd_take(&r, *k == '8' ? 8 : 2);
	}
	return r.bad ? 0 : r.off;
}

/* ---- the store ---- */

struct sd_barrier {
	struct list link;
	uint64_t gen;
	store_done_fn *fn;
	void *arg;
};

struct store_disk {
	struct store st; /* first: the ops table's view */
	struct store_journal *j;
	struct broker *b; /* set by load */
	struct sd_buf buf; /* the record being encoded */
	struct sd_map stage[SD_NS_COUNT]; /* replay staging, until load */
	struct list barriers; /* struct sd_barrier, by gen */
	uint64_t skipped; /* replay: undecodable records */
	uint64_t live_bytes; /* journal size after the last rewrite */
	uint32_t mark; /* compaction pass, for msg.store_mark */
	bool loading; /* rebuilding the broker: record ops are no-ops */
	bool rewriting; /* records go into the rewrite */
	bool compact_wanted; /* a delete was refused at the disk cap */
};

static struct store_disk *
sd_of(struct store *st)
{
	return (struct store_disk *)st;
}

static const struct store_disk *
sd_const(const struct store *st)
{
	return (const struct store_disk *)st;
}

/* Start encoding a record. */
static struct sd_buf *
sd_begin(struct store_disk *sd)
{
	sd->buf.len = 0;
	return &sd->buf;
}

/*
 * Append the encoded record. A refusal (disk cap, failed journal) is
 * counted in st.refused so the adapter never acknowledges what it
 * covered; a refused delete asks for a compaction, which rewrites from
 * live state and so makes the delete good.
 */
static void
sd_emit(struct store_disk *sd, enum sd_type type)
{
	int rc;

	if (sd->rewriting)
		rc = store_journal_rewrite_append(
		    sd->j, (uint8_t)type, sd->buf.p, sd->buf.len);
	else
		rc = store_journal_append(
		    sd->j, (uint8_t)type, sd->buf.p, sd->buf.len);
	if (rc == 0)
		return;
	sd->st.refused++;
	if (errno == ENOSPC && type % 2 == 0)
		sd->compact_wanted = true;
}

/* ---- records ---- */

static void
sd_enc_msg(struct sd_buf *b, const struct msg *m)
{
	sd_put_u64(b, m->id);
	sd_put_u64(b, m->expiry_at_ms);
	sd_put_u8(b, m->qos);
	sd_put_u8(b,
	    (uint8_t)(m->retain | m->has_payload_format << 1 |
	        (m->content_type != NULL) << 2 |
	        (m->response_topic != NULL) << 3 |
	        (m->correlation != NULL) << 4));
	sd_put_u8(b, m->payload_format);
	sd_put_u16(b, m->user_count);
	sd_put_bin(b, m->topic, m->topic_len);
	sd_put_bin(b, m->payload, m->payload_len);
	sd_put_bin(b, m->content_type, m->content_type_len);
	sd_put_bin(b, m->response_topic, m->response_topic_len);
	sd_put_bin(b, m->correlation, m->correlation_len);
	sd_put_bin(b, m->user, m->user_len);
}

static void
sd_put_msg(struct store_disk *sd, struct msg *m)
{
	sd_enc_msg(sd_begin(sd), m);
	sd_emit(sd, SD_MSG_PUT);
}

/* A record is about to name m: the first reference writes its body. */
static void
sd_msg_ref(struct store_disk *sd, struct msg *m)
{
	if (m->store_refs++ > 0)
		return;
	if (m->id == 0)
		m->id = ++sd->st.next_id;
	sd_put_msg(sd, m);
}

static void
sd_msg_unref(struct store_disk *sd, struct msg *m)
{
	ASSERT(m->store_refs > 0);
	if (--m->store_refs > 0)
		return;
	sd_put_u64(sd_begin(sd), m->id);
	sd_emit(sd, SD_MSG_DEL);
}

static void
sd_enc_session(struct sd_buf *b, const struct session *s)
{
	sd_put_bin(b, s->client_id, s->client_id_len);
	sd_put_u32(b, s->expiry_s);
	sd_put_u64(b, session_is_online(s) ? 0 : s->expire_at_ms);
}

static void
sd_session_put(struct store *st, const struct session *s)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_enc_session(sd_begin(sd), s);
	sd_emit(sd, SD_SESSION_PUT);
}

static void
sd_session_del(struct store *st, const struct session *s)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_put_bin(sd_begin(sd), s->client_id, s->client_id_len);
	sd_emit(sd, SD_SESSION_DEL);
}

static void
sd_enc_sub_key(
    struct sd_buf *b, const struct session *s, const struct session_sub *sub)
{
	sd_put_bin(b, s->client_id, s->client_id_len);
	sd_put_str(b, sub->filter);
	sd_put_str(b, sub->group);
}

static void
sd_enc_sub(
    struct sd_buf *b, const struct session *s, const struct session_sub *sub)
{
	const struct sub_opts *o = &sub->opts;

	sd_enc_sub_key(b, s, sub);
	sd_put_u8(b, o->qos);
	sd_put_u8(b, (uint8_t)(o->no_local | o->retain_as_published << 1));
	sd_put_u8(b, o->retain_handling);
	sd_put_u32(b, o->sub_id);
}

static void
sd_sub_put(
    struct store *st, const struct session *s, const struct session_sub *sub)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_enc_sub(sd_begin(sd), s, sub);
	sd_emit(sd, SD_SUB_PUT);
}

static void
sd_sub_del(
    struct store *st, const struct session *s, const struct session_sub *sub)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_enc_sub_key(sd_begin(sd), s, sub);
	sd_emit(sd, SD_SUB_DEL);
}

static void
sd_enc_retain(struct sd_buf *b, const struct msg *m)
{
	sd_put_bin(b, m->topic, m->topic_len);
	sd_put_u64(b, m->id);
}

static void
sd_retain_put(struct store *st, struct msg *m, struct msg *old)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_msg_ref(sd, m);
	sd_enc_retain(sd_begin(sd), m);
	sd_emit(sd, SD_RETAIN_PUT);
	if (old && old->store_refs)
		sd_msg_unref(sd, old);
}

static void
sd_retain_del(struct store *st, struct msg *old)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_put_bin(sd_begin(sd), old->topic, old->topic_len);
	sd_emit(sd, SD_RETAIN_DEL);
	if (old->store_refs)
		sd_msg_unref(sd, old);
}

static void
sd_enc_delivery(
    struct sd_buf *b, const struct session *s, const struct delivery *d)
{
	sd_put_u64(b, d->store_id);
	sd_put_bin(b, s->client_id, s->client_id_len);
	sd_put_u64(b, d->m->id);
	sd_put_u16(b, d->pkt_id);
	sd_put_u8(b, d->qos);
	sd_put_u8(b, d->state);
	sd_put_u8(b, d->retain);
	sd_put_u16(b, d->attempts);
	sd_put_str(b, d->share ? d->share->filter : NULL);
	sd_put_str(b, d->share ? d->share->group : NULL);
	sd_put_u8(b, d->nsub_ids);
	for (unsigned i = 0; i < d->nsub_ids; i++)
		sd_put_u32(b, d->sub_ids[i]);
}

static void
sd_delivery_put(struct store *st, const struct session *s, struct delivery *d)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	if (d->store_id == 0) {
		d->store_id = ++st->next_id;
		sd_msg_ref(sd, d->m);
	}
	sd_enc_delivery(sd_begin(sd), s, d);
	sd_emit(sd, SD_DELIVERY_PUT);
}

static void
sd_delivery_del(struct store *st, struct delivery *d)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_put_u64(sd_begin(sd), d->store_id);
	sd_emit(sd, SD_DELIVERY_DEL);
	d->store_id = 0;
	sd_msg_unref(sd, d->m);
}

static void
sd_enc_inq2(struct sd_buf *b, const struct session *s, uint16_t pkt_id)
{
	sd_put_bin(b, s->client_id, s->client_id_len);
	sd_put_u16(b, pkt_id);
}

static void
sd_inq2_put(struct store *st, const struct session *s, uint16_t pkt_id)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_enc_inq2(sd_begin(sd), s, pkt_id);
	sd_emit(sd, SD_INQ2_PUT);
}

static void
sd_inq2_del(struct store *st, const struct session *s, uint16_t pkt_id)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_enc_inq2(sd_begin(sd), s, pkt_id);
	sd_emit(sd, SD_INQ2_DEL);
}

static void
sd_enc_entry(struct sd_buf *b, const char *queue, size_t qlen, uint64_t id,
    const struct msg *m, uint16_t attempts)
{
	sd_put_u64(b, id);
	sd_put_bin(b, queue, qlen);
	sd_put_u64(b, m->id);
	sd_put_u16(b, attempts);
}

static void
sd_entry_put(struct store *st, const char *queue, size_t qlen, uint64_t id,
    struct msg *m, uint16_t attempts, bool first)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	if (first)
		sd_msg_ref(sd, m);
	sd_enc_entry(sd_begin(sd), queue, qlen, id, m, attempts);
	sd_emit(sd, SD_ENTRY_PUT);
}

static void
sd_entry_del(struct store *st, uint64_t id, struct msg *m)
{
	struct store_disk *sd = sd_of(st);

	if (sd->loading)
		return;
	sd_put_u64(sd_begin(sd), id);
	sd_emit(sd, SD_ENTRY_DEL);
	sd_msg_unref(sd, m);
}

/* ---- barriers and the loop ---- */

static uint64_t
sd_gen(const struct store *st)
{
	return store_journal_append_gen(sd_const(st)->j);
}

static uint64_t
sd_durable_gen(const struct store *st)
{
	return store_journal_durable_gen(sd_const(st)->j);
}

static void
sd_barrier(struct store *st, store_done_fn *fn, void *arg)
{
	struct store_disk *sd = sd_of(st);
	uint64_t gen = sd_gen(st);
	struct sd_barrier *w;

	if (gen <= sd_durable_gen(st) && list_is_empty(&sd->barriers)) {
		fn(arg);
		return;
	}
	w = xmalloc(sizeof(*w));
	w->gen = gen;
	w->fn = fn;
	w->arg = arg;
	list_add_tail(&sd->barriers, &w->link);
}

static void
sd_barrier_cancel(struct store *st, store_done_fn *fn, void *arg)
{
	struct store_disk *sd = sd_of(st);

	LIST_FOREACH_SAFE(it, tmp, &sd->barriers)
	{
		struct sd_barrier *w =
		    CONTAINER_OF(it, struct sd_barrier, link);

		if (w->fn == fn && w->arg == arg) {
			list_del(&w->link);
			free(w);
		}
	}
}

/* Run, in order, every barrier at or below durable. */
static void
sd_fire(struct store_disk *sd, uint64_t durable)
{
	struct sd_barrier *w;

	while ((w = LIST_FIRST(&sd->barriers, struct sd_barrier, link)) &&
	    w->gen <= durable) {
		list_del(&w->link);
		w->fn(w->arg); /* may register or cancel others */
		free(w);
	}
}

static void
sd_poll(struct store *st)
{
	struct store_disk *sd = sd_of(st);

	sd_fire(sd, store_journal_poll(sd->j));
}

static int
sd_fd(const struct store *st)
{
	return store_journal_fd(sd_const(st)->j);
}

static bool
sd_compact_due(const struct store_disk *sd)
{
	uint64_t size = store_journal_file_bytes(sd->j);

	if (sd->b == NULL)
		return false;
	return sd->compact_wanted ||
	    size > MAX(SD_COMPACT_MIN, 2 * sd->live_bytes);
}

static void
sd_commit(struct store *st, uint64_t now_ms UNUSED)
{
	struct store_disk *sd = sd_of(st);

	if (sd_compact_due(sd) && store_disk_compact(st) == 0)
		sd_fire(sd, sd_durable_gen(st));
	/* A failed journal stays failed: durable_gen stops, acks stay held,
	 * appends are refused (counted) and publishers are refused. */
	(void)!store_journal_commit_async(sd->j);
}

static void
sd_free(struct store *st)
{
	struct store_disk *sd = sd_of(st);

	/* Closing syncs everything: what waited is durable now. */
	if (store_journal_close(sd->j) == 0)
		sd_fire(sd, UINT64_MAX);
	LIST_FOREACH_SAFE(it, tmp, &sd->barriers)
	free(CONTAINER_OF(it, struct sd_barrier, link));
	for (size_t i = 0; i < SD_NS_COUNT; i++)
		sd_map_free(&sd->stage[i]);
	free(sd->buf.p);
	free(sd);
}

static const struct store_ops sd_ops = {
    .name = "disk",
    .session_put = sd_session_put,
    .session_del = sd_session_del,
    .sub_put = sd_sub_put,
    .sub_del = sd_sub_del,
    .retain_put = sd_retain_put,
    .retain_del = sd_retain_del,
    .delivery_put = sd_delivery_put,
    .delivery_del = sd_delivery_del,
    .inq2_put = sd_inq2_put,
    .inq2_del = sd_inq2_del,
    .entry_put = sd_entry_put,
    .entry_del = sd_entry_del,
    .gen = sd_gen,
    .durable_gen = sd_durable_gen,
    .barrier = sd_barrier,
    .barrier_cancel = sd_barrier_cancel,
    .commit = sd_commit,
    .fd = sd_fd,
    .poll = sd_poll,
    .free = sd_free,
};

/* ---- replay: stage each record under its key ---- */

static int
sd_replay(void *arg, uint8_t type, const uint8_t *p, size_t len)
{
	struct store_disk *sd = arg;
	enum sd_ns ns = (enum sd_ns)((type - 1) / 2);
	size_t klen;

	if (type == 0 || type >= SD_TYPE_END) {
		sd->skipped++; /* a newer record kind: not ours to load */
		return 0;
	}
	klen = sd_key_len(ns, p, len);
	if (klen == 0) {
		sd->skipped++;
		return 0;
	}
	if (type % 2 == 1)
		sd_map_put(&sd->stage[ns], p, len, klen);
	else
		sd_map_del(&sd->stage[ns], p, klen);
	return 0;
}

struct store *
store_disk_open(const struct store_journal_opts *o,
    struct store_disk_report *rep, char *err, size_t errlen)
{
	struct store_disk *sd = xcalloc(1, sizeof(*sd));

	memset(rep, 0, sizeof(*rep));
	sd->st.ops = &sd_ops;
	sd->st.durable = true;
	list_init(&sd->barriers);
	if (store_journal_open(
	        &sd->j, o, sd_replay, sd, &rep->journal, err, errlen) != 0) {
		for (size_t i = 0; i < SD_NS_COUNT; i++)
			sd_map_free(&sd->stage[i]);
		free(sd);
		return NULL;
	}
	return &sd->st;
}

uint64_t
store_disk_file_bytes(const struct store *st)
{
	return store_journal_file_bytes(sd_const(st)->j);
}

/* ---- load: staged records into the broker ---- */

struct sd_load {
	struct store_disk *sd;
	struct broker *b;
	struct store_disk_report *rep;
	uint64_t now_ms;
	struct msg **msgs; /* every staged message, built, sorted by id */
	size_t nmsgs;
};

/* Visit every staged item of a namespace. */
typedef void sd_item_fn(struct sd_load *l, const struct sd_item *it);

static void
sd_each(struct sd_load *l, enum sd_ns ns, sd_item_fn *fn)
{
	struct sd_map *mp = &l->sd->stage[ns];

	for (size_t i = 0; i < mp->size; i++) {
		for (struct sd_item *it = mp->slot[i]; it; it = it->next)
			fn(l, it);
	}
}

static void
sd_rd_init(struct sd_rd *r, const struct sd_item *it)
{
	r->p = it->data;
	r->len = it->len;
	r->off = 0;
	r->bad = false;
}

/* The stored session of a client id field, or NULL (an orphan). */
static struct session *
sd_session_of(struct sd_load *l, struct sd_rd *r)
{
	size_t n;
	const uint8_t *id = sd_get_bin(r, &n);

	if (id == NULL)
		return NULL;
	return broker_session_find(l->b, (const char *)id, n);
}

static void
sd_load_session(struct sd_load *l, const struct sd_item *it)
{
	struct sd_rd r;
	size_t n;
	const uint8_t *id;
	uint32_t expiry;
	uint64_t at;

	sd_rd_init(&r, it);
	id = sd_get_bin(&r, &n);
	expiry = sd_get_u32(&r);
	at = sd_get_u64(&r);
	if (r.bad || expiry == 0 || n > SESSION_ID_MAX) {
		l->rep->skipped++;
		return;
	}
	/* Online when it stopped: its absence starts now. */
	if (at == 0 && expiry != SESSION_EXPIRY_NEVER)
		at = l->now_ms + (uint64_t)expiry * 1000;
	(void)broker_session_restore(l->b, (const char *)id, n, expiry, at);
	l->rep->sessions++;
}

/* A NUL-terminated copy of a string field ("" when empty). */
static char *
sd_get_cstr(struct sd_rd *r)
{
	size_t n;
	const uint8_t *p = sd_get_bin(r, &n);

	return p ? xstrndup((const char *)p, n) : NULL;
}

static void
sd_load_sub(struct sd_load *l, const struct sd_item *it)
{
	struct sd_rd r;
	struct session *s;
	struct sub_opts o = {0};
	char *filter, *group;
	uint8_t flags;
	bool existed;

	sd_rd_init(&r, it);
	s = sd_session_of(l, &r);
	filter = sd_get_cstr(&r);
	group = sd_get_cstr(&r);
	o.qos = sd_get_u8(&r);
	flags = sd_get_u8(&r);
	o.retain_handling = sd_get_u8(&r);
	o.sub_id = sd_get_u32(&r);
	o.no_local = flags & 1;
	o.retain_as_published = (flags >> 1) & 1;
	if (s && !r.bad && filter[0] != '\0') {
		(void)broker_subscribe(l->b, s, filter, strlen(filter),
		    group[0] ? group : NULL, strlen(group), &o, &existed);
		l->rep->subs++;
	} else {
		l->rep->skipped++;
	}
	free(filter);
	free(group);
}

static void
sd_load_inq2(struct sd_load *l, const struct sd_item *it)
{
	struct sd_rd r;
	struct session *s;
	uint16_t id;

	sd_rd_init(&r, it);
	s = sd_session_of(l, &r);
	id = sd_get_u16(&r);
	if (s == NULL || r.bad) {
		l->rep->skipped++;
		return;
	}
	session_inq2_add(s, id);
	l->rep->inq2++;
}

/* Build a message from a staged MSG record; NULL if undecodable. */
static struct msg *
sd_dec_msg(const struct sd_item *it)
{
	struct sd_rd r;
	struct msg_init mi = {0};
	uint64_t id, expiry;
	uint8_t flags;
	struct msg *m;

	sd_rd_init(&r, it);
	id = sd_get_u64(&r);
	expiry = sd_get_u64(&r);
	mi.qos = sd_get_u8(&r);
	flags = sd_get_u8(&r);
	mi.payload_format = sd_get_u8(&r);
	mi.user_count = sd_get_u16(&r);
	mi.topic = (const char *)sd_get_bin(&r, &mi.topic_len);
	mi.payload = sd_get_bin(&r, &mi.payload_len);
	mi.content_type = (const char *)sd_get_bin(&r, &mi.content_type_len);
	mi.response_topic =
	    (const char *)sd_get_bin(&r, &mi.response_topic_len);
	mi.correlation = sd_get_bin(&r, &mi.correlation_len);
	mi.user = sd_get_bin(&r, &mi.user_len);
	if (r.bad || mi.qos > 2)
		return NULL;
	mi.expiry_at_ms = expiry;
	mi.retain = flags & 1;
	mi.has_payload_format = (flags >> 1) & 1;
	mi.content_type = (flags & 4) ? mi.content_type : NULL;
	mi.response_topic = (flags & 8) ? mi.response_topic : NULL;
	mi.correlation = (flags & 16) ? mi.correlation : NULL;
	if (mi.user_count == 0)
		mi.user_len = 0;
	m = msg_new(&mi);
	m->id = id;
	return m;
}

static int
sd_msg_cmp(const void *a, const void *b)
{
	uint64_t x = (*(struct msg *const *)a)->id;
	uint64_t y = (*(struct msg *const *)b)->id;

	return x < y ? -1 : x > y;
}

static void
sd_load_msg(struct sd_load *l, const struct sd_item *it)
{
	struct msg *m = sd_dec_msg(it);

	if (m == NULL) {
		l->rep->skipped++;
		return;
	}
	l->msgs[l->nmsgs++] = m;
	l->sd->st.next_id = MAX(l->sd->st.next_id, m->id);
}

/* Build every staged message, sorted by id for sd_msg_get. */
static void
sd_load_msgs(struct sd_load *l)
{
	l->msgs = xcalloc(l->sd->stage[SD_NS_MSG].n + 1, sizeof(*l->msgs));
	sd_each(l, SD_NS_MSG, sd_load_msg);
	qsort(l->msgs, l->nmsgs, sizeof(*l->msgs), sd_msg_cmp);
}

/* The message a record names, with a store reference taken; or NULL. */
static struct msg *
sd_msg_get(struct sd_load *l, uint64_t id)
{
	struct msg key = {.id = id}, *kp = &key, **found;

	found = bsearch(&kp, l->msgs, l->nmsgs, sizeof(*l->msgs), sd_msg_cmp);
	if (found == NULL)
		return NULL;
	if ((*found)->store_refs++ == 0)
		l->rep->messages++;
	return *found;
}

static void
sd_load_retained(struct sd_load *l, const struct sd_item *it)
{
	struct sd_rd r;
	size_t n;
	struct msg *m;

	sd_rd_init(&r, it);
	(void)sd_get_bin(&r, &n);
	m = sd_msg_get(l, sd_get_u64(&r));
	if (r.bad || m == NULL) {
		l->rep->skipped++;
		return;
	}
	(void)retain_set(l->b->retained, m);
	l->rep->retained++;
}

/* A staged delivery or queue entry, ordered by id for replay. */
struct sd_ordered {
	uint64_t id;
	const struct sd_item *it;
};

struct sd_order {
	struct sd_ordered *v;
	size_t n;
};

static int
sd_ordered_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct sd_ordered *)a)->id;
	uint64_t y = ((const struct sd_ordered *)b)->id;

	return x < y ? -1 : x > y;
}

/* Staged items of ns in id order (their ids are their u64 keys). */
static struct sd_order
sd_sorted(struct sd_load *l, enum sd_ns ns)
{
	struct sd_map *mp = &l->sd->stage[ns];
	struct sd_order o = {xcalloc(mp->n + 1, sizeof(*o.v)), 0};
	struct sd_rd r;

	for (size_t i = 0; i < mp->size; i++) {
		for (struct sd_item *it = mp->slot[i]; it; it = it->next) {
			sd_rd_init(&r, it);
			o.v[o.n].id = sd_get_u64(&r);
			o.v[o.n++].it = it;
		}
	}
	qsort(o.v, o.n, sizeof(*o.v), sd_ordered_cmp);
	return o;
}

/* The share group reference of s's subscription (filter, group). */
static struct share_ref *
sd_share_of(struct session *s, const char *filter, const char *group)
{
	if (group[0] == '\0')
		return NULL;
	LIST_FOREACH(it, &s->subs)
	{
		struct session_sub *sub =
		    CONTAINER_OF(it, struct session_sub, link);

		if (sub->group && strcmp(sub->group, group) == 0 &&
		    strcmp(sub->filter, filter) == 0)
			return sub->opts.share;
	}
	return NULL;
}

/* Decoded delivery fields (the value part of a DELIVERY record). */
struct sd_dlv {
	uint64_t id, msg_id;
	uint16_t pkt_id, attempts;
	uint8_t qos, state, retain, nids;
	char *share_filter, *share_group;
	uint32_t ids[SESSION_MAX_SUB_IDS];
};

static void
sd_dec_delivery(struct sd_rd *r, struct sd_dlv *v)
{
	v->msg_id = sd_get_u64(r);
	v->pkt_id = sd_get_u16(r);
	v->qos = sd_get_u8(r);
	v->state = sd_get_u8(r);
	v->retain = sd_get_u8(r);
	v->attempts = sd_get_u16(r);
	v->share_filter = sd_get_cstr(r);
	v->share_group = sd_get_cstr(r);
	v->nids = sd_get_u8(r);
	if (v->nids > SESSION_MAX_SUB_IDS)
		r->bad = true;
	for (unsigned i = 0; i < v->nids; i++)
		v->ids[i] = sd_get_u32(r);
	if (v->qos == 0 || v->qos > 2 || v->state > DELIVERY_RELEASED ||
	    (v->state != DELIVERY_QUEUED && v->pkt_id == 0))
		r->bad = true;
}

static void
sd_restore_delivery(struct sd_load *l, struct session *s, struct sd_dlv *v)
{
	struct msg *m = sd_msg_get(l, v->msg_id);
	struct session_offer o = {.m = m,
	    .qos = v->qos,
	    .retain = v->retain,
	    .sub_ids = v->ids,
	    .nsub_ids = v->nids,
	    .attempts = v->attempts};
	struct delivery *d;

	if (m == NULL) {
		l->rep->skipped++;
		return;
	}
	o.share = sd_share_of(s, v->share_filter, v->share_group);
	d = session_delivery_new(&o);
	d->pkt_id = v->state == DELIVERY_QUEUED ? 0 : v->pkt_id;
	d->state = v->state;
	d->store_id = v->id;
	session_restore(s, d);
	l->rep->deliveries++;
}

static void
sd_load_delivery(struct sd_load *l, const struct sd_ordered *e)
{
	struct sd_rd r;
	struct sd_dlv v = {.id = e->id};
	struct session *s;

	sd_rd_init(&r, e->it);
	(void)sd_get_u64(&r);
	s = sd_session_of(l, &r);
	sd_dec_delivery(&r, &v);
	if (s == NULL || r.bad)
		l->rep->skipped++;
	else
		sd_restore_delivery(l, s, &v);
	free(v.share_filter);
	free(v.share_group);
}

static void
sd_load_entry(struct sd_load *l, const struct sd_ordered *e)
{
	struct sd_rd r;
	size_t n;
	const uint8_t *name;
	struct msg *m;
	uint16_t attempts;

	sd_rd_init(&r, e->it);
	(void)sd_get_u64(&r);
	name = sd_get_bin(&r, &n);
	m = sd_msg_get(l, sd_get_u64(&r));
	attempts = sd_get_u16(&r);
	if (r.bad || m == NULL || n == 0) {
		l->rep->skipped++;
		return;
	}
	queue_restore(l->b, (const char *)name, n, e->id, m, attempts);
	l->rep->entries++;
}

/* Deliveries then queue entries, each kind in its original order. */
static void
sd_load_ordered(struct sd_load *l)
{
	struct sd_order o = sd_sorted(l, SD_NS_DELIVERY);

	for (size_t i = 0; i < o.n; i++) {
		sd_load_delivery(l, &o.v[i]);
		l->sd->st.next_id = MAX(l->sd->st.next_id, o.v[i].id);
	}
	free(o.v);
	o = sd_sorted(l, SD_NS_ENTRY);
	for (size_t i = 0; i < o.n; i++) {
		sd_load_entry(l, &o.v[i]);
		l->sd->st.next_id = MAX(l->sd->st.next_id, o.v[i].id);
	}
	free(o.v);
}

static uint64_t
sd_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Build the broker from staging, then drop staging. */
static void
sd_load_all(struct sd_load *l)
{
	sd_load_msgs(l);
	sd_each(l, SD_NS_SESSION, sd_load_session);
	sd_each(l, SD_NS_SUB, sd_load_sub);
	sd_each(l, SD_NS_INQ2, sd_load_inq2);
	sd_each(l, SD_NS_RETAIN, sd_load_retained);
	sd_load_ordered(l);
	l->rep->skipped += l->sd->skipped;
	for (size_t i = 0; i < l->nmsgs; i++)
		msg_unref(l->msgs[i]); /* unreferenced ones go now */
	free(l->msgs);
	for (size_t i = 0; i < SD_NS_COUNT; i++)
		sd_map_free(&l->sd->stage[i]);
}

int
store_disk_load(struct store *st, struct broker *b, uint64_t now_ms,
    struct store_disk_report *rep, char *err, size_t errlen)
{
	struct store_disk *sd = sd_of(st);
	struct sd_load l = {sd, b, rep, now_ms, NULL, 0};
	uint64_t t0 = sd_clock_ms();
	int rc;

	ASSERT(b->store == st && sd->b == NULL);
	sd->b = b;
	sd->loading = true;
	sd_load_all(&l);
	sd->loading = false;
	rc = store_disk_compact(st);
	if (rc != 0)
		snprintf(
		    err, errlen, "compacting the store: %s", strerror(errno));
	rep->live_bytes = sd->live_bytes;
	rep->load_ms = sd_clock_ms() - t0;
	return rc;
}

/* ---- compaction: rewrite the journal from live state ---- */

/* Write m's body into the rewrite once per pass. */
static void
sd_rw_msg(struct store_disk *sd, struct msg *m)
{
	if (m->store_mark == sd->mark)
		return;
	m->store_mark = sd->mark;
	sd_put_msg(sd, m);
}

static void
sd_rw_entry(struct store_disk *sd, const struct queue *q, uint64_t id,
    struct msg *m, uint16_t attempts)
{
	size_t qlen;
	const char *name = queue_name(q, &qlen);

	if (id == 0)
		return;
	sd_rw_msg(sd, m);
	sd_enc_entry(sd_begin(sd), name, qlen, id, m, attempts);
	sd_emit(sd, SD_ENTRY_PUT);
}

static void
sd_rw_queue_entry(void *arg, const struct queue *q, uint64_t id, struct msg *m,
    uint16_t attempts)
{
	sd_rw_entry(arg, q, id, m, attempts);
}

static void
sd_rw_retained(void *arg, struct msg *m)
{
	struct store_disk *sd = arg;

	if (m->store_refs == 0)
		return; /* retained while persistence was off: not ours */
	sd_rw_msg(sd, m);
	sd_enc_retain(sd_begin(sd), m);
	sd_emit(sd, SD_RETAIN_PUT);
}

/* The deliveries of one list: their records, and queue entries in flight. */
static void
sd_rw_deliveries(struct store_disk *sd, struct session *s, struct list *l)
{
	LIST_FOREACH(it, l)
	{
		struct delivery *d = CONTAINER_OF(it, struct delivery, link);

		if (d->queue) {
			sd_rw_entry(
			    sd, d->queue, d->entry_id, d->m, d->attempts);
		} else if (d->store_id) {
			sd_rw_msg(sd, d->m);
			sd_enc_delivery(sd_begin(sd), s, d);
			sd_emit(sd, SD_DELIVERY_PUT);
		}
	}
}

static void
sd_rw_session(struct store_disk *sd, struct session *s)
{
	if (s->stored) {
		sd_enc_session(sd_begin(sd), s);
		sd_emit(sd, SD_SESSION_PUT);
		LIST_FOREACH(it, &s->subs)
		{
			sd_enc_sub(sd_begin(sd), s,
			    CONTAINER_OF(it, struct session_sub, link));
			sd_emit(sd, SD_SUB_PUT);
		}
		for (uint32_t id = 0; s->inq2 && id < 65536; id++) {
			if (!session_inq2_has(s, (uint16_t)id))
				continue;
			sd_enc_inq2(sd_begin(sd), s, (uint16_t)id);
			sd_emit(sd, SD_INQ2_PUT);
		}
	}
	sd_rw_deliveries(sd, s, &s->inflight);
	sd_rw_deliveries(sd, s, &s->queue);
}

static void
sd_rw_all(struct store_disk *sd)
{
	struct broker *b = sd->b;

	LIST_FOREACH(it, &b->sessions)
	sd_rw_session(sd, CONTAINER_OF(it, struct session, all_link));
	retain_foreach(b->retained, sd_rw_retained, sd);
	queue_foreach_entry(b, sd_rw_queue_entry, sd);
}

int
store_disk_compact(struct store *st)
{
	struct store_disk *sd = sd_of(st);
	int rc;

	ASSERT(sd->b != NULL);
	if (store_journal_rewrite_begin(sd->j) != 0)
		return -1;
	sd->mark++;
	sd->rewriting = true;
	sd_rw_all(sd);
	sd->rewriting = false;
	rc = store_journal_rewrite_end(sd->j);
	if (rc != 0) {
		store_journal_rewrite_abort(sd->j);
		return -1;
	}
	sd->compact_wanted = false;
	sd->live_bytes = store_journal_file_bytes(sd->j);
	return 0;
}
