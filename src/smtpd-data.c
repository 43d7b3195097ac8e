/* SPDX-License-Identifier: MIT */
/* sockmail-smtpd's DATA: receive the message into the spool, then deliver
 * it to every recipient or to none (sockmail-smtpd(8)). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"
#include "deliver.h"
#include "log.h"
#include "msg.h"
#include "spool.h"
#include "wbuf.h"

enum data_outcome {
	DATA_DONE,		/* the end-of-data line arrived */
	DATA_ABORTED,		/* input ended, timed out or failed */
};

struct data_stats {
	uint64_t	size;		/* un-stuffed, CRLF line endings */
	bool		too_big;
	bool		has_nul;
	bool		has_bare_cr;
};

static int
spool_open(struct smtp_session *s)
{
	if (s->spool_w == NULL) {
		s->spool_w = malloc(sizeof(*s->spool_w));
		if (s->spool_w == NULL)
			return -1;
	}
	if (s->spool_on_disk) {
		/* Back to memory for the next message. */
		(void)close(s->spool_fd);
		s->spool_fd = -1;
		s->spool_on_disk = false;
	}
	if (s->spool_fd < 0) {
		s->spool_fd = spool_create();
		if (s->spool_fd < 0)
			return -1;
	} else if (spool_reset(s->spool_fd) < 0)
		return -1;
	wbuf_init(s->spool_w, s->spool_fd);
	return 0;
}

/* Store one piece of a data line; *st keeps the size and what is wrong.
 * The line reader has taken off the CR LF ending, and never splits one
 * between pieces, so any CR left in a piece is a bare CR: RFC 5321 2.3.8
 * allows CR only as part of CR LF, and a bare CR is what the smuggling
 * tricks that play on how other MTAs end lines are made of. */
static void
spool_piece(struct smtp_session *s, struct data_stats *st, const char *p,
    size_t len, bool ends_line)
{
	st->size += len + (ends_line ? 2 : 0);
	if (memchr(p, '\0', len) != NULL)
		st->has_nul = true;
	if (memchr(p, '\r', len) != NULL)
		st->has_bare_cr = true;
	if (st->size > s->cfg->size_max)
		st->too_big = true;
	/* Past the first fault nothing more is kept: the message will be
	 * refused, and it is still read to its end. */
	if (st->too_big || st->has_nul || st->has_bare_cr)
		return;
	wbuf_put(s->spool_w, p, len);
	if (ends_line)
		wbuf_put(s->spool_w, "\n", 1);
	if (!s->spool_on_disk && st->size > SPOOL_MEMORY_MAX) {
		if (wbuf_flush(s->spool_w) == 0 && spool_spill(s->spool_fd) < 0)
			s->spool_w->error = errno;	/* wbuf_flush tells */
		s->spool_on_disk = true;
	}
}

/* Read data lines into the spool until the end-of-data line. The data ends
 * only at a "." line ended the way the DATA command was (CRLF, or a bare LF
 * for an LF-only transcript), after a line ended the same way: in a CRLF
 * session "\n.\r\n" and ".\n" are content, which closes SMTP smuggling
 * (RFC 5321 4.1.1.4, 2.3.8). */
static enum data_outcome
receive(struct smtp_session *s, bool crlf, struct data_stats *st)
{
	const enum line_end want = crlf ? LINE_END_CRLF : LINE_END_LF;
	char piece[LINE_BUF_SIZE];
	enum line_status ls;
	enum line_end end;
	bool at_line_start = true, after_proper_end = true;
	const char *p;
	size_t len;

	for (;;) {
		ls = line_read_part(&s->ses.in, piece, sizeof(piece) - 2, &len, &end);
		switch (ls) {
		case LINE_OK:
			break;
		case LINE_TIMEOUT:
			session_log_timeout(&s->ses);	/* in DATA */
			smtp_close(s, SMTP_CLOSE_TIMEOUT);
			return DATA_ABORTED;
		default:
			log_event(LOG_INFO, "disconnect",
			    "input ended in DATA; message discarded");
			s->done = true;
			return DATA_ABORTED;
		}
		p = piece;
		if (at_line_start && len > 0 && piece[0] == '.') {
			if (len == 1 && end == want && after_proper_end)
				return DATA_DONE;
			/* RFC 5321 4.5.2: a leading "." with more after it
			 * was added by the client. */
			if (len > 1 || end == LINE_END_NONE) {
				p++;
				len--;
			}
		}
		spool_piece(s, st, p, len, end != LINE_END_NONE);
		at_line_start = end != LINE_END_NONE;
		if (at_line_start)
			after_proper_end = end == want;
	}
}

