// Package probe is `rotary probe`: the reachability self-test of an FTP
// server's passive ports, run from the client side. It logs in, checks the
// address that 227 replies announce against the address it dialled, then
// has the server hand out every port of the passive range, as a busy site
// would (several sessions holding one PASV each), opens a data connection
// to each and completes a listing over it, and reports every port as
// reachable or unreachable with the likely cause. It speaks through
// internal/ftpclient.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftpclient"
	"github.com/rotary-ftp/rotary/internal/passive"
)

// Defaults of Options' zero values.
const (
	DefaultMaxSessions = 50
	DefaultTimeout     = 5 * time.Second
	// maxRounds bounds the rounds of PASVs: each round holds up to
	// MaxSessions ports.
	maxRounds = 200
)

// Target is what the probe URL names: ftp://USER:PASS@HOST[:PORT]/.
type Target struct {
	Host           string
	Port           int
	User, Password string
}

// ParseURL reads ftp://USER:PASS@HOST[:PORT]/ (port 21 by default;
// ftps:// is implicit FTPS, port 990 by default). A URL without a user
// and password is an error: the probe must log in to be handed ports.
func ParseURL(s string) (Target, bool, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, false, fmt.Errorf("probe URL: %w", err)
	}
	implicit := false
	port := 21
	switch u.Scheme {
	case "ftp":
	case "ftps":
		implicit, port = true, 990
	default:
		return Target{}, false, fmt.Errorf("probe URL %q: want ftp://USER:PASS@HOST[:PORT]/", s)
	}
	pass, ok := u.User.Password()
	if u.User == nil || u.User.Username() == "" || !ok {
		return Target{}, false, fmt.Errorf("probe URL %s://%s/: no credentials: want %s://USER:PASS@HOST[:PORT]/", u.Scheme, u.Host, u.Scheme)
	}
	if u.Hostname() == "" {
		return Target{}, false, fmt.Errorf("probe URL %q: no host", s)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return Target{}, false, fmt.Errorf("probe URL %q: bad port %q", s, p)
		}
	}
	return Target{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pass}, implicit, nil
}

// Options configure one probe.
type Options struct {
	Target Target
	// TLS is explicit FTPS (AUTH TLS); ImplicitTLS is TLS from the first byte.
	TLS, ImplicitTLS bool
	// Ports is the range that should be reachable; the zero Range means
	// the range the server hands out.
	Ports passive.Range
	// MaxSessions bounds the sessions held at once (DefaultMaxSessions).
	MaxSessions int
	// Timeout bounds each connect, reply and data transfer (DefaultTimeout).
	Timeout time.Duration
	// Progress, when set, is told how many ports were tested and how many
	// are known, as the probe goes.
	Progress func(done, total int)
}

// Report is what the probe found; its JSON is `rotary probe --json`.
type Report struct {
	URL         string       `json:"url"` // without the password
	ConnectedTo string       `json:"connected_to"`
	TLS         string       `json:"tls,omitempty"` // "explicit", "implicit"
	PASV        AddressCheck `json:"pasv"`
	EPSV        EPSVCheck    `json:"epsv"`
	Range       RangeInfo    `json:"range"`
	Ports       []PortResult `json:"ports"`
	TLSReuse    *ReuseCheck  `json:"tls_session_reuse,omitempty"`
	Problems    []string     `json:"problems"`
}

// AddressCheck is the address a 227 reply announced.
type AddressCheck struct {
	Announced string `json:"announced"`
	OK        bool   `json:"ok"`
	Problem   string `json:"problem,omitempty"`
}

// EPSVCheck is one EPSV: its port and whether a listing went through it.
type EPSVCheck struct {
	Supported bool   `json:"supported"`
	Port      int    `json:"port,omitempty"`
	Reachable bool   `json:"reachable"`
	Note      string `json:"note,omitempty"`
}

// RangeInfo is the range checked: given with --ports, or learned.
type RangeInfo struct {
	Lo      int  `json:"lo"`
	Hi      int  `json:"hi"`
	Learned bool `json:"learned"`
}

