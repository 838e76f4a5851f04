// Package serveapp is the `rotary serve` application: it builds an
// ftp.Server and what feeds it (users, bans, the passive pool, the public
// address, FTPS, the transfer log, the admin endpoint) from a
// config.Config, binds its listeners, serves until told to stop, and
// applies a new configuration on reload without dropping sessions.
//
// cmd/rotary only parses flags and wires signals to Run.
package serveapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/ban"
	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/logqueue"
	"github.com/rotary-ftp/rotary/internal/metrics"
	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/proxyheader"
	"github.com/rotary-ftp/rotary/internal/publicip"
	"github.com/rotary-ftp/rotary/internal/sdnotify"
	"github.com/rotary-ftp/rotary/internal/storage"
	"github.com/rotary-ftp/rotary/internal/storage/local"
	"github.com/rotary-ftp/rotary/internal/storage/s3"
	"github.com/rotary-ftp/rotary/internal/xferlog"
)

// ShutdownGrace is how long running transfers may finish after a stop.
const ShutdownGrace = 30 * time.Second

// Options are the application's surroundings.
type Options struct {
	// Args are the command line, parsed again on Reload to read the config
	// file anew (flags keep overriding it).
	Args []string
	// Stdout gets what the admin must see once: the generated password and
	// the TLS fingerprint. Stderr gets the log. nil means os.Stdout and
	// os.Stderr.
	Stdout, Stderr io.Writer
	// Lookup resolves a public-ip host name; nil means the system resolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// App is a running `rotary serve`.
type App struct {
	opts   Options
	cfg    config.Config
	level  *slog.LevelVar
	logger *slog.Logger
	logq   *logqueue.Queue
	srv    *ftp.Server

	backend *auth.Backend
	bans    *ban.Tracker
	xfer    *xferlog.Writer
	admin   *http.Server
	metrics *metrics.Server
	// usage follows the passive range across the pools a reload swaps
	// in; pool is the one serving now (for the metrics).
	usage    *passive.Usage
	pool     atomic.Pointer[passive.Pool]
	started  time.Time
	draining atomic.Bool
	ftps     *ftps
	// trust is the PROXY trust the passive pool's data hook was built with.
	trust proxyheader.Trust
	// resolver names the address of passive replies.
	resolver *publicip.Resolver
	// storage opens the users' homes when they are folders of the local
	// disk: Roots shares one open root per folder among its sessions.
	storage *local.Roots
	// s3, instead of storage, opens them as prefixes of a bucket
	// (storage = "s3://..."); one client for every session.
	s3 *s3.Provider
	// generated is the user made up at start when none was configured.
	generated *auth.User

	mu        sync.Mutex // guards listeners and serving
	listeners map[listenerKey]*listener
	serving   bool
	errc      chan error
	wg        sync.WaitGroup
}

// New builds the application from cfg and binds its listeners. A returned
// error says what could not be set up; nothing is left running then.
func New(cfg config.Config, o Options) (_ *App, err error) {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	a := &App{opts: o, cfg: cfg, level: new(slog.LevelVar), listeners: map[listenerKey]*listener{}, errc: make(chan error, 16),
		usage: &passive.Usage{}, started: time.Now()}
	a.logger, a.logq = newLogger(cfg, a.level, o.Stderr)
	slog.SetDefault(a.logger)
	defer func() {
		if err != nil {
			a.closeListeners()
			if a.resolver != nil {
				a.resolver.Close()
			}
			a.logq.Sync() // what was logged before the failure
		}
	}()
	tlsSet := tlsSettingsFrom(cfg)
	if err := tlsSet.validate(); err != nil {
		return nil, err
	}
	if cfg.IsS3() {
		if a.s3, err = newS3(cfg, a.logger); err != nil {
			return nil, err
		}
	} else {
		if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
			return nil, fmt.Errorf("root: %w", err)
		}
		if cfg.Anonymous {
			if err := os.MkdirAll(cfg.AnonymousRoot, 0o755); err != nil {
				return nil, fmt.Errorf("anonymous-root: %w", err)
			}
		}
		a.storage = &local.Roots{SyncUploads: cfg.SyncUploads}
	}
	// The generated password is printed only once the listeners are bound:
	// a start that fails must not show a password nobody can use.
	var announce bytes.Buffer
	users, err := authOptions(cfg, a.provider(), &announce)
	if err != nil {
		return nil, err
	}
	if len(cfg.User) == 0 && len(users.Users) == 1 {
		a.generated = &users.Users[0]
	}
	a.bans = ban.New(banPolicy(cfg))
	a.bans.Logger = a.logger
	a.backend = auth.New(users)
	a.backend.Logger = a.logger
	a.backend.OnFailure = func(ip netip.Addr) { a.bans.Failure(ip) }
	if cfg.XferlogFile != "" {
		if a.xfer, err = xferlog.Open(cfg.XferlogFile); err != nil {
			return nil, err
		}
	}
	a.metrics = metrics.NewServer(metrics.ServerSources{Pool: a.pool.Load, Usage: a.usage, Started: a.started, Bans: a.bans})
	a.srv = &ftp.Server{Backend: a.backend, Logger: a.logger, Observer: ftp.Observers(newPeerWatch(a.logger), a.metrics),
		ConnFilter: func(c ftp.ConnInfo) error { return a.bans.Check(c.Client.Addr()) }}
	if a.ftps, err = newFTPS(tlsSet, cfg, &announce, a.logger); err != nil {
		return nil, err
	}
	if err := a.apply(cfg, a.ftps); err != nil {
		return nil, err
	}
	added, err := a.bind(cfg)
	if err != nil {
		return nil, err
	}
	a.listeners = added
	if cfg.AdminListen != "" {
		var token string
		if cfg.AdminTokenFile != "" {
			if token, err = adminhttp.ReadToken(cfg.AdminTokenFile); err != nil {
				return nil, err
			}
		}
		l, err := adminhttp.Listen(cfg.AdminListen, token != "")
		switch {
		case err == nil:
			a.admin = adminhttp.Serve(l, a.adminHandler(), adminhttp.Options{Token: token, Healthy: a.healthy, Logger: a.logger})
		case cfg.AdminListen == config.DefaultAdminListen:
			a.logger.Warn("admin endpoint off: its default address is taken (another rotary serve?); set admin-listen to use rotary ban here",
				"admin-listen", cfg.AdminListen, "err", err)
		default:
			return nil, fmt.Errorf("admin-listen %s: %w", cfg.AdminListen, err)
		}
	}
	o.Stdout.Write(announce.Bytes())
	if a.s3 != nil {
		go sweepUploads(a.s3, a.logger)
	} else {
		go sweepHomes(homes(cfg, users), a.logger)
	}
	for _, l := range a.sortedListeners() {
		a.logListening(l)
	}
	return a, nil
}

