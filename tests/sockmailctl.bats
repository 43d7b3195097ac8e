#!/usr/bin/env bats
# sockmailctl, the administration command, as sockmailctl(8) describes it:
# users in userinfo.txt, the mail root's check, and import. Logins are
# proven through the real sockmail-pop3d, mail through the real
# sockmail-smtpd and sockmail-pop3d.

load helpers

CTL="$abs_top_builddir/src/sockmailctl"

setup() {
	make_mailroot
	chmod 0750 "$MAILROOT"
	chmod 0640 "$MAILROOT/userinfo.txt"
	chmod 0700 "$MAILROOT/USERS"
}

# ctl ARG...: sockmailctl on the test's mail root, under valgrind for
# `make valgrind`.
ctl() {
	"${HANDLER_PREFIX[@]}" "$CTL" -d "$MAILROOT" "$@"
}

# can_login LOGIN PASSWORD: the real POP3 handler lets LOGIN in.
can_login() {
	run pop3_session -L none -- "USER $1" "PASS $2" "QUIT"
	assert_reply 2 "+OK maildrop has $3"
}

# login_refused LOGIN PASSWORD
login_refused() {
	run pop3_session -L none -- "USER $1" "PASS $2" "QUIT"
	assert_reply 2 "-ERR [AUTH] Invalid username or password"
}

# need_root WHY: skip unless root (chown).
need_root() {
	if ((EUID != 0)); then
		skip "needs root: $1"
	fi
}

# --- user add ----------------------------------------------------------

@test "user add writes LOGIN {CRYPT}\$y\$... at the end and the user logs in" {
	cp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
	run -0 ctl user add carol <<<"carol pw"
	assert_output ""
	run tail -n 1 "$MAILROOT/userinfo.txt"
	assert_output --regexp '^carol \{CRYPT\}\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+$'
	head -n -1 "$MAILROOT/userinfo.txt" | cmp - "$BATS_TEST_TMPDIR/before"
	can_login carol "carol pw" "0 messages (0 octets)"
	login_refused carol "carol"
}

@test "ten concurrent user adds lose no line and tear none, and every user logs in" {
	cp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
	local i pids=()
	for i in 0 1 2 3 4 5 6 7 8 9; do
		ctl user add "user$i" <<<"secret-$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	# The old lines first, byte for byte, then ten new ones in some order.
	head -c "$(stat -c %s "$BATS_TEST_TMPDIR/before")" "$MAILROOT/userinfo.txt" |
		cmp - "$BATS_TEST_TMPDIR/before"
	run tail -n +"$(($(wc -l <"$BATS_TEST_TMPDIR/before") + 1))" "$MAILROOT/userinfo.txt"
	assert_equal "${#lines[@]}" 10
	for i in 0 1 2 3 4 5 6 7 8 9; do
		assert_equal "$(grep -c "^user$i " "$MAILROOT/userinfo.txt")" 1
	done
	for i in "${lines[@]}"; do
		[[ $i =~ ^user[0-9]\ \{CRYPT\}\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+$ ]] ||
			fail "torn line: $i"
	done
	for i in 0 1 2 3 4 5 6 7 8 9; do
		can_login "user$i" "secret-$i" "0 messages (0 octets)"
	done
	# No temporary file is left behind.
	run ls "$MAILROOT"
	assert_output $'USERS\nuserinfo.txt'
}

@test "user add keeps userinfo.txt's owner, group and mode" {
	need_root "gives userinfo.txt another group"
	chgrp nogroup "$MAILROOT/userinfo.txt"
	chmod 0640 "$MAILROOT/userinfo.txt"
	run -0 ctl user add carol <<<"pw"
	assert_equal "$(stat -c '%U:%G %a' "$MAILROOT/userinfo.txt")" "root:nogroup 640"
}

@test "user add keeps the mode of userinfo.txt, and gives a last line without LF its LF" {
	printf 'bob bobpass' >"$MAILROOT/userinfo.txt"
	chmod 0604 "$MAILROOT/userinfo.txt"
	run -0 ctl user add carol <<<"pw"
	assert_equal "$(stat -c '%a' "$MAILROOT/userinfo.txt")" 604
	assert_equal "$(head -n 1 "$MAILROOT/userinfo.txt")" "bob bobpass"
	can_login bob bobpass "0 messages (0 octets)"
	can_login carol pw "0 messages (0 octets)"
}

