# shellcheck shell=bash
# Variables come from, and go to, bench/run.sh, which sources this file.
# shellcheck disable=SC2034,SC2154
# bench/measure.sh: the measurements of bench/run.sh (sourced after
# targets.sh). Each appends lines "SCENARIO TARGET ROUND VALUE WALL_S
# GEN_CPU_S SERVER_CPU_S" to $work/results, or "SCENARIO TARGET ROUND fail".
#
# Server CPU: utime + stime + cutime + cstime summed over the process tree
# of the target's supervisor (systemd-socket-activate, xinetd, Postfix's
# master, Dovecot's master), read from /proc before and after a run. A
# process that exits between the two readings is counted in its parent's
# cutime/cstime once its parent reaps it (every supervisor here reaps its
# children at once; the 0.2 s pause before the second reading lets it).

now() { date +%s.%N; }

# tree_pids ROOT: the pids of ROOT and all its descendants, with comm.
tree_pids() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
	{ pid = $1; line = $0; c = line; sub(/^[0-9]+ \(/, "", c)
	  sub(/\) .*$/, "", c); sub(/^.*\) /, "", line); split(line, f, " ")
	  ppid[pid] = f[2]; comm[pid] = c }
	END { for (p in ppid) { q = p; n = 0
		while (q != root && q > 1 && n++ < 64) q = ppid[q]
		if (q == root) print p, comm[p] } }'
}

# tree_cpu "ROOT...": CPU seconds of the ROOTs' trees (see above), each
# process counted once.
tree_cpu() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="$1" \
	    -v hz="$(getconf CLK_TCK)" '
	BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) root[r[i]] = 1 }
	{ pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
	  ppid[pid] = f[2]; t[pid] = f[12] + f[13] + f[14] + f[15] }
	END { for (p in t) { q = p; n = 0
		while (!(q in root) && q > 1 && n++ < 64) q = ppid[q]
		if (q in root) sum += t[p] }
	      printf "%.2f\n", sum / hz }'
}

up_for() {
	case $1 in
	fsync) [ -n "${up[floor]:-}" ] ;;
	*) [ -n "${up[$1]:-}" ] ;;
	esac
}

# Targets with TLS listeners: SMTP STARTTLS, POP3 STLS and pop3s.
smtp_tls() { case $1 in sockmail | before | postfix) ;; *) return 1 ;; esac; }
pop3_tls() { case $1 in sockmail | before | dovecot) ;; *) return 1 ;; esac; }

# smtp_port TARGET [tls]: the port, and the pid whose tree serves it.
smtp_port() {
	case $1${2:+-$2} in
	floor) echo "$p_floor_smtp $pid_floor_smtp" ;;
	sfloor) echo "$p_sfloor_smtp $pid_sfloor_smtp" ;;
	fsync) echo "$p_floor_fsync $pid_floor_fsync" ;;
	sockmail) echo "$p_sm_smtp $pid_sm_smtp" ;;
	sockmail-tls) echo "$p_sm_smtps $pid_sm_smtps" ;;
	before) echo "$p_bf_smtp $pid_bf_smtp" ;;
	before-tls) echo "$p_bf_smtps $pid_bf_smtps" ;;
	xinetd) echo "$p_xi_smtp $pid_xinetd" ;;
	postfix) echo "$p_pf_smtp $pid_postfix" ;;
	postfix-tls) echo "$p_pf_smtps $pid_postfix" ;;
	gfs1) echo "$p_gfs1_smtp $pid_gfs1" ;;
	gfs2) echo "$p_gfs2_smtp $pid_gfs2" ;;
	esac
}

