// Package kernel is the gateway's kernel datapath: the routes the userspace
// forwarder would run become one nftables table, "rotary", programmed over
// netlink (no nft binary). Static maps are DNAT rules, rotary pools are
// `numgen inc mod N` maps of members. Routes the kernel cannot run (PROXY
// protocol, the FTP ALG, coordinated mode) keep a userspace listener
// beside the table: the datapath is a composite, and the plan says which
// line runs where.
package kernel

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/forward"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// DatapathName is what plan lines run by the kernel are marked with.
const DatapathName = "kernel"

// TableName is the nftables table the datapath owns: replaced at start
// (a table left by a crashed gateway), on reload, and removed at exit.
const TableName = "rotary"

// Available reports why the kernel datapath cannot run here (nil: it can):
// not Linux, or no CAP_NET_ADMIN for nftables over netlink.
func Available() error { return available() }

// Program is a configuration split between the kernel and userspace.
type Program struct {
	// Kernel are the routes programmed as nftables rules.
	Kernel []forward.Route
	// User are the rules of the userspace listeners run beside the table.
	User       *forward.Rules
	all        *forward.Rules
	masquerade bool // the kernel's lines hide client addresses too
}

// Plan lists every line with the datapath that runs it, in line order.
func (p *Program) Plan() []nat.PlanLine {
	k := &forward.Rules{Routes: p.Kernel}
	var out []nat.PlanLine
	for _, l := range k.Plan() {
		l.Datapath = DatapathName
		out = append(out, l)
	}
	out = append(out, p.User.Plan()...)
	slices.SortStableFunc(out, func(a, b nat.PlanLine) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return int(a.Outside.Port()) - int(b.Outside.Port())
	})
	return out
}

// Warnings are those of the userspace compile, which checks the same
// model, less the PROXY protocol warnings of lines the kernel runs alone:
// its DNAT keeps the client's address, as IOS does.
func (p *Program) Warnings() []ios.Warning {
	out := p.all.OtherWarnings()
	for _, w := range p.all.ProxyWarnings() {
		if p.masquerade || slices.ContainsFunc(p.User.Routes, func(r forward.Route) bool { return r.Line == w.Line }) {
			out = append(out, w)
		}
	}
	return out
}

// inKernel tells whether nftables can run r exactly as userspace does.
// The FTP ALG (it reads and rewrites the control connection, and its
// one-shot translations are the userspace server's listeners) and
// coordinated mode (a PROXY TLV per member) stay in userspace.
func inKernel(r forward.Route) bool {
	return r.ProxyProtocol == 0 && !r.FTPALG && r.Coordinate == nil && r.Listen.Addr().Is4() &&
		(r.Pool != "" || r.Static.Addr().Is4())
}

// Datapath is the composite kernel + userspace datapath.
type Datapath struct {
	Logger *slog.Logger
	// Masquerade gives the connections the table translated the
	// gateway's own address on the way in (a postrouting masquerade), for
	// inside hosts that do not route back through the gateway. They then
	// see the gateway's address, not the client's.
	Masquerade bool
	user       *forward.Server
	userOn     bool

	mu   sync.Mutex
	prog *Program
	// totals carries the counters of the tables replaced so far; it is
	// read and carried under mu, which every reprogramming holds, so that
	// no reading of a replaced table is taken for one of its successor's.
	totals carry
	// removed: the table is gone (Shutdown, Close); its counters are
	// no longer read.
	removed bool
	// down are the pool members (address, port) failing their TCP check.
	down       map[netip.AddrPort]bool
	stopHealth chan struct{}
	healthDone chan struct{}
}

func (d *Datapath) Name() string { return DatapathName }

// Compile runs the userspace compile (same checks, same errors with their
// positions) and splits its routes.
func (d *Datapath) Compile(cfg *ios.Config) (nat.Program, error) {
	all, err := forward.Compile(cfg)
	if err != nil {
		return nil, err
	}
	user := *all
	user.Routes = nil
	p := &Program{User: &user, all: all, masquerade: d.Masquerade}
	for _, r := range all.Routes {
		if inKernel(r) {
			p.Kernel = append(p.Kernel, r)
		} else {
			user.Routes = append(user.Routes, r)
		}
	}
	return p, nil
}

