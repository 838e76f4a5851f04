//go:build linux

package main

import (
	"testing"

	"github.com/rotary-ftp/rotary/internal/bench"
)

func TestAddBig(t *testing.T) {
	run := func(bytes int64, seconds float64) bench.Result {
		return bench.Result{Workload: bench.RetrBig, Bytes: bytes, Transfers: int(bytes >> 30), Seconds: seconds, MBps: float64(bytes) / 1e6 / seconds}
	}
	failed := bench.Result{Workload: bench.RetrBig, Error: "RETR: connection reset"}
	skipped := bench.Result{Workload: bench.RetrBig, TLS: true, Skipped: "no AUTH TLS"}
	tests := []struct {
		name      string
		runs      []bench.Result
		wantMBps  float64
		wantXfers int
		wantErr   string
		wantSkip  string
	}{
		// 2 GiB in 1 s and 1 GiB in 1 s: 3 GiB over 2 s, not the mean of the two rates.
		{name: "bytes over time", runs: []bench.Result{run(2<<30, 1), run(1<<30, 1)}, wantMBps: float64(3<<30) / 1e6 / 2, wantXfers: 3},
		{name: "slow run weighs by its time", runs: []bench.Result{run(1<<30, 0.25), run(1<<30, 1.75)}, wantMBps: float64(2<<30) / 1e6 / 2, wantXfers: 2},
		{name: "one run", runs: []bench.Result{run(1<<30, 0.5)}, wantMBps: float64(1<<30) / 1e6 / 0.5, wantXfers: 1},
		{name: "a failed run fails the total", runs: []bench.Result{run(1<<30, 1), failed, run(1<<30, 1)}, wantErr: failed.Error},
		{name: "a failed first run stays failed", runs: []bench.Result{failed, run(1<<30, 1)}, wantErr: failed.Error},
		{name: "skipped stays skipped", runs: []bench.Result{skipped, skipped}, wantSkip: skipped.Skipped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.runs[0]
			for _, r := range tt.runs[1:] {
				got = addBig(got, r)
			}
			if got.Error != tt.wantErr || got.Skipped != tt.wantSkip {
				t.Fatalf("error %q, skipped %q; want %q, %q", got.Error, got.Skipped, tt.wantErr, tt.wantSkip)
			}
			if tt.wantErr != "" || tt.wantSkip != "" {
				return
			}
			if diff := got.MBps - tt.wantMBps; diff > 1e-6 || diff < -1e-6 {
				t.Errorf("MBps = %.3f, want %.3f", got.MBps, tt.wantMBps)
			}
			if got.Transfers != tt.wantXfers {
				t.Errorf("Transfers = %d, want %d", got.Transfers, tt.wantXfers)
			}
		})
	}
}
