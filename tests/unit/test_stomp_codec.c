/*
 * test_stomp_codec.c - the STOMP codec against frame vectors.
 *
 * Valid vectors cover every command in every version; each is framed
 * whole, byte by byte with one resumable state, and at every split point
 * with a fresh state (MORE for every strict prefix, OK at the end), then
 * decoded from an exact-size heap copy (so ASan sees any over-read) and,
 * where the bytes are canonical (LF line ends), re-encoded byte for byte.
 * Malformed vectors check the error code and that framing raises it as
 * early as the header promises. Escaping is checked per version and
 * command, including the 1.2 CONNECT whose backslashes stay as they are.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/stomp/stomp_codec.h"

#define MAX_HDRS 64

static const struct stomp_limits big = {1u << 20, MAX_HDRS, 1024, 1u << 20};

struct vec {
	const char *name;
	unsigned version;
	enum stomp_cmd cmd;
	bool canonical; /* decode -> encode gives the same bytes */
	const char *b;
	size_t len;
};

/* s is a string literal holding the frame with its final "\0". */
#define VEC(n, v, c, canon, s) \
	{ \
		n, v, STOMP_CMD_##c, canon, s, sizeof(s) - 1 \
	}

static const struct vec good[] = {
    VEC("connect 1.0", STOMP_V10, CONNECT, true,
        "CONNECT\nlogin:guest\npasscode:guest\n\n\0"),
    VEC("connect 1.0 padded", STOMP_V10, CONNECT, true,
        "CONNECT\nlogin: guest\npasscode: g:u\n\n\0"),
    VEC("connect 1.2", STOMP_V12, CONNECT, true,
        "CONNECT\naccept-version:1.0,1.1,1.2\nhost:box\nlogin:u\n"
        "passcode:p\\cw\\\\\nheart-beat:0,1000\n\n\0"),
    VEC("stomp 1.2", STOMP_V12, STOMP, true,
        "STOMP\naccept-version:1.2\nhost:box\n\n\0"),
    VEC("connected 1.2", STOMP_V12, CONNECTED, true,
        "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:junction/1\n"
        "session:a\\b\n\n\0"),
    VEC("connected 1.0", STOMP_V10, CONNECTED, true,
        "CONNECTED\nsession:1\n\n\0"),
    VEC("send 1.0", STOMP_V10, SEND, true,
        "SEND\ndestination:/queue/a\nx:a\\tb:c\n\nhello\0"),
    VEC("send 1.1", STOMP_V11, SEND, true,
        "SEND\ndestination:/topic/a.b\ncontent-type:text/plain\n\nhi\0"),
    VEC("send 1.2 content-length NUL", STOMP_V12, SEND, true,
        "SEND\ndestination:/queue/a\ncontent-length:5\n\na\0b\0c\0"),
    VEC("send 1.2 empty body", STOMP_V12, SEND, true,
        "SEND\ndestination:/queue/a\ncontent-length:0\n\n\0"),
    VEC("send 1.2 empty value", STOMP_V12, SEND, true,
        "SEND\ndestination:/queue/a\nempty:\n\nx\0"),
    VEC("subscribe 1.2", STOMP_V12, SUBSCRIBE, true,
        "SUBSCRIBE\nid:0\ndestination:/topic/a.*\nack:client-individual\n\n"
        "\0"),
    VEC("subscribe 1.0", STOMP_V10, SUBSCRIBE, true,
        "SUBSCRIBE\ndestination:/queue/a\n\n\0"),
    VEC("unsubscribe", STOMP_V12, UNSUBSCRIBE, true, "UNSUBSCRIBE\nid:0\n\n\0"),
    VEC("ack 1.2", STOMP_V12, ACK, true, "ACK\nid:12\n\n\0"),
    VEC("ack 1.1", STOMP_V11, ACK, true,
        "ACK\nsubscription:0\nmessage-id:7\n\n\0"),
    VEC("nack", STOMP_V12, NACK, true, "NACK\nid:12\ntransaction:t1\n\n\0"),
    VEC("begin", STOMP_V12, BEGIN, true, "BEGIN\ntransaction:t1\n\n\0"),
    VEC("commit", STOMP_V11, COMMIT, true, "COMMIT\ntransaction:t1\n\n\0"),
    VEC("abort", STOMP_V10, ABORT, true, "ABORT\ntransaction:t1\n\n\0"),
    VEC("disconnect", STOMP_V12, DISCONNECT, true,
        "DISCONNECT\nreceipt:77\n\n\0"),
    VEC("message 1.2 escapes", STOMP_V12, MESSAGE, true,
        "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/a\n"
        "ack:5\nk\\cx:a\\cb\\nc\\\\d\\re\ncontent-length:3\n\nabc\0"),
    VEC("message 1.1 escapes", STOMP_V11, MESSAGE, true,
        "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/queue/a\n"
        "x:a\\cb\\\\\n\nbody\0"),
    VEC("receipt", STOMP_V12, RECEIPT, true, "RECEIPT\nreceipt-id:77\n\n\0"),
    VEC("error", STOMP_V12, ERROR, true,
        "ERROR\nmessage:frame too large\ncontent-length:4\n\noops\0"),
    VEC("repeated headers", STOMP_V12, MESSAGE, true,
        "MESSAGE\nfoo:first\nfoo:second\ndestination:/topic/x\n\n\0"),
    VEC("crlf 1.2", STOMP_V12, SEND, false,
        "SEND\r\ndestination:/queue/a\r\ncontent-length:2\r\n\r\nhi\0"),
    VEC("crlf 1.0", STOMP_V10, CONNECT, false, "CONNECT\r\nlogin:a\r\n\r\n\0"),
    VEC("crlf 1.1 mixed", STOMP_V11, SUBSCRIBE, false,
        "SUBSCRIBE\r\nid:1\ndestination:/queue/q\r\n\n\0"),
};

