package forward

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// DatapathName is what --print-plan and the logs call this datapath.
const DatapathName = "userspace"

// MaxListeners bounds the listening sockets of one configuration: each
// outside (address, port) is a socket and an accept goroutine.
const MaxListeners = 4096

// Compile derives the userspace listener plan from a parsed IOS model: one
// Route per (outside address, port). Each destination rule's ACL is
// evaluated first-match, with the implicit deny at the end, for every
// (address, port) its permit entries name; a pair where a deny wins for
// every source gets no listener (IOS would route it untouched; there is
// nothing to route it to here). What userspace cannot run is an *ios.Error
// at the statement that asks for it: two rules claiming one outside
// (address, port), a permitted destination set that cannot be listed (DST
// any; a destination port of gt, neq or none), more than MaxListeners
// listeners, an outside address not on an `ip nat outside` interface.
func Compile(c *ios.Config) (*Rules, error) {
	errAt := func(pos ios.Pos, tok, expected, detail string) error {
		return &ios.Error{File: c.File, Line: pos.Line, Column: pos.Column, Token: tok, Expected: expected, Detail: detail}
	}
	r := &Rules{
		DialTimeout:    c.Timeouts.Syn.Duration(),
		IdleTimeout:    c.Timeouts.TCP.Duration(),
		FinTimeout:     c.Timeouts.FinRst.Duration(),
		HealthInterval: c.Rotary.HealthInterval(),
	}
	claimed := map[netip.AddrPort]string{}
	claim := func(ap netip.AddrPort, by string, pos ios.Pos) error {
		if prev, ok := claimed[ap]; ok {
			return errAt(pos, ap.String(), "an outside address and port no other rule uses", fmt.Sprintf("%s is already taken by %s", ap, prev))
		}
		claimed[ap] = fmt.Sprintf("%s (line %d)", by, pos.Line)
		if len(claimed) > MaxListeners {
			return errAt(pos, ap.String(), fmt.Sprintf("at most %d listeners in all", MaxListeners), "each outside address and port is one listening socket")
		}
		return nil
	}
	for _, s := range c.StaticMaps {
		if err := claim(s.Global, "ip nat inside source static", s.Pos); err != nil {
			return nil, err
		}
		r.Routes = append(r.Routes, Route{Listen: s.Global, Static: s.Local, Line: s.Pos.Line,
			ProxyProtocol: c.Rotary.ProxyVersionForStatic(s.Global), FTPALG: ftpALG(c, s.Global, s.Local.Port())})
	}
	for _, d := range c.DestinationRules {
		acl, pool := findACL(c, d.ACL), findPool(c, d.Pool)
		if acl == nil || pool == nil {
			return nil, errAt(d.Pos, d.ACL, "an access list and a pool defined in this file", "")
		}
		dsts, err := destinations(c, acl, d)
		if err != nil {
			return nil, err
		}
		members := pool.Members()
		opened := false
		for _, dst := range dsts {
			decision := acl.Decide(dst)
			if decision == ios.DeniesAll {
				continue
			}
			if err := claim(dst, fmt.Sprintf("ip nat inside destination list %s pool %s", acl.Name, pool.Name), d.Pos); err != nil {
				return nil, err
			}
			rt := Route{Listen: dst, Pool: pool.Name, Members: members, Line: d.Pos.Line,
				ProxyProtocol: c.Rotary.ProxyVersionForPool(pool.Name), FTPALG: ftpALG(c, dst, dst.Port())}
			if decision == ios.BySource {
				rt.ACL = acl
			}
			r.Routes = append(r.Routes, rt)
			opened = true
		}
		if !opened {
			r.warnings = append(r.warnings, ios.Warning{File: c.File, Line: d.Pos.Line, Column: d.Pos.Column,
				Message: fmt.Sprintf("access list %s denies every destination it names: this rule opens no listener", d.ACL)})
		}
	}
	if err := coordinate(c, r, claim); err != nil {
		return nil, err
	}
	slices.SortFunc(r.Routes, func(a, b Route) int {
		if d := a.Listen.Addr().Compare(b.Listen.Addr()); d != 0 {
			return d
		}
		return cmp.Compare(a.Listen.Port(), b.Listen.Port())
	})
	for _, rt := range r.Routes {
		if err := c.CheckOutside(rt.Listen.Addr(), rt.Line); err != nil {
			return nil, err
		}
	}
	r.proxyWarnings = proxyWarnings(c, r.Routes)
	return r, nil
}

