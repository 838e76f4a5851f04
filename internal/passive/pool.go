package passive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrExhausted is returned by Reserve when every port in the range has a
	// pending transfer for the client IP, or cannot be bound.
	ErrExhausted = errors.New("passive: no free data port")
	// ErrTimeout is returned by Accept when no data connection arrived
	// within the accept timeout.
	ErrTimeout = errors.New("passive: timed out waiting for data connection")
	// ErrClosed is returned by Accept after Release or Pool.Close, and by
	// Reserve after Pool.Close.
	ErrClosed = errors.New("passive: reservation closed")
)

// DefaultLinger is the Linger `rotary serve` uses: long enough to carry a
// client's next PASV, short enough that idle ports are closed soon.
const DefaultLinger = 2 * time.Second

// DefaultAcceptTimeout is the accept timeout used when Pool.AcceptTimeout is 0.
const DefaultAcceptTimeout = 30 * time.Second

// Pool hands out passive data ports from a Range. Set its exported fields
// before the first Reserve and do not change them afterwards. A Pool is safe
// for concurrent use.
type Pool struct {
	// AcceptTimeout: how long a reservation waits for its data connection,
	// counted from Reserve. 0 means 30 s.
	AcceptTimeout time.Duration
	// Logger receives a line for every refused data connection (wrong
	// client IP). nil means slog.Default().
	Logger *slog.Logger
	// ClientAddr, if set, is called (in its own goroutine, never blocking
	// the accepting waiter) for each accepted connection and returns the
	// connection to use and the client address it speaks for. This is the
	// hook for PROXY protocol on data connections. nil means: the conn
	// itself and its RemoteAddr's IP. The connection has a deadline of
	// AcceptTimeout while the hook runs; it is cleared afterwards.
	ClientAddr func(net.Conn) (net.Conn, netip.Addr, error)
	// Linger keeps a port's listener open this long after its last
	// reservation ended, so that the next PASV reuses it instead of
	// binding again: for many small transfers, listen and close cost more
	// than the transfer (bind alone slows down with many TIME_WAIT sockets
	// on the range). 0 closes at once.
	Linger time.Duration
	// Usage, if set, is told of every reservation, data connection and
	// exhaustion (metrics, the sizing hint). Pools that replace each other
	// on reload share one.
	Usage *Usage

	rng Range

	mu        sync.Mutex
	closed    bool
	retired   bool // replaced by a reload: no new reservations linger
	listeners map[listenKey]*listener
	cursor    map[netip.Addr]int // next offset into rng, per local IP
	// idle holds, per local IP, the listeners kept open (Linger) with
	// nothing pending, so that Reserve finds one without walking the range.
	idle      map[netip.Addr][]*listener
	inflight  map[net.Conn]struct{} // conns inside the ClientAddr hook
	testClock clock                 // nil: real time
	pending   int
	delivered uint64
	refused   uint64

	wg sync.WaitGroup // ClientAddr goroutines
}

// Stats is a snapshot of a Pool's state.
type Stats struct {
	Listeners int // open listeners
	// Busy is the ports with at least one reservation waiting, and Shared
	// those with waiting reservations of more than one client IP (the
	// range was full when the later ones came).
	Busy, Shared int
	Pending      int    // reservations waiting for their data connection
	Delivered    uint64 // data connections handed to reservations, since New
	Refused      uint64 // data connections refused (no matching reservation), since New
}

type listenKey struct {
	local netip.Addr
	port  int
}

// listener is one bound (local IP, port) with its pending reservations.
// All fields but ln, key and the constant ones are guarded by Pool.mu.
type listener struct {
	key     listenKey
	ln      *net.TCPListener
	pending map[netip.Addr]*Reservation // by client IP
	closed  bool
	linger  stopper // closes the listener when it stays unused
	idleGen int     // which linger period the timer belongs to
	idleAt  int     // index in Pool.idle[key.local] while lingering, else -1
	// accepting is the reservation whose waiter is in ln.Accept now, if
	// any (or drainer): only one at a time, as the others could not be
	// woken from it.
	accepting *Reservation
	// free, if not nil, is closed when accepting becomes nil again: the
	// other waiters of a shared port wait on it to take the accept over.
	free chan struct{}
}

type resState uint8

const (
	statePending   resState = iota // in listener.pending, waiting
	stateDelivered                 // conn arrived, not yet taken by Accept
	stateTaken                     // conn returned by Accept
	stateEnded                     // released, timed out or pool closed; err set
)

