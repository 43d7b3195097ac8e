#!/usr/bin/env bats
# The mailbox store (src/lib/store.h; sockmail-mailbox(5)), checked byte for
# byte on the file: CRLF mailboxes read as their LF form and kept as they
# are; whatever follows the last "." line either cut off (only what a killed
# delivery leaves: text, then the NULs of its room) or moved whole to
# my_mailbox.txt.tail.<time>.<host>.<pid>; deliveries killed at random
# points inside the append; an fsync that fails while a POP3 UPDATE waits to
# replace the mailbox. The messages are tests/data/pop3-update/*.msg:
# one.msg (164 octets on the wire), two.msg (130), three.msg (146).

load helpers
load net
load locking

setup() {
	make_mailroot
	D=$TESTDATA/pop3-update
	export SOCKMAIL_LOG=stderr
}

teardown() {
	local pid
	if [[ -e $BATS_TEST_TMPDIR/bg.pids ]]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || true
		done <"$BATS_TEST_TMPDIR/bg.pids"
	fi
	held_end >/dev/null 2>&1 || true
}

# background PID: teardown kills PID should the test end before it.
background() {
	echo "$1" >>"$BATS_TEST_TMPDIR/bg.pids"
}

# crlf: stdin with CR LF for every LF.
crlf() {
	LC_ALL=C sed -z 's/\n/\r\n/g'
}

# assert_bytes WANT FILE: FILE holds exactly the bytes of the file WANT.
assert_bytes() {
	if ! cmp "$1" "$2" >&2; then
		diff -a -u "$1" "$2" | head -60 |
			batslib_decorate "$2 differs from what was expected" | fail
	fi
}

# deliver LOGIN SUBJECT [LINE...]: one message to LOGIN over a pipe, whose
# 250 the test requires; the handler's stderr is added to
# $BATS_TEST_TMPDIR/deliver.err.
deliver() {
	local login=$1 subject=$2
	shift 2
	run -0 smtp_session "HELO client.example" "MAIL FROM:<a@example.org>" \
	    "RCPT TO:<$login@test.example>" DATA "Subject: $subject" "" \
	    "${@:-Body of $subject.}" . QUIT
	cat "$BATS_TEST_TMPDIR/smtpd.err" >>"$BATS_TEST_TMPDIR/deliver.err"
	assert_reply 5 "250 OK Message accepted for delivery"
}

# record LOGIN SUBJECT [LINE...]: the record deliver stores, normalised
# (normalise_mailbox).
record() {
	local login=$1 subject=$2
	shift 2
	printf '%s\n' "From: a@example.org" "To: $login@test.example" \
	    "Subject: $subject" "Received: <time>" "" "${@:-Body of $subject.}" .
}

# assert_rest_is FILE OFFSET: the bytes of FILE from OFFSET on (0-based),
# normalised, are exactly stdin.
assert_rest_is() {
	local got=$BATS_TEST_TMPDIR/rest.got want=$BATS_TEST_TMPDIR/rest.want
	cat >"$want"
	tail -c +"$(($2 + 1))" "$1" | normalise_mailbox >"$got"
	diff_or_report "$want" "$got" "bytes of $1 after $2"
}

# pop3_listing LOGIN PASSWORD: a POP3 session with STAT, LIST, UIDL, RETR
# and TOP of every message it lists; its raw replies stay in
# $BATS_TEST_TMPDIR/pop3d.out.
pop3_listing() {
	run -0 pop3_session "USER $1" "PASS $2" STAT LIST UIDL \
	    "RETR 1" "RETR 2" "RETR 3" "RETR 4" "TOP 1 0" "TOP 2 1" "TOP 3 2" \
	    "LIST 2" "UIDL 3" QUIT
	assert_wire_ok
}

# --- CRLF mailboxes -----------------------------------------------------------

@test "a CRLF mailbox is served exactly as its LF form: STAT, LIST, UIDL, RETR and TOP, byte for byte" {
	local lf=$BATS_TEST_TMPDIR/lf.out
	put_messages labxyz one two three
	pop3_listing labxyz labpass
	assert_reply 2 "+OK maildrop has 3 messages (440 octets)"
	cp "$BATS_TEST_TMPDIR/pop3d.out" "$lf"
	grep -q -a '^+OK 146 octets' "$lf"

	# The same messages with CRLF, in a mail root of their own (no index
	# of the LF file to help).
	make_mailroot "$BATS_TEST_TMPDIR/crlf-root"
	cat "$D/one.msg" "$D/two.msg" "$D/three.msg" | crlf | put_mailbox labxyz
	cp "$(mailbox labxyz)" "$BATS_TEST_TMPDIR/crlf.before"
	assert_equal "$(grep -c $'\r$' "$(mailbox labxyz)")" "$(wc -l <"$(mailbox labxyz)")"
	pop3_listing labxyz labpass
	assert_bytes "$lf" "$BATS_TEST_TMPDIR/pop3d.out"
	# A login writes nothing: the file is as it was, and nothing is beside it.
	assert_bytes "$BATS_TEST_TMPDIR/crlf.before" "$(mailbox labxyz)"
	assert_no_side_file labxyz
	# And again, now that the index knows the file.
	pop3_listing labxyz labpass
	assert_bytes "$lf" "$BATS_TEST_TMPDIR/pop3d.out"
}

