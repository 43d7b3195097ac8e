/* SPDX-License-Identifier: MIT */
/* Unit tests for mdindex: built by a scan, reused as is, extended over
 * appended mail, rebuilt whenever it does not match the mailbox, and
 * compacted after an UPDATE; a CRLF mailbox indexes as its LF form. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailfmt.h"
#include "maildrop.h"
#include "mdindex.h"
#include "store.h"
#include "fixture.h"
#include "tap.h"

#define REC_A	"Subject: one\n\nbody\n.\n"
#define REC_B	"Subject: two\n..dot\n.\n"
/* A CRLF line, a stuffed "." with CRLF, a lone CR in content. */
#define REC_C	"Subject: three\r\n\r\n..\r\nend\rx\n.\n"
#define LEN(s)	(sizeof(s) - 1)

static char	dir[] = "/tmp/sockmail-mdindex-XXXXXX";
static int	dir_fd = -1;

/* What a scan of the mailbox must find: each record's bounds, size as
 * RETR sends it (CRLF endings, a stuffed "." counted once) and hash (of
 * the bytes before the "." line, a CR before an LF left out). */
struct want {
	uint64_t	start, dot, end, size, hash;
};

static struct want
want_of(const char *rec, uint64_t start)
{
	size_t		len = strlen(rec), body, i;
	struct want	w = { .start = start, .end = start + len };
	bool		line_start = true;
	unsigned char	c;

	/* The "." line: ".\n" or ".\r\n". */
	body = len >= 3 && rec[len - 2] == '\r' ? len - 3 : len - 2;
	w.dot = start + body;
	w.hash = MAILFMT_FNV_OFFSET;
	for (i = 0; i < body; i++) {
		c = (unsigned char)rec[i];
		if (c == '\r' && i + 1 < body && rec[i + 1] == '\n')
			continue;	/* part of the line ending */
		w.hash = mailfmt_fnv(w.hash, &c, 1);
		if (c == '\n') {
			w.size += 2;
			line_start = true;
			continue;
		}
		if (!(line_start && c == '.'))
			w.size++;	/* a stuffed "." is sent once */
		line_start = false;
	}
	return w;
}

static struct store_box
box_of(int fd)
{
	struct store_box b;

	store_box_init(&b);
	b.fd = fd;
	b.user_fd = dir_fd;
	return b;
}

static int
mailbox_bytes(const char *content, size_t len)
{
	int fd;

	fixture_put(dir_fd, "my_mailbox.txt", content, len, 0600);
	if ((fd = openat(dir_fd, "my_mailbox.txt", O_RDWR)) < 0)
		abort();
	return fd;
}

static int
mailbox(const char *content)
{
	return mailbox_bytes(content, strlen(content));
}

static void
append(int fd, const char *data)
{
	if (pwrite(fd, data, strlen(data), lseek(fd, 0, SEEK_END)) !=
	    (ssize_t)strlen(data))
		abort();
}

static int
load(struct mdindex *ix, int fd, off_t whole)
{
	struct store_box b = box_of(fd);

	return mdindex_load(ix, &b, whole);
}

/* Load the index of fd's whole content and check it against recs. */
static bool
load_matches(int fd, const char *const *recs, size_t n, bool *rebuilt)
{
	struct mdindex ix;
	struct mailfmt_msg e;
	struct stat st;
	struct want w;
	uint64_t start = 0, octets = 0;
	bool good;
	size_t i;

	if (fstat(fd, &st) < 0 || load(&ix, fd, st.st_size) < 0)
		return false;
	good = ix.n == n && ix.covered == (uint64_t)st.st_size;
	for (i = 0; good && i < n; i++) {
		w = want_of(recs[i], start);
		good = mdindex_get(&ix, i, &e) == 0 && e.start == w.start &&
		    e.dot == w.dot && e.end == w.end && e.size == w.size &&
		    e.hash == w.hash;
		if (!good)
			printf("# entry %zu: start %llu/%llu dot %llu/%llu end "
			    "%llu/%llu size %llu/%llu\n", i,
			    (unsigned long long)e.start,
			    (unsigned long long)w.start,
			    (unsigned long long)e.dot, (unsigned long long)w.dot,
			    (unsigned long long)e.end, (unsigned long long)w.end,
			    (unsigned long long)e.size,
			    (unsigned long long)w.size);
		start = w.end;
		octets += w.size;
	}
	good = good && ix.octets == octets;
	*rebuilt = ix.rebuilt;
	mdindex_close(&ix);
	return good;
}

