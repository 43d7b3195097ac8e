/* SPDX-License-Identifier: MIT */
/* Unit tests for the mailbox store (store.h): folders and files made and
 * refused, appends whole or not at all, take-back, the locks and what
 * they keep out, the length of the whole messages (LF and CRLF), tails
 * cut or moved aside (sockmail-mailbox(5)), and the replace of UPDATE. */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "store-int.h"
#include "fixture.h"
#include "tap.h"

#define REC_A	"From: a@x\nTo: b@x\nSubject: one\nReceived: 2026-11-27 : 21 : 04\nbody\n.\n"
#define REC_B	"From: c@x\nTo: d@x\nSubject: two\nReceived: 2026-11-27 : 21 : 05\n..dot\n.\n"
#define REC_C	"From: e@x\nTo: f@x\nSubject: three\nReceived: 2026-11-27 : 21 : 06\nthree\n.\n"
/* REC_A as the write-up's programs write it on Windows. */
#define REC_A_CRLF \
	"From: a@x\r\nTo: b@x\r\nSubject: one\r\nReceived: 2026-11-27 : 21 : 04\r\nbody\r\n.\r\n"
#define LEN(s)	(sizeof(s) - 1)

static char	root[] = "/tmp/sockmail-store-XXXXXX";
static int	root_fd = -1;
static int	log_fd = -1;	/* the library's log lines (stderr) */

/* ---- Scratch files ---- */

static void
put_file(const char *name, const char *data, size_t len, mode_t mode)
{
	fixture_put(root_fd, name, data, len, mode);
}

static void
mkdir_at(const char *name)
{
	fixture_mkdir(root_fd, name);
}

/* USERS/<login>/<file>, into a static buffer. */
static const char *
user_path(const char *login, const char *file)
{
	static char	path[256];
	int		n;

	n = snprintf(path, sizeof(path), "%s/%s/%s", STORE_USERS_DIR, login,
	    file);
	if (n < 0 || (size_t)n >= sizeof(path))
		abort();
	return path;
}

static const char *
mbox_of(const char *login)
{
	return user_path(login, STORE_FILE);
}

/* Give login a folder (if missing) and a mailbox holding data. */
static void
put_mailbox(const char *login, const char *data, size_t len)
{
	char	dir[128];
	int	n;

	n = snprintf(dir, sizeof(dir), "%s/%s", STORE_USERS_DIR, login);
	if (n < 0 || (size_t)n >= sizeof(dir))
		abort();
	if (mkdirat(root_fd, dir, 0700) == -1 && errno != EEXIST)
		abort();
	put_file(mbox_of(login), data, len, 0600);
}

/* Whether name holds exactly want. Opening and closing a file lets go of
 * every fcntl lock this process holds on it: never call this on a mailbox
 * this process has locked. */
static bool
file_is(const char *name, const char *want, size_t wlen)
{
	return fixture_file_is(root_fd, name, want, wlen);
}

/* Whether the open file fd holds exactly want, read without closing
 * anything (so without letting go of a lock). */
static bool
fd_is(int fd, const char *want, size_t wlen)
{
	return fixture_fd_is(fd, "the file", want, wlen);
}

static bool
missing(const char *name)
{
	struct stat st;

	return fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT;
}

static ino_t
inode_of(const char *name)
{
	struct stat st;

	if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	return st.st_ino;
}

/* The side files (my_mailbox.txt.tail.*) in login's folder: how many, and
 * the name of one of them. */
static size_t
side_files(const char *login, char *name, size_t size)
{
	struct dirent	*e;
	size_t		 n = 0;
	DIR		*dir;
	int		 fd;

	fd = openat(root_fd, user_path(login, "."), O_RDONLY | O_DIRECTORY);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL)
		abort();
	if (size > 0)
		name[0] = '\0';
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, STORE_TAIL_PREFIX,
		    LEN(STORE_TAIL_PREFIX)) != 0)
			continue;
		n++;
		if (size > 0 && snprintf(name, size, "%s", e->d_name) >=
		    (int)size)
			abort();
	}
	(void)closedir(dir);
	return n;
}

/* Whether a file "my_mailbox.*<suffix>" is in login's folder. */
static bool
has_file_ending(const char *login, const char *suffix)
{
	struct dirent	*e;
	size_t		 len, slen = strlen(suffix);
	bool		 found = false;
	DIR		*dir;
	int		 fd;

	fd = openat(root_fd, user_path(login, "."), O_RDONLY | O_DIRECTORY);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL)
		abort();
	while ((e = readdir(dir)) != NULL) {
		len = strlen(e->d_name);
		if (len >= slen && memcmp(e->d_name + len - slen, suffix,
		    slen) == 0 && strncmp(e->d_name, "my_mailbox.", 11) == 0)
			found = true;
	}
	(void)closedir(dir);
	return found;
}

/* ---- The log ---- */

static void
log_clear(void)
{
	if (ftruncate(log_fd, 0) == -1)
		abort();
}

/* Whether the library logged a line holding s since log_clear. */
static bool
logged(const char *s)
{
	char	buf[16384];
	ssize_t	n = pread(log_fd, buf, sizeof(buf), 0);

	return n > 0 && memmem(buf, (size_t)n, s, strlen(s)) != NULL;
}

/* ---- Store operations, whole ---- */

/* Deliver one record to login, as deliver() does: begin, write, publish,
 * commit, end. Returns 0, or -1 with errno set. */
static int
append_record(const char *login, const char *data, size_t len)
{
	struct store_append	a;
	int			rc, saved;

	if (store_append_begin(root_fd, login, (off_t)len, &a) == -1)
		return -1;
	rc = store_append_write(&a, data, len);
	if (rc == 0)
		rc = store_append_publish(&a);
	if (rc == 0)
		rc = store_append_commit(&a);
	saved = errno;
	if (rc == -1 && a.appending)
		(void)store_append_abort(&a);
	store_append_end(&a);
	errno = saved;
	return rc;
}

/* A snapshot of login's mailbox, from a fresh maildrop. */
static int
snapshot(const char *login, off_t *whole_out, bool *lf_out)
{
	struct store_box	b;
	int			rc, saved;

	if (store_open_maildrop(root_fd, login, &b) == -1)
		return -1;
	rc = store_snapshot(&b, whole_out, lf_out);
	saved = errno;
	store_box_close(&b);
	errno = saved;
	return rc;
}

/* store_whole_length over a file holding data. */
static off_t
whole(const char *data, size_t len, bool *needs_lf_out)
{
	struct store_box	b;
	off_t			n;

	put_file("whole.txt", data, len, 0600);
	store_box_init(&b);
	b.fd = openat(root_fd, "whole.txt", O_RDONLY);
	if (b.fd == -1)
		abort();
	n = store_whole_length(&b, (off_t)len, needs_lf_out);
	(void)close(b.fd);
	return n;
}

/* ---- Other processes ---- */

/* Whether another process holds a lock on range of path that conflicts
 * with type. Asked from a child: fcntl locks never conflict within one
 * process, and the child's open and close do not touch ours. */
static bool
held(const char *path, enum store_lock range, short type)
{
	pid_t	pid;
	int	status;

	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		struct flock	fl;
		int		fd = openat(root_fd, path, O_RDWR);

		memset(&fl, 0, sizeof(fl));
		fl.l_type = type;
		fl.l_whence = SEEK_SET;
		fl.l_start = (off_t)range;
		fl.l_len = 1;
		if (fd == -1 || fcntl(fd, F_GETLK, &fl) == -1)
			_exit(2);
		_exit(fl.l_type == F_UNLCK ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 2)
		abort();
	return WEXITSTATUS(status) == 1;
}

/* Whether process pid waits for an fcntl lock on byte range of the file
 * with inode ino: /proc/locks lists each waiter with "->". -1 when it
 * cannot be read. */
static int
waits_for_lock(pid_t pid, ino_t ino, enum store_lock range)
{
	unsigned long long	 i;
	long long		 start;
	char			 line[256], *arrow;
	long			 p;
	FILE			*f = fopen("/proc/locks", "r");
	int			 found = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((arrow = strstr(line, "->")) == NULL)
			continue;
		if (sscanf(arrow, "-> %*s %*s %*s %ld %*x:%*x:%llu %lld", &p,
		    &i, &start) == 3 && p == (long)pid &&
		    i == (unsigned long long)ino && start == (long long)range)
			found = 1;
	}
	(void)fclose(f);
	return found;
}

/* Wait until pid is blocked in a lock request for range (no sleeps that
 * a slow machine could outrun: /proc/locks says so). Returns false when
 * it never gets there within 30 s. */
