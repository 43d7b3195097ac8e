/* SPDX-License-Identifier: MIT */
/* The mailbox store: USERS/<login>/my_mailbox.txt under the mail root. */
#ifndef SOCKMAIL_MBOX_H
#define SOCKMAIL_MBOX_H

#include <stdbool.h>
#include <sys/types.h>

#define MBOX_USERS_DIR	"USERS"
#define MBOX_FILE	"my_mailbox.txt"

/* A mailbox opened for appending, under its exclusive lock. */
struct mbox {
	int	fd;		/* -1 when closed */
	off_t	old_size;	/* its size after any torn tail was cut off */
	char	login[65];
};

void	mbox_init(struct mbox *mb);

/* Open login's mailbox for appending and lock it exclusively, waiting for
 * the lock; create the user's folder (0700) and mailbox (0600) when
 * missing, fsyncing the folders that gained an entry. Refuses, with errno
 * ELOOP or EMLINK or EISDIR..., a folder or mailbox that is a symbolic
 * link, a hard link or not a regular file. Once locked, cuts off a torn
 * tail (SPEC §3) and logs it. Returns 0, or -1 with errno set. */
int	mbox_open_append(int root_fd, const char *login, struct mbox *mb);

/* Make what was appended durable (fsync). Returns 0 or -1. */
int	mbox_commit(struct mbox *mb);

/* Cut the mailbox back to mb->old_size and fsync it. Returns 0 or -1. */
int	mbox_rollback(struct mbox *mb);

/* Close the mailbox, releasing its lock. */
void	mbox_close(struct mbox *mb);

/* The length of the part of a mailbox that holds whole messages: up to and
 * including the last line holding only "." (a final "." without LF counts),
 * reading backwards from size in bounded pieces. *needs_lf_out is set when
 * that "." has no LF after it. Returns the length, or -1 with errno set. */
off_t	mbox_whole_length(int fd, off_t size, bool *needs_lf_out);

#endif
