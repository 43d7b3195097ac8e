/* SPDX-License-Identifier: MIT */
/* The message index of a mailbox, cached beside it (see mdindex.h).
 *
 * my_mailbox.idx is a header, then one fixed-size entry per message:
 *
 *   header  "sockidx2", byte-order mark, entry size, messages, bytes
 *           covered, octets, the mailbox's inode and mtime, the FNV-1a of
 *           its last TAIL_CHECK covered bytes, whether the last "." lacks
 *           its LF, and the FNV-1a of all that;
 *   entry   start, dot, end, size, hash (struct mailfmt_msg, host order).
 *
 * It is trusted only while it matches: the same inode, a length that is
 * the header's plus its entries, and the same last covered bytes. Mail
 * appended since is scanned and added; a mailbox of the same length must
 * also have the same mtime; anything else is scanned afresh. Writes need
 * no fsync: a crash leaves an index that fails these checks, or one that
 * still matches the mailbox, and UPDATE checks every message it removes
 * against its hash before it drops a byte. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "mailfmt.h"
#include "mdindex.h"
#include "store.h"
#include "wbuf.h"

#define MAGIC		"sockidx2"
#define BYTE_ORDER_MARK	0x0102030405060708ULL
#define TAIL_CHECK	4096
#define SCAN_BLOCK	65536

struct header {
	char		magic[8];
	uint64_t	byte_order, entry_size;
	uint64_t	n, covered, octets;
	uint64_t	ino, mtime_sec, mtime_nsec;
	uint64_t	tail_hash, lf_missing;
	uint64_t	check;		/* FNV-1a of the fields above */
};

#define HEADER_SIZE	((off_t)sizeof(struct header))
#define ENTRY_SIZE	((off_t)sizeof(struct mailfmt_msg))

_Static_assert(sizeof(struct header) == 96, "header layout");
_Static_assert(sizeof(struct mailfmt_msg) == 40, "entry layout");

void
mdindex_init(struct mdindex *ix)
{
	ix->fd = -1;
	ix->n = ix->covered = ix->octets = 0;
	ix->lf_missing = ix->rebuilt = false;
	ix->block_first = 0;
	ix->block_n = 0;
}

/* On a network file system, whether fd still has its name and is seen
 * as the last session left it, another host's maybe (store_fresh_stat;
 * the caller holds the maildrop: no one else writes the index). A file
 * renamed away a moment ago (the client still resolves the name to it)
 * is not; errno then says so. */
static bool
fresh(int fd, bool remote)
{
	struct stat st;

	if (store_fresh_stat(fd, remote, true, &st) < 0)
		return false;
	if (st.st_nlink == 1)
		return true;
	errno = ESTALE;
	return false;
}

/* Open (creating) the index file in user_fd. A name that is not ours to
 * write through, a link or anything but a regular file, is removed and
 * made afresh; where no file can be had, an anonymous one serves for the
 * session. */
static int
open_file(int user_fd, bool remote)
{
	const int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY;
	struct stat st;
	int fd, tries;

	for (tries = 0; tries < 2; tries++) {
		fd = openat(user_fd, MDINDEX_FILE, flags | (tries ? O_EXCL : 0),
		    0600);
		if (fd >= 0) {
			if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			    st.st_nlink == 1) {
				if (fresh(fd, remote))
					return fd;
				/* Renamed away a moment ago: the name is the
				 * new file's, so this session has its own. */
				(void)close(fd);
				break;
			}
			(void)close(fd);
		} else if (errno != ELOOP && errno != ENXIO &&
		    errno != EISDIR && errno != EEXIST)
			break;
		if (unlinkat(user_fd, MDINDEX_FILE, 0) < 0 && errno != ENOENT)
			break;
	}
	return memfd_create("sockmail-index", MFD_CLOEXEC);
}

/* FNV-1a of the TAIL_CHECK bytes before end (fewer when end is smaller). */
static int
tail_hash(const struct store_box *box, uint64_t end, uint64_t *hash_out)
{
	char buf[TAIL_CHECK];
	uint64_t from = end > TAIL_CHECK ? end - TAIL_CHECK : 0;

	if (store_read(box, buf, (size_t)(end - from), (off_t)from) < 0)
		return -1;
	*hash_out = mailfmt_fnv(MAILFMT_FNV_OFFSET, buf, (size_t)(end - from));
	return 0;
}

static uint64_t
header_check(const struct header *h)
{
	return mailfmt_fnv(MAILFMT_FNV_OFFSET, h, offsetof(struct header, check));
}

static int
write_header(struct mdindex *ix, const struct store_box *box)
{
	struct header h;
	struct stat st;

	memset(&h, 0, sizeof(h));
	if (store_stat(box, &st) < 0 ||
	    tail_hash(box, ix->covered, &h.tail_hash) < 0)
		return -1;
	memcpy(h.magic, MAGIC, sizeof(h.magic));
	h.byte_order = BYTE_ORDER_MARK;
	h.entry_size = (uint64_t)ENTRY_SIZE;
	h.n = ix->n;
	h.covered = ix->covered;
	h.octets = ix->octets;
	h.ino = (uint64_t)st.st_ino;
	h.mtime_sec = (uint64_t)st.st_mtim.tv_sec;
	h.mtime_nsec = (uint64_t)st.st_mtim.tv_nsec;
	h.lf_missing = ix->lf_missing;
	h.check = header_check(&h);
	return io_write_at(ix->fd, &h, sizeof(h), 0);
}

