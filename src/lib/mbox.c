/* SPDX-License-Identifier: MIT */
/* The mailbox store: locked, all-or-nothing appends to my_mailbox.txt.
 *
 * Locking: fcntl byte-range locks on the mailbox file itself, which work on
 * NFSv4 and CephFS too and which the kernel drops when the process dies,
 * however it dies. Two independent one-byte ranges, whatever the file
 * holds:
 * - MBOX_LOCK_APPEND guards the content: an append holds it exclusively
 *   while it writes and fsyncs; a reader takes it shared for a consistent
 *   view; a rewrite (POP3 UPDATE) holds it exclusively while it writes the
 *   new file and renames it over the old one.
 * - MBOX_LOCK_MAILDROP is a POP3 session's, from login to exit, so it
 *   never stands in a delivery's way.
 * A rename replaces the file, so once a lock is granted the holder checks
 * that the name still leads to the file it locked, and starts over on the
 * new file when it does not: no delivery ever lands in a file that has been
 * renamed away. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "log.h"
#include "mbox.h"
#include "str.h"
#include "userdb.h"
#include "wbuf.h"

#define TAIL_BLOCK	65536
#define REOPEN_TRIES	100

void
mbox_init(struct mbox *mb)
{
	mb->fd = -1;
	mb->old_size = 0;
	mb->login[0] = '\0';
}

static void
close_keep_errno(int fd)
{
	int saved = errno;

	(void)close(fd);
	errno = saved;
}

/* Open the folder name under dir_fd, creating it (mode 0700) when missing
 * and fsyncing dir_fd so the new entry survives a crash. A symbolic link
 * is refused (ELOOP or ENOTDIR). */
static int
open_folder(int dir_fd, const char *name)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd;

	fd = openat(dir_fd, name, flags);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	if (fsync(dir_fd) < 0)
		return -1;
	return openat(dir_fd, name, flags);
}

/* Open the mailbox file in user_fd, creating it when missing; refuse
 * anything but a regular file with one link. */
static int
open_mailbox_file(int user_fd, struct stat *st_out)
{
	const int flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY;
	int fd;

	fd = openat(user_fd, MBOX_FILE, flags);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(user_fd, MBOX_FILE, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 && fsync(user_fd) < 0) {
			close_keep_errno(fd);
			return -1;
		}
		if (fd < 0 && errno == EEXIST)
			fd = openat(user_fd, MBOX_FILE, flags);
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, st_out) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	/* No link count of 0 here: a rewrite may have just renamed a new
	 * file over the one opened; still_current() catches that. */
	if (!S_ISREG(st_out->st_mode) || st_out->st_nlink > 1) {
		(void)close(fd);
		errno = S_ISREG(st_out->st_mode) ? EMLINK : EINVAL;
		return -1;
	}
	return fd;
}

int
mbox_lock(int fd, off_t range, short type, bool wait)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = range,
		.l_len = 1,
	};
	int rc;

	do
		rc = fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* Whether the locked file is still the one the name leads to; *by_fd is
 * what fstat says of it now. */
static int
still_current(int user_fd, int fd, const struct stat *opened,
    struct stat *by_fd)
{
	struct stat by_name;

