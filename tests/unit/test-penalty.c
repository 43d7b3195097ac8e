/* SPDX-License-Identifier: MIT */
/* Unit tests for the penalty table: delays, keys, counts and their decay
 * (with a clock the test sets), a file that stays within its size under
 * 10,000 addresses, files that are not a table left alone, and counts kept
 * whole by the lock across processes. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "penalty.h"
#include "fixture.h"
#include "tap.h"

#define T0	1700000000		/* the tests' clock starts here */

static char	root[] = "/tmp/sockmail-penalty-XXXXXX";
static int	root_fd;

/* --- helpers ------------------------------------------------------------ */

static struct penalty_key
addr4(const char *text)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct penalty_key k;

	if (inet_pton(AF_INET, text, &sin.sin_addr) != 1 ||
	    penalty_key_addr((struct sockaddr *)&sin, &k) < 0)
		abort();
	return k;
}

static struct penalty_key
addr6(const char *text)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct penalty_key k;

	if (inet_pton(AF_INET6, text, &sin6.sin6_addr) != 1 ||
	    penalty_key_addr((struct sockaddr *)&sin6, &k) < 0)
		abort();
	return k;
}

static struct penalty_key
login(const char *name)
{
	struct penalty_key k;

	penalty_key_login(name, &k);
	return k;
}

