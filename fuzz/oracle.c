/* SPDX-License-Identifier: MIT */
/* The fuzzers' oracle for "never lose mail" (oracle.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz-root.h"
#include "oracle.h"
#include "store.h"

const char *const oracle_smtp_logins[2] = { "bob", "alice" };

void
oracle_fail(const char *login, const char *what)
{
	(void)fprintf(stdout, "oracle: mailbox of %s: %s\n", login, what);
	(void)fflush(stdout);
	abort();
}

size_t
oracle_whole(const uint8_t *d, size_t len, bool *needs_lf, size_t *ends,
    size_t *n)
{
	size_t i, whole = 0, end;

	*needs_lf = false;
	if (n != NULL)
		*n = 0;
	for (i = 0; i < len; i++) {
		if (d[i] != '.' || (i > 0 && d[i - 1] != '\n'))
			continue;
		if (i + 1 < len && d[i + 1] == '\n')
			end = i + 2;
		else if (i + 2 < len && d[i + 1] == '\r' && d[i + 2] == '\n')
			end = i + 3;
		else if (i + 1 == len || (i + 2 == len && d[i + 1] == '\r')) {
			*needs_lf = true;
			end = len;
		} else
			continue;
		whole = end;
		if (n != NULL)
			ends[(*n)++] = end;
	}
	return whole;
}

bool
oracle_killed(const uint8_t *t, size_t len)
{
	static const char start[] = "From: ";
	size_t i, first_nul = len;

	for (i = 0; i < len; i++)
		if (t[i] == '\0') {
			first_nul = i;
			break;
		}
	if (first_nul == len)
		return false;
	for (i = first_nul; i < len; i++)
		if (t[i] != '\0')
			return false;
	i = first_nul < sizeof(start) - 1 ? first_nul : sizeof(start) - 1;
	return memcmp(t, start, i) == 0;
}

static int
folder(const char *login)
{
	char path[64];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", STORE_USERS_DIR, login);
	fd = openat(fuzz_root(), path, O_RDONLY | O_DIRECTORY);
	if (fd < 0 && errno != ENOENT)
		abort();
	return fd;
}

/* A whole file of a folder, malloc'd (NULL: there is none). */
static uint8_t *
slurp(int dir_fd, const char *name, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd;

	*len = 0;
	if (dir_fd < 0)
		return NULL;
	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return NULL;
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    (p = malloc((size_t)st.st_size + 1)) == NULL ||
	    pread(fd, p, (size_t)st.st_size, 0) != st.st_size)
		abort();
	(void)close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* Room for the ends of the messages of a file of len bytes. */
static size_t *
ends_for(size_t len)
{
	size_t *ends = calloc(len / 2 + 1, sizeof(*ends));

	if (ends == NULL)
		abort();
	return ends;
}

void
oracle_before(struct oracle_box *b, const char *login)
{
	b->login = login;
	b->data = oracle_read_mailbox(login, &b->len);
	b->ends = ends_for(b->len);
	b->whole = oracle_whole(b->data, b->len, &b->needs_lf, b->ends,
	    &b->n);
	b->killed = b->whole < b->len &&
	    oracle_killed(b->data + b->whole, b->len - b->whole);
}

/* Whether message i of a (a_start, a_end) is message j of b byte for
 * byte; the last of b may have gained the LF it lacked. */
static bool
same_message(const struct oracle_box *b, size_t j, const uint8_t *a,
    size_t a_start, size_t a_end)
{
	size_t start = j == 0 ? 0 : b->ends[j - 1], len = b->ends[j] - start;

	if (a_end - a_start == len)
		return memcmp(a + a_start, b->data + start, len) == 0;
	return j == b->n - 1 && b->needs_lf && a_end - a_start == len + 1 &&
	    memcmp(a + a_start, b->data + start, len) == 0 &&
	    a[a_end - 1] == '\n';
}

/* Check the side files of the folder against the tail of before, and
 * remove them. Returns how many hold it. */
static size_t
side_files(const struct oracle_box *b, int dir_fd, const uint8_t *tail,
    size_t tail_len)
{
	struct dirent *e;
	size_t found = 0, len;
	uint8_t *got;
	DIR *dir;
	int fd;

	if (dir_fd < 0)
		return 0;
	if ((fd = dup(dir_fd)) < 0 || (dir = fdopendir(fd)) == NULL)
		abort();
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, STORE_TAIL_PREFIX,
		    sizeof(STORE_TAIL_PREFIX) - 1) != 0)
			continue;
		got = slurp(dir_fd, e->d_name, &len);
		if (len != tail_len || (len > 0 && memcmp(got, tail, len) != 0))
			oracle_fail(b->login, "a side file that is not the tail "
			    "the mailbox had");
		free(got);
		found++;
		if (unlinkat(dir_fd, e->d_name, 0) < 0)
			abort();
	}
	(void)closedir(dir);
	return found;
}

uint8_t *
oracle_read_mailbox(const char *login, size_t *len)
{
	int dir_fd = folder(login);
	uint8_t *p = slurp(dir_fd, STORE_FILE, len);

	if (dir_fd >= 0)
		(void)close(dir_fd);
	return p;
}

