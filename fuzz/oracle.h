/* SPDX-License-Identifier: MIT */
/* The fuzzers' oracle for "never lose mail": a mailbox is read before an
 * input and again after it, by a reading of sockmail-mailbox(5) of its
 * own (not the store's), and what the input was told (its 250s, its DELEs
 * and QUIT) says what must have changed. Every message that was there is
 * still there byte for byte unless it was deleted; every foreign byte is
 * still at the end of the mailbox or whole in a side file; every 250 is
 * exactly one new message per recipient. A violation aborts, so libFuzzer
 * keeps the input as a crash. */
#ifndef SOCKMAIL_FUZZ_ORACLE_H
#define SOCKMAIL_FUZZ_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most messages the POP3 replies are read for. */
#define ORACLE_MSGS_MAX	4096

/* A mailbox as read before the input. */
struct oracle_box {
	const char	*login;
	uint8_t		*data;		/* the whole file (NULL: none) */
	size_t		 len;
	size_t		 whole;		/* where its whole messages end */
	bool		 needs_lf;	/* it ends in a "." line without LF */
	bool		 killed;	/* its tail is a killed delivery's room */
	size_t		 n;		/* its messages */
	size_t		*ends;		/* one past each one's "." line */
};

/* Where the whole messages of d end, read forwards: after the last "."
 * line, or at the end when the file ends in a "." (or ".\r") alone on
 * its line, which then needs its LF. With ends (room for len / 2 + 1),
 * also where each message ends, and *n, how many there are. */
size_t	oracle_whole(const uint8_t *d, size_t len, bool *needs_lf,
	    size_t *ends, size_t *n);

/* Whether tail t (len > 0 bytes) is what only a killed append leaves: no
 * NUL, then NULs to the end, the part before them empty or a prefix of a
 * record's "From: ". */
bool	oracle_killed(const uint8_t *t, size_t len);

/* A violation: say which on stdout (libFuzzer's log), then abort so that
 * libFuzzer keeps the input. */
void	oracle_fail(const char *login, const char *what);

/* Read login's mailbox in the fuzz root as it is before the input. */
void	oracle_before(struct oracle_box *b, const char *login);

/* Check login's mailbox after the input, and remove its side files:
 * the messages of before, in order, but those with deleted[i] (message
 * i + 1; deleted NULL: none), then added new ones; the tail of before
 * still in place, or whole in exactly one side file (a killed append's
 * room may also be gone). Frees what oracle_before read. Returns how
 * many side files held the tail. */
size_t	oracle_after(struct oracle_box *b, const bool *deleted, size_t added);

/* login's mailbox in the fuzz root, malloc'd (NULL: there is none). */
uint8_t	*oracle_read_mailbox(const char *login, size_t *len);

/* Free what oracle_before read, unchecked. */
void	oracle_forget(struct oracle_box *b);

/* What a session's replies promised, read from its output. */
struct oracle_smtp {
	size_t	 copies[2];	/* 250s after DATA, per login below */
};
struct oracle_pop3 {
	bool	 logged_in;	/* "+OK maildrop has" was seen */
	size_t	 listed;	/* the count it gave */
	bool	 updated;	/* QUIT's "+OK" after a login */
	bool	 deleted[ORACLE_MSGS_MAX];
};

/* The logins the SMTP harness can deliver to, in copies[] order. */
extern const char *const oracle_smtp_logins[2];

/* Read the replies of a session (out, len bytes). Returns false when the
 * output was cut short (more than the buffer) and cannot be read. */
bool	oracle_read_smtp(const char *out, size_t len, size_t out_size,
	    struct oracle_smtp *o);
bool	oracle_read_pop3(const char *out, size_t len, size_t out_size,
	    struct oracle_pop3 *o);

#endif
