/* SPDX-License-Identifier: MIT */
/* Reading the mailbox format of sockmail-mailbox(5): where messages start
 * and end, their size as RETR sends them, and their hash (UIDL). Pure
 * functions over bytes; the store (store.h) does the reading.
 *
 * A message ends at a line holding only ".". A CR right before an LF is
 * part of the line ending, not of the line, so a CRLF mailbox (the
 * write-up's programs on Windows) reads exactly as its LF form: the same
 * messages, sizes and hashes. A lone CR is content. */
#ifndef SOCKMAIL_MAILFMT_H
#define SOCKMAIL_MAILFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fields sockmail stores above the body: From:, To:, Subject:,
 * Received: (TOP sends them for a message without an empty line). */
#define MAILFMT_STORED_FIELDS	4

/* One message of a mailbox, by byte offsets into it. */
struct mailfmt_msg {
	uint64_t	start;		/* first byte */
	uint64_t	dot;		/* where its "." line starts */
	uint64_t	end;		/* one past its "." line's ending */
	uint64_t	size;		/* octets RETR sends: CRLF, unstuffed */
	uint64_t	hash;		/* FNV-1a of its bytes before the "." line,
					 * a CR before an LF left out */
};

/* The state of a scan between blocks. */
struct mailfmt_scanner {
	struct mailfmt_msg	 m;		/* the message being read */
	bool			 at_line_start, pending_dot, held_cr;
	void			(*emit)(void *arg, const struct mailfmt_msg *m);
	void			*arg;
};

#define MAILFMT_FNV_OFFSET	0xcbf29ce484222325ULL

uint64_t mailfmt_fnv(uint64_t h, const void *p, size_t len);

/* Start a scan at offset start, where a message begins; emit is called
 * with each whole message found. */
void	mailfmt_scan_init(struct mailfmt_scanner *sc, uint64_t start,
	    void (*emit)(void *arg, const struct mailfmt_msg *m), void *arg);

/* Scan the len bytes at offset pos (the bytes right after the last
 * block). */
void	mailfmt_scan(struct mailfmt_scanner *sc, const unsigned char *p,
	    size_t len, uint64_t pos);

/* The scan reached offset end, the end of the file's whole messages: a
 * "." (or ".\r") left there without its LF still ends a message. Returns
 * whether it did. */
bool	mailfmt_scan_end(struct mailfmt_scanner *sc, uint64_t end);

/* The length of the line content in p[0, len) that ends at an LF at
 * p[len], without a CR right before it. */
size_t	mailfmt_line_content(const char *p, size_t len);

/* Whether a "." line ending (".\n" or ".\r\n") starts at p[i] of buf
 * (len bytes), with p[i] at a line start. Returns the ending's length
 * (2 or 3), or 0. */
size_t	mailfmt_dot_line(const char *buf, size_t len, size_t i);

#endif