# pop3_port TARGET [stls|implicit]: the same for POP3.
pop3_port() {
	case $1${2:+-$2} in
	floor) echo "$p_floor_pop3 $pid_floor_pop3" ;;
	sfloor) echo "$p_sfloor_pop3 $pid_sfloor_pop3" ;;
	sockmail) echo "$p_sm_pop3 $pid_sm_pop3" ;;
	sockmail-stls) echo "$p_sm_stls $pid_sm_stls" ;;
	sockmail-implicit) echo "$p_sm_pop3s $pid_sm_pop3s" ;;
	before) echo "$p_bf_pop3 $pid_bf_pop3" ;;
	before-stls) echo "$p_bf_stls $pid_bf_stls" ;;
	before-implicit) echo "$p_bf_pop3s $pid_bf_pop3s" ;;
	xinetd) echo "$p_xi_pop3 $pid_xinetd" ;;
	dovecot) echo "$p_dc_pop3 $pid_dovecot" ;;
	dovecot-stls) echo "$p_dc_stls $pid_dovecot_tls" ;;
	dovecot-implicit) echo "$p_dc_pop3s $pid_dovecot_tls" ;;
	gfs1) echo "$p_gfs1_pop3 $pid_gfs1" ;;
	gfs2) echo "$p_gfs2_pop3 $pid_gfs2" ;;
	esac
}

# Postfix's deliveries so far: "status=sent" lines in its log.
sent_count() {
	grep -c 'status=sent' "$work/pf/maillog" 2>/dev/null || true
}

# wait_sent N: bounded wait (120 s) until Postfix has delivered N in all.
wait_sent() {
	local i n
	for i in $(seq 6000); do
		n=$(sent_count)
		[ "${n:-0}" -ge "$1" ] && return 0
		sleep 0.02
	done
	echo "run.sh: postfix delivered ${n:-0} of $1 after $i polls" >&2
	return 1
}

# Empty the SMTP recipient's mailbox after a run, so that it stays small.
reset_sink() {
	case $1 in
	fsync) rm -f "$work/floor-mail/sink" ;;
	sockmail | xinetd) rm -f "$root/USERS/sink/my_mailbox.txt" \
	    "$root/USERS/sink/my_mailbox.idx" ;;
	before) rm -f "$root_before/USERS/sink/my_mailbox.txt" \
	    "$root_before/USERS/sink/my_mailbox.idx" ;;
	postfix) rm -f "$work/pf/mail/sink" ;;
	# One mailbox on the volume for both (and any tail side file).
	gfs1 | gfs2) rm -f "$gfs_root/USERS/sink/"my_mailbox.* ;;
	esac
}

# smtp_send PORT CONC MSGS LEN [-d]: smtp-source, timed into $work/gen.time.
smtp_send() {
	local p=$1 c=$2 m=$3 l=$4
	shift 4
	/usr/bin/time -f '%U %S' -o "$work/gen.time" \
	    smtp-source "$@" -s "$c" -m "$m" -l "$l" -f bench@localhost \
	    -t sink@localhost "127.0.0.1:$p" >/dev/null 2>"$work/gen.err"
}

# smtp_load_send PORT CONC MSGS LEN [-T starttls]: bench/smtp-load, one
# message a connection, timed like smtp_send.
smtp_load_send() {
	local p=$1 c=$2 m=$3 l=$4
	shift 4
	/usr/bin/time -f '%U %S' -o "$work/gen.time" \
	    "$sload" -p "$p" -c "$c" -n "$m" -s "$l" -m 1 "$@" \
	    >/dev/null 2>"$work/gen.err"
}

# smtp_tls_send PORT CONC MSGS LEN: the same with STARTTLS.
smtp_tls_send() {
	smtp_load_send "$@" -T starttls
}

