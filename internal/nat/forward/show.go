package forward

import (
	"net/netip"
	"slices"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
)

// Translations lists the static maps, then the live flows oldest first.
func (s *Server) Translations() []nat.Translation {
	r := s.rules.Load()
	if r == nil {
		return nil
	}
	var out []nat.Translation
	for _, rt := range r.Routes {
		if rt.Pool == "" {
			out = append(out, nat.Translation{Protocol: "tcp", InsideGlobal: rt.Listen, InsideLocal: rt.Static, Static: true, Left: -1})
		}
	}
	out = append(out, coordinatedSlices(r)...)
	s.flowsMu.Lock()
	flows := make([]*flow, 0, len(s.flows))
	for f := range s.flows {
		flows = append(flows, f)
	}
	s.flowsMu.Unlock()
	slices.SortFunc(flows, func(a, b *flow) int { return a.created.Compare(b.created) })
	now := time.Now()
	for _, f := range flows {
		t := nat.Translation{
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

// Statistics returns the current counters.
func (s *Server) Statistics() nat.Statistics {
	st := nat.Statistics{Hits: s.hits.Load(), Misses: s.misses.Load(), Expired: s.expired.Load()}
	if r := s.rules.Load(); r != nil {
		for _, rt := range r.Routes {
			if rt.Pool == "" {
				st.Static++
			}
		}
	}
	s.flowsMu.Lock()
	st.Dynamic = len(s.flows)
	st.BytesFromClient, st.BytesFromInside = s.bytesFromClient, s.bytesFromInside
	for f := range s.flows {
		fc, fi := f.received()
		st.BytesFromClient += fc
		st.BytesFromInside += fi
	}
	st.BytesFromClient = max(st.BytesFromClient, s.reportedFromClient)
	st.BytesFromInside = max(st.BytesFromInside, s.reportedFromInside)
	s.reportedFromClient, s.reportedFromInside = st.BytesFromClient, st.BytesFromInside
	s.flowsMu.Unlock()
	s.mu.Lock()
	st.Listeners = len(s.listeners)
	for _, p := range s.pools {
		ps := nat.PoolStatistics{Name: p.name, DialFailures: p.dialFailures.Load()}
		co, coMembers := coordination(s.rules.Load(), p.name)
		for _, m := range p.members {
			n := int(m.flows.Load())
			down := m.downPorts()
			ms := nat.MemberStatistics{Address: m.addr, Up: len(down) == 0, DownPorts: down, Flows: n}
			if co != nil {
				ms.Slice, _ = co.slice(coMembers, m.addr)
			}
			ps.Members = append(ps.Members, ms)
			ps.Allocated += n
		}
		st.Pools = append(st.Pools, ps)
	}
	s.mu.Unlock()
	slices.SortFunc(st.Pools, func(a, b nat.PoolStatistics) int {
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

// coordination is pool's coordinated mode in r and the members its slices
// are numbered by, or nil.
func coordination(r *Rules, pool string) (*Coordination, []netip.Addr) {
	if r == nil {
		return nil, nil
	}
	for _, rt := range r.Routes {
		if rt.Coordinate != nil && rt.Pool == pool {
			return rt.Coordinate, rt.Members
		}
	}
	return nil, nil
}

// coordinatedSlices are the configured entries of coordinated mode, one
// per outside address and member: that member's passive slice, as a port
// range, in member order.
func coordinatedSlices(r *Rules) []nat.Translation {
	type key struct {
		pool    string
		outside netip.Addr
	}
	seen := map[key]bool{}
	var out []nat.Translation
	for _, rt := range r.Routes {
		co := rt.Coordinate
		if co == nil || rt.Owner.IsValid() {
			continue // not coordinated, or one of the data routes
		}
		k := key{rt.Pool, rt.Listen.Addr()}
		if seen[k] {
			continue
		}
		seen[k] = true
		for i, m := range rt.Members {
			if i >= len(co.Slices) {
				break
			}
			sl := co.Slices[i]
			out = append(out, nat.Translation{Protocol: "tcp", Static: true, Left: -1, Pool: rt.Pool,
				InsideGlobal: netip.AddrPortFrom(k.outside, sl[0]), InsideLocal: netip.AddrPortFrom(m, sl[0]), LastPort: sl[1]})
		}
	}
	return out
}
