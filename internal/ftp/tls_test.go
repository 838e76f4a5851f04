package ftp_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/ftptest"
	"github.com/rotary-ftp/rotary/internal/tlscert"
)

// tlsServer is a test server with FTPS: explicit on addr, implicit on
// implicitAddr, with a certificate made for this test run.
type tlsServer struct {
	*testServer
	implicitAddr string
	roots        *x509.CertPool
}

func startTLSServer(t testing.TB, opts ftp.TLSOptions, configure func(*ftp.Server)) *tlsServer {
	t.Helper()
	certPEM, keyPEM, err := tlscert.Generate([]string{"127.0.0.1", "::1", "localhost"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	ts := startServer(t, 8, func(s *ftp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.TLS = opts
		if configure != nil {
			configure(s)
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(ts.srv.ImplicitTLSListener(l)) }()
	t.Cleanup(func() {
		ts.srv.Close()
		<-done
	})
	return &tlsServer{testServer: ts, implicitAddr: l.Addr().String(), roots: roots}
}

// clientConfig verifies the test certificate. With cache set, data
// connections resume the control connection's session.
func (ts *tlsServer) clientConfig(cache bool) *tls.Config {
	c := &tls.Config{RootCAs: ts.roots, ServerName: "127.0.0.1"}
	if cache {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	}
	return c
}

// tlsClient logs in with jlaffaye/ftp over explicit (AUTH TLS) or implicit
// TLS; either way the client sends PBSZ 0 and PROT P.
func (ts *tlsServer) tlsClient(t testing.TB, implicit bool, conf *tls.Config, opts ...ftpc.DialOption) *ftpc.ServerConn {
	t.Helper()
	addr := ts.addr
	opt := ftpc.DialWithExplicitTLS(conf)
	if implicit {
		addr, opt = ts.implicitAddr, ftpc.DialWithTLS(conf)
	}
	opts = append([]ftpc.DialOption{ftpc.DialWithTimeout(10 * time.Second), opt}, opts...)
	c, err := ftpc.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v\nserver log:\n%s", err, ts.logs.String())
	}
	if err := c.Login("u", "p"); err != nil {
		t.Fatalf("login: %v\nserver log:\n%s", err, ts.logs.String())
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

// roundTrip stores data as name and reads it back through c.
func roundTrip(t *testing.T, c *ftpc.ServerConn, name string, data []byte) {
	t.Helper()
	if err := c.Stor(name, bytes.NewReader(data)); err != nil {
		t.Fatalf("stor %s: %v", name, err)
	}
	r, err := c.Retr(name)
	if err != nil {
		t.Fatalf("retr %s: %v", name, err)
	}
	got := readAll(t, r)
	if err := r.Close(); err != nil {
		t.Fatalf("retr %s close: %v", name, err)
	}
	if sum(got) != sum(data) {
		t.Fatalf("%s: read back %d bytes differing from the %d stored", name, len(got), len(data))
	}
}

func TestTLSExplicitClient(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	for _, epsv := range []bool{true, false} {
		c := ts.tlsClient(t, false, ts.clientConfig(false), ftpc.DialWithDisabledEPSV(!epsv))
		data := randomBytes(3<<20 + 5)
		roundTrip(t, c, "big.bin", data)
		if onDisk, _ := os.ReadFile(filepath.Join(ts.root, "big.bin")); sum(onDisk) != sum(data) {
			t.Fatal("file on disk differs")
		}
		// No bytes: the handshake still happens (at Close) for an empty
		// file and an empty listing.
		roundTrip(t, c, "empty.bin", nil)
		if err := c.MakeDir("emptydir"); err != nil && epsv {
			t.Fatal(err)
		}
		if entries, err := c.List("emptydir"); err != nil || len(entries) != 0 {
			t.Fatalf("LIST emptydir = %v, %v", entries, err)
		}
		if entries, err := c.List("/"); err != nil || len(entries) != 3 {
			t.Fatalf("LIST / = %d entries, %v", len(entries), err)
		}
	}
	if !strings.Contains(ts.logs.String(), "result=ok") {
		t.Fatal("no transfer logged")
	}
}

func TestTLSImplicitClient(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	c := ts.tlsClient(t, true, ts.clientConfig(false))
	roundTrip(t, c, "f.bin", randomBytes(1<<20+1))

	// Data defaults to PROT P: a client that sends no PROT still gets TLS.
	conf := ts.clientConfig(false)
	tc, err := tls.Dial("tcp", ts.implicitAddr, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	r := ftptest.Wrap(t, tc)
	r.Expect(220)
	r.Login("u", "p")
	d := r.EPSV()
	r.Must(150, "RETR f.bin")
	td := tls.Client(d, conf)
	if got := readAll(t, td); len(got) != 1<<20+1 {
		t.Fatalf("implicit RETR without PROT: %d bytes", len(got))
	}
	r.Expect(226)
	if msg := r.Must(503, "AUTH TLS"); !strings.Contains(msg, "Already") {
		t.Fatalf("AUTH in implicit mode: %q", msg)
	}
}

// TestTLSImplicitRefusal: a connection refused by the limits gets its 421
// over TLS, readable by the client.
func TestTLSImplicitRefusal(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, func(s *ftp.Server) { s.MaxConns = 1 })
	first, err := tls.Dial("tcp", ts.implicitAddr, ts.clientConfig(false))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	if code, _, err := textproto.NewConn(first).ReadResponse(220); err != nil {
		t.Fatalf("first: %d %v", code, err)
	}
	second, err := tls.Dial("tcp", ts.implicitAddr, ts.clientConfig(false))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(10 * time.Second))
	if code, msg, _ := textproto.NewConn(second).ReadResponse(421); code != 421 {
		t.Fatalf("second: %d %q, want 421", code, msg)
	}
}

func TestTLSProtocolReplies(t *testing.T) {
	t.Run("without TLSConfig", func(t *testing.T) {
		ts := startServer(t, 2, nil)
		r := ts.raw(t)
		r.Must(502, "AUTH TLS")
		r.Must(503, "PBSZ 0")
		if feat := r.Must(211, "FEAT"); strings.Contains(feat, "AUTH TLS") {
			t.Fatalf("FEAT lists AUTH TLS without TLS: %q", feat)
		}
	})

	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	r := ts.raw(t)
	feat := r.Must(211, "FEAT")
	for _, f := range []string{"AUTH TLS", "PBSZ", "PROT"} {
		if !strings.Contains(feat, "\n "+f+"\n") {
			t.Errorf("FEAT lacks %q: %q", f, feat)
		}
	}
	if strings.Contains(feat, "CCC") {
		t.Errorf("FEAT lists CCC though it is refused: %q", feat)
	}
	for _, c := range []struct {
		line string
		code int
	}{
		{"PBSZ 0", 503}, // RFC 4217 section 8: PBSZ needs AUTH first
		{"PROT P", 503},
		{"AUTH KERBEROS_V4", 504},
		{"AUTH", 501},
	} {
		if code, msg := r.Cmd("%s", c.line); code != c.code {
			t.Errorf("%s before AUTH: %d %q, want %d", c.line, code, msg, c.code)
		}
	}
	r.AuthTLS(ts.clientConfig(false))
	for _, c := range []struct {
		line string
		code int
		text string
	}{
		{"PROT P", 503, "PBSZ"}, // PROT needs PBSZ first
		{"PBSZ x", 501, ""},
		{"PBSZ 1024", 200, "PBSZ=0"},
		{"PBSZ 0", 200, "PBSZ=0"},
		{"PROT S", 536, ""},
		{"PROT E", 536, ""},
		{"PROT Q", 504, ""},
		{"PROT C", 200, ""},
		{"PROT P", 200, ""},
		{"AUTH TLS", 503, ""},
		{"CCC", 530, ""}, // needs login
	} {
		code, msg := r.Cmd("%s", c.line)
		if code != c.code || !strings.Contains(msg, c.text) {
			t.Errorf("%s: %d %q, want %d %q", c.line, code, msg, c.code, c.text)
		}
	}
	r.Login("u", "p")
	if msg := r.Must(534, "CCC"); !strings.Contains(msg, "--tls-allow-ccc") {
		t.Errorf("CCC refusal does not name the setting: %q", msg)
	}
	if stat := r.Must(211, "STAT"); !strings.Contains(stat, "TLS 1.3") || !strings.Contains(stat, "PROT P") {
		t.Errorf("STAT lacks the TLS state: %q", stat)
	}
	r.Must(221, "QUIT")

	// AUTH SSL is accepted and, as with ProFTPD, protects data at once.
	r = ts.raw(t)
	r.Must(234, "AUTH SSL")
	tc := tls.Client(r.Net(), ts.clientConfig(false))
	r.Reset(tc)
	r.Login("u", "p")
	writeFile(t, filepath.Join(ts.root, "x"), []byte("hello"))
	d := r.EPSV()
	r.Must(150, "RETR x")
	if got := readAll(t, tls.Client(d, ts.clientConfig(false))); string(got) != "hello" {
		t.Fatalf("RETR after AUTH SSL: %q", got)
	}
	r.Expect(226)
}

func TestTLSRequire(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{Require: true}, nil)
	writeFile(t, filepath.Join(ts.root, "f"), []byte("data"))
	r := ts.raw(t)
	if msg := r.Must(530, "USER u"); !strings.Contains(msg, "TLS required") {
		t.Fatalf("USER in clear: %q", msg)
	}
	r.Must(530, "PASS p")
	plain, err := ftpc.Dial(ts.addr, ftpc.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Login("u", "p"); err == nil || !strings.Contains(err.Error(), "TLS required") {
		t.Fatalf("clear-text login: %v, want 530 TLS required", err)
	}
	plain.Quit()

	r.AuthTLS(ts.clientConfig(false))
	r.Login("u", "p")
	// Data before PROT P: 521, and the passive port is not kept.
	r.Must(229, "EPSV")
	if msg := r.Must(521, "RETR f"); !strings.Contains(msg, "PROT") {
		t.Fatalf("RETR without PROT P: %q", msg)
	}
	r.Must(521, "LIST")
	r.Must(200, "PBSZ 0")
	if msg := r.Must(534, "PROT C"); !strings.Contains(msg, "PROT P") {
		t.Fatalf("PROT C: %q", msg)
	}
	r.Must(200, "PROT P")
	d := r.EPSV()
	r.Must(150, "RETR f")
	if got := readAll(t, tls.Client(d, ts.clientConfig(false))); string(got) != "data" {
		t.Fatalf("RETR: %q", got)
	}
	r.Expect(226)

	// A real client doing it right is served.
	c := ts.tlsClient(t, false, ts.clientConfig(false))
	roundTrip(t, c, "g", []byte("more data"))
}

func TestTLSSessionReuse(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{RequireSessionReuse: true}, nil)
	data := randomBytes(100 << 10)

	// jlaffaye/ftp with a session cache resumes the control session.
	c := ts.tlsClient(t, false, ts.clientConfig(true))
	roundTrip(t, c, "f", data)
	if strings.Contains(ts.logs.String(), "handshake failed") {
		t.Fatalf("resuming client refused:\n%s", ts.logs.String())
	}

	// Without a cache every data connection is a fresh handshake: 425,
	// naming the setting.
	c = ts.tlsClient(t, false, ts.clientConfig(false))
	err := retrErr(c, "f")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 425 || !strings.Contains(te.Msg, "--tls-require-session-reuse") {
		t.Fatalf("RETR from a client that cannot resume: %v", err)
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("session unusable after the refusal: %v", err)
	}

	// Tickets are bound to their FTP session: two sessions sharing one
	// client cache (keyed by server name) each get the other's newest
	// ticket, which the server does not resume.
	shared := ts.clientConfig(true)
	c1 := ts.tlsClient(t, false, shared)
	c2 := ts.tlsClient(t, false, shared) // its ticket replaces c1's in the cache
	if err := retrErr(c2, "f"); err != nil {
		t.Fatalf("c2 RETR with its own ticket: %v", err)
	}
	if err := retrErr(c1, "f"); !errors.As(err, &te) || te.Code != 425 {
		t.Fatalf("data connection resuming another session's ticket: %v, want 425", err)
	}
}

// retrErr downloads name and returns the first error. jlaffaye/ftp does
// the data connection's TLS handshake on first read, after the 150, so a
// refusal shows when the reply after the data is read.
func retrErr(c *ftpc.ServerConn, name string) error {
	r, err := c.Retr(name)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, r)
	return r.Close()
}

// tlsDataSession is a logged-in raw TLS session with PROT P and a file of
// size bytes named big.bin.
func tlsDataSession(t *testing.T, ts *tlsServer, size int) *rawConn {
	t.Helper()
	f, err := os.Create(filepath.Join(ts.root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(int64(size))
	f.Close()
	r := ts.raw(t)
	r.AuthTLS(ts.clientConfig(true))
	r.Login("u", "p")
	r.Must(200, "PBSZ 0")
	r.Must(200, "PROT P")
	return r
}

// TestTLSStalledDownload: a TLS download (sendTLS) to a client that stops
// reading ends after the data timeout with 426, and the client saw only
// the start of the file, intact.
func TestTLSStalledDownload(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, func(s *ftp.Server) { s.DataTimeout = 300 * time.Millisecond })
	r := tlsDataSession(t, ts, 0)
	data := randomBytes(64 << 20)
	writeFile(t, filepath.Join(ts.root, "big.bin"), data)
	d := r.EPSV()
	r.Must(150, "RETR big.bin")
	td := tls.Client(d, ts.clientConfig(true))
	got := make([]byte, 1<<20)
	if _, err := io.ReadFull(td, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("the first MiB read over TLS differs from the file")
	}
	if code, msg := r.Read(); code != 426 || !strings.Contains(msg, "timed out") {
		t.Fatalf("stalled TLS download: %d %q, want 426 timed out\n%s", code, msg, ts.logs.String())
	}
	// The transfer's log line may follow its reply.
	waitFor(t, "the stall in the log", func() bool { return strings.Contains(ts.logs.String(), "result=stalled") })
}

func TestTLSAbort(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	r := tlsDataSession(t, ts, 256<<20)

	// ABOR during a download: the server is blocked writing to a client
	// that stopped reading; closing the *tls.Conn must unblock it.
	d := r.EPSV()
	r.Must(150, "RETR big.bin")
	td := tls.Client(d, ts.clientConfig(true))
	if _, err := io.ReadFull(td, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := r.Conn.WriteLine("ABOR"); err != nil {
		t.Fatal(err)
	}
	r.Expect(426)
	r.Expect(226)

	// ABOR during an upload: the server is blocked reading.
	d = r.EPSV()
	r.Must(150, "STOR up.bin")
	td = tls.Client(d, ts.clientConfig(true))
	if _, err := td.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	r.Must(426, "ABOR")
	r.Expect(226)
	if _, err := os.Stat(filepath.Join(ts.root, "up.bin")); err == nil {
		t.Fatal("aborted upload was committed")
	}
	r.Must(200, "NOOP")
}

func TestTLSDroppedDataConnection(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	r := tlsDataSession(t, ts, 256<<20)

	// The client vanishes mid-download.
	d := r.EPSV()
	r.Must(150, "RETR big.bin")
	td := tls.Client(d, ts.clientConfig(true))
	if _, err := io.ReadFull(td, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	d.(*net.TCPConn).SetLinger(0) // reset, as a crashed client's kernel does
	d.Close()
	if code, msg := r.Read(); code != 426 {
		t.Fatalf("dropped download: %d %q, want 426", code, msg)
	}

	// The client vanishes inside a TLS record during an upload.
	d = r.EPSV()
	r.Must(150, "STOR up.bin")
	td = tls.Client(d, ts.clientConfig(true))
	if _, err := td.Write([]byte("first record")); err != nil {
		t.Fatal(err)
	}
	// A record header announcing 16 KiB, then 100 bytes, then FIN.
	d.Write(append([]byte{23, 3, 3, 0x40, 0x00}, make([]byte, 100)...))
	d.Close()
	if code, msg := r.Read(); code != 426 {
		t.Fatalf("dropped upload: %d %q, want 426", code, msg)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "up.bin")); err == nil {
		t.Fatal("truncated upload was committed")
	}
	r.Must(200, "NOOP")
}

func TestTLSDataHandshakeTimeout(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{HandshakeTimeout: 300 * time.Millisecond}, nil)
	r := tlsDataSession(t, ts, 10)
	d := r.EPSV()
	r.Must(150, "RETR big.bin")
	// No handshake: a client that forgot PROT P and waits for clear data.
	if msg := r.Expect(425); !strings.Contains(msg, "timed out") {
		t.Fatalf("handshake timeout reply: %q", msg)
	}
	d.Close()

	// Clear data where TLS is expected: 425 as well.
	d = r.EPSV()
	r.Must(150, "STOR x")
	d.Write([]byte("this is not a TLS record\r\n"))
	if msg := r.Expect(425); !strings.Contains(msg, "TLS handshake") {
		t.Fatalf("bad handshake reply: %q", msg)
	}
	d.Close()
	r.Must(200, "NOOP")
}

// goroutinesSettle waits until at most n goroutines run.
func goroutinesSettle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, want at most %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTLSBadHandshakes(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{HandshakeTimeout: time.Second}, nil)
	waitSessions := func(t *testing.T) {
		t.Helper()
		for i := 0; ts.srv.SessionCount() > 0; i++ {
			if i > 250 {
				t.Fatalf("%d sessions still open", ts.srv.SessionCount())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitSessions(t)
	base := runtime.NumGoroutine()
	hello := clientHello(t)

	cases := []struct {
		name     string
		implicit bool
		send     []byte
		wait     bool // leave the connection open (for the timeout)
	}{
		{"garbage after AUTH TLS", false, []byte("USER u\r\nPASS p\r\n"), false},
		{"half a ClientHello, then close", false, hello[:len(hello)/2], false},
		{"half a ClientHello, then silence", false, hello[:len(hello)/2], true},
		{"implicit: clear text", true, []byte("USER u\r\n"), false},
		{"implicit: half a ClientHello, then close", true, hello[:20], false},
		{"implicit: nothing at all", true, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(ts.logs.String(), "handshake on")
			addr := ts.addr
			if c.implicit {
				addr = ts.implicitAddr
			}
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if !c.implicit {
				tp := textproto.NewConn(conn)
				tp.ReadResponse(220)
				tp.PrintfLine("AUTH TLS")
				if _, _, err := tp.ReadResponse(234); err != nil {
					t.Fatal(err)
				}
			}
			conn.Write(c.send)
			if !c.wait {
				conn.Close()
			} else {
				// The server hangs up after the handshake timeout.
				start := time.Now()
				io.Copy(io.Discard, conn)
				if time.Since(start) > 5*time.Second {
					t.Fatal("server did not hang up on a stalled handshake")
				}
			}
			for i := 0; strings.Count(ts.logs.String(), "handshake on") <= before; i++ {
				if i > 250 {
					t.Fatalf("failed handshake not logged:\n%s", ts.logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			waitSessions(t)
		})
	}
	goroutinesSettle(t, base)
}

// clientHello returns the bytes a Go client sends first.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		tls.Client(a, &tls.Config{InsecureSkipVerify: true}).Handshake()
	}()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	return buf[:n]
}

// TestTLSPipelinedHandshake sends the ClientHello right behind "AUTH TLS",
// before the 234 arrives: those bytes belong to TLS, not to the command
// reader.
func TestTLSPipelinedHandshake(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	lc := dialAUTH(t, ts)
	lc.first = []byte("AUTH TLS\r\n")
	tc := tls.Client(lc, ts.clientConfig(false))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v\n%s", err, ts.logs.String())
	}
	r := ftptest.Wrap(t, tc)
	r.Login("u", "p")
	r.Must(221, "QUIT")
}

// TestTLSSlowHandshakeAfterAUTH: AUTH TLS comes at once, the client's
// handshake only after the session would have parked (a loaded client
// machine: lftp's GnuTLS start-up took longer than ParkIdleAfter in CI).
// The read deadline armed for the AUTH line, the parking one, must not cut
// the handshake off.
func TestTLSSlowHandshakeAfterAUTH(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, func(s *ftp.Server) { s.ParkIdleAfter = 30 * time.Millisecond })
	lc := dialAUTH(t, ts)
	if _, err := lc.Conn.Write([]byte("AUTH TLS\r\n")); err != nil {
		t.Fatal(err)
	}
	// Both reply lines now (an empty read skips them); the handshake later.
	if _, err := lc.Read(nil); err != nil {
		t.Fatalf("reading the replies to AUTH: %v\n%s", err, ts.logs.String())
	}
	time.Sleep(150 * time.Millisecond)
	tc := tls.Client(lc, ts.clientConfig(false))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake %v after AUTH TLS: %v\n%s", 150*time.Millisecond, err, ts.logs.String())
	}
	r := ftptest.Wrap(t, tc)
	r.Login("u", "p")
	r.Must(221, "QUIT")
}

// dialAUTH dials the explicit port for a client that says AUTH TLS itself:
// its reads skip the 220 greeting and the 234.
func dialAUTH(t *testing.T, ts *tlsServer) *lineSkipConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &lineSkipConn{Conn: conn, skip: 2}
}

// lineSkipConn writes first together with the first write, and hides skip
// clear-text reply lines from the reader.
type lineSkipConn struct {
	net.Conn
	first []byte
	skip  int
}

func (c *lineSkipConn) Write(p []byte) (int, error) {
	if c.first != nil {
		b := append(c.first, p...)
		c.first = nil
		_, err := c.Conn.Write(b)
		return len(p), err
	}
	return c.Conn.Write(p)
}

func (c *lineSkipConn) Read(p []byte) (int, error) {
	for c.skip > 0 {
		var b [1]byte
		if _, err := c.Conn.Read(b[:]); err != nil {
			return 0, err
		}
		if b[0] == '\n' {
			c.skip--
		}
	}
	return c.Conn.Read(p)
}

// recordReader reads a TLS stream one record at a time, so that the clear
// text after a close_notify stays in the connection (a client doing CCC).
type recordReader struct {
	net.Conn
	left int
}

func (c *recordReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		var hdr [5]byte
		if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
			return 0, err
		}
		c.left = int(hdr[3])<<8 | int(hdr[4])
		n := copy(p, hdr[:]) // tls reads at least 5 bytes at a time
		if n < 5 {
			return 0, errors.New("short read buffer")
		}
		return n, nil
	}
	n, err := c.Conn.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

