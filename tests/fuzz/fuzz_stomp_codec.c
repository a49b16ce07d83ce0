/*
 * Build: clang -g -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE tests/fuzz/fuzz_stomp_codec.c protocols/stomp/stomp_codec.c protocols/stomp/stomp_dest.c core/util.c -o build/fuzz_stomp_codec
 *
 * fuzz_stomp_codec.c - libFuzzer target for the STOMP codec and the
 * destination mapping.
 *
 * Input: byte 0 picks the version and the chunk size a slow peer would
 * use, byte 1 picks tight or roomy limits; the rest is a byte stream.
 * The stream is framed whole and again in chunks with one resumable
 * state: both must find the same frames and end the same way (the error
 * code may differ: a chunked feed can see a long line before its frame
 * grows too big). Each frame is decoded from an exact-size copy (ASan
 * sees any read past it); what decodes is re-encoded, which must succeed,
 * frame to exactly its length, decode to the same frame and re-encode to
 * the same bytes. The stream is also run through the destination mapping
 * (parse as name and filter; a parsed name maps back to itself) and the
 * accept-version and heart-beat parsers. Any violated property aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/stomp/stomp_codec.h"
#include "protocols/stomp/stomp_dest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_HDRS 64
#define FZ_FRAMES 64
#define FZ_CHECK(x) ASSERT(x)

static const struct stomp_limits fz_tight = {200, 4, 40, 100};
static const struct stomp_limits fz_roomy = {1u << 16, 32, 1024, 1u << 16};

/* Where framing found each frame, and how the stream ended. */
struct fz_trace {
	size_t off[FZ_FRAMES];
	size_t len[FZ_FRAMES];
	size_t n;
	int last; /* STOMP_MORE or STOMP_ERR */
};

/* Frame data[0 .. size), revealing chunk more bytes on each MORE. */
static void
fz_frame_stream(const uint8_t *data, size_t size, size_t chunk,
    const struct stomp_limits *lim, struct fz_trace *t)
{
	struct stomp_scan s;
	size_t pos = 0, avail = MIN(chunk, size);

	stomp_scan_reset(&s);
	t->n = 0;
	for (;;) {
		enum stomp_err err;
		size_t skip, flen;
		int st = stomp_frame_len(
		    &s, data + pos, avail - pos, lim, &skip, &flen, &err);

		pos += skip;
		FZ_CHECK(pos <= avail);
		if (st == STOMP_OK) {
			FZ_CHECK(flen > 0 && pos + flen <= avail);
			FZ_CHECK(data[pos + flen - 1] == 0);
			if (t->n == FZ_FRAMES)
				break;
			t->off[t->n] = pos;
			t->len[t->n++] = flen;
			pos += flen;
			continue;
		}
		FZ_CHECK(st == STOMP_ERR ? err != STOMP_E_NONE
		                         : err == STOMP_E_NONE);
		if (st == STOMP_ERR || avail == size) {
			t->last = st;
			return;
		}
		avail = MIN(avail + chunk, size);
	}
	t->last = STOMP_OK; /* frame table full */
}

static bool
fz_header_eq(const struct stomp_header *a, const struct stomp_header *b)
{
	return a->name_len == b->name_len && a->value_len == b->value_len &&
	    memcmp(a->name, b->name, a->name_len) == 0 &&
	    memcmp(a->value, b->value, a->value_len) == 0;
}

static bool
fz_frame_eq(const struct stomp_frame *a, const struct stomp_frame *b)
{
	if (a->cmd != b->cmd || a->nhdr != b->nhdr ||
	    a->body_len != b->body_len)
		return false;
	for (size_t i = 0; i < a->nhdr; i++) {
		if (!fz_header_eq(&a->hdr[i], &b->hdr[i]))
			return false;
	}
	return a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0;
}

/* Frame a whole buffer with roomy limits: OK, no skip, all of it? */
static bool
fz_frames_whole(const uint8_t *b, size_t n)
{
	static const struct stomp_limits any = {
	    SIZE_MAX, FZ_HDRS, SIZE_MAX, SIZE_MAX};
	struct stomp_scan s;
	enum stomp_err err;
	size_t skip, flen;

	stomp_scan_reset(&s);
	return stomp_frame_len(&s, b, n, &any, &skip, &flen, &err) ==
	    STOMP_OK &&
	    skip == 0 && flen == n;
}

/*
 * Can f be written back? The one thing a decoded frame may hold that the
 * wire cannot carry back is a value ending in CR where CR is not escaped
 * (1.0, 1.1, CONNECT): "a:x\r\r\n" reads as value "x\r" with a CRLF.
 */
static bool
fz_encodable(const struct stomp_frame *f, unsigned version)
{
	bool ok = true;

	for (size_t i = 0; i < f->nhdr; i++) {
		const struct stomp_header *h = &f->hdr[i];

		if (stomp_header_is_encodable(version, f->cmd, h))
			continue;
		FZ_CHECK(
		    h->value_len > 0 && h->value[h->value_len - 1] == '\r');
		ok = false;
	}
	return ok;
}

