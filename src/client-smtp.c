/* SPDX-License-Identifier: MIT */
/* mail_client's Mail Sending: read the typed message, check its format
 * (mail_client(1), FORMAT RULES), send it over SMTP. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "str.h"

#define BODY_LINES_MAX	100000
#define REPLY_LINES_MAX	100	/* continuation lines of one SMTP reply */

static void
incorrect(const char *why)
{
	(void)printf("This is an incorrect format\n%s\n", why);
}

/* Whether s is an address local@domain: one "@", something on each side,
 * no blanks, control characters or brackets. */
static bool
is_address(const char *s)
{
	const char *at = strchr(s, '@'), *p;

	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return at != NULL && at != s && at[1] != '\0' &&
	    strchr(at + 1, '@') == NULL && strpbrk(s, "<>,;") == NULL;
}

/* The number of characters in UTF-8 text: bytes that do not continue a
 * character. */
static size_t
utf8_length(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Take "Name: value" from line into value; reason says what is wrong. */
static int
header_line(const char *line, const char *name, char *value, size_t size,
    const char *reason)
{
	size_t n = strlen(name);

	if (strncmp(line, name, n) != 0 || line[n] != ':' || line[n + 1] != ' ') {
		incorrect(reason);
		return 1;
	}
	(void)str_copy(value, size, line + n + 2);
	return 0;
}

static int
add_body_line(struct typed_mail *m, const char *line)
{
	char **grown;

	if (m->nbody == BODY_LINES_MAX)
		return -1;
	grown = realloc(m->body, (m->nbody + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	m->body = grown;
	m->body[m->nbody] = strdup(line);
	if (m->body[m->nbody] == NULL)
		return -1;
	m->nbody++;
	return 0;
}

void
mail_free(struct typed_mail *m)
{
	size_t i;

	for (i = 0; i < m->nbody; i++)
		free(m->body[i]);
	free(m->body);
	m->body = NULL;
	m->nbody = 0;
}

int
mail_read(struct typed_mail *m)
{
	char line[CLIENT_LINE_MAX];
	const char *problem = NULL;
	size_t count = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	(void)printf("Type the message, ended by a line with only \".\":\n");
	/* Read it all first: the format is checked on the whole message. */
	for (;;) {
		rc = input_line("", line, sizeof(line));
		if (rc < 0)
			return -1;
		if (rc > 0) {
			if (problem == NULL)
				problem = "A line is longer than 1023 "
				    "characters or holds a NUL byte";
			continue;
		}
		if (strcmp(line, ".") == 0)
			break;
		count++;
		if (problem != NULL)
			continue;
		if (count == 1)
			rc = header_line(line, "From", m->from, sizeof(m->from),
			    "The first line must be From: <username>@<domain>");
		else if (count == 2)
			rc = header_line(line, "To", m->to, sizeof(m->to),
			    "The second line must be To: <username>@<domain>");
		else if (count == 3)
			rc = header_line(line, "Subject", m->subject,
			    sizeof(m->subject),
			    "The third line must be Subject: <subject>");
		else if (add_body_line(m, line) < 0)
			problem = "The message is too long";
		if (rc > 0)
			problem = "";	/* already said */
	}
	if (problem == NULL) {
		if (count < 3)
			problem = "The message needs From:, To: and Subject: "
			    "lines, in that order";
		else if (!is_address(m->from))
			problem = "The sender is not an address of the form "
			    "<username>@<domain>";
		else if (!is_address(m->to))
			problem = "The recipient is not an address of the form "
			    "<username>@<domain>";
		else if (utf8_length(m->subject) > CLIENT_SUBJECT_MAX)
			problem = "The subject is longer than 150 characters";
		else if (m->nbody == 0)
			problem = "The message has no body";
	}
	if (problem != NULL) {
		if (problem[0] != '\0')
			incorrect(problem);
		mail_free(m);
		return 1;
	}
	return 0;
}

/* Read one whole SMTP reply (RFC 5321 4.2.1: "NNN-" lines, then "NNN ").
 * The last line stays in buf. When starttls is given, it says whether a
 * line of the reply was the keyword STARTTLS (an EHLO reply, RFC 3207).
 * Returns the code, 0 for garbage, or -1 when the connection failed. */
static int
smtp_reply(struct conn *c, char *buf, size_t size, bool *starttls)
{
	int lines = 0;

	if (starttls != NULL)
		*starttls = false;
	do {
		if (conn_line(c, buf, size) < 0)
			return -1;
		if (strlen(buf) < 3 || buf[0] < '1' || buf[0] > '5' ||
		    buf[1] < '0' || buf[1] > '9' || buf[2] < '0' || buf[2] > '9')
			return 0;
		if (starttls != NULL && strncmp(buf, "250", 3) == 0 &&
		    (buf[3] == '-' || buf[3] == ' ') &&
		    str_ieq(buf + 4, "STARTTLS"))
			*starttls = true;
	} while (buf[3] == '-' && ++lines < REPLY_LINES_MAX);
	return (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');
}

/* Send a command and expect a reply in the 2xx (or 3xx for DATA) range:
 * 0 when it came, 1 for another reply, -1 when the connection failed.
 * starttls as for smtp_reply. */
static int
smtp_step(struct conn *c, char *buf, size_t size, int want,
    const char *verb, const char *arg, bool *starttls)
{
	int code;

	if (conn_send(c, "%s%s", verb, arg) < 0)
		return -1;
	code = smtp_reply(c, buf, size, starttls);
	return code < 0 ? -1 : code / 100 == want ? 0 : 1;
}

/* Greeting, EHLO (HELO for a server that knows only RFC 821), and TLS as
 * o says: STARTTLS when the server offers it, then EHLO again in TLS
 * (RFC 3207 4.2: what the server said before is forgotten). Returns 0
 * ready for MAIL, 1 when the server refused (its reply in buf), -1 when
 * the connection failed or TLS could not be had (the reason printed). */
static int
smtp_hello(struct conn *c, char *buf, size_t size)
{
	const struct client_opts *o = c->opts;
	char me[256];
	bool offered = false;
	int rc;

	if (gethostname(me, sizeof(me)) < 0)
		(void)str_copy(me, sizeof(me), "localhost");
	me[sizeof(me) - 1] = '\0';
	rc = smtp_reply(c, buf, size, NULL);
	rc = rc < 0 ? -1 : rc == 220 ? 0 : 1;
	if (rc == 0)
		rc = smtp_step(c, buf, size, 2, "EHLO ", me, &offered);
	if (rc > 0 && strncmp(buf, "5", 1) == 0)
		rc = smtp_step(c, buf, size, 2, "HELO ", me, NULL);
	if (rc != 0 || o->tls == CLIENT_TLS_OFF)
		return rc;
	/* A server that turns STARTTLS down (454) is one without it. */
	if (offered)
		rc = smtp_step(c, buf, size, 2, "STARTTLS", "", NULL);
	if (rc < 0)
		return -1;
	if (!offered || rc > 0) {
		if (o->tls != CLIENT_TLS_REQUIRED)
			return 0;
		(void)fprintf(stderr, "mail_client: %s offers no STARTTLS; "
		    "--tls requires TLS: the mail was not sent\n", o->host);
		(void)conn_send(c, "QUIT");
		return -1;
	}
	if (conn_starttls(c) < 0)
		return -1;
	return smtp_step(c, buf, size, 2, "EHLO ", me, NULL);
}

static int
send_message(struct conn *c, const struct typed_mail *m)
{
	size_t i;

	/* The message as typed, as the write-up sends it (so sockmail stores
	 * it in exactly the write-up's format; other servers take the first
	 * line that is no header field as the start of the body). RFC 5321
	 * 4.5.2: a line starting with "." gets one more. */
	(void)out_line(&c->out, "From: %s", m->from);
	(void)out_line(&c->out, "To: %s", m->to);
	(void)out_line(&c->out, "Subject: %s", m->subject);
	for (i = 0; i < m->nbody; i++) {
		if (m->body[i][0] == '.')
			(void)out_put(&c->out, ".", 1);
		(void)out_line(&c->out, "%s", m->body[i]);
	}
	return conn_send(c, ".");
}

int
smtp_send(const struct client_opts *o, const struct typed_mail *m)
{
	char buf[CLIENT_LINE_MAX], path[CLIENT_LINE_MAX + 2];
	struct conn c;
	int rc;

	buf[0] = '\0';
	if (conn_open(&c, o, o->smtp_port) < 0) {
		(void)printf("Mail not sent\n");
		return -1;
	}
	rc = smtp_hello(&c, buf, sizeof(buf));
	if (rc == 0) {
		(void)snprintf(path, sizeof(path), "<%s>", m->from);
		rc = smtp_step(&c, buf, sizeof(buf), 2, "MAIL FROM:", path,
		    NULL);
	}
	if (rc == 0) {
		(void)snprintf(path, sizeof(path), "<%s>", m->to);
		rc = smtp_step(&c, buf, sizeof(buf), 2, "RCPT TO:", path, NULL);
	}
	if (rc == 0)
		rc = smtp_step(&c, buf, sizeof(buf), 3, "DATA", "", NULL);
	if (rc == 0)
		rc = send_message(&c, m);
	if (rc == 0) {
		rc = smtp_reply(&c, buf, sizeof(buf), NULL);
		rc = rc < 0 ? -1 : rc == 250 ? 0 : 1;
	}
	if (rc > 0 && buf[0] != '\0')
		(void)printf("%s\n", buf);	/* the server's refusal */
	if (rc >= 0) {
		(void)conn_send(&c, "QUIT");
		(void)smtp_reply(&c, buf, sizeof(buf), NULL);
	}
	conn_close(&c);
	(void)printf(rc == 0 ? "Mail sent successfully\n" : "Mail not sent\n");
	return rc;
}