// coordinate adds coordinated mode to the pool routes Compile made: each
// `rotary coordinate` pool's control routes carry the split range, and
// every port of the range on their outside addresses is a data route to
// the member owning it.
func coordinate(c *ios.Config, r *Rules, claim func(netip.AddrPort, string, ios.Pos) error) error {
	for _, co := range c.Rotary.Coordinate {
		pool := findPool(c, co.Pool)
		if pool == nil {
			return &ios.Error{File: c.File, Line: co.NamePos.Line, Column: co.NamePos.Column, Token: co.Pool, Expected: "a pool defined in this file"}
		}
		members := pool.Members()
		cs := co.Slices(len(members))
		if cs == nil {
			return &ios.Error{File: c.File, Line: co.Pos.Line, Column: co.Pos.Column, Token: "rotary",
				Expected: "a passive range with at least one port per pool member",
				Detail:   fmt.Sprintf("pool %s has %d members for %d ports", co.Pool, len(members), int(co.Hi)-int(co.Lo)+1)}
		}
		coord := &Coordination{Pool: co.Pool, Lo: co.Lo, Hi: co.Hi, Public: co.PublicIP, Slices: cs}
		var outside []netip.Addr
		for i := range r.Routes {
			rt := &r.Routes[i]
			if rt.Pool != co.Pool || rt.Owner.IsValid() {
				continue
			}
			if int(rt.Listen.Port()) >= int(co.Lo) && int(rt.Listen.Port()) <= int(co.Hi) {
				return &ios.Error{File: c.File, Line: rt.Line, Column: 1, Token: rt.Listen.String(),
					Expected: "a control port outside the coordinated passive range",
					Detail:   fmt.Sprintf("line %d gives the gateway ports %d-%d of pool %s; drop the access-list entries naming them", co.Pos.Line, co.Lo, co.Hi, co.Pool)}
			}
			rt.Coordinate = coord
			rt.FTPALG = false // the members announce the public address; nothing to rewrite
			if !slices.Contains(outside, rt.Listen.Addr()) {
				outside = append(outside, rt.Listen.Addr())
			}
		}
		if len(outside) == 0 {
			return &ios.Error{File: c.File, Line: co.NamePos.Line, Column: co.NamePos.Column, Token: co.Pool,
				Expected: "a pool an ip nat inside destination rule uses", Detail: "coordinated mode splits the passive range of a pool's control connections"}
		}
		for _, a := range outside {
			for i, sl := range cs {
				for p := int(sl[0]); p <= int(sl[1]); p++ {
					ap := netip.AddrPortFrom(a, uint16(p))
					if err := claim(ap, "rotary coordinate pool "+co.Pool, co.Pos); err != nil {
						return err
					}
					r.Routes = append(r.Routes, Route{Listen: ap, Pool: co.Pool, Members: members, Owner: members[i],
						Coordinate: coord, ProxyProtocol: 2, Line: co.Pos.Line})
				}
			}
		}
	}
	return nil
}