/* Encode f; the bytes must frame whole and decode back to f. */
static void
fz_reencode(const struct stomp_frame *f, unsigned version)
{
	size_t cap = stomp_encode_head_len(
	                 version, f->cmd, f->hdr, f->nhdr, STOMP_NO_CLEN) +
	    f->body_len + 1;
	uint8_t *enc = malloc(cap), *enc2 = malloc(cap), *copy = malloc(cap);
	struct stomp_header hdr[FZ_HDRS];
	struct stomp_frame g = {.hdr = hdr, .hdr_cap = FZ_HDRS};
	enum stomp_err err;
	size_t n;

	FZ_CHECK(enc != NULL && enc2 != NULL && copy != NULL);
	n = stomp_encode(enc, cap, version, f, false);
	FZ_CHECK(n == cap);
	memcpy(copy, enc, n);
	FZ_CHECK(fz_frames_whole(copy, n));
	FZ_CHECK(stomp_decode(copy, n, version, &g, &err) == STOMP_OK);
	FZ_CHECK(fz_frame_eq(f, &g));
	FZ_CHECK(stomp_encode(enc2, cap, version, &g, false) == n);
	FZ_CHECK(memcmp(enc, enc2, n) == 0);
	free(copy);
	free(enc2);
	free(enc);
}

/* Decode one frame from an exact-size copy; re-encode what decodes. */
static void
fz_decode(const uint8_t *p, size_t len, unsigned version)
{
	uint8_t *copy = malloc(len);
	struct stomp_header hdr[FZ_HDRS];
	struct stomp_frame f = {.hdr = hdr, .hdr_cap = FZ_HDRS};
	enum stomp_err err;

	FZ_CHECK(copy != NULL);
	memcpy(copy, p, len);
	if (stomp_decode(copy, len, version, &f, &err) == STOMP_OK) {
		FZ_CHECK(err == STOMP_E_NONE && f.nhdr <= FZ_HDRS);
		FZ_CHECK(f.body + f.body_len == copy + len - 1);
		if (fz_encodable(&f, version))
			fz_reencode(&f, version);
	} else {
		/* framing already vouched for command, count, body and NUL */
		FZ_CHECK(
		    err == STOMP_E_BAD_HEADER || err == STOMP_E_BAD_ESCAPE);
	}
	free(copy);
}

/* The same frames whole and chunked; then decode each. */
static void
fz_codec(const uint8_t *data, size_t size, unsigned version, size_t chunk,
    const struct stomp_limits *lim)
{
	static struct fz_trace whole, part;

	fz_frame_stream(data, size, size, lim, &whole);
	fz_frame_stream(data, size, chunk, lim, &part);
	FZ_CHECK(whole.n == part.n && whole.last == part.last);
	for (size_t i = 0; i < whole.n; i++) {
		FZ_CHECK(whole.off[i] == part.off[i]);
		FZ_CHECK(whole.len[i] == part.len[i]);
		fz_decode(data + whole.off[i], whole.len[i], version);
	}
}

/* A parsed topic name maps back to the same destination. */
static void
fz_dest(const char *d, size_t len)
{
	char out[512], back[520];
	enum stomp_dest_kind kind;
	size_t ol, bl;

	if (stomp_dest_parse(d, len, out, sizeof(out), true, &kind, &ol) ==
	    STOMP_DEST_E_OK)
		FZ_CHECK(ol + 7 == len);
	if (stomp_dest_parse(d, len, out, sizeof(out), false, &kind, &ol) !=
	    STOMP_DEST_E_OK)
		return;
	FZ_CHECK(ol + 7 == len);
	if (kind == STOMP_DEST_QUEUE)
		bl = stomp_dest_from_queue(out, ol, back, sizeof(back));
	else
		bl = stomp_dest_from_topic(out, ol, back, sizeof(back));
	FZ_CHECK(bl == len && memcmp(back, d, len) == 0);
}

/* A core topic name goes to STOMP and back unchanged. */
static void
fz_topic(const char *t, size_t len)
{
	char d[520], back[512];
	enum stomp_dest_kind kind;
	size_t dl, bl;
	int e;

	dl = stomp_dest_from_topic(t, len, d, sizeof(d));
	if (dl == 0)
		return; /* too long for the buffer */
	e = stomp_dest_parse(d, dl, back, sizeof(back), false, &kind, &bl);
	if (e != STOMP_DEST_E_OK)
		return; /* not a valid topic name: empty, '+', '#', UTF-8 */
	FZ_CHECK(kind == STOMP_DEST_TOPIC && bl == len);
	FZ_CHECK(memcmp(back, t, len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned versions[] = {STOMP_V10, STOMP_V11, STOMP_V12};
	uint32_t cx, cy;
	const char *s;

	if (size < 2)
		return 0;
	s = (const char *)data + 2;
	fz_codec(data + 2, size - 2, versions[data[0] % 3],
	    1 + (data[0] >> 2) % 17, data[1] & 1 ? &fz_tight : &fz_roomy);
	fz_dest(s, size - 2);
	fz_topic(s, size - 2);
	(void)stomp_version_pick(s, size - 2);
	if (stomp_heart_beat_parse(s, size - 2, &cx, &cy))
		FZ_CHECK(memchr(s, ',', size - 2) != NULL);
	return 0;
}
