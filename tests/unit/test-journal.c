/* SPDX-License-Identifier: MIT */
/* Unit tests for journal and log's journal backend, and the peer a handler
 * with -P logs there: the datagrams libsystemd sends journald, read back
 * from a socket of our own. libsystemd's socket path is fixed, so the test
 * runs in a mount namespace of its own (and a user namespace when it is
 * not root) with a tmpfs on /run holding that socket. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handler.h"
#include "journal.h"
#include "log.h"
#include "transport.h"
#include "tap.h"
#include "fixture.h"

#define FIELDS_MAX	32
/* Where libsystemd sends every entry; it has no other. */
#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

struct entry {
	size_t	n;
	char	key[FIELDS_MAX][64];
	char	value[FIELDS_MAX][2048];
	bool	binary[FIELDS_MAX];
	bool	well_formed;
};

static int sink = -1;

/* Parse one datagram in the native protocol into e. */
static void
parse(const char *p, size_t len, struct entry *e)
{
	const char *end = p + len, *nl, *eq;
	size_t klen, vlen;
	uint64_t size;
	int b;

	memset(e, 0, sizeof(*e));
	while (p < end) {
		if (e->n == FIELDS_MAX ||
		    (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return;
		eq = memchr(p, '=', (size_t)(nl - p));
		if (eq != NULL) {
			klen = (size_t)(eq - p);
			vlen = (size_t)(nl - eq - 1);
			eq++;
		} else {
			/* KEY\n, 64-bit little-endian size, value, \n */
			klen = (size_t)(nl - p);
			if ((size_t)(end - nl - 1) < 8)
				return;
			for (size = 0, b = 7; b >= 0; b--)
				size = size << 8 | (unsigned char)nl[1 + b];
			eq = nl + 9;
			if (size >= (uint64_t)(end - eq) || eq[size] != '\n')
				return;
			vlen = (size_t)size;
			nl = eq + vlen;
			e->binary[e->n] = true;
		}
		if (klen >= sizeof(e->key[0]) || vlen >= sizeof(e->value[0]))
			return;
		memcpy(e->key[e->n], p, klen);
		memcpy(e->value[e->n], eq, vlen);
		e->n++;
		p = nl + 1;
	}
	e->well_formed = true;
}

/* The next datagram on the sink, parsed; false when there is none. */
static bool
receive(struct entry *e)
{
	char buf[16384];
	ssize_t n = recv(sink, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0)
		return false;
	parse(buf, (size_t)n, e);
	return true;
}

/* The value of key in e, or NULL. */
static const char *
field(const struct entry *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->key[i], key) == 0)
			return e->value[i];
	return NULL;
}

static bool
is_binary(const struct entry *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->key[i], key) == 0)
			return e->binary[i];
	return false;
}

static bool
equals(const struct entry *e, const char *key, const char *want)
{
	const char *v = field(e, key);

	return v != NULL && strcmp(v, want) == 0;
}

static bool
is_hex32(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 32)
		return false;
	for (i = 0; i < 32; i++)
		if (strchr("0123456789abcdef", s[i]) == NULL)
			return false;
	return true;
}

