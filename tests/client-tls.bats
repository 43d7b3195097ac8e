#!/usr/bin/env bats
# mail_client's TLS: STARTTLS for Mail Sending, STLS and implicit TLS
# (--pop3s) for Mail Management, AUTH PLAIN over TLS and USER/PASS where
# the server offers no SASL PLAIN; the certificate checks (host name, IP
# address, issuer, expiry) and what a failed one stops; --tls, --no-tls,
# --insecure and --tls-trust-file; a man in the middle that strips
# STARTTLS and STLS (tests/tools/strip-proxy.py); hostile TLS servers
# (tests/tools/fake-server.py's TLS modes). A server that is not on
# loopback, in a network namespace, is client-netns.bats'.
#
# A small PKI (make_pki in net.bash) is made once for the file: the
# handlers and fake servers present its certificates, and the client
# trusts its CA through --tls-trust-file (or SSL_CERT_FILE, OpenSSL's
# default paths): the test CA is in no system store.
#
# Every test needs mail_client's TLS but two, which also passed with a
# client without it: "--tls together with --no-tls, or an unknown option,
# is a usage error" (an unknown option is one) and "a man in the middle
# strips STARTTLS: without --tls, on loopback, the mail goes in clear text
# with no warning" (such a client never tries STARTTLS). The tests that
# look for pop3d's "by PLAIN over TLS" / "by USER in clear text" login
# lines need that pop3d change too.

load helpers
load net
load client

PKI=$BATS_FILE_TMPDIR/pki
CA=$PKI/ca.pem
# Wrappers for the handlers under systemd-socket-activate (setup_file):
# their log on stderr, so that the tests can read it.
BIN=$BATS_FILE_TMPDIR/bin
# The client trusts the test CA only where a test says so.
TRUST=(-o --tls-trust-file -o "$CA")
FAKE_TLS=(--cert "$PKI/good.pem" --key "$PKI/good.key")
# The test environment must not choose the trust anchors.
unset SSL_CERT_FILE SSL_CERT_DIR

# The listing of tests/data/client-manage/four-messages.
LISTING='1 labxyz@test.example 2026-11-27 : 21 : 04 Lab results
2 - 2026-11-28 : 08 : 15 No sender here
3 otherlab@test.example 2026-11-29 : 12 : 30 -
4 - - -'
# What a client that verified the certificate for HOST says (regexp).
TLS_UP='^mail_client: TLS started: TLSv1\.[23], [A-Z0-9_]+; certificate verified for '

setup_file() {
	make_pki "$PKI" && handler_wrappers
}

setup() {
	make_mailroot
	: >"$BATS_TEST_TMPDIR/client.err.all"
}

teardown() {
	client_teardown
}

# --- helpers -----------------------------------------------------------------

# tls_smtpd NAME [ARG...] / tls_pop3d NAME [ARG...]: sockmail-smtpd /
# sockmail-pop3d (-f 0) with the certificate $PKI/NAME.pem and its key, so
# offering STARTTLS / STLS (pop3d -S: implicit TLS); SMTPD_PORT, SMTPD_LOG
# / POP3D_PORT, POP3D_LOG.
tls_smtpd() {
	local name=$1
	shift
	start_listener SMTPD "$BIN/smtpd" -C "$PKI/$name.pem" \
	    -K "$PKI/$name.key" "$@"
}

tls_pop3d() {
	local name=$1
	shift
	start_listener POP3D "$BIN/pop3d" -f 0 -C "$PKI/$name.pem" \
	    -K "$PKI/$name.key" "$@"
}

# assert_tls_started LOG [COUNT]: the handler logged COUNT (default 1) TLS
# sessions started, TLS 1.2 or 1.3.
assert_tls_started() {
	assert_log "$1" 'info tls: TLS started: TLSv1\.[23], [A-Z0-9_-]+ ' "${2:-1}"
}

