/* SPDX-License-Identifier: MIT */
/* The plain file-descriptor transport. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "transport.h"
#include "io.h"

/* Wait until fd is ready for events, at most timeout_ms. Returns 0, or
 * -1 with errno set (ETIMEDOUT when the time ran out). */
static int
wait_ready(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int ready;

	do
		ready = poll(&pfd, 1, timeout_ms);
	while (ready < 0 && errno == EINTR);
	if (ready == 0)
		errno = ETIMEDOUT;
	return ready > 0 ? 0 : -1;
}

/* Let a blocking socket's read(2) wait at most timeout_ms itself
 * (SO_RCVTIMEO): one system call a read instead of poll and read. The
 * option is set once, to the first timeout asked for, which is the whole
 * -t a line starts with; a later wait within a line has less time left,
 * and polls. */
static bool
socket_times_reads(struct fd_transport *t, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
	    .tv_usec = (timeout_ms % 1000) * 1000 };
	int flags;

	if (t->rcvtimeo_ms >= 0 || t->no_rcvtimeo || timeout_ms <= 0)
		return t->rcvtimeo_ms == timeout_ms;
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
	ssize_t n;

	/* poll, never alarm(): the wait is the only place time passes.
	 * Without a timeout (a file being read) read(2) alone will do. */
	if (timeout_ms >= 0 && !socket_times_reads(t, timeout_ms) &&
	    wait_ready(t->in_fd, POLLIN, timeout_ms) < 0)
		return -1;
	do
		n = read(t->in_fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		errno = ETIMEDOUT;	/* SO_RCVTIMEO ran out */
	return n;
}

/* Write what fits now: never blocks on a socket (MSG_DONTWAIT) or on a
 * pipe that poll found writable (PIPE_BUF bytes always fit then). */
static ssize_t
write_ready_part(struct fd_transport *t, const char *p, size_t len)
{
	ssize_t n;

	if (t->out_socket)
		return send(t->out_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	do
		n = write(t->out_fd, p, len < PIPE_BUF ? len : PIPE_BUF);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
fd_write(void *ctx, const void *buf, size_t len, int timeout_ms)
{
	struct fd_transport *t = ctx;
	const char *p = buf;
	struct timespec t0;
	ssize_t n;
	long left;

	if (timeout_ms < 0)
		return io_write_all(t->out_fd, buf, len);
	/* A client that stops reading must not hold the handler: the
	 * whole write has timeout_ms, however the peer drips its window. */
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	while (len > 0) {
		if (!t->out_socket) {
			left = timeout_ms - io_ms_since(&t0);
			if (left <= 0 || wait_ready(t->out_fd, POLLOUT,
			    (int)left) < 0) {
				if (left <= 0)
					errno = ETIMEDOUT;
				return -1;
			}
		}
		n = write_ready_part(t, p, len);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		left = timeout_ms - io_ms_since(&t0);
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (t->out_socket &&
		    wait_ready(t->out_fd, POLLOUT, (int)left) < 0)
			return -1;
	}
	return 0;
}

static const struct transport_ops fd_ops = {
	.read = fd_read,
	.write = fd_write,
};

/* Whether fd is a socket; a TCP one gets Nagle turned off on the way. */
static bool
socket_setup(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int one = 1;

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
		return false;		/* not a socket: a pipe or a file */
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return true;
	/* Failure only costs latency, never correctness. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return true;
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
mem_write(void *ctx, const void *buf, size_t len, int timeout_ms)
{
	struct mem_transport *t = ctx;
	size_t room = t->out_len < t->out_size ? t->out_size - t->out_len : 0;

	(void)timeout_ms;	/* memory is never slow */
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
	t->out_socket = out_fd >= 0 && socket_setup(out_fd);
}
