/* SPDX-License-Identifier: MIT */
/* pop3-load: a POP3 load generator for the benchmarks. SESSIONS sessions,
 * CONCURRENCY at a time (one thread each), every one: connect, optionally
 * TLS (STLS, or implicit as for pop3s), USER, PASS, STAT, LIST, RETR of the
 * first K messages, QUIT. A "%d" in USER becomes the thread's number (1 to
 * CONCURRENCY): RFC 1939 gives a maildrop to one session at a time, so
 * concurrent sessions need a user each. Prints sessions/s, latency
 * percentiles, the octets retrieved and the generator's own CPU time, so a
 * run shows whether the generator or the server was the bottleneck (load.c,
 * shared with smtp-load). Fails (exit 1) on any error reply or broken
 * session: a benchmark of failures measures nothing.
 *
 *   pop3-load [-h HOST] [-p PORT] [-u USER] [-w PASS] [-n SESSIONS]
 *             [-c CONCURRENCY] [-k RETR] [-T stls|implicit]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

struct pop3 {
	const char	*user, *pass;
	long		 retr;
	bool		 stls;
};

/* Send cmd (NULL: none, for the greeting) and read a +OK status line, then
 * a multi-line body when multi; *octets counts the body's bytes. */
static int
exchange(struct conn *c, const char *cmd, bool multi, uint64_t *octets)
{
	const char *line;
	size_t len;

	if (cmd != NULL && conn_send(c, cmd) < 0)
		return -1;
	if (conn_line(c, &line, &len) < 0 || len < 3 ||
	    strncmp(line, "+OK", 3) != 0)
		return -1;
	while (multi) {
		if (conn_line(c, &line, &len) < 0)
			return -1;
		if (len == 3 && memcmp(line, ".\r\n", 3) == 0)
			break;
		*octets += len;
	}
	return 0;
}

/* pattern with its first "%d" replaced by number. */
static void
user_name(char *buf, size_t size, const char *pattern, long number)
{
	const char *d = strstr(pattern, "%d");

	if (d == NULL)
		(void)snprintf(buf, size, "%s", pattern);
	else
		(void)snprintf(buf, size, "%.*s%ld%s", (int)(d - pattern),
		    pattern, number, d + 2);
}

static int
pop3_session(struct conn *c, const void *arg, long worker, uint64_t *octets)
{
	const struct pop3 *o = arg;
	char cmd[600], user[520];
	long i;

	if (exchange(c, NULL, false, octets) < 0)
		return -1;
	if (o->stls && (exchange(c, "STLS\r\n", false, octets) < 0 ||
	    conn_tls(c) < 0))
		return -1;
	user_name(user, sizeof(user), o->user, worker);
	(void)snprintf(cmd, sizeof(cmd), "USER %s\r\n", user);
	if (exchange(c, cmd, false, octets) < 0)
		return -1;
	(void)snprintf(cmd, sizeof(cmd), "PASS %s\r\n", o->pass);
	if (exchange(c, cmd, false, octets) < 0 ||
	    exchange(c, "STAT\r\n", false, octets) < 0 ||
	    (o->retr > 0 && exchange(c, "LIST\r\n", true, octets) < 0))
		return -1;
	for (i = 1; i <= o->retr; i++) {
		(void)snprintf(cmd, sizeof(cmd), "RETR %ld\r\n", i);
		if (exchange(c, cmd, true, octets) < 0)
			return -1;
	}
	return exchange(c, "QUIT\r\n", false, octets);
}

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: pop3-load [-h HOST] [-p PORT] [-u USER] "
	    "[-w PASS] [-n SESSIONS] [-c CONCURRENCY] [-k RETR] "
	    "[-T stls|implicit]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct pop3 o = { "bench", "benchpw", 0, false };
	struct load l = { "pop3-load", "127.0.0.1", "110", 100, 1, 1,
	    "sessions", false, false, pop3_session, &o };
	int opt;

	while ((opt = getopt(argc, argv, "h:p:u:w:n:c:k:T:")) != -1) {
		switch (opt) {
		case 'h': l.host = optarg; break;
		case 'p': l.port = optarg; break;
		case 'u': o.user = optarg; break;
		case 'w': o.pass = optarg; break;
		case 'n': l.sessions = load_number(optarg, l.name); break;
		case 'c': l.concurrency = load_number(optarg, l.name); break;
		case 'k': o.retr = load_number(optarg, l.name); break;
		case 'T':
			if (strcmp(optarg, "stls") == 0)
				o.stls = true;
			else if (strcmp(optarg, "implicit") == 0)
				l.implicit_tls = true;
			else
				usage();
			l.tls = true;
			break;
		default: usage();
		}
	}
	if (optind != argc || l.sessions < 1 || l.concurrency < 1 ||
	    o.retr < 0 || l.concurrency > l.sessions || strlen(o.user) > 500 ||
	    strlen(o.pass) > 500)
		usage();
	return load_run(&l);
}