@test "user add refuses a login that exists in another case, with one line and status 1" {
	cp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
	run -1 ctl user add ALICE <<<"pw"
	assert_output "sockmailctl: user ALICE exists already (as alice: logins match in any case)"
	run -1 ctl user add bob <<<"pw"
	assert_output "sockmailctl: user bob exists already"
	cmp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
}

@test "user add refuses invalid logins: path tricks, a leading dot or dash, 65 characters" {
	cp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
	local bad
	for bad in ../x .x -x x/y 'a b' '' "$(printf 'a%.0s' {1..65})"; do
		run -1 ctl user add "$bad" <<<"pw"
		assert_equal "${#lines[@]}" 1
		assert_output --partial "sockmailctl: invalid login \"$bad\""
	done
	run -0 ctl user add "$(printf 'a%.0s' {1..64})" <<<"pw"
	run ls "$MAILROOT/USERS"
	assert_output ""
}

@test "user add refuses an empty password, and no password at all" {
	cp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
	run -1 ctl user add carol <<<""
	assert_output "sockmailctl: empty password refused"
	run -1 ctl user add carol </dev/null
	assert_output "sockmailctl: no password given"
	cmp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
}

@test "bad usage is status 2 with one line" {
	run -2 "$CTL" -d "$MAILROOT"
	assert_output --partial "sockmailctl: no command"
	run -2 ctl user add
	assert_output "sockmailctl: usage: sockmailctl [-d MAILROOT] user add LOGIN"
	run -2 ctl user add a b
	run -2 ctl user frob
	assert_output "sockmailctl: user: unknown subcommand frob (add, passwd, del, list)"
	run -2 ctl frob
	assert_output "sockmailctl: unknown command frob (see sockmailctl -h)"
	run -2 ctl user del alice --wipe
	run -2 ctl check extra
	run -2 ctl import alice
	run -2 "$CTL" -x check
	assert_output "sockmailctl: unknown option -x (see sockmailctl -h)"
	run -2 "$CTL" -d
	assert_output "sockmailctl: option -d needs an argument (see sockmailctl -h)"
}

@test "a mail root that is not there is status 1 with one line" {
	run -1 "$CTL" -d "$BATS_TEST_TMPDIR/nowhere" user list
	assert_output "sockmailctl: mail root $BATS_TEST_TMPDIR/nowhere: No such file or directory"
}

@test "the password is asked twice without echo on a terminal" {
	command -v script >/dev/null || skip "needs script(1)"
	# script gives the command a terminal; its input is typed into it,
	# each line once the prompt is up.
	{ sleep 2; printf 'tty-pw\n'; sleep 2; printf 'tty-pw\n'; sleep 1; } | script -qec "$CTL -d $MAILROOT user add carol" /dev/null \
	    >"$BATS_TEST_TMPDIR/tty.out"
	run cat "$BATS_TEST_TMPDIR/tty.out"
	assert_output --partial "New password:"
	assert_output --partial "Retype new password:"
	refute_output --partial "tty-pw"
	can_login carol tty-pw "0 messages (0 octets)"
	{ sleep 2; printf 'one\n'; sleep 2; printf 'two\n'; sleep 1; } | script -qec "$CTL -d $MAILROOT user add dave" /dev/null \
	    >"$BATS_TEST_TMPDIR/tty.out" || true
	run cat "$BATS_TEST_TMPDIR/tty.out"
	assert_output --partial "sockmailctl: the passwords do not match"
	run grep -c '^dave ' "$MAILROOT/userinfo.txt"
	assert_output 0
}

# --- user passwd -------------------------------------------------------

