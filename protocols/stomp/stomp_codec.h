/*
 * stomp_codec.h - pure STOMP 1.0 / 1.1 / 1.2 codec, both directions.
 *
 * Three pieces, no I/O and no allocation: framing (stomp_frame_len says
 * whether a whole frame is in the buffer, resumably, enforcing the
 * limits as bytes arrive), decoding one complete frame into a struct
 * stomp_frame whose header and body slices point into the input buffer,
 * and encoding a frame's head (command + headers + blank line) into a
 * caller buffer so the adapter can append the body zero-copy and a NUL.
 * Server and client frames are both handled, so the broker, the bridge
 * and the tests share one codec.
 *
 * Wire rules (STOMP 1.2 "STOMP Frames" and "Augmented BNF"):
 *   frame = command EOL *(header EOL) EOL *OCTET NUL *(EOL)
 *   EOL   = [CR] LF
 * CRLF is accepted in every version (1.0 / 1.1 only define LF, but
 * clients send CRLF anyway); the encoder always writes LF, which every
 * version accepts. Commands and header names are case sensitive.
 *
 * Header escaping (1.2 / 1.1 "Value Encoding"): in 1.1 and 1.2, every
 * frame except CONNECT, STOMP and CONNECTED escapes '\\', LF, ':' (and CR
 * in 1.2) in header names and values as \\ \n \c (\r); any other escape
 * is a fatal error. 1.0 has no escaping. Values are never trimmed (1.2:
 * "clients and servers MUST never trim or pad headers with spaces"; we
 * apply the same to 1.0, whose padded examples the later specs disown).
 *
 * Invariants: nothing outside [buf, buf + len) is read; limits are
 * checked before the caller has to buffer more than the limit; decoding
 * writes only inside the frame's header block (in-place unescaping).
 *
 * May include core/util.h only.
 */
#ifndef JUNCTION_STOMP_CODEC_H
#define JUNCTION_STOMP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* Protocol versions, as negotiated from accept-version (1.2 "Protocol
 * Negotiation"). 0 means "none we support". */
#define STOMP_V10 10
#define STOMP_V11 11
#define STOMP_V12 12

/*
 * Commands, one table: X(name, from_server, body_ok). from_server marks
 * the four server frames; body_ok marks the frames that may carry a body
 * (1.2 "Body": only SEND, MESSAGE and ERROR). The codec does not reject a
 * body elsewhere; the adapter decides (stomp_cmd_body_ok).
 */
#define STOMP_COMMANDS(X) \
	X(CONNECT, false, false) \
	X(STOMP, false, false) \
	X(SEND, false, true) \
	X(SUBSCRIBE, false, false) \
	X(UNSUBSCRIBE, false, false) \
	X(ACK, false, false) \
	X(NACK, false, false) \
	X(BEGIN, false, false) \
	X(COMMIT, false, false) \
	X(ABORT, false, false) \
	X(DISCONNECT, false, false) \
	X(CONNECTED, true, false) \
	X(MESSAGE, true, true) \
	X(RECEIPT, true, false) \
	X(ERROR, true, true)

enum stomp_cmd {
	STOMP_CMD_NONE = 0, /* not a command */
#define STOMP_CMD_ENUM(name, srv, body) STOMP_CMD_##name,
	STOMP_COMMANDS(STOMP_CMD_ENUM)
#undef STOMP_CMD_ENUM
	    STOMP_CMD_COUNT
};

/* "SEND" etc.; "?" for STOMP_CMD_NONE or out of range. */
const char *stomp_cmd_name(enum stomp_cmd cmd);

/* The command spelled [p, p + len) exactly (case sensitive), or NONE. */
enum stomp_cmd stomp_cmd_lookup(const char *p, size_t len);

/* Is cmd one of CONNECTED, MESSAGE, RECEIPT, ERROR? */
bool stomp_cmd_is_server(enum stomp_cmd cmd);

/* May a frame with this command carry a body (SEND, MESSAGE, ERROR)? */
bool stomp_cmd_body_ok(enum stomp_cmd cmd);

/*
 * Does this version escape the headers of this command? True for 1.1 and
 * 1.2 except CONNECT, STOMP and CONNECTED (1.2 "Value Encoding": they stay
 * unescaped for 1.0 compatibility; STOMP is 1.2's alias of CONNECT).
 */
bool stomp_cmd_is_escaped(unsigned version, enum stomp_cmd cmd);

