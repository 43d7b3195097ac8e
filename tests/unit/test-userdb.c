/* SPDX-License-Identifier: MIT */
/* Unit tests for userdb: logins, userinfo.txt lines, lookup, passwords. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userdb.h"
#include "log.h"
#include "fixture.h"
#include "tap.h"

/* openssl passwd -6 -salt sockmailsalt cryptpw */
#define CRYPT_HASH "$6$sockmailsalt$/ANLwpcQpM2MJoFzQH2bM0ZCOFFkqRYvLd/" \
	"xxUnLwEDYtYKAuwQUXQmwRD7WuiZmfhQwOK7zQnNpLhpWM5kJg0"

static void
put_file(int dirfd, const char *name, const char *data)
{
	fixture_put(dirfd, name, data, strlen(data), 0600);
}

static void
test_login_valid(void)
{
	char	name[80];

	ok(userdb_login_valid("a"), "login: one letter");
	ok(userdb_login_valid("IbrahimEK"), "login: mixed case");
	ok(userdb_login_valid("a.b_c-d09"), "login: . _ - and digits inside");
	ok(userdb_login_valid("_x") && userdb_login_valid("9z"),
	    "login: may start with _ or a digit");
	ok(userdb_login_valid("x.") && userdb_login_valid("x-"),
	    "login: may end with . or -");
	memset(name, 'a', 64);
	name[64] = '\0';
	ok(userdb_login_valid(name), "login: 64 characters");
	name[64] = 'a';
	name[65] = '\0';
	ok(!userdb_login_valid(name), "login: 65 characters are too many");
	ok(!userdb_login_valid(""), "login: empty");
	ok(!userdb_login_valid(".hidden"), "login: leading . refused");
	ok(!userdb_login_valid("-opt"), "login: leading - refused");
	ok(!userdb_login_valid(".") && !userdb_login_valid(".."),
	    "login: . and .. refused");
	ok(!userdb_login_valid("../x"), "login: ../x refused");
	ok(!userdb_login_valid("a/b"), "login: a slash refused");
	ok(!userdb_login_valid("a b") && !userdb_login_valid("a\tb"),
	    "login: blanks refused");
	ok(!userdb_login_valid("a@b") && !userdb_login_valid("a+b") &&
	    !userdb_login_valid("a:b") && !userdb_login_valid("a\\b"),
	    "login: @ + : \\ refused");
	ok(!userdb_login_valid("caf\xc3\xa9"), "login: UTF-8 refused");
	ok(!userdb_login_valid("caf\xe9"), "login: Latin-1 refused");
	ok(!userdb_login_valid("a\r") && !userdb_login_valid("a\n"),
	    "login: control characters refused");
}

static void
test_parse_line(void)
{
	struct userdb_entry	e;
	char			line[USERDB_LINE_MAX + 100];

#define PARSE(s)	userdb_parse_line((s), sizeof(s) - 1, &e)
	memset(&e, 'Z', sizeof(e));
	ok(PARSE("alice secret") == USERDB_LINE_USER &&
	    strcmp(e.login, "alice") == 0 && strcmp(e.password, "secret") == 0,
	    "parse: LOGIN space PASSWORD");
	ok(PARSE("Bob\t\t{PLAIN}pw") == USERDB_LINE_USER &&
	    strcmp(e.login, "Bob") == 0 && strcmp(e.password, "{PLAIN}pw") == 0,
	    "parse: tabs between the fields, login spelling kept");
	ok(PARSE("carol \t pw") == USERDB_LINE_USER &&
	    strcmp(e.password, "pw") == 0, "parse: mixed blanks");
	ok(PARSE("dave pw   ") == USERDB_LINE_USER &&
	    strcmp(e.login, "dave") == 0 && strcmp(e.password, "pw") == 0,
	    "parse: trailing spaces are not part of the password");
	ok(PARSE("dave pw\t") == USERDB_LINE_USER &&
	    strcmp(e.password, "pw") == 0,
	    "parse: a trailing tab is not part of the password");
	ok(PARSE("alice {CRYPT}" CRYPT_HASH) == USERDB_LINE_USER &&
	    strcmp(e.password, "{CRYPT}" CRYPT_HASH) == 0,
	    "parse: a {CRYPT} password kept whole");
	ok(userdb_parse_line("erin pw#junk", 7, &e) == USERDB_LINE_USER &&
	    strcmp(e.password, "pw") == 0,
	    "parse: reads only len bytes");
	ok(PARSE("") == USERDB_LINE_SKIP, "parse: an empty line is skipped");
	ok(PARSE("   \t ") == USERDB_LINE_SKIP,
	    "parse: a line of blanks is skipped");
	ok(PARSE("# a comment") == USERDB_LINE_SKIP, "parse: a comment");
	ok(PARSE("#alice secret") == USERDB_LINE_SKIP,
	    "parse: a commented-out user");
	ok(PARSE("alice") == USERDB_LINE_BAD, "parse: one field is bad");
	ok(PARSE("alice   ") == USERDB_LINE_BAD,
	    "parse: one field and blanks is bad");
	ok(PARSE("alice secret extra") == USERDB_LINE_BAD,
	    "parse: three fields are bad");
	ok(PARSE("../x secret") == USERDB_LINE_BAD,
	    "parse: an invalid login is bad");
	ok(PARSE(".alice secret") == USERDB_LINE_BAD,
	    "parse: a login with a leading . is bad");
	ok(PARSE("al/ice secret") == USERDB_LINE_BAD,
	    "parse: a login with a slash is bad");
	ok(userdb_parse_line("al\0ce secret", 12, &e) == USERDB_LINE_BAD,
	    "parse: a NUL in the line is bad");

	memset(line, 'a', 65);
	memcpy(line + 65, " pw", 3);
	ok(userdb_parse_line(line, 68, &e) == USERDB_LINE_BAD,
	    "parse: a 65-character login is bad");
	memcpy(line + 64, " pw", 3);
	ok(userdb_parse_line(line, 67, &e) == USERDB_LINE_USER &&
	    strlen(e.login) == 64,
	    "parse: a 64-character login is fine");
	memcpy(line, "u ", 2);
	memset(line + 2, 'p', USERDB_PASSWORD_MAX);
	ok(userdb_parse_line(line, 2 + USERDB_PASSWORD_MAX, &e) ==
	    USERDB_LINE_USER && strlen(e.password) == USERDB_PASSWORD_MAX,
	    "parse: a password of USERDB_PASSWORD_MAX bytes is fine");
	line[2 + USERDB_PASSWORD_MAX] = 'p';
	ok(userdb_parse_line(line, 3 + USERDB_PASSWORD_MAX, &e) ==
	    USERDB_LINE_BAD,
	    "parse: a longer password is bad, never truncated");
#undef PARSE
	userdb_entry_free(&e);
}