# send_one [CLIENT_SCRIPT_OPTION...] [-- RCPT SUBJECT]: bob sends one mail
# (to alice, subject "over TLS" unless given) to localhost (unless -h
# says otherwise) and exits.
send_one() {
	local opts=() rcpt=alice@test.example subject="over TLS"
	while (($#)) && [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	if (($#)); then
		rcpt=$2 subject=$3
	fi
	client_script -h localhost "${opts[@]}" bob bobpass \
	    1 "$(mail_to "$rcpt" "$subject" "Sent over TLS.")" 3
}

# assert_delivered LOGIN SUBJECT: the last run sent the mail, and LOGIN's
# mailbox holds it, as send_one typed it.
assert_delivered() {
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
Mail sent successfully
${MENU}"
	grep -qxF "Subject: $2" "$(mailbox "$1")"
	grep -qxF "Sent over TLS." "$(mailbox "$1")"
}

# assert_not_sent: the last run sent no mail.
assert_not_sent() {
	assert_output --partial "Mail not sent"
	refute_output --partial "Mail sent successfully"
}

# refute_secret LOG: no login command and no form of bob's password in
# LOG, what a client sent (fake-server.py's or strip-proxy.py's log).
refute_secret() {
	local b64
	b64=$(printf '\0bob\0bobpass' | base64 -w 0)
	if grep -a -n -i -E '^(USER|PASS|AUTH|APOP)( |\\r)' "$1" ||
	    grep -a -n -F -e bobpass -e "$b64" "$1"; then
		batslib_decorate "the client sent its login" <"$1" | fail
	fi
}

# refuted_cert NAME HOST REASON: a handler with the certificate NAME, and
# the client trusting only the test CA and connecting to HOST: Mail
# Sending (without --tls: TLS is used whenever offered) stops with "the
# certificate of HOST cannot be trusted: REASON" and exit 1, and sends no
# mail; so does Mail Management over STLS, through a tap that shows that
# neither a login command nor the password ever left the client.
refuted_cert() {
	local name=$1 host=$2 why="mail_client: TLS: the certificate of $2 cannot be trusted: $3"
	tls_smtpd "$name"
	run -1 send_one -h "$host" -s "$SMTPD_PORT" "${TRUST[@]}" -- \
	    otherlab@test.example "refused $name"
	assert_client_stderr "$why"
	refute_client_stderr "TLS started"
	assert_not_sent
	refute_mailbox otherlab
	# No second try in clear text.
	assert_equal "$(smtp_connections)" 1

	put_mailbox bob client-manage/four-messages
	tls_pop3d "$name"
	start_strip --keep "$POP3D_PORT"
	run -1 client_script -h "$host" -p "$STRIP_PORT" "${TRUST[@]}" \
	    bob bobpass 2 STAT QUIT
	assert_client_stderr "$why"
	refute_client_stderr "TLS started"
	refute_output --partial "maildrop"
	# It asked for TLS, and sent nothing more in clear text.
	grep -qxF 'STLS\r\n' "$STRIP_LOG"
	refute_secret "$STRIP_LOG"
	assert_equal "$(grep -c '^== connection ' "$STRIP_LOG")" 1
	assert_log "$POP3D_LOG" 'info login: ' 0
	assert_log "$POP3D_LOG" 'auth-failed|auth-refused' 0
	cmp "$TESTDATA/client-manage/four-messages" "$(mailbox bob)"
}

# --- working TLS ---------------------------------------------------------------

@test "Mail Sending with --tls and --tls-trust-file: STARTTLS, the certificate verified for localhost, the mail delivered" {
	tls_smtpd good
	run -0 send_one -s "$SMTPD_PORT" -o --tls "${TRUST[@]}"
	assert_delivered alice "over TLS"
	assert_client_stderr_match "${TLS_UP}localhost\$"
	assert_equal "$(grep -c 'TLS started' "$BATS_TEST_TMPDIR/client.err")" 1
	refute_client_stderr "warning"
	assert_mailbox alice <<-'EOF'
	From: bob@test.example
	To: alice@test.example
	Subject: over TLS
	Received: <time>
	Sent over TLS.
	.
	EOF
	assert_tls_started "$SMTPD_LOG"
}

@test "without --tls Mail Sending uses STARTTLS when offered: SSL_CERT_FILE is trusted; without it the test CA is not, and nothing is sent" {
	tls_smtpd good
	SSL_CERT_FILE=$CA run -0 send_one -s "$SMTPD_PORT" -- \
	    alice@test.example "trusted by SSL_CERT_FILE"
	assert_delivered alice "trusted by SSL_CERT_FILE"
	assert_client_stderr_match "${TLS_UP}localhost\$"
	assert_tls_started "$SMTPD_LOG"

	# The system store does not hold the test CA: no mail, and no second
	# try in clear text.
	run -1 send_one -s "$SMTPD_PORT" -- alice@test.example "not trusted"
	assert_client_stderr "mail_client: TLS: the certificate of localhost cannot be trusted: unable to get local issuer certificate"
	refute_client_stderr "TLS started"
	assert_not_sent
	refute grep -q 'Subject: not trusted' "$(mailbox alice)"
	assert_equal "$(smtp_connections)" 2
	assert_tls_started "$SMTPD_LOG"
}

@test "Mail Management over STLS logs in with AUTH PLAIN; the listing, RETR and DELE work; QUIT removes the message" {
	put_mailbox bob client-manage/four-messages
	tls_pop3d good
	run -0 client_script -h localhost -p "$POP3D_PORT" "${TRUST[@]}" \
	    bob bobpass 2 "RETR 1" "DELE 1" QUIT
	assert_output --partial "${MENU}+OK POP3 server is ready"
	assert_output_has "+OK maildrop has 4 messages (383 octets)
$LISTING
$POP3_HELP
> +OK 124 octets
From: labxyz@test.example
To: bob@test.example
Subject: Lab results
Received: 2026-11-27 : 21 : 04
The results are in.
> +OK message 1 deleted
> +OK Thanks for using POP3 server"
	assert_client_stderr_match "${TLS_UP}localhost\$"
	refute_client_stderr "warning"
	assert_tls_started "$POP3D_LOG"
	assert_log "$POP3D_LOG" 'info login: bob: 4 messages, 383 octets, by PLAIN over TLS peer=127\.0\.0\.1( |$)'
	# The message went at QUIT; the other three are there as they were.
	cmp <(sed 1,6d "$TESTDATA/client-manage/four-messages") "$(mailbox bob)"
}

@test "--pop3s: implicit TLS against pop3d -S, AUTH PLAIN, STAT and QUIT" {
	put_mailbox bob client-manage/four-messages
	tls_pop3d good -S
	run -0 client_script -h localhost -p "$POP3D_PORT" -o --pop3s \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_output --partial "${MENU}+OK POP3 server is ready"
	assert_output_has "+OK maildrop has 4 messages (383 octets)
$LISTING
$POP3_HELP
> +OK 4 383
> +OK Thanks for using POP3 server"
	assert_client_stderr_match "${TLS_UP}localhost\$"
	assert_tls_started "$POP3D_LOG"
	assert_log "$POP3D_LOG" 'info login: bob: 4 messages, 383 octets, by PLAIN over TLS peer='
	cmp "$TESTDATA/client-manage/four-messages" "$(mailbox bob)"
}

@test "over TLS, a server whose CAPA lists no SASL PLAIN gets USER and PASS" {
	start_fake pop3s-user-only "${FAKE_TLS[@]}"
	run -0 client_script -h localhost -p "$FAKE_PORT" -o --pop3s \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_output_has "+OK maildrop has 0 messages (0 octets)
$POP3_HELP
> +OK 0 0
> +OK bye"
	assert_client_stderr_match "${TLS_UP}localhost\$"
	# All of it inside TLS, USER and PASS, never AUTH.
	assert_equal "$(sed -n 2p "$FAKE_LOG")" "== tls"
	grep -qxF 'USER bob\r\n' "$FAKE_LOG"
	grep -qxF 'PASS bobpass\r\n' "$FAKE_LOG"
	refute grep -q -i '^AUTH' "$FAKE_LOG"
}

# --- certificates that cannot be trusted --------------------------------------

@test "a certificate for another host name: Mail Sending and Mail Management stop before anything is sent" {
	refuted_cert wrongname localhost "hostname mismatch"
}

@test "a certificate from a CA not trusted: Mail Sending and Mail Management stop before anything is sent" {
	refuted_cert untrusted localhost "unable to get local issuer certificate"
}

@test "an expired certificate: Mail Sending and Mail Management stop before anything is sent" {
	refuted_cert expired localhost "certificate has expired"
}

@test "by IP address the certificate's IP SANs are checked: 127.0.0.1 and ::1 pass with good.pem" {
	tls_smtpd good
	run -0 send_one -h 127.0.0.1 -s "$SMTPD_PORT" "${TRUST[@]}"
	assert_delivered alice "over TLS"
	assert_client_stderr_match "${TLS_UP}127\.0\.0\.1\$"
	if ipv6_loopback; then
		LISTEN_HOST=::1 start_listener SMTPD6 "$BIN/smtpd" \
		    -C "$PKI/good.pem" -K "$PKI/good.key"
		run -0 send_one -h ::1 -s "$SMTPD6_PORT" "${TRUST[@]}" -- \
		    alice@test.example "over IPv6"
		assert_delivered alice "over IPv6"
		assert_client_stderr_match "${TLS_UP}::1\$"
		assert_tls_started "$SMTPD6_LOG"
	fi
}

@test "by IP address a certificate for a host name only: Mail Sending and Mail Management stop before anything is sent" {
	refuted_cert wrongname 127.0.0.1 "IP address mismatch"
}

# --- a man in the middle strips STARTTLS / STLS -------------------------------

@test "a man in the middle strips STARTTLS: with --tls the mail is not sent" {
	tls_smtpd good
	start_strip "$SMTPD_PORT"
	run -1 send_one -s "$STRIP_PORT" -o --tls "${TRUST[@]}"
	assert_client_stderr "mail_client: localhost offers no STARTTLS; --tls requires TLS: the mail was not sent"
	assert_not_sent
	refute_mailbox alice
	# The proxy did take STARTTLS out; the client sent no transaction.
	grep -qxF '== removed 250-STARTTLS' "$STRIP_LOG"
	refute grep -q -i -E '^(MAIL|RCPT|DATA)' "$STRIP_LOG"
}

@test "a man in the middle strips STARTTLS: without --tls, on loopback, the mail goes in clear text with no warning" {
	tls_smtpd good
	start_strip "$SMTPD_PORT"
	run -0 send_one -s "$STRIP_PORT"
	assert_delivered alice "over TLS"
	refute_client_stderr "warning"
	refute_client_stderr "TLS started"
	grep -qxF '== removed 250-STARTTLS' "$STRIP_LOG"
	grep -qxF 'MAIL FROM:<bob@test.example>\r\n' "$STRIP_LOG"
	assert_log "$SMTPD_LOG" 'info tls: ' 0
}

@test "a man in the middle strips STLS: with --tls the password is not sent" {
	put_mailbox bob client-manage/four-messages
	tls_pop3d good
	start_strip "$POP3D_PORT"
	run -1 client_script -h localhost -p "$STRIP_PORT" -o --tls \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_client_stderr "mail_client: localhost offers no STLS; --tls requires TLS: the password was not sent"
	refute_output --partial "maildrop"
	grep -qxF '== removed STLS' "$STRIP_LOG"
	refute_secret "$STRIP_LOG"
	assert_log "$POP3D_LOG" 'info login: ' 0
	assert_log "$POP3D_LOG" 'auth-failed|auth-refused' 0
}

@test "a man in the middle strips STLS: without --tls, on loopback, the login goes in clear text with no warning" {
	put_mailbox bob client-manage/four-messages
	tls_pop3d good
	start_strip "$POP3D_PORT"
	run -0 client_script -h localhost -p "$STRIP_PORT" bob bobpass 2 STAT QUIT
	assert_output_has "+OK maildrop has 4 messages (383 octets)
$LISTING"
	refute_client_stderr "warning"
	refute_client_stderr "TLS started"
	grep -qxF '== removed STLS' "$STRIP_LOG"
	grep -qxF 'PASS bobpass\r\n' "$STRIP_LOG"
	assert_log "$POP3D_LOG" 'info login: bob: 4 messages, 383 octets, by USER in clear text peer='
	assert_log "$POP3D_LOG" 'info tls: ' 0
}

# --- the options ----------------------------------------------------------------

@test "--insecure takes a certificate from a CA not trusted, and warns" {
	local warning="mail_client: warning: --insecure: the server's certificate is not checked"
	local unchecked='^mail_client: TLS started: TLSv1\.[23], [A-Z0-9_]+; certificate not checked \(--insecure\)$'
	tls_smtpd untrusted
	run -0 send_one -s "$SMTPD_PORT" -o --tls -o --insecure
	assert_delivered alice "over TLS"
	assert_client_stderr "$warning"
	assert_client_stderr_match "$unchecked"
	assert_tls_started "$SMTPD_LOG"

	put_mailbox bob client-manage/four-messages
	tls_pop3d untrusted
	run -0 client_script -h localhost -p "$POP3D_PORT" -o --insecure \
	    bob bobpass 2 QUIT
	assert_output_has "+OK maildrop has 4 messages (383 octets)"
	assert_client_stderr "$warning"
	assert_client_stderr_match "$unchecked"
	assert_log "$POP3D_LOG" 'info login: bob: .*, by PLAIN over TLS peer='
}

@test "--no-tls never starts TLS, though the handlers offer it: the login is by USER in clear text, without a warning on loopback" {
	tls_smtpd good
	run -0 send_one -s "$SMTPD_PORT" -o --no-tls
	assert_delivered alice "over TLS"
	assert_log "$SMTPD_LOG" 'info tls: ' 0

	put_mailbox bob client-manage/four-messages
	tls_pop3d good
	run -0 client_script -h localhost -p "$POP3D_PORT" -o --no-tls \
	    bob bobpass 2 QUIT
	assert_output_has "+OK maildrop has 4 messages (383 octets)"
	refute_client_stderr "TLS started"
	refute_client_stderr "warning"
	assert_log "$POP3D_LOG" 'info login: bob: 4 messages, 383 octets, by USER in clear text peer=127\.0\.0\.1( |$)'
	assert_log "$POP3D_LOG" 'info tls: ' 0
}

@test "--tls together with --no-tls, or an unknown option, is a usage error (exit 2)" {
	local args
	for args in "--tls --no-tls 127.0.0.1" "--no-tls --tls 127.0.0.1" \
	    "--tls-bogus 127.0.0.1"; do
		# shellcheck disable=SC2086 # split on purpose
		run -2 client $args </dev/null
		assert_output ""
		assert_client_stderr "usage: mail_client"
	done
}

@test "--tls-trust-file naming a missing file: exit 1, the file named, nothing sent" {
	local missing=$BATS_TEST_TMPDIR/no-such-ca.pem
	tls_smtpd good
	run -1 send_one -s "$SMTPD_PORT" -o --tls-trust-file -o "$missing"
	assert_client_stderr_match "^mail_client: .*$missing"
	refute_output --partial "Mail sent successfully"
	refute_mailbox alice
}

# --- hostile TLS servers ---------------------------------------------------------
# Each must end the client with status 0 or 1 (never a signal, never the
# time limit), no raw control character on the screen, and (teardown) no
# sanitizer report.

@test "pop3s: junk written around the TLS records after the handshake: exit 1, the junk never shown" {
	start_fake pop3s-garbage-raw "${FAKE_TLS[@]}"
	run client_script -t 5 -h localhost -p "$FAKE_PORT" -o --pop3s \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr_match "${TLS_UP}localhost\$"
	assert_client_stderr "mail_client: the connection to the server failed: "
	refute_output --partial "POP3 server is ready"
	refute_secret "$FAKE_LOG"
}

@test "pop3s: binary junk inside TLS instead of a greeting: shown made safe, exit 1" {
	start_fake pop3s-garbage "${FAKE_TLS[@]}"
	run client_script -t 5 -h localhost -p "$FAKE_PORT" -o --pop3s \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	assert_output --partial "${MENU}???[2J?]0;owned?"
}

@test "pop3s: a server silent after the handshake: the client gives up after -t, exit 1" {
	start_fake pop3s-stall "${FAKE_TLS[@]}"
	run client_script -t 2 -h localhost -p "$FAKE_PORT" -o --pop3s \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr_match "${TLS_UP}localhost\$"
	assert_client_stderr "mail_client: the server did not answer in time"
	assert_output "Username: Password: ${MENU}"
}

@test "pop3s: the connection cut in the greeting, without close_notify: exit 1" {
	start_fake pop3s-cut "${FAKE_TLS[@]}"
	run client_script -t 5 -h localhost -p "$FAKE_PORT" -o --pop3s \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	# A TLS connection cut without close_notify: either message is right.
	assert_client_stderr_match '^mail_client: (the server closed the connection|the connection to the server failed: .+)$'
}

@test "pop3s against a server that never answers the ClientHello: the handshake times out, exit 1" {
	start_fake silent
	run client_script -t 2 -h localhost -p "$FAKE_PORT" -o --pop3s \
	    "${TRUST[@]}" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr_match '^mail_client: TLS handshake failed: .+'
	refute_client_stderr "TLS started"
	assert_output "Username: Password: ${MENU}"
	# The only thing it sent is a ClientHello: no POP3 command.
	refute_secret "$FAKE_LOG"
}

@test "STARTTLS answered 220 and then no handshake: it times out, Mail not sent, exit 1" {
	start_fake smtp-starttls-stall "${FAKE_TLS[@]}"
	run client_script -t 2 -h localhost -s "$FAKE_PORT" "${TRUST[@]}" \
	    bob bobpass 1 "$(mail_to alice@test.example stalled body)" 3
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr_match '^mail_client: TLS handshake failed: .+'
	refute_client_stderr "TLS started"
	assert_not_sent
	refute grep -q -i -E '^(MAIL|RCPT|DATA)' "$FAKE_LOG"
}

@test "STARTTLS answered with a 250 injected after the 220: the client ignores it, says EHLO inside TLS and sends the mail" {
	start_fake smtp-starttls-inject "${FAKE_TLS[@]}"
	run client_script -t 5 -h localhost -s "$FAKE_PORT" "${TRUST[@]}" \
	    bob bobpass 1 "$(mail_to alice@test.example injected body)" 3
	assert_ended_cleanly
	assert_success
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
Mail sent successfully
${MENU}"
	assert_client_stderr_match "${TLS_UP}localhost\$"
	run sed -E 's/^(EHLO|HELO) .*/\1 <host>/' "$FAKE_LOG"
	assert_output - <<-'EOF'
	== connection 1
	EHLO <host>
	STARTTLS\r\n
	== tls
	EHLO <host>
	MAIL FROM:<bob@test.example>\r\n
	RCPT TO:<alice@test.example>\r\n
	DATA\r\n
	From: bob@test.example\r\n
	To: alice@test.example\r\n
	Subject: injected\r\n
	body\r\n
	.\r\n
	QUIT\r\n
	EOF
}
