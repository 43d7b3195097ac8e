# shellcheck shell=bash
# Helpers for driving a program at a real terminal: a tmux server of the
# test's own (its socket in $BATS_TEST_TMPDIR, no user configuration), so
# nothing leaks between tests or into the user's tmux. Loaded after
# helpers:
#
#	load helpers
#	load terminal
#
# term_start runs the program in a pane of a fixed size; type_line types
# into it; wait_for_screen polls what the pane shows; term_wait_exit reads
# the program's exit status (the pane stays, dead, once it ends);
# term_stop (call it from teardown) ends the server and whatever still
# runs in it. Every wait is bounded.

TERM_SOCK=''
TERM_SERVER_PID=''

# term_tmux ARG...: tmux ARGs on the test's own server. $TMUX is dropped
# so that running the suite from inside tmux changes nothing.
term_tmux() {
	env -u TMUX tmux -S "$TERM_SOCK" "$@"
}

# term_start [-x COLS] [-y ROWS] CMD [ARG...]: a tmux server of the test's
# own running CMD ARGs (no shell in between) in one pane of COLS x ROWS
# (default 100 x 40), with TERM=screen. The pane's environment is this
# shell's (the sanitizers' options reach CMD). The pane stays after CMD
# ends (remain-on-exit), so term_wait_exit can read its status.
term_start() {
	local cols=100 rows=40 conf
	while :; do
		case ${1-} in
		-x) cols=$2 ;;
		-y) rows=$2 ;;
		*) break ;;
		esac
		shift 2
	done
	if ! command -v tmux >/dev/null; then
		fail "tmux is missing (scripts/install-deps installs it)"
		return
	fi
	TERM_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	# A socket's path has room for about 107 bytes.
	if ((${#TERM_SOCK} > 100)); then
		TERM_SOCK=$(mktemp -u /tmp/sockmail-tmux.XXXXXXXX)
	fi
	conf=$BATS_TEST_TMPDIR/tmux.conf
	# remain-on-exit is set before CMD starts: CMD may end at once.
	# No status line: the pane is the whole screen.
	printf '%s\n' 'set-option -g remain-on-exit on' \
	    'set-option -g status off' 'set-option -g history-limit 10000' \
	    'set-option -g default-terminal screen' >"$conf"
	# fd 3 is bats' own output: the server must not hold it.
	if ! term_tmux -f "$conf" new-session -d -s term -x "$cols" \
	    -y "$rows" -- "$@" 3>&-; then
		fail "term_start: tmux could not start a session"
		return
	fi
	TERM_SERVER_PID=$(term_tmux display-message -p '#{pid}')
}

# term_stop: end the test's tmux server (its panes' programs get SIGHUP)
# and wait, at most 5 s, until it is gone. Does nothing when none runs.
term_stop() {
	[[ -n $TERM_SOCK ]] || return 0
	term_tmux kill-server 2>/dev/null || true
	if [[ -n $TERM_SERVER_PID ]]; then
		for _ in $(seq 1 100); do
			kill -0 "$TERM_SERVER_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$TERM_SERVER_PID" 2>/dev/null; then
			kill -KILL "$TERM_SERVER_PID" 2>/dev/null || true
		fi
	fi
	rm -f "$TERM_SOCK"
	TERM_SOCK='' TERM_SERVER_PID=''
}

# term_screen: what the pane shows and has scrolled off, wrapped lines
# joined, as text (no colours); without tmux's own "Pane is dead (status
# N, TIME)" line (remain-on-exit) and the blank lines at the end.
term_screen() {
	term_tmux capture-pane -p -J -S - -t term |
		sed '/^Pane is dead (.*)$/d' |
		sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}

# type_line TEXT: type TEXT, as it is (no key names), then Return. (Not
# "type": that is a bash builtin, which bats' load uses.)
type_line() {
	term_tmux send-keys -t term -l -- "$1" &&
	    term_tmux send-keys -t term Enter
}

# count_in TEXT SCREEN: how many times TEXT occurs in SCREEN.
count_in() {
	local text=$1 rest=$2 n=0
	while [[ $rest == *"$text"* ]]; do
		rest=${rest#*"$text"}
		((n++)) || true
	done
	echo "$n"
}

# wait_for_screen [-n COUNT] [-E] [-t SECS] TEXT: wait, polling every
# 0.1 s for at most SECS (default 20), until the pane has shown TEXT
# COUNT times (default 1) since it started. With -E, TEXT is an extended
# regular expression and COUNT counts the lines it matches. Fails with
# the screen when the time is up or the pane's program ended first.
wait_for_screen() {
	local count=1 regexp=false secs=20 text screen n i dead
	while :; do
		case ${1-} in
		-n) count=$2 ;;
		-t) secs=$2 ;;
		-E)
			regexp=true
			shift
			continue
			;;
		*) break ;;
		esac
		shift 2
	done
	text=$1
	for ((i = 0; i <= secs * 10; i++)); do
		screen=$(term_screen)
		if $regexp; then
			n=$(grep -c -E -- "$text" <<<"$screen" || true)
		else
			n=$(count_in "$text" "$screen")
		fi
		((n >= count)) && return 0
		# The program's last words are on the screen when it is dead.
		if [[ ${dead-} == 1 ]]; then
			break
		fi
		dead=$(term_tmux display-message -p -t term '#{pane_dead}')
		sleep 0.1
	done
	{
		printf 'waited for %s %s time(s), seen %s time(s)' \
		    "$($regexp && echo "/$text/" || echo "\"$text\"")" \
		    "$count" "$n"
		if [[ $dead == 1 ]]; then
			printf ' (the program ended)'
		fi
		printf '; the screen:\n%s\n' "$screen"
	} | batslib_decorate "wait_for_screen" | fail
}

