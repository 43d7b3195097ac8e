/* SPDX-License-Identifier: MIT */
/* Unit tests for line: endings, long lines, NULs, pieces, timeouts,
 * deadlines for whole lines and writes, wiping, hooks. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "line.h"
#include "transport.h"
#include "tap.h"

/* A reader over a pipe: data is written in at once; the write end is
 * closed (end of input follows) unless keep_open. */
struct feed {
	struct fd_transport	t;
	struct line_reader	r;
	int			rfd, wfd;
};

static struct feed *
feed_open(const void *data, size_t len, bool keep_open, int timeout_s)
{
	struct feed	*f = calloc(1, sizeof(*f));
	int		 p[2];

	if (f == NULL || pipe(p) == -1)
		abort();
	/* A pipe holds 64 KiB: every test here feeds less. */
	if (len > 0 && write(p[1], data, len) != (ssize_t)len)
		abort();
	f->rfd = p[0];
	f->wfd = p[1];
	if (!keep_open) {
		(void)close(f->wfd);
		f->wfd = -1;
	}
	fd_transport_init(&f->t, f->rfd, f->rfd);
	line_reader_init(&f->r, &f->t.base, timeout_s);
	return f;
}

static void
feed_close(struct feed *f)
{
	(void)close(f->rfd);
	if (f->wfd != -1)
		(void)close(f->wfd);
	free(f);
}

static void
test_endings(void)
{
	static const char	 in[] = "HELO a\r\nNOOP\n\r\nbare\rcr\nlast";
	struct feed		*f = feed_open(in, sizeof(in) - 1, false, 5);
	char			 buf[64];
	size_t			 len = 99;
	bool			 crlf = false;

	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 6 && strcmp(buf, "HELO a") == 0 && crlf,
	    "line_read: a CRLF line, ending removed, crlf set");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 4 && strcmp(buf, "NOOP") == 0 && !crlf,
	    "line_read: a bare LF line, crlf clear");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 0 && buf[0] == '\0' && crlf,
	    "line_read: an empty CRLF line");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 7 && memcmp(buf, "bare\rcr", 8) == 0 && !crlf,
	    "line_read: a CR inside a line is content");
	crlf = true;
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 4 && strcmp(buf, "last") == 0 && !crlf,
	    "line_read: a last line cut off by EOF comes back without CRLF");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_EOF,
	    "line_read: then LINE_EOF");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_EOF,
	    "line_read: and LINE_EOF again");
	feed_close(f);

	f = feed_open("", 0, false, 5);
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_EOF,
	    "line_read: empty input is LINE_EOF at once");
	feed_close(f);
}

static void
test_nul(void)
{
	static const char	 in[] = "a\0b\r\n\0\n";
	struct feed		*f = feed_open(in, sizeof(in) - 1, false, 5);
	char			 buf[16];
	size_t			 len = 0;
	bool			 crlf = false;

	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 3 && memcmp(buf, "a\0b", 4) == 0 && crlf,
	    "line_read: a NUL inside a line keeps the true length");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 1 && buf[0] == '\0' && !crlf,
	    "line_read: a line of one NUL has length 1");
	feed_close(f);
}