@test "DELE and QUIT on a mailbox of CRLF and LF messages keep the other messages byte for byte, CRLF and all" {
	{
		cat "$D/one.msg"
		crlf <"$D/two.msg"
		cat "$D/three.msg"
		crlf <"$D/one.msg"
	} | put_mailbox labxyz
	{
		crlf <"$D/two.msg"
		cat "$D/three.msg"
	} >"$BATS_TEST_TMPDIR/want"
	run -0 pop3_session "USER labxyz" "PASS labpass" LIST "DELE 1" "DELE 4" QUIT
	assert_reply 2 "+OK maildrop has 4 messages (604 octets)"
	assert_reply 4 "1 164"
	assert_reply 5 "2 130"
	assert_reply 6 "3 146"
	assert_reply 7 "4 164"
	assert_reply 11 "+OK Thanks for using POP3 server"
	assert_bytes "$BATS_TEST_TMPDIR/want" "$(mailbox labxyz)"
	assert_no_side_file labxyz
	# The UIDL of a kept message did not change with its neighbours.
	run -0 pop3_session "USER labxyz" "PASS labpass" "LIST" QUIT
	assert_reply 2 "+OK maildrop has 2 messages (276 octets)"
}

@test "the UIDL of a message is the same in its CRLF and its LF form, and across an UPDATE of a CRLF mailbox" {
	local lf_uids crlf_uids
	put_messages labxyz one two three
	run -0 pop3_session "USER labxyz" "PASS labpass" UIDL QUIT
	lf_uids=$(printf '%s\n' "${lines[@]:4:3}")
	assert_equal "$(cut -d' ' -f2 <<<"$lf_uids" | sort -u | wc -l)" 3
	cat "$D/one.msg" "$D/two.msg" "$D/three.msg" | crlf | put_mailbox labxyz
	rm -f "$MAILROOT/USERS/labxyz/my_mailbox.idx"
	run -0 pop3_session "USER labxyz" "PASS labpass" UIDL "DELE 2" QUIT
	crlf_uids=$(printf '%s\n' "${lines[@]:4:3}")
	assert_equal "$crlf_uids" "$lf_uids"
	run -0 pop3_session "USER labxyz" "PASS labpass" UIDL QUIT
	assert_reply 4 "1 $(sed -n '1s/^1 //p' <<<"$lf_uids")"
	assert_reply 5 "2 $(sed -n '3s/^3 //p' <<<"$lf_uids")"
}

@test "a delivery into a CRLF mailbox keeps its bytes and appends an LF record" {
	cat "$D/one.msg" "$D/two.msg" | crlf | put_mailbox bob
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/before"
	deliver bob "into CRLF"
	cmp -n "$(wc -c <"$BATS_TEST_TMPDIR/before")" "$BATS_TEST_TMPDIR/before" "$(mailbox bob)"
	record bob "into CRLF" | assert_rest_is "$(mailbox bob)" "$(wc -c <"$BATS_TEST_TMPDIR/before")"
	assert_no_side_file bob
	run -0 pop3_session "USER bob" "PASS bobpass" LIST QUIT
	assert_reply 2 "+OK maildrop has 3 messages (411 octets)"
	assert_reply 4 "1 164"
	assert_reply 5 "2 130"
	assert_reply 6 "3 117"
}

@test "a CRLF mailbox whose last '.' lacks its LF ('.' CR at the end) gets the LF before the appended record" {
	cat "$D/one.msg" "$D/two.msg" | crlf | head -c -1 | put_mailbox bob
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/before"
	assert_equal "$(tail -c 2 "$BATS_TEST_TMPDIR/before" | od -An -c | tr -d ' ')" '.\r'
	run -0 pop3_session "USER bob" "PASS bobpass" STAT QUIT
	assert_reply 3 "+OK 2 294"
	deliver bob "after dot CR"
	{
		cat "$BATS_TEST_TMPDIR/before"
		printf '\n'
	} >"$BATS_TEST_TMPDIR/want-prefix"
	cmp -n "$(wc -c <"$BATS_TEST_TMPDIR/want-prefix")" "$BATS_TEST_TMPDIR/want-prefix" "$(mailbox bob)"
	record bob "after dot CR" |
		assert_rest_is "$(mailbox bob)" "$(wc -c <"$BATS_TEST_TMPDIR/want-prefix")"
	assert_no_side_file bob
}

# --- foreign tails: moved whole to a side file ----------------------------------

# mbox_mailbox: an mbox (From_ lines, >From quoting, blank lines between
# messages), with no "." line at all.
mbox_mailbox() {
	cat <<-'EOF'
	From alice@example.org Thu Dec  3 10:00:00 2026
	From: alice@example.org
	To: bob@test.example
	Subject: mbox one
	Date: Thu, 3 Dec 2026 10:00:00 +0000

	First mbox message.
	>From here on, quoted.

	From carol@example.org Thu Dec  3 11:00:00 2026
	From: carol@example.org
	To: bob@test.example
	Subject: mbox two

	Second mbox message. .
	 .

	EOF
}

@test "an mbox mailbox is 0 messages to POP3, and a login leaves it be" {
	mbox_mailbox | put_mailbox bob
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/mbox"
	run -0 pop3_session "USER bob" "PASS bobpass" STAT LIST UIDL "RETR 1" "DELE 1" QUIT
	assert_reply 2 "+OK maildrop has 0 messages (0 octets)"
	assert_reply 3 "+OK 0 0"
	assert_reply 4 "+OK 0 messages (0 octets)"
	assert_reply 5 "."
	assert_reply 8 "-ERR no such message, only 0 in maildrop"
	assert_reply 9 "-ERR no such message, only 0 in maildrop"
	assert_reply 10 "+OK Thanks for using POP3 server"
	assert_bytes "$BATS_TEST_TMPDIR/mbox" "$(mailbox bob)"
	assert_no_side_file bob
}

