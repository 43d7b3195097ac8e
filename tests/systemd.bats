#!/usr/bin/env bats
# The systemd units as `make install` ships them (README, "Running it for
# real"; sockmail-smtpd(8) and sockmail-pop3d(8) FILES): the hardening score
# and `systemd-analyze verify` on the host, then a real systemd as PID 1 in
# a container (container.bash) that creates the user and the mail root from
# our sysusers.d and tmpfiles.d snippets, starts both sockets, and serves an
# SMTP + POP3 round trip through the hardened per-connection services
# exactly as installed: no drop-in, no override.
#
# The install is the build's own (`make install DESTDIR=...` in
# $abs_top_builddir, with the prefix it was configured with): the units
# name the paths the build substituted, and the container gets the tree at
# those same paths, so nothing is rebuilt or rewritten. A unit directory
# systemd does not search (a `make distcheck` prefix) is linked in.
#
# The container tests need root and systemd-nspawn (Debian:
# systemd-container); without them, or when no container boots here, they
# skip and say why. SOCKMAIL_REQUIRE_CONTAINER=1 turns that skip into a
# failure, for a CI machine known to boot containers.

load helpers
load container

# The exposure systemd-analyze may give a service unit, at most: what the
# shipped units get (README), so any loosening shows here.
MAX_EXPOSURE=0.2

# What `make install` ships.
SERVICES="sockmail-smtp@.service sockmail-pop3@.service sockmail-pop3s@.service"
UNITS="sockmail-smtp.socket sockmail-pop3.socket sockmail-pop3s.socket $SERVICES"

# make_vars: the build's installation directories, as make expands them.
make_vars() {
	local mk=$BATS_FILE_TMPDIR/print-vars.mk v
	{
		echo 'print-vars:'
		for v in SBINDIR=sbindir UNITDIR=systemdsystemunitdir \
		    SYSUSERSDIR=sysusersdir TMPFILESDIR=tmpfilesdir \
		    MANDIR=mandir MAILROOT=mailroot TLSDIR=tlsdir DOCDIR=docdir; do
			printf '\t@echo "INST_%s=$(%s)"\n' "${v%=*}" "${v#*=}"
		done
	} >"$mk"
	make_in_build -f Makefile -f "$mk" print-vars
}

# make_in_build ARG...: make in the build under test, not as part of the
# `make check` that runs us (no inherited jobserver or flags).
make_in_build() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
	    make -s -C "$abs_top_builddir" "$@"
}

setup_file() {
	local line reason
	export DEST=$BATS_FILE_TMPDIR/destdir
	while IFS= read -r line; do
		[[ $line == INST_*=* ]] && export "${line?}"
	done < <(make_vars)
	[[ -n ${INST_UNITDIR-} && -n ${INST_MAILROOT-} ]] || {
		echo "# cannot read the installation directories from the Makefile" >&2
		return 1
	}
	make_in_build install DESTDIR="$DEST" >"$BATS_FILE_TMPDIR/install.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/install.log" >&2
		return 1
	}

	# The container, once for the whole file.
	export CT_SKIP='' CT_DIR=''
	if reason=$(ct_skip_reason); then
		CT_SKIP=$reason
	elif reason=$(hidden_path "$INST_SBINDIR" "$INST_MAILROOT"); then
		CT_SKIP=$reason
	elif ! ct_up 2>"$BATS_FILE_TMPDIR/boot.log"; then
		# The console goes to the TAP stream as comments; the reason
		# names its last line.
		sed 's/^#* */# /' "$BATS_FILE_TMPDIR/boot.log" >&3
		CT_SKIP="systemd-nspawn could not boot a container here: $(grep -v '^$' \
		    "$BATS_FILE_TMPDIR/boot.log" | tail -n 1 | sed 's/^[# ]*//')"
		ct_down
	elif ! provision >"$BATS_FILE_TMPDIR/provision.log" 2>&1; then
		cat "$BATS_FILE_TMPDIR/provision.log" >&2
		ct_console >&2
		ct_down
		return 1
	fi
	export CT_NAME CT_DIR
}

teardown_file() {
	ct_down
}

