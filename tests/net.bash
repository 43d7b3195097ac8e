# shellcheck shell=bash
# Helpers for driving sockmail-smtpd over a real socket (and, for the
# suites that also want it, over a pipe). Loaded after helpers:
#
#	load helpers
#	load net
#
# start_smtpd runs the handler under `systemd-socket-activate --accept
# --inetd` on a free loopback port, as the seed launcher does; stop_smtpd
# (call it from teardown) ends that listener. Every wait below is bounded.

# The Debian python3, whose smtplib is the one a Debian user has; any
# python3 on PATH otherwise.
if [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
else
	PYTHON=python3
fi
# shellcheck disable=SC2034,SC2154 # used by the suites; set in helpers.bash
TOOLS="$abs_top_srcdir/tests/tools"

# The handler's stderr (its log, and systemd-socket-activate's messages)
# while it runs under start_smtpd.
SMTPD_LOG=

# free_port: print a loopback TCP port that is free right now.
free_port() {
	"$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# port_listening PORT: whether something listens on 127.0.0.1:PORT. Reads
# /proc/net/tcp rather than connecting, so that checking does not spawn a
# handler (and a "connect" log line).
port_listening() {
	local hex
	hex=$(printf '0100007F:%04X' "$1")
	awk -v want="$hex" '$2 == want && $4 == "0A" { found = 1 }
		END { exit !found }' /proc/net/tcp
}

# start_smtpd [HANDLER ARGS...]: serve $SMTPD -d $MAILROOT -n test.example
# [ARGS] on 127.0.0.1:$PORT, one handler per connection. Sets PORT,
# SMTPD_PID and SMTPD_LOG. Retries on another port when the chosen one was
# taken in the meantime; fails after 5 attempts.
start_smtpd() {
	local attempt
	SMTPD_LOG="$BATS_TEST_TMPDIR/smtpd.log"
	: >"$SMTPD_LOG"
	for attempt in 1 2 3 4 5; do
		PORT=$(free_port) || return 1
		# fd 3 is bats' own output: a background job must not hold it.
		systemd-socket-activate --accept --inetd -l "127.0.0.1:$PORT" -- \
		    "$SMTPD" -d "$MAILROOT" -n test.example "$@" \
		    </dev/null >/dev/null 2>>"$SMTPD_LOG" 3>&- &
		SMTPD_PID=$!
		# Up to 5 s for the listener to come up (or die on a clash).
		for _ in $(seq 1 100); do
			if port_listening "$PORT"; then
				return 0
			fi
			if ! kill -0 "$SMTPD_PID" 2>/dev/null; then
				break
			fi
			sleep 0.05
		done
		stop_smtpd
		echo "start_smtpd: attempt $attempt on port $PORT failed" >&2
	done
	echo "start_smtpd: no listener after 5 attempts:" >&2
	cat "$SMTPD_LOG" >&2
	return 1
}

# stop_smtpd: end the listener started by start_smtpd, if any, and wait (at
# most ~5 s) until it is gone. Handlers already running finish on their own
# when their client hangs up.
stop_smtpd() {
	[ -n "${SMTPD_PID:-}" ] || return 0
	kill "$SMTPD_PID" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$SMTPD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$SMTPD_PID" 2>/dev/null; then
		kill -KILL "$SMTPD_PID" 2>/dev/null || true
	fi
	wait "$SMTPD_PID" 2>/dev/null || true
	SMTPD_PID=
}

# smtpd_log_lines: the handler's own log lines from SMTPD_LOG, without the
# messages of systemd-socket-activate itself.
smtpd_log_lines() {
	grep -v -e '^Listening on ' -e '^Communication attempt on fd ' \
	    -e '^Connection from ' -e '^Spawned ' -e '^Execing ' \
	    -e '^Child [0-9]* died ' -e '^Received SIG' "$SMTPD_LOG" || true
}

# smtpd_pipe [-a 'HANDLER ARGS'] LINE...: send LINEs (CRLF added) to the
# handler over a pipe and print its replies with the CR removed, one a
# line. Fails with a message if a reply line does not end in CRLF. The
# handler's stderr goes to $BATS_TEST_TMPDIR/pipe.log.
smtpd_pipe() {
	local out="$BATS_TEST_TMPDIR/pipe.out" status=0
	printf '%s\r\n' "$@" |
	    timeout 20 "$SMTPD" -d "$MAILROOT" -n test.example \
	    >"$out" 2>>"$BATS_TEST_TMPDIR/pipe.log" || status=$?
	if grep -qv $'\r$' "$out"; then
		echo "smtpd_pipe: a reply line does not end in CRLF" >&2
		status=99
	fi
	tr -d '\r' <"$out"
	return "$status"
}

# normalize_mailbox FILE: print FILE with every Received: time replaced by
# DATE, after checking it has the SPEC §3 form.
normalize_mailbox() {
	sed -E 's/^Received: [0-9]{4}-[0-9]{2}-[0-9]{2} : [0-9]{2} : [0-9]{2}$/Received: DATE/' "$1"
}
