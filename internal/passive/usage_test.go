package passive

import (
	"errors"
	"testing"
	"time"
)

type usageClock struct{ t time.Time }

func (c *usageClock) now() time.Time { return c.t }

func TestRecommend(t *testing.T) {
	for _, tc := range []struct{ peak, want int }{
		{0, 0},
		{1, 3},   // at least SizingMinSpare spares
		{4, 6},   // 50% is 2
		{5, 8},   // 2.5 rounds up
		{21, 32}, // the article's 5500-5520 at its peak
		{100, 150},
	} {
		if got := Recommend(tc.peak); got != tc.want {
			t.Errorf("Recommend(%d) = %d, want %d", tc.peak, got, tc.want)
		}
	}
}

func TestUsagePeaksByMinute(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 0, 30, 0, time.UTC)
	c := &usageClock{t: start}
	u := &Usage{now: c.now}
	// 10:00: three reservations at once, two become connections.
	u.change(+1, 0)
	u.change(+1, 0)
	u.change(+1, 0)
	u.change(-1, +1)
	u.change(-1, +1)
	u.change(-1, 0) // the third timed out
	// 10:01: nothing changes; the two transfers run through it.
	// 10:02: one transfer ends; a reservation comes and goes.
	c.t = start.Add(2 * time.Minute)
	u.change(0, -1)
	u.change(+1, 0)
	u.change(-1, 0)
	// 10:03..10:04: nothing; 10:05: the last transfer ends.
	c.t = start.Add(5 * time.Minute)
	u.change(0, -1)

	h := u.History(7) // 09:59 .. 10:05
	want := []struct{ pending, conns int }{{0, 0}, {3, 2}, {0, 2}, {1, 2}, {0, 1}, {0, 1}, {0, 1}}
	if len(h) != len(want) {
		t.Fatalf("History(7) has %d minutes", len(h))
	}
	for i, m := range h {
		wantStart := time.Date(2026, 12, 6, 9, 59+i, 0, 0, time.UTC)
		if !m.Start.Equal(wantStart) || m.Pending != want[i].pending || m.Conns != want[i].conns {
			t.Errorf("minute %d = %s pending %d conns %d, want %s pending %d conns %d",
				i, m.Start.Format("15:04"), m.Pending, m.Conns, wantStart.Format("15:04"), want[i].pending, want[i].conns)
		}
	}
	if s := u.Snapshot(); s.Pending != 0 || s.Conns != 0 {
		t.Errorf("Snapshot = %+v, want nothing running", s)
	}
	sz := u.Sizing(start.Add(-time.Hour))
	if sz.PeakPending != 3 || sz.PeakConns != 2 || sz.Recommended != 5 || sz.Window != time.Hour+5*time.Minute {
		t.Errorf("Sizing = %+v, want peaks 3/2, recommended 5, window 1h5m", sz)
	}
	// A day later the peaks have aged out; the window stays a day.
	c.t = start.Add(25 * time.Hour)
	if sz := u.Sizing(start.Add(-time.Hour)); sz.PeakPending != 0 || sz.PeakConns != 0 || sz.Recommended != 0 || sz.Window != 24*time.Hour {
		t.Errorf("Sizing a day later = %+v, want no peaks over a 24h window", sz)
	}
}

// A connection running for longer than the history still shows in the
// minutes with no change.
func TestUsageCarriesLongTransfers(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	c := &usageClock{t: start}
	u := &Usage{now: c.now}
	u.change(+1, 0)
	u.change(-1, +1)
	c.t = start.Add(90 * time.Minute)
	h := u.History(60)
	for _, m := range h {
		if m.Conns != 1 || m.Pending != 0 {
			t.Fatalf("minute %s: pending %d conns %d, want the running transfer", m.Start.Format("15:04"), m.Pending, m.Conns)
		}
	}
}

// The pool tells its Usage of every reservation, connection and release,
// and of exhaustion; Stats counts busy and shared ports.
func TestPoolUsage(t *testing.T) {
	rng := freeRange(t, 2)
	p, _ := newTestPool(t, rng)
	u := &Usage{}
	p.Usage = u

	a := mustReserve(t, p, lo1, lo2)
	b := mustReserve(t, p, lo1, lo2)
	if s := u.Snapshot(); s.Pending != 2 || s.Conns != 0 {
		t.Fatalf("after two reservations: %+v", s)
	}
	if _, err := p.Reserve(lo1, lo2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("third reservation of one client on two ports: %v, want ErrExhausted", err)
	}
	// Another client shares a port: the range is full.
	other := mustReserve(t, p, lo1, loClient(7))
	if st := p.Stats(); st.Busy != 2 || st.Shared != 1 {
		t.Fatalf("Stats with a shared port = %+v, want 2 busy, 1 shared", st)
	}
	other.Release()

	c := mustDial(t, lo2, a)
	defer c.Close()
	sc := mustAccept(t, a)
	defer sc.Close()
	if s := u.Snapshot(); s.Pending != 1 || s.Conns != 1 || s.Exhausted != 1 {
		t.Fatalf("after one connection: %+v, want 1 pending, 1 running, 1 exhaustion", s)
	}
	a.Release()
	a.Release() // idempotent: counted once
	b.Release()
	if s := u.Snapshot(); s.Pending != 0 || s.Conns != 0 {
		t.Fatalf("after release: %+v, want nothing", s)
	}
	if sz := u.Sizing(time.Now().Add(-time.Minute)); sz.PeakPending != 3 || sz.PeakConns != 1 {
		t.Fatalf("Sizing = %+v, want peak 3 pending, 1 running", sz)
	}
}

// A connection delivered but never taken is closed by Release, and stops
// counting.
func TestPoolUsageDeliveredNotTaken(t *testing.T) {
	rng := freeRange(t, 1)
	p, _ := newTestPool(t, rng)
	u := &Usage{}
	p.Usage = u
	r := mustReserve(t, p, lo1, lo2)
	c := mustDial(t, lo2, r)
	defer c.Close()
	mustWaitReady(t, r)
	if s := u.Snapshot(); s.Conns != 1 {
		t.Fatalf("after the delivery: %+v, want 1 running", s)
	}
	r.Release()
	if s := u.Snapshot(); s.Pending != 0 || s.Conns != 0 {
		t.Fatalf("after release: %+v", s)
	}
}
