package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/admin"
	"github.com/rotary-ftp/rotary/internal/nat/forward"
	"github.com/rotary-ftp/rotary/internal/nat/gateway"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
	"github.com/rotary-ftp/rotary/internal/nat/kernel"
)

const gatewayUsage = `Usage:
  rotary gateway --config FILE [--lenient] [--strict] [--print-model] [--print-plan] [--admin ADDR] [--drain DURATION]
  rotary gateway show translations [--verbose] [--admin ADDR]
  rotary gateway show statistics [--admin ADDR]

Runs a Cisco IOS NAT configuration (ip nat pool ... type rotary, access
lists, ip nat inside destination list, ip nat inside source static tcp,
ip nat translation timeouts) as a userspace TCP gateway.

SIGHUP reloads FILE (new listeners open, removed ones close, established
flows continue); SIGTERM or SIGINT stops listening and drains the flows.
The show commands ask the running gateway over its admin endpoint, an
HTTP listener on loopback (default ` + admin.DefaultAddr + `; --admin "" turns it off)
that also serves /metrics (Prometheus) and /healthz. Elsewhere than on
loopback it needs --admin-token-file.

Flags:
`

const gatewayShowUsage = `Usage:
  rotary gateway show translations [--verbose] [--admin ADDR]
  rotary gateway show statistics [--admin ADDR]

Asks the running gateway, over its loopback admin endpoint (default
` + admin.DefaultAddr + `), for its translation table, as IOS prints
show ip nat translations, or for its counters (show ip nat statistics).
`

// runGateway is `rotary gateway ...`: exit 0 on a clean stop, 1 when the
// gateway cannot run (an outside port in use), 2 on a usage or config error.
func runGateway(args []string) int {
	if len(args) > 0 && args[0] == "show" {
		return runGatewayShow(args[1:], os.Stdout, os.Stderr)
	}
	return gatewayMain(args, os.Stdout, os.Stderr)
}

// gatewayMain is `rotary gateway --config FILE ...` writing to stdout and
// stderr: the JSON model or the plan to stdout; warnings, errors and the
// log (slog text, as rotary serve's) to stderr.
func gatewayMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotary gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "IOS NAT configuration `FILE` (required)")
	lenient := fs.Bool("lenient", false, "turn unknown lines into warnings instead of errors")
	strict := fs.Bool("strict", false, "plain IOS: reject rotary extension lines, no health checks")
	printModel := fs.Bool("print-model", false, "print the parsed model as JSON and exit (like caddy adapt)")
	printPlan := fs.Bool("print-plan", false, "print the plan (outside address:port -> target [datapath]) and exit")
	adminAddr := fs.String("admin", admin.DefaultAddr, "`ADDR` of the admin endpoint (show commands, /metrics, /healthz): loopback, or any with --admin-token-file; \"\" turns it off")
	adminTokenFile := fs.String("admin-token-file", "", "`FILE` whose first line is the admin endpoint's bearer token; required for a non-loopback --admin")
	datapath := fs.String("datapath", "auto", "where connections are forwarded: kernel (nftables), userspace, or auto (kernel on Linux with CAP_NET_ADMIN)")
	masquerade := fs.Bool("masquerade", false, "kernel datapath: translated connections reach the inside hosts from the gateway's address, for hosts that do not route back through it (they then see the gateway, not the client)")
	drain := fs.Duration("drain", gateway.DefaultDrainTimeout, "on stop, wait this long for flows before closing them")
	fs.Usage = func() {
		fmt.Fprint(stderr, gatewayUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "rotary gateway: --config FILE is required")
		fs.Usage()
		return 2
	}
	opts := ios.ParseOptions{Lenient: *lenient, Strict: *strict}
	cfg, warnings, err := gateway.Load(*configPath, opts)
	gateway.PrintWarnings(stderr, warnings)
	if err != nil {
		fmt.Fprintln(stderr, "rotary gateway:", err)
		return 2
	}
	if *printModel {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(cfg); err != nil {
			fmt.Fprintln(stderr, "rotary gateway:", err)
			return 1
		}
		return 0
	}
	var adminToken string
	if *adminAddr != "" {
		if *adminTokenFile != "" {
			if adminToken, err = adminhttp.ReadToken(*adminTokenFile); err != nil {
				fmt.Fprintln(stderr, "rotary gateway:", err)
				return 2
			}
		}
		if err := adminhttp.CheckListen(*adminAddr, adminToken != ""); err != nil {
			fmt.Fprintf(stderr, "rotary gateway: --admin %s: %v\n", *adminAddr, err)
			return 2
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	dp, choice, err := chooseDatapath(*datapath, *masquerade, logger)
	if err != nil {
		fmt.Fprintln(stderr, "rotary gateway:", err)
		return 2
	}
	if choice != nil {
		logger.Info("datapath auto: "+dp.Name(), choice...)
	}
	// What the datapath cannot run is a configuration error too: it is
	// reported here, with its position, before anything is opened.
	prog, err := dp.Compile(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "rotary gateway:", err)
		return 2
	}
	gateway.PrintWarnings(stderr, prog.Warnings())
	if *printPlan {
		for _, l := range prog.Plan() {
			fmt.Fprintln(stdout, l)
		}
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), gateway.StopSignals()...)
	defer stop()
	reload := make(chan os.Signal, 1)
	if sigs := gateway.ReloadSignals(); len(sigs) > 0 {
		signal.Notify(reload, sigs...)
		defer signal.Stop(reload)
	}
	err = gateway.Run(ctx, gateway.Options{
		ConfigPath:   *configPath,
		Parse:        opts,
		Datapath:     dp,
		AdminAddr:    *adminAddr,
		AdminToken:   adminToken,
		DrainTimeout: *drain,
		Logger:       logger,
	}, cfg, prog, reload)
	if err != nil {
		fmt.Fprintln(stderr, "rotary gateway:", err)
		return 1
	}
	return 0
}

