#!/usr/bin/env bats
# mail_client's Mail Management (mail_client(1)): login (and asking again),
# the listing, STAT, LIST, RETR, DELE and QUIT against sockmail-pop3d on
# loopback (IPv4, IPv6, a host name), at a terminal, and against servers
# that stall, refuse, or answer garbage.

load helpers
load net
load client

setup() {
	client_setup
}

teardown() {
	client_teardown
}

# The listing of tests/data/client-manage/four-messages: a message lacking
# From:, one lacking Subject:, one with no header at all.
LISTING='1 labxyz@test.example 2026-11-27 : 21 : 04 Lab results
2 - 2026-11-28 : 08 : 15 No sender here
3 otherlab@test.example 2026-11-29 : 12 : 30 -
4 - - -'

# assert_mailbox_unchanged LOGIN FIXTURE: LOGIN's mailbox file is still
# byte for byte tests/data/FIXTURE.
assert_mailbox_unchanged() {
	cmp "$TESTDATA/$2" "$(mailbox "$1")"
}

@test "logging in shows the greeting, the maildrop, a line for every message and the commands" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script bob bobpass 2 QUIT
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
+OK maildrop has 4 messages (383 octets)
$LISTING
$POP3_HELP
> +OK Thanks for using POP3 server"
	assert_mailbox_unchanged bob client-manage/four-messages
}

@test "a wrong password shows the server's error and asks again, then the right one logs in" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script bob wrongpass 2 bob bobpass QUIT
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
-ERR [AUTH] Invalid username or password
Username: Password: +OK POP3 server is ready
+OK maildrop has 4 messages (383 octets)
$LISTING
$POP3_HELP
> +OK Thanks for using POP3 server"
}

@test "unknown user and wrong password are asked again each time until the login works" {
	run -0 client_script nobody nopass 2 bob wrong alice alicepw QUIT
	[ "$(grep -c -- '^-ERR \[AUTH\] Invalid username or password$' <<<"$output")" -eq 2 ]
	[ "$(grep -c 'OK POP3 server is ready$' <<<"$output")" -eq 3 ]
	assert_output_has "+OK maildrop has 0 messages (0 octets)
$POP3_HELP
> +OK Thanks for using POP3 server"
}

@test "end of input while asked again for the credentials ends with status 0" {
	run -0 client_script bob wrong 2
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
-ERR [AUTH] Invalid username or password
Username: "
}

@test "a user with no mailbox gets an empty listing" {
	run -0 client_script alice alicepw 2 STAT LIST QUIT
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
+OK maildrop has 0 messages (0 octets)
$POP3_HELP
> +OK 0 0
> +OK 0 messages (0 octets)
> +OK Thanks for using POP3 server"
}

@test "STAT, LIST and RETR n show the server's replies and the message" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script bob bobpass 2 STAT LIST "RETR 1" "RETR 4" "LIST" QUIT
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
+OK maildrop has 4 messages (383 octets)
$LISTING
$POP3_HELP
> +OK 4 383
> +OK 4 messages (383 octets)
1 124
2 95
3 108
4 56
> +OK 124 octets
From: labxyz@test.example
To: bob@test.example
Subject: Lab results
Received: 2026-11-27 : 21 : 04
The results are in.
> +OK 56 octets
just a body line, no header at all
.and a stuffed one
> +OK 4 messages (383 octets)
1 124
2 95
3 108
4 56
> +OK Thanks for using POP3 server"
	assert_mailbox_unchanged bob client-manage/four-messages
}

@test "commands are taken in any case" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script bob bobpass 2 stat "retr 3" Quit
	assert_output_has "> +OK 4 383
> +OK 108 octets
From: otherlab@test.example"
	assert_output_has "> +OK Thanks for using POP3 server"
}

