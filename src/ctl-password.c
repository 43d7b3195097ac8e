/* SPDX-License-Identifier: MIT */
/* sockmailctl: a new password, read without echo and hashed with
 * yescrypt (crypt(5)). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#ifdef HAVE_CRYPT_H
#include <crypt.h>
#endif

#include "ctl.h"
#include "str.h"

#define CRYPT_PREFIX	"{CRYPT}"

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
}

/* Read one line from fd 0 into buf, byte by byte so nothing past the
 * line is consumed. The line ending (LF, CRLF) is left out. Returns its
 * length, or -1 with errno set (EOVERFLOW: too long; EINTR: a signal). */
static ssize_t
read_line(char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	char ch;

	for (;;) {
		n = read(0, &ch, 1);
		if (n < 0)
			return -1;
		if (n == 0) {
			if (len == 0) {
				errno = ENODATA;
				return -1;
			}
			break;
		}
		if (ch == '\n')
			break;
		if (len + 1 >= size) {
			errno = EOVERFLOW;
			return -1;
		}
		buf[len++] = ch;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Ask prompt on stderr and read a line with the terminal's echo off,
 * restoring it however the read ends (a signal too: SIGINT and friends
 * are caught for that while echo is off). */
static ssize_t
ask_no_echo(const char *prompt, char *buf, size_t size)
{
	struct sigaction sa, old_int, old_term, old_hup;
	struct termios t, saved;
	ssize_t n;
	int err;

	if (tcgetattr(0, &saved) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: read returns */
	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, &old_int);
	(void)sigaction(SIGTERM, &sa, &old_term);
	(void)sigaction(SIGHUP, &sa, &old_hup);
	(void)fputs(prompt, stderr);
	(void)fflush(stderr);
	t = saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ECHONL;
	if (tcsetattr(0, TCSANOW, &t) < 0)
		n = -1;
	else
		n = interrupted ? (errno = EINTR, -1) : read_line(buf, size);
	err = errno;
	(void)tcsetattr(0, TCSANOW, &saved);
	(void)sigaction(SIGINT, &old_int, NULL);
	(void)sigaction(SIGTERM, &old_term, NULL);
	(void)sigaction(SIGHUP, &old_hup, NULL);
	if (interrupted) {
		(void)fputc('\n', stderr);
		str_wipe(buf, size);
		(void)raise(interrupted);
		err = EINTR;
	}
	errno = err;
	return n;
}

static int
read_error(void)
{
	if (errno == ENODATA)
		return ctl_err("no password given");
	if (errno == EOVERFLOW)
		return ctl_err("password too long (at most %d bytes)",
		    CTL_PASSWORD_MAX);
	return ctl_err("reading the password: %s", strerror(errno));
}

int
ctl_password_read(char *buf, size_t size)
{
	char *again;
	ssize_t n, m;
	int rc = -1;

	if (!isatty(0)) {
		n = read_line(buf, size);
		if (n < 0) {
			(void)read_error();
			return -1;
		}
	} else {
		again = calloc(1, size);
		if (again == NULL) {
			(void)ctl_err("%s", strerror(errno));
			return -1;
		}
		n = ask_no_echo("New password: ", buf, size);
		if (n < 0)
			(void)read_error();
		else if ((m = ask_no_echo("Retype new password: ", again,
		    size)) < 0)
			(void)read_error();
		else if (m != n || memcmp(buf, again, (size_t)n) != 0)
			(void)ctl_err("the passwords do not match");
		else
			rc = 0;
		str_wipe(again, size);
		free(again);
		if (rc < 0)
			return -1;
	}
	if (n == 0) {
		(void)ctl_err("empty password refused");
		return -1;
	}
	if (memchr(buf, '\0', (size_t)n) != NULL) {
		(void)ctl_err("a password may not hold a NUL byte");
		return -1;
	}
	return 0;
}

int
ctl_password_hash(const char *password, char *out, size_t size)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	const char *hash;
	int rc = -1, n;

	/* count 0: libxcrypt's default cost; NULL: its own random bytes. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
		(void)ctl_err("making a yescrypt salt: %s", strerror(errno));
		return -1;
	}
	data = calloc(1, sizeof(*data));
	if (data == NULL) {
		(void)ctl_err("%s", strerror(errno));
		return -1;
	}
#ifdef HAVE_CRYPT_RN
	hash = crypt_rn(password, salt, data, (int)sizeof(*data));
#else
	hash = crypt_r(password, salt, data);
#endif
	if (hash == NULL || hash[0] == '*')
		(void)ctl_err("yescrypt: %s", hash == NULL ? strerror(errno) :
		    "refused by libcrypt");
	else {
		n = snprintf(out, size, "%s%s", CRYPT_PREFIX, hash);
		if (n < 0 || (size_t)n >= size)
			(void)ctl_err("the hash is too long");
		else
			rc = 0;
	}
	str_wipe(data, sizeof(*data));
	free(data);
	return rc;
}
