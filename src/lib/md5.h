/* SPDX-License-Identifier: MIT */
/* MD5 (RFC 1321), for the APOP digest only (RFC 1939 section 7). */
#ifndef SOCKMAIL_MD5_H
#define SOCKMAIL_MD5_H

#include <stddef.h>
#include <stdint.h>

#define MD5_DIGEST_SIZE	16

struct md5 {
	uint32_t	state[4];
	uint64_t	length;		/* bytes hashed so far */
	unsigned char	block[64];
};

void	md5_init(struct md5 *c);
void	md5_update(struct md5 *c, const void *data, size_t len);
void	md5_final(struct md5 *c, unsigned char digest[MD5_DIGEST_SIZE]);

/* The digest of data as 32 lower-case hex digits and a NUL. */
void	md5_hex(const void *data, size_t len, char hex[2 * MD5_DIGEST_SIZE + 1]);

#endif
