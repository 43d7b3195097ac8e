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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handler.h"
#include "io.h"
#include "log.h"
#include "out.h"
#include "proxy.h"
#include "str.h"
#include "transport.h"

/* The longest address inet_ntop writes (INET6_ADDRSTRLEN), with room to
 * spare for what $REMOTE_ADDR may hold. */
#define PEER_NAME_MAX	64

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
	case 'T':
		if (handler_number(arg, 0, HANDLER_TIMEOUT_MAX, &n) < 0)
			return -1;
		o->lifetime_s = (int)n;
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
	case 'P':
		o->proxy = true;
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

/* The client as the handler sees it, found once and used for both the
 * logs and -R: the peer of the socket on fd 0, or the address a PROXY
 * header gave for it. */
struct peer {
	int			 err;	/* 0: addr holds the address; else
					 * getpeername's errno (ENOTSOCK: a pipe) */
	bool			 from_header;
	struct sockaddr_storage	 addr;
};

static void
peer_of_socket(int fd, struct peer *p)
{
	socklen_t len = sizeof(p->addr);

	memset(p, 0, sizeof(*p));
	if (getpeername(fd, (struct sockaddr *)&p->addr, &len) < 0)
		p->err = errno;
}

/* Whether the client is on this machine: a pipe or a UNIX socket (a local
 * process), or a loopback address. For -R, so this looks at the socket
 * (or, with -P, at the header), never at the environment. */
static bool
peer_is_local(const struct peer *p)
{
	if (p->err != 0)
		return p->err == ENOTSOCK;
	return io_addr_is_local(&p->addr);
}

/* The client's address, for the logs only: $REMOTE_ADDR (set by systemd
 * for Accept=yes units), else the peer's address, else "local" (a pipe)
 * or "unknown".
 * An address from a PROXY header comes first: behind a balancer,
 * $REMOTE_ADDR is the balancer's. */
static void
peer_name(const struct peer *p, char *buf, size_t size)
{
	const char *env = getenv("REMOTE_ADDR");
	const void *addr;

	if (!p->from_header && env != NULL && str_copy(buf, size, env) == 0)
		return;
	/* A socket whose peer is already gone (ENOTCONN: a balancer's
	 * health check that hung up at once) is no local client. */
	(void)str_copy(buf, size, p->err == 0 || p->err == ENOTSOCK ?
	    "local" : "unknown");
	if (p->err != 0)
		return;
	if (p->addr.ss_family == AF_INET)
		addr = &((const struct sockaddr_in *)&p->addr)->sin_addr;
	else if (p->addr.ss_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)&p->addr)->sin6_addr;
	else
		return;
	if (inet_ntop(p->addr.ss_family, addr, buf, (socklen_t)size) == NULL)
		(void)str_copy(buf, size, "unknown");
}

/* -P: read the PROXY header on fd 0, all of it within timeout_s, and make
 * its address the client's. Returns 0, or -1 when there is no valid
 * header (logged, with the balancer's address as the peer). */
static int
take_proxy_header(int timeout_s, struct peer *p)
{
	struct proxy_header h;
	const char *why;
	char name[PEER_NAME_MAX];

	switch (proxy_read(STDIN_FILENO, timeout_s * 1000, &h, &why)) {
	case PROXY_OK:
		break;
	case PROXY_BAD:
		log_event(LOG_WARNING, "proxy", "bad PROXY header: %s "
		    "(%zu byte%s read); session closed", why, h.len,
		    h.len == 1 ? "" : "s");
		return -1;
	case PROXY_EOF:
		/* A balancer's bare TCP health check: connect, close. */
		if (h.len == 0)
			log_event(LOG_INFO, "proxy", "no PROXY header: the "
			    "input ended first; session closed");
		else
			log_event(LOG_WARNING, "proxy", "PROXY header cut "
			    "off: the input ended after %zu byte%s; session "
			    "closed", h.len, h.len == 1 ? "" : "s");
		return -1;
	case PROXY_TIMEOUT:
		log_event(LOG_WARNING, "proxy", "PROXY header not complete "
		    "within %d s (%zu byte%s read); session closed", timeout_s,
		    h.len, h.len == 1 ? "" : "s");
		return -1;
	case PROXY_ERR:
		log_event(LOG_WARNING, "proxy", "reading the PROXY header: "
		    "%s: %s; session closed", why, strerror(errno));
		return -1;
	}
	if (!h.has_addr) {
		log_event(LOG_DEBUG, "proxy", "v%d header without the client's "
		    "address: the connection's own peer stands", h.version);
		return 0;
	}
	p->err = 0;
	p->from_header = true;
	p->addr = h.addr;
	peer_name(p, name, sizeof(name));
	/* Under the balancer's address: this line ties the two together. */
	log_event(LOG_DEBUG, "proxy", "v%d header: client %s", h.version, name);
	log_set_peer(name);
	return 0;
}

