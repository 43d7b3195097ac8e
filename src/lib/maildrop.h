/* SPDX-License-Identifier: MIT */
/* A POP3 session's view of one mailbox: the maildrop lock, the message
 * index read at login, and the rewrite at UPDATE (SPEC §5). */
#ifndef SOCKMAIL_MAILDROP_H
#define SOCKMAIL_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "userdb.h"

#define MAILDROP_UID_MAX	40

struct maildrop_msg {
	off_t		start;		/* first byte of the record */
	off_t		dot;		/* where its "." line starts */
	off_t		end;		/* one past its "." line */
	uint64_t	size;		/* octets RETR sends, CRLF, unstuffed */
	uint64_t	hash;		/* of the stored bytes, for UIDL */
	uint32_t	twin;		/* earlier messages with the same hash */
	bool		deleted;
};

struct maildrop {
	int			 fd;		/* the mailbox; -1 when closed */
	int			 user_fd;	/* its folder */
	char			 login[USERDB_LOGIN_MAX + 1];
	struct maildrop_msg	*msgs;
	size_t			 n, cap;
	off_t			 snapshot_end;	/* end of the last message read */
	bool			 snapshot_lf_missing;	/* its "." has no LF */
	bool			 twins_numbered;
};

void	maildrop_init(struct maildrop *md);

/* Open login's mailbox (created empty when missing), take its maildrop lock
 * without waiting, and read its message index in one streaming pass, up to
 * the end of the last whole message as it was under the append lock: a
 * torn tail is ignored (the next writer cuts it off), and nothing is
 * written. Memory grows with the number of messages, not with their size. Returns 0, or -1 with errno set:
 * EAGAIN when another session holds the maildrop; ELOOP, EMLINK, EINVAL,
 * ENOTDIR for a folder or mailbox that is a link or not a regular file. */
int	maildrop_open(struct maildrop *md, int root_fd, const char *login);

/* The undeleted messages and their total size. */
void	maildrop_stat(const struct maildrop *md, size_t *count_out,
	    uint64_t *octets_out);

/* Message number num (from 1), or NULL when there is none or it is
 * deleted. */
struct maildrop_msg *maildrop_get(struct maildrop *md, size_t num);

/* Number byte-identical messages (twin), once, before UIDs are used.
 * Returns 0, or -1 with errno set. */
int	maildrop_number_twins(struct maildrop *md);

/* Write message m's unique id, 1-70 printable characters, into buf: the
 * same across sessions and after other messages are deleted. */
void	maildrop_uid(const struct maildrop_msg *m, char *buf, size_t size);

/* The UPDATE state: rewrite the mailbox without the deleted messages,
 * keeping all mail delivered since login: write a new file, fsync it,
 * rename it over the old one, fsync the folder. With nothing deleted the
 * file is left untouched. On failure the mailbox is unchanged. Returns the
 * number of messages removed, or -1 with errno set. */
int	maildrop_update(struct maildrop *md);

/* Close the mailbox, releasing every lock; free the index. */
void	maildrop_close(struct maildrop *md);

#endif
