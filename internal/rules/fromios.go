package rules

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// Bounds on what FromIOS enumerates: each outside (address, port) is
// evaluated against its access list once.
const (
	maxOutsideAddrs = 256
	maxDestinations = 1 << 20
)

// FromIOS builds the forwarding of a gateway configuration: each static
// map is a forward of one port to its inside local address and port; each
// destination rule's access list is evaluated first-match, with the
// implicit deny, for every (address, port) its permit entries name, and
// the permitted ones go to the rule's pool, port kept. A destination that
// some sources may use and others not keeps the entries that match it as
// its source filter. Consecutive ports with the same pool and filter are
// one forward. A router translates any port, so unlike the userspace
// datapath every destination port operator can be rendered; the outside
// addresses must still be named (host A, or a wildcard of at most 256
// addresses): an ACL with DST any is an *ios.Error at its position.
func FromIOS(c *ios.Config) (*Model, error) {
	m := &Model{From: c.File, IOSFile: c.File, Timeouts: &c.Timeouts}
	if c.Rotary.HealthCheck != (ios.HealthCheck{}) {
		hc := c.Rotary.HealthCheck
		m.HealthCheck = &hc
	}
	errAt := func(pos ios.Pos, tok, expected, detail string) error {
		return &ios.Error{File: c.File, Line: pos.Line, Column: pos.Column, Token: tok, Expected: expected, Detail: detail}
	}
	claimed := map[netip.AddrPort]int{}
	claim := func(ap netip.AddrPort, pos ios.Pos) error {
		if line, ok := claimed[ap]; ok {
			return errAt(pos, ap.String(), "an outside address and port no other rule uses", fmt.Sprintf("%s is already forwarded by line %d", ap, line))
		}
		claimed[ap] = pos.Line
		return nil
	}
	for _, s := range c.StaticMaps {
		if err := claim(s.Global, s.Pos); err != nil {
			return nil, err
		}
		m.Forwards = append(m.Forwards, Forward{Kind: KindStatic, Outside: s.Global.Addr(), Lo: s.Global.Port(), Hi: s.Global.Port(),
			Members: []netip.Addr{s.Local.Addr()}, Offset: int(s.Local.Port()) - int(s.Global.Port()),
			ProxyProtocol: c.Rotary.ProxyVersionForStatic(s.Global), Pos: s.Pos})
	}
	for _, d := range c.DestinationRules {
		acl, pool := findACL(c, d.ACL), findPool(c, d.Pool)
		if acl == nil || pool == nil {
			return nil, errAt(d.Pos, d.ACL, "an access list and a pool defined in this file", "")
		}
		dsts, err := destinations(c, acl)
		if err != nil {
			return nil, err
		}
		for _, dst := range dsts {
			decision := acl.Decide(dst)
			if decision == ios.DeniesAll {
				continue
			}
			if err := claim(dst, d.Pos); err != nil {
				return nil, err
			}
			f := Forward{Kind: KindPool, Outside: dst.Addr(), Lo: dst.Port(), Hi: dst.Port(), Members: pool.Members(),
				Pool: pool.Name, PoolPrefix: pool.PrefixLen, ProxyProtocol: c.Rotary.ProxyVersionForPool(pool.Name), Pos: d.Pos}
			if decision == ios.BySource {
				f.FilterACL = acl.Name
				f.Filter = []SourceRule{}
				for _, e := range acl.Entries {
					if e.Dest.Match(dst.Addr()) && e.DestPort.Match(dst.Port()) {
						f.Filter = append(f.Filter, SourceRule{Permit: e.Action == ios.Permit, Source: e.Source, Port: e.SourcePort, Pos: e.Pos})
					}
				}
			}
			m.Forwards = append(m.Forwards, f)
		}
	}
	slices.SortStableFunc(m.Forwards, func(a, b Forward) int {
		if d := a.Outside.Compare(b.Outside); d != 0 {
			return d
		}
		return cmp.Compare(a.Lo, b.Lo)
	})
	m.Forwards = fold(m.Forwards)
	for _, f := range m.Forwards {
		if err := c.CheckOutside(f.Outside, f.Pos.Line); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// fold joins forwards of consecutive ports that go the same way.
func fold(fs []Forward) []Forward {
	var out []Forward
	for _, f := range fs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if f.Kind == KindPool && last.Kind == KindPool && last.Outside == f.Outside && int(last.Hi)+1 == int(f.Lo) &&
				last.Pool == f.Pool && last.ProxyProtocol == f.ProxyProtocol && last.Pos == f.Pos &&
				last.FilterACL == f.FilterACL && sameFilter(last.Filter, f.Filter) {
				last.Hi = f.Hi
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

func sameFilter(a, b []SourceRule) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Pos != b[i].Pos {
			return false
		}
	}
	return true
}

// destinations lists every (address, port) a permit entry of acl names.
func destinations(c *ios.Config, acl *ios.ACL) ([]netip.AddrPort, error) {
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	for _, e := range acl.Entries {
		if e.Action != ios.Permit {
			continue
		}
		if e.Dest.Any {
			return nil, &ios.Error{File: c.File, Line: e.DestPos.Line, Column: e.DestPos.Column, Token: "any",
				Expected: "host A or A WILDCARD",
				Detail:   fmt.Sprintf("rotary rules writes a forward per outside address, so access list %s must name them", acl.Name)}
		}
		if n := e.Dest.Count(); n > maxOutsideAddrs {
			return nil, &ios.Error{File: c.File, Line: e.DestPos.Line, Column: e.DestPos.Column, Token: e.Dest.Address.String(),
				Expected: fmt.Sprintf("host A or a wildcard naming at most %d addresses", maxOutsideAddrs),
				Detail:   fmt.Sprintf("%s names %d addresses", e.Dest, n)}
		}
		ports := e.DestPort.List()
		if len(out)+len(ports)*int(e.Dest.Count()) > maxDestinations {
			return nil, &ios.Error{File: c.File, Line: e.Pos.Line, Column: e.Pos.Column, Token: string(e.Action),
				Expected: fmt.Sprintf("at most %d outside addresses and ports in all", maxDestinations)}
		}
		for _, a := range e.Dest.Addresses() {
			for _, p := range ports {
				ap := netip.AddrPortFrom(a, p)
				if !seen[ap] {
					seen[ap] = true
					out = append(out, ap)
				}
			}
		}
	}
	return out, nil
}

func findACL(c *ios.Config, name string) *ios.ACL {
	for _, a := range c.ACLs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func findPool(c *ios.Config, name string) *ios.Pool {
	for _, p := range c.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}