@test "a delivery into an mbox mailbox moves the whole file, byte for byte, to one side file, and the mailbox holds the new message alone" {
	mbox_mailbox | put_mailbox bob
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/mbox"
	deliver bob "after mbox"
	record bob "after mbox" | assert_rest_is "$(mailbox bob)" 0
	assert_side_file bob "$BATS_TEST_TMPDIR/mbox" "$BATS_TEST_TMPDIR/deliver.err"
	refute_log_event "$BATS_TEST_TMPDIR/deliver.err" torn-tail
	# The next delivery finds no tail: the side file stays the only one.
	deliver bob "second"
	{
		record bob "after mbox"
		record bob "second"
	} | assert_rest_is "$(mailbox bob)" 0
	assert_side_file bob "$BATS_TEST_TMPDIR/mbox"
	run -0 pop3_session "USER bob" "PASS bobpass" STAT QUIT
	assert_reply 3 "+OK 2 230"
}

@test "a message appended by hand without its '.' line after good ones: served as the good ones only, then moved aside whole by the next delivery" {
	cat "$D/one.msg" "$D/two.msg" | put_mailbox labxyz
	cp "$(mailbox labxyz)" "$BATS_TEST_TMPDIR/good"
	printf '%s\n' "From: hand@example.org" "To: labxyz@test.example" \
	    "Subject: appended by hand" "" "No dot line follows." \
	    "..but a stuffed line does." >"$BATS_TEST_TMPDIR/hand"
	cat "$BATS_TEST_TMPDIR/hand" >>"$(mailbox labxyz)"
	cp "$(mailbox labxyz)" "$BATS_TEST_TMPDIR/before"
	run -0 pop3_session "USER labxyz" "PASS labpass" LIST "RETR 3" QUIT
	assert_reply 2 "+OK maildrop has 2 messages (294 octets)"
	assert_reply 4 "1 164"
	assert_reply 5 "2 130"
	assert_reply 7 "-ERR no such message, only 2 in maildrop"
	assert_bytes "$BATS_TEST_TMPDIR/before" "$(mailbox labxyz)"
	deliver labxyz "after the hand"
	cmp -n "$(wc -c <"$BATS_TEST_TMPDIR/good")" "$BATS_TEST_TMPDIR/good" "$(mailbox labxyz)"
	record labxyz "after the hand" |
		assert_rest_is "$(mailbox labxyz)" "$(wc -c <"$BATS_TEST_TMPDIR/good")"
	assert_side_file labxyz "$BATS_TEST_TMPDIR/hand" "$BATS_TEST_TMPDIR/deliver.err"
}

@test "a CRLF mailbox with a tail: UPDATE moves the tail aside whole and keeps the other messages' CRLF bytes" {
	printf 'From: hand@example.org\r\nTo: labxyz@test.example\r\n\r\nno dot\r\n' \
	    >"$BATS_TEST_TMPDIR/hand"
	{
		cat "$D/one.msg" "$D/two.msg" "$D/three.msg" | crlf
		cat "$BATS_TEST_TMPDIR/hand"
	} | put_mailbox labxyz
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 2" QUIT
	assert_reply 2 "+OK maildrop has 3 messages (440 octets)"
	assert_reply 4 "+OK Thanks for using POP3 server"
	cat "$D/one.msg" "$D/three.msg" | crlf >"$BATS_TEST_TMPDIR/want"
	assert_bytes "$BATS_TEST_TMPDIR/want" "$(mailbox labxyz)"
	assert_side_file labxyz "$BATS_TEST_TMPDIR/hand" "$BATS_TEST_TMPDIR/pop3d.err"
}

# tail_variant NAME SEED: print the tail bytes of variant NAME (random
# ones from SEED); the second word of its line in TAIL_VARIANTS says what
# the next writer does with it: cut it off, or move it to a side file.
TAIL_VARIANTS="junk side
junk-nul-end side
garbage-then-nuls side
text-after-nuls side
nuls-then-text side
no-nul side
dot-at-end-without-lf side
killed-from cut
killed-prefix cut
killed-empty cut
killed-crlf cut"

tail_variant() {
	case $1 in
	junk | junk-nul-end)
		# Random bytes (seed $2) with NULs, CRs and LFs, but
		# with no "." at all, so no "." line either.
		"$PYTHON" -c 'import random, sys
data = random.Random(int(sys.argv[1])).randbytes(8192).replace(b".", b",")
data += b"\0\r\n\r" + (b"\0" * 64 if sys.argv[2] == "junk-nul-end" else b"end")
sys.stdout.buffer.write(data)' "$2" "$1"
		;;
	garbage-then-nuls) printf 'garbage, not a record\0\0\0\0\0\0\0\0' ;;
	text-after-nuls) printf 'From: a@b\nTo: c\0\0\0\0x\0\0\0' ;;
	nuls-then-text) printf '\0\0\0\0From: a@b\n' ;;
	no-nul) printf 'From: a@b\nTo: c@d\nSubject: no NUL\n\nbody\n' ;;
	dot-at-end-without-lf) printf 'From: a@b\r\n.x\r\n.\r\r' ;;
	killed-from) printf 'From: a@b\nTo: bob@te'; head -c 500 /dev/zero ;;
	killed-prefix) printf 'Fro'; head -c 5 /dev/zero ;;
	killed-empty) head -c 4096 /dev/zero ;;
	killed-crlf) printf 'From: a@b\nTo: bob\r\n'; head -c 3 /dev/zero ;;
	esac
}