@test "user passwd changes one line and leaves every other byte alone" {
	printf '%s\n' '# comments stay' '' '   # indented comment' \
	    'labxyz	labpass' 'malformed line with three fields' 'x' \
	    $'SimonDS \t {PLAIN}simon456' $'crlfuser crlfpass\r' \
	    $'  alice \t old-pw  \r' 'bob bobpass' '.bad-login pw' >"$MAILROOT/userinfo.txt"
	printf 'trailing-no-lf pw' >>"$MAILROOT/userinfo.txt"
	cp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
	run -0 ctl user passwd ALICE <<<"new alice pw"
	run diff "$BATS_TEST_TMPDIR/before" "$MAILROOT/userinfo.txt"
	# One line changed: its indent, login, separator and CRLF kept.
	assert_line --index 0 "9c9"
	assert_line --index 1 --partial $'<   alice \t old-pw  \r'
	assert_line --index 3 --regexp $'^>   alice \t \\{CRYPT\\}\\$y\\$[^ ]+\r$'
	assert_equal "${#lines[@]}" 4
	can_login alice "new alice pw" "0 messages (0 octets)"
	login_refused alice old-pw
	can_login crlfuser crlfpass "0 messages (0 octets)"
	can_login trailing-no-lf pw "0 messages (0 octets)"
}

@test "user passwd of a user that does not exist is status 1" {
	run -1 ctl user passwd nobody <<<"pw"
	assert_output "sockmailctl: no such user: nobody"
}

@test "user passwd of a CRLF line keeps the CRLF" {
	printf 'bob bobpass\r\nalice x\r\n' >"$MAILROOT/userinfo.txt"
	run -0 ctl user passwd bob <<<"pw2"
	run cat -A "$MAILROOT/userinfo.txt"
	assert_line --index 0 --regexp '^bob \{CRYPT\}\$y\$.*\^M\$$'
	assert_line --index 1 'alice x^M$'
	can_login bob pw2 "0 messages (0 octets)"
}

# --- user del, list ----------------------------------------------------

@test "user del removes the line and keeps the mail; the user can no longer log in" {
	put_mailbox bob <<<$'From: a\nTo: b\nSubject: s\nReceived: 2026-01-01 : 00 : 00\nhi\n.'
	cp "$MAILROOT/userinfo.txt" "$BATS_TEST_TMPDIR/before"
	run -0 ctl user del BOB
	assert_output ""
	run diff "$BATS_TEST_TMPDIR/before" "$MAILROOT/userinfo.txt"
	assert_output --partial "< bob		bobpass"
	assert_equal "${#lines[@]}" 2
	assert [ -s "$(mailbox bob)" ]
	login_refused bob bobpass
	run -1 ctl user del bob
	assert_output "sockmailctl: no such user: bob"
}

@test "user del --purge removes the folder too, without following links" {
	put_mailbox bob <<<$'From: a\nTo: b\nSubject: s\nReceived: 2026-01-01 : 00 : 00\nhi\n.'
	mkdir "$BATS_TEST_TMPDIR/outside"
	echo keep >"$BATS_TEST_TMPDIR/outside/file"
	ln -s "$BATS_TEST_TMPDIR/outside" "$MAILROOT/USERS/bob/link"
	ln -s "$BATS_TEST_TMPDIR/outside" "$MAILROOT/USERS/alice"
	run -0 ctl user del bob --purge
	assert [ ! -e "$MAILROOT/USERS/bob" ]
	assert [ -f "$BATS_TEST_TMPDIR/outside/file" ]
	run -0 ctl user del alice --purge
	assert [ ! -L "$MAILROOT/USERS/alice" ]
	assert [ -f "$BATS_TEST_TMPDIR/outside/file" ]
	run grep -c -E '^(bob|alice)' "$MAILROOT/userinfo.txt"
	assert_output 0
}

@test "user list prints each login with its message count and size as POP3 counts them" {
	put_mailbox SimonDS pop3-session/rfc1939.mailbox
	put_mailbox labxyz pop3-session/three.mailbox
	run -0 ctl user list
	assert_output "$(printf '%s\n' 'labxyz 3 510' 'otherlab 0 0' 'IbrahimEK 0 0' \
	    'SimonDS 2 366' 'alice 0 0' 'bob 0 0')"
	# Read-only: nothing was written beside the mailboxes.
	run ls "$MAILROOT/USERS/labxyz"
	assert_output my_mailbox.txt
}

@test "user list reports a mailbox it may not read, and goes on" {
	put_mailbox bob <<<$'From: a\nTo: b\nSubject: s\nReceived: 2026-01-01 : 00 : 00\nhi\n.'
	ln -s "$(mailbox bob)" "$MAILROOT/USERS/bob/x"
	mkdir -p "$MAILROOT/USERS/alice"
	ln -s ../bob/my_mailbox.txt "$MAILROOT/USERS/alice/my_mailbox.txt"
	run -1 ctl user list
	assert_line "sockmailctl: mailbox of alice: Too many levels of symbolic links"
	assert_line "bob 1 64"
}

