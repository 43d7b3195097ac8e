#!/usr/bin/env bats
# The tree points only at what it holds: its reference is README.md and
# the man pages in man/, so no comment, test, script or document cites a
# file a clone does not have (a contract or notes kept elsewhere, a path on
# the machine it was written on, an issue in a tracker the reader cannot
# see); every relative link of a markdown file leads to a file of the
# tree; and every man page of ours cited as name(N) is in man/, with the
# section named right after it (sockmail-smtpd(8) LIMITS). Runs in a git
# checkout (tracked and new files) and in an unpacked tarball.

load helpers

# sources: the files to check, one a line, relative to the source tree. In
# a git checkout, the tracked files and new ones git does not ignore; in an
# unpacked tarball, every file but autotools' output. Either way nothing
# under a build tree (a folder with a config.status above the file).
sources() {
	local top=$abs_top_srcdir f d
	if [[ -e $top/.git ]] && command -v git >/dev/null; then
		git -C "$top" ls-files --cached --others --exclude-standard
	else
		(cd "$top" && find . -name autom4te.cache -prune -o -type f \
		    -print | sed 's|^\./||') |
		    grep -vE '^(configure|aclocal\.m4|config\.h\.in|build-aux/.*|m4/.*|(.*/)?Makefile\.in)$'
	fi | sort -u | while IFS= read -r f; do
		[[ -f $top/$f ]] || continue
		d=$(dirname "$f")
		while [[ $d != . ]]; do
			[[ -e $top/$d/config.status ]] && continue 2
			d=$(dirname "$d")
		done
		printf '%s\n' "$f"
	done
}

setup_file() {
	sources >"$BATS_FILE_TMPDIR/sources"
	# The list must be real: an empty one would pass every check.
	grep -qx 'README.md' "$BATS_FILE_TMPDIR/sources"
	grep -qx 'man/sockmail-smtpd.8' "$BATS_FILE_TMPDIR/sources"
}

# in_tree PATH: whether PATH (relative to the source tree, no ./ or ..
# left) is a file of the tree.
in_tree() {
	grep -qxF -- "$1" "$BATS_FILE_TMPDIR/sources"
}

@test "no file cites a document, a path or a tracker the repository does not have" {
	local s=SP sect=$'\xc2\xa7' pattern found
	s+=EC
	# Assembled from pieces, so that this file does not match itself.
	pattern="\\b$s\\b|$sect|\\.\\./shared|(^|[[:space:]\"'\`(=])/work/"
	pattern+="|(^|[^[:alnum:]_.-])(notes|seed)/|STYLE\\.md|[a-z0-9]-decisions\\.md"
	pattern+="|\\b[Ii]ssues? #?[0-9]+\\b"
	found=$(cd "$abs_top_srcdir" && tr '\n' '\0' <"$BATS_FILE_TMPDIR/sources" |
	    xargs -0 grep -nIE -- "$pattern" || true)
	if [[ -n $found ]]; then
		fail "cite README.md or a man page (sockmail-smtpd(8) LIMITS), or state the rule itself:
$found"
	fi
}

@test "every relative link of a markdown file leads to a file of the tree" {
	local md target path bad=""
	while IFS= read -r md; do
		while IFS= read -r target; do
			target=${target#*](}
			target=${target%)}
			target=${target%% *}
			target=${target%%#*}
			case $target in
			'' | [a-zA-Z]*:*) continue ;;	# an anchor, a URL
			esac
			path=$(realpath -m --relative-to="$abs_top_srcdir" \
			    "$abs_top_srcdir/$(dirname "$md")/$target")
			in_tree "$path" || [[ -d $abs_top_srcdir/$path ]] ||
			    bad+="$md: ($target)"$'\n'
		done < <(grep -oE '\]\([^)]+\)' "$abs_top_srcdir/$md")
		while IFS= read -r target; do
			target=${target#*]:}
			target=${target#"${target%%[! ]*}"}
			target=${target%% *}
			target=${target%%#*}
			case $target in
			'' | [a-zA-Z]*:*) continue ;;
			esac
			path=$(realpath -m --relative-to="$abs_top_srcdir" \
			    "$abs_top_srcdir/$(dirname "$md")/$target")
			in_tree "$path" || bad+="$md: [$target]"$'\n'
		done < <(grep -oE '^ {0,3}\[[^]]+\]:[[:space:]]+[^[:space:]]+' \
		    "$abs_top_srcdir/$md")
	done < <(grep -E '\.md$' "$BATS_FILE_TMPDIR/sources")
	[[ -z $bad ]] || fail "links to files the tree does not have:
$bad"
}

@test "every man page of ours cited as name(N) is in man/, with the section named after it" {
	local bad
	# One line per citation: file, page, section, and the section named
	# right after it (SECTION NAME in capitals, maybe after a comma) or
	# nothing. Lines are joined first, with their comment leaders, so a
	# citation may break across lines; the man pages' own ".BR name (N)"
	# counts too.
	bad=$(cd "$abs_top_srcdir" && tr '\n' '\0' <"$BATS_FILE_TMPDIR/sources" |
	    xargs -0 grep -lIE '(sockmail[a-z0-9-]*|mail_client|mailserver_smtp|popserver)( |\\fR)?\(' |
	    perl -e '
		my %have = map { chomp; ($_ => 1) } grep { m{^man/} }
		    do { open my $f, "<", $ARGV[0] or die; <$f> };
		shift @ARGV;
		my $bad = "";
		my %heads;
		sub heads {
			my ($page) = @_;
			return $heads{$page} //= do {
				my %h;
				local $/ = "\n";
				open my $f, "<", $page or die "$page: $!";
				while (<$f>) {
					$h{$1} = 1 if /^\.S[HS]\s+"?([^"\n]*?)"?\s*$/;
				}
				\%h;
			};
		}
		while (my $file = <STDIN>) {
			chomp $file;
			open my $f, "<", $file or die "$file: $!";
			local $/;
			my $text = <$f>;
			$text =~ s/\n[ \t]*(?:\*|#|\/\/|\.\\"|")?[ \t]*/ /g;
			$text =~ s/\\f[BIRP]//g;
			while ($text =~ /\b(sockmail[a-z0-9-]*|mail_client|mailserver_smtp|popserver) ?\(([1-9])\)(?:,? ([A-Z][A-Z0-9]+(?: [A-Z][A-Z0-9]+)*)\b)?/g) {
				my ($name, $n, $sect) = ($1, $2, $3);
				my $page = "man/$name.$n";
				if (!$have{$page}) {
					$bad .= "$file: $name($n): no $page\n";
					next;
				}
				if (defined $sect && !heads($page)->{$sect}) {
					$bad .= "$file: $name($n) $sect: no such section\n";
				}
			}
		}
		print $bad;
	    ' "$BATS_FILE_TMPDIR/sources")
	[[ -z $bad ]] || fail "citations of man pages or sections that do not exist:
$bad"
}
