#!/usr/bin/env bash
# Interop tests for the Rotary FTP server driven by lftp.
#
# Configuration (environment, or the flags shown):
#   FTP_HOST   --host      control host (default 127.0.0.1)
#   FTP_PORT   --port      control port (required)
#   FTP_USER   --user      user name (required)
#   FTP_PASS   --password  password (required)
#   FTP_ROOT   --root      the server's --root directory on this machine (required)
#   LFTP       --lftp      lftp binary (default: lftp)
#   WORKDIR    --workdir   scratch directory for local files (default: a new temp dir, removed at exit)
#   LFTP_TIMEOUT           seconds allowed per lftp invocation (default 60)
#
# Prints one line per case (PASS name / FAIL name: reason) and a final
# "lftp: N passed, M failed". Exits 1 on any failure.
set -euo pipefail

FTP_HOST=${FTP_HOST:-127.0.0.1}
FTP_PORT=${FTP_PORT:-}
FTP_USER=${FTP_USER:-}
FTP_PASS=${FTP_PASS:-}
FTP_ROOT=${FTP_ROOT:-}
LFTP=${LFTP:-lftp}
WORKDIR=${WORKDIR:-}
LFTP_TIMEOUT=${LFTP_TIMEOUT:-60}

while [ $# -gt 0 ]; do
	case "$1" in
	--host) FTP_HOST=$2; shift 2 ;;
	--port) FTP_PORT=$2; shift 2 ;;
	--user) FTP_USER=$2; shift 2 ;;
	--password) FTP_PASS=$2; shift 2 ;;
	--root) FTP_ROOT=$2; shift 2 ;;
	--lftp) LFTP=$2; shift 2 ;;
	--workdir) WORKDIR=$2; shift 2 ;;
	*) echo "lftp.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$FTP_PORT" ] || [ -z "$FTP_USER" ] || [ -z "$FTP_ROOT" ]; then
	echo "lftp.sh: FTP_PORT, FTP_USER, FTP_PASS and FTP_ROOT are required" >&2
	exit 2
fi
case "$FTP_USER$FTP_PASS" in
*,* | *\"* | *\ *) echo "lftp.sh: user and password must not contain ',', '\"' or spaces" >&2; exit 2 ;;
esac

own_workdir=0
if [ -z "$WORKDIR" ]; then
	WORKDIR=$(mktemp -d /tmp/rotary-lftp.XXXXXX)
	own_workdir=1
fi
mkdir -p "$WORKDIR"
cleanup() {
	if [ "$own_workdir" = 1 ]; then rm -rf "$WORKDIR"; fi
}
trap cleanup EXIT

# Remote directory for this run, so reruns against one root do not collide.
RDIR=lftp-$$-$(date +%s)
REMOTE_HOST_DIR="$FTP_ROOT/$RDIR"
LOCAL="$WORKDIR/local"
mkdir -p "$LOCAL"
# lftp must not read the user's rc files or bookmarks.
export HOME="$WORKDIR/home"
mkdir -p "$HOME"
export LFTP_HOME="$HOME/.lftp"

passed=0
failed=0
LAST_OUT="$WORKDIR/last-lftp.out"

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL $1: $2"
	if [ -s "$LAST_OUT" ]; then sed 's/^/    lftp| /' "$LAST_OUT" | tail -n 15; fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# lftp_run [passive:on|off] COMMANDS... : runs lftp with a fresh connection;
# output (stdout+stderr) goes to $LAST_OUT and stdout.
lftp_run() {
	local pasv=on
	if [ "$1" = "passive:off" ]; then pasv=off; shift; elif [ "$1" = "passive:on" ]; then shift; fi
	local script="set ftp:passive-mode $pasv; set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; set ssl:verify-certificate no; set ftp:ssl-allow no; set cmd:fail-exit yes; set xfer:clobber yes; set cmd:interactive no; lcd $LOCAL; $*"
	local rc=0
	timeout "$LFTP_TIMEOUT" "$LFTP" -u "$FTP_USER,$FTP_PASS" -p "$FTP_PORT" -e "$script; bye" "$FTP_HOST" </dev/null >"$LAST_OUT" 2>&1 || rc=$?
	return $rc
}