# --- check -------------------------------------------------------------

# A mail root with mail, an index and a penalty file, as the handlers
# leave it.
healthy_root() {
	put_mailbox labxyz pop3-session/three.mailbox
	put_mailbox SimonDS pop3-session/rfc1939.mailbox
	run pop3_session -- "USER labxyz" "PASS labpass" "QUIT"
	assert_reply 2 "+OK maildrop has 3 messages (510 octets)"
	# A failed login makes the penalty table.
	run pop3_session -- "USER nosuchuser" "PASS wrong" "QUIT"
	assert_reply 2 "-ERR [AUTH] Invalid username or password"
	assert [ -f "$MAILROOT/USERS/labxyz/my_mailbox.idx" ]
	assert [ -f "$MAILROOT/auth-penalty" ]
}

# check_finds LINE...: check fails, printing exactly these lines.
check_finds() {
	run -1 ctl check
	assert_output "$(printf "$MAILROOT%s\n" "$@")"
}

@test "check on a healthy mail root prints nothing and is status 0" {
	healthy_root
	run -0 ctl check
	assert_output ""
}

@test "check: a mail root others may enter" {
	healthy_root
	chmod 0755 "$MAILROOT"
	check_finds ": mode 0755: others may read it (want 0750)"
}

@test "check: a userinfo.txt others may read" {
	healthy_root
	chmod 0644 "$MAILROOT/userinfo.txt"
	check_finds "/userinfo.txt: mode 0644: others may read it (want 0640)"
}

@test "check: a userinfo.txt the group may write" {
	chmod 0660 "$MAILROOT/userinfo.txt"
	check_finds "/userinfo.txt: mode 0660: writable by others than its owner (want 0640)"
}

@test "check: userinfo.txt missing" {
	rm "$MAILROOT/userinfo.txt"
	check_finds "/userinfo.txt: missing: no one can log in or get mail"
}

@test "check: userinfo.txt a symbolic link, and a hard link" {
	mv "$MAILROOT/userinfo.txt" "$MAILROOT/users.real"
	ln -s users.real "$MAILROOT/userinfo.txt"
	check_finds "/userinfo.txt: a symbolic link: the handlers refuse it (sockmail-mailbox(5))"
	rm "$MAILROOT/userinfo.txt"
	ln "$MAILROOT/users.real" "$MAILROOT/userinfo.txt"
	check_finds "/userinfo.txt: 2 links to it (a hard link): the handlers refuse it"
}

@test "check: malformed lines and duplicate logins in userinfo.txt" {
	printf '%s\n' 'bob bobpass' 'onefield' 'a b c' '-x pw' '# fine' 'BOB other' >>"$MAILROOT/userinfo.txt"
	local n
	n=$(wc -l <"$TESTDATA/mailroot/userinfo.txt")
	check_finds "/userinfo.txt: line $((n + 1)): login bob again (line $((n)), bob, is the one used)" \
	    "/userinfo.txt: line $((n + 2)): malformed (not LOGIN, blanks, PASSWORD with a valid login): the handlers skip it" \
	    "/userinfo.txt: line $((n + 3)): malformed (not LOGIN, blanks, PASSWORD with a valid login): the handlers skip it" \
	    "/userinfo.txt: line $((n + 4)): malformed (not LOGIN, blanks, PASSWORD with a valid login): the handlers skip it" \
	    "/userinfo.txt: line $((n + 6)): login BOB again (line $((n)), bob, is the one used)"
}

@test "check: USERS/ others may read" {
	chmod 0755 "$MAILROOT/USERS"
	check_finds "/USERS: mode 0755: others may read it (want 0700)"
}

@test "check: a user folder and a mailbox others may read" {
	healthy_root
	chmod 0750 "$MAILROOT/USERS/labxyz"
	chmod 0644 "$(mailbox labxyz)"
	check_finds "/USERS/labxyz: mode 0750: others may read it (want 0700)" \
	    "/USERS/labxyz/my_mailbox.txt: mode 0644: others may read it (want 0600)"
}