# hidden_path PATH...: the shipped units make /home, /root and /run/user
# inaccessible (ProtectHome=) and /tmp private (PrivateTmp=); print why a
# program or mail root there cannot work, and succeed; fail otherwise.
hidden_path() {
	local p
	for p in "$@"; do
		case $p/ in
		/home/* | /root/* | /run/user/* | /tmp/* | /var/tmp/*)
			echo "$p is hidden from the hardened units (ProtectHome=, PrivateTmp=): configure another --prefix / --with-mailroot"
			return 0
			;;
		esac
	done
	return 1
}

# provision: put the installed tree into the container, create the user
# and the mail root with our own snippets, give it the test users and start
# both sockets.
provision() {
	local u
	ct_copy_tree "$DEST" || return 1
	ct_exec systemd-sysusers "$INST_SYSUSERSDIR/sockmail.conf" || return 1
	ct_exec systemd-tmpfiles --create "$INST_TMPFILESDIR/sockmail.conf" ||
	    return 1
	# A unit directory systemd does not search (a distcheck prefix) is
	# linked into /etc/systemd/system.
	if ! ct_exec systemd-analyze unit-paths | grep -qxF "$INST_UNITDIR"; then
		for u in $UNITS; do
			ct_exec systemctl link "$INST_UNITDIR/$u" || return 1
		done
	fi
	# A sanitizer build's handlers: LeakSanitizer's exit-time check needs
	# ptrace, which the shipped SystemCallFilter= rightly denies, and
	# would fail every session; AddressSanitizer and UBSan still watch.
	# This drop-in is the one thing added to the units, and only there.
	if LC_ALL=C grep -aq __asan_init "$DEST$INST_SBINDIR/sockmail-smtpd"; then
		for u in $SERVICES; do
			printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' |
			    ct_exec sh -c 'mkdir -p "$1" && cat >"$1/sanitizer.conf"' \
			    _ "/run/systemd/system/$u.d" || return 1
		done
	fi
	ct_exec systemctl daemon-reload || return 1
	# tmpfiles made userinfo.txt (root:sockmail 0640); fill it in place.
	ct_exec sh -c 'cat >"$1"' _ "$INST_MAILROOT/userinfo.txt" \
	    <"$TESTDATA/mailroot/userinfo.txt" || return 1
	# The certificate the units load as credentials, where they look.
	ct_exec sh -c 'mkdir -p "$1" && cd "$1" &&
	    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	    -keyout privkey.pem -out fullchain.pem 2>/dev/null' _ "$INST_TLSDIR" ||
	    return 1
	ct_exec systemctl start sockmail-smtp.socket sockmail-pop3.socket \
	    sockmail-pop3s.socket
}

need_container() {
	if [[ -n $CT_SKIP ]]; then
		if [[ ${SOCKMAIL_REQUIRE_CONTAINER-} == 1 ]]; then
			fail "no container (SOCKMAIL_REQUIRE_CONTAINER=1): $CT_SKIP"
		fi
		skip "$CT_SKIP"
	fi
}

# roundtrip LOGIN PASSWORD TOKEN: tools/roundtrip.py inside the container,
# against the shipped ports.
roundtrip() {
	ct_exec /usr/bin/python3 - 127.0.0.1 25 110 "$@" \
	    <"$abs_top_srcdir/tests/tools/roundtrip.py"
}

# journal_json NEEDLE MATCH...: the container journal's entries for
# MATCHes, one JSON object a line, once NEEDLE shows in them: journald
# takes entries asynchronously, so wait for it (up to 10 s).
journal_json() {
	local needle=$1 i out
	shift
	for ((i = 0; i < 50; i++)); do
		out=$(ct_exec journalctl --no-pager -o json "$@") || return 1
		if [[ $out == *"$needle"* ]]; then
			printf '%s\n' "$out"
			return 0
		fi
		sleep 0.2
	done
	printf '%s\n' "$out"
	return 1
}

# json_field FIELD [MATCH=SUBSTRING]: FIELD of each JSON line on stdin (of
# each line whose MATCH field holds SUBSTRING), one a line.
json_field() {
	/usr/bin/python3 -c 'import json, sys
key, val = sys.argv[2].split("=", 1) if len(sys.argv) > 2 else (None, "")
for line in sys.stdin:
    e = json.loads(line)
    if key is None or val in str(e.get(key, "")):
        v = e.get(sys.argv[1])
        print(v if isinstance(v, str) else json.dumps(v))' "$@"
}

@test "make install DESTDIR puts the units, the snippets and the programs they run where the build says" {
	local u
	for u in $UNITS; do
		assert [ -f "$DEST$INST_UNITDIR/$u" ]
	done
	assert [ -f "$DEST$INST_SYSUSERSDIR/sockmail.conf" ]
	assert [ -f "$DEST$INST_TMPFILESDIR/sockmail.conf" ]
	# Each service runs an installed handler on the configured mail root,
	# which the tmpfiles snippet creates and the unit may write.
	# and the TLS credentials from the configured folder.
	for u in smtp pop3 pop3s; do
		run grep -x "ExecStart=$INST_SBINDIR/sockmail-${u:0:4}d -d $INST_MAILROOT -C tls-cert.pem -K tls-key.pem.*" \
		    "$DEST$INST_UNITDIR/sockmail-$u@.service"
		assert_success
		assert [ -x "$DEST$INST_SBINDIR/sockmail-${u:0:4}d" ]
		run grep -x "LoadCredential=tls-key.pem:$INST_TLSDIR/privkey.pem" \
		    "$DEST$INST_UNITDIR/sockmail-$u@.service"
		assert_success
		run grep -x "ReadWritePaths=$INST_MAILROOT" \
		    "$DEST$INST_UNITDIR/sockmail-$u@.service"
		assert_success
		# No core dumps; a bound on the whole session.
		run grep -E '^(LimitCORE|RuntimeMaxSec)=' \
		    "$DEST$INST_UNITDIR/sockmail-$u@.service"
		assert_line LimitCORE=0
		if [[ $u == smtp ]]; then
			assert_line RuntimeMaxSec=20min
		else
			assert_line RuntimeMaxSec=40min
		fi
		assert_equal "${#lines[@]}" 2
		# At most 64 sessions, 8 from one address.
		run grep -E '^MaxConnections(PerSource)?=' \
		    "$DEST$INST_UNITDIR/sockmail-$u.socket"
		assert_output $'MaxConnections=64\nMaxConnectionsPerSource=8'
	done
	# Root owns the mail root and userinfo.txt; sockmail what it writes.
	run grep -E '^[dfL]' "$DEST$INST_TMPFILESDIR/sockmail.conf"
	assert_success
	assert_line --regexp "^d +$INST_MAILROOT +0750 +root +sockmail +-$"
	assert_line --regexp "^d +$INST_MAILROOT/USERS +0700 +sockmail +sockmail +-$"
	assert_line --regexp "^f +$INST_MAILROOT/userinfo.txt +0640 +root +sockmail +-$"
	assert_line --regexp "^f +$INST_MAILROOT/auth-penalty +0600 +sockmail +sockmail +-$"
	run grep -E '^u +sockmail ' "$DEST$INST_SYSUSERSDIR/sockmail.conf"
	assert_success
}

@test "systemd-analyze security --offline=true rates each installed service unit at most $MAX_EXPOSURE" {
	local u score
	for u in $SERVICES; do
		run systemd-analyze security --offline=true --no-pager \
		    "$DEST$INST_UNITDIR/$u"
		assert_success
		score=$(grep -o 'Overall exposure level for [^:]*: [0-9.]*' <<<"$output" |
		    awk '{ print $NF }')
		echo "# $u: exposure $score" >&3
		assert [ -n "$score" ]
		if ! awk -v s="$score" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(s <= max) }'; then
			printf '%s\n' "$output" | grep -v '^✓' >&2
			fail "$u: exposure $score, more than $MAX_EXPOSURE"
		fi
	done
}

@test "systemd-analyze verify is clean for the installed units" {
	# verify wants ExecStart='s program to exist: point it at the DESTDIR
	# copy (the only change), and find the man pages of Documentation=
	# there too.
	local d=$BATS_TEST_TMPDIR/units f man=()
	mkdir "$d"
	for f in "$DEST$INST_UNITDIR"/sockmail-*; do
		sed "s|^ExecStart=|ExecStart=$DEST|" "$f" >"$d/${f##*/}"
	done
	command -v man >/dev/null || man=(--man=no)
	run env MANPATH="$DEST$INST_MANDIR" systemd-analyze verify "${man[@]}" \
	    "$d"/sockmail-*
	assert_success
	assert_output ''
}

