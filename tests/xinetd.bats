#!/usr/bin/env bats
# The xinetd files as the build generates them (README, "Running it for
# real"; sockmail-smtpd(8) and sockmail-pop3d(8) FILES), run by a real
# xinetd in the foreground: a copy of xinetd.d/sockmail-smtp,
# xinetd.d/sockmail-pop3 and xinetd.d/sockmail-pop3s with only what a test
# must change (enabled, an unlisted test port on 127.0.0.1, this user, the
# built handlers, and in the shipped server_args the test's mail root and
# certificate for the installed paths, plus -n and -f 0), then an SMTP +
# POP3 round trip through it. xinetd gives a handler the client on fds 0, 1
# and 2, so these tests also make sure that no log line ever reaches the
# client.
#
# Needs xinetd (Debian: xinetd); skips without it. The test of -R from an
# address off this machine runs xinetd in a network namespace of its own
# (unshare -n, root); it skips where that cannot be made.

load helpers
load net

setup_file() {
	# The POP3 services' certificate, made once.
	make_cert "$BATS_FILE_TMPDIR/key.pem" "$BATS_FILE_TMPDIR/cert.pem"
}

setup() {
	if ! command -v xinetd >/dev/null && [[ ! -x /usr/sbin/xinetd ]]; then
		skip "xinetd is not installed (Debian: apt-get install xinetd)"
	fi
	XINETD=$(command -v xinetd || echo /usr/sbin/xinetd)
	make_mailroot
	XINETD_PID=
	start_xinetd
}

teardown() {
	stop_xinetd
	stop_netns_xinetd
}

# service_file NAME PORT HANDLER ARGS...: the generated xinetd file NAME,
# changed for the test: enabled, UNLISTED on $XBIND (127.0.0.1 unless set)
# port PORT, run as this user (xinetd can only switch users as root) with
# the built HANDLER. Its server_args are the shipped ones with the test's
# mail root after -d and the test certificate and key after -C and -K,
# then ARGS. Fails if the file does not have the lines it changes, so a
# change in the shipped file's shape shows here.
service_file() {
	local name=$1 port=$2 handler=$3 f user group
	shift 3
	f=$abs_top_builddir/xinetd.d/$name
	if [[ $(id -u) == 0 ]]; then
		user="user = $(id -un)" group="group = $(id -gn)"
	else
		user='' group=''
	fi
	awk -v port="$port" -v server="$handler" -v args="$*" \
	    -v user="$user" -v group="$group" -v bind="${XBIND:-127.0.0.1}" \
	    -v root="$MAILROOT" -v cert="$BATS_FILE_TMPDIR/cert.pem" \
	    -v key="$BATS_FILE_TMPDIR/key.pem" '
		function shipped_args(	i, a) {
			a = "server_args ="
			for (i = 3; i <= NF; i++) {
				a = a " " $i
				if ($i == "-d" || $i == "-C" || $i == "-K") {
					i++
					a = a " " ($(i - 1) == "-d" ? root : \
					    $(i - 1) == "-C" ? cert : key)
				}
			}
			return a " " args
		}
		{ hit = 0 }
		$1 == "disable" { hit = 1; out = "disable = no" }
		$1 == "user" { hit = 1; out = user }
		$1 == "group" { hit = 1; out = group }
		$1 == "server" { hit = 1; out = "server = " server }
		$1 == "server_args" { hit = 1; out = shipped_args() }
		hit {
			seen[$1]++
			if (out != "")
				print "\t" out
			next
		}
		$1 == "}" {
			print "\ttype = UNLISTED"
			print "\tport = " port
			print "\tbind = " bind
		}
		{ print }
		END {
			n = split("disable user group server server_args", want)
			for (i = 1; i <= n; i++)
				if (seen[want[i]] != 1) {
					print "no single \"" want[i] "\" line" >"/dev/stderr"
					exit 1
				}
		}' "$f"
}