@test "check: a user folder that is a symbolic link" {
	healthy_root
	mv "$MAILROOT/USERS/SimonDS" "$BATS_TEST_TMPDIR/elsewhere"
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$MAILROOT/USERS/SimonDS"
	check_finds "/USERS/SimonDS: a symbolic link: the handlers refuse it (sockmail-mailbox(5))"
}

@test "check: a mailbox that is a symbolic link, and one that is a hard link" {
	healthy_root
	mv "$(mailbox SimonDS)" "$BATS_TEST_TMPDIR/real"
	ln -s "$BATS_TEST_TMPDIR/real" "$(mailbox SimonDS)"
	ln "$(mailbox labxyz)" "$BATS_TEST_TMPDIR/second-name"
	check_finds "/USERS/SimonDS/my_mailbox.txt: a symbolic link: the handlers refuse it (sockmail-mailbox(5))" \
	    "/USERS/labxyz/my_mailbox.txt: 2 links to it (a hard link): the handlers refuse it"
}

@test "check: a folder spelled unlike its login" {
	put_mailbox SIMONDS pop3-session/rfc1939.mailbox
	check_finds "/USERS/SIMONDS: spelled unlike the login SimonDS in userinfo.txt: its mail is never served (rename the folder)"
}

@test "check: text after the last message of a mailbox" {
	healthy_root
	printf 'From: x\nTo: y\nSubject: cut short\n' >>"$(mailbox SimonDS)"
	check_finds "/USERS/SimonDS/my_mailbox.txt: 33 bytes after the last message's \".\" line (2 messages before them): a delivery cut short, or text not in the mailbox format; the next delivery moves it to a side file for sockmailctl import SimonDS"
}

@test "check: a side file beside a mailbox" {
	healthy_root
	printf 'From: x\nTo: y\nSubject: s\nbody\n' >"$MAILROOT/USERS/labxyz/my_mailbox.txt.tail.1700000000.host.42"
	check_finds "/USERS/labxyz/my_mailbox.txt.tail.1700000000.host.42: side file: text moved out of the mailbox; look at it, then sockmailctl import labxyz $MAILROOT/USERS/labxyz/my_mailbox.txt.tail.1700000000.host.42"
}

@test "check: a damaged message index, and one that is a symbolic link" {
	healthy_root
	printf 'junk' | dd of="$MAILROOT/USERS/labxyz/my_mailbox.idx" bs=1 seek=20 conv=notrunc status=none
	check_finds "/USERS/labxyz/my_mailbox.idx: damaged: not a whole message index (the next POP3 login rebuilds it from the mailbox)"
	# The handler does rebuild it, and check is content.
	run pop3_session -- "USER labxyz" "PASS labpass" "QUIT"
	assert_reply 2 "+OK maildrop has 3 messages (510 octets)"
	run -0 ctl check
	rm "$MAILROOT/USERS/labxyz/my_mailbox.idx"
	ln -s /dev/null "$MAILROOT/USERS/labxyz/my_mailbox.idx"
	check_finds "/USERS/labxyz/my_mailbox.idx: a symbolic link: the handlers refuse it (sockmail-mailbox(5))"
}

@test "check: a penalty table others may read" {
	healthy_root
	chmod 0644 "$MAILROOT/auth-penalty"
	check_finds "/auth-penalty: mode 0644: others may read it (want 0600)"
}

@test "check: a mailbox and a folder not owned by the handlers' user (the owner of USERS)" {
	need_root "chown"
	healthy_root
	chown -R nobody "$MAILROOT/USERS" "$MAILROOT/auth-penalty"
	chown root "$MAILROOT/USERS/labxyz" "$(mailbox SimonDS)"
	local nobody
	nobody=$(id -u nobody)
	check_finds "/USERS/SimonDS/my_mailbox.txt: owned by uid 0, not the handlers' user (uid $nobody, the owner of USERS)" \
	    "/USERS/labxyz: owned by uid 0, not the handlers' user (uid $nobody, the owner of USERS)"
}

@test "check: userinfo.txt and the mail root owned by the handlers' user" {
	need_root "chown"
	healthy_root
	chown -R nobody "$MAILROOT"
	local nobody
	nobody=$(id -u nobody)
	check_finds ": owned by the handlers' user (uid $nobody, the owner of USERS): they could rewrite the passwords; root should own it" \
	    "/userinfo.txt: owned by the handlers' user (uid $nobody, the owner of USERS): they could rewrite the passwords; root should own it"
}

