package passive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReserveAcceptRelease(t *testing.T) {
	rng := freeRange(t, 3)
	p, _ := newTestPool(t, rng)
	r := mustReserve(t, p, lo1, lo2)
	if !rng.Contains(r.Port()) {
		t.Fatalf("port %d outside %v", r.Port(), rng)
	}
	if got, want := r.AddrPort(), netip.AddrPortFrom(lo1, uint16(r.Port())); got != want {
		t.Fatalf("AddrPort = %v, want %v", got, want)
	}
	if st := p.Stats(); st.Listeners != 1 || st.Pending != 1 {
		t.Fatalf("Stats after Reserve = %+v", st)
	}
	c := mustDial(t, lo2, r)
	sendLine(t, c, "hello")
	sc := mustAccept(t, r)
	if got := sc.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != lo2 {
		t.Fatalf("data conn from %v, want %v", got, lo2)
	}
	if line, err := readLine(sc); err != nil || line != "hello" {
		t.Fatalf("read %q, %v", line, err)
	}
	// Delivered: no longer pending, and the idle listener is closed.
	waitStats(t, p, 0, 0)
	if st := p.Stats(); st.Delivered != 1 || st.Refused != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if _, err := r.Accept(acceptCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Accept: %v, want ErrClosed", err)
	}
	r.Release()
	r.Release() // idempotent
	// The accepted connection belongs to the caller: Release leaves it open.
	sendLine(t, sc, "still open")
	if line, err := readLine(c); err != nil || line != "still open" {
		t.Fatalf("read after Release: %q, %v", line, err)
	}
}

// Consecutive transfers cycle through the range; concurrent ones from one
// client get distinct ports.
func TestRoundRobin(t *testing.T) {
	rng := freeRange(t, 5)
	p, _ := newTestPool(t, rng)
	var got []int
	for range 12 {
		r := mustReserve(t, p, lo1, lo2)
		got = append(got, r.Port())
		r.Release()
	}
	for i := 1; i < len(got); i++ {
		if want := rng.Lo + (got[i-1]-rng.Lo+1)%rng.Len(); got[i] != want {
			t.Fatalf("ports %v: not round-robin through %v", got, rng)
		}
	}

	seen := map[int]bool{}
	var rs []*Reservation
	for range rng.Len() {
		r := mustReserve(t, p, lo1, lo2)
		if seen[r.Port()] {
			t.Fatalf("port %d reserved twice for the same client", r.Port())
		}
		seen[r.Port()] = true
		rs = append(rs, r)
	}
	if st := p.Stats(); st.Listeners != rng.Len() || st.Pending != rng.Len() {
		t.Fatalf("Stats = %+v", st)
	}
	for _, r := range rs {
		r.Release()
	}
	waitStats(t, p, 0, 0)
}

// Ports with no pending reservation are preferred to sharing.
func TestPreferUnusedPorts(t *testing.T) {
	rng := freeRange(t, 3)
	p, _ := newTestPool(t, rng)
	seen := map[int]bool{}
	for i := range 3 {
		r := mustReserve(t, p, lo1, loClient(i))
		if seen[r.Port()] {
			t.Fatalf("client %d shares port %d while another port is unused", i, r.Port())
		}
		seen[r.Port()] = true
	}
	// All ports busy: the next clients share, spread round-robin.
	perPort := map[int]int{}
	for i := 3; i < 9; i++ {
		perPort[mustReserve(t, p, lo1, loClient(i)).Port()]++
	}
	for port, n := range perPort {
		if n != 2 {
			t.Fatalf("shared reservations per port = %v (port %d), want 2 each", perPort, port)
		}
	}
	if st := p.Stats(); st.Listeners != 3 || st.Pending != 9 {
		t.Fatalf("Stats = %+v", st)
	}
}

