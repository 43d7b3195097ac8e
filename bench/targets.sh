# shellcheck shell=bash
# Variables come from, and go to, bench/run.sh, which sources this file.
# shellcheck disable=SC2034,SC2154
# bench/targets.sh: start and stop the servers bench/run.sh measures, each
# a private instance on loopback whose files live under $work. Sourced by
# run.sh, which sets: work (work dir), build (build dir), root (sockmail
# mail root), top (the source tree), port (first of 26 ports), tls (the
# folder with cert.pem and key.pem), and for the before target before
# (its build dir) and root_before (its mail root). Each
# start_X prints why and returns 1 when X cannot start; each sets the
# variable pid_X to the processes whose trees hold the target's processes
# (for CPU accounting; more than one, space-separated, for gfs1 / gfs2).

p_floor_smtp=$port
p_floor_fsync=$((port + 1))
p_floor_pop3=$((port + 2))
p_sm_smtp=$((port + 3))
p_sm_pop3=$((port + 4))
p_xi_smtp=$((port + 5))
p_xi_pop3=$((port + 6))
p_pf_smtp=$((port + 7))
p_dc_pop3=$((port + 8))
p_gfs1_smtp=$((port + 9))
p_gfs1_pop3=$((port + 10))
p_gfs2_smtp=$((port + 11))
p_gfs2_pop3=$((port + 12))
# The static floor, the TLS listeners (SMTP STARTTLS, POP3 STLS, pop3s) and
# the before target's five.
p_sfloor_smtp=$((port + 13))
p_sfloor_pop3=$((port + 14))
p_sm_smtps=$((port + 15))
p_sm_stls=$((port + 16))
p_sm_pop3s=$((port + 17))
p_pf_smtps=$((port + 18))
p_dc_stls=$((port + 19))
p_dc_pop3s=$((port + 20))
p_bf_smtp=$((port + 21))
p_bf_pop3=$((port + 22))
p_bf_smtps=$((port + 23))
p_bf_stls=$((port + 24))
p_bf_pop3s=$((port + 25))

# The cluster of gfs1 / gfs2 (tests/cluster.bash): its front end, HAProxy,
# on 127.0.0.1 and the gfs2 ports, where the load generators and wait_port
# look; the hosts' listeners take the same ports on 127.0.0.2 and .3.
# shellcheck source=tests/cluster.bash
. "$top/tests/cluster.bash"
CLUSTER_FRONT_ADDR=127.0.0.1
CLUSTER_SMTP_PORT=$p_gfs2_smtp
CLUSTER_POP3_PORT=$p_gfs2_pop3
cluster=$work/cluster
gfs_root=$cluster/host0/root
cluster_state=	# "", up, or failed
cluster_why=

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
	    wait_port "$p_floor_pop3" || return 1
	start_sfloor
}

# The static floor (bench/floor-static, the same floor.c linked
# -static-pie) comes with the floor when it was built; its absence is
# noted, not fatal.
start_sfloor() {
	local f=$build/bench/floor-static
	up[sfloor]=
	if [ ! -x "$f" ]; then
		printf -- '- static floor: no %s (make bench/floor-static; it needs a toolchain that links -static-pie)\n' \
		    "$f" >>"$work/unavailable"
		return 0
	fi
	ssa "$p_sfloor_smtp" "$work/floor.log" "$f" smtp
	pid_sfloor_smtp=$ssa_pid
	ssa "$p_sfloor_pop3" "$work/floor.log" "$f" pop3 100 2048
	pid_sfloor_pop3=$ssa_pid
	if wait_port "$p_sfloor_smtp" && wait_port "$p_sfloor_pop3" &&
	    check_smtp "$p_sfloor_smtp" none && check_pop3 "$p_sfloor_pop3"
	then
		up[sfloor]=1
	else
		printf -- '- static floor: %s\n' "$(tail -1 "$work/gen.err")" \
		    >>"$work/unavailable"
	fi
}

