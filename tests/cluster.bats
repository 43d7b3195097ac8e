#!/usr/bin/env bats
# More than one machine (README, "More than one machine";
# sockmail-mailbox(5) LOCKING): two hosts serve one mail root kept on a
# GlusterFS volume with its default options, each through its own FUSE
# mount, behind HAProxy (send-proxy-v2; the handlers run with
# -P). tests/cluster.bash builds the topology on this machine: a private
# glusterd, one brick in a temporary folder, two mounts, per-host
# listeners on 127.0.0.2 and 127.0.0.3 (each in a UTS namespace named
# host0 / host1), HAProxy on 127.0.0.10.
#
# Needs root, /dev/fuse, glusterd, glusterfs and haproxy (Debian:
# glusterfs-server glusterfs-client haproxy); skips, saying why, where
# they are missing, unless SOCKMAIL_REQUIRE_GLUSTER=1 (CI sets it), which
# makes a missing piece a failure.

load helpers
load net
load cluster
load locking
load model

setup_file() {
	local why
	why=$(cluster_missing)
	if [ -n "$why" ]; then
		if [ "${SOCKMAIL_REQUIRE_GLUSTER:-0}" = 1 ]; then
			echo "SOCKMAIL_REQUIRE_GLUSTER=1, but: $why" >&2
			return 1
		fi
		skip "$why"
	fi
	export CLUSTER_TOP="$BATS_FILE_TMPDIR/cluster"
	if ! cluster_start "$CLUSTER_TOP" "$abs_top_builddir" 2; then
		tail -n 20 "$CLUSTER_TOP"/logs/* >&2
		cluster_stop "$CLUSTER_TOP"
		return 1
	fi
	printf '%s %spw\n' alice alice bob bob carol carol dave dave \
	    erin erin frank frank grace grace \
	    >"$CLUSTER_TOP/host0/root/userinfo.txt"
}

teardown_file() {
	cluster_stop "$CLUSTER_TOP"
}

setup() {
	CLUSTER_DIR=$CLUSTER_TOP
	CLUSTER_VOL=$(cat "$CLUSTER_TOP/run/volume")
	BRICK_ROOT="$CLUSTER_TOP/brick/b0/root"
	HOST_A_SMTP=127.0.0.2:$CLUSTER_SMTP_PORT
	HOST_A_POP3=127.0.0.2:$CLUSTER_POP3_PORT
	HOST_B_SMTP=127.0.0.3:$CLUSTER_SMTP_PORT
	HOST_B_POP3=127.0.0.3:$CLUSTER_POP3_PORT
}

# summary TEXT: the tools' result lines (not the clients' errors), as TAP
# comments, for the log of a passing run.
summary() {
	grep -E '^cluster_(load|ops): ' <<<"$1" | grep -v ': client: ' |
	    sed 's/^/# /' >&3
}

# The handlers' log lines of host I's SERVICE (smtpd, pop3d).
host_log() {
	cat "$CLUSTER_TOP/logs/$2$1.log"
}

@test "the volume runs with GlusterFS's default options: the client caches that lost mail are on" {
	run cluster_gluster volume info "$CLUSTER_VOL"
	assert_success
	refute_output --partial performance.
	for opt in write-behind stat-prefetch quick-read open-behind; do
		run cluster_gluster volume get "$CLUSTER_VOL" "performance.$opt"
		assert_output --regexp "performance.$opt +on"
	done
	mount | grep -q "$CLUSTER_TOP/host0 type fuse.glusterfs"
	mount | grep -q "$CLUSTER_TOP/host1 type fuse.glusterfs"
}

@test "through HAProxy onto two hosts: 4 loads of 250 deliveries to 2 recipients while POP3 sessions on both hosts DELE and QUIT; every message accounted for" {
	run "$PYTHON" "$TOOLS/cluster_load.py" \
	    --smtp "$CLUSTER_FRONT_ADDR:$CLUSTER_SMTP_PORT" \
	    --pop3 "$CLUSTER_FRONT_ADDR:$CLUSTER_POP3_PORT" \
	    --mailroot "$BRICK_ROOT" --loads 4 --count 250 \
	    --users alice:alicepw,bob:bobpw --source 127.0.0.9
	echo "$output"
	assert_success
	assert_output --partial "1000 acked"
	summary "$output"
	# Both hosts took deliveries and POP3 sessions, each logging the
	# client's own address (127.0.0.9), which only the PROXY header
	# carries: HAProxy itself connects from 127.0.0.1.
	for i in 0 1; do
		run host_log "$i" smtpd
		assert_output --regexp "delivered: .* peer=127\.0\.0\.9"
		refute_output --regexp "delivered: .* peer=127\.0\.0\.1( |$)"
		run host_log "$i" pop3d
		assert_output --regexp "info login: (alice|bob): "
	done
	# Nothing beside the mailboxes but their indexes: no side file, no
	# temporary file left.
	run ls -A "$BRICK_ROOT/USERS/alice" "$BRICK_ROOT/USERS/bob"
	refute_output --partial .tail.
	refute_output --partial .tmp
}

@test "the maildrop lock holds across hosts: a session on host A makes host B answer -ERR [IN-USE]" {
	run "$PYTHON" "$TOOLS/cluster_load.py" \
	    --smtp "$HOST_A_SMTP" --proxy --mailroot "$BRICK_ROOT" \
	    --loads 1 --count 3 --users carol:carolpw
	assert_success
	run "$PYTHON" "$TOOLS/cluster_ops.py" in-use \
	    "$HOST_A_POP3" "$HOST_B_POP3" carol carolpw
	echo "$output"
	assert_success
}

@test "failed logins are counted across hosts: a client that guessed on host A waits on host B, another client with the same login does not" {
	run "$PYTHON" "$TOOLS/cluster_ops.py" penalty \
	    "$HOST_A_POP3" "$HOST_B_POP3" carol carolpw
	echo "$output"
	assert_success
	# One table on the shared mail root, of its fixed size.
	run stat -c %s "$BRICK_ROOT/auth-penalty"
	assert_output 131104
}

@test "UIDL is the same on both hosts, and stays so after host B's UPDATE" {
	run "$PYTHON" "$TOOLS/cluster_load.py" \
	    --smtp "$HOST_B_SMTP" --proxy --mailroot "$BRICK_ROOT" \
	    --loads 1 --count 5 --users dave:davepw
	assert_success
	run "$PYTHON" "$TOOLS/cluster_ops.py" uidl \
	    "$HOST_A_POP3" "$HOST_B_POP3" dave davepw
	echo "$output"
	assert_success
}

@test "tails across hosts: what another program wrote through host A's mount goes whole to a side file named for host B; a killed delivery's room is cut" {
	local box="$CLUSTER_TOP/host0/root/USERS/grace/my_mailbox.txt" side
	run "$PYTHON" "$TOOLS/cluster_load.py" --smtp "$HOST_A_SMTP" --proxy \
	    --mailroot "$BRICK_ROOT" --loads 1 --count 2 --users grace:gracepw
	assert_success
	# Text another program appended, with no "." line after it.
	printf 'From: someone\nappended by hand\n' >>"$box"
	run "$PYTHON" "$TOOLS/cluster_load.py" --smtp "$HOST_B_SMTP" --proxy \
	    --mailroot "$BRICK_ROOT" --loads 1 --count 1 --users grace:gracepw
	# The account counts the first load's two messages as strangers.
	assert_output --partial "1 acked"
	side=("$BRICK_ROOT"/USERS/grace/my_mailbox.txt.tail.*)
	[ "${#side[@]}" -eq 1 ]
	[[ ${side[0]##*/} == my_mailbox.txt.tail.*Z.host1.* ]]
	run cat "${side[0]}"
	assert_output "$(printf 'From: someone\nappended by hand')"
	run grep -c '^X-Tag: ' "$BRICK_ROOT/USERS/grace/my_mailbox.txt"
	assert_output 3
	# What a delivery killed in mid-append leaves: the start of a record,
	# then its NUL room. Host A's next delivery cuts it, and keeps nothing.
	rm "${side[0]}"
	printf 'From: <k@x>\nTo: grace\n\0\0\0\0\0\0' >>"$box"
	run "$PYTHON" "$TOOLS/cluster_load.py" --smtp "$HOST_A_SMTP" --proxy \
	    --mailroot "$BRICK_ROOT" --loads 1 --count 1 --users grace:gracepw
	assert_output --partial "1 acked"
	run ls "$BRICK_ROOT/USERS/grace/"
	refute_output --partial .tail.
	run grep -c '^X-Tag: ' "$BRICK_ROOT/USERS/grace/my_mailbox.txt"
	assert_output 4
	run tr -d -c '\0' <"$BRICK_ROOT/USERS/grace/my_mailbox.txt"
	assert_output ''
	run host_log 1 smtpd
	assert_output --partial "tail: mailbox of grace: moved 31 bytes"
	run host_log 0 smtpd
	assert_output --partial "torn-tail: mailbox of grace"
}