/* An exact-size heap copy, so ASan catches any read past the frame. */
static uint8_t *
dup_bytes(const void *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	assert_non_null(c);
	memcpy(c, p, len);
	return c;
}

static int
frame_once(const uint8_t *b, size_t len, const struct stomp_limits *lim,
    size_t *skip, size_t *flen, enum stomp_err *err)
{
	struct stomp_scan s;

	stomp_scan_reset(&s);
	return stomp_frame_len(&s, b, len, lim, skip, flen, err);
}

static int
decode_vec(uint8_t *b, size_t len, unsigned version, struct stomp_frame *f,
    struct stomp_header *hdr, enum stomp_err *err)
{
	f->hdr = hdr;
	f->hdr_cap = MAX_HDRS;
	return stomp_decode(b, len, version, f, err);
}

/* ---- valid vectors ---- */

static void
check_good(const struct vec *v)
{
	uint8_t *b = dup_bytes(v->b, v->len), out[512];
	struct stomp_header hdr[MAX_HDRS];
	struct stomp_frame f;
	enum stomp_err err;
	size_t skip, flen;

	print_message("%s\n", v->name);
	assert_int_equal(
	    frame_once(b, v->len, &big, &skip, &flen, &err), STOMP_OK);
	assert_int_equal(skip, 0);
	assert_int_equal(flen, v->len);
	assert_int_equal(
	    decode_vec(b, v->len, v->version, &f, hdr, &err), STOMP_OK);
	assert_int_equal(f.cmd, v->cmd);
	if (v->canonical) {
		assert_int_equal(
		    stomp_encode(out, sizeof(out), v->version, &f, false),
		    v->len);
		assert_memory_equal(out, v->b, v->len);
	}
	free(b);
}

static void
test_good_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		check_good(&good[i]);
}

/* Every strict prefix is MORE with a fresh state; the whole is OK. */
static void
test_split_fresh(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		const struct vec *v = &good[i];

		for (size_t k = 0; k <= v->len; k++) {
			uint8_t *b = dup_bytes(v->b, k);
			enum stomp_err err;
			size_t skip, flen;
			int st = frame_once(b, k, &big, &skip, &flen, &err);

			assert_int_equal(
			    st, k < v->len ? STOMP_MORE : STOMP_OK);
			assert_int_equal(err, STOMP_E_NONE);
			free(b);
		}
	}
}

/* One resumable state fed a byte at a time, as a slow peer would. */
static void
test_split_resumed(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		const struct vec *v = &good[i];
		struct stomp_scan s;

		stomp_scan_reset(&s);
		for (size_t k = 1; k <= v->len; k++) {
			uint8_t *b = dup_bytes(v->b, k);
			enum stomp_err err;
			size_t skip, flen;
			int st =
			    stomp_frame_len(&s, b, k, &big, &skip, &flen, &err);

			assert_int_equal(skip, 0);
			assert_int_equal(
			    st, k < v->len ? STOMP_MORE : STOMP_OK);
			if (st == STOMP_OK)
				assert_int_equal(flen, v->len);
			free(b);
		}
	}
}

/* Every truncation handed straight to the decoder: an error, no crash. */
static void
test_decode_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		const struct vec *v = &good[i];

		for (size_t k = 0; k < v->len; k++) {
			uint8_t *b = dup_bytes(v->b, k);
			struct stomp_header hdr[MAX_HDRS];
			struct stomp_frame f;
			enum stomp_err err;

			assert_int_equal(
			    decode_vec(b, k, v->version, &f, hdr, &err),
			    STOMP_ERR);
			assert_int_not_equal(err, STOMP_E_NONE);
			free(b);
		}
	}
}

/* ---- decoded content ---- */

static const struct stomp_header *
must_header(const struct stomp_frame *f, const char *name)
{
	const struct stomp_header *h = stomp_header(f, name);

	assert_non_null(h);
	return h;
}

static void
assert_value(
    const struct stomp_frame *f, const char *name, const void *val, size_t len)
{
	const struct stomp_header *h = must_header(f, name);

	assert_int_equal(h->value_len, len);
	assert_memory_equal(h->value, val, len);
}

#define ASSERT_VALUE(f, name, lit) assert_value(f, name, lit, sizeof(lit) - 1)