# handlers PREFIX SRC ROOT LOG: sockmail-smtpd and sockmail-pop3d from the
# folder SRC on mail root ROOT, five listeners: plain SMTP and POP3, SMTP
# offering STARTTLS, POP3 offering STLS, and pop3s. Every one is given the
# certificate (-C/-K), as the shipped units and xinetd files give it, so
# that a plain session pays whatever a configured certificate costs it
# (nothing since the handlers read it at the first STARTTLS/STLS; before,
# libssl and the PEM files at every start); the ports are
# p_PREFIX_{smtp,pop3,smtps,stls,pop3s}, the pids go to pid_PREFIX_*.
handlers() {
	local pre=$1 src=$2 r=$3 log=$4 svc p
	local cert=(-C "$tls/cert.pem" -K "$tls/key.pem")
	for svc in smtp pop3 smtps stls pop3s; do
		p=p_${pre}_$svc
		case $svc in
		smtp) ssa "${!p}" "$log" "$src/sockmail-smtpd" -d "$r" -n bench \
		    "${cert[@]}" ;;
		smtps) ssa "${!p}" "$log" "$src/sockmail-smtpd" -d "$r" -n bench \
		    "${cert[@]}" ;;
		pop3) ssa "${!p}" "$log" "$src/sockmail-pop3d" -d "$r" -n bench \
		    -f 0 "${cert[@]}" ;;
		stls) ssa "${!p}" "$log" "$src/sockmail-pop3d" -d "$r" -n bench \
		    -f 0 "${cert[@]}" ;;
		pop3s) ssa "${!p}" "$log" "$src/sockmail-pop3d" -d "$r" -n bench \
		    -f 0 "${cert[@]}" -S ;;
		esac
		printf -v "pid_${pre}_$svc" %s "$ssa_pid"
	done
	for svc in smtp pop3 smtps stls pop3s; do
		p=p_${pre}_$svc
		wait_port "${!p}" || return 1
	done
}

start_sockmail() {
	handlers sm "$build/src" "$root" "$work/sockmail.log"
}

# before: the handlers of another build (BEFORE), exactly as sockmail's,
# on a copy of the mail root of its own.
start_before() {
	local f
	for f in "$before/src/sockmail-smtpd" "$before/src/sockmail-pop3d"; do
		[ -x "$f" ] || { echo "before: no $f" >&2; return 1; }
	done
	handlers bf "$before/src" "$root_before" "$work/before.log"
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
				printf '\tport = %s\n\tserver = %s\n\tserver_args = -d %s -n bench -C %s -K %s\n' \
				    "$p_xi_smtp" "$build/src/sockmail-smtpd" "$root" \
				    "$tls/cert.pem" "$tls/key.pem"
			else
				printf '\tport = %s\n\tserver = %s\n\tserver_args = -d %s -n bench -f 0 -C %s -K %s\n' \
				    "$p_xi_pop3" "$build/src/sockmail-pop3d" "$root" \
				    "$tls/cert.pem" "$tls/key.pem"
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
# A second smtpd listener offers STARTTLS (smtpd_tls_security_level=may,
# with the bench's certificate, set for that listener alone in master.cf:
# the plain one stays a Postfix without TLS, as sockmail's plain handler).
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
127.0.0.1:$p_pf_smtps inet n - n - - smtpd
  -o smtpd_tls_security_level=may
  -o smtpd_tls_cert_file=$tls/cert.pem
  -o smtpd_tls_key_file=$tls/key.pem
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
	wait_port "$p_pf_smtp" && wait_port "$p_pf_smtps"
}

stop_postfix() {
	[ -n "${postfix_started:-}" ] || return 0
	postfix -c "$work/pf/conf" stop >>"$work/postfix.out" 2>&1 || true
	postfix_started=
}

# Dovecot: POP3 only, plain text logins on loopback, mbox INBOX files in
# $work/dc/home/USER/mbox (the same messages as the sockmail mail root).
# Two instances on the same mail: one without TLS (ssl = no, as sockmail's
# plain handler has no certificate), and one with the bench's certificate,
# TLS 1.3 only, offering STLS on one port and pop3s on another. The plain
# figures come from the first: a Dovecot without TLS configured, as the
# plain sockmail handler has no certificate.
dovecot_conf() {	# NAME SSL-SETTINGS LISTENERS
	local d=$work/dc
	mkdir -p "$d/run-$1" "$d/state-$1"
	cat >"$d/$1.conf" <<EOF
base_dir = $d/run-$1
state_dir = $d/state-$1
log_path = $d/$1.log
protocols = pop3
listen = 127.0.0.1
$2
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
$3
}
service imap-login {
  inet_listener imap {
    port = 0
  }
}
EOF
	dovecot -c "$d/$1.conf" -F 2>>"$d/$1.log" &
	dovecot_pid=$!
	all_pids="$all_pids $dovecot_pid"
}

