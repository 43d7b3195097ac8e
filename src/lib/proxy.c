/* SPDX-License-Identifier: MIT */
/* Reading and parsing the PROXY protocol header, versions 1 and 2. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "proxy.h"
#include "str.h"

/* Spec 2.2: chosen so that no text protocol parses it as a command. */
static const unsigned char v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN	(sizeof(v1_sig) - 1)

/* The log texts below spell the limits out. */
_Static_assert(PROXY_V1_MAX == 107 && PROXY_V2_LEN_MAX == 2048,
    "proxy.c's messages name the limits");

/* The 13th byte: version (high nibble) and command; the 14th: address
 * family (high nibble) and transport protocol. */
#define V2_VERSION	0x2
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_AF_UNSPEC	0x0
#define V2_AF_INET	0x1
#define V2_AF_INET6	0x2
#define V2_AF_UNIX	0x3
#define V2_PROTO_UNSPEC	0x0
#define V2_PROTO_STREAM	0x1
#define V2_PROTO_DGRAM	0x2

/* The address block of each family: two addresses, then two ports for
 * INET and INET6. */
#define V2_INET_LEN	(2 * 4 + 2 * 2)
#define V2_INET6_LEN	(2 * 16 + 2 * 2)
#define V2_UNIX_LEN	(2 * 108)

static enum proxy_status
bad(const char **why_out, const char *why)
{
	*why_out = why;
	return PROXY_BAD;
}

/* A v1 port: decimal, 0..65535, no leading zero (spec 2.1: it could be
 * taken for octal). */
static int
parse_port(const char *s, uint16_t *port_out)
{
	uint64_t n;

	if (parse_uint(s, UINT16_MAX, &n) != PARSE_UINT_OK ||
	    (s[0] == '0' && s[1] != '\0'))
		return -1;
	*port_out = (uint16_t)n;
	return 0;
}

/* Split line at single spaces into at most max fields. Returns how many,
 * or -1 when a field is empty (two spaces, or one at an end). */
static int
split_fields(char *line, char **field, int max)
{
	int n = 0;
	char *sp;

	for (;;) {
		if (n == max)
			return -1;
		field[n++] = line;
		sp = strchr(line, ' ');
		if (sp != NULL)
			*sp = '\0';
		if (line[0] == '\0')
			return -1;
		if (sp == NULL)
			return n;
		line = sp + 1;
	}
}

