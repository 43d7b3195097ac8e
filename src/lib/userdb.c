/* SPDX-License-Identifier: MIT */
/* userinfo.txt lookup and password checking. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_CRYPT_H
#include <crypt.h>
#endif

#include "line.h"
#include "log.h"
#include "str.h"
#include "transport.h"
#include "userdb.h"

#define CRYPT_PREFIX	"{CRYPT}"
#define PLAIN_PREFIX	"{PLAIN}"

static bool
is_login_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool
userdb_login_valid(const char *s)
{
	size_t i;

	if (s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= USERDB_LOGIN_MAX || !is_login_char((unsigned char)s[i]))
			return false;
	return i > 0;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

enum userdb_line
userdb_parse_line(const char *line, size_t len, struct userdb_entry *entry_out)
{
	size_t i = 0, login_start, login_len, pw_start, pw_len;

	while (i < len && is_blank(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return USERDB_LINE_SKIP;
	login_start = i;
	while (i < len && !is_blank(line[i]))
		i++;
	login_len = i - login_start;
	while (i < len && is_blank(line[i]))
		i++;
	pw_start = i;
	while (i < len && !is_blank(line[i]))
		i++;
	pw_len = i - pw_start;
	while (i < len && is_blank(line[i]))
		i++;
	if (pw_len == 0 || i != len)
		return USERDB_LINE_BAD;		/* one field, or three */
	if (memchr(line, '\0', len) != NULL)
		return USERDB_LINE_BAD;
	if (str_copy_n(entry_out->login, sizeof(entry_out->login),
	    line + login_start, login_len) < 0 ||
	    !userdb_login_valid(entry_out->login))
		return USERDB_LINE_BAD;
	if (str_copy_n(entry_out->password, sizeof(entry_out->password),
	    line + pw_start, pw_len) < 0)
		return USERDB_LINE_BAD;
	/* "{PLAIN}" alone would let an empty password in. */
	if (str_ieq(entry_out->password, PLAIN_PREFIX) ||
	    str_ieq(entry_out->password, CRYPT_PREFIX))
		return USERDB_LINE_BAD;
	return USERDB_LINE_USER;
}

int
userdb_find(int root_fd, const char *login, struct userdb_entry *entry_out)
{
	struct fd_transport ft;
	struct line_reader r;
	char line[USERDB_LINE_MAX + 1];
	enum line_status st;
	unsigned lineno = 0;
	size_t len;
	bool crlf;
	struct stat sb;
	int fd, err = 0, found = 0;

	/* O_NONBLOCK: a FIFO put there must not hang the session in open;
	 * anything but a regular file is a local error. */
	fd = openat(root_fd, USERDB_FILE, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0)
		err = errno;
	else if (!S_ISREG(sb.st_mode))
		err = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
	if (err != 0) {
		(void)close(fd);
		errno = err;
		return -1;
	}
	fd_transport_init(&ft, fd, -1);
	line_reader_init(&r, &ft.base, 0);
	for (;;) {
		st = line_read(&r, line, sizeof(line), &len, &crlf);
		if (st == LINE_EOF)
			break;
		lineno++;
		if (st == LINE_TOO_LONG) {
			log_event(LOG_WARNING, "userinfo",
			    "line %u is too long, skipped", lineno);
			continue;
		}
		if (st != LINE_OK) {
			err = errno != 0 ? errno : EIO;
			break;
		}
		switch (userdb_parse_line(line, len, entry_out)) {
		case USERDB_LINE_SKIP:
			break;
		case USERDB_LINE_BAD:
			/* Never log the line: it may hold a password. */
			log_event(LOG_WARNING, "userinfo",
			    "line %u is malformed, skipped", lineno);
			break;
		case USERDB_LINE_USER:
			if (str_ieq(entry_out->login, login)) {
				found = 1;
				goto done;
			}
			break;
		}
	}
done:
	/* Both the line and the read-ahead buffer held passwords. */
	str_wipe(line, sizeof(line));
	line_reader_discard(&r);
	(void)close(fd);
	if (!found)
		userdb_entry_free(entry_out);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return found;
}

/*
 * libcrypt is loaded with dlopen at the first {CRYPT} password, not
 * linked: most sessions never check one (every SMTP session, and POP3
 * logins against plain passwords), and mapping and relocating it cost
 * every process start. The soname comes from configure.
 */
#if defined(HAVE_CRYPT_RN)
typedef __typeof__(crypt_rn) crypt_fn;
#define CRYPT_SYMBOL	"crypt_rn"
#else
typedef __typeof__(crypt_r) crypt_fn;
#define CRYPT_SYMBOL	"crypt_r"
#endif

static crypt_fn *
crypt_load(void)
{
	static crypt_fn *fn;
	static bool tried;
	const char *why;
	void *lib;

	if (tried)
		return fn;
	/* Never closed: the process ends with its connection. */
	tried = true;
	if ((lib = dlopen(LIBCRYPT_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL ||
	    (fn = (crypt_fn *)dlsym(lib, CRYPT_SYMBOL)) == NULL) {
		why = dlerror();
		log_event(LOG_ERR, "fatal", "cannot load libcrypt: %s",
		    why != NULL ? why : LIBCRYPT_SONAME);
	}
	return fn;
}

static bool
crypt_matches(const char *hash, const char *password)
{
	struct crypt_data *data;
	crypt_fn *hash_fn;
	const char *out;
	bool ok;

	if ((hash_fn = crypt_load()) == NULL)
		return false;
	/* struct crypt_data is tens of KiB: not for the stack. */
	data = calloc(1, sizeof(*data));
	if (data == NULL)
		return false;
#if defined(HAVE_CRYPT_RN)
	out = hash_fn(password, hash, data, (int)sizeof(*data));
#else
	out = hash_fn(password, hash, data);
#endif
	/* A failed hash starts with '*' and can never equal a stored one. */
	ok = out != NULL && out[0] != '*' &&
	    str_const_eq(hash, strlen(hash), out, strlen(out));
	str_wipe(data, sizeof(*data));
	free(data);
	return ok;
}

bool
userdb_password_ok(const struct userdb_entry *entry, const char *password)
{
	const char *stored = entry->password;

	if (str_iprefix(stored, CRYPT_PREFIX))
		return crypt_matches(stored + strlen(CRYPT_PREFIX), password);
	if (str_iprefix(stored, PLAIN_PREFIX))
		stored += strlen(PLAIN_PREFIX);
	return str_const_eq(stored, strlen(stored), password, strlen(password));
}

void
userdb_entry_free(struct userdb_entry *e)
{
	str_wipe(e->password, sizeof(e->password));
}
