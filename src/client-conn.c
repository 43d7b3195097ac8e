/* SPDX-License-Identifier: MIT */
/* mail_client's connection to a server: connect with a timeout, switch to
 * TLS, send command lines, read reply lines with a timeout. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "io.h"
#include "starttls.h"
#include "str.h"

/* Connect fd to ai, giving up after timeout_s. Returns 0, or -1 with
 * errno set. */
static int
connect_timed(int fd, const struct addrinfo *ai, int timeout_s)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int flags, err = 0, rc;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			return -1;
		do
			rc = poll(&pfd, 1, timeout_s * 1000);
		while (rc < 0 && errno == EINTR);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -1;
		if (err != 0) {
			errno = err;
			return -1;
		}
	}
	return fcntl(fd, F_SETFL, flags);
}

int
conn_open(struct conn *c, const struct client_opts *opts, const char *port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);
	struct addrinfo *res, *ai;
	int rc, err = 0;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->opts = opts;
	rc = getaddrinfo(opts->host, port, &hints, &res);
	if (rc != 0) {
		(void)fprintf(stderr, "mail_client: cannot find %s port %s: "
		    "%s\n", opts->host, port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (c->fd < 0) {
			err = errno;
			continue;
		}
		if (connect_timed(c->fd, ai, opts->timeout_s) == 0)
			break;
		err = errno;
		(void)close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		(void)fprintf(stderr, "mail_client: cannot connect to %s port "
		    "%s: %s\n", opts->host, port, strerror(err));
		return -1;
	}
	/* Where the connection went, not what the name says: a name can
	 * resolve anywhere. */
	c->local = getpeername(c->fd, (struct sockaddr *)&peer,
	    &peer_len) == 0 && io_addr_is_local(&peer);
	fd_transport_init(&c->ft, c->fd, c->fd);
	line_reader_init(&c->in, &c->ft.base, opts->timeout_s);
	out_init(&c->out, &c->ft.base, opts->timeout_s);
	c->in.before_wait = out_flush_hook;
	c->in.before_wait_arg = &c->out;
	return 0;
}

int
conn_starttls(struct conn *c)
{
	struct tls_hook hook;

	c->tls = tls_client_new(&c->opts->trust, c->opts->host);
	if (c->tls == NULL)
		return -1;
	tls_client_hook(c->tls, c->fd, &hook);
	/* The servers' own switch: it drops what came before the handshake,
	 * so a reply injected in clear text is never read as if it came
	 * through TLS. */
	if (starttls(&hook, &c->in, &c->out) < 0) {
		tls_client_free(c->tls);
		c->tls = NULL;
		(void)close(c->fd);	/* in no known state: no QUIT */
		c->fd = -1;
		return -1;
	}
	return 0;
}

void
conn_warn_clear_text(const struct conn *c)
{
	if (c->tls != NULL || c->local)
		return;
	if (c->opts->tls == CLIENT_TLS_OFF)
		(void)fprintf(stderr, "mail_client: warning: --no-tls: the "
		    "password goes over the network to %s in clear text\n",
		    c->opts->host);
	else
		(void)fprintf(stderr, "mail_client: warning: %s offers no TLS: "
		    "the password goes over the network in clear text\n",
		    c->opts->host);
}

void
conn_close(struct conn *c)
{
	tls_client_free(c->tls);	/* close_notify first */
	c->tls = NULL;
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
}

/* Send what is queued. Returns 0, or -1 after saying why. */
static int
flush(struct conn *c)
{
	if (out_flush(&c->out) < 0) {
		(void)fprintf(stderr, "mail_client: the server closed the "
		    "connection\n");
		return -1;
	}
	return 0;
}

int
conn_send(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)out_vline(&c->out, fmt, ap);
	va_end(ap);
	return flush(c);
}

int
conn_send_secret(struct conn *c, const char *line)
{
	int rc;

	/* Straight into the buffer, with no formatted copy on the stack,
	 * and the buffer wiped once sent. */
	(void)out_put(&c->out, line, strlen(line));
	(void)out_put(&c->out, "\r\n", 2);
	rc = flush(c);
	str_wipe(c->out.buf, sizeof(c->out.buf));
	return rc;
}

void
conn_report(enum line_status st)
{
	switch (st) {
	case LINE_TIMEOUT:
		(void)fprintf(stderr, "mail_client: the server did not answer "
		    "in time\n");
		break;
	case LINE_ERR:
		(void)fprintf(stderr, "mail_client: the connection to the "
		    "server failed: %s\n", strerror(errno));
		break;
	default:
		(void)fprintf(stderr, "mail_client: the server closed the "
		    "connection\n");
		break;
	}
}

int
conn_line(struct conn *c, char *buf, size_t size)
{
	enum line_status st;
	enum line_end end;
	size_t len;

	st = line_read_part(&c->in, buf, size - 1, &len, &end);
	if (st != LINE_OK) {
		conn_report(st);
		return -1;
	}
	/* No reply line is this long: give up at once rather than read a
	 * line that may never end. */
	if (end == LINE_END_NONE) {
		(void)fprintf(stderr, "mail_client: the server sent a line too "
		    "long to read\n");
		return -1;
	}
	buf[len] = '\0';
	conn_clean(buf, len);
	return 0;
}

void
conn_clean(char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (((unsigned char)buf[i] < 0x20 && buf[i] != '\t') ||
		    buf[i] == 0x7f)
			buf[i] = '?';
}
