package rules

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// RenderOptions are what a format may need beyond the model.
type RenderOptions struct {
	// OutsideIf is the router's outside interface (--outside-if): pf's
	// rdr rules name it; nftables and iptables match it when the model has
	// no outside address.
	OutsideIf string
}

// A renderer writes m in one format, or refuses what the format cannot
// express with an *Error or *ios.Error.
type renderer func(w *bytes.Buffer, m *Model, o RenderOptions) error

var renderers = map[string]renderer{
	"ios":      renderIOS,
	"nftables": renderNFTables,
	"iptables": renderIPTables,
	"pf":       renderPF,
	"netsh":    renderNetsh,
}

// Formats are the formats Render knows, in the order usage lists them.
var Formats = []string{"ios", "nftables", "iptables", "pf", "netsh"}

// Render writes m in format to w. Nothing is written when the model cannot
// be rendered faithfully; the error names the setting or file:line:column.
func Render(w io.Writer, m *Model, format string, o RenderOptions) error {
	r, ok := renderers[format]
	if !ok {
		return &Error{Setting: "--format", Value: format, Reason: "unknown format: want one of " + strings.Join(Formats, ", ")}
	}
	var buf bytes.Buffer
	if err := r(&buf, m, o); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// header writes the comment every output starts with: what it forwards,
// from which settings, and how to apply it. c is the format's comment
// leader.
func header(w *bytes.Buffer, m *Model, format, c string, apply []string) {
	fmt.Fprintf(w, "%s Written by `rotary rules --format %s` from %s.\n", c, format, m.From)
	fmt.Fprintf(w, "%s Forwards (TCP):\n", c)
	for _, f := range m.Forwards {
		fmt.Fprintf(w, "%s   %s  (%s, %s)\n", c, f.Describe(m), f.Label(), f.Origin(m))
	}
	for _, l := range apply {
		fmt.Fprintf(w, "%s %s\n", c, l)
	}
}

// errAt is the error for forward f: at its IOS statement, or naming its
// setting.
func errAt(m *Model, f Forward, pos ios.Pos, token, reason string) error {
	if m.IOSFile != "" {
		if pos == (ios.Pos{}) {
			pos = f.Pos
		}
		return &ios.Error{File: m.IOSFile, Line: pos.Line, Column: pos.Column, Token: token, Detail: reason}
	}
	return &Error{Setting: f.Setting, Value: f.Value, Reason: reason}
}

// needOutside refuses a model without an outside IPv4 address, for a
// format whose rules must name it (need says why).
func needOutside(m *Model, format, need string) error {
	for _, f := range m.Forwards {
		if f.Outside.IsValid() {
			continue
		}
		if m.OutsideName == "" {
			return &Error{Setting: "--outside-ip", Reason: fmt.Sprintf("%s: %s, and public-ip is not set: give the router's outside address", format, need)}
		}
		return &Error{Setting: m.OutsideSetting, Value: m.OutsideName,
			Reason: fmt.Sprintf("not an IPv4 address: %s; a host name would be looked up once, when the rules load, and go stale with a dynamic address; give --outside-ip ADDR", need)}
	}
	return nil
}

// outsideOrInterface is what nftables and iptables need: an outside
// address, or the outside interface to match instead. An --outside-ip that
// is not an address is a mistake either way.
func outsideOrInterface(m *Model, format string, o RenderOptions) error {
	if m.OutsideName != "" && m.OutsideExplicit {
		return &Error{Setting: m.OutsideSetting, Value: m.OutsideName, Reason: format + " matches the outside address: want an IPv4 address"}
	}
	if o.OutsideIf != "" {
		return nil
	}
	return needOutside(m, format, "the DNAT rules match the outside address (or give --outside-if NAME to match the interface)")
}

// noProxyProtocol refuses what only the gateway can do.
func noProxyProtocol(m *Model, format string) error {
	for _, f := range m.Forwards {
		if f.ProxyProtocol != 0 {
			return errAt(m, f, ios.Pos{}, "", fmt.Sprintf("%s cannot send a PROXY v%d header: only rotary gateway can (render this file as ios, or drop the rotary proxy-protocol line)", format, f.ProxyProtocol))
		}
	}
	return nil
}

// prefixOf is a source address as a CIDR prefix, when its wildcard is
// contiguous (what pf, netsh and iptables can name).
func prefixOf(a ios.AddrMatch) (netip.Prefix, bool) {
	if a.Any {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
	}
	w := u32(a.Wildcard)
	if w&(w+1) != 0 {
		return netip.Prefix{}, false
	}
	ones := 0
	for ; w != 0; w >>= 1 {
		ones++
	}
	return netip.PrefixFrom(a.Address, 32-ones).Masked(), true
}

func u32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// hostOrPrefix prints a prefix, a /32 as a bare address.
func hostOrPrefix(p netip.Prefix) string {
	if p.Bits() == 32 {
		return p.Addr().String()
	}
	return p.String()
}
