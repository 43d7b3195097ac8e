#!/usr/bin/env bats
# mail_client's Mail Sending (mail_client(1)): the typed message's format
# checks, the SMTP dialogue with sockmail-smtpd on loopback (IPv4, IPv6, a
# host name), and servers that stall, refuse, or answer garbage.

load helpers
load net
load client

setup() {
	client_setup
}

teardown() {
	client_teardown
}

@test "a valid mail lands in the recipient's mailbox and the menu comes back" {
	run -0 client_script bob bobpass 1 \
	    "$(mail_to alice@test.example "Hello Alice" "First line." \
	    "Second line, with: a colon.")" 3
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
Mail sent successfully
${MENU}"
	# The client sends the message as typed, so it is stored in exactly
	# the write-up's format.
	assert_mailbox alice <<-'EOF'
	From: bob@test.example
	To: alice@test.example
	Subject: Hello Alice
	Received: <time>
	First line.
	Second line, with: a colon.
	.
	EOF
	# Nobody else got a copy.
	run find "$MAILROOT/USERS" -name my_mailbox.txt
	assert_output "$(mailbox alice)"
}

@test "several mails in one session each land, and the logins match case-insensitively" {
	run -0 client_script bob bobpass \
	    1 "$(mail_to IbrahimEK@test.example one body-1)" \
	    1 "$(mail_to simonds@test.example two body-2)" \
	    1 "$(mail_to ALICE@elsewhere.example three body-3)" 3
	[ "$(grep -c '^Mail sent successfully$' <<<"$output")" -eq 3 ]
	grep -qx 'body-1' "$(mailbox IbrahimEK)"
	grep -qx 'body-2' "$(mailbox SimonDS)"
	grep -qx 'body-3' "$(mailbox alice)"
}

@test "Exit ends the program with status 0 and contacts no server" {
	run -0 client_script bob bobpass 3 "1"
	assert_output "Username: Password: ${MENU}"
	[ "$(smtp_connections)" -eq 0 ]
}

@test "an unknown menu choice shows the menu again" {
	run -0 client_script bob bobpass 4 "" "one" 3
	assert_output "Username: Password: ${MENU}${MENU}${MENU}${MENU}"
}

@test "a message without its From line is an incorrect format and is not sent" {
	run -0 client_script bob bobpass 1 \
	    "To: alice@test.example" "Subject: no sender" "body" . 3
	assert_incorrect "The first line must be From: <username>@<domain>"
	refute_output --partial "Mail sent"
	[ "$(smtp_connections)" -eq 0 ]
	refute_mailbox alice
}

@test "header lines out of order (To first) are an incorrect format" {
	run -0 client_script bob bobpass 1 "To: alice@test.example" \
	    "From: bob@test.example" "Subject: misordered" "body" . 3
	assert_incorrect "The first line must be From: <username>@<domain>"
	[ "$(smtp_connections)" -eq 0 ]
	refute_mailbox alice
}

@test "Subject before To is an incorrect format" {
	run -0 client_script bob bobpass 1 "From: bob@test.example" \
	    "Subject: misordered" "To: alice@test.example" "body" . 3
	assert_incorrect "The second line must be To: <username>@<domain>"
	[ "$(smtp_connections)" -eq 0 ]
}

@test "a message without a Subject line is an incorrect format" {
	run -0 client_script bob bobpass 1 "From: bob@test.example" \
	    "To: alice@test.example" "body" . 3
	assert_incorrect "The third line must be Subject: <subject>"
	[ "$(smtp_connections)" -eq 0 ]
}

@test "a message of fewer than three lines is an incorrect format" {
	run -0 client_script bob bobpass 1 "From: bob@test.example" . 3
	assert_incorrect "The message needs From:, To: and Subject: lines, in that order"
	[ "$(smtp_connections)" -eq 0 ]
}

@test "a sender that is not local@domain is an incorrect format" {
	local bad
	for bad in bob "bob@" "@test.example" "bob@a@test.example" \
	    "<bob@test.example>" "bob smith@test.example" ""; do
		run -0 client_script bob bobpass 1 "From: $bad" \
		    "To: alice@test.example" "Subject: bad sender" "body" . 3
		assert_incorrect "The sender is not an address of the form <username>@<domain>"
	done
	[ "$(smtp_connections)" -eq 0 ]
	refute_mailbox alice
}