# refute_screen TEXT: the pane has never shown TEXT (the history
# included).
refute_screen() {
	local screen
	screen=$(term_screen)
	if [[ $screen == *"$1"* ]]; then
		printf 'the screen:\n%s\n' "$screen" |
			batslib_decorate "the screen shows \"$1\"" | fail
	fi
}

# term_wait_exit [SECS]: wait, at most SECS (default 20), until the pane's
# program has ended; set TERM_STATUS to its exit status (128 + N when
# killed by signal N). Fails with the screen when it is still running.
term_wait_exit() {
	local i state dead sig
	for ((i = 0; i <= ${1:-20} * 10; i++)); do
		# The pane is dead when the terminal closes; its status comes
		# when tmux has reaped the program, on SIGCHLD.
		state=$(term_tmux display-message -p -t term \
		    '#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}')
		IFS=: read -r dead TERM_STATUS sig <<<"$state"
		if [[ $dead == 1 && -n $sig ]]; then
			TERM_STATUS=$((128 + sig))
		fi
		if [[ $dead == 1 && -n $TERM_STATUS ]]; then
			return 0
		fi
		# A tmux linked with libutempter can miss that SIGCHLD: on the
		# pane's close, utempter runs a helper under a SIGCHLD handler
		# of its own, and the program, ending then, stays a zombie
		# (https://github.com/tmux/tmux/issues/311). Another SIGCHLD
		# makes tmux reap it.
		if [[ $dead == 1 && -n $TERM_SERVER_PID ]]; then
			kill -CHLD "$TERM_SERVER_PID" 2>/dev/null || true
		fi
		sleep 0.1
	done
	{
		printf 'pane dead:status:signal %s; its processes:\n' "$state"
		ps -o pid,stat,wchan:20,args -s "$(term_tmux display-message \
		    -p -t term '#{pane_pid}')" || true
		printf 'the screen:\n%s\n' "$(term_screen)"
	} | batslib_decorate "the program did not end" | fail
}