static void
test_too_long(void)
{
	char		 in[20100];
	struct feed	*f;
	char		 buf[16];
	size_t		 len, n;
	bool		 crlf;

	n = (size_t)snprintf(in, sizeof(in),
	    "%s\r\n%s\r\n%s\n%s\r\nnext\r\n",
	    "123456789012345",	/* size-1 = 15: fits */
	    "1234567890123456",	/* 16: one too many */
	    "0123456789abcdefghijklmnop",
	    "after");
	f = feed_open(in, n, false, 5);
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    len == 15 && strcmp(buf, "123456789012345") == 0 && crlf,
	    "line_read: a line of size-1 bytes plus CRLF fits");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_TOO_LONG,
	    "line_read: a line of size bytes is LINE_TOO_LONG");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_TOO_LONG,
	    "line_read: a longer LF line is LINE_TOO_LONG");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "after") == 0 && crlf,
	    "line_read: the line after a long one reads fine");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "next") == 0,
	    "line_read: and the one after that");
	feed_close(f);

	/* Longer than the reader's own buffer. */
	memset(in, 'x', 20000);
	memcpy(in + 20000, "\r\nshort\r\n", 9);
	f = feed_open(in, 20009, false, 5);
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_TOO_LONG,
	    "line_read: a 20000-byte line is LINE_TOO_LONG");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "short") == 0 && crlf,
	    "line_read: the rest of a 20000-byte line is thrown away");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_EOF,
	    "line_read: then LINE_EOF");
	feed_close(f);

	f = feed_open(in, 20000, false, 5);
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_TOO_LONG,
	    "line_read: a 20000-byte last line without LF is LINE_TOO_LONG");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_EOF,
	    "line_read: then LINE_EOF");
	feed_close(f);
}

/* Read one line through line_read_part in pieces of at most size bytes;
 * check every piece; return the reassembled line in out. */
static bool
read_pieces(struct line_reader *r, size_t size, char *out, size_t outsize,
    size_t *outlen, enum line_end *end_out, bool *cr_split_out)
{
	char		 piece[LINE_BUF_SIZE];
	size_t		 len, total = 0;
	enum line_end	 end = LINE_END_NONE;
	int		 guard;

	*cr_split_out = false;
	for (guard = 0; guard < 100000; guard++) {
		if (line_read_part(r, piece, size, &len, &end) != LINE_OK)
			return false;
		if (len > size || total + len > outsize)
			return false;
		if (end == LINE_END_NONE && len > 0 && piece[len - 1] == '\r')
			*cr_split_out = true;
		memcpy(out + total, piece, len);
		total += len;
		if (end != LINE_END_NONE)
			break;
	}
	*outlen = total;
	*end_out = end;
	return end != LINE_END_NONE;
}

static void
test_parts(void)
{
	static char	 in[30000], out[30000];
	struct feed	*f;
	char		 piece[16];
	size_t		 size, len, n;
	enum line_end	 end;
	bool		 cr_split, all_ok;

	/* For every piece size from 2 to 12, a CRLF somewhere across each
	 * possible piece boundary. */
	all_ok = true;
	for (size = 2; size <= 12; size++) {
		static const char	line[] = "abcdefghijklmnopqrstuvw";
		size_t			k;

		for (k = 1; k < sizeof(line) - 1; k++) {
			memcpy(in, line, k);
			memcpy(in + k, "\r\nz\n", 4);
			f = feed_open(in, k + 4, false, 5);
			if (!read_pieces(&f->r, size, out, sizeof(out), &len,
			    &end, &cr_split) || cr_split || len != k ||
			    memcmp(out, line, k) != 0 || end != LINE_END_CRLF) {
				all_ok = false;
				printf("# size %zu, line length %zu: len %zu end %d%s\n",
				    size, k, len, (int)end,
				    cr_split ? ", CR split off" : "");
			}
			if (!read_pieces(&f->r, size, out, sizeof(out), &len,
			    &end, &cr_split) || len != 1 || out[0] != 'z' ||
			    end != LINE_END_LF)
				all_ok = false;
			feed_close(f);
		}
	}
	ok(all_ok, "line_read_part: a CR LF is never split, whatever the piece size");

	/* A long line in the largest pieces allowed. */
	for (n = 0; n < 20000; n++)
		in[n] = (char)('a' + n % 26);
	memcpy(in + 20000, "\r\nnext\nend", 10);
	f = feed_open(in, 20010, false, 5);
	ok(read_pieces(&f->r, LINE_BUF_SIZE - 2, out, sizeof(out), &len, &end,
	    &cr_split) && len == 20000 && memcmp(out, in, 20000) == 0 &&
	    end == LINE_END_CRLF && !cr_split,
	    "line_read_part: a 20000-byte CRLF line comes back whole");
	ok(read_pieces(&f->r, LINE_BUF_SIZE - 2, out, sizeof(out), &len, &end,
	    &cr_split) && len == 4 && memcmp(out, "next", 4) == 0 &&
	    end == LINE_END_LF, "line_read_part: then a bare LF line");
	ok(read_pieces(&f->r, LINE_BUF_SIZE - 2, out, sizeof(out), &len, &end,
	    &cr_split) && len == 3 && memcmp(out, "end", 3) == 0 &&
	    end == LINE_END_EOF,
	    "line_read_part: a last line without LF ends with LINE_END_EOF");
	ok(line_read_part(&f->r, piece, sizeof(piece), &len, &end) == LINE_EOF,
	    "line_read_part: then LINE_EOF");
	feed_close(f);

	/* Pieces never exceed size. */
	f = feed_open("0123456789\n", 11, false, 5);
	ok(line_read_part(&f->r, piece, 4, &len, &end) == LINE_OK &&
	    len <= 4 && len > 0 && end == LINE_END_NONE &&
	    memcmp(piece, "0123", len) == 0,
	    "line_read_part: a first piece of at most size bytes");
	feed_close(f);

	/* Line ends right at the piece size. */
	f = feed_open("abcd\r\n\n", 7, false, 5);
	ok(read_pieces(&f->r, 4, out, sizeof(out), &len, &end, &cr_split) &&
	    len == 4 && memcmp(out, "abcd", 4) == 0 && end == LINE_END_CRLF,
	    "line_read_part: a line of exactly size bytes");
	ok(read_pieces(&f->r, 4, out, sizeof(out), &len, &end, &cr_split) &&
	    len == 0 && end == LINE_END_LF,
	    "line_read_part: an empty LF line");
	feed_close(f);
}