# start_xinetd: xinetd -dontfork over the test's config, with SMTP on
# SMTP_PORT, POP3 on POP3_PORT and pop3s on POP3S_PORT; waits (up to 10 s)
# until all listen.
# Tries other ports if one was taken meanwhile (3 attempts).
start_xinetd() {
	local attempt conf=$BATS_TEST_TMPDIR/xinetd.conf i
	XLOG=$BATS_TEST_TMPDIR/xinetd.log
	for attempt in 1 2 3; do
		SMTP_PORT=$(free_port)
		POP3_PORT=$(free_port)
		POP3S_PORT=$(free_port)
		[[ $SMTP_PORT != "$POP3_PORT" && $POP3S_PORT != "$SMTP_PORT" &&
		    $POP3S_PORT != "$POP3_PORT" ]] || continue
		{
			# Our own defaults: a log file, and a line for each
			# server's start and exit.
			printf 'defaults\n{\n\tlog_type = FILE %s\n%s\n}\n' \
			    "$XLOG" $'\tlog_on_success = PID HOST EXIT'
			service_file sockmail-smtp "$SMTP_PORT" "$SMTPD" \
			    -n test.example || return 1
			service_file sockmail-pop3 "$POP3_PORT" "$POP3D" \
			    -n test.example -f 0 || return 1
			service_file sockmail-pop3s "$POP3S_PORT" "$POP3D" \
			    -n test.example -f 0 || return 1
		} >"$conf"
		: >"$XLOG"
		"$XINETD" -dontfork -f "$conf" -pidfile "$BATS_TEST_TMPDIR/xinetd.pid" \
		    -filelog "$XLOG" </dev/null >"$BATS_TEST_TMPDIR/xinetd.out" \
		    2>&1 3>&- &
		XINETD_PID=$!
		for ((i = 0; i < 100; i++)); do
			if port_listening "$SMTP_PORT" && port_listening "$POP3_PORT" &&
			    port_listening "$POP3S_PORT" &&
			    grep -q 'Started working: 3 available services' "$XLOG"; then
				return 0
			fi
			kill -0 "$XINETD_PID" 2>/dev/null || break
			sleep 0.1
		done
		echo "# xinetd attempt $attempt (ports $SMTP_PORT, $POP3_PORT) failed:" >&2
		sed 's/^/#   /' "$XLOG" "$BATS_TEST_TMPDIR/xinetd.out" >&2
		stop_xinetd
	done
	echo "# xinetd did not start; its config:" >&2
	sed 's/^/#   /' "$conf" >&2
	return 1
}

# stop_xinetd: end xinetd (SIGTERM, then SIGKILL after 5 s), if it runs.
stop_xinetd() {
	local i
	[[ -n ${XINETD_PID-} ]] || return 0
	kill -TERM "$XINETD_PID" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$XINETD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$XINETD_PID" 2>/dev/null || true
	wait "$XINETD_PID" 2>/dev/null || true
	XINETD_PID=
}

# stop_netns_xinetd: end the xinetd of the network namespace test, if it
# outlived its script (a timeout).
stop_netns_xinetd() {
	local pid
	pid=$(cat "$BATS_TEST_TMPDIR/netns-xinetd.pid" 2>/dev/null) || return 0
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == xinetd ]] || return 0
	kill -KILL "$pid" 2>/dev/null || true
}

# wait_xlog TEXT N: wait (up to 5 s) until xinetd's log has N lines with
# TEXT; it logs a server's exit once it has reaped it.
wait_xlog() {
	local i
	for ((i = 0; i < 50; i++)); do
		(($(grep -c -F -- "$1" "$XLOG") >= $2)) && return 0
		sleep 0.1
	done
	cat "$XLOG" >&2
	fail "xinetd logged fewer than $2 lines with '$1'"
}