# smtp_run SCENARIO TARGET ROUND CONC MSGS LEN [kept|tls|load]: msgs/s.
# kept: smtp-source -d, all messages over CONC connections; tls: smtp-load
# with STARTTLS on the target's TLS listener; load: smtp-load, plain (the
# baseline of tls); else smtp-source, one message a connection.
smtp_run() {
	local s=$1 t=$2 r=$3 c=$4 m=$5 l=$6 mode=${7:-} p pid c0 c1 t0 t1 base=0
	local rc g
	read -r p pid <<<"$(smtp_port "$t" "$([ "$mode" = tls ] && echo tls)")"
	[ "$t" = postfix ] && base=$(sent_count)
	c0=$(tree_cpu "$pid")
	t0=$(now)
	case $mode in
	kept) smtp_send "$p" "$c" "$m" "$l" -d ;;
	tls) smtp_tls_send "$p" "$c" "$m" "$l" ;;
	load) smtp_load_send "$p" "$c" "$m" "$l" ;;
	*) smtp_send "$p" "$c" "$m" "$l" ;;
	esac
	rc=$?
	if [ "$rc" = 0 ] && [ "$t" = postfix ]; then
		wait_sent $((base + m)) || rc=1
	fi
	t1=$(now)
	sleep 0.2
	c1=$(tree_cpu "$pid")
	reset_sink "$t"
	if [ "$rc" != 0 ]; then
		echo "run.sh: $s $t round $r failed: $(tail -1 "$work/gen.err")" >&2
		echo "$s $t $r fail" >>"$work/results"
		return
	fi
	g=$(tail -1 "$work/gen.time" | awk '{ print $1 + $2 }')
	awk -v s="$s" -v t="$t" -v r="$r" -v m="$m" -v a="$t0" -v b="$t1" \
	    -v g="$g" -v c0="$c0" -v c1="$c1" 'BEGIN {
		printf "%s %s %s %.1f %.3f %.2f %.2f\n", s, t, r, m / (b - a),
		    b - a, g, c1 - c0 }' | tee -a "$work/results" >&2
}

# pop3_run SCENARIO TARGET ROUND CONC SESSIONS RETR [stls|implicit]:
# sessions/s, or MB/s when RETR > 0; over TLS on the target's STLS or
# pop3s listener when asked.
pop3_run() {
	local s=$1 t=$2 r=$3 c=$4 n=$5 k=$6 mode=${7:-} p pid c0 c1 line rc try
	read -r p pid <<<"$(pop3_port "$t" "$mode")"
	# A session refused ("maildrop already locked": the previous session's
	# handler had answered QUIT but not yet let go) fails pop3-load's
	# whole run; such a run is retried, at most twice, and noted.
	for try in 1 2 3; do
		c0=$(tree_cpu "$pid")
		line=$("$load" -p "$p" -u 'bench%d' -w benchpw -n "$n" -c "$c" \
		    -k "$k" ${mode:+-T "$mode"} 2>"$work/gen.err")
		rc=$?
		sleep 0.2
		c1=$(tree_cpu "$pid")
		[ "$rc" = 0 ] && break
		echo "$s $t round $r: $(tail -1 "$work/gen.err") (try $try)" |
		    tee -a "$work/retries" >&2
	done
	if [ "$rc" != 0 ] || [ -z "$line" ]; then
		echo "run.sh: $s $t round $r failed: $(tail -1 "$work/gen.err")" >&2
		echo "$s $t $r fail" >>"$work/results"
		return
	fi
	echo "$line" | awk -v s="$s" -v t="$t" -v r="$r" -v k="$k" \
	    -v c0="$c0" -v c1="$c1" '{
		printf "%s %s %s %s %s %s %.2f\n", s, t, r, (k > 0 ? $16 : $8),
		    $6, $18, c1 - c0 }' | tee -a "$work/results" >&2
}

# latency_run TARGET ROUND N: login + STAT + QUIT on the N-message
# mailbox, first touch (the derived index removed) then warm (median of
# WARM sessions), in ms.
latency_run() {
	local t=$1 r=$2 n=$3 u=big$3 p pid first warm_ms
	read -r p pid <<<"$(pop3_port "$t")"
	case $t in
	sockmail) rm -f "$root/USERS/$u/my_mailbox.idx" ;;
	dovecot) rm -rf "$work/dc/home/$u/mail/.imap"
		find "$work/dc/home/$u" -name 'dovecot.index*' -delete ;;
	esac
	first=$("$load" -p "$p" -u "$u" -w benchpw -n 1 -c 1 2>>"$work/gen.err" |
	    awk '{ print $10 }')
	warm_ms=$("$load" -p "$p" -u "$u" -w benchpw -n "$warm" -c 1 \
	    2>>"$work/gen.err" | awk '{ print $10 }')
	echo "first$n $t $r ${first:-fail} 0 0 0" | tee -a "$work/results" >&2
	echo "warm$n $t $r ${warm_ms:-fail} 0 0 0" | tee -a "$work/results" >&2
}

