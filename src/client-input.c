/* SPDX-License-Identifier: MIT */
/* mail_client's input: a terminal with line editing and a hidden password,
 * or a script on a pipe, read the same way. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#ifdef HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "client.h"
#include "str.h"

static struct fd_transport stdin_transport;
static struct line_reader stdin_reader;
static bool editing;		/* libedit: both ends a terminal */

void
input_init(void)
{
	editing = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	fd_transport_init(&stdin_transport, STDIN_FILENO, -1);
	line_reader_init(&stdin_reader, &stdin_transport.base, 0);
}

/* A plain line from stdin, after the prompt. */
static int
read_plain(const char *prompt, char *buf, size_t size)
{
	size_t len;
	bool crlf;

	(void)fputs(prompt, stdout);
	(void)fflush(stdout);
	switch (line_read(&stdin_reader, buf, size, &len, &crlf)) {
	case LINE_OK:
		if (memchr(buf, '\0', len) != NULL)
			return 1;	/* a NUL would cut the line short */
		return 0;
	case LINE_TOO_LONG:
		return 1;
	default:
		return -1;
	}
}

int
input_line(const char *prompt, char *buf, size_t size)
{
#ifdef HAVE_LIBEDIT
	char *line;
	int rc;

	if (editing) {
		line = readline(prompt);
		if (line == NULL)
			return -1;
		rc = str_copy(buf, size, line) < 0 ? 1 : 0;
		if (rc == 0 && line[0] != '\0')
			add_history(line);
		free(line);
		return rc;
	}
#endif
	return read_plain(prompt, buf, size);
}

int
input_password(const char *prompt, char *buf, size_t size)
{
	struct termios saved, quiet;
	int rc;

	/* Whenever the keyboard is a terminal, even with the output going to
	 * a pipe, the password must not show. */
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
		return read_plain(prompt, buf, size);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
		return read_plain(prompt, buf, size);
	rc = read_plain(prompt, buf, size);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	return rc;
}
