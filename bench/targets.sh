# shellcheck shell=bash
# Variables come from, and go to, bench/run.sh, which sources this file.
# shellcheck disable=SC2034,SC2154
# bench/targets.sh: start and stop the servers bench/run.sh measures, each
# a private instance on loopback whose files live under $work. Sourced by
# run.sh, which sets: work (work dir), build (build dir), root (sockmail
# mail root), port (first of 10 ports). Each start_X prints why and
# returns 1 when X cannot start; each sets the variable pid_X to the
# process whose tree holds the target's processes (for CPU accounting).

p_floor_smtp=$port
p_floor_fsync=$((port + 1))
p_floor_pop3=$((port + 2))
p_sm_smtp=$((port + 3))
p_sm_pop3=$((port + 4))
p_xi_smtp=$((port + 5))
p_xi_pop3=$((port + 6))
p_pf_smtp=$((port + 7))
p_dc_pop3=$((port + 8))

# wait_port PORT: bounded wait (5 s) until something listens on PORT.
wait_port() {
	local i
	for i in $(seq 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "run.sh: nothing listens on port $1 after 5 s (try i=$i)" >&2
	return 1
}

# ssa PORT LOG CMD...: CMD under systemd-socket-activate on PORT; sets
# ssa_pid.
ssa() {
	local p=$1 log=$2
	shift 2
	SOCKMAIL_LOG=stderr systemd-socket-activate --accept --inetd \
	    -l "127.0.0.1:$p" -- "$@" 2>>"$log" &
	ssa_pid=$!
	all_pids="$all_pids $ssa_pid"
}

start_floor() {
	ssa "$p_floor_smtp" "$work/floor.log" "$build/bench/floor" smtp
	pid_floor_smtp=$ssa_pid
	mkdir -p "$work/floor-mail"
	ssa "$p_floor_fsync" "$work/floor.log" "$build/bench/floor" smtp-fsync \
	    "$work/floor-mail"
	pid_floor_fsync=$ssa_pid
	ssa "$p_floor_pop3" "$work/floor.log" "$build/bench/floor" pop3 100 2048
	pid_floor_pop3=$ssa_pid
	wait_port "$p_floor_smtp" && wait_port "$p_floor_fsync" &&
	    wait_port "$p_floor_pop3"
}

start_sockmail() {
	ssa "$p_sm_smtp" "$work/sockmail.log" "$build/src/sockmail-smtpd" \
	    -d "$root" -n bench
	pid_sm_smtp=$ssa_pid
	ssa "$p_sm_pop3" "$work/sockmail.log" "$build/src/sockmail-pop3d" \
	    -d "$root" -n bench -f 0
	pid_sm_pop3=$ssa_pid
	wait_port "$p_sm_smtp" && wait_port "$p_sm_pop3"
}

# xinetd gives the handler the client on fds 0, 1 and 2, so the handlers
# log to syslog there (sockmail never writes logs to a client); with no
# /dev/log on this machine those lines are dropped.
start_xinetd() {
	local s
	command -v xinetd >/dev/null || { echo "no xinetd" >&2; return 1; }
	{
		printf 'defaults\n{\n\tinstances = UNLIMITED\n\tper_source = UNLIMITED\n'
		printf '\tcps = 100000 1\n\tlog_type = FILE %s\n}\n' "$work/xinetd.log"
		for s in smtp pop3; do
			printf 'service sockmail-bench-%s\n{\n' "$s"
			printf '\ttype = UNLISTED\n\tsocket_type = stream\n\tprotocol = tcp\n'
			printf '\twait = no\n\tuser = root\n\tbind = 127.0.0.1\n'
			printf '\tinstances = UNLIMITED\n\tper_source = UNLIMITED\n'
			printf '\tcps = 100000 1\n\tlog_on_success =\n\tlog_on_failure =\n'
			printf '\tenv = SOCKMAIL_LOG=stderr\n'
			if [ "$s" = smtp ]; then
				printf '\tport = %s\n\tserver = %s\n\tserver_args = -d %s -n bench\n' \
				    "$p_xi_smtp" "$build/src/sockmail-smtpd" "$root"
			else
				printf '\tport = %s\n\tserver = %s\n\tserver_args = -d %s -n bench -f 0\n' \
				    "$p_xi_pop3" "$build/src/sockmail-pop3d" "$root"
			fi
			printf '}\n'
		done
	} >"$work/xinetd.conf"
	xinetd -dontfork -f "$work/xinetd.conf" -pidfile "$work/xinetd.pid" \
	    2>>"$work/xinetd.log" &
	pid_xinetd=$!
	all_pids="$all_pids $pid_xinetd"
	wait_port "$p_xi_smtp" && wait_port "$p_xi_pop3"
}

# Postfix: smtpd on loopback, virtual(8) delivering to mbox files under
# $work/pf/mail, no chroot, no DNS, no peer name lookups, no flow delay.
start_postfix() {
	local d=$work/pf u g i
	command -v postfix >/dev/null || { echo "no postfix" >&2; return 1; }
	u=$(id -u postfix) && g=$(id -g postfix) || return 1
	mkdir -p "$d/conf" "$d/queue" "$d/data" "$d/mail"
	chown postfix:postfix "$d/data" "$d/mail"
	printf 'sink@localhost sink\n' >"$d/vmailbox"
	cat >"$d/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = localhost
mydomain = localdomain
myorigin = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
in_flow_delay = 0s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
alias_maps =
alias_database =
local_recipient_maps =
message_size_limit = 0
mailbox_size_limit = 0
virtual_mailbox_limit = 0
virtual_mailbox_domains = localhost
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = texthash:$d/vmailbox
virtual_uid_maps = static:$u
virtual_gid_maps = static:$g
virtual_minimum_uid = 1
maillog_file = $d/maillog
maillog_file_prefixes = $d
biff = no
EOF
	cat >"$d/conf/master.cf" <<EOF
127.0.0.1:$p_pf_smtp inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	if ! postfix -c "$d/conf" start >>"$work/postfix.out" 2>&1; then
		echo "postfix would not start:" >&2
		tail -5 "$work/postfix.out" >&2
		return 1
	fi
	postfix_started=1
	for i in $(seq 50); do
		[ -s "$d/queue/pid/master.pid" ] && break
		sleep 0.1
	done
	pid_postfix=$(tr -d ' ' <"$d/queue/pid/master.pid" 2>/dev/null) ||
	    { echo "postfix: no master.pid after $i tries" >&2; return 1; }
	wait_port "$p_pf_smtp"
}

stop_postfix() {
	[ -n "${postfix_started:-}" ] || return 0
	postfix -c "$work/pf/conf" stop >>"$work/postfix.out" 2>&1 || true
	postfix_started=
}

# Dovecot: POP3 only, plain text logins on loopback, mbox INBOX files in
# $work/dc/home/USER/mbox (the same messages as the sockmail mail root).
start_dovecot() {
	local d=$work/dc
	command -v dovecot >/dev/null || { echo "no dovecot" >&2; return 1; }
	mkdir -p "$d/run" "$d/state"
	cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = mbox:~/mail:INBOX=~/mbox
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$d/home/%u
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $p_dc_pop3
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
}
EOF
	dovecot -c "$d/dovecot.conf" -F 2>>"$d/dovecot.log" &
	pid_dovecot=$!
	all_pids="$all_pids $pid_dovecot"
	wait_port "$p_dc_pop3"
}

stop_all() {
	local p
	stop_postfix
	for p in $all_pids; do
		kill "$p" 2>/dev/null || true
	done
	for p in $all_pids; do
		wait "$p" 2>/dev/null || true
	done
	all_pids=
}
