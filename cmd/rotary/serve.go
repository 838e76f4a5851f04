package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/ban"
	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/logqueue"
	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/proxyheader"
	"github.com/rotary-ftp/rotary/internal/publicip"
	"github.com/rotary-ftp/rotary/internal/storage/local"
	"github.com/rotary-ftp/rotary/internal/xferlog"
)

// shutdownGrace is how long running transfers may finish after SIGINT/SIGTERM.
const shutdownGrace = 30 * time.Second

const serveUsage = `Usage: rotary serve [--config FILE] [flags]

Runs the FTP server. Every flag is also a key of the same name in the TOML
config file; flags override the file. With neither --user, --users-file nor
--anonymous it creates the user "rotary" with a random password and prints
the password once.

Flags:
`

func runServe(args []string) int {
	cfg, fs, err := config.Parse("rotary serve", args, os.Stderr)
	if fs != nil {
		fs.Usage = func() { fmt.Fprint(fs.Output(), serveUsage); fs.PrintDefaults() }
	}
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary serve: %v\n", err)
		return 2
	}
	// A bad certificate stops the start before anything is printed.
	tlsOpts := tlsOptionsFrom(cfg)
	if err := tlsOpts.check(); err != nil {
		fmt.Fprintf(os.Stderr, "rotary serve: %v\n", err)
		return 2
	}
	app, err := newServeApp(cfg, args, os.Stdout)
	if err == nil {
		err = app.addTLS(&tlsOpts, os.Stdout)
	}
	if err != nil {
		if app != nil {
			app.logq.Sync()
		}
		fmt.Fprintf(os.Stderr, "rotary serve: %v\n", err)
		return 2
	}
	code := app.run()
	app.logq.Sync()
	return code
}

// serveApp is a running `rotary serve`: the server and what feeds it, kept
// so that SIGHUP can rebuild and swap the parts that may change.
type serveApp struct {
	args      []string
	cfg       config.Config
	level     *slog.LevelVar
	logger    *slog.Logger
	logq      *logqueue.Queue // syncs the logger's lines out before exit
	srv       *ftp.Server
	listeners []net.Listener
	backend   *auth.Backend
	bans      *ban.Tracker
	xfer      *xferlog.Writer
	admin     *http.Server
	// reloaders run on SIGHUP after the config is swapped (certificates).
	reloaders []func() error
	// trust is the PROXY trust the passive pool's data hook was built with.
	trust proxyheader.Trust
	// generated is the user made up at start when none was configured.
	generated *auth.User
}

// newLogger logs to standard error through a logqueue: sessions hand their
// lines to one writer goroutine (shallow session stacks, batched writes).
// The queue must be synced before the process exits.
func newLogger(cfg config.Config, level *slog.LevelVar) (*slog.Logger, *logqueue.Queue) {
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	h, q := logqueue.New(os.Stderr, func(w io.Writer) slog.Handler {
		if cfg.LogFormat == "json" {
			return slog.NewJSONHandler(w, opts)
		}
		return slog.NewTextHandler(w, opts)
	})
	return slog.New(h), q
}

// authOptions builds the user set: command-line users, the users file and
// anonymous access. out receives the generated password, if any.
func authOptions(cfg config.Config, out io.Writer) (auth.Options, error) {
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return auth.Options{}, fmt.Errorf("root %q: %w", cfg.Root, err)
	}
	// Every home is a folder of the local disk; Roots shares one open root
	// per folder among its sessions.
	o := auth.Options{FailDelay: cfg.LoginFailDelay, Storage: &local.Roots{SyncUploads: cfg.SyncUploads}}
	for _, u := range cfg.User {
		name, pass, err := auth.ParseUserFlag(u)
		if err != nil {
			return o, err
		}
		o.Users = append(o.Users, auth.User{Name: name, Password: pass, Home: root})
	}
	if cfg.UsersFile != "" {
		f, err := auth.LoadUsersFile(cfg.UsersFile)
		if err != nil {
			return o, err
		}
		o.File = f
	}
	if cfg.Anonymous {
		o.AnonymousRoot = cfg.AnonymousRoot
	}
	if len(o.Users) == 0 && o.File == nil && !cfg.Anonymous && out != nil {
		pass := auth.RandomPassword()
		o.Users = append(o.Users, auth.User{Name: "rotary", Password: pass, Home: root})
		fmt.Fprintf(out, "rotary: no --user given; created user \"rotary\" with password %s (shown once)\n", pass)
	}
	return o, nil
}

