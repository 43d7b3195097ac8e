/* SPDX-License-Identifier: MIT */
/* libFuzzer: the mailbox store and reader fed an arbitrary file.
 *
 * 1. A delivery appends a record to it: the store must keep every byte up
 *    to the last "." line (giving a last "." its LF), cut a tail only when
 *    it is a killed delivery's (sockmail-mailbox(5)), move any other tail
 *    byte for byte to one side file, and put the record right after.
 *    Checked against a plain forward reading of the format below.
 * 2. The POP3 maildrop opens it (the message index persists from one
 *    input to the next and must notice the change), reads every message,
 *    deletes every other one and rewrites; a second login must then find
 *    the kept messages, with the same sizes and UIDs. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz-root.h"
#include "maildrop.h"
#include "store.h"

#define RECORD	"From: f@x\nTo: bob@x\nSubject: s\n" \
		"Received: 2026-11-27 : 21 : 04\nbody\n.\n"
#define CHECK(c)	do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the whole messages of data end (sockmail-mailbox(5)), read
 * forwards: after the last "." line, or at the end when the file ends in
 * a "." (or ".\r") alone on its line, which then needs its LF. */
static size_t
reference_whole(const uint8_t *d, size_t n, bool *needs_lf)
{
	size_t i, whole = 0;

	*needs_lf = false;
	for (i = 0; i < n; i++) {
		if (d[i] != '.' || (i > 0 && d[i - 1] != '\n'))
			continue;
		if (i + 1 < n && d[i + 1] == '\n')
			whole = i + 2;
		else if (i + 2 < n && d[i + 1] == '\r' && d[i + 2] == '\n')
			whole = i + 3;
		else if (i + 1 == n || (i + 2 == n && d[i + 1] == '\r')) {
			*needs_lf = true;
			whole = n;
		}
	}
	return whole;
}

/* Whether tail t (n > 0 bytes) is what only a killed append leaves: no
 * NUL, then NULs to the end, the part before them empty or a prefix of a
 * record's "From: ". */
static bool
reference_killed(const uint8_t *t, size_t n)
{
	static const char start[] = "From: ";
	size_t i, first_nul = n;

	for (i = 0; i < n; i++)
		if (t[i] == '\0') {
			first_nul = i;
			break;
		}
	if (first_nul == n)
		return false;
	for (i = first_nul; i < n; i++)
		if (t[i] != '\0')
			return false;
	i = first_nul < sizeof(start) - 1 ? first_nul : sizeof(start) - 1;
	return memcmp(t, start, i) == 0;
}

static int
bob_folder(void)
{
	int fd = openat(fuzz_root(), "USERS/bob", O_RDONLY | O_DIRECTORY);

	CHECK(fd >= 0);
	return fd;
}

/* Read a whole file of the folder into a malloc'd buffer. */
static uint8_t *
slurp(int dir_fd, const char *name, size_t *len_out)
{
	struct stat st;
	uint8_t *p;
	int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW);

	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	p = malloc((size_t)st.st_size + 1);
	CHECK(p != NULL);
	CHECK(pread(fd, p, (size_t)st.st_size, 0) == st.st_size);
	(void)close(fd);
	*len_out = (size_t)st.st_size;
	return p;
}

/* Check and remove the side files: exactly want of them, each holding
 * tail (want SIZE_MAX: only remove them). */
static void
check_side_files(int dir_fd, size_t want, const uint8_t *tail, size_t n)
{
	struct dirent *e;
	size_t found = 0, len;
	uint8_t *got;
	DIR *dir;
	int fd = dup(dir_fd);

	CHECK(fd >= 0 && (dir = fdopendir(fd)) != NULL);
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, STORE_TAIL_PREFIX,
		    sizeof(STORE_TAIL_PREFIX) - 1) != 0)
			continue;
		found++;
		if (want != SIZE_MAX) {
			got = slurp(dir_fd, e->d_name, &len);
			CHECK(len == n && memcmp(got, tail, n) == 0);
			free(got);
		}
		CHECK(unlinkat(dir_fd, e->d_name, 0) == 0);
	}
	(void)closedir(dir);
	CHECK(want == SIZE_MAX || found == want);
}

static void
fuzz_append(const uint8_t *data, size_t size)
{
	struct store_append a;
	size_t whole, len, off;
	uint8_t *got;
	bool needs_lf, killed;
	int dir_fd;

	whole = reference_whole(data, size, &needs_lf);
	killed = whole < size && reference_killed(data + whole, size - whole);
	fuzz_put_mailbox(data, size);
	CHECK(store_append_begin(fuzz_root(), "bob", sizeof(RECORD) - 1,
	    &a) == 0);
	CHECK(a.start == (off_t)(whole + needs_lf));
	CHECK(store_append_write(&a, RECORD, sizeof(RECORD) - 1) == 0);
	CHECK(store_append_publish(&a) == 0);
	CHECK(store_append_commit(&a) == 0);
	store_append_end(&a);

	dir_fd = bob_folder();
	got = slurp(dir_fd, STORE_FILE, &len);
	CHECK(len == whole + needs_lf + sizeof(RECORD) - 1);
	CHECK(memcmp(got, data, whole) == 0);
	off = whole;
	if (needs_lf)
		CHECK(got[off++] == '\n');
	CHECK(memcmp(got + off, RECORD, sizeof(RECORD) - 1) == 0);
	free(got);
	check_side_files(dir_fd, whole < size && !killed, data + whole,
	    size - whole);
	(void)close(dir_fd);
}

static void
fuzz_maildrop(const uint8_t *data, size_t size)
{
	struct maildrop md, md2;
	struct maildrop_msg *m;
	uint64_t octets, *sizes, *hashes;
	uint8_t buf[256];
	size_t i, j, kept;
	ssize_t got;
	bool needs_lf;
	int removed, dir_fd;

	fuzz_put_mailbox(data, size);
	if (maildrop_open(&md, fuzz_root(), "bob") != 0)
		return;
	CHECK(md.ix.covered == reference_whole(data, size, &needs_lf));
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
	for (i = 1; i <= md.n; i += 2)
		CHECK(maildrop_delete(&md, i) == 0);
	maildrop_stat(&md, &kept, &octets);
	removed = maildrop_update(&md);
	maildrop_close(&md);
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
	/* Tails moved aside: checked in fuzz_append, removed here. */
	dir_fd = bob_folder();
	check_side_files(dir_fd, SIZE_MAX, NULL, 0);
	(void)close(dir_fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_append(data, size);
	fuzz_maildrop(data, size);
	fuzz_root_reset();
	return 0;
}
