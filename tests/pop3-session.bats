#!/usr/bin/env bats
# sockmail-pop3d, the command dialogue, as sockmail-pop3d(8),
# sockmail-mailbox(5) and sockmail-userinfo(5) describe it. Transcripts and starting mailboxes live in
# tests/data/pop3-session/: rfc1939.mailbox (SimonDS: 2 messages, 366
# octets), three.mailbox (labxyz: 224, 152 and 134 octets; message 2 has
# no empty line, message 3 dot-stuffed lines), sizes.mailbox.

load helpers
load net

setup() {
	make_mailroot
}

# three_for_labxyz: labxyz's mailbox is three.mailbox.
three_for_labxyz() {
	put_mailbox labxyz pop3-session/three.mailbox
}

# --- RFC 1939 -------------------------------------------------------------

@test "RFC 1939's example session with USER and PASS retrieves and deletes both messages, leaving the mailbox empty" {
	put_mailbox SimonDS pop3-session/rfc1939.mailbox
	run_transcript --pop3 pop3-session/rfc1939
	assert [ -f "$(mailbox SimonDS)" ]
	assert [ ! -s "$(mailbox SimonDS)" ]
}

@test "CAPA lists the capabilities in the AUTHORIZATION and the TRANSACTION state" {
	run_transcript --pop3 pop3-session/capa
}

# --- USER and PASS --------------------------------------------------------

@test "USER and PASS log in a user with a plain-text password" {
	three_for_labxyz
	run -0 pop3_session "USER labxyz" "PASS labpass" "QUIT"
	assert_reply 0 "+OK POP3 server is ready"
	assert_reply 1 "+OK send PASS"
	assert_reply 2 "+OK maildrop has 3 messages (510 octets)"
	assert_reply 3 "+OK Thanks for using POP3 server"
}

@test "USER and PASS log in a {PLAIN} user with the password after the prefix, not with the prefix" {
	put_mailbox SimonDS pop3-session/rfc1939.mailbox
	run -0 pop3_session "USER SimonDS" "PASS {PLAIN}simon456" \
	    "USER SimonDS" "PASS simon456" "QUIT"
	assert_reply 2 "-ERR [AUTH] Invalid username or password"
	assert_reply 4 "+OK maildrop has 2 messages (366 octets)"
	assert_reply 5 "+OK Thanks for using POP3 server"
}

@test "USER and PASS log in a {CRYPT} user with the password, not with the hash" {
	local hash
	hash=$(awk '$1 == "alice" { print $2 }' "$MAILROOT/userinfo.txt")
	run -0 pop3_session "USER alice" "PASS $hash" "USER alice" \
	    "PASS ${hash#\{CRYPT\}}" "USER alice" "PASS alicepw" "QUIT"
	assert_reply 2 "-ERR [AUTH] Invalid username or password"
	assert_reply 4 "-ERR [AUTH] Invalid username or password"
	assert_reply 6 "+OK maildrop has 0 messages (0 octets)"
	assert_reply 7 "+OK Thanks for using POP3 server"
}

@test "login names match in any case and open the folder spelled as in userinfo.txt; passwords do not" {
	put_mailbox SimonDS pop3-session/rfc1939.mailbox
	run -0 pop3_session "USER simonds" "PASS SIMON456" "USER simonds" \
	    "PASS simon456" "QUIT"
	assert_reply 2 "-ERR [AUTH] Invalid username or password"
	assert_reply 4 "+OK maildrop has 2 messages (366 octets)"
	run -0 pop3_session "USER SIMONDS" "PASS simon456" "STAT" "QUIT"
	assert_reply 2 "+OK maildrop has 2 messages (366 octets)"
	assert_reply 3 "+OK 2 366"
	run ls "$MAILROOT/USERS"
	assert_output SimonDS
}

@test "a wrong password and an unknown user get the identical reply; two failures do not end the session" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/bad-login-same-reply
}

