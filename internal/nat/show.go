package nat

import (
	"net/netip"
	"time"
)

// Translation is one row of `show ip nat translations`. For the gateway's
// inside-destination translations the inside global is the outside address
// the client reached, the inside local the host it was sent to, and the
// outside local and global are both the client (the gateway does not
// translate outside addresses).
type Translation struct {
	Protocol      string
	InsideGlobal  netip.AddrPort
	InsideLocal   netip.AddrPort
	OutsideLocal  netip.AddrPort // zero in a static entry
	OutsideGlobal netip.AddrPort // zero in a static entry
	Static        bool           // the configured static map itself, not a flow
	Pool          string         // the rotary pool of a dynamic flow or a coordinated slice
	// LastPort, when set, makes the entry a port range: InsideGlobal's port
	// to LastPort, sent to InsideLocal's port to LastPort (a coordinated
	// pool member's passive slice).
	LastPort uint16
	Created  time.Time     // zero: not known
	Use      time.Duration // since data was last received on either side; -1: not known
	Left     time.Duration // until the current timer closes the flow; -1: never
}

// Statistics is a datapath's side of `show ip nat statistics`.
type Statistics struct {
	Static, Dynamic int
	// Hits counts connections translated; Misses those refused (denied
	// source, no member up, dial failure, flow limit); Expired the flows
	// closed by a timer.
	Hits, Misses, Expired uint64
	Listeners             int
	// BytesFromClient and BytesFromInside count the bytes the datapath
	// carried from clients to inside hosts and back, ended flows and live
	// ones: TCP payload for the userspace datapath, IP packets (headers
	// included) for the kernel's. They never decrease.
	BytesFromClient, BytesFromInside uint64
	Pools                            []PoolStatistics
}

// PoolStatistics is one rotary pool's state.
type PoolStatistics struct {
	Name         string
	Members      []MemberStatistics
	Allocated    int    // live flows
	DialFailures uint64 // IOS's "misses" for the pool
}

// MemberStatistics is one pool member.
type MemberStatistics struct {
	Address   netip.Addr
	Up        bool     // no port is marked down
	DownPorts []uint16 // ports skipped until a health check succeeds
	Flows     int
	// Slice is the member's passive ports in coordinated mode (`rotary
	// coordinate`); zero outside it.
	Slice [2]uint16
}
