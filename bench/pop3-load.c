/* SPDX-License-Identifier: MIT */
/* pop3-load: a POP3 load generator for the benchmarks. SESSIONS sessions,
 * CONCURRENCY at a time (one thread each), every one: connect, optionally
 * TLS (STLS, or implicit as for pop3s), USER, PASS, STAT, LIST, RETR of the
 * first K messages, QUIT. A "%d" in USER becomes the thread's number (1 to
 * CONCURRENCY): RFC 1939 gives a maildrop to one session at a time, so
 * concurrent sessions need a user each. Prints sessions/s, latency percentiles, the
 * octets retrieved and the generator's own CPU time, so a run shows whether
 * the generator or the server was the bottleneck. Fails (exit 1) on any
 * error reply or broken session: a benchmark of failures measures nothing.
 *
 *   pop3-load [-h HOST] [-p PORT] [-u USER] [-w PASS] [-n SESSIONS]
 *             [-c CONCURRENCY] [-k RETR] [-T stls|implicit]
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_OPENSSL
#include <openssl/ssl.h>
#endif

enum tls_mode { TLS_NONE, TLS_STLS, TLS_IMPLICIT };

struct options {
	const char	*host, *port, *user, *pass;
	long		 sessions, concurrency, retr;
	enum tls_mode	 tls;
};

/* One connection: a socket, TLS once started, and a read buffer. */
struct conn {
	int		 fd;
#ifdef HAVE_OPENSSL
	SSL		*ssl;
#endif
	char		 buf[65536];
	size_t		 start, end;
};

struct worker {
	const struct options	*opt;
	char			 user[520];
	long			 sessions;
	double			*latency_ms;	/* one per session */
	uint64_t		 octets;
	int			 failed;
	pthread_t		 thread;
};

#ifdef HAVE_OPENSSL
static SSL_CTX *client_ctx;
#endif

static double
now_ms(void)
{
	struct timespec t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int
conn_open(struct conn *c, const struct options *o)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int one = 1;

	c->start = c->end = 0;
#ifdef HAVE_OPENSSL
	c->ssl = NULL;
#endif
	if (getaddrinfo(o->host, o->port, &hints, &res) != 0)
		return -1;
	c->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, res->ai_addr, res->ai_addrlen) < 0) {
		freeaddrinfo(res);
		if (c->fd >= 0)
			(void)close(c->fd);
		return -1;
	}
	freeaddrinfo(res);
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int
conn_tls(struct conn *c)
{
#ifdef HAVE_OPENSSL
	c->ssl = SSL_new(client_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_connect(c->ssl) != 1)
		return -1;
	c->start = c->end = 0;
	return 0;
#else
	(void)c;
	return -1;
#endif
}

static void
conn_close(struct conn *c)
{
#ifdef HAVE_OPENSSL
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
#endif
	(void)close(c->fd);
}

static ssize_t
conn_recv(struct conn *c, void *p, size_t n)
{
#ifdef HAVE_OPENSSL
	size_t got;

	if (c->ssl != NULL)
		return SSL_read_ex(c->ssl, p, n, &got) == 1 ? (ssize_t)got : -1;
#endif
	return read(c->fd, p, n);
}

