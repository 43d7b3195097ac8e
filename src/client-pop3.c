/* SPDX-License-Identifier: MIT */
/* mail_client's Mail Management over POP3 (RFC 1939; mail_client(1)). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "str.h"
#include "userdb.h"

#define TOP_BATCH	50	/* pipelined TOPs in flight at once */
#define FIELD_MAX	256
#define LISTING_MAX	10000000	/* more than any real maildrop */

/* What the listing shows of one message. */
struct summary {
	char	refusal[CLIENT_LINE_MAX];	/* the status line */
	char	from[FIELD_MAX];
	char	received[FIELD_MAX];
	char	date[FIELD_MAX];
	char	subject[FIELD_MAX];
};

static bool
is_ok(const char *reply)
{
	return strncmp(reply, "+OK", 3) == 0;
}

static void
take_field(const char *line, const char *name, char *value, size_t size)
{
	size_t n = strlen(name);

	if (value[0] == '\0' && str_iprefix(line, name) && line[n] == ':') {
		line += n + 1;
		line += strspn(line, " \t");
		(void)str_copy(value, size, line[0] != '\0' ? line : "-");
	}
}

/* Read the rest of a multi-line reply up to its "." line, undoing the
 * dot-stuffing (RFC 1939 3). Each line is printed when show is set, and its
 * header fields noted in sum when sum is set. Lines of any length are
 * read; only their first part is parsed. Returns 0 or -1. */
static int
multiline(struct conn *c, bool show, struct summary *sum)
{
	char piece[CLIENT_LINE_MAX], *p;
	enum line_status st;
	enum line_end end;
	bool at_line_start = true, in_header = true;
	size_t len;

	for (;;) {
		st = line_read_part(&c->in, piece, sizeof(piece) - 1, &len, &end);
		if (st != LINE_OK) {
			conn_report(st);
			return -1;
		}
		conn_clean(piece, len);
		piece[len] = '\0';
		p = piece;
		if (at_line_start && p[0] == '.') {
			if (len == 1 && end != LINE_END_NONE)
				return 0;
			p++;
		}
		if (show)
			(void)fputs(p, stdout);
		if (sum != NULL && at_line_start && in_header) {
			if (p[0] == '\0')
				in_header = false;
			take_field(p, "From", sum->from, sizeof(sum->from));
			take_field(p, "Received", sum->received,
			    sizeof(sum->received));
			take_field(p, "Date", sum->date, sizeof(sum->date));
			take_field(p, "Subject", sum->subject,
			    sizeof(sum->subject));
		}
		at_line_start = end != LINE_END_NONE;
		if (show && at_line_start)
			(void)fputc('\n', stdout);
	}
}

/* Send the command line cmd and read its one-line reply. Returns 1 for
 * +OK, 0 for anything else, -1 when the connection failed. */
static int
command(struct conn *c, char *reply, size_t size, const char *cmd)
{
	if (conn_send(c, "%s", cmd) < 0 || conn_line(c, reply, size) < 0)
		return -1;
	return is_ok(reply);
}

/* command for a line that holds the password. */
static int
secret_command(struct conn *c, char *reply, size_t size, const char *cmd)
{
	if (conn_send_secret(c, cmd) < 0 || conn_line(c, reply, size) < 0)
		return -1;
	return is_ok(reply);
}

/* What a CAPA reply (RFC 2449) says that the client uses. */
struct pop3_caps {
	bool	pipelining;
	bool	stls;		/* RFC 2595 */
	bool	sasl_plain;	/* RFC 5034: SASL lists PLAIN */
};

/* Ask for the capabilities into caps (none, for a server without CAPA).
 * Returns 0, or -1 on a failed link. */
static int
capa(struct conn *c, struct pop3_caps *caps)
{
	char line[CLIENT_LINE_MAX], *word, *rest;
	int ok;

	memset(caps, 0, sizeof(*caps));
	ok = command(c, line, sizeof(line), "CAPA");
	if (ok <= 0)
		return ok;
	for (;;) {
		if (conn_line(c, line, sizeof(line)) < 0)
			return -1;
		if (strcmp(line, ".") == 0)
			return 0;
		if (str_ieq(line, "PIPELINING"))
			caps->pipelining = true;
		else if (str_ieq(line, "STLS"))
			caps->stls = true;
		else if (str_iprefix(line, "SASL ")) {
			for (word = strtok_r(line + 5, " ", &rest); word != NULL;
			    word = strtok_r(NULL, " ", &rest))
				if (str_ieq(word, "PLAIN"))
					caps->sasl_plain = true;
		}
	}
}

