#!/usr/bin/env bats
# Regression transcripts for what the hostile corpus and the soak test
# found: tests/data/hostile/README says what each was.

load helpers

@test "userinfo.txt that is a FIFO: RCPT gets 451 at once and the session goes on" {
	make_mailroot
	rm "$MAILROOT/userinfo.txt"
	mkfifo "$MAILROOT/userinfo.txt"
	run_transcript hostile/userinfo-fifo-smtp -t 5
}

@test "userinfo.txt that is a FIFO: PASS gets -ERR [SYS/TEMP] at once and the session goes on" {
	make_mailroot
	rm "$MAILROOT/userinfo.txt"
	mkfifo "$MAILROOT/userinfo.txt"
	run_transcript --pop3 hostile/userinfo-fifo-pop3 -t 5
}

@test "a QUIT cut off by the end of input deletes nothing" {
	put_mailbox labxyz pop3-session/three.mailbox
	run_transcript --pop3 hostile/quit-cut-pop3
	cmp "$TESTDATA/pop3-session/three.mailbox" "$(mailbox labxyz)"
}

@test "HELO and EHLO with control characters get 501, never an echo of them" {
	run_transcript hostile/helo-ctl-smtp
}
