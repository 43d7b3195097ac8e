#!/usr/bin/env bats
# Real POP3 clients (Python's poplib, curl, fetchmail) against
# sockmail-pop3d served by systemd-socket-activate on loopback. The
# mailboxes are built from tests/data/pop3-update/: one.msg (164 octets on
# the wire), two.msg (130, the write-up's format: no empty line) and
# three.msg (146).

load helpers
load net

setup() {
	make_mailroot
	D=$TESTDATA/pop3-update
}

teardown() {
	stop_pop3d
}

# as_delivered NAME: message NAME.msg (or the file NAME, if it has a /) as
# a client hands it on: LF line endings, stuffing dots removed, without the
# "." line.
as_delivered() {
	local f=$1
	[[ $f == */* ]] || f=$D/$f.msg
	sed -e '$d' -e 's/^\.//' "$f"
}

# --- Python's poplib ---------------------------------------------------------

# poplib LOGIN PASSWORD ACTION...: tests/tools/pop3client.py poplib.
poplib() {
	timeout 60 "$PYTHON" "$TOOLS/pop3client.py" poplib "$POP3D_PORT" "$@"
}

@test "poplib: stat, list, retr, top and uidl see the maildrop as stored" {
	local uids
	put_messages labxyz one two three
	start_pop3d
	run -0 poplib labxyz labpass stat list "retr 1" "top 3 1" uidl quit
	assert_line --index 0 "stat 3 440"
	assert_line --index 1 "list +OK 3 messages (440 octets)"
	assert_line --index 2 "  1 164"
	assert_line --index 3 "  2 130"
	assert_line --index 4 "  3 146"
	# retr: poplib removes the stuffing dot and counts CRLF.
	assert_line --index 5 "retr +OK 164 octets"
	assert_equal "$(printf '%s\n' "${lines[@]:6:8}")" \
	    "$(as_delivered one | sed 's/^/  /')"
	assert_line --index 14 "octets 164"
	assert_line --index 15 "top +OK top of message follows"
	assert_equal "$(printf '%s\n' "${lines[@]:16:6}")" \
	    "$(as_delivered three | head -n 6 | sed 's/^/  /')"
	assert_line --index 22 --regexp "^octets [0-9]+$"	# poplib's own count
	assert_line --index 23 "uidl +OK unique-id listing follows"
	uids=$(printf '%s\n' "${lines[@]:24:3}")
	[[ $uids =~ ^\ \ 1\ [!-~]+$'\n'\ \ 2\ [!-~]+$'\n'\ \ 3\ [!-~]+$ ]] ||
	    fail "not a UIDL listing: $uids"
	assert_line --index 27 "quit +OK Thanks for using POP3 server"
	assert_equal "${#lines[@]}" 28
	cmp <(cat "$D/one.msg" "$D/two.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "poplib: dele and quit remove the message" {
	put_messages labxyz one two three
	start_pop3d
	run -0 poplib labxyz labpass "dele 2" stat quit
	assert_line --index 0 "dele +OK message 2 deleted"
	assert_line --index 1 "stat 2 310"
	assert_line --index 2 "quit +OK Thanks for using POP3 server"
	cmp <(cat "$D/one.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "poplib: a wrong password raises the [AUTH] error" {
	start_pop3d
	run -1 poplib labxyz wrongpass stat
	assert_output "error -ERR [AUTH] Invalid username or password"
}

# --- curl -------------------------------------------------------------------

# curl_pop3 LOGIN:PASSWORD PATH [CURL-OPTION...]: curl on
# pop3://127.0.0.1:$POP3D_PORT/PATH.
curl_pop3() {
	local user=$1 path=$2
	shift 2
	timeout 60 curl -sS --max-time 30 -u "$user" "$@" \
	    "pop3://127.0.0.1:$POP3D_PORT/$path"
}

@test "curl lists the messages with their sizes" {
	put_messages labxyz one two three
	start_pop3d
	run -0 curl_pop3 labxyz:labpass ""
	assert_output "$(printf '1 164\r\n2 130\r\n3 146\r')"
}

@test "curl retrieves a message byte for byte as RETR counts it" {
	put_messages labxyz one two three
	start_pop3d
	curl_pop3 labxyz:labpass 1 >"$BATS_TEST_TMPDIR/got"
	cmp <(as_delivered one | sed 's/$/\r/') "$BATS_TEST_TMPDIR/got"
	assert_equal "$(wc -c <"$BATS_TEST_TMPDIR/got")" 164
}

@test "curl -X 'DELE 1' deletes the first message" {
	put_messages labxyz one two three
	start_pop3d
	run -0 curl_pop3 labxyz:labpass "" -X "DELE 1" -I
	cmp <(cat "$D/two.msg" "$D/three.msg") "$(mailbox labxyz)"
	run -0 curl_pop3 labxyz:labpass 2 -X DELE -I
	cmp "$D/two.msg" "$(mailbox labxyz)"
}

@test "curl with a wrong password fails and the mailbox stays as it was" {
	put_messages labxyz one
	start_pop3d
	run curl_pop3 labxyz:wrongpass ""
	assert_failure 67	# CURLE_LOGIN_DENIED
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

@test "curl switches to APOP when -a offers it: a plain-text user gets in, a {CRYPT} user does not" {
	put_messages labxyz one two
	start_pop3d -a
	run -0 curl_pop3 labxyz:labpass "" -v
	assert_line --partial "> APOP labxyz "
	assert_line --partial "1 164"
	run curl_pop3 alice:alicepw "" -v
	assert_failure 67
	assert_line --partial "> APOP alice "
}

# --- fetchmail ----------------------------------------------------------------

# assert_fetched NAME...: out/ holds exactly the messages NAME, in order,
# as delivered to an MDA.
assert_fetched() {
	local i=0 n
	for n in "$@"; do
		i=$((i + 1))
		if ! cmp <(as_delivered "$n") "$BATS_TEST_TMPDIR/out/$i" >&2; then
			diff -u <(as_delivered "$n") "$BATS_TEST_TMPDIR/out/$i" |
				batslib_decorate "fetched message $i is not $n" | fail
		fi
	done
	assert_equal "$(find "$BATS_TEST_TMPDIR/out" -type f | wc -l)" "$#"
}

@test "fetchmail in keep mode fetches every message and leaves the mailbox as it was" {
	local before
	put_messages labxyz one three
	before=$(stat -c '%i %.9Y' "$(mailbox labxyz)")
	start_pop3d
	fetchmail_rc keep
	run -0 run_fetchmail
	assert_fetched one three
	assert_equal "$(stat -c '%i %.9Y' "$(mailbox labxyz)")" "$before"
	cmp <(cat "$D/one.msg" "$D/three.msg") "$(mailbox labxyz)"
}

@test "fetchmail without keep fetches every message and deletes them" {
	put_messages labxyz one three
	start_pop3d
	fetchmail_rc
	run -0 run_fetchmail
	assert_fetched one three
	assert [ ! -s "$(mailbox labxyz)" ]
}

@test "fetchmail --uidl in keep mode fetches each message once, and later only new mail" {
	put_messages labxyz one three
	start_pop3d
	fetchmail_rc keep
	run -0 run_fetchmail --uidl
	assert_fetched one three
	run -1 run_fetchmail --uidl	# 1: no new mail
	assert_fetched one three

	# New mail is fetched, the old is not fetched again.
	printf 'From: a@example.org\nTo: labxyz@test.example\nSubject: Four\nReceived: 2026-11-27 : 22 : 00\nMessage-ID: <four@example.org>\n\nNew mail.\n..dot\n.\n' \
	    >"$BATS_TEST_TMPDIR/four.msg"
	cat "$BATS_TEST_TMPDIR/four.msg" >>"$(mailbox labxyz)"
	run -0 run_fetchmail --uidl
	assert_fetched one three "$BATS_TEST_TMPDIR/four.msg"
	run -1 run_fetchmail --uidl
	assert_fetched one three "$BATS_TEST_TMPDIR/four.msg"
	cmp <(cat "$D/one.msg" "$D/three.msg" "$BATS_TEST_TMPDIR/four.msg") \
	    "$(mailbox labxyz)"
}

@test "fetchmail with bad-header accept fetches a message in the write-up's format (no empty line)" {
	put_messages labxyz two
	start_pop3d
	fetchmail_rc --server "bad-header accept" keep
	run -0 run_fetchmail
	# fetchmail takes every line for a header field (there is no empty
	# line), so it closes the header block with an empty line of its own.
	{
		sed '$d' "$D/two.msg"
		printf '\n.\n'
	} >"$BATS_TEST_TMPDIR/two-fetched.msg"
	assert_fetched "$BATS_TEST_TMPDIR/two-fetched.msg"
}

@test "over TCP, a client that goes silent in the middle of a command after its login gets the idle reply after -t, and nothing is deleted" {
	put_mailbox labxyz pop3-session/three.mailbox
	start_pop3d -t 1
	run timeout 20 "$PYTHON" - "$POP3D_PORT" <<-'EOF'
	import socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
	s.sendall(b"USER labxyz\r\nPASS labpass\r\nDELE 1\r\n")
	time.sleep(0.3)
	s.sendall(b"NO")
	data = b""
	while not data.endswith(b"closing\r\n"):
	    chunk = s.recv(4096)
	    if not chunk:
	        break
	    data += chunk
	print(data.decode().replace("\r\n", "\n"), end="")
	print("closed" if s.recv(1) == b"" else "open")
	EOF
	assert_success
	assert_line -n 3 "+OK message 1 deleted"
	assert_line -n 4 "-ERR idle for too long, closing"
	assert_line -n 5 closed
	run -0 pop3_session "USER labxyz" "PASS labpass" STAT QUIT
	assert_line -n 3 --regexp '^\+OK 3 [0-9]+'
}