/* Decode a frame from an exact-size copy, which the caller frees. */
static uint8_t *
decode_ok(const char *fr, size_t len, unsigned ver, struct stomp_frame *f,
    struct stomp_header *hdr)
{
	uint8_t *b = dup_bytes(fr, len);
	enum stomp_err err;

	assert_int_equal(decode_vec(b, len, ver, f, hdr, &err), STOMP_OK);
	return b;
}

#define DECODE(lit, ver, f, hdr) decode_ok(lit, sizeof(lit) - 1, ver, f, hdr)

static void
test_repeated_first_wins(void **state)
{
	static const char fr[] = "MESSAGE\nfoo:first\nfoo:second\nbar:1\n\n\0";
	struct stomp_header hdr[MAX_HDRS];
	struct stomp_frame f;
	uint8_t *b;

	(void)state;
	b = DECODE(fr, STOMP_V12, &f, hdr);
	assert_int_equal(f.nhdr, 3);
	ASSERT_VALUE(&f, "foo", "first");
	assert_int_equal(hdr[1].value_len, 6); /* the repeat is kept */
	assert_true(stomp_header_is(stomp_header(&f, "bar"), "1"));
	assert_null(stomp_header(&f, "fo"));
	assert_null(stomp_header(&f, "Foo")); /* case sensitive */
	assert_false(stomp_header_is(NULL, "x"));
	free(b);
}

static void
test_body_with_nul(void **state)
{
	static const char fr[] =
	    "SEND\ndestination:/queue/a\ncontent-length:5\n\na\0b\0c\0";
	struct stomp_header hdr[MAX_HDRS];
	struct stomp_frame f;
	uint8_t *b;

	(void)state;
	b = DECODE(fr, STOMP_V12, &f, hdr);
	assert_int_equal(f.body_len, 5);
	assert_memory_equal(f.body, "a\0b\0c", 5);
	free(b);
}

static void
test_crlf_values(void **state)
{
	static const char fr[] = "SEND\r\ndestination:/queue/a\r\n"
	                         "x:a\rb\r\n\r\nhi\0";
	static const char canon[] = "SEND\ndestination:/queue/a\n"
	                            "x:a\\rb\n\nhi\0";
	struct stomp_header hdr[MAX_HDRS];
	struct stomp_frame f;
	uint8_t *b, out[128];

	(void)state;
	b = DECODE(fr, STOMP_V12, &f, hdr);
	ASSERT_VALUE(&f, "destination", "/queue/a");
	ASSERT_VALUE(&f, "x", "a\rb"); /* a CR inside a line is data */
	assert_int_equal(f.body_len, 2);
	assert_int_equal(stomp_encode(out, sizeof(out), STOMP_V12, &f, false),
	    sizeof(canon) - 1);
	assert_memory_equal(out, canon, sizeof(canon) - 1);
	free(b);
}

/* ---- escaping per version and command ---- */

struct esc_case {
	unsigned version;
	const char *cmd;
	const char *line; /* one header line, without EOL */
	const char *name; /* expected, NULL: STOMP_E_BAD_ESCAPE */
	const char *value;
};

static const struct esc_case esc_cases[] = {
    /* STOMP 1.2: Value Encoding */
    {STOMP_V12, "SEND", "a:x\\ry", "a", "x\ry"},
    {STOMP_V12, "SEND", "a:\\n\\c\\\\", "a", "\n:\\"},
    {STOMP_V12, "SEND", "k\\cy:v", "k:y", "v"},
    {STOMP_V12, "MESSAGE", "a:x\\ty", NULL, NULL},
    {STOMP_V12, "SEND", "a:x\\", NULL, NULL},
    {STOMP_V12, "SEND", "a\\q:x", NULL, NULL},
    {STOMP_V12, "ERROR", "a:x\\\\\\", NULL, NULL},
    /* STOMP 1.1: no \r */
    {STOMP_V11, "SEND", "a:x\\ry", NULL, NULL},
    {STOMP_V11, "SEND", "a:x\\cy\\ny", "a", "x:y\ny"},
    {STOMP_V11, "RECEIPT", "a:\\t", NULL, NULL},
    /* STOMP 1.0: no escaping at all */
    {STOMP_V10, "SEND", "a:x\\ty\\c", "a", "x\\ty\\c"},
    {STOMP_V10, "MESSAGE", "a:\\", "a", "\\"},
    /* CONNECT, STOMP and CONNECTED are never unescaped */
    {STOMP_V12, "CONNECT", "passcode:p\\w\\", "passcode", "p\\w\\"},
    {STOMP_V12, "CONNECT", "passcode:a\\cb", "passcode", "a\\cb"},
    {STOMP_V12, "STOMP", "passcode:a\\tb", "passcode", "a\\tb"},
    {STOMP_V11, "CONNECTED", "session:a\\nb", "session", "a\\nb"},
    {STOMP_V12, "CONNECTED", "server:x:y", "server", "x:y"},
};

