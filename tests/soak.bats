#!/usr/bin/env bats
# Soak: SMTP deliveries and POP3 sessions at once, over the socket, while a
# killer sends SIGKILL to random handlers; then every mailbox is checked
# against what the clients were told: nothing acknowledged lost, nothing
# doubled, nothing deleted back, every message whole, no stray files, no
# sanitizer report (sockmail-mailbox(5), sockmail-smtpd(8),
# sockmail-pop3d(8)). tests/tools/soak.py does the work and the checking
# (see its head); these cases run it for about 20 seconds each. No timing is
# asserted: a slow machine or a sanitizer build just does less in that time.

load helpers
load net

DURATION=20

# soak [OPTION...]: run soak.py for DURATION seconds on the handlers under
# test; its summary lines go to the TAP stream. The timeout only guards
# against a hang: soak.py bounds every wait itself.
soak() {
	run timeout -k 10 $((DURATION + 240)) "$PYTHON" "$TOOLS/soak.py" \
	    --duration "$DURATION" --smtpd "$SMTPD" --pop3d "$POP3D" \
	    --workdir "$BATS_TEST_TMPDIR/soak" "$@"
	local line
	for line in "${lines[@]}"; do
		if [[ $line == details:* || $line == sent\ * ]]; then
			echo "# $line" >&3
		fi
	done
}

# assert_activity: soak.py passed, and its summary shows deliveries
# acknowledged, messages retrieved and deleted, and handlers killed, so
# that a soak that did nothing cannot pass.
assert_activity() {
	local re='^sent ([0-9]+), acknowledged ([0-9]+), retrieved ([0-9]+), '
	re+='deleted ([0-9]+), remaining ([0-9]+), kills ([0-9]+): PASS$'
	local last=${lines[${#lines[@]} - 1]-}
	assert_success
	[[ $last =~ $re ]] || fail "no passing summary line: $last"
	((BASH_REMATCH[2] > 0)) || fail "no delivery was acknowledged"
	((BASH_REMATCH[3] > 0)) || fail "no message was retrieved"
	((BASH_REMATCH[4] > 0)) || fail "no message was deleted"
	((BASH_REMATCH[6] > 0)) || fail "no handler was killed"
}

@test "soak: senders to one or several of four users and POP3 sessions, handlers killed at random: no mail lost, doubled or torn" {
	soak --senders 6 --poppers 3
	assert_activity
}

@test "soak: one maildrop, many POP3 sessions racing for it and deliveries into it, kills more often" {
	soak --users 1 --senders 4 --poppers 4 --kill-gap 0.02:0.2
	assert_activity
}