static int
conn_send(struct conn *c, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;

#ifdef HAVE_OPENSSL
	size_t done;

	if (c->ssl != NULL)
		return SSL_write_ex(c->ssl, s, n, &done) == 1 ? 0 : -1;
#endif
	while (n > 0) {
		w = write(c->fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The next line, CRLF included, as a pointer into the buffer and length. */
static int
conn_line(struct conn *c, const char **line, size_t *len)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(c->buf + c->start, '\n', c->end - c->start);
		if (nl != NULL) {
			*line = c->buf + c->start;
			*len = (size_t)(nl + 1 - *line);
			c->start += *len;
			return 0;
		}
		if (c->start > 0) {
			memmove(c->buf, c->buf + c->start, c->end - c->start);
			c->end -= c->start;
			c->start = 0;
		}
		if (c->end == sizeof(c->buf))
			return -1;
		n = conn_recv(c, c->buf + c->end, sizeof(c->buf) - c->end);
		if (n <= 0)
			return -1;
		c->end += (size_t)n;
	}
}

/* Send cmd (NULL: none, for the greeting) and read a +OK status line, then
 * a multi-line body when multi; *octets counts the body's bytes. */
static int
exchange(struct conn *c, const char *cmd, bool multi, uint64_t *octets)
{
	const char *line;
	size_t len;

	if (cmd != NULL && conn_send(c, cmd) < 0)
		return -1;
	if (conn_line(c, &line, &len) < 0 || len < 3 ||
	    strncmp(line, "+OK", 3) != 0)
		return -1;
	while (multi) {
		if (conn_line(c, &line, &len) < 0)
			return -1;
		if (len == 3 && memcmp(line, ".\r\n", 3) == 0)
			break;
		*octets += len;
	}
	return 0;
}

static int
session(const struct options *o, const char *user, uint64_t *octets)
{
	char cmd[600];
	struct conn *c;
	int rc = -1;
	long i;

	if ((c = malloc(sizeof(*c))) == NULL)
		return -1;
	if (conn_open(c, o) < 0) {
		free(c);
		return -1;
	}
	if (o->tls == TLS_IMPLICIT && conn_tls(c) < 0)
		goto out;
	if (exchange(c, NULL, false, octets) < 0)
		goto out;
	if (o->tls == TLS_STLS && (exchange(c, "STLS\r\n", false, octets) < 0 ||
	    conn_tls(c) < 0))
		goto out;
	(void)snprintf(cmd, sizeof(cmd), "USER %s\r\n", user);
	if (exchange(c, cmd, false, octets) < 0)
		goto out;
	(void)snprintf(cmd, sizeof(cmd), "PASS %s\r\n", o->pass);
	if (exchange(c, cmd, false, octets) < 0 ||
	    exchange(c, "STAT\r\n", false, octets) < 0 ||
	    (o->retr > 0 && exchange(c, "LIST\r\n", true, octets) < 0))
		goto out;
	for (i = 1; i <= o->retr; i++) {
		(void)snprintf(cmd, sizeof(cmd), "RETR %ld\r\n", i);
		if (exchange(c, cmd, true, octets) < 0)
			goto out;
	}
	rc = exchange(c, "QUIT\r\n", false, octets);
out:
	conn_close(c);
	free(c);
	return rc;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	double t0;
	long i;

	for (i = 0; i < w->sessions; i++) {
		t0 = now_ms();
		if (session(w->opt, w->user, &w->octets) < 0) {
			w->failed++;
			return NULL;
		}
		w->latency_ms[i] = now_ms() - t0;
	}
	return NULL;
}

/* pattern with its first "%d" replaced by number. */
static void
user_name(char *buf, size_t size, const char *pattern, long number)
{
	const char *d = strstr(pattern, "%d");

	if (d == NULL)
		(void)snprintf(buf, size, "%s", pattern);
	else
		(void)snprintf(buf, size, "%.*s%ld%s", (int)(d - pattern),
		    pattern, number, d + 2);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: pop3-load [-h HOST] [-p PORT] [-u USER] "
	    "[-w PASS] [-n SESSIONS] [-c CONCURRENCY] [-k RETR] "
	    "[-T stls|implicit]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct options o = { "127.0.0.1", "110", "bench", "benchpw", 100, 1, 0,
	    TLS_NONE };
	struct worker *w;
	struct rusage ru;
	double t0, secs, *all, cpu;
	uint64_t octets = 0;
	long i, n = 0, per, extra;
	int opt, failed = 0;

	while ((opt = getopt(argc, argv, "h:p:u:w:n:c:k:T:")) != -1) {
		switch (opt) {
		case 'h': o.host = optarg; break;
		case 'p': o.port = optarg; break;
		case 'u': o.user = optarg; break;
		case 'w': o.pass = optarg; break;
		case 'n': o.sessions = atol(optarg); break;
		case 'c': o.concurrency = atol(optarg); break;
		case 'k': o.retr = atol(optarg); break;
		case 'T':
			if (strcmp(optarg, "stls") == 0)
				o.tls = TLS_STLS;
			else if (strcmp(optarg, "implicit") == 0)
				o.tls = TLS_IMPLICIT;
			else
				usage();
			break;
		default: usage();
		}
	}
	if (o.sessions < 1 || o.concurrency < 1 || o.retr < 0 ||
	    o.concurrency > o.sessions || strlen(o.user) > 500 ||
	    strlen(o.pass) > 500)
		usage();
#ifdef HAVE_OPENSSL
	/* A benchmark client: the certificate is not checked. */
	client_ctx = SSL_CTX_new(TLS_client_method());
	if (client_ctx == NULL)
		return 1;
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
#else
	if (o.tls != TLS_NONE) {
		(void)fprintf(stderr, "pop3-load: built without TLS\n");
		return 2;
	}
#endif
	w = calloc((size_t)o.concurrency, sizeof(*w));
	all = calloc((size_t)o.sessions, sizeof(*all));
	if (w == NULL || all == NULL)
		return 1;
	per = o.sessions / o.concurrency;
	extra = o.sessions % o.concurrency;
	t0 = now_ms();
	for (i = 0; i < o.concurrency; i++) {
		w[i].opt = &o;
		user_name(w[i].user, sizeof(w[i].user), o.user, i + 1);
		w[i].sessions = per + (i < extra);
		w[i].latency_ms = all + n;
		n += w[i].sessions;
		if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
			return 1;
	}
	for (i = 0; i < o.concurrency; i++) {
		(void)pthread_join(w[i].thread, NULL);
		failed += w[i].failed;
		octets += w[i].octets;
	}
	secs = (now_ms() - t0) / 1e3;
	if (failed > 0) {
		(void)fprintf(stderr, "pop3-load: %d sessions failed\n", failed);
		return 1;
	}
	qsort(all, (size_t)o.sessions, sizeof(*all), cmp_double);
	(void)getrusage(RUSAGE_SELF, &ru);
	cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("sessions %ld concurrency %ld seconds %.3f sessions/s %.1f "
	    "p50_ms %.2f p90_ms %.2f p99_ms %.2f MB/s %.2f client_cpu_s %.3f\n",
	    o.sessions, o.concurrency, secs, o.sessions / secs,
	    all[o.sessions / 2], all[o.sessions * 9 / 10],
	    all[o.sessions * 99 / 100], octets / secs / 1e6, cpu);
	free(all);
	free(w);
	return 0;
}
