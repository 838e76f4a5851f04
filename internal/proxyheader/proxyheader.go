// Package proxyheader reads PROXY protocol headers (v1 and v2) sent by a
// trusted gateway in front of the server, so that logs, limits, bans and
// the data-connection source check see the real client address.
//
// Headers are read byte-exactly: nothing past the header is consumed, so
// the connection itself (a *net.TCPConn) is used afterwards and keeps
// sendfile/splice. The bytes are then parsed by github.com/pires/go-proxyproto.
package proxyheader

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// DefaultTimeout bounds how long a trusted peer may take to send its header.
const DefaultTimeout = 10 * time.Second

var (
	v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
	v1sig = []byte("PROXY ")
)

// ErrNoHeader means a trusted peer sent something that is not a PROXY header.
var ErrNoHeader = errors.New("proxy header: missing or malformed")

// Trust is the set of peers whose PROXY headers are believed. Headers are
// required from them and never read from anyone else (a client cannot spoof
// its address by sending a header itself).
type Trust []netip.Prefix

// ParseTrust parses CIDRs (a bare address means just that host).
func ParseTrust(cidrs []string) (Trust, error) {
	var t Trust
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if !strings.Contains(c, "/") {
			a, err := netip.ParseAddr(c)
			if err != nil {
				return nil, fmt.Errorf("proxy-protocol-from %q: not an address or CIDR", c)
			}
			t = append(t, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("proxy-protocol-from %q: %v", c, err)
		}
		t = append(t, p.Masked())
	}
	return t, nil
}

// Contains reports whether peer is trusted.
func (t Trust) Contains(peer netip.Addr) bool {
	peer = peer.Unmap()
	for _, p := range t {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// Read reads one header from c within timeout and returns the client and
// destination addresses it carries. A LOCAL header (a health check) returns
// the connection's own addresses.
func Read(c net.Conn, timeout time.Duration) (client, dest netip.AddrPort, err error) {
	h, err := ReadHeader(c, timeout)
	return h.Client, h.Dest, err
}

// Header is what one PROXY header says: the addresses, and its v2 TLVs
// (type-length-value extensions; none for v1).
type Header struct {
	Client, Dest netip.AddrPort
	TLVs         []proxyproto.TLV
}

// TLV returns the value of the first TLV of type t, and whether there is one.
func (h Header) TLV(t proxyproto.PP2Type) ([]byte, bool) {
	for _, v := range h.TLVs {
		if v.Type == t {
			return v.Value, true
		}
	}
	return nil, false
}

// ReadHeader is Read keeping the TLVs. A TLV section that does not split
// into whole TLVs is an error.
func ReadHeader(c net.Conn, timeout time.Duration) (Header, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	raw, err := readExact(c)
	if err != nil {
		return Header{}, err
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrNoHeader, err)
	}
	tlvs, err := h.TLVs()
	if err != nil {
		return Header{}, fmt.Errorf("%w: TLVs: %v", ErrNoHeader, err)
	}
	if h.Command.IsLocal() {
		return Header{Client: addrPort(c.RemoteAddr()), Dest: addrPort(c.LocalAddr()), TLVs: tlvs}, nil
	}
	src, dst, ok := h.TCPAddrs()
	if !ok {
		return Header{}, fmt.Errorf("%w: not a TCP header", ErrNoHeader)
	}
	return Header{Client: unmap(src.AddrPort()), Dest: unmap(dst.AddrPort()), TLVs: tlvs}, nil
}

func readExact(r io.Reader) ([]byte, error) {
	head := make([]byte, 16)
	if n, err := io.ReadFull(r, head[:6]); err != nil {
		if n == 0 && err == io.EOF {
			// Closed without a byte: a health check, not an error.
			return nil, fmt.Errorf("%w: %w", ErrNoHeader, io.EOF)
		}
		return nil, fmt.Errorf("%w: %v", ErrNoHeader, err)
	}
	if bytes.Equal(head[:6], v1sig) {
		// v1: a text line of at most 107 bytes ending in CRLF.
		line := head[:6]
		var b [1]byte
		for len(line) < 107 {
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrNoHeader, err)
			}
			line = append(line, b[0])
			if b[0] == '\n' {
				return line, nil
			}
		}
		return nil, fmt.Errorf("%w: v1 line too long", ErrNoHeader)
	}
	if _, err := io.ReadFull(r, head[6:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoHeader, err)
	}
	if !bytes.Equal(head[:12], v2sig) {
		return nil, ErrNoHeader
	}
	n := int(binary.BigEndian.Uint16(head[14:16]))
	if n > 4096 {
		return nil, fmt.Errorf("%w: v2 length %d too large", ErrNoHeader, n)
	}
	all := make([]byte, 16+n)
	copy(all, head)
	if _, err := io.ReadFull(r, all[16:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoHeader, err)
	}
	return all, nil
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return unmap(t.AddrPort())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return unmap(ap)
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// DataConnHook returns a passive.Pool ClientAddr hook: connections from
// trusted peers must start with a header, which names the client; other
// connections speak for their own address.
func (t Trust) DataConnHook(timeout time.Duration) func(net.Conn) (net.Conn, netip.Addr, error) {
	return func(c net.Conn) (net.Conn, netip.Addr, error) {
		peer := addrPort(c.RemoteAddr())
		if !t.Contains(peer.Addr()) {
			return c, peer.Addr(), nil
		}
		client, _, err := Read(c, timeout)
		if err != nil {
			return nil, netip.Addr{}, fmt.Errorf("data connection from %s: %w", peer, err)
		}
		return c, client.Addr(), nil
	}
}
