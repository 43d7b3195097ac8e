#!/bin/bash
# shellcheck disable=SC2016 # sh -c and awk programs: single quotes on purpose
# bench/profile.sh [BUILD_DIR]: where one connection's time goes, from the
# supervisor's accept to the handler's exit, for sockmail's handlers (an
# SMTP session with one 1 KiB message; a POP3 USER/PASS/STAT/QUIT on ten
# messages), bench/floor (the do-nothing handler, same dialogues) and an
# empty dynamically linked C program (`int main(void) { return 0; }`: the
# client only waits for the hang-up), each under three supervisors:
#
#	ssa      systemd-socket-activate --accept --inetd on 127.0.0.1
#	xinetd   a private xinetd -dontfork (no rate limits)
#	systemd  systemd as PID 1 in a throw-away container
#	         (tests/container.bash): sockmail's handlers through the
#	         units `make install` ships (hardened, as installed; a runtime
#	         drop-in lifts only the sockets' trigger rate limit), and the
#	         same handlers in a bare unit (smtpd-bare, pop3d-bare: root, no
#	         hardening, the ssa arguments) to show what the hardening
#	         costs; floor and empty in bare units too
#
# For every pair, four passes, each with a fresh supervisor:
#   1. strace -f -ff -T attached to the supervisor (STRACE_SESSIONS, 30):
#      syscalls per session of the connection's process (fork to exit;
#      under systemd, its setup before the handler's execve is counted
#      apart), the top ones with strace's time, and the supervisor's own;
#   2. wall time per connection at the client (SESSIONS, 300, one after
#      another; in the container at most CT_SESSIONS, 100), and the supervisor's CPU (its own and its reaped
#      children's, user and sys, from /proc); under ssa and xinetd the
#      supervisor runs inside `perf stat`, which counts its tree
#      (task-clock, context switches, page faults);
#   3. perf record -g on the supervisor's tree (perf follows its children;
#      RECORD_SESSIONS, 100): cpu-clock every 0.1 ms, and every page fault
#      and context switch, split supervisor / connection process; CPU by
#      phase (kernel: fork, execve, mmap & co., page faults, exit, other
#      syscalls; user: ld.so, libc, libcrypt, the handler, the rest);
#      `perf report --sort dso,sym`, top 15.
# Then a summary table, ms of CPU per session by phase.
#
# As root (strace, perf, the container); loopback only; every wait
# bounded; a work dir under $TMPDIR (or /tmp), removed with the servers
# and the container on any exit (KEEP=1 keeps the work dir). Knobs:
# SESSIONS, CT_SESSIONS, RECORD_SESSIONS, STRACE_SESSIONS, SUPERVISORS ("ssa xinetd
# systemd"), HANDLERS (the list above; empty = all), PORT (21400). Takes
# about 6 minutes on 2 cores. A benchmark: prints figures, checks nothing.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 2
sessions=${SESSIONS:-300}
ctsessions=${CT_SESSIONS:-100}
rsessions=${RECORD_SESSIONS:-100}
ssessions=${STRACE_SESSIONS:-30}
supervisors=${SUPERVISORS:-ssa xinetd systemd}
port=${PORT:-21400}
clk=$(getconf CLK_TCK)

