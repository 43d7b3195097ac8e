/* SPDX-License-Identifier: MIT */
/* Unit tests for msg: a spooled message becomes its sockmail-mailbox(5)
 * record. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "wbuf.h"
#include "fixture.h"
#include "tap.h"

/* 2026-11-27 21:04:00 UTC */
#define T_FIXED		((time_t)1795813440)
#define RECEIVED	"Received: 2026-11-27 : 21 : 04\n"

static char	tmpdir[] = "/tmp/sockmail-msg-XXXXXX";
static int	file_seq;

/* A fresh file in tmpdir, open for reading and writing. */
static int
new_file(void)
{
	char	path[sizeof(tmpdir) + 32];
	int	fd;

	(void)snprintf(path, sizeof(path), "%s/f%d", tmpdir, file_seq++);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		abort();
	return fd;
}

static int
spool(const char *data, size_t len)
{
	int	fd = new_file();

	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		abort();
	if (lseek(fd, 0, SEEK_SET) == -1)
		abort();
	return fd;
}

/* The whole content of fd, NUL-terminated; *len_out is its length. */
static char *
slurp(int fd, size_t *len_out)
{
	struct stat	 st;
	char		*p;

	if (fstat(fd, &st) == -1 || (p = malloc((size_t)st.st_size + 1)) == NULL)
		abort();
	if (pread(fd, p, (size_t)st.st_size, 0) != st.st_size)
		abort();
	p[st.st_size] = '\0';
	*len_out = (size_t)st.st_size;
	return p;
}

/* Run msg_scan and msg_write_record over the spool; the record text. */
static char *
record(const char *data, size_t len, const struct msg_envelope *env,
    struct msg_headers *h_out, size_t *len_out)
{
	struct msg_headers	 h;
	struct wbuf		*w = malloc(sizeof(*w));
	int			 in = spool(data, len), out = new_file();
	char			*text;
	bool			 good = true;

	if (w == NULL)
		abort();
	memset(&h, 0xa5, sizeof(h));
	if (msg_scan(in, &h) == -1) {
		printf("# msg_scan: %s\n", strerror(errno));
		good = false;
	}
	if (lseek(in, 0, SEEK_SET) == -1)
		abort();
	wbuf_init(w, out);
	if (good && msg_write_record(in, &h, env, w) == -1) {
		printf("# msg_write_record: %s\n", strerror(errno));
		good = false;
	}
	if (wbuf_flush(w) == -1) {
		printf("# wbuf_flush: %s\n", strerror(errno));
		good = false;
	}
	text = slurp(out, len_out);
	if (!good)
		*len_out = (size_t)-1;
	if (h_out != NULL)
		*h_out = h;
	free(w);
	(void)close(in);
	(void)close(out);
	return text;
}

/* Compare the record for msg with want; show both when they differ. */
static void
check(const char *msg, const struct msg_envelope *env, const char *want,
    const char *desc)
{
	size_t	 len;
	char	*got = record(msg, strlen(msg), env, NULL, &len);
	bool	 same = len == strlen(want) && memcmp(got, want, len) == 0;

	ok(same, "%s", desc);
	if (!same && len != (size_t)-1)
		printf("# want:\n%s# got:\n%s# (end)\n", want, got);
	free(got);
}

static const struct msg_envelope env = {
	"env-from@example.org", "rcpt1@example.org, rcpt2@example.org", T_FIXED,
};

static void
test_received(void)
{
	char	buf[64];

	msg_format_received(T_FIXED, buf, sizeof(buf));
	ok(strcmp(buf, "2026-11-27 : 21 : 04") == 0,
	    "format_received: UTC (%s)", buf);
	if (setenv("TZ", "CET-1", 1) == -1)
		abort();
	tzset();
	msg_format_received(T_FIXED, buf, sizeof(buf));
	ok(strcmp(buf, "2026-11-27 : 22 : 04") == 0,
	    "format_received: honours TZ (CET-1: %s)", buf);
	if (setenv("TZ", "UTC", 1) == -1)
		abort();
	tzset();
	msg_format_received((time_t)0, buf, sizeof(buf));
	ok(strcmp(buf, "1970-01-01 : 00 : 00") == 0,
	    "format_received: the epoch, zero-padded (%s)", buf);
}