static bool
wait_blocked(pid_t pid, ino_t ino, enum store_lock range)
{
	int i, w;

	for (i = 0; i < 30000; i++) {
		w = waits_for_lock(pid, ino, range);
		if (w == 1)
			return true;
		if (w == -1) {
			/* No /proc/locks: a generous pause instead. */
			printf("# no /proc/locks: pausing instead\n");
			(void)usleep(500000);
			return true;
		}
		(void)usleep(1000);
	}
	return false;
}

/* Whether fd has something to read right now (a non-blocking probe). */
static bool
readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) > 0;
}

static void
write_all(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		_exit(3);
}

static bool
read_all(int fd, void *p, size_t n)
{
	return read(fd, p, n) == (ssize_t)n;
}

static int
wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) == -1)
		abort();
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* ---- The tests ---- */

static void
test_create(void)
{
	struct store_append	a;
	struct store_box	b;
	struct stat		st;
	char			buf[LEN(REC_B)];
	int			rc;
	bool			nuls;

	store_box_init(&b);
	ok(b.fd == -1 && b.user_fd == -1, "init: no descriptors");
	store_box_close(&b);
	ok(b.fd == -1, "close: of a closed box is harmless");

	rc = store_append_begin(root_fd, "alice", LEN(REC_A), &a);
	ok(rc == 0 && a.box.fd >= 0, "begin: a new user's mailbox (%s)",
	    rc == 0 ? "ok" : strerror(errno));
	ok(a.start == 0 && a.len == LEN(REC_A) && a.written == 0 &&
	    a.appending, "begin: the record goes at 0");
	ok(strcmp(a.box.login, "alice") == 0, "begin: login recorded");
	/* Stat first: the mode in the message is an argument of ok(),
	 * evaluated in no fixed order with its condition. */
	rc = fstatat(root_fd, "USERS/alice", &st, AT_SYMLINK_NOFOLLOW);
	ok(rc == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700,
	    "begin: the user folder is created 0700 (%o)",
	    rc == 0 ? (unsigned)(st.st_mode & 07777) : 0);
	rc = fstatat(root_fd, "USERS/alice/my_mailbox.txt", &st,
	    AT_SYMLINK_NOFOLLOW);
	ok(rc == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
	    "begin: the mailbox is created 0600 (%o)",
	    rc == 0 ? (unsigned)(st.st_mode & 07777) : 0);
	/* The room is reserved as NULs before a byte of the record lands. */
	nuls = fstat(a.box.fd, &st) == 0 && st.st_size == LEN(REC_A) &&
	    pread(a.box.fd, buf, LEN(REC_A), 0) == LEN(REC_A);
	for (size_t i = 0; nuls && i < LEN(REC_A); i++)
		nuls = buf[i] == '\0';
	ok(nuls, "begin: the room is reserved as NUL bytes");
	ok(store_append_write(&a, REC_A, 10) == 0 &&
	    store_append_write(&a, REC_A + 10, LEN(REC_A) - 10) == 0 &&
	    a.written == LEN(REC_A), "write: the record in two pieces");
	errno = 0;
	ok(store_append_write(&a, "x", 1) == -1 && errno == EFBIG,
	    "write: a byte past the reserved room is EFBIG");
	ok(store_append_publish(&a) == 0 && !a.appending, "publish: 0");
	errno = 0;
	ok(store_append_write(&a, "x", 1) == -1 && errno == EFBIG,
	    "write: after publish is refused");
	ok(store_append_commit(&a) == 0 && a.synced, "commit: 0");
	store_append_end(&a);
	ok(a.box.fd == -1 && a.box.user_fd == -1, "end: closed");
	ok(file_is("USERS/alice/my_mailbox.txt", REC_A, LEN(REC_A)),
	    "append: the mailbox holds the record");

	ok(store_append_begin(root_fd, "alice", LEN(REC_B), &a) == 0 &&
	    a.start == LEN(REC_A), "begin: an existing mailbox: at its end");
	ok(store_append_abort(&a) == 0, "abort: an unwritten record");
	store_append_end(&a);
	ok(file_is("USERS/alice/my_mailbox.txt", REC_A, LEN(REC_A)),
	    "abort: the reserved room is gone");
	ok(append_record("alice", REC_B, LEN(REC_B)) == 0,
	    "append: a second record");
	ok(file_is("USERS/alice/my_mailbox.txt", REC_A REC_B,
	    LEN(REC_A REC_B)), "append: it lands after the old mail");

	/* An existing folder without a mailbox, and an existing empty one. */
	mkdir_at("USERS/bob");
	ok(store_append_begin(root_fd, "bob", 5, &a) == 0 && a.start == 0,
	    "begin: an existing folder without a mailbox");
	ok(store_append_abort(&a) == 0, "abort: 0");
	store_append_end(&a);
	ok(file_is("USERS/bob/my_mailbox.txt", "", 0),
	    "abort: the new mailbox is left empty");
	ok(store_append_begin(root_fd, "bob", 5, &a) == 0 && a.start == 0,
	    "begin: an existing empty mailbox");
	store_append_end(&a);

	errno = 0;
	rc = store_append_begin(root_fd, "bob", 0, &a);
	ok(rc == -1 && errno == EFBIG && a.box.fd == -1,
	    "begin: an empty record is refused");

	/* The maildrop opens (and creates) a mailbox too. */
	ok(store_open_maildrop(root_fd, "carl", &b) == 0 &&
	    file_is("USERS/carl/my_mailbox.txt", "", 0),
	    "open_maildrop: a new user's mailbox is created empty");
	store_box_close(&b);
}

/* A bound on the mailbox's length (a quota): checked under APPEND, after
 * the tail, nothing reserved when the record does not fit. */
static void
test_max(void)
{
	struct store_append	a;
	off_t			size;
	int			rc;

	/* alice holds REC_A REC_B (test_create). */
	rc = store_append_begin_max(root_fd, "alice", LEN(REC_A),
	    LEN(REC_A REC_B REC_A) - 1, &a);
	ok(rc == 1 && a.box.fd == -1 && !a.appending &&
	    a.start == LEN(REC_A REC_B) && a.len == LEN(REC_A),
	    "begin_max: one byte short is 1, the mailbox's length told, "
	    "all let go (%d)", rc);
	ok(file_is("USERS/alice/my_mailbox.txt", REC_A REC_B,
	    LEN(REC_A REC_B)), "begin_max: no room was reserved");
	rc = store_append_begin_max(root_fd, "alice", LEN(REC_A),
	    LEN(REC_A REC_B REC_A), &a);
	ok(rc == 0 && a.appending, "begin_max: exactly at the bound is 0");
	ok(store_append_abort(&a) == 0, "begin_max: abort");
	store_append_end(&a);

	/* The "." without its LF gets it first, and the LF counts. */
	put_file("USERS/alice/my_mailbox.txt", REC_A, LEN(REC_A) - 1, 0600);
	rc = store_append_begin_max(root_fd, "alice", LEN(REC_B),
	    LEN(REC_A REC_B) - 1, &a);
	ok(rc == 1 && file_is("USERS/alice/my_mailbox.txt", REC_A,
	    LEN(REC_A)), "begin_max: the LF added counts");

	ok(store_size_hint(root_fd, "alice", &size) == 1 &&
	    size == LEN(REC_A), "size_hint: a whole mailbox: its length");
	ok(store_size_hint(root_fd, "nobody", &size) == 1 && size == 0,
	    "size_hint: no folder: 0");
	put_file("USERS/alice/my_mailbox.txt", REC_A "From: x\0\0",
	    LEN(REC_A "From: x\0\0"), 0600);
	ok(store_size_hint(root_fd, "alice", &size) == 0,
	    "size_hint: a tail: untold");
	put_file("USERS/alice/my_mailbox.txt", REC_A REC_B, LEN(REC_A REC_B),
	    0600);
}

static void
test_end_without_abort(void)
{
	struct store_append	a;

	/* begin + end with nothing written: the NULs stay until the next
	 * writer, which cuts them as a killed append's. */
	put_mailbox("nul", REC_A, LEN(REC_A));
	if (store_append_begin(root_fd, "nul", 20, &a) == -1)
		abort();
	store_append_end(&a);
	ok(append_record("nul", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("nul"), REC_A REC_B, LEN(REC_A REC_B)) &&
	    side_files("nul", NULL, 0) == 0,
	    "an abandoned room of NULs is cut by the next append");
}

