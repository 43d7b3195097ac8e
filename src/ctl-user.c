/* SPDX-License-Identifier: MIT */
/* sockmailctl user add, passwd, del and list (sockmailctl(8)). */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "store.h"
#include "str.h"
#include "userdb.h"

/* "{CRYPT}" and a yescrypt hash, with room to spare. */
#define HASH_MAX	256
/* How deep --purge goes below a user's folder: the handlers make no
 * folders there at all. */
#define PURGE_DEPTH	16

static int
check_login(const char *login)
{
	if (!userdb_login_valid(login))
		return ctl_err("invalid login \"%s\": 1-64 of A-Z a-z 0-9 . _ -, "
		    "not starting with . or - (sockmail-userinfo(5))", login);
	return CTL_OK;
}

/* The login argument of a command that takes exactly one. */
static int
one_login(int argc, char **argv, const char *cmd, const char **login_out)
{
	if (argc != 1)
		return ctl_usage("usage: sockmailctl [-d MAILROOT] user %s LOGIN",
		    cmd);
	*login_out = argv[0];
	return check_login(argv[0]);
}

/* Ask for the password and hash it, before any lock is taken: yescrypt
 * takes a while, and a person typing longer still. */
static int
new_hash(char *hash, size_t size)
{
	char *pw;
	int rc;

	pw = calloc(1, CTL_PASSWORD_MAX + 2);
	if (pw == NULL)
		return ctl_err("%s", strerror(errno));
	rc = ctl_password_read(pw, CTL_PASSWORD_MAX + 2) == 0 &&
	    ctl_password_hash(pw, hash, size) == 0 ? CTL_OK : CTL_FAIL;
	str_wipe(pw, CTL_PASSWORD_MAX + 2);
	free(pw);
	return rc;
}

static int
refuse_existing(const struct ctl_line *l, const char *login)
{
	if (strcmp(l->entry.login, login) == 0)
		return ctl_err("user %s exists already", login);
	return ctl_err("user %s exists already (as %s: logins match in any "
	    "case)", login, l->entry.login);
}

/* "LOGIN {CRYPT}hash\n" into buf. Returns its length, or 0. */
static size_t
user_line(char *buf, size_t size, const char *login, const char *hash)
{
	int k;

	k = snprintf(buf, size, "%s %s\n", login, hash);
	if (k < 0 || (size_t)k >= size) {
		(void)ctl_err("the new line is too long");
		return 0;
	}
	return (size_t)k;
}

int
ctl_user_add(struct ctl *c, int argc, char **argv)
{
	struct ctl_userfile u;
	struct ctl_line l;
	struct ctl_piece pieces[3];
	char hash[HASH_MAX], line[USERDB_LOGIN_MAX + HASH_MAX + 4];
	const char *login = NULL;
	size_t n = 0, len;
	int rc;

	if ((rc = one_login(argc, argv, "add", &login)) != CTL_OK)
		return rc;
	/* Refuse early, before asking; the check that counts comes again
	 * under the lock. */
	if (ctl_userfile_read(c, &u) == 0) {
		rc = ctl_userfile_find(&u, login, &l) ?
		    refuse_existing(&l, login) : CTL_OK;
		ctl_userfile_close(&u);
		if (rc != CTL_OK)
			return rc;
	}
	if ((rc = new_hash(hash, sizeof(hash))) != CTL_OK)
		return rc;
	len = user_line(line, sizeof(line), login, hash);
	str_wipe(hash, sizeof(hash));
	if (len == 0)
		return CTL_FAIL;
	if (ctl_userfile_lock(c, &u) < 0)
		rc = CTL_FAIL;
	else if (ctl_userfile_find(&u, login, &l))
		rc = refuse_existing(&l, login);
	else {
		pieces[n++] = (struct ctl_piece){ u.data, u.len };
		/* A last line without its LF gets it, or ours would join it. */
		if (u.len > 0 && u.data[u.len - 1] != '\n')
			pieces[n++] = (struct ctl_piece){ "\n", 1 };
		pieces[n++] = (struct ctl_piece){ line, len };
		if (ctl_userfile_replace(c, &u, pieces, n) < 0)
			rc = CTL_FAIL;
	}
	ctl_userfile_close(&u);
	str_wipe(line, sizeof(line));
	return rc;
}

