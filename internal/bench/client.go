package bench

import (
	"bufio"
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

// replyTimeout bounds the wait for any one control reply.
const replyTimeout = 60 * time.Second

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

// errTLSRefused is returned by dial when the server does not take AUTH TLS.
var errTLSRefused = errors.New("server refused AUTH TLS")

// dialer opens control connections to one server.
type dialer struct {
	addr     netip.AddrPort // where the server is (already checked for loopback)
	user     string
	password string
	tls      bool // explicit FTPS: AUTH TLS, then PBSZ 0 and PROT P after login
}

// ctrl is one control connection. It is used by one goroutine at a time.
type ctrl struct {
	conn net.Conn // the control connection (a *tls.Conn after AUTH TLS)
	r    *textproto.Reader
	host netip.Addr // data connections go here, whatever a 227 reply says
	// tlsConf wraps data connections when PROT P is on; nil for clear data.
	tlsConf *tls.Config
	wbuf    []byte
}

// dial connects and reads the greeting; with d.tls it also does AUTH TLS.
func (d *dialer) dial(ctx context.Context) (*ctrl, error) {
	nd := net.Dialer{KeepAlive: noKeepAlive}
	conn, err := nd.DialContext(ctx, "tcp", d.addr.String())
	if err != nil {
		return nil, err
	}
	c := &ctrl{conn: conn, host: d.addr.Addr(), wbuf: make([]byte, 0, 128)}
	c.r = textproto.NewReader(bufio.NewReaderSize(conn, 1024))
	if _, _, err := c.expect("greeting", 2); err != nil {
		conn.Close()
		return nil, err
	}
	if d.tls {
		if err := c.authTLS(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return c, nil
}

// authTLS upgrades the control connection (RFC 4217 section 4).
func (c *ctrl) authTLS(ctx context.Context) error {
	code, msg, err := c.cmd("AUTH TLS")
	if err != nil {
		return err
	}
	if code != 234 {
		return fmt.Errorf("%w (%d %s)", errTLSRefused, code, msg)
	}
	conf := &tls.Config{
		// Benchmarks run against throwaway self-signed certificates.
		InsecureSkipVerify: true,
		// A server name makes the data connections resume the control
		// connection's TLS session, which several servers require.
		ServerName:         c.host.String(),
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	tc := tls.Client(c.conn, conf)
	hctx, cancel := context.WithTimeout(ctx, replyTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("TLS handshake on the control connection: %w", err)
	}
	c.conn = tc
	c.r = textproto.NewReader(bufio.NewReaderSize(tc, 1024))
	c.tlsConf = conf
	return nil
}

// login sends USER and PASS (and PBSZ/PROT after AUTH TLS).
func (c *ctrl) login(user, password string) error {
	code, msg, err := c.cmd("USER " + user)
	if err != nil {
		return err
	}
	if code == 331 || code == 332 {
		code, msg, err = c.send("PASS", "PASS "+password)
		if err != nil {
			return err
		}
	}
	if code != 230 {
		return &ReplyError{Cmd: "login as " + user, Code: code, Msg: msg}
	}
	if c.tlsConf != nil {
		if _, _, err := c.must("PBSZ 0", 2); err != nil {
			return err
		}
		if _, _, err := c.must("PROT P", 2); err != nil {
			return err
		}
	}
	return nil
}

// close sends QUIT without waiting for the answer and closes.
func (c *ctrl) close() {
	c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.conn.Write([]byte("QUIT\r\n"))
	c.conn.Close()
}

// cmd sends line and reads the reply.
func (c *ctrl) cmd(line string) (int, string, error) { return c.send(verbOf(line), line) }

// send writes line and reads the reply; name is what errors call the command
// (PASS is never shown with its argument).
func (c *ctrl) send(name, line string) (int, string, error) {
	c.conn.SetDeadline(time.Now().Add(replyTimeout))
	c.wbuf = append(append(c.wbuf[:0], line...), '\r', '\n')
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return 0, "", fmt.Errorf("send %s: %w", name, err)
	}
	return c.read(name)
}

// read reads one reply. textproto handles both RFC 959 multi-line forms.
func (c *ctrl) read(name string) (int, string, error) {
	c.conn.SetReadDeadline(time.Now().Add(replyTimeout))
	code, msg, err := c.r.ReadResponse(0)
	if err != nil {
		return 0, "", fmt.Errorf("reply to %s: %w", name, err)
	}
	return code, msg, nil
}

// expect reads a reply and checks its first digit.
func (c *ctrl) expect(name string, class int) (int, string, error) {
	code, msg, err := c.read(name)
	if err != nil {
		return 0, "", err
	}
	if code/100 != class {
		return code, msg, &ReplyError{Cmd: name, Code: code, Msg: msg}
	}
	return code, msg, nil
}

// must sends line and checks the reply's first digit.
func (c *ctrl) must(line string, class int) (int, string, error) {
	code, msg, err := c.cmd(line)
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

// parsePASV finds the port in a 227 reply. RFC 1123 4.1.2.6: the numbers
// may or may not be in parentheses, so scan for the first digit.
func parsePASV(msg string) (int, error) {
	i := strings.IndexAny(msg, "0123456789")
	if i < 0 {
		return 0, fmt.Errorf("227 reply without an address: %q", msg)
	}
	s := msg[i:]
	if j := strings.IndexFunc(s, func(r rune) bool { return r != ',' && (r < '0' || r > '9') }); j >= 0 {
		s = s[:j]
	}
	f := strings.Split(s, ",")
	if len(f) != 6 {
		return 0, fmt.Errorf("227 reply without h1,h2,h3,h4,p1,p2: %q", msg)
	}
	var n [6]int
	for k, x := range f {
		v, err := strconv.Atoi(x)
		if err != nil || v < 0 || v > 255 {
			return 0, fmt.Errorf("227 reply with a bad number %q: %q", x, msg)
		}
		n[k] = v
	}
	port := n[4]<<8 | n[5]
	if port == 0 {
		return 0, fmt.Errorf("227 reply with port 0: %q", msg)
	}
	return port, nil
}

// data is one data connection set up by PASV and a transfer command.
type data struct {
	conn net.Conn // the TCP connection, or the *tls.Conn over it
	tcp  net.Conn
	hs   chan error // the TLS handshake's result; nil for clear data
}

// open sends PASV, connects to the announced port on the control
// connection's address, sends line (RETR, STOR, MLSD, ...) and waits for the
// 1xx reply. The data connection is not touched otherwise, so plain RETR data
// can be spliced.
func (c *ctrl) open(ctx context.Context, line string) (*data, error) {
	code, msg, err := c.cmd("PASV")
	if err != nil {
		return nil, err
	}
	if code != 227 {
		return nil, &ReplyError{Cmd: "PASV", Code: code, Msg: msg}
	}
	port, err := parsePASV(msg)
	if err != nil {
		return nil, err
	}
	nd := net.Dialer{KeepAlive: noKeepAlive}
	dctx, cancel := context.WithTimeout(ctx, replyTimeout)
	tcp, err := nd.DialContext(dctx, "tcp", netip.AddrPortFrom(c.host, uint16(port)).String())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("data connection: %w", err)
	}
	d := &data{conn: tcp, tcp: tcp}
	if c.tlsConf != nil {
		// Servers differ on whether they answer 150 before or after the
		// TLS handshake on the data connection, so handshake concurrently.
		tc := tls.Client(tcp, c.tlsConf)
		d.conn = tc
		d.hs = make(chan error, 1)
		tcp.SetDeadline(time.Now().Add(replyTimeout))
		go func() { d.hs <- tc.Handshake() }()
	}
	code, msg, err = c.cmd(line)
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

// finish reads the transfer's final reply.
func (c *ctrl) finish(name string) error {
	_, _, err := c.expect(name, 2)
	return err
}

// drain reads the data connection to its end. Clear data goes to sink when
// there is one (an *os.File for /dev/null: the kernel splices it without a
// copy to user space); otherwise, and for TLS, data is read into buf and
// dropped. prog (may be nil) counts bytes as they come.
func (d *data) drain(sink *os.File, buf []byte, prog *progress) (int64, error) {
	var n int64
	if sink != nil && d.conn == d.tcp {
		// io.CopyN keeps the splice (os.File.ReadFrom sees through its
		// LimitedReader) and lets progress move between chunks.
		for {
			k, err := io.CopyN(sink, d.tcp, 64<<20)
			n += k
			prog.add(k)
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
		prog.add(int64(k))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// fill writes size bytes from buf, repeated, and closes the connection.
func (d *data) fill(size int64, buf []byte, prog *progress) (int64, error) {
	var n int64
	for n < size {
		b := buf
		if rest := size - n; rest < int64(len(b)) {
			b = b[:rest]
		}
		k, err := d.conn.Write(b)
		n += int64(k)
		prog.add(int64(k))
		if err != nil {
			d.conn.Close()
			return n, err
		}
	}
	return n, d.closeWrite()
}

// closeWrite ends an upload. Over TLS it sends close_notify and waits for
// the server's own close (RFC 4217 12.6: the receiver of the file must see
// a proper TLS closure to know the file is complete) before closing.
func (d *data) closeWrite() error {
	tc, ok := d.conn.(*tls.Conn)
	if !ok {
		return d.conn.Close()
	}
	err := tc.CloseWrite()
	if err == nil {
		d.tcp.SetReadDeadline(time.Now().Add(replyTimeout))
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

// close closes the data connection.
func (d *data) close() { d.conn.Close() }
