/* SPDX-License-Identifier: MIT */
/* sockmail-smtpd: the SMTP handler for one connection on fds 0 and 1. main
 * only parses options and wires up the descriptors; the session lives in
 * smtpd-session.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "smtpd.h"
#include "handler.h"
#include "transport.h"

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
	struct handler_options opts = {
		.root = ".",
		.timeout_s = SMTP_TIMEOUT_DEFAULT,
	};
	struct smtp_config cfg = { .size_max = SMTP_SIZE_DEFAULT };
	struct fd_transport ft;
	int opt;

	while ((opt = getopt(argc, argv, "d:n:t:s:")) != -1) {
		switch (handler_option(&opts, opt, optarg)) {
		case 1:
			continue;
		case -1:
			usage();
		}
		if (opt != 's' || handler_number(optarg, 1, UINT64_MAX / 2,
		    &cfg.size_max) < 0)
			usage();
	}
	if (optind != argc)
		usage();

	cfg.root_fd = handler_start(&opts, "sockmail-smtpd", &ft,
	    "421 %s Service not available, closing transmission channel");
	if (cfg.root_fd < 0)
		return 1;
	cfg.domain = opts.domain;
	cfg.timeout_s = opts.timeout_s;
	return smtp_session_run(&cfg, &ft.base);
}