func TestTLSCCC(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{AllowCCC: true}, nil)
	writeFile(t, filepath.Join(ts.root, "f"), []byte("secret data"))
	if feat := ts.raw(t).Must(211, "FEAT"); !strings.Contains(feat, "\n CCC\n") {
		t.Fatalf("FEAT lacks CCC: %q", feat)
	}
	conn, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := ftptest.Wrap(t, conn)
	r.Expect(220)
	r.Must(234, "AUTH TLS")
	tc := tls.Client(&recordReader{Conn: conn}, ts.clientConfig(false))
	r.Reset(tc)
	r.Login("u", "p")
	r.Must(200, "PBSZ 0")
	r.Must(200, "PROT P")
	r.Must(200, "CCC")
	// Our close_notify, and clear text right behind it, before the
	// server's close_notify has been read.
	if err := tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second)) // CloseWrite set it to now
	if _, err := conn.Write([]byte("NOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, tc); err != nil || n != 0 {
		t.Fatalf("reading to the server's close_notify: %d bytes, %v", n, err)
	}
	r.Reset(conn)
	r.Expect(200) // the NOOP, in clear text
	if stat := r.Must(211, "STAT"); !strings.Contains(stat, "cleared by CCC") {
		t.Fatalf("STAT after CCC: %q", stat)
	}
	// Data is still protected.
	d := r.EPSV()
	r.Must(150, "RETR f")
	if got := readAll(t, tls.Client(d, ts.clientConfig(false))); string(got) != "secret data" {
		t.Fatalf("RETR after CCC: %q", got)
	}
	r.Expect(226)
	r.Must(503, "AUTH TLS")
	r.Must(533, "CCC")
}

