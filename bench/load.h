/* SPDX-License-Identifier: MIT */
/* load.h: what bench/pop3-load and bench/smtp-load share: a connection
 * (plain or TLS 1.3, with a line reader), and a run of SESSIONS sessions
 * CONCURRENCY at a time, one thread each, timed, with one output line. Each
 * program brings only its protocol's session. */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef HAVE_OPENSSL
#include <openssl/ssl.h>
#endif

/* One connection: a socket, TLS once started, and a read buffer. */
struct conn {
	int		 fd;
#ifdef HAVE_OPENSSL
	SSL		*ssl;
#endif
	char		 buf[65536];
	size_t		 start, end;
};

int	conn_tls(struct conn *);
int	conn_write(struct conn *, const char *, size_t);
int	conn_send(struct conn *, const char *);
int	conn_line(struct conn *, const char **, size_t *);

/* One session on an open connection (TLS already up when implicit): the
 * worker's number (1 to CONCURRENCY), and the octets it moved added to
 * *octets. 0, or -1 on any error. */
typedef int	(*session_fn)(struct conn *, const void *arg, long worker,
		    uint64_t *octets);

struct load {
	const char	*name;		/* "pop3-load", for messages */
	const char	*host, *port;
	long		 sessions, concurrency;
	long		 units;		/* counted per session: 1, or messages */
	const char	*unit;		/* "sessions", "messages" */
	bool		 implicit_tls;	/* TLS right after connecting */
	bool		 tls;		/* TLS at all: the context is made */
	session_fn	 session;
	const void	*arg;
};

/* Runs the sessions and prints the line: "UNIT N concurrency C seconds S
 * UNIT/s R p50_ms A p90_ms B p99_ms C MB/s M client_cpu_s U". The exit
 * status for main: 0, or 1 when any session failed. */
int	load_run(const struct load *);

long	load_number(const char *, const char *name);

#endif
