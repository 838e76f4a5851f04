// Package statuspage renders the admin endpoint's status page at "/": what
// `rotary serve` or `rotary gateway` is doing, for an admin in a browser.
// It is server-rendered HTML from templates embedded in the binary (no CDN,
// nothing fetched from elsewhere), with a small script that re-fetches the
// page's main part every two seconds. The passive range's last hour is an
// inline SVG chart drawn here.
package statuspage

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/passive"
)

//go:embed page.html.tmpl status.js status.css
var files embed.FS

// Page is one moment of a process, as the page shows it.
type Page struct {
	Kind    string // "serve" or "gateway"
	Now     time.Time
	Started time.Time

	Sessions []Session
	Passive  *Passive
	Bans     []Ban

	Gateway *Gateway
}

// Session is one control connection.
type Session struct {
	ID       uint64
	User     string // "" before login
	Client   string
	State    string
	TLS      bool
	Idle     time.Duration
	Transfer *Transfer
}

// Transfer is a running transfer.
type Transfer struct {
	Verb, Path string
	Upload     bool
	Bytes      int64
	Size       int64 // -1: unknown (uploads, listings)
	Elapsed    time.Duration
}

// Passive is the passive range's use.
type Passive struct {
	Range     string
	Ports     int
	InUse     int
	Shared    int
	Now       passive.UsageSnapshot
	Sizing    passive.Sizing
	LastHour  []passive.MinuteUsage
	Listeners int
}

// Ban is one banned address.
type Ban struct {
	IP       string
	Until    time.Time
	Failures int
}

// Gateway is the gateway's state.
type Gateway struct {
	Config       string
	Datapath     string
	Statistics   nat.Statistics
	Translations []nat.Translation
}

var tmpl = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"bytes":   humanBytes,
	"bytes64": func(n uint64) string { return humanBytes(int64(n)) },
	"pct": func(t *Transfer) int {
		if t.Size <= 0 {
			return 0
		}
		return int(100 * t.Bytes / t.Size)
	},
	"duration": humanDuration,
	"rate":     rate,
	"percent":  percent,
	"chart":    chart,
	"addr":     addr,
}).ParseFS(files, "page.html.tmpl"))

// Handler serves the page at "/" from snapshot, and its script and style.
// "/?part=main" is the refreshed part alone.
func Handler(snapshot func() Page, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		name := "page"
		if r.URL.Query().Get("part") == "main" {
			name = "main"
		}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, snapshot()); err != nil {
			log.Error("status page: rendering failed", "err", err)
			http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// Nothing but this origin's own script and style.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /status.js", asset("status.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /status.css", asset("status.css", "text/css; charset=utf-8"))
	return mux
}

func asset(name, ctype string) http.HandlerFunc {
	data, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write(data)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	default:
		return d.Truncate(time.Minute).String()
	}
}

// rate is a transfer's mean rate so far.
func rate(t *Transfer) string {
	if t.Elapsed <= 0 {
		return "-"
	}
	return humanBytes(int64(float64(t.Bytes)/t.Elapsed.Seconds())) + "/s"
}

// percent is a transfer's progress, when its size is known.
func percent(t *Transfer) string {
	if t.Size <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", 100*float64(t.Bytes)/float64(t.Size))
}

func addr(t nat.Translation) string {
	s := t.InsideGlobal.String()
	if t.LastPort != 0 {
		s += fmt.Sprintf("-%d", t.LastPort)
	}
	return s
}

// chart draws the last hour of the passive range: per minute, the most
// replies waiting at once (bars) and the most transfers running (line),
// against the range's size and the recommended size.
func chart(p *Passive) template.HTML {
	const w, h, pad = 600, 160, 24
	n := len(p.LastHour)
	if n == 0 {
		return ""
	}
	top := max(p.Ports, p.Sizing.Recommended, 1)
	for _, m := range p.LastHour {
		top = max(top, m.Pending, m.Conns)
	}
	y := func(v int) float64 { return float64(h-pad) - float64(v)*float64(h-2*pad)/float64(top) }
	bw := float64(w-2*pad) / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="passive range, last hour">`, w, h)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, pad, h-pad, w-pad, h-pad)
	var line strings.Builder
	for i, m := range p.LastHour {
		x := float64(pad) + float64(i)*bw
		if m.Pending > 0 {
			fmt.Fprintf(&b, `<rect class="pending" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d waiting, %d running</title></rect>`,
				x, y(m.Pending), max(bw-1, 1), y(0)-y(m.Pending), m.Start.Format("15:04"), m.Pending, m.Conns)
		}
		sep := " L"
		if i == 0 {
			sep = "M"
		}
		fmt.Fprintf(&line, "%s%.1f %.1f", sep, x+bw/2, y(m.Conns))
	}
	fmt.Fprintf(&b, `<path class="conns" d="%s"/>`, line.String())
	fmt.Fprintf(&b, `<line class="ports" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/><text x="%d" y="%.1f">range: %d ports</text>`,
		pad, y(p.Ports), w-pad, y(p.Ports), pad+4, y(p.Ports)-4, p.Ports)
	if r := p.Sizing.Recommended; r > 0 {
		fmt.Fprintf(&b, `<line class="recommended" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/><text class="recommended" x="%d" y="%.1f" text-anchor="end">recommended: %d</text>`,
			pad, y(r), w-pad, y(r), w-pad-4, y(r)-4, r)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text><text x="%d" y="%d" text-anchor="end">now</text>`,
		pad, h-6, p.LastHour[0].Start.Format("15:04"), w-pad, h-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and fixed text only
}