@test "DELE n then QUIT removes exactly that message and ends the program with status 0" {
	put_mailbox bob client-manage/four-messages
	# What follows QUIT is never read: QUIT ends the program.
	run -0 client_script bob bobpass 2 "DELE 2" STAT QUIT 1 "$(mail_to \
	    alice@test.example "never sent" body)" 3
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
+OK maildrop has 4 messages (383 octets)
$LISTING
$POP3_HELP
> +OK message 2 deleted
> +OK 3 288
> +OK Thanks for using POP3 server"
	assert_mailbox_unchanged bob client-manage/four-messages-without-2
	refute_mailbox alice
}

@test "end of input without QUIT deletes nothing" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script bob bobpass 2 "DELE 1" "DELE 2"
	assert_output_has "> +OK message 1 deleted
> +OK message 2 deleted
> "
	refute_output --partial "Thanks for using POP3 server"
	# The handler ends when the client hangs up; then the mailbox must
	# still be whole, and not locked.
	wait_handlers_done "$POP3D_LOG"
	assert_mailbox_unchanged bob client-manage/four-messages
	run -0 client_script bob bobpass 2 QUIT
	assert_output_has "+OK maildrop has 4 messages (383 octets)"
}

@test "RETR or DELE of a message that is not there shows the server's error and goes on" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script bob bobpass 2 "RETR 9" "DELE 0" "DELE 1" "RETR 1" \
	    "DELE 1" STAT QUIT
	assert_output_has "$POP3_HELP
> -ERR no such message, only 4 in maildrop
> -ERR "
	assert_output_has "> +OK message 1 deleted
> -ERR "
	assert_output_has "> +OK 3 259
> +OK Thanks for using POP3 server"
	# Four -ERR replies, each on its own prompt line.
	[ "$(grep -c '^> -ERR ' <<<"$output")" -eq 4 ]
}

@test "an unknown command or a bad message number shows the commands and goes on" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script bob bobpass 2 HELP "RETR" "RETR x" "DELE -1" \
	    "TOP 1 0" "" STAT QUIT
	[ "$(grep -c "$POP3_HELP" <<<"$output")" -eq 7 ]
	assert_output_has "> +OK 4 383
> +OK Thanks for using POP3 server"
	assert_mailbox_unchanged bob client-manage/four-messages
}

@test "a listing of 120 messages shows every one in order" {
	local i
	for i in $(seq 1 120); do
		printf 'From: sender%d@test.example\nTo: bob@test.example\nSubject: Message number %d\nReceived: 2026-11-27 : 21 : %02d\nBody %d.\n.\n' \
		    "$i" "$i" $((i % 60)) "$i"
	done | put_mailbox bob
	run -0 client_script bob bobpass 2 QUIT
	for i in $(seq 1 120); do
		printf '%d sender%d@test.example 2026-11-27 : 21 : %02d Message number %d\n' \
		    "$i" "$i" $((i % 60)) "$i"
	done >"$BATS_TEST_TMPDIR/want"
	grep -E '^[0-9]+ ' <<<"$output" >"$BATS_TEST_TMPDIR/got" || true
	diff_or_report "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got" listing
}

@test "Mail Management over the IPv6 loopback ::1 lists and deletes" {
	if ! ipv6_loopback; then
		skip "no IPv6 loopback (::1) here"
	fi
	put_mailbox bob client-manage/four-messages
	LISTEN_HOST=::1 start_listener POP3D6 "$POP3D" -f 0
	run -0 client_script -h ::1 -s 1 -p "$POP3D6_PORT" bob bobpass 2 \
	    "DELE 2" QUIT
	assert_output_has "+OK maildrop has 4 messages (383 octets)
$LISTING"
	assert_output_has "> +OK Thanks for using POP3 server"
	assert_mailbox_unchanged bob client-manage/four-messages-without-2
	grep -q 'Connection from \[::1\]' "$POP3D6_LOG"
}

@test "Mail Management with the host name localhost lists the mailbox" {
	put_mailbox bob client-manage/four-messages
	run -0 client_script -h localhost bob bobpass 2 QUIT
	assert_output_has "+OK maildrop has 4 messages (383 octets)
$LISTING"
}