@test "tails of every kind: the next delivery cuts off only what a killed delivery leaves, and moves anything else aside byte for byte" {
	local name what box n=0 seed
	box=$(mailbox bob)
	seed=${JUNK_SEED:-$((RANDOM * 32768 + RANDOM))}
	echo "# junk seed $seed (JUNK_SEED=$seed reruns it)" >&3
	while read -r name what; do
		n=$((n + 1))
		rm -rf "$MAILROOT/USERS/bob" "$BATS_TEST_TMPDIR/deliver.err"
		crlf <"$D/one.msg" | put_mailbox bob
		tail_variant "$name" "$seed" >"$BATS_TEST_TMPDIR/tail"
		cat "$BATS_TEST_TMPDIR/tail" >>"$box"
		# A reader sees the one message, whatever the tail.
		run -0 pop3_session "USER bob" "PASS bobpass" STAT QUIT
		[[ ${lines[3]} == "+OK 1 164" ]] ||
			fail "$name (seed $seed): STAT said ${lines[3]}"
		deliver bob "after $name"
		crlf <"$D/one.msg" >"$BATS_TEST_TMPDIR/kept"
		cmp -n "$(wc -c <"$BATS_TEST_TMPDIR/kept")" "$BATS_TEST_TMPDIR/kept" "$box" ||
			fail "$name (seed $seed): the message before the tail changed"
		record bob "after $name" |
			assert_rest_is "$box" "$(wc -c <"$BATS_TEST_TMPDIR/kept")" ||
			fail "$name (seed $seed): not the record after the message"
		case $what in
		side)
			assert_side_file bob "$BATS_TEST_TMPDIR/tail" "$BATS_TEST_TMPDIR/deliver.err" ||
			    fail "$name (seed $seed): not moved aside"
			refute_log_event "$BATS_TEST_TMPDIR/deliver.err" torn-tail
			;;
		cut)
			assert_no_side_file bob
			assert_log_event "$BATS_TEST_TMPDIR/deliver.err" torn-tail bob
			refute_log_event "$BATS_TEST_TMPDIR/deliver.err" tail
			;;
		esac
	done <<<"$TAIL_VARIANTS"
	assert_equal "$n" 11
}

@test "tails of every kind: UPDATE deals with them as a delivery does" {
	local name what box seed
	box=$(mailbox labxyz)
	seed=${JUNK_SEED:-$((RANDOM * 32768 + RANDOM))}
	echo "# junk seed $seed (JUNK_SEED=$seed reruns it)" >&3
	while read -r name what; do
		rm -rf "$MAILROOT/USERS/labxyz"
		cat "$D/one.msg" "$D/two.msg" | put_mailbox labxyz
		tail_variant "$name" "$seed" >"$BATS_TEST_TMPDIR/tail"
		cat "$BATS_TEST_TMPDIR/tail" >>"$box"
		run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 1" QUIT
		[[ ${lines[2]} == "+OK maildrop has 2 messages (294 octets)" &&
		    ${lines[4]} == "+OK Thanks for using POP3 server" ]] ||
			fail "$name (seed $seed): ${lines[*]}"
		assert_bytes "$D/two.msg" "$box"
		case $what in
		side) assert_side_file labxyz "$BATS_TEST_TMPDIR/tail" "$BATS_TEST_TMPDIR/pop3d.err" ;;
		cut)
			assert_no_side_file labxyz
			assert_log_event "$BATS_TEST_TMPDIR/pop3d.err" torn-tail labxyz
			;;
		esac
	done <<<"$TAIL_VARIANTS"
}

# --- deliveries killed inside the append ---------------------------------------

# big_session SUBJECT: a session delivering a message of about 300 KiB to
# bob (five writes of the record), with stuffed lines.
big_session() {
	"$PYTHON" - "$1" <<-'PY'
	import sys
	lines = ["HELO c", "MAIL FROM:<a@c>", "RCPT TO:<bob@test.example>", "DATA",
	         "Subject: " + sys.argv[1], ""]
	lines += [("..dot " if i % 97 == 0 else "") + "line %06d " % i + "x" * 90
	          for i in range(3000)]
	lines += ["end of " + sys.argv[1], ".", "QUIT"]
	sys.stdout.write("".join(l + "\r\n" for l in lines))
	PY
}

# kill_child_of PID: SIGKILL the one child of process PID (strace's
# tracee); fails when there is none.
kill_child_of() {
	local child
	child=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || return 1
	child=${child%% *}
	[[ -n $child ]] || return 1
	kill -KILL "$child"
}

