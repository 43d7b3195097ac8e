/* SPDX-License-Identifier: MIT */
/* A POP3 session's maildrop: lock, index, and the UPDATE rewrite.
 *
 * The maildrop lock (MBOX_LOCK_MAILDROP, see mbox.c) is held from login
 * until the process ends. Only its holder ever rewrites the mailbox, so
 * the messages read at login, bytes [0, snapshot_end) (a torn tail after
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

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

void
maildrop_init(struct maildrop *md)
{
	memset(md, 0, sizeof(*md));
	md->fd = -1;
	md->user_fd = -1;
}

static uint64_t
fnv1a(uint64_t h, const char *p, size_t len)
{
	while (len-- > 0) {
		h ^= (unsigned char)*p++;
		h *= FNV_PRIME;
	}
	return h;
}

static int
push_msg(struct maildrop *md, const struct maildrop_msg *m)
{
	struct maildrop_msg *grown;
	size_t cap;

	if (md->n == md->cap) {
		cap = md->cap == 0 ? 64 : md->cap * 2;
		if (cap < md->cap || cap > SIZE_MAX / sizeof(*grown)) {
			errno = ENOMEM;
			return -1;
		}
		grown = realloc(md->msgs, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		md->msgs = grown;
		md->cap = cap;
	}
	md->msgs[md->n++] = *m;
	return 0;
}

/* Split bytes [0, limit) of the mailbox into messages at their "." lines,
 * in one pass. */
