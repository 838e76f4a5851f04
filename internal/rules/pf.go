package rules

import (
	"bytes"
	"fmt"
	"strings"
)

// renderPF writes pf.conf translation rules in the `rdr pass` syntax of
// FreeBSD, pfSense, OPNsense and macOS (OpenBSD 4.7 and later write `pass
// in ... rdr-to` instead). rdr rules are first match, like IOS access
// lists, so a list's deny is `no rdr` and the implicit deny needs no rule;
// several members are a round-robin pool; a translated range maps port for
// port (`port 5500:*`). pf names the outside interface on every rule
// (--outside-if); without an outside address (none given, or public-ip is
// a host name: a dynamic address) the rules match the interface's own,
// `($ext_if)`, which pf follows when it changes. An --outside-ip that is
// not an address is refused: pf would resolve it once, at load.
func renderPF(w *bytes.Buffer, m *Model, o RenderOptions) error {
	if o.OutsideIf == "" {
		return &Error{Setting: "--outside-if", Reason: "pf: rdr rules name the interface connections arrive on: give --outside-if NAME (em0, igb0, ...)"}
	}
	if m.OutsideName != "" && m.OutsideExplicit {
		return &Error{Setting: m.OutsideSetting, Value: m.OutsideName,
			Reason: "pf: not an IPv4 address; pf would look a host name up once, at load, and go stale with a dynamic address: give --outside-ip ADDR, or no outside address to follow the interface's, (" + o.OutsideIf + ")"}
	}
	if err := noProxyProtocol(m, "pf"); err != nil {
		return err
	}
	var rules []string
	for _, f := range m.Forwards {
		to := "($ext_if)"
		if f.Outside.IsValid() {
			to = f.Outside.String()
		}
		to += " port " + span(int(f.Lo), int(f.Hi), ":")
		target, err := pfTarget(m, f)
		if err != nil {
			return err
		}
		rules = append(rules, fmt.Sprintf("# %s (%s)", f.Label(), f.Origin(m)))
		if f.Filter == nil {
			rules = append(rules, fmt.Sprintf("rdr pass on $ext_if inet proto tcp from any to %s -> %s", to, target))
			continue
		}
		for _, e := range f.Filter {
			p, ok := prefixOf(e.Source)
			if !ok {
				return errAt(m, f, e.Pos, e.Source.String(), "pf matches source prefixes; this wildcard is not contiguous (nftables can: --format nftables)")
			}
			from := "any"
			if !e.Source.Any {
				from = hostOrPrefix(p)
			}
			sport, err := pfPorts(e)
			if err != nil {
				return errAt(m, f, e.Pos, e.Port.Op, err.Error())
			}
			if sport != "" {
				from += " port " + sport
			}
			if e.Permit {
				rules = append(rules, fmt.Sprintf("rdr pass on $ext_if inet proto tcp from %s to %s -> %s", from, to, target))
			} else {
				rules = append(rules, fmt.Sprintf("no rdr on $ext_if inet proto tcp from %s to %s", from, to))
			}
		}
	}
	header(w, m, "pf", "#", []string{
		"Apply: add these lines to /etc/pf.conf in its translation section (before the filter rules), then",
		"pfctl -nf /etc/pf.conf to check and pfctl -f /etc/pf.conf to load (pfSense, OPNsense: Firewall > NAT).",
		"rdr pass also passes the translated connections. The server's route back must go through this host.",
		"Syntax of FreeBSD, pfSense, OPNsense and macOS; OpenBSD 4.7 and later write pass in ... rdr-to.",
	})
	fmt.Fprintf(w, "ext_if = %q\n", o.OutsideIf)
	for _, r := range rules {
		w.WriteString(r + "\n")
	}
	return nil
}

// pfTarget is the right side of ->: one host, or a round-robin pool
// (port kept), with the inside port where it differs.
func pfTarget(m *Model, f Forward) (string, error) {
	var ms []string
	for _, a := range f.Members {
		ms = append(ms, a.String())
	}
	if len(ms) > 1 {
		if f.Offset != 0 {
			return "", errAt(m, f, f.Pos, "", "pf: a round-robin pool keeps the port")
		}
		return "{ " + strings.Join(ms, ", ") + " } round-robin", nil
	}
	switch {
	case f.Lo == f.Hi:
		return fmt.Sprintf("%s port %d", ms[0], f.InsideLo()), nil
	case f.Offset == 0:
		return ms[0], nil
	}
	return fmt.Sprintf("%s port %d:*", ms[0], f.InsideLo()), nil
}

// pfPorts is a source port match in pf's words; neq of several ports has
// none (pf's != takes one port).
func pfPorts(e SourceRule) (string, error) {
	pm := e.Port
	switch pm.Op {
	case "":
		return "", nil
	case "eq":
		if len(pm.Ports) == 1 {
			return fmt.Sprint(pm.Ports[0]), nil
		}
		var s []string
		for _, p := range pm.Ports {
			s = append(s, fmt.Sprint(p))
		}
		return "{ " + strings.Join(s, " ") + " }", nil
	case "neq":
		if len(pm.Ports) != 1 {
			return "", fmt.Errorf("pf: != takes one source port, not %d", len(pm.Ports))
		}
		return fmt.Sprintf("!= %d", pm.Ports[0]), nil
	case "lt":
		return fmt.Sprintf("< %d", pm.Ports[0]), nil
	case "gt":
		return fmt.Sprintf("> %d", pm.Ports[0]), nil
	case "range":
		return fmt.Sprintf("%d:%d", pm.Ports[0], pm.Ports[1]), nil
	}
	return "", fmt.Errorf("unknown port operator %q", pm.Op)
}
