/* SPDX-License-Identifier: MIT */
/* The switch to TLS that STARTTLS (SMTP), STLS and implicit TLS (POP3)
 * share: whatever the client sent before the handshake is thrown away, so
 * nothing sent in clear text is ever read as if it came inside TLS (the
 * CVE-2011-0411 class of injection), and from then on the session reads
 * and writes through TLS. */
#ifndef SOCKMAIL_STARTTLS_H
#define SOCKMAIL_STARTTLS_H

struct line_reader;
struct out;
struct tls_hook;

/* Before the "go ahead" reply: make TLS ready (the server's certificate
 * is read here, not when the handler starts). Returns 0, or -1 (logged)
 * when TLS cannot start now: the session answers that as a temporary
 * failure and goes on in clear text. */
int	starttls_prepare(const struct tls_hook *hook);

/* Flush the replies queued on out (the one that says "go ahead" last),
 * discard in's read-ahead, run the handshake within in's timeout, and
 * point in and out at the TLS transport. Returns 0; or -1 when the reply
 * could not be sent or the handshake failed (logged): the session must
 * end, since the connection is in no known state. */
int	starttls(const struct tls_hook *hook, struct line_reader *in,
	    struct out *out);

#endif