// Port P on 127.0.0.1 and port P on 127.0.0.3 are independent.
func TestPerLocalAddress(t *testing.T) {
	rng := freeRange(t, 1, lo1, lo3)
	p, _ := newTestPool(t, rng)
	r1 := mustReserve(t, p, lo1, lo2)
	r3 := mustReserve(t, p, lo3, lo2) // same client, same single port, other local IP
	if r1.Port() != r3.Port() {
		t.Fatalf("ports %d, %d", r1.Port(), r3.Port())
	}
	if _, err := p.Reserve(lo1, lo2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("third Reserve: %v, want ErrExhausted", err)
	}
	if st := p.Stats(); st.Listeners != 2 || st.Pending != 2 {
		t.Fatalf("Stats = %+v", st)
	}
	// The listeners are bound to the specific addresses, not the wildcard.
	c3 := mustDial(t, lo2, r3)
	sendLine(t, c3, "to .3")
	c1 := mustDial(t, lo2, r1)
	sendLine(t, c1, "to .1")
	for _, tc := range []struct {
		r    *Reservation
		want string
	}{{r1, "to .1"}, {r3, "to .3"}} {
		sc := mustAccept(t, tc.r)
		if line, err := readLine(sc); err != nil || line != tc.want {
			t.Fatalf("reservation %v got %q, %v; want %q", tc.r, line, err, tc.want)
		}
		if got := sc.LocalAddr().(*net.TCPAddr).AddrPort(); got != tc.r.AddrPort() {
			t.Fatalf("accepted on %v, want %v", got, tc.r.AddrPort())
		}
	}
	waitStats(t, p, 0, 0)
}

// Another process's listener on a different local address does not stop the
// pool from using the same port numbers (the gateway case).
func TestOtherLocalAddressOccupied(t *testing.T) {
	rng := freeRange(t, 1, lo1, lo3)
	other, err := net.Listen("tcp", netip.AddrPortFrom(lo3, uint16(rng.Lo)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p, _ := newTestPool(t, rng)
	r := mustReserve(t, p, lo1, lo2)
	if r.Port() != rng.Lo {
		t.Fatalf("port %d", r.Port())
	}
	mustDial(t, lo2, r)
	mustAccept(t, r)
}

// 21 ports, 200 client IPs: all reserve at once, connect, and each gets its
// own connection.
func TestSharingManyClients(t *testing.T) {
	const ports, clients = 21, 200
	rng := freeRange(t, ports)
	p, _ := newTestPool(t, rng)
	p.AcceptTimeout = 20 * time.Second
	rs := make([]*Reservation, clients)
	perPort := map[int]int{}
	for i := range rs {
		rs[i] = mustReserve(t, p, lo1, loClient(i))
		perPort[rs[i].Port()]++
	}
	if st := p.Stats(); st.Listeners != ports || st.Pending != clients {
		t.Fatalf("Stats = %+v, want %d listeners, %d pending", st, ports, clients)
	}
	maxPer := (clients + ports - 1) / ports
	for port, n := range perPort {
		if n > maxPer {
			t.Fatalf("port %d carries %d reservations, want at most %d", port, n, maxPer)
		}
	}
	// Every client IP now has a pending reservation on exactly one port, so
	// each can still get ports-1 more; one more than that is refused.

	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	sem := make(chan struct{}, 32)
	for i, r := range rs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dialFrom(loClient(i), r)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(c, "%s\n", loClient(i)); err != nil {
				errs <- err
				return
			}
			// Wait for the server's echo so the conn stays open until read.
			if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
				errs <- fmt.Errorf("client %v: %w", loClient(i), err)
			}
		})
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			sc, err := r.Accept(ctx)
			if err != nil {
				errs <- fmt.Errorf("Accept %v: %w", r, err)
				return
			}
			defer sc.Close()
			defer r.Release()
			line, err := readLine(sc)
			if err != nil {
				errs <- fmt.Errorf("read %v: %w", r, err)
				return
			}
			if line != r.Client().String() {
				errs <- fmt.Errorf("reservation for %v got connection from %q", r.Client(), line)
			}
			if got := sc.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != r.Client() {
				errs <- fmt.Errorf("reservation for %v got connection from %v", r.Client(), got)
			}
			fmt.Fprintf(sc, "ok\n")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitStats(t, p, 0, 0)
	if st := p.Stats(); st.Delivered != clients || st.Refused != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