# ---- Checks: does the target really deliver and serve? ----

check_smtp() {	# PORT MAILBOX-FILE (none: floor): one message delivered
	smtp_send "$1" 1 1 1024 || {
		echo "SMTP on port $1 fails: $(tail -1 "$work/gen.err")" >&2
		return 1
	}
	[ "$2" = none ] || grep -q '^\.\{0,1\}$' "$2" 2>/dev/null || {
		echo "SMTP on port $1: nothing in $2" >&2
		return 1
	}
}

check_pop3() {	# PORT [stls|implicit]: one session with a RETR
	"$load" -p "$1" -u bench1 -w benchpw -n 1 -c 1 -k 1 ${2:+-T "$2"} \
	    >/dev/null 2>"$work/gen.err" || {
		echo "POP3${2:+ ($2)} on port $1 fails: $(cat "$work/gen.err")" >&2
		return 1
	}
}

check_starttls() {	# PORT: one message through STARTTLS
	smtp_tls_send "$1" 1 1 1024 || {
		echo "SMTP STARTTLS on port $1 fails: $(tail -1 "$work/gen.err")" >&2
		return 1
	}
}

# check_tls PREFIX: a handlers pair's three TLS listeners (targets.sh).
check_tls() {
	local smtps=p_$1_smtps stls=p_$1_stls pop3s=p_$1_pop3s
	check_starttls "${!smtps}" && check_pop3 "${!stls}" stls &&
	    check_pop3 "${!pop3s}" implicit
}

check_floor() {
	check_smtp "$p_floor_smtp" none &&
	    check_smtp "$p_floor_fsync" "$work/floor-mail/sink" &&
	    check_pop3 "$p_floor_pop3" && reset_sink fsync
}

check_sockmail() {
	check_smtp "$p_sm_smtp" "$root/USERS/sink/my_mailbox.txt" &&
	    check_pop3 "$p_sm_pop3" && check_tls sm && reset_sink sockmail
}

check_before() {
	check_smtp "$p_bf_smtp" "$root_before/USERS/sink/my_mailbox.txt" &&
	    check_pop3 "$p_bf_pop3" && check_tls bf && reset_sink before
}

check_xinetd() {
	check_smtp "$p_xi_smtp" "$root/USERS/sink/my_mailbox.txt" &&
	    check_pop3 "$p_xi_pop3" && reset_sink xinetd
}

check_gfs1() {
	check_smtp "$p_gfs1_smtp" "$gfs_root/USERS/sink/my_mailbox.txt" &&
	    check_pop3 "$p_gfs1_pop3" && reset_sink gfs1
}

check_gfs2() {
	check_smtp "$p_gfs2_smtp" "$gfs_root/USERS/sink/my_mailbox.txt" &&
	    check_pop3 "$p_gfs2_pop3" && reset_sink gfs2
}

check_postfix() {
	local base
	base=$(sent_count)
	check_smtp "$p_pf_smtp" none && wait_sent $((base + 1)) &&
	    check_starttls "$p_pf_smtps" && wait_sent $((base + 2)) &&
	    grep -q '^From ' "$work/pf/mail/sink" && reset_sink postfix
}

check_dovecot() {
	check_pop3 "$p_dc_pop3" && check_pop3 "$p_dc_stls" stls &&
	    check_pop3 "$p_dc_pop3s" implicit
}

# ---- Peak RSS (KiB) of one session's processes. ----

# rss_pipe TRANSCRIPT CMD...: the handler run on a piped transcript under
# /usr/bin/time: its peak RSS.
rss_pipe() {
	local in=$1
	shift
	SOCKMAIL_LOG=stderr /usr/bin/time -f %M -o "$work/rss.time" "$@" \
	    <"$in" >"$work/rss.out" 2>>"$work/rss.log" || return 1
	tail -1 "$work/rss.time"
}

