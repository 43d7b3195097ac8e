/* SPDX-License-Identifier: MIT */
/* Whole SMTP and POP3 sessions run in-process over a memory transport, as
 * a fuzzer will drive them: no fork, no exec, no file descriptors for the
 * client. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "tap.h"
#include "pop3d.h"
#include "smtpd.h"
#include "transport.h"

static char	root[] = "/tmp/sockmail-session-XXXXXX";
static int	root_fd = -1;

#define WRITEUP_IN \
	"HELO kuleuven.be\r\n" \
	"MAIL_FROM: <labxyz@kuleuven.be>\r\n" \
	"RCPT_TO: otherlab@kuleuven.be\r\n" \
	"DATA\r\n" \
	"From: labxyz@kuleuven.be\r\n" \
	"To: otherlab@kuleuven.be\r\n" \
	"Subject: Test\r\n" \
	"This is a test mail.\r\n" \
	".\r\n" \
	"QUIT\r\n"

#define WRITEUP_OUT \
	"220 kuleuven.be Service ready\r\n" \
	"250 OK Hello kuleuven.be\r\n" \
	"250 <labxyz@kuleuven.be>... Sender ok\r\n" \
	"250 otherlab... Recipient ok\r\n" \
	"354 Enter mail, end with \".\" on a line by itself\r\n" \
	"250 OK Message accepted for delivery\r\n" \
	"221 kuleuven.be Service closing transmission channel\r\n"

#define HEAD	"From: labxyz@kuleuven.be\nTo: otherlab@kuleuven.be\n" \
		"Subject: Test\nReceived: "
#define TAIL	"\nThis is a test mail.\n.\n"

/* login's mailbox, NUL-terminated; NULL when it cannot be read. */
static char *
read_mailbox(const char *login)
{
	char path[128], *p;
	ssize_t n;
	int fd;

	(void)snprintf(path, sizeof(path), "USERS/%s/my_mailbox.txt", login);
	fd = openat(root_fd, path, O_RDONLY);
	if (fd == -1 || (p = calloc(1, 4096)) == NULL)
		abort();
	n = read(fd, p, 4095);
	(void)close(fd);
	if (n < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void
test_smtp(void)
{
	const struct smtp_config cfg = {
		.root_fd = root_fd,
		.domain = "kuleuven.be",
		.timeout_s = 5,
		.size_max = 1000,
	};
	struct mem_transport t;
	char out[4096], *box;
	int status;

	mem_transport_init(&t, WRITEUP_IN, sizeof(WRITEUP_IN) - 1, out,
	    sizeof(out));
	status = smtp_session_run(&cfg, &t.base);
	ok(status == 0, "smtp: the write-up's session ends with status 0");
	ok(t.out_len == sizeof(WRITEUP_OUT) - 1 &&
	    memcmp(out, WRITEUP_OUT, t.out_len) == 0,
	    "smtp: it gets the write-up's replies, in-process");
	box = read_mailbox("otherlab");
	ok(box != NULL && strncmp(box, HEAD, strlen(HEAD)) == 0 &&
	    strlen(box) == strlen(HEAD) + strlen("YYYY-MM-DD : HH : MM") +
	    strlen(TAIL) && strcmp(box + strlen(box) - strlen(TAIL), TAIL) == 0,
	    "smtp: the mailbox holds the record in SPEC 3's format");
	free(box);
}

static void
test_smtp_garbage(void)
{
	static const char junk[] = "\x00\xff\r\r\n.\n\nDATA\r\nMAIL FROM:<\r\n";
	const struct smtp_config cfg = {
		.root_fd = root_fd,
		.domain = "t",
		.timeout_s = 5,
		.size_max = 1000,
	};
	struct mem_transport t;
	int status;

	mem_transport_init(&t, junk, sizeof(junk) - 1, NULL, 0);
	status = smtp_session_run(&cfg, &t.base);
	ok(status == 0 && t.out_len > 0,
	    "smtp: bytes that make no session end it cleanly at the end of "
	    "input (%zu bytes of replies)", t.out_len);
}

static void
test_pop3(void)
{
	static const char in[] =
	    "USER otherlab\r\nPASS otherpass\r\nSTAT\r\nRETR 1\r\nQUIT\r\n";
	const struct pop3_config cfg = {
		.root_fd = root_fd,
		.domain = "t",
		.timeout_s = 5,
		.fail_delay_s = 0,
	};
	struct mem_transport t;
	char out[4096];

	mem_transport_init(&t, in, sizeof(in) - 1, out, sizeof(out));
	ok(pop3_session_run(&cfg, &t.base) == 0, "pop3: the session ends "
	    "with status 0");
	out[t.out_len < sizeof(out) ? t.out_len : sizeof(out) - 1] = '\0';
	ok(strstr(out, "+OK maildrop has 1 messages (") != NULL &&
	    strstr(out, "This is a test mail.\r\n.\r\n") != NULL &&
	    strstr(out, "+OK Thanks for using POP3 server\r\n") != NULL,
	    "pop3: it logs in and reads the mail the SMTP session delivered");
}

int
main(void)
{
	if (mkdtemp(root) == NULL)
		abort();
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd == -1)
		abort();
	fixture_put(root_fd, "userinfo.txt", "otherlab otherpass\n", 19, 0600);
	/* Logs go to stderr, out of the TAP stream. */
	(void)setenv("SOCKMAIL_LOG", "stderr", 1);
	test_smtp();
	test_smtp_garbage();
	test_pop3();
	(void)close(root_fd);
	fixture_rm_tree(root);
	return done_testing();
}