# case_* functions return non-zero with a message in $REASON on failure.
REASON=""
run_case() {
	local name=$1
	REASON=""
	: >"$LAST_OUT"
	if "case_$name"; then pass "$name"; else fail "$name" "${REASON:-exit status non-zero}"; fi
}

case_setup() {
	lftp_run "mkdir $RDIR" || { REASON="mkdir $RDIR failed"; return 1; }
	[ -d "$REMOTE_HOST_DIR" ] || { REASON="remote dir not on disk"; return 1; }
}

case_put_get_3MiB() {
	head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$LOCAL/big.bin"
	lftp_run "cd $RDIR; put big.bin -o big-remote.bin; get big-remote.bin -o big-back.bin" ||
		{ REASON="lftp put/get failed"; return 1; }
	[ "$(sha "$LOCAL/big.bin")" = "$(sha "$REMOTE_HOST_DIR/big-remote.bin")" ] ||
		{ REASON="uploaded file differs on disk"; return 1; }
	[ "$(sha "$LOCAL/big.bin")" = "$(sha "$LOCAL/big-back.bin")" ] ||
		{ REASON="downloaded file differs"; return 1; }
}

case_mirror_roundtrip() {
	local src="$LOCAL/tree" back="$LOCAL/tree-back"
	rm -rf "$src" "$back"
	mkdir -p "$src/a/b/c" "$src/empty" "$src/with space"
	echo hello >"$src/top.txt"
	head -c 200000 /dev/urandom >"$src/a/rand.bin"
	head -c 1 /dev/urandom >"$src/a/b/one"
	: >"$src/a/b/c/zero"
	printf 'x\ny\n' >"$src/with space/f i l e.txt"
	lftp_run "cd $RDIR; mirror -R --no-perms tree tree; mirror --no-perms tree tree-back" ||
		{ REASON="lftp mirror failed"; return 1; }
	diff -r "$src" "$REMOTE_HOST_DIR/tree" >"$WORKDIR/diff1" 2>&1 ||
		{ REASON="mirror -R result differs on disk: $(head -c 300 "$WORKDIR/diff1")"; return 1; }
	diff -r "$src" "$back" >"$WORKDIR/diff2" 2>&1 ||
		{ REASON="mirror back differs: $(head -c 300 "$WORKDIR/diff2")"; return 1; }
}

case_ls_cls() {
	lftp_run "cd $RDIR; ls" || { REASON="ls failed"; return 1; }
	grep -Eq '^-[rwx-]{9} .* big-remote\.bin$' "$LAST_OUT" || { REASON="ls lacks big-remote.bin line"; return 1; }
	grep -Eq '^d[rwx-]{9} .* tree$' "$LAST_OUT" || { REASON="ls lacks tree dir"; return 1; }
	lftp_run "cd $RDIR/tree; cls -1" || { REASON="cls failed"; return 1; }
	local got
	got=$(sort "$LAST_OUT" | tr '\n' '|')
	[ "$got" = "a/|empty/|top.txt|with space/|" ] || { REASON="cls -1 output '$got'"; return 1; }
	lftp_run "cd $RDIR/tree; cls -l --sort=name a" || { REASON="cls -l failed"; return 1; }
	grep -Eq '200000 .*a/rand\.bin$' "$LAST_OUT" || { REASON="cls -l lacks size 200000 of a/rand.bin"; return 1; }
}

case_get_resume() {
	head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$REMOTE_HOST_DIR/resume-get.bin"
	head -c 700001 "$REMOTE_HOST_DIR/resume-get.bin" >"$LOCAL/resume-get.bin"
	lftp_run "cd $RDIR; get -c resume-get.bin" || { REASON="get -c failed"; return 1; }
	[ "$(sha "$REMOTE_HOST_DIR/resume-get.bin")" = "$(sha "$LOCAL/resume-get.bin")" ] ||
		{ REASON="resumed download differs ($(stat -c %s "$LOCAL/resume-get.bin") bytes)"; return 1; }
}

