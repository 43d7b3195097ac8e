/* SPDX-License-Identifier: MIT */
/* libFuzzer: a whole SMTP session fed arbitrary bytes, in-process, with
 * (pretend) TLS offered so that STARTTLS and the fresh session after it
 * are fuzzed too, and a quota that a few messages to bob reach (his
 * mailbox starts at 158 bytes), so that both its refusals are fuzzed:
 * 552 at the end of DATA, 452 at RCPT once the mailbox is full.
 *
 * The first byte chooses bob's mailbox (fuzz_put_variant): well formed,
 * CRLF, mbox, or with a tail of each kind. The oracle (oracle.h) then
 * checks that each 250 after DATA is exactly one new message for each
 * recipient it accepted, and that nothing bob had was lost. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-root.h"
#include "oracle.h"
#include "smtpd.h"
#include "tls.h"
#include "transport.h"

#define OUT_SIZE	(1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct oracle_box before[2];
	static char out[OUT_SIZE];
	struct oracle_smtp promised;
	struct tls_hook tls;
	const struct smtp_config cfg = {
		.root_fd = fuzz_root(),
		.tls = &tls,
		.domain = "fuzz.example",
		.timeout_s = 1,
		.size_max = 65536,
		.quota = 1024,
	};
	struct mem_transport t;
	size_t k;

	if (size == 0)
		return 0;
	fuzz_put_variant(data[0]);
	for (k = 0; k < 2; k++)
		oracle_before(&before[k], oracle_smtp_logins[k]);
	mem_transport_init(&t, data + 1, size - 1, out, sizeof(out));
	fuzz_tls_hook(&tls, &t.base);
	(void)smtp_session_run(&cfg, &t.base);
	if (oracle_read_smtp(out, t.out_len, sizeof(out), &promised))
		for (k = 0; k < 2; k++)
			oracle_after(&before[k], NULL, promised.copies[k]);
	else
		for (k = 0; k < 2; k++)
			oracle_forget(&before[k]);
	fuzz_root_reset();
	return 0;
}
