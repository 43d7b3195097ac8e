/* SPDX-License-Identifier: MIT */
/* Spools for messages in transit: memory first, then an anonymous file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spool.h"
#include "io.h"
#include "wbuf.h"

#define COPY_BLOCK	65536

int
spool_create(void)
{
	return memfd_create("sockmail-spool", MFD_CLOEXEC);
}

static int
create_file(void)
{
	char host[64], path[4096];
	const char *dir;
	int fd, n;

	dir = getenv("TMPDIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	if (gethostname(host, sizeof(host)) < 0)
		return -1;
	host[sizeof(host) - 1] = '\0';
	n = snprintf(path, sizeof(path), "%s/sockmail-spool.%s.%ld.XXXXXX",
	    dir, host, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (unlink(path) < 0) {
		int saved = errno;

		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
spool_spill(int fd)
{
	char *buf;
	off_t off = 0;
	ssize_t n;
	int file, rc = -1, saved;

	if ((file = create_file()) < 0)
		return -1;
	if ((buf = malloc(COPY_BLOCK)) == NULL)
		goto out;
	for (;;) {
		n = io_read_some(fd, buf, COPY_BLOCK, off);
		if (n <= 0)
			break;
		if (io_write_all(file, buf, (size_t)n) < 0)
			goto out;
		off += n;
	}
	/* The same descriptor number, now the file: writers go on. */
	if (n == 0 && dup3(file, fd, O_CLOEXEC) >= 0)
		rc = 0;
out:
	saved = errno;
	free(buf);
	(void)close(file);
	errno = saved;
	return rc;
}

int
spool_reset(int fd)
{
	if (ftruncate(fd, 0) < 0)
		return -1;
	return lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}
