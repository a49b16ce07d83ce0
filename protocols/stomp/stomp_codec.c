/*
 * stomp_codec.c - pure STOMP 1.0 / 1.1 / 1.2 codec; see stomp_codec.h.
 *
 * Framing is a resumable scan: struct stomp_scan remembers how far the
 * current frame was examined, so each byte is looked at once (memchr for
 * LF in the head, for NUL in a body without content-length; a body with
 * one is skipped by arithmetic). Limits are checked at every step.
 *
 * Decoding re-walks the head of one complete frame with its own bounds
 * checks (it does not trust the framer: the fuzzer calls it directly),
 * unescaping names and values in place, since an escape sequence is never
 * shorter than what it stands for.
 *
 * Encoding runs the head writer twice over struct wr: once counting
 * (p == NULL), once writing, so the computed size and the bytes written
 * cannot disagree.
 *
 * Clauses are cited by the section title of the STOMP 1.2 specification
 * ("STOMP 1.2: Value Encoding"); where 1.0 or 1.1 differ, that is said.
 */
#include "protocols/stomp/stomp_codec.h"

#include <string.h>

/* Longest command name ("UNSUBSCRIBE", "DISCONNECT"). */
#define STOMP_CMD_MAX 11

static const char stomp_clen_name[] = "content-length";

/* ---- tables: commands, errors ---- */

struct stomp_cmd_def {
	const char *name;
	uint8_t len;
	bool from_server;
	bool body_ok;
};

