package forward

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

func staticRules(listen, to netip.AddrPort) *Rules {
	return &Rules{Routes: []Route{{Listen: listen, Static: to}}, DialTimeout: 5 * time.Second}
}

// staticTo starts a backend on 127.0.0.11 and a gateway route to it from 127.0.0.2.
func staticTo(t *testing.T, h func(*net.TCPConn)) (*Server, netip.AddrPort) {
	t.Helper()
	port, lns := listenSame(t, outsideIP, backendA)
	lns[0].Close()
	serveBackend(t, lns[1], h)
	out := netip.AddrPortFrom(outsideIP, port)
	s := startServer(t, staticRules(out, netip.AddrPortFrom(backendA, port)))
	return s, out
}

func TestForwardSHA256(t *testing.T) {
	_, out := staticTo(t, echo)
	data := make([]byte, 4<<20)
	rand.Read(data)
	c := dial(t, out)
	defer c.Close()
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if n != int64(len(data)) || hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(want[:]) {
		t.Fatalf("echoed %d bytes, sha256 mismatch", n)
	}
}

// TestHalfClose checks that a FIN crosses the gateway in each direction
// while the other direction keeps flowing.
func TestHalfClose(t *testing.T) {
	t.Run("client first", func(t *testing.T) {
		_, out := staticTo(t, hashSink)
		data := make([]byte, 1<<20)
		rand.Read(data)
		c := dial(t, out)
		defer c.Close()
		if _, err := c.Write(data); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		want := sha256.Sum256(data)
		if got := readAll(c); got != hex.EncodeToString(want[:]) {
			t.Fatalf("reply %q: the backend did not see the client's FIN", got)
		}
	})
	t.Run("backend first", func(t *testing.T) {
		after := make(chan string, 1)
		_, out := staticTo(t, func(c *net.TCPConn) {
			io.WriteString(c, "banner")
			c.CloseWrite()
			b, _ := io.ReadAll(c)
			after <- string(b)
		})
		c := dial(t, out)
		defer c.Close()
		if got := readAll(c); got != "banner" {
			t.Fatalf("read %q before EOF", got)
		}
		io.WriteString(c, "still open")
		c.CloseWrite()
		select {
		case got := <-after:
			if got != "still open" {
				t.Fatalf("backend read %q", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("backend got nothing after its own FIN")
		}
	})
}

func TestRoundRobinPerPool(t *testing.T) {
	p1, lns1 := listenSame(t, outsideIP, backendA, backendB)
	p2, lns2 := listenSame(t, outsideIP, backendA, backendB)
	lns1[0].Close()
	lns2[0].Close()
	for _, ln := range append(lns1[1:], lns2[1:]...) {
		serveBackend(t, ln, identify)
	}
	members := []netip.Addr{backendA, backendB}
	r := &Rules{DialTimeout: 5 * time.Second, Routes: []Route{
		{Listen: netip.AddrPortFrom(outsideIP, p1), Pool: "one", Members: members},
		{Listen: netip.AddrPortFrom(outsideIP, p2), Pool: "two", Members: members},
	}}
	startServer(t, r)
	who := func(p uint16) string {
		c := dial(t, netip.AddrPortFrom(outsideIP, p))
		defer c.Close()
		return readAll(c)
	}
	a, b := backendA.String(), backendB.String()
	steps := []struct {
		port uint16
		want string
	}{{p1, a}, {p1, b}, {p2, a}, {p1, a}, {p2, b}, {p2, a}, {p1, b}}
	for i, st := range steps {
		if got := who(st.port); got != st.want {
			t.Fatalf("connection %d to port %d went to %q, want %q", i, st.port, got, st.want)
		}
	}
}

func TestDeadMemberSkippedThenRestored(t *testing.T) {
	port, lns := listenSame(t, outsideIP, backendA, backendB)
	lns[0].Close()
	lns[1].Close() // member A starts dead
	serveBackend(t, lns[2], identify)
	out := netip.AddrPortFrom(outsideIP, port)
	s := startServer(t, &Rules{DialTimeout: 2 * time.Second, HealthInterval: 50 * time.Millisecond,
		Routes: []Route{{Listen: out, Pool: "ftp", Members: []netip.Addr{backendA, backendB}}}})
	who := func() string {
		c := dial(t, out)
		defer c.Close()
		return readAll(c)
	}
	// The first connection is A's turn: A refuses, and the gateway tries B
	// within the same syn-timeout (redispatch), so the client never sees
	// the dead member (issue 15).
	if got := who(); got != backendB.String() {
		t.Fatalf("first connection (A's turn, A dead) got %q, want B after a redispatch", got)
	}
	for i := 0; i < 4; i++ {
		if got := who(); got != backendB.String() {
			t.Fatalf("with A down, connection %d went to %q", i, got)
		}
	}
	if st := s.Statistics(); st.Pools[0].Members[0].Up || st.Pools[0].Members[0].DownPorts[0] != port {
		t.Fatalf("A reported %+v, want down for port %d", st.Pools[0].Members[0], port)
	}
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(backendA, port)))
	if err != nil {
		t.Fatal(err)
	}
	serveBackend(t, ln, identify)
	if !waitFor(10*time.Second, func() bool { return s.Statistics().Pools[0].Members[0].Up }) {
		t.Fatal("A not restored by the health check")
	}
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		seen[who()]++
	}
	if seen[backendA.String()] != 2 || seen[backendB.String()] != 2 {
		t.Fatalf("after restore: %v, want 2 each", seen)
	}
}

