/* SPDX-License-Identifier: MIT */
/* Unit tests for str: bounded copies, ASCII case, parse_uint, str_const_eq,
 * base64_decode, the UTF-8 decoder. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"
#include "tap.h"

/* A heap copy of exactly n bytes with no NUL after them, so that ASan
 * catches any read past the length the function was given. */
static char *
exact(const char *s, size_t n)
{
	char	*p = malloc(n > 0 ? n : 1);

	if (p == NULL)
		abort();
	memcpy(p, s, n);
	return p;
}

static void
test_copy(void)
{
	char	dst[8];
	char	*src;

	ok(str_copy(dst, sizeof(dst), "abc") == 0 && strcmp(dst, "abc") == 0,
	    "str_copy: a short string fits");
	ok(str_copy(dst, sizeof(dst), "1234567") == 0 &&
	    strcmp(dst, "1234567") == 0,
	    "str_copy: size-1 characters fit exactly");
	ok(str_copy(dst, sizeof(dst), "12345678") == -1 &&
	    strcmp(dst, "1234567") == 0,
	    "str_copy: one too many is -1 with a truncated, terminated copy");
	ok(str_copy(dst, 4, "a much longer string") == -1 &&
	    strcmp(dst, "a m") == 0,
	    "str_copy: a long string is truncated to size-1");
	ok(str_copy(dst, 1, "") == 0 && dst[0] == '\0',
	    "str_copy: the empty string fits in one byte");
	ok(str_copy(dst, 1, "x") == -1 && dst[0] == '\0',
	    "str_copy: size 1 holds only the NUL");

	src = exact("xyzzy", 5);
	memset(dst, 'Q', sizeof(dst));
	ok(str_copy_n(dst, sizeof(dst), src, 3) == 0 &&
	    memcmp(dst, "xyz", 4) == 0,
	    "str_copy_n: n bytes and a NUL");
	ok(str_copy_n(dst, sizeof(dst), src, 5) == 0 &&
	    memcmp(dst, "xyzzy", 6) == 0,
	    "str_copy_n: reads no further than n (source not terminated)");
	ok(str_copy_n(dst, 6, src, 5) == 0 && memcmp(dst, "xyzzy", 6) == 0,
	    "str_copy_n: n bytes plus NUL fill size exactly");
	ok(str_copy_n(dst, 5, src, 5) == -1,
	    "str_copy_n: no room for the NUL is -1");
	ok(str_copy_n(dst, sizeof(dst), src, 0) == 0 && dst[0] == '\0',
	    "str_copy_n: n = 0 gives the empty string");
	free(src);
	ok(str_copy_n(dst, sizeof(dst), "a\0b", 3) == 0 &&
	    memcmp(dst, "a\0b", 4) == 0,
	    "str_copy_n: copies bytes, NUL included");
}

static void
test_case(void)
{
	ok(str_ieq("HELO", "helo"), "str_ieq: HELO = helo");
	ok(str_ieq("MaIl", "mAiL"), "str_ieq: mixed case");
	ok(str_ieq("", ""), "str_ieq: empty strings are equal");
	ok(!str_ieq("HELO", "HELOX"), "str_ieq: a longer string differs");
	ok(!str_ieq("HELOX", "HELO"), "str_ieq: a shorter string differs");
	ok(!str_ieq("HELO", "HALO"), "str_ieq: a different letter differs");
	ok(!str_ieq("[", "{") && !str_ieq("@", "`") && !str_ieq("^", "~"),
	    "str_ieq: punctuation 0x20 apart is not a case pair");
	ok(!str_ieq("\xe9", "\xc9"),
	    "str_ieq: Latin-1 e-acute and E-acute differ (ASCII only)");
	ok(!str_ieq("\xc3\xa9", "\xc3\x89"),
	    "str_ieq: UTF-8 e-acute and E-acute differ (ASCII only)");
	ok(str_ieq("a1._-", "A1._-"), "str_ieq: digits and marks match themselves");

	ok(str_iprefix("MAIL FROM:<a@b>", "mail from:"), "str_iprefix: MAIL FROM:");
	ok(str_iprefix("rcpt", "RCPT"), "str_iprefix: the whole string is a prefix");
	ok(str_iprefix("x", ""), "str_iprefix: the empty prefix matches");
	ok(!str_iprefix("MAI", "MAIL"), "str_iprefix: a prefix longer than s fails");
	ok(!str_iprefix("", "a"), "str_iprefix: the empty string has no prefix a");
	ok(!str_iprefix("MAIL[", "mail{"), "str_iprefix: [ is not {");
	ok(!str_iprefix("\xc9tat", "\xe9"), "str_iprefix: ASCII only");
}

