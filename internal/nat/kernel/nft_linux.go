//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/rotary-ftp/rotary/internal/nat/forward"
)

// available lists the tables of the current network namespace: without
// CAP_NET_ADMIN the kernel refuses (EPERM).
func available() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("kernel datapath: netlink to nftables: %w", err)
	}
	defer c.CloseLasting()
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("kernel datapath: listing nftables tables: %w (needs CAP_NET_ADMIN)", err)
		}
		return fmt.Errorf("kernel datapath: listing nftables tables: %w", err)
	}
	return nil
}

func table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
}

// comment is nft's rule comment (NFTNL_UDATA_RULE_COMMENT TLV): Rotary's
// owner mark, shown by `nft list table ip rotary`.
func comment(s string) []byte {
	b := append([]byte(s), 0)
	return append([]byte{0, byte(len(b))}, b...)
}

// program replaces the table with one holding routes, in one netlink
// batch: add (so a missing table can be deleted), delete, add again,
// then the chains, sets, maps and rules. The kernel applies it all or
// nothing. Each static map is one rule; the ports of a pool on one
// outside address (an ACL range) are one set and one rule, so a range of
// 4,000 passive ports is a hash lookup, not 4,000 rules, and the pool's
// round robin (one numgen counter per rule) runs across all its ports,
// as one IOS rotary pool does.
func program(routes []forward.Route) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("kernel datapath: netlink to nftables: %w", err)
	}
	defer c.CloseLasting()
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	// The output hook translates connections the gateway's own host opens.
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	add := func(exprs []expr.Any, lines []int) {
		for _, ch := range []*nftables.Chain{pre, out} {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: comment(lineComment(lines))})
		}
	}
	for _, r := range routes {
		if r.Pool == "" {
			exprs, err := staticExprs(r)
			if err != nil {
				return err
			}
			add(exprs, []int{r.Line})
		}
	}
	for i, g := range groupPools(routes) {
		exprs, err := poolExprs(c, t, i, g)
		if err != nil {
			return err
		}
		add(exprs, g.lines)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("kernel datapath: programming table ip %s (%d routes): %w", TableName, len(routes), err)
	}
	return nil
}

// match is `meta l4proto tcp ip daddr A`.
func match(a netip.Addr) []expr.Any {
	a4 := a.As4()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a4[:]},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// staticExprs is `ip daddr A tcp dport P counter dnat to L:Q`.
func staticExprs(r forward.Route) ([]expr.Any, error) {
	if !r.Static.Addr().Is4() {
		return nil, fmt.Errorf("kernel datapath: line %d: static %s is not IPv4", r.Line, r.Static)
	}
	s4 := r.Static.Addr().As4()
	return append(match(r.Listen.Addr()),
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Listen.Port())},
		&expr.Counter{},
		&expr.Immediate{Register: 1, Data: s4[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.Static.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	), nil
}

// poolExprs is `ip daddr A tcp dport @portsI counter dnat to numgen inc
// mod N map @poolI`: the group's ports as an interval set, its members as
// a map from the numgen value.
func poolExprs(c *nftables.Conn, t *nftables.Table, i int, g poolGroup) ([]expr.Any, error) {
	line := g.lines[0]
	if len(g.members) == 0 {
		return nil, fmt.Errorf("kernel datapath: line %d: pool %s has no members", line, g.pool)
	}
	ports := &nftables.Set{Table: t, Name: fmt.Sprintf("ports%d", i), KeyType: nftables.TypeInetService, Interval: true}
	var pe []nftables.SetElement
	for _, rg := range g.runs() {
		pe = append(pe, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(rg[0])})
		if rg[1] < 65535 { // the interval's end is the first port after it; none after 65535
			pe = append(pe, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(rg[1] + 1), IntervalEnd: true})
		}
	}
	if err := c.AddSet(ports, pe); err != nil {
		return nil, fmt.Errorf("kernel datapath: line %d: ports of pool %s: %w", line, g.pool, err)
	}
	members := &nftables.Set{Table: t, Name: fmt.Sprintf("pool%d", i), IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr}
	var me []nftables.SetElement
	for j, m := range g.members {
		if !m.Is4() {
			return nil, fmt.Errorf("kernel datapath: line %d: pool %s member %s is not IPv4", line, g.pool, m)
		}
		m4 := m.As4()
		me = append(me, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(j)), Val: m4[:]})
	}
	if err := c.AddSet(members, me); err != nil {
		return nil, fmt.Errorf("kernel datapath: line %d: map of pool %s: %w", line, g.pool, err)
	}
	return append(match(g.addr),
		&expr.Lookup{SourceRegister: 1, SetName: ports.Name, SetID: ports.ID},
		&expr.Counter{},
		&expr.Numgen{Register: 1, Modulus: uint32(len(g.members)), Type: unix.NFT_NG_INCREMENTAL},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: members.Name, SetID: members.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	), nil
}

// hits sums the rules' counters in both chains: nat chains see only the
// first packet of a connection, so this is connections translated.
func hits() (uint64, error) {
	c, err := nftables.New()
	if err != nil {
		return 0, fmt.Errorf("kernel datapath: netlink to nftables: %w", err)
	}
	defer c.CloseLasting()
	t := table()
	var n uint64
	for _, name := range []string{"prerouting", "output"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			return 0, fmt.Errorf("kernel datapath: reading chain %s: %w", name, err)
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					n += ctr.Packets
				}
			}
		}
	}
	return n, nil
}

// flows dumps the kernel's conntrack table (the gateway's namespace).
func flows() ([]kflow, error) {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("kernel datapath: netlink to conntrack: %w", err)
	}
	defer c.Close()
	fs, err := c.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("kernel datapath: dumping conntrack: %w", err)
	}
	out := make([]kflow, 0, len(fs))
	for _, f := range fs {
		o, r := f.TupleOrig, f.TupleReply
		out = append(out, kflow{
			tcp:      o.Proto.Protocol == unix.IPPROTO_TCP,
			dnat:     f.Status.DstNAT(),
			origSrc:  netip.AddrPortFrom(o.IP.SourceAddress, o.Proto.SourcePort),
			origDst:  netip.AddrPortFrom(o.IP.DestinationAddress, o.Proto.DestinationPort),
			replySrc: netip.AddrPortFrom(r.IP.SourceAddress, r.Proto.SourcePort),
			timeout:  time.Duration(f.Timeout) * time.Second,
			start:    f.Timestamp.Start,
		})
	}
	return out, nil
}

// remove deletes the table; a table already gone is no error.
func remove() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("kernel datapath: netlink to nftables: %w", err)
	}
	defer c.CloseLasting()
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("kernel datapath: removing table ip %s: %w", TableName, err)
	}
	return nil
}