// PortResult is one passive port.
type PortResult struct {
	Port      int    `json:"port"`
	Reachable bool   `json:"reachable"`
	Cause     string `json:"cause,omitempty"`
	// Resumed tells, under TLS, whether the data connection resumed the
	// control connection's TLS session.
	Resumed *bool `json:"tls_resumed,omitempty"`
}

// ReuseCheck is what TLS session reuse looks like from the client.
type ReuseCheck struct {
	Resumed int `json:"resumed"`
	Total   int `json:"total"`
	// DataResumed: every data connection resumed the control session.
	DataResumed bool `json:"data_connections_resume"`
	// NonResumingAccepted: a data connection that does not resume was
	// accepted; false means the server requires session reuse
	// (tls-require-session-reuse), which clients such as Python's ftplib
	// cannot give.
	NonResumingAccepted bool   `json:"non_resuming_accepted"`
	Note                string `json:"note,omitempty"`
}

// LoginError is a probe that could not start: the server could not be
// reached or refused the login (`rotary probe` exits 2).
type LoginError struct{ Err error }

func (e *LoginError) Error() string { return e.Err.Error() }
func (e *LoginError) Unwrap() error { return e.Err }

// OK reports whether everything checked is reachable and announced right.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

type prober struct {
	o       Options
	addr    netip.AddrPort // the control address dialled
	dialer  ftpclient.Dialer
	useEPSV bool // IPv6: 227 cannot carry the address
	rep     *Report
	mu      sync.Mutex
}

// Run probes o.Target. A *LoginError means it could not log in; any other
// result is a Report, whose Problems are empty when all is well.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	addr, err := resolve(ctx, o.Target)
	if err != nil {
		return nil, &LoginError{err}
	}
	p := &prober{o: o, addr: addr, useEPSV: !addr.Addr().Is4(),
		dialer: ftpclient.Dialer{Addr: addr, TLS: o.TLS && !o.ImplicitTLS, ImplicitTLS: o.ImplicitTLS, Timeout: o.Timeout}}
	p.rep = &Report{URL: fmt.Sprintf("ftp://%s@%s/", o.Target.User, net.JoinHostPort(o.Target.Host, strconv.Itoa(o.Target.Port))),
		ConnectedTo: addr.String(), Problems: []string{}}
	switch {
	case o.ImplicitTLS:
		p.rep.TLS, p.rep.URL = "implicit", "ftps"+strings.TrimPrefix(p.rep.URL, "ftp")
	case o.TLS:
		p.rep.TLS = "explicit"
	}
	first, err := p.login(ctx)
	if err != nil {
		return nil, &LoginError{err}
	}
	p.checkAddress(first)
	p.checkEPSV(ctx, first)
	p.sweep(ctx, first)
	if p.rep.TLS != "" {
		p.checkReuse(ctx)
	}
	return p.rep, nil
}

func resolve(ctx context.Context, t Target) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(t.Host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(t.Port)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", t.Host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %v", t.Host, err)
	}
	// Prefer IPv4: that is where NAT and 227 replies are.
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return netip.AddrPortFrom(a.Unmap(), uint16(t.Port)), nil
		}
	}
	return netip.AddrPortFrom(addrs[0], uint16(t.Port)), nil
}

func (p *prober) login(ctx context.Context) (*ftpclient.Conn, error) {
	c, err := p.dialer.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.addr, err)
	}
	if err := c.Login(p.o.Target.User, p.o.Target.Password); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", p.addr, err)
	}
	return c, nil
}

// announcedAddress explains what is wrong with a 227 reply's address, or
// returns "" when it is the address the client dialled. The probe itself
// connects to the dialled address, as curl and FileZilla do by default,
// but many clients use the reply's.
func announcedAddress(announced, dialled netip.Addr) string {
	if announced == dialled {
		return ""
	}
	why := "a different address"
	switch {
	case announced.IsPrivate(), announced.IsLoopback(), announced.IsLinkLocalUnicast(), cgnat.Contains(announced):
		why = "a private address: the server does not know the address it is reached on"
	case announced.IsUnspecified():
		why = "0.0.0.0: no client can connect to it"
	}
	return fmt.Sprintf("server announced %s but you connected to %s: set public-ip (%s is %s; clients that use the announced address cannot connect)",
		announced, dialled, announced, why)
}