static int
scan(struct maildrop *md, off_t limit)
{
	static const char crlf[] = "\r\n";
	struct fd_transport ft;
	struct line_reader *r;
	char *piece;
	struct maildrop_msg m = { 0 };
	enum line_status st;
	enum line_end end;
	bool at_line_start = true;
	off_t pos = 0;
	size_t len;
	int rc = -1;

	r = malloc(sizeof(*r));
	piece = malloc(LINE_BUF_SIZE);
	if (r == NULL || piece == NULL)
		goto out;
	if (lseek(md->fd, 0, SEEK_SET) < 0)
		goto out;
	fd_transport_init(&ft, md->fd, -1);
	line_reader_init(r, &ft.base, 0);
	m.hash = FNV_OFFSET;
	while (pos < limit) {
		st = line_read_part(r, piece, LINE_BUF_SIZE - 2, &len, &end);
		if (st == LINE_EOF) {
			errno = EIO;	/* shorter than it was under lock */
			goto out;
		}
		if (st != LINE_OK)
			goto out;
		/* Only ".\n" separates (".\r" would be stored stuffed), or
		 * a "." that ends the whole messages without its LF. */
		if (at_line_start && len == 1 && piece[0] == '.' &&
		    (end == LINE_END_LF || pos + 1 == limit)) {
			m.dot = pos;
			pos += end == LINE_END_LF ? 2 : 1;
			md->snapshot_lf_missing = end != LINE_END_LF;
			m.end = pos;
			if (push_msg(md, &m) < 0)
				goto out;
			m = (struct maildrop_msg){ .start = pos, .hash = FNV_OFFSET };
			continue;
		}
		m.hash = fnv1a(m.hash, piece, len);
		m.size += len;
		if (at_line_start && len > 0 && piece[0] == '.')
			m.size--;		/* sent stuffed, counted not */
		if (end == LINE_END_CRLF) {
			/* A CR kept as content, then the LF. */
			m.hash = fnv1a(m.hash, crlf, 2);
			m.size += 3;
		} else if (end != LINE_END_NONE) {
			m.hash = fnv1a(m.hash, crlf + 1, 1);
			m.size += 2;
		}
		pos += (off_t)(len + line_end_bytes(end));
		at_line_start = end != LINE_END_NONE;
	}
	md->snapshot_end = pos;
	rc = 0;
out:
	free(piece);
	free(r);
	return rc;
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

int
maildrop_open(struct maildrop *md, int root_fd, const char *login)
{
	off_t whole;
	int saved;

	maildrop_init(md);
	md->fd = mbox_open_locked(root_fd, login, MBOX_LOCK_MAILDROP, false,
	    &md->user_fd);
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
	if (scan(md, whole) < 0)
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
	size_t i, count = 0;
	uint64_t octets = 0;

	for (i = 0; i < md->n; i++) {
		if (md->msgs[i].deleted)
			continue;
		count++;
		octets += md->msgs[i].size;
	}
	*count_out = count;
	*octets_out = octets;
}

struct maildrop_msg *
maildrop_get(struct maildrop *md, size_t num)
{
	if (num == 0 || num > md->n || md->msgs[num - 1].deleted)
		return NULL;
	return &md->msgs[num - 1];
}

static int
by_hash(const void *a, const void *b)
{
	const struct maildrop_msg *x = *(const struct maildrop_msg *const *)a;
	const struct maildrop_msg *y = *(const struct maildrop_msg *const *)b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

int
maildrop_number_twins(struct maildrop *md)
{
	struct maildrop_msg **order;
	size_t i;

	if (md->twins_numbered || md->n == 0) {
		md->twins_numbered = true;
		return 0;
	}
	order = calloc(md->n, sizeof(*order));
	if (order == NULL)
		return -1;
	for (i = 0; i < md->n; i++)
		order[i] = &md->msgs[i];
	qsort(order, md->n, sizeof(*order), by_hash);
	order[0]->twin = 0;
	for (i = 1; i < md->n; i++)
		order[i]->twin = order[i]->hash == order[i - 1]->hash ?
		    order[i - 1]->twin + 1 : 0;
	free(order);
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

/* Write the kept messages, then all mail delivered since login (bytes
 * [snapshot_end, whole)), to out_fd. */
static int
write_kept(const struct maildrop *md, off_t whole, int out_fd)
{
	struct wbuf *w;
	size_t i = 0, j;
	off_t tail;
	int rc = -1;

	w = malloc(sizeof(*w));
	if (w == NULL)
		return -1;
	wbuf_init(w, out_fd);
	while (i < md->n) {
		if (md->msgs[i].deleted) {
			i++;
			continue;
		}
		for (j = i; j + 1 < md->n && !md->msgs[j + 1].deleted; j++)
			;
		if (copy_range(md->fd, md->msgs[i].start,
		    md->msgs[j].end - md->msgs[i].start, w) < 0)
			goto out;
		if (md->msgs[j].end == md->snapshot_end &&
		    md->snapshot_lf_missing)
			wbuf_put(w, "\n", 1);
		i = j + 1;
	}
	/* A writer gave a final "." without LF its LF before appending. */
	tail = md->snapshot_end;
	if (md->snapshot_lf_missing && whole > tail)
		tail++;
	if (copy_range(md->fd, tail, whole - tail, w) < 0)
		goto out;
	rc = wbuf_flush(w);
out:
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
	size_t i, removed = 0;
	off_t whole;
	int tfd = -1, n, saved;

	for (i = 0; i < md->n; i++)
		removed += md->msgs[i].deleted;
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
	if (whole < md->snapshot_end) {
		if (whole >= 0)
			errno = EIO;	/* someone cut our messages */
		goto fail;
	}
	remove_stale_copies(md->user_fd);
	tfd = openat(md->user_fd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (tfd < 0)
		goto fail;
	if (write_kept(md, whole, tfd) < 0 || fsync(tfd) < 0)
		goto fail;
	if (close(tfd) < 0) {
		tfd = -1;
		goto fail;
	}
	tfd = -1;
	if (renameat(md->user_fd, tmp, md->user_fd, MBOX_FILE) < 0)
		goto fail;
	/* The rename is done: from here on the new mailbox stands even if
	 * the folder's fsync fails, so that is only logged. */
	if (fsync(md->user_fd) < 0)
		log_event(LOG_ERR, "update", "mailbox of %s: fsync of the "
		    "folder: %s", md->login, strerror(errno));
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
	free(md->msgs);
	maildrop_init(md);
}
