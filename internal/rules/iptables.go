package rules

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// renderIPTables writes an iptables-restore file: the nat table's
// ROTARY-DNAT chain (jumped to from PREROUTING) with the DNAT rules, and
// the filter table's ROTARY-FORWARD chain (from FORWARD) accepting them.
// Round-robin is the statistic match in nth mode, one rule per member:
// member i of N takes every (N-i)th of the connections the rules before
// it left. A forward that translates a range of ports is one rule per
// port: DNAT's offset form (a:lo-hi/base) needs Linux 5.1 and iptables
// 1.8.5, and routers run older ones.
func renderIPTables(w *bytes.Buffer, m *Model, o RenderOptions) error {
	if err := outsideOrInterface(m, "iptables", o); err != nil {
		return err
	}
	if err := noProxyProtocol(m, "iptables"); err != nil {
		return err
	}
	var nat, filter []string
	for _, f := range m.Forwards {
		nat = append(nat, fmt.Sprintf("# %s (%s)", f.Label(), f.Origin(m)))
		type entry struct {
			permit            bool
			src, sport, multi string
		}
		entries := []entry{{permit: true}}
		if f.Filter != nil {
			entries = nil
			for _, e := range f.Filter {
				src, sport, multi, err := iptSource(m, f, e)
				if err != nil {
					return err
				}
				entries = append(entries, entry{e.Permit, src, sport, multi})
			}
		}
		for _, e := range entries {
			// -A CHAIN [-i IF] [-d OUT] [-s SRC] -p tcp -m tcp [--sport S] --dport D [-m multiport ...]
			rule := func(dports string) string {
				return fmt.Sprintf("-A ROTARY-DNAT%s%s -p tcp -m tcp%s --dport %s%s", iptMatch(o.OutsideIf, f.Outside), e.src, e.sport, dports, e.multi)
			}
			if !e.permit {
				nat = append(nat, rule(span(int(f.Lo), int(f.Hi), ":"))+" -j RETURN")
				continue
			}
			ports := [][2]int{{int(f.Lo), int(f.Hi)}}
			if f.Offset != 0 && f.Lo != f.Hi {
				ports = nil
				for p := int(f.Lo); p <= int(f.Hi); p++ {
					ports = append(ports, [2]int{p, p})
				}
			}
			for _, pr := range ports {
				n := len(f.Members)
				for i, a := range f.Members {
					stat := ""
					if i < n-1 {
						stat = fmt.Sprintf(" -m statistic --mode nth --every %d --packet 0", n-i)
					}
					to := a.String()
					if pr[0] == pr[1] {
						to += ":" + strconv.Itoa(pr[0]+f.Offset)
					}
					nat = append(nat, fmt.Sprintf("%s%s -j DNAT --to-destination %s", rule(span(pr[0], pr[1], ":")), stat, to))
				}
			}
		}
		for _, a := range f.Members {
			filter = append(filter, fmt.Sprintf("-A ROTARY-FORWARD -d %s/32 -p tcp -m tcp --dport %s -m conntrack --ctstate DNAT -j ACCEPT",
				a, span(f.InsideLo(), f.InsideHi(), ":")))
		}
	}
	header(w, m, "iptables", "#", []string{
		"Apply: iptables-restore < rotary.rules. Like /etc/iptables/rules.v4 it replaces the nat and filter",
		"tables; on a host with rules of its own, merge the ROTARY- chains and the two jumps into its rules file.",
		"Needs IPv4 forwarding (sysctl -w net.ipv4.ip_forward=1) and the server's route back through this host.",
		"Round-robin is the statistic match; the kernel has no health check.",
	})
	w.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:ROTARY-DNAT - [0:0]\n")
	w.WriteString("-A PREROUTING -j ROTARY-DNAT\n")
	for _, l := range nat {
		w.WriteString(l + "\n")
	}
	w.WriteString("COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:ROTARY-FORWARD - [0:0]\n")
	w.WriteString("-A FORWARD -j ROTARY-FORWARD\n")
	w.WriteString("-A ROTARY-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
	for _, l := range filter {
		w.WriteString(l + "\n")
	}
	w.WriteString("COMMIT\n")
	return nil
}

func iptMatch(ifname string, dst netip.Addr) string {
	var s string
	if ifname != "" {
		s += " -i " + ifname
	}
	if dst.IsValid() {
		s += " -d " + dst.String() + "/32"
	}
	return s
}

// iptSource is an access list entry's source as iptables matches, which
// take prefixes and port ranges (multiport for lists): the source address
// match, what goes after -m tcp (--sport), and a multiport match.
func iptSource(m *Model, f Forward, e SourceRule) (src, sport, multi string, err error) {
	if !e.Source.Any {
		p, ok := prefixOf(e.Source)
		if !ok {
			return "", "", "", errAt(m, f, e.Pos, e.Source.String(), "iptables matches source prefixes; this wildcard is not contiguous (nftables can: --format nftables)")
		}
		src = " -s " + p.String()
	}
	list := func(ps []uint16) string {
		var out []string
		for _, p := range ps {
			out = append(out, strconv.Itoa(int(p)))
		}
		return strings.Join(out, ",")
	}
	switch pm := e.Port; pm.Op {
	case "":
	case "eq":
		multi = " -m multiport --sports " + list(pm.Ports)
	case "neq":
		multi = " -m multiport ! --sports " + list(pm.Ports)
	case "lt":
		if pm.Ports[0] == 0 {
			return "", "", "", errAt(m, f, e.Pos, "lt", "lt 0 matches no port")
		}
		sport = fmt.Sprintf(" --sport 0:%d", pm.Ports[0]-1)
	case "gt":
		sport = fmt.Sprintf(" --sport %d:65535", int(pm.Ports[0])+1)
	case "range":
		sport = fmt.Sprintf(" --sport %d:%d", pm.Ports[0], pm.Ports[1])
	default:
		return "", "", "", errAt(m, f, e.Pos, pm.Op, "unknown port operator")
	}
	return src, sport, multi, nil
}