static bool
same_key(const struct penalty_key *a, const struct penalty_key *b)
{
	return a->kind == b->kind &&
	    memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* One failure of k at now through p; its count after it. */
static unsigned
fail(struct penalty *p, struct penalty_key k, int64_t now)
{
	unsigned count;

	if (penalty_update(p, &k, 1, true, now, &count) != PENALTY_OK)
		return 9999999;
	return count;
}

/* k's count at now, -1 when the table cannot say. */
static long
count_of(struct penalty *p, struct penalty_key k, int64_t now)
{
	unsigned count;

	if (penalty_update(p, &k, 1, false, now, &count) != PENALTY_OK)
		return -1;
	return (long)count;
}

static off_t
size_of(const char *name)
{
	struct stat st;

	if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return st.st_size;
}

/* --- delays and keys ------------------------------------------------------ */

static void
test_delay(void)
{
	static const unsigned want[] = { 0, 2, 4, 8, 16, 30, 30, 30 };
	unsigned n;
	bool all = true;

	for (n = 0; n < sizeof(want) / sizeof(want[0]); n++)
		all &= penalty_delay(n, 2, 30) == want[n];
	ok(all, "-f 2 -F 30: 0, 2, 4, 8, 16, then 30 s");
	ok(penalty_delay(40, 2, 30) == 30 && penalty_delay(UINT32_MAX, 60,
	    3600) == 3600, "no overflow for huge counts: the cap");
	ok(penalty_delay(3, 1, 3) == 3 && penalty_delay(2, 1, 3) == 2,
	    "-f 1 -F 3: 1, 2, 3");
	ok(penalty_delay(5, 0, 30) == 0 && penalty_delay(40, 0, 30) == 0,
	    "-f 0: never a delay");
	ok(penalty_delay(5, 2, 0) == 0, "-F 0: never a delay");
}

static void
test_keys(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct penalty_key k, a, b;

	a = addr4("192.0.2.7");
	b = addr6("::ffff:192.0.2.7");
	ok(same_key(&a, &b) && a.kind == PENALTY_ADDRESS,
	    "an IPv4-mapped IPv6 address is its IPv4 address");
	b = addr4("192.0.2.8");
	ok(!same_key(&a, &b), "two IPv4 addresses differ");
	a = addr6("2001:db8:1:2::5");
	b = addr6("2001:db8:1:2:ffff:ffff:ffff:99");
	ok(same_key(&a, &b), "one /64 is one key");
	b = addr6("2001:db8:1:3::5");
	ok(!same_key(&a, &b), "the next /64 is another key");
	a = addr6("::1");
	b = addr6("::ffff:0.0.0.1");
	ok(!same_key(&a, &b), "::/64 is not an IPv4 address");
	ok(penalty_key_addr((struct sockaddr *)&sun, &k) < 0 &&
	    errno == EAFNOSUPPORT, "a UNIX socket has no address key");

	a = login("LabXYZ");
	b = login("labxyz");
	ok(same_key(&a, &b) && a.kind == PENALTY_LOGIN,
	    "logins count ASCII-case-insensitively");
	b = login("labxy");
	ok(!same_key(&a, &b), "another login, another key");
	a = addr4("0.0.0.0");
	b = login("");
	ok(!same_key(&a, &b), "an address is never a login");
}

/* --- counts ------------------------------------------------------------- */

static void
test_new_table(void)
{
	struct penalty p;
	struct penalty_key keys[2];
	unsigned counts[2];
	struct stat st;
	char magic[8];
	int fd;

	penalty_init(&p, root_fd, "new");
	keys[0] = addr4("192.0.2.7");
	keys[1] = login("alice");
	ok(penalty_update(&p, keys, 2, false, T0, counts) == PENALTY_OK &&
	    counts[0] == 0 && counts[1] == 0,
	    "a missing table is made, and counts nothing");
	ok(fstatat(root_fd, "new", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
	    st.st_size == PENALTY_FILE_SIZE,
	    "as a 0600 file of %d bytes", PENALTY_FILE_SIZE);
	fd = openat(root_fd, "new", O_RDONLY);
	ok(fd >= 0 && read(fd, magic, 8) == 8 &&
	    memcmp(magic, "sockpnlt", 8) == 0, "beginning with the magic");
	if (fd >= 0)
		(void)close(fd);

	ok(penalty_update(&p, keys, 2, true, T0, counts) == PENALTY_OK &&
	    counts[0] == 1 && counts[1] == 1, "one failure: 1 and 1");
	ok(penalty_update(&p, keys, 2, true, T0, counts) == PENALTY_OK &&
	    counts[0] == 2 && counts[1] == 2, "another: 2 and 2");
	ok(penalty_update(&p, keys, 2, false, T0 + 1, counts) == PENALTY_OK &&
	    counts[0] == 2 && counts[1] == 2, "a look-up counts nothing");
	keys[1] = keys[0];
	ok(penalty_update(&p, keys, 2, true, T0, counts) == PENALTY_OK &&
	    counts[0] == 3 && counts[1] == 4, "the same key twice counts twice");
	ok(count_of(&p, login("ALICE"), T0) == 2 &&
	    count_of(&p, login("bob"), T0) == 0 &&
	    count_of(&p, addr6("::ffff:192.0.2.7"), T0) == 4,
	    "each key has its own count");
	penalty_free(&p);

	/* Another handle, as another process would open it. */
	penalty_init(&p, root_fd, "new");
	ok(count_of(&p, addr4("192.0.2.7"), T0) == 4,
	    "the counts outlive the handle");
	penalty_free(&p);
}

static void
test_decay(void)
{
	struct penalty p;
	struct penalty_key k = addr4("198.51.100.1");

	penalty_init(&p, root_fd, "decay");
	(void)fail(&p, k, T0);
	(void)fail(&p, k, T0);
	ok(fail(&p, k, T0) == 3, "three failures at t");
	ok(count_of(&p, k, T0 + 59) == 3, "still 3 at t+59 s");
	ok(count_of(&p, k, T0 + 60) == 2, "2 at t+60 s");
	ok(count_of(&p, k, T0 + 179) == 1, "1 at t+179 s");
	ok(count_of(&p, k, T0 + 180) == 0 && count_of(&p, k, T0 + 99999) == 0,
	    "0 from t+180 s on");
	ok(count_of(&p, k, T0 - 3600) == 3,
	    "a clock behind the last failure's: no decay");
	ok(fail(&p, k, T0 + 120) == 2, "a failure at t+120 s: 1 left, +1");
	ok(count_of(&p, k, T0 + 179) == 2 && count_of(&p, k, T0 + 180) == 1,
	    "decaying from the new failure on");
	ok(fail(&p, k, T0 + 60) == 3 && count_of(&p, k, T0 + 120) == 3,
	    "a failure stamped before the last one keeps the later time");
	penalty_free(&p);
}

/* --- bounds ------------------------------------------------------------- */

/* In batches of 100 keys a lock, so that the test does not wait for
 * 10,000 fdatasyncs. */
static void
test_ten_thousand(void)
{
	enum { BATCH = 100 };
	struct penalty p;
	struct penalty_key heavy = addr6("2001:db8:bad::1"), k, keys[BATCH];
	unsigned i, j, counts[BATCH];
	char text[64];
	bool all_one = true, size_kept = true;
	long last_count;

	penalty_init(&p, root_fd, "many");
	for (i = 0; i < 5; i++)
		(void)fail(&p, heavy, T0);
	for (i = 0; i < 10000; i += BATCH) {
		for (j = 0; j < BATCH; j++) {
			(void)snprintf(text, sizeof(text), "10.%u.%u.%u",
			    (i + j) >> 16 & 255, (i + j) >> 8 & 255,
			    (i + j) & 255);
			keys[j] = addr4(text);
		}
		if (penalty_update(&p, keys, BATCH, true, T0 + 1, counts) !=
		    PENALTY_OK)
			abort();
		for (j = 0; j < BATCH; j++)
			all_one &= counts[j] == 1;
		size_kept &= size_of("many") == PENALTY_FILE_SIZE;
	}
	ok(all_one, "10,000 distinct addresses, one failure each: count 1");
	ok(size_kept, "the file stayed at %d bytes all along",
	    PENALTY_FILE_SIZE);
	ok(count_of(&p, heavy, T0 + 1) == 5,
	    "the address with 5 failures was never evicted");
	last_count = count_of(&p, addr4("10.0.39.15"), T0 + 1);
	ok(last_count == 1, "the last address is there (%ld)", last_count);
	/* Later, the old ones have decayed and give way first. */
	k = addr4("203.0.113.9");
	ok(fail(&p, k, T0 + 3600) == 1 && count_of(&p, k, T0 + 3600) == 1 &&
	    size_of("many") == PENALTY_FILE_SIZE,
	    "an hour later a new address finds room, the size unchanged");
	penalty_free(&p);
}

/* --- files that are not a table ----------------------------------------- */

static unsigned char foreign[PENALTY_FILE_SIZE];

/* A handle on name must break once, with a why that contains want_why,
 * and be off from then on. */
static void
refused(const char *name, const char *want_why, const char *label)
{
	struct penalty p;
	struct penalty_key k = addr4("192.0.2.1");
	unsigned count = 7;
	enum penalty_status st;

	penalty_init(&p, root_fd, name);
	st = penalty_update(&p, &k, 1, true, T0, &count);
	ok(st == PENALTY_BROKEN && count == 0 && p.why != NULL &&
	    strstr(p.why, want_why) != NULL,
	    "%s: refused (%s)", label, p.why != NULL ? p.why : "-");
	ok(penalty_update(&p, &k, 1, true, T0, &count) == PENALTY_OFF,
	    "%s: and off from then on", label);
	penalty_free(&p);
}

static void
test_refused(void)
{
	struct penalty p;
	unsigned char table[PENALTY_FILE_SIZE];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(foreign); i++)
		foreign[i] = (unsigned char)(i * 7 + 3);
	fixture_put(root_fd, "foreign", foreign, sizeof(foreign), 0600);
	refused("foreign", "foreign", "foreign bytes of a table's size");
	fd = openat(root_fd, "foreign", O_RDONLY);
	ok(fd >= 0 && fixture_fd_is(fd, "foreign", (const char *)foreign,
	    sizeof(foreign)), "foreign bytes: untouched");
	if (fd >= 0)
		(void)close(fd);

	fixture_put(root_fd, "text", "user pass\n", 10, 0600);
	refused("text", "foreign", "a short foreign file");
	ok(fixture_file_is(root_fd, "text", "user pass\n", 10),
	    "a short foreign file: untouched");

	fixture_put(root_fd, "target", "keep\n", 5, 0600);
	if (symlinkat("target", root_fd, "link") < 0 ||
	    symlinkat("missing", root_fd, "dangling") < 0 ||
	    linkat(root_fd, "target", root_fd, "hard", 0) < 0 ||
	    mkfifoat(root_fd, "fifo", 0600) < 0 ||
	    mkdirat(root_fd, "dir", 0700) < 0)
		abort();
	refused("link", "symbolic link", "a symbolic link");
	refused("dangling", "symbolic link", "a dangling symbolic link");
	ok(fixture_file_is(root_fd, "target", "keep\n", 5) &&
	    size_of("missing") < 0, "links: never followed, nothing made");
	refused("hard", "link", "a second hard link");
	ok(fixture_file_is(root_fd, "target", "keep\n", 5),
	    "a hard link: untouched");
	refused("fifo", "regular", "a FIFO (and no hang)");
	refused("dir", "open", "a directory");

	/* A real table, then too long, then of another version. */
	penalty_init(&p, root_fd, "real");
	(void)count_of(&p, addr4("192.0.2.1"), T0);
	penalty_free(&p);
	fd = openat(root_fd, "real", O_RDWR);
	if (fd < 0 || read(fd, table, sizeof(table)) != sizeof(table))
		abort();
	(void)close(fd);
	fixture_put(root_fd, "long", table, sizeof(table), 0600);
	fd = openat(root_fd, "long", O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "x", 1) != 1)
		abort();
	(void)close(fd);
	refused("long", "too long", "a table with a byte more");
	ok(size_of("long") == PENALTY_FILE_SIZE + 1, "too long: untouched");
	table[8] = 2;
	fixture_put(root_fd, "v2", table, sizeof(table), 0600);
	refused("v2", "version", "a table of version 2");
	table[8] = 1;
	table[13] ^= 1;		/* another slot count */
	fixture_put(root_fd, "slots", table, sizeof(table), 0600);
	refused("slots", "size", "a table of another slot count");
}

