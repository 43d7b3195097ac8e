#!/bin/bash
# fuzz/run.sh [SECONDS] [HARNESS...]: run each libFuzzer harness (built by
# fuzz/build.sh into $FUZZ_DIR, default build/fuzz) for SECONDS (default
# 600), two at a time, starting from seed corpora made from tests/data
# (kept between runs), seeded with $FUZZ_SEED (default: the clock; printed).
# Besides crashes, the harnesses' oracle (fuzz/oracle.h) aborts when a
# message or a foreign byte was lost. Crashes land in $FUZZ_DIR/crash-*;
# each harness's last status line (execs, exec/s) is printed at the end,
# and the exit status is 1 when any harness found something (CI runs it).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_DIR:-$top/build/fuzz}
secs=${1:-600}
[ $# -gt 0 ] && shift
harnesses=${*:-smtp pop3 mailbox userinfo proxy}

byte() {	# N: the byte of value N
	# shellcheck disable=SC2059 # the format is the octal escape
	printf "\\$(printf %o "$1")"
}

seed() {	# HARNESS: fill corpus-HARNESS from the test fixtures
	local dir="$out/corpus-$1" f
	mkdir -p "$dir"
	case $1 in
	smtp) # The first byte picks bob's mailbox (fuzz-root.c): the
		# transcripts start from the well formed one; one delivery to
		# bob and alice starts from each of the others.
		for f in "$top"/tests/data/smtp-*/*.in; do
		{ byte 0; LC_ALL=C sed 's/$/\r/' "$f"; } \
		    >"$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
	done
		for v in 1 2 3 4 5 6 7; do
			{ byte "$v"; printf 'HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n'; } \
			    >"$dir/seed-mailbox-$v"
		done
		# SMTPUTF8 (RFC 6531): valid and invalid UTF-8 in addresses, with
		# and without the parameter; a bare CR in the data.
		printf 'EHLO x\r\nMAIL FROM:<j\303\266rg@b\303\274cher.example> SMTPUTF8 SIZE=9 BODY=8BITMIME\r\nRCPT TO:<bob@\344\276\213.example>\r\nRCPT TO:<b\303\266b@x>\r\nDATA\r\nSubject: \342\234\211\r\n\r\n\360\237\223\253\r\n.\r\nQUIT\r\n' \
		    >"$dir/seed-smtputf8"
		printf 'EHLO x\r\nMAIL FROM:<a\300\257b@x> SMTPUTF8\r\nMAIL FROM:<\355\240\200@x> smtputf8\r\nMAIL FROM:<\364\220\200\200@x> SMTPUTF8\r\nMAIL FROM:<\200\342\202@x> SMTPUTF8\r\nMAIL FROM:<a@b> SMTPUTF8\r\nRCPT TO:<\302\205@x>\r\nRCPT TO:<bob@x\377>\r\nRSET\r\nMAIL FROM:<\303\244@b>\r\nMAIL FROM:<a@b> SMTPUTF8=x\r\n' \
		    >"$dir/seed-smtputf8-invalid"
		printf 'HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nDATA\r\na\rb\r\n.\r\r\n.\r\nNOOP\r\nRSET\r\nHELO y\r\n' \
		    >"$dir/seed-bare-cr" ;;
	pop3) for f in "$top"/tests/data/pop3-*/*.in; do
		# After a login; and with TLS offered, then STLS and AUTH.
		{ printf '\001'; sed 's/$/\r/' "$f"; } >"$dir/$(basename "$f")"
		{ printf '\002STLS\r\nAUTH PLAIN AGJvYgBib2JwYXNz\r\n'; sed 's/$/\r/' "$f"; } \
		    >"$dir/tls-$(basename "$f")"
	done
		# Bits 3 to 5 of the first byte pick bob's mailbox: a login, a
		# DELE and QUIT from each of the others.
		for v in 1 2 3 4 5 6 7; do
			{ byte $((v * 8 + 1)); printf 'LIST\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n'; } \
			    >"$dir/seed-mailbox-$v"
		done ;;
	mailbox)
		for f in "$top"/tests/data/*/*.mailbox "$top"/tests/data/*/*.mbox-*; do
			[ -f "$f" ] && cp "$f" "$dir/$(basename "$f")"
		done
		# What the store must tell apart at a mailbox's end
		# (sockmail-mailbox(5)).
		rec='From: a@x\nTo: b@x\nSubject: s\nReceived: 2026-11-27 : 21 : 04\nbody\n..dot\n.\n'
		printf %b "$rec" | sed 's/$/\r/' >"$dir/seed-crlf"
		{ printf %b "$rec" | sed 's/$/\r/'; printf 'From: x\r\n.\r'; } >"$dir/seed-crlf-no-lf"
		{ printf %b "$rec"; printf 'From: x\nbody\n.'; } >"$dir/seed-no-lf"
		printf 'From sender@example.com Thu Nov 27 21:04:00 2026\nFrom: a@x\nSubject: s\n\nbody\n>From here\n\nFrom other@example.com Fri Nov 28 09:00:00 2026\nSubject: t\n\nmore\n' \
		    >"$dir/seed-mbox"
		{ printf %b "$rec"; printf 'From sender@example.com Thu Nov 27 21:04:00 2026\nbody\n'; } >"$dir/seed-rec-mbox"
		printf 'From: a@x\nTo: b@x\nno dot line at all\n' >"$dir/seed-no-dot"
		{ printf %b "$rec"; printf 'From: x\nTo'; head -c 64 /dev/zero; } >"$dir/seed-killed"
		{ printf %b "$rec"; head -c 64 /dev/zero; } >"$dir/seed-nul-only"
		{ printf %b "$rec"; printf 'From: x\n'; head -c 16 /dev/zero; printf 'text\n'; } >"$dir/seed-nul-text"
		{ printf %b "$rec"; printf '\001\002junk\000\000\000\377\376 end\177'; } >"$dir/seed-binary"
		printf '\000\000.\n\000\r\n.\r\n\r.\n..\n' >"$dir/seed-binary-dots" ;;
	userinfo) cp "$top/tests/data/mailroot/userinfo.txt" "$dir/" ;;
	proxy)	# Headers of each kind, and one with a session after it.
		printf 'PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\nEHLO x\r\n' >"$dir/seed-v1"
		printf 'PROXY TCP6 2001:db8::7 2001:db8::1 1234 110\r\n' >"$dir/seed-v1-tcp6"
		printf 'PROXY UNKNOWN\r\n' >"$dir/seed-v1-unknown"
		python3 "$top/tests/tools/proxyhdr.py" --tlv 1=smtp v2 192.0.2.7 198.51.100.1 1 25 \
		    >"$dir/seed-v2"
		python3 "$top/tests/tools/proxyhdr.py" v2 2001:db8::7 2001:db8::1 1 25 >"$dir/seed-v2-inet6"
		python3 "$top/tests/tools/proxyhdr.py" v2 local >"$dir/seed-v2-local" ;;
	esac
}