# assert_smtp_replies: every line of $output (smtpclient.py raw) is an SMTP
# reply, and there is at least one.
assert_smtp_replies() {
	assert [ -n "$output" ]
	if grep -n -v -E '^[2-5][0-9]{2}([ -].*)?$' <<<"$output"; then
		fail "a line above is not an SMTP reply"
	fi
}

@test "the generated xinetd files allow 64 servers, 8 from one address, and xinetd reads them without a complaint" {
	local f
	for f in sockmail-smtp sockmail-pop3 sockmail-pop3s; do
		run grep -E '^[[:space:]]*(instances|per_source|cps)[[:space:]]*=' \
		    "$abs_top_builddir/xinetd.d/$f"
		assert_success
		assert_line --regexp '^[[:space:]]*instances[[:space:]]*= *64$'
		assert_line --regexp '^[[:space:]]*per_source[[:space:]]*= *8$'
		assert_line --regexp '^[[:space:]]*cps[[:space:]]*= *[0-9]+ +[0-9]+$'
	done
	run cat "$XLOG" "$BATS_TEST_TMPDIR/xinetd.out"
	assert_line --partial 'Started working: 3 available services'
	refute_output --regexp '(ERROR|error|bad|Bad|Unknown|unknown|missing|invalid|not supported)'
}

@test "the generated POP3 and pop3s services both run with the installed certificate and -R" {
	local f args=()
	for f in sockmail-pop3 sockmail-pop3s; do
		run grep -E '^[[:space:]]*server_args[[:space:]]*=' \
		    "$abs_top_builddir/xinetd.d/$f"
		assert_success
		assert_output --regexp ' -C [^ ]+/fullchain\.pem -K [^ ]+/privkey\.pem( |$)'
		assert_output --regexp ' -R( |$)'
		args+=("$(grep -o -- '-C .* -K [^ ]*' <<<"$output")")
	done
	# The same files in both.
	assert_equal "${args[0]}" "${args[1]}"
	run grep -E '^[[:space:]]*server_args[[:space:]]*=' \
	    "$abs_top_builddir/xinetd.d/sockmail-pop3s"
	assert_output --regexp ' -S( |$)'
}

@test "an SMTP + POP3 round trip through xinetd delivers, retrieves and deletes a message, with only protocol lines on the wire" {
	run "$PYTHON" "$TOOLS/roundtrip.py" 127.0.0.1 "$SMTP_PORT" "$POP3_PORT" \
	    alice alicepw "tok-xinetd-$$"
	assert_success
	assert_line 'smtp wire ok (13 lines)'
	assert_line --regexp '^pop3 wire ok '
	assert_line 'round trip ok'
	# Delivered into the test's mail root by the built handler, and
	# taken out again by the POP3 handler (DELE, QUIT).
	assert [ -f "$(mailbox alice)" ]
	refute_mailbox alice
	# xinetd ran a server per connection, one SMTP and two POP3
	# sessions, and each one exited 0.
	wait_xlog 'EXIT: smtp ' 1
	wait_xlog 'EXIT: pop3 ' 2
	run grep -c ': START: smtp ' "$XLOG"
	assert_output 1
	run grep -c ': START: pop3 ' "$XLOG"
	assert_output 2
	run grep -c -E ': EXIT: (smtp|pop3) status=0 ' "$XLOG"
	assert_output 3
}

