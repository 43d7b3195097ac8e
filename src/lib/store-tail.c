/* SPDX-License-Identifier: MIT */
/* The store's tails: where a mailbox's whole messages end, and what
 * becomes of the bytes after them (store.h, Tails; sockmail-mailbox(5)). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "mailfmt.h"
#include "store-int.h"

#define TAIL_BLOCK	65536
#define SIDE_NAME_MAX	256
#define SIDE_TRIES	100

/* Every record the store appends starts so (msg.h writes From: first). */
static const char record_start[] = "From: ";

/* Whether the file, whose last n bytes (at most 4) are in last, ends with
 * a line holding suffix: the suffix preceded by an LF, or by nothing at
 * all (size bytes in the file). */
static bool
ends_with_line(const char *last, size_t n, off_t size, const char *suffix)
{
	size_t k = strlen(suffix);

	if ((off_t)k > size || memcmp(last + n - k, suffix, k) != 0)
		return false;
	return (off_t)k == size || last[n - k - 1] == '\n';
}

int
store_ends_whole(const struct store_box *b, off_t size)
{
	char last[4];
	size_t n;

	if (size == 0)
		return 1;
	n = size < (off_t)sizeof(last) ? (size_t)size : sizeof(last);
	if (store_read(b, last, n, size - (off_t)n) < 0)
		return -1;
	return ends_with_line(last, n, size, ".\n") ||
	    ends_with_line(last, n, size, ".\r\n");
}

off_t
store_whole_length(const struct store_box *b, off_t size, bool *needs_lf_out)
{
	char *buf;
	off_t hi = size, lo, rs, re, i, found = 0;
	char last[4];
	size_t n, dl;

	*needs_lf_out = false;
	if (size == 0)
		return 0;
	n = size < (off_t)sizeof(last) ? (size_t)size : sizeof(last);
	if (store_read(b, last, n, size - (off_t)n) < 0)
		return -1;
	/* The usual case: the file ends with its last "." line. */
	if (ends_with_line(last, n, size, ".\n") ||
	    ends_with_line(last, n, size, ".\r\n"))
		return size;
	/* A "." (or ".\r") at the very end, alone on its line, still ends a
	 * message: a writer gives it its LF. */
	if (ends_with_line(last, n, size, ".") ||
	    ends_with_line(last, n, size, ".\r")) {
		*needs_lf_out = true;
		return size;
	}
	/* Else the last "." line that starts a line ends the last message;
	 * search backwards in blocks, each read with a byte of margin before
	 * (the line start) and two after (".\r\n"). */
	buf = malloc(TAIL_BLOCK + 3);
	if (buf == NULL)
		return -1;
	while (hi > 0) {
		lo = hi > TAIL_BLOCK ? hi - TAIL_BLOCK : 0;
		rs = lo > 0 ? lo - 1 : 0;
		re = hi + 2 < size ? hi + 2 : size;
		if (store_read(b, buf, (size_t)(re - rs), rs) < 0) {
			found = -1;
			goto out;
		}
		for (i = hi - 1; i >= lo; i--) {
			if (i > 0 && buf[i - 1 - rs] != '\n')
				continue;
			dl = mailfmt_dot_line(buf, (size_t)(re - rs),
			    (size_t)(i - rs));
			if (dl > 0) {
				found = i + (off_t)dl;
				goto out;
			}
		}
		hi = lo;
	}
out:
	free(buf);
	return found;
}

/* Whether bytes [whole, size) can only be what an append killed in the
 * middle leaves (store.h): bytes without a NUL, empty or the start of a
 * record (a prefix of one, as short as it was cut: "Fro" is one), then
 * NULs to the end. Returns 1, 0, or -1 on a read error. */
