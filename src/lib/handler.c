/* SPDX-License-Identifier: MIT */
/* What every handler's main does before its session starts. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
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
	case 'C':
		o->cert_file = arg;
		return 1;
	case 'K':
		o->key_file = arg;
		return 1;
	case 'R':
		o->auth_needs_tls = true;
		return 1;
	default:
		return 0;
	}
}

int
handler_options_check(const struct handler_options *o)
{
	if ((o->cert_file == NULL) != (o->key_file == NULL))
		return -1;
	if (o->cert_file != NULL && !tls_available()) {
		(void)fprintf(stderr, "built without TLS: -C and -K cannot work\n");
		return -1;
	}
	return 0;
}

/* Whether the client on fd is on this machine: a pipe or a UNIX socket (a
 * local process), or a loopback address. For -R, so this looks at the
 * socket itself, never at the environment. */
static bool
peer_is_local(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in6 *sin6;
	const unsigned char *a;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return errno == ENOTSOCK;
	switch (ss.ss_family) {
	case AF_UNIX:
		return true;
	case AF_INET:
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)&ss)->sin_addr;
		return a[0] == 127;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		a = sin6->sin6_addr.s6_addr;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && a[12] == 127;
	default:
		return false;
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

static struct tls_server *session_tls;

int
handler_start(struct handler_options *o, const char *ident,
    struct fd_transport *t, const char *refusal_fmt, struct handler_env *env)
{
	static char hostname[HANDLER_DOMAIN_MAX + 1];
	char peer[64];

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
	env->tls = NULL;
	env->auth_needs_tls = o->auth_needs_tls && !peer_is_local(STDIN_FILENO);
	env->root_fd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (env->root_fd < 0) {
		log_event(LOG_ERR, "fatal", "cannot open the mail root %s: %s",
		    o->root, strerror(errno));
		refuse(&t->base, refusal_fmt, o->domain, "mail root");
		return -1;
	}
	if (o->cert_file != NULL) {
		session_tls = tls_server_new(o->cert_file, o->key_file);
		if (session_tls == NULL) {
			refuse(&t->base, refusal_fmt, o->domain,
			    "TLS certificate");
			return -1;
		}
		tls_server_hook(session_tls, STDIN_FILENO, STDOUT_FILENO,
		    &env->tls_hook);
		env->tls = &env->tls_hook;
	}
	return 0;
}

void
handler_end(void)
{
	tls_server_free(session_tls);
	session_tls = NULL;
}
