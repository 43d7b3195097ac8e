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

#define MDINDEX_FILE	"my_mailbox.idx"
#define MDINDEX_BLOCK	128		/* entries read at once */

struct mdindex_entry {
	uint64_t	start;		/* first byte of the record */
	uint64_t	end;		/* one past its "." line */
	uint64_t	size;		/* octets RETR sends, CRLF, unstuffed */
	uint64_t	hash;		/* FNV-1a of its bytes before the "." */
};

struct mdindex {
	int			fd;		/* -1 when closed */
	uint64_t		n;		/* messages */
	uint64_t		covered;	/* mailbox bytes they span */
	uint64_t		octets;		/* their sizes, summed */
	bool			lf_missing;	/* the last "." has no LF */
	bool			rebuilt;	/* not found valid: scanned */
	uint64_t		block_first;	/* the cached block */
	size_t			block_n;
	struct mdindex_entry	block[MDINDEX_BLOCK];
};

void	mdindex_init(struct mdindex *ix);

/* Make ix the index of bytes [0, whole) of the mailbox mbox_fd, whose
 * folder is user_fd and whose whole messages end at whole: reuse, extend
 * or rebuild my_mailbox.idx. The caller holds the maildrop lock, so no one
 * else writes the index, and nobody changes those bytes. Returns 0, or -1
 * with errno set (the mailbox could not be read, or is not what whole
 * says). */
int	mdindex_load(struct mdindex *ix, int user_fd, int mbox_fd, off_t whole);

/* Entry i (from 0) into *e. Returns 0, or -1 with errno set. */
int	mdindex_get(struct mdindex *ix, uint64_t i, struct mdindex_entry *e);

/* Where entry e's "." line starts: the last message's "." may lack its LF. */
uint64_t mdindex_dot(const struct mdindex *ix, const struct mdindex_entry *e);

/* After an UPDATE renamed new_fd's file over the mailbox: turn ix into the
 * index of new_fd, which holds the messages of ix not marked in deleted (a
 * bitmap, bit i for entry i) in order, with the LF a last "." lacked, then
 * mail delivered since (left for the next login to index). A failure only
 * removes the index, to be rebuilt next time. */
void	mdindex_compact(struct mdindex *ix, int user_fd, int new_fd,
	    const unsigned char *deleted);

void	mdindex_close(struct mdindex *ix);

/* Whether bit i is set in a bitmap of messages (bit i: entry i). */
static inline bool
mdindex_marked(const unsigned char *bits, uint64_t i)
{
	return (bits[i / 8] & (1u << (i % 8))) != 0;
}

/* FNV-1a, the message hash (UIDL). */
#define MDINDEX_FNV_OFFSET	0xcbf29ce484222325ULL
uint64_t mdindex_fnv(uint64_t h, const void *p, size_t len);

#endif
