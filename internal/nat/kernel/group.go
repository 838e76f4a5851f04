package kernel

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat/forward"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// poolGroup is the pool routes one nftables rule runs: the same outside
// address, pool and members (after health), their ports one set.
type poolGroup struct {
	addr    netip.Addr
	pool    string
	members []netip.Addr
	ports   []uint16
	lines   []int
	// acl, when set, decides by source for each connection (first match,
	// implicit deny): the group's rules are its entries, in order.
	acl *ios.ACL
}

// groupPools groups the pool routes in order of first appearance.
func groupPools(routes []forward.Route) []poolGroup {
	var out []poolGroup
	for _, r := range routes {
		if r.Pool == "" {
			continue
		}
		i := slices.IndexFunc(out, func(g poolGroup) bool {
			return g.addr == r.Listen.Addr() && g.pool == r.Pool && slices.Equal(g.members, r.Members) && g.acl == r.ACL
		})
		if i < 0 {
			out = append(out, poolGroup{addr: r.Listen.Addr(), pool: r.Pool, members: r.Members, acl: r.ACL})
			i = len(out) - 1
		}
		g := &out[i]
		g.ports = append(g.ports, r.Listen.Port())
		if !slices.Contains(g.lines, r.Line) {
			g.lines = append(g.lines, r.Line)
		}
	}
	return out
}

// runs are the group's ports as sorted runs of consecutive ports [lo, hi].
func (g poolGroup) runs() [][2]uint16 { return portRuns(g.ports) }

// portRuns are ports as sorted runs of consecutive ports [lo, hi].
func portRuns(ports []uint16) [][2]uint16 {
	ps := slices.Clone(ports)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	var out [][2]uint16
	for _, p := range ps {
		if n := len(out); n > 0 && int(out[n-1][1])+1 == int(p) {
			out[n-1][1] = p
			continue
		}
		out = append(out, [2]uint16{p, p})
	}
	return out
}

// outsidePorts are the outside addresses of routes, in order of first
// appearance, each with its ports.
func outsidePorts(routes []forward.Route) ([]netip.Addr, map[netip.Addr][]uint16) {
	var addrs []netip.Addr
	ports := map[netip.Addr][]uint16{}
	for _, r := range routes {
		a := r.Listen.Addr()
		if _, ok := ports[a]; !ok {
			addrs = append(addrs, a)
		}
		ports[a] = append(ports[a], r.Listen.Port())
	}
	return addrs, ports
}

// lineComment is a rule's owner mark: "rotary gateway line 4", or
// "rotary gateway lines 4, 7" for a set built from several lines.
func lineComment(lines []int) string {
	if len(lines) == 1 {
		return fmt.Sprintf("rotary gateway line %d", lines[0])
	}
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = fmt.Sprint(l)
	}
	return "rotary gateway lines " + strings.Join(s, ", ")
}

// kflow is one conntrack entry, as the show commands need it.
type kflow struct {
	tcp, dnat bool
	// origSrc is the client, origDst what it reached (the outside address),
	// replySrc the inside host the kernel sent it to.
	origSrc, origDst, replySrc netip.AddrPort
	timeout                    time.Duration
	start                      time.Time // zero unless nf_conntrack_timestamp is on
}
