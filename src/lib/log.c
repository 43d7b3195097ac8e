/* SPDX-License-Identifier: MIT */
/* Session event logging to the journal, syslog or stderr. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "log.h"
#include "str.h"

#define LOG_LINE_MAX	1024
#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

static enum log_backend backend = LOG_TO_STDERR;
static char log_ident[32] = "sockmail";
static char log_peer[64] = "-";
static bool log_debug;

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

	(void)str_copy(log_ident, sizeof(log_ident), ident);
	(void)str_copy(log_peer, sizeof(log_peer), peer != NULL ? peer : "-");
	if (stderr_is_socket()) {
		/* xinetd: stderr is the client. */
		backend = LOG_TO_SYSLOG;
		openlog(log_ident, LOG_PID, LOG_MAIL);
	} else
		backend = LOG_TO_STDERR;
	/* SOCKMAIL_LOG=stderr keeps the logs on stderr where journald runs
	 * (tests); it can never send them to a client. */
	log_debug = getenv("SOCKMAIL_DEBUG") != NULL;
	override = getenv("SOCKMAIL_LOG");
	if (override != NULL && strcmp(override, "stderr") == 0)
		return;
#ifdef HAVE_LIBSYSTEMD
	/* Under a unit, StandardError=journal makes stderr a socket too; the
	 * journal API keeps the structured fields, so it comes first. */
	if (access(JOURNAL_SOCKET, W_OK) == 0)
		backend = LOG_TO_JOURNAL;
#endif
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
log_event(int priority, const char *event, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;
	size_t i;

	if (priority == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is fine */
	va_end(ap);
	/* Whatever a client put in, a log entry stays one printable line. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';

	switch (backend) {
	case LOG_TO_JOURNAL:
#ifdef HAVE_LIBSYSTEMD
		(void)sd_journal_send("MESSAGE=%s: %s", event, msg,
		    "PRIORITY=%d", priority,
		    "SYSLOG_IDENTIFIER=%s", log_ident,
		    "SYSLOG_FACILITY=%d", LOG_MAIL >> 3,
		    "SOCKMAIL_EVENT=%s", event,
		    "SOCKMAIL_PEER=%s", log_peer,
		    NULL);
#endif
		break;
	case LOG_TO_SYSLOG:
		syslog(priority, "%s: %s peer=%s", event, msg, log_peer);
		break;
	case LOG_TO_STDERR:
		(void)fprintf(stderr, "%s[%ld]: %s %s: %s peer=%s\n", log_ident,
		    (long)getpid(), priority_name(priority), event, msg,
		    log_peer);
		break;
	}
}