static void
test_parse_uint(void)
{
	uint64_t	v;

	v = 99;
	ok(parse_uint("0", 10, &v) == PARSE_UINT_OK && v == 0, "parse_uint: 0");
	ok(parse_uint("42", 100, &v) == PARSE_UINT_OK && v == 42,
	    "parse_uint: 42");
	ok(parse_uint("", 100, &v) == PARSE_UINT_EMPTY, "parse_uint: empty");
	ok(parse_uint("+1", 100, &v) == PARSE_UINT_NOT_DIGIT,
	    "parse_uint: a plus sign is refused");
	ok(parse_uint("-1", 100, &v) == PARSE_UINT_NOT_DIGIT,
	    "parse_uint: a minus sign is refused");
	ok(parse_uint(" 1", 100, &v) == PARSE_UINT_NOT_DIGIT,
	    "parse_uint: a leading space is refused");
	ok(parse_uint("1 ", 100, &v) == PARSE_UINT_NOT_DIGIT,
	    "parse_uint: a trailing space is refused");
	ok(parse_uint("1x", 100, &v) == PARSE_UINT_NOT_DIGIT,
	    "parse_uint: trailing junk is refused");
	ok(parse_uint("0x10", 100, &v) == PARSE_UINT_NOT_DIGIT,
	    "parse_uint: hex is refused");
	ok(parse_uint("\t7", 100, &v) == PARSE_UINT_NOT_DIGIT,
	    "parse_uint: a tab is refused");
	ok(parse_uint("100", 100, &v) == PARSE_UINT_OK && v == 100,
	    "parse_uint: max itself is accepted");
	ok(parse_uint("101", 100, &v) == PARSE_UINT_OVERFLOW,
	    "parse_uint: max+1 is overflow");
	ok(parse_uint("1", 0, &v) == PARSE_UINT_OVERFLOW,
	    "parse_uint: 1 with max 0 is overflow");
	ok(parse_uint("7", 5, &v) == PARSE_UINT_OVERFLOW,
	    "parse_uint: a first digit above a one-digit max is overflow");
	ok(parse_uint("16", 15, &v) == PARSE_UINT_OVERFLOW,
	    "parse_uint: 16 with max 15 is overflow");
	ok(parse_uint("18446744073709551615", UINT64_MAX, &v) ==
	    PARSE_UINT_OK && v == UINT64_MAX,
	    "parse_uint: UINT64_MAX is accepted");
	ok(parse_uint("18446744073709551616", UINT64_MAX, &v) ==
	    PARSE_UINT_OVERFLOW,
	    "parse_uint: UINT64_MAX+1 is overflow, not a wrap");
	ok(parse_uint("18446744073709551620", UINT64_MAX, &v) ==
	    PARSE_UINT_OVERFLOW,
	    "parse_uint: a last digit that wraps past UINT64_MAX is overflow");
	ok(parse_uint("99999999999999999999999999", UINT64_MAX, &v) ==
	    PARSE_UINT_OVERFLOW,
	    "parse_uint: far above uint64 is overflow");
	ok(parse_uint("36893488147419103232", UINT64_MAX, &v) ==
	    PARSE_UINT_OVERFLOW,
	    "parse_uint: 2^65 (wraps to 0 mod 2^64) is overflow");
	ok(parse_uint("10485760", 10485760, &v) == PARSE_UINT_OK &&
	    v == 10485760, "parse_uint: a SIZE= value at the limit");
}

