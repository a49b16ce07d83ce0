/*
 * test_store_journal.c - the journal engine: round trips, a torn tail cut
 * at every byte, flipped bits, garbage and foreign headers, leftovers,
 * rewrite (and a crash inside one), the disk cap, group commit through
 * the eventfd, sync policies, write errors that fail the journal, and a
 * kill -9 loop checking that every record reported committed survives.
 *
 * Each test works in its own mkdtemp directory under /tmp, removed after.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/store_journal.h"

#define HDR STORE_JOURNAL_HEADER_LEN
#define OVH STORE_JOURNAL_RECORD_OVERHEAD

/* ---- scratch directories and files ---- */

struct tdir {
	char dir[64];
	char db[128];
	char tmp[128];
};

static void
tdir_new(struct tdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/sjtest.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/junction.db", t->dir);
	snprintf(t->tmp, sizeof(t->tmp), "%s/junction.db.tmp", t->dir);
}

static int
rm_one(const char *path, const struct stat *st UNUSED, int flag UNUSED,
    struct FTW *ftw UNUSED)
{
	return remove(path);
}

static void
tdir_rm(struct tdir *t)
{
	assert_int_equal(nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static uint8_t *
file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	p = xmalloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
file_write(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* ---- records: index i fully determines type and payload ---- */

static size_t
rec_len(unsigned i)
{
	return i % 7 == 0 ? 0 : (i * 37u) % 300;
}

static uint8_t
rec_type(unsigned i)
{
	return (uint8_t)(1 + i % 255);
}

static void
rec_fill(unsigned i, uint8_t *buf, size_t len)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (uint8_t)(i * 131 + k * 7 + (k >> 8));
}

static void
rec_append(struct store_journal *j, unsigned i)
{
	uint8_t buf[300];
	size_t len = rec_len(i);

	rec_fill(i, buf, len);
	assert_int_equal(store_journal_append(j, rec_type(i), buf, len), 0);
}

static void
rec_rewrite(struct store_journal *j, unsigned i)
{
	uint8_t buf[300];
	size_t len = rec_len(i);

	rec_fill(i, buf, len);
	assert_int_equal(
	    store_journal_rewrite_append(j, rec_type(i), buf, len), 0);
}

/* Size on disk of records 0..n-1 after the header. */
static uint64_t
recs_bytes(unsigned n)
{
	uint64_t b = HDR;

	for (unsigned i = 0; i < n; i++)
		b += OVH + rec_len(i);
	return b;
}

/* ---- replay collector ---- */

struct rec {
	uint8_t type;
	size_t len;
	uint8_t *p;
};

struct col {
	struct rec *v;
	size_t n;
	size_t cap;
	size_t refuse_at; /* 0 = never */
};

static int
col_add(void *arg, uint8_t type, const uint8_t *p, size_t len)
{
	struct col *c = arg;

	if (c->refuse_at != 0 && c->n + 1 == c->refuse_at)
		return -1;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n].type = type;
	c->v[c->n].len = len;
	c->v[c->n].p = xmemdup(p, len);
	c->n++;
	return 0;
}

static void
col_free(struct col *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].p);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static void
col_check(const struct col *c, size_t at, unsigned i)
{
	uint8_t buf[300];

	assert_true(at < c->n);
	rec_fill(i, buf, rec_len(i));
	assert_int_equal(c->v[at].type, rec_type(i));
	assert_int_equal(c->v[at].len, rec_len(i));
	assert_memory_equal(c->v[at].p, buf, rec_len(i));
}

/* Records 0..n-1 exactly, in order. */
static void
col_check_seq(const struct col *c, unsigned n)
{
	assert_int_equal(c->n, n);
	for (unsigned i = 0; i < n; i++)
		col_check(c, i, i);
}

/* ---- opening ---- */

static struct store_journal_opts
opts_for(const struct tdir *t)
{
	struct store_journal_opts o = {
	    .dir = t->dir,
	    .sync = STORE_JOURNAL_SYNC_ALWAYS,
	};

	return o;
}

