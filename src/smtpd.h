/* SPDX-License-Identifier: MIT */
/* sockmail-smtpd's session: everything but main, so that tests and fuzzers
 * can run a whole SMTP session in-process over any transport. */
#ifndef SOCKMAIL_SMTPD_H
#define SOCKMAIL_SMTPD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"
#include "userdb.h"

#define SMTP_LINE_MAX		512	/* RFC 5321 4.5.3.1.4, CRLF included */
#define SMTP_DOMAIN_MAX		255	/* RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX		256	/* RFC 5321 4.5.3.1.3 */
#define SMTP_RCPT_MAX		100	/* RFC 5321 4.5.3.1.8 */
#define SMTP_ERRORS_MAX		20	/* 5xx replies before we hang up */
#define SMTP_JUNK_MAX		100	/* sockmail-smtpd(8) LIMITS */

/* A local fault (a disk, a file, memory): the client may try again. */
#define SMTP_REPLY_LOCAL	"451 4.3.0 Requested action aborted: local " \
				"error in processing"
#define SMTP_SIZE_DEFAULT	10485760
#define SMTP_TIMEOUT_DEFAULT	300
#define SMTP_LIFETIME_DEFAULT	900	/* a 10 MiB message on a slow line */

struct transport;
struct tls_hook;
struct wbuf;

struct smtp_config {
	int		 root_fd;	/* the mail root, opened O_DIRECTORY */
	const char	*domain;	/* -n */
	int		 timeout_s;	/* -t */
	int		 lifetime_s;	/* -T */
	uint64_t	 size_max;	/* -s */
	uint64_t	 quota;		/* -q: bytes a mailbox may hold; 0: none */
	const struct tls_hook *tls;	/* STARTTLS/STLS; NULL: no TLS */
};

/* The session's states, named "greeted", "hello", "mail" and "rcpt" in
 * the debug log. */
enum smtp_state {
	SMTP_GREETED,		/* no HELO/EHLO yet */
	SMTP_HELLO,		/* ready for MAIL */
	SMTP_MAIL,		/* MAIL accepted, no recipient yet */
	SMTP_RCPT,		/* at least one recipient accepted */
};

struct smtp_rcpt {
	char	login[USERDB_LOGIN_MAX + 1];	/* as spelled in userinfo.txt */
	char	addr[SMTP_PATH_MAX + 1];	/* as the client gave it */
};

struct smtp_session {
	const struct smtp_config	*cfg;
	struct session			 ses;		/* in, out, state */
	unsigned			 errors;	/* 5xx replies sent */
	/* Commands without progress (NOOP, RSET, VRFY, HELP, a repeated
	 * HELO/EHLO, a repeated RCPT) since the last message accepted. */
	unsigned			 junk;
	/* After EHLO: replies carry RFC 3463 enhanced codes (RFC 2034). */
	bool				 esmtp;
	/* This transaction's MAIL had SMTPUTF8 (RFC 6531). */
	bool				 smtputf8;
	bool				 done;		/* end the session */
	bool				 tls_active;	/* after STARTTLS */
	int				 exit_status;
	int				 spool_fd;	/* -1 until first DATA */
	struct wbuf			*spool_w;	/* writes to spool_fd */
	bool				 spool_on_disk;	/* spilled (spool.h) */
	char				 helo[SMTP_DOMAIN_MAX + 1];
	char				 from[SMTP_PATH_MAX + 1];
	struct smtp_rcpt		 rcpt[SMTP_RCPT_MAX];
	size_t				 nrcpt;
};

/* Run one whole SMTP session over t: greeting, commands until QUIT, end of
 * input, timeout or too many errors. Returns the exit status
 * (sockmail-smtpd(8), EXIT STATUS). */
int	smtp_session_run(const struct smtp_config *cfg, struct transport *t);

/* Queue one reply line (CRLF added). A 5xx reply counts as an error.
 * Every reply but the greeting, the EHLO lines and 354 is written with
 * its RFC 3463 enhanced code right after the basic one ("250 2.1.0 <%s>...
 * Sender ok"); outside EHLO mode the code and its blank are left out, so
 * a HELO session reads exactly as the write-up's (sockmail-smtpd(8),
 * ENHANCED STATUS CODES and EXAMPLES). */
void	smtp_reply(struct smtp_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Why smtp_close ends a session: each has its own enhanced code. */
enum smtp_close_why {
	SMTP_CLOSE_TIMEOUT,	/* 4.4.2: the client was idle too long */
	SMTP_CLOSE_ABUSE,	/* 4.7.0: too many errors or junk commands */
	SMTP_CLOSE_LOCAL,	/* 4.3.0: a local fault; exit status 1 */
};

/* Reply 421 and end the session; exit status 1 for a local fault, 0 for
 * the client's behaviour. */
void	smtp_close(struct smtp_session *s, enum smtp_close_why why);

/* Clear the mail transaction (MAIL, RCPT), keeping HELO. */
void	smtp_reset_transaction(struct smtp_session *s);

/* DATA, from the 354 to the final reply; crlf tells how the DATA command
 * line ended, which is how the data must end (smtpd-data.c). */
void	smtp_receive_data(struct smtp_session *s, bool crlf);

#endif
