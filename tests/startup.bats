#!/usr/bin/env bats
# What a handler loads, and when: only libc at start; libcrypt at the
# first {CRYPT} password, libssl at the first STARTTLS or STLS (or at start
# with -S), libsystemd at the first journal entry (tests/systemd.bats). A
# process per connection pays for every library it maps, so a session that
# needs none maps none (sockmail-smtpd(8) and sockmail-pop3d(8), LIBRARIES).

load helpers
load net

setup_file() {
	make_cert "$BATS_FILE_TMPDIR/key.pem" "$BATS_FILE_TMPDIR/cert.pem"
}

setup() {
	make_mailroot
	CERT=$BATS_FILE_TMPDIR/cert.pem
	KEY=$BATS_FILE_TMPDIR/key.pem
	# The maps of a handler under valgrind are valgrind's.
	[[ -z ${SOCKMAIL_VALGRIND-} ]] || skip "the maps under valgrind are valgrind's"
}

# held_maps CMD...: run the handler CMD on a pipe, send it the lines of
# $SEND one by one, each once its previous reply came, then print its
# /proc/PID/maps while the session is still open, then send QUIT.
held_maps() {
	local line reply to from pid
	coproc HANDLER { SOCKMAIL_LOG=stderr exec "$@" 2>"$BATS_TEST_TMPDIR/held.err"; }
	# Bash unsets HANDLER once the handler has exited: keep copies.
	from=${HANDLER[0]} to=${HANDLER[1]} pid=$HANDLER_PID
	# The greeting.
	IFS= read -r -t 30 reply <&"$from" || return 1
	for line in "${SEND[@]}"; do
		printf '%s\r\n' "$line" >&"$to"
		# Read one reply, with its continuation lines (250-...).
		while IFS= read -r -t 30 reply <&"$from"; do
			printf '%s\n' "${reply%$'\r'}" >>"$BATS_TEST_TMPDIR/held.replies"
			[[ $reply == [0-9][0-9][0-9]-* ]] || break
		done
	done
	cat "/proc/$pid/maps"
	printf 'QUIT\r\n' >&"$to"
	exec {to}>&-
	wait "$pid"
}

# mapped MAPS_TEXT: the names of the shared objects mapped, one a line
# (none for a static handler that loaded nothing).
mapped() {
	{ grep -o '[^/ ]*\.so[.0-9]*$' <<<"$1" || true; } | sort -u
}

# refute_mapped MAPS_TEXT NAME...: fail if a library NAME.so is mapped.
refute_mapped() {
	local maps=$1 name
	shift
	for name in "$@"; do
		[[ $maps != *"/$name.so"* ]] ||
		    fail "$name is mapped: $(mapped "$maps" | tr '\n' ' ')"
	done
}

@test "the handlers are position-independent and need at most libc: no libcrypt, libssl, libcrypto or libsystemd in DT_NEEDED" {
	local prog needed
	for prog in "$SMTPD" "$POP3D"; do
		# ASLR: a PIE, linked statically (static PIE) or not.
		run readelf -h "$prog"
		assert_line --regexp '^ *Type: +DYN '
		needed=$(readelf -d "$prog" | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $5); print $5 }')
		if grep -q -x 'HANDLER_LDFLAGS = -static-pie' "$abs_top_builddir/Makefile"; then
			assert [ -z "$needed" ]
			continue
		fi
		assert [ -n "$needed" ]
		# A sanitizer build also needs the sanitizers' runtimes.
		run grep -v -E '^(libc\.so\.6|lib(a|ub)san\.so\.[0-9]+|libm\.so\.6|libgcc_s\.so\.1|libstdc\+\+\.so\.6)$' <<<"$needed"
		assert_output ""
	done
}

@test "an SMTP session with a certificate configured delivers a message and maps neither libcrypt nor libssl" {
	local maps
	SEND=("EHLO client.example" "MAIL FROM:<a@example.org>" "RCPT TO:<labxyz@test.example>" DATA
	    $'Subject: held\r\n\r\nbody\r\n.')
	maps=$(held_maps "$SMTPD" -d "$MAILROOT" -n test.example -C "$CERT" -K "$KEY")
	assert [ -n "$maps" ]
	run grep -c '^250 2.0.0' "$BATS_TEST_TMPDIR/held.replies"
	assert_output 1
	refute_mapped "$maps" libcrypt libssl libcrypto
	grep -q '^Subject: held' "$(mailbox labxyz)"
}

@test "a POP3 login with a plain password maps no libcrypt; a {CRYPT} one loads it at PASS; a certificate alone loads no libssl" {
	local maps
	SEND=("USER labxyz" "PASS labpass" STAT)
	maps=$(held_maps "$POP3D" -d "$MAILROOT" -n test.example -f 0 -C "$CERT" -K "$KEY")
	run cat "$BATS_TEST_TMPDIR/held.replies"
	assert_line --index 1 "+OK maildrop has 0 messages (0 octets)"
	refute_mapped "$maps" libcrypt libssl libcrypto
	rm "$BATS_TEST_TMPDIR/held.replies"
	SEND=("USER alice" "PASS alicepw" STAT)
	maps=$(held_maps "$POP3D" -d "$MAILROOT" -n test.example -f 0)
	run cat "$BATS_TEST_TMPDIR/held.replies"
	assert_line --index 1 "+OK maildrop has 0 messages (0 octets)"
	[[ $maps == */libcrypt.so* ]] || fail "no libcrypt: $(mapped "$maps" | tr '\n' ' ')"
	refute_mapped "$maps" libssl libcrypto
}

@test "with -S the certificate is loaded at start: libssl is mapped before any byte of TLS" {
	local maps
	local i to pid
	coproc HANDLER { SOCKMAIL_LOG=stderr exec "$POP3D" -d "$MAILROOT" -n test.example \
	    -f 0 -S -C "$CERT" -K "$KEY" 2>"$BATS_TEST_TMPDIR/held.err"; }
	to=${HANDLER[1]} pid=$HANDLER_PID
	# The handler waits for a ClientHello; give it time to load.
	for i in $(seq 100); do
		maps=$(cat "/proc/$pid/maps" 2>/dev/null) || break
		[[ $maps != *libssl* ]] || break
		sleep 0.1
	done
	exec {to}>&-
	wait "$pid" || true
	[[ $maps == *libssl.so* ]] || fail "no libssl mapped after 10 s: $(mapped "$maps")"
}
