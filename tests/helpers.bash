# Shared set-up for the bats suites: where the programs are, and a fresh
# mail root per test. Loaded with `load helpers`.

: "${abs_top_builddir:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${abs_top_srcdir:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
export TZ=UTC

SMTPD="$abs_top_builddir/src/sockmail-smtpd"
# shellcheck disable=SC2034 # used by net.bash and the pop3 suites
POP3D="$abs_top_builddir/src/sockmail-pop3d"
TESTDATA="$abs_top_srcdir/tests/data"

bats_load_library bats-support
bats_load_library bats-assert

# `run -N` checks the exit status; bats wants to be told it may use flags.
bats_require_minimum_version 1.5.0

# HANDLER_PREFIX: the command the filters below run each handler through.
# `make valgrind` sets SOCKMAIL_VALGRIND, and every handler runs under
# valgrind, whose reports land on the handler's stderr, where check_wire
# and check_pop3_wire look; a suite may set its own (limits.bats bounds
# memory with prlimit).
# VALGRIND_PREFIX is that valgrind for any program a suite runs itself
# (client.bash's mail_client).
HANDLER_PREFIX=()
# shellcheck disable=SC2054 # the commas are valgrind's
VALGRIND_PREFIX=(valgrind -q --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect,possible
    --show-leak-kinds=definite,indirect,possible)
if [[ -n ${SOCKMAIL_VALGRIND-} ]]; then
	HANDLER_PREFIX=("${VALGRIND_PREFIX[@]}")
fi

# Every test gets its own mail root in its own tmpdir; never inherit one
# from the caller's shell. The default one is made on first use, so a
# function run in a `run` subshell and the test itself agree on the path.
if [[ -n ${BATS_TEST_TMPDIR-} ]]; then
	MAILROOT=$BATS_TEST_TMPDIR/root
else
	unset MAILROOT
fi

# make_mailroot [DIR]: a fresh mail root with the test users and no mail;
# sets MAILROOT.
make_mailroot() {
	MAILROOT=${1:-$BATS_TEST_TMPDIR/root}
	mkdir -p "$MAILROOT/USERS"
	cp "$TESTDATA/mailroot/userinfo.txt" "$MAILROOT/userinfo.txt"
}

# mailbox LOGIN: the path of LOGIN's mailbox in $MAILROOT.
mailbox() {
	printf '%s/USERS/%s/my_mailbox.txt\n' "$MAILROOT" "$1"
}

# Make the default mail root if the test has not built one. A test that
# points MAILROOT elsewhere owns it (it may want it missing).
ensure_mailroot() {
	if [[ $MAILROOT == "$BATS_TEST_TMPDIR/root" && ! -d $MAILROOT ]]; then
		make_mailroot "$MAILROOT"
	fi
}

