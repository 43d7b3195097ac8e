/* SPDX-License-Identifier: MIT */
/* All-or-nothing delivery of one message to several local mailboxes. */
#ifndef SOCKMAIL_DELIVER_H
#define SOCKMAIL_DELIVER_H

#include <stddef.h>

struct msg_envelope;

/* Append the message spooled in spool_fd to the mailbox of each of the n
 * distinct logins, and fsync every copy, through the store (store.h). The
 * mailboxes are locked in sorted order (so two deliveries never wait on
 * each other) and each copy is written whole under its mailbox's lock;
 * if any copy fails, the copies already written are cut off again where
 * that is still safe. Returns 0 when all copies are on disk, or -1 with
 * errno set and *failed_login_out naming the mailbox that failed. */
int	deliver(int root_fd, int spool_fd, const struct msg_envelope *env,
	    const char *const *logins, size_t n, const char **failed_login_out);

#endif
