package forward

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/rotary-ftp/rotary/internal/proxyheader"
)

// flow is one translated connection: the client's socket on the outside
// address and the gateway's socket to the inside host.
type flow struct {
	client, backend *net.TCPConn
	route           *boundRoute
	member          *member // nil for static maps
	insideLocal     netip.AddrPort
	outside         netip.AddrPort
	created         time.Time

	lastActive atomic.Int64 // unix nanos; maintained only where the kernel cannot tell (see activity_*.go)
	finAt      atomic.Int64 // unix nanos of the first FIN, 0 before
	// fromClient and fromInside count the bytes received from each side:
	// the final counts once ended is set (Linux reads them live from
	// TCP_INFO until then; elsewhere the copies add to them).
	fromClient, fromInside       atomic.Uint64
	ended                        atomic.Bool
	finFromClient, finFromInside atomic.Bool // that side's FIN arrived
	closeOnce                    sync.Once
}

// abort resets both sockets (SO_LINGER 0): an error or a timer ends the
// flow, and each peer learns it at once, as a RST through IOS would tell it.
// The copies return and the flow ends.
func (f *flow) abort() {
	f.closeOnce.Do(func() {
		f.client.SetLinger(0)
		f.backend.SetLinger(0)
		f.client.Close()
		f.backend.Close()
	})
}

// close ends a flow whose two directions both saw a FIN: the kernel still
// delivers whatever is queued.
func (f *flow) close() {
	f.closeOnce.Do(func() {
		f.client.Close()
		f.backend.Close()
	})
}

// dialInside connects to the inside host for a new connection from src: the
// static map's, or the pool's next member. A member that does not answer
// is marked down and the next one is tried, all within one syn-timeout
// (HAProxy's redispatch): the client, already connected to the gateway,
// never sees the dead member. It closes c and reports false when no inside
// host could be reached.
func (s *Server) dialInside(r *Rules, rt *boundRoute, c *net.TCPConn, src netip.AddrPort) (netip.AddrPort, *member, net.Conn, bool) {
	ctx := s.ctx
	if r.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.DialTimeout)
		defer cancel()
	}
	if rt.pool == nil {
		bc, err := (&net.Dialer{}).DialContext(ctx, "tcp", rt.Static.String())
		if err != nil {
			s.misses.Add(1)
			s.logger().Warn("inside host unreachable; client closed", "outside", rt.Listen.String(), "client", src.String(), "inside", rt.Static.String(), "err", err)
			c.Close()
			return rt.Static, nil, nil, false
		}
		return rt.Static, nil, bc, true
	}
	port := rt.Listen.Port()
	if rt.Owner.IsValid() {
		// A coordinated data port: its slice's member, up or down (the
		// member keeps its slice; a data connection has nowhere else to go).
		dst := netip.AddrPortFrom(rt.Owner, port)
		bc, err := (&net.Dialer{}).DialContext(ctx, "tcp", dst.String())
		if err != nil {
			s.misses.Add(1)
			s.logger().Warn("inside host unreachable; client closed", "outside", rt.Listen.String(), "client", src.String(), "pool", rt.Pool, "inside", dst.String(), "err", err)
			c.Close()
			return dst, nil, nil, false
		}
		return dst, rt.pool.member(rt.Owner), bc, true
	}
	redispatch := r.HealthInterval > 0 && rt.pool.tracksHealth()
	var lastErr error
	var dst netip.AddrPort
	for tried := 0; tried < len(rt.pool.members); tried++ {
		m := rt.pool.pick(port)
		if m == nil {
			break
		}
		dst = netip.AddrPortFrom(m.addr, port)
		bc, err := (&net.Dialer{}).DialContext(ctx, "tcp", dst.String())
		if err == nil {
			return dst, m, bc, true
		}
		lastErr = err
		rt.pool.dialFailures.Add(1)
		if !redispatch {
			break
		}
		if m.setDown(port, true) {
			s.logger().Warn("pool member down for this port; skipped until a health check succeeds", "pool", rt.Pool, "member", m.addr.String(), "port", port, "err", err)
		}
		if ctx.Err() != nil {
			break // the syn-timeout is spent
		}
	}
	s.misses.Add(1)
	if lastErr == nil {
		s.logger().Warn("every member of the pool is down; client closed", "outside", rt.Listen.String(), "client", src.String(), "pool", rt.Pool)
	} else {
		s.logger().Warn("inside host unreachable; client closed", "outside", rt.Listen.String(), "client", src.String(), "pool", rt.Pool, "inside", dst.String(), "err", lastErr)
	}
	c.Close()
	return dst, nil, nil, false
}

