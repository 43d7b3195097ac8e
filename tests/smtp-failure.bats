#!/usr/bin/env bats
# Delivery that cannot complete: a message for two users where the second
# mailbox (in sorted login order: alice, then bob) cannot be written is
# refused with 451 as a whole, and the first user's mailbox is left byte for
# byte as it was (sockmail-smtpd(8): all or nothing; sockmail-mailbox(5)
# LOCKING: the mailbox checks).

load helpers
load net
load locking

REPLY_451="451 Requested action aborted: local error in processing"

setup() {
	make_mailroot
	SMALL_FS=
	# alice already has one message, so "unchanged" means more than
	# "still missing".
	put_old_mail alice
	mkdir -m 0700 "$MAILROOT/USERS/bob"
}

teardown() {
	if [ -n "$SMALL_FS" ]; then
		umount "$SMALL_FS" 2>/dev/null || umount -l "$SMALL_FS" || true
	fi
}

# put_old_mail LOGIN: give LOGIN's mailbox one message, and keep a copy of
# it in $BATS_TEST_TMPDIR/LOGIN.before.
put_old_mail() {
	mkdir -p "$MAILROOT/USERS/$1"
	chmod 0700 "$MAILROOT/USERS/$1"
	printf '%s\n' 'From: old@client.example' "To: $1@test.example" \
	    'Subject: earlier' 'Received: 2026-01-01 : 00 : 00' 'older mail' . \
	    >"$(mailbox "$1")"
	chmod 0600 "$(mailbox "$1")"
	cp "$(mailbox "$1")" "$BATS_TEST_TMPDIR/$1.before"
}

# tree_state: every name under the mail root with its type, size and link
# count, to show that a refused delivery left nothing behind.
tree_state() {
	find "$MAILROOT" -mindepth 1 -printf '%P %y %s %n\n' | sort
}

# send_to_alice_and_bob [LINE...]: one message for alice and bob over a
# pipe, then LINEs, then QUIT.
send_to_alice_and_bob() {
	smtpd_pipe 'HELO client.example' 'MAIL FROM:<labxyz@client.example>' \
	    'RCPT TO:<alice@test.example>' 'RCPT TO:<bob@test.example>' DATA \
	    'Subject: for two' '' 'This must reach both or neither.' . \
	    "$@" QUIT
}

# assert_refused_whole: the output of `run send_to_alice_and_bob` shows a
# 451 for the message, and alice's mailbox is as before.
assert_refused_whole() {
	assert_success
	assert_line --index 3 "250 alice... Recipient ok"
	assert_line --index 4 "250 bob... Recipient ok"
	assert_line --index 5 '354 Enter mail, end with "." on a line by itself'
	assert_line --index 6 "$REPLY_451"
	cmp "$BATS_TEST_TMPDIR/alice.before" "$(mailbox alice)"
}

@test "a mailbox that is a symbolic link is refused with 451, its target untouched, and no copy is left for the other user" {
	printf 'precious\n' >"$BATS_TEST_TMPDIR/target"
	cp "$BATS_TEST_TMPDIR/target" "$BATS_TEST_TMPDIR/target.before"
	ln -s "$BATS_TEST_TMPDIR/target" "$(mailbox bob)"
	before=$(tree_state)
	run send_to_alice_and_bob
	assert_refused_whole
	cmp "$BATS_TEST_TMPDIR/target.before" "$BATS_TEST_TMPDIR/target"
	assert [ -L "$(mailbox bob)" ]
	assert_equal "$(tree_state)" "$before"
}

