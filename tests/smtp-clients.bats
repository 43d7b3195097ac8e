#!/usr/bin/env bats
# Real SMTP clients (Python's smtplib, swaks, curl, a pipelining client)
# against sockmail-smtpd served by systemd-socket-activate on loopback.

load helpers
load net

setup() {
	make_mailroot
	start_smtpd
}

teardown() {
	stop_smtpd
}

# smtplib TO... : send $BATS_TEST_TMPDIR/msg.txt with smtplib from
# labxyz@client.example.
smtplib() {
	timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" send "$PORT" \
	    labxyz@client.example "$BATS_TEST_TMPDIR/msg.txt" "$@"
}

@test "smtplib with EHLO delivers a full message with all its headers kept" {
	cat >"$BATS_TEST_TMPDIR/msg.txt" <<-'EOF'
	Date: Fri, 27 Nov 2026 21:04:00 +0000
	From: Lab XYZ <labxyz@client.example>
	To: otherlab@test.example
	Subject: Hello from smtplib
	Message-ID: <1234@client.example>
	MIME-Version: 1.0
	Content-Type: text/plain; charset=us-ascii
	X-Long: first part
	 folded part

	First body line.

	Last body line.
	EOF
	before=$(date +'%Y-%m-%d : %H : %M')
	run smtplib otherlab@test.example
	after=$(date +'%Y-%m-%d : %H : %M')
	assert_success
	# The EHLO reply offers what SPEC §4 lists.
	assert_line --index 0 "EHLO 8bitmime help pipelining size"
	refute_line --partial REFUSED

	box=$(mailbox otherlab)
	run normalise_mailbox "$box"
	assert_output - <<-'EOF'
	From: Lab XYZ <labxyz@client.example>
	To: otherlab@test.example
	Subject: Hello from smtplib
	Received: <time>
	Date: Fri, 27 Nov 2026 21:04:00 +0000
	Message-ID: <1234@client.example>
	MIME-Version: 1.0
	Content-Type: text/plain; charset=us-ascii
	X-Long: first part
	 folded part

	First body line.

	Last body line.
	.
	EOF
	received=$(sed -n 's/^Received: //p' "$box")
	[ "$received" = "$before" ] || [ "$received" = "$after" ]
	# Nobody else got a copy.
	run find "$MAILROOT/USERS" -name my_mailbox.txt
	assert_output "$box"
}

@test "smtplib to a known and an unknown recipient reports the refused one and delivers to the other" {
	printf 'Subject: two recipients\n\nbody\n' >"$BATS_TEST_TMPDIR/msg.txt"
	run smtplib nobody@test.example otherlab@test.example
	assert_success
	assert_line "REFUSED nobody@test.example 550 No such user"
	# From: and To: come from the envelope: only the accepted recipient.
	run normalise_mailbox "$(mailbox otherlab)"
	assert_output - <<-'EOF'
	From: labxyz@client.example
	To: otherlab@test.example
	Subject: two recipients
	Received: <time>

	body
	.
	EOF
	run find "$MAILROOT/USERS" -name my_mailbox.txt
	assert_output "$(mailbox otherlab)"
}

@test "smtplib to only unknown recipients gets every one refused and stores nothing" {
	printf 'Subject: nobody\n\nbody\n' >"$BATS_TEST_TMPDIR/msg.txt"
	run smtplib nobody@test.example ghost@test.example
	assert_failure 2
	assert_line "REFUSED ghost@test.example 550 No such user"
	assert_line "REFUSED nobody@test.example 550 No such user"
	run find "$MAILROOT/USERS" -type f
	assert_output ""
}

@test "a line holding only a dot sent by smtplib arrives intact, stored dot-stuffed" {
	printf 'Subject: dots\n\nbefore\n.\n..two dots\n.one dot\nafter\n' \
	    >"$BATS_TEST_TMPDIR/msg.txt"
	run smtplib otherlab@test.example
	assert_success
	run normalise_mailbox "$(mailbox otherlab)"
	assert_output - <<-'EOF'
	From: labxyz@client.example
	To: otherlab@test.example
	Subject: dots
	Received: <time>

	before
	..
	...two dots
	..one dot
	after
	.
	EOF
}

