#!/usr/bin/env bats
# The write-up's launchers (README, "By hand"): `mailserver_smtp MY_PORT`
# and `popserver POP3_PORT`, run in a mail root as the current directory,
# serve the handlers there on that port; a wrong call is a usage error
# (exit 2). They are the built ones, from $abs_top_builddir/src, which find
# the handlers beside themselves.

load helpers
load net

setup() {
	make_mailroot
	LAUNCHED=()
}

teardown() {
	local pid i
	for pid in "${LAUNCHED[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${LAUNCHED[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# listeners PORT: the local addresses of the TCP sockets listening on
# PORT, as /proc/net/tcp and tcp6 spell them (0100007F is 127.0.0.1,
# 00000000 and 32 zeros the IPv4 and IPv6 wildcards), one a line.
listeners() {
	awk -v port="$(printf '%04X' "$1")" '
		$4 == "0A" && split($2, a, ":") == 2 && a[2] == port { print a[1] }
	' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# listening_on PORT [HEXADDR]: whether a TCP socket listens on PORT (on
# HEXADDR, if given).
listening_on() {
	local l
	l=$(listeners "$1")
	[[ -n $l ]] && { [[ -z ${2-} ]] || grep -qx "$2" <<<"$l"; }
}

# launch NAME LISTEN [HEXADDR]: run the launcher NAME with the argument
# LISTEN (PORT or ADDR:PORT) in the background, in $MAILROOT, its stderr
# in $BATS_TEST_TMPDIR/NAME.log; wait (up to 5 s) until it listens.
launch() {
	local name=$1 listen=$2 pid i port=${2##*:}
	(cd "$MAILROOT" && exec "$abs_top_builddir/src/$name" "$listen") \
	    </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/$name.log" 3>&- &
	pid=$!
	LAUNCHED+=("$pid")
	for ((i = 0; i < 50; i++)); do
		listening_on "$port" "${3-}" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$BATS_TEST_TMPDIR/$name.log" >&2
	return 1
}

# launch_both: mailserver_smtp on SMTP_PORT and popserver on POP3_PORT,
# both given a bare port, as the write-up's users type them; other ports if
# one was taken meanwhile (3 attempts).
launch_both() {
	local _
	for _ in 1 2 3; do
		SMTP_PORT=$(free_port)
		POP3_PORT=$(free_port)
		[[ $SMTP_PORT != "$POP3_PORT" ]] || continue
		if launch mailserver_smtp "$SMTP_PORT" &&
		    launch popserver "$POP3_PORT"; then
			return 0
		fi
		teardown
		LAUNCHED=()
	done
	return 1
}

@test "mailserver_smtp PORT and popserver PORT serve SMTP and POP3 for the mail root in the current directory" {
	launch_both
	run "$PYTHON" "$TOOLS/roundtrip.py" 127.0.0.1 "$SMTP_PORT" "$POP3_PORT" \
	    bob bobpass "tok-launch-$$"
	assert_success
	assert_line 'round trip ok'
	# The mail went through the mail root the launchers were started in.
	assert [ -f "$(mailbox bob)" ]
	refute_mailbox bob
	# Each launcher says what it serves, where.
	run cat "$BATS_TEST_TMPDIR/mailserver_smtp.log"
	assert_line "mailserver_smtp: serving SMTP on port $SMTP_PORT for the mail root $MAILROOT"
	run cat "$BATS_TEST_TMPDIR/popserver.log"
	assert_line "popserver: serving POP3 on port $POP3_PORT for the mail root $MAILROOT"
	# The handlers' stderr is the launchers': no sanitizer report there.
	run cat "$BATS_TEST_TMPDIR/mailserver_smtp.log" "$BATS_TEST_TMPDIR/popserver.log"
	refute_output --regexp 'Sanitizer|runtime error'
}

@test "mail sent through mailserver_smtp stays in the mailbox for popserver until deleted" {
	launch_both
	run "$PYTHON" "$TOOLS/smtpclient.py" send "$SMTP_PORT" labxyz@client.example \
	    /dev/stdin alice@test.example <<<'Subject: kept'
	assert_success
	run "$PYTHON" "$TOOLS/roundtrip.py" 127.0.0.1 "$SMTP_PORT" "$POP3_PORT" \
	    alice alicepw "tok-kept-$$"
	assert_success
	# The round trip deleted its own message only.
	run grep -c '^Subject: kept$' "$(mailbox alice)"
	assert_output 1
	run grep -c -F "tok-kept-$$" "$(mailbox alice)"
	assert_output 0
}

@test "mailserver_smtp ADDR:PORT listens on that address only" {
	local port
	port=$(free_port)
	launch mailserver_smtp "127.0.0.1:$port" 0100007F
	run "$PYTHON" "$TOOLS/smtpclient.py" raw "$port" <<<'QUIT'
	assert_success
	assert_line --index 0 --regexp '^220 '
	assert_line --index 1 --regexp '^221 '
	run listeners "$port"
	assert_output 0100007F
}

@test "mailserver_smtp and popserver with no port, or two, exit 2 with a usage line" {
	local name
	for name in mailserver_smtp popserver; do
		cd "$MAILROOT"
		run -2 --separate-stderr "$abs_top_builddir/src/$name"
		assert_output ''
		[[ $stderr == "usage: $name PORT" ]] ||
		    fail "$name: stderr is '$stderr', not 'usage: $name PORT'"
		run -2 --separate-stderr "$abs_top_builddir/src/$name" 2525 1100
		[[ $stderr == "usage: $name PORT" ]] ||
		    fail "$name: stderr is '$stderr', not 'usage: $name PORT'"
	done
}

@test "under the launchers a handler dumps no core (it may hold passwords): its core limit is 0" {
	launch_both
	# Hold one session of each open and read its limits.
	# Only this test's handlers: the ones running in its mail root (the
	# launchers serve the current directory); other suites may be running
	# handlers of their own at the same time.
	run timeout 20 "$PYTHON" - "$MAILROOT" "$SMTP_PORT" "$POP3_PORT" <<-'EOF2'
	import os, socket, sys, time
	root = os.path.realpath(sys.argv[1])
	for port in sys.argv[2:]:
	    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
	    s.recv(512)                 # the greeting: the handler is up
	    found = None
	    for _ in range(50):
	        for pid in os.listdir("/proc"):
	            try:
	                with open(f"/proc/{pid}/cmdline", "rb") as f:
	                    cmd = f.read().split(b"\0")
	                if not cmd[0].endswith((b"sockmail-smtpd", b"sockmail-pop3d")):
	                    continue
	                if os.path.realpath(f"/proc/{pid}/cwd") != root:
	                    continue
	                with open(f"/proc/{pid}/limits") as f:
	                    for line in f:
	                        if line.startswith("Max core file size"):
	                            found = line.split()[4:6]
	            except OSError:
	                pass
	        if found:
	            break
	        time.sleep(0.1)
	    print(port, found)
	    s.close()
	    time.sleep(0.3)
	EOF2
	assert_success
	assert_line "$SMTP_PORT ['0', '0']"
	assert_line "$POP3_PORT ['0', '0']"
}