size_t
oracle_after(struct oracle_box *b, const bool *deleted, size_t added)
{
	size_t *ends, n, len, i, j, kept = 0, sides, rest;
	const uint8_t *tail = b->data != NULL ? b->data + b->whole : NULL;
	size_t tail_len = b->len - b->whole;
	bool needs_lf;
	uint8_t *a;
	int dir_fd = folder(b->login);

	a = slurp(dir_fd, STORE_FILE, &len);
	ends = ends_for(len);
	(void)oracle_whole(a, len, &needs_lf, ends, &n);
	for (j = 0; j < b->n; j++)
		if (deleted == NULL || !deleted[j])
			kept++;
	if (n != kept + added) {
		char what[128];

		(void)snprintf(what, sizeof(what), "%zu messages, where %zu "
		    "were kept and %zu added", n, kept, added);
		oracle_fail(b->login, what);
	}
	/* The kept messages first, in order, byte for byte. */
	for (i = 0, j = 0; j < b->n; j++) {
		if (deleted != NULL && deleted[j])
			continue;
		if (!same_message(b, j, a, i == 0 ? 0 : ends[i - 1], ends[i]))
			oracle_fail(b->login, "a message kept is not what it was");
		i++;
	}
	/* The tail: in place, with nothing after it and no copy aside; or
	 * whole in one side file; a killed append's room may be cut. */
	sides = side_files(b, dir_fd, tail, tail_len);
	rest = len - (n > 0 ? ends[n - 1] : 0);
	if (tail_len > 0 && n == kept && rest == tail_len &&
	    memcmp(a + len - tail_len, tail, tail_len) == 0) {
		if (sides != 0)
			oracle_fail(b->login, "the tail both in place and aside");
	} else if (rest != 0)
		oracle_fail(b->login, "bytes after the last message");
	else if (tail_len > 0 && sides != 1 && !(b->killed && sides == 0))
		oracle_fail(b->login, "its tail neither in place nor in a side file");
	else if (tail_len == 0 && sides != 0)
		oracle_fail(b->login, "a side file, though it had no tail");
	free(a);
	free(ends);
	oracle_forget(b);
	if (dir_fd >= 0)
		(void)close(dir_fd);
	return sides;
}

void
oracle_forget(struct oracle_box *b)
{
	free(b->data);
	free(b->ends);
	b->data = NULL;
	b->ends = NULL;
}

/* The next line of out (CRLF-ended) from *pos: its length, or -1. */
static ssize_t
next_line(const char *out, size_t len, size_t *pos, const char **line)
{
	const char *p = out + *pos, *crlf;

	if (*pos >= len)
		return -1;
	crlf = memmem(p, len - *pos, "\r\n", 2);
	if (crlf == NULL)
		return -1;
	*line = p;
	*pos += (size_t)(crlf - p) + 2;
	return crlf - p;
}

/* Whether line (n bytes) is "250 ", an enhanced code or not, then text
 * starting with start and ending with end; *mid: what is between. */
static bool
reply_250(const char *line, size_t n, const char *start, const char *end,
    const char **mid, size_t *mid_len)
{
	size_t s = strlen(start), e = strlen(end), skip = 4;

	if (n < 4 || memcmp(line, "250 ", 4) != 0)
		return false;
	if (n > 10 && line[4] == '2' && line[5] == '.' && line[7] == '.' &&
	    line[9] == ' ')
		skip = 10;
	if (n < skip + s + e || memcmp(line + skip, start, s) != 0 ||
	    memcmp(line + n - e, end, e) != 0)
		return false;
	*mid = line + skip + s;
	*mid_len = n - skip - s - e;
	return true;
}

bool
oracle_read_smtp(const char *out, size_t len, size_t out_size,
    struct oracle_smtp *o)
{
	bool rcpt[2] = { false, false };
	const char *line, *mid;
	size_t pos = 0, mid_len, k;
	ssize_t n;

	memset(o, 0, sizeof(*o));
	if (len > out_size)
		return false;
	while ((n = next_line(out, len, &pos, &line)) >= 0) {
		if (reply_250(line, (size_t)n, "OK Message accepted for "
		    "delivery", "", &mid, &mid_len) && mid_len == 0) {
			for (k = 0; k < 2; k++)
				o->copies[k] += rcpt[k];
			rcpt[0] = rcpt[1] = false;
		} else if (reply_250(line, (size_t)n, "<", ">... Sender ok",
		    &mid, &mid_len))
			rcpt[0] = rcpt[1] = false;
		else if (reply_250(line, (size_t)n, "", "... Recipient ok",
		    &mid, &mid_len))
			for (k = 0; k < 2; k++)
				if (mid_len == strlen(oracle_smtp_logins[k]) &&
				    memcmp(mid, oracle_smtp_logins[k],
				    mid_len) == 0)
					rcpt[k] = true;
	}
	return true;
}

bool
oracle_read_pop3(const char *out, size_t len, size_t out_size,
    struct oracle_pop3 *o)
{
	static const char has[] = "+OK maildrop has ";
	static const char dele[] = "+OK message ";
	const char *line;
	char text[64], *end;
	size_t pos = 0;
	ssize_t n;
	unsigned long num;

	memset(o, 0, sizeof(*o));
	if (len > out_size)
		return false;
	while ((n = next_line(out, len, &pos, &line)) >= 0) {
		if ((size_t)n >= sizeof(text))
			continue;	/* no reply the oracle reads */
		memcpy(text, line, (size_t)n);
		text[n] = '\0';
		if (strncmp(text, has, sizeof(has) - 1) == 0) {
			/* A login, or RSET: nothing marked deleted. */
			o->logged_in = true;
			o->listed = strtoul(text + sizeof(has) - 1, NULL, 10);
			if (o->listed > ORACLE_MSGS_MAX)
				return false;
			memset(o->deleted, 0, sizeof(o->deleted));
		} else if (strncmp(text, dele, sizeof(dele) - 1) == 0) {
			num = strtoul(text + sizeof(dele) - 1, &end, 10);
			if (strcmp(end, " deleted") == 0 && num >= 1 &&
			    num <= ORACLE_MSGS_MAX)
				o->deleted[num - 1] = true;
		} else if (strcmp(text, "+OK Thanks for using POP3 server") ==
		    0 && o->logged_in)
			o->updated = true;
	}
	return true;
}