@test "a recipient that is not local@domain is an incorrect format" {
	local bad
	for bad in alice "alice@" "@test.example" "alice@b@test.example" \
	    "alice@test.example, bob@test.example" "<alice@test.example>" ""; do
		run -0 client_script bob bobpass 1 "From: bob@test.example" \
		    "To: $bad" "Subject: bad recipient" "body" . 3
		assert_incorrect "The recipient is not an address of the form <username>@<domain>"
	done
	[ "$(smtp_connections)" -eq 0 ]
}

@test "a subject of exactly 150 characters is accepted and stored whole" {
	local subject
	subject=$(printf 'S%.0s' {1..149})x
	[ "${#subject}" -eq 150 ]
	run -0 client_script bob bobpass 1 \
	    "$(mail_to alice@test.example "$subject" body)" 3
	assert_output --partial "Mail sent successfully"
	grep -qxF "Subject: $subject" "$(mailbox alice)"
}

@test "a subject of 151 characters is an incorrect format" {
	local subject
	subject=$(printf 'S%.0s' {1..151})
	run -0 client_script bob bobpass 1 \
	    "$(mail_to alice@test.example "$subject" body)" 3
	assert_incorrect "The subject is longer than 150 characters"
	[ "$(smtp_connections)" -eq 0 ]
	refute_mailbox alice
}

@test "a subject of 150 non-ASCII characters (UTF-8) is accepted, of 151 refused" {
	# mail_client(1) FORMAT RULES counts characters: "é" is one
	# character (two bytes in UTF-8).
	local subject
	subject=$(printf 'é%.0s' {1..150})
	run -0 client_script bob bobpass 1 \
	    "$(mail_to alice@test.example "$subject" body)" \
	    1 "$(mail_to alice@test.example "${subject}é" body)" 3
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
Mail sent successfully
${MENU}${TYPE_PROMPT}
This is an incorrect format
The subject is longer than 150 characters
${MENU}"
	grep -qxF "Subject: $subject" "$(mailbox alice)"
}

@test "a script with CRLF line endings works as one with LF" {
	run -0 client_script bob$'\r' bobpass$'\r' 1$'\r' \
	    "$(mail_to alice@test.example "CRLF script" body | sed 's/$/\r/')" \
	    3$'\r'
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
Mail sent successfully
${MENU}"
	assert_mailbox alice <<-'EOF'
	From: bob@test.example
	To: alice@test.example
	Subject: CRLF script
	Received: <time>
	body
	.
	EOF
}

@test "a message with no body line is an incorrect format" {
	run -0 client_script bob bobpass 1 "$(mail_to alice@test.example "no body")" 3
	assert_incorrect "The message has no body"
	[ "$(smtp_connections)" -eq 0 ]
	refute_mailbox alice
}

@test "a typed line longer than 1023 characters is an incorrect format" {
	local long
	long=$(head -c 2000 /dev/zero | tr '\0' b)
	run -0 client_script bob bobpass 1 \
	    "$(mail_to alice@test.example "long line" "$long")" 3
	assert_incorrect "A line is longer than 1023 characters or holds a NUL byte"
	[ "$(smtp_connections)" -eq 0 ]
}

@test "after an incorrect format the menu works and the next mail is sent" {
	run -0 client_script bob bobpass \
	    1 "To: alice@test.example" "body" . \
	    1 "$(mail_to alice@test.example "second try" body)" 3
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
This is an incorrect format
The first line must be From: <username>@<domain>
${MENU}${TYPE_PROMPT}
Mail sent successfully
${MENU}"
	grep -qx 'Subject: second try' "$(mailbox alice)"
}

@test "an unknown recipient shows the server's 550 5.1.1 No such user and Mail not sent" {
	# mail_client says EHLO, so the reply carries its enhanced code.
	run -0 client_script bob bobpass 1 \
	    "$(mail_to nobody@test.example "to nobody" body)" 3
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
550 5.1.1 No such user
Mail not sent
${MENU}"
	run find "$MAILROOT/USERS" -type f
	assert_output ""
}

@test "body lines starting with a dot are sent dot-stuffed, stored stuffed and shown unstuffed by RETR" {
	run -0 client_script bob bobpass 1 \
	    "$(mail_to bob@test.example Dots ".leading dot" ".." "...three" \
	    " . not a dot line")" 2 "RETR 1" QUIT
	assert_output --partial "Mail sent successfully"
	# sockmail-mailbox(5): content lines that begin with "." are stored
	# with one more.
	assert_mailbox bob <<-'EOF'
	From: bob@test.example
	To: bob@test.example
	Subject: Dots
	Received: <time>
	..leading dot
	...
	....three
	 . not a dot line
	.
	EOF
	# RETR (through the client) shows the lines as typed.
	assert_output_has "
.leading dot
..
...three
 . not a dot line
> +OK Thanks for using POP3 server"
}

