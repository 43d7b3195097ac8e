/* SPDX-License-Identifier: MIT */
/* sockmailctl import: the messages of mbox files and of side files
 * (my_mailbox.txt.tail.*) appended to a mailbox, one delivery each, as
 * sockmail-smtpd appends them (sockmailctl(8), IMPORT). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "deliver.h"
#include "msg.h"
#include "spool.h"
#include "store.h"
#include "str.h"
#include "wbuf.h"

#define MAX_FILES	256
/* Senders longer than this in a From_ line are cut: only for a missing
 * From: field. */
#define SENDER_MAX	512

enum import_format {
	FORMAT_MBOX,		/* From_ separator lines */
	FORMAT_SIDE,		/* the mailbox format, maybe cut short */
};

struct import_file {
	const char		*name;
	FILE			*f;
	enum import_format	 format;
	size_t			 messages;	/* counted in the first pass */
};

/* One pass over a file: counting (w NULL) or delivering. */
struct import_pass {
	struct ctl		*c;
	const char		*login;		/* as spelled in userinfo.txt */
	struct wbuf		*w;		/* the spool's; NULL: count */
	int			 spool_fd;
	size_t			 messages;	/* ended so far */
	size_t			 delivered;
	bool			 in_message;
	bool			 in_headers;	/* before the first non-field */
	bool			 seen_received;
	char			 sender[SENDER_MAX + 1];
	time_t			 received;
};

static bool
has_prefix(const char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(p, prefix, n) == 0;
}

/* The date of a From_ line ("From sender Thu Nov 27 21:04:00 2026"), as
 * local time; now when it has none that reads. */
static time_t
from_line_time(const char *p, size_t len, char *sender, size_t size)
{
	static const char *const formats[] = {
		"%a %b %d %H:%M:%S %Y",		/* ctime(3), what MDAs write */
		"%a %b %d %H:%M:%S %z %Y",
		"%a %b %d %H:%M %Y",
		"%a, %d %b %Y %H:%M:%S %z",
	};
	char buf[256];
	const char *sp, *end;
	struct tm tm;
	size_t i, n;
	time_t t;

	p += 5;
	len -= 5;
	sp = memchr(p, ' ', len);
	n = sp != NULL ? (size_t)(sp - p) : len;
	(void)str_copy_n(sender, size, p, n < size ? n : size - 1);
	if (sp == NULL)
		return time(NULL);
	n = len - (size_t)(sp + 1 - p);
	while (n > 0 && (sp[1 + n - 1] == ' ' || sp[1 + n - 1] == '\t'))
		n--;
	if (str_copy_n(buf, sizeof(buf), sp + 1, n) < 0)
		return time(NULL);
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(buf, formats[i], &tm);
		if (end == NULL || *end != '\0')
			continue;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t != (time_t)-1)
			return t;
	}
	return time(NULL);
}

/* The Received: line sockmail stores, "Received: 2026-11-27 : 21 : 04"
 * (sockmail-mailbox(5)). Returns whether p holds one, with *t_out. */
static bool
stored_received(const char *p, size_t len, time_t *t_out)
{
	char buf[64];
	const char *end;
	struct tm tm;

	if (!has_prefix(p, len, "Received: ") ||
	    str_copy_n(buf, sizeof(buf), p + 10, len - 10) < 0)
		return false;
	memset(&tm, 0, sizeof(tm));
	end = strptime(buf, "%Y-%m-%d : %H : %M", &tm);
	if (end == NULL || *end != '\0')
		return false;
	tm.tm_isdst = -1;
	*t_out = mktime(&tm);
	return *t_out != (time_t)-1;
}

static void
begin_message(struct import_pass *ip)
{
	ip->in_message = true;
	ip->in_headers = true;
	ip->seen_received = false;
	ip->sender[0] = '\0';
	ip->received = time(NULL);
}

/* One content line of the message (len bytes, no line ending), as the
 * message has it: un-stuffed, unquoted. */
static void
message_line(struct import_pass *ip, const char *p, size_t len)
{
	if (ip->w == NULL)
		return;
	wbuf_put(ip->w, p, len);
	wbuf_put(ip->w, "\n", 1);
	/* A big message leaves memory for a file, as in smtpd. */
	if (ip->w->written > SPOOL_MEMORY_MAX && ip->w->error == 0 &&
	    wbuf_flush(ip->w) == 0 && spool_spill(ip->spool_fd) < 0)
		ip->w->error = errno;
}