func TestTLSActiveMode(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	r := tlsDataSession(t, ts, 0)
	data := randomBytes(1<<20 + 7)
	writeFile(t, filepath.Join(ts.root, "f"), data)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	r.Must(200, "EPRT |1|127.0.0.1|%d|", port)
	r.Must(150, "RETR f")
	l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	d, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// RFC 4217: the server is the TLS server even when it connected.
	got := readAll(t, tls.Client(d, ts.clientConfig(true)))
	r.Expect(226)
	if !bytes.Equal(got, data) {
		t.Fatalf("active RETR: %d bytes, want %d", len(got), len(data))
	}
}

// TestTLSCertificateSwap swaps the certificate under a running session:
// that session goes on, new ones see the new certificate.
func TestTLSCertificateSwap(t *testing.T) {
	dir := t.TempDir()
	write := func(host string) {
		certPEM, keyPEM, err := tlscert.Generate([]string{host}, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "c.pem"), certPEM, 0o600)
		os.WriteFile(filepath.Join(dir, "k.pem"), keyPEM, 0o600)
	}
	write("127.0.0.1")
	h, err := tlscert.Load(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ts := startTLSServer(t, ftp.TLSOptions{}, func(s *ftp.Server) {
		s.TLSConfig = &tls.Config{GetCertificate: h.GetCertificate}
	})
	insecure := &tls.Config{InsecureSkipVerify: true}
	c := ts.tlsClient(t, false, insecure)
	first := h.Fingerprint()
	write("::1")
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if h.Fingerprint() == first {
		t.Fatal("fingerprint unchanged after reload")
	}
	roundTrip(t, c, "after-reload", []byte("x"))
	tc, err := tls.Dial("tcp", ts.implicitAddr, insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if got := tlscert.Fingerprint(tc.ConnectionState().PeerCertificates[0]); got != h.Fingerprint() {
		t.Fatalf("new connection got %s, want the reloaded %s", got, h.Fingerprint())
	}
}

// TestTLSVersions: TLS 1.1 is refused whatever the configuration says;
// TLS 1.2 works, and its session tickets resume too.
func TestTLSVersions(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{RequireSessionReuse: true}, func(s *ftp.Server) {
		s.TLSConfig.MinVersion = tls.VersionTLS10
	})
	old := ts.clientConfig(false)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	// jlaffaye/ftp does the handshake at the first command after AUTH TLS.
	if c, err := ftpc.Dial(ts.addr, ftpc.DialWithTimeout(5*time.Second), ftpc.DialWithExplicitTLS(old)); err == nil {
		err = c.Login("u", "p")
		if err == nil || !strings.Contains(err.Error(), "protocol version") {
			t.Fatalf("TLS 1.1 client: %v, want a protocol version error", err)
		}
	}
	conf := ts.clientConfig(true)
	conf.MaxVersion = tls.VersionTLS12
	c := ts.tlsClient(t, false, conf)
	roundTrip(t, c, "tls12.bin", randomBytes(70000))
}