static void
test_find(void)
{
	char			 root[] = "/tmp/sockmail-userdb-XXXXXX";
	char			 longline[3000];
	int			 root_fd;
	struct userdb_entry	 e;
	int			 rc;

	if (mkdtemp(root) == NULL)
		abort();
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd == -1)
		abort();
	memset(longline, 'L', sizeof(longline) - 2);
	memcpy(longline, "long ", 5);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	{
		char	text[4096];
		int	n = snprintf(text, sizeof(text),
		    "# test users\n"
		    "\n"
		    "Alice\t{PLAIN}first\n"
		    "alice\tsecond\n"
		    "carol pw extra\n"
		    "../evil pw\n"
		    "dave\n"
		    "%s"
		    "   \n"
		    "bob   bobpw  \n"
		    "frank\tfrankpw\r\n"
		    "Grace {CRYPT}" CRYPT_HASH "\r\n"
		    "erin erinpw", longline);

		if (n < 0 || (size_t)n >= sizeof(text))
			abort();
		put_file(root_fd, USERDB_FILE, text);
	}

	memset(&e, 0, sizeof(e));
	ok(userdb_find(root_fd, "ALICE", &e) == 1 &&
	    strcmp(e.login, "Alice") == 0 &&
	    strcmp(e.password, "{PLAIN}first") == 0,
	    "find: case-insensitive, first match wins, spelled as in the file");
	ok(userdb_password_ok(&e, "first") && !userdb_password_ok(&e, "second"),
	    "find: the first entry's password is the one that counts");
	userdb_entry_free(&e);
	ok(userdb_find(root_fd, "bob", &e) == 1 &&
	    strcmp(e.login, "bob") == 0 && strcmp(e.password, "bobpw") == 0,
	    "find: a user after malformed lines and a long line");
	userdb_entry_free(&e);
	ok(userdb_find(root_fd, "frank", &e) == 1 &&
	    strcmp(e.password, "frankpw") == 0,
	    "find: the CR of a CRLF line is not part of the password");
	ok(userdb_password_ok(&e, "frankpw"), "find: CRLF password works");
	userdb_entry_free(&e);
	ok(userdb_find(root_fd, "grace", &e) == 1 &&
	    strcmp(e.login, "Grace") == 0 &&
	    userdb_password_ok(&e, "cryptpw"),
	    "find: a {CRYPT} entry on a CRLF line");
	userdb_entry_free(&e);
	ok(userdb_find(root_fd, "erin", &e) == 1 &&
	    strcmp(e.password, "erinpw") == 0,
	    "find: a last line without LF");
	userdb_entry_free(&e);
	errno = 0;
	rc = userdb_find(root_fd, "carol", &e);
	ok(rc == 0, "find: a three-field line is skipped");
	errno = 0;
	rc = userdb_find(root_fd, "dave", &e);
	ok(rc == 0, "find: a one-field line is skipped");
	errno = 0;
	rc = userdb_find(root_fd, "../evil", &e);
	ok(rc == 0, "find: an invalid login never matches");
	errno = 0;
	rc = userdb_find(root_fd, "long", &e);
	ok(rc == 0, "find: an over-long line never matches");
	errno = 0;
	rc = userdb_find(root_fd, "nobody", &e);
	ok(rc == 0, "find: no such user is 0");
	errno = 0;
	rc = userdb_find(root_fd, "", &e);
	ok(rc == 0, "find: the empty login is 0");
	errno = 0;
	rc = userdb_find(root_fd, "alic", &e);
	ok(rc == 0, "find: a prefix of a login is no match");

	/* A userinfo.txt that cannot be read is not "no such user". */
	if (unlinkat(root_fd, USERDB_FILE, 0) == -1 ||
	    mkdirat(root_fd, USERDB_FILE, 0700) == -1)
		abort();
	errno = 0;
	rc = userdb_find(root_fd, "alice", &e);
	ok(rc == -1 && errno != 0,
	    "find: userinfo.txt a directory is an error (errno %d)", errno);
	if (unlinkat(root_fd, USERDB_FILE, AT_REMOVEDIR) == -1)
		abort();
	errno = 0;
	rc = userdb_find(root_fd, "alice", &e);
	ok(rc == -1 && errno == ENOENT,
	    "find: a missing userinfo.txt is an error (-1, ENOENT), told apart "
	    "from no such user (0)");

	(void)close(root_fd);
	fixture_rm_tree(root);
}

