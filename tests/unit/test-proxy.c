/* SPDX-License-Identifier: MIT */
/* Unit tests for proxy: parsing v1 and v2 headers from memory, good and
 * malformed, and reading them from pipes and sockets exactly, within the
 * deadline. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "proxy.h"
#include "tap.h"

#define SIG2	"\r\n\r\n\0\r\nQUIT\n"

/* --- helpers ------------------------------------------------------------ */

/* The source address of h as text with its port, "addr port"; "none"
 * without one. */
static const char *
source(const struct proxy_header *h)
{
	static char buf[INET6_ADDRSTRLEN + 16];
	char a[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&h->addr;
	const struct sockaddr_in6 *sin6 =
	    (const struct sockaddr_in6 *)&h->addr;

	if (!h->has_addr)
		return "none";
	if (h->addr.ss_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)) != NULL)
		(void)snprintf(buf, sizeof(buf), "%s %u", a,
		    (unsigned)ntohs(sin->sin_port));
	else if (h->addr.ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)) != NULL)
		(void)snprintf(buf, sizeof(buf), "%s %u", a,
		    (unsigned)ntohs(sin6->sin6_port));
	else
		(void)snprintf(buf, sizeof(buf), "family %d",
		    h->addr.ss_family);
	return buf;
}

/* A v2 header in out: the signature, ver_cmd, fam, the length field
 * len_field, then body (body_len bytes). Returns its size. */
