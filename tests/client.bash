# shellcheck shell=bash
# Helpers for the mail_client suites (client-send, client-manage,
# client-terminal, client-netns). Loaded after helpers and net:
#
#	load helpers
#	load net
#	load client
#
# The client runs against the real handlers (start_smtpd, start_pop3d), a
# listener of our own on [::1], tests/tools/fake-server.py, or a handler
# behind tests/tools/strip-proxy.py (start_strip). Every wait is bounded;
# client_teardown ends whatever a test started and fails the test when the
# client (or a handler) left a sanitizer report.

# shellcheck disable=SC2154 # abs_top_builddir is set in helpers.bash
CLIENT="$abs_top_builddir/src/mail_client"

# What the client prints for its menu, the prompt last (no newline after
# it: the user types on the same line).
MENU=$'1. Mail Sending\n2. Mail Management\n3. Exit\nChoose 1, 2 or 3: '
# What Mail Sending says before the user types the message.
TYPE_PROMPT='Type the message, ended by a line with only ".":'
# shellcheck disable=SC2034 # used by the suites
# The POP3 command help shown after the listing and after an unknown
# command.
POP3_HELP='Commands: STAT, LIST, RETR <n>, DELE <n>, QUIT'

FAKE_PIDS=()

# client_setup: a fresh mail root and both handlers on loopback.
client_setup() {
	make_mailroot
	start_smtpd
	start_pop3d
	: >"$BATS_TEST_TMPDIR/client.err.all"
}

# client_teardown: end the listeners and fake servers this test started;
# fail when the client's stderr or a handler's log holds a sanitizer
# report.
client_teardown() {
	local pid f
	for pid in "${FAKE_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	FAKE_PIDS=()
	stop_listener SMTPD6
	stop_listener POP3D6
	stop_smtpd
	stop_pop3d
	for f in "$BATS_TEST_TMPDIR/client.err.all" "${SMTPD_LOG-}" \
	    "${POP3D_LOG-}" "${SMTPD6_LOG-}" "${POP3D6_LOG-}"; do
		if [[ -n $f && -f $f ]] &&
		    LC_ALL=C grep -a -q -E 'Sanitizer|runtime error' "$f"; then
			printf 'sanitizer report in %s:\n' "$f" >&2
			cat "$f" >&2
			return 1
		fi
	done
}

# client [ARG...]: run mail_client ARGs with this shell's stdin, bounded
# by CLIENT_LIMIT seconds (default 30; then killed, status 124 or 137).
# stdout is the client's; its stderr goes to $BATS_TEST_TMPDIR/client.err
# (this run only) and is added to client.err.all (for the teardown's
# sanitizer check). The status is the client's. Under `make valgrind` the
# client runs under valgrind too, whose finding is status 99.
client() {
	local rc=0 err=$BATS_TEST_TMPDIR/client.err prefix=()
	if [[ -n ${SOCKMAIL_VALGRIND-} ]]; then
		prefix=("${VALGRIND_PREFIX[@]}")
	fi
	timeout -k 5 "${CLIENT_LIMIT:-30}" "${prefix[@]}" "$CLIENT" "$@" \
	    2>"$err" || rc=$?
	cat "$err" >>"$BATS_TEST_TMPDIR/client.err.all"
	return "$rc"
}