say() { printf '%s\n' "$*" >&2; }
die() { say "profile.sh: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (strace and perf on the supervisors, the container)"
for c in perf strace python3 cc ss; do
	command -v "$c" >/dev/null || die "no $c"
done
for f in src/sockmail-smtpd src/sockmail-pop3d bench/floor; do
	[ -x "$build/$f" ] || die "no $build/$f (make, and make bench/floor, in $build)"
done
perf stat -e task-clock true 2>/dev/null >/dev/null ||
    die "perf stat does not work here (kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid))"

work=$(mktemp -d "${TMPDIR:-/tmp}/profile.XXXXXX") || exit 1
root=$work/root
pids=
ct_loaded=

cleanup() {
	local p
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for p in $pids; do
		wait "$p" 2>/dev/null
	done
	[ -n "$ct_loaded" ] && ct_down
	if [ -n "${KEEP:-}" ]; then
		say "work dir kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- The client, the empty program, the mail. ----
cat >"$work/client.py" <<'PY_EOF'
# SPDX-License-Identifier: MIT
"""client.py PROTO HOST PORT SESSIONS: bench/profile.sh's client.

SESSIONS connections, one after another, each timed at the client from
connect() until the server hangs up (the handler's exit closes the
socket): PROTO smtp sends one message of 1 KiB (EHLO, MAIL, RCPT, DATA,
QUIT) to sink at the domain of the greeting; pop3 logs in as bench1
(USER, PASS, STAT, QUIT); empty only waits for the hang-up. Each reply is
read before the next command is sent, as a simple client does. Prints one
line: sessions, then median, p90, mean and min in ms. A wrong reply stops
it with "FAIL reason" and status 1. Standard library only, so that it
also runs inside the container from stdin (python3 - ARGS).
"""

import socket
import statistics
import sys
import time

TIMEOUT = 15
BODY = b"Subject: profile\r\n\r\n" + (b"x" * 62 + b"\r\n") * 16


def fail(why):
    print("FAIL " + why)
    sys.exit(1)


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                fail("connection closed early")
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def smtp_reply(self, code):
        while True:
            ln = self.line()
            if not ln.startswith(code):
                fail("smtp: expected %s, got %r" % (code, ln))
            if ln[3:4] != b"-":
                return ln

    def pop3_reply(self):
        ln = self.line()
        if not ln.startswith(b"+OK"):
            fail("pop3: got %r" % ln)
        return ln

    def send(self, data):
        self.s.sendall(data)

    def wait_close(self):
        while self.s.recv(4096):
            pass
        self.s.close()


def smtp(c):
    greet = c.smtp_reply(b"220")
    domain = greet.split()[1].decode() if len(greet.split()) > 1 else "localhost"
    c.send(b"EHLO profile\r\n")
    c.smtp_reply(b"250")
    c.send(b"MAIL FROM:<profile@localhost>\r\n")
    c.smtp_reply(b"250")
    c.send(b"RCPT TO:<sink@%s>\r\n" % domain.encode())
    c.smtp_reply(b"250")
    c.send(b"DATA\r\n")
    c.smtp_reply(b"354")
    c.send(BODY + b".\r\n")
    c.smtp_reply(b"250")
    c.send(b"QUIT\r\n")
    c.smtp_reply(b"221")


def pop3(c):
    c.pop3_reply()
    c.send(b"USER bench1\r\n")
    c.pop3_reply()
    c.send(b"PASS benchpw\r\n")
    c.pop3_reply()
    c.send(b"STAT\r\n")
    c.pop3_reply()
    c.send(b"QUIT\r\n")
    c.pop3_reply()


def main():
    proto, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    talk = {"smtp": smtp, "pop3": pop3, "empty": lambda c: None}[proto]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = Conn(host, port)
        talk(c)
        c.wait_close()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print("%d %.3f %.3f %.3f %.3f" % (n, statistics.median(times),
          times[min(n - 1, int(n * 0.9))], statistics.fmean(times), times[0]))


main()
PY_EOF
printf 'int main(void) { return 0; }\n' >"$work/empty.c"
cc -O2 -o "$work/empty" "$work/empty.c" || die "cannot build the empty program"
mkdir -p "$root/USERS/sink" "$root/USERS/bench1"
printf 'sink sinkpw\nbench1 benchpw\n' >"$root/userinfo.txt"
python3 "$top/tests/tools/make-mailbox.py" "$root/USERS/bench1/my_mailbox.txt" 10 ||
    die "make-mailbox.py failed"

# proto H: the client's dialogue for handler H.
proto() {
	case $1 in
	smtpd* | floor-smtp) echo smtp ;;
	pop3d* | floor-pop3) echo pop3 ;;
	empty) echo empty ;;
	esac
}

# hcmd H: handler H's command line under ssa and xinetd, one word a line.
hcmd() {
	case $1 in
	smtpd) printf '%s\n' "$build/src/sockmail-smtpd" -d "$root" -n bench ;;
	pop3d) printf '%s\n' "$build/src/sockmail-pop3d" -d "$root" -n bench -f 0 ;;
	floor-smtp) printf '%s\n' "$build/bench/floor" smtp ;;
	floor-pop3) printf '%s\n' "$build/bench/floor" pop3 10 2048 ;;
	empty) printf '%s\n' "$work/empty" ;;
	esac
}

# listening PORT: bounded wait (5 s) until something listens on PORT,
# asked of ss so that no probe connection starts a handler; in the
# container when $in_ct is set.
listening() {
	local i
	for ((i = 0; i < 50; i++)); do
		if [ -n "${in_ct:-}" ]; then
			ct_exec ss -Hltn "sport = :$1" | grep -q .
		else
			ss -Hltn "sport = :$1" | grep -q .
		fi && return 0
		sleep 0.1
	done
	say "nothing listens on port $1 after 5 s"
	return 1
}

