/* SPDX-License-Identifier: MIT */
/* A POP3 session's maildrop: lock, index, and the UPDATE rewrite.
 *
 * The maildrop lock (MBOX_LOCK_MAILDROP, see mbox.c) is held from login
 * until the process ends. Only its holder ever rewrites the mailbox, so
 * the messages indexed at login, bytes [0, covered) (a torn tail after
 * them is ignored, and left to the next writer, SPEC §3), stay as they are
 * for the whole session while deliveries append beyond them under the
 * append lock. UPDATE takes the
 * append lock, copies the kept messages and everything delivered since
 * login into a new file, fsyncs it and renames it over the old one; a
 * delivery waiting for the lock then finds the name moved to a new file
 * and appends there. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "line.h"
#include "log.h"
#include "maildrop.h"
#include "mbox.h"
#include "str.h"
#include "transport.h"
#include "wbuf.h"

#define READ_BLOCK	65536

void
maildrop_init(struct maildrop *md)
{
	memset(md, 0, sizeof(*md));
	md->fd = -1;
	md->user_fd = -1;
	mdindex_init(&md->ix);
}

static off_t
whole_length(int fd)
{
	struct stat st;
	bool needs_lf;

	if (fstat(fd, &st) < 0)
		return -1;
	return mbox_whole_length(fd, st.st_size, &needs_lf);
}

static bool
is_deleted(const struct maildrop *md, size_t i)
{
	return mdindex_marked(md->deleted, i);
}

int
maildrop_open(struct maildrop *md, int root_fd, const char *login)
{
	off_t whole;
	int saved;

	maildrop_init(md);
	md->fd = mbox_open_locked(root_fd, login, MBOX_LOCK_MAILDROP, false,
	    &md->user_fd, NULL);
	if (md->fd < 0)
		return -1;
	(void)str_copy(md->login, sizeof(md->login), login);	/* valid */
	/* Under the append lock (shared) only long enough to see where the
	 * whole messages end: writers only ever add or cut bytes after that,
	 * so bytes [0, whole) are ours to read unlocked. */
	if (mbox_lock(md->fd, MBOX_LOCK_APPEND, F_RDLCK, true) < 0)
		goto fail;
	whole = whole_length(md->fd);
	if (whole < 0 || mbox_lock(md->fd, MBOX_LOCK_APPEND, F_UNLCK, false) < 0)
		goto fail;
	if (mdindex_load(&md->ix, md->user_fd, md->fd, whole) < 0)
		goto fail;
	if (md->ix.n > SIZE_MAX - 7) {
		errno = EOVERFLOW;
		goto fail;
	}
	md->n = (size_t)md->ix.n;
	md->deleted = calloc(md->n / 8 + 1, 1);
	if (md->deleted == NULL)
		goto fail;
	return 0;
fail:
	saved = errno;
	maildrop_close(md);
	errno = saved;
	return -1;
}

void
maildrop_stat(const struct maildrop *md, size_t *count_out,
    uint64_t *octets_out)
{
	*count_out = md->n - md->n_deleted;
	*octets_out = md->ix.octets - md->deleted_octets;
}

