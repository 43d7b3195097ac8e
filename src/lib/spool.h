/* SPDX-License-Identifier: MIT */
/* The temporary file a message is received into before any mailbox is
 * locked, so a slow sender never holds a lock. */
#ifndef SOCKMAIL_SPOOL_H
#define SOCKMAIL_SPOOL_H

#include <stddef.h>

/* A message is received into memory (a memfd) and moved to a file once
 * it grows past SPOOL_MEMORY_MAX: a small message never touches the disk
 * before its mailboxes, and a big one never holds more memory than that. */
#define SPOOL_MEMORY_MAX	(256 * 1024)

/* Create an empty spool in memory. Returns the descriptor, or -1 with
 * errno set. */
int	spool_create(void);

/* Move the spool fd to an anonymous file in $TMPDIR (or /tmp), whose name
 * carries the host name and process id and is unlinked at once, so a
 * crash leaves nothing behind. fd then refers to that file, positioned at
 * its end. Returns 0, or -1 with errno set (fd is unchanged). */
int	spool_spill(int fd);

/* Empty the spool for the next message. Returns 0 or -1. */
int	spool_reset(int fd);

#endif
