// Package publicip decides which address a passive reply (227) names. Behind
// NAT the server must announce its public address, not the private one the
// client reached it on; clients on the inside may need the private one.
package publicip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Override sends clients inside Prefix to IP, or to the control
// connection's local address when Local is set (the word "local").
type Override struct {
	Prefix netip.Prefix
	IP     netip.Addr
	Local  bool
}

// ParseOverride parses "CIDR=IP" or "CIDR=local".
func ParseOverride(s string) (Override, error) {
	cidr, target, ok := strings.Cut(s, "=")
	if !ok {
		return Override{}, fmt.Errorf("passive-ip-override %q: want CIDR=IP or CIDR=local", s)
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return Override{}, fmt.Errorf("passive-ip-override %q: bad CIDR: %v", s, err)
	}
	o := Override{Prefix: p.Masked()}
	target = strings.TrimSpace(target)
	if strings.EqualFold(target, "local") {
		o.Local = true
		return o, nil
	}
	ip, err := netip.ParseAddr(target)
	if err != nil {
		return Override{}, fmt.Errorf("passive-ip-override %q: %q is neither an IP nor the word local", s, target)
	}
	o.IP = ip.Unmap()
	return o, nil
}

// DefaultTTL is how long a resolved host name is used before it is looked
// up again.
const DefaultTTL = 60 * time.Second

// Resolver answers the address to announce for a client.
type Resolver struct {
	// Public is an IP or a host name; empty means the local address.
	Public    string
	Overrides []Override // first match wins
	TTL       time.Duration
	Logger    *slog.Logger
	// Lookup resolves host names; nil means net.DefaultResolver.LookupNetIP.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

	mu      sync.Mutex
	last    []netip.Addr // last good answer
	expires time.Time
}

// Address returns the address to announce to client, whose control
// connection arrived on local.
func (r *Resolver) Address(client, local netip.Addr) netip.Addr {
	client = client.Unmap()
	for _, o := range r.Overrides {
		if o.Prefix.Contains(client) {
			if o.Local {
				return local
			}
			return o.IP
		}
	}
	if r.Public == "" {
		return local
	}
	if ip, err := netip.ParseAddr(r.Public); err == nil {
		return ip.Unmap()
	}
	addrs := r.resolve()
	// Prefer an address of the control connection's family.
	for _, a := range addrs {
		if a.Is4() == local.Is4() {
			return a
		}
	}
	if len(addrs) > 0 {
		return addrs[0]
	}
	return local
}

// resolve looks the host name up at most once per TTL and keeps the last
// good answer when a lookup fails.
func (r *Resolver) resolve() []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Now().Before(r.expires) {
		return r.last
	}
	ttl := r.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	r.expires = time.Now().Add(ttl)
	lookup := r.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, r.Public)
	if err != nil || len(addrs) == 0 {
		log := r.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Warn("resolving public host name failed; keeping the last answer", "host", r.Public, "err", err, "last", r.last)
		return r.last
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	r.last = addrs
	return addrs
}
