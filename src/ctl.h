/* SPDX-License-Identifier: MIT */
/* sockmailctl's parts (sockmailctl(8)): what its commands share. */
#ifndef SOCKMAIL_CTL_H
#define SOCKMAIL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "userdb.h"

/* Exit statuses (sockmailctl(8), EXIT STATUS). */
#define CTL_OK		0
#define CTL_FAIL	1
#define CTL_USAGE	2

#define CTL_PASSWORD_MAX	USERDB_PASSWORD_MAX

struct ctl {
	const char	*root;		/* the mail root, as given */
	int		 root_fd;
};

/* One line on stderr, "sockmailctl: ...". Returns CTL_FAIL. */
int	ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: one line on stderr. Returns CTL_USAGE. */
int	ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The commands; argv[0] is the command's first word after the
 * command name(s). Each returns an exit status. */
int	ctl_user_add(struct ctl *c, int argc, char **argv);
int	ctl_user_passwd(struct ctl *c, int argc, char **argv);
int	ctl_user_del(struct ctl *c, int argc, char **argv);
int	ctl_user_list(struct ctl *c, int argc, char **argv);
int	ctl_check(struct ctl *c, int argc, char **argv);
int	ctl_import(struct ctl *c, int argc, char **argv);

/* ---- ctl-password.c ---- */

/* Read a new password: from a terminal on stdin, asked twice without
 * echo; else one line of stdin. Empty, NUL-bearing or mismatched
 * passwords are refused with a line on stderr. Returns 0 with buf
 * (size bytes) holding it, or -1. The caller wipes buf. */
int	ctl_password_read(char *buf, size_t size);

/* Hash password with yescrypt into out as "{CRYPT}$y$...". Returns 0, or
 * -1 with a line on stderr. */
int	ctl_password_hash(const char *password, char *out, size_t size);

/* ---- ctl-userfile.c: userinfo.txt, changed whole under a lock ---- */

/* userinfo.txt read into memory: its lines as they are, endings kept. */
struct ctl_userfile {
	int	 fd;		/* the locked file; -1 when closed */
	char	*data;
	size_t	 len;
	uid_t	 uid;		/* the file's owner, group and mode, */
	gid_t	 gid;		/* which the new file keeps */
	mode_t	 mode;
};

/* One line of data: [start, start + len) holds it without its ending,
 * [start, end) with it. */
struct ctl_line {
	size_t		start, len, end;
	enum userdb_line kind;
	struct userdb_entry entry;	/* for USERDB_LINE_USER */
};

/* Open userinfo.txt under c (creating it, 0640, when missing), take an
 * exclusive fcntl lock on it, make sure the name still leads to the
 * locked file (a previous holder may have renamed a new one over it),
 * and read it. Returns 0, or -1 with a line on stderr. */
int	ctl_userfile_lock(struct ctl *c, struct ctl_userfile *u);

/* Read userinfo.txt without a lock (list, check). Returns 0, -1 with a
 * line on stderr. */
int	ctl_userfile_read(struct ctl *c, struct ctl_userfile *u);

/* The line starting at *pos, parsed; advances *pos. Returns false at the
 * end. The entry holds a password: wipe it (userdb_entry_free). */
bool	ctl_userfile_next(const struct ctl_userfile *u, size_t *pos,
	    struct ctl_line *l);

/* The first user line for login (ASCII case-insensitively) into *l.
 * Returns whether there is one. */
bool	ctl_userfile_find(const struct ctl_userfile *u, const char *login,
	    struct ctl_line *l);

/* Replace the file with the pieces given (in order), written to a new
 * file beside it with the old one's owner, group and mode, fsynced and
 * renamed over it, the folder fsynced. Returns 0, or -1 with a line on
 * stderr. */
struct ctl_piece {
	const char	*p;
	size_t		 len;
};
int	ctl_userfile_replace(struct ctl *c, struct ctl_userfile *u,
	    const struct ctl_piece *pieces, size_t n);

/* Let go of the lock and wipe the data. */
void	ctl_userfile_close(struct ctl_userfile *u);

/* ---- ctl-mailbox.c ---- */

/* The handlers' user: the owner of USERS/ (sockmailctl(8)). Returns 0,
 * or -1 with errno set. */
int	ctl_handlers_owner(int root_fd, uid_t *uid_out, gid_t *gid_out);

/* Count the whole messages of the mailbox file fd (read-only, no lock)
 * and their size as POP3 sends them; *tail_out is the number of bytes
 * after the last "." line. Returns 0, or -1 with errno set. */
int	ctl_mailbox_count(int fd, size_t *count_out, unsigned long long *octets_out,
	    unsigned long long *tail_out);

#endif
