/* SPDX-License-Identifier: MIT */
/* MD5 (RFC 1321). */
#include "config.h"

#include <string.h>

#include "md5.h"

static const uint32_t k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
	0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
	0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
	0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
	0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
	0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const unsigned char shift[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static uint32_t
rotl(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void
transform(uint32_t state[4], const unsigned char block[64])
{
	uint32_t m[16], a = state[0], b = state[1], c = state[2], d = state[3];
	uint32_t f, t;
	unsigned i, g;

	for (i = 0; i < 16; i++)
		m[i] = (uint32_t)block[4 * i] |
		    (uint32_t)block[4 * i + 1] << 8 |
		    (uint32_t)block[4 * i + 2] << 16 |
		    (uint32_t)block[4 * i + 3] << 24;
	for (i = 0; i < 64; i++) {
		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		t = d;
		d = c;
		c = b;
		b = b + rotl(a + f + k[i] + m[g], shift[i]);
		a = t;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
}

void
md5_init(struct md5 *c)
{
	c->state[0] = 0x67452301;
	c->state[1] = 0xefcdab89;
	c->state[2] = 0x98badcfe;
	c->state[3] = 0x10325476;
	c->length = 0;
}

void
md5_update(struct md5 *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t used = c->length % 64, take;

	c->length += len;
	while (len > 0) {
		take = 64 - used < len ? 64 - used : len;
		memcpy(c->block + used, p, take);
		used += take;
		p += take;
		len -= take;
		if (used == 64) {
			transform(c->state, c->block);
			used = 0;
		}
	}
}

void
md5_final(struct md5 *c, unsigned char digest[MD5_DIGEST_SIZE])
{
	static const unsigned char pad[64] = { 0x80 };
	unsigned char bits[8];
	uint64_t nbits = c->length * 8;
	size_t used = c->length % 64, i;

	for (i = 0; i < 8; i++)
		bits[i] = (unsigned char)(nbits >> (8 * i));
	md5_update(c, pad, used < 56 ? 56 - used : 120 - used);
	md5_update(c, bits, 8);
	for (i = 0; i < 16; i++)
		digest[i] = (unsigned char)(c->state[i / 4] >> (8 * (i % 4)));
}

void
md5_hex(const void *data, size_t len, char hex[2 * MD5_DIGEST_SIZE + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[MD5_DIGEST_SIZE];
	struct md5 c;
	size_t i;

	md5_init(&c);
	md5_update(&c, data, len);
	md5_final(&c, digest);
	for (i = 0; i < MD5_DIGEST_SIZE; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * MD5_DIGEST_SIZE] = '\0';
}
