/* SPDX-License-Identifier: MIT */
/* A POP3 session's maildrop: the messages of a store snapshot, their
 * index, the deletion marks, and the UPDATE rewrite.
 *
 * The store (store.h) holds the maildrop lock from login until the
 * process ends, and takes the snapshot at login: the whole messages, none
 * of them still to be taken back. Only the maildrop's holder ever
 * replaces the mailbox, so those bytes, [0, covered), stay as they are for
 * the whole session while deliveries append beyond them. UPDATE copies
 * the kept messages and everything delivered since login into the
 * store's replacement file, which the store then renames over the old
 * one. */
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

#include "log.h"
#include "maildrop.h"
#include "mailfmt.h"
#include "store.h"
#include "str.h"
#include "wbuf.h"

#define READ_BLOCK	65536

void
maildrop_init(struct maildrop *md)
{
	memset(md, 0, sizeof(*md));
	store_box_init(&md->box);
	mdindex_init(&md->ix);
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
	bool lf_missing;	/* the index finds it again */
	int saved;

	maildrop_init(md);
	if (store_open_maildrop(root_fd, login, &md->box) < 0)
		return -1;
	(void)str_copy(md->login, sizeof(md->login), login);	/* valid */
	/* Bytes [0, whole) are ours to read unlocked (store.h). */
	if (store_snapshot(&md->box, &whole, &lf_missing) < 0)
		goto fail;
	if (mdindex_load(&md->ix, &md->box, whole) < 0)
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
	struct mailfmt_msg e;
	struct maildrop_twin key, *t;

	if (num == 0 || num > md->n || is_deleted(md, num - 1)) {
		errno = ENOENT;
		return NULL;
	}
	if (mdindex_get(&md->ix, num - 1, &e) < 0)
		return NULL;
	md->cur.start = (off_t)e.start;
	md->cur.dot = (off_t)e.dot;
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
	struct mailfmt_msg e;
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

ssize_t
maildrop_read(const struct maildrop *md, void *buf, size_t len, off_t off)
{
	return store_read_some(&md->box, buf, len, off);
}

/* Copy bytes [off, off + len) of the mailbox to w. */
static int
copy_range(struct maildrop *md, off_t off, off_t len, struct wbuf *w)
{
	size_t want;
	char *room;

	/* Read straight into the writer's buffer: one copy in memory. */
	while (len > 0) {
		if ((room = wbuf_room(w, &want)) == NULL)
			return -1;
		if ((off_t)want > len)
			want = (size_t)len;
		if (store_read(&md->box, room, want, off) < 0)
			return -1;
		wbuf_advance(w, want);
		off += (off_t)want;
		len -= (off_t)want;
	}
	return 0;
}

/* The first message a scan finds. */
static void
first_found(void *arg, const struct mailfmt_msg *m)
{
	struct mailfmt_msg *found = arg;

	if (found->end == 0)
		*found = *m;
}

/* Whether entry e still is the message the client was shown: a scan of
 * its bytes finds it where the index says, with the same hash. A damaged
 * index must never make UPDATE drop a byte of another message. */
static int
still_there(struct maildrop *md, const struct mailfmt_msg *e, off_t end,
    char *buf)
{
	struct mailfmt_scanner sc;
	struct mailfmt_msg found = { 0 };
	off_t off = (off_t)e->start;
	size_t want;

	if (e->start > 0) {
		if (store_read(&md->box, buf, 1, off - 1) < 0)
			return -1;
		if (buf[0] != '\n')
			goto moved;
	}
	mailfmt_scan_init(&sc, e->start, first_found, &found);
	while (off < end && found.end == 0) {
		want = end - off < READ_BLOCK ? (size_t)(end - off) : READ_BLOCK;
		if (store_read(&md->box, buf, want, off) < 0)
			return -1;
		mailfmt_scan(&sc, (unsigned char *)buf, want, (uint64_t)off);
		off += (off_t)want;
	}
	/* A last "." that lacked its LF got it from the store's repair. */
	if (found.hash == e->hash && found.dot == e->dot &&
	    found.end == (uint64_t)end)
		return 0;
moved:
	log_event(LOG_ERR, "update", "mailbox of %s: the index does not match "
	    "the mailbox at byte %llu", md->login,
	    (unsigned long long)e->start);
	errno = EIO;
	return -1;
}

/* Write everything but the deleted messages, that is the kept ones and
 * all mail delivered since login, to the replacement: the bytes between
 * deleted messages are copied whatever the index says about them. */
static int
write_kept(struct maildrop *md, struct store_replace *r)
{
	struct mailfmt_msg e;
	struct wbuf *w;
	char *buf;
	size_t i;
	off_t pos = 0, end;
	int rc = -1;

	w = malloc(sizeof(*w));
	buf = malloc(READ_BLOCK);
	if (w == NULL || buf == NULL)
		goto out;
	wbuf_init_sink(w, store_replace_write, r);
	for (i = 0; i < md->n; i++) {
		if (!is_deleted(md, i))
			continue;
		if (mdindex_get(&md->ix, i, &e) < 0)
			goto out;
		end = (off_t)e.end;
		if (e.end == md->ix.covered && md->ix.lf_missing)
			end++;		/* and the LF the repair gave it */
		if ((off_t)e.start < pos || end > r->whole) {
			errno = EIO;	/* out of order, or past the end */
			goto out;
		}
		if (still_there(md, &e, end, buf) < 0)
			goto out;
		if (copy_range(md, pos, (off_t)e.start - pos, w) < 0)
			goto out;
		pos = end;
	}
	if (copy_range(md, pos, r->whole - pos, w) < 0)
		goto out;
	rc = wbuf_flush(w);
out:
	free(buf);
	free(w);
	return rc;
}

int
maildrop_update(struct maildrop *md)
{
	struct store_replace r;
	size_t removed;
	int saved;

	removed = md->n_deleted;
	if (removed == 0)
		return 0;		/* nothing deleted: leave the file be */
	if (store_replace_begin(&md->box, &r) < 0)
		return -1;
	if (r.whole < (off_t)md->ix.covered + md->ix.lf_missing) {
		errno = EIO;		/* someone cut our messages */
		goto fail;
	}
	if (write_kept(md, &r) < 0 || store_replace_commit(&r) < 0)
		goto fail;
	store_replace_end(&r);
	mdindex_compact(&md->ix, &md->box, md->deleted);
	return (int)(removed > INT_MAX ? INT_MAX : removed);
fail:
	saved = errno;
	store_replace_end(&r);
	errno = saved;
	return -1;
}

void
maildrop_close(struct maildrop *md)
{
	store_box_close(&md->box);
	mdindex_close(&md->ix);
	free(md->deleted);
	free(md->twins);
	maildrop_init(md);
}