static const struct stomp_cmd_def stomp_cmd_defs[] = {
    [STOMP_CMD_NONE] = {"?", 1, false, false},
#define STOMP_CMD_DEF(n, srv, body) \
	[STOMP_CMD_##n] = {#n, sizeof(#n) - 1, srv, body},
    STOMP_COMMANDS(STOMP_CMD_DEF)
#undef STOMP_CMD_DEF
};

static const char *const stomp_err_texts[] = {
#define STOMP_ERR_TEXT(name, text) [STOMP_E_##name] = text,
    STOMP_ERRORS(STOMP_ERR_TEXT)
#undef STOMP_ERR_TEXT
};

static bool
cmd_is_valid(enum stomp_cmd cmd)
{
	return cmd > STOMP_CMD_NONE && cmd < STOMP_CMD_COUNT;
}

const char *
stomp_cmd_name(enum stomp_cmd cmd)
{
	return cmd_is_valid(cmd) ? stomp_cmd_defs[cmd].name : "?";
}

enum stomp_cmd
stomp_cmd_lookup(const char *p, size_t len)
{
	for (unsigned c = STOMP_CMD_NONE + 1; c < STOMP_CMD_COUNT; c++) {
		const struct stomp_cmd_def *d = &stomp_cmd_defs[c];

		if (d->len == len && memcmp(d->name, p, len) == 0)
			return (enum stomp_cmd)c;
	}
	return STOMP_CMD_NONE;
}

bool
stomp_cmd_is_server(enum stomp_cmd cmd)
{
	return cmd_is_valid(cmd) && stomp_cmd_defs[cmd].from_server;
}

bool
stomp_cmd_body_ok(enum stomp_cmd cmd)
{
	return cmd_is_valid(cmd) && stomp_cmd_defs[cmd].body_ok;
}

bool
stomp_cmd_is_escaped(unsigned version, enum stomp_cmd cmd)
{
	/* STOMP 1.2: Value Encoding; 1.0 has no escaping at all */
	if (version < STOMP_V11)
		return false;
	return cmd != STOMP_CMD_CONNECT && cmd != STOMP_CMD_STOMP &&
	    cmd != STOMP_CMD_CONNECTED;
}

const char *
stomp_err_text(enum stomp_err err)
{
	if ((unsigned)err >= STOMP_E_COUNT)
		return "unknown error";
	return stomp_err_texts[err];
}

/* ---- small parsers ---- */

/*
 * A decimal count with no sign, spaces or other bytes (STOMP 1.2: Header
 * content-length is "an octet count"). False when empty, not all digits
 * or above max.
 */
static bool
parse_count(const uint8_t *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)p[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Is [p, p + len) exactly the NUL-terminated s? */
static bool
bytes_eq(const void *p, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(p, s, len) == 0;
}

/* ---- framing ---- */

void
stomp_scan_reset(struct stomp_scan *s)
{
	memset(s, 0, sizeof(*s));
}

/*
 * Heart-beat EOLs at the start of buf (STOMP 1.2: Heart-beating, and the
 * BNF's *(EOL) after a frame's NUL). A CR is skipped only with its LF.
 */
static size_t
scan_heartbeats(const uint8_t *buf, size_t len)
{
	size_t i = 0;

	for (;;) {
		if (i < len && buf[i] == '\n')
			i += 1;
		else if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
			i += 2;
		else
			return i;
	}
}

static int
scan_fail(enum stomp_err *err, enum stomp_err e)
{
	*err = e;
	return STOMP_ERR;
}

/*
 * The first content-length header line (STOMP 1.2: Repeated Header
 * Entries, the first wins) fixes the body size; it is checked against
 * max_body at once so a huge count is refused before any body arrives.
 */
static int
scan_clen(struct stomp_scan *s, const uint8_t *p, size_t ll,
    const struct stomp_limits *lim, enum stomp_err *err)
{
	size_t nl = sizeof(stomp_clen_name) - 1;
	uint64_t v;

	if (s->has_clen || ll <= nl || p[nl] != ':' ||
	    memcmp(p, stomp_clen_name, nl) != 0)
		return STOMP_OK;
	if (!parse_count(p + nl + 1, ll - nl - 1, UINT64_MAX, &v))
		return scan_fail(err, STOMP_E_BAD_CONTENT_LENGTH);
	if (v > lim->max_body)
		return scan_fail(err, STOMP_E_BODY_TOO_LARGE);
	s->clen = (size_t)v;
	s->has_clen = true;
	return STOMP_OK;
}

/* One complete head line [s->line, e) (e is its LF). */
static int
scan_line(struct stomp_scan *s, const uint8_t *p, size_t e,
    const struct stomp_limits *lim, enum stomp_err *err)
{
	size_t ls = s->line, le = e;

	if (le > ls && p[le - 1] == '\r')
		le--; /* STOMP 1.2: EOL = [CR] LF */
	if (le - ls > lim->max_line)
		return scan_fail(err, STOMP_E_HEADER_TOO_LONG);
	if (!s->has_cmd) {
		if (stomp_cmd_lookup((const char *)p + ls, le - ls) ==
		    STOMP_CMD_NONE)
			return scan_fail(err, STOMP_E_UNKNOWN_COMMAND);
		s->has_cmd = true;
		return STOMP_OK;
	}
	if (le == ls) {
		s->body = e + 1; /* the blank line ends the head */
		return STOMP_OK;
	}
	if (++s->nhdr > lim->max_headers)
		return scan_fail(err, STOMP_E_TOO_MANY_HEADERS);
	return scan_clen(s, p + ls, le - ls, lim, err);
}

/*
 * No LF yet in [s->line, n): refuse a line that is already too long (a
 * trailing CR may be half an EOL, so it does not count), or a command
 * line longer than any command.
 */
static int
scan_partial(struct stomp_scan *s, const uint8_t *p, size_t n,
    const struct stomp_limits *lim, enum stomp_err *err)
{
	size_t ll = n - s->line;

	if (ll > 0 && p[n - 1] == '\r')
		ll--;
	if (ll > lim->max_line)
		return scan_fail(err, STOMP_E_HEADER_TOO_LONG);
	if (n >= lim->max_frame) /* a frame this long needs one more byte */
		return scan_fail(err, STOMP_E_FRAME_TOO_LARGE);
	if (!s->has_cmd && ll > STOMP_CMD_MAX)
		return scan_fail(err, STOMP_E_UNKNOWN_COMMAND);
	s->off = n;
	return STOMP_MORE;
}

/* Walk head lines until the blank line; STOMP_OK once s->body is set. */
static int
scan_head(struct stomp_scan *s, const uint8_t *p, size_t n,
    const struct stomp_limits *lim, enum stomp_err *err)
{
	while (s->body == 0) {
		const uint8_t *lf = memchr(p + s->off, '\n', n - s->off);
		size_t e;
		int st;

		if (lf == NULL)
			return scan_partial(s, p, n, lim, err);
		e = (size_t)(lf - p);
		if (e + 1 >= lim->max_frame) /* NUL still to come */
			return scan_fail(err, STOMP_E_FRAME_TOO_LARGE);
		st = scan_line(s, p, e, lim, err);
		if (st != STOMP_OK)
			return st;
		s->off = e + 1;
		s->line = e + 1;
	}
	return STOMP_OK;
}

/*
 * Body with content-length: exactly clen bytes, then NUL (STOMP 1.2:
 * Header content-length, "The frame still needs to be terminated with a
 * NULL octet").
 */
static int
scan_body_clen(struct stomp_scan *s, const uint8_t *p, size_t n,
    const struct stomp_limits *lim, size_t *frame_len, enum stomp_err *err)
{
	if (s->clen >= lim->max_frame || s->body > lim->max_frame - 1 - s->clen)
		return scan_fail(err, STOMP_E_FRAME_TOO_LARGE);
	*frame_len = s->body + s->clen + 1;
	if (n < *frame_len) {
		s->off = n;
		return STOMP_MORE;
	}
	if (p[*frame_len - 1] != 0)
		return scan_fail(err, STOMP_E_NO_NUL);
	return STOMP_OK;
}

/* Body without content-length: up to the first NUL (STOMP 1.2: STOMP
 * Frames). */
static int
scan_body_nul(struct stomp_scan *s, const uint8_t *p, size_t n,
    const struct stomp_limits *lim, size_t *frame_len, enum stomp_err *err)
{
	size_t from = MAX(s->off, s->body);
	const uint8_t *z = memchr(p + from, 0, n - from);
	size_t end = z ? (size_t)(z - p) : n;

	if (end - s->body > lim->max_body)
		return scan_fail(err, STOMP_E_BODY_TOO_LARGE);
	if (end >= lim->max_frame) /* with its NUL, end + 1 bytes */
		return scan_fail(err, STOMP_E_FRAME_TOO_LARGE);
	if (z == NULL) {
		s->off = n;
		return STOMP_MORE;
	}
	*frame_len = end + 1;
	return STOMP_OK;
}

int
stomp_frame_len(struct stomp_scan *s, const uint8_t *buf, size_t len,
    const struct stomp_limits *lim, size_t *skip, size_t *frame_len,
    enum stomp_err *err)
{
	int st;

	*skip = 0;
	*frame_len = 0;
	*err = STOMP_E_NONE;
	if (s->off == 0) {
		*skip = scan_heartbeats(buf, len);
		buf += *skip;
		len -= *skip;
		if (len == 0 || (len == 1 && buf[0] == '\r'))
			return STOMP_MORE;
	}
	ASSERT(len >= s->off);
	st = scan_head(s, buf, len, lim, err);
	if (st != STOMP_OK)
		return st;
	if (s->has_clen)
		st = scan_body_clen(s, buf, len, lim, frame_len, err);
	else
		st = scan_body_nul(s, buf, len, lim, frame_len, err);
	if (st == STOMP_OK)
		stomp_scan_reset(s);
	return st;
}

/* ---- decoding ---- */

struct dec {
	uint8_t *p;
	size_t end; /* head lines end before this (the final NUL) */
	size_t pos;
	bool esc; /* unescape names and values */
	unsigned version;
	enum stomp_err err;
};

/* Next line [*ls, *le) without its EOL; false if no LF is left. */
static bool
dec_line(struct dec *d, size_t *ls, size_t *le)
{
	const uint8_t *lf = memchr(d->p + d->pos, '\n', d->end - d->pos);

	if (lf == NULL)
		return false;
	*ls = d->pos;
	*le = (size_t)(lf - d->p);
	d->pos = *le + 1;
	if (*le > *ls && d->p[*le - 1] == '\r')
		(*le)--; /* STOMP 1.2: EOL = [CR] LF */
	return true;
}

/*
 * The byte an escape stands for, 0 for an undefined one (STOMP 1.2:
 * Value Encoding, "MUST be treated as a fatal protocol error"); \r exists
 * only in 1.2 (1.1 defines \n, \c and \\).
 */
static uint8_t
unescape_byte(uint8_t c, unsigned version)
{
	switch (c) {
	case 'n':
		return '\n';
	case 'c':
		return ':';
	case '\\':
		return '\\';
	case 'r':
		return version >= STOMP_V12 ? '\r' : 0;
	default:
		return 0;
	}
}

/* Unescape [p, p + *len) in place; *len shrinks; false on a bad escape. */
static bool
unescape(uint8_t *p, size_t *len, unsigned version)
{
	size_t w = 0;

	for (size_t r = 0; r < *len; r++) {
		uint8_t c = p[r];

		if (c == '\\') {
			if (++r == *len)
				return false; /* a lone backslash ends it */
			c = unescape_byte(p[r], version);
			if (c == 0)
				return false;
		}
		p[w++] = c;
	}
	*len = w;
	return true;
}

/* One header line [ls, le) into the next slot of f. */
static bool
dec_header(struct dec *d, size_t ls, size_t le, struct stomp_frame *f)
{
	uint8_t *p = d->p + ls;
	uint8_t *colon = memchr(p, ':', le - ls);
	size_t nl, vl;

	if (colon == NULL || colon == p) {
		d->err = STOMP_E_BAD_HEADER; /* STOMP 1.2 BNF: header */
		return false;
	}
	if (f->nhdr == f->hdr_cap) {
		d->err = STOMP_E_TOO_MANY_HEADERS;
		return false;
	}
	nl = (size_t)(colon - p);
	vl = le - ls - nl - 1;
	if (d->esc &&
	    (!unescape(p, &nl, d->version) ||
	        !unescape(colon + 1, &vl, d->version))) {
		d->err = STOMP_E_BAD_ESCAPE;
		return false;
	}
	f->hdr[f->nhdr++] = (struct stomp_header){
	    (const char *)p, nl, (const char *)colon + 1, vl};
	return true;
}

/* Command line and header lines up to the blank line. */
static bool
dec_head(struct dec *d, struct stomp_frame *f)
{
	size_t ls, le;

	if (!dec_line(d, &ls, &le)) {
		d->err = STOMP_E_BAD_HEADER; /* no EOL: not even a command */
		return false;
	}
	f->cmd = stomp_cmd_lookup((const char *)d->p + ls, le - ls);
	if (f->cmd == STOMP_CMD_NONE) {
		d->err = STOMP_E_UNKNOWN_COMMAND;
		return false;
	}
	d->esc = stomp_cmd_is_escaped(d->version, f->cmd);
	for (;;) {
		if (!dec_line(d, &ls, &le)) {
			d->err = STOMP_E_BAD_HEADER; /* head never ended */
			return false;
		}
		if (le == ls)
			return true;
		if (!dec_header(d, ls, le, f))
			return false;
	}
}

/*
 * The body: with a content-length, exactly that many bytes and then the
 * final NUL; without, everything up to the first NUL, which must be the
 * last byte (STOMP 1.2: Header content-length).
 */
static bool
dec_body(struct dec *d, struct stomp_frame *f)
{
	const struct stomp_header *h = stomp_header(f, stomp_clen_name);
	size_t left = d->end - d->pos;
	uint64_t clen;

	f->body = d->p + d->pos;
	f->body_len = left;
	if (h == NULL) {
		if (memchr(f->body, 0, left) == NULL)
			return true;
		d->err = STOMP_E_NO_NUL; /* NUL before the final byte */
		return false;
	}
	if (!parse_count(
	        (const uint8_t *)h->value, h->value_len, UINT64_MAX, &clen)) {
		d->err = STOMP_E_BAD_CONTENT_LENGTH;
		return false;
	}
	if (clen != left) {
		d->err = STOMP_E_NO_NUL;
		return false;
	}
	return true;
}

int
stomp_decode(uint8_t *buf, size_t frame_len, unsigned version,
    struct stomp_frame *f, enum stomp_err *err)
{
	struct dec d = {buf, 0, 0, false, version, STOMP_E_NONE};

	f->cmd = STOMP_CMD_NONE;
	f->nhdr = 0;
	f->body = NULL;
	f->body_len = 0;
	if (frame_len == 0 || buf[frame_len - 1] != 0) {
		*err = STOMP_E_NO_NUL;
		return STOMP_ERR;
	}
	d.end = frame_len - 1;
	if (!dec_head(&d, f) || !dec_body(&d, f)) {
		*err = d.err;
		return STOMP_ERR;
	}
	*err = STOMP_E_NONE;
	return STOMP_OK;
}

const struct stomp_header *
stomp_header(const struct stomp_frame *f, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < f->nhdr; i++) {
		const struct stomp_header *h = &f->hdr[i];

		if (h->name_len == nl && memcmp(h->name, name, nl) == 0)
			return h;
	}
	return NULL;
}

bool
stomp_header_is(const struct stomp_header *h, const char *s)
{
	return h != NULL && bytes_eq(h->value, h->value_len, s);
}

/* ---- encoding ---- */

struct wr {
	uint8_t *p; /* NULL: only count */
	size_t cap;
	size_t len;
};

static void
wr_bytes(struct wr *w, const void *src, size_t n)
{
	if (w->p != NULL && w->len <= w->cap && n <= w->cap - w->len)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

/*
 * The escape for c in an escaped frame (STOMP 1.2: Value Encoding, "the
 * reverse transformation MUST be applied"), or NULL to write c raw. 1.1
 * has no \r, so CR goes raw there.
 */
static const char *
escape_seq(uint8_t c, unsigned version)
{
	switch (c) {
	case '\n':
		return "\\n";
	case ':':
		return "\\c";
	case '\\':
		return "\\\\";
	case '\r':
		return version >= STOMP_V12 ? "\\r" : NULL;
	default:
		return NULL;
	}
}

/* Write [p, p + len) escaped: runs of plain bytes go in one copy. */
static void
wr_escaped(struct wr *w, const char *p, size_t len, unsigned version)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		const char *e = escape_seq((uint8_t)p[i], version);

		if (e == NULL)
			continue;
		wr_bytes(w, p + run, i - run);
		wr_bytes(w, e, 2);
		run = i + 1;
	}
	wr_bytes(w, p + run, len - run);
}