@test "deliveries killed at random points inside the append: every earlier message intact, the killed record cut or whole, nothing moved aside" {
	require_strace
	local seed round spec sc n box prefix state size0 count i delay spid
	local rounds=14 deadline=$((SECONDS + 150)) seen=" "
	seed=${KILL_SEED:-$((RANDOM * 32768 + RANDOM))}
	echo "# kill seed $seed (KILL_SEED=$seed reruns it)" >&3
	RANDOM=$seed
	big_session killed >"$BATS_TEST_TMPDIR/big.in"
	# The record, as a clean delivery stores it.
	make_mailroot "$BATS_TEST_TMPDIR/reference"
	"$SMTPD" -d "$MAILROOT" -n test.example <"$BATS_TEST_TMPDIR/big.in" >/dev/null 2>&1
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/record"
	normalise_mailbox "$BATS_TEST_TMPDIR/record" >"$BATS_TEST_TMPDIR/record.norm"
	make_mailroot "$BATS_TEST_TMPDIR/root"
	# bob starts with a CRLF message and an LF one.
	{
		crlf <"$D/one.msg"
		cat "$D/two.msg"
	} | put_mailbox bob
	box=$(realpath "$(mailbox bob)")
	for ((round = 1; round <= rounds && SECONDS < deadline; round++)); do
		cp "$box" "$BATS_TEST_TMPDIR/prefix"
		prefix=$(wc -c <"$BATS_TEST_TMPDIR/prefix")
		"$PYTHON" "$TOOLS/tail_state.py" "$box" >"$BATS_TEST_TMPDIR/state0"
		read -r _ size0 <"$BATS_TEST_TMPDIR/state0"
		# Where to kill: at the Nth pwrite64 of the record (1: the
		# room reserved, nothing written; 6: after the last piece), at
		# the room's ftruncate, at the fsync, or at a random moment
		# while slowed pwrites run.
		case $((RANDOM % 4)) in
		0 | 1) spec=pwrite64:$((RANDOM % 6 + 1)) ;;
		2) spec=$( ((RANDOM % 2)) && echo ftruncate:1 || echo fsync:1) ;;
		3) spec=timed:$((RANDOM % 100)) ;;
		esac
		sc=${spec%:*} n=${spec#*:}
		if [[ $sc == timed ]]; then
			# Each pwrite64 of the mailbox waits 20 ms; the kill comes
			# N ms after the room is reserved.
			ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -P "$box" \
			    -e trace=pwrite64 -e inject=pwrite64:delay_enter=20000 \
			    "$SMTPD" -d "$MAILROOT" -n test.example \
			    <"$BATS_TEST_TMPDIR/big.in" >/dev/null 2>&1 3>&- &
			spid=$!
			background "$spid"
			for ((i = 0; i < 1000; i++)); do
				(($(stat -c %s "$box") > prefix)) && break
				kill -0 "$spid" 2>/dev/null || break
				sleep 0.005
			done
			delay=$(printf '0.%03d' "$n")
			sleep "$delay"
			kill_child_of "$spid" || true
			wait "$spid" 2>/dev/null || true
		else
			(
				ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null \
				    -P "$box" -e trace="$sc" \
				    -e inject="$sc":signal=KILL:when="$n" \
				    "$SMTPD" -d "$MAILROOT" -n test.example \
				    <"$BATS_TEST_TMPDIR/big.in" >/dev/null 2>&1 || true
			) 2>/dev/null
		fi
		local where="round $round, $spec, seed $seed"
		# The earlier bytes are untouched.
		cmp -s -n "$prefix" "$BATS_TEST_TMPDIR/prefix" "$box" ||
			fail "$where: the bytes before the append changed"
		state=$("$PYTHON" "$TOOLS/tail_state.py" "$box" "$BATS_TEST_TMPDIR/record")
		count=$size0
		case $state in
		"whole $size0") seen+="none " ;;
		"whole $((size0 + 1))")
			seen+="whole "
			count=$((size0 + 1))
			tail -c +"$((prefix + 1))" "$box" | normalise_mailbox |
				cmp -s - "$BATS_TEST_TMPDIR/record.norm" ||
				fail "$where: a message was added that is not the whole record"
			;;
		"killed $size0 "*) seen+="torn " ;;
		*) fail "$where: after the kill the mailbox is '$state' (was '$(cat "$BATS_TEST_TMPDIR/state0")')" ;;
		esac
		# A reader never sees a cut record as a message.
		run -0 pop3_session "USER bob" "PASS bobpass" STAT QUIT
		[[ ${lines[3]} == "+OK $count "* ]] ||
			fail "$where: STAT said '${lines[3]}' of '$state'"
		# The next delivery cuts a torn record off and moves nothing aside.
		: >"$BATS_TEST_TMPDIR/deliver.err"
		deliver bob "next $round"
		assert_no_side_file bob
		if [[ $state == killed* ]]; then
			assert_log_event "$BATS_TEST_TMPDIR/deliver.err" torn-tail bob
		else
			refute_log_event "$BATS_TEST_TMPDIR/deliver.err" torn-tail
		fi
		refute_log_event "$BATS_TEST_TMPDIR/deliver.err" tail
		cmp -s -n "$prefix" "$BATS_TEST_TMPDIR/prefix" "$box" ||
			fail "$where: the next delivery changed the bytes before the append"
		{
			if [[ $state == "whole $((size0 + 1))" ]]; then
				cat "$BATS_TEST_TMPDIR/record.norm"
			fi
			record bob "next $round"
		} | assert_rest_is "$box" "$prefix" ||
			fail "$where: after the next delivery the mailbox is not what it was plus that"
	done
	echo "# rounds: $((round - 1)); outcomes:$seen" >&3
	((round > 6)) || fail "only $((round - 1)) rounds in the time given"
	# Whatever the seed, the kills must sometimes land inside the record
	# (a forced pwrite64:2 round shows whether they can).
	if [[ $seen != *" torn "* ]]; then
		(
			ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -P "$box" \
			    -e trace=pwrite64 -e inject=pwrite64:signal=KILL:when=2 \
			    "$SMTPD" -d "$MAILROOT" -n test.example \
			    <"$BATS_TEST_TMPDIR/big.in" >/dev/null 2>&1 || true
		) 2>/dev/null
		run -0 "$PYTHON" "$TOOLS/tail_state.py" "$box" "$BATS_TEST_TMPDIR/record"
		assert_output --regexp '^killed '
	fi
}

