package rules

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// renderNetsh writes a batch file for the Windows Server host's own
// firewall (the article's server is IIS on Windows Server): `netsh
// advfirewall firewall add rule` allowing in the control ports and the
// passive range, on the inside address and ports, after deleting the
// rules of the same names so that running it again replaces them. It is
// the server's side, so it needs no outside address. With several inside
// hosts (a pool), each host gets its own section. Windows Firewall has no
// rule order (a block always beats an allow), so a source filter renders
// only when it is a list of permitted prefixes: remoteip=.
func renderNetsh(w *bytes.Buffer, m *Model, o RenderOptions) error {
	type rule struct {
		name, remote, ports, origin string
	}
	byHost := map[netip.Addr][]rule{}
	var hosts []netip.Addr
	for _, f := range m.Forwards {
		remote, err := netshRemote(m, f)
		if err != nil {
			return err
		}
		ports := span(f.InsideLo(), f.InsideHi(), "-")
		for _, a := range f.Members {
			if _, ok := byHost[a]; !ok {
				hosts = append(hosts, a)
			}
			name := fmt.Sprintf("Rotary FTP %s tcp %s", f.Label(), ports)
			byHost[a] = append(byHost[a], rule{name: name, remote: remote, ports: ports, origin: f.Origin(m)})
		}
	}
	slices.SortFunc(hosts, func(a, b netip.Addr) int { return a.Compare(b) })
	// First, so that cmd.exe does not echo the comments.
	w.WriteString("@echo off\n")
	header(w, m, "netsh", "REM", []string{
		"Opens these inside ports in the Windows Firewall of the server itself; the router in front still",
		"needs its forwarding (another --format). Apply: run this file in an elevated Command Prompt on the",
		"host (each host's section on that host); running it again replaces the rules of the same names.",
	})
	for _, h := range hosts {
		fmt.Fprintf(w, "REM On %s:\n", h)
		for _, r := range byHost[h] {
			fmt.Fprintf(w, "REM %s\n", r.origin)
			fmt.Fprintf(w, "netsh advfirewall firewall delete rule name=%q >nul 2>&1\n", r.name)
			fmt.Fprintf(w, "netsh advfirewall firewall add rule name=%q dir=in action=allow protocol=TCP localip=%s localport=%s remoteip=%s profile=any\n",
				r.name, h, r.ports, r.remote)
		}
	}
	return nil
}

// netshRemote is a source filter as remoteip=: permitted prefixes, with
// no deny before a permit and no source ports.
func netshRemote(m *Model, f Forward) (string, error) {
	if f.Filter == nil {
		return "any", nil
	}
	var permits []string
	for i, e := range f.Filter {
		if !e.Permit {
			if slices.ContainsFunc(f.Filter[i:], func(r SourceRule) bool { return r.Permit }) {
				return "", errAt(m, f, e.Pos, "deny", "netsh: Windows Firewall rules have no order (a block always wins), so a deny before a permit cannot be written")
			}
			break
		}
		if e.Port.Op != "" {
			return "", errAt(m, f, e.Pos, e.Port.Op, "netsh: source port filters are not written (use another format, or drop the source port)")
		}
		p, ok := prefixOf(e.Source)
		if !ok {
			return "", errAt(m, f, e.Pos, e.Source.String(), "netsh: remoteip takes prefixes; this wildcard is not contiguous")
		}
		if e.Source.Any {
			return "any", nil
		}
		permits = append(permits, p.String())
	}
	if len(permits) == 0 {
		return "", errAt(m, f, f.Pos, "", "netsh: the access list permits no source here")
	}
	return strings.Join(permits, ","), nil
}
