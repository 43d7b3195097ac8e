/* SPDX-License-Identifier: MIT */
/* The mailbox store: the only code that opens, locks, reads, writes, cuts
 * or replaces USERS/<login>/my_mailbox.txt. Everything else (delivery,
 * the POP3 maildrop, the message index) calls the whole operations below.
 *
 * THE INVARIANTS, written here once:
 *
 * Files. A mailbox is opened without following links and checked after
 * opening: a regular file with one link, whose name still leads to it, in
 * a user folder that is no link (sockmail-mailbox(5), LOCKING). Every
 * temporary or side file the store makes sits in the user's folder and
 * carries host and pid.
 *
 * Locks. fcntl byte-range locks on the mailbox file itself (they work on
 * NFSv4, CephFS and GlusterFS, and the kernel drops them when the process
 * dies, however it dies), on four one-byte ranges, whatever the file
 * holds:
 *   STORE_LOCK_APPEND    the content. Exclusive to append a record, cut a
 *                        tail, take a record back, or replace the file;
 *                        shared to take a snapshot.
 *   STORE_LOCK_MAILDROP  a POP3 session's, from login to its end; never in
 *                        a delivery's way.
 *   STORE_LOCK_PENDING   shared by every delivery from before it appends
 *                        until its record is durable or taken back;
 *                        exclusive for a snapshot or a replace, which so
 *                        wait until no record is in flight.
 *   STORE_LOCK_GATE      a turnstile in front of PENDING: a delivery holds
 *                        it only while it takes PENDING shared; a snapshot
 *                        or replace holds it while it waits for PENDING
 *                        exclusive, so a stream of deliveries cannot keep
 *                        a reader out for ever.
 * Order: GATE, PENDING, APPEND; several mailboxes in the order of their
 * logins. A holder of APPEND or PENDING checks, once granted, that the
 * name still leads to the locked file, and starts over on the new file
 * when a replace renamed it away.
 *
 * Appends. A record is written whole under APPEND exclusive, into room
 * reserved first as NUL bytes at the end of the file, so a delivery
 * killed in the middle leaves a tail that ends in NULs and can never end
 * in a "." line. Before APPEND is let go, what was written is visible to
 * the next holder: on a local file system the page cache sees to that;
 * on a network file system (FUSE, NFS, CephFS, SMB) the record is
 * fsynced first. On a local file system the fsync comes after APPEND is
 * let go, so that concurrent deliveries share the disk's flushes, but
 * before PENDING is: while a record may still be taken back, PENDING
 * keeps every snapshot and replace out.
 *
 * Other hosts. On a network file system a client caches what it saw: a
 * file's attributes, a small file's bytes, which file a name leads to
 * (GlusterFS's defaults: md-cache, quick-read, FUSE's entry and attribute
 * caches, about a second each). So whoever takes a lock there looks past
 * them (store_fresh_stat): the length comes from the server, a cached copy
 * of the bytes is dropped before the holder reads them, and a file
 * renamed away by another host is known by ESTALE or a link count of 0,
 * after which the folder is read again, so the name leads to the new
 * file, before it is opened anew.
 *
 * Take-back. A record whose fsync failed is cut off again only under
 * APPEND, when it is still the last bytes of the file that is the mailbox
 * now (PENDING, still held, guarantees no replace came between). Else it
 * stays whole and is logged: a retry may deliver it twice, never zero
 * times.
 *
 * What a reader sees. A snapshot (under GATE, PENDING exclusive and
 * APPEND shared) is the length of the file's whole messages, up to and
 * including the last "." line: every byte of it is durable, and no one
 * but the maildrop's holder, through a replace, ever changes a byte
 * before that length. A reader reads that prefix with no lock held.
 *
 * Tails. Whatever follows the last "." line is dealt with by the next
 * writer, under APPEND exclusive, before it appends or replaces
 * (sockmail-mailbox(5)): a tail that only a killed append can leave (no
 * NUL, then NULs to the end, and before them nothing or the start of a
 * record, which begins "From: ") is cut off and logged; anything else is
 * copied whole to my_mailbox.txt.tail.<time>.<host>.<pid>, fsynced with
 * its folder, logged, and only then cut off.
 * A "." left without its LF at the end gets the LF. No other byte is
 * ever cut, but by a replace leaving out what the maildrop deleted.
 *
 * Names. A record is durable only once the mailbox's name is too: a
 * file created, or renamed over the old one by a replace, needs its
 * folder fsynced, and whoever makes that name may be killed, or its
 * folder's fsync may fail, before then. So a mailbox is born with the
 * sticky bit (S_ISVTX, no meaning for a regular file on Linux: "unsettled")
 * and loses it only after its folder, and the folders above up to USERS,
 * are fsynced. A delivery that finds the bit fsyncs those folders itself
 * before it commits; a failure there is the delivery's failure. */
