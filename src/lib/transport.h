/* SPDX-License-Identifier: MIT */
/* The byte stream a session talks over: plain file descriptors now, a TLS
 * connection or an in-memory buffer later, swapped in under the line reader
 * and the reply writer without the session noticing. */
#ifndef SOCKMAIL_TRANSPORT_H
#define SOCKMAIL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct transport_ops {
	/* Read at most len bytes, waiting at most timeout_ms (-1: forever).
	 * Returns the count read, 0 at end of input, or -1 with errno set
	 * (ETIMEDOUT when nothing arrived in time). */
	ssize_t	(*read)(void *ctx, void *buf, size_t len, int timeout_ms);
	/* Write all len bytes within timeout_ms in all (-1: no limit),
	 * however slowly the peer reads. Returns 0, or -1 with errno set
	 * (ETIMEDOUT when the time ran out). */
	int	(*write)(void *ctx, const void *buf, size_t len, int timeout_ms);
};

struct transport {
	const struct transport_ops	*ops;
	void				*ctx;
};

/* A transport over two plain descriptors (a socket, a pipe or a file). */
struct fd_transport {
	struct transport	 base;
	int			 in_fd;
	int			 out_fd;
	int			 rcvtimeo_ms;	/* in_fd's SO_RCVTIMEO; -1: none */
	bool			 no_rcvtimeo;	/* not a blocking socket */
	bool			 out_socket;	/* out_fd is a socket */
};

/* Wire t to in_fd and out_fd. When out_fd is a TCP socket, Nagle is turned
 * off: a reply written in two pieces would otherwise wait for the client's
 * delayed ACK (tens of milliseconds per exchange). */
void	fd_transport_init(struct fd_transport *t, int in_fd, int out_fd);

/* A transport over memory, for running a session in-process (tests,
 * fuzzers): reads come from in[0, in_len), never waiting; writes are kept
 * in out (up to out_size bytes; out_len counts all, kept or not). */
struct mem_transport {
	struct transport	 base;
	const char		*in;
	size_t			 in_len, in_pos;
	char			*out;
	size_t			 out_size, out_len;
};

void	mem_transport_init(struct mem_transport *t, const void *in,
	    size_t in_len, char *out, size_t out_size);

static inline ssize_t
transport_read(struct transport *t, void *buf, size_t len, int timeout_ms)
{
	return t->ops->read(t->ctx, buf, len, timeout_ms);
}

static inline int
transport_write(struct transport *t, const void *buf, size_t len,
    int timeout_ms)
{
	return t->ops->write(t->ctx, buf, len, timeout_ms);
}

#endif
