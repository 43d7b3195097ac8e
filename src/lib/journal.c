/* SPDX-License-Identifier: MIT */
/* The journal through libsystemd, loaded with dlopen at the first entry
 * rather than linked. On Debian 12 linking libsystemd.so.0 maps it and
 * libgcrypt, liblzma, libzstd, liblz4 and libcap at every exec, whether or
 * not the process ever logs to the journal; loaded here, only a handler
 * whose stderr is the journal (a systemd unit) pays for them, and a
 * handler under xinetd, the demo or a piped transcript does not. The
 * figures are in bench/README.md, "libsystemd". */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "journal.h"

/* The soname the headers belong to: libsystemd's ABI has been 0 since it
 * was split out (systemd 209). */
#define JOURNAL_LIBSYSTEMD	"libsystemd.so.0"

bool
journal_is_stderr(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	int end = 0;

	if (stream == NULL ||
	    sscanf(stream, "%ju:%ju%n", &dev, &ino, &end) != 2 ||
	    stream[end] != '\0' || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

int
journal_sendv(const struct iovec *fields, size_t n)
{
	static __typeof__(sd_journal_sendv) *sendv;
	static bool tried;
	void *lib;
	int r;

	if (n == 0 || n > JOURNAL_FIELDS_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (!tried) {
		/* Never closed: the process ends with its connection. */
		tried = true;
		if ((lib = dlopen(JOURNAL_LIBSYSTEMD, RTLD_NOW | RTLD_LOCAL)) != NULL)
			sendv = (__typeof__(sendv))dlsym(lib, "sd_journal_sendv");
	}
	if (sendv == NULL) {
		errno = ELIBACC;
		return -1;
	}
	if ((r = sendv(fields, (int)n)) < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}
