#!/bin/bash
# bench/run.sh [BUILD_DIR]: sockmail against a do-nothing floor (dynamic
# and static), an fsync floor, the same handlers under xinetd, Postfix and
# Dovecot, on a GlusterFS volume (gfs1: one host; gfs2: two hosts behind
# HAProxy), and optionally the handlers of another build (BEFORE), over
# the same mail, on loopback, plain and over TLS; every target started and
# stopped here, the scenarios interleaved (floor, static floor, fsync
# floor, sockmail, before, sockmail-xinetd, postfix, gfs1, gfs2, floor,
# ...) for RUNS rounds. Prints a markdown table of medians, ratios and the
# performance goals, and writes it to bench/results/<UTC time>.md and
# bench/results/latest.md. See bench/README.md. A benchmark, not a test:
# not run by make check.
#
# Knobs (environment): RUNS (3), QUICK=1 (a smoke run: 1 round, small
# counts), SMTP_MSGS (1500), SMTP_ONE_MSGS (SMTP_MSGS ÷ 3), SMTP_KEPT_MSGS
# (5 × SMTP_MSGS), SMTP_BIG_MSGS (400), SMTP_TLS_MSGS (SMTP_MSGS ÷ 3),
# POP3_SESSIONS (1500), POP3_TLS_SESSIONS (POP3_SESSIONS ÷ 3),
# RETR_SESSIONS (400), WARM (5), LAT_SIZES ("100 10000 100000"), PORT
# (21250: 26 ports from there), TARGETS (which targets, space-separated;
# default all: "floor sockmail xinetd postfix dovecot gfs1 gfs2"; floor
# also runs the fsync floor and the static floor, and the ratios need it),
# BEFORE (a build dir: the target "before" runs its handlers).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ge 1 ]; then
	build=$(cd "$1" && pwd) || exit 2
elif [ -d "$top/build/bench" ]; then
	build=$top/build/bench
else
	build=$top/build/dev
fi
if [ -n "${QUICK:-}" ]; then
	runs=${RUNS:-1}
	smtp_msgs=${SMTP_MSGS:-300}
	smtp_big=${SMTP_BIG_MSGS:-30}
	pop3_sessions=${POP3_SESSIONS:-300}
	retr_sessions=${RETR_SESSIONS:-60}
	warm=${WARM:-3}
else
	runs=${RUNS:-3}
	smtp_msgs=${SMTP_MSGS:-1500}
	smtp_big=${SMTP_BIG_MSGS:-400}
	pop3_sessions=${POP3_SESSIONS:-1500}
	retr_sessions=${RETR_SESSIONS:-400}
	warm=${WARM:-5}
fi
# Kept-open connections are several times faster: more messages; one at
# a time, and TLS, several times slower: fewer.
smtp_kept=${SMTP_KEPT_MSGS:-$((smtp_msgs * 5))}
smtp_one=${SMTP_ONE_MSGS:-$((smtp_msgs / 3))}
smtp_tls_msgs=${SMTP_TLS_MSGS:-$((smtp_msgs / 3))}
pop3_tls_sessions=${POP3_TLS_SESSIONS:-$((pop3_sessions / 3))}
lat_sizes=${LAT_SIZES:-100 10000 100000}
port=${PORT:-21250}
all_targets="floor sockmail xinetd postfix dovecot gfs1 gfs2"
targets=${TARGETS:-$all_targets}
# BEFORE=DIR: one more target, another build's handlers.
before=
if [ -n "${BEFORE:-}" ]; then
	before=$(cd "$BEFORE" && pwd) || exit 2
	all_targets="$all_targets before"
	case " $targets " in *" before "*) ;; *) targets="$targets before" ;; esac
fi
for t in $targets; do
	case " $all_targets " in
	*" $t "*) ;;
	*) echo "run.sh: no target $t (TARGETS: $all_targets)" >&2; exit 2 ;;
	esac
done
selected() { case " $targets " in *" $1 "*) ;; *) return 1 ;; esac; }
load=$build/bench/pop3-load
sload=$build/bench/smtp-load
for f in "$build/src/sockmail-smtpd" "$build/src/sockmail-pop3d" "$load" \
    "$sload" "$build/bench/floor"; do
	[ -x "$f" ] || { echo "run.sh: build first: no $f" >&2; exit 1; }
