#!/usr/bin/env bats
# sockmail-smtpd, the command dialogue, as sockmail-smtpd(8) describes it.
# Transcripts live in tests/data/smtp-session/.

load helpers

setup() {
	make_mailroot
}

# write_many_users PREFIX N: a userinfo.txt of N users PREFIX001, PREFIX002...
write_many_users() {
	local i
	for ((i = 1; i <= $2; i++)); do
		printf '%s%03d\tpw%d\n' "$1" "$i" "$i"
	done >"$MAILROOT/userinfo.txt"
}

# --- the write-up ---------------------------------------------------------

@test "the write-up's session reads exactly as sockmail-smtpd(8) shows it and stores its sockmail-mailbox(5) record" {
	run_transcript smtp-session/writeup -n kuleuven.be
}

# --- HELO / EHLO ----------------------------------------------------------

@test "HELO greets the client by its name; HELO without a name is 501" {
	run_transcript smtp-session/helo
}

@test "EHLO lists PIPELINING, 8BITMIME, SIZE, ENHANCEDSTATUSCODES, SMTPUTF8 and HELP; EHLO without a name is 501" {
	run_transcript smtp-session/ehlo
}

@test "EHLO announces the -s limit as SIZE" {
	run -0 smtp_session -s 1000 -- "EHLO client.example" "QUIT"
	assert_reply 1 "250-test.example Hello client.example"
	assert_reply 4 "250-SIZE 1000"
	assert_reply 7 "250 HELP"
}

@test "HELO and EHLO end an open transaction" {
	run_transcript smtp-session/helo-resets-transaction
}

# --- MAIL -----------------------------------------------------------------

@test "MAIL is accepted in both dialects, with or without brackets and space" {
	run_transcript smtp-session/mail-dialects
}

@test "MAIL FROM:<> (the null sender) is accepted" {
	run_transcript smtp-session/mail-null-sender
}

@test "MAIL SIZE= up to the limit is accepted, one octet over is 552" {
	run_transcript smtp-session/mail-size-param
}

@test "MAIL SIZE= is checked against the -s limit" {
	run -0 smtp_session -s 1000 -- "EHLO client.example" \
	    "MAIL FROM:<a@example.org> SIZE=1000" "RSET" \
	    "MAIL FROM:<a@example.org> SIZE=1001" "QUIT"
	assert_reply 8 "250 2.1.0 <a@example.org>... Sender ok"
	assert_reply 9 "250 2.0.0 OK"
	assert_reply 10 "552 5.3.4 Message size exceeds fixed maximum message size"
	assert_reply 11 "221 2.0.0 test.example Service closing transmission channel"
}

@test "MAIL BODY=8BITMIME and BODY=7BIT are accepted and dropped from the reply" {
	run_transcript smtp-session/mail-body-param
}

@test "MAIL with an unknown parameter is 555 and opens no transaction" {
	run_transcript smtp-session/mail-unknown-param
}

@test "MAIL before HELO or EHLO is 503" {
	run_transcript smtp-session/mail-before-helo
}

@test "MAIL inside an open transaction is 503 and keeps the transaction" {
	run_transcript smtp-session/mail-nested
}

@test "MAIL with bad syntax or an over-long address is 501" {
	run_transcript smtp-session/mail-bad-syntax
}

# --- RCPT -----------------------------------------------------------------

@test "RCPT is accepted in both dialects and answers with the login as in userinfo.txt" {
	run_transcript smtp-session/rcpt-dialects
}

@test "RCPT to an unknown user is 550 No such user" {
	run_transcript smtp-session/rcpt-unknown-user
}

@test "RCPT without @, with an empty or unclosed address is 501" {
	run_transcript smtp-session/rcpt-bad-syntax
}

@test "RCPT before MAIL is 503" {
	run_transcript smtp-session/rcpt-before-mail
}

@test "the same user named twice (other case, other domain) gets one copy" {
	run_transcript smtp-session/rcpt-same-user-twice
	run grep -c '^\.$' "$(mailbox bob)"
	assert_output 1
}

