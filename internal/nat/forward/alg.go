package forward

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat/alg"
)

// The FTP ALG on the userspace datapath. A control connection of a route
// with FTPALG is copied in user space (control traffic is small; data
// connections keep splice): the server's replies go through an
// alg.Rewriter, the client's commands through an alg.Commands. Each
// passive reply opens a one-shot translation (an expectation) for its data
// port on the outside address, to the backend that sent the reply, taken
// by the next connection from the same client address within the
// syn-timeout. When the client sends AUTH the connection is about to be
// encrypted: the ALG steps aside (logged once) and both directions go on
// as a plain forward.

// defaultExpectTimeout is the life of an expectation when syn-timeout is never.
const defaultExpectTimeout = 60 * time.Second

// maxExpectations bounds the one-shot translations waiting at once.
const maxExpectations = 4096

// expectation is one one-shot translation.
type expectation struct {
	client   netip.Addr
	backend  netip.AddrPort
	proxy    int
	line     int
	deadline time.Time
}

// oneShotListener is a listener opened for expectations on an outside
// address and port that no route listens on.
type oneShotListener struct {
	ln *net.TCPListener
}

// algFlow runs both directions of an ALG control connection.
func (s *Server) algFlow(f *flow, r *Rules) {
	var aside atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.algCommands(f, r, &aside)
	}()
	s.algReplies(f, r, &aside)
	<-done
}

// algCommands passes the client's bytes on unchanged, watching for AUTH.
func (s *Server) algCommands(f *flow, r *Rules, aside *atomic.Bool) {
	var cmds alg.Commands
	buf := make([]byte, 4096)
	for {
		n, err := f.client.Read(buf)
		if n > 0 {
			tls := cmds.Feed(buf[:n])
			if tls && !aside.Load() {
				// Set before the command reaches the server, so before its reply.
				aside.Store(true)
				s.logger().Info("FTP ALG steps aside for this connection: the client asked for TLS (AUTH), the replies will be encrypted; passive replies now pass unchanged (see README, FTPS behind NAT)",
					"outside", f.route.Listen.String(), "client", f.outside.String(), "inside", f.insideLocal.String())
			}
			if _, werr := f.backend.Write(buf[:n]); werr != nil {
				f.abort()
				return
			}
			if tls {
				s.pipe(f, f.backend, f.client, r)
				return
			}
		}
		if err != nil {
			s.endPipe(f, f.backend, err)
			return
		}
	}
}

// algReplies passes the server's replies through the rewriter.
func (s *Server) algReplies(f *flow, r *Rules, aside *atomic.Bool) {
	rt := f.route
	rw := &alg.Rewriter{Inside: f.insideLocal.Addr(), Outside: rt.Listen.Addr()}
	rw.OnPassive = func(p alg.Passive) {
		s.algReplies227.Add(1)
		s.expectData(rt, f, p.Port, r)
	}
	buf := make([]byte, 4096)
	var out []byte
	for {
		n, err := f.backend.Read(buf)
		if n > 0 {
			if aside.Load() {
				out = append(rw.Flush(out[:0]), buf[:n]...)
			} else {
				out = rw.Feed(out[:0], buf[:n])
			}
			if len(out) > 0 {
				if _, werr := f.client.Write(out); werr != nil {
					f.abort()
					return
				}
			}
			if aside.Load() {
				s.pipe(f, f.client, f.backend, r)
				return
			}
		}
		if err != nil {
			if out = rw.Flush(out[:0]); len(out) > 0 {
				f.client.Write(out)
			}
			s.endPipe(f, f.client, err)
			return
		}
	}
}

