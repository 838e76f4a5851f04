// Package ftpclient is a small FTP client for Rotary's own tools and tests:
// the load client of `rotary bench`, and the hand-driven control
// connections of the protocol, application and end-to-end tests. It speaks
// plain FTP and explicit FTPS to any server, and leaves data connections
// untouched so that plain transfers can be spliced.
package ftpclient

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// ReplyTimeout bounds the wait for any one control reply.
const ReplyTimeout = 60 * time.Second

// ReplyError is an unexpected FTP reply.
type ReplyError struct {
	Cmd  string // the command sent, without arguments that could be secret
	Code int
	Msg  string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("%s: server answered %d %s", e.Cmd, e.Code, e.Msg)
}

// noKeepAlive turns TCP keepalive off for the client's connections: every
// wait is bounded by a deadline instead, and a load client that shares the
// CPUs with the server under test should not spend four setsockopt(2) calls
// on each connection (login-storm makes one per login).
const noKeepAlive = -1

// ErrTLSRefused is returned by Dial and AuthTLS when the server does not take AUTH TLS.
var ErrTLSRefused = errors.New("server refused AUTH TLS")

// Dialer opens control connections to one server.
type Dialer struct {
	Addr netip.AddrPort // where the server is
	// TLS is explicit FTPS: AUTH TLS at once, then PBSZ 0 and PROT P after
	// Login. Certificates are not checked (test and benchmark servers run
	// throwaway ones).
	TLS bool
	// Local, when valid, is the address connections leave from (tests use
	// several loopback addresses as several clients).
	Local netip.Addr
	// ImplicitTLS is implicit FTPS (port 990 style): TLS from the first
	// byte, then PBSZ 0 and PROT P after Login, as with TLS.
	ImplicitTLS bool
	// Timeout bounds the connect and, on the Conn, each reply (Conn.Timeout);
	// 0 means ReplyTimeout.
	Timeout time.Duration
}

// Conn is one control connection. It is used by one goroutine at a time.
type Conn struct {
	conn net.Conn // the control connection (a *tls.Conn after AUTH TLS)
	r    *textproto.Reader
	host netip.Addr // data connections go here, whatever a 227 reply says
	// tlsConf wraps data connections when PROT P is on; nil for clear data.
	tlsConf *tls.Config
	wbuf    []byte
	// Timeout bounds the wait for each reply and each data connection
	// handshake; 0 means ReplyTimeout.
	Timeout time.Duration
}

func (c *Conn) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return ReplyTimeout
}

// Dial connects and reads the greeting; with d.TLS it also does AUTH TLS.
func (d *Dialer) Dial(ctx context.Context) (*Conn, error) {
	nd := net.Dialer{KeepAlive: noKeepAlive, Timeout: d.Timeout}
	if d.Local.IsValid() {
		nd.LocalAddr = &net.TCPAddr{IP: d.Local.AsSlice()}
	}
	conn, err := nd.DialContext(ctx, "tcp", d.Addr.String())
	if err != nil {
		return nil, err
	}
	var conf *tls.Config
	if d.ImplicitTLS {
		conf = InsecureTLS(d.Addr.Addr().Unmap())
		tc := tls.Client(conn, conf)
		hctx, cancel := context.WithTimeout(ctx, cmp.Or(d.Timeout, ReplyTimeout))
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("implicit TLS handshake: %w", err)
		}
		conn = tc
	}
	c := NewConn(conn)
	c.Timeout, c.tlsConf = d.Timeout, conf
	if _, _, err := c.Expect("greeting", 2); err != nil {
		conn.Close()
		return nil, err
	}
	if d.TLS {
		if err := c.AuthTLS(ctx, nil); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return c, nil
}

// NewConn runs the client on conn, whose greeting is still to be read.
// Data connections go to conn's remote address, whatever a 227 names.
func NewConn(conn net.Conn) *Conn {
	c := &Conn{wbuf: make([]byte, 0, 128)}
	c.Reset(conn)
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		c.host = ap.Addr().Unmap()
	}
	return c
}

// Reset makes conn the control connection from here on: a TLS connection
// over the old one, or the TCP connection again after CCC.
func (c *Conn) Reset(conn net.Conn) {
	c.conn = conn
	c.r = textproto.NewReader(bufio.NewReaderSize(conn, 1024))
}

