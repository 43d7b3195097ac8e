/* SPDX-License-Identifier: MIT */
/* The command loop both handlers share. */
#include "config.h"

#include <string.h>

#include "session.h"
#include "log.h"
#include "str.h"

void
session_init(struct session *ses, const struct session_proto *proto,
    void *owner, bool *done, struct transport *t, int timeout_s,
    int lifetime_s)
{
	ses->proto = proto;
	ses->owner = owner;
	ses->done = done;
	ses->state = 0;
	ses->crlf = false;
	ses->timeout_s = timeout_s;
	ses->lifetime_s = lifetime_s;
	line_reader_init(&ses->in, t, timeout_s);
	line_reader_set_lifetime(&ses->in, lifetime_s);
	out_init(&ses->out, t, timeout_s);
	ses->in.before_wait = out_flush_hook;
	ses->in.before_wait_arg = &ses->out;
}

bool
session_expired(const struct session *ses)
{
	return ses->in.expired;
}

void
session_log_timeout(const struct session *ses)
{
	if (session_expired(ses))
		log_event(LOG_INFO, "timeout", "session longer than %d s",
		    ses->lifetime_s);
	else
		log_event(LOG_INFO, "timeout", "no whole line or reply in "
		    "%d s", ses->timeout_s);
}

void
session_set_state(struct session *ses, unsigned state)
{
	if (ses->state != state)
		log_event(LOG_DEBUG, "state", "%s -> %s",
		    ses->proto->state_names[ses->state],
		    ses->proto->state_names[state]);
	ses->state = state;
}

/* Whether the vlen bytes at verb spell name, in any case. */
static bool
verb_is(const char *verb, size_t vlen, const char *name)
{
	return strlen(name) == vlen && str_iprefix(verb, name);
}

/* Row i of the protocol's table; a row starts with its session_cmd. */
static const struct session_cmd *
cmd_row(const struct session_proto *p, size_t i)
{
	return (const void *)((const char *)p->cmds + i * p->cmd_size);
}

void
session_dispatch(struct session *ses, char *line, size_t len)
{
	const struct session_proto *p = ses->proto;
	const struct session_cmd *c;
	size_t vlen, i;
	char *arg;

	if (memchr(line, '\0', len) != NULL) {
		p->reply(ses->owner, p->reply_nul);
		return;
	}
	vlen = p->split(line, &arg);
	for (i = 0; vlen > 0 && i < p->ncmds; i++) {
		c = cmd_row(p, i);
		if (!verb_is(line, vlen, c->verb))
			continue;
		if (!(c->allowed & SESSION_IN(ses->state))) {
			p->reply(ses->owner, p->reply_state);
			return;
		}
		p->run(ses->owner, c, arg);
		return;
	}
	p->reply(ses->owner, p->reply_unknown);
}

/* The protocol's line limit, CR LF included. */
static size_t
line_max(const struct session_proto *p)
{
	return p->line_max < SESSION_LINE_MAX ? p->line_max : SESSION_LINE_MAX;
}

/* Handle what line_read returned for one line. */
static void
take_line(struct session *ses, enum line_status st, char *line, size_t len,
    bool crlf)
{
	const struct session_proto *p = ses->proto;

	switch (st) {
	case LINE_OK:
		/* A command cut off by the end of input is not carried out:
		 * the client never finished it (a QUIT that must not commit
		 * its DELEs, a RCPT half sent). */
		if (ses->in.last_cut) {
			*ses->done = true;
			break;
		}
		/* RFC 5321 4.5.3.1.4, RFC 2449 4: the limit counts the line
		 * ending, so a bare LF leaves room for one byte more. */
		if (len + (crlf ? 2 : 1) > line_max(p)) {
			p->reply(ses->owner, p->reply_too_long);
			break;
		}
		ses->crlf = crlf;
		session_dispatch(ses, line, len);
		break;
	case LINE_TOO_LONG:
		p->reply(ses->owner, p->reply_too_long);
		break;
	case LINE_TIMEOUT:
		p->timeout(ses->owner);
		break;
	case LINE_EOF:
	case LINE_ERR:
		*ses->done = true;
		break;
	}
}

void
session_run(struct session *ses)
{
	const struct session_proto *p = ses->proto;
	char line[SESSION_LINE_MAX + 1];
	enum line_status st;
	size_t len;
	bool crlf;

	log_event(LOG_INFO, "connect", "session started");
	p->greet(ses->owner);
	while (!*ses->done) {
		/* Only a line that was read sets them. */
		len = 0;
		crlf = false;
		st = line_read(&ses->in, line, line_max(p) + 1, &len, &crlf);
		take_line(ses, st, line, len, crlf);
		/* A POP3 line may have been a password: neither it nor its
		 * copy in the read-ahead buffer may stay. */
		str_wipe(line, sizeof(line));
		line_reader_wipe_used(&ses->in);
		if (p->after_line != NULL)
			p->after_line(ses->owner);
		/* A failed write: the peer is gone. */
		if (ses->out.failed)
			*ses->done = true;
	}
	(void)out_flush(&ses->out);
	log_event(LOG_INFO, "disconnect", "session ended");
}
