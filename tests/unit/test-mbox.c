/* SPDX-License-Identifier: MIT */
/* Unit tests for mbox: create, append, roll back, torn tails, links. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mbox.h"
#include "log.h"
#include "fixture.h"
#include "tap.h"

#define REC_A	"From: a@x\nTo: b@x\nSubject: one\nReceived: 2026-11-27 : 21 : 04\nbody\n.\n"
#define REC_B	"From: c@x\nTo: d@x\nSubject: two\nReceived: 2026-11-27 : 21 : 05\n..dot\n.\n"

static char	root[] = "/tmp/sockmail-mbox-XXXXXX";
static int	root_fd = -1;

static void
put_file(const char *name, const char *data, size_t len, mode_t mode)
{
	fixture_put(root_fd, name, data, len, mode);
}

/* The content of name under the root, NUL-terminated; NULL if missing. */
static char *
get_file(const char *name, size_t *len_out)
{
	struct stat	 st;
	char		*p;
	int		 fd = openat(root_fd, name, O_RDONLY | O_NOFOLLOW);

	if (fd == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || (p = malloc((size_t)st.st_size + 1)) == NULL)
		abort();
	if (pread(fd, p, (size_t)st.st_size, 0) != st.st_size)
		abort();
	p[st.st_size] = '\0';
	*len_out = (size_t)st.st_size;
	(void)close(fd);
	return p;
}

static bool
file_is(const char *name, const char *want, size_t wlen)
{
	size_t	 len = 0;
	char	*got = get_file(name, &len);
	bool	 same = got != NULL && len == wlen && memcmp(got, want, len) == 0;

	if (!same && got != NULL)
		printf("# %s holds %zu bytes:\n%s\n# (end)\n", name, len, got);
	free(got);
	return same;
}

/* Append at the end of the open mailbox, wherever its offset stands (the
 * position after mbox_open_append has its own test). */
static bool
append(struct mbox *mb, const char *data, size_t len)
{
	return lseek(mb->fd, 0, SEEK_END) != -1 &&
	    write(mb->fd, data, len) == (ssize_t)len;
}

static void
mkdir_at(const char *name)
{
	fixture_mkdir(root_fd, name);
}

static void
test_create(void)
{
	struct mbox	mb;
	struct stat	st;
	int		rc;
	bool		appended;

	mbox_init(&mb);
	ok(mb.fd == -1, "init: fd -1");
	rc = mbox_open_append(root_fd, "alice", &mb);
	ok(rc == 0 && mb.fd >= 0, "open_append: a new user's mailbox (%s)",
	    rc == 0 ? "ok" : strerror(errno));
	ok(mb.old_size == 0, "open_append: a new mailbox has old_size 0");
	ok(strcmp(mb.login, "alice") == 0, "open_append: login recorded");
	/* Stat first: the mode in the message is an argument of ok(),
	 * evaluated in no fixed order with its condition. */
	rc = fstatat(root_fd, "USERS/alice", &st, AT_SYMLINK_NOFOLLOW);
	ok(rc == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700,
	    "open_append: the user folder is created 0700 (%o)",
	    rc == 0 ? (unsigned)(st.st_mode & 07777) : 0);
	rc = fstatat(root_fd, "USERS/alice/my_mailbox.txt", &st,
	    AT_SYMLINK_NOFOLLOW);
	ok(rc == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
	    "open_append: the mailbox is created 0600 (%o)",
	    rc == 0 ? (unsigned)(st.st_mode & 07777) : 0);
	ok(append(&mb, REC_A, sizeof(REC_A) - 1),
	    "append: write a record");
	ok(mbox_commit(&mb) == 0, "commit: 0");
	mbox_close(&mb);
	ok(mb.fd == -1, "close: fd -1");
	ok(file_is("USERS/alice/my_mailbox.txt", REC_A, sizeof(REC_A) - 1),
	    "append: the mailbox holds the record");

	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "alice", &mb) == 0 &&
	    mb.old_size == sizeof(REC_A) - 1,
	    "open_append: old_size of an existing mailbox");
	/* "Opened for appending": a plain write() lands at the end. */
	ok(write(mb.fd, REC_B, sizeof(REC_B) - 1) == sizeof(REC_B) - 1 &&
	    mbox_commit(&mb) == 0, "append: a second record, by plain write()");
	mbox_close(&mb);
	appended = file_is("USERS/alice/my_mailbox.txt", REC_A REC_B,
	    sizeof(REC_A REC_B) - 1);
	ok(appended, "open_append: a plain write() appends after the old mail");
	/* Whatever happened, the tests below start from both records. */
	if (!appended)
		put_file("USERS/alice/my_mailbox.txt", REC_A REC_B,
		    sizeof(REC_A REC_B) - 1, 0600);

	/* An existing folder without a mailbox, and an existing empty one. */
	mkdir_at("USERS/bob");
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "bob", &mb) == 0 && mb.old_size == 0,
	    "open_append: an existing folder without a mailbox");
	mbox_close(&mb);
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "bob", &mb) == 0 && mb.old_size == 0,
	    "open_append: an existing empty mailbox");
	mbox_close(&mb);
}

