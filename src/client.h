/* SPDX-License-Identifier: MIT */
/* mail_client's parts: the connection to a server, the user's input, and
 * the two protocols. */
#ifndef SOCKMAIL_CLIENT_H
#define SOCKMAIL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "line.h"
#include "out.h"
#include "tls.h"
#include "transport.h"

#define CLIENT_LINE_MAX		1024	/* a server's reply line, a typed line */
#define CLIENT_SUBJECT_MAX	150	/* mail_client(1) FORMAT RULES */
#define CLIENT_TIMEOUT_DEFAULT	30

/* When to speak TLS over SMTP (STARTTLS) and POP3 (STLS). */
enum client_tls {
	CLIENT_TLS_OFFERED,	/* whenever the server offers it */
	CLIENT_TLS_REQUIRED,	/* --tls: never without it */
	CLIENT_TLS_OFF,		/* --no-tls */
};

/* What the command line asked for. */
struct client_opts {
	const char		*host;
	const char		*smtp_port, *pop3_port;
	int			 timeout_s;
	enum client_tls		 tls;
	bool			 pop3s;		/* POP3 in TLS from the start */
	struct tls_client_config trust;
};

/* A connection to a server, with bounded line input and buffered output,
 * in clear text or, once conn_starttls succeeded, in TLS. */
struct conn {
	int			 fd;
	struct fd_transport	 ft;
	struct line_reader	 in;
	struct out		 out;
	const struct client_opts *opts;
	struct tls_client	*tls;		/* NULL: clear text */
	bool			 local;		/* the server is on loopback */
};

/* Connect to opts' host at port (an IPv4 or IPv6 address or a name),
 * waiting at most opts->timeout_s for the connection and, later, for each
 * reply line and each command's write. On failure prints why and returns
 * -1. */
int	conn_open(struct conn *c, const struct client_opts *opts,
	    const char *port);

/* Start TLS now: after the server said yes to STARTTLS or STLS, or at
 * once for implicit TLS. Whatever the server sent before is thrown away.
 * Returns 0; or -1 after printing why (the certificate was not trusted,
 * the handshake failed): the connection is then unusable. */
int	conn_starttls(struct conn *c);

/* Tell the user, when the connection is in clear text and the server is
 * not on this machine, that the password is about to cross the network
 * unprotected. */
void	conn_warn_clear_text(const struct conn *c);

void	conn_close(struct conn *c);

/* Send one command line (CR LF added) and flush. Returns 0 or -1. */
int	conn_send(struct conn *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Send line (CR LF added), which holds a password, and flush; no copy
 * of it stays in the client's buffers. Returns 0 or -1. */
int	conn_send_secret(struct conn *c, const char *line);

/* Read one reply line into buf (CR LF removed; control characters shown
 * as '?', so a hostile server cannot drive the terminal). Prints why and
 * returns -1 on timeout, a closed connection, or an over-long line. */
int	conn_line(struct conn *c, char *buf, size_t size);

/* Print why reading from the server stopped (st is not LINE_OK). */
void	conn_report(enum line_status st);

/* Replace control characters (but tabs) in buf with '?', so that what a
 * server sends cannot drive the terminal. */
void	conn_clean(char *buf, size_t len);

/* The user's side: prompts and lines from stdin, which may be a terminal
 * (line editing with history when built with libedit, no echo for the
 * password) or a pipe (a script, read as plain lines). */
void	input_init(void);

/* Show prompt and read one line into buf. Returns 0, 1 when the line was
 * too long (thrown away), or -1 at the end of input. */
int	input_line(const char *prompt, char *buf, size_t size);

/* The same, without echo on a terminal. */
int	input_password(const char *prompt, char *buf, size_t size);

/* Mail Sending (client-smtp.c): the typed message and its checks. */
struct typed_mail {
	char	from[CLIENT_LINE_MAX];
	char	to[CLIENT_LINE_MAX];
	char	subject[CLIENT_LINE_MAX];
	char	**body;		/* lines, without "." stuffing */
	size_t	nbody;
};

/* Read a message typed as mail_client(1) FORMAT RULES says, up to its "."
 * line, and check it.
 * Returns 0 when it is right; 1 after printing "This is an incorrect
 * format" and the reason; -1 at the end of input. */
int	mail_read(struct typed_mail *m);
void	mail_free(struct typed_mail *m);

/* Send m over SMTP to o's host and SMTP port, in TLS as o says; prints
 * "Mail sent successfully" or the server's refusal and "Mail not sent".
 * Returns 0 when sent, 1 when the server refused it, -1 when the server
 * could not be reached, failed to answer, or could not be trusted (the
 * reason printed). */
int	smtp_send(const struct client_opts *o, const struct typed_mail *m);

/* Mail Management (client-pop3.c): log in (asking again on failure), list
 * the mailbox, then STAT, LIST, RETR n, DELE n until QUIT. Returns 0 after
 * QUIT or the end of input, 1 when the server cannot be reached or cannot
 * be trusted. */
int	pop3_manage(const struct client_opts *o, char *user, size_t user_size,
	    char *pass, size_t pass_size);

#endif
