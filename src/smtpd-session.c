/* SPDX-License-Identifier: MIT */
/* sockmail-smtpd's session: the command table and every command but DATA's
 * body (sockmail-smtpd(8)). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd.h"
#include "deliver.h"
#include "log.h"
#include "starttls.h"
#include "str.h"
#include "transport.h"
#include "userdb.h"

/* Each reply carries its RFC 3463 enhanced code, shown only after EHLO
 * (smtp_reply). A 501 says what was wrong: the command's arguments
 * (5.5.4), the sender's address (5.1.7) or the recipient's (5.1.3). */
#define REPLY_SYNTAX	"501 5.5.4 Syntax error in parameters or arguments"
#define REPLY_SENDER	"501 5.1.7 Syntax error in parameters or arguments"
#define REPLY_RCPT	"501 5.1.3 Syntax error in parameters or arguments"
#define REPLY_SEQUENCE	"503 5.5.1 Bad sequence of commands"
#define REPLY_UNKNOWN	"500 5.5.2 Syntax error, command unrecognized"
#define REPLY_PARAMS	"555 5.5.4 MAIL FROM/RCPT TO parameters not recognized or not implemented"
#define REPLY_NO_USER	"550 5.1.1 No such user"
/* RFC 6531 3.5: 553 and X.6.7 for a non-ASCII address that may not be
 * used: here, one without SMTPUTF8, or one that is not UTF-8 at all. */
#define REPLY_NOT_ASCII	"553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define REPLY_NOT_UTF8	"553 5.6.7 Address is not valid UTF-8"

/* Where HELO or EHLO, and where MAIL, has been accepted. */
#define AFTER_HELLO	SESSION_IN(SMTP_HELLO)
#define AFTER_MAIL	(SESSION_IN(SMTP_MAIL) | SESSION_IN(SMTP_RCPT))

struct smtp_cmd {
	struct session_cmd	 cmd;	/* allowed: bits of enum smtp_state */
	void			(*run)(struct smtp_session *, char *arg);
	bool			 junk;	/* no progress: see junk_command */
};

static const char *const state_names[] = {
	[SMTP_GREETED] = "greeted",
	[SMTP_HELLO] = "hello",
	[SMTP_MAIL] = "mail",
	[SMTP_RCPT] = "rcpt",
};

/* Every 5xx reply counts as an error (sockmail-smtpd(8), LIMITS); text is
 * a reply, or the format of one, which starts with its code. */
static void
count_reply(struct smtp_session *s, const char *text)
{
	if (text[0] == '5')
		s->errors++;
}

/* The length of the RFC 3463 enhanced code and the blank after it at
 * text + 4, where a reply "NNN X.Y.Z text" or "NNN-X.Y.Z text" keeps it,
 * or 0 when there is none. Class X is 2, 4 or 5 (3463 2: there is no
 * class 3, so 354 has none); subject and detail are 1 to 3 digits. */
static size_t
enhanced_code_len(const char *text)
{
	size_t i, part, n;

	for (i = 0; i < 3; i++)
		if (text[i] < '0' || text[i] > '9')
			return 0;
	if (text[3] != ' ' && text[3] != '-')
		return 0;
	text += 4;
	if (text[0] != '2' && text[0] != '4' && text[0] != '5')
		return 0;
	i = 1;
	for (part = 0; part < 2; part++) {
		if (text[i++] != '.')
			return 0;
		for (n = 0; text[i] >= '0' && text[i] <= '9'; n++)
			i++;
		if (n == 0 || n > 3)
			return 0;
	}
	return text[i] == ' ' ? i + 1 : 0;
}

/* How much of a reply, its format or its text, to leave out after the
 * basic code "NNN ": its enhanced code, outside EHLO mode. RFC 2034 5
 * would send the codes to every client; sockmail keeps them to clients
 * that said EHLO, so that a HELO session reads exactly as the write-up's
 * (sockmail-smtpd(8), ENHANCED STATUS CODES). The format's own literal
 * prefix is looked at, never what an argument put there. */