case_put_resume() {
	head -c $((2 * 1024 * 1024 + 9)) /dev/urandom >"$LOCAL/resume-put.bin"
	head -c 900003 "$LOCAL/resume-put.bin" >"$REMOTE_HOST_DIR/resume-put.bin"
	lftp_run "debug -o $WORKDIR/put-c.debug 5; cd $RDIR; put -c resume-put.bin" || { REASON="put -c failed"; return 1; }
	[ "$(sha "$LOCAL/resume-put.bin")" = "$(sha "$REMOTE_HOST_DIR/resume-put.bin")" ] ||
		{ REASON="resumed upload differs ($(stat -c %s "$REMOTE_HOST_DIR/resume-put.bin") bytes on disk)"; return 1; }
	# lftp must really have resumed (REST 900003), not re-sent everything.
	grep -Eq -- '---> (REST 900003|APPE )' "$WORKDIR/put-c.debug" ||
		{ REASON="lftp did not resume (no REST 900003/APPE in debug log)"; return 1; }
}

case_rm_mkdir_rmdir_mv() {
	echo data >"$REMOTE_HOST_DIR/to-move.txt"
	echo gone >"$REMOTE_HOST_DIR/to-rm.txt"
	lftp_run "cd $RDIR; mkdir newdir; mkdir -p deep/er/dir; mv to-move.txt newdir/moved.txt; rm to-rm.txt; rmdir deep/er/dir" ||
		{ REASON="lftp commands failed"; return 1; }
	[ -d "$REMOTE_HOST_DIR/newdir" ] || { REASON="mkdir newdir not on disk"; return 1; }
	[ -d "$REMOTE_HOST_DIR/deep/er" ] && [ ! -e "$REMOTE_HOST_DIR/deep/er/dir" ] || { REASON="mkdir -p / rmdir result wrong"; return 1; }
	[ "$(cat "$REMOTE_HOST_DIR/newdir/moved.txt" 2>/dev/null)" = data ] || { REASON="mv result wrong"; return 1; }
	[ ! -e "$REMOTE_HOST_DIR/to-move.txt" ] || { REASON="mv left the source"; return 1; }
	[ ! -e "$REMOTE_HOST_DIR/to-rm.txt" ] || { REASON="rm did not remove"; return 1; }
	# Failing commands must fail.
	if lftp_run "cd $RDIR; rmdir newdir-missing"; then REASON="rmdir of a missing dir succeeded"; return 1; fi
	if lftp_run "cd $RDIR; rm missing.txt"; then REASON="rm of a missing file succeeded"; return 1; fi
	lftp_run "cd $RDIR; rm -r deep" || { REASON="rm -r failed"; return 1; }
	[ ! -e "$REMOTE_HOST_DIR/deep" ] || { REASON="rm -r left the tree"; return 1; }
}

case_active_get() {
	head -c $((1024 * 1024 + 3)) /dev/urandom >"$REMOTE_HOST_DIR/active.bin"
	rm -f "$LOCAL/active.bin"
	lftp_run passive:off "debug -o $WORKDIR/active.debug 5; cd $RDIR; get active.bin; put active.bin -o active-up.bin" ||
		{ REASON="active get/put failed"; return 1; }
	[ "$(sha "$REMOTE_HOST_DIR/active.bin")" = "$(sha "$LOCAL/active.bin")" ] || { REASON="active download differs"; return 1; }
	[ "$(sha "$LOCAL/active.bin")" = "$(sha "$REMOTE_HOST_DIR/active-up.bin")" ] || { REASON="active upload differs"; return 1; }
	grep -Eq -- '---> (PORT|EPRT) ' "$WORKDIR/active.debug" || { REASON="lftp did not use PORT/EPRT"; return 1; }
	if grep -Eq -- '---> (PASV|EPSV)' "$WORKDIR/active.debug"; then REASON="lftp used passive mode"; return 1; fi
}

case_cleanup() {
	lftp_run "rm -r $RDIR" || { REASON="rm -r $RDIR failed"; return 1; }
	[ ! -e "$REMOTE_HOST_DIR" ] || { REASON="run dir still on disk"; return 1; }
}

for c in setup put_get_3MiB mirror_roundtrip ls_cls get_resume put_resume rm_mkdir_rmdir_mv active_get cleanup; do
	run_case "$c"
done

echo "lftp: $passed passed, $failed failed"
[ "$failed" = 0 ]