// DataTLS is the TLS configuration of data connections under PROT P (nil:
// clear data); SetDataTLS replaces it, e.g. with one that cannot resume
// the control connection's session.
func (c *Conn) DataTLS() *tls.Config        { return c.tlsConf }
func (c *Conn) SetDataTLS(conf *tls.Config) { c.tlsConf = conf }

// Net is the control connection (a *tls.Conn after AUTH TLS).
func (c *Conn) Net() net.Conn { return c.conn }

// Host is the address data connections go to.
func (c *Conn) Host() netip.Addr { return c.host }

// InsecureTLS is Dialer.TLS's client configuration for a server at host: no
// certificate check, and a session cache with a server name, so that data
// connections resume the control connection's TLS session, which several
// servers require.
func InsecureTLS(host netip.Addr) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         host.String(),
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
}

// AuthTLS upgrades the control connection (RFC 4217 section 4) with conf
// (nil: InsecureTLS). Data connections are TLS too after Login's PROT P.
func (c *Conn) AuthTLS(ctx context.Context, conf *tls.Config) error {
	code, msg, err := c.Cmd("AUTH TLS")
	if err != nil {
		return err
	}
	if code != 234 {
		return fmt.Errorf("%w (%d %s)", ErrTLSRefused, code, msg)
	}
	if conf == nil {
		conf = InsecureTLS(c.host)
	}
	tc := tls.Client(c.conn, conf)
	hctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("TLS handshake on the control connection: %w", err)
	}
	c.Reset(tc)
	c.tlsConf = conf
	return nil
}

// Login sends USER and PASS (and PBSZ/PROT after AUTH TLS).
func (c *Conn) Login(user, password string) error {
	code, msg, err := c.Cmd("USER " + user)
	if err != nil {
		return err
	}
	if code == 331 || code == 332 {
		code, msg, err = c.Send("PASS", "PASS "+password)
		if err != nil {
			return err
		}
	}
	if code != 230 {
		return &ReplyError{Cmd: "login as " + user, Code: code, Msg: msg}
	}
	if c.tlsConf != nil {
		if _, _, err := c.Must("PBSZ 0", 2); err != nil {
			return err
		}
		if _, _, err := c.Must("PROT P", 2); err != nil {
			return err
		}
	}
	return nil
}

// Close sends QUIT without waiting for the answer and closes.
func (c *Conn) Close() {
	c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.conn.Write([]byte("QUIT\r\n"))
	c.conn.Close()
}

// Cmd sends line and reads the reply.
func (c *Conn) Cmd(line string) (int, string, error) { return c.Send(verbOf(line), line) }

// Send writes line and reads the reply; name is what errors call the command
// (PASS is never shown with its argument).
func (c *Conn) Send(name, line string) (int, string, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout()))
	c.wbuf = append(append(c.wbuf[:0], line...), '\r', '\n')
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return 0, "", fmt.Errorf("send %s: %w", name, err)
	}
	return c.Read(name)
}

// WriteLine sends line without reading a reply (pipelining, ABOR during
// a transfer).
func (c *Conn) WriteLine(line string) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout()))
	c.wbuf = append(append(c.wbuf[:0], line...), '\r', '\n')
	_, err := c.conn.Write(c.wbuf)
	return err
}

// ReadLine reads one raw line of the control connection, without its
// CRLF (for tests of a reply's exact format).
func (c *Conn) ReadLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout()))
	return c.r.ReadLine()
}

// Read reads one reply. textproto handles both RFC 959 multi-line forms.
func (c *Conn) Read(name string) (int, string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout()))
	code, msg, err := c.r.ReadResponse(0)
	if err != nil {
		return 0, "", fmt.Errorf("reply to %s: %w", name, err)
	}
	return code, msg, nil
}

// Expect reads a reply and checks its first digit.
func (c *Conn) Expect(name string, class int) (int, string, error) {
	code, msg, err := c.Read(name)
	if err != nil {
		return 0, "", err
	}
	if code/100 != class {
		return code, msg, &ReplyError{Cmd: name, Code: code, Msg: msg}
	}
	return code, msg, nil
}

