package ios

import (
	"net/netip"
	"time"
)

// Config is the typed model of one IOS NAT configuration. Its JSON form is
// what `rotary gateway --print-model` shows.
type Config struct {
	File             string             `json:"file"`
	Interfaces       []*Interface       `json:"interfaces,omitempty"`
	Pools            []*Pool            `json:"pools,omitempty"`
	ACLs             []*ACL             `json:"access_lists,omitempty"`
	DestinationRules []*DestinationRule `json:"destination_rules,omitempty"`
	StaticMaps       []*StaticMap       `json:"static_maps,omitempty"`
	Timeouts         Timeouts           `json:"timeouts"`
	FTPALG           FTPALG             `json:"ftp_alg"`
	Rotary           Extensions         `json:"rotary"`
}

// Pos is where a statement starts in the file.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Interface is an `interface NAME` block.
type Interface struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Addresses   []netip.Prefix `json:"addresses,omitempty"` // primary first, then secondaries
	NAT         string         `json:"nat,omitempty"`       // "inside", "outside" or ""
	Shutdown    bool           `json:"shutdown,omitempty"`
	Pos         Pos            `json:"pos"`
}

// PoolTypeRotary is the only pool type the gateway runs.
const PoolTypeRotary = "rotary"

// Pool is `ip nat pool NAME START END {netmask M | prefix-length N} type rotary`.
type Pool struct {
	Name      string     `json:"name"`
	Start     netip.Addr `json:"start"`
	End       netip.Addr `json:"end"`
	PrefixLen int        `json:"prefix_length"`
	Type      string     `json:"type"`
	Pos       Pos        `json:"pos"`
}

// Members lists the pool's addresses from Start to End.
func (p *Pool) Members() []netip.Addr {
	var out []netip.Addr
	for a := p.Start; a.IsValid() && a.Compare(p.End) <= 0 && len(out) < MaxPoolMembers; a = a.Next() {
		out = append(out, a)
	}
	return out
}

// Action is what an ACL entry does with a match.
type Action string

const (
	Permit Action = "permit"
	Deny   Action = "deny"
)

// ACL is a numbered (100-199, 2000-2699) or named extended access list.
type ACL struct {
	Name     string      `json:"name"`
	Numbered bool        `json:"numbered,omitempty"`
	Remarks  []string    `json:"remarks,omitempty"`
	Entries  []*ACLEntry `json:"entries"`
	Pos      Pos         `json:"pos"`
}

// ACLEntry is one `permit|deny tcp SRC [op port] DST [op port]` line.
type ACLEntry struct {
	Seq        int       `json:"seq"`
	Action     Action    `json:"action"`
	Protocol   string    `json:"protocol"`
	Source     AddrMatch `json:"source"`
	SourcePort PortMatch `json:"source_port,omitzero"`
	Dest       AddrMatch `json:"destination"`
	DestPort   PortMatch `json:"destination_port,omitzero"`
	Pos        Pos       `json:"pos"`
	// DestPos and PortPos place a datapath's errors about the destination
	// (the DST token; the destination port operator, or the end of the line
	// when there is none). The model's JSON keeps one position per statement.
	DestPos Pos `json:"-"`
	PortPos Pos `json:"-"`
}

// DestinationRule is `ip nat inside destination list ACL pool POOL`.
type DestinationRule struct {
	ACL     string `json:"access_list"`
	Pool    string `json:"pool"`
	Pos     Pos    `json:"pos"`
	ACLPos  Pos    `json:"-"` // the ACL token
	PoolPos Pos    `json:"-"` // the POOL token
}

// StaticMap is `ip nat inside source static tcp LOCAL LPORT GLOBAL GPORT [extendable]`.
type StaticMap struct {
	Protocol   string         `json:"protocol"`
	Local      netip.AddrPort `json:"local"`
	Global     netip.AddrPort `json:"global"`
	Extendable bool           `json:"extendable,omitempty"`
	Pos        Pos            `json:"pos"`
}

// FTPALG is the FTP ALG's configuration: on by default for control
// connections to port 21 (as on IOS), `ip nat service list ACL ftp tcp port
// N` adds ports, `no ip nat service alg tcp ftp` turns it off.
type FTPALG struct {
	Off      bool          `json:"off,omitempty"`
	Services []*FTPService `json:"services,omitempty"`
}

// FTPService is `ip nat service list ACL ftp tcp port N`.
type FTPService struct {
	ACL    string `json:"acl"`
	Port   uint16 `json:"port"`
	Pos    Pos    `json:"pos"`
	ACLPos Pos    `json:"-"`
}

// Timeout is an `ip nat translation` timer: Seconds, or Never.
type Timeout struct {
	Seconds int  `json:"seconds,omitempty"`
	Never   bool `json:"never,omitempty"`
}

