# shellcheck shell=bash
# Variables come from, and go to, bench/run.sh, which sources this file.
# shellcheck disable=SC2034,SC2154
# bench/report.sh: bench/run.sh's markdown report from $work/results (see
# measure.sh for its lines): medians with min-max, ratios, the
# performance goals of bench/README.md, the cost of the distributed store
# (gfs1 / gfs2 ÷ sockmail), and the CPU of the load generator next to the
# server's.

report() {
	local host
	host="$(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME")"
	awk -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" -v host="$host" \
	    -v runs="$runs" -v secs="$((t_end - t_start))" \
	    -v rev="$(git -C "$top" rev-parse --short HEAD 2>/dev/null)" \
	    -v sizes="$lat_sizes" -v quick="${QUICK:-}" \
	    -v targets="${TARGETS:+$targets}" '
	function med(k,    n, i, j, v, t) {
		n = cnt[k]
		if (n == 0) return ""
		for (i = 1; i <= n; i++) v[i] = val[k, i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		lo[k] = v[1]; hi[k] = v[n]
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	function cell(k,    m) {
		if (fails[k] && !cnt[k]) return "fail"
		m = med(k)
		if (m == "") return "n/a"
		if (cnt[k] == 1) return fmt(m)
		return fmt(m) " (" fmt(lo[k]) "–" fmt(hi[k]) ")"
	}
	function fmt(x) {
		if (x >= 100) return sprintf("%.0f", x)
		if (x >= 10) return sprintf("%.1f", x)
		return sprintf("%.2f", x)
	}
	function ratio(a, b,    x, y) {
		x = med(a); y = med(b)
		if (x == "" || y == "" || y == 0) return "n/a"
		return sprintf("%.2f×", x / y)
	}
	function goal(a, b, want,    x, y) {
		x = med(a); y = med(b)
		if (x == "" || y == "" || y == 0) return "n/a"
		return (x / y >= want ? "met" : "**not met**") sprintf(" (≥ %.1f×)", want)
	}
	$2 ~ /^gfs/ { gfs = 1 }
	$4 == "fail" { fails[$1 SUBSEP $2] = 1; next }
	{ k = $1 SUBSEP $2; val[k, ++cnt[k]] = $4
	  wall[k] += $5; gen[k] += $6; srv[k] += $7 }
	END {
		printf "# sockmail benchmark, %s\n\n", date
		printf "%s; commit %s; %d round(s)%s; the run took %d s.\n\n",
		    host, rev, runs, quick ? " (QUICK)" : "", secs
		if (targets != "")
			printf "Targets: %s (TARGETS); the others were not run.\n\n", targets
		split("s1 s2 s3 s4 s5 s6", S, " ")
		name["s1"] = "SMTP 1 KiB, 16 connections, 1 message each (msgs/s)"
		name["s2"] = "SMTP 1 KiB, 16 kept-open connections (msgs/s)"
		name["s3"] = "SMTP 1 MiB, 4 connections (msgs/s)"
		name["s4"] = "POP3 login+STAT+QUIT, 1 at a time (sessions/s)"
		name["s5"] = "POP3 login+STAT+QUIT, 16 at a time (sessions/s)"
		name["s6"] = "POP3 RETR 100 × 2 KiB, 4 at a time (MB/s)"
		nt = split("floor fsync sockmail xinetd postfix dovecot gfs1 gfs2", T, " ")
		col["floor"] = "floor"; col["fsync"] = "fsync floor"
		col["sockmail"] = "sockmail"; col["xinetd"] = "sockmail-xinetd"
		col["postfix"] = "Postfix"; col["dovecot"] = "Dovecot"
		col["gfs1"] = "gfs1"; col["gfs2"] = "gfs2"
		print "## Throughput: median (min–max), higher is better\n"
		printf "| scenario |"
		for (t = 1; t <= nt; t++) printf " %s |", col[T[t]]
		print " sockmail ÷ floor | ÷ fsync floor | ÷ Postfix/Dovecot | xinetd ÷ floor | goal |"
		printf "|---|"
		for (t = 1; t <= nt + 5; t++) printf "---|"
		print ""
		for (i = 1; i <= 6; i++) {
			s = S[i]; smtp = i <= 3
			printf "| %s |", name[s]
			for (t = 1; t <= nt; t++) {
				k = s SUBSEP T[t]
				if ((smtp && T[t] == "dovecot") ||
				    (!smtp && (T[t] == "fsync" || T[t] == "postfix")))
					printf " – |"
				else
					printf " %s |", cell(k)
			}
			sm = s SUBSEP "sockmail"
			printf " %s | %s | %s | %s | %s |\n", ratio(sm, s SUBSEP "floor"),
			    smtp ? ratio(sm, s SUBSEP "fsync") : "–",
			    ratio(sm, s SUBSEP (smtp ? "postfix" : "dovecot")),
			    ratio(s SUBSEP "xinetd", s SUBSEP "floor"),
			    smtp ? "÷ fsync floor " goal(sm, s SUBSEP "fsync", 0.8) : "÷ floor " goal(sm, s SUBSEP "floor", s == "s6" ? 0.8 : 0.7)
		}
		if (gfs) {
			print "\n## The cost of the distributed store: medians, and gfs1 / gfs2 ÷ sockmail from the same run\n"
			print "| scenario | sockmail | gfs1 | gfs2 | gfs1 ÷ sockmail | gfs2 ÷ sockmail | gfs2 ÷ gfs1 |"
			print "|---|---|---|---|---|---|---|"
			for (i = 1; i <= 6; i++) {
				s = S[i]; sm = s SUBSEP "sockmail"
				g1 = s SUBSEP "gfs1"; g2 = s SUBSEP "gfs2"
				printf "| %s | %s | %s | %s | %s | %s | %s |\n", name[s],
				    cell(sm), cell(g1), cell(g2), ratio(g1, sm),
				    ratio(g2, sm), ratio(g2, g1)
			}
		}
		print "\n## Login + STAT + QUIT latency by mailbox size (2 KiB messages), ms, median (min–max)\n"
		print "| messages | sockmail first touch | sockmail warm | Dovecot first touch | Dovecot warm | first touch: Dovecot ÷ sockmail |"
		print "|---|---|---|---|---|---|"
		ns = split(sizes, N, " ")
		small = N[1]; big = N[ns]
		for (i = 1; i <= ns; i++) {
			n = N[i]
			printf "| %s | %s | %s | %s | %s | %s |\n", n,
			    cell("first" n SUBSEP "sockmail"), cell("warm" n SUBSEP "sockmail"),
			    cell("first" n SUBSEP "dovecot"), cell("warm" n SUBSEP "dovecot"),
			    ratio("first" n SUBSEP "dovecot", "first" n SUBSEP "sockmail")
		}
		print "\n## Peak RSS of one session, MiB\n"
		print "| session | sockmail | floor | Postfix smtpd | Dovecot pop3 + pop3-login |"
		print "|---|---|---|---|---|"
		rn["rss-smtp"] = "SMTP, one 1 MiB message"
		rn["rss-stat"] = "POP3 login + STAT, " big " messages"
		rn["rss-retr"] = "POP3 RETR of a 1 MiB message"
		split("rss-smtp rss-stat rss-retr", R, " ")
		for (i = 1; i <= 3; i++) {
			r = R[i]
			printf "| %s | %s | %s | %s | %s |\n", rn[r], mib(r SUBSEP "sockmail"),
			    mib(r SUBSEP (r == "rss-smtp" ? "fsync" : "floor")),
			    r == "rss-smtp" ? mib(r SUBSEP "postfix") : "–",
			    r == "rss-smtp" ? "–" : mib(r SUBSEP "dovecot")
		}
		print "\n## Goals\n"
		print "| goal | measured | |"
		print "|---|---|---|"
		for (i = 1; i <= 3; i++) {
			s = S[i]
			printf "| %s: sockmail ≥ 0.8× the fsync floor | %s | %s |\n",
			    name[s], ratio(s SUBSEP "sockmail", s SUBSEP "fsync"),
			    verdict(s SUBSEP "sockmail", s SUBSEP "fsync", 0.8)
		}
		for (i = 4; i <= 6; i++) {
			s = S[i]; w = s == "s6" ? 0.8 : 0.7
			printf "| %s: sockmail ≥ %.1f× the floor | %s | %s |\n",
			    name[s], w, ratio(s SUBSEP "sockmail", s SUBSEP "floor"),
			    verdict(s SUBSEP "sockmail", s SUBSEP "floor", w)
		}
		a = "warm" big SUBSEP "sockmail"; b = "warm" small SUBSEP "sockmail"
		x = med(a); y = med(b)
		v = (x == "" || y == "" || y == 0) ? "n/a" : (x < 3 * y ? "met" : "**not met**")
		printf "| %s-message login warm < 3× the %s-message one | %s | %s |\n",
		    big, small, ratio(a, b), v
		a = "first" big SUBSEP "dovecot"; b = "first" big SUBSEP "sockmail"
		printf "| %s-message first touch ≥ 10× faster than Dovecot | %s | %s |\n",
		    big, ratio(a, b), verdict(a, b, 10)
		for (i = 1; i <= 3; i++) {
			r = R[i]; x = med(r SUBSEP "sockmail")
			v = x == "" ? "n/a" : (x <= 2048 ? "met" : "**not met**")
			printf "| peak RSS ≤ 2 MiB: %s | %s | %s |\n", rn[r],
			    mib(r SUBSEP "sockmail"), v
		}
		print "\n## Who was busy: CPU seconds per run (mean), load generator / server, and wall seconds\n"
		printf "| scenario |"
		for (t = 1; t <= nt; t++) printf " %s |", col[T[t]]
		printf "\n|---|"
		for (t = 1; t <= nt; t++) printf "---|"
		print ""
		for (i = 1; i <= 6; i++) {
			s = S[i]
			printf "| %s |", name[s]
			for (t = 1; t <= nt; t++) {
				k = s SUBSEP T[t]
				if (cnt[k])
					printf " %.2f / %.2f in %.2f |", gen[k] / cnt[k],
					    srv[k] / cnt[k], wall[k] / cnt[k]
				else
					printf " – |"
			}
			print ""
		}
	}
	function mib(k,    m) { m = med(k); return m == "" ? "n/a" : sprintf("%.1f", m / 1024) }
	function verdict(a, b, want,    x, y) {
		x = med(a); y = med(b)
		if (x == "" || y == "" || y == 0) return "n/a"
		return x / y >= want ? "met" : "**not met**"
	}' "$work/results"
	if [ -s "$work/unavailable" ]; then
		printf '\n## Targets not available (their figures read n/a)\n\n'
		cat "$work/unavailable"
	fi
	if [ -s "$work/retries" ]; then
		printf '\n## Failed runs (retried)\n\n'
		sed 's/^/- /' "$work/retries"
	fi
}