/* The message is whole: deliver it. Returns 0, or -1 (said on stderr). */
static int
end_message(struct import_pass *ip, const char *file)
{
	struct msg_envelope env = {
		.from = ip->sender,
		.to = ip->login,
		.received = ip->received,
	};
	const char *logins[1] = { ip->login }, *failed;
	int rc = 0;

	ip->in_message = false;
	ip->messages++;
	if (ip->w == NULL)
		return 0;
	if (wbuf_flush(ip->w) < 0)
		return ctl_err("%s: message %zu: spooling: %s", file,
		    ip->messages, strerror(errno)), -1;
	if (deliver(ip->c->root_fd, ip->spool_fd, &env, logins, 1, 0,
	    &failed) != DELIVER_OK)
		rc = ctl_err("%s: message %zu: appending to the mailbox of %s: "
		    "%s", file, ip->messages, ip->login, strerror(errno));
	else
		ip->delivered++;
	if (spool_reset(ip->spool_fd) < 0 && rc == 0)
		rc = ctl_err("spool: %s", strerror(errno));
	wbuf_init(ip->w, ip->spool_fd);
	return rc == 0 ? 0 : -1;
}

/* An mbox: a line "From " at the start or after an empty line begins a
 * message; the empty line before it (or before the end) is the
 * separator's, not the message's; ">From ", ">>From "... lose one ">"
 * (mboxrd; in mboxo only ">From " is quoted, which this also undoes). */
static int
mbox_line(struct import_pass *ip, const char *p, size_t len,
    bool *blank_held, const char *file)
{
	size_t q;

	if (has_prefix(p, len, "From ") && (!ip->in_message || *blank_held)) {
		*blank_held = false;
		if (ip->in_message && end_message(ip, file) < 0)
			return -1;
		begin_message(ip);
		ip->received = from_line_time(p, len, ip->sender,
		    sizeof(ip->sender));
		return 0;
	}
	if (*blank_held) {
		message_line(ip, "", 0);
		*blank_held = false;
	}
	if (len == 0) {
		*blank_held = true;
		return 0;
	}
	for (q = 0; q < len && p[q] == '>'; q++)
		continue;
	if (q > 0 && has_prefix(p + q, len - q, "From ")) {
		p++;
		len--;
	}
	message_line(ip, p, len);
	return 0;
}

/* The mailbox format: messages end at "." lines; a leading "." of a
 * content line is un-stuffed; sockmail's own Received: line gives the
 * time back (the builder writes it again). */
static int
side_line(struct import_pass *ip, const char *p, size_t len, const char *file)
{
	time_t t;

	/* A "." right after another is an empty message: nothing to
	 * import. */
	if (len == 1 && p[0] == '.')
		return ip->in_message ? end_message(ip, file) : 0;
	if (!ip->in_message)
		begin_message(ip);
	if (ip->in_headers && !ip->seen_received &&
	    stored_received(p, len, &t)) {
		ip->seen_received = true;
		ip->received = t;
		return 0;
	}
	if (len == 0 || memchr(p, ':', len) == NULL)
		ip->in_headers = false;
	if (len > 0 && p[0] == '.') {
		p++;
		len--;
	}
	message_line(ip, p, len);
	return 0;
}