func newServeApp(cfg config.Config, args []string, out io.Writer) (_ *serveApp, err error) {
	a := &serveApp{args: args, cfg: cfg, level: new(slog.LevelVar)}
	a.logger, a.logq = newLogger(cfg, a.level)
	slog.SetDefault(a.logger)
	defer func() {
		if err != nil {
			a.logq.Sync() // what was logged before the failure
		}
	}()

	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if cfg.Anonymous {
		if err := os.MkdirAll(cfg.AnonymousRoot, 0o755); err != nil {
			return nil, fmt.Errorf("anonymous-root: %w", err)
		}
	}
	// The generated password is printed only once the listeners are bound:
	// a start that fails must not show a password nobody can use.
	var announce bytes.Buffer
	opts, err := authOptions(cfg, &announce)
	if err != nil {
		return nil, err
	}
	if len(cfg.User) == 0 && len(opts.Users) == 1 {
		a.generated = &opts.Users[0]
	}
	a.bans = ban.New(banPolicy(cfg))
	a.bans.Logger = a.logger
	a.backend = auth.New(opts)
	a.backend.Logger = a.logger
	a.backend.OnFailure = func(ip netip.Addr) { a.bans.Failure(ip) }
	if cfg.XferlogFile != "" {
		if a.xfer, err = xferlog.Open(cfg.XferlogFile); err != nil {
			return nil, err
		}
	}
	a.srv = &ftp.Server{Backend: a.backend, Logger: a.logger,
		ConnFilter: func(c ftp.ConnInfo) error { return a.bans.Check(c.Client.Addr()) }}
	if err := a.apply(cfg); err != nil {
		return nil, err
	}
	for _, addr := range cfg.Listen {
		l, err := ftp.ListenControl(addr)
		if err != nil {
			a.closeListeners()
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		a.listeners = append(a.listeners, l)
	}
	if cfg.AdminListen != "" {
		l, err := net.Listen("tcp", cfg.AdminListen)
		switch {
		case err == nil:
			a.admin = &http.Server{Handler: a.bans.Handler(), ReadHeaderTimeout: 5 * time.Second}
			go a.admin.Serve(l)
		case cfg.AdminListen == config.DefaultAdminListen:
			a.logger.Warn("admin endpoint off: its default address is taken (another rotary serve?); set admin-listen to use rotary ban here",
				"admin-listen", cfg.AdminListen, "err", err)
		default:
			a.closeListeners()
			return nil, fmt.Errorf("admin-listen %s: %w", cfg.AdminListen, err)
		}
	}
	out.Write(announce.Bytes())
	for _, l := range a.listeners {
		a.logger.Info("listening", "addr", l.Addr().String(), "root", cfg.Root, "passive-ports", cfg.PassivePorts.String(),
			"public-ip", cfg.PublicIP, "config", cfg.File)
	}
	return a, nil
}

func banPolicy(cfg config.Config) ban.Policy {
	return ban.Policy{After: cfg.BanAfter, Window: cfg.BanWindow, For: cfg.BanFor}
}

// apply sets the server fields that come from cfg; it is used at start and
// on reload (where running sessions see the new values from their next
// command on).
func (a *serveApp) apply(cfg config.Config) error {
	trust, err := proxyheader.ParseTrust(cfg.ProxyProtocolFrom)
	if err != nil {
		return err
	}
	resolver := &publicip.Resolver{Public: cfg.PublicIP, Overrides: cfg.PassiveIPOverride, Logger: a.logger}
	var pool *passive.Pool
	if old := a.srv.Passive; old != nil && old.Range() == cfg.PassivePorts && slices.Equal(trust, a.trust) {
		pool = old
	} else {
		// A new range (or trust) gets a new pool; reservations on the old
		// one finish there and its listeners close as they are released.
		pool = passive.New(cfg.PassivePorts)
		pool.Logger = a.logger
		pool.Linger = passive.DefaultLinger
		if len(trust) > 0 {
			pool.ClientAddr = trust.DataConnHook(proxyheader.DefaultTimeout)
		}
	}
	never := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	var tlog func(ftp.TransferRecord)
	if a.xfer != nil {
		tlog = a.xfer.Log
	}
	a.trust = trust
	a.srv.Update(func(s *ftp.Server) {
		s.Passive = pool
		s.PassiveAddress = resolver.Address
		s.IdleTimeout = never(cfg.IdleTimeout)
		s.LoginTimeout = cfg.LoginTimeout
		s.DataTimeout = never(cfg.DataTimeout)
		s.MaxConns = cfg.MaxConns
		s.MaxConnsPerIP = cfg.MaxConnsPerIP
		s.ProxyFrom = trust
		s.TransferLog = tlog
	})
	return nil
}

// reload re-reads the config file and the users file (SIGHUP). An invalid
// new configuration is refused with a log line and the old one stays.
func (a *serveApp) reload() {
	cfg, _, err := config.Parse("rotary serve", a.args, io.Discard)
	if err == nil {
		var opts auth.Options
		if opts, err = authOptions(cfg, nil); err == nil {
			if len(opts.Users) == 0 && opts.File == nil && !cfg.Anonymous && a.generated != nil {
				// Still no users configured: keep the generated one.
				opts.Users = append(opts.Users, *a.generated)
			}
			if err = a.apply(cfg); err == nil {
				a.backend.Reload(opts)
			}
		}
	}
	if err != nil {
		a.logger.Error("reload refused; the running configuration stays", "err", err)
		return
	}
	a.bans.SetPolicy(banPolicy(cfg))
	a.level.UnmarshalText([]byte(cfg.LogLevel))
	if a.xfer != nil {
		if err := a.xfer.Reopen(); err != nil {
			a.logger.Error("reopening xferlog", "err", err)
		}
	}
	if fmt.Sprint(cfg.Listen) != fmt.Sprint(a.cfg.Listen) || cfg.AdminListen != a.cfg.AdminListen ||
		cfg.XferlogFile != a.cfg.XferlogFile || cfg.LogFormat != a.cfg.LogFormat {
		a.logger.Warn("listen, admin-listen, xferlog-file and log-format changes take effect at the next restart")
	}
	for _, r := range a.reloaders {
		if err := r(); err != nil {
			a.logger.Error("reload", "err", err)
		}
	}
	a.cfg = cfg
	a.logger.Info("configuration reloaded", "config", cfg.File)
}

func (a *serveApp) closeListeners() {
	for _, l := range a.listeners {
		l.Close()
	}
}

// run serves until SIGINT/SIGTERM, reloading on SIGHUP, then drains for up
// to shutdownGrace.
func (a *serveApp) run() int {
	var wg sync.WaitGroup
	errc := make(chan error, len(a.listeners))
	for _, l := range a.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.srv.Serve(l); err != nil && !errors.Is(err, ftp.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		}()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	reload := make(chan os.Signal, 1)
	if len(reloadSignals) > 0 {
		signal.Notify(reload, reloadSignals...)
	}
	code := 0
loop:
	for {
		select {
		case <-reload:
			a.reload()
		case s := <-stop:
			a.logger.Info("shutting down: letting running transfers finish", "signal", s.String(), "grace", shutdownGrace)
			break loop
		case err := <-errc:
			a.logger.Error("server failed", "err", err)
			code = 1
			break loop
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.logger.Warn("shutdown grace period over; closed remaining sessions", "err", err)
	}
	a.srv.Passive.Close()
	if a.admin != nil {
		a.admin.Close()
	}
	if a.xfer != nil {
		a.xfer.Close()
	}
	wg.Wait()
	a.logger.Info("stopped")
	return code
}
