/* SPDX-License-Identifier: MIT */
/* load.c: the shared half of the benchmarks' load generators (load.h):
 * connections, TLS, lines, threads, timing and the output line. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

struct worker {
	const struct load	*load;
	long			 number, sessions;
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
conn_open(struct conn *c, const struct load *l)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int one = 1;

	c->start = c->end = 0;
#ifdef HAVE_OPENSSL
	c->ssl = NULL;
#endif
	if (getaddrinfo(l->host, l->port, &hints, &res) != 0)
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

int
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

int
conn_write(struct conn *c, const char *s, size_t n)
{
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

int
conn_send(struct conn *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

/* The next line, CRLF included, as a pointer into the buffer and length. */
int
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

/* One session: connect, implicit TLS if asked, the protocol's part. */
static int
session(const struct load *l, long number, uint64_t *octets)
{
	struct conn *c;
	int rc = -1;

	if ((c = malloc(sizeof(*c))) == NULL)
		return -1;
	if (conn_open(c, l) < 0) {
		free(c);
		return -1;
	}
	if (!l->implicit_tls || conn_tls(c) == 0)
		rc = l->session(c, l->arg, number, octets);
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
		if (session(w->load, w->number, &w->octets) < 0) {
			w->failed++;
			return NULL;
		}
		w->latency_ms[i] = now_ms() - t0;
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int
tls_init(const struct load *l)
{
#ifdef HAVE_OPENSSL
	if (!l->tls)
		return 0;
	/* A benchmark client: the certificate is not checked; TLS 1.3 only,
	 * so that every server is measured with the same protocol. */
	client_ctx = SSL_CTX_new(TLS_client_method());
	if (client_ctx == NULL ||
	    SSL_CTX_set_min_proto_version(client_ctx, TLS1_3_VERSION) != 1)
		return -1;
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
	return 0;
#else
	if (!l->tls)
		return 0;
	(void)fprintf(stderr, "%s: built without TLS\n", l->name);
	return -1;
#endif
}

int
load_run(const struct load *l)
{
	struct worker *w;
	struct rusage ru;
	double t0, secs, *all, cpu;
	uint64_t octets = 0;
	long i, n = 0, per, extra, count;
	int failed = 0;

	if (tls_init(l) < 0)
		return 1;
	w = calloc((size_t)l->concurrency, sizeof(*w));
	all = calloc((size_t)l->sessions, sizeof(*all));
	if (w == NULL || all == NULL) {
		free(all);
		free(w);
		return 1;
	}
	per = l->sessions / l->concurrency;
	extra = l->sessions % l->concurrency;
	t0 = now_ms();
	for (i = 0; i < l->concurrency; i++) {
		w[i].load = l;
		w[i].number = i + 1;
		w[i].sessions = per + (i < extra);
		w[i].latency_ms = all + n;
		n += w[i].sessions;
		if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
			return 1;
	}
	for (i = 0; i < l->concurrency; i++) {
		(void)pthread_join(w[i].thread, NULL);
		failed += w[i].failed;
		octets += w[i].octets;
	}
	secs = (now_ms() - t0) / 1e3;
	if (failed > 0) {
		(void)fprintf(stderr, "%s: %d sessions failed\n", l->name,
		    failed);
		free(all);
		free(w);
		return 1;
	}
	qsort(all, (size_t)l->sessions, sizeof(*all), cmp_double);
	(void)getrusage(RUSAGE_SELF, &ru);
	cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	count = l->sessions * l->units;
	printf("%s %ld concurrency %ld seconds %.3f %s/s %.1f "
	    "p50_ms %.2f p90_ms %.2f p99_ms %.2f MB/s %.2f client_cpu_s %.3f\n",
	    l->unit, count, l->concurrency, secs, l->unit, count / secs,
	    all[l->sessions / 2], all[l->sessions * 9 / 10],
	    all[l->sessions * 99 / 100], octets / secs / 1e6, cpu);
	free(all);
	free(w);
	return 0;
}

/* A count option: a decimal number, 0 to 10^9; -1 when it is not one. */
long
load_number(const char *s, const char *name)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0 || n > 1000000000L) {
		(void)fprintf(stderr, "%s: not a count: %s\n", name, s);
		return -1;
	}
	return n;
}
