/* SPDX-License-Identifier: MIT */
/* The command loop both handlers share: read a line, check it, find its
 * verb in the protocol's table, check the state, run the command. A
 * protocol differs only in what it describes in a struct session_proto. */
#ifndef SOCKMAIL_SESSION_H
#define SOCKMAIL_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "line.h"
#include "out.h"

struct transport;

/* The longest command line a protocol may ask for, CR LF included. */
#define SESSION_LINE_MAX	512

/* A command's allowed states, as bits: SESSION_IN(A) | SESSION_IN(B). */
#define SESSION_IN(st)		(1u << (st))
#define SESSION_ANY_STATE	(~0u)

/* What the engine reads of one row of a command table. A protocol's row
 * starts with this and adds its handler, typed for its own session:
 *
 *	struct pop3_cmd {
 *		struct session_cmd	 cmd;
 *		void			(*run)(struct pop3_session *, char *);
 *	};
 *
 * so no handler is ever called through a pointer of another type. An
 * alias is one more row. */
struct session_cmd {
	const char	*verb;		/* matched case-insensitively */
	unsigned	 allowed;	/* SESSION_IN() bits */
};

/* What makes a protocol: fixed for the whole program. Every hook gets the
 * session's owner. */
struct session_proto {
	/* The command table: ncmds rows of cmd_size bytes, each starting
	 * with a struct session_cmd. */
	const void		*cmds;
	size_t			 ncmds;
	size_t			 cmd_size;
	/* Run the command of row cmd (a pointer into the table) with arg. */
	void			(*run)(void *owner, const struct session_cmd *cmd,
				    char *arg);
	const char *const	*state_names;	/* for the debug log */
	size_t			 line_max;	/* CR LF included; at most
						 * SESSION_LINE_MAX */
	/* Replies to a line the engine refuses, without CR LF. */
	const char		*reply_too_long;
	const char		*reply_nul;	/* a NUL in the command */
	const char		*reply_unknown;	/* no verb, or not in cmds */
	const char		*reply_state;	/* not allowed in this state */
	/* Find the verb at the start of line (a NUL-terminated command
	 * with no NUL inside). Returns its length, 0 when the line has no
	 * verb the protocol could accept, and points *arg_out at the
	 * argument. This is how SMTP and POP3 commands differ. */
	size_t			(*split)(char *line, char **arg_out);
	/* Queue one reply line of the engine's (CR LF added), so that the
	 * protocol can count it (SMTP hangs up after 20 errors). */
	void			(*reply)(void *owner, const char *text);
	/* Queue the greeting; may end the session instead (by *done). */
	void			(*greet)(void *owner);
	/* A line or a reply did not make it within the timeout, or the
	 * session's lifetime ran out: reply, log, set *done. */
	void			(*timeout)(void *owner);
	/* Called after every line read, unless NULL: a protocol's own
	 * reason to end the session (SMTP's error count). */
	void			(*after_line)(void *owner);
};

struct session {
	const struct session_proto *proto;
	void			*owner;		/* what the hooks get */
	struct line_reader	 in;
	struct out		 out;
	/* The owner's flag: its commands end the session by setting it,
	 * and so does the engine. It stays in the owner's struct, where
	 * the commands of every file of the protocol already reach it. */
	bool			*done;
	/* Change only with session_set_state, so the debug log sees it. */
	unsigned		 state;
	/* The command being run ended in CR LF (SMTP: how DATA must end). */
	bool			 crlf;
	int			 timeout_s, lifetime_s;	/* for the log */
};

/* Set ses up for owner over t: initial state 0, replies flushed before
 * each wait for input (RFC 2920), done the owner's end flag. Each line
 * the client sends and each reply write must be done within timeout_s,
 * and the whole session within lifetime_s (<= 0: no limit); either
 * running out calls the protocol's timeout hook. Nothing is allocated. */
void	session_init(struct session *ses, const struct session_proto *proto,
	    void *owner, bool *done, struct transport *t, int timeout_s,
	    int lifetime_s);

/* Whether the timeout being handled is the session's lifetime running
 * out, not one line or reply. */
bool	session_expired(const struct session *ses);

/* Log the timeout being handled ("timeout" event), saying which. */
void	session_log_timeout(const struct session *ses);

/* Move to state, logging "old -> new" at LOG_DEBUG when it changes. */
void	session_set_state(struct session *ses, unsigned state);

/* Run the session: log "connect", greet, then read and dispatch commands
 * until *done, the end of input or a failed write; flush the replies and
 * log "disconnect". A command cut off by the end of input is never run.
 * Each line's buffer is wiped after its command, since it may have held
 * a password. */
void	session_run(struct session *ses);

/* Carry out one command line of len bytes (NUL-terminated; it may hold a
 * NUL): refuse a NUL, split it, find the verb, check the state, run it. */
void	session_dispatch(struct session *ses, char *line, size_t len);

#endif
