/* SPDX-License-Identifier: MIT */
/* Unit tests for deliver: one identical record per login, or none; the
 * store deals with what it finds at the end of each mailbox. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"
#include "msg.h"
#include "store.h"
#include "fixture.h"
#include "tap.h"

/* 2026-11-27 21:04:00 UTC */
#define T_FIXED		((time_t)1795813440)
#define MESSAGE		"Subject: Hello\nFrom: a@x\nX-Other: kept\n\n.dot\nbody\n"
#define RECORD		"From: a@x\nTo: alice@x, bob@x\nSubject: Hello\n" \
			"Received: 2026-11-27 : 21 : 04\n" \
			"X-Other: kept\n\n..dot\nbody\n.\n"
#define OLD		"From: o@x\nTo: alice@x\nSubject: old\n" \
			"Received: 2026-01-01 : 00 : 00\nold\n.\n"

static char	root[] = "/tmp/sockmail-deliver-XXXXXX";
static int	root_fd = -1;

static const struct msg_envelope env = { "a@x", "alice@x, bob@x", T_FIXED };

static void
put_file(const char *name, const char *data, size_t len)
{
	fixture_put(root_fd, name, data, len, 0600);
}

static void
mkdir_at(const char *name)
{
	fixture_mkdir(root_fd, name);
}

/* Whether root/name holds exactly want; shows what it holds if not. */
static bool
file_is(const char *name, const char *want, size_t wlen)
{
	return fixture_file_is(root_fd, name, want, wlen);
}


static int
spool_of(const char *data, size_t len)
{
	char	path[sizeof(root) + 16];
	int	fd;

	(void)snprintf(path, sizeof(path), "%s/spool", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, data, len) != (ssize_t)len ||
	    lseek(fd, 0, SEEK_SET) == -1)
		abort();
	return fd;
}

static int
spool(void)
{
	return spool_of(MESSAGE, sizeof(MESSAGE) - 1);
}

/* How many side files (my_mailbox.txt.tail.*) login's folder holds. */
static size_t
side_files(const char *login)
{
	char		 path[64];
	struct dirent	*e;
	size_t		 n = 0;
	DIR		*dir;
	int		 fd;

	(void)snprintf(path, sizeof(path), "USERS/%s", login);
	fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL)
		abort();
	while ((e = readdir(dir)) != NULL)
		if (strncmp(e->d_name, STORE_TAIL_PREFIX,
		    sizeof(STORE_TAIL_PREFIX) - 1) == 0)
			n++;
	(void)closedir(dir);
	return n;
}

static void
test_two(void)
{
	static const char *const	 logins[] = { "bob", "alice" };
	const char			*failed = NULL;
	int				 fd = spool(), rc;

	put_file("USERS/alice/my_mailbox.txt", OLD, sizeof(OLD) - 1);
	rc = deliver(root_fd, fd, &env, logins, 2, 0, &failed);
	ok(rc == 0, "deliver: two logins (%s)", rc == 0 ? "ok" : strerror(errno));
	ok(file_is("USERS/alice/my_mailbox.txt", OLD RECORD,
	    sizeof(OLD RECORD) - 1),
	    "deliver: alice gets the record after her old mail");
	ok(file_is("USERS/bob/my_mailbox.txt", RECORD, sizeof(RECORD) - 1),
	    "deliver: bob gets the same record in a new mailbox");

	rc = deliver(root_fd, fd, &env, logins + 1, 1, 0, &failed);
	ok(rc == 0 && file_is("USERS/alice/my_mailbox.txt", OLD RECORD RECORD,
	    sizeof(OLD RECORD RECORD) - 1),
	    "deliver: the same spool again, to one login");
	(void)close(fd);
}

static void
test_failure(void)
{
	static const char *const	 logins[] = { "alice", "zed" };
	static const char *const	 logins2[] = { "carol", "aaron" };
	const char			*failed = NULL;
	int				 fd = spool(), rc;

	/* zed's mailbox is a directory: alice's copy must go again. */
	put_file("USERS/alice/my_mailbox.txt", OLD, sizeof(OLD) - 1);
	mkdir_at("USERS/zed");
	mkdir_at("USERS/zed/my_mailbox.txt");
	errno = 0;
	rc = deliver(root_fd, fd, &env, logins, 2, 0, &failed);
	ok(rc == DELIVER_FAILED && errno != 0, "deliver: DELIVER_FAILED when a mailbox is a directory");
	ok(failed != NULL && strcmp(failed, "zed") == 0,
	    "deliver: failed_login_out names it (%s)",
	    failed != NULL ? failed : "NULL");
	ok(file_is("USERS/alice/my_mailbox.txt", OLD, sizeof(OLD) - 1),
	    "deliver: the first mailbox is back to its old size");

	/* The failing mailbox sorts first: carol's must not be touched. */
	mkdir_at("USERS/aaron");
	mkdir_at("USERS/aaron/my_mailbox.txt");
	mkdir_at("USERS/carol");
	put_file("USERS/carol/my_mailbox.txt", OLD, sizeof(OLD) - 1);
	failed = NULL;
	rc = deliver(root_fd, fd, &env, logins2, 2, 0, &failed);
	ok(rc == DELIVER_FAILED && failed != NULL && strcmp(failed, "aaron") == 0,
	    "deliver: DELIVER_FAILED naming aaron (%s)", failed != NULL ? failed : "NULL");
	ok(file_is("USERS/carol/my_mailbox.txt", OLD, sizeof(OLD) - 1),
	    "deliver: carol's mailbox is unchanged");
	(void)close(fd);
}