// TestTLSDataHandshakeBeforeCommand drives the data connection in curl's
// order: connect to the passive port and complete the TLS handshake
// before sending the transfer command, with TYPE and SIZE in between.
// curl polls only the data socket until that handshake completes; a server
// that answered the ClientHello only at RETR made curl see each control
// reply in between 200 ms late (0.2-0.4 s per transfer). The handshake must
// complete with no further command; the deadline only bounds a failure.
func TestTLSDataHandshakeBeforeCommand(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		ts := startTLSServer(t, ftp.TLSOptions{RequireSessionReuse: reuse}, nil)
		data := randomBytes(100<<10 + 3)
		writeFile(t, filepath.Join(ts.root, "f"), data)
		// Data connections resume through the control connection's
		// session cache, as curl's do.
		cache := ts.clientConfig(true)
		r := ts.raw(t)
		r.AuthTLS(cache)
		r.Login("u", "p")
		r.Must(200, "PBSZ 0")
		r.Must(200, "PROT P")

		early := func(what string) *tls.Conn {
			t.Helper()
			d := r.EPSV()
			td := tls.Client(d, cache)
			d.SetDeadline(time.Now().Add(10 * time.Second))
			if err := td.Handshake(); err != nil {
				t.Fatalf("reuse=%v %s: data handshake before the transfer command: %v\nserver log:\n%s", reuse, what, err, ts.logs.String())
			}
			if reuse && !td.ConnectionState().DidResume {
				t.Fatalf("reuse=%v %s: data connection did not resume", reuse, what)
			}
			r.Must(200, "TYPE I")
			return td
		}

		td := early("RETR")
		if msg := r.Must(213, "SIZE f"); msg != fmt.Sprint(len(data)) {
			t.Fatalf("SIZE f: %q", msg)
		}
		r.Must(150, "RETR f")
		got := readAll(t, td)
		r.Expect(226)
		if !bytes.Equal(got, data) {
			t.Fatalf("reuse=%v RETR after an early handshake: %d bytes, want %d", reuse, len(got), len(data))
		}

		td = early("STOR")
		r.Must(150, "STOR up")
		if _, err := td.Write(data); err != nil {
			t.Fatal(err)
		}
		td.Close() // close_notify ends the upload
		r.Expect(226)
		if b, err := os.ReadFile(filepath.Join(ts.root, "up")); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("reuse=%v STOR after an early handshake: %d bytes (%v), want %d", reuse, len(b), err, len(data))
		}

		td = early("LIST")
		r.Must(150, "LIST")
		if l := readAll(t, td); !bytes.Contains(l, []byte(" up\r\n")) {
			t.Fatalf("reuse=%v LIST after an early handshake: %q", reuse, l)
		}
		r.Expect(226)
	}
}

