package ftp_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/storage"
	"github.com/rotary-ftp/rotary/internal/storage/local"
	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

// testBackend is an in-test Backend: users with passwords over one folder.
type testBackend struct {
	root  string
	users map[string]string   // name -> password
	perms map[string]ftp.Perm // name -> permissions (default all)
	anon  bool
	panic atomic.Bool // make Login panic, to test recovery
	// wrap, when set, wraps each session's driver (to inject failures).
	wrap func(storage.Driver) storage.Driver
	// wrapAcct, when set, adjusts each account (rates).
	wrapAcct func(*ftp.Account)
}

func (b *testBackend) Login(ctx context.Context, c ftp.ConnInfo, user, pass string) (*ftp.Account, error) {
	if b.panic.Load() {
		panic("test panic in Login")
	}
	perm := ftp.PermAll
	anonymous := false
	switch {
	case b.anon && (user == "anonymous" || user == "ftp"):
		perm, anonymous = ftp.PermReadOnly, true
	case b.users[user] != "" && b.users[user] == pass:
		if p, ok := b.perms[user]; ok {
			perm = p
		}
	default:
		return nil, ftp.ErrLoginFailed
	}
	d, err := local.New(b.root)
	if err != nil {
		return nil, err
	}
	var fs storage.Driver = d
	if b.wrap != nil {
		fs = b.wrap(d)
	}
	acct := &ftp.Account{Name: user, FS: fs, Perm: perm, Anonymous: anonymous, Close: func() { d.Close() }}
	if b.wrapAcct != nil {
		b.wrapAcct(acct)
	}
	return acct, nil
}

// nextPortBase hands each test server its own passive range so parallel
// tests do not compete for ports.
var nextPortBase atomic.Int32

// Below Linux's ephemeral range (32768-60999), where outgoing connections
// would take ports from under the tests.
func init() { nextPortBase.Store(10000 + int32(os.Getpid()%40)*100) }

type testServer struct {
	srv     *ftp.Server
	addr    string
	root    string
	backend *testBackend
	logs    *syncbuf.Buffer
}

// startServer runs a server on 127.0.0.1 with user "u" password "p" and a
// passive range of ports ports. configure may change the server before it starts.
func startServer(t testing.TB, ports int, configure func(*ftp.Server)) *testServer {
	t.Helper()
	l, err := ftp.ListenControl("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, l, ports, configure)
}

// startServerOn is startServer on a listener of the test's choosing.
func startServerOn(t testing.TB, l net.Listener, ports int, configure func(*ftp.Server)) *testServer {
	t.Helper()
	root := t.TempDir()
	lo := int(nextPortBase.Add(int32(ports))) - ports
	pool := passive.New(passive.Range{Lo: lo, Hi: lo + ports - 1})
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pool.Logger = logger
	be := &testBackend{root: root, users: map[string]string{"u": "p", "ro": "p"}, perms: map[string]ftp.Perm{"ro": ftp.PermReadOnly}}
	srv := &ftp.Server{Backend: be, Passive: pool, Logger: logger}
	if configure != nil {
		configure(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		pool.Close()
	})
	return &testServer{srv: srv, addr: l.Addr().String(), root: root, backend: be, logs: logs}
}

// client logs in as u/p with jlaffaye/ftp.
func (ts *testServer) client(t testing.TB, opts ...ftpc.DialOption) *ftpc.ServerConn {
	t.Helper()
	opts = append([]ftpc.DialOption{ftpc.DialWithTimeout(10 * time.Second)}, opts...)
	c, err := ftpc.Dial(ts.addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := c.Login("u", "p"); err != nil {
		t.Fatalf("login: %v", err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

// rawConn is a hand-driven control connection for protocol-level tests.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	tp *textproto.Conn
}

func (ts *testServer) raw(t testing.TB) *rawConn {
	t.Helper()
	return dialRaw(t, ts.addr, nil)
}

func newTextproto(c net.Conn) *textproto.Conn { return textproto.NewConn(c) }

func dialRaw(t testing.TB, addr string, local net.Addr) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawConn{t: t, c: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	r.expect(220)
	return r
}

// cmd sends a line and returns the reply code and full message.
func (r *rawConn) cmd(format string, args ...any) (int, string) {
	r.t.Helper()
	if err := r.tp.PrintfLine(format, args...); err != nil {
		r.t.Fatalf("send %q: %v", format, err)
	}
	return r.read()
}

func (r *rawConn) read() (int, string) {
	r.t.Helper()
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

func (r *rawConn) expect(want int) string {
	r.t.Helper()
	code, msg := r.read()
	if code != want {
		r.t.Fatalf("got %d %q, want %d", code, msg, want)
	}
	return msg
}

func (r *rawConn) must(want int, format string, args ...any) string {
	r.t.Helper()
	code, msg := r.cmd(format, args...)
	if code != want {
		r.t.Fatalf("%s: got %d %q, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
	return msg
}

func (r *rawConn) login() {
	r.t.Helper()
	r.must(331, "USER u")
	r.must(230, "PASS p")
}

// pasv sends EPSV and connects to the announced port.
func (r *rawConn) pasvConn() net.Conn {
	r.t.Helper()
	msg := r.must(229, "EPSV")
	var port int
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port); err != nil {
		r.t.Fatalf("parse %q: %v", msg, err)
	}
	host, _, _ := net.SplitHostPort(r.c.RemoteAddr().String())
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, fmt.Sprint(port)), 5*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	d.SetDeadline(time.Now().Add(30 * time.Second))
	r.t.Cleanup(func() { d.Close() })
	return d
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
