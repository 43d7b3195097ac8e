# shellcheck shell=bash
# Variables come from, and go to, bench/run.sh, which sources this file.
# shellcheck disable=SC2034,SC2154
# bench/report.sh: bench/run.sh's markdown report from $work/results (see
# measure.sh for its lines): medians with min-max, ratios, TLS ÷ plain, the
# performance goals of bench/README.md, the cost of the distributed store
# (gfs1 / gfs2 ÷ sockmail), the memory of one session, and the CPU of the
# load generator next to the server's.

report() {
	local host
	host="$(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME")"
	awk -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" -v host="$host" \
	    -v runs="$runs" -v secs="$((t_end - t_start))" \
	    -v rev="$(git -C "$top" rev-parse --short HEAD 2>/dev/null)" \
	    -v sizes="$lat_sizes" -v quick="${QUICK:-}" \
	    -v targets="${TARGETS:+$targets}" -v before="$before" '
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
	# verdict(A, B, WANT, STRICT): A ÷ B ≥ WANT (> WANT when STRICT).
	function verdict(a, b, want, strict,    x, y) {
		x = med(a); y = med(b)
		if (x == "" || y == "" || y == 0) return "n/a"
		return (strict ? x / y > want : x / y >= want) ? "met" : "**not met**"
	}
	function mib(k,    m) { m = med(k); return m == "" ? "n/a" : sprintf("%.1f", m / 1024) }
	function kib(k,    m) { m = med(k); return m == "" ? "n/a" : sprintf("%d", m) }
	function smtp(s) { return s ~ /^(s[0-3]|p1|t1)$/ }
	function tls(s) { return s ~ /^[tu]/ }
	# Rows of the TLS targets alone: TLS, and p1, its plain baseline.
	function tlsrow(s) { return s ~ /^[ptu]/ }
	# Does scenario s apply to target t? (else "–")
	function applies(s, t) {
		if (smtp(s) && t == "dovecot") return 0
		if (!smtp(s) && (t == "fsync" || t == "postfix")) return 0
		if (t == "sfloor" && s !~ /^s[0145]$/) return 0
		if (tlsrow(s) && t !~ /^(sockmail|before|postfix|dovecot)$/) return 0
		return 1
	}
	# goal(SCENARIO, TEXT, A, B, WANT, STRICT): one more goal.
	function goal(s, text, a, b, want, strict) {
		ng++; gs[ng] = s; gt[ng] = text; ga[ng] = a; gb[ng] = b
		gw[ng] = want; gx[ng] = strict
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
		if (before != "")
			printf "before: the handlers of %s (BEFORE).\n\n", before
		ns = split("s0 s1 s2 s3 p1 t1 s4 s5 s6 t4 u4 t5 u5", S, " ")
		name["s0"] = "SMTP 1 KiB, 1 connection at a time, 1 message each (msgs/s)"
		name["s1"] = "SMTP 1 KiB, 16 connections, 1 message each (msgs/s)"
		name["s2"] = "SMTP 1 KiB, 16 kept-open connections (msgs/s)"
		name["s3"] = "SMTP 1 MiB, 4 connections (msgs/s)"
		name["p1"] = "SMTP 1 KiB, 16 connections, 1 message each, smtp-load (msgs/s)"
		name["t1"] = "SMTP STARTTLS 1 KiB, 16 connections, 1 message each (msgs/s)"
		name["s4"] = "POP3 login+STAT+QUIT, 1 at a time (sessions/s)"
		name["s5"] = "POP3 login+STAT+QUIT, 16 at a time (sessions/s)"
		name["s6"] = "POP3 RETR 100 × 2 KiB, 4 at a time (MB/s)"
		name["t4"] = "POP3 STLS login+STAT+QUIT, 1 at a time (sessions/s)"
		name["u4"] = "pop3s login+STAT+QUIT, 1 at a time (sessions/s)"
		name["t5"] = "POP3 STLS login+STAT+QUIT, 16 at a time (sessions/s)"
		name["u5"] = "pop3s login+STAT+QUIT, 16 at a time (sessions/s)"
		plain["t1"] = "p1"; plain["t4"] = "s4"; plain["u4"] = "s4"
		plain["t5"] = "s5"; plain["u5"] = "s5"
		tl = "floor sfloor fsync sockmail" (before != "" ? " before" : "")
		nt = split(tl " xinetd postfix dovecot gfs1 gfs2", T, " ")
		col["floor"] = "floor"; col["sfloor"] = "static floor"
		col["fsync"] = "fsync floor"; col["sockmail"] = "sockmail"
		col["before"] = "before"; col["xinetd"] = "sockmail-xinetd"
		col["postfix"] = "Postfix"; col["dovecot"] = "Dovecot"
		col["gfs1"] = "gfs1"; col["gfs2"] = "gfs2"

		# The goals of bench/README.md, in its order.
		for (i = 1; i <= ns; i++) {
			s = S[i]; sm = s SUBSEP "sockmail"
			if (s ~ /^s[0145]$/)
				goal(s, "sockmail ≥ 1.0× the floor", sm, s SUBSEP "floor", 1, 0)
			if (s == "s1")
				goal(s, "sockmail ÷ Postfix > 1.0", sm, s SUBSEP "postfix", 1, 1)
			if (s == "s2")
				goal(s, "sockmail ≥ 0.75× the fsync floor", sm, s SUBSEP "fsync", 0.75, 0)
			if (s == "s3")
				goal(s, "sockmail ≥ 0.8× the fsync floor", sm, s SUBSEP "fsync", 0.8, 0)
			if (s == "s6")
				goal(s, "sockmail ≥ 0.8× the floor", sm, s SUBSEP "floor", 0.8, 0)
			if (s ~ /^u/)
				goal(s, "sockmail ≥ 3× Dovecot", sm, s SUBSEP "dovecot", 3, 0)
			if (tls(s))
				goal(s, "sockmail ≥ 0.4× the same plain scenario",
				    sm, plain[s] SUBSEP "sockmail", 0.4, 0)
		}

		print "## Throughput: median (min–max), higher is better\n"
		printf "| scenario |"
		for (t = 1; t <= nt; t++) printf " %s |", col[T[t]]
		printf " sockmail ÷ floor | ÷ fsync floor | ÷ Postfix/Dovecot | xinetd ÷ floor |"
		if (before != "") printf " sockmail ÷ before |"
		print " goal |"
		printf "|---|"
		for (t = 1; t <= nt + 5 + (before != ""); t++) printf "---|"
		print ""
		for (i = 1; i <= ns; i++) {
			s = S[i]; sm = s SUBSEP "sockmail"
			printf "| %s |", name[s]
			for (t = 1; t <= nt; t++)
				printf " %s |", applies(s, T[t]) ? cell(s SUBSEP T[t]) : "–"
			printf " %s | %s | %s | %s |",
			    tlsrow(s) ? "–" : ratio(sm, s SUBSEP "floor"),
			    smtp(s) && !tlsrow(s) ? ratio(sm, s SUBSEP "fsync") : "–",
			    ratio(sm, s SUBSEP (smtp(s) ? "postfix" : "dovecot")),
			    tlsrow(s) ? "–" : ratio(s SUBSEP "xinetd", s SUBSEP "floor")
			if (before != "") printf " %s |", ratio(sm, s SUBSEP "before")
			g = ""
			for (j = 1; j <= ng; j++)
				if (gs[j] == s)
					g = g (g == "" ? "" : "; ") gt[j] ": " \
					    verdict(ga[j], gb[j], gw[j], gx[j])
			printf " %s |\n", g == "" ? "–" : g
		}

		print "\n## TLS ÷ plain: each target'"'"'s TLS scenario ÷ its plain one (same run)\n"
		printf "| scenario | plain | sockmail |"
		if (before != "") printf " before |"
		print " Postfix / Dovecot | TLS: sockmail ÷ Postfix/Dovecot | goal: sockmail ≥ 0.4× |"
		printf "|---|---|---|---|---|---|"
		if (before != "") printf "---|"
		print ""
		for (i = 1; i <= ns; i++) {
			s = S[i]
			if (!tls(s)) continue
			o = smtp(s) ? "postfix" : "dovecot"; p = plain[s]
			printf "| %s | %s | %s |", name[s], name[p],
			    ratio(s SUBSEP "sockmail", p SUBSEP "sockmail")
			if (before != "")
				printf " %s |", ratio(s SUBSEP "before", p SUBSEP "before")
			printf " %s | %s | %s |\n", ratio(s SUBSEP o, p SUBSEP o),
			    ratio(s SUBSEP "sockmail", s SUBSEP o),
			    verdict(s SUBSEP "sockmail", p SUBSEP "sockmail", 0.4, 0)
		}

		if (gfs) {
			print "\n## The cost of the distributed store: medians, and gfs1 / gfs2 ÷ sockmail from the same run\n"
			print "| scenario | sockmail | gfs1 | gfs2 | gfs1 ÷ sockmail | gfs2 ÷ sockmail | gfs2 ÷ gfs1 |"
			print "|---|---|---|---|---|---|---|"
			for (i = 1; i <= ns; i++) {
				s = S[i]; sm = s SUBSEP "sockmail"
				if (tlsrow(s)) continue
				g1 = s SUBSEP "gfs1"; g2 = s SUBSEP "gfs2"
				printf "| %s | %s | %s | %s | %s | %s | %s |\n", name[s],
				    cell(sm), cell(g1), cell(g2), ratio(g1, sm),
				    ratio(g2, sm), ratio(g2, g1)
			}
		}
		print "\n## Login + STAT + QUIT latency by mailbox size (2 KiB messages), ms, median (min–max)\n"
		print "| messages | sockmail first touch | sockmail warm | Dovecot first touch | Dovecot warm | first touch: Dovecot ÷ sockmail |"
		print "|---|---|---|---|---|---|"
		nz = split(sizes, N, " ")
		small = N[1]; big = N[nz]
		for (i = 1; i <= nz; i++) {
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

		print "\n## PSS of one session, KiB (the session held open alone)\n"
		np = split("floor sfloor sockmail" (before != "" ? " before" : "") \
		    " xinetd postfix dovecot gfs1", P, " ")
		pc["postfix"] = "Postfix smtpd"; pc["dovecot"] = "Dovecot pop3 + pop3-login"
		printf "| session |"
		for (t = 1; t <= np; t++) printf " %s |", P[t] in pc ? pc[P[t]] : col[P[t]]
		printf "\n|---|"
		for (t = 1; t <= np; t++) printf "---|"
		print ""
		nq = split("pss-smtp pss-smtps pss-pop3 pss-stls pss-pop3s", Q, " ")
		qn["pss-smtp"] = "SMTP: EHLO, MAIL, RCPT"
		qn["pss-smtps"] = "SMTP: EHLO, STARTTLS, EHLO, MAIL, RCPT"
		qn["pss-pop3"] = "POP3: USER, PASS, STAT"
		qn["pss-stls"] = "POP3: STLS, USER, PASS, STAT"
		qn["pss-pop3s"] = "pop3s: USER, PASS, STAT"
		for (i = 1; i <= nq; i++) {
			q = Q[i]; qs = q ~ /smtp/; qt = q !~ /^pss-(smtp|pop3)$/
			printf "| %s |", qn[q]
			for (t = 1; t <= np; t++) {
				u = P[t]
				if ((qs && u == "dovecot") || (!qs && u == "postfix") ||
				    (qt && u !~ /^(sockmail|before|postfix|dovecot)$/))
					printf " – |"
				else
					printf " %s |", kib(q SUBSEP u)
			}
			print ""
		}

		print "\n## Goals\n"
		print "| goal | measured | |"
		print "|---|---|---|"
		for (j = 1; j <= ng; j++)
			printf "| %s: %s | %s | %s |\n", name[gs[j]], gt[j],
			    ratio(ga[j], gb[j]), verdict(ga[j], gb[j], gw[j], gx[j])
		a = "warm" big SUBSEP "sockmail"; b = "warm" small SUBSEP "sockmail"
		x = med(a); y = med(b)
		v = (x == "" || y == "" || y == 0) ? "n/a" : (x < 3 * y ? "met" : "**not met**")
		printf "| %s-message login warm < 3× the %s-message one | %s | %s |\n",
		    big, small, ratio(a, b), v
		a = "first" big SUBSEP "dovecot"; b = "first" big SUBSEP "sockmail"
		printf "| %s-message first touch ≥ 10× faster than Dovecot | %s | %s |\n",
		    big, ratio(a, b), verdict(a, b, 10, 0)
		for (i = 1; i <= 3; i++) {
			r = R[i]; x = med(r SUBSEP "sockmail")
			v = x == "" ? "n/a" : (x <= 2048 ? "met" : "**not met**")
			printf "| peak RSS ≤ 2 MiB: %s | %s | %s |\n", rn[r],
			    mib(r SUBSEP "sockmail"), v
		}
		for (i = 1; i <= 3; i += 2) {
			q = Q[i]; x = med(q SUBSEP "sockmail")
			v = x == "" ? "n/a" : (x <= 512 ? "met" : "**not met**")
			printf "| PSS of one session ≤ 512 KiB: %s | %s KiB | %s |\n",
			    qn[q], kib(q SUBSEP "sockmail"), v
		}

		print "\n## Who was busy: CPU seconds per run (mean), load generator / server, and wall seconds\n"
		printf "| scenario |"
		for (t = 1; t <= nt; t++) printf " %s |", col[T[t]]
		printf "\n|---|"
		for (t = 1; t <= nt; t++) printf "---|"
		print ""
		for (i = 1; i <= ns; i++) {
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
