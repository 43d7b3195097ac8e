/* SPDX-License-Identifier: MIT */
/* The plain file-descriptor transport. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "transport.h"
#include "io.h"

/* Let a blocking socket's read(2) wait at most timeout_ms itself
 * (SO_RCVTIMEO): one system call a read instead of poll and read. */
static bool
socket_times_reads(struct fd_transport *t, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
	    .tv_usec = (timeout_ms % 1000) * 1000 };
	int flags;

	if (t->rcvtimeo_ms == timeout_ms)
		return true;
	if (t->no_rcvtimeo || timeout_ms <= 0)
		return false;
	flags = fcntl(t->in_fd, F_GETFL);
	if (flags < 0 || (flags & O_NONBLOCK) || setsockopt(t->in_fd,
	    SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		t->no_rcvtimeo = true;	/* a pipe or a file: poll */
		return false;
	}
	t->rcvtimeo_ms = timeout_ms;
	return true;
}

static ssize_t
fd_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct fd_transport *t = ctx;
	struct pollfd pfd = { .fd = t->in_fd, .events = POLLIN };
	ssize_t n;
	int ready;

	if (socket_times_reads(t, timeout_ms)) {
		do
			n = read(t->in_fd, buf, len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			errno = ETIMEDOUT;
		return n;
	}
	/* poll, never alarm(): the wait is the only place time passes.
	 * Without a timeout (a file being read) read(2) alone will do. */
	while (timeout_ms >= 0) {
		ready = poll(&pfd, 1, timeout_ms);
		if (ready > 0)
			break;
		if (ready == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
	do
		n = read(t->in_fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
fd_write(void *ctx, const void *buf, size_t len)
{
	struct fd_transport *t = ctx;

	return io_write_all(t->out_fd, buf, len);
}

static const struct transport_ops fd_ops = {
	.read = fd_read,
	.write = fd_write,
};

static void
disable_nagle(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int one = 1;

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
		return;			/* not a socket: a pipe or a file */
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return;
	/* Failure only costs latency, never correctness. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static ssize_t
mem_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct mem_transport *t = ctx;
	size_t n = t->in_len - t->in_pos;

	(void)timeout_ms;	/* all the input is there already */
	if (n > len)
		n = len;
	if (n > 0)
		memcpy(buf, t->in + t->in_pos, n);
	t->in_pos += n;
	return (ssize_t)n;
}

static int
mem_write(void *ctx, const void *buf, size_t len)
{
	struct mem_transport *t = ctx;
	size_t room = t->out_len < t->out_size ? t->out_size - t->out_len : 0;

	if (room > 0)
		memcpy(t->out + t->out_len, buf, len < room ? len : room);
	t->out_len += len;
	return 0;
}

static const struct transport_ops mem_ops = {
	.read = mem_read,
	.write = mem_write,
};

void
mem_transport_init(struct mem_transport *t, const void *in, size_t in_len,
    char *out, size_t out_size)
{
	t->base.ops = &mem_ops;
	t->base.ctx = t;
	t->in = in;
	t->in_len = in_len;
	t->in_pos = 0;
	t->out = out;
	t->out_size = out_size;
	t->out_len = 0;
}

void
fd_transport_init(struct fd_transport *t, int in_fd, int out_fd)
{
	t->base.ops = &fd_ops;
	t->base.ctx = t;
	t->in_fd = in_fd;
	t->out_fd = out_fd;
	t->rcvtimeo_ms = -1;
	t->no_rcvtimeo = false;
	if (out_fd >= 0)
		disable_nagle(out_fd);
}
