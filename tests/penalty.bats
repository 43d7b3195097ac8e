#!/usr/bin/env bats
# The penalty table (sockmail-pop3d -L, -F; src/lib/penalty.h): failed
# logins counted per client address (an IPv6 one by its /64) and per login
# in one file in the mail root, across connections, handler processes and
# listeners. Before a password is checked, the client waits what its
# address has earned; a failure is answered after the longest of -f and
# what the address and the login have earned; a right password never waits
# for its login's failures. The socket cases run two listeners over one
# mail root under systemd-socket-activate, with the client's address from a
# PROXY header (-P) or from the socket (127.0.0.x); the others pipe a
# transcript in. Decay is tested in tests/unit/test-penalty.c, where the
# clock can be set.

load helpers
load net

BIN=$BATS_FILE_TMPDIR/bin
BAD="-ERR [AUTH] Invalid username or password"
LOGIN_OK="+OK maildrop has 0 messages (0 octets)"
TABLE_SIZE=131104

setup_file() {
	# systemd-socket-activate passes no environment on: the wrapper keeps
	# the log on stderr and passes this run's sanitizer options.
	handler_wrappers
}

setup() {
	make_mailroot
	export SOCKMAIL_LOG=stderr
	unset SOCKMAIL_DEBUG REMOTE_ADDR
	H=$BATS_TEST_TMPDIR/header
}

teardown() {
	stop_listener POP3A
	stop_listener POP3B
}

# --- helpers -------------------------------------------------------------

# guess ARG...: tests/tools/pop3-guess.py ARGs: "MS REPLY" per password.
guess() {
	timeout -k 5 150 "$PYTHON" "$TOOLS/pop3-guess.py" "$@"
}