static void
test_password(void)
{
	struct userdb_entry	e;

	memset(&e, 0, sizeof(e));
	(void)snprintf(e.login, sizeof(e.login), "u");
	(void)snprintf(e.password, sizeof(e.password), "secret");
	ok(userdb_password_ok(&e, "secret"), "password: plain matches");
	ok(!userdb_password_ok(&e, "Secret"), "password: plain is case-sensitive");
	ok(!userdb_password_ok(&e, "secre"), "password: a prefix fails");
	ok(!userdb_password_ok(&e, "secrets"), "password: a longer guess fails");
	ok(!userdb_password_ok(&e, ""), "password: the empty password fails");
	ok(!userdb_password_ok(&e, "{PLAIN}secret"),
	    "password: {PLAIN} in the guess is not special");

	(void)snprintf(e.password, sizeof(e.password), "{PLAIN}secret");
	ok(userdb_password_ok(&e, "secret"), "password: {PLAIN}secret matches secret");
	ok(!userdb_password_ok(&e, "{PLAIN}secret"),
	    "password: {PLAIN}secret does not match itself");
	ok(!userdb_password_ok(&e, ""), "password: {PLAIN}: the empty password fails");

	(void)snprintf(e.password, sizeof(e.password), "{CRYPT}%s", CRYPT_HASH);
	ok(userdb_password_ok(&e, "cryptpw"), "password: {CRYPT} $6$ matches");
	ok(!userdb_password_ok(&e, "cryptpW"), "password: {CRYPT} wrong password");
	ok(!userdb_password_ok(&e, ""), "password: {CRYPT} empty password");
	ok(!userdb_password_ok(&e, CRYPT_HASH),
	    "password: {CRYPT} the hash itself is not the password");

	(void)snprintf(e.password, sizeof(e.password), "%s",
	    "{CRYPT}$6$saltsalt$fxtrgNr0//Ip0B6ss2a/TCLvMdsw5Nx6dknvHShinRxCFbP"
	    "DFOF1FjlGij8xWCb0jfJjN/ydBgMw3Go6NrTo21");
	ok(userdb_password_ok(&e, "alicepw"),
	    "password: the test mail root's alice hash matches alicepw");

	(void)snprintf(e.password, sizeof(e.password), "{CRYPT}");
	ok(!userdb_password_ok(&e, ""),
	    "password: an empty {CRYPT} hash never matches the empty password");
	ok(!userdb_password_ok(&e, "x"),
	    "password: an empty {CRYPT} hash never matches");
	(void)snprintf(e.password, sizeof(e.password), "{CRYPT}*");
	ok(!userdb_password_ok(&e, "*") && !userdb_password_ok(&e, ""),
	    "password: a locked {CRYPT}* hash never matches");

	(void)snprintf(e.password, sizeof(e.password), "wipe-me-please");
	userdb_entry_free(&e);
	ok(memmem(&e, sizeof(e), "wipe-me", 7) == NULL,
	    "entry_free: the password is wiped");
}

int
main(void)
{
	log_init("test-userdb", NULL);
	test_login_valid();
	test_parse_line();
	test_find();
	test_password();
	return done_testing();
}
