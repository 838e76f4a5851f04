// Package ban refuses addresses that guess passwords: after After failed
// logins from one IP within Window, that IP is refused at connect (421) for
// For. The tracker's memory is bounded: old failures are forgotten and the
// number of tracked addresses is capped.
package ban

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// maxTracked bounds the addresses with recent failures kept in memory; past
// it the oldest entries are dropped (a flood of single failures from
// many addresses cannot grow the map without end).
const maxTracked = 100000

// Policy is the ban configuration.
type Policy struct {
	After  int           // failures that trigger a ban; 0 disables banning
	Window time.Duration // period in which failures count
	For    time.Duration // ban length
}

// Ban is one banned address.
type Ban struct {
	IP       netip.Addr `json:"ip"`
	Until    time.Time  `json:"until"`
	Failures int        `json:"failures"`
}

// Tracker counts failed logins per IP and keeps the bans.
type Tracker struct {
	Logger *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	policy   Policy
	failures map[netip.Addr][]time.Time
	bans     map[netip.Addr]Ban
	issued   uint64
}

// New returns a tracker with policy p.
func New(p Policy) *Tracker {
	return &Tracker{policy: p, now: time.Now, failures: make(map[netip.Addr][]time.Time), bans: make(map[netip.Addr]Ban)}
}

// SetPolicy changes the policy (a reload); existing bans stay until they end.
func (t *Tracker) SetPolicy(p Policy) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.policy = p
}

func (t *Tracker) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

// Failure records a failed login from ip and reports whether it is now banned.
func (t *Tracker) Failure(ip netip.Addr) bool {
	ip = ip.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.policy
	if p.After <= 0 {
		return false
	}
	now := t.now()
	recent := t.failures[ip][:0:0]
	for _, f := range t.failures[ip] {
		if now.Sub(f) < p.Window {
			recent = append(recent, f)
		}
	}
	recent = append(recent, now)
	if len(recent) >= p.After {
		delete(t.failures, ip)
		b := Ban{IP: ip, Until: now.Add(p.For), Failures: len(recent)}
		t.bans[ip] = b
		t.issued++
		t.logger().Warn("address banned", "ip", ip.String(), "failures", len(recent), "window", p.Window, "until", b.Until.Format(time.RFC3339))
		return true
	}
	if len(t.failures) >= maxTracked {
		t.pruneLocked(now)
	}
	t.failures[ip] = recent
	return false
}

// pruneLocked forgets failures outside the window, and if still too many,
// arbitrary entries.
func (t *Tracker) pruneLocked(now time.Time) {
	for ip, fs := range t.failures {
		if len(fs) == 0 || now.Sub(fs[len(fs)-1]) >= t.policy.Window {
			delete(t.failures, ip)
		}
	}
	for ip := range t.failures {
		if len(t.failures) < maxTracked {
			break
		}
		delete(t.failures, ip)
	}
}

// Banned reports whether ip is banned now.
func (t *Tracker) Banned(ip netip.Addr) (Ban, bool) {
	ip = ip.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.bans[ip]
	if ok && !t.now().Before(b.Until) {
		delete(t.bans, ip)
		return Ban{}, false
	}
	return b, ok
}

// Check is an ftp.Server ConnFilter: a banned address gets 421.
func (t *Tracker) Check(ip netip.Addr) error {
	if b, ok := t.Banned(ip); ok {
		return fmt.Errorf("Too many failed logins from your address; try again after %s", b.Until.UTC().Format("15:04 MST"))
	}
	return nil
}

// Active is how many bans are in force now.
func (t *Tracker) Active() int { return len(t.List()) }

// Issued is how many bans were issued since New.
func (t *Tracker) Issued() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.issued
}

// List returns the current bans, soonest to end first.
func (t *Tracker) List() []Ban {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	out := make([]Ban, 0, len(t.bans))
	for ip, b := range t.bans {
		if !now.Before(b.Until) {
			delete(t.bans, ip)
			continue
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Until.Before(out[j].Until) })
	return out
}

// Delete lifts the ban on ip (and forgets its failures); it reports whether
// there was one.
func (t *Tracker) Delete(ip netip.Addr) bool {
	ip = ip.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.bans[ip]
	delete(t.bans, ip)
	delete(t.failures, ip)
	if ok {
		t.logger().Info("ban lifted", "ip", ip.String())
	}
	return ok
}
