package ios

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Plan is what the gateway runs: one listener per (outside address, port),
// each sending its connections to a pool or a static map. The runner
// executes it without looking at the IOS text or the ACLs' structure.
type Plan struct {
	Listeners []Listener `json:"listeners"`
}

// Listener is one outside (address, port) and where its connections go.
type Listener struct {
	Address netip.AddrPort `json:"address"`
	// Pool names the rotary pool for `ip nat inside destination`; the
	// destination port is kept and Members are picked round-robin.
	Pool    string       `json:"pool,omitempty"`
	Members []netip.Addr `json:"members,omitempty"`
	// Static is the inside local address and port of a static map.
	Static netip.AddrPort `json:"static,omitzero"`
	// ProxyProtocol is the PROXY protocol version to send first (0: none).
	ProxyProtocol int `json:"proxy_protocol,omitempty"`
	// ACL is set when the access list permits only some sources here; the
	// runner then evaluates Filter for each connection.
	ACL    string `json:"access_list,omitempty"`
	Filter *ACL   `json:"-"`
	// Line is the statement that produced the listener.
	Line int `json:"line"`
}

// Target describes where connections go: "pool NAME" or "static A:P".
func (l Listener) Target() string {
	if l.Pool != "" {
		return "pool " + l.Pool
	}
	return "static " + l.Static.String()
}

// Permits reports whether a connection from src may use this listener.
func (l Listener) Permits(src netip.AddrPort) bool {
	return l.Filter == nil || l.Filter.Permits(src, l.Address)
}

// String lists the plan one line per listener, folding consecutive ports
// that go to the same pool: "127.0.0.2:5500..5520 -> pool ftp".
func (p *Plan) String() string {
	var b strings.Builder
	ls := p.Listeners
	for i := 0; i < len(ls); {
		j := i + 1
		for ls[i].Pool != "" && j < len(ls) && ls[j].Address.Addr() == ls[i].Address.Addr() &&
			ls[j].Pool == ls[i].Pool && ls[j].ACL == ls[i].ACL && ls[j].ProxyProtocol == ls[i].ProxyProtocol &&
			int(ls[j].Address.Port()) == int(ls[i].Address.Port())+(j-i) {
			j++
		}
		l := ls[i]
		if j-i > 1 {
			fmt.Fprintf(&b, "%s..%d -> %s", l.Address, ls[j-1].Address.Port(), l.Target())
		} else {
			fmt.Fprintf(&b, "%s -> %s", l.Address, l.Target())
		}
		if l.ProxyProtocol != 0 {
			fmt.Fprintf(&b, " (proxy-protocol v%d)", l.ProxyProtocol)
		}
		if l.ACL != "" {
			fmt.Fprintf(&b, " (sources filtered by list %s)", l.ACL)
		}
		b.WriteString("\n")
		i = j
	}
	return b.String()
}

