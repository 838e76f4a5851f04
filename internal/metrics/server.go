package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/passive"
)

// ServerSources are what the server's collectors read when scraped.
type ServerSources struct {
	// Pool returns the passive pool serving new PASVs now (a reload may
	// replace it); nil: no passive metrics but Usage's.
	Pool func() *passive.Pool
	// Usage is shared by every pool the server has had.
	Usage *passive.Usage
	// Started is when the server started: the sizing window's beginning.
	Started time.Time
	// Bans, if set, reports the bans in force and issued.
	Bans interface {
		Active() int
		Issued() uint64
	}
}

// Directions and results of rotary_transfers_total.
var (
	directions = []string{"upload", "download", "listing"}
	results    = []string{"ok", "aborted", "failed", "stalled", "no_data_connection", "panic"}
)

// Server is `rotary serve`'s metrics. It is the ftp.Observer that counts
// sessions, logins, replies, transfers and TLS handshakes; its registry
// also reads the passive pool, the bans and the Go runtime when scraped.
type Server struct {
	ftp.NopObserver
	reg *prometheus.Registry
	src ServerSources

	sessions  prometheus.Gauge
	logins    map[string]prometheus.Counter            // by result
	transfers map[string]map[string]prometheus.Counter // by direction, result
	bytes     map[string]prometheus.Counter            // by direction
	tls       map[string]prometheus.Counter            // "control/ok" ...
	replies   [600]atomic.Uint64                       // by code
}

// NewServer returns the server's metrics, reading src when scraped.
func NewServer(src ServerSources) *Server {
	m := &Server{reg: prometheus.NewRegistry(), src: src}
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rotary_sessions",
		Help: "Control connections open now (admitted; before and after login)."})
	loginVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotary_logins_total",
		Help: "Logins decided, by result: ok; failed (wrong user or password, or the backend failed); refused (right password, but a session limit)."},
		[]string{"result"})
	m.logins = map[string]prometheus.Counter{}
	for _, r := range []string{"ok", "failed", "refused"} {
		m.logins[r] = loginVec.WithLabelValues(r)
	}
	xferVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotary_transfers_total",
		Help: "Transfers ended, by direction (upload: STOR, APPE, STOU; download: RETR; listing: LIST, NLST, MLSD) and result."},
		[]string{"direction", "result"})
	bytesVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotary_transfer_bytes_total",
		Help: "Bytes moved on data connections, by direction, counted as they move (every 4 MiB at most)."},
		[]string{"direction"})
	m.transfers = map[string]map[string]prometheus.Counter{}
	m.bytes = map[string]prometheus.Counter{}
	for _, d := range directions {
		m.transfers[d] = map[string]prometheus.Counter{}
		for _, r := range results {
			m.transfers[d][r] = xferVec.WithLabelValues(d, r)
		}
		m.bytes[d] = bytesVec.WithLabelValues(d)
	}
	tlsVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotary_tls_handshakes_total",
		Help: "TLS handshakes, by connection (control or data) and result (ok or failed)."},
		[]string{"connection", "result"})
	m.tls = map[string]prometheus.Counter{}
	for _, c := range []string{"control", "data"} {
		for _, r := range []string{"ok", "failed"} {
			m.tls[c+"/"+r] = tlsVec.WithLabelValues(c, r)
		}
	}
	m.reg.MustRegister(m.sessions, loginVec, xferVec, bytesVec, tlsVec, serverCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Server) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the metrics are in (tests gather from it).
func (m *Server) Registry() *prometheus.Registry { return m.reg }

func (m *Server) SessionOpened(ftp.SessionInfo) { m.sessions.Inc() }
func (m *Server) SessionClosed(ftp.SessionInfo) { m.sessions.Dec() }

func (m *Server) LoginSucceeded(ftp.SessionInfo) { m.logins["ok"].Inc() }

func (m *Server) LoginFailed(_ ftp.SessionInfo, _ string, refused bool) {
	if refused {
		m.logins["refused"].Inc()
		return
	}
	m.logins["failed"].Inc()
}

func (m *Server) Replied(code int) {
	if code >= 100 && code < len(m.replies) {
		m.replies[code].Add(1)
	}
}

func (m *Server) TLSHandshake(_ ftp.SessionInfo, control bool, err error) {
	key := "data/"
	if control {
		key = "control/"
	}
	if err == nil {
		key += "ok"
	} else {
		key += "failed"
	}
	m.tls[key].Inc()
}

func (m *Server) TransferProgress(t ftp.TransferInfo, delta int64) {
	m.bytes[direction(t.Verb)].Add(float64(delta))
}

func (m *Server) TransferEnded(r ftp.TransferRecord) {
	m.transfers[direction(r.Verb)][result(r.Result)].Inc()
}

// direction is a verb's direction label.
func direction(verb string) string {
	switch verb {
	case "STOR", "APPE", "STOU":
		return "upload"
	case "RETR":
		return "download"
	}
	return "listing"
}

// result is a TransferRecord.Result's label: "failed: ERROR" loses its
// error (labels must stay few), spaces become underscores.
func result(r string) string {
	if strings.HasPrefix(r, "failed") {
		return "failed"
	}
	r = strings.ReplaceAll(r, " ", "_")
	for _, known := range results {
		if r == known {
			return r
		}
	}
	return "failed"
}

