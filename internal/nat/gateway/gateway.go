// Package gateway is the `rotary gateway` process: it loads the IOS file,
// runs it with forward.Server, serves the show commands on the admin
// endpoint, reloads on SIGHUP and drains on SIGTERM.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/admin"
	"github.com/rotary-ftp/rotary/internal/nat/forward"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// DefaultDrainTimeout is how long a stop waits for flows before closing them.
const DefaultDrainTimeout = 30 * time.Second

// Options configure Run.
type Options struct {
	ConfigPath string
	Parse      ios.ParseOptions
	// AdminAddr is the loopback address of the show endpoint; "" turns it off.
	AdminAddr string
	// DrainTimeout bounds the wait for flows on stop; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Log receives the gateway's messages; nil means log.Default().
	Log *log.Logger
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
	opts Options
	log  *log.Logger
	srv  *forward.Server
	cfg  atomic.Pointer[ios.Config]
}

func (g *Gateway) Translations() []nat.Translation { return g.srv.Translations() }
func (g *Gateway) Statistics() nat.Statistics      { return g.srv.Statistics() }
func (g *Gateway) Config() *ios.Config             { return g.cfg.Load() }

// Run runs cfg until ctx is done, then drains. Each value on reload re-reads
// opts.ConfigPath: new listeners open, removed ones close, established flows
// continue; a file that does not parse leaves the running rules in place.
func Run(ctx context.Context, opts Options, cfg *ios.Config, reload <-chan os.Signal) error {
	g := &Gateway{opts: opts, log: opts.Log, srv: &forward.Server{ErrorLog: opts.Log}}
	if g.log == nil {
		g.log = log.Default()
	}
	rules, err := forward.Compile(cfg)
	if err != nil {
		return err
	}
	if err := g.srv.Start(rules); err != nil {
		return err
	}
	g.cfg.Store(cfg)
	g.logPlan(rules)
	var adminSrv *http.Server
	if opts.AdminAddr != "" {
		ln, err := admin.Listen(opts.AdminAddr)
		if err != nil {
			g.srv.Close()
			return err
		}
		adminSrv = &http.Server{Handler: admin.Handler(g), ReadHeaderTimeout: 5 * time.Second, ErrorLog: g.log}
		go adminSrv.Serve(ln)
		g.log.Printf("gateway: show commands on http://%s/show/{translations,statistics}", ln.Addr())
	}
	for {
		select {
		case <-reload:
			g.reload()
		case <-ctx.Done():
			return g.drain(adminSrv)
		}
	}
}

func (g *Gateway) logPlan(rules *forward.Rules) {
	for _, l := range rules.Plan() {
		g.log.Printf("gateway: %s", l)
	}
}

func (g *Gateway) reload() {
	cfg, warnings, err := Load(g.opts.ConfigPath, g.opts.Parse)
	for _, w := range warnings {
		g.log.Print(w)
	}
	if err != nil {
		g.log.Printf("gateway: reload failed, the running configuration stays: %v", err)
		return
	}
	rules, err := forward.Compile(cfg)
	if err == nil {
		for _, w := range rules.Warnings() {
			g.log.Print(w)
		}
		err = g.srv.Reload(rules)
	}
	if err != nil {
		g.log.Printf("gateway: reload failed, the running configuration stays: %v", err)
		return
	}
	g.cfg.Store(cfg)
	g.log.Printf("gateway: reloaded %s", g.opts.ConfigPath)
	g.logPlan(rules)
}

func (g *Gateway) drain(adminSrv *http.Server) error {
	d := g.opts.DrainTimeout
	if d <= 0 {
		d = DefaultDrainTimeout
	}
	n := g.srv.Statistics().Dynamic
	g.log.Printf("gateway: stopping: listeners closed, draining %d flows for up to %v", n, d)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := g.srv.Shutdown(ctx)
	if adminSrv != nil {
		adminSrv.Close()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		g.log.Printf("gateway: drain timeout: closed the remaining flows")
		return nil
	}
	return err
}

// PrintWarnings writes parse warnings one per line.
func PrintWarnings(w io.Writer, ws []ios.Warning) {
	for _, x := range ws {
		fmt.Fprintln(w, x)
	}
}