#ifndef SOCKMAIL_STORE_H
#define SOCKMAIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "userdb.h"

#define STORE_USERS_DIR		"USERS"
#define STORE_FILE		"my_mailbox.txt"
#define STORE_TAIL_PREFIX	STORE_FILE ".tail."

/* The mode bit of a mailbox whose name may not be durable yet (Names). */
#define STORE_UNSETTLED		S_ISVTX

enum store_lock {
	STORE_LOCK_APPEND,
	STORE_LOCK_MAILDROP,
	STORE_LOCK_PENDING,
	STORE_LOCK_GATE,
};

/* An open mailbox. */
struct store_box {
	int	fd;		/* the mailbox; -1 when closed */
	int	user_fd;	/* its folder */
	bool	remote;		/* on a network file system: flush before
				 * APPEND is let go, look past the client's
				 * caches after a lock is taken */
	char	login[USERDB_LOGIN_MAX + 1];
};

void	store_box_init(struct store_box *b);

/* Close the mailbox and its folder, releasing every lock. */
void	store_box_close(struct store_box *b);

/* What fstat says of the mailbox. Returns 0, or -1 with errno set. */
int	store_stat(const struct store_box *b, struct stat *st);

/* Whether fd is on a file system whose client caches what other hosts
 * wrote (FUSE, NFS, Ceph, SMB): where store_fresh_stat has work to do.
 * When fstatfs fails, true: looking past caches is never wrong. */
bool	store_on_network_fs(int fd);

/* What fstat says of fd, as the last holder of a lock left it
 * (sockmail-mailbox(5), LOCKING): on a network file system (remote), after
 * making the client ask the server, and, when sole_writer (the caller
 * holds a lock no writer of fd can hold with it), with any copy of its
 * bytes the client cached dropped.
 * Returns 0, or -1 with errno set (ESTALE: the file is gone). */
int	store_fresh_stat(int fd, bool remote, bool sole_writer,
	    struct stat *st);

/* Whether an error on an open file says that the file was removed or
 * renamed away, as a network file system reports it (ESTALE, ENOENT). */
bool	store_file_gone(int err);

/* "<host>.<pid>" of this process, for the names of files made beside a
 * mailbox (several hosts may share the mail root). Returns 0, or -1. */
int	store_host_pid(char *buf, size_t size);

/* ---- Delivery: one record appended, all or nothing. ---- */

struct store_append {
	struct store_box box;
	off_t		 start;		/* where the record goes */
	off_t		 len;		/* its length */
	off_t		 written;	/* how much of it is written */
	bool		 appending;	/* APPEND held */
	bool		 synced;	/* the record is durable */
	mode_t		 mode;		/* the file's; STORE_UNSETTLED while its
					 * name may not be durable (Names) */
};

/* Open login's mailbox (creating folder and file: sockmail-mailbox(5),
 * LOCKING), take GATE, PENDING shared and APPEND exclusive, deal with a
 * tail, and reserve len bytes at the end. Returns 0, or -1 with errno set
 * (ELOOP, EMLINK, EINVAL... for a link or a file that is not regular). */
int	store_append_begin(int root_fd, const char *login, off_t len,
	    struct store_append *a);

/* store_append_begin with a bound: when the mailbox, its tail dealt with,
 * would be longer than max bytes with the record appended (max > 0),
 * reserve nothing, let go of every lock and return 1. The length is taken
 * under APPEND, so no concurrent delivery can slip in between the check
 * and the append (a quota: sockmail-smtpd(8), QUOTAS). On 1, a->start is
 * the mailbox's length and a->len the record's, for the log. Returns 0, 1,
 * or -1 with errno set. */