// cgnat is RFC 6598 shared address space, private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func (p *prober) checkAddress(c *ftpclient.Conn) {
	if p.useEPSV {
		p.rep.PASV = AddressCheck{OK: true, Problem: ""}
		return
	}
	code, msg, err := c.Cmd("PASV")
	if err != nil || code != 227 {
		p.problem(fmt.Sprintf("PASV refused: %d %s %v", code, msg, errOrEmpty(err)))
		return
	}
	ap, err := ftpclient.ParsePASVAddr(msg)
	if err != nil {
		p.problem(err.Error())
		return
	}
	p.rep.PASV.Announced = ap.Addr().String()
	if why := announcedAddress(ap.Addr(), p.addr.Addr()); why != "" {
		p.rep.PASV.Problem = why
		p.problem(why)
		return
	}
	p.rep.PASV.OK = true
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkEPSV sends EPSV and lists over its port: RFC 2428 replies carry no
// address, so behind NAT they only need the port forwarded.
func (p *prober) checkEPSV(ctx context.Context, c *ftpclient.Conn) {
	code, msg, err := c.Cmd("EPSV")
	if err != nil {
		p.problem("EPSV: " + err.Error())
		return
	}
	if code != 229 {
		p.rep.EPSV.Note = fmt.Sprintf("EPSV not supported (%d %s): clients fall back to PASV", code, msg)
		return
	}
	port, err := ftpclient.ParseEPSV(msg)
	if err != nil {
		p.problem(err.Error())
		return
	}
	p.rep.EPSV.Supported, p.rep.EPSV.Port = true, port
	r := p.list(ctx, c, port)
	p.rep.EPSV.Reachable = r.Reachable
	if !r.Reachable {
		p.rep.EPSV.Note = fmt.Sprintf("port %d: %s", port, r.Cause)
		p.problem(fmt.Sprintf("EPSV port %d unreachable: %s", port, r.Cause))
	}
}

func (p *prober) problem(s string) {
	p.mu.Lock()
	p.rep.Problems = append(p.rep.Problems, s)
	p.mu.Unlock()
}

// session is a control connection of the sweep; dead ones are replaced.
type session struct {
	c    *ftpclient.Conn
	dead bool
}

// sweep has the server hand out its ports and tests each: every round
// holds up to MaxSessions sessions, each with one PASV pending, then opens
// all their data connections at once. Rounds go on until every port of
// --ports was tested, or a round brings no new port (the server hands out
// no others), or, when learning the range, the server ran out of ports for
// this client (425).
func (p *prober) sweep(ctx context.Context, first *ftpclient.Conn) {
	sessions := []*session{{c: first}}
	defer func() {
		for _, s := range sessions {
			s.c.Close()
		}
	}()
	results := map[int]PortResult{}
	want := p.o.Ports
	learning := want == (passive.Range{})
	handedOut := map[int]bool{}
	for round := 0; round < maxRounds && ctx.Err() == nil; round++ {
		type held struct {
			s    *session
			port int
		}
		var batch []held
		exhausted, fresh := false, false
		for i := 0; i < p.o.MaxSessions && !exhausted; i++ {
			if i >= len(sessions) {
				c, err := p.login(ctx)
				if err != nil {
					// A server may limit sessions per client (max-conns-per-ip):
					// go on with those there are.
					if len(sessions) == 1 && round == 0 {
						p.problem("a second session could not log in: " + err.Error())
					}
					break
				}
				sessions = append(sessions, &session{c: c})
			}
			s := sessions[i]
			if s.dead {
				continue
			}
			port, code, err := p.passive(s.c)
			switch {
			case err != nil:
				s.dead = true
				continue
			case code == 425:
				exhausted = true
				continue
			case port == 0:
				continue
			}
			handedOut[port] = true
			if _, done := results[port]; done {
				continue
			}
			fresh = true
			batch = append(batch, held{s, port})
		}
		if p.o.Progress != nil {
			total := len(handedOut)
			if !learning {
				total = max(total, want.Len())
			}
			p.o.Progress(len(results), total)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, h := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := p.list(ctx, h.s.c, h.port)
				if r.dead {
					h.s.dead = true
				}
				mu.Lock()
				results[h.port] = r.PortResult
				mu.Unlock()
			}()
		}
		wg.Wait()
		// Sessions out of step are closed, and replaced in the next round.
		sessions = slices.DeleteFunc(sessions, func(s *session) bool {
			if s.dead {
				s.c.Close()
			}
			return s.dead
		})
		if p.o.Progress != nil {
			p.o.Progress(len(results), max(len(handedOut), want.Len()))
		}
		if !fresh || (learning && exhausted) {
			break
		}
		if !learning && coversRange(results, want) {
			break
		}
	}
	p.report(results, handedOut, learning)
}

