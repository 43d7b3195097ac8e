/* SPDX-License-Identifier: MIT */
/* mail_client: the write-up's HomeClient. Send mail over SMTP, manage the
 * mailbox over POP3, from a terminal or a script (mail_client(1)). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "handler.h"
#include "log.h"
#include "str.h"
#include "userdb.h"

#define CLIENT_TIMEOUT_MAX	3600

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: mail_client [-t SECS] [--tls | --no-tls] "
	    "[--pop3s]\n"
	    "                   [--tls-trust-file FILE] [--insecure] "
	    "SERVER [SMTP_PORT [POP3_PORT]]\n");
	exit(2);
}

enum {
	OPT_TLS = 256,
	OPT_NO_TLS,
	OPT_POP3S,
	OPT_TRUST_FILE,
	OPT_INSECURE,
};

/* The options, all on the command line: nothing else (no environment
 * variable, no file) can weaken TLS, so --insecure is always the user's
 * own word, given for this run. */
static void
parse_options(int argc, char **argv, struct client_opts *o)
{
	static const struct option longopts[] = {
		{ "tls",		no_argument,		NULL, OPT_TLS },
		{ "no-tls",		no_argument,		NULL, OPT_NO_TLS },
		{ "pop3s",		no_argument,		NULL, OPT_POP3S },
		{ "tls-trust-file",	required_argument,	NULL, OPT_TRUST_FILE },
		{ "insecure",		no_argument,		NULL, OPT_INSECURE },
		{ NULL,			0,			NULL, 0 },
	};
	bool tls = false, no_tls = false;
	uint64_t n;
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "t:", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (handler_number(optarg, 1, CLIENT_TIMEOUT_MAX,
			    &n) < 0)
				usage();
			o->timeout_s = (int)n;
			break;
		case OPT_TLS:
			tls = true;
			break;
		case OPT_NO_TLS:
			no_tls = true;
			break;
		case OPT_POP3S:
			o->pop3s = true;
			break;
		case OPT_TRUST_FILE:
			o->trust.trust_file = optarg;
			break;
		case OPT_INSECURE:
			o->trust.insecure = true;
			break;
		default:
			usage();
		}
	}
	if ((tls && no_tls) || (no_tls && o->pop3s) ||
	    argc - optind < 1 || argc - optind > 3)
		usage();
	o->tls = tls ? CLIENT_TLS_REQUIRED : no_tls ? CLIENT_TLS_OFF :
	    CLIENT_TLS_OFFERED;
	/* Built without OpenSSL (./configure --without-openssl): clear text
	 * only, unless TLS was asked for by name. */
	if (!tls_available()) {
		if (tls || o->pop3s) {
			(void)fprintf(stderr, "mail_client: built without "
			    "TLS, so --tls and --pop3s cannot be had\n");
			exit(1);
		}
		o->tls = CLIENT_TLS_OFF;
	}
	o->host = argv[optind];
	o->smtp_port = argc - optind > 1 ? argv[optind + 1] : "25";
	o->pop3_port = argc - optind > 2 ? argv[optind + 2] :
	    o->pop3s ? "995" : "110";
	/* A trust file that cannot be read is said at once, not after the
	 * password was typed; OpenSSL reads it at each connection. */
	if (o->trust.trust_file != NULL) {
		fd = open(o->trust.trust_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			(void)fprintf(stderr, "mail_client: cannot read %s: "
			    "%s\n", o->trust.trust_file, strerror(errno));
			exit(1);
		}
		(void)close(fd);
	}
	if (o->trust.insecure && o->tls != CLIENT_TLS_OFF)
		log_event(LOG_WARNING, "tls", "--insecure: the server's "
		    "certificate is not checked");
}

/* Ask for a credential until one is given. Returns 0, or -1 at the end of
 * input. */
static int
ask(const char *prompt, char *buf, size_t size, bool secret)
{
	int rc;

	do
		rc = secret ? input_password(prompt, buf, size) :
		    input_line(prompt, buf, size);
	while (rc > 0 || (rc == 0 && buf[0] == '\0'));
	return rc;
}

int
main(int argc, char **argv)
{
	char user[USERDB_LOGIN_MAX + 1], pass[USERDB_PASSWORD_MAX + 1];
	char choice[CLIENT_LINE_MAX];
	struct client_opts o = { .timeout_s = CLIENT_TIMEOUT_DEFAULT };
	struct typed_mail m;
	int rc, status = 0;

	/* What the TLS module has to say goes to the user, one plain line
	 * each ("mail_client: ..."), on stderr. */
	log_init_user("mail_client");
	parse_options(argc, argv, &o);

	(void)signal(SIGPIPE, SIG_IGN);
	/* Lines must come out in order with what the user types. */
	(void)setvbuf(stdout, NULL, _IOLBF, 0);
	input_init();
	if (ask("Username: ", user, sizeof(user), false) < 0 ||
	    ask("Password: ", pass, sizeof(pass), true) < 0)
		return 0;
	for (;;) {
		(void)printf("1. Mail Sending\n2. Mail Management\n3. Exit\n");
		rc = input_line("Choose 1, 2 or 3: ", choice, sizeof(choice));
		if (rc < 0 || (rc == 0 && strcmp(choice, "3") == 0))
			break;
		if (rc == 0 && strcmp(choice, "1") == 0) {
			rc = mail_read(&m);
			if (rc < 0)
				break;
			if (rc == 0) {
				rc = smtp_send(&o, &m);
				mail_free(&m);
				if (rc < 0) {
					status = 1;	/* no server */
					break;
				}
			}
		} else if (rc == 0 && strcmp(choice, "2") == 0) {
			/* QUIT ends the program, as the write-up says. */
			rc = pop3_manage(&o, user, sizeof(user), pass,
			    sizeof(pass));
			str_wipe(pass, sizeof(pass));
			return rc;
		}
	}
	str_wipe(pass, sizeof(pass));
	return status;
}
