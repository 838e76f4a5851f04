#!/usr/bin/env bash
# kill -9 during uploads (issue 15, not in CI): ROUNDS times (100), start
# `rotary serve`, run uploads with curl that replace files of known content,
# kill -9 the server mid-transfer, and check that every file under a final
# name is complete: the old content or the new one, never a truncated one.
# Then the next start must remove the temporary files the kills left.
# Loopback only. Usage: scripts/kill9.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-100}
[ "$rounds" -ge 1 ] && [ "$rounds" -le 1000 ] || { echo "kill9: ROUNDS must be 1-1000" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
bin=${ROTARY_BIN:-}
if [ -z "$bin" ]; then
	go build -o "$work/rotary" ./cmd/rotary
	bin=$work/rotary
fi
root=$work/root
mkdir -p "$root"
# Two contents per name: the old (A) and the new (B), 8 MiB each.
head -c 8388608 /dev/urandom >"$work/A"
head -c 8388608 /dev/urandom >"$work/B"
sumA=$(sha256sum <"$work/A" | cut -d' ' -f1)
sumB=$(sha256sum <"$work/B" | cut -d' ' -f1)
for i in 1 2 3 4; do cp "$work/A" "$root/f$i.bin"; done
port=$((20000 + RANDOM % 10000))
pasv=$((port + 1))-$((port + 40))
bad=0 orphans_seen=0
for r in $(seq 1 "$rounds"); do
	"$bin" serve --listen 127.0.0.1:$port --root "$root" --user u:p --passive-ports $pasv \
		--admin-listen "" --log-level warn >"$work/serve.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 ftp://u:p@127.0.0.1:$port/ && break
		sleep 0.05
	done
	# Leftovers of the previous round's kill must be gone once it started.
	for _ in $(seq 1 50); do
		[ -z "$(find "$root" -name '.rotary-upload-*.tmp' -print -quit)" ] && break
		sleep 0.05
	done
	left=$(find "$root" -name '.rotary-upload-*.tmp' | wc -l)
	if [ "$left" -ne 0 ]; then
		echo "kill9: round $r: $left temporary files still there after the start" >&2
		bad=$((bad + 1))
	fi
	# Uploads that replace f1..f4 with B (or A again), throttled by curl so
	# that the kill lands mid-transfer.
	for i in 1 2 3 4; do
		src=$work/B; [ $((r % 2)) -eq 0 ] && src=$work/A
		curl -s --limit-rate 20M --max-time 5 -T "$src" ftp://u:p@127.0.0.1:$port/f$i.bin >/dev/null 2>&1 &
	done
	sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	kill -9 $pid
	wait $pid 2>/dev/null || true
	wait 2>/dev/null || true
	orphans_seen=$((orphans_seen + $(find "$root" -name '.rotary-upload-*.tmp' | wc -l)))
	for i in 1 2 3 4; do
		s=$(sha256sum <"$root/f$i.bin" | cut -d' ' -f1)
		if [ "$s" != "$sumA" ] && [ "$s" != "$sumB" ]; then
			echo "kill9: round $r: f$i.bin is neither the old nor the new content ($(stat -c %s "$root/f$i.bin") bytes)" >&2
			bad=$((bad + 1))
		fi
	done
done
echo "kill9: $rounds rounds, $((rounds * 4)) uploads killed or done, $orphans_seen temporary files left by kills (removed at the next start), $bad problems"
[ "$bad" -eq 0 ]
