//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/rotary-ftp/rotary/internal/nat/forward"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
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
//
// When totals is set, the table replaced is the running one: its counters
// are read just before the batch goes and carried into totals (a few
// packets counted in between are not carried); a batch the kernel
// refuses leaves totals as they were.
func program(routes []forward.Route, masquerade bool, totals *carry) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("kernel datapath: netlink to nftables: %w", err)
	}
	defer c.CloseLasting()
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	if err := addCounting(c, t, routes); err != nil {
		return err
	}
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	// The output hook translates connections the gateway's own host opens.
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	if masquerade {
		// Connections the table translated (their ct mark) leave with the
		// gateway's own address, so that replies come back through it.
		post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
		c.AddRule(&nftables.Rule{Table: t, Chain: post, UserData: comment("rotary gateway --masquerade"), Exprs: []expr.Any{
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(ctMark)},
			&expr.Counter{},
			&expr.Masq{},
		}})
	}
	mark := func(exprs []expr.Any) []expr.Any {
		if !masquerade {
			return exprs
		}
		// ct mark set ctMark, just before the translation (whose
		// registers are loaded after it).
		i := slices.IndexFunc(exprs, func(e expr.Any) bool { _, ok := e.(*expr.Counter); return ok })
		if i < 0 || isReturn(exprs) {
			return exprs
		}
		set := []expr.Any{
			&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(ctMark)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
		}
		return concat(exprs[:i+1], set, exprs[i+1:])
	}
	add := func(exprs []expr.Any, lines []int) {
		exprs = mark(exprs)
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
		rules, err := poolRules(c, t, i, g)
		if err != nil {
			return err
		}
		for _, exprs := range rules {
			add(exprs, g.lines)
		}
	}
	var before carry
	if totals != nil {
		before = *totals
		final, rerr := readCounters()
		totals.replaced(final, rerr == nil)
	}
	if err := c.Flush(); err != nil {
		if totals != nil {
			*totals = before
		}
		return fmt.Errorf("kernel datapath: programming table ip %s (%d routes): %w", TableName, len(routes), err)
	}
	return nil
}

// The table's byte counters (see counters.go for why these).
const (
	counterFromClient = "from_client"
	counterFromInside = "from_inside"
	// countPriority runs the counting chains after the filter (0),
	// security (50) and source NAT (100) chains of their hooks, so that
	// a packet another table drops there is not counted.
	countPriority = 200
	// arphrdLoopback is the loopback device's type (ARPHRD_LOOPBACK).
	arphrdLoopback = 772
	// ipsDstNAT is conntrack's status bit of a destination-NATed
	// connection, ctDirOriginal and ctDirReply its directions
	// (linux/netfilter/nf_conntrack_common.h).
	ipsDstNAT     = 1 << 5
	ctDirOriginal = 0
	ctDirReply    = 1
)