# hwm_sum ROOT NAME...: the sum of VmHWM of ROOT's descendants so named.
hwm_sum() {
	local root=$1 pid comm sum=0 kb name
	shift
	while read -r pid comm; do
		for name in "$@"; do
			[ "$comm" = "$name" ] || continue
			kb=$(awk '$1 == "VmHWM:" { print $2 }' \
			    "/proc/$pid/status" 2>/dev/null)
			sum=$((sum + ${kb:-0}))
		done
	done < <(tree_pids "$root")
	echo "$sum"
}

# dovecot_rss USER CMD: the VmHWM of the session's pop3 and pop3-login
# processes, read while the session is still open after CMD.
dovecot_rss() {
	local fd line i kb
	exec {fd}<>"/dev/tcp/127.0.0.1/$p_dc_pop3" || return 1
	IFS= read -r -t 10 line <&"$fd"
	printf 'USER %s\r\nPASS benchpw\r\n%s\r\n' "$1" "$2" >&"$fd"
	for i in 1 2 3; do
		IFS= read -r -t 10 line <&"$fd" || break
	done
	if [ "${2%% *}" = RETR ]; then
		for i in $(seq 100000); do
			IFS= read -r -t 10 line <&"$fd" || break
			[ "$line" = $'.\r' ] && break
		done
	fi
	kb=$(hwm_sum "$pid_dovecot" pop3 pop3-login)
	printf 'QUIT\r\n' >&"$fd"
	IFS= read -r -t 10 line <&"$fd"
	exec {fd}>&-
	echo "$kb"
}

rss_all() {
	local big=0 n kb
	for n in $lat_sizes; do
		[ "$n" -gt "$big" ] && big=$n
	done
	awk 'BEGIN { printf "HELO bench\r\nMAIL FROM:<bench@localhost>\r\n"
		printf "RCPT TO:<sink@localhost>\r\nDATA\r\nSubject: big\r\n\r\n"
		for (i = 0; i < 16384; i++) printf "%063d\r\n", i
		printf ".\r\nQUIT\r\n" }' >"$work/smtp1m.txt"
	printf 'USER big%s\r\nPASS benchpw\r\nSTAT\r\nQUIT\r\n' "$big" \
	    >"$work/stat.txt"
	printf 'USER huge\r\nPASS benchpw\r\nRETR 1\r\nQUIT\r\n' >"$work/retr.txt"
	{
		if selected sockmail; then
			kb=$(rss_pipe "$work/smtp1m.txt" "$build/src/sockmail-smtpd" \
			    -d "$root" -n bench) &&
			    echo "rss-smtp sockmail 1 $kb 0 0 0"
			kb=$(rss_pipe "$work/stat.txt" "$build/src/sockmail-pop3d" \
			    -d "$root" -n bench -f 0) &&
			    echo "rss-stat sockmail 1 $kb 0 0 0"
			kb=$(rss_pipe "$work/retr.txt" "$build/src/sockmail-pop3d" \
			    -d "$root" -n bench -f 0) &&
			    echo "rss-retr sockmail 1 $kb 0 0 0"
			reset_sink sockmail
		fi
		if [ -n "${up[floor]:-}" ]; then
			kb=$(rss_pipe "$work/smtp1m.txt" "$build/bench/floor" \
			    smtp-fsync "$work/floor-mail") &&
			    echo "rss-smtp fsync 1 $kb 0 0 0"
			kb=$(rss_pipe "$work/stat.txt" "$build/bench/floor" pop3 \
			    "$big" 2048) && echo "rss-stat floor 1 $kb 0 0 0"
			kb=$(rss_pipe "$work/retr.txt" "$build/bench/floor" pop3 \
			    1 1048576) && echo "rss-retr floor 1 $kb 0 0 0"
			reset_sink fsync
		fi
		if [ -n "${up[postfix]:-}" ]; then
			smtp_send "$p_pf_smtp" 1 1 1048576 &&
			    echo "rss-smtp postfix 1 $(hwm_max_smtpd) 0 0 0"
		fi
		if [ -n "${up[dovecot]:-}" ]; then
			kb=$(dovecot_rss "big$big" STAT) &&
			    echo "rss-stat dovecot 1 $kb 0 0 0"
			kb=$(dovecot_rss huge "RETR 1") &&
			    echo "rss-retr dovecot 1 $kb 0 0 0"
		fi
	} | tee -a "$work/results" >&2
}

