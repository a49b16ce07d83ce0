/*
 * store_journal.c - see store_journal.h.
 *
 * Layout of the work: the loop thread appends into wbuf. A commit either
 * writes wbuf itself (store_journal_commit) or swaps it with the empty
 * batch buffer and wakes the helper thread (store_journal_commit_async).
 * While a batch is busy the thread owns batch, fd and size; the loop
 * touches them again only after it saw done under mu. Every write goes
 * with pwrite() at size, the end of the last good commit, so the file
 * position never matters.
 */
#include "core/store_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SJ_MAGIC 0x4a524e4cu /* struct check, not the file magic */
#define SJ_OVERHEAD STORE_JOURNAL_RECORD_OVERHEAD
#define SJ_HEADER STORE_JOURNAL_HEADER_LEN
/* Reader buffer and rewrite write size: big sequential I/O. */
#define SJ_CHUNK (1024 * 1024)
/* An idle buffer larger than this (after a huge record) is freed. */
#define SJ_BUF_KEEP (16 * 1024 * 1024)
/* .bad, .bad.1 ... .bad.999: then give up rather than loop forever. */
#define SJ_BAD_MAX 1000

static const uint8_t sj_file_magic[8] = "JUNCTDB";

/* What the load of an existing file concluded. */
enum sj_load {
	SJ_ERR = -1, /* open fails, err says why */
	SJ_OK = 0,
	SJ_MISSING, /* no journal (or a torn header): create one */
	SJ_CORRUPT, /* unreadable: move aside or refuse */
};

/* What reading the next record found. */
enum sj_rec {
	SJ_REC_OK,
	SJ_REC_END, /* clean end of file */
	SJ_REC_BAD, /* torn or damaged: the journal ends here */
	SJ_REC_IOERR, /* read() failed: errno */
};

struct sj_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

struct sj_reader {
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t pos; /* next unconsumed byte in buf */
	size_t end; /* end of the bytes read into buf */
	uint64_t off; /* file offset of buf[pos] */
	uint64_t size; /* file size when the load started */
};

struct sj_record {
	uint8_t type;
	uint32_t len;
	const uint8_t *payload;
	uint64_t off;
};

struct store_journal {
	uint32_t magic;
	struct store_journal_opts o; /* o.dir points at dir below */
	char *dir;
	char *path;
	char *tmp_path;
	int dirfd; /* flock()ed; fsync()ed after renames */
	int fd;
	int evfd;
	uint64_t size; /* bytes of the file written by commits */
	struct sj_buf wbuf; /* appended, not handed to a commit yet */
	uint64_t append_gen;
	uint64_t durable_gen;
	int err; /* sticky errno: the journal failed */
	uint64_t last_sync_ms;
	bool unsynced; /* written since the last sync */

	/* Group commit. busy is the loop's: a batch is handed over. */
	bool busy;
	struct sj_buf batch;
	uint64_t batch_gen;
	uint64_t batch_at; /* ms when handed over */
	bool batch_sync;
	pthread_t thread;
	bool thread_on;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	pthread_cond_t done_cv;
	bool work; /* (mu) batch ready for the thread */
	bool done; /* (mu) the thread finished it, batch_err says how */
	bool stop; /* (mu) */
	int batch_err; /* (mu) */

	/* Rewrite into tmp_path. */
	bool rewriting;
	int rw_fd;
	int rw_err; /* sticky within one rewrite */
	uint64_t rw_size;
	struct sj_buf rw_buf;
};

/* ---- small helpers ---- */

static void
sj_check(const struct store_journal *j)
{
	ASSERT(j != NULL && j->magic == SJ_MAGIC);
}

