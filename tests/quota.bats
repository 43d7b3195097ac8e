#!/usr/bin/env bats
# sockmail-smtpd -q: mailbox quotas (sockmail-smtpd(8) QUOTAS). A recipient
# whose mailbox is already at its quota is refused at RCPT (452 4.2.2); a
# message whose stored record would take any recipient's mailbox past it is
# refused at the end of DATA (552 5.2.2), for every recipient at once;
# exactly at the quota is fine. The size is the mailbox file's length.
#
# After EHLO the replies carry their enhanced codes (sockmail-smtpd(8),
# ENHANCED STATUS CODES), so the quota replies are checked whole there, the
# others by their basic code (what EHLO offers and the other texts do not
# matter here). After HELO every reply is checked whole, without enhanced
# codes.

load helpers
load net

# The message every test sends: it has its own From:, To: and Subject:,
# so its stored record is the same length for every recipient.
MSG='From: a@example.org\r\nTo: quota@test.example\r\nSubject: quota\r\n\r\nbody line\r\n'
QUOTA_FULL='452 4.2.2 Mailbox full'
QUOTA_OVER='552 5.2.2 Mailbox full, message would exceed quota'

setup_file() {
	local root=$BATS_FILE_TMPDIR/measure
	mkdir -p "$root/USERS"
	cp "$TESTDATA/mailroot/userinfo.txt" "$root/userinfo.txt"
	printf '%b' "HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@x>\r\nDATA\r\n${MSG}.\r\nQUIT\r\n" |
		TMPDIR=$BATS_FILE_TMPDIR "$SMTPD" -d "$root" -n test.example \
		    >/dev/null 2>&1
	# RECORD: the length of MSG's record in a mailbox
	# (sockmail-mailbox(5)).
	RECORD=$(stat -c %s "$root/USERS/bob/my_mailbox.txt")
	export RECORD
}

setup() {
	make_mailroot
	[[ $RECORD -gt 100 ]] || fail "no record length measured: '$RECORD'"
}

teardown() {
	stop_smtpd
}

# fill_mailbox LOGIN BYTES: LOGIN's mailbox holds one message and is
# exactly BYTES long (at least 92 for bob).
fill_mailbox() {
	"$PYTHON" - "$1" "$2" <<-'EOF' | put_mailbox "$1"
	import sys
	login, size = sys.argv[1], int(sys.argv[2])
	head = (f"From: fill@example.org\nTo: {login}@test.example\n"
	        "Subject: fill\nReceived: 2026-01-01 : 00 : 00\n")
	pad = size - len(head) - len("\n.\n")
	assert pad >= 0, "mailbox too small for a message"
	sys.stdout.write(head + "x" * pad + "\n.\n")
	EOF
}

# size LOGIN: the length of LOGIN's mailbox in bytes (0: none).
size() {
	local f
	f=$(mailbox "$1")
	if [[ -e $f ]]; then stat -c %s "$f"; else echo 0; fi
}

# keep LOGIN...: remember each LOGIN's mailbox as it is now.
keep() {
	local login
	for login in "$@"; do
		cp "$(mailbox "$login")" "$BATS_TEST_TMPDIR/kept-$login"
	done
}

# assert_kept LOGIN...: each LOGIN's mailbox is byte for byte as kept.
assert_kept() {
	local login
	for login in "$@"; do
		cmp "$BATS_TEST_TMPDIR/kept-$login" "$(mailbox "$login")" ||
			fail "the mailbox of $login changed"
	done
}

# ehlo_send [OPTION... --] RCPT...: one session, after EHLO: MAIL, RCPT
# to each login RCPT, DATA with MSG, QUIT. Use with `run`; then call
# finals.
ehlo_send() {
	local opts args r in
	split_options "$@"
	in='EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n'
	for r in "${args[@]}"; do
		in+="RCPT TO:<$r@test.example>\r\n"
	done
	in+="DATA\r\n${MSG}.\r\nQUIT\r\n"
	smtp_raw "${opts[@]}" -- "$in"
}

# finals: FINAL, the replies of the last `run` without the continuation
# lines of the EHLO reply ("250-"), so that reply N is the same whatever
# EHLO offers: 0 greeting, 1 EHLO, 2 MAIL, 3... RCPTs, then DATA, ...
finals() {
	FINAL=()
	local l
	for l in "${lines[@]}"; do
		[[ $l == 250-* ]] || FINAL+=("$l")
	done
}

