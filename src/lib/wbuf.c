/* SPDX-License-Identifier: MIT */
/* Buffered writes to a file descriptor. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "wbuf.h"

void
wbuf_init(struct wbuf *w, int fd)
{
	w->fd = fd;
	w->len = 0;
	w->error = 0;
	w->written = 0;
}

int
fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
write_all(struct wbuf *w, const char *p, size_t len)
{
	if (w->error != 0)
		return;
	if (fd_write_all(w->fd, p, len) < 0)
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
	if (w->fd < 0) {
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