static void
check_escape(const struct esc_case *c)
{
	struct stomp_header hdr[MAX_HDRS];
	struct stomp_frame f;
	enum stomp_err err;
	char fr[256];
	int n = snprintf(fr, sizeof(fr), "%s\n%s\n\n", c->cmd, c->line);
	uint8_t *b = dup_bytes(fr, (size_t)n + 1);
	int st = decode_vec(b, (size_t)n + 1, c->version, &f, hdr, &err);

	print_message("%u %s %s\n", c->version, c->cmd, c->line);
	if (c->name == NULL) {
		assert_int_equal(st, STOMP_ERR);
		assert_int_equal(err, STOMP_E_BAD_ESCAPE);
	} else {
		assert_int_equal(st, STOMP_OK);
		assert_int_equal(f.nhdr, 1);
		assert_int_equal(hdr[0].name_len, strlen(c->name));
		assert_memory_equal(hdr[0].name, c->name, strlen(c->name));
		assert_int_equal(hdr[0].value_len, strlen(c->value));
		assert_memory_equal(hdr[0].value, c->value, strlen(c->value));
	}
	free(b);
}

static void
test_escapes(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(esc_cases); i++)
		check_escape(&esc_cases[i]);
}

/* ---- malformed input ---- */

struct bad_case {
	const char *name;
	const char *b;
	size_t len;
	struct stomp_limits lim;
	enum stomp_err err;
	bool at_decode; /* framing passes; decode finds the error */
};

#define BAD(n, s, lim, e) \
	{ \
		n, s, sizeof(s) - 1, lim, STOMP_E_##e, false \
	}
#define BAD_DEC(n, s, e) \
	{ \
		n, s, sizeof(s) - 1, BIG, STOMP_E_##e, true \
	}
#define BIG \
	{ \
		1u << 20, MAX_HDRS, 1024, 1u << 20 \
	}
#define LIM(frame, hdrs, line, body) \
	{ \
		frame, hdrs, line, body \
	}

static const struct bad_case bad[] = {
    BAD("unknown command", "SNED\n\n\0", BIG, UNKNOWN_COMMAND),
    BAD("lower-case command", "send\n\n\0", BIG, UNKNOWN_COMMAND),
    BAD("command with space", "SEND \n\n\0", BIG, UNKNOWN_COMMAND),
    BAD("empty command", "\rX\n\n\0", BIG, UNKNOWN_COMMAND),
    BAD("garbage command, no EOL yet", "GET / HTTP/1.1", BIG, UNKNOWN_COMMAND),
    BAD("too many headers", "SEND\na:1\nb:2\nc:3\n\n\0", LIM(1000, 2, 100, 100),
        TOO_MANY_HEADERS),
    BAD("header line too long", "SEND\nabcdefghij:0123456789\n\n\0",
        LIM(1000, 10, 20, 100), HEADER_TOO_LONG),
    BAD("header line too long, no EOL yet", "SEND\nabcdefghij:0123456789",
        LIM(1000, 10, 20, 100), HEADER_TOO_LONG),
    BAD("command line too long", "SUBSCRIBE\n\n\0", LIM(1000, 10, 5, 100),
        HEADER_TOO_LONG),
    BAD("frame too large, head", "SEND\nabc:def\nghi:jkl\n",
        LIM(16, 10, 100, 100), FRAME_TOO_LARGE),
    BAD("frame too large, body", "SEND\n\n0123456789abcdef",
        LIM(16, 10, 100, 100), FRAME_TOO_LARGE),
    BAD("frame too large, content-length", "SEND\ncontent-length:10\n\n",
        LIM(30, 10, 100, 100), FRAME_TOO_LARGE),
    BAD("body too large", "SEND\n\n0123456789a", LIM(1000, 10, 100, 10),
        BODY_TOO_LARGE),
    BAD("body too large, content-length, head unfinished",
        "SEND\ncontent-length:11\n", LIM(1000, 10, 100, 10), BODY_TOO_LARGE),
    BAD("content-length not a number", "SEND\ncontent-length:abc\n", BIG,
        BAD_CONTENT_LENGTH),
    BAD("content-length negative", "SEND\ncontent-length:-1\n", BIG,
        BAD_CONTENT_LENGTH),
    BAD("content-length empty", "SEND\ncontent-length:\n", BIG,
        BAD_CONTENT_LENGTH),
    BAD("content-length padded", "SEND\ncontent-length: 5\n", BIG,
        BAD_CONTENT_LENGTH),
    BAD("content-length trailing space", "SEND\ncontent-length:5 \n", BIG,
        BAD_CONTENT_LENGTH),
    BAD("content-length overflow",
        "SEND\ncontent-length:99999999999999999999999\n", BIG,
        BAD_CONTENT_LENGTH),
    BAD("content-length plus", "SEND\ncontent-length:+5\n", BIG,
        BAD_CONTENT_LENGTH),
    BAD("no NUL after content-length bytes", "SEND\ncontent-length:2\n\nabc\0",
        BIG, NO_NUL),
    BAD_DEC("missing colon", "SEND\ndestination\n\n\0", BAD_HEADER),
    BAD_DEC("empty header name", "SEND\n:value\n\n\0", BAD_HEADER),
    BAD_DEC("bad escape", "SEND\na:\\t\n\n\0", BAD_ESCAPE),
};

