/*
 * fuzz_store_journal.c - libFuzzer target over journal recovery: the
 * input is written as junction.db and opened.
 *
 * Build and run from the repository root (tmpfs keeps fsync cheap):
 *
 *	clang -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE \
 *	    tests/fuzz/fuzz_store_journal.c core/store_journal.c \
 *	    core/util.c -lpthread -o /tmp/fzj
 *	mkdir -p /tmp/fzj-corpus
 *	TMPDIR=/dev/shm /tmp/fzj -max_total_time=120 /tmp/fzj-corpus
 *
 * Beyond "no crash, no sanitizer report" it checks recovery against an
 * independent model (a plain byte-at-a-time parser with a bitwise
 * CRC-32C): exactly the records up to the first bad one are replayed,
 * byte for byte, the file is cut right after them, a garbage header is
 * moved aside, a foreign version fails, and an append after recovery
 * comes back after the kept records on the next open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/store_journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR STORE_JOURNAL_HEADER_LEN
#define OVH STORE_JOURNAL_RECORD_OVERHEAD

static const uint8_t want_hdr[HDR] = "JUNCTDB\0\1\0\0\0\0\0\0";

/* The model: where the good records are in the input. */
struct model {
	int header; /* 0 ok, 1 torn prefix/empty, 2 garbage, 3 version */
	size_t n;
	size_t off[4096];
	size_t end; /* end of the last good record */
};

static char dir[64];
static char db[128];

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint32_t
ref_crc(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

static bool
model_record_ok(const uint8_t *d, size_t left)
{
	uint32_t len;

	if (left < OVH)
		return false;
	len = le32(d);
	if (d[8] == 0 || len > STORE_JOURNAL_MAX_PAYLOAD || len > left - OVH)
		return false;
	return ref_crc(ref_crc(0, d + 8, 1), d + OVH, len) == le32(d + 4);
}

static void
model_build(struct model *m, const uint8_t *d, size_t size)
{
	memset(m, 0, sizeof(*m));
	if (size < HDR)
		m->header = memcmp(d, want_hdr, size) == 0 ? 1 : 2;
	else if (memcmp(d, want_hdr, 8) != 0)
		m->header = 2;
	else if (memcmp(d + 8, want_hdr + 8, 8) != 0)
		m->header = 3;
	if (m->header != 0)
		return;
	m->end = HDR;
	while (m->n < 4096 && model_record_ok(d + m->end, size - m->end)) {
		m->off[m->n++] = m->end;
		m->end += OVH + le32(d + m->end);
	}
}

struct check {
	const struct model *m;
	const uint8_t *data;
	size_t seen;
	bool extra; /* expect the fuzzer's own appended record last */
};

static int
on_record(void *arg, uint8_t type, const uint8_t *p, size_t len)
{
	struct check *c = arg;
	const uint8_t *r;

	if (c->extra && c->seen == c->m->n) {
		ASSERT(type == 7 && len == 3 && memcmp(p, "end", 3) == 0);
		c->seen++;
		return 0;
	}
	ASSERT(c->seen < c->m->n);
	r = c->data + c->m->off[c->seen++];
	ASSERT(type == r[8] && len == le32(r));
	ASSERT(memcmp(p, r + OVH, len) == 0);
	return 0;
}

static void
write_file(const char *path, const uint8_t *d, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ASSERT(fd >= 0);
	ASSERT(size == 0 || write(fd, d, size) == (ssize_t)size);
	close(fd);
}

static uint64_t
size_of(const char *path)
{
	struct stat st;

	ASSERT(stat(path, &st) == 0);
	return (uint64_t)st.st_size;
}

static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	if (dir[0] != '\0')
		return;
	snprintf(dir, sizeof(dir), "%s/fzj.XXXXXX", t ? t : "/tmp");
	ASSERT(mkdtemp(dir) != NULL);
	snprintf(db, sizeof(db), "%s/junction.db", dir);
}

/* Open, check against the model, append one record, close. */
static void
first_open(const struct model *m, const uint8_t *data, size_t size)
{
	struct store_journal_opts o = {.dir = dir};
	struct store_journal_report rep;
	struct store_journal *j;
	struct check c = {.m = m, .data = data};
	char err[128];
	char bad[200];

	o.sync = STORE_JOURNAL_SYNC_NEVER;
	if (store_journal_open(&j, &o, on_record, &c, &rep, err, sizeof(err))) {
		ASSERT(m->header == 3 && j == NULL && c.seen == 0);
		ASSERT(size_of(db) == size);
		return;
	}
	ASSERT(m->header != 3 && rep.records == m->n && c.seen == m->n);
	ASSERT(rep.corrupt == (m->header == 2));
	ASSERT(rep.created == (m->header != 0));
	if (m->header == 0)
		ASSERT(rep.truncated_bytes == size - m->end);
	ASSERT(store_journal_file_bytes(j) == (m->header ? HDR : m->end));
	ASSERT(size_of(db) == store_journal_file_bytes(j));
	ASSERT(store_journal_append(j, 7, "end", 3) == 0);
	ASSERT(store_journal_close(j) == 0);
	snprintf(bad, sizeof(bad), "%s.bad", db);
	ASSERT(unlink(bad) == (m->header == 2 ? 0 : -1));
}

/* The appended record lands right after the records that were kept. */
static void
second_open(const struct model *m, const uint8_t *data)
{
	struct store_journal_opts o = {.dir = dir};
	struct store_journal_report rep;
	struct store_journal *j;
	struct model none = {0};
	struct check c = {.m = m->header ? &none : m, .data = data};
	char err[128];

	c.extra = true;
	o.sync = STORE_JOURNAL_SYNC_NEVER;
	ASSERT(store_journal_open(
	           &j, &o, on_record, &c, &rep, err, sizeof(err)) == 0);
	ASSERT(c.seen == c.m->n + 1 && rep.truncated_bytes == 0);
	ASSERT(store_journal_close(j) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;

	setup();
	model_build(&m, data, size);
	if (m.n == 4096)
		return 0; /* beyond the model's table; not worth a bigger one */
	write_file(db, data, size);
	first_open(&m, data, size);
	if (m.header != 3)
		second_open(&m, data);
	(void)unlink(db);
	return 0;
}