static void
test_abort(void)
{
	struct store_append	a;
	struct stat		st;
	int			rc;

	put_mailbox("rb", REC_A REC_B, LEN(REC_A REC_B));
	ok(store_append_begin(root_fd, "rb", 40, &a) == 0, "abort: begin");
	ok(store_append_write(&a, "From: x\npartial", 15) == 0,
	    "abort: write part of the record");
	errno = 0;
	ok(store_append_publish(&a) == -1 && errno == EIO && a.appending,
	    "publish: a record not written whole is EIO");
	ok(store_append_abort(&a) == 0 && !a.appending, "abort: 0");
	ok(fstat(a.box.fd, &st) == 0 && st.st_size == a.start &&
	    st.st_size == (off_t)LEN(REC_A REC_B),
	    "abort: the size is back to where the record started");
	errno = 0;
	rc = store_append_abort(&a);
	ok(rc == -1 && errno == EINVAL, "abort: twice is EINVAL");
	store_append_end(&a);
	ok(append_record("rb", REC_A, LEN(REC_A)) == 0 &&
	    file_is(mbox_of("rb"), REC_A REC_B REC_A, LEN(REC_A REC_B REC_A)),
	    "abort: the next record lands right after the old end");

	/* Abort after publish is not abort's to do. */
	ok(store_append_begin(root_fd, "rb", LEN(REC_C), &a) == 0 &&
	    store_append_write(&a, REC_C, LEN(REC_C)) == 0 &&
	    store_append_publish(&a) == 0, "abort: a published record");
	errno = 0;
	rc = store_append_abort(&a);
	ok(rc == -1 && errno == EINVAL, "abort: after publish is EINVAL");
	ok(store_append_commit(&a) == 0, "abort: ...and it can be committed");
	store_append_end(&a);
	ok(file_is(mbox_of("rb"), REC_A REC_B REC_A REC_C,
	    LEN(REC_A REC_B REC_A REC_C)), "abort: the published record stays");
}

/* A delivery killed in mid-append (kill -9 between write and publish)
 * leaves its room; the next one cuts it. */
static void
test_killed(void)
{
	struct store_append	a;
	pid_t			pid;
	int			rc;

	put_mailbox("killed", REC_A, LEN(REC_A));
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		/* A 200 KiB record of which only 10 bytes were written. */
		if (store_append_begin(root_fd, "killed", 200 * 1024, &a) == -1 ||
		    store_append_write(&a, REC_C, 10) == -1)
			_exit(1);
		_exit(0);
	}
	ok(wait_child(pid) == 0, "killed: a child began an append and died");
	log_clear();
	rc = append_record("killed", REC_B, LEN(REC_B));
	ok(rc == 0 && file_is(mbox_of("killed"), REC_A REC_B, LEN(REC_A REC_B)),
	    "killed: the next append cuts its room and lands after REC_A");
	ok(side_files("killed", NULL, 0) == 0 && logged("cut off"),
	    "killed: no side file; the cut is logged");
}

static void
test_take_back(void)
{
	struct store_append	a;
	pid_t			pid;
	int			rc;

	/* Still last: the record goes again. */
	put_mailbox("tb", REC_A, LEN(REC_A));
	ok(store_append_begin(root_fd, "tb", LEN(REC_B), &a) == 0 &&
	    store_append_write(&a, REC_B, LEN(REC_B)) == 0 &&
	    store_append_publish(&a) == 0, "take-back: a published record");
	rc = store_append_take_back(&a);
	ok(rc == 0, "take-back: 0 while it is still the last record (%s)",
	    rc == 0 ? "ok" : strerror(errno));
	ok(fd_is(a.box.fd, REC_A, LEN(REC_A)), "take-back: it is gone");
	store_append_end(&a);

	/* After commit too (another copy of the message failed later). */
	ok(store_append_begin(root_fd, "tb", LEN(REC_B), &a) == 0 &&
	    store_append_write(&a, REC_B, LEN(REC_B)) == 0 &&
	    store_append_publish(&a) == 0 && store_append_commit(&a) == 0 &&
	    store_append_take_back(&a) == 0 &&
	    fd_is(a.box.fd, REC_A, LEN(REC_A)),
	    "take-back: a committed record that is still last");
	store_append_end(&a);

	/* Before publish it is an abort. */
	ok(store_append_begin(root_fd, "tb", LEN(REC_B), &a) == 0 &&
	    store_append_write(&a, REC_B, 7) == 0 &&
	    store_append_take_back(&a) == 0 && !a.appending &&
	    fd_is(a.box.fd, REC_A, LEN(REC_A)),
	    "take-back: before publish, the room goes");
	store_append_end(&a);

	/* Another record appended after it: it stays. */
	ok(store_append_begin(root_fd, "tb", LEN(REC_B), &a) == 0 &&
	    store_append_write(&a, REC_B, LEN(REC_B)) == 0 &&
	    store_append_publish(&a) == 0, "take-back: publish again");
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0)
		_exit(append_record("tb", REC_C, LEN(REC_C)) == 0 ? 0 : 1);
	ok(wait_child(pid) == 0,
	    "take-back: another delivery appends after a published record");
	errno = 0;
	rc = store_append_take_back(&a);
	ok(rc == -1 && errno == EBUSY,
	    "take-back: EBUSY when a record was appended after (%s)",
	    rc == 0 ? "cut" : strerror(errno));
	store_append_end(&a);
	ok(file_is(mbox_of("tb"), REC_A REC_B REC_C, LEN(REC_A REC_B REC_C)),
	    "take-back: both records stay whole");
}

static void
test_locks(void)
{
	struct store_append	a;
	struct store_box	b;
	const char		*path = "USERS/lk/my_mailbox.txt";
	pid_t			pid;
	bool			h;

	put_mailbox("lk", REC_A, LEN(REC_A));
	if (store_append_begin(root_fd, "lk", LEN(REC_B), &a) == -1 ||
	    store_append_write(&a, REC_B, LEN(REC_B)) == -1)
		abort();
	h = held(path, STORE_LOCK_APPEND, F_RDLCK);
	ok(h, "locks: APPEND is held exclusively while appending");
	h = held(path, STORE_LOCK_PENDING, F_WRLCK);
	ok(h, "locks: PENDING is held while appending...");
	h = held(path, STORE_LOCK_PENDING, F_RDLCK);
	ok(!h, "locks: ...shared: other deliveries may take it too");
	h = held(path, STORE_LOCK_GATE, F_WRLCK);
	ok(!h, "locks: GATE is let go once PENDING is held");
	h = held(path, STORE_LOCK_MAILDROP, F_WRLCK);
	ok(!h, "locks: a delivery leaves MAILDROP alone");
	if (store_append_publish(&a) == -1)
		abort();
	h = held(path, STORE_LOCK_APPEND, F_RDLCK);
	ok(!h, "locks: publish lets go of APPEND");
	h = held(path, STORE_LOCK_PENDING, F_WRLCK);
	ok(h, "locks: PENDING stays until the record is settled");
	if (store_append_commit(&a) == -1)
		abort();
	store_append_end(&a);
	h = held(path, STORE_LOCK_PENDING, F_WRLCK);
	ok(!h, "locks: end lets go of PENDING");

	/* The maildrop. */
	if (store_open_maildrop(root_fd, "lk", &b) == -1)
		abort();
	h = held(path, STORE_LOCK_MAILDROP, F_RDLCK);
	ok(h, "locks: an open maildrop holds MAILDROP");
	h = held(path, STORE_LOCK_APPEND, F_WRLCK) ||
	    held(path, STORE_LOCK_PENDING, F_WRLCK) ||
	    held(path, STORE_LOCK_GATE, F_WRLCK);
	ok(!h, "locks: and nothing else");
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		struct store_box	c;
		int			rc = store_open_maildrop(root_fd, "lk", &c);

		_exit(rc == -1 && errno == EAGAIN ? 0 : 1);
	}
	ok(wait_child(pid) == 0, "locks: a second maildrop is EAGAIN");
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0)
		_exit(append_record("lk", REC_C, LEN(REC_C)) == 0 ? 0 : 1);
	ok(wait_child(pid) == 0, "locks: a delivery goes on beside the maildrop");
	ok(fd_is(b.fd, REC_A REC_B REC_C, LEN(REC_A REC_B REC_C)),
	    "locks: and its record is there");
	store_box_close(&b);
	h = held(path, STORE_LOCK_MAILDROP, F_RDLCK);
	ok(!h, "locks: closing the maildrop lets go of it");
}

/* What a reader child reports. */
struct report {
	int		rc;
	int		err;
	long long	whole;
};

enum reader { READ_SNAPSHOT, READ_REPLACE };

/* A child that opens login's maildrop, says so on fd, takes a snapshot
 * (or begins a replace, and commits an empty mailbox) and reports. */