@test "a name that cannot be a login gets the same replies as an unknown user" {
	run -0 pop3_session "USER ../labxyz" "PASS labpass" "USER lab/xyz" \
	    "PASS labpass" "QUIT"
	assert_reply 1 "+OK send PASS"
	assert_reply 2 "-ERR [AUTH] Invalid username or password"
	assert_reply 3 "+OK send PASS"
	assert_reply 4 "-ERR [AUTH] Invalid username or password"
	assert_reply 5 "+OK Thanks for using POP3 server"
}

@test "the third failed login gets the usual reply and ends the session, exit 0" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/three-failures
}

@test "PASS without USER just before is -ERR USER first and no failed login" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/pass-without-user
}

# time_failed_login LOGIN PASSWORD: the milliseconds from sending PASS to
# its reply, with -f 1; fails unless the login did fail.
time_failed_login() {
	local out
	ensure_mailroot
	out=$(SOCKMAIL_LOG=stderr timeout -k 5 60 "$PYTHON" "$TOOLS/pop3client.py" \
	    timed-login "$1" "$2" "$POP3D" -d "$MAILROOT" -n test.example -f 1)
	if [[ ${out#* } != "-ERR [AUTH] Invalid username or password" ]]; then
		echo "the login as $1 did not fail: $out" >&2
		return 1
	fi
	echo "${out%% *}"
}

@test "a failed login is answered after the -f delay, the same for an unknown user and a wrong password" {
	local wrong crypt unknown ms min=999999 max=0
	wrong=$(time_failed_login labxyz wrongpass)
	crypt=$(time_failed_login alice wrongpass)
	unknown=$(time_failed_login nobody wrongpass)
	for ms in "$wrong" "$crypt" "$unknown"; do
		((ms < min)) && min=$ms
		((ms > max)) && max=$ms
	done
	((min >= 1000)) || fail "a failure was answered after ${min} ms, before the 1 s of -f 1"
	((max < 1500)) || fail "a failure took ${max} ms, far more than the 1 s of -f 1"
	((max - min < 200)) ||
	    fail "wrong password ${wrong} ms, {CRYPT} user ${crypt} ms, unknown user ${unknown} ms: the delays tell them apart"
}

# --- APOP -----------------------------------------------------------------

# apop LOGIN PASSWORD [LINE...]: start sockmail-pop3d -a, log in with APOP
# LOGIN and the RFC 1939 digest of the greeting's timestamp and PASSWORD
# (computed by tests/tools/pop3client.py), then send LINEs. Prints
# "DIGEST-OF <timestamp>", then the replies; greeting's timestamp shown as
# <TIMESTAMP>.
apop() {
	local login=$1 pw=$2
	shift 2
	printf '%s\n' "$@" | SOCKMAIL_LOG=stderr timeout -k 5 60 "$PYTHON" \
	    "$TOOLS/pop3client.py" apop "$login" "$pw" "$POP3D" -d "$MAILROOT" \
	    -n test.example -f 0 -a 2>"$BATS_TEST_TMPDIR/pop3d.err"
}

@test "with -a the greeting ends in an RFC 1939 timestamp, and USER/PASS still work" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/apop-greeting -a
}

@test "each -a greeting has a timestamp of its own" {
	local first
	run -0 pop3_session -a -- "QUIT"
	first=$(head -n 1 "$BATS_TEST_TMPDIR/pop3d.out")
	run -0 pop3_session -a -- "QUIT"
	assert_not_equal "$(head -n 1 "$BATS_TEST_TMPDIR/pop3d.out")" "$first"
}

@test "with -a, APOP logs in with the MD5 digest of the greeting's timestamp and the plain-text password" {
	three_for_labxyz
	run -0 apop labxyz labpass STAT QUIT
	assert_line --index 0 --regexp '^DIGEST-OF <[0-9]+\.[0-9]+\.[0-9]{9}@test\.example>$'
	assert_line --index 1 "+OK POP3 server is ready <TIMESTAMP>"
	assert_line --index 2 "+OK maildrop has 3 messages (510 octets)"
	assert_line --index 3 "+OK 3 510"
	assert_line --index 4 "+OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 5
}

@test "with -a, APOP logs in a {PLAIN} user with the digest over the password without its prefix" {
	put_mailbox SimonDS pop3-session/rfc1939.mailbox
	run -0 apop SIMONDS simon456 QUIT
	assert_line --index 2 "+OK maildrop has 2 messages (366 octets)"
	run -0 apop SimonDS '{PLAIN}simon456' QUIT
	assert_line --index 2 "-ERR [AUTH] Invalid username or password"
}

@test "with -a, APOP with the digest of a wrong password fails like a wrong PASS" {
	run -0 apop labxyz wrongpass "USER labxyz" "PASS labpass" QUIT
	assert_line --index 2 "-ERR [AUTH] Invalid username or password"
	assert_line --index 3 "+OK send PASS"
	assert_line --index 4 "+OK maildrop has 0 messages (0 octets)"
}

@test "with -a, APOP is refused for a {CRYPT} user even with the right password's digest, and counts as a failure" {
	run -0 apop alice alicepw "USER alice" "PASS wrong" "USER alice" \
	    "PASS wrong" "NOOP"
	assert_line --index 2 "-ERR [AUTH] Invalid username or password"
	assert_line --index 4 "-ERR [AUTH] Invalid username or password"
	assert_line --index 6 "-ERR [AUTH] Invalid username or password"
	assert_equal "${#lines[@]}" 7	# the third failure ended it
}

@test "without -a there is no timestamp and APOP is an unrecognized command" {
	run -0 pop3_session "APOP labxyz 0123456789abcdef0123456789abcdef" \
	    "USER labxyz" "PASS labpass" "QUIT"
	assert_reply 0 "+OK POP3 server is ready"
	assert_reply 1 "-ERR unrecognized command"
	assert_reply 3 "+OK maildrop has 0 messages (0 octets)"
}

# --- TRANSACTION: reading -------------------------------------------------

@test "STAT, LIST and LIST n give the count, the total and each message's size" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/stat-list
}

@test "RETR n sends the message as stored, dot-stuffed lines included, with its size" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/retr
}

