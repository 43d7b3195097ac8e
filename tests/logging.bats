#!/usr/bin/env bats
# The handlers' log (sockmail-smtpd(8) LOGGING): one line per session event
# on stderr when stderr is a plain file; never a log line to the client,
# also when fds 0, 1 and 2 are all the client's socket (as under xinetd).

load helpers
load net

setup() {
	make_mailroot
	# Where journald runs, keep the log on stderr, where these tests read
	# it (log.c: SOCKMAIL_LOG=stderr can never send it to a client).
	export SOCKMAIL_LOG=stderr
	unset SOCKMAIL_DEBUG
}

teardown() {
	stop_smtpd
}

# assert_only_replies FILE: every line of FILE is an SMTP reply ending in
# CRLF, and there is at least one.
assert_only_replies() {
	assert [ -s "$1" ]
	run grep -c -v -E $'^[2-5][0-9][0-9][ -][^\r]*\r$' "$1"
	assert_output 0
}

@test "with stderr a plain file, connect, accepted message with size and recipients, and rejects each get one log line" {
	printf '%s\r\n' 'HELO client.example' \
	    'MAIL FROM:<labxyz@client.example>' 'RCPT TO:<nobody@test.example>' \
	    'RCPT TO:<alice@test.example>' 'RCPT TO:<bob@test.example>' DATA \
	    'Subject: logged' '' 'body line' . \
	    'MAIL FROM:<labxyz@client.example>' 'RCPT TO:<alice@test.example>' \
	    DATA "$(head -c 300 /dev/zero | tr '\0' y)" . QUIT |
	    timeout 20 "$SMTPD" -d "$MAILROOT" -n test.example -s 200 \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/log"
	assert_only_replies "$BATS_TEST_TMPDIR/out"
	run grep -c '^250 OK Message accepted for delivery' "$BATS_TEST_TMPDIR/out"
	assert_output 1
	run grep -c '^552 ' "$BATS_TEST_TMPDIR/out"
	assert_output 1
	log="$BATS_TEST_TMPDIR/log"
	cat "$log"	# shown when the test fails

	# One connect.
	run grep -c -w connect "$log"
	assert_output 1
	# One line for the accepted message, naming both recipients and its
	# size: "Subject: logged" CRLF CRLF "body line" CRLF = 30 octets.
	run grep -c -e 'alice.*bob' -e 'bob.*alice' "$log"
	assert_output 1
	run grep -e 'alice.*bob' -e 'bob.*alice' "$log"
	assert_output --regexp '(^|[^0-9])30([^0-9]|$)'
	# One line per reject: the unknown recipient and the oversized message.
	run grep -c 'nobody@test.example' "$log"
	assert_output 1
	run grep -c -w reject "$log"
	assert_output 2
	# Nothing of the message itself is logged.
	run grep -c -e 'body line' -e yyyy "$log"
	assert_output 0
}

@test "no password from userinfo.txt reaches the log, not even from a malformed line" {
	cat >>"$MAILROOT/userinfo.txt" <<-'EOF'
	carol	secret-carol	extra-field
	-dash	secret-dash
	lonely-secret-field
	EOF
	printf '%s\r\n' 'HELO client.example' 'MAIL FROM:<a@client.example>' \
	    'RCPT TO:<carol@test.example>' 'RCPT TO:<nobody@test.example>' \
	    'RCPT TO:<alice@test.example>' 'RCPT TO:<bob@test.example>' \
	    'RCPT TO:<labxyz@test.example>' 'RCPT TO:<otherlab@test.example>' \
	    'RCPT TO:<ibrahimek@test.example>' 'RCPT TO:<simonds@test.example>' \
	    DATA 'Subject: x' '' body . VRFY alice QUIT |
	    SOCKMAIL_DEBUG=1 timeout 20 "$SMTPD" -d "$MAILROOT" -n test.example \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/log"
	assert_only_replies "$BATS_TEST_TMPDIR/out"
	cat "$BATS_TEST_TMPDIR/log"
	assert [ -s "$BATS_TEST_TMPDIR/log" ]
	for secret in labpass otherpass ibrahim123 simon456 saltsalt bobpass \
	    secret-carol extra-field secret-dash lonely-secret-field; do
		run grep -c -F -e "$secret" "$BATS_TEST_TMPDIR/log"
		assert_output 0
	done
}

@test "with SOCKMAIL_DEBUG=1 the SMTP state changes are logged, and without it none" {
	printf '%s\r\n' 'HELO client.example' 'MAIL FROM:<labxyz@client.example>' \
	    'RCPT TO:<alice@test.example>' RSET QUIT |
	    SOCKMAIL_DEBUG=1 timeout 20 "$SMTPD" -d "$MAILROOT" -n test.example \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/log"
	assert_only_replies "$BATS_TEST_TMPDIR/out"
	cat "$BATS_TEST_TMPDIR/log"
	run grep -o -E 'state: [a-z]+ -> [a-z]+' "$BATS_TEST_TMPDIR/log"
	assert_output - <<-'EOF'
	state: greeted -> hello
	state: hello -> mail
	state: mail -> rcpt
	state: rcpt -> hello
	EOF

	printf '%s\r\n' 'HELO client.example' QUIT |
	    timeout 20 "$SMTPD" -d "$MAILROOT" -n test.example \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/log"
	run grep -c -e ' -> ' "$BATS_TEST_TMPDIR/log"
	assert_output 0
}