static void
reader_child(const char *login, enum reader kind, int fd)
{
	struct store_replace	r;
	struct store_box	b;
	struct report		rep = { 0, 0, -1 };
	off_t			w = -1;
	bool			lf;

	if (store_open_maildrop(root_fd, login, &b) == -1)
		_exit(2);
	write_all(fd, "s", 1);
	if (kind == READ_SNAPSHOT)
		rep.rc = store_snapshot(&b, &w, &lf);
	else {
		rep.rc = store_replace_begin(&b, &r);
		if (rep.rc == 0) {
			w = r.whole;
			rep.rc = store_replace_commit(&r);
			store_replace_end(&r);
		}
	}
	rep.err = errno;
	rep.whole = (long long)w;
	write_all(fd, &rep, sizeof(rep));
	_exit(0);
}

/* While a delivery is begun and published but not ended, a snapshot or a
 * replace in another process waits; it goes on after the end, and sees
 * the record, or not when it was taken back. */
static void
test_pending(enum reader kind, bool take_back)
{
	const char		*what = kind == READ_SNAPSHOT ? "snapshot" :
	    "replace";
	const char		*how = take_back ? "taken back" : "committed";
	struct store_append	a;
	struct report		rep;
	char			c;
	ino_t			ino;
	pid_t			pid, pid2;
	int			p[2], p2[2];
	bool			got;

	put_mailbox("pend", REC_A, LEN(REC_A));
	ino = inode_of(mbox_of("pend"));
	if (store_append_begin(root_fd, "pend", LEN(REC_B), &a) == -1 ||
	    store_append_write(&a, REC_B, LEN(REC_B)) == -1 ||
	    store_append_publish(&a) == -1)
		abort();
	if (pipe(p) == -1 || (pid = fork()) == -1)
		abort();
	if (pid == 0) {
		(void)close(p[0]);
		reader_child("pend", kind, p[1]);
	}
	(void)close(p[1]);
	got = read_all(p[0], &c, 1);
	ok(got && wait_blocked(pid, ino, STORE_LOCK_PENDING),
	    "pending (%s, %s): the reader waits for PENDING", what, how);
	ok(!readable(p[0], 100),
	    "pending (%s, %s): it has not gone on", what, how);

	/* A delivery that comes now queues behind the reader at GATE. */
	if (pipe(p2) == -1 || (pid2 = fork()) == -1)
		abort();
	if (pid2 == 0) {
		(void)close(p2[0]);
		write_all(p2[1], "s", 1);
		_exit(append_record("pend", REC_C, LEN(REC_C)) == 0 ? 0 : 1);
	}
	(void)close(p2[1]);
	got = read_all(p2[0], &c, 1);
	ok(got && wait_blocked(pid2, ino, STORE_LOCK_GATE),
	    "pending (%s, %s): a new delivery waits at GATE", what, how);
	(void)close(p2[0]);

	if (take_back)
		ok(store_append_take_back(&a) == 0,
		    "pending (%s): the record is still last and goes", what);
	else
		ok(store_append_commit(&a) == 0, "pending (%s): commit", what);
	ok(!readable(p[0], 50), "pending (%s, %s): the reader still waits",
	    what, how);
	store_append_end(&a);
	got = read_all(p[0], &rep, sizeof(rep));
	ok(got && rep.rc == 0 && rep.whole == (long long)(take_back ?
	    LEN(REC_A) : LEN(REC_A REC_B)),
	    "pending (%s, %s): it goes on after end, whole %lld (%s)",
	    what, how, got ? rep.whole : -1LL,
	    got && rep.rc == -1 ? strerror(rep.err) : "ok");
	(void)close(p[0]);
	ok(wait_child(pid) == 0 && wait_child(pid2) == 0,
	    "pending (%s, %s): both children are done", what, how);
	if (kind == READ_REPLACE)
		ok(file_is(mbox_of("pend"), REC_C, LEN(REC_C)),
		    "pending (replace, %s): the delivery after it lands in "
		    "the new file", how);
	else if (take_back)
		ok(file_is(mbox_of("pend"), REC_A REC_C, LEN(REC_A REC_C)),
		    "pending (snapshot, %s): the delivery after it lands", how);
	else
		ok(file_is(mbox_of("pend"), REC_A REC_B REC_C,
		    LEN(REC_A REC_B REC_C)),
		    "pending (snapshot, %s): the delivery after it lands", how);
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
	ok(whole(REC_A, LEN(REC_A), &lf) == LEN(REC_A) && !lf,
	    "whole: a whole record");
	lf = true;
	ok(whole(REC_A REC_B, LEN(REC_A REC_B), &lf) == LEN(REC_A REC_B) &&
	    !lf, "whole: two records");
	lf = true;
	ok(whole(REC_A "From: t", LEN(REC_A "From: t"), &lf) == LEN(REC_A) &&
	    !lf, "whole: a record and a torn tail");
	lf = true;
	ok(whole("abc", 3, &lf) == 0, "whole: no . line at all is 0");
	lf = true;
	ok(whole("a\n..\n x.\n. \n.x\nx.\n", LEN("a\n..\n x.\n. \n.x\nx.\n"),
	    &lf) == 0, "whole: .., .x, x., \". \" are not . lines");
	lf = true;
	ok(whole("a\n.\n..", 6, &lf) == 4,
	    "whole: a final .. without LF is not a . line");
	lf = true;
	ok(whole("a\n.\nb\n.\n", 4, &lf) == 4 && !lf,
	    "whole: reads only up to size");
	lf = true;
	ok(whole(REC_A "\0\0\0", LEN(REC_A "\0\0\0"), &lf) == LEN(REC_A) &&
	    !lf, "whole: NULs after the last record are not in it");

	/* CRLF: a CR before the LF is part of the line ending. */
	lf = true;
	ok(whole(".\r\n", 3, &lf) == 3 && !lf, "whole: .\\r\\n is a . line");
	lf = true;
	ok(whole("a\r\n.\r\n", 6, &lf) == 6 && !lf,
	    "whole: a CRLF message ends after .\\r\\n");
	lf = true;
	ok(whole(REC_A_CRLF, LEN(REC_A_CRLF), &lf) == LEN(REC_A_CRLF) && !lf,
	    "whole: a CRLF record");
	lf = true;
	ok(whole(REC_A_CRLF REC_B, LEN(REC_A_CRLF REC_B), &lf) ==
	    LEN(REC_A_CRLF REC_B) && !lf,
	    "whole: a CRLF record, then an LF one");
	lf = false;
	ok(whole(".\r", 2, &lf) == 2 && lf,
	    "whole: a file of only .\\r is 2, needs LF");
	lf = false;
	ok(whole("a\r\n.\r", 5, &lf) == 5 && lf,
	    "whole: a final .\\r counts and needs LF");
	lf = false;
	ok(whole("a\r\n.", 4, &lf) == 4 && lf,
	    "whole: a final . after CRLF counts and needs LF");
	lf = true;
	ok(whole("a\r\n.\r\nb\r\n", 9, &lf) == 6 && !lf,
	    "whole: a CRLF tail after the last . line is not in it");
	lf = true;
	ok(whole("a\r.\r\n", 5, &lf) == 0,
	    "whole: a . after a lone CR does not start a line");
	lf = true;
	ok(whole("a\n.\r\r\n", 6, &lf) == 0 && !lf,
	    "whole: .\\r\\r\\n is not a . line (the first CR is content)");
	lf = true;
	ok(whole("a\n.\r\r", 5, &lf) == 0 && !lf,
	    "whole: a final .\\r\\r is not a . line");
	lf = true;
	ok(whole("a\n.\r.", 5, &lf) == 0 && !lf,
	    "whole: a final .\\r. is not a . line");
	lf = true;
	ok(whole("\r\n.\r\n", 5, &lf) == 5 && !lf,
	    "whole: an empty CRLF line, then .\\r\\n");

	/* Torn tails of many lengths after a record, so that a "." line lands
	 * on every side of any read-block boundary. */
	all_ok = true;
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		memcpy(big, REC_A, LEN(REC_A));
		for (j = 0; j < tails[i]; j++)
			big[LEN(REC_A) + j] = (j % 50 == 49) ? '\n' : 'x';
		lf = true;
		n = whole(big, LEN(REC_A) + tails[i], &lf);
		if (n != (off_t)LEN(REC_A) || lf) {
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
		/* And with a CRLF . line first. */
		memcpy(big, ".\r\n", 3);
		for (j = 0; j < tails[i]; j++)
			big[3 + j] = (j % 70 == 69) ? '\n' :
			    (j % 70 == 68) ? '\r' : '.';
		big[3] = 'y';
		big[3 + tails[i] - 1] = 'y';
		lf = true;
		n = whole(big, 3 + tails[i], &lf);
		if (n != 3 || lf) {
			all_ok = false;
			printf("# .\\r\\n-first, tail %zu: %lld\n", tails[i],
			    (long long)n);
		}
	}
	ok(all_ok, "whole: torn tails up to 100 KiB, read backwards in pieces");

	/* ".\n" and ".\r\n" ending exactly at each offset near block
	 * boundaries. */
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
		memset(big, 'q', total);
		memcpy(big + total - 5, "\r\n.\r\n", 5);
		lf = true;
		if (whole(big, total, &lf) != (off_t)total || lf) {
			all_ok = false;
			printf("# CRLF . line at the end, size %zu\n", total);
		}
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
		memset(big, 'q', total);
		memcpy(big + 196, "\r\n.\r\n", 5);
		lf = true;
		n = whole(big, total, &lf);
		if (n != 201 || lf) {
			all_ok = false;
			printf("# .\\r\\n line at 198, size %zu: %lld\n", total,
			    (long long)n);
		}
	}
	ok(all_ok, "whole: a . line anywhere relative to the read blocks");

	/* Across a block boundary: ".\r\n" whose CR or LF is the first byte
	 * of the block read before it. */
	all_ok = true;
	for (i = 65536 - 4; i <= 65536 + 4; i++) {
		size_t total = i + 3 + 100;

		memset(big, 'z', total);
		big[i - 1] = '\n';
		memcpy(big + i, ".\r\n", 3);
		lf = true;
		n = whole(big, total, &lf);
		if (n != (off_t)(i + 3) || lf) {
			all_ok = false;
			printf("# .\\r\\n at %zu of %zu: %lld\n", i, total,
			    (long long)n);
		}
	}
	ok(all_ok, "whole: .\\r\\n straddling a 64 KiB block boundary");
	free(big);
}

