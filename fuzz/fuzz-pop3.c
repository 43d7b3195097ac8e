/* SPDX-License-Identifier: MIT */
/* libFuzzer: a whole POP3 session fed arbitrary bytes, in-process. The
 * first byte chooses: bit 0, send the input after a good login, so that
 * the TRANSACTION commands are reached too; bit 1, offer (pretend) TLS, so
 * that STLS and AUTH PLAIN are; bit 2, refuse passwords before TLS (-R). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-root.h"
#include "pop3d.h"
#include "tls.h"
#include "transport.h"

#define LOGIN	"USER bob\r\nPASS bobpass\r\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
	mem_transport_init(&t, in, skip + size - 1, NULL, 0);
	if (data[0] & 2) {
		fuzz_tls_hook(&tls, &t.base);
		cfg.tls = &tls;
	}
	cfg.auth_needs_tls = (data[0] & 4) != 0;
	(void)pop3_session_run(&cfg, &t.base);
	free(in);
	fuzz_root_reset();
	return 0;
}
