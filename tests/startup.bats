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
	local line reply
	coproc HANDLER { SOCKMAIL_LOG=stderr exec "$@" 2>"$BATS_TEST_TMPDIR/held.err"; }
	# The greeting.
	IFS= read -r -t 30 reply <&"${HANDLER[0]}" || return 1
	for line in "${SEND[@]}"; do
		printf '%s\r\n' "$line" >&"${HANDLER[1]}"
		# Read one reply, with its continuation lines (250-...).
		while IFS= read -r -t 30 reply <&"${HANDLER[0]}"; do
			printf '%s\n' "${reply%$'\r'}" >>"$BATS_TEST_TMPDIR/held.replies"
			[[ $reply == [0-9][0-9][0-9]-* ]] || break
		done
	done
	cat "/proc/$HANDLER_PID/maps"
	printf 'QUIT\r\n' >&"${HANDLER[1]}"
	exec {HANDLER[1]}>&-
	wait "$HANDLER_PID"
}

# libs_of MAPS_TEXT: the names of the shared objects mapped, one a line.
mapped() {
	grep -o '[^/ ]*\.so[.0-9]*$' <<<"$1" | sort -u
}

@test "the handlers need only libc: no libcrypt, libssl, libcrypto or libsystemd in DT_NEEDED" {
	local prog needed
	for prog in "$SMTPD" "$POP3D"; do
		needed=$(readelf -d "$prog" | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $5); print $5 }')
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
	run mapped "$maps"
	assert_line --partial libc.so
	refute_line --partial libcrypt
	refute_line --partial libssl
	refute_line --partial libcrypto
	grep -q '^Subject: held' "$(mailbox labxyz)"
}

@test "a POP3 login with a plain password maps no libcrypt; a {CRYPT} one loads it at PASS; a certificate alone loads no libssl" {
	local maps
	SEND=("USER labxyz" "PASS labpass" STAT)
	maps=$(held_maps "$POP3D" -d "$MAILROOT" -n test.example -f 0 -C "$CERT" -K "$KEY")
	run cat "$BATS_TEST_TMPDIR/held.replies"
	assert_line --index 1 "+OK maildrop has 0 messages (0 octets)"
	run mapped "$maps"
	assert_line --partial libc.so
	refute_line --partial libcrypt
	refute_line --partial libssl
	rm "$BATS_TEST_TMPDIR/held.replies"
	SEND=("USER alice" "PASS alicepw" STAT)
	maps=$(held_maps "$POP3D" -d "$MAILROOT" -n test.example -f 0)
	run cat "$BATS_TEST_TMPDIR/held.replies"
	assert_line --index 1 "+OK maildrop has 0 messages (0 octets)"
	run mapped "$maps"
	assert_line --partial libcrypt.so
	refute_line --partial libssl
}

@test "with -S the certificate is loaded at start: libssl is mapped before any byte of TLS" {
	local maps
	coproc HANDLER { SOCKMAIL_LOG=stderr exec "$POP3D" -d "$MAILROOT" -n test.example \
	    -f 0 -S -C "$CERT" -K "$KEY" 2>"$BATS_TEST_TMPDIR/held.err"; }
	# The handler waits for a ClientHello; give it time to load.
	local i
	for i in $(seq 100); do
		maps=$(cat "/proc/$HANDLER_PID/maps" 2>/dev/null) || break
		[[ $maps != *libssl* ]] || break
		sleep 0.1
	done
	exec {HANDLER[1]}>&-
	wait "$HANDLER_PID" || true
	[[ $maps == *libssl.so* ]] || fail "no libssl mapped after 10 s: $(mapped "$maps")"
}