@test "TOP n 0 sends the header block and its empty line; TOP n k adds k body lines, or all there are" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/top
}

@test "TOP on a message without an empty line sends the four stored fields, an empty line, then k body lines" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/top-no-empty-line
}

@test "TOP without a line count or with a bad one is refused" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/top-bad-args
}

# --- TRANSACTION: DELE, RSET, NOOP -----------------------------------------

@test "DELE n marks a message deleted: a second DELE, RETR, LIST n, TOP and UIDL n of it are refused, STAT and LIST skip it" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/dele
}

@test "RSET undeletes every message, and QUIT then removes nothing" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/rset
}

@test "NOOP is +OK, with or without an argument" {
	three_for_labxyz
	run -0 pop3_session "USER labxyz" "PASS labpass" "NOOP" "NOOP x" "QUIT"
	assert_reply 3 "+OK"
	assert_reply 4 "+OK"
	assert_reply 5 "+OK Thanks for using POP3 server"
}

# --- UIDL -----------------------------------------------------------------

# uidl_listing LOGIN PASSWORD: the "n uid" lines of UIDL in a fresh session.
uidl_listing() {
	pop3_session "USER $1" "PASS $2" "UIDL" "QUIT" |
		sed -n '/^+OK unique-id listing follows$/,/^\.$/{/^[0-9]/p}'
}