# ---- Starting and stopping a supervisor. ----
# start SUP H PORT [stat FILE]: start supervisor SUP (ssa or xinetd) for
# handler H on 127.0.0.1:PORT, inside `perf stat -o FILE` if asked. Sets
# sup (the supervisor's PID) and top_pid (the process to wait for).
start() {
	local s=$1 h=$2 p=$3 cmd=() w=()
	mapfile -t cmd < <(hcmd "$h")
	# shellcheck disable=SC2054 # perf takes comma-separated lists
	[ "${4:-}" = stat ] && w=(perf stat -x, -o "$5" \
	    -e task-clock,context-switches,cpu-migrations,page-faults --)
	case $s in
	ssa)
		SOCKMAIL_LOG=stderr "${w[@]}" systemd-socket-activate --accept \
		    --inetd -l "127.0.0.1:$p" -- "${cmd[@]}" 2>>"$work/ssa.log" &
		;;
	xinetd)
		{
			printf 'defaults\n{\n\tinstances = UNLIMITED\n\tper_source = UNLIMITED\n'
			printf '\tcps = 100000 1\n\tlog_type = FILE %s\n}\n' "$work/xinetd.log"
			printf 'service profile-%s\n{\n\ttype = UNLISTED\n' "$h"
			printf '\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n'
			printf '\tuser = root\n\tbind = 127.0.0.1\n\tport = %s\n' "$p"
			printf '\tinstances = UNLIMITED\n\tper_source = UNLIMITED\n'
			printf '\tcps = 100000 1\n\tlog_on_success =\n\tlog_on_failure =\n'
			printf '\tenv = SOCKMAIL_LOG=stderr\n\tserver = %s\n' "${cmd[0]}"
			[ "${#cmd[@]}" -gt 1 ] &&
			    printf '\tserver_args = %s\n' "${cmd[*]:1}"
			printf '}\n'
		} >"$work/xinetd.conf"
		"${w[@]}" xinetd -dontfork -f "$work/xinetd.conf" \
		    -pidfile "$work/xinetd.pid" 2>>"$work/xinetd.log" &
		;;
	esac
	top_pid=$!
	pids="$pids $top_pid"
	sup=$top_pid
	if [ "${#w[@]}" -gt 0 ]; then
		sup=
		for ((i = 0; i < 50; i++)); do
			sup=$(pgrep -P "$top_pid" | head -n 1)
			[ -n "$sup" ] && break
			sleep 0.1
		done
		[ -n "$sup" ] || { say "$s did not start under perf stat"; return 1; }
	fi
	listening "$p"
}

# stop: end the supervisor started last (perf stat, if any, then writes).
stop() {
	kill "$sup" 2>/dev/null
	wait "$top_pid" 2>/dev/null
	pids=${pids/ $top_pid/}
}

# client H PORT N: N sessions for handler H; prints the client's line.
client() {
	if [ -n "${in_ct:-}" ]; then
		ct_exec python3 - "$(proto "$1")" 127.0.0.1 "$2" "$3" <"$work/client.py"
	else
		python3 "$work/client.py" "$(proto "$1")" 127.0.0.1 "$2" "$3"
	fi
}

# cpu_ticks PID: utime stime cutime cstime of PID, in clock ticks.
cpu_ticks() {
	local st f
	st=$(cat "/proc/$1/stat") || return 1
	read -r -a f <<<"${st##*) }"
	echo "${f[11]} ${f[12]} ${f[13]} ${f[14]}"
}

# ---- The container (SUPERVISORS holds systemd). ----
ctport() {	# H: the port of H's socket in the container
	case $1 in
	smtpd) echo 25 ;;
	pop3d) echo 110 ;;
	smtpd-bare) echo $((port + 1)) ;;
	pop3d-bare) echo $((port + 2)) ;;
	floor-smtp) echo $((port + 3)) ;;
	floor-pop3) echo $((port + 4)) ;;
	empty) echo $((port + 5)) ;;
	esac
}