@test "with SOCKMAIL_DEBUG=1 a POP3 login logs authorization -> transaction, and no password" {
	printf '%s\r\n' 'USER labxyz' 'PASS wrongpass' 'USER labxyz' \
	    'PASS labpass' STAT QUIT |
	    SOCKMAIL_DEBUG=1 timeout 20 "$POP3D" -d "$MAILROOT" -n test.example \
	    -f 0 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/log"
	run tr -d '\r' <"$BATS_TEST_TMPDIR/out"
	assert_line -n 4 "+OK maildrop has 0 messages (0 octets)"
	cat "$BATS_TEST_TMPDIR/log"
	# Exactly one transition, logged by the state event like SMTP's.
	run grep -E -o 'state: [a-z]+ -> [a-z]+' "$BATS_TEST_TMPDIR/log"
	assert_output 'state: authorization -> transaction'
	run grep -c -F -e labpass -e wrongpass "$BATS_TEST_TMPDIR/log"
	assert_output 0
}

# socketpair_session ROOT LINE...: run the handler on mail root ROOT with
# fds 0, 1 and 2 all one end of a socket pair (debug logging on, to give it
# the most to leak), send LINEs; what came back is left in
# $BATS_TEST_TMPDIR/out and the handler's exit status, "EXIT n", in
# $BATS_TEST_TMPDIR/exit.
socketpair_session() {
	local root=$1
	shift
	printf '%s\n' "$@" |
	    SOCKMAIL_DEBUG=1 timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" \
	    socketpair "$SMTPD" -d "$root" -n test.example \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/exit"
}

@test "when fds 0, 1 and 2 are one socket, as under xinetd, the client gets only SMTP replies" {
	socketpair_session "$MAILROOT" 'HELO client.example' BOGUS \
	    'MAIL FROM:<labxyz@client.example>' 'RCPT TO:<nobody@test.example>' \
	    'RCPT TO:<alice@test.example>' DATA 'Subject: via socketpair' '' \
	    body . QUIT
	run cat "$BATS_TEST_TMPDIR/exit"
	assert_output "EXIT 0"
	cat -A "$BATS_TEST_TMPDIR/out"
	assert_only_replies "$BATS_TEST_TMPDIR/out"
	run tr -d '\r' <"$BATS_TEST_TMPDIR/out"
	assert_output - <<-'EOF'
	220 test.example Service ready
	250 OK Hello client.example
	500 Syntax error, command unrecognized
	250 <labxyz@client.example>... Sender ok
	550 No such user
	250 alice... Recipient ok
	354 Enter mail, end with "." on a line by itself
	250 OK Message accepted for delivery
	221 test.example Service closing transmission channel
	EOF
	run "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox alice)"
	assert_output "via socketpair"
}

@test "when fds 0, 1 and 2 are one socket, a fatal error reaches the client as 421 only" {
	socketpair_session "$BATS_TEST_TMPDIR/no-such-root" 'HELO client.example'
	run cat "$BATS_TEST_TMPDIR/exit"
	assert_output "EXIT 1"
	cat -A "$BATS_TEST_TMPDIR/out"
	assert_only_replies "$BATS_TEST_TMPDIR/out"
	run tr -d '\r' <"$BATS_TEST_TMPDIR/out"
	assert_output "421 test.example Service not available, closing transmission channel"
}

@test "under systemd-socket-activate the log goes to the handler's stderr and never to the client" {
	start_smtpd
	run timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" raw "$PORT" <<-'EOF'
	HELO client.example
	MAIL FROM:<labxyz@client.example>
	RCPT TO:<nobody@test.example>
	RCPT TO:<bob@test.example>
	DATA
	Subject: logged over tcp

	body
	.
	QUIT
	EOF
	assert_success
	assert_output --regexp '^220 test.example Service ready'
	refute_output --partial 'sockmail-smtpd['
	refute_output --partial 'peer='
	run grep -c -v -E '^[2-5][0-9][0-9][ -]' <<<"$output"
	assert_output 0
	# The handler has ended when its QUIT reply arrived; give its last log
	# line a moment to land.
	for _ in $(seq 1 50); do
		grep -q -w disconnect "$SMTPD_LOG" && break
		sleep 0.1
	done
	run smtpd_log_lines
	assert_line --regexp '(^|[^a-z])connect'
	assert_line --regexp 'nobody@test\.example'
	assert_line --regexp 'bob'
}
