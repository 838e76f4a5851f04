// Package admin is the gateway's show commands: the IOS text of `show ip
// nat translations` and `show ip nat statistics`, served over a loopback
// HTTP endpoint, and the client that `rotary gateway show` uses to ask.
package admin

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// The column layout of IOS's `show ip nat translations`.
const rowFormat = "%-4s%-22s%-22s%-22s%s\n"

// WriteTranslations prints ts the way IOS prints `show ip nat translations
// [verbose]`: static entries (outside columns "---"), then live entries,
// then the totals line of `show ip nat statistics`.
func WriteTranslations(w io.Writer, ts []nat.Translation, verbose bool) {
	writeTranslations(w, ts, verbose, time.Now())
}

// writeTranslations is WriteTranslations at the time now, so that a test's
// "create" column does not depend on how long the test took to get there.
func writeTranslations(w io.Writer, ts []nat.Translation, verbose bool, now time.Time) {
	fmt.Fprintf(w, rowFormat, "Pro", "Inside global", "Inside local", "Outside local", "Outside global")
	useCount := map[netip.AddrPort]int{}
	for _, t := range ts {
		if !t.Static {
			useCount[t.InsideGlobal]++
		}
	}
	static, dynamic := 0, 0
	for _, t := range ts {
		ol, og := "---", "---"
		if t.Static {
			static++
		} else {
			dynamic++
			ol, og = t.OutsideLocal.String(), t.OutsideGlobal.String()
		}
		ig, il := t.InsideGlobal.String(), t.InsideLocal.String()
		if t.LastPort != 0 {
			ig += fmt.Sprintf("-%d", t.LastPort)
			il += fmt.Sprintf("-%d", t.LastPort)
		}
		fmt.Fprintf(w, rowFormat, t.Protocol, ig, il, ol, og)
		if !verbose {
			continue
		}
		if t.Static && t.LastPort != 0 {
			fmt.Fprintf(w, "    flags:\nstatic, extended, coordinated slice of rotary pool %s\n", t.Pool)
			continue
		}
		if t.Static {
			fmt.Fprintf(w, "    flags:\nstatic, extended, use_count: %d\n", useCount[t.InsideGlobal])
			continue
		}
		left := "never"
		if t.Left >= 0 {
			left = clock(t.Left)
		}
		create, use := "--:--:--", "--:--:--" // not known: a kernel entry without conntrack timestamps
		if !t.Created.IsZero() {
			create = clock(now.Sub(t.Created))
		}
		if t.Use >= 0 {
			use = clock(t.Use)
		}
		fmt.Fprintf(w, "    create %s, use %s, left %s,\n    flags:\nextended", create, use, left)
		if t.Pool != "" {
			fmt.Fprintf(w, ", rotary pool %s", t.Pool)
		}
		fmt.Fprintln(w)
	}
	writeTotals(w, static, dynamic)
}

func writeTotals(w io.Writer, static, dynamic int) {
	// Every gateway entry carries ports, so all of them are "extended".
	fmt.Fprintf(w, "Total active translations: %d (%d static, %d dynamic; %d extended)\n",
		static+dynamic, static, dynamic, static+dynamic)
}

// clock formats d as IOS does in translation timers: hh:mm:ss.
func clock(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	s := (d % time.Minute) / time.Second
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

// WriteStatistics prints `show ip nat statistics` for the running model and
// the server's counters. The pool lines follow IOS; the bytes line and the
// member lines below the pools are Rotary extensions.
func WriteStatistics(w io.Writer, cfg *ios.Config, st nat.Statistics) {
	writeTotals(w, st.Static, st.Dynamic)
	for _, role := range []string{"outside", "inside"} {
		fmt.Fprintf(w, "%s%s interfaces:\n", string(role[0]-32), role[1:])
		for _, ifc := range cfg.Interfaces {
			if ifc.NAT == role {
				fmt.Fprintf(w, "  %s\n", ifc.Name)
			}
		}
	}
	fmt.Fprintf(w, "Hits: %d  Misses: %d\n", st.Hits, st.Misses)
	fmt.Fprintf(w, "Expired translations: %d\n", st.Expired)
	// A Rotary line (IOS counts no bytes here): the userspace lines' TCP
	// payload and the kernel lines' IP packets, ended flows included.
	fmt.Fprintf(w, "Bytes from clients: %d  Bytes from inside: %d\n", st.BytesFromClient, st.BytesFromInside)
	fmt.Fprintln(w, "Dynamic mappings:")
	if len(cfg.DestinationRules) > 0 {
		fmt.Fprintln(w, "-- Inside Destination")
	}
	pools := map[string]nat.PoolStatistics{}
	for _, p := range st.Pools {
		pools[p.Name] = p
	}
	for i, r := range cfg.DestinationRules {
		ps := pools[r.Pool]
		fmt.Fprintf(w, "[Id: %d] access-list %s pool %s refcount %d\n", i+1, r.ACL, r.Pool, ps.Allocated)
		for _, p := range cfg.Pools {
			if p.Name != r.Pool {
				continue
			}
			mask := net.IP(net.CIDRMask(p.PrefixLen, 32)).String()
			fmt.Fprintf(w, " pool %s: netmask %s\n\tstart %s end %s\n", p.Name, mask, p.Start, p.End)
			total, inUse := len(ps.Members), 0
			for _, m := range ps.Members {
				if m.Flows > 0 {
					inUse++
				}
			}
			pct := 0
			if total > 0 {
				pct = inUse * 100 / total
			}
			fmt.Fprintf(w, "\ttype %s, total addresses %d, allocated %d (%d%%), misses %d\n", p.Type, total, inUse, pct, ps.DialFailures)
			for _, m := range ps.Members {
				state := "up"
				if !m.Up {
					state = fmt.Sprintf("down for port(s) %v (skipped until a health check succeeds)", m.DownPorts)
				}
				slice := ""
				if m.Slice[0] != 0 {
					slice = fmt.Sprintf(", passive slice %d-%d", m.Slice[0], m.Slice[1])
				}
				fmt.Fprintf(w, "\tmember %s %s, %d flows%s\n", m.Address, state, m.Flows, slice)
			}
		}
	}
	fmt.Fprintf(w, "Listeners: %d\n", st.Listeners)
}