/* What the store finds at the end of a mailbox: a "." without LF (CRLF
 * or not), a killed delivery's room, a foreign tail. */
static void
test_tails(void)
{
	static const char *const	 carol[] = { "carol" };
	static const char		 killed[] = OLD "From: x\nTo\0\0\0\0";
	const char			*failed = NULL;
	int				 fd = spool(), rc;

	put_file("USERS/carol/my_mailbox.txt", "From: w\r\nTo: c\r\n.\r", 18);
	rc = deliver(root_fd, fd, &env, carol, 1, 0, &failed);
	ok(rc == 0 && file_is("USERS/carol/my_mailbox.txt",
	    "From: w\r\nTo: c\r\n.\r\n" RECORD,
	    sizeof("From: w\r\nTo: c\r\n.\r\n" RECORD) - 1),
	    "deliver: a CRLF mailbox's last .\\r gets its LF, then the record");

	put_file("USERS/carol/my_mailbox.txt", killed, sizeof(killed) - 1);
	rc = deliver(root_fd, fd, &env, carol, 1, 0, &failed);
	ok(rc == 0 && file_is("USERS/carol/my_mailbox.txt", OLD RECORD,
	    sizeof(OLD RECORD) - 1) && side_files("carol") == 0,
	    "deliver: a killed delivery's tail is cut off");

	put_file("USERS/carol/my_mailbox.txt", OLD "From x Thu Nov 27\nmbox\n",
	    sizeof(OLD "From x Thu Nov 27\nmbox\n") - 1);
	rc = deliver(root_fd, fd, &env, carol, 1, 0, &failed);
	ok(rc == 0 && file_is("USERS/carol/my_mailbox.txt", OLD RECORD,
	    sizeof(OLD RECORD) - 1) && side_files("carol") == 1,
	    "deliver: a foreign tail is moved aside, the record follows OLD");
	(void)close(fd);
}

/* A message too big for one buffer goes through the store's sink, built
 * again from the spool for each copy. */
static void
test_big(void)
{
	static const char *const	 logins[] = { "dave", "erin" };
	static const char		 head[] = "Subject: Hello\nFrom: a@x\n\n";
	static const char		 rec[] = "From: a@x\nTo: alice@x, bob@x\n"
	    "Subject: Hello\nReceived: 2026-11-27 : 21 : 04\n\n";
	const size_t			 body = 300 * 1024;
	const char			*failed = NULL;
	char				*msg, *want;
	size_t				 i, mlen, wlen;
	int				 fd, rc;

	mlen = sizeof(head) - 1 + body;
	wlen = sizeof(rec) - 1 + body + 2;
	if ((msg = malloc(mlen)) == NULL || (want = malloc(wlen)) == NULL)
		abort();
	memcpy(msg, head, sizeof(head) - 1);
	for (i = 0; i < body; i++)
		msg[sizeof(head) - 1 + i] = i % 72 == 71 || i + 1 == body ?
		    '\n' : 'a' + i % 26;
	memcpy(want, rec, sizeof(rec) - 1);
	memcpy(want + sizeof(rec) - 1, msg + sizeof(head) - 1, body);
	memcpy(want + wlen - 2, ".\n", 2);
	fd = spool_of(msg, mlen);
	rc = deliver(root_fd, fd, &env, logins, 2, 0, &failed);
	ok(rc == 0, "deliver: a 300 KiB message to two logins (%s)",
	    rc == 0 ? "ok" : strerror(errno));
	ok(file_is("USERS/dave/my_mailbox.txt", want, wlen) &&
	    file_is("USERS/erin/my_mailbox.txt", want, wlen),
	    "deliver: both get the whole record");
	(void)close(fd);
	free(msg);
	free(want);
}

#define LEN(s)		(sizeof(s) - 1)

/* -q (sockmail-smtpd(8) QUOTAS): a mailbox may be exactly the quota long
 * after the append, not a byte more; a refusal stores nothing anywhere. */
