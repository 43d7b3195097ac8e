/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d's session: the command table, AUTHORIZATION and QUIT
 * (RFC 1939, SPEC §5). */
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
#include "md5.h"
#include "str.h"
#include "transport.h"

#define IN(st)		(1u << (st))
#define ANY_STATE	(~0u)
#define VERB_MAX	8

#define REPLY_BAD_LOGIN	"-ERR [AUTH] Invalid username or password"
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
	pop3_reply(s, ".");
}

static void
cmd_user(struct pop3_session *s, char *arg)
{
	/* The same answer for every name: no user enumeration. A name that
	 * cannot be a login is remembered as none and fails at PASS. */
	s->have_user = true;
	if (!userdb_login_valid(arg) ||
	    str_copy(s->user, sizeof(s->user), arg) < 0)
		s->user[0] = '\0';
	pop3_reply(s, "+OK send PASS");
}

static void
sleep_until(const struct timespec *deadline)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline,
	    NULL) == EINTR)
		;
}

/* Finish a login attempt. A failure is answered fail_delay_s after the
 * command arrived (started), whatever made it fail, so neither the delay
 * nor the time a hash takes tells a wrong password from an unknown user. */
static void
finish_login(struct pop3_session *s, const struct timespec *started,
    const struct userdb_entry *user, bool ok)
{
	struct timespec deadline = *started;
	uint64_t octets;
	size_t count;

	if (!ok) {
		s->failed_logins++;
		log_event(LOG_NOTICE, "auth-failed", "login %s failed (%u)",
		    s->user[0] != '\0' ? s->user : "(invalid)",
		    s->failed_logins);
		(void)out_flush(&s->out);
		deadline.tv_sec += s->cfg->fail_delay_s;
		sleep_until(&deadline);
		pop3_reply(s, REPLY_BAD_LOGIN);
		if (s->failed_logins >= POP3_LOGIN_FAILURES_MAX)
			s->done = true;
		return;
	}
	if (maildrop_open(&s->md, s->cfg->root_fd, user->login) < 0) {
		if (errno == EAGAIN) {
			log_event(LOG_INFO, "in-use", "maildrop of %s is locked",
			    user->login);
			pop3_reply(s, "-ERR [IN-USE] Maildrop already locked");
		} else {
			log_event(LOG_ERR, "maildrop", "mailbox of %s: %s",
			    user->login, strerror(errno));
			pop3_reply(s, "-ERR [SYS/TEMP] Unable to open maildrop");
		}
		return;
	}
	s->state = POP3_TRANSACTION;
	log_set_user(user->login);
	maildrop_stat(&s->md, &count, &octets);
	log_event(LOG_INFO, "login", "%s: %zu messages, %llu octets",
	    user->login, count, (unsigned long long)octets);
	pop3_reply(s, "+OK maildrop has %zu messages (%llu octets)", count,
	    (unsigned long long)octets);
}

/* Look the session's user up. Returns 1 found, 0 not, -1 on a local error
 * (replied). */
static int
find_user(struct pop3_session *s, const char *login,
    struct userdb_entry *user)
{
	int found;

	if (login[0] == '\0')
		return 0;
	found = userdb_find(s->cfg->root_fd, login, user);
	if (found >= 0)
		return found;
	log_event(LOG_ERR, "userinfo", "cannot read %s: %s", USERDB_FILE,
	    strerror(errno));
	pop3_reply(s, "-ERR [SYS/TEMP] Local error, try again later");
	return -1;
}

static void
cmd_pass(struct pop3_session *s, char *arg)
{
	struct userdb_entry user;
	struct timespec started;
	int found;
	bool ok;

	(void)clock_gettime(CLOCK_MONOTONIC, &started);
	if (!s->have_user) {
		str_wipe(arg, strlen(arg));
		pop3_reply(s, "-ERR USER first");
		return;
	}
	s->have_user = false;	/* RFC 1939: PASS follows its own USER */
	found = find_user(s, s->user, &user);
	if (found < 0) {
		str_wipe(arg, strlen(arg));
		return;
	}
	ok = found && userdb_password_ok(&user, arg);
	str_wipe(arg, strlen(arg));
	finish_login(s, &started, &user, ok);
	userdb_entry_free(&user);
}

/* APOP name digest (RFC 1939 7): MD5 of the greeting's timestamp and the
 * plain-text password. Users with a hashed password cannot use it. */
static void
cmd_apop(struct pop3_session *s, char *arg)
{
	char expect[2 * MD5_DIGEST_SIZE + 1], buf[POP3_TIMESTAMP_MAX +
	    USERDB_PASSWORD_MAX + 1];
	struct userdb_entry user;
	struct timespec started;
	const char *pw;
	char *digest;
	int found, n;
	bool ok = false;

	(void)clock_gettime(CLOCK_MONOTONIC, &started);
	if (!s->cfg->apop) {
		pop3_reply(s, "-ERR unrecognized command");
		return;
	}
	digest = strchr(arg, ' ');
	if (digest == NULL) {
		pop3_reply(s, "-ERR usage: APOP name digest");
		return;
	}
	*digest++ = '\0';
	if (!userdb_login_valid(arg) ||
	    str_copy(s->user, sizeof(s->user), arg) < 0)
		s->user[0] = '\0';
	found = find_user(s, s->user, &user);
	if (found < 0)
		return;
	if (found && !str_iprefix(user.password, "{CRYPT}")) {
		pw = user.password;
		if (str_iprefix(pw, "{PLAIN}"))
			pw += strlen("{PLAIN}");
		n = snprintf(buf, sizeof(buf), "%s%s", s->timestamp, pw);
		if (n > 0 && (size_t)n < sizeof(buf)) {
			md5_hex(buf, (size_t)n, expect);
			ok = str_const_eq(expect, strlen(expect), digest,
			    strlen(digest));
		}
		str_wipe(buf, sizeof(buf));
	}
	finish_login(s, &started, &user, ok);
	userdb_entry_free(&user);
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
	if (removed < 0) {
		log_event(LOG_ERR, "update", "mailbox of %s: %s; nothing "
		    "deleted", s->md.login, strerror(errno));
		pop3_reply(s, "-ERR some deleted messages not removed");
		return;
	}
	if (removed > 0)
		log_event(LOG_INFO, "update", "mailbox of %s: %d messages "
		    "removed", s->md.login, removed);
	pop3_reply(s, REPLY_GOODBYE);
}

static const struct pop3_cmd pop3_cmds[] = {
	{ "USER",	IN(POP3_AUTHORIZATION),	cmd_user },
	{ "PASS",	IN(POP3_AUTHORIZATION),	cmd_pass },
	{ "APOP",	IN(POP3_AUTHORIZATION),	cmd_apop },
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
	greet(s);
	while (!s->done) {
		st = line_read(&s->in, line, sizeof(line), &len, &crlf);
		switch (st) {
		case LINE_OK:
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
			log_event(LOG_INFO, "timeout", "idle for %d s",
			    cfg->timeout_s);
			pop3_reply(s, "-ERR idle for too long, closing");
			s->done = true;
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