// Reservation is one passive port reserved for one transfer of one client.
type Reservation struct {
	pool   *Pool
	local  netip.Addr
	client netip.Addr
	port   int
	expiry time.Time     // Reserve + accept timeout
	done   chan struct{} // closed when state leaves statePending

	// waiting counts the Accept calls blocked now (tests wait for it).
	waiting atomic.Int32

	// guarded by pool.mu
	l     *listener // non-nil while pending
	timer stopper
	state resState
	conn  net.Conn
	err   error
}

// New returns a Pool for the ports of r. An invalid range gives a Pool whose
// Reserve always fails with ErrExhausted.
func New(r Range) *Pool {
	return &Pool{
		rng:       r,
		listeners: make(map[listenKey]*listener),
		cursor:    make(map[netip.Addr]int),
		idle:      make(map[netip.Addr][]*listener),
		inflight:  make(map[net.Conn]struct{}),
	}
}

// Range returns the pool's port range.
func (p *Pool) Range() Range { return p.rng }

// clock is the pool's time source for accept timeouts and linger: the real
// one, or a test's.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) stopper
}

type stopper interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                              { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

func (p *Pool) clock() clock {
	if p.testClock != nil {
		return p.testClock
	}
	return realClock{}
}

func (p *Pool) acceptTimeout() time.Duration {
	if p.AcceptTimeout > 0 {
		return p.AcceptTimeout
	}
	return DefaultAcceptTimeout
}

func (p *Pool) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// clientKey normalises a client address for matching: IPv4-mapped IPv6
// addresses become IPv4 and zones are dropped.
func clientKey(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// Reserve picks a port for a session whose control connection has local
// address local and client client, makes sure a listener is bound on
// local:port (the control connection's local address, not the wildcard
// address), and returns a Reservation. Ports with no pending reservation are
// preferred, round-robin; when there are none, a port is shared with pending
// reservations of other client IPs. It returns ErrExhausted when every port
// has a pending reservation for client or cannot be bound, and ErrClosed
// after Close.
func (p *Pool) Reserve(local, client netip.Addr) (*Reservation, error) {
	return p.reserve(local, client, p.rng)
}

// ReserveIn is Reserve limited to the ports of sub that are in the pool's
// range (a coordinating gateway's slice for one session). It returns
// ErrExhausted when sub and the range share no port.
func (p *Pool) ReserveIn(local, client netip.Addr, sub Range) (*Reservation, error) {
	r := Range{Lo: max(sub.Lo, p.rng.Lo), Hi: min(sub.Hi, p.rng.Hi)}
	if r.Hi < r.Lo {
		p.Usage.exhaust()
		return nil, fmt.Errorf("%w: slice %s is outside the passive range %s", ErrExhausted, sub, p.rng)
	}
	return p.reserve(local, client, r)
}

func (p *Pool) reserve(local, client netip.Addr, rng Range) (*Reservation, error) {
	if !local.IsValid() {
		return nil, fmt.Errorf("passive: invalid local address")
	}
	if !client.IsValid() {
		return nil, fmt.Errorf("passive: invalid client address")
	}
	local = local.Unmap()
	client = clientKey(client)
	n := rng.Len()

	var swept []string // refused by sweepLocked: logged after the unlock
	var sweepErr error
	var sweptPort int
	defer func() {
		for _, remote := range swept {
			p.logger().Warn("passive: refused data connection: no pending transfer for this client on this port",
				"port", sweptPort, "local", local.String(), "remote", remote)
		}
		if sweepErr != nil {
			p.logger().Warn("passive: clearing a lingering port's queue failed", "port", sweptPort, "err", sweepErr)
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.listeners == nil { // zero Pool; New was not used
		p.listeners = make(map[listenKey]*listener)
		p.cursor = make(map[netip.Addr]int)
		p.idle = make(map[netip.Addr][]*listener)
		p.inflight = make(map[net.Conn]struct{})
	}
	start := p.cursor[local]
	if n > 0 {
		start %= n
	}

	// Pass 0: a listener kept open (Linger) with nothing pending: no bind.
	// The first from the cursor on, as the ports go round-robin (rotary
	// probe sees the whole range handed out that way), found among the
	// idle listeners instead of probing the range port by port.
	var next *listener
	nextGap := n
	for _, l := range p.idle[local] {
		if gap := (l.key.port - rng.Lo - start + n) % n; rng.Contains(l.key.port) && gap < nextGap {
			next, nextGap = l, gap
		}
	}
	if next != nil {
		p.cursor[local] = (next.key.port - rng.Lo + 1) % n
		sweptPort = next.key.port
		swept, sweepErr = p.sweepLocked(next)
		return p.addLocked(next, local, client), nil
	}
	// Pass 1: a port with no listener at all.
	var bindErr error
	for i := range n {
		off := (start + i) % n
		key := listenKey{local, rng.Lo + off}
		if _, busy := p.listeners[key]; busy {
			continue
		}
		l, err := p.listenLocked(key)
		if err != nil {
			bindErr = err // in use by something else: skip
			continue
		}
		p.cursor[local] = (off + 1) % n
		return p.addLocked(l, local, client), nil
	}
	// Pass 2: share a port with pending reservations of other client IPs.
	for i := range n {
		off := (start + i) % n
		l := p.listeners[listenKey{local, rng.Lo + off}]
		if l == nil {
			continue // could not be bound in pass 1
		}
		if _, dup := l.pending[client]; dup {
			continue
		}
		p.cursor[local] = (off + 1) % n
		return p.addLocked(l, local, client), nil
	}
	p.Usage.exhaust()
	if bindErr != nil {
		return nil, fmt.Errorf("%w in %s on %s for client %s (last bind error: %w)", ErrExhausted, rng, local, client, bindErr)
	}
	return nil, fmt.Errorf("%w in %s on %s for client %s", ErrExhausted, rng, local, client)
}

// sweepLocked refuses what waits in the queue of l, a lingering listener
// with nothing pending, before a new reservation takes it: a connection
// that came while no transfer was pending would otherwise come first to
// the new transfer's accept and, from that transfer's client address, take
// its data. (A drain in progress, after an undelivered end, refuses it.)
func (p *Pool) sweepLocked(l *listener) ([]string, error) {
	if l.accepting != nil {
		return nil, nil
	}
	swept, err := sweepQueue(l.ln)
	for range swept {
		p.refused++
		p.Usage.refuse()
	}
	return swept, err
}

// listenLocked binds key. Nothing accepts on it until a reservation waits.
func (p *Pool) listenLocked(key listenKey) (*listener, error) {
	network := "tcp4"
	if key.local.Is6() {
		network = "tcp6"
	}
	// No TCP keep-alive on data connections: they live for one transfer,
	// and setting it costs four system calls per accepted connection.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), network, netip.AddrPortFrom(key.local, uint16(key.port)).String())
	if err != nil {
		return nil, err
	}
	l := &listener{key: key, ln: ln.(*net.TCPListener), pending: make(map[netip.Addr]*Reservation), idleAt: -1}
	p.listeners[key] = l
	return l, nil
}

func (p *Pool) addLocked(l *listener, local, client netip.Addr) *Reservation {
	r := &Reservation{
		pool:   p,
		local:  local,
		client: client,
		port:   l.key.port,
		done:   make(chan struct{}),
		l:      l,
	}
	if l.linger != nil {
		l.linger.Stop()
		l.linger = nil
	}
	p.unidleLocked(l)
	l.pending[client] = r
	p.pending++
	p.Usage.change(+1, 0)
	timeout := p.acceptTimeout()
	r.expiry = p.clock().Now().Add(timeout)
	r.timer = p.clock().AfterFunc(timeout, func() { p.expire(r) })
	return r
}

// unpendLocked removes a pending r from its listener, closing the listener
// if it has no pending reservation left.
func (p *Pool) unpendLocked(r *Reservation) {
	l := r.l
	r.l = nil
	r.timer.Stop()
	delete(l.pending, r.client)
	p.pending--
	p.Usage.change(-1, 0)
	if len(l.pending) > 0 {
		return
	}
	if p.Linger <= 0 || p.closed || p.retired {
		p.closeListenerLocked(l)
		return
	}
	l.idleGen++
	gen := l.idleGen
	l.idleAt = len(p.idle[l.key.local])
	p.idle[l.key.local] = append(p.idle[l.key.local], l)
	l.linger = p.clock().AfterFunc(p.Linger, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		// Only if no reservation came (and went) since this period began.
		if l.idleGen == gen && len(l.pending) == 0 {
			p.closeListenerLocked(l)
		}
	})
}

// closeListenerLocked closes l. It is done under p.mu so that, once it
// returns, the port can be bound again by a following Reserve.
func (p *Pool) closeListenerLocked(l *listener) {
	if l.closed {
		return
	}
	l.closed = true
	if l.linger != nil {
		l.linger.Stop()
		l.linger = nil
	}
	p.unidleLocked(l)
	delete(p.listeners, l.key)
	l.ln.Close()
}

// unidleLocked takes l out of the idle listeners, if it is there.
func (p *Pool) unidleLocked(l *listener) {
	i := l.idleAt
	if i < 0 {
		return
	}
	idle := p.idle[l.key.local]
	last := len(idle) - 1
	idle[i] = idle[last]
	idle[i].idleAt = i
	idle[last] = nil
	if last == 0 {
		delete(p.idle, l.key.local)
	} else {
		p.idle[l.key.local] = idle[:last]
	}
	l.idleAt = -1
}

// endLocked finishes a pending r with err: no connection came for it (or
// none was accepted in time).
func (p *Pool) endLocked(r *Reservation, err error) {
	r.wakeLocked()
	p.unpendLocked(r)
	r.state = stateEnded
	r.err = err
	close(r.done)
}

func (p *Pool) expire(r *Reservation) {
	p.mu.Lock()
	l := r.l
	if r.state == statePending {
		p.endLocked(r, ErrTimeout)
	}
	p.mu.Unlock()
	p.drain(l)
}

// drainer stands for drain in listener.accepting.
var drainer = new(Reservation)

// drainWait bounds drain's accept: what waits in the queue is accepted at
// once; the wait only ends an accept that finds the queue empty.
const drainWait = time.Millisecond

// drain accepts what waits in l's listen queue now, if l is still open and
// nobody accepts on it. It follows a reservation that ended without its
// connection, which its client may have opened all the same: accepted now,
// that connection is refused (or, on a shared port, handed to the pending
// reservation of its client) instead of waiting in the queue for its
// client's next transfer on the port, which it would otherwise reach
// before that transfer's own.
func (p *Pool) drain(l *listener) {
	if l == nil {
		return
	}
	p.mu.Lock()
	if l.closed || l.accepting != nil {
		p.mu.Unlock()
		return // closing resets the queue; an accepting waiter drains it
	}
	l.accepting = drainer
	l.ln.SetDeadline(time.Now().Add(drainWait))
	p.mu.Unlock()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			break
		}
		p.take(l, c)
	}
	p.mu.Lock()
	p.acceptEndedLocked(l)
	p.mu.Unlock()
}

// acceptEndedLocked records that l's accepting waiter left its Accept, and
// lets the other waiters of a shared port take the accept over.
func (p *Pool) acceptEndedLocked(l *listener) {
	l.accepting = nil
	if l.free != nil {
		close(l.free)
		l.free = nil
	}
}

// take hands the connection c, just accepted on l, to the reservation of
// its client (dispatch), or, with a ClientAddr hook, to a goroutine that
// runs the hook first (resolve).
func (p *Pool) take(l *listener, c net.Conn) {
	if p.ClientAddr == nil {
		var addr netip.Addr
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			addr = ta.AddrPort().Addr()
		} else if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			addr = ap.Addr()
		}
		p.dispatch(l, c, c, addr)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return
	}
	p.inflight[c] = struct{}{}
	p.wg.Go(func() { p.resolve(l, c) })
}