@test "kill -9 of host A's handler during UPDATE while host B delivers leaves the mailbox whole" {
	run "$PYTHON" "$TOOLS/cluster_load.py" \
	    --smtp "$HOST_B_SMTP" --proxy --mailroot "$BRICK_ROOT" \
	    --loads 1 --count 60 --users erin:erinpw
	assert_success
	run "$PYTHON" "$TOOLS/cluster_ops.py" \
	    kill-update "$HOST_A_POP3" "$HOST_B_SMTP" erin erinpw \
	    "$CLUSTER_TOP/run/listeners" "$BRICK_ROOT" 12
	echo "$output"
	assert_success
	assert_output --partial "all there"
	summary "$output"
}

@test "the model test through both hosts' mounts: deliveries, POP3 sessions, errors, kill -9 and foreign tails, each through either mount, every mailbox equal to the model after every step" {
	require_strace
	# A mail root of its own in the volume, used through both mounts and
	# checked on the brick, past every client's cache.
	mkdir "$CLUSTER_TOP/host0/model"
	# shellcheck disable=SC2046 # the options are one word each, or none
	model_run \
	    --mailroot "$CLUSTER_TOP/host0/model,$CLUSTER_TOP/host1/model" \
	    --check-root "$CLUSTER_TOP/brick/b0/model" \
	    --steps "$(model_steps 400 150)" $(deadline_option 150) \
	    $(seed_option) --allow "$MODEL_ALLOW"
	echo "$output"
	assert_model_passed
	assert_line --regexp ' [1-9][0-9]* deliveries acknowledged,'
}