// Server is the FTP server the application runs.
func (a *App) Server() *ftp.Server { return a.srv }

// Logger is the application's logger.
func (a *App) Logger() *slog.Logger { return a.logger }

// Sync writes out the log lines still queued; call it before exiting.
func (a *App) Sync() { a.logq.Sync() }

// newLogger logs to w through a logqueue: sessions hand their lines to one
// writer goroutine (shallow session stacks, batched writes). The queue must
// be synced before the process exits.
func newLogger(cfg config.Config, level *slog.LevelVar, w io.Writer) (*slog.Logger, *logqueue.Queue) {
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	h, q := logqueue.New(w, func(w io.Writer) slog.Handler {
		if cfg.LogFormat == "json" {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: jsonSeconds})
		}
		return slog.NewTextHandler(w, opts)
	})
	return slog.New(h), q
}

// jsonSeconds writes every duration attribute of a JSON log line as a
// number of seconds ("duration":0.012), which log tools sum and compare as
// they are. slog's JSON handler would write time.Duration as an integer of
// nanoseconds, which readers mistake for milliseconds or seconds. Text logs
// keep Go's duration strings ("duration=12ms"), which people read.
func jsonSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}

// authOptions builds the user set: command-line users, the users file and
// anonymous access, with their homes opened by store. out receives the
// generated password, if any (nil: do not generate one).
//
// With S3 storage a home is a prefix under the storage URL's: command-line
// and anonymous users get the URL's prefix itself, and a users file's home
// is read as written ("alice" and "/alice" are both PREFIX/alice/), not
// as a folder relative to the file.
func authOptions(cfg config.Config, store storage.Provider, out io.Writer) (auth.Options, error) {
	_, bucket := store.(*s3.Provider)
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return auth.Options{}, fmt.Errorf("root %q: %w", cfg.Root, err)
	}
	if bucket {
		root = "/"
	}
	o := auth.Options{FailDelay: cfg.LoginFailDelay, Storage: store}
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
		if bucket {
			for _, r := range f.Users {
				r.Home = r.HomeAsWritten
			}
		}
	}
	if cfg.Anonymous {
		o.AnonymousRoot = cfg.AnonymousRoot
		if bucket {
			o.AnonymousRoot = "/"
		}
	}
	if len(o.Users) == 0 && o.File == nil && !cfg.Anonymous && out != nil {
		pass := auth.RandomPassword()
		o.Users = append(o.Users, auth.User{Name: "rotary", Password: pass, Home: root})
		fmt.Fprintf(out, "rotary: no --user given; created user \"rotary\" with password %s (shown once)\n", pass)
	}
	return o, nil
}