@test "a mailbox that is a dangling symbolic link is refused with 451 and its target is not created" {
	ln -s "$BATS_TEST_TMPDIR/nowhere" "$(mailbox bob)"
	before=$(tree_state)
	run send_to_alice_and_bob
	assert_refused_whole
	assert [ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
	assert_equal "$(tree_state)" "$before"
}

@test "a mailbox that is a directory is refused with 451 and no copy is left for the other user" {
	mkdir "$(mailbox bob)"
	before=$(tree_state)
	run send_to_alice_and_bob
	assert_refused_whole
	assert_equal "$(tree_state)" "$before"
}

@test "a mailbox with a second hard link is refused with 451 and neither name changes" {
	put_old_mail bob
	ln "$(mailbox bob)" "$BATS_TEST_TMPDIR/bob-link"
	before=$(tree_state)
	run send_to_alice_and_bob
	assert_refused_whole
	cmp "$BATS_TEST_TMPDIR/bob.before" "$(mailbox bob)"
	cmp "$BATS_TEST_TMPDIR/bob.before" "$BATS_TEST_TMPDIR/bob-link"
	assert_equal "$(tree_state)" "$before"
}

@test "a user folder that is a symbolic link is refused with 451 and the folder it points to is untouched" {
	rmdir "$MAILROOT/USERS/bob"
	mkdir -m 0700 "$BATS_TEST_TMPDIR/elsewhere"
	printf 'not a mailbox of ours\n' >"$BATS_TEST_TMPDIR/elsewhere/my_mailbox.txt"
	cp "$BATS_TEST_TMPDIR/elsewhere/my_mailbox.txt" "$BATS_TEST_TMPDIR/elsewhere.before"
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$MAILROOT/USERS/bob"
	before=$(tree_state)
	run send_to_alice_and_bob
	assert_refused_whole
	cmp "$BATS_TEST_TMPDIR/elsewhere.before" "$BATS_TEST_TMPDIR/elsewhere/my_mailbox.txt"
	run ls -A "$BATS_TEST_TMPDIR/elsewhere"
	assert_output "my_mailbox.txt"
	assert_equal "$(tree_state)" "$before"
}

@test "a refused delivery leaves no mail for a first user who had no mailbox yet" {
	rm -r "$MAILROOT/USERS/alice"
	ln -s "$BATS_TEST_TMPDIR/nowhere" "$(mailbox bob)"
	run smtpd_pipe 'HELO client.example' 'MAIL FROM:<labxyz@client.example>' \
	    'RCPT TO:<alice@test.example>' 'RCPT TO:<bob@test.example>' DATA \
	    'Subject: for two' '' 'body' . QUIT
	assert_success
	assert_line --index 6 "$REPLY_451"
	# Created on the way or not, alice's mailbox holds no message.
	if [ -e "$(mailbox alice)" ]; then
		assert [ ! -s "$(mailbox alice)" ]
	fi
}

@test "after a 451 the session goes on: RSET, then a delivery to a good recipient gets 250" {
	ln -s "$BATS_TEST_TMPDIR/nowhere" "$(mailbox bob)"
	run send_to_alice_and_bob RSET 'MAIL FROM:<labxyz@client.example>' \
	    'RCPT TO:<alice@test.example>' DATA 'Subject: second try' '' \
	    'only for alice' .
	assert_success
	assert_line --index 6 "$REPLY_451"
	assert_line --index 7 "250 OK"
	assert_line --index 8 "250 <labxyz@client.example>... Sender ok"
	assert_line --index 9 "250 alice... Recipient ok"
	assert_line --index 10 '354 Enter mail, end with "." on a line by itself'
	assert_line --index 11 "250 OK Message accepted for delivery"
	assert_line --index 12 "221 test.example Service closing transmission channel"
	# alice has her old mail and exactly the second message.
	run normalise_mailbox "$(mailbox alice)"
	assert_output - <<-'EOF'
	From: old@client.example
	To: alice@test.example
	Subject: earlier
	Received: <time>
	older mail
	.
	From: labxyz@client.example
	To: alice@test.example
	Subject: second try
	Received: <time>

	only for alice
	.
	EOF
}

@test "a disk that fills up during delivery to two users gets 451 and leaves both mailboxes unchanged" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
	mkdir "$BATS_TEST_TMPDIR/small"
	mount -t tmpfs -o size=256k,mode=0755 sockmail-test "$BATS_TEST_TMPDIR/small" 2>/dev/null ||
	    skip "mount -t tmpfs is not permitted here"
	SMALL_FS="$BATS_TEST_TMPDIR/small"
	make_mailroot "$SMALL_FS/root"
	put_old_mail alice
	put_old_mail bob

	# A message of about 9 KiB (130 lines): appended to a one-page mailbox, each copy
	# takes two more 4 KiB pages. Leave room for three pages: the first
	# copy fits, the second does not.
	mapfile -t body < <(head -c 8970 /dev/zero | tr '\0' x | fold -w 69)
	page=$(stat -f -c %S "$SMALL_FS")
	free=$(stat -f -c %a "$SMALL_FS")
	fill=$((free - 3))
	dd if=/dev/zero of="$SMALL_FS/filler" bs="$page" count="$fill" status=none
	assert_equal "$(stat -f -c %a "$SMALL_FS")" 3
	assert_equal "$page" 4096

	before=$(tree_state)
	run smtpd_pipe 'HELO client.example' 'MAIL FROM:<labxyz@client.example>' \
	    'RCPT TO:<alice@test.example>' 'RCPT TO:<bob@test.example>' DATA \
	    'Subject: too big for two' '' "${body[@]}" . QUIT
	assert_success
	assert_line --index 6 "$REPLY_451"
	cmp "$BATS_TEST_TMPDIR/alice.before" "$(mailbox alice)"
	cmp "$BATS_TEST_TMPDIR/bob.before" "$(mailbox bob)"
	assert_equal "$(tree_state)" "$before"
	# Whatever was written has been given back.
	assert_equal "$(stat -f -c %a "$SMALL_FS")" 3

	# The same message for one user fits.
	run smtpd_pipe 'HELO client.example' 'MAIL FROM:<labxyz@client.example>' \
	    'RCPT TO:<alice@test.example>' DATA \
	    'Subject: fits for one' '' "${body[@]}" . QUIT
	assert_line --index 5 "250 OK Message accepted for delivery"
}