# ct_setup: boot, install the build as `make install` lays it out, the
# shipped units with their user and mail root (as tests/systemd.bats
# does), bench1's mailbox, and bare units for the rest; fails with the
# reason on stderr.
ct_setup() {
	local line mk=$work/print-vars.mk v h x lib=/usr/local/libexec/sockmail-profile
	# shellcheck source=tests/container.bash
	. "$top/tests/container.bash"
	if x=$(ct_skip_reason); then
		say "no container: $x"
		return 1
	fi
	{
		echo 'print-vars:'
		for v in SBINDIR=sbindir UNITDIR=systemdsystemunitdir \
		    SYSUSERSDIR=sysusersdir TMPFILESDIR=tmpfilesdir \
		    MAILROOT=mailroot TLSDIR=tlsdir; do
			printf '\t@echo "INST_%s=$(%s)"\n' "${v%=*}" "${v#*=}"
		done
	} >"$mk"
	while IFS= read -r line; do
		[[ $line == INST_*=* ]] && export "${line?}"
	done < <(env -u MAKEFLAGS -u MAKELEVEL make -s -C "$build" -f Makefile -f "$mk" print-vars)
	[ -n "${INST_MAILROOT:-}" ] || { say "cannot read the install paths"; return 1; }
	env -u MAKEFLAGS -u MAKELEVEL make -s -C "$build" install \
	    DESTDIR="$work/dest" >"$work/install.log" 2>&1 ||
	    { tail -5 "$work/install.log" >&2; return 1; }
	mkdir -p "$work/dest$lib"
	cp "$build/bench/floor" "$work/empty" "$work/dest$lib/"
	ct_loaded=1
	# shellcheck disable=SC2119 # ct_up takes nspawn options; none here
	ct_up 2>>"$work/ct.log" || { tail -5 "$work/ct.log" >&2; return 1; }
	ct_copy_tree "$work/dest" &&
	    ct_exec systemd-sysusers "$INST_SYSUSERSDIR/sockmail.conf" &&
	    ct_exec systemd-tmpfiles --create "$INST_TMPFILESDIR/sockmail.conf" ||
	    return 1
	if ! ct_exec systemd-analyze unit-paths | grep -qxF "$INST_UNITDIR"; then
		for x in sockmail-smtp.socket sockmail-pop3.socket \
		    sockmail-smtp@.service sockmail-pop3@.service; do
			ct_exec systemctl link "$INST_UNITDIR/$x" >/dev/null || return 1
		done
	fi
	ct_exec sh -c 'mkdir -p "$1" && cd "$1" &&
	    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 2 -subj /CN=localhost -keyout privkey.pem \
	    -out fullchain.pem 2>/dev/null' _ "$INST_TLSDIR" || return 1
	# The mail: the shipped units' root (the sockmail user's), and a
	# root-owned copy for the bare units, which run as root like ssa's.
	tar -C "$root" -cf - . | ct_exec sh -c 'set -e; m=$1
	    mkdir -p /var/lib/sockmail-profile
	    tar -C /var/lib/sockmail-profile -xf -
	    cat /var/lib/sockmail-profile/userinfo.txt >"$m/userinfo.txt"
	    cp -r /var/lib/sockmail-profile/USERS/. "$m/USERS/"
	    chown -R sockmail:sockmail "$m/USERS"
	    chmod 0700 "$m/USERS/sink" "$m/USERS/bench1"
	    chmod 0600 "$m/USERS/bench1/my_mailbox.txt"' _ "$INST_MAILROOT" ||
	    return 1
	# Only the trigger rate limit is lifted (a fast sequential client
	# would trip its default of 200 in 2 s): the connection's path is the
	# shipped one.
	for x in sockmail-smtp sockmail-pop3; do
		printf '[Socket]\nTriggerLimitIntervalSec=0\n' | ct_exec sh -c \
		    'mkdir -p "$1" && cat >"$1/profile.conf"' _ "/run/systemd/system/$x.socket.d" ||
		    return 1
	done
	for h in smtpd-bare pop3d-bare floor-smtp floor-pop3 empty; do
		case $h in
		smtpd-bare) x="$INST_SBINDIR/sockmail-smtpd -d /var/lib/sockmail-profile -n bench" ;;
		pop3d-bare) x="$INST_SBINDIR/sockmail-pop3d -d /var/lib/sockmail-profile -n bench -f 0" ;;
		floor-smtp) x="$lib/floor smtp" ;;
		floor-pop3) x="$lib/floor pop3 10 2048" ;;
		empty) x="$lib/empty" ;;
		esac
		printf '[Socket]\nListenStream=127.0.0.1:%s\nAccept=yes\nTriggerLimitIntervalSec=0\n' \
		    "$(ctport "$h")" | ct_exec sh -c 'cat >"$1"' _ \
		    "/run/systemd/system/profile-$h.socket" || return 1
		printf '[Service]\nExecStart=%s\nStandardInput=socket\nStandardOutput=socket\nStandardError=journal\n' \
		    "$x" | ct_exec sh -c 'cat >"$1"' _ \
		    "/run/systemd/system/profile-$h@.service" || return 1
	done
	ct_exec systemctl daemon-reload || return 1
	ct_exec systemctl start sockmail-smtp.socket sockmail-pop3.socket \
	    profile-smtpd-bare.socket profile-pop3d-bare.socket \
	    profile-floor-smtp.socket profile-floor-pop3.socket \
	    profile-empty.socket || return 1
	in_ct=1
	for h in smtpd pop3d smtpd-bare pop3d-bare floor-smtp floor-pop3 empty; do
		listening "$(ctport "$h")" || { in_ct=; return 1; }
	done
	in_ct=
}

# hpath SUP H: the path of the handler's program, as its execve names it.
hpath() {
	if [ "$1" = systemd ]; then
		case $2 in
		smtpd*) echo "$INST_SBINDIR/sockmail-smtpd" ;;
		pop3d*) echo "$INST_SBINDIR/sockmail-pop3d" ;;
		floor*) echo /usr/local/libexec/sockmail-profile/floor ;;
		empty) echo /usr/local/libexec/sockmail-profile/empty ;;
		esac
	else
		hcmd "$2" | head -n 1
	fi
}

# ---- The passes. ----
# begin SUP H [stat FILE] / end: a fresh supervisor for one pass (under
# systemd, the container's PID 1 serves them all); sets sup and p.
begin() {
	if [ "$1" = systemd ]; then
		in_ct=1
		sup=$CT_LEADER
		p=$(ctport "$2")
		return 0
	fi
	in_ct=
	p=$port
	start "$@" "$port"
}
begin_stat() {	# SUP H FILE
	if [ "$1" = systemd ]; then
		begin "$1" "$2"
	else
		in_ct=
		p=$port
		start "$1" "$2" "$port" stat "$3"
	fi
}
end() {
	[ "$1" = systemd ] || stop
}