@test "a forced unmount of host A's FUSE client during deliveries: A answers 451 or -ERR, host B goes on, nothing acknowledged is lost" {
	local load
	"$PYTHON" "$TOOLS/cluster_load.py" \
	    --smtp "$HOST_A_SMTP,$HOST_B_SMTP" --proxy --mailroot "$BRICK_ROOT" \
	    --loads 2 --count 150 --users frank:frankpw \
	    --allow-failures --require-ok "$HOST_B_SMTP" \
	    >"$BATS_TEST_TMPDIR/load.out" 2>&1 &
	load=$!
	sleep 2
	umount -f "$CLUSTER_TOP/host0" || true	# busy: the connection is cut
	run "$PYTHON" "$TOOLS/cluster_ops.py" try-login \
	    "$HOST_A_POP3" - frank frankpw
	echo "$output"
	assert_output --regexp "^cluster_ops: .*-ERR"
	wait "$load" || { cat "$BATS_TEST_TMPDIR/load.out"; false; }
	run cat "$BATS_TEST_TMPDIR/load.out"
	echo "$output"
	summary "$output"
	assert_output --regexp "127\.0\.0\.2:$CLUSTER_SMTP_PORT': \{[^}]*'4'"
	# Host A back, for whatever runs next.
	umount -l "$CLUSTER_TOP/host0" 2>/dev/null || true
	cluster_mount 0
}