/* Snapshots: what a reader takes at login, LF or CRLF, with no tail
 * repaired (readers do not write). */
static void
test_snapshot(void)
{
	static const char	tail[] = REC_A_CRLF "From: x\r\nno dot\r\n";
	off_t			w = -1;
	bool			lf = true;
	int			rc;

	put_mailbox("snap", REC_A_CRLF REC_B, LEN(REC_A_CRLF REC_B));
	rc = snapshot("snap", &w, &lf);
	ok(rc == 0 && w == LEN(REC_A_CRLF REC_B) && !lf,
	    "snapshot: a CRLF record and an LF one (%lld)", (long long)w);

	put_mailbox("snap", REC_A_CRLF "From: x\r\n.\r", LEN(REC_A_CRLF
	    "From: x\r\n.\r"));
	rc = snapshot("snap", &w, &lf);
	ok(rc == 0 && w == LEN(REC_A_CRLF "From: x\r\n.\r") && lf,
	    "snapshot: a final .\\r counts, and lacks its LF");
	ok(file_is(mbox_of("snap"), REC_A_CRLF "From: x\r\n.\r",
	    LEN(REC_A_CRLF "From: x\r\n.\r")), "snapshot: writes nothing");
	ok(append_record("snap", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("snap"), REC_A_CRLF "From: x\r\n.\r\n" REC_B,
	    LEN(REC_A_CRLF "From: x\r\n.\r\n" REC_B)),
	    "snapshot: the next append gives .\\r its LF, then its record");
	rc = snapshot("snap", &w, &lf);
	ok(rc == 0 && w == LEN(REC_A_CRLF "From: x\r\n.\r\n" REC_B) && !lf,
	    "snapshot: then the whole file");

	put_mailbox("snap", REC_A "From: x\n.", LEN(REC_A "From: x\n."));
	rc = snapshot("snap", &w, &lf);
	ok(rc == 0 && w == LEN(REC_A "From: x\n.") && lf,
	    "snapshot: a final . counts, and lacks its LF");

	put_mailbox("snap", tail, LEN(tail));
	rc = snapshot("snap", &w, &lf);
	ok(rc == 0 && w == LEN(REC_A_CRLF) && !lf,
	    "snapshot: a CRLF tail after the last . line is left out");
	ok(file_is(mbox_of("snap"), tail, LEN(tail)) &&
	    side_files("snap", NULL, 0) == 0,
	    "snapshot: the tail is left for the next writer");

	put_mailbox("snap", "", 0);
	rc = snapshot("snap", &w, &lf);
	ok(rc == 0 && w == 0 && !lf, "snapshot: an empty mailbox is 0");
}

/* A final "." without its LF: the next writer gives it one. */
static void
test_no_lf(void)
{
	static const char	nolf[] = REC_A "From: c@x\nbody\n.";

	put_mailbox("nolf", nolf, LEN(nolf));
	ok(append_record("nolf", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("nolf"), REC_A "From: c@x\nbody\n.\n" REC_B,
	    LEN(REC_A "From: c@x\nbody\n.\n" REC_B)) &&
	    side_files("nolf", NULL, 0) == 0,
	    "no LF: the last message keeps its . and the new one follows");

	put_mailbox("nolf1", ".", 1);
	ok(append_record("nolf1", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("nolf1"), ".\n" REC_B, LEN(".\n" REC_B)),
	    "no LF: a mailbox of only . gets its LF");

	put_mailbox("nolf2", ".\r", 2);
	ok(append_record("nolf2", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("nolf2"), ".\r\n" REC_B, LEN(".\r\n" REC_B)),
	    "no LF: a mailbox of only .\\r gets its LF");
}

/* The stamp of a side file's name for time t: 20261205T190500Z. */
static void
stamp_of(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y%m%dT%H%M%SZ", &tm) == 0)
		abort();
}

/* Whether name is my_mailbox.txt.tail.<time>.<host>.<pid>[.<n>] with
 * this process's host and pid and a time in [t0, t1]. */
static bool
side_name_ok(const char *name, time_t t0, time_t t1)
{
	char		lo[32], hi[32], hp[160];
	const char	*p = name, *rest;
	size_t		i, hlen;

	stamp_of(t0, lo, sizeof(lo));
	stamp_of(t1, hi, sizeof(hi));
	if (store_host_pid(hp, sizeof(hp)) == -1)
		abort();
	if (strncmp(p, STORE_TAIL_PREFIX, LEN(STORE_TAIL_PREFIX)) != 0)
		return false;
	p += LEN(STORE_TAIL_PREFIX);
	if (strlen(p) < 17 || p[16] != '.')
		return false;
	for (i = 0; i < 16; i++) {
		bool digit = p[i] >= '0' && p[i] <= '9';

		if (i == 8 ? p[i] != 'T' : i == 15 ? p[i] != 'Z' : !digit)
			return false;
	}
	if (strncmp(p, lo, 16) < 0 || strncmp(p, hi, 16) > 0)
		return false;
	rest = p + 17;
	hlen = strlen(hp);
	if (strncmp(rest, hp, hlen) != 0)
		return false;
	rest += hlen;
	if (*rest == '\0')
		return true;
	/* A second tail in the same second: ".<n>". */
	if (*rest++ != '.' || *rest == '\0')
		return false;
	for (; *rest != '\0'; rest++)
		if (*rest < '0' || *rest > '9')
			return false;
	return true;
}

struct tail_case {
	const char	*what;
	const char	*tail;
	size_t		 len;
	bool		 foreign;
};