int	store_append_begin_max(int root_fd, const char *login, off_t len,
	    off_t max, struct store_append *a);

/* Without taking any lock, the length login's mailbox would have before
 * an append, where the file alone tells it: no mailbox yet (0), or one
 * that ends with its last "." line and its LF (its size). A hint only,
 * for refusing early what store_append_begin_max would refuse: a tail to
 * deal with, room a delivery in flight reserved, a file that is no
 * regular file with one link, a link on the way, or an error leave it
 * untold (the append then decides, and meets the error). Returns 1 with
 * *size_out set, or 0 when untold. */
int	store_size_hint(int root_fd, const char *login, off_t *size_out);

/* Write the next n bytes of the record. Returns 0, or -1 with errno set
 * (EFBIG past the reserved length). A wbuf_sink_fn. */
int	store_append_write(void *a, const void *data, size_t n);

/* The record is written whole (EIO when it is not): make it visible to
 * the next holder and let go of APPEND. Returns 0, or -1 with errno set. */
int	store_append_publish(struct store_append *a);

/* Make the published record durable (fsync), and the mailbox's name
 * when it is unsettled (above). Returns 0, or -1. */
int	store_append_commit(struct store_append *a);

/* Before publish: cut the record off again and fsync. Returns 0, or -1
 * with errno set (the record is then left, logged). */
int	store_append_abort(struct store_append *a);

/* After publish, when some copy of the message failed: cut the record
 * off if it is still the last bytes of the mailbox. Returns 0, or -1 with
 * errno set (EBUSY: mail was appended after it, so it stays). */
int	store_append_take_back(struct store_append *a);

/* Release every lock and close. */
void	store_append_end(struct store_append *a);

/* ---- The POP3 maildrop: snapshot, reads, replace. ---- */

/* Open login's mailbox as store_append_begin does (creating it empty)
 * and take MAILDROP without waiting. Returns 0, or -1 with errno set:
 * EAGAIN when another session holds it. */
int	store_open_maildrop(int root_fd, const char *login,
	    struct store_box *b);

/* The length of the whole messages, with no delivery in flight.
 * *lf_missing_out: the last "." lacks its LF (a writer adds it before the
 * next append). Returns 0, or -1. */
int	store_snapshot(struct store_box *b, off_t *whole_out,
	    bool *lf_missing_out);

/* Read len bytes at off, all (store_read) or up to len (store_read_some,
 * returning how many, 0 at the end). -1 with errno set on error; EIO
 * when the file ends before len (store_read). */
int	store_read(const struct store_box *b, void *buf, size_t len,
	    off_t off);
ssize_t	store_read_some(const struct store_box *b, void *buf, size_t len,
	    off_t off);

/* A replace of the maildrop's mailbox (UPDATE). */
struct store_replace {
	struct store_box *box;		/* the maildrop's */
	int		 tmp_fd;	/* the new file */
	off_t		 whole;		/* the old file's whole length */
	char		 tmp[256];	/* its name in the folder */
};

/* Take GATE, PENDING and APPEND exclusively, deal with a tail, and create
 * the new file. r->whole is then the length of the old file's whole
 * messages, all of it durable. Returns 0, or -1 with errno set. */
int	store_replace_begin(struct store_box *b, struct store_replace *r);

/* Append n bytes to the new file. A wbuf_sink_fn. */
int	store_replace_write(void *r, const void *data, size_t n);

/* Make the new file the mailbox: fsync it, rename it over the old one,
 * fsync the folder. From then on b is the new file, with MAILDROP held.
 * Returns 0, or -1 with errno set and the old mailbox untouched. When
 * only the folder's fsync fails, the new file stays the mailbox, still
 * unsettled, and 0 is returned: the next delivery settles it. */
int	store_replace_commit(struct store_replace *r);

/* Let go of the replace's locks; on a replace not committed, remove the
 * new file. */
void	store_replace_end(struct store_replace *r);

#endif
