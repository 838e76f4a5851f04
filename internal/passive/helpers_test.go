package passive

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

// All sockets in these tests are on loopback: 127.0.0.0/8 and ::1.
var (
	lo1 = netip.MustParseAddr("127.0.0.1")
	lo2 = netip.MustParseAddr("127.0.0.2")
	lo3 = netip.MustParseAddr("127.0.0.3")
	lo6 = netip.MustParseAddr("::1")
)

// loClient returns a distinct loopback client address for i in 0..60000:
// 127.0.1.1, 127.0.1.2, ... 127.0.1.250, 127.0.2.1, ...
func loClient(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, byte(1 + i/250), byte(1 + i%250)})
}

// freeRange finds n consecutive ports, below the Linux ephemeral range, that
// can currently be bound on every address in locals (127.0.0.1 if none).
func freeRange(tb testing.TB, n int, locals ...netip.Addr) Range {
	tb.Helper()
	if len(locals) == 0 {
		locals = []netip.Addr{lo1}
	}
	for range 200 {
		base := 20000 + rand.IntN(12000-n)
		if portsFree(base, n, locals) {
			return Range{base, base + n - 1}
		}
	}
	tb.Fatalf("no %d free consecutive loopback ports found", n)
	return Range{}
}

func portsFree(base, n int, locals []netip.Addr) bool {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for port := base; port < base+n; port++ {
		for _, a := range locals {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(port)).String())
			if err != nil {
				return false
			}
			lns = append(lns, ln)
		}
	}
	return true
}

// newTestPool returns a pool for r that logs into the returned buffer and is
// closed when the test ends.
func newTestPool(tb testing.TB, r Range) (*Pool, *syncbuf.Buffer) {
	tb.Helper()
	p := New(r)
	buf := &syncbuf.Buffer{}
	p.Logger = slog.New(slog.NewTextHandler(buf, nil))
	tb.Cleanup(func() { p.Close() })
	return p, buf
}

func has6() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// dialFrom opens a TCP connection from loopback address from to r's port.
func dialFrom(from netip.Addr, r *Reservation) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   3 * time.Second,
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)),
	}
	return d.Dial("tcp", r.AddrPort().String())
}

func mustDial(tb testing.TB, from netip.Addr, r *Reservation) net.Conn {
	tb.Helper()
	c, err := dialFrom(from, r)
	if err != nil {
		tb.Fatalf("dial %v from %v: %v", r.AddrPort(), from, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func mustReserve(tb testing.TB, p *Pool, local, client netip.Addr) *Reservation {
	tb.Helper()
	r, err := p.Reserve(local, client)
	if err != nil {
		tb.Fatalf("Reserve(%v, %v): %v", local, client, err)
	}
	return r
}

// acceptCtx returns a context bounded to a few seconds, so no test can hang.
func acceptCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func mustAccept(tb testing.TB, r *Reservation) net.Conn {
	tb.Helper()
	c, err := r.Accept(acceptCtx(tb))
	if err != nil {
		tb.Fatalf("Accept on %v: %v", r, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// sendLine writes s and a newline on c.
func sendLine(tb testing.TB, c net.Conn, s string) {
	tb.Helper()
	c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, s+"\n"); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

// readLine reads one line from c, with a deadline.
func readLine(c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	s, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// expectClosedByPeer checks that the server closed c: a read ends with EOF
// or a reset, not a timeout.
func expectClosedByPeer(tb testing.TB, c net.Conn) {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		tb.Fatalf("connection from %v not closed by server: read err %v", c.LocalAddr(), err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitStats(tb testing.TB, p *Pool, listeners, pending int) {
	tb.Helper()
	var st Stats
	deadline := time.Now().Add(5 * time.Second)
	for {
		st = p.Stats()
		if st.Listeners == listeners && st.Pending == pending {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("Stats = %+v, want Listeners=%d Pending=%d", st, listeners, pending)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGoroutines waits until the goroutine count is back to baseline.
func waitGoroutines(tb testing.TB, baseline int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			tb.Fatalf("goroutines: %d, baseline %d\n%s", n, baseline, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func expectErr(tb testing.TB, what string, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// fakeClock is a clock the test moves by hand: timers run only when
// Advance passes their time, so timeouts are exact and never flaky.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock(p *Pool) *fakeClock {
	c := &fakeClock{now: time.Unix(1_000_000, 0)}
	p.testClock = c
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves the clock by d and runs the timers that came due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		t.f()
	}
}

// Skip moves the clock without running timers: a timer that a busy machine
// runs late.
func (c *fakeClock) Skip(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// mustWaitReady waits for r's connection to be accepted (from the listen
// queue: nothing accepts while nobody waits) and delivered, or r to end.
func mustWaitReady(tb testing.TB, r *Reservation) {
	tb.Helper()
	if !r.WaitReady(5 * time.Second) {
		tb.Fatalf("no connection delivered to %v", r)
	}
}

// expectNotReady: waiting a while on r delivers nothing (a connection of
// another client that came is refused meanwhile).
func expectNotReady(tb testing.TB, r *Reservation) {
	tb.Helper()
	if r.WaitReady(100 * time.Millisecond) {
		tb.Fatalf("%v delivered or ended, want it pending", r)
	}
}

// waitAccepting waits until an Accept on r is blocked.
func waitAccepting(t *testing.T, r *Reservation) {
	t.Helper()
	waitFor(t, "Accept to block", func() bool { return r.waiting.Load() > 0 })
}
