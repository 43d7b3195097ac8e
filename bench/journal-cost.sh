#!/bin/bash
# bench/journal-cost.sh [BUILD_DIR [BEFORE_BUILD_DIR]]: what logging to the
# journal costs one POP3 session (login, STAT, QUIT), in four variants,
# interleaved for RUNS rounds:
#
#	dlopen    this build, stderr a journal stream: libsystemd is loaded
#	          with dlopen at the first entry (what ships)
#	linked    the same with libsystemd preloaded (LD_PRELOAD): what
#	          linking it (DT_NEEDED) would cost at every exec
#	none      this build outside a journal (no $JOURNAL_STREAM: xinetd,
#	          the demo, a piped transcript): never loads it
#	before    BEFORE_BUILD_DIR, if given: a build that wrote journald's
#	          native protocol by hand
#
# For each: ms per session of a piped transcript (fork, exec, session,
# exit; from a shell loop), sessions/s under systemd-socket-activate with
# pop3-load (one at a time and 16 at a time), and the private memory (PSS)
# and RSS of one logged-in session. journald is stood in for by a
# datagram socket at libsystemd's fixed path, /run/systemd/journal/socket,
# in a mount namespace of our own with a tmpfs on /run (root, or a user
# namespace). A benchmark, not a test; prints a markdown table.
#
# Knobs: RUNS (3), SESSIONS (1000), PIPED (500), PORT (21300).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/dev}" && pwd) || exit 2
before=
if [ $# -ge 2 ]; then
	before=$(cd "$2" && pwd) || exit 2
fi
runs=${RUNS:-3}
sessions=${SESSIONS:-1000}
piped=${PIPED:-500}
port=${PORT:-21300}
libsystemd=$(ldconfig -p | awk '$1 == "libsystemd.so.0" { print $NF; exit }')
[ -n "$libsystemd" ] || { echo "journal-cost.sh: no libsystemd.so.0" >&2; exit 1; }

if [ -z "${JOURNAL_COST_NS:-}" ]; then
	ns=(unshare --mount)
	[ "$(id -u)" = 0 ] || ns=(unshare --user --map-root-user --mount)
	JOURNAL_COST_NS=1 exec "${ns[@]}" "$0" "$@"
fi
mount --make-rprivate / && mount -t tmpfs -o mode=0755 journal-cost /run &&
    mkdir -p /run/systemd/journal || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/journal-cost.XXXXXX") || exit 1
sink_pid=
ssa_pid=
cleanup() {
	[ -n "$ssa_pid" ] && kill "$ssa_pid" 2>/dev/null
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# journald's stand-in: reads every entry, counts them in $work/entries.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind("/run/systemd/journal/socket")
n = 0
while True:
    s.recv(65536)
    n += 1
    if n % 100 == 0:
        open(sys.argv[1], "w").write("%d\n" % n)
' "$work/entries" &
sink_pid=$!
for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done

root=$work/root
mkdir -p "$root/USERS"
for i in $(seq 16); do
	printf 'bench%d benchpw\n' "$i"
done >"$root/userinfo.txt"
printf 'USER bench1\r\nPASS benchpw\r\nSTAT\r\nQUIT\r\n' >"$work/session.in"
# The stream journald would give a unit: here a file, named in
# $JOURNAL_STREAM by its device and inode, as systemd does.
: >"$work/stderr"
stream=$(stat -c '%d:%i' "$work/stderr")

variants="dlopen linked none"
[ -n "$before" ] && variants="$variants before"

# env_for VARIANT: the environment (VAR=value words) and the handler.
handler_for() {
	case $1 in
	before) echo "$before/src/sockmail-pop3d" ;;
	*) echo "$build/src/sockmail-pop3d" ;;
	esac
}
env_for() {
	case $1 in
	dlopen) echo "JOURNAL_STREAM=$stream" ;;
	linked) echo "JOURNAL_STREAM=$stream LD_PRELOAD=$libsystemd" ;;
	none) echo "SOCKMAIL_LOG=" ;;
	before) echo "SOCKMAIL_LOG=" ;;
	esac
}

