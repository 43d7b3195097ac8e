/*
 * floor: the cheapest possible per-connection handler, the benchmarks'
 * baseline (bench/run.sh). Like sockmail's handlers it reads the client on
 * stdin and answers on stdout under a supervisor; it speaks just enough
 * SMTP or POP3 for smtp-source and pop3-load, and stores nothing:
 *
 *   floor smtp                 accept every message, discard it
 *   floor smtp-fsync DIR       append each message to DIR/<rcpt local part>
 *                              (O_APPEND, one write) and fsync it before 250
 *   floor pop3 [COUNT SIZE]    any USER/PASS logs in to COUNT messages
 *                              (default 100) of SIZE bytes (default 2048),
 *                              all one fixed message held in memory
 *
 * Replies to every command that arrived together go out in one write(),
 * and fd 1 gets TCP_NODELAY when it is a TCP socket.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_SIZE 65536
#define LINE_MAX_CMD 1024
#define MSG_MAX (64L * 1024 * 1024)

static char inbuf[IN_SIZE];
static size_t in_start, in_end;

static char *out;
static size_t out_len, out_cap;

static void
die(const char *what)
{
	(void)fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
flush_out(void)
{
	size_t done = 0;
	ssize_t n;

	while (done < out_len) {
		n = write(STDOUT_FILENO, out + done, out_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		done += (size_t)n;
	}
	out_len = 0;
}

static void
put(const char *s, size_t n)
{
	size_t k;

	while (n > 0) {
		if (out_len == out_cap)
			flush_out();
		k = out_cap - out_len < n ? out_cap - out_len : n;
		memcpy(out + out_len, s, k);
		out_len += k;
		s += k;
		n -= k;
	}
}

static void
puts_out(const char *s)
{
	put(s, strlen(s));
}

static void
nodelay(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;

	if (getsockname(STDOUT_FILENO, (struct sockaddr *)&ss, &len) < 0) {
		if (errno == ENOTSOCK)
			return;
		die("getsockname");
	}
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return;
	if (setsockopt(STDOUT_FILENO, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY");
}

/* Fill the input buffer; false at end of input. */
static bool
fill(void)
{
	ssize_t n;

	if (in_start > 0) {
		memmove(inbuf, inbuf + in_start, in_end - in_start);
		in_end -= in_start;
		in_start = 0;
	}
	if (in_end == sizeof(inbuf))
		return true;
	/* Input ran dry: the batch's replies go out now, in one write. */
	flush_out();
	for (;;) {
		n = read(STDIN_FILENO, inbuf + in_end, sizeof(inbuf) - in_end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		break;
	}
	in_end += (size_t)n;
	return n > 0;
}

/*
 * The next line without its line end in line (at most size - 1 bytes,
 * NUL-terminated; a longer line is cut and *cut set). false at end of input.
 */
static bool
next_line(char *line, size_t size, bool *cut)
{
	char *nl;
	size_t len, k;

	*cut = false;
	len = 0;
	for (;;) {
		nl = memchr(inbuf + in_start, '\n', in_end - in_start);
		k = (nl != NULL ? (size_t)(nl - (inbuf + in_start)) :
		    in_end - in_start);
		if (len + k < size) {
			memcpy(line + len, inbuf + in_start, k);
			len += k;
		} else {
			*cut = true;
		}
		in_start += k;
		if (nl != NULL) {
			in_start++;
			break;
		}
		if (!fill())
			return false;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	return true;
}

static bool
verb(const char *line, const char *v)
{
	size_t n = strlen(v);

	return strncasecmp(line, v, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ' || line[n] == ':');
}

/* ---- SMTP ---- */

struct msgbuf {
	char *p;
	size_t len, cap;
	bool over;
};

static void
msg_add(struct msgbuf *m, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (m->over)
		return;
	if (m->len + n > (size_t)MSG_MAX) {
		m->over = true;
		return;
	}
	if (m->len + n > m->cap) {
		cap = m->cap ? m->cap : 65536;
		while (cap < m->len + n)
			cap *= 2;
		if ((p = realloc(m->p, cap)) == NULL)
			die("realloc");
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, s, n);
	m->len += n;
}

/* Read DATA up to the "." line; into m when m is not NULL. false at EOF. */
static bool
smtp_data(struct msgbuf *m)
{
	char *nl;
	size_t k;
	bool bol = true, dot;

	for (;;) {
		if (in_start == in_end && !fill())
			return false;
		nl = memchr(inbuf + in_start, '\n', in_end - in_start);
		if (nl == NULL) {
			/* A partial line: read more unless the buffer is full,
			 * then take what is there as content. */
			if (in_end - in_start < sizeof(inbuf)) {
				if (!fill())
					return false;
				continue;
			}
			if (m != NULL)
				msg_add(m, inbuf + in_start, in_end - in_start);
			in_start = in_end;
			bol = false;
			continue;
		}
		k = (size_t)(nl - (inbuf + in_start));
		if (bol) {
			dot = inbuf[in_start] == '.';
			if (dot && (k == 1 || (k == 2 &&
			    inbuf[in_start + 1] == '\r'))) {
				in_start += k + 1;
				return true;
			}
			if (dot) {
				in_start++;
				k--;
			}
		}
		if (m != NULL) {
			if (k > 0 && inbuf[in_start + k - 1] == '\r')
				msg_add(m, inbuf + in_start, k - 1);
			else
				msg_add(m, inbuf + in_start, k);
			msg_add(m, "\n", 1);
		}
		in_start += k + 1;
		bol = true;
	}
}

/* The local part of a RCPT argument, checked: [A-Za-z0-9._-]{1,64}. */
static bool
local_part(const char *arg, char *name, size_t size)
{
	size_t n = 0;

	while (*arg == ' ' || *arg == ':' || *arg == '<')
		arg++;
	if (strncasecmp(arg, "TO", 2) == 0)
		arg += 2;
	while (*arg == ' ' || *arg == ':' || *arg == '<')
		arg++;
	while (*arg != '\0' && *arg != '@' && *arg != '>' && *arg != ' ') {
		if (n + 1 >= size || !(isalnum((unsigned char)*arg) ||
		    *arg == '.' || *arg == '_' || *arg == '-'))
			return false;
		name[n++] = *arg++;
	}
	name[n] = '\0';
	return n > 0 && name[0] != '.';
}

static void
deliver(const char *dir, const char *rcpt, struct msgbuf *m)
{
	char path[4096];
	size_t done = 0;
	ssize_t n;
	int fd, len;

	len = snprintf(path, sizeof(path), "%s/%s", dir, rcpt);
	if (len < 0 || (size_t)len >= sizeof(path)) {
		errno = ENAMETOOLONG;
		die("path");
	}
	msg_add(m, ".\n", 2);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) < 0)
		die("open");
	while (done < m->len) {
		n = write(fd, m->p + done, m->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write mailbox");
		done += (size_t)n;
	}
	if (fsync(fd) < 0)
		die("fsync");
	if (close(fd) < 0)
		die("close");
}

static int
smtp(const char *dir)
{
	char line[LINE_MAX_CMD], rcpt[65] = "";
	struct msgbuf m = { NULL, 0, 0, false };
	bool cut;

	puts_out("220 floor Service ready\r\n");
	while (next_line(line, sizeof(line), &cut)) {
		if (cut)
			puts_out("500 Line too long\r\n");
		else if (verb(line, "EHLO"))
			puts_out("250-floor Hello\r\n250-PIPELINING\r\n"
			    "250-8BITMIME\r\n250 SIZE 67108864\r\n");
		else if (verb(line, "HELO"))
			puts_out("250 OK Hello\r\n");
		else if (verb(line, "MAIL"))
			puts_out("250 Sender ok\r\n");
		else if (verb(line, "RCPT")) {
			if (dir != NULL && !local_part(line + 4, rcpt,
			    sizeof(rcpt)))
				puts_out("501 Syntax error\r\n");
			else
				puts_out("250 Recipient ok\r\n");
		} else if (verb(line, "DATA")) {
			if (dir != NULL && rcpt[0] == '\0') {
				puts_out("503 No valid recipients\r\n");
				continue;
			}
			puts_out("354 End data with <CR><LF>.<CR><LF>\r\n");
			flush_out();
			m.len = 0;
			m.over = false;
			if (!smtp_data(dir != NULL ? &m : NULL))
				break;
			if (m.over) {
				puts_out("552 Too big\r\n");
				continue;
			}
			if (dir != NULL)
				deliver(dir, rcpt, &m);
			rcpt[0] = '\0';
			puts_out("250 OK Message accepted for delivery\r\n");
		} else if (verb(line, "RSET") || verb(line, "NOOP")) {
			rcpt[0] = '\0';
			puts_out("250 OK\r\n");
		} else if (verb(line, "QUIT")) {
			puts_out("221 floor closing\r\n");
			break;
		} else {
			puts_out("500 Syntax error\r\n");
		}
	}
	flush_out();
	free(m.p);
	return 0;
}

/* ---- POP3 ---- */

static char *message;	/* "+OK ...\r\n", SIZE bytes of body, ".\r\n" */
static size_t message_len;

static void
make_message(long size)
{
	static const char head[] = "From: floor@localhost\r\n"
	    "To: bench@localhost\r\nSubject: floor\r\n\r\n";
	char status[64];
	size_t at, len, hl = sizeof(head) - 1;
	int n;

	n = snprintf(status, sizeof(status), "+OK %ld octets\r\n", size);
	if (n < 0 || (size_t)n >= sizeof(status))
		die("snprintf");
	len = (size_t)n + (size_t)size + 3;
	if ((message = malloc(len)) == NULL)
		die("malloc");
	memcpy(message, status, (size_t)n);
	at = (size_t)n;
	memset(message + at, 'x', (size_t)size);
	memcpy(message + at, head, (size_t)size < hl ? (size_t)size : hl);
	/* Lines of 64 bytes, CRLF-ended, in the body. */
	for (size_t i = hl + 62; i + 1 < (size_t)size; i += 64) {
		message[at + i] = '\r';
		message[at + i + 1] = '\n';
	}
	if (size >= 2) {
		message[at + (size_t)size - 2] = '\r';
		message[at + (size_t)size - 1] = '\n';
	}
	at += (size_t)size;
	memcpy(message + at, ".\r\n", 3);
	message_len = len;
}

/* "A B\r\n", "A uidB\r\n" (uid) or "+OK A B\r\n" (stat). */
enum pair { PAIR, PAIR_UID, PAIR_STAT };

static void
pair_out(enum pair kind, long a, long b)
{
	char buf[128];
	int n;

	if (kind == PAIR_STAT)
		n = snprintf(buf, sizeof(buf), "+OK %ld %ld\r\n", a, b);
	else if (kind == PAIR_UID)
		n = snprintf(buf, sizeof(buf), "%ld uid%ld\r\n", a, b);
	else
		n = snprintf(buf, sizeof(buf), "%ld %ld\r\n", a, b);

	if (n < 0 || (size_t)n >= sizeof(buf))
		die("snprintf");
	put(buf, (size_t)n);
}

/* The message number in arg, 1 to count; 0 when missing or invalid. */
static long
msg_number(const char *arg, long count)
{
	char *end;
	long n;

	while (*arg == ' ')
		arg++;
	if (*arg == '\0')
		return -1;
	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > count)
		return 0;
	return n;
}

static int
pop3(long count, long size)
{
	char line[LINE_MAX_CMD];
	bool cut;
	long n, i;

	make_message(size);
	puts_out("+OK POP3 server is ready\r\n");
	while (next_line(line, sizeof(line), &cut)) {
		if (cut) {
			puts_out("-ERR line too long\r\n");
		} else if (verb(line, "USER") || verb(line, "PASS") ||
		    verb(line, "NOOP") || verb(line, "RSET")) {
			puts_out("+OK\r\n");
		} else if (verb(line, "STAT")) {
			pair_out(PAIR_STAT, count, count * size);
		} else if (verb(line, "CAPA")) {
			puts_out("+OK\r\nUSER\r\nUIDL\r\n.\r\n");
		} else if (verb(line, "LIST") || verb(line, "UIDL")) {
			bool uidl = verb(line, "UIDL");
			enum pair kind = uidl ? PAIR_UID : PAIR;

			n = msg_number(line + 4, count);
			if (n == 0) {
				puts_out("-ERR no such message\r\n");
			} else if (n > 0) {
				put("+OK ", 4);
				pair_out(kind, n, uidl ? n : size);
			} else {
				puts_out("+OK\r\n");
				for (i = 1; i <= count; i++)
					pair_out(kind, i, uidl ? i : size);
				puts_out(".\r\n");
			}
		} else if (verb(line, "RETR")) {
			if (msg_number(line + 4, count) <= 0)
				puts_out("-ERR no such message\r\n");
			else
				put(message, message_len);
		} else if (verb(line, "DELE")) {
			if (msg_number(line + 4, count) <= 0)
				puts_out("-ERR no such message\r\n");
			else
				puts_out("+OK deleted\r\n");
		} else if (verb(line, "QUIT")) {
			puts_out("+OK bye\r\n");
			break;
		} else {
			puts_out("-ERR unknown command\r\n");
		}
	}
	flush_out();
	free(message);
	return 0;
}

static long
number(const char *s)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0 || n > 1000000000L)
		return -1;
	return n;
}

int
main(int argc, char **argv)
{
	long count = 100, size = 2048;

	if (argc >= 2 && strcmp(argv[1], "pop3") == 0 &&
	    (argc == 2 || argc == 4)) {
		if (argc == 4) {
			count = number(argv[2]);
			size = number(argv[3]);
			if (count < 0 || size < 0 || size > MSG_MAX)
				goto usage;
		}
	} else if (!(argc == 2 && strcmp(argv[1], "smtp") == 0) &&
	    !(argc == 3 && strcmp(argv[1], "smtp-fsync") == 0)) {
		goto usage;
	}
	nodelay();
	out_cap = (size_t)size + 65536;
	if ((out = malloc(out_cap)) == NULL)
		die("malloc");
	if (strcmp(argv[1], "pop3") == 0)
		(void)pop3(count, size);
	else
		(void)smtp(argc == 3 ? argv[2] : NULL);
	free(out);
	return 0;
usage:
	(void)fprintf(stderr,
	    "usage: floor smtp | floor smtp-fsync DIR | floor pop3 [COUNT SIZE]\n");
	return 2;
}
