//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestReportSmallCeiling: the raw-small ceiling line, the table of each
// server's small-retr ÷ raw-small (FTPS against the same clear-text
// ceiling), the ceiling's row in the details and the two small-retr
// targets, for ceilings and figures that meet the targets or miss them.
func TestReportSmallCeiling(t *testing.T) {
	ops := func(round int, server, workload string, tls bool, v float64) sample {
		return sample{round, server, bench.Result{Workload: workload, TLS: tls, Clients: 32, Ops: int64(v * 5), OpsPerSec: v, Seconds: 5, P50ms: 1, P99ms: 3}}
	}
	failed := func(round int, server, workload string) sample {
		return sample{round, server, bench.Result{Workload: workload, Error: "listen: too many open files"}}
	}
	// Three rounds of the peers and of the FTPS variant, the medians of
	// which are vsftpd 5000, pure-ftpd 5600; vsftpd+tls 1000, pure-ftpd+tls
	// skipped.
	peers := []sample{
		ops(1, "vsftpd", bench.SmallRetr, false, 4000), ops(2, "vsftpd", bench.SmallRetr, false, 5000), ops(3, "vsftpd", bench.SmallRetr, false, 6000),
		ops(1, "pure-ftpd", bench.SmallRetr, false, 5600), ops(2, "pure-ftpd", bench.SmallRetr, false, 5600), ops(3, "pure-ftpd", bench.SmallRetr, false, 5500),
		ops(1, "rotary", bench.SmallRetr, true, 1500), ops(2, "rotary", bench.SmallRetr, true, 1500), ops(3, "rotary", bench.SmallRetr, true, 1400),
		ops(1, "vsftpd", bench.SmallRetr, true, 1000), ops(2, "vsftpd", bench.SmallRetr, true, 1000), ops(3, "vsftpd", bench.SmallRetr, true, 900),
		{1, "pure-ftpd", bench.Result{Workload: bench.SmallRetr, TLS: true, Skipped: "server refused AUTH TLS"}},
	}
	// The ceiling's median over the rounds is 10,000 ops/s.
	ceiling := []sample{
		ops(1, "raw", bench.RawSmall, false, 9000), ops(2, "raw", bench.RawSmall, false, 12000), ops(3, "raw", bench.RawSmall, false, 10000),
	}
	rotary := func(v ...float64) []sample {
		var out []sample
		for i, x := range v {
			out = append(out, ops(i+1, "rotary", bench.SmallRetr, false, x))
		}
		return out
	}
	const ceilingLine = "TCP connection on which a trivial responder in the client sends 4 KiB from memory and closes): **10,000 ops/s**."
	tests := []struct {
		name    string
		samples [][]sample
		want    []string // whole lines
		notWant []string // parts of lines
	}{
		{
			name:    "both targets met",
			samples: [][]sample{peers, ceiling, rotary(8500, 8600, 8400)},
			want: []string{
				"Small-transfer ceiling (`raw-small`: 32 clients, each looping one request and reply on a connection kept open, then a new",
				ceilingLine,
				"| workload | rotary | vsftpd | pure-ftpd |",
				"| small-retr ÷ raw-small | 0.85× | 0.50× | 0.56× |",
				"| small-retr+tls ÷ raw-small (clear-text ceiling) | 0.15× | 0.10× | – |",
				"## Targets (issues 6 and 21)",
				"| small-retr (32 clients) ≥ 0.8 × raw-small | 8500 ops/s | raw-small 10,000 ops/s (0.85×) | **yes** |",
				"| small-retr (32 clients) ≥ 1.5 × best peer | 8500 ops/s | pure-ftpd 5600 ops/s (1.52×) | **yes** |",
				"| raw-small | none (in the client) | 10,000 ops/s | 1.00 | 3.00 |  |",
				"| 2 | raw-small (ops/s) | 12,000 | – | – | – |",
			},
			notWant: []string{"≥ 2 × best peer"},
		},
		{
			name:    "both targets missed",
			samples: [][]sample{peers, ceiling, rotary(7000, 7000, 7000)},
			want: []string{
				ceilingLine,
				"| small-retr ÷ raw-small | 0.70× | 0.50× | 0.56× |",
				"| small-retr (32 clients) ≥ 0.8 × raw-small | 7000 ops/s | raw-small 10,000 ops/s (0.70×) | **no** |",
				"| small-retr (32 clients) ≥ 1.5 × best peer | 7000 ops/s | pure-ftpd 5600 ops/s (1.25×) | **no** |",
			},
		},
		{
			name:    "with the FTP-exchange ceiling",
			samples: [][]sample{peers, ceiling, rotary(7000, 7000, 7000), {ops(1, "raw", bench.RawFTPSmall, false, 8000), ops(2, "raw", bench.RawFTPSmall, false, 9000), ops(3, "raw", bench.RawFTPSmall, false, 8500)}},
			want: []string{
				ceilingLine,
				"responder in the client with a pre-bound data port, 150 and 226 in one write, no login and no file system): **8500 ops/s** (0.85× raw-small).",
				"| small-retr ÷ raw-small | 0.70× | 0.50× | 0.56× |",
				"| small-retr ÷ raw-ftp-small | 0.82× | 0.59× | 0.66× |",
				"| small-retr+tls ÷ raw-ftp-small (clear-text ceiling) | 0.18× | 0.12× | – |",
				"| raw-ftp-small | none (in the client) | 8500 ops/s | 1.00 | 3.00 |  |",
				"| small-retr (32 clients) ≥ 0.8 × raw-small | 7000 ops/s | raw-small 10,000 ops/s (0.70×) | **no** |",
			},
		},
		{
			name:    "no raw-small run",
			samples: [][]sample{peers, rotary(8500, 8600, 8400)},
			want: []string{
				"| small-retr (32 clients) ≥ 1.5 × best peer | 8500 ops/s | pure-ftpd 5600 ops/s (1.52×) | **yes** |",
			},
			notWant: []string{"Small-transfer ceiling", "FTP-exchange ceiling", "÷ raw-small |", "÷ raw-ftp-small |", "× raw-small"},
		},
		{
			name:    "raw-small failed in every round",
			samples: [][]sample{peers, rotary(8500), {failed(1, "raw", bench.RawSmall), failed(2, "raw", bench.RawSmall)}},
			want: []string{
				"TCP connection on which a trivial responder in the client sends 4 KiB from memory and closes): **failed²**.",
				"- raw-small on raw (round 1): listen: too many open files",
			},
			notWant: []string{"÷ raw-small |", "× raw-small"},
		},
		{
			name:    "raw-small in some rounds",
			samples: [][]sample{peers, rotary(8500, 8600, 8400), {ops(1, "raw", bench.RawSmall, false, 10000), failed(2, "raw", bench.RawSmall)}},
			want: []string{
				"TCP connection on which a trivial responder in the client sends 4 KiB from memory and closes): **10,000 ops/s (1/2)**.",
				"| small-retr (32 clients) ≥ 0.8 × raw-small | 8500 ops/s | raw-small 10,000 ops/s (0.85×) | **yes** |",
			},
		},
	}
	list := []*server{{name: "rotary"}, {name: "vsftpd"}, {name: "pure-ftpd"}}
	jobs := []job{{workload: bench.RawSmall}, {workload: bench.RawFTPSmall}, {workload: bench.SmallRetr}, {workload: bench.SmallRetr, tls: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &options{out: filepath.Join(t.TempDir(), "BENCHMARKS.md"), rounds: 3, slices: 1, duration: 5 * time.Second,
				size: "1GiB", clients: 32, loginClients: 16, listEntries: 10000, sessions: 10000, forkSessions: 500, tls: true, rev: "test"}
			var samples []sample
			for _, s := range tt.samples {
				samples = append(samples, s...)
			}
			if err := writeReport(o, list, jobs, samples, "", time.Minute, [2]string{"0", "0"}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(o.out)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("no line %q", w)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(string(b), nw) {
					t.Errorf("report holds %q", nw)
				}
			}
			if t.Failed() {
				t.Logf("report:\n%s", b)
			}
		})
	}
}

// TestReportKeepsAnalysis: a rewrite keeps the previous report's analysis,
// and the sections written after its end marker, and replaces the tables.
func TestReportKeepsAnalysis(t *testing.T) {
	o := &options{out: filepath.Join(t.TempDir(), "BENCHMARKS.md"), rounds: 1, slices: 1, duration: 5 * time.Second,
		size: "1GiB", clients: 32, loginClients: 16, listEntries: 10000, sessions: 10000, forkSessions: 500, rev: "test"}
	kept := analysisStart + "\n## Analysis\n\nFirst finding.\n" + analysisEnd + "\n\n## A later measurement\n\nSecond finding.\n"
	old := "# Benchmarks\n\n| stale table |\n\n" + kept
	if err := os.WriteFile(o.out, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(o, []*server{{name: "rotary"}}, nil, nil, "", time.Minute, [2]string{"0", "0"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.HasSuffix(got, "\n"+kept) {
		t.Errorf("the report does not end with the previous analysis and what followed it:\n%s", got)
	}
	if strings.Contains(got, "stale table") {
		t.Error("the previous report's tables were kept")
	}
	if strings.Count(got, analysisStart) != 1 {
		t.Errorf("%d analysis markers, want 1", strings.Count(got, analysisStart))
	}
}
