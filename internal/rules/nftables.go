package rules

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// NFTTable is the nftables form of a Model: one `table ip rotary` whose
// chains hold rules as data. Text prints it for `nft -f`. A kernel
// datapath (issue 18, over netlink with google/nftables) builds the same
// table from NFTablesTable: each NFTRule maps one to one onto a rule's
// expressions (payload compares for the addresses and ports, a numgen
// expression and a map for round-robin, a nat expression for the DNAT), so
// that what `rotary rules` prints and what such a datapath loads cannot
// differ.
type NFTTable struct {
	Family, Name string
	Chains       []NFTChain
}

// NFTChain is a base chain.
type NFTChain struct {
	Name, Type, Hook, Priority, Policy string
	Rules                              []NFTRule
}

// NFTRule is one rule; zero fields match everything.
type NFTRule struct {
	Comment string // printed on the line before
	IIfName string
	// Source and SourcePort are an access list entry's source (a filter).
	Source     *ios.AddrMatch
	SourcePort ios.PortMatch
	// Daddr and DportLo..DportHi match the destination (Daddr invalid: any).
	Daddr            netip.Addr
	DportLo, DportHi uint16
	// CtEstablished matches ct state established,related; CtDNAT ct status dnat.
	CtEstablished, CtDNAT bool
	// Verdict is "accept", "return" or "dnat".
	Verdict string
	// DNAT: to Members (numgen inc mod N over them when several), and to
	// port p+Offset; a single port names its port, a range with Offset 0
	// keeps the port, a translated range maps each port.
	Members []netip.Addr
	Offset  int
}

// NFTablesTable turns m into the table `rotary rules --format nftables`
// prints: a prerouting nat chain with the DNAT rules (an access list's
// deny becomes return: not translated, as IOS routes it on), and a forward
// filter chain that accepts the translated connections and their replies.
// iifname is matched when ifname is not "" (and alone when a forward has
// no outside address).
func NFTablesTable(m *Model, ifname string) *NFTTable {
	pre := NFTChain{Name: "prerouting", Type: "nat", Hook: "prerouting", Priority: "dstnat", Policy: "accept"}
	fwd := NFTChain{Name: "forward", Type: "filter", Hook: "forward", Priority: "filter", Policy: "accept",
		Rules: []NFTRule{{Comment: "replies and the rest of each forwarded connection", CtEstablished: true, Verdict: "accept"}}}
	for _, f := range m.Forwards {
		base := NFTRule{IIfName: ifname, Daddr: f.Outside, DportLo: f.Lo, DportHi: f.Hi}
		dnat := base
		dnat.Verdict, dnat.Members, dnat.Offset = "dnat", f.Members, f.Offset
		dnat.Comment = fmt.Sprintf("%s (%s)", f.Label(), f.Origin(m))
		if f.Filter == nil {
			pre.Rules = append(pre.Rules, dnat)
		}
		for i, e := range f.Filter {
			r := base
			if i == 0 {
				r.Comment = fmt.Sprintf("%s (%s), sources filtered by list %s: first match, the rest not translated", f.Label(), f.Origin(m), f.FilterACL)
			}
			if !e.Source.Any {
				src := e.Source
				r.Source = &src
			}
			r.SourcePort = e.Port
			if e.Permit {
				r.Verdict, r.Members, r.Offset = "dnat", f.Members, f.Offset
			} else {
				r.Verdict = "return"
			}
			pre.Rules = append(pre.Rules, r)
		}
		for _, a := range f.Members {
			fwd.Rules = append(fwd.Rules, NFTRule{Daddr: a, DportLo: uint16(f.InsideLo()), DportHi: uint16(f.InsideHi()), CtDNAT: true, Verdict: "accept"})
		}
	}
	return &NFTTable{Family: "ip", Name: "rotary", Chains: []NFTChain{pre, fwd}}
}