// handle is the whole life of one client connection.
func (s *Server) handle(rt *boundRoute, c *net.TCPConn) {
	defer func() {
		<-s.sem
		s.flowWG.Done()
	}()
	defer func() {
		if v := recover(); v != nil {
			s.logger().Error("panic serving connection", "client", c.RemoteAddr().String(), "panic", v, "stack", string(debug.Stack()))
			c.Close()
		}
	}()
	r := s.rules.Load()
	src := addrPort(c.RemoteAddr())
	if !rt.expected {
		if e := s.takeExpected(rt.Listen, src.Addr()); e != nil {
			rt = e.route(rt.Listen) // the FTP ALG's one-shot translation wins
		}
	}
	if !rt.permits(src) {
		// "deny" for this source: no translation, so no connection.
		s.misses.Add(1)
		c.SetLinger(0)
		c.Close()
		return
	}
	dst, m, bc, ok := s.dialInside(r, rt, c, src)
	if !ok {
		return
	}
	b := bc.(*net.TCPConn)
	f := &flow{client: c, backend: b, route: rt, member: m, insideLocal: dst, outside: src, created: time.Now()}
	f.lastActive.Store(f.created.UnixNano())
	if rt.ProxyProtocol == 2 {
		// The header names the client and the outside address it reached, so
		// the server sees the real peer and the public address (PROXY v2, §2.2).
		h := proxyproto.HeaderProxyFromAddrs(2, c.RemoteAddr(), c.LocalAddr())
		if co := rt.Coordinate; co != nil && !rt.Owner.IsValid() {
			// Coordinated mode: the member's slice and the public address (Rotary's TLV).
			if sl, ok := co.slice(rt.Members, dst.Addr()); ok {
				cd := proxyheader.Coordination{Lo: sl[0], Hi: sl[1], Public: co.Public}
				h.SetTLVs([]proxyproto.TLV{cd.TLV()})
			}
		}
		if r.DialTimeout > 0 {
			b.SetWriteDeadline(time.Now().Add(r.DialTimeout))
		}
		if _, err := h.WriteTo(b); err != nil {
			s.misses.Add(1)
			s.logger().Warn("PROXY header to the inside host failed; client closed", "outside", rt.Listen.String(), "client", src.String(), "inside", dst.String(), "err", err)
			f.abort()
			return
		}
		b.SetWriteDeadline(time.Time{})
	}
	if !s.register(f) {
		f.abort()
		return
	}
	s.hits.Add(1)
	if m != nil {
		m.flows.Add(1)
	}
	if rt.FTPALG {
		s.algFlow(f, r)
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.pipe(f, c, b, r)
		}()
		s.pipe(f, b, c, r)
		<-done
	}
	// The final byte counts, read before the sockets close.
	fc, fi := f.received()
	f.fromClient.Store(fc)
	f.fromInside.Store(fi)
	f.ended.Store(true)
	f.close()
	if m != nil {
		m.flows.Add(-1)
	}
	s.unregister(f)
}

// pipe copies src to dst until src's FIN, then passes the half-close on
// (CloseWrite) and marks the flow closing: from then on finrst-timeout is
// its inactivity limit (idleLoop), so a half-closed flow that still moves
// data in the other direction goes on. Any error (RST, the other
// direction's abort) ends both directions.
func (s *Server) pipe(f *flow, dst, src *net.TCPConn, r *Rules) {
	_, err := copyConn(dst, src, f, src == f.client)
	if err == nil {
		if src == f.client {
			f.finFromClient.Store(true)
		} else {
			f.finFromInside.Store(true)
		}
		dst.CloseWrite()
		f.finAt.CompareAndSwap(0, time.Now().UnixNano())
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.expired.Add(1)
	}
	f.abort()
}

func (s *Server) register(f *flow) bool {
	s.flowsMu.Lock()
	defer s.flowsMu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.flows[f] = struct{}{}
	return true
}

// unregister drops f, adding its bytes to the totals in the same step, so
// that Statistics counts them once.
func (s *Server) unregister(f *flow) {
	fc, fi := f.received()
	s.flowsMu.Lock()
	delete(s.flows, f)
	s.bytesFromClient += fc
	s.bytesFromInside += fi
	s.flowsMu.Unlock()
}

// idleLoop enforces tcp-timeout and finrst-timeout: a flow whose sockets
// have received nothing for IdleTimeout, or for FinTimeout once one side
// has sent its FIN, is closed. It reads the kernel's last-receive time instead
// of counting bytes, so the copies stay unwrapped.
func (s *Server) idleLoop() {
	defer s.bg.Done()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	var batch []*flow
	for {
		r := s.rules.Load()
		tick := time.Second
		if r.IdleTimeout > 0 || r.FinTimeout > 0 {
			shortest := r.IdleTimeout
			if shortest <= 0 || (r.FinTimeout > 0 && r.FinTimeout < shortest) {
				shortest = r.FinTimeout
			}
			tick = min(max(shortest/10, 10*time.Millisecond), 5*time.Second)
			batch = batch[:0]
			s.flowsMu.Lock()
			for f := range s.flows {
				batch = append(batch, f)
			}
			s.flowsMu.Unlock()
			for _, f := range batch {
				idle := f.idle()
				closing := f.finAt.Load() != 0
				if (r.IdleTimeout > 0 && idle >= r.IdleTimeout) || (closing && r.FinTimeout > 0 && idle >= r.FinTimeout) {
					s.expired.Add(1)
					f.abort()
				}
			}
			clear(batch)
		}
		t.Reset(tick)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
