#!/usr/bin/env bats
# sockmail-pop3d's UPDATE state and its reading of the mailbox (UPDATE at
# QUIT, torn tails, mail delivered during a session), as sockmail-pop3d(8)
# and sockmail-mailbox(5) describe them. The mailboxes are built from the messages in
# tests/data/pop3-update/: one.msg (164 octets on the wire), two.msg (130)
# and three.msg (146).

load helpers

setup() {
	make_mailroot
	D=$TESTDATA/pop3-update
}

# assert_mailbox_bytes LOGIN NAME...: LOGIN's mailbox is exactly the
# messages NAME.msg, byte for byte (no normalising).
assert_mailbox_bytes() {
	local login=$1 n want=$BATS_TEST_TMPDIR/want-bytes
	shift
	for n in "$@"; do
		cat "$D/$n.msg"
	done >"$want"
	if ! cmp "$want" "$(mailbox "$login")" >&2; then
		diff -a -u "$want" "$(mailbox "$login")" |
			batslib_decorate "mailbox of $login differs" | fail
	fi
}

# file_id FILE: inode, mtime (ns), ctime (ns), size and mode of FILE.
file_id() {
	stat -c '%i %.9Y %.9Z %s %a' "$1"
}

# assert_no_temporary_files LOGIN: LOGIN's folder holds the mailbox and
# its index (mdindex.h) alone.
assert_no_temporary_files() {
	run ls -A "$MAILROOT/USERS/$1"
	assert_output "$(printf 'my_mailbox.idx\nmy_mailbox.txt')"
}

# --- DELE and QUIT --------------------------------------------------------

@test "DELE then QUIT removes exactly that message, byte for byte, in a new file of mode 0600" {
	local before
	put_messages labxyz one two three
	before=$(stat -c %i "$(mailbox labxyz)")
	run_transcript --pop3 pop3-update/dele-2-quit
	assert_mailbox_bytes labxyz one three
	assert_equal "$(stat -c %a "$(mailbox labxyz)")" 600
	assert_not_equal "$(stat -c %i "$(mailbox labxyz)")" "$before"
}

@test "DELE of the first and the last message then QUIT keeps the middle one, byte for byte" {
	put_messages labxyz one two three
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 3" "DELE 1" "QUIT"
	assert_reply 3 "+OK message 3 deleted"
	assert_reply 4 "+OK message 1 deleted"
	assert_reply 5 "+OK Thanks for using POP3 server"
	assert_mailbox_bytes labxyz two
}

@test "DELE of every message then QUIT leaves an empty mailbox" {
	put_messages labxyz one two three
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 1" "DELE 2" \
	    "DELE 3" "QUIT"
	assert_reply 6 "+OK Thanks for using POP3 server"
	assert_mailbox_bytes labxyz
	assert [ -f "$(mailbox labxyz)" ]
}

@test "a second session sees the maildrop UPDATE left" {
	put_messages labxyz one two three
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 1" "QUIT"
	run -0 pop3_session "USER labxyz" "PASS labpass" "LIST" "QUIT"
	assert_reply 2 "+OK maildrop has 2 messages (276 octets)"
	assert_reply 3 "+OK 2 messages (276 octets)"
	assert_reply 4 "1 130"
	assert_reply 5 "2 146"
	assert_reply 6 "."
}

@test "QUIT with nothing deleted leaves the file untouched: same inode, mtime, ctime and bytes" {
	local before
	put_messages labxyz one two three
	touch -d '2020-01-01 00:00 UTC' "$(mailbox labxyz)"
	before=$(file_id "$(mailbox labxyz)")
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "LIST" "UIDL" \
	    "RETR 1" "TOP 2 0" "QUIT"
	assert_reply 2 "+OK maildrop has 3 messages (440 octets)"
	assert_reply "$((${#lines[@]} - 1))" "+OK Thanks for using POP3 server"
	assert_equal "$(file_id "$(mailbox labxyz)")" "$before"
	assert_mailbox_bytes labxyz one two three
}

@test "QUIT after DELE and RSET leaves the file untouched" {
	local before
	put_messages labxyz one two three
	touch -d '2020-01-01 00:00 UTC' "$(mailbox labxyz)"
	before=$(file_id "$(mailbox labxyz)")
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 1" "DELE 3" \
	    "RSET" "QUIT"
	assert_reply 5 "+OK maildrop has 3 messages (440 octets)"
	assert_reply 6 "+OK Thanks for using POP3 server"
	assert_equal "$(file_id "$(mailbox labxyz)")" "$before"
	assert_mailbox_bytes labxyz one two three
}

@test "after UPDATE no temporary file remains in the user's folder" {
	put_messages labxyz one two three
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 2" "QUIT"
	assert_reply 4 "+OK Thanks for using POP3 server"
	assert_no_temporary_files labxyz
	run find "$MAILROOT" -name '*.tmp'
	assert_output ""
}