# assert_final N TEXT: final reply N is TEXT. assert_code N CODE: it has
# the basic code CODE.
assert_final() {
	assert_wire_ok
	[[ ${FINAL[$1]-<none>} == "$2" ]] ||
		fail "reply $1 is '${FINAL[$1]-<none>}', expected '$2'; all: $(printf '[%s] ' "${FINAL[@]}")"
}

assert_code() {
	assert_wire_ok
	[[ ${FINAL[$1]-<none>} == "$2 "* ]] ||
		fail "reply $1 is '${FINAL[$1]-<none>}', expected code $2; all: $(printf '[%s] ' "${FINAL[@]}")"
}

# --- the end of DATA ---------------------------------------------------------

@test "a message that leaves the mailbox exactly at the quota is accepted" {
	fill_mailbox bob 1000
	run -0 ehlo_send -q $((1000 + RECORD)) -- bob
	finals
	assert_code 3 250
	assert_code 4 354
	assert_code 5 250
	assert_code 6 221
	assert_equal "$(size bob)" $((1000 + RECORD))
	run grep -c -x '\.' "$(mailbox bob)"
	assert_output 2
}

@test "a message one byte over the quota gets 552 5.2.2 and nothing is stored" {
	fill_mailbox bob 1000
	keep bob
	SOCKMAIL_LOG=stderr run -0 ehlo_send -q $((1000 + RECORD - 1)) -- bob
	finals
	assert_code 3 250
	assert_code 4 354
	assert_final 5 "$QUOTA_OVER"
	assert_code 6 221
	assert_kept bob
	grep -q -E 'reject: from=<a@example.org> size=[0-9]+: mailbox of bob would pass its quota \([0-9]+ bytes\); nothing delivered' \
	    "$BATS_TEST_TMPDIR/smtpd.err" || fail "no reject event: $(cat "$BATS_TEST_TMPDIR/smtpd.err")"
}

@test "a message longer than the quota itself gets 552 even for a new mailbox, and no folder is made" {
	run -0 ehlo_send -q $((RECORD - 1)) -- bob
	finals
	assert_final 5 "$QUOTA_OVER"
	[[ ! -e $MAILROOT/USERS/bob ]] || fail "a folder was made for bob"
	run -0 ehlo_send -q "$RECORD" -- bob
	finals
	assert_code 5 250
	assert_equal "$(size bob)" "$RECORD"
}

@test "after a 552 the session goes on: the next message that fits is accepted" {
	fill_mailbox bob 1000
	run -0 smtp_raw -q $((1000 + RECORD)) -- "EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\n${MSG}more\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\n${MSG}.\r\nQUIT\r\n"
	finals
	assert_final 5 "$QUOTA_OVER"
	assert_code 6 250
	assert_code 7 250
	assert_code 8 354
	assert_code 9 250
	assert_equal "$(size bob)" $((1000 + RECORD))
}

# --- RCPT ----------------------------------------------------------------------

@test "a mailbox exactly at the quota is full at RCPT: 452 4.2.2, and DATA then has no recipient" {
	fill_mailbox bob 1000
	keep bob
	SOCKMAIL_LOG=stderr run -0 ehlo_send -q 1000 -- bob
	finals
	assert_final 3 "$QUOTA_FULL"
	# No recipient was accepted: DATA is refused, the message lines are
	# unknown commands.
	assert_code 4 554
	assert_kept bob
	grep -q 'reject: mailbox of bob full (quota 1000 bytes): bob@test.example' \
	    "$BATS_TEST_TMPDIR/smtpd.err" || fail "no reject event: $(cat "$BATS_TEST_TMPDIR/smtpd.err")"
}

@test "a mailbox already past the quota is full at RCPT too; one byte below it is not" {
	fill_mailbox bob 1000
	run -0 ehlo_send -q 999 -- bob
	finals
	assert_final 3 "$QUOTA_FULL"
	# One byte of room: RCPT takes it, the message does not fit.
	run -0 ehlo_send -q 1001 -- bob
	finals
	assert_code 3 250
	assert_code 4 354
	assert_final 5 "$QUOTA_OVER"
	assert_equal "$(size bob)" 1000
}