static void
check_bad_framing(const struct bad_case *c)
{
	uint8_t *b = dup_bytes(c->b, c->len);
	enum stomp_err err;
	size_t skip, flen;

	assert_int_equal(
	    frame_once(b, c->len, &c->lim, &skip, &flen, &err), STOMP_ERR);
	assert_int_equal(err, c->err);
	free(b);
}

static void
check_bad_decode(const struct bad_case *c)
{
	uint8_t *b = dup_bytes(c->b, c->len);
	struct stomp_header hdr[MAX_HDRS];
	struct stomp_frame f;
	enum stomp_err err;
	size_t skip, flen;

	assert_int_equal(
	    frame_once(b, c->len, &c->lim, &skip, &flen, &err), STOMP_OK);
	assert_int_equal(
	    decode_vec(b, flen, STOMP_V12, &f, hdr, &err), STOMP_ERR);
	assert_int_equal(err, c->err);
	free(b);
}

static void
test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		print_message("%s\n", bad[i].name);
		if (bad[i].at_decode)
			check_bad_decode(&bad[i]);
		else
			check_bad_framing(&bad[i]);
		assert_string_not_equal(stomp_err_text(bad[i].err), "");
	}
}

/* The decoder on its own, fed frames the framer would never pass. */
static void
test_decode_direct_errors(void **state)
{
#define RAW(s, e) \
	{ \
		s, sizeof(s) - 1, STOMP_E_##e \
	}
	static const struct {
		const char *b;
		size_t len;
		enum stomp_err err;
	} cases[] = {
	    RAW("SEND\n\nab", NO_NUL),
	    RAW("SEND\n\na\0b\0", NO_NUL),
	    RAW("SEND\ncontent-length:1\n\nab\0", NO_NUL),
	    RAW("SEND\ncontent-length:x\n\nab\0", BAD_CONTENT_LENGTH),
	    RAW("SEND\na:b\0", BAD_HEADER),
	    RAW("SEND\0", BAD_HEADER),
	    RAW("\n\0", UNKNOWN_COMMAND),
	    RAW("", NO_NUL),
	};
#undef RAW

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t *b = dup_bytes(cases[i].b, cases[i].len);
		struct stomp_header hdr[MAX_HDRS];
		struct stomp_frame f;
		enum stomp_err err;

		assert_int_equal(
		    decode_vec(b, cases[i].len, STOMP_V12, &f, hdr, &err),
		    STOMP_ERR);
		assert_int_equal(err, cases[i].err);
		free(b);
	}
}

static void
test_decode_header_cap(void **state)
{
	static const char fr[] = "SEND\na:1\nb:2\nc:3\n\n\0";
	uint8_t *b = dup_bytes(fr, sizeof(fr) - 1);
	struct stomp_header hdr[2];
	struct stomp_frame f = {.hdr = hdr, .hdr_cap = 2};
	enum stomp_err err;

	(void)state;
	assert_int_equal(
	    stomp_decode(b, sizeof(fr) - 1, STOMP_V12, &f, &err), STOMP_ERR);
	assert_int_equal(err, STOMP_E_TOO_MANY_HEADERS);
	free(b);
}

/* Limits are inclusive: a frame exactly at every limit passes. */
static void
test_limits_exact(void **state)
{
	static const char fr[] =
	    "SEND\nab:cd\nef:gh\ncontent-length:3\n\nxyz\0";
	static const struct stomp_limits at = {sizeof(fr) - 1, 3, 16, 3};
	static const struct {
		size_t off;
		enum stomp_err err;
	} below[] = {
	    {offsetof(struct stomp_limits, max_frame), STOMP_E_FRAME_TOO_LARGE},
	    {offsetof(struct stomp_limits, max_headers),
	        STOMP_E_TOO_MANY_HEADERS},
	    {offsetof(struct stomp_limits, max_line), STOMP_E_HEADER_TOO_LONG},
	    {offsetof(struct stomp_limits, max_body), STOMP_E_BODY_TOO_LARGE},
	};
	enum stomp_err err;
	size_t skip, flen;

	(void)state;
	assert_int_equal(frame_once((const uint8_t *)fr, sizeof(fr) - 1, &at,
	                     &skip, &flen, &err),
	    STOMP_OK);
	for (size_t i = 0; i < ARRAY_LEN(below); i++) {
		struct stomp_limits lim = at;
		size_t *field = (size_t *)((char *)&lim + below[i].off);

		(*field)--;
		assert_int_equal(frame_once((const uint8_t *)fr, sizeof(fr) - 1,
		                     &lim, &skip, &flen, &err),
		    STOMP_ERR);
		assert_int_equal(err, below[i].err);
	}
}

/* ---- streams: heart-beats and several frames in one buffer ---- */