/* What the header promises, if it matches the mailbox: 1 when the index
 * covers [0, whole) as it is, 2 when it covers a prefix that mail was
 * appended to since, 0 when it must be rebuilt; -1 on a read error. */
static int
check_header(struct mdindex *ix, const struct store_box *box, off_t whole)
{
	struct stat st, ist;
	struct header h;
	uint64_t tail;
	ssize_t n;

	if (fstat(ix->fd, &ist) < 0 || store_stat(box, &st) < 0)
		return -1;
	n = io_read_some(ix->fd, &h, sizeof(h), 0);
	if (n < 0)
		return -1;
	if (n != (ssize_t)sizeof(h) || memcmp(h.magic, MAGIC, 8) != 0 ||
	    h.byte_order != BYTE_ORDER_MARK ||
	    h.entry_size != (uint64_t)ENTRY_SIZE ||
	    h.check != header_check(&h) ||
	    h.n > (uint64_t)(INT64_MAX - HEADER_SIZE) / ENTRY_SIZE ||
	    (uint64_t)ist.st_size != (uint64_t)HEADER_SIZE + h.n * ENTRY_SIZE ||
	    h.ino != (uint64_t)st.st_ino || h.covered > (uint64_t)whole ||
	    (h.n == 0) != (h.covered == 0))
		return 0;
	if (tail_hash(box, h.covered, &tail) < 0)
		return -1;
	if (tail != h.tail_hash)
		return 0;
	ix->n = h.n;
	ix->covered = h.covered;
	ix->octets = h.octets;
	ix->lf_missing = h.lf_missing != 0;
	if (h.covered == (uint64_t)whole)
		return h.mtime_sec == (uint64_t)st.st_mtim.tv_sec &&
		    h.mtime_nsec == (uint64_t)st.st_mtim.tv_nsec;
	/* A writer gives a last "." its LF before it appends: rebuild. */
	return ix->lf_missing ? 0 : 2;
}

/* A message the scan found: one more entry. */
struct scan_out {
	struct mdindex	*ix;
	struct wbuf	*w;
};

static void
push(void *arg, const struct mailfmt_msg *m)
{
	struct scan_out *o = arg;

	wbuf_put(o->w, m, sizeof(*m));
	o->ix->n++;
	o->ix->octets += m->size;
	o->ix->covered = m->end;
}

/* Index bytes [from, to) of the mailbox, which start at a message and end
 * after a "." line, appending to the entries. */
static int
scan(struct mdindex *ix, const struct store_box *box, uint64_t from,
    uint64_t to)
{
	struct mailfmt_scanner sc;
	struct scan_out o = { .ix = ix };
	unsigned char *buf;
	size_t want;
	int rc = -1;

	buf = malloc(SCAN_BLOCK);
	o.w = malloc(sizeof(*o.w));
	if (buf == NULL || o.w == NULL)
		goto out;
	if (lseek(ix->fd, HEADER_SIZE + (off_t)ix->n * ENTRY_SIZE,
	    SEEK_SET) < 0)
		goto out;
	wbuf_init(o.w, ix->fd);
	mailfmt_scan_init(&sc, from, push, &o);
	ix->lf_missing = false;
	while (from < to) {
		want = to - from < SCAN_BLOCK ? (size_t)(to - from) : SCAN_BLOCK;
		if (store_read(box, buf, want, (off_t)from) < 0)
			goto out;
		mailfmt_scan(&sc, buf, want, from);
		from += want;
	}
	/* A last "." without its LF. */
	ix->lf_missing = mailfmt_scan_end(&sc, to);
	if (ix->covered != to) {
		errno = EIO;		/* not what the caller said it was */
		goto out;
	}
	rc = wbuf_flush(o.w);
out:
	free(o.w);
	free(buf);
	return rc;
}

static int
rebuild(struct mdindex *ix, const struct store_box *box, off_t whole)
{
	ix->n = ix->covered = ix->octets = 0;
	ix->rebuilt = true;
	if (ftruncate(ix->fd, HEADER_SIZE) < 0)
		return -1;
	return scan(ix, box, 0, (uint64_t)whole);
}

