/* SPDX-License-Identifier: MIT */
/* libFuzzer: the mailbox reader (maildrop index) and the UPDATE rewrite fed
 * an arbitrary file. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "fuzz-root.h"
#include "maildrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildrop md;
	size_t i;

	fuzz_put_mailbox(data, size);
	if (maildrop_open(&md, fuzz_root(), "bob") == 0) {
		/* Delete every other message, then rewrite. */
		for (i = 0; i < md.n; i += 2)
			md.msgs[i].deleted = true;
		(void)maildrop_number_twins(&md);
		(void)maildrop_update(&md);
		maildrop_close(&md);
	}
	fuzz_root_reset();
	return 0;
}
