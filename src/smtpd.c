/* SPDX-License-Identifier: MIT */
/* sockmail-smtpd: the SMTP handler for one connection on fds 0 and 1. main
 * only parses options and wires up the descriptors; the session lives in
 * smtpd-session.c. */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtpd.h"
#include "log.h"
#include "out.h"
#include "str.h"
#include "transport.h"

#define TIMEOUT_MAX	86400

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: sockmail-smtpd [-d MAILROOT] [-n DOMAIN] "
	    "[-t SECS] [-s BYTES]\n");
	exit(2);
}

static uint64_t
number_option(char opt, const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (parse_uint(arg, max, &v) != PARSE_UINT_OK || v < min) {
		(void)fprintf(stderr, "sockmail-smtpd: -%c wants a number from "
		    "%llu to %llu, not '%s'\n", opt, (unsigned long long)min,
		    (unsigned long long)max, arg);
		exit(2);
	}
	return v;
}

/* The client's address, for the logs only. */
static void
peer_name(char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *env = getenv("REMOTE_ADDR");
	const void *addr;

	if (env != NULL && str_copy(buf, size, env) == 0)
		return;
	(void)str_copy(buf, size, "local");
	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	else
		return;
	if (inet_ntop(ss.ss_family, addr, buf, (socklen_t)size) == NULL)
		(void)str_copy(buf, size, "unknown");
}

int
main(int argc, char **argv)
{
	static char hostname[SMTP_DOMAIN_MAX + 1];
	struct smtp_config cfg = {
		.root_fd = -1,
		.domain = NULL,
		.timeout_s = SMTP_TIMEOUT_DEFAULT,
		.size_max = SMTP_SIZE_DEFAULT,
	};
	const char *root = ".";
	char peer[64];
	struct fd_transport ft;
	int opt;

	while ((opt = getopt(argc, argv, "d:n:t:s:")) != -1) {
		switch (opt) {
		case 'd':
			root = optarg;
			break;
		case 'n':
			if (optarg[0] == '\0' ||
			    strlen(optarg) > SMTP_DOMAIN_MAX)
				usage();
			cfg.domain = optarg;
			break;
		case 't':
			cfg.timeout_s = (int)number_option('t', optarg, 1,
			    TIMEOUT_MAX);
			break;
		case 's':
			cfg.size_max = number_option('s', optarg, 1,
			    UINT64_MAX / 2);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (cfg.domain == NULL) {
		if (gethostname(hostname, sizeof(hostname)) < 0)
			(void)str_copy(hostname, sizeof(hostname), "localhost");
		hostname[sizeof(hostname) - 1] = '\0';
		cfg.domain = hostname;
	}

	/* A vanished client must show up as a failed write, not kill us. */
	(void)signal(SIGPIPE, SIG_IGN);
	peer_name(peer, sizeof(peer));
	log_init("sockmail-smtpd", peer);
	fd_transport_init(&ft, STDIN_FILENO, STDOUT_FILENO);

	cfg.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfg.root_fd < 0) {
		struct out o;
		char line[SMTP_REPLY_MAX];
		int n;

		log_event(LOG_ERR, "fatal", "cannot open the mail root %s: %m",
		    root);
		out_init(&o, &ft.base);
		n = snprintf(line, sizeof(line), "421 %s Service not available, "
		    "closing transmission channel\r\n", cfg.domain);
		if (n > 0 && (size_t)n < sizeof(line))
			(void)out_put(&o, line, (size_t)n);
		(void)out_flush(&o);
		return 1;
	}
	return smtp_session_run(&cfg, &ft.base);
}
