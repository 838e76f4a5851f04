#!/usr/bin/env bash
# Runs every fuzz target in turn (not in CI: `go test` runs their seeds,
# testdata/fuzz/<FuzzName>/ and the f.Add ones, as normal tests).
#
#   scripts/fuzz.sh [DURATION]      default 10m per target
#
# Environment: FUZZ_PARALLEL (go test -parallel, the fuzz workers; default
# 1, for a machine shared with others), FUZZ_TARGETS (a subset, e.g.
# "FuzzLoad FuzzRead"), FUZZ_LOGDIR (where each target's output goes;
# default a new temp dir).
#
# Prints one summary line per target: target, duration, execs, new corpus
# entries (kept in Go's fuzz cache, `go env GOCACHE`/fuzz), crashes. Exits 1
# if any target found a crash: the failing input is written to the
# package's testdata/fuzz/<FuzzName>/; fix the bug and commit that file as a
# regression seed.
set -uo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10m}
parallel=${FUZZ_PARALLEL:-1}
logdir=${FUZZ_LOGDIR:-$(mktemp -d /tmp/rotary-fuzz.XXXXXX)}
mkdir -p "$logdir"

# package:target, one per parser (STYLE.md: a fuzz target for every parser).
all=(
	./internal/ftp:FuzzCommandLine
	./internal/ftp:FuzzResolvePath
	./internal/ftp:FuzzRecordConn
	./internal/nat/ios:FuzzParse
	./internal/nat/forward:FuzzCompile
	./internal/nat/alg:FuzzRewriter
	./internal/proxyheader:FuzzRead
	./internal/proxyheader:FuzzReadExact
	./internal/config:FuzzLoad
	./internal/auth:FuzzParseUsersFile
)

crashed=0
printf '%-20s %-9s %12s %8s %s\n' target duration execs new crashes
for entry in "${all[@]}"; do
	pkg=${entry%%:*}
	target=${entry##*:}
	if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $target "* ]]; then
		continue
	fi
	log=$logdir/$target.log
	# Short minimization: the default (60 s per new input) would spend a
	# short run minimizing instead of fuzzing.
	go test -run '^$' -fuzz "^$target\$" -fuzztime "$duration" -fuzzminimizetime 10s \
		-parallel "$parallel" "$pkg" >"$log" 2>&1
	rc=$?
	last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -n 1)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	crashes=0
	detail=
	if [ "$rc" != 0 ]; then
		crashed=1
		crashes=1
		input=$(sed -nE 's/.*Failing input written to (.*)$/\1/p' "$log" | tail -n 1)
		detail=" (${input:+${pkg#./}/$input}${input:-no input written; see $log})"
	fi
	printf '%-20s %-9s %12s %8s %s%s\n' "$target" "$duration" "${execs:-?}" "${new:-?}" "$crashes" "$detail"
done
echo "logs in $logdir"
exit "$crashed"
