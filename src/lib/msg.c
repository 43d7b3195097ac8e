/* SPDX-License-Identifier: MIT */
/* The message builder: header extraction and dot-stuffing
 * (sockmail-mailbox(5)). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "line.h"
#include "msg.h"
#include "str.h"
#include "transport.h"
#include "wbuf.h"

#define COPY_BLOCK	65536

static const char *const field_names[MSG_NFIELDS] = {
	[MSG_FROM] = "From",
	[MSG_TO] = "To",
	[MSG_SUBJECT] = "Subject",
};

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The length of the field name before the colon that ends it, or 0 when
 * the line does not start with a field (RFC 5322 3.6.8: printable ASCII
 * but colon). */
static size_t
field_name_len(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == ':')
			return i;
		if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126)
			return 0;
	}
	return 0;
}

static int
field_of(const char *name, size_t len)
{
	char buf[16];
	int f;

	if (str_copy_n(buf, sizeof(buf), name, len) < 0)
		return -1;
	for (f = 0; f < MSG_NFIELDS; f++)
		if (str_ieq(buf, field_names[f]))
			return f;
	return -1;
}

/* Note where the non-blank bytes of a recorded field's value are; p holds
 * len bytes of the field, starting at offset pos. */
static void
track_value(struct msg_headers *h, int f, bool *seen, const char *p,
    size_t len, off_t pos)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (is_blank(p[i]))
			continue;
		if (!*seen)
			h->field[f].value_start = pos + (off_t)i;
		*seen = true;
		h->field[f].value_end = pos + (off_t)i + 1;
	}
}

int
msg_scan(int fd, struct msg_headers *h_out)
{
	struct fd_transport ft;
	struct line_reader r;
	char piece[LINE_BUF_SIZE];
	enum line_status st;
	enum line_end end;
	bool at_line_start = true, in_field = false;
	bool seen[MSG_NFIELDS] = { false };
	int current = -1;	/* the recorded field being read, if any */
	off_t pos = 0, value_pos;
	size_t len, name_len;

	memset(h_out, 0, sizeof(*h_out));
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	fd_transport_init(&ft, fd, -1);
	line_reader_init(&r, &ft.base, 0);
	for (;;) {
		st = line_read_part(&r, piece, sizeof(piece) - 2, &len, &end);
		if (st == LINE_EOF)
			return 0;
		if (st != LINE_OK)
			return -1;
		if (at_line_start) {
			if (len > 0 && is_blank(piece[0]) && in_field) {
				/* A fold of the field before. */
			} else if ((name_len = field_name_len(piece, len)) > 0) {
				in_field = true;
				current = field_of(piece, name_len);
				if (current >= 0 && h_out->field[current].found)
					current = -1;	/* the first one wins */
				if (current >= 0) {
					value_pos = pos + (off_t)name_len + 1;
					h_out->field[current].found = true;
					h_out->field[current].line_start = pos;
					h_out->field[current].value_start = value_pos;
					h_out->field[current].value_end = value_pos;
					h_out->field[current].line_end = value_pos;
					track_value(h_out, current, &seen[current],
					    piece + name_len + 1,
					    len - name_len - 1, value_pos);
					goto next;
				}
			} else
				return 0;	/* the end of the header block */
		}
		if (current >= 0)
			track_value(h_out, current, &seen[current],
			    piece, len, pos);
next:
		pos += (off_t)len;
		at_line_start = end != LINE_END_NONE;
		if (at_line_start) {
			pos += (off_t)line_end_bytes(end);
			if (current >= 0)
				h_out->field[current].line_end = pos;
		}
		if (end == LINE_END_EOF)
			return 0;
	}
}

void
msg_format_received(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d : %H : %M", &tm) == 0)
		(void)str_copy(buf, size, "1970-01-01 : 00 : 00");
}

/* Copy fd's bytes [start, end) to w, leaving out every LF: RFC 5322
 * unfolding. */
