/* SPDX-License-Identifier: MIT */
/* sockmailctl check: the mail root's health, one line per problem
 * (sockmailctl(8), CHECK). Reads only. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl-check.h"
#include "mdindex.h"
#include "penalty.h"
#include "store.h"
#include "str.h"
#include "userdb.h"

#define PATH_MAX_CHECK	512

void
check_problem(struct check *k, const char *what, const char *fmt, ...)
{
	va_list ap;

	k->problems++;
	(void)printf("%s%s%s: ", k->c->root, what[0] != '\0' ? "/" : "", what);
	va_start(ap, fmt);
	(void)vprintf(fmt, ap);
	va_end(ap);
	(void)putchar('\n');
}

/* "a/b" into buf; a name too long is cut (only ever printed). */
static void
join(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= size)
		buf[size - 1] = '\0';
}

/* The parts of a mode that must be clear, and what to say about them. */
static void
check_mode(struct check *k, const char *what, const struct stat *st,
    mode_t forbidden, mode_t want)
{
	if ((st->st_mode & forbidden) != 0)
		check_problem(k, what, "mode %04o: %s (want %04o)",
		    (unsigned)(st->st_mode & 07777),
		    (st->st_mode & forbidden & 0022) != 0 ?
		    "writable by others than its owner" :
		    "others may read it", (unsigned)want);
}

/* What root keeps: the mail root and userinfo.txt. The handlers may read
 * them but must not own them (sockmail-userinfo(5)): they parse what any
 * client sends. One person running both is fine. */
static void
check_root_owned(struct check *k, const char *what, const struct stat *st)
{
	if (k->have_handlers && st->st_uid == k->handlers_uid &&
	    k->handlers_uid != 0 && k->handlers_uid != geteuid())
		check_problem(k, what, "owned by the handlers' user (uid %ld, "
		    "the owner of USERS): they could rewrite the passwords; "
		    "root should own it", (long)st->st_uid);
}

/* What the handlers keep: theirs alone, 0700 or 0600. */
static void
check_handlers_owned(struct check *k, const char *what, const struct stat *st)
{
	bool dir = S_ISDIR(st->st_mode);

	if (k->have_handlers && st->st_uid != k->handlers_uid)
		check_problem(k, what, "owned by uid %ld, not the handlers' "
		    "user (uid %ld, the owner of USERS)", (long)st->st_uid,
		    (long)k->handlers_uid);
	check_mode(k, what, st, 0077, dir ? 0700 : 0600);
}

/* lstat what, relative to dir_fd; reports a link or the wrong type.
 * Returns 1 when it is there and of type type (S_IFREG, S_IFDIR), 0
 * when reported, -1 on an error (reported), -2 when missing. */
