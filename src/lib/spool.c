/* SPDX-License-Identifier: MIT */
/* Anonymous spool files for messages in transit. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "spool.h"

int
spool_create(void)
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
spool_reset(int fd)
{
	if (ftruncate(fd, 0) < 0)
		return -1;
	return lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}
