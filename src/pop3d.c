/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d: the POP3 handler for one connection on fds 0 and 1. main
 * only parses options and wires up the descriptors; the session lives in
 * pop3d-session.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "handler.h"
#include "penalty.h"
#include "transport.h"

#define FAIL_DELAY_MAX	60
#define PENALTY_CAP_MAX	3600

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: sockmail-pop3d " HANDLER_USAGE
	    " [-S] [-f SECS] [-F SECS] [-L FILE|none] [-a]\n");
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
	struct pop3_config cfg = {
		.fail_delay_s = POP3_FAIL_DELAY_DEFAULT,
		.penalty_cap_s = POP3_PENALTY_CAP_DEFAULT,
	};
	const char *penalty_file = PENALTY_FILE;
	struct penalty penalty;
	struct handler_env env;
	struct fd_transport ft;
	uint64_t n;
	int opt, status;

	while ((opt = getopt(argc, argv, HANDLER_OPTSTRING "f:F:L:aS")) != -1) {
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
		case 'F':
			if (handler_number(optarg, 0, PENALTY_CAP_MAX, &n) < 0)
				usage();
			cfg.penalty_cap_s = (int)n;
			break;
		case 'L':
			if (optarg[0] == '\0')
				usage();
			penalty_file = optarg;
			break;
		case 'a':
			cfg.apop = true;
			break;
		case 'S':
			cfg.implicit_tls = opts.tls_at_start = true;
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
	cfg.has_peer_addr = env.has_peer_addr;
	cfg.peer_addr = env.peer_addr;
	/* Opened at the first login attempt: a session without one leaves
	 * the file alone. */
	penalty_init(&penalty, env.root_fd, penalty_file);
	if (strcmp(penalty_file, "none") != 0)
		cfg.penalty = &penalty;
	status = pop3_session_run(&cfg, &ft.base);
	penalty_free(&penalty);
	handler_end();
	return status;
}