// Without health tracking (strict IOS), a dead member's turn is a closed
// connection, as on a router; so is a pool whose every member is dead.
func TestNoRedispatchInStrictMode(t *testing.T) {
	port, lns := listenSame(t, outsideIP, backendA, backendB)
	lns[0].Close()
	lns[1].Close() // member A dead
	serveBackend(t, lns[2], identify)
	out := netip.AddrPortFrom(outsideIP, port)
	s := startServer(t, &Rules{DialTimeout: 2 * time.Second,
		Routes: []Route{{Listen: out, Pool: "ftp", Members: []netip.Addr{backendA, backendB}}}})
	who := func() string {
		c := dial(t, out)
		defer c.Close()
		return readAll(c)
	}
	if got := who(); got != "" {
		t.Fatalf("A's turn without health tracking got %q, want a closed connection", got)
	}
	if got := who(); got != backendB.String() {
		t.Fatalf("B's turn got %q", got)
	}
	if st := s.Statistics(); st.Pools[0].DialFailures != 1 {
		t.Fatalf("dial failures %d, want 1", st.Pools[0].DialFailures)
	}
}

// When every member is dead, the client is closed after each was tried once.
func TestRedispatchGivesUpWhenAllDead(t *testing.T) {
	port, lns := listenSame(t, outsideIP, backendA, backendB)
	for _, l := range lns {
		l.Close()
	}
	out := netip.AddrPortFrom(outsideIP, port)
	s := startServer(t, &Rules{DialTimeout: 2 * time.Second, HealthInterval: time.Hour,
		Routes: []Route{{Listen: out, Pool: "ftp", Members: []netip.Addr{backendA, backendB}}}})
	c := dial(t, out)
	got := readAll(c)
	c.Close()
	if got != "" {
		t.Fatalf("got %q from a pool with no live member", got)
	}
	st := s.Statistics()
	if st.Pools[0].DialFailures != 2 || st.Pools[0].Members[0].Up || st.Pools[0].Members[1].Up {
		t.Fatalf("statistics %+v: want both members tried once and marked down", st.Pools[0])
	}
}

