#!/usr/bin/env bats
# The PROXY protocol (-P in sockmail-smtpd(8) and sockmail-pop3d(8)): a v1
# or v2 header before the session names the client for the logs and for -R;
# a bad, cut off or slow header closes the session without a word, logged;
# without -P a header is a bad command. Headers come from
# tests/tools/proxyhdr.py. Most cases pipe a transcript in; the socket cases
# run the handler on a loopback connection (tlsclient.py --spawn, from
# 127.0.0.2 where the connection's own peer must show), and one runs HAProxy
# itself in front of the handlers.

load helpers
load net

CERT=$BATS_FILE_TMPDIR/cert.pem
KEY=$BATS_FILE_TMPDIR/key.pem
# Wrappers for the handlers under systemd-socket-activate (see setup_file).
BIN=$BATS_FILE_TMPDIR/bin
D=$TESTDATA/pop3-update
REFUSED="-ERR [AUTH] Authentication requires TLS (use STLS)"
GOODBYE="+OK Thanks for using POP3 server"
SMTP_500="500 Syntax error, command unrecognized"

setup_file() {
	# systemd-socket-activate passes no environment on: the wrappers keep
	# the log on stderr and pass this run's sanitizer options.
	handler_wrappers --cert
}

setup() {
	make_mailroot
	# Where journald runs, keep the log on stderr, where these tests read
	# it (pop3d_filter sets this itself; smtpd_filter does not).
	export SOCKMAIL_LOG=stderr
	unset SOCKMAIL_DEBUG REMOTE_ADDR
	H=$BATS_TEST_TMPDIR/header
	HAPROXY_PID=
}

teardown() {
	stop_smtpd
	stop_pop3d
	if [[ -n $HAPROXY_PID ]]; then
		kill "$HAPROXY_PID" 2>/dev/null || true
		wait "$HAPROXY_PID" 2>/dev/null || true
	fi
}

# --- helpers -------------------------------------------------------------

# header ARG...: the header tests/tools/proxyhdr.py ARGs writes, in $H.
header() {
	"$PYTHON" "$TOOLS/proxyhdr.py" "$@" >"$H"
}

# run proxy_smtp / proxy_pop3 [OPTION... --] LINE...: the bytes of $H,
# then each LINE with CR LF, into the handler with -P and OPTIONs
# (smtpd_filter / pop3d_filter); its replies, CR stripped, as
# smtp_session prints them; the status is the handler's.
proxy_smtp() {
	proxy_into smtpd_filter "$@"
}

proxy_pop3() {
	proxy_into pop3d_filter "$@"
}

