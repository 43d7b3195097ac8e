/* SPDX-License-Identifier: MIT */
/* Session event logging to the journal, syslog or stderr. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "md5.h"
#include "str.h"

#define LOG_LINE_MAX	1024

static enum log_backend backend = LOG_TO_STDERR;
/* Syslog or stderr: where lines go without a journal, and the lines the
 * journal refuses. */
static enum log_backend plain_backend = LOG_TO_STDERR;
static char log_ident[32] = "sockmail";
static char log_peer[64] = "-";
static char log_user[65];
static bool log_debug;
static long log_pid;		/* a handler never forks */

static bool
stderr_is_socket(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode);
}

void
log_init(const char *ident, const char *peer)
{
	const char *override;

	log_pid = (long)getpid();
	(void)str_copy(log_ident, sizeof(log_ident), ident);
	(void)str_copy(log_peer, sizeof(log_peer), peer != NULL ? peer : "-");
	if (stderr_is_socket()) {
		/* xinetd: stderr is the client. */
		backend = LOG_TO_SYSLOG;
		openlog(log_ident, LOG_PID, LOG_MAIL);
	} else
		backend = LOG_TO_STDERR;
	plain_backend = backend;
	/* SOCKMAIL_LOG=stderr keeps the logs on stderr where journald runs
	 * (tests); it can never send them to a client. */
	log_debug = getenv("SOCKMAIL_DEBUG") != NULL;
	override = getenv("SOCKMAIL_LOG");
	if (override != NULL && strcmp(override, "stderr") == 0)
		return;
	/* Under a unit, StandardError=journal makes stderr a socket too; the
	 * journal's own API keeps the structured fields, so it comes first. */
	if (journal_is_stderr())
		backend = LOG_TO_JOURNAL;
}

void
log_init_user(const char *ident)
{
	(void)str_copy(log_ident, sizeof(log_ident), ident);
	backend = plain_backend = LOG_TO_USER;
	log_debug = getenv("SOCKMAIL_DEBUG") != NULL;
}

enum log_backend
log_backend(void)
{
	return backend;
}

static const char *
priority_name(int priority)
{
	switch (priority) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_DEBUG:
		return "debug";
	default:
		return "info";
	}
}

void
log_set_peer(const char *peer)
{
	(void)str_copy(log_peer, sizeof(log_peer), peer);
}

void
log_set_user(const char *user)
{
	(void)str_copy(log_user, sizeof(log_user), user);
}

/* What an event says beyond its text. */
struct log_counts {
	bool		known;
	uint64_t	size;
	size_t		rcpts;
};

/* Send the entry to the journal; returns 0, or -1 when it did not go. */
static int
journal_send(int priority, const char *event, const struct log_counts *c,
    const char *msg)
{
	char fields[10][LOG_LINE_MAX + 32], id[2 * MD5_DIGEST_SIZE + 1];
	char kind[64];
	struct iovec iov[10];
	size_t n = 0, i;
	int len;

	/* A stable MESSAGE_ID per kind of event, derived from its tag, so
	 * that "journalctl MESSAGE_ID=..." finds every delivery. */
	len = snprintf(kind, sizeof(kind), "sockmail.%s", event);
	md5_hex(kind, len > 0 ? (size_t)len : 0, id);
	(void)snprintf(fields[n++], sizeof(fields[0]), "MESSAGE=%s: %s", event, msg);
	(void)snprintf(fields[n++], sizeof(fields[0]), "MESSAGE_ID=%s", id);
	(void)snprintf(fields[n++], sizeof(fields[0]), "PRIORITY=%d", priority);
	(void)snprintf(fields[n++], sizeof(fields[0]), "SYSLOG_IDENTIFIER=%s",
	    log_ident);
	(void)snprintf(fields[n++], sizeof(fields[0]), "SOCKMAIL_EVENT=%s", event);
	(void)snprintf(fields[n++], sizeof(fields[0]), "SOCKMAIL_PEER=%s", log_peer);
	if (log_user[0] != '\0')
		(void)snprintf(fields[n++], sizeof(fields[0]),
		    "SOCKMAIL_USER=%s", log_user);
	(void)snprintf(fields[n++], sizeof(fields[0]), "SYSLOG_FACILITY=%d",
	    LOG_MAIL >> 3);
	if (c->known) {
		(void)snprintf(fields[n++], sizeof(fields[0]),
		    "SOCKMAIL_SIZE=%llu", (unsigned long long)c->size);
		(void)snprintf(fields[n++], sizeof(fields[0]),
		    "SOCKMAIL_RCPTS=%zu", c->rcpts);
	}
	for (i = 0; i < n; i++) {
		iov[i].iov_base = fields[i];
		iov[i].iov_len = strlen(fields[i]);
	}
	return journal_sendv(iov, n);
}

static void
emit(int priority, const char *event, const struct log_counts *c,
    const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	size_t i;

	if (priority == LOG_DEBUG && !log_debug)
		return;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is fine */
	/* Whatever a client put in, a log entry stays one printable line. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';

	if (backend == LOG_TO_JOURNAL) {
		if (journal_send(priority, event, c, msg) == 0)
			return;
		/* libsystemd is missing or the entry was refused: this
		 * line goes where it would without a journal. */
	}
	if (plain_backend == LOG_TO_USER)
		(void)fprintf(stderr, "%s: %s%s\n", log_ident,
		    priority == LOG_WARNING ? "warning: " : "", msg);
	else if (plain_backend == LOG_TO_SYSLOG)
		syslog(priority, "%s: %s peer=%s%s%s", event, msg, log_peer,
		    log_user[0] != '\0' ? " user=" : "", log_user);
	else
		(void)fprintf(stderr, "%s[%ld]: %s %s: %s peer=%s%s%s\n",
		    log_ident, log_pid != 0 ? log_pid : (long)getpid(),
		    priority_name(priority), event, msg, log_peer,
		    log_user[0] != '\0' ? " user=" : "", log_user);
}

void
log_event(int priority, const char *event, const char *fmt, ...)
{
	const struct log_counts none = { .known = false };
	va_list ap;

	va_start(ap, fmt);
	emit(priority, event, &none, fmt, ap);
	va_end(ap);
}

void
log_message_event(int priority, const char *event, uint64_t size,
    size_t rcpts, const char *fmt, ...)
{
	const struct log_counts c = { true, size, rcpts };
	va_list ap;

	va_start(ap, fmt);
	emit(priority, event, &c, fmt, ap);
	va_end(ap);
}