# traced SUP H N OUT ERR TRACER...: start SUP with H, attach TRACER to the
# supervisor's tree (-p its pid is added; its stderr to ERR) for N client
# sessions (their output to OUT), then stop TRACER with SIGINT and SUP.
traced() {
	local s=$1 h=$2 n=$3 out=$4 err=$5 tpid
	shift 5
	begin "$s" "$h" || return 1
	"$@" -p "$sup" >/dev/null 2>>"$err" &
	tpid=$!
	pids="$pids $tpid"
	sleep 1
	client "$h" "$p" "$n" >"$out"
	sleep 0.5
	kill -INT "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
	pids=${pids/ $tpid/}
	end "$s"
}

# pass_strace SUP H DIR: strace -f -ff -T on the supervisor's tree for
# STRACE_SESSIONS sessions; writes DIR/strace.calls (a line per syscall:
# phase name seconds) with phase sup (the supervisor), setup (the
# connection's process before the handler's execve), handler (from it to
# the exit) or other (any other child).
pass_strace() {
	local s=$1 h=$2 d=$3 f pid cls el hp
	hp=$(hpath "$s" "$h")
	mkdir -p "$d/st"
	traced "$s" "$h" "$ssessions" "$d/strace.client" "$d/strace.err" \
	    strace -f -ff -T -qq -o "$d/st/t" || return 1
	for f in "$d"/st/t.*; do
		[ -f "$f" ] || continue
		pid=${f##*.}
		el=0
		if [ "$pid" = "$sup" ]; then
			cls=sup
		else
			el=$(grep -n -m 1 -F "execve(\"$hp\"" "$f" | cut -d: -f1)
			if [ -n "$el" ]; then cls=conn; else cls=other; el=0; fi
		fi
		awk -v c="$cls" -v el="$el" '/^[a-z_0-9]+\(/ {
			n = $0; sub(/\(.*/, "", n); t = 0
			if (match($0, /<[0-9.]+>$/))
				t = substr($0, RSTART + 1, RLENGTH - 2)
			ph = c
			if (c == "conn")
				ph = FNR < el ? "setup" : "handler"
			print ph, n, t
		}' "$f"
	done >"$d/strace.calls"
	rm -rf "$d/st"
}

# pass_time SUP H DIR: SESSIONS sessions timed at the client, the
# supervisor's CPU from /proc, and perf stat of its tree (ssa, xinetd).
pass_time() {
	local s=$1 h=$2 d=$3 t0 t1 n
	begin_stat "$s" "$h" "$d/perf-stat.csv" || return 1
	t0=$(cpu_ticks "$sup")
	n=$sessions
	[ "$s" = systemd ] && [ "$n" -gt "$ctsessions" ] && n=$ctsessions
	client "$h" "$p" "$n" >"$d/wall"
	sleep 0.3
	t1=$(cpu_ticks "$sup")
	echo "$t0 $t1" >"$d/ticks"
	end "$s"
}

# pass_perf SUP H DIR: perf record on the supervisor's tree for
# RECORD_SESSIONS sessions.
pass_perf() {
	local s=$1 h=$2 d=$3
	traced "$s" "$h" "$rsessions" "$d/perf.client" "$d/perf.err" \
	    perf record -q -g -m 4096 -o "$d/perf.data" \
	    -e cpu-clock/period=100000/ -e page-faults/period=1,call-graph=no/ \
	    -e context-switches/period=1,call-graph=no/ || return 1
	# When each process last called execve (the handler's): the time of
	# its COMM event. The samples are split by their time, not by the
	# comm perf script shows, which lags when events arrive out of order.
	perf script -i "$d/perf.data" --show-task-events -F comm,pid,time,event \
	    2>/dev/null | awk '/PERF_RECORD_COMM exec:/ {
		for (i = 1; i < NF; i++)
			if ($(i + 1) ~ /^[0-9]+\.[0-9]+:$/) { sub(/:$/, "", $(i + 1)); print $i, $(i + 1); break }
	    }' >"$d/perf.exec"
	perf script -i "$d/perf.data" -F comm,pid,time,event,ip,sym,dso 2>/dev/null |
	    awk -v sup="$sup" -v hb="$(basename "$(hpath "$s" "$h")")" \
	    -v n="$rsessions" "$perf_awk" "$d/perf.exec" - >"$d/perf.keys"
	perf report -i "$d/perf.data" --stdio --no-children --sort dso,sym \
	    -g none 2>/dev/null | awk '
		/^# Samples: .* of event .cpu-clock/ { on = 1; next }
		/^# Samples:/ { on = 0 }
		on && !/^#/ && NF' | head -n 15 >"$d/perf.top"
	perf report -i "$d/perf.data" --stats 2>/dev/null |
	    awk '/LOST events:/ { l += $3 } END { print "lost " l + 0 }' >>"$d/perf.keys"
}

