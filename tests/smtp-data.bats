#!/usr/bin/env bats
# sockmail-smtpd, from DATA to the mailbox: end of data, dot-stuffing, size
# and NUL limits, the sockmail-mailbox(5) record, appending. Transcripts
# live in tests/data/smtp-data/.

load helpers

setup() {
	make_mailroot
}

# The commands before and after the message in the inline sessions below.
OPEN='HELO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\n'
CLOSE='QUIT\r\n'

# The replies to OPEN, one accepted message and CLOSE.
assert_one_message_accepted() {
	assert_reply 0 "220 test.example Service ready"
	assert_reply 1 "250 OK Hello client.example"
	assert_reply 2 "250 <a@example.org>... Sender ok"
	assert_reply 3 "250 bob... Recipient ok"
	assert_reply 4 '354 Enter mail, end with "." on a line by itself'
	assert_reply 5 "250 OK Message accepted for delivery"
	assert_reply 6 "221 test.example Service closing transmission channel"
	assert_equal "${#lines[@]}" 7
}

# --- the end of the data and dot-stuffing ----------------------------------

@test "dot-stuffing both ways: '..' on the wire is '.', stored as '..'" {
	run_transcript smtp-data/dot-stuffing
}

@test "a '.' line ended by a bare LF in a CRLF session is content, not the end" {
	run -0 smtp_raw "${OPEN}From: a@example.org\r\nTo: bob@test.example\r\nSubject: smuggle\r\nline one\r\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@test.example>\r\n.\r\n${CLOSE}"
	assert_one_message_accepted
	assert_mailbox bob <<-'EOF'
		From: a@example.org
		To: bob@test.example
		Subject: smuggle
		Received: <time>
		line one
		..
		MAIL FROM:<evil@example.org>
		RCPT TO:<alice@test.example>
		.
	EOF
	refute_mailbox alice
}

@test "LF '.' CRLF after a bare-LF line is content, not the end" {
	run -0 smtp_raw "${OPEN}From: a@example.org\r\nTo: bob@test.example\r\nSubject: smuggle\r\nline one\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@test.example>\r\n.\r\n${CLOSE}"
	assert_one_message_accepted
	assert_mailbox bob <<-'EOF'
		From: a@example.org
		To: bob@test.example
		Subject: smuggle
		Received: <time>
		line one
		..
		MAIL FROM:<evil@example.org>
		RCPT TO:<alice@test.example>
		.
	EOF
	refute_mailbox alice
}

@test "'.' CR CR LF is not the end of the data, but a bare CR: 554 at the real end" {
	run -0 smtp_raw "${OPEN}From: a@example.org\r\nTo: bob@test.example\r\nSubject: cr\r\nline one\r\n.\r\r\nline three\r\n.\r\n${CLOSE}"
	# The line is "." CR: un-stuffed (RFC 5321 4.5.2) it is a lone CR.
	# The data runs on to the real end, where the message is refused.
	assert_reply 4 '354 Enter mail, end with "." on a line by itself'
	assert_reply 5 "554 Message contains bare CR"
	assert_reply 6 "221 test.example Service closing transmission channel"
	assert_equal "${#lines[@]}" 7
	refute_mailbox bob
}

@test "a bare-LF transcript works: its DATA ends at a bare-LF '.'" {
	run_transcript --lf smtp-data/lf-only
}

# --- size and NUL -----------------------------------------------------------