static int
check_entry(struct check *k, int dir_fd, const char *name, const char *what,
    mode_t type, struct stat *st)
{
	if (fstatat(dir_fd, name, st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return -2;
		check_problem(k, what, "%s", strerror(errno));
		return -1;
	}
	if (S_ISLNK(st->st_mode)) {
		check_problem(k, what, "a symbolic link: the handlers refuse "
		    "it (sockmail-mailbox(5))");
		return 0;
	}
	if ((st->st_mode & S_IFMT) != type) {
		check_problem(k, what, "not a %s", type == S_IFDIR ? "folder" :
		    "regular file");
		return 0;
	}
	if (type == S_IFREG && st->st_nlink != 1) {
		check_problem(k, what, "%ju links to it (a hard link): the "
		    "handlers refuse it", (uintmax_t)st->st_nlink);
		return 0;
	}
	return 1;
}

/* userinfo.txt: malformed lines, and logins given twice. */
static void
check_userinfo_lines(struct check *k, const struct ctl_userfile *u)
{
	struct ctl_line l, first;
	size_t pos = 0, lineno = 0, firstno, p2;

	while (ctl_userfile_next(u, &pos, &l)) {
		lineno++;
		if (l.kind == USERDB_LINE_BAD) {
			check_problem(k, USERDB_FILE, "line %zu: malformed (not "
			    "LOGIN, blanks, PASSWORD with a valid login): "
			    "the handlers skip it", lineno);
			continue;
		}
		if (l.kind != USERDB_LINE_USER)
			continue;
		userdb_entry_free(&l.entry);
		if (!ctl_userfile_find(u, l.entry.login, &first) ||
		    first.start == l.start)
			continue;
		firstno = 0;
		for (p2 = 0; p2 < first.end; p2++)
			if (u->data[p2] == '\n')
				firstno++;
		check_problem(k, USERDB_FILE, "line %zu: login %s again (line "
		    "%zu, %s, is the one used)", lineno, l.entry.login, firstno,
		    first.entry.login);
	}
}

static void
check_userinfo(struct check *k, struct ctl_userfile *u, bool *read_out)
{
	struct stat st;

	*read_out = false;
	switch (check_entry(k, k->c->root_fd, USERDB_FILE, USERDB_FILE,
	    S_IFREG, &st)) {
	case 1:
		break;
	case -2:
		check_problem(k, USERDB_FILE, "missing: no one can log in or "
		    "get mail");
		return;
	default:
		return;
	}
	check_root_owned(k, USERDB_FILE, &st);
	check_mode(k, USERDB_FILE, &st, 0027, 0640);
	if (ctl_userfile_read(k->c, u) < 0) {
		k->problems++;		/* said on stderr */
		return;
	}
	*read_out = true;
	check_userinfo_lines(k, u);
}

static bool
is_side_file(const char *name)
{
	return strncmp(name, STORE_TAIL_PREFIX, strlen(STORE_TAIL_PREFIX)) == 0;
}

/* Check name in a user's folder (a regular file, one link, the
 * handlers') and open it to be read; what gets its path for the report.
 * Returns the descriptor, or -1 once any problem is reported. */
static int
open_handlers_file(struct check *k, int user_fd, const char *folder,
    const char *name, char what[PATH_MAX_CHECK])
{
	struct stat st;
	int fd;

	join(what, PATH_MAX_CHECK, folder, name);
	if (check_entry(k, user_fd, name, what, S_IFREG, &st) != 1)
		return -1;
	check_handlers_owned(k, what, &st);
	fd = openat(user_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		check_problem(k, what, "%s", strerror(errno));
	return fd;
}

static void
check_mailbox(struct check *k, int user_fd, const char *login,
    const char *folder)
{
	char what[PATH_MAX_CHECK];
	unsigned long long octets, tail;
	size_t count;
	int fd;

	if ((fd = open_handlers_file(k, user_fd, folder, STORE_FILE, what)) < 0)
		return;
	if (ctl_mailbox_count(fd, &count, &octets, &tail) < 0)
		check_problem(k, what, "%s", strerror(errno));
	else if (tail > 0)
		check_problem(k, what, "%llu bytes after the last message's "
		    "\".\" line (%zu messages before them): a delivery cut "
		    "short, or text not in the mailbox format; the next "
		    "delivery moves it to a side file for sockmailctl import "
		    "%s", tail, count, login);
	(void)close(fd);
}

static void
check_index(struct check *k, int user_fd, const char *folder)
{
	char what[PATH_MAX_CHECK];
	int fd, ok;

	if ((fd = open_handlers_file(k, user_fd, folder, MDINDEX_FILE, what)) < 0)
		return;
	ok = mdindex_file_ok(fd);
	if (ok < 0)
		check_problem(k, what, "%s", strerror(errno));
	else if (ok == 0)
		check_problem(k, what, "damaged: not a whole message index (the "
		    "next POP3 login rebuilds it from the mailbox)");
	(void)close(fd);
}

/* The side files beside a mailbox: what a writer moved out of it, mail
 * maybe, waiting for the administrator. */
static void
check_side_files(struct check *k, int user_fd, const char *login,
    const char *folder)
{
	char what[PATH_MAX_CHECK];
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(user_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		check_problem(k, folder, "%s", strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_side_file(de->d_name))
			continue;
		join(what, sizeof(what), folder, de->d_name);
		check_problem(k, what, "side file: text moved out of the "
		    "mailbox; look at it, then sockmailctl import %s %s/%s",
		    login, k->c->root, what);
	}
	(void)closedir(d);
}

/* The login of userinfo.txt a folder name matches in any case, or NULL. */
static bool
known_login(const struct ctl_userfile *u, const char *name, char *spelled,
    size_t size)
{
	struct ctl_line l;

	if (u == NULL || !ctl_userfile_find(u, name, &l))
		return false;
	(void)str_copy(spelled, size, l.entry.login);
	return true;
}

static void
check_user(struct check *k, int users_fd, const char *name,
    const struct ctl_userfile *u)
{
	char what[PATH_MAX_CHECK], spelled[USERDB_LOGIN_MAX + 1];
	struct stat st;
	int fd;

	join(what, sizeof(what), STORE_USERS_DIR, name);
	if (check_entry(k, users_fd, name, what, S_IFDIR, &st) != 1)
		return;
	check_handlers_owned(k, what, &st);
	if (known_login(u, name, spelled, sizeof(spelled)) &&
	    strcmp(spelled, name) != 0)
		check_problem(k, what, "spelled unlike the login %s in %s: "
		    "its mail is never served (rename the folder)", spelled,
		    USERDB_FILE);
	fd = openat(users_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		check_problem(k, what, "%s", strerror(errno));
		return;
	}
	check_mailbox(k, fd, name, what);
	check_index(k, fd, what);
	check_side_files(k, fd, name, what);
	(void)close(fd);
}

static void
check_users(struct check *k, const struct ctl_userfile *u)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	if (check_entry(k, k->c->root_fd, STORE_USERS_DIR, STORE_USERS_DIR,
	    S_IFDIR, &st) != 1)
		return;
	check_handlers_owned(k, STORE_USERS_DIR, &st);
	fd = openat(k->c->root_fd, STORE_USERS_DIR, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		check_problem(k, STORE_USERS_DIR, "%s", strerror(errno));
		return;
	}
	/* Only folders named as logins can be a user's: the handlers make
	 * no others and never look at them. */
	while ((de = readdir(d)) != NULL)
		if (userdb_login_valid(de->d_name))
			check_user(k, dirfd(d), de->d_name, u);
	(void)closedir(d);
}

static void
check_root(struct check *k)
{
	struct stat st;

	if (fstat(k->c->root_fd, &st) < 0) {
		check_problem(k, "", "%s", strerror(errno));
		return;
	}
	check_root_owned(k, "", &st);
	/* Others have no business in it; the handlers' group needs in. */
	check_mode(k, "", &st, 0027, 0750);
}

static void
check_penalty(struct check *k)
{
	struct stat st;

	if (check_entry(k, k->c->root_fd, PENALTY_FILE, PENALTY_FILE, S_IFREG,
	    &st) == 1)
		check_handlers_owned(k, PENALTY_FILE, &st);
}

int
ctl_check(struct ctl *c, int argc, char **argv)
{
	struct check k = { .c = c };
	struct ctl_userfile u;
	bool have_users;
	gid_t gid;

	(void)argv;
	if (argc != 0)
		return ctl_usage("usage: sockmailctl [-d MAILROOT] check");
	k.have_handlers = ctl_handlers_owner(c->root_fd, &k.handlers_uid,
	    &gid) == 0;
	check_root(&k);
	check_userinfo(&k, &u, &have_users);
	check_penalty(&k);
	check_users(&k, have_users ? &u : NULL);
	check_file_system(&k);
	if (have_users)
		ctl_userfile_close(&u);
	return k.problems == 0 ? CTL_OK : CTL_FAIL;
}