// A connection from an IP without a pending reservation is closed and
// logged; the legitimate reservation still gets its own connection.
func TestWrongClientRefused(t *testing.T) {
	rng := freeRange(t, 1)
	p, logs := newTestPool(t, rng)
	r := mustReserve(t, p, lo1, lo2)
	thief := netip.MustParseAddr("127.0.0.66")
	bad := mustDial(t, thief, r)
	expectNotReady(t, r) // accepts and refuses the thief's connection
	expectClosedByPeer(t, bad)
	waitFor(t, "refusal to be logged", func() bool { return strings.Contains(logs.String(), "refused") })
	log := logs.String()
	for _, want := range []string{"level=WARN", "refused data connection", fmt.Sprintf("port=%d", r.Port()), "remote=" + bad.LocalAddr().String()} {
		if !strings.Contains(log, want) {
			t.Errorf("log %q lacks %q", log, want)
		}
	}
	if st := p.Stats(); st.Pending != 1 || st.Listeners != 1 {
		t.Fatalf("Stats after refusal = %+v", st)
	}
	good := mustDial(t, lo2, r)
	sendLine(t, good, "mine")
	sc := mustAccept(t, r)
	if line, err := readLine(sc); err != nil || line != "mine" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// A delivered reservation stops being pending: its port can take another
// reservation for the same IP, and the idle listener is closed and rebound.
func TestDeliveryEndsPending(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	r1 := mustReserve(t, p, lo1, lo2)
	if _, err := p.Reserve(lo1, lo2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Reserve while pending: %v, want ErrExhausted", err)
	}
	mustDial(t, lo2, r1)
	sc1 := mustAccept(t, r1) // transfer running; r1 not yet released
	waitStats(t, p, 0, 0)
	r2 := mustReserve(t, p, lo1, lo2)
	if r2.Port() != r1.Port() {
		t.Fatalf("ports %d, %d", r1.Port(), r2.Port())
	}
	mustDial(t, lo2, r2)
	sc2 := mustAccept(t, r2)
	if sc1.LocalAddr().String() != sc2.LocalAddr().String() {
		t.Fatalf("local addrs %v, %v", sc1.LocalAddr(), sc2.LocalAddr())
	}
	r1.Release()
	r2.Release()
	waitStats(t, p, 0, 0)
}

func TestExhausted(t *testing.T) {
	rng := freeRange(t, 3)
	p, _ := newTestPool(t, rng)
	var rs []*Reservation
	for range 3 {
		rs = append(rs, mustReserve(t, p, lo1, lo2))
	}
	// Reserve never waits: exhaustion is an answer at once (the pool's
	// clock is a fake that nobody advances, so any wait would hang here).
	newFakeClock(p)
	_, err := p.Reserve(lo1, lo2)
	expectErr(t, "fourth Reserve", err, ErrExhausted)
	if !strings.Contains(err.Error(), rng.String()) {
		t.Fatalf("error %q does not name range %v", err, rng)
	}
	// Another client can still share the ports.
	other := mustReserve(t, p, lo1, lo3)
	other.Release()
	// Releasing one reservation frees its port for this client again.
	rs[1].Release()
	r := mustReserve(t, p, lo1, lo2)
	if r.Port() != rs[1].Port() {
		t.Fatalf("port %d, want released port %d", r.Port(), rs[1].Port())
	}
}

// A port held by another listener is skipped; if all are held, Reserve fails
// quickly with ErrExhausted.
func TestOccupiedPort(t *testing.T) {
	rng := freeRange(t, 3)
	busy := rng.Lo + 1
	occupant, err := net.Listen("tcp", netip.AddrPortFrom(lo1, uint16(busy)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer occupant.Close()
	p, _ := newTestPool(t, rng)

	for i := range 10 {
		r := mustReserve(t, p, lo1, loClient(i))
		if r.Port() == busy {
			t.Fatalf("reserved occupied port %d", busy)
		}
		r.Release()
	}
	// Two usable ports: two pending for one client, a third is refused.
	a := mustReserve(t, p, lo1, lo2)
	b := mustReserve(t, p, lo1, lo2)
	if a.Port() == busy || b.Port() == busy || a.Port() == b.Port() {
		t.Fatalf("ports %d, %d (busy %d)", a.Port(), b.Port(), busy)
	}
	_, err = p.Reserve(lo1, lo2)
	expectErr(t, "Reserve with occupied port", err, ErrExhausted)
	// The occupied port is shared by nobody; the data still flows on the others.
	mustDial(t, lo2, a)
	mustAccept(t, a)
	a.Release()
	b.Release()

	// A range consisting only of the occupied port.
	p1, _ := newTestPool(t, Range{busy, busy})
	_, err = p1.Reserve(lo1, lo2)
	expectErr(t, "Reserve on occupied range", err, ErrExhausted)
	if !strings.Contains(err.Error(), fmt.Sprint(busy)) {
		t.Fatalf("error %q does not name the range", err)
	}
	if st := p1.Stats(); st.Listeners != 0 || st.Pending != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

// acceptAsync runs r.Accept in a goroutine and returns its result channel.
func acceptAsync(t *testing.T, r *Reservation) <-chan error {
	errc := make(chan error, 1)
	go func() {
		c, err := r.Accept(acceptCtx(t))
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	return errc
}

func result(t *testing.T, what string, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

func TestTimeout(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	p.AcceptTimeout = 100 * time.Millisecond
	clk := newFakeClock(p)

	r := mustReserve(t, p, lo1, lo2)
	errc := acceptAsync(t, r)
	waitAccepting(t, r)
	clk.Advance(99 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("Accept returned %v before the timeout", err)
	default:
	}
	clk.Advance(time.Millisecond)
	expectErr(t, "Accept", result(t, "Accept", errc), ErrTimeout)
	waitStats(t, p, 0, 0)
	_, err := r.Accept(context.Background()) // still ErrTimeout, at once
	expectErr(t, "second Accept", err, ErrTimeout)
	r.Release()
	_, err = r.Accept(context.Background())
	expectErr(t, "Accept after Release", err, ErrTimeout)

	// The timeout counts from Reserve, not from Accept: past it, Accept
	// returns at once, even if the timer has not run yet (Skip moves the
	// clock without running it, as a busy machine runs it late).
	r = mustReserve(t, p, lo1, lo2)
	clk.Skip(110 * time.Millisecond)
	_, err = r.Accept(acceptCtx(t))
	expectErr(t, "late Accept", err, ErrTimeout)
	// Accept called part-way waits only for the rest.
	p.AcceptTimeout = 500 * time.Millisecond
	r = mustReserve(t, p, lo1, lo2)
	clk.Advance(400 * time.Millisecond)
	errc = acceptAsync(t, r)
	waitAccepting(t, r)
	clk.Advance(100 * time.Millisecond)
	expectErr(t, "Accept part-way", result(t, "Accept part-way", errc), ErrTimeout)
	// The port is free again; a new reservation for the same client works.
	waitStats(t, p, 0, 0)
	r = mustReserve(t, p, lo1, lo2)
	defer r.Release()
	if st := p.Stats(); st.Pending != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestDefaultTimeout(t *testing.T) {
	p := New(Range{1, 1})
	if d := p.acceptTimeout(); d != 30*time.Second {
		t.Fatalf("default timeout %v", d)
	}
}

func TestAcceptContext(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	r := mustReserve(t, p, lo1, lo2)
	defer r.Release()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Accept(ctx)
	expectErr(t, "Accept with canceled ctx", err, context.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = r.Accept(ctx)
	expectErr(t, "Accept with short ctx", err, context.DeadlineExceeded)

	// Still pending: the connection can arrive and be accepted afterwards.
	if st := p.Stats(); st.Pending != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	c := mustDial(t, lo2, r)
	sendLine(t, c, "after ctx")
	sc := mustAccept(t, r)
	if line, err := readLine(sc); err != nil || line != "after ctx" {
		t.Fatalf("read %q, %v", line, err)
	}
}

func TestReleaseUnblocksAccept(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	r := mustReserve(t, p, lo1, lo2)
	errc := acceptAsync(t, r)
	waitAccepting(t, r) // Release must wake a blocked Accept, not pre-empt it
	r.Release()
	expectErr(t, "Accept after Release", result(t, "Accept after Release", errc), ErrClosed)
	r.Release()
	waitStats(t, p, 0, 0)
	// Port is free: the listener was closed, so a dial is refused now.
	if c, err := dialFrom(lo2, r); err == nil {
		expectClosedByPeer(t, c)
		c.Close()
	}
}

// A connection that arrived before Accept is returned at once; one that was
// never taken is closed by Release.
func TestConnectionBeforeAccept(t *testing.T) {
	rng := freeRange(t, 2)
	p, _ := newTestPool(t, rng)

	r := mustReserve(t, p, lo1, lo2)
	c := mustDial(t, lo2, r)
	sendLine(t, c, "early")
	mustWaitReady(t, r)
	if st := p.Stats(); st.Delivered != 1 {
		t.Fatalf("Stats after WaitReady = %+v, want 1 delivered", st)
	}
	// Returned at once: even with its context already done, Accept prefers
	// the connection that is there.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	sc, err := r.Accept(done)
	if err != nil {
		t.Fatalf("Accept of an early connection: %v", err)
	}
	if line, err := readLine(sc); err != nil || line != "early" {
		t.Fatalf("read %q, %v", line, err)
	}
	r.Release()

	r = mustReserve(t, p, lo1, lo2)
	c = mustDial(t, lo2, r)
	mustWaitReady(t, r)
	r.Release()
	expectClosedByPeer(t, c)
	_, err = r.Accept(acceptCtx(t))
	expectErr(t, "Accept after Release", err, ErrClosed)
	r.Release()
	waitStats(t, p, 0, 0)
}

// A connection that arrived in time is still returned after the timeout.
func TestDeliveredSurvivesTimeout(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	p.AcceptTimeout = 50 * time.Millisecond
	clk := newFakeClock(p)
	r := mustReserve(t, p, lo1, lo2)
	defer r.Release()
	mustDial(t, lo2, r)
	mustWaitReady(t, r)
	clk.Advance(100 * time.Millisecond)
	mustAccept(t, r)
}

func TestClose(t *testing.T) {
	baseline := runtime.NumGoroutine()
	rng := freeRange(t, 3)
	p, _ := newTestPool(t, rng)
	var rs []*Reservation
	for i := range 5 {
		rs = append(rs, mustReserve(t, p, lo1, loClient(i)))
	}
	delivered := mustReserve(t, p, lo1, lo2)
	dc := mustDial(t, lo2, delivered)
	mustWaitReady(t, delivered)

	errc := make(chan error, len(rs))
	for _, r := range rs {
		go func() {
			_, err := r.Accept(acceptCtx(t))
			errc <- err
		}()
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range rs {
		select {
		case err := <-errc:
			expectErr(t, "Accept after Close", err, ErrClosed)
		case <-time.After(3 * time.Second):
			t.Fatal("Accept not unblocked by Close")
		}
	}
	if st := p.Stats(); st.Listeners != 0 || st.Pending != 0 {
		t.Fatalf("Stats after Close = %+v", st)
	}
	_, err := p.Reserve(lo1, lo2)
	expectErr(t, "Reserve after Close", err, ErrClosed)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The delivered connection stays with its reservation until Release.
	delivered.Release()
	expectClosedByPeer(t, dc)
	for _, r := range rs {
		r.Release()
	}
	waitGoroutines(t, baseline)
}

func TestIPv6(t *testing.T) {
	if !has6() {
		t.Skip("no ::1")
	}
	rng := freeRange(t, 2, lo6)
	p, logs := newTestPool(t, rng)
	r := mustReserve(t, p, lo6, lo6)
	if got := r.AddrPort().String(); got != fmt.Sprintf("[::1]:%d", r.Port()) {
		t.Fatalf("AddrPort = %s", got)
	}
	c := mustDial(t, lo6, r)
	sendLine(t, c, "v6")
	sc := mustAccept(t, r)
	if line, err := readLine(sc); err != nil || line != "v6" {
		t.Fatalf("read %q, %v", line, err)
	}
	r.Release()

	// An IPv4 client can't use the IPv6 listener's reservation; the
	// listener is bound to ::1 only.
	r = mustReserve(t, p, lo6, lo1)
	if _, err := net.DialTimeout("tcp", netip.AddrPortFrom(lo1, uint16(r.Port())).String(), time.Second); err == nil {
		t.Fatalf("listener on [::1]:%d also reachable on 127.0.0.1", r.Port())
	}
	c = mustDial(t, lo6, r) // wrong client IP for this reservation
	expectNotReady(t, r)
	expectClosedByPeer(t, c)
	waitFor(t, "refusal to be logged", func() bool { return strings.Contains(logs.String(), "remote=[::1]:") })
	r.Release()
	waitStats(t, p, 0, 0)
}

// IPv4-mapped IPv6 addresses (as seen on a dual-stack control listener) are
// treated as the IPv4 addresses they are.
func TestMappedAddresses(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	mapped := func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
	r := mustReserve(t, p, mapped(lo1), mapped(lo2))
	if r.Local() != lo1 || r.Client() != lo2 {
		t.Fatalf("Local %v Client %v", r.Local(), r.Client())
	}
	mustDial(t, lo2, r)
	mustAccept(t, r)
	r.Release()
}

func TestInvalidArguments(t *testing.T) {
	p, _ := newTestPool(t, freeRange(t, 1))
	if _, err := p.Reserve(netip.Addr{}, lo2); err == nil {
		t.Fatal("Reserve with invalid local succeeded")
	}
	if _, err := p.Reserve(lo1, netip.Addr{}); err == nil {
		t.Fatal("Reserve with invalid client succeeded")
	}
	empty, _ := newTestPool(t, Range{})
	_, err := empty.Reserve(lo1, lo2)
	expectErr(t, "Reserve on empty range", err, ErrExhausted)
}

// The ClientAddr hook (PROXY protocol) runs off the accepting waiter: a stalled
// connection does not hold up others, its answer decides the client IP, and
// its errors refuse the connection.
func TestClientAddrHook(t *testing.T) {
	baseline := runtime.NumGoroutine()
	rng := freeRange(t, 1)
	p, logs := newTestPool(t, rng)
	// Fake header: one line naming the client IP.
	p.ClientAddr = func(c net.Conn) (net.Conn, netip.Addr, error) {
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, netip.Addr{}, err
		}
		a, err := netip.ParseAddr(strings.TrimSpace(line))
		if err != nil {
			return nil, netip.Addr{}, err
		}
		return &bufConn{Conn: c, r: br}, a, nil
	}
	proxied := netip.MustParseAddr("127.0.0.9")
	r := mustReserve(t, p, lo1, proxied)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := r.Accept(acceptCtx(t)) // accepts, and gives each to the hook
		accepted <- c
	}()

	stalled := mustDial(t, lo1, r) // sends no header: hook blocks on it
	garbage := mustDial(t, lo1, r)
	sendLine(t, garbage, "not-an-ip")
	expectClosedByPeer(t, garbage)
	waitFor(t, "hook refusal to be logged", func() bool { return strings.Contains(logs.String(), "not-an-ip") })
	if st := p.Stats(); st.Refused != 1 || st.Pending != 1 {
		t.Fatalf("Stats = %+v", st)
	}

	// Connection from 127.0.0.1 that speaks for 127.0.0.9.
	c := mustDial(t, lo1, r)
	sendLine(t, c, proxied.String())
	sendLine(t, c, "payload")
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return the hook's connection")
	}
	if sc == nil {
		t.Fatal("Accept failed")
	}
	if line, err := readLine(sc); err != nil || line != "payload" {
		t.Fatalf("read %q, %v", line, err)
	}
	// Any deadline set for the hook is cleared.
	sendLine(t, sc, "back")
	if line, err := readLine(c); err != nil || line != "back" {
		t.Fatalf("read back %q, %v", line, err)
	}
	r.Release()

	// Close ends the stalled hook; all goroutines end.
	p.Close()
	expectClosedByPeer(t, stalled)
	sc.Close()
	waitGoroutines(t, baseline)
}

// The hook's deadline is the accept timeout, so a stalled header cannot
// hold a goroutine forever.
func TestClientAddrHookDeadline(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	p.AcceptTimeout = 100 * time.Millisecond
	hookDone := make(chan error, 1)
	p.ClientAddr = func(c net.Conn) (net.Conn, netip.Addr, error) {
		_, err := c.Read(make([]byte, 1))
		hookDone <- err
		return nil, netip.Addr{}, err
	}
	r := mustReserve(t, p, lo1, lo2)
	defer r.Release()
	errc := acceptAsync(t, r) // takes the connection to the hook
	mustDial(t, lo2, r)
	select {
	case err := <-hookDone:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("hook read err %v, want timeout", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("hook not bounded by the accept timeout")
	}
	expectErr(t, "Accept", result(t, "Accept", errc), ErrTimeout)
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// Many reserve/connect/release cycles, releases without connection,
// undelivered releases, refusals and timeouts leave no listener, no pending
// reservation and no goroutine behind.
func TestNoLeaks(t *testing.T) {
	baseline := runtime.NumGoroutine()
	// Transfers get a generous timeout (a loaded machine must not turn them
	// into timeouts); the timeout cases use a second pool with a short one.
	p, _ := newTestPool(t, freeRange(t, 4))
	short, _ := newTestPool(t, freeRange(t, 4))
	short.AcceptTimeout = 50 * time.Millisecond
	clk := newFakeClock(short)
	thief := netip.MustParseAddr("127.0.0.66")

	for i := range 100 {
		client := loClient(i)
		pool := p
		if i%5 >= 3 {
			pool = short
		}
		r := mustReserve(t, pool, lo1, client)
		switch i % 5 {
		case 0: // full transfer
			c, err := dialFrom(client, r)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := r.Accept(acceptCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			sc.Close()
			c.Close()
		case 1: // abort before any connection
		case 2: // connection delivered, never accepted
			c, err := dialFrom(client, r)
			if err != nil {
				t.Fatal(err)
			}
			mustWaitReady(t, r)
			if !r.deliveredForTest() {
				t.Fatal("WaitReady did not deliver")
			}
			c.Close()
		case 3: // a thief first, then nothing: timeout
			errc := acceptAsync(t, r)
			waitAccepting(t, r)
			if c, err := dialFrom(thief, r); err == nil {
				expectClosedByPeer(t, c)
				c.Close()
			}
			clk.Advance(60 * time.Millisecond)
			expectErr(t, "Accept", result(t, "Accept", errc), ErrTimeout)
		case 4: // timeout without Accept; Release afterwards
			clk.Advance(60 * time.Millisecond)
		}
		r.Release()
	}
	// Timeouts with nobody ever calling Accept or Release.
	for i := range 10 {
		mustReserve(t, short, lo1, loClient(i))
	}
	clk.Advance(60 * time.Millisecond)
	waitStats(t, p, 0, 0)
	waitStats(t, short, 0, 0)
	waitGoroutines(t, baseline)
}

func (r *Reservation) deliveredForTest() bool {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	return r.state == stateDelivered
}

// Concurrent sessions reserving, connecting and releasing; run with -race.
func TestConcurrentSessions(t *testing.T) {
	baseline := runtime.NumGoroutine()
	rng := freeRange(t, 5)
	p, _ := newTestPool(t, rng)
	p.AcceptTimeout = 5 * time.Second
	const sessions, transfers = 20, 15
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for s := range sessions {
		wg.Go(func() {
			client := loClient(s)
			for i := range transfers {
				r, err := p.Reserve(lo1, client)
				if err != nil {
					errs <- err
					return
				}
				if i%3 == 2 {
					r.Release() // aborted transfer
					continue
				}
				c, err := dialFrom(client, r)
				if err != nil {
					r.Release()
					errs <- err
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				sc, err := r.Accept(ctx)
				cancel()
				if err == nil {
					if got := sc.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != client {
						err = fmt.Errorf("session %v got connection from %v", client, got)
					}
					sc.Close()
				}
				c.Close()
				r.Release()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitStats(t, p, 0, 0)
	if st := p.Stats(); st.Refused != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	waitGoroutines(t, baseline)
}

// ReserveIn: a coordinated session's ports come from its slice only.
func TestReserveIn(t *testing.T) {
	rng := freeRange(t, 6)
	p, _ := newTestPool(t, rng)
	sub := Range{Lo: rng.Lo + 2, Hi: rng.Lo + 3}
	var rs []*Reservation
	for range 4 {
		r, err := p.ReserveIn(lo1, lo2, sub)
		if err != nil {
			t.Fatal(err)
		}
		if !sub.Contains(r.Port()) {
			t.Fatalf("port %d outside the slice %s", r.Port(), sub)
		}
		rs = append(rs, r)
		if len(rs) == 2 {
			if _, err := p.ReserveIn(lo1, lo2, sub); !errors.Is(err, ErrExhausted) {
				t.Fatalf("a third reservation for one client in a 2-port slice: %v", err)
			}
			for _, r := range rs {
				r.Release()
			}
		}
	}
	for _, r := range rs[2:] {
		r.Release()
	}
	if _, err := p.ReserveIn(lo1, lo2, Range{Lo: rng.Hi + 1, Hi: rng.Hi + 5}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("a slice outside the range: %v", err)
	}
}

// WaitReady reports false while nothing has come (waiting at most its
// bound), true once a connection is delivered (Accept then returns it at
// once), and true for a reservation that has ended (Accept returns the
// error at once).
func TestWaitReady(t *testing.T) {
	rng := freeRange(t, 2)
	p, _ := newTestPool(t, rng)
	r := mustReserve(t, p, lo1, lo2)
	defer r.Release()

	if r.WaitReady(0) {
		t.Fatal("WaitReady(0) before any connection: true")
	}
	start := time.Now()
	if r.WaitReady(20 * time.Millisecond) {
		t.Fatal("WaitReady(20ms) before any connection: true")
	}
	if el := time.Since(start); el < 20*time.Millisecond || el > 5*time.Second {
		t.Errorf("WaitReady(20ms) returned after %v", el)
	}
	c := mustDial(t, lo2, r)
	defer c.Close()
	if !r.WaitReady(5 * time.Second) {
		t.Fatal("WaitReady after the client connected: false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Accept must not need to wait
	sc, err := r.Accept(ctx)
	if err != nil {
		t.Fatalf("Accept after WaitReady: %v", err)
	}
	sc.Close()

	ended := mustReserve(t, p, lo1, lo2)
	ended.Release()
	if !ended.WaitReady(0) {
		t.Error("WaitReady(0) of a released reservation: false")
	}
}