static void
test_initialised(void)
{
	struct penalty p;
	struct penalty_key k = addr4("192.0.2.2");
	static const char *const names[] = { "empty", "s", "sockpnlt",
	    "sockpnlt-and-more" };
	size_t i;

	fixture_put(root_fd, "empty", "", 0, 0600);
	fixture_put(root_fd, "s", "s", 1, 0600);
	fixture_put(root_fd, "sockpnlt", "sockpnlt", 8, 0600);
	fixture_put(root_fd, "sockpnlt-and-more", "sockpnlt\1\0\0\0junk", 16,
	    0600);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		penalty_init(&p, root_fd, names[i]);
		ok(fail(&p, k, T0) == 1 && fail(&p, k, T0) == 2 &&
		    size_of(names[i]) == PENALTY_FILE_SIZE,
		    "\"%s\" (%s): initialised, and counts", names[i],
		    i == 0 ? "tmpfiles.d's empty file" :
		    "an initialisation cut short");
		penalty_free(&p);
	}
}

/* A table whose slots are garbage under a good header (a torn write
 * elsewhere, a bug): any key still counts from what is there, nothing
 * crashes, and the file keeps its size. */
static void
test_garbage_slots(void)
{
	struct penalty p;
	unsigned char table[PENALTY_FILE_SIZE];
	uint64_t x = 88172645463325252ULL;
	unsigned i, n;
	bool sane = true;
	int fd;
	char text[32];

	penalty_init(&p, root_fd, "garbage");
	(void)count_of(&p, addr4("192.0.2.1"), T0);
	penalty_free(&p);
	fd = openat(root_fd, "garbage", O_RDWR);
	if (fd < 0 || read(fd, table, sizeof(table)) != sizeof(table))
		abort();
	for (i = PENALTY_HEADER_SIZE; i < sizeof(table); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		table[i] = (unsigned char)x;
	}
	if (pwrite(fd, table, sizeof(table), 0) != sizeof(table))
		abort();
	(void)close(fd);
	penalty_init(&p, root_fd, "garbage");
	for (i = 0; i < 200; i++) {
		(void)snprintf(text, sizeof(text), "u%u", i);
		n = fail(&p, login(text), (int64_t)T0 + i);
		sane &= n >= 1 && n <= PENALTY_COUNT_MAX;
	}
	ok(sane && size_of("garbage") == PENALTY_FILE_SIZE,
	    "garbage slots: 200 logins counted, the size kept");
	penalty_free(&p);
}