func TestProxyProtocolV2(t *testing.T) {
	port, lns := listenSame(t, outsideIP, backendA)
	lns[0].Close()
	type got struct {
		src, dst string
		data     string
		err      error
	}
	ch := make(chan got, 1)
	serveBackend(t, lns[1], func(c *net.TCPConn) {
		br := bufio.NewReader(c)
		h, err := proxyproto.Read(br)
		if err != nil {
			ch <- got{err: err}
			return
		}
		line, _ := br.ReadString('\n')
		ch <- got{src: h.SourceAddr.String(), dst: h.DestinationAddr.String(), data: line}
		io.WriteString(c, "ok\n")
	})
	out := netip.AddrPortFrom(outsideIP, port)
	startServer(t, &Rules{DialTimeout: 5 * time.Second,
		Routes: []Route{{Listen: out, Pool: "ftp", Members: []netip.Addr{backendA}, ProxyProtocol: 2}}})
	c := dial(t, out)
	defer c.Close()
	io.WriteString(c, "USER x\n")
	var g got
	select {
	case g = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection reached the backend")
	}
	if g.err != nil {
		t.Fatal(g.err)
	}
	if g.src != c.LocalAddr().String() || g.dst != out.String() || g.data != "USER x\n" {
		t.Fatalf("backend saw src=%s dst=%s data=%q; want src=%s dst=%s", g.src, g.dst, g.data, c.LocalAddr(), out)
	}
	if r, _ := bufio.NewReader(c).ReadString('\n'); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
}

func TestReloadKeepsFlows(t *testing.T) {
	p1, lns1 := listenSame(t, outsideIP, backendA)
	p2, lns2 := listenSame(t, outsideIP, backendA)
	lns1[0].Close()
	lns2[0].Close()
	serveBackend(t, lns1[1], echo)
	serveBackend(t, lns2[1], echo)
	a := Route{Listen: netip.AddrPortFrom(outsideIP, p1), Static: netip.AddrPortFrom(backendA, p1)}
	b := Route{Listen: netip.AddrPortFrom(outsideIP, p2), Static: netip.AddrPortFrom(backendA, p2)}
	s := startServer(t, &Rules{DialTimeout: 5 * time.Second, Routes: []Route{a}})
	flow := dial(t, a.Listen)
	defer flow.Close()
	roundTrip(t, flow, "before reload")

	if err := s.Reload(&Rules{DialTimeout: 5 * time.Second, Routes: []Route{b}}); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", a.Listen.String(), time.Second); err == nil {
		c.Close()
		t.Fatal("removed listener still accepts")
	}
	roundTrip(t, flow, "after the listener closed")
	nb := dial(t, b.Listen)
	roundTrip(t, nb, "new listener")
	nb.Close()

	if err := s.Reload(&Rules{DialTimeout: 5 * time.Second, Routes: []Route{a, b}}); err != nil {
		t.Fatal(err)
	}
	na := dial(t, a.Listen)
	roundTrip(t, na, "reopened")
	na.Close()
	roundTrip(t, flow, "still the first flow")
	if n := len(s.Addrs()); n != 2 {
		t.Fatalf("%d listeners, want 2", n)
	}
}

func TestReloadFailureKeepsOldRules(t *testing.T) {
	p1, lns := listenSame(t, outsideIP, backendA)
	lns[0].Close()
	serveBackend(t, lns[1], echo)
	a := Route{Listen: netip.AddrPortFrom(outsideIP, p1), Static: netip.AddrPortFrom(backendA, p1)}
	s := startServer(t, &Rules{DialTimeout: 5 * time.Second, Routes: []Route{a}})
	busy, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := Route{Listen: netip.MustParseAddrPort(busy.Addr().String()), Static: a.Static}
	err = s.Reload(&Rules{Routes: []Route{bad}})
	if err == nil || !strings.Contains(err.Error(), bad.Listen.String()) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("Reload error = %v, want one naming %s as in use", err, bad.Listen)
	}
	c := dial(t, a.Listen)
	roundTrip(t, c, "old rules still run")
	c.Close()
}

func TestStartPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ap := netip.MustParseAddrPort(busy.Addr().String())
	s := &Server{Logger: quietLog()}
	err = s.Start(staticRules(ap, netip.MustParseAddrPort("127.0.0.11:21")))
	if err == nil || !strings.Contains(err.Error(), "outside address "+ap.String()) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("Start error = %v", err)
	}
}