@test "a full recipient is refused at RCPT and the message goes to the others" {
	fill_mailbox bob 1000
	keep bob
	run -0 ehlo_send -q 1000 -- otherlab bob labxyz
	finals
	assert_code 3 250
	assert_final 4 "$QUOTA_FULL"
	assert_code 5 250
	assert_code 6 354
	assert_code 7 250
	assert_kept bob
	assert_equal "$(size otherlab)" "$RECORD"
	assert_equal "$(size labxyz)" "$RECORD"
}

@test "after HELO the quota replies have no enhanced code: 452 Mailbox full, 552 Mailbox full" {
	fill_mailbox bob 1000
	fill_mailbox otherlab 1000
	run -0 smtp_raw -q 1000 -- "HELO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@test.example>\r\nRCPT TO:<labxyz@test.example>\r\nQUIT\r\n"
	assert_reply 2 "250 <a@example.org>... Sender ok"
	assert_reply 3 "452 Mailbox full"
	assert_reply 4 "250 labxyz... Recipient ok"
	run -0 smtp_raw -q 1001 -- "HELO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<otherlab@test.example>\r\nDATA\r\n${MSG}.\r\nQUIT\r\n"
	assert_reply 3 "250 otherlab... Recipient ok"
	assert_reply 4 '354 Enter mail, end with "." on a line by itself'
	assert_reply 5 "552 Mailbox full, message would exceed quota"
	assert_reply 6 "221 test.example Service closing transmission channel"
}

# --- several recipients: all or nothing ------------------------------------

@test "several recipients, one over the quota: 552, no copy anywhere, every mailbox byte for byte as before" {
	fill_mailbox alice 500
	fill_mailbox bob 1000
	fill_mailbox otherlab 200
	keep alice bob otherlab
	run -0 ehlo_send -q $((1000 + RECORD - 1)) -- alice bob otherlab labxyz
	finals
	assert_code 3 250
	assert_code 4 250
	assert_code 5 250
	assert_code 6 250
	assert_code 7 354
	assert_final 8 "$QUOTA_OVER"
	assert_kept alice bob otherlab
	assert_equal "$(size labxyz)" 0
}

@test "several recipients, one over the quota only under the lock: the copies already written are taken back" {
	# bob's last "." has no LF: his length can only be told under his
	# lock, where the LF is added and counts. alice and IbrahimEK sort
	# before bob, so their copies are written before bob's check fails.
	fill_mailbox alice 500
	fill_mailbox IbrahimEK 300
	fill_mailbox bob 1001
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/bob-with-lf"
	truncate -s 1000 "$(mailbox bob)"
	keep alice IbrahimEK
	run -0 ehlo_send -q $((1000 + RECORD)) -- alice bob IbrahimEK
	finals
	assert_code 6 354
	assert_final 7 "$QUOTA_OVER"
	assert_kept alice IbrahimEK
	# bob's mailbox only got its LF, as any writer gives it.
	cmp "$BATS_TEST_TMPDIR/bob-with-lf" "$(mailbox bob)"
}

@test "several recipients, all within the quota: every one gets its copy" {
	fill_mailbox alice 500
	fill_mailbox bob 1000
	run -0 ehlo_send -q $((1000 + RECORD)) -- alice bob otherlab
	finals
	assert_code 6 354
	assert_code 7 250
	assert_equal "$(size alice)" $((500 + RECORD))
	assert_equal "$(size bob)" $((1000 + RECORD))
	assert_equal "$(size otherlab)" "$RECORD"
	# The same record in each.
	cmp <(tail -c "$RECORD" "$(mailbox alice)") <(tail -c "$RECORD" "$(mailbox bob)")
	cmp <(tail -c "$RECORD" "$(mailbox bob)") "$(mailbox otherlab)"
}

# --- what counts ---------------------------------------------------------------

@test "a foreign tail is moved aside before the quota is counted" {
	fill_mailbox bob 1000
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/whole"
	printf 'From x Thu Nov 27 21:04:00 2026\nmbox junk without its dot line\n' \
	    >"$BATS_TEST_TMPDIR/junk"
	cat "$BATS_TEST_TMPDIR/junk" >>"$(mailbox bob)"
	# The file is past the quota, but what stays of it is not: RCPT
	# cannot tell, and the append counts the mailbox without its tail.
	run -0 ehlo_send -q $((1000 + RECORD)) -- bob
	finals
	assert_code 3 250
	assert_code 5 250
	assert_equal "$(size bob)" $((1000 + RECORD))
	cmp <(head -c 1000 "$(mailbox bob)") "$BATS_TEST_TMPDIR/whole"
	assert_side_file bob "$BATS_TEST_TMPDIR/junk"
}

