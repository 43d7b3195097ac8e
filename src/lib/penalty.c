/* SPDX-License-Identifier: MIT */
/* The penalty table of failed logins (the file is described in
 * penalty.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "penalty.h"
#include "io.h"
#include "mailfmt.h"
#include "store.h"

#define MAGIC		"sockpnlt"
#define MAGIC_LEN	8
#define TABLE_VERSION	1

_Static_assert((PENALTY_SLOTS & (PENALTY_SLOTS - 1)) == 0,
    "PENALTY_SLOTS is a power of two");
_Static_assert(PENALTY_FILE_SIZE == 32 + 4096 * 32, "the file's size");

struct slot {
	enum penalty_kind kind;
	uint32_t	 count;
	int64_t		 last;
	unsigned char	 key[PENALTY_KEY_SIZE];
};

static void
put_le(unsigned char *p, uint64_t v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get_le(const unsigned char *p, size_t len)
{
	uint64_t v = 0;

	while (len-- > 0)
		v = v << 8 | p[len];
	return v;
}

void
penalty_init(struct penalty *p, int dir_fd, const char *name)
{
	p->dir_fd = dir_fd;
	p->name = name;
	p->fd = -1;
	p->off = false;
	p->remote = false;
	p->why = NULL;
}

void
penalty_free(struct penalty *p)
{
	if (p->fd >= 0)
		(void)close(p->fd);
	p->fd = -1;
}

int
penalty_key_addr(const struct sockaddr *sa, struct penalty_key *k_out)
{
	const struct sockaddr_in6 *sin6;

	memset(k_out, 0, sizeof(*k_out));
	k_out->kind = PENALTY_ADDRESS;
	switch (sa->sa_family) {
	case AF_INET:
		/* As the IPv4-mapped form, so that both spell one key. */
		k_out->bytes[10] = k_out->bytes[11] = 0xff;
		memcpy(k_out->bytes + 12,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			memcpy(k_out->bytes, sin6->sin6_addr.s6_addr, 16);
		else
			memcpy(k_out->bytes, sin6->sin6_addr.s6_addr, 8);
		return 0;
	default:
		errno = EAFNOSUPPORT;
		return -1;
	}
}

/* Two logins whose hashes and lengths collide share a count. That is
 * harmless: a login's count only delays the answer to a wrong password
 * (a right one waits for its address's count alone), so a collision can
 * neither lock anyone out nor let a guess through faster than the
 * address allows. */
void
penalty_key_login(const char *login, struct penalty_key *k_out)
{
	uint64_t h = MAILFMT_FNV_OFFSET;
	size_t len = strlen(login), i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)login[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = mailfmt_fnv(h, &c, 1);
	}
	memset(k_out, 0, sizeof(*k_out));
	k_out->kind = PENALTY_LOGIN;
	put_le(k_out->bytes, h, 8);
	put_le(k_out->bytes + 8, len, 8);
}

unsigned
penalty_delay(unsigned count, unsigned base_s, unsigned cap_s)
{
	uint64_t d;

	if (count == 0)
		return 0;
	if (count - 1 >= 32)
		return base_s == 0 ? 0 : cap_s;
	d = (uint64_t)base_s << (count - 1);
	return d < cap_s ? (unsigned)d : cap_s;
}

/* What a count is worth at now: one failure less per PENALTY_DECAY_S
 * since the last. A last failure in the future (another host's clock
 * runs ahead) has not decayed at all. */
static uint32_t
effective(const struct slot *s, int64_t now)
{
	uint64_t gone;

	if (s->kind != PENALTY_ADDRESS && s->kind != PENALTY_LOGIN)
		return 0;
	if (s->last >= now)
		return s->count;
	/* In unsigned arithmetic: any two int64_t are this far apart. */
	gone = ((uint64_t)now - (uint64_t)s->last) / PENALTY_DECAY_S;
	return gone >= s->count ? 0 : s->count - (uint32_t)gone;
}

static void
decode_slot(const unsigned char *b, struct slot *s)
{
	s->kind = (enum penalty_kind)b[0];
	if (s->kind != PENALTY_ADDRESS && s->kind != PENALTY_LOGIN)
		s->kind = PENALTY_EMPTY;	/* nothing we wrote */
	s->count = (uint32_t)get_le(b + 4, 4);
	s->last = (int64_t)get_le(b + 8, 8);
	memcpy(s->key, b + 16, PENALTY_KEY_SIZE);
}

static void
encode_slot(const struct slot *s, unsigned char *b)
{
	memset(b, 0, PENALTY_SLOT_SIZE);
	b[0] = (unsigned char)s->kind;
	put_le(b + 4, s->count, 4);
	put_le(b + 8, (uint64_t)s->last, 8);
	memcpy(b + 16, s->key, PENALTY_KEY_SIZE);
}

static off_t
slot_offset(size_t i)
{
	return (off_t)(PENALTY_HEADER_SIZE + i * PENALTY_SLOT_SIZE);
}