static int
write_unfolded(int fd, off_t start, off_t end, struct wbuf *w)
{
	char block[4096];
	size_t want, i, run;
	const char *nl;
	ssize_t n;

	while (start < end) {
		want = (size_t)(end - start) < sizeof(block) ?
		    (size_t)(end - start) : sizeof(block);
		n = io_read_some(fd, block, want, start);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* the spool shrank */
			return -1;
		}
		for (i = 0; i < (size_t)n; i += run + 1) {
			nl = memchr(block + i, '\n', (size_t)n - i);
			run = nl != NULL ? (size_t)(nl - (block + i)) :
			    (size_t)n - i;
			wbuf_put(w, block + i, run);
		}
		start += n;
	}
	return 0;
}

static int
write_field(int fd, const struct msg_headers *h, enum msg_field f,
    const char *fallback, struct wbuf *w)
{
	wbuf_put(w, field_names[f], strlen(field_names[f]));
	wbuf_put(w, ": ", 2);
	if (h->field[f].found) {
		if (write_unfolded(fd, h->field[f].value_start,
		    h->field[f].value_end, w) < 0)
			return -1;
	} else
		wbuf_put(w, fallback, strlen(fallback));
	wbuf_put(w, "\n", 1);
	return 0;
}

/* Write len bytes of message lines, doubling a "." that starts a line
 * (sockmail-mailbox(5): the separator line can never be mistaken for
 * content).
 * *bol says whether p starts a line, and is updated. */
static void
write_stuffed(struct wbuf *w, const char *p, size_t len, bool *bol)
{
	const char *nl;
	size_t run;

	while (len > 0) {
		if (*bol && p[0] == '.')
			wbuf_put(w, ".", 1);
		nl = memchr(p, '\n', len);
		run = nl != NULL ? (size_t)(nl - p) + 1 : len;
		wbuf_put(w, p, run);
		*bol = nl != NULL;
		p += run;
		len -= run;
	}
}

/* The recorded fields' line ranges, in file order. */
static size_t
skip_ranges(const struct msg_headers *h, off_t start[], off_t end[])
{
	size_t n = 0, i, j;
	off_t t;
	int f;

	for (f = 0; f < MSG_NFIELDS; f++) {
		if (!h->field[f].found)
			continue;
		start[n] = h->field[f].line_start;
		end[n] = h->field[f].line_end;
		for (i = n++; i > 0 && start[i - 1] > start[i]; i--) {
			j = i - 1;
			t = start[j], start[j] = start[i], start[i] = t;
			t = end[j], end[j] = end[i], end[i] = t;
		}
	}
	return n;
}

/* Copy every line of the message but the recorded fields, dot-stuffed. */
static int
write_body(int fd, const struct msg_headers *h, struct wbuf *w)
{
	char block[COPY_BLOCK];
	off_t skip_start[MSG_NFIELDS], skip_end[MSG_NFIELDS];
	off_t pos = 0, stop;
	size_t nskip, next = 0, want;
	bool bol = true;
	ssize_t n;

	nskip = skip_ranges(h, skip_start, skip_end);
	/* w's errors are sticky: past the first, reading on is wasted (and
	 * the memory build of deliver.c stops there for a big record). */
	while (w->error == 0) {
		while (next < nskip && pos >= skip_start[next]) {
			if (pos < skip_end[next])
				pos = skip_end[next];
			next++;
		}
		stop = next < nskip ? skip_start[next] : -1;
		want = sizeof(block);
		if (stop >= 0 && (off_t)want > stop - pos)
			want = (size_t)(stop - pos);
		n = io_read_some(fd, block, want, pos);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		write_stuffed(w, block, (size_t)n, &bol);
		pos += n;
	}
	if (!bol)
		wbuf_put(w, "\n", 1);
	wbuf_put(w, ".\n", 2);
	return 0;
}

int
msg_write_record(int fd, const struct msg_headers *h,
    const struct msg_envelope *env, struct wbuf *w)
{
	char received[64];

	if (write_field(fd, h, MSG_FROM, env->from, w) < 0 ||
	    write_field(fd, h, MSG_TO, env->to, w) < 0 ||
	    write_field(fd, h, MSG_SUBJECT, "", w) < 0)
		return -1;
	msg_format_received(env->received, received, sizeof(received));
	wbuf_put(w, "Received: ", 10);
	wbuf_put(w, received, strlen(received));
	wbuf_put(w, "\n", 1);
	return write_body(fd, h, w);
}