static void
test_writeup(void)
{
	static const char	 msg[] =
	    "From: labxyz@kuleuven.be\n"
	    "To: otherlab@kuleuven.be\n"
	    "Subject: Test\n"
	    "This is a test mail.\n";
	struct msg_envelope	 e = {
		"labxyz@kuleuven.be", "otherlab@kuleuven.be", T_FIXED,
	};
	struct msg_headers	 h;
	size_t			 len;
	char			*got;

	check(msg, &e,
	    "From: labxyz@kuleuven.be\n"
	    "To: otherlab@kuleuven.be\n"
	    "Subject: Test\n"
	    RECEIVED
	    "This is a test mail.\n"
	    ".\n",
	    "record: the write-up's message is stored in the write-up's format");

	got = record(msg, sizeof(msg) - 1, &e, &h, &len);
	ok(h.field[MSG_FROM].found && h.field[MSG_FROM].line_start == 0 &&
	    h.field[MSG_FROM].line_end == 25 &&
	    h.field[MSG_FROM].value_start == 6 &&
	    h.field[MSG_FROM].value_end == 24,
	    "scan: From: at 0..25, value 6..24");
	ok(h.field[MSG_TO].found && h.field[MSG_TO].line_start == 25 &&
	    h.field[MSG_TO].line_end == 50 &&
	    h.field[MSG_TO].value_start == 29 &&
	    h.field[MSG_TO].value_end == 49,
	    "scan: To: at 25..50, value 29..49");
	ok(h.field[MSG_SUBJECT].found &&
	    h.field[MSG_SUBJECT].line_start == 50 &&
	    h.field[MSG_SUBJECT].line_end == 64 &&
	    h.field[MSG_SUBJECT].value_start == 59 &&
	    h.field[MSG_SUBJECT].value_end == 63,
	    "scan: Subject: at 50..64, value 59..63");
	free(got);
}

