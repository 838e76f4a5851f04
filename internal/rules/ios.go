package rules

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// renderIOS writes the article's commands: for each pool a one-line `ip
// nat pool ... type rotary`, an access list naming its ports and `ip nat
// inside destination list`; a static forward per control port; and, since
// a rotary pool keeps the destination port, a static forward per port of
// a range that translates ports (public-passive-ports). The result runs in
// `rotary gateway` as well as on the router, and its plan is Model.Plan.
func renderIOS(w *bytes.Buffer, m *Model, o RenderOptions) error {
	if err := needOutside(m, "ios", "ip nat statements name the outside (inside global) address"); err != nil {
		return err
	}
	header(w, m, "ios", "!", []string{
		"Apply: paste into `configure terminal` on the router (the interfaces need `ip nat outside` and",
		"`ip nat inside`), or run it in userspace: rotary gateway --config FILE.",
	})
	w.WriteString("!\n")
	var statics, pools []Forward
	for _, f := range m.Forwards {
		if f.translatesPorts() {
			if len(f.Members) != 1 {
				return errAt(m, f, ios.Pos{}, "", "a forward that translates ports goes to one inside host")
			}
			statics = append(statics, f)
		} else {
			pools = append(pools, f)
		}
	}
	for _, f := range statics {
		if f.Filter != nil {
			return errAt(m, f, ios.Pos{}, "", "a static map cannot filter sources")
		}
		fmt.Fprintf(w, "! %s (%s)\n", f.Label(), f.Origin(m))
		for p := int(f.Lo); p <= int(f.Hi); p++ {
			fmt.Fprintf(w, "ip nat inside source static tcp %s %d %s %d\n", f.Members[0], p+f.Offset, f.Outside, p)
		}
	}
	// One access list per pool, entries in model order: the forwards of a
	// pool name disjoint destinations, so first match is kept.
	var order []string
	byPool := map[string][]Forward{}
	for _, f := range pools {
		if _, ok := byPool[f.Pool]; !ok {
			order = append(order, f.Pool)
		}
		byPool[f.Pool] = append(byPool[f.Pool], f)
	}
	// An access list keeps the name the model's filter came from, so that
	// plans name the same list; the others are numbered from ACLNumber.
	used := map[string]bool{}
	aclNames := map[string]string{}
	for _, name := range order {
		for _, f := range byPool[name] {
			if f.FilterACL != "" && !used[f.FilterACL] {
				aclNames[name] = f.FilterACL
				used[f.FilterACL] = true
				break
			}
		}
	}
	next := ACLNumber
	for _, name := range order {
		if aclNames[name] == "" {
			for used[strconv.Itoa(next)] {
				next++
			}
			aclNames[name] = strconv.Itoa(next)
			used[aclNames[name]] = true
		}
	}
	for _, name := range order {
		fs := byPool[name]
		first := fs[0]
		lo, hi := first.Members[0], first.Members[len(first.Members)-1]
		for k, a := range first.Members {
			if k > 0 && a != first.Members[k-1].Next() {
				return errAt(m, first, ios.Pos{}, "", "an IOS pool is a range of consecutive addresses")
			}
		}
		acl := aclNames[name]
		_, numErr := strconv.Atoi(acl)
		numbered := numErr == nil
		entry := "access-list " + acl + " "
		fmt.Fprintf(w, "! %s (%s)\n", first.Label(), first.Origin(m))
		fmt.Fprintf(w, "ip nat pool %s %s %s netmask %s type rotary\n", name, lo, hi, netmask(first.PoolPrefix))
		if !numbered {
			fmt.Fprintf(w, "ip access-list extended %s\n", acl)
			entry = " "
		}
		for _, f := range fs {
			dst := "host " + f.Outside.String() + " " + portOp(int(f.Lo), int(f.Hi))
			if f.Filter == nil {
				fmt.Fprintf(w, "%spermit tcp any %s\n", entry, dst)
				continue
			}
			for _, e := range f.Filter {
				action := "deny"
				if e.Permit {
					action = "permit"
				}
				src := e.Source.String()
				if s := e.Port.String(); s != "" {
					src += " " + s
				}
				fmt.Fprintf(w, "%s%s tcp %s %s\n", entry, action, src, dst)
			}
		}
		fmt.Fprintf(w, "ip nat inside destination list %s pool %s\n", acl, name)
	}
	extensions(w, m, statics, order, byPool)
	return nil
}

// extensions writes the timers and rotary lines an IOS model carried.
func extensions(w *bytes.Buffer, m *Model, statics []Forward, pools []string, byPool map[string][]Forward) {
	var lines []string
	for _, name := range pools {
		if v := byPool[name][0].ProxyProtocol; v != 0 {
			lines = append(lines, fmt.Sprintf("rotary proxy-protocol v%d pool %s", v, name))
		}
	}
	for _, f := range statics {
		if f.ProxyProtocol != 0 {
			for p := int(f.Lo); p <= int(f.Hi); p++ {
				lines = append(lines, fmt.Sprintf("rotary proxy-protocol v%d static %s", f.ProxyProtocol, netip.AddrPortFrom(f.Outside, uint16(p))))
			}
		}
	}
	if hc := m.HealthCheck; hc != nil {
		if hc.Off {
			lines = append(lines, "rotary health-check off")
		} else if hc.IntervalSeconds != 0 {
			lines = append(lines, fmt.Sprintf("rotary health-check interval %d", hc.IntervalSeconds))
		}
	}
	if t := m.Timeouts; t != nil {
		for _, x := range []struct {
			name string
			t    ios.Timeout
			def  int
		}{{"tcp-timeout", t.TCP, ios.DefaultTCPTimeout}, {"finrst-timeout", t.FinRst, ios.DefaultFinRstTimeout}, {"syn-timeout", t.Syn, ios.DefaultSynTimeout}} {
			switch {
			case x.t.Never:
				lines = append(lines, "ip nat translation "+x.name+" never")
			case x.t.Seconds != x.def:
				lines = append(lines, "ip nat translation "+x.name+" "+strconv.Itoa(x.t.Seconds))
			}
		}
	}
	if len(lines) > 0 {
		w.WriteString("!\n")
		for _, l := range lines {
			w.WriteString(l + "\n")
		}
	}
}

// portOp is an IOS destination port operator for lo..hi.
func portOp(lo, hi int) string {
	if lo == hi {
		return "eq " + strconv.Itoa(lo)
	}
	return fmt.Sprintf("range %d %d", lo, hi)
}

func netmask(bits int) string {
	if bits <= 0 || bits > 32 {
		bits = 24
	}
	return fromU32(^uint32(0) << (32 - bits)).String()
}
