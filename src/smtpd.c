/* SPDX-License-Identifier: MIT */
/* sockmail-smtpd: the SMTP handler for one connection on fds 0 and 1. main
 * only parses options and wires up the descriptors; the session lives in
 * smtpd-session.c. */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd.h"
#include "handler.h"
#include "log.h"
#include "transport.h"

#define TIMEOUT_MAX	86400

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: sockmail-smtpd [-d MAILROOT] [-n DOMAIN] "
	    "[-t SECS] [-s BYTES]\n");
	exit(2);
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
	char peer[64], line[SMTP_REPLY_MAX];
	struct fd_transport ft;
	uint64_t n;
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
			if (handler_number(optarg, 1, TIMEOUT_MAX, &n) < 0)
				usage();
			cfg.timeout_s = (int)n;
			break;
		case 's':
			if (handler_number(optarg, 1, UINT64_MAX / 2,
			    &cfg.size_max) < 0)
				usage();
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

	/* A vanished client must show up as a failed write, not kill us. */
	(void)signal(SIGPIPE, SIG_IGN);
	handler_peer(STDIN_FILENO, peer, sizeof(peer));
	log_init("sockmail-smtpd", peer);
	fd_transport_init(&ft, STDIN_FILENO, STDOUT_FILENO);

	cfg.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfg.root_fd < 0) {
		log_event(LOG_ERR, "fatal", "cannot open the mail root %s: %m",
		    root);
		(void)snprintf(line, sizeof(line), "421 %s Service not "
		    "available, closing transmission channel\r\n", cfg.domain);
		handler_refuse(&ft.base, line);
		return 1;
	}
	return smtp_session_run(&cfg, &ft.base);
}