static void
test_heartbeats_between_frames(void **state)
{
	static const char stream[] =
	    "\n\r\n\nSEND\n\na\0\n\r\n"
	    "RECEIPT\r\nreceipt-id:1\r\n\r\n\0\r\n\n\r";
	const uint8_t *p = (const uint8_t *)stream;
	size_t left = sizeof(stream) - 1, frames = 0, skipped = 0;
	struct stomp_scan s;
	int st;

	(void)state;
	stomp_scan_reset(&s);
	for (;;) {
		enum stomp_err err;
		size_t skip, flen;

		st = stomp_frame_len(&s, p, left, &big, &skip, &flen, &err);
		p += skip;
		left -= skip;
		skipped += skip;
		if (st != STOMP_OK)
			break;
		assert_int_equal(p[flen - 1], 0);
		p += flen;
		left -= flen;
		frames++;
	}
	assert_int_equal(st, STOMP_MORE);
	assert_int_equal(frames, 2);
	assert_int_equal(skipped, 4 + 3 + 3);
	assert_int_equal(left, 1); /* a lone CR waits for its LF */
}

static void
test_heartbeat_only(void **state)
{
	struct stomp_scan s;
	enum stomp_err err;
	size_t skip, flen;

	(void)state;
	stomp_scan_reset(&s);
	assert_int_equal(stomp_frame_len(&s, (const uint8_t *)"\n\n\r\n", 4,
	                     &big, &skip, &flen, &err),
	    STOMP_MORE);
	assert_int_equal(skip, 4);
	assert_int_equal(stomp_frame_len(&s, (const uint8_t *)"\r", 1, &big,
	                     &skip, &flen, &err),
	    STOMP_MORE);
	assert_int_equal(skip, 0);
	assert_int_equal(stomp_frame_len(&s, (const uint8_t *)"\r\n", 2, &big,
	                     &skip, &flen, &err),
	    STOMP_MORE);
	assert_int_equal(skip, 2);
}

/* A big body arriving in small pieces: the size is known at once. */
static void
test_slow_body(void **state)
{
	size_t body = 100000, chunk = 1000;
	char head[64];
	int hl =
	    snprintf(head, sizeof(head), "SEND\ncontent-length:%zu\n\n", body);
	size_t total = (size_t)hl + body + 1;
	uint8_t *b = calloc(1, total);
	struct stomp_scan s;
	enum stomp_err err;
	size_t skip, flen = 0, have;
	int st = STOMP_MORE;

	(void)state;
	assert_non_null(b);
	memcpy(b, head, (size_t)hl);
	memset(b + hl, 'x', body);
	stomp_scan_reset(&s);
	for (have = (size_t)hl; st == STOMP_MORE; have += chunk) {
		st = stomp_frame_len(
		    &s, b, MIN(have, total), &big, &skip, &flen, &err);
		assert_int_equal(flen, total); /* the hint, then the length */
	}
	assert_int_equal(st, STOMP_OK);
	free(b);
}

/* A big NUL-terminated body in pieces: scanned once, not from the top. */
static void
test_slow_body_nul(void **state)
{
	size_t total = 50000;
	uint8_t *b = malloc(total);
	struct stomp_scan s;
	enum stomp_err err;
	size_t skip, flen = 0, have;
	int st = STOMP_MORE;

	(void)state;
	assert_non_null(b);
	memcpy(b, "SEND\n\n", 6);
	memset(b + 6, 'y', total - 7);
	b[total - 1] = 0;
	stomp_scan_reset(&s);
	for (have = 7; st == STOMP_MORE; have += 777) {
		st = stomp_frame_len(
		    &s, b, MIN(have, total), &big, &skip, &flen, &err);
		if (st == STOMP_MORE)
			assert_int_equal(s.off, MIN(have, total));
	}
	assert_int_equal(st, STOMP_OK);
	assert_int_equal(flen, total);
	free(b);
}

/* ---- encoding ---- */

#define HDR(n, v) \
	{ \
		n, sizeof(n) - 1, v, sizeof(v) - 1 \
	}

static void
test_encode_head(void **state)
{
	static const struct stomp_header h[] = {
	    HDR("destination", "/topic/a"),
	    HDR("k:ey", "a:b\nc\\d\re"),
	};
	static const char want12[] = "MESSAGE\ndestination:/topic/a\n"
	                             "k\\cey:a\\cb\\nc\\\\d\\re\n"
	                             "content-length:42\n\n";
	static const char want11[] = "MESSAGE\ndestination:/topic/a\n"
	                             "k\\cey:a\\cb\\nc\\\\d\re\n\n";
	uint8_t out[256];
	size_t n;

	(void)state;
	n = stomp_encode_head(
	    out, sizeof(out), STOMP_V12, STOMP_CMD_MESSAGE, h, 2, 42);
	assert_int_equal(n, sizeof(want12) - 1);
	assert_memory_equal(out, want12, n);
	assert_int_equal(
	    stomp_encode_head_len(STOMP_V12, STOMP_CMD_MESSAGE, h, 2, 42), n);
	for (size_t cap = 0; cap < n; cap++)
		assert_int_equal(stomp_encode_head(out, cap, STOMP_V12,
		                     STOMP_CMD_MESSAGE, h, 2, 42),
		    0);
	n = stomp_encode_head(out, sizeof(out), STOMP_V11, STOMP_CMD_MESSAGE, h,
	    2, STOMP_NO_CLEN);
	assert_int_equal(n, sizeof(want11) - 1);
	assert_memory_equal(out, want11, n);
	/* ':' in a name cannot go into 1.0 or CONNECTED */
	assert_int_equal(stomp_encode_head(out, sizeof(out), STOMP_V10,
	                     STOMP_CMD_MESSAGE, h, 2, STOMP_NO_CLEN),
	    0);
	assert_int_equal(stomp_encode_head_len(STOMP_V12, STOMP_CMD_CONNECTED,
	                     h, 2, STOMP_NO_CLEN),
	    0);
}

