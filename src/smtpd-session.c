/* SPDX-License-Identifier: MIT */
/* sockmail-smtpd's session: the command table and every command but DATA's
 * body (SPEC §4). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd.h"
#include "log.h"
#include "starttls.h"
#include "str.h"
#include "transport.h"
#include "userdb.h"

#define IN(st)		(1u << (st))
#define ANY_STATE	(~0u)
#define VERB_MAX	16

#define REPLY_SYNTAX	"501 Syntax error in parameters or arguments"
#define REPLY_SEQUENCE	"503 Bad sequence of commands"
#define REPLY_PARAMS	"555 MAIL FROM/RCPT TO parameters not recognized or not implemented"
#define REPLY_LOCAL	"451 Requested action aborted: local error in processing"

struct smtp_cmd {
	const char	*verb;
	unsigned	 allowed;	/* IN() bits of enum smtp_state */
	void		(*run)(struct smtp_session *, char *arg);
};

static const char *const state_names[] = {
	[SMTP_GREETED] = "greeted",
	[SMTP_HELLO] = "hello",
	[SMTP_MAIL] = "mail",
	[SMTP_RCPT] = "rcpt",
};

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	/* Every reply's format starts with its code. */
	if (fmt[0] == '5')
		s->errors++;
	va_start(ap, fmt);
	(void)out_vline(&s->out, fmt, ap);
	va_end(ap);
}

void
smtp_close(struct smtp_session *s, int exit_status)
{
	smtp_reply(s, "421 %s Service not available, closing transmission "
	    "channel", s->cfg->domain);
	s->done = true;
	s->exit_status = exit_status;
}

static void
set_state(struct smtp_session *s, enum smtp_state state)
{
	if (s->state != state)
		log_event(LOG_DEBUG, "state", "%s -> %s",
		    state_names[s->state], state_names[state]);
	s->state = state;
}

void
smtp_reset_transaction(struct smtp_session *s)
{
	s->from[0] = '\0';
	s->nrcpt = 0;
	if (s->state != SMTP_GREETED)
		set_state(s, SMTP_HELLO);
}

/* Take the HELO/EHLO argument; replies 501 and returns -1 if unfit. */
static int
take_helo(struct smtp_session *s, const char *arg)
{
	/* The argument is echoed in the reply: no control characters (a
	 * bare CR) may ride along into it. */
	if (arg[0] == '\0' || str_has_ctl(arg) ||
	    str_copy(s->helo, sizeof(s->helo), arg) < 0) {
		smtp_reply(s, REPLY_SYNTAX);
		return -1;
	}
	smtp_reset_transaction(s);
	set_state(s, SMTP_HELLO);
	return 0;
}

static void
cmd_helo(struct smtp_session *s, char *arg)
{
	if (take_helo(s, arg) == 0)
		smtp_reply(s, "250 OK Hello %s", s->helo);
}

static void
cmd_ehlo(struct smtp_session *s, char *arg)
{
	if (take_helo(s, arg) < 0)
		return;
	smtp_reply(s, "250-%s Hello %s", s->cfg->domain, s->helo);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)s->cfg->size_max);
	if (s->cfg->tls != NULL && !s->tls_active)
		smtp_reply(s, "250-STARTTLS");
	smtp_reply(s, "250 HELP");
}

/* STARTTLS (RFC 3207): TLS from here on, and a fresh session that knows
 * nothing the client said before (4.2), so it must say EHLO again. */
