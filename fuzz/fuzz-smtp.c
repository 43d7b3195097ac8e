/* SPDX-License-Identifier: MIT */
/* libFuzzer: a whole SMTP session fed arbitrary bytes, in-process. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-root.h"
#include "smtpd.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct smtp_config cfg = {
		.root_fd = fuzz_root(),
		.domain = "fuzz.example",
		.timeout_s = 1,
		.size_max = 65536,
	};
	struct mem_transport t;

	mem_transport_init(&t, data, size, NULL, 0);
	(void)smtp_session_run(&cfg, &t.base);
	fuzz_root_reset();
	return 0;
}
