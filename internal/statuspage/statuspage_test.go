package statuspage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/passive"
)

func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Header(), string(b)
}

func TestServePage(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)
	hour := make([]passive.MinuteUsage, 60)
	for i := range hour {
		hour[i] = passive.MinuteUsage{Start: now.Add(time.Duration(i-59) * time.Minute), Pending: i % 4, Conns: i % 7}
	}
	pg := Page{Kind: "serve", Now: now, Started: now.Add(-2 * time.Hour),
		Sessions: []Session{
			{ID: 7, User: "alice", Client: "203.0.113.9:40000", State: "transfer", Idle: 3 * time.Second,
				Transfer: &Transfer{Verb: "RETR", Path: "/big.iso", Bytes: 512 << 20, Size: 1 << 30, Elapsed: 4 * time.Second}},
			{ID: 8, Client: "198.51.100.1:1234", State: "login"},
			{ID: 9, User: "<script>alert(1)</script>", Client: "192.0.2.1:1", State: "idle"},
		},
		Passive: &Passive{Range: "5500-5520", Ports: 21, Now: passive.UsageSnapshot{Pending: 2, Conns: 5},
			Sizing: passive.Sizing{Window: 2 * time.Hour, PeakPending: 25, PeakConns: 40, Recommended: 38}, LastHour: hour},
		Bans: []Ban{{IP: "203.0.113.66", Until: now.Add(time.Hour), Failures: 10}},
	}
	h := Handler(func() Page { return pg }, nil)
	code, hdr, body := get(t, h, "/")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET / = %d %v", code, hdr)
	}
	for _, want := range []string{
		`<script src="/status.js" defer></script>`,
		"Passive range 5500-5520", `<svg class="chart"`, "recommended: 38", "wider than now",
		"alice", "RETR", "/big.iso", "512.0 MiB", `<progress max="100" value="50">`, "128.0 MiB/s",
		"<em>not logged in</em>", "203.0.113.66", "Up 2h0m0s",
		"&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert(1)") {
		t.Error("a user name reached the page unescaped")
	}
	if strings.Count(body, `<rect class="pending"`) != 45 { // 60 minutes, every fourth empty
		t.Errorf("chart has %d bars, want 45", strings.Count(body, `<rect class="pending"`))
	}
	// The refreshed part alone.
	if _, _, part := get(t, h, "/?part=main"); strings.Contains(part, "<html") || !strings.Contains(part, "alice") {
		t.Errorf("part=main is not the main part alone:\n%.200s", part)
	}
	for _, p := range []string{"/status.js", "/status.css"} {
		if code, _, b := get(t, h, p); code != 200 || len(b) < 100 {
			t.Errorf("GET %s = %d, %d bytes", p, code, len(b))
		}
	}
	if code, _, _ := get(t, h, "/nothing"); code != 404 {
		t.Errorf("GET /nothing = %d, want 404", code)
	}
}

func TestGatewayPage(t *testing.T) {
	a := netip.MustParseAddr("198.18.0.10")
	pg := Page{Kind: "gateway", Now: time.Now(), Started: time.Now(), Gateway: &Gateway{Config: "seed.ios", Datapath: "kernel",
		Statistics: nat.Statistics{Static: 1, Dynamic: 1, Hits: 3, Pools: []nat.PoolStatistics{{Name: "ftp",
			Members: []nat.MemberStatistics{{Address: a, Up: true, Flows: 1}, {Address: netip.MustParseAddr("198.18.0.11"), DownPorts: []uint16{21}}}}}},
		Translations: []nat.Translation{{Protocol: "tcp", InsideGlobal: netip.MustParseAddrPort("198.18.0.1:21"),
			InsideLocal: netip.MustParseAddrPort("198.18.0.10:21"), OutsideGlobal: netip.MustParseAddrPort("198.18.1.5:40000"), Pool: "ftp"}},
	}}
	_, _, body := get(t, Handler(func() Page { return pg }, nil), "/")
	for _, want := range []string{"seed.ios on the kernel datapath", "198.18.0.10", "down</strong> (ports [21])", "198.18.1.5:40000", "1 static, 1 dynamic"} {
		if !strings.Contains(body, want) {
			t.Errorf("gateway page lacks %q", want)
		}
	}
}
