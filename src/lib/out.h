/* SPDX-License-Identifier: MIT */
/* Buffered reply output: replies collect in memory and leave in one write
 * when the session is about to wait for input, or when the buffer fills. */
#ifndef SOCKMAIL_OUT_H
#define SOCKMAIL_OUT_H

#include <stdbool.h>
#include <stddef.h>

struct transport;

#define OUT_BUF_SIZE	8192

struct out {
	struct transport	*t;
	size_t			 len;
	bool			 failed;	/* a write failed: peer gone */
	char			 buf[OUT_BUF_SIZE];
};

void	out_init(struct out *o, struct transport *t);

/* Queue len bytes. Returns 0, or -1 once any write has failed. */
int	out_put(struct out *o, const void *data, size_t len);

/* Write everything queued. Returns 0, or -1 once any write has failed. */
int	out_flush(struct out *o);

/* out_flush for line_reader's before_wait hook. */
int	out_flush_hook(void *o);

#endif
