package ftp_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/ftptest"
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

// rawConn is a hand-driven control connection for protocol-level tests:
// the shared test client.
type rawConn = ftptest.Conn

func (ts *testServer) raw(t testing.TB) *rawConn {
	t.Helper()
	return ftptest.Dial(t, ts.addr)
}

func dialRaw(t testing.TB, addr string, local net.Addr) *rawConn {
	t.Helper()
	return ftptest.DialFrom(t, addr, local)
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