// Must sends line and checks the reply's first digit.
func (c *Conn) Must(line string, class int) (int, string, error) {
	code, msg, err := c.Cmd(line)
	if err != nil {
		return 0, "", err
	}
	if code/100 != class {
		return code, msg, &ReplyError{Cmd: line, Code: code, Msg: msg}
	}
	return code, msg, nil
}

func verbOf(line string) string {
	if len(line) > 64 {
		line = line[:64] + "..."
	}
	return line
}

// ParsePASVAddr is ParsePASV with the address the reply names.
func ParsePASVAddr(msg string) (netip.AddrPort, error) {
	i := strings.IndexAny(msg, "0123456789")
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("227 reply without an address: %q", msg)
	}
	s := msg[i:]
	if j := strings.IndexFunc(s, func(r rune) bool { return r != ',' && (r < '0' || r > '9') }); j >= 0 {
		s = s[:j]
	}
	f := strings.Split(s, ",")
	if len(f) != 6 {
		return netip.AddrPort{}, fmt.Errorf("227 reply without h1,h2,h3,h4,p1,p2: %q", msg)
	}
	var n [6]int
	for k, x := range f {
		v, err := strconv.Atoi(x)
		if err != nil || v < 0 || v > 255 {
			return netip.AddrPort{}, fmt.Errorf("227 reply with a bad number %q: %q", x, msg)
		}
		n[k] = v
	}
	port := n[4]<<8 | n[5]
	if port == 0 {
		return netip.AddrPort{}, fmt.Errorf("227 reply with port 0: %q", msg)
	}
	a := netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// ParseEPSV finds the port in a 229 reply, "(|||port|)" (RFC 2428 section
// 3: the delimiter may be any character from 33 to 126).
func ParseEPSV(msg string) (int, error) {
	i := strings.Index(msg, "(")
	j := strings.LastIndex(msg, ")")
	if i < 0 || j < i+5 {
		return 0, fmt.Errorf("229 reply without (|||port|): %q", msg)
	}
	f := msg[i+1 : j]
	d := f[0]
	if len(f) < 5 || f[1] != d || f[2] != d || f[len(f)-1] != d {
		return 0, fmt.Errorf("229 reply without (|||port|): %q", msg)
	}
	port, err := strconv.Atoi(f[3 : len(f)-1])
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("229 reply with a bad port: %q", msg)
	}
	return port, nil
}

// ParsePASV finds the port in a 227 reply. RFC 1123 4.1.2.6: the numbers
// may or may not be in parentheses, so scan for the first digit.
func ParsePASV(msg string) (int, error) {
	ap, err := ParsePASVAddr(msg)
	if err != nil {
		return 0, err
	}
	return int(ap.Port()), nil
}

// Data is one data connection set up by PASV and a transfer command.
type Data struct {
	conn net.Conn // the TCP connection, or the *tls.Conn over it
	tcp  net.Conn
	hs   chan error // the TLS handshake's result; nil for clear data
}

// Open sends PASV, connects to the announced port on the control
// connection's address, sends line (RETR, STOR, MLSD, ...) and waits for the
// 1xx reply. The data connection is not touched otherwise, so plain RETR data
// can be spliced.
func (c *Conn) Open(ctx context.Context, line string) (*Data, error) {
	tcp, err := c.Passive(ctx)
	if err != nil {
		return nil, err
	}
	return c.Transfer(tcp, line)
}

// Passive sends PASV and connects to the announced port on the control
// connection's address. The transfer command is the caller's (Transfer).
func (c *Conn) Passive(ctx context.Context) (net.Conn, error) {
	code, msg, err := c.Cmd("PASV")
	if err != nil {
		return nil, err
	}
	if code != 227 {
		return nil, &ReplyError{Cmd: "PASV", Code: code, Msg: msg}
	}
	port, err := ParsePASV(msg)
	if err != nil {
		return nil, err
	}
	nd := net.Dialer{KeepAlive: noKeepAlive}
	dctx, cancel := context.WithTimeout(ctx, ReplyTimeout)
	tcp, err := nd.DialContext(dctx, "tcp", netip.AddrPortFrom(c.host, uint16(port)).String())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("data connection: %w", err)
	}
	return tcp, nil
}