// TestSourceFilter: a route carrying an ACL evaluates it for each
// connection: the denied source is closed, the permitted one reaches the
// inside host.
func TestSourceFilter(t *testing.T) {
	port, lns := listenSame(t, outsideIP, backendA)
	lns[0].Close()
	serveBackend(t, lns[1], identify)
	out := netip.AddrPortFrom(outsideIP, port)
	r := staticRules(out, netip.AddrPortFrom(backendA, port))
	denied, permitted := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.3")
	r.Routes[0].ACL = &ios.ACL{Name: "t", Entries: []*ios.ACLEntry{
		{Seq: 10, Action: ios.Deny, Protocol: "tcp", Source: ios.AddrMatch{Address: denied, Wildcard: netip.IPv4Unspecified()}, Dest: ios.AddrMatch{Any: true}},
		{Seq: 20, Action: ios.Permit, Protocol: "tcp", Source: ios.AddrMatch{Any: true}, Dest: ios.AddrMatch{Any: true}},
	}}
	s := startServer(t, r)
	from := func(src netip.Addr) string {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		c, err := d.Dial("tcp", out.String())
		if err != nil { // the refusal may already show as a reset on connect
			return ""
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return readAll(c)
	}
	if got := from(denied); got != "" {
		t.Fatalf("denied source got %q", got)
	}
	if got := from(permitted); got != backendA.String() {
		t.Fatalf("permitted source got %q, want the backend's %s", got, backendA)
	}
	if !waitFor(10*time.Second, func() bool { st := s.Statistics(); return st.Misses == 1 && st.Hits == 1 }) {
		t.Fatalf("statistics %+v, want 1 miss (the denied source) and 1 hit", s.Statistics())
	}
}

// TestTimers checks tcp-timeout (idle) and finrst-timeout. Each flow's end
// is an event (a read returning) and is then attributed: Expired counts
// the flows a timer closed, so a flow ended by something else (a backend's
// own close, a deadline) fails the test instead of passing it. The only
// time bounds are lower ones: a slow machine makes a timer fire later,
// never earlier. The slack is the kernel's: TCP_INFO's last-receive time
// is counted in jiffies (up to 10 ms each).
func TestTimers(t *testing.T) {
	const slack = 50 * time.Millisecond
	t.Run("idle flow closed, busy flow kept", func(t *testing.T) {
		port, lns := listenSame(t, outsideIP, backendA)
		lns[0].Close()
		serveBackend(t, lns[1], echo)
		out := netip.AddrPortFrom(outsideIP, port)
		r := staticRules(out, netip.AddrPortFrom(backendA, port))
		// The busy flow moves data every 20 ms; it is closed only if
		// this test stalls for 50 times that.
		r.IdleTimeout = time.Second
		s := startServer(t, r)
		idle := dial(t, out)
		defer idle.Close()
		busy := dial(t, out)
		defer busy.Close()
		start := time.Now()
		roundTrip(t, idle, "x") // the idle flow's last data
		closed := make(chan error, 1)
		go func() {
			_, err := idle.Read(make([]byte, 1))
			closed <- err
		}()
		for waiting := true; waiting; {
			select {
			case err := <-closed:
				if err == nil {
					t.Fatal("the idle flow delivered data")
				}
				waiting = false
			case <-time.After(20 * time.Millisecond):
				roundTrip(t, busy, "tick")
			}
		}
		if d := time.Since(start); d < r.IdleTimeout-slack {
			t.Fatalf("idle flow closed after %v, before tcp-timeout (%v)", d, r.IdleTimeout)
		}
		roundTrip(t, busy, "still open")
		if n := s.Statistics().Expired; n != 1 {
			t.Fatalf("%d expired translations, want 1: the idle flow ended some other way (its read's deadline?)", n)
		}
	})
	t.Run("finrst after the first FIN", func(t *testing.T) {
		hold := make(chan struct{})
		defer close(hold)
		port, lns := listenSame(t, outsideIP, backendA)
		lns[0].Close()
		serveBackend(t, lns[1], func(c *net.TCPConn) {
			io.Copy(io.Discard, c) // sees the FIN, then never closes its side
			<-hold
		})
		out := netip.AddrPortFrom(outsideIP, port)
		r := staticRules(out, netip.AddrPortFrom(backendA, port))
		r.FinTimeout = 200 * time.Millisecond
		s := startServer(t, r)
		start := time.Now() // before the flow's sockets exist, so before their last receive
		c := dial(t, out)
		defer c.Close()
		c.CloseWrite()
		readAll(c) // the backend never closes: only the timer (or dial's 20 s deadline) ends this
		if d := time.Since(start); d < r.FinTimeout-slack {
			t.Fatalf("flow closed after %v, before finrst-timeout (%v)", d, r.FinTimeout)
		}
		if n := s.Statistics().Expired; n != 1 {
			t.Fatalf("%d expired translations, want 1: the flow was not closed by finrst-timeout", n)
		}
	})
	t.Run("half-closed flow that still moves data is kept", func(t *testing.T) {
		const writes, every = 40, 50 * time.Millisecond
		port, lns := listenSame(t, outsideIP, backendA)
		lns[0].Close()
		serveBackend(t, lns[1], func(c *net.TCPConn) {
			io.Copy(io.Discard, c) // the client's FIN
			for i := 0; i < writes; i++ {
				if _, err := c.Write(make([]byte, 1000)); err != nil {
					return
				}
				time.Sleep(every)
			}
			c.Close()
		})
		out := netip.AddrPortFrom(outsideIP, port)
		r := staticRules(out, netip.AddrPortFrom(backendA, port))
		r.FinTimeout = 10 * every
		s := startServer(t, r)
		c := dial(t, out)
		defer c.Close()
		c.CloseWrite()
		start := time.Now()
		if got := readAll(c); len(got) != writes*1000 {
			t.Fatalf("half-closed flow delivered %d of %d bytes: cut while active", len(got), writes*1000)
		}
		if d := time.Since(start); d < 2*r.FinTimeout {
			t.Fatalf("the transfer took %v, not past finrst-timeout (%v): nothing was tested", d, r.FinTimeout)
		}
		if n := s.Statistics().Expired; n != 0 {
			t.Fatalf("%d expired translations, want 0", n)
		}
	})
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestDeadBackendBounded sends 1000 connections at a backend that refuses:
// goroutines and fds must return to where they were.
func TestDeadBackendBounded(t *testing.T) {
	// Without health checks every connection dials; with them, the two dead
	// members are marked down and later connections are closed at once.
	for _, health := range []time.Duration{0, time.Second} {
		port, lns := listenSame(t, outsideIP, backendA, backendB)
		for _, ln := range lns {
			ln.Close() // nothing listens on the backends
		}
		out := netip.AddrPortFrom(outsideIP, port)
		s := startServer(t, &Rules{DialTimeout: time.Second, HealthInterval: health,
			Routes: []Route{{Listen: out, Pool: "dead", Members: []netip.Addr{backendA, backendB}}}})
		runtime.GC()
		g0, f0 := runtime.NumGoroutine(), countFDs()
		const total, parallel = 1000, 50
		var wg sync.WaitGroup
		work := make(chan struct{})
		for w := 0; w < parallel; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					c, err := net.DialTimeout("tcp", out.String(), 5*time.Second)
					if err != nil {
						continue
					}
					c.SetDeadline(time.Now().Add(5 * time.Second))
					readAll(c)
					c.Close()
				}
			}()
		}
		for i := 0; i < total; i++ {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		ok := waitFor(10*time.Second, func() bool {
			return runtime.NumGoroutine() <= g0+2 && (f0 < 0 || countFDs() <= f0+2)
		})
		if !ok {
			t.Fatalf("health %v: goroutines %d (were %d), fds %d (were %d)", health, runtime.NumGoroutine(), g0, countFDs(), f0)
		}
		st := s.Statistics()
		if st.Misses != total || st.Hits != 0 || st.Dynamic != 0 {
			t.Fatalf("health %v: statistics %+v", health, st)
		}
		if down := !st.Pools[0].Members[0].Up; down != (health > 0) {
			t.Fatalf("health %v: member A down = %v", health, down)
		}
		s.Close()
	}
}

