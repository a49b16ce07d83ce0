/* msg.c - see msg.h. */
#include "core/msg.h"

#include <stdlib.h>
#include <string.h>

/* Copy len bytes to *cur, NUL-terminate, advance; returns the copy. */
static uint8_t *
msg_put(uint8_t **cur, const void *src, size_t len)
{
	uint8_t *dst = *cur;

	if (len)
		memcpy(dst, src, len);
	dst[len] = '\0';
	*cur += len + 1;
	return dst;
}

struct msg *
msg_new(const struct msg_init *mi)
{
	size_t n = mi->topic_len + mi->payload_len + mi->content_type_len +
	    mi->response_topic_len + mi->correlation_len + mi->user_len + 6;
	struct msg *m = xmalloc(sizeof(*m) + n);
	uint8_t *cur = m->data;

	memset(m, 0, sizeof(*m));
	m->refs = 1;
	m->qos = mi->qos;
	m->retain = mi->retain;
	m->expiry_at_ms = mi->expiry_at_ms;
	m->has_payload_format = mi->has_payload_format;
	m->payload_format = mi->payload_format;
	m->topic_len = (uint32_t)mi->topic_len;
	m->topic = (const char *)msg_put(&cur, mi->topic, mi->topic_len);
	m->payload_len = mi->payload_len;
	m->payload = msg_put(&cur, mi->payload, mi->payload_len);
	if (mi->content_type) {
		m->content_type_len = (uint32_t)mi->content_type_len;
		m->content_type = (const char *)msg_put(
		    &cur, mi->content_type, mi->content_type_len);
	}
	if (mi->response_topic) {
		m->response_topic_len = (uint32_t)mi->response_topic_len;
		m->response_topic = (const char *)msg_put(
		    &cur, mi->response_topic, mi->response_topic_len);
	}
	if (mi->correlation) {
		m->correlation_len = (uint32_t)mi->correlation_len;
		m->correlation =
		    msg_put(&cur, mi->correlation, mi->correlation_len);
	}
	if (mi->user_count) {
		m->user_count = mi->user_count;
		m->user_len = (uint32_t)mi->user_len;
		m->user = msg_put(&cur, mi->user, mi->user_len);
	}
	return m;
}

void
msg_to_init(const struct msg *m, struct msg_init *mi)
{
	memset(mi, 0, sizeof(*mi));
	mi->topic = m->topic;
	mi->topic_len = m->topic_len;
	mi->payload = m->payload;
	mi->payload_len = m->payload_len;
	mi->qos = m->qos;
	mi->retain = m->retain;
	mi->expiry_at_ms = m->expiry_at_ms;
	mi->has_payload_format = m->has_payload_format;
	mi->payload_format = m->payload_format;
	mi->content_type = m->content_type;
	mi->content_type_len = m->content_type_len;
	mi->response_topic = m->response_topic;
	mi->response_topic_len = m->response_topic_len;
	mi->correlation = m->correlation;
	mi->correlation_len = m->correlation_len;
	mi->user = m->user;
	mi->user_len = m->user_len;
	mi->user_count = m->user_count;
}

void
msg_unref(struct msg *m)
{
	ASSERT(m->refs > 0);
	if (--m->refs == 0)
		free(m);
}

bool
msg_user_next(const struct msg *m, size_t *off, const uint8_t **k, size_t *klen,
    const uint8_t **v, size_t *vlen)
{
	size_t o = *off;

	if (o + 2 > m->user_len)
		return false;
	*klen = util_get_u16(m->user + o);
	*k = m->user + o + 2;
	o += 2 + *klen;
	if (o + 2 > m->user_len)
		return false;
	*vlen = util_get_u16(m->user + o);
	*v = m->user + o + 2;
	o += 2 + *vlen;
	if (o > m->user_len)
		return false;
	*off = o;
	return true;
}