func (d *Datapath) server() *forward.Server {
	if d.user == nil {
		d.user = &forward.Server{Logger: d.Logger}
	}
	return d.user
}

// Start programs the table in one netlink batch (replacing a table of the
// same name, left by a crashed gateway), then starts the userspace listeners.
func (d *Datapath) Start(prog nat.Program) error {
	p, ok := prog.(*Program)
	if !ok {
		return errors.New("kernel datapath: program compiled by another datapath")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if err := program(p.Kernel, d.Masquerade, nil); err != nil {
		return err
	}
	if err := d.server().Start(p.User); err != nil {
		remove()
		return err
	}
	d.userOn = true
	d.prog = p
	d.startHealth()
	return nil
}

// startHealth starts the health loop when the program checks members.
func (d *Datapath) startHealth() {
	if iv := d.prog.all.HealthInterval; iv > 0 && len(checked(d.prog.Kernel)) > 0 {
		d.stopHealth, d.healthDone = make(chan struct{}), make(chan struct{})
		go d.healthLoop(iv, d.stopHealth)
	}
}

// stop ends the health loop.
func (d *Datapath) stop() {
	if d.stopHealth != nil {
		close(d.stopHealth)
		<-d.healthDone
		d.stopHealth = nil
	}
}

// Reload replaces the table atomically: conntrack entries of established
// flows stay, so they keep their translation.
func (d *Datapath) Reload(prog nat.Program) error {
	p, ok := prog.(*Program)
	if !ok {
		return errors.New("kernel datapath: program compiled by another datapath")
	}
	if err := d.server().Reload(p.User); err != nil {
		return err
	}
	// The health loop follows the new configuration: started, stopped or
	// given a new interval and new members by a reload.
	d.stop()
	defer d.startHealth()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := program(upRoutes(p.Kernel, d.down), d.Masquerade, &d.totals); err != nil {
		return err
	}
	d.prog = p
	return nil
}

// Shutdown removes the table (established kernel flows keep their
// conntrack entries) and drains the userspace listeners.
func (d *Datapath) Shutdown(ctx context.Context) error {
	d.stop()
	err := d.removeTable()
	if d.userOn {
		err = errors.Join(err, d.user.Shutdown(ctx))
	}
	return err
}

func (d *Datapath) Close() error {
	d.stop()
	err := d.removeTable()
	if d.userOn {
		err = errors.Join(err, d.user.Close())
	}
	return err
}

// removeTable removes the table, its final counts carried into the
// totals that Statistics reports from then on.
func (d *Datapath) removeTable() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.removed && d.prog != nil && len(d.prog.Kernel) > 0 {
		final, err := readCounters()
		d.totals.replaced(final, err == nil)
	}
	d.removed = true
	return remove()
}

// Translations are the kernel's static maps and its live entries (from
// conntrack: the connections to a kernel route's outside address and
// port that the kernel translated), then the userspace listeners'.
func (d *Datapath) Translations() []nat.Translation {
	var out []nat.Translation
	routes := d.kernelRoutes()
	for _, r := range routes {
		if r.Pool == "" {
			out = append(out, nat.Translation{Protocol: "tcp", InsideGlobal: r.Listen, InsideLocal: r.Static, Static: true, Left: -1})
		}
	}
	for _, e := range d.kernelFlows(routes) {
		f, r := e.flow, e.route
		out = append(out, nat.Translation{Protocol: "tcp", InsideGlobal: f.origDst, InsideLocal: f.replySrc,
			OutsideLocal: f.origSrc, OutsideGlobal: f.origSrc, Pool: r.Pool, Created: f.start, Use: -1, Left: f.timeout})
	}
	if d.userOn {
		out = append(out, d.user.Translations()...)
	}
	return out
}