// Transfer sends line (RETR, STOR, LIST, ...) for tcp, a data connection
// from Passive, and waits for the 1xx reply; under PROT P the data
// connection's TLS handshake runs meanwhile.
func (c *Conn) Transfer(tcp net.Conn, line string) (*Data, error) {
	d := &Data{conn: tcp, tcp: tcp}
	if c.tlsConf != nil {
		// Servers differ on whether they answer 150 before or after the
		// TLS handshake on the data connection, so handshake concurrently.
		tc := tls.Client(tcp, c.tlsConf)
		d.conn = tc
		d.hs = make(chan error, 1)
		tcp.SetDeadline(time.Now().Add(c.timeout()))
		go func() { d.hs <- tc.Handshake() }()
	}
	code, msg, err := c.Cmd(line)
	if err == nil && code/100 != 1 {
		err = &ReplyError{Cmd: verbOf(line), Code: code, Msg: msg}
	}
	if err == nil && d.hs != nil {
		if herr := <-d.hs; herr != nil {
			err = fmt.Errorf("TLS handshake on the data connection: %w", herr)
		}
		d.hs = nil
		tcp.SetDeadline(time.Time{})
	}
	if err != nil {
		tcp.Close()
		if d.hs != nil {
			<-d.hs
		}
		return nil, err
	}
	return d, nil
}

// Progress is told the bytes of a transfer as they move.
type Progress interface{ Add(n int64) }

type noProgress struct{}

func (noProgress) Add(int64) {}

// NewData treats conn as a plain data connection (a raw sink, no FTP).
func NewData(conn net.Conn) *Data { return &Data{conn: conn, tcp: conn} }

// Hold drops the Conn's buffers and keeps only its connection, for a load
// client that holds thousands of idle sessions: after it, only Net and
// Close may be used.
func (c *Conn) Hold() {
	c.r, c.wbuf = nil, nil
}

// Conn is the data connection (a *tls.Conn under PROT P); TCP is the TCP
// connection under it.
func (d *Data) Conn() net.Conn { return d.conn }
func (d *Data) TCP() net.Conn  { return d.tcp }

// Finish reads the transfer's final reply.
func (c *Conn) Finish(name string) error {
	_, _, err := c.Expect(name, 2)
	return err
}

// Drain reads the data connection to its end. Clear data goes to sink when
// there is one (an *os.File for /dev/null: the kernel splices it without a
// copy to user space); otherwise, and for TLS, data is read into buf and
// dropped. prog (may be nil) counts bytes as they come.
func (d *Data) Drain(sink *os.File, buf []byte, prog Progress) (int64, error) {
	if prog == nil {
		prog = noProgress{}
	}
	var n int64
	if sink != nil && d.conn == d.tcp {
		// io.CopyN keeps the splice (os.File.ReadFrom sees through its
		// LimitedReader) and lets progress move between chunks.
		for {
			k, err := io.CopyN(sink, d.tcp, 64<<20)
			n += k
			prog.Add(k)
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
		}
	}
	for {
		k, err := d.conn.Read(buf)
		n += int64(k)
		prog.Add(int64(k))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Fill writes size bytes from buf, repeated, and closes the connection.
func (d *Data) Fill(size int64, buf []byte, prog Progress) (int64, error) {
	if prog == nil {
		prog = noProgress{}
	}
	var n int64
	for n < size {
		b := buf
		if rest := size - n; rest < int64(len(b)) {
			b = b[:rest]
		}
		k, err := d.conn.Write(b)
		n += int64(k)
		prog.Add(int64(k))
		if err != nil {
			d.conn.Close()
			return n, err
		}
	}
	return n, d.CloseWrite()
}

// CloseWrite ends an upload. Over TLS it sends close_notify and waits for
// the server's own close (RFC 4217 12.6: the receiver of the file must see
// a proper TLS closure to know the file is complete) before closing.
func (d *Data) CloseWrite() error {
	tc, ok := d.conn.(*tls.Conn)
	if !ok {
		return d.conn.Close()
	}
	err := tc.CloseWrite()
	if err == nil {
		d.tcp.SetReadDeadline(time.Now().Add(ReplyTimeout))
		var buf [512]byte
		for {
			if _, rerr := tc.Read(buf[:]); rerr != nil {
				break
			}
		}
	}
	if cerr := d.tcp.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the data connection.
func (d *Data) Close() { d.conn.Close() }
