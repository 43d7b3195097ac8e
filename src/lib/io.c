/* SPDX-License-Identifier: MIT */
/* Whole-buffer reads and writes, deadlines, and which addresses are
 * local (see io.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

ssize_t
io_read_some(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	return n;
}

int
io_read_at(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = io_read_some(fd, p, len, off);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Write all len bytes at off, or at the file position when off is -1
 * (a socket, a pipe, a file written in order). */
static int
write_loop(int fd, const void *data, size_t len, off_t off)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

int
io_write_all(int fd, const void *data, size_t len)
{
	return write_loop(fd, data, len, -1);
}

int
io_write_at(int fd, const void *data, size_t len, off_t off)
{
	return write_loop(fd, data, len, off);
}

void
io_close_keep_errno(int fd)
{
	int saved = errno;

	(void)close(fd);
	errno = saved;
}

int
io_timeout_ms(int timeout_s)
{
	if (timeout_s <= 0)
		return -1;
	if (timeout_s > INT_MAX / 1000)
		timeout_s = INT_MAX / 1000;
	return timeout_s * 1000;
}

long
io_ms_since(const struct timespec *t0)
{
	struct timespec now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L +
	    (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

bool
io_addr_is_local(const struct sockaddr_storage *addr)
{
	const struct sockaddr_in6 *sin6;
	const unsigned char *a;

	switch (addr->ss_family) {
	case AF_UNIX:
		return true;
	case AF_INET:
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)addr)->sin_addr;
		return a[0] == 127;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)addr;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		a = sin6->sin6_addr.s6_addr;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && a[12] == 127;
	default:
		return false;
	}
}