# fake_mountinfo TYPE OPTIONS SUPEROPTIONS: a mountinfo(5) file saying
# the mail root's device is mounted so.
fake_mountinfo() {
	printf '1 0 %s / %s %s - %s server:/export %s\n' \
	    "$(stat -c '%Hd:%Ld' "$MAILROOT")" "$MAILROOT" "$2" "$1" "$3" \
	    >"$BATS_TEST_TMPDIR/mountinfo"
	export SOCKMAILCTL_MOUNTINFO=$BATS_TEST_TMPDIR/mountinfo
}

@test "check: NFS whose locks stay on this host loses mail under several hosts" {
	fake_mountinfo nfs4 rw,relatime rw,vers=4.2,local_lock=all,addr=127.0.0.1
	check_finds ": on NFS mounted with nolock or local_lock=posix|all: fcntl locks stay on this host, so hosts sharing it lose mail (mount without them, local_lock=none)"
	fake_mountinfo nfs rw rw,vers=3,nolock
	check_finds ": on NFS mounted with nolock or local_lock=posix|all: fcntl locks stay on this host, so hosts sharing it lose mail (mount without them, local_lock=none)"
	fake_mountinfo nfs4 rw rw,vers=4.2,local_lock=none
	run -0 ctl check
}

@test "check: SMB without byte-range locks, and a FUSE file system that keeps locks local" {
	fake_mountinfo cifs rw rw,vers=3.1.1,nobrl
	check_finds ": on SMB mounted with nobrl: fcntl locks stay on this host, so hosts sharing it lose mail (mount without nobrl)"
	fake_mountinfo fuse.sshfs rw rw,user_id=0
	check_finds ": on FUSE file system fuse.sshfs, whose fcntl locks stay on this host: serve it from this host alone, or use GlusterFS, CephFS or NFS"
	# GlusterFS with its default client caches is fine (sockmailctl(8)).
	fake_mountinfo fuse.glusterfs rw rw,user_id=0,default_permissions,allow_other
	run -0 ctl check
	assert_output ""
}

# --- import ------------------------------------------------------------

# An mbox of three messages: ">From " quoting (mboxrd), dots, one message
# without any header, CRLF lines.
write_mbox() {
	printf '%s\n' \
	    'From alice@example.org Thu Nov 27 21:04:00 2025' \
	    'From: Alice <alice@example.org>' \
	    'Subject: first' \
	    'To: bob@example.org' \
	    'Date: Thu, 27 Nov 2025 21:04:00 +0000' \
	    '' \
	    'Hello.' \
	    '>From the start of a line' \
	    '>>From quoted twice' \
	    '>not From' \
	    '.a dot' \
	    '..two dots' \
	    '.' \
	    'From here on, unquoted but after no blank line' \
	    '' \
	    'From MAILER-DAEMON Fri Nov 28 08:30:00 2025' \
	    'no header at all' \
	    'second line' \
	    '' \
	    'From carol@example.org Sat Nov 29 10:00:00 2025' \
	    $'Subject: crlf\r' \
	    $'\r' \
	    $'body in CRLF\r' \
	    '' >"$1"
}

