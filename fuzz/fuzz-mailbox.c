/* SPDX-License-Identifier: MIT */
/* libFuzzer: the mailbox reader (the message index, which persists from
 * one input to the next and must notice the change) and the UPDATE rewrite
 * fed an arbitrary file. */
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
		/* Read every message from the index, delete every other
		 * one, then rewrite. */
		for (i = 1; i <= md.n; i++)
			(void)maildrop_get(&md, i);
		for (i = 1; i <= md.n; i += 2)
			(void)maildrop_delete(&md, i);
		(void)maildrop_number_twins(&md);
		(void)maildrop_update(&md);
		maildrop_close(&md);
	}
	fuzz_root_reset();
	return 0;
}