int
ctl_user_passwd(struct ctl *c, int argc, char **argv)
{
	struct ctl_userfile u;
	struct ctl_line l;
	struct ctl_piece pieces[3];
	char hash[HASH_MAX], line[USERDB_LINE_MAX + HASH_MAX + 4];
	const char *login = NULL, *p, *ending;
	size_t keep, len;
	int rc, k;

	if ((rc = one_login(argc, argv, "passwd", &login)) != CTL_OK)
		return rc;
	if (ctl_userfile_read(c, &u) < 0)
		return CTL_FAIL;
	rc = ctl_userfile_find(&u, login, &l) ? CTL_OK :
	    ctl_err("no such user: %s", login);
	ctl_userfile_close(&u);
	if (rc != CTL_OK)
		return rc;
	if ((rc = new_hash(hash, sizeof(hash))) != CTL_OK)
		return rc;
	if (ctl_userfile_lock(c, &u) < 0)
		rc = CTL_FAIL;
	else if (!ctl_userfile_find(&u, login, &l))
		rc = ctl_err("no such user: %s", login);
	else {
		/* The line keeps its leading blanks, login, separator and
		 * ending; only the password changes. */
		p = u.data + l.start;
		keep = strspn(p, " \t");
		keep += strlen(l.entry.login);
		keep += strspn(p + keep, " \t");
		ending = l.start + l.len == l.end ? "" :
		    u.data[l.start + l.len] == '\r' ? "\r\n" : "\n";
		k = snprintf(line, sizeof(line), "%.*s%s%s", (int)keep, p,
		    hash, ending);
		len = k < 0 || (size_t)k >= sizeof(line) ? 0 : (size_t)k;
		if (len == 0)
			rc = ctl_err("the new line is too long");
		else {
			pieces[0] = (struct ctl_piece){ u.data, l.start };
			pieces[1] = (struct ctl_piece){ line, len };
			pieces[2] = (struct ctl_piece){ u.data + l.end,
			    u.len - l.end };
			if (ctl_userfile_replace(c, &u, pieces, 3) < 0)
				rc = CTL_FAIL;
		}
	}
	ctl_userfile_close(&u);
	str_wipe(hash, sizeof(hash));
	str_wipe(line, sizeof(line));
	return rc;
}

/* Remove name in dir_fd and everything below it, following no link: a
 * link is removed itself, never what it points to. */
static int
remove_tree(int dir_fd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > PURGE_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		(void)close(fd);
		return -1;
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = remove_tree(dirfd(d), de->d_name, depth + 1);
	}
	if (rc == 0 && errno != 0)
		rc = -1;
	(void)closedir(d);
	if (rc == 0 && unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
		rc = -1;
	return rc;
}