// Text is the table in nft's syntax, preceded by the idiom that makes
// `nft -f` replace it atomically: declare it (so that the delete cannot
// fail on a first load), delete it, define it whole, all in one
// transaction.
func (t *NFTTable) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {}\ndelete table %s %s\n", t.Family, t.Name, t.Family, t.Name)
	fmt.Fprintf(&b, "table %s %s {\n", t.Family, t.Name)
	for i, c := range t.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype %s hook %s priority %s; policy %s;\n", c.Name, c.Type, c.Hook, c.Priority, c.Policy)
		for _, r := range c.Rules {
			if r.Comment != "" {
				fmt.Fprintf(&b, "\t\t# %s\n", r.Comment)
			}
			fmt.Fprintf(&b, "\t\t%s\n", r.text())
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (r NFTRule) text() string {
	var p []string
	if r.IIfName != "" {
		p = append(p, "iifname "+strconv.Quote(r.IIfName))
	}
	if r.Source != nil {
		p = append(p, nftAddr("ip saddr", *r.Source))
	}
	if s := nftPorts("tcp sport", r.SourcePort); s != "" {
		p = append(p, s)
	}
	if r.Daddr.IsValid() {
		p = append(p, "ip daddr "+r.Daddr.String())
	}
	if r.DportLo != 0 {
		p = append(p, "tcp dport "+span(int(r.DportLo), int(r.DportHi), "-"))
	}
	if r.CtEstablished {
		p = append(p, "ct state established,related")
	}
	if r.CtDNAT {
		p = append(p, "ct status dnat")
	}
	switch r.Verdict {
	case "dnat":
		p = append(p, "dnat to "+r.dnatTarget())
	default:
		p = append(p, r.Verdict)
	}
	return strings.Join(p, " ")
}

func (r NFTRule) dnatTarget() string {
	var addr string
	if len(r.Members) == 1 {
		addr = r.Members[0].String()
	} else {
		var kv []string
		for i, a := range r.Members {
			kv = append(kv, fmt.Sprintf("%d : %s", i, a))
		}
		addr = fmt.Sprintf("numgen inc mod %d map { %s }", len(r.Members), strings.Join(kv, ", "))
	}
	switch {
	case r.DportLo == r.DportHi:
		return fmt.Sprintf("%s:%d", addr, int(r.DportLo)+r.Offset)
	case r.Offset == 0:
		return addr
	}
	var kv []string
	for p := int(r.DportLo); p <= int(r.DportHi); p++ {
		kv = append(kv, fmt.Sprintf("%d : %d", p, p+r.Offset))
	}
	return fmt.Sprintf("%s : tcp dport map { %s }", addr, strings.Join(kv, ", "))
}

// nftAddr matches an IOS address: a prefix where the wildcard is
// contiguous, else a mask compare (`ip saddr & 0.255.0.255 == ...`),
// which nftables, unlike most firewalls, can say.
func nftAddr(field string, a ios.AddrMatch) string {
	if p, ok := prefixOf(a); ok {
		return field + " " + hostOrPrefix(p)
	}
	mask := ^u32(a.Wildcard)
	return fmt.Sprintf("%s & %s == %s", field, fromU32(mask), fromU32(u32(a.Address)&mask))
}

func nftPorts(field string, m ios.PortMatch) string {
	set := func(ps []uint16) string {
		if len(ps) == 1 {
			return strconv.Itoa(int(ps[0]))
		}
		var s []string
		for _, p := range ps {
			s = append(s, strconv.Itoa(int(p)))
		}
		return "{ " + strings.Join(s, ", ") + " }"
	}
	switch m.Op {
	case "eq":
		return field + " " + set(m.Ports)
	case "neq":
		return field + " != " + set(m.Ports)
	case "lt":
		return fmt.Sprintf("%s < %d", field, m.Ports[0])
	case "gt":
		return fmt.Sprintf("%s > %d", field, m.Ports[0])
	case "range":
		return fmt.Sprintf("%s %d-%d", field, m.Ports[0], m.Ports[1])
	}
	return ""
}

func renderNFTables(w *bytes.Buffer, m *Model, o RenderOptions) error {
	if err := outsideOrInterface(m, "nftables", o); err != nil {
		return err
	}
	if err := noProxyProtocol(m, "nftables"); err != nil {
		return err
	}
	t := NFTablesTable(m, o.OutsideIf)
	w.WriteString("#!/usr/sbin/nft -f\n")
	header(w, m, "nftables", "#", []string{
		"Apply: nft -f rotary.nft (replaces table ip rotary in one transaction; other tables stay).",
		"Needs IPv4 forwarding (sysctl -w net.ipv4.ip_forward=1) and the server's route back through this host.",
		"Every base chain of a hook is evaluated: if another table's forward chain drops by default, add these",
		"accepts there too. Round-robin is numgen per rule; the kernel has no health check.",
	})
	w.WriteString(t.Text())
	return nil
}