static int
by_index(const void *a, const void *b)
{
	const struct maildrop_twin *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

struct maildrop_msg *
maildrop_get(struct maildrop *md, size_t num)
{
	struct mdindex_entry e;
	struct maildrop_twin key, *t;

	if (num == 0 || num > md->n || is_deleted(md, num - 1)) {
		errno = ENOENT;
		return NULL;
	}
	if (mdindex_get(&md->ix, num - 1, &e) < 0)
		return NULL;
	md->cur.start = (off_t)e.start;
	md->cur.dot = (off_t)mdindex_dot(&md->ix, &e);
	md->cur.end = (off_t)e.end;
	md->cur.size = e.size;
	md->cur.hash = e.hash;
	md->cur.twin = 0;
	if (md->n_twins > 0) {
		key.index = num - 1;
		t = bsearch(&key, md->twins, md->n_twins, sizeof(*t), by_index);
		if (t != NULL)
			md->cur.twin = t->twin;
	}
	return &md->cur;
}

int
maildrop_delete(struct maildrop *md, size_t num)
{
	struct maildrop_msg *m;

	if ((m = maildrop_get(md, num)) == NULL)
		return -1;
	md->deleted[(num - 1) / 8] |= (unsigned char)(1u << ((num - 1) % 8));
	md->n_deleted++;
	md->deleted_octets += m->size;
	return 0;
}

void
maildrop_undelete_all(struct maildrop *md)
{
	memset(md->deleted, 0, md->n / 8 + 1);
	md->n_deleted = 0;
	md->deleted_octets = 0;
}

static int
by_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* A message whose hash shares its top 32 bits with another's. */
struct candidate {
	uint64_t	hash;
	size_t		index;
};

static int
by_hash(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

#define TWIN_PASS	16384	/* top halves sorted at once: 64 KiB */

static int
push_candidate(struct candidate **cand, size_t *n, size_t *cap,
    uint64_t hash, size_t index)
{
	struct candidate *grown;

	if (*n == *cap) {
		*cap = *cap == 0 ? 16 : *cap * 2;
		grown = realloc(*cand, *cap * sizeof(**cand));
		if (grown == NULL)
			return -1;
		*cand = grown;
	}
	(*cand)[(*n)++] = (struct candidate){ hash, index };
	return 0;
}

/* The candidates: every message whose hash's top half appears twice or
 * more. Sorting the top halves finds them, a slice of their range per
 * pass over the index so that a pass sorts about TWIN_PASS of them; only
 * the candidates are kept whole. Memory stays small however many
 * messages there are, unless very many are alike. */
static int
find_candidates(struct maildrop *md, struct candidate **out, size_t *n_out)
{
	struct mdindex_entry e;
	struct candidate *cand = NULL;
	uint32_t *top = NULL, *grown, key;
	uint64_t passes, pass, lo, hi, t;
	size_t i, d, k, n = 0, cap = 0, top_cap = 0;

	passes = md->n / TWIN_PASS + 1;
	for (pass = 0; pass < passes; pass++) {
		lo = (pass << 32) / passes;
		hi = ((pass + 1) << 32) / passes;
		for (k = 0, i = 0; i < md->n; i++) {
			if (mdindex_get(&md->ix, i, &e) < 0)
				goto fail;
			t = e.hash >> 32;
			if (t < lo || t >= hi)
				continue;
			if (k == top_cap) {
				top_cap = top_cap == 0 ? TWIN_PASS : top_cap * 2;
				grown = realloc(top, top_cap * sizeof(*top));
				if (grown == NULL)
					goto fail;
				top = grown;
			}
			top[k++] = (uint32_t)t;
		}
		if (k < 2)
			continue;
		qsort(top, k, sizeof(*top), by_u32);
		/* Keep each top half that repeats, once. */
		for (d = 0, i = 1; i < k; i++)
			if (top[i] == top[i - 1] && (d == 0 || top[d - 1] != top[i]))
				top[d++] = top[i];
		for (i = 0; i < md->n && d > 0; i++) {
			if (mdindex_get(&md->ix, i, &e) < 0)
				goto fail;
			key = (uint32_t)(e.hash >> 32);
			if (key >= lo && key < hi &&
			    bsearch(&key, top, d, sizeof(*top), by_u32) != NULL &&
			    push_candidate(&cand, &n, &cap, e.hash, i) < 0)
				goto fail;
		}
	}
	free(top);
	*out = cand;
	*n_out = n;
	return 0;
fail:
	free(top);
	free(cand);
	return -1;
}

int
maildrop_number_twins(struct maildrop *md)
{
	struct candidate *cand = NULL;
	uint32_t twin = 0;
	size_t i, n = 0;

	if (md->twins_numbered || md->n < 2) {
		md->twins_numbered = true;
		return 0;
	}
	if (find_candidates(md, &cand, &n) < 0)
		return -1;
	if (n > 0) {
		qsort(cand, n, sizeof(*cand), by_hash);
		md->twins = calloc(n, sizeof(*md->twins));
		if (md->twins == NULL) {
			free(cand);
			return -1;
		}
		for (i = 1; i < n; i++) {
			twin = cand[i].hash == cand[i - 1].hash ? twin + 1 : 0;
			if (twin > 0)
				md->twins[md->n_twins++] =
				    (struct maildrop_twin){ cand[i].index, twin };
		}
		qsort(md->twins, md->n_twins, sizeof(*md->twins), by_index);
	}
	free(cand);
	md->twins_numbered = true;
	return 0;
}

void
maildrop_uid(const struct maildrop_msg *m, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%016llx.%llu", (unsigned long long)m->hash,
	    (unsigned long long)m->twin);
}

static int
copy_range(int in_fd, off_t off, off_t len, struct wbuf *w)
{
	size_t want;

	/* Read straight into the writer's buffer: one copy in memory. */
	while (len > 0) {
		if (w->len == sizeof(w->buf) && wbuf_flush(w) < 0)
			return -1;
		want = sizeof(w->buf) - w->len;
		if ((off_t)want > len)
			want = (size_t)len;
		if (mbox_read_at(in_fd, w->buf + w->len, want, off) < 0)
			return -1;
		w->len += want;
		off += (off_t)want;
		len -= (off_t)want;
	}
	return 0;
}

/* Whether entry e still is the message the client was shown: its bytes
 * hash to what the index says and its "." line is where it says. A
 * damaged index must never make UPDATE drop a byte of another message. */
static int
still_there(struct maildrop *md, const struct mdindex_entry *e, char *buf)
{
	uint64_t hash = MDINDEX_FNV_OFFSET, dot = mdindex_dot(&md->ix, e);
	off_t off = (off_t)e->start;
	size_t want;

	if (e->start > 0) {
		if (mbox_read_at(md->fd, buf, 1, off - 1) < 0)
			return -1;
		if (buf[0] != '\n')
			goto moved;
	}
	while ((uint64_t)off < dot) {
		want = dot - (uint64_t)off < READ_BLOCK ?
		    (size_t)(dot - (uint64_t)off) : READ_BLOCK;
		if (mbox_read_at(md->fd, buf, want, off) < 0)
			return -1;
		hash = mdindex_fnv(hash, buf, want);
		off += (off_t)want;
	}
	/* ".\n"; a last "." that lacked its LF got it from the repair. */
	if (mbox_read_at(md->fd, buf, 2, (off_t)dot) < 0)
		return -1;
	if (hash == e->hash && buf[0] == '.' && buf[1] == '\n')
		return 0;
moved:
	log_event(LOG_ERR, "update", "mailbox of %s: the index does not match "
	    "the mailbox at byte %llu", md->login,
	    (unsigned long long)e->start);
	errno = EIO;
	return -1;
}

/* Write everything but the deleted messages, that is the kept ones and
 * all mail delivered since login, to out_fd: the bytes between deleted
 * messages are copied whatever the index says about them. */
static int
write_kept(struct maildrop *md, off_t whole, int out_fd)
{
	struct mdindex_entry e;
	struct wbuf *w;
	char *buf;
	size_t i;
	off_t pos = 0, end;
	int rc = -1;

	w = malloc(sizeof(*w));
	buf = malloc(READ_BLOCK);
	if (w == NULL || buf == NULL)
		goto out;
	wbuf_init(w, out_fd);
	for (i = 0; i < md->n; i++) {
		if (!is_deleted(md, i))
			continue;
		if (mdindex_get(&md->ix, i, &e) < 0)
			goto out;
		end = (off_t)e.end;
		if (e.end == md->ix.covered && md->ix.lf_missing)
			end++;		/* and the LF the repair gave it */
		if ((off_t)e.start < pos || end > whole) {
			errno = EIO;	/* out of order, or past the end */
			goto out;
		}
		if (still_there(md, &e, buf) < 0)
			goto out;
		if (copy_range(md->fd, pos, (off_t)e.start - pos, w) < 0)
			goto out;
		pos = end;
	}
	if (copy_range(md->fd, pos, whole - pos, w) < 0)
		goto out;
	rc = wbuf_flush(w);
out:
	free(buf);
	free(w);
	return rc;
}

/* Remove the half-written copies of UPDATEs that were killed. Only the
 * maildrop lock's holder ever writes one, and that is us now: every copy
 * in the folder, from this host or another, is stale. */
static void
remove_stale_copies(int user_fd)
{
	const size_t prefix = strlen(MBOX_FILE ".");
	struct dirent *e;
	size_t len;
	DIR *dir;
	int fd;

	fd = dup(user_fd);
	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (dir == NULL) {
		(void)close(fd);
		return;
	}
	while ((e = readdir(dir)) != NULL) {
		len = strlen(e->d_name);
		if (len > prefix + 4 &&
		    strncmp(e->d_name, MBOX_FILE ".", prefix) == 0 &&
		    strcmp(e->d_name + len - 4, ".tmp") == 0 &&
		    unlinkat(user_fd, e->d_name, 0) == 0)
			log_event(LOG_WARNING, "update", "removed %s, left by "
			    "an UPDATE that did not finish", e->d_name);
	}
	(void)closedir(dir);
}

int
maildrop_update(struct maildrop *md)
{
	char host[64], tmp[256];
	size_t removed;
	off_t whole;
	int tfd = -1, n, saved;

	removed = md->n_deleted;
	if (removed == 0)
		return 0;		/* nothing deleted: leave the file be */
	if (gethostname(host, sizeof(host)) < 0)
		return -1;
	host[sizeof(host) - 1] = '\0';
	/* Host and pid in the name: several hosts may share the mail root. */
	n = snprintf(tmp, sizeof(tmp), "%s.%s.%ld.tmp", MBOX_FILE, host,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mbox_lock(md->fd, MBOX_LOCK_APPEND, F_WRLCK, true) < 0)
		return -1;
	whole = mbox_repair_tail(md->fd, md->login);
	if (whole < (off_t)md->ix.covered + md->ix.lf_missing) {
		if (whole >= 0)
			errno = EIO;	/* someone cut our messages */
		goto fail;
	}
	remove_stale_copies(md->user_fd);
	tfd = openat(md->user_fd, tmp, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (tfd < 0)
		goto fail;
	if (write_kept(md, whole, tfd) < 0 || fsync(tfd) < 0)
		goto fail;
	if (renameat(md->user_fd, tmp, md->user_fd, MBOX_FILE) < 0)
		goto fail;
	/* The rename is done: from here on the new mailbox stands even if
	 * the folder's fsync fails, so that is only logged. */
	if (fsync(md->user_fd) < 0)
		log_event(LOG_ERR, "update", "mailbox of %s: fsync of the "
		    "folder: %s", md->login, strerror(errno));
	mdindex_compact(&md->ix, md->user_fd, tfd, md->deleted);
	if (close(tfd) < 0)
		log_event(LOG_ERR, "update", "mailbox of %s: close: %s",
		    md->login, strerror(errno));
	(void)mbox_lock(md->fd, MBOX_LOCK_APPEND, F_UNLCK, false);
	return (int)(removed > INT_MAX ? INT_MAX : removed);
fail:
	saved = errno;
	if (tfd >= 0)
		(void)close(tfd);
	(void)unlinkat(md->user_fd, tmp, 0);
	(void)mbox_lock(md->fd, MBOX_LOCK_APPEND, F_UNLCK, false);
	errno = saved;
	return -1;
}

void
maildrop_close(struct maildrop *md)
{
	if (md->fd >= 0)
		(void)close(md->fd);
	if (md->user_fd >= 0)
		(void)close(md->user_fd);
	mdindex_close(&md->ix);
	free(md->deleted);
	free(md->twins);
	maildrop_init(md);
}