static void
show_summary(size_t num, const struct summary *s)
{
	/* sockmail's Received: is the time of arrival; other servers' is a
	 * trace line, so the Date: field stands in for it there. */
	const char *when = s->received[0] != '\0' && strchr(s->received, ';') == NULL ?
	    s->received : s->date[0] != '\0' ? s->date : "-";

	(void)printf("%zu %s %s %s\n", num, s->from[0] != '\0' ? s->from : "-",
	    when, s->subject[0] != '\0' ? s->subject : "-");
}

/* Read the reply to a TOP or RETR and note the message's fields in sum.
 * Returns 1 when it was +OK, 0 when refused (the reply in sum->refusal),
 * -1 on a failed link. */
static int
read_summary(struct conn *c, struct summary *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (conn_line(c, sum->refusal, sizeof(sum->refusal)) < 0)
		return -1;
	if (!is_ok(sum->refusal))
		return 0;
	return multiline(c, false, sum) < 0 ? -1 : 1;
}

/* The listing: one line a message, from "TOP n 0", sent TOP_BATCH at a
 * time when the server takes pipelined commands. A message TOP cannot
 * show is fetched with RETR once its batch's replies are all in, so that
 * replies never pair with the wrong command. The listing stops at a
 * message neither can read: a server that claims more than it has. */
static int
list_mailbox(struct conn *c, size_t count, bool pipelined)
{
	static struct summary sums[TOP_BATCH];
	size_t batch = pipelined ? TOP_BATCH : 1, first, last, i;
	int rc;

	for (first = 1; first <= count; first = last + 1) {
		last = count - first < batch - 1 ? count : first + batch - 1;
		for (i = first; i <= last; i++)
			(void)out_line(&c->out, "TOP %zu 0", i);
		for (i = first; i <= last; i++)
			if (read_summary(c, &sums[i - first]) < 0)
				return -1;
		for (i = first; i <= last; i++) {
			if (!is_ok(sums[i - first].refusal)) {
				(void)out_line(&c->out, "RETR %zu", i);
				rc = read_summary(c, &sums[i - first]);
				if (rc < 0)
					return -1;
				if (rc == 0) {
					(void)printf("%zu (cannot read: %s)\n", i,
					    sums[i - first].refusal);
					return 0;
				}
			}
			show_summary(i, &sums[i - first]);
		}
	}
	return 0;
}

/* TLS as the options say, after the greeting: STLS when the server
 * offers it (then CAPA again: RFC 2595 4 says to forget the first), or
 * implicit TLS already running. Fills caps. Returns 0 to go on and log
 * in, or -1 when the link failed or TLS could not be had (the reason
 * printed, and the password never sent). */
static int
secure(struct conn *c, struct pop3_caps *caps)
{
	const struct client_opts *o = c->opts;
	char reply[CLIENT_LINE_MAX];
	int ok;

	if (capa(c, caps) < 0)
		return -1;
	if (c->tls != NULL || o->tls == CLIENT_TLS_OFF)
		return 0;
	if (caps->stls) {
		/* A server that turns STLS down is one without it. */
		ok = command(c, reply, sizeof(reply), "STLS");
		if (ok < 0)
			return -1;
		if (ok > 0)
			return conn_starttls(c) < 0 ? -1 : capa(c, caps);
	}
	if (o->tls == CLIENT_TLS_REQUIRED) {
		(void)fprintf(stderr, "mail_client: %s offers no STLS; --tls "
		    "requires TLS: the password was not sent\n", o->host);
		(void)conn_send(c, "QUIT");
		return -1;
	}
	return 0;
}

/* One login attempt: AUTH PLAIN in TLS where the server offers it (RFC
 * 5034, the whole credentials in one line), else USER and PASS. Returns
 * 1 logged in, 0 refused (the reply printed), -1 on a failed link. */
static int
login(struct conn *c, const struct pop3_caps *caps, const char *user,
    const char *pass)
{
	char reply[CLIENT_LINE_MAX], cmd[CLIENT_LINE_MAX];
	char creds[2 + USERDB_LOGIN_MAX + USERDB_PASSWORD_MAX + 1];
	size_t ulen = strlen(user), plen = strlen(pass);
	int ok;

	if (c->tls != NULL && caps->sasl_plain &&
	    ulen <= USERDB_LOGIN_MAX && plen <= USERDB_PASSWORD_MAX) {
		/* authzid (empty) NUL authcid NUL password */
		creds[0] = '\0';
		memcpy(creds + 1, user, ulen + 1);
		memcpy(creds + 2 + ulen, pass, plen);
		memcpy(cmd, "AUTH PLAIN ", 11);
		ok = base64_encode(creds, 2 + ulen + plen, cmd + 11,
		    sizeof(cmd) - 11) == 0 ?
		    secret_command(c, reply, sizeof(reply), cmd) : 0;
		str_wipe(creds, sizeof(creds));
	} else {
		conn_warn_clear_text(c);
		(void)snprintf(cmd, sizeof(cmd), "USER %s", user);
		ok = command(c, reply, sizeof(reply), cmd);
		if (ok > 0) {
			(void)snprintf(cmd, sizeof(cmd), "PASS %s", pass);
			ok = secret_command(c, reply, sizeof(reply), cmd);
		}
	}
	str_wipe(cmd, sizeof(cmd));
	if (ok >= 0)
		(void)printf("%s\n", reply);
	return ok;
}

