/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d's session: the command table, CAPA, STLS and QUIT
 * (RFC 1939, RFC 2595, SPEC §5, §7). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pop3d.h"
#include "log.h"
#include "starttls.h"
#include "str.h"
#include "transport.h"

#define IN(st)		(1u << (st))
#define ANY_STATE	(~0u)
#define VERB_MAX	8

#define REPLY_GOODBYE	"+OK Thanks for using POP3 server"

struct pop3_cmd {
	const char	*verb;
	unsigned	 allowed;	/* IN() bits of enum pop3_state */
	void		(*run)(struct pop3_session *, char *arg);
};

void
pop3_send(struct pop3_session *s, const void *data, size_t len)
{
	(void)out_put(&s->out, data, len);
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)out_vline(&s->out, fmt, ap);
	va_end(ap);
}

void
pop3_idle_timeout(struct pop3_session *s)
{
	log_event(LOG_INFO, "timeout", "idle for %d s", s->cfg->timeout_s);
	pop3_reply(s, "-ERR idle for too long, closing");
	s->done = true;
}

static void
cmd_capa(struct pop3_session *s, char *arg)
{
	(void)arg;
	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "USER");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	pop3_reply(s, "EXPIRE NEVER");
	pop3_reply(s, "IMPLEMENTATION sockmail");
	if (s->cfg->tls != NULL) {
		if (!s->tls_active)
			pop3_reply(s, "STLS");
		pop3_reply(s, "SASL PLAIN");
	}
	pop3_reply(s, ".");
}

/* STLS (RFC 2595 4): TLS from here on, in a fresh AUTHORIZATION state. */
static void
cmd_stls(struct pop3_session *s, char *arg)
{
	if (s->cfg->tls == NULL) {
		pop3_reply(s, "-ERR unrecognized command");
		return;
	}
	if (s->tls_active) {
		pop3_reply(s, "-ERR command not permitted when TLS active");
		return;
	}
	if (arg[0] != '\0') {
		pop3_reply(s, "-ERR usage: STLS");
		return;
	}
	pop3_reply(s, "+OK Begin TLS negotiation");
	if (starttls(s->cfg->tls, &s->in, &s->out) < 0) {
		s->done = true;
		return;
	}
	s->tls_active = true;
	s->have_user = false;
}

static void
cmd_noop(struct pop3_session *s, char *arg)
{
	(void)arg;
	pop3_reply(s, "+OK");
}

static void
cmd_quit(struct pop3_session *s, char *arg)
{
	int removed;

	(void)arg;
	s->done = true;
	if (s->state != POP3_TRANSACTION) {
		pop3_reply(s, REPLY_GOODBYE);
		return;
	}
	removed = maildrop_update(&s->md);
	if (removed < 0)
		log_event(LOG_ERR, "update", "mailbox of %s: %s; nothing "
		    "deleted", s->md.login, strerror(errno));
	else if (removed > 0)
		log_event(LOG_INFO, "update", "mailbox of %s: %d messages "
		    "removed", s->md.login, removed);
	/* Free the maildrop before the client hears the reply: a client
	 * that logs in again at once must not find it still locked. */
	maildrop_close(&s->md);
	pop3_reply(s, removed < 0 ? "-ERR some deleted messages not removed" :
	    REPLY_GOODBYE);
}

static const struct pop3_cmd pop3_cmds[] = {
	{ "USER",	IN(POP3_AUTHORIZATION),	pop3_cmd_user },
	{ "PASS",	IN(POP3_AUTHORIZATION),	pop3_cmd_pass },
	{ "APOP",	IN(POP3_AUTHORIZATION),	pop3_cmd_apop },
	{ "AUTH",	IN(POP3_AUTHORIZATION),	pop3_cmd_auth },
	{ "STLS",	IN(POP3_AUTHORIZATION),	cmd_stls },
	{ "CAPA",	ANY_STATE,		cmd_capa },
	{ "QUIT",	ANY_STATE,		cmd_quit },
	{ "NOOP",	IN(POP3_TRANSACTION),	cmd_noop },
	{ "STAT",	IN(POP3_TRANSACTION),	pop3_cmd_stat },
	{ "LIST",	IN(POP3_TRANSACTION),	pop3_cmd_list },
	{ "RETR",	IN(POP3_TRANSACTION),	pop3_cmd_retr },
	{ "TOP",	IN(POP3_TRANSACTION),	pop3_cmd_top },
	{ "DELE",	IN(POP3_TRANSACTION),	pop3_cmd_dele },
	{ "UIDL",	IN(POP3_TRANSACTION),	pop3_cmd_uidl },
	{ "RSET",	IN(POP3_TRANSACTION),	pop3_cmd_rset },
};