static void
test_encode_connected_raw(void **state)
{
	static const struct stomp_header h[] = {
	    HDR("version", "1.2"),
	    HDR("server", "junction\\1:x"),
	};
	static const char want[] = "CONNECTED\nversion:1.2\n"
	                           "server:junction\\1:x\n\n";
	uint8_t out[128];
	size_t n = stomp_encode_head(out, sizeof(out), STOMP_V12,
	    STOMP_CMD_CONNECTED, h, 2, STOMP_NO_CLEN);

	(void)state;
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
}

struct enc_case {
	unsigned version;
	enum stomp_cmd cmd;
	struct stomp_header h;
	bool ok;
};

static const struct enc_case enc_cases[] = {
    {STOMP_V12, STOMP_CMD_SEND, {"", 0, "v", 1}, false},
    {STOMP_V12, STOMP_CMD_SEND, HDR("a", "x\r"), true},
    {STOMP_V11, STOMP_CMD_SEND, HDR("a", "x\r"), false},
    {STOMP_V11, STOMP_CMD_SEND, HDR("a", "x\ry"), true},
    {STOMP_V11, STOMP_CMD_SEND, HDR("a\n", "x"), true},
    {STOMP_V10, STOMP_CMD_SEND, HDR("a", "x\ny"), false},
    {STOMP_V10, STOMP_CMD_SEND, HDR("a\n", "x"), false},
    {STOMP_V10, STOMP_CMD_SEND, HDR("a", "x:y"), true},
    {STOMP_V10, STOMP_CMD_SEND, HDR("a:b", "x"), false},
    {STOMP_V12, STOMP_CMD_CONNECT, HDR("passcode", "a:b\\"), true},
    {STOMP_V12, STOMP_CMD_CONNECT, HDR("passcode", "a\nb"), false},
    {STOMP_V12, STOMP_CMD_CONNECTED, HDR("s", "a\r"), false},
};

static void
test_encodable(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(enc_cases); i++) {
		const struct enc_case *c = &enc_cases[i];

		assert_int_equal(
		    stomp_header_is_encodable(c->version, c->cmd, &c->h),
		    c->ok);
		assert_int_equal(stomp_encode_head_len(c->version, c->cmd,
		                     &c->h, 1, STOMP_NO_CLEN) != 0,
		    c->ok);
	}
}

/* Encode with add_clen, decode it back: same command, headers, body. */
static void
test_encode_decode(void **state)
{
	struct stomp_header h[] = {
	    HDR("destination", "/queue/a"),
	    HDR("x", "\\:\n\r"),
	};
	static const unsigned versions[] = {STOMP_V11, STOMP_V12};
	struct stomp_frame f = {
	    STOMP_CMD_SEND, h, 2, 2, (const uint8_t *)"a\0b", 3};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(versions); i++) {
		struct stomp_header hdr[MAX_HDRS];
		struct stomp_frame g;
		enum stomp_err err;
		uint8_t out[256];
		size_t n =
		    stomp_encode(out, sizeof(out), versions[i], &f, true);
		bool ok = versions[i] == STOMP_V12; /* 1.1: CR ends a value */

		assert_int_equal(n != 0, ok);
		if (!ok)
			continue;
		assert_int_equal(
		    decode_vec(out, n, versions[i], &g, hdr, &err), STOMP_OK);
		assert_int_equal(g.nhdr, 3);
		assert_value(&g, "x", "\\:\n\r", 4);
		ASSERT_VALUE(&g, "content-length", "3");
		assert_int_equal(g.body_len, 3);
		assert_memory_equal(g.body, "a\0b", 3);
		assert_int_equal(
		    stomp_encode(out, n - 1, versions[i], &f, true), 0);
	}
}

/* ---- tables and helpers ---- */

static void
test_commands(void **state)
{
	(void)state;
	for (unsigned c = STOMP_CMD_NONE + 1; c < STOMP_CMD_COUNT; c++) {
		const char *n = stomp_cmd_name(c);

		assert_int_equal(stomp_cmd_lookup(n, strlen(n)), c);
	}
	assert_int_equal(STOMP_CMD_COUNT - 1, 15);
	assert_string_equal(stomp_cmd_name(STOMP_CMD_NONE), "?");
	assert_string_equal(stomp_cmd_name(STOMP_CMD_COUNT), "?");
	assert_string_equal(
	    stomp_cmd_name(STOMP_CMD_UNSUBSCRIBE), "UNSUBSCRIBE");
	assert_int_equal(stomp_cmd_lookup("send", 4), STOMP_CMD_NONE);
	assert_int_equal(stomp_cmd_lookup("SENDX", 5), STOMP_CMD_NONE);
	assert_int_equal(stomp_cmd_lookup("SEN", 3), STOMP_CMD_NONE);
}

