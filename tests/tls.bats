#!/usr/bin/env bats
# TLS (sockmail-smtpd(8), sockmail-pop3d(8)): STARTTLS in sockmail-smtpd;
# STLS, SASL PLAIN, -S (pop3s) and -R in sockmail-pop3d; what broken TLS and
# bad certificate options get. Real clients (openssl s_client, smtplib,
# poplib, curl, swaks, fetchmail) and tests/tools/tlsclient.py, which runs a
# dialogue step by step and can send broken TLS, against handlers served by
# systemd-socket-activate on loopback (tlsclient.py --spawn for the cases
# that need the handler's exit status, an environment, or a peer that is not
# on loopback). The certificate is self-signed for localhost and 127.0.0.1,
# made once for the file, and is its own CA file: every client checks it.
# Mailboxes come from tests/data/pop3-update/: one.msg (164 octets on the
# wire) and three.msg (146).

load helpers
load net

CERT=$BATS_FILE_TMPDIR/cert.pem
KEY=$BATS_FILE_TMPDIR/key.pem
OTHER_KEY=$BATS_FILE_TMPDIR/other-key.pem
# Wrappers for the handlers under systemd-socket-activate (see setup_file).
BIN=$BATS_FILE_TMPDIR/bin
D=$TESTDATA/pop3-update
GOODBYE="+OK Thanks for using POP3 server"
REFUSED="-ERR [AUTH] Authentication requires TLS (use STLS)"
BAD_LOGIN="-ERR [AUTH] Invalid username or password"
SMTP_421="421 test.example Service not available, closing transmission channel"

setup_file() {
	if ! make_cert "$KEY" "$CERT" ||
	    ! timeout 60 openssl genpkey -algorithm ec \
	    -pkeyopt ec_paramgen_curve:prime256v1 -out "$OTHER_KEY" \
	    2>>"$BATS_FILE_TMPDIR/openssl.err"; then
		cat "$BATS_FILE_TMPDIR/openssl.err" >&2
		return 1
	fi
	# systemd-socket-activate passes no environment on: the wrappers set
	# what the handlers need (logs on stderr, this run's sanitizer
	# options; SOCKMAIL_DEBUG logs smtpd's state changes).
	mkdir -p "$BIN"
	make_wrapper smtpd "$SMTPD" SOCKMAIL_DEBUG=1
	# shellcheck disable=SC2153 # set by helpers.bash
	make_wrapper pop3d "$POP3D" SOCKMAIL_DEBUG=1
}

setup() {
	make_mailroot
}

# Every listener is stopped once its handlers have ended (bounded); a
# sanitizer report in any handler's log fails the test.
teardown() {
	local name log status=0
	for name in SMTPD POP3D POP3S PLAIN; do
		log=${name}_LOG
		log=${!log-}
		if [[ -n $log ]]; then
			handlers_ended "$log" 20 || true
		fi
		stop_listener "$name"
		if [[ -n $log ]] && grep -q -E 'Sanitizer|runtime error' "$log"; then
			report_checker_findings "$log" >&2
			status=1
		fi
	done
	return "$status"
}

# --- helpers -------------------------------------------------------------

# tls_smtpd / tls_pop3d / tls_pop3s [ARG...]: a listener with the
# certificate: SMTPD, POP3D (STLS) and POP3S (-S). -f 0 for pop3d.
tls_smtpd() {
	start_listener SMTPD "$BIN/smtpd" -C "$CERT" -K "$KEY" "$@"
}

tls_pop3d() {
	start_listener POP3D "$BIN/pop3d" -f 0 -C "$CERT" -K "$KEY" "$@"
}

tls_pop3s() {
	start_listener POP3S "$BIN/pop3d" -f 0 -S -C "$CERT" -K "$KEY" "$@"
}

# tlsclient ARG...: tests/tools/tlsclient.py, bounded.
tlsclient() {
	timeout -k 5 120 "$PYTHON" "$TOOLS/tlsclient.py" "$@"
}

# smtp_chat / pop3_chat / pop3s_chat [OPTION...] STEP...: a tlsclient.py
# dialogue with the listener, the certificate checked.
smtp_chat() {
	tlsclient chat --cafile "$CERT" --connect "$SMTPD_PORT" "$@"
}

pop3_chat() {
	tlsclient chat --pop3 --cafile "$CERT" --connect "$POP3D_PORT" "$@"
}

pop3s_chat() {
	tlsclient chat --pop3 --implicit --cafile "$CERT" --connect "$POP3S_PORT" "$@"
}

# raw_pop3s [OPTION...] STEP...: a tlsclient.py dialogue with the pop3s
# listener that does no TLS of its own and reads no greeting.
raw_pop3s() {
	tlsclient chat --pop3 --no-greeting --connect "$POP3S_PORT" "$@"
}

# handlers_ended LOG [SECS]: wait (at most SECS, default 15) until every
# handler the listener with LOG spawned has ended.
handlers_ended() {
	local spawned died i
	for ((i = 0; i < ${2:-15} * 20; i++)); do
		spawned=$(grep -c '^Spawned ' "$1" || true)
		died=$(grep -c '^Child [0-9]* died ' "$1" || true)
		((spawned == died)) && return 0
		sleep 0.05
	done
	echo "handlers_ended: $((spawned - died)) handler(s) of $1 still running" >&2
	return 1
}

# assert_clean_exit LOG: every handler of the listener with LOG has ended
# (within 15 s), each with status 0, and none left a sanitizer report.
assert_clean_exit() {
	local bad
	handlers_ended "$1" || batslib_decorate "handler still running" <"$1" | fail
	if bad=$(grep '^Child [0-9]* died ' "$1" | grep -v ' died with code 0$'); then
		batslib_decorate "a handler failed: $bad" <"$1" | fail
	fi
	if grep -q -E 'Sanitizer|runtime error' "$1"; then
		batslib_decorate "sanitizer report" <"$1" | fail
	fi
}

# assert_tls_started LOG [COUNT]: COUNT TLS sessions started, TLS 1.2 or 1.3.
assert_tls_started() {
	assert_log "$1" 'info tls: TLS started: TLSv1\.[23], [A-Z0-9_-]+ ' "${2:-1}"
}

# root_state: what the mail root holds, every file's bytes included, but
# the mailbox indexes (a cache a login may write).
root_state() {
	(
		cd "$MAILROOT" &&
		find . ! -name my_mailbox.idx -printf '%p %y %s %m\n' |
			LC_ALL=C sort &&
		find . -type f ! -name my_mailbox.idx -exec md5sum {} + |
			LC_ALL=C sort
	)
}

# plain_b64 AUTHZID AUTHCID PASSWORD: AUTH PLAIN's credentials, base64.
plain_b64() {
	printf '%s\0%s\0%s' "$1" "$2" "$3" | base64 -w 0
}

