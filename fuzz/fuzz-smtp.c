/* SPDX-License-Identifier: MIT */
/* libFuzzer: a whole SMTP session fed arbitrary bytes, in-process, with
 * (pretend) TLS offered so that STARTTLS and the fresh session after it
 * are fuzzed too, and a quota that a few messages to bob reach (his
 * mailbox starts at 158 bytes), so that both its refusals are fuzzed:
 * 552 at the end of DATA, 452 at RCPT once the mailbox is full. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-root.h"
#include "smtpd.h"
#include "tls.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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

	mem_transport_init(&t, data, size, NULL, 0);
	fuzz_tls_hook(&tls, &t.base);
	(void)smtp_session_run(&cfg, &t.base);
	fuzz_root_reset();
	return 0;
}