# --- mail delivered during a session ---------------------------------------

# pop3_open: start sockmail-pop3d as a coprocess (stderr in pop3d.err),
# its replies on fd $POP_R, its input on fd $POP_W (copies: bash drops the
# coprocess's own fds once it has exited), its pid in $POP_PIDSAVE.
# pop3_send LINE sends LINE with CRLF; pop3_expect TEXT reads one reply
# line (10 s at most) and fails unless it is TEXT, CR removed; pop3_close
# ends the input and fails unless the handler exits 0 with nothing more
# said.
pop3_open() {
	coproc POP {
		exec 3>&-	# bats waits for fd 3; the handler must not hold it
		SOCKMAIL_LOG=stderr exec timeout -k 5 60 "$POP3D" -d "$MAILROOT" \
		    -n test.example -f 0 2>"$BATS_TEST_TMPDIR/pop3d.err"
	}
	POP_PIDSAVE=$POP_PID
	exec {POP_R}<&"${POP[0]}" {POP_W}>&"${POP[1]}"
}

pop3_send() {
	printf '%s\r\n' "$1" >&"$POP_W"
}

pop3_expect() {
	local line
	if ! IFS= read -r -t 10 line <&"$POP_R"; then
		fail "no reply from the POP3 handler; expected: $1"
		return
	fi
	if [[ $line != *$'\r' ]]; then
		fail "reply without CRLF: $line"
		return
	fi
	line=${line%$'\r'}
	if [[ $line != "$1" ]]; then
		batslib_print_kv_single 8 reply "$line" expected "$1" |
			batslib_decorate "unexpected POP3 reply" | fail
	fi
}

pop3_close() {
	local rest status=0
	exec {POP_W}>&-
	rest=$(timeout 10 cat <&"$POP_R")
	exec {POP_R}<&-
	wait "$POP_PIDSAVE" || status=$?
	[[ -z $rest ]] || fail "more replies after the last one: $rest"
	((status == 0)) || fail "the POP3 handler exited $status"
}

# deliver_during SUBJECT: deliver a message to labxyz with sockmail-smtpd.
deliver_during() {
	run -0 smtp_session "HELO client.example" "MAIL FROM:<a@example.org>" \
	    "RCPT TO:<labxyz@test.example>" "DATA" "From: a@example.org" \
	    "To: labxyz@test.example" "Subject: $1" "" "Delivered during the session." \
	    "." "QUIT"
	assert_reply 5 "250 OK Message accepted for delivery"
}

@test "mail delivered while a session is open does not show in it and is kept by its UPDATE" {
	put_messages labxyz one two three
	pop3_open
	pop3_expect "+OK POP3 server is ready"
	pop3_send "USER labxyz"
	pop3_expect "+OK send PASS"
	pop3_send "PASS labpass"
	pop3_expect "+OK maildrop has 3 messages (440 octets)"

	deliver_during "first during"
	pop3_send "STAT"
	pop3_expect "+OK 3 440"
	pop3_send "LIST 4"
	pop3_expect "-ERR no such message, only 3 in maildrop"
	pop3_send "DELE 2"
	pop3_expect "+OK message 2 deleted"
	deliver_during "second during"
	pop3_send "LIST"
	pop3_expect "+OK 2 messages (310 octets)"
	pop3_expect "1 164"
	pop3_expect "3 146"
	pop3_expect "."
	pop3_send "QUIT"
	pop3_expect "+OK Thanks for using POP3 server"
	pop3_close

	assert_mailbox labxyz <<-'EOF'
	From: otherlab@kuleuven.be
	To: labxyz@kuleuven.be
	Subject: One
	Received: <time>
	Message-ID: <one@kuleuven.be>

	First message.
	..a stuffed line
	.
	From: IbrahimEK@kuleuven.be
	To: labxyz@kuleuven.be
	Subject: Three é
	Received: <time>

	Third message, 8-bit: café.

	..
	end
	.
	From: a@example.org
	To: labxyz@test.example
	Subject: first during
	Received: <time>

	Delivered during the session.
	.
	From: a@example.org
	To: labxyz@test.example
	Subject: second during
	Received: <time>

	Delivered during the session.
	.
	EOF
	# The kept messages byte for byte, then the two new ones.
	cmp -n "$(cat "$D/one.msg" "$D/three.msg" | wc -c)" \
	    <(cat "$D/one.msg" "$D/three.msg") "$(mailbox labxyz)"
	assert_no_temporary_files labxyz

	# The next session sees them.
	run -0 pop3_session "USER labxyz" "PASS labpass" "QUIT"
	assert_reply 2 "+OK maildrop has 4 messages (579 octets)"
}