# ehlo_lines NAME [STARTTLS]: smtpd's EHLO reply to NAME, with the
# STARTTLS line when the second argument is given. After it, every reply
# carries its enhanced code (RFC 2034).
ehlo_lines() {
	printf '%s\n' "250-test.example Hello $1" 250-PIPELINING 250-8BITMIME \
	    "250-SIZE 10485760" 250-ENHANCEDSTATUSCODES 250-SMTPUTF8
	if (($# > 1)); then
		printf '250-STARTTLS\n'
	fi
	printf '250 HELP\n'
}

# capa_lines [STLS] [SASL]: pop3d's CAPA reply, with the words given.
capa_lines() {
	printf '%s\n' "+OK Capability list follows" USER TOP UIDL RESP-CODES \
	    AUTH-RESP-CODE PIPELINING "EXPIRE NEVER" "IMPLEMENTATION sockmail"
	if [[ ${1-} == STLS ]]; then
		printf 'STLS\n'
		shift
	fi
	if (($#)); then
		printf 'SASL PLAIN\n'
	fi
	printf '.\n'
}

# retr_lines NAME: RETR's reply for NAME.msg (stored dot-stuffed, as sent).
retr_lines() {
	printf '+OK %s octets\n' "$(sed 's/$/\r/' "$D/$1.msg" | sed '$d' |
	    sed 's/^\.//' | wc -c)"
	cat "$D/$1.msg"
}

# as_delivered NAME: NAME.msg as a client hands it on: LF endings,
# stuffing dots removed, no "." line.
as_delivered() {
	sed -e '$d' -e 's/^\.//' "$D/$1.msg"
}

# s_client ARG...: openssl s_client with stdin as the client's lines (LF
# made CRLF), the certificate checked for 127.0.0.1; prints what came
# through TLS, CR removed. Its diagnostics go to s_client.err.
s_client() {
	local out=$BATS_TEST_TMPDIR/s_client.out rc=0
	timeout -k 5 60 openssl s_client -quiet -crlf -CAfile "$CERT" \
	    -verify_return_error -verify_ip 127.0.0.1 "$@" \
	    >"$out" 2>"$BATS_TEST_TMPDIR/s_client.err" || rc=$?
	tr -d '\r' <"$out"
	return "$rc"
}

# without_alerts: stdin without tlsclient's "<N bytes of binary>" lines (a
# TLS alert the handler may or may not send before hanging up).
without_alerts() {
	grep -v -E '^<[0-9]+ bytes of binary>$' || true
}

# --- smtpd: STARTTLS ---------------------------------------------------------

@test "smtpd: EHLO offers STARTTLS; after it a fresh session without the old transaction wants EHLO, and offers no STARTTLS" {
	tls_smtpd
	run -0 smtp_chat "EHLO client.example" "MAIL FROM:<a@b>" \
	    "RCPT TO:<otherlab@test.example>" STARTTLS @tls DATA \
	    "MAIL FROM:<a@b>" "EHLO again.example" STARTTLS NOOP QUIT @eof
	assert_output "220 test.example Service ready
$(ehlo_lines client.example STARTTLS)
250 2.1.0 <a@b>... Sender ok
250 2.1.5 otherlab... Recipient ok
220 2.0.0 Ready to start TLS
503 Bad sequence of commands
503 Bad sequence of commands
$(ehlo_lines again.example)
503 5.5.1 TLS already active
250 2.0.0 OK
221 2.0.0 test.example Service closing transmission channel
<eof>"
	refute_mailbox otherlab
	assert_clean_exit "$SMTPD_LOG"
	assert_tls_started "$SMTPD_LOG"
}

@test "smtpd: STARTTLS with an argument gets 501 and the session goes on in clear text; without -C/-K it is unknown and not offered" {
	tls_smtpd
	run -0 smtp_chat "EHLO client.example" "STARTTLS now" NOOP QUIT @eof
	assert_output "220 test.example Service ready
$(ehlo_lines client.example STARTTLS)
501 5.5.4 Syntax error in parameters or arguments
250 2.0.0 OK
221 2.0.0 test.example Service closing transmission channel
<eof>"
	assert_log "$SMTPD_LOG" 'info tls: ' 0

	run -0 smtp_session "EHLO client.example" STARTTLS QUIT
	assert_wire_ok
	assert_output "220 test.example Service ready
$(ehlo_lines client.example)
500 5.5.2 Syntax error, command unrecognized
221 2.0.0 test.example Service closing transmission channel"
}

@test "smtpd: openssl s_client -starttls smtp delivers a message" {
	tls_smtpd
	run -0 s_client -starttls smtp -connect "127.0.0.1:$SMTPD_PORT" <<-'EOF'
	EHLO client.example
	MAIL FROM:<labxyz@client.example>
	RCPT TO:<otherlab@test.example>
	DATA
	Subject: via s_client

	Sent through openssl s_client.
	.
	QUIT
	EOF
	assert_output "$(ehlo_lines client.example)
250 2.1.0 <labxyz@client.example>... Sender ok
250 2.1.5 otherlab... Recipient ok
354 Enter mail, end with \".\" on a line by itself
250 2.0.0 OK Message accepted for delivery
221 2.0.0 test.example Service closing transmission channel"
	assert_mailbox otherlab <<-'EOF'
	From: labxyz@client.example
	To: otherlab@test.example
	Subject: via s_client
	Received: <time>

	Sent through openssl s_client.
	.
	EOF
	assert_clean_exit "$SMTPD_LOG"
	assert_tls_started "$SMTPD_LOG"
}

@test "smtpd: smtplib's starttls() checks the certificate and sends a mail" {
	printf 'Subject: smtplib over TLS\n\nSent after STARTTLS.\n.dot\n' \
	    >"$BATS_TEST_TMPDIR/msg.txt"
	tls_smtpd
	run -0 tlsclient smtplib "$SMTPD_PORT" "$CERT" labxyz@client.example \
	    otherlab@test.example "$BATS_TEST_TMPDIR/msg.txt"
	assert_line --index 0 "before 8bitmime enhancedstatuscodes help pipelining size smtputf8 starttls"
	assert_line --index 1 "starttls 220 2.0.0 Ready to start TLS"
	assert_line --index 2 --regexp '^tls TLSv1\.[23]$'
	assert_line --index 3 "after 8bitmime enhancedstatuscodes help pipelining size smtputf8"
	assert_line --index 4 "sent"
	assert_mailbox otherlab <<-'EOF'
	From: labxyz@client.example
	To: otherlab@test.example
	Subject: smtplib over TLS
	Received: <time>

	Sent after STARTTLS.
	..dot
	.
	EOF
	assert_clean_exit "$SMTPD_LOG"
	assert_tls_started "$SMTPD_LOG"
}

@test "smtpd: curl --ssl-reqd uploads through STARTTLS; against a handler without -C/-K it sends nothing" {
	printf '%s\r\n' 'From: curl user <a@b>' 'To: otherlab@x' \
	    'Subject: via curl and TLS' '' 'Uploaded by curl.' \
	    >"$BATS_TEST_TMPDIR/upload.txt"
	tls_smtpd
	run -0 timeout 60 curl -sS -v --max-time 30 --ssl-reqd --cacert "$CERT" \
	    "smtp://127.0.0.1:$SMTPD_PORT/client.example" \
	    --mail-from a@b --mail-rcpt otherlab@x \
	    --upload-file "$BATS_TEST_TMPDIR/upload.txt"
	assert_line --regexp $'^> STARTTLS\r?$'
	assert_line --regexp $'^< 220 2.0.0 Ready to start TLS\r?$'
	assert_mailbox otherlab <<-'EOF'
	From: curl user <a@b>
	To: otherlab@x
	Subject: via curl and TLS
	Received: <time>

	Uploaded by curl.
	.
	EOF
	assert_clean_exit "$SMTPD_LOG"
	assert_tls_started "$SMTPD_LOG"

	start_listener PLAIN "$BIN/smtpd"
	run timeout 60 curl -sS --max-time 30 --ssl-reqd --cacert "$CERT" \
	    "smtp://127.0.0.1:$PLAIN_PORT/client.example" \
	    --mail-from a@b --mail-rcpt bob@x \
	    --upload-file "$BATS_TEST_TMPDIR/upload.txt"
	assert_failure 64	# CURLE_USE_SSL_FAILED
	refute_mailbox bob
}

@test "smtpd: swaks --tls checks the certificate and delivers" {
	tls_smtpd
	run -0 timeout 60 swaks --server 127.0.0.1 --port "$SMTPD_PORT" \
	    --helo client.example --to otherlab@x --from a@b \
	    --header 'Subject: swaks over TLS' --body 'Sent by swaks.' \
	    --timeout 15 --tls --tls-verify --tls-ca-path "$CERT"
	assert_line ' -> STARTTLS'
	assert_line '<-  220 2.0.0 Ready to start TLS'
	assert_line --regexp '^=== TLS started with cipher TLSv1\.[23]:'
	assert_line '<~  250 2.0.0 OK Message accepted for delivery'
	assert_line '<~  221 2.0.0 test.example Service closing transmission channel'
	assert_swaks_mail otherlab 'swaks over TLS'
	assert_clean_exit "$SMTPD_LOG"
	assert_tls_started "$SMTPD_LOG"
}

@test "smtpd: commands sent in one write with STARTTLS are dropped, never run inside TLS" {
	tls_smtpd
	# RSET smuggled: the first reply inside TLS must be EHLO's.
	run -0 smtp_chat "EHLO client.example" '@send=STARTTLS\r\nRSET\r\n' \
	    @read @tls "EHLO after.example" QUIT @eof
	assert_output "220 test.example Service ready
$(ehlo_lines client.example STARTTLS)
220 2.0.0 Ready to start TLS
$(ehlo_lines after.example)
221 2.0.0 test.example Service closing transmission channel
<eof>"
	# A command pipelined before STARTTLS is answered in clear text before
	# the go-ahead (tlsclient.py would show any more clear text).
	run -0 smtp_chat "EHLO client.example" '@send=NOOP\r\nSTARTTLS\r\nRSET\r\n' \
	    @read @read @tls NOOP QUIT @eof
	assert_output "220 test.example Service ready
$(ehlo_lines client.example STARTTLS)
250 2.0.0 OK
220 2.0.0 Ready to start TLS
250 OK
221 test.example Service closing transmission channel
<eof>"
	# EHLO and MAIL smuggled: the TLS session has seen no EHLO (and so
	# its replies carry no enhanced codes).
	run -0 smtp_chat "EHLO client.example" \
	    '@send=STARTTLS\r\nEHLO evil.example\r\nMAIL FROM:<evil@x>\r\n' \
	    @read @tls "MAIL FROM:<a@b>" QUIT @eof
	assert_output "220 test.example Service ready
$(ehlo_lines client.example STARTTLS)
220 2.0.0 Ready to start TLS
503 Bad sequence of commands
221 test.example Service closing transmission channel
<eof>"
	assert_clean_exit "$SMTPD_LOG"
	assert_tls_started "$SMTPD_LOG" 3
	# The debug log shows every state change: the client's four EHLOs
	# made one each; the smuggled EHLO and MAIL none.
	assert_log "$SMTPD_LOG" 'state: greeted -> hello' 4
	assert_log "$SMTPD_LOG" 'state: hello -> greeted' 3
	assert_log "$SMTPD_LOG" '-> mail|evil' 0
}

@test "smtpd: inside TLS, an idle client gets 421 after -t, and a message cut off in a TLS record is not delivered" {
	tls_smtpd -t 2
	run -0 smtp_chat --timeout 10 STARTTLS @tls "EHLO client.example" @eof
	assert_output "220 test.example Service ready
220 Ready to start TLS
$(ehlo_lines client.example)
${SMTP_421/421/421 4.4.2}
<eof>"
	# Half a record in DATA, then silence: 421, nothing stored.
	run -0 smtp_chat --timeout 10 STARTTLS @tls "EHLO client.example" \
	    "MAIL FROM:<a@b>" "RCPT TO:<otherlab@x>" DATA \
	    '@send=Subject: cut\r\n\r\nfirst line\r\n' \
	    '@record-half=second line\r\n.\r\n' @eof
	assert_line --index -2 "${SMTP_421/421/421 4.4.2}"
	assert_line --index -1 "<eof>"
	# Half a record, then a hang-up.
	run -0 smtp_chat --timeout 10 STARTTLS @tls "EHLO client.example" \
	    "MAIL FROM:<a@b>" "RCPT TO:<otherlab@x>" DATA \
	    '@send=Subject: cut\r\n\r\nfirst line\r\n' \
	    '@record-half=second line\r\n.\r\n'
	assert_line --index -1 '354 Enter mail, end with "." on a line by itself'
	assert_clean_exit "$SMTPD_LOG"
	assert_tls_started "$SMTPD_LOG" 3
	assert_log "$SMTPD_LOG" 'TLS read failed' 1
	assert_equal "$(find "$MAILROOT/USERS" -type f)" ""
}

# --- pop3d: CAPA, STLS -------------------------------------------------------

@test "pop3d: CAPA lists STLS and SASL PLAIN with -C/-K, not STLS inside TLS or with -S; without -C/-K neither, and STLS and AUTH are unknown" {
	tls_pop3d
	run -0 pop3_chat CAPA STLS @tls CAPA QUIT @eof
	assert_output "+OK POP3 server is ready
$(capa_lines STLS SASL)
+OK Begin TLS negotiation
$(capa_lines SASL)
$GOODBYE
<eof>"
	assert_clean_exit "$POP3D_LOG"
	assert_tls_started "$POP3D_LOG"

	tls_pop3s
	run -0 pop3s_chat CAPA STLS QUIT @eof
	assert_output "+OK POP3 server is ready
$(capa_lines SASL)
-ERR command not permitted when TLS active
$GOODBYE
<eof>"
	assert_clean_exit "$POP3S_LOG"
	assert_tls_started "$POP3S_LOG"

	run -0 pop3_session CAPA STLS AUTH "AUTH PLAIN $(plain_b64 "" labxyz labpass)" QUIT
	assert_wire_ok
	assert_output "+OK POP3 server is ready
$(capa_lines)
-ERR unrecognized command
-ERR unrecognized command
-ERR unrecognized command
$GOODBYE"
}

@test "pop3d: STLS forgets an earlier USER; STLS again, in TRANSACTION or with an argument is refused" {
	put_messages labxyz one three
	tls_pop3d
	run -0 pop3_chat "USER labxyz" "STLS now" STLS @tls "PASS labpass" STLS \
	    "USER labxyz" "PASS labpass" STLS "RETR 1" QUIT @eof
	assert_output "+OK POP3 server is ready
+OK send PASS
-ERR usage: STLS
+OK Begin TLS negotiation
-ERR USER first
-ERR command not permitted when TLS active
+OK send PASS
+OK maildrop has 2 messages (310 octets)
-ERR command not valid in this state
$(retr_lines one)
$GOODBYE
<eof>"
	assert_clean_exit "$POP3D_LOG"
	assert_tls_started "$POP3D_LOG"
}

@test "pop3d: openssl s_client -starttls pop3 and s_client on the pop3s port log in and retrieve a message" {
	put_messages labxyz one three
	tls_pop3d
	run -0 s_client -starttls pop3 -connect "127.0.0.1:$POP3D_PORT" <<-'EOF'
	USER labxyz
	PASS labpass
	RETR 2
	QUIT
	EOF
	assert_output "+OK send PASS
+OK maildrop has 2 messages (310 octets)
$(retr_lines three)
$GOODBYE"
	assert_clean_exit "$POP3D_LOG"
	assert_tls_started "$POP3D_LOG"

	tls_pop3s
	run -0 s_client -connect "127.0.0.1:$POP3S_PORT" <<-'EOF'
	USER labxyz
	PASS labpass
	RETR 1
	QUIT
	EOF
	assert_output "+OK POP3 server is ready
+OK send PASS
+OK maildrop has 2 messages (310 octets)
$(retr_lines one)
$GOODBYE"
	assert_clean_exit "$POP3S_LOG"
	assert_tls_started "$POP3S_LOG"
	cmp <(cat "$D/one.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "pop3d: poplib's stls() and POP3_SSL check the certificate, log in and retrieve a message" {
	put_messages labxyz one three
	tls_pop3d
	run -0 tlsclient poplib stls "$POP3D_PORT" "$CERT" labxyz labpass 2
	assert_output --regexp '^capa AUTH-RESP-CODE EXPIRE IMPLEMENTATION PIPELINING RESP-CODES SASL STLS TOP UIDL USER
stls \+OK Begin TLS negotiation
tls TLSv1\.[23]
capa AUTH-RESP-CODE EXPIRE IMPLEMENTATION PIPELINING RESP-CODES SASL TOP UIDL USER
pass \+OK maildrop has 2 messages \(310 octets\)
stat 2 310
retr \+OK 146 octets
'
	assert_equal "$(printf '%s\n' "${lines[@]:7:9}")" "$(as_delivered three | sed 's/^/  /')"
	assert_line --index 16 "quit $GOODBYE"
	assert_equal "${#lines[@]}" 17
	assert_clean_exit "$POP3D_LOG"
	assert_tls_started "$POP3D_LOG"

	tls_pop3s
	run -0 tlsclient poplib ssl "$POP3S_PORT" "$CERT" labxyz labpass 1
	assert_line --index 0 --regexp '^tls TLSv1\.[23]$'
	assert_line --index 1 "capa AUTH-RESP-CODE EXPIRE IMPLEMENTATION PIPELINING RESP-CODES SASL TOP UIDL USER"
	assert_line --index 2 "pass +OK maildrop has 2 messages (310 octets)"
	assert_line --index 4 "retr +OK 164 octets"
	assert_equal "$(printf '%s\n' "${lines[@]:5:8}")" "$(as_delivered one | sed 's/^/  /')"
	assert_line --index 13 "quit $GOODBYE"
	assert_clean_exit "$POP3S_LOG"
	assert_tls_started "$POP3S_LOG"
	cmp <(cat "$D/one.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "pop3d: curl --ssl-reqd lists and retrieves over STLS and AUTH PLAIN, and pop3s:// too" {
	put_messages labxyz one three
	tls_pop3d
	run -0 timeout 60 curl -sS -v --max-time 30 --ssl-reqd --cacert "$CERT" \
	    -u labxyz:labpass "pop3://127.0.0.1:$POP3D_PORT/"
	assert_line --regexp $'^> STLS\r?$'
	assert_line --regexp $'^< \+OK Begin TLS negotiation\r?$'
	assert_line --regexp $'^> AUTH PLAIN\r?$'
	assert_line --regexp $'^< \+OK maildrop has 2 messages \(310 octets\)\r?$'
	assert_line "1 164"$'\r'
	assert_line "2 146"$'\r'
	timeout 60 curl -sS --max-time 30 --ssl-reqd --cacert "$CERT" \
	    -u labxyz:labpass "pop3://127.0.0.1:$POP3D_PORT/2" \
	    >"$BATS_TEST_TMPDIR/got"
	cmp <(as_delivered three | sed 's/$/\r/') "$BATS_TEST_TMPDIR/got"
	assert_clean_exit "$POP3D_LOG"
	assert_tls_started "$POP3D_LOG" 2

	tls_pop3s
	run -0 timeout 60 curl -sS --max-time 30 --cacert "$CERT" \
	    -u labxyz:labpass "pop3s://127.0.0.1:$POP3S_PORT/"
	assert_output "$(printf '1 164\r\n2 146\r')"
	timeout 60 curl -sS --max-time 30 --cacert "$CERT" \
	    -u labxyz:labpass "pop3s://127.0.0.1:$POP3S_PORT/1" \
	    >"$BATS_TEST_TMPDIR/got"
	cmp <(as_delivered one | sed 's/$/\r/') "$BATS_TEST_TMPDIR/got"
	assert_clean_exit "$POP3S_LOG"
	assert_tls_started "$POP3S_LOG" 2
	cmp <(cat "$D/one.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "curl sends a 2 MiB message through STARTTLS and gets it back from pop3s byte for byte" {
	local i
	{
		printf 'From: a@b\r\nTo: bob@x\r\nSubject: big\r\n\r\n'
		for ((i = 0; i < 30000; i++)); do
			printf 'line %05d of a big message sent over TLS, 70 characters long......\r\n' "$i"
		done
	} >"$BATS_TEST_TMPDIR/big.txt"
	tls_smtpd
	timeout 120 curl -sS --max-time 100 --ssl-reqd --cacert "$CERT" \
	    "smtp://127.0.0.1:$SMTPD_PORT/client.example" \
	    --mail-from a@b --mail-rcpt bob@x \
	    --upload-file "$BATS_TEST_TMPDIR/big.txt"
	tls_pop3s
	timeout 120 curl -sS --max-time 100 --cacert "$CERT" \
	    -u bob:bobpass "pop3s://127.0.0.1:$POP3S_PORT/1" \
	    >"$BATS_TEST_TMPDIR/got"
	# As sent, with the Received: line after From, To and Subject.
	cmp "$BATS_TEST_TMPDIR/big.txt" <(sed 4d "$BATS_TEST_TMPDIR/got")
	sed -n 4p "$BATS_TEST_TMPDIR/got" | grep -q -E $'^Received: [-0-9]{10} : [0-9]{2} : [0-9]{2}\r$'
	assert_clean_exit "$SMTPD_LOG"
	assert_clean_exit "$POP3S_LOG"
	assert_tls_started "$SMTPD_LOG"
	assert_tls_started "$POP3S_LOG"
}

# fetchmail_tls MODE: run fetchmail once for labxyz, keep mode, over pop3s
# (MODE ssl) or STLS (MODE stls), the certificate checked against the
# name localhost (fetchmail does not match IP addresses); each message to
# its own file out/N; its state in a HOME of the test's own.
fetchmail_tls() {
	local FETCHMAIL_PORT=$POP3D_PORT tls="sslproto tls1.2+"
	if [[ $1 == ssl ]]; then
		FETCHMAIL_PORT=$POP3S_PORT
		tls=ssl
	fi
	# A fresh start: no messages fetched, no .fetchids.
	rm -rf "${BATS_TEST_TMPDIR:?}/out" "${BATS_TEST_TMPDIR:?}/home"
	FETCHMAIL_TLS="$tls sslcertck sslcertfile \"$CERT\" sslcommonname \"localhost\"" \
	    fetchmail_rc keep
	run_fetchmail -v
}

@test "pop3d: fetchmail over pop3s and over STLS, the certificate checked, fetches every message" {
	put_messages labxyz one three
	tls_pop3s
	run -0 fetchmail_tls ssl
	assert_line --regexp 'SSL/TLS: using protocol TLSv1\.[23]'
	cmp <(as_delivered one) "$BATS_TEST_TMPDIR/out/1"
	cmp <(as_delivered three) "$BATS_TEST_TMPDIR/out/2"
	assert_equal "$(find "$BATS_TEST_TMPDIR/out" -type f | wc -l)" 2
	assert_clean_exit "$POP3S_LOG"
	assert_tls_started "$POP3S_LOG"

	tls_pop3d
	run -0 fetchmail_tls stls
	assert_line --partial 'POP3> STLS'
	assert_line --partial 'upgrade to TLS succeeded'
	cmp <(as_delivered one) "$BATS_TEST_TMPDIR/out/1"
	cmp <(as_delivered three) "$BATS_TEST_TMPDIR/out/2"
	assert_equal "$(find "$BATS_TEST_TMPDIR/out" -type f | wc -l)" 2
	assert_clean_exit "$POP3D_LOG"
	assert_tls_started "$POP3D_LOG"
	cmp <(cat "$D/one.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "pop3d: commands sent in one write with STLS are dropped, never run inside TLS" {
	put_messages labxyz one
	tls_pop3d
	# CAPA smuggled: the first reply inside TLS must be USER's.
	run -0 pop3_chat '@send=STLS\r\nCAPA\r\n' @read @tls "USER labxyz" \
	    "PASS labpass" STAT QUIT @eof
	assert_output "+OK POP3 server is ready
+OK Begin TLS negotiation
+OK send PASS
+OK maildrop has 1 messages (164 octets)
+OK 1 164
$GOODBYE
<eof>"
	# A command pipelined before STLS is answered in clear text before the
	# go-ahead, and TLS starts a fresh AUTHORIZATION state.
	run -0 pop3_chat '@send=USER labxyz\r\nSTLS\r\nPASS labpass\r\n' \
	    @read @read @tls "PASS labpass" QUIT @eof
	assert_output "+OK POP3 server is ready
+OK send PASS
+OK Begin TLS negotiation
-ERR USER first
$GOODBYE
<eof>"
	# A login smuggled: the TLS session is not logged in.
	run -0 pop3_chat '@send=STLS\r\nUSER labxyz\r\nPASS labpass\r\nDELE 1\r\nQUIT\r\n' \
	    @read @tls STAT QUIT @eof
	assert_output "+OK POP3 server is ready
+OK Begin TLS negotiation
-ERR command not valid in this state
$GOODBYE
<eof>"
	assert_clean_exit "$POP3D_LOG"
	assert_tls_started "$POP3D_LOG" 3
	assert_log "$POP3D_LOG" 'info login: ' 1
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

# --- pop3d: AUTH PLAIN -------------------------------------------------------

@test "AUTH PLAIN with an initial response logs in, and the TRANSACTION state works" {
	put_messages labxyz one three
	tls_pop3s
	run -0 pop3s_chat "AUTH PLAIN $(plain_b64 "" labxyz labpass)" STAT \
	    "AUTH PLAIN $(plain_b64 "" labxyz labpass)" "RETR 2" "DELE 1" QUIT @eof
	assert_output "+OK POP3 server is ready
+OK maildrop has 2 messages (310 octets)
+OK 2 310
-ERR command not valid in this state
$(retr_lines three)
+OK message 1 deleted
$GOODBYE
<eof>"
	cmp "$D/three.msg" "$(mailbox labxyz)"
	assert_clean_exit "$POP3S_LOG"
	assert_log "$POP3S_LOG" 'info login: labxyz: 2 messages, 310 octets'
}

@test "AUTH PLAIN with the response on a continuation line; a bare AUTH lists PLAIN; an authzid naming the user itself is fine" {
	put_messages alice one
	tls_pop3s
	run -0 pop3s_chat AUTH "AUTH plain" "$(plain_b64 "" alice alicepw)" \
	    "LIST" QUIT @eof
	assert_output "+OK POP3 server is ready
+OK
PLAIN
.
+ 
+OK maildrop has 1 messages (164 octets)
+OK 1 messages (164 octets)
1 164
.
$GOODBYE
<eof>"
	run -0 pop3s_chat "AUTH PLAIN $(plain_b64 alice alice alicepw)" QUIT @eof
	assert_output "+OK POP3 server is ready
+OK maildrop has 1 messages (164 octets)
$GOODBYE
<eof>"
	assert_clean_exit "$POP3S_LOG"
	assert_log "$POP3S_LOG" 'info login: alice: ' 2
}

@test "AUTH PLAIN: cancelled, bad base64, malformed, another mechanism, a wrong password or someone else's authzid fail; the third failed login ends the session" {
	put_messages labxyz one
	tls_pop3s
	run -0 pop3s_chat "AUTH PLAIN" "*" "AUTH PLAIN !!!!" "AUTH PLAIN" "abc" \
	    "AUTH PLAIN $(printf labxyz | base64)" "AUTH PLAIN =" "AUTH LOGIN" \
	    "AUTH CRAM-MD5" "AUTH PLAIN $(plain_b64 "" labxyz wrongpass)" \
	    "AUTH PLAIN $(plain_b64 otherlab labxyz labpass)" \
	    "AUTH PLAIN $(plain_b64 "" labxyz labpass)" QUIT @eof
	assert_output "+OK POP3 server is ready
+ 
-ERR authentication cancelled
-ERR invalid base64 in AUTH
+ 
-ERR invalid base64 in AUTH
-ERR malformed AUTH PLAIN credentials
-ERR malformed AUTH PLAIN credentials
-ERR [AUTH] Unrecognized authentication type
-ERR [AUTH] Unrecognized authentication type
$BAD_LOGIN
$BAD_LOGIN
+OK maildrop has 1 messages (164 octets)
$GOODBYE
<eof>"
	run -0 pop3s_chat "AUTH PLAIN $(plain_b64 "" labxyz wrongpass)" \
	    "AUTH PLAIN" "$(plain_b64 "" nobody labpass)" \
	    "AUTH PLAIN $(plain_b64 "" labxyz '')" @eof
	assert_output "+OK POP3 server is ready
$BAD_LOGIN
+ 
$BAD_LOGIN
$BAD_LOGIN
<eof>"
	assert_clean_exit "$POP3S_LOG"
	assert_log "$POP3S_LOG" 'auth-failed' 5
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

@test "AUTH PLAIN: a client silent at the continuation gets the idle reply after -t" {
	tls_pop3s -t 2
	run -0 pop3s_chat --timeout 10 "AUTH PLAIN" @eof
	assert_output "+OK POP3 server is ready
+ 
-ERR idle for too long, closing
<eof>"
	assert_clean_exit "$POP3S_LOG"
}

# --- pop3d -R ----------------------------------------------------------------

@test "-R: from loopback (127.0.0.1, 127.0.0.2, ::1, a pipe) USER, PASS and AUTH work before STLS" {
	put_messages labxyz one
	tls_pop3d -R
	run -0 pop3_chat "USER labxyz" "PASS labpass" QUIT @eof
	assert_output "+OK POP3 server is ready
+OK send PASS
+OK maildrop has 1 messages (164 octets)
$GOODBYE
<eof>"
	run -0 pop3_chat "AUTH PLAIN $(plain_b64 "" labxyz labpass)" QUIT
	assert_line --index 1 "+OK maildrop has 1 messages (164 octets)"
	assert_clean_exit "$POP3D_LOG"
	assert_log "$POP3D_LOG" auth-refused 0

	run -0 pop3_session -R -C "$CERT" -K "$KEY" -- "USER labxyz" "PASS labpass" QUIT
	assert_reply 2 "+OK maildrop has 1 messages (164 octets)"

	# Anywhere in 127.0.0.0/8.
	run -0 tlsclient chat --pop3 --host 127.0.0.2 \
	    --spawn "$BATS_TEST_TMPDIR/spawn.log" "USER labxyz" "PASS labpass" QUIT \
	    -- "$POP3D" -d "$MAILROOT" -f 0 -C "$CERT" -K "$KEY" -R
	assert_line --index 2 "+OK maildrop has 1 messages (164 octets)"
	assert_log "$BATS_TEST_TMPDIR/spawn.log" 'connect: session started peer=127\.0\.0\.2$'
	assert_log "$BATS_TEST_TMPDIR/spawn.log" 'auth-refused' 0

	# ::1, where the machine has IPv6.
	if [[ -e /proc/net/if_inet6 ]]; then
		stop_listener POP3D
		LISTEN_HOST=::1 tls_pop3d -R
		run -0 tlsclient chat --pop3 --connect "[::1]:$POP3D_PORT" \
		    "USER labxyz" "PASS labpass" QUIT
		assert_line --index 2 "+OK maildrop has 1 messages (164 octets)"
		assert_clean_exit "$POP3D_LOG"
		assert_log "$POP3D_LOG" auth-refused 0
	fi
}

# netns_chat HOST LOG CHAT-ARG... -- HANDLER-ARG...: a POP3 tlsclient.py
# dialogue with sockmail-pop3d spawned on a connection to HOST (CHAT-ARGs
# may add --via), in a network namespace of its own where 192.0.2.1 and
# 2001:db8::1 are on lo: a connection from there to there comes from a
# peer that is not on loopback, though it never leaves the machine.
netns_chat() {
	local host=$1 log=$2
	shift 2
	timeout -k 5 120 unshare --net sh -c 'ip link set lo up &&
	    ip addr add 192.0.2.1/32 dev lo &&
	    { [ ! -e /proc/net/if_inet6 ] ||
	      ip addr add 2001:db8::1/128 dev lo nodad; } && exec "$@"' \
	    sh "$PYTHON" "$TOOLS/tlsclient.py" chat --pop3 --cafile "$CERT" \
	    --host "$host" --spawn "$log" "$@"
}

@test "-R: from a non-loopback peer USER, PASS, APOP and AUTH are refused before STLS and work after it" {
	local log=$BATS_TEST_TMPDIR/netns.log
	local pop3d=("$POP3D" -d "$MAILROOT" -n test.example -f 0 -C "$CERT" -K "$KEY" -R)
	local login=("USER labxyz" "PASS labpass" QUIT)
	need_netns
	put_messages labxyz one
	run -0 netns_chat 192.0.2.1 "$log" CAPA "USER labxyz" "PASS labpass" \
	    @apop=labxyz:labpass "AUTH PLAIN $(plain_b64 "" labxyz labpass)" AUTH \
	    STLS @tls "USER labxyz" "PASS labpass" QUIT @eof -- "${pop3d[@]}" -a
	assert_line --index 0 --regexp '^\+OK POP3 server is ready <[0-9]+\.[0-9]+\.[0-9]{9}@test\.example>$'
	assert_equal "$(printf '%s\n' "${lines[@]:1}")" "$(capa_lines STLS SASL)
$REFUSED
$REFUSED
$REFUSED
$REFUSED
$REFUSED
+OK Begin TLS negotiation
+OK send PASS
+OK maildrop has 1 messages (164 octets)
$GOODBYE
<eof>
exit 0"
	assert_log "$log" 'info connect: session started peer=192\.0\.2\.1$'
	assert_log "$log" 'auth-refused' 5
	assert_log "$log" 'info login: labxyz' 1
	assert_tls_started "$log"

	# After STLS: APOP, AUTH PLAIN; with -S from the start.
	run -0 netns_chat 192.0.2.1 "$log" STLS @tls @apop=labxyz:labpass QUIT \
	    -- "${pop3d[@]}" -a
	assert_line --index 2 "+OK maildrop has 1 messages (164 octets)"
	assert_line --index 4 "exit 0"
	run -0 netns_chat 192.0.2.1 "$log" STLS @tls \
	    "AUTH PLAIN $(plain_b64 "" labxyz labpass)" QUIT -- "${pop3d[@]}"
	assert_line --index 2 "+OK maildrop has 1 messages (164 octets)"
	assert_line --index 4 "exit 0"
	run -0 netns_chat 192.0.2.1 "$log" --implicit "${login[@]}" -- "${pop3d[@]}" -S
	assert_line --index 2 "+OK maildrop has 1 messages (164 octets)"
	assert_line --index 4 "exit 0"
	assert_log "$log" 'auth-refused' 5
	assert_log "$log" 'info login: labxyz' 4
	assert_tls_started "$log" 4

	# 192.0.2.1 as a v4-mapped IPv6 peer is refused too; the namespace's
	# own loopback, plain or v4-mapped, is not.
	run -0 netns_chat :: "$log" --via 192.0.2.1 "${login[@]}" -- "${pop3d[@]}"
	assert_line --index 1 "$REFUSED"
	assert_line --index 2 "$REFUSED"
	assert_log "$log" 'connect: session started peer=::ffff:192\.0\.2\.1$'
	run -0 netns_chat 127.0.0.1 "$log" "${login[@]}" -- "${pop3d[@]}"
	assert_line --index 2 "+OK maildrop has 1 messages (164 octets)"
	run -0 netns_chat :: "$log" --via 127.0.0.1 "${login[@]}" -- "${pop3d[@]}"
	assert_line --index 2 "+OK maildrop has 1 messages (164 octets)"
	assert_log "$log" 'connect: session started peer=::ffff:127\.0\.0\.1$'
	assert_log "$log" 'auth-refused' 7
	# An IPv6 peer that is not ::1, where there is IPv6.
	if [[ -e /proc/net/if_inet6 ]]; then
		run -0 netns_chat 2001:db8::1 "$log" "${login[@]}" -- "${pop3d[@]}"
		assert_line --index 1 "$REFUSED"
		assert_line --index 2 "$REFUSED"
		assert_log "$log" 'connect: session started peer=2001:db8::1$'
		assert_log "$log" 'auth-refused' 9
	fi
	refute grep -q -E 'Sanitizer|runtime error' "$log"
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

# --- broken TLS --------------------------------------------------------------

# all_tls_listeners ARG...: the STARTTLS smtpd, the STLS pop3d and the
# pop3s pop3d, each with ARGs.
all_tls_listeners() {
	tls_smtpd "$@"
	tls_pop3d "$@"
	tls_pop3s "$@"
}

@test "garbage instead of a ClientHello after STARTTLS, after STLS and on the pop3s port ends the session" {
	local before log
	put_messages labxyz one
	before=$(root_state)
	all_tls_listeners -t 2
	run -0 smtp_chat --timeout 10 "EHLO client.example" STARTTLS \
	    '@send=GARBAGE GARBAGE\r\n\x00\x01\x02\xff\r\nQUIT\r\n' @eof
	assert_equal "$(without_alerts <<<"$output")" "220 test.example Service ready
$(ehlo_lines client.example STARTTLS)
220 2.0.0 Ready to start TLS
<eof>"
	run -0 pop3_chat --timeout 10 STLS \
	    '@send=\x16\x03\x01\x00\x05hello, not TLS\r\nQUIT\r\n' @eof
	assert_equal "$(without_alerts <<<"$output")" "+OK POP3 server is ready
+OK Begin TLS negotiation
<eof>"
	run -0 raw_pop3s --timeout 10 '@send=USER labxyz\r\nPASS labpass\r\n' @eof
	assert_equal "$(without_alerts <<<"$output")" "<eof>"
	for log in "$SMTPD_LOG" "$POP3D_LOG" "$POP3S_LOG"; do
		assert_clean_exit "$log"
		assert_log "$log" 'TLS handshake failed: '
		assert_log "$log" 'TLS started' 0
	done
	assert_equal "$(root_state)" "$before"
}

@test "a ClientHello cut in half then silence: the handler hangs up within -t" {
	local before log
	put_messages labxyz one
	before=$(root_state)
	all_tls_listeners -t 2
	run -0 smtp_chat --timeout 10 STARTTLS @hello-half @eof
	assert_output "220 test.example Service ready
220 Ready to start TLS
<eof>"
	run -0 pop3_chat --timeout 10 STLS @hello-half @eof
	assert_output "+OK POP3 server is ready
+OK Begin TLS negotiation
<eof>"
	run -0 raw_pop3s --timeout 10 @hello-half @eof
	assert_output "<eof>"
	for log in "$SMTPD_LOG" "$POP3D_LOG" "$POP3S_LOG"; do
		assert_clean_exit "$log"
		assert_log "$log" 'TLS handshake failed: timed out'
	done
	assert_equal "$(root_state)" "$before"
}

@test "a client that connects to the pop3s port and sends nothing is dropped within -t" {
	local before
	before=$(root_state)
	tls_pop3s -t 2
	run -0 raw_pop3s --timeout 10 @eof
	assert_output "<eof>"
	assert_clean_exit "$POP3S_LOG"
	assert_log "$POP3S_LOG" 'TLS handshake failed: timed out'
	assert_equal "$(root_state)" "$before"
}

@test "a TLS record cut in half mid-session: silence gets the idle reply after -t, a hang-up ends the session; nothing is deleted" {
	local before
	put_messages labxyz one three
	before=$(root_state)
	tls_pop3s -t 2
	tls_pop3d -t 2
	run -0 pop3s_chat --timeout 10 "USER labxyz" "PASS labpass" "DELE 1" \
	    '@record-half=QUIT\r\n' @eof
	assert_output "+OK POP3 server is ready
+OK send PASS
+OK maildrop has 2 messages (310 octets)
+OK message 1 deleted
-ERR idle for too long, closing
<eof>"
	run -0 pop3_chat --timeout 10 STLS @tls "USER labxyz" "PASS labpass" \
	    "DELE 1" '@record-half=QUIT\r\n'
	assert_line --index -1 "+OK message 1 deleted"
	assert_clean_exit "$POP3S_LOG"
	assert_clean_exit "$POP3D_LOG"
	assert_log "$POP3S_LOG" 'info timeout: no whole line or reply in 2 s'
	assert_log "$POP3D_LOG" 'TLS read failed'
	assert_equal "$(root_state)" "$before"
}

# s_client_typed ARG... < LINES: openssl s_client on the pop3s port, with
# -no_ign_eof so that a line "K" asks for a TLS 1.3 key update and "R" for
# a TLS 1.2 renegotiation; one line of stdin a second, as s_client takes a
# command letter only at the start of what one read returns; the end of
# input 2 s after the last line ends the session.
s_client_typed() {
	local line
	{
		while IFS= read -r line; do
			sleep 1
			printf '%s\n' "$line"
		done
		sleep 2
	} | s_client -connect "127.0.0.1:$POP3S_PORT" -no_ign_eof "$@"
}

@test "pop3s: a TLS 1.3 key update in the middle of a session is honoured; a TLS 1.2 renegotiation is refused and ends the session" {
	put_messages labxyz one
	tls_pop3s
	run -0 s_client_typed -tls1_3 <<-'EOF'
	user labxyz
	K
	pass labpass
	k
	stat
	quit
	EOF
	# The session goes on past both key updates (K: the server must
	# update its keys too).
	assert_output "+OK POP3 server is ready
+OK send PASS
+OK maildrop has 1 messages (164 octets)
+OK 1 164
$GOODBYE"
	assert_equal "$(grep -c '^KEYUPDATE$' "$BATS_TEST_TMPDIR/s_client.err")" 2
	run s_client_typed -tls1_2 <<-'EOF'
	user labxyz
	R
	pass labpass
	EOF
	refute_line --partial "+OK maildrop"
	assert_clean_exit "$POP3S_LOG"
	assert_log "$POP3S_LOG" 'TLS started: TLSv1\.3, '
	assert_log "$POP3S_LOG" 'TLS started: TLSv1\.2, '
	assert_log "$POP3S_LOG" 'info login: ' 1
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

@test "a TLS 1.1 client is refused; TLS 1.2 works" {
	tls_pop3s
	run -5 pop3s_chat --tls-version 1.1 QUIT
	assert_output --regexp '^<tls error: [A-Z0-9_]+>$'
	run -0 pop3s_chat --tls-version 1.2 QUIT
	assert_output "+OK POP3 server is ready
$GOODBYE"
	assert_clean_exit "$POP3S_LOG"
	assert_log "$POP3S_LOG" 'TLS handshake failed: '
	assert_log "$POP3S_LOG" 'TLS started: TLSv1\.2, '
}

# --- certificate options -----------------------------------------------------

@test "-C without -K, -K without -C and -S without a certificate are bad options (exit 2)" {
	run -2 "$SMTPD" -d "$MAILROOT" -C "$CERT" </dev/null
	assert_output --partial "usage: sockmail-smtpd"
	run -2 "$SMTPD" -d "$MAILROOT" -K "$KEY" </dev/null
	assert_output --partial "usage: sockmail-smtpd"
	run -2 "$POP3D" -d "$MAILROOT" -C "$CERT" </dev/null
	assert_output --partial "usage: sockmail-pop3d"
	run -2 "$POP3D" -d "$MAILROOT" -K "$KEY" </dev/null
	assert_output --partial "usage: sockmail-pop3d"
	run -2 "$POP3D" -d "$MAILROOT" -S </dev/null
	assert_output --partial "usage: sockmail-pop3d"
	run -2 "$SMTPD" -d "$MAILROOT" -S -C "$CERT" -K "$KEY" </dev/null
	assert_output --partial "usage: sockmail-smtpd"
	# With both, the same handlers start.
	run -0 pop3_session -S -C "$CERT" -K "$KEY" -- QUIT
	refute_output --partial "+OK"	# the handshake comes first, and fails
}

@test "a missing or unusable certificate or key: STARTTLS gets 454 and STLS -ERR [SYS/TEMP], the session goes on in clear text; the log names the file" {
	local dir=$BATS_TEST_TMPDIR c k bad
	mkdir "$dir/a-dir"
	printf 'not a certificate\n' >"$dir/junk.pem"
	for c in "$dir/missing.pem:$KEY" "$CERT:$dir/missing.pem" \
	    "$dir/junk.pem:$KEY" "$CERT:$dir/junk.pem" "$dir/a-dir:$KEY" \
	    "$CERT:$OTHER_KEY"; do
		k=${c#*:}
		c=${c%%:*}
		bad=$c
		[[ $c != "$CERT" ]] || bad=$k
		# The certificate is read at STARTTLS, not at the greeting; once
		# it failed, a second STARTTLS fails the same way.
		run -0 smtp_session -C "$c" -K "$k" -- "EHLO client.example" \
		    STARTTLS STARTTLS "MAIL FROM:<a@example.org>" QUIT
		assert_reply 0 "220 test.example Service ready"
		assert_reply 7 "250-STARTTLS"
		assert_reply 9 "454 4.7.0 TLS not available due to temporary reason"
		assert_reply 10 "454 4.7.0 TLS not available due to temporary reason"
		assert_reply 11 "250 2.1.0 <a@example.org>... Sender ok"
		assert_wire_ok
		grep -q -F "$bad" "$BATS_TEST_TMPDIR/smtpd.err" ||
		    fail "no $bad in $(cat "$BATS_TEST_TMPDIR/smtpd.err")"
		run -0 pop3d_filter -C "$c" -K "$k" < <(printf '%s\r\n' STLS \
		    "USER labxyz" "PASS labpass" QUIT)
		assert_line --index 0 "+OK POP3 server is ready"
		assert_line --index 1 "-ERR [SYS/TEMP] TLS not available"
		assert_line --index 3 "+OK maildrop has 0 messages (0 octets)"
		assert_wire_ok
		grep -q -F "$bad" "$dir/pop3d.err" || fail "no $bad in $(cat "$dir/pop3d.err")"
	done
	# With -S the certificate is read at start: an unusable one is refused
	# at once, in clear text, and the handler exits 1; over a pipe too.
	run -1 pop3d_filter -S -C "$dir/junk.pem" -K "$KEY" </dev/null
	assert_output "-ERR [SYS/PERM] TLS certificate unavailable"
	assert_wire_ok
	start_listener POP3S "$BIN/pop3d" -S -C "$dir/missing.pem" -K "$KEY"
	run -0 tlsclient chat --pop3 --connect "$POP3S_PORT" @eof
	assert_output "-ERR [SYS/PERM] TLS certificate unavailable
<eof>"
	handlers_ended "$POP3S_LOG"
	assert_log "$POP3S_LOG" '^Child [0-9]+ died with code 1$'
}

@test "relative -C/-K names are looked up in \$CREDENTIALS_DIRECTORY first, then taken as they are" {
	local dir=$BATS_TEST_TMPDIR log=$BATS_TEST_TMPDIR/spawn.log
	local pop3d=("$POP3D" -d "$MAILROOT" -n test.example -f 0 -C cert.pem -K key.pem)
	mkdir "$dir/creds" "$dir/work" "$dir/empty"
	cp "$CERT" "$KEY" "$dir/creds/"
	printf 'not a certificate\n' >"$dir/work/cert.pem"
	cp "$OTHER_KEY" "$dir/work/key.pem"
	put_messages labxyz one
	# In the credentials directory: found there, not in the working one.
	run -0 env -C "$dir/work" CREDENTIALS_DIRECTORY="$dir/creds" \
	    timeout 60 "$PYTHON" "$TOOLS/tlsclient.py" chat --pop3 --cafile "$CERT" \
	    --spawn "$log" STLS @tls "USER labxyz" "PASS labpass" QUIT -- "${pop3d[@]}"
	assert_output "+OK POP3 server is ready
+OK Begin TLS negotiation
+OK send PASS
+OK maildrop has 1 messages (164 octets)
$GOODBYE
exit 0"
	# Not in the credentials directory: the name as it is, here junk.
	run -0 env -C "$dir/work" CREDENTIALS_DIRECTORY="$dir/empty" \
	    timeout 60 "$PYTHON" "$TOOLS/tlsclient.py" chat --pop3 \
	    --spawn "$log" STLS QUIT -- "${pop3d[@]}"
	assert_output "+OK POP3 server is ready
-ERR [SYS/TEMP] TLS not available
$GOODBYE
exit 0"
	# ... here the right files.
	run -0 env -C "$dir/creds" CREDENTIALS_DIRECTORY="$dir/empty" \
	    timeout 60 "$PYTHON" "$TOOLS/tlsclient.py" chat --pop3 --cafile "$CERT" \
	    --spawn "$log" --implicit QUIT -- "${pop3d[@]}" -S
	assert_output "+OK POP3 server is ready
$GOODBYE
exit 0"
	assert_tls_started "$log" 2
	refute grep -q -E 'Sanitizer|runtime error' "$log"
}
