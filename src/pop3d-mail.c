/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d's TRANSACTION commands: STAT, LIST, RETR, TOP, DELE, UIDL
 * and RSET (RFC 1939 5, sockmail-pop3d(8)). RETR and TOP stream from the
 * mailbox. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "log.h"
#include "mailfmt.h"
#include "str.h"

#define READ_BLOCK	65536
#define ALL_LINES	UINT64_MAX
#define MSG_NUM_MAX	((uint64_t)SIZE_MAX)

/* Parse a message number; replies and returns NULL when there is no such
 * (undeleted) message. */
static struct maildrop_msg *
get_msg(struct pop3_session *s, const char *arg, size_t *num_out)
{
	struct maildrop_msg *m;
	uint64_t num;

	switch (parse_uint(arg, MSG_NUM_MAX, &num)) {
	case PARSE_UINT_OK:
		break;
	case PARSE_UINT_EMPTY:
		pop3_reply(s, "-ERR message number required");
		return NULL;
	case PARSE_UINT_OVERFLOW:
		num = 0;	/* out of range like any other */
		break;
	default:
		pop3_reply(s, "-ERR invalid message number");
		return NULL;
	}
	m = maildrop_get(&s->md, (size_t)num);
	if (m == NULL && errno != ENOENT) {
		log_event(LOG_ERR, "maildrop", "mailbox of %s, message %zu: "
		    "index: %s", s->md.login, (size_t)num, strerror(errno));
		pop3_reply(s, "-ERR [SYS/TEMP] cannot read the maildrop");
		return NULL;
	}
	if (m == NULL) {
		if (num >= 1 && num <= s->md.n)
			pop3_reply(s, "-ERR message %zu already deleted",
			    (size_t)num);
		else
			pop3_reply(s, "-ERR no such message, only %zu in "
			    "maildrop", s->md.n);
		return NULL;
	}
	*num_out = (size_t)num;
	return m;
}

static void read_failed(struct pop3_session *s, size_t num);

/* What a listing shows of message num: the message, DELETED, or NULL
 * when the index cannot be read, which ends the session: a multi-line
 * reply cannot be taken back. */
static struct maildrop_msg deleted_marker;
#define DELETED	(&deleted_marker)

static struct maildrop_msg *
next_msg(struct pop3_session *s, size_t num)
{
	struct maildrop_msg *m;

	if ((m = maildrop_get(&s->md, num)) != NULL)
		return m;
	if (errno == ENOENT)
		return DELETED;
	read_failed(s, num);
	return NULL;
}

void
pop3_cmd_stat(struct pop3_session *s, char *arg)
{
	uint64_t octets;
	size_t count;

	(void)arg;
	maildrop_stat(&s->md, &count, &octets);
	pop3_reply(s, "+OK %zu %" PRIu64, count, octets);
}

void
pop3_cmd_list(struct pop3_session *s, char *arg)
{
	struct maildrop_msg *m;
	uint64_t octets;
	size_t i, count;

	if (arg[0] != '\0') {
		if ((m = get_msg(s, arg, &i)) != NULL)
			pop3_reply(s, "+OK %zu %" PRIu64, i, m->size);
		return;
	}
	maildrop_stat(&s->md, &count, &octets);
	pop3_reply(s, "+OK %zu messages (%" PRIu64 " octets)", count, octets);
	for (i = 1; i <= s->md.n; i++) {
		if ((m = next_msg(s, i)) == NULL)
			return;
		if (m != DELETED)
			pop3_reply(s, "%zu %" PRIu64, i, m->size);
	}
	pop3_reply(s, ".");
}

void
pop3_cmd_uidl(struct pop3_session *s, char *arg)
{
	char uid[MAILDROP_UID_MAX + 1];
	struct maildrop_msg *m;
	size_t i;

	if (maildrop_number_twins(&s->md) < 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] out of memory");
		return;
	}
	if (arg[0] != '\0') {
		if ((m = get_msg(s, arg, &i)) != NULL) {
			maildrop_uid(m, uid, sizeof(uid));
			pop3_reply(s, "+OK %zu %s", i, uid);
		}
		return;
	}
	pop3_reply(s, "+OK unique-id listing follows");
	for (i = 1; i <= s->md.n; i++) {
		if ((m = next_msg(s, i)) == NULL)
			return;
		if (m == DELETED)
			continue;
		maildrop_uid(m, uid, sizeof(uid));
		pop3_reply(s, "%zu %s", i, uid);
	}
	pop3_reply(s, ".");
}

void
pop3_cmd_dele(struct pop3_session *s, char *arg)
{
	struct maildrop_msg *m;
	size_t num;

	if ((m = get_msg(s, arg, &num)) == NULL)
		return;
	(void)maildrop_delete(&s->md, num);	/* just read: cannot fail */
	pop3_reply(s, "+OK message %zu deleted", num);
}

void
pop3_cmd_rset(struct pop3_session *s, char *arg)
{
	uint64_t octets;
	size_t count;

	(void)arg;
	maildrop_undelete_all(&s->md);
	maildrop_stat(&s->md, &count, &octets);
	pop3_reply(s, "+OK maildrop has %zu messages (%" PRIu64 " octets)",
	    count, octets);
}

/* Reading a stored message in blocks, through the maildrop. */
struct range_reader {
	const struct maildrop *md;
	off_t	 pos, end;
	char	*buf;
};

/* Read the next block of [pos, end) into r->buf; returns its length, 0 at
 * the end, -1 on error. */
static ssize_t
range_next(struct range_reader *r)
{
	size_t want;
	ssize_t n;

	if (r->pos >= r->end)
		return 0;
	want = r->end - r->pos < READ_BLOCK ? (size_t)(r->end - r->pos) :
	    READ_BLOCK;
	n = maildrop_read(r->md, r->buf, want, r->pos);
	if (n == 0) {
		errno = EIO;		/* the mailbox shrank under us */
		return -1;
	}
	return n;
}

