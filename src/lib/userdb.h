/* SPDX-License-Identifier: MIT */
/* userinfo.txt: one user a line, LOGIN, blanks, PASSWORD
 * (sockmail-userinfo(5)). */
#ifndef SOCKMAIL_USERDB_H
#define SOCKMAIL_USERDB_H

#include <stdbool.h>
#include <stddef.h>

#define USERDB_FILE		"userinfo.txt"
#define USERDB_LOGIN_MAX	64
#define USERDB_PASSWORD_MAX	512
#define USERDB_LINE_MAX		1024

struct userdb_entry {
	char	login[USERDB_LOGIN_MAX + 1];		/* spelled as in the file */
	char	password[USERDB_PASSWORD_MAX + 1];	/* plain, or {CRYPT}hash */
};

enum userdb_line {
	USERDB_LINE_USER,	/* *entry_out is filled in */
	USERDB_LINE_SKIP,	/* blank or comment */
	USERDB_LINE_BAD,	/* malformed: skip it and say so */
};

/* Whether s is a valid login: 1-64 of A-Z a-z 0-9 . _ -, not starting with
 * . or -. Only such names ever become folder names. */
bool	userdb_login_valid(const char *s);

/* Classify one line of userinfo.txt (len bytes, no line ending). */
enum userdb_line userdb_parse_line(const char *line, size_t len,
	    struct userdb_entry *entry_out);

/* Look login up (ASCII case-insensitively) in userinfo.txt under the mail
 * root root_fd, reading the file afresh. The first matching line wins;
 * malformed lines are logged and skipped. Returns 1 with *entry_out filled,
 * 0 when there is no such user, or -1 with errno set when the file cannot
 * be read (a missing userinfo.txt is a local fault, not "no such user"). */
int	userdb_find(int root_fd, const char *login,
	    struct userdb_entry *entry_out);

/* Whether password matches the entry: plain text, {PLAIN}text or
 * {CRYPT}hash. Takes the same time wherever the two differ. */
bool	userdb_password_ok(const struct userdb_entry *entry,
	    const char *password);

/* Wipe the password out of e. */
void	userdb_entry_free(struct userdb_entry *e);

#endif