start_dovecot() {
	command -v dovecot >/dev/null || { echo "no dovecot" >&2; return 1; }
	dovecot_conf plain "ssl = no" "  inet_listener pop3 {
    address = 127.0.0.1
    port = $p_dc_pop3
  }"
	pid_dovecot=$dovecot_pid
	dovecot_conf tls "ssl = yes
ssl_cert = <$tls/cert.pem
ssl_key = <$tls/key.pem
ssl_min_protocol = TLSv1.3" "  inet_listener pop3 {
    address = 127.0.0.1
    port = $p_dc_stls
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $p_dc_pop3s
    ssl = yes
  }"
	pid_dovecot_tls=$dovecot_pid
	wait_port "$p_dc_pop3" && wait_port "$p_dc_stls" &&
	    wait_port "$p_dc_pop3s"
}

# One GlusterFS volume for gfs1 and gfs2: cluster_start with two hosts
# (one when gfs2 is not among the targets), then the bench's users and
# their mail copied onto it (not the big* / huge mailboxes, which only the
# latency and RSS measurements read). Started once; a failure is
# remembered (cluster_why), and its reason said again for the second
# target.
start_cluster() {
	local hosts=1 u
	case $cluster_state in
	up) return 0 ;;
	failed) echo "$cluster_why" >&2; return 1 ;;
	esac
	cluster_state=failed
	cluster_why=$(cluster_missing)
	if [ -n "$cluster_why" ]; then
		echo "$cluster_why" >&2
		return 1
	fi
	selected gfs2 && hosts=2
	if ! cluster_start "$cluster" "$build" "$hosts"; then
		tail -n 5 "$cluster"/logs/* >&2
		cluster_why="cluster_start failed (its logs: run.sh's output)"
		echo "$cluster_why" >&2
		return 1
	fi
	cluster_why="the bench's mail could not be copied onto the volume"
	for u in "$root"/USERS/bench* "$root/USERS/sink"; do
		cp -a "$u" "$gfs_root/USERS/" || { echo "$cluster_why" >&2; return 1; }
	done
	cp -a "$root/userinfo.txt" "$gfs_root/" ||
	    { echo "$cluster_why" >&2; return 1; }
	# The cluster's long-lived processes: glusterd, the brick, the FUSE
	# mounts (their arguments hold the folder). Their CPU counts for gfs1
	# and gfs2 alike: the store's cost is theirs as much as the handlers'.
	gluster_pids=
	for u in $(pgrep -f -- "$cluster/"); do
		case $(cat "/proc/$u/comm" 2>/dev/null) in
		gluster*) gluster_pids="$gluster_pids $u" ;;
		esac
	done
	cluster_state=up
}

# gfs1: one more listener pair, like sockmail's (no -P, on 127.0.0.1), on
# host0's mount of the volume.
start_gfs1() {
	start_cluster || return 1
	ssa "$p_gfs1_smtp" "$work/gfs1.log" "$build/src/sockmail-smtpd" \
	    -d "$gfs_root" -n bench
	pid_gfs1="$ssa_pid"
	ssa "$p_gfs1_pop3" "$work/gfs1.log" "$build/src/sockmail-pop3d" \
	    -d "$gfs_root" -n bench -f 0
	pid_gfs1="$pid_gfs1 $ssa_pid $gluster_pids"
	wait_port "$p_gfs1_smtp" && wait_port "$p_gfs1_pop3"
}

# gfs2: the cluster's front end, HAProxy, over its two hosts (-P).
start_gfs2() {
	start_cluster || return 1
	pid_gfs2="$(cat "$cluster/run/haproxy.pid") $(tr '\n' ' ' \
	    <"$cluster/run/listeners")$gluster_pids"
	wait_port "$p_gfs2_smtp" && wait_port "$p_gfs2_pop3"
}

stop_all() {
	local p pids
	stop_postfix
	for p in $all_pids; do
		kill "$p" 2>/dev/null || true
	done
	for p in $all_pids; do
		wait "$p" 2>/dev/null || true
	done
	all_pids=
	# Listeners first, then the mounts: nothing holds a file on them.
	# cluster_stop kills its HAProxy and listeners, children of this
	# shell, with SIGKILL: reaped here, without bash's "Killed" lines.
	[ -d "$cluster/run" ] || return 0
	pids="$(cat "$cluster/run/haproxy.pid" "$cluster/run/listeners" \
	    2>/dev/null)"
	{
		cluster_stop "$cluster"
		for p in $pids; do
			wait "$p"
		done
	} 2>/dev/null
}