@test "swaks sends a mail that lands in the recipient's mailbox" {
	run timeout 30 swaks --server 127.0.0.1 --port "$PORT" \
	    --helo client.example --to otherlab@x --from a@b \
	    --header 'Subject: swaks test' --body 'Sent by swaks.' --timeout 15
	assert_success
	assert_line --partial '<-  250-test.example Hello client.example'
	assert_line --partial '<-  250 <a@b>... Sender ok'
	assert_line --partial '<-  250 otherlab... Recipient ok'
	assert_line --partial '<-  250 OK Message accepted for delivery'
	assert_line --partial '<-  221 test.example Service closing transmission channel'
	# swaks' own headers are kept, after the three that move to the top.
	assert_swaks_mail otherlab 'swaks test'
}

@test "swaks to an unknown user gets 550 No such user and nothing is stored" {
	run timeout 30 swaks --server 127.0.0.1 --port "$PORT" \
	    --helo client.example --to nobody@x --from a@b --timeout 15
	assert_failure 24	# swaks: no RCPTs accepted
	assert_line --partial '<** 550 No such user'
	run find "$MAILROOT/USERS" -type f
	assert_output ""
}

@test "curl uploads a file over smtp and it lands in the mailbox" {
	printf '%s\r\n' 'From: curl user <a@b>' 'To: otherlab@x' \
	    'Subject: via curl' '' 'Uploaded by curl.' '.leading dot' \
	    >"$BATS_TEST_TMPDIR/upload.txt"
	run timeout 30 curl -sS --max-time 15 \
	    "smtp://127.0.0.1:$PORT/client.example" \
	    --mail-from a@b --mail-rcpt otherlab@x \
	    --upload-file "$BATS_TEST_TMPDIR/upload.txt"
	assert_success
	run normalise_mailbox "$(mailbox otherlab)"
	assert_output - <<-'EOF'
	From: curl user <a@b>
	To: otherlab@x
	Subject: via curl
	Received: <time>

	Uploaded by curl.
	..leading dot
	.
	EOF
}

@test "pipelined commands sent in one write get every reply, in order" {
	run timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" raw "$PORT" <<-'EOF'
	EHLO client.example
	MAIL FROM:<labxyz@client.example>
	RCPT TO:<otherlab@test.example>
	RCPT TO:<nobody@test.example>
	RCPT TO:<BOB@elsewhere.example>
	DATA
	Subject: pipelined

	one
	.
	NOOP
	MAIL FROM:<labxyz@client.example>
	RCPT TO:<alice@test.example>
	RSET
	VRFY alice
	QUIT
	EOF
	assert_success
	assert_output - <<-'EOF'
	220 test.example Service ready
	250-test.example Hello client.example
	250-PIPELINING
	250-8BITMIME
	250-SIZE 10485760
	250 HELP
	250 <labxyz@client.example>... Sender ok
	250 otherlab... Recipient ok
	550 No such user
	250 bob... Recipient ok
	354 Enter mail, end with "." on a line by itself
	250 OK Message accepted for delivery
	250 OK
	250 <labxyz@client.example>... Sender ok
	250 alice... Recipient ok
	250 OK
	252 Cannot VRFY user, but will accept message and attempt delivery
	221 test.example Service closing transmission channel
	EOF
	# The message went to both accepted recipients; RSET dropped the second
	# transaction.
	for who in otherlab bob; do
		run mbox_subjects "$(mailbox "$who")"
		assert_output "pipelined"
	done
	assert [ ! -e "$(mailbox alice)" ]
}

# mbox_subjects FILE: the Subject: of each message, after checking FILE
# parses.
mbox_subjects() {
	"$PYTHON" "$TOOLS/mbox_check.py" "$1"
}
