#!/usr/bin/env bats
# Resource bounds: a handler's memory stays bounded whatever it is sent or
# finds. Each test runs the handler under an address-space limit (prlimit
# --as, what `ulimit -v` sets) below the data it handles: 64 MiB messages,
# 200 MiB over the size limit, 100 MiB lines, a mailbox of 100,000 messages
# plus a 48 MiB one. A handler that read a message, a line or a mailbox into
# memory would fail its allocation and answer 421 / -ERR instead of the
# replies asserted here.

load helpers

# 8 MiB of address space: a handler maps about 5 MiB at start (libc,
# libcrypt; OpenSSL only with a certificate), and nothing it holds grows
# with a message, a line or a mailbox (the message index stays on disk).
BOUND=$((8 * 1024 * 1024))
TOOLS="$abs_top_srcdir/tests/tools"

setup() {
	# AddressSanitizer reserves terabytes of address space for its shadow
	# memory, so no address-space limit can apply to a sanitizer build;
	# the plain build runs these tests for real.
	if [[ -n ${SOCKMAIL_SANITIZERS-} || -n ${SOCKMAIL_VALGRIND-} ]]; then
		skip "an address-space limit cannot apply under ASan or valgrind"
	fi
	HANDLER_PREFIX=(prlimit --as="$BOUND" --)
	make_mailroot
	BIG=$BATS_TEST_TMPDIR/big
}

# text_lines N: N lines of 70 characters of text, LF-ended.
text_lines() {
	yes 'a line of text in a big message, seventy characters long, or so.....' |
	    head -n "$1"
}

# smtp_big_session N: a CRLF session that sends one message of N text
# lines to labxyz and alice, and QUITs.
smtp_big_session() {
	printf 'HELO client.example\r\nMAIL FROM:<big@client.example>\r\n'
	printf 'RCPT TO:<labxyz@test.example>\r\nRCPT TO:<alice@test.example>\r\n'
	printf 'DATA\r\nSubject: big\r\n\r\n'
	text_lines "$1" | sed 's/$/\r/'
	printf '.\r\nQUIT\r\n'
}

@test "the bound is real: a 32 MiB allocation fails under it" {
	run -1 prlimit --as="$BOUND" -- dd if=/dev/zero of=/dev/null bs=32M count=1
	assert_output --partial "memory"
}

@test "smtpd delivers a 64 MiB message to two users within the bound" {
	smtp_big_session 960000 >"$BIG.in"
	run smtpd_filter -s 100000000 <"$BIG.in"
	assert_success
	assert_reply 6 "250 OK Message accepted for delivery"
	assert_reply 7 "221 test.example Service closing transmission channel"
	# Each copy: the four stored header lines, the blank line and the
	# text, byte for byte.
	text_lines 960000 >"$BIG.text"
	local login
	for login in labxyz alice; do
		python3 "$TOOLS/mbox_check.py" "$(mailbox "$login")" >/dev/null
		sed -n '6,960005p' "$(mailbox "$login")" | cmp - "$BIG.text"
		run -0 sed -n '1p;3p;5p;960006,$p' "$(mailbox "$login")"
		assert_output "From: big@client.example
Subject: big

."
	done
}

@test "smtpd reads a 200 MiB message over -s to its end within the bound, answers 552 and goes on" {
	{
		printf 'HELO client.example\r\nMAIL FROM:<big@client.example>\r\n'
		printf 'RCPT TO:<labxyz@test.example>\r\nDATA\r\n'
		text_lines 3000000 | sed 's/$/\r/'
		printf '.\r\nMAIL FROM:<small@client.example>\r\n'
		printf 'RCPT TO:<labxyz@test.example>\r\nDATA\r\nSubject: small\r\n\r\nhello\r\n.\r\nQUIT\r\n'
	} >"$BIG.in"
	run smtpd_filter <"$BIG.in"
	assert_success
	assert_reply 5 "552 Message size exceeds fixed maximum message size"
	assert_reply 9 "250 OK Message accepted for delivery"
	assert_mailbox labxyz <<-'EOF'
	From: small@client.example
	To: labxyz@test.example
	Subject: small
	Received: <time>

	hello
	.
	EOF
}

@test "smtpd answers a 100 MiB command line and a 100 MiB data line within the bound" {
	{
		printf 'HELO '
		head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' x
		printf '\r\nHELO client.example\r\nMAIL FROM:<a@client.example>\r\n'
		printf 'RCPT TO:<labxyz@test.example>\r\nDATA\r\nSubject: wide\r\n\r\n'
		head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' y
		printf '\r\n.\r\nQUIT\r\n'
	} >"$BIG.in"
	run smtpd_filter -s 200000000 <"$BIG.in"
	assert_success
	assert_reply 1 "500 Line too long"
	assert_reply 2 "250 OK Hello client.example"
	assert_reply 6 "250 OK Message accepted for delivery"
	# The stored line is the whole 100 MiB line.
	run -0 awk 'length($0) > 100000 { print length($0) }' "$(mailbox labxyz)"
	assert_output $((100 * 1024 * 1024))
}

@test "pop3d serves and rewrites a 100,000-message mailbox with a 48 MiB message within the bound" {
	put_mailbox labxyz </dev/null
	python3 "$TOOLS/make-mailbox.py" "$(mailbox labxyz)" 100000 200 \
	    --huge $((48 * 1024 * 1024))
	{
		printf 'USER labxyz\r\nPASS labpass\r\nSTAT\r\nLIST\r\nUIDL\r\n'
		printf 'TOP 100001 2\r\nRETR 100001\r\n'
		# Every odd message goes: UPDATE rewrites 50,000 of them.
		seq 1 2 100000 | sed 's/.*/DELE &\r/'
		printf 'QUIT\r\n'
	} >"$BIG.in"
	# Over 700,000 reply lines: kept in a file, not in $lines.
	pop3d_filter <"$BIG.in" >"$BIG.out"
	assert_wire_ok
	run -0 sed -n '3,5p;$p' "$BIG.out"
	assert_output "+OK maildrop has 100001 messages (71518185 octets)
+OK 100001 71518185
+OK 100001 messages (71518185 octets)
+OK Thanks for using POP3 server"
	run -0 grep -c '^+OK message [0-9]* deleted$' "$BIG.out"
	assert_output 50000
	# RETR sent every line of the 48 MiB message, TOP two of them.
	run -0 grep -c -x 'x\{63\}' "$BIG.out"
	assert_output $((48 * 1024 * 1024 / 64 + 2))
	# What is left: the even messages and the big one, intact.
	run -0 python3 "$TOOLS/mbox_check.py" "$(mailbox labxyz)"
	assert_equal "${#lines[@]}" 50001
	assert_equal "${lines[0]}" "message 2"
	assert_equal "${lines[-1]}" "message 100001"
}

@test "pop3d answers a 100 MiB command line within the bound and goes on" {
	{
		printf 'USER '
		head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' u
		printf '\r\nUSER labxyz\r\nPASS labpass\r\nQUIT\r\n'
	} >"$BIG.in"
	run pop3d_filter <"$BIG.in"
	assert_success
	assert_reply 1 "-ERR line too long"
	assert_reply 2 "+OK send PASS"
	assert_reply 3 "+OK maildrop has 0 messages (0 octets)"
}
