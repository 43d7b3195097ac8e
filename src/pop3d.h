/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d's session: everything but main, so that tests and fuzzers
 * can run a whole POP3 session in-process over any transport. */
#ifndef SOCKMAIL_POP3D_H
#define SOCKMAIL_POP3D_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "maildrop.h"
#include "session.h"
#include "userdb.h"

#define POP3_LINE_MAX		255	/* RFC 2449 4, CRLF included */
#define POP3_TIMEOUT_DEFAULT	600	/* RFC 1939 3: at least 10 minutes */
#define POP3_LIFETIME_DEFAULT	1800	/* a big maildrop on a slow line */
#define POP3_FAIL_DELAY_DEFAULT	2
#define POP3_PENALTY_CAP_DEFAULT 30	/* -F */
#define POP3_LOGIN_FAILURES_MAX	3
#define POP3_JUNK_MAX		100	/* commands without progress */
#define POP3_DOMAIN_MAX		255
#define POP3_TIMESTAMP_MAX	(POP3_DOMAIN_MAX + 64)

struct penalty;
struct transport;
struct tls_hook;

struct pop3_config {
	int		 root_fd;	/* the mail root, opened O_DIRECTORY */
	const char	*domain;	/* -n */
	int		 timeout_s;	/* -t */
	int		 lifetime_s;	/* -T */
	int		 fail_delay_s;	/* -f */
	/* The penalty table (-L), NULL for none, and the longest delay it
	 * may earn (-F). */
	struct penalty	*penalty;
	int		 penalty_cap_s;
	/* The client's address for the table; none for a pipe. */
	bool		 has_peer_addr;
	struct sockaddr_storage peer_addr;
	bool		 apop;		/* -a */
	const struct tls_hook *tls;	/* STARTTLS/STLS; NULL: no TLS */
	bool		 implicit_tls;	/* -S: TLS before the greeting */
	bool		 auth_needs_tls; /* -R and a remote peer */
};

/* RFC 1939's states, named "authorization" and "transaction" in the
 * debug log. UPDATE is QUIT's own business, never a state a command can
 * find the session in. */
enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
};

struct pop3_session {
	const struct pop3_config	*cfg;
	struct session			 ses;		/* in, out, state */
	bool				 done;
	bool				 tls_active;	/* STLS or -S done */
	int				 exit_status;
	unsigned			 failed_logins;
	/* Commands without progress since the greeting, the login or the
	 * last message read or deleted (pop3d-session.c). */
	unsigned			 junk;
	/* The command being run has not replied yet; then, whether its
	 * first reply line was +OK. */
	bool				 awaiting_status;
	bool				 status_ok;
	bool				 have_user;	/* USER was given */
	char				 user[USERDB_LOGIN_MAX + 1];
	char				 timestamp[POP3_TIMESTAMP_MAX + 1];
	struct maildrop			 md;		/* in TRANSACTION */
	char				*read_buf;	/* for RETR and TOP */
};

/* Run one whole POP3 session over t: greeting, commands until QUIT, end of
 * input or timeout. Returns the exit status (sockmail-pop3d(8),
 * EXIT STATUS). */
int	pop3_session_run(const struct pop3_config *cfg, struct transport *t);

/* Queue one reply line; CRLF is added. */
void	pop3_reply(struct pop3_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* The client was idle for -t seconds: say so and end the session, without
 * UPDATE. */
void	pop3_idle_timeout(struct pop3_session *s);

/* Queue raw bytes of a multi-line reply. */
void	pop3_send(struct pop3_session *s, const void *data, size_t len);

/* The AUTHORIZATION commands (pop3d-auth.c). */
void	pop3_cmd_user(struct pop3_session *s, char *arg);
void	pop3_cmd_pass(struct pop3_session *s, char *arg);
void	pop3_cmd_apop(struct pop3_session *s, char *arg);
void	pop3_cmd_auth(struct pop3_session *s, char *arg);

/* The TRANSACTION commands (pop3d-mail.c). */
void	pop3_cmd_stat(struct pop3_session *s, char *arg);
void	pop3_cmd_list(struct pop3_session *s, char *arg);
void	pop3_cmd_retr(struct pop3_session *s, char *arg);
void	pop3_cmd_top(struct pop3_session *s, char *arg);
void	pop3_cmd_dele(struct pop3_session *s, char *arg);
void	pop3_cmd_uidl(struct pop3_session *s, char *arg);
void	pop3_cmd_rset(struct pop3_session *s, char *arg);

#endif