// runGatewayShow is `rotary gateway show translations|statistics`.
func runGatewayShow(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stderr, gatewayShowUsage)
		return 0
	}
	if len(args) == 0 || (args[0] != "translations" && args[0] != "statistics") {
		fmt.Fprint(stderr, "rotary gateway show: expected \"translations\" or \"statistics\"\n\n"+gatewayUsage)
		return 2
	}
	what := args[0]
	fs := flag.NewFlagSet("rotary gateway show "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, gatewayShowUsage+"\nFlags of show "+what+":\n")
		fs.PrintDefaults()
	}
	addr := fs.String("admin", admin.DefaultAddr, "admin endpoint `ADDR` of the running gateway")
	tokenFile := fs.String("admin-token-file", "", "`FILE` holding the endpoint's token, if it has one")
	verbose := false
	if what == "translations" {
		fs.BoolVar(&verbose, "verbose", false, "timers and flags for each entry, as show ip nat translations verbose")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rotary gateway show %s: unexpected %q\n", what, fs.Arg(0))
		return 2
	}
	if verbose {
		what += "?verbose=1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep := adminhttp.Endpoint{Addr: *addr}
	if *tokenFile != "" {
		tok, err := adminhttp.ReadToken(*tokenFile)
		if err != nil {
			fmt.Fprintln(stderr, "rotary gateway show:", err)
			return 2
		}
		ep.Token = tok
	}
	out, err := admin.Fetch(ctx, ep, what)
	if err != nil {
		fmt.Fprintln(stderr, "rotary gateway show:", err)
		return 1
	}
	fmt.Fprint(stdout, out)
	return 0
}

// chooseDatapath is --datapath: kernel needs nftables with CAP_NET_ADMIN,
// auto falls back to userspace; choice (non-nil for auto) is the log
// line's attributes saying why.
func chooseDatapath(name string, masquerade bool, logger *slog.Logger) (dp nat.Datapath, choice []any, err error) {
	switch name {
	case "userspace":
		if masquerade {
			return nil, nil, errors.New("--masquerade is for the kernel datapath: the userspace one connects to the inside hosts from the gateway's address already")
		}
		return &forward.Server{Logger: logger}, nil, nil
	case "kernel":
		if err := kernel.Available(); err != nil {
			return nil, nil, fmt.Errorf("--datapath kernel: %w", err)
		}
		return &kernel.Datapath{Logger: logger, Masquerade: masquerade}, nil, nil
	case "auto":
		if err := kernel.Available(); err != nil {
			return &forward.Server{Logger: logger}, []any{"reason", err.Error()}, nil
		}
		return &kernel.Datapath{Logger: logger, Masquerade: masquerade}, []any{"reason", "nftables available (CAP_NET_ADMIN)"}, nil
	}
	return nil, nil, fmt.Errorf("--datapath %q: want kernel, userspace or auto", name)
}