static size_t
reply_skip(const struct smtp_session *s, const char *fmt)
{
	return s->esmtp ? 0 : enhanced_code_len(fmt);
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	size_t skip = reply_skip(s, fmt);
	va_list ap;

	count_reply(s, fmt);
	va_start(ap, fmt);
	/* "NNN " (every reply has it), then the rest after any code. */
	(void)out_put(&s->ses.out, fmt, 4);
	(void)out_vline(&s->ses.out, fmt + 4 + skip, ap);
	va_end(ap);
}

void
smtp_close(struct smtp_session *s, enum smtp_close_why why)
{
	switch (why) {
	case SMTP_CLOSE_TIMEOUT:
		smtp_reply(s, "421 4.4.2 %s Service not available, closing "
		    "transmission channel", s->cfg->domain);
		break;
	case SMTP_CLOSE_ABUSE:
		smtp_reply(s, "421 4.7.0 %s Service not available, closing "
		    "transmission channel", s->cfg->domain);
		break;
	case SMTP_CLOSE_LOCAL:
		smtp_reply(s, "421 4.3.0 %s Service not available, closing "
		    "transmission channel", s->cfg->domain);
		break;
	}
	s->done = true;
	s->exit_status = why == SMTP_CLOSE_LOCAL ? 1 : 0;
}

/* One more command without progress (sockmail-smtpd(8), LIMITS). The
 * 101st since the last message accepted is answered 421 instead of being
 * carried out, and the session ends: returns true then. The count starts
 * again at every message accepted, so a client that sends many messages
 * over one connection with RSET between them (a connection cache) is
 * never cut off, while one that only keeps its slot busy is. */
static bool
junk_command(struct smtp_session *s)
{
	if (++s->junk <= SMTP_JUNK_MAX)
		return false;
	log_event(LOG_INFO, "junk", "%u commands without progress, hanging up",
	    s->junk);
	smtp_close(s, SMTP_CLOSE_ABUSE);
	return true;
}

void
smtp_reset_transaction(struct smtp_session *s)
{
	s->from[0] = '\0';
	s->nrcpt = 0;
	s->smtputf8 = false;
	if (s->ses.state != SMTP_GREETED)
		session_set_state(&s->ses, SMTP_HELLO);
}

/* Take the HELO/EHLO argument; returns -1 when it was refused (501), or
 * when a repeated HELO/EHLO was one junk command too many (421). */
static int
take_helo(struct smtp_session *s, const char *arg)
{
	if (s->ses.state != SMTP_GREETED && junk_command(s))
		return -1;
	/* The argument is echoed in the reply: no control characters (a
	 * bare CR) may ride along into it. */
	if (arg[0] == '\0' || str_has_ctl(arg) ||
	    str_copy(s->helo, sizeof(s->helo), arg) < 0) {
		smtp_reply(s, REPLY_SYNTAX);
		return -1;
	}
	smtp_reset_transaction(s);
	session_set_state(&s->ses, SMTP_HELLO);
	return 0;
}

static void
cmd_helo(struct smtp_session *s, char *arg)
{
	if (take_helo(s, arg) < 0)
		return;
	s->esmtp = false;
	smtp_reply(s, "250 2.0.0 OK Hello %s", s->helo);
}

/* The EHLO lines carry no enhanced code: RFC 2034 3 leaves them out of
 * the greeting and of the replies to HELO and EHLO. */