@test "in a container, sysusers and tmpfiles create user sockmail and its mail root, and both sockets listen" {
	need_container
	run ct_exec getent passwd sockmail
	assert_success
	run ct_exec stat -c '%U:%G %a %F' "$INST_MAILROOT" "$INST_MAILROOT/USERS" \
	    "$INST_MAILROOT/userinfo.txt" "$INST_MAILROOT/auth-penalty"
	assert_success
	assert_line --index 0 'root:sockmail 750 directory'
	assert_line --index 1 'sockmail:sockmail 700 directory'
	assert_line --index 2 'root:sockmail 640 regular file'
	assert_line --index 3 --regexp '^sockmail:sockmail 600 regular (empty )?file$'
	run ct_exec systemctl is-active sockmail-smtp.socket sockmail-pop3.socket
	assert_success
	run ct_exec systemctl show -P Listen sockmail-smtp.socket
	assert_output --regexp '(^|[^0-9])25 \(Stream\)'
	run ct_exec systemctl show -P Listen sockmail-pop3.socket
	assert_output --regexp '(^|[^0-9])110 \(Stream\)'
}

@test "in a container, an SMTP + POP3 round trip through the shipped units delivers, retrieves and deletes a message" {
	need_container
	local smtp0 pop0
	smtp0=$(ct_exec systemctl show -P NAccepted sockmail-smtp.socket)
	pop0=$(ct_exec systemctl show -P NAccepted sockmail-pop3.socket)
	run roundtrip alice alicepw "tok-ct-$$"
	assert_success
	assert_line 'round trip ok'
	# One service per connection: one SMTP session, two POP3 logins.
	run ct_exec systemctl show -P NAccepted sockmail-smtp.socket
	assert_output $((smtp0 + 1))
	run ct_exec systemctl show -P NAccepted sockmail-pop3.socket
	assert_output $((pop0 + 2))
	# Every session ended cleanly: no instance is left failed.
	run ct_exec systemctl list-units --failed --plain --no-legend 'sockmail*'
	assert_output ''
	# ... and no sanitizer spoke up (in a sanitizer build).
	run ct_exec journalctl --no-pager -o cat _COMM=sockmail-smtpd + _COMM=sockmail-pop3d
	assert_success
	refute_output --regexp 'Sanitizer|runtime error'
}

