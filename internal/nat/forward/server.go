// Package forward is the userspace datapath: Compile derives a listener
// plan from the IOS model (one socket per outside address and port, which is
// why it refuses destinations it cannot list), and Server accepts TCP
// connections on those addresses, picks the inside host (a rotary pool
// member round-robin, or a static map), and splices bytes both ways.
//
// The data path is two goroutines per flow, each a (*net.TCPConn).ReadFrom
// from one raw *net.TCPConn into the other, so Linux moves the bytes with
// splice(2) and no buffer is touched in userspace. Nothing wraps the
// connections: the IOS timers are enforced with deadlines (finrst-timeout)
// and a periodic check of the kernel's last-receive time (tcp-timeout).
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// ErrServerClosed is returned by Reload after Shutdown or Close.
var ErrServerClosed = errors.New("forward: server closed")

// DefaultMaxFlows bounds concurrent flows when Server.MaxFlows is 0; each
// flow holds two sockets and two goroutines.
const DefaultMaxFlows = 8192

// Server runs Rules. Its zero value is ready to Start.
type Server struct {
	// Logger receives one line per failed connection and per member state
	// change; nil means slog.Default(). A source the ACL denies is counted
	// (a miss), not logged: a scan would flood the log.
	Logger *slog.Logger
	// MaxFlows bounds concurrent flows; connections past it are closed at
	// once (counted as misses). 0 means DefaultMaxFlows.
	MaxFlows int

	mu        sync.Mutex
	started   bool
	closing   bool
	listeners map[netip.AddrPort]*listener
	pools     map[string]*pool

	rules atomic.Pointer[Rules]
	sem   chan struct{}

	flowsMu sync.Mutex
	flows   map[*flow]struct{}
	// Bytes of the flows that ended, and the totals last reported, which
	// the next report never goes below (a counter; a FIN read between a
	// flow's socket counts and its copy's end could make one byte vanish).
	// Guarded by flowsMu.
	bytesFromClient, bytesFromInside       uint64
	reportedFromClient, reportedFromInside uint64
	flowWG                                 sync.WaitGroup

	ctx      context.Context // canceled when the Server is forced down; bounds dials
	cancel   context.CancelFunc
	done     chan struct{}  // closed when Shutdown starts
	acceptWG sync.WaitGroup // the accept loops
	bg       sync.WaitGroup // health and idle loops; they stop with ctx

	hits, misses, expired atomic.Uint64

	// The FTP ALG's one-shot translations (alg.go); expMu nests inside mu.
	expMu         sync.Mutex
	expected      map[netip.AddrPort][]*expectation
	oneShot       map[netip.AddrPort]*oneShotListener
	nExpected     int
	expCount      atomic.Int64 // nExpected, read without the lock on the connection path
	algReplies227 atomic.Uint64
}

type listener struct {
	ln     *net.TCPListener
	route  atomic.Pointer[boundRoute]
	closed atomic.Bool
}

