/*
 * fake_out.h - the proto_out seam faked for adapter unit tests (MQTT and
 * STOMP): everything the adapter writes lands in one flat buffer that
 * the test reads back frame by frame; pause and close are recorded.
 * Header-only: each test binary is one translation unit.
 */
#ifndef JUNCTION_TEST_FAKE_OUT_H
#define JUNCTION_TEST_FAKE_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/msg.h"
#include "core/proto.h"

struct fake_io {
	uint8_t out[65536];
	size_t len; /* bytes written */
	size_t rd; /* bytes the test has read back */
	bool closed;
	const char *reason;
	bool paused;
	void *p; /* adapter state */
	bool gone; /* proto close() called */
};

static void
fake_write(void *io, const void *buf, size_t len)
{
	struct fake_io *f = io;

	assert_true(f->len + len <= sizeof(f->out));
	memcpy(f->out + f->len, buf, len);
	f->len += len;
}

static void
fake_write_msg(void *io, const void *hdr, size_t hlen, struct msg *m)
{
	fake_write(io, hdr, hlen);
	fake_write(io, m->payload, m->payload_len);
}

static size_t
fake_pending(void *io UNUSED)
{
	return 0;
}

static void
fake_pause(void *io, bool paused)
{
	((struct fake_io *)io)->paused = paused;
}

static void
fake_close(void *io, const char *reason)
{
	struct fake_io *f = io;

	if (!f->closed)
		f->reason = reason;
	f->closed = true;
}

static const struct proto_out fake_out = {
    .write = fake_write,
    .write_msg = fake_write_msg,
    .pending = fake_pending,
    .pause = fake_pause,
    .close = fake_close,
};

#endif
