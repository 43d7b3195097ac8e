/* SPDX-License-Identifier: MIT */
/* The mailbox store: opening, locking, appending, taking back, snapshots,
 * reads and the replace of UPDATE. The invariants are in store.h; tails
 * are store-tail.c's. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/vfs.h>
#include <unistd.h>
#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "io.h"
#include "log.h"
#include "store-int.h"
#include "str.h"
#include "userdb.h"

#define REOPEN_TRIES	100

/* File systems whose clients may cache writes from the next lock holder
 * (statfs(2) f_type). */
#define FUSE_SUPER_MAGIC	0x65735546
#define NFS_SUPER_MAGIC		0x6969
#define CEPH_SUPER_MAGIC	0x00c36400
#define SMB2_MAGIC_NUMBER	0xfe534d42
#define CIFS_SUPER_MAGIC	0xff534d42

void
store_box_init(struct store_box *b)
{
	b->fd = -1;
	b->user_fd = -1;
	b->remote = false;
	b->login[0] = '\0';
}

void
store_box_close(struct store_box *b)
{
	if (b->fd >= 0)
		(void)close(b->fd);
	if (b->user_fd >= 0)
		(void)close(b->user_fd);
	store_box_init(b);
}

int
store_stat(const struct store_box *b, struct stat *st)
{
	return fstat(b->fd, st);
}

int
store_lock(const struct store_box *b, enum store_lock range, short type,
    bool wait)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = (off_t)range,
		.l_len = 1,
	};
	int rc;

	do
		rc = fcntl(b->fd, wait ? F_SETLKW : F_SETLK, &fl);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* Drop a lock range; only a bad descriptor can make that fail. */
static void
unlock(const struct store_box *b, enum store_lock range)
{
	int saved = errno;

	(void)store_lock(b, range, F_UNLCK, false);
	errno = saved;
}

