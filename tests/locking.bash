# shellcheck shell=bash
# Helpers for tests/pop3-locking.bats: a POP3 session held open on fifos,
# so that a test knows the handler's pid and can talk to it, leave it idle,
# or kill it. Loaded after helpers and net:
#
#	load helpers
#	load net
#	load locking
#
# Every read below waits at most HOLD_WAIT seconds.

HOLD_WAIT=15

# hold_maildrop LOGIN PASSWORD: start the POP3 handler on two fifos, log
# in as LOGIN, and set HOLD_PID (the handler itself: no wrapper in
# between), HOLD_W and HOLD_R (fds to write commands to and read replies
# from) and HOLD_LOGIN (the PASS reply). Fails unless the greeting and USER
# get +OK; the PASS reply is left to the test.
hold_maildrop() {
	local dir=$BATS_TEST_TMPDIR/hold line
	rm -rf "$dir"
	mkdir -p "$dir"
	mkfifo "$dir/in" "$dir/out"
	# A simple command put in the background is exec'd in the forked
	# shell, so $! is the handler. We open both fifos read-write, which
	# never blocks, so a handler that fails to start cannot hang the test;
	# closing HOLD_W still gives it end of input. fd 3 is bats' own
	# output: the handler must not hold it.
	SOCKMAIL_LOG=stderr "$POP3D" -d "$MAILROOT" -n test.example -f 0 \
	    <"$dir/in" >"$dir/out" 2>>"$BATS_TEST_TMPDIR/hold.err" 3>&- &
	HOLD_PID=$!
	exec {HOLD_W}<>"$dir/in" {HOLD_R}<>"$dir/out"
	held_read line || return 1
	if [[ $line != "+OK POP3 server is ready" ]]; then
		echo "hold_maildrop: greeting: $line" >&2
		return 1
	fi
	if [[ $(cat "/proc/$HOLD_PID/comm" 2>/dev/null) != sockmail-pop3d ]]; then
		echo "hold_maildrop: pid $HOLD_PID is not the handler" >&2
		return 1
	fi
	held_cmd "USER $1" || return 1
	if [[ $REPLY != "+OK send PASS" ]]; then
		echo "hold_maildrop: USER: $REPLY" >&2
		return 1
	fi
	held_cmd "PASS $2" || return 1
	# shellcheck disable=SC2034 # for the test
	HOLD_LOGIN=$REPLY
}

# held_read VAR: read one reply line of the held session into VAR, CR
# removed; fails (with a message) on a missing CR, EOF or time-out.
held_read() {
	local -n _var=$1
	local _l
	if ! IFS= read -r -t "$HOLD_WAIT" -u "$HOLD_R" _l; then
		echo "held_read: no reply within $HOLD_WAIT s" >&2
		return 1
	fi
	if [[ $_l != *$'\r' ]]; then
		echo "held_read: reply without CRLF: $_l" >&2
		return 1
	fi
	_var=${_l%$'\r'}
}

# held_cmd LINE: send LINE (CRLF added) to the held session and read
# its one-line reply into REPLY.
held_cmd() {
	printf '%s\r\n' "$1" >&"$HOLD_W" || return 1
	held_read REPLY
}

# held_end: close our ends of the fifos and wait for the handler to
# exit (at most HOLD_WAIT s, then kill -9); the status is the handler's.
held_end() {
	local i rc=0
	if [[ -n ${HOLD_W-} ]]; then
		exec {HOLD_W}>&- {HOLD_R}<&-
		HOLD_W="" HOLD_R=""
	fi
	[[ -n ${HOLD_PID-} ]] || return 0
	for ((i = 0; i < HOLD_WAIT * 20; i++)); do
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$HOLD_PID" 2>/dev/null || true
	wait "$HOLD_PID" 2>/dev/null || rc=$?
	HOLD_PID=
	return "$rc"
}