// addCounting adds the named counters and the chains that feed them, with
// a set of ports per outside address. (One set keyed by `ct original ip
// daddr . ct original proto-dst` would do, but the ct key this library
// can send for the address, NFT_CT_DST, makes nft 1.0.6 abort while
// listing the table when it is part of a concatenation.)
//
//	set countedI { type inet_service; flags interval; elements = { 2121, 5500-5520 } }
//	chain count_input { type filter hook input priority 200; policy accept;
//	  meta l4proto tcp ct status dnat ct original ip daddr A ct original proto-dst @countedI ct direction original counter name "from_client"
//	  meta l4proto tcp ct status dnat ct original ip daddr A ct original proto-dst @countedI ct direction reply counter name "from_inside" }
//	chain count_postrouting { type filter hook postrouting priority 200; policy accept;
//	  the same rules, after meta oiftype != loopback }
//
// A packet between two local sockets leaves through the loopback device
// (postrouting) and comes back in (input): it is counted at input only.
func addCounting(c *nftables.Conn, t *nftables.Table, routes []forward.Route) error {
	if len(routes) == 0 {
		return nil
	}
	c.AddObj(&nftables.CounterObj{Table: t, Name: counterFromClient})
	c.AddObj(&nftables.CounterObj{Table: t, Name: counterFromInside})
	addrs, ports := outsidePorts(routes)
	var translated [][]expr.Any // per outside address
	for i, a := range addrs {
		set := &nftables.Set{Table: t, Name: fmt.Sprintf("counted%d", i), KeyType: nftables.TypeInetService, Interval: true}
		if err := c.AddSet(set, intervals(portRuns(ports[a]))); err != nil {
			return fmt.Errorf("kernel datapath: counted ports of %s: %w", a, err)
		}
		a4 := a.As4()
		translated = append(translated, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
			&expr.Ct{Key: expr.CtKeyDST, Register: 1, Direction: ctDirOriginal},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a4[:]},
			&expr.Ct{Key: expr.CtKeyPROTODST, Register: 1, Direction: ctDirOriginal},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
			&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
		})
	}
	notLoopback := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(arphrdLoopback)},
	}
	for _, h := range []struct {
		name  string
		hook  *nftables.ChainHook
		first []expr.Any
	}{
		{"count_input", nftables.ChainHookInput, nil},
		{"count_postrouting", nftables.ChainHookPostrouting, notLoopback},
	} {
		ch := c.AddChain(&nftables.Chain{Name: h.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: h.hook, Priority: nftables.ChainPriorityRef(countPriority)})
		for _, match := range translated {
			for _, dir := range []struct {
				ct      uint8
				counter string
			}{{ctDirOriginal, counterFromClient}, {ctDirReply, counterFromInside}} {
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, UserData: comment("rotary gateway bytes " + dir.counter),
					Exprs: concat(h.first, match, []expr.Any{
						&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{dir.ct}},
						&expr.Objref{Type: unix.NFT_OBJECT_COUNTER, Name: dir.counter},
					})})
			}
		}
	}
	return nil
}

// ctMark marks the connections the table translated, for --masquerade:
// "ROTY".
const ctMark = 0x524f5459

func isReturn(exprs []expr.Any) bool {
	v, ok := exprs[len(exprs)-1].(*expr.Verdict)
	return ok && v.Kind == expr.VerdictReturn
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

// poolRules are a pool group's rules over one interval set of its ports,
// @portsI, and one map of its members, @poolI:
//
//	ip daddr A tcp dport @portsI counter dnat to numgen inc mod N map @poolI
//
// or, when its access list decides by source, one rule per entry that can
// match (in the list's order: the first match decides), a permit
// translating and a deny ending the chain untranslated (`return`); a
// connection no entry matches is not translated, IOS's implicit deny.
func poolRules(c *nftables.Conn, t *nftables.Table, i int, g poolGroup) ([][]expr.Any, error) {
	line := g.lines[0]
	if len(g.members) == 0 {
		return nil, fmt.Errorf("kernel datapath: line %d: pool %s has no members", line, g.pool)
	}
	ports := &nftables.Set{Table: t, Name: fmt.Sprintf("ports%d", i), KeyType: nftables.TypeInetService, Interval: true}
	if err := c.AddSet(ports, intervals(g.runs())); err != nil {
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
	head := append(match(g.addr), &expr.Lookup{SourceRegister: 1, SetName: ports.Name, SetID: ports.ID})
	translate := []expr.Any{
		&expr.Counter{},
		&expr.Numgen{Register: 1, Modulus: uint32(len(g.members)), Type: unix.NFT_NG_INCREMENTAL},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: members.Name, SetID: members.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}
	if g.acl == nil {
		return [][]expr.Any{concat(head, translate)}, nil
	}
	var rules [][]expr.Any
	for _, e := range g.acl.Entries {
		if !e.Dest.Match(g.addr) || !slices.ContainsFunc(g.ports, e.DestPort.Match) {
			continue // cannot match a connection this group sees
		}
		dport := [][]expr.Any{nil} // every port of the set matches
		if !all(g.ports, e.DestPort.Match) {
			dport = portAlternatives(e.DestPort) // the port is still in register 1
		}
		src, err := sourceExprs(e.Source)
		if err != nil {
			return nil, fmt.Errorf("kernel datapath: line %d: access list %s: %w", e.Pos.Line, g.acl.Name, err)
		}
		verdict := translate
		if e.Action != ios.Permit {
			verdict = []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictReturn}}
		}
		for _, dp := range dport {
			for _, sp := range portAlternatives(e.SourcePort) {
				if len(sp) > 0 {
					sp = concat([]expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2}}, sp)
				}
				rules = append(rules, concat(head, dp, src, sp, verdict))
			}
		}
	}
	return rules, nil
}