static void
dispatch(struct pop3_session *s, char *line, size_t len)
{
	char verb[VERB_MAX + 1];
	size_t vlen, i;
	char *arg;

	if (memchr(line, '\0', len) != NULL) {
		pop3_reply(s, "-ERR NUL character in command");
		return;
	}
	vlen = strcspn(line, " ");
	if (vlen == 0 || str_copy_n(verb, sizeof(verb), line, vlen) < 0) {
		pop3_reply(s, "-ERR unrecognized command");
		return;
	}
	/* One space between keyword and argument (RFC 1939 3): a password
	 * may itself start with a blank. */
	arg = line[vlen] == ' ' ? line + vlen + 1 : line + vlen;
	for (i = 0; i < sizeof(pop3_cmds) / sizeof(pop3_cmds[0]); i++) {
		if (!str_ieq(verb, pop3_cmds[i].verb))
			continue;
		if (!(pop3_cmds[i].allowed & IN(s->state))) {
			pop3_reply(s, "-ERR command not valid in this state");
			return;
		}
		pop3_cmds[i].run(s, arg);
		return;
	}
	pop3_reply(s, "-ERR unrecognized command");
}

static void
greet(struct pop3_session *s)
{
	struct timespec now;

	if (!s->cfg->apop) {
		pop3_reply(s, "+OK POP3 server is ready");
		return;
	}
	/* RFC 1939 7: a timestamp unique to this greeting. */
	(void)clock_gettime(CLOCK_REALTIME, &now);
	(void)snprintf(s->timestamp, sizeof(s->timestamp), "<%ld.%lld.%09ld@%s>",
	    (long)getpid(), (long long)now.tv_sec, now.tv_nsec, s->cfg->domain);
	pop3_reply(s, "+OK POP3 server is ready %s", s->timestamp);
}

int
pop3_session_run(const struct pop3_config *cfg, struct transport *t)
{
	char line[POP3_LINE_MAX + 1];
	struct pop3_session *s;
	enum line_status st;
	size_t len;
	bool crlf;
	int status;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		log_event(LOG_ERR, "fatal", "out of memory");
		return 1;
	}
	s->cfg = cfg;
	line_reader_init(&s->in, t, cfg->timeout_s);
	out_init(&s->out, t);
	s->in.before_wait = out_flush_hook;
	s->in.before_wait_arg = &s->out;
	s->state = POP3_AUTHORIZATION;
	maildrop_init(&s->md);

	log_event(LOG_INFO, "connect", "session started");
	/* Implicit TLS (pop3s, RFC 8314): the handshake comes first. */
	if (cfg->implicit_tls) {
		if (starttls(cfg->tls, &s->in, &s->out) < 0)
			s->done = true;
		else
			s->tls_active = true;
	}
	if (!s->done)
		greet(s);
	while (!s->done) {
		st = line_read(&s->in, line, sizeof(line), &len, &crlf);
		switch (st) {
		case LINE_OK:
			/* A command cut off by the end of input is not
			 * carried out: a QUIT the client never finished
			 * must not commit its DELEs. */
			if (s->in.last_cut) {
				s->done = true;
				break;
			}
			/* RFC 2449 4: 255 octets with the CRLF. */
			if (len + (crlf ? 2 : 1) > POP3_LINE_MAX)
				pop3_reply(s, "-ERR line too long");
			else
				dispatch(s, line, len);
			break;
		case LINE_TOO_LONG:
			pop3_reply(s, "-ERR line too long");
			break;
		case LINE_TIMEOUT:
			pop3_idle_timeout(s);
			break;
		case LINE_EOF:
		case LINE_ERR:
			s->done = true;
			break;
		}
		str_wipe(line, sizeof(line));
		if (s->out.failed)
			s->done = true;
	}
	(void)out_flush(&s->out);
	log_event(LOG_INFO, "disconnect", "session ended");
	status = s->exit_status;
	maildrop_close(&s->md);
	free(s->read_buf);
	free(s);
	return status;
}
