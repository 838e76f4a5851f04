package ftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rotary-ftp/rotary/internal/passive"
)

// parsePORT parses RFC 959 "h1,h2,h3,h4,p1,p2".
func parsePORT(arg string) (netip.AddrPort, error) {
	parts := strings.Split(strings.TrimSpace(arg), ",")
	if len(parts) != 6 {
		return netip.AddrPort{}, errors.New("want h1,h2,h3,h4,p1,p2")
	}
	var b [6]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("field %d (%q) is not a number from 0 to 255", i+1, p)
		}
		b[i] = byte(n)
	}
	ip := netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	return netip.AddrPortFrom(ip, uint16(b[4])<<8|uint16(b[5])), nil
}

// errEPRTProto marks an EPRT network protocol we do not speak (RFC 2428: 522).
var errEPRTProto = errors.New("network protocol not supported")

// parseEPRT parses RFC 2428 "|1|132.235.1.2|6275|" (any delimiter 33-126).
func parseEPRT(arg string) (netip.AddrPort, error) {
	if len(arg) < 7 || arg[0] < 33 || arg[0] > 126 {
		return netip.AddrPort{}, errors.New("want |proto|address|port|")
	}
	d := string(arg[0])
	f := strings.Split(arg, d)
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return netip.AddrPort{}, errors.New("want |proto|address|port|")
	}
	if f[1] != "1" && f[1] != "2" {
		return netip.AddrPort{}, errEPRTProto
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", f[2])
	}
	switch f[1] {
	case "1":
		if !ip.Is4() {
			return netip.AddrPort{}, fmt.Errorf("address %q is not IPv4", f[2])
		}
	case "2":
		if !ip.Is6() || ip.Is4In6() {
			return netip.AddrPort{}, fmt.Errorf("address %q is not IPv6", f[2])
		}
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", f[3])
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// setActive checks a PORT/EPRT target. RFC 2577 section 3 (bounce attack):
// the server must not connect to a third party, and connecting to
// privileged ports is refused.
func (s *session) setActive(target netip.AddrPort) {
	if s.epsvAll {
		s.reply(503, "EPSV ALL in effect: only EPSV may set up data connections")
		return
	}
	if target.Addr().Unmap() != s.info.Client.Addr() {
		s.log.Warn("active mode to third-party address refused", "target", target.String())
		s.reply(500, "Illegal PORT command: address must be your own")
		return
	}
	if target.Port() < 1024 {
		s.log.Warn("active mode to privileged port refused", "target", target.String())
		s.reply(504, "Illegal PORT command: port below 1024")
		return
	}
	s.releaseData()
	s.port = net.TCPAddrFromAddrPort(target)
	s.reply(200, "PORT command successful. Consider using PASV.")
}

func (s *session) handlePORT(arg string) {
	target, err := parsePORT(arg)
	if err != nil {
		s.protocolError(501, "Syntax error in PORT: "+err.Error())
		return
	}
	if !s.info.Client.Addr().Is4() {
		s.reply(522, "PORT is IPv4 only; use EPRT (2)")
		return
	}
	s.setActive(target)
}

func (s *session) handleEPRT(arg string) {
	target, err := parseEPRT(arg)
	if errors.Is(err, errEPRTProto) {
		s.reply(522, "Network protocol not supported, use (1,2)")
		return
	}
	if err != nil {
		s.protocolError(501, "Syntax error in EPRT: "+err.Error())
		return
	}
	s.setActive(target)
}

// reservePassive releases any previous passive port and reserves a new one.
func (s *session) reservePassive() (*passive.Reservation, bool) {
	s.releaseData()
	pool := s.srv.settings().pool
	if pool == nil {
		s.reply(425, "Passive mode is disabled on this server")
		return nil, false
	}
	var res *passive.Reservation
	var err error
	if s.coord != nil {
		// Coordinated mode: this session's ports come from the slice the gateway gave it.
		res, err = pool.ReserveIn(s.info.Local.Addr(), s.info.Client.Addr(), passive.Range{Lo: int(s.coord.Lo), Hi: int(s.coord.Hi)})
	} else {
		res, err = pool.Reserve(s.info.Local.Addr(), s.info.Client.Addr())
	}
	if err != nil {
		s.log.Warn("passive port reservation failed", "err", err)
		if errors.Is(err, passive.ErrExhausted) {
			s.reply(425, "Can't open passive connection: all passive ports are busy, try again later")
		} else {
			s.reply(425, "Can't open passive connection")
		}
		return nil, false
	}
	s.pasv = res
	if s.protP {
		s.early = s.startEarlyTLS(res)
	}
	return res, true
}

// passiveAddress is the address the client is told to connect to.
func (s *session) passiveAddress() netip.Addr {
	if s.coord != nil && s.coord.Public.IsValid() {
		return s.coord.Public
	}
	if pa := s.srv.settings().passiveAddress; pa != nil {
		if a := pa(s.info.Client.Addr(), s.info.Dest.Addr()); a.IsValid() {
			return a.Unmap()
		}
	}
	return s.info.Dest.Addr()
}

// passivePort is the port the client is told to connect to for res.
func (s *session) passivePort(res *passive.Reservation) int {
	if pp := s.srv.settings().passivePort; pp != nil {
		if p := pp(s.info.Client.Addr(), res.Port()); p > 0 && p <= 65535 {
			return p
		}
	}
	return res.Port()
}

func (s *session) handlePASV(arg string) {
	if s.epsvAll {
		s.reply(503, "EPSV ALL in effect: only EPSV may set up data connections")
		return
	}
	announce := s.passiveAddress()
	if !announce.Is4() || !s.info.Local.Addr().Is4() {
		// A 227 reply can only carry IPv4.
		s.reply(425, "PASV needs IPv4; use EPSV")
		return
	}
	res, ok := s.reservePassive()
	if !ok {
		return
	}
	a := announce.As4()
	p := s.passivePort(res)
	s.reply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], p>>8, p&0xff))
}