@test "-q 0, and no -q at all, mean no quota" {
	fill_mailbox bob 100000
	run -0 ehlo_send -q 0 -- bob
	finals
	assert_code 3 250
	assert_code 5 250
	run -0 ehlo_send bob
	finals
	assert_code 3 250
	assert_code 5 250
	assert_equal "$(size bob)" $((100000 + 2 * RECORD))
}

@test "bad -q values exit 2 without greeting; the usage line names -q" {
	local bad
	for bad in -1 abc '' 12junk ' 5' +5 0x10 9223372036854775808 \
	    99999999999999999999999; do
		run -2 smtp_session -q "$bad" -- "QUIT"
		assert_wire_ok
		refute_output --partial "220 "
		grep -q -- '\[-q BYTES\]' "$BATS_TEST_TMPDIR/smtpd.err" ||
			fail "-q '$bad': no usage line naming -q"
	done
	run -0 smtp_session -q 9223372036854775807 -- "QUIT"
	assert_reply 0 "220 test.example Service ready"
}

@test "POP3 is not bound by the quota, and what it deletes makes room again" {
	fill_mailbox bob 1000
	run -0 ehlo_send -q 1000 -- bob
	finals
	assert_final 3 "$QUOTA_FULL"
	run -0 pop3_session "USER bob" "PASS bobpass" "RETR 1" "DELE 1" "QUIT"
	assert_line "+OK message 1 deleted"
	assert_equal "$(size bob)" 0
	run -0 ehlo_send -q 1000 -- bob
	finals
	assert_code 3 250
	assert_code 5 250
	assert_equal "$(size bob)" "$RECORD"
}

# --- concurrency -----------------------------------------------------------------

# tok_message K: the message of token tok-K, CRLF line endings, no final
# CRLF. It names its own From: and To:, so its record is as long for
# any recipients, and as long as any other's for K of one digit.
tok_message() {
	printf 'From: a@example.org\r\nTo: par@test.example\r\nSubject: tok-%s\r\n\r\nbody of tok-%s' "$1" "$1"
}

# tok_record_length: the length of the record of tok_message 0, stored
# once in SimonDS's mailbox to measure it.
tok_record_length() {
	printf 'EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<SimonDS@test.example>\r\nDATA\r\n%s\r\n.\r\nQUIT\r\n' "$(tok_message 0)" |
		smtpd_filter >/dev/null
	size SimonDS
}

# parallel_deliveries N QUOTA RCPT...: N piped sessions at once, each
# sending one message with its own token (tok-1 ... tok-N) to every RCPT;
# their replies in $BATS_TEST_TMPDIR/par-K.out.
parallel_deliveries() {
	local n=$1 quota=$2 k r pids=() failed=0
	shift 2
	for k in $(seq 1 "$n"); do
		{
			printf 'EHLO par%s.example\r\nMAIL FROM:<a@example.org>\r\n' "$k"
			for r in "$@"; do
				printf 'RCPT TO:<%s@test.example>\r\n' "$r"
			done
			printf 'DATA\r\n%s\r\n.\r\nQUIT\r\n' "$(tok_message "$k")"
		} >"$BATS_TEST_TMPDIR/par-$k.in"
	done
	for k in $(seq 1 "$n"); do
		TMPDIR=$BATS_TEST_TMPDIR timeout 50 "$SMTPD" -d "$MAILROOT" \
		    -n test.example -q "$quota" <"$BATS_TEST_TMPDIR/par-$k.in" \
		    >"$BATS_TEST_TMPDIR/par-$k.out" 2>/dev/null 3>&- &
		pids+=("$!")
	done
	for k in "${pids[@]}"; do
		wait "$k" || failed=1
	done
	return "$failed"
}

# landed_tokens LOGIN: the tokens of the messages in LOGIN's mailbox.
landed_tokens() {
	sed -n 's/^Subject: \(tok-[0-9]*\)$/\1/p' "$(mailbox "$1")" | sort
}

