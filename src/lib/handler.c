/* SPDX-License-Identifier: MIT */
/* What every handler's main does before its session starts. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handler.h"
#include "log.h"
#include "out.h"
#include "str.h"
#include "transport.h"

int
handler_number(const char *arg, uint64_t min, uint64_t max,
    uint64_t *value_out)
{
	if (parse_uint(arg, max, value_out) != PARSE_UINT_OK ||
	    *value_out < min)
		return -1;
	return 0;
}

int
handler_option(struct handler_options *o, int opt, const char *arg)
{
	uint64_t n;

	switch (opt) {
	case 'd':
		o->root = arg;
		return 1;
	case 'n':
		if (arg[0] == '\0' || strlen(arg) > HANDLER_DOMAIN_MAX)
			return -1;
		o->domain = arg;
		return 1;
	case 't':
		if (handler_number(arg, 1, HANDLER_TIMEOUT_MAX, &n) < 0)
			return -1;
		o->timeout_s = (int)n;
		return 1;
	default:
		return 0;
	}
}

/* The client's address, for the logs only: $REMOTE_ADDR (set by systemd
 * for Accept=yes units), else the peer of the socket on fd, else "local"
 * (a pipe). */
static void
peer_name(int fd, char *buf, size_t size)
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

static void
refuse(struct transport *t, const char *fmt, ...)
{
	struct out o;
	va_list ap;

	out_init(&o, t);
	va_start(ap, fmt);
	(void)out_vline(&o, fmt, ap);
	va_end(ap);
	(void)out_flush(&o);
}

int
handler_start(struct handler_options *o, const char *ident,
    struct fd_transport *t, const char *refusal_fmt)
{
	static char hostname[HANDLER_DOMAIN_MAX + 1];
	char peer[64];
	int root_fd;

	(void)signal(SIGPIPE, SIG_IGN);
	peer_name(STDIN_FILENO, peer, sizeof(peer));
	log_init(ident, peer);
	fd_transport_init(t, STDIN_FILENO, STDOUT_FILENO);
	if (o->domain == NULL) {
		if (gethostname(hostname, sizeof(hostname)) < 0)
			(void)str_copy(hostname, sizeof(hostname), "localhost");
		hostname[sizeof(hostname) - 1] = '\0';
		o->domain = hostname;
	}
	root_fd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		log_event(LOG_ERR, "fatal", "cannot open the mail root %s: %s",
		    o->root, strerror(errno));
		refuse(&t->base, refusal_fmt, o->domain);
	}
	return root_fd;
}
