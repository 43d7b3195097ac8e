/* SPDX-License-Identifier: MIT */
/* What every handler's main does before its session starts. */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handler.h"
#include "out.h"
#include "str.h"

int
handler_number(const char *arg, uint64_t min, uint64_t max,
    uint64_t *value_out)
{
	if (parse_uint(arg, max, value_out) != PARSE_UINT_OK ||
	    *value_out < min)
		return -1;
	return 0;
}

void
handler_peer(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *env = getenv("REMOTE_ADDR");
	const void *addr;

	if (env != NULL && str_copy(buf, size, env) == 0)
		return;
	(void)str_copy(buf, size, "local");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	else
		return;
	if (inet_ntop(ss.ss_family, addr, buf, (socklen_t)size) == NULL)
		(void)str_copy(buf, size, "unknown");
}

void
handler_hostname(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0)
		(void)str_copy(buf, size, "localhost");
	buf[size - 1] = '\0';
}

void
handler_refuse(struct transport *t, const char *line)
{
	struct out o;

	out_init(&o, t);
	(void)out_put(&o, line, strlen(line));
	(void)out_flush(&o);
}
