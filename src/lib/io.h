/* SPDX-License-Identifier: MIT */
/* The basic I/O loops every module needs once: read or write a whole
 * buffer, retrying short transfers and EINTR. Nothing here knows what a
 * file holds. */
#ifndef SOCKMAIL_IO_H
#define SOCKMAIL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Read exactly len bytes at off. Returns 0, or -1 with errno set (EIO
 * when the file ends first). */
int	io_read_at(int fd, void *buf, size_t len, off_t off);

/* Read up to len bytes at off, retrying EINTR. Returns how many (0 at the
 * end of the file), or -1 with errno set. */
ssize_t	io_read_some(int fd, void *buf, size_t len, off_t off);

/* Write all len bytes at the file position, or at off (io_write_at).
 * Returns 0, or -1 with errno set. */
int	io_write_all(int fd, const void *data, size_t len);
int	io_write_at(int fd, const void *data, size_t len, off_t off);

/* Milliseconds since t0 on CLOCK_MONOTONIC: for deadlines that span
 * several reads or writes. */
long	io_ms_since(const struct timespec *t0);

/* Seconds as milliseconds for a poll-style timeout: <= 0 means none (-1),
 * and a huge value is capped so the product cannot overflow. */
int	io_timeout_ms(int timeout_s);

struct sockaddr_storage;

/* Whether addr is a loopback address (127/8, ::1, or 127/8 mapped into
 * IPv6) or a UNIX socket's: a peer on this machine. */
bool	io_addr_is_local(const struct sockaddr_storage *addr);

/* close(2) that leaves errno as it was, for error paths. */
void	io_close_keep_errno(int fd);

#endif
