/* SPDX-License-Identifier: MIT */
/* sockmailctl: userinfo.txt changed whole, under an fcntl lock on the
 * file itself, by a new file renamed over it (sockmailctl(8), FILES). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "io.h"
#include "store.h"
#include "str.h"
#include "userdb.h"

/* userinfo.txt is read whole; a password database past this size is
 * not one sockmail can serve (each login reads it line by line). */
#define USERFILE_MAX	(64L * 1024 * 1024)
/* Each retry means another sockmailctl renamed a new file in between:
 * bounded all the same. */
#define LOCK_TRIES	1000

static int
read_all(struct ctl_userfile *u, const struct stat *st)
{
	ssize_t n;

	if (st->st_size > USERFILE_MAX) {
		errno = EFBIG;
		return -1;
	}
	u->len = (size_t)st->st_size;
	u->data = malloc(u->len + 1);
	if (u->data == NULL)
		return -1;
	n = u->len > 0 ? io_read_some(u->fd, u->data, u->len, 0) : 0;
	if (n < 0)
		return -1;
	if ((size_t)n != u->len) {
		errno = EAGAIN;		/* changed under us: only without lock */
		return -1;
	}
	u->data[u->len] = '\0';
	u->uid = st->st_uid;
	u->gid = st->st_gid;
	u->mode = st->st_mode & 07777;
	return 0;
}

/* read_all, or say why not and close u. */
static int
read_or_close(struct ctl *c, struct ctl_userfile *u, const struct stat *st)
{
	if (read_all(u, st) == 0)
		return 0;
	(void)ctl_err("%s/%s: %s", c->root, USERDB_FILE, strerror(errno));
	ctl_userfile_close(u);
	return -1;
}

