package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/probe"
)

const probeUsage = `Usage: rotary probe [flags] ftp://USER:PASS@HOST[:PORT]/

The reachability self-test, run from the client side: logs in, checks the
address in the server's 227 replies against the address dialled, checks
EPSV, then has the server hand out every passive port (several sessions
holding one PASV each, as a busy site) and completes a listing over a data
connection to each. Reports each port as reachable or unreachable with the
likely cause (not forwarded, filtered, wrong address). Under TLS it also
reports whether data connections resume the control connection's session.

Exit status: 0 all reachable, 1 problems found, 2 usage or login errors.

Flags:
`

func runProbe(args []string) int {
	return probeMain(context.Background(), args, os.Stdout, os.Stderr, term.IsTerminal(int(os.Stdout.Fd())))
}

// probeMain is `rotary probe`; tty says stdout is a terminal (a progress
// line on stderr while it works).
func probeMain(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("rotary probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	explicit := fs.Bool("tls", false, "explicit FTPS (AUTH TLS, PROT P); certificates are not checked")
	implicit := fs.Bool("implicit-tls", false, "implicit FTPS (TLS from the first byte; ftps:// URLs imply it)")
	ports := fs.String("ports", "", "the passive range `LO-HI` that should be reachable (default: the ports the server hands out)")
	asJSON := fs.Bool("json", false, "print one JSON document instead of the table")
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "bound on each connect, reply and listing")
	maxSessions := fs.Int("max-sessions", probe.DefaultMaxSessions, "sessions held at once, each with one PASV")
	fs.Usage = func() { fmt.Fprint(stderr, probeUsage); fs.PrintDefaults() }
	// Flags may follow the URL.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	if len(rest) != 1 {
		fmt.Fprintln(stderr, "rotary probe: want one URL, ftp://USER:PASS@HOST[:PORT]/")
		return 2
	}
	target, ftps, err := probe.ParseURL(rest[0])
	if err != nil {
		fmt.Fprintln(stderr, "rotary probe:", err)
		return 2
	}
	o := probe.Options{Target: target, TLS: *explicit, ImplicitTLS: *implicit || ftps, Timeout: *timeout, MaxSessions: *maxSessions}
	if *explicit && o.ImplicitTLS {
		fmt.Fprintln(stderr, "rotary probe: --tls and --implicit-tls exclude each other")
		return 2
	}
	if *maxSessions < 1 || *maxSessions > 1000 {
		fmt.Fprintln(stderr, "rotary probe: --max-sessions: want 1 to 1000")
		return 2
	}
	if *ports != "" {
		if o.Ports, err = passive.ParseRange(*ports); err != nil {
			fmt.Fprintf(stderr, "rotary probe: --ports %s: %v\n", *ports, errors.Unwrap(err))
			return 2
		}
	}
	if tty && !*asJSON {
		o.Progress = func(done, total int) { fmt.Fprintf(stderr, "\rprobing passive ports: %d of %d tested", done, total) }
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	start := time.Now()
	rep, err := probe.Run(ctx, o)
	if o.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintln(stderr, "rotary probe:", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printReport(stdout, rep, time.Since(start))
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// printReport is the table a person reads.
func printReport(w io.Writer, r *probe.Report, took time.Duration) {
	tls := ""
	if r.TLS != "" {
		tls = " (" + r.TLS + " FTPS)"
	}
	fmt.Fprintf(w, "rotary probe %s%s: connected to %s\n", r.URL, tls, r.ConnectedTo)
	switch {
	case r.PASV.OK:
		fmt.Fprintf(w, "PASV   announces %s: ok\n", r.PASV.Announced)
	case r.PASV.Problem != "":
		fmt.Fprintf(w, "PASV   %s\n", r.PASV.Problem)
	}
	switch {
	case r.EPSV.Supported && r.EPSV.Reachable:
		fmt.Fprintf(w, "EPSV   port %d: ok\n", r.EPSV.Port)
	case r.EPSV.Note != "":
		fmt.Fprintf(w, "EPSV   %s\n", r.EPSV.Note)
	}
	how := "given with --ports"
	if r.Range.Learned {
		how = "learned from the ports the server handed out"
	}
	if r.Range.Hi > 0 {
		fmt.Fprintf(w, "range  %d-%d (%s)\n\n", r.Range.Lo, r.Range.Hi, how)
	}
	fmt.Fprintf(w, "%-6s %-12s %s\n", "PORT", "STATE", "CAUSE")
	for _, p := range r.Ports {
		state := "reachable"
		if !p.Reachable {
			state = "unreachable"
		}
		cause := p.Cause
		if p.Resumed != nil && p.Reachable {
			cause = "TLS session resumed"
			if !*p.Resumed {
				cause = "TLS session not resumed"
			}
		}
		fmt.Fprintf(w, "%-6d %-12s %s\n", p.Port, state, cause)
	}
	if rc := r.TLSReuse; rc != nil {
		fmt.Fprintf(w, "\nTLS    data connections resume the control session: %d of %d; %s\n", rc.Resumed, rc.Total, rc.Note)
	}
	fmt.Fprintln(w)
	if len(r.Problems) == 0 {
		fmt.Fprintf(w, "ok: %d passive ports reachable (%s)\n", len(r.Ports), took.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(w, "%d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  - "+strings.TrimSpace(p))
	}
}
