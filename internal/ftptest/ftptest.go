// Package ftptest drives FTP control connections by hand in tests, over
// the one client Rotary has (internal/ftpclient): every call fails the test
// on an I/O error and returns the reply for the test to check.
package ftptest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftpclient"
)

// Deadline bounds each test connection's whole life, so that a server
// that stops answering fails the test instead of hanging it.
const Deadline = 20 * time.Second

// Conn is a control connection of a test.
type Conn struct {
	t testing.TB
	*ftpclient.Conn
}

// Dial connects to addr and reads the 220 greeting.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	return DialFrom(t, addr, nil)
}

// DialFrom is Dial from the local address local (nil: any), one of the
// loopback addresses that stand for several clients.
func DialFrom(t testing.TB, addr string, local net.Addr) *Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := Wrap(t, c)
	r.Expect(220)
	return r
}

// Wrap drives c, whose greeting (if any) is still unread. It is closed when
// the test ends.
func Wrap(t testing.TB, c net.Conn) *Conn {
	c.SetDeadline(time.Now().Add(Deadline))
	t.Cleanup(func() { c.Close() })
	return &Conn{t: t, Conn: ftpclient.NewConn(c)}
}

// Cmd sends a line and returns the reply's code and text.
func (r *Conn) Cmd(format string, args ...any) (int, string) {
	r.t.Helper()
	line := fmt.Sprintf(format, args...)
	if err := r.Conn.WriteLine(line); err != nil {
		r.t.Fatalf("send %q: %v", line, err)
	}
	return r.Read()
}

// Send writes a line without reading a reply.
func (r *Conn) Send(format string, args ...any) {
	r.t.Helper()
	if err := r.Conn.WriteLine(fmt.Sprintf(format, args...)); err != nil {
		r.t.Fatalf("send: %v", err)
	}
}

// Read reads one reply. A reply that is not FTP at all fails the test.
func (r *Conn) Read() (int, string) {
	r.t.Helper()
	code, msg, err := r.Conn.Read("reply")
	if err != nil && code == 0 {
		r.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

// ReadLine reads one raw line.
func (r *Conn) ReadLine() string {
	r.t.Helper()
	line, err := r.Conn.ReadLine()
	if err != nil {
		r.t.Fatalf("read line: %v", err)
	}
	return line
}

// Expect reads a reply and fails the test unless its code is want.
func (r *Conn) Expect(want int) string {
	r.t.Helper()
	code, msg := r.Read()
	if code != want {
		r.t.Fatalf("got %d %q, want %d", code, msg, want)
	}
	return msg
}

// Must sends a line and fails the test unless the reply's code is want.
func (r *Conn) Must(want int, format string, args ...any) string {
	r.t.Helper()
	code, msg := r.Cmd(format, args...)
	if code != want {
		r.t.Fatalf("%s: got %d %q, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
	return msg
}

// Login sends USER and PASS and expects 230.
func (r *Conn) Login(user, pass string) {
	r.t.Helper()
	r.Must(331, "USER %s", user)
	r.Must(230, "PASS %s", pass)
}

// EPSV sends EPSV and connects to the announced port, on the address the
// control connection reached.
func (r *Conn) EPSV() net.Conn {
	r.t.Helper()
	msg := r.Must(229, "EPSV")
	var port int
	i := strings.Index(msg, "(|||")
	if i < 0 {
		r.t.Fatalf("229 without (|||port|): %q", msg)
	}
	if _, err := fmt.Sscanf(msg[i:], "(|||%d|)", &port); err != nil {
		r.t.Fatalf("parse %q: %v", msg, err)
	}
	return r.dialData(port)
}

// PASV sends PASV and connects to the announced port, on the address the
// control connection reached (whatever address the 227 names).
func (r *Conn) PASV() net.Conn {
	r.t.Helper()
	msg := r.Must(227, "PASV")
	port, err := ftpclient.ParsePASV(msg)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.dialData(port)
}

func (r *Conn) dialData(port int) net.Conn {
	r.t.Helper()
	d, err := net.DialTimeout("tcp", netip.AddrPortFrom(r.Host(), uint16(port)).String(), 5*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	d.SetDeadline(time.Now().Add(Deadline + 10*time.Second))
	r.t.Cleanup(func() { d.Close() })
	return d
}

// AuthTLS sends AUTH TLS, runs the handshake with conf and goes on over
// TLS; it returns the TLS connection.
func (r *Conn) AuthTLS(conf *tls.Config) *tls.Conn {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	if err := r.Conn.AuthTLS(ctx, conf); err != nil {
		r.t.Fatalf("AUTH TLS: %v", err)
	}
	return r.Net().(*tls.Conn)
}
