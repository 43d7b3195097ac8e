/* SPDX-License-Identifier: MIT */
/* The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
 * 2) a load balancer sends before the client's first byte, saying where
 * the connection really came from. Read exactly, never a byte past the
 * header: the session (or its TLS handshake) owns what follows. */
#ifndef SOCKMAIL_PROXY_H
#define SOCKMAIL_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Version 1: one text line, CR LF included (spec 2.1). */
#define PROXY_V1_MAX		107
/* Version 2: the fixed part, then its length field's count of bytes. */
#define PROXY_V2_HEADER		16
/* Addresses and TLVs a version 2 header may carry here. The spec allows
 * 65535; a balancer's addresses (216 bytes at most, for UNIX) and the
 * TLVs HAProxy sends (ALPN, authority, unique ID, TLS details) fit many
 * times over, and a bound keeps a bogus length from holding the session
 * to read 64 KiB of nothing. */
#define PROXY_V2_LEN_MAX	2048
#define PROXY_HEADER_MAX	(PROXY_V2_HEADER + PROXY_V2_LEN_MAX)

struct proxy_header {
	int			 version;	/* 1 or 2; 0: not known yet */
	size_t			 len;		/* bytes of it read */
	/* False for a valid header without the client's address: v1
	 * UNKNOWN, the v2 LOCAL command (a balancer's health check), a v2
	 * family or protocol other than TCP over IPv4 or IPv6. The
	 * connection's own peer stands then. */
	bool			 has_addr;
	struct sockaddr_storage	 addr;	/* AF_INET or AF_INET6, with the port */
};

enum proxy_status {
	PROXY_OK,
	PROXY_BAD,		/* not a header, or a malformed one */
	PROXY_EOF,		/* the input ended inside the header */
	PROXY_TIMEOUT,		/* the whole header did not come in time */
	PROXY_ERR,		/* a read failed: errno says why */
};

/* Parse buf, len bytes that should be exactly one header, v1 or v2: a v1
 * line up to and including its CR LF, or a v2 header with all its length
 * field's bytes. Fills *h_out and returns PROXY_OK, or returns PROXY_BAD
 * with *why_out a constant text saying what is wrong (for a log). */
enum proxy_status proxy_parse(const void *buf, size_t len,
	    struct proxy_header *h_out, const char **why_out);

/* Read one header from fd and parse it, all within timeout_ms (the whole
 * header, not each read). Reads byte by byte where the header's end is
 * not known yet (v1), so nothing after the header is consumed; works on a
 * socket, a pipe or a file. h_out->len says how much was read, whatever
 * the result; *why_out is set for every result but PROXY_OK. */
enum proxy_status proxy_read(int fd, int timeout_ms,
	    struct proxy_header *h_out, const char **why_out);

#endif
