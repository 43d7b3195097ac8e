#!/usr/bin/env bats
# The POP3 maildrop lock and the UPDATE rewrite against deliveries, crashes
# and each other (sockmail-pop3d(8); sockmail-mailbox(5) LOCKING;
# src/lib/store.h and maildrop.c): one session per maildrop, freed however
# the holder ends; deliveries never wait for a session; no message lost or
# doubled, and a kill -9 at any moment of an UPDATE leaves the old or the
# new mailbox, whole.

load helpers
load net
load locking

GOODBYE="+OK Thanks for using POP3 server"
IN_USE="-ERR [IN-USE] Maildrop already locked"

setup() {
	make_mailroot
}

teardown() {
	if [[ -n ${LATE_PID-} ]]; then
		late_open_wait || true
	fi
	if [[ -n ${HOLD_PID-} ]]; then
		kill -KILL "$HOLD_PID" 2>/dev/null || true
		held_end || true
	fi
	stop_smtpd
	stop_pop3d
}

# elapsed_ms T0: milliseconds since $EPOCHREALTIME was T0 (its six
# decimals, whatever the locale's decimal point).
elapsed_ms() {
	local now=$EPOCHREALTIME
	echo $(( (10#${now//[!0-9]/} - 10#${1//[!0-9]/}) / 1000 ))
}

@test "a second login to a held maildrop gets IN-USE, however the login is spelled, until the first session quits" {
	give_three_messages bob
	run -0 pop3_login_pipe bob bobpass
	local login=${lines[2]}
	assert_equal "$login" "+OK maildrop has 3 messages (319 octets)"

	hold_maildrop bob bobpass
	assert_equal "$HOLD_LOGIN" "$login"
	# IN-USE is no failed login: a fourth try still gets IN-USE, and the
	# session goes on to QUIT.
	run -0 pop3_login_pipe bob bobpass STAT "USER BOB" "PASS bobpass" \
	    "USER bob" "PASS bobpass" "USER Bob" "PASS bobpass"
	assert_line -n 2 "$IN_USE"
	assert_line -n 3 "-ERR command not valid in this state"
	assert_line -n 5 "$IN_USE"
	assert_line -n 7 "$IN_USE"
	assert_line -n 9 "$IN_USE"
	assert_line -n 10 "$GOODBYE"
	# The lock is bob's maildrop's, not the server's.
	run -0 pop3_login_pipe labxyz labpass
	assert_line -n 2 "+OK maildrop has 0 messages (0 octets)"

	held_cmd QUIT
	assert_equal "$REPLY" "$GOODBYE"
	held_end
	run -0 pop3_login_pipe bob bobpass
	assert_line -n 2 "$login"
	assert_no_sanitizer_report "$BATS_TEST_TMPDIR"/{hold,pipe}.err
}

@test "after kill -9 of the handler holding the maildrop, a new login succeeds at once and its DELE is not applied" {
	give_three_messages bob
	cp "$(mailbox bob)" "$BATS_TEST_TMPDIR/before"
	hold_maildrop bob bobpass
	assert_equal "$HOLD_LOGIN" "+OK maildrop has 3 messages (319 octets)"
	held_cmd "DELE 1"
	assert_equal "$REPLY" "+OK message 1 deleted"
	run -0 pop3_login_pipe bob bobpass
	assert_line -n 2 "$IN_USE"

	kill -KILL "$HOLD_PID"
	local rc=0 t0
	held_end || rc=$?
	assert_equal "$rc" 137
	t0=$EPOCHREALTIME
	run -0 pop3_login_pipe bob bobpass STAT
	assert_line -n 2 "+OK maildrop has 3 messages (319 octets)"
	assert_line -n 3 "+OK 3 319"
	# No retry, no waiting: the kernel dropped the fcntl lock with the
	# process.
	local ms
	ms=$(elapsed_ms "$t0")
	if ((ms > 2000)); then
		fail "the login after the kill took $ms ms"
	fi
	cmp "$BATS_TEST_TMPDIR/before" "$(mailbox bob)"
	assert_no_sanitizer_report "$BATS_TEST_TMPDIR"/{hold,pipe}.err
}

@test "an SMTP delivery completes with 250 at once while an idle POP3 session holds the maildrop, and that session's UPDATE keeps it" {
	give_three_messages bob
	hold_maildrop bob bobpass
	held_cmd "DELE 1"
	assert_equal "$REPLY" "+OK message 1 deleted"

	local t0 ms
	t0=$EPOCHREALTIME
	run smtp_session "HELO client.example" "MAIL FROM:<a@client.example>" \
	    "RCPT TO:<bob@test.example>" DATA "Subject: during" "" \
	    "body of during" . QUIT
	ms=$(elapsed_ms "$t0")
	assert_reply 5 "250 OK Message accepted for delivery"
	if ((ms > 3000)); then
		fail "the delivery took $ms ms while a session held the maildrop"
	fi
	run -0 mailbox_subjects bob
	assert_output $'one\ntwo\nthree\nduring'

	# The session's set was fixed at login; its UPDATE removes message 1
	# and keeps the new one.
	held_cmd STAT
	assert_equal "$REPLY" "+OK 2 214"
	held_cmd QUIT
	assert_equal "$REPLY" "$GOODBYE"
	held_end
	run -0 mailbox_subjects bob
	assert_output $'two\nthree\nduring'
	assert_no_sanitizer_report "$BATS_TEST_TMPDIR"/{hold,smtpd}.err
}

@test "QUIT frees the maildrop before its reply: a client that logs in again at once is never IN-USE" {
	require_strace
	give_three_messages bob
	# Nothing deleted: no UPDATE renames a new file, unlocked, over it.
	printf '%s\r\n' "USER bob" "PASS bobpass" STAT QUIT \
	    >"$BATS_TEST_TMPDIR/quit.in"
	# strace holds the handler back for 2 s after each write of replies:
	# only a lock freed before the last one lets the next login in then.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    SOCKMAIL_LOG=stderr strace -qq -f -o /dev/null \
	    -P "$BATS_TEST_TMPDIR/quit.out" -e trace=write \
	    -e inject=write:delay_exit=2000000 \
	    "$POP3D" -d "$MAILROOT" -n test.example -f 0 \
	    <"$BATS_TEST_TMPDIR/quit.in" >"$BATS_TEST_TMPDIR/quit.out" \
	    2>>"$BATS_TEST_TMPDIR/quit.err" 3>&- &
	local pid=$! i
	for ((i = 0; i < 200; i++)); do
		grep -q "^$GOODBYE" "$BATS_TEST_TMPDIR/quit.out" && break
		sleep 0.05
	done
	assert_equal "$(tr -d '\r' <"$BATS_TEST_TMPDIR/quit.out" | tail -n 1)" "$GOODBYE"
	kill -0 "$pid"		# still held back after writing the reply
	run -0 pop3_login_pipe bob bobpass
	assert_line -n 2 "+OK maildrop has 3 messages (319 octets)"
	wait "$pid"
	assert_no_sanitizer_report "$BATS_TEST_TMPDIR"/{quit,pipe}.err
}

# The two tests below replace the mailbox (a POP3 UPDATE: DELE 1, QUIT)
# between a handler's open of it and its first look at the open file; they
# hold the handler back there with strace, so the race is hit every time.

@test "a delivery that opened the mailbox just before a POP3 UPDATE renamed a new one over it still lands, with 250" {
	require_strace
	give_three_messages bob
	printf '%s\r\n' "HELO client.example" "MAIL FROM:<a@client.example>" \
	    "RCPT TO:<bob@test.example>" DATA "Subject: raced" "" \
	    "body of raced" . QUIT >"$BATS_TEST_TMPDIR/smtp.in"
	late_open bob "$BATS_TEST_TMPDIR/smtp.in" "$BATS_TEST_TMPDIR/smtp.out" \
	    "$SMTPD" -d "$MAILROOT" -n test.example
	run -0 pop3_login_pipe bob bobpass "DELE 1"
	assert_line -n 4 "$GOODBYE"
	late_open_wait
	run tr -d '\r' <"$BATS_TEST_TMPDIR/smtp.out"
	assert_line -n 5 "250 OK Message accepted for delivery"
	run -0 mailbox_subjects bob
	assert_output $'two\nthree\nraced'
	assert_no_sanitizer_report "$BATS_TEST_TMPDIR"/{late,pipe}.err
}

@test "a POP3 login that opened the mailbox just before another session's UPDATE renamed a new one over it logs in to the new one" {
	require_strace
	give_three_messages bob
	printf '%s\r\n' "USER bob" "PASS bobpass" STAT QUIT \
	    >"$BATS_TEST_TMPDIR/pop3.in"
	late_open bob "$BATS_TEST_TMPDIR/pop3.in" "$BATS_TEST_TMPDIR/pop3.out" \
	    "$POP3D" -d "$MAILROOT" -n test.example -f 0
	run -0 pop3_login_pipe bob bobpass "DELE 1"
	assert_line -n 4 "$GOODBYE"
	late_open_wait
	run tr -d '\r' <"$BATS_TEST_TMPDIR/pop3.out"
	assert_line -n 2 "+OK maildrop has 2 messages (214 octets)"
	assert_line -n 3 "+OK 2 214"
	assert_no_sanitizer_report "$BATS_TEST_TMPDIR"/{late,pipe}.err
}

@test "parallel SMTP deliveries and POP3 sessions that delete lose no message and duplicate none" {
	start_smtpd
	start_pop3d
	# 4 senders x 50 messages; two POP3 clients, each session RETRs and
	# DELEs up to 5 messages and QUITs (or hangs up: nothing deleted).
	run timeout -k 5 80 "$PYTHON" "$TOOLS/pop3-stress.py" race \
	    "$SMTPD_PORT" "$POP3D_PORT" "$(mailbox bob)" \
	    --senders 4 --messages 50 --poppers 2 --time-limit 60
	assert_success
	run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox bob)"
	assert_no_sanitizer_report "$SMTPD_LOG" "$POP3D_LOG"
}

@test "kill -9 of the POP3 handler before, during or after its UPDATE leaves a whole mailbox holding every delivery once" {
	start_smtpd
	# 20,000 messages (about 3 MB, rewritten by every UPDATE); each of 30
	# rounds DELEs up to 8 of them, sends QUIT and kills the handler at a
	# random moment, in a window that moves so that about half the kills
	# land before the handler answers, while deliveries go on. The temp
	# files of killed handlers stay in bob's folder, in later rounds' way.
	run timeout -k 5 70 "$PYTHON" "$TOOLS/pop3-stress.py" crash \
	    "$POP3D" "$SMTPD_PORT" "$MAILROOT" --messages 20000 --rounds 30 \
	    --min-rounds 8 --time-limit 35 --errlog "$BATS_TEST_TMPDIR/crash.err"
	echo "# ${lines[${#lines[@]} - 1]-}" >&3
	assert_success
	run -0 "$PYTHON" "$TOOLS/mbox_check.py" "$(mailbox bob)"
	assert_no_sanitizer_report "$SMTPD_LOG" "$BATS_TEST_TMPDIR/crash.err"
}
