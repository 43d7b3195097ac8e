#!/usr/bin/env bats
# Deadlines (-t and -T in sockmail-smtpd(8) and sockmail-pop3d(8)): each
# whole line a client sends and each reply write must be done within -t, and
# the whole session within -T, however the client drips its bytes or stops
# reading. Each case runs the handler over TCP under systemd-socket-activate
# and a stalling client of tests/tools/slowclient.py, which reports how long
# the server took to cut it off: within the deadline plus a second.

load helpers
load net

BIN=$BATS_FILE_TMPDIR/bin
# shellcheck disable=SC2034 # put_messages reads it
D=$TESTDATA/pop3-update
CERT=$BATS_FILE_TMPDIR/cert.pem
KEY=$BATS_FILE_TMPDIR/key.pem
SLOW=(timeout 60 "$PYTHON" "$TOOLS/slowclient.py")
SMTP_421="421 test.example Service not available, closing transmission channel"
POP3_IDLE="-ERR idle for too long, closing"

setup_file() {
	handler_wrappers --cert
}

setup() {
	make_mailroot
}

teardown() {
	stop_listener SMTPD
	stop_listener POP3D
}

# assert_cut_within SECS: the client's "cut after S s" is at most SECS.
assert_cut_within() {
	local secs
	secs=$(sed -n 's/^cut after \([0-9.]*\) s$/\1/p' <<<"$output")
	[ -n "$secs" ] || fail "the client was never cut off: $output"
	awk -v s="$secs" -v max="$1" 'BEGIN { exit !(s <= max) }' ||
	    fail "cut off after $secs s, more than $1 s"
}

@test "smtpd: a command trickled a byte at a time is cut off after -t, with 421" {
	start_listener SMTPD "$BIN/smtpd" -t 2
	run -0 "${SLOW[@]}" trickle "$SMTPD_PORT" --line "HELO client.example"
	assert_cut_within 3
	assert_line "last: $SMTP_421"
	assert_log "$SMTPD_LOG" 'info timeout: no whole line or reply in 2 s'
}

@test "smtpd: a DATA line trickled a byte at a time is cut off after -t; nothing is stored" {
	start_listener SMTPD "$BIN/smtpd" -t 2
	run -0 "${SLOW[@]}" trickle "$SMTPD_PORT" --line "HELO client.example" \
	    --line "MAIL FROM:<a@example.org>" --line "RCPT TO:<labxyz@test.example>" \
	    --line DATA --drip "Subject: slow"
	assert_cut_within 3
	assert_line "last: $SMTP_421"
	[ ! -s "$(mailbox labxyz)" ]
}

@test "smtpd: a line trickled slower than one byte every -t still ends at -t, not per byte" {
	# Each byte comes well within -t of the last: only the whole line's
	# deadline can end this.
	start_listener SMTPD "$BIN/smtpd" -t 2
	run -0 "${SLOW[@]}" trickle "$SMTPD_PORT" --every 1.5
	assert_cut_within 3.5
	assert_line "last: $SMTP_421"
}

@test "pop3d: a command trickled a byte at a time is cut off after -t" {
	start_listener POP3D "$BIN/pop3d" -t 2
	run -0 "${SLOW[@]}" trickle "$POP3D_PORT" --pop3 --drip "USER labxyz"
	assert_cut_within 3
	assert_line "last: $POP3_IDLE"
}

@test "pop3d -S: a TLS handshake trickled a byte at a time is cut off after -t" {
	start_listener POP3D "$BIN/pop3d" -t 2 -C "$CERT" -K "$KEY" -S
	run -0 "${SLOW[@]}" tls-trickle "$POP3D_PORT"
	assert_cut_within 3
	assert_log "$POP3D_LOG" 'TLS handshake failed: timed out'
}

@test "smtpd: a STARTTLS handshake trickled a byte at a time is cut off after -t" {
	start_listener SMTPD "$BIN/smtpd" -t 2 -C "$CERT" -K "$KEY"
	run -0 "${SLOW[@]}" tls-trickle "$SMTPD_PORT" --starttls smtp
	assert_cut_within 3
	assert_log "$SMTPD_LOG" 'TLS handshake failed: timed out'
}

@test "pop3d: a client that never reads its RETRs is cut off after -t, and its maildrop is free again" {
	"$PYTHON" "$TOOLS/make-mailbox.py" "$BATS_TEST_TMPDIR/big" 1 \
	    --huge 4000000
	put_mailbox labxyz <"$BATS_TEST_TMPDIR/big"
	start_listener POP3D "$BIN/pop3d" -t 2
	retrs=$(printf 'RETR 1\\r\\n%.0s' $(seq 1 10))
	run -0 "${SLOW[@]}" noread "$POP3D_PORT" --log "$POP3D_LOG" \
	    --send "USER labxyz\\r\\nPASS labpass\\r\\n$retrs"
	assert_cut_within 3
	assert_log "$POP3D_LOG" 'info timeout: no whole line or reply in 2 s'
	# The session is over: its lock is gone, and nothing was deleted.
	run -0 pop3_session "USER labxyz" "PASS labpass" STAT QUIT
	assert_line -n 2 --regexp '^\+OK maildrop has 2 messages'
}

@test "smtpd -T: a client that is never idle still ends after -T, with 421" {
	start_listener SMTPD "$BIN/smtpd" -t 10 -T 2
	run -0 "${SLOW[@]}" steady "$SMTPD_PORT" --line "HELO client.example" \
	    --send NOOP --every 0.3
	assert_cut_within 3
	assert_line "last: $SMTP_421"
	assert_log "$SMTPD_LOG" 'info timeout: session longer than 2 s'
}

@test "pop3d -T: a logged-in client that is never idle ends after -T, without UPDATE" {
	put_messages labxyz one two
	start_listener POP3D "$BIN/pop3d" -t 10 -T 2
	run -0 "${SLOW[@]}" steady "$POP3D_PORT" --pop3 --line "USER labxyz" \
	    --line "PASS labpass" --line "DELE 1" --send STAT --every 0.3
	assert_cut_within 3
	assert_line "last: -ERR session time limit reached, closing"
	run -0 pop3_session "USER labxyz" "PASS labpass" STAT QUIT
	assert_line -n 2 --regexp '^\+OK maildrop has 2 messages'
}

@test "-T: 0 is no limit, and bad values are refused with exit 2" {
	run -0 smtp_session -T 0 -- "HELO a" QUIT
	for bad in -1 x 86401 ''; do
		run -2 "$SMTPD" -d "$MAILROOT" -T "$bad"
		run -2 "$POP3D" -d "$MAILROOT" -T "$bad"
	done
}