// endPipe is pipe's ending for a direction copied here: a FIN is passed on
// as a half-close, anything else ends the flow.
func (s *Server) endPipe(f *flow, dst *net.TCPConn, err error) {
	if errors.Is(err, io.EOF) {
		if dst == f.client {
			f.finFromInside.Store(true)
		} else {
			f.finFromClient.Store(true)
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

// expectData opens the one-shot translation for a passive reply's port.
func (s *Server) expectData(rt *boundRoute, f *flow, port uint16, r *Rules) {
	life := r.DialTimeout
	if life <= 0 {
		life = defaultExpectTimeout
	}
	outside := netip.AddrPortFrom(rt.Listen.Addr(), port)
	e := &expectation{client: f.outside.Addr(), backend: netip.AddrPortFrom(f.insideLocal.Addr(), port),
		proxy: rt.ProxyProtocol, line: rt.Line, deadline: time.Now().Add(life)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.expMu.Lock()
	defer s.expMu.Unlock()
	if s.expected == nil {
		s.expected = map[netip.AddrPort][]*expectation{}
		s.oneShot = map[netip.AddrPort]*oneShotListener{}
	}
	if s.nExpected >= maxExpectations {
		s.misses.Add(1)
		s.logger().Warn("FTP ALG: too many one-shot translations waiting; this one not opened", "outside", outside.String(), "client", e.client.String())
		return
	}
	// A newer reply to the same client for the same port replaces the older.
	list := s.expected[outside]
	for i, old := range list {
		if old.client == e.client {
			list = append(list[:i], list[i+1:]...)
			s.nExpected--
			break
		}
	}
	s.expected[outside] = append(list, e)
	s.nExpected++
	s.expCount.Store(int64(s.nExpected))
	if s.listeners[outside] != nil || s.oneShot[outside] != nil {
		return // the route's listener (or an open one-shot one) takes it
	}
	lc := net.ListenConfig{Control: keepUrgentInline}
	ln, err := lc.Listen(s.ctx, "tcp", outside.String())
	if err != nil {
		s.logger().Warn("FTP ALG: cannot open the one-shot translation for a data port", "outside", outside.String(), "client", e.client.String(), "err", err)
		return
	}
	l := &oneShotListener{ln: ln.(*net.TCPListener)}
	s.oneShot[outside] = l
	s.acceptWG.Add(1)
	go s.serveOneShot(outside, l)
}

// takeExpected removes and returns the live expectation of src on outside, or nil.
func (s *Server) takeExpected(outside netip.AddrPort, src netip.Addr) *expectation {
	if s.expCount.Load() == 0 {
		return nil
	}
	s.expMu.Lock()
	defer s.expMu.Unlock()
	now := time.Now()
	list := s.expected[outside]
	var found *expectation
	kept := list[:0]
	for _, e := range list {
		switch {
		case !now.Before(e.deadline):
			s.nExpected--
		case found == nil && e.client == src:
			found = e
			s.nExpected--
		default:
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		delete(s.expected, outside)
	} else {
		s.expected[outside] = kept
	}
	s.expCount.Store(int64(s.nExpected))
	return found
}

// pruneOneShot drops outside's expired expectations and, when none is
// left, closes its one-shot listener; it returns the next deadline.
func (s *Server) pruneOneShot(outside netip.AddrPort, l *oneShotListener) (time.Time, bool) {
	s.expMu.Lock()
	defer s.expMu.Unlock()
	now := time.Now()
	var next time.Time
	kept := s.expected[outside][:0]
	for _, e := range s.expected[outside] {
		if now.Before(e.deadline) {
			kept = append(kept, e)
			if next.IsZero() || e.deadline.Before(next) {
				next = e.deadline
			}
		} else {
			s.nExpected--
		}
	}
	s.expCount.Store(int64(s.nExpected))
	if len(kept) == 0 {
		delete(s.expected, outside)
		if s.oneShot[outside] == l {
			delete(s.oneShot, outside)
		}
		l.ln.Close()
		return time.Time{}, false
	}
	s.expected[outside] = kept
	return next, true
}

// serveOneShot accepts on a one-shot listener: the expected client's
// connection becomes a flow to the backend; any other is reset. The
// listener closes when no expectation is left.
func (s *Server) serveOneShot(outside netip.AddrPort, l *oneShotListener) {
	defer s.acceptWG.Done()
	for {
		next, ok := s.pruneOneShot(outside, l)
		if !ok {
			return
		}
		l.ln.SetDeadline(next)
		c, err := l.ln.AcceptTCP()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		src := addrPort(c.RemoteAddr())
		e := s.takeExpected(outside, src.Addr())
		if e == nil {
			// No translation for this client: as on a router, nothing there.
			s.misses.Add(1)
			c.SetLinger(0)
			c.Close()
			continue
		}
		s.dispatch(e.route(outside), c)
	}
}

// route is the static translation an expectation stands for.
func (e *expectation) route(outside netip.AddrPort) *boundRoute {
	return &boundRoute{Route: Route{Listen: outside, Static: e.backend, ProxyProtocol: e.proxy, Line: e.line}, expected: true}
}

// closeOneShot closes every one-shot listener (Shutdown); s.mu is held.
func (s *Server) closeOneShot() {
	s.expMu.Lock()
	defer s.expMu.Unlock()
	for a, l := range s.oneShot {
		l.ln.Close()
		delete(s.oneShot, a)
	}
}