	if (fstat(fd, by_fd) < 0)
		return -1;
	if (fstatat(user_fd, MBOX_FILE, &by_name, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	return by_name.st_dev == opened->st_dev &&
	    by_name.st_ino == opened->st_ino && by_fd->st_nlink == 1;
}

int
mbox_read_at(int fd, char *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pread(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

off_t
mbox_whole_length(int fd, off_t size, bool *needs_lf_out)
{
	char buf[TAIL_BLOCK + 2];
	off_t hi = size, lo, rs, re, i;

	*needs_lf_out = false;
	if (size == 0)
		return 0;
	rs = size >= 3 ? size - 3 : 0;
	if (mbox_read_at(fd, buf, (size_t)(size - rs), rs) < 0)
		return -1;
	/* The usual case, a mailbox that ends with its last "." line. */
	if (size >= 2 && buf[size - 2 - rs] == '.' && buf[size - 1 - rs] == '\n' &&
	    (size == 2 || buf[size - 3 - rs] == '\n'))
		return size;
	/* A "." at the very end without its LF still ends a message. */
	if (buf[size - 1 - rs] == '.' && (size == 1 || buf[size - 2 - rs] == '\n')) {
		*needs_lf_out = true;
		return size;
	}
	/* Otherwise the last ".\n" that starts a line ends the last message;
	 * search backwards in blocks, each read with a byte of margin on
	 * either side. */
	while (hi > 0) {
		lo = hi > TAIL_BLOCK ? hi - TAIL_BLOCK : 0;
		rs = lo > 0 ? lo - 1 : 0;
		re = hi + 1 < size ? hi + 1 : size;
		if (mbox_read_at(fd, buf, (size_t)(re - rs), rs) < 0)
			return -1;
		for (i = hi - 1; i >= lo; i--) {
			if (i + 1 >= size)
				continue;
			if (buf[i - rs] == '.' && buf[i + 1 - rs] == '\n' &&
			    (i == 0 || buf[i - 1 - rs] == '\n'))
				return i + 2;
		}
		hi = lo;
	}
	return 0;
}

/* mbox_repair_tail of a mailbox size bytes long. */
static off_t
repair_tail(int fd, off_t size, const char *login)
{
	off_t whole;
	bool needs_lf;

	whole = mbox_whole_length(fd, size, &needs_lf);
	if (whole < 0)
		return -1;
	if (whole < size) {
		log_event(LOG_WARNING, "torn-tail",
		    "mailbox of %s: cut off %lld bytes after the last message",
		    login, (long long)(size - whole));
		if (ftruncate(fd, whole) < 0)
			return -1;
	}
	if (needs_lf) {
		if (pwrite(fd, "\n", 1, whole) != 1)
			return -1;
		whole++;
	}
	return whole;
}

off_t
mbox_repair_tail(int fd, const char *login)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	return repair_tail(fd, st.st_size, login);
}

/* Open USERS/<login> under root_fd: in one step where both exist and
 * neither is a symbolic link (openat2, Linux 5.6), else one folder at a
 * time, creating what is missing and refusing links (open_folder). */
static int
open_user_folder(int root_fd, const char *login)
{
	int users_fd, fd;
#ifdef SYS_openat2
	char path[sizeof(MBOX_USERS_DIR) + USERDB_LOGIN_MAX + 1];
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};

	if (snprintf(path, sizeof(path), "%s/%s", MBOX_USERS_DIR, login) <
	    (int)sizeof(path)) {
		do
			fd = (int)syscall(SYS_openat2, root_fd, path, &how,
			    sizeof(how));
		while (fd < 0 && errno == EINTR);
		if (fd >= 0)
			return fd;
	}
#endif
	users_fd = open_folder(root_fd, MBOX_USERS_DIR);
	if (users_fd < 0)
		return -1;
	fd = open_folder(users_fd, login);
	close_keep_errno(users_fd);
	return fd;
}

int
mbox_open_locked(int root_fd, const char *login, off_t range, bool wait,
    int *user_fd_out, struct stat *st_out)
{
	struct stat st, now;
	int user_fd = -1, fd = -1, tries, current;

	/* Only a valid login ever becomes a folder name: no "..", no "/". */
	if (!userdb_login_valid(login)) {
		errno = EINVAL;
		return -1;
	}
	user_fd = open_user_folder(root_fd, login);
	if (user_fd < 0)
		return -1;
	for (tries = 0; tries < REOPEN_TRIES; tries++) {
		fd = open_mailbox_file(user_fd, &st);
		if (fd < 0)
			goto fail;
		if (mbox_lock(fd, range, F_WRLCK, wait) < 0) {
			if (errno == EACCES)
				errno = EAGAIN;
			goto fail;
		}
		current = still_current(user_fd, fd, &st, &now);
		if (current < 0)
			goto fail;
		if (current) {
			*user_fd_out = user_fd;
			if (st_out != NULL)
				*st_out = now;
			return fd;
		}
		(void)close(fd);	/* replaced while we waited */
		fd = -1;
	}
	errno = EAGAIN;
fail:
	if (fd >= 0)
		close_keep_errno(fd);
	close_keep_errno(user_fd);
	return -1;
}

int
mbox_open_append(int root_fd, const char *login, struct mbox *mb)
{
	struct stat st;
	int user_fd;

	mbox_init(mb);
	mb->fd = mbox_open_locked(root_fd, login, MBOX_LOCK_APPEND, true,
	    &user_fd, &st);
	if (mb->fd < 0)
		return -1;
	(void)str_copy(mb->login, sizeof(mb->login), login);	/* valid */
	(void)close(user_fd);
	mb->old_size = repair_tail(mb->fd, st.st_size, login);
	if (mb->old_size < 0 || lseek(mb->fd, mb->old_size, SEEK_SET) < 0) {
		close_keep_errno(mb->fd);
		mb->fd = -1;
		return -1;
	}
	return 0;
}

int
mbox_reserve(struct mbox *mb, off_t len)
{
	if (len < 0 || mb->old_size > INT64_MAX - len) {
		errno = EFBIG;
		return -1;
	}
	/* The file stays positioned at old_size (mbox_open_append). */
	return ftruncate(mb->fd, mb->old_size + len);
}

int
mbox_write(struct mbox *mb, const char *data, size_t len)
{
	return fd_write_all(mb->fd, data, len);
}

int
mbox_unlock(struct mbox *mb)
{
	return mbox_lock(mb->fd, MBOX_LOCK_APPEND, F_UNLCK, false);
}

int
mbox_take_back(struct mbox *mb, off_t len)
{
	struct stat st;
	int rc = -1, saved;

	if (mbox_lock(mb->fd, MBOX_LOCK_APPEND, F_WRLCK, true) < 0)
		return -1;
	if (fstat(mb->fd, &st) < 0)
		goto out;
	if (st.st_size != mb->old_size + len) {
		errno = EBUSY;
		goto out;
	}
	rc = mbox_rollback(mb);
out:
	saved = errno;
	(void)mbox_unlock(mb);
	errno = saved;
	return rc;
}

int
mbox_commit(struct mbox *mb)
{
	return fsync(mb->fd);
}

int
mbox_rollback(struct mbox *mb)
{
	if (ftruncate(mb->fd, mb->old_size) < 0)
		return -1;
	return fsync(mb->fd);
}

void
mbox_close(struct mbox *mb)
{
	if (mb->fd >= 0)
		(void)close(mb->fd);
	mb->fd = -1;
}