static void
refuse(struct transport *t, int timeout_s, const char *fmt, ...)
{
	struct out o;
	va_list ap;

	out_init(&o, t, timeout_s);
	va_start(ap, fmt);
	(void)out_vline(&o, fmt, ap);
	va_end(ap);
	(void)out_flush(&o);
}

static struct tls_server *session_tls;

/* A core dump would hold passwords. The units say LimitCORE=0; xinetd
 * and the launchers have no such setting, so the handler says it too.
 * Failure is harmless: the limit can only be lowered. */
static void
no_core_dumps(void)
{
	const struct rlimit none = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &none);
}

enum handler_start_status
handler_start(struct handler_options *o, const char *ident,
    struct fd_transport *t, const char *refusal_fmt, struct handler_env *env)
{
	static char hostname[HANDLER_DOMAIN_MAX + 1];
	char name[PEER_NAME_MAX];
	struct peer peer;

	(void)signal(SIGPIPE, SIG_IGN);
	no_core_dumps();
	peer_of_socket(STDIN_FILENO, &peer);
	peer_name(&peer, name, sizeof(name));
	log_init(ident, name);
	/* Before anything is sent or any TLS handshake: the header is the
	 * first thing on the connection, and nothing else may be read as if
	 * it were part of it, nor it as part of anything else. */
	if (o->proxy && take_proxy_header(o->timeout_s, &peer) < 0)
		return HANDLER_DROPPED;
	fd_transport_init(t, STDIN_FILENO, STDOUT_FILENO);
	if (o->domain == NULL) {
		if (gethostname(hostname, sizeof(hostname)) < 0)
			(void)str_copy(hostname, sizeof(hostname), "localhost");
		hostname[sizeof(hostname) - 1] = '\0';
		o->domain = hostname;
	}
	env->tls = NULL;
	env->auth_needs_tls = o->auth_needs_tls && !peer_is_local(&peer);
	env->has_peer_addr = peer.err == 0;
	env->peer_addr = peer.addr;
	env->root_fd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (env->root_fd < 0) {
		log_event(LOG_ERR, "fatal", "cannot open the mail root %s: %s",
		    o->root, strerror(errno));
		refuse(&t->base, o->timeout_s, refusal_fmt, o->domain,
		    "mail root");
		return HANDLER_REFUSED;
	}
	if (o->cert_file != NULL) {
		session_tls = tls_server_new(o->cert_file, o->key_file);
		if (session_tls == NULL || (o->tls_at_start &&
		    tls_server_load(session_tls) < 0)) {
			refuse(&t->base, o->timeout_s, refusal_fmt, o->domain,
			    "TLS certificate");
			return HANDLER_REFUSED;
		}
		tls_server_hook(session_tls, STDIN_FILENO, STDOUT_FILENO,
		    &env->tls_hook);
		env->tls = &env->tls_hook;
	}
	return HANDLER_READY;
}

void
handler_end(void)
{
	tls_server_free(session_tls);
	session_tls = NULL;
}
