# shellcheck shell=bash
# shellcheck disable=SC2034 # the CLUSTER_* variables are for the callers
# tests/cluster.bash: several sockmail hosts on one GlusterFS mail root,
# behind HAProxy, on this one machine. Sourced by tests/cluster.bats and
# bench/targets.sh.
#
#   glusterd      a private instance (its own working and run folders),
#                 on 127.0.0.20, serving one single-brick volume
#   host i        (0, 1, ...) a FUSE mount of that volume at
#                 $dir/host<i>, the mail root $dir/host<i>/root, and an
#                 SMTP and a POP3 listener (systemd-socket-activate, one
#                 handler per connection, -P) on 127.0.0.<2+i>, in a UTS
#                 namespace of its own whose host name is host<i>: the
#                 names of the files a host makes beside a mailbox say
#                 which host made them, as on real machines
#   HAProxy       on 127.0.0.10, TCP mode, send-proxy-v2, round robin
#                 over the hosts
#
# cluster_missing prints why this cannot run here (nothing when it can).
# cluster_start DIR BUILD HOSTS [HANDLER-OPTION...] starts it all under
# DIR and sets the CLUSTER_* variables; cluster_stop DIR ends it, and is
# safe to call on what was only partly started. Every wait is bounded.

CLUSTER_GLUSTERD_ADDR=127.0.0.20
CLUSTER_FRONT_ADDR=127.0.0.10
CLUSTER_SMTP_PORT=${CLUSTER_SMTP_PORT:-2525}
CLUSTER_POP3_PORT=${CLUSTER_POP3_PORT:-2110}

cluster_missing() {
	local cmd
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root: glusterd and FUSE mounts"
		return
	fi
	for cmd in glusterd gluster glusterfs haproxy systemd-socket-activate \
	    unshare mountpoint; do
		if ! command -v "$cmd" >/dev/null; then
			echo "no $cmd (Debian: glusterfs-server glusterfs-client haproxy)"
			return
		fi
	done
	if [ ! -c /dev/fuse ]; then
		echo "no /dev/fuse: FUSE mounts cannot work here"
	elif awk '$2 ~ /:5DC7$/ && $4 == "0A" { found = 1 }
	    END { exit !found }' /proc/net/tcp; then
		# A brick finds its glusterd on port 24007 (0x5DC7) only.
		echo "port 24007 is taken (the machine's own glusterd?)"
	fi
}

