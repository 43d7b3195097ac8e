/* SPDX-License-Identifier: MIT */
/* Buffered writes to a file descriptor through a fixed buffer, so a
 * message of any size crosses memory in bounded pieces. */
#ifndef SOCKMAIL_WBUF_H
#define SOCKMAIL_WBUF_H

#include <stdbool.h>
#include <stddef.h>

#define WBUF_SIZE	65536
#define WBUF_MEMORY	(-2)	/* as fd: keep it all in buf (see wbuf_init) */

struct wbuf {
	int		fd;		/* -1: only count */
	size_t		len;
	int		error;		/* first errno seen; 0 while all went well */
	unsigned long long written;	/* bytes written (or counted) so far */
	char		buf[WBUF_SIZE];
};

/* Write all len bytes of data to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int	fd_write_all(int fd, const void *data, size_t len);

/* Write to fd; with fd -1, write nothing and only count what is put, to
 * learn the length of what would be written; with fd WBUF_MEMORY, keep
 * what is put in buf, and fail with EFBIG once it does not fit. */
void	wbuf_init(struct wbuf *w, int fd);

/* Queue len bytes. Errors are sticky: check the result of wbuf_flush. */
void	wbuf_put(struct wbuf *w, const void *data, size_t len);

/* Write what is queued. Returns 0, or -1 with errno set to the first
 * error seen since wbuf_init. */
int	wbuf_flush(struct wbuf *w);

#endif