# pop3_login_pipe LOGIN PASSWORD [LINE...]: a whole POP3 session over a
# pipe: USER, PASS, the LINEs, QUIT; prints the replies, CR removed (reply
# 0 is the greeting, 1 USER's, 2 PASS's). Fails if a reply lacks its CRLF.
pop3_login_pipe() {
	local out=$BATS_TEST_TMPDIR/login-pipe.out rc=0
	printf '%s\r\n' "USER $1" "PASS $2" "${@:3}" QUIT 2>/dev/null |
	    SOCKMAIL_LOG=stderr timeout -k 5 30 "$POP3D" -d "$MAILROOT" \
	    -n test.example -f 0 >"$out" 2>>"$BATS_TEST_TMPDIR/pipe.err" ||
	    rc=$?
	if LC_ALL=C grep -a -q -v $'\r$' "$out"; then
		echo "pop3_login_pipe: a reply line lacks its CRLF" >&2
		rc=99
	fi
	LC_ALL=C sed 's/\r$//' "$out"
	return "$rc"
}

# give_three_messages LOGIN: give LOGIN a mailbox of three messages with
# subjects one, two, three.
give_three_messages() {
	local s
	for s in one two three; do
		printf '%s\n' "From: a@test.example" "To: $1@test.example" \
		    "Subject: $s" "Received: 2026-01-02 : 03 : 04" "" \
		    "body of $s" .
	done | put_mailbox "$1"
}

# mailbox_subjects LOGIN: the Subject of each message in LOGIN's mailbox,
# one a line; fails if the mailbox does not parse (mbox_check.py).
mailbox_subjects() {
	"$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox "$1")"
}

# assert_no_sanitizer_report FILE...: no AddressSanitizer/UBSan report in
# the handlers' stderr.
assert_no_sanitizer_report() {
	local f
	for f in "$@"; do
		if [[ -e $f ]] &&
		    LC_ALL=C grep -a -q -E 'Sanitizer|runtime error' "$f"; then
			batslib_decorate "sanitizer report in $f" <"$f" | fail
			return 1
		fi
	done
}

# require_strace: skip the test unless strace can trace a process here.
require_strace() {
	if ! command -v strace >/dev/null; then
		skip "strace is not installed"
	fi
	if ! strace -qq -o /dev/null true 2>/dev/null; then
		skip "strace cannot trace here (ptrace not allowed)"
	fi
}

LATE_OPEN_US=3000000

# late_open LOGIN IN OUT HANDLER [ARG...]: run HANDLER [ARG...] (stdin IN,
# stdout OUT, stderr late.err) under strace, which holds back the return
# of the handler's first open of my_mailbox.txt for LATE_OPEN_US
# microseconds after the kernel has opened the file; come back once the
# handler has LOGIN's mailbox open, so that the test can replace the file
# before the handler sees it. Sets LATE_PID (strace's pid).
late_open() {
	local want i child fd
	want=$(readlink -f "$(mailbox "$1")")
	# LeakSanitizer cannot work under ptrace: only that check is off.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    SOCKMAIL_LOG=stderr strace -qq -f -o /dev/null -P my_mailbox.txt \
	    -e trace=openat \
	    -e inject=openat:delay_exit="$LATE_OPEN_US":when=1 \
	    "${@:4}" <"$2" >"$3" 2>>"$BATS_TEST_TMPDIR/late.err" 3>&- &
	LATE_PID=$!
	for ((i = 0; i < 200; i++)); do
		child=$(cat "/proc/$LATE_PID/task/$LATE_PID/children" \
		    2>/dev/null) || true
		for fd in /proc/"${child%% *}"/fd/*; do
			if [[ -n $child && $(readlink "$fd") == "$want" ]]; then
				return 0
			fi
		done
		sleep 0.05
	done
	echo "late_open: the handler never opened $want" >&2
	return 1
}

# late_open_wait: wait (at most 30 s, then kill -9) for the handler that
# late_open started; the status is strace's, which is the handler's.
late_open_wait() {
	local i rc=0
	for ((i = 0; i < 600; i++)); do
		kill -0 "$LATE_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$LATE_PID" 2>/dev/null || true
	wait "$LATE_PID" 2>/dev/null || rc=$?
	LATE_PID=
	return "$rc"
}
