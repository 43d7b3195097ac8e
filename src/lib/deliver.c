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
#include "msg.h"
#include "store.h"
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

/* Write the record (len bytes) into the room the store made for it. */
static int
write_copy(struct store_append *a, int spool_fd, const struct msg_headers *h,
    const struct msg_envelope *env, struct wbuf *w, off_t len, bool in_memory)
{
	if (in_memory)
		return store_append_write(a, w->buf, (size_t)len);
	wbuf_init_sink(w, store_append_write, a);
	if (msg_write_record(spool_fd, h, env, w) < 0) {
		int saved = errno;

		(void)wbuf_flush(w);
		errno = saved;
		return -1;
	}
	return wbuf_flush(w);
}

/* Publish every copy (each lets go of its APPEND lock), then make them
 * durable: deliveries to one mailbox so share the disk's flushes (one
 * journal commit covers several fsyncs) instead of queueing for one flush
 * each, while PENDING keeps every reader out until ours are settled
 * (store.h). If a copy fails, every copy is taken back where it is still
 * the mailbox's last bytes; where mail was appended after it, it stays,
 * and a retry may deliver it twice, which beats cutting out another
 * delivery. Returns 0, or -1 with errno set. */
static int
commit_all(struct store_append *as, const char **order, size_t n,
    const char **failed_login_out)
{
	size_t i;
	int saved;

	for (i = 0; i < n; i++)
		if (store_append_publish(&as[i]) < 0)
			break;
	if (i == n)
		for (i = 0; i < n; i++)
			if (store_append_commit(&as[i]) < 0)
				break;
	if (i == n)
		return 0;
	saved = errno;
	*failed_login_out = order[i];
	for (i = 0; i < n; i++)
		if (store_append_take_back(&as[i]) < 0)
			log_event(LOG_ERR, "rollback", "mailbox of %s: cannot "
			    "take back a copy that failed: %s; it stays",
			    as[i].box.login, strerror(errno));
	errno = saved;
	return -1;
}

/* The quota as a file length: the option allows no more than INT64_MAX,
 * and anything larger is no bound at all. */
static off_t
quota_length(uint64_t quota)
{
	return quota > (uint64_t)INT64_MAX ? 0 : (off_t)quota;
}

/* Before any lock: a copy of len bytes that cannot fit, where that can be
 * told from the mailbox alone (store_size_hint), refuses the message at
 * no cost; the check under the lock still decides. Returns the login at
 * fault, or NULL. */
static const char *
over_quota_early(int root_fd, const char *const *logins, size_t n, off_t len,
    off_t quota)
{
	off_t size;
	size_t i;

	for (i = 0; i < n; i++)
		if (len > quota || (store_size_hint(root_fd, logins[i],
		    &size) == 1 && size > quota - len))
			return logins[i];
	return NULL;
}

bool
deliver_mailbox_full(int root_fd, const char *login, uint64_t quota)
{
	off_t max = quota_length(quota), size;

	return max > 0 && store_size_hint(root_fd, login, &size) == 1 &&
	    size >= max;
}

enum deliver_status
deliver(int root_fd, int spool_fd, const struct msg_envelope *env,
    const char *const *logins, size_t n, uint64_t quota,
    const char **failed_login_out)
{
	struct msg_headers h;
	struct store_append *as = NULL;
	struct wbuf *w = NULL;
	const char **order = NULL;
	const off_t max = quota_length(quota);
	enum deliver_status status = DELIVER_FAILED;
	size_t i, opened = 0;
	off_t len = 0;
	bool in_memory = false;
	int saved, cut_errno;

	*failed_login_out = NULL;
	if (msg_scan(spool_fd, &h) < 0)
		return DELIVER_FAILED;
	as = calloc(n, sizeof(*as));
	order = calloc(n, sizeof(*order));
	w = malloc(sizeof(*w));
	if ((n > 0 && (as == NULL || order == NULL)) || w == NULL)
		goto out;
	if (build_record(spool_fd, &h, env, w, &len, &in_memory) < 0)
		goto out;
	if (max > 0 && (*failed_login_out = over_quota_early(root_fd, logins,
	    n, len, max)) != NULL) {
		status = DELIVER_OVER_QUOTA;
		goto out;
	}
	/* One global order of locks: two deliveries to the same users can
	 * never each hold a lock the other waits for. */
	for (i = 0; i < n; i++)
		order[i] = logins[i];
	if (n > 1)
		qsort(order, n, sizeof(*order), by_login);
	for (i = 0; i < n; i++) {
		switch (store_append_begin_max(root_fd, order[i], len, max,
		    &as[i])) {
		case 0:
			break;
		case 1:
			/* The copies written so far are not yet published:
			 * the abort below cuts each off. */
			*failed_login_out = order[i];
			status = DELIVER_OVER_QUOTA;
			goto out;
		default:
			*failed_login_out = order[i];
			goto out;
		}
		opened++;
		if (write_copy(&as[i], spool_fd, &h, env, w, len,
		    in_memory) < 0) {
			*failed_login_out = order[i];
			goto out;
		}
	}
	if (commit_all(as, order, opened, failed_login_out) == 0)
		status = DELIVER_OK;
	else {
		/* Taken back or not, every copy is settled: nothing is left
		 * for the abort below. */
		for (i = 0; i < opened; i++)
			store_append_end(&as[i]);
		opened = 0;
	}
out:
	saved = errno;
	for (i = 0; i < opened; i++) {
		if (status != DELIVER_OK && store_append_abort(&as[i]) < 0) {
			cut_errno = errno;
			log_event(LOG_ERR, "rollback",
			    "mailbox of %s: cannot cut back to %lld bytes: %s",
			    as[i].box.login, (long long)as[i].start,
			    strerror(cut_errno));
			/* A copy stays: the sender must not be told that
			 * the message was refused, but to try again. */
			if (status == DELIVER_OVER_QUOTA) {
				status = DELIVER_FAILED;
				saved = cut_errno;
				*failed_login_out = order[i];
			}
		}
		store_append_end(&as[i]);
	}
	free(w);
	free(order);
	free(as);
	errno = saved;
	return status;
}
