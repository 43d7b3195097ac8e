/* SPDX-License-Identifier: MIT */
/* All-or-nothing delivery of one message to several local mailboxes. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"
#include "mbox.h"
#include "msg.h"
#include "wbuf.h"

static int
by_login(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The length of the record, by building it without writing it. */
static int
record_length(int spool_fd, const struct msg_headers *h,
    const struct msg_envelope *env, struct wbuf *w, off_t *len_out)
{
	wbuf_init(w, -1);
	if (msg_write_record(spool_fd, h, env, w) < 0)
		return -1;
	if (w->written > (unsigned long long)INT64_MAX) {
		errno = EFBIG;
		return -1;
	}
	*len_out = (off_t)w->written;
	return 0;
}

/* Build the record once, before any lock is taken: in w's buffer when it
 * fits, so that each copy is one write under its lock; else only measure
 * it, and build it again from the spool for each copy. */
static int
build_record(int spool_fd, const struct msg_headers *h,
    const struct msg_envelope *env, struct wbuf *w, off_t *len_out,
    bool *in_memory_out)
{
	wbuf_init(w, WBUF_MEMORY);
	if (msg_write_record(spool_fd, h, env, w) < 0)
		return -1;
	*in_memory_out = w->error == 0;
	if (*in_memory_out) {
		*len_out = (off_t)w->len;
		return 0;
	}
	return record_length(spool_fd, h, env, w, len_out);
}

/* Append the record (len bytes) to one open mailbox, into room made for
 * it first (mbox_reserve). */
static int
append_copy(struct mbox *mb, int spool_fd, const struct msg_headers *h,
    const struct msg_envelope *env, struct wbuf *w, off_t len, bool in_memory)
{
	if (mbox_reserve(mb, len) < 0)
		return -1;
	if (in_memory)
		return mbox_write(mb, w->buf, (size_t)len);
	wbuf_init(w, mb->fd);
	if (msg_write_record(spool_fd, h, env, w) < 0) {
		int saved = errno;

		(void)wbuf_flush(w);
		errno = saved;
		return -1;
	}
	if (wbuf_flush(w) < 0)
		return -1;
	if (w->written != (unsigned long long)len) {
		errno = EIO;	/* the spool changed under us */
		return -1;
	}
	return 0;
}

/* Make every copy durable. They are written whole, so the locks go first:
 * deliveries to one mailbox then share the disk's flushes (one journal
 * commit covers several fsyncs) instead of queueing for one flush each.
 * A copy whose fsync fails is taken back where nothing was appended after
 * it; where mail was, it stays, and a retry may deliver it twice, which
 * beats cutting out another delivery. Returns 0, or -1 with errno set. */
static int
commit_all(struct mbox *mbs, const char **order, size_t n, off_t len,
    const char **failed_login_out)
{
	size_t i;
	int saved;

	for (i = 0; i < n; i++)
		(void)mbox_unlock(&mbs[i]);	/* else it flushes alone */
	for (i = 0; i < n; i++)
		if (mbox_commit(&mbs[i]) < 0)
			break;
	if (i == n)
		return 0;
	saved = errno;
	*failed_login_out = order[i];
	for (i = 0; i < n; i++)
		if (mbox_take_back(&mbs[i], len) < 0)
			log_event(LOG_ERR, "rollback", "mailbox of %s: cannot "
			    "take back an unsynced copy: %s", mbs[i].login,
			    strerror(errno));
	errno = saved;
	return -1;
}

int
deliver(int root_fd, int spool_fd, const struct msg_envelope *env,
    const char *const *logins, size_t n, const char **failed_login_out)
{
	struct msg_headers h;
	struct mbox *mbs = NULL;
	struct wbuf *w = NULL;
	const char **order = NULL;
	size_t i, opened = 0;
	off_t len = 0;
	bool in_memory = false;
	int rc = -1, saved;

	*failed_login_out = NULL;
	if (msg_scan(spool_fd, &h) < 0)
		return -1;
	mbs = calloc(n, sizeof(*mbs));
	order = calloc(n, sizeof(*order));
	w = malloc(sizeof(*w));
	if ((n > 0 && (mbs == NULL || order == NULL)) || w == NULL)
		goto out;
	if (build_record(spool_fd, &h, env, w, &len, &in_memory) < 0)
		goto out;
	/* One global order of locks: two deliveries to the same users can
	 * never each hold a lock the other waits for. */
	for (i = 0; i < n; i++)
		order[i] = logins[i];
	if (n > 1)
		qsort(order, n, sizeof(*order), by_login);
	for (i = 0; i < n; i++) {
		const char *login = order[i];

		if (mbox_open_append(root_fd, login, &mbs[opened]) < 0) {
			*failed_login_out = login;
			goto out;
		}
		opened++;
		if (append_copy(&mbs[opened - 1], spool_fd, &h, env, w, len,
		    in_memory) < 0) {
			*failed_login_out = login;
			goto out;
		}
	}
	if (commit_all(mbs, order, opened, len, failed_login_out) < 0) {
		saved = errno;
		for (i = 0; i < opened; i++)
			mbox_close(&mbs[i]);
		opened = 0;	/* nothing left to roll back */
		errno = saved;
		goto out;
	}
	rc = 0;
out:
	saved = errno;
	for (i = 0; i < opened; i++) {
		if (rc < 0 && mbox_rollback(&mbs[i]) < 0)
			log_event(LOG_ERR, "rollback",
			    "mailbox of %s: cannot cut back to %lld bytes: %s",
			    mbs[i].login, (long long)mbs[i].old_size,
			    strerror(errno));
		mbox_close(&mbs[i]);
	}
	free(w);
	free(order);
	free(mbs);
	errno = saved;
	return rc;
}
