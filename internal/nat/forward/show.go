package forward

import (
	"net/netip"
	"slices"
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
	Pool          string         // the rotary pool of a dynamic flow
	Created       time.Time
	Use           time.Duration // since data was last received on either side
	Left          time.Duration // until the current timer closes the flow; -1: never
}

// Translations lists the static maps, then the live flows oldest first.
func (s *Server) Translations() []Translation {
	r := s.rules.Load()
	if r == nil {
		return nil
	}
	var out []Translation
	for _, rt := range r.Routes {
		if rt.Pool == "" {
			out = append(out, Translation{Protocol: "tcp", InsideGlobal: rt.Listen, InsideLocal: rt.Static, Static: true, Left: -1})
		}
	}
	s.flowsMu.Lock()
	flows := make([]*flow, 0, len(s.flows))
	for f := range s.flows {
		flows = append(flows, f)
	}
	s.flowsMu.Unlock()
	slices.SortFunc(flows, func(a, b *flow) int { return a.created.Compare(b.created) })
	now := time.Now()
	for _, f := range flows {
		t := Translation{
			Protocol: "tcp", InsideGlobal: f.route.Listen, InsideLocal: f.insideLocal,
			OutsideLocal: f.outside, OutsideGlobal: f.outside, Pool: f.route.Pool,
			Created: f.created, Use: f.idle(), Left: -1,
		}
		if fin := f.finAt.Load(); fin != 0 {
			if r.FinTimeout > 0 {
				t.Left = max(time.Unix(0, fin).Add(r.FinTimeout).Sub(now), 0)
			}
		} else if r.IdleTimeout > 0 {
			t.Left = max(r.IdleTimeout-t.Use, 0)
		}
		out = append(out, t)
	}
	return out
}

// Statistics is the gateway's side of `show ip nat statistics`.
type Statistics struct {
	Static, Dynamic int
	// Hits counts connections translated; Misses those refused (denied
	// source, no member up, dial failure, flow limit); Expired the flows
	// closed by a timer.
	Hits, Misses, Expired uint64
	Listeners             int
	Pools                 []PoolStatistics
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
}

// Statistics returns the current counters.
func (s *Server) Statistics() Statistics {
	st := Statistics{Hits: s.hits.Load(), Misses: s.misses.Load(), Expired: s.expired.Load()}
	if r := s.rules.Load(); r != nil {
		for _, rt := range r.Routes {
			if rt.Pool == "" {
				st.Static++
			}
		}
	}
	s.flowsMu.Lock()
	st.Dynamic = len(s.flows)
	s.flowsMu.Unlock()
	s.mu.Lock()
	st.Listeners = len(s.listeners)
	for _, p := range s.pools {
		ps := PoolStatistics{Name: p.name, DialFailures: p.dialFailures.Load()}
		for _, m := range p.members {
			n := int(m.flows.Load())
			down := m.downPorts()
			ps.Members = append(ps.Members, MemberStatistics{Address: m.addr, Up: len(down) == 0, DownPorts: down, Flows: n})
			ps.Allocated += n
		}
		st.Pools = append(st.Pools, ps)
	}
	s.mu.Unlock()
	slices.SortFunc(st.Pools, func(a, b PoolStatistics) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return st
}
