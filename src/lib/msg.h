/* SPDX-License-Identifier: MIT */
/* The message builder: turns a received message into a mailbox record in
 * the format of sockmail-mailbox(5). */
#ifndef SOCKMAIL_MSG_H
#define SOCKMAIL_MSG_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct wbuf;

enum msg_field { MSG_FROM, MSG_TO, MSG_SUBJECT, MSG_NFIELDS };

/* Where each of From:, To:, Subject: stands in the spooled message. */
struct msg_headers {
	struct {
		bool	found;
		off_t	line_start;	/* first byte of the field */
		off_t	line_end;	/* one past its last LF (folds included) */
		off_t	value_start;	/* first byte of the value, blanks skipped */
		off_t	value_end;	/* one past its last non-blank byte */
	} field[MSG_NFIELDS];
};

/* What the envelope supplies where the message lacks a field. */
struct msg_envelope {
	const char	*from;		/* MAIL FROM address */
	const char	*to;		/* RCPT TO addresses, comma separated */
	time_t		 received;
};

/* Find the first From:, To: and Subject: fields in the header block of the
 * message in fd (un-stuffed lines, each ending in LF). The header block is
 * the leading run of header fields and their folds; it ends at the first
 * line that is neither, such as the empty line. Returns 0, or -1 with errno
 * set. */
int	msg_scan(int fd, struct msg_headers *h_out);

/* Append the mailbox record for the message in fd to w: the three fields
 * (unfolded, or from env), Received:, every other line of the message in
 * order with a leading "." doubled, and the closing ".". Returns 0, or -1
 * with errno set (reading fd failed; w's own errors stay in w). */
int	msg_write_record(int fd, const struct msg_headers *h,
	    const struct msg_envelope *env, struct wbuf *w);

/* Format t as the Received: value, "%Y-%m-%d : %H : %M" in local time. */
void	msg_format_received(time_t t, char *buf, size_t size);

#endif
