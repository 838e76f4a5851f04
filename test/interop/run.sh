#!/usr/bin/env bash
# Interop test suite for Rotary, run by CI: builds the server, starts it on
# 127.0.0.1 and drives it with Python's ftplib (ftplib_test.py) and lftp
# (lftp.sh). Loopback only.
#
# Environment (all optional):
#   ROTARY_SRC      module root to build (default: two levels above this script)
#   ROTARY_BIN      use this server binary instead of building one
#   GO              go command (default: go)
#   PYTHON          python3 command (default: python3)
#   LFTP            lftp command (default: lftp)
#   INTEROP_TMP     scratch directory (default: a new temp dir, removed at exit)
#   INTEROP_SUITES  space-separated suites to run (default: "ftplib lftp")
#   INTEROP_NO_INSTALL=1  never apt-get install missing tools (fail instead)
#   INTEROP_KEEP=1  keep the scratch directory
#
# Last line of output: "interop: N passed, M failed". Exit status 1 on any
# failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROTARY_SRC=${ROTARY_SRC:-$(cd "$here/../.." && pwd)}
GO=${GO:-go}
PYTHON=${PYTHON:-python3}
LFTP=${LFTP:-lftp}
INTEROP_SUITES=${INTEROP_SUITES:-ftplib lftp}
HOST=127.0.0.1
. "$here/lib.sh"
FTP_USER=interop
FTP_PASS=interop-$$-$RANDOM

start_time=$(date +%s)
log() { echo "interop: $*"; }

# ---- tools ---------------------------------------------------------------
need=()
case " $INTEROP_SUITES " in *" lftp "*) command -v "$LFTP" >/dev/null 2>&1 || need+=(lftp) ;; esac
command -v "$PYTHON" >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
	if [ "${INTEROP_NO_INSTALL:-}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "interop: missing ${need[*]} and installing is disabled or impossible" >&2
		echo "interop: 0 passed, 1 failed"
		exit 1
	fi
	log "installing ${need[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	timeout 120 apt-get update -qq
	timeout 120 apt-get install -y -qq "${need[@]}"
	[ "$PYTHON" = python3 ] || command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
	[ "$LFTP" = lftp ] || command -v "$LFTP" >/dev/null 2>&1 || LFTP=lftp
fi

# ---- scratch space and cleanup -------------------------------------------
own_tmp=0
if [ -z "${INTEROP_TMP:-}" ]; then
	INTEROP_TMP=$(mktemp -d /tmp/rotary-interop.XXXXXX)
	own_tmp=1
fi
mkdir -p "$INTEROP_TMP"
pids=()
logs_shown=0
show_logs() {
	[ "$logs_shown" = 0 ] || return 0
	logs_shown=1
	local f
	for f in "$INTEROP_TMP"/server-*.log; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f") (last 200 lines) ----"
		tail -n 200 "$f"
		echo "---- end of $(basename "$f") ----"
	done
}
cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		# Graceful shutdown may wait for transfers; do not wait long.
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	# Normally the logs were shown before the summary line; this catches
	# unexpected exits.
	if [ "$rc" != 0 ]; then show_logs; fi
	if [ "$own_tmp" = 1 ] && [ "${INTEROP_KEEP:-}" != 1 ]; then
		rm -rf "$INTEROP_TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ---------------------------------------------------------------
if [ -n "${ROTARY_BIN:-}" ]; then
	BIN=$ROTARY_BIN
else
	BIN=$INTEROP_TMP/rotary
	log "building server from $ROTARY_SRC"
	(cd "$ROTARY_SRC" && timeout 150 "$GO" build -o "$BIN" ./cmd/rotary) || {
		echo "interop: build failed" >&2
		echo "interop: 0 passed, 1 failed"
		exit 1
	}
fi

# ---- ports -----------------------------------------------------------------
# start_server NAME PASSIVE_COUNT: starts a server, sets PORT_<NAME>,
# ROOT_<NAME>. The control port and the passive range are one block of
# consecutive free ports.
start_server() {
	local name=$1 npasv=$2 tries base port root logf pid
	root=$INTEROP_TMP/root-$name
	logf=$INTEROP_TMP/server-$name.log
	mkdir -p "$root"
	for tries in 1 2 3 4 5; do
		base=$(free_ports $((npasv + 1)))
		port=$base
		: >"$logf"
		"$BIN" serve --listen "$HOST:$port" --root "$root" --user "$FTP_USER:$FTP_PASS" \
			--passive-ports "$((base + 1))-$((base + npasv))" --idle-timeout 2m \
			--log-level debug 2>"$logf" >"$logf.stdout" &
		pid=$!
		pids+=("$pid")
		# Wait for the control port to answer with its 220 greeting.
		if wait_ready "$port" "$pid"; then
			printf -v "PORT_$name" %s "$port"
			printf -v "ROOT_$name" %s "$root"
			printf -v "PASV_$name" %s "$((base + 1))-$((base + npasv))"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		unset 'pids[-1]'
		log "server $name did not start on port $port (try $tries): $(tail -n 3 "$logf" | tr '\n' ' ')"
	done
	return 1
}

if ! start_server main 12 || ! start_server exhaust 3; then
	show_logs
	echo "interop: server failed to start" >&2
	echo "interop: 0 passed, 1 failed"
	exit 1
fi
log "main server on $HOST:$PORT_main (passive $PASV_main), exhaustion server on $HOST:$PORT_exhaust (passive $PASV_exhaust)"

# ---- suites ----------------------------------------------------------------
total_pass=0
total_fail=0
# run_suite NAME CMD...: runs a suite (bounded), echoes its output and adds
# its "NAME: N passed, M failed" line to the totals. A suite that dies
# without that line counts as one failure.
run_suite() {
	local name=$1; shift
	local out=$INTEROP_TMP/suite-$name.out rc=0 t0 line p f
	t0=$(date +%s)
	log "running $name suite"
	timeout 100 "$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed\$" "$out" | tail -n 1 || true)
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
	else
		p=0 f=1
		echo "FAIL $name: suite ended without a summary line (exit status $rc)"
	fi
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
		echo "FAIL $name: exit status $rc with no failed case"
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	log "$name suite took $(($(date +%s) - t0))s"
}

