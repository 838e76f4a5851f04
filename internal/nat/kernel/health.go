package kernel

import (
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat/forward"
)

// checked are the (member, port) pairs of pools with more than one member:
// a pool of one has nowhere else to send a connection, as in userspace.
func checked(routes []forward.Route) []netip.AddrPort {
	var out []netip.AddrPort
	for _, r := range routes {
		if r.Pool == "" || len(r.Members) < 2 {
			continue
		}
		for _, m := range r.Members {
			out = append(out, netip.AddrPortFrom(m, r.Listen.Port()))
		}
	}
	return out
}

// upRoutes are routes with the members marked down left out of the
// numgen maps; a route whose members are all down keeps them all (a
// connection may still succeed, and the map is never empty).
func upRoutes(routes []forward.Route, down map[netip.AddrPort]bool) []forward.Route {
	out := make([]forward.Route, len(routes))
	for i, r := range routes {
		out[i] = r
		if r.Pool == "" || len(r.Members) < 2 {
			continue
		}
		var up []netip.Addr
		for _, m := range r.Members {
			if !down[netip.AddrPortFrom(m, r.Listen.Port())] {
				up = append(up, m)
			}
		}
		if len(up) > 0 {
			out[i].Members = up
		}
	}
	return out
}

// healthLoop dials every checked member each interval; when a member's
// state changes, the table is reprogrammed (atomically) without it.
func (d *Datapath) healthLoop(interval time.Duration, stop <-chan struct{}) {
	defer close(d.healthDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d.mu.Lock()
		targets := checked(d.prog.Kernel)
		d.mu.Unlock()
		next := map[netip.AddrPort]bool{}
		for _, a := range targets {
			c, err := net.DialTimeout("tcp", a.String(), min(interval, time.Second))
			if err != nil {
				next[a] = true
				continue
			}
			c.Close()
		}
		d.mu.Lock()
		if !mapsEqual(next, d.down) {
			d.down = next
			if err := program(upRoutes(d.prog.Kernel, d.down), d.Masquerade, &d.totals); err != nil {
				d.Logger.Error("kernel datapath: health change not applied", "err", err)
			} else {
				downs := make([]string, 0, len(next))
				for a := range next {
					downs = append(downs, a.String())
				}
				slices.Sort(downs)
				d.Logger.Info("kernel datapath: pool members changed", "down", downs)
			}
		}
		d.mu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func mapsEqual(a, b map[netip.AddrPort]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
