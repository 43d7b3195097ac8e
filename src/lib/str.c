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
