#!/usr/bin/env bats
# mail_client at a real terminal (mail_client(1)): tmux runs it in a pane of
# a fixed size, types into it and reads the screen, against the real
# handlers under systemd-socket-activate on loopback. The password must
# never show; a whole session (send, list, RETR, DELE, QUIT) works as a user
# sees it, and QUIT ends the program with status 0.
#
# Each case runs twice: in clear text, and with TLS (STARTTLS and STLS,
# the client trusting only the suite's self-signed certificate for
# localhost).

load helpers
load net
load client
load terminal

CERT=$BATS_FILE_TMPDIR/cert.pem
KEY=$BATS_FILE_TMPDIR/key.pem
BIN=$BATS_FILE_TMPDIR/bin
# The handlers' log lines and the client's message when TLS is up.
TLS_LOG='info tls: TLS started: TLSv1\.[23], [A-Z0-9_-]+'
TLS_UP='^mail_client: TLS started: TLSv1\.[23], [A-Z0-9_-]+; certificate verified for localhost$'
LISTED='[0-9]{4}-[0-9]{2}-[0-9]{2} : [0-9]{2} : [0-9]{2}'

setup_file() {
	# The handlers log on stderr, into SMTPD_LOG and POP3D_LOG.
	handler_wrappers --cert
}

setup() {
	make_mailroot
	: >"$BATS_TEST_TMPDIR/client.err.all"
}

# What the pane showed goes where client_teardown looks for sanitizer
# reports (the client's stderr is the terminal).
teardown() {
	if [[ -n $TERM_SOCK ]]; then
		term_screen >>"$BATS_TEST_TMPDIR/client.err.all" 2>/dev/null || true
	fi
	term_stop
	client_teardown
}

# term_servers MODE: sockmail-smtpd and sockmail-pop3d (-f 0) on loopback;
# MODE tls gives both the certificate (STARTTLS, STLS), plain none.
term_servers() {
	local tls=()
	if [[ $1 == tls ]]; then
		tls=(-C "$CERT" -K "$KEY")
	fi
	start_listener SMTPD "$BIN/smtpd" "${tls[@]}"
	start_listener POP3D "$BIN/pop3d" -f 0 "${tls[@]}"
}

# term_client MODE: mail_client for localhost at the terminal, bounded;
# MODE tls requires TLS and trusts only the suite's certificate.
term_client() {
	local tls=()
	if [[ $1 == tls ]]; then
		tls=(--tls --tls-trust-file "$CERT")
	fi
	term_start timeout -k 5 120 "$CLIENT" -t 10 "${tls[@]}" localhost \
	    "$SMTPD_PORT" "$POP3D_PORT"
}

# log_in USER PASSWORD: answer the two prompts (the first time: each has
# been shown once) and wait for the menu; the password is not on screen.
log_in() {
	wait_for_screen "Username: "
	type_line "$1"
	wait_for_screen "Password: "
	type_line "$2"
	wait_for_screen "Choose 1, 2 or 3: "
	refute_screen "$2"
}

# round_trip MODE: log in, send a mail to yourself, read it back, delete it
# and QUIT, all at the terminal.
round_trip() {
	local mode=$1 subject="Typed at a terminal $$"
	term_servers "$mode"
	term_client "$mode"
	log_in labxyz labpass

	type_line 1
	wait_for_screen "$TYPE_PROMPT"
	type_line "From: bob@test.example"
	type_line "To: labxyz@test.example"
	type_line "Subject: $subject"
	type_line "Typed line one."
	type_line ".a line typed with a dot first"
	type_line .
	wait_for_screen "Mail sent successfully"
	if [[ $mode == tls ]]; then
		wait_for_screen -E "$TLS_UP"
	fi
	wait_for_screen -n 2 "Choose 1, 2 or 3: "

	type_line 2
	wait_for_screen "+OK POP3 server is ready"
	wait_for_screen "+OK maildrop has 1 messages ("
	wait_for_screen -E "^1 bob@test\\.example $LISTED $subject\$"
	wait_for_screen "$POP3_HELP"
	type_line "RETR 1"
	# The terminal echoes the command; the reply and the message follow.
	wait_for_screen "> RETR 1"
	wait_for_screen -E '^\+OK [0-9]+ octets$'
	wait_for_screen -E "^Subject: $subject\$"
	wait_for_screen -E '^Typed line one\.$'
	wait_for_screen -E '^\.a line typed with a dot first$'
	type_line "DELE 1"
	wait_for_screen "+OK message 1 deleted"
	type_line QUIT
	wait_for_screen "+OK Thanks for using POP3 server"
	term_wait_exit
	assert_equal "$TERM_STATUS" 0

	refute_screen labpass
	# Deleted, and the deletion committed by QUIT.
	refute_mailbox labxyz
	assert_log "$POP3D_LOG" 'info login: labxyz: 1 messages, '
	if [[ $mode == tls ]]; then
		# Both sessions in TLS, the client's word and the handlers'.
		wait_for_screen -n 2 -E "$TLS_UP"
		assert_log "$SMTPD_LOG" "$TLS_LOG"
		assert_log "$POP3D_LOG" "$TLS_LOG"
		assert_log "$POP3D_LOG" 'info login: labxyz: .*, by PLAIN over TLS '
	else
		refute_screen "TLS"
		refute_screen "warning"
		assert_log "$SMTPD_LOG" 'info tls: ' 0
		assert_log "$POP3D_LOG" 'info tls: ' 0
	fi
}

# wrong_password MODE: a wrong password is refused when Mail Management
# logs in, both prompts come again, and the right password works.
wrong_password() {
	local mode=$1
	put_mailbox labxyz client-manage/four-messages
	term_servers "$mode"
	term_client "$mode"
	log_in labxyz wrongpass1

	type_line 2
	wait_for_screen "+OK POP3 server is ready"
	wait_for_screen "-ERR [AUTH] Invalid username or password"
	wait_for_screen -n 2 "Username: "
	type_line labxyz
	wait_for_screen -n 2 "Password: "
	type_line labpass
	wait_for_screen -n 2 "+OK POP3 server is ready"
	wait_for_screen "+OK maildrop has 4 messages (383 octets)"
	wait_for_screen "1 labxyz@test.example 2026-11-27 : 21 : 04 Lab results"
	wait_for_screen "4 - - -"
	wait_for_screen "$POP3_HELP"
	type_line QUIT
	wait_for_screen "+OK Thanks for using POP3 server"
	term_wait_exit
	assert_equal "$TERM_STATUS" 0

	refute_screen wrongpass1
	refute_screen labpass
	cmp "$TESTDATA/client-manage/four-messages" "$(mailbox labxyz)"
	assert_log "$POP3D_LOG" ' auth-failed: login labxyz from 127\.0\.0\.1 '
	assert_log "$POP3D_LOG" 'info login: labxyz: 4 messages, '
	if [[ $mode == tls ]]; then
		# A TLS session for each login.
		wait_for_screen -n 2 -E "$TLS_UP"
		assert_log "$POP3D_LOG" "$TLS_LOG" 2
	fi
}

@test "at a terminal: the password never shows; send, list, RETR, DELE and QUIT work and QUIT ends the program" {
	round_trip plain
}

@test "at a terminal: a wrong password is refused, both prompts come again, and the right one logs in" {
	wrong_password plain
}

@test "at a terminal with TLS: STARTTLS and STLS show on screen and in the logs; the round trip works the same" {
	round_trip tls
}

@test "at a terminal with TLS: a wrong password is refused over TLS, asked again, and the right one logs in" {
	wrong_password tls
}