/*
 * Error codes, one table: X(name, text). The text is what the adapter
 * puts in the ERROR frame's message header.
 */
#define STOMP_ERRORS(X) \
	X(NONE, "no error") \
	X(FRAME_TOO_LARGE, "frame too large") \
	X(TOO_MANY_HEADERS, "too many headers") \
	X(HEADER_TOO_LONG, "header line too long") \
	X(BODY_TOO_LARGE, "body too large") \
	X(UNKNOWN_COMMAND, "unknown command") \
	X(BAD_HEADER, "malformed header line") \
	X(BAD_CONTENT_LENGTH, "bad content-length") \
	X(BAD_ESCAPE, "undefined escape sequence in header") \
	X(NO_NUL, "frame body not terminated by NUL") \
	X(BAD_VERSION, "supported protocol versions are 1.0 1.1 1.2") \
	X(BAD_HEART_BEAT, "bad heart-beat header")

enum stomp_err {
#define STOMP_ERR_ENUM(name, text) STOMP_E_##name,
	STOMP_ERRORS(STOMP_ERR_ENUM)
#undef STOMP_ERR_ENUM
	    STOMP_E_COUNT
};

/* Text for an error code ("unknown error" if out of range). */
const char *stomp_err_text(enum stomp_err err);

enum stomp_status {
	STOMP_OK = 0,
	STOMP_MORE = 1, /* framing: need more bytes */
	STOMP_ERR = 2, /* the error code says why */
};

/*
 * Limits enforced by framing (1.2 "Size Limits": servers MAY limit the
 * header count, header line length and body size, and SHOULD answer with
 * an ERROR frame). All are in bytes except max_headers; 0 is not "no
 * limit": a zero limit allows nothing.
 */
struct stomp_limits {
	size_t max_frame; /* command line to NUL, inclusive */
	size_t max_headers; /* header lines per frame */
	size_t max_line; /* one command or header line, without its EOL */
	size_t max_body; /* body bytes, without the NUL */
};

/*
 * Resumable framing state, held by the caller (in its connection struct)
 * across calls for one frame; zero it (or call stomp_scan_reset) before
 * the first call. Framing resets it itself on STOMP_OK. Every byte is
 * examined once however slowly a frame arrives. Offsets are relative to
 * the frame's first byte (after the heart-beats framing told the caller
 * to skip). Private to the codec.
 */
struct stomp_scan {
	size_t off; /* bytes of the frame examined so far */
	size_t line; /* start of the current head line */
	size_t body; /* offset of the body; 0 while in the head */
	size_t clen; /* first content-length, if has_clen */
	size_t nhdr; /* header lines seen */
	bool has_cmd; /* command line seen and known */
	bool has_clen;
};

void stomp_scan_reset(struct stomp_scan *s);

/*
 * Framing: is a whole frame at buf (len bytes)?
 *
 * *skip: on every return, the number of heart-beat EOLs (LF or CRLF) at
 * the start of buf that precede the frame (1.2 "Heart-beating": any EOL
 * between frames). The caller drops them, whatever the status, and
 * passes the following bytes next time. Skipping happens only while no
 * frame byte has been examined, so EOLs trailing a frame's NUL (which 1.2
 * allows) arrive as the next call's heart-beats. They are not part of
 * frame_len, so frame lengths never depend on how much was buffered.
 *
 * STOMP_OK: a complete frame of *frame_len bytes (command through the
 * terminating NUL) starts at buf + *skip; *s is reset for the next frame.
 * STOMP_MORE: call again with more bytes (same *s). *frame_len is the
 * frame's full size once its content-length is known (a hint to reserve
 * or read that much), else 0.
 * STOMP_ERR: *err says why; the connection is beyond repair. Raised as
 * soon as the bytes seen prove it: a line longer than max_line even
 * before its EOL, the header count, a content-length above max_body or
 * making the frame exceed max_frame, a body or frame growing past its
 * limit, an unknown command once its line is complete, a non-decimal
 * content-length, a byte other than NUL after content-length body bytes.
 */
int stomp_frame_len(struct stomp_scan *s, const uint8_t *buf, size_t len,
    const struct stomp_limits *lim, size_t *skip, size_t *frame_len,
    enum stomp_err *err) WUR;

/* A header: name and value slices, unescaped. Not NUL-terminated. */
struct stomp_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/*
 * A decoded frame. The caller supplies hdr / hdr_cap (an array of at
 * least lim.max_headers entries); decode fills nhdr entries in wire
 * order, repeated names kept. body points into the frame buffer.
 */