# --- an fsync that fails while an UPDATE waits ----------------------------------

FSYNC_DELAY_US=2500000

# failing_delivery SUBJECT: deliver SUBJECT to labxyz in the background
# under strace, whose first fsync of the mailbox waits FSYNC_DELAY_US and
# then fails (EIO); replies in fail.out, log in fail.err; FAIL_PID is
# strace's. Comes back once the record is in the file (its fsync pending).
failing_delivery() {
	local box i
	box=$(realpath "$(mailbox labxyz)")
	printf '%s\r\n' "HELO c" "MAIL FROM:<a@c>" "RCPT TO:<labxyz@test.example>" DATA \
	    "Subject: $1" "" "The fsync of this one fails." . QUIT >"$BATS_TEST_TMPDIR/fail.in"
	ASAN_OPTIONS=detect_leaks=0 SOCKMAIL_LOG=stderr strace -f -qq -o /dev/null -P "$box" \
	    -e trace=fsync -e inject=fsync:error=EIO:delay_enter="$FSYNC_DELAY_US":when=1 \
	    "$SMTPD" -d "$MAILROOT" -n test.example <"$BATS_TEST_TMPDIR/fail.in" \
	    >"$BATS_TEST_TMPDIR/fail.out" 2>"$BATS_TEST_TMPDIR/fail.err" 3>&- &
	FAIL_PID=$!
	background "$FAIL_PID"
	for ((i = 0; i < 200; i++)); do
		grep -q -a "^Subject: $1\$" "$box" && return 0
		sleep 0.01
	done
	fail "failing_delivery: the record of $1 never showed in the mailbox"
}

# failing_delivery_wait: wait for it; sets FAIL_REPLY (its reply to DATA's end).
failing_delivery_wait() {
	wait "$FAIL_PID" || true
	FAIL_REPLY=$(tr -d '\r' <"$BATS_TEST_TMPDIR/fail.out" | sed -n 6p)
}

# subjects LOGIN: the Subject of every message in LOGIN's mailbox, one a line.
subjects() {
	LC_ALL=C grep -a '^Subject: ' "$(mailbox "$1")" | sed 's/^Subject: //'
}

# assert_settled SUBJECT: the failing delivery of SUBJECT got 451 and its
# copy is gone, or it stays and a rollback line says so; never 250 and gone.
assert_settled() {
	local count
	count=$(subjects labxyz | grep -c -x "$1" || true)
	case $FAIL_REPLY in
	"451 Requested action aborted: local error in processing")
		if grep -q -a 'rollback: mailbox of labxyz: .*it stays' "$BATS_TEST_TMPDIR/fail.err"; then
			assert_equal "$count" 1
		else
			[[ $count == 0 ]] ||
				fail "451 for '$1', no rollback line, yet it is in the mailbox $count times"
		fi
		;;
	"250 OK Message accepted for delivery")
		fail "'$1' got 250 though its fsync failed"
		;;
	*) fail "the failing delivery's reply: '$FAIL_REPLY'" ;;
	esac
}

@test "an fsync that fails while a POP3 UPDATE waits to replace the mailbox: the copy is taken back, the UPDATE keeps every other message, byte for byte" {
	require_strace
	put_messages labxyz one two three
	hold_maildrop labxyz labpass
	assert_equal "$HOLD_LOGIN" "+OK maildrop has 3 messages (440 octets)"
	held_cmd "DELE 1"
	assert_equal "$REPLY" "+OK message 1 deleted"
	failing_delivery "taken back"
	# The UPDATE starts while the fsync is in flight.
	printf 'QUIT\r\n' >&"$HOLD_W"
	held_read REPLY
	assert_equal "$REPLY" "+OK Thanks for using POP3 server"
	held_end
	failing_delivery_wait
	assert_equal "$FAIL_REPLY" "451 Requested action aborted: local error in processing"
	refute_log_event "$BATS_TEST_TMPDIR/fail.err" rollback
	cat "$D/two.msg" "$D/three.msg" >"$BATS_TEST_TMPDIR/want"
	assert_bytes "$BATS_TEST_TMPDIR/want" "$(mailbox labxyz)"
	assert_no_side_file labxyz
	run find "$MAILROOT" -name '*.tmp'
	assert_output ""
}