static void
cmd_ehlo(struct smtp_session *s, char *arg)
{
	if (take_helo(s, arg) < 0)
		return;
	s->esmtp = true;
	smtp_reply(s, "250-%s Hello %s", s->cfg->domain, s->helo);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)s->cfg->size_max);
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-SMTPUTF8");
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
		smtp_reply(s, REPLY_UNKNOWN);
		return;
	}
	if (s->tls_active) {
		smtp_reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (arg[0] != '\0') {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	/* The certificate is read now; unusable, TLS is unavailable and the
	 * session goes on in clear text (RFC 3207 4). */
	if (starttls_prepare(s->cfg->tls) < 0) {
		smtp_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if (starttls(s->cfg->tls, &s->ses.in, &s->ses.out) < 0) {
		s->done = true;
		return;
	}
	s->tls_active = true;
	/* A fresh session: back to plain replies until the next EHLO. */
	s->esmtp = false;
	s->helo[0] = '\0';
	smtp_reset_transaction(s);
	session_set_state(&s->ses, SMTP_GREETED);
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

/* MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8).
 * Replies and returns -1 when one is refused. */
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
				smtp_reply(s, "552 5.3.4 Message size exceeds "
				    "fixed maximum message size");
				return -1;
			}
		} else if (str_ieq(param, "BODY") && value != NULL) {
			if (!str_ieq(value, "7BIT") &&
			    !str_ieq(value, "8BITMIME")) {
				smtp_reply(s, REPLY_SYNTAX);
				return -1;
			}
		} else if (str_ieq(param, "SMTPUTF8")) {
			if (value != NULL) {
				smtp_reply(s, REPLY_SYNTAX);
				return -1;
			}
			s->smtputf8 = true;
		} else {
			smtp_reply(s, REPLY_PARAMS);
			return -1;
		}
	}
	return 0;
}

/* Whether addr may be used in this transaction (RFC 6531 3.3): ASCII
 * always; other characters only with SMTPUTF8, and only as well-formed
 * UTF-8 (RFC 3629) with no C1 control among them, as parse_path already
 * keeps out the C0 ones. Replies 553 and returns -1 when not. */
static int
check_address_charset(struct smtp_session *s, const char *addr,
    const char *what)
{
	size_t len = strlen(addr);
	uint32_t cp;
	int n;

	while (len > 0 && (unsigned char)*addr < 0x80) {
		addr++;
		len--;
	}
	if (len == 0)
		return 0;
	if (!s->smtputf8) {
		log_event(LOG_INFO, "reject", "%s address is not ASCII, and "
		    "MAIL had no SMTPUTF8", what);
		smtp_reply(s, REPLY_NOT_ASCII);
		return -1;
	}
	for (; len > 0; addr += n, len -= (size_t)n) {
		n = str_utf8_decode(addr, len, &cp);
		if (n < 0 || (cp >= 0x80 && cp <= 0x9f)) {
			log_event(LOG_INFO, "reject", "%s address is not "
			    "valid UTF-8", what);
			smtp_reply(s, REPLY_NOT_UTF8);
			return -1;
		}
	}
	return 0;
}