now() { date +%s.%N; }

piped_ms() {	# VARIANT: ms per piped session
	local h e t0 t1 i
	h=$(handler_for "$1")
	read -ra e <<<"$(env_for "$1")"
	t0=$(now)
	for ((i = 0; i < piped; i++)); do
		env "${e[@]}" "$h" -d "$root" -n bench -f 0 <"$work/session.in" \
		    >/dev/null 2>>"$work/stderr" || { echo fail; return; }
	done
	t1=$(now)
	awk -v a="$t0" -v b="$t1" -v n="$piped" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }'
}

rate() {	# VARIANT CONCURRENCY: sessions/s under systemd-socket-activate
	local h e ev line
	h=$(handler_for "$1")
	read -ra e <<<"$(env_for "$1")"
	ev=()
	for v in "${e[@]}"; do ev+=(-E "$v"); done
	systemd-socket-activate --accept --inetd -l "127.0.0.1:$port" "${ev[@]}" \
	    -- "$h" -d "$root" -n bench -f 0 2>>"$work/stderr" &
	ssa_pid=$!
	for _ in $(seq 50); do
		python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' \
		    "$port" 2>/dev/null && break
		sleep 0.1
	done
	line=$("$build/bench/pop3-load" -p "$port" -u 'bench%d' -w benchpw \
	    -n "$sessions" -c "$2" 2>>"$work/gen.err")
	kill "$ssa_pid" 2>/dev/null
	wait "$ssa_pid" 2>/dev/null
	ssa_pid=
	sleep 0.3
	echo "$line" | awk '{ print $8 }'
}

memory() {	# VARIANT: "PSS RSS PRIVATE-DIRTY" in KiB of one logged-in session
	local h e pid
	h=$(handler_for "$1")
	read -ra e <<<"$(env_for "$1")"
	rm -f "$work/fifo"
	mkfifo "$work/fifo"
	env "${e[@]}" "$h" -d "$root" -n bench -f 0 <"$work/fifo" \
	    >"$work/mem.out" 2>>"$work/stderr" &
	pid=$!
	exec 7>"$work/fifo"
	printf 'USER bench1\r\nPASS benchpw\r\nSTAT\r\n' >&7
	for _ in $(seq 50); do
		grep -q '^+OK 0 0' "$work/mem.out" && break
		sleep 0.05
	done
	awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } /^Private_Dirty:/ { d = $2 }
	    END { print p, r, d }' \
	    "/proc/$pid/smaps_rollup"
	printf 'QUIT\r\n' >&7
	exec 7>&-
	wait "$pid"
}

for ((r = 1; r <= runs; r++)); do
	for v in $variants; do
		echo "$v $r piped $(piped_ms "$v")"
		echo "$v $r rate1 $(rate "$v" 1)"
		echo "$v $r rate16 $(rate "$v" 16)"
		echo "$v $r mem $(memory "$v")"
	done
done | tee "$work/results" >&2

median() {	# VARIANT KIND [FIELD]
	awk -v v="$1" -v k="$2" -v f="${3:-4}" '$1 == v && $3 == k { print $f }' \
	    "$work/results" | sort -n | awk '{ a[NR] = $1 } END {
		if (NR == 0) print "-"; else print a[int((NR + 1) / 2)] }'
}

echo
echo "| variant | ms per piped session | POP3 sessions/s, 1 at a time | 16 at a time | PSS of a session, KiB | private dirty, KiB | RSS, KiB |"
echo "|---|---|---|---|---|---|---|"
for v in $variants; do
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$v" \
	    "$(median "$v" piped)" "$(median "$v" rate1)" "$(median "$v" rate16)" \
	    "$(median "$v" mem 4)" "$(median "$v" mem 6)" "$(median "$v" mem 5)"
done
echo
echo "journal entries received: $(cat "$work/entries" 2>/dev/null || echo 0) (counted by hundreds)"
