/* SPDX-License-Identifier: MIT */
/* Buffered writes to a file descriptor through a fixed buffer, so a
 * message of any size crosses memory in bounded pieces. */
#ifndef SOCKMAIL_WBUF_H
#define SOCKMAIL_WBUF_H

#include <stdbool.h>
#include <stddef.h>

#define WBUF_SIZE	65536
#define WBUF_MEMORY	(-2)	/* as fd: keep it all in buf (see wbuf_init) */
#define WBUF_SINK	(-3)	/* as fd: hand full buffers to a sink */

/* Where a sink-mode wbuf sends its bytes: returns 0, or -1 with errno. */
typedef int (*wbuf_sink_fn)(void *arg, const void *data, size_t len);

struct wbuf {
	int		fd;		/* -1: only count */
	wbuf_sink_fn	sink;		/* with fd WBUF_SINK */
	void		*sink_arg;
	size_t		len;
	int		error;		/* first errno seen; 0 while all went well */
	unsigned long long written;	/* bytes written (or counted) so far */
	char		buf[WBUF_SIZE];
};

/* Write to fd; with fd -1, write nothing and only count what is put, to
 * learn the length of what would be written; with fd WBUF_MEMORY, keep
 * what is put in buf, and fail with EFBIG once it does not fit. */
void	wbuf_init(struct wbuf *w, int fd);

/* Write to sink(arg, ...) instead of a file descriptor: a writer that
 * owns its file (the mailbox store) keeps the descriptor to itself. */
void	wbuf_init_sink(struct wbuf *w, wbuf_sink_fn sink, void *arg);

/* The free room at the end of the buffer, flushing it first when full,
 * for a caller that reads straight into it; wbuf_advance then takes the
 * n bytes it put there. Returns NULL after an error (see wbuf_flush). */
char	*wbuf_room(struct wbuf *w, size_t *avail_out);
void	wbuf_advance(struct wbuf *w, size_t n);

/* Queue len bytes. Errors are sticky: check the result of wbuf_flush. */
void	wbuf_put(struct wbuf *w, const void *data, size_t len);

/* Write what is queued. Returns 0, or -1 with errno set to the first
 * error seen since wbuf_init. */
int	wbuf_flush(struct wbuf *w);

#endif