# assert_answer LINE REPLY MIN_MS [MAX_MS]: a pop3-guess LINE is REPLY,
# answered after MIN_MS or more (and under MAX_MS).
assert_answer() {
	local ms=${1%% *} reply=${1#* }
	[[ $reply == "$2" ]] || fail "answer '$1', expected '$2'"
	((ms >= $3)) || fail "answered after $ms ms, expected $3 ms or more"
	if [[ -n ${4-} ]] && ((ms >= $4)); then
		fail "answered after $ms ms, expected less than $4 ms"
	fi
}

# handler_lines LOG...: the handlers' own lines of the LOGs.
handler_lines() {
	grep -h -a '^sockmail-pop3d\[' "$@" || true
}

# assert_no_checker_report LOG...: no sanitizer report in the LOGs.
assert_no_checker_report() {
	local f
	for f in "$@"; do
		if LC_ALL=C grep -a -q -E 'Sanitizer|runtime error' "$f"; then
			batslib_decorate "sanitizer report in $f" <"$f" | fail
		fi
	done
}

# header ARG...: the PROXY header tests/tools/proxyhdr.py ARGs writes, in $H.
header() {
	"$PYTHON" "$TOOLS/proxyhdr.py" "$@" >"$H"
}

# run proxy_pop3 [OPTION... --] LINE...: the bytes of $H, then each LINE
# with CR LF, into pop3d -P OPTIONs over a pipe (pop3d_filter).
proxy_pop3() {
	local opts args
	split_options "$@"
	{
		cat "$H"
		printf '%s\r\n' "${args[@]}"
	} 2>/dev/null | pop3d_filter -P "${opts[@]}"
}

# --- across connections, handlers and listeners ---------------------------

@test "20 failed logins over 10 connections and 2 listeners: the 20th answer waits the cap, a fresh connection from the same /64 waits too, others do not, and the right password logs in" {
	local i port pids=() pid
	start_listener POP3A "$BIN/pop3d" -P -f 1 -F 3
	start_listener POP3B "$BIN/pop3d" -P -f 1 -F 3 -a -t 60

	# 18 failures: 9 connections at once, 2 wrong passwords each, half of
	# them on each listener.
	for i in 1 2 3 4 5 6 7 8 9; do
		port=$POP3A_PORT
		((i % 2)) || port=$POP3B_PORT
		guess --proxy 2001:db8:1:2::5 "$port" "labxyz:wrong$i" \
		    "labxyz:again$i" >"$BATS_TEST_TMPDIR/guess$i" &
		pids+=("$!")
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	run cat "$BATS_TEST_TMPDIR"/guess[1-9]
	assert_equal "$(grep -c -F -- " $BAD" <<<"$output")" 18

	# The 19th and 20th, on a 10th connection: each waits the cap, 3 s.
	run -0 guess --proxy 2001:db8:1:2::5 "$POP3B_PORT" labxyz:w19 labxyz:w20
	assert_equal "${#lines[@]}" 2
	assert_answer "${lines[0]}" "$BAD" 3000
	assert_answer "${lines[1]}" "$BAD" 3000
	run handler_lines "$POP3A_LOG" "$POP3B_LOG"
	assert_equal "$(grep -c ' auth-failed: ' <<<"$output")" 20
	assert_line --regexp " auth-failed: login labxyz from 2001:db8:1:2::5 failed \(2 in this session\); failures: address 20, login 20; answered after 3 s peer=2001:db8:1:2::5\$"

	# Another address of the same /64, on a fresh connection: its first
	# password waits the /64's penalty, also the right one.
	run -0 guess --proxy 2001:db8:1:2::99 "$POP3A_PORT" labxyz:labpass
	assert_answer "$output" "$LOGIN_OK" 3000

	# Another address, another login: a failure waits -f (1 s), not the
	# cap (3 s).
	run -0 guess --proxy 198.51.100.8 "$POP3A_PORT" otherlab:nope
	assert_answer "$output" "$BAD" 1000 2500
	# Another address, the attacked login, the right password: at once,
	# however often that login failed elsewhere.
	run -0 guess --proxy 198.51.100.7 "$POP3B_PORT" labxyz:labpass
	assert_answer "$output" "$LOGIN_OK" 0 1500

	# One table, in the mail root, of its fixed size.
	run stat -c '%s %a %F' "$MAILROOT/auth-penalty"
	assert_output "$TABLE_SIZE 600 regular file"
	assert_no_checker_report "$POP3A_LOG" "$POP3B_LOG"
}

@test "without -P the socket's peer is the address: failures from 127.0.0.2 delay 127.0.0.2's next connection, not 127.0.0.3's" {
	start_listener POP3A "$BIN/pop3d" -f 1 -F 3
	run -0 guess --bind 127.0.0.2 "$POP3A_PORT" labxyz:one labxyz:two
	assert_answer "${lines[0]}" "$BAD" 1000
	assert_answer "${lines[1]}" "$BAD" 2000
	# Two failures: 2 s before the password is even checked.
	run -0 guess --bind 127.0.0.2 "$POP3A_PORT" labxyz:labpass
	assert_answer "$output" "$LOGIN_OK" 2000
	run -0 guess --bind 127.0.0.3 "$POP3A_PORT" labxyz:labpass
	assert_answer "$output" "$LOGIN_OK" 0 1500
	run handler_lines "$POP3A_LOG"
	assert_line --regexp " auth-failed: login labxyz from 127\.0\.0\.2 failed \(2 in this session\); failures: address 2, login 2; answered after 2 s peer=127\.0\.0\.2\$"
	assert_no_checker_report "$POP3A_LOG"
}

# --- what counts -----------------------------------------------------------

@test "over a pipe there is no address: only the login counts, and its failures never delay the right password" {
	local i pids=() pid
	# Three failures at once, in three sessions (the third waits 4 s).
	for i in 1 2 3; do
		printf 'USER labxyz\r\nPASS wrong%s\r\nQUIT\r\n' "$i" |
		    SOCKMAIL_LOG=stderr timeout 60 "$POP3D" -d "$MAILROOT" -f 1 \
		    >"$BATS_TEST_TMPDIR/out$i" 2>"$BATS_TEST_TMPDIR/err$i" &
		pids+=("$!")
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	run handler_lines "$BATS_TEST_TMPDIR"/err[123]
	assert_line --regexp " auth-failed: login labxyz from local failed \(1 in this session\); failures: login 3; answered after 4 s peer=local\$"
	# A fourth failure would wait 8 s; the right password waits for none.
	run -0 --separate-stderr "$PYTHON" "$TOOLS/pop3client.py" timed-login \
	    LABXYZ labpass "$POP3D" -d "$MAILROOT" -f 1
	assert_answer "$output" "$LOGIN_OK" 0 1500
}

@test "PASS, APOP and AUTH PLAIN failures all count, for the login in any case" {
	local cert=$BATS_TEST_TMPDIR/cert.pem key=$BATS_TEST_TMPDIR/key.pem b64
	make_cert "$key" "$cert" || fail "openssl: $(cat "$BATS_FILE_TMPDIR/openssl.err")"
	b64=$(printf '\0LabXYZ\0nope' | base64)
	header v1 192.0.2.9 192.0.2.1 1234 110
	run -0 proxy_pop3 -a -C "$cert" -K "$key" -- "USER labxyz" "PASS nope" \
	    "APOP LABXYZ 0123456789abcdef0123456789abcdef" "AUTH PLAIN $b64"
	assert_reply 2 "$BAD"
	assert_reply 3 "$BAD"
	assert_reply 4 "$BAD"
	run handler_lines "$BATS_TEST_TMPDIR/pop3d.err"
	assert_line --regexp " auth-failed: login labxyz from 192\.0\.2\.9 failed \(1 in this session\); failures: address 1, login 1; answered after 0 s "
	assert_line --regexp " auth-failed: login LABXYZ from 192\.0\.2\.9 failed \(2 in this session\); failures: address 2, login 2; answered after 0 s "
	assert_line --regexp " auth-failed: login LabXYZ from 192\.0\.2\.9 failed \(3 in this session\); failures: address 3, login 3; answered after 0 s "
}

@test "an IPv4-mapped IPv6 client counts as its IPv4 address, and is logged as one" {
	header v1 ::ffff:192.0.2.10 ::ffff:192.0.2.1 1234 110
	run -0 proxy_pop3 -- "USER nobody" "PASS x"
	header v1 192.0.2.10 192.0.2.1 1234 110
	run -0 proxy_pop3 -- "USER somebody" "PASS x"
	run handler_lines "$BATS_TEST_TMPDIR/pop3d.err"
	assert_line --regexp " auth-failed: login somebody from 192\.0\.2\.10 failed \(1 in this session\); failures: address 2, login 1; "
}

# --- where the table is ----------------------------------------------------

@test "-F takes 0 to 3600 seconds, -L a name or none: anything else is a usage error" {
	local bad
	for bad in "-F 3601" "-F -1" "-F x" "-F ''" "-L ''"; do
		run -2 bash -c "'$POP3D' -d '$MAILROOT' $bad </dev/null"
		assert_output --partial "usage: sockmail-pop3d"
		assert_output --partial "[-F SECS] [-L FILE|none]"
	done
	run -0 pop3_session -F 3600 -L none -- QUIT
	run -0 pop3_session -F 0 -- QUIT
}

@test "-L none: no table is made, and a failure waits -f only" {
	run -0 pop3_session -f 1 -L none -- "USER labxyz" "PASS a" "USER labxyz" "PASS b"
	assert_reply 2 "$BAD"
	assert_reply 4 "$BAD"
	[[ ! -e $MAILROOT/auth-penalty ]] || fail "a table was made"
	run handler_lines "$BATS_TEST_TMPDIR/pop3d.err"
	assert_line --regexp " auth-failed: login labxyz from local failed \(2 in this session\); answered after 1 s peer=local\$"
	refute_line --partial penalty
}

@test "-L: a relative name is in the mail root, an absolute one where it says; a session without a login attempt makes none" {
	run -0 pop3_session -L t/../pen -- CAPA QUIT
	[[ ! -e $MAILROOT/pen ]] || fail "made without a login attempt"
	mkdir "$MAILROOT/t"
	run -0 pop3_session -L t/../pen -- "USER labxyz" "PASS x" QUIT
	run stat -c '%s %a' "$MAILROOT/pen"
	assert_output "$TABLE_SIZE 600"
	run -0 pop3_session -L "$BATS_TEST_TMPDIR/elsewhere" -- "USER labxyz" "PASS x" QUIT
	run stat -c '%s %a' "$BATS_TEST_TMPDIR/elsewhere"
	assert_output "$TABLE_SIZE 600"
	[[ ! -e $MAILROOT/auth-penalty ]] || fail "the default table was made too"
	run handler_lines "$BATS_TEST_TMPDIR/pop3d.err"
	assert_line --regexp "failures: login 1; "
}

@test "an empty table file, as tmpfiles.d makes it, is initialised and used" {
	: >"$MAILROOT/auth-penalty"
	chmod 0600 "$MAILROOT/auth-penalty"
	run -0 pop3_session -- "USER labxyz" "PASS x" "USER labxyz" "PASS labpass" QUIT
	assert_reply 2 "$BAD"
	assert_reply 4 "$LOGIN_OK"
	run stat -c '%s %a' "$MAILROOT/auth-penalty"
	assert_output "$TABLE_SIZE 600"
	run head -c 8 "$MAILROOT/auth-penalty"
	assert_output sockpnlt
}

# --- tables that are not ours ----------------------------------------------

# broken_table WHY: a session with a failed login, then the right
# password, over the table the test has set up: both answered as ever, one
# warning "penalty" line whose text matches WHY, and no counts.
broken_table() {
	run -0 pop3_session -- "USER labxyz" "PASS x" "USER labxyz" "PASS labpass" QUIT
	assert_reply 2 "$BAD"
	assert_reply 4 "$LOGIN_OK"
	run handler_lines "$BATS_TEST_TMPDIR/pop3d.err"
	assert_equal "$(grep -c ' warning penalty: ' <<<"$output")" 1
	assert_line --regexp " warning penalty: table auth-penalty: $1; failed logins are delayed per connection only peer=local\$"
	assert_line --regexp " auth-failed: login labxyz from local failed \(1 in this session\); answered after 0 s peer=local\$"
}

@test "a table of foreign bytes is refused, left as it is, and logins go on" {
	head -c "$TABLE_SIZE" /dev/urandom >"$MAILROOT/auth-penalty"
	cp "$MAILROOT/auth-penalty" "$BATS_TEST_TMPDIR/before"
	broken_table 'not a penalty table \(foreign content\)'
	cmp "$BATS_TEST_TMPDIR/before" "$MAILROOT/auth-penalty"
	printf 'alice secret\n' >"$MAILROOT/auth-penalty"
	broken_table 'not a penalty table \(foreign content\)'
	assert_equal "$(cat "$MAILROOT/auth-penalty")" "alice secret"
}

@test "a table that is a symbolic link, dangling or not, is never followed" {
	printf 'keep\n' >"$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$MAILROOT/auth-penalty"
	broken_table 'a symbolic link: .*'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/target")" keep
	rm "$MAILROOT/auth-penalty"
	ln -s "$BATS_TEST_TMPDIR/missing" "$MAILROOT/auth-penalty"
	broken_table 'a symbolic link: .*'
	[[ ! -e $BATS_TEST_TMPDIR/missing ]] || fail "made through the link"
}

@test "a table that is a FIFO, a directory or a second hard link is refused" {
	mkfifo -m 0600 "$MAILROOT/auth-penalty"
	broken_table 'not a regular file'
	rm "$MAILROOT/auth-penalty"
	mkdir "$MAILROOT/auth-penalty"
	broken_table 'cannot open or create it: Is a directory'
	rmdir "$MAILROOT/auth-penalty"
	printf 'keep\n' >"$BATS_TEST_TMPDIR/target"
	ln "$BATS_TEST_TMPDIR/target" "$MAILROOT/auth-penalty"
	broken_table 'a file with more than one link'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/target")" keep
}

@test "a table that cannot be made is logged once, and logins go on" {
	run -0 pop3_session -f 1 -L no-such-folder/table -- "USER labxyz" "PASS x" \
	    "USER labxyz" "PASS y" "USER labxyz" "PASS labpass" QUIT
	assert_reply 2 "$BAD"
	assert_reply 4 "$BAD"
	assert_reply 6 "$LOGIN_OK"
	run handler_lines "$BATS_TEST_TMPDIR/pop3d.err"
	assert_equal "$(grep -c ' warning penalty: ' <<<"$output")" 1
	assert_line --regexp " warning penalty: table no-such-folder/table: cannot open or create it: No such file or directory; failed logins are delayed per connection only peer=local\$"
	assert_line --regexp " auth-failed: login labxyz from local failed \(2 in this session\); answered after 1 s peer=local\$"
}

# --- fail2ban ----------------------------------------------------------------

@test "the shipped fail2ban filter finds the address in the handler's own auth-failed lines" {
	local f
	command -v fail2ban-regex >/dev/null || skip "fail2ban-regex is not installed"
	: >"$BATS_TEST_TMPDIR/all.log"
	for f in "v1 192.0.2.77 192.0.2.1 1234 110" \
	    "v1 2001:db8:7::7 2001:db8::1 1234 110" \
	    "v1 ::ffff:198.51.100.3 ::ffff:192.0.2.1 1234 110"; do
		# shellcheck disable=SC2086 # words on purpose
		header $f
		run -0 proxy_pop3 -- "USER labxyz" "PASS x" "USER labxyz" \
		    "PASS labpass" QUIT
		cat "$BATS_TEST_TMPDIR/pop3d.err" >>"$BATS_TEST_TMPDIR/all.log"
	done
	# A pipe's failure has no address to ban.
	run -0 pop3_session -- "USER labxyz" "PASS x" QUIT
	cat "$BATS_TEST_TMPDIR/pop3d.err" >>"$BATS_TEST_TMPDIR/all.log"
	assert_equal "$(grep -c ' auth-failed: ' "$BATS_TEST_TMPDIR/all.log")" 4

	# The filter as fail2ban would install it, beside the common.conf it
	# includes. The handler's lines carry no time: the filter's own date
	# pattern is for the journal and syslog.
	mkdir -p "$BATS_TEST_TMPDIR/f2b/filter.d"
	# shellcheck disable=SC2154 # set by helpers.bash
	cp /etc/fail2ban/filter.d/common.conf \
	    "$abs_top_srcdir/contrib/fail2ban/filter.d/sockmail-pop3.conf" \
	    "$BATS_TEST_TMPDIR/f2b/filter.d/"
	f=$BATS_TEST_TMPDIR/f2b/filter.d/sockmail-pop3.conf
	run -0 fail2ban-regex --datepattern '{NONE}' -o ip \
	    "$BATS_TEST_TMPDIR/all.log" "$f"
	assert_output "192.0.2.77
2001:db8:7::7
198.51.100.3"
	# The same events as fail2ban's systemd backend shows them: the host,
	# SYSLOG_IDENTIFIER[_PID], then MESSAGE, which has neither the
	# priority nor the peer of a stderr line.
	sed -E -n 's/^(sockmail-pop3d\[[0-9]+\]: )info (auth-failed: .*) peer=[^ ]+$/mail1 \1\2/p' \
	    "$BATS_TEST_TMPDIR/all.log" >"$BATS_TEST_TMPDIR/journal.log"
	run -0 fail2ban-regex --datepattern '{NONE}' -o ip \
	    "$BATS_TEST_TMPDIR/journal.log" "${f}[logtype=journal]"
	assert_output "192.0.2.77
2001:db8:7::7
198.51.100.3"
}
