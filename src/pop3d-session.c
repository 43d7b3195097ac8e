/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d's session: the command table, CAPA, STLS and QUIT
 * (RFC 1939, RFC 2595; sockmail-pop3d(8)). */
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
#include "transport.h"

#define REPLY_GOODBYE	"+OK Thanks for using POP3 server"
#define REPLY_JUNK	"-ERR too many commands without progress"

/* When a command counts as junk (the cap on commands that make no
 * progress, sockmail-pop3d(8) LIMITS): only a login and reading or
 * deleting a given message are progress. */
enum pop3_junk {
	JUNK_ALWAYS,		/* whatever its reply */
	JUNK_ON_ERR,		/* when it fails; success is progress */
	JUNK_BARE,		/* LIST, UIDL: without an argument; with one,
				 * as JUNK_ON_ERR */
	JUNK_NEVER,		/* QUIT: ends the session */
};

struct pop3_cmd {
	struct session_cmd	 cmd;	/* allowed: bits of enum pop3_state */
	void			(*run)(struct pop3_session *, char *arg);
	enum pop3_junk		 junk;
};

static const char *const state_names[] = {
	[POP3_AUTHORIZATION] = "authorization",
	[POP3_TRANSACTION] = "transaction",
};

void
pop3_send(struct pop3_session *s, const void *data, size_t len)
{
	(void)out_put(&s->ses.out, data, len);
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->awaiting_status) {
		s->awaiting_status = false;
		s->status_ok = fmt[0] == '+';
	}
	va_start(ap, fmt);
	(void)out_vline(&s->ses.out, fmt, ap);
	va_end(ap);
}

