#!/usr/bin/env bats
# mail_client from a peer that is not on loopback, against sockmail-pop3d
# -R (no password before TLS unless the client is on this machine): in a
# network namespace of its own (unshare --net, root; need_netns skips
# elsewhere) where the TEST-NET address 192.0.2.1 is put on lo, the
# handlers listen on 192.0.2.1 under systemd-socket-activate and the
# client connects there, so the handlers see a peer of 192.0.2.1 though
# nothing leaves the machine. The client reads a script on stdin.

load helpers
load net
load client

ADDR=192.0.2.1
# The certificate names 192.0.2.1 (and localhost, 127.0.0.1); LOCAL_CERT,
# make_cert's default, does not.
CERT=$BATS_FILE_TMPDIR/cert.pem
KEY=$BATS_FILE_TMPDIR/key.pem
LOCAL_CERT=$BATS_FILE_TMPDIR/local-cert.pem
LOCAL_KEY=$BATS_FILE_TMPDIR/local-key.pem
BIN=$BATS_FILE_TMPDIR/bin
REFUSED="-ERR [AUTH] Authentication requires TLS (use STLS)"
CLEAR_TEXT="mail_client: warning: $ADDR offers no TLS: the password goes over the network in clear text"
TLS_LOG='info tls: TLS started: TLSv1\.[23], [A-Z0-9_-]+'
TLS_UP='^mail_client: TLS started: TLSv1\.[23], [A-Z0-9_-]+; certificate verified for 192\.0\.2\.1$'
LISTED='[0-9]{4}-[0-9]{2}-[0-9]{2} : [0-9]{2} : [0-9]{2}'

setup_file() {
	if ! make_cert "$KEY" "$CERT" "DNS:localhost,IP:127.0.0.1,IP:$ADDR" ||
	    ! make_cert "$LOCAL_KEY" "$LOCAL_CERT"; then
		cat "$BATS_FILE_TMPDIR/openssl.err" >&2
		return 1
	fi
	# The handlers log on stderr, into SMTPD_LOG and POP3D_LOG.
	handler_wrappers
}

setup() {
	need_netns
	make_mailroot
	SMTPD_LOG=$BATS_TEST_TMPDIR/smtpd.log
	POP3D_LOG=$BATS_TEST_TMPDIR/pop3d.log
	: >"$SMTPD_LOG"
	: >"$POP3D_LOG"
	: >"$BATS_TEST_TMPDIR/client.err.all"
}

# The listeners end with netns_client; this checks the logs and the
# client's stderr for sanitizer reports.
teardown() {
	client_teardown
}

# What runs inside the namespace (bash): see netns_client.
NETNS_RUN=$(cat <<'EOF'
set -u
ip link set lo up && ip addr add "$ADDR/32" dev lo || exit 97
smtpd=() pop3d=()
while [ "$1" != -- ]; do smtpd+=("$1"); shift; done
shift
while [ "$1" != -- ]; do pop3d+=("$1"); shift; done
shift
# The listeners get neither the client's stdin nor fd 3 (bats' output);
# systemd-socket-activate passes on only the environment -E names.
systemd-socket-activate --accept --inetd -l "$ADDR:25" -E TZ -- \
    "$BIN/smtpd" -d "$MAILROOT" -n test.example "${smtpd[@]}" \
    </dev/null >/dev/null 2>>"$SMTPD_LOG" 3>&- &
systemd-socket-activate --accept --inetd -l "$ADDR:110" -E TZ -- \
    "$BIN/pop3d" -d "$MAILROOT" -n test.example -f 0 "${pop3d[@]}" \
    </dev/null >/dev/null 2>>"$POP3D_LOG" 3>&- &
listeners=$(jobs -p)
# Up to 5 s until both listen (in /proc/net/tcp 192.0.2.1 is 010200C0).
for _ in $(seq 1 100); do
	n=$(awk '$4 == "0A" && ($2 == "010200C0:0019" ||
	    $2 == "010200C0:006E")' /proc/net/tcp | wc -l)
	[ "$n" -eq 2 ] && break
	sleep 0.05
done
rc=0
if [ "$n" -eq 2 ]; then
	timeout -k 5 "$LIMIT" "$CLIENT" "$@" 2>"$ERR" || rc=$?
else
	echo "netns_client: the listeners did not come up" >"$ERR"
	rc=98
fi
# Up to 5 s for the handlers to end, so that their logs are whole.
for _ in $(seq 1 100); do
	spawned=$(cat "$SMTPD_LOG" "$POP3D_LOG" | grep -c '^Spawned ')
	died=$(cat "$SMTPD_LOG" "$POP3D_LOG" | grep -c '^Child [0-9]* died ')
	[ "$spawned" = "$died" ] && break
	sleep 0.05
done
# $listeners: one pid a word.
kill $listeners 2>/dev/null
wait
exit "$rc"
EOF
)

