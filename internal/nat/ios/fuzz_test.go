package ios

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse: it must never panic, every error
// is an *Error, and a file it accepts is a model whose names resolve, that
// marshals, and whose ACLs can be evaluated (forward's FuzzCompile takes
// the same inputs through the userspace datapath).
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.ios")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), false)
	}
	f.Add(header+"ip access-list extended X\n 10 permit tcp 192.0.2.0 0.0.0.255 gt 1023 127.0.0.0 0.0.0.1 eq ftp www\nip nat inside destination list X pool p\n", true)
	f.Add("rotary proxy-protocol v2 static 127.0.0.2 21\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n", false)
	f.Add("interface Gi0/0\n ip address 1.2.3.4 255.255.255.0\n ip nat outside\n", true)
	f.Fuzz(func(t *testing.T, src string, lenient bool) {
		c, _, err := Parse("f.ios", strings.NewReader(src), ParseOptions{Lenient: lenient})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			return
		}
		for _, r := range c.DestinationRules {
			if !slices.ContainsFunc(c.ACLs, func(a *ACL) bool { return a.Name == r.ACL }) ||
				!slices.ContainsFunc(c.Pools, func(p *Pool) bool { return p.Name == r.Pool }) {
				t.Fatalf("line %d: rule names list %s and pool %s, not both defined", r.Pos.Line, r.ACL, r.Pool)
			}
		}
		for _, a := range c.ACLs {
			for _, e := range a.Entries {
				if e.DestPos.Line != e.Pos.Line || e.PortPos.Line != e.Pos.Line {
					t.Fatalf("line %d: entry positions %+v %+v", e.Pos.Line, e.DestPos, e.PortPos)
				}
				if !e.Dest.Any && e.Dest.Count() <= 1<<12 {
					for _, d := range e.Dest.Addresses() {
						if !e.Dest.Match(d) {
							t.Fatalf("%v enumerates %v, which it does not match", e.Dest, d)
						}
					}
				}
				for _, p := range e.DestPort.List() {
					if !e.DestPort.Match(p) {
						t.Fatalf("%v lists port %d, which it does not match", e.DestPort, p)
					}
					dst := netip.AddrPortFrom(e.Dest.Address, p)
					if d := a.Decide(dst); d == DeniesAll && a.Permits(netip.AddrPortFrom(netip.IPv4Unspecified(), 1024), dst) {
						t.Fatalf("list %s: %v denies every source, but permits one", a.Name, dst)
					}
					break // one port per entry keeps the fuzzer fast
				}
			}
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatal(err)
		}
	})
}
