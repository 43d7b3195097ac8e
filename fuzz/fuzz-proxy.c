/* SPDX-License-Identifier: MIT */
/* libFuzzer: the PROXY protocol header, parsed from memory and read from a
 * pipe; the reader must never take a byte past a header it accepts. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header h, again;
	enum proxy_status st;
	const char *why;
	int p[2];

	(void)proxy_parse(data, size, &h, &why);
	/* A pipe holds 64 KiB; libFuzzer's inputs stay well below. */
	if (size > 65536 || pipe(p) < 0)
		return 0;
	if (size > 0 && write(p[1], data, size) != (ssize_t)size)
		abort();
	(void)close(p[1]);
	st = proxy_read(p[0], 1000, &h, &why);
	(void)close(p[0]);
	if (h.len > size || h.len > PROXY_HEADER_MAX)
		abort();
	/* What the reader accepted is a header in its own right, and the
	 * parser agrees on it. */
	if (st == PROXY_OK && (proxy_parse(data, h.len, &again, &why) !=
	    PROXY_OK || again.has_addr != h.has_addr ||
	    (h.has_addr && memcmp(&again.addr, &h.addr, sizeof(h.addr)) != 0)))
		abort();
	return 0;
}