// boundRoute is a Route with its run-time pool.
type boundRoute struct {
	Route
	pool     *pool
	expected bool // a one-shot translation of the FTP ALG
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

var _ nat.Datapath = (*Server)(nil)

// Name is the datapath's name in plans and logs: "userspace".
func (s *Server) Name() string { return DatapathName }

// Compile is the package's Compile as nat.Datapath asks for it.
func (s *Server) Compile(cfg *ios.Config) (nat.Program, error) {
	r, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func rulesOf(p nat.Program) (*Rules, error) {
	r, ok := p.(*Rules)
	if !ok || r == nil {
		return nil, fmt.Errorf("forward: cannot run a %T: the userspace datapath runs the *Rules of forward.Compile", p)
	}
	return r, nil
}

// Start opens a listener for every route of p (the *Rules of Compile, or
// built by hand) and serves them in the background. If any outside address
// cannot be opened, nothing is left open and the error names it.
func (s *Server) Start(p nat.Program) error {
	r, err := rulesOf(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("forward: server already started")
	}
	s.started = true
	s.listeners = map[netip.AddrPort]*listener{}
	s.pools = map[string]*pool{}
	s.flows = map[*flow]struct{}{}
	n := s.MaxFlows
	if n <= 0 {
		n = DefaultMaxFlows
	}
	s.sem = make(chan struct{}, n)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done = make(chan struct{})
	s.mu.Unlock()
	if err := s.Reload(r); err != nil {
		s.Close()
		return err
	}
	s.bg.Add(2)
	go s.healthLoop()
	go s.idleLoop()
	return nil
}

// Reload switches to new rules: listeners for new outside addresses open,
// those no longer in the rules close, the rest stay open with their new
// target. Established flows are not touched. When a new listener cannot be
// opened the old rules stay in force and the error names the address.
func (s *Server) Reload(p nat.Program) error {
	r, err := rulesOf(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closing {
		return ErrServerClosed
	}
	pools := map[string]*pool{}
	for _, rt := range r.Routes {
		if rt.Pool == "" || pools[rt.Pool] != nil {
			continue
		}
		if old := s.pools[rt.Pool]; old != nil && old.sameMembers(rt.Members) {
			pools[rt.Pool] = old
		} else {
			pools[rt.Pool] = newPool(rt.Pool, rt.Members)
		}
	}
	opened := map[netip.AddrPort]*listener{}
	keep := map[netip.AddrPort]bool{}
	for _, rt := range r.Routes {
		keep[rt.Listen] = true
		if s.listeners[rt.Listen] != nil || opened[rt.Listen] != nil {
			continue
		}
		l, err := listen(s.ctx, rt)
		if err != nil {
			for _, o := range opened {
				o.ln.Close()
			}
			return err
		}
		opened[rt.Listen] = l
	}
	s.rules.Store(r)
	s.pools = pools
	for addr, l := range s.listeners {
		if !keep[addr] {
			l.close()
			delete(s.listeners, addr)
		}
	}
	for _, rt := range r.Routes {
		br := &boundRoute{Route: rt, pool: pools[rt.Pool]}
		if l := opened[rt.Listen]; l != nil {
			l.route.Store(br)
			s.listeners[rt.Listen] = l
			s.acceptWG.Add(1)
			go s.serve(l)
		} else {
			s.listeners[rt.Listen].route.Store(br)
		}
	}
	return nil
}

func listen(ctx context.Context, rt Route) (*listener, error) {
	lc := net.ListenConfig{Control: keepUrgentInline}
	ln, err := lc.Listen(ctx, "tcp", rt.Listen.String())
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("outside address %s (for %s) is already in use by another program: %w", rt.Listen, rt.target(), err)
		}
		return nil, fmt.Errorf("listen on outside address %s (for %s): %w", rt.Listen, rt.target(), err)
	}
	return &listener{ln: ln.(*net.TCPListener)}, nil
}

func (l *listener) close() {
	if l.closed.CompareAndSwap(false, true) {
		l.ln.Close()
	}
}

// Addrs lists the outside addresses being listened on.
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(s.listeners))
	for a := range s.listeners {
		out = append(out, a)
	}
	return out
}

// serve is the accept loop of one listener.
func (s *Server) serve(l *listener) {
	defer s.acceptWG.Done()
	var backoff time.Duration
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of fds or similar: back off as net/http does rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger().Warn("accept failed; retrying", "listener", l.ln.Addr().String(), "err", err, "delay", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-s.done:
				return
			}
		}
		backoff = 0
		s.dispatch(l.route.Load(), c)
	}
}

// dispatch serves a new connection in its own goroutine, or closes it when
// MaxFlows are running.
func (s *Server) dispatch(rt *boundRoute, c *net.TCPConn) {
	select {
	case s.sem <- struct{}{}:
	default:
		s.misses.Add(1)
		c.SetLinger(0)
		c.Close()
		return
	}
	s.flowWG.Add(1)
	go s.handle(rt, c)
}

// Shutdown closes the listeners, then waits for the flows to end by
// themselves (the drain) until ctx is done, when it closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	first := !s.closing
	s.closing = true
	for _, l := range s.listeners {
		l.close()
	}
	s.closeOneShot()
	s.mu.Unlock()
	if first {
		close(s.done)
	}
	// No accept loop may add a flow once the wait below has begun.
	s.acceptWG.Wait()
	drained := make(chan struct{})
	go func() {
		s.flowWG.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		s.flowsMu.Lock()
		for f := range s.flows {
			f.abort()
		}
		s.flowsMu.Unlock()
		<-drained
	}
	s.cancel()
	s.bg.Wait()
	return err
}

// Close stops at once: listeners and flows are closed.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