@test "a server that refuses EHLO gets HELO and the message on the wire has CRLF and dot-stuffing" {
	start_fake smtp-helo-only
	run -0 client_script -s "$FAKE_PORT" bob bobpass 1 \
	    "$(mail_to alice@test.example "wire check" ".dot" "plain")" 3
	assert_output --partial "Mail sent successfully"
	grep -qxF "HELO $(hostname)\\r\\n" "$FAKE_LOG"
	run sed -E 's/^(EHLO|HELO) .*/\1 <host>/' "$FAKE_LOG"
	assert_output - <<-'EOF'
	== connection 1
	EHLO <host>
	HELO <host>
	MAIL FROM:<bob@test.example>\r\n
	RCPT TO:<alice@test.example>\r\n
	DATA\r\n
	From: bob@test.example\r\n
	To: alice@test.example\r\n
	Subject: wire check\r\n
	..dot\r\n
	plain\r\n
	.\r\n
	QUIT\r\n
	EOF
}

@test "mail to the IPv6 loopback ::1 lands in the mailbox" {
	if ! ipv6_loopback; then
		skip "no IPv6 loopback (::1) here"
	fi
	LISTEN_HOST=::1 start_listener SMTPD6 "$SMTPD"
	run -0 client_script -h ::1 -s "$SMTPD6_PORT" -p 1 bob bobpass 1 \
	    "$(mail_to alice@test.example "over IPv6" body)" 3
	assert_output --partial "Mail sent successfully"
	grep -qx 'Subject: over IPv6' "$(mailbox alice)"
	grep -q 'Connection from \[::1\]' "$SMTPD6_LOG"
}

@test "mail to the host name localhost lands in the mailbox" {
	run -0 client_script -h localhost bob bobpass 1 \
	    "$(mail_to alice@test.example "by name" body)" 3
	assert_output --partial "Mail sent successfully"
	grep -qx 'Subject: by name' "$(mailbox alice)"
}

@test "a server that never answers: Mail Sending times out after -t seconds and exits 1" {
	start_fake silent
	local start=$SECONDS
	run -1 client_script -t 2 -s "$FAKE_PORT" bob bobpass 1 \
	    "$(mail_to alice@test.example "stalled" body)" 3
	((SECONDS - start <= 8))
	assert_client_stderr "mail_client: the server did not answer in time"
	assert_output "Username: Password: ${MENU}${TYPE_PROMPT}
Mail not sent"
}

@test "a refused connection: Mail Sending says so and exits 1" {
	local port
	port=$(closed_port)
	run -1 client_script -s "$port" bob bobpass 1 \
	    "$(mail_to alice@test.example "refused" body)" 3
	assert_client_stderr "mail_client: cannot connect to 127.0.0.1 port $port: Connection refused"
	assert_output --partial "Mail not sent"
	refute_output --partial "Mail sent successfully"
}

@test "an unknown port name: Mail Sending says so and exits 1" {
	run -1 client_script -s no-such-service bob bobpass 1 \
	    "$(mail_to alice@test.example "no port" body)" 3
	assert_client_stderr "mail_client: cannot find 127.0.0.1 port no-such-service"
	assert_output --partial "Mail not sent"
}

@test "end of input at the menu after a sent mail exits 0" {
	# Only a server that cannot be reached makes the exit status 1.
	run client_script bob bobpass 1 "$(mail_to alice@test.example "then EOF" body)"
	assert_output --partial "Mail sent successfully"
	assert_success
}

@test "end of input at the menu after a refused mail exits 0" {
	run client_script bob bobpass 1 "$(mail_to nobody@test.example "then EOF" body)"
	assert_output --partial "Mail not sent"
	assert_success
}

@test "end of input in the middle of a message sends nothing and exits 0" {
	run client_script bob bobpass 1 "From: bob@test.example" "To: alice@test.example"
	[ "$(smtp_connections)" -eq 0 ]
	refute_mailbox alice
	assert_success
}

@test "end of input before the password ends quietly with status 0" {
	run -0 client_script bob
	assert_output "Username: Password: "
}

