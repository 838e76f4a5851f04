package nat

import (
	"fmt"
	"net/netip"
	"strings"
)

// PlanLine is one line of what a datapath runs, as `rotary gateway
// --print-plan` lists it and the gateway logs it at start:
//
//	127.0.0.2:2121 -> static 127.0.0.1:2121 [userspace]
//	127.0.0.2:5500..5520 -> pool ftp (sources filtered by list 100) [userspace]
type PlanLine struct {
	// Outside is the outside address and first port; LastPort is the last
	// port of a run of consecutive ports folded into this line (0: one port).
	Outside  netip.AddrPort
	LastPort uint16
	// Pool names the rotary pool connections go to; when it is "", Static
	// is the inside local address and port of a static map.
	Pool   string
	Static netip.AddrPort
	// ProxyProtocol is the PROXY protocol version sent to the inside host
	// before the client's bytes (0: none).
	ProxyProtocol int
	// FilteredBy names the access list evaluated for each connection, when
	// it permits some sources here and not others.
	FilteredBy string
	// FTPALG: the FTP ALG watches these control connections.
	FTPALG bool
	// Coordinated: a control port of a coordinated pool (`rotary
	// coordinate`); with Owner set, data ports of that member's slice.
	Coordinated bool
	Owner       netip.Addr
	// Datapath is the Name of the datapath that runs the line.
	Datapath string
	// Line is the IOS statement the (first) port comes from.
	Line int
}

// Range is the outside address with its port or run of ports:
// "127.0.0.2:2121", "127.0.0.2:5500..5520".
func (l PlanLine) Range() string {
	if l.LastPort != 0 && l.LastPort != l.Outside.Port() {
		return fmt.Sprintf("%s..%d", l.Outside, l.LastPort)
	}
	return l.Outside.String()
}

// Target is where connections go: "pool NAME" or "static A:P".
func (l PlanLine) Target() string {
	if l.Pool != "" {
		return "pool " + l.Pool
	}
	return "static " + l.Static.String()
}

func (l PlanLine) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s -> %s", l.Range(), l.Target())
	if l.ProxyProtocol != 0 {
		fmt.Fprintf(&b, " (proxy-protocol v%d)", l.ProxyProtocol)
	}
	if l.FilteredBy != "" {
		fmt.Fprintf(&b, " (sources filtered by list %s)", l.FilteredBy)
	}
	if l.FTPALG {
		b.WriteString(" (ftp alg)")
	}
	switch {
	case l.Owner.IsValid():
		fmt.Fprintf(&b, " (coordinated slice of %s)", l.Owner)
	case l.Coordinated:
		b.WriteString(" (coordinated)")
	}
	fmt.Fprintf(&b, " [%s]", l.Datapath)
	return b.String()
}