/* Connect, TLS as asked, log in, asking for the credentials again after a
 * refusal. Fills caps with what the server offers once logged in.
 * Returns 0 logged in, 1 when the user gave up (end of input), -1 on a
 * failed link or TLS that could not be had. */
static int
log_in(struct conn *c, const struct client_opts *o, struct pop3_caps *caps,
    char *user, size_t user_size, char *pass, size_t pass_size)
{
	char reply[CLIENT_LINE_MAX];
	int ok;

	for (;;) {
		if (conn_open(c, o, o->pop3_port) < 0)
			return -1;
		if (o->pop3s && conn_starttls(c) < 0)
			goto fail;
		if (conn_line(c, reply, sizeof(reply)) < 0)
			goto fail;
		(void)printf("%s\n", reply);
		if (!is_ok(reply) || secure(c, caps) < 0)
			goto fail;
		ok = login(c, caps, user, pass);
		if (ok < 0)
			goto fail;
		/* RFC 2449: what a server offers may change with the login. */
		if (ok > 0) {
			if (capa(c, caps) < 0)
				goto fail;
			return 0;
		}
		(void)conn_send(c, "QUIT");
		conn_close(c);
		if (input_line("Username: ", user, user_size) != 0 ||
		    input_password("Password: ", pass, pass_size) != 0)
			return 1;
	}
fail:
	conn_close(c);
	return -1;
}

static void
help(void)
{
	(void)printf("Commands: STAT, LIST, RETR <n>, DELE <n>, QUIT\n");
}

/* One user command; returns 1 after QUIT, 2 after a refused QUIT, 0 to go
 * on, -1 on a failed link. */
static int
run_command(struct conn *c, const char *cmd)
{
	char reply[CLIENT_LINE_MAX], arg[32];
	uint64_t n;
	int ok;

	if (str_ieq(cmd, "STAT") || str_ieq(cmd, "QUIT")) {
		ok = command(c, reply, sizeof(reply), cmd);
		if (ok >= 0)
			(void)printf("%s\n", reply);
		if (ok < 0)
			return -1;
		return str_ieq(cmd, "QUIT") ? (ok ? 1 : 2) : 0;
	}
	if (str_ieq(cmd, "LIST")) {
		ok = command(c, reply, sizeof(reply), "LIST");
		if (ok >= 0)
			(void)printf("%s\n", reply);
		return ok > 0 ? multiline(c, true, NULL) : ok;
	}
	if ((str_iprefix(cmd, "RETR ") || str_iprefix(cmd, "DELE ")) &&
	    parse_uint(cmd + 5, SIZE_MAX, &n) == PARSE_UINT_OK) {
		(void)snprintf(arg, sizeof(arg), "%.4s %llu", cmd,
		    (unsigned long long)n);
		ok = command(c, reply, sizeof(reply), arg);
		if (ok >= 0)
			(void)printf("%s\n", reply);
		return ok > 0 && str_iprefix(cmd, "RETR") ?
		    multiline(c, true, NULL) : ok < 0 ? -1 : 0;
	}
	help();
	return 0;
}

int
pop3_manage(const struct client_opts *o, char *user, size_t user_size,
    char *pass, size_t pass_size)
{
	char reply[CLIENT_LINE_MAX], cmd[CLIENT_LINE_MAX];
	unsigned long long count;
	struct pop3_caps caps;
	struct conn c;
	int rc;

	rc = log_in(&c, o, &caps, user, user_size, pass, pass_size);
	if (rc != 0)
		return rc < 0 ? 1 : 0;
	if (command(&c, reply, sizeof(reply), "STAT") < 0)
		goto fail;
	if (sscanf(reply, "+OK %llu", &count) != 1)
		count = 0;
	if (count > LISTING_MAX)
		count = LISTING_MAX;
	if (list_mailbox(&c, (size_t)count, caps.pipelining) < 0)
		goto fail;
	help();
	for (;;) {
		rc = input_line("> ", cmd, sizeof(cmd));
		if (rc < 0)
			break;		/* no QUIT: nothing is deleted */
		if (rc > 0) {
			help();
			continue;
		}
		rc = run_command(&c, cmd);
		if (rc < 0 || rc == 2)
			goto fail;	/* a refused QUIT deleted nothing */
		if (rc > 0)
			break;
	}
	conn_close(&c);
	return 0;
fail:
	conn_close(&c);
	return 1;
}