static size_t
slot_index(uint64_t salt, const struct penalty_key *k)
{
	unsigned char kind = (unsigned char)k->kind;
	uint64_t h;

	h = mailfmt_fnv(MAILFMT_FNV_OFFSET ^ salt, &kind, 1);
	h = mailfmt_fnv(h, k->bytes, sizeof(k->bytes));
	return (size_t)(h ^ h >> 32) & (PENALTY_SLOTS - 1);
}

static void
make_header(unsigned char *h, uint64_t salt)
{
	memset(h, 0, PENALTY_HEADER_SIZE);
	memcpy(h, MAGIC, MAGIC_LEN);
	put_le(h + 8, TABLE_VERSION, 4);
	put_le(h + 12, PENALTY_SLOTS, 4);
	put_le(h + 16, PENALTY_SLOT_SIZE, 4);
	put_le(h + 24, salt, 8);
}

/* Give up on the table for good; errno stays what it was. */
static enum penalty_status
give_up(struct penalty *p, const char *why)
{
	int saved = errno;

	p->off = true;
	p->why = why;
	if (p->fd >= 0)
		(void)close(p->fd);
	p->fd = -1;
	errno = saved;
	return PENALTY_BROKEN;
}

/* Open the table, creating it (0600) if missing. Links and anything but
 * a regular file are refused without being followed or read. */
static enum penalty_status
open_table(struct penalty *p)
{
	struct stat st;

	/* O_NONBLOCK: a FIFO planted under the name must not hang us. */
	p->fd = openat(p->dir_fd, p->name, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (p->fd < 0)
		return give_up(p, errno == ELOOP ? "a symbolic link" :
		    "cannot open or create it");
	if (fstat(p->fd, &st) < 0)
		return give_up(p, "fstat");
	errno = 0;
	if (!S_ISREG(st.st_mode))
		return give_up(p, "not a regular file");
	/* A second name elsewhere would make our writes land there too. */
	if (st.st_nlink != 1)
		return give_up(p, "a file with more than one link");
	p->remote = store_on_network_fs(p->fd);
	return PENALTY_OK;
}

static int
lock_table(int fd, short type)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,	/* the whole file, however long */
	};
	int rc;

	do
		rc = fcntl(fd, type == F_UNLCK ? F_SETLK : F_SETLKW, &fl);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* Write a fresh table over the file: cut it back to a header's length,
 * write the header, then extend it with zeroed slots to the full size. A
 * crash in between leaves a short file that begins with the magic (or a
 * part of it), initialised again by the next holder. */