# torn_session: a message whose stored record crosses the 64 KiB write
# buffer right at a stuffed line (found by the soak test): the writes of
# the record end, one of them, in "\n.", the end of a message to a reader.
torn_session() {
	"$PYTHON" - <<-'PY'
	lines = ["HELO c", "MAIL FROM:<a@c>", "RCPT TO:<bob@test.example>", "DATA",
	         "Subject: torn", ""]
	lines += ["x" * 99] * 639 + ["x" * 33]
	lines += [".." + "y" * 3000, "end of torn", ".", "QUIT"]
	print("".join(l + "\r\n" for l in lines), end="")
	PY
}

# reference_record INPUT FILE: the record a clean delivery of the session
# INPUT (to bob) stores, written to FILE; made in a mail root of its own.
reference_record() {
	local saved=$MAILROOT
	make_mailroot "$BATS_TEST_TMPDIR/reference"
	"$SMTPD" -d "$MAILROOT" -n test.example <"$1" >/dev/null 2>&1
	cp "$(mailbox bob)" "$2"
	MAILROOT=$saved
}

@test "a delivery killed at any of its writes never leaves a cut message that a reader takes as whole, and the next delivery cuts its tail off" {
	require_strace
	local spec sc n stat box state seen=" " trace
	torn_session >"$BATS_TEST_TMPDIR/torn.in"
	reference_record "$BATS_TEST_TMPDIR/torn.in" "$BATS_TEST_TMPDIR/record"
	run -0 "$PYTHON" "$TOOLS/tail_state.py" "$BATS_TEST_TMPDIR/record"
	assert_output "whole 1"
	mkdir -p "$MAILROOT/USERS/bob"
	box=$(realpath -m "$(mailbox bob)")
	# SIGKILL at the Nth write(2) (the replies), or the Nth pwrite64,
	# ftruncate or fsync of the mailbox: the room reserved, each piece of
	# the record, the flush.
	for spec in write:{1..8} pwrite64:{1..3} ftruncate:1 fsync:1; do
		sc=${spec%:*} n=${spec#*:}
		trace=()
		[[ $sc == write ]] || trace=(-P "$box")
		rm -f "$(mailbox bob)" "$MAILROOT"/USERS/bob/my_mailbox.txt.tail.*
		# (The subshell keeps bash's "Killed" notice off the output.)
		(
			ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null \
			    "${trace[@]}" -e trace="$sc" \
			    -e inject="$sc":signal=KILL:when="$n" \
			    "$SMTPD" -d "$MAILROOT" -n test.example \
			    <"$BATS_TEST_TMPDIR/torn.in" >/dev/null 2>&1 || true
		) 2>/dev/null
		# What the kill left: nothing, the whole record, or a tail only
		# a killed append leaves (the start of the record, then NULs).
		state=$("$PYTHON" "$TOOLS/tail_state.py" "$(mailbox bob)" \
		    "$BATS_TEST_TMPDIR/record")
		case $state in
		"whole 0") ;;
		"whole 1") cmp -s <(normalise_mailbox "$BATS_TEST_TMPDIR/record") \
			<(normalise_mailbox "$(mailbox bob)") ||
			fail "$spec: one message, not the whole record" ;;
		"killed 0 "*) ;;
		*) fail "$spec: the kill left '$state'" ;;
		esac
		case $state in
		killed*) seen+="killed " ;;
		*) seen+="${state// /} " ;;
		esac
		# A reader sees no message, or the whole one (written but
		# killed before its 250).
		stat=$(printf 'USER bob\r\nPASS bobpass\r\nSTAT\r\nQUIT\r\n' |
		    "$POP3D" -d "$MAILROOT" -n test.example -f 0 2>/dev/null | sed -n 4p)
		case $stat in
		$'+OK 0 0\r') [[ $state != "whole 1" ]] ||
			fail "$spec: STAT said '$stat' of a whole message" ;;
		$'+OK 1 '*) [[ $state == "whole 1" ]] ||
			fail "$spec: a cut message reads as whole: $stat" ;;
		*) fail "$spec: STAT said '$stat'" ;;
		esac
		# The next delivery cuts off the tail, and moves nothing aside:
		# what is left is well-formed, and any torn message in it is
		# whole.
		: >"$BATS_TEST_TMPDIR/pipe.log"
		SOCKMAIL_LOG=stderr run smtpd_pipe 'HELO c' 'MAIL FROM:<a@c>' \
		    'RCPT TO:<bob@test.example>' DATA 'Subject: next' '' hi . QUIT
		assert_line --index 5 "250 OK Message accepted for delivery"
		assert_no_side_file bob
		if [[ $state == killed* ]]; then
			assert_log_event "$BATS_TEST_TMPDIR/pipe.log" torn-tail bob
		else
			refute_log_event "$BATS_TEST_TMPDIR/pipe.log" torn-tail
		fi
		run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox bob)"
		assert_line --index -1 next
		if [[ $state == "whole 1" ]]; then
			assert_equal "${#lines[@]}" 2
			assert_equal "${lines[0]}" torn
			cmp -n "$(normalise_mailbox "$BATS_TEST_TMPDIR/record" | wc -c)" \
			    <(normalise_mailbox "$BATS_TEST_TMPDIR/record") \
			    <(normalise_mailbox "$(mailbox bob)") ||
			    fail "$spec: the torn message changed"
		else
			assert_equal "${#lines[@]}" 1
		fi
	done
	# The kills did land: before the record, inside it, and after it.
	[[ $seen == *" killed "* ]] || fail "no kill left a torn record:$seen"
	[[ $seen == *" whole0 "* ]] || fail "no kill came before the record:$seen"
	[[ $seen == *" whole1 "* ]] || fail "no kill came after the record:$seen"
}