static void
test_quota(void)
{
	static const char *const	 fay[] = { "fay" };
	static const char *const	 two[] = { "fay", "dan" };
	const char			*failed = NULL;
	int				 fd = spool(), rc;

	mkdir_at("USERS/fay");
	put_file("USERS/fay/my_mailbox.txt", OLD, LEN(OLD));
	rc = deliver(root_fd, fd, &env, fay, 1, LEN(OLD RECORD) - 1, &failed);
	ok(rc == DELIVER_OVER_QUOTA && failed != NULL &&
	    strcmp(failed, "fay") == 0,
	    "quota: one byte short is DELIVER_OVER_QUOTA naming fay (%d)", rc);
	ok(file_is("USERS/fay/my_mailbox.txt", OLD, LEN(OLD)),
	    "quota: the refused mailbox is unchanged");
	rc = deliver(root_fd, fd, &env, fay, 1, LEN(OLD RECORD), &failed);
	ok(rc == DELIVER_OK && file_is("USERS/fay/my_mailbox.txt",
	    OLD RECORD, LEN(OLD RECORD)),
	    "quota: a mailbox exactly at the quota afterwards is fine");
	rc = deliver(root_fd, fd, &env, fay, 1, 0, &failed);
	ok(rc == DELIVER_OK, "quota: 0 is no quota");

	/* A record longer than the quota fits nowhere, not even in a new
	 * mailbox; no folder is made for it. */
	rc = deliver(root_fd, fd, &env, two + 1, 1, LEN(RECORD) - 1, &failed);
	ok(rc == DELIVER_OVER_QUOTA && failed != NULL &&
	    strcmp(failed, "dan") == 0 &&
	    faccessat(root_fd, "USERS/dan", F_OK, 0) == -1,
	    "quota: a record longer than the quota is refused at once");

	/* The lock decides: fay's mailbox ends in a "." without its LF, so
	 * the look before the locks cannot tell its length, and the LF the
	 * writer adds counts. dan (sorted first) gets his copy written, then
	 * taken back when fay's does not fit. */
	put_file("USERS/fay/my_mailbox.txt", OLD, LEN(OLD) - 1);
	rc = deliver(root_fd, fd, &env, two, 2, LEN(OLD RECORD) - 1, &failed);
	ok(rc == DELIVER_OVER_QUOTA && failed != NULL &&
	    strcmp(failed, "fay") == 0,
	    "quota: the check under the lock counts the LF added (%d)", rc);
	ok(file_is("USERS/dan/my_mailbox.txt", "", 0),
	    "quota: dan's copy, written first, is cut off again");
	ok(file_is("USERS/fay/my_mailbox.txt", OLD, LEN(OLD)),
	    "quota: fay's mailbox holds its old mail, LF added, nothing else");
	rc = deliver(root_fd, fd, &env, two, 2, LEN(OLD RECORD), &failed);
	ok(rc == DELIVER_OK && file_is("USERS/dan/my_mailbox.txt", RECORD,
	    LEN(RECORD)) && file_is("USERS/fay/my_mailbox.txt", OLD RECORD,
	    LEN(OLD RECORD)),
	    "quota: both copies when both fit");

	/* A foreign tail is moved aside first: the quota counts the mailbox
	 * without it. */
	put_file("USERS/fay/my_mailbox.txt", OLD "From x Thu Nov 27\nmbox\n",
	    LEN(OLD "From x Thu Nov 27\nmbox\n"));
	rc = deliver(root_fd, fd, &env, fay, 1, LEN(OLD RECORD), &failed);
	ok(rc == DELIVER_OK && file_is("USERS/fay/my_mailbox.txt", OLD RECORD,
	    LEN(OLD RECORD)) && side_files("fay") == 1,
	    "quota: counted after the tail is moved aside");
	(void)close(fd);
}

/* The look at RCPT: full at quota bytes or more, where that can be told. */
static void
test_full(void)
{
	mkdir_at("USERS/hal");
	ok(!deliver_mailbox_full(root_fd, "hal", 1),
	    "full: no mailbox yet is not full");
	put_file("USERS/hal/my_mailbox.txt", OLD, LEN(OLD));
	ok(deliver_mailbox_full(root_fd, "hal", LEN(OLD)),
	    "full: a mailbox of exactly the quota is full");
	ok(deliver_mailbox_full(root_fd, "hal", LEN(OLD) - 1),
	    "full: a mailbox past the quota is full");
	ok(!deliver_mailbox_full(root_fd, "hal", LEN(OLD) + 1),
	    "full: a byte of room is not full");
	ok(!deliver_mailbox_full(root_fd, "hal", 0),
	    "full: quota 0 is never full");
	put_file("USERS/hal/my_mailbox.txt", OLD "junk\n", LEN(OLD "junk\n"));
	ok(!deliver_mailbox_full(root_fd, "hal", LEN(OLD)),
	    "full: a mailbox with a tail cannot be told, so is not full");
	ok(!deliver_mailbox_full(root_fd, "nobody", 1) &&
	    !deliver_mailbox_full(root_fd, "../hal", 1),
	    "full: no folder, or no valid login, is not full");
}

int
main(void)
{
	log_init("test-deliver", NULL);
	if (setenv("TZ", "UTC", 1) == -1)
		abort();
	tzset();
	(void)alarm(120);
	if (mkdtemp(root) == NULL)
		abort();
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd == -1)
		abort();
	mkdir_at(STORE_USERS_DIR);
	mkdir_at("USERS/alice");
	test_two();
	test_failure();
	test_tails();
	test_big();
	test_quota();
	test_full();
	(void)close(root_fd);
	fixture_rm_tree(root);
	return done_testing();
}
