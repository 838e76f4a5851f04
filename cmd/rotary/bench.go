package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rotary-ftp/rotary/internal/bench"
)

const benchUsage = `Usage: rotary bench ftp://USER:PASS@HOST:PORT/[DIR] [flags]

Load-tests any FTP server (Rotary or another) and prints a table, or JSON
with --json. Workloads (--workload NAME, repeatable or comma-separated; all
runs every one):

  raw            the machine's loopback ceiling: sendfile of --size bytes over
                 TCP to a sink in this process (no server involved)
  retr-big       RETR of a --size file, MB/s (uploaded first when missing; or
                 --file NAME already on the server)
  stor-big       STOR of --size bytes of generated data, MB/s (deleted after)
  stor-overwrite STOR of --size bytes to the same name each time (replacing
                 the previous upload, as re-sent files do), MB/s
  raw-small      the machine's ceiling for small-retr: --clients connections
                 to a trivial responder in this process (no server involved),
                 each looping one request and reply, a new data connection
                 and --small-size bytes from memory for --duration: ops/s,
                 p50/p99 latency
  raw-ftp-small  the ceiling of FTP's own exchange for small-retr: small-retr's
                 client (PASV, connect, RETR, data, 226) against a trivial
                 responder in this process (no server, no login, no files)
  small-retr     --clients sessions log in once, then loop PASV+RETR of a
                 --small-size file for --duration: ops/s, p50/p99 latency
  login-storm    --clients at once connect, log in and QUIT until --logins
                 logins are done: time until all are in, logins/s, p50/p99
  idle-sessions  hold --sessions logged-in sessions for --duration; with
                 --server-pid, the server's PSS summed over its process tree,
                 per session
  list-big       MLSD (LIST without MLSD) of --list-dir with --list-entries
                 entries (filled with tiny STORs when short), for --duration

With --tls every workload but the ceilings (raw*) uses explicit FTPS (AUTH TLS,
PROT P; certificates are not checked); a server that refuses AUTH TLS is
skipped.
The target must be loopback (127.0.0.0/8 or ::1) unless --allow-remote.

Flags:
`

func runBench(args []string) int {
	var (
		workloads   listFlag
		cfg         bench.Config
		jsonOut     bool
		size        string
		smallSize   string
		allowRemote bool
	)
	fs := flag.NewFlagSet("rotary bench", flag.ContinueOnError)
	fs.Var(&workloads, "workload", "workload `NAME`, repeatable, or all (default all)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each timed workload runs (at most 10m)")
	fs.StringVar(&size, "size", "1GiB", "big transfer `SIZE` for retr-big, stor-big, stor-overwrite and raw (KiB, MiB, GiB suffixes)")
	fs.IntVar(&cfg.Warmup, "warmup", 1, "untimed big transfers before the timed ones (raw, retr-big, stor-big, stor-overwrite, which runs one more so that a replacement is among them; at most 10)")
	fs.StringVar(&cfg.File, "file", "", "retr-big downloads this existing server `FILE` instead of its own")
	fs.StringVar(&smallSize, "small-size", "4KiB", "small-retr file `SIZE` (and what raw-small sends)")
	fs.IntVar(&cfg.Clients, "clients", 32, "concurrent sessions for small-retr, raw-small, raw-ftp-small and login-storm (at most 1024)")
	fs.IntVar(&cfg.Logins, "logins", 5000, "logins made by login-storm in all")
	fs.IntVar(&cfg.Sessions, "sessions", 1000, "sessions held by idle-sessions (at most 20000)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "`PID` of the server, for its memory in idle-sessions (Linux)")
	fs.StringVar(&cfg.ListDir, "list-dir", "rotary-bench-list", "folder listed by list-big")
	fs.IntVar(&cfg.ListEntries, "list-entries", 10000, "entries list-big wants in --list-dir")
	fs.StringVar(&cfg.TempDir, "temp-dir", "", "folder for the raw workload's file (default the system's)")
	fs.BoolVar(&cfg.TLS, "tls", false, "explicit FTPS: AUTH TLS and PROT P")
	fs.BoolVar(&jsonOut, "json", false, "print JSON instead of a table")
	fs.BoolVar(&allowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	// Accept the URL before or after the flags.
	var target string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		target, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if target == "" && len(rest) > 0 {
		target, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "rotary bench: unexpected argument %q\n", rest[0])
		return 2
	}
	var err error
	if cfg.Size, err = bench.ParseSize(size); err != nil {
		fmt.Fprintf(os.Stderr, "rotary bench: --size: %v\n", err)
		return 2
	}
	if cfg.SmallSize, err = bench.ParseSize(smallSize); err != nil {
		fmt.Fprintf(os.Stderr, "rotary bench: --small-size: %v\n", err)
		return 2
	}
	if len(workloads) == 0 {
		workloads = listFlag{"all"}
	}
	names, err := bench.ExpandWorkloads(workloads)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary bench: --workload: %v\n", err)
		return 2
	}
	onlyCeilings := true
	for _, n := range names {
		onlyCeilings = onlyCeilings && bench.IsCeiling(n)
	}
	if target == "" && !onlyCeilings {
		fmt.Fprintln(os.Stderr, "rotary bench: no target URL (rotary bench --help)")
		return 2
	}
	if target != "" {
		if cfg.Target, err = bench.ParseTarget(target); err != nil {
			fmt.Fprintf(os.Stderr, "rotary bench: %v\n", err)
			return 2
		}
	}
	cfg.AllowRemote = allowRemote
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "rotary bench: %v\n", err)
		return 2
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		fmt.Fprintf(os.Stderr, "rotary bench: raising the open-file limit: %v\n", err)
	}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		cfg.Progress = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := bench.Run(ctx, cfg, names)
	if err != nil && len(results) == 0 {
		fmt.Fprintf(os.Stderr, "rotary bench: %v\n", err)
		return 1
	}
	rep := bench.Report{Target: cfg.Target.String(), Results: results}
	if target == "" {
		rep.Target = "(none: the ceilings need no server)"
	}
	if jsonOut {
		err = bench.WriteJSON(os.Stdout, rep)
	} else {
		err = bench.WriteTable(os.Stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary bench: %v\n", err)
		return 1
	}
	for _, r := range results {
		if r.Error != "" {
			return 1
		}
	}
	if ctx.Err() != nil {
		return 130
	}
	return 0
}