func (s *session) handleEPSV(arg string) {
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "ALL":
		// RFC 2428 section 3: after EPSV ALL, refuse every other data
		// connection setup command.
		s.releaseData()
		s.epsvAll = true
		s.reply(200, "EPSV ALL ok")
		return
	case "":
	case "1":
		if !s.info.Local.Addr().Is4() {
			s.reply(522, "Network protocol not supported, use (2)")
			return
		}
	case "2":
		if !s.info.Local.Addr().Is6() {
			s.reply(522, "Network protocol not supported, use (1)")
			return
		}
	default:
		s.reply(522, "Network protocol not supported, use (1,2)")
		return
	}
	res, ok := s.reservePassive()
	if !ok {
		return
	}
	s.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", s.passivePort(res)))
}

// openData returns the data connection for a transfer: it accepts on the
// passive reservation or connects to the PORT/EPRT target. Under PROT P the
// connection is wrapped in TLS (tls.go), a passive one since it arrived
// (early); otherwise it is the *net.TCPConn
// itself, so transfers keep sendfile and splice.
func (s *session) openData(ctx context.Context, res *passive.Reservation, early *earlyTLS, target *net.TCPAddr) (net.Conn, error) {
	if early != nil {
		return early.take(ctx) // TLS already under way
	}
	c, err := s.dialData(ctx, res, target)
	if err != nil || !s.protP {
		return c, err
	}
	return s.secureData(ctx, c), nil
}

func (s *session) dialData(ctx context.Context, res *passive.Reservation, target *net.TCPAddr) (net.Conn, error) {
	if res != nil {
		return res.Accept(ctx)
	}
	d := net.Dialer{
		Timeout:   s.srv.settings().connect,
		LocalAddr: &net.TCPAddr{IP: net.IP(s.info.Local.Addr().AsSlice())},
	}
	return d.DialContext(ctx, "tcp", target.String())
}

func (s *session) handleTYPE(arg string) {
	switch strings.ToUpper(strings.Join(strings.Fields(arg), " ")) {
	case "A", "A N":
		s.asciiMode = true
		s.reply(200, "Switching to ASCII mode")
	case "I", "L 8", "L8":
		s.asciiMode = false
		s.reply(200, "Switching to Binary mode")
	default:
		s.reply(504, "TYPE not implemented for that parameter")
	}
}

func (s *session) handleSTRU(arg string) {
	if strings.EqualFold(strings.TrimSpace(arg), "F") {
		s.reply(200, "Structure set to F")
		return
	}
	s.reply(504, "Only file structure (STRU F) is supported")
}

func (s *session) handleMODE(arg string) {
	if strings.EqualFold(strings.TrimSpace(arg), "S") {
		s.reply(200, "Mode set to S")
		return
	}
	s.reply(504, "Only stream mode (MODE S) is supported")
}

func (s *session) handleREST(arg string) {
	n, err := parseREST(arg)
	if err != nil {
		s.reply(501, "REST needs a non-negative byte offset")
		return
	}
	s.restOffset = n
	s.reply(350, fmt.Sprintf("Restarting at %d. Send STOR, APPE or RETR", n))
}

func (s *session) handleALLO(arg string) {
	s.reply(202, "ALLO not needed")
}

// parseREST parses REST's argument, a byte offset (RFC 3659 section 5: a
// decimal marker in stream mode).
func parseREST(arg string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("offset %d is negative", n)
	}
	return n, nil
}
