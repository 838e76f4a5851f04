package serveapp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/statuspage"
)

// notify logs a failed sd_notify (the service manager then thinks the
// start failed, or never finished).
func (a *App) notify(_ bool, err error) {
	if err != nil {
		a.logger.Warn("telling systemd the state failed", "err", err)
	}
}

// statusLine is what `systemctl status` shows beside the unit.
func (a *App) statusLine() string {
	plain, implicit := a.Addrs()
	var addrs []string
	for _, ap := range plain {
		addrs = append(addrs, ap.String())
	}
	for _, ap := range implicit {
		addrs = append(addrs, ap.String()+" (implicit FTPS)")
	}
	return "serving FTP on " + strings.Join(addrs, ", ") + "; passive ports " + a.pool.Load().Range().String()
}

// errDraining is /healthz's answer while a stop lets transfers finish.
var errDraining = errors.New("draining: rotary serve is stopping and takes no new sessions")

// healthy answers /healthz: 200 while serving, 503 while draining.
func (a *App) healthy() error {
	if a.draining.Load() {
		return errDraining
	}
	return nil
}

// PassiveUsage is GET /passive's answer: the range, its use now, and the
// sizing hint (`rotary check` prints it).
type PassiveUsage struct {
	Range      string                `json:"range"`
	Ports      int                   `json:"ports"`
	Now        passive.UsageSnapshot `json:"now"`
	Sizing     passive.Sizing        `json:"sizing"`
	LastHour   []passive.MinuteUsage `json:"last_hour"`
	InUse      int                   `json:"ports_in_use"`
	Shared     int                   `json:"ports_shared"`
	Listeners  int                   `json:"listeners"`
	WindowSecs float64               `json:"sizing_window_seconds"`
}

// passiveUsage describes the passive range now.
func (a *App) passiveUsage() PassiveUsage {
	p := a.pool.Load()
	st := p.Stats()
	sz := a.usage.Sizing(a.started)
	return PassiveUsage{Range: p.Range().String(), Ports: p.Range().Len(), Now: a.usage.Snapshot(), Sizing: sz,
		LastHour: a.usage.History(60), InUse: st.Busy, Shared: st.Shared, Listeners: st.Listeners, WindowSecs: sz.Window.Seconds()}
}

// statusPage is the status page's view of the server now.
func (a *App) statusPage() statuspage.Page {
	now := time.Now()
	pg := statuspage.Page{Kind: "serve", Now: now, Started: a.started}
	for _, s := range a.srv.Sessions() {
		ps := statuspage.Session{ID: s.ID, User: s.User, Client: s.Client.String(), State: string(s.State), TLS: s.TLS,
			Idle: now.Sub(s.LastCommand)}
		if t := s.Transfer; t != nil {
			ps.Transfer = &statuspage.Transfer{Verb: t.Verb, Path: t.Path, Upload: t.Upload, Bytes: t.Bytes, Size: t.Size,
				Elapsed: now.Sub(t.Started)}
		}
		pg.Sessions = append(pg.Sessions, ps)
	}
	pu := a.passiveUsage()
	pg.Passive = &statuspage.Passive{Range: pu.Range, Ports: pu.Ports, InUse: pu.InUse, Shared: pu.Shared, Now: pu.Now,
		Sizing: pu.Sizing, LastHour: pu.LastHour, Listeners: pu.Listeners}
	for _, b := range a.bans.List() {
		pg.Bans = append(pg.Bans, statuspage.Ban{IP: b.IP.String(), Until: b.Until, Failures: b.Failures})
	}
	return pg
}

// adminHandler is what the admin endpoint serves: the bans (rotary ban),
// /metrics, and /passive (the range's use and sizing hint, as JSON).
func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	bans := a.bans.Handler()
	mux.Handle("/bans", bans)
	mux.Handle("/bans/", bans)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.Handle("/", statuspage.Handler(a.statusPage, a.logger))
	mux.HandleFunc("GET /passive", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.passiveUsage())
	})
	return mux
}
