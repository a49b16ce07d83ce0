/* addr.c - see addr.h. */
#include "net/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "core/util.h"

char *
addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	char host[INET6_ADDRSTRLEN];

	ASSERT(cap >= ADDR_TEXT_MAX);
	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(in4->sin_port));
	} else {
		snprintf(buf, cap, "unknown");
	}
	return buf;
}
