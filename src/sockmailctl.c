/* SPDX-License-Identifier: MIT */
/* sockmailctl: the administration command of a sockmail mail root
 * (sockmailctl(8)). main parses the options and finds the command in a
 * table; the commands live in ctl-*.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

#ifndef SOCKMAIL_MAILROOT
#define SOCKMAIL_MAILROOT	"/var/lib/sockmail"
#endif

#define USAGE \
	"usage: sockmailctl [-d MAILROOT] user add LOGIN\n" \
	"       sockmailctl [-d MAILROOT] user passwd LOGIN\n" \
	"       sockmailctl [-d MAILROOT] user del LOGIN [--purge]\n" \
	"       sockmailctl [-d MAILROOT] user list\n" \
	"       sockmailctl [-d MAILROOT] check\n" \
	"       sockmailctl [-d MAILROOT] import LOGIN FILE...\n"

struct ctl_cmd {
	const char	*word1, *word2;		/* word2 NULL: one word */
	int		(*run)(struct ctl *, int, char **);
};

static const struct ctl_cmd ctl_cmds[] = {
	{ "user", "add",	ctl_user_add },
	{ "user", "passwd",	ctl_user_passwd },
	{ "user", "del",	ctl_user_del },
	{ "user", "list",	ctl_user_list },
	{ "check", NULL,	ctl_check },
	{ "import", NULL,	ctl_import },
};

static void
vline(const char *fmt, va_list ap)
{
	(void)fflush(stdout);
	(void)fputs("sockmailctl: ", stderr);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
}

int
ctl_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
	return CTL_FAIL;
}

int
ctl_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
	return CTL_USAGE;
}

static int
open_root(struct ctl *c)
{
	struct stat st;

	c->root_fd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->root_fd < 0)
		return ctl_err("mail root %s: %s", c->root, strerror(errno));
	if (fstat(c->root_fd, &st) < 0)
		return ctl_err("mail root %s: %s", c->root, strerror(errno));
	return CTL_OK;
}

int
main(int argc, char **argv)
{
	struct ctl c = { .root = SOCKMAIL_MAILROOT, .root_fd = -1 };
	const struct ctl_cmd *cmd;
	size_t i, words;
	int opt, status;

	log_init_user("sockmailctl");
	/* A pipe closed under `sockmailctl user list | head` is an error
	 * of a write, not a signal that kills us halfway through. */
	(void)signal(SIGPIPE, SIG_IGN);
	opterr = 0;	/* our own one line, below */
	while ((opt = getopt(argc, argv, "+:d:h")) != -1) {
		switch (opt) {
		case 'd':
			c.root = optarg;
			break;
		case 'h':
			(void)fputs(USAGE, stdout);
			return CTL_OK;
		case ':':
			return ctl_usage("option -%c needs an argument (see "
			    "sockmailctl -h)", optopt);
		default:
			return ctl_usage("unknown option -%c (see sockmailctl "
			    "-h)", optopt);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return ctl_usage("no command (see sockmailctl -h)");
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		cmd = &ctl_cmds[i];
		if (strcmp(argv[0], cmd->word1) != 0)
			continue;
		words = cmd->word2 == NULL ? 1 : 2;
		if (words == 2 && (argc < 2 || strcmp(argv[1], cmd->word2) != 0))
			continue;
		status = open_root(&c);
		if (status == CTL_OK)
			status = cmd->run(&c, argc - (int)words, argv + words);
		if (c.root_fd >= 0)
			(void)close(c.root_fd);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			(void)ctl_err("standard output: %s", strerror(errno));
			if (status == CTL_OK)
				status = CTL_FAIL;
		}
		return status;
	}
	if (strcmp(argv[0], "user") == 0)
		return ctl_usage("user: unknown subcommand %s (add, passwd, "
		    "del, list)", argc > 1 ? argv[1] : "(none)");
	return ctl_usage("unknown command %s (see sockmailctl -h)", argv[0]);
}