# fsync_session SUBJECT: a delivery to bob and alice.
fsync_session() {
	printf '%s\r\n' 'HELO c' 'MAIL FROM:<a@c>' 'RCPT TO:<bob@test.example>' \
	    'RCPT TO:<alice@test.example>' DATA "Subject: $1" '' hi . QUIT
}

@test "an fsync that fails takes the copies back: 451, both mailboxes as they were" {
	require_strace
	local before
	put_mailbox bob <"$TESTDATA/pop3-session/three.mailbox"
	before=$(tree_state)
	fsync_session lost >"$BATS_TEST_TMPDIR/in"
	ASAN_OPTIONS=detect_leaks=0 SOCKMAIL_LOG=stderr strace -f -qq -o /dev/null \
	    -e trace=fsync -e inject=fsync:error=EIO:when=1 \
	    "$SMTPD" -d "$MAILROOT" -n test.example <"$BATS_TEST_TMPDIR/in" \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || true
	run tr -d '\r' <"$BATS_TEST_TMPDIR/out"
	assert_line --index 6 "451 Requested action aborted: local error in processing"
	assert_equal "$(tree_state)" "$before"
}

@test "an fsync that fails after another delivery appended leaves both copies whole: 451 for it, 250 for the other" {
	require_strace
	put_mailbox bob <"$TESTDATA/pop3-session/three.mailbox"
	fsync_session first >"$BATS_TEST_TMPDIR/in"
	# The first delivery's first fsync (alice's, sorted first) waits 2 s,
	# then fails; the second delivery appends to both meanwhile.
	ASAN_OPTIONS=detect_leaks=0 SOCKMAIL_LOG=stderr strace -f -qq -o /dev/null \
	    -e trace=fsync -e inject=fsync:error=EIO:delay_enter=2000000:when=1 \
	    "$SMTPD" -d "$MAILROOT" -n test.example <"$BATS_TEST_TMPDIR/in" \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$! i
	for ((i = 0; i < 100; i++)); do
		grep -qs '^Subject: first$' "$(mailbox alice)" && break
		sleep 0.05
	done
	run smtpd_pipe 'HELO c' 'MAIL FROM:<a@c>' 'RCPT TO:<bob@test.example>' \
	    'RCPT TO:<alice@test.example>' DATA 'Subject: second' '' hi . QUIT
	assert_line --index 6 "250 OK Message accepted for delivery"
	wait "$pid" || true
	run tr -d '\r' <"$BATS_TEST_TMPDIR/out"
	assert_line --index 6 "451 Requested action aborted: local error in processing"
	# Neither copy could be cut out from before the second: they stay,
	# whole, and so does everything else.
	run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox alice)"
	assert_line --index -2 first
	assert_line --index -1 second
	run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox bob)"
	assert_line --index -2 first
	assert_line --index -1 second
	# Each copy stays, and the log says so (sockmail-smtpd(8)).
	run grep -c -E 'rollback: mailbox of (alice|bob): cannot take back .*it stays' \
	    "$BATS_TEST_TMPDIR/err"
	assert_output 2
}