static void
wr_text(struct wr *w, const char *p, size_t len, bool esc, unsigned version)
{
	if (esc)
		wr_escaped(w, p, len, version);
	else
		wr_bytes(w, p, len);
}

/* Decimal digits of v into w. */
static void
wr_count(struct wr *w, size_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	wr_bytes(w, tmp + i, sizeof(tmp) - i);
}

/*
 * A CR written raw (no \r escape in this version or frame) must not end a
 * value: every CRLF-tolerant reader, ours included, would take it for
 * half of the EOL.
 */
static bool
raw_cr_ok(const char *v, size_t len, bool esc, unsigned version)
{
	if (esc && version >= STOMP_V12)
		return true;
	return len == 0 || v[len - 1] != '\r';
}

bool
stomp_header_is_encodable(
    unsigned version, enum stomp_cmd cmd, const struct stomp_header *h)
{
	bool esc = stomp_cmd_is_escaped(version, cmd);

	if (h->name_len == 0)
		return false; /* STOMP 1.2 BNF: header-name = 1*OCTET */
	if (!raw_cr_ok(h->value, h->value_len, esc, version))
		return false;
	if (esc)
		return true;
	/* unescaped frames cannot carry LF anywhere, nor ':' in a name */
	return memchr(h->name, '\n', h->name_len) == NULL &&
	    memchr(h->name, ':', h->name_len) == NULL &&
	    memchr(h->value, '\n', h->value_len) == NULL;
}

