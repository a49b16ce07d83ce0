/*
 * addr.h - socket addresses as text, for logs and for the peer string
 * handed to protocol adapters.
 *
 * IPv4 reads "127.0.0.1:51234", IPv6 "[::1]:51234". Owns nothing.
 */
#ifndef JUNCTION_ADDR_H
#define JUNCTION_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Longest text addr_format() writes, with its NUL: "[v6]:65535". */
#define ADDR_TEXT_MAX 56

/* Write sa as text into buf (cap >= ADDR_TEXT_MAX); returns buf. */
char *addr_format(const struct sockaddr *sa, char *buf, size_t cap);

#endif