# accepted_tokens: the tokens of the sessions that got 250 at the end of
# DATA.
accepted_tokens() {
	local k
	for k in $(seq 1 "$1"); do
		if grep -q '^250 .*Message accepted' "$BATS_TEST_TMPDIR/par-$k.out"; then
			echo "tok-$k"
		fi
	done | sort
}

@test "8 parallel deliveries to a mailbox with room for 3: exactly 3 land, 5 get 552, the quota holds" {
	local len quota accepted refused
	# A message of tok-K: the record of one is as long as any other's
	# for K of one digit.
	len=$(tok_record_length)
	fill_mailbox bob 1000
	quota=$((1000 + 3 * len + len / 2))
	parallel_deliveries 8 "$quota" bob || fail "a session failed"
	accepted=$(cat "$BATS_TEST_TMPDIR"/par-*.out | grep -c '^250 .*Message accepted' || true)
	# Half a record of room stays: no RCPT sees the mailbox full.
	refused=$(cat "$BATS_TEST_TMPDIR"/par-*.out | tr -d '\r' | grep -c -F -x -e "$QUOTA_OVER" || true)
	assert_equal "$accepted" 3
	assert_equal "$refused" 5
	assert_equal "$(size bob)" $((1000 + 3 * len))
	[[ $(size bob) -le $quota ]]
	assert_equal "$(landed_tokens bob)" "$(accepted_tokens 8)"
	"$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox bob)" >/dev/null
}

@test "8 parallel deliveries to two recipients, one with room for 3: the other gets exactly the same 3" {
	local len quota
	len=$(tok_record_length)
	fill_mailbox alice 1000
	fill_mailbox bob 5000
	# alice sorts before bob: her copy is written first, then taken back
	# whenever bob's check under his lock fails.
	quota=$((5000 + 3 * len + len / 2))
	parallel_deliveries 8 "$quota" alice bob || fail "a session failed"
	assert_equal "$(cat "$BATS_TEST_TMPDIR"/par-*.out | grep -c '^250 .*Message accepted' || true)" 3
	assert_equal "$(size bob)" $((5000 + 3 * len))
	assert_equal "$(size alice)" $((1000 + 3 * len))
	assert_equal "$(landed_tokens bob)" "$(accepted_tokens 8)"
	assert_equal "$(landed_tokens alice)" "$(accepted_tokens 8)"
}

# --- over TCP, with a real client ---------------------------------------------------

@test "smtplib over TCP: 452 4.2.2 for a full mailbox at RCPT, 552 5.2.2 at DATA, nothing stored" {
	fill_mailbox bob 1000
	fill_mailbox otherlab 999
	keep bob otherlab
	start_smtpd -q 1000
	run timeout 60 "$PYTHON" - "$PORT" <<-'EOF'
	import smtplib, sys
	msg = "From: a@example.org\nTo: quota@test.example\nSubject: quota\n\nbody line\n"
	def send(rcpts):
	    with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=15) as s:
	        s.ehlo("client.example")
	        try:
	            refused = s.sendmail("a@example.org", rcpts, msg)
	            print("SENT", " ".join(sorted(refused)) or "-")
	        except smtplib.SMTPRecipientsRefused as e:
	            for addr, (code, text) in sorted(e.recipients.items()):
	                print("REFUSED", addr, code, text.decode())
	        except smtplib.SMTPDataError as e:
	            print("DATA", e.smtp_code, e.smtp_error.decode())
	send(["bob@test.example"])
	send(["otherlab@test.example"])
	send(["labxyz@test.example", "otherlab@test.example"])
	send(["labxyz@test.example", "bob@test.example"])
	EOF
	assert_success
	assert_line --index 0 "REFUSED bob@test.example 452 4.2.2 Mailbox full"
	assert_line --index 1 "DATA 552 5.2.2 Mailbox full, message would exceed quota"
	assert_line --index 2 "DATA 552 5.2.2 Mailbox full, message would exceed quota"
	# smtplib sends to the recipients that were accepted and reports
	# the refused one.
	assert_line --index 3 "SENT bob@test.example"
	assert_equal "${#lines[@]}" 4
	assert_kept bob otherlab
	assert_equal "$(size labxyz)" "$RECORD"
}