static uint64_t
sj_now_ms(void)
{
	struct timespec ts;

	ASSERT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t
sj_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
sj_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

PRINTF(3, 4)
static int
sj_fmt(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "path: what: strerror(errno)"; returns -1 with errno kept. */
static int
sj_syserr(char *err, size_t errlen, const char *what, const char *path)
{
	int e = errno;

	sj_fmt(err, errlen, "%s: %s: %s", path, what, strerror(e));
	errno = e;
	return -1;
}

/* The journal has failed for good: every later call returns this. */
static int
sj_fail(struct store_journal *j, int e)
{
	if (j->err == 0)
		j->err = e != 0 ? e : EIO;
	errno = j->err;
	return -1;
}

static char *
sj_join(const char *dir, const char *name, const char *suffix)
{
	size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
	char *s = xmalloc(n);

	snprintf(s, n, "%s/%s%s", dir, name, suffix);
	return s;
}

/* ---- CRC-32C, slicing-by-8 over a table built once ---- */

static uint32_t sj_crc_table[8][256];
static pthread_once_t sj_crc_once = PTHREAD_ONCE_INIT;

static void
sj_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		sj_crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = sj_crc_table[t - 1][i];

			sj_crc_table[t][i] =
			    (c >> 8) ^ sj_crc_table[0][c & 0xff];
		}
	}
}

static uint32_t
sj_crc_8(uint32_t crc, const uint8_t *b)
{
	uint32_t lo = crc ^ sj_get_le32(b);
	uint32_t hi = sj_get_le32(b + 4);

	return sj_crc_table[7][lo & 0xff] ^ sj_crc_table[6][(lo >> 8) & 0xff] ^
	    sj_crc_table[5][(lo >> 16) & 0xff] ^ sj_crc_table[4][lo >> 24] ^
	    sj_crc_table[3][hi & 0xff] ^ sj_crc_table[2][(hi >> 8) & 0xff] ^
	    sj_crc_table[1][(hi >> 16) & 0xff] ^ sj_crc_table[0][hi >> 24];
}