@test "in a container, the handlers run as user sockmail and log structured events to the journal" {
	need_container
	local uid bob
	uid=$(ct_exec id -u sockmail)
	assert [ "$uid" -gt 0 ]
	# Each session pauses 0.5 s before QUIT: journald takes the unit of
	# a log line's sender from its /proc entry, gone once it exits.
	run roundtrip bob bobpass "tok-journal-$$" 0.5
	assert_success

	# The mailbox was made by the handler, so by its user.
	run ct_exec stat -c '%U:%G %a' "$INST_MAILROOT/USERS/bob" \
	    "$INST_MAILROOT/USERS/bob/my_mailbox.txt"
	assert_success
	assert_line --index 0 'sockmail:sockmail 700'
	assert_line --index 1 'sockmail:sockmail 600'

	# The delivery, logged through the journal API by sockmail-smtpd
	# running as sockmail in an instance of sockmail-smtp@.service.
	journal_json 'to=bob@localhost' SOCKMAIL_EVENT=delivered \
	    >"$BATS_TEST_TMPDIR/delivered" ||
	    fail "no SOCKMAIL_EVENT=delivered entry for bob in the journal"
	run json_field MESSAGE <"$BATS_TEST_TMPDIR/delivered"
	assert_line --partial 'to=bob@localhost'
	bob=(MESSAGE='to=bob@localhost')
	run json_field _UID "${bob[@]}" <"$BATS_TEST_TMPDIR/delivered"
	assert_output "$uid"
	run json_field SYSLOG_IDENTIFIER "${bob[@]}" <"$BATS_TEST_TMPDIR/delivered"
	assert_output sockmail-smtpd
	run json_field _SYSTEMD_UNIT "${bob[@]}" <"$BATS_TEST_TMPDIR/delivered"
	assert_output --regexp '^sockmail-smtp@[^ ]+\.service$'
	run json_field SOCKMAIL_PEER "${bob[@]}" <"$BATS_TEST_TMPDIR/delivered"
	assert_output 127.0.0.1
	# Structured fields: the size and recipients of the message, and a
	# MESSAGE_ID that is the same for every delivery.
	run json_field SOCKMAIL_SIZE "${bob[@]}" <"$BATS_TEST_TMPDIR/delivered"
	assert_output --regexp '^[1-9][0-9]*$'
	run json_field SOCKMAIL_RCPTS "${bob[@]}" <"$BATS_TEST_TMPDIR/delivered"
	assert_output 1
	run json_field MESSAGE_ID "${bob[@]}" <"$BATS_TEST_TMPDIR/delivered"
	assert_output --regexp '^[0-9a-f]{32}$'

	# bob's two POP3 logins, by sockmail-pop3d as sockmail.
	journal_json 'login: bob: 0 messages' SOCKMAIL_EVENT=login \
	    >"$BATS_TEST_TMPDIR/login" ||
	    fail "no SOCKMAIL_EVENT=login entries for bob in the journal"
	bob=(MESSAGE='login: bob:')
	run json_field _UID "${bob[@]}" <"$BATS_TEST_TMPDIR/login"
	assert_output "$(printf '%s\n%s' "$uid" "$uid")"
	run json_field SYSLOG_IDENTIFIER "${bob[@]}" <"$BATS_TEST_TMPDIR/login"
	assert_output "$(printf 'sockmail-pop3d\nsockmail-pop3d')"
	run json_field _SYSTEMD_UNIT "${bob[@]}" <"$BATS_TEST_TMPDIR/login"
	assert_line --index 0 --regexp '^sockmail-pop3@[^ ]+\.service$'
	assert_line --index 1 --regexp '^sockmail-pop3@[^ ]+\.service$'
	run json_field SOCKMAIL_USER "${bob[@]}" <"$BATS_TEST_TMPDIR/login"
	assert_output "$(printf 'bob\nbob')"

	# Nothing in the whole journal holds a password.
	run ct_exec journalctl --no-pager -o verbose
	refute_output --partial bobpass
	refute_output --partial alicepw
}

