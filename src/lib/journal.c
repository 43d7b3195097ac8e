/* SPDX-License-Identifier: MIT */
/* journald's native protocol: one datagram holds one entry, its fields one
 * after another, each either "KEY=value\n" or, for a value that holds a
 * newline, "KEY\n", the value's size as a little-endian 64-bit number, the
 * value and "\n". Entries too big for a datagram would go in a memfd; ours
 * are a few KiB at most, so such an entry fails with EMSGSIZE instead. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "journal.h"

static struct sockaddr_un journal_addr = {
	.sun_family = AF_UNIX,
	.sun_path = JOURNAL_SOCKET,
};
static int journal_fd = -1;

int
journal_open_path(const char *path)
{
	size_t len = strlen(path);

	if (len >= sizeof(journal_addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(journal_addr.sun_path, path, len + 1);
	return 0;
}

bool
journal_available(void)
{
	return access(journal_addr.sun_path, W_OK) == 0;
}

int
journal_sendv(const struct iovec *fields, size_t n)
{
	static char nl[] = "\n";
	struct iovec iov[5 * JOURNAL_FIELDS_MAX];
	unsigned char sizes[JOURNAL_FIELDS_MAX][8];
	struct msghdr mh;
	const char *key, *eq;
	size_t i, k = 0, klen, vlen;
	uint64_t size;
	int b;

	if (n > JOURNAL_FIELDS_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		key = fields[i].iov_base;
		if ((eq = memchr(key, '=', fields[i].iov_len)) == NULL) {
			errno = EINVAL;
			return -1;
		}
		klen = (size_t)(eq - key);
		vlen = fields[i].iov_len - klen - 1;
		if (memchr(eq + 1, '\n', vlen) == NULL) {
			iov[k++] = fields[i];
			iov[k++] = (struct iovec){ nl, 1 };
			continue;
		}
		/* A newline would end the field early: the binary form. */
		for (size = vlen, b = 0; b < 8; b++, size >>= 8)
			sizes[i][b] = (unsigned char)size;	/* little endian */
		iov[k++] = (struct iovec){ (void *)key, klen };
		iov[k++] = (struct iovec){ nl, 1 };
		iov[k++] = (struct iovec){ sizes[i], sizeof(sizes[i]) };
		iov[k++] = (struct iovec){ (void *)(eq + 1), vlen };
		iov[k++] = (struct iovec){ nl, 1 };
	}

	/* Opened once, unconnected, so that a journald restarted meanwhile
	 * still gets the next entry. */
	if (journal_fd < 0 &&
	    (journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &journal_addr;
	mh.msg_namelen = sizeof(journal_addr);
	mh.msg_iov = iov;
	mh.msg_iovlen = k;
	/* A journald that lags behind must not stall the session: EAGAIN,
	 * and the caller logs the line elsewhere. */
	for (;;) {
		if (sendmsg(journal_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}
