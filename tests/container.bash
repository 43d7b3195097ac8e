# shellcheck shell=bash
# A throw-away systemd container for the supervisor suites: a real systemd
# as PID 1 under systemd-nspawn, so that the shipped socket units can be
# installed, started with systemctl and talked to. Loaded with
# `load container` (it needs nothing from helpers.bash).
#
# How: the host's root is bind-mounted (non-recursively, read-only) on a
# scratch directory and booted with `systemd-nspawn --volatile=overlay`, so
# every write inside lands on a tmpfs and is thrown away at the end.
# nspawn refuses `-D /` itself, and a recursive view of / fails on the
# host's populated /dev. There is no machined or D-Bus to register with
# (--register=no --keep-unit); the container is driven with `nsenter` into
# the namespaces of its PID 1. --private-network gives it its own loopback
# only, so the shipped ports (25, 110) clash with nothing on the host.
# --system-call-filter=bpf lets the container's systemd load the BPF
# programs of IPAddressDeny=; without it, that option is silently a no-op.
#
#	ct_skip_reason          why no container can run here (nothing: it may)
#	ct_up                   boot; CT_DIR, CT_NAME, CT_LEADER
#	ct_exec CMD [ARG...]    run CMD inside, in a clean environment
#	ct_copy_tree DIR        copy DIR's tree onto the container's /
#	ct_console              the boot console, for a failure message
#	ct_down                 halt, unmount, remove; safe to call any time
#
# Every wait is bounded: the boot by CT_BOOT_TIMEOUT (default 60 s), each
# ct_exec by CT_EXEC_TIMEOUT (default 60 s), the halt by 20 s, after which
# the container and nspawn are killed. The state directory lives under /run (or $TMPDIR if
# /run is not writable), never in a bats tmpdir: bats removes its tmpdirs
# with rm -rf, which must never meet the bind mount of /.

CT_BOOT_TIMEOUT=${CT_BOOT_TIMEOUT:-60}
CT_EXEC_TIMEOUT=${CT_EXEC_TIMEOUT:-60}
# basic.target brings up journald, sockets.target and the rest of early
# boot, and none of the daemons the host has enabled (an sshd, a
# mail server of its own): faster, and nothing but us on the loopback.
CT_TARGET=${CT_TARGET:-basic.target}

ct_log() {
	printf '# [container %s] %s\n' "$(date +%T)" "$*" >&2
}

# ct_skip_reason: print why a container cannot be booted here, and
# succeed; fail (print nothing) when one may be.
ct_skip_reason() {
	local c
	if [[ $(id -u) != 0 ]]; then
		echo "systemd-nspawn needs root"
		return 0
	fi
	for c in systemd-nspawn nsenter mount umount mountpoint setsid; do
		if ! command -v "$c" >/dev/null; then
			echo "$c is not installed (Debian: apt-get install systemd-container)"
			return 0
		fi
	done
	if [[ ! -x /lib/systemd/systemd && ! -x /usr/lib/systemd/systemd ]]; then
		echo "no systemd binary to boot"
		return 0
	fi
	if ! mountpoint -q /sys/fs/cgroup; then
		echo "no cgroup file system at /sys/fs/cgroup"
		return 0
	fi
	return 1
}

# ct_nspawn_pid: the PID of systemd-nspawn, if it runs.
ct_nspawn_pid() {
	local n
	n=$(cat "$CT_DIR/nspawn.pid" 2>/dev/null) || return 1
	[[ -n $n ]] && kill -0 "$n" 2>/dev/null || return 1
	echo "$n"
}

# ct_leader: the PID of the container's systemd, a child of nspawn.
ct_leader() {
	local n c
	n=$(ct_nspawn_pid) || return 1
	for c in $(pgrep -P "$n"); do
		if [[ $(cat "/proc/$c/comm" 2>/dev/null) == systemd ]]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

# ct_up [NSPAWN-OPTION...]: boot a container and wait (bounded) until its
# systemd says "running" or "degraded". Sets CT_DIR, CT_NAME, CT_LEADER.
# Fails, with the console on stderr, if it does not boot; then call
# ct_down all the same.
ct_up() {
	local base=/run t0 i st=
	[[ -w $base ]] || base=${TMPDIR:-/tmp}
	CT_DIR=$(mktemp -d "$base/sockmail-ct.XXXXXX") || return 1
	CT_NAME=sockmail-test-${CT_DIR##*.}
	CT_NAME=${CT_NAME,,}
	mkdir "$CT_DIR/root" || return 1
	# nspawn leaves these behind on a /run that outlives it.
	[[ -d /run/systemd/nspawn ]] || touch "$CT_DIR/created-run-nspawn"
	[[ -d /run/systemd/nspawn-root ]] || touch "$CT_DIR/created-nspawn-root"
	mount --bind / "$CT_DIR/root" || return 1
	mount -o remount,bind,ro "$CT_DIR/root" || return 1
	t0=$(date +%s%N)
	# Its own session, so that it outlives nothing of ours by accident and
	# we know its exact PID; fd 3 is bats' own and must not be held.
	setsid bash -c 'echo $$ >"$1/nspawn.pid"; shift; exec "$@" </dev/null' \
	    _ "$CT_DIR" systemd-nspawn -D "$CT_DIR/root" --volatile=overlay \
	    -M "$CT_NAME" --register=no --keep-unit --link-journal=no \
	    --private-network --console=pipe --system-call-filter=bpf "$@" \
	    -b "systemd.unit=$CT_TARGET" >"$CT_DIR/console.log" 2>&1 3>&- &
	for ((i = 0; i < CT_BOOT_TIMEOUT * 5; i++)); do
		if CT_LEADER=$(ct_leader); then
			st=$(timeout 5 nsenter -t "$CT_LEADER" -a \
			    systemctl is-system-running --wait 2>/dev/null) || true
			case $st in
			running | degraded) break ;;
			esac
		elif [[ -s $CT_DIR/nspawn.pid ]] && ! ct_nspawn_pid >/dev/null; then
			ct_log "systemd-nspawn exited during boot"
			ct_console >&2
			return 1
		fi
		sleep 0.2
	done
	case $st in
	running | degraded) ;;
	*)
		ct_log "no boot within ${CT_BOOT_TIMEOUT}s (state: ${st:-none})"
		ct_console >&2
		return 1
		;;
	esac
	ct_log "booted ($st) in $((($(date +%s%N) - t0) / 1000000)) ms, PID 1 is $CT_LEADER"
}