# assert_uids_valid_and_distinct LINE...: each "n uid" has an id of 1 to 70
# printable characters (RFC 1939 7: 0x21 to 0x7E), and no two are alike.
assert_uids_valid_and_distinct() {
	local l dup
	for l in "$@"; do
		[[ $l =~ ^[0-9]+\ [!-~]{1,70}$ ]] || fail "not a valid UIDL line: '$l'"
	done
	dup=$(printf '%s\n' "$@" | cut -d ' ' -f 2 | sort | uniq -d)
	[[ -z $dup ]] || fail "an id given to two messages: $dup"
}

@test "UIDL lists a valid, distinct id for each message, and UIDL n agrees" {
	local n
	three_for_labxyz
	run -0 pop3_session "USER labxyz" "PASS labpass" "UIDL" "UIDL 1" \
	    "UIDL 2" "UIDL 3" "QUIT"
	assert_reply 3 "+OK unique-id listing follows"
	assert_reply 7 "."
	assert_uids_valid_and_distinct "${lines[@]:4:3}"
	for n in 1 2 3; do
		assert_reply $((7 + n)) "+OK ${lines[3 + n]}"
	done
	assert_reply 11 "+OK Thanks for using POP3 server"
}

@test "UIDL skips deleted messages" {
	local all
	three_for_labxyz
	all=$(uidl_listing labxyz labpass)
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 2" "UIDL" "QUIT"
	assert_reply 4 "+OK unique-id listing follows"
	assert_reply 5 "$(sed -n 1p <<<"$all")"
	assert_reply 6 "$(sed -n 3p <<<"$all")"
	assert_reply 7 "."
}

@test "UIDL ids stay the same across sessions and after another message is deleted" {
	local first second after
	three_for_labxyz
	first=$(uidl_listing labxyz labpass)
	second=$(uidl_listing labxyz labpass)
	assert_equal "$second" "$first"
	run -0 pop3_session "USER labxyz" "PASS labpass" "DELE 1" "QUIT"
	assert_reply 4 "+OK Thanks for using POP3 server"
	after=$(uidl_listing labxyz labpass)
	assert_equal "$after" "$(sed -n '2s/^2 /1 /p; 3s/^3 /2 /p' <<<"$first")"
}

@test "two byte-identical messages get different UIDL ids, the same in every session" {
	local first second
	{
		sed -n '/^From: SimonDS/,/^\.$/p' "$TESTDATA/pop3-session/three.mailbox"
		cat "$TESTDATA/pop3-session/three.mailbox"
	} | put_mailbox labxyz
	first=$(uidl_listing labxyz labpass)
	mapfile -t lines <<<"$first"
	assert_equal "${#lines[@]}" 4
	assert_uids_valid_and_distinct "${lines[@]}"
	second=$(uidl_listing labxyz labpass)
	assert_equal "$second" "$first"
}

# twin_mailbox COUNT DISTINCT: COUNT small messages, message n holding
# content n % DISTINCT, so that most have byte-identical twins; prints the
# UIDL listing RFC 1939 wants of it by sockmail's scheme (FNV-1a of the
# stored bytes, then how many earlier messages are alike).
twin_mailbox() {
	python3 - "$MAILROOT/USERS/labxyz/my_mailbox.txt" "$@" <<'PY'
import sys
path, count, distinct = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = {}
with open(path, "wb") as box:
    for n in range(count):
        body = b"Subject: twin %d\n\n.. body %d\n" % (n % distinct, n % distinct)
        box.write(body + b".\n")
        h = 0xcbf29ce484222325
        for byte in body:
            h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
        twin = seen.get(h, 0)
        seen[h] = twin + 1
        print("%d %016x.%d" % (n + 1, h, twin))
PY
}

@test "UIDL numbers byte-identical messages among 40,000 as RFC 1939 wants, the same in every session" {
	local want
	put_mailbox labxyz </dev/null
	want=$(twin_mailbox 40000 15000)
	assert_equal "$(uidl_listing labxyz labpass)" "$want"
	assert_equal "$(uidl_listing labxyz labpass)" "$want"
	run -0 pop3_session "USER labxyz" "PASS labpass" "UIDL 39999" "QUIT"
	assert_reply 3 "+OK $(sed -n 39999p <<<"$want")"
}

