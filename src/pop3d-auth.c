/* SPDX-License-Identifier: MIT */
/* sockmail-pop3d's AUTHORIZATION commands: USER and PASS, APOP, and SASL
 * AUTH PLAIN (RFC 1939, RFC 5034; sockmail-pop3d(8)). Every way in waits
 * what the client's address has earned in the penalty table before the
 * password is checked, and ends in finish_login, so each costs the same on
 * failure and opens the maildrop the same way on success. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pop3d.h"
#include "log.h"
#include "md5.h"
#include "penalty.h"
#include "str.h"

#define REPLY_BAD_LOGIN	"-ERR [AUTH] Invalid username or password"

/* AUTH PLAIN's credentials: authzid NUL authcid NUL password, base64. */
#define PLAIN_MAX	(2 * USERDB_LOGIN_MAX + USERDB_PASSWORD_MAX + 2)
#define PLAIN_B64_MAX	((PLAIN_MAX + 2) / 3 * 4)

/* -R: no password travels in clear text from a remote client. The
 * argument is wiped, since it may be one. */
static bool
refused_before_tls(struct pop3_session *s, char *arg)
{
	if (!s->cfg->auth_needs_tls || s->tls_active)
		return false;
	str_wipe(arg, strlen(arg));
	log_event(LOG_NOTICE, "auth-refused", "authentication before TLS");
	pop3_reply(s, "-ERR [AUTH] Authentication requires TLS (use STLS)");
	return true;
}

/* Remember login as the session's user; a name that cannot be a login is
 * remembered as none, and fails like a wrong password. */
static void
take_user(struct pop3_session *s, const char *login)
{
	if (!userdb_login_valid(login) ||
	    str_copy(s->user, sizeof(s->user), login) < 0)
		s->user[0] = '\0';
}

void
pop3_cmd_user(struct pop3_session *s, char *arg)
{
	if (refused_before_tls(s, arg))
		return;
	/* The same answer for every name: no user enumeration. */
	s->have_user = true;
	take_user(s, arg);
	pop3_reply(s, "+OK send PASS");
}

static void
sleep_until(const struct timespec *deadline)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline,
	    NULL) == EINTR)
		;
}

/* The client's address as a key of the penalty table. Returns false when
 * there is none (a pipe, a UNIX socket): then only the login counts. */
static bool
address_key(const struct pop3_session *s, struct penalty_key *k)
{
	return s->cfg->has_peer_addr &&
	    penalty_key_addr((const struct sockaddr *)&s->cfg->peer_addr,
	    k) == 0;
}

/* The client's address for the auth-failed line, which fail2ban reads
 * (an IPv4-mapped address as IPv4: that is what a firewall sees). */
static void
address_text(const struct pop3_session *s, char *buf, size_t size)
{
	const struct sockaddr_storage *a = &s->cfg->peer_addr;
	const struct in6_addr *in6;
	const void *src = NULL;
	int af = a->ss_family;

	(void)str_copy(buf, size, "local");
	if (!s->cfg->has_peer_addr)
		return;
	if (af == AF_INET)
		src = &((const struct sockaddr_in *)(const void *)a)->sin_addr;
	else if (af == AF_INET6) {
		in6 = &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
		src = in6;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			af = AF_INET;
			src = in6->s6_addr + 12;
		}
	}
	if (src != NULL && inet_ntop(af, src, buf, (socklen_t)size) == NULL)
		(void)str_copy(buf, size, "unknown");
}

/* The penalty table's counts of keys[0..n), after one more failure of
 * each when add. Returns false, with every count 0, when there is no
 * table to ask: none configured, or one that broke (logged once; logins
 * go on, delayed per connection only). */