proxy_into() {	# FILTER [OPTION... --] LINE...
	local filter=$1 opts args
	shift
	split_options "$@"
	{
		cat "$H"
		if ((${#args[@]})); then
			printf '%s\r\n' "${args[@]}"
		fi
	} 2>/dev/null | "$filter" -P "${opts[@]}"
}

# assert_peer LOG ADDR: LOG (a handler's stderr) holds one session, from
# connect to disconnect, and every line but the handler's own debug
# "proxy" line names ADDR as the peer.
assert_peer() {
	local re=${2//./\\.} bad
	assert_wire_ok
	assert_log "$1" "^sockmail-(smtpd|pop3d)\[[0-9]+\]: info connect: session started peer=$re\$"
	assert_log "$1" "^sockmail-(smtpd|pop3d)\[[0-9]+\]: info disconnect: session ended peer=$re( user=[^ ]+)?\$"
	# Only the handler's lines: valgrind may add its own notes.
	if bad=$(grep -E '^sockmail-' "$1" | grep -v -E " peer=$re( user=[^ ]+)?\$" |
	    grep -v ' debug proxy: '); then
		printf '%s\n' "$bad" | batslib_decorate "lines without peer=$2" | fail
	fi
}

# assert_dropped LOG WHY: the session in LOG ended at its PROXY header with
# a warning (an extended regexp WHY says what was wrong), before any
# session started.
assert_dropped() {
	assert_log "$1" "^sockmail-(smtpd|pop3d)\[[0-9]+\]: warning proxy: $2; session closed peer=local\$"
	assert_log "$1" ' connect: ' 0
}

# spawn ARG... -- HANDLER ARG...: a tlsclient.py dialogue (ARGs: options
# and steps) with HANDLER spawned on a loopback connection from 127.0.0.2,
# which first sends $H; its stderr in $BATS_TEST_TMPDIR/spawn.log, which
# is emptied first. Prints the replies, then "exit N".
spawn() {
	: >"$BATS_TEST_TMPDIR/spawn.log"
	timeout -k 5 120 "$PYTHON" "$TOOLS/tlsclient.py" chat --host 127.0.0.2 \
	    --first "$H" --spawn "$BATS_TEST_TMPDIR/spawn.log" "$@"
}

# now_ms: the time, in milliseconds.
now_ms() {
	date +%s%3N
}

# timed CMD...: run CMD, and write how long it took (ms) to
# $BATS_TEST_TMPDIR/elapsed; the status is CMD's.
timed() {
	local t0 rc=0
	t0=$(now_ms)
	"$@" || rc=$?
	echo $(($(now_ms) - t0)) >"$BATS_TEST_TMPDIR/elapsed"
	return "$rc"
}

# assert_elapsed MIN MAX: timed's CMD took MIN to MAX seconds (valgrind's
# start-up adds up to 10 s more).
assert_elapsed() {
	local ms max=$2
	ms=$(cat "$BATS_TEST_TMPDIR/elapsed")
	if [[ -n ${SOCKMAIL_VALGRIND-} ]]; then
		max=$((max + 10))
	fi
	if ((ms < $1 * 1000 - 100 || ms > max * 1000)); then
		fail "took $ms ms, expected $1 to $max s"
	fi
}

# --- the client's address ------------------------------------------------

@test "smtpd -P: a v1 TCP4 header names the client in every log line; the mail is delivered, its Received: line only the time" {
	header v1 192.0.2.7 198.51.100.1 56324 25
	run -0 proxy_smtp -- "HELO client.example" "MAIL FROM:<a@client.example>" \
	    "RCPT TO:<bob@test.example>" DATA "Subject: via a balancer" "" body . QUIT
	assert_reply 0 "220 test.example Service ready"
	assert_reply 1 "250 OK Hello client.example"
	assert_reply 5 "250 OK Message accepted for delivery"
	assert_reply 6 "221 test.example Service closing transmission channel"
	assert_peer "$BATS_TEST_TMPDIR/smtpd.err" 192.0.2.7
	assert_log "$BATS_TEST_TMPDIR/smtpd.err" ' info delivered: .* to=bob@test\.example peer=192\.0\.2\.7$'
	assert_mailbox bob <<-'EOF'
	From: a@client.example
	To: bob@test.example
	Subject: via a balancer
	Received: <time>

	body
	.
	EOF
}

@test "v1 TCP6, v2 TCP4, v2 TCP6 with TLVs and a v4-mapped v1 TCP6 header: both handlers log the header's client" {
	local spec want
	put_messages labxyz one
	while IFS='|' read -r spec want; do
		# shellcheck disable=SC2086 # spec is words on purpose
		header $spec
		run -0 proxy_smtp -- "HELO client.example" "VRFY bob" QUIT
		assert_reply 1 "250 OK Hello client.example"
		assert_reply 3 "221 test.example Service closing transmission channel"
		assert_peer "$BATS_TEST_TMPDIR/smtpd.err" "$want"
		run -0 proxy_pop3 -- "USER labxyz" "PASS labpass" QUIT
		assert_reply 0 "+OK POP3 server is ready"
		assert_reply 2 "+OK maildrop has 1 messages (164 octets)"
		assert_reply 3 "$GOODBYE"
		assert_peer "$BATS_TEST_TMPDIR/pop3d.err" "$want"
		assert_log "$BATS_TEST_TMPDIR/pop3d.err" " info login: labxyz: .* peer=${want//./\\.} user=labxyz\$"
	done <<-'EOF'
	v1 2001:db8::7 2001:db8::1 1234 25|2001:db8::7
	v2 192.0.2.7 198.51.100.1 56324 25|192.0.2.7
	--tlv 1=smtp --tlv 2=mail.example --tlv 4= v2 2001:db8::7 2001:db8::1 1234 110|2001:db8::7
	v1 ::ffff:192.0.2.9 ::ffff:198.51.100.1 1 2|::ffff:192.0.2.9
	EOF
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

@test "v2 LOCAL, v2 UNSPEC and v1 UNKNOWN leave the connection's own peer: local for a pipe, else \$REMOTE_ADDR; a header's address beats \$REMOTE_ADDR" {
	header v2 local
	run -0 proxy_smtp -- "HELO client.example" QUIT
	assert_reply 1 "250 OK Hello client.example"
	assert_peer "$BATS_TEST_TMPDIR/smtpd.err" local
	header v1 unknown
	run -0 proxy_pop3 -- "USER labxyz" "PASS labpass" QUIT
	assert_reply 2 "+OK maildrop has 0 messages (0 octets)"
	assert_peer "$BATS_TEST_TMPDIR/pop3d.err" local

	# systemd sets REMOTE_ADDR: behind a balancer, the balancer's address.
	export REMOTE_ADDR=203.0.113.9
	header v2 unspec
	run -0 proxy_smtp -- "HELO client.example" QUIT
	assert_reply 1 "250 OK Hello client.example"
	assert_peer "$BATS_TEST_TMPDIR/smtpd.err" 203.0.113.9
	header v1 192.0.2.7 198.51.100.1 56324 25
	run -0 proxy_smtp -- "HELO client.example" QUIT
	assert_peer "$BATS_TEST_TMPDIR/smtpd.err" 192.0.2.7
	header v2 2001:db8::7 2001:db8::1 1234 110
	run -0 proxy_pop3 -- "USER labxyz" "PASS labpass" QUIT
	assert_peer "$BATS_TEST_TMPDIR/pop3d.err" 2001:db8::7
}

@test "on a socket: a header's address replaces the connection's peer; after v2 LOCAL or v1 UNKNOWN the connection's peer stands" {
	local log=$BATS_TEST_TMPDIR/spawn.log
	local smtpd=("$SMTPD" -d "$MAILROOT" -n test.example -P)
	header v2 192.0.2.7 198.51.100.1 56324 25
	run -0 spawn "HELO client.example" QUIT -- "${smtpd[@]}"
	assert_output "220 test.example Service ready
250 OK Hello client.example
221 test.example Service closing transmission channel
exit 0"
	assert_peer "$log" 192.0.2.7
	header v2 local
	run -0 spawn "HELO client.example" QUIT -- "${smtpd[@]}"
	assert_line --index 1 "250 OK Hello client.example"
	assert_peer "$log" 127.0.0.2
	header v1 unknown
	run -0 spawn --pop3 "USER labxyz" "PASS labpass" QUIT -- \
	    "$POP3D" -d "$MAILROOT" -n test.example -f 0 -P
	assert_line --index 2 "+OK maildrop has 0 messages (0 octets)"
	assert_peer "$log" 127.0.0.2
}

# --- bad headers -----------------------------------------------------------

@test "a malformed header, or none: no reply at all, the session closed (exit 0), a proxy warning saying what is wrong, nothing delivered" {
	local name bytes why
	local mail=("HELO client.example" "MAIL FROM:<a@client.example>"
	    "RCPT TO:<bob@test.example>" DATA "Subject: x" "" body . QUIT)
	put_messages labxyz one
	while IFS='|' read -r name bytes why; do
		case $bytes in
		v1* | v2* | --*)
			# shellcheck disable=SC2086 # bytes is words on purpose
			header $bytes
			;;
		*) printf '%b' "$bytes" >"$H" ;;
		esac
		run -0 proxy_smtp -- "${mail[@]}"
		if [[ -n $output || -s $BATS_TEST_TMPDIR/smtpd.out ]]; then
			fail "$name: smtpd replied: $output"
		fi
		assert_dropped "$BATS_TEST_TMPDIR/smtpd.err" "bad PROXY header: $why"
		run -0 proxy_pop3 -- "USER labxyz" "PASS labpass" "DELE 1" QUIT
		if [[ -n $output || -s $BATS_TEST_TMPDIR/pop3d.out ]]; then
			fail "$name: pop3d replied: $output"
		fi
		assert_dropped "$BATS_TEST_TMPDIR/pop3d.err" "bad PROXY header: $why"
	done <<-'EOF'
	v1 bad port|PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n|bad v1 source port \(44 bytes read\)
	v1 bad address|PROXY TCP4 2001:db8::7 198.51.100.1 1 25\r\n|bad v1 source address \(42 bytes read\)
	v1 bad destination|PROXY TCP4 192.0.2.7 198.51.100.256 1 25\r\n|bad v1 destination address \(42 bytes read\)
	v1 bare LF|PROXY TCP4 192.0.2.7 198.51.100.1 1 25\n|v1 line ends in a bare LF \(39 bytes read\)
	v1 lower case|PROXY tcp4 192.0.2.7 198.51.100.1 1 25\r\n|v1 protocol not TCP4, TCP6 or UNKNOWN \(40 bytes read\)
	v1 no CR LF in 107 bytes|PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n|no CR LF in the first 107 bytes of a v1 line \(107 bytes read\)
	v2 version 1|--ver-cmd 0x11 v2 192.0.2.7 198.51.100.1 1 25|v2 signature with a version other than 2 \(16 bytes read\)
	v2 command 2|--ver-cmd 0x22 v2 192.0.2.7 198.51.100.1 1 25|v2 command neither LOCAL nor PROXY \(28 bytes read\)
	v2 family 4|--fam 0x41 v2 192.0.2.7 198.51.100.1 1 25|unknown v2 address family \(28 bytes read\)
	v2 too short|--len 8 v2 192.0.2.7 198.51.100.1 1 25|v2 length too short for its address family \(24 bytes read\)
	v2 too long|--len 4096 v2 192.0.2.7 198.51.100.1 1 25|v2 header longer than 2048 bytes after its first 16 \(16 bytes read\)
	v2 bad TLV|--tlv 1=smtp --len 18 v2 192.0.2.7 198.51.100.1 1 25|v2 TLV runs past the header \(34 bytes read\)
	no header|HELO client.example\r\n|not a PROXY header \(1 byte read\)
	EOF
	refute_mailbox bob
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

@test "a header cut off by the end of input: no reply, the session closed, logged with how much came" {
	header v1 192.0.2.7 198.51.100.1 56324 25
	head -c 20 "$H" >"$H.cut" && mv "$H.cut" "$H"
	run -0 proxy_smtp
	assert_output ""
	assert_log "$BATS_TEST_TMPDIR/smtpd.err" 'warning proxy: PROXY header cut off: the input ended after 20 bytes; session closed peer=local$'
	assert_log "$BATS_TEST_TMPDIR/smtpd.err" ' connect: ' 0
	header v2 2001:db8::7 2001:db8::1 1234 110
	head -c 30 "$H" >"$H.cut" && mv "$H.cut" "$H"
	run -0 proxy_pop3
	assert_output ""
	assert_log "$BATS_TEST_TMPDIR/pop3d.err" 'warning proxy: PROXY header cut off: the input ended after 30 bytes; session closed peer=local$'
	# A connection closed before its first byte (a balancer's plain TCP
	# check) is not a warning.
	: >"$H"
	run -0 proxy_smtp
	assert_output ""
	assert_log "$BATS_TEST_TMPDIR/smtpd.err" 'info proxy: no PROXY header: the input ended first; session closed peer=local$'
}

@test "a slow header is cut off after -t, however it trickles, with no reply" {
	# Half a header, then silence.
	run -0 timed smtpd_filter -P -t 1 < <(exec 3>&-; printf 'PROXY TCP4 192.0'; sleep 4)
	assert_output ""
	assert_elapsed 1 3
	assert_log "$BATS_TEST_TMPDIR/smtpd.err" 'warning proxy: PROXY header not complete within 1 s \(16 bytes read\); session closed peer=local$'
	assert_log "$BATS_TEST_TMPDIR/smtpd.err" ' connect: ' 0

	# A byte every 0.3 s: the deadline is the whole header's, not a
	# read's. The writer stops when the handler has gone.
	trickle() {
		local s=$1 i
		for ((i = 0; i < ${#s}; i++)); do
			printf %s "${s:i:1}" 2>/dev/null || return 0
			sleep 0.3
		done
	}
	run -0 timed pop3d_filter -P -t 2 < <(exec 3>&-; trickle $'PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\nUSER labxyz\r\n')
	assert_output ""
	assert_elapsed 2 4
	assert_log "$BATS_TEST_TMPDIR/pop3d.err" 'warning proxy: PROXY header not complete within 2 s \([0-9]+ bytes read\); session closed peer=local$'
}

# --- without -P --------------------------------------------------------------

@test "without -P a v1 header is an unknown command, and the session goes on" {
	run -0 smtp_session "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25" "HELO client.example" QUIT
	assert_reply 1 "$SMTP_500"
	assert_reply 2 "250 OK Hello client.example"
	assert_peer "$BATS_TEST_TMPDIR/smtpd.err" local
	run -0 pop3_session "PROXY TCP4 192.0.2.7 198.51.100.1 56324 110" "USER labxyz" "PASS labpass" QUIT
	assert_reply 1 "-ERR unrecognized command"
	assert_reply 3 "+OK maildrop has 0 messages (0 octets)"
	assert_peer "$BATS_TEST_TMPDIR/pop3d.err" local
}

# Spec 2.2: the v2 signature is CR LF CR LF NUL CR LF "QUIT" LF, so that a
# server without PROXY support ends the session before the binary part.
@test "without -P a v2 header is two empty commands, a NUL and QUIT: the session ends cleanly, nothing after it is read" {
	local mail=("HELO client.example" "MAIL FROM:<a@client.example>"
	    "RCPT TO:<bob@test.example>" DATA "Subject: x" "" body . QUIT)
	put_messages labxyz one
	header v2 192.0.2.7 198.51.100.1 56324 25
	run -0 smtpd_filter < <(cat "$H"; printf '%s\r\n' "${mail[@]}")
	assert_output "220 test.example Service ready
$SMTP_500
$SMTP_500
500 Syntax error, NUL character in command
221 test.example Service closing transmission channel"
	assert_wire_ok
	refute_mailbox bob
	run -0 pop3d_filter < <(cat "$H"; printf '%s\r\n' "USER labxyz" "PASS labpass" "DELE 1" QUIT)
	assert_output "+OK POP3 server is ready
-ERR unrecognized command
-ERR unrecognized command
-ERR NUL character in command
$GOODBYE"
	assert_wire_ok
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

# --- -R and TLS --------------------------------------------------------------

@test "-R is judged on the header's client: 192.0.2.7 through loopback is refused before TLS; 127.0.0.1, ::1 and v2 LOCAL are not" {
	local log=$BATS_TEST_TMPDIR/spawn.log spec want
	local pop3d=("$POP3D" -d "$MAILROOT" -n test.example -f 0 -P -R -C "$CERT" -K "$KEY")
	put_messages labxyz one
	header v2 192.0.2.7 127.0.0.1 40000 110
	run -0 spawn --pop3 --cafile "$CERT" "USER labxyz" "PASS labpass" STLS @tls \
	    "USER labxyz" "PASS labpass" QUIT -- "${pop3d[@]}"
	assert_output "+OK POP3 server is ready
$REFUSED
$REFUSED
+OK Begin TLS negotiation
+OK send PASS
+OK maildrop has 1 messages (164 octets)
$GOODBYE
exit 0"
	assert_peer "$log" 192.0.2.7
	assert_log "$log" 'info auth-refused: .* peer=192\.0\.2\.7$' 2
	assert_log "$log" 'info tls: TLS started: TLSv1\.[23], '

	# A pipe is local, but not the client a header names on it.
	run -0 proxy_pop3 -R -C "$CERT" -K "$KEY" -- "USER labxyz" "PASS labpass" QUIT
	assert_reply 1 "$REFUSED"
	assert_reply 2 "$REFUSED"

	while IFS='|' read -r spec want; do
		# shellcheck disable=SC2086 # spec is words on purpose
		header $spec
		run -0 spawn --pop3 "USER labxyz" "PASS labpass" QUIT -- "${pop3d[@]}"
		assert_line --index 1 "$want"
	done <<-EOF
	v1 127.0.0.1 127.0.0.1 40000 110|+OK send PASS
	v1 127.0.0.2 127.0.0.1 40000 110|+OK send PASS
	v2 ::1 ::1 40000 110|+OK send PASS
	v1 ::ffff:127.0.0.1 ::ffff:127.0.0.1 40000 110|+OK send PASS
	v2 ::ffff:192.0.2.7 ::ffff:127.0.0.1 40000 110|$REFUSED
	v2 2001:db8::7 ::1 40000 110|$REFUSED
	v2 local|+OK send PASS
	v1 unknown|+OK send PASS
	EOF
	cmp "$D/one.msg" "$(mailbox labxyz)"
}

@test "-S: the header comes first, then the TLS handshake; a ClientHello where the header belongs is dropped" {
	local log=$BATS_TEST_TMPDIR/spawn.log
	local pop3s=("$POP3D" -d "$MAILROOT" -n test.example -f 0 -P -R -S -C "$CERT" -K "$KEY")
	put_messages labxyz one
	header v1 192.0.2.7 198.51.100.1 56324 995
	run -0 spawn --pop3 --implicit --cafile "$CERT" "USER labxyz" "PASS labpass" QUIT \
	    -- "${pop3s[@]}"
	assert_output "+OK POP3 server is ready
+OK send PASS
+OK maildrop has 1 messages (164 octets)
$GOODBYE
exit 0"
	assert_peer "$log" 192.0.2.7
	assert_log "$log" 'info tls: TLS started: TLSv1\.[23], '
	assert_log "$log" 'info login: labxyz: .* peer=192\.0\.2\.7 user=labxyz$'

	# No header: the handshake's first byte is not one.
	: >"$H"
	run -5 spawn --pop3 --implicit --cafile "$CERT" "USER labxyz" -- "${pop3s[@]}"
	assert_line --index 0 --regexp '^<tls error: '
	assert_line --index 1 "exit 0"
	assert_log "$log" 'warning proxy: bad PROXY header: not a PROXY header \(1 byte read\); session closed peer=127\.0\.0\.2$'
	assert_log "$log" ' connect: ' 0
	assert_log "$log" 'TLS' 0
}

# --- HAProxy -------------------------------------------------------------------

@test "behind HAProxy, send-proxy and send-proxy-v2 give the handlers the client's address" {
	local cfg=$BATS_TEST_TMPDIR/haproxy.cfg fe1 fe2 i
	command -v haproxy >/dev/null || skip "haproxy is not installed"
	start_listener SMTPD "$BIN/smtpd" -P
	start_listener POP3D "$BIN/pop3d" -f 0 -P
	fe1=$(free_port) && fe2=$(free_port)
	cat >"$cfg" <<-EOF
	defaults
	    mode tcp
	    timeout connect 5s
	    timeout client 30s
	    timeout server 30s
	frontend smtp
	    bind 127.0.0.1:$fe1
	    default_backend smtp
	backend smtp
	    server s 127.0.0.1:$SMTPD_PORT send-proxy
	frontend pop3
	    bind 127.0.0.1:$fe2
	    default_backend pop3
	backend pop3
	    server p 127.0.0.1:$POP3D_PORT send-proxy-v2
	EOF
	haproxy -db -f "$cfg" </dev/null >"$BATS_TEST_TMPDIR/haproxy.log" 2>&1 3>&- &
	HAPROXY_PID=$!
	for i in $(seq 1 100); do
		port_listening "$fe1" && port_listening "$fe2" && break
		sleep 0.05
	done
	if ! port_listening "$fe1" || ! port_listening "$fe2"; then
		cat "$BATS_TEST_TMPDIR/haproxy.log" >&2
		fail "haproxy did not start"
	fi

	# From 127.0.0.2; HAProxy's own connections come from 127.0.0.1.
	run -0 timeout 60 "$PYTHON" "$TOOLS/tlsclient.py" chat --source 127.0.0.2 \
	    --connect "$fe1" "HELO client.example" QUIT
	assert_line --index 1 "250 OK Hello client.example"
	run -0 timeout 60 "$PYTHON" "$TOOLS/tlsclient.py" chat --pop3 --source 127.0.0.2 \
	    --connect "$fe2" "USER labxyz" "PASS labpass" QUIT
	assert_line --index 2 "+OK maildrop has 0 messages (0 octets)"
	for i in $(seq 1 100); do
		grep -q ' disconnect: ' "$SMTPD_LOG" && grep -q ' disconnect: ' "$POP3D_LOG" && break
		sleep 0.05
	done
	assert_log "$SMTPD_LOG" ' info connect: session started peer=127\.0\.0\.2$'
	assert_log "$SMTPD_LOG" ' info disconnect: session ended peer=127\.0\.0\.2$'
	assert_log "$POP3D_LOG" ' info login: labxyz: .* peer=127\.0\.0\.2 user=labxyz$'
	assert_log "$SMTPD_LOG" 'peer=127\.0\.0\.1' 0
	assert_log "$POP3D_LOG" 'peer=127\.0\.0\.1' 0
}
