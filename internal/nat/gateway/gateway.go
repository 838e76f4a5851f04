// Package gateway is the `rotary gateway` process: it loads the IOS file,
// runs it on a nat.Datapath (the userspace forwarder, forward.Server),
// serves the show commands on the admin endpoint, reloads on SIGHUP and
// drains on SIGTERM. It knows no datapath's concrete type.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/metrics"
	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/admin"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
	"github.com/rotary-ftp/rotary/internal/sdnotify"
	"github.com/rotary-ftp/rotary/internal/statuspage"
)

// DefaultDrainTimeout is how long a stop waits for flows before closing them.
const DefaultDrainTimeout = 30 * time.Second

// Options configure Run.
type Options struct {
	ConfigPath string
	Parse      ios.ParseOptions
	// Datapath runs the configuration (required): Run starts it with the
	// Program it compiled and gives it each reloaded file to compile.
	Datapath nat.Datapath
	// AdminAddr is the address of the admin endpoint (show commands,
	// /metrics, /healthz); "" turns it off. It must be loopback unless
	// AdminToken is set.
	AdminAddr  string
	AdminToken string
	// DrainTimeout bounds the wait for flows on stop; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Logger receives the gateway's messages (the datapath logs to its own
	// Logger); nil means slog.Default().
	Logger *slog.Logger
}

// Load reads and parses the IOS file at path. Parse problems are *ios.Error.
func Load(path string, opts ios.ParseOptions) (*ios.Config, []ios.Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return ios.Parse(path, f, opts)
}

// Gateway is a running gateway; it is the admin endpoint's Source.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	dp      nat.Datapath
	cfg     atomic.Pointer[ios.Config]
	started time.Time
	// draining is set when a stop began: /healthz answers 503.
	draining atomic.Bool
}

// statusPage is the status page's view of the gateway now.
func (g *Gateway) statusPage() statuspage.Page {
	return statuspage.Page{Kind: "gateway", Now: time.Now(), Started: g.started, Gateway: &statuspage.Gateway{
		Config: g.opts.ConfigPath, Datapath: g.dp.Name(), Statistics: g.dp.Statistics(), Translations: g.dp.Translations()}}
}

// notify logs a failed sd_notify.
func (g *Gateway) notify(_ bool, err error) {
	if err != nil {
		g.log.Warn("telling systemd the state failed", "err", err)
	}
}

// healthy answers /healthz.
func (g *Gateway) healthy() error {
	if g.draining.Load() {
		return errors.New("draining: rotary gateway is stopping")
	}
	return nil
}

func (g *Gateway) Translations() []nat.Translation { return g.dp.Translations() }
func (g *Gateway) Statistics() nat.Statistics      { return g.dp.Statistics() }
func (g *Gateway) Config() *ios.Config             { return g.cfg.Load() }

// Run runs prog, which opts.Datapath compiled from cfg, until ctx is done,
// then drains. Each value on reload re-reads opts.ConfigPath: new listeners
// open, removed ones close, established flows continue; a file that does
// not parse or compile leaves the running program in place.
func Run(ctx context.Context, opts Options, cfg *ios.Config, prog nat.Program, reload <-chan os.Signal) error {
	if opts.Datapath == nil {
		return errors.New("gateway: Options.Datapath is nil")
	}
	g := &Gateway{opts: opts, log: opts.Logger, dp: opts.Datapath, started: time.Now()}
	if g.log == nil {
		g.log = slog.Default()
	}
	if err := g.dp.Start(prog); err != nil {
		return err
	}
	g.cfg.Store(cfg)
	var adminSrv *http.Server
	adminURL := "off"
	if opts.AdminAddr != "" {
		ln, err := adminhttp.Listen(opts.AdminAddr, opts.AdminToken != "")
		if err != nil {
			g.dp.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/show/", admin.Handler(g))
		mux.Handle("/", statuspage.Handler(g.statusPage, g.log))
		mux.Handle("GET /metrics", metrics.NewGateway(g.Statistics, g.dp.Name()).Handler())
		adminSrv = adminhttp.Serve(ln, mux, adminhttp.Options{Token: opts.AdminToken, Healthy: g.healthy, Logger: g.log})
		adminURL = fmt.Sprintf("http://%s/show/{translations,statistics}", ln.Addr())
	}
	g.logPlan(prog)
	// The startup line: everything is open once it is written.
	g.log.Info("gateway running", "config", opts.ConfigPath, "datapath", g.dp.Name(),
		"listeners", g.dp.Statistics().Listeners, "admin", adminURL)
	g.notify(sdnotify.Ready(fmt.Sprintf("running %s on the %s datapath", opts.ConfigPath, g.dp.Name())))
	for {
		select {
		case <-reload:
			g.notify(sdnotify.Reloading())
			g.reload()
			g.notify(sdnotify.Ready(fmt.Sprintf("running %s on the %s datapath", opts.ConfigPath, g.dp.Name())))
		case <-ctx.Done():
			return g.drain(adminSrv)
		}
	}
}

// logPlan writes the program one line per plan line, as --print-plan
// lists it, with the IOS line each comes from.
func (g *Gateway) logPlan(prog nat.Program) {
	for _, l := range prog.Plan() {
		attrs := []any{"outside", l.Range(), "target", l.Target(), "datapath", l.Datapath, "line", l.Line}
		if l.ProxyProtocol != 0 {
			attrs = append(attrs, "proxy-protocol", fmt.Sprintf("v%d", l.ProxyProtocol))
		}
		if l.FilteredBy != "" {
			attrs = append(attrs, "sources-filtered-by", "list "+l.FilteredBy)
		}
		g.log.Info("plan", attrs...)
	}
}

func (g *Gateway) logWarnings(ws []ios.Warning) {
	for _, w := range ws {
		g.log.Warn("configuration warning", "at", fmt.Sprintf("%s:%d:%d", w.File, w.Line, w.Column), "warning", w.Message)
	}
}

func (g *Gateway) reload() {
	cfg, warnings, err := Load(g.opts.ConfigPath, g.opts.Parse)
	g.logWarnings(warnings)
	if err != nil {
		g.log.Error("reload refused; the running configuration stays", "err", err)
		return
	}
	prog, err := g.dp.Compile(cfg)
	if err == nil {
		g.logWarnings(prog.Warnings())
		err = g.dp.Reload(prog)
	}
	if err != nil {
		g.log.Error("reload refused; the running configuration stays", "err", err)
		return
	}
	g.cfg.Store(cfg)
	g.log.Info("configuration reloaded", "config", g.opts.ConfigPath, "datapath", g.dp.Name())
	g.logPlan(prog)
}

func (g *Gateway) drain(adminSrv *http.Server) error {
	d := g.opts.DrainTimeout
	if d <= 0 {
		d = DefaultDrainTimeout
	}
	g.draining.Store(true)
	g.notify(sdnotify.Stopping("draining flows"))
	g.log.Info("stopping: closing the listeners, letting flows finish", "flows", g.dp.Statistics().Dynamic, "drain", d)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := g.dp.Shutdown(ctx)
	if adminSrv != nil {
		adminSrv.Close()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		g.log.Warn("drain time over; closed the remaining flows", "drain", d)
		err = nil
	}
	if err == nil {
		g.log.Info("stopped")
	}
	return err
}

// PrintWarnings writes parse and compile warnings one per line, as the
// command line shows them before the gateway starts.
func PrintWarnings(w io.Writer, ws []ios.Warning) {
	for _, x := range ws {
		fmt.Fprintln(w, x)
	}
}