static void
test_const_eq(void)
{
	char	*a, *b;

	a = exact("secret", 6);
	b = exact("secret", 6);
	ok(str_const_eq(a, 6, b, 6), "str_const_eq: equal");
	free(b);
	b = exact("secreT", 6);
	ok(!str_const_eq(a, 6, b, 6), "str_const_eq: last byte differs");
	free(b);
	b = exact("Secret", 6);
	ok(!str_const_eq(a, 6, b, 6), "str_const_eq: first byte differs");
	free(b);
	b = exact("secrets", 7);
	ok(!str_const_eq(a, 6, b, 7),
	    "str_const_eq: a longer guess differs (no read past a)");
	free(b);
	b = exact("secre", 5);
	ok(!str_const_eq(a, 6, b, 5), "str_const_eq: a shorter guess differs");
	free(b);
	b = exact("", 0);
	ok(!str_const_eq(a, 6, b, 0), "str_const_eq: the empty guess differs");
	ok(str_const_eq(b, 0, b, 0), "str_const_eq: empty equals empty");
	free(b);
	free(a);
	ok(!str_const_eq("a\0b", 3, "a\0c", 3),
	    "str_const_eq: compares past a NUL byte");
	ok(str_const_eq("a\0b", 3, "a\0b", 3),
	    "str_const_eq: equal with a NUL inside");
}

static void
test_wipe(void)
{
	char	buf[16] = "hunter2-secret";
	size_t	i;
	bool	all_changed = true;

	str_wipe(buf, sizeof(buf) - 2);
	for (i = 0; i < sizeof(buf) - 2; i++)
		if (buf[i] == "hunter2-secret"[i])
			all_changed = false;
	ok(all_changed, "str_wipe: every byte of the range is overwritten");
}

/* base64_decode gives len bytes equal to want. */
static bool
decodes_to(const char *b64, const char *want, long len)
{
	unsigned char out[32];

	return base64_decode(b64, out, sizeof(out)) == len &&
	    memcmp(out, want, (size_t)len) == 0;
}

static void
test_base64(void)
{
	unsigned char out[4];

	ok(decodes_to("", "", 0), "base64: empty");
	ok(decodes_to("AGJvYgBib2JwYXNz", "\0bob\0bobpass", 12),
	    "base64: AUTH PLAIN credentials with NULs");
	ok(decodes_to("YQ==", "a", 1) && decodes_to("YWI=", "ab", 2) &&
	    decodes_to("YWJj", "abc", 3), "base64: both paddings and none");
	ok(decodes_to("+/+/", "\xfb\xff\xbf", 3), "base64: + and /");
	ok(base64_decode("YQ", out, sizeof(out)) == -1,
	    "base64: missing padding is refused");
	ok(base64_decode("Y===", out, sizeof(out)) == -1 &&
	    base64_decode("YQ==YWJj", out, sizeof(out)) == -1 &&
	    base64_decode("Y=Jj", out, sizeof(out)) == -1,
	    "base64: padding anywhere but the end is refused");
	ok(base64_decode("YW Jj", out, sizeof(out)) == -1 &&
	    base64_decode("YW\nj", out, sizeof(out)) == -1 &&
	    base64_decode("YW*j", out, sizeof(out)) == -1,
	    "base64: blanks and other characters are refused");
	ok(base64_decode("YWJjZA==", out, 4) == 4 &&
	    memcmp(out, "abcd", 4) == 0, "base64: exactly fits");
	ok(base64_decode("YWJjZGU=", out, 4) == -1 &&
	    base64_decode("YWJjZGVm", out, 4) == -1,
	    "base64: one byte too many is refused, not cut");
}

/* base64_encode of len bytes at raw is want, and decodes back to raw. */
static bool
encodes_to(const char *raw, size_t len, const char *want)
{
	char b64[64];

	return base64_encode(raw, len, b64, sizeof(b64)) == 0 &&
	    strcmp(b64, want) == 0 && decodes_to(b64, raw, (long)len);
}

static void
test_base64_encode(void)
{
	char small[9];
	unsigned char all[256];
	char b64[(sizeof(all) + 2) / 3 * 4 + 1];
	unsigned char back[sizeof(all)];
	size_t i;

	ok(encodes_to("", 0, ""), "base64_encode: empty");
	ok(encodes_to("a", 1, "YQ==") && encodes_to("ab", 2, "YWI=") &&
	    encodes_to("abc", 3, "YWJj"), "base64_encode: both paddings and none");
	ok(encodes_to("\0bob\0bobpass", 12, "AGJvYgBib2JwYXNz"),
	    "base64_encode: AUTH PLAIN credentials with NULs");
	ok(base64_encode("abcdef", 6, small, sizeof(small)) == 0 &&
	    base64_encode("abcdefg", 7, small, sizeof(small)) == -1,
	    "base64_encode: refuses a buffer one group too short");
	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	ok(base64_encode(all, sizeof(all), b64, sizeof(b64)) == 0 &&
	    base64_decode(b64, back, sizeof(back)) == (long)sizeof(all) &&
	    memcmp(all, back, sizeof(all)) == 0,
	    "base64_encode: every byte value goes through decode unchanged");
}