// Statistics adds the kernel's side to the userspace listeners': its
// static maps and live entries, connections translated and bytes carried
// (the table's counters, with those of the tables reloads replaced) and,
// per pool member, live entries and health.
func (d *Datapath) Statistics() nat.Statistics {
	var st nat.Statistics
	if d.userOn {
		st = d.user.Statistics()
	}
	d.mu.Lock()
	if d.prog == nil {
		d.mu.Unlock()
		return st
	}
	routes := d.prog.Kernel
	down := maps.Clone(d.down)
	// A table without kernel routes counts nothing, but the tables
	// before it may have.
	tot := d.totals.total()
	if len(routes) > 0 && !d.removed {
		if n, err := readCounters(); err == nil {
			tot = d.totals.observe(n)
		} else {
			d.Logger.Warn("kernel datapath: rule counters not read", "err", err)
		}
	}
	d.mu.Unlock()
	st.Hits += tot.Hits
	st.BytesFromClient += tot.FromClient
	st.BytesFromInside += tot.FromInside
	if len(routes) == 0 {
		return st
	}
	for _, r := range routes {
		if r.Pool == "" {
			st.Static++
		}
	}
	perMember := map[string]map[netip.Addr]int{}
	live := d.kernelFlows(routes)
	st.Dynamic += len(live)
	for _, e := range live {
		if e.route.Pool != "" {
			if perMember[e.route.Pool] == nil {
				perMember[e.route.Pool] = map[netip.Addr]int{}
			}
			perMember[e.route.Pool][e.flow.replySrc.Addr()]++
		}
	}
	for _, r := range routes {
		if r.Pool == "" {
			continue
		}
		i := slices.IndexFunc(st.Pools, func(p nat.PoolStatistics) bool { return p.Name == r.Pool })
		if i < 0 {
			st.Pools = append(st.Pools, nat.PoolStatistics{Name: r.Pool})
			i = len(st.Pools) - 1
		}
		ps := &st.Pools[i]
		for _, m := range r.Members {
			j := slices.IndexFunc(ps.Members, func(ms nat.MemberStatistics) bool { return ms.Address == m })
			if j < 0 {
				n := perMember[r.Pool][m]
				ps.Members = append(ps.Members, nat.MemberStatistics{Address: m, Up: true, Flows: n})
				ps.Allocated += n
				j = len(ps.Members) - 1
			}
			if down[netip.AddrPortFrom(m, r.Listen.Port())] {
				ms := &ps.Members[j]
				ms.Up = false
				if !slices.Contains(ms.DownPorts, r.Listen.Port()) {
					ms.DownPorts = append(ms.DownPorts, r.Listen.Port())
				}
			}
		}
	}
	slices.SortFunc(st.Pools, func(a, b nat.PoolStatistics) int { return strings.Compare(a.Name, b.Name) })
	return st
}

func (d *Datapath) kernelRoutes() []forward.Route {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prog == nil {
		return nil
	}
	return d.prog.Kernel
}

// routedFlow is a conntrack entry with the kernel route it went through.
type routedFlow struct {
	flow  kflow
	route forward.Route
}

// kernelFlows are the conntrack entries the table translated: TCP,
// destination-NATed, to a kernel route's outside address and port.
func (d *Datapath) kernelFlows(routes []forward.Route) []routedFlow {
	if len(routes) == 0 {
		return nil
	}
	fs, err := flows()
	if err != nil {
		d.Logger.Warn("kernel datapath: conntrack not read", "err", err)
		return nil
	}
	byListen := make(map[netip.AddrPort]forward.Route, len(routes))
	for _, r := range routes {
		byListen[r.Listen] = r
	}
	var out []routedFlow
	for _, f := range fs {
		if r, ok := byListen[f.origDst]; ok && f.tcp && f.dnat {
			out = append(out, routedFlow{f, r})
		}
	}
	slices.SortFunc(out, func(a, b routedFlow) int { return a.flow.start.Compare(b.flow.start) })
	return out
}
