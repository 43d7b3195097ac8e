/* SPDX-License-Identifier: MIT */
/* smtp-load: an SMTP load generator for the benchmarks, for what
 * smtp-source (Postfix's) cannot do: STARTTLS. MSGS messages of SIZE
 * octets, MSGS-PER-CONNECTION on each connection, CONCURRENCY connections
 * at a time (one thread each), every connection: greeting, EHLO,
 * optionally STARTTLS and EHLO again, then for each message MAIL, RCPT,
 * DATA, the message, and QUIT; one command at a time (no pipelining).
 * Prints the same line as pop3-load (load.c): messages, seconds,
 * messages/s, the latency of a connection as p50/p90/p99 in ms, MB/s sent,
 * its own CPU seconds. Any reply other than the one expected fails the run
 * (exit 1): a benchmark of failures measures nothing.
 *
 *   smtp-load [-h HOST] [-p PORT] [-f FROM] [-t TO] [-n MSGS]
 *             [-c CONCURRENCY] [-s SIZE] [-m MSGS-PER-CONNECTION]
 *             [-T starttls]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

struct smtp {
	char		 mail[600], rcpt[600];
	char		*message;	/* headers, body, the "." line */
	size_t		 message_len;
	long		 per_connection;
	bool		 starttls;
};

/* Send cmd (NULL: none, for the greeting) and read a reply, all its
 * lines; -1 unless its code is code. */
static int
reply(struct conn *c, const char *cmd, const char *code)
{
	const char *line;
	size_t len;

	if (cmd != NULL && conn_send(c, cmd) < 0)
		return -1;
	do {
		if (conn_line(c, &line, &len) < 0 || len < 5 ||
		    strncmp(line, code, 3) != 0)
			return -1;
	} while (line[3] == '-');
	return line[3] == ' ' || line[3] == '\r' ? 0 : -1;
}

static int
smtp_session(struct conn *c, const void *arg, long worker, uint64_t *octets)
{
	const struct smtp *o = arg;
	long i;

	(void)worker;
	if (reply(c, NULL, "220") < 0 ||
	    reply(c, "EHLO bench.localhost\r\n", "250") < 0)
		return -1;
	if (o->starttls && (reply(c, "STARTTLS\r\n", "220") < 0 ||
	    conn_tls(c) < 0 || reply(c, "EHLO bench.localhost\r\n", "250") < 0))
		return -1;
	for (i = 0; i < o->per_connection; i++) {
		if (reply(c, o->mail, "250") < 0 ||
		    reply(c, o->rcpt, "250") < 0 ||
		    reply(c, "DATA\r\n", "354") < 0 ||
		    conn_write(c, o->message, o->message_len) < 0 ||
		    reply(c, NULL, "250") < 0)
			return -1;
		*octets += o->message_len;
	}
	return reply(c, "QUIT\r\n", "221");
}

/* About size octets: headers, then lines of 62 x's (never a leading dot),
 * then the end-of-data line. */
static int
make_message(struct smtp *o, const char *from, const char *to, long size)
{
	size_t at, n;
	int k;

	n = (size_t)size + 1200;
	if ((o->message = malloc(n)) == NULL)
		return -1;
	k = snprintf(o->message, n, "From: <%s>\r\nTo: <%s>\r\n"
	    "Subject: smtp-load\r\n\r\n", from, to);
	if (k < 0 || (size_t)k >= n)
		return -1;
	at = (size_t)k;
	while (at + 64 <= (size_t)size) {
		memset(o->message + at, 'x', 62);
		memcpy(o->message + at + 62, "\r\n", 2);
		at += 64;
	}
	memcpy(o->message + at, ".\r\n", 3);
	o->message_len = at + 3;
	return 0;
}

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: smtp-load [-h HOST] [-p PORT] [-f FROM] "
	    "[-t TO] [-n MSGS] [-c CONCURRENCY] [-s SIZE]\n"
	    "                 [-m MSGS-PER-CONNECTION] [-T starttls]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct smtp o;
	struct load l = { "smtp-load", "127.0.0.1", "25", 0, 1, 1,
	    "messages", false, false, smtp_session, &o };
	const char *from = "bench@localhost", *to = "sink@localhost";
	long msgs = 100, size = 1024;
	int opt;

	o.per_connection = 1;
	while ((opt = getopt(argc, argv, "h:p:f:t:n:c:s:m:T:")) != -1) {
		switch (opt) {
		case 'h': l.host = optarg; break;
		case 'p': l.port = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'n': msgs = load_number(optarg, l.name); break;
		case 'c': l.concurrency = load_number(optarg, l.name); break;
		case 's': size = load_number(optarg, l.name); break;
		case 'm': o.per_connection = load_number(optarg, l.name); break;
		case 'T':
			if (strcmp(optarg, "starttls") != 0)
				usage();
			o.starttls = l.tls = true;
			break;
		default: usage();
		}
	}
	if (optind != argc || msgs < 1 || o.per_connection < 1 ||
	    msgs % o.per_connection != 0 || size < 0 || strlen(from) > 500 ||
	    strlen(to) > 500)
		usage();
	l.sessions = msgs / o.per_connection;
	l.units = o.per_connection;
	if (l.concurrency < 1 || l.concurrency > l.sessions)
		usage();
	(void)snprintf(o.mail, sizeof(o.mail), "MAIL FROM:<%s>\r\n", from);
	(void)snprintf(o.rcpt, sizeof(o.rcpt), "RCPT TO:<%s>\r\n", to);
	if (make_message(&o, from, to, size) < 0)
		return 1;
	opt = load_run(&l);
	free(o.message);
	return opt;
}
