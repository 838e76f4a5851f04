package ios

import (
	"fmt"
	"math/bits"
	"net/netip"
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

// count is how many addresses the set names (0 for any: unbounded).
func (m AddrMatch) count() int {
	if m.Any {
		return 0
	}
	return 1 << bits.OnesCount32(u32(m.Wildcard))
}

// addresses enumerates the set; callers check count first.
func (m AddrMatch) addresses() []netip.Addr {
	w := u32(m.Wildcard)
	base := u32(m.Address) &^ w
	var free []uint
	for i := uint(0); i < 32; i++ {
		if w&(1<<i) != 0 {
			free = append(free, i)
		}
	}
	out := make([]netip.Addr, 0, 1<<len(free))
	for k := 0; k < 1<<len(free); k++ {
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

// listPorts enumerates the set of listenable ports (1-65535), or explains why it cannot.
func (m PortMatch) listPorts() ([]uint16, string) {
	var out []uint16
	switch m.Op {
	case "":
		return nil, "no destination port operator means every port; name the ports with eq, range or lt"
	case "neq", "gt":
		return nil, fmt.Sprintf("%q has no upper bound; name the ports with eq, range or lt", m.Op)
	case "eq":
		for _, p := range m.Ports {
			if p != 0 {
				out = append(out, p)
			}
		}
	case "lt":
		for p := 1; p < int(m.Ports[0]); p++ {
			out = append(out, uint16(p))
		}
	case "range":
		for p := max(int(m.Ports[0]), 1); p <= int(m.Ports[1]); p++ {
			out = append(out, uint16(p))
		}
	}
	return out, ""
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
