package forward

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// pool is a rotary pool's run-time state: its own round-robin counter and
// the health of each member. Reload keeps a pool whose members are unchanged.
type pool struct {
	name    string
	members []*member

	mu   sync.Mutex
	next int

	dialFailures atomic.Uint64
}

// member is one pool address. Health is kept per destination port: a pool
// keeps the client's port, and a refusal on one port (a passive port the
// server is not listening on yet) says nothing about the others.
type member struct {
	addr  netip.Addr
	flows atomic.Int64

	mu        sync.Mutex
	down      map[uint16]bool
	downCount atomic.Int32 // len(down), read without the lock on the connection path
}

func (m *member) isDown(port uint16) bool {
	if m.downCount.Load() == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.down[port]
}

// setDown records port as down or up and reports whether that changed.
func (m *member) setDown(port uint16, down bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down[port] == down {
		return false
	}
	if down {
		if m.down == nil {
			m.down = map[uint16]bool{}
		}
		m.down[port] = true
	} else {
		delete(m.down, port)
	}
	m.downCount.Store(int32(len(m.down)))
	return true
}

func (m *member) downPorts() []uint16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]uint16, 0, len(m.down))
	for p := range m.down {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (m *member) allUp() {
	m.mu.Lock()
	clear(m.down)
	m.downCount.Store(0)
	m.mu.Unlock()
}

func newPool(name string, addrs []netip.Addr) *pool {
	p := &pool{name: name}
	for _, a := range addrs {
		p.members = append(p.members, &member{addr: a})
	}
	return p
}

// member is the member with address a, or nil.
func (p *pool) member(a netip.Addr) *member {
	if p == nil {
		return nil
	}
	for _, m := range p.members {
		if m.addr == a {
			return m
		}
	}
	return nil
}

func (p *pool) sameMembers(addrs []netip.Addr) bool {
	return slices.EqualFunc(p.members, addrs, func(m *member, a netip.Addr) bool { return m.addr == a })
}

// tracksHealth: a one-member pool has nothing to skip to, and a check
// connection to a passive port could take the data connection a server is
// waiting for; so it dials its member every time, as IOS would.
func (p *pool) tracksHealth() bool { return len(p.members) > 1 }

// pick returns the next member round-robin for a new connection to port,
// skipping members marked down for it; nil when every member is down.
func (p *pool) pick(port uint16) *member {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.members)
	for i := 0; i < n; i++ {
		idx := (p.next + i) % n
		if m := p.members[idx]; !m.isDown(port) {
			p.next = (idx + 1) % n
			return m
		}
	}
	return nil
}

// healthLoop is the Rotary extension to IOS rotary pools: a member whose
// dial failed is skipped until a TCP connect to it succeeds again.
func (s *Server) healthLoop() {
	defer s.bg.Done()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		r := s.rules.Load()
		interval := r.HealthInterval
		if interval <= 0 {
			s.forEachMember(func(_ *pool, m *member) { m.allUp() })
			interval = time.Second
		} else {
			s.checkDown(r)
		}
		t.Reset(interval)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) forEachMember(f func(*pool, *member)) {
	s.mu.Lock()
	pools := make([]*pool, 0, len(s.pools))
	for _, p := range s.pools {
		pools = append(pools, p)
	}
	s.mu.Unlock()
	for _, p := range pools {
		for _, m := range p.members {
			f(p, m)
		}
	}
}

func (s *Server) checkDown(r *Rules) {
	timeout := r.HealthInterval
	if r.DialTimeout > 0 && r.DialTimeout < timeout {
		timeout = r.DialTimeout
	}
	var wg sync.WaitGroup
	s.forEachMember(func(p *pool, m *member) {
		for _, port := range m.downPorts() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				addr := netip.AddrPortFrom(m.addr, port)
				d := net.Dialer{Timeout: timeout}
				c, err := d.DialContext(s.ctx, "tcp", addr.String())
				if err != nil {
					return
				}
				c.Close()
				if m.setDown(port, false) {
					s.logger().Info("pool member up again for this port (health check succeeded)", "pool", p.name, "member", m.addr.String(), "port", port)
				}
			}()
		}
	})
	wg.Wait()
}
