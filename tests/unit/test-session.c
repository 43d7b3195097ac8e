/* SPDX-License-Identifier: MIT */
/* Whole SMTP and POP3 sessions run in-process over a memory transport, as
 * the fuzzers drive them: no fork, no exec, no file descriptors for the
 * client. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "tap.h"
#include "pop3d.h"
#include "session.h"
#include "smtpd.h"
#include "str.h"
#include "tls.h"
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
	    "smtp: the mailbox holds the record of sockmail-mailbox(5)");
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

/* A TLS hook whose handshake "succeeds" over the same memory transport:
 * what the session reads afterwards is what it kept of the input. */
static struct transport *
pretend_tls(void *arg, int timeout_ms)
{
	(void)timeout_ms;
	return arg;
}

/* The command smuggled behind STARTTLS / STLS in the same write is thrown
 * away with the read-ahead (CVE-2011-0411); the session then ends at the
 * end of input without answering it. */
static void
test_starttls_discards(void)
{
	static const char smtp_in[] = "EHLO c\r\nSTARTTLS\r\nRSET\r\n";
	static const char pop3_in[] = "CAPA\r\nSTLS\r\nCAPA\r\n";
	struct smtp_config scfg = { .root_fd = root_fd, .domain = "t",
	    .timeout_s = 5, .size_max = 1000 };
	struct pop3_config pcfg = { .root_fd = root_fd, .domain = "t",
	    .timeout_s = 5 };
	struct mem_transport t;
	struct tls_hook hook = { .start = pretend_tls, .arg = &t.base };
	char out[4096];

	scfg.tls = &hook;
	mem_transport_init(&t, smtp_in, sizeof(smtp_in) - 1, out, sizeof(out));
	ok(smtp_session_run(&scfg, &t.base) == 0, "starttls: smtp status 0");
	out[t.out_len < sizeof(out) ? t.out_len : sizeof(out) - 1] = '\0';
	/* After EHLO the 220 carries its enhanced code (RFC 2034). */
	ok(strstr(out, "250-STARTTLS\r\n") != NULL &&
	    strstr(out, "\r\n220 2.0.0 Ready to start TLS\r\n") != NULL &&
	    strstr(out, "220 2.0.0 Ready to start TLS\r\n")[30] == '\0',
	    "starttls: RSET sent with STARTTLS is never answered");

	pcfg.tls = &hook;
	mem_transport_init(&t, pop3_in, sizeof(pop3_in) - 1, out, sizeof(out));
	ok(pop3_session_run(&pcfg, &t.base) == 0, "stls: pop3 status 0");
	out[t.out_len < sizeof(out) ? t.out_len : sizeof(out) - 1] = '\0';
	ok(strstr(out, "\r\nSTLS\r\nSASL PLAIN\r\n.\r\n") != NULL &&
	    strstr(out, "+OK Begin TLS negotiation\r\n") != NULL &&
	    strstr(out, "+OK Begin TLS negotiation\r\n")[27] == '\0',
	    "stls: CAPA sent with STLS is never answered");
}

/* A protocol of two verbs, to see the engine alone: ONE moves from state
 * 0 to 1, TWO works only in state 1, END ends the session. */
struct toy {
	struct session	ses;
	bool		done;
	char		last_arg[32];
};

struct toy_cmd {
	struct session_cmd	 cmd;
	void			(*run)(struct toy *, char *arg);
};

static void
toy_one(struct toy *t, char *arg)
{
	(void)str_copy(t->last_arg, sizeof(t->last_arg), arg);
	session_set_state(&t->ses, 1);
	(void)out_line(&t->ses.out, "one");
}

static void
toy_two(struct toy *t, char *arg)
{
	(void)str_copy(t->last_arg, sizeof(t->last_arg), arg);
	(void)out_line(&t->ses.out, "two");
}

static void
toy_end(struct toy *t, char *arg)
{
	(void)arg;
	t->done = true;
	(void)out_line(&t->ses.out, "bye");
}

static const struct toy_cmd toy_cmds[] = {
	{ { "ONE", SESSION_IN(0) },		toy_one },
	{ { "TWO", SESSION_IN(1) },		toy_two },
	{ { "END", SESSION_ANY_STATE },		toy_end },
};

static void
toy_run(void *owner, const struct session_cmd *cmd, char *arg)
{
	((const struct toy_cmd *)cmd)->run(owner, arg);
}

/* The verb is up to a '/', the argument after it. */
static size_t
toy_split(char *line, char **arg_out)
{
	size_t vlen = strcspn(line, "/");

	*arg_out = line[vlen] == '/' ? line + vlen + 1 : line + vlen;
	return vlen;
}

static void
toy_reply(void *owner, const char *text)
{
	(void)out_line(&((struct toy *)owner)->ses.out, "%s", text);
}

static void
toy_greet(void *owner)
{
	toy_reply(owner, "hello");
}

static void
toy_timeout(void *owner)
{
	toy_reply(owner, "late");
	((struct toy *)owner)->done = true;
}

static const char *const toy_states[] = { "zero", "one" };

