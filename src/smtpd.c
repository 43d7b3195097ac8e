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
	(void)fprintf(stderr, "usage: sockmail-smtpd " HANDLER_USAGE
	    " [-s BYTES] [-q BYTES]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct handler_options opts = {
		.root = ".",
		.timeout_s = SMTP_TIMEOUT_DEFAULT,
		.lifetime_s = SMTP_LIFETIME_DEFAULT,
	};
	struct smtp_config cfg = { .size_max = SMTP_SIZE_DEFAULT };
	struct handler_env env;
	struct fd_transport ft;
	int opt, status;

	while ((opt = getopt(argc, argv, HANDLER_OPTSTRING "s:q:")) != -1) {
		switch (handler_option(&opts, opt, optarg)) {
		case 1:
			continue;
		case -1:
			usage();
		}
		switch (opt) {
		case 's':
			if (handler_number(optarg, 1, UINT64_MAX / 2,
			    &cfg.size_max) < 0)
				usage();
			break;
		case 'q':
			/* 0: no quota. The bound is the largest file length. */
			if (handler_number(optarg, 0, UINT64_MAX / 2,
			    &cfg.quota) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || handler_options_check(&opts) < 0)
		usage();

	switch (handler_start(&opts, "sockmail-smtpd", &ft,
	    "421 %s Service not available, closing transmission channel",
	    &env)) {
	case HANDLER_READY:
		break;
	case HANDLER_REFUSED:
		return 1;
	case HANDLER_DROPPED:
		return 0;	/* a client's failure, like a failed handshake */
	}
	cfg.root_fd = env.root_fd;
	cfg.tls = env.tls;
	cfg.domain = opts.domain;
	cfg.timeout_s = opts.timeout_s;
	cfg.lifetime_s = opts.lifetime_s;
	status = smtp_session_run(&cfg, &ft.base);
	handler_end();
	return status;
}