static void
test_event(void)
{
	struct entry e;
	char id[64];

	log_event(LOG_INFO, "connect", "hello\r\nworld\x01\x7f.");
	ok(receive(&e), "an event is one datagram");
	ok(e.well_formed, "the datagram parses");
	ok(equals(&e, "MESSAGE", "connect: hello??world??."),
	    "MESSAGE: the tag and the text, control characters replaced");
	ok(!is_binary(&e, "MESSAGE"), "MESSAGE is one KEY=value line");
	ok(equals(&e, "PRIORITY", "6"), "PRIORITY");
	ok(equals(&e, "SYSLOG_IDENTIFIER", "sockmail-test"),
	    "SYSLOG_IDENTIFIER");
	ok(equals(&e, "SYSLOG_FACILITY", "2"), "SYSLOG_FACILITY is mail");
	ok(equals(&e, "SOCKMAIL_EVENT", "connect"), "SOCKMAIL_EVENT");
	ok(equals(&e, "SOCKMAIL_PEER", "192.0.2.1"), "SOCKMAIL_PEER");
	ok(field(&e, "SOCKMAIL_USER") == NULL, "no SOCKMAIL_USER before login");
	ok(field(&e, "SOCKMAIL_SIZE") == NULL &&
	    field(&e, "SOCKMAIL_RCPTS") == NULL, "no counts for a plain event");
	ok(is_hex32(field(&e, "MESSAGE_ID")), "MESSAGE_ID is 128 bits in hex");
	(void)snprintf(id, sizeof(id), "%s", field(&e, "MESSAGE_ID") != NULL ?
	    field(&e, "MESSAGE_ID") : "");

	log_event(LOG_INFO, "connect", "again");
	ok(receive(&e) && equals(&e, "MESSAGE_ID", id),
	    "MESSAGE_ID is the same for each event of a kind");

	log_set_user("alice");
	log_message_event(LOG_NOTICE, "delivered", 1234, 3, "to %s", "bob");
	ok(receive(&e) && e.well_formed, "a message event");
	ok(equals(&e, "MESSAGE", "delivered: to bob"), "its MESSAGE");
	ok(equals(&e, "PRIORITY", "5"), "its PRIORITY");
	ok(equals(&e, "SOCKMAIL_USER", "alice"), "SOCKMAIL_USER once known");
	ok(equals(&e, "SOCKMAIL_SIZE", "1234"), "SOCKMAIL_SIZE");
	ok(equals(&e, "SOCKMAIL_RCPTS", "3"), "SOCKMAIL_RCPTS");
	ok(is_hex32(field(&e, "MESSAGE_ID")) &&
	    strcmp(field(&e, "MESSAGE_ID"), id) != 0,
	    "another kind, another MESSAGE_ID");
	ok(!receive(&e), "nothing more was sent");
}

static void
test_sendv(void)
{
	char a[] = "A=one", b[] = "B=two\nlines", c[] = "C=", bad[] = "NOEQ";
	struct iovec iov[JOURNAL_FIELDS_MAX + 1];
	struct entry e;
	size_t i;

	iov[0] = (struct iovec){ a, strlen(a) };
	iov[1] = (struct iovec){ b, strlen(b) };
	iov[2] = (struct iovec){ c, strlen(c) };
	ok(journal_sendv(iov, 3) == 0, "journal_sendv");
	/* libsystemd adds SYSLOG_IDENTIFIER when the entry has none. */
	ok(receive(&e) && e.well_formed && e.n == 4, "three fields and one");
	ok(equals(&e, "SYSLOG_IDENTIFIER", "test-journal"),
	    "the one is SYSLOG_IDENTIFIER, from libsystemd");
	ok(equals(&e, "A", "one") && !is_binary(&e, "A"), "a plain field");
	ok(equals(&e, "B", "two\nlines") && is_binary(&e, "B"),
	    "a value with a newline goes in the binary form");
	ok(equals(&e, "C", "") && !is_binary(&e, "C"), "an empty value");

	iov[1] = (struct iovec){ bad, strlen(bad) };
	errno = 0;
	ok(journal_sendv(iov, 2) == -1 && errno == EINVAL,
	    "a field without = is refused");
	for (i = 0; i <= JOURNAL_FIELDS_MAX; i++)
		iov[i] = (struct iovec){ a, strlen(a) };
	errno = 0;
	ok(journal_sendv(iov, JOURNAL_FIELDS_MAX + 1) == -1 && errno == EINVAL,
	    "more than JOURNAL_FIELDS_MAX fields are refused");
	ok(journal_sendv(iov, JOURNAL_FIELDS_MAX) == 0 && receive(&e) &&
	    e.well_formed && e.n == JOURNAL_FIELDS_MAX + 1,
	    "JOURNAL_FIELDS_MAX fields are fine");
	ok(!receive(&e), "nothing was sent for the refused ones");
}

/* Run handler_start with -P (and -R) on a pipe holding in as fd 0;
 * returns its result, *needs_tls_out whether -R then held. */
