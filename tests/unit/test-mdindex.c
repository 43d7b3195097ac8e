/* SPDX-License-Identifier: MIT */
/* Unit tests for mdindex: built by a scan, reused as is, extended over
 * appended mail, rebuilt whenever it does not match the mailbox, and
 * compacted after an UPDATE. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mdindex.h"
#include "fixture.h"
#include "tap.h"

#define REC_A	"Subject: one\n\nbody\n.\n"
#define REC_B	"Subject: two\n..dot\n.\n"
#define REC_C	"Subject: three\r\n\r\n.\r\nend\n.\n"

static char	dir[] = "/tmp/sockmail-mdindex-XXXXXX";
static int	dir_fd = -1;

/* What a scan of the mailbox must find: each record's bounds, size as
 * RETR sends it (CRLF endings, a stuffed "." counted once) and hash. */
struct want {
	uint64_t	start, end, size, hash;
};

static struct want
want_of(const char *rec, uint64_t start)
{
	size_t len = strlen(rec), body = len - 2, i;
	struct want w = { start, start + len, 0, 0 };

	w.hash = mdindex_fnv(MDINDEX_FNV_OFFSET, rec, body);
	for (i = 0; i < body; i++) {
		if (rec[i] == '.' && (i == 0 || rec[i - 1] == '\n'))
			continue;	/* stuffed: sent once */
		w.size += rec[i] == '\n' ? 2 : 1;
	}
	return w;
}

static int
mailbox(const char *content)
{
	int fd;

	fixture_put(dir_fd, "my_mailbox.txt", content, strlen(content), 0600);
	if ((fd = openat(dir_fd, "my_mailbox.txt", O_RDWR)) < 0)
		abort();
	return fd;
}

static void
append(int fd, const char *data)
{
	if (pwrite(fd, data, strlen(data), lseek(fd, 0, SEEK_END)) !=
	    (ssize_t)strlen(data))
		abort();
}

/* Load the index of fd's whole content and check it against recs. */
static bool
load_matches(int fd, const char *const *recs, size_t n, bool *rebuilt)
{
	struct mdindex ix;
	struct mdindex_entry e;
	struct stat st;
	struct want w;
	uint64_t start = 0, octets = 0;
	bool good;
	size_t i;

	if (fstat(fd, &st) < 0 || mdindex_load(&ix, dir_fd, fd, st.st_size) < 0)
		return false;
	good = ix.n == n && ix.covered == (uint64_t)st.st_size;
	for (i = 0; good && i < n; i++) {
		w = want_of(recs[i], start);
		good = mdindex_get(&ix, i, &e) == 0 && e.start == w.start &&
		    e.end == w.end && e.size == w.size && e.hash == w.hash;
		start = w.end;
		octets += w.size;
	}
	good = good && ix.octets == octets;
	*rebuilt = ix.rebuilt;
	mdindex_close(&ix);
	return good;
}

int
main(void)
{
	const char *recs[] = { REC_A, REC_B, REC_C, REC_A };
	struct mdindex ix;
	struct mdindex_entry e;
	struct stat st;
	unsigned char deleted[1] = { 0x01 };	/* the first message */
	bool rebuilt;
	int fd, out;

	if (mkdtemp(dir) == NULL || (dir_fd = open(dir, O_RDONLY)) < 0)
		abort();

	fd = mailbox(REC_A REC_B);
	ok(load_matches(fd, recs, 2, &rebuilt) && rebuilt,
	    "a first login scans the mailbox: bounds, sizes, hashes");
	ok(load_matches(fd, recs, 2, &rebuilt) && !rebuilt,
	    "the next one uses the index as it is");
	append(fd, REC_C);
	ok(load_matches(fd, recs, 3, &rebuilt) && !rebuilt,
	    "mail appended since is added to it, not rescanned");

	/* The same length, other bytes: a hand edit in place. */
	if (pwrite(fd, "X", 1, 9) != 1)
		abort();
	ok(mdindex_load(&ix, dir_fd, fd, lseek(fd, 0, SEEK_END)) == 0 &&
	    ix.rebuilt, "an edit in place, same length, makes it rebuild");
	mdindex_close(&ix);
	(void)close(fd);

	/* A new file under the name: another inode. */
	fd = mailbox(REC_A REC_B REC_C);
	ok(load_matches(fd, recs, 3, &rebuilt) && rebuilt,
	    "a mailbox replaced by another file is rescanned");
	(void)close(fd);

	/* A mailbox whose last "." has no LF, then mail after it. */
	fd = mailbox(REC_A "Subject: two\n..dot\n.");
	if (fstat(fd, &st) < 0 || mdindex_load(&ix, dir_fd, fd, st.st_size) < 0)
		abort();
	ok(ix.n == 2 && ix.lf_missing && mdindex_get(&ix, 1, &e) == 0 &&
	    mdindex_dot(&ix, &e) == e.end - 1,
	    "a last '.' without its LF ends the last message");
	mdindex_close(&ix);
	append(fd, "\n" REC_C);
	ok(load_matches(fd, recs, 3, &rebuilt) && rebuilt,
	    "once a writer gave it its LF, the index is rebuilt");
	(void)close(fd);

	/* Garbage under the index's name. */
	fd = mailbox(REC_A REC_B REC_C REC_A);
	fixture_put(dir_fd, MDINDEX_FILE, "sockidx1 but not really", 23, 0600);
	ok(load_matches(fd, recs, 4, &rebuilt) && rebuilt,
	    "an index that is garbage is rebuilt");
	if (fstat(fd, &st) < 0)
		abort();

	/* Compaction after an UPDATE that removed the first message. */
	if (mdindex_load(&ix, dir_fd, fd, st.st_size) < 0)
		abort();
	out = mailbox(REC_B REC_C REC_A "Subject: new\n.\n");
	mdindex_compact(&ix, dir_fd, out, deleted);
	ok(ix.n == 3 && ix.covered == strlen(REC_B REC_C REC_A) &&
	    mdindex_get(&ix, 0, &e) == 0 && e.start == 0 &&
	    e.hash == want_of(REC_B, 0).hash,
	    "UPDATE's compaction shifts the kept messages");
	mdindex_close(&ix);
	{
		const char *after[] = { REC_B, REC_C, REC_A, "Subject: new\n.\n" };

		ok(load_matches(out, after, 4, &rebuilt) && !rebuilt,
		    "and the next login only scans the mail after them");
	}
	(void)close(out);
	(void)close(fd);

	/* An empty mailbox. */
	fd = mailbox("");
	ok(load_matches(fd, recs, 0, &rebuilt), "an empty mailbox has no messages");
	(void)close(fd);

	(void)close(dir_fd);
	fixture_rm_tree(dir);
	return done_testing();
}