// ftpALG reports whether the FTP ALG watches the connections to listen
// (translated to insidePort): as on IOS, those to port 21 unless `no ip nat
// service alg tcp ftp`, and those to the port of an `ip nat service list
// ACL ftp tcp port N` whose ACL permits listen for some source.
func ftpALG(c *ios.Config, listen netip.AddrPort, insidePort uint16) bool {
	if c.FTPALG.Off {
		return false
	}
	if listen.Port() == 21 || insidePort == 21 {
		return true
	}
	for _, sv := range c.FTPALG.Services {
		if sv.Port != listen.Port() && sv.Port != insidePort {
			continue
		}
		if acl := findACL(c, sv.ACL); acl != nil && acl.Decide(listen) != ios.DeniesAll {
			return true
		}
	}
	return false
}

// ftpControlPorts are the ports that mark a configuration as fronting an
// FTP server: 21, implicit FTPS's 990, and the common unprivileged 2121.
var ftpControlPorts = map[uint16]bool{21: true, 990: true, 2121: true}

// proxyWarnings names every static map and destination rule of an FTP
// setup that forwards without PROXY protocol. Unlike IOS, whose inside
// destination NAT keeps the client's address, the userspace gateway opens
// its own connection to the server: without a PROXY header the server
// sees every client as the gateway, so one client's failed logins ban all
// of them, per-IP limits count them as one, and the data-connection source
// check cannot tell clients apart.
func proxyWarnings(c *ios.Config, routes []Route) []ios.Warning {
	fronts := false
	for _, rt := range routes {
		if ftpControlPorts[rt.Listen.Port()] || (rt.Pool == "" && ftpControlPorts[rt.Static.Port()]) {
			fronts = true
		}
	}
	if !fronts {
		return nil
	}
	fix := func(line string) string {
		if c.Rotary.Strict {
			return "PROXY protocol is a Rotary extension, off under --strict"
		}
		return "add `" + line + "` and give the server --proxy-protocol-from with the gateway's inside address"
	}
	var ws []ios.Warning
	for _, s := range c.StaticMaps {
		if c.Rotary.ProxyVersionForStatic(s.Global) == 0 {
			ws = append(ws, ios.Warning{File: c.File, Line: s.Pos.Line, Column: s.Pos.Column, Message: fmt.Sprintf(
				"static %s -> %s without PROXY protocol: the FTP server sees every client as the gateway's address (one client's failed logins ban all of them, per-IP limits count them as one); %s",
				s.Global, s.Local, fix("rotary proxy-protocol v2 static"))})
		}
	}
	warned := map[string]bool{}
	for _, d := range c.DestinationRules {
		if c.Rotary.ProxyVersionForPool(d.Pool) != 0 || warned[d.Pool] {
			continue
		}
		warned[d.Pool] = true
		ws = append(ws, ios.Warning{File: c.File, Line: d.Pos.Line, Column: d.Pos.Column, Message: fmt.Sprintf(
			"pool %s without PROXY protocol: the FTP server sees every client as the gateway's address, on control or data connections (bans, per-IP limits, passive-port sharing and the data-connection source check work on one address for all); %s",
			d.Pool, fix("rotary proxy-protocol v2 pool "+d.Pool))})
	}
	return ws
}

