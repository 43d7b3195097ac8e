/* SPDX-License-Identifier: MIT */
/* One line per session event, to wherever the handler's logs belong: the
 * journal where journald runs, syslog when stderr is a socket (under xinetd
 * fds 0, 1 and 2 are all the client), stderr otherwise. */
#ifndef SOCKMAIL_LOG_H
#define SOCKMAIL_LOG_H

#include <syslog.h>

enum log_backend {
	LOG_TO_STDERR,
	LOG_TO_SYSLOG,
	LOG_TO_JOURNAL,
};

/* Choose the backend; ident names the program, peer the client (for every
 * line; NULL when unknown). Both are copied. LOG_DEBUG events are dropped
 * unless SOCKMAIL_DEBUG is set; SOCKMAIL_LOG=stderr keeps logs on stderr
 * where journald runs (never when stderr is a socket). */
void	log_init(const char *ident, const char *peer);

enum log_backend log_backend(void);

/* Log one event. priority is a syslog level (LOG_INFO, ...); event is a
 * short tag ("connect", "delivered", ...) that the journal keeps as the
 * field SOCKMAIL_EVENT. Never pass a password. */
void	log_event(int priority, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
