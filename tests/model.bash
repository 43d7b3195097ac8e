# The model-based random test's helpers (tests/tools/model.py), for
# tests/model.bats and tests/cluster.bats. Loaded after helpers and net.

# The kinds of finding model.py reports (its head, KINDS) that the shipped
# handlers are known to produce, none of them a loss, let pass and counted
# in the summary:
#   update-unsettled    +OK to QUIT after an UPDATE whose folder fsync
#                       failed: the new mailbox stands, logged, unsettled
#                       (sockmail-mailbox(5)); a crash may bring deleted
#                       mail back, and the next delivery settles it first
#   tail-copied-twice   a foreign tail copied to a side file whose cut from
#                       the mailbox then failed or was killed: the next
#                       writer copies it again (a duplicate, nothing lost)
#   killed-tail-copy    the same with the copy itself cut short by a kill
#   unsynced-refused    a delivery refused (451) after it cut a tail it had
#                       saved, the cut not fsynced, and a later message of
#                       the session acknowledged: a crash may bring the
#                       tail back beside its side file (a duplicate)
# Every other finding fails the test, among them a 250 into a mailbox
# whose name a killed or failed UPDATE left unsynced (killed-entry,
# failed-fsync-entry): the store settles such a name before the 250.
MODEL_ALLOW=update-unsettled,tail-copied-twice,killed-tail-copy
MODEL_ALLOW+=,unsynced-refused

# model_run OPTION...: run model.py with the handlers under test and a
# work folder of the test's; its seed, summary and --allow lines go to the
# TAP stream. The timeout only guards against a hang: model.py bounds
# every wait.
model_run() {
	run timeout -k 10 900 "$PYTHON" "$TOOLS/model.py" \
	    --workdir "$BATS_TEST_TMPDIR/model-work" \
	    --smtpd "$SMTPD" --pop3d "$POP3D" "$@"
	local line
	# shellcheck disable=SC2154 # bats' run sets lines
	for line in "${lines[@]}"; do
		case $line in
		"model: seed "* | *" steps in "* | *"--allow"* | "model: FAIL"*)
			echo "# $line" >&3 ;;
		esac
	done
}

# model [OPTION...]: model_run on a fresh mail root.
model() {
	mkdir -p "$BATS_TEST_TMPDIR/model-root"
	model_run --mailroot "$BATS_TEST_TMPDIR/model-root" "$@"
}

# model_steps DEFAULT DEFAULT-UNDER-SANITIZERS: MODEL_STEPS, or the default
# for this build.
model_steps() {
	if [[ -n ${MODEL_STEPS-} ]]; then
		echo "$MODEL_STEPS"
	elif [[ -n ${SOCKMAIL_SANITIZERS-} ]]; then
		echo "$2"
	else
		echo "$1"
	fi
}

# seed_option: --seed MODEL_SEED when it is set (model.py draws one).
seed_option() {
	if [[ -n ${MODEL_SEED-} ]]; then
		echo "--seed=$MODEL_SEED"
	fi
}

# deadline_option SECS: a time bound, unless MODEL_STEPS asks for an exact
# number of steps (a replay).
deadline_option() {
	if [[ -z ${MODEL_STEPS-} ]]; then
		echo "--deadline=$1"
	fi
}

# assert_model_passed: the run passed and its summary line says so.
assert_model_passed() {
	assert_success
	assert_line --regexp '^model: [0-9]+ steps in .*: every mailbox equals the model$'
	refute_output --partial "model: FAIL"
}