// destinations lists every (address, port) that a permit entry of acl
// names. Userspace listens port by port, so each permit entry must name a
// finite destination set, and a small one.
func destinations(c *ios.Config, acl *ios.ACL, d *ios.DestinationRule) ([]netip.AddrPort, error) {
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	for _, e := range acl.Entries {
		if e.Action != ios.Permit {
			continue
		}
		why := fmt.Sprintf("the gateway listens on concrete addresses and ports, so access list %s (used on line %d) must name a finite set of destinations", acl.Name, d.Pos.Line)
		if e.Dest.Any {
			return nil, &ios.Error{File: c.File, Line: e.DestPos.Line, Column: e.DestPos.Column, Token: "any",
				Expected: "host A or A WILDCARD", Detail: why}
		}
		if n := e.Dest.Count(); n > MaxListeners {
			return nil, &ios.Error{File: c.File, Line: e.DestPos.Line, Column: e.DestPos.Column, Token: e.Dest.Address.String(),
				Expected: "host A or a wildcard naming fewer addresses", Detail: fmt.Sprintf("%s names %d addresses; %s", e.Dest, n, why)}
		}
		if bad := unlistablePorts(e.DestPort); bad != "" {
			return nil, &ios.Error{File: c.File, Line: e.PortPos.Line, Column: e.PortPos.Column, Token: e.DestPort.Op,
				Expected: "eq, range or lt naming the destination ports", Detail: bad + "; " + why}
		}
		ports := e.DestPort.List()
		if uint64(len(ports))*e.Dest.Count() > MaxListeners {
			return nil, &ios.Error{File: c.File, Line: e.PortPos.Line, Column: e.PortPos.Column, Token: e.DestPort.Op,
				Expected: fmt.Sprintf("at most %d destination ports and addresses", MaxListeners),
				Detail:   "each outside address and port is one listening socket"}
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
		if len(out) > MaxListeners {
			return nil, &ios.Error{File: c.File, Line: e.Pos.Line, Column: e.Pos.Column, Token: string(e.Action),
				Expected: fmt.Sprintf("at most %d destination ports and addresses", MaxListeners), Detail: "each outside address and port is one listening socket"}
		}
	}
	return out, nil
}

// unlistablePorts explains why a destination port match cannot be listened
// on port by port, or is "" when it can. `lt N` can: ports 1..N-1.
func unlistablePorts(m ios.PortMatch) string {
	switch m.Op {
	case "":
		return "no destination port operator means every port; name the ports with eq, range or lt"
	case "neq", "gt":
		return fmt.Sprintf("%q has no upper bound; name the ports with eq, range or lt", m.Op)
	}
	return ""
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

// Plan lists the routes for --print-plan, one line per listener, folding
// consecutive ports that go to the same pool the same way:
// "127.0.0.2:5500..5520 -> pool ftp [userspace]".
func (r *Rules) Plan() []nat.PlanLine {
	var out []nat.PlanLine
	rs := r.Routes
	for i := 0; i < len(rs); {
		j := i + 1
		for rs[i].Pool != "" && j < len(rs) && rs[j].Listen.Addr() == rs[i].Listen.Addr() &&
			rs[j].Pool == rs[i].Pool && rs[j].filteredBy() == rs[i].filteredBy() && rs[j].ProxyProtocol == rs[i].ProxyProtocol && rs[j].Owner == rs[i].Owner &&
			rs[j].FTPALG == rs[i].FTPALG && (rs[j].Coordinate == nil) == (rs[i].Coordinate == nil) &&
			int(rs[j].Listen.Port()) == int(rs[i].Listen.Port())+(j-i) {
			j++
		}
		rt := rs[i]
		l := nat.PlanLine{Outside: rt.Listen, Pool: rt.Pool, Static: rt.Static, ProxyProtocol: rt.ProxyProtocol,
			FilteredBy: rt.filteredBy(), FTPALG: rt.FTPALG, Coordinated: rt.Coordinate != nil, Owner: rt.Owner,
			Datapath: DatapathName, Line: rt.Line}
		if j-i > 1 {
			l.LastPort = rs[j-1].Listen.Port()
		}
		out = append(out, l)
		i = j
	}
	return out
}

// Warnings are the statements Compile found to have no effect in userspace.
func (r *Rules) Warnings() []ios.Warning {
	return append(slices.Clone(r.warnings), r.proxyWarnings...)
}

// ProxyWarnings are the warnings, among Warnings, that an FTP setup's line
// forwards without PROXY protocol: true of a userspace listener (it opens
// its own connection to the server), not of a datapath that keeps the
// client's address (kernel DNAT), which may leave them out for its lines.
func (r *Rules) ProxyWarnings() []ios.Warning { return r.proxyWarnings }

// OtherWarnings are Warnings without ProxyWarnings.
func (r *Rules) OtherWarnings() []ios.Warning { return r.warnings }
