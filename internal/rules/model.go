package rules

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// DatapathName is what Model.Plan's lines name as their datapath.
const DatapathName = "rules"

// Model is the forwarding a router must do for one server or gateway
// configuration: every renderer reads it, none reads the settings or the
// IOS text.
type Model struct {
	// From says where the model comes from, for the output's first
	// comment: "rotary.toml", "command-line flags", "seed.ios".
	From string
	// IOSFile is the IOS file's name when the model comes from one: errors
	// then name file:line:column, else the setting.
	IOSFile string
	// OutsideName is the outside address as given when it is not an IPv4
	// address (a host name in public-ip, say) or "" when none was given;
	// OutsideSetting names where it came from ("--outside-ip",
	// "public-ip"). Forwards then have no Outside address, and renderers
	// that need one refuse.
	OutsideName    string
	OutsideSetting string
	// OutsideExplicit is set when OutsideName came from --outside-ip (a
	// mistake to report) rather than from public-ip's host name (a
	// dynamic address, fine for formats that match the interface).
	OutsideExplicit bool
	Forwards        []Forward
	// Timeouts and HealthCheck are the IOS file's, for the ios renderer
	// (nil for server settings).
	Timeouts    *ios.Timeouts
	HealthCheck *ios.HealthCheck
}

// Kind says what a forward is for, for comments and rule names.
type Kind string

const (
	KindControl     Kind = "control"
	KindImplicitTLS Kind = "implicit FTPS"
	KindPassive     Kind = "passive"
	KindStatic      Kind = "static"
	KindPool        Kind = "pool"
)

// Forward is one DNAT rule: TCP connections to Outside, ports Lo..Hi, go
// to Members (round-robin per new connection when there are several),
// outside port p to inside port p+Offset.
type Forward struct {
	Kind Kind
	// Outside is invalid when the model has no outside address (see
	// Model.OutsideName): formats that can match the interface instead do.
	Outside netip.Addr
	Lo, Hi  uint16
	Members []netip.Addr
	Offset  int
	// Pool is the IOS rotary pool the forward goes to ("" for a static
	// map); PoolPrefix its prefix length.
	Pool       string
	PoolPrefix int
	// Filter, when set, is the access list's entries that match this
	// destination, in order: the first whose source matches decides, and
	// no match is the implicit deny (no translation). nil: every source.
	Filter    []SourceRule
	FilterACL string
	// ProxyProtocol is the PROXY protocol version the gateway sends
	// inside (0: none). Only the gateway (ios output) can.
	ProxyProtocol int
	// Setting and Value name the serve setting the forward comes from
	// ("passive-ports", "5500-5520"); Pos the IOS statement.
	Setting, Value string
	Pos            ios.Pos
}

// SourceRule is an access list entry as a source filter.
type SourceRule struct {
	Permit bool
	Source ios.AddrMatch
	Port   ios.PortMatch
	Pos    ios.Pos
}

// Label is the forward's kind for comments and rule names: "control",
// "passive", "pool ftp-a", "static".
func (f Forward) Label() string {
	if f.Kind == KindPool {
		return "pool " + f.Pool
	}
	return string(f.Kind)
}

// InsideLo and InsideHi are the inside ports.
func (f Forward) InsideLo() int { return int(f.Lo) + f.Offset }
func (f Forward) InsideHi() int { return int(f.Hi) + f.Offset }

// Origin names where the forward comes from: "passive-ports 5500-5520",
// "seed.ios:19".
func (f Forward) Origin(m *Model) string {
	if m.IOSFile != "" {
		return fmt.Sprintf("%s:%d", m.IOSFile, f.Pos.Line)
	}
	return f.Setting + " " + f.Value
}

// Describe is the forward in one line: "203.0.113.5:5500-5520 ->
// 192.168.1.10:5500-5520".
func (f Forward) Describe(m *Model) string {
	out := m.OutsideName
	if f.Outside.IsValid() {
		out = f.Outside.String()
	}
	if out == "" {
		out = "(outside)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s -> ", out, span(int(f.Lo), int(f.Hi), "-"))
	var ms []string
	for _, a := range f.Members {
		ms = append(ms, a.String())
	}
	if len(ms) == 1 {
		fmt.Fprintf(&b, "%s:%s", ms[0], span(f.InsideLo(), f.InsideHi(), "-"))
	} else {
		fmt.Fprintf(&b, "%s round-robin, port kept", strings.Join(ms, ", "))
	}
	if f.Filter != nil {
		fmt.Fprintf(&b, ", sources filtered by list %s", f.FilterACL)
	}
	return b.String()
}

// span is "lo" or "lo<sep>hi".
func span(lo, hi int, sep string) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return strconv.Itoa(lo) + sep + strconv.Itoa(hi)
}

// translatesPorts reports whether the forward changes the port, which IOS
// rotary pools cannot: such a forward is static maps, one per port.
func (f Forward) translatesPorts() bool { return f.Offset != 0 || f.Pool == "" }

// Plan lists the model as `rotary gateway --print-plan` would list the ios
// output's plan: pool forwards as runs of consecutive ports (folded as the
// userspace planner folds them), static and port-translating forwards one
// line per port, sorted by outside address and port. Forwards without an
// outside address have no plan line.
func (m *Model) Plan() []nat.PlanLine {
	var lines []nat.PlanLine
	for _, f := range m.Forwards {
		if !f.Outside.IsValid() {
			continue
		}
		for p := int(f.Lo); p <= int(f.Hi); p++ {
			l := nat.PlanLine{Outside: netip.AddrPortFrom(f.Outside, uint16(p)), ProxyProtocol: f.ProxyProtocol,
				Datapath: DatapathName, Line: f.Pos.Line}
			if f.translatesPorts() {
				l.Static = netip.AddrPortFrom(f.Members[0], uint16(p+f.Offset))
			} else {
				l.Pool = f.Pool
				if f.Filter != nil {
					l.FilteredBy = f.FilterACL
				}
			}
			lines = append(lines, l)
		}
	}
	slices.SortStableFunc(lines, func(a, b nat.PlanLine) int {
		if d := a.Outside.Addr().Compare(b.Outside.Addr()); d != 0 {
			return d
		}
		return cmp.Compare(a.Outside.Port(), b.Outside.Port())
	})
	var out []nat.PlanLine
	for i := 0; i < len(lines); {
		j := i + 1
		for lines[i].Pool != "" && j < len(lines) && lines[j].Outside.Addr() == lines[i].Outside.Addr() &&
			lines[j].Pool == lines[i].Pool && lines[j].FilteredBy == lines[i].FilteredBy &&
			lines[j].ProxyProtocol == lines[i].ProxyProtocol && int(lines[j].Outside.Port()) == int(lines[i].Outside.Port())+(j-i) {
			j++
		}
		l := lines[i]
		if j-i > 1 {
			l.LastPort = lines[j-1].Outside.Port()
		}
		out = append(out, l)
		i = j
	}
	return out
}
