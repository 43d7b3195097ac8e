/* SPDX-License-Identifier: MIT */
/* The mailbox store: USERS/<login>/my_mailbox.txt under the mail root. */
#ifndef SOCKMAIL_MBOX_H
#define SOCKMAIL_MBOX_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "userdb.h"

#define MBOX_USERS_DIR	"USERS"
#define MBOX_FILE	"my_mailbox.txt"

/* The byte ranges of the mailbox file that stand for its locks (see
 * mbox.c). */
#define MBOX_LOCK_APPEND	0
#define MBOX_LOCK_MAILDROP	1

/* Take (type F_WRLCK or F_RDLCK) or drop (F_UNLCK) the lock range of fd,
 * waiting for it when wait is true. Returns 0, or -1 with errno set
 * (EAGAIN or EACCES: held by another process, when not waiting). */
int	mbox_lock(int fd, off_t range, short type, bool wait);

/* A mailbox opened for appending, under its exclusive lock. */
struct mbox {
	int	fd;		/* -1 when closed */
	off_t	old_size;	/* its size after any torn tail was cut off */
	char	login[USERDB_LOGIN_MAX + 1];
};

void	mbox_init(struct mbox *mb);

/* Open login's mailbox for appending (positioned at its end) and lock it
 * exclusively, waiting for the lock; create the user's folder (0700) and mailbox (0600) when
 * missing, fsyncing the folders that gained an entry. Refuses, with errno
 * ELOOP or EMLINK or EISDIR..., a folder or mailbox that is a symbolic
 * link, a hard link or not a regular file. Once locked, cuts off a torn
 * tail (SPEC §3) and logs it. Returns 0, or -1 with errno set. */
int	mbox_open_append(int root_fd, const char *login, struct mbox *mb);

/* Open login's folder and mailbox as mbox_open_append does, and take the
 * lock range exclusively, waiting for it or not (EAGAIN when held). Once
 * granted, makes sure the name still leads to the locked file, and starts
 * over when a rewrite has replaced it. Returns the mailbox descriptor with
 * *user_fd_out its folder's (both the caller's to close) and, unless
 * st_out is NULL, *st_out what fstat says of it once locked; or -1 with
 * errno set. */
int	mbox_open_locked(int root_fd, const char *login, off_t range,
	    bool wait, int *user_fd_out, struct stat *st_out);

/* Cut off a torn tail of the locked mailbox fd and give a final "." its
 * LF, logging what was cut. Returns the length of the whole messages that
 * remain, or -1 with errno set. */
off_t	mbox_repair_tail(int fd, const char *login);

/* Make room for a record of len bytes: extend the mailbox with len zero
 * bytes past old_size, where mbox_open_append left it positioned. Until
 * the record is written whole, the file ends in NULs: a delivery killed
 * in the middle leaves a tail that can never end in the "\n." that SPEC §3
 * reads as the end of a message, whether the cut falls between two writes
 * or inside one.
 * Returns 0, or -1 with errno set. */
int	mbox_reserve(struct mbox *mb, off_t len);

/* Write len bytes at the mailbox's position (old_size after
 * mbox_open_append, into the room mbox_reserve made). Returns 0, or -1
 * with errno set. */
int	mbox_write(struct mbox *mb, const char *data, size_t len);

/* Let go of the lock after appending, keeping the mailbox open, so that
 * other deliveries append (and fsync) meanwhile. Returns 0 or -1. */
int	mbox_unlock(struct mbox *mb);

/* Take back a record of len bytes appended before mbox_unlock: under the
 * lock again, cut it off and fsync, if it is still the last thing in the
 * file. Returns 0, or -1 with errno set (EBUSY: mail was appended after
 * it, so it stays). */
int	mbox_take_back(struct mbox *mb, off_t len);

/* Make what was appended durable (fsync). Returns 0 or -1. */
int	mbox_commit(struct mbox *mb);

/* Cut the mailbox back to mb->old_size and fsync it. Returns 0 or -1. */
int	mbox_rollback(struct mbox *mb);

/* Close the mailbox, releasing its lock. */
void	mbox_close(struct mbox *mb);

/* Read exactly len bytes at off (pread, retried). Returns 0, or -1 with
 * errno set (EIO when the file ends first). */
int	mbox_read_at(int fd, char *buf, size_t len, off_t off);

/* The length of the part of a mailbox that holds whole messages: up to and
 * including the last line holding only "." (a final "." without LF counts),
 * reading backwards from size in bounded pieces. *needs_lf_out is set when
 * that "." has no LF after it. Returns the length, or -1 with errno set. */
off_t	mbox_whole_length(int fd, off_t size, bool *needs_lf_out);

#endif