static double
now(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct hook_state {
	int	calls;
	int	wfd;		/* written to once, at the next call, when >= 0 */
	bool	had_line;	/* a line was already buffered at a call */
	struct line_reader *r;
};

static int
hook(void *arg)
{
	struct hook_state	*h = arg;

	h->calls++;
	if (h->r != NULL && line_reader_has_line(h->r))
		h->had_line = true;
	if (h->wfd >= 0) {
		if (write(h->wfd, "late\r\n", 6) != 6)
			return -1;
		h->wfd = -1;
	}
	return 0;
}

static void
test_timeout(void)
{
	struct feed		*f = feed_open("", 0, true, 1);
	struct hook_state	 h = { 0, -1, false, NULL };
	char			 buf[16];
	size_t			 len;
	bool			 crlf;
	double			 t0, dt;

	f->r.before_wait = hook;
	f->r.before_wait_arg = &h;
	t0 = now();
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_TIMEOUT,
	    "line_read: nothing within the timeout is LINE_TIMEOUT");
	dt = now() - t0;
	ok(dt >= 0.9 && dt < 3.0, "line_read: the timeout took 1 s (%.2f s)", dt);
	ok(h.calls >= 1, "before_wait: called before waiting (%d calls)",
	    h.calls);
	feed_close(f);

	f = feed_open("par", 3, true, 1);
	t0 = now();
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_TIMEOUT,
	    "line_read: half a line, then silence, is LINE_TIMEOUT");
	dt = now() - t0;
	ok(dt < 3.0, "line_read: within the timeout (%.2f s)", dt);
	feed_close(f);
}

/* A child that writes what, one byte at a time, every 200 ms, looping,
 * for secs seconds: a client that trickles. Returns its pid. */
static pid_t
trickle(int fd, const char *what, int secs)
{
	pid_t	pid;
	size_t	i;
	int	n;

	(void)fflush(stdout);
	if ((pid = fork()) == -1)
		abort();
	if (pid > 0)
		return pid;
	for (n = 0, i = 0; n < secs * 5; n++, i = what[i + 1] ? i + 1 : 0) {
		if (write(fd, what + i, 1) != 1)
			_exit(0);
		(void)usleep(200000);
	}
	_exit(0);
}

static void
reap(pid_t pid)
{
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
}

