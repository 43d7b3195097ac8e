/* SPDX-License-Identifier: MIT */
/* Bounded string handling and strict number parsing. */
#include "config.h"

#include <string.h>

#include "str.h"

int
str_copy(char *dst, size_t size, const char *src)
{
	return str_copy_n(dst, size, src, strlen(src));
}

int
str_copy_n(char *dst, size_t size, const char *src, size_t n)
{
	int fits = n < size;

	if (size == 0)
		return -1;
	if (!fits)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return fits ? 0 : -1;
}

static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

bool
str_ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return false;
	return *a == *b;
}

bool
str_iprefix(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (ascii_lower((unsigned char)*s) !=
		    ascii_lower((unsigned char)*prefix))
			return false;
	return true;
}

enum parse_uint_status
parse_uint(const char *s, uint64_t max, uint64_t *value_out)
{
	uint64_t v = 0;
	unsigned d;

	if (*s == '\0')
		return PARSE_UINT_EMPTY;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return PARSE_UINT_NOT_DIGIT;
		d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return PARSE_UINT_OVERFLOW;
		v = v * 10 + d;
	}
	*value_out = v;
	return PARSE_UINT_OK;
}

bool
str_const_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char diff = 0;
	size_t i;

	diff |= (unsigned char)(alen != blen);
	if (alen == 0)
		return blen == 0;	/* nothing stored to compare against */
	for (i = 0; i < blen; i++)
		diff |= (unsigned char)(a[i % alen] ^ b[i]);
	return diff == 0;
}

bool
str_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* RFC 3629 4: the lead byte says how many continuation bytes follow, and
 * the bounds of the second byte are what rule out overlong forms,
 * surrogates and code points above U+10FFFF. */
int
str_utf8_decode(const char *p, size_t len, uint32_t *cp_out)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned char lo = 0x80, hi = 0xbf;
	uint32_t cp;
	size_t n, i;

	if (len == 0)
		return -1;
	if (u[0] < 0x80) {
		*cp_out = u[0];
		return 1;
	}
	if (u[0] < 0xc2 || u[0] > 0xf4)
		return -1;	/* continuation, overlong lead, or > U+10FFFF */
	if (u[0] < 0xe0) {
		n = 2;
		cp = u[0] & 0x1f;
	} else if (u[0] < 0xf0) {
		n = 3;
		cp = u[0] & 0x0f;
		if (u[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (u[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else {
		n = 4;
		cp = u[0] & 0x07;
		if (u[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (u[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	}
	if (len < n)
		return -1;
	for (i = 1; i < n; i++) {
		if (u[i] < lo || u[i] > hi)
			return -1;
		cp = cp << 6 | (u[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp_out = cp;
	return (int)n;
}

bool
str_utf8_valid(const char *p, size_t len)
{
	uint32_t cp;
	int n;

	while (len > 0) {
		n = str_utf8_decode(p, len, &cp);
		if (n < 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static int
base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
base64_decode(const char *src, unsigned char *dst, size_t size)
{
	size_t len = strlen(src), out = 0, i, j;
	int v[4];

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		for (j = 0; j < 4; j++)
			v[j] = base64_value(src[i + j]);
		/* "=" only ends the last group: "xx==" or "xxx=". */
		if (i + 4 == len && src[i + 3] == '=') {
			v[3] = 0;
			if (src[i + 2] == '=')
				v[2] = 0;
			else if (v[2] < 0)
				return -1;
		}
		if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
			return -1;
		if (out + 3 > size && !(i + 4 == len && src[i + 3] == '=' &&
		    out + (src[i + 2] == '=' ? 1 : 2) <= size))
			return -1;
		dst[out++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (i + 4 == len && src[i + 2] == '=')
			break;
		dst[out++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (i + 4 == len && src[i + 3] == '=')
			break;
		dst[out++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)out;
}

int
base64_encode(const void *src, size_t len, char *dst, size_t size)
{
	static const char digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = src;
	unsigned long v;
	size_t i, out = 0;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 2 || size < (len + 2) / 3 * 4 + 1)
		return -1;
	for (i = 0; i < len; i += 3) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		dst[out++] = digits[v >> 18 & 63];
		dst[out++] = digits[v >> 12 & 63];
		dst[out++] = i + 1 < len ? digits[v >> 6 & 63] : '=';
		dst[out++] = i + 2 < len ? digits[v & 63] : '=';
	}
	dst[out] = '\0';
	return 0;
}

void
str_wipe(void *p, size_t n)
{
#ifdef HAVE_EXPLICIT_BZERO
	explicit_bzero(p, n);
#else
	volatile unsigned char *q = p;

	while (n-- > 0)
		*q++ = 0;
#endif
}
