/* SPDX-License-Identifier: MIT */
/* Buffered writes to a file descriptor. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "wbuf.h"

void
wbuf_init(struct wbuf *w, int fd)
{
	w->fd = fd;
	w->sink = NULL;
	w->sink_arg = NULL;
	w->len = 0;
	w->error = 0;
	w->written = 0;
}

void
wbuf_init_sink(struct wbuf *w, wbuf_sink_fn sink, void *arg)
{
	wbuf_init(w, WBUF_SINK);
	w->sink = sink;
	w->sink_arg = arg;
}

static void
write_all(struct wbuf *w, const char *p, size_t len)
{
	if (w->error != 0)
		return;
	if ((w->fd == WBUF_SINK ? w->sink(w->sink_arg, p, len) :
	    io_write_all(w->fd, p, len)) < 0)
		w->error = errno;
	else
		w->written += len;
}

void
wbuf_put(struct wbuf *w, const void *data, size_t len)
{
	if (w->error != 0)
		return;
	if (w->fd == WBUF_MEMORY && len > sizeof(w->buf) - w->len) {
		w->error = EFBIG;
		return;
	}
	if (w->fd < 0 && w->fd != WBUF_SINK) {
		if (w->fd == WBUF_MEMORY) {
			memcpy(w->buf + w->len, data, len);
			w->len += len;
		}
		w->written += len;
		return;
	}
	if (len > sizeof(w->buf) - w->len) {
		write_all(w, w->buf, w->len);
		w->len = 0;
	}
	if (len > sizeof(w->buf)) {
		write_all(w, data, len);
		return;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
}

int
wbuf_flush(struct wbuf *w)
{
	if (w->fd == WBUF_MEMORY) {
		errno = w->error;
		return w->error != 0 ? -1 : 0;
	}
	write_all(w, w->buf, w->len);
	w->len = 0;
	if (w->error != 0) {
		errno = w->error;
		return -1;
	}
	return 0;
}

char *
wbuf_room(struct wbuf *w, size_t *avail_out)
{
	if (w->len == sizeof(w->buf) && wbuf_flush(w) < 0)
		return NULL;
	if (w->error != 0)
		return NULL;
	*avail_out = sizeof(w->buf) - w->len;
	return w->buf + w->len;
}

void
wbuf_advance(struct wbuf *w, size_t n)
{
	w->len += n;
}