static int
purge(struct ctl *c, const char *login)
{
	int users_fd, rc = CTL_OK;

	users_fd = openat(c->root_fd, STORE_USERS_DIR, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (users_fd < 0)
		return errno == ENOENT ? CTL_OK : ctl_err("%s/%s: %s", c->root,
		    STORE_USERS_DIR, strerror(errno));
	if (remove_tree(users_fd, login, 0) < 0)
		rc = ctl_err("removing %s/%s/%s: %s", c->root, STORE_USERS_DIR,
		    login, strerror(errno));
	else if (fsync(users_fd) < 0)
		rc = ctl_err("%s/%s: fsync: %s", c->root, STORE_USERS_DIR,
		    strerror(errno));
	(void)close(users_fd);
	return rc;
}

int
ctl_user_del(struct ctl *c, int argc, char **argv)
{
	char spelled[USERDB_LOGIN_MAX + 1];
	struct ctl_userfile u;
	struct ctl_line l;
	struct ctl_piece *pieces;
	const char *login = NULL;
	size_t pos = 0, n = 0, from = 0;
	bool do_purge = false, found = false;
	int rc;

	if (argc == 2 && strcmp(argv[1], "--purge") == 0) {
		do_purge = true;
		argc--;
	}
	if (argc != 1)
		return ctl_usage("usage: sockmailctl [-d MAILROOT] user del "
		    "LOGIN [--purge]");
	login = argv[0];
	if ((rc = check_login(login)) != CTL_OK)
		return rc;
	if (ctl_userfile_lock(c, &u) < 0)
		return CTL_FAIL;
	/* At most one piece a line, and the rest. */
	pieces = calloc(u.len / 2 + 2, sizeof(*pieces));
	if (pieces == NULL) {
		ctl_userfile_close(&u);
		return ctl_err("%s", strerror(errno));
	}
	/* Every line of the login goes: a second one would let the user
	 * back in once the first is gone. */
	while (ctl_userfile_next(&u, &pos, &l)) {
		if (l.kind != USERDB_LINE_USER)
			continue;
		userdb_entry_free(&l.entry);
		if (!str_ieq(l.entry.login, login))
			continue;
		if (!found)
			(void)str_copy(spelled, sizeof(spelled), l.entry.login);
		found = true;
		pieces[n++] = (struct ctl_piece){ u.data + from,
		    l.start - from };
		from = l.end;
	}
	pieces[n++] = (struct ctl_piece){ u.data + from, u.len - from };
	if (!found)
		rc = ctl_err("no such user: %s", login);
	else if (ctl_userfile_replace(c, &u, pieces, n) < 0)
		rc = CTL_FAIL;
	free(pieces);
	ctl_userfile_close(&u);
	if (rc == CTL_OK && do_purge)
		rc = purge(c, spelled);
	return rc;
}

/* Open USERS/<login>/my_mailbox.txt read-only, following no link.
 * Returns the descriptor, or -1 with errno set (ENOENT: no mail yet). */
static int
open_mailbox_ro(int root_fd, const char *login)
{
	const int dir = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;
	int users_fd, user_fd, fd;

	users_fd = openat(root_fd, STORE_USERS_DIR, dir);
	if (users_fd < 0)
		return -1;
	user_fd = openat(users_fd, login, dir);
	(void)close(users_fd);
	if (user_fd < 0)
		return -1;
	fd = openat(user_fd, STORE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);
	(void)close(user_fd);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		(void)close(fd);
		errno = S_ISREG(st.st_mode) ? EMLINK : EINVAL;
		return -1;
	}
	return fd;
}

int
ctl_user_list(struct ctl *c, int argc, char **argv)
{
	struct ctl_userfile u;
	struct ctl_line l, first;
	unsigned long long octets, tail;
	size_t pos = 0, count, seen;
	int rc = CTL_OK, fd;

	(void)argv;
	if (argc != 0)
		return ctl_usage("usage: sockmailctl [-d MAILROOT] user list");
	if (ctl_userfile_read(c, &u) < 0)
		return CTL_FAIL;
	while (ctl_userfile_next(&u, &pos, &l)) {
		if (l.kind != USERDB_LINE_USER)
			continue;
		userdb_entry_free(&l.entry);
		/* A second line of a login is never used: list the first. */
		seen = 0;
		if (ctl_userfile_find(&u, l.entry.login, &first))
			seen = first.start;
		if (seen != l.start)
			continue;
		count = 0;
		octets = 0;
		fd = open_mailbox_ro(c->root_fd, l.entry.login);
		if (fd < 0 && errno != ENOENT) {
			rc = ctl_err("mailbox of %s: %s", l.entry.login,
			    strerror(errno));
			continue;
		}
		if (fd >= 0 && ctl_mailbox_count(fd, &count, &octets,
		    &tail) < 0) {
			rc = ctl_err("mailbox of %s: %s", l.entry.login,
			    strerror(errno));
			(void)close(fd);
			continue;
		}
		if (fd >= 0)
			(void)close(fd);
		(void)printf("%s %zu %llu\n", l.entry.login, count, octets);
	}
	ctl_userfile_close(&u);
	return rc;
}