static void
test_fields(void)
{
	struct msg_headers	 h;
	size_t			 len;
	char			*got;
	static const char	 folded[] =
	    "From: a@x\n"
	    "To: b@x\n"
	    "Subject: a long\n"
	    "  subject\n"
	    "\tline\n"
	    "body\n";

	check("Subject: Hi\nTo: b@x\nFrom: a@x\nbody\n", &env,
	    "From: a@x\nTo: b@x\nSubject: Hi\n" RECEIVED "body\n.\n",
	    "record: fields in another order are moved to the top");
	check(folded, &env,
	    "From: a@x\nTo: b@x\nSubject: a long  subject\tline\n" RECEIVED
	    "body\n.\n",
	    "record: a folded Subject is unfolded, folding blanks kept");
	got = record(folded, sizeof(folded) - 1, &env, &h, &len);
	ok(h.field[MSG_SUBJECT].found &&
	    h.field[MSG_SUBJECT].line_start == 18 &&
	    h.field[MSG_SUBJECT].line_end == 50,
	    "scan: a folded field's line_end is past its last fold");
	free(got);
	check("Just a body line\n", &env,
	    "From: env-from@example.org\n"
	    "To: rcpt1@example.org, rcpt2@example.org\n"
	    "Subject: \n" RECEIVED
	    "Just a body line\n.\n",
	    "record: all three fields missing come from the envelope");
	check("From: a@x\nTo: b@x\nbody\n", &env,
	    "From: a@x\nTo: b@x\nSubject: \n" RECEIVED "body\n.\n",
	    "record: a missing Subject is empty");
	check("Subject: s\nbody\n", &env,
	    "From: env-from@example.org\n"
	    "To: rcpt1@example.org, rcpt2@example.org\n"
	    "Subject: s\n" RECEIVED "body\n.\n",
	    "record: missing From and To come from the envelope");
	check("", &env,
	    "From: env-from@example.org\n"
	    "To: rcpt1@example.org, rcpt2@example.org\n"
	    "Subject: \n" RECEIVED ".\n",
	    "record: an empty message");
	check("FROM: a@x\nto: b@x\nsUbJeCt: s\nbody\n", &env,
	    "From: a@x\nTo: b@x\nSubject: s\n" RECEIVED "body\n.\n",
	    "record: field names match case-insensitively");
	check("From: first@x\nTo: b@x\nFrom: second@x\nSubject: s\n"
	    "subject: second\nbody\n", &env,
	    "From: first@x\nTo: b@x\nSubject: s\n" RECEIVED
	    "From: second@x\nsubject: second\nbody\n.\n",
	    "record: the first of duplicate fields wins, the others stay in place");
	check("From:a@x\nTo:   b@x   \nSubject:\t spaced out \t\nbody\n", &env,
	    "From: a@x\nTo: b@x\nSubject: spaced out\n" RECEIVED "body\n.\n",
	    "record: blanks around values are trimmed");
	check("Subject: s\n\nFrom: not-a-header@x\nTo: nor-this@x\n", &env,
	    "From: env-from@example.org\n"
	    "To: rcpt1@example.org, rcpt2@example.org\n"
	    "Subject: s\n" RECEIVED
	    "\nFrom: not-a-header@x\nTo: nor-this@x\n.\n",
	    "record: fields after the header block are body");
	check("Subject: s\nbody line\nFrom: a@x\n", &env,
	    "From: env-from@example.org\n"
	    "To: rcpt1@example.org, rcpt2@example.org\n"
	    "Subject: s\n" RECEIVED
	    "body line\nFrom: a@x\n.\n",
	    "record: the header block ends at the first non-field line");
	check("From-Address: x\nFrom: a@x\nTo: b@x\nSubject: s\nb\n", &env,
	    "From: a@x\nTo: b@x\nSubject: s\n" RECEIVED "From-Address: x\nb\n.\n",
	    "record: From-Address: is not From:");
}

static void
test_dots(void)
{
	check("From: a@x\nTo: b@x\nSubject: s\n.hidden\n..two\n.\nend\n.\n",
	    &env,
	    "From: a@x\nTo: b@x\nSubject: s\n" RECEIVED
	    "..hidden\n...two\n..\nend\n..\n.\n",
	    "record: body lines starting with . get one more .");
	check(".\n", &env,
	    "From: env-from@example.org\n"
	    "To: rcpt1@example.org, rcpt2@example.org\n"
	    "Subject: \n" RECEIVED "..\n.\n",
	    "record: a message of one . line");
	check("From: a@x\nTo: b@x\nSubject: .dot\n", &env,
	    "From: a@x\nTo: b@x\nSubject: .dot\n" RECEIVED ".\n",
	    "record: a . inside a field value is not a line start");
}

static void
test_rfc5322(void)
{
	check("Return-Path: <a@x>\n"
	    "Received: from relay by mx; Thu, 27 Nov 2026 21:03:59 +0000\n"
	    "Date: Thu, 27 Nov 2026 21:04:00 +0000\n"
	    "From: Alice Example <a@x>\n"
	    "Message-ID: <1@x>\n"
	    "X-Folded: one\n"
	    "\ttwo  \n"
	    "To: Bob <b@x>,\n"
	    " Carol <c@x>\n"
	    "Subject: Hello\n"
	    "MIME-Version: 1.0\n"
	    "X-Trailing: v  \n"
	    "\n"
	    "Body line 1\n"
	    "\n"
	    "  indented line 3\n", &env,
	    "From: Alice Example <a@x>\n"
	    "To: Bob <b@x>, Carol <c@x>\n"
	    "Subject: Hello\n"
	    RECEIVED
	    "Return-Path: <a@x>\n"
	    "Received: from relay by mx; Thu, 27 Nov 2026 21:03:59 +0000\n"
	    "Date: Thu, 27 Nov 2026 21:04:00 +0000\n"
	    "Message-ID: <1@x>\n"
	    "X-Folded: one\n"
	    "\ttwo  \n"
	    "MIME-Version: 1.0\n"
	    "X-Trailing: v  \n"
	    "\n"
	    "Body line 1\n"
	    "\n"
	    "  indented line 3\n"
	    ".\n",
	    "record: a full RFC 5322 message keeps its other headers byte for byte");
}