static void
test_deadline(void)
{
	struct feed	*f = feed_open("", 0, true, 1);
	char		 buf[64];
	size_t		 len;
	bool		 crlf;
	double		 t0, dt;
	enum line_status st;
	pid_t		 pid;
	int		 lines;

	/* One byte every 200 ms for 6 s never finishes a line: the line,
	 * not each read, has the 1 s. */
	pid = trickle(f->wfd, "NOOP", 6);
	t0 = now();
	st = line_read(&f->r, buf, sizeof(buf), &len, &crlf);
	dt = now() - t0;
	ok(st == LINE_TIMEOUT && !f->r.expired,
	    "deadline: a line trickled byte by byte is LINE_TIMEOUT (%d)", st);
	ok(dt >= 0.9 && dt < 3.0, "deadline: after the line's 1 s, not "
	    "the trickle's 6 s (%.2f s)", dt);
	reap(pid);
	feed_close(f);

	/* A line "A\n" every 400 ms is in time for its own 5 s, but the
	 * session's lifetime of 1 s ends the waits. */
	f = feed_open("", 0, true, 5);
	line_reader_set_lifetime(&f->r, 1);
	pid = trickle(f->wfd, "A\n", 6);
	t0 = now();
	lines = 0;
	while ((st = line_read(&f->r, buf, sizeof(buf), &len, &crlf)) ==
	    LINE_OK && lines < 100)
		lines++;
	dt = now() - t0;
	ok(st == LINE_TIMEOUT && f->r.expired && lines >= 1,
	    "lifetime: lines in time, then LINE_TIMEOUT with expired (%d "
	    "lines, status %d)", lines, st);
	ok(dt >= 0.9 && dt < 3.0, "lifetime: after 1 s (%.2f s)", dt);
	reap(pid);
	feed_close(f);
}

static void
test_wipe(void)
{
	static const char	 in[] = "PASS hunter2\r\nSTAT\r\n";
	struct feed		*f = feed_open(in, sizeof(in) - 1, false, 5);
	char			 buf[64];
	size_t			 len;
	bool			 crlf;

	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK,
	    "wipe: read the PASS line");
	line_reader_wipe_used(&f->r);
	ok(memmem(f->r.buf, sizeof(f->r.buf), "hunter2", 7) == NULL,
	    "wipe: no copy of the password is left in the read-ahead buffer");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "STAT") == 0, "wipe: the next line is intact");
	feed_close(f);
}

/* Writes to a peer that never reads: a pipe and a socket. */
static void
test_write_deadline(void)
{
	static char		 big[1 << 20];
	struct fd_transport	 t;
	int			 p[2], sv[2], rc;
	double			 t0, dt;

	if (pipe(p) == -1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	fd_transport_init(&t, -1, p[1]);
	t0 = now();
	rc = transport_write(&t.base, big, sizeof(big), 1000);
	dt = now() - t0;
	ok(rc == -1 && errno == ETIMEDOUT && dt < 3.0,
	    "write: a pipe nobody reads gives up after 1 s (%d, %.2f s)", rc,
	    dt);
	fd_transport_init(&t, -1, sv[0]);
	t0 = now();
	rc = transport_write(&t.base, big, sizeof(big), 1000);
	dt = now() - t0;
	ok(rc == -1 && errno == ETIMEDOUT && dt >= 0.9 && dt < 3.0,
	    "write: a socket nobody reads gives up after 1 s (%d, %.2f s)",
	    rc, dt);
	(void)close(p[0]);
	(void)close(p[1]);
	(void)close(sv[0]);
	(void)close(sv[1]);
}

static void
test_hook(void)
{
	struct feed		*f = feed_open("one\r\ntwo\r\n", 10, true, 2);
	struct hook_state	 h = { 0, -1, false, NULL };
	char			 buf[16];
	size_t			 len;
	bool			 crlf;

	h.r = &f->r;
	f->r.before_wait = hook;
	f->r.before_wait_arg = &h;
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "one") == 0, "hook: first pipelined line");
	h.calls = 0;
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "two") == 0 && h.calls == 0,
	    "before_wait: not called while a line is buffered (%d calls)",
	    h.calls);
	h.wfd = f->wfd;
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "late") == 0 && h.calls >= 1,
	    "before_wait: called before blocking (it wrote the line read)");
	ok(!h.had_line, "before_wait: never called with a whole line buffered");
	feed_close(f);
}