# --- message numbers, states, unknown commands -------------------------------

@test "a missing, non-numeric, zero, negative or out-of-range message number is refused with its reason" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/message-number-errors
}

@test "a message number too big for any integer is out of range like any other" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/huge-message-number
}

@test "TRANSACTION commands before login and USER/PASS after it are not valid in this state" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/wrong-state
}

@test "an unknown or empty command is -ERR unrecognized command in both states" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/unknown-command
}

@test "verbs are case-insensitive" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/verbs-any-case
}

@test "a NUL byte in a command is refused and the session goes on" {
	run -0 pop3_raw 'USER lab\0xyz\r\nUSER labxyz\r\nPASS lab\0pass\r\nPASS labpass\r\nNO\0OP\r\nNOOP\r\nQUIT\r\n'
	assert_reply 1 "-ERR NUL character in command"
	assert_reply 2 "+OK send PASS"
	assert_reply 3 "-ERR NUL character in command"
	assert_reply 4 "+OK maildrop has 0 messages (0 octets)"
	assert_reply 5 "-ERR NUL character in command"
	assert_reply 6 "+OK"
	assert_reply 7 "+OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 8
}

# --- line limits ------------------------------------------------------------

@test "a 256-octet command line is -ERR line too long and the session goes on; 255 octets is fine" {
	local pad255 pad256
	pad255=$(printf '%*s' 248 '' | tr ' ' x)	# "USER " + 248 + CRLF = 255
	pad256=$(printf '%*s' 249 '' | tr ' ' x)
	run -0 pop3_session "USER $pad255" "USER $pad256" "USER labxyz" \
	    "PASS labpass" "NOOP $pad255" "NOOP $pad256" "NOOP" "QUIT"
	assert_reply 1 "+OK send PASS"
	assert_reply 2 "-ERR line too long"
	assert_reply 3 "+OK send PASS"
	assert_reply 4 "+OK maildrop has 0 messages (0 octets)"
	assert_reply 5 "+OK"
	assert_reply 6 "-ERR line too long"
	assert_reply 7 "+OK"
	assert_reply 8 "+OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 9
}

@test "the rest of an over-long line is thrown away, not read as a command" {
	local pad
	pad=$(printf '%*s' 300 '' | tr ' ' x)
	run -0 pop3_session "${pad}QUIT" "NOOP" "QUIT"
	assert_reply 1 "-ERR line too long"
	assert_reply 2 "-ERR command not valid in this state"
	assert_reply 3 "+OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 4
}

@test "a one-megabyte command line gets one -ERR line too long" {
	local pad
	pad=$(head -c 1048576 /dev/zero | tr '\0' x)
	run -0 pop3_session "$pad" "QUIT"
	assert_reply 1 "-ERR line too long"
	assert_reply 2 "+OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 3
}

# --- ending the session -------------------------------------------------------

@test "QUIT in the AUTHORIZATION state says goodbye, exits 0 and nothing after it is answered" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/quit-authorization
}

@test "an idle session gets -ERR after -t seconds and ends without UPDATE, exit 0" {
	local start=$SECONDS
	three_for_labxyz
	run -0 pop3d_filter -t 1 < <(
		exec 3>&-	# bats waits for fd 3; the sleep must not hold it
		printf 'USER labxyz\r\nPASS labpass\r\nDELE 1\r\n'
		sleep 10
	)
	assert_reply 3 "+OK message 1 deleted"
	assert_reply 4 "-ERR idle for too long, closing"
	assert_equal "${#lines[@]}" 5
	(((SECONDS - start) < 10)) || fail "the -ERR came only when the input ended"
	cmp "$TESTDATA/pop3-session/three.mailbox" "$(mailbox labxyz)"
}