static void
test_rollback(void)
{
	struct mbox	mb;
	struct stat	st;

	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "alice", &mb) == 0, "rollback: open");
	ok(append(&mb, "From: x\npartial", 15), "rollback: append junk");
	ok(mbox_rollback(&mb) == 0, "rollback: 0");
	ok(fstat(mb.fd, &st) == 0 && st.st_size == mb.old_size &&
	    st.st_size == (off_t)(sizeof(REC_A REC_B) - 1),
	    "rollback: the size is back to old_size");
	ok(append(&mb, REC_A, sizeof(REC_A) - 1) &&
	    mbox_commit(&mb) == 0,
	    "rollback: appending after a rollback");
	mbox_close(&mb);
	ok(file_is("USERS/alice/my_mailbox.txt", REC_A REC_B REC_A,
	    sizeof(REC_A REC_B REC_A) - 1),
	    "rollback: the record lands right after the old end");
}

static void
test_lock(void)
{
	struct mbox	mb;
	pid_t		pid;
	int		status;
	int		held[2];
	size_t		i;

	mbox_init(&mb);
	if (mbox_open_append(root_fd, "alice", &mb) == -1)
		abort();
	for (i = 0; i < 2; i++) {
		/* fcntl locks only conflict between processes: ask a child. */
		pid = fork();
		if (pid == -1)
			abort();
		if (pid == 0) {
			struct flock	fl;
			int		fd = openat(root_fd,
			    "USERS/alice/my_mailbox.txt", O_RDWR);

			memset(&fl, 0, sizeof(fl));
			fl.l_type = F_WRLCK;
			fl.l_whence = SEEK_SET;
			if (fd == -1 || fcntl(fd, F_GETLK, &fl) == -1)
				_exit(2);
			_exit(fl.l_type == F_UNLCK ? 0 : 1);
		}
		if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
			abort();
		held[i] = WEXITSTATUS(status);
		if (i == 0)
			mbox_close(&mb);
	}
	ok(held[0] == 1, "lock: an open mailbox is write-locked");
	ok(held[1] == 0, "lock: mbox_close releases the lock");
}

static void
test_torn(void)
{
	static const char	torn[] = REC_A "From: torn\nTo: b@x\nhalf a li";
	static const char	nolf[] = REC_A "From: c@x\nbody\n.";
	struct mbox		mb;
	struct stat		st;

	mkdir_at("USERS/torn");
	put_file("USERS/torn/my_mailbox.txt", torn, sizeof(torn) - 1, 0600);
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "torn", &mb) == 0 &&
	    mb.old_size == sizeof(REC_A) - 1,
	    "torn: old_size is after the last . line (%lld)",
	    (long long)mb.old_size);
	ok(fstat(mb.fd, &st) == 0 && st.st_size == sizeof(REC_A) - 1,
	    "torn: the tail is cut off once the mailbox is locked");
	ok(append(&mb, REC_B, sizeof(REC_B) - 1) &&
	    mbox_commit(&mb) == 0, "torn: append");
	mbox_close(&mb);
	ok(file_is("USERS/torn/my_mailbox.txt", REC_A REC_B,
	    sizeof(REC_A REC_B) - 1), "torn: the next record replaces the tail");

	mkdir_at("USERS/onlytorn");
	put_file("USERS/onlytorn/my_mailbox.txt", "From: torn", 10, 0600);
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "onlytorn", &mb) == 0 &&
	    mb.old_size == 0,
	    "torn: a mailbox holding only a torn write is cut to 0");
	mbox_close(&mb);
	ok(file_is("USERS/onlytorn/my_mailbox.txt", "", 0),
	    "torn: and left empty");

	mkdir_at("USERS/nolf");
	put_file("USERS/nolf/my_mailbox.txt", nolf, sizeof(nolf) - 1, 0600);
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "nolf", &mb) == 0 &&
	    mb.old_size == sizeof(nolf),
	    "no LF: the final . gets its LF (old_size %lld, want %zu)",
	    (long long)mb.old_size, sizeof(nolf));
	ok(append(&mb, REC_B, sizeof(REC_B) - 1) &&
	    mbox_commit(&mb) == 0, "no LF: append");
	mbox_close(&mb);
	ok(file_is("USERS/nolf/my_mailbox.txt", REC_A "From: c@x\nbody\n.\n" REC_B,
	    sizeof(REC_A "From: c@x\nbody\n.\n" REC_B) - 1),
	    "no LF: the last message keeps its . and the new one follows");
}

