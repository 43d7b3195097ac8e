/* SPDX-License-Identifier: MIT */
/* The scratch mail root the fuzz harnesses work in. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz-root.h"
#include "store.h"
#include "tls.h"

#define MAILBOX	"From: a@x\nTo: bob@x\nSubject: one\nReceived: 2026-11-27 : 21 : 04\n" \
		"\nbody\n..dot\n.\nFrom: b@x\nTo: bob@x\nSubject: two\n" \
		"Received: 2026-11-27 : 21 : 05\nno empty line\n.\n"

/* What the session harnesses' mailbox may start as: the one above, and
 * what other programs leave (sockmail-mailbox(5)): its CRLF form, an mbox,
 * text with no "." line, a killed delivery's room, NULs then text, binary
 * bytes, a last "." without its LF. */
#define NO_DOT		"From: x@y\nTo: bob@x\nno dot line at all\n"
#define KILLED		"From: k@x\nTo\0\0\0\0\0\0\0\0"
#define NUL_TEXT	"From: n@x\n\0\0\0\0text after NULs\n"
#define BINARY		"\001\002junk\000\000\377\376 end\177"
#define MBOX		"From sender@example.com Thu Nov 27 21:04:00 2026\n" \
		"From: a@x\nSubject: s\n\nbody\n>From here\n\n"
#define CRLF		"From: a@x\r\nTo: bob@x\r\nSubject: one\r\n" \
		"Received: 2026-11-27 : 21 : 04\r\n\r\nbody\r\n..dot\r\n.\r\n" \
		"From: b@x\r\nTo: bob@x\r\nSubject: two\r\n" \
		"Received: 2026-11-27 : 21 : 05\r\nno empty line\r\n.\r\n"

static const struct variant {
	const char	*data;
	size_t		 len;
} variants[FUZZ_MAILBOX_VARIANTS] = {
	{ MAILBOX, sizeof(MAILBOX) - 1 },
	{ CRLF, sizeof(CRLF) - 1 },
	{ MBOX, sizeof(MBOX) - 1 },
	{ MAILBOX NO_DOT, sizeof(MAILBOX NO_DOT) - 1 },
	{ MAILBOX KILLED, sizeof(MAILBOX KILLED) - 1 },
	{ MAILBOX NUL_TEXT, sizeof(MAILBOX NUL_TEXT) - 1 },
	{ MAILBOX BINARY, sizeof(MAILBOX BINARY) - 1 },
	{ MAILBOX, sizeof(MAILBOX) - 2 },	/* the last LF left out */
};

/* alice's password is alicepw. */
#define USERINFO "bob bobpass\nalice {CRYPT}$6$saltsalt$fxtrgNr0//Ip0B6ss2a/" \
		"TCLvMdsw5Nx6dknvHShinRxCFbPDFOF1FjlGij8xWCb0jfJjN/ydBgMw3Go6NrTo21\n"

static int root_fd = -1;

static void
put(const char *path, const void *data, size_t len)
{
	int fd = openat(root_fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len) ||
	    close(fd) < 0)
		abort();
}

int
fuzz_root(void)
{
	char dir[] = "/tmp/sockmail-fuzz-XXXXXX";

	if (root_fd >= 0)
		return root_fd;
	if (mkdtemp(dir) == NULL)
		abort();
	root_fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (root_fd < 0 || mkdirat(root_fd, "USERS", 0700) < 0 ||
	    mkdirat(root_fd, "USERS/bob", 0700) < 0)
		abort();
	/* Logs go to stderr, which run.sh closes for the target
	 * (-close_fd_mask=2) so that they do not drown libFuzzer's. */
	(void)setenv("SOCKMAIL_LOG", "stderr", 1);
	put("userinfo.txt", USERINFO, sizeof(USERINFO) - 1);
	fuzz_root_reset();
	return root_fd;
}

void
fuzz_root_reset(void)
{
	/* alice's mailbox (a delivery makes it) goes; bob's is put back. */
	if (unlinkat(root_fd, "USERS/alice/" STORE_FILE, 0) < 0 &&
	    errno != ENOENT)
		abort();
	put("USERS/bob/" STORE_FILE, MAILBOX, sizeof(MAILBOX) - 1);
}

void
fuzz_put_variant(unsigned v)
{
	const struct variant *m = &variants[v % FUZZ_MAILBOX_VARIANTS];

	fuzz_put_mailbox(m->data, m->len);
}

void
fuzz_put_mailbox(const void *data, size_t len)
{
	(void)fuzz_root();
	put("USERS/bob/my_mailbox.txt", data, len);
}

void
fuzz_put_userinfo(const void *data, size_t len)
{
	(void)fuzz_root();
	put("userinfo.txt", data, len);
}

static struct transport *
pretend_tls(void *arg, int timeout_ms)
{
	(void)timeout_ms;
	return arg;
}

void
fuzz_tls_hook(struct tls_hook *hook, struct transport *t)
{
	hook->prepare = NULL;
	hook->start = pretend_tls;
	hook->arg = t;
}
