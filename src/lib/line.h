/* SPDX-License-Identifier: MIT */
/* Bounded line input with a deadline for each whole line. */
#ifndef SOCKMAIL_LINE_H
#define SOCKMAIL_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct transport;

/* Room for the longest piece line_read_part hands out, plus its ending. */
#define LINE_BUF_SIZE	8192

enum line_status {
	LINE_OK,
	LINE_EOF,
	LINE_TOO_LONG,
	LINE_TIMEOUT,
	LINE_ERR,
};

/* How a piece returned by line_read_part ended. */
enum line_end {
	LINE_END_NONE,		/* the line goes on in the next piece */
	LINE_END_LF,		/* a bare LF */
	LINE_END_CRLF,		/* CR LF */
	LINE_END_EOF,		/* input ended in the middle of the line */
};

/* How many bytes the ending of a piece took in the input. Reading a file
 * of LF lines, a CR kept as content before an LF comes back as
 * LINE_END_CRLF: this counts what is really in the file. */
static inline size_t
line_end_bytes(enum line_end end)
{
	return end == LINE_END_CRLF ? 2 : end == LINE_END_LF ? 1 : 0;
}

struct line_reader {
	struct transport	*t;
	/* How long one whole line may take to arrive, from the first wait
	 * for it; -1: no limit. A client that trickles a line byte by byte
	 * is cut off as surely as one that sends nothing. */
	int			 timeout_ms;
	bool			 line_waited;	/* line_t0 is set for this line */
	struct timespec		 line_t0;
	/* The session's own end (line_reader_set_lifetime): no wait goes
	 * past it; -1: none. expired says the last LINE_TIMEOUT was this. */
	int			 lifetime_ms;
	struct timespec		 born;
	bool			 expired;
	size_t			 wiped;		/* buf[0, wiped) is zeroed */
	/* Called right before the reader blocks for more input, so that
	 * replies to pipelined commands go out in one write when the input
	 * runs dry (RFC 2920). Returns 0, or -1 when the peer is gone. */
	int			(*before_wait)(void *arg);
	void			*before_wait_arg;
	size_t			 start, end;	/* unread bytes are buf[start, end) */
	bool			 at_eof;
	/* The line line_read last returned was cut off by the end of input:
	 * a file's last line without LF, or a client that went away in the
	 * middle of a command, which a session must not carry out. */
	bool			 last_cut;
	char			 buf[LINE_BUF_SIZE];
};

/* Set up r to read from t; timeout_s <= 0 means wait forever. */
void	line_reader_init(struct line_reader *r, struct transport *t,
	    int timeout_s);

/* End every wait for input lifetime_s from now (<= 0: never): a session
 * that keeps sending slowly still ends. */
void	line_reader_set_lifetime(struct line_reader *r, int lifetime_s);

/* Zero the bytes already consumed (a line that held a password), so no
 * copy of them stays in the read-ahead buffer. */
void	line_reader_wipe_used(struct line_reader *r);

/* Throw away everything read ahead but not yet consumed (STARTTLS: bytes
 * that arrived before the handshake must never be taken as coming inside
 * it), zeroing the buffer (a file of passwords was read through it). */
void	line_reader_discard(struct line_reader *r);

/* Whether a complete line is already buffered, so reading it will not
 * wait. */
bool	line_reader_has_line(const struct line_reader *r);

/* Read one line into buf (at most size-1 bytes, NUL-terminated; size >= 3).
 * The line ending is removed and *crlf_out says whether it was CR LF. The
 * line may contain NUL bytes: *len_out is its true length. A last line cut
 * off by the end of input is returned as a line without CR LF.
 * On LINE_TOO_LONG the whole line has been read and thrown away, so the
 * caller can reply and carry on. */
enum line_status line_read(struct line_reader *r, char *buf, size_t size,
	    size_t *len_out, bool *crlf_out);

/* Read the next piece of a line of any length: at most size bytes (size >=
 * 2, else LINE_ERR with errno EINVAL; more than LINE_BUF_SIZE - 2 is
 * taken as that) into buf, not NUL-terminated. *end_out says
 * whether the line ended after this piece and how. A CR is never the last
 * byte of a piece that does not end its line, so a CR LF is never split. */
enum line_status line_read_part(struct line_reader *r, char *buf,
	    size_t size, size_t *len_out, enum line_end *end_out);

#endif
