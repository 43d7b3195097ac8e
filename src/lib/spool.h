/* SPDX-License-Identifier: MIT */
/* The temporary file a message is received into before any mailbox is
 * locked, so a slow sender never holds a lock. */
#ifndef SOCKMAIL_SPOOL_H
#define SOCKMAIL_SPOOL_H

#include <stddef.h>

/* Create an anonymous spool file in $TMPDIR (or /tmp): the name carries
 * the host name and process id and is unlinked at once, so a crash leaves
 * nothing behind. Returns the descriptor, or -1 with errno set. */
int	spool_create(void);

/* Empty the spool for the next message. Returns 0 or -1. */
int	spool_reset(int fd);

#endif