for suite in $INTEROP_SUITES; do
	case $suite in
	ftplib)
		run_suite ftplib env FTP_HOST=$HOST FTP_PORT="$PORT_main" FTP_USER=$FTP_USER FTP_PASS="$FTP_PASS" \
			FTP_ROOT="$ROOT_main" FTP_EXHAUST_PORT="$PORT_exhaust" FTP_EXHAUST_PASV_COUNT=3 \
			"$PYTHON" "$here/ftplib_test.py"
		;;
	lftp)
		run_suite lftp env FTP_HOST=$HOST FTP_PORT="$PORT_main" FTP_USER=$FTP_USER FTP_PASS="$FTP_PASS" \
			FTP_ROOT="$ROOT_main" LFTP="$LFTP" WORKDIR="$INTEROP_TMP/lftp-work" LFTP_TIMEOUT=60 \
			bash "$here/lftp.sh"
		;;
	*)
		echo "FAIL $suite: unknown suite"
		total_fail=$((total_fail + 1))
		;;
	esac
done
[ "${INTEROP_FTPS:-1}" = 0 ] || run_suite ftps env ROTARY_BIN="$BIN" PYTHON="$PYTHON" LFTP="$LFTP" WORKDIR="$INTEROP_TMP/ftps" FTPS_LOGDIR="$INTEROP_TMP" bash "$here/ftps.sh"

# A server that died during the run is a failure too.
for p in "${pids[@]}"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "FAIL server: process $p exited during the run"
		total_fail=$((total_fail + 1))
	fi
done
# Panics are failures even when every case passed.
if grep -l "panic" "$INTEROP_TMP"/server-*.log >/dev/null 2>&1; then
	echo "FAIL server: panic in server log"
	total_fail=$((total_fail + 1))
fi

[ "$total_fail" = 0 ] || show_logs
log "total time $(($(date +%s) - start_time))s"
echo "interop: $total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