@test "a 101st distinct recipient is 452; repeats and refused ones do not count" {
	local i cmds=("HELO client.example" "MAIL FROM:<a@example.org>") want=()
	write_many_users user 102
	want+=("220 test.example Service ready" "250 OK Hello client.example"
	    "250 <a@example.org>... Sender ok")
	for ((i = 1; i <= 50; i++)); do
		cmds+=("$(printf 'RCPT TO:<user%03d@test.example>' "$i")")
		want+=("$(printf '250 user%03d... Recipient ok' "$i")")
	done
	cmds+=("RCPT TO:<nobody@test.example>" "RCPT TO:<USER001@other.example>")
	want+=("550 No such user" "250 user001... Recipient ok")
	for ((i = 51; i <= 100; i++)); do
		cmds+=("$(printf 'RCPT TO:<user%03d@test.example>' "$i")")
		want+=("$(printf '250 user%03d... Recipient ok' "$i")")
	done
	cmds+=("RCPT TO:<user101@test.example>" "RCPT TO:<user102@test.example>"
	    "RCPT TO:<user001@test.example>" "DATA"
	    "From: a@example.org" "To: everyone@test.example" "Subject: many"
	    "Hello all." "." "QUIT")
	want+=("452 Too many recipients" "452 Too many recipients"
	    "250 user001... Recipient ok"
	    '354 Enter mail, end with "." on a line by itself'
	    "250 OK Message accepted for delivery"
	    "221 test.example Service closing transmission channel")
	run -0 smtp_session "${cmds[@]}"
	assert_wire_ok
	assert_output "$(printf '%s\n' "${want[@]}")"

	# One message in each of the first 100 mailboxes, none for the rest.
	run grep -c '^\.$' "$MAILROOT"/USERS/*/my_mailbox.txt
	assert_equal "${#lines[@]}" 100
	refute_line --partial ':0'
	refute_line --regexp ':([2-9]|1[0-9])'
	refute_mailbox user101
	refute_mailbox user102
}

# --- DATA -----------------------------------------------------------------

@test "DATA without MAIL is 503" {
	run_transcript smtp-session/data-before-mail
}

@test "DATA after MAIL but no RCPT is 554 No valid recipients" {
	run_transcript smtp-session/data-no-recipient
}

@test "DATA after only refused recipients is 554 No valid recipients" {
	run_transcript smtp-session/data-refused-recipients
}

# --- RSET, NOOP, VRFY, HELP, QUIT, unknown --------------------------------

@test "RSET clears the transaction but keeps HELO" {
	run_transcript smtp-session/rset
}

@test "NOOP is 250 OK in any state, with or without an argument" {
	run_transcript smtp-session/noop
}

@test "VRFY never tells which users exist; VRFY without argument is 501" {
	run_transcript smtp-session/vrfy
}

@test "HELP lists the commands" {
	run_transcript smtp-session/help
}

@test "QUIT says goodbye, exits 0 and nothing after it is answered" {
	run_transcript smtp-session/quit
}

@test "an unknown verb is 500 Syntax error, command unrecognized" {
	run_transcript smtp-session/unknown-verb
}

@test "an empty command line is 500 Syntax error, command unrecognized" {
	run -0 smtp_session "HELO client.example" "" "NOOP" "QUIT"
	assert_reply 2 "500 Syntax error, command unrecognized"
	assert_reply 3 "250 OK"
}

@test "verbs are case-insensitive, and so are logins" {
	run_transcript smtp-session/verbs-any-case
}

# --- line limits ----------------------------------------------------------

@test "a 513-octet command line is 500 Line too long and the session goes on" {
	local pad
	pad=$(printf '%*s' 506 '' | tr ' ' x)	# "NOOP " + 506 + CRLF = 513
	run -0 smtp_session "HELO client.example" "NOOP $pad" "NOOP" "QUIT"
	assert_reply 2 "500 Line too long"
	assert_reply 3 "250 OK"
	assert_reply 4 "221 test.example Service closing transmission channel"
}

@test "a 512-octet command line is still read as a command" {
	local pad
	pad=$(printf '%*s' 505 '' | tr ' ' x)	# "NOOP " + 505 + CRLF = 512
	run -0 smtp_session "HELO client.example" "NOOP $pad" "QUIT"
	assert_reply 2 "250 OK"
	assert_reply 3 "221 test.example Service closing transmission channel"
}

@test "the rest of an over-long line is thrown away, not read as a command" {
	local pad
	pad=$(printf '%*s' 512 '' | tr ' ' x)
	run -0 smtp_session "HELO client.example" "${pad}QUIT" "NOOP" "QUIT"
	assert_reply 2 "500 Line too long"
	assert_reply 3 "250 OK"
	assert_reply 4 "221 test.example Service closing transmission channel"
	assert_equal "${#lines[@]}" 5
}

@test "a one-megabyte command line gets one 500 Line too long" {
	local pad
	pad=$(head -c 1048576 /dev/zero | tr '\0' x)
	run -0 smtp_session "HELO client.example" "$pad" "NOOP" "QUIT"
	assert_reply 2 "500 Line too long"
	assert_reply 3 "250 OK"
	assert_equal "${#lines[@]}" 5
}

@test "a NUL byte in a command is 500 and the session goes on" {
	run -0 smtp_raw 'HELO client.example\r\nNO\0OP\r\nNOOP\r\nQUIT\r\n'
	assert_reply 2 "500 Syntax error, NUL character in command"
	assert_reply 3 "250 OK"
	assert_reply 4 "221 test.example Service closing transmission channel"
}

# --- ending the session ---------------------------------------------------

@test "after the 20th 5xx reply the handler sends 421 and exits 0" {
	run_transcript smtp-session/too-many-errors
}

@test "19 errors do not end the session" {
	local cmds=("HELO client.example") i
	for ((i = 0; i < 19; i++)); do
		cmds+=(FOO)
	done
	run -0 smtp_session "${cmds[@]}" "NOOP" "QUIT"
	assert_reply 20 "500 Syntax error, command unrecognized"
	assert_reply 21 "250 OK"
	assert_reply 22 "221 test.example Service closing transmission channel"
}

@test "an idle client is sent 421 after -t seconds, exit 0" {
	local start=$SECONDS
	run -0 smtpd_filter -t 1 < <(
		exec 3>&-	# bats waits for fd 3; the sleep must not hold it
		printf 'HELO client.example\r\n'
		sleep 3
	)
	assert_reply 0 "220 test.example Service ready"
	assert_reply 1 "250 OK Hello client.example"
	assert_reply 2 "421 test.example Service not available, closing transmission channel"
	assert_equal "${#lines[@]}" 3
	(((SECONDS - start) < 3)) || fail "the 421 came only when the input ended"
}

@test "an unfinished DATA is discarded on timeout" {
	run -0 smtpd_filter -t 1 < <(
		exec 3>&-	# bats waits for fd 3; the sleep must not hold it
		printf 'HELO client.example\r\nMAIL FROM:<a@example.org>\r\n'
		printf 'RCPT TO:<bob@test.example>\r\nDATA\r\n'
		printf 'From: a@example.org\r\nSubject: slow\r\nhalf a message\r\n'
		sleep 3
	)
	assert_reply 4 '354 Enter mail, end with "." on a line by itself'
	assert_reply 5 "421 test.example Service not available, closing transmission channel"
	assert_equal "${#lines[@]}" 6
	refute_mailbox bob
}

@test "an unfinished DATA is discarded at end of input, exit 0" {
	run_transcript smtp-session/data-unfinished-eof
	refute_mailbox bob
}

@test "end of input without QUIT exits 0" {
	run_transcript smtp-session/eof-without-quit
}

@test "a command cut off by the end of input is not carried out" {
	run -0 smtp_raw 'HELO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<bob@test.example>\r\nRSET'
	assert_reply 3 "250 bob... Recipient ok"
	assert_equal "${#lines[@]}" 4
}

@test "a missing mail root is 421 and exit 1" {
	MAILROOT=$BATS_TEST_TMPDIR/no-such-root
	run -1 smtp_session "HELO client.example" "QUIT"
	assert_reply 0 "421 test.example Service not available, closing transmission channel"
	assert_equal "${#lines[@]}" 1
	[[ ! -e $MAILROOT ]] || fail "the handler created the mail root"
}

@test "a bad option exits 2 without greeting" {
	run -2 smtp_session -x -- "QUIT"
	assert_wire_ok
	refute_output --partial "220 "
	run -2 smtp_session -t abc -- "QUIT"
	assert_wire_ok
	refute_output --partial "220 "
	run -2 smtp_session -s 12junk -- "QUIT"
	assert_wire_ok
	refute_output --partial "220 "
}