#define TAIL(s)	s, LEN(s)
static const struct tail_case tail_cases[] = {
	{ "a killed append's record start and NULs",
	    TAIL("From: x\nTo\0\0\0\0\0\0\0\0"), false },
	{ "a killed append's first bytes and NULs",
	    TAIL("Fro\0\0\0\0"), false },
	{ "NULs only", TAIL("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), false },
	{ "text without a . line",
	    TAIL("Some text\nwithout a dot line\n"), true },
	{ "a record without its . line, no NULs",
	    TAIL("From: x\nTo: y\nbody\n"), true },
	{ "a record start without NULs", TAIL("From: x\nTo"), true },
	{ "an mbox-format mailbox",
	    TAIL("From sender@example.com Thu Nov 27 21:04:00 2026\n"
	    "From: sender@example.com\nSubject: hi\n\nbody\n>From here\n\n"
	    "From other@example.com Fri Nov 28 09:00:00 2026\n"
	    "Subject: two\n\nmore\n"), true },
	{ "binary junk with NULs in the middle",
	    TAIL("\x01\x02junk\0\0\0\xff\xfe end\x7f"), true },
	{ "text, NULs, then text", TAIL("From: x\nTo\0\0\0\0more text\n"), true },
	{ "NULs, then text", TAIL("\0\0\0\0abc"), true },
	{ "text that is no record, then NULs", TAIL("hello\0\0\0\0"), true },
	{ "a CRLF record without its . line",
	    TAIL("From: x\r\nTo: y\r\n\r\nbody\r\n"), true },
	{ "a lone ., then more", TAIL(".x\n.\r\r\n"), true },
};

static void
test_tails(void)
{
	static const struct { const char *what, *data; size_t len; } prefixes[] = {
		{ "empty mailbox", "", 0 },
		{ "LF mailbox", TAIL(REC_A) },
		{ "CRLF mailbox", TAIL(REC_A_CRLF) },
	};
	char	 login[32], side[256], want[512], path[320];
	size_t	 i, j, n, wlen;
	time_t	 t0, t1;
	bool	 good;
	int	 rc;

	for (j = 0; j < sizeof(prefixes) / sizeof(prefixes[0]); j++)
	for (i = 0; i < sizeof(tail_cases) / sizeof(tail_cases[0]); i++) {
		const struct tail_case *c = &tail_cases[i];

		(void)snprintf(login, sizeof(login), "tail%zu-%zu", j, i);
		wlen = prefixes[j].len + c->len;
		if (wlen > sizeof(want))
			abort();
		memcpy(want, prefixes[j].data, prefixes[j].len);
		memcpy(want + prefixes[j].len, c->tail, c->len);
		put_mailbox(login, want, wlen);
		log_clear();
		t0 = time(NULL);
		rc = append_record(login, REC_C, LEN(REC_C));
		t1 = time(NULL);
		memcpy(want + prefixes[j].len, REC_C, LEN(REC_C));
		ok(rc == 0 && file_is(mbox_of(login), want,
		    prefixes[j].len + LEN(REC_C)),
		    "tail (%s, %s): the mailbox ends at its last . line, then "
		    "the new record", prefixes[j].what, c->what);
		n = side_files(login, side, sizeof(side));
		if (!c->foreign) {
			ok(n == 0 && logged("cut off"),
			    "tail (%s, %s): cut off and logged, no side file "
			    "(%zu)", prefixes[j].what, c->what, n);
			continue;
		}
		(void)snprintf(path, sizeof(path), "%s", user_path(login, side));
		good = n == 1 && side_name_ok(side, t0, t1);
		ok(good, "tail (%s, %s): moved to one side file, named %s",
		    prefixes[j].what, c->what, n == 1 ? side : "(none)");
		if (!good)
			continue;
		{
			struct stat	st;

			rc = fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW);
			ok(rc == 0 && S_ISREG(st.st_mode) &&
			    (st.st_mode & 07777) == 0600 &&
			    fixture_file_is(root_fd, path, c->tail, c->len),
			    "tail (%s, %s): byte for byte, mode 0600 (%o)",
			    prefixes[j].what, c->what,
			    rc == 0 ? (unsigned)(st.st_mode & 07777) : 0);
		}
		ok(logged(side), "tail (%s, %s): logged with its name",
		    prefixes[j].what, c->what);
	}
}

/* More tails: big ones, two in a row, one that cannot be saved, one a
 * replace finds. */
static void
test_tails_more(void)
{
	struct store_replace	 r;
	struct store_box	 b;
	size_t			 big = 100 * 1024, n;
	char			*buf = malloc(LEN(REC_A) + 100 * 1024);
	char			 side[256], path[320];
	pid_t			 pid;
	int			 rc;

	if (buf == NULL)
		abort();
	/* A 100 KiB foreign tail: read and copied in pieces. */
	memcpy(buf, REC_A, LEN(REC_A));
	memset(buf + LEN(REC_A), 'T', big);
	for (n = 99; n < big; n += 100)
		buf[LEN(REC_A) + n] = '\n';
	put_mailbox("bigtail", buf, LEN(REC_A) + big);
	ok(append_record("bigtail", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("bigtail"), REC_A REC_B, LEN(REC_A REC_B)),
	    "tail: a 100 KiB foreign tail leaves the mailbox");
	n = side_files("bigtail", side, sizeof(side));
	(void)snprintf(path, sizeof(path), "%s", user_path("bigtail", side));
	ok(n == 1 && fixture_file_is(root_fd, path, buf + LEN(REC_A), big),
	    "tail: and is in its side file whole");

	/* A 100 KiB killed append: "From: " and NULs past a 64 KiB block. */
	memset(buf + LEN(REC_A), 0, big);
	memcpy(buf + LEN(REC_A), "From: y\n", 8);
	put_mailbox("bigkill", buf, LEN(REC_A) + big);
	ok(append_record("bigkill", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("bigkill"), REC_A REC_B, LEN(REC_A REC_B)) &&
	    side_files("bigkill", NULL, 0) == 0,
	    "tail: a 100 KiB killed append is cut off");
	/* ...and with a byte of text at its very end it is foreign. */
	buf[LEN(REC_A) + big - 1] = 'x';
	put_mailbox("bigkill2", buf, LEN(REC_A) + big);
	ok(append_record("bigkill2", REC_B, LEN(REC_B)) == 0 &&
	    file_is(mbox_of("bigkill2"), REC_A REC_B, LEN(REC_A REC_B)) &&
	    side_files("bigkill2", NULL, 0) == 1,
	    "tail: NULs with one byte of text 100 KiB on are moved aside");

	/* Two tails in a row: two side files, each its own. */
	put_mailbox("two", REC_A "first tail\n", LEN(REC_A "first tail\n"));
	if (append_record("two", REC_B, LEN(REC_B)) == -1)
		abort();
	{
		int fd = openat(root_fd, mbox_of("two"), O_WRONLY | O_APPEND);

		if (fd == -1 || write(fd, "second tail\n", 12) != 12)
			abort();
		(void)close(fd);
	}
	ok(append_record("two", REC_C, LEN(REC_C)) == 0 &&
	    file_is(mbox_of("two"), REC_A REC_B REC_C, LEN(REC_A REC_B REC_C)),
	    "tail: a second tail after the next record goes too");
	ok(side_files("two", NULL, 0) == 2,
	    "tail: two tails, two side files (one may carry .1)");

	/* A tail that cannot be saved (a file size limit) stays, and the
	 * append fails: nothing is cut. */
	buf[LEN(REC_A) + 8191] = 'x';
	put_mailbox("nosave", buf, LEN(REC_A) + 8192);
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		struct rlimit rl = { 4096, 4096 };

		(void)signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
			_exit(2);
		rc = append_record("nosave", REC_B, LEN(REC_B));
		_exit(rc == -1 ? 0 : 1);
	}
	ok(wait_child(pid) == 0, "tail: an append fails when the tail cannot "
	    "be saved");
	ok(file_is(mbox_of("nosave"), buf, LEN(REC_A) + 8192) &&
	    side_files("nosave", NULL, 0) == 0,
	    "tail: the tail stays where it was, no side file is left");

	/* A replace deals with a tail first, too. */
	put_mailbox("reptail", REC_A "left over\n", LEN(REC_A "left over\n"));
	if (store_open_maildrop(root_fd, "reptail", &b) == -1)
		abort();
	rc = store_replace_begin(&b, &r);
	ok(rc == 0 && r.whole == (off_t)LEN(REC_A) &&
	    side_files("reptail", NULL, 0) == 1,
	    "tail: replace_begin moves a tail aside (whole %lld)",
	    rc == 0 ? (long long)r.whole : -1LL);
	ok(rc == 0 && store_replace_write(&r, REC_A, LEN(REC_A)) == 0 &&
	    store_replace_commit(&r) == 0, "tail: and the replace goes on");
	if (rc == 0)
		store_replace_end(&r);
	store_box_close(&b);
	ok(file_is(mbox_of("reptail"), REC_A, LEN(REC_A)),
	    "tail: the new mailbox holds what was written");

	/* A "." without LF, then the replace: whole counts the LF given. */
	put_mailbox("repnolf", REC_A "From: x\n.", LEN(REC_A "From: x\n."));
	if (store_open_maildrop(root_fd, "repnolf", &b) == -1)
		abort();
	rc = store_replace_begin(&b, &r);
	ok(rc == 0 && r.whole == (off_t)LEN(REC_A "From: x\n.\n") &&
	    fd_is(b.fd, REC_A "From: x\n.\n", LEN(REC_A "From: x\n.\n")),
	    "tail: replace_begin gives a last . its LF");
	if (rc == 0)
		store_replace_end(&r);
	store_box_close(&b);
	free(buf);
}