/* str_utf8_valid on exactly the n bytes of s (no NUL after them). */
static bool
utf8_ok(const char *s, size_t n)
{
	char *p = exact(s, n);
	bool valid = str_utf8_valid(p, n);

	free(p);
	return valid;
}

/* str_utf8_decode of the n bytes of s gives cp in n bytes. */
static bool
decodes_cp(const char *s, size_t n, uint32_t cp)
{
	char *p = exact(s, n);
	uint32_t got = 0xffffffff;
	int len = str_utf8_decode(p, n, &got);

	free(p);
	return len == (int)n && got == cp;
}

/* A literal's bytes and its length without the NUL. */
#define UTF8_OK(lit)		utf8_ok(lit, sizeof(lit) - 1)
#define DECODES(lit, cp)	decodes_cp(lit, sizeof(lit) - 1, cp)

static void
test_utf8(void)
{
	uint32_t cp;

	ok(UTF8_OK("") && UTF8_OK("plain@ascii"),
	    "utf8: empty and ASCII are valid");
	ok(DECODES("\0", 0) && DECODES("\x7f", 0x7f),
	    "utf8: NUL and DEL decode as one byte");
	ok(DECODES("\xc2\x80", 0x80) && DECODES("\xdf\xbf", 0x7ff),
	    "utf8: two-byte bounds U+0080 and U+07FF");
	ok(DECODES("\xe0\xa0\x80", 0x800) &&
	    DECODES("\xed\x9f\xbf", 0xd7ff) &&
	    DECODES("\xee\x80\x80", 0xe000) &&
	    DECODES("\xef\xbf\xbf", 0xffff),
	    "utf8: three-byte bounds around the surrogates");
	ok(DECODES("\xf0\x90\x80\x80", 0x10000) &&
	    DECODES("\xf4\x8f\xbf\xbf", 0x10ffff),
	    "utf8: four-byte bounds U+10000 and U+10FFFF");
	ok(UTF8_OK("\xe7\x94\xa8\xe6\x88\xb7" "@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a") &&
	    UTF8_OK("j\xc3\xb6rg@b\xc3\xbc" "cher.example"),
	    "utf8: RFC 6530 style addresses are valid");
	ok(!UTF8_OK("\x80") && !UTF8_OK("a\xbf" "b") &&
	    !UTF8_OK("\xc3\xa4\xa4"),
	    "utf8: a stray continuation byte is refused");
	ok(!UTF8_OK("\xc0\x80") && !UTF8_OK("\xc1\xbf") &&
	    !UTF8_OK("\xe0\x80\x80") && !UTF8_OK("\xe0\x9f\xbf") &&
	    !UTF8_OK("\xf0\x80\x80\x80") &&
	    !UTF8_OK("\xf0\x8f\xbf\xbf"),
	    "utf8: overlong forms are refused (C0 80, E0 9F BF, F0 8F BF BF)");
	ok(!UTF8_OK("\xed\xa0\x80") && !UTF8_OK("\xed\xbf\xbf") &&
	    !UTF8_OK("\xed\xa0\xbd\xed\xb8\x80"),
	    "utf8: surrogates, alone or paired (CESU-8), are refused");
	ok(!UTF8_OK("\xf4\x90\x80\x80") && !UTF8_OK("\xf5\x80\x80\x80") &&
	    !UTF8_OK("\xf8\x88\x80\x80\x80") && !UTF8_OK("\xff") &&
	    !UTF8_OK("\xfe"),
	    "utf8: above U+10FFFF, 5-byte forms, FE and FF are refused");
	ok(!UTF8_OK("\xc3") && !UTF8_OK("\xe2\x82") &&
	    !UTF8_OK("\xf0\x9f\x98") && !UTF8_OK("\xe2\x82" "a"),
	    "utf8: a sequence cut short, at the end or by ASCII, is refused");
	ok(str_utf8_decode("\xe2\x82\xac", 2, &cp) == -1 &&
	    str_utf8_decode("x", 0, &cp) == -1,
	    "utf8: decode reads no further than len");
}

int
main(void)
{
	test_copy();
	test_case();
	test_parse_uint();
	test_const_eq();
	test_wipe();
	test_base64();
	test_base64_encode();
	test_utf8();
	return done_testing();
}