# The message for the size tests; SIZE is its size as -s counts it
# (un-stuffed, CRLF endings), WIRE what goes on the wire (stuffed).
size_message() {
	local line
	local content=("From: a@example.org" "To: bob@test.example"
	    "Subject: size" ".dot" "body")
	SIZE=0
	WIRE=
	for line in "${content[@]}"; do
		SIZE=$((SIZE + ${#line} + 2))
		[[ $line == .* ]] && line=.$line
		WIRE+="$line\\r\\n"
	done
}

@test "a message of exactly -s octets (un-stuffed, CRLF counted) is accepted" {
	size_message
	assert_equal "$SIZE" 70
	run -0 smtp_raw -s "$SIZE" -- "${OPEN}${WIRE}.\r\n${CLOSE}"
	assert_one_message_accepted
	assert_mailbox bob <<-'EOF'
		From: a@example.org
		To: bob@test.example
		Subject: size
		Received: <time>
		..dot
		body
		.
	EOF
}

@test "a message one octet over -s is 552, nothing is stored, the session goes on" {
	size_message
	run -0 smtp_raw -s $((SIZE - 1)) -- "${OPEN}${WIRE}.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\nSubject: small\r\nfits\r\n.\r\n${CLOSE}"
	assert_reply 5 "552 Message size exceeds fixed maximum message size"
	assert_reply 6 "250 <a@example.org>... Sender ok"
	assert_reply 7 "250 bob... Recipient ok"
	assert_reply 8 '354 Enter mail, end with "." on a line by itself'
	assert_reply 9 "250 OK Message accepted for delivery"
	assert_reply 10 "221 test.example Service closing transmission channel"
	assert_mailbox bob <<-'EOF'
		From: a@example.org
		To: bob@test.example
		Subject: small
		Received: <time>
		fits
		.
	EOF
}

@test "a message with a NUL byte is 554, nothing is stored, the session goes on" {
	run -0 smtp_raw "${OPEN}Subject: nul\r\nbad\0byte\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\nSubject: clean\r\nno NUL here\r\n.\r\n${CLOSE}"
	assert_reply 5 "554 Message contains NUL characters"
	assert_reply 6 "250 <a@example.org>... Sender ok"
	assert_reply 7 "250 bob... Recipient ok"
	assert_reply 8 '354 Enter mail, end with "." on a line by itself'
	assert_reply 9 "250 OK Message accepted for delivery"
	assert_reply 10 "221 test.example Service closing transmission channel"
	assert_mailbox bob <<-'EOF'
		From: a@example.org
		To: bob@test.example
		Subject: clean
		Received: <time>
		no NUL here
		.
	EOF
}

# --- bare CR (RFC 5321 2.3.8) ----------------------------------------------

@test "a message with a bare CR is 554, nothing is stored, the session goes on" {
	run -0 smtp_raw "${OPEN}Subject: cr\r\nbad\rline\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\nSubject: clean\r\nno CR here\r\n.\r\n${CLOSE}"
	assert_reply 5 "554 Message contains bare CR"
	assert_reply 6 "250 <a@example.org>... Sender ok"
	assert_reply 9 "250 OK Message accepted for delivery"
	assert_reply 10 "221 test.example Service closing transmission channel"
	assert_mailbox bob <<-'EOF'
		From: a@example.org
		To: bob@test.example
		Subject: clean
		Received: <time>
		no CR here
		.
	EOF
}

@test "a bare CR anywhere in the data is refused: in a header, at a line's end, alone, as CR CR LF" {
	local data
	for data in 'Subject: a\rb\r\n' 'body\r\r\n' '\r\r\n' 'x\r\r\r\n' \
	    '\rfirst\r\n' 'line\r\n\r.\r\n'; do
		run -0 smtp_raw "${OPEN}${data}last\r\n.\r\n${CLOSE}"
		assert_reply 5 "554 Message contains bare CR"
		assert_reply 6 "221 test.example Service closing transmission channel"
	done
	refute_mailbox bob
}

@test "a bare CR after EHLO is 554 5.6.0, and in an LF-only transcript too" {
	run -0 smtp_raw 'EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\nbad\rline\r\n.\r\nQUIT\r\n'
	assert_reply 11 "554 5.6.0 Message contains bare CR"
	run -0 smtp_raw 'HELO client.example\nMAIL FROM:<a@example.org>\nRCPT TO:<bob@test.example>\nDATA\nbad\rline\n.\nQUIT\n'
	assert_reply 5 "554 Message contains bare CR"
	refute_mailbox bob
}

@test "a bare CR LF pair split over the reader's 8 KiB pieces is content, not a bare CR" {
	# 8189 x's, then CR LF: the CR lands at the end of a piece and is held
	# back with its LF, so the line is stored whole and no CR is bare.
	local long
	long=$(printf '%*s' 8189 '' | tr ' ' x)
	run -0 smtp_raw "${OPEN}Subject: edge\r\n${long}\r\n.\r\n${CLOSE}"
	assert_one_message_accepted
	run -0 grep -c -x "$long" "$(mailbox bob)"
	assert_output 1
}

# --- the sockmail-mailbox(5) record ----------------------------------------

@test "From, To and Subject move to the top; every other line keeps its place" {
	run_transcript smtp-data/headers-moved-to-top
}

@test "a folded Subject is unfolded; other folded headers are kept as sent" {
	run_transcript smtp-data/folded-subject
}

@test "missing From, To, Subject come from the envelope (accepted recipients only)" {
	run_transcript smtp-data/envelope-fill
}

@test "only the missing field comes from the envelope" {
	run_transcript smtp-data/envelope-fill-to
}

@test "a message from the null sender without From: is stored as From: <>" {
	run_transcript smtp-data/envelope-null-sender
}

@test "From: and To: lines after the header block are body, not headers" {
	run_transcript smtp-data/body-fields-ignored
}

@test "header names match in any case and values are trimmed" {
	run_transcript smtp-data/header-names-any-case
}

@test "a full RFC 5322 message keeps all its headers and its body" {
	run_transcript smtp-data/full-rfc5322
}

@test "data lines longer than 10,000 octets are stored whole" {
	local xs dots mixed
	xs=$(head -c 20000 /dev/zero | tr '\0' x)
	dots=$(head -c 20000 /dev/zero | tr '\0' .)
	mixed=$(head -c 8190 /dev/zero | tr '\0' a).$(head -c 12000 /dev/zero | tr '\0' b)
	# On the wire the all-dots line is stuffed to 20001 dots; stored, too.
	run -0 smtp_session "HELO client.example" "MAIL FROM:<a@example.org>" \
	    "RCPT TO:<bob@test.example>" "DATA" "From: a@example.org" \
	    "To: bob@test.example" "Subject: long" "$xs" ".$dots" "$mixed" \
	    "." "QUIT"
	assert_one_message_accepted
	printf '%s\n' "From: a@example.org" "To: bob@test.example" \
	    "Subject: long" "Received: <time>" "$xs" ".$dots" "$mixed" "." |
		assert_mailbox bob
}

@test "Received: is the local time of acceptance, as TZ says" {
	local before after got
	export TZ=XYZ-9	# POSIX TZ, UTC+9: no tzdata needed
	before=$(date '+%Y-%m-%d : %H : %M')
	run -0 smtp_session "HELO client.example" "MAIL FROM:<a@example.org>" \
	    "RCPT TO:<bob@test.example>" "DATA" "Subject: when" "now" "." "QUIT"
	after=$(date '+%Y-%m-%d : %H : %M')
	assert_one_message_accepted
	got=$(sed -n 4p "$(mailbox bob)")
	if [[ $got != "Received: $before" && $got != "Received: $after" ]]; then
		fail "got '$got', expected 'Received: $before' (TZ=$TZ)"
	fi
}

# --- appending ---------------------------------------------------------------

@test "several messages in one session are appended in order, each needing MAIL" {
	run_transcript smtp-data/several-messages
}

@test "two recipients each get one copy" {
	run_transcript smtp-data/two-recipients
}

# torn_old_mailbox: one whole message, then torn_tail.
torn_old_mailbox() {
	printf '%s\n' "From: old@example.org" "To: bob@test.example" \
	    "Subject: old" "Received: 2026-01-02 : 03 : 04" \
	    "The old message, kept." "."
	torn_tail
}

# torn_tail: the start of a message that lacks its "." line (a stuffed
# line, then half a line).
torn_tail() {
	printf '%s\n' "From: torn@example.org" \
	    "To: bob@test.example" "Subject: torn" \
	    "Received: 2026-01-02 : 03 : 05" ".."
	printf 'half a li'
}

@test "a tail without NULs after the last '.' line is moved whole to a side file before appending" {
	torn_old_mailbox | put_mailbox bob
	torn_tail >"$BATS_TEST_TMPDIR/tail"
	SOCKMAIL_LOG=stderr run_transcript smtp-data/append-to-old
	assert_side_file bob "$BATS_TEST_TMPDIR/tail" "$BATS_TEST_TMPDIR/smtpd.err"
	refute_log_event "$BATS_TEST_TMPDIR/smtpd.err" torn-tail
}

@test "the tail a killed delivery leaves (text, then the NULs of its room) is cut off before appending, with no side file" {
	{
		torn_old_mailbox
		head -c 300 /dev/zero
	} | put_mailbox bob
	SOCKMAIL_LOG=stderr run_transcript smtp-data/append-to-old
	assert_no_side_file bob
	assert_log_event "$BATS_TEST_TMPDIR/smtpd.err" torn-tail bob
	refute_log_event "$BATS_TEST_TMPDIR/smtpd.err" tail
}

@test "a mailbox that is all tail without NULs is moved whole to a side file, and then holds the new message alone" {
	printf 'From: torn@example.org\nTo: bob@test.example\nSubj' |
		put_mailbox bob
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/tail"
	SOCKMAIL_LOG=stderr run_transcript smtp-data/append-to-torn-only
	assert_side_file bob "$BATS_TEST_TMPDIR/tail" "$BATS_TEST_TMPDIR/smtpd.err"
}

@test "a mailbox that is all the tail of a killed delivery is emptied before appending" {
	{
		printf 'From: torn@example.org\nTo: bob@test.example\nSubj'
		head -c 77 /dev/zero
	} | put_mailbox bob
	SOCKMAIL_LOG=stderr run_transcript smtp-data/append-to-torn-only
	assert_no_side_file bob
	assert_log_event "$BATS_TEST_TMPDIR/smtpd.err" torn-tail bob
}

@test "a final '.' without LF keeps its message and gets its LF" {
	printf '%s\n' "From: old@example.org" "To: bob@test.example" \
	    "Subject: old" "Received: 2026-01-02 : 03 : 04" \
	    "The old message, kept." |
		{
			cat
			printf '.'
		} | put_mailbox bob
	run_transcript smtp-data/append-to-old
}

# spool_sizes_session: four messages to labxyz in one session, of
# 256 KiB less a little, 256 KiB and a little, 1 MiB and 1 KiB: the spool
# is memory up to 256 KiB (spool.h) and a file past that, then memory
# again for the next message. Each body is numbered lines, some starting
# with a dot. Writes the session to stdout, each body to BODY_DIR/N.
spool_sizes_session() {
	python3 - "$1" <<-'PY'
	import sys
	out = ["HELO c"]
	for n, size in enumerate((256 * 1024 - 100, 256 * 1024 + 100, 1 << 20, 1024), 1):
	    body, i = [], 0
	    while sum(len(l) + 1 for l in body) < size:
	        body.append(("." if i % 7 == 0 else "") + "m%d line %d " % (n, i) + "z" * (i % 50))
	        i += 1
	    with open("%s/%d" % (sys.argv[1], n), "w") as f:
	        f.write("".join(l + "\n" for l in body))
	    out += ["MAIL FROM:<a@c>", "RCPT TO:<labxyz@test.example>", "DATA",
	            "Subject: size %d" % n, ""]
	    out += ["." + l if l.startswith(".") else l for l in body]
	    out.append(".")
	out.append("QUIT")
	sys.stdout.write("".join(l + "\r\n" for l in out))
	PY
}

@test "messages on both sides of the in-memory spool's 256 KiB, in one session, are stored byte for byte" {
	mkdir "$BATS_TEST_TMPDIR/bodies"
	spool_sizes_session "$BATS_TEST_TMPDIR/bodies" >"$BATS_TEST_TMPDIR/in"
	run smtpd_filter <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(grep -c '^250 OK Message accepted' <<<"$output")" 4
	run -0 python3 - "$(mailbox labxyz)" "$BATS_TEST_TMPDIR/bodies" <<-'PY'
	import sys
	records = open(sys.argv[1], "rb").read().split(b"\n.\n")
	assert records[-1] == b"", "the mailbox ends with a '.' line"
	for n, record in enumerate(records[:-1], 1):
	    head, body = record.split(b"\n\n", 1)
	    assert b"Subject: size %d" % n in head, n
	    stored = b"".join((l[1:] if l.startswith(b"..") else l) + b"\n"
	                      for l in body.split(b"\n"))
	    want = open("%s/%d" % (sys.argv[2], n), "rb").read()
	    assert stored == want, "message %d differs" % n
	print(len(records) - 1)
	PY
	assert_output 4
	# Only the mailbox was written: the spill file was anonymous.
	run ls -A "$BATS_TEST_TMPDIR"
	refute_output --partial sockmail-spool
}