@test "a mail sent in the session shows up in the listing with its arrival time" {
	local before after
	before=$(date +'%Y-%m-%d : %H : %M')
	run -0 client_script bob bobpass \
	    1 "$(mail_to bob@test.example "Note to self" "remember")" 2 QUIT
	after=$(date +'%Y-%m-%d : %H : %M')
	assert_output_has "Mail sent successfully
${MENU}+OK POP3 server is ready
+OK maildrop has 1 messages ("
	grep -qx -e "1 bob@test.example $before Note to self" \
	    -e "1 bob@test.example $after Note to self" <<<"$output"
}

@test "a server that never answers: Mail Management times out after -t seconds and exits 1" {
	start_fake silent
	local start=$SECONDS
	run -1 client_script -t 2 -p "$FAKE_PORT" bob bobpass 2 QUIT
	((SECONDS - start <= 8))
	assert_client_stderr "mail_client: the server did not answer in time"
	assert_output "Username: Password: ${MENU}"
}

@test "a server that greets and then stalls: Mail Management times out and exits 1" {
	start_fake pop3-stall
	local start=$SECONDS
	run -1 client_script -t 2 -p "$FAKE_PORT" bob bobpass 2 QUIT
	((SECONDS - start <= 8))
	assert_client_stderr "mail_client: the server did not answer in time"
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready"
}

@test "a refused connection: Mail Management says so and exits 1" {
	local port
	port=$(closed_port)
	run -1 client_script -p "$port" bob bobpass 2 QUIT
	assert_client_stderr "mail_client: cannot connect to 127.0.0.1 port $port: Connection refused"
	assert_output "Username: Password: ${MENU}"
}

@test "a POP3 server without CAPA and TOP: the listing comes from RETR and the commands work" {
	start_fake pop3-minimal
	run -0 client_script -p "$FAKE_PORT" bob bobpass 2 STAT "RETR 2" "DELE 1" \
	    LIST QUIT
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
+OK maildrop ready
1 one@test.example 2026-11-27 : 21 : 04 first
2 two@test.example 2026-11-28 : 08 : 15 second
$POP3_HELP
> +OK 2 209
> +OK 105 octets
From: two@test.example
To: bob@test.example
Subject: second
Received: 2026-11-28 : 08 : 15
body two
> +OK message 1 deleted
> +OK
2 105
> +OK bye"
	# The client logged in with the session's credentials.
	grep -qxF 'USER bob\r\n' "$FAKE_LOG"
	grep -qxF 'PASS bobpass\r\n' "$FAKE_LOG"
}

@test "a server offering PIPELINING but no TOP: each listing line shows its own message" {
	start_fake pop3-pipelining-no-top
	run -0 client_script -p "$FAKE_PORT" bob bobpass 2 STAT QUIT
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
+OK maildrop ready
1 one@test.example 2026-11-27 : 21 : 04 first
2 two@test.example 2026-11-28 : 08 : 15 second
$POP3_HELP
> +OK 2 209
> +OK bye"
}

# The garbage servers: the client must end (0 or 1), never on a signal,
# never print a raw control character, and (teardown) never draw a
# sanitizer report.

@test "a POP3 server greeting with binary junk: the client shows it made safe and exits 1" {
	start_fake binary
	run client_script -t 5 -p "$FAKE_PORT" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	assert_output --partial "${MENU}???[2J?]0;owned?"
}

@test "a POP3 server sending an endless line: the client gives up and exits 1" {
	FAKE_LIFE=60 start_fake endless-line
	local start=$SECONDS
	CLIENT_LIMIT=20 run client_script -t 3 -p "$FAKE_PORT" bob bobpass 2 QUIT
	assert_ended_cleanly
	assert_failure 1
	((SECONDS - start <= 12))
	assert_client_stderr "mail_client: the server sent a line too long to read"
}

@test "a POP3 server whose CAPA list never ends: no crash when it hangs up" {
	start_fake pop3-endless-capa
	run client_script -t 5 -p "$FAKE_PORT" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr "mail_client: the server closed the connection"
}

@test "a POP3 server closing in the middle of a TOP reply: no crash, exit 1" {
	start_fake pop3-cut-top
	run client_script -t 5 -p "$FAKE_PORT" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr "mail_client: the server closed the connection"
}

@test "a POP3 server claiming 2^64-1 messages and refusing each: no crash" {
	start_fake pop3-huge-count
	run client_script -t 5 -p "$FAKE_PORT" bob bobpass 2 STAT QUIT
	assert_ended_cleanly
	assert_output --partial "1 (cannot read: -ERR no such message)"
}

@test "a POP3 server with 20000-character header fields and control characters: listing and RETR without harm" {
	start_fake pop3-long-fields
	run -0 client_script -t 5 -p "$FAKE_PORT" bob bobpass 2 "RETR 1" QUIT
	assert_ended_cleanly
	# The listing line is cut to a bounded length per field.
	grep -qE '^1 f{100,}' <<<"$output"
	assert_output --partial "body ???[31m red"
	assert_output --partial "> +OK bye"
}

@test "at a terminal the password is not echoed and the menu works interactively" {
	local log=$BATS_TEST_TMPDIR/pty.log after
	put_mailbox bob client-manage/four-messages
	run "$PYTHON" "$TOOLS/pty-client.py" --timeout 30 --log "$log" \
	    'expect=Username: ' type=bob 'expect=Password: ' type=bobpass \
	    'expect=Choose 1, 2 or 3: ' type=2 \
	    'expect=+OK POP3 server is ready' \
	    'expect=1 labxyz@test.example 2026-11-27 : 21 : 04 Lab results' \
	    'expect=4 - - -' "expect=$POP3_HELP" 'expect=> ' type=STAT \
	    'expect=+OK 4 383' 'expect=> ' type=QUIT \
	    'expect=+OK Thanks for using POP3 server' -- \
	    "$CLIENT" -t 10 127.0.0.1 "$SMTPD_PORT" "$POP3D_PORT"
	assert_success
	assert_output "EXIT 0"
	if LC_ALL=C grep -a -q -E 'Sanitizer|runtime error' "$log"; then
		batslib_decorate "sanitizer report" <"$log" | fail
	fi
	# The user name is echoed, so echo works on this terminal ...
	LC_ALL=C grep -a -q 'Username: .*bob' "$log"
	# ... but nothing typed at the password prompt shows.
	after=$(LC_ALL=C sed -n '/Password: /,$p' "$log")
	[[ -n $after ]]
	if [[ $after == *bobpass* ]] || LC_ALL=C grep -a -q bobpass "$log"; then
		LC_ALL=C cat -v "$log" |
			batslib_decorate "the password was echoed" | fail
	fi
	assert_mailbox_unchanged bob client-manage/four-messages
}

@test "at a terminal with the output going to a pipe the password is still not echoed" {
	# stdin is the terminal the user types on; stdout goes to a pipe, as
	# in "mail_client SERVER | tee session.log".
	local log=$BATS_TEST_TMPDIR/pty.log
	# shellcheck disable=SC2016 # "$0" "$@" are for that sh
	run "$PYTHON" "$TOOLS/pty-client.py" --timeout 30 --log "$log" \
	    'expect=Username: ' type=bob 'expect=Password: ' type=bobpass \
	    'expect=Choose 1, 2 or 3: ' type=3 -- \
	    sh -c 'exec "$0" "$@" | cat' \
	    "$CLIENT" -t 10 127.0.0.1 "$SMTPD_PORT" "$POP3D_PORT"
	assert_success
	assert_output "EXIT 0"
	LC_ALL=C grep -a -q 'Username: .*bob' "$log"
	if LC_ALL=C grep -a -q bobpass "$log"; then
		LC_ALL=C cat -v "$log" |
			batslib_decorate "the password was echoed" | fail
	fi
}
