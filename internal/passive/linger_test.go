package passive

import (
	"net/netip"
	"testing"
	"time"
)

// With Linger, a released port's listener stays open for the next
// reservation (no new bind), and closes once it stays unused.
func TestLinger(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	p, _ := newTestPool(t, freeRange(t, 4, local))
	p.Linger = 300 * time.Millisecond
	clk := newFakeClock(p)
	client := loClient(1)

	r1 := mustReserve(t, p, local, client)
	c := mustDial(t, client, r1)
	mustAccept(t, r1).Close()
	c.Close()
	r1.Release()
	if s := p.Stats(); s.Listeners != 1 || s.Pending != 0 {
		t.Fatalf("after release with Linger: %+v, want the listener kept", s)
	}
	// The next reservation reuses the lingering listener: same port.
	r2 := mustReserve(t, p, local, client)
	if r2.Port() != r1.Port() {
		t.Fatalf("second reservation on port %d, want the lingering %d", r2.Port(), r1.Port())
	}
	// A connection to it from another client is still refused (when the
	// transfer's Accept comes to it, before its own).
	other := loClient(2)
	thief := mustDial(t, other, r2)
	c = mustDial(t, client, r2)
	mustAccept(t, r2).Close()
	expectClosedByPeer(t, thief)
	c.Close()
	r2.Release()
	clk.Advance(299 * time.Millisecond)
	if s := p.Stats(); s.Listeners != 1 {
		t.Fatalf("before the linger period ended: %+v, want the listener kept", s)
	}
	// Unused for the linger period: closed.
	clk.Advance(time.Millisecond)
	waitStats(t, p, 0, 0)
}

// Close closes lingering listeners at once.
func TestLingerClose(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	p, _ := newTestPool(t, freeRange(t, 2, local))
	p.Linger = time.Hour
	mustReserve(t, p, local, loClient(1)).Release()
	if s := p.Stats(); s.Listeners != 1 {
		t.Fatalf("%+v", s)
	}
	p.Close()
	if s := p.Stats(); s.Listeners != 0 {
		t.Fatalf("after Close: %+v", s)
	}
}

// A retired pool (replaced by a reload) closes its lingering listeners at
// once and lingers no more: a new pool on the same range binds the ports.
func TestRetireEndsLinger(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	rng := freeRange(t, 1, local)
	old, _ := newTestPool(t, rng)
	old.Linger = time.Hour
	mustReserve(t, old, local, loClient(1)).Release()
	pending := mustReserve(t, old, local, loClient(2))
	pending.Release()
	held := mustReserve(t, old, local, loClient(3)) // pending: stays until released
	old.Retire()
	if s := old.Stats(); s.Listeners != 1 || s.Pending != 1 {
		t.Fatalf("after Retire: %+v, want only the pending reservation's listener", s)
	}
	held.Release()
	if s := old.Stats(); s.Listeners != 0 {
		t.Fatalf("a retired pool kept a listener lingering: %+v", s)
	}
	fresh, _ := newTestPool(t, rng)
	mustReserve(t, fresh, local, loClient(1)).Release()
}

// Lingering listeners are found without walking the range: with three
// kept open in a range of 200, three reservations take them in round-robin
// order (no new bind), the fourth binds a new port; a sub-range (ReserveIn) that holds none of
// them binds inside itself; and one that closed is not offered again.
func TestLingeringListenersReused(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	rng := freeRange(t, 200, local)
	p, _ := newTestPool(t, rng)
	p.Linger = time.Hour
	clk := newFakeClock(p)
	var lingering []*Reservation
	for i := range 3 {
		lingering = append(lingering, mustReserve(t, p, local, loClient(i+1)))
	}
	kept := map[int]bool{}
	for _, r := range lingering {
		kept[r.Port()] = true
		r.Release()
	}
	if s := p.Stats(); s.Listeners != 3 || s.Pending != 0 {
		t.Fatalf("after releasing three: %+v, want three lingering", s)
	}
	var again []*Reservation
	for i := range 3 {
		r := mustReserve(t, p, local, loClient(10+i))
		if !kept[r.Port()] {
			t.Fatalf("reservation %d on port %d, want one of the lingering %v", i, r.Port(), kept)
		}
		// Round-robin from the cursor, wrapping: the first lingering
		// port comes first again.
		if r.Port() != lingering[i].Port() {
			t.Errorf("reservation %d on port %d, want %d (round-robin)", i, r.Port(), lingering[i].Port())
		}
		again = append(again, r)
	}
	if s := p.Stats(); s.Listeners != 3 {
		t.Fatalf("reusing three lingering listeners bound new ports: %+v", s)
	}
	fourth := mustReserve(t, p, local, loClient(20))
	if kept[fourth.Port()] {
		t.Fatalf("fourth reservation on port %d, which is pending already", fourth.Port())
	}
	fourth.Release()
	for _, r := range again {
		r.Release()
	}
	// A slice above the lingering ports (all four are in the range's low
	// half): none of them fits, so it binds its own.
	sub := Range{Lo: rng.Lo + 150, Hi: rng.Hi}
	r, err := p.ReserveIn(local, loClient(30), sub)
	if err != nil {
		t.Fatal(err)
	}
	if !sub.Contains(r.Port()) {
		t.Fatalf("ReserveIn(%s) gave port %d", sub, r.Port())
	}
	r.Release()
	if s := p.Stats(); s.Listeners != 5 {
		t.Fatalf("%+v, want five lingering", s)
	}
	// The linger ends: every listener closes and none is offered again.
	clk.Advance(time.Hour)
	waitStats(t, p, 0, 0)
	r = mustReserve(t, p, local, loClient(40))
	if s := p.Stats(); s.Listeners != 1 || s.Pending != 1 {
		t.Fatalf("after the linger: %+v", s)
	}
	r.Release()
}
