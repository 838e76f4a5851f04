package forward

import (
	"net/netip"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// Rules are what a Server executes: the listener plan with its timers.
type Rules struct {
	Routes []Route
	// DialTimeout bounds the connection to the inside host (IOS syn-timeout); 0: no limit.
	DialTimeout time.Duration
	// IdleTimeout closes a flow with no data either way for this long (IOS tcp-timeout); 0: never.
	IdleTimeout time.Duration
	// FinTimeout closes a flow this long after its first FIN (IOS finrst-timeout); 0: never.
	FinTimeout time.Duration
	// HealthInterval is the period of the TCP check that brings a failed pool
	// member back; 0 turns health tracking off (strict IOS: plain round-robin).
	HealthInterval time.Duration
}

// Route is one outside address and port and where its connections go.
type Route struct {
	Listen netip.AddrPort
	// Pool and Members: a rotary pool; the member is picked round-robin and
	// the destination port is kept.
	Pool    string
	Members []netip.Addr
	// Static is the inside local address and port when Pool is "".
	Static netip.AddrPort
	// ProxyProtocol is 2 to send a PROXY v2 header to the backend first.
	ProxyProtocol int
	// Permit, when set, decides per connection from the client's address.
	Permit func(src netip.AddrPort) bool
}

func (r Route) target() string {
	if r.Pool != "" {
		return "pool " + r.Pool
	}
	return "static " + r.Static.String()
}

// Compile turns a parsed IOS model into Rules.
func Compile(c *ios.Config) (*Rules, error) {
	plan, err := c.Plan()
	if err != nil {
		return nil, err
	}
	r := &Rules{
		DialTimeout:    c.Timeouts.Syn.Duration(),
		IdleTimeout:    c.Timeouts.TCP.Duration(),
		FinTimeout:     c.Timeouts.FinRst.Duration(),
		HealthInterval: c.Rotary.HealthInterval(),
	}
	for _, l := range plan.Listeners {
		rt := Route{Listen: l.Address, Pool: l.Pool, Members: l.Members, Static: l.Static, ProxyProtocol: l.ProxyProtocol}
		if l.Filter != nil {
			rt.Permit = l.Permits
		}
		r.Routes = append(r.Routes, rt)
	}
	return r, nil
}