/* mbox_whole_length over a file holding data. */
static off_t
whole(const char *data, size_t len, bool *needs_lf_out)
{
	off_t	n;
	int	fd;

	put_file("whole.txt", data, len, 0600);
	fd = openat(root_fd, "whole.txt", O_RDONLY);
	if (fd == -1)
		abort();
	n = mbox_whole_length(fd, (off_t)len, needs_lf_out);
	(void)close(fd);
	return n;
}

static void
test_whole(void)
{
	static const size_t	 tails[] = {
		1, 4093, 4094, 4095, 4096, 4097, 8189, 8190, 8191, 8192, 8193,
		16383, 16384, 16385, 65533, 65534, 65535, 65536, 65537,
		100 * 1024,
	};
	size_t			 bigsize = 200 * 1024, i, j;
	char			*big = malloc(bigsize);
	bool			 lf = false, all_ok;
	off_t			 n;
	int			 fd;

	if (big == NULL)
		abort();
	lf = true;
	ok(whole("", 0, &lf) == 0 && !lf, "whole: an empty file is 0");
	lf = true;
	ok(whole(".\n", 2, &lf) == 2 && !lf, "whole: a file of only .\\n is 2");
	lf = false;
	ok(whole(".", 1, &lf) == 1 && lf, "whole: a file of only . is 1, needs LF");
	lf = false;
	ok(whole("a\nb\n.", 5, &lf) == 5 && lf,
	    "whole: a final . without LF counts and needs LF");
	lf = true;
	ok(whole(REC_A, sizeof(REC_A) - 1, &lf) == sizeof(REC_A) - 1 && !lf,
	    "whole: a whole record");
	lf = true;
	ok(whole(REC_A REC_B, sizeof(REC_A REC_B) - 1, &lf) ==
	    sizeof(REC_A REC_B) - 1 && !lf, "whole: two records");
	lf = true;
	ok(whole(REC_A "From: t", sizeof(REC_A "From: t") - 1, &lf) ==
	    sizeof(REC_A) - 1 && !lf, "whole: a record and a torn tail");
	lf = true;
	ok(whole("abc", 3, &lf) == 0, "whole: no . line at all is 0");
	lf = true;
	ok(whole("a\n..\n x.\n. \n.x\nx.\n",
	    sizeof("a\n..\n x.\n. \n.x\nx.\n") - 1, &lf) == 0,
	    "whole: .., .x, x., \". \" are not . lines");
	lf = true;
	ok(whole("a\n.\n..", 6, &lf) == 4,
	    "whole: a final .. without LF is not a . line");
	lf = true;
	ok(whole("a\n.\nb\n.\n", 4, &lf) == 4 && !lf,
	    "whole: reads only up to size");

	/* Torn tails of many lengths after a record, so that a "." line lands
	 * on every side of any read-block boundary. */
	all_ok = true;
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		memcpy(big, REC_A, sizeof(REC_A) - 1);
		for (j = 0; j < tails[i]; j++)
			big[sizeof(REC_A) - 1 + j] = (j % 50 == 49) ? '\n' : 'x';
		lf = true;
		n = whole(big, sizeof(REC_A) - 1 + tails[i], &lf);
		if (n != (off_t)(sizeof(REC_A) - 1) || lf) {
			all_ok = false;
			printf("# tail %zu: %lld\n", tails[i], (long long)n);
		}
		/* The same with the . line at the very start of the file. */
		memcpy(big, ".\n", 2);
		for (j = 0; j < tails[i]; j++)
			big[2 + j] = (j % 70 == 69) ? '\n' : '.';
		/* No line of exactly "." (and none at the end without LF). */
		big[2] = 'y';
		big[2 + tails[i] - 1] = 'y';
		lf = true;
		n = whole(big, 2 + tails[i], &lf);
		if (n != 2 || lf) {
			all_ok = false;
			printf("# .-first, tail %zu: %lld\n", tails[i],
			    (long long)n);
		}
	}
	ok(all_ok, "whole: torn tails up to 100 KiB, read backwards in pieces");

	/* ".\n" ending exactly at each offset near block boundaries. */
	all_ok = true;
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		size_t	total = tails[i] + 200;

		memset(big, 'q', total);
		big[0] = '\n';
		memcpy(big + total - 2, ".\n", 2);
		big[total - 3] = '\n';
		lf = true;
		if (whole(big, total, &lf) != (off_t)total || lf)
			all_ok = false;
		/* And the . line followed by exactly tails[i] bytes. */
		memset(big, 'q', total);
		memcpy(big + 197, "\n.\n", 3);
		lf = true;
		n = whole(big, total, &lf);
		if (n != 200 || lf) {
			all_ok = false;
			printf("# . line at 198, size %zu: %lld\n", total,
			    (long long)n);
		}
	}
	ok(all_ok, "whole: a . line anywhere relative to the read blocks");

	/* A 100 KiB torn tail in a real mailbox is cut off by open_append. */
	memcpy(big, REC_A, sizeof(REC_A) - 1);
	memset(big + sizeof(REC_A) - 1, 'T', 100 * 1024);
	mkdir_at("USERS/bigtorn");
	put_file("USERS/bigtorn/my_mailbox.txt", big,
	    sizeof(REC_A) - 1 + 100 * 1024, 0600);
	{
		struct mbox	mb;

		mbox_init(&mb);
		ok(mbox_open_append(root_fd, "bigtorn", &mb) == 0 &&
		    mb.old_size == sizeof(REC_A) - 1,
		    "open_append: a 100 KiB torn tail is cut off");
		mbox_close(&mb);
	}
	fd = openat(root_fd, "USERS/bigtorn/my_mailbox.txt", O_RDONLY);
	ok(fd != -1 && lseek(fd, 0, SEEK_END) == sizeof(REC_A) - 1,
	    "open_append: the file is the whole record only");
	if (fd != -1)
		(void)close(fd);
	free(big);
}