static int
init_table(int fd, uint64_t *salt_out)
{
	unsigned char h[PENALTY_HEADER_SIZE];
	uint64_t salt;

	if (getrandom(&salt, sizeof(salt), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(salt)) {
		struct timespec ts;

		/* Early at boot: any salt beats none. */
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		salt = (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^
		    (uint64_t)getpid();
	}
	make_header(h, salt);
	if (ftruncate(fd, PENALTY_HEADER_SIZE) < 0 ||
	    io_write_at(fd, h, sizeof(h), 0) < 0 ||
	    ftruncate(fd, PENALTY_FILE_SIZE) < 0 || fdatasync(fd) < 0)
		return -1;
	*salt_out = salt;
	return 0;
}

/* Under the lock: check what the file holds, initialising a new or
 * short one, and find the salt. */
static enum penalty_status
check_table(struct penalty *p, uint64_t *salt_out)
{
	unsigned char h[PENALTY_HEADER_SIZE], want[PENALTY_HEADER_SIZE];
	struct stat st;
	size_t have;

	/* Sole writer: the lock is on the whole file. */
	if (store_fresh_stat(p->fd, p->remote, true, &st) < 0)
		return give_up(p, "stat");
	if (st.st_size < PENALTY_FILE_SIZE) {
		have = st.st_size < MAGIC_LEN ? (size_t)st.st_size : MAGIC_LEN;
		if (io_read_at(p->fd, h, have, 0) < 0)
			return give_up(p, "read");
		errno = 0;
		if (memcmp(h, MAGIC, have) != 0)
			return give_up(p, "not a penalty table (foreign "
			    "content)");
		if (init_table(p->fd, salt_out) < 0)
			return give_up(p, "initialising");
		return PENALTY_OK;
	}
	errno = 0;
	if (st.st_size > PENALTY_FILE_SIZE)
		return give_up(p, "not a penalty table (too long)");
	if (io_read_at(p->fd, h, sizeof(h), 0) < 0)
		return give_up(p, "read");
	*salt_out = get_le(h + 24, 8);
	make_header(want, *salt_out);
	errno = 0;
	if (memcmp(h, MAGIC, MAGIC_LEN) != 0)
		return give_up(p, "not a penalty table (foreign content)");
	if (memcmp(h, want, sizeof(h)) != 0)
		return give_up(p, "a penalty table of another version or "
		    "size");
	return PENALTY_OK;
}

/* Find k's slot among the PENALTY_PROBE after its hash, or, when it is
 * not there, the one it is to take (penalty.h). Returns 0 with the slot's
 * index and what it holds in *index_out and *s, *found_out saying whether
 * it is k's; or -1. The window is read in one go (two when it wraps): on a
 * network file system each read may cross the network. */
static int
probe(int fd, uint64_t salt, const struct penalty_key *k, int64_t now,
    size_t *index_out, struct slot *s, bool *found_out)
{
	unsigned char win[PENALTY_PROBE * PENALTY_SLOT_SIZE];
	struct slot cur;
	size_t first = slot_index(salt, k), head, i;
	uint32_t n, victim_n = 0;

	head = PENALTY_SLOTS - first < PENALTY_PROBE ? PENALTY_SLOTS - first :
	    PENALTY_PROBE;
	if (io_read_at(fd, win, head * PENALTY_SLOT_SIZE,
	    slot_offset(first)) < 0 ||
	    (head < PENALTY_PROBE && io_read_at(fd,
	    win + head * PENALTY_SLOT_SIZE,
	    (PENALTY_PROBE - head) * PENALTY_SLOT_SIZE, slot_offset(0)) < 0))
		return -1;
	*found_out = false;
	for (i = 0; i < PENALTY_PROBE; i++) {
		decode_slot(win + i * PENALTY_SLOT_SIZE, &cur);
		if (cur.kind == k->kind &&
		    memcmp(cur.key, k->bytes, PENALTY_KEY_SIZE) == 0) {
			*found_out = true;
			*index_out = (first + i) & (PENALTY_SLOTS - 1);
			*s = cur;
			return 0;
		}
		/* The first slot with nothing left in it (free or decayed),
		 * else the fewest failures now; among equals the oldest. */
		n = effective(&cur, now);
		if (i == 0 || n < victim_n ||
		    (n == victim_n && n > 0 && cur.last < s->last)) {
			victim_n = n;
			*index_out = (first + i) & (PENALTY_SLOTS - 1);
			*s = cur;
		}
	}
	return 0;
}

/* Record one failure of k at now; put its effective count after it in
 * *count_out. */
static int
add_failure(int fd, uint64_t salt, const struct penalty_key *k, int64_t now,
    uint32_t *count_out)
{
	unsigned char b[PENALTY_SLOT_SIZE];
	struct slot s;
	size_t at;
	bool found;
	uint32_t n;

	if (probe(fd, salt, k, now, &at, &s, &found) < 0)
		return -1;
	n = found ? effective(&s, now) : 0;
	n = n >= PENALTY_COUNT_MAX ? PENALTY_COUNT_MAX : n + 1;
	s.kind = k->kind;
	s.count = n;
	/* A clock behind the last writer's must not make a count last
	 * longer than it would on that writer's host. */
	if (!found || s.last < now)
		s.last = now;
	memcpy(s.key, k->bytes, PENALTY_KEY_SIZE);
	encode_slot(&s, b);
	if (io_write_at(fd, b, sizeof(b), slot_offset(at)) < 0)
		return -1;
	*count_out = n;
	return 0;
}

static int
look_up(int fd, uint64_t salt, const struct penalty_key *k, int64_t now,
    uint32_t *count_out)
{
	struct slot s;
	size_t at;
	bool found;

	if (probe(fd, salt, k, now, &at, &s, &found) < 0)
		return -1;
	*count_out = found ? effective(&s, now) : 0;
	return 0;
}

/* The work of penalty_update, under the lock. */
static enum penalty_status
update_locked(struct penalty *p, const struct penalty_key *keys, size_t n,
    bool add, int64_t now, unsigned *counts_out)
{
	enum penalty_status st;
	uint64_t salt;
	uint32_t c;
	size_t i;

	st = check_table(p, &salt);
	if (st != PENALTY_OK)
		return st;
	for (i = 0; i < n; i++) {
		if (add ? add_failure(p->fd, salt, &keys[i], now, &c) :
		    look_up(p->fd, salt, &keys[i], now, &c))
			return give_up(p, add ? "update" : "read");
		counts_out[i] = c;
	}
	/* Before the lock goes: the next holder may be on another host. */
	if (add && n > 0 && fdatasync(p->fd) < 0)
		return give_up(p, "fdatasync");
	return PENALTY_OK;
}

enum penalty_status
penalty_update(struct penalty *p, const struct penalty_key *keys, size_t n,
    bool add, int64_t now, unsigned *counts_out)
{
	enum penalty_status st;
	size_t i;

	for (i = 0; i < n; i++)
		counts_out[i] = 0;
	if (p->off)
		return PENALTY_OFF;
	if (p->fd < 0 && (st = open_table(p)) != PENALTY_OK)
		return st;
	if (lock_table(p->fd, F_WRLCK) < 0)
		return give_up(p, "lock");
	st = update_locked(p, keys, n, add, now, counts_out);
	if (st != PENALTY_OK) {
		for (i = 0; i < n; i++)
			counts_out[i] = 0;
		return st;	/* closed: the lock went with it */
	}
	(void)lock_table(p->fd, F_UNLCK);
	return PENALTY_OK;
}
