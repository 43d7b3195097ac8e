/* SPDX-License-Identifier: MIT */
/* Buffered reply output. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "io.h"
#include "out.h"
#include "transport.h"

void
out_init(struct out *o, struct transport *t, int timeout_s)
{
	o->t = t;
	o->timeout_ms = io_timeout_ms(timeout_s);
	o->len = 0;
	o->failed = false;
}

int
out_flush(struct out *o)
{
	if (o->failed)
		return -1;
	if (o->len == 0)
		return 0;
	if (transport_write(o->t, o->buf, o->len, o->timeout_ms) < 0) {
		o->failed = true;
		return -1;
	}
	o->len = 0;
	return 0;
}

int
out_flush_hook(void *o)
{
	return out_flush(o);
}

int
out_vline(struct out *o, const char *fmt, va_list ap)
{
	char line[OUT_LINE_MAX];
	int n;

	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 3;	/* cut, still one line */
	line[n++] = '\r';
	line[n++] = '\n';
	return out_put(o, line, (size_t)n);
}

int
out_line(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = out_vline(o, fmt, ap);
	va_end(ap);
	return rc;
}

int
out_put(struct out *o, const void *data, size_t len)
{
	if (o->failed)
		return -1;
	if (len > sizeof(o->buf) - o->len && out_flush(o) < 0)
		return -1;
	if (len > sizeof(o->buf)) {
		if (transport_write(o->t, data, len, o->timeout_ms) < 0) {
			o->failed = true;
			return -1;
		}
		return 0;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}