// resolve runs the ClientAddr hook for c and dispatches the result.
func (p *Pool) resolve(l *listener, c net.Conn) {
	c.SetDeadline(time.Now().Add(p.acceptTimeout()))
	conn, addr, err := p.ClientAddr(c)
	p.mu.Lock()
	delete(p.inflight, c)
	closed := p.closed
	if err != nil || conn == nil {
		p.refused++
		p.Usage.refuse()
	}
	p.mu.Unlock()
	if err != nil || conn == nil {
		if err == nil {
			err = errors.New("ClientAddr returned no connection")
		}
		if conn != nil {
			conn.Close()
		}
		c.Close()
		if closed {
			return
		}
		p.logger().Warn("passive: refused data connection: client address", "port", l.key.port, "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	if conn != c {
		conn.SetDeadline(time.Time{})
	}
	p.dispatch(l, c, conn, addr)
}

// dispatch hands conn (accepted as raw) to the pending reservation of addr on
// l, or refuses it.
func (p *Pool) dispatch(l *listener, raw, conn net.Conn, addr netip.Addr) {
	addr = clientKey(addr)
	p.mu.Lock()
	var r *Reservation
	if !l.closed && !p.closed {
		r = l.pending[addr]
	}
	if r != nil {
		r.wakeLocked()
		p.unpendLocked(r)
		r.state = stateDelivered
		r.conn = conn
		p.delivered++
		p.Usage.change(0, +1)
		close(r.done)
		p.mu.Unlock()
		return
	}
	p.refused++
	p.Usage.refuse()
	shutdown := p.closed
	p.mu.Unlock()
	conn.Close()
	if raw != conn {
		raw.Close()
	}
	if shutdown {
		return // the pool is shutting down; nothing to report
	}
	p.logger().Warn("passive: refused data connection: no pending transfer for this client on this port",
		"port", l.key.port, "local", l.key.local.String(), "remote", raw.RemoteAddr().String(), "client", addr.String())
}

// Close closes all listeners. Pending reservations get ErrClosed, and
// Reserve returns ErrClosed from now on. Connections already delivered to a
// reservation stay with it (Release closes them if Accept never took them).
// Close waits for the pool's goroutines to finish. It is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, l := range p.listeners {
		for _, r := range l.pending {
			p.endLocked(r, ErrClosed)
		}
		p.closeListenerLocked(l) // no-op if endLocked already closed it
	}
	inflight := p.inflight
	p.inflight = make(map[net.Conn]struct{})
	p.mu.Unlock()
	for c := range inflight {
		c.Close()
	}
	p.wg.Wait()
	return nil
}