static int
is_killed_append(const struct store_box *b, off_t whole, off_t size)
{
	char *buf;
	char head[sizeof(record_start) - 1];
	off_t pos, first_nul = -1;
	size_t n, i, want;
	int rc = -1;

	buf = malloc(TAIL_BLOCK);
	if (buf == NULL)
		return -1;
	for (pos = whole; pos < size; pos += (off_t)n) {
		n = size - pos < TAIL_BLOCK ? (size_t)(size - pos) : TAIL_BLOCK;
		if (store_read(b, buf, n, pos) < 0)
			goto out;
		for (i = 0; i < n; i++) {
			if (first_nul < 0 && buf[i] == '\0')
				first_nul = pos + (off_t)i;
			else if (first_nul >= 0 && buf[i] != '\0') {
				rc = 0;		/* text after the NULs */
				goto out;
			}
		}
	}
	if (first_nul < 0) {
		rc = 0;		/* no NUL at the end */
		goto out;
	}
	want = first_nul - whole < (off_t)sizeof(head) ?
	    (size_t)(first_nul - whole) : sizeof(head);
	if (store_read(b, head, want, whole) < 0)
		goto out;
	rc = memcmp(head, record_start, want) == 0;
out:
	free(buf);
	return rc;
}

/* Create the side file for a tail: my_mailbox.txt.tail.<time>.<host>.
 * <pid>, with ".<n>" added should that name be taken. */
static int
create_side_file(const struct store_box *b, char *name, size_t size)
{
	char stamp[32], host_pid[128];
	struct tm tm;
	time_t now;
	int fd, n, k;

	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0 ||
	    store_host_pid(host_pid, sizeof(host_pid)) < 0)
		return -1;
	for (k = 0; k < SIDE_TRIES; k++) {
		n = k == 0 ?
		    snprintf(name, size, "%s%s.%s", STORE_TAIL_PREFIX, stamp,
		    host_pid) :
		    snprintf(name, size, "%s%s.%s.%d", STORE_TAIL_PREFIX, stamp,
		    host_pid, k);
		if (n < 0 || (size_t)n >= size) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(b->user_fd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* Copy bytes [whole, size) to a new side file and make it durable, with
 * its name in the folder. Returns 0, or -1 with errno set (the side file,
 * if any, is removed again). */
static int
save_tail(const struct store_box *b, off_t whole, off_t size, char *name,
    size_t name_size)
{
	char *buf;
	off_t pos;
	size_t n;
	int fd, saved, closed;

	buf = malloc(TAIL_BLOCK);
	if (buf == NULL)
		return -1;
	fd = create_side_file(b, name, name_size);
	if (fd < 0) {
		free(buf);
		return -1;
	}
	for (pos = whole; pos < size; pos += (off_t)n) {
		n = size - pos < TAIL_BLOCK ? (size_t)(size - pos) : TAIL_BLOCK;
		if (store_read(b, buf, n, pos) < 0 ||
		    io_write_all(fd, buf, n) < 0)
			goto fail;
	}
	if (fsync(fd) < 0)
		goto fail;
	closed = close(fd);
	fd = -1;
	if (closed == 0 && fsync(b->user_fd) == 0) {
		free(buf);
		return 0;
	}
	/* The copy's name may not survive a crash: fail whole. */
fail:
	saved = errno;
	if (fd >= 0)
		(void)close(fd);
	(void)unlinkat(b->user_fd, name, 0);
	free(buf);
	errno = saved;
	return -1;
}

off_t
store_repair_tail(const struct store_box *b, off_t size)
{
	char side[SIDE_NAME_MAX];
	off_t whole;
	bool needs_lf;
	int killed;

	whole = store_whole_length(b, size, &needs_lf);
	if (whole < 0)
		return -1;
	if (whole < size) {
		killed = is_killed_append(b, whole, size);
		if (killed < 0)
			return -1;
		if (killed) {
			log_event(LOG_WARNING, "torn-tail", "mailbox of %s: "
			    "cut off %lld bytes of an append that was killed",
			    b->login, (long long)(size - whole));
		} else {
			if (save_tail(b, whole, size, side, sizeof(side)) < 0) {
				log_event(LOG_ERR, "tail", "mailbox of %s: "
				    "cannot save %lld bytes after the last "
				    "message: %s", b->login,
				    (long long)(size - whole), strerror(errno));
				return -1;
			}
			log_event(LOG_WARNING, "tail", "mailbox of %s: moved "
			    "%lld bytes after the last message to %s",
			    b->login, (long long)(size - whole), side);
		}
		if (ftruncate(b->fd, whole) < 0)
			return -1;
	}
	if (needs_lf) {
		if (io_write_at(b->fd, "\n", 1, whole) < 0)
			return -1;
		whole++;
	}
	return whole;
}