# The largest VmHWM of Postfix's smtpd processes (one served the session).
hwm_max_smtpd() {
	local pid comm kb max=0
	while read -r pid comm; do
		[ "$comm" = smtpd ] || continue
		kb=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status" \
		    2>/dev/null)
		[ "${kb:-0}" -gt "$max" ] && max=$kb
	done < <(tree_pids "$pid_postfix")
	echo "$max"
}

# ---- PSS of one session held open alone (KiB). ----

# pss_sum PID...: the sum of the processes' Pss (smaps_rollup).
pss_sum() {
	local p kb sum=0
	for p in "$@"; do
		kb=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" \
		    2>/dev/null)
		sum=$((sum + ${kb:-0}))
	done
	echo "$sum"
}

# session_pids TARGET ROOT PORT [LPORT]: the processes serving the session
# from the client's port LPORT (without it: any on PORT): for Dovecot its
# pop3 and pop3-login processes (the instance under ROOT; the only session
# there), for every other target the process holding the server's end of
# the connection (the handler; Postfix's smtpd, not its shared cleanup or
# qmgr).
session_pids() {
	local pid comm
	if [ "$1" = dovecot ]; then
		while read -r pid comm; do
			case $comm in pop3 | pop3-login) echo "$pid" ;; esac
		done < <(tree_pids "$2")
		return
	fi
	ss -Htnp state established "( sport = :$3${4:+ and dport = :$4} )" |
	    grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# pss_session SESSION TARGET PROTO TLS: one session held open by
# bench/hold-session, its processes' PSS summed, a results line.
pss_session() {
	local s=$1 t=$2 proto=$3 mode=$4 p pid lport kb pids='' i
	case $proto-$mode in
	smtp-none) read -r p pid <<<"$(smtp_port "$t")" ;;
	smtp-starttls) read -r p pid <<<"$(smtp_port "$t" tls)" ;;
	pop3-none) read -r p pid <<<"$(pop3_port "$t")" ;;
	*) read -r p pid <<<"$(pop3_port "$t" "$mode")" ;;
	esac
	# The previous session's processes gone first (bounded, 2 s).
	for i in $(seq 20); do
		[ -z "$(session_pids "$t" "$pid" "$p")" ] && break
		sleep 0.1
	done
	[ "$i" -lt 20 ] || echo "run.sh: $s on $t: an earlier session lingers" >&2
	coproc HOLD { python3 "$top/bench/hold-session" "$proto" "$p" "$mode" \
	    bench1 2>>"$work/gen.err"; }
	if IFS= read -r -t 30 lport <&"${HOLD[0]}" && [ -n "$lport" ]; then
		sleep 0.2
		pids=$(session_pids "$t" "$pid" "$p" "$lport")
		# shellcheck disable=SC2086 # a list of pids
		kb=$(pss_sum $pids)
		echo >&"${HOLD[1]}"
	fi
	wait "$HOLD_PID"
	if [ -z "$pids" ] || [ "${kb:-0}" = 0 ]; then
		echo "run.sh: PSS of $s on $t failed: $(tail -1 "$work/gen.err")" >&2
		return
	fi
	echo "$s $t 1 $kb 0 0 0"
	reset_sink "$t"
}

pss_all() {
	local t
	{
		for t in floor sfloor sockmail before xinetd postfix gfs1; do
			up_for "$t" && pss_session pss-smtp "$t" smtp none
		done
		for t in floor sfloor sockmail before xinetd dovecot gfs1; do
			up_for "$t" && pss_session pss-pop3 "$t" pop3 none
		done
		for t in sockmail before postfix; do
			up_for "$t" && pss_session pss-smtps "$t" smtp starttls
		done
		for t in sockmail before dovecot; do
			up_for "$t" || continue
			pss_session pss-stls "$t" pop3 stls
			pss_session pss-pop3s "$t" pop3 implicit
		done
	} | tee -a "$work/results" >&2
}