@test "bad arguments print the usage and exit 2" {
	local args
	for args in "" "-t 0 h" "-t 3601 h" "-t x h" "-x h" "h 1 2 3" \
	    "--tls --no-tls h" "--no-tls --pop3s h" "--tls-trust-file" \
	    "--insecure=yes h" "--tl h"; do
		# shellcheck disable=SC2086 # split on purpose
		run -2 client $args </dev/null
		assert_output ""
		assert_client_stderr "usage: mail_client [-t SECS] [--tls | --no-tls] [--pop3s]"
	done
}

# The garbage servers: the client must end (0 or 1), never on a signal,
# never print a raw control character, and (teardown) never draw a
# sanitizer report.

@test "an SMTP server sending binary junk: Mail not sent, no crash" {
	start_fake binary
	run client_script -t 5 -s "$FAKE_PORT" bob bobpass \
	    1 "$(mail_to alice@test.example junk body)" 3
	assert_ended_cleanly
	assert_success
	assert_output --partial "Mail not sent"
}

@test "an SMTP server sending an endless line: the client gives up and exits 1" {
	FAKE_LIFE=60 start_fake endless-line
	local start=$SECONDS
	CLIENT_LIMIT=20 run client_script -t 3 -s "$FAKE_PORT" bob bobpass \
	    1 "$(mail_to alice@test.example endless body)" 3
	assert_ended_cleanly
	assert_failure 1
	((SECONDS - start <= 12))
	assert_client_stderr "mail_client: the server sent a line too long to read"
	assert_output --partial "Mail not sent"
}

@test "an SMTP server flooding a multi-line reply: Mail not sent, no crash" {
	start_fake smtp-flood
	run client_script -t 5 -s "$FAKE_PORT" bob bobpass \
	    1 "$(mail_to alice@test.example flood body)" 3
	assert_ended_cleanly
	assert_success
	assert_output --partial "Mail not sent"
}

@test "an SMTP server answering without valid reply codes: Mail not sent each time, no crash" {
	start_fake smtp-bad-codes
	local i script=(bob bobpass)
	for i in 1 2 3 4 5 6 7 8; do
		script+=(1 "$(mail_to alice@test.example "bad code $i" body)")
	done
	run client_script -t 5 -s "$FAKE_PORT" "${script[@]}" 3
	assert_ended_cleanly
	assert_success
	refute_output --partial "Mail sent successfully"
	[ "$(grep -c '^Mail not sent$' <<<"$output")" -eq 8 ]
}

@test "an SMTP server closing in the middle of its greeting: Mail not sent, exit 1" {
	start_fake smtp-cut
	run client_script -t 5 -s "$FAKE_PORT" bob bobpass \
	    1 "$(mail_to alice@test.example cut body)" 3
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr "mail_client: the server closed the connection"
	assert_output --partial "Mail not sent"
}

@test "an SMTP server closing in the middle of its EHLO reply: Mail not sent, exit 1" {
	start_fake smtp-cut-ehlo
	run client_script -t 5 -s "$FAKE_PORT" bob bobpass \
	    1 "$(mail_to alice@test.example cut body)" 3
	assert_ended_cleanly
	assert_failure 1
	assert_client_stderr "mail_client: the server closed the connection"
	assert_output --partial "Mail not sent"
}

@test "Mail Sending works at a terminal with line editing" {
	local log=$BATS_TEST_TMPDIR/pty.log
	run "$PYTHON" "$TOOLS/pty-client.py" --timeout 30 --log "$log" \
	    'expect=Username: ' type=bob 'expect=Password: ' type=bobpass \
	    'expect=Choose 1, 2 or 3: ' type=1 "expect=$TYPE_PROMPT" \
	    'type=From: bob@test.example' 'type=To: alice@test.example' \
	    'type=Subject: typed at a terminal' 'type=Hello from the tty.' \
	    type=. 'expect=Mail sent successfully' \
	    'expect=Choose 1, 2 or 3: ' type=3 -- \
	    "$CLIENT" -t 10 127.0.0.1 "$SMTPD_PORT" "$POP3D_PORT"
	assert_success
	assert_output "EXIT 0"
	if LC_ALL=C grep -a -q -E 'Sanitizer|runtime error' "$log"; then
		batslib_decorate "sanitizer report" <"$log" | fail
	fi
	grep -qx 'Subject: typed at a terminal' "$(mailbox alice)"
	grep -qx 'Hello from the tty.' "$(mailbox alice)"
}