run() {		# HARNESS
	seed "$1"
	(cd "$out" && ./fuzz-"$1" -seed="$fuzz_seed" -max_total_time="$secs" -rss_limit_mb=512 \
	    -close_fd_mask=2 -artifact_prefix="$out/crash-$1-" "corpus-$1" >"fuzz-$1.log" 2>&1) || {
		echo "fuzz-$1: FOUND A CRASH, seed $fuzz_seed (see $out/fuzz-$1.log)"
		tail -n 50 "$out/fuzz-$1.log"
		: >"$out/found-$1"
	}
	printf 'fuzz-%s: ' "$1"
	grep -E '^#[0-9]+' "$out/fuzz-$1.log" | tail -n 1
}

mkdir -p "$out"
rm -f "$out"/found-*
# libFuzzer's random seed: FUZZ_SEED replays a run (with the same corpus).
fuzz_seed=${FUZZ_SEED:-$(( $(date +%s) % 4294967295 + 1 ))}
echo "fuzz: seed $fuzz_seed (FUZZ_SEED=$fuzz_seed replays it)"

# shellcheck disable=SC2086 # a list of harness names
set -- $harnesses
while [ $# -gt 0 ]; do
	run "$1" &
	if [ $# -gt 1 ]; then
		run "$2" &
		shift
	fi
	shift
	wait
done
for f in "$out"/found-*; do
	[ -e "$f" ] && exit 1
done
exit 0
