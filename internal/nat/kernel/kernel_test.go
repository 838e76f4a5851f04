package kernel

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rotary-ftp/rotary/internal/nat/forward"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// TestCompileSplit: lines the kernel can run exactly are marked [kernel];
// PROXY protocol, the ALG and coordinated mode keep userspace listeners.
func TestCompileSplit(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"static and pool", `interface g0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface g1
 ip address 127.0.0.1 255.0.0.0
 ip nat inside
ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 2121
ip nat pool ftp 127.0.0.1 127.0.0.1 netmask 255.255.255.255 type rotary
access-list 100 permit tcp any host 127.0.0.2 range 5500 5501
ip nat inside destination list 100 pool ftp
`, "127.0.0.2:2121 -> static 127.0.0.1:2121 [kernel]\n127.0.0.2:5500..5501 -> pool ftp [kernel]\n"},
		{"proxy protocol stays in userspace", `interface g0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface g1
 ip address 127.0.0.1 255.0.0.0
 ip nat inside
ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 2121
rotary proxy-protocol v2 static
ip nat pool ftp 127.0.0.1 127.0.0.1 netmask 255.255.255.255 type rotary
access-list 100 permit tcp any host 127.0.0.2 eq 5500
ip nat inside destination list 100 pool ftp
`, "127.0.0.2:2121 -> static 127.0.0.1:2121 (proxy-protocol v2) [userspace]\n127.0.0.2:5500 -> pool ftp [kernel]\n"},
		{"source-filtered list runs in the kernel too", `interface g0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface g1
 ip address 127.0.0.1 255.0.0.0
 ip nat inside
ip nat pool ftp 127.0.0.1 127.0.0.1 netmask 255.255.255.255 type rotary
access-list 100 permit tcp host 127.0.0.9 host 127.0.0.2 eq 5500
ip nat inside destination list 100 pool ftp
`, "127.0.0.2:5500 -> pool ftp (sources filtered by list 100) [kernel]\n"},
		{"ftp alg stays in userspace", `interface g0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface g1
 ip address 127.0.0.1 255.0.0.0
 ip nat inside
ip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21
ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 2121
`, "127.0.0.2:21 -> static 127.0.0.1:21 (ftp alg) [userspace]\n127.0.0.2:2121 -> static 127.0.0.1:2121 [kernel]\n"},
		{"coordinated mode stays in userspace", `interface g0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface g1
 ip address 127.0.0.11 255.0.0.0
 ip nat inside
ip nat pool ftp 127.0.0.11 127.0.0.12 netmask 255.0.0.0 type rotary
access-list 100 permit tcp any host 127.0.0.2 eq 2121
ip nat inside destination list 100 pool ftp
rotary proxy-protocol v2 pool ftp
rotary coordinate pool ftp passive-range 5500 5503
`, "127.0.0.2:2121 -> pool ftp (proxy-protocol v2) (coordinated) [userspace]\n" +
			"127.0.0.2:5500..5501 -> pool ftp (proxy-protocol v2) (coordinated slice of 127.0.0.11) [userspace]\n" +
			"127.0.0.2:5502..5503 -> pool ftp (proxy-protocol v2) (coordinated slice of 127.0.0.12) [userspace]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := ios.Parse("gw.ios", strings.NewReader(tc.cfg), ios.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			prog, err := (&Datapath{}).Compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, l := range prog.Plan() {
				b.WriteString(l.String() + "\n")
			}
			if b.String() != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}

// TestGroupPools: the ports of one pool on one outside address become one
// set of runs, whatever lines they come from; another address, pool or
// member list is another group.
func TestGroupPools(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.9")
	m1, m2 := netip.MustParseAddr("198.19.0.2"), netip.MustParseAddr("198.19.0.3")
	var routes []forward.Route
	for _, p := range []uint16{5500, 5501, 5502, 5510, 65535} {
		routes = append(routes, forward.Route{Listen: netip.AddrPortFrom(a, p), Pool: "ftp", Members: []netip.Addr{m1}, Line: 4})
	}
	routes = append(routes,
		forward.Route{Listen: netip.AddrPortFrom(a, 5503), Pool: "ftp", Members: []netip.Addr{m1}, Line: 7},
		forward.Route{Listen: netip.AddrPortFrom(a, 2121), Pool: "ctl", Members: []netip.Addr{m1, m2}, Line: 9},
		forward.Route{Listen: netip.AddrPortFrom(b, 5500), Pool: "ftp", Members: []netip.Addr{m1}, Line: 4},
		forward.Route{Listen: netip.AddrPortFrom(a, 21), Static: netip.AddrPortFrom(m1, 21), Line: 2},
	)
	var got []string
	for _, g := range groupPools(routes) {
		got = append(got, fmt.Sprintf("%s %s %v %v %q", g.addr, g.pool, g.members, g.runs(), lineComment(g.lines)))
	}
	want := []string{
		`198.18.0.1 ftp [198.19.0.2] [[5500 5503] [5510 5510] [65535 65535]] "rotary gateway lines 4, 7"`,
		`198.18.0.1 ctl [198.19.0.2 198.19.0.3] [[2121 2121]] "rotary gateway line 9"`,
		`198.18.0.9 ftp [198.19.0.2] [[5500 5500]] "rotary gateway line 4"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWarningsLeaveOutKernelProxyWarnings: the PROXY protocol warning
// (the server sees every client as the gateway) is true of userspace
// listeners only; kernel DNAT keeps the client's address.
func TestWarningsLeaveOutKernelProxyWarnings(t *testing.T) {
	src := `interface g0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface g1
 ip address 127.0.0.1 255.0.0.0
 ip nat inside
ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 2121
ip nat pool ftp 127.0.0.1 127.0.0.1 netmask 255.255.255.255 type rotary
access-list 100 permit tcp any host 127.0.0.2 range 5500 5501
ip nat inside destination list 100 pool ftp
`
	cfg, _, err := ios.Parse("gw.ios", strings.NewReader(src), ios.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	user, err := forward.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(user.Warnings()) != 2 {
		t.Fatalf("userspace: want the 2 PROXY warnings, got %v", user.Warnings())
	}
	prog, err := (&Datapath{}).Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w := prog.Warnings(); len(w) != 0 {
		t.Fatalf("kernel: want no PROXY warning for lines the kernel runs, got %v", w)
	}
}