# Classifies perf script's samples: the supervisor (PID sup) against the
# connection's process (every other PID in the tree); the connection's
# CPU by phase: kernel (by the call chain) or user (by the DSO), and
# "setup" for what the supervisor's child does before the handler's
# execve (samples older than its COMM event, fork and execve apart).
# Reads first the file of "PID time" of those events. Prints
# "key value" lines, per session: cpu_* in ms, faults_* and cs_* counts.
perf_awk='
function kcat(c, s) {
	if (c ~ / (__x64_sys_execve|__x64_sys_execveat|bprm_execve|do_execveat_common[.a-z0-9]*) /)
		return "exec"
	if (c ~ / (ret_from_fork|ret_from_fork_asm|schedule_tail|kernel_clone|copy_process) /)
		return "fork"
	if (c ~ / (do_exit|do_group_exit|__x64_sys_exit_group|exit_mmap) /)
		return "exit"
	if (c ~ / (__x64_sys_mmap|__x64_sys_mprotect|__x64_sys_munmap|__x64_sys_brk|__x64_sys_mremap) /)
		return "mmap"
	if (c ~ / (exc_page_fault|asm_exc_page_fault) /)
		return "fault"
	if (match(c, / __x64_sys_[a-z0-9_]+ /)) {
		s = substr(c, RSTART + 11, RLENGTH - 12)
		ksys[s]++
		return "sys"
	}
	return "kother"
}
function ucat(d) {
	if (d ~ /^ld-linux/) return "ldso"
	if (d ~ /^libc\.so/) return "libc"
	if (d ~ /^libcrypt\.so/) return "libcrypt"
	if (d == hb) return "handler"
	return "uother"
}
function flush(i, c, cls, d) {
	if (ev == "")
		return
	cls = pid == sup ? "sup" : "conn"
	if (ev ~ /^page-faults/)
		cnt["faults_" cls]++
	else if (ev ~ /^context-switches/)
		cnt["cs_" cls]++
	else if (ev ~ /^cpu-clock/) {
		cnt["cpu_" cls]++
		d = nf > 0 ? fdso[1] : "[unknown]"
		sub(/.*\//, "", d)
		if (d == "[kernel.kallsyms]") {
			cnt["cpu_" cls "_kernel"]++
			if (cls == "conn") {
				c = " "
				for (i = 1; i <= nf; i++)
					c = c fsym[i] " "
				c = kcat(c)
				if (pre && c != "exec" && c != "fork")
					c = "setup"
				cnt["cpu_k_" c]++
			}
		} else {
			cnt["cpu_" cls "_user"]++
			if (cls == "conn" && pre)
				cnt["cpu_u_setup"]++
			else if (cls == "conn") {
				cnt["cpu_u_" ucat(d)]++
				udso[d]++
			}
		}
	}
	ev = ""
	nf = 0
}
FILENAME != "-" { ex[$1] = $2; next }
/^[^\t]/ && / [0-9]+ +[0-9]+\.[0-9]+: +[a-z-]+\/[^ ]*: / {
	flush()
	match($0, / [0-9]+ +[0-9]+\.[0-9]+: +[a-z-]+\//)
	split(substr($0, RSTART + 1), f, " ")
	pid = f[1]
	t = f[2]
	sub(/:$/, "", t)
	pre = !(pid in ex) || t + 0 < ex[pid] + 0
	ev = f[3]
	next
}
/^[ \t]+[0-9a-f]+ / && ev != "" {
	nf++
	d = $0
	if (match(d, /\([^()]*\)$/))
		fdso[nf] = substr(d, RSTART + 1, RLENGTH - 2)
	else
		fdso[nf] = "[unknown]"
	sub(/^[ \t]+[0-9a-f]+ /, "", d)
	sub(/ \([^()]*\)$/, "", d)
	fsym[nf] = d
	next
}
/^$/ { flush() }
END {
	flush()
	for (k in cnt)
		printf "%s %.4f\n", k, (k ~ /^cpu_/ ? cnt[k] * 0.1 : cnt[k]) / n
	for (k in udso)
		printf "udso:%s %.4f\n", k, udso[k] * 0.1 / n
	for (k in ksys)
		printf "ksys:%s %.4f\n", k, ksys[k] * 0.1 / n
}'

# ---- Reporting. ----
key() {	# KEY FILE: its value, 0 if absent
	awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$2" 2>/dev/null || echo 0
}
pct() {	# PART WHOLE
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else printf "n/a" }'
}
ms() { awk -v a="$1" 'BEGIN { printf "%.2f", a }'; }
ms1() { awk -v a="$1" 'BEGIN { printf "%.1f", a }'; }

# report SUP H DIR: the pair's section, and its row in $work/summary.
report() {
	local s=$1 h=$2 d=$3 w t0 t1 pk tot row
	printf '\n### %s / %s\n\n' "$s" "$h"
	read -r -a w <<<"$(cat "$d/wall" 2>/dev/null)"
	if [ "${#w[@]}" = 5 ]; then
		printf -- '- wall per connection at the client (%s sessions): median %s ms, p90 %s ms, mean %s ms, min %s ms\n' \
		    "${w[0]}" "${w[1]}" "${w[2]}" "${w[3]}" "${w[4]}"
	else
		printf -- '- wall: the client failed: %s\n' "$(cat "$d/wall" 2>/dev/null)"
		w=(0 n/a)
	fi
	if [ -s "$d/ticks" ]; then
		read -r -a t0 <<<"$(cat "$d/ticks")"
		awk -v n="${w[0]}" -v hz="$clk" -v a="${t0[*]}" 'BEGIN {
			split(a, t, " "); f = 1000 / hz / (n > 0 ? n : 1)
			printf "- CPU per session from /proc (tick-grained): supervisor user %.2f ms, sys %.2f ms; connection processes user %.2f ms, sys %.2f ms\n",
			    (t[5] - t[1]) * f, (t[6] - t[2]) * f, (t[7] - t[3]) * f, (t[8] - t[4]) * f }'
	fi
	if [ -s "$d/perf-stat.csv" ]; then
		awk -F, -v n="${w[0]}" '$3 != "" && $1 ~ /^[0-9.]+$/ { v[$3] = $1 / (n > 0 ? n : 1) }
		END { printf "- perf stat of the supervisor'"'"'s tree per session: task-clock %.2f ms, context-switches %.1f, cpu-migrations %.2f, page-faults %.1f\n",
		    v["task-clock"], v["context-switches"], v["cpu-migrations"], v["page-faults"] }' "$d/perf-stat.csv"
	fi
	if [ -s "$d/strace.calls" ]; then
		awk -v n="$ssessions" '
		{ c[$1]++; k[$1 " " $2]++; tm[$2] += $3
		  if ($1 == "setup" || $1 == "handler") { all[$2]++ } }
		END {
			printf "- strace -f (%d sessions), syscalls per session: connection process %.1f (before the handler'"'"'s execve %.1f, from it to the exit %.1f), supervisor %.1f, other children %.1f\n",
			    n, (c["setup"] + c["handler"]) / n, c["setup"] / n, c["handler"] / n, c["sup"] / n, c["other"] / n
			printf "  - from the handler'"'"'s execve on, per session:"
			split("execve mmap mprotect munmap brk openat read pread64 write close fstat newfstatat statx", l, " ")
			for (i = 1; i in l; i++)
				printf " %s %.1f%s", l[i], k["handler " l[i]] / n, ((i + 1) in l ? "," : "\n")
			printf "\n  | syscall (connection process) | calls before execve | calls from execve | strace µs |\n  |---|---:|---:|---:|\n"
			m = 0
			for (s in all) names[++m] = s
			for (i = 1; i <= m; i++)
				for (j = i + 1; j <= m; j++)
					if (all[names[j]] > all[names[i]]) { x = names[i]; names[i] = names[j]; names[j] = x }
			for (i = 1; i <= m && i <= 12; i++)
				printf "  | %s | %.1f | %.1f | %.0f |\n", names[i], k["setup " names[i]] / n, k["handler " names[i]] / n, tm[names[i]] * 1e6 / n
		}' "$d/strace.calls"
	fi
	pk=$d/perf.keys
	if [ -s "$pk" ]; then
		tot=$(awk '$1 == "cpu_sup" || $1 == "cpu_conn" { t += $2 } END { print t + 0 }' "$pk")
		printf -- '\n- perf record (%s sessions), CPU per session: %s ms; supervisor %s ms (kernel %s), connection process %s ms (kernel %s); page faults per session: supervisor %s, connection %s; context switches: supervisor %s, connection %s\n' \
		    "$rsessions" "$(ms "$tot")" "$(ms "$(key cpu_sup "$pk")")" \
		    "$(pct "$(key cpu_sup_kernel "$pk")" "$(key cpu_sup "$pk")")" \
		    "$(ms "$(key cpu_conn "$pk")")" \
		    "$(pct "$(key cpu_conn_kernel "$pk")" "$(key cpu_conn "$pk")")" \
		    "$(ms1 "$(key faults_sup "$pk")")" "$(ms1 "$(key faults_conn "$pk")")" \
		    "$(ms1 "$(key cs_sup "$pk")")" "$(ms1 "$(key cs_conn "$pk")")"
		printf '  - the connection process by phase (ms per session; k: kernel, u: user):'
		for x in k_fork k_setup u_setup k_exec k_mmap k_fault k_sys k_exit k_kother u_ldso u_libc u_libcrypt u_handler u_uother; do
			printf ' %s %s' "${x/_/:}" "$(ms "$(key "cpu_$x" "$pk")")"
		done
		printf '\n  - user DSOs (ms per session): %s\n' "$(awk '/^udso:/ { sub(/^udso:/, ""); print }' "$pk" |
		    sort -k2 -rn | head -n 6 | awk '{ printf "%s%s %.2f", (NR > 1 ? ", " : ""), $1, $2 }')"
		printf '  - kernel CPU in other syscalls (ms per session): %s\n' "$(awk '/^ksys:/ { sub(/^ksys:/, ""); print }' "$pk" |
		    sort -k2 -rn | head -n 6 | awk '{ printf "%s%s %.2f", (NR > 1 ? ", " : ""), $1, $2 }')"
		[ "$(key lost "$pk")" = 0 ] || printf '  - perf lost %s events\n' "$(key lost "$pk")"
		printf '\n  perf report --sort dso,sym, the supervisor'"'"'s tree, top 15:\n\n'
		sed 's/^/      /' "$d/perf.top"
		row=$(awk -v tot="$tot" '
			{ v[$1] = $2 }
			END {
				v["cpu_setup"] = v["cpu_k_setup"] + v["cpu_u_setup"]
				split("cpu_sup cpu_k_fork cpu_setup cpu_k_exec cpu_u_ldso cpu_k_mmap cpu_k_fault cpu_k_sys cpu_k_exit cpu_k_kother", l, " ")
				for (i = 1; i in l; i++)
					printf " %.0f%% |", (tot > 0 ? 100 * v[l[i]] / tot : 0)
				u = v["cpu_u_handler"] + v["cpu_u_libc"] + v["cpu_u_libcrypt"] + v["cpu_u_uother"]
				printf " %.0f%% | %.0f |", (tot > 0 ? 100 * u / tot : 0), v["faults_conn"]
			}' "$pk")
	else
		row=' n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |'
		tot=0
	fi
	printf '| %s | %s | %s | %s |%s %s |\n' "$s" "$h" "${w[1]}" "$(ms "$tot")" "$row" \
	    "$(awk -v n="$ssessions" '$1 == "setup" || $1 == "handler" { c++ } END { printf "%.0f", c / n }' "$d/strace.calls" 2>/dev/null)" \
	    >>"$work/summary"
}