/* The LF form of s: every CR right before an LF dropped. */
static size_t
lf_form(const char *s, char *out, size_t size)
{
	size_t i, n = 0, len = strlen(s);

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		if (n + 1 >= size)
			abort();
		out[n++] = s[i];
	}
	out[n] = '\0';
	return n;
}

/* The CRLF form of s: a CR before every LF that lacks one. */
static size_t
crlf_form(const char *s, char *out, size_t size)
{
	size_t i, n = 0, len = strlen(s);

	for (i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
			if (n + 1 >= size)
				abort();
			out[n++] = '\r';
		}
		if (n + 1 >= size)
			abort();
		out[n++] = s[i];
	}
	out[n] = '\0';
	return n;
}

/* A CRLF mailbox and its LF form: the same messages, sizes and hashes
 * (so the same UIDLs); the dots and ends where each file has them. */
static void
test_crlf(void)
{
	static const char *const recs[] = { REC_A, REC_B, REC_C, REC_A };
	char crlf[4][128], lf[4][128], all_crlf[512], all_lf[512];
	char uid_crlf[MAILDROP_UID_MAX + 32], uid_lf[MAILDROP_UID_MAX + 32];
	const char *pc[4], *pl[4];
	struct mdindex ixc, ixl;
	struct mailfmt_msg ec, el;
	struct maildrop_msg mc = { 0 }, ml = { 0 };
	bool rebuilt, good, dots_ok, same;
	size_t i;
	int fd;

	all_crlf[0] = all_lf[0] = '\0';
	for (i = 0; i < 4; i++) {
		(void)crlf_form(recs[i], crlf[i], sizeof(crlf[i]));
		(void)lf_form(recs[i], lf[i], sizeof(lf[i]));
		pc[i] = crlf[i];
		pl[i] = lf[i];
		if (strlen(all_crlf) + strlen(crlf[i]) >= sizeof(all_crlf) ||
		    strlen(all_lf) + strlen(lf[i]) >= sizeof(all_lf))
			abort();
		memcpy(all_crlf + strlen(all_crlf), crlf[i], strlen(crlf[i]) + 1);
		memcpy(all_lf + strlen(all_lf), lf[i], strlen(lf[i]) + 1);
	}

	fd = mailbox(all_crlf);
	good = load_matches(fd, pc, 4, &rebuilt);
	ok(good, "CRLF: a CRLF mailbox: bounds, dots, sizes, hashes");
	{
		struct stat st;

		if (fstat(fd, &st) < 0 || load(&ixc, fd, st.st_size) < 0)
			abort();
	}
	dots_ok = true;
	for (i = 0; i < ixc.n; i++) {
		char dot[3];

		if (mdindex_get(&ixc, i, &ec) < 0 ||
		    pread(fd, dot, 3, (off_t)ec.dot) != 3 ||
		    memcmp(dot, ".\r\n", 3) != 0 || ec.end != ec.dot + 3)
			dots_ok = false;
	}
	ok(ixc.n == 4 && dots_ok, "CRLF: each dot is where its .\\r\\n starts");
	(void)close(fd);
	/* The index file is the CRLF mailbox's: keep it out of the way. */
	if (renameat(dir_fd, MDINDEX_FILE, dir_fd, "crlf.idx") < 0)
		abort();

	fd = mailbox(all_lf);
	ok(load_matches(fd, pl, 4, &rebuilt) && rebuilt,
	    "CRLF: its LF form, scanned afresh");
	{
		struct stat st;

		if (fstat(fd, &st) < 0 || load(&ixl, fd, st.st_size) < 0)
			abort();
	}
	same = ixc.n == ixl.n && ixc.octets == ixl.octets &&
	    ixc.covered == strlen(all_crlf) && ixl.covered == strlen(all_lf);
	for (i = 0; same && i < ixl.n; i++) {
		same = mdindex_get(&ixc, i, &ec) == 0 &&
		    mdindex_get(&ixl, i, &el) == 0 && ec.size == el.size &&
		    ec.hash == el.hash && el.end == el.dot + 2;
		mc.hash = ec.hash;
		ml.hash = el.hash;
		maildrop_uid(&mc, uid_crlf, sizeof(uid_crlf));
		maildrop_uid(&ml, uid_lf, sizeof(uid_lf));
		same = same && strcmp(uid_crlf, uid_lf) == 0;
	}
	ok(same, "CRLF: the same sizes and hashes, so the same UIDLs, as "
	    "the LF form");
	mdindex_close(&ixc);
	mdindex_close(&ixl);
	(void)close(fd);

	/* A mailbox of mixed line endings: each message as its own. */
	fd = mailbox(REC_A "Subject: x\r\n.\r\n" REC_B);
	{
		const char *mixed[] = { REC_A, "Subject: x\r\n.\r\n", REC_B };

		ok(load_matches(fd, mixed, 3, &rebuilt),
		    "CRLF: LF and CRLF messages in one mailbox");
	}
	(void)close(fd);

	/* A last ".\r" without its LF. */
	fd = mailbox(REC_A "Subject: two\r\n.\r");
	{
		struct stat st;
		struct mdindex ix;
		struct mailfmt_msg e;

		if (fstat(fd, &st) < 0 || load(&ix, fd, st.st_size) < 0)
			abort();
		ok(ix.n == 2 && ix.lf_missing && mdindex_get(&ix, 1, &e) == 0 &&
		    e.dot == LEN(REC_A "Subject: two\r\n") &&
		    e.end == e.dot + 2 &&
		    e.hash == want_of("Subject: two\n.\n", 0).hash &&
		    e.size == want_of("Subject: two\n.\n", 0).size,
		    "CRLF: a last .\\r without its LF ends the last message");
		mdindex_close(&ix);
	}
	append(fd, "\n" REC_A);
	{
		const char *after[] = { REC_A, "Subject: two\r\n.\r\n", REC_A };

		ok(load_matches(fd, after, 3, &rebuilt) && rebuilt,
		    "CRLF: once a writer gave it its LF, the index is rebuilt");
	}
	(void)close(fd);
}