// Retire is for a pool that a new one replaces (a reload changed the
// range or the PROXY trust): reservations still pending finish here, but
// no listener lingers any more, and the lingering ones close now, so that
// the new pool can bind the ports again at once. (A reload that moved the
// range away and back within the linger would otherwise find them taken.)
func (p *Pool) Retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = true
	for _, l := range p.listeners {
		if len(l.pending) == 0 {
			p.closeListenerLocked(l) // stops its linger
		}
	}
}

// Stats returns a snapshot of the pool's state.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	busy, shared := 0, 0
	for _, l := range p.listeners {
		if len(l.pending) > 0 {
			busy++
		}
		if len(l.pending) > 1 {
			shared++
		}
	}
	return Stats{
		Busy:      busy,
		Shared:    shared,
		Listeners: len(p.listeners),
		Pending:   p.pending,
		Delivered: p.delivered,
		Refused:   p.refused,
	}
}

// Port returns the reserved port.
func (r *Reservation) Port() int { return r.port }

// Local returns the local address the port is bound on.
func (r *Reservation) Local() netip.Addr { return r.local }

// Client returns the client IP the reservation waits for.
func (r *Reservation) Client() netip.Addr { return r.client }

// AddrPort returns the local address and port the client must connect to.
func (r *Reservation) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(r.local, uint16(r.port))
}

