#!/usr/bin/env bats
# Commands without progress (sockmail-smtpd(8) and sockmail-pop3d(8),
# LIMITS): the 101st since the last message accepted ends an SMTP session
# with 421; POP3 gets the same cap before and after login. Over TCP through
# systemd-socket-activate, with Python's smtplib and poplib taking one reply
# per command as real clients do, and through pipes for the exit status.

# shellcheck disable=SC2046 # the words of `times` are meant to split

load helpers
load net

setup() {
	make_mailroot
}

teardown() {
	stop_smtpd
	stop_pop3d
}

CLOSING="421 test.example Service not available, closing transmission channel"
POP3_JUNK="-ERR too many commands without progress"

# py SCRIPT ARG...: run a Python snippet with a time limit.
py() {
	local script=$1
	shift
	timeout 60 "$PYTHON" -c "$script" "$@"
}

# The smtplib side of the SMTP tests: helo, then each word of argv[2:]
# ("noop", "rset", "vrfy", "help", "helo", "ehlo", "mail" = one message to
# bob, "rcpt2" = one message naming bob twice), printing each reply as
# "CODE TEXT" (its first line); a server that hung up prints "closed" and
# ends it.
SMTP_SCRIPT='
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example", timeout=15)
s.helo()
def show(reply):
    print(reply[0], reply[1].decode().split("\n")[0])
try:
    for step in sys.argv[2:]:
        if step == "noop": show(s.noop())
        elif step == "rset": show(s.rset())
        elif step == "vrfy": show(s.verify("bob"))
        elif step == "help": print(s.help().decode().split("\n")[0])
        elif step == "helo": show(s.helo())
        elif step == "ehlo": show(s.ehlo())
        elif step == "mail":
            s.sendmail("a@client.example", ["bob@test.example"], "Subject: m\r\n\r\nbody\r\n")
            print("sent")
        elif step == "rcpt2":
            show(s.mail("a@client.example"))
            show(s.rcpt("bob@test.example"))
            show(s.rcpt("BOB@other.example"))
        elif step == "quit": show(s.quit()); break
        else: sys.exit("unknown step " + step)
except smtplib.SMTPServerDisconnected:
    print("closed")
'

# times WORDS N: WORDS N times, space separated.
times() {
	local _
	for _ in $(seq 1 "$2"); do
		printf '%s ' "$1"
	done
}

# assert_children_exit_0: every handler that systemd-socket-activate ran
# exited with status 0 (a 421 for the client's behaviour is no failure).
assert_children_exit_0() {
	local log=$1
	run grep -c 'died with code 0' "$log"
	assert_output "$2"
	run grep 'died with code [1-9]' "$log"
	assert_failure
}

# wait_children LOG N: wait (at most 10 s) until N handlers have ended.
wait_children() {
	for _ in $(seq 1 100); do
		(($(grep -c 'died with code' "$1") >= $2)) && return 0
		sleep 0.1
	done
	return 1
}

@test "smtp: a client that sends 101 NOOPs, one at a time, gets 421 for the 101st and is cut off" {
	start_smtpd
	run py "$SMTP_SCRIPT" "$PORT" $(times noop 101) noop
	assert_success
	assert_equal "${#lines[@]}" 102
	assert_equal "$(printf '%s\n' "${lines[@]:0:100}" | sort -u)" "250 OK"
	assert_line --index 100 "$CLOSING"
	assert_line --index 101 closed
	wait_children "$SMTPD_LOG" 1
	assert_children_exit_0 "$SMTPD_LOG" 1
}

@test "smtp: 101 NOOPs through a pipe end with 421 and exit 0; 100 do not" {
	run -0 smtp_session $(times NOOP 101) QUIT
	assert_reply 100 "250 OK"
	assert_reply 101 "$CLOSING"
	assert_equal "${#lines[@]}" 102
	run -0 smtp_session $(times NOOP 100) QUIT
	assert_reply 101 "221 test.example Service closing transmission channel"
}

@test "smtp: NOOP, RSET, VRFY, HELP, a repeated HELO or EHLO and a repeated RCPT all count" {
	start_smtpd
	run py "$SMTP_SCRIPT" "$PORT" $(times 'noop rset vrfy help helo ehlo' 16) rcpt2 noop noop
	assert_success
	# 96 junk commands (after EHLO: enhanced codes), then the repeated
	# RCPT is the 97th; the two NOOPs the 98th and 99th: not yet.
	assert_line --index 98 "250 2.1.5 bob... Recipient ok"
	assert_line --index 100 "250 2.0.0 OK"
	run py "$SMTP_SCRIPT" "$PORT" $(times 'noop rset vrfy help helo ehlo' 16) rcpt2 noop noop noop noop noop
	assert_line --index 101 "250 2.0.0 OK"
	assert_line --index 102 "421 4.7.0 test.example Service not available, closing transmission channel"
	assert_line --index 103 closed
}

@test "smtp: 100 junk commands, then a message: delivered, and the count starts again" {
	start_smtpd
	run py "$SMTP_SCRIPT" "$PORT" $(times noop 100) mail $(times noop 100) mail $(times noop 100) quit
	assert_success
	refute_line closed
	assert_line --index 302 "221 test.example Service closing transmission channel"
	run grep -c '^Subject: m$' "$(mailbox bob)"
	assert_output 2
}