int
main(void)
{
	const char *recs[] = { REC_A, REC_B, REC_C, REC_A };
	struct mdindex ix;
	struct mailfmt_msg e;
	struct store_box b;
	struct stat st;
	unsigned char deleted[1] = { 0x01 };	/* the first message */
	bool rebuilt;
	int fd, out, rc;

	if (mkdtemp(dir) == NULL || (dir_fd = open(dir, O_RDONLY)) < 0)
		abort();

	/* The scanner's idea of REC_C: three messages' worth of traps. */
	{
		struct want w = want_of(REC_C, 0);

		ok(w.dot == LEN(REC_C) - 2 && w.size == LEN("Subject: three"
		    "\r\n\r\n.\r\nend\rx\r\n"), "want_of: REC_C is one message "
		    "of %llu octets", (unsigned long long)w.size);
	}

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
	ok(load(&ix, fd, lseek(fd, 0, SEEK_END)) == 0 && ix.rebuilt,
	    "an edit in place, same length, makes it rebuild");
	mdindex_close(&ix);
	(void)close(fd);

	/* A new file under the name: another inode. */
	fd = mailbox(REC_A REC_B REC_C);
	ok(load_matches(fd, recs, 3, &rebuilt) && rebuilt,
	    "a mailbox replaced by another file is rescanned");
	(void)close(fd);

	/* A mailbox whose last "." has no LF, then mail after it. */
	fd = mailbox(REC_A "Subject: two\n..dot\n.");
	if (fstat(fd, &st) < 0 || load(&ix, fd, st.st_size) < 0)
		abort();
	ok(ix.n == 2 && ix.lf_missing && mdindex_get(&ix, 1, &e) == 0 &&
	    e.dot == e.end - 1 && e.end == (uint64_t)st.st_size,
	    "a last '.' without its LF ends the last message");
	mdindex_close(&ix);
	append(fd, "\n" REC_C);
	ok(load_matches(fd, recs, 3, &rebuilt) && rebuilt,
	    "once a writer gave it its LF, the index is rebuilt");
	(void)close(fd);

	/* A whole that does not end after a "." line: EIO. */
	fd = mailbox(REC_A "Subject: torn\n");
	errno = 0;
	rc = load(&ix, fd, (off_t)LEN(REC_A "Subject: torn\n"));
	ok(rc == -1 && errno == EIO && ix.fd == -1,
	    "a whole that ends inside a message is EIO");
	ok(load(&ix, fd, (off_t)LEN(REC_A)) == 0 && ix.n == 1,
	    "the whole before the tail indexes");
	mdindex_close(&ix);
	(void)close(fd);

	/* Garbage under the index's name. */
	fd = mailbox(REC_A REC_B REC_C REC_A);
	fixture_put(dir_fd, MDINDEX_FILE, "sockidx2 but not really", 23, 0600);
	ok(load_matches(fd, recs, 4, &rebuilt) && rebuilt,
	    "an index that is garbage is rebuilt");

	/* A damaged entry (the header does not cover entries) must not
	 * serve bytes of another message. */
	{
		struct mailfmt_msg bad;
		off_t at = 96 + (off_t)sizeof(bad);	/* entry 1 */

		{
			int ixfd = openat(dir_fd, MDINDEX_FILE, O_RDWR);

			if (ixfd < 0 ||
			    pread(ixfd, &bad, sizeof(bad), at) != sizeof(bad))
				abort();
			bad.dot = bad.end + 5;
			if (pwrite(ixfd, &bad, sizeof(bad), at) != sizeof(bad))
				abort();
			(void)close(ixfd);
		}
		if (fstat(fd, &st) < 0 || load(&ix, fd, st.st_size) < 0)
			abort();
		errno = 0;
		rc = mdindex_get(&ix, 1, &e);
		ok(!ix.rebuilt && rc == -1 && errno == EIO,
		    "a damaged entry is EIO, not served");
		ok(mdindex_get(&ix, 0, &e) == 0 && e.start == 0,
		    "the entries around it still serve");
		errno = 0;
		rc = mdindex_get(&ix, 4, &e);
		ok(rc == -1 && errno == ENOENT, "past the last entry: ENOENT");
		mdindex_close(&ix);
		/* Put it right again for what follows. */
		if (unlinkat(dir_fd, MDINDEX_FILE, 0) < 0)
			abort();
		ok(load_matches(fd, recs, 4, &rebuilt) && rebuilt,
		    "without its index, the mailbox is scanned again");
	}
	if (fstat(fd, &st) < 0)
		abort();

	/* Compaction after an UPDATE that removed the first message. */
	if (load(&ix, fd, st.st_size) < 0)
		abort();
	out = mailbox(REC_B REC_C REC_A "Subject: new\n.\n");
	b = box_of(out);
	mdindex_compact(&ix, &b, deleted);
	ok(ix.n == 3 && ix.covered == strlen(REC_B REC_C REC_A) &&
	    mdindex_get(&ix, 0, &e) == 0 && e.start == 0 &&
	    e.dot == LEN(REC_B) - 2 && e.hash == want_of(REC_B, 0).hash,
	    "UPDATE's compaction shifts the kept messages");
	mdindex_close(&ix);
	{
		char hp[160], tmp[256];
		struct stat tst;

		if (store_host_pid(hp, sizeof(hp)) < 0 ||
		    snprintf(tmp, sizeof(tmp), "%s.%s.tmp", MDINDEX_FILE, hp) >=
		    (int)sizeof(tmp))
			abort();
		ok(fstatat(dir_fd, tmp, &tst, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT, "compaction leaves no temporary file");
	}
	{
		const char *after[] = { REC_B, REC_C, REC_A, "Subject: new\n.\n" };

		ok(load_matches(out, after, 4, &rebuilt) && !rebuilt,
		    "and the next login only scans the mail after them");
	}
	(void)close(out);
	(void)close(fd);

	/* Compaction of a mailbox whose last ".\r" lacked its LF. */
	fd = mailbox(REC_A "Subject: x\r\n.\r");
	if (fstat(fd, &st) < 0 || load(&ix, fd, st.st_size) < 0)
		abort();
	out = mailbox(REC_A "Subject: x\r\n.\r\n");
	b = box_of(out);
	deleted[0] = 0;
	mdindex_compact(&ix, &b, deleted);
	ok(ix.n == 2 && !ix.lf_missing &&
	    ix.covered == LEN(REC_A "Subject: x\r\n.\r\n") &&
	    mdindex_get(&ix, 1, &e) == 0 && e.end == e.dot + 3,
	    "compaction counts the LF the rewrite gave a last .\\r");
	mdindex_close(&ix);
	{
		const char *after[] = { REC_A, "Subject: x\r\n.\r\n" };

		ok(load_matches(out, after, 2, &rebuilt) && !rebuilt,
		    "and the next login uses it as it is");
	}
	(void)close(out);
	(void)close(fd);

	/* An empty mailbox. */
	fd = mailbox("");
	ok(load_matches(fd, recs, 0, &rebuilt), "an empty mailbox has no messages");
	(void)close(fd);

	/* An index file that is a symbolic link is not written through. */
	fixture_put(dir_fd, "victim", "VICTIM", 6, 0600);
	(void)unlinkat(dir_fd, MDINDEX_FILE, 0);
	if (symlinkat("victim", dir_fd, MDINDEX_FILE) < 0)
		abort();
	fd = mailbox(REC_A);
	ok(load_matches(fd, recs, 1, &rebuilt) && rebuilt &&
	    fixture_file_is(dir_fd, "victim", "VICTIM", 6),
	    "an index that is a symlink is replaced, its target untouched");
	(void)close(fd);

	test_crlf();

	(void)close(dir_fd);
	fixture_rm_tree(dir);
	return done_testing();
}
