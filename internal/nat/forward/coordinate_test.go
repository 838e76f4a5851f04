package forward

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/proxyheader"
)

// TestCoordinate: each member's control connections carry its slice in
// Rotary's PROXY TLV, and each data port goes to the member owning it.
func TestCoordinate(t *testing.T) {
	ctl, lns := listenSame(t, backendA, backendB)
	got := make(chan string, 8)
	for i, ln := range lns {
		name := []string{"A", "B"}[i]
		serveBackend(t, ln, func(c *net.TCPConn) {
			h, err := proxyheader.ReadHeader(c, 5*time.Second)
			if err != nil {
				got <- name + ": " + err.Error()
				return
			}
			v, _ := h.TLV(proxyheader.TypeRotaryCoordinate)
			co, err := proxyheader.ParseCoordination(v)
			got <- fmt.Sprintf("%s %d-%d %v %v", name, co.Lo, co.Hi, co.Public, err)
		})
	}
	src := fmt.Sprintf(`ip nat pool p 127.0.0.11 127.0.0.12 prefix-length 24 type rotary
access-list 100 permit tcp any host 127.0.0.2 eq %d
ip nat inside destination list 100 pool p
rotary proxy-protocol v2 pool p
rotary coordinate pool p passive-range 40100 40104 public-ip 203.0.113.7
`, ctl)
	r, err := Compile(parse(t, src))
	if err != nil {
		t.Fatal(err)
	}
	owners := map[uint16]netip.Addr{}
	for _, rt := range r.Routes {
		if rt.Owner.IsValid() {
			owners[rt.Listen.Port()] = rt.Owner
		}
	}
	want := map[uint16]netip.Addr{40100: backendA, 40101: backendA, 40102: backendA, 40103: backendB, 40104: backendB}
	if fmt.Sprint(owners) != fmt.Sprint(want) {
		t.Fatalf("data ports %v, want %v", owners, want)
	}
	// Run the control route only: the data ports may be in use on this machine.
	var keep []Route
	for _, rt := range r.Routes {
		if !rt.Owner.IsValid() {
			keep = append(keep, rt)
		}
	}
	r.Routes = keep
	s := startServer(t, r)
	// show translations lists each member's slice; show statistics too.
	var ranges []string
	for _, tr := range s.Translations() {
		if tr.LastPort != 0 {
			ranges = append(ranges, fmt.Sprintf("%v-%d>%v", tr.InsideGlobal, tr.LastPort, tr.InsideLocal))
		}
	}
	if w := "[127.0.0.2:40100-40102>127.0.0.11:40100 127.0.0.2:40103-40104>127.0.0.12:40103]"; fmt.Sprint(ranges) != w {
		t.Errorf("translations' slices %v, want %s", ranges, w)
	}
	var stSlices []string
	for _, p := range s.Statistics().Pools {
		for _, m := range p.Members {
			stSlices = append(stSlices, fmt.Sprintf("%v %d-%d", m.Address, m.Slice[0], m.Slice[1]))
		}
	}
	if w := "[127.0.0.11 40100-40102 127.0.0.12 40103-40104]"; fmt.Sprint(stSlices) != w {
		t.Errorf("statistics' slices %v, want %s", stSlices, w)
	}
	seen := map[string]bool{}
	for range 2 {
		c := dial(t, netip.AddrPortFrom(outsideIP, ctl))
		select {
		case s := <-got:
			seen[s] = true
		case <-time.After(10 * time.Second):
			t.Fatal("no PROXY header reached a member")
		}
		c.Close()
	}
	for _, w := range []string{"A 40100-40102 203.0.113.7 <nil>", "B 40103-40104 203.0.113.7 <nil>"} {
		if !seen[w] {
			t.Errorf("members saw %v, want %q among them", seen, w)
		}
	}
}