static size_t
v2(unsigned char *out, unsigned ver_cmd, unsigned fam, size_t len_field,
    const void *body, size_t body_len)
{
	memcpy(out, SIG2, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(len_field >> 8);
	out[15] = (unsigned char)len_field;
	if (body_len > 0)
		memcpy(out + 16, body, body_len);
	return 16 + body_len;
}

/* 192.0.2.7:56324 -> 198.51.100.1:25, the v2 INET address block. */
static const unsigned char inet_block[12] = {
	192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0, 25
};

/* 2001:db8::7:1234 -> 2001:db8::1:110, the v2 INET6 address block. */
static const unsigned char inet6_block[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x04, 0xd2, 0, 110
};

/* Parse the text s (its strlen) and check the result. */
static void
good_v1(const char *s, const char *want, const char *name)
{
	struct proxy_header h;
	const char *why;
	enum proxy_status st = proxy_parse(s, strlen(s), &h, &why);

	ok(st == PROXY_OK && h.version == 1 && h.len == strlen(s) &&
	    strcmp(source(&h), want) == 0, "v1 %s: %s", name, source(&h));
	if (st != PROXY_OK)
		printf("# %s\n", why);
}

static void
bad_buf(const void *buf, size_t len, const char *want_why, const char *name)
{
	struct proxy_header h;
	const char *why = NULL;
	enum proxy_status st = proxy_parse(buf, len, &h, &why);

	ok(st == PROXY_BAD && why != NULL && strcmp(why, want_why) == 0,
	    "%s: \"%s\"", name, why != NULL ? why : "(accepted)");
}

static void
bad_v1(const char *s, const char *want_why, const char *name)
{
	bad_buf(s, strlen(s), want_why, name);
}

static void
good_v2(const void *buf, size_t len, const char *want, const char *name)
{
	struct proxy_header h;
	const char *why;
	enum proxy_status st = proxy_parse(buf, len, &h, &why);

	ok(st == PROXY_OK && h.version == 2 && h.len == len &&
	    strcmp(source(&h), want) == 0, "v2 %s: %s", name, source(&h));
	if (st != PROXY_OK)
		printf("# %s\n", why);
}

/* --- parsing ------------------------------------------------------------ */

static void
test_v1(void)
{
	static const char nul[] = "PROXY TCP4 192.0.2.7\0 198.51.100.1 1 25\r\n";
	char buf[256];

	good_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n",
	    "192.0.2.7 56324", "TCP4");
	good_v1("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
	    "0.0.0.0 0", "TCP4, the smallest and largest numbers");
	good_v1("PROXY TCP6 2001:db8::7 2001:db8::1 1234 110\r\n",
	    "2001:db8::7 1234", "TCP6");
	good_v1("PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::1 1 2\r\n",
	    "2001:db8::7 1", "TCP6 in full, upper case");
	good_v1("PROXY TCP6 ::ffff:127.0.0.1 ::1 1 2\r\n",
	    "::ffff:127.0.0.1 1", "TCP6, a v4-mapped address");
	good_v1("PROXY UNKNOWN\r\n", "none", "UNKNOWN, short");
	good_v1("PROXY UNKNOWN 192.0.2.7 198.51.100.1 56324 25\r\n", "none",
	    "UNKNOWN with addresses, ignored");
	good_v1("PROXY UNKNOWN whatever \x01 junk\r\n", "none",
	    "UNKNOWN with junk, ignored");
	/* Spec 2.1: the worst case is 107 bytes. */
	(void)snprintf(buf, sizeof(buf), "PROXY UNKNOWN %s %s 65535 65535\r\n",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	ok(strlen(buf) == PROXY_V1_MAX, "the worst case is %zu bytes",
	    strlen(buf));
	good_v1(buf, "none", "UNKNOWN, 107 bytes");
	(void)snprintf(buf, sizeof(buf), "PROXY TCP6 %s %s 65535 65535\r\n",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	good_v1(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
	    "TCP6, the longest addresses");

	(void)snprintf(buf, sizeof(buf), "PROXY UNKNOWN %s %s 65535 655351\r\n",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	bad_v1(buf, "v1 line longer than 107 bytes", "108 bytes");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25",
	    "v1 line without CR LF", "no line ending");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r",
	    "v1 line without CR LF", "a CR, no LF");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\n",
	    "v1 line ends in a bare LF", "a bare LF");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\nEHLO x\r\n",
	    "bytes after the v1 line's LF", "more after the line");
	bad_v1("PROXY\r\n", "not a PROXY header", "PROXY alone");
	bad_v1("PROXY\tTCP4 192.0.2.7 198.51.100.1 56324 25\r\n",
	    "not a PROXY header", "a tab after PROXY");
	bad_v1("PROXY  TCP4 192.0.2.7 198.51.100.1 56324 25\r\n",
	    "v1 line is not protocol, two addresses and two ports, each "
	    "after one space", "two spaces");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25 \r\n",
	    "v1 line is not protocol, two addresses and two ports, each "
	    "after one space", "a space at the end");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",
	    "v1 line is not protocol, two addresses and two ports, each "
	    "after one space", "one port");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25 26\r\n",
	    "v1 line is not protocol, two addresses and two ports, each "
	    "after one space", "three ports");
	bad_v1("PROXY TCP4\r\n",
	    "v1 line is not protocol, two addresses and two ports, each "
	    "after one space", "TCP4 without addresses");
	bad_v1("PROXY TCP5 192.0.2.7 198.51.100.1 56324 25\r\n",
	    "v1 protocol not TCP4, TCP6 or UNKNOWN", "TCP5");
	bad_v1("PROXY tcp4 192.0.2.7 198.51.100.1 56324 25\r\n",
	    "v1 protocol not TCP4, TCP6 or UNKNOWN", "tcp4 in lower case");
	bad_v1("PROXY UNKNOWNX\r\n",
	    "v1 line is not protocol, two addresses and two ports, each "
	    "after one space", "UNKNOWNX");
	bad_v1("PROXY TCP4 2001:db8::7 198.51.100.1 56324 25\r\n",
	    "bad v1 source address", "TCP4 with an IPv6 source");
	bad_v1("PROXY TCP6 192.0.2.7 2001:db8::1 56324 25\r\n",
	    "bad v1 source address", "TCP6 with an IPv4 source");
	bad_v1("PROXY TCP4 192.0.2.256 198.51.100.1 56324 25\r\n",
	    "bad v1 source address", "an octet over 255");
	bad_v1("PROXY TCP4 192.0.2.07 198.51.100.1 56324 25\r\n",
	    "bad v1 source address", "a leading zero in an octet");
	bad_v1("PROXY TCP4 192.0.2 198.51.100.1 56324 25\r\n",
	    "bad v1 source address", "three octets");
	bad_v1("PROXY TCP4 mail.example 198.51.100.1 56324 25\r\n",
	    "bad v1 source address", "a host name");
	bad_v1("PROXY TCP6 2001:db8::7::1 ::1 56324 25\r\n",
	    "bad v1 source address", "two :: in an IPv6 address");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100 56324 25\r\n",
	    "bad v1 destination address", "a bad destination");
	bad_v1("PROXY TCP6 2001:db8::7 198.51.100.1 56324 25\r\n",
	    "bad v1 destination address", "TCP6 with an IPv4 destination");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n",
	    "bad v1 source port", "port 65536");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 056324 25\r\n",
	    "bad v1 source port", "a port with a leading zero");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 00 25\r\n",
	    "bad v1 source port", "port 00");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 -1 25\r\n",
	    "bad v1 source port", "a negative port");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 +1 25\r\n",
	    "bad v1 source port", "a port with a sign");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 12x 25\r\n",
	    "bad v1 source port", "a port with junk");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 1 99999999999999999999\r\n",
	    "bad v1 destination port", "a huge destination port");
	bad_v1("PROXY TCP4 192.0.2.7 198.51.100.1 1 025\r\n",
	    "bad v1 destination port", "a destination port with a leading zero");
	bad_buf(nul, sizeof(nul) - 1, "NUL in the v1 line", "a NUL");
	bad_v1("HELO client.example\r\n", "not a PROXY header", "SMTP");
	bad_v1("", "not a PROXY header", "nothing");
}