/* The head into w; false if a header is not encodable. */
static bool
wr_head(struct wr *w, unsigned version, enum stomp_cmd cmd,
    const struct stomp_header *h, size_t n, size_t clen)
{
	bool esc = stomp_cmd_is_escaped(version, cmd);

	ASSERT(cmd_is_valid(cmd));
	wr_bytes(w, stomp_cmd_defs[cmd].name, stomp_cmd_defs[cmd].len);
	wr_bytes(w, "\n", 1);
	for (size_t i = 0; i < n; i++) {
		if (!stomp_header_is_encodable(version, cmd, &h[i]))
			return false;
		wr_text(w, h[i].name, h[i].name_len, esc, version);
		wr_bytes(w, ":", 1);
		wr_text(w, h[i].value, h[i].value_len, esc, version);
		wr_bytes(w, "\n", 1);
	}
	if (clen != STOMP_NO_CLEN) {
		wr_bytes(w, "content-length:", 15);
		wr_count(w, clen);
		wr_bytes(w, "\n", 1);
	}
	wr_bytes(w, "\n", 1);
	return true;
}

size_t
stomp_encode_head_len(unsigned version, enum stomp_cmd cmd,
    const struct stomp_header *h, size_t n, size_t clen)
{
	struct wr w = {NULL, 0, 0};

	return wr_head(&w, version, cmd, h, n, clen) ? w.len : 0;
}