func TestShutdown(t *testing.T) {
	t.Run("drain", func(t *testing.T) {
		s, out := staticTo(t, echo)
		c := dial(t, out)
		roundTrip(t, c, "a")
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		if !waitFor(10*time.Second, func() bool { return refuses(out) }) {
			t.Fatal("listener still accepting after Shutdown began")
		}
		roundTrip(t, c, "draining flow continues")
		c.CloseWrite()
		readAll(c)
		c.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return after the last flow ended")
		}
		if err := s.Reload(&Rules{}); !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Reload after Shutdown: %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		s, out := staticTo(t, echo)
		c := dial(t, out)
		defer c.Close()
		roundTrip(t, c, "a")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v", err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("flow survived a forced shutdown")
		}
	})
}

func TestTranslations(t *testing.T) {
	s, out := staticTo(t, echo)
	c := dial(t, out)
	defer c.Close()
	roundTrip(t, c, "a")
	ts := s.Translations()
	if len(ts) != 2 || !ts[0].Static || ts[1].Static {
		t.Fatalf("translations %+v", ts)
	}
	client := netip.MustParseAddrPort(c.LocalAddr().String())
	if ts[1].InsideGlobal != out || ts[1].OutsideLocal != client || ts[1].InsideLocal.Addr() != backendA || ts[1].Left != -1 {
		t.Fatalf("live entry %+v", ts[1])
	}
	st := s.Statistics()
	if st.Static != 1 || st.Dynamic != 1 || st.Hits != 1 {
		t.Fatalf("statistics %+v", st)
	}
}

