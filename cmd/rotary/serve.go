package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/proxyheader"
	"github.com/rotary-ftp/rotary/internal/publicip"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// shutdownGrace is how long running transfers may finish after SIGINT/SIGTERM.
const shutdownGrace = 30 * time.Second

type serveOptions struct {
	listen        listFlag
	root          string
	users         listFlag
	anonymous     bool
	passivePorts  string
	publicIP      string
	overrides     listFlag
	idleTimeout   time.Duration
	maxConns      int
	maxConnsPerIP int
	logLevel      string
	proxyFrom     listFlag
}

func serveFlags(o *serveOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("rotary serve", flag.ContinueOnError)
	fs.Var(&o.listen, "listen", "control listener `ADDR`, repeatable (IPv4 and IPv6) (default :2121)")
	fs.StringVar(&o.root, "root", "./ftproot", "`DIR` served to --user users (created if missing)")
	fs.Var(&o.users, "user", "a user `NAME:PASSWORD` whose home is --root, repeatable")
	fs.BoolVar(&o.anonymous, "anonymous", false, "allow read-only anonymous login (anonymous or ftp, any password) to --root")
	fs.StringVar(&o.passivePorts, "passive-ports", "50000-50099", "passive data port range `LO-HI`")
	fs.StringVar(&o.publicIP, "public-ip", "", "`IP|HOSTNAME` announced in passive replies; a host name is re-resolved at most every 60 s (default: the control connection's local address)")
	fs.Var(&o.overrides, "passive-ip-override", "`CIDR=IP`: clients inside CIDR are told IP (or the word local) instead of --public-ip; repeatable, first match wins")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 5*time.Minute, "close an idle session with 421 after `DUR`")
	fs.IntVar(&o.maxConns, "max-conns", 0, "refuse connection N+1 with 421 (0 = unlimited)")
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", 0, "refuse connection N+1 from one IP with 421 (0 = unlimited)")
	fs.Var(&o.proxyFrom, "proxy-protocol-from", "trust PROXY protocol headers (v1/v2) from peers in `CIDR` (a gateway), on control and data connections; repeatable")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rotary serve [flags]\n\nRuns the FTP server. With neither --user nor --anonymous it creates the user\n\"rotary\" with a random password and prints the password once.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runServe(args []string) int {
	var o serveOptions
	fs := serveFlags(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rotary serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	srv, listeners, err := buildServer(&o, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary serve: %v\n", err)
		return 2
	}
	return runServer(srv, listeners)
}

// buildServer turns options into a configured server and bound listeners.
// Messages for the admin (the generated password) go to out.
func buildServer(o *serveOptions, out *os.File) (*ftp.Server, []net.Listener, error) {
	level := new(slog.LevelVar)
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	rng, err := passive.ParseRange(o.passivePorts)
	if err != nil {
		return nil, nil, fmt.Errorf("--passive-ports: %w", err)
	}
	resolver := &publicip.Resolver{Public: o.publicIP, Logger: logger}
	for _, s := range o.overrides {
		ov, err := publicip.ParseOverride(s)
		if err != nil {
			return nil, nil, err
		}
		resolver.Overrides = append(resolver.Overrides, ov)
	}
	if o.maxConns < 0 || o.maxConnsPerIP < 0 {
		return nil, nil, errors.New("--max-conns and --max-conns-per-ip must not be negative")
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return nil, nil, fmt.Errorf("--root %q: %w", o.root, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, nil, fmt.Errorf("--root: %w", err)
	}
	backend := &auth.Backend{}
	for _, u := range o.users {
		name, pass, err := auth.ParseUserFlag(u)
		if err != nil {
			return nil, nil, err
		}
		backend.Users = append(backend.Users, auth.User{Name: name, Password: pass, Home: root})
	}
	if o.anonymous {
		backend.AnonymousRoot = root
	}
	if len(o.users) == 0 && !o.anonymous {
		pass := auth.RandomPassword()
		backend.Users = append(backend.Users, auth.User{Name: "rotary", Password: pass, Home: root})
		fmt.Fprintf(out, "rotary: no --user given; created user \"rotary\" with password %s (shown once)\n", pass)
	}

	addrs := []string(o.listen)
	if len(addrs) == 0 {
		addrs = []string{":2121"}
	}
	var listeners []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, nil, fmt.Errorf("--listen %s: %w", a, err)
		}
		listeners = append(listeners, l)
	}
	trust, err := proxyheader.ParseTrust(o.proxyFrom)
	if err != nil {
		return nil, nil, err
	}
	pool := passive.New(rng)
	pool.Logger = logger
	if len(trust) > 0 {
		pool.ClientAddr = trust.DataConnHook(proxyheader.DefaultTimeout)
	}
	srv := &ftp.Server{
		Backend:        backend,
		Passive:        pool,
		PassiveAddress: resolver.Address,
		IdleTimeout:    o.idleTimeout,
		MaxConns:       o.maxConns,
		MaxConnsPerIP:  o.maxConnsPerIP,
		ProxyFrom:      trust,
		Logger:         logger,
	}
	if o.idleTimeout <= 0 {
		srv.IdleTimeout = -1
	}
	for _, l := range listeners {
		logger.Info("listening", "addr", l.Addr().String(), "root", root, "passive-ports", rng.String(), "public-ip", o.publicIP)
	}
	return srv, listeners, nil
}

// runServer serves until SIGINT/SIGTERM, then drains for up to shutdownGrace.
func runServer(srv *ftp.Server, listeners []net.Listener) int {
	var wg sync.WaitGroup
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, ftp.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	code := 0
	select {
	case s := <-sig:
		slog.Info("shutting down: letting running transfers finish", "signal", s.String(), "grace", shutdownGrace)
	case err := <-errc:
		slog.Error("server failed", "err", err)
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		slog.Warn("shutdown grace period over; closed remaining sessions", "err", err)
	}
	srv.Passive.Close()
	wg.Wait()
	slog.Info("stopped")
	return code
}
