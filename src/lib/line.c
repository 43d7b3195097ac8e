/* SPDX-License-Identifier: MIT */
/* Bounded line input with a deadline for each whole line. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "io.h"
#include "line.h"
#include "str.h"
#include "transport.h"

void
line_reader_init(struct line_reader *r, struct transport *t, int timeout_s)
{
	r->t = t;
	r->timeout_ms = io_timeout_ms(timeout_s);
	r->line_waited = false;
	r->lifetime_ms = -1;
	r->expired = false;
	r->wiped = 0;
	r->before_wait = NULL;
	r->before_wait_arg = NULL;
	r->start = r->end = 0;
	r->at_eof = false;
	r->last_cut = false;
}

void
line_reader_set_lifetime(struct line_reader *r, int lifetime_s)
{
	r->lifetime_ms = io_timeout_ms(lifetime_s);
	(void)clock_gettime(CLOCK_MONOTONIC, &r->born);
}

void
line_reader_wipe_used(struct line_reader *r)
{
	if (r->start > r->wiped)
		str_wipe(r->buf + r->wiped, r->start - r->wiped);
	r->wiped = r->start;
}

void
line_reader_discard(struct line_reader *r)
{
	str_wipe(r->buf, r->end);
	r->start = r->end = r->wiped = 0;
}

/* How long the next wait for input may take: the rest of the line's
 * time, or of the session's, whichever ends first; -1: no limit. The
 * first wait of a line gets exactly timeout_ms, so that a socket can
 * keep one SO_RCVTIMEO for it. Returns 0 when the time is up. */
static int
wait_budget(struct line_reader *r)
{
	long left = -1, life;

	if (r->timeout_ms >= 0) {
		if (!r->line_waited) {
			r->line_waited = true;
			(void)clock_gettime(CLOCK_MONOTONIC, &r->line_t0);
			left = r->timeout_ms;
		} else
			left = r->timeout_ms - io_ms_since(&r->line_t0);
	}
	r->expired = false;
	if (r->lifetime_ms >= 0) {
		life = r->lifetime_ms - io_ms_since(&r->born);
		if (left < 0 || life < left) {
			left = life;
			r->expired = true;
		}
	}
	return left < 0 ? -1 : left > 0 ? (int)left : 0;
}

bool
line_reader_has_line(const struct line_reader *r)
{
	return memchr(r->buf + r->start, '\n', r->end - r->start) != NULL;
}

/* Read more input into the buffer, after letting the session flush. */
static enum line_status
fill(struct line_reader *r)
{
	ssize_t n;
	int budget;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		/* The old copy of what moved, and what was consumed. */
		str_wipe(r->buf + r->end, r->start);
		r->start = 0;
	}
	r->wiped = 0;
	if (r->before_wait != NULL && r->before_wait(r->before_wait_arg) < 0)
		return LINE_ERR;
	if ((budget = wait_budget(r)) == 0)
		return LINE_TIMEOUT;
	n = transport_read(r->t, r->buf + r->end, sizeof(r->buf) - r->end,
	    budget);
	if (n < 0)
		return errno == ETIMEDOUT ? LINE_TIMEOUT : LINE_ERR;
	if (n == 0)
		r->at_eof = true;
	r->end += (size_t)n;
	return LINE_OK;
}

enum line_status
line_read_part(struct line_reader *r, char *buf, size_t size,
    size_t *len_out, enum line_end *end_out)
{
	enum line_status st;
	const char *p, *nl;
	size_t avail, n;

	if (size < 2) {
		errno = EINVAL;		/* no room for a piece and its CR */
		return LINE_ERR;
	}
	if (size > sizeof(r->buf) - 2)
		size = sizeof(r->buf) - 2;
	for (;;) {
		p = r->buf + r->start;
		avail = r->end - r->start;
		nl = memchr(p, '\n', avail);
		if (nl != NULL) {
			n = (size_t)(nl - p);
			if (n > 0 && p[n - 1] == '\r' && n - 1 <= size) {
				memcpy(buf, p, n - 1);
				*len_out = n - 1;
				*end_out = LINE_END_CRLF;
				r->start += n + 1;
				r->line_waited = false;
				return LINE_OK;
			}
			if (n <= size && (n == 0 || p[n - 1] != '\r')) {
				memcpy(buf, p, n);
				*len_out = n;
				*end_out = LINE_END_LF;
				r->start += n + 1;
				r->line_waited = false;
				return LINE_OK;
			}
		}
		if (nl != NULL || avail > size) {
			/* More than fits: hand out a piece, holding back a
			 * final CR that may be the start of the CR LF. */
			n = size;
			if (p[n - 1] == '\r')
				n--;
			memcpy(buf, p, n);
			*len_out = n;
			*end_out = LINE_END_NONE;
			r->start += n;
			return LINE_OK;
		}
		if (r->at_eof) {
			if (avail == 0)
				return LINE_EOF;
			memcpy(buf, p, avail);
			*len_out = avail;
			*end_out = LINE_END_EOF;
			r->start += avail;
			r->line_waited = false;
			return LINE_OK;
		}
		st = fill(r);
		if (st != LINE_OK)
			return st;
	}
}

enum line_status
line_read(struct line_reader *r, char *buf, size_t size, size_t *len_out,
    bool *crlf_out)
{
	enum line_status st;
	enum line_end end;
	size_t len, skipped;

	st = line_read_part(r, buf, size - 1, &len, &end);
	if (st != LINE_OK)
		return st;
	if (end == LINE_END_NONE) {
		/* Too long: drain the rest of the line into buf, unkept. */
		do
			st = line_read_part(r, buf, size - 1, &skipped, &end);
		while (st == LINE_OK && end == LINE_END_NONE);
		if (st != LINE_OK && st != LINE_EOF)
			return st;
		buf[0] = '\0';
		*len_out = 0;
		*crlf_out = end == LINE_END_CRLF;
		return LINE_TOO_LONG;
	}
	buf[len] = '\0';
	*len_out = len;
	*crlf_out = end == LINE_END_CRLF;
	r->last_cut = end == LINE_END_EOF;
	return LINE_OK;
}
