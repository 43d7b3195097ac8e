/* SPDX-License-Identifier: MIT */
/* The scratch mail root the fuzz harnesses work in: one user, bob, with a
 * small mailbox, restored after every input. */
#ifndef SOCKMAIL_FUZZ_ROOT_H
#define SOCKMAIL_FUZZ_ROOT_H

#include <stddef.h>

int	fuzz_root(void);
void	fuzz_root_reset(void);
void	fuzz_put_mailbox(const void *data, size_t len);

/* Put one of bob's starting mailboxes (v modulo their count): the well
 * formed one (0), then its CRLF form, an mbox, and tails of each kind. */
#define FUZZ_MAILBOX_VARIANTS	8
void	fuzz_put_variant(unsigned v);
void	fuzz_put_userinfo(const void *data, size_t len);

struct tls_hook;
struct transport;

/* A TLS hook whose "handshake" always succeeds and keeps talking over t,
 * so that STARTTLS, STLS and what follows them get fuzzed too. */
void	fuzz_tls_hook(struct tls_hook *hook, struct transport *t);

#endif