static void
test_refused(void)
{
	struct mbox	mb;
	struct stat	st;
	char		target[sizeof(root) + 32];
	int		rc;

	/* A symbolic link as the mailbox, to a file outside. */
	put_file("target.txt", "ORIGINAL", 8, 0600);
	mkdir_at("USERS/sym");
	(void)snprintf(target, sizeof(target), "%s/target.txt", root);
	if (symlinkat(target, root_fd, "USERS/sym/my_mailbox.txt") == -1)
		abort();
	mbox_init(&mb);
	errno = 0;
	rc = mbox_open_append(root_fd, "sym", &mb);
	ok(rc == -1, "refused: a symlinked mailbox (errno %d)", errno);
	ok(mb.fd == -1, "refused: no descriptor left open");
	mbox_close(&mb);
	ok(file_is("target.txt", "ORIGINAL", 8), "refused: the target is untouched");

	/* A dangling symbolic link: nothing may be created through it. */
	mkdir_at("USERS/dangle");
	(void)snprintf(target, sizeof(target), "%s/created.txt", root);
	if (symlinkat(target, root_fd, "USERS/dangle/my_mailbox.txt") == -1)
		abort();
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "dangle", &mb) == -1,
	    "refused: a dangling symlinked mailbox");
	mbox_close(&mb);
	ok(fstatat(root_fd, "created.txt", &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT, "refused: nothing created through it");

	/* A hard link. */
	mkdir_at("USERS/hard");
	put_file("other.txt", REC_A, sizeof(REC_A) - 1, 0600);
	if (linkat(root_fd, "other.txt", root_fd, "USERS/hard/my_mailbox.txt",
	    0) == -1)
		abort();
	mbox_init(&mb);
	errno = 0;
	rc = mbox_open_append(root_fd, "hard", &mb);
	ok(rc == -1, "refused: a hard-linked mailbox (errno %d)", errno);
	mbox_close(&mb);
	ok(file_is("other.txt", REC_A, sizeof(REC_A) - 1),
	    "refused: the other link is untouched");

	/* A directory. */
	mkdir_at("USERS/isdir");
	mkdir_at("USERS/isdir/my_mailbox.txt");
	mbox_init(&mb);
	errno = 0;
	rc = mbox_open_append(root_fd, "isdir", &mb);
	ok(rc == -1, "refused: a mailbox that is a directory (errno %d)", errno);
	mbox_close(&mb);

	/* A FIFO: opening it must not hang, and it is refused. */
	mkdir_at("USERS/fifo");
	if (mkfifoat(root_fd, "USERS/fifo/my_mailbox.txt", 0600) == -1)
		abort();
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "fifo", &mb) == -1,
	    "refused: a mailbox that is a FIFO");
	mbox_close(&mb);

	/* A symlinked user folder, to an empty folder and to a full one. */
	mkdir_at("elsewhere");
	(void)snprintf(target, sizeof(target), "%s/elsewhere", root);
	if (symlinkat(target, root_fd, "USERS/symdir") == -1)
		abort();
	mbox_init(&mb);
	errno = 0;
	rc = mbox_open_append(root_fd, "symdir", &mb);
	ok(rc == -1, "refused: a symlinked user folder (errno %d)", errno);
	mbox_close(&mb);
	ok(fstatat(root_fd, "elsewhere/my_mailbox.txt", &st,
	    AT_SYMLINK_NOFOLLOW) == -1,
	    "refused: nothing created in the link's target");

	mkdir_at("elsewhere2");
	put_file("elsewhere2/my_mailbox.txt", REC_A, sizeof(REC_A) - 1, 0600);
	(void)snprintf(target, sizeof(target), "%s/elsewhere2", root);
	if (symlinkat(target, root_fd, "USERS/symdir2") == -1)
		abort();
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "symdir2", &mb) == -1,
	    "refused: a symlinked user folder with a mailbox in it");
	mbox_close(&mb);
	ok(file_is("elsewhere2/my_mailbox.txt", REC_A, sizeof(REC_A) - 1),
	    "refused: the mailbox behind it is untouched");

	/* Names that are not logins never become folder names (userdb.h):
	 * ".." would put a mailbox in the mail root, "../x" a folder beside
	 * USERS. */
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "..", &mb) == -1,
	    "refused: the login ..");
	mbox_close(&mb);
	ok(fstatat(root_fd, "my_mailbox.txt", &st, AT_SYMLINK_NOFOLLOW) == -1,
	    "refused: no mailbox created in the mail root");
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "../escape", &mb) == -1,
	    "refused: the login ../escape");
	mbox_close(&mb);
	ok(fstatat(root_fd, "escape", &st, AT_SYMLINK_NOFOLLOW) == -1,
	    "refused: no folder created outside USERS");
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "", &mb) == -1, "refused: the empty login");
	mbox_close(&mb);

	/* A user folder that is a regular file. */
	put_file("USERS/plain", "x", 1, 0600);
	mbox_init(&mb);
	ok(mbox_open_append(root_fd, "plain", &mb) == -1,
	    "refused: a user folder that is a file");
	mbox_close(&mb);
}

int
main(void)
{
	log_init("test-mbox", NULL);
	/* A mailbox open that blocks (a FIFO) must fail the test, not hang it. */
	(void)alarm(120);
	(void)umask(0);
	if (mkdtemp(root) == NULL)
		abort();
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd == -1 || mkdirat(root_fd, MBOX_USERS_DIR, 0755) == -1)
		abort();
	test_create();
	test_rollback();
	test_lock();
	test_torn();
	test_whole();
	test_refused();
	(void)close(root_fd);
	fixture_rm_tree(root);
	return done_testing();
}