// intervals are the elements of an interval set of ports holding runs.
func intervals(runs [][2]uint16) []nftables.SetElement {
	var out []nftables.SetElement
	for _, rg := range runs {
		out = append(out, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(rg[0])})
		if rg[1] < 65535 { // the interval's end is the first port after it; none after 65535
			out = append(out, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(rg[1] + 1), IntervalEnd: true})
		}
	}
	return out
}

// portAlternatives are the ways a port in register 1 (network order) can
// match m, each a list of expressions that must all hold: one per port of
// eq, one list for the other operators, one empty list for none.
func portAlternatives(m ios.PortMatch) [][]expr.Any {
	be := binaryutil.BigEndian.PutUint16
	cmp := func(op expr.CmpOp, p uint16) expr.Any { return &expr.Cmp{Op: op, Register: 1, Data: be(p)} }
	switch m.Op {
	case "eq":
		var out [][]expr.Any
		for _, p := range m.Ports {
			out = append(out, []expr.Any{cmp(expr.CmpOpEq, p)})
		}
		return out
	case "neq":
		var all []expr.Any
		for _, p := range m.Ports {
			all = append(all, cmp(expr.CmpOpNeq, p))
		}
		return [][]expr.Any{all}
	case "lt":
		return [][]expr.Any{{cmp(expr.CmpOpLt, m.Ports[0])}}
	case "gt":
		return [][]expr.Any{{cmp(expr.CmpOpGt, m.Ports[0])}}
	case "range":
		return [][]expr.Any{{cmp(expr.CmpOpGte, m.Ports[0]), cmp(expr.CmpOpLte, m.Ports[1])}}
	}
	return [][]expr.Any{nil}
}

// sourceExprs matches `ip saddr` against an IOS address and wildcard
// (`& mask == address`, a wildcard's bits being those ignored; it need
// not be contiguous).
func sourceExprs(m ios.AddrMatch) ([]expr.Any, error) {
	if m.Any {
		return nil, nil
	}
	if !m.Address.Is4() {
		return nil, fmt.Errorf("source %s is not IPv4", m)
	}
	a := m.Address.As4()
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	if !m.Wildcard.IsValid() || m.Wildcard == netip.IPv4Unspecified() {
		return []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]}}, nil
	}
	w := m.Wildcard.As4()
	var mask, want [4]byte
	for i := range 4 {
		mask[i] = ^w[i]
		want[i] = a[i] & mask[i]
	}
	return []expr.Any{load,
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: want[:]},
	}, nil
}

func all(ports []uint16, f func(uint16) bool) bool {
	for _, p := range ports {
		if !f(p) {
			return false
		}
	}
	return true
}

// concat copies the lists into one (the head is shared between rules).
func concat(lists ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// readCounters reads the table's counters: the DNAT rules' in both nat
// chains (nat chains see only the first packet of a connection, so their
// packets are connections translated) and the two byte counters.
func readCounters() (tableCounters, error) {
	var n tableCounters
	c, err := nftables.New()
	if err != nil {
		return n, fmt.Errorf("kernel datapath: netlink to nftables: %w", err)
	}
	defer c.CloseLasting()
	t := table()
	for _, name := range []string{"prerouting", "output"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			return n, fmt.Errorf("kernel datapath: reading chain %s: %w", name, err)
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					n.Hits += ctr.Packets
				}
			}
		}
	}
	objs, err := c.GetObjects(t)
	if err != nil {
		return n, fmt.Errorf("kernel datapath: reading counters: %w", err)
	}
	for _, o := range objs {
		if ctr, ok := o.(*nftables.CounterObj); ok {
			switch ctr.Name {
			case counterFromClient:
				n.FromClient = ctr.Bytes
			case counterFromInside:
				n.FromInside = ctr.Bytes
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