// Duration is the timer as a duration; 0 means never.
func (t Timeout) Duration() time.Duration {
	if t.Never {
		return 0
	}
	return time.Duration(t.Seconds) * time.Second
}

// Timeouts are the IOS translation timers the gateway applies; Parse fills
// the IOS defaults for the ones the file does not set.
type Timeouts struct {
	TCP    Timeout `json:"tcp"`    // idle limit of an established flow (IOS default 86400 s)
	FinRst Timeout `json:"finrst"` // after the first FIN or a RST (IOS default 60 s)
	Syn    Timeout `json:"syn"`    // connecting to the inside host (IOS default 60 s)
}

// IOS defaults (`show ip nat translations verbose` on 15.x).
const (
	DefaultTCPTimeout    = 86400
	DefaultFinRstTimeout = 60
	DefaultSynTimeout    = 60
	// DefaultHealthInterval is the Rotary health-check period in seconds.
	DefaultHealthInterval = 5
)

// Extensions are the `rotary ...` lines: things IOS does not have.
type Extensions struct {
	// Strict is set by ParseOptions.Strict: plain IOS, no extensions, no health checks.
	Strict        bool            `json:"strict,omitempty"`
	ProxyProtocol []ProxyProtocol `json:"proxy_protocol,omitempty"`
	HealthCheck   HealthCheck     `json:"health_check"`
	Coordinate    []*Coordinate   `json:"coordinate,omitempty"`
}

// Coordinate is `rotary coordinate pool NAME passive-range LO HI [public-ip
// ADDRESS]`: the gateway owns the pool's public passive range, gives each
// member an equal slice of it (in the PROXY v2 header of its control
// connections) and sends each data port to the member owning it.
type Coordinate struct {
	Pool     string     `json:"pool"`
	Lo       uint16     `json:"lo"`
	Hi       uint16     `json:"hi"`
	PublicIP netip.Addr `json:"public_ip,omitzero"`
	Pos      Pos        `json:"pos"`
	NamePos  Pos        `json:"-"`
}

// Slices splits LO..HI into n equal, contiguous slices (the first ones one
// port longer when n does not divide the range), slice i for member i in
// the pool's address order: the split depends only on the range and the
// member count, so it is stable across restarts and health changes.
func (c *Coordinate) Slices(n int) [][2]uint16 {
	total := int(c.Hi) - int(c.Lo) + 1
	if n <= 0 || n > total {
		return nil
	}
	out := make([][2]uint16, n)
	lo := int(c.Lo)
	for i := range n {
		size := total / n
		if i < total%n {
			size++
		}
		out[i] = [2]uint16{uint16(lo), uint16(lo + size - 1)}
		lo += size
	}
	return out
}

// CoordinateFor is the coordination of pool, or nil.
func (e Extensions) CoordinateFor(pool string) *Coordinate {
	for _, c := range e.Coordinate {
		if c.Pool == pool {
			return c
		}
	}
	return nil
}

// ProxyProtocol is `rotary proxy-protocol v2 pool NAME` or `... static [GLOBAL GPORT]`.
type ProxyProtocol struct {
	Version int            `json:"version"`
	Pool    string         `json:"pool,omitempty"`
	Static  bool           `json:"static,omitempty"`
	Global  netip.AddrPort `json:"global,omitzero"` // one static map; zero means all of them
	Pos     Pos            `json:"pos"`
	NamePos Pos            `json:"-"` // the pool name, or the GLOBAL address
}

// HealthCheck is `rotary health-check interval SECONDS|off`.
type HealthCheck struct {
	Off             bool `json:"off,omitempty"`
	IntervalSeconds int  `json:"interval_seconds,omitempty"`
}

// Interval is the period of the background TCP check; 0 means off.
func (e Extensions) HealthInterval() time.Duration {
	if e.Strict || e.HealthCheck.Off {
		return 0
	}
	s := e.HealthCheck.IntervalSeconds
	if s == 0 {
		s = DefaultHealthInterval
	}
	return time.Duration(s) * time.Second
}

// ProxyVersionForPool is the PROXY protocol version to send to members of pool (0: none).
func (e Extensions) ProxyVersionForPool(pool string) int {
	for _, p := range e.ProxyProtocol {
		if p.Pool == pool && pool != "" {
			return p.Version
		}
	}
	return 0
}

// ProxyVersionForStatic is the PROXY protocol version to send through the static map with this global (0: none).
func (e Extensions) ProxyVersionForStatic(global netip.AddrPort) int {
	for _, p := range e.ProxyProtocol {
		if p.Static && (!p.Global.IsValid() || p.Global == global) {
			return p.Version
		}
	}
	return 0
}

// Limits that keep a hostile or mistaken file from exhausting the machine.
const (
	MaxFileBytes   = 1 << 20
	MaxLineBytes   = 4096
	MaxPoolMembers = 4096
	MaxACLEntries  = 4096
)
