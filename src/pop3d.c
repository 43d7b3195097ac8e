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
	(void)fprintf(stderr, "usage: sockmail-pop3d " HANDLER_USAGE
	    " [-S] [-f SECS] [-a]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct handler_options opts = {
		.root = ".",
		.timeout_s = POP3_TIMEOUT_DEFAULT,
		.lifetime_s = POP3_LIFETIME_DEFAULT,
	};
	struct pop3_config cfg = { .fail_delay_s = POP3_FAIL_DELAY_DEFAULT };
	struct handler_env env;
	struct fd_transport ft;
	uint64_t n;
	int opt, status;

	while ((opt = getopt(argc, argv, HANDLER_OPTSTRING "f:aS")) != -1) {
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
		case 'S':
			cfg.implicit_tls = true;
			break;
		default:
			usage();
		}
	}
	/* -S without a certificate cannot work. */
	if (optind != argc || handler_options_check(&opts) < 0 ||
	    (cfg.implicit_tls && opts.cert_file == NULL))
		usage();

	/* The domain is only for the APOP timestamp here. */
	/* "%.0s": the domain is not part of this reply. */
	switch (handler_start(&opts, "sockmail-pop3d", &ft,
	    "-ERR [SYS/PERM] %.0s%s unavailable", &env)) {
	case HANDLER_READY:
		break;
	case HANDLER_REFUSED:
		return 1;
	case HANDLER_DROPPED:
		return 0;	/* a client's failure, like a failed handshake */
	}
	cfg.root_fd = env.root_fd;
	cfg.tls = env.tls;
	cfg.auth_needs_tls = env.auth_needs_tls;
	cfg.domain = opts.domain;
	cfg.timeout_s = opts.timeout_s;
	cfg.lifetime_s = opts.lifetime_s;
	status = pop3_session_run(&cfg, &ft.base);
	handler_end();
	return status;
}
