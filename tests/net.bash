# shellcheck shell=bash
# Helpers for driving the handlers over a real socket (and, for the
# suites that also want it, over a pipe). Loaded after helpers:
#
#	load helpers
#	load net
#
# start_smtpd and start_pop3d run a handler under `systemd-socket-activate
# --accept --inetd` on a free loopback port, as the seed launchers do;
# stop_smtpd and stop_pop3d (call them from teardown) end those listeners.
# Every wait below is bounded.

# The Debian python3, whose smtplib is the one a Debian user has; any
# python3 on PATH otherwise.
if [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
else
	PYTHON=python3
fi
# shellcheck disable=SC2034,SC2154 # used by the suites; set in helpers.bash
TOOLS="$abs_top_srcdir/tests/tools"

# free_port [HOST]: print a TCP port on HOST (127.0.0.1, or ::1) that is
# free right now.
free_port() {
	"$PYTHON" -c 'import socket, sys
host = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.bind((host, 0))
print(s.getsockname()[1])
s.close()' "${1:-127.0.0.1}"
}

# port_listening PORT [HOST]: whether something listens on HOST:PORT
# (127.0.0.1 or ::1). Reads /proc/net/tcp{,6} rather than connecting, so
# that checking does not spawn a handler (and a "connect" log line).
port_listening() {
	local hex table=/proc/net/tcp
	if [ "${2:-127.0.0.1}" = ::1 ]; then
		hex=$(printf '00000000000000000000000001000000:%04X' "$1")
		table=/proc/net/tcp6
	else
		hex=$(printf '0100007F:%04X' "$1")
	fi
	awk -v want="$hex" '$2 == want && $4 == "0A" { found = 1 }
		END { exit !found }' "$table" 2>/dev/null
}

# start_listener NAME HANDLER [ARGS...]: serve HANDLER -d $MAILROOT -n
# test.example [ARGS] on a free port of $LISTEN_HOST (127.0.0.1 unless
# set; ::1 works too), one handler per connection, and set NAME_PORT,
# NAME_PID and NAME_LOG (the handlers' stderr). Retries on another port
# when the chosen one was taken in the meantime; fails after 5 attempts.
start_listener() {
	local name=$1 handler=$2 host=${LISTEN_HOST:-127.0.0.1} attempt port
	local pid log addr
	shift 2
	log="$BATS_TEST_TMPDIR/${name,,}.log"
	: >"$log"
	printf -v "${name}_LOG" %s "$log"
	for attempt in 1 2 3 4 5; do
		port=$(free_port "$host") || return 1
		addr="$host:$port"
		[ "$host" = ::1 ] && addr="[::1]:$port"
		# fd 3 is bats' own output: a background job must not hold it.
		# systemd-socket-activate passes on only what -E names: the
		# sanitizers' options (make check's) and the time zone.
		systemd-socket-activate --accept --inetd -l "$addr" \
		    -E ASAN_OPTIONS -E UBSAN_OPTIONS -E TZ -- \
		    "$handler" -d "$MAILROOT" -n test.example "$@" \
		    </dev/null >/dev/null 2>>"$log" 3>&- &
		pid=$!
		printf -v "${name}_PORT" %s "$port"
		printf -v "${name}_PID" %s "$pid"
		# Up to 5 s for the listener to come up (or die on a clash).
		for _ in $(seq 1 100); do
			if port_listening "$port" "$host"; then
				return 0
			fi
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			sleep 0.05
		done
		stop_listener "$name"
		echo "start_listener: $name attempt $attempt on $addr failed" >&2
	done
	echo "start_listener: $name: no listener after 5 attempts:" >&2
	cat "$log" >&2
	return 1
}

# stop_listener NAME: end the listener started by start_listener, if any,
# and wait (at most ~5 s) until it is gone. Handlers already running finish
# on their own when their client hangs up.
stop_listener() {
	local var="${1}_PID" pid
	pid=${!var:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	printf -v "$var" %s ""
}

# assert_log LOG REGEXP [COUNT]: LOG has COUNT (default 1) lines matching
# the extended REGEXP.
assert_log() {
	local n
	n=$(grep -c -E -- "$2" "$1" || true)
	if ((n != ${3:-1})); then
		batslib_decorate "$n lines match /$2/, expected ${3:-1}" <"$1" | fail
	fi
}

# start_smtpd [ARGS...] / stop_smtpd: sockmail-smtpd on $PORT (SMTPD_PID,
# SMTPD_LOG).
start_smtpd() {
	# shellcheck disable=SC2034 # PORT is the suites'
	start_listener SMTPD "$SMTPD" "$@" && PORT=$SMTPD_PORT
}

stop_smtpd() {
	stop_listener SMTPD
}

# start_pop3d [ARGS...] / stop_pop3d: sockmail-pop3d, with no delay after
# a failed login unless ARGS set -f, on $POP3D_PORT (POP3D_PID, POP3D_LOG).
start_pop3d() {
	start_listener POP3D "$POP3D" -f 0 "$@"
}

stop_pop3d() {
	stop_listener POP3D
}

# smtpd_log_lines: the handler's own log lines from SMTPD_LOG, without the
# messages of systemd-socket-activate itself.
smtpd_log_lines() {
	grep -v -e '^Listening on ' -e '^Communication attempt on fd ' \
	    -e '^Connection from ' -e '^Spawned ' -e '^Execing ' \
	    -e '^Child [0-9]* died ' -e '^Received SIG' "$SMTPD_LOG" || true
}

# smtpd_pipe [-a 'HANDLER ARGS'] LINE...: send LINEs (CRLF added) to the
# handler over a pipe and print its replies with the CR removed, one a
# line. Fails with a message if a reply line does not end in CRLF. The
# handler's stderr goes to $BATS_TEST_TMPDIR/pipe.log.
smtpd_pipe() {
	local out="$BATS_TEST_TMPDIR/pipe.out" status=0
	printf '%s\r\n' "$@" |
	    timeout 20 "$SMTPD" -d "$MAILROOT" -n test.example \
	    >"$out" 2>>"$BATS_TEST_TMPDIR/pipe.log" || status=$?
	if grep -qv $'\r$' "$out"; then
		echo "smtpd_pipe: a reply line does not end in CRLF" >&2
		status=99
	fi
	tr -d '\r' <"$out"
	return "$status"
}

# assert_swaks_mail LOGIN SUBJECT: LOGIN's mailbox holds the one message
# swaks sends with --from a@b --to LOGIN@x --header "Subject: SUBJECT"
# --body 'Sent by swaks.', its own headers kept after the three that move
# to the top (their values, which change, as X).
assert_swaks_mail() {
	run sed -E -e 's/^(Date|Message-Id|X-Mailer): .*/\1: X/' \
	    -e 's/^Received: .*/Received: <time>/' "$(mailbox "$1")"
	assert_output "From: a@b
To: $1@x
Subject: $2
Received: <time>
Date: X
Message-Id: X
X-Mailer: X

Sent by swaks.


."
}

# fetchmail_rc [--server OPTIONS] [OPTION...]: write
# $BATS_TEST_TMPDIR/fetchmailrc for labxyz on $FETCHMAIL_PORT (default
# $POP3D_PORT), delivering each message to its own file out/N through the
# MDA $BATS_TEST_TMPDIR/mda, with the server OPTIONS on the poll line and
# the user OPTIONs after the user. fetchmail 6.4 requires TLS by default
# (sslproto 'auto' sends STLS even when CAPA does not offer it, and gives
# up when it is refused): $FETCHMAIL_TLS, default sslproto "" (no TLS),
# says what to do instead. "set invisible" keeps fetchmail from adding its
# own Received: line, so a file holds the message as served.
fetchmail_rc() {
	local dir=$BATS_TEST_TMPDIR server='' tls=${FETCHMAIL_TLS:-'sslproto ""'}
	if [[ ${1-} == --server ]]; then
		server=$2
		shift 2
	fi
	mkdir -p "$dir/out" "$dir/home"
	cat >"$dir/mda" <<-EOF
	#!/bin/sh
	# One file per message, numbered in delivery order.
	n=\$(ls "$dir/out" | wc -l)
	cat >"$dir/out/\$((n + 1))"
	EOF
	chmod +x "$dir/mda"
	cat >"$dir/fetchmailrc" <<-EOF
	set no syslog
	set invisible
	poll 127.0.0.1 port ${FETCHMAIL_PORT:-$POP3D_PORT} protocol pop3 $server
	    user "labxyz" password "labpass"
	    $tls mda "$dir/mda" $*
	EOF
	chmod 0600 "$dir/fetchmailrc"
}

# run_fetchmail [OPTION...]: run fetchmail once with the fetchmailrc, its
# state (.fetchids, lock) in a HOME of the test's own.
run_fetchmail() {
	HOME=$BATS_TEST_TMPDIR/home timeout 60 fetchmail --nodetach \
	    -f "$BATS_TEST_TMPDIR/fetchmailrc" \
	    --pidfile "$BATS_TEST_TMPDIR/home/fetchmail.pid" "$@" 2>&1 |
		grep -v 'Running as root is discouraged'
	return "${PIPESTATUS[0]}"
}

# make_cert KEY CERT [SAN]: a self-signed EC certificate for localhost and
# 127.0.0.1, or for the subjectAltName SAN (e.g.
# DNS:localhost,IP:127.0.0.1,IP:192.0.2.1), two days long; openssl's
# complaints in $BATS_FILE_TMPDIR/openssl.err.
make_cert() {
	timeout 60 openssl req -x509 -newkey ec \
	    -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
	    -addext "subjectAltName=${3:-DNS:localhost,IP:127.0.0.1}" \
	    -keyout "$1" -out "$2" 2>"$BATS_FILE_TMPDIR/openssl.err"
}

# need_netns: skip the test unless a network namespace can be made (root,
# unshare and ip); with SOCKMAIL_REQUIRE_NETNS=1, fail instead. In one, a
# TEST-NET address (192.0.2.0/24) put on lo is a peer that is not on
# loopback, though nothing leaves the machine.
need_netns() {
	local why=
	if ((EUID != 0)); then
		why="not root"
	elif ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
		why="unshare or ip is missing"
	elif ! why=$(timeout 20 unshare --net ip link set lo up 2>&1); then
		why="unshare --net failed: $why"
	else
		return 0
	fi
	if [[ ${SOCKMAIL_REQUIRE_NETNS-} == 1 ]]; then
		fail "SOCKMAIL_REQUIRE_NETNS=1, but no network namespace: $why"
	fi
	skip "a non-loopback peer needs a network namespace: $why"
}

# handler_wrappers [--cert]: setup_file's part for the suites that run the
# handlers under systemd-socket-activate: $BIN/smtpd and $BIN/pop3d
# (make_wrapper), and with --cert a certificate $CERT and its key $KEY.
handler_wrappers() {
	if [[ ${1-} == --cert ]] && ! make_cert "$KEY" "$CERT"; then
		cat "$BATS_FILE_TMPDIR/openssl.err" >&2
		return 1
	fi
	mkdir -p "$BIN"
	# shellcheck disable=SC2153 # both set by helpers.bash
	make_wrapper smtpd "$SMTPD"
	make_wrapper pop3d "$POP3D"
}

# make_wrapper NAME PROGRAM [VAR=VALUE...]: $BIN/NAME, which execs PROGRAM
# with the log on stderr, this run's sanitizer options and each VAR:
# systemd-socket-activate passes no environment on.
make_wrapper() {
	local name=$1 program=$2 v
	shift 2
	{
		printf '#!/bin/sh\nSOCKMAIL_LOG=stderr; export SOCKMAIL_LOG\n'
		for v in "$@"; do
			printf '%s=%q; export %s\n' "${v%%=*}" "${v#*=}" "${v%%=*}"
		done
		for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
			if [[ -n ${!v-} ]]; then
				printf '%s=%q; export %s\n' "$v" "${!v}" "$v"
			fi
		done
		printf 'exec %q "$@"\n' "$program"
	} >"$BIN/$name"
	chmod +x "$BIN/$name"
}

# make_pki DIR: a small PKI for the TLS client tests, every key ECDSA
# P-256, made with the openssl CLI (each call bounded; openssl's
# complaints in DIR/openssl.err, shown when a step fails):
#   ca.pem, ca.key            a test CA, valid from 30 days ago for 32 days
#   good.pem, good.key        signed by it for DNS:localhost, IP:127.0.0.1,
#                             IP:::1 and IP:192.0.2.1, valid for 2 days
#   wrongname.pem, .key       signed by it for DNS:mail.example.org only
#   expired.pem, .key         signed by it for localhost and 127.0.0.1,
#                             valid from 20 days ago to 10 days ago
#   other-ca.pem, .key        a second CA, trusted by no test
#   untrusted.pem, .key       signed by other-ca for localhost, 127.0.0.1
# openssl 3.0's x509 cannot set a start date in the past, so every
# certificate is issued by `openssl ca` with a minimal configuration of
# our own (the system's openssl.cnf plays no part). Fails unless `openssl
# verify` agrees with what each certificate is for.
make_pki() {
	local dir=$1 err=$1/openssl.err now
	mkdir -p "$dir" && : >"$err" || return 1
	now=$(date -u +%s) || return 1
	if ! _pki_ca "$dir" ca "sockmail test CA" "$now" ||
	    ! _pki_ca "$dir" other-ca "sockmail other CA" "$now" ||
	    ! _pki_leaf "$dir" ca good localhost \
	    DNS:localhost,IP:127.0.0.1,IP:::1,IP:192.0.2.1 \
	    "$((now - 3600))" "$((now + 2 * 86400))" ||
	    ! _pki_leaf "$dir" ca wrongname mail.example.org \
	    DNS:mail.example.org "$((now - 3600))" "$((now + 2 * 86400))" ||
	    ! _pki_leaf "$dir" ca expired localhost DNS:localhost,IP:127.0.0.1 \
	    "$((now - 20 * 86400))" "$((now - 10 * 86400))" ||
	    ! _pki_leaf "$dir" other-ca untrusted localhost \
	    DNS:localhost,IP:127.0.0.1 "$((now - 3600))" \
	    "$((now + 2 * 86400))" ||
	    ! _pki_check "$dir"; then
		echo "make_pki: failed; openssl said:" >&2
		cat "$err" >&2
		return 1
	fi
}

# _pki_time EPOCH: EPOCH as openssl ca's -startdate/-enddate want it.
_pki_time() {
	date -u -d "@$1" +%Y%m%d%H%M%SZ
}

# _pki_openssl DIR ARG...: openssl ARGs, bounded, its stderr added to
# DIR/openssl.err. PKI_SAN is the leaf's subjectAltName; the
# configuration names it, so it must be set even where it is not used.
_pki_openssl() {
	local dir=$1
	shift
	PKI_SAN=${PKI_SAN:-DNS:unused} timeout 60 openssl "$@" \
	    2>>"$dir/openssl.err" </dev/null
}

# _pki_ca DIR NAME CN NOW: the self-signed CA DIR/NAME.pem (+ NAME.key) and
# its `openssl ca` state in DIR/NAME.d: NAME.d/ca.cnf issues certificates
# with any subject, no extensions but those of the section named by
# -extensions.
_pki_ca() {
	local dir=$1 name=$2 cn=$3 now=$4 d=$1/$2.d
	mkdir -p "$d/new" || return 1
	: >"$d/index.txt" || return 1
	cat >"$d/ca.cnf" <<-EOF || return 1
	[ca]
	default_ca = this_ca
	[this_ca]
	dir = $d
	database = \$dir/index.txt
	new_certs_dir = \$dir/new
	certificate = $dir/$name.pem
	private_key = $dir/$name.key
	rand_serial = yes
	unique_subject = no
	default_md = sha256
	policy = any_subject
	copy_extensions = none
	email_in_dn = no
	[any_subject]
	commonName = supplied
	[req]
	distinguished_name = dn
	prompt = no
	[dn]
	CN = unused
	[ca_ext]
	basicConstraints = critical, CA:TRUE
	keyUsage = critical, keyCertSign, cRLSign
	subjectKeyIdentifier = hash
	[leaf_ext]
	basicConstraints = critical, CA:FALSE
	keyUsage = critical, digitalSignature
	extendedKeyUsage = serverAuth
	subjectKeyIdentifier = hash
	authorityKeyIdentifier = keyid
	subjectAltName = \${ENV::PKI_SAN}
	EOF
	_pki_openssl "$dir" genpkey -algorithm EC \
	    -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key" &&
	    _pki_openssl "$dir" req -new -config "$d/ca.cnf" \
	    -key "$dir/$name.key" -subj "/CN=$cn" -out "$d/$name.csr" &&
	    _pki_openssl "$dir" ca -batch -notext \
	    -config "$d/ca.cnf" -selfsign -keyfile "$dir/$name.key" \
	    -in "$d/$name.csr" -extensions ca_ext \
	    -startdate "$(_pki_time "$((now - 30 * 86400))")" \
	    -enddate "$(_pki_time "$((now + 2 * 86400))")" \
	    -out "$dir/$name.pem" >/dev/null
}

# _pki_leaf DIR CA NAME CN SAN START END: DIR/NAME.pem (+ NAME.key) for
# the subjectAltName SAN, signed by DIR/CA.pem, valid from START to END
# (seconds since the epoch).
_pki_leaf() {
	local dir=$1 ca=$2 name=$3 cn=$4 san=$5 start=$6 end=$7
	_pki_openssl "$dir" genpkey -algorithm EC \
	    -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key" &&
	    _pki_openssl "$dir" req -new -config "$dir/$ca.d/ca.cnf" \
	    -key "$dir/$name.key" -subj "/CN=$cn" -out "$dir/$ca.d/$name.csr" &&
	    PKI_SAN=$san _pki_openssl "$dir" ca -batch -notext \
	    -config "$dir/$ca.d/ca.cnf" -in "$dir/$ca.d/$name.csr" \
	    -extensions leaf_ext -startdate "$(_pki_time "$start")" \
	    -enddate "$(_pki_time "$end")" -out "$dir/$name.pem" >/dev/null
}

# _pki_check DIR: openssl verify agrees: good and wrongname chain to ca,
# untrusted to other-ca and not to ca; expired has expired; only good is
# for localhost.
_pki_check() {
	local dir=$1 out
	_pki_openssl "$dir" verify -CAfile "$dir/ca.pem" -verify_hostname localhost \
	    -verify_ip 127.0.0.1 "$dir/good.pem" >/dev/null &&
	    _pki_openssl "$dir" verify -CAfile "$dir/ca.pem" "$dir/wrongname.pem" \
	    >/dev/null &&
	    ! _pki_openssl "$dir" verify -CAfile "$dir/ca.pem" \
	    -verify_hostname localhost "$dir/wrongname.pem" >/dev/null &&
	    _pki_openssl "$dir" verify -CAfile "$dir/other-ca.pem" \
	    -verify_hostname localhost "$dir/untrusted.pem" >/dev/null &&
	    ! _pki_openssl "$dir" verify -CAfile "$dir/ca.pem" "$dir/untrusted.pem" \
	    >/dev/null || return 1
	out=$(timeout 60 openssl verify -CAfile "$dir/ca.pem" "$dir/expired.pem" \
	    2>&1 </dev/null) && return 1
	if [[ $out != *"certificate has expired"* ]]; then
		printf 'expired.pem: %s\n' "$out" >>"$dir/openssl.err"
		return 1
	fi
}