static void
test_command_flags(void **state)
{
	(void)state;
	assert_true(stomp_cmd_is_server(STOMP_CMD_CONNECTED));
	assert_true(stomp_cmd_is_server(STOMP_CMD_ERROR));
	assert_false(stomp_cmd_is_server(STOMP_CMD_SEND));
	assert_true(stomp_cmd_body_ok(STOMP_CMD_SEND));
	assert_true(stomp_cmd_body_ok(STOMP_CMD_MESSAGE));
	assert_true(stomp_cmd_body_ok(STOMP_CMD_ERROR));
	assert_false(stomp_cmd_body_ok(STOMP_CMD_SUBSCRIBE));
	assert_false(stomp_cmd_is_escaped(STOMP_V10, STOMP_CMD_SEND));
	assert_true(stomp_cmd_is_escaped(STOMP_V11, STOMP_CMD_SEND));
	assert_false(stomp_cmd_is_escaped(STOMP_V12, STOMP_CMD_CONNECT));
	assert_false(stomp_cmd_is_escaped(STOMP_V12, STOMP_CMD_STOMP));
	assert_false(stomp_cmd_is_escaped(STOMP_V12, STOMP_CMD_CONNECTED));
}

static void
test_err_texts(void **state)
{
	(void)state;
	for (unsigned e = 0; e < STOMP_E_COUNT; e++) {
		for (unsigned f = e + 1; f < STOMP_E_COUNT; f++)
			assert_string_not_equal(
			    stomp_err_text(e), stomp_err_text(f));
	}
	assert_string_equal(stomp_err_text(STOMP_E_COUNT), "unknown error");
}

struct ver_case {
	const char *v; /* NULL: header absent */
	unsigned want;
};

static const struct ver_case ver_cases[] = {
    {NULL, STOMP_V10},
    {"1.0,1.1,1.2", STOMP_V12},
    {"1.2,1.0", STOMP_V12},
    {"1.1", STOMP_V11},
    {"1.0", STOMP_V10},
    {"1.0, 1.1", STOMP_V11},
    {"2.0,1.1,3", STOMP_V11},
    {"2.0", 0},
    {"", 0},
    {",", 0},
    {"1.10", 0},
    {"1.2,", STOMP_V12},
};

static void
test_version_pick(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ver_cases); i++) {
		const char *v = ver_cases[i].v;

		assert_int_equal(stomp_version_pick(v, v ? strlen(v) : 0),
		    ver_cases[i].want);
	}
}

struct hb_case {
	const char *v;
	bool ok;
	uint32_t cx, cy;
};

static const struct hb_case hb_cases[] = {
    {"0,0", true, 0, 0},
    {"1000,5000", true, 1000, 5000},
    {"4294967295,1", true, 4294967295u, 1},
    {"4294967296,1", false, 0, 0},
    {"10", false, 0, 0},
    {"", false, 0, 0},
    {",", false, 0, 0},
    {"1,", false, 0, 0},
    {",1", false, 0, 0},
    {"1, 2", false, 0, 0},
    {"1,2,3", false, 0, 0},
    {"-1,2", false, 0, 0},
    {"a,b", false, 0, 0},
};

static void
test_heart_beat(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(hb_cases); i++) {
		const struct hb_case *c = &hb_cases[i];
		uint32_t cx = 7, cy = 7;
		bool ok = stomp_heart_beat_parse(c->v, strlen(c->v), &cx, &cy);

		assert_int_equal(ok, c->ok);
		if (ok) {
			assert_int_equal(cx, c->cx);
			assert_int_equal(cy, c->cy);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_roundtrip),
	    cmocka_unit_test(test_split_fresh),
	    cmocka_unit_test(test_split_resumed),
	    cmocka_unit_test(test_decode_truncated),
	    cmocka_unit_test(test_repeated_first_wins),
	    cmocka_unit_test(test_body_with_nul),
	    cmocka_unit_test(test_crlf_values),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_decode_direct_errors),
	    cmocka_unit_test(test_decode_header_cap),
	    cmocka_unit_test(test_limits_exact),
	    cmocka_unit_test(test_heartbeats_between_frames),
	    cmocka_unit_test(test_heartbeat_only),
	    cmocka_unit_test(test_slow_body),
	    cmocka_unit_test(test_slow_body_nul),
	    cmocka_unit_test(test_encode_head),
	    cmocka_unit_test(test_encode_connected_raw),
	    cmocka_unit_test(test_encodable),
	    cmocka_unit_test(test_encode_decode),
	    cmocka_unit_test(test_commands),
	    cmocka_unit_test(test_command_flags),
	    cmocka_unit_test(test_err_texts),
	    cmocka_unit_test(test_version_pick),
	    cmocka_unit_test(test_heart_beat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