static void
test_large(void)
{
	size_t	 n = 300 * 1024, i, len;
	size_t	 head = sizeof("From: a@x\nTo: b@x\nSubject: s\n") - 1;
	char	*msg = malloc(n + 1), *got, *want;
	bool	 same;

	if (msg == NULL || (want = malloc(n + 200)) == NULL)
		abort();
	memcpy(msg, "From: a@x\nTo: b@x\nSubject: s\n", head);
	/* A 100 KiB line starting with ".", then 200 KiB of short lines. */
	msg[head] = '.';
	for (i = head + 1; i < head + 100 * 1024; i++)
		msg[i] = 'x';
	msg[i++] = '\n';
	for (; i < n; i++)
		msg[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	msg[n - 1] = '\n';
	msg[n] = '\0';
	len = (size_t)snprintf(want, n + 200, "From: a@x\nTo: b@x\nSubject: s\n"
	    RECEIVED ".%s.\n", msg + head);
	got = record(msg, n, &env, NULL, &i);
	same = i == len && memcmp(got, want, len) == 0;
	ok(same, "record: a 300 KiB message with a 100 KiB dotted line "
	    "(%zu bytes, want %zu)", i, len);
	free(got);
	free(want);
	free(msg);
}

/* Append s at *p and move *p past it. */
static void
put(char **p, const char *s)
{
	size_t	n = strlen(s);

	memcpy(*p, s, n);
	*p += n;
}

/* Append n copies of c at *p and move *p past them. */
static void
fill(char **p, char c, size_t n)
{
	memset(*p, c, n);
	*p += n;
}

/* Header fields longer than the line reader's pieces. */
static void
test_long_fields(void)
{
	size_t	 n = 20000, len, got_len;
	char	*msg = malloc(4 * n), *want = malloc(4 * n), *got;
	char	*p;

	if (msg == NULL || want == NULL)
		abort();
	/* Subject: S...S s...s (folded in the middle), X-Long: L...L. */
	p = msg;
	put(&p, "Subject: ");
	fill(&p, 'S', n / 2);
	put(&p, "\n ");
	fill(&p, 's', n / 2);
	put(&p, "\nX-Long: ");
	fill(&p, 'L', n);
	put(&p, "\nFrom: a@x\nTo: b@x\n\nbody\n");
	len = (size_t)(p - msg);

	p = want;
	put(&p, "From: a@x\nTo: b@x\nSubject: ");
	fill(&p, 'S', n / 2);
	fill(&p, ' ', 1);
	fill(&p, 's', n / 2);
	put(&p, "\n" RECEIVED "X-Long: ");
	fill(&p, 'L', n);
	put(&p, "\n\nbody\n.\n");

	got = record(msg, len, &env, NULL, &got_len);
	ok(got_len == (size_t)(p - want) && memcmp(got, want, got_len) == 0,
	    "record: 20000-byte header fields, one folded, come through whole "
	    "(%zu bytes, want %zu)", got_len, (size_t)(p - want));
	free(got);
	free(want);
	free(msg);
}

int
main(void)
{
	if (setenv("TZ", "UTC", 1) == -1)
		abort();
	tzset();
	if (mkdtemp(tmpdir) == NULL)
		abort();
	test_received();
	test_writeup();
	test_fields();
	test_dots();
	test_rfc5322();
	test_large();
	test_long_fields();
	fixture_rm_tree(tmpdir);
	return done_testing();
}
