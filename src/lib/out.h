/* SPDX-License-Identifier: MIT */
/* Buffered reply output: replies collect in memory and leave in one write
 * when the session is about to wait for input, or when the buffer fills. */
#ifndef SOCKMAIL_OUT_H
#define SOCKMAIL_OUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct transport;

#define OUT_BUF_SIZE	8192
#define OUT_LINE_MAX	1024	/* one reply line, CR LF included */

struct out {
	struct transport	*t;
	int			 timeout_ms;	/* per write; -1: none */
	size_t			 len;
	bool			 failed;	/* a write failed: peer gone */
	char			 buf[OUT_BUF_SIZE];
};

/* Write replies to t; each write must be done within timeout_s (<= 0:
 * no limit), or the peer counts as gone. */
void	out_init(struct out *o, struct transport *t, int timeout_s);

/* Queue len bytes. Returns 0, or -1 once any write has failed. */
int	out_put(struct out *o, const void *data, size_t len);

/* Write everything queued. Returns 0, or -1 once any write has failed. */
int	out_flush(struct out *o);

/* Queue one reply line: fmt formatted into a bounded buffer (a longer line
 * is cut, still one line), CR LF added. Returns as out_put. */
int	out_vline(struct out *o, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

/* out_vline with the arguments given directly. */
int	out_line(struct out *o, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* out_flush for line_reader's before_wait hook. */
int	out_flush_hook(void *o);

#endif
