package passive

import (
	"math"
	"sync"
	"time"
)

// Usage follows how much of a passive range is used: the reservations
// waiting for their data connection and the data connections running, now
// and as per-minute peaks over the last day, and how often a PASV found no
// free port. It answers the question behind every NAT port range, "how many
// ports do I forward?".
//
// One Usage outlives the pools that serve a range in turn (a reload that
// changes the range or the PROXY trust replaces the pool, and the old one
// finishes its transfers beside the new one): give each of them the same
// Usage, in Pool.Usage. A Usage is safe for concurrent use; its zero value
// is ready.
//
// A port is needed only from PASV until the client's data connection
// arrives: a port whose transfer is running takes the next PASV at once
// (see the package comment). So the ports a range needs are the peak of
// pending reservations, not the peak of transfers; that is what Sizing
// reports.
type Usage struct {
	mu        sync.Mutex
	pending   int
	conns     int
	exhausted uint64
	refused   uint64
	minutes   [usageMinutes]usageMinute // ring, by minute number
	now       func() time.Time          // nil: time.Now
}

// usageMinute is a ring entry: the minute's peaks and the counts its last
// change left, which held through the minutes with no change after it.
type usageMinute struct {
	MinuteUsage
	endPending, endConns int
}

// usageMinutes is how far back the peaks go: one day, by the minute.
const usageMinutes = 24 * 60

// MinuteUsage is one minute's peaks.
type MinuteUsage struct {
	// Start is the minute's start; zero for a minute with no record (no
	// passive activity, or before the server started).
	Start time.Time `json:"start"`
	// Pending is the most reservations waiting for their data connection
	// at once, and Conns the most data connections running at once.
	Pending int `json:"pending"`
	Conns   int `json:"conns"`
}

// UsageSnapshot is a Usage's counts at one moment.
type UsageSnapshot struct {
	Pending   int    `json:"pending"`   // reservations waiting for their data connection
	Conns     int    `json:"conns"`     // data connections running
	Exhausted uint64 `json:"exhausted"` // reservations refused for want of a port, since start
	Refused   uint64 `json:"refused"`   // data connections refused (no reservation for that client there)
}

// SizingHeadroom is the share added to the observed peak in Sizing's
// recommendation, and SizingMinSpare the fewest spare ports it adds. The
// peak of a day is not the peak of a year, and under load the time from
// PASV to the data connection grows (slow clients, TLS handshakes on the
// data connection), so concurrency rises faster than traffic: half again
// the peak covers that, and a small range still gets a couple of spares.
const (
	SizingHeadroom = 0.5
	SizingMinSpare = 2
)

// Sizing is the range advice from a day's peaks.
type Sizing struct {
	// Window is how much history the peak covers (up to 24 h: less on a
	// server started since).
	Window time.Duration `json:"-"`
	// PeakPending is the most reservations that waited at once in Window:
	// with that many ports no port would have been shared.
	PeakPending int `json:"peak_pending"`
	// PeakConns is the most data connections at once in Window.
	PeakConns int `json:"peak_conns"`
	// Recommended is the range size that covers PeakPending with
	// SizingHeadroom; 0 while there is no passive activity to go by.
	Recommended int `json:"recommended"`
}

// Recommend is the range size for a peak of pending reservations: the peak
// plus SizingHeadroom of it, at least SizingMinSpare more; 0 for no peak.
func Recommend(peak int) int {
	if peak <= 0 {
		return 0
	}
	spare := max(int(math.Ceil(float64(peak)*SizingHeadroom)), SizingMinSpare)
	return peak + spare
}

func (u *Usage) clock() time.Time {
	if u.now != nil {
		return u.now()
	}
	return time.Now()
}

// change adds dp to the pending reservations and dc to the running data
// connections, and records the minute's peaks.
func (u *Usage) change(dp, dc int) {
	if u == nil {
		return
	}
	now := u.clock()
	u.mu.Lock()
	defer u.mu.Unlock()
	// The counts before the change held from the last change until now,
	// so they belong to this minute's peaks as well as the new ones.
	m := u.minuteLocked(now)
	m.Pending = max(m.Pending, u.pending)
	m.Conns = max(m.Conns, u.conns)
	u.pending += dp
	u.conns += dc
	m.Pending = max(m.Pending, u.pending)
	m.Conns = max(m.Conns, u.conns)
	m.endPending, m.endConns = u.pending, u.conns
}

// minuteLocked returns the ring entry of now's minute, reset if it held an
// older minute.
func (u *Usage) minuteLocked(now time.Time) *usageMinute {
	start := now.Truncate(time.Minute)
	m := &u.minutes[int((start.Unix()/60)%usageMinutes)]
	if !m.Start.Equal(start) {
		*m = usageMinute{MinuteUsage: MinuteUsage{Start: start}}
	}
	return m
}

func (u *Usage) exhaust() {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.exhausted++
	u.mu.Unlock()
}

func (u *Usage) refuse() {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.refused++
	u.mu.Unlock()
}

// Snapshot returns the counts now.
func (u *Usage) Snapshot() UsageSnapshot {
	u.mu.Lock()
	defer u.mu.Unlock()
	return UsageSnapshot{Pending: u.pending, Conns: u.conns, Exhausted: u.exhausted, Refused: u.refused}
}

// History returns the last n minutes (at most a day), oldest first, the
// current minute last, each with its Start set. A minute in which nothing
// changed has the counts the last change before it left.
func (u *Usage) History(n int) []MinuteUsage {
	n = min(max(n, 0), usageMinutes)
	now := u.clock().Truncate(time.Minute)
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]MinuteUsage, n)
	// The counts left by the last change before the window: the newest
	// entry of the ring older than it (the ring holds a day).
	first := now.Add(-time.Duration(n-1) * time.Minute)
	var carry usageMinute
	for _, m := range u.minutes {
		if !m.Start.IsZero() && m.Start.Before(first) && m.Start.After(carry.Start) && now.Sub(m.Start) < usageMinutes*time.Minute {
			carry = m
		}
	}
	pending, conns := carry.endPending, carry.endConns
	for i := range n {
		start := first.Add(time.Duration(i) * time.Minute)
		m := u.minutes[int((start.Unix()/60)%usageMinutes)]
		if m.Start.Equal(start) {
			out[i] = m.MinuteUsage
			pending, conns = m.endPending, m.endConns
			continue
		}
		out[i] = MinuteUsage{Start: start, Pending: pending, Conns: conns}
	}
	return out
}

// Sizing returns the advice from the last day's peaks. started is when
// the server started (the history goes back no further).
func (u *Usage) Sizing(started time.Time) Sizing {
	now := u.clock()
	var s Sizing
	s.Window = min(now.Sub(started), usageMinutes*time.Minute)
	if s.Window < 0 {
		s.Window = 0
	}
	for _, m := range u.History(usageMinutes) {
		s.PeakPending = max(s.PeakPending, m.Pending)
		s.PeakConns = max(s.PeakConns, m.Conns)
	}
	s.Recommended = Recommend(s.PeakPending)
	return s
}
