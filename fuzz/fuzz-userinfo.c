/* SPDX-License-Identifier: MIT */
/* libFuzzer: the userinfo.txt parser, one line and a whole file. */
#include "config.h"

#include <stdint.h>

#include "fuzz-root.h"
#include "userdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct userdb_entry e;

	if (userdb_parse_line((const char *)data, size, &e) == USERDB_LINE_USER)
		(void)userdb_password_ok(&e, "guess");
	fuzz_put_userinfo(data, size);
	if (userdb_find(fuzz_root(), "bob", &e) == 1)
		(void)userdb_password_ok(&e, "bobpass");
	userdb_entry_free(&e);
	fuzz_put_userinfo("bob bobpass\n", 12);
	return 0;
}
