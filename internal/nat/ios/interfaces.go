package ios

import "net/netip"

// OnInterface reports whether a is in a prefix of an interface whose `ip
// nat` role is role ("inside" or "outside").
func (c *Config) OnInterface(role string, a netip.Addr) bool {
	for _, ifc := range c.Interfaces {
		if ifc.NAT != role {
			continue
		}
		for _, pfx := range ifc.Addresses {
			if pfx.Contains(a) {
				return true
			}
		}
	}
	return false
}

// CheckOutside holds an outside address a datapath uses, for the statement
// on line, to the interface blocks: when the file has any, the address must
// be on an `ip nat outside` interface. Parse checks the inside hosts
// itself; which outside addresses are used is the datapath's reading of the
// rules (a userspace listener each), so the datapath asks for each.
func (c *Config) CheckOutside(a netip.Addr, line int) error {
	if len(c.Interfaces) == 0 || c.OnInterface("outside", a) {
		return nil
	}
	return &Error{File: c.File, Line: line, Column: 1, Token: a.String(),
		Expected: "an address on an interface with ip nat outside",
		Detail:   "the gateway listens on outside addresses; add it to an outside interface or remove the interface blocks"}
}

// checkInside holds the inside hosts to the interface blocks, when there
// are any: pool members and static locals must be on an `ip nat inside`
// interface.
func (c *Config) checkInside() error {
	if len(c.Interfaces) == 0 {
		return nil
	}
	for _, pl := range c.Pools {
		for _, a := range []netip.Addr{pl.Start, pl.End} {
			if !c.OnInterface("inside", a) {
				return &Error{File: c.File, Line: pl.Pos.Line, Column: pl.Pos.Column, Token: a.String(),
					Expected: "an address on an interface with ip nat inside", Detail: "pool members are inside hosts"}
			}
		}
	}
	for _, s := range c.StaticMaps {
		if !c.OnInterface("inside", s.Local.Addr()) {
			return &Error{File: c.File, Line: s.Pos.Line, Column: s.Pos.Column, Token: s.Local.Addr().String(),
				Expected: "an address on an interface with ip nat inside", Detail: "the inside local address is an inside host"}
		}
	}
	return nil
}