static void
test_replace(void)
{
	struct store_replace	r;
	struct store_box	b;
	struct stat		st;
	char			hp[160], want[256];
	ino_t			old_ino;
	pid_t			pid;
	int			rc, n;
	bool			h;

	put_mailbox("rep", REC_A REC_B, LEN(REC_A REC_B));
	/* Copies left by replaces and index rewrites that were killed,
	 * on this host or another; and files that are no such copy. */
	put_file(user_path("rep", "my_mailbox.txt.otherhost.12.tmp"), "x", 1,
	    0600);
	put_file(user_path("rep", "my_mailbox.idx.otherhost.13.tmp"), "x", 1,
	    0600);
	put_file(user_path("rep", "my_mailbox.txt.tail.20260101T000000Z.h.1"),
	    "keep", 4, 0600);
	put_file(user_path("rep", "other.tmp"), "keep", 4, 0600);
	old_ino = inode_of(mbox_of("rep"));
	if (store_open_maildrop(root_fd, "rep", &b) == -1 ||
	    store_host_pid(hp, sizeof(hp)) == -1)
		abort();
	rc = store_replace_begin(&b, &r);
	ok(rc == 0 && r.whole == (off_t)LEN(REC_A REC_B),
	    "replace: begin, whole %lld (%s)", rc == 0 ? (long long)r.whole :
	    -1LL, rc == 0 ? "ok" : strerror(errno));
	n = snprintf(want, sizeof(want), "%s.%s.tmp", STORE_FILE, hp);
	ok(n > 0 && (size_t)n < sizeof(want) && strcmp(r.tmp, want) == 0,
	    "replace: the new file is %s", r.tmp);
	{
		char pid_part[32];

		(void)snprintf(pid_part, sizeof(pid_part), ".%ld.tmp",
		    (long)getpid());
		ok(strstr(r.tmp, pid_part) != NULL,
		    "replace: its name carries the pid");
	}
	rc = fstatat(root_fd, user_path("rep", r.tmp), &st,
	    AT_SYMLINK_NOFOLLOW);
	ok(rc == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) == (STORE_UNSETTLED | 0600),
	    "replace: it is made in the user's folder, unsettled (mode 1600)");
	ok(missing(user_path("rep", "my_mailbox.txt.otherhost.12.tmp")) &&
	    missing(user_path("rep", "my_mailbox.idx.otherhost.13.tmp")),
	    "replace: stale copies of killed replaces are removed");
	ok(!missing(user_path("rep",
	    "my_mailbox.txt.tail.20260101T000000Z.h.1")) &&
	    !missing(user_path("rep", "other.tmp")),
	    "replace: side files and other files stay");
	h = held(mbox_of("rep"), STORE_LOCK_GATE, F_RDLCK) &&
	    held(mbox_of("rep"), STORE_LOCK_PENDING, F_RDLCK) &&
	    held(mbox_of("rep"), STORE_LOCK_APPEND, F_RDLCK);
	ok(h, "replace: GATE, PENDING and APPEND are held exclusively");
	ok(store_replace_write(&r, REC_B, 10) == 0 &&
	    store_replace_write(&r, REC_B + 10, LEN(REC_B) - 10) == 0,
	    "replace: write");
	ok(fd_is(b.fd, REC_A REC_B, LEN(REC_A REC_B)),
	    "replace: the mailbox is untouched before commit");
	ok(store_replace_commit(&r) == 0, "replace: commit");
	store_replace_end(&r);
	ok(!has_file_ending("rep", ".tmp"), "replace: no temporary file left");
	ok(inode_of(mbox_of("rep")) != old_ino &&
	    fstat(b.fd, &st) == 0 && st.st_ino == inode_of(mbox_of("rep")),
	    "replace: the box is now the new file under the name");
	ok(fd_is(b.fd, REC_B, LEN(REC_B)), "replace: it holds what was written");
	ok(fstat(b.fd, &st) == 0 && (st.st_mode & 07777) == 0600,
	    "replace: settled once its folder is synced (mode 0600)");
	h = held(mbox_of("rep"), STORE_LOCK_MAILDROP, F_RDLCK);
	ok(h, "replace: MAILDROP is held on the new file");
	h = held(mbox_of("rep"), STORE_LOCK_GATE, F_WRLCK) ||
	    held(mbox_of("rep"), STORE_LOCK_PENDING, F_WRLCK) ||
	    held(mbox_of("rep"), STORE_LOCK_APPEND, F_WRLCK);
	ok(!h, "replace: and nothing else after end");
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		struct store_box	c;

		rc = store_open_maildrop(root_fd, "rep", &c);
		_exit(rc == -1 && errno == EAGAIN ? 0 : 1);
	}
	ok(wait_child(pid) == 0, "replace: another maildrop is still EAGAIN");

	/* A replace not committed: the old file stays, the new one goes. */
	old_ino = inode_of(mbox_of("rep"));
	ok(store_replace_begin(&b, &r) == 0 &&
	    store_replace_write(&r, REC_C, LEN(REC_C)) == 0,
	    "replace: begin and write, then give up");
	store_replace_end(&r);
	ok(inode_of(mbox_of("rep")) == old_ino &&
	    fd_is(b.fd, REC_B, LEN(REC_B)) && !has_file_ending("rep", ".tmp"),
	    "replace: given up, the old mailbox stays, no temporary file");
	h = held(mbox_of("rep"), STORE_LOCK_GATE, F_WRLCK) ||
	    held(mbox_of("rep"), STORE_LOCK_PENDING, F_WRLCK) ||
	    held(mbox_of("rep"), STORE_LOCK_APPEND, F_WRLCK);
	ok(!h, "replace: given up, its locks are let go");

	/* A commit that fails (the new file vanished before the rename). */
	ok(store_replace_begin(&b, &r) == 0 &&
	    store_replace_write(&r, REC_C, LEN(REC_C)) == 0,
	    "replace: begin and write again");
	if (unlinkat(root_fd, user_path("rep", r.tmp), 0) == -1)
		abort();
	errno = 0;
	rc = store_replace_commit(&r);
	ok(rc == -1 && errno != 0, "replace: a commit that fails is -1 (%s)",
	    strerror(errno));
	store_replace_end(&r);
	ok(inode_of(mbox_of("rep")) == old_ino &&
	    fd_is(b.fd, REC_B, LEN(REC_B)) && !has_file_ending("rep", ".tmp"),
	    "replace: failed, the old mailbox stays, no temporary file");
	h = held(mbox_of("rep"), STORE_LOCK_MAILDROP, F_RDLCK);
	ok(h, "replace: failed, the maildrop is still held");
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0)
		_exit(append_record("rep", REC_A, LEN(REC_A)) == 0 ? 0 : 1);
	ok(wait_child(pid) == 0 && fd_is(b.fd, REC_B REC_A, LEN(REC_B REC_A)),
	    "replace: failed, deliveries go on");

	/* A begin that fails: the temporary name is taken by a folder. */
	if (mkdirat(root_fd, user_path("rep", want), 0700) == -1)
		abort();
	errno = 0;
	rc = store_replace_begin(&b, &r);
	ok(rc == -1 && errno == EEXIST,
	    "replace: begin fails when its name is taken (%s)",
	    rc == 0 ? "begun" : strerror(errno));
	if (rc == 0)
		store_replace_end(&r);
	ok(fd_is(b.fd, REC_B REC_A, LEN(REC_B REC_A)),
	    "replace: failed begin, the mailbox is untouched");
	h = held(mbox_of("rep"), STORE_LOCK_GATE, F_WRLCK) ||
	    held(mbox_of("rep"), STORE_LOCK_PENDING, F_WRLCK) ||
	    held(mbox_of("rep"), STORE_LOCK_APPEND, F_WRLCK);
	ok(!h, "replace: failed begin, its locks are let go");
	if (unlinkat(root_fd, user_path("rep", want), AT_REMOVEDIR) == -1)
		abort();
	store_box_close(&b);
}

/* A delivery that waited for a replace appends to the new file. */
static void
test_replace_waiter(void)
{
	struct store_replace	r;
	struct store_box	b;
	ino_t			ino;
	pid_t			pid;
	bool			blocked;

	put_mailbox("repw", REC_A REC_B, LEN(REC_A REC_B));
	ino = inode_of(mbox_of("repw"));
	if (store_open_maildrop(root_fd, "repw", &b) == -1 ||
	    store_replace_begin(&b, &r) == -1)
		abort();
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0)
		_exit(append_record("repw", REC_C, LEN(REC_C)) == 0 ? 0 : 1);
	blocked = wait_blocked(pid, ino, STORE_LOCK_GATE);
	ok(blocked, "replace: a delivery waits at GATE during a replace");
	ok(store_replace_write(&r, REC_B, LEN(REC_B)) == 0 &&
	    store_replace_commit(&r) == 0, "replace: commit");
	store_replace_end(&r);
	ok(wait_child(pid) == 0, "replace: the delivery then succeeds");
	ok(fd_is(b.fd, REC_B REC_C, LEN(REC_B REC_C)),
	    "replace: on the new file, after what the replace wrote");
	store_box_close(&b);
	ok(file_is(mbox_of("repw"), REC_B REC_C, LEN(REC_B REC_C)),
	    "replace: the name leads to it");
}