@test "end of input without QUIT deletes nothing, exit 0" {
	three_for_labxyz
	run_transcript --pop3 pop3-session/eof-without-quit
}

# --- sizes ----------------------------------------------------------------------

# check_sizes RAW: read the raw replies of a session "USER, PASS, STAT,
# LIST, RETR 1 .. RETR n, QUIT" and print, per message, "n list=L retr=R
# sent=S" (S: the octets RETR sent, CRLF counted, each line's stuffing dot
# not), then "stat=M sum=T" (T: the sum of the S).
check_sizes() {
	"$PYTHON" - "$1" <<-'EOF'
	import re, sys
	lines = open(sys.argv[1], "rb").read().split(b"\r\n")
	assert lines[-1] == b"", "the replies do not end in CRLF"
	i = 3
	stat = int(lines[i].split()[2]); i += 1
	assert lines[i].startswith(b"+OK "), lines[i]
	i += 1
	listed = {}
	while lines[i] != b".":
	    n, size = lines[i].split()
	    listed[int(n)] = int(size); i += 1
	i += 1
	total = 0
	for n in sorted(listed):
	    m = re.match(rb"\+OK (\d+) octets$", lines[i])
	    assert m, lines[i]
	    i += 1
	    sent = 0
	    while lines[i] != b".":
	        line = lines[i]
	        if line.startswith(b"."):
	            line = line[1:]
	        sent += len(line) + 2
	        i += 1
	    i += 1
	    total += sent
	    print("%d list=%d retr=%s sent=%d" % (n, listed[n], m.group(1).decode(), sent))
	print("stat=%d sum=%d" % (stat, total))
	EOF
}

@test "STAT, LIST and RETR give the octets RETR sends: CRLF counted, stuffing dots not" {
	put_mailbox labxyz pop3-session/sizes.mailbox
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "LIST" \
	    "RETR 1" "RETR 2" "RETR 3" "RETR 4" "QUIT"
	assert_wire_ok
	run -0 check_sizes "$BATS_TEST_TMPDIR/pop3d.out"
	assert_output - <<-'EOF'
	1 list=147 retr=147 sent=147
	2 list=2103 retr=2103 sent=2103
	3 list=138 retr=138 sent=138
	4 list=100 retr=100 sent=100
	stat=2488 sum=2488
	EOF
}

@test "a CR stored before a line's LF is part of the line ending; a lone CR is content, served as stored" {
	printf 'From: a@example.org\nTo: labxyz@test.example\nSubject: CR\nReceived: 2026-11-27 : 21 : 04\n\nline\r\nmid\rdle\n.\n' |
		put_mailbox labxyz
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "LIST" \
	    "RETR 1" "QUIT"
	assert_wire_ok
	run -0 check_sizes "$BATS_TEST_TMPDIR/pop3d.out"
	assert_output - <<-'EOF'
	1 list=108 retr=108 sent=108
	stat=108 sum=108
	EOF
	run grep -c -a $'^line\r$' "$BATS_TEST_TMPDIR/pop3d.out"
	assert_output 1
	run grep -c -a $'\r\r' "$BATS_TEST_TMPDIR/pop3d.out"
	assert_output 0
	run grep -c -a $'^mid\rdle\r$' "$BATS_TEST_TMPDIR/pop3d.out"
	assert_output 1
}

# --- the mail root --------------------------------------------------------------

@test "a user without a folder logs in to an empty maildrop" {
	run_transcript --pop3 pop3-session/empty-maildrop
	# sockmail-pop3d(8): the folder and an empty mailbox get created.
	run stat -c '%a %s' "$MAILROOT/USERS/bob" "$(mailbox bob)"
	assert_line --index 0 --regexp '^700 '
	assert_line --index 1 '600 0'
}

