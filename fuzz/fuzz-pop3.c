/* SPDX-License-Identifier: MIT */
/* libFuzzer: a whole POP3 session fed arbitrary bytes, in-process. The
 * first byte chooses: bit 0, send the input after a good login, so that
 * the TRANSACTION commands are reached too; bit 1, offer (pretend) TLS, so
 * that STLS and AUTH PLAIN are; bit 2, refuse passwords before TLS (-R);
 * bits 3 to 5, bob's mailbox (fuzz_put_variant): well formed, CRLF, mbox,
 * or with a tail of each kind.
 *
 * The oracle (oracle.h) then checks the mailbox against the replies: the
 * messages a DELE was told "+OK" about are gone if and only if QUIT was
 * told "+OK" after a login, every other one is still there byte for byte,
 * and a tail is in place or whole in a side file. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-root.h"
#include "oracle.h"
#include "pop3d.h"
#include "tls.h"
#include "transport.h"

#define LOGIN		"USER bob\r\nPASS bobpass\r\n"
#define OUT_SIZE	(1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A login counts the messages the oracle reads, no more, no fewer. */
static void
check_listed(const struct oracle_pop3 *o, const struct oracle_box *b)
{
	if (o->logged_in && o->listed != b->n)
		oracle_fail(b->login, "a login counted other messages than "
		    "the mailbox holds");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct oracle_box before;
	static struct oracle_pop3 replies;
	static char out[OUT_SIZE];
	struct pop3_config cfg = {
		.root_fd = fuzz_root(),
		.domain = "fuzz.example",
		.timeout_s = 1,
		.fail_delay_s = 0,
	};
	struct mem_transport t;
	struct tls_hook tls;
	char *in;
	size_t skip = 0;

	if (size == 0)
		return 0;
	/* The first byte chooses: odd, log in first. */
	in = malloc(sizeof(LOGIN) + size);
	if (in == NULL)
		return 0;
	if (data[0] & 1) {
		memcpy(in, LOGIN, sizeof(LOGIN) - 1);
		skip = sizeof(LOGIN) - 1;
	}
	memcpy(in + skip, data + 1, size - 1);
	fuzz_put_variant(data[0] >> 3);
	oracle_before(&before, "bob");
	mem_transport_init(&t, in, skip + size - 1, out, sizeof(out));
	if (data[0] & 2) {
		fuzz_tls_hook(&tls, &t.base);
		cfg.tls = &tls;
	}
	cfg.auth_needs_tls = (data[0] & 4) != 0;
	(void)pop3_session_run(&cfg, &t.base);
	free(in);
	if (oracle_read_pop3(out, t.out_len, sizeof(out), &replies)) {
		check_listed(&replies, &before);
		oracle_after(&before, replies.updated ? replies.deleted : NULL,
		    0);
	} else
		oracle_forget(&before);
	fuzz_root_reset();
	return 0;
}
