package forward

import (
	"net/netip"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// Rules are what a Server executes: the listener plan with its timers.
// Compile derives them from an IOS model; tests build them by hand.
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

	warnings, proxyWarnings []ios.Warning
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
	// ACL, when set, permits some sources here and not others: each
	// connection is evaluated with ACL.Permits(client, Listen). The list
	// stays data, the model's own value, so what runs is what the model
	// shows.
	ACL *ios.ACL
	// FTPALG: connections here are FTP control connections that the ALG
	// watches (internal/nat/alg): 227 replies carrying the inside address
	// are rewritten to Listen's address, and each passive reply opens a
	// one-shot translation for its data port.
	FTPALG bool
	// Coordinate, on a pool route, is the pool's coordinated mode (`rotary
	// coordinate`): a control route sends each member its slice in a PROXY
	// v2 TLV; a data route (Owner set) goes to the member owning its port.
	Coordinate *Coordination
	// Owner is the member a coordinated data port belongs to.
	Owner netip.Addr
	// Line is the IOS statement the route comes from (0 when built by hand).
	Line int
}

// Coordination is a coordinated pool's public passive range split among
// its members: Slices[i] belongs to the pool's i-th member.
type Coordination struct {
	Pool   string
	Lo, Hi uint16
	Public netip.Addr // announced by the members; invalid: the outside address
	Slices [][2]uint16
}

// slice is the slice of member a, and whether a is a member.
func (c *Coordination) slice(members []netip.Addr, a netip.Addr) ([2]uint16, bool) {
	for i, m := range members {
		if m == a && i < len(c.Slices) {
			return c.Slices[i], true
		}
	}
	return [2]uint16{}, false
}

func (r Route) target() string {
	if r.Pool != "" {
		return "pool " + r.Pool
	}
	return "static " + r.Static.String()
}

func (r Route) filteredBy() string {
	if r.ACL == nil {
		return ""
	}
	return r.ACL.Name
}

// permits is the per-connection ACL check: first match, implicit deny.
func (r Route) permits(src netip.AddrPort) bool {
	return r.ACL == nil || r.ACL.Permits(src, r.Listen)
}
