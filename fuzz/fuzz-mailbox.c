/* SPDX-License-Identifier: MIT */
/* libFuzzer: the mailbox store and reader fed an arbitrary file.
 *
 * 1. A delivery appends a record to it: the store must keep every byte up
 *    to the last "." line (giving a last "." its LF), cut a tail only when
 *    it is a killed delivery's (sockmail-mailbox(5)), move any other tail
 *    byte for byte to one side file, and put the record right after.
 * 2. The POP3 maildrop opens it (the message index persists from one
 *    input to the next and must notice the change), reads every message,
 *    deletes every other one and rewrites: the others must be there byte
 *    for byte, and a second login must find them with the same sizes and
 *    UIDs.
 * Both are checked against the oracle's own reading of the format
 * (oracle.h), which also checks and removes the side files. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-root.h"
#include "maildrop.h"
#include "oracle.h"
#include "store.h"

#define RECORD	"From: f@x\nTo: bob@x\nSubject: s\n" \
		"Received: 2026-11-27 : 21 : 04\nbody\n.\n"
#define CHECK(c)	do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_append(const uint8_t *data, size_t size)
{
	static struct oracle_box before;
	struct store_append a;
	size_t whole, len;
	uint8_t *got;
	bool needs_lf, killed;

	whole = oracle_whole(data, size, &needs_lf, NULL, NULL);
	killed = whole < size && oracle_killed(data + whole, size - whole);
	fuzz_put_mailbox(data, size);
	oracle_before(&before, "bob");
	CHECK(store_append_begin(fuzz_root(), "bob", sizeof(RECORD) - 1,
	    &a) == 0);
	CHECK(a.start == (off_t)(whole + needs_lf));
	CHECK(store_append_write(&a, RECORD, sizeof(RECORD) - 1) == 0);
	CHECK(store_append_publish(&a) == 0);
	CHECK(store_append_commit(&a) == 0);
	store_append_end(&a);

	/* The record right after the whole messages, a last "." given its
	 * LF; */
	got = oracle_read_mailbox("bob", &len);
	CHECK(len == whole + needs_lf + sizeof(RECORD) - 1);
	CHECK(memcmp(got + len - (sizeof(RECORD) - 1), RECORD,
	    sizeof(RECORD) - 1) == 0);
	free(got);
	/* every message before it kept byte for byte; the tail whole in one
	 * side file, unless it is a killed append's room, which is cut. */
	CHECK(oracle_after(&before, NULL, 1) == (whole < size && !killed));
}

static void
fuzz_maildrop(const uint8_t *data, size_t size)
{
	static struct oracle_box before;
	static bool deleted[ORACLE_MSGS_MAX];
	struct maildrop md, md2;
	struct maildrop_msg *m;
	uint64_t octets, *sizes, *hashes;
	uint8_t buf[256];
	size_t i, j, kept;
	ssize_t got;
	bool needs_lf;
	int removed;

	fuzz_put_mailbox(data, size);
	oracle_before(&before, "bob");
	if (maildrop_open(&md, fuzz_root(), "bob") != 0) {
		/* Refused: it must be as it was. */
		oracle_after(&before, NULL, 0);
		return;
	}
	CHECK(md.ix.covered == oracle_whole(data, size, &needs_lf, NULL, NULL));
	CHECK(md.n == before.n && md.n <= ORACLE_MSGS_MAX);
	sizes = calloc(md.n / 2 + 1, sizeof(*sizes));
	hashes = calloc(md.n / 2 + 1, sizeof(*hashes));
	CHECK(sizes != NULL && hashes != NULL);
	/* Read every message from the index, and the "." line of the first
	 * ones; keep the even ones' sizes and hashes, delete the others,
	 * then rewrite. */
	for (i = 1; i <= md.n; i++) {
		m = maildrop_get(&md, i);
		CHECK(m != NULL && m->start <= m->dot && m->dot < m->end &&
		    (uint64_t)m->end <= md.ix.covered);
		if (i <= 4) {
			got = maildrop_read(&md, buf, sizeof(buf), m->dot);
			CHECK(got > 0 && buf[0] == '.');
		}
		if (i % 2 == 0) {
			sizes[i / 2 - 1] = m->size;
			hashes[i / 2 - 1] = m->hash;
		}
	}
	CHECK(maildrop_number_twins(&md) == 0);
	memset(deleted, 0, sizeof(deleted));
	for (i = 1; i <= md.n; i += 2) {
		CHECK(maildrop_delete(&md, i) == 0);
		deleted[i - 1] = true;
	}
	maildrop_stat(&md, &kept, &octets);
	removed = maildrop_update(&md);
	maildrop_close(&md);
	/* Byte for byte: the others kept, the tail in place or aside (and
	 * the side files removed). */
	oracle_after(&before, removed >= 0 ? deleted : NULL, 0);
	if (removed >= 0 && maildrop_open(&md2, fuzz_root(), "bob") == 0) {
		/* The kept messages and nothing else (a tail went to a side
		 * file), with the same sizes and hashes (UIDs). */
		CHECK(md2.n == kept && md2.ix.octets == octets);
		for (j = 1; j <= md2.n; j++) {
			m = maildrop_get(&md2, j);
			CHECK(m != NULL && m->size == sizes[j - 1] &&
			    m->hash == hashes[j - 1]);
		}
		maildrop_close(&md2);
	}
	free(sizes);
	free(hashes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_append(data, size);
	fuzz_maildrop(data, size);
	fuzz_root_reset();
	return 0;
}