// Peak windows of the passive gauges.
var peakWindows = []struct {
	label   string
	minutes int
}{{"5m", 5}, {"1h", 60}, {"24h", 24 * 60}}

var (
	descReplies = prometheus.NewDesc("rotary_replies_total",
		"Replies sent on control connections, by code.", []string{"code"}, nil)
	descBans = prometheus.NewDesc("rotary_bans",
		"Addresses banned now for failed logins.", nil, nil)
	descBansIssued = prometheus.NewDesc("rotary_bans_total",
		"Bans issued since start.", nil, nil)
	descPorts = prometheus.NewDesc("rotary_passive_ports",
		"Ports in the passive range (passive-ports).", nil, nil)
	descPortsInUse = prometheus.NewDesc("rotary_passive_ports_in_use",
		"Passive ports with a reservation waiting for its data connection now. A port whose transfer runs is free for the next PASV.", nil, nil)
	descPortsShared = prometheus.NewDesc("rotary_passive_ports_shared",
		"Passive ports waiting for more than one client IP now: the range was full when the later ones came.", nil, nil)
	descListeners = prometheus.NewDesc("rotary_passive_listeners",
		"Passive ports listening now (waiting or kept open briefly for the next PASV).", nil, nil)
	descPending = prometheus.NewDesc("rotary_passive_reservations_pending",
		"PASV/EPSV replies waiting for their data connection now.", nil, nil)
	descConns = prometheus.NewDesc("rotary_passive_data_connections",
		"Passive data connections whose transfer runs now.", nil, nil)
	descExhausted = prometheus.NewDesc("rotary_passive_exhaustions_total",
		"PASV/EPSV refused with 425 because no port of the range was free for the client.", nil, nil)
	descRefused = prometheus.NewDesc("rotary_passive_refused_connections_total",
		"Connections to passive ports refused: no transfer was waiting for that client there (a late or foreign client).", nil, nil)
	descPendingPeak = prometheus.NewDesc("rotary_passive_reservations_pending_peak",
		"The most PASV/EPSV replies waiting at once over the window: the ports the range needed.", []string{"window"}, nil)
	descConnsPeak = prometheus.NewDesc("rotary_passive_data_connections_peak",
		"The most passive data connections running at once over the window.", []string{"window"}, nil)
	descRecommended = prometheus.NewDesc("rotary_passive_ports_recommended",
		"Passive range size that would have covered the last 24 h's peak of waiting reservations with headroom (half again, at least 2 spare); 0 before any passive transfer.", nil, nil)
	descSizingWindow = prometheus.NewDesc("rotary_passive_sizing_window_seconds",
		"How much history rotary_passive_ports_recommended rests on (up to 24 h).", nil, nil)
)

// serverCollector reads, when scraped, what the server keeps anyway.
type serverCollector struct{ m *Server }

func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReplies, descBans, descBansIssued, descPorts, descPortsInUse, descPortsShared,
		descListeners, descPending, descConns, descExhausted, descRefused, descPendingPeak, descConnsPeak, descRecommended, descSizingWindow} {
		ch <- d
	}
}

func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	for code := range m.replies {
		if n := m.replies[code].Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(descReplies, prometheus.CounterValue, float64(n), strconv.Itoa(code))
		}
	}
	if b := m.src.Bans; b != nil {
		ch <- prometheus.MustNewConstMetric(descBans, prometheus.GaugeValue, float64(b.Active()))
		ch <- prometheus.MustNewConstMetric(descBansIssued, prometheus.CounterValue, float64(b.Issued()))
	}
	if m.src.Pool != nil {
		if p := m.src.Pool(); p != nil {
			st := p.Stats()
			ch <- prometheus.MustNewConstMetric(descPorts, prometheus.GaugeValue, float64(p.Range().Len()))
			ch <- prometheus.MustNewConstMetric(descPortsInUse, prometheus.GaugeValue, float64(st.Busy))
			ch <- prometheus.MustNewConstMetric(descPortsShared, prometheus.GaugeValue, float64(st.Shared))
			ch <- prometheus.MustNewConstMetric(descListeners, prometheus.GaugeValue, float64(st.Listeners))
		}
	}
	u := m.src.Usage
	if u == nil {
		return
	}
	now := u.Snapshot()
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(now.Pending))
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(now.Conns))
	ch <- prometheus.MustNewConstMetric(descExhausted, prometheus.CounterValue, float64(now.Exhausted))
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(now.Refused))
	hist := u.History(24 * 60)
	for _, w := range peakWindows {
		pending, conns := 0, 0
		for _, mu := range hist[len(hist)-w.minutes:] {
			pending = max(pending, mu.Pending)
			conns = max(conns, mu.Conns)
		}
		ch <- prometheus.MustNewConstMetric(descPendingPeak, prometheus.GaugeValue, float64(pending), w.label)
		ch <- prometheus.MustNewConstMetric(descConnsPeak, prometheus.GaugeValue, float64(conns), w.label)
	}
	sz := u.Sizing(m.src.Started)
	ch <- prometheus.MustNewConstMetric(descRecommended, prometheus.GaugeValue, float64(sz.Recommended))
	ch <- prometheus.MustNewConstMetric(descSizingWindow, prometheus.GaugeValue, sz.Window.Seconds())
}
