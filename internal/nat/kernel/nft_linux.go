//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
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
// then the chain, maps and rules. The kernel applies it all or nothing.
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
	for i, r := range routes {
		exprs, err := routeExprs(c, t, i, r)
		if err != nil {
			return err
		}
		for _, ch := range []*nftables.Chain{pre, out} {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs,
				UserData: comment(fmt.Sprintf("rotary gateway line %d", r.Line))})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("kernel datapath: programming table ip %s (%d routes): %w", TableName, len(routes), err)
	}
	return nil
}

// routeExprs is `ip daddr A tcp dport P dnat to ...` for one route:
// a static map's address and port, or a pool member picked by
// `numgen inc mod N` in a map, keeping the port.
func routeExprs(c *nftables.Conn, t *nftables.Table, i int, r forward.Route) ([]expr.Any, error) {
	a4 := r.Listen.Addr().As4()
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a4[:]},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Listen.Port())},
	}
	if r.Pool == "" {
		s4 := r.Static.Addr().As4()
		return append(exprs,
			&expr.Immediate{Register: 1, Data: s4[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.Static.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		), nil
	}
	if len(r.Members) == 0 {
		return nil, fmt.Errorf("kernel datapath: line %d: pool %s has no members", r.Line, r.Pool)
	}
	set := &nftables.Set{Table: t, Name: fmt.Sprintf("pool%d", i), IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr}
	var elems []nftables.SetElement
	for j, m := range r.Members {
		if !m.Is4() {
			return nil, fmt.Errorf("kernel datapath: line %d: pool %s member %s is not IPv4", r.Line, r.Pool, m)
		}
		m4 := m.As4()
		elems = append(elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(j)), Val: m4[:]})
	}
	if err := c.AddSet(set, elems); err != nil {
		return nil, fmt.Errorf("kernel datapath: line %d: map of pool %s: %w", r.Line, r.Pool, err)
	}
	return append(exprs,
		&expr.Numgen{Register: 1, Modulus: uint32(len(r.Members)), Type: unix.NFT_NG_INCREMENTAL},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	), nil
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
