/* SPDX-License-Identifier: MIT */
/* Bounded string handling and strict number parsing. */
#ifndef SOCKMAIL_STR_H
#define SOCKMAIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy src into dst (size bytes), always NUL-terminated. Returns 0, or -1
 * when src did not fit (dst then holds a truncated copy). */
int	str_copy(char *dst, size_t size, const char *src);

/* Copy n bytes of src and a NUL into dst; -1 when they do not fit. */
int	str_copy_n(char *dst, size_t size, const char *src, size_t n);

/* ASCII-only case-insensitive comparisons: the locale never changes what a
 * protocol verb or a login matches. */
bool	str_ieq(const char *a, const char *b);
bool	str_iprefix(const char *s, const char *prefix);

enum parse_uint_status {
	PARSE_UINT_OK,
	PARSE_UINT_EMPTY,
	PARSE_UINT_NOT_DIGIT,	/* a sign, space or other junk */
	PARSE_UINT_OVERFLOW,	/* above max */
};

/* Parse all of s as a decimal number no larger than max. */
enum parse_uint_status parse_uint(const char *s, uint64_t max,
	    uint64_t *value_out);

/* Compare a (alen bytes) with b (blen bytes) in time that depends only on
 * blen, the length of the guess, never on where they differ. */
bool	str_const_eq(const char *a, size_t alen, const char *b, size_t blen);

/* Whether s holds an ASCII control character (below 0x20, or DEL). */
bool	str_has_ctl(const char *s);

/* Decode the UTF-8 character at p (len > 0 bytes) into *cp_out. Returns
 * its length in bytes (1-4), or -1 when p does not start with a
 * well-formed one by RFC 3629: a stray continuation byte, a sequence cut
 * short, an overlong form (0xC0 0x80 for NUL), a surrogate (U+D800 to
 * U+DFFF) or a code point above U+10FFFF. A NUL byte is U+0000. */
int	str_utf8_decode(const char *p, size_t len, uint32_t *cp_out);

/* Whether the len bytes at p are all well-formed UTF-8 (plain ASCII is). */
bool	str_utf8_valid(const char *p, size_t len);

/* Decode the base64 text src (RFC 4648, padding required, no blanks) into
 * dst, at most size bytes. Returns the decoded length, or -1 when src is
 * not base64 or does not fit. */
long	base64_decode(const char *src, unsigned char *dst, size_t size);

/* Encode len bytes at src as base64 (RFC 4648, padded) into dst, NUL
 * ended. Returns 0, or -1 when dst has fewer than (len + 2) / 3 * 4 + 1
 * bytes. */
int	base64_encode(const void *src, size_t len, char *dst, size_t size);

/* Overwrite n bytes at p in a way the compiler may not drop. */
void	str_wipe(void *p, size_t n);

#endif