static void
test_has_line(void)
{
	struct feed	*f = feed_open("a\r\nb\nc", 6, true, 2);
	char		 buf[16];
	size_t		 len;
	bool		 crlf;

	ok(!line_reader_has_line(&f->r),
	    "has_line: nothing buffered before the first read");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "a") == 0, "has_line: read a");
	ok(line_reader_has_line(&f->r), "has_line: b is buffered");
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "b") == 0, "has_line: read b");
	ok(!line_reader_has_line(&f->r),
	    "has_line: half a line (c, no LF, input open) is not a line");
	if (write(f->wfd, "\nd\n", 3) != 3)
		abort();
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "c") == 0, "has_line: c completes after more input");
	ok(line_reader_has_line(&f->r), "has_line: d is buffered");
	line_reader_discard(&f->r);
	ok(!line_reader_has_line(&f->r), "discard: nothing buffered after it");
	if (write(f->wfd, "e\n", 2) != 2)
		abort();
	ok(line_read(&f->r, buf, sizeof(buf), &len, &crlf) == LINE_OK &&
	    strcmp(buf, "e") == 0,
	    "discard: the line read next is the next one to arrive");
	feed_close(f);
}

/* Run fn in a child process that gets secs seconds; its exit status, or
 * -1 when it hung or crashed (a sanitizer abort included). */
static int
in_child(int (*fn)(void), unsigned secs)
{
	pid_t	pid;
	int	status;

	(void)fflush(stdout);
	pid = fork();
	if (pid == -1)
		abort();
	if (pid == 0) {
		(void)alarm(secs);
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) == -1)
		abort();
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* line_read with the smallest buffer allowed (size 3: two bytes a line)
 * on a line that starts with a CR not followed by LF; a smaller buffer is
 * refused outright. */
static int
smallest_buffer(void)
{
	struct feed	*f = feed_open("\rXZ\nY\n", 6, false, 1);
	char		 buf[3];
	size_t		 len;
	bool		 crlf;
	int		 rc = 0;

	if (line_read(&f->r, buf, 2, &len, &crlf) != LINE_ERR ||
	    errno != EINVAL)
		rc = 3;
	else if (line_read(&f->r, buf, sizeof(buf), &len, &crlf) != LINE_TOO_LONG)
		rc = 1;
	else if (line_read(&f->r, buf, sizeof(buf), &len, &crlf) != LINE_OK ||
	    len != 1 || buf[0] != 'Y')
		rc = 2;
	feed_close(f);
	return rc;
}

static int
huge_timeout(void)
{
	struct feed	*f = feed_open("", 0, false, INT_MAX);
	int		 ms = f->r.timeout_ms;

	feed_close(f);
	return ms > 0 || ms == -1 ? 0 : 1;
}

static void
test_edges(void)
{
	int	rc;

	rc = in_child(smallest_buffer, 5);
	ok(rc == 0, "line_read: size 2 refused; size 3 and a line \\rXZ\\n: LINE_TOO_LONG, "
	    "then the next line (child: %s %d)", rc == -1 ? "hung or crashed" :
	    "status", rc);
	rc = in_child(huge_timeout, 5);
	ok(rc == 0, "line_reader_init: timeout_s INT_MAX does not overflow "
	    "into a negative or zero wait (child: %d)", rc);
}

int
main(void)
{
	test_endings();
	test_nul();
	test_too_long();
	test_parts();
	test_timeout();
	test_deadline();
	test_wipe();
	test_write_deadline();
	test_hook();
	test_has_line();
	test_edges();
	return done_testing();
}