# cluster_wait SECONDS CMD...: run CMD every 0.1 s until it succeeds, at
# most SECONDS long.
cluster_wait() {
	local tries=$(($1 * 10))
	shift
	while ! "$@" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

cluster_gluster() {
	gluster --glusterd-sock="$CLUSTER_DIR/run/glusterd.sock" --mode=script \
	    "$@"
}

# cluster_listening ADDR PORT: whether something listens on ADDR:PORT
# (IPv4), read from /proc so that asking spawns no handler.
cluster_listening() {
	local a b c d hex
	IFS=. read -r a b c d <<<"$1"
	printf -v hex '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$2"
	awk -v want="$hex" '$2 == want && $4 == "0A" { found = 1 }
		END { exit !found }' /proc/net/tcp
}

# cluster_mount I: mount the volume for host I (again, after a forced
# unmount).
cluster_mount() {
	local mnt="$CLUSTER_DIR/host$1"
	mkdir -p "$mnt"
	glusterfs --volfile-server="$CLUSTER_GLUSTERD_ADDR" \
	    --volfile-id="$CLUSTER_VOL" --log-file="$CLUSTER_DIR/logs/mount$1.log" \
	    "$mnt" || return 1
	cluster_wait 20 test -d "$mnt/." || return 1
	cluster_wait 20 mountpoint -q "$mnt"
}

# cluster_listen I NAME PORT HANDLER OPTION...: serve HANDLER for host I.
cluster_listen() {
	local i=$1 name=$2 port=$3 addr="127.0.0.$((2 + $1))"
	shift 3
	# The handler's stderr is its log (SOCKMAIL_LOG=stderr: no journald).
	# shellcheck disable=SC2016 # the inner shell expands $1 and $@
	SOCKMAIL_LOG=stderr unshare --uts sh -c \
	    'hostname "$1"; shift; exec "$@"' sh "host$i" \
	    systemd-socket-activate --accept --inetd -l "$addr:$port" \
	    -E SOCKMAIL_LOG -E ASAN_OPTIONS -E UBSAN_OPTIONS -E TZ -- \
	    "$@" </dev/null >/dev/null \
	    2>>"$CLUSTER_DIR/logs/$name$i.log" 3>&- &
	echo $! >>"$CLUSTER_DIR/run/listeners"
	cluster_wait 10 cluster_listening "$addr" "$port"
}

cluster_haproxy_config() {	# HOSTS
	local i
	cat <<EOF
global
	maxconn 512
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend smtp
	bind $CLUSTER_FRONT_ADDR:$CLUSTER_SMTP_PORT
	default_backend smtp_hosts
frontend pop3
	bind $CLUSTER_FRONT_ADDR:$CLUSTER_POP3_PORT
	default_backend pop3_hosts
backend smtp_hosts
	balance roundrobin
EOF
	for ((i = 0; i < $1; i++)); do
		echo "	server host$i 127.0.0.$((2 + i)):$CLUSTER_SMTP_PORT send-proxy-v2"
	done
	echo "backend pop3_hosts"
	echo "	balance roundrobin"
	for ((i = 0; i < $1; i++)); do
		echo "	server host$i 127.0.0.$((2 + i)):$CLUSTER_POP3_PORT send-proxy-v2"
	done
}

cluster_start() {
	local build=$2 hosts=$3 i
	CLUSTER_DIR=${1:?cluster_start: no folder}
	shift 3
	CLUSTER_VOL="sockmail$$"
	CLUSTER_HOSTS=$hosts
	mkdir -p "$CLUSTER_DIR"/{glusterd,run,logs,brick}
	: >"$CLUSTER_DIR/run/listeners"
	echo "$CLUSTER_VOL" >"$CLUSTER_DIR/run/volume"
	# A private glusterd: nothing of the machine's own (/var/lib/glusterd)
	# is read or changed.
	glusterd \
	    --xlator-option "management.working-directory=$CLUSTER_DIR/glusterd" \
	    --xlator-option "management.run-directory=$CLUSTER_DIR/run" \
	    --xlator-option "management.transport.socket.bind-address=$CLUSTER_GLUSTERD_ADDR" \
	    --xlator-option "management.glusterd-sockfile=$CLUSTER_DIR/run/glusterd.sock" \
	    --log-file="$CLUSTER_DIR/logs/glusterd.log" \
	    --pid-file="$CLUSTER_DIR/run/glusterd.pid" || return 1
	cluster_wait 20 cluster_gluster volume list >/dev/null || return 1
	# Default options: nothing is set but what a single brick in a
	# folder needs (force).
	cluster_gluster volume create "$CLUSTER_VOL" \
	    "$CLUSTER_GLUSTERD_ADDR:$CLUSTER_DIR/brick/b0" force >/dev/null &&
	    cluster_gluster volume start "$CLUSTER_VOL" >/dev/null || return 1
	for ((i = 0; i < hosts; i++)); do
		cluster_mount "$i" || return 1
	done
	mkdir -p "$CLUSTER_DIR/host0/root/USERS"
	for ((i = 0; i < hosts; i++)); do
		cluster_listen "$i" smtpd "$CLUSTER_SMTP_PORT" \
		    "$build/src/sockmail-smtpd" -P -d "$CLUSTER_DIR/host$i/root" \
		    -n "host$i.test" "$@" || return 1
		cluster_listen "$i" pop3d "$CLUSTER_POP3_PORT" \
		    "$build/src/sockmail-pop3d" -P -f 1 -F 2 \
		    -d "$CLUSTER_DIR/host$i/root" -n "host$i.test" "$@" ||
		    return 1
	done
	cluster_haproxy_config "$hosts" >"$CLUSTER_DIR/haproxy.cfg"
	haproxy -db -f "$CLUSTER_DIR/haproxy.cfg" </dev/null >/dev/null \
	    2>>"$CLUSTER_DIR/logs/haproxy.log" 3>&- &
	echo $! >"$CLUSTER_DIR/run/haproxy.pid"
	cluster_wait 10 cluster_listening "$CLUSTER_FRONT_ADDR" \
	    "$CLUSTER_SMTP_PORT" &&
	    cluster_wait 10 cluster_listening "$CLUSTER_FRONT_ADDR" \
	    "$CLUSTER_POP3_PORT"
}

# cluster_kill_tree PID: PID and every process under it, with SIGKILL.
cluster_kill_tree() {
	local child
	for child in $(pgrep -P "$1" 2>/dev/null); do
		cluster_kill_tree "$child"
	done
	kill -9 "$1" 2>/dev/null || true
}

cluster_stop() {
	local dir=${1:?cluster_stop: no folder} pid mnt vol
	[ -d "$dir/run" ] || return 0
	CLUSTER_DIR=$dir
	if [ -s "$dir/run/haproxy.pid" ]; then
		cluster_kill_tree "$(cat "$dir/run/haproxy.pid")"
	fi
	for pid in $(cat "$dir/run/listeners" 2>/dev/null); do
		cluster_kill_tree "$pid"
	done
	# A mount cut by a forced unmount may still be there (busy), or a
	# second one on top of it: detach until none is left, at most 5.
	for mnt in "$dir"/host*; do
		for _ in 1 2 3 4 5; do
			mountpoint -q "$mnt" 2>/dev/null || break
			umount -f "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null ||
			    break
		done
	done
	vol=$(cat "$dir/run/volume" 2>/dev/null)
	if [ -n "$vol" ] && [ -S "$dir/run/glusterd.sock" ]; then
		cluster_gluster volume stop "$vol" force >/dev/null 2>&1 || true
		cluster_gluster volume delete "$vol" >/dev/null 2>&1 || true
	fi
	# The brick and mount processes carry the folder in their arguments.
	pkill -9 -f -- "$dir/" 2>/dev/null || true
	if [ -s "$dir/run/glusterd.pid" ]; then
		kill -9 "$(cat "$dir/run/glusterd.pid")" 2>/dev/null || true
	fi
	rm -rf "$dir/run"
}
