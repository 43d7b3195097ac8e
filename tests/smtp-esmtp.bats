#!/usr/bin/env bats
# ESMTP in sockmail-smtpd (sockmail-smtpd(8), ENHANCED STATUS CODES and
# SMTPUTF8): RFC 3463 enhanced status codes on the replies after EHLO (RFC
# 2034) and never after HELO, and SMTPUTF8 (RFC 6531), through pipes and
# through real clients over TCP. Bare CR is in smtp-data.bats, the cap on
# junk commands in junk.bats.

# shellcheck disable=SC2046 # the BOGUS words are meant to split

load helpers
load net

setup() {
	make_mailroot
}

teardown() {
	stop_smtpd
}

ENHANCED_RE='^([245])[0-9]{2} ([245])\.[0-9]{1,3}\.[0-9]{1,3} [^ ]'
ANY_ENHANCED_RE='^[0-9]{3}[ -][245]\.[0-9]{1,3}\.[0-9]{1,3} '

# assert_enhanced_codes: every reply in $lines but the greeting, the EHLO
# lines and 354 (RFC 3463 has no class 3) carries a well-formed enhanced
# code whose class is the basic code's first digit.
assert_enhanced_codes() {
	local i line bad=()
	for i in "${!lines[@]}"; do
		line=${lines[i]}
		if ((i == 0)) || [[ $line == 250-* || $line == "354 "* ]] ||
		    [[ $line == "250 HELP" && ${lines[i - 1]} == 250-* ]]; then
			continue
		fi
		if [[ ! $line =~ $ENHANCED_RE ]] ||
		    [[ ${BASH_REMATCH[1]} != "${BASH_REMATCH[2]}" ]]; then
			bad+=("$i: $line")
		fi
	done
	if ((${#bad[@]})); then
		printf '%s\n' "${bad[@]}" |
			batslib_decorate "replies without an enhanced code of their class" | fail
	fi
}

# refute_enhanced_codes: no reply in $lines carries an enhanced code.
refute_enhanced_codes() {
	local line bad=()
	for line in "${lines[@]}"; do
		if [[ $line =~ $ANY_ENHANCED_RE ]]; then
			bad+=("$line")
		fi
	done
	if ((${#bad[@]})); then
		printf '%s\n' "${bad[@]}" |
			batslib_decorate "enhanced codes after HELO" | fail
	fi
}

# --- ENHANCEDSTATUSCODES ----------------------------------------------------

@test "after EHLO every reply but the greeting, the EHLO lines and 354 carries an enhanced code of its class" {
	run_transcript smtp-session/esmtp-ehlo -s 1000
	assert_enhanced_codes
	# The session drew most kinds of reply: each of these basic codes.
	local code
	for code in 214 221 250 252 354 500 501 503 550 552 553 554 555; do
		assert_line --regexp "^$code "
	done
}

@test "after HELO the same session has no enhanced code anywhere, and the write-up's session is unchanged" {
	run_transcript smtp-session/esmtp-helo -s 1000
	refute_enhanced_codes
	run_transcript smtp-session/writeup -n kuleuven.be
	refute_enhanced_codes
}

@test "the replies of the HELO session are those of the EHLO session without the codes" {
	run_transcript smtp-session/esmtp-ehlo -s 1000
	local -a ehlo=("${lines[@]}")
	rm "$(mailbox bob)"
	run_transcript smtp-session/esmtp-helo -s 1000
	local -a helo=("${lines[@]}") stripped=() line
	for line in "${ehlo[@]}"; do
		[[ $line == 250-* || $line == "250 HELP" ]] && continue
		stripped+=("$(sed -E 's/^([0-9]{3}[ -])[245]\.[0-9]{1,3}\.[0-9]{1,3} /\1/' <<<"$line")")
	done
	# HELO's one line stands where EHLO's seven stood.
	helo=("${helo[0]}" "${helo[@]:2}")
	assert_equal "$(printf '%s\n' "${stripped[@]}")" "$(printf '%s\n' "${helo[@]}")"
}

@test "HELO turns enhanced codes off, EHLO on, a failed HELO or EHLO keeps them as they were" {
	run -0 smtp_session "EHLO client.example" NOOP HELO NOOP "HELO client.example" NOOP \
	    EHLO NOOP "EHLO client.example" QUIT
	assert_reply 8 "250 2.0.0 OK"
	assert_reply 9 "501 5.5.4 Syntax error in parameters or arguments"
	assert_reply 10 "250 2.0.0 OK"
	assert_reply 11 "250 OK Hello client.example"
	assert_reply 12 "250 OK"
	assert_reply 13 "501 Syntax error in parameters or arguments"
	assert_reply 14 "250 OK"
	assert_reply 22 "221 2.0.0 test.example Service closing transmission channel"
}

@test "the 421s carry 4.4.2 (timeout) and 4.7.0 (too many errors) after EHLO, nothing after HELO" {
	run -0 smtpd_filter -t 1 < <(printf 'EHLO client.example\r\n'; sleep 3)
	assert_reply 8 "421 4.4.2 test.example Service not available, closing transmission channel"
	run -0 smtp_session "EHLO client.example" $(printf 'BOGUS %.0s' {1..20}) QUIT
	assert_enhanced_codes
	assert_reply 27 "500 5.5.2 Syntax error, command unrecognized"
	assert_reply 28 "421 4.7.0 test.example Service not available, closing transmission channel"
	run -0 smtp_session "HELO client.example" $(printf 'BOGUS %.0s' {1..20}) QUIT
	assert_reply 22 "421 test.example Service not available, closing transmission channel"
}

@test "a local error is 451 4.3.0 after EHLO; 101 recipients get 452 4.5.3" {
	rm "$MAILROOT/userinfo.txt"
	run -0 smtp_session "EHLO client.example" "MAIL FROM:<a@b>" "RCPT TO:<bob@x>" QUIT
	assert_enhanced_codes
	assert_reply 9 "451 4.3.0 Requested action aborted: local error in processing"
	cp "$TESTDATA/mailroot/userinfo.txt" "$MAILROOT/userinfo.txt"
	local rcpts=() n
	for n in $(seq 1 101); do
		printf 'user%03d pw\n' "$n" >>"$MAILROOT/userinfo.txt"
		rcpts+=("RCPT TO:<user$(printf %03d "$n")@x>")
	done
	run -0 smtp_session "EHLO client.example" "MAIL FROM:<a@b>" "${rcpts[@]}" QUIT
	assert_enhanced_codes
	assert_reply 108 "250 2.1.5 user100... Recipient ok"
	assert_reply 109 "452 4.5.3 Too many recipients"
}

@test "STARTTLS without TLS is 500 5.5.2 after EHLO, 500 after HELO" {
	run -0 smtp_session "EHLO client.example" STARTTLS "HELO client.example" STARTTLS QUIT
	assert_reply 8 "500 5.5.2 Syntax error, command unrecognized"
	assert_reply 10 "500 Syntax error, command unrecognized"
}

@test "smtplib over TCP sees ENHANCEDSTATUSCODES and SMTPUTF8 in EHLO, and the enhanced codes" {
	start_smtpd
	printf 'Subject: codes\n\nhello\n' >"$BATS_TEST_TMPDIR/msg.txt"
	run timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" send-smtputf8 "$PORT" \
	    a@client.example "$BATS_TEST_TMPDIR/msg.txt" bob@test.example nobody@test.example
	assert_success
	assert_line --index 0 "EHLO 8bitmime enhancedstatuscodes help pipelining size smtputf8"
	assert_line --index 1 "MAIL 250 2.1.0 <a@client.example>... Sender ok"
	assert_line --index 2 "REFUSED nobody@test.example 550 5.1.1 No such user"
	assert_line --index 3 "DATA 250 2.0.0 OK Message accepted for delivery"
}

# --- SMTPUTF8 ---------------------------------------------------------------

@test "smtplib sends an SMTPUTF8 message over TCP: UTF-8 sender, domain and headers are stored as sent" {
	start_smtpd
	cat >"$BATS_TEST_TMPDIR/msg.txt" <<-'EOF'
	From: Jörg Müller <jörg@bücher.example>
	To: Bob <bob@例子.example>
	Subject: Grüße ✉ 📫
	Content-Type: text/plain; charset=utf-8

	用户 привет, ça va?
	EOF
	run timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" send-smtputf8 "$PORT" \
	    jörg@bücher.example "$BATS_TEST_TMPDIR/msg.txt" bob@例子.example \
	    jörg@test.example 用户@test.example
	assert_success
	assert_line --index 1 "MAIL 250 2.1.0 <jörg@bücher.example>... Sender ok"
	# A UTF-8 local part is no login (logins are ASCII).
	assert_line --index 2 "REFUSED jörg@test.example 550 5.1.1 No such user"
	assert_line --index 3 "REFUSED 用户@test.example 550 5.1.1 No such user"
	assert_line --index 4 "DATA 250 2.0.0 OK Message accepted for delivery"
	assert_mailbox bob <<-'EOF'
	From: Jörg Müller <jörg@bücher.example>
	To: Bob <bob@例子.example>
	Subject: Grüße ✉ 📫
	Received: <time>
	Content-Type: text/plain; charset=utf-8

	用户 привет, ça va?
	.
	EOF
}

@test "an SMTPUTF8 message without From: or To: takes the UTF-8 envelope addresses" {
	run -0 smtp_session "EHLO client.example" "MAIL FROM:<jörg@bücher.example> smtputf8" \
	    "RCPT TO:<bob@bücher.example>" DATA "Subject: envelope" "" "body" . QUIT
	assert_reply 8 "250 2.1.0 <jörg@bücher.example>... Sender ok"
	assert_reply 11 "250 2.0.0 OK Message accepted for delivery"
	assert_mailbox bob <<-'EOF'
	From: jörg@bücher.example
	To: bob@bücher.example
	Subject: envelope
	Received: <time>

	body
	.
	EOF
}

@test "invalid UTF-8 in an address over TCP is 553 5.6.7: overlong, surrogate, above U+10FFFF, stray, cut, C1, FF" {
	start_smtpd
	local bad
	{
		printf 'EHLO client.example\n'
		for bad in '\xc0\xaf' '\xe0\x80\xaf' '\xed\xa0\x80' '\xf4\x90\x80\x80' \
		    '\x80' '\xe2\x82' '\xc2\x85' '\xff'; do
			printf 'MAIL FROM:<a%bb@example.org> SMTPUTF8\n' "$bad"
		done
		printf 'MAIL FROM:<a@b> SMTPUTF8\n'
		printf 'RCPT TO:<bob@x\xed\xbf\xbfy.example>\n'
		printf 'RCPT TO:<bob\xf8\x88\x80\x80\x80@test.example>\n'
		printf 'RCPT TO:<bob@test.example>\nQUIT\n'
	} >"$BATS_TEST_TMPDIR/in"
	run -0 timeout 30 "$PYTHON" "$TOOLS/smtpclient.py" raw "$PORT" <"$BATS_TEST_TMPDIR/in"
	assert_enhanced_codes
	local n
	for n in $(seq 8 15) 17 18; do
		assert_line --index "$n" "553 5.6.7 Address is not valid UTF-8"
	done
	assert_line --index 16 "250 2.1.0 <a@b>... Sender ok"
	assert_line --index 19 "250 2.1.5 bob... Recipient ok"
}

@test "without the SMTPUTF8 parameter a non-ASCII address is 553 5.6.7 (553 after HELO), also valid UTF-8" {
	run -0 smtp_session "EHLO client.example" "MAIL FROM:<jörg@example.org>" \
	    "MAIL FROM:<a@bücher.example> BODY=8BITMIME" "MAIL FROM:<a@b>" "RCPT TO:<bob@bücher.example>" \
	    "HELO client.example" "MAIL FROM:<jörg@example.org>" QUIT
	assert_reply 8 "553 5.6.7 Non-ASCII address requires SMTPUTF8"
	assert_reply 9 "553 5.6.7 Non-ASCII address requires SMTPUTF8"
	assert_reply 10 "250 2.1.0 <a@b>... Sender ok"
	assert_reply 11 "553 5.6.7 Non-ASCII address requires SMTPUTF8"
	assert_reply 13 "553 Non-ASCII address requires SMTPUTF8"
}

@test "SMTPUTF8 is taken in any case, with SIZE= and BODY=, lasts one transaction, and takes no value" {
	run -0 smtp_session "EHLO client.example" \
	    "MAIL FROM:<ä@b> SIZE=10 smtputf8 BODY=8BITMIME" "RCPT TO:<bob@bü.example>" RSET \
	    "MAIL FROM:<a@b>" "RCPT TO:<bob@bü.example>" RSET \
	    "MAIL FROM:<a@b> SMTPUTF8=yes" "MAIL FROM:<a@b> SmtpUtf8" "RCPT TO:<bob@bü.example>" QUIT
	assert_reply 8 "250 2.1.0 <ä@b>... Sender ok"
	assert_reply 9 "250 2.1.5 bob... Recipient ok"
	assert_reply 12 "553 5.6.7 Non-ASCII address requires SMTPUTF8"
	assert_reply 14 "501 5.5.4 Syntax error in parameters or arguments"
	assert_reply 15 "250 2.1.0 <a@b>... Sender ok"
	assert_reply 16 "250 2.1.5 bob... Recipient ok"
}
