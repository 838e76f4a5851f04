package ban

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
)

func TestTracker(t *testing.T) {
	now := time.Unix(1000000, 0)
	tr := New(Policy{After: 3, Window: time.Minute, For: 10 * time.Minute})
	tr.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("127.0.0.5"), netip.MustParseAddr("127.0.0.6")

	steps := []struct {
		advance time.Duration
		ip      netip.Addr
		banned  bool
	}{
		{0, a, false},
		{10 * time.Second, a, false},
		{10 * time.Second, b, false},
		{10 * time.Second, a, true}, // third within a minute
		{0, b, false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := tr.Failure(s.ip); got != s.banned {
			t.Fatalf("step %d: Failure(%s) = %v", i, s.ip, got)
		}
	}
	if _, ok := tr.Banned(a); !ok {
		t.Fatal("a not banned")
	}
	if err := tr.Check(b); err != nil {
		t.Fatalf("b refused: %v", err)
	}
	if err := tr.Check(netip.MustParseAddr("::ffff:127.0.0.5")); err == nil {
		t.Fatal("mapped form of a banned address let in")
	}
	if l := tr.List(); len(l) != 1 || l[0].IP != a || l[0].Failures != 3 {
		t.Fatalf("List = %+v", l)
	}
	// Failures outside the window do not add up.
	now = now.Add(2 * time.Minute)
	tr.Failure(b)
	if tr.Failure(b) {
		t.Fatal("b banned although its first failure left the window")
	}
	// The ban ends by itself, or by Delete.
	now = now.Add(10 * time.Minute)
	if _, ok := tr.Banned(a); ok {
		t.Fatal("ban did not expire")
	}
	for i := 0; i < 3; i++ {
		tr.Failure(a)
	}
	if !tr.Delete(a) || tr.Delete(a) {
		t.Fatal("Delete")
	}
	if err := tr.Check(a); err != nil {
		t.Fatal("deleted ban still refuses")
	}
	// Policy 0 never bans.
	tr.SetPolicy(Policy{})
	for i := 0; i < 20; i++ {
		if tr.Failure(a) {
			t.Fatal("banned with After = 0")
		}
	}
}

func TestHTTP(t *testing.T) {
	tr := New(Policy{After: 1, Window: time.Minute, For: time.Hour})
	tr.Failure(netip.MustParseAddr("127.0.0.5"))
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	bans, err := ListRemote(context.Background(), adminhttp.Endpoint{Addr: addr})
	if err != nil || len(bans) != 1 || bans[0].IP.String() != "127.0.0.5" {
		t.Fatalf("ListRemote = %+v, %v", bans, err)
	}
	if err := DeleteRemote(context.Background(), adminhttp.Endpoint{Addr: addr}, netip.MustParseAddr("127.0.0.5")); err != nil {
		t.Fatal(err)
	}
	if err := DeleteRemote(context.Background(), adminhttp.Endpoint{Addr: addr}, netip.MustParseAddr("127.0.0.5")); err == nil || !strings.Contains(err.Error(), "not banned") {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := ListRemote(context.Background(), adminhttp.Endpoint{Addr: "127.0.0.1:1"}); err == nil {
		t.Fatal("no error from a closed endpoint")
	}
}

// A web page that rebinds its own name to 127.0.0.1 must not lift a ban:
// its request carries the page's name as Host (issue 14).
func TestHTTPRefusesRebinding(t *testing.T) {
	tr := New(Policy{After: 1, Window: time.Minute, For: time.Hour})
	ip := netip.MustParseAddr("127.0.0.5")
	tr.Failure(ip)
	l, err := adminhttp.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	srv := adminhttp.Serve(l, tr.Handler(), adminhttp.Options{})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+l.Addr().String()+"/bans/127.0.0.5", nil)
	req.Host = "rebind.attacker.example:" + strings.Split(l.Addr().String(), ":")[1]
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("DELETE with a foreign Host: status %d, want 403", resp.StatusCode)
	}
	if err := tr.Check(ip); err == nil {
		t.Fatal("the ban was lifted by a request with a foreign Host")
	}
	if err := DeleteRemote(context.Background(), adminhttp.Endpoint{Addr: l.Addr().String()}, ip); err != nil {
		t.Fatalf("rotary ban del through the guarded endpoint: %v", err)
	}
}