/* The RCPT addresses, comma separated, for a message without To:. */
static char *
join_recipients(const struct smtp_session *s)
{
	size_t i, len = 0, n;
	char *to;

	to = malloc(s->nrcpt * (SMTP_PATH_MAX + 2) + 1);
	if (to == NULL)
		return NULL;
	for (i = 0; i < s->nrcpt; i++) {
		if (i > 0) {
			memcpy(to + len, ", ", 2);
			len += 2;
		}
		n = strlen(s->rcpt[i].addr);
		memcpy(to + len, s->rcpt[i].addr, n);
		len += n;
	}
	to[len] = '\0';
	return to;
}

static enum deliver_status
deliver_all(struct smtp_session *s, uint64_t size)
{
	const char *logins[SMTP_RCPT_MAX], *failed;
	struct msg_envelope env;
	enum deliver_status rc;
	char *to;
	size_t i;

	to = join_recipients(s);
	if (to == NULL) {
		log_event(LOG_ERR, "deliver", "out of memory");
		return DELIVER_FAILED;
	}
	for (i = 0; i < s->nrcpt; i++)
		logins[i] = s->rcpt[i].login;
	env.from = s->from[0] != '\0' ? s->from : "<>";
	env.to = to;
	env.received = time(NULL);
	rc = deliver(s->cfg->root_fd, s->spool_fd, &env, logins, s->nrcpt,
	    s->cfg->quota, &failed);
	if (rc == DELIVER_OVER_QUOTA)
		log_message_event(LOG_INFO, "reject", size, s->nrcpt,
		    "from=<%s> size=%llu: mailbox of %s would pass its quota "
		    "(%llu bytes); nothing delivered", s->from,
		    (unsigned long long)size, failed != NULL ? failed : "-",
		    (unsigned long long)s->cfg->quota);
	else if (rc == DELIVER_FAILED)
		log_message_event(LOG_ERR, "deliver", size, s->nrcpt,
		    "from=<%s> size=%llu: mailbox of %s: %s; nothing delivered",
		    s->from, (unsigned long long)size,
		    failed != NULL ? failed : "-", strerror(errno));
	else
		log_message_event(LOG_INFO, "delivered", size, s->nrcpt,
		    "from=<%s> size=%llu rcpts=%zu to=%s", s->from,
		    (unsigned long long)size, s->nrcpt, to);
	free(to);
	return rc;
}

void
smtp_receive_data(struct smtp_session *s, bool crlf)
{
	struct data_stats st = { 0, false, false, false };

	if (spool_open(s) < 0) {
		log_event(LOG_ERR, "spool", "cannot create a spool file: %s",
		    strerror(errno));
		smtp_reply(s, SMTP_REPLY_LOCAL);
		smtp_reset_transaction(s);
		return;
	}
	/* An intermediate reply: RFC 3463 has no class 3, so no code. */
	smtp_reply(s, "354 Enter mail, end with \".\" on a line by itself");
	if (receive(s, crlf, &st) == DATA_ABORTED) {
		smtp_reset_transaction(s);
		return;
	}
	if (st.has_nul) {
		log_message_event(LOG_INFO, "reject", st.size, s->nrcpt,
		    "from=<%s>: NUL in message", s->from);
		smtp_reply(s, "554 5.6.0 Message contains NUL characters");
	} else if (st.has_bare_cr) {
		log_message_event(LOG_INFO, "reject", st.size, s->nrcpt,
		    "from=<%s>: bare CR in message", s->from);
		smtp_reply(s, "554 5.6.0 Message contains bare CR");
	} else if (st.too_big) {
		log_message_event(LOG_INFO, "reject", st.size, s->nrcpt,
		    "from=<%s>: over %llu bytes", s->from,
		    (unsigned long long)s->cfg->size_max);
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum "
		    "message size");
	} else if (wbuf_flush(s->spool_w) < 0) {
		log_event(LOG_ERR, "spool", "cannot write the spool: %s",
		    strerror(errno));
		smtp_reply(s, SMTP_REPLY_LOCAL);
	} else {
		switch (deliver_all(s, st.size)) {
		case DELIVER_OK:
			smtp_reply(s, "250 2.0.0 OK Message accepted for delivery");
			s->junk = 0;	/* progress: the junk count starts again */
			break;
		case DELIVER_OVER_QUOTA:
			/* One reply for every recipient: none got a copy. */
			smtp_reply(s, "552 5.2.2 Mailbox full, message would "
			    "exceed quota");
			break;
		case DELIVER_FAILED:
			smtp_reply(s, SMTP_REPLY_LOCAL);
			break;
		}
	}
	smtp_reset_transaction(s);
}