/* Run one pass over f. Returns 0, or -1 (said on stderr). */
static int
run_pass(struct import_pass *ip, struct import_file *file)
{
	char *line = NULL;
	size_t cap = 0, len;
	ssize_t n;
	bool blank_held = false;
	int rc = 0;

	ip->messages = 0;
	ip->in_message = false;
	rewind(file->f);
	while (rc == 0 && (n = getline(&line, &cap, file->f)) > 0) {
		len = (size_t)n;
		if (memchr(line, '\0', len) != NULL) {
			rc = ctl_err("%s: holds NUL bytes: not mail", file->name);
			break;
		}
		if (line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		rc = file->format == FORMAT_MBOX ?
		    mbox_line(ip, line, len, &blank_held, file->name) :
		    side_line(ip, line, len, file->name);
	}
	if (rc == 0 && ferror(file->f))
		rc = ctl_err("%s: %s", file->name, strerror(errno));
	/* What is left at the end is a message: the last of an mbox, or
	 * one a side file holds without its "." line. */
	if (rc == 0 && ip->in_message)
		rc = end_message(ip, file->name);
	free(line);
	return rc == 0 ? 0 : -1;
}

static int
open_file(struct import_file *file)
{
	char first[8];
	const char *base;
	struct stat st;
	size_t n;
	int fd;

	fd = open(file->name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return ctl_err("%s: %s", file->name, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		return ctl_err("%s: %s", file->name, S_ISREG(st.st_mode) ?
		    strerror(errno) : "not a regular file");
	}
	file->f = fdopen(fd, "r");
	if (file->f == NULL) {
		(void)close(fd);
		return ctl_err("%s: %s", file->name, strerror(errno));
	}
	n = fread(first, 1, 5, file->f);
	base = strrchr(file->name, '/');
	base = base != NULL ? base + 1 : file->name;
	if (n == 5 && memcmp(first, "From ", 5) == 0)
		file->format = FORMAT_MBOX;
	else if (strncmp(base, STORE_TAIL_PREFIX,
	    strlen(STORE_TAIL_PREFIX)) == 0)
		file->format = FORMAT_SIDE;
	else if (n == 0)
		return ctl_err("%s: empty: no message", file->name);
	else
		return ctl_err("%s: neither an mbox file (the first line is "
		    "no \"From \" line) nor a side file (%s*)", file->name,
		    STORE_TAIL_PREFIX);
	return CTL_OK;
}

/* New folders and mailboxes belong to the handlers' user: when root,
 * become that user for the appends, as a delivery would run. */
static int
become_handlers_user(struct ctl *c)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return CTL_OK;
	if (ctl_handlers_owner(c->root_fd, &uid, &gid) < 0)
		return errno == ENOENT ? CTL_OK : ctl_err("%s/%s: %s", c->root,
		    STORE_USERS_DIR, strerror(errno));
	if (uid == 0)
		return CTL_OK;
	if (setgroups(1, &gid) < 0 || setegid(gid) < 0 || seteuid(uid) < 0)
		return ctl_err("becoming the owner of %s/%s (uid %ld): %s",
		    c->root, STORE_USERS_DIR, (long)uid, strerror(errno));
	return CTL_OK;
}

int
ctl_import(struct ctl *c, int argc, char **argv)
{
	struct import_file files[MAX_FILES];
	struct import_pass ip = { .c = c, .spool_fd = -1 };
	struct ctl_userfile u;
	struct ctl_line l;
	char login[USERDB_LOGIN_MAX + 1];
	size_t nfiles, i, total = 0;
	int rc = CTL_OK;

	if (argc < 2)
		return ctl_usage("usage: sockmailctl [-d MAILROOT] import LOGIN "
		    "FILE...");
	if (argc - 1 > MAX_FILES)
		return ctl_usage("import: at most %d files at once", MAX_FILES);
	if (!userdb_login_valid(argv[0]))
		return ctl_err("invalid login \"%s\"", argv[0]);
	if (ctl_userfile_read(c, &u) < 0)
		return CTL_FAIL;
	if (ctl_userfile_find(&u, argv[0], &l))
		(void)str_copy(login, sizeof(login), l.entry.login);
	else
		rc = ctl_err("no such user: %s", argv[0]);
	ctl_userfile_close(&u);
	if (rc != CTL_OK)
		return rc;
	ip.login = login;
	nfiles = (size_t)argc - 1;
	for (i = 0; i < nfiles; i++)
		files[i] = (struct import_file){ .name = argv[i + 1] };
	/* First every file is read through: one that is no mail refuses
	 * the whole import before anything is appended. */
	for (i = 0; i < nfiles && rc == CTL_OK; i++) {
		rc = open_file(&files[i]);
		if (rc == CTL_OK && run_pass(&ip, &files[i]) < 0)
			rc = CTL_FAIL;
		else if (rc == CTL_OK && ip.messages == 0)
			rc = ctl_err("%s: no message in it", files[i].name);
		files[i].messages = ip.messages;
	}
	if (rc == CTL_OK)
		rc = become_handlers_user(c);
	if (rc == CTL_OK) {
		ip.w = malloc(sizeof(*ip.w));
		ip.spool_fd = spool_create();
		if (ip.w == NULL || ip.spool_fd < 0)
			rc = ctl_err("spool: %s", strerror(errno));
		else
			wbuf_init(ip.w, ip.spool_fd);
	}
	for (i = 0; i < nfiles && rc == CTL_OK; i++) {
		if (run_pass(&ip, &files[i]) < 0)
			rc = CTL_FAIL;
		total += ip.delivered;
		ip.delivered = 0;
	}
	if (ip.w != NULL)
		(void)printf("%zu message%s imported into the mailbox of %s\n",
		    total, total == 1 ? "" : "s", login);
	for (i = 0; i < nfiles; i++)
		if (files[i].f != NULL)
			(void)fclose(files[i].f);
	if (ip.spool_fd >= 0)
		(void)close(ip.spool_fd);
	free(ip.w);
	return rc;
}