func TestCompileSeed(t *testing.T) {
	f, err := os.Open("../ios/testdata/seed-single-server.ios")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, _, err := ios.Parse(f.Name(), f, ios.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Routes) != 22 || r.IdleTimeout != 86400*time.Second || r.FinTimeout != time.Minute ||
		r.DialTimeout != time.Minute || r.HealthInterval != 5*time.Second {
		t.Fatalf("rules %+v", r)
	}
	if r.Routes[0].Static != netip.MustParseAddrPort("127.0.0.1:2121") || r.Routes[1].Pool != "ftp" || r.Routes[1].Listen.Port() != 5500 {
		t.Fatalf("routes %+v %+v", r.Routes[0], r.Routes[1])
	}
}

// TestSingleMemberPoolNeverSkipped: with one member there is nothing to skip
// to, and a health check could steal a pending passive connection, so every
// connection dials the member (FTP passive ports are refused until PASV).
func TestSingleMemberPoolNeverSkipped(t *testing.T) {
	port, lns := listenSame(t, outsideIP, backendA)
	lns[0].Close()
	lns[1].Close()
	out := netip.AddrPortFrom(outsideIP, port)
	s := startServer(t, &Rules{DialTimeout: time.Second, HealthInterval: time.Hour,
		Routes: []Route{{Listen: out, Pool: "pasv", Members: []netip.Addr{backendA}}}})
	c := dial(t, out)
	if got := readAll(c); got != "" {
		t.Fatalf("got %q from a closed port", got)
	}
	c.Close()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(backendA, port)))
	if err != nil {
		t.Fatal(err)
	}
	serveBackend(t, ln, identify)
	c = dial(t, out)
	defer c.Close()
	if got := readAll(c); got != backendA.String() {
		t.Fatalf("after the port opened: %q", got)
	}
	if !s.Statistics().Pools[0].Members[0].Up {
		t.Fatal("single member marked down")
	}
}

// The bytes of a flow count while it runs (a 1 GiB transfer shows before
// its end) and once it ended, each byte once, and never go down.
func TestStatisticsCountBytes(t *testing.T) {
	s, out := staticTo(t, echo)
	c := dial(t, out)
	roundTrip(t, c, strings.Repeat("x", 100000))
	var live nat.Statistics
	if !waitFor(10*time.Second, func() bool {
		live = s.Statistics()
		return live.BytesFromClient == 100000 && live.BytesFromInside == 100000
	}) {
		t.Fatalf("live flow: %d bytes from the client, %d from inside; want 100000 each", live.BytesFromClient, live.BytesFromInside)
	}
	roundTrip(t, c, strings.Repeat("y", 5000))
	c.CloseWrite()
	readAll(c)
	c.Close()
	var st nat.Statistics
	if !waitFor(10*time.Second, func() bool { st = s.Statistics(); return st.Dynamic == 0 }) {
		t.Fatal("the flow did not end")
	}
	if st.BytesFromClient != 105000 || st.BytesFromInside != 105000 {
		t.Fatalf("ended flow: %d from the client, %d from inside; want 105000 each", st.BytesFromClient, st.BytesFromInside)
	}
}