static void
test_v2(void)
{
	unsigned char b[PROXY_HEADER_MAX + 64], body[PROXY_HEADER_MAX];
	size_t n;

	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	good_v2(b, n, "192.0.2.7 56324", "PROXY, TCP over IPv4");
	n = v2(b, 0x21, 0x21, 36, inet6_block, 36);
	good_v2(b, n, "2001:db8::7 1234", "PROXY, TCP over IPv6");

	/* TLVs: ALPN "smtp", an empty NOOP, an authority. */
	memcpy(body, inet_block, 12);
	memcpy(body + 12, "\x01\x00\x04smtp" "\x04\x00\x00"
	    "\x02\x00\x0cmail.example", 7 + 3 + 15);
	n = v2(b, 0x21, 0x11, 12 + 25, body, 12 + 25);
	good_v2(b, n, "192.0.2.7 56324", "IPv4 with three TLVs");
	memcpy(body, inet6_block, 36);
	memcpy(body + 36, "\x04\x00\x00", 3);
	n = v2(b, 0x21, 0x21, 39, body, 39);
	good_v2(b, n, "2001:db8::7 1234", "IPv6 with an empty TLV at the end");
	/* The most this reader takes: addresses and one TLV, 2048 bytes. */
	memset(body, 'x', sizeof(body));
	memcpy(body, inet_block, 12);
	body[12] = 0x04;
	body[13] = (unsigned char)((PROXY_V2_LEN_MAX - 15) >> 8);
	body[14] = (unsigned char)(PROXY_V2_LEN_MAX - 15);
	n = v2(b, 0x21, 0x11, PROXY_V2_LEN_MAX, body, PROXY_V2_LEN_MAX);
	good_v2(b, n, "192.0.2.7 56324", "2048 bytes after the fixed part");

	n = v2(b, 0x20, 0x00, 0, NULL, 0);
	good_v2(b, n, "none", "LOCAL");
	n = v2(b, 0x20, 0x11, 12, inet_block, 12);
	good_v2(b, n, "none", "LOCAL with addresses, ignored");
	n = v2(b, 0x20, 0xff, 3, "abc", 3);
	good_v2(b, n, "none", "LOCAL with any family, ignored");
	n = v2(b, 0x21, 0x00, 0, NULL, 0);
	good_v2(b, n, "none", "PROXY, UNSPEC");
	n = v2(b, 0x21, 0x00, 12, inet_block, 12);
	good_v2(b, n, "none", "PROXY, UNSPEC with bytes, ignored");
	n = v2(b, 0x21, 0x10, 12, inet_block, 12);
	good_v2(b, n, "none", "PROXY, IPv4 with an UNSPEC protocol");
	n = v2(b, 0x21, 0x12, 12, inet_block, 12);
	good_v2(b, n, "none", "PROXY, UDP over IPv4");
	n = v2(b, 0x21, 0x22, 36, inet6_block, 36);
	good_v2(b, n, "none", "PROXY, UDP over IPv6");
	memset(body, 0, 216);
	memcpy(body, "/run/haproxy.sock", 17);
	n = v2(b, 0x21, 0x31, 216, body, 216);
	good_v2(b, n, "none", "PROXY, UNIX stream");

	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	b[4] = 'X';
	bad_buf(b, n, "not a PROXY header", "v2, a wrong signature byte");
	n = v2(b, 0x11, 0x11, 12, inet_block, 12);
	bad_buf(b, n, "v2 signature with a version other than 2", "version 1");
	n = v2(b, 0x31, 0x11, 12, inet_block, 12);
	bad_buf(b, n, "v2 signature with a version other than 2", "version 3");
	n = v2(b, 0x01, 0x11, 12, inet_block, 12);
	bad_buf(b, n, "v2 signature with a version other than 2", "version 0");
	n = v2(b, 0x22, 0x11, 12, inet_block, 12);
	bad_buf(b, n, "v2 command neither LOCAL nor PROXY", "command 2");
	n = v2(b, 0x2f, 0x11, 12, inet_block, 12);
	bad_buf(b, n, "v2 command neither LOCAL nor PROXY", "command 15");
	n = v2(b, 0x21, 0x41, 12, inet_block, 12);
	bad_buf(b, n, "unknown v2 address family", "family 4");
	n = v2(b, 0x21, 0x13, 12, inet_block, 12);
	bad_buf(b, n, "unknown v2 transport protocol", "protocol 3");
	n = v2(b, 0x21, 0x11, 11, inet_block, 11);
	bad_buf(b, n, "v2 length too short for its address family",
	    "IPv4 in 11 bytes");
	n = v2(b, 0x21, 0x11, 0, NULL, 0);
	bad_buf(b, n, "v2 length too short for its address family",
	    "IPv4 in no bytes");
	n = v2(b, 0x21, 0x21, 35, inet6_block, 35);
	bad_buf(b, n, "v2 length too short for its address family",
	    "IPv6 in 35 bytes");
	n = v2(b, 0x21, 0x21, 12, inet_block, 12);
	bad_buf(b, n, "v2 length too short for its address family",
	    "IPv6 in the 12 bytes of IPv4");
	n = v2(b, 0x21, 0x31, 215, body, 215);
	bad_buf(b, n, "v2 length too short for its address family",
	    "UNIX in 215 bytes");
	memcpy(body, inet_block, 12);
	memcpy(body + 12, "\x01\x00", 2);
	n = v2(b, 0x21, 0x11, 14, body, 14);
	bad_buf(b, n, "v2 TLV cut short", "a TLV of two bytes");
	memcpy(body + 12, "\x01\x00\x0asmtp", 7);
	n = v2(b, 0x21, 0x11, 19, body, 19);
	bad_buf(b, n, "v2 TLV runs past the header", "a TLV longer than the rest");
	memcpy(body + 12, "\x04\x00\x00" "\x01\xff\xff", 6);
	n = v2(b, 0x21, 0x11, 18, body, 18);
	bad_buf(b, n, "v2 TLV runs past the header", "a second TLV too long");
	n = v2(b, 0x21, 0x11, PROXY_V2_LEN_MAX + 1, NULL, 0);
	bad_buf(b, n, "v2 header longer than 2048 bytes after its first 16",
	    "a length of 2049");
	n = v2(b, 0x21, 0x11, 0xffff, NULL, 0);
	bad_buf(b, n, "v2 header longer than 2048 bytes after its first 16",
	    "a length of 65535");
	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	bad_buf(b, n - 1, "v2 length field does not match the header",
	    "a byte short");
	bad_buf(b, 15, "v2 header shorter than 16 bytes", "15 bytes");
	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	b[n] = 'E';
	bad_buf(b, n + 1, "v2 length field does not match the header",
	    "a byte more");
}