# netns_client SMTPD-ARG... -- POP3D-ARG... -- CLIENT-ARG...: in a network
# namespace of its own with 192.0.2.1 on lo, serve $BIN/smtpd SMTPD-ARGs
# on 192.0.2.1:25 and $BIN/pop3d -f 0 POP3D-ARGs on 192.0.2.1:110, one
# handler per connection (their logs SMTPD_LOG, POP3D_LOG), and run
# mail_client CLIENT-ARGs there with this shell's stdin. Its stdout is
# ours, its stderr goes to client.err (and client.err.all), as client()
# does; the status is the client's (97: no namespace, 98: no listeners).
# Bounded: the client by CLIENT_LIMIT (default 30 s), the whole by 120 s.
netns_client() {
	local rc=0 err=$BATS_TEST_TMPDIR/client.err
	ADDR=$ADDR BIN=$BIN MAILROOT=$MAILROOT SMTPD_LOG=$SMTPD_LOG \
	    POP3D_LOG=$POP3D_LOG CLIENT=$CLIENT ERR=$err \
	    LIMIT=${CLIENT_LIMIT:-30} timeout -k 5 120 \
	    unshare --net bash -c "$NETNS_RUN" bash "$@" || rc=$?
	cat "$err" >>"$BATS_TEST_TMPDIR/client.err.all"
	return "$rc"
}

# assert_refused_in_clear: the last run (script: labxyz labpass 2, then
# the end of input) showed the greeting and pop3d's refusal of USER, asked
# again for the credentials, and ended with status 0; pop3d saw the peer
# 192.0.2.1, refused once, and logged nobody in.
assert_refused_in_clear() {
	assert_success
	assert_output "Username: Password: ${MENU}+OK POP3 server is ready
$REFUSED
Username: "
	assert_log "$POP3D_LOG" 'info connect: session started peer=192\.0\.2\.1$'
	assert_log "$POP3D_LOG" ' auth-refused: ' 1
	assert_log "$POP3D_LOG" ' login: ' 0
	assert_log "$POP3D_LOG" 'info tls: ' 0
}

# assert_stderr_lines REGEXP COUNT: COUNT lines of the last run's stderr
# match the extended REGEXP.
assert_stderr_lines() {
	assert_log "$BATS_TEST_TMPDIR/client.err" "$1" "$2"
}

@test "a server with -R and no TLS: the client shows the refusal of its password from 192.0.2.1 and asks again" {
	run netns_client -- -R -- -t 10 "$ADDR" 25 110 <<-'EOF'
	labxyz
	labpass
	2
	EOF
	assert_refused_in_clear
	assert_client_stderr "$CLEAR_TEXT"
}

@test "a server with -R and TLS, a client not using TLS: the same refusal, no TLS" {
	run netns_client -C "$CERT" -K "$KEY" -- -R -C "$CERT" -K "$KEY" -- \
	    -t 10 --no-tls "$ADDR" 25 110 <<-'EOF'
	labxyz
	labpass
	2
	EOF
	assert_refused_in_clear
	assert_stderr_lines 'TLS started' 0
	assert_client_stderr "mail_client: warning: --no-tls: the password goes over the network to $ADDR in clear text"
}

@test "with TLS: from 192.0.2.1 the client sends over STARTTLS and logs in over STLS, the certificate checked for the address" {
	put_mailbox labxyz client-manage/four-messages
	run netns_client -C "$CERT" -K "$KEY" -- -R -C "$CERT" -K "$KEY" -- \
	    -t 10 --tls-trust-file "$CERT" "$ADDR" 25 110 < <(
		printf '%s\n' labxyz labpass 1
		mail_to labxyz@test.example "Sent from TEST-NET" "Over TLS."
		printf '%s\n' 2 STAT QUIT
	)
	assert_success
	assert_output --partial "Mail sent successfully"
	assert_output --partial "+OK POP3 server is ready
+OK maildrop has 5 messages ("
	assert_line --regexp "^5 bob@test\\.example $LISTED Sent from TEST-NET\$"
	assert_output --partial "> +OK Thanks for using POP3 server"
	assert_stderr_lines "$TLS_UP" 2
	assert_stderr_lines 'warning' 0
	assert_log "$SMTPD_LOG" "$TLS_LOG"
	assert_log "$POP3D_LOG" "$TLS_LOG"
	assert_log "$POP3D_LOG" ' auth-refused: ' 0
	assert_log "$POP3D_LOG" 'info login: labxyz: 5 messages, .*, by PLAIN over TLS peer=192\.0\.2\.1 '
	grep -qx 'Subject: Sent from TEST-NET' "$(mailbox labxyz)"
}

@test "with TLS: --tls against a server offering no STLS gives up before the password, exit 1" {
	run netns_client -- -R -- -t 10 --tls "$ADDR" 25 110 <<-'EOF'
	labxyz
	labpass
	2
	EOF
	assert_failure 1
	assert_client_stderr "mail_client: $ADDR offers no STLS; --tls requires TLS: the password was not sent"
	refute_output --partial "$REFUSED"
	assert_log "$POP3D_LOG" 'info connect: session started peer=192\.0\.2\.1$'
	assert_log "$POP3D_LOG" ' auth-refused: ' 0
	assert_log "$POP3D_LOG" ' login: ' 0
}

@test "with TLS: a certificate that does not name 192.0.2.1 is refused, the password not sent, exit 1" {
	run netns_client -- -R -C "$LOCAL_CERT" -K "$LOCAL_KEY" -- \
	    -t 10 --tls-trust-file "$LOCAL_CERT" "$ADDR" 25 110 <<-'EOF'
	labxyz
	labpass
	2
	EOF
	assert_failure 1
	assert_client_stderr "mail_client: TLS: the certificate of $ADDR cannot be trusted: IP address mismatch"
	assert_stderr_lines 'TLS started' 0
	assert_log "$POP3D_LOG" ' auth-refused: ' 0
	assert_log "$POP3D_LOG" ' login: ' 0
}