@test "smtp: a connection kept open for 150 messages, each after RSET and NOOP, is never cut off" {
	start_smtpd
	run py "$SMTP_SCRIPT" "$PORT" $(times 'rset noop mail' 150) quit
	assert_success
	refute_line closed
	run grep -c '^Subject: m$' "$(mailbox bob)"
	assert_output 150
}

@test "smtp: a message refused (bare CR) is no progress" {
	run -0 smtp_raw "HELO client.example\r\n$(printf 'NOOP\\r\\n%.0s' $(seq 1 100))MAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nDATA\r\na\rb\r\n.\r\nNOOP\r\nQUIT\r\n"
	assert_reply 105 "554 Message contains bare CR"
	assert_reply 106 "$CLOSING"
	refute_mailbox bob
}

# The poplib side of the POP3 tests: each word of argv[4:] ("capa",
# "noop", "stat", "list", "user", "login" = USER and PASS argv[2], argv[3],
# "retr1", "dele1", "bad" = an unknown verb), printing each first reply
# line, or "ERR text" for a -ERR; a server that hung up prints "closed".
POP3_SCRIPT='
import poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=15)
def call(step):
    if step == "capa": return p._longcmd("CAPA")[0]
    if step == "noop": return p.noop()
    if step == "stat": return p._shortcmd("STAT")
    if step == "list": return p.list()[0]
    if step == "user": return p.user("labxyz")
    if step == "login": p.user(sys.argv[2]); return p.pass_(sys.argv[3])
    if step == "retr1": return p.retr(1)[0]
    if step == "dele1": return p.dele(1)
    if step == "bad": return p._shortcmd("BOGUS")
    if step == "quit": return p.quit()
    sys.exit("unknown step " + step)
for step in sys.argv[4:]:
    try:
        print(call(step).decode())
    except poplib.error_proto as e:
        text = e.args[0].decode() if isinstance(e.args[0], bytes) else str(e.args[0])
        if text == "-ERR EOF":
            print("closed")
            break
        print("ERR " + text)
    except (EOFError, ConnectionError):
        print("closed")
        break
'

@test "pop3: before login, the 101st command without progress gets -ERR and the end" {
	start_pop3d
	run py "$POP3_SCRIPT" "$POP3D_PORT" labxyz labpass $(times 'noop user bad stat' 25) capa login
	assert_success
	assert_line --index 0 "ERR -ERR command not valid in this state"
	assert_line --index 1 "+OK send PASS"
	assert_line --index 2 "ERR -ERR unrecognized command"
	assert_line --index 100 "ERR $POP3_JUNK"
	assert_line --index 101 closed
	wait_children "$POP3D_LOG" 1
	assert_children_exit_0 "$POP3D_LOG" 1
}

@test "pop3: 100 commands before login, then a login still works" {
	start_pop3d
	run py "$POP3_SCRIPT" "$POP3D_PORT" labxyz labpass $(times bad 99) login stat quit
	assert_success
	assert_line --index 99 "+OK maildrop has 0 messages (0 octets)"
	assert_line --index 101 "+OK Thanks for using POP3 server"
}

@test "pop3: after login, 101 NOOPs end the session without UPDATE" {
	put_mailbox labxyz pop3-session/three.mailbox
	start_pop3d
	run py "$POP3_SCRIPT" "$POP3D_PORT" labxyz labpass login dele1 $(times noop 101) stat
	assert_success
	assert_line --index 1 "+OK message 1 deleted"
	assert_line --index 101 "+OK"
	assert_line --index 102 "ERR $POP3_JUNK"
	assert_line --index 103 closed
	# No UPDATE: the DELE was not committed.
	cmp "$TESTDATA/pop3-session/three.mailbox" "$(mailbox labxyz)"
}

@test "pop3: after login STAT, LIST, CAPA and failures count; RETR and DELE start the count again" {
	put_mailbox labxyz pop3-session/three.mailbox
	start_pop3d
	run py "$POP3_SCRIPT" "$POP3D_PORT" labxyz labpass login $(times 'stat list capa bad' 25) \
	    retr1 $(times stat 100) dele1 $(times noop 100) quit
	assert_success
	refute_line closed
	assert_line --regexp '^\+OK Thanks for using POP3 server$'
	run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox labxyz)"
	assert_equal "${#lines[@]}" 2
	run py "$POP3_SCRIPT" "$POP3D_PORT" labxyz labpass login $(times 'stat list capa bad' 25) stat stat
	assert_line --index 101 "ERR $POP3_JUNK"
	assert_line --index 102 closed
}

@test "pop3: through a pipe the junk limit ends the session with exit 0, also after a failed login" {
	run -0 pop3_session $(times CAPA 99) "USER labxyz" "PASS wrong" "PASS labpass"
	assert_equal "${lines[-2]}" "-ERR [AUTH] Invalid username or password"
	assert_equal "${lines[-1]}" "$POP3_JUNK"
}