/* --- reading ------------------------------------------------------------ */

/* A pipe holding data (which it has room for); its write end closed
 * unless keep_open, then returned in *wfd_out. */
static int
pipe_with(const void *data, size_t len, bool keep_open, int *wfd_out)
{
	int p[2];

	if (pipe(p) < 0 || (len > 0 && write(p[1], data, len) != (ssize_t)len))
		abort();
	if (keep_open)
		*wfd_out = p[1];
	else
		(void)close(p[1]);
	return p[0];
}

/* Whether what is left on fd (to its end) is exactly want. */
static bool
rest_is(int fd, const void *want, size_t want_len)
{
	char buf[4096];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	return n == 0 && got == want_len && memcmp(buf, want, got) == 0;
}

/* Read a header from a pipe holding in (write end closed); check the
 * status, the bytes read, the address and that the rest is untouched. */
static void
read_case(const void *in, size_t in_len, enum proxy_status want_st,
    size_t want_len, const char *want_src, const char *name)
{
	struct proxy_header h;
	const char *why;
	enum proxy_status st;
	int fd = pipe_with(in, in_len, false, NULL);

	st = proxy_read(fd, 5000, &h, &why);
	ok(st == want_st && h.len == want_len &&
	    (st != PROXY_OK ||
	    (want_src != NULL && strcmp(source(&h), want_src) == 0)) &&
	    rest_is(fd, (const char *)in + want_len, in_len - want_len),
	    "read %s: status %d, %zu bytes, %s%s%s", name, (int)st, h.len,
	    st == PROXY_OK ? source(&h) : "", st == PROXY_OK ? "" : why,
	    ", the rest left unread");
	(void)close(fd);
}