func banPolicy(cfg config.Config) ban.Policy {
	return ban.Policy{After: cfg.BanAfter, Window: cfg.BanWindow, For: cfg.BanFor}
}

// apply sets the server fields that come from cfg, in one Update; it is
// used at start and on reload (where running sessions see the new values
// from their next command on). f is the FTPS state to serve with.
func (a *App) apply(cfg config.Config, f *ftps) error {
	trust, err := proxyheader.ParseTrust(cfg.ProxyProtocolFrom)
	if err != nil {
		return err
	}
	resolver := &publicip.Resolver{Public: cfg.PublicIP, Overrides: cfg.PassiveIPOverride, Logger: a.logger, Lookup: a.opts.Lookup}
	// A host name is resolved now, and kept fresh in the background: a PASV
	// never waits for DNS. One that does not resolve is not fatal (DNS may
	// be down at boot), but an admin must hear that clients are told the
	// local address meanwhile.
	if err := resolver.Start(); err != nil {
		a.logger.Warn("public-ip does not resolve; passive replies name the control connection's local address until it does",
			"public-ip", cfg.PublicIP, "err", err)
	}
	var pool *passive.Pool
	if old := a.srv.Passive; old != nil && old.Range() == cfg.PassivePorts && slices.Equal(trust, a.trust) {
		pool = old
	} else {
		// A new range (or trust) gets a new pool; reservations on the old
		// one finish there and its listeners close as they are released.
		pool = passive.New(cfg.PassivePorts)
		pool.Logger = a.logger
		pool.Linger = passive.DefaultLinger
		pool.Usage = a.usage
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
	if old := a.resolver; old != nil {
		defer old.Close() // after the server stopped using it
	}
	a.resolver = resolver
	if old := a.srv.Passive; old != nil && old != pool {
		defer old.Retire() // after the server stopped handing it out
	}
	a.pool.Store(pool)
	a.srv.Update(func(s *ftp.Server) {
		s.Passive = pool
		s.PassiveAddress = resolver.Address
		s.PassivePort = passivePort(cfg, resolver)
		s.IdleTimeout = never(cfg.IdleTimeout)
		s.LoginTimeout = cfg.LoginTimeout
		s.DataTimeout = never(cfg.DataTimeout)
		s.MaxConns = cfg.MaxConns
		s.MaxConnsPerIP = cfg.MaxConnsPerIP
		s.MaxLoginFailures = cfg.MaxLoginFailures
		s.ProxyFrom = trust
		s.TransferLog = tlog
		s.TLSConfig, s.TLS = f.serverConfig()
	})
	return nil
}

// passivePort is the server's PassivePort for public-passive-ports: port
// Lo+i of passive-ports is announced as Lo+i of the public range, except to
// clients that an override sends to the local address (they connect
// without NAT). nil when the setting is off: replies name local ports.
func passivePort(cfg config.Config, r *publicip.Resolver) func(netip.Addr, int) int {
	pub, local := cfg.PublicPassivePorts, cfg.PassivePorts
	if pub == (passive.Range{}) {
		return nil
	}
	return func(client netip.Addr, port int) int {
		if !local.Contains(port) || r.Direct(client) {
			return port
		}
		return pub.Lo + port - local.Lo
	}
}

// Reload re-reads the configuration (SIGHUP): the config file and the
// users file, the FTPS settings and certificate, and the listeners (new
// ones open, removed ones close, running sessions go on). An invalid new
// configuration is refused as a whole, logged, and returned; the running
// one stays.
func (a *App) Reload() error {
	err := a.reload()
	if err != nil {
		a.logger.Error("reload refused; the running configuration stays", "err", err)
	}
	return err
}

func (a *App) reload() error {
	cfg, _, err := config.Parse("rotary serve", "", a.opts.Args, io.Discard)
	if err != nil {
		return err
	}
	// A change of storage needs a restart (below): the homes stay where
	// they are until then.
	roots := a.storage
	if roots != nil && cfg.SyncUploads != a.cfg.SyncUploads {
		// Roots take the setting at their first Open: new logins get new
		// ones, running sessions keep theirs.
		roots = &local.Roots{SyncUploads: cfg.SyncUploads}
	}
	var store storage.Provider = roots
	if a.s3 != nil {
		store = a.s3
	}
	users, err := authOptions(cfg, store, nil)
	if err != nil {
		return err
	}
	if len(users.Users) == 0 && users.File == nil && !cfg.Anonymous && a.generated != nil {
		// Still no users configured: keep the generated one.
		users.Users = append(users.Users, *a.generated)
	}
	tlsSet := tlsSettingsFrom(cfg)
	if err := tlsSet.validate(); err != nil {
		return err
	}
	f, err := a.ftps.reload(tlsSet, cfg, a.logger)
	if err != nil {
		return err
	}
	if _, err := proxyheader.ParseTrust(cfg.ProxyProtocolFrom); err != nil {
		return err
	}
	added, err := a.bind(cfg)
	if err != nil {
		return err
	}
	// Nothing can fail from here on.
	a.storage = roots
	a.apply(cfg, f)
	a.ftps = f
	a.backend.Reload(users)
	a.bans.SetPolicy(banPolicy(cfg))
	a.level.UnmarshalText([]byte(cfg.LogLevel))
	if a.xfer != nil {
		if err := a.xfer.Reopen(); err != nil {
			a.logger.Error("reopening xferlog", "err", err)
		}
	}
	var restart []string
	if cfg.AdminListen != a.cfg.AdminListen || cfg.AdminTokenFile != a.cfg.AdminTokenFile {
		restart = append(restart, "admin-listen")
	}
	if cfg.XferlogFile != a.cfg.XferlogFile {
		restart = append(restart, "xferlog-file")
	}
	if cfg.LogFormat != a.cfg.LogFormat {
		restart = append(restart, "log-format")
	}
	if cfg.Storage != a.cfg.Storage {
		restart = append(restart, "storage")
	}
	if cfg.S3CredentialsFile != a.cfg.S3CredentialsFile {
		restart = append(restart, "s3-credentials-file")
	}
	if len(restart) > 0 {
		a.logger.Warn("these changes take effect at the next restart: " + strings.Join(restart, ", "))
	}
	a.cfg = cfg
	a.swapListeners(cfg, added)
	a.logger.Info("configuration reloaded", "config", cfg.File)
	return nil
}

// Run serves until ctx is done, reloading on each value from reload, then
// drains for up to ShutdownGrace. It returns the process's exit status.
func (a *App) Run(ctx context.Context, reload <-chan os.Signal) int {
	a.mu.Lock()
	a.serving = true
	for _, l := range a.listeners {
		a.serveListener(l)
	}
	a.mu.Unlock()
	// Every listener is bound (New) and accepting: systemd may start what
	// comes after (Type=notify).
	a.notify(sdnotify.Ready(a.statusLine()))
	code := 0
loop:
	for {
		select {
		case <-reload:
			a.notify(sdnotify.Reloading())
			a.Reload()
			a.notify(sdnotify.Ready(a.statusLine()))
		case <-ctx.Done():
			a.draining.Store(true)
			a.notify(sdnotify.Stopping("draining: letting running transfers finish"))
			a.logger.Info("shutting down: letting running transfers finish", "grace", ShutdownGrace)
			break loop
		case err := <-a.errc:
			a.logger.Error("server failed", "err", err)
			code = 1
			break loop
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		a.logger.Warn("shutdown grace period over; closed remaining sessions", "err", err)
	}
	a.closeListeners()
	a.srv.Passive.Close()
	a.resolver.Close()
	if a.admin != nil {
		a.admin.Close()
	}
	if a.xfer != nil {
		a.xfer.Close()
	}
	a.wg.Wait()
	a.logger.Info("stopped")
	return code
}

// Close releases what New set up, for an App that was never Run.
func (a *App) Close() {
	a.closeListeners()
	if a.srv.Passive != nil {
		a.srv.Passive.Close()
	}
	if a.resolver != nil {
		a.resolver.Close()
	}
	if a.admin != nil {
		a.admin.Close()
	}
	if a.xfer != nil {
		a.xfer.Close()
	}
}

// homes lists the folders served: root, anonymous-root and the users
// file's homes, each once.
func homes(cfg config.Config, users auth.Options) []string {
	seen := map[string]bool{}
	var out []string
	add := func(dir string) {
		if abs, err := filepath.Abs(dir); err == nil && dir != "" && !seen[abs] {
			seen[abs] = true
			out = append(out, abs)
		}
	}
	add(cfg.Root)
	if cfg.Anonymous {
		add(cfg.AnonymousRoot)
	}
	for _, u := range users.Users {
		add(u.Home)
	}
	if users.File != nil {
		for _, name := range users.File.Names() {
			add(users.File.Users[name].Home)
		}
	}
	return out
}

// sweepHomes removes, in the background at start, the temporary files of
// uploads that a killed server left: nothing is visible under their final
// names (uploads are atomic), but their space would stay taken.
func sweepHomes(dirs []string, logger *slog.Logger) {
	for _, dir := range dirs {
		n, err := local.SweepTemp(dir)
		if n > 0 {
			logger.Info("removed temporary files of interrupted uploads", "home", dir, "files", n)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("sweeping temporary files of interrupted uploads", "home", dir, "err", err)
		}
	}
	logger.Debug("startup sweep of interrupted uploads done", "homes", len(dirs))
}