/* --- the lock ------------------------------------------------------------ */

static void
test_processes(void)
{
	enum { PROCS = 4, EACH = 50 };
	struct penalty p;
	struct penalty_key k = addr6("2001:db8::42");
	pid_t pids[PROCS];
	int i, j, status, bad = 0;

	for (i = 0; i < PROCS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			abort();
		if (pids[i] == 0) {
			penalty_init(&p, root_fd, "shared");
			for (j = 0; j < EACH; j++)
				if (fail(&p, k, T0) > PENALTY_COUNT_MAX)
					_exit(1);
			penalty_free(&p);
			_exit(0);
		}
	}
	for (i = 0; i < PROCS; i++)
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bad++;
	penalty_init(&p, root_fd, "shared");
	ok(bad == 0 && count_of(&p, k, T0) == PROCS * EACH,
	    "%d processes, %d failures each, one key: %d counted", PROCS,
	    EACH, PROCS * EACH);
	penalty_free(&p);
}

int
main(void)
{
	/* A lock never granted or a FIFO opened blocking must fail the
	 * test, not hang it. */
	(void)alarm(300);
	(void)umask(022);
	if (mkdtemp(root) == NULL)
		abort();
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		abort();

	test_delay();
	test_keys();
	test_new_table();
	test_decay();
	test_ten_thousand();
	test_refused();
	test_initialised();
	test_garbage_slots();
	test_processes();

	(void)close(root_fd);
	fixture_rm_tree(root);
	return done_testing();
}