static void
test_read(void)
{
	static const char v1[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n"
	    "EHLO client.example\r\n";
	static const char unknown[] = "PROXY UNKNOWN\r\nUSER alice\r\n";
	static const char longer[] = "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\n"
	    "PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n";
	unsigned char b[PROXY_HEADER_MAX + 64], body[64];
	char big[300];
	size_t n;

	read_case(v1, strlen(v1), PROXY_OK, 44, "192.0.2.7 56324",
	    "v1 then EHLO");
	read_case(unknown, strlen(unknown), PROXY_OK, 15, "none",
	    "v1 UNKNOWN then USER");
	read_case(longer, strlen(longer), PROXY_OK, 39, "192.0.2.7 1",
	    "two v1 lines: only the first");
	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	memcpy(b + n, "\x16\x03\x01\x02\x00", 5);	/* a ClientHello's start */
	read_case(b, n + 5, PROXY_OK, 28, "192.0.2.7 56324",
	    "v2 IPv4 then TLS");
	memcpy(body, inet6_block, 36);
	memcpy(body + 36, "\x01\x00\x04pop3", 7);
	n = v2(b, 0x21, 0x21, 43, body, 43);
	memcpy(b + n, "CAPA\r\n", 6);
	read_case(b, n + 6, PROXY_OK, 59, "2001:db8::7 1234",
	    "v2 IPv6 with a TLV then CAPA");
	n = v2(b, 0x20, 0x00, 0, NULL, 0);
	memcpy(b + n, "QUIT\r\n", 6);
	read_case(b, n + 6, PROXY_OK, 16, "none", "v2 LOCAL then QUIT");
	/* A header alone, then the end: fine, the session sees EOF next. */
	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	read_case(b, n, PROXY_OK, 28, "192.0.2.7 56324", "v2 and nothing more");

	read_case("", 0, PROXY_EOF, 0, NULL, "nothing at all");
	read_case(v1, 20, PROXY_EOF, 20, NULL, "v1 cut off");
	read_case(v1, 43, PROXY_EOF, 43, NULL, "v1 cut off before its LF");
	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	read_case(b, 10, PROXY_EOF, 10, NULL, "v2 cut off in the signature");
	read_case(b, 20, PROXY_EOF, 20, NULL, "v2 cut off in the addresses");

	read_case("EHLO client.example\r\n", 21, PROXY_BAD, 1, NULL,
	    "SMTP: refused at its first byte");
	read_case("PASS secret\r\n", 13, PROXY_BAD, 2, NULL,
	    "POP3 PASS: refused at its second byte");
	read_case("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\n"
	    "EHLO x\r\n", 51, PROXY_BAD, 43, NULL, "v1 with a bare LF");
	memset(big, 'x', sizeof(big));
	memcpy(big, "PROXY TCP4 ", 11);
	read_case(big, sizeof(big), PROXY_BAD, PROXY_V1_MAX, NULL,
	    "v1 without LF: 107 bytes and no more");
	n = v2(b, 0x21, 0x11, 0x0900, NULL, 0);
	memset(b + n, 0, 100);
	read_case(b, n + 100, PROXY_BAD, 16, NULL,
	    "v2 with a length over 2048: 16 bytes and no more");
	n = v2(b, 0x21, 0x11, 12, inet_block, 12);
	b[11] = 'X';
	read_case(b, n, PROXY_BAD, 16, NULL, "v2 with a bad signature");
	n = v2(b, 0x21, 0x11, 11, inet_block, 11);
	read_case(b, n, PROXY_BAD, n, NULL, "v2 too short for IPv4");
}

/* The deadline is the whole header's: a client that sends a byte now and
 * then is cut off all the same. */
static void
test_deadline(void)
{
	static const char v1[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n";
	struct proxy_header h;
	struct timespec t0;
	const char *why;
	enum proxy_status st;
	int p[2], status;
	long ms;
	pid_t pid;
	size_t i;

	p[0] = pipe_with(v1, 20, true, &p[1]);
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	st = proxy_read(p[0], 300, &h, &why);
	ms = io_ms_since(&t0);
	ok(st == PROXY_TIMEOUT && h.len == 20 && ms >= 250 && ms < 3000,
	    "half a header, then silence: timed out after %ld ms", ms);
	(void)close(p[0]);
	(void)close(p[1]);

	/* One byte every 50 ms would take 2.2 s. */
	if (pipe(p) < 0 || (pid = fork()) < 0)
		abort();
	if (pid == 0) {
		(void)close(p[0]);
		for (i = 0; i < sizeof(v1) - 1; i++) {
			if (write(p[1], v1 + i, 1) != 1)
				_exit(1);
			(void)nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
		}
		_exit(0);
	}
	(void)close(p[1]);
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	st = proxy_read(p[0], 500, &h, &why);
	ms = io_ms_since(&t0);
	ok(st == PROXY_TIMEOUT && h.len > 0 && h.len < sizeof(v1) - 1 &&
	    ms >= 450 && ms < 2000,
	    "a header trickled a byte at a time: timed out after %ld ms, "
	    "%zu bytes", ms, h.len);
	(void)close(p[0]);
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);

	/* In two pieces, well within the deadline, on a non-blocking pipe. */
	if (pipe(p) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0 ||
	    (pid = fork()) < 0)
		abort();
	if (pid == 0) {
		(void)close(p[0]);
		if (write(p[1], v1, 10) != 10)
			_exit(1);
		(void)nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
		if (write(p[1], v1 + 10, sizeof(v1) - 11) !=
		    (ssize_t)sizeof(v1) - 11 || write(p[1], "QUIT\r\n", 6) != 6)
			_exit(1);
		_exit(0);
	}
	(void)close(p[1]);
	st = proxy_read(p[0], 5000, &h, &why);
	(void)waitpid(pid, &status, 0);
	ok(st == PROXY_OK && strcmp(source(&h), "192.0.2.7 56324") == 0 &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a header in two pieces on a non-blocking pipe");
	(void)fcntl(p[0], F_SETFL, 0);
	ok(rest_is(p[0], "QUIT\r\n", 6), "what follows it is left unread");
	(void)close(p[0]);

	/* A client speaking first is turned away at once, not at the
	 * deadline. */
	p[0] = pipe_with("EHLO x\r\n", 8, true, &p[1]);
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	st = proxy_read(p[0], 10000, &h, &why);
	ms = io_ms_since(&t0);
	ok(st == PROXY_BAD && ms < 1000, "no header at all: refused at once "
	    "(%ld ms)", ms);
	(void)close(p[0]);
	(void)close(p[1]);
}

/* On a socket, as under a supervisor. */
static void
test_socket(void)
{
	unsigned char b[64];
	struct proxy_header h;
	const char *why;
	enum proxy_status st;
	size_t n;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	n = v2(b, 0x21, 0x21, 36, inet6_block, 36);
	memcpy(b + n, "EHLO x\r\n", 8);
	if (write(sv[1], b, n + 8) != (ssize_t)(n + 8))
		abort();
	(void)shutdown(sv[1], SHUT_WR);
	st = proxy_read(sv[0], 5000, &h, &why);
	ok(st == PROXY_OK && h.len == n &&
	    strcmp(source(&h), "2001:db8::7 1234") == 0 &&
	    rest_is(sv[0], "EHLO x\r\n", 8),
	    "v2 on a socket, the rest left unread");
	(void)close(sv[0]);
	(void)close(sv[1]);

	/* A descriptor just closed: poll says POLLNVAL, read EBADF. */
	if (pipe(sv) < 0)
		abort();
	(void)close(sv[0]);
	(void)close(sv[1]);
	errno = 0;
	st = proxy_read(sv[0], 100, &h, &why);
	ok(st == PROXY_ERR && errno == EBADF && h.len == 0,
	    "a bad descriptor: PROXY_ERR, EBADF (%s)", why);
}

int
main(void)
{
	test_v1();
	test_v2();
	test_read();
	test_deadline();
	test_socket();
	return done_testing();
}