static int
open_checked(struct ctl *c, int flags, struct stat *st)
{
	int fd;

	/* O_NONBLOCK: a FIFO there must not hang us in open. */
	fd = openat(c->root_fd, USERDB_FILE, flags | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, 0640);
	if (fd < 0) {
		(void)ctl_err("%s/%s: %s", c->root, USERDB_FILE,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		(void)ctl_err("%s/%s: %s", c->root, USERDB_FILE,
		    S_ISREG(st->st_mode) ? strerror(errno) :
		    "not a regular file");
		(void)close(fd);
		return -1;
	}
	return fd;
}

int
ctl_userfile_read(struct ctl *c, struct ctl_userfile *u)
{
	struct stat st;

	u->data = NULL;
	u->fd = open_checked(c, O_RDONLY, &st);
	if (u->fd < 0)
		return -1;
	return read_or_close(c, u, &st);
}

int
ctl_userfile_lock(struct ctl *c, struct ctl_userfile *u)
{
	struct flock fl;
	struct stat st, now;
	int tries;

	u->data = NULL;
	for (tries = 0; tries < LOCK_TRIES; tries++) {
		u->fd = open_checked(c, O_RDWR | O_CREAT, &st);
		if (u->fd < 0)
			return -1;
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;		/* the whole file */
		while (fcntl(u->fd, F_SETLKW, &fl) < 0) {
			if (errno != EINTR) {
				(void)ctl_err("locking %s/%s: %s", c->root,
				    USERDB_FILE, strerror(errno));
				ctl_userfile_close(u);
				return -1;
			}
		}
		/* The last holder renamed a new file over the name while we
		 * waited: our lock is on the old file, the new one is free. */
		if (fstat(u->fd, &st) == 0 && fstatat(c->root_fd, USERDB_FILE,
		    &now, AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink > 0 &&
		    st.st_dev == now.st_dev && st.st_ino == now.st_ino)
			break;
		(void)close(u->fd);
		u->fd = -1;
	}
	if (u->fd < 0) {
		(void)ctl_err("%s/%s: kept being replaced while waiting for "
		    "its lock", c->root, USERDB_FILE);
		return -1;
	}
	return read_or_close(c, u, &st);
}

bool
ctl_userfile_next(const struct ctl_userfile *u, size_t *pos, struct ctl_line *l)
{
	const char *nl;
	size_t content;

	if (*pos >= u->len)
		return false;
	l->start = *pos;
	nl = memchr(u->data + *pos, '\n', u->len - *pos);
	l->end = nl != NULL ? (size_t)(nl - u->data) + 1 : u->len;
	content = (nl != NULL ? (size_t)(nl - u->data) : u->len) - l->start;
	/* A CR before the LF is the line ending's, not the password's. */
	if (content > 0 && u->data[l->start + content - 1] == '\r')
		content--;
	l->len = content;
	l->kind = userdb_parse_line(u->data + l->start, l->len, &l->entry);
	*pos = l->end;
	return true;
}

bool
ctl_userfile_find(const struct ctl_userfile *u, const char *login,
    struct ctl_line *l)
{
	size_t pos = 0;

	while (ctl_userfile_next(u, &pos, l)) {
		if (l->kind != USERDB_LINE_USER)
			continue;
		userdb_entry_free(&l->entry);
		if (str_ieq(l->entry.login, login))
			return true;
	}
	return false;
}

/* Write the pieces to fd, then make them durable. */
static int
write_pieces(int fd, const struct ctl_piece *pieces, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pieces[i].len > 0 &&
		    io_write_all(fd, pieces[i].p, pieces[i].len) < 0)
			return -1;
	return fsync(fd);
}

int
ctl_userfile_replace(struct ctl *c, struct ctl_userfile *u,
    const struct ctl_piece *pieces, size_t n)
{
	char host_pid[128], tmp[sizeof(USERDB_FILE) + sizeof(host_pid) + 8];
	struct stat st;
	int fd, k;

	if (store_host_pid(host_pid, sizeof(host_pid)) < 0)
		return ctl_err("host name: %s", strerror(errno)), -1;
	k = snprintf(tmp, sizeof(tmp), "%s.%s.tmp", USERDB_FILE, host_pid);
	if (k < 0 || (size_t)k >= sizeof(tmp))
		return ctl_err("host name too long"), -1;
	/* O_EXCL: a file of that name is no one's we may write through;
	 * one left by a crash of this very host and pid goes first. */
	(void)unlinkat(c->root_fd, tmp, 0);
	fd = openat(c->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return ctl_err("%s/%s: %s", c->root, tmp, strerror(errno)), -1;
	/* The new file keeps the old one's owner, group and mode: root's
	 * password database readable by the handlers' group, say. */
	if (fstat(fd, &st) < 0 ||
	    ((st.st_uid != u->uid || st.st_gid != u->gid) &&
	    fchown(fd, u->uid, u->gid) < 0) ||
	    fchmod(fd, u->mode) < 0 ||
	    write_pieces(fd, pieces, n) < 0) {
		(void)ctl_err("%s/%s: %s", c->root, tmp, strerror(errno));
		goto fail;
	}
	if (renameat(c->root_fd, tmp, c->root_fd, USERDB_FILE) < 0) {
		(void)ctl_err("renaming %s/%s over %s: %s", c->root, tmp,
		    USERDB_FILE, strerror(errno));
		goto fail;
	}
	(void)close(fd);
	if (fsync(c->root_fd) < 0)
		return ctl_err("%s: fsync: %s", c->root, strerror(errno)), -1;
	return 0;
fail:
	(void)close(fd);
	(void)unlinkat(c->root_fd, tmp, 0);
	return -1;
}

void
ctl_userfile_close(struct ctl_userfile *u)
{
	if (u->data != NULL) {
		str_wipe(u->data, u->len);
		free(u->data);
		u->data = NULL;
	}
	/* Closing lets go of the lock: only after the rename, so the next
	 * holder finds the new file under the name. */
	if (u->fd >= 0)
		(void)close(u->fd);
	u->fd = -1;
}
