package ios

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPortMatchList(t *testing.T) {
	tests := []struct {
		m         PortMatch
		n         int      // how many ports
		first     []uint16 // the first ones, in order
		has, lack uint16
	}{
		{PortMatch{Op: "eq", Ports: []uint16{80, 21, 0, 21}}, 2, []uint16{80, 21}, 21, 0},
		{PortMatch{Op: "lt", Ports: []uint16{3}}, 2, []uint16{1, 2}, 2, 3},
		{PortMatch{Op: "lt", Ports: []uint16{1}}, 0, nil, 0, 1},
		{PortMatch{Op: "gt", Ports: []uint16{65533}}, 2, []uint16{65534, 65535}, 65535, 65533},
		{PortMatch{Op: "range", Ports: []uint16{0, 2}}, 2, []uint16{1, 2}, 1, 0},
		{PortMatch{Op: "range", Ports: []uint16{5500, 5520}}, 21, []uint16{5500, 5501}, 5520, 5521},
		{PortMatch{Op: "neq", Ports: []uint16{1, 3}}, 65533, []uint16{2, 4}, 2, 3},
		{PortMatch{}, 65535, []uint16{1, 2}, 65535, 0},
	}
	for _, tc := range tests {
		got := tc.m.List()
		if len(got) != tc.n || !slices.Equal(got[:len(tc.first)], tc.first) || (tc.m.Op != "eq" && !slices.IsSorted(got)) {
			t.Errorf("%q: %d ports starting %v, want %d starting %v", tc.m, len(got), got[:min(len(got), 4)], tc.n, tc.first)
		}
		if tc.has != 0 && !slices.Contains(got, tc.has) {
			t.Errorf("%q lacks %d", tc.m, tc.has)
		}
		if slices.Contains(got, tc.lack) {
			t.Errorf("%q lists %d", tc.m, tc.lack)
		}
		for _, p := range got {
			if !tc.m.Match(p) {
				t.Fatalf("%q lists %d, which it does not match", tc.m, p)
			}
		}
	}
}

func TestAddrMatchEnumeration(t *testing.T) {
	host := AddrMatch{Address: netip.MustParseAddr("127.0.0.2"), Wildcard: netip.IPv4Unspecified()}
	if n, got := host.Count(), host.Addresses(); n != 1 || len(got) != 1 || got[0] != host.Address {
		t.Errorf("host: count %d, addresses %v", n, got)
	}
	w := AddrMatch{Address: netip.MustParseAddr("192.0.2.0"), Wildcard: netip.MustParseAddr("0.0.1.1")}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.3.0"), netip.MustParseAddr("192.0.3.1")}
	if got := w.Addresses(); w.Count() != 4 || !slices.Equal(got, want) {
		t.Errorf("wildcard 0.0.1.1: count %d, addresses %v, want %v", w.Count(), got, want)
	}
	if n := (AddrMatch{Any: true}).Count(); n != 1<<32 {
		t.Errorf("any counts %d", n)
	}
	all := AddrMatch{Address: netip.MustParseAddr("0.0.0.0"), Wildcard: netip.MustParseAddr("255.255.255.255")}
	if n := all.Count(); n != 1<<32 {
		t.Errorf("wildcard 255.255.255.255 counts %d, want 1<<32 (on every int size)", n)
	}
}

// TestDecide is IOS evaluation per destination: first match, implicit deny,
// and BySource when only some sources are permitted.
func TestDecide(t *testing.T) {
	c, _, err := parseString(header+`ip access-list extended X
 deny tcp any host 127.0.0.2 eq 5501
 permit tcp any host 127.0.0.2 range 5500 5503
 deny tcp host 192.0.2.9 host 127.0.0.2 eq 5502
 permit tcp host 192.0.2.1 host 127.0.0.2 eq 5504
 deny tcp host 192.0.2.9 host 127.0.0.2 eq 5503
 deny tcp host 192.0.2.9 host 127.0.0.2 eq 5505
 permit tcp any host 127.0.0.2 eq 5505
 deny tcp any gt 1023 host 127.0.0.2 eq 5506
ip nat inside destination list X pool p
`, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acl := c.ACLs[0]
	want := map[uint16]Decision{
		5500: PermitsAll, 5501: DeniesAll, 5502: PermitsAll, 5503: PermitsAll,
		5504: BySource, 5505: BySource, 5506: DeniesAll, 5507: DeniesAll,
	}
	for port, d := range want {
		if got := acl.Decide(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)); got != d {
			t.Errorf("port %d: %v, want %v", port, got, d)
		}
	}
	if got := acl.Decide(netip.MustParseAddrPort("127.0.0.3:5500")); got != DeniesAll {
		t.Errorf("another address: %v, want denies all (implicit deny)", got)
	}
	dst := netip.MustParseAddrPort("127.0.0.2:5504")
	if !acl.Permits(netip.MustParseAddrPort("192.0.2.1:40000"), dst) || acl.Permits(netip.MustParseAddrPort("192.0.2.2:40000"), dst) {
		t.Error("5504: want only 192.0.2.1 permitted (implicit deny)")
	}
	dst = netip.MustParseAddrPort("127.0.0.2:5505")
	if acl.Permits(netip.MustParseAddrPort("192.0.2.9:40000"), dst) || !acl.Permits(netip.MustParseAddrPort("192.0.2.8:40000"), dst) {
		t.Error("5505: want 192.0.2.9 denied by the earlier entry and the rest permitted")
	}
}