@test "mail delivered during a session that deletes nothing is simply appended" {
	put_messages labxyz one two
	pop3_open
	pop3_expect "+OK POP3 server is ready"
	pop3_send "USER labxyz"
	pop3_expect "+OK send PASS"
	pop3_send "PASS labpass"
	pop3_expect "+OK maildrop has 2 messages (294 octets)"
	deliver_during "during"
	pop3_send "STAT"
	pop3_expect "+OK 2 294"
	pop3_send "QUIT"
	pop3_expect "+OK Thanks for using POP3 server"
	pop3_close
	cmp -n "$(cat "$D/one.msg" "$D/two.msg" | wc -c)" \
	    <(cat "$D/one.msg" "$D/two.msg") "$(mailbox labxyz)"
	run grep -c '^Subject: during$' "$(mailbox labxyz)"
	assert_output 1
}

# --- torn tails and a missing final LF ---------------------------------------

# torn_tail: the start of a message that lacks its "." line, as a program
# that is not a delivery of ours may leave it.
torn_tail() {
	printf 'From: torn@example.org\nTo: labxyz@test.example\nSubject: torn\n\nhalf a li'
}

@test "a tail after the last '.' line is no message to the reader, and UPDATE moves it whole to a side file" {
	torn_tail >"$BATS_TEST_TMPDIR/tail"
	cat "$D/one.msg" "$D/two.msg" "$BATS_TEST_TMPDIR/tail" | put_mailbox labxyz
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "LIST" "RETR 3" \
	    "UIDL 3" "RETR 2" "DELE 1" "QUIT"
	assert_reply 2 "+OK maildrop has 2 messages (294 octets)"
	assert_reply 3 "+OK 2 294"
	assert_reply 4 "+OK 2 messages (294 octets)"
	assert_reply 5 "1 164"
	assert_reply 6 "2 130"
	assert_reply 7 "."
	assert_reply 8 "-ERR no such message, only 2 in maildrop"
	assert_reply 9 "-ERR no such message, only 2 in maildrop"
	assert_reply 10 "+OK 130 octets"
	assert_reply 16 "."
	assert_reply 17 "+OK message 1 deleted"
	assert_reply 18 "+OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 19
	assert_mailbox_bytes labxyz two
	assert_side_file labxyz "$BATS_TEST_TMPDIR/tail" "$BATS_TEST_TMPDIR/pop3d.err"
}

@test "the tail of a killed delivery (text, then NULs) is no message to the reader, and UPDATE cuts it off" {
	{
		cat "$D/one.msg" "$D/two.msg"
		torn_tail
		head -c 200 /dev/zero
	} | put_mailbox labxyz
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "DELE 1" "QUIT"
	assert_reply 2 "+OK maildrop has 2 messages (294 octets)"
	assert_reply 3 "+OK 2 294"
	assert_reply 5 "+OK Thanks for using POP3 server"
	assert_mailbox_bytes labxyz two
	assert_no_side_file labxyz
	assert_log_event "$BATS_TEST_TMPDIR/pop3d.err" torn-tail labxyz
}

@test "a tail of whole lines is no message either, and a session that deletes nothing leaves it where it is" {
	local before
	{
		cat "$D/one.msg"
		printf 'From: torn@example.org\nTo: labxyz@test.example\nSubject: torn\n\nwhole line\n'
	} | put_mailbox labxyz
	cp "$(mailbox labxyz)" "$BATS_TEST_TMPDIR/before"
	touch -d '2020-01-01 00:00 UTC' "$(mailbox labxyz)"
	before=$(file_id "$(mailbox labxyz)")
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "RETR 1" "QUIT"
	assert_reply 2 "+OK maildrop has 1 messages (164 octets)"
	assert_reply 3 "+OK 1 164"
	assert_reply 4 "+OK 164 octets"
	assert_equal "$(file_id "$(mailbox labxyz)")" "$before"
	cmp "$BATS_TEST_TMPDIR/before" "$(mailbox labxyz)"
	assert_no_side_file labxyz
}

@test "a mailbox whose last '.' has no final LF reads as whole, and UPDATE writes the LF" {
	{
		cat "$D/one.msg" "$D/two.msg" "$D/three.msg"
	} | head -c -1 | put_mailbox labxyz
	run -0 --keep-empty-lines pop3_session "USER labxyz" "PASS labpass" \
	    "STAT" "LIST 3" "RETR 3" "DELE 1" "QUIT"
	assert_reply 2 "+OK maildrop has 3 messages (440 octets)"
	assert_reply 3 "+OK 3 440"
	assert_reply 4 "+OK 3 146"
	assert_reply 5 "+OK 146 octets"
	assert_equal "$(printf '%s\n' "${lines[@]:6:10}")" \
	    "$(cat "$D/three.msg")"
	assert_reply 16 "+OK message 1 deleted"
	assert_reply 17 "+OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 19	# and the empty "line" after the last LF
	assert_mailbox_bytes labxyz two three
}