static enum proxy_status
parse_v1(const char *buf, size_t len, struct proxy_header *h,
    const char **why_out)
{
	char line[PROXY_V1_MAX + 1], *field[5];
	unsigned char dst[sizeof(struct in6_addr)];
	const char *lf;
	void *src;
	uint16_t sport, dport, *port;
	int af, n;

	if (len > PROXY_V1_MAX)
		return bad(why_out, "v1 line longer than 107 bytes");
	lf = memchr(buf, '\n', len);
	if (lf == NULL)
		return bad(why_out, "v1 line without CR LF");
	if (lf != buf + len - 1)
		return bad(why_out, "bytes after the v1 line's LF");
	/* Spec 2.1: a lone LF must not end the line. */
	if (len < 2 || buf[len - 2] != '\r')
		return bad(why_out, "v1 line ends in a bare LF");
	if (len < V1_SIG_LEN + 2 || memcmp(buf, v1_sig, V1_SIG_LEN) != 0)
		return bad(why_out, "not a PROXY header");
	/* "UNKNOWN": whatever follows up to the CR LF is to be ignored. */
	if (len - 2 >= V1_SIG_LEN + 7 &&
	    memcmp(buf + V1_SIG_LEN, "UNKNOWN", 7) == 0 &&
	    (len - 2 == V1_SIG_LEN + 7 || buf[V1_SIG_LEN + 7] == ' ')) {
		h->has_addr = false;
		return PROXY_OK;
	}
	if (memchr(buf, '\0', len) != NULL)
		return bad(why_out, "NUL in the v1 line");
	memcpy(line, buf + V1_SIG_LEN, len - 2 - V1_SIG_LEN);
	line[len - 2 - V1_SIG_LEN] = '\0';
	n = split_fields(line, field, 5);
	if (n != 5)
		return bad(why_out, "v1 line is not protocol, two addresses "
		    "and two ports, each after one space");
	if (strcmp(field[0], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(field[0], "TCP6") == 0)
		af = AF_INET6;
	else
		return bad(why_out, "v1 protocol not TCP4, TCP6 or UNKNOWN");
	memset(&h->addr, 0, sizeof(h->addr));
	if (af == AF_INET) {
		src = &((struct sockaddr_in *)&h->addr)->sin_addr;
		port = &((struct sockaddr_in *)&h->addr)->sin_port;
	} else {
		src = &((struct sockaddr_in6 *)&h->addr)->sin6_addr;
		port = &((struct sockaddr_in6 *)&h->addr)->sin6_port;
	}
	if (inet_pton(af, field[1], src) != 1)
		return bad(why_out, "bad v1 source address");
	if (inet_pton(af, field[2], dst) != 1)	/* checked, not used */
		return bad(why_out, "bad v1 destination address");
	if (parse_port(field[3], &sport) < 0)
		return bad(why_out, "bad v1 source port");
	if (parse_port(field[4], &dport) < 0)	/* checked, not used */
		return bad(why_out, "bad v1 destination port");
	h->addr.ss_family = (sa_family_t)af;
	*port = htons(sport);
	h->has_addr = true;
	return PROXY_OK;
}

/* Check the fixed 16 bytes of a v2 header; *len_out is its length field,
 * the count of bytes that follow. */
static enum proxy_status
check_v2_fixed(const unsigned char *buf, size_t *len_out,
    const char **why_out)
{
	if (memcmp(buf, v2_sig, sizeof(v2_sig)) != 0)
		return bad(why_out, "not a PROXY header");
	/* Spec 2.2: the receiver must only accept version 2. */
	if (buf[12] >> 4 != V2_VERSION)
		return bad(why_out, "v2 signature with a version other than 2");
	*len_out = (size_t)buf[14] << 8 | buf[15];
	if (*len_out > PROXY_V2_LEN_MAX)
		return bad(why_out, "v2 header longer than 2048 bytes after "
		    "its first 16");
	return PROXY_OK;
}

static enum proxy_status
parse_v2(const unsigned char *buf, size_t len, struct proxy_header *h,
    const char **why_out)
{
	const unsigned char *a;
	size_t alen, need, p, tlen;
	unsigned cmd, fam, proto;

	if (len < PROXY_V2_HEADER)
		return bad(why_out, "v2 header shorter than 16 bytes");
	if (check_v2_fixed(buf, &alen, why_out) != PROXY_OK)
		return PROXY_BAD;
	if (len != PROXY_V2_HEADER + alen)
		return bad(why_out, "v2 length field does not match the header");
	cmd = buf[12] & 0x0f;
	fam = buf[13] >> 4;
	proto = buf[13] & 0x0f;
	h->has_addr = false;
	/* LOCAL: the balancer's own connection (a health check); the block
	 * is ignored, the family included. */
	if (cmd == V2_CMD_LOCAL)
		return PROXY_OK;
	if (cmd != V2_CMD_PROXY)
		return bad(why_out, "v2 command neither LOCAL nor PROXY");
	if (fam > V2_AF_UNIX)
		return bad(why_out, "unknown v2 address family");
	if (proto > V2_PROTO_DGRAM)
		return bad(why_out, "unknown v2 transport protocol");
	/* UNSPEC in either half: the addresses, if any, are to be ignored,
	 * and where they end is not known, so neither are the TLVs. */
	if (fam == V2_AF_UNSPEC || proto == V2_PROTO_UNSPEC)
		return PROXY_OK;
	need = fam == V2_AF_INET ? V2_INET_LEN :
	    fam == V2_AF_INET6 ? V2_INET6_LEN : V2_UNIX_LEN;
	if (alen < need)
		return bad(why_out, "v2 length too short for its address family");
	/* The TLVs after the addresses are skipped, but must fit. */
	for (p = PROXY_V2_HEADER + need; p < len; p += 3 + tlen) {
		if (len - p < 3)
			return bad(why_out, "v2 TLV cut short");
		tlen = (size_t)buf[p + 1] << 8 | buf[p + 2];
		if (tlen > len - p - 3)
			return bad(why_out, "v2 TLV runs past the header");
	}
	/* Spec 2.2: a receiver may fall back to the connection's own
	 * endpoints for what it does not implement: UDP and UNIX here. */
	if (proto != V2_PROTO_STREAM || fam == V2_AF_UNIX)
		return PROXY_OK;
	a = buf + PROXY_V2_HEADER;
	memset(&h->addr, 0, sizeof(h->addr));
	if (fam == V2_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&h->addr;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
		memcpy(&sin->sin_port, a + 8, 2);	/* both in network order */
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&h->addr;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a, 16);
		memcpy(&sin6->sin6_port, a + 32, 2);
	}
	h->has_addr = true;
	return PROXY_OK;
}

