// Package publicip decides which address a passive reply (227) names. Behind
// NAT the server must announce its public address, not the private one the
// client reached it on; clients on the inside may need the private one.
package publicip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
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
// up again; DefaultRetry how soon a failed lookup is tried again.
const (
	DefaultTTL   = 60 * time.Second
	DefaultRetry = 10 * time.Second
	// lookupTimeout bounds one lookup.
	lookupTimeout = 5 * time.Second
)

// Resolver answers the address to announce for a client. A host name is
// looked up in the background (Start), never in the PASV handler: a slow
// or dead DNS server cannot stall a passive reply. Address reads the last
// good answer.
type Resolver struct {
	// Public is an IP or a host name; empty means the local address.
	Public    string
	Overrides []Override // first match wins
	// TTL is the time between lookups of a host name (DefaultTTL); Retry
	// the time before another try after a failure (DefaultRetry).
	TTL, Retry time.Duration
	Logger     *slog.Logger
	// Lookup resolves host names; nil means net.DefaultResolver.LookupNetIP.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

	last   atomic.Pointer[[]netip.Addr] // last good answer
	failed atomic.Bool                  // the last lookup failed (logged once per spell)
	stop   chan struct{}
	done   chan struct{}
}

// Host reports whether Public is a host name (to be looked up) rather than
// an address or empty.
func (r *Resolver) Host() bool {
	if r.Public == "" {
		return false
	}
	_, err := netip.ParseAddr(r.Public)
	return err != nil
}

// Start looks a host name up once, now, and then keeps it fresh in the
// background until Close. The error of the first lookup is returned (the
// caller warns: until the name resolves, passive replies name the control
// connection's local address). With an address or no Public, Start does
// nothing.
func (r *Resolver) Start() error {
	if !r.Host() || r.stop != nil {
		return nil
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	err := r.Refresh(context.Background())
	go r.loop()
	return err
}

// Close stops the background lookups.
func (r *Resolver) Close() {
	if r.stop == nil {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

func (r *Resolver) loop() {
	defer close(r.done)
	ttl, retry := r.TTL, r.Retry
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if retry <= 0 {
		retry = DefaultRetry
	}
	for {
		wait := ttl
		if r.failed.Load() {
			wait = min(retry, ttl)
		}
		t := time.NewTimer(wait)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-r.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		r.Refresh(ctx)
		cancel()
	}
}

// Refresh looks the host name up once and keeps the answer; a failure
// keeps the last good answer, and is logged once until a lookup succeeds.
func (r *Resolver) Refresh(ctx context.Context) error {
	lookup := r.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := lookup(ctx, r.Public)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		err = fmt.Errorf("resolve public-ip %s: %w", r.Public, err)
		if !r.failed.Swap(true) {
			var last []netip.Addr
			if p := r.last.Load(); p != nil {
				last = *p
			}
			r.logger().Warn("resolving the public host name failed; passive replies keep the last answer (the local address if none)",
				"host", r.Public, "err", err, "last", last)
		}
		return err
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	r.last.Store(&addrs)
	if r.failed.Swap(false) {
		r.logger().Info("public host name resolves again", "host", r.Public, "addresses", addrs)
	}
	return nil
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Direct reports whether an override sends client to the control
// connection's local address (CIDR=local): such a client reaches the server
// without NAT, so it must be told the local passive ports too.
func (r *Resolver) Direct(client netip.Addr) bool {
	client = client.Unmap()
	for _, o := range r.Overrides {
		if o.Prefix.Contains(client) {
			return o.Local
		}
	}
	return false
}

// Address returns the address to announce to client, whose control
// connection arrived on local. It never waits for a lookup.
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
	p := r.last.Load()
	if p == nil {
		return local
	}
	// Prefer an address of the control connection's family.
	for _, a := range *p {
		if a.Is4() == local.Is4() {
			return a
		}
	}
	return (*p)[0]
}