/* Send the stored lines in [from, to) with CRLF endings, at most max_lines
 * of them: a stored line ends in LF or CR LF (sockmail-mailbox(5)), and
 * goes out the same either way. *reached_out is the offset after the last
 * line sent. Returns 0, or -1 when the mailbox cannot be read. */
static int
send_lines(struct pop3_session *s, struct range_reader *r, off_t from,
    off_t to, uint64_t max_lines, off_t *reached_out)
{
	uint64_t lines = 0;
	const char *p, *nl, *end;
	bool held_cr = false;	/* a CR ended the last block */
	size_t run;
	ssize_t n;

	r->pos = from;
	r->end = to;
	while (lines < max_lines && (n = range_next(r)) != 0) {
		if (n < 0)
			return -1;
		p = r->buf;
		end = r->buf + n;
		if (held_cr && *p != '\n')
			pop3_send(s, "\r", 1);	/* a lone CR: content */
		held_cr = false;
		while (lines < max_lines && p < end) {
			nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL) {
				run = (size_t)(end - p);
				held_cr = p[run - 1] == '\r';
				pop3_send(s, p, run - held_cr);
				p = end;
				break;
			}
			pop3_send(s, p, mailfmt_line_content(p,
			    (size_t)(nl - p)));
			pop3_send(s, "\r\n", 2);
			p = nl + 1;
			lines++;
		}
		r->pos += p - r->buf;
	}
	if (held_cr)
		pop3_send(s, "\r", 1);
	*reached_out = r->pos;
	return 0;
}

/* Where the body starts in [from, to): past the first empty line ("" or
 * a lone CR before the LF). Returns 1 with *body_out set, 0 when there is
 * no empty line, -1 when the mailbox cannot be read. */
static int
find_body(struct range_reader *r, off_t from, off_t to, off_t *body_out)
{
	size_t line_len = 0;	/* bytes of the line so far */
	bool line_is_cr = false;
	ssize_t n, i;

	r->pos = from;
	r->end = to;
	while ((n = range_next(r)) != 0) {
		if (n < 0)
			return -1;
		for (i = 0; i < n; i++) {
			if (r->buf[i] == '\n') {
				if (line_len == 0 || (line_len == 1 && line_is_cr)) {
					*body_out = r->pos + i + 1;
					return 1;
				}
				line_len = 0;
				continue;
			}
			line_is_cr = line_len == 0 && r->buf[i] == '\r';
			line_len++;
		}
		r->pos += n;
	}
	return 0;
}

static int
send_top(struct pop3_session *s, struct range_reader *r,
    const struct maildrop_msg *m, uint64_t body_lines)
{
	off_t content_end = m->dot;
	off_t body;
	int found;

	found = find_body(r, m->start, content_end, &body);
	if (found < 0)
		return -1;
	if (found) {
		/* The header block with its empty line, then the body. */
		if (send_lines(s, r, m->start, body, ALL_LINES, &body) < 0)
			return -1;
	} else {
		if (send_lines(s, r, m->start, content_end,
		    MAILFMT_STORED_FIELDS, &body) < 0)
			return -1;
		pop3_send(s, "\r\n", 2);
	}
	if (body_lines > 0 &&
	    send_lines(s, r, body, content_end, body_lines, &body) < 0)
		return -1;
	pop3_reply(s, ".");
	return 0;
}

/* A failed read in the middle of a multi-line reply: the client cannot be
 * told cleanly any more, so the session ends (without UPDATE). */
static void
read_failed(struct pop3_session *s, size_t num)
{
	log_event(LOG_ERR, "retr", "mailbox of %s, message %zu: %s",
	    s->md.login, num, strerror(errno));
	s->done = true;
	s->exit_status = 1;
}

/* A reader over the mailbox, with the session's read buffer; replies and
 * returns -1 when there is no memory for one. */
static int
reader_open(struct pop3_session *s, struct range_reader *r)
{
	if (s->read_buf == NULL && (s->read_buf = malloc(READ_BLOCK)) == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] out of memory");
		return -1;
	}
	r->md = &s->md;
	r->buf = s->read_buf;
	return 0;
}

void
pop3_cmd_retr(struct pop3_session *s, char *arg)
{
	struct range_reader r;
	struct maildrop_msg *m;
	off_t reached;
	size_t num;

	if ((m = get_msg(s, arg, &num)) == NULL || reader_open(s, &r) < 0)
		return;
	pop3_reply(s, "+OK %" PRIu64 " octets", m->size);
	/* The stored lines are dot-stuffed already: with CRLF endings they
	 * are the reply as RFC 1939 wants it. */
	if (send_lines(s, &r, m->start, m->dot, ALL_LINES, &reached) < 0) {
		read_failed(s, num);
		return;
	}
	pop3_reply(s, ".");
}

void
pop3_cmd_top(struct pop3_session *s, char *arg)
{
	struct range_reader r;
	struct maildrop_msg *m;
	char *lines;
	uint64_t k;
	size_t num;

	lines = strchr(arg, ' ');
	if (lines == NULL) {
		pop3_reply(s, "-ERR usage: TOP message lines");
		return;
	}
	*lines++ = '\0';
	if (parse_uint(lines, UINT64_MAX, &k) != PARSE_UINT_OK) {
		pop3_reply(s, "-ERR invalid number of lines");
		return;
	}
	if ((m = get_msg(s, arg, &num)) == NULL || reader_open(s, &r) < 0)
		return;
	pop3_reply(s, "+OK top of message follows");
	if (send_top(s, &r, m, k) < 0)
		read_failed(s, num);
}