@test "in a container, a handler under journald maps libsystemd for its journal; one outside a unit does not" {
	need_container
	local pid maps
	# A POP3 session held open for 3 s after the greeting: its connect
	# entry went to the journal before the greeting.
	ct_exec /usr/bin/python3 -c 'import socket, time
s = socket.create_connection(("127.0.0.1", 110))
s.recv(512)
time.sleep(3)
s.sendall(b"QUIT\r\n")
s.recv(512)' &
	for ((i = 0; i < 50; i++)); do
		pid=$(ct_exec pgrep -n -x sockmail-pop3d) && break
		sleep 0.1
	done
	[[ -n $pid ]] || fail "no sockmail-pop3d in the container"
	run ct_exec grep -c 'libsystemd\.so\.0' "/proc/$pid/maps"
	wait
	assert_success
	refute_output 0
	# The same handler on a pipe, outside any unit, in the container
	# too, where journald runs: it logs to stderr and never loads it.
	maps=$(ct_exec sh -c 'mkfifo /run/idle && { sleep 2 >/run/idle & } &&
	    "$0" -d "$1" </run/idle >/dev/null 2>&1 &
	    sleep 0.5; cat /proc/$!/maps; wait' "$INST_SBINDIR/sockmail-pop3d" "$INST_MAILROOT")
	assert [ -n "$maps" ]
	[[ $maps != *libsystemd* ]] || fail "a handler outside a unit mapped libsystemd"
}

@test "in a container, systemd-analyze verify is clean for the units as installed" {
	need_container
	local man=()
	command -v man >/dev/null || man=(--man=no)
	# shellcheck disable=SC2086 # a list of unit names
	run ct_exec env MANPATH="$INST_MANDIR" systemd-analyze verify "${man[@]}" \
	    $(printf "$INST_UNITDIR/%s " $UNITS)
	assert_success
	assert_output ''
}

@test "in a container, STARTTLS on 25, STLS on 110 and pop3s on 995 use the certificate the units load as credentials" {
	need_container
	run ct_exec /usr/bin/python3 - "$INST_TLSDIR/fullchain.pem" "tok-tls-$$" <<-'EOF'
	import poplib, smtplib, ssl, sys
	ctx = ssl.create_default_context(cafile=sys.argv[1])
	token = sys.argv[2]
	s = smtplib.SMTP("localhost", 25, timeout=15)
	s.starttls(context=ctx)
	s.sendmail("tls@localhost", ["bob@localhost"],
	           "Subject: %s\r\n\r\nover TLS\r\n" % token)
	print("smtp", s.sock.version())
	s.quit()
	p = poplib.POP3("localhost", 110, timeout=15)
	p.stls(context=ctx)
	p.user("bob")
	p.pass_("bobpass")
	print("stls", p.sock.version(), p.stat()[0])
	p.quit()
	p = poplib.POP3_SSL("localhost", 995, context=ctx, timeout=15)
	p.user("bob")
	p.pass_("bobpass")
	body = b"\n".join(p.retr(p.stat()[0])[1])
	print("pop3s", p.sock.version(), token.encode() in body)
	p.quit()
	EOF
	assert_success
	assert_line --regexp '^smtp TLSv1\.[23]$'
	assert_line --regexp '^stls TLSv1\.[23] [1-9][0-9]*$'
	assert_line --regexp '^pop3s TLSv1\.[23] True$'
	run ct_exec systemctl list-units --failed --plain --no-legend 'sockmail*'
	assert_output ''
}

@test "in a container, user sockmail can neither change userinfo.txt nor put a file in its place, and tmpfiles gives an older mail root to root" {
	need_container
	local as_sockmail=(setpriv --reuid=sockmail --regid=sockmail --init-groups)
	# The handlers' user reads the password database ...
	run ct_exec "${as_sockmail[@]}" grep -c '^alice[[:blank:]]' "$INST_MAILROOT/userinfo.txt"
	assert_success
	assert_output 1
	# ... but cannot write it, rename a file of its own over it, or
	# create anything beside it.
	run ct_exec "${as_sockmail[@]}" sh -c 'echo "mallory x" >>"$1"' _ \
	    "$INST_MAILROOT/userinfo.txt"
	assert_failure
	assert_output --partial 'Permission denied'
	run ct_exec "${as_sockmail[@]}" sh -c 'echo "mallory x" >"$1/USERS/new" &&
	    mv -f "$1/USERS/new" "$1/userinfo.txt"' _ "$INST_MAILROOT"
	assert_failure
	assert_output --partial 'Permission denied'
	run ct_exec "${as_sockmail[@]}" touch "$INST_MAILROOT/new"
	assert_failure
	ct_exec rm -f "$INST_MAILROOT/USERS/new"
	run ct_exec grep -c mallory "$INST_MAILROOT/userinfo.txt"
	assert_output 0

	# A mail root made by an older snippet (sockmail owned the folder and
	# userinfo.txt; no auth-penalty): tmpfiles --create, as at the next
	# boot, sets today's owners and modes and leaves the users alone.
	ct_exec chown sockmail:sockmail "$INST_MAILROOT" "$INST_MAILROOT/userinfo.txt"
	ct_exec chmod 0770 "$INST_MAILROOT"
	ct_exec rm -f "$INST_MAILROOT/auth-penalty"
	run ct_exec systemd-tmpfiles --create "$INST_TMPFILESDIR/sockmail.conf"
	assert_success
	run ct_exec stat -c '%U:%G %a' "$INST_MAILROOT" "$INST_MAILROOT/USERS" \
	    "$INST_MAILROOT/userinfo.txt" "$INST_MAILROOT/auth-penalty"
	assert_success
	assert_output "root:sockmail 750
sockmail:sockmail 700
root:sockmail 640
sockmail:sockmail 600"
	run ct_exec grep -c '^alice[[:blank:]]' "$INST_MAILROOT/userinfo.txt"
	assert_output 1
}

@test "in a container, each service runs with LimitCORE=0 and its RuntimeMaxSec=, and each socket takes 64 sessions, 8 from one address" {
	need_container
	local u
	for u in smtp pop3 pop3s; do
		run ct_exec systemctl show -p LimitCORE -p LimitCORESoft \
		    -p RuntimeMaxUSec "sockmail-$u@probe.service"
		assert_success
		assert_line LimitCORE=0
		assert_line LimitCORESoft=0
		if [[ $u == smtp ]]; then
			assert_line RuntimeMaxUSec=20min
		else
			assert_line RuntimeMaxUSec=40min
		fi
		run ct_exec systemctl show -p MaxConnections \
		    -p MaxConnectionsPerSource "sockmail-$u.socket"
		assert_success
		assert_line MaxConnections=64
		assert_line MaxConnectionsPerSource=8
	done
}

@test "in a container, 4 addresses with 16 stalled SMTP connections each get 8 sessions apiece, and a fifth address is greeted and delivers" {
	need_container
	local a
	# 64 connections from 127.0.0.2 to .5 (the container's loopback is
	# all of 127/8): half send nothing, half start a command and never
	# end it. Each one gets the greeting (a session) or is closed at once
	# by the socket (over its limits). Then 127.0.0.6 sends a message
	# while they all still hold on; then they hang up, which ends their
	# sessions. Every wait is bounded; no handler option is changed.
	CT_EXEC_TIMEOUT=180 run ct_exec /usr/bin/python3 - "tok-slow-$$" <<-'EOF'
	import selectors, smtplib, socket, subprocess, sys, time

	SOURCES = ["127.0.0.%d" % i for i in range(2, 6)]

	def show(prop, unit="sockmail-smtp.socket"):
	    return subprocess.run(["systemctl", "show", "-P", prop, unit],
	                          capture_output=True, text=True,
	                          check=True).stdout.strip()

	held = []
	try:
	    for src in SOURCES:
	        for i in range(16):
	            c = socket.socket()
	            c.settimeout(10)
	            c.bind((src, 0))
	            c.connect(("127.0.0.1", 25))
	            if i % 2:
	                c.sendall(b"EHLO stalled.exam")
	            held.append((src, c))
	    sel = selectors.DefaultSelector()
	    for src, c in held:
	        c.setblocking(False)
	        sel.register(c, selectors.EVENT_READ, [src, b""])
	    got = {src: {"greeted": 0, "closed": 0} for src in SOURCES}
	    left = len(held)
	    deadline = time.monotonic() + 120
	    while left and time.monotonic() < deadline:
	        for key, _ in sel.select(timeout=1):
	            try:
	                data = key.fileobj.recv(512)
	            except ConnectionError:
	                data = b""
	            if data:
	                key.data[1] += data
	                if b"\r\n" not in key.data[1]:
	                    continue
	                what = ("greeted" if key.data[1].startswith(b"220 ")
	                        else "other")
	            else:
	                what = "closed"
	            counts = got[key.data[0]]
	            counts[what] = counts.get(what, 0) + 1
	            sel.unregister(key.fileobj)
	            left -= 1
	    for src in SOURCES:
	        print(src, " ".join("%s=%d" % kv for kv in sorted(got[src].items())))
	    print("unanswered", left)
	    print("sessions", show("NConnections"))

	    # One of the stalled sessions, as systemd runs it.
	    unit = subprocess.run(["systemctl", "list-units", "--plain",
	                           "--no-legend", "--state=running",
	                           "sockmail-smtp@*.service"], capture_output=True,
	                          text=True, check=True).stdout.split()[0]
	    print("runtime", show("RuntimeMaxUSec", unit))
	    with open("/proc/%s/limits" % show("MainPID", unit)) as f:
	        for line in f:
	            if line.startswith("Max core file size"):
	                print("core", " ".join(line.split()[4:6]))

	    s = smtplib.SMTP(timeout=30, source_address=("127.0.0.6", 0))
	    print("fifth", s.connect("127.0.0.1", 25)[0])
	    print("fifth sessions", show("NConnections"))
	    print("fifth refused", s.sendmail("fifth@localhost", ["bob@localhost"],
	          "Subject: %s\r\n\r\nserved all the same\r\n" % sys.argv[1]))
	    s.quit()
	finally:
	    for src, c in held:
	        c.close()
	for i in range(300):
	    if show("NConnections") == "0":
	        break
	    time.sleep(0.1)
	print("after", show("NConnections"))
	EOF
	assert_success
	assert_line '127.0.0.2 closed=8 greeted=8'
	assert_line '127.0.0.3 closed=8 greeted=8'
	assert_line '127.0.0.4 closed=8 greeted=8'
	assert_line '127.0.0.5 closed=8 greeted=8'
	assert_line 'unanswered 0'
	assert_line 'sessions 32'
	assert_line 'runtime 20min'
	assert_line 'core 0 0'
	assert_line 'fifth 220'
	assert_line 'fifth sessions 33'
	assert_line 'fifth refused {}'
	assert_line 'after 0'
	run ct_exec grep -c "^Subject: tok-slow-$$\$" "$INST_MAILROOT/USERS/bob/my_mailbox.txt"
	assert_output 1
	# The socket said why it closed the others, 8 from each address; no
	# session failed.
	run ct_exec journalctl --no-pager -o cat -u sockmail-smtp.socket
	for a in 2 3 4 5; do
		assert_equal "$(grep -c "Too many incoming connections ([0-9]*) from source 127\.0\.0\.$a," <<<"$output")" 8
	done
	run ct_exec systemctl list-units --failed --plain --no-legend 'sockmail*'
	assert_output ''
}

# install_dropin UNIT EXAMPLE: the shipped drop-in EXAMPLE for UNIT, in the
# container's runtime unit folder (gone at its next boot).
install_dropin() {
	ct_exec sh -c 'mkdir -p "$1" && cat >"$1/cluster.conf"' _ \
	    "/run/systemd/system/$1.d" <"$DEST$INST_DOCDIR/examples/$2"
}

@test "in a container, the cluster drop-ins add -P: a PROXY v2 header's client is the journal's SOCKMAIL_PEER; no header, no session" {
	need_container
	local u
	assert [ -f "$DEST$INST_DOCDIR/examples/cluster-service.conf" ]
	for u in $SERVICES; do
		install_dropin "$u" cluster-service.conf
	done
	install_dropin sockmail-smtp.socket cluster-socket.conf
	ct_exec systemctl daemon-reload
	ct_exec systemctl restart sockmail-smtp.socket
	run ct_exec systemctl show -p RequiresMountsFor -p MaxConnectionsPerSource \
	    sockmail-smtp.socket
	assert_line "RequiresMountsFor=$INST_MAILROOT"
	assert_line MaxConnectionsPerSource=64

	run ct_exec /usr/bin/python3 - "tok-proxy-$$" <<-'EOF'
	import smtplib, socket, struct, sys
	class Proxied(smtplib.SMTP):
	    def _get_socket(self, host, port, timeout):
	        s = super()._get_socket(host, port, timeout)
	        s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack(
	            "!H4s4sHH", 12, socket.inet_aton("192.0.2.44"),
	            socket.inet_aton("127.0.0.1"), 40000, 25))
	        return s
	with Proxied("127.0.0.1", 25, timeout=15) as s:
	    s.sendmail("proxy@localhost", ["bob@localhost"],
	               "Subject: %s\r\n\r\nvia a balancer\r\n" % sys.argv[1])
	print("sent")
	# Without the header the handler takes what comes for a bad one and
	# closes, having said nothing.
	c = socket.create_connection(("127.0.0.1", 25), timeout=3)
	c.sendall(b"EHLO x\r\n")
	try:
	    print("greeting:", c.recv(100))
	except (socket.timeout, ConnectionResetError):
	    print("no greeting")
	EOF
	assert_success
	assert_line sent
	assert_line --regexp "^(no greeting|greeting: b'')$"
	journal_json 'to=bob@localhost' SOCKMAIL_EVENT=delivered \
	    SOCKMAIL_PEER=192.0.2.44 >"$BATS_TEST_TMPDIR/delivered" ||
	    fail "no delivery logged with SOCKMAIL_PEER=192.0.2.44"
	run json_field SOCKMAIL_PEER <"$BATS_TEST_TMPDIR/delivered"
	assert_output 192.0.2.44

	# Back to the units as shipped, for whatever runs next.
	for u in $SERVICES sockmail-smtp.socket; do
		ct_exec rm -rf "/run/systemd/system/$u.d/cluster.conf"
	done
	ct_exec systemctl daemon-reload
	ct_exec systemctl restart sockmail-smtp.socket
}