// TestTLSEarlyDataSetupDropped: a passive port opened under PROT P takes
// its connection into TLS as it arrives. PROT C before the client
// connected leaves the port for a clear transfer; after it connected, the
// setup is dropped (425). ABOR and a new EPSV end a waiting setup, and
// none of it leaves a goroutine behind.
func TestTLSEarlyDataSetupDropped(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	data := randomBytes(5000)
	writeFile(t, filepath.Join(ts.root, "f"), data)
	r := tlsDataSession(t, ts, 0)

	// PROT C before connecting: a plain transfer on the same port.
	msg := r.Must(229, "EPSV")
	r.Must(200, "PROT C")
	var port int
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port); err != nil {
		t.Fatalf("parse %q: %v", msg, err)
	}
	d, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d.SetDeadline(time.Now().Add(10 * time.Second))
	r.Must(150, "RETR f")
	if got := readAll(t, d); !bytes.Equal(got, data) {
		t.Fatalf("clear RETR on a port opened under PROT P: %d bytes, want %d", len(got), len(data))
	}
	d.Close()
	r.Expect(226)

	// PROT C after connecting: the connection went into TLS; dropped.
	r.Must(200, "PROT P")
	d = r.EPSV()
	td := tls.Client(d, ts.clientConfig(true))
	if err := td.Handshake(); err != nil {
		t.Fatal(err)
	}
	r.Must(200, "PROT C")
	if code, msg := r.Cmd("RETR f"); code != 425 {
		t.Fatalf("RETR after PROT C on a TLS data connection: %d %q, want 425", code, msg)
	}
	if _, err := td.Read(make([]byte, 1)); err == nil {
		t.Fatal("the dropped TLS data connection is still open")
	}

	// ABOR and EPSV end setups that wait for a client.
	r.Must(200, "PROT P")
	r.Must(229, "EPSV")
	r.Must(225, "ABOR")
	r.Must(229, "EPSV")
	r.Must(229, "EPSV")
	r.Must(200, "NOOP")
	earlyWaits(t, 1) // the last EPSV's
	d = r.EPSV()
	r.Must(150, "RETR f")
	if got := readAll(t, tls.Client(d, ts.clientConfig(true))); !bytes.Equal(got, data) {
		t.Fatalf("RETR after dropped setups: %d bytes, want %d", len(got), len(data))
	}
	r.Expect(226)
	earlyWaits(t, 0)
}

// earlyWaits waits until n goroutines wait for or handshake an early TLS
// data connection (other goroutines are not counted).
func earlyWaits(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		got := strings.Count(stacks, "ftp.(*session).startEarlyTLS.func")
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of early TLS data setups, want %d\n%s", got, n, stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
