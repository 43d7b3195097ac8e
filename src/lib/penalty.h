/* SPDX-License-Identifier: MIT */
/* The penalty table: failed logins counted per client address and per
 * login in one small file, so that a delay earned on one connection
 * follows the client to the next one, to every other handler process and
 * to every host that shares the mail root.
 *
 * THE FILE, written here once. A 32-byte header, then PENALTY_SLOTS slots
 * of 32 bytes; the file never grows past PENALTY_FILE_SIZE. Numbers are
 * little-endian, whatever the host, since several hosts may share it.
 *
 *   header  magic "sockpnlt", version (1), slots, slot size, 4 bytes
 *           zero, a random salt for the slot hash (so that no one can
 *           pick keys that land in one place);
 *   slot    kind (0 empty, 1 address, 2 login), 3 bytes zero, failure
 *           count (32 bits), time of the last failure (CLOCK_REALTIME
 *           seconds, 64 bits: hosts share it, so no monotonic clock), and
 *           a 16-byte key.
 *
 * A key lives in one of PENALTY_PROBE slots after its hash. When none of
 * them holds it, a failure takes the first empty or decayed slot there,
 * else the one with the lowest count now (ties: the oldest), so the keys
 * that failed most stay longest.
 *
 * Counts decay: one failure is forgotten every PENALTY_DECAY_S seconds
 * after the last one. What a count is worth now is its "effective" count;
 * a new failure stores the effective count plus one.
 *
 * Locks and other hosts. Every look-up and update holds an fcntl write
 * lock on the whole file, for a few reads and writes only. Once granted,
 * the holder looks past a network file system's client caches
 * (store_fresh_stat, store.h "Other hosts"); an update is written with
 * pwrite and fdatasync'ed before the lock is let go, so the next holder,
 * on any host, sees it.
 *
 * A file that is not ours (not a regular file, a link, another size, a
 * foreign header) is never written: the table is then off for the
 * process, and the caller carries on without it. An empty file (made by
 * tmpfiles.d) or one whose initialisation was cut short (it begins with
 * the magic or a part of it, and is shorter than a table) is initialised
 * under the lock. */
#ifndef SOCKMAIL_PENALTY_H
#define SOCKMAIL_PENALTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define PENALTY_FILE		"auth-penalty"	/* default, in the mail root */
#define PENALTY_SLOTS		4096		/* a power of two */
#define PENALTY_SLOT_SIZE	32
#define PENALTY_HEADER_SIZE	32
#define PENALTY_FILE_SIZE	(PENALTY_HEADER_SIZE + \
				 PENALTY_SLOTS * PENALTY_SLOT_SIZE)
#define PENALTY_PROBE		8
#define PENALTY_DECAY_S		60
/* A week of decay: how long the worst offender is remembered. */
#define PENALTY_COUNT_MAX	10080
#define PENALTY_KEY_SIZE	16

enum penalty_kind {
	PENALTY_EMPTY = 0,
	PENALTY_ADDRESS = 1,
	PENALTY_LOGIN = 2,
};

struct penalty_key {
	enum penalty_kind kind;
	unsigned char	 bytes[PENALTY_KEY_SIZE];
};

/* A handle on the table file, opened on first use. */
struct penalty {
	int		 dir_fd;	/* name is relative to it (not owned) */
	const char	*name;		/* not owned */
	int		 fd;		/* -1 until opened */
	bool		 off;		/* given up on: never tried again */
	bool		 remote;	/* on a network file system */
	const char	*why;		/* what made it give up */
};

enum penalty_status {
	PENALTY_OK,
	/* The table cannot be used, from now on: p->why says what went
	 * wrong, errno why (0 when the file's content is to blame). Returned
	 * once per handle, so the caller logs it once. */
	PENALTY_BROKEN,
	PENALTY_OFF,		/* broken before */
};

/* Set p up for the table name under dir_fd (an absolute name ignores
 * dir_fd). Nothing is opened yet. */
void	penalty_init(struct penalty *p, int dir_fd, const char *name);

/* Close the table. */
void	penalty_free(struct penalty *p);

/* The key of a client address: an IPv4 address, or the /64 prefix of an
 * IPv6 one (the least a site is given, RFC 6177), an IPv4-mapped IPv6
 * address counting as its IPv4 address. Returns 0, or -1 (EAFNOSUPPORT)
 * for any other family. */
int	penalty_key_addr(const struct sockaddr *sa, struct penalty_key *k_out);

/* The key of a login: a 64-bit hash of the login in ASCII lower case, and
 * its length. */
void	penalty_key_login(const char *login, struct penalty_key *k_out);

/* Under one lock: with add, record one failure for each of keys[0..n) at
 * now (CLOCK_REALTIME seconds); then put each key's effective count at
 * now in counts_out[i]. Keys are taken in order; the same key twice counts
 * twice. On PENALTY_BROKEN or PENALTY_OFF nothing was recorded and
 * counts_out is all zero. */
enum penalty_status penalty_update(struct penalty *p,
	    const struct penalty_key *keys, size_t n, bool add, int64_t now,
	    unsigned *counts_out);

/* The delay a count earns: 0 for none, else base_s doubled for every
 * failure after the first, at most cap_s: with 2 and 30, 2, 4, 8, 16, 30,
 * 30, ... seconds. */
unsigned penalty_delay(unsigned count, unsigned base_s, unsigned cap_s);

#endif
