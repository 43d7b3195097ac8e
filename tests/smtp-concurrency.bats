#!/usr/bin/env bats
# Many deliveries into one mailbox at once: every message lands exactly
# once, whole, and the mailbox still parses (sockmail-mailbox(5), and its
# LOCKING: appends hold a short exclusive lock).

load helpers
load net

SENDERS=20
MESSAGES=20

setup() {
	make_mailroot
}

teardown() {
	stop_smtpd
}

# check_mailbox FILE: FILE parses, holds SENDERS x MESSAGES messages, one
# with each token tok-S-M, and as many "." separator lines.
check_mailbox() {
	local file=$1 total=$((SENDERS * MESSAGES)) s m
	"$PYTHON" "$TOOLS/mbox_check.py" "$file" >"$BATS_TEST_TMPDIR/subjects"
	for s in $(seq 1 "$SENDERS"); do
		for m in $(seq 0 $((MESSAGES - 1))); do
			echo "tok-$s-$m"
		done
	done | sort >"$BATS_TEST_TMPDIR/expected"
	sort "$BATS_TEST_TMPDIR/subjects" >"$BATS_TEST_TMPDIR/got"
	run diff "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/got"
	assert_success
	run grep -cx '\.' "$file"
	assert_output "$total"
	# Each body line carries its message's own token: no interleaving.
	run grep -c '^body of tok-' "$file"
	assert_output "$total"
	run awk '/^Subject: / { tok = $2 }
		/^body of / && $3 != tok { bad++ }
		/^\.\.leading dot in / && $4 != tok { bad++ }
		END { print bad + 0 }' "$file"
	assert_output 0
}

# wait_all PID...: wait for each; fail if any failed.
wait_all() {
	local pid failed=0
	for pid in "$@"; do
		wait "$pid" || failed=1
	done
	return "$failed"
}

@test "20 parallel smtplib senders x 20 messages into one mailbox over the socket all land exactly once" {
	start_smtpd
	local pids=() s per_conn
	for s in $(seq 1 "$SENDERS"); do
		# Half send all their messages over one connection, half open a
		# fresh connection every 4 messages (a connection per message
		# costs too much time under the sanitizers).
		if [ $((s % 2)) -eq 0 ]; then per_conn=$MESSAGES; else per_conn=4; fi
		timeout 50 "$PYTHON" "$TOOLS/smtpclient.py" send-many "$PORT" \
		    otherlab@test.example "$s" "$MESSAGES" "$per_conn" \
		    >"$BATS_TEST_TMPDIR/sender-$s.out" 2>&1 3>&- &
		pids+=("$!")
	done
	# Not under `run`: a subshell cannot wait for these jobs.
	if ! wait_all "${pids[@]}"; then
		cat "$BATS_TEST_TMPDIR"/sender-*.out
		fail "a sender failed"
	fi
	check_mailbox "$(mailbox otherlab)"
}

@test "20 parallel piped sessions x 20 messages into one mailbox all land exactly once" {
	local pids=() s m
	for s in $(seq 1 "$SENDERS"); do
		{
			printf 'HELO pipe%s.example\r\n' "$s"
			for m in $(seq 0 $((MESSAGES - 1))); do
				printf '%s\r\n' "MAIL FROM:<sender$s@client.example>" \
				    'RCPT TO:<otherlab@test.example>' DATA \
				    "Subject: tok-$s-$m" '' "body of tok-$s-$m" \
				    "..leading dot in tok-$s-$m" end .
			done
			printf 'QUIT\r\n'
		} >"$BATS_TEST_TMPDIR/session-$s.in"
	done
	for s in $(seq 1 "$SENDERS"); do
		timeout 50 "$SMTPD" -d "$MAILROOT" -n test.example \
		    <"$BATS_TEST_TMPDIR/session-$s.in" \
		    >"$BATS_TEST_TMPDIR/session-$s.out" 2>/dev/null 3>&- &
		pids+=("$!")
	done
	wait_all "${pids[@]}" || fail "a piped session failed"
	for s in $(seq 1 "$SENDERS"); do
		run grep -c '^250 OK Message accepted for delivery' \
		    "$BATS_TEST_TMPDIR/session-$s.out"
		assert_output "$MESSAGES"
	done
	check_mailbox "$(mailbox otherlab)"
}
