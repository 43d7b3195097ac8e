/* SPDX-License-Identifier: MIT */
/* A POP3 session's view of one mailbox: the maildrop lock, the message
 * index read at login, and the rewrite at UPDATE (sockmail-pop3d(8)). */
#ifndef SOCKMAIL_MAILDROP_H
#define SOCKMAIL_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mdindex.h"
#include "store.h"
#include "userdb.h"

#define MAILDROP_UID_MAX	40

/* One message, as maildrop_get reads it from the index. */
struct maildrop_msg {
	off_t		start;		/* first byte of the record */
	off_t		dot;		/* where its "." line starts */
	off_t		end;		/* one past its "." line */
	uint64_t	size;		/* octets RETR sends, CRLF, unstuffed */
	uint64_t	hash;		/* of the stored bytes, for UIDL */
	uint32_t	twin;		/* earlier messages with the same hash */
};

/* A message with byte-identical earlier ones (rare): its twin number. */
struct maildrop_twin {
	size_t		index;		/* from 0 */
	uint32_t	twin;
};

struct maildrop {
	struct store_box	 box;		/* the mailbox */
	char			 login[USERDB_LOGIN_MAX + 1];
	struct mdindex		 ix;		/* the messages at login */
	size_t			 n;		/* how many */
	unsigned char		*deleted;	/* bit i: message i+1 deleted */
	size_t			 n_deleted;
	uint64_t		 deleted_octets;
	struct maildrop_twin	*twins;		/* by index; twin > 0 only */
	size_t			 n_twins;
	bool			 twins_numbered;
	struct maildrop_msg	 cur;		/* what maildrop_get returned */
};

void	maildrop_init(struct maildrop *md);

/* Open login's mailbox (created empty when missing), take its maildrop lock
 * without waiting, and load its message index (mdindex.h) up to the end of
 * the last whole message as it was under the append lock: a torn tail is
 * ignored (the next writer cuts it off), and the mailbox is not written.
 * Memory does not grow with the mailbox. Returns 0, or -1 with errno set:
 * EAGAIN when another session holds the maildrop; ELOOP, EMLINK, EINVAL,
 * ENOTDIR for a folder or mailbox that is a link or not a regular file. */
int	maildrop_open(struct maildrop *md, int root_fd, const char *login);

/* The undeleted messages and their total size. */
void	maildrop_stat(const struct maildrop *md, size_t *count_out,
	    uint64_t *octets_out);

/* Message number num (from 1), valid until the next call; NULL with errno
 * ENOENT when there is none or it is deleted, or another errno when the
 * index cannot be read. */
struct maildrop_msg *maildrop_get(struct maildrop *md, size_t num);

/* Read up to len bytes of the mailbox at off (the bytes of a message
 * maildrop_get gave). Returns how many, 0 at the end, -1 with errno. */
ssize_t	maildrop_read(const struct maildrop *md, void *buf, size_t len,
	    off_t off);

/* Mark message num deleted, or clear every mark (RSET). */
int	maildrop_delete(struct maildrop *md, size_t num);
void	maildrop_undelete_all(struct maildrop *md);

/* Number byte-identical messages (twin), once, before UIDs are used.
 * Returns 0, or -1 with errno set. */
int	maildrop_number_twins(struct maildrop *md);

/* Write message m's unique id, 1-70 printable characters, into buf: the
 * same across sessions and after other messages are deleted. */
void	maildrop_uid(const struct maildrop_msg *m, char *buf, size_t size);

/* The UPDATE state: rewrite the mailbox without the deleted messages,
 * keeping all mail delivered since login: write a new file, fsync it,
 * rename it over the old one, fsync the folder. Only bytes of messages
 * whose hash still matches are dropped. With nothing deleted the file is
 * left untouched. On failure the mailbox is unchanged. Returns the number
 * of messages removed, or -1 with errno set. */
int	maildrop_update(struct maildrop *md);

/* Close the mailbox, releasing every lock; free the index. */
void	maildrop_close(struct maildrop *md);

#endif
