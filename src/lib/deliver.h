/* SPDX-License-Identifier: MIT */
/* All-or-nothing delivery of one message to several local mailboxes. */
#ifndef SOCKMAIL_DELIVER_H
#define SOCKMAIL_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg_envelope;

enum deliver_status {
	DELIVER_OK,		/* every copy is on disk */
	DELIVER_FAILED,		/* errno says why (see below) */
	DELIVER_OVER_QUOTA,	/* a copy would take a mailbox past the
				 * quota: no copy is stored anywhere */
};

/* Append the message spooled in spool_fd to the mailbox of each of the n
 * distinct logins, and fsync every copy, through the store (store.h). The
 * mailboxes are locked in sorted order (so two deliveries never wait on
 * each other) and each copy is written whole under its mailbox's lock;
 * if any copy fails, the copies already written are cut off again where
 * that is still safe.
 *
 * quota (0: none) bounds each mailbox's length in bytes, the record
 * appended and the mailbox's tail dealt with (-q, sockmail-smtpd(8)
 * QUOTAS): a mailbox of exactly quota bytes afterwards is fine, one byte
 * more is not. Every
 * mailbox is first looked at without a lock, so that the usual refusal
 * writes nothing; the check that decides is made under each mailbox's
 * append lock, so concurrent deliveries never take a mailbox past it.
 * When it fails for one mailbox, the copies already written to the others
 * are cut off again (they are not yet published, so that always works;
 * should the cut itself fail, the result is DELIVER_FAILED, never a
 * refusal that left a copy behind).
 *
 * Returns DELIVER_OK; DELIVER_OVER_QUOTA; or DELIVER_FAILED with errno
 * set. In both failures *failed_login_out names the mailbox at fault. */
enum deliver_status deliver(int root_fd, int spool_fd,
	    const struct msg_envelope *env, const char *const *logins,
	    size_t n, uint64_t quota, const char **failed_login_out);

/* Whether login's mailbox is already quota bytes long or longer, so that
 * no message can fit (quota > 0), as far as can be told without a lock
 * (store_size_hint): for refusing a recipient at RCPT. A mailbox whose
 * length cannot be told so is not full here; deliver decides. */
bool	deliver_mailbox_full(int root_fd, const char *login, uint64_t quota);

#endif