enum proxy_status
proxy_parse(const void *buf, size_t len, struct proxy_header *h_out,
    const char **why_out)
{
	const unsigned char *b = buf;

	memset(h_out, 0, sizeof(*h_out));
	h_out->len = len;
	*why_out = NULL;
	if (len >= sizeof(v2_sig) && memcmp(b, v2_sig, sizeof(v2_sig)) == 0) {
		h_out->version = 2;
		return parse_v2(b, len, h_out, why_out);
	}
	if (len >= 5 && memcmp(b, "PROXY", 5) == 0) {
		h_out->version = 1;
		return parse_v1(buf, len, h_out, why_out);
	}
	return bad(why_out, "not a PROXY header");
}

/* Where proxy_read is: the descriptor and the header's deadline. */
struct reader {
	int		 fd;
	int		 timeout_ms;
	struct timespec	 t0;
};

static long
ms_left(const struct reader *r)
{
	long spent = io_ms_since(&r->t0);

	return spent < r->timeout_ms ? r->timeout_ms - spent : 0;
}

/* Read exactly n bytes to buf + h->len, counting them in h->len. */
static enum proxy_status
read_exact(const struct reader *r, unsigned char *buf, size_t n,
    struct proxy_header *h, const char **why_out)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	ssize_t got;
	int ready;

	while (n > 0) {
		/* poll, never alarm(); the time left is the whole header's. */
		ready = poll(&pfd, 1, (int)ms_left(r));
		if (ready == 0) {
			*why_out = "timed out";
			return PROXY_TIMEOUT;
		}
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			*why_out = "poll failed";
			return PROXY_ERR;
		}
		got = read(r->fd, buf + h->len, n);
		if (got < 0) {
			/* A non-blocking descriptor may wake up for nothing. */
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			*why_out = "read failed";
			return PROXY_ERR;
		}
		if (got == 0) {
			*why_out = "the input ended inside the header";
			return PROXY_EOF;
		}
		h->len += (size_t)got;
		n -= (size_t)got;
	}
	return PROXY_OK;
}

enum proxy_status
proxy_read(int fd, int timeout_ms, struct proxy_header *h_out,
    const char **why_out)
{
	unsigned char buf[PROXY_HEADER_MAX];
	struct reader r = { .fd = fd, .timeout_ms = timeout_ms };
	enum proxy_status st;
	size_t i, alen;

	memset(h_out, 0, sizeof(*h_out));
	*why_out = NULL;
	(void)clock_gettime(CLOCK_MONOTONIC, &r.t0);
	if ((st = read_exact(&r, buf, 1, h_out, why_out)) != PROXY_OK)
		return st;
	if (buf[0] == (unsigned char)v1_sig[0]) {
		h_out->version = 1;
		/* The line's end is known only when its LF comes: one byte
		 * at a time, so the session's first byte stays unread. The
		 * signature is checked on the way, so that a client speaking
		 * SMTP or POP3 itself is turned away at once. */
		for (;;) {
			i = h_out->len - 1;
			if (i < V1_SIG_LEN && buf[i] != (unsigned char)v1_sig[i])
				return bad(why_out, "not a PROXY header");
			if (buf[i] == '\n')
				break;
			if (h_out->len == PROXY_V1_MAX)
				return bad(why_out, "no CR LF in the first 107 "
				    "bytes of a v1 line");
			st = read_exact(&r, buf, 1, h_out, why_out);
			if (st != PROXY_OK)
				return st;
		}
	} else if (buf[0] == v2_sig[0]) {
		h_out->version = 2;
		st = read_exact(&r, buf, PROXY_V2_HEADER - 1, h_out, why_out);
		if (st != PROXY_OK)
			return st;
		if (check_v2_fixed(buf, &alen, why_out) != PROXY_OK)
			return PROXY_BAD;
		st = read_exact(&r, buf, alen, h_out, why_out);
		if (st != PROXY_OK)
			return st;
	} else
		return bad(why_out, "not a PROXY header");
	return proxy_parse(buf, h_out->len, h_out, why_out);
}
