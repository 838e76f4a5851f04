package admin

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// sampleNow is the clock of the sample's "create" column.
var sampleNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

var sample = []nat.Translation{
	{Protocol: "tcp", InsideGlobal: netip.MustParseAddrPort("127.0.0.2:2121"), InsideLocal: netip.MustParseAddrPort("127.0.0.1:2121"), Static: true, Left: -1},
	{Protocol: "tcp", InsideGlobal: netip.MustParseAddrPort("127.0.0.2:5500"), InsideLocal: netip.MustParseAddrPort("127.0.0.1:5500"),
		OutsideLocal: netip.MustParseAddrPort("192.0.2.7:40001"), OutsideGlobal: netip.MustParseAddrPort("192.0.2.7:40001"),
		Pool: "ftp", Created: sampleNow.Add(-3 * time.Second), Use: time.Second, Left: 86399 * time.Second},
}

func TestWriteTranslations(t *testing.T) {
	var b bytes.Buffer
	WriteTranslations(&b, sample, false)
	want := `Pro Inside global         Inside local          Outside local         Outside global
tcp 127.0.0.2:2121        127.0.0.1:2121        ---                   ---
tcp 127.0.0.2:5500        127.0.0.1:5500        192.0.2.7:40001       192.0.2.7:40001
Total active translations: 2 (1 static, 1 dynamic; 2 extended)
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	// A kernel entry: no timestamps in conntrack, no idle time.
	b.Reset()
	kern := sample[1]
	kern.Created, kern.Use, kern.Left = time.Time{}, -1, 118*time.Second
	writeTranslations(&b, []nat.Translation{kern}, true, sampleNow)
	if !strings.Contains(b.String(), "create --:--:--, use --:--:--, left 00:01:58,") {
		t.Errorf("kernel entry:\n%s", b.String())
	}
	// A coordinated member's slice is a port range.
	b.Reset()
	slice := nat.Translation{Protocol: "tcp", Static: true, Left: -1, Pool: "ftp", LastPort: 5506,
		InsideGlobal: netip.MustParseAddrPort("127.0.0.2:5500"), InsideLocal: netip.MustParseAddrPort("127.0.0.11:5500")}
	writeTranslations(&b, []nat.Translation{slice}, true, sampleNow)
	for _, s := range []string{"tcp 127.0.0.2:5500-5506   127.0.0.11:5500-5506  ---", "static, extended, coordinated slice of rotary pool ftp"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("slice output lacks %q:\n%s", s, b.String())
		}
	}
	b.Reset()
	writeTranslations(&b, sample, true, sampleNow)
	for _, s := range []string{"static, extended, use_count: 0", "create 00:00:03, use 00:00:01, left 23:59:59,", "extended, rotary pool ftp"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("verbose output lacks %q:\n%s", s, b.String())
		}
	}
}

func TestWriteStatistics(t *testing.T) {
	cfg, _, err := ios.Parse("t.ios", strings.NewReader(`interface Gi0/0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface Gi0/1
 ip address 127.0.0.1 255.0.0.0
 ip nat inside
ip nat pool ftp 127.0.0.11 127.0.0.12 prefix-length 24 type rotary
access-list 100 permit tcp any host 127.0.0.2 eq 2121
ip nat inside destination list 100 pool ftp
`), ios.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := nat.Statistics{Dynamic: 1, Hits: 5, Misses: 2, Expired: 1, Listeners: 1, BytesFromClient: 1234, BytesFromInside: 10485760, Pools: []nat.PoolStatistics{{
		Name: "ftp", Allocated: 1, DialFailures: 2, Members: []nat.MemberStatistics{
			{Address: netip.MustParseAddr("127.0.0.11"), Up: true, Flows: 1},
			{Address: netip.MustParseAddr("127.0.0.12"), DownPorts: []uint16{2121}, Slice: [2]uint16{5511, 5520}},
		}}}}
	var b bytes.Buffer
	WriteStatistics(&b, cfg, st)
	want := `Total active translations: 1 (0 static, 1 dynamic; 1 extended)
Outside interfaces:
  Gi0/0
Inside interfaces:
  Gi0/1
Hits: 5  Misses: 2
Expired translations: 1
Bytes from clients: 1234  Bytes from inside: 10485760
Dynamic mappings:
-- Inside Destination
[Id: 1] access-list 100 pool ftp refcount 1
 pool ftp: netmask 255.255.255.0
	start 127.0.0.11 end 127.0.0.12
	type rotary, total addresses 2, allocated 1 (50%), misses 2
	member 127.0.0.11 up, 1 flows
	member 127.0.0.12 down for port(s) [2121] (skipped until a health check succeeds), 0 flows, passive slice 5511-5520
Listeners: 1
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

type fakeSource struct{ cfg *ios.Config }

func (f fakeSource) Translations() []nat.Translation { return sample }
func (f fakeSource) Statistics() nat.Statistics      { return nat.Statistics{} }
func (f fakeSource) Config() *ios.Config             { return f.cfg }

func TestHandlerAndFetch(t *testing.T) {
	ln, err := adminhttp.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	srv := adminhttp.Serve(ln, Handler(fakeSource{cfg: &ios.Config{}}), adminhttp.Options{})
	defer srv.Close()
	addr := adminhttp.Endpoint{Addr: ln.Addr().String()}
	out, err := Fetch(context.Background(), addr, "translations?verbose=1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "rotary pool ftp") || !strings.HasPrefix(out, "Pro Inside global") {
		t.Fatalf("translations:\n%s", out)
	}
	out, err = Fetch(context.Background(), addr, "statistics")
	if err != nil || !strings.HasPrefix(out, "Total active translations: 0") {
		t.Fatalf("statistics %v:\n%s", err, out)
	}
	if _, err := Fetch(context.Background(), addr, "nothing"); err == nil {
		t.Fatal("unknown show path answered")
	}
	// A page rebinding its name to 127.0.0.1 cannot read the flows.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr.Addr+"/show/translations", nil)
	req.Host = "rebind.attacker.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Host: status %d, want 403", resp.StatusCode)
	}
	ln.Close()
	if _, err := Fetch(context.Background(), addr, "statistics"); err == nil || !strings.Contains(err.Error(), "no gateway answering") {
		t.Fatalf("Fetch from a stopped gateway: %v", err)
	}
}