# ct_exec CMD [ARG...]: run CMD in the container (all namespaces of its
# PID 1), with a plain environment, stdin passed through; bounded by
# CT_EXEC_TIMEOUT. The status is CMD's (124 on timeout).
ct_exec() {
	local leader
	leader=$(ct_leader) || {
		ct_log "ct_exec: the container is not running"
		return 125
	}
	timeout -k 5 "$CT_EXEC_TIMEOUT" nsenter -t "$leader" -a \
	    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# ct_copy_tree DIR: copy everything under DIR onto the container's / (its
# tmpfs overlay), as `make install DESTDIR=DIR` laid it out; directories
# that exist keep their owner and mode.
ct_copy_tree() {
	tar -C "$1" -cf - . | ct_exec tar -C / --no-overwrite-dir -xpf -
}

# ct_console: the last lines of the boot console.
ct_console() {
	[[ -n ${CT_DIR-} && -f $CT_DIR/console.log ]] || return 0
	tail -n 40 "$CT_DIR/console.log" | sed 's/^/# console: /'
}

# ct_starttime PID: when PID started (field 22 of /proc/PID/stat, after
# the command name, which may hold blanks); nothing if it does not run.
ct_starttime() {
	local st f
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	read -r -a f <<<"${st##*) }"
	echo "${f[19]}"
}

# ct_wait_gone PID SECONDS: wait until PID has exited, at most SECONDS.
ct_wait_gone() {
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.2
	done
	! kill -0 "$1" 2>/dev/null
}

# ct_down: halt the container (SIGTERM to nspawn makes systemd power off);
# if that takes over 20 s, kill the container's PID 1 (which ends its
# whole PID namespace) and nspawn. Then unmount the root and remove the
# state. Safe to call twice, or after a failed or half-done ct_up.
ct_down() {
	local n kids=() k
	[[ -n ${CT_DIR-} && -d $CT_DIR ]] || return 0
	if n=$(ct_nspawn_pid); then
		# nspawn's children are the container's PID 1 (or, early on, the
		# helper that becomes it): a killed nspawn would orphan them.
		for k in $(pgrep -P "$n"); do
			kids+=("$k:$(ct_starttime "$k")")
		done
		kill -TERM "$n" 2>/dev/null
		if ! ct_wait_gone "$n" 20; then
			ct_log "halt timed out; killing the container"
			for k in $(pgrep -P "$n"); do
				kids+=("$k:$(ct_starttime "$k")")
				kill -KILL "$k" 2>/dev/null
			done
			ct_wait_gone "$n" 5 || kill -KILL "$n" 2>/dev/null
			ct_wait_gone "$n" 10 || ct_log "systemd-nspawn $n does not die"
		fi
		# Whatever of it outlived nspawn: the same PID and start time as
		# one of nspawn's children (so not a new process with an old PID).
		for k in "${kids[@]}"; do
			if [[ -n ${k#*:} && $(ct_starttime "${k%%:*}") == "${k#*:}" ]]; then
				kill -KILL "${k%%:*}" 2>/dev/null
			fi
		done
	fi
	rmdir "/run/systemd/nspawn/propagate/$CT_NAME" 2>/dev/null || true
	if mountpoint -q "$CT_DIR/root"; then
		umount "$CT_DIR/root" 2>/dev/null || umount -l "$CT_DIR/root"
	fi
	if [[ -e $CT_DIR/created-run-nspawn ]]; then
		rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks \
		    /run/systemd/nspawn 2>/dev/null || true
	fi
	if [[ -e $CT_DIR/created-nspawn-root ]]; then
		rmdir /run/systemd/nspawn-root 2>/dev/null || true
	fi
	# Never rm -rf across the bind mount of /: remove the mount point with
	# rmdir, and the rest only once it is gone.
	if mountpoint -q "$CT_DIR/root"; then
		ct_log "cannot unmount $CT_DIR/root; leaving $CT_DIR"
		return 1
	fi
	rmdir "$CT_DIR/root" 2>/dev/null || true
	if [[ -e $CT_DIR/root ]]; then
		ct_log "$CT_DIR/root is not empty; leaving $CT_DIR"
		return 1
	fi
	rm -rf "$CT_DIR"
	CT_DIR=
}