static bool
table_update(struct pop3_session *s, const struct penalty_key *keys,
    size_t n, bool add, unsigned *counts)
{
	struct penalty *p = s->cfg->penalty;
	struct timespec now;
	size_t i;

	for (i = 0; i < n; i++)
		counts[i] = 0;
	if (p == NULL || n == 0)
		return false;
	(void)clock_gettime(CLOCK_REALTIME, &now);
	switch (penalty_update(p, keys, n, add, (int64_t)now.tv_sec, counts)) {
	case PENALTY_OK:
		return true;
	case PENALTY_BROKEN:
		log_event(LOG_WARNING, "penalty", "table %s: %s%s%s; failed "
		    "logins are delayed per connection only", p->name, p->why,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return false;
	case PENALTY_OFF:
		break;
	}
	return false;
}

static unsigned
penalty_of(const struct pop3_session *s, unsigned count)
{
	return penalty_delay(count, (unsigned)s->cfg->fail_delay_s,
	    (unsigned)s->cfg->penalty_cap_s);
}

/* Before a password is checked: wait what the client's address has
 * earned, counted from when the command arrived (started). The right
 * password waits too, so that a guesser who hangs up early learns
 * nothing sooner; but only for its own address's failures, never for
 * its login's, so that no one can lock a user out from elsewhere. */
static void
wait_address_penalty(struct pop3_session *s, const struct timespec *started)
{
	struct timespec deadline = *started;
	struct penalty_key k;
	unsigned count, wait;

	/* -f 0 or -F 0: nothing to wait for, whatever the count. */
	if (penalty_of(s, PENALTY_COUNT_MAX) == 0 || !address_key(s, &k) ||
	    !table_update(s, &k, 1, false, &count))
		return;
	wait = penalty_of(s, count);
	if (wait == 0)
		return;
	(void)out_flush(&s->ses.out);
	deadline.tv_sec += (time_t)wait;
	sleep_until(&deadline);
}

/* A failed login: count it for the client's address and for the login
 * tried, in the penalty table first, and answer once the whole attempt,
 * from when the command arrived (started), has taken the longest of -f
 * and what the address and the login have earned. The same whatever made
 * it fail, so neither the delay nor the time a hash takes tells a wrong
 * password from an unknown user. */
static void
fail_login(struct pop3_session *s, const struct timespec *started)
{
	struct timespec deadline = *started;
	struct penalty_key keys[2];
	unsigned counts[2], delay, d;
	size_t n = 0, addr_at = 2, login_at = 2;
	char addr[INET6_ADDRSTRLEN], counted[64] = "";
	bool in_table;

	s->failed_logins++;
	if (address_key(s, &keys[n]))
		addr_at = n++;
	if (s->user[0] != '\0') {
		penalty_key_login(s->user, &keys[n]);
		login_at = n++;
	}
	in_table = table_update(s, keys, n, true, counts);
	delay = (unsigned)s->cfg->fail_delay_s;
	if (addr_at < n && (d = penalty_of(s, counts[addr_at])) > delay)
		delay = d;
	if (login_at < n && (d = penalty_of(s, counts[login_at])) > delay)
		delay = d;
	if (in_table && addr_at < n && login_at < n)
		(void)snprintf(counted, sizeof(counted), "; failures: "
		    "address %u, login %u", counts[addr_at], counts[login_at]);
	else if (in_table)
		(void)snprintf(counted, sizeof(counted), "; failures: %s %u",
		    addr_at < n ? "address" : "login", counts[0]);
	address_text(s, addr, sizeof(addr));
	log_event(LOG_NOTICE, "auth-failed", "login %s from %s failed (%u in "
	    "this session)%s; answered after %u s",
	    s->user[0] != '\0' ? s->user : "(invalid)", addr,
	    s->failed_logins, counted, delay);
	(void)out_flush(&s->ses.out);
	deadline.tv_sec += (time_t)delay;
	sleep_until(&deadline);
	pop3_reply(s, REPLY_BAD_LOGIN);
	if (s->failed_logins >= POP3_LOGIN_FAILURES_MAX)
		s->done = true;
}

/* Finish a login attempt: fail it, or open the maildrop. A success does
 * not reset the table's counts: an attacker could otherwise clear its
 * address by logging in to an account of its own. They decay instead. */
static void
finish_login(struct pop3_session *s, const struct timespec *started,
    const struct userdb_entry *user, bool ok, const char *method)
{
	uint64_t octets;
	size_t count;

	if (!ok) {
		fail_login(s, started);
		return;
	}
	if (maildrop_open(&s->md, s->cfg->root_fd, user->login) < 0) {
		if (errno == EAGAIN) {
			log_event(LOG_INFO, "in-use", "maildrop of %s is locked",
			    user->login);
			pop3_reply(s, "-ERR [IN-USE] Maildrop already locked");
		} else {
			log_event(LOG_ERR, "maildrop", "mailbox of %s: %s",
			    user->login, strerror(errno));
			pop3_reply(s, "-ERR [SYS/TEMP] Unable to open maildrop");
		}
		return;
	}
	session_set_state(&s->ses, POP3_TRANSACTION);
	log_set_user(user->login);
	maildrop_stat(&s->md, &count, &octets);
	log_event(LOG_INFO, "login", "%s: %zu messages, %llu octets, by %s %s",
	    user->login, count, (unsigned long long)octets, method,
	    s->tls_active ? "over TLS" : "in clear text");
	pop3_reply(s, "+OK maildrop has %zu messages (%llu octets)", count,
	    (unsigned long long)octets);
}

/* Look the session's user up. Returns 1 found, 0 not, -1 on a local error
 * (replied). */
static int
find_user(struct pop3_session *s, const char *login,
    struct userdb_entry *user)
{
	int found;

	if (login[0] == '\0')
		return 0;
	found = userdb_find(s->cfg->root_fd, login, user);
	if (found >= 0)
		return found;
	log_event(LOG_ERR, "userinfo", "cannot read %s: %s", USERDB_FILE,
	    strerror(errno));
	pop3_reply(s, "-ERR [SYS/TEMP] Local error, try again later");
	return -1;
}

/* Check password for the session's user and finish the login; method
 * names the command, for the log. */
static void
check_password(struct pop3_session *s, const struct timespec *started,
    const char *password, const char *method)
{
	struct userdb_entry user;
	int found;

	wait_address_penalty(s, started);
	found = find_user(s, s->user, &user);
	if (found < 0)
		return;
	finish_login(s, started, &user,
	    found && userdb_password_ok(&user, password), method);
	userdb_entry_free(&user);
}

void
pop3_cmd_pass(struct pop3_session *s, char *arg)
{
	struct timespec started;

	if (refused_before_tls(s, arg))
		return;
	(void)clock_gettime(CLOCK_MONOTONIC, &started);
	if (!s->have_user) {
		str_wipe(arg, strlen(arg));
		pop3_reply(s, "-ERR USER first");
		return;
	}
	s->have_user = false;	/* RFC 1939: PASS follows its own USER */
	check_password(s, &started, arg, "USER");
	str_wipe(arg, strlen(arg));
}

/* APOP name digest (RFC 1939 7): MD5 of the greeting's timestamp and the
 * plain-text password. Users with a hashed password cannot use it. */
void
pop3_cmd_apop(struct pop3_session *s, char *arg)
{
	char expect[2 * MD5_DIGEST_SIZE + 1], buf[POP3_TIMESTAMP_MAX +
	    USERDB_PASSWORD_MAX + 1];
	struct userdb_entry user;
	struct timespec started;
	const char *pw;
	char *digest;
	int found, n;
	bool ok = false;

	(void)clock_gettime(CLOCK_MONOTONIC, &started);
	if (!s->cfg->apop) {
		pop3_reply(s, "-ERR unrecognized command");
		return;
	}
	if (refused_before_tls(s, arg))
		return;
	digest = strchr(arg, ' ');
	if (digest == NULL) {
		pop3_reply(s, "-ERR usage: APOP name digest");
		return;
	}
	*digest++ = '\0';
	take_user(s, arg);
	wait_address_penalty(s, &started);
	found = find_user(s, s->user, &user);
	if (found < 0)
		return;
	if (found && !str_iprefix(user.password, "{CRYPT}")) {
		pw = user.password;
		if (str_iprefix(pw, "{PLAIN}"))
			pw += strlen("{PLAIN}");
		n = snprintf(buf, sizeof(buf), "%s%s", s->timestamp, pw);
		if (n > 0 && (size_t)n < sizeof(buf)) {
			md5_hex(buf, (size_t)n, expect);
			ok = str_const_eq(expect, strlen(expect), digest,
			    strlen(digest));
		}
		str_wipe(buf, sizeof(buf));
	}
	finish_login(s, &started, &user, ok, "APOP");
	userdb_entry_free(&user);
}

/* The PLAIN credentials in b64 (RFC 4616): authzid, authcid and password
 * split by NULs; an authzid, if any, must name the authcid itself. */
static void
auth_plain(struct pop3_session *s, const struct timespec *started,
    const char *b64)
{
	unsigned char creds[PLAIN_MAX + 1];
	const char *authzid, *authcid, *password;
	size_t len, azlen, aclen;
	long n;

	n = base64_decode(b64, creds, sizeof(creds) - 1);
	if (n < 0) {
		pop3_reply(s, "-ERR invalid base64 in AUTH");
		return;
	}
	len = (size_t)n;
	creds[len] = '\0';
	authzid = (const char *)creds;
	azlen = strnlen(authzid, len);
	authcid = authzid + azlen + 1;
	aclen = azlen < len ? strnlen(authcid, len - azlen - 1) : 0;
	if (azlen + 1 + aclen >= len) {
		str_wipe(creds, sizeof(creds));
		pop3_reply(s, "-ERR malformed AUTH PLAIN credentials");
		return;
	}
	password = authcid + aclen + 1;
	/* A NUL inside the password, or someone else's authzid: a failed
	 * login like any other. */
	if (strlen(password) != len - azlen - aclen - 2 ||
	    (azlen > 0 && strcmp(authzid, authcid) != 0))
		take_user(s, "");
	else
		take_user(s, authcid);
	check_password(s, started, password, "PLAIN");
	str_wipe(creds, sizeof(creds));
}

/* AUTH mechanism [initial-response] (RFC 5034). */
void
pop3_cmd_auth(struct pop3_session *s, char *arg)
{
	char response[PLAIN_B64_MAX + 1];
	struct timespec started;
	enum line_status st;
	char *initial;
	size_t len;
	bool crlf;

	if (s->cfg->tls == NULL) {
		pop3_reply(s, "-ERR unrecognized command");
		return;
	}
	if (refused_before_tls(s, arg))
		return;
	(void)clock_gettime(CLOCK_MONOTONIC, &started);
	if (arg[0] == '\0') {
		/* The mechanisms, as RFC 1734 clients ask for them. */
		pop3_reply(s, "+OK");
		pop3_reply(s, "PLAIN");
		pop3_reply(s, ".");
		return;
	}
	initial = strchr(arg, ' ');
	if (initial != NULL)
		*initial++ = '\0';
	if (!str_ieq(arg, "PLAIN")) {
		pop3_reply(s, "-ERR [AUTH] Unrecognized authentication type");
		return;
	}
	if (initial != NULL) {
		/* "=" is an empty initial response (RFC 5034 4). */
		auth_plain(s, &started, strcmp(initial, "=") == 0 ? "" : initial);
		str_wipe(initial, strlen(initial));
		return;
	}
	pop3_reply(s, "+ ");
	st = line_read(&s->ses.in, response, sizeof(response), &len, &crlf);
	if (st == LINE_TOO_LONG) {
		pop3_reply(s, "-ERR line too long");
		return;
	}
	if (st == LINE_TIMEOUT) {
		pop3_idle_timeout(s);
		return;
	}
	if (st != LINE_OK || s->ses.in.last_cut) {
		s->done = true;		/* end of input or an error */
		str_wipe(response, sizeof(response));
		return;
	}
	/* The attempt starts when its credentials arrive: time spent
	 * before them must not pay for the delays. */
	(void)clock_gettime(CLOCK_MONOTONIC, &started);
	if (strcmp(response, "*") == 0)
		pop3_reply(s, "-ERR authentication cancelled");
	else if (memchr(response, '\0', len) != NULL)
		pop3_reply(s, "-ERR invalid base64 in AUTH");
	else
		auth_plain(s, &started, response);
	str_wipe(response, sizeof(response));
}