static void
mail_path(struct smtp_session *s, char *arg)
{
	char *params;

	s->smtputf8 = false;
	if (parse_path(arg, s->from, sizeof(s->from), &params) < 0) {
		s->from[0] = '\0';
		smtp_reply(s, REPLY_SENDER);
		return;
	}
	if (check_mail_params(s, params) < 0) {
		log_event(LOG_INFO, "reject", "from=<%s>: MAIL parameters "
		    "refused", s->from);
		s->from[0] = '\0';
		s->smtputf8 = false;
		return;
	}
	if (check_address_charset(s, s->from, "sender") < 0) {
		s->from[0] = '\0';
		s->smtputf8 = false;
		return;
	}
	s->nrcpt = 0;
	session_set_state(&s->ses, SMTP_MAIL);
	smtp_reply(s, "250 2.1.0 <%s>... Sender ok", s->from);
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
		smtp_reply(s, REPLY_RCPT);
		return;
	}
	if (*params != '\0') {
		smtp_reply(s, REPLY_PARAMS);
		return;
	}
	if (check_address_charset(s, addr, "recipient") < 0)
		return;
	(void)str_copy_n(local, sizeof(local), addr, (size_t)(at - addr));
	/* Logins are ASCII (sockmail-userinfo(5)): a UTF-8 local part is no
	 * user. */
	if (!userdb_login_valid(local)) {
		log_event(LOG_INFO, "reject", "no such user: %s", addr);
		smtp_reply(s, REPLY_NO_USER);
		return;
	}
	switch (userdb_find(s->cfg->root_fd, local, &user)) {
	case 1:
		break;
	case 0:
		log_event(LOG_INFO, "reject", "no such user: %s", addr);
		smtp_reply(s, REPLY_NO_USER);
		return;
	default:
		log_event(LOG_ERR, "userinfo", "cannot read %s: %s",
		    USERDB_FILE, strerror(errno));
		smtp_reply(s, SMTP_REPLY_LOCAL);
		return;
	}
	userdb_entry_free(&user);
	r = find_rcpt(s, user.login);
	if (r == NULL) {
		if (s->nrcpt == SMTP_RCPT_MAX) {
			smtp_reply(s, "452 4.5.3 Too many recipients");
			return;
		}
		/* -q: a mailbox at its quota takes no message; the end of
		 * DATA checks the message itself (sockmail-smtpd(8),
		 * QUOTAS). */
		if (deliver_mailbox_full(s->cfg->root_fd, user.login,
		    s->cfg->quota)) {
			log_event(LOG_INFO, "reject", "mailbox of %s full "
			    "(quota %llu bytes): %s", user.login,
			    (unsigned long long)s->cfg->quota, addr);
			smtp_reply(s, "452 4.2.2 Mailbox full");
			return;
		}
		r = &s->rcpt[s->nrcpt++];
		(void)str_copy(r->login, sizeof(r->login), user.login);
		(void)str_copy(r->addr, sizeof(r->addr), addr);
	} else if (junk_command(s))
		return;		/* a user already accepted adds nothing */
	session_set_state(&s->ses, SMTP_RCPT);
	smtp_reply(s, "250 2.1.5 %s... Recipient ok", r->login);
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
		smtp_reply(s, "554 5.5.1 No valid recipients");
		return;
	}
	smtp_receive_data(s, s->ses.crlf);
}

static void
cmd_rset(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reset_transaction(s);
	smtp_reply(s, "250 2.0.0 OK");
}

static void
cmd_noop(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "250 2.0.0 OK");
}

static void
cmd_vrfy(struct smtp_session *s, char *arg)
{
	if (arg[0] == '\0') {
		smtp_reply(s, REPLY_SYNTAX);
		return;
	}
	/* Never say which users exist. */
	smtp_reply(s, "252 2.0.0 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
cmd_help(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP "
	    "VRFY HELP QUIT");
}

static void
cmd_quit(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, "221 2.0.0 %s Service closing transmission channel",
	    s->cfg->domain);
	s->done = true;
	s->exit_status = 0;
}

/* junk: the commands that never make progress. A repeated HELO/EHLO and
 * a repeated RCPT are junk too, which only their handlers can tell. */
static const struct smtp_cmd smtp_cmds[] = {
	{ { "HELO",	SESSION_ANY_STATE },	cmd_helo,	false },
	{ { "EHLO",	SESSION_ANY_STATE },	cmd_ehlo,	false },
	{ { "MAIL",	AFTER_HELLO },		cmd_mail,	false },
	{ { "MAIL_FROM", AFTER_HELLO },		cmd_mail_from,	false },
	{ { "RCPT",	AFTER_MAIL },		cmd_rcpt,	false },
	{ { "RCPT_TO",	AFTER_MAIL },		cmd_rcpt_to,	false },
	{ { "DATA",	AFTER_MAIL },		cmd_data,	false },
	{ { "RSET",	SESSION_ANY_STATE },	cmd_rset,	true },
	{ { "NOOP",	SESSION_ANY_STATE },	cmd_noop,	true },
	{ { "VRFY",	SESSION_ANY_STATE },	cmd_vrfy,	true },
	{ { "HELP",	SESSION_ANY_STATE },	cmd_help,	true },
	{ { "QUIT",	SESSION_ANY_STATE },	cmd_quit,	false },
	{ { "STARTTLS",	SESSION_ANY_STATE },	cmd_starttls,	false },
};

