package serveapp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/rotary-ftp/rotary/internal/passive"
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

// adminHandler is what the admin endpoint serves: the bans (rotary ban),
// /metrics, and /passive (the range's use and sizing hint, as JSON).
func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	bans := a.bans.Handler()
	mux.Handle("/bans", bans)
	mux.Handle("/bans/", bans)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /passive", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.passiveUsage())
	})
	return mux
}