// String describes the reservation, for logs.
func (r *Reservation) String() string {
	return net.JoinHostPort(r.local.String(), strconv.Itoa(r.port)) + " for " + r.client.String()
}

// Accept waits for the data connection from the reservation's client IP. It
// returns at the latest when the reservation's accept timeout (counted from
// Reserve) expires (ErrTimeout), when ctx is done (ctx.Err(); the
// reservation stays pending), or when Release is called (ErrClosed). A
// connection that was delivered before (WaitReady) is returned at once, even
// with ctx done. The connection is returned once; the caller owns it and
// must close it.
func (r *Reservation) Accept(ctx context.Context) (net.Conn, error) {
	r.expireIfDue()
	select {
	case <-r.done:
	default:
		r.waiting.Add(1)
		ready := r.await(ctx, time.Time{})
		r.waiting.Add(-1)
		if !ready {
			return nil, ctx.Err()
		}
	}
	p := r.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.state {
	case stateDelivered:
		c := r.conn
		r.conn = nil
		r.state = stateTaken
		return c, nil
	case stateTaken:
		return nil, fmt.Errorf("%w: connection already accepted", ErrClosed)
	default:
		return nil, r.err
	}
}

// WaitReady waits at most d for Accept to be able to return at once: a
// connection delivered, or r ended (timed out, released, the pool closed).
// It reports whether it can.
func (r *Reservation) WaitReady(d time.Duration) bool {
	select {
	case <-r.done:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	return r.await(context.Background(), time.Now().Add(d))
}

// await waits until r is no longer pending (true), or until ctx is done or
// the time until (if not zero) has come (false).
//
// Connections are accepted here, by the goroutine that waits for one, not
// by a goroutine of the pool: a connection usually waits in the listen
// queue when its transfer starts, so the accept returns at once, in the
// goroutine that needs the connection, without a hand-over. Connections
// from other addresses are refused here too, as the waiter comes to them.
// One waiter per listener accepts (listener.accepting); the waiters of the
// other clients of a shared port wait for their delivery or take the
// accept over when it ends. A waiter in Accept is woken by a deadline in
// the past on the listener (wakeLocked): when its reservation ends or is
// delivered by a ClientAddr goroutine, or ctx is done.
func (r *Reservation) await(ctx context.Context, until time.Time) bool {
	p := r.pool
	var backoff time.Duration
	var stopWake func() bool
	defer func() {
		if stopWake != nil {
			stopWake()
		}
	}()
	for {
		p.mu.Lock()
		if r.state != statePending {
			p.mu.Unlock()
			return true
		}
		if ctx.Err() != nil || (!until.IsZero() && !time.Now().Before(until)) {
			p.mu.Unlock()
			return false
		}
		l := r.l
		if l.accepting != nil {
			// A shared port, accepted on by another client's waiter.
			if l.free == nil {
				l.free = make(chan struct{})
			}
			free := l.free
			p.mu.Unlock()
			r.waitOther(ctx, until, free)
			continue
		}
		l.accepting = r
		l.ln.SetDeadline(until) // zero: none; under p.mu, so that no wake is lost
		p.mu.Unlock()
		if stopWake == nil && ctx.Done() != nil {
			stopWake = context.AfterFunc(ctx, func() {
				p.mu.Lock()
				r.wakeLocked()
				p.mu.Unlock()
			})
		}
		c, err := l.ln.Accept()
		p.mu.Lock()
		p.acceptEndedLocked(l)
		p.mu.Unlock()
		if err == nil {
			backoff = 0
			p.take(l, c)
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // woken: see above why
		}
		if errors.Is(err, net.ErrClosed) {
			// The listener closes only when r has ended (Release,
			// the timeout, Close); should it close under a pending r,
			// r ends too, rather than accept on it again.
			p.mu.Lock()
			if r.state == statePending {
				p.endLocked(r, ErrClosed)
			}
			p.mu.Unlock()
			continue
		}
		// Temporary trouble such as EMFILE: back off and retry.
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		p.logger().Warn("passive: accept failed", "port", l.key.port, "local", l.key.local, "err", err)
		if !until.IsZero() {
			backoff = min(backoff, time.Until(until))
		}
		r.waitOther(ctx, time.Now().Add(backoff), nil)
	}
}

// waitOther waits for r's delivery or end, ctx, the time until (if not
// zero) or free (if not nil) to be closed.
func (r *Reservation) waitOther(ctx context.Context, until time.Time, free chan struct{}) {
	var timeout <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-r.done:
	case <-free:
	case <-ctx.Done():
	case <-timeout:
	}
}