static const struct session_proto toy_proto = {
	.cmds = toy_cmds,
	.ncmds = sizeof(toy_cmds) / sizeof(toy_cmds[0]),
	.cmd_size = sizeof(toy_cmds[0]),
	.run = toy_run,
	.state_names = toy_states,
	.line_max = 10,
	.reply_too_long = "long",
	.reply_nul = "nul",
	.reply_unknown = "what",
	.reply_state = "not now",
	.split = toy_split,
	.reply = toy_reply,
	.greet = toy_greet,
	.timeout = toy_timeout,
};

static void
test_engine(void)
{
	/* TWO too early; a verb in other case; an unknown verb, an empty
	 * line and a line the split hook finds no verb in; a NUL; 9 octets
	 * and CR LF are one too many, 8 are not; END ends it, so the last
	 * line is never read. */
	static const char in[] = "two\r\nOne/a b\r\nTWO/c\r\nTHREE\r\n\r\n/x\r\n"
	    "tw\0o\r\nTWO/45678\r\nTWO/4567\r\nEND\r\nTWO\r\n";
	static const char want[] = "hello\r\nnot now\r\none\r\ntwo\r\nwhat\r\n"
	    "what\r\nwhat\r\nnul\r\nlong\r\ntwo\r\nbye\r\n";
	struct mem_transport t;
	struct toy toy = { .done = false };
	char out[256];

	mem_transport_init(&t, in, sizeof(in) - 1, out, sizeof(out));
	session_init(&toy.ses, &toy_proto, &toy, &toy.done, &t.base, 5, 0);
	session_run(&toy.ses);
	ok(t.out_len == sizeof(want) - 1 && memcmp(out, want, t.out_len) == 0,
	    "engine: wrong state, any case, unknown, NUL and over-long lines "
	    "get the protocol's replies; the command after END is not read");
	ok(toy.ses.state == 1 && strcmp(toy.last_arg, "4567") == 0,
	    "engine: a command moves the state; the split hook gives the "
	    "argument");
}

/* What both handlers answered before they shared the engine, byte for
 * byte: an unknown verb, a verb in the wrong state, a NUL in a command,
 * and a line one octet over the limit beside one at the limit. */
static void
test_same_refusals(void)
{
	char in[2048], out[2048], pad[600];
	const struct smtp_config scfg = { .root_fd = root_fd, .domain = "t",
	    .timeout_s = 5, .size_max = 1000 };
	const struct pop3_config pcfg = { .root_fd = root_fd, .domain = "t",
	    .timeout_s = 5 };
	static const char smtp_want[] =
	    "220 t Service ready\r\n"
	    "500 Syntax error, command unrecognized\r\n"
	    "500 Syntax error, command unrecognized\r\n"
	    "503 Bad sequence of commands\r\n"
	    "500 Syntax error, NUL character in command\r\n"
	    "250 OK\r\n"
	    "500 Line too long\r\n"
	    "250 OK\r\n"
	    "221 t Service closing transmission channel\r\n";
	static const char pop3_want[] =
	    "+OK POP3 server is ready\r\n"
	    "-ERR unrecognized command\r\n"
	    "-ERR unrecognized command\r\n"
	    "-ERR command not valid in this state\r\n"
	    "-ERR NUL character in command\r\n"
	    "+OK send PASS\r\n"
	    "-ERR line too long\r\n"
	    "+OK send PASS\r\n"
	    "+OK Thanks for using POP3 server\r\n";
	struct mem_transport t;
	size_t n;

	memset(pad, 'x', sizeof(pad));
	/* SMTP: 512 octets with CR LF is the limit (RFC 5321); a bare LF
	 * leaves room for one more. */
	n = (size_t)snprintf(in, sizeof(in), "FOO\r\nMAIL-FROM:<a>\r\n"
	    "RCPT TO:<alice@t>\r\nNO%cOP\r\nNOOP %.*s\r\nNOOP %.*s\r\n"
	    "NOOP %.*s\nquit\r\n", '\0', 505, pad, 506, pad, 506, pad);
	mem_transport_init(&t, in, n, out, sizeof(out));
	ok(smtp_session_run(&scfg, &t.base) == 0 &&
	    t.out_len == sizeof(smtp_want) - 1 &&
	    memcmp(out, smtp_want, t.out_len) == 0,
	    "smtp: the engine's refusals are the old replies");

	/* POP3: 255 octets with CR LF (RFC 2449). */
	n = (size_t)snprintf(in, sizeof(in), "FOO\r\n USER x\r\nSTAT\r\n"
	    "NO%cOP\r\nUSER %.*s\r\nUSER %.*s\r\nUSER %.*s\nQuit\r\n", '\0',
	    248, pad, 249, pad, 249, pad);
	mem_transport_init(&t, in, n, out, sizeof(out));
	ok(pop3_session_run(&pcfg, &t.base) == 0 &&
	    t.out_len == sizeof(pop3_want) - 1 &&
	    memcmp(out, pop3_want, t.out_len) == 0,
	    "pop3: the engine's refusals are the old replies");
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
	test_starttls_discards();
	test_engine();
	test_same_refusals();
	(void)close(root_fd);
	fixture_rm_tree(root);
	return done_testing();
}