int
store_host_pid(char *buf, size_t size)
{
	char host[65];
	int n;

	if (gethostname(host, sizeof(host)) < 0)
		return -1;
	host[sizeof(host) - 1] = '\0';
	n = snprintf(buf, size, "%s.%ld", host, (long)getpid());
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

bool
store_on_network_fs(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return true;	/* when in doubt, flush */
	switch ((unsigned long)sf.f_type) {
	case FUSE_SUPER_MAGIC:
	case NFS_SUPER_MAGIC:
	case CEPH_SUPER_MAGIC:
	case SMB2_MAGIC_NUMBER:
	case CIFS_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

bool
store_file_gone(int err)
{
	return err == ESTALE || err == ENOENT;
}

int
store_fresh_stat(int fd, bool remote, bool sole_writer, struct stat *st)
{
	struct statx sx;
	struct timespec times[2];

	if (!remote)
		return fstat(fd, st);
	/* fsync reaches the server and brings back its own attributes,
	 * which replace the client's cached ones (GlusterFS's md-cache);
	 * AT_STATX_FORCE_SYNC then makes the kernel ask the client instead
	 * of answering from its attribute cache. A file renamed away on
	 * another host shows here: ESTALE, or no link left. */
	if (fsync(fd) < 0 ||
	    statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC,
	    STATX_BASIC_STATS, &sx) < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	st->st_ino = (ino_t)sx.stx_ino;
	st->st_mode = sx.stx_mode;
	st->st_nlink = sx.stx_nlink;
	st->st_uid = sx.stx_uid;
	st->st_gid = sx.stx_gid;
	st->st_size = (off_t)sx.stx_size;
	st->st_mtim.tv_sec = sx.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = sx.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = sx.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = sx.stx_ctime.tv_nsec;
	if (!sole_writer || st->st_size == 0 || st->st_nlink == 0)
		return 0;
	/* Content a client cached at a lookup (GlusterFS's quick-read keeps
	 * a small file's bytes for a second) can predate the last holder's
	 * writes: room still NUL, a tail not yet cut. Any allocation
	 * request from this client drops that copy; reserving the first
	 * byte, which exists, changes no data, and the mtime it moves is
	 * put back, so the message index still knows the file. */
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1) < 0)
		return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -1;
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_OMIT;
	times[1] = st->st_mtim;
	/* Only the file's owner may set a time: a mailbox someone else
	 * owns keeps the new mtime, which costs the index a rescan, no
	 * more. */
	(void)futimens(fd, times);
	return 0;
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

/* Open USERS/<login> under root_fd: in one step where both exist and
 * neither is a symbolic link (openat2, Linux 5.6), else one folder at a
 * time, creating what is missing and refusing links (open_folder). */
static int
open_user_folder(int root_fd, const char *login)
{
	int users_fd, fd;
#ifdef SYS_openat2
	char path[sizeof(STORE_USERS_DIR) + USERDB_LOGIN_MAX + 1];
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};

	if (snprintf(path, sizeof(path), "%s/%s", STORE_USERS_DIR, login) <
	    (int)sizeof(path)) {
		do
			fd = (int)syscall(SYS_openat2, root_fd, path, &how,
			    sizeof(how));
		while (fd < 0 && errno == EINTR);
		if (fd >= 0)
			return fd;
	}
#endif
	users_fd = open_folder(root_fd, STORE_USERS_DIR);
	if (users_fd < 0)
		return -1;
	fd = open_folder(users_fd, login);
	io_close_keep_errno(users_fd);
	return fd;
}

/* Settle the mailbox fd in user_fd (store.h, Names): fsync the folder
 * and USERS, then clear the bit. Clearing it may fail (a mailbox someone
 * else owns): the next writer then fsyncs again, which costs a little, no
 * more. */
static int
settle(int user_fd, int fd, mode_t mode)
{
	int users_fd;

	if (fsync(user_fd) < 0)
		return -1;
	users_fd = openat(user_fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (users_fd < 0)
		return -1;
	if (fsync(users_fd) < 0) {
		io_close_keep_errno(users_fd);
		return -1;
	}
	(void)close(users_fd);
	(void)fchmod(fd, mode & 0777);
	return 0;
}

/* Open the mailbox file in user_fd, creating it when missing; refuse
 * anything but a regular file with one link. */
static int
open_mailbox_file(int user_fd, struct stat *st_out)
{
	const int flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY;
	int fd;

	fd = openat(user_fd, STORE_FILE, flags);
	if (fd < 0 && errno == ENOENT) {
		/* Born unsettled (store.h, Names), and settled at once;
		 * killed in between, the next writer settles it. */
		fd = openat(user_fd, STORE_FILE, flags | O_CREAT | O_EXCL,
		    STORE_UNSETTLED | 0600);
		if (fd >= 0 && settle(user_fd, fd, 0600) < 0) {
			io_close_keep_errno(fd);
			return -1;
		}
		if (fd < 0 && errno == EEXIST)
			fd = openat(user_fd, STORE_FILE, flags);
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, st_out) < 0) {
		io_close_keep_errno(fd);
		return -1;
	}
	/* No link count of 0 here: a replace may have just renamed a new
	 * file over the one opened; still_current() catches that. */
	if (!S_ISREG(st_out->st_mode) || st_out->st_nlink > 1) {
		(void)close(fd);
		errno = S_ISREG(st_out->st_mode) ? EMLINK : EINVAL;
		return -1;
	}
	return fd;
}

/* Whether the locked file is still the one the name leads to. */
static int
still_current(const struct store_box *b, const struct stat *opened)
{
	struct stat by_name, by_fd;

	if (store_fresh_stat(b->fd, b->remote, false, &by_fd) < 0)
		return store_file_gone(errno) ? 0 : -1;
	/* The name may be a client's cached view (another host renamed a
	 * new file over it a moment ago); the link count, fresh, is not. */
	if (by_fd.st_nlink == 0)
		return 0;
	if (fstatat(b->user_fd, STORE_FILE, &by_name, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	return by_name.st_dev == opened->st_dev &&
	    by_name.st_ino == opened->st_ino && by_fd.st_nlink == 1;
}

/* Before opening the name again on a network file system: a client may
 * go on resolving it to the file renamed away for as long as it caches
 * names (GlusterFS: a second). Reading the folder brings every entry's
 * current file along (FUSE's READDIRPLUS), which replaces the cached
 * name; a short pause covers a client that does not. */
static void
refresh_names(int user_fd)
{
	const struct timespec pause = { .tv_sec = 0, .tv_nsec = 10000000 };
	DIR *dir;
	int fd;

	fd = dup(user_fd);
	if (fd >= 0) {
		dir = fdopendir(fd);
		if (dir != NULL) {
			while (readdir(dir) != NULL)
				continue;
			(void)closedir(dir);
		} else
			(void)close(fd);
	}
	(void)nanosleep(&pause, NULL);
}

/* How a mailbox is opened: for a delivery (GATE, PENDING shared, APPEND,
 * waiting) or for a POP3 session (MAILDROP, not waiting). */
enum open_for { FOR_APPEND, FOR_MAILDROP };

static int
take_locks(struct store_box *b, enum open_for why)
{
	if (why == FOR_MAILDROP) {
		if (store_lock(b, STORE_LOCK_MAILDROP, F_WRLCK, false) == 0)
			return 0;
		if (errno == EACCES)
			errno = EAGAIN;
		return -1;
	}
	if (store_lock(b, STORE_LOCK_GATE, F_WRLCK, true) < 0)
		return -1;
	if (store_lock(b, STORE_LOCK_PENDING, F_RDLCK, true) < 0) {
		unlock(b, STORE_LOCK_GATE);
		return -1;
	}
	unlock(b, STORE_LOCK_GATE);
	return store_lock(b, STORE_LOCK_APPEND, F_WRLCK, true);
}

static int
open_locked(int root_fd, const char *login, enum open_for why,
    struct store_box *b)
{
	struct stat st;
	int tries, current;

	store_box_init(b);
	/* Only a valid login ever becomes a folder name: no "..", no "/". */
	if (!userdb_login_valid(login)) {
		errno = EINVAL;
		return -1;
	}
	(void)str_copy(b->login, sizeof(b->login), login);
	b->user_fd = open_user_folder(root_fd, login);
	if (b->user_fd < 0)
		goto fail;
	b->remote = store_on_network_fs(b->user_fd);
	for (tries = 0; tries < REOPEN_TRIES; tries++) {
		if (tries > 0 && b->remote)
			refresh_names(b->user_fd);
		b->fd = open_mailbox_file(b->user_fd, &st);
		if (b->fd < 0 && b->remote && store_file_gone(errno))
			continue;	/* the name still leads to a file gone */
		if (b->fd < 0)
			goto fail;
		if (take_locks(b, why) < 0) {
			if (!b->remote || !store_file_gone(errno))
				goto fail;
			current = 0;
		} else
			current = still_current(b, &st);
		if (current < 0)
			goto fail;
		if (current)
			return 0;
		(void)close(b->fd);	/* replaced while we waited */
		b->fd = -1;
	}
	errno = EAGAIN;
fail:
	{
		int saved = errno;

		store_box_close(b);
		errno = saved;
	}
	return -1;
}

/* ---- Delivery ---- */

int
store_append_begin(int root_fd, const char *login, off_t len,
    struct store_append *a)
{
	return store_append_begin_max(root_fd, login, len, 0, a);
}

int
store_append_begin_max(int root_fd, const char *login, off_t len, off_t max,
    struct store_append *a)
{
	struct stat st;
	off_t whole;
	int saved;

	memset(a, 0, sizeof(*a));
	if (open_locked(root_fd, login, FOR_APPEND, &a->box) < 0)
		return -1;
	a->appending = true;
	if (store_fresh_stat(a->box.fd, a->box.remote, true, &st) < 0)
		goto fail;
	a->mode = st.st_mode;
	whole = store_repair_tail(&a->box, st.st_size);
	if (whole < 0)
		goto fail;
	if (len <= 0 || whole > INT64_MAX - len) {
		errno = EFBIG;
		goto fail;
	}
	a->start = whole;
	a->len = len;
	if (max > 0 && whole > max - len) {
		store_append_end(a);
		return 1;
	}
	/* The room, as NULs until the record is written whole (store.h). */
	if (ftruncate(a->box.fd, whole + len) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	store_append_end(a);
	errno = saved;
	return -1;
}

/* Open name under dir_fd for store_size_hint: read only, no link
 * followed, nothing created, never blocking on a FIFO. */
static int
open_for_hint(int dir_fd, const char *name, int flags)
{
	return openat(dir_fd, name, flags | O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK);
}

int
store_size_hint(int root_fd, const char *login, off_t *size_out)
{
	struct store_box b;
	struct stat st;
	int users_fd, told = 0;

	if (!userdb_login_valid(login))
		return 0;
	store_box_init(&b);
	*size_out = 0;
	users_fd = open_for_hint(root_fd, STORE_USERS_DIR, O_DIRECTORY);
	if (users_fd < 0)
		return errno == ENOENT;
	b.user_fd = open_for_hint(users_fd, login, O_DIRECTORY);
	(void)close(users_fd);
	if (b.user_fd < 0)
		return errno == ENOENT;
	b.fd = open_for_hint(b.user_fd, STORE_FILE, 0);
	if (b.fd < 0) {
		told = errno == ENOENT;
		goto out;
	}
	if (fstat(b.fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1)
		goto out;
	if (store_ends_whole(&b, st.st_size) == 1) {
		*size_out = st.st_size;
		told = 1;
	}
out:
	store_box_close(&b);
	return told;
}

int
store_append_write(void *arg, const void *data, size_t n)
{
	struct store_append *a = arg;

	if (!a->appending || (off_t)n > a->len - a->written) {
		errno = EFBIG;
		return -1;
	}
	if (io_write_at(a->box.fd, data, n, a->start + a->written) < 0)
		return -1;
	a->written += (off_t)n;
	return 0;
}

int
store_append_publish(struct store_append *a)
{
	if (a->written != a->len) {
		errno = EIO;		/* the record is not whole */
		return -1;
	}
	/* The next holder of APPEND, maybe on another host, must see the
	 * record (sockmail-mailbox(5), LOCKING). */
	if (a->box.remote) {
		if (fsync(a->box.fd) < 0)
			return -1;
		a->synced = true;
	}
	unlock(&a->box, STORE_LOCK_APPEND);
	a->appending = false;
	return 0;
}

int
store_append_commit(struct store_append *a)
{
	if (!a->synced) {
		if (fsync(a->box.fd) < 0)
			return -1;
		a->synced = true;
	}
	if (a->mode & STORE_UNSETTLED) {
		if (settle(a->box.user_fd, a->box.fd, a->mode) < 0)
			return -1;
		a->mode &= ~(mode_t)STORE_UNSETTLED;
	}
	return 0;
}

/* Cut the mailbox back to where the record started, under APPEND. Once
 * the cut is made the record is gone from the mailbox as readers see it;
 * should the fsync after it fail, a crash may bring the record back
 * (twice delivered, never lost), which is only logged. */
static int
cut_record(struct store_append *a)
{
	if (ftruncate(a->box.fd, a->start) < 0)
		return -1;
	a->written = 0;
	if (fsync(a->box.fd) < 0)
		log_event(LOG_ERR, "rollback", "mailbox of %s: copy cut off, "
		    "but fsync after the cut: %s", a->box.login,
		    strerror(errno));
	return 0;
}

int
store_append_abort(struct store_append *a)
{
	int rc;

	if (!a->appending) {
		errno = EINVAL;
		return -1;
	}
	rc = cut_record(a);
	unlock(&a->box, STORE_LOCK_APPEND);
	a->appending = false;
	return rc;
}

int
store_append_take_back(struct store_append *a)
{
	struct stat st;
	int rc = -1;

	if (a->appending)
		return store_append_abort(a);
	if (store_lock(&a->box, STORE_LOCK_APPEND, F_WRLCK, true) < 0)
		return -1;
	/* PENDING, held since before the append, kept any replace out: the
	 * file is still the mailbox. Is the record still its last bytes? */
	if (store_fresh_stat(a->box.fd, a->box.remote, true, &st) < 0)
		goto out;
	if (st.st_size != a->start + a->len) {
		errno = EBUSY;
		goto out;
	}
	rc = cut_record(a);
out:
	unlock(&a->box, STORE_LOCK_APPEND);
	return rc;
}

void
store_append_end(struct store_append *a)
{
	store_box_close(&a->box);	/* every lock goes with it */
	a->appending = false;
}

/* ---- The maildrop ---- */

int
store_open_maildrop(int root_fd, const char *login, struct store_box *b)
{
	return open_locked(root_fd, login, FOR_MAILDROP, b);
}

/* GATE, then PENDING exclusive: no delivery is in flight, and none can
 * start, until unlock_quiet. Then APPEND, shared or exclusive. */
static int
lock_quiet(struct store_box *b, short append_type)
{
	if (store_lock(b, STORE_LOCK_GATE, F_WRLCK, true) < 0)
		return -1;
	if (store_lock(b, STORE_LOCK_PENDING, F_WRLCK, true) < 0)
		goto fail_gate;
	if (store_lock(b, STORE_LOCK_APPEND, append_type, true) < 0)
		goto fail_pending;
	return 0;
fail_pending:
	unlock(b, STORE_LOCK_PENDING);
fail_gate:
	unlock(b, STORE_LOCK_GATE);
	return -1;
}

static void
unlock_quiet(struct store_box *b)
{
	unlock(b, STORE_LOCK_APPEND);
	unlock(b, STORE_LOCK_PENDING);
	unlock(b, STORE_LOCK_GATE);
}

int
store_snapshot(struct store_box *b, off_t *whole_out, bool *lf_missing_out)
{
	struct stat st;
	int rc = -1;

	if (lock_quiet(b, F_RDLCK) < 0)
		return -1;
	if (store_fresh_stat(b->fd, b->remote, true, &st) == 0) {
		*whole_out = store_whole_length(b, st.st_size,
		    lf_missing_out);
		if (*whole_out >= 0)
			rc = 0;
	}
	unlock_quiet(b);
	return rc;
}

int
store_read(const struct store_box *b, void *buf, size_t len, off_t off)
{
	return io_read_at(b->fd, buf, len, off);
}

ssize_t
store_read_some(const struct store_box *b, void *buf, size_t len, off_t off)
{
	return io_read_some(b->fd, buf, len, off);
}

/* Remove the half-written files of replaces (and index rewrites) that
 * were killed: "my_mailbox.*.tmp". Only the maildrop's holder ever writes
 * one, and that is us now: every one in the folder, from this host or
 * another, is stale. */
#define STALE_PREFIX	"my_mailbox."
static void
remove_stale_copies(int user_fd)
{
	const size_t prefix = strlen(STALE_PREFIX);
	struct dirent *e;
	size_t len;
	DIR *dir;
	int fd;

	/* A fresh open of the folder, not a dup of user_fd: a network file
	 * system's client may answer a directory opened at login from what
	 * it read then, without what a killed process on another host left
	 * since. */
	fd = openat(user_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (dir == NULL) {
		(void)close(fd);
		return;
	}
	while ((e = readdir(dir)) != NULL) {
		len = strlen(e->d_name);
		if (len > prefix + 4 &&
		    strncmp(e->d_name, STALE_PREFIX, prefix) == 0 &&
		    strcmp(e->d_name + len - 4, ".tmp") == 0 &&
		    unlinkat(user_fd, e->d_name, 0) == 0)
			log_event(LOG_WARNING, "update", "removed %s, left by "
			    "an UPDATE that did not finish", e->d_name);
	}
	(void)closedir(dir);
}

int
store_replace_begin(struct store_box *b, struct store_replace *r)
{
	char host_pid[128];
	struct stat st;
	int n, saved;

	r->box = b;
	r->tmp_fd = -1;
	r->tmp[0] = '\0';
	if (store_host_pid(host_pid, sizeof(host_pid)) < 0)
		return -1;
	n = snprintf(r->tmp, sizeof(r->tmp), "%s.%s.tmp", STORE_FILE,
	    host_pid);
	if (n < 0 || (size_t)n >= sizeof(r->tmp)) {
		r->tmp[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	if (lock_quiet(b, F_WRLCK) < 0) {
		r->tmp[0] = '\0';
		return -1;
	}
	if (store_fresh_stat(b->fd, b->remote, true, &st) < 0)
		goto fail;
	r->whole = store_repair_tail(b, st.st_size);
	if (r->whole < 0)
		goto fail;
	remove_stale_copies(b->user_fd);
	r->tmp_fd = openat(b->user_fd, r->tmp, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, STORE_UNSETTLED | 0600);
	if (r->tmp_fd < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	store_replace_end(r);
	errno = saved;
	return -1;
}

int
store_replace_write(void *arg, const void *data, size_t n)
{
	struct store_replace *r = arg;

	return io_write_all(r->tmp_fd, data, n);
}

int
store_replace_commit(struct store_replace *r)
{
	struct store_box *b = r->box;
	struct store_box next = *b;

	/* The new file is the maildrop's from the moment it has the name:
	 * its MAILDROP lock comes first (a fresh file: no one else has it). */
	next.fd = r->tmp_fd;
	if (store_lock(&next, STORE_LOCK_MAILDROP, F_WRLCK, false) < 0 ||
	    fsync(r->tmp_fd) < 0)
		return -1;
	if (renameat(b->user_fd, r->tmp, b->user_fd, STORE_FILE) < 0)
		return -1;
	/* Closing the old file lets go of its locks: deliveries waiting on
	 * it find the name moved, and append to the new file. */
	(void)close(b->fd);
	b->fd = r->tmp_fd;
	/* The rename is done: the new mailbox stands even if the folder's
	 * fsync fails, so that is only logged, and the mailbox stays
	 * unsettled for the next delivery to settle. */
	if (settle(b->user_fd, b->fd, 0600) < 0)
		log_event(LOG_ERR, "update", "mailbox of %s: fsync of the "
		    "folder: %s", b->login, strerror(errno));
	r->tmp_fd = -1;
	r->tmp[0] = '\0';
	return 0;
}

void
store_replace_end(struct store_replace *r)
{
	if (r->tmp_fd >= 0) {
		(void)close(r->tmp_fd);
		r->tmp_fd = -1;
	}
	if (r->tmp[0] != '\0') {
		/* Not committed: the new file goes, the old one stays. */
		(void)unlinkat(r->box->user_fd, r->tmp, 0);
		r->tmp[0] = '\0';
		unlock_quiet(r->box);
	}
}
