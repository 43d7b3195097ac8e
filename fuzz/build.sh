#!/bin/sh
# fuzz/build.sh [OUTDIR]: build the libFuzzer harnesses with clang, ASan
# and UBSan (Debian: clang-14, libfuzzer-14-dev), into OUTDIR (default
# build/fuzz). A configured build tree supplies config.h: $CONFIG_DIR
# (`make fuzz` sets it), else the first one found. Configure first.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/fuzz}
cc=${FUZZ_CC:-clang-14}
if [ -n "${CONFIG_DIR:-}" ]; then
	config=$CONFIG_DIR/config.h
else
	for config in "$top"/config.h "$top"/build/*/config.h; do
		[ -f "$config" ] && break
	done
fi
[ -f "$config" ] || { echo "fuzz/build.sh: configure first (no config.h)" >&2; exit 1; }
mkdir -p "$out"
flags="-std=c17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
-I$(dirname "$config") -I$top/src/lib -I$top/src -I$top/fuzz"
lib="$top/src/lib/*.c"
for h in smtp pop3 mailbox userinfo proxy; do
	case $h in
	smtp) extra="$top/src/smtpd-session.c $top/src/smtpd-data.c" ;;
	pop3) extra="$top/src/pop3d-session.c $top/src/pop3d-auth.c $top/src/pop3d-mail.c" ;;
	*) extra= ;;
	esac
	# shellcheck disable=SC2086 # flags and sources are word lists
	$cc $flags -o "$out/fuzz-$h" "$top/fuzz/fuzz-$h.c" "$top/fuzz/fuzz-root.c" "$top/fuzz/oracle.c" \
	    $extra $lib -lcrypt
	echo "built $out/fuzz-$h"
done
