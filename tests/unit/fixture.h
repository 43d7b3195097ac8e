/* SPDX-License-Identifier: MIT */
/* Scratch files for the unit tests: make them, compare them, remove them.
 * Any failure to set a test up aborts it. */
#ifndef SOCKMAIL_FIXTURE_H
#define SOCKMAIL_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int
fixture_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove dir and everything below it, links not followed. */
static inline void
fixture_rm_tree(const char *dir)
{
	(void)nftw(dir, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write name under dirfd with exactly len bytes of data. */
static inline void
fixture_put(int dirfd, const char *name, const void *data, size_t len,
    mode_t mode)
{
	int	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd == -1 || (len > 0 && write(fd, data, len) != (ssize_t)len) ||
	    close(fd) == -1)
		abort();
}

static inline void
fixture_mkdir(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) == -1)
		abort();
}

/* Whether the open file fd (called label) holds exactly want; shows what
 * it holds if not. Closes nothing, so no lock is let go. */
static inline bool
fixture_fd_is(int fd, const char *label, const char *want, size_t wlen)
{
	struct stat	 st;
	char		*got;
	bool		 same;

	if (fstat(fd, &st) == -1 || (got = malloc((size_t)st.st_size + 1)) == NULL)
		abort();
	if (pread(fd, got, (size_t)st.st_size, 0) != st.st_size)
		abort();
	got[st.st_size] = '\0';
	same = (size_t)st.st_size == wlen && memcmp(got, want, wlen) == 0;
	if (!same)
		printf("# %s holds %lld bytes:\n%s# (end)\n", label,
		    (long long)st.st_size, got);
	free(got);
	return same;
}

/* Whether name under dirfd holds exactly want; shows what it holds if
 * not. */
static inline bool
fixture_file_is(int dirfd, const char *name, const char *want, size_t wlen)
{
	bool	 same;
	int	 fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW);

	if (fd == -1) {
		printf("# %s: %s\n", name, strerror(errno));
		return false;
	}
	same = fixture_fd_is(fd, name, want, wlen);
	(void)close(fd);
	return same;
}

#endif
