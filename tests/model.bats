#!/usr/bin/env bats
# The model-based random test, tests/tools/model.py (see its head): SMTP
# and POP3 sessions on pipes, errors and SIGKILL injected with strace,
# clients that hang up, foreign bytes appended to mailboxes, every step
# checked against a model of what each mailbox must hold (read from disk
# with tests/tools/mboxfmt.py, not the code under test) and against a
# durability oracle (every acknowledgement after the fsyncs it needs).
# The seed goes to the TAP stream first; MODEL_SEED=N MODEL_STEPS=M
# replays a run up to its step M (without the time bound). No timing is
# asserted: a slow machine or a sanitizer build just does fewer steps.

load helpers
load net
load locking
load model

@test "random SMTP and POP3 sessions with errors, kill -9 and hang-ups never lose, double, tear or resurrect mail, and acknowledge only what is on disk" {
	require_strace
	# shellcheck disable=SC2046 # the options are one word each, or none
	model --steps "$(model_steps 2000 700)" $(deadline_option 60) \
	    $(seed_option) --allow "$MODEL_ALLOW"
	assert_model_passed
	# A run of the default length did what it is for (a short replay
	# need not).
	if [[ -z ${MODEL_STEPS-} ]]; then
		assert_line --regexp ' [1-9][0-9]* faults injected .* [1-9][0-9]* kills, [1-9][0-9]* hang-ups;'
		assert_line --regexp ' [1-9][0-9]* deliveries acknowledged,'
		assert_line --regexp ' [1-9][0-9]* messages deleted by [1-9][0-9]* UPDATEs,'
		assert_line --regexp ' [1-9][0-9]* tails moved;'
	fi
}

@test "without faults every delivery is acknowledged, every POP3 session reads and deletes exactly what the model says, and no finding is let pass" {
	require_strace
	# shellcheck disable=SC2046
	model --no-faults --steps "$(model_steps 250 120)" $(seed_option)
	assert_model_passed
	assert_line --regexp ' 0 refused \(and [0-9]+ with a NUL\), 0 without a reply '
	refute_output --partial "allowed (--allow"
}

@test "model.py fails when every fsync of the handlers does nothing: the durability oracle" {
	require_strace
	model --no-faults --steps 30 --seed 1 --inject fsync:retval=0
	assert_failure 1
	assert_output --partial "durability oracle (unsynced-"
	assert_output --partial "model: replay with --seed 1 --steps "
}

@test "model.py fails when mail vanishes behind the handlers' backs" {
	require_strace
	local wrapper=$BATS_TEST_TMPDIR/lossy-smtpd
	# The real handler, then every mailbox emptied, as a broken disk
	# or a bad rewrite would.
	cat >"$wrapper" <<-EOF
	#!/bin/bash
	"$SMTPD" "\$@"
	status=\$?
	for f in "\$2"/USERS/*/my_mailbox.txt; do
		[[ -e \$f ]] && : >"\$f"
	done
	exit "\$status"
	EOF
	chmod +x "$wrapper"
	SMTPD=$wrapper model --no-faults --steps 30 --seed 1
	assert_failure 1
	assert_output --partial "LOST message"
}