void
pop3_idle_timeout(struct pop3_session *s)
{
	session_log_timeout(&s->ses);
	pop3_reply(s, session_expired(&s->ses) ?
	    "-ERR session time limit reached, closing" :
	    "-ERR idle for too long, closing");
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
	/* The certificate is read now; unusable, the session goes on in
	 * clear text. */
	if (starttls_prepare(s->cfg->tls) < 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] TLS not available");
		return;
	}
	pop3_reply(s, "+OK Begin TLS negotiation");
	if (starttls(s->cfg->tls, &s->ses.in, &s->ses.out) < 0) {
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
	if (s->ses.state != POP3_TRANSACTION) {
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

#define AUTHORIZATION	SESSION_IN(POP3_AUTHORIZATION)
#define TRANSACTION	SESSION_IN(POP3_TRANSACTION)

static const struct pop3_cmd pop3_cmds[] = {
	{ { "USER",	AUTHORIZATION },	pop3_cmd_user,	JUNK_ALWAYS },
	{ { "PASS",	AUTHORIZATION },	pop3_cmd_pass,	JUNK_ON_ERR },
	{ { "APOP",	AUTHORIZATION },	pop3_cmd_apop,	JUNK_ON_ERR },
	{ { "AUTH",	AUTHORIZATION },	pop3_cmd_auth,	JUNK_ON_ERR },
	{ { "STLS",	AUTHORIZATION },	cmd_stls,	JUNK_ALWAYS },
	{ { "CAPA",	SESSION_ANY_STATE },	cmd_capa,	JUNK_ALWAYS },
	{ { "QUIT",	SESSION_ANY_STATE },	cmd_quit,	JUNK_NEVER },
	{ { "NOOP",	TRANSACTION },		cmd_noop,	JUNK_ALWAYS },
	{ { "STAT",	TRANSACTION },		pop3_cmd_stat,	JUNK_ALWAYS },
	{ { "LIST",	TRANSACTION },		pop3_cmd_list,	JUNK_BARE },
	{ { "RETR",	TRANSACTION },		pop3_cmd_retr,	JUNK_ON_ERR },
	{ { "TOP",	TRANSACTION },		pop3_cmd_top,	JUNK_ON_ERR },
	{ { "DELE",	TRANSACTION },		pop3_cmd_dele,	JUNK_ON_ERR },
	{ { "UIDL",	TRANSACTION },		pop3_cmd_uidl,	JUNK_BARE },
	{ { "RSET",	TRANSACTION },		pop3_cmd_rset,	JUNK_ALWAYS },
};

/* One more command without progress. Past POP3_JUNK_MAX the session ends
 * without UPDATE, as after a timeout: returns true then, with the reply
 * queued. */
static bool
junk_command(struct pop3_session *s)
{
	if (++s->junk <= POP3_JUNK_MAX)
		return false;
	log_event(LOG_INFO, "junk", "%u commands without progress, hanging up",
	    s->junk);
	pop3_reply(s, REPLY_JUNK);
	s->done = true;
	return true;
}

/* Run a command and keep the junk count. A command that can never make
 * progress is refused up front when it would be one too many; one that
 * may (a login, RETR 1) is carried out, and only its failure counts.
 * Before login only the login itself is progress; after it, a message
 * read or deleted (RETR, TOP, DELE, LIST n, UIDL n answered +OK), while
 * the listings and status of the whole maildrop can be asked for without
 * end and so are junk. */
static void
run_cmd(void *owner, const struct session_cmd *cmd, char *arg)
{
	/* cmd is the first member of its row (C17 6.7.2.1). */
	const struct pop3_cmd *c = (const struct pop3_cmd *)cmd;
	struct pop3_session *s = owner;
	enum pop3_junk junk = c->junk;
	unsigned state = s->ses.state;
	bool made_progress;

	if (junk == JUNK_BARE)
		junk = arg[0] != '\0' ? JUNK_ON_ERR : JUNK_ALWAYS;
	if (junk == JUNK_ALWAYS && junk_command(s))
		return;
	s->awaiting_status = true;
	s->status_ok = false;
	c->run(s, arg);
	s->awaiting_status = false;
	if (junk != JUNK_ON_ERR || s->done)
		return;
	/* A login is known by its new state, not by a "+" (AUTH's "+ "
	 * continuation is no success). */
	made_progress = state == POP3_AUTHORIZATION ?
	    s->ses.state == POP3_TRANSACTION : s->status_ok;
	if (made_progress)
		s->junk = 0;
	else
		(void)junk_command(s);
}

/* A POP3 keyword runs to the first space, and exactly one space follows
 * it (RFC 1939 3): a password may itself start with a blank. */
static size_t
split_verb(char *line, char **arg_out)
{
	size_t vlen;

	vlen = strcspn(line, " ");
	*arg_out = line[vlen] == ' ' ? line + vlen + 1 : line + vlen;
	return vlen;
}

/* The engine's refusals (unknown verb, wrong state, a line too long, a
 * NUL) are commands without progress too. */
static void
engine_reply(void *owner, const char *text)
{
	struct pop3_session *s = owner;

	if (!junk_command(s))
		pop3_reply(s, "%s", text);
}

static void
greet(void *owner)
{
	struct pop3_session *s = owner;
	struct timespec now;

	/* Implicit TLS (pop3s, RFC 8314): the handshake comes first. */
	if (s->cfg->implicit_tls) {
		if (starttls(s->cfg->tls, &s->ses.in, &s->ses.out) < 0) {
			s->done = true;
			return;
		}
		s->tls_active = true;
	}
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

static void
idle_timeout(void *owner)
{
	pop3_idle_timeout(owner);
}

static const struct session_proto pop3_proto = {
	.cmds = pop3_cmds,
	.ncmds = sizeof(pop3_cmds) / sizeof(pop3_cmds[0]),
	.cmd_size = sizeof(pop3_cmds[0]),
	.run = run_cmd,
	.state_names = state_names,
	/* RFC 2449 4: 255 octets with the CRLF. */
	.line_max = POP3_LINE_MAX,
	.reply_too_long = "-ERR line too long",
	.reply_nul = "-ERR NUL character in command",
	.reply_unknown = "-ERR unrecognized command",
	.reply_state = "-ERR command not valid in this state",
	.split = split_verb,
	.reply = engine_reply,
	.greet = greet,
	.timeout = idle_timeout,
	.after_line = NULL,
};

int
pop3_session_run(const struct pop3_config *cfg, struct transport *t)
{
	struct pop3_session *s;
	int status;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		log_event(LOG_ERR, "fatal", "out of memory");
		return 1;
	}
	s->cfg = cfg;
	/* State 0: POP3_AUTHORIZATION. */
	session_init(&s->ses, &pop3_proto, s, &s->done, t, cfg->timeout_s,
	    cfg->lifetime_s);
	maildrop_init(&s->md);
	session_run(&s->ses);
	status = s->exit_status;
	maildrop_close(&s->md);
	free(s->read_buf);
	free(s);
	return status;
}
