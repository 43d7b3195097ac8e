/* SPDX-License-Identifier: MIT */
/* The mailbox format of sockmail-mailbox(5), read (see mailfmt.h). */
#include "config.h"

#include "mailfmt.h"

#define FNV_PRIME	0x100000001b3ULL

uint64_t
mailfmt_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len-- > 0) {
		h ^= *b++;
		h *= FNV_PRIME;
	}
	return h;
}

static void
start_message(struct mailfmt_scanner *sc, uint64_t start)
{
	sc->m = (struct mailfmt_msg){ .start = start,
	    .hash = MAILFMT_FNV_OFFSET };
	sc->at_line_start = true;
	sc->pending_dot = false;
	sc->held_cr = false;
}

void
mailfmt_scan_init(struct mailfmt_scanner *sc, uint64_t start,
    void (*emit)(void *arg, const struct mailfmt_msg *m), void *arg)
{
	sc->emit = emit;
	sc->arg = arg;
	start_message(sc, start);
}

static inline void
hash_byte(struct mailfmt_scanner *sc, unsigned char c)
{
	sc->m.hash = (sc->m.hash ^ c) * FNV_PRIME;
}

/* A content byte other than a line ending. */
static inline void
content(struct mailfmt_scanner *sc, unsigned char c)
{
	hash_byte(sc, c);
	sc->m.size++;
	sc->at_line_start = false;
}

/* A "." at a line start that turned out not to end the message: a
 * stuffed "." (sockmail-mailbox(5)), stored and hashed but not sent
 * twice. */
static inline void
stuffed_dot(struct mailfmt_scanner *sc)
{
	hash_byte(sc, '.');
	sc->pending_dot = false;
	sc->at_line_start = false;
}

/* A line ended (LF, or CR LF), next being the offset after it. */
static inline void
line_end(struct mailfmt_scanner *sc, uint64_t next)
{
	if (sc->pending_dot) {
		sc->m.end = next;
		sc->emit(sc->arg, &sc->m);
		start_message(sc, next);
		return;
	}
	/* The LF form's line ending, whatever the file holds: RETR sends
	 * CR LF for it. */
	hash_byte(sc, '\n');
	sc->m.size += 2;
	sc->at_line_start = true;
}

void
mailfmt_scan(struct mailfmt_scanner *sc, const unsigned char *p, size_t len,
    uint64_t pos)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = p[i];
		if (sc->held_cr) {
			sc->held_cr = false;
			if (c == '\n') {
				line_end(sc, pos + i + 1);
				continue;
			}
			/* A lone CR is content. */
			if (sc->pending_dot)
				stuffed_dot(sc);
			content(sc, '\r');
		}
		if (c == '\r') {
			sc->held_cr = true;	/* a line ending, if LF follows */
			continue;
		}
		if (c == '\n') {
			line_end(sc, pos + i + 1);
			continue;
		}
		if (sc->pending_dot)
			stuffed_dot(sc);
		else if (sc->at_line_start && c == '.') {
			sc->pending_dot = true;
			sc->m.dot = pos + i;
			continue;
		}
		content(sc, c);
	}
}

bool
mailfmt_scan_end(struct mailfmt_scanner *sc, uint64_t end)
{
	if (!sc->pending_dot)
		return false;
	sc->m.end = end;
	sc->emit(sc->arg, &sc->m);
	start_message(sc, end);
	return true;
}

size_t
mailfmt_line_content(const char *p, size_t len)
{
	return len > 0 && p[len - 1] == '\r' ? len - 1 : len;
}

size_t
mailfmt_dot_line(const char *buf, size_t len, size_t i)
{
	if (i >= len || buf[i] != '.' || i + 1 >= len)
		return 0;
	if (buf[i + 1] == '\n')
		return 2;
	if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
		return 3;
	return 0;
}