@test "an fsync that fails while another delivery appends and an UPDATE waits: nothing lost, a 451 copy gone unless logged as staying" {
	require_strace
	local i
	put_messages labxyz one two three
	hold_maildrop labxyz labpass
	held_cmd "DELE 2"
	assert_equal "$REPLY" "+OK message 2 deleted"
	failing_delivery "failing"
	# Another delivery appends after it, then the UPDATE comes: the
	# failing copy can no longer be taken back.
	deliver labxyz "appended after"
	printf 'QUIT\r\n' >&"$HOLD_W"
	held_read REPLY
	assert_equal "$REPLY" "+OK Thanks for using POP3 server"
	held_end
	failing_delivery_wait
	assert_settled failing
	grep -q -a 'rollback: mailbox of labxyz: .*it stays' "$BATS_TEST_TMPDIR/fail.err"
	# one and three byte for byte, then the two delivered ones, whole.
	cat "$D/one.msg" "$D/three.msg" >"$BATS_TEST_TMPDIR/want"
	cmp -n "$(wc -c <"$BATS_TEST_TMPDIR/want")" "$BATS_TEST_TMPDIR/want" "$(mailbox labxyz)"
	run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox labxyz)"
	assert_output "$(printf '%s\n' One 'Three é' failing 'appended after')"
}

