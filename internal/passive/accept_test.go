package passive

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A reservation released without its connection may leave the connection
// its client opened in the listen queue: Release accepts and refuses it, so
// that the next transfer on the lingering port gets its own connection,
// not the old one (which would come first in the queue).
func TestUndeliveredReleaseDrainsQueue(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	p, _ := newTestPool(t, freeRange(t, 1, local))
	p.Linger = time.Hour
	client := loClient(1)

	r1 := mustReserve(t, p, local, client)
	old := mustDial(t, client, r1)
	sendLine(t, old, "old")
	r1.Release()
	expectClosedByPeer(t, old)
	if s := p.Stats(); s.Listeners != 1 || s.Refused != 1 {
		t.Fatalf("after releasing with a connection in the queue: %+v, want the listener lingering and the connection refused", s)
	}

	r2 := mustReserve(t, p, local, client)
	if r2.Port() != r1.Port() {
		t.Fatalf("ports %d, %d: the range has one", r1.Port(), r2.Port())
	}
	c := mustDial(t, client, r2)
	sendLine(t, c, "new")
	if line, err := readLine(mustAccept(t, r2)); err != nil || line != "new" {
		t.Fatalf("the second transfer read %q, %v, want its own connection's \"new\"", line, err)
	}
}

// The same on a shared port, and for a reservation that timed out: the old
// connection is refused, the other client's reservation is not disturbed,
// and the client's next reservation on the port gets its new connection.
func TestUndeliveredEndOnSharedPort(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	for _, end := range []string{"release", "timeout"} {
		t.Run(end, func(t *testing.T) {
			p, _ := newTestPool(t, freeRange(t, 1, local))
			p.AcceptTimeout = time.Minute
			clk := newFakeClock(p)
			a, b := loClient(1), loClient(2)
			ra := mustReserve(t, p, local, a)
			clk.Advance(30 * time.Second)
			rb := mustReserve(t, p, local, b) // shares the one port
			if ra.Port() != rb.Port() {
				t.Fatalf("ports %d, %d", ra.Port(), rb.Port())
			}
			old := mustDial(t, a, ra)
			if end == "release" {
				ra.Release()
			} else {
				clk.Advance(30 * time.Second) // ra's timeout, not rb's
			}
			expectClosedByPeer(t, old)
			ra2 := mustReserve(t, p, local, a)
			ca := mustDial(t, a, ra2)
			sendLine(t, ca, "a")
			cb := mustDial(t, b, rb)
			sendLine(t, cb, "b")
			for r, want := range map[*Reservation]string{ra2: "a", rb: "b"} {
				if line, err := readLine(mustAccept(t, r)); err != nil || line != want {
					t.Errorf("%v read %q, %v, want %q", r, line, err, want)
				}
			}
			ra.Release()
			ra2.Release()
			rb.Release()
			waitStats(t, p, 0, 0)
		})
	}
}