@test "import of an mbox: From_ lines split, >From unquoted, dots stuffed, and POP3 serves each message as it was" {
	write_mbox "$BATS_TEST_TMPDIR/in.mbox"
	run -0 ctl import bob "$BATS_TEST_TMPDIR/in.mbox"
	assert_output "3 messages imported into the mailbox of bob"
	run pop3_session -L none -- "USER bob" "PASS bobpass" "RETR 1" "RETR 2" "RETR 3" "QUIT"
	assert_equal "$(<"$BATS_TEST_TMPDIR/wire.problems")" ""
	printf '%s\n' \
	    '+OK POP3 server is ready' '+OK send PASS' \
	    '+OK maildrop has 3 messages (480 octets)' \
	    '+OK 279 octets' \
	    'From: Alice <alice@example.org>' \
	    'To: bob@example.org' \
	    'Subject: first' \
	    'Received: 2025-11-27 : 21 : 04' \
	    'Date: Thu, 27 Nov 2025 21:04:00 +0000' \
	    '' \
	    'Hello.' \
	    'From the start of a line' \
	    '>From quoted twice' \
	    '>not From' \
	    '..a dot' \
	    '...two dots' \
	    '..' \
	    'From here on, unquoted but after no blank line' \
	    '.' \
	    '+OK 104 octets' \
	    'From: MAILER-DAEMON' \
	    'To: bob' \
	    'Subject: ' \
	    'Received: 2025-11-28 : 08 : 30' \
	    'no header at all' \
	    'second line' \
	    '.' \
	    '+OK 97 octets' \
	    'From: carol@example.org' \
	    'To: bob' \
	    'Subject: crlf' \
	    'Received: 2025-11-29 : 10 : 00' \
	    '' \
	    'body in CRLF' \
	    '.' \
	    '+OK Thanks for using POP3 server' >"$BATS_TEST_TMPDIR/want"
	run diff -u "$BATS_TEST_TMPDIR/want" <(printf '%s\n' "$output")
	assert_success
	# The mailbox itself: LF endings, dot-stuffed, in the mailbox format.
	run -0 ctl check
	assert_output ""
}

@test "import of a side file: whole messages, then one cut short; the stored Received: time is kept" {
	put_mailbox bob <<<$'From: a\nTo: bob\nSubject: kept\nReceived: 2026-01-01 : 00 : 00\nalready here\n.'
	local side=$MAILROOT/USERS/bob/my_mailbox.txt.tail.1767225600.otherhost.77
	printf '%s\n' 'From: x@example.org' 'To: bob@example.org' 'Subject: one' \
	    'Received: 2025-12-24 : 18 : 30' 'body' '..stuffed' '.' \
	    'From: y@example.org' 'To: bob@example.org' 'Subject: cut short' \
	    'Received: 2025-12-25 : 07 : 15' 'no dot line after this' >"$side"
	run -0 ctl import bob "$side"
	assert_output "2 messages imported into the mailbox of bob"
	run cat "$(mailbox bob)"
	assert_output "$(printf '%s\n' 'From: a' 'To: bob' 'Subject: kept' \
	    'Received: 2026-01-01 : 00 : 00' 'already here' '.' \
	    'From: x@example.org' 'To: bob@example.org' 'Subject: one' \
	    'Received: 2025-12-24 : 18 : 30' 'body' '..stuffed' '.' \
	    'From: y@example.org' 'To: bob@example.org' 'Subject: cut short' \
	    'Received: 2025-12-25 : 07 : 15' 'no dot line after this' '.')"
	# The side file stays for the administrator to remove.
	assert [ -f "$side" ]
}

@test "import refuses a file that is no mail at all, and appends nothing from any file" {
	write_mbox "$BATS_TEST_TMPDIR/good.mbox"
	printf 'just some text\n' >"$BATS_TEST_TMPDIR/notes.txt"
	run -1 ctl import bob "$BATS_TEST_TMPDIR/good.mbox" "$BATS_TEST_TMPDIR/notes.txt"
	assert_output "sockmailctl: $BATS_TEST_TMPDIR/notes.txt: neither an mbox file (the first line is no \"From \" line) nor a side file (my_mailbox.txt.tail.*)"
	printf 'From a Thu Nov 27 21:04:00 2025\nx\0y\n' >"$BATS_TEST_TMPDIR/nul.mbox"
	run -1 ctl import bob "$BATS_TEST_TMPDIR/good.mbox" "$BATS_TEST_TMPDIR/nul.mbox"
	assert_output "sockmailctl: $BATS_TEST_TMPDIR/nul.mbox: holds NUL bytes: not mail"
	: >"$BATS_TEST_TMPDIR/empty"
	run -1 ctl import bob "$BATS_TEST_TMPDIR/empty"
	assert_output "sockmailctl: $BATS_TEST_TMPDIR/empty: empty: no message"
	run -1 ctl import bob "$BATS_TEST_TMPDIR"
	assert_output "sockmailctl: $BATS_TEST_TMPDIR: not a regular file"
	run -1 ctl import nosuchuser "$BATS_TEST_TMPDIR/good.mbox"
	assert_output "sockmailctl: no such user: nosuchuser"
	refute_mailbox bob
	assert [ ! -e "$MAILROOT/USERS/bob" ]
}

