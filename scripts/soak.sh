#!/usr/bin/env bash
# Soak test (issue 15; not in CI): DURATION (30m) of mixed load through
# `rotary gateway` (the shipped seed, PROXY protocol on) to `rotary serve`,
# plain and TLS: uploads, downloads, small files, listings and logins from
# `rotary bench`, aborted downloads from Python's ftplib, and a SIGHUP every
# 30 s. Then it checks: 0 failed transfers, and the server's descriptors,
# goroutines (from /debug/pprof on its admin endpoint) and RSS back within
# 10% of the baseline taken after a warm-up. Loopback only.
# Usage: scripts/soak.sh [DURATION]   (Go durations: 90s, 30m, 1h; at most 12h)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-30m}
secs=$(python3 -c "
import re,sys
m=re.fullmatch(r'(\d+)(s|m|h)','$dur')
if not m: sys.exit('soak: DURATION like 90s, 30m or 2h')
n=int(m[1])*{'s':1,'m':60,'h':3600}[m[2]]
if not 30<=n<=43200: sys.exit('soak: DURATION from 30s to 12h')
print(n)") || exit 2
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; if [ -n "${SOAK_KEEP:-}" ]; then echo "soak: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
bin=${ROTARY_BIN:-}
if [ -z "$bin" ]; then
	go build -o "$work/rotary" ./cmd/rotary
	bin=$work/rotary
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ctl=$(free_port)
admin=$(free_port)
lo=$((20000 + RANDOM % 9000)); hi=$((lo + 20))
mkdir -p "$work/root"
cat >"$work/rotary.toml" <<TOML
listen = ["127.0.0.1:$ctl"]
root = "root"
user = ["u:p"]
passive-ports = "$lo-$hi"
public-ip = "127.0.0.2"
proxy-protocol-from = ["127.0.0.1/32"]
tls-self-signed = true
state-dir = "state"
admin-listen = "127.0.0.1:$admin"
log-level = "warn"
max-conns-per-ip = 0
ban-after = 0
TOML
sed -e "s/ 2121/ $ctl/g" -e "s/range 5500 5520/range $lo $hi/" examples/seed-single-server.ios >"$work/gw.ios"
"$bin" serve --config "$work/rotary.toml" >"$work/serve.out" 2>&1 &
spid=$!; pids+=($spid)
"$bin" gateway --datapath userspace --config "$work/gw.ios" --admin "" >"$work/gw.out" 2>&1 &
gpid=$!; pids+=($gpid)
url="ftp://u:p@127.0.0.2:$ctl/"
for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "$url" && break; sleep 0.1; done
head -c 134217728 /dev/zero >"$work/root/big.bin"

fds() { ls /proc/$spid/fd | wc -l; }
rss() { awk '/^VmRSS:/ {print $2}' /proc/$spid/status; }
goroutines() { curl -s "http://127.0.0.1:$admin/debug/pprof/goroutine?debug=1" | awk 'NR==1 {print $4}'; }

failed=0
round() { # $1: extra bench flags; $2: workload seconds
	if ! kill -0 "$spid" 2>/dev/null || ! kill -0 "$gpid" 2>/dev/null; then
		echo "soak: a process died; server log:" >&2; tail -20 "$work/serve.out" >&2
		echo "soak: gateway log:" >&2; tail -20 "$work/gw.out" >&2
		exit 1
	fi
	out=$("$bin" bench "$url" --workload small-retr,stor-big,retr-big,list-big,login-storm \
		--duration "${2}s" --size 32MiB --clients 8 --logins 2000 --list-entries 2000 --json $1 2>&1) || {
		echo "soak: rotary bench failed: $out" >&2; failed=$((failed + 1)); return; }
	bad=$(printf '%s' "$out" | python3 -c '
import json,sys
r=json.load(sys.stdin)
bad=[x for x in r["results"] if x.get("error") or x.get("failures")]
for x in bad: print(x["workload"], "tls" if x.get("tls") else "plain", x.get("error",""), "failures", x.get("failures",0), file=sys.stderr)
print(len(bad))')
	failed=$((failed + bad))
}
aborts() { # downloads cut short by ABOR, then a NOOP on the same session
	python3 - "$ctl" <<'PY' || { echo "soak: ABOR client failed" >&2; return 1; }
import ftplib, sys
for i in range(5):
    f = ftplib.FTP(); f.connect("127.0.0.2", int(sys.argv[1]), timeout=30); f.login("u", "p")
    c = f.transfercmd("RETR big.bin"); c.recv(65536)
    try:
        f.abort()
    except ftplib.error_proto:
        pass
    c.close(); f.voidcmd("NOOP"); f.quit()
PY
}

echo "soak: warm-up rounds (plain, TLS, aborts)"
round "" 5
round "--tls" 5
aborts || failed=$((failed + 1))
sleep 5
base_fds=$(fds); base_rss=$(rss); base_g=$(goroutines)
echo "soak: baseline: $base_fds descriptors, $base_g goroutines, $base_rss KiB RSS"
end=$(( $(date +%s) + secs ))
last_hup=$(date +%s); rounds=0; hups=0
while [ "$(date +%s)" -lt "$end" ]; do
	tls=""; [ $((rounds % 2)) -eq 1 ] && tls="--tls"
	round "$tls" 5
	aborts || failed=$((failed + 1))
	if [ $(( $(date +%s) - last_hup )) -ge 30 ]; then
		kill -HUP "$spid"; hups=$((hups + 1)); last_hup=$(date +%s)
	fi
	rounds=$((rounds + 1))
done
sleep 10 # idle sessions close, lingering passive listeners go
now_fds=$(fds); now_rss=$(rss); now_g=$(goroutines)
echo "soak: after $rounds rounds ($hups reloads): $now_fds descriptors, $now_g goroutines, $now_rss KiB RSS"
within() { python3 -c "import sys; b,n=float($1),float($2); sys.exit(0 if n <= max(b*1.10, b+2) else 1)"; }
ok=1
within "$base_fds" "$now_fds" || { echo "soak: descriptors $now_fds, baseline $base_fds" >&2; ok=0; }
within "$base_g" "$now_g" || { echo "soak: goroutines $now_g, baseline $base_g" >&2; ok=0; }
within "$base_rss" "$now_rss" || { echo "soak: RSS $now_rss KiB, baseline $base_rss KiB" >&2; ok=0; }
grep -q "reload refused" "$work/serve.out" && { echo "soak: a reload was refused" >&2; ok=0; }
echo "soak: $dur, $rounds rounds, $hups reloads, $failed failed workloads or transfers"
[ "$failed" -eq 0 ] && [ "$ok" -eq 1 ]