int
mdindex_load(struct mdindex *ix, const struct store_box *box, off_t whole)
{
	int state, saved;

	mdindex_init(ix);
	ix->fd = open_file(box->user_fd, box->remote);
	if (ix->fd < 0)
		return -1;
	state = check_header(ix, box, whole);
	if (state < 0)
		goto fail;
	if (state == 1)
		return 0;
	if (state == 2 && scan(ix, box, ix->covered, (uint64_t)whole) == 0)
		goto written;
	/* A scan error may be the index file's (a full disk): the mailbox
	 * decides, through a rebuild. */
	if (rebuild(ix, box, whole) < 0)
		goto fail;
written:
	if (write_header(ix, box) == 0)
		return 0;
	if (ix->covered != (uint64_t)whole)
		goto fail;
	/* Only the cache could not be written: serve from a copy that need
	 * not survive. An index whose header was not rewritten fails the
	 * next login's checks and is rebuilt then. */
	(void)close(ix->fd);
	ix->fd = memfd_create("sockmail-index", MFD_CLOEXEC);
	if (ix->fd < 0 || rebuild(ix, box, whole) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	mdindex_close(ix);
	errno = saved;
	return -1;
}

int
mdindex_get(struct mdindex *ix, uint64_t i, struct mailfmt_msg *e)
{
	uint64_t first, count;
	size_t len;
	ssize_t n;

	if (i >= ix->n) {
		errno = ENOENT;
		return -1;
	}
	if (i < ix->block_first || i >= ix->block_first + ix->block_n) {
		first = i - i % MDINDEX_BLOCK;
		count = ix->n - first < MDINDEX_BLOCK ? ix->n - first :
		    MDINDEX_BLOCK;
		len = (size_t)count * sizeof(ix->block[0]);
		ix->block_n = 0;
		n = io_read_some(ix->fd, ix->block, len,
		    HEADER_SIZE + (off_t)first * ENTRY_SIZE);
		if (n != (ssize_t)len) {
			if (n >= 0)
				errno = EIO;
			return -1;
		}
		ix->block_first = first;
		ix->block_n = (size_t)count;
	}
	*e = ix->block[i - ix->block_first];
	/* A damaged entry must not send bytes of another message. */
	if (e->start > e->dot || e->dot >= e->end || e->end > ix->covered ||
	    e->end - e->dot > 3 ||
	    (e->end - e->dot < 2 && !(i + 1 == ix->n && ix->lf_missing))) {
		errno = EIO;
		return -1;
	}
	return 0;
}

void
mdindex_compact(struct mdindex *ix, const struct store_box *box,
    const unsigned char *deleted)
{
	char host_pid[128], tmp[256];
	struct mdindex next;
	struct mailfmt_msg e;
	struct wbuf *w;
	uint64_t i, shift = 0;
	int fd = -1, n;

	mdindex_init(&next);
	w = malloc(sizeof(*w));
	/* Host and pid in the name (sockmail-mailbox(5), TEMPORARY
	 * FILES); a killed rewrite's copy is removed by the next UPDATE
	 * (store.c). */
	if (w == NULL || store_host_pid(host_pid, sizeof(host_pid)) < 0)
		goto fail;
	n = snprintf(tmp, sizeof(tmp), "%s.%s.tmp", MDINDEX_FILE, host_pid);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		goto fail;
	fd = openat(box->user_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0 || lseek(fd, HEADER_SIZE, SEEK_SET) < 0)
		goto fail;
	next.fd = fd;
	wbuf_init(w, fd);
	for (i = 0; i < ix->n; i++) {
		if (mdindex_get(ix, i, &e) < 0)
			goto fail;
		/* The rewrite gave a last "." its LF. */
		if (e.end == ix->covered && ix->lf_missing)
			e.end++;
		if (mdindex_marked(deleted, i)) {
			shift += e.end - e.start;
			continue;
		}
		e.start -= shift;
		e.dot -= shift;
		e.end -= shift;
		wbuf_put(w, &e, sizeof(e));
		next.n++;
		next.octets += e.size;
		next.covered = e.end;
	}
	if (wbuf_flush(w) < 0 || write_header(&next, box) < 0 ||
	    renameat(box->user_fd, tmp, box->user_fd, MDINDEX_FILE) < 0)
		goto fail;
	free(w);
	mdindex_close(ix);
	*ix = next;
	return;
fail:
	free(w);
	if (fd >= 0) {
		(void)close(fd);
		(void)unlinkat(box->user_fd, tmp, 0);
	}
	(void)unlinkat(box->user_fd, MDINDEX_FILE, 0);
}

void
mdindex_close(struct mdindex *ix)
{
	if (ix->fd >= 0)
		(void)close(ix->fd);
	mdindex_init(ix);
}

int
mdindex_file_ok(int fd)
{
	struct header h;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size == 0)
		return 1;
	n = io_read_some(fd, &h, sizeof(h), 0);
	if (n < 0)
		return -1;
	return n == (ssize_t)sizeof(h) && memcmp(h.magic, MAGIC, 8) == 0 &&
	    h.byte_order == BYTE_ORDER_MARK &&
	    h.entry_size == (uint64_t)ENTRY_SIZE &&
	    h.check == header_check(&h) &&
	    h.n <= (uint64_t)(INT64_MAX - HEADER_SIZE) / ENTRY_SIZE &&
	    (uint64_t)st.st_size == (uint64_t)HEADER_SIZE + h.n * ENTRY_SIZE;
}