@test "through xinetd, rejects and errors are logged away from the client: every line the client gets is a reply" {
	# An unknown recipient, a bad command, a bad sequence: each one a
	# logged event, each one only a reply on the wire.
	run "$PYTHON" "$TOOLS/smtpclient.py" raw "$SMTP_PORT" <<-'EOF'
	EHLO client.example
	MAIL FROM:<a@client.example>
	RCPT TO:<nobody@test.example>
	RCPT TO:<bob@test.example>
	FROB
	DATA
	Subject: x

	body
	.
	QUIT
	EOF
	assert_success
	assert_smtp_replies
	assert_line --regexp '^550 '
	assert_line --regexp '^500 '
	assert_line --regexp '^250 2.0.0 OK'
	assert_line --regexp '^221 '
	mailbox_text bob | grep -q '^body$' || fail "bob got no mail"

	# A failed and a good POP3 login; every line a status line.
	exec 4<>"/dev/tcp/127.0.0.1/$POP3_PORT"
	printf '%s\r\n' 'USER bob' 'PASS wrong' 'USER bob' 'PASS bobpass' STAT QUIT >&4
	run timeout 15 cat <&4
	exec 4<&-
	assert_success
	if grep -n -v -E $'^(\\+OK|-ERR)( [^\r]*)?\r$' <<<"$output"; then
		fail "a line above is not a POP3 status line with CRLF"
	fi
	assert_line --index 0 --regexp '^\+OK '
	assert_line --index 2 --regexp '^-ERR '
	assert_line --index 4 --regexp '^\+OK '
	assert_line --index 5 --regexp $'^\\+OK 1 [0-9]+\r$'
	assert_line --index 6 --regexp '^\+OK '
	assert_equal "${#lines[@]}" 7
}

@test "through xinetd, pop3s speaks TLS from the first byte and serves the mail" {
	run "$PYTHON" "$TOOLS/smtpclient.py" raw "$SMTP_PORT" <<-'EOF'
	HELO client.example
	MAIL FROM:<a@client.example>
	RCPT TO:<bob@test.example>
	DATA
	Subject: over pop3s

	sealed
	.
	QUIT
	EOF
	assert_success
	run "$PYTHON" - "$POP3S_PORT" "$BATS_FILE_TMPDIR/cert.pem" <<-'EOF'
	import poplib, ssl, sys
	ctx = ssl.create_default_context(cafile=sys.argv[2])
	p = poplib.POP3_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=15)
	print(p.getwelcome().decode(), p.sock.version())
	p.user("bob")
	p.pass_("bobpass")
	print(b"\n".join(p.retr(1)[1]).decode())
	p.quit()
	EOF
	assert_success
	assert_line --index 0 --regexp '^\+OK POP3 server is ready TLSv1\.[23]$'
	assert_line sealed
	wait_xlog 'EXIT: pop3s ' 1
	run grep -c -E ': EXIT: pop3s status=0 ' "$XLOG"
	assert_output 1
}

# smtp_to_bob SUBJECT BODY: mail for bob through xinetd's SMTP service.
smtp_to_bob() {
	run "$PYTHON" "$TOOLS/smtpclient.py" raw "$SMTP_PORT" <<-EOF
	HELO client.example
	MAIL FROM:<a@client.example>
	RCPT TO:<bob@test.example>
	DATA
	Subject: $1

	$2
	.
	QUIT
	EOF
	assert_success
	assert_line --regexp '^250 OK Message accepted'
}

@test "through xinetd, the POP3 service offers STLS and serves the mail over it" {
	smtp_to_bob 'over STLS' 'sealed in transit'
	run "$PYTHON" - "$POP3_PORT" "$BATS_FILE_TMPDIR/cert.pem" <<-'EOF'
	import poplib, ssl, sys
	ctx = ssl.create_default_context(cafile=sys.argv[2])
	p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=15)
	print("capa", " ".join(sorted(p.capa())))
	p.stls(context=ctx)
	print("tls", p.sock.version())
	p.user("bob")
	p.pass_("bobpass")
	print(b"\n".join(p.retr(1)[1]).decode())
	p.quit()
	EOF
	assert_success
	assert_line --regexp '^capa .*(^| )STLS( |$)'
	assert_line --regexp '^tls TLSv1\.[23]$'
	assert_line 'sealed in transit'
	wait_xlog 'EXIT: pop3 ' 1
	run grep -c -E ': EXIT: pop3 status=0 ' "$XLOG"
	assert_output 1
}

