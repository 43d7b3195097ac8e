/* SPDX-License-Identifier: MIT */
/* What the store's own files share (store.c, store-tail.c); no one else
 * includes this. */
#ifndef SOCKMAIL_STORE_INT_H
#define SOCKMAIL_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "store.h"

/* Take (F_WRLCK, F_RDLCK) or drop (F_UNLCK) a lock range of the mailbox,
 * waiting for it when wait is true. Returns 0, or -1 with errno set. */
int	store_lock(const struct store_box *b, enum store_lock range,
	    short type, bool wait);

/* The length of the whole messages of a mailbox size bytes long
 * (sockmail-mailbox(5)), reading backwards from size in bounded pieces;
 * *needs_lf_out when the last "." has no LF. Returns it, or -1 with errno
 * set. */
off_t	store_whole_length(const struct store_box *b, off_t size,
	    bool *needs_lf_out);

/* Whether a mailbox size bytes long ends with its last "." line, LF and
 * all, so that a writer has nothing to deal with first; reads at most its
 * last 4 bytes. Returns 1, 0, or -1 with errno set. */
int	store_ends_whole(const struct store_box *b, off_t size);

/* Under APPEND exclusive: deal with whatever follows the last "." line of
 * a mailbox size bytes long (store.h, Tails). Returns the length of the
 * whole messages that remain, or -1 with errno set (a tail that could not
 * be saved stays where it is). */
off_t	store_repair_tail(const struct store_box *b, off_t size);

#endif