struct stomp_frame {
	enum stomp_cmd cmd;
	struct stomp_header *hdr;
	size_t hdr_cap;
	size_t nhdr;
	const uint8_t *body;
	size_t body_len;
};

/*
 * Decode one complete frame: buf holds exactly frame_len bytes as
 * returned by stomp_frame_len (command first, NUL last). version is the
 * negotiated version (any value before CONNECT: CONNECT and STOMP are
 * never unescaped).
 *
 * Unescaping is done in place: buf's header block is rewritten (each
 * name and value shrinks where it had escapes), so the slices in *f
 * point into buf and stay valid while buf does. The body is untouched.
 * Nothing is allocated.
 *
 * Checks: the command is known; every header line has a non-empty name
 * before its first ':' (1.2 BNF: header-name = 1*<OCTET except CR, LF,
 * ':'>; the value is everything after that first ':', raw colons
 * included, which unescaped frames need); escapes per version; the first
 * content-length is a decimal count whose body is followed by the final
 * NUL; without one, the first NUL after the head is the last byte.
 * On STOMP_ERR, *err says why and *f is partial.
 */
int stomp_decode(uint8_t *buf, size_t frame_len, unsigned version,
    struct stomp_frame *f, enum stomp_err *err) WUR;

/*
 * The FIRST header named name (1.2 "Repeated Header Entries": only the
 * first entry is used), or NULL.
 */
const struct stomp_header *stomp_header(
    const struct stomp_frame *f, const char *name);

/* Does value [p, p + len) equal the NUL-terminated s? */
bool stomp_header_is(const struct stomp_header *h, const char *s);

/* No content-length header to write (see stomp_encode_head). */
#define STOMP_NO_CLEN SIZE_MAX

/*
 * Can this header be written in a frame of this version and command? No
 * for an empty name, and in unescaped frames (1.0, CONNECT, STOMP,
 * CONNECTED) for CR or LF anywhere or ':' in the name, which the wire
 * could not carry. Callers drop or fix such headers before encoding.
 */
bool stomp_header_is_encodable(
    unsigned version, enum stomp_cmd cmd, const struct stomp_header *h);

/*
 * Encode a frame's head: "COMMAND\n", each header "name:value\n" escaped
 * as the version and command require, then "content-length:N\n" if clen
 * is not STOMP_NO_CLEN, then the blank line "\n". The caller appends the
 * body (clen bytes if given) and one NUL byte. h[] must not also carry a
 * content-length when clen is given.
 *
 * stomp_encode_head_len returns the size the head takes, or 0 if a
 * header is not encodable (stomp_header_is_encodable). stomp_encode_head
 * writes it into buf and returns the bytes written, or 0 if cap is too
 * small or a header is not encodable.
 */
size_t stomp_encode_head_len(unsigned version, enum stomp_cmd cmd,
    const struct stomp_header *h, size_t n, size_t clen);
size_t stomp_encode_head(uint8_t *buf, size_t cap, unsigned version,
    enum stomp_cmd cmd, const struct stomp_header *h, size_t n, size_t clen);

/*
 * A whole frame: head (f's headers, plus content-length: f->body_len if
 * add_clen), body and NUL. Returns bytes written, 0 if cap is too small
 * or a header is not encodable. For tests, the bridge and small frames.
 */
size_t stomp_encode(uint8_t *buf, size_t cap, unsigned version,
    const struct stomp_frame *f, bool add_clen);

/*
 * Pick the highest version we support from an accept-version value
 * ("1.0,1.1,1.2"; spaces around the entries tolerated, unknown entries
 * ignored). A NULL value means the header is absent: STOMP 1.0 (1.2
 * "Protocol Negotiation"). Returns STOMP_V10..STOMP_V12, or 0 if no
 * entry is supported (answer with STOMP_E_BAD_VERSION's text and a
 * version header listing ours).
 */
unsigned stomp_version_pick(const char *p, size_t len);

/*
 * Parse a heart-beat value "cx,cy" (1.2 "Heart-beating": two decimal
 * integers, 0 = none) into *cx and *cy. False (STOMP_E_BAD_HEART_BEAT)
 * for anything else: missing comma, empty or non-digit fields, spaces,
 * values above UINT32_MAX.
 */
bool stomp_heart_beat_parse(
    const char *p, size_t len, uint32_t *cx, uint32_t *cy) WUR;

#endif