@test "import appends under the delivery lock: an import and twenty deliveries at once all land whole" {
	local i n=60 pids=()
	for ((i = 1; i <= n; i++)); do
		printf 'From sender@example.org Thu Nov 27 21:04:00 2025\nSubject: imported %d\n\nbody %d\n\n' "$i" "$i"
	done >"$BATS_TEST_TMPDIR/many.mbox"
	ctl import bob "$BATS_TEST_TMPDIR/many.mbox" >"$BATS_TEST_TMPDIR/import.out" &
	pids+=($!)
	for ((i = 1; i <= 20; i++)); do
		printf 'HELO x\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: delivered %d\r\n\r\nbody %d\r\n.\r\nQUIT\r\n' "$i" "$i" |
			TMPDIR=$BATS_TEST_TMPDIR "$SMTPD" -d "$MAILROOT" -n test.example >/dev/null 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	assert_equal "$(<"$BATS_TEST_TMPDIR/import.out")" "$n messages imported into the mailbox of bob"
	# Every message once and whole: after its four stored fields, its
	# blank line, its body, its "." line.
	assert_equal "$(grep -c '^\.$' "$(mailbox bob)")" $((n + 20))
	run -0 ctl user list
	assert_line --regexp "^bob $((n + 20)) [0-9]+$"
	for ((i = 1; i <= n; i++)); do
		assert_equal "$(grep -c -x -A3 "Subject: imported $i" "$(mailbox bob)" |
			head -1)" 1
		grep -q -x -A3 "Subject: imported $i" "$(mailbox bob)" ||
			fail "imported $i missing"
		assert_equal "$(grep -x -A3 "Subject: imported $i" "$(mailbox bob)" | tail -n 3 |
			tr '\n' '|')" "Received: 2025-11-27 : 21 : 04||body $i|"
	done
	for ((i = 1; i <= 20; i++)); do
		assert_equal "$(grep -c -x "Subject: delivered $i" "$(mailbox bob)")" 1
	done
	run -0 ctl check
	assert_output ""
}

@test "import as root makes the new folder and mailbox the handlers' (the owner of USERS)" {
	need_root "chown"
	# As systemd-tmpfiles leaves it: root:sockmail 0750, USERS the
	# handlers'.
	chgrp nogroup "$MAILROOT" "$MAILROOT/userinfo.txt"
	chown nobody:nogroup "$MAILROOT/USERS"
	write_mbox "$BATS_TEST_TMPDIR/in.mbox"
	# A process that changed its user is not dumpable, and LeakSanitizer,
	# which reads its own process as a debugger would, gives up there.
	if [[ -n ${SOCKMAIL_SANITIZERS-} ]]; then
		export ASAN_OPTIONS=abort_on_error=1:detect_leaks=0
	fi
	run -0 ctl import bob "$BATS_TEST_TMPDIR/in.mbox"
	assert_equal "$(stat -c '%U %a' "$MAILROOT/USERS/bob" "$(mailbox bob)")" $'nobody 700\nnobody 600'
	run -0 ctl check
	assert_output ""
}

@test "sockmailctl runs under valgrind without an error or a leak" {
	command -v valgrind >/dev/null || skip "needs valgrind"
	[[ -z ${SOCKMAIL_SANITIZERS-} ]] || skip "valgrind and ASan do not mix"
	local vg=("${VALGRIND_PREFIX[@]}")
	write_mbox "$BATS_TEST_TMPDIR/in.mbox"
	run -0 "${vg[@]}" "$CTL" -d "$MAILROOT" user add carol <<<"pw"
	run -0 "${vg[@]}" "$CTL" -d "$MAILROOT" user passwd carol <<<"pw2"
	run -0 "${vg[@]}" "$CTL" -d "$MAILROOT" import carol "$BATS_TEST_TMPDIR/in.mbox"
	run -0 "${vg[@]}" "$CTL" -d "$MAILROOT" user list
	chmod 0644 "$MAILROOT/userinfo.txt"
	run -1 "${vg[@]}" "$CTL" -d "$MAILROOT" check
	run -0 "${vg[@]}" "$CTL" -d "$MAILROOT" user del carol --purge
	run -1 "${vg[@]}" "$CTL" -d "$MAILROOT" user add ALICE <<<"pw"
	refute_output --partial "=="
}
