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
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/admin"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
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
	dp   nat.Datapath
	cfg  atomic.Pointer[ios.Config]
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
	g := &Gateway{opts: opts, log: opts.Log, dp: opts.Datapath}
	if g.log == nil {
		g.log = log.Default()
	}
	if err := g.dp.Start(prog); err != nil {
		return err
	}
	g.cfg.Store(cfg)
	g.logPlan(prog)
	var adminSrv *http.Server
	if opts.AdminAddr != "" {
		ln, err := admin.Listen(opts.AdminAddr)
		if err != nil {
			g.dp.Close()
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

func (g *Gateway) logPlan(prog nat.Program) {
	for _, l := range prog.Plan() {
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
	prog, err := g.dp.Compile(cfg)
	if err == nil {
		for _, w := range prog.Warnings() {
			g.log.Print(w)
		}
		err = g.dp.Reload(prog)
	}
	if err != nil {
		g.log.Printf("gateway: reload failed, the running configuration stays: %v", err)
		return
	}
	g.cfg.Store(cfg)
	g.log.Printf("gateway: reloaded %s", g.opts.ConfigPath)
	g.logPlan(prog)
}

func (g *Gateway) drain(adminSrv *http.Server) error {
	d := g.opts.DrainTimeout
	if d <= 0 {
		d = DefaultDrainTimeout
	}
	n := g.dp.Statistics().Dynamic
	g.log.Printf("gateway: stopping: listeners closed, draining %d flows for up to %v", n, d)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := g.dp.Shutdown(ctx)
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
