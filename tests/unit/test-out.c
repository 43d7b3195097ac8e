/* SPDX-License-Identifier: MIT */
/* Unit tests for out: buffered replies, exact bytes, sticky failure. */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "out.h"
#include "transport.h"
#include "tap.h"

struct sink {
	struct fd_transport	t;
	struct out		o;
	int			rfd, wfd;
};

static struct sink *
sink_open(void)
{
	struct sink	*s = calloc(1, sizeof(*s));
	int		 p[2];

	if (s == NULL || pipe(p) == -1)
		abort();
	s->rfd = p[0];
	s->wfd = p[1];
	/* Reading the pipe must never block the test. */
	if (fcntl(s->rfd, F_SETFL, O_NONBLOCK) == -1)
		abort();
	fd_transport_init(&s->t, s->wfd, s->wfd);
	out_init(&s->o, &s->t.base, 0);
	return s;
}

static void
sink_close(struct sink *s)
{
	if (s->rfd != -1)
		(void)close(s->rfd);
	(void)close(s->wfd);
	free(s);
}

/* Everything waiting in the pipe, without blocking. */
static size_t
drain(struct sink *s, char *buf, size_t size)
{
	size_t	total = 0;
	ssize_t	n;

	while (total < size) {
		n = read(s->rfd, buf + total, size - total);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	return total;
}

static void
test_put_flush(void)
{
	struct sink	*s = sink_open();
	char		 got[256];
	size_t		 n;

	ok(out_put(&s->o, "250 OK\r\n", 8) == 0, "out_put: queues a reply");
	ok(out_put(&s->o, "221 bye\r\n", 9) == 0, "out_put: and another");
	ok(drain(s, got, sizeof(got)) == 0,
	    "out_put: nothing is written before the flush");
	ok(out_flush(&s->o) == 0, "out_flush: returns 0");
	n = drain(s, got, sizeof(got));
	ok(n == 17 && memcmp(got, "250 OK\r\n221 bye\r\n", 17) == 0,
	    "out_flush: exactly the queued bytes, in order (%zu bytes)", n);
	ok(s->o.len == 0, "out_flush: the buffer is empty afterwards");
	ok(out_flush(&s->o) == 0 && drain(s, got, sizeof(got)) == 0,
	    "out_flush: with nothing queued writes nothing");
	ok(out_put(&s->o, "x", 0) == 0 && out_flush(&s->o) == 0 &&
	    drain(s, got, sizeof(got)) == 0, "out_put: zero bytes is fine");
	ok(out_put(&s->o, "+OK\r\n", 5) == 0 && out_flush_hook(&s->o) == 0 &&
	    drain(s, got, sizeof(got)) == 5 && memcmp(got, "+OK\r\n", 5) == 0,
	    "out_flush_hook: flushes like out_flush");
	ok(!s->o.failed, "failed stays clear while writes work");
	sink_close(s);
}

static void
test_large(void)
{
	struct sink	*s = sink_open();
	size_t		 big = 3 * OUT_BUF_SIZE + 123, i, n;
	char		*data = malloc(big + 100), *got = malloc(big + 200);

	if (data == NULL || got == NULL)
		abort();
	memcpy(data, "head\r\n", 6);
	for (i = 6; i < big + 6; i++)
		data[i] = (char)('A' + i % 57);
	memcpy(data + big + 6, "tail\r\n", 6);
	ok(out_put(&s->o, data, 6) == 0, "out_put: a small reply first");
	ok(out_put(&s->o, data + 6, big) == 0,
	    "out_put: %zu bytes, more than OUT_BUF_SIZE", big);
	ok(out_put(&s->o, data + 6 + big, 6) == 0, "out_put: a small reply after");
	ok(out_flush(&s->o) == 0, "out_flush: returns 0");
	n = drain(s, got, big + 200);
	ok(n == big + 12 && memcmp(got, data, big + 12) == 0,
	    "out: a large put arrives whole and in order (%zu of %zu bytes)",
	    n, big + 12);

	/* Filling the buffer exactly, then one more byte. */
	memset(data, 'z', OUT_BUF_SIZE + 1);
	ok(out_put(&s->o, data, OUT_BUF_SIZE) == 0 &&
	    out_put(&s->o, data, 1) == 0 && out_flush(&s->o) == 0,
	    "out_put: exactly OUT_BUF_SIZE, then one byte");
	n = drain(s, got, big + 200);
	ok(n == OUT_BUF_SIZE + 1 && memcmp(got, data, n) == 0,
	    "out: OUT_BUF_SIZE + 1 bytes arrive (%zu)", n);
	free(data);
	free(got);
	sink_close(s);
}

static void
test_closed(void)
{
	struct sink	*s = sink_open();
	char		 big[OUT_BUF_SIZE + 10];

	(void)close(s->rfd);
	s->rfd = -1;
	ok(out_put(&s->o, "250 OK\r\n", 8) == 0,
	    "out_put: queuing alone does not fail");
	ok(out_flush(&s->o) == -1, "out_flush: -1 when the peer is gone");
	ok(s->o.failed, "out_flush: failed is set");
	ok(out_put(&s->o, "x", 1) == -1, "out_put: -1 once a write has failed");
	ok(out_flush(&s->o) == -1, "out_flush: still -1 (sticky)");
	ok(out_flush_hook(&s->o) == -1, "out_flush_hook: -1 too");
	ok(s->o.failed, "failed stays set");
	sink_close(s);

	s = sink_open();
	(void)close(s->rfd);
	s->rfd = -1;
	memset(big, 'y', sizeof(big));
	ok(out_put(&s->o, big, sizeof(big)) == -1 && s->o.failed,
	    "out_put: -1 when a put that overflows the buffer cannot be written");
	sink_close(s);
}

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	test_put_flush();
	test_large();
	test_closed();
	return done_testing();
}
