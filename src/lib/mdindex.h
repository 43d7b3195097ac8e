/* SPDX-License-Identifier: MIT */
/* The message index of a mailbox: where each message starts and ends, its
 * size as RETR sends it and its hash, for USERS/<login>/my_mailbox.txt.
 *
 * The mailbox stays the only source of truth. The index is a cache of
 * what a scan of it finds, kept beside it in my_mailbox.idx so that a
 * login does not read the whole mailbox: it is checked against the
 * mailbox at every login (inode, length, mtime, a hash of its last bytes)
 * and extended over mail appended since, or rebuilt when it does not
 * match. Where it cannot be written it lives in an anonymous file for the
 * session. Entries are read a block at a time, never all at once, so a
 * session's memory does not grow with the mailbox. */
#ifndef SOCKMAIL_MDINDEX_H
#define SOCKMAIL_MDINDEX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mailfmt.h"

struct store_box;

#define MDINDEX_FILE	"my_mailbox.idx"
#define MDINDEX_BLOCK	128		/* entries read at once */

struct mdindex {
	int			fd;		/* -1 when closed */
	uint64_t		n;		/* messages */
	uint64_t		covered;	/* mailbox bytes they span */
	uint64_t		octets;		/* their sizes, summed */
	bool			lf_missing;	/* the last "." has no LF */
	bool			rebuilt;	/* not found valid: scanned */
	uint64_t		block_first;	/* the cached block */
	size_t			block_n;
	struct mailfmt_msg	block[MDINDEX_BLOCK];
};

void	mdindex_init(struct mdindex *ix);

/* Make ix the index of bytes [0, whole) of the mailbox box, whose whole
 * messages end at whole (store_snapshot): reuse, extend or rebuild
 * my_mailbox.idx in its folder. The caller holds the maildrop lock, so no one
 * else writes the index, and nobody changes those bytes. Returns 0, or -1
 * with errno set (the mailbox could not be read, or is not what whole
 * says). */
int	mdindex_load(struct mdindex *ix, const struct store_box *box,
	    off_t whole);

/* Entry i (from 0) into *e. Returns 0, or -1 with errno set. */
int	mdindex_get(struct mdindex *ix, uint64_t i, struct mailfmt_msg *e);

/* After an UPDATE renamed a new file over the mailbox (box is now that
 * file): turn ix into its index. It holds the messages of ix not marked in deleted (a
 * bitmap, bit i for entry i) in order, with the LF a last "." lacked, then
 * mail delivered since (left for the next login to index). A failure only
 * removes the index, to be rebuilt next time. */
void	mdindex_compact(struct mdindex *ix, const struct store_box *box,
	    const unsigned char *deleted);

void	mdindex_close(struct mdindex *ix);

/* Whether the index file fd is whole as an index, whatever mailbox it
 * was made for: a header that checks out and as many entries as it
 * says (an empty file, made and never written, counts as whole). Reads
 * only. Returns 1, 0 when damaged, or -1 with errno set. */
int	mdindex_file_ok(int fd);

/* Whether bit i is set in a bitmap of messages (bit i: entry i). */
static inline bool
mdindex_marked(const unsigned char *bits, uint64_t i)
{
	return (bits[i / 8] & (1u << (i % 8))) != 0;
}

#endif