// Two clients wait on one shared port at the same time: one waiter
// accepts, the other waits; each gets its own connection, whichever comes
// first, and a waiter whose reservation ends hands the accept over.
func TestSharedPortWaiters(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	p, _ := newTestPool(t, freeRange(t, 1, local))
	clients := []netip.Addr{loClient(1), loClient(2), loClient(3)}
	var rs []*Reservation
	for _, c := range clients {
		rs = append(rs, mustReserve(t, p, local, c))
	}
	type got struct {
		i    int
		line string
		err  error
	}
	results := make(chan got, len(rs))
	for i, r := range rs[:2] {
		go func() {
			c, err := r.Accept(acceptCtx(t))
			if err != nil {
				results <- got{i, "", err}
				return
			}
			defer c.Close()
			line, err := readLine(c)
			results <- got{i, line, err}
		}()
	}
	waitAccepting(t, rs[0])
	waitAccepting(t, rs[1])
	// The third waits too, and is released while it may be the one
	// accepting: the others go on.
	third := acceptAsync(t, rs[2])
	waitAccepting(t, rs[2])
	rs[2].Release()
	expectErr(t, "Accept of the released third", result(t, "the third's Accept", third), ErrClosed)

	// The second client's connection first, then the first's.
	for _, i := range []int{1, 0} {
		c := mustDial(t, clients[i], rs[i])
		sendLine(t, c, clients[i].String())
	}
	for range 2 {
		select {
		case g := <-results:
			if g.err != nil || g.line != clients[g.i].String() {
				t.Errorf("waiter %d read %q, %v, want %q", g.i, g.line, g.err, clients[g.i])
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter on the shared port got nothing")
		}
	}
	for _, r := range rs {
		r.Release()
	}
	waitStats(t, p, 0, 0)
}

// A waiter in the listener's Accept is woken by its context: Accept returns
// the context's error at once and the reservation stays pending.
func TestAcceptWokenByContext(t *testing.T) {
	p, _ := newTestPool(t, freeRange(t, 1))
	r := mustReserve(t, p, lo1, lo2)
	defer r.Release()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.Accept(ctx)
		errc <- err
	}()
	waitAccepting(t, r)
	cancel()
	expectErr(t, "Accept after cancel", result(t, "Accept", errc), context.Canceled)
	c := mustDial(t, lo2, r)
	sendLine(t, c, "later")
	if line, err := readLine(mustAccept(t, r)); err != nil || line != "later" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// Nothing accepts for a reservation nobody waits for: no goroutine per
// port; the connection waits in the listen queue for the transfer.
func TestNoGoroutinePerPort(t *testing.T) {
	p, _ := newTestPool(t, freeRange(t, 50))
	before := runtime.NumGoroutine()
	for i := range 50 {
		r := mustReserve(t, p, lo1, loClient(i))
		defer r.Release()
		mustDial(t, loClient(i), r)
	}
	if n := runtime.NumGoroutine() - before; n > 5 {
		t.Errorf("%d goroutines more with 50 ports reserved and connected, want none per port", n)
	}
	if st := p.Stats(); st.Delivered != 0 || st.Pending != 50 {
		t.Errorf("Stats = %+v: delivered while nobody waited", st)
	}
}

// A connection that reaches a lingering port while no transfer is pending
// there (a stray, or a second connection after the transfer got its own)
// is refused when the port is reserved again, before the new reservation
// exists: from the new reservation's own client address it would
// otherwise come first in the queue and take that transfer's data.
func TestStrayOnLingeringPortRefusedAtReserve(t *testing.T) {
	if !sweepsQueue {
		t.Skip("this system's listeners cannot be swept without waiting")
	}
	local := netip.MustParseAddr("127.0.0.1")
	p, logs := newTestPool(t, freeRange(t, 1, local))
	p.Linger = time.Hour
	client := loClient(1)

	r1 := mustReserve(t, p, local, client)
	c1 := mustDial(t, client, r1)
	mustAccept(t, r1).Close()
	c1.Close()
	r1.Release()

	stray := mustDial(t, client, r1) // the port lingers: nothing accepts
	sendLine(t, stray, "stray")
	time.Sleep(20 * time.Millisecond) // the handshake ends in the queue

	r2 := mustReserve(t, p, local, client)
	defer r2.Release()
	if r2.Port() != r1.Port() {
		t.Fatalf("ports %d, %d: the range has one", r1.Port(), r2.Port())
	}
	expectClosedByPeer(t, stray)
	c2 := mustDial(t, client, r2)
	sendLine(t, c2, "own")
	if line, err := readLine(mustAccept(t, r2)); err != nil || line != "own" {
		t.Fatalf("the second transfer read %q, %v, want its own connection's \"own\"", line, err)
	}
	if s := p.Stats(); s.Refused != 1 {
		t.Errorf("refused %d, want the stray (1)", s.Refused)
	}
	if !strings.Contains(logs.String(), "no pending transfer") {
		t.Errorf("the stray's refusal is not logged:\n%s", logs.String())
	}
}
