/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d: the POP3 handler for one connection on fds 0 and 1. main
 * only parses options and wires up the descriptors; the session lives in
 * pop3d-session.c. */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "handler.h"
#include "log.h"
#include "transport.h"

#define TIMEOUT_MAX	86400
#define FAIL_DELAY_MAX	60

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: sockmail-pop3d [-d MAILROOT] [-n DOMAIN] "
	    "[-t SECS] [-f SECS] [-a]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static char hostname[POP3_DOMAIN_MAX + 1];
	struct pop3_config cfg = {
		.root_fd = -1,
		.domain = NULL,
		.timeout_s = POP3_TIMEOUT_DEFAULT,
		.fail_delay_s = POP3_FAIL_DELAY_DEFAULT,
		.apop = false,
	};
	const char *root = ".";
	char peer[64];
	struct fd_transport ft;
	uint64_t n;
	int opt;

	while ((opt = getopt(argc, argv, "d:n:t:f:a")) != -1) {
		switch (opt) {
		case 'd':
			root = optarg;
			break;
		case 'n':
			if (optarg[0] == '\0' ||
			    strlen(optarg) > POP3_DOMAIN_MAX)
				usage();
			cfg.domain = optarg;
			break;
		case 't':
			if (handler_number(optarg, 1, TIMEOUT_MAX, &n) < 0)
				usage();
			cfg.timeout_s = (int)n;
			break;
		case 'f':
			if (handler_number(optarg, 0, FAIL_DELAY_MAX, &n) < 0)
				usage();
			cfg.fail_delay_s = (int)n;
			break;
		case 'a':
			cfg.apop = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (cfg.domain == NULL) {
		handler_hostname(hostname, sizeof(hostname));
		cfg.domain = hostname;
	}

	(void)signal(SIGPIPE, SIG_IGN);
	handler_peer(STDIN_FILENO, peer, sizeof(peer));
	log_init("sockmail-pop3d", peer);
	fd_transport_init(&ft, STDIN_FILENO, STDOUT_FILENO);

	cfg.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfg.root_fd < 0) {
		log_event(LOG_ERR, "fatal", "cannot open the mail root %s: %m",
		    root);
		handler_refuse(&ft.base, "-ERR [SYS/PERM] mail root "
		    "unavailable\r\n");
		return 1;
	}
	return pop3_session_run(&cfg, &ft.base);
}
