package ios

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
)

// AddrMatch is an ACL address: `any`, `host A` (Wildcard 0.0.0.0) or `A WILDCARD`.
type AddrMatch struct {
	Any      bool       `json:"any,omitempty"`
	Address  netip.Addr `json:"address,omitzero"`
	Wildcard netip.Addr `json:"wildcard,omitzero"`
}

func (m AddrMatch) String() string {
	switch {
	case m.Any:
		return "any"
	case m.Wildcard == netip.IPv4Unspecified() || !m.Wildcard.IsValid():
		return "host " + m.Address.String()
	default:
		return m.Address.String() + " " + m.Wildcard.String()
	}
}

// Match reports whether a is in the set: bits set in the wildcard are "don't care".
func (m AddrMatch) Match(a netip.Addr) bool {
	if m.Any {
		return true
	}
	a = a.Unmap()
	if !a.Is4() || !m.Address.Is4() {
		return false
	}
	w := u32(m.Wildcard)
	return u32(a)&^w == u32(m.Address)&^w
}

// Count is how many addresses the set names; `any` is the whole IPv4
// space, 1<<32.
func (m AddrMatch) Count() uint64 {
	if m.Any {
		return 1 << 32
	}
	return 1 << bits.OnesCount32(u32(m.Wildcard))
}

// Addresses enumerates the set in ascending order. It allocates Count()
// addresses, so callers bound Count first.
func (m AddrMatch) Addresses() []netip.Addr {
	var w, base uint32
	if m.Any {
		w = ^uint32(0)
	} else {
		w = u32(m.Wildcard)
		base = u32(m.Address) &^ w
	}
	var free []uint
	for i := uint(0); i < 32; i++ {
		if w&(1<<i) != 0 {
			free = append(free, i)
		}
	}
	out := make([]netip.Addr, 0, m.Count())
	for k := uint64(0); k < 1<<len(free); k++ {
		v := base
		for j, bit := range free {
			if k&(1<<j) != 0 {
				v |= 1 << bit
			}
		}
		out = append(out, fromU32(v))
	}
	return out
}

func u32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// PortMatch is an ACL port operator; the zero value (no operator) matches every port.
type PortMatch struct {
	Op    string   `json:"op,omitempty"` // eq, neq, lt, gt, range
	Ports []uint16 `json:"ports,omitempty"`
}

func (m PortMatch) String() string {
	if m.Op == "" {
		return ""
	}
	s := m.Op
	for _, p := range m.Ports {
		s += " " + strconv.Itoa(int(p))
	}
	return s
}

// Match reports whether port p is in the set.
func (m PortMatch) Match(p uint16) bool {
	switch m.Op {
	case "":
		return true
	case "eq":
		for _, q := range m.Ports {
			if p == q {
				return true
			}
		}
		return false
	case "neq":
		for _, q := range m.Ports {
			if p == q {
				return false
			}
		}
		return true
	case "lt":
		return p < m.Ports[0]
	case "gt":
		return p > m.Ports[0]
	case "range":
		return p >= m.Ports[0] && p <= m.Ports[1]
	}
	return false
}

// List enumerates the ports of the set that a TCP socket can use (1-65535),
// each once: eq's in the order written, as IOS shows them, the others in
// ascending order (up to 65535 of them for neq, gt or no operator).
func (m PortMatch) List() []uint16 {
	lo, hi := 1, 65535
	switch m.Op {
	case "eq":
		var out []uint16
		for _, p := range m.Ports {
			if p != 0 && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		return out
	case "lt":
		hi = int(m.Ports[0]) - 1
	case "gt":
		lo = int(m.Ports[0]) + 1
	case "range":
		lo, hi = max(int(m.Ports[0]), 1), int(m.Ports[1])
	}
	var out []uint16
	for p := lo; p <= hi; p++ {
		if m.Match(uint16(p)) {
			out = append(out, uint16(p))
		}
	}
	return out
}

// Permits evaluates the list for a connection from src to dst the way IOS
// does: the first matching entry decides, and no match is an implicit deny.
func (a *ACL) Permits(src, dst netip.AddrPort) bool {
	for _, e := range a.Entries {
		if e.matches(src, dst) {
			return e.Action == Permit
		}
	}
	return false
}

// Decision is what an access list decides for one destination over every
// possible source.
type Decision int

const (
	// DeniesAll: no source is permitted; IOS would not translate the
	// destination at all.
	DeniesAll Decision = iota
	// PermitsAll: every source is permitted.
	PermitsAll
	// BySource: the answer depends on the source, so Permits must be
	// evaluated for each connection.
	BySource
)

func (d Decision) String() string {
	switch d {
	case DeniesAll:
		return "denies all"
	case PermitsAll:
		return "permits all"
	case BySource:
		return "by source"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Decide evaluates the list for destination dst over every source, first
// match with the implicit deny at the end. An entry that matches only some
// sources (a source address or port) makes the answer BySource unless a
// later entry decides for the rest; BySource is also the answer where
// entries shadow each other in ways the walk does not see, so it errs
// towards evaluating per connection, never towards permitting.
func (a *ACL) Decide(dst netip.AddrPort) Decision {
	permitSome, bySource := false, false
	for _, e := range a.Entries {
		if !e.Dest.Match(dst.Addr()) || !e.DestPort.Match(dst.Port()) {
			continue
		}
		everySource := e.Source.Any && e.SourcePort.Op == ""
		switch {
		case e.Action == Permit && everySource:
			if bySource {
				return BySource
			}
			return PermitsAll
		case e.Action == Permit:
			permitSome, bySource = true, true
		case everySource:
			if permitSome {
				return BySource
			}
			return DeniesAll
		default:
			bySource = true
		}
	}
	if permitSome {
		return BySource
	}
	return DeniesAll
}

func (e *ACLEntry) matches(src, dst netip.AddrPort) bool {
	return e.Source.Match(src.Addr()) && e.SourcePort.Match(src.Port()) &&
		e.Dest.Match(dst.Addr()) && e.DestPort.Match(dst.Port())
}

// tcpPortNames are the names IOS accepts in place of TCP port numbers
// (`access-list 100 permit tcp any any eq ?`).
var tcpPortNames = map[string]uint16{
	"bgp": 179, "chargen": 19, "cmd": 514, "daytime": 13, "discard": 9,
	"domain": 53, "echo": 7, "exec": 512, "finger": 79, "ftp": 21,
	"ftp-data": 20, "gopher": 70, "hostname": 101, "ident": 113, "irc": 194,
	"klogin": 543, "kshell": 544, "login": 513, "lpd": 515, "msrpc": 135,
	"nntp": 119, "onep-plain": 15001, "onep-tls": 15002, "pim-auto-rp": 496,
	"pop2": 109, "pop3": 110, "smtp": 25, "sunrpc": 111, "tacacs": 49,
	"talk": 517, "telnet": 23, "time": 37, "uucp": 540, "whois": 43, "www": 80,
}