size_t
stomp_encode_head(uint8_t *buf, size_t cap, unsigned version,
    enum stomp_cmd cmd, const struct stomp_header *h, size_t n, size_t clen)
{
	size_t need = stomp_encode_head_len(version, cmd, h, n, clen);
	struct wr w = {buf, cap, 0};

	if (need == 0 || need > cap)
		return 0;
	if (!wr_head(&w, version, cmd, h, n, clen))
		return 0;
	ASSERT(w.len == need);
	return w.len;
}

size_t
stomp_encode(uint8_t *buf, size_t cap, unsigned version,
    const struct stomp_frame *f, bool add_clen)
{
	size_t clen = add_clen ? f->body_len : STOMP_NO_CLEN;
	size_t head =
	    stomp_encode_head(buf, cap, version, f->cmd, f->hdr, f->nhdr, clen);

	if (head == 0 || cap - head < f->body_len + 1)
		return 0;
	if (f->body_len > 0)
		memcpy(buf + head, f->body, f->body_len);
	buf[head + f->body_len] = 0;
	return head + f->body_len + 1;
}

/* ---- version negotiation, heart-beat ---- */

/* One accept-version entry, spaces around it ignored; 0 if unknown. */
static unsigned
version_token(const char *p, size_t len)
{
	static const char *const names[] = {"1.0", "1.1", "1.2"};

	while (len > 0 && p[0] == ' ') {
		p++;
		len--;
	}
	while (len > 0 && p[len - 1] == ' ')
		len--;
	for (unsigned i = 0; i < ARRAY_LEN(names); i++) {
		if (bytes_eq(p, len, names[i]))
			return STOMP_V10 + i;
	}
	return 0;
}

unsigned
stomp_version_pick(const char *p, size_t len)
{
	unsigned best = 0;
	size_t i = 0;

	if (p == NULL)
		return STOMP_V10; /* STOMP 1.2: Protocol Negotiation */
	while (i <= len) {
		const char *comma = memchr(p + i, ',', len - i);
		size_t e = comma ? (size_t)(comma - p) : len;

		best = MAX(best, version_token(p + i, e - i));
		i = e + 1;
	}
	return best;
}

bool
stomp_heart_beat_parse(const char *p, size_t len, uint32_t *cx, uint32_t *cy)
{
	const char *comma = len ? memchr(p, ',', len) : NULL;
	const uint8_t *u = (const uint8_t *)p;
	uint64_t x, y;
	size_t xl;

	if (comma == NULL)
		return false; /* STOMP 1.2: Heart-beating, "cx,cy" */
	xl = (size_t)(comma - p);
	if (!parse_count(u, xl, UINT32_MAX, &x) ||
	    !parse_count(u + xl + 1, len - xl - 1, UINT32_MAX, &y))
		return false;
	*cx = (uint32_t)x;
	*cy = (uint32_t)y;
	return true;
}