uint32_t
store_journal_crc32c(uint32_t crc, const void *p, size_t len)
{
	const uint8_t *b = p;

	pthread_once(&sj_crc_once, sj_crc_init);
	crc = ~crc;
	for (; len >= 8; len -= 8, b += 8)
		crc = sj_crc_8(crc, b);
	for (; len > 0; len--, b++)
		crc = sj_crc_table[0][(crc ^ *b) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
sj_record_crc(uint8_t type, const uint8_t *payload, size_t len)
{
	return store_journal_crc32c(
	    store_journal_crc32c(0, &type, 1), payload, len);
}

/* ---- buffers ---- */

static void
sj_buf_reserve(struct sj_buf *b, size_t more)
{
	size_t need = b->len + more;
	size_t cap = MAX(b->cap, (size_t)4096);

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void
sj_buf_free(struct sj_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Empty the buffer; give memory back after an unusually large batch. */
static void
sj_buf_reset(struct sj_buf *b)
{
	b->len = 0;
	if (b->cap > SJ_BUF_KEEP)
		sj_buf_free(b);
}

static void
sj_header(uint8_t h[SJ_HEADER])
{
	memcpy(h, sj_file_magic, sizeof(sj_file_magic));
	sj_put_le32(h + 8, 1); /* format version */
	sj_put_le32(h + 12, 0); /* flags */
}

static void
sj_buf_record(struct sj_buf *b, uint8_t type, const void *payload, size_t len)
{
	uint8_t *h;

	sj_buf_reserve(b, SJ_OVERHEAD + len);
	h = b->p + b->len;
	sj_put_le32(h, (uint32_t)len);
	sj_put_le32(h + 4, sj_record_crc(type, payload, len));
	h[8] = type;
	if (len > 0)
		memcpy(h + SJ_OVERHEAD, payload, len);
	b->len += SJ_OVERHEAD + len;
}

/* ---- file primitives ---- */

static int
sj_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* One commit: the buffer at off, then fdatasync if asked. */
static int
sj_write_batch(int fd, const struct sj_buf *b, uint64_t off, bool sync)
{
	if (b->len > 0 && sj_pwrite_all(fd, b->p, b->len, off) != 0)
		return -1;
	if (sync && fdatasync(fd) != 0)
		return -1;
	return 0;
}

/* fsync the directory holding path, so a new entry in it is durable. */
static int
sj_sync_parent(char *path)
{
	char *slash = strrchr(path, '/');
	bool cut = slash != NULL && slash != path;
	int fd, r;

	if (cut)
		*slash = '\0';
	fd = open(slash == NULL ? "."
	        : slash == path ? "/"
	                        : path,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cut)
		*slash = '/';
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* mkdir -p, syncing the parent of each directory it creates. */
static int
sj_mkdirs(char *path)
{
	char *slash;
	int r;

	if (mkdir(path, 0700) == 0)
		return sj_sync_parent(path);
	slash = strrchr(path, '/');
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT || slash == NULL || slash == path)
		return -1;
	*slash = '\0';
	r = sj_mkdirs(path);
	*slash = '/';
	if (r != 0)
		return -1;
	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? 0 : -1;
	return sj_sync_parent(path);
}

/* ---- open: directory, lock, leftovers ---- */

static struct store_journal *
sj_new(const struct store_journal_opts *o)
{
	struct store_journal *j = xcalloc(1, sizeof(*j));

	j->magic = SJ_MAGIC;
	j->o = *o;
	j->dir = xstrdup(o->dir != NULL && o->dir[0] != '\0' ? o->dir : ".");
	for (size_t n = strlen(j->dir); n > 1 && j->dir[n - 1] == '/'; n--)
		j->dir[n - 1] = '\0';
	j->o.dir = j->dir;
	j->path = sj_join(j->dir, STORE_JOURNAL_FILE, "");
	j->tmp_path = sj_join(j->dir, STORE_JOURNAL_FILE, ".tmp");
	j->dirfd = j->fd = j->evfd = j->rw_fd = -1;
	j->last_sync_ms = sj_now_ms();
	ASSERT(pthread_mutex_init(&j->mu, NULL) == 0);
	ASSERT(pthread_cond_init(&j->work_cv, NULL) == 0);
	ASSERT(pthread_cond_init(&j->done_cv, NULL) == 0);
	return j;
}

static int
sj_open_dir(struct store_journal *j, char *err, size_t errlen)
{
	if (strlen(j->path) + 16 >= STORE_JOURNAL_PATH_MAX)
		return sj_fmt(err, errlen, "%s: path too long", j->dir);
	if (sj_mkdirs(j->dir) != 0)
		return sj_syserr(err, errlen, "mkdir", j->dir);
	j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0)
		return sj_syserr(err, errlen, "open", j->dir);
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return sj_fmt(err, errlen,
		    "%s: journal in use by another process", j->dir);
	return sj_syserr(err, errlen, "flock", j->dir);
}

/* A .tmp is an uncommitted rewrite or creation: garbage by definition. */
static int
sj_drop_tmp(struct store_journal *j, struct store_journal_report *rep,
    char *err, size_t errlen)
{
	if (unlink(j->tmp_path) != 0) {
		if (errno == ENOENT)
			return 0;
		return sj_syserr(err, errlen, "unlink", j->tmp_path);
	}
	rep->tmp_removed = true;
	return 0;
}

/* ---- open: reading ---- */

static void
sj_reader_init(struct sj_reader *r, int fd, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->size = size;
	r->cap = SJ_CHUNK;
	r->buf = xmalloc(r->cap);
}

static void
sj_reader_room(struct sj_reader *r, size_t n)
{
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	if (n > r->cap) {
		r->buf = xrealloc(r->buf, n);
		r->cap = n;
	}
}

/*
 * Make n bytes available at buf + pos. Returns 0, 1 when the file ended
 * first (it shrank under us: treated as a torn tail) or -1 with errno.
 */
static int
sj_reader_need(struct sj_reader *r, size_t n)
{
	if (r->end - r->pos >= n)
		return 0;
	sj_reader_room(r, n);
	while (r->end - r->pos < n) {
		ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			return 1;
		r->end += (size_t)got;
	}
	return 0;
}

static void
sj_reader_skip(struct sj_reader *r, size_t n)
{
	r->pos += n;
	r->off += n;
}

/* Check a record header against what is left; NULL when plausible. */
static const char *
sj_record_bad(const uint8_t *h, uint64_t left)
{
	uint32_t len = sj_get_le32(h);

	if (h[8] == 0)
		return "record of type 0";
	if (len > STORE_JOURNAL_MAX_PAYLOAD)
		return "record length over the limit";
	if (len > left - SJ_OVERHEAD)
		return "record runs past the end of the file";
	return NULL;
}

/* Read the record at r->off; on SJ_REC_BAD *why says what was wrong. */
static enum sj_rec
sj_next_record(struct sj_reader *r, struct sj_record *rec, const char **why)
{
	uint64_t left = r->size - r->off;
	const uint8_t *h;
	int got;

	*why = "short record header";
	if (left == 0)
		return SJ_REC_END;
	if (left < SJ_OVERHEAD)
		return SJ_REC_BAD;
	if ((got = sj_reader_need(r, SJ_OVERHEAD)) != 0)
		return got < 0 ? SJ_REC_IOERR : SJ_REC_BAD;
	if ((*why = sj_record_bad(r->buf + r->pos, left)) != NULL)
		return SJ_REC_BAD;
	rec->len = sj_get_le32(r->buf + r->pos);
	*why = "file ended early";
	if ((got = sj_reader_need(r, SJ_OVERHEAD + rec->len)) != 0)
		return got < 0 ? SJ_REC_IOERR : SJ_REC_BAD;
	h = r->buf + r->pos;
	rec->type = h[8];
	rec->payload = h + SJ_OVERHEAD;
	rec->off = r->off;
	*why = "checksum mismatch";
	if (sj_record_crc(rec->type, rec->payload, rec->len) !=
	    sj_get_le32(h + 4))
		return SJ_REC_BAD;
	sj_reader_skip(r, SJ_OVERHEAD + rec->len);
	return SJ_REC_OK;
}

static int
sj_read_header(struct sj_reader *r, const char *path,
    struct store_journal_report *rep, char *err, size_t errlen)
{
	uint8_t want[SJ_HEADER];
	size_t n = (size_t)MIN(r->size, (uint64_t)SJ_HEADER);
	const uint8_t *h;

	sj_header(want);
	if (sj_reader_need(r, n) != 0) {
		snprintf(rep->detail, sizeof(rep->detail),
		    "header unreadable: %s", strerror(errno));
		return SJ_CORRUPT;
	}
	h = r->buf + r->pos;
	if (n < SJ_HEADER && memcmp(h, want, n) == 0) {
		/* Creation goes through a rename; still, a prefix of our own
		 * header can only be an interrupted start, never data. */
		rep->truncated_bytes = n;
		snprintf(rep->detail, sizeof(rep->detail), "torn header");
		return SJ_MISSING;
	}
	if (n < SJ_HEADER || memcmp(h, want, sizeof(sj_file_magic)) != 0) {
		snprintf(rep->detail, sizeof(rep->detail), "not a journal");
		return SJ_CORRUPT;
	}
	if (memcmp(h + 8, want + 8, 8) != 0)
		return sj_fmt(err, errlen,
		    "%s: format version %u (flags %#x) not supported", path,
		    sj_get_le32(h + 8), sj_get_le32(h + 12));
	sj_reader_skip(r, SJ_HEADER);
	return SJ_OK;
}

static int
sj_replay(struct sj_reader *r, store_journal_replay_fn *fn, void *arg,
    struct store_journal_report *rep, char *err, size_t errlen)
{
	struct sj_record rec;
	const char *why;
	enum sj_rec st;

	while ((st = sj_next_record(r, &rec, &why)) == SJ_REC_OK) {
		if (fn != NULL && fn(arg, rec.type, rec.payload, rec.len) != 0)
			return sj_fmt(err, errlen,
			    "replay refused record %llu (type %u, offset %llu)",
			    (unsigned long long)rep->records, rec.type,
			    (unsigned long long)rec.off);
		rep->records++;
	}
	if (st == SJ_REC_IOERR) {
		snprintf(rep->detail, sizeof(rep->detail),
		    "read error at offset %llu: %s", (unsigned long long)r->off,
		    strerror(errno));
		return SJ_CORRUPT;
	}
	if (st == SJ_REC_BAD)
		snprintf(rep->detail, sizeof(rep->detail), "%s at offset %llu",
		    why, (unsigned long long)r->off);
	return SJ_OK;
}

/*
 * Cut the torn tail so appends continue after the last good record, and
 * sync what was replayed: records a killed process wrote but never
 * synced are still in the page cache, and the broker must not act on
 * state that a power cut could take back.
 */
static int
sj_cut_tail(int fd, const struct sj_reader *r, const char *path,
    struct store_journal_report *rep, char *err, size_t errlen)
{
	if (r->off != r->size && ftruncate(fd, (off_t)r->off) != 0)
		return sj_syserr(err, errlen, "truncate", path);
	if (fsync(fd) != 0)
		return sj_syserr(err, errlen, "fsync", path);
	rep->truncated_bytes = r->size - r->off;
	return SJ_OK;
}

static int
sj_scan(struct store_journal *j, int fd, uint64_t size,
    store_journal_replay_fn *fn, void *arg, struct store_journal_report *rep,
    char *err, size_t errlen)
{
	struct sj_reader r;
	int rc;

	sj_reader_init(&r, fd, size);
	rc = sj_read_header(&r, j->path, rep, err, errlen);
	if (rc == SJ_OK)
		rc = sj_replay(&r, fn, arg, rep, err, errlen);
	if (rc == SJ_OK)
		rc = sj_cut_tail(fd, &r, j->path, rep, err, errlen);
	if (rc == SJ_OK)
		j->size = r.off;
	free(r.buf);
	return rc;
}

/* Replay an existing journal; on SJ_OK it is open for appending. */
static int
sj_load(struct store_journal *j, store_journal_replay_fn *fn, void *arg,
    struct store_journal_report *rep, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(j->path, O_RDWR | O_CLOEXEC);
	int rc;

	if (fd < 0 && errno == ENOENT)
		return SJ_MISSING;
	if (fd < 0)
		return sj_syserr(err, errlen, "open", j->path);
	if (fstat(fd, &st) != 0)
		rc = sj_syserr(err, errlen, "stat", j->path);
	else
		rc = sj_scan(
		    j, fd, (uint64_t)st.st_size, fn, arg, rep, err, errlen);
	if (rc == SJ_OK)
		j->fd = fd;
	else
		close(fd);
	return rc;
}

/* ---- open: creating, moving aside ---- */

/* Header into the .tmp, synced, renamed over: never a headerless file. */
static int
sj_create(struct store_journal *j, struct store_journal_report *rep, char *err,
    size_t errlen)
{
	uint8_t h[SJ_HEADER];
	int fd =
	    open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return sj_syserr(err, errlen, "create", j->tmp_path);
	sj_header(h);
	if (sj_pwrite_all(fd, h, sizeof(h), 0) != 0 || fsync(fd) != 0 ||
	    rename(j->tmp_path, j->path) != 0 || fsync(j->dirfd) != 0) {
		sj_syserr(err, errlen, "create", j->path);
		close(fd);
		(void)unlink(j->tmp_path);
		return -1;
	}
	j->fd = fd;
	j->size = SJ_HEADER;
	rep->created = true;
	return 0;
}

static void
sj_bad_name(const struct store_journal *j, unsigned n, char *out)
{
	if (n == 0)
		snprintf(out, STORE_JOURNAL_PATH_MAX, "%s.bad", j->path);
	else
		snprintf(out, STORE_JOURNAL_PATH_MAX, "%s.bad.%u", j->path, n);
}

/* We hold the directory lock, so check-then-rename does not race. */
static int
sj_move_bad(struct store_journal *j, struct store_journal_report *rep,
    char *err, size_t errlen)
{
	struct stat st;

	for (unsigned n = 0; n < SJ_BAD_MAX; n++) {
		sj_bad_name(j, n, rep->bad_path);
		if (lstat(rep->bad_path, &st) == 0)
			continue;
		if (rename(j->path, rep->bad_path) != 0 || fsync(j->dirfd) != 0)
			return sj_syserr(err, errlen, "move aside", j->path);
		rep->corrupt = true;
		return 0;
	}
	return sj_fmt(err, errlen, "%s: too many .bad files", j->path);
}

static int
sj_recover(struct store_journal *j, store_journal_replay_fn *fn, void *arg,
    struct store_journal_report *rep, char *err, size_t errlen)
{
	int rc = sj_load(j, fn, arg, rep, err, errlen);

	if (rc == SJ_CORRUPT && j->o.refuse_corrupt)
		return sj_fmt(err, errlen,
		    "%s: corrupt journal (%s); refusing to start", j->path,
		    rep->detail);
	if (rc == SJ_CORRUPT && sj_move_bad(j, rep, err, errlen) != 0)
		return -1;
	if (rc == SJ_CORRUPT || rc == SJ_MISSING)
		return sj_create(j, rep, err, errlen);
	return rc;
}

/* ---- group commit thread ---- */

static void *
sj_thread_main(void *arg)
{
	struct store_journal *j = arg;
	int e;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (!j->work && !j->stop)
			pthread_cond_wait(&j->work_cv, &j->mu);
		if (!j->work)
			break;
		j->work = false;
		pthread_mutex_unlock(&j->mu);
		e = sj_write_batch(j->fd, &j->batch, j->size, j->batch_sync);
		e = e != 0 ? errno : 0;
		pthread_mutex_lock(&j->mu);
		j->batch_err = e;
		j->done = true;
		pthread_cond_signal(&j->done_cv);
		(void)eventfd_write(j->evfd, 1);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static int
sj_start(struct store_journal *j, char *err, size_t errlen)
{
	int e;

	j->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (j->evfd < 0)
		return sj_syserr(err, errlen, "eventfd", j->path);
	e = pthread_create(&j->thread, NULL, sj_thread_main, j);
	if (e != 0)
		return sj_fmt(
		    err, errlen, "%s: thread: %s", j->path, strerror(e));
	j->thread_on = true;
	return 0;
}

static void
sj_stop(struct store_journal *j)
{
	if (!j->thread_on)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = true;
	pthread_cond_signal(&j->work_cv);
	pthread_mutex_unlock(&j->mu);
	ASSERT(pthread_join(j->thread, NULL) == 0);
	j->thread_on = false;
}

static void
sj_free(struct store_journal *j)
{
	sj_stop(j);
	if (j->fd >= 0)
		close(j->fd);
	if (j->evfd >= 0)
		close(j->evfd);
	if (j->dirfd >= 0)
		close(j->dirfd); /* releases the flock */
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->work_cv);
	pthread_cond_destroy(&j->done_cv);
	sj_buf_free(&j->wbuf);
	sj_buf_free(&j->batch);
	sj_buf_free(&j->rw_buf);
	free(j->dir);
	free(j->path);
	free(j->tmp_path);
	j->magic = 0;
	free(j);
}

/* ---- commit ---- */

/* Should this commit sync? Only if there is something unsynced. */
static bool
sj_sync_wanted(const struct store_journal *j, uint64_t now)
{
	if (j->wbuf.len == 0 && !j->unsynced)
		return false;
	switch (j->o.sync) {
	case STORE_JOURNAL_SYNC_ALWAYS:
		return true;
	case STORE_JOURNAL_SYNC_INTERVAL:
		return now - j->last_sync_ms >= j->o.sync_interval_ms;
	default:
		return false;
	}
}

/* A batch of len bytes up to generation gen reached the file. */
static void
sj_committed(
    struct store_journal *j, size_t len, uint64_t gen, bool synced, uint64_t at)
{
	j->size += len;
	j->durable_gen = MAX(j->durable_gen, gen);
	if (synced) {
		j->unsynced = false;
		j->last_sync_ms = at;
	} else if (len > 0) {
		j->unsynced = true;
	}
}

/* Take a finished batch back (waiting for it if asked). */
static bool
sj_collect(struct store_journal *j, bool wait)
{
	bool done;

	if (!j->busy)
		return false;
	pthread_mutex_lock(&j->mu);
	while (wait && !j->done)
		pthread_cond_wait(&j->done_cv, &j->mu);
	done = j->done;
	j->done = false;
	pthread_mutex_unlock(&j->mu);
	if (!done)
		return false;
	j->busy = false;
	if (j->batch_err != 0)
		(void)sj_fail(j, j->batch_err);
	else
		sj_committed(
		    j, j->batch.len, j->batch_gen, j->batch_sync, j->batch_at);
	sj_buf_reset(&j->batch);
	return true;
}

/* Hand wbuf to the thread if there is anything to write or sync. */
static void
sj_submit(struct store_journal *j)
{
	uint64_t now = sj_now_ms();
	bool sync = sj_sync_wanted(j, now);
	struct sj_buf empty = j->batch;

	ASSERT(!j->busy && j->err == 0 && !j->rewriting);
	if (j->wbuf.len == 0 && !sync)
		return;
	j->batch = j->wbuf;
	j->wbuf = empty;
	j->batch_gen = j->append_gen;
	j->batch_sync = sync;
	j->batch_at = now;
	j->busy = true;
	pthread_mutex_lock(&j->mu);
	j->work = true;
	pthread_cond_signal(&j->work_cv);
	pthread_mutex_unlock(&j->mu);
}

static int
sj_commit_now(struct store_journal *j)
{
	uint64_t now = sj_now_ms();
	bool sync = sj_sync_wanted(j, now);

	if (j->wbuf.len == 0 && !sync)
		return 0;
	if (sj_write_batch(j->fd, &j->wbuf, j->size, sync) != 0)
		return sj_fail(j, errno);
	sj_committed(j, j->wbuf.len, j->append_gen, sync, now);
	sj_buf_reset(&j->wbuf);
	return 0;
}

int
store_journal_commit(struct store_journal *j)
{
	sj_check(j);
	(void)sj_collect(j, true);
	if (j->err != 0)
		return sj_fail(j, j->err);
	if (j->rewriting)
		return 0;
	return sj_commit_now(j);
}

int
store_journal_commit_async(struct store_journal *j)
{
	sj_check(j);
	if (j->err != 0)
		return sj_fail(j, j->err);
	if (!j->busy && !j->rewriting)
		sj_submit(j);
	return 0;
}

uint64_t
store_journal_poll(struct store_journal *j)
{
	eventfd_t n;

	sj_check(j);
	(void)eventfd_read(j->evfd, &n);
	if (sj_collect(j, false) && j->err == 0 && !j->rewriting)
		sj_submit(j);
	return j->durable_gen;
}

/* ---- appends and accessors ---- */

static bool
sj_over_cap(const struct store_journal *j, size_t len)
{
	uint64_t total = j->size + j->wbuf.len + SJ_OVERHEAD + len;

	if (j->busy)
		total += j->batch.len;
	return j->o.max_bytes != 0 && total > j->o.max_bytes;
}

int
store_journal_append(
    struct store_journal *j, uint8_t type, const void *payload, size_t len)
{
	sj_check(j);
	ASSERT(type != 0 && (payload != NULL || len == 0));
	if (j->err != 0)
		return sj_fail(j, j->err);
	errno = EMSGSIZE;
	if (len > STORE_JOURNAL_MAX_PAYLOAD)
		return -1;
	errno = ENOSPC;
	if (sj_over_cap(j, len))
		return -1;
	sj_buf_record(&j->wbuf, type, payload, len);
	j->append_gen++;
	return 0;
}

int
store_journal_fd(const struct store_journal *j)
{
	sj_check(j);
	return j->evfd;
}

uint64_t
store_journal_append_gen(const struct store_journal *j)
{
	sj_check(j);
	return j->append_gen;
}

uint64_t
store_journal_durable_gen(const struct store_journal *j)
{
	sj_check(j);
	return j->durable_gen;
}

size_t
store_journal_pending(const struct store_journal *j)
{
	sj_check(j);
	return j->wbuf.len;
}

uint64_t
store_journal_file_bytes(const struct store_journal *j)
{
	sj_check(j);
	return j->size;
}

int
store_journal_error(const struct store_journal *j)
{
	sj_check(j);
	return j->err;
}

/* ---- rewrite ---- */

int
store_journal_rewrite_begin(struct store_journal *j)
{
	sj_check(j);
	ASSERT(!j->rewriting);
	(void)sj_collect(j, true);
	if (j->err != 0)
		return sj_fail(j, j->err);
	j->rw_fd =
	    open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (j->rw_fd < 0)
		return -1;
	j->rewriting = true;
	j->rw_err = 0;
	j->rw_size = 0;
	sj_buf_reserve(&j->rw_buf, SJ_HEADER);
	sj_header(j->rw_buf.p);
	j->rw_buf.len = SJ_HEADER;
	return 0;
}

static int
sj_rw_flush(struct store_journal *j)
{
	if (sj_pwrite_all(j->rw_fd, j->rw_buf.p, j->rw_buf.len, j->rw_size) !=
	    0) {
		j->rw_err = errno;
		return -1;
	}
	j->rw_size += j->rw_buf.len;
	j->rw_buf.len = 0;
	return 0;
}

int
store_journal_rewrite_append(
    struct store_journal *j, uint8_t type, const void *payload, size_t len)
{
	sj_check(j);
	ASSERT(j->rewriting && type != 0 && (payload != NULL || len == 0));
	if (j->rw_err == 0 && len > STORE_JOURNAL_MAX_PAYLOAD)
		j->rw_err = EMSGSIZE; /* a live record missing: never commit */
	errno = j->rw_err;
	if (j->rw_err != 0)
		return -1;
	sj_buf_record(&j->rw_buf, type, payload, len);
	if (j->rw_buf.len >= SJ_CHUNK)
		return sj_rw_flush(j);
	return 0;
}

/* Rewritten records, then the appends made meanwhile; sync; rename. */
static int
sj_rw_finish(struct store_journal *j)
{
	if (j->rw_err != 0) {
		errno = j->rw_err;
		return -1;
	}
	if (sj_rw_flush(j) != 0 ||
	    sj_pwrite_all(j->rw_fd, j->wbuf.p, j->wbuf.len, j->rw_size) != 0)
		return -1;
	if (fsync(j->rw_fd) != 0)
		return -1;
	return rename(j->tmp_path, j->path);
}

/* The rename happened: the new file is the journal. */
static int
sj_rw_switch(struct store_journal *j)
{
	uint64_t now = sj_now_ms();

	close(j->fd);
	j->fd = j->rw_fd;
	j->rw_fd = -1;
	j->rewriting = false;
	j->size = j->rw_size + j->wbuf.len;
	sj_buf_reset(&j->wbuf);
	sj_buf_free(&j->rw_buf);
	if (fsync(j->dirfd) != 0)
		return sj_fail(j, errno);
	j->durable_gen = j->append_gen;
	j->unsynced = false;
	j->last_sync_ms = now;
	return 0;
}

int
store_journal_rewrite_end(struct store_journal *j)
{
	int e;

	sj_check(j);
	ASSERT(j->rewriting);
	if (j->err == 0 && sj_rw_finish(j) == 0)
		return sj_rw_switch(j);
	e = j->err != 0 ? j->err : errno;
	store_journal_rewrite_abort(j);
	errno = e;
	return -1;
}

void
store_journal_rewrite_abort(struct store_journal *j)
{
	sj_check(j);
	if (!j->rewriting)
		return;
	close(j->rw_fd);
	j->rw_fd = -1;
	(void)unlink(j->tmp_path);
	sj_buf_free(&j->rw_buf);
	j->rewriting = false;
}

/* ---- open / close ---- */

int
store_journal_open(struct store_journal **jp,
    const struct store_journal_opts *o, store_journal_replay_fn *fn, void *arg,
    struct store_journal_report *rep, char *err, size_t errlen)
{
	uint64_t t0 = sj_now_ms();
	struct store_journal *j;
	int rc = -1;

	*jp = NULL;
	memset(rep, 0, sizeof(*rep));
	if (errlen > 0)
		err[0] = '\0';
	j = sj_new(o);
	if (sj_open_dir(j, err, errlen) != 0 ||
	    sj_drop_tmp(j, rep, err, errlen) != 0 ||
	    sj_recover(j, fn, arg, rep, err, errlen) != 0 ||
	    sj_start(j, err, errlen) != 0)
		goto out;
	rep->bytes = j->size;
	*jp = j;
	j = NULL;
	rc = 0;
out:
	if (j != NULL)
		sj_free(j);
	rep->elapsed_ms = sj_now_ms() - t0;
	return rc;
}

int
store_journal_close(struct store_journal *j)
{
	int e;

	if (j == NULL)
		return 0;
	sj_check(j);
	store_journal_rewrite_abort(j);
	(void)sj_collect(j, true);
	if (j->err == 0 && sj_write_batch(j->fd, &j->wbuf, j->size, true) != 0)
		(void)sj_fail(j, errno);
	e = j->err;
	sj_free(j);
	errno = e;
	return e != 0 ? -1 : 0;
}