static void
test_read(void)
{
	struct store_box	b;
	char			buf[64];
	ssize_t			n;
	int			rc;

	put_mailbox("rd", REC_A, LEN(REC_A));
	if (store_open_maildrop(root_fd, "rd", &b) == -1)
		abort();
	ok(store_read(&b, buf, 5, 0) == 0 && memcmp(buf, "From:", 5) == 0,
	    "read: 5 bytes at 0");
	errno = 0;
	rc = store_read(&b, buf, 10, (off_t)LEN(REC_A) - 5);
	ok(rc == -1 && errno == EIO, "read: past the end is EIO");
	n = store_read_some(&b, buf, sizeof(buf), (off_t)LEN(REC_A) - 5);
	ok(n == 5, "read_some: what there is (%zd)", n);
	n = store_read_some(&b, buf, sizeof(buf), (off_t)LEN(REC_A));
	ok(n == 0, "read_some: 0 at the end");
	store_box_close(&b);
}

static void
test_host_pid(void)
{
	char	buf[160], small[4], host[65];
	int	rc;

	if (gethostname(host, sizeof(host)) == -1)
		abort();
	host[sizeof(host) - 1] = '\0';
	rc = store_host_pid(buf, sizeof(buf));
	{
		char want[160];

		(void)snprintf(want, sizeof(want), "%s.%ld", host,
		    (long)getpid());
		ok(rc == 0 && strcmp(buf, want) == 0, "host_pid: %s", buf);
	}
	errno = 0;
	rc = store_host_pid(small, sizeof(small));
	ok(rc == -1 && errno == ENAMETOOLONG,
	    "host_pid: a buffer too small is ENAMETOOLONG");
}

static void
test_refused(void)
{
	struct store_append	a;
	struct store_box	b;
	char			target[sizeof(root) + 32];
	int			rc;

	/* A symbolic link as the mailbox, to a file outside. */
	put_file("target.txt", "ORIGINAL", 8, 0600);
	mkdir_at("USERS/sym");
	(void)snprintf(target, sizeof(target), "%s/target.txt", root);
	if (symlinkat(target, root_fd, "USERS/sym/my_mailbox.txt") == -1)
		abort();
	errno = 0;
	rc = store_append_begin(root_fd, "sym", 5, &a);
	ok(rc == -1 && errno == ELOOP,
	    "refused: a symlinked mailbox (%s)", strerror(errno));
	ok(a.box.fd == -1 && a.box.user_fd == -1,
	    "refused: no descriptor left open");
	errno = 0;
	rc = store_open_maildrop(root_fd, "sym", &b);
	ok(rc == -1 && errno == ELOOP && b.fd == -1,
	    "refused: a symlinked mailbox as a maildrop");
	ok(file_is("target.txt", "ORIGINAL", 8),
	    "refused: the target is untouched");

	/* A dangling symbolic link: nothing may be created through it. */
	mkdir_at("USERS/dangle");
	(void)snprintf(target, sizeof(target), "%s/created.txt", root);
	if (symlinkat(target, root_fd, "USERS/dangle/my_mailbox.txt") == -1)
		abort();
	ok(store_append_begin(root_fd, "dangle", 5, &a) == -1,
	    "refused: a dangling symlinked mailbox");
	ok(store_open_maildrop(root_fd, "dangle", &b) == -1,
	    "refused: a dangling symlinked mailbox as a maildrop");
	ok(missing("created.txt"), "refused: nothing created through it");

	/* A hard link. */
	mkdir_at("USERS/hard");
	put_file("other.txt", REC_A, LEN(REC_A), 0600);
	if (linkat(root_fd, "other.txt", root_fd, "USERS/hard/my_mailbox.txt",
	    0) == -1)
		abort();
	errno = 0;
	rc = store_append_begin(root_fd, "hard", 5, &a);
	ok(rc == -1 && errno == EMLINK,
	    "refused: a hard-linked mailbox (%s)", strerror(errno));
	rc = store_open_maildrop(root_fd, "hard", &b);
	ok(rc == -1 && errno == EMLINK,
	    "refused: a hard-linked mailbox as a maildrop");
	ok(file_is("other.txt", REC_A, LEN(REC_A)),
	    "refused: the other link is untouched");

	/* A directory. */
	mkdir_at("USERS/isdir");
	mkdir_at("USERS/isdir/my_mailbox.txt");
	errno = 0;
	rc = store_append_begin(root_fd, "isdir", 5, &a);
	ok(rc == -1, "refused: a mailbox that is a directory (%s)",
	    strerror(errno));

	/* A FIFO: opening it must not hang, and it is refused. */
	mkdir_at("USERS/fifo");
	if (mkfifoat(root_fd, "USERS/fifo/my_mailbox.txt", 0600) == -1)
		abort();
	errno = 0;
	rc = store_append_begin(root_fd, "fifo", 5, &a);
	ok(rc == -1 && errno == EINVAL, "refused: a mailbox that is a FIFO (%s)",
	    strerror(errno));

	/* A symlinked user folder, to an empty folder and to a full one. */
	mkdir_at("elsewhere");
	(void)snprintf(target, sizeof(target), "%s/elsewhere", root);
	if (symlinkat(target, root_fd, "USERS/symdir") == -1)
		abort();
	errno = 0;
	rc = store_append_begin(root_fd, "symdir", 5, &a);
	ok(rc == -1 && (errno == ELOOP || errno == ENOTDIR),
	    "refused: a symlinked user folder (%s)", strerror(errno));
	ok(store_open_maildrop(root_fd, "symdir", &b) == -1,
	    "refused: a symlinked user folder as a maildrop");
	ok(missing("elsewhere/my_mailbox.txt"),
	    "refused: nothing created in the link's target");

	mkdir_at("elsewhere2");
	put_file("elsewhere2/my_mailbox.txt", REC_A, LEN(REC_A), 0600);
	(void)snprintf(target, sizeof(target), "%s/elsewhere2", root);
	if (symlinkat(target, root_fd, "USERS/symdir2") == -1)
		abort();
	ok(store_append_begin(root_fd, "symdir2", 5, &a) == -1,
	    "refused: a symlinked user folder with a mailbox in it");
	ok(file_is("elsewhere2/my_mailbox.txt", REC_A, LEN(REC_A)),
	    "refused: the mailbox behind it is untouched");

	/* Names that are not logins never become folder names (userdb.h):
	 * ".." would put a mailbox in the mail root, "../x" a folder beside
	 * USERS. */
	errno = 0;
	rc = store_append_begin(root_fd, "..", 5, &a);
	ok(rc == -1 && errno == EINVAL, "refused: the login ..");
	ok(missing("my_mailbox.txt"),
	    "refused: no mailbox created in the mail root");
	ok(store_append_begin(root_fd, "../escape", 5, &a) == -1,
	    "refused: the login ../escape");
	ok(missing("escape"), "refused: no folder created outside USERS");
	ok(store_append_begin(root_fd, "", 5, &a) == -1,
	    "refused: the empty login");
	ok(store_open_maildrop(root_fd, "..", &b) == -1,
	    "refused: the login .. as a maildrop");

	/* A user folder that is a regular file. */
	put_file("USERS/plain", "x", 1, 0600);
	ok(store_append_begin(root_fd, "plain", 5, &a) == -1,
	    "refused: a user folder that is a file");
}

int
main(void)
{
	int saved_stderr;

	/* The library logs to stderr, into a file the tests read. */
	if (setenv("SOCKMAIL_LOG", "stderr", 1) == -1)
		abort();
	/* A mailbox open that blocks (a FIFO), or a lock never granted, must
	 * fail the test, not hang it. */
	(void)alarm(300);
	(void)umask(0);
	if (mkdtemp(root) == NULL)
		abort();
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd == -1 || mkdirat(root_fd, STORE_USERS_DIR, 0755) == -1)
		abort();
	log_fd = openat(root_fd, "log", O_RDWR | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0600);
	saved_stderr = dup(2);
	if (log_fd == -1 || saved_stderr == -1 || dup2(log_fd, 2) == -1)
		abort();
	log_init("test-store", NULL);

	test_create();
	test_max();
	test_end_without_abort();
	test_abort();
	test_killed();
	test_take_back();
	test_locks();
	test_pending(READ_SNAPSHOT, false);
	test_pending(READ_SNAPSHOT, true);
	test_pending(READ_REPLACE, false);
	test_pending(READ_REPLACE, true);
	test_whole();
	test_snapshot();
	test_no_lf();
	test_tails();
	test_tails_more();
	test_replace();
	test_replace_waiter();
	test_read();
	test_host_pid();
	test_refused();

	(void)dup2(saved_stderr, 2);
	(void)close(saved_stderr);
	(void)close(log_fd);
	(void)close(root_fd);
	fixture_rm_tree(root);
	return done_testing();
}
