#!/bin/sh
# Figures of the gateway's datapaths (BENCHMARKS.md): 1 GiB RETR and new
# sessions, direct vs kernel (nftables) vs userspace, in network namespaces
# (needs root). Rounds alternate the three so that a noisy machine hurts
# them alike: scripts/bench-datapath.sh [ROUNDS] [ITERATIONS-PER-ROUND]
set -eu
rounds=${1:-3}
iters=${2:-3}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/rotary" ./cmd/rotary
go test -c -o "$work/kernel.test" ./test/kernel
i=1
while [ "$i" -le "$rounds" ]; do
	echo "# round $i"
	(cd test/kernel && ROTARY_BIN="$work/rotary" "$work/kernel.test" -test.run XXX -test.bench Datapath -test.benchtime "${iters}x") | grep '^Benchmark'
	i=$((i + 1))
done