done
for c in smtp-source systemd-socket-activate python3 openssl ss; do
	command -v "$c" >/dev/null || { echo "run.sh: no $c" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sockmail-bench.XXXXXX") || exit 1
chmod 755 "$work"	# Postfix and Dovecot drop privileges
root=$work/root
root_before=$work/root-before
tls=$work/tls
all_pids=
postfix_started=
cleanup() {
	trap - EXIT INT TERM
	stop_all
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM
# shellcheck source=bench/targets.sh
. "$top/bench/targets.sh"
# shellcheck source=bench/measure.sh
. "$top/bench/measure.sh"
# shellcheck source=bench/report.sh
. "$top/bench/report.sh"
t_start=$(date +%s)
say() { printf '%s\n' "$*" >&2; }

# ---- The mail: sockmail's root, then the same messages for Dovecot. ----
say "preparing mail in $work ..."
mkdir -p "$root/USERS" "$work/dc/home"
mkbox() {	# USER COUNT [make-mailbox args...]
	local u=$1 n=$2
	shift 2
	mkdir -p "$root/USERS/$u"
	printf '%s benchpw\n' "$u" >>"$root/userinfo.txt"
	printf '%s:{PLAIN}benchpw\n' "$u" >>"$work/dc/passwd"
	python3 "$top/tests/tools/make-mailbox.py" \
	    "$root/USERS/$u/my_mailbox.txt" "$n" "$@" || exit 1
	mkdir -p "$work/dc/home/$u/mail"
	to_mbox <"$root/USERS/$u/my_mailbox.txt" >"$work/dc/home/$u/mbox"
}
# sockmail's format (sockmail-mailbox(5)) to mbox: a From_ line before each
# message, dot-stuffing undone, From_ lines in content quoted, a blank line
# after.
to_mbox() {
	awk 'BEGIN { start = 1 }
	start { print "From sender@example.org Fri Nov 27 21:04:00 2026"; start = 0 }
	$0 == "." { print ""; start = 1; next }
	{ if (substr($0, 1, 1) == ".") $0 = substr($0, 2)
	  if ($0 ~ /^>*From /) $0 = ">" $0
	  print }'
}
for i in $(seq 16); do
	mkbox "bench$i" 100 2048
done
mkbox sink 0
for n in $lat_sizes; do
	mkbox "big$n" "$n" 2048
done
mkbox huge 0 2048 --huge 1048576
chown -R dovecot:dovecot "$work/dc/home"
# The before target's own copy (deliveries must not mix), without the
# big mailboxes, which only the latency and peak RSS figures read.
if [ -n "$before" ]; then
	mkdir -p "$root_before/USERS"
	cp -a "$root/userinfo.txt" "$root_before/" || exit 1
	cp -a "$root"/USERS/bench* "$root/USERS/sink" "$root_before/USERS/" ||
	    exit 1
fi
# One certificate for every TLS listener: ECDSA P-256, self-signed.
mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 2 -subj /CN=localhost -keyout "$tls/key.pem" -out "$tls/cert.pem" \
    2>"$work/openssl.err" || { cat "$work/openssl.err" >&2; exit 1; }

# ---- Targets. ----
declare -A up
# start_one NAME: start and check it; a reason it is not available goes
# to the report too ($work/unavailable).
start_one() {
	say "starting $1 ..."
	if "start_$1" 2>"$work/start.err" && "check_$1" 2>>"$work/start.err"
	then
		up[$1]=1
	else
		up[$1]=
		printf -- '- %s: %s\n' "$1" "$(tail -1 "$work/start.err")" \
		    >>"$work/unavailable"
	fi
	cat "$work/start.err" >&2
	[ -n "${up[$1]}" ] ||
	    say "run.sh: $1 is not available; its figures are n/a"
}
: >"$work/unavailable"
for t in $all_targets; do
	selected "$t" && start_one "$t"
done

# ---- Scenarios, interleaved target by target within each round. ----
# Scenario keys (report.sh): s0-s6 plain, p1 scenario 1 through smtp-load
# (the baseline of t1), t1 SMTP STARTTLS, t4/t5 POP3 STLS and u4/u5 pop3s,
# 1 and 16 at a time.
: >"$work/results"
smtp_targets="floor sfloor fsync sockmail before xinetd postfix gfs1 gfs2"
pop3_targets="floor sfloor sockmail before xinetd dovecot gfs1 gfs2"
for r in $(seq "$runs"); do
	say "round $r of $runs"
	for t in $smtp_targets; do
		up_for "$t" || continue
		smtp_run s0 "$t" "$r" 1 "$smtp_one" 1024
		smtp_run s1 "$t" "$r" 16 "$smtp_msgs" 1024
		# The static floor shows the cost of a process a connection:
		# only the one-message scenarios.
		[ "$t" = sfloor ] && continue
		smtp_run s2 "$t" "$r" 16 "$smtp_kept" 1024 kept
		smtp_run s3 "$t" "$r" 4 "$smtp_big" 1048576
		smtp_tls "$t" || continue
		smtp_run p1 "$t" "$r" 16 "$smtp_tls_msgs" 1024 load
		smtp_run t1 "$t" "$r" 16 "$smtp_tls_msgs" 1024 tls
	done
	for t in $pop3_targets; do
		up_for "$t" || continue
		pop3_run s4 "$t" "$r" 1 "$pop3_sessions" 0
		pop3_run s5 "$t" "$r" 16 "$pop3_sessions" 0
		[ "$t" = sfloor ] && continue
		pop3_run s6 "$t" "$r" 4 "$retr_sessions" 100
		pop3_tls "$t" || continue
		pop3_run t4 "$t" "$r" 1 "$pop3_tls_sessions" 0 stls
		pop3_run u4 "$t" "$r" 1 "$pop3_tls_sessions" 0 implicit
		pop3_run t5 "$t" "$r" 16 "$pop3_tls_sessions" 0 stls
		pop3_run u5 "$t" "$r" 16 "$pop3_tls_sessions" 0 implicit
	done
	for t in sockmail dovecot; do
		up_for "$t" || continue
		for n in $lat_sizes; do
			latency_run "$t" "$r" "$n"
		done
	done
done
say "peak RSS ..."
rss_all
say "PSS of one session ..."
pss_all

t_end=$(date +%s)
mkdir -p "$top/bench/results"
out=$top/bench/results/$(date -u +%Y%m%dT%H%M%SZ).md
report >"$out"
cp "$out" "$top/bench/results/latest.md"
cat "$out"
say "wrote $out (and bench/results/latest.md) in $((t_end - t_start)) s"