// wakeLocked wakes r's waiter from the listener's Accept, if it is there:
// r leaves its pending state, or its waiter's context is done.
func (r *Reservation) wakeLocked() {
	if l := r.l; l != nil && l.accepting == r {
		l.ln.SetDeadline(aLongTimeAgo)
	}
}

// aLongTimeAgo is a deadline that has passed: it ends an Accept at once.
var aLongTimeAgo = time.Unix(1, 0)

// expireIfDue ends r with ErrTimeout if its accept timeout has passed but
// the timer has not run yet (a busy machine can run it late).
func (r *Reservation) expireIfDue() {
	p := r.pool
	p.mu.Lock()
	var drain *listener
	if r.state == statePending && !p.clock().Now().Before(r.expiry) {
		drain = r.l
		p.endLocked(r, ErrTimeout)
	}
	p.mu.Unlock()
	p.drain(drain)
}

// Release gives the port back. It is idempotent and safe to call on every
// path (transfer end, abort, timeout, session close). If a connection was
// delivered but never taken by Accept, Release closes it. A connection taken
// by Accept is not touched.
func (r *Reservation) Release() {
	p := r.pool
	p.mu.Lock()
	var c net.Conn
	var drain *listener
	switch r.state {
	case statePending:
		drain = r.l
		p.endLocked(r, ErrClosed)
	case stateDelivered:
		c = r.conn
		r.conn = nil
		r.state = stateEnded
		r.err = ErrClosed
		p.Usage.change(0, -1)
	case stateTaken:
		// The transfer on the connection is over: it no longer counts
		// as running.
		r.state = stateEnded
		r.err = ErrClosed
		p.Usage.change(0, -1)
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
	p.drain(drain)
}