static enum handler_start_status
start_with(const char *dir, const char *in, size_t len, bool *needs_tls_out)
{
	struct handler_options o = {
		.root = dir,
		.domain = "test.example",
		.timeout_s = 5,
		.auth_needs_tls = true,
		.proxy = true,
	};
	struct handler_env env;
	struct fd_transport ft;
	enum handler_start_status st;
	int p[2], saved;

	saved = dup(STDIN_FILENO);
	if (saved < 0 || pipe(p) < 0 || write(p[1], in, len) != (ssize_t)len ||
	    close(p[1]) < 0 || dup2(p[0], STDIN_FILENO) < 0 || close(p[0]) < 0)
		abort();
	st = handler_start(&o, "sockmail-test", &ft, "421 %s %s", &env);
	if (st == HANDLER_READY) {
		*needs_tls_out = env.auth_needs_tls;
		(void)close(env.root_fd);
		handler_end();
	}
	if (dup2(saved, STDIN_FILENO) < 0)
		abort();
	(void)close(saved);
	return st;
}

/* -P: SOCKMAIL_PEER is the client a PROXY header names, not the balancer
 * that $REMOTE_ADDR (systemd's) names; without an address in the header,
 * or with a bad header, it is the balancer. */
static void
test_proxy_peer(const char *dir)
{
	static const char v1[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n";
	static const char lo[] = "PROXY TCP4 127.0.0.1 127.0.0.1 56324 25\r\n";
	static const char local[] = "\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
	static const char bad[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n";
	struct entry e;
	bool needs_tls = false;

	(void)setenv("REMOTE_ADDR", "203.0.113.9", 1);
	ok(start_with(dir, v1, sizeof(v1) - 1, &needs_tls) == HANDLER_READY,
	    "-P: a v1 header on fd 0");
	ok(needs_tls, "-R holds for 192.0.2.7, though fd 0 is a pipe");
	log_event(LOG_INFO, "connect", "session started");
	ok(receive(&e) && equals(&e, "SOCKMAIL_PEER", "192.0.2.7"),
	    "SOCKMAIL_PEER is the header's client, not $REMOTE_ADDR");
	ok(!receive(&e), "nothing else was logged (the proxy line is debug)");

	ok(start_with(dir, lo, sizeof(lo) - 1, &needs_tls) == HANDLER_READY &&
	    !needs_tls, "-R does not hold for a header naming 127.0.0.1");
	log_event(LOG_INFO, "connect", "session started");
	ok(receive(&e) && equals(&e, "SOCKMAIL_PEER", "127.0.0.1"),
	    "SOCKMAIL_PEER 127.0.0.1");

	ok(start_with(dir, local, sizeof(local) - 1, &needs_tls) ==
	    HANDLER_READY && !needs_tls, "a v2 LOCAL header: a pipe is local");
	log_event(LOG_INFO, "connect", "session started");
	ok(receive(&e) && equals(&e, "SOCKMAIL_PEER", "203.0.113.9"),
	    "SOCKMAIL_PEER falls back to $REMOTE_ADDR");

	ok(start_with(dir, bad, sizeof(bad) - 1, &needs_tls) ==
	    HANDLER_DROPPED, "a bad header: the session is dropped");
	ok(receive(&e) && equals(&e, "SOCKMAIL_EVENT", "proxy") &&
	    equals(&e, "PRIORITY", "4") &&
	    equals(&e, "SOCKMAIL_PEER", "203.0.113.9"),
	    "a warning, under the balancer's address");
	ok(field(&e, "MESSAGE") != NULL &&
	    strstr(field(&e, "MESSAGE"), "bad PROXY header: v1 line is not "
	    "protocol, two addresses and two ports") != NULL,
	    "saying what is wrong: %s", field(&e, "MESSAGE") != NULL ?
	    field(&e, "MESSAGE") : "(none)");
	ok(!receive(&e), "one line");

	(void)unsetenv("REMOTE_ADDR");
	log_init("sockmail-test", "192.0.2.1");
}

/* With nobody listening on journald's socket, a line goes to stderr and
 * the session goes on. (A socket that is gone altogether is libsystemd's
 * "journal not available": it drops the entry and says it went.) */
static void
test_fallback(const char *dir)
{
	char file[256], buf[4096];
	FILE *f;
	size_t n;
	int fd, saved;

	(void)close(sink);
	sink = -1;
	if (unlink(JOURNAL_SOCKET) != 0 ||
	    (fd = open(JOURNAL_SOCKET, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    close(fd) != 0)
		abort();
	(void)snprintf(file, sizeof(file), "%s/stderr", dir);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	saved = dup(STDERR_FILENO);
	if (fd < 0 || saved < 0 || dup2(fd, STDERR_FILENO) < 0)
		abort();
	log_event(LOG_INFO, "fallback", "journal gone");
	(void)fflush(stderr);
	if (dup2(saved, STDERR_FILENO) < 0)
		abort();
	(void)close(saved);
	(void)close(fd);
	if ((f = fopen(file, "r")) == NULL)
		abort();
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	(void)fclose(f);
	ok(log_backend() == LOG_TO_JOURNAL, "the backend stays the journal");
	ok(strstr(buf, "info fallback: journal gone peer=192.0.2.1 "
	    "user=alice\n") != NULL, "a line the journal refused is on stderr");
}

/* Write s to the file at path; false if it cannot be written. */
static bool
write_file(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool done;

	if (fd < 0)
		return false;
	done = write(fd, s, len) == (ssize_t)len;
	return close(fd) == 0 && done;
}

/* A private /run with an empty /run/systemd/journal in it: a mount
 * namespace of our own, entered as root or, for anyone else, from a user
 * namespace that maps us to root. */
static bool
private_run(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWNS) != 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0 ||
		    !write_file("/proc/self/setgroups", "deny"))
			return false;
		(void)snprintf(map, sizeof(map), "0 %lu 1", (unsigned long)uid);
		if (!write_file("/proc/self/uid_map", map))
			return false;
		(void)snprintf(map, sizeof(map), "0 %lu 1", (unsigned long)gid);
		if (!write_file("/proc/self/gid_map", map))
			return false;
	}
	/* valgrind wants a type, though a propagation change takes none */
	return mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("test-journal", "/run", "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0755") == 0 &&
	    mkdir("/run/systemd", 0755) == 0 &&
	    mkdir("/run/systemd/journal", 0755) == 0;
}

/* journal_is_stderr: $JOURNAL_STREAM must name stderr exactly. */
static void
test_stream(void)
{
	char v[64];
	struct stat st;

	if (fstat(STDERR_FILENO, &st) != 0)
		abort();
	(void)unsetenv("JOURNAL_STREAM");
	ok(!journal_is_stderr(), "no $JOURNAL_STREAM: not the journal");
	(void)snprintf(v, sizeof(v), "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino + 1);
	(void)setenv("JOURNAL_STREAM", v, 1);
	ok(!journal_is_stderr(), "another inode: not the journal");
	(void)snprintf(v, sizeof(v), "%ju:%ju:", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino);
	(void)setenv("JOURNAL_STREAM", v, 1);
	ok(!journal_is_stderr(), "a malformed value: not the journal");
	(void)setenv("JOURNAL_STREAM", "", 1);
	ok(!journal_is_stderr(), "an empty value: not the journal");
	(void)unsetenv("SOCKMAIL_LOG");
	log_init("sockmail-test", "192.0.2.1");
	ok(log_backend() == LOG_TO_STDERR, "log_init keeps stderr then");
	(void)snprintf(v, sizeof(v), "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino);
	(void)setenv("JOURNAL_STREAM", v, 1);
	ok(journal_is_stderr(), "stderr's device and inode: the journal");
}

int
main(void)
{
	char dir[] = "/tmp/test-journal.XXXXXX";
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (!private_run()) {
		printf("1..0 # SKIP no private mount namespace for a test "
		    "journald socket: %s\n", strerror(errno));
		return 0;
	}
	if (mkdtemp(dir) == NULL)
		abort();
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", JOURNAL_SOCKET);
	sink = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sink < 0 || bind(sink, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();

	test_stream();
	(void)unsetenv("SOCKMAIL_LOG");
	(void)unsetenv("SOCKMAIL_DEBUG");
	log_init("sockmail-test", "192.0.2.1");
	ok(log_backend() == LOG_TO_JOURNAL, "log_init picks the journal");
	(void)setenv("SOCKMAIL_LOG", "stderr", 1);
	log_init("sockmail-test", "192.0.2.1");
	ok(log_backend() == LOG_TO_STDERR, "unless SOCKMAIL_LOG=stderr");
	(void)unsetenv("SOCKMAIL_LOG");
	log_init("sockmail-test", "192.0.2.1");

	test_event();
	test_sendv();
	test_proxy_peer(dir);
	test_fallback(dir);

	fixture_rm_tree(dir);
	return done_testing();
}
