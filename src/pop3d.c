/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d: the POP3 handler for one connection on fds 0 and 1. main
 * only parses options and wires up the descriptors; the session lives in
 * pop3d-session.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pop3d.h"
#include "handler.h"
#include "transport.h"

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
	struct handler_options opts = {
		.root = ".",
		.timeout_s = POP3_TIMEOUT_DEFAULT,
	};
	struct pop3_config cfg = { .fail_delay_s = POP3_FAIL_DELAY_DEFAULT };
	struct fd_transport ft;
	uint64_t n;
	int opt;

	while ((opt = getopt(argc, argv, "d:n:t:f:a")) != -1) {
		switch (handler_option(&opts, opt, optarg)) {
		case 1:
			continue;
		case -1:
			usage();
		}
		switch (opt) {
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

	/* The domain is only for the APOP timestamp here. */
	cfg.root_fd = handler_start(&opts, "sockmail-pop3d", &ft,
	    "-ERR [SYS/PERM] mail root unavailable");
	if (cfg.root_fd < 0)
		return 1;
	cfg.domain = opts.domain;
	cfg.timeout_s = opts.timeout_s;
	return pop3_session_run(&cfg, &ft.base);
}