@test "a POP3 login while a delivery's fsync is in flight and then fails never lists the copy that is taken back" {
	require_strace
	local listed
	put_messages labxyz one two three
	failing_delivery "never listed"
	# A login now waits until the copy is settled.
	run -0 pop3_session "USER labxyz" "PASS labpass" STAT "TOP 4 0" QUIT
	listed=$output
	failing_delivery_wait
	assert_settled "never listed"
	refute_log_event "$BATS_TEST_TMPDIR/fail.err" rollback
	assert_equal "$(sed -n 3,4p <<<"$listed")" "$(printf '%s\n' \
	    '+OK maildrop has 3 messages (440 octets)' '+OK 3 440')"
	assert_bytes <(cat "$D/one.msg" "$D/two.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "POP3 sessions listing again and again through failing fsyncs, deliveries and an UPDATE: every message listed is still there, or was deleted" {
	require_strace
	local i login_n subj lister
	put_messages labxyz one two three
	: >"$BATS_TEST_TMPDIR/listed"
	: >"$BATS_TEST_TMPDIR/logins"
	# A lister: log in every 50 ms, write down the Subject of every
	# message listed (TOP n 0), delete nothing.
	(
		exec 3>&-
		end=$((SECONDS + 10))
		while ((SECONDS < end)) && [[ ! -e $BATS_TEST_TMPDIR/stop ]]; do
			printf '%s\r\n' "USER labxyz" "PASS labpass" "TOP 1 0" "TOP 2 0" \
			    "TOP 3 0" "TOP 4 0" "TOP 5 0" "TOP 6 0" QUIT |
				SOCKMAIL_LOG=stderr timeout 20 "$POP3D" -d "$MAILROOT" \
				    -n test.example -f 0 2>/dev/null | tr -d '\r' |
				sed -n 's/^Subject: //p' >>"$BATS_TEST_TMPDIR/listed"
			echo login >>"$BATS_TEST_TMPDIR/logins"
			sleep 0.05
		done
	) &
	lister=$!
	background "$lister"
	sleep 0.3
	# A copy whose fsync fails, with logins waiting meanwhile: taken back.
	failing_delivery "first failing"
	failing_delivery_wait
	assert_settled "first failing"
	deliver labxyz "good one"
	# A held session deletes One; its UPDATE waits for a second failing
	# copy, which is taken back too.
	for ((i = 0; i < 100; i++)); do
		hold_maildrop labxyz labpass
		[[ $HOLD_LOGIN == "+OK maildrop has "* ]] && break
		held_end || true
		sleep 0.02
	done
	assert_equal "$HOLD_LOGIN" "+OK maildrop has 4 messages (558 octets)"
	held_cmd "DELE 1"
	failing_delivery "second failing"
	printf 'QUIT\r\n' >&"$HOLD_W"
	held_read REPLY
	assert_equal "$REPLY" "+OK Thanks for using POP3 server"
	held_end
	failing_delivery_wait
	assert_settled "second failing"
	sleep 0.5
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$lister" || true
	login_n=$(wc -l <"$BATS_TEST_TMPDIR/logins")
	((login_n >= 5)) || fail "the lister logged in only $login_n times"
	grep -q -x 'good one' "$BATS_TEST_TMPDIR/listed" ||
		fail "the lister never listed the good delivery"
	# Every Subject ever listed is still in the mailbox, or was message
	# 1 (One), which the held session deleted.
	while IFS= read -r subj; do
		[[ $subj == One ]] && continue
		subjects labxyz | grep -q -x -F "$subj" ||
			fail "'$subj' was listed, and is gone"
	done < <(sort -u "$BATS_TEST_TMPDIR/listed")
	cat "$D/two.msg" "$D/three.msg" >"$BATS_TEST_TMPDIR/kept"
	cmp -n "$(wc -c <"$BATS_TEST_TMPDIR/kept")" "$BATS_TEST_TMPDIR/kept" "$(mailbox labxyz)"
	{
		normalise_mailbox "$BATS_TEST_TMPDIR/kept"
		record labxyz "good one"
	} | assert_rest_is "$(mailbox labxyz)" 0
}

# --- a mailbox's name: durable before the 250 that rests on it ----------------

# update_with_fault LOGIN PASSWORD INJECT: DELE 1 and QUIT, with strace
# injecting INJECT (e.g. fsync:signal=KILL:when=1) into the fsyncs of
# LOGIN's folder only; the replies in $BATS_TEST_TMPDIR/update.out.
update_with_fault() {
	local folder
	folder=$(realpath "$MAILROOT/USERS/$1")
	printf 'USER %s\r\nPASS %s\r\nDELE 1\r\nQUIT\r\n' "$1" "$2" |
	    ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -P "$folder" \
	    -e trace=fsync -e inject="$3" \
	    "$POP3D" -d "$MAILROOT" -n test.example -f 0 \
	    >"$BATS_TEST_TMPDIR/update.out" 2>/dev/null || true
}

# traced_delivery LOGIN: deliver one message under strace -y, whose trace
# of fsync and write goes to $BATS_TEST_TMPDIR/delivery.trace.
traced_delivery() {
	printf '%s\r\n' "HELO c" "MAIL FROM:<a@c>" "RCPT TO:<$1@test.example>" \
	    DATA "Subject: after" "" "body" . QUIT |
	    ASAN_OPTIONS=detect_leaks=0 strace -f -qq -y -s 4096 \
	    -o "$BATS_TEST_TMPDIR/delivery.trace" -e trace=fsync,write \
	    "$SMTPD" -d "$MAILROOT" -n test.example >"$BATS_TEST_TMPDIR/delivery.out" \
	    2>/dev/null
}

# assert_folder_synced_before_250 LOGIN: in the delivery's trace, LOGIN's
# folder is fsynced before the 250 after DATA is written.
assert_folder_synced_before_250() {
	local folder
	folder=$(realpath "$MAILROOT/USERS/$1")
	run awk -v dir="<$folder>" '
	    index($0, "fsync(") && index($0, dir ")") { synced = 1 }
	    index($0, "Message accepted for delivery") { print (synced ? "synced" : "not synced"); exit }
	    ' "$BATS_TEST_TMPDIR/delivery.trace"
	assert_output synced
}

@test "UPDATE killed between its rename and the folder's fsync: the mailbox stays unsettled (sticky bit), and the next delivery fsyncs the folder before its 250" {
	require_strace
	put_messages labxyz one two three
	update_with_fault labxyz labpass fsync:signal=KILL:when=1
	# The rename was made: message 1 is gone, the new file unsettled.
	cat "$D/two.msg" "$D/three.msg" >"$BATS_TEST_TMPDIR/want"
	assert_bytes "$BATS_TEST_TMPDIR/want" "$(mailbox labxyz)"
	assert_equal "$(stat -c %a "$(mailbox labxyz)")" 1600
	traced_delivery labxyz
	assert_folder_synced_before_250 labxyz
	assert_equal "$(stat -c %a "$(mailbox labxyz)")" 600
	# Settled: the delivery after it pays no folder fsync.
	traced_delivery labxyz
	run grep -c "fsync(.*<$(realpath "$MAILROOT/USERS/labxyz")>)" \
	    "$BATS_TEST_TMPDIR/delivery.trace"
	assert_output 0
}

@test "UPDATE whose folder fsync fails answers +OK (the new mailbox stands, logged); the next delivery whose folder fsync fails too gets 451 and stores nothing" {
	require_strace
	put_messages labxyz one two three
	update_with_fault labxyz labpass fsync:error=EIO:when=1
	run tr -d '\r' <"$BATS_TEST_TMPDIR/update.out"
	assert_line --index 4 "+OK Thanks for using POP3 server"
	assert_equal "$(stat -c %a "$(mailbox labxyz)")" 1600
	cat "$D/two.msg" "$D/three.msg" >"$BATS_TEST_TMPDIR/want"
	# The folder's fsync fails again: no 250 on a name that may vanish.
	printf '%s\r\n' "HELO c" "MAIL FROM:<a@c>" "RCPT TO:<labxyz@test.example>" \
	    DATA "Subject: lost" "" "body" . QUIT |
	    ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null \
	    -P "$(realpath "$MAILROOT/USERS/labxyz")" -e trace=fsync \
	    -e inject=fsync:error=EIO:when=1 \
	    "$SMTPD" -d "$MAILROOT" -n test.example >"$BATS_TEST_TMPDIR/out" 2>/dev/null
	run tr -d '\r' <"$BATS_TEST_TMPDIR/out"
	assert_line --index 5 "451 Requested action aborted: local error in processing"
	assert_bytes "$BATS_TEST_TMPDIR/want" "$(mailbox labxyz)"
	assert_equal "$(stat -c %a "$(mailbox labxyz)")" 1600
	# Then one that can: 250, settled.
	traced_delivery labxyz
	assert_folder_synced_before_250 labxyz
	assert_equal "$(stat -c %a "$(mailbox labxyz)")" 600
}

@test "a delivery that creates the mailbox, killed between the file's creation and the folder's fsync, leaves it unsettled; the next delivery settles it before its 250" {
	require_strace
	mkdir -p "$MAILROOT/USERS/labxyz"
	printf '%s\r\n' "HELO c" "MAIL FROM:<a@c>" "RCPT TO:<labxyz@test.example>" \
	    DATA "Subject: first" "" "body" . QUIT |
	    ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null \
	    -P "$(realpath "$MAILROOT/USERS/labxyz")" -e trace=fsync \
	    -e inject=fsync:signal=KILL:when=1 \
	    "$SMTPD" -d "$MAILROOT" -n test.example >/dev/null 2>&1 || true
	assert_equal "$(stat -c '%a %s' "$(mailbox labxyz)")" "1600 0"
	traced_delivery labxyz
	assert_folder_synced_before_250 labxyz
	assert_equal "$(stat -c %a "$(mailbox labxyz)")" 600
}