func coversRange(results map[int]PortResult, r passive.Range) bool {
	for port := r.Lo; port <= r.Hi; port++ {
		if _, ok := results[port]; !ok {
			return false
		}
	}
	return true
}

// report turns the results into the Report's ports, range and problems.
func (p *prober) report(results map[int]PortResult, handedOut map[int]bool, learning bool) {
	rng := p.o.Ports
	if learning {
		if len(handedOut) == 0 {
			p.problem("the server handed out no passive port")
			return
		}
		rng = passive.Range{Lo: 65535, Hi: 0}
		for port := range handedOut {
			rng.Lo, rng.Hi = min(rng.Lo, port), max(rng.Hi, port)
		}
	}
	p.rep.Range = RangeInfo{Lo: rng.Lo, Hi: rng.Hi, Learned: learning}
	var ports []int
	for port := range results {
		ports = append(ports, port)
	}
	for port := rng.Lo; port <= rng.Hi; port++ {
		if _, ok := results[port]; !ok {
			ports = append(ports, port)
		}
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	var unreachable, outside, never []int
	for _, port := range ports {
		r, tested := results[port]
		if !tested {
			// In the range, but the server never handed it out.
			r = PortResult{Port: port, Cause: "never handed out by the server: passive-ports does not include it (or other clients hold it)"}
			never = append(never, port)
		}
		if tested && !rng.Contains(port) {
			outside = append(outside, port)
			if r.Reachable {
				r.Cause = "outside --ports: the server's passive-ports and the router's range differ"
			}
		}
		if tested && !r.Reachable {
			unreachable = append(unreachable, port)
		}
		p.rep.Ports = append(p.rep.Ports, r)
	}
	if len(unreachable) > 0 {
		// One line per cause, its ports folded: "5516-5520: refused: ...".
		var causes []string
		byCause := map[string][]int{}
		for _, port := range unreachable {
			c := results[port].Cause
			if _, ok := byCause[c]; !ok {
				causes = append(causes, c)
			}
			byCause[c] = append(byCause[c], port)
		}
		var parts []string
		for _, c := range causes {
			parts = append(parts, portList(byCause[c])+": "+c)
		}
		p.problem(fmt.Sprintf("%d of %d passive ports unreachable: %s", len(unreachable), len(results), strings.Join(parts, "; ")))
	}
	if len(outside) > 0 {
		p.problem(fmt.Sprintf("the server handed out %s, outside --ports %s", portList(outside), rng))
	}
	if len(never) > 0 {
		p.problem(fmt.Sprintf("ports %s of --ports %s were never handed out by the server", portList(never), rng))
	}
}

// portList folds ports into runs: "5516-5520, 5530".
func portList(ports []int) string {
	var parts []string
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(ports[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ports[i], ports[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// passive sends PASV (EPSV on IPv6) and returns the port and the code.
func (p *prober) passive(c *ftpclient.Conn) (port, code int, err error) {
	cmd := "PASV"
	if p.useEPSV {
		cmd = "EPSV"
	}
	code, msg, err := c.Cmd(cmd)
	if err != nil {
		return 0, 0, err
	}
	switch code {
	case 227:
		port, err = ftpclient.ParsePASV(msg)
	case 229:
		port, err = ftpclient.ParseEPSV(msg)
	default:
		return 0, code, nil
	}
	if err != nil {
		return 0, code, nil
	}
	return port, code, nil
}

type listResult struct {
	PortResult
	dead bool // the session is out of step and must be dropped
}

// list connects to port on the dialled address and completes a LIST over
// it, on c whose PASV or EPSV handed the port out.
func (p *prober) list(ctx context.Context, c *ftpclient.Conn, port int) listResult {
	r := listResult{PortResult: PortResult{Port: port}}
	nd := net.Dialer{Timeout: p.o.Timeout}
	tcp, err := nd.DialContext(ctx, "tcp", netip.AddrPortFrom(p.addr.Addr(), uint16(port)).String())
	if err != nil {
		r.Cause = dialCause(err, p.o.Timeout)
		// The reservation is still pending on the server: the next PASV
		// releases it.
		return r
	}
	d, err := c.Transfer(tcp, "LIST")
	if err != nil {
		var re *ftpclient.ReplyError
		switch {
		case errors.As(err, &re):
			r.Cause = fmt.Sprintf("connected, but the server answered %d %s: the connection reached another host or port (wrong address in the forwarding)", re.Code, re.Msg)
		case isTimeout(err):
			r.Cause = "connected, but the server never saw the connection: the port is forwarded to the wrong address (another host or port)"
			r.dead = true
		default:
			r.Cause = "connected, but the listing failed: " + err.Error()
			r.dead = true
		}
		if re != nil && strings.Contains(strings.ToLower(re.Msg), "session reuse") {
			r.Cause = fmt.Sprintf("the server requires TLS session reuse: %d %s", re.Code, re.Msg)
		}
		return r
	}
	d.TCP().SetDeadline(time.Now().Add(p.o.Timeout))
	if tc, ok := d.Conn().(*tls.Conn); ok {
		resumed := tc.ConnectionState().DidResume
		r.Resumed = &resumed
	}
	_, err = io.Copy(io.Discard, d.Conn())
	d.Close()
	if err != nil {
		r.Cause = "the listing broke off: " + err.Error()
		r.dead = true
		return r
	}
	if err := c.Finish("LIST"); err != nil {
		r.Cause = "the listing did not complete: " + err.Error()
		r.dead = !errors.As(err, new(*ftpclient.ReplyError))
		return r
	}
	r.Reachable = true
	return r
}

// dialCause names the likely cause of a data connection that failed.
func dialCause(err error, timeout time.Duration) string {
	switch {
	case slices.ContainsFunc(refused, func(e error) bool { return errors.Is(err, e) }):
		return "refused: not forwarded (nothing answers on this port, or the host it is forwarded to does not listen there)"
	case isTimeout(err):
		return fmt.Sprintf("filtered: no answer within %s (a firewall drops it, or the router does not forward it)", timeout)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the server: wrong address"
	}
	return "connect failed: " + err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// checkReuse reports whether data connections resumed the control
// session, and whether the server accepts one that does not (it refuses
// with tls-require-session-reuse).
func (p *prober) checkReuse(ctx context.Context) {
	rc := &ReuseCheck{}
	for _, r := range p.rep.Ports {
		if r.Resumed != nil {
			rc.Total++
			if *r.Resumed {
				rc.Resumed++
			}
		}
	}
	rc.DataResumed = rc.Total > 0 && rc.Resumed == rc.Total
	c, err := p.login(ctx)
	if err != nil {
		rc.Note = "could not log in again to try a data connection that does not resume: " + err.Error()
		p.rep.TLSReuse = rc
		return
	}
	defer c.Close()
	// A configuration without a session cache cannot resume: what Python's
	// ftplib and many .NET clients do.
	c.SetDataTLS(&tls.Config{InsecureSkipVerify: true, ServerName: p.addr.Addr().String()})
	port, _, err := p.passive(c)
	if err != nil || port == 0 {
		rc.Note = "no passive port for the check without resumption"
		p.rep.TLSReuse = rc
		return
	}
	r := p.list(ctx, c, port)
	rc.NonResumingAccepted = r.Reachable
	switch {
	case r.Reachable:
		rc.Note = "data connections that do not resume the control session are accepted too"
	case strings.Contains(r.Cause, "session reuse"):
		rc.Note = "the server requires session reuse (tls-require-session-reuse): clients that cannot resume, such as Python's ftplib, fail"
	default:
		rc.Note = "a data connection that does not resume failed: " + r.Cause
	}
	// Data connections that do not resume are no problem by themselves: a
	// server that requires resumption refuses them, and those ports are
	// reported unreachable with that cause.
	p.rep.TLSReuse = rc
}