# ---- Main. ----
printf '# Where a connection'"'"'s time goes: bench/profile.sh, %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf 'build: %s; kernel %s; %s; %s CPUs; perf_event_paranoid %s\n' "$build" \
    "$(uname -r)" "$(perf version)" "$(nproc)" "$(cat /proc/sys/kernel/perf_event_paranoid)"
printf 'handlers: sockmail-smtpd (%s), sockmail-pop3d (%s), floor (%s)\n' \
    "$(ldd "$build/src/sockmail-smtpd" | awk '/=>/ { printf "%s%s", n++ ? " " : "", $1 }')" \
    "$(ldd "$build/src/sockmail-pop3d" | awk '/=>/ { printf "%s%s", n++ ? " " : "", $1 }')" \
    "$(ldd "$build/bench/floor" | awk '/=>/ { printf "%s%s", n++ ? " " : "", $1 }')"
: >"$work/summary"
t_start=$(date +%s)
for s in $supervisors; do
	case $s in
	ssa)
		command -v systemd-socket-activate >/dev/null ||
		    { say "no systemd-socket-activate: ssa skipped"; continue; }
		hs="smtpd pop3d floor-smtp floor-pop3 empty"
		;;
	xinetd)
		command -v xinetd >/dev/null || { say "no xinetd: skipped"; continue; }
		hs="smtpd pop3d floor-smtp floor-pop3 empty"
		;;
	systemd)
		say "booting the container ..."
		if ! ct_setup; then
			say "systemd skipped: no container"
			printf '\n(systemd: no container could be set up here; see above)\n'
			continue
		fi
		hs="smtpd pop3d smtpd-bare pop3d-bare floor-smtp floor-pop3 empty"
		;;
	*) say "unknown supervisor $s"; continue ;;
	esac
	printf '\n## %s\n' "$s"
	for h in ${HANDLERS:-$hs}; do
		case " $hs " in *" $h "*) ;; *) continue ;; esac
		say "$s / $h ..."
		d=$work/res/$s.$h
		mkdir -p "$d"
		pass_strace "$s" "$h" "$d" || say "$s / $h: strace pass failed"
		pass_time "$s" "$h" "$d" || say "$s / $h: timing pass failed"
		pass_perf "$s" "$h" "$d" || say "$s / $h: perf pass failed"
		report "$s" "$h" "$d"
	done
	if [ "$s" = systemd ]; then
		ct_down
		ct_loaded=
	fi
done

printf '\n## Summary: CPU per session by phase (share of the CPU of the supervisor'"'"'s tree, perf record)\n\n'
printf '| supervisor | handler | wall p50 ms | CPU ms/session | supervisor | fork | child setup | execve | ld.so | mmap & co | page faults | other syscalls | exit | other kernel | user code | page faults/session | syscalls/session |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
cat "$work/summary"
printf '\n"child setup" is the supervisor'"'"'s child between fork and the handler'"'"'s execve (kernel and user); "user code" is the handler, libc, libcrypt and any other library in user mode after the execve (ld.so apart); "page faults" those outside execve and the mmap family (execve'"'"'s own are in its column); syscalls from strace.\n'
say "done in $(($(date +%s) - t_start)) s"