static void
run_cmd(void *owner, const struct session_cmd *cmd, char *arg)
{
	/* cmd is the first member of its row (C17 6.7.2.1). */
	const struct smtp_cmd *c = (const struct smtp_cmd *)cmd;
	struct smtp_session *s = owner;

	if (c->junk && junk_command(s))
		return;
	c->run(s, arg);
}

static bool
is_verb_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* An SMTP verb is letters and '_' (the write-up's MAIL_FROM), ended by a
 * space, a ':' (which starts the argument: "MAIL_FROM:<a>") or the end. */
static size_t
split_verb(char *line, char **arg_out)
{
	size_t vlen;

	for (vlen = 0; is_verb_char(line[vlen]); vlen++)
		;
	if (line[vlen] != '\0' && line[vlen] != ' ' && line[vlen] != ':')
		return 0;
	*arg_out = line[vlen] == ':' ? line + vlen : skip_spaces(line + vlen);
	return vlen;
}

static void
engine_reply(void *owner, const char *text)
{
	struct smtp_session *s = owner;
	size_t skip = reply_skip(s, text);

	count_reply(s, text);
	(void)out_line(&s->ses.out, "%.4s%s", text, text + 4 + skip);
}

static void
greet(void *owner)
{
	struct smtp_session *s = owner;

	smtp_reply(s, "220 %s Service ready", s->cfg->domain);
}

static void
idle_timeout(void *owner)
{
	struct smtp_session *s = owner;

	session_log_timeout(&s->ses);
	smtp_close(s, SMTP_CLOSE_TIMEOUT);
}

/* Right after the 20th 5xx reply, 421 and the end (sockmail-smtpd(8),
 * LIMITS). */
static void
count_errors(void *owner)
{
	struct smtp_session *s = owner;

	if (!s->done && s->errors >= SMTP_ERRORS_MAX) {
		log_event(LOG_INFO, "errors", "%u errors, hanging up",
		    s->errors);
		smtp_close(s, SMTP_CLOSE_ABUSE);
	}
}

static const struct session_proto smtp_proto = {
	.cmds = smtp_cmds,
	.ncmds = sizeof(smtp_cmds) / sizeof(smtp_cmds[0]),
	.cmd_size = sizeof(smtp_cmds[0]),
	.run = run_cmd,
	.state_names = state_names,
	/* RFC 5321 4.5.3.1.4: 512 octets with the CRLF. */
	.line_max = SMTP_LINE_MAX,
	.reply_too_long = "500 5.5.2 Line too long",
	.reply_nul = "500 5.5.2 Syntax error, NUL character in command",
	.reply_unknown = REPLY_UNKNOWN,
	.reply_state = REPLY_SEQUENCE,
	.split = split_verb,
	.reply = engine_reply,
	.greet = greet,
	.timeout = idle_timeout,
	.after_line = count_errors,
};

static struct smtp_session *
session_new(const struct smtp_config *cfg, struct transport *t)
{
	struct smtp_session *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	/* State 0: SMTP_GREETED. */
	session_init(&s->ses, &smtp_proto, s, &s->done, t, cfg->timeout_s,
	    cfg->lifetime_s);
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
	struct smtp_session *s;
	int status;

	s = session_new(cfg, t);
	if (s == NULL) {
		log_event(LOG_ERR, "fatal", "out of memory");
		return 1;
	}
	session_run(&s->ses);
	status = s->exit_status;
	session_free(s);
	return status;
}