static void
cmd_starttls(struct smtp_session *s, char *arg)
{
	if (s->cfg->tls == NULL) {
		smtp_reply(s, "500 Syntax error, command unrecognized");
		return;
	}
	if (s->tls_active) {
		smtp_reply(s, "503 TLS already active");
		return;
	}
	if (arg[0] != '\0') {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	smtp_reply(s, "220 Ready to start TLS");
	if (starttls(s->cfg->tls, &s->in, &s->out) < 0) {
		s->done = true;
		return;
	}
	s->tls_active = true;
	s->helo[0] = '\0';
	smtp_reset_transaction(s);
	set_state(s, SMTP_GREETED);
}

static char *
skip_spaces(char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

/* Parse a path, "<addr>" or a bare addr, at p into addr (size bytes).
 * *rest_out points past it, at the parameters. Returns 0, or -1 on bad
 * syntax: an unclosed "<", a blank or control character inside, too long. */
static int
parse_path(char *p, char *addr, size_t size, char **rest_out)
{
	char *start, *end, *q;

	p = skip_spaces(p);
	if (*p == '<') {
		start = p + 1;
		end = strchr(start, '>');
		if (end == NULL)
			return -1;
		*rest_out = end + 1;
	} else {
		start = p;
		end = start + strcspn(start, " ");
		*rest_out = end;
	}
	if (**rest_out != '\0' && **rest_out != ' ')
		return -1;
	/* RFC 5321 4.1.1.3: accept a source route and ignore it. */
	if (*start == '@') {
		q = memchr(start, ':', (size_t)(end - start));
		if (q == NULL)
			return -1;
		start = q + 1;
	}
	for (q = start; q < end; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '<')
			return -1;
	if (str_copy_n(addr, size, start, (size_t)(end - start)) < 0)
		return -1;
	*rest_out = skip_spaces(*rest_out);
	return 0;
}

/* MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY). Replies and returns -1
 * when one is refused. */
static int
check_mail_params(struct smtp_session *s, char *params)
{
	char *param, *value;
	uint64_t size;

	while (*params != '\0') {
		param = params;
		params += strcspn(params, " ");
		if (*params != '\0')
			*params++ = '\0';
		params = skip_spaces(params);
		value = strchr(param, '=');
		if (value != NULL)
			*value++ = '\0';
		if (str_ieq(param, "SIZE") && value != NULL) {
			if (parse_uint(value, UINT64_MAX, &size) ==
			    PARSE_UINT_OVERFLOW) {
				size = UINT64_MAX;
			} else if (parse_uint(value, UINT64_MAX, &size) !=
			    PARSE_UINT_OK) {
				smtp_reply(s, REPLY_SYNTAX);
				return -1;
			}
			if (size > s->cfg->size_max) {
				smtp_reply(s, "552 Message size exceeds fixed "
				    "maximum message size");
				return -1;
			}
		} else if (str_ieq(param, "BODY") && value != NULL) {
			if (!str_ieq(value, "7BIT") &&
			    !str_ieq(value, "8BITMIME")) {
				smtp_reply(s, REPLY_SYNTAX);
				return -1;
			}
		} else {
			smtp_reply(s, REPLY_PARAMS);
			return -1;
		}
	}
	return 0;
}

static void
mail_path(struct smtp_session *s, char *arg)
{
	char *params;

	if (parse_path(arg, s->from, sizeof(s->from), &params) < 0) {
		s->from[0] = '\0';
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	if (check_mail_params(s, params) < 0) {
		log_event(LOG_INFO, "reject", "from=<%s>: MAIL parameters "
		    "refused", s->from);
		s->from[0] = '\0';
		return;
	}
	s->nrcpt = 0;
	set_state(s, SMTP_MAIL);
	smtp_reply(s, "250 <%s>... Sender ok", s->from);
}

/* "MAIL FROM:<addr>" (RFC 5321). */
static void
cmd_mail(struct smtp_session *s, char *arg)
{
	if (!str_iprefix(arg, "FROM:")) {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	mail_path(s, arg + 5);
}

/* The write-up's "MAIL_FROM: <addr>". */
static void
cmd_mail_from(struct smtp_session *s, char *arg)
{
	if (arg[0] != ':') {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	mail_path(s, arg + 1);
}

static struct smtp_rcpt *
find_rcpt(struct smtp_session *s, const char *login)
{
	size_t i;

	for (i = 0; i < s->nrcpt; i++)
		if (strcmp(s->rcpt[i].login, login) == 0)
			return &s->rcpt[i];
	return NULL;
}

static void
rcpt_path(struct smtp_session *s, char *arg)
{
	char addr[SMTP_PATH_MAX + 1], local[SMTP_PATH_MAX + 1];
	struct userdb_entry user;
	struct smtp_rcpt *r;
	char *params, *at;

	if (parse_path(arg, addr, sizeof(addr), &params) < 0 ||
	    (at = strrchr(addr, '@')) == NULL || at == addr) {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	if (*params != '\0') {
		smtp_reply(s, REPLY_PARAMS);
		return;
	}
	(void)str_copy_n(local, sizeof(local), addr, (size_t)(at - addr));
	if (!userdb_login_valid(local)) {
		log_event(LOG_INFO, "reject", "no such user: %s", addr);
		smtp_reply(s, "550 No such user");
		return;
	}
	switch (userdb_find(s->cfg->root_fd, local, &user)) {
	case 1:
		break;
	case 0:
		log_event(LOG_INFO, "reject", "no such user: %s", addr);
		smtp_reply(s, "550 No such user");
		return;
	default:
		log_event(LOG_ERR, "userinfo", "cannot read %s: %s",
		    USERDB_FILE, strerror(errno));
		smtp_reply(s, REPLY_LOCAL);
		return;
	}
	userdb_entry_free(&user);
	r = find_rcpt(s, user.login);
	if (r == NULL) {
		if (s->nrcpt == SMTP_RCPT_MAX) {
			smtp_reply(s, "452 Too many recipients");
			return;
		}
		r = &s->rcpt[s->nrcpt++];
		(void)str_copy(r->login, sizeof(r->login), user.login);
		(void)str_copy(r->addr, sizeof(r->addr), addr);
	}
	set_state(s, SMTP_RCPT);
	smtp_reply(s, "250 %s... Recipient ok", r->login);
}

/* "RCPT TO:<user@domain>" (RFC 5321). */
static void
cmd_rcpt(struct smtp_session *s, char *arg)
{
	if (!str_iprefix(arg, "TO:")) {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	rcpt_path(s, arg + 3);
}

/* The write-up's "RCPT_TO: user@domain". */
static void
cmd_rcpt_to(struct smtp_session *s, char *arg)
{
	if (arg[0] != ':') {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	rcpt_path(s, arg + 1);
}

static void
cmd_data(struct smtp_session *s, char *arg)
{
	if (arg[0] != '\0') {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	if (s->nrcpt == 0) {
		/* RFC 2920 3.1: MAIL went through, every RCPT was refused. */
		smtp_reply(s, "554 No valid recipients");
		return;
	}
	smtp_receive_data(s, s->cmd_crlf);
}

static void
cmd_rset(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reset_transaction(s);
	smtp_reply(s, "250 OK");
}

static void
cmd_noop(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "250 OK");
}

static void
cmd_vrfy(struct smtp_session *s, char *arg)
{
	if (arg[0] == '\0') {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	/* Never say which users exist. */
	smtp_reply(s, "252 Cannot VRFY user, but will accept message and "
	    "attempt delivery");
}

static void
cmd_help(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "214 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY "
	    "HELP QUIT");
}

static void
cmd_quit(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "221 %s Service closing transmission channel",
	    s->cfg->domain);
	s->done = true;
	s->exit_status = 0;
}

static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO",	ANY_STATE,			cmd_helo },
	{ "EHLO",	ANY_STATE,			cmd_ehlo },
	{ "MAIL",	IN(SMTP_HELLO),			cmd_mail },
	{ "MAIL_FROM",	IN(SMTP_HELLO),			cmd_mail_from },
	{ "RCPT",	IN(SMTP_MAIL) | IN(SMTP_RCPT),	cmd_rcpt },
	{ "RCPT_TO",	IN(SMTP_MAIL) | IN(SMTP_RCPT),	cmd_rcpt_to },
	{ "DATA",	IN(SMTP_MAIL) | IN(SMTP_RCPT),	cmd_data },
	{ "RSET",	ANY_STATE,			cmd_rset },
	{ "NOOP",	ANY_STATE,			cmd_noop },
	{ "VRFY",	ANY_STATE,			cmd_vrfy },
	{ "HELP",	ANY_STATE,			cmd_help },
	{ "QUIT",	ANY_STATE,			cmd_quit },
	{ "STARTTLS",	ANY_STATE,			cmd_starttls },
};

static bool
is_verb_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* Find the command of line (len bytes) and run it. */
static void
dispatch(struct smtp_session *s, char *line, size_t len)
{
	char verb[VERB_MAX + 1];
	size_t vlen, i;

	if (memchr(line, '\0', len) != NULL) {
		smtp_reply(s, "500 Syntax error, NUL character in command");
		return;
	}
	for (vlen = 0; is_verb_char(line[vlen]); vlen++)
		;
	if (vlen == 0 || str_copy_n(verb, sizeof(verb), line, vlen) < 0 ||
	    (line[vlen] != '\0' && line[vlen] != ' ' && line[vlen] != ':')) {
		smtp_reply(s, "500 Syntax error, command unrecognized");
		return;
	}
	for (i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++) {
		if (!str_ieq(verb, smtp_cmds[i].verb))
			continue;
		if (!(smtp_cmds[i].allowed & IN(s->state))) {
			smtp_reply(s, REPLY_SEQUENCE);
			return;
		}
		smtp_cmds[i].run(s, line[vlen] == ':' ? line + vlen :
		    skip_spaces(line + vlen));
		return;
	}
	smtp_reply(s, "500 Syntax error, command unrecognized");
}

static struct smtp_session *
session_new(const struct smtp_config *cfg, struct transport *t)
{
	struct smtp_session *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	line_reader_init(&s->in, t, cfg->timeout_s);
	out_init(&s->out, t);
	s->in.before_wait = out_flush_hook;
	s->in.before_wait_arg = &s->out;
	s->state = SMTP_GREETED;
	s->spool_fd = -1;
	return s;
}

static void
session_free(struct smtp_session *s)
{
	if (s->spool_fd >= 0)
		(void)close(s->spool_fd);
	free(s->spool_w);
	free(s);
}

int
smtp_session_run(const struct smtp_config *cfg, struct transport *t)
{
	char line[SMTP_LINE_MAX + 1];
	struct smtp_session *s;
	enum line_status st;
	size_t len;
	bool crlf;
	int status;

	s = session_new(cfg, t);
	if (s == NULL) {
		log_event(LOG_ERR, "fatal", "out of memory");
		return 1;
	}
	log_event(LOG_INFO, "connect", "session started");
	smtp_reply(s, "220 %s Service ready", cfg->domain);
	while (!s->done) {
		st = line_read(&s->in, line, sizeof(line), &len, &crlf);
		switch (st) {
		case LINE_OK:
			/* A command cut off by the end of input is not
			 * carried out: the client never finished it. */
			if (s->in.last_cut) {
				s->done = true;
				break;
			}
			/* RFC 5321 4.5.3.1.4: 512 octets with the CRLF. */
			if (len + (crlf ? 2 : 1) > SMTP_LINE_MAX) {
				smtp_reply(s, "500 Line too long");
				break;
			}
			s->cmd_crlf = crlf;
			dispatch(s, line, len);
			break;
		case LINE_TOO_LONG:
			smtp_reply(s, "500 Line too long");
			break;
		case LINE_TIMEOUT:
			log_event(LOG_INFO, "timeout", "idle for %d s",
			    cfg->timeout_s);
			smtp_close(s, 0);
			break;
		case LINE_EOF:
		case LINE_ERR:
			s->done = true;
			break;
		}
		if (!s->done && s->errors >= SMTP_ERRORS_MAX) {
			log_event(LOG_INFO, "errors", "%u errors, hanging up",
			    s->errors);
			smtp_close(s, 0);
		}
		if (s->out.failed)
			s->done = true;
	}
	(void)out_flush(&s->out);
	log_event(LOG_INFO, "disconnect", "session ended");
	status = s->exit_status;
	session_free(s);
	return status;
}