# run client_script [-t SECS] [-h HOST] [-s SMTP_PORT] [-p POP3_PORT]
# [-o OPTION]... LINE...: type each LINE (LF added) into mail_client
# through a pipe; the server is 127.0.0.1 and the ports those of
# start_smtpd / start_pop3d unless the options name others; -t defaults to
# 10. Each -o adds OPTION (one word: "-o --tls-trust-file -o FILE") to the
# client's options.
client_script() {
	local t=10 host=127.0.0.1 smtp=${SMTPD_PORT-25} pop3=${POP3D_PORT-110}
	local opts=()
	while :; do
		case ${1-} in
		-t) t=$2 ;;
		-h) host=$2 ;;
		-s) smtp=$2 ;;
		-p) pop3=$2 ;;
		-o) opts+=("$2") ;;
		*) break ;;
		esac
		shift 2
	done
	{
		if (($#)); then
			printf '%s\n' "$@"
		fi
	} 2>/dev/null | client -t "$t" "${opts[@]}" "$host" "$smtp" "$pop3"
}

# client_stderr: what the last client run wrote on stderr.
client_stderr() {
	cat "$BATS_TEST_TMPDIR/client.err"
}

# assert_client_stderr TEXT: the last client run's stderr holds TEXT.
assert_client_stderr() {
	local err
	err=$(client_stderr)
	if [[ $err != *"$1"* ]]; then
		batslib_print_kv_single_or_multi 8 expected "$1" stderr "$err" |
			batslib_decorate "client stderr lacks the text" | fail
	fi
}

# assert_client_stderr_match REGEXP: a line of the last client run's
# stderr matches the extended REGEXP.
assert_client_stderr_match() {
	if ! grep -q -E -- "$1" "$BATS_TEST_TMPDIR/client.err"; then
		batslib_print_kv_single_or_multi 8 regexp "$1" stderr \
		    "$(client_stderr)" |
			batslib_decorate "no line of the client's stderr matches" | fail
	fi
}

# refute_client_stderr TEXT: the last client run's stderr does not hold
# TEXT.
refute_client_stderr() {
	local err
	err=$(client_stderr)
	if [[ $err == *"$1"* ]]; then
		batslib_print_kv_single_or_multi 8 unexpected "$1" stderr "$err" |
			batslib_decorate "client stderr holds the text" | fail
	fi
}

# assert_output_has TEXT: $output holds TEXT (several lines at once, in
# order, with nothing between them).
assert_output_has() {
	if [[ $output != *"$1"* ]]; then
		batslib_print_kv_single_or_multi 8 expected "$1" output "$output" |
			batslib_decorate "output lacks the text" | fail
	fi
}

# assert_ended_cleanly: the last client run ended with status 0 or 1 (not
# a signal, not killed by the time limit) and printed no raw control
# character (a hostile server must not drive the terminal).
assert_ended_cleanly() {
	if [[ $status != 0 && $status != 1 ]]; then
		{
			printf 'status %s (124/137: killed at the time limit; ' "$status"
			printf '>128: a signal)\nstderr:\n'
			client_stderr
		} | batslib_decorate "client did not end cleanly" | fail
		return
	fi
	if LC_ALL=C tr -d '\n\t' <<<"$output" | LC_ALL=C grep -a -q '[[:cntrl:]]'; then
		printf '%s\n' "$output" | LC_ALL=C cat -v |
			batslib_decorate "control characters reached the screen" | fail
	fi
}

# assert_incorrect REASON: the last run printed "This is an incorrect
# format", REASON and the menu, right after the message was typed.
assert_incorrect() {
	assert_output_has "$TYPE_PROMPT"$'\n'"This is an incorrect format"$'\n'"$1"$'\n'"$MENU"
}

# smtp_connections: how many connections the SMTP listener took.
smtp_connections() {
	grep -c '^Connection from ' "$SMTPD_LOG" || true
}

# wait_handlers_done LOG: wait (at most 5 s) until every handler the
# listener with log LOG spawned has ended; fails if one is still running.
wait_handlers_done() {
	local spawned died
	for _ in $(seq 1 100); do
		spawned=$(grep -c '^Spawned ' "$1" || true)
		died=$(grep -c '^Child [0-9]* died ' "$1" || true)
		if ((spawned == died)); then
			return 0
		fi
		sleep 0.05
	done
	echo "wait_handlers_done: $((spawned - died)) handler(s) still running" >&2
	return 1
}

# mail_to RCPT SUBJECT BODY...: the lines of a message from bob typed in
# the form of mail_client(1) FORMAT RULES, "." line included.
mail_to() {
	local rcpt=$1 subject=$2
	shift 2
	printf '%s\n' "From: bob@test.example" "To: $rcpt" "Subject: $subject" \
	    "$@" .
}

# closed_port: a loopback port nothing listens on.
closed_port() {
	free_port
}

# start_fake MODE [OPTION...]: run tests/tools/fake-server.py [OPTION...]
# MODE (the TLS modes want --cert PEM --key PEM) on a free loopback port
# for at most FAKE_LIFE seconds (default 40); sets FAKE_PORT and FAKE_LOG
# (what clients sent). client_teardown stops it.
start_fake() {
	local mode=$1 pf=$BATS_TEST_TMPDIR/fake-$1.port
	shift
	FAKE_LOG=$BATS_TEST_TMPDIR/fake-$mode.log
	rm -f "$pf"
	# fd 3 is bats' own output: a background job must not hold it.
	"$PYTHON" "$TOOLS/fake-server.py" --life "${FAKE_LIFE:-40}" \
	    --log "$FAKE_LOG" "$@" "$pf" "$mode" </dev/null >/dev/null \
	    2>>"$BATS_TEST_TMPDIR/fake.err" 3>&- &
	FAKE_PIDS+=($!)
	wait_port_file "$pf" FAKE_PORT "start_fake: $mode"
}

# start_strip [--keep] UPSTREAM_PORT: run tests/tools/strip-proxy.py, which
# takes STARTTLS out of EHLO replies and STLS out of CAPA replies (with
# --keep: nothing, it only logs), in front of 127.0.0.1:UPSTREAM_PORT for
# at most FAKE_LIFE seconds (default 40); sets STRIP_PORT and STRIP_LOG
# (every byte the clients sent, and "== removed ..." lines).
# client_teardown stops it.
start_strip() {
	local pf=$BATS_TEST_TMPDIR/strip.port keep=()
	if [[ $1 == --keep ]]; then
		keep=(--keep)
		shift
	fi
	STRIP_LOG=$BATS_TEST_TMPDIR/strip.log
	rm -f "$pf"
	"$PYTHON" "$TOOLS/strip-proxy.py" --life "${FAKE_LIFE:-40}" \
	    --log "$STRIP_LOG" "${keep[@]}" "$pf" "$1" </dev/null >/dev/null \
	    2>>"$BATS_TEST_TMPDIR/fake.err" 3>&- &
	FAKE_PIDS+=($!)
	wait_port_file "$pf" STRIP_PORT start_strip
}

# wait_port_file FILE VAR WHAT: wait (at most 5 s) for the port number in
# FILE and set VAR to it; fails, with fake.err, as WHAT otherwise.
wait_port_file() {
	for _ in $(seq 1 100); do
		if [[ -s $1 ]]; then
			printf -v "$2" %s "$(<"$1")"
			return 0
		fi
		sleep 0.05
	done
	echo "$3 did not come up" >&2
	cat "$BATS_TEST_TMPDIR/fake.err" >&2
	return 1
}

# ipv6_loopback: whether a TCP socket can be bound to [::1] here.
ipv6_loopback() {
	"$PYTHON" -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))' 2>/dev/null
}