# put_mailbox LOGIN [FIXTURE]: give LOGIN a mailbox holding
# tests/data/FIXTURE, or stdin when no fixture is named, byte for byte (so
# a test can printf a torn tail or a missing final LF).
put_mailbox() {
	local dir
	ensure_mailroot
	dir=$MAILROOT/USERS/$1
	mkdir -p "$dir"
	chmod 0700 "$dir"
	if (($# > 1)); then
		cat "$TESTDATA/$2"
	else
		cat
	fi >"$dir/my_mailbox.txt"
	chmod 0600 "$dir/my_mailbox.txt"
}

# put_messages LOGIN NAME...: LOGIN's mailbox holds the messages $D/NAME.msg
# (a suite sets D to its folder of messages).
put_messages() {
	local login=$1 n
	shift
	for n in "$@"; do
		cat "$D/$n.msg"
	done | put_mailbox "$login"
}

# normalise_mailbox [FILE]: the Received: time is the one field that
# changes from run to run (sockmail-mailbox(5)), so it becomes <time>. C
# locale: mailboxes hold any bytes.
normalise_mailbox() {
	LC_ALL=C sed -E \
	    's/^Received: [0-9]{4}-[0-9]{2}-[0-9]{2} : [0-9]{2} : [0-9]{2}$/Received: <time>/' \
	    "$@"
}

# mailbox_text LOGIN: LOGIN's mailbox, normalised; nothing when it does not
# exist (no mail and an empty mailbox are the same to a reader).
mailbox_text() {
	local f
	f=$(mailbox "$1")
	if [[ -e $f ]]; then
		normalise_mailbox "$f"
	fi
}

# diff_or_report WANT GOT WHAT: show a unified diff on stderr when the two
# files differ; the status says whether they did.
diff_or_report() {
	local d
	if ! d=$(diff -a -u --label "expected $3" --label "actual $3" "$1" "$2"); then
		printf '%s\n' "$d" | batslib_decorate "unexpected $3" >&2
		return 1
	fi
}

# assert_mailbox LOGIN [FIXTURE]: LOGIN's mailbox (normalised) is exactly
# tests/data/FIXTURE, or stdin when no fixture is named.
assert_mailbox() {
	local want=$BATS_TEST_TMPDIR/want-mbox-$1 got=$BATS_TEST_TMPDIR/got-mbox-$1
	if (($# > 1)); then
		cp "$TESTDATA/$2" "$want"
	else
		cat >"$want"
	fi
	mailbox_text "$1" >"$got"
	diff_or_report "$want" "$got" "mailbox of $1"
}

# refute_mailbox LOGIN: nothing was delivered to LOGIN.
refute_mailbox() {
	local f
	f=$(mailbox "$1")
	if [[ -s $f ]]; then
		batslib_print_kv_single_or_multi 7 mailbox "$(cat "$f")" |
			batslib_decorate "mailbox of $1 should be empty" | fail
	fi
}

# report_checker_findings ERR: print a handler's stderr when it holds a
# sanitizer or valgrind report (valgrind's lines start "==PID==").
report_checker_findings() {
	if LC_ALL=C grep -a -q -E 'Sanitizer|runtime error|^==[0-9]+==' "$1"; then
		printf 'sanitizer or valgrind report on stderr:\n%s\n' "$(cat "$1")"
	fi
}

# check_wire OUT ERR: print what is wrong with a handler's raw replies
# (RFC 5321 4.2: every reply line is a code and ends in CRLF) and its stderr
# (sanitizer reports); print nothing when all is well.
check_wire() {
	local bad
	if [[ -s $1 ]] && ! tail -c 1 "$1" | cmp -s - <(printf '\n'); then
		printf 'the last reply line does not end in CRLF\n'
	fi
	if bad=$(LC_ALL=C grep -a -n -v -E $'^[2-5][0-9]{2}([ -].*)?\r$' "$1"); then
		printf 'reply lines not of the form "NNN text<CRLF>":\n%s\n' "$bad"
	fi
	report_checker_findings "$2"
}

# smtpd_filter [OPTION...]: run the SMTP handler as a filter on stdin, with
# -d $MAILROOT and -n test.example (unless OPTIONs name -n), and print its
# replies without CR; the status is the handler's. Raw replies and stderr
# stay in $BATS_TEST_TMPDIR/smtpd.{out,err}; wire problems are added to
# wire.problems, because under `run` this is a subshell and assert_reply
# must still see them. TMPDIR keeps the spool inside the test's tmpdir; the
# timeout keeps a hung handler from hanging the suite.
smtpd_filter() {
	local dir=$BATS_TEST_TMPDIR name=(-n test.example) a rc=0
	for a in "$@"; do
		if [[ $a == -n* ]]; then
			name=()
		fi
	done
	ensure_mailroot
	TMPDIR=$dir timeout -k 5 60 "${HANDLER_PREFIX[@]}" "$SMTPD" -d "$MAILROOT" "${name[@]}" "$@" \
	    >"$dir/smtpd.out" 2>"$dir/smtpd.err" || rc=$?
	check_wire "$dir/smtpd.out" "$dir/smtpd.err" >>"$dir/wire.problems"
	LC_ALL=C sed 's/\r$//' "$dir/smtpd.out"
	return "$rc"
}

# Split "[OPTION... --] ARG..." for smtp_session, smtp_raw, pop3_session
# and pop3_raw: a first argument starting with "-" opens handler options,
# closed by "--".
split_options() {
	opts=()
	if [[ ${1-} == -* ]]; then
		while (($#)) && [[ $1 != -- ]]; do
			opts+=("$1")
			shift
		done
		shift
	fi
	args=("$@")
}

# run smtp_session [OPTION... --] LINE...: send each LINE with CRLF to the
# handler and print the replies, one a line, CR stripped; used with `run`
# so that assert_reply N works on $lines (reply 0 is the greeting). The
# writer's stderr is dropped: the handler may rightly hang up (QUIT, 421)
# before reading everything, and "Broken pipe" must not become a reply.
smtp_session() {
	local opts args
	split_options "$@"
	{
		if ((${#args[@]})); then
			printf '%s\r\n' "${args[@]}"
		fi
	} 2>/dev/null | smtpd_filter "${opts[@]}"
}

# run smtp_raw [OPTION... --] BYTES: like smtp_session, but send BYTES as
# printf %b expands them (\r, \n, \0), for line endings and NULs that
# smtp_session cannot write.
smtp_raw() {
	local opts args
	split_options "$@"
	printf '%b' "${args[0]}" 2>/dev/null | smtpd_filter "${opts[@]}"
}

# check_pop3_wire OUT ERR: print what is wrong with the POP3 handler's raw
# replies (every line, of a status or of a multi-line reply, ends in CRLF)
# and its stderr (sanitizer reports); print nothing when all is well.
check_pop3_wire() {
	local bad
	if [[ -s $1 ]] && ! tail -c 1 "$1" | cmp -s - <(printf '\n'); then
		printf 'the last reply line does not end in CRLF\n'
	fi
	if bad=$(LC_ALL=C grep -a -n -v $'\r$' "$1"); then
		printf 'reply lines without CRLF:\n%s\n' "$bad"
	fi
	report_checker_findings "$2"
}

# pop3d_filter [OPTION...]: run the POP3 handler as a filter on stdin, with
# -d $MAILROOT -n test.example -f 0 and then OPTIONs (the last of an option
# wins, so OPTIONs may set -n or -f), and print its replies without CR; the
# APOP timestamp of an -a greeting becomes <PID.SECONDS.NANOS@DOMAIN> (the
# form sockmail-pop3d(8) gives under -a), the one field that changes from
# run to run. The status is the handler's. Raw replies and stderr (the log, with
# SOCKMAIL_LOG=stderr) stay in $BATS_TEST_TMPDIR/pop3d.{out,err}; wire
# problems are added to wire.problems, as smtpd_filter does.
pop3d_filter() {
	local dir=$BATS_TEST_TMPDIR rc=0
	ensure_mailroot
	SOCKMAIL_LOG=stderr timeout -k 5 60 "${HANDLER_PREFIX[@]}" "$POP3D" -d "$MAILROOT" \
	    -n test.example -f 0 "$@" >"$dir/pop3d.out" 2>"$dir/pop3d.err" ||
	    rc=$?
	check_pop3_wire "$dir/pop3d.out" "$dir/pop3d.err" >>"$dir/wire.problems"
	LC_ALL=C sed -E -e 's/\r$//' \
	    -e '1s/^(\+OK POP3 server is ready <)[0-9]+\.[0-9]+\.[0-9]{9}@/\1PID.SECONDS.NANOS@/' \
	    "$dir/pop3d.out"
	return "$rc"
}

# run pop3_session [OPTION... --] LINE...: smtp_session for the POP3
# handler: send each LINE with CRLF, print the replies CR stripped (reply 0
# is the greeting; a multi-line reply takes one entry of $lines a line).
pop3_session() {
	local opts args
	split_options "$@"
	{
		if ((${#args[@]})); then
			printf '%s\r\n' "${args[@]}"
		fi
	} 2>/dev/null | pop3d_filter "${opts[@]}"
}

# run pop3_raw [OPTION... --] BYTES: pop3_session with BYTES as printf %b
# expands them, for NULs and line endings pop3_session cannot write.
pop3_raw() {
	local opts args
	split_options "$@"
	printf '%b' "${args[0]}" 2>/dev/null | pop3d_filter "${opts[@]}"
}

# assert_wire_ok: no reply so far broke CRLF or the reply format, and no
# sanitizer spoke up.
assert_wire_ok() {
	local f=$BATS_TEST_TMPDIR/wire.problems
	if [[ -s $f ]]; then
		batslib_decorate "bad handler output" <"$f" | fail
	fi
}

# assert_reply N TEXT: reply line N of the last `run smtp_session` (or
# pop3_session) is TEXT.
assert_reply() {
	assert_wire_ok
	if [[ ${lines[$1]-<no reply>} != "$2" ]]; then
		{
			batslib_print_kv_single 8 "reply $1" "${lines[$1]-<no reply>}" \
			    expected "$2"
			printf 'all replies:\n'
			printf '  %s\n' "${lines[@]}"
		} | batslib_decorate "reply $1 differs" | fail
	fi
}

# run_transcript [--pop3] [--status N] [--lf] FEATURE/CASE [OPTION...]:
# feed tests/data/FEATURE/CASE.in to the SMTP handler, or with --pop3 to
# the POP3 handler (pop3d_filter), CR added before every LF unless --lf
# asks for the bare-LF transcript as stored, with OPTIONs after the
# filter's own. Fails unless the replies, CR stripped, are CASE.out; each
# CASE.mbox-LOGIN is LOGIN's mailbox (Received: time normalised); every
# other mailbox is unchanged; every reply line ends in CRLF; stderr has no
# sanitizer report; and the exit status is N (default 0). Uses the test's
# mail root if it made one (to seed a mailbox first), else a fresh one.
# Sets $output, $lines, $status.
run_transcript() {
	local want_status=0 lf=false filter=smtpd_filter
	while :; do
		case ${1-} in
		--pop3)
			filter=pop3d_filter
			shift
			;;
		--status)
			want_status=$2
			shift 2
			;;
		--lf)
			lf=true
			shift
			;;
		*) break ;;
		esac
	done
	local fx=$TESTDATA/$1 t=$BATS_TEST_TMPDIR/transcript bad=0 f login
	shift
	if [[ ! -f $fx.in || ! -f $fx.out ]]; then
		fail "run_transcript: no fixture $fx.in / $fx.out"
		return
	fi
	ensure_mailroot
	rm -rf "$t"
	mkdir -p "$t/before"
	# Keep every mailbox as it was, so a delivery to the wrong user shows.
	for f in "$MAILROOT"/USERS/*/my_mailbox.txt; do
		if [[ -e $f ]]; then
			login=${f%/my_mailbox.txt}
			cp "$f" "$t/before/${login##*/}"
		fi
	done
	if $lf; then
		cat "$fx.in"
	else
		LC_ALL=C sed -z 's/\n/\r\n/g' "$fx.in"
	fi >"$t/in"

	: >"$BATS_TEST_TMPDIR/wire.problems"
	status=0
	"$filter" "$@" <"$t/in" >"$t/replies" || status=$?
	# shellcheck disable=SC2034 # for the test's own assertions
	output=$(cat "$t/replies")
	# shellcheck disable=SC2034
	mapfile -t lines <"$t/replies"

	if [[ -s $BATS_TEST_TMPDIR/wire.problems ]]; then
		batslib_decorate "bad handler output" \
		    <"$BATS_TEST_TMPDIR/wire.problems" >&2
		bad=1
	fi
	diff_or_report "$fx.out" "$t/replies" replies || bad=1
	for f in "$fx".mbox-*; do
		if [[ -e $f ]]; then
			login=${f##*.mbox-}
			mailbox_text "$login" >"$t/mbox-$login"
			diff_or_report "$f" "$t/mbox-$login" "mailbox of $login" ||
			    bad=1
		fi
	done
	for f in "$MAILROOT"/USERS/*/my_mailbox.txt; do
		login=${f%/my_mailbox.txt}
		login=${login##*/}
		if [[ ! -e $f || -e $fx.mbox-$login ]]; then
			continue
		fi
		if [[ -e $t/before/$login ]]; then
			cmp -s "$t/before/$login" "$f" && continue
		else
			[[ -s $f ]] || continue
		fi
		printf 'mailbox of %s changed, and %s expects no change\n' \
		    "$login" "${fx##*/}" >&2
		bad=1
	done
	if ((status != want_status)); then
		printf 'handler exited %d, expected %d; its stderr:\n' \
		    "$status" "$want_status" >&2
		cat "$BATS_TEST_TMPDIR/${filter%_filter}.err" >&2
		bad=1
	fi
	return "$bad"
}

# --- tails moved aside (sockmail-mailbox(5)) ---------------------------------

# side_files LOGIN: the names of the side files in LOGIN's folder
# (my_mailbox.txt.tail.*), one a line, sorted; nothing when there are none.
side_files() {
	local f
	for f in "$MAILROOT/USERS/$1/my_mailbox.txt.tail."*; do
		if [[ -e $f ]]; then
			printf '%s\n' "${f##*/}"
		fi
	done | LC_ALL=C sort
}

# assert_no_side_file LOGIN: no tail of LOGIN's mailbox was moved aside.
assert_no_side_file() {
	local got
	got=$(side_files "$1")
	if [[ -n $got ]]; then
		printf '%s\n' "$got" |
			batslib_decorate "unexpected side file of $1" | fail
	fi
}

# assert_side_file LOGIN WANT [LOG]: LOGIN's folder holds exactly one side
# file; it is named my_mailbox.txt.tail.<UTC time, now give or take two
# minutes>.<this host>.<pid>, is a 0600 regular file with one link, and
# holds exactly the bytes of the file WANT. With LOG (a handler's stderr,
# SOCKMAIL_LOG=stderr), a `tail` event of that very pid names it. Sets
# SIDE_FILE (its path).
assert_side_file() {
	local login=$1 want=$2 log=${3-} names name stamp pid t now re
	names=$(side_files "$login")
	if [[ -z $names || $names == *$'\n'* ]]; then
		printf '%s\n' "${names:-<none>}" |
			batslib_decorate "expected one side file of $login" | fail
		return
	fi
	name=$names
	SIDE_FILE=$MAILROOT/USERS/$login/$name
	re='^my_mailbox\.txt\.tail\.([0-9]{8}T[0-9]{6}Z)\.(.+)\.([0-9]+)$'
	if [[ ! $name =~ $re ]]; then
		fail "side file name not of the form my_mailbox.txt.tail.<time>.<host>.<pid>: $name"
		return
	fi
	stamp=${BASH_REMATCH[1]} pid=${BASH_REMATCH[3]}
	if [[ ${BASH_REMATCH[2]} != "$(uname -n)" ]]; then
		fail "side file $name: host is not $(uname -n)"
		return
	fi
	t=$(date -u -d "${stamp:0:4}-${stamp:4:2}-${stamp:6:2} ${stamp:9:2}:${stamp:11:2}:${stamp:13:2}Z" +%s) ||
	    { fail "side file $name: bad time $stamp"; return; }
	now=$(date -u +%s)
	if ((t < now - 120 || t > now + 120)); then
		fail "side file $name: time $stamp is not now ($(date -u +%Y%m%dT%H%M%SZ))"
		return
	fi
	if [[ -L $SIDE_FILE || ! -f $SIDE_FILE ]]; then
		fail "side file $name is not a regular file"
		return
	fi
	assert_equal "$(stat -c '%a %h' "$SIDE_FILE")" "600 1"
	if ! cmp "$want" "$SIDE_FILE" >&2; then
		{
			printf 'expected (%d bytes):\n' "$(wc -c <"$want")"
			od -c "$want" | head -20
			printf 'side file (%d bytes):\n' "$(wc -c <"$SIDE_FILE")"
			od -c "$SIDE_FILE" | head -20
		} | batslib_decorate "side file of $login differs" | fail
		return
	fi
	if [[ -n $log ]] && ! LC_ALL=C grep -a -q -E \
	    "^sockmail-(smtpd|pop3d)\[$pid\]: [a-z]+ tail: .*mailbox of $login: .*\\b${name//./\\.}\\b" "$log"; then
		batslib_decorate "no tail event of pid $pid naming $name" <"$log" | fail
	fi
}

# assert_log_event LOG EVENT LOGIN: LOG holds an EVENT event (e.g.
# torn-tail) about LOGIN's mailbox.
assert_log_event() {
	if ! LC_ALL=C grep -a -q -E "^sockmail-(smtpd|pop3d)\[[0-9]+\]: [a-z]+ $2: mailbox of $3: " "$1"; then
		batslib_decorate "no $2 event for $3 in $1" <"$1" | fail
	fi
}

# refute_log_event LOG EVENT: LOG holds no EVENT event.
refute_log_event() {
	if LC_ALL=C grep -a -q -E "^sockmail-(smtpd|pop3d)\[[0-9]+\]: [a-z]+ $2: " "$1"; then
		batslib_decorate "unexpected $2 event in $1" <"$1" | fail
	fi
}
