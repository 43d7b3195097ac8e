/* SPDX-License-Identifier: MIT */
/* sockmailctl: what it reads of the mailboxes, never writing. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "io.h"
#include "mailfmt.h"
#include "store.h"

#define SCAN_BLOCK	65536

int
ctl_handlers_owner(int root_fd, uid_t *uid_out, gid_t *gid_out)
{
	struct stat st;

	if (fstatat(root_fd, STORE_USERS_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	*uid_out = st.st_uid;
	*gid_out = st.st_gid;
	return 0;
}

struct count {
	size_t			n;
	unsigned long long	octets;
	uint64_t		end;
};

static void
count_one(void *arg, const struct mailfmt_msg *m)
{
	struct count *c = arg;

	c->n++;
	c->octets += m->size;
	c->end = m->end;
}

int
ctl_mailbox_count(int fd, size_t *count_out, unsigned long long *octets_out,
    unsigned long long *tail_out)
{
	struct mailfmt_scanner sc;
	struct count c = { 0 };
	unsigned char *buf;
	uint64_t pos = 0;
	ssize_t n;

	buf = malloc(SCAN_BLOCK);
	if (buf == NULL)
		return -1;
	mailfmt_scan_init(&sc, 0, count_one, &c);
	/* The file as it is now: a delivery may append while we read, and
	 * its record shows up whole or as a tail. */
	while ((n = io_read_some(fd, buf, SCAN_BLOCK, (off_t)pos)) > 0) {
		mailfmt_scan(&sc, buf, (size_t)n, pos);
		pos += (uint64_t)n;
	}
	free(buf);
	if (n < 0)
		return -1;
	(void)mailfmt_scan_end(&sc, pos);
	*count_out = c.n;
	*octets_out = c.octets;
	*tail_out = pos - c.end;
	return 0;
}
