/* SPDX-License-Identifier: MIT */
/* One line per session event, to wherever the handler's logs belong: the
 * journal where journald runs, syslog when stderr is a socket (under xinetd
 * fds 0, 1 and 2 are all the client), stderr otherwise. A line the journal
 * does not take at once goes to syslog or stderr instead. */
#ifndef SOCKMAIL_LOG_H
#define SOCKMAIL_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

enum log_backend {
	LOG_TO_STDERR,
	LOG_TO_SYSLOG,
	LOG_TO_JOURNAL,
	LOG_TO_USER,		/* a program's user: "ident: message" */
};

/* Choose the backend; ident names the program, peer the client (for every
 * line; NULL when unknown). Both are copied. LOG_DEBUG events are dropped
 * unless SOCKMAIL_DEBUG is set; SOCKMAIL_LOG=stderr keeps logs on stderr
 * where journald runs (never when stderr is a socket). */
void	log_init(const char *ident, const char *peer);

/* For a program a person runs (mail_client): every event is a line
 * "ident: message" on stderr ("ident: warning: message" for LOG_WARNING),
 * with no peer, pid or tag; LOG_DEBUG events as above. */
void	log_init_user(const char *ident);

enum log_backend log_backend(void);

/* Log one event. priority is a syslog level (LOG_INFO, ...); event is a
 * short tag ("connect", "delivered", ...). In the journal an entry carries
 * the fields SOCKMAIL_EVENT (the tag), MESSAGE_ID (the same for every
 * event of one kind), SOCKMAIL_PEER (the client's address) and, once
 * known, SOCKMAIL_USER; a plain line carries the peer and the user at its
 * end. Never pass a password. */
void	log_event(int priority, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* log_event for an event about one message: the journal also gets
 * SOCKMAIL_SIZE (octets) and SOCKMAIL_RCPTS (recipients). */
void	log_message_event(int priority, const char *event, uint64_t size,
	    size_t rcpts, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/* The session's client from now on (the address a PROXY header gave);
 * copied. */
void	log_set_peer(const char *peer);

/* The session's user from now on (a POP3 login); copied. */
void	log_set_user(const char *user);

#endif