// Plan derives the listeners from the model. Each destination rule's ACL is
// evaluated first-match, with the implicit deny at the end, for every
// (address, port) its permit entries name; a pair where a deny wins for every
// source gets no listener (see the package doc: IOS would route it untouched).
// Two rules claiming one outside (address, port) are an error, and so is an
// ACL whose permitted destinations cannot be listed.
func (c *Config) Plan() (*Plan, error) {
	errAt := func(pos Pos, tok, expected, detail string) error {
		return &Error{File: c.File, Line: pos.Line, Column: pos.Column, Token: tok, Expected: expected, Detail: detail}
	}
	claimed := map[netip.AddrPort]string{}
	claim := func(ap netip.AddrPort, by string, pos Pos) error {
		if prev, ok := claimed[ap]; ok {
			return errAt(pos, ap.String(), "an outside address and port no other rule uses", fmt.Sprintf("%s is already taken by %s", ap, prev))
		}
		claimed[ap] = fmt.Sprintf("%s (line %d)", by, pos.Line)
		if len(claimed) > MaxListeners {
			return errAt(pos, ap.String(), fmt.Sprintf("at most %d listeners in all", MaxListeners), "each outside address and port is one listening socket")
		}
		return nil
	}
	plan := &Plan{}
	for _, s := range c.StaticMaps {
		if err := claim(s.Global, "ip nat inside source static", s.Pos); err != nil {
			return nil, err
		}
		plan.Listeners = append(plan.Listeners, Listener{
			Address: s.Global, Static: s.Local, Line: s.Pos.Line,
			ProxyProtocol: c.Rotary.ProxyVersionForStatic(s.Global),
		})
	}
	for _, r := range c.DestinationRules {
		acl := c.acl(r.ACL)
		pool := c.pool(r.Pool)
		if acl == nil || pool == nil {
			return nil, errAt(r.Pos, r.ACL, "an access list and a pool defined in this file", "")
		}
		cands, err := c.destinations(acl, r)
		if err != nil {
			return nil, err
		}
		members := pool.Members()
		for _, dst := range cands {
			d := acl.Decide(dst)
			if d == DeniesAll {
				continue
			}
			if err := claim(dst, fmt.Sprintf("ip nat inside destination list %s pool %s", acl.Name, pool.Name), r.Pos); err != nil {
				return nil, err
			}
			l := Listener{Address: dst, Pool: pool.Name, Members: members, Line: r.Pos.Line,
				ProxyProtocol: c.Rotary.ProxyVersionForPool(pool.Name)}
			if d == BySource {
				l.ACL, l.Filter = acl.Name, acl
			}
			plan.Listeners = append(plan.Listeners, l)
		}
	}
	slices.SortFunc(plan.Listeners, func(a, b Listener) int {
		if d := a.Address.Addr().Compare(b.Address.Addr()); d != 0 {
			return d
		}
		return cmp.Compare(a.Address.Port(), b.Address.Port())
	})
	return plan, nil
}

// destinations lists every (address, port) that a permit entry of acl names.
func (c *Config) destinations(acl *ACL, r *DestinationRule) ([]netip.AddrPort, error) {
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	for _, e := range acl.Entries {
		if e.Action != Permit {
			continue
		}
		why := fmt.Sprintf("the gateway listens on concrete addresses and ports, so access list %s (used on line %d) must name a finite set of destinations", acl.Name, r.Pos.Line)
		if e.Dest.Any {
			return nil, &Error{File: c.File, Line: e.DestPos.Line, Column: e.DestPos.Column, Token: "any",
				Expected: "host A or A WILDCARD", Detail: why}
		}
		if n := e.Dest.Count(); n > MaxListeners {
			return nil, &Error{File: c.File, Line: e.DestPos.Line, Column: e.DestPos.Column, Token: e.Dest.Address.String(),
				Expected: "host A or a wildcard naming fewer addresses", Detail: fmt.Sprintf("%s names %d addresses; %s", e.Dest, n, why)}
		}
		if bad := unlistablePorts(e.DestPort); bad != "" {
			tok := e.DestPort.Op
			return nil, &Error{File: c.File, Line: e.PortPos.Line, Column: e.PortPos.Column, Token: tok,
				Expected: "eq, range or lt naming the destination ports", Detail: bad + "; " + why}
		}
		ports := e.DestPort.List()
		if uint64(len(ports))*e.Dest.Count() > MaxListeners {
			return nil, &Error{File: c.File, Line: e.PortPos.Line, Column: e.PortPos.Column, Token: e.DestPort.Op,
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
			return nil, &Error{File: c.File, Line: e.Pos.Line, Column: e.Pos.Column, Token: string(e.Action),
				Expected: fmt.Sprintf("at most %d destination ports and addresses", MaxListeners), Detail: "each outside address and port is one listening socket"}
		}
	}
	return out, nil
}

// unlistablePorts explains why a destination port match cannot be
// listened on port by port, or is "" when it can.
func unlistablePorts(m PortMatch) string {
	switch m.Op {
	case "":
		return "no destination port operator means every port; name the ports with eq, range or lt"
	case "neq", "gt":
		return fmt.Sprintf("%q has no upper bound; name the ports with eq, range or lt", m.Op)
	}
	return ""
}

func (c *Config) acl(name string) *ACL {
	for _, a := range c.ACLs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func (c *Config) pool(name string) *Pool {
	for _, p := range c.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}
