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
	stop_postfix
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
	# The EHLO reply offers what sockmail-smtpd(8) lists.
	assert_line --index 0 "EHLO 8bitmime enhancedstatuscodes help pipelining size smtputf8"
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
	assert_line "REFUSED nobody@test.example 550 5.1.1 No such user"
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
	assert_line "REFUSED ghost@test.example 550 5.1.1 No such user"
	assert_line "REFUSED nobody@test.example 550 5.1.1 No such user"
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
	# swaks says EHLO: every reply after it carries its enhanced code.
	assert_line --partial '<-  250 2.1.0 <a@b>... Sender ok'
	assert_line --partial '<-  250 2.1.5 otherlab... Recipient ok'
	assert_line --partial '<-  250 2.0.0 OK Message accepted for delivery'
	assert_line --partial '<-  221 2.0.0 test.example Service closing transmission channel'
	# swaks' own headers are kept, after the three that move to the top.
	assert_swaks_mail otherlab 'swaks test'
}

@test "swaks to an unknown user gets 550 5.1.1 No such user and nothing is stored" {
	run timeout 30 swaks --server 127.0.0.1 --port "$PORT" \
	    --helo client.example --to nobody@x --from a@b --timeout 15
	assert_failure 24	# swaks: no RCPTs accepted
	assert_line --partial '<** 550 5.1.1 No such user'
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
	250-ENHANCEDSTATUSCODES
	250-SMTPUTF8
	250 HELP
	250 2.1.0 <labxyz@client.example>... Sender ok
	250 2.1.5 otherlab... Recipient ok
	550 5.1.1 No such user
	250 2.1.5 bob... Recipient ok
	354 Enter mail, end with "." on a line by itself
	250 2.0.0 OK Message accepted for delivery
	250 2.0.0 OK
	250 2.1.0 <labxyz@client.example>... Sender ok
	250 2.1.5 alice... Recipient ok
	250 2.0.0 OK
	252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery
	221 2.0.0 test.example Service closing transmission channel
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

# --- Postfix relaying to us ---------------------------------------------------

# start_postfix: a private Postfix instance (its own configuration, queue
# and log under PF_DIR) listening on a free loopback port PF_PORT, relaying
# every message to sockmail-smtpd on $PORT: what a site whose Postfix
# hands local mail on to sockmail runs. Postfix's daemons drop to the
# postfix user, so PF_DIR is a world-traversable folder of its own.
start_postfix() {
	PF_PORT=$(free_port)
	PF_DIR=$(mktemp -d /tmp/sockmail-postfix.XXXXXX)
	chmod 755 "$PF_DIR"
	mkdir -p "$PF_DIR/conf" "$PF_DIR/queue" "$PF_DIR/data"
	chown postfix:postfix "$PF_DIR/data"
	cat >"$PF_DIR/conf/main.cf" <<-EOF
	compatibility_level = 3.6
	queue_directory = $PF_DIR/queue
	data_directory = $PF_DIR/data
	mail_owner = postfix
	setgid_group = postdrop
	myhostname = relay.example
	mydomain = relay.example
	myorigin = relay.example
	mydestination =
	inet_interfaces = 127.0.0.1
	inet_protocols = ipv4
	mynetworks = 127.0.0.0/8
	smtpd_relay_restrictions = permit_mynetworks, reject
	relayhost = [127.0.0.1]:$PORT
	smtp_dns_support_level = disabled
	smtpd_peername_lookup = no
	smtp_tls_security_level = none
	smtputf8_enable = yes
	in_flow_delay = 0s
	alias_maps =
	alias_database =
	local_recipient_maps =
	maillog_file = $PF_DIR/maillog
	maillog_file_prefixes = $PF_DIR
	biff = no
	EOF
	cat >"$PF_DIR/conf/master.cf" <<-EOF
	127.0.0.1:$PF_PORT inet n - n - - smtpd
	pickup    unix  n       -       n       60      1       pickup
	cleanup   unix  n       -       n       -       0       cleanup
	qmgr      unix  n       -       n       300     1       qmgr
	rewrite   unix  -       -       n       -       -       trivial-rewrite
	bounce    unix  -       -       n       -       0       bounce
	defer     unix  -       -       n       -       0       bounce
	trace     unix  -       -       n       -       0       bounce
	verify    unix  -       -       n       -       1       verify
	flush     unix  n       -       n       1000?   0       flush
	proxymap  unix  -       -       n       -       -       proxymap
	smtp      unix  -       -       n       -       -       smtp
	relay     unix  -       -       n       -       -       smtp
	showq     unix  n       -       n       -       -       showq
	error     unix  -       -       n       -       -       error
	retry     unix  -       -       n       -       -       error
	discard   unix  -       -       n       -       -       discard
	anvil     unix  -       -       n       -       1       anvil
	scache    unix  -       -       n       -       1       scache
	postlog   unix-dgram n  -       n       -       1       postlogd
	EOF
	postfix -c "$PF_DIR/conf" start >"$PF_DIR/start.out" 2>&1 || {
		cat "$PF_DIR/start.out" >&2
		return 1
	}
	for _ in $(seq 1 100); do
		port_listening "$PF_PORT" && return 0
		sleep 0.1
	done
	echo "postfix: not listening on $PF_PORT" >&2
	return 1
}

stop_postfix() {
	[[ -n ${PF_DIR-} ]] || return 0
	postfix -c "$PF_DIR/conf" stop >/dev/null 2>&1 || true
	# Up to 10 s for the master to go, then its queue can be removed.
	for _ in $(seq 1 100); do
		if ! [[ -s $PF_DIR/queue/pid/master.pid ]] ||
		    ! kill -0 "$(tr -d ' ' <"$PF_DIR/queue/pid/master.pid")" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	rm -rf "$PF_DIR"
	PF_DIR=
}

# wait_messages LOGIN N: wait (at most 60 s) until LOGIN's mailbox holds N
# messages.
wait_messages() {
	for _ in $(seq 1 600); do
		if [[ -e $(mailbox "$1") ]] &&
		    (($(grep -c -x '\.' "$(mailbox "$1")") >= $2)); then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

@test "Postfix relays 150 messages and an SMTPUTF8 one to us over cached connections, with enhanced codes" {
	if ((EUID != 0)) || ! command -v postfix >/dev/null || ! id postfix >/dev/null 2>&1; then
		skip "needs root and Postfix"
	fi
	start_postfix
	# 150 messages over 5 connections to Postfix; Postfix's smtp client
	# relays them over connections it keeps open and reuses (RSET between
	# messages), which the junk limit must never cut off.
	run timeout 60 smtp-source -c -m 150 -s 5 -l 200 -f sender@client.example \
	    -t bob@test.example "127.0.0.1:$PF_PORT"
	assert_success
	printf 'From: Jörg <jörg@bücher.example>\nSubject: Grüße\n\nÜber Postfix.\n' \
	    >"$BATS_TEST_TMPDIR/utf8.txt"
	run timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" send-smtputf8 "$PF_PORT" \
	    jörg@bücher.example "$BATS_TEST_TMPDIR/utf8.txt" bob@test.example
	assert_success
	wait_messages bob 151 || {
		tail -20 "$PF_DIR/maillog" >&2
		false
	}
	# Well-formed, 151 messages (smtp-source's have no Subject:).
	run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox bob)"
	assert_line "Grüße"
	assert_equal "$(grep -c -x '\.' "$(mailbox bob)")" 151
	# Postfix saw our enhanced codes (dsn=) and reused its connections.
	run grep -c 'relay=127.0.0.1.*dsn=2.0.0, status=sent (250 2.0.0 OK Message accepted for delivery)' \
	    "$PF_DIR/maillog"
	assert_output 151
	run grep -c 'conn_use=' "$PF_DIR/maillog"
	assert [ "$output" -gt 0 ]
	refute [ -n "$(grep -E 'status=(deferred|bounced)' "$PF_DIR/maillog")" ]
	run grep -c 'died with code 0' "$SMTPD_LOG"
	refute grep -q 'died with code [1-9]' "$SMTPD_LOG"
	refute grep -q 'junk' "$SMTPD_LOG"
}
