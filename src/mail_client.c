/* SPDX-License-Identifier: MIT */
/* mail_client: the write-up's HomeClient. Send mail over SMTP, manage the
 * mailbox over POP3, from a terminal or a script (SPEC §6). */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "handler.h"
#include "str.h"
#include "userdb.h"

#define CLIENT_TIMEOUT_MAX	3600

static void __attribute__((noreturn))
usage(void)
{
	(void)fprintf(stderr, "usage: mail_client [-t SECS] SERVER [SMTP_PORT "
	    "[POP3_PORT]]\n");
	exit(2);
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
	const char *host, *smtp_port = "25", *pop3_port = "110";
	struct typed_mail m;
	int timeout_s = CLIENT_TIMEOUT_DEFAULT, opt, rc, status = 0;
	uint64_t n;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't' ||
		    handler_number(optarg, 1, CLIENT_TIMEOUT_MAX, &n) < 0)
			usage();
		timeout_s = (int)n;
	}
	if (argc - optind < 1 || argc - optind > 3)
		usage();
	host = argv[optind];
	if (argc - optind > 1)
		smtp_port = argv[optind + 1];
	if (argc - optind > 2)
		pop3_port = argv[optind + 2];

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
				rc = smtp_send(host, smtp_port, timeout_s, &m);
				mail_free(&m);
				if (rc < 0) {
					status = 1;	/* no server */
					break;
				}
			}
		} else if (rc == 0 && strcmp(choice, "2") == 0) {
			/* QUIT ends the program, as the write-up says. */
			rc = pop3_manage(host, pop3_port, timeout_s, user,
			    sizeof(user), pass, sizeof(pass));
			str_wipe(pass, sizeof(pass));
			return rc;
		}
	}
	str_wipe(pass, sizeof(pass));
	return status;
}