@test "through xinetd, the POP3 service refuses USER and PASS in clear text from an address off this machine, and takes them over STLS" {
	local conf=$BATS_TEST_TMPDIR/netns.conf log=$BATS_TEST_TMPDIR/netns.log
	[[ $(id -u) == 0 ]] || skip "a network namespace of its own (unshare -n) needs root"
	command -v unshare >/dev/null && command -v ip >/dev/null ||
	    skip "needs unshare (util-linux) and ip (iproute2)"
	unshare -n true 2>/dev/null || skip "unshare -n does not work here"
	smtp_to_bob 'from afar' 'read from 192.0.2.2'
	# The shipped POP3 service on 192.0.2.1:110, in a network namespace
	# of its own where the loopback device also holds 192.0.2.1 and
	# 192.0.2.2 (TEST-NET-1): a client bound to 192.0.2.2 reaches it from
	# an address that is not on loopback, as far as the handler can tell.
	{
		printf 'defaults\n{\n\tlog_type = FILE %s\n%s\n}\n' "$log" \
		    $'\tlog_on_success = PID HOST EXIT'
		XBIND=192.0.2.1 service_file sockmail-pop3 110 "$POP3D" \
		    -n test.example -f 0 || return 1
	} >"$conf"
	: >"$log"
	run timeout -k 5 60 unshare -n bash -c '
		set -e
		ip link set lo up
		ip addr add 192.0.2.1/32 dev lo
		ip addr add 192.0.2.2/32 dev lo
		"$1" -dontfork -f "$2" -pidfile "$3" -filelog "$4" \
		    </dev/null >/dev/null 2>&1 &
		xpid=$!
		trap "kill $xpid 2>/dev/null; wait $xpid 2>/dev/null" EXIT
		for ((i = 0; i < 100; i++)); do
			grep -q "Started working: 1 available service" "$4" && break
			sleep 0.1
		done
		"$5" - "$6" <<-EOF
		import poplib, socket, ssl, sys

		class FromAfar(poplib.POP3):
		    def _create_socket(self, timeout):
		        return socket.create_connection((self.host, self.port),
		                                        timeout, ("192.0.2.2", 0))

		p = FromAfar("192.0.2.1", 110, timeout=15)
		print("capa", " ".join(sorted(p.capa())))
		for cmd in ("USER bob", "PASS bobpass"):
		    try:
		        print(cmd[:4], p._shortcmd(cmd).decode())
		    except poplib.error_proto as e:
		        print(cmd[:4], e.args[0].decode())
		ctx = ssl.create_default_context(cafile=sys.argv[1])
		# The test certificate names 127.0.0.1, not 192.0.2.1; the chain
		# is still checked.
		ctx.check_hostname = False
		p.stls(context=ctx)
		print("tls", p.sock.version())
		p.user("bob")
		p.pass_("bobpass")
		print(b"\n".join(p.retr(1)[1]).decode())
		p.quit()
		EOF
		# xinetd logs the exit once it has reaped the server.
		for ((i = 0; i < 100; i++)); do
			grep -q ": EXIT: pop3 " "$4" && break
			sleep 0.1
		done
	' _ "$XINETD" "$conf" "$BATS_TEST_TMPDIR/netns-xinetd.pid" "$log" \
	    "$PYTHON" "$BATS_FILE_TMPDIR/cert.pem"
	assert_success
	assert_line --regexp '^capa .*(^| )STLS( |$)'
	assert_line 'USER -ERR [AUTH] Authentication requires TLS (use STLS)'
	assert_line 'PASS -ERR [AUTH] Authentication requires TLS (use STLS)'
	assert_line --regexp '^tls TLSv1\.[23]$'
	assert_line 'read from 192.0.2.2'
	# xinetd saw the client at 192.0.2.2, and the session ended well.
	run grep -E ': START: pop3 .*from=192\.0\.2\.2' "$log"
	assert_success
	run grep -c -E ': EXIT: pop3 status=0 ' "$log"
	assert_output 1
}