static struct store_journal *
jopen_o(const struct store_journal_opts *o, struct col *c,
    struct store_journal_report *rep)
{
	struct store_journal *j;
	char err[256];

	col_free(c);
	if (store_journal_open(&j, o, col_add, c, rep, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	assert_int_equal(rep->records, c->n);
	return j;
}

static struct store_journal *
jopen(const struct tdir *t, struct col *c, struct store_journal_report *rep)
{
	struct store_journal_opts o = opts_for(t);

	return jopen_o(&o, c, rep);
}

static void
jclose(struct store_journal *j)
{
	assert_int_equal(store_journal_close(j), 0);
}

/* A journal holding records 0..n-1, committed, closed. */
static void
make_journal(const struct tdir *t, unsigned n)
{
	struct store_journal_report rep;
	struct col c = {0};
	struct store_journal *j = jopen(t, &c, &rep);

	for (unsigned i = 0; i < n; i++)
		rec_append(j, i);
	assert_int_equal(store_journal_commit(j), 0);
	jclose(j);
	col_free(&c);
}

/* ---- tests ---- */

static void
test_crc32c(void **state UNUSED)
{
	const char *s = "123456789";
	uint8_t big[1000];

	/* The check value of CRC-32C (RFC 3720 B.4 lists the same poly). */
	assert_int_equal(store_journal_crc32c(0, s, 9), 0xe3069283u);
	assert_int_equal(store_journal_crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	for (size_t cut = 0; cut <= 17; cut++)
		assert_int_equal(
		    store_journal_crc32c(store_journal_crc32c(0, big, cut),
		        big + cut, sizeof(big) - cut),
		    store_journal_crc32c(0, big, sizeof(big)));
}

static void
test_roundtrip(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	uint8_t *big = xmalloc(1 << 20);

	tdir_new(&t);
	j = jopen(&t, &c, &rep);
	assert_true(rep.created);
	assert_int_equal(rep.bytes, HDR);
	for (unsigned i = 0; i < 600; i++)
		rec_append(j, i);
	assert_int_equal(store_journal_append_gen(j), 600);
	assert_int_equal(store_journal_pending(j), recs_bytes(600) - HDR);
	assert_int_equal(store_journal_commit(j), 0);
	assert_int_equal(store_journal_durable_gen(j), 600);
	assert_int_equal(store_journal_pending(j), 0);
	memset(big, 0xa5, 1 << 20);
	assert_int_equal(store_journal_append(j, 255, big, 1 << 20), 0);
	jclose(j);

	j = jopen(&t, &c, &rep);
	assert_false(rep.created);
	assert_false(rep.corrupt);
	assert_int_equal(rep.truncated_bytes, 0);
	assert_int_equal(c.n, 601);
	for (unsigned i = 0; i < 600; i++)
		col_check(&c, i, i);
	assert_int_equal(c.v[600].type, 255);
	assert_int_equal(c.v[600].len, 1 << 20);
	assert_memory_equal(c.v[600].p, big, 1 << 20);
	assert_int_equal(rep.bytes, recs_bytes(600) + OVH + (1 << 20));
	assert_int_equal(store_journal_file_bytes(j), rep.bytes);
	assert_int_equal(store_journal_append_gen(j), 0);
	jclose(j);
	col_free(&c);
	free(big);
	tdir_rm(&t);
}

/* Reopen after a cut: K records, tail gone, and appends continue. */
static void
check_cut(const struct tdir *t, unsigned k, uint64_t cut)
{
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j = jopen(t, &c, &rep);

	col_check_seq(&c, k);
	assert_int_equal(rep.truncated_bytes, cut - recs_bytes(k));
	assert_false(rep.corrupt);
	assert_int_equal(file_size(t->db), recs_bytes(k));
	rec_append(j, k);
	assert_int_equal(store_journal_commit(j), 0);
	jclose(j);
	j = jopen(t, &c, &rep);
	col_check_seq(&c, k + 1);
	assert_int_equal(rep.truncated_bytes, 0);
	jclose(j);
	col_free(&c);
}

static void
test_torn_every_offset(void **state UNUSED)
{
	const unsigned k = 4; /* record 4 is 148 bytes of payload */
	struct tdir t;
	uint8_t *full;
	size_t len;

	tdir_new(&t);
	make_journal(&t, k + 1);
	full = file_read(t.db, &len);
	assert_int_equal(len, recs_bytes(k + 1));
	for (uint64_t cut = recs_bytes(k); cut < len; cut++) {
		file_write(t.db, full, cut);
		check_cut(&t, k, cut);
	}
	free(full);
	tdir_rm(&t);
}

/* A preallocated or zero-filled tail (delayed allocation after a crash). */
static void
test_zero_tail(void **state UNUSED)
{
	struct tdir t;
	uint8_t *full;
	size_t len;

	tdir_new(&t);
	make_journal(&t, 3);
	full = file_read(t.db, &len);
	full = xrealloc(full, len + 4096);
	memset(full + len, 0, 4096);
	file_write(t.db, full, len + 4096);
	check_cut(&t, 3, len + 4096);
	free(full);
	tdir_rm(&t);
}

static void
check_flip(const struct tdir *t, const uint8_t *orig, size_t len, size_t byte,
    unsigned bit, unsigned good)
{
	uint8_t *b = xmemdup(orig, len);
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;

	b[byte] ^= (uint8_t)(1u << bit);
	file_write(t->db, b, len);
	j = jopen(t, &c, &rep);
	col_check_seq(&c, good);
	assert_int_equal(file_size(t->db), recs_bytes(good));
	assert_true(rep.detail[0] != '\0');
	jclose(j);
	col_free(&c);
	free(b);
}

static void
test_flipped_bits(void **state UNUSED)
{
	const unsigned k = 5; /* record 5: 185 bytes; record 2: 74 bytes */
	struct tdir t;
	uint8_t *orig;
	size_t len;

	tdir_new(&t);
	make_journal(&t, k + 1);
	orig = file_read(t.db, &len);
	for (size_t byte = recs_bytes(k); byte < len; byte++) {
		for (unsigned bit = 0; bit < 8; bit++)
			check_flip(&t, orig, len, byte, bit, k);
	}
	/* The middle: replay stops before the damaged record. */
	for (size_t byte = recs_bytes(2); byte < recs_bytes(3); byte += 5)
		check_flip(&t, orig, len, byte, (unsigned)byte % 8, 2);
	free(orig);
	tdir_rm(&t);
}

static void
test_garbage_header(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	uint8_t junk[1000];
	char bad[200];

	tdir_new(&t);
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	for (int round = 0; round < 2; round++) {
		file_write(t.db, junk, sizeof(junk));
		j = jopen(&t, &c, &rep);
		assert_true(rep.corrupt);
		assert_true(rep.created);
		assert_int_equal(c.n, 0);
		assert_true(rep.detail[0] != '\0');
		snprintf(bad, sizeof(bad), round ? "%s.bad.1" : "%s.bad", t.db);
		assert_string_equal(rep.bad_path, bad);
		assert_int_equal(file_size(bad), sizeof(junk));
		assert_int_equal(file_size(t.db), HDR);
		rec_append(j, 1);
		jclose(j);
		j = jopen(&t, &c, &rep);
		assert_false(rep.corrupt);
		assert_int_equal(c.n, 1);
		jclose(j);
	}
	col_free(&c);
	tdir_rm(&t);
}

static void
test_refuse_corrupt(void **state UNUSED)
{
	struct tdir t;
	struct store_journal_opts o;
	struct store_journal_report rep;
	struct store_journal *j;
	char err[256] = "";
	char bad[200];

	tdir_new(&t);
	o = opts_for(&t);
	o.refuse_corrupt = true;
	file_write(t.db, "this is not a journal at all", 28);
	assert_int_equal(
	    store_journal_open(&j, &o, NULL, NULL, &rep, err, sizeof(err)), -1);
	assert_null(j);
	assert_non_null(strstr(err, "corrupt"));
	assert_int_equal(file_size(t.db), 28);
	snprintf(bad, sizeof(bad), "%s.bad", t.db);
	assert_false(file_exists(bad));
	/* A tiny error buffer still gets a terminated message. */
	assert_int_equal(
	    store_journal_open(&j, &o, NULL, NULL, &rep, err, 5), -1);
	assert_int_equal(strlen(err), 4);
	tdir_rm(&t);
}

/* Another format version is not garbage: fail, touch nothing. */
static void
test_foreign_version(void **state UNUSED)
{
	struct tdir t;
	struct store_journal_opts o;
	struct store_journal_report rep;
	struct store_journal *j;
	uint8_t *b;
	size_t len;
	char err[256] = "";

	tdir_new(&t);
	make_journal(&t, 3);
	b = file_read(t.db, &len);
	b[8] = 2;
	file_write(t.db, b, len);
	o = opts_for(&t);
	assert_int_equal(
	    store_journal_open(&j, &o, NULL, NULL, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 2"));
	assert_int_equal(file_size(t.db), len);
	assert_false(rep.corrupt);
	free(b);
	tdir_rm(&t);
}

/* A prefix of our own header is an interrupted creation, not garbage. */
static void
test_torn_header(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;

	tdir_new(&t);
	for (size_t n = 0; n < HDR; n++) {
		file_write(t.db, "JUNCTDB\0\1\0\0\0\0\0\0\0", n);
		j = jopen(&t, &c, &rep);
		assert_false(rep.corrupt);
		assert_true(rep.created);
		assert_int_equal(file_size(t.db), HDR);
		jclose(j);
	}
	tdir_rm(&t);
}

static void
test_tmp_removed(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;

	tdir_new(&t);
	make_journal(&t, 3);
	file_write(t.tmp, "half a rewrite", 14);
	j = jopen(&t, &c, &rep);
	assert_true(rep.tmp_removed);
	assert_false(file_exists(t.tmp));
	col_check_seq(&c, 3);
	jclose(j);
	j = jopen(&t, &c, &rep);
	assert_false(rep.tmp_removed);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

static void
test_rewrite(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	uint64_t before, gen;
	unsigned want[15];
	size_t n = 0;

	tdir_new(&t);
	make_journal(&t, 1000);
	j = jopen(&t, &c, &rep);
	before = store_journal_file_bytes(j);
	assert_int_equal(before, file_size(t.db));
	assert_int_equal(store_journal_rewrite_begin(j), 0);
	assert_true(file_exists(t.tmp));
	for (unsigned i = 0; i < 1000; i += 100) {
		rec_rewrite(j, i);
		want[n++] = i;
	}
	/* Appends during the rewrite stay buffered; commits defer. */
	for (unsigned i = 1000; i < 1002; i++) {
		rec_append(j, i);
		want[n++] = i;
	}
	gen = store_journal_append_gen(j);
	assert_int_equal(store_journal_commit(j), 0);
	assert_int_equal(store_journal_commit_async(j), 0);
	assert_true(store_journal_durable_gen(j) < gen);
	assert_int_equal(store_journal_rewrite_end(j), 0);
	assert_int_equal(store_journal_durable_gen(j), gen);
	assert_false(file_exists(t.tmp));
	for (unsigned i = 1002; i < 1005; i++) {
		rec_append(j, i);
		want[n++] = i;
	}
	assert_int_equal(store_journal_commit(j), 0);
	assert_int_equal(store_journal_file_bytes(j), file_size(t.db));
	assert_true(file_size(t.db) < before / 10);
	jclose(j);
	j = jopen(&t, &c, &rep);
	assert_int_equal(c.n, 15);
	for (size_t i = 0; i < n; i++)
		col_check(&c, i, want[i]);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

/* Enough records to push the rewrite past one 1 MiB chunk. */
static void
rewrite_lots(struct store_journal *j)
{
	for (unsigned i = 0; i < 12000; i++)
		rec_rewrite(j, i);
}

static void
test_rewrite_abort(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;

	tdir_new(&t);
	make_journal(&t, 20);
	j = jopen(&t, &c, &rep);
	assert_int_equal(store_journal_rewrite_begin(j), 0);
	rewrite_lots(j);
	rec_append(j, 20);
	store_journal_rewrite_abort(j);
	assert_false(file_exists(t.tmp));
	store_journal_rewrite_abort(j); /* no rewrite: no-op */
	assert_int_equal(store_journal_commit(j), 0);
	/* A rewrite left open at close is aborted too. */
	assert_int_equal(store_journal_rewrite_begin(j), 0);
	rec_rewrite(j, 0);
	jclose(j);
	assert_false(file_exists(t.tmp));
	j = jopen(&t, &c, &rep);
	col_check_seq(&c, 21);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

/* A process dies inside a rewrite: the journal is intact, .tmp goes. */
static void
test_rewrite_crash(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	int status;
	pid_t pid;

	tdir_new(&t);
	make_journal(&t, 50);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		j = jopen(&t, &c, &rep);
		if (store_journal_rewrite_begin(j) != 0)
			_exit(2);
		rewrite_lots(j);
		raise(SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_true(file_size(t.tmp) >= 1024 * 1024);
	j = jopen(&t, &c, &rep);
	assert_true(rep.tmp_removed);
	col_check_seq(&c, 50);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

static void
test_disk_cap(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal_opts o;
	struct store_journal *j;
	uint8_t p[100] = {0};

	tdir_new(&t);
	o = opts_for(&t);
	o.max_bytes = HDR + 10 * (OVH + sizeof(p));
	j = jopen_o(&o, &c, &rep);
	for (int i = 0; i < 6; i++)
		assert_int_equal(store_journal_append(j, 1, p, sizeof(p)), 0);
	assert_int_equal(store_journal_commit(j), 0);
	for (int i = 0; i < 4; i++) /* buffered bytes count too */
		assert_int_equal(store_journal_append(j, 1, p, sizeof(p)), 0);
	assert_int_equal(store_journal_append(j, 1, p, sizeof(p)), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(store_journal_append(j, 1, p, 0), -1);
	assert_int_equal(store_journal_error(j), 0);
	assert_int_equal(store_journal_append_gen(j), 10);
	assert_int_equal(store_journal_commit(j), 0);
	assert_int_equal(store_journal_file_bytes(j), o.max_bytes);
	jclose(j);
	j = jopen_o(&o, &c, &rep);
	assert_int_equal(c.n, 10);
	/* Compaction is how space comes back, so it ignores the cap. */
	assert_int_equal(store_journal_rewrite_begin(j), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    store_journal_rewrite_append(j, 1, p, sizeof(p)), 0);
	assert_int_equal(store_journal_rewrite_end(j), 0);
	assert_int_equal(store_journal_append(j, 1, p, sizeof(p)), 0);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

static void
test_too_big(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	uint8_t p[1] = {0};

	tdir_new(&t);
	j = jopen(&t, &c, &rep);
	/* Refused before a byte of the payload is read. */
	assert_int_equal(store_journal_append(
	                     j, 1, p, (size_t)STORE_JOURNAL_MAX_PAYLOAD + 1),
	    -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(store_journal_error(j), 0);
	assert_int_equal(store_journal_rewrite_begin(j), 0);
	assert_int_equal(store_journal_rewrite_append(
	                     j, 1, p, (size_t)STORE_JOURNAL_MAX_PAYLOAD + 1),
	    -1);
	assert_int_equal(store_journal_rewrite_append(j, 1, p, 1), -1);
	assert_int_equal(store_journal_rewrite_end(j), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_false(file_exists(t.tmp));
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

/* Wait for the eventfd, then collect; returns the durable generation. */
static uint64_t
wait_poll(struct store_journal *j, int timeout_ms)
{
	struct pollfd pfd = {.fd = store_journal_fd(j), .events = POLLIN};

	assert_true(poll(&pfd, 1, timeout_ms) >= 0);
	return store_journal_poll(j);
}

static void
test_async(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	uint64_t last = 0, d;
	unsigned n = 0;

	tdir_new(&t);
	j = jopen(&t, &c, &rep);
	for (int turn = 0; turn < 300; turn++) {
		for (int k = 0; k <= turn % 5; k++)
			rec_append(j, n++);
		assert_int_equal(store_journal_commit_async(j), 0);
		d = wait_poll(j, turn % 3 == 0 ? 50 : 0);
		assert_true(d >= last && d <= store_journal_append_gen(j));
		assert_int_equal(d, store_journal_durable_gen(j));
		last = d;
	}
	/* poll() starts the next batch itself: no further commit call. */
	while (store_journal_durable_gen(j) < n)
		(void)wait_poll(j, 1000);
	assert_int_equal(store_journal_pending(j), 0);
	assert_int_equal(store_journal_file_bytes(j), recs_bytes(n));
	for (int k = 0; k < 10; k++)
		rec_append(j, n++);
	assert_int_equal(store_journal_commit_async(j), 0);
	for (int k = 0; k < 10; k++)
		rec_append(j, n++);
	jclose(j); /* one batch in flight, one buffered */
	j = jopen(&t, &c, &rep);
	col_check_seq(&c, n);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

/* A synchronous commit or a rewrite waits for the batch in flight. */
static void
test_async_then_sync(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	unsigned n = 0;

	tdir_new(&t);
	j = jopen(&t, &c, &rep);
	for (int turn = 0; turn < 50; turn++) {
		rec_append(j, n++);
		assert_int_equal(store_journal_commit_async(j), 0);
		rec_append(j, n++);
		assert_int_equal(store_journal_commit(j), 0);
		assert_int_equal(store_journal_durable_gen(j), n);
	}
	/* The batch in flight lands in the old file; the append after it
	 * rides into the new one, after the rewritten record. */
	rec_append(j, n++);
	assert_int_equal(store_journal_commit_async(j), 0);
	rec_append(j, n++);
	assert_int_equal(store_journal_rewrite_begin(j), 0);
	rec_rewrite(j, 0);
	assert_int_equal(store_journal_rewrite_end(j), 0);
	assert_int_equal(store_journal_durable_gen(j), n);
	jclose(j);
	j = jopen(&t, &c, &rep);
	assert_int_equal(c.n, 2);
	col_check(&c, 0, 0);
	col_check(&c, 1, n - 1);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

static void
test_sync_policies(void **state UNUSED)
{
	const enum store_journal_sync pol[] = {STORE_JOURNAL_SYNC_ALWAYS,
	    STORE_JOURNAL_SYNC_INTERVAL, STORE_JOURNAL_SYNC_INTERVAL,
	    STORE_JOURNAL_SYNC_NEVER};
	const uint32_t ival[] = {0, 0, 60000, 0};

	for (size_t p = 0; p < ARRAY_LEN(pol); p++) {
		struct tdir t;
		struct col c = {0};
		struct store_journal_report rep;
		struct store_journal_opts o;
		struct store_journal *j;

		tdir_new(&t);
		o = opts_for(&t);
		o.sync = pol[p];
		o.sync_interval_ms = ival[p];
		j = jopen_o(&o, &c, &rep);
		for (unsigned i = 0; i < 30; i++) {
			rec_append(j, i);
			assert_int_equal(i % 2 ? store_journal_commit(j)
			                       : store_journal_commit_async(j),
			    0);
		}
		assert_int_equal(store_journal_commit(j), 0);
		assert_int_equal(store_journal_commit(j), 0); /* idle */
		assert_int_equal(store_journal_durable_gen(j), 30);
		jclose(j);
		j = jopen_o(&o, &c, &rep);
		col_check_seq(&c, 30);
		jclose(j);
		col_free(&c);
		tdir_rm(&t);
	}
}

static void
test_lock_and_mkdir(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal_opts o;
	struct store_journal *j, *j2;
	char nested[128];
	char err[256];

	tdir_new(&t);
	snprintf(nested, sizeof(nested), "%s/a/b/c", t.dir);
	o = opts_for(&t);
	o.dir = nested;
	j = jopen_o(&o, &c, &rep);
	assert_true(rep.created);
	assert_int_equal(
	    store_journal_open(&j2, &o, NULL, NULL, &rep, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "in use"));
	jclose(j);
	j = jopen_o(&o, &c, &rep);
	jclose(j);
	assert_int_equal(store_journal_close(NULL), 0);
	col_free(&c);
	tdir_rm(&t);
}

/* "" and NULL mean the current directory; a trailing '/' is fine. */
static void
test_dir_forms(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal_opts o;
	struct store_journal *j;
	char slash[80], cwd[512];

	tdir_new(&t);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t.dir), 0);
	o = opts_for(&t);
	o.dir = NULL;
	j = jopen_o(&o, &c, &rep);
	rec_append(j, 0);
	jclose(j);
	o.dir = "";
	j = jopen_o(&o, &c, &rep);
	col_check_seq(&c, 1);
	jclose(j);
	assert_int_equal(chdir(cwd), 0);
	snprintf(slash, sizeof(slash), "%s//", t.dir);
	o.dir = slash;
	j = jopen_o(&o, &c, &rep);
	col_check_seq(&c, 1);
	assert_true(file_exists(t.db));
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

static void
test_replay_refused(void **state UNUSED)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal_opts o;
	struct store_journal *j;
	uint64_t size;
	char err[256];

	tdir_new(&t);
	make_journal(&t, 10);
	size = file_size(t.db);
	o = opts_for(&t);
	c.refuse_at = 4;
	assert_int_equal(
	    store_journal_open(&j, &o, col_add, &c, &rep, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "refused record 3"));
	assert_int_equal(file_size(t.db), size);
	c.refuse_at = 0;
	j = jopen(&t, &c, &rep);
	col_check_seq(&c, 10);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

/*
 * Child: under a 64 KiB file size limit a commit fails (EFBIG); the
 * journal must fail for good, sync or async, and close must say so.
 */
static int
child_write_error(const struct tdir *t, bool async)
{
	struct rlimit rl = {.rlim_cur = 64 * 1024, .rlim_max = 64 * 1024};
	struct store_journal_opts o = opts_for(t);
	struct store_journal_report rep;
	struct store_journal *j;
	uint8_t p[1000] = {0};
	char err[256];

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0 ||
	    store_journal_open(&j, &o, NULL, NULL, &rep, err, sizeof(err)))
		return 10;
	for (int i = 0; i < 100; i++)
		if (store_journal_append(j, 1, p, sizeof(p)) != 0)
			return 11;
	if (!async && store_journal_commit(j) != -1)
		return 12;
	if (async && store_journal_commit_async(j) != 0)
		return 13;
	while (async && store_journal_error(j) == 0)
		(void)store_journal_poll(j);
	if (store_journal_error(j) != EFBIG || store_journal_durable_gen(j))
		return 14;
	if (store_journal_append(j, 1, p, 1) != -1 || errno != EFBIG ||
	    store_journal_commit(j) != -1 ||
	    store_journal_commit_async(j) != -1 ||
	    store_journal_rewrite_begin(j) != -1)
		return 15;
	return store_journal_close(j) == -1 ? 0 : 16;
}

static void
test_write_error(void **state UNUSED)
{
	for (int async = 0; async < 2; async++) {
		struct tdir t;
		struct col c = {0};
		struct store_journal_report rep;
		struct store_journal *j;
		int status;
		pid_t pid;

		tdir_new(&t);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(child_write_error(&t, async));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		/* What reached the disk is recoverable; nothing was acked. */
		j = jopen(&t, &c, &rep);
		for (size_t i = 0; i < c.n; i++)
			assert_int_equal(c.v[i].len, 1000);
		jclose(j);
		col_free(&c);
		tdir_rm(&t);
	}
}

/* ---- kill -9: every record reported committed survives ---- */

/* Report r (and everything before it) as durable to the parent. */
static void
child_report(int wfd, uint64_t r)
{
	if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(20);
}

static void
child_append(struct store_journal *j, unsigned i)
{
	uint8_t buf[300];

	rec_fill(i, buf, rec_len(i));
	if (store_journal_append(j, rec_type(i), buf, rec_len(i)) != 0)
		_exit(21);
}

/* Appends forever until killed; reports after each durable commit. */
static void
child_writer(const struct tdir *t, int wfd, bool async)
{
	struct store_journal_opts o = opts_for(t);
	struct store_journal_report rep;
	struct store_journal *j;
	char err[256];
	uint64_t told = 0;

	if (store_journal_open(&j, &o, NULL, NULL, &rep, err, sizeof(err)))
		_exit(22);
	for (unsigned i = 0;; i++) {
		child_append(j, i);
		if (!async && store_journal_commit(j) != 0)
			_exit(23);
		if (async && store_journal_commit_async(j) != 0)
			_exit(24);
		if (async)
			(void)wait_poll(j, 1);
		if (store_journal_durable_gen(j) > told) {
			told = store_journal_durable_gen(j);
			child_report(wfd, told);
		}
	}
}

/* Read what the child reported; returns the highest durable count. */
static uint64_t
read_reports(int rfd)
{
	uint64_t v, best = 0;

	while (read(rfd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		assert_true(v >= best);
		best = v;
	}
	return best;
}

static void
kill9_round(unsigned round)
{
	struct tdir t;
	struct col c = {0};
	struct store_journal_report rep;
	struct store_journal *j;
	uint64_t told;
	int fds[2], status;
	pid_t pid;

	tdir_new(&t);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_writer(&t, fds[1], round % 2);
	}
	close(fds[1]);
	usleep(10000 + (useconds_t)(rand() % 90000));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	told = read_reports(fds[0]);
	close(fds[0]);
	j = jopen(&t, &c, &rep);
	assert_true(c.n >= told);
	col_check_seq(&c, (unsigned)c.n);
	jclose(j);
	col_free(&c);
	tdir_rm(&t);
}

static void
test_kill9(void **state UNUSED)
{
	srand((unsigned)time(NULL));
	for (unsigned round = 0; round < 20; round++)
		kill9_round(round);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_torn_every_offset),
	    cmocka_unit_test(test_zero_tail),
	    cmocka_unit_test(test_flipped_bits),
	    cmocka_unit_test(test_garbage_header),
	    cmocka_unit_test(test_refuse_corrupt),
	    cmocka_unit_test(test_foreign_version),
	    cmocka_unit_test(test_torn_header),
	    cmocka_unit_test(test_tmp_removed),
	    cmocka_unit_test(test_rewrite),
	    cmocka_unit_test(test_rewrite_abort),
	    cmocka_unit_test(test_rewrite_crash),
	    cmocka_unit_test(test_disk_cap),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_async),
	    cmocka_unit_test(test_async_then_sync),
	    cmocka_unit_test(test_sync_policies),
	    cmocka_unit_test(test_lock_and_mkdir),
	    cmocka_unit_test(test_dir_forms),
	    cmocka_unit_test(test_replay_refused),
	    cmocka_unit_test(test_write_error),
	    cmocka_unit_test(test_kill9),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
