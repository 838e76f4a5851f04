package rules

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/passive"
)

// Options are what the server's settings do not say about the router.
type Options struct {
	// OutsideIP is the router's outside address (--outside-ip); "" means
	// public-ip when that is an address.
	OutsideIP string
	// InsideIP is the server's address as the router reaches it
	// (--inside-ip); "" means the listen address.
	InsideIP string
}

// PoolName and ACLNumber are what the ios output calls the passive range's
// pool and access list, as in the article.
const (
	PoolName  = "ftp"
	ACLNumber = 100
)

// FromSettings builds the forwarding for a server with the settings cfg:
// a static forward of each control port (listen) and implicit FTPS port
// (implicit-tls-listen), and the passive range (passive-ports, announced
// as public-passive-ports when that is set) to a one-member pool. The
// server has one inside address: --inside-ip, else the first listen
// address that names an IPv4 host; the passive listeners bind the address
// the control connection reached, so the range goes there too.
func FromSettings(cfg config.Config, o Options) (*Model, error) {
	m := &Model{From: "command-line flags"}
	if cfg.File != "" {
		m.From = filepath.Base(cfg.File)
	}
	inside, err := insideAddr(cfg, o)
	if err != nil {
		return nil, err
	}
	outside, err := outsideAddr(cfg, o, m)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	add := func(kind Kind, setting string, addrs []string) error {
		for _, s := range addrs {
			_, portS, err := net.SplitHostPort(s)
			if err != nil {
				return &Error{Setting: setting, Value: s, Reason: "want HOST:PORT"}
			}
			port, err := strconv.Atoi(portS)
			if err != nil || port < 1 || port > 65535 {
				return &Error{Setting: setting, Value: s, Reason: "a router forwards a fixed port: want 1-65535"}
			}
			// 0.0.0.0:21 and [::]:21 are one port to forward.
			if seen[port] {
				continue
			}
			seen[port] = true
			m.Forwards = append(m.Forwards, Forward{Kind: kind, Outside: outside, Lo: uint16(port), Hi: uint16(port),
				Members: []netip.Addr{inside}, Setting: setting, Value: s})
		}
		return nil
	}
	if err := add(KindControl, "listen", cfg.Listen); err != nil {
		return nil, err
	}
	if err := add(KindImplicitTLS, "implicit-tls-listen", cfg.ImplicitTLSListen); err != nil {
		return nil, err
	}
	local, public := cfg.PassivePorts, cfg.PassivePorts
	value := local.String()
	if pub := cfg.PublicPassivePorts; pub != (passive.Range{}) {
		if pub.Len() != local.Len() {
			return nil, &Error{Setting: "public-passive-ports", Value: pub.String(),
				Reason: fmt.Sprintf("%d ports, but passive-ports %s has %d: the two ranges map port for port", pub.Len(), local, local.Len())}
		}
		public = pub
		value = fmt.Sprintf("%s announced as public-passive-ports %s", local, pub)
	}
	if local.Len() == 0 {
		return nil, &Error{Setting: "passive-ports", Value: local.String(), Reason: "not a port range"}
	}
	for p := public.Lo; p <= public.Hi; p++ {
		if seen[p] {
			return nil, &Error{Setting: "passive-ports", Value: public.String(), Reason: fmt.Sprintf("port %d is also a control port", p)}
		}
	}
	m.Forwards = append(m.Forwards, Forward{Kind: KindPassive, Outside: outside, Lo: uint16(public.Lo), Hi: uint16(public.Hi),
		Members: []netip.Addr{inside}, Offset: local.Lo - public.Lo, Pool: PoolName, PoolPrefix: 24,
		Setting: "passive-ports", Value: value})
	return m, nil
}

// insideAddr is --inside-ip, or the first listen address with an IPv4 host.
func insideAddr(cfg config.Config, o Options) (netip.Addr, error) {
	if o.InsideIP != "" {
		a, err := netip.ParseAddr(o.InsideIP)
		if err != nil || !a.Unmap().Is4() {
			return netip.Addr{}, &Error{Setting: "--inside-ip", Value: o.InsideIP,
				Reason: "not an IPv4 address (NAT forwards to the server's IPv4 address)"}
		}
		return a.Unmap(), nil
	}
	for _, s := range append(append([]string(nil), cfg.Listen...), cfg.ImplicitTLSListen...) {
		host, _, err := net.SplitHostPort(s)
		if err != nil {
			continue
		}
		if host == "localhost" {
			host = "127.0.0.1"
		}
		if a, err := netip.ParseAddr(host); err == nil && a.Unmap().Is4() && !a.IsUnspecified() {
			return a.Unmap(), nil
		}
	}
	v := ""
	if len(cfg.Listen) > 0 {
		v = cfg.Listen[0]
	}
	return netip.Addr{}, &Error{Setting: "listen", Value: v,
		Reason: "names no IPv4 address of the server (it listens on every address): give --inside-ip, the address the router forwards to"}
}

// outsideAddr is --outside-ip, else public-ip, when it is an IPv4
// address; otherwise the model keeps the name for renderers that can do
// without an address (matching the outside interface) and for errors.
func outsideAddr(cfg config.Config, o Options, m *Model) (netip.Addr, error) {
	name, setting := o.OutsideIP, "--outside-ip"
	if name == "" {
		name, setting = cfg.PublicIP, "public-ip"
	}
	m.OutsideName, m.OutsideSetting, m.OutsideExplicit = name, setting, o.OutsideIP != ""
	if name == "" {
		m.OutsideSetting = "--outside-ip"
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(name)
	if err != nil {
		return netip.Addr{}, nil
	}
	if a = a.Unmap(); !a.Is4() {
		return netip.Addr{}, &Error{Setting: setting, Value: name, Reason: "not an IPv4 address: IPv6 needs no NAT; give --outside-ip for the IPv4 side"}
	}
	m.OutsideName = ""
	return a, nil
}