# assert_refused_and_untouched FILE SUM: the last session's login got
# -ERR [SYS/TEMP] Unable to open maildrop, the session went on in the
# AUTHORIZATION state, and FILE still has the md5sum SUM and its old mtime.
assert_refused_and_untouched() {
	assert_reply 2 "-ERR [SYS/TEMP] Unable to open maildrop"
	assert_reply 3 "-ERR command not valid in this state"
	assert_reply 4 "+OK Thanks for using POP3 server"
	assert_equal "$(md5sum <"$1")" "$2"
	assert_equal "$(stat -c %Y "$1")" "$(date -d '2020-01-01 00:00 UTC' +%s)"
}

@test "a mailbox that is a symbolic link is refused and its target left untouched" {
	local target=$BATS_TEST_TMPDIR/elsewhere.txt sum
	cp "$TESTDATA/pop3-session/three.mailbox" "$target"
	touch -d '2020-01-01 00:00 UTC' "$target"
	sum=$(md5sum <"$target")
	mkdir -m 0700 "$MAILROOT/USERS/labxyz"
	ln -s "$target" "$(mailbox labxyz)"
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "QUIT"
	assert_refused_and_untouched "$target" "$sum"
	assert [ -L "$(mailbox labxyz)" ]
}

@test "a mailbox with a second hard link is refused and left untouched" {
	local other=$BATS_TEST_TMPDIR/other-name.txt sum
	three_for_labxyz
	touch -d '2020-01-01 00:00 UTC' "$(mailbox labxyz)"
	ln "$(mailbox labxyz)" "$other"
	sum=$(md5sum <"$other")
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "QUIT"
	assert_refused_and_untouched "$other" "$sum"
}

@test "a user folder that is a symbolic link is refused and the mailbox behind it left untouched" {
	local elsewhere=$BATS_TEST_TMPDIR/elsewhere sum
	mkdir -m 0700 "$elsewhere"
	cp "$TESTDATA/pop3-session/three.mailbox" "$elsewhere/my_mailbox.txt"
	touch -d '2020-01-01 00:00 UTC' "$elsewhere/my_mailbox.txt"
	sum=$(md5sum <"$elsewhere/my_mailbox.txt")
	ln -s "$elsewhere" "$MAILROOT/USERS/labxyz"
	run -0 pop3_session "USER labxyz" "PASS labpass" "STAT" "QUIT"
	assert_refused_and_untouched "$elsewhere/my_mailbox.txt" "$sum"
	run ls -A "$elsewhere"
	assert_output my_mailbox.txt
}

@test "a missing userinfo.txt is a local error at PASS, not a failed login" {
	rm "$MAILROOT/userinfo.txt"
	run -0 pop3_session "USER labxyz" "PASS labpass" "USER labxyz" \
	    "PASS labpass" "USER labxyz" "PASS labpass" "NOOP" "QUIT"
	assert_reply 2 "-ERR [SYS/TEMP] Local error, try again later"
	assert_reply 4 "-ERR [SYS/TEMP] Local error, try again later"
	assert_reply 6 "-ERR [SYS/TEMP] Local error, try again later"
	assert_reply 7 "-ERR command not valid in this state"
	assert_reply 8 "+OK Thanks for using POP3 server"
}

@test "a bad option exits 2 without greeting" {
	local bad
	for bad in -x "-t abc" "-t 0" "-f abc" "-f -1"; do
		# shellcheck disable=SC2086 # each is an option and its value
		run -2 pop3_session $bad -- "QUIT"
		assert_wire_ok
		refute_output --partial "+OK"
	done
	run -2 pop3d_filter extra-operand </dev/null
	refute_output --partial "+OK"
}

@test "a missing mail root is -ERR [SYS/PERM] and exit 1" {
	MAILROOT=$BATS_TEST_TMPDIR/no-such-root
	run -1 pop3_session "USER labxyz" "PASS labpass" "QUIT"
	assert_reply 0 "-ERR [SYS/PERM] mail root unavailable"
	assert_equal "${#lines[@]}" 1
	[[ ! -e $MAILROOT ]] || fail "the handler created the mail root"
}
